"""Text normalisation shared by search, import and geocoding (no Flask, no database).

Stored text is NFC; matching uses a *folded* form: NFKD, combining marks removed,
``str.casefold()``, punctuation turned into spaces and whitespace collapsed.
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


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
        decomposed = unicodedata.normalize("NFKD", value)
        stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        # A few letters have no decomposition but are written differently in ASCII.
        stripped = stripped.translate(_EXTRA_LETTERS).casefold()
    stripped = _PUNCT.sub(" ", stripped).replace("_", " ")
    return _SPACES.sub(" ", stripped).strip()


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
