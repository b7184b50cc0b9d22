"""Text normalisation shared by search, import and geocoding (no Flask, no database).

Stored text is NFC; matching uses a *folded* form: NFKD, combining marks removed,
``str.casefold()``, punctuation turned into spaces and whitespace collapsed.
"""

from __future__ import annotations

import re
import sys
import unicodedata

_SPACES = re.compile(r"\s+")


def N_(text: str) -> str:
    """Mark ``text`` for translation without translating it (``pybabel extract -k N_``):
    for labels defined below the web layer, which pages pass through ``gettext``."""
    return text


class Message(str):
    """A sentence for people, in English, that keeps its catalog ``template`` (marked with
    :func:`N_`) and ``params``, so a page can show it in its language
    (``gettext(m.template, **m.params)``; numbers in ``params`` are ints, written ``1,000``
    here)."""

    template: str
    params: dict

    def __new__(cls, template: str, **params):
        english = {k: f"{v:,}" if isinstance(v, int) else v for k, v in params.items()}
        self = super().__new__(cls, template % english if params else template)
        self.template, self.params = template, params
        return self


def nfc(value: str) -> str:
    """Return ``value`` in Unicode NFC with surrounding whitespace stripped and
    inner whitespace runs collapsed to one space."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def fold(value: str | None) -> str:
    """Fold text for case- and accent-insensitive matching.

    ``fold("São  Paulo") == fold("SAO PAULO") == "sao paulo"``; ``fold("Köln") == "koln"``;
    ``fold("St. Mary’s") == "st mary s"``. Returns ``""`` for ``None``.
    """
    if not value:
        return ""
    if value.isascii():
        # NFKD, the combining marks and _EXTRA_LETTERS change nothing in ASCII, and there
        # casefold() is lower().
        stripped = value.lower()
    else:
        global _COMBINING
        if _COMBINING is None:
            _COMBINING = {cp: None for cp in range(sys.maxunicode + 1)
                          if unicodedata.combining(chr(cp))}
        stripped = unicodedata.normalize("NFKD", value).translate(_COMBINING)
        # A few letters have no decomposition but are written differently in ASCII.
        stripped = stripped.translate(_EXTRA_LETTERS).casefold()
    # Punctuation and "_" to spaces, whitespace runs collapsed, stripped: the runs of
    # other word characters, joined by single spaces.
    return " ".join(_WORD_RUNS.findall(stripped))


#: Every combining mark (``unicodedata.combining(c) != 0``), to delete with ``translate``;
#: built on the first text that is not ASCII (~0.05 s).
_COMBINING: dict[int, None] | None = None
_WORD_RUNS = re.compile(r"[^\W_]+")


_EXTRA_LETTERS = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D",
                                "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
                                "ı": "i", "þ": "th", "Þ": "Th"})


_INITIALS = re.compile(r"\b[^\W\d_](?: [^\W\d_]\b)+")


def join_initials(folded: str) -> str:
    """Runs of single letters in folded text joined into one word, as people write
    initials either way: ``"m d anderson"`` (from "M.D. Anderson" or "M D Anderson") ->
    ``"md anderson"``; ``"u s a"`` -> ``"usa"``; a lone letter (``"st mary s"``) stays."""
    return _INITIALS.sub(lambda m: m.group().replace(" ", ""), folded)


def has_initials(folded: str) -> bool:
    """Whether folded text holds a run of single letters (see :func:`join_initials`)."""
    return _INITIALS.search(folded) is not None


def like_escape(value: str, escape: str = "\\") -> str:
    """Escape ``%``, ``_`` and the escape character so ``value`` matches literally in LIKE."""
    return (value.replace(escape, escape * 2).replace("%", escape + "%")
            .replace("_", escape + "_"))
