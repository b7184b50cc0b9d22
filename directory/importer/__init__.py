"""The import pipeline, one module per stage, run in order by :mod:`.pipeline`:

``decode`` (bytes -> text, encoding) -> ``read`` (rows, delimiter) -> ``formats`` (a source's
columns -> canonical fields) -> ``validate`` (clean records or issues; ``fields`` holds the
per-cell normalisers) -> ``locate`` (coordinates; ``prefetch`` looks cities up in a helper
process) -> ``plan`` (compare with stored centers) -> ``write`` (apply the plan). ``result``
is what an import did and its run record.

No Flask here: :func:`run_import` writes inside the caller's session and never commits.
"""

from directory.importer.decode import FileError
from directory.importer.formats import FORMAT_NAMES
from directory.importer.pipeline import run_import
from directory.importer.result import ImportResult
from directory.importer.validate import Issue

__all__ = ["FORMAT_NAMES", "FileError", "ImportResult", "Issue", "run_import"]
