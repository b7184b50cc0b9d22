"""The stage 4 lung cancer guide: Markdown pages with TOML front matter in ``seeds/guide``.

Each page starts with a ``+++``-delimited TOML block (``slug``, ``title``, ``summary``,
optional ``modality`` and ``related`` slugs, ``order``, ``reviewed`` date). The body is
Markdown, rendered to HTML once per process; raw HTML in the source is escaped.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import markdown
from markupsafe import Markup

GUIDE_DIR = Path(__file__).resolve().parent.parent / "seeds" / "guide"


class GuidePageError(ValueError):
    """A guide file without valid front matter; the message names the file."""


@dataclass(frozen=True)
class GuidePage:
    """One rendered guide page. ``html`` is safe Markup produced from the Markdown body."""

    slug: str
    title: str
    summary: str
    modality: str | None
    related: tuple[str, ...]
    order: int
    reviewed: str | None
    html: Markup


def parse_page(text: str, origin: str = "<string>") -> GuidePage:
    """Parse one guide file's text. Raises :class:`GuidePageError` on bad front matter."""
    if not text.startswith("+++"):
        raise GuidePageError(f"{origin}: missing +++ front matter")
    try:
        _, meta_text, body = text.split("+++", 2)
        meta = tomllib.loads(meta_text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise GuidePageError(f"{origin}: bad front matter ({exc})") from exc
    html = markdown.markdown(body.replace("<", "&lt;"), extensions=["sane_lists"],
                             output_format="html")
    # Guide pages render under an <h1> title; demote nothing, but keep headings from h2.
    return GuidePage(slug=meta["slug"], title=meta["title"], summary=meta.get("summary", ""),
                     modality=meta.get("modality"), related=tuple(meta.get("related", ())),
                     order=int(meta.get("order", 99)), reviewed=meta.get("reviewed"),
                     html=Markup(html))


@lru_cache(maxsize=2)
def load_guide(directory: Path = GUIDE_DIR) -> dict[str, GuidePage]:
    """All guide pages keyed by slug, ordered by ``order`` then title (README.md skipped)."""
    pages = [parse_page(p.read_text(encoding="utf-8"), p.name)
             for p in sorted(directory.glob("*.md")) if p.name != "README.md"]
    pages.sort(key=lambda p: (p.order, p.title))
    return {p.slug: p for p in pages}
