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
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.exchange.cells import csv_line, neutralise, unneutralise  # noqa: F401 (re-exported)
from directory.geo import KM_PER_MILE
from directory.models import (
    Center,
    CenterDesignation,
    CenterModality,
    Designation,
    Modality,
    Organization,
)
from directory.search import CenterHit, SearchQuery, load_hits, ordered_ids
from directory.text import fold
from directory.vocabulary import load_vocabulary

# The project's CSV template (README "Importing centers"); export writes exactly these.
TEMPLATE_COLUMNS = (
    "external_id", "name", "alternate_names", "kind", "address", "city", "region",
    "postal_code", "country", "latitude", "longitude", "phone", "website", "email",
    "modalities", "designations", "status", "description", "organization",
)
# Search exports: the template columns, then what only a search result has.
# ``inferred_basis``: each inferred modality no source reports, with why it is inferred
# (``immunotherapy; targeted-therapy: inferred: this hospital reports outpatient chemotherapy;
# confirm with the center``, several bases separated by `` | ``).
SEARCH_EXTRA_COLUMNS = ("inferred_modalities", "inferred_basis", "center_id", "url")
# Documented maximum number of rows in a search export (config ``EXPORT_MAX_ROWS``).
DEFAULT_EXPORT_MAX_ROWS = 10_000
_BATCH = 1000  # centers read per statement while an export streams
def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _positions() -> tuple[dict[str, int], dict[str, int]]:
    """Vocabulary order of the modality and designation slugs (cells list them in it)."""
    vocabulary = load_vocabulary()
    return ({m.slug: i for i, m in enumerate(vocabulary.modalities)},
            {d.slug: i for i, d in enumerate(vocabulary.designations)})


def _in_order(slugs: Iterable[str], position: dict[str, int]) -> str:
    """``slugs`` once each, in vocabulary order (unknown ones last, by name), ``; ``-joined."""
    return "; ".join(sorted(set(slugs), key=lambda s: (position.get(s, len(position)), s)))


def _cells(c, external_id: str, reported: str, designations: str,
           organization: str | None) -> list[str]:
    """The template row of center-like ``c`` (an ORM center or a row with its columns)."""
    return [
        external_id, c.name, c.alternate_names or "", c.kind or "", c.address or "",
        c.city or "", c.region or "", c.postal_code or "", c.country or "",
        _number(c.latitude), _number(c.longitude), c.phone or "", c.website or "",
        c.email or "", reported, designations, c.status or "", c.description or "",
        organization or "",
    ]


class _Slug(NamedTuple):
    slug: str


class _Claim(NamedTuple):
    """What :func:`inferred_basis` reads of a claim, from a plain row."""
    modality: _Slug
    provenance: str
    evidence: str | None


def inferred_basis(claims: Iterable) -> str:
    """The ``inferred_basis`` cell: the modalities only inferred (no source reports them),
    grouped by their basis, ``"<slugs>: <basis>"`` joined by `` | ``; empty when none."""
    claims = list(claims)
    reported = {cm.modality.slug for cm in claims if cm.provenance == "reported"}
    position = {m.slug: i for i, m in enumerate(load_vocabulary().modalities)}
    by_basis: dict[str, set[str]] = {}
    for cm in claims:
        if cm.provenance == "inferred" and cm.modality.slug not in reported:
            by_basis.setdefault(cm.evidence or "inferred", set()).add(cm.modality.slug)
    return " | ".join(
        "; ".join(sorted(slugs, key=lambda s: (position.get(s, len(position)), s)))
        + f": {basis}" for basis, slugs in by_basis.items())


