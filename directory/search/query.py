"""The read side: one search function shared by the HTML pages and the JSON API.

:func:`find_centers` takes a session and a :class:`SearchQuery` and returns a
:class:`SearchPage`. Semantics (DESIGN.md): text ``q`` on name / alternate names /
organization: every word must start a word of the text (case- and accent-insensitive, LIKE
wildcards literal), found through the full-text index (SQLite FTS5, PostgreSQL GIN tsvector)
and checked exactly with LIKE; ``city`` prefix match on the folded city; ``region`` by
ISO 3166-2 code, bare code or name; ``country`` ISO alpha-2; ``modalities`` combine as AND
and a parent matches its children (``Center.modality_mask`` bits); radius search prefilters
with bounding boxes on the indexed latitude/longitude columns (split at the antimeridian),
then keeps and sorts by exact geodesic distance (WGS-84, km). Closed centers are left out
unless asked for. Facet counts (per modality, parents included, and per country) cover
every result, not just the page; outside radius searches the total and facets are cached
per process, keyed by the database's ``data_version`` (bumped by triggers on every change),
so a change made by any process is seen at the next request.
"""

from __future__ import annotations

import heapq
import re
import threading
from collections import Counter, defaultdict
from functools import lru_cache

import cachetools
import pycountry
import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.ext.compiler import compiles

from directory.geo import (
    Place,
    bounding_boxes,
    geodesic_km_from,
    grid_cell,
    grid_cells,
)
from directory.models import (
    NON_TREATING_KINDS,
    Center,
    CenterDesignation,
    CenterModality,
    DataVersion,
    Designation,
    Modality,
)
from directory.search.order import best_keys, care_tier_sql, unreported_sql
from directory.search.results import (
    CenterHit,
    ClaimView,
    DesignationRef,
    HeldView,
    ModalityRef,
    SearchError,
    SearchPage,
    SearchQuery,
)
from directory.text import fold, join_initials, like_escape
from directory.vocabulary import load_vocabulary

# The indexed tsvector expression of migration c4e1f0a2b9d7 (PostgreSQL), written out as a
# constant so the planner matches it to ix_center_search_tsv: punctuation becomes spaces, so
# the words are the runs of letters and digits, as in SQLite's FTS5 unicode61 tokenizer.
PG_TSVECTOR = ("to_tsvector('simple'::regconfig, "
               "regexp_replace(search_text, '[^[:alnum:]]+', ' ', 'g'))")
_WORD_PARTS = re.compile(r"[A-Za-z0-9]+")
# On these dialects, a relevance page ending within the first HEAD_MAX results is looked
# for among exact-name matches and designated centers first (see _relevance_page).
HEAD_MAX = 100
#: How far :func:`nearest_match` looks (km).
NEAREST_MATCH_MAX_KM = 5000.0
HEAD_FIRST_DIALECTS = frozenset({"postgresql"})

# (database URL, data version, filters) -> (total, facets); see _cached_totals.
_TOTALS: cachetools.LRUCache = cachetools.LRUCache(maxsize=1024)
_TOTALS_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _subdivision_index() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    by_suffix: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    for sub in pycountry.subdivisions:
        by_suffix.setdefault(sub.code.split("-", 1)[1].upper(), []).append(sub.code)
        by_name.setdefault(fold(sub.name), []).append(sub.code)
    return by_suffix, by_name


def region_codes(value: str, country: str | None = None) -> list[str]:
    """ISO 3166-2 codes a region parameter may mean: ``"MN"`` -> ``["US-MN", ...]``,
    ``"Minnesota"`` -> ``["US-MN"]``, ``"US-MN"`` -> ``["US-MN"]``; limited to ``country``
    when given. The raw value is also returned, for regions stored as free text."""
    value = value.strip()
    by_suffix, by_name = _subdivision_index()
    upper = value.upper()
    codes = set()
    if "-" in upper and pycountry.subdivisions.get(code=upper):
        codes.add(upper)
    codes.update(by_suffix.get(upper, ()))
    codes.update(by_name.get(fold(value), ()))
    if country:
        codes = {c for c in codes if c.startswith(country + "-")}
    return sorted(codes) + [value]


