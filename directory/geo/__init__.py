"""Places and distance: the :class:`Place` type and its errors, geodesic distance on WGS-84,
bounding boxes and grid cells, the offline gazetteer and geocoder, the opt-in online geocoder.

No Flask here. Coordinates are WGS-84 decimal degrees, ``(latitude, longitude)``; distances
are kilometres. Modules: ``place`` (types, errors), ``distance`` (geodesic, boxes), ``grid``
(radius-search cells), ``gazetteer`` (building the SQLite place index), ``offline`` (the
default geocoder), ``online`` (Nominatim behind a rate limiter).
"""

from directory.geo.distance import (
    bounding_boxes,
    geodesic_km,
    geodesic_km_from,
    geodesic_km_many,
    geodesic_km_pairs,
)
from directory.geo.gazetteer import FORMAT_VERSION, build_gazetteer
from directory.geo.grid import GRID_CELL_SQL, GRID_COLUMNS, grid_cell, grid_cells
from directory.geo.offline import OfflineGeocoder
from directory.geo.online import OnlineAddressGeocoder, online_geocoder
from directory.geo.place import (
    KM_PER_MILE,
    MAX_QUERY_LENGTH,
    PRECISIONS,
    GeocodingError,
    InvalidQuery,
    Place,
    PlaceNotFound,
    Resolution,
)

__all__ = [
    "FORMAT_VERSION", "GRID_CELL_SQL", "GRID_COLUMNS", "KM_PER_MILE", "MAX_QUERY_LENGTH",
    "PRECISIONS", "GeocodingError", "InvalidQuery", "OfflineGeocoder", "OnlineAddressGeocoder",
    "Place", "PlaceNotFound", "Resolution", "bounding_boxes", "build_gazetteer", "geodesic_km",
    "geodesic_km_from", "geodesic_km_many", "geodesic_km_pairs", "grid_cell", "grid_cells",
    "online_geocoder",
]
