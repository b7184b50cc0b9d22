"""Read step: text to a header and rows, each row with the physical line it starts on.

The delimiter is sniffed among comma, semicolon, tab, pipe and ``¬`` (the NHS list). Quoted
cells may hold delimiters, quotes and newlines. Ragged rows are kept and reported by the
validate step, never fatal. Cells longer than :data:`MAX_CELL` characters are cut and flagged.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from directory.importer.decode import FileError

DELIMITERS = [",", ";", "\t", "|", "¬"]
MAX_CELL = 100_000
MAX_COLUMNS = 500

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(slots=True)
class Row:
    """One record: ``line`` is the 1-based physical line it starts on (the header is line 1),
    ``cells`` the raw cell texts, ``too_long`` the indexes of cells over :data:`MAX_CELL`."""

    line: int
    cells: list[str]
    too_long: list[int] = field(default_factory=list)
    end_line: int = 0

    def packed(self) -> Row | PackedRow:
        """This row in less memory (its cells in one string), unless a cell holds a NUL."""
        joined = "\x00".join(self.cells)
        if joined.count("\x00") != len(self.cells) - 1:
            return self
        return PackedRow(self.line, joined, self.too_long, self.end_line)

    def swallowed_rows(self, delimiter: str, width: int) -> bool:
        """True when a quoted cell spans lines and one of its inner lines has as many
        delimiters as a whole row: the mark of an unbalanced quote that ate later rows."""
        if self.end_line <= self.line or width < 2:
            return False
        return any(inner.count(delimiter) >= width - 1
                   for cell in self.cells if "\n" in cell or "\r" in cell
                   for inner in cell.splitlines()[1:])


@dataclass(slots=True)
class PackedRow:
    """A :class:`Row` as :func:`read_table` keeps it: ``cells`` joined with NUL (which no
    cell of it contains) instead of one string object per cell: a 100k-row file takes
    ~60 MB less."""

    line: int
    joined: str
    too_long: list[int]
    end_line: int

    @property
    def cells(self) -> list[str]:
        """A new list of the cells (read it once per use)."""
        return self.joined.split("\x00")

    def packed(self) -> PackedRow:
        return self

    swallowed_rows = Row.swallowed_rows


@dataclass
class Table:
    """A parsed CSV: header cells (as written, BOM removed), rows and the delimiter used."""

    header: list[str]
    rows: list[Row]
    delimiter: str


def sniff_delimiter(text: str) -> str:
    """Pick the delimiter that splits the first line into the most cells, preferring one that
    gives the same count on the next lines. Returns ``","`` when nothing else fits."""
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if not lines:
        return ","
    best, best_score = ",", (0, 0)
    for delim in DELIMITERS:
        counts = [_count_outside_quotes(ln, delim) for ln in lines]
        head = counts[0]
        if head == 0:
            continue
        consistent = sum(1 for c in counts[1:] if c == head)
        score = (consistent, head)
        if score > best_score:
            best, best_score = delim, score
    return best


def _count_outside_quotes(line: str, delim: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delim and not quoted:
            count += 1
    return count


def read_table(text: str, delimiter: str | None = None) -> Table:
    """Parse CSV ``text``.

    :raises FileError: when there is no header row or the header has over
        :data:`MAX_COLUMNS` columns.
    """
    delimiter = delimiter or sniff_delimiter(text)
    reader = csv.reader(_lines(text), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[Row] = []
    for line, end, cells in _records(reader):
        if header is None:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > MAX_COLUMNS:
                raise FileError(f"The header has {len(cells)} columns; at most {MAX_COLUMNS} "
                                f"are accepted.")
            header = [c.replace("\ufeff", "") for c in cells]
            continue
        if not "".join(cells).strip():  # as any(c.strip() for c in cells), at C speed
            continue
        if max(map(len, cells), default=0) > MAX_CELL:
            too_long = [i for i, c in enumerate(cells) if len(c) > MAX_CELL]
            cells = [c[:MAX_CELL] if len(c) > MAX_CELL else c for c in cells]
            rows.append(Row(line, cells, too_long, end).packed())
        else:
            rows.append(Row(line, cells, [], end).packed())
    if header is None:
        raise FileError("The file is empty or has no header row.")
    return Table(header, rows, delimiter)


_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their endings, split as ``io.StringIO(text, newline="")``
    splits them (at ``\n``, ``\r\n`` or a lone ``\r``), without its copy of the whole
    text (4 bytes a character)."""
    for match in _LINE.finditer(text):
        yield match.group()


def _records(reader) -> Iterator[tuple[int, list[str]]]:
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileError(f"line {reader.line_num}: the CSV cannot be parsed ({exc}).") from exc
        yield start, reader.line_num, cells
        start = reader.line_num + 1
