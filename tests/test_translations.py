"""Translations stay complete (issue 16): no visible text in a public template outside
``{{ _() }}`` / ``{% trans %}``, and every string the code and templates mark is translated
(not fuzzy, same placeholders) in every catalog under ``translations/``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
TRANSLATIONS = ROOT / "translations"
#: Templates a visitor of the public site reads (admin pages may stay English).
PUBLIC = sorted([*TEMPLATES.glob("public/*.html"), TEMPLATES / "base.html",
                 TEMPLATES / "_macros.html", TEMPLATES / "errors/error.html"])
#: Attributes people read (or hear, with a screen reader).
READ_ATTRIBUTES = ("aria-label", "placeholder", "title", "alt", "aria-description")
HOLE = "\x00"  # where a {{ expression }} or a {% block %} stood
LETTERS = re.compile(r"[^\W\d_]{2,}")


def untranslated_text(source: str) -> list[str]:
    """Visible text (text nodes and read attributes) of a Jinja template that is outside
    ``{{ ... }}`` and ``{% trans %}...{% endtrans %}``: each is a phrase no catalog holds."""
    env = Environment(extensions=["jinja2.ext.i18n"])
    parts: list[str] = []
    in_trans = in_block = in_comment = False
    block_words: list[str] = []
    for _, kind, value in env.lex(source):
        if kind == "block_begin":
            in_block, block_words = True, []
        elif kind == "block_end":
            in_block = False
            if block_words[:1] == ["trans"]:
                in_trans = True
            elif block_words[:1] == ["endtrans"]:
                in_trans = False
            parts.append(HOLE)
        elif in_block and kind == "name":
            block_words.append(value)
        elif kind == "variable_begin":
            parts.append(HOLE)
        elif kind == "comment_begin":
            in_comment = True
        elif kind == "comment_end":
            in_comment = False
        elif kind == "data" and not in_trans and not in_comment:
            parts.append(value)
    text = "".join(parts)
    text = re.sub(r"<script\b.*?</script>", HOLE, text, flags=re.S | re.I)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    found = []
    for tag in re.findall(r"<[^>]*>", text):
        for name, value in re.findall(r'([\w-]+)="([^"]*)"', tag):
            if name in READ_ATTRIBUTES:
                found += [p.strip() for p in value.split(HOLE) if LETTERS.search(p)]
    for node in re.sub(r"<[^>]*>", HOLE, text).split(HOLE):
        if LETTERS.search(node):
            found.append(" ".join(node.split()))
    return found


@pytest.mark.parametrize("path", PUBLIC, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_public_templates_mark_every_visible_string(path):
    assert untranslated_text(path.read_text(encoding="utf-8")) == []


def test_the_check_finds_unmarked_text():
    source = ('<p>Hello {{ name }}</p><a title="Open it" href="{{ u }}">{{ _("Ok") }}</a>'
              '{% trans %}Fine {{ x }}{% endtrans %}<input placeholder="{{ _(\'Yes\') }}">'
              '{# a comment #}<script>var s = "not shown";</script>')
    assert untranslated_text(source) == ["Open it", "Hello"]


def marked_messages() -> dict:
    """Every msgid the code and templates mark, as ``pybabel extract`` finds them
    (``translations/babel.cfg``, keywords ``_l`` and ``N_`` too): ``{msgid: where}``."""
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None,
                "lazy_gettext": None, "N_": None}
    method_map = [("directory/**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"trimmed": "true"}}
    found = {}
    for filename, lineno, message, _, _ in extract_from_dir(
            str(ROOT), method_map, options, keywords=keywords):
        found.setdefault(message, f"{filename}:{lineno}")
    return found


def catalogs() -> list[Path]:
    return sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\(\w+\)s", text))


@pytest.mark.parametrize("po", catalogs(), ids=lambda p: p.parent.parent.name)
def test_catalog_translates_every_marked_string(po):
    with open(po, "rb") as fh:
        catalog = read_po(fh)
    problems = []
    for msgid, where in marked_messages().items():
        key = msgid if isinstance(msgid, str) else msgid
        entry = catalog.get(key if isinstance(key, str) else key[0])
        if entry is None:
            problems.append(f"missing ({where}): {msgid!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy or not all(strings):
            problems.append(f"{'fuzzy' if entry.fuzzy else 'untranslated'} ({where}): "
                            f"{msgid!r}")
            continue
        wanted = placeholders(" ".join(msgid) if isinstance(msgid, tuple) else msgid)
        for text in strings:
            if not placeholders(text) <= wanted or (
                    isinstance(msgid, str) and placeholders(text) != wanted):
                problems.append(f"placeholders differ ({where}): {msgid!r} -> {text!r}")
    assert problems == [], "\n".join(problems)


def test_every_configured_language_has_a_catalog(app):
    for lang in app.config["LANGUAGES"][1:]:
        assert (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").exists(), lang
