"""Read step: text to a header and rows, each row with the physical line it starts on.

:func:`stream_table` reads the rows one at a time (from the text, or from UTF-8 bytes
decoded line by line); :func:`read_table` keeps them all, packed.

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
from functools import lru_cache

from directory.importer.decode import FileError
from directory.text import fold

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
    lines = [ln for ln in _first_lines(text, 20) if ln.strip()]
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


def _first_lines(text: str, count: int) -> list[str]:
    """``text.splitlines()[:count]``, splitting only the start of a long text."""
    size = 1 << 16
    while True:
        lines = text[:size].splitlines()
        if len(lines) > count or size >= len(text):
            return lines[:count]
        size *= 4


def _head_text(data: bytes) -> str:
    """The start of UTF-8 ``data`` (BOM removed) as text: enough for :func:`sniff_delimiter`
    (at least 21 lines, unless the file has fewer)."""
    size = 1 << 16
    while True:
        head = data[:size].decode("utf-8", errors="ignore").removeprefix("\ufeff")
        if size >= len(data) or len(head.splitlines()) > 20:
            return head  # a character cut at the end is in the 22nd line or later
        size *= 4


def _count_outside_quotes(line: str, delim: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delim and not quoted:
            count += 1
    return count


@dataclass
class TableStream:
    """A CSV being parsed: the header cells (as written, BOM removed), the delimiter, and
    ``rows``, an iterator of :class:`Row` (unpacked, each parsed as it is asked for). The
    text must stay alive while ``rows`` is read."""

    header: list[str]
    rows: Iterator[Row]
    delimiter: str


def stream_table(text: str | bytes, delimiter: str | None = None,
                 quoting: int = csv.QUOTE_MINIMAL) -> TableStream:
    """Parse the header of CSV ``text`` now and its rows lazily (one :class:`Row` at a
    time, the same rows :func:`read_table` keeps, unpacked): a file's rows need not all be
    in memory at once.

    ``text`` may also be the file's UTF-8 bytes (valid UTF-8, a leading BOM is skipped):
    they are decoded a line at a time, so the whole text (up to 4 bytes a character) is
    never in memory, only the bytes. ``quoting``: ``csv.QUOTE_NONE`` for files whose
    ``"`` is a plain character (see :attr:`Format.quoting`).

    :raises FileError: when there is no header row or the header has over
        :data:`MAX_COLUMNS` columns (here); a row the CSV reader cannot parse raises it
        while ``rows`` is read.
    """
    if isinstance(text, (bytes, bytearray)):
        delimiter = delimiter or sniff_delimiter(_head_text(text))
        lines = _utf8_lines(text)
    else:
        delimiter = delimiter or sniff_delimiter(text)
        lines = _lines(text)
    records = _records(csv.reader(lines, delimiter=delimiter, quoting=quoting))
    for _line, _end, cells in records:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > MAX_COLUMNS:
            raise FileError(f"The header has {len(cells)} columns; at most {MAX_COLUMNS} "
                            f"are accepted.")
        header = [c.replace("\ufeff", "") for c in cells]
        return TableStream(header, _rows(records), delimiter)
    raise FileError("The file is empty or has no header row.")


def _rows(records: Iterator[tuple[int, int, list[str]]]) -> Iterator[Row]:
    for line, end, cells in records:
        if not "".join(cells).strip():  # as any(c.strip() for c in cells), at C speed
            continue
        if max(map(len, cells), default=0) > MAX_CELL:
            too_long = [i for i, c in enumerate(cells) if len(c) > MAX_CELL]
            cells = [c[:MAX_CELL] if len(c) > MAX_CELL else c for c in cells]
            yield Row(line, cells, too_long, end)
        else:
            yield Row(line, cells, [], end)


def read_table(text: str, delimiter: str | None = None) -> Table:
    """Parse CSV ``text``; every row kept (packed, see :class:`PackedRow`).

    :raises FileError: when there is no header row, the header has over
        :data:`MAX_COLUMNS` columns, or the CSV cannot be parsed.
    """
    stream = stream_table(text, delimiter)
    return Table(stream.header, [row.packed() for row in stream.rows], stream.delimiter)


_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their endings, split as ``io.StringIO(text, newline="")``
    splits them (at ``\n``, ``\r\n`` or a lone ``\r``), without its copy of the whole
    text (4 bytes a character)."""
    for match in _LINE.finditer(text):
        yield match.group()


_LINE_BYTES = re.compile(rb"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


def _utf8_lines(data: bytes) -> Iterator[str]:
    """:func:`_lines` of the text of UTF-8 ``data`` (a leading BOM skipped), decoding one
    line at a time (a UTF-8 multi-byte character never holds a CR or LF byte)."""
    start = 3 if data[:3] == b"\xef\xbb\xbf" else 0
    for match in _LINE_BYTES.finditer(data, start):
        yield match.group().decode("utf-8")


def _records(reader) -> Iterator[tuple[int, int, list[str]]]:
    """``(first line, last line, cells)`` of each record the CSV reader reads."""
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


@lru_cache(maxsize=1024)
def normalise_header(cell: str) -> str:
    """Fold a header cell for matching: BOM, case, accents, spaces, ``_``/``-``/``/`` ignored."""
    return fold(cell.replace("\ufeff", "").replace("_", " "))
