"""Place names as people misspell them: "Huston" -> Houston, "Springfeld" -> Springfield
(offline, over the gazetteer's towns and cities; rapidfuzz for the string similarity)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rapidfuzz import fuzz, process

from directory.text import fold

#: Only places at least this populous are offered for a misspelt name.
FUZZY_MIN_POPULATION = 15_000
#: How alike (rapidfuzz ratio, 0-100) a name must be to be offered.
FUZZY_CUTOFF = 80


class NamedPlaces:
    """The folded names of the gazetteer rows ``rows`` (made into places by ``make``,
    which takes the row's columns and ``main=True``), for :func:`similar_names`."""

    def __init__(self, rows: Iterable[tuple], make: Callable[..., object]):
        self.places = [make(*row, main=True) for row in rows]
        self.names = [fold(place.name) for place in self.places]


def similar_names(named: NamedPlaces, text: str, limit: int = 5) -> list:
    """Up to ``limit`` places of ``named`` whose folded name is at least
    :data:`FUZZY_CUTOFF` alike to the folded ``text`` (the part before a comma), best
    first and, at equal likeness, most populous first; a place name only once."""
    name = fold(text.split(",", 1)[0])
    if len(name) < 3:
        return []
    found = process.extract(name, named.names, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF,
                            limit=limit * 10)
    ranked = sorted(found, key=lambda hit: (-round(hit[1]),
                                            -(named.places[hit[2]].population or 0)))
    out, seen = [], set()
    for _name, _score, index in ranked:
        place = named.places[index]
        key = (place.name, place.country, getattr(place, "admin1", None))
        if key not in seen and fold(place.name) != name:
            seen.add(key)
            out.append(place)
        if len(out) == limit:
            break
    return out
