"""What a search answers: :class:`SearchQuery` (the parameters), :class:`SearchPage` of
:class:`CenterHit` (a center with its geodesic distance in km) and the read-only claim and
designation rows a result page shows."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from directory.geo import (
    Place,
)
from directory.models import (
    Center,
)

SORTS = ("best", "distance", "name", "relevance")



class SearchError(ValueError):
    """A search parameter that cannot be used; ``field`` names it (for a 400 response)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SearchQuery:
    """Validated search parameters. ``radius_km`` applies only with ``near``; ``page`` is
    1-based; ``modalities`` are slugs (AND)."""

    q: str | None = None
    near: Place | None = None
    radius_km: float | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    modalities: tuple[str, ...] = ()
    designation: str | None = None
    sort: str | None = None
    page: int = 1
    per_page: int = 20
    include_closed: bool = False
    #: Only these kinds (``CENTER_KINDS`` slugs); empty: every kind but the ones that do not
    #: treat adult cancer (``NON_TREATING_KINDS``), unless ``all_kinds``.
    kinds: tuple[str, ...] = ()
    all_kinds: bool = False

    @property
    def effective_sort(self) -> str:
        """``sort`` if given, else ``best`` with ``near`` (cancer care first, see
        :func:`directory.search.query.care_tier`), ``relevance`` with ``q``, else ``name``."""
        if self.sort:
            return self.sort
        if self.near is not None:
            return "best"
        return "relevance" if self.q else "name"


class ModalityRef(NamedTuple):
    """The part of a :class:`~directory.models.Modality` a result shows."""

    slug: str
    name: str
    position: int


class ClaimView(NamedTuple):
    """A read-only claim (a :class:`~directory.models.CenterModality` row) in a result:
    the same attribute names, so templates and serialisers take either."""

    modality: ModalityRef
    provenance: str
    source: str
    verified_on: dt.date | None
    evidence: str | None = None


class DesignationRef(NamedTuple):
    slug: str
    name: str


class HeldView(NamedTuple):
    """A read-only :class:`~directory.models.CenterDesignation` row in a result."""

    designation: DesignationRef
    source: str
    as_of: dt.date | None


@dataclass
class CenterHit:
    """A center in a result, with its geodesic distance in km (``None`` without ``near``).

    ``modalities`` and ``designations`` are the center's claims and designations:
    :func:`find_centers` fills them with read-only rows (:class:`ClaimView`,
    :class:`HeldView`) loaded for the whole page at once; a hit made from a center alone
    reads the center's own relationships."""

    center: Center
    distance_km: float | None = None
    claims: Sequence[ClaimView] | None = field(default=None, repr=False)
    held: Sequence[HeldView] | None = field(default=None, repr=False)

    @property
    def modalities(self) -> Sequence:
        return self.center.modalities if self.claims is None else self.claims

    @property
    def designations(self) -> Sequence:
        return self.center.designations if self.held is None else self.held


@dataclass
class SearchPage:
    """One page of results: ``items`` in order, ``total`` over all pages, ``facets`` as
    ``{"modality": {slug: count}, "country": {alpha2: count}}``."""

    items: list[CenterHit]
    total: int
    page: int
    per_page: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """Number of pages (0 when there are no results)."""
        return math.ceil(self.total / self.per_page) if self.total else 0

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1
