"""What an uploaded file is, from its content, never its name (a workbook renamed ``.csv``
is still a workbook): :func:`identify` answers ``"text"`` (CSV, decoded next),
``"xlsx"`` (an Excel workbook, read by :mod:`.workbook`) or ``"hsds"`` (an Open Referral
package zip), and raises :class:`~directory.importer.decode.FileError` naming anything else.

How: zips are opened and their member names read (Office Open XML has
``[Content_Types].xml`` and ``xl/``/``word/``/``ppt/``; OpenDocument a ``mimetype``
member; HSDS a ``datapackage.json`` or ``locations.csv``); a few text formats are
recognised by their first characters (PDF, RTF, HTML, XML); other binary files by their
magic bytes (the ``filetype`` library), asked only when the start of the file does not
look like text (``filetype`` matches "BM" as a bitmap and "ID3" as an MP3, both possible
first letters of a CSV header).
"""

from __future__ import annotations

import io
import zipfile
import zlib

import filetype

from directory.importer.decode import FileError

#: Limits of any zip the importer opens (an HSDS package, an XLSX workbook): unpacked size,
#: members, and the compression ratio of a member over 1 MB (a zip bomb has far more).
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_MEMBERS = 200
MAX_RATIO = 100

ADVICE = "export the table as CSV (UTF-8) or save it as an Excel workbook (.xlsx)"
_CONTROL = bytes(c for c in range(32) if c not in b"\t\n\r\f\x1a\x1b") + b"\x7f"
_NAMES = {  # filetype extension -> what an admin calls it
    "pdf": "a PDF document", "doc": "a Word 97-2003 document (.doc)",
    "docx": "a Word document (.docx)", "odt": "an OpenDocument text document (.odt)",
    "ppt": "a PowerPoint 97-2003 presentation (.ppt)", "pptx": "a PowerPoint presentation",
    "odp": "an OpenDocument presentation (.odp)", "rtf": "an RTF document",
    "epub": "an EPUB e-book", "ps": "a PostScript document", "sqlite": "an SQLite database",
    "exe": "a Windows program (.exe)", "elf": "a Linux program", "wasm": "a WebAssembly module",
    "jpg": "a JPEG image", "heic": "a HEIC photo", "tif": "a TIFF image", "ico": "an icon",
    "psd": "a Photoshop image (.psd)", "gz": "a gzip archive (.gz)", "tar": "a tar archive",
    "bz2": "a bzip2 archive (.bz2)", "7z": "a 7-Zip archive (.7z)", "rar": "a RAR archive",
    "xz": "an xz archive (.xz)", "zst": "a Zstandard archive (.zst)", "Z": "a .Z archive",
    "cab": "a cabinet archive (.cab)", "zip": "a zip archive",
}
_XLS = ("an Excel 97-2003 workbook (.xls), which the importer does not read; open it in "
        "Excel and save it as an Excel Workbook (.xlsx), or export the table as CSV (UTF-8)")


def check_zip(zf: zipfile.ZipFile, what: str) -> None:
    """Refuse a zip over :data:`MAX_MEMBERS` members, :data:`MAX_UNPACKED_BYTES` unpacked
    or a member over 1 MB compressed more than :data:`MAX_RATIO` times (what ``what``
    is, e.g. "an HSDS package", goes into the message). Raises :class:`FileError`."""
    infos = zf.infolist()
    total = sum(i.file_size for i in infos)
    if len(infos) > MAX_MEMBERS or total > MAX_UNPACKED_BYTES or any(
            i.file_size > 1_000_000 and i.file_size > MAX_RATIO * max(i.compress_size, 1)
            for i in infos):
        raise FileError(f"the zip would unpack to {total:,} bytes in {len(infos)} files; "
                        f"{what} is accepted up to {MAX_UNPACKED_BYTES:,} bytes, {MAX_MEMBERS} "
                        f"files and a compression ratio of {MAX_RATIO} (this looks like a "
                        f"zip bomb)")


