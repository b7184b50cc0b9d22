"""Compare up to three centers side by side (``/compare?ids=1,2,3``) and print them as a
shortlist (``/compare/print``: one page per center, with the questions to ask).

Routes are added to the public blueprint (``public.compare``). The URL is the whole state:
``ids`` (comma-separated or repeated, order kept), optionally ``near`` and ``unit`` to show
distances from a place and ``modality`` (or the search's, from ``back``) for the questions,
so a comparison can be shared, bookmarked and printed.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _

from directory.extensions import db
from directory.geo import GeocodingError, InvalidQuery, geodesic_km
from directory.models import Center, CenterModality, DataSource
from directory.vocabulary import load_vocabulary
from directory.web.display import APPROXIMATE, MAX_COMPARE
from directory.web.params import SINGLE_VALUED, ParamError, get_geocoder, modality_slugs

MAX_IDS = 20  # more than this in a URL is not a shortlist: 400


def parse_ids(args) -> list[int]:
    """Center ids from ``ids`` (``1,2,3`` and/or repeated), de-duplicated, order kept.

    :raises ParamError: for a value that is not a positive whole number, or too many ids.
    """
    ids: list[int] = []
    for value in args.getlist("ids"):
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if not (part.isascii() and part.isdigit()) or len(part) > 12 or int(part) < 1:
                raise ParamError("ids", _("ids must be center numbers separated by commas, "
                                          "not %(value)s", value=repr(part[:30])))
            if int(part) not in ids:
                ids.append(int(part))
    if len(ids) > MAX_IDS:
        raise ParamError("ids", _("compare at most %(n)s centers", n=MAX_COMPARE))
    return ids


def compare_url(ids: list[int], **extra) -> str:
    """``/compare?ids=1,2,3`` plus ``extra`` parameters that have a value."""
    params = {"ids": ",".join(str(i) for i in ids)} if ids else {}
    params.update({k: v for k, v in extra.items() if v})
    return url_for("public.compare", **params)


def _search_args(back: str) -> dict[str, str | list[str]]:
    """The search parameters of ``back`` (the query string of the results page the
    comparison was started from), so "Back to the search" keeps every filter. Only the
    search's own parameter names are kept, and only as parameters of /centers: the value
    can never send the visitor elsewhere."""
    from urllib.parse import parse_qsl

    args: dict[str, str | list[str]] = {}
    for key, value in parse_qsl(back[:2000], keep_blank_values=False):
        if key == "modality":
            args.setdefault(key, []).append(value)  # type: ignore[union-attr]
        elif key in SINGLE_VALUED:
            args[key] = value
    return args


def search_treatments(args) -> list[str]:
    """The treatments of the search a comparison came from: its own ``modality``
    parameters, else those of ``back`` (whose unknown slugs are left out), in vocabulary
    order.

    :raises ParamError: for a ``modality`` parameter that names no treatment (a slug, a
        name or a synonym, as in a search).
    """
    vocabulary = load_vocabulary()
    own = modality_slugs(args.getlist("modality"), vocabulary)
    wanted = set(own) or set(_search_args(args.get("back", "")).get("modality", ()))
    return [m.slug for m in vocabulary.modalities if m.slug in wanted]


def compare():
    """Up to three centers side by side: distance from ``near``, contact, designations and
    every treatment with its provenance (reported / inferred, source, date), and the
    questions to ask about the search's treatments (``modality``, or those of ``back``)."""
    return _compare_page("public/compare.html")


def shortlist():
    """The comparison as a printable shortlist (``/compare/print``, same parameters): one
    page per center with name, address, phone in international format, website, what is
    reported and by whom, and the questions with room for the answers."""
    return _compare_page("public/shortlist.html")


def _compare_page(template: str):
    ids = parse_ids(request.args)
    notices = []
    if len(ids) > MAX_COMPARE:
        notices.append(_("You can compare up to %(n)s centers at a time; showing the first "
                         "%(n)s.", n=MAX_COMPARE))
        ids = ids[:MAX_COMPARE]
    unit = request.args.get("unit", "km")
    if unit not in ("km", "mi"):
        raise ParamError("unit", _("unit must be km or mi"))
    near = (request.args.get("near") or "").strip()
    if len(near) > current_app.config["SEARCH_MAX_TEXT"]:
        raise ParamError("near", _("near is too long"))
    found = {c.id: c for c in db.session.scalars(sa.select(Center).where(Center.id.in_(ids))
             .options(so.selectinload(Center.modalities).joinedload(CenterModality.modality),
                      so.selectinload(Center.designations),
                      so.joinedload(Center.organization)))} if ids else {}
    centers = [found[i] for i in ids if i in found]
    missing = [i for i in ids if i not in found]
    if missing:
        notices.append(_("No center has the number %(ids)s; it may have been removed or "
                         "merged.", ids=", ".join(map(str, missing))))
    place = None
    if near:
        try:
            place = get_geocoder().resolve(near).place
        except InvalidQuery as exc:
            raise ParamError("near", str(exc)) from exc
        except GeocodingError:
            notices.append(_("We could not find a place called “%(place)s”, so distances are "
                             "not shown.", place=near))
    distances = {}
    if place is not None:
        for c in centers:
            if c.latitude is not None and c.longitude is not None:
                distances[c.id] = geodesic_km(place.point(), (c.latitude, c.longitude))
    sources = {s.slug: s for s in db.session.scalars(sa.select(DataSource))}
    vocabulary = load_vocabulary()
    rows = []
    for m in vocabulary.modalities:
        cells = []
        for c in centers:
            claims = sorted((cm for cm in c.modalities if cm.modality.slug == m.slug),
                            key=lambda cm: (cm.provenance, cm.source))
            bases = set()  # an inferred claim shows its basis: once, whatever the source
            cells.append([cm for cm in claims if cm.provenance == "reported" or not (
                cm.evidence in bases or bases.add(cm.evidence))])
        if any(cells):
            rows.append((m, cells))
    current = [c.id for c in centers]
    treatments = search_treatments(request.args)
    keep = {"near": near, "unit": unit if unit != "km" else None,
            "modality": treatments or None}
    remove_urls = {c.id: compare_url([i for i in current if i != c.id], **keep)
                   for c in centers}
    back_args = {"near": near} if near else {}
    if unit != "km" and near:
        back_args["unit"] = unit
    search_args = _search_args(request.args.get("back", ""))
    return render_template(template, centers=centers, rows=rows, treatments=treatments,
                           today=format_date(dt.date.today(), "long"),  # page's language
                           print_url=url_for("public.shortlist", ids=",".join(map(str, current)),
                                             **{k: v for k, v in keep.items() if v}),
                           compare_url=compare_url(current, **keep),
                           distances=distances, place=place, unit=unit, near=near,
                           notices=notices, sources=sources, remove_urls=remove_urls,
                           share_url=url_for("public.compare", _external=True, **(
                               {"ids": ",".join(map(str, current))} if current else {}),
                               **back_args, **({"modality": treatments} if treatments else {})),
                           back_url=url_for("public.centers", **(search_args or back_args)),
                           approximate=APPROXIMATE)
