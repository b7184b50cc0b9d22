"""Exports: the current search as CSV or NDJSON (streamed, capped), and the whole directory
in the project's CSV template (round-trips through the importer).

No Flask here: callers pass a session, a :class:`~directory.search.SearchQuery` and, where a
row needs one, a function that serialises a center or builds its URL.

Every CSV cell written by this module goes through
:func:`~directory.exchange.cells.neutralise` (formula cells get a leading ``'``), like
every CSV the app writes.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable, Iterable, Iterator

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.exchange.cells import csv_line, neutralise, unneutralise  # noqa: F401 (re-exported)
from directory.geo import KM_PER_MILE
from directory.models import Center, CenterModality
from directory.search import CenterHit, SearchQuery, find_centers
from directory.text import fold
from directory.vocabulary import load_vocabulary

# The project's CSV template (README "Importing centers"); export writes exactly these.
TEMPLATE_COLUMNS = (
    "external_id", "name", "alternate_names", "kind", "address", "city", "region",
    "postal_code", "country", "latitude", "longitude", "phone", "website", "email",
    "modalities", "designations", "status", "description", "organization",
)
# Search exports: the template columns, then what only a search result has.
SEARCH_EXTRA_COLUMNS = ("inferred_modalities", "center_id", "url")
# Documented maximum number of rows in a search export (config ``EXPORT_MAX_ROWS``).
DEFAULT_EXPORT_MAX_ROWS = 10_000
_CHUNK = 500
def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _modality_slugs(claims: Iterable, provenance: str) -> list[str]:
    position = {m.slug: i for i, m in enumerate(load_vocabulary().modalities)}
    slugs = {cm.modality.slug for cm in claims if cm.provenance == provenance}
    return sorted(slugs, key=lambda s: (position.get(s, len(position)), s))


def template_row(center: Center, external_id: str | None = None, *,
                 claims: Iterable | None = None, held: Iterable | None = None) -> list[str]:
    """``center`` as a row of the CSV template (values not yet neutralised).

    ``modalities`` holds the *reported* claims only: inferred ones come back from
    ``designations`` on import, so an export re-imports to the same claims. ``claims`` and
    ``held`` (a search hit's rows) replace the center's own relationships when given.
    """
    claims = center.modalities if claims is None else claims
    held = center.designations if held is None else held
    position = {d.slug: i for i, d in enumerate(load_vocabulary().designations)}
    designations = sorted({cd.designation.slug for cd in held},
                          key=lambda s: (position.get(s, len(position)), s))
    return [
        external_id if external_id is not None else (center.external_id or ""),
        center.name, center.alternate_names or "", center.kind or "", center.address or "",
        center.city or "", center.region or "", center.postal_code or "",
        center.country or "", _number(center.latitude), _number(center.longitude),
        center.phone or "", center.website or "", center.email or "",
        "; ".join(_modality_slugs(claims, "reported")), "; ".join(designations),
        center.status or "", center.description or "",
        center.organization.name if center.organization else "",
    ]


# -- the whole directory ---------------------------------------------------------------

def _export_ids(centers: list[Center]) -> dict[int, str]:
    """The ``external_id`` cell per center: the stored id when it is unique in the export;
    ``source:id`` when two sources use the same id; ``source:center-<id>`` for a center
    without an id whose name, postal code and country collide with another's (so every row
    re-imports as its own center)."""
    by_id: dict[str, int] = {}
    by_key: dict[str, int] = {}
    for c in centers:
        if c.external_id:
            by_id[c.external_id] = by_id.get(c.external_id, 0) + 1
        else:
            by_key[c.natural_key] = by_key.get(c.natural_key, 0) + 1
    out = {}
    for c in centers:
        if c.external_id:
            out[c.id] = c.external_id if by_id[c.external_id] == 1 else \
                f"{c.source}:{c.external_id}"
        else:
            out[c.id] = "" if by_key[c.natural_key] == 1 else f"{c.source}:center-{c.id}"
    return out


def directory_centers(session: so.Session, *, include_closed: bool = True
                      ) -> list[tuple[Center, list[str]]]:
    """Every center with its template row, sorted by folded name then cell values (so the
    order does not depend on database ids and a re-imported export exports identically)."""
    stmt = sa.select(Center).options(
        so.selectinload(Center.modalities).joinedload(CenterModality.modality),
        so.selectinload(Center.designations), so.joinedload(Center.organization))
    if not include_closed:
        stmt = stmt.where(Center.status != "closed")
    centers = list(session.scalars(stmt))
    ids = _export_ids(centers)
    pairs = [(c, template_row(c, ids[c.id])) for c in centers]
    pairs.sort(key=lambda pair: (fold(pair[1][1]), pair[1]))
    return pairs


def directory_rows(session: so.Session, *, include_closed: bool = True) -> list[list[str]]:
    """Every center as a template row, in :func:`directory_centers` order."""
    return [row for _, row in directory_centers(session, include_closed=include_closed)]


def write_directory_csv(session: so.Session, fh) -> int:
    """Write the whole directory in the CSV template to the text file ``fh`` (open it with
    ``newline=""``, UTF-8). Returns the number of centers written."""
    fh.write(csv_line(TEMPLATE_COLUMNS))
    rows = directory_rows(session)
    for row in rows:
        fh.write(csv_line(row))
    return len(rows)


def directory_csv_bytes(session: so.Session) -> bytes:
    """The whole directory in the CSV template, as UTF-8 bytes (no BOM), for the admin
    download and ``flask export-centers``. Import it with ``--format native``."""
    buffer = io.StringIO(newline="")
    write_directory_csv(session, buffer)
    return buffer.getvalue().encode("utf-8")


# -- the current search ----------------------------------------------------------------

@dataclasses.dataclass
class SearchExport:
    """A capped search export: ``total`` matching centers, ``limit`` rows at most,
    ``truncated`` when ``total > limit``; ``hits`` yields :class:`CenterHit` lazily."""

    total: int
    limit: int
    hits: Iterator[CenterHit]

    @property
    def truncated(self) -> bool:
        return self.total > self.limit


def search_export(session: so.Session, query: SearchQuery,
                  limit: int = DEFAULT_EXPORT_MAX_ROWS) -> SearchExport:
    """Every result of ``query`` (its ``page``/``per_page`` ignored), in search order, up to
    ``limit``, fetched through :func:`find_centers` (the same search as the web page) while
    ``hits`` is iterated: ``_CHUNK`` at a time, or all at once for a place search (which
    orders all its candidates on every call). ``total`` is known before streaming."""
    # The total now (the headers need it); the rows later, inside the streamed response:
    # a streamed body runs in a new application context with a new session, so centers
    # loaded here would be detached there (a lazy attribute would then fail mid-file).
    total = find_centers(session, dataclasses.replace(query, page=1, per_page=1)).total

    # A place search orders every candidate on each call (distances, best match): one call
    # for the whole export, not one per chunk (a 10,000-row export near a place made 21
    # full scans: 20 s). Other searches page through the covering indexes by chunk.
    chunk = max(min(limit, total), 1) if query.near is not None else _CHUNK

    def hits() -> Iterator[CenterHit]:
        number, sent = 1, 0
        while True:
            page = find_centers(session, dataclasses.replace(query, page=number,
                                                             per_page=chunk))
            for hit in page.items:
                if sent >= limit:
                    return
                yield hit
                sent += 1
            if not page.has_next or sent >= limit:
                return
            session.expunge_all()  # keep memory flat on big exports
            number += 1

    return SearchExport(total, limit, hits())


def search_csv_header(unit: str | None) -> list[str]:
    """Columns of a search CSV: the template, ``distance_<unit>`` when there is a place,
    then :data:`SEARCH_EXTRA_COLUMNS`."""
    return [*TEMPLATE_COLUMNS, *([f"distance_{unit}"] if unit else []),
            *SEARCH_EXTRA_COLUMNS]


def search_csv_lines(export: SearchExport, *, unit: str | None,
                     url_of: Callable[[Center], str], bom: bool = True) -> Iterator[str]:
    """The search as CSV text, one record at a time (UTF-8 BOM first so Excel reads
    accents). ``unit`` (``km``/``mi``) adds a distance column; ``None`` for no place."""
    yield ("\ufeff" if bom else "") + csv_line(search_csv_header(unit))
    for hit in export.hits:
        c = hit.center
        row = template_row(c, claims=hit.modalities, held=hit.designations)
        if unit:
            d = hit.distance_km
            if d is not None and unit == "mi":
                d = d / KM_PER_MILE
            row.append("" if d is None else f"{d:.2f}")
        row += ["; ".join(_modality_slugs(hit.modalities, "inferred")), str(c.id), url_of(c)]
        yield csv_line(row)


def search_ndjson_lines(export: SearchExport,
                        serialise: Callable[[CenterHit], dict]) -> Iterator[str]:
    """The search as newline-delimited JSON: one object per center (the API item shape)."""
    for hit in export.hits:
        yield json.dumps(serialise(hit), ensure_ascii=False, separators=(",", ":")) + "\n"


