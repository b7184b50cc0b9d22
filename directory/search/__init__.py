"""The read side: one search shared by the HTML pages, the JSON API and the exports.

``results`` holds what a search takes and answers (:class:`SearchQuery`,
:class:`SearchPage`, :class:`CenterHit`); ``query`` runs it (:func:`find_centers`: filters,
full-text, relevance, radius by geodesic distance, facets) and loads single centers. No Flask.
"""

from directory.search.nearby import (
    countries_with_treatments,
    country_has_centers,
    nearest_centers,
    nearest_match,
)
from directory.search.query import (
    PG_TSVECTOR,
    data_version,
    find_centers,
    get_center,
    load_hits,
    modality_totals,
    ordered_ids,
    region_codes,
)
from directory.search.results import (
    SORTS,
    CenterHit,
    ClaimView,
    HeldView,
    SearchError,
    SearchPage,
    SearchQuery,
)

__all__ = [
    "PG_TSVECTOR", "SORTS", "CenterHit", "ClaimView", "HeldView", "SearchError", "SearchPage",
    "SearchQuery", "countries_with_treatments", "country_has_centers", "data_version",
    "find_centers", "get_center", "load_hits", "modality_totals", "nearest_centers",
    "nearest_match", "ordered_ids", "region_codes",
]