def identify(data: bytes) -> str:
    """``"text"``, ``"xlsx"`` or ``"hsds"`` for ``data`` (a whole upload).

    :raises FileError: for any other kind of file, naming it ("this is a PDF document;
        export the table as CSV (UTF-8) or ...").
    """
    head = data[:8192]
    if head[:2] == b"PK" and head[2:4] in (b"\x03\x04", b"\x05\x06", b"\x07\x08"):
        return _zip_kind(data)
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if head.startswith(b"%PDF-"):
        _refuse("a PDF document")
    if stripped.startswith(b"{\\rtf"):
        _refuse("an RTF document")
    if stripped.startswith((b"<!doctype html", b"<html")):
        _refuse("a web page (HTML)", "save the table from the page as CSV, or copy it into "
                                     "a spreadsheet and save that as .xlsx")
    if stripped.startswith(b"<?xml"):
        if b"urn:schemas-microsoft-com:office:spreadsheet" in head:
            _refuse("an Excel 2003 XML spreadsheet", "open it in Excel and save it as an "
                                                      "Excel Workbook (.xlsx)")
        _refuse("an XML document")
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":  # OLE2: Office 97-2003
        kind = filetype.guess(head)
        if kind is None or kind.extension == "xls":
            _refuse(_XLS if kind else "an Office 97-2003 file (probably an Excel 97-2003 "
                                      "workbook, .xls), which the importer does not read; "
                                      "open it in Excel and save it as an Excel Workbook "
                                      "(.xlsx), or export the table as CSV (UTF-8)", "")
        _refuse(_NAMES.get(kind.extension, f"a {kind.mime} file"))
    if _looks_binary(head):
        kind = filetype.guess(head)
        if kind is not None:
            _refuse(_name(kind))
    return "text"


def _refuse(what: str, advice: str = ADVICE):
    raise FileError(f"this is {what}" + (f", not a table the importer reads; {advice}"
                                         if advice else "") + ".")


def _name(kind) -> str:
    if kind.extension in _NAMES:
        return _NAMES[kind.extension]
    family = kind.mime.split("/")[0]
    if family in ("image", "audio", "video", "font"):
        return f"{'an' if kind.extension[0] in 'aeiou' else 'a'} " \
               f"{kind.extension.upper()} {family} file"
    return f"a {kind.mime} file (.{kind.extension})"


def _looks_binary(head: bytes) -> bool:
    """Whether the start of a file is not text: NUL bytes other than UTF-16's (which fill
    one of each pair of bytes), or more than 5 % control characters."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    if b"\x00" in head:
        even, odd = head[0::2], head[1::2]
        utf16 = (b"\x00" in even) != (b"\x00" in odd) and head.count(b"\x00") >= len(head) // 4
        return not utf16
    return len(head) - len(head.translate(None, _CONTROL)) > 0.05 * len(head)


def _zip_kind(data: bytes) -> str:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise FileError(f"this looks like a zip archive (or an Excel workbook) but it cannot "
                        f"be read ({exc}); upload it again, or {ADVICE}") from exc
    with zf:
        names = [i.filename for i in zf.infolist()]
        bases = {n.rsplit("/", 1)[-1].lower() for n in names}
        if "[Content_Types].xml" in names:
            if any(n.startswith("xl/") for n in names):
                if "xl/workbook.bin" in names:
                    _refuse("an Excel binary workbook (.xlsb)", "save it as an Excel "
                                                                "Workbook (.xlsx) or as CSV")
                return "xlsx"
            if any(n.startswith("word/") for n in names):
                _refuse("a Word document (.docx)")
            if any(n.startswith("ppt/") for n in names):
                _refuse("a PowerPoint presentation (.pptx)")
            _refuse("an Office document that is not a workbook")
        if "mimetype" in names:
            try:
                mimetype = zf.open("mimetype").read(200).decode("ascii", "replace").strip()
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
                    NotImplementedError):
                mimetype = "damaged"
            if mimetype == "application/vnd.oasis.opendocument.spreadsheet":
                _refuse("an OpenDocument spreadsheet (.ods)",
                        "save it as an Excel Workbook (.xlsx) (LibreOffice: File > Save As "
                        "> Excel 2007-365), or export the sheet as CSV (UTF-8)")
            _refuse(f"an OpenDocument file ({mimetype[:60]})")
        if "datapackage.json" in bases or "locations.csv" in bases:
            return "hsds"
        listed = ", ".join(sorted(n for n in names if not n.endswith("/"))[:8]) or "nothing"
        _refuse(f"a zip archive that is not an Open Referral HSDS package (it has no "
                f"datapackage.json or locations.csv; it holds {listed})",
                "unzip it and upload the table inside (CSV or .xlsx)")
    return "text"  # not reached
