"""Record linkage: which source records (CMS, HIFLD, NCI, NHS, Wikidata, Eurostat, ...) describe
one physical site. Pure Python + rapidfuzz: no Flask, no SQLAlchemy, no database.

``link_records(records, existing=..., forbidden=...) -> LinkResult`` groups
:class:`LinkRecord` into clusters, one cluster per physical site. Scoring lives in
:mod:`directory.curation.link_score` (normalisation, name/address/distance evidence, the
thresholds ``LINK_THRESHOLD`` = 0.80 and ``REVIEW_THRESHOLD`` = 0.60).

Rules, in the order they are applied:

0. ``forbidden`` pairs (an editor's unmerge, or a review rejection) are never put into one
   cluster, by any rule, directly or through other records; they never appear in review.
   ``existing`` pairs (an editor's merge) are accepted first (rule ``existing``, score 1.0)
   unless forbidden.
1. Deterministic keys: records sharing an ``ids`` entry (same kind and value, e.g.
   ``("ccn", "450076")`` or ``("wikidata", "Q1525831")``) are linked (rule ``key:<kind>``,
   score 1.0), also within one source.
2. Candidate pairs come from blocking, never all pairs, and only between *different* sources
   (two records of one source are two sites by that source's own definition): same normalised
   postal code (US ZIPs left-padded to 5 digits, ZIP+4 cut) in one country; same geo cell of
   ``GEO_CELL_M`` = 1.5 km (with the 8 neighbouring cells) when both have a precise point
   (precision not ``postal_code``/``city``); same distinctive folded name token in the same
   city, region and country (blocks of more than ``MAX_BLOCK`` records are skipped as too
   common); same house number in the same city, region and country.
3. Each candidate pair is scored 0..1 from rapidfuzz name similarity, street address (house
   numbers must agree), postal code / city and haversine distance; see
   :func:`directory.curation.link_score.score_pair` for the rules ``address+name``,
   ``point+name``, ``name+postal`` and ``name+city``. Other country or region, precise points
   more than 2 km apart, or different house numbers more than 1 km apart: never linked.
4. score >= 0.80: link candidate; 0.60 <= score < 0.80: review (never merged); lower: dropped.
5. One record per source per cluster: link candidates are accepted greedily, first those
   whose location is corroborated (``address+name``, ``point+name``), then the name-only ones
   (``name+postal``, ``name+city``), each in descending score order (ties by keys), so a record
   links to the record at its own street address rather than to a namesake elsewhere. A
   candidate that would put two records of the same source into one cluster is skipped and
   goes to review. Key and existing links are exempt from this rule.
6. Reproducible: records are processed in key order and every list is sorted, so the same
   inputs in any order give the same clusters, links and review pairs.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from directory.curation.link_score import (
    GEO_CELL_M,
    LINK_THRESHOLD,
    REVIEW_THRESHOLD,
    Prepared,
    haversine_m,
    prepare,
    score_pair,
)

__all__ = ["Link", "LinkRecord", "LinkResult", "link_records", "reuse_prepared",
           "LINK_THRESHOLD", "REVIEW_THRESHOLD"]

LOCATED_RULES = frozenset({"address+name", "point+name"})
MAX_BLOCK = 60  # name-token blocks larger than this are not expanded into pairs


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """One source record to link.

    ``key``: unique id in the caller's world, e.g. ``"cms:450076"`` (source:external id).
    ``source``: source slug, e.g. ``"cms-hospitals"``; records of one source never link by score.
    ``name`` / ``alternate_names``: display names, any case. ``address``: street line.
    ``region``: ISO 3166-2 code like ``"US-TX"``; ``country``: ISO 3166-1 alpha-2.
    ``postal_code``: as given (``"2115"`` and ``"02115-1234"`` both mean US ZIP 02115).
    ``latitude`` / ``longitude``: WGS-84 degrees. ``precision``: ``'rooftop'``, ``'address'``,
    ``'postal_code'``, ``'city'`` or None (unknown, treated as a point); postal_code/city
    points are centroids and only used to rule out pairs more than 30 km apart.
    ``ids``: deterministic identifiers ``((kind, value), ...)``, e.g. ``(("ccn", "450076"),)``.
    """

    key: str
    source: str
    name: str
    alternate_names: tuple[str, ...] = ()
    address: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    precision: str | None = None
    ids: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Link:
    """A scored pair of record keys, ``a < b``. ``rule``: ``existing``, ``key:<kind>``,
    ``address+name``, ``point+name``, ``name+postal`` or ``name+city``. ``score``: 0..1
    (4 decimals). ``reason``: human-readable evidence, e.g. ``"same street address 1515
    holcombe blvd and postal code 77030; name similarity 0.93; 135 m apart"``."""

    a: str
    b: str
    rule: str
    score: float
    reason: str


