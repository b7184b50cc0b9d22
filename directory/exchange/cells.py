"""CSV cells safe to open in a spreadsheet: the one place every CSV the app writes (search
and API exports, the directory template, HSDS and records packages, rejected-row
downloads) gets its cells from.

Text that begins with ``=``, ``+``, ``-``, ``@``, TAB or CR and is not a number gets a
leading ``'`` so a spreadsheet shows it as text instead of running it as a formula (OWASP
"CSV injection"). Numbers such as ``-71.1066`` and E.164 phones such as ``+16175551234``
are left alone. The importer strips the ``'`` again (``directory.importer.fields``), so an
export or a corrected rejected-rows file imports back unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise(value) -> str:
    """A CSV cell that a spreadsheet will not evaluate: ``None`` -> ``""``; text starting
    with ``= + - @ TAB CR`` that is not a number gets a leading ``'``; the rest unchanged."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def unneutralise(text: str) -> str:
    """Undo :func:`neutralise` on a cell read back from one of our exports."""
    if len(text) > 1 and text[0] == "'" and text[1:].startswith(_FORMULA_START) \
            and not _NUMBER.match(text[1:]):
        return text[1:]
    return text


def csv_line(cells: Iterable) -> str:
    """One CSV record (RFC 4180: comma, ``"`` quoting, CRLF) with neutralised cells."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([neutralise(c) for c in cells])
    return buffer.getvalue()


def csv_text(rows: Iterable[Iterable]) -> str:
    """Several records as one CSV text (:func:`csv_line` each: cells neutralised)."""
    return "".join(csv_line(row) for row in rows)
