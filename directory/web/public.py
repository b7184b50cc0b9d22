"""Public pages: home, search, center detail, the guide, about. Server-rendered; no
JavaScript needed."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _

from directory.curation.suggest import accepted_updates
from directory.extensions import db, export_limit
from directory.guide import load_guide
from directory.inference import load_inferences
from directory.models import Center, CenterModality, DataSource, SourceRecord
from directory.search import (
    SearchError,
    countries_with_treatments,
    country_has_centers,
    find_centers,
    get_center,
    modality_totals,
    nearest_centers,
    nearest_match,
)
from directory.vocabulary import load_vocabulary
from directory.web import compare as _compare
from directory.web.display import center_provenance, search_url
from directory.web.facts import center_facts
from directory.web.i18n import country_label as country_name
from directory.web.i18n import (
    current_language,
    distance,
    guide_language,
    modality_name,
    number,
    radius_text,
)
from directory.web.params import parse_search
from directory.web.suggest import reported_text, role_phrase

bp = Blueprint("public", __name__)
# /compare: side by side (directory.web.compare), an endpoint of this blueprint
bp.add_url_rule("/compare", view_func=_compare.compare)
bp.add_url_rule("/compare/print", view_func=_compare.shortlist)


@bp.route("/")
def index():
    """Home: what the site is, a search form, the guide's entry points."""
    from directory.web.forms import SearchForm

    form = SearchForm(formdata=None, meta={"csrf": False})
    form.set_vocabulary_choices(load_vocabulary())
    total = db.session.scalar(sa.select(sa.func.count(Center.id))
                              .where(Center.status != "closed"))
    return render_template("public/index.html", form=form, total=total)


@bp.route("/centers")
def centers():
    """Search results with facets and pagination; 400 for bad parameters."""
    parsed = parse_search(request.args)
    page = None
    if parsed.query is not None:
        try:
            page = find_centers(db.session, parsed.query)
        except SearchError as exc:
            from directory.web.params import ParamError

            raise ParamError(exc.field, exc.message) from exc
    source_names = dict(db.session.execute(sa.select(DataSource.slug, DataSource.name))
                        .all()) if page is not None and parsed.query.modalities else {}
    return render_template("public/centers.html", parsed=parsed, page=page, args=request.args,
                           hints=empty_result_hints(parsed, page), source_names=source_names)


def empty_result_hints(parsed, page) -> list[tuple[str, str | None, str | None]]:
    """Why a search came back empty, as ``(message, link text, link URL)``: a modality no
    source reports yet (with its parent to try), a country with no centers, a page past
    the end."""
    hints: list[tuple[str, str | None, str | None]] = []
    if page is None:
        return hints
    if page.total and page.page > page.pages:
        hints.append((_("There are only %(pages)s page(s) of results.", pages=number(page.pages)),
                      _("Go to the last page"),
                      search_url(request.args, page=str(page.pages))))
    if page.total:
        return hints
    vocabulary = load_vocabulary()
    totals = modality_totals(db.session) if parsed.query.modalities else {}
    for slug in parsed.query.modalities:
        if totals.get(slug):
            continue
        spec = vocabulary.by_slug(slug)
        parent = vocabulary.by_slug(spec.parent) if spec.parent else None
        message = _("None of the public sources we use says which centers offer %(treatment)s "
                    "yet, so no center is listed for it. Many centers do offer it: ask them.",
                    treatment=modality_name(spec).lower())
        if parent is not None:
            hints.append((message, _("Search for %(treatment)s instead",
                                     treatment=modality_name(parent).lower()),
                          search_url(request.args, modality=[
                              parent.slug if m == slug else m
                              for m in parsed.query.modalities])))
        else:
            hints.append((message, _("Search without this treatment"),
                          search_url(request.args, modality=[
                              m for m in parsed.query.modalities if m != slug] or None)))
    place = parsed.resolution.place if parsed.resolution else None
    country = parsed.query.country or (place.country if place else None)
    if country and not country_has_centers(db.session, country):
        hints.append((_("The directory has no centers in %(country)s yet. It holds hospitals of "
                        "the US, the UK, 29 European countries (Eurostat) and over 190 "
                        "countries from Wikidata.", country=country_name(country)), None, None))
    if country and country_has_centers(db.session, country) and parsed.query.modalities \
            and all(totals.get(m) for m in parsed.query.modalities):
        covered = countries_with_treatments(db.session)
        if country not in covered:
            names = ", ".join(country_name(c) for c in covered[:6]) or _("no country")
            if covered[:1] == ["US"] and len(covered) == 1:
                names = _("the %(country)s", country=names)
            hints.append((_("No source we use reports which treatments centers in %(country)s "
                            "give: treatment information comes only from lists of centers in "
                            "%(names)s. The hospitals here may well offer it; call them to "
                            "ask.", country=country_name(country), names=names),
                          _("Show the hospitals without the treatment filter"),
                          search_url(request.args, modality=None)))
    if parsed.query.near is not None and all(totals.get(m) for m in parsed.query.modalities):
        hit = nearest_match(db.session, parsed.query)
        if hit is not None:
            c = hit.center
            where = ", ".join(p for p in (c.city, country_name(c.country)) if p)
            hints.append((_("Nothing within %(radius)s. The nearest match is %(name)s "
                            "(%(where)s), %(distance)s away:",
                            radius=radius_text(parsed.radius) + " " + parsed.unit, name=c.name,
                            where=where, distance=distance(hit.distance_km, parsed.unit, 0)),
                          c.name,
                          url_for("public.center", center_id=c.id)))
    return hints