def _filters(session: so.Session, query: SearchQuery) -> list:
    conds: list = []
    if not query.include_closed:
        conds.append(Center.status != "closed")
    if query.kinds:
        conds.append(Center.kind.in_(query.kinds))
    elif not query.all_kinds:
        conds.append(Center.kind.not_in(NON_TREATING_KINDS))
    if query.q:
        # every word counts (q is at most 200 characters); initials as one word ("M.D.")
        tokens = join_initials(fold(query.q)).split()
        if not tokens:  # only punctuation: nothing can match it literally
            conds.append(sa.false())
        fulltext = _fulltext_condition(session, tokens)
        if fulltext is not None:
            conds.append(fulltext)
        for token in tokens:  # each word must start a word of the name (MSK != Ormskirk)
            escaped = like_escape(token)
            conds.append(sa.or_(Center.search_text.like(f"{escaped}%", escape="\\"),
                                Center.search_text.like(f"% {escaped}%", escape="\\")))
    if query.city:
        folded = fold(query.city)
        conds.append(Center.city_folded.like(f"{like_escape(folded)}%", escape="\\")
                     if folded else sa.false())  # only punctuation: nothing matches
    if query.country:
        conds.append(Center.country == query.country)
    if query.region:
        conds.append(Center.region.in_(region_codes(query.region, query.country)))
    if query.modalities:
        vocabulary = load_vocabulary()
        for slug in query.modalities:  # AND: every modality's bit (set for its children too)
            if vocabulary.by_slug(slug) is None:
                raise SearchError("modality", f"unknown modality {slug!r}")
            conds.append(Center.modality_mask.op("&")(vocabulary.bit(slug)) != 0)
    if query.designation:
        conds.append(sa.exists(
            sa.select(1).select_from(CenterDesignation).join(Designation)
            .where(CenterDesignation.center_id == Center.id,
                   Designation.slug == query.designation)))
    return conds


def _fulltext_condition(session: so.Session, tokens: list[str]):
    """A full-text-index condition matching a superset of the word-prefix LIKE filter, or
    ``None`` when no token can use the index (the LIKE filter then scans).

    Only ASCII tokens are used: the LIKE filter requires each token at the start of a
    space-separated word, so the token's first run of letters/digits starts an index word
    there (both tokenizers split at every non-alphanumeric character) and its later runs are
    whole index words, the last a prefix. Non-ASCII letters may tokenize differently (the
    PostgreSQL locale decides ``[:alnum:]``), so such tokens are left to LIKE alone."""
    parts = [p for t in tokens if t.isascii() for p in _WORD_PARTS.findall(t)]
    if not parts:
        return None
    if session.get_bind().dialect.name == "postgresql":
        tsquery = " & ".join(f"'{p}':*" for p in parts)
        return sa.literal_column(PG_TSVECTOR).op("@@")(
            sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), tsquery))
    match = " ".join(f'"{p}"*' for p in parts)
    return Center.id.in_(sa.select(sa.literal_column("rowid"))
                         .select_from(sa.table("center_fts"))
                         .where(sa.literal_column("center_fts").op("MATCH")(match)))


class _strpos(sa.sql.functions.GenericFunction):
    """``strpos(text, part)``: the 1-based position of ``part`` in ``text``, 0 if absent
    (PostgreSQL's name; SQLite calls it ``instr``)."""

    type = sa.Integer()
    name = "strpos"
    inherit_cache = True


@compiles(_strpos, "sqlite")
def _strpos_sqlite(element, compiler, **kw):
    return f"instr({compiler.process(element.clauses, **kw)})"


def _relevance(folded_q: str) -> list:
    """Order terms for ``sort=relevance``: the exact name first, then designated cancer
    centers (someone typing "anderson" in a cancer finder means MD Anderson), then names
    starting with the words, then names containing them at a word start, the earlier in
    the name the better ("University of Texas MD Anderson Cancer Center" before "Mays
    Cancer Center at UT Health San Antonio MD Anderson Cancer Center"). The query counts
    with its initials joined and as typed ("M.D. Anderson" is "md anderson" and "m d
    anderson"), as the names may be written either way."""
    variants = _query_forms(folded_q)
    escaped = [like_escape(v) for v in variants]
    position = _strpos(sa.literal(" ") + Center.name_folded, " " + variants[0])
    for variant in variants[1:]:  # the first form found, else 0 (as strpos)
        other = _strpos(sa.literal(" ") + Center.name_folded, " " + variant)
        position = sa.case((position > 0, position), else_=other)
    return [
        sa.case((Center.name_folded.in_(variants), 0), else_=1),
        sa.case((Center.designated, 0), else_=1),
        sa.case((sa.or_(*(Center.name_folded.like(f"{e}%", escape="\\") for e in escaped)), 0),
                (sa.or_(*(Center.name_folded.like(f"% {e}%", escape="\\") for e in escaped)),
                 1), else_=2),
        position,
    ]


