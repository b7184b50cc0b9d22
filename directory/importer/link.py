"""Link stage: the new rows of an import that describe a center already in the directory
(from another source) become records of that center instead of new centers.

Between plan and write; reads only. The candidates are the stored centers near the new rows
(same postal code, folded city or 1-degree grid cell) that hold no record of the importing
source; :func:`directory.curation.link.link_records` decides (deterministic keys such as CMS
CCNs, then blocking and rapidfuzz scores). Stored centers are given one pseudo-source, so
the linker never joins two of them: a new row attaches to at most one center, and a center
gets at most one record per source. Pairs between the link and review thresholds are
returned for the duplicates review queue, never linked.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.curation.link import Link, LinkRecord, link_records
from directory.geo import grid_cell
from directory.importer.validate import CenterRecord
from directory.models import Center, SourceRecord
from directory.text import fold

#: Deterministic identifiers by source format: a CMS CCN names one hospital in every CMS
#: file (editions, measure lists), whatever source slug it was imported under.
ID_KINDS = {"cms-hgi": "ccn"}
STORED = "stored-center"
#: US territories with ISO 3166-1 codes of their own: CMS lists them as country US with a
#: region (US-PR), HIFLD and others under their own code. Compared as US.
US_TERRITORIES = frozenset({"PR", "GU", "VI", "AS", "MP", "UM"})
CHUNK = 900  # values per IN list


@dataclass
class LinkPlan:
    """``attach``: (index in the adds, center id, link) for rows that join a stored
    center; ``review``: (index in the adds, center id, link) pairs to look at."""

    attach: list[tuple[int, int, Link]] = field(default_factory=list)
    review: list[tuple[int, int, Link]] = field(default_factory=list)


def _link_record(key: str, source: str, record, ids=()) -> LinkRecord:
    alternate = record.alternate_names
    if isinstance(alternate, str):
        alternate = tuple(n.strip() for n in alternate.split(";") if n.strip())
    country, region = record.country, record.region
    if country in US_TERRITORIES:
        country, region = "US", f"US-{country}"
    return LinkRecord(key=key, source=source, name=record.name,
                      alternate_names=tuple(alternate or ()), address=record.address,
                      city=record.city, region=region,
                      postal_code=record.postal_code, country=country,
                      latitude=record.latitude, longitude=record.longitude,
                      precision=record.geocode_precision, ids=tuple(ids))


#: What linking reads of a stored center (plain rows, not ORM objects: a large import can
#: have most of a large directory as candidates).
_COLUMNS = (Center.id, Center.name, Center.alternate_names, Center.address, Center.city,
            Center.region, Center.postal_code, Center.country, Center.latitude,
            Center.longitude, Center.geocode_precision)


def _candidates(session: so.Session, adds: list[CenterRecord], source: str) -> list:
    """Stored centers near the new rows that hold no record of ``source`` (rows of
    :data:`_COLUMNS`)."""
    postal = sorted({r.postal_code for r in adds if r.postal_code})
    cities = sorted({fold(r.city)[:120] for r in adds if r.city})
    cells = set()
    for r in adds:
        if r.latitude is not None and r.longitude is not None:
            for dlat in (-1, 0, 1):
                for dlon in (-1, 0, 1):
                    lat, lon = r.latitude + dlat, r.longitude + dlon
                    if -90 <= lat < 90 and -180 <= lon < 180:
                        cells.add(grid_cell(lat, lon))
    conditions = [Center.postal_code.in_(postal[i:i + CHUNK])
                  for i in range(0, len(postal), CHUNK)]
    conditions += [Center.city_folded.in_(cities[i:i + CHUNK])
                   for i in range(0, len(cities), CHUNK)]
    ordered = sorted(cells)
    conditions += [Center.geo_cell.in_(ordered[i:i + CHUNK])
                   for i in range(0, len(ordered), CHUNK)]
    holding = sa.select(SourceRecord.center_id).where(SourceRecord.source == source)
    found: dict[int, object] = {}
    for condition in conditions:
        for center in session.execute(sa.select(*_COLUMNS).where(
                condition, Center.id.not_in(holding))):
            found[center.id] = center
    return [found[i] for i in sorted(found)]


def _stored_ids(session: so.Session, center_ids: list[int]) -> dict[int, list]:
    """Deterministic identifiers of stored centers, from their records."""
    out: dict[int, list] = defaultdict(list)
    for i in range(0, len(center_ids), CHUNK):
        for center_id, external_id, values in session.execute(
                sa.select(SourceRecord.center_id, SourceRecord.external_id,
                          SourceRecord.values)
                .where(SourceRecord.center_id.in_(center_ids[i:i + CHUNK]),
                       SourceRecord.external_id.is_not(None),
                       SourceRecord.values.contains('"id_kind"'))):
            kind = json.loads(values).get("id_kind")
            if kind:
                out[center_id].append((kind, external_id))
    return out


def link_adds(session: so.Session, adds: list[CenterRecord], source: str,
              id_kind: str | None = None) -> LinkPlan:
    """Which of ``adds`` (new rows of ``source``) join a stored center, and which pairs go
    to review. ``id_kind``: the kind of deterministic id the rows' external ids are
    (``"ccn"``), if any. No writes."""
    plan = LinkPlan()
    if not adds or session.execute(sa.select(Center.id).limit(1)).first() is None:
        return plan
    stored = _candidates(session, adds, source)
    if not stored:
        return plan
    ids = _stored_ids(session, [c.id for c in stored])
    records = [_link_record(f"c{c.id:012d}", STORED, c, ids.get(c.id, ())) for c in stored]
    for i, record in enumerate(adds):
        own = ((id_kind, record.external_id),) if id_kind and record.external_id else ()
        records.append(_link_record(f"n{i:012d}", source, record, own))
    result = link_records(records)

    def pair(link: Link) -> tuple[int, int] | None:
        keys = sorted((link.a, link.b))
        if keys[0][0] == "c" and keys[1][0] == "n":
            return int(keys[1][1:]), int(keys[0][1:])
        return None

    for link in result.links:
        found = pair(link)
        if found is not None:
            plan.attach.append((*found, link))
    attached = {i for i, _, _ in plan.attach}
    for link in result.review:
        found = pair(link)
        if found is not None and found[0] not in attached:
            plan.review.append((*found, link))
    plan.attach.sort(key=lambda t: t[0])
    return plan
