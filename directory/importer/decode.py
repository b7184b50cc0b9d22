"""Decode step: uploaded bytes to text, with the encoding named.

UTF-8 (with or without BOM) is tried first, then UTF-16 (BOM, or NULs only in high bytes).
Otherwise charset-normalizer detects the encoding; when it proposes Latin-1 and the bytes
decode as Windows-1252, cp1252 is used instead (Excel on Windows writes cp1252; decoding it
as Latin-1 silently stores C1 control characters such as U+0092 instead of ``’``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import charset_normalizer


class FileError(ValueError):
    """A problem with the whole file (empty, binary, undecodable, no header). Nothing is
    written when one is raised; ``str(error)`` is a message fit for an admin."""


@dataclass(frozen=True)
class Decoded:
    """Text of a file and how it was decoded."""

    text: str
    encoding: str
    had_bom: bool
    note: str | None = None


def _mostly_non_latin(text: str) -> bool:
    letters = [ch for ch in text if ord(ch) > 127 and ch.isalpha()]
    if not letters:
        return False
    latin = sum(1 for ch in letters if unicodedata.name(ch, "").startswith("LATIN"))
    return latin < len(letters) / 2


def decode_bytes(data: bytes) -> Decoded:
    """Decode CSV bytes to text.

    :returns: :class:`Decoded` (text without BOM, Python codec name, whether a BOM was seen).
    :raises FileError: when the file is empty or blank, contains NUL bytes (binary), or no
        text encoding fits.
    """
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise FileError("The file is empty or has no header row.")
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return Decoded(data[3:].decode("utf-8"), "utf-8-sig", True)
        except UnicodeDecodeError as exc:
            raise FileError(f"The file starts with a UTF-8 byte order mark but is not valid "
                            f"UTF-8 (byte {exc.start + 3}). Re-save it as UTF-8.") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return Decoded(data.decode("utf-16"), "utf-16", True)
        except UnicodeDecodeError as exc:
            raise FileError("The file looks like UTF-16 but does not decode.") from exc
    if b"\x00" in data:
        # UTF-16 without a BOM: the NULs are all high bytes of BMP characters (binary files
        # have them at both even and odd offsets).
        for codec, low in (("utf-16-le", data[0::2]), ("utf-16-be", data[1::2])):
            if len(data) % 2 == 0 and b"\x00" not in low and \
                    data.count(b"\x00") >= len(data) // 4:
                try:
                    return Decoded(data.decode(codec), codec, False)
                except UnicodeDecodeError:
                    pass
        raise FileError("The file contains NUL bytes: it looks like a binary file "
                        "(a spreadsheet or an image), not CSV text. Export it as CSV.")
    try:
        return Decoded(data.decode("utf-8"), "utf-8", False)
    except UnicodeDecodeError:
        pass
    results = charset_normalizer.from_bytes(data)
    best = results.best()
    # charset-normalizer often prefers another single-byte code page (cp852, iso8859-10, ...)
    # for a file with only a few accented bytes, and its mess detector counts symbols such
    # as the NHS list's "¬" delimiter against cp1252. Excel on Windows writes cp1252, so
    # cp1252 wins unless the detected text is mostly in a non-Latin script (e.g. cp1251).
    # Non-Latin words put non-ASCII bytes next to each other; a file whose non-ASCII bytes
    # are all isolated (a "¬" delimiter, the odd "’") is not one (a lone header line with
    # "¬" otherwise reads as Korean cp949).
    if best is not None and _mostly_non_latin(str(best)) and \
            re.search(rb"[\x80-\xff]{2}", data):
        # mac_cyrillic and cp1251 often tie; Windows wrote the file far more often.
        best = next((r for r in results if r.encoding.startswith("cp125")
                     and r.chaos <= best.chaos and _mostly_non_latin(str(r))), best)
        return Decoded(str(best), best.encoding, False)
    # Five bytes (0x81 0x8D 0x8F 0x90 0x9D) mean nothing in cp1252; a stray one must not turn
    # the whole file into another code page's letters. Replace just those bytes and say so.
    text = data.decode("cp1252", errors="replace")
    undefined = text.count("\ufffd") - data.decode("cp1252", errors="ignore").count("\ufffd")
    note = None
    if undefined:
        note = (f"{undefined} byte(s) that mean nothing in Windows-1252 were replaced with "
                f"\ufffd; check the rows that show it, or re-save the file as UTF-8")
    return Decoded(text, "cp1252", False, note)