def template_row(center: Center, external_id: str | None = None, *,
                 positions: tuple[dict[str, int], dict[str, int]] | None = None) -> list[str]:
    """``center`` as a row of the CSV template (values not yet neutralised).

    ``modalities`` holds the *reported* claims only: inferred ones come back from
    ``designations`` on import, so an export re-imports to the same claims. ``positions``:
    :func:`_positions`, when the caller writes many rows.
    """
    modality_at, designation_at = positions or _positions()
    return _cells(center, external_id if external_id is not None else (center.external_id or ""),
                  _in_order((cm.modality.slug for cm in center.modalities
                             if cm.provenance == "reported"), modality_at),
                  _in_order((cd.designation.slug for cd in center.designations),
                            designation_at),
                  center.organization.name if center.organization else None)


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
        so.selectinload(Center.designations).joinedload(CenterDesignation.designation),
        so.joinedload(Center.organization))
    if not include_closed:
        stmt = stmt.where(Center.status != "closed")
    centers = list(session.scalars(stmt))
    ids = _export_ids(centers)
    positions = _positions()
    pairs = [(c, template_row(c, ids[c.id], positions=positions)) for c in centers]
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
    ``truncated`` when ``total > limit``; ``ids`` the rows to write, in search order, and
    ``distances`` (id -> km) for a place search."""

    total: int
    limit: int
    ids: list[int]
    distances: dict[int, float] | None = None

    @property
    def truncated(self) -> bool:
        return self.total > self.limit


def search_export(session: so.Session, query: SearchQuery,
                  limit: int = DEFAULT_EXPORT_MAX_ROWS) -> SearchExport:
    """Every result of ``query`` (its ``page``/``per_page`` ignored), in search order (the
    same search as the web page: :func:`~directory.search.ordered_ids` with one page of
    ``limit``), as ids: one ordered query, from the covering indexes. The rows are read
    while the response streams, :data:`_BATCH` at a time (:func:`search_csv_lines`,
    :func:`search_hits`); only ids cross into the streamed body, whose session may be
    another one."""
    ids, distances, total, _ = ordered_ids(
        session, dataclasses.replace(query, page=1, per_page=max(limit, 1)))
    return SearchExport(total, limit, ids[:limit], distances)


def _batches(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _BATCH):
        yield ids[start:start + _BATCH]


def search_hits(session: so.Session, export: SearchExport) -> Iterator[CenterHit]:
    """The export's centers as search hits (3 statements per :data:`_BATCH` centers), for
    the NDJSON export (the API item shape); memory stays flat (each batch is let go)."""
    for batch in _batches(export.ids):
        yield from load_hits(session, batch, export.distances)
        session.expunge_all()


def search_csv_header(unit: str | None) -> list[str]:
    """Columns of a search CSV: the template, ``distance_<unit>`` when there is a place,
    then :data:`SEARCH_EXTRA_COLUMNS`."""
    return [*TEMPLATE_COLUMNS, *([f"distance_{unit}"] if unit else []),
            *SEARCH_EXTRA_COLUMNS]


_CSV_COLUMNS = (Center.id, Center.external_id, Center.name, Center.alternate_names,
                Center.kind, Center.address, Center.city, Center.region, Center.postal_code,
                Center.country, Center.latitude, Center.longitude, Center.phone,
                Center.website, Center.email, Center.status, Center.description,
                Organization.name.label("organization"))


def search_csv_lines(session: so.Session, export: SearchExport, *, unit: str | None,
                     url_of: Callable[[int], str], bom: bool = True) -> Iterator[str]:
    """The search as CSV text, one record at a time (UTF-8 BOM first so Excel reads
    accents). ``unit`` (``km``/``mi``) adds a distance column; ``None`` for no place;
    ``url_of`` maps a center id to its page's URL. Plain rows, no ORM objects: 3
    statements per :data:`_BATCH` centers (the centers with their organization's name, their
    claims, their designations)."""
    yield ("\ufeff" if bom else "") + csv_line(search_csv_header(unit))
    modality_at, designation_at = _positions()
    distances = export.distances or {}
    for batch in _batches(export.ids):
        rows = {r.id: r for r in session.execute(
            sa.select(*_CSV_COLUMNS).outerjoin(Organization,
                                               Organization.id == Center.organization_id)
            .where(Center.id.in_(batch)))}
        claims: dict[int, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
        bases: dict[int, list[_Claim]] = defaultdict(list)
        for center_id, slug, provenance, evidence in session.execute(
                sa.select(CenterModality.center_id, Modality.slug, CenterModality.provenance,
                          CenterModality.evidence)
                .join(Modality, Modality.id == CenterModality.modality_id)
                .where(CenterModality.center_id.in_(batch))):
            claims[center_id][provenance != "reported"].append(slug)
            bases[center_id].append(_Claim(_Slug(slug), provenance, evidence))
        held: dict[int, list[str]] = defaultdict(list)
        for center_id, slug in session.execute(
                sa.select(CenterDesignation.center_id, Designation.slug)
                .join(Designation, Designation.id == CenterDesignation.designation_id)
                .where(CenterDesignation.center_id.in_(batch))):
            held[center_id].append(slug)
        for center_id in batch:
            r = rows.get(center_id)
            if r is None:  # deleted since the ids were read
                continue
            reported, inferred = claims.get(center_id, ((), ()))
            row = _cells(r, r.external_id or "", _in_order(reported, modality_at),
                         _in_order(held.get(center_id, ()), designation_at), r.organization)
            if unit:
                d = distances.get(center_id)
                if d is not None and unit == "mi":
                    d = d / KM_PER_MILE
                row.append("" if d is None else f"{d:.2f}")
            row += [_in_order(inferred, modality_at), inferred_basis(bases.get(center_id, ())),
                    str(center_id), url_of(center_id)]
            yield csv_line(row)


def search_ndjson_lines(hits: Iterable,
                        serialise: Callable[[CenterHit], dict]) -> Iterator[str]:
    """The search as newline-delimited JSON: one object per hit (the API item shape)."""
    for hit in hits:
        yield json.dumps(serialise(hit), ensure_ascii=False, separators=(",", ":")) + "\n"


