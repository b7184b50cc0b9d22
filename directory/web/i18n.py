"""Languages of the public pages (Flask-Babel): the language is part of the URL.

English, the default, keeps the unprefixed URLs (``/centers``); every other language of
``LANGUAGES`` (config, default ``("en", "es")``) serves the same pages under its prefix
(``/es/centers``). :func:`register_localized` registers a blueprint once per prefix; the
app's :meth:`LocalizedFlask.url_for` keeps links of a page in its language, so templates
and views write ``url_for("public.centers")`` as before. A language is chosen by:

- the URL prefix (always; the API, admin and static files are not localized);
- on the first visit to an unprefixed page (no ``lang`` cookie yet), ``Accept-Language``:
  a reader preferring Spanish is sent to ``/es/...`` once;
- the ``lang`` cookie (one year) remembers the language of the last page read, so later
  visits are never redirected.

Catalogs: ``translations/<lang>/LC_MESSAGES/messages.po``; :func:`compile_catalogs`
compiles a ``.po`` newer than its ``.mo`` when the app starts (``make run``/``make test``
run ``pybabel compile`` too). Python modules mark strings with ``gettext``/``lazy_gettext``
(Flask-Babel) or, below the web layer, :func:`directory.text.N_`.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Flask, request
from flask_babel import Babel

ROOT = Path(__file__).resolve().parent.parent.parent
TRANSLATIONS = ROOT / "translations"
COOKIE = "lang"
#: The language's own name, for the switch (add one line with a new language).
NATIVE_NAMES = {"en": "English", "es": "Español", "fr": "Français", "de": "Deutsch",
                "pt": "Português", "it": "Italiano", "tr": "Türkçe"}
#: Blueprints whose pages exist in every language (their names, before any suffix).
LOCALIZED: list[str] = []
SUFFIX = "_l"  # the prefixed registration of blueprint "public" is "public_l"

babel = Babel()
log = logging.getLogger(__name__)


def languages() -> tuple[str, ...]:
    """The configured languages, the default (unprefixed) one first."""
    from flask import current_app

    return tuple(current_app.config.get("LANGUAGES") or ("en",))


def path_language(path: str, langs: tuple[str, ...]) -> str:
    """The language a path is in: its first segment when that is a non-default language
    (``/es/centers`` -> ``es``), else the default."""
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in langs[1:] else langs[0]


def current_language() -> str:
    """The language of the current request (the default outside one)."""
    langs = languages()
    return path_language(request.path, langs) if request else langs[0]


def strip_prefix(path: str, langs: tuple[str, ...]) -> str:
    """``/es/centers`` -> ``/centers``; ``/es/`` and ``/es`` -> ``/``."""
    lang = path_language(path, langs)
    if lang == langs[0]:
        return path
    rest = path[len(lang) + 1:]
    return rest if rest.startswith("/") else "/" + rest


def language_url(lang: str, path: str | None = None, query: bytes | str | None = None) -> str:
    """The current page (``path`` and its query string) in ``lang``."""
    langs = languages()
    path = strip_prefix(request.path if path is None else path, langs)
    if lang != langs[0]:
        path = f"/{lang}{path}"
    query = request.query_string if query is None else query
    if isinstance(query, bytes):
        query = query.decode("utf-8", "replace")
    return request.script_root + path + (f"?{query}" if query else "")


def is_localized_request() -> bool:
    """Whether this request is a page of a localized blueprint, or an error page of one
    (an unknown path that is not under ``/api``, ``/admin`` or ``/static``)."""
    if request.blueprint:
        return request.blueprint.removesuffix(SUFFIX) in LOCALIZED
    path = strip_prefix(request.path, languages())
    return not path.startswith(("/api/", "/admin", "/static/", "/auth"))


def register_localized(app: Flask, bp: Blueprint, **options) -> None:
    """Register ``bp`` at its own URLs and once more under ``/<lang>`` for the other
    languages (as ``<name>_l``): a blueprint of public pages added later needs only this."""
    langs = tuple(app.config.get("LANGUAGES") or ("en",))
    app.register_blueprint(bp, **options)
    LOCALIZED.append(bp.name) if bp.name not in LOCALIZED else None
    if len(langs) > 1:
        prefix = options.pop("url_prefix", bp.url_prefix) or ""
        choices = ", ".join(f"'{lang}'" for lang in langs[1:])
        app.register_blueprint(bp, name=bp.name + SUFFIX,
                               url_prefix=f"/<any({choices}):lang>{prefix}", **options)


class LocalizedFlask(Flask):
    """Flask whose ``url_for`` keeps a page's language: on a Spanish page
    ``url_for("public.centers")`` is ``/es/centers``. ``_lang="en"`` asks for a language."""

    def url_for(self, endpoint: str, *, _lang: str | None = None, **values):
        if request and endpoint.startswith("."):
            blueprint = (request.blueprint or "").removesuffix(SUFFIX)
            endpoint = blueprint + endpoint
        name, _, view = endpoint.partition(".")
        if view and name in LOCALIZED:
            langs = tuple(self.config.get("LANGUAGES") or ("en",))
            lang = _lang or (current_language() if request else langs[0])
            if lang != langs[0] and lang in langs:
                endpoint = f"{name}{SUFFIX}.{view}"
                values["lang"] = lang
        return super().url_for(endpoint, **values)


def _select_locale() -> str:
    return current_language()


def init_app(app: Flask) -> None:
    """Flask-Babel (locale from the URL), the first-visit redirect, the ``lang`` cookie,
    and the template context: ``lang``, ``alternates`` (``[(lang, name, url)]``)."""
    app.config.setdefault("LANGUAGES", ("en", "es"))
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    compile_catalogs(TRANSLATIONS)
    babel.init_app(app, locale_selector=_select_locale)

    @app.url_value_preprocessor
    def _pop_lang(endpoint, values):
        if values and endpoint and endpoint.partition(".")[0].endswith(SUFFIX):
            values.pop("lang", None)

    @app.before_request
    def _first_visit():
        from flask_babel import refresh

        refresh()  # the locale is the request's (an app context may outlive one request)
        langs = languages()
        if (request.method != "GET" or COOKIE in request.cookies
                or request.blueprint not in LOCALIZED or len(langs) < 2
                or request.endpoint in NOT_REDIRECTED):
            return None
        wanted = request.accept_languages.best_match(langs, default=langs[0])
        if wanted == langs[0]:
            return None
        from flask import redirect

        response = redirect(language_url(wanted), 302)
        response.vary.update(("Accept-Language", "Cookie"))
        _remember(response, wanted)
        return response

    @app.after_request
    def _cookie(response):
        if request.blueprint is None or response.status_code != 200 \
                or response.mimetype != "text/html" or not is_localized_request():
            return response
        lang = current_language()
        if request.cookies.get(COOKIE) != lang:
            _remember(response, lang)
        if request.blueprint in LOCALIZED:
            response.vary.add("Cookie")
        return response

    @app.context_processor
    def _context():
        if not request:
            return {}
        lang = current_language()
        alternates = [(code, NATIVE_NAMES.get(code, code), language_url(code))
                      for code in languages()] if is_localized_request() else []
        return {"lang": lang, "alternates": alternates}


#: Endpoints a first visit is never redirected from (downloads).
NOT_REDIRECTED = {"public.centers_csv"}


def _remember(response, lang: str) -> None:
    from flask import current_app

    response.set_cookie(COOKIE, lang, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))


def compile_catalogs(directory: Path) -> None:
    """Compile each ``<lang>/LC_MESSAGES/*.po`` under ``directory`` whose ``.mo`` is
    missing or older (written atomically; a read-only tree logs a warning and keeps the
    old file). ``pybabel compile`` (``make translations``) does the same."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        try:
            if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
                continue
            with open(po, "rb") as fh:
                catalog = read_po(fh, locale=po.parent.parent.name)
            tmp = mo.with_suffix(f".mo.{os.getpid()}")
            with open(tmp, "wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)
            os.replace(tmp, mo)
        except OSError as exc:  # pragma: no cover - a read-only install
            log.warning("could not compile %s: %s", po, exc)


def guide_language() -> Path:
    """The guide folder of the page's language: ``seeds/guide/<lang>`` when it exists
    (its pages have the English pages' slugs), else the English ``seeds/guide``."""
    from directory.guide import GUIDE_DIR

    lang = current_language() if request else "en"
    folder = GUIDE_DIR / lang
    return folder if lang != languages()[0] and folder.is_dir() else GUIDE_DIR


# -- the API: names may follow lang=, nothing else does ---------------------------------

def api_language() -> str | None:
    """``lang`` (a configured language code): modality and designation names in an item
    follow it (``lang=es``: "Radioterapia"); slugs, codes and messages never change.

    :raises ParamError: for a language the site does not have."""
    from flask import current_app

    lang = request.args.get("lang")
    if lang is None or lang == "":
        return None
    if lang not in current_app.config["LANGUAGES"]:
        choices = ", ".join(current_app.config["LANGUAGES"])
        from directory.web.params import ParamError

        raise ParamError("lang", f"lang must be one of {choices}")
    return lang


def vocabulary_label(row, lang: str | None, designation: bool = False) -> str:
    """A modality's (or designation's) name in ``lang`` from the vocabulary."""
    from directory.vocabulary import load_vocabulary

    vocabulary = load_vocabulary()
    spec = vocabulary.designation(row.slug) if designation else vocabulary.by_slug(row.slug)
    return spec.label(lang) if spec is not None else row.name


# -- formatting in the page's language (registered as Jinja filters) -------------------

def number(value, digits: int = 0) -> str:
    """``12345`` -> ``"12,345"`` (en) / ``"12.345"`` (es); ``digits`` decimals."""
    from flask_babel import format_decimal

    if value is None:
        return ""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern)


def distance(km: float | None, unit: str = "km", digits: int = 1) -> str:
    """A distance in km shown in ``unit``: ``"3.5 km"`` (en), ``"3,5 km"`` (es),
    ``"2.2 mi"``; ``""`` for ``None``."""
    from directory.geo import KM_PER_MILE

    if km is None:
        return ""
    value = km / KM_PER_MILE if unit == "mi" else km
    return f"{number(value, digits)} {'mi' if unit == 'mi' else 'km'}"


def radius_text(value: float | None) -> str:
    """A radius as typed (``100``, ``2.5`` -> ``"2,5"`` in Spanish): no trailing zeros."""
    from flask_babel import format_decimal

    return "" if value is None else format_decimal(value, format="#,##0.###")


def modality_name(value) -> str:
    """A modality (slug, :class:`~directory.vocabulary.ModalitySpec` or model row) named
    in the page's language (``i18n.<lang>.name`` of ``seeds/modalities.toml``)."""
    from directory.vocabulary import load_vocabulary

    slug = value if isinstance(value, str) else getattr(value, "slug", "")
    spec = load_vocabulary().by_slug(slug)
    if spec is None:
        return getattr(value, "name", slug)
    return spec.label(current_language() if request else None)


def designation_name(value) -> str:
    """A designation (slug, spec or model row) named in the page's language."""
    from directory.vocabulary import load_vocabulary

    slug = value if isinstance(value, str) else getattr(value, "slug", "")
    spec = load_vocabulary().designation(slug)
    if spec is None:
        return getattr(value, "name", slug)
    return spec.label(current_language() if request else None)


def country_label(code: str | None) -> str:
    """``"DE"`` -> ``"Germany"`` / ``"Alemania"``: the country's common name in the page's
    language (pycountry's ISO 3166 catalogs); unknown codes as given."""
    import pycountry

    if not code:
        return ""
    country = pycountry.countries.get(alpha_2=code)
    english = getattr(country, "common_name", None) or (country.name if country else code)
    lang = current_language() if request else "en"
    if lang == "en":
        return english
    catalog = _country_catalog(lang)
    for name in (english, getattr(country, "name", None)):
        if name and catalog.gettext(name) != name:
            return catalog.gettext(name)
    return english


def _country_catalog(lang: str):
    import gettext

    import pycountry

    cached = _COUNTRY_CATALOGS.get(lang)
    if cached is None:
        try:
            cached = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
        except OSError:
            cached = gettext.NullTranslations()
        _COUNTRY_CATALOGS[lang] = cached
    return cached


_COUNTRY_CATALOGS: dict = {}


def register_filters(app: Flask) -> None:
    """``number``, ``distance``, ``radius_text``, ``modality_name``, ``designation_name``,
    ``place_name``, ``source_note`` (:mod:`directory.web.display` adds those of
    :mod:`directory.web.i18n_data`);
    ``country_name`` becomes the page's language's (see :func:`country_label`)."""
    for func in (number, distance, radius_text, modality_name, designation_name, place_name,
                 source_note):
        app.add_template_filter(func, func.__name__)
    app.add_template_filter(country_label, "country_name")
    app.jinja_env.policies["ext.i18n.trimmed"] = True


def place_name(place) -> str:
    """A gazetteer place's label with its country named in the page's language
    ("London, England, Reino Unido"; a country alone: "Alemania"). Place names themselves
    are GeoNames' (English) names."""
    name = getattr(place, "name", "") or ""
    code = getattr(place, "country", None)
    lang = current_language() if request else "en"
    if not code or lang == "en" or code == "US":
        return name
    if getattr(place, "precision", None) == "country":
        return country_label(code)
    head, _, tail = name.rpartition(", ")
    if head and tail == _english_country(code):
        return f"{head}, {country_label(code)}"
    return name


def _english_country(code: str) -> str:
    import pycountry

    country = pycountry.countries.get(alpha_2=code)
    return getattr(country, "common_name", None) or (country.name if country else code)


def source_note(source) -> str:
    """A data source's note (:attr:`DataSource.note`) in the page's language, from
    ``i18n.<lang>.note`` of its entry in ``seeds/sources.toml``; the stored note otherwise."""
    lang = current_language() if request else "en"
    note = getattr(source, "note", None) or ""
    if lang == "en":
        return note
    return _source_notes().get((getattr(source, "slug", ""), lang), note)


@lru_cache(maxsize=1)
def _source_notes() -> dict[tuple[str, str], str]:
    import tomllib

    with open(ROOT / "seeds" / "sources.toml", "rb") as fh:
        entries = tomllib.load(fh).get("source", [])
    return {(e["slug"], lang): t["note"] for e in entries
            for lang, t in e.get("i18n", {}).items() if t.get("note")}