@bp.route("/centers.csv")
@export_limit
def centers_csv():
    """The current search (same parameters as ``/centers``) as a CSV download, streamed and
    capped at ``EXPORT_MAX_ROWS``; see :func:`directory.web.api.export_response`."""
    from directory.web.api import csv_search_response

    return csv_search_response()


@bp.route("/centers/<id:center_id>")
def center(center_id: int):
    """One center: contact, modalities with provenance, designations, nearest, and where
    each shown field came from (``prov``: :class:`~directory.web.display.CenterProvenance`,
    with every source record linked to the center)."""
    c = get_center(db.session, center_id)
    if c is None:
        from directory.curation.merge import merged_into

        target = merged_into(db.session, center_id)
        if target is not None:  # a merged center's URL keeps working
            return redirect(url_for("public.center", center_id=target), 301)
        abort(404, description=_("There is no center with id %(id)s.", id=center_id))
    sources = {s.slug: s for s in db.session.scalars(sa.select(DataSource))}
    claims = sorted(c.modalities, key=lambda cm: (cm.modality.position, cm.provenance,
                                                  cm.source))
    # Updates visitors reported and an editor accepted (issue 17), with their links.
    reported = accepted_updates(db.session, c)
    names = {m.slug: modality_name(m) for m in load_vocabulary().modalities}
    reported_texts = {i.id: reported_text(i, names, c.country)
                      for s in reported for i in s.items if i.outcome == "accepted"}
    return render_template("public/center.html", c=c, claims=claims, sources=sources,
                           prov=center_provenance(c, sources, db.session),
                           nearest=nearest_centers(db.session, c),
                           facts=center_facts(db.session, c.id, sources), reported=reported,
                           reported_texts=reported_texts, reported_by=role_phrase)


@bp.route("/guide/")
def guide_index():
    """The guide's table of contents and introduction."""
    pages = load_guide(guide_language())
    return render_template("public/guide_index.html", intro=pages.get("index"),
                           pages=[p for p in pages.values() if p.slug != "index"])


@bp.route("/guide/<slug>")
def guide_page(slug: str):
    """One guide page, linking to centers that offer its modality."""
    pages = load_guide(guide_language())
    page = pages.get(slug)
    if page is None or slug == "index":
        abort(404, description=_("There is no guide page with that name."))
    vocabulary = load_vocabulary()
    related = [vocabulary.by_slug(s) for s in page.related if vocabulary.by_slug(s)]
    modality = vocabulary.by_slug(page.modality) if page.modality else None
    totals = modality_totals(db.session) if modality else {}
    return render_template("public/guide_page.html", page=page, related=related,
                           modality=modality, totals=totals)


@bp.route("/about")
def about():
    """What the site is, where the data comes from (attributions), and its limits."""
    sources = db.session.scalars(sa.select(DataSource).order_by(DataSource.name)).all()
    counts = dict(db.session.execute(  # centers holding a record of each source
        sa.select(SourceRecord.source, sa.func.count(sa.distinct(SourceRecord.center_id)))
        .group_by(SourceRecord.source)).all())
    claim_counts = dict(db.session.execute(sa.select(CenterModality.source, sa.func.count())
                                           .group_by(CenterModality.source)).all())
    return render_template("public/about.html", sources=sources, counts=counts,
                           claim_counts=claim_counts, inference_rules=[
                               r.localized(current_language()) for r in load_inferences().rules])


