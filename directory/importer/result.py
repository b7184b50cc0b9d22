"""The outcome of an import (:class:`ImportResult`) and its run record in the database."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from directory.importer.plan import Plan
from directory.importer.validate import Issue
from directory.models import ImportIssue, ImportRun


@dataclass
class ImportResult:
    """What an import did (or would do, for a dry run).

    Counts are centers for center files; for modality lists ``added``/``updated`` count
    centers whose claims from this source were added or changed.
    """

    filename: str
    format: str
    source: str
    encoding: str
    delimiter: str
    sha256: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    not_in_file: int = 0
    #: New rows that became records of a center already stored from another source.
    linked: int = 0
    #: Pairs (new row, stored center) sent to the duplicates review queue.
    review: int = 0
    issues: list[Issue] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    column_map: list[tuple[str, str | None]] = field(default_factory=list)
    rejected_rows: dict[int, list[str]] = field(default_factory=dict)
    duplicates: list[tuple[int, str, int, str]] = field(default_factory=list)
    plan: Plan | None = None
    run_id: int | None = None
    dry_run: bool = False
    #: The sheet read, for an Excel workbook.
    sheet: str | None = None

    @property
    def errors(self) -> list[Issue]:
        """Issues that rejected a row, in line order (validation and the later geocoding
        checks add them in two passes)."""
        return sorted((i for i in self.issues if i.severity == "error"),
                      key=lambda i: i.line or 0)

    def rejected_csv(self) -> str:
        """The rejected rows as CSV: the file's own columns plus ``line`` and ``error``
        (every reason for the row, joined with ``; ``). Cells are written back as read,
        formula cells neutralised (:func:`directory.exchange.cells.neutralise`; the
        importer reads them back unchanged)."""
        reasons: dict[int, list[str]] = {}
        for issue in self.errors:
            where = f"{issue.column}: " if issue.column else ""
            reasons.setdefault(issue.line, []).append(where + issue.message)
        return rejected_rows_csv(self.header, {
            line: (self.rejected_rows.get(line, []), reasons[line]) for line in reasons})

    @property
    def warnings(self) -> list[Issue]:
        """Issues that kept the row, in line order (as :attr:`errors`)."""
        return sorted((i for i in self.issues if i.severity == "warning"),
                      key=lambda i: i.line or 0)


def record_run(session, result: ImportResult, user: str | None) -> int:
    run = ImportRun(source=result.source, filename=result.filename[:300], sha256=result.sha256,
                    format=result.format, encoding=result.encoding, user=user,
                    added=result.added, updated=result.updated, unchanged=result.unchanged,
                    rejected=result.rejected)
    run.issues = [ImportIssue(line=i.line, column=i.column, severity=i.severity,
                              message=i.message[:2000])
                  for i in sorted(result.issues, key=lambda i: i.line or 0)[:10000]]
    run.header = json.dumps(result.header)
    for issue in run.issues:
        if issue.severity == "error" and issue.line in result.rejected_rows:
            issue.row_data = json.dumps(result.rejected_rows[issue.line])
    session.add(run)
    session.flush()
    return run.id


def rejected_rows_csv(header: list[str], rows: dict[int, tuple[list[str], list[str]]]) -> str:
    """The rejected-rows download (preview and committed import): ``header`` plus ``line``
    and ``error``; ``rows`` maps a line to ``(cells as read, reasons)``. Cells are padded or
    cut to the header and neutralised (:func:`directory.exchange.cells.csv_line`)."""
    from directory.exchange.cells import csv_text

    return csv_text([[*header, "line", "error"]] + [
        [*(cells + [""] * len(header))[:len(header)], line, "; ".join(reasons)]
        for line, (cells, reasons) in sorted(rows.items())])