@dataclass
class LinkResult:
    """``clusters``: lists of keys, every input key in exactly one, keys sorted inside, clusters
    sorted by first key. ``links``: the accepted links (a spanning forest of the clusters),
    sorted by (a, b). ``review``: candidate pairs for an editor, never merged, sorted by
    descending score then keys; pairs that ended up in one cluster anyway are left out."""

    clusters: list[list[str]]
    links: list[Link]
    review: list[Link] = field(default_factory=list)

    def stats(self) -> dict:
        """``{"records": int, "clusters": int, "multi_record_clusters": int, "links": int,
        "links_by_rule": {rule: int}, "review": int, "review_by_rule": {rule: int}}``."""
        def by_rule(links: list[Link]) -> dict[str, int]:
            counts: dict[str, int] = defaultdict(int)
            for link in links:
                counts[link.rule] += 1
            return dict(sorted(counts.items()))

        return {
            "records": sum(len(c) for c in self.clusters),
            "clusters": len(self.clusters),
            "multi_record_clusters": sum(len(c) > 1 for c in self.clusters),
            "links": len(self.links),
            "links_by_rule": by_rule(self.links),
            "review": len(self.review),
            "review_by_rule": by_rule(self.review),
        }


class _Clusters:
    """Union-find over record indices with member lists, source sets and forbidden pairs."""

    def __init__(self, sources: list[str], forbidden: dict[int, set[int]]) -> None:
        self.parent = list(range(len(sources)))
        self.members = [[i] for i in range(len(sources))]
        self.sources = [{s} for s in sources]
        self.forbidden = forbidden

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def check(self, i: int, j: int, one_per_source: bool) -> str:
        """'ok', 'same' (already one cluster), 'source' or 'forbidden'."""
        ri, rj = self.find(i), self.find(j)
        if ri == rj:
            return "same"
        if one_per_source and self.sources[ri] & self.sources[rj]:
            return "source"
        small, other = (ri, rj) if len(self.members[ri]) <= len(self.members[rj]) else (rj, ri)
        for m in self.members[small]:
            for f in self.forbidden.get(m, ()):
                if self.find(f) == other:
                    return "forbidden"
        return "ok"

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if len(self.members[ri]) < len(self.members[rj]):
            ri, rj = rj, ri
        self.parent[rj] = ri
        self.members[ri].extend(self.members[rj])
        self.sources[ri] |= self.sources[rj]
        self.members[rj], self.sources[rj] = [], set()


def _geo_cell(lat: float, lon: float) -> tuple[int, int]:
    row = math.floor(lat * 111_195.0 / GEO_CELL_M)
    return row, _lon_index(row, lon)


def _lon_index(row: int, lon: float) -> int:
    lat = min(89.0, abs((row + 0.5) * GEO_CELL_M / 111_195.0))
    width = GEO_CELL_M / (111_195.0 * max(math.cos(math.radians(lat)), 0.02))
    return math.floor(lon / width)


def candidate_pairs(prepared: list[Prepared]) -> list[tuple[int, int]]:
    """Sorted ``(i, j)`` index pairs, ``i < j``, of records of different sources sharing a
    postal block, a geo cell neighbourhood, a name-token-in-city or a house-number-in-city
    block."""
    blocks: dict[tuple, list[int]] = defaultdict(list)
    grid: dict[tuple[int, int], list[int]] = defaultdict(list)
    for p in prepared:
        if p.postal:
            blocks[("z", p.country, p.postal)].append(p.index)
        if p.city:
            for tok in p.block_tokens:
                blocks[("n", p.country, p.region, p.city, tok)].append(p.index)
            if p.house:
                blocks[("a", p.country, p.region, p.city, p.house)].append(p.index)
        if p.precise:
            grid[_geo_cell(p.lat, p.lon)].append(p.index)  # type: ignore[arg-type]
    pairs: set[tuple[int, int]] = set()
    src = [p.source for p in prepared]

    def add(group_a: list[int], group_b: list[int] | None = None) -> None:
        for x, i in enumerate(group_a):
            for j in (group_a[x + 1:] if group_b is None else group_b):
                if src[i] != src[j]:
                    pairs.add((i, j) if i < j else (j, i))

    for bkey, members in blocks.items():
        if len(members) > 1 and (bkey[0] != "n" or len(members) <= MAX_BLOCK):
            if len({src[i] for i in members}) > 1:
                add(members)
    for (row, col), members in grid.items():
        near = {(row, c) for c in (col - 1, col, col + 1)}
        for m in members:
            for r in (row - 1, row + 1):
                c = _lon_index(r, prepared[m].lon)  # type: ignore[arg-type]
                near.update((r, cc) for cc in (c - 1, c, c + 1))
        add(members)
        for cell in sorted(near):
            other = grid.get(cell)
            if other and cell != (row, col):
                add(members, other)
    return sorted(pairs)


