"""Excel workbooks (.xlsx, .xlsm): one sheet's rows as the read step gives a CSV's, so a
workbook goes through the same pipeline (openpyxl in read-only mode: rows are streamed from
the sheet's XML, not loaded as a whole workbook).

Cells are taken as typed: text as written (a CCN or ZIP code typed as text keeps its leading
zeros); whole numbers without ``.0`` (a ZIP typed as the number 2115 reads "2115", which the
validate step repairs to "02115" for a US row, saying so); a number formatted with leading
zeros (Excel's "00000" ZIP format, "00000-0000" ZIP+4, "000000" for a CCN) as shown; other
numbers to 15 significant digits (as Excel shows them: 39.7392, not 39.739199999999997);
dates as ISO 8601 (2026-03-01; with the time when it is not midnight); TRUE/FALSE; formulas
as the value Excel last saved. Each row keeps its sheet row number as its line.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass

from directory.importer.decode import FileError
from directory.importer.read import MAX_CELL, MAX_COLUMNS, Row
from directory.importer.sniff import check_zip

#: Data rows read from one sheet at most (a workbook of more: export it as CSV or split it).
MAX_ROWS = 200_000
_ZEROS = re.compile(r"(0+)(?:\\?-(0+))?(?:;.*)?")
#: A cell whose formula has no saved value in SpreadsheetML: ``<f>..</f>`` or a shared
#: ``<f .../>``, then no ``<v>`` or an empty one, then the cell's end.
_UNSAVED_FORMULA = re.compile(rb"(?:</f>|<f\b[^>]*/>)\s*(?:<v\s*/>|<v>\s*</v>)?\s*</c>")


@dataclass
class Sheet:
    """One sheet read: its ``name``, the workbook's sheet names (``sheets``), ``header``
    cells, data ``rows`` (line = the sheet's row number) and a ``note`` on how the sheet
    was chosen (``None`` when the workbook has no other sheet with data)."""

    name: str
    sheets: list[str]
    header: list[str]
    rows: list[Row]
    note: str | None = None


def read_workbook(data: bytes, sheet: str | None = None) -> Sheet:
    """Read ``sheet`` (its name, or its number from 1) of XLSX ``data``; by default the
    first visible sheet with data.

    :raises FileError: the workbook cannot be read, has no such sheet, no sheet with data,
        a header over :data:`~directory.importer.read.MAX_COLUMNS` columns or over
        :data:`MAX_ROWS` data rows.
    """
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_zip(zf, "an Excel workbook")
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True,
                                 keep_links=False)
    except FileError:
        raise
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise FileError(f"the Excel workbook cannot be read ({type(exc).__name__}: "
                        f"{str(exc)[:200]}); open it in Excel, save it again as .xlsx, or "
                        f"export the sheet as CSV (UTF-8)") from exc
    try:
        found = _read(workbook, sheet)
        unsaved = _unsaved_formulas(data, _sheet_path(workbook, found.name))
        if unsaved:
            found.note = "; ".join(filter(None, (found.note, (
                f"{unsaved} cell(s) of sheet {found.name!r} hold a formula whose value was "
                f"never saved (the workbook was written by a program, not saved by Excel): "
                f"they read as empty; open the workbook in Excel or LibreOffice and save it "
                f"to keep their values"))))
        return found
    except FileError:
        raise
    except Exception as exc:
        raise FileError(f"the Excel workbook cannot be read ({type(exc).__name__}: "
                        f"{str(exc)[:200]}); export the sheet as CSV (UTF-8)") from exc
    finally:
        workbook.close()


def _read(workbook, wanted: str | None) -> Sheet:
    sheets = list(workbook.worksheets)
    names = [ws.title for ws in sheets]
    listed = ", ".join(repr(n) for n in names)
    if wanted is not None and wanted.strip():
        chosen = _named(sheets, wanted.strip())
        if chosen is None:
            raise FileError(f"the workbook has no sheet {wanted.strip()[:60]!r}; its sheets: "
                            f"{listed}")
        header, rows = _rows(chosen)
        if header is None:
            raise FileError(f"sheet {chosen.title!r} is empty; the workbook's sheets: "
                            f"{listed}")
        return Sheet(chosen.title, names, header, _data(chosen, header, rows))
    visible = [ws for ws in sheets if getattr(ws, "sheet_state", "visible") == "visible"]
    for i, ws in enumerate(visible):
        header, rows = _rows(ws)
        if header is None:
            continue
        found = Sheet(ws.title, names, header, _data(ws, header, rows))
        others = [o.title for o in visible[i + 1:] if _rows(o)[0] is not None]
        if others:
            found.note = (f"the workbook has {len(others) + 1} sheets with data; sheet "
                          f"{ws.title!r} was read (the first), not "
                          + ", ".join(repr(o) for o in others)
                          + ": choose the sheet to import another")
        return found
    raise FileError(f"the workbook has no sheet with data (sheets: {listed})")


def _sheet_path(workbook, name: str) -> str | None:
    """The zip member of sheet ``name`` (openpyxl's read-only worksheets know it)."""
    ws = workbook[name]
    return getattr(ws, "_worksheet_path", None)


def _unsaved_formulas(data: bytes, member: str | None) -> int:
    """How many cells of the sheet stored at ``member`` of XLSX ``data`` hold a formula
    without a saved value (``data_only`` reading gives ``None`` for them: openpyxl and
    pandas write formulas and no values; Excel saves both). Streams the sheet's XML."""
    if not member:
        return 0
    count, tail = 0, b""
    with zipfile.ZipFile(io.BytesIO(data)) as zf, zf.open(member.lstrip("/")) as fh:
        while chunk := fh.read(1 << 20):
            block = tail + chunk
            # the last 200 bytes may hold a match's start: counted with the next block
            cut = max(0, len(block) - 200)
            count += sum(1 for m in _UNSAVED_FORMULA.finditer(block) if m.start() < cut)
            tail = block[cut:]
        count += sum(1 for _ in _UNSAVED_FORMULA.finditer(tail))
    return count


def _named(sheets, wanted: str):
    for test in (lambda ws: ws.title == wanted,
                 lambda ws: ws.title.strip().casefold() == wanted.casefold()):
        for ws in sheets:
            if test(ws):
                return ws
    if wanted.isascii() and wanted.isdigit() and 1 <= int(wanted) <= len(sheets):
        return sheets[int(wanted) - 1]
    return None


def _rows(ws):
    """``(header cells, iterator of (row number, cells))`` of a sheet: the header is its
    first row with a value; ``(None, ...)`` for a sheet without one."""
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()  # a saved dimension ("A1") can be wrong: read every row

    def numbered():
        for number, row in enumerate(ws.iter_rows(), 1):
            cells = [_text(c) for c in row[:MAX_COLUMNS + 1]]
            while cells and not cells[-1]:
                cells.pop()
            if any(c.strip() for c in cells):
                yield number, cells

    rows = numbered()
    first = next(rows, None)
    if first is None:
        return None, rows
    number, header = first
    if len(header) > MAX_COLUMNS:
        raise FileError(f"the header of sheet {ws.title!r} (row {number}) has more than "
                        f"{MAX_COLUMNS} columns; at most {MAX_COLUMNS} are accepted.")
    return [h[:MAX_CELL] for h in header], rows


def _data(ws, header: list[str], rows) -> list[Row]:
    out = []
    for number, cells in rows:
        if len(out) == MAX_ROWS:
            raise FileError(f"sheet {ws.title!r} has more than {MAX_ROWS:,} rows; a workbook "
                            f"is imported up to {MAX_ROWS:,} rows: split it, or export it as "
                            f"CSV (UTF-8)")
        too_long = [i for i, c in enumerate(cells) if len(c) > MAX_CELL]
        if too_long:
            cells = [c[:MAX_CELL] for c in cells]
        out.append(Row(number, cells, too_long, number).packed())
    return out


def _text(cell) -> str:
    """A cell's value as the text the CSV of the sheet would hold (see the module)."""
    value = getattr(cell, "value", None)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, int):
        zeros = _ZEROS.fullmatch(getattr(cell, "number_format", "") or "")
        if zeros and value >= 0:
            tail = len(zeros.group(2) or "")
            digits = str(value).zfill(len(zeros.group(1)) + tail)
            return f"{digits[:-tail]}-{digits[-tail:]}" if tail else digits
        return str(value)
    if isinstance(value, float):
        return f"{value:.15g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else \
            value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)
