"""The 1-degree grid cells that radius searches use as a coarse index (``Center.geo_cell``)."""

from __future__ import annotations

import math

#: Columns of the 1-degree grid (longitude cells 0..360, so +180 does not wrap onto 0).
GRID_COLUMNS = 361
#: SQL of ``Center.geo_cell`` per dialect; SQLite's CAST truncates, which is the floor for
#: the non-negative ``latitude + 90`` and ``longitude + 180`` of valid coordinates.
GRID_CELL_SQL = {
    "sqlite": "CAST(latitude + 90 AS INTEGER) * 361 + CAST(longitude + 180 AS INTEGER)",
    "postgresql": "CAST(floor(latitude + 90) * 361 + floor(longitude + 180) AS INTEGER)",
}


def grid_cell(lat: float, lon: float) -> int:
    """The 1-degree grid cell of a point, as ``Center.geo_cell`` computes it in SQL:
    ``floor(lat + 90) * 361 + floor(lon + 180)``."""
    return math.floor(lat + 90) * GRID_COLUMNS + math.floor(lon + 180)


def grid_cells(box: tuple[float, float, float, float], limit: int = 64) -> list[int] | None:
    """Every grid cell a box ``(min_lat, max_lat, min_lon, max_lon)`` touches, or ``None``
    when there are more than ``limit`` (then a scan of its latitude rows is as good)."""
    min_lat, max_lat, min_lon, max_lon = box
    rows = range(math.floor(min_lat + 90), math.floor(max_lat + 90) + 1)
    columns = range(math.floor(min_lon + 180), math.floor(max_lon + 180) + 1)
    if len(rows) * len(columns) > limit:
        return None
    return [i * GRID_COLUMNS + j for i in rows for j in columns]