def link_records(records: Iterable[LinkRecord], *, existing: Iterable[tuple[str, str]] = (),
                 forbidden: Iterable[tuple[str, str]] = ()) -> LinkResult:
    """Cluster ``records`` into physical sites (rules in the module docstring).

    ``existing``: key pairs already linked by an editor, kept (unless forbidden).
    ``forbidden``: key pairs that must never share a cluster. Pairs naming an unknown key are
    ignored (the record may be gone). Raises ``ValueError`` on a duplicate record key.
    Runs in O(n + candidate pairs): CMS+HIFLD+NCI+NHS (14.6k records) in about 1 s, with
    Wikidata and Eurostat (58k) in about 4 s on 2 CPUs.
    """
    recs = sorted(records, key=lambda r: r.key)
    for x in range(1, len(recs)):
        if recs[x].key == recs[x - 1].key:
            raise ValueError(f"duplicate record key {recs[x].key!r}")
    index = {r.key: i for i, r in enumerate(recs)}
    keys = [r.key for r in recs]
    forb: dict[int, set[int]] = defaultdict(set)
    forb_pairs: set[tuple[int, int]] = set()
    for a, b in forbidden:
        if a in index and b in index and a != b:
            i, j = sorted((index[a], index[b]))
            forb[i].add(j)
            forb[j].add(i)
            forb_pairs.add((i, j))
    clusters = _Clusters([r.source for r in recs], forb)
    links: list[Link] = []

    def accept(i: int, j: int, rule: str, score: float, reason: str, per_source: bool) -> str:
        verdict = clusters.check(i, j, per_source)
        if verdict == "ok":
            clusters.union(i, j)
            links.append(Link(keys[i], keys[j], rule, score, reason))
        return verdict

    for a, b in sorted({tuple(sorted(p)) for p in existing if p[0] != p[1]}):
        if a in index and b in index:
            accept(index[a], index[b], "existing", 1.0, "linked by an editor", False)

    by_id: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(recs):
        for kind, value in sorted(set(r.ids)):
            if value:
                by_id[(kind, value)].append(i)
    for (kind, value), members in sorted(by_id.items()):
        for j in members[1:]:
            accept(members[0], j, f"key:{kind}", 1.0, f"same {kind} {value}", False)

    prepared = _prepare_all(recs)
    scored: list[tuple[float, int, int, str, str]] = []
    for i, j in candidate_pairs(prepared):
        if (i, j) in forb_pairs:
            continue
        res = score_pair(prepared[i], prepared[j])
        if res is not None and res[0] >= REVIEW_THRESHOLD:
            scored.append((res[0], i, j, res[1], res[2]))
    # location-corroborated links before name-only ones, each by descending score; at equal
    # scores a shared street address first, then the nearer pair (a clinic 56 m from the
    # hospital of its town scored like the hospital itself: the tie went by key)
    def distance(i: int, j: int) -> float:
        a, b = recs[i], recs[j]
        if None in (a.latitude, a.longitude, b.latitude, b.longitude):
            return math.inf
        return haversine_m(a.latitude, a.longitude, b.latitude, b.longitude)

    scored.sort(key=lambda t: (t[3] not in LOCATED_RULES, -t[0], t[3] != "address+name",
                               distance(t[1], t[2]), t[1], t[2]))

    review: list[tuple[float, int, int, str, str]] = []
    for score, i, j, rule, reason in scored:
        if score < LINK_THRESHOLD:
            review.append((score, i, j, rule, reason))
        elif accept(i, j, rule, score, reason, True) == "source":
            review.append((score, i, j, rule,
                           reason + "; not linked: would put two records of one source "
                                    "into one cluster"))

    groups: dict[int, list[str]] = defaultdict(list)
    for i, k in enumerate(keys):
        groups[clusters.find(i)].append(k)
    out_review = [Link(keys[i], keys[j], rule, score, reason)
                  for score, i, j, rule, reason in sorted(review, key=lambda t: (-t[0], t[1], t[2]))
                  if clusters.find(i) != clusters.find(j)]
    return LinkResult(clusters=sorted(sorted(g) for g in groups.values()),
                      links=sorted(links, key=lambda lk: (lk.a, lk.b)), review=out_review)


#: Records folded by earlier calls, by their values (see :func:`reuse_prepared`).
_PREPARED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("prepared",
                                                                        default=None)


@contextlib.contextmanager
def reuse_prepared() -> Iterator[None]:
    """Inside the block, :func:`link_records` folds each distinct record once (name,
    alternate names, address, city, region, postal code, country, point, precision; whatever
    its key, source and ids) and reuses the result in later calls: a run of imports (``flask
    seed``) links the centers stored by one import again in the next ones. The folded records
    are kept until the block ends (about 1 KB each)."""
    token = _PREPARED.set({})
    try:
        yield
    finally:
        _PREPARED.reset(token)


def _prepare_all(recs: list[LinkRecord]) -> list[Prepared]:
    """``prepare(i, recs[i])`` for each record, reusing the folding of :func:`reuse_prepared`."""
    cache = _PREPARED.get()
    if cache is None:
        return [prepare(i, r) for i, r in enumerate(recs)]
    out = []
    for i, r in enumerate(recs):
        values = (r.name, r.alternate_names, r.address, r.city, r.region, r.postal_code,
                  r.country, r.latitude, r.longitude, r.precision)
        p = cache.get(values)
        if p is None:
            p = cache[values] = prepare(i, r)
        else:  # the same folding, under this call's index, key and source
            p = dataclasses.replace(p, index=i, key=r.key, source=r.source)
        out.append(p)
    return out