def _query_forms(folded_q: str) -> list[str]:
    """A folded query with its initials joined, then as typed when that differs."""
    return list(dict.fromkeys((join_initials(folded_q), folded_q)))


def _relevance_page(session: so.Session, conds: list, folded_q: str, offset: int,
                    limit: int) -> list[int]:
    """The ids of one page in relevance order (:func:`_relevance`, then name and id).

    Exact-name matches and designated centers sort before every other match. On
    PostgreSQL, which indexes the designated centers' search text apart (a partial GIN
    index), a page ending within the first :data:`HEAD_MAX` results is first looked for
    among them alone, in one statement (one snapshot, so a concurrent edit can neither
    repeat nor drop a center), without ranking the thousands of centers a common word
    matches; when they are too few, every match is ranked, as on SQLite (where that
    first look would read every match anyway)."""
    order = [*_relevance(folded_q), Center.name_folded, Center.id]
    end = offset + limit
    if end <= HEAD_MAX and session.get_bind().dialect.name in HEAD_FIRST_DIALECTS:
        keys = [key.label(f"k{i}") for i, key in enumerate(order)]
        exact = Center.name_folded.in_(_query_forms(folded_q))
        parts = [sa.select(*keys).where(*conds, where).order_by(*order).limit(end)
                 .subquery() for where in (exact, sa.and_(Center.designated, ~exact))]
        head = sa.union_all(*(sa.select(*part.c) for part in parts)).subquery()
        ids = list(session.scalars(sa.select(head.c[f"k{len(order) - 1}"])
                                  .order_by(*head.c).limit(end)))
        if len(ids) == end:
            return ids[offset:]
    return list(session.scalars(sa.select(Center.id).where(*conds).order_by(*order)
                                .limit(limit).offset(offset)))


def _box_condition(place: Place, radius_km: float):
    """Rows inside the bounding boxes of the circle, found through the grid cells they
    touch (or, for very wide boxes, whole latitude rows of cells) and the coordinates."""
    parts = []
    for box in bounding_boxes(place.latitude, place.longitude, radius_km):
        lat0, lat1, lon0, lon1 = box
        cells = grid_cells(box)
        cell = Center.geo_cell.in_(cells) if cells is not None else Center.geo_cell.between(
            grid_cell(lat0, -180.0), grid_cell(lat1, 180.0))
        parts.append(sa.and_(cell, Center.latitude.between(lat0, lat1),
                             Center.longitude.between(lon0, lon1)))
    return sa.or_(*parts)


def load_hits(session: so.Session, ids: list[int], distances: dict[int, float] | None = None
               ) -> list[CenterHit]:
    """The hits for ``ids``, in that order (ids no longer in the database left out): each
    center with its organization, and its claims and designations as read-only rows (at
    most three statements, whatever the number of centers; plain rows cost a fraction of
    ORM objects, which matters on every result page). The claims are asked for only when
    a center has some (``modality_mask``, which the flush hook keeps on the object too):
    a page of hospitals without reported treatments costs one statement fewer."""
    if not ids:
        return []
    centers = {c.id: c for c in session.scalars(
        sa.select(Center).where(Center.id.in_(ids))
        .options(so.joinedload(Center.organization)))}
    claims: defaultdict[int, list[ClaimView]] = defaultdict(list)
    refs: dict[str, ModalityRef] = {}
    with_claims = [i for i, c in centers.items() if c.modality_mask]
    for center_id, slug, name, position, *claim in session.execute(
            sa.select(CenterModality.center_id, Modality.slug, Modality.name,
                      Modality.position, CenterModality.provenance, CenterModality.source,
                      CenterModality.verified_on, CenterModality.evidence)
            .join(Modality, Modality.id == CenterModality.modality_id)
            .where(CenterModality.center_id.in_(with_claims))
            .order_by(CenterModality.center_id, CenterModality.id)) if with_claims else ():
        ref = refs.get(slug) or refs.setdefault(slug, ModalityRef(slug, name, position))
        claims[center_id].append(ClaimView(ref, *claim))
    held: defaultdict[int, list[HeldView]] = defaultdict(list)
    for center_id, slug, name, source, as_of in session.execute(
            sa.select(CenterDesignation.center_id, Designation.slug, Designation.name,
                      CenterDesignation.source, CenterDesignation.as_of)
            .join(Designation, Designation.id == CenterDesignation.designation_id)
            .where(CenterDesignation.center_id.in_(ids))
            .order_by(CenterDesignation.center_id, CenterDesignation.id)):
        held[center_id].append(HeldView(DesignationRef(slug, name), source, as_of))
    distances = distances or {}
    return [CenterHit(centers[i], distances.get(i), tuple(claims[i]), tuple(held[i]))
            for i in ids if i in centers]


def find_centers(session: so.Session, query: SearchQuery) -> SearchPage:
    """Run a search.

    :returns: :class:`SearchPage` with distances in km when ``query.near`` is set.
    :raises SearchError: for an unknown modality slug or ``sort=distance`` without ``near``.
    """
    page_ids, distances, total, facets = ordered_ids(session, query)
    return SearchPage(load_hits(session, page_ids, distances), total, query.page, query.per_page,
                      facets)


def ordered_ids(session: so.Session, query: SearchQuery
                ) -> tuple[list[int], dict[int, float] | None, int, dict]:
    """The ids of ``query``'s page in search order, without loading the centers:
    ``(ids, {id: km} or None without a place, total, facets)``. Exports ask for one page
    of ``EXPORT_MAX_ROWS`` and load the rows themselves.

    :raises SearchError: as :func:`find_centers`.
    """
    sort = query.effective_sort
    if sort == "distance" and query.near is None:
        raise SearchError("sort", "sort=distance needs a place in 'near'")
    conds = _filters(session, query)
    offset = (query.page - 1) * query.per_page
    if query.near is None:
        total, facets = _cached_totals(session, query, conds)
        # The page's ids first, from the covering indexes alone (skipping `offset` rows
        # costs no row reads), then those rows with what the page shows.
        if offset >= total:
            page_ids = []
        elif sort == "relevance" and query.q:
            page_ids = _relevance_page(session, conds, fold(query.q), offset, query.per_page)
        elif sort == "best":
            page_ids = session.scalars(sa.select(Center.id).where(*conds).order_by(
                *_best_order(query), Center.name_folded, Center.id)
                .limit(query.per_page).offset(offset)).all()
        else:
            page_ids = session.scalars(sa.select(Center.id).where(*conds).order_by(
                Center.name_folded, Center.id).limit(query.per_page).offset(offset)).all()
        return list(page_ids), None, total, facets

    # Radius search: bounding-box prefilter in SQL, exact geodesic distance in Python; the
    # facets come from the same rows, so the filter runs once.
    radius = query.radius_km
    geo = [Center.latitude.is_not(None), Center.longitude.is_not(None)]
    if radius is not None:
        geo.append(_box_condition(query.near, radius))
    order_columns: tuple = ()
    if sort == "best":  # group, unverified, and in a treatment search how many unreported
        order_columns = (*care_tier_sql()[:2], *(
            (unreported_sql(query.modalities),) if query.modalities else ()))
    # Through Core, not the ORM: thousands of plain rows, no entities to load.
    rows = session.connection().execute(sa.select(
        Center.id, Center.latitude, Center.longitude, Center.name_folded,
        Center.modality_mask, Center.country, *order_columns).where(*conds, *geo)).all()
    ids, lats, lons, names, masks, countries, *order = zip(*rows) if rows else ((),) * (
        6 + len(order_columns))
    km = geodesic_km_from(query.near.point(), lats, lons)
    kept = range(len(ids)) if radius is None else [i for i, d in enumerate(km) if d <= radius]
    # (key, id) tuples compare in C; only the rows up to the end of the page are ordered.
    if sort == "name":
        keys = ((names[i], ids[i]) for i in kept)
    elif sort == "best":
        keys = best_keys(kept, ids, names, km, *order)
    else:
        keys = ((km[i], names[i], ids[i]) for i in kept)
    end = offset + query.per_page
    first = heapq.nsmallest(end, keys) if end < len(kept) // 4 else sorted(keys)[:end]
    page_ids = [key[-1] for key in first[offset:end]]
    position = {cid: i for i, cid in enumerate(ids)} if page_ids else {}
    facets = _facets_from_counts(Counter(masks[i] for i in kept),
                                 Counter(countries[i] for i in kept))
    return page_ids, {cid: km[position[cid]] for cid in page_ids}, len(kept), facets


def _best_order(query: SearchQuery) -> tuple:
    """ORDER BY terms of the ``best`` order (:func:`care_tier_sql`); in a treatment search,
    within each group the centers a source reports every searched treatment for come
    first (:func:`unreported_sql`), then those where some are only inferred."""
    tier, *rest = care_tier_sql()
    if query.modalities:
        return (tier, unreported_sql(query.modalities), *rest)
    return (tier, *rest)


def _facet_result(modality: dict[str, int], country: dict[str, int]) -> dict:
    return {"modality": {k: v for k, v in modality.items() if v},
            "country": dict(sorted(((k, v) for k, v in country.items() if k and v),
                                   key=lambda kv: (-kv[1], kv[0])))}


def _grouped_facets(session: so.Session, conds: list) -> tuple[int, dict]:
    """Total and facets in one grouped statement: per country, the row count and, per
    modality, how many rows have its bit (a parent's bit is set by its children)."""
    vocabulary = load_vocabulary()
    slugs = [m.slug for m in vocabulary.modalities]
    columns = [sa.func.sum(sa.case((Center.modality_mask.op("&")(vocabulary.bit(slug)) != 0,
                                    1), else_=0)) for slug in slugs]
    # Grouping by an expression, not the bare column, keeps SQLite from walking the country
    # index in order (one random row read per center) instead of scanning the filtered rows.
    country_key = sa.func.coalesce(Center.country, "")
    stmt = sa.select(country_key, sa.func.count(), *columns).where(*conds).group_by(country_key)
    modality = dict.fromkeys(slugs, 0)
    country: dict[str, int] = {}
    total = 0
    for row in session.execute(stmt):
        total += row[1]
        country[row[0]] = row[1]
        for slug, n in zip(slugs, row[2:]):
            modality[slug] += int(n or 0)
    return total, _facet_result(modality, country)


def data_version(session: so.Session) -> int | None:
    """The database's data version (``data_version`` row 1), or ``None`` if it is missing."""
    return session.scalar(sa.select(DataVersion.version).where(DataVersion.id == 1))


def _cached_totals(session: so.Session, query: SearchQuery, conds: list) -> tuple[int, dict]:
    """:func:`_grouped_facets` of a search without ``near``, from a per-process LRU cache
    keyed by the data version: a country-wide count over a million centers costs hundreds
    of milliseconds, and the same few treatment/country combinations are asked again and
    again. The version is read before the counts, so a cached entry is never older than
    its key (a change committed in between only makes the entry newer than its key)."""
    version = data_version(session)
    if version is None:
        return _grouped_facets(session, conds)
    key = (str(session.get_bind().url), version, query.q, query.city, query.country,
           query.region, tuple(sorted(query.modalities)), query.designation,
           query.include_closed, query.kinds, query.all_kinds)
    with _TOTALS_LOCK:
        found = _TOTALS.get(key)
    if found is None:
        found = _grouped_facets(session, conds)
        with _TOTALS_LOCK:
            _TOTALS[key] = found
    total, facets = found
    return total, {name: dict(counts) for name, counts in facets.items()}


def _facets_from_counts(masks: Counter, countries: Counter) -> dict:
    """Facets of rows already in memory, from how many rows have each modality mask and
    each country (many rows share a mask, so each distinct mask is decoded once)."""
    vocabulary = load_vocabulary()
    bits = [(m.slug, vocabulary.bit(m.slug)) for m in vocabulary.modalities]
    modality = dict.fromkeys((slug for slug, _ in bits), 0)
    for mask, n in masks.items():
        if mask:
            for slug, bit in bits:
                if mask & bit:
                    modality[slug] += n
    return _facet_result(modality, dict(countries))


def get_center(session: so.Session, center_id: int) -> Center | None:
    """One center with what its page shows (claims with their modality, designations,
    organization) loaded in three statements, or ``None``."""
    return session.scalar(sa.select(Center).where(Center.id == center_id).options(
        so.selectinload(Center.modalities).joinedload(CenterModality.modality),
        so.selectinload(Center.designations), so.joinedload(Center.organization)))


def modality_totals(session: so.Session) -> dict[str, int]:
    """Open centers per modality slug over the whole directory (parents count their
    children), for saying "no source reports this yet" instead of a bare empty list."""
    query = SearchQuery()
    return _cached_totals(session, query, _filters(session, query))[1]["modality"]
