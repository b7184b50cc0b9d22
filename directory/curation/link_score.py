"""Normalisation and pair scoring for :mod:`directory.curation.link` (pure Python + rapidfuzz).

``prepare(record) -> Prepared`` folds one record's name, street line, city and postal code once;
``score_pair(p, q) -> (score, rule, reason) | None`` compares two prepared records. The
thresholds and weights are module constants so tests and the bench can quote them.

Name similarity (0..1): names are folded (NFKD, accents and apostrophes dropped, ``&`` -> and,
punctuation -> space, runs of single letters joined so ``M. D.`` == ``MD``), abbreviations
canonicalised (saint -> st, centre/ctr -> center, hosp -> hospital, ...), stop words dropped
(the, of, and, inc, llc, de, la, ...). The *core* of a name drops generic words as well
(hospital, medical, center, health, system, clinic, campus, ...). Similarity is the mean of
``token_sort_ratio`` and ``token_set_ratio`` on the cores (``token_sort_ratio`` on the whole
names when a core is empty), minus ``TYPE_PENALTY`` for each *kind* word (children,
women, rehab, psychiatric, cancer, heart, orthopedic, surgical, specialty, veterans,
north/south/east/west, ...) found in one name only, and once more when both names have a kind
word the other lacks (surgical vs specialty). Alternate names count: the best pair wins.

Street lines: the part before the first comma that is not a PO box; tokens before the first
number are dropped (building names); the house number is the digits of the first numeric token
(``one``..``ten`` at the start count); the street runs up to a unit marker (suite, bldg, floor,
room, ...) or a number that follows a street-type word. Street words are canonicalised (street
-> st, avenue -> ave, north -> n, first -> 1st, ...).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

LINK_THRESHOLD = 0.80    # score >= this: link (subject to one record per source per cluster)
REVIEW_THRESHOLD = 0.60  # REVIEW_THRESHOLD <= score < LINK_THRESHOLD: review, never merged
TYPE_PENALTY = 0.15      # per kind word (children, rehab, south, ...) present in one name only
NEAR_M = 150.0           # points this close: full location weight for point+name
FAR_WEIGHT = 0.75        # point+name location weight at FAR_M (linear from NEAR_M)
FAR_M = 2000.0           # precise points farther apart than this never link
CAMPUS_M = 1000.0        # different house numbers and farther apart than this: two campuses
CENTROID_FAR_M = 30000.0  # a centroid point this far from the other point: not the same site
GEO_CELL_M = 1500.0      # geo blocking cell; pairs beyond it are not found by the grid

_WORD = re.compile(r"[\W_]+")
_TRANS = str.maketrans({"&": " and ", "'": "", "\u2019": "", "`": "", "\u00b4": "",
                        "ß": "ss", "æ": "ae", "ø": "o", "đ": "d", "ł": "l", "œ": "oe"})

NAME_SYNONYMS = {
    "saint": "st", "sainte": "ste", "mount": "mt", "fort": "ft",
    "centre": "center", "centres": "center", "centers": "center", "ctr": "center",
    "cntr": "center", "hosp": "hospital", "hospitals": "hospital", "hosptial": "hospital",
    "med": "medical", "univ": "university", "regl": "regional", "rgnl": "regional",
    "mem": "memorial", "hlth": "health", "sys": "system", "systems": "system",
    "inst": "institute", "childrens": "children", "womens": "women", "hopital": "hospital",
    "hospitalier": "hospital", "ospedale": "hospital", "hospitalario": "hospital",
    "krankenhaus": "hospital", "klinikum": "hospital", "ziekenhuis": "hospital",
    "sykehus": "hospital", "szpital": "hospital", "nemocnice": "hospital",
}
STOP_WORDS = frozenset(
    "the of and at for in a an inc llc lp llp ltd corp corporation pc pllc dba "
    "gmbh ggmbh mbh ag sa spa srl sl as nv bv ev kg epe "
    "de la le les du des del y el der die das und fur di da do dos d l".split())
GENERIC_WORDS = frozenset(
    "hospital medical center health healthcare system clinic clinics campus facility "
    "services service institute nhs trust foundation care".split())
KIND_WORDS = {
    "children": "children", "child": "children", "pediatric": "children",
    "paediatric": "children", "pediatrics": "children", "kids": "children",
    "women": "women", "maternity": "women", "obstetric": "women",
    "rehabilitation": "rehab", "rehab": "rehab", "rehabilitative": "rehab",
    "psychiatric": "psych", "psychiatry": "psych", "behavioral": "psych",
    "behavioural": "psych", "mental": "psych", "psych": "psych",
    "cancer": "cancer", "oncology": "cancer", "heart": "heart", "cardiac": "heart",
    "orthopedic": "ortho", "orthopaedic": "ortho", "orthopedics": "ortho",
    "surgical": "surgical", "surgery": "surgical", "specialty": "specialty",
    "speciality": "specialty", "veterans": "va", "va": "va", "eye": "eye",
    "north": "north", "south": "south", "east": "east", "west": "west",
    "northeast": "northeast", "northwest": "northwest", "southeast": "southeast",
    "southwest": "southwest", "downtown": "downtown",
}
STREET_SYNONYMS = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "road": "rd", "drive": "dr",
    "boulevard": "blvd", "lane": "ln", "highway": "hwy", "hiway": "hwy", "parkway": "pkwy",
    "pky": "pkwy", "place": "pl", "court": "ct", "circle": "cir", "square": "sq",
    "terrace": "ter", "trail": "trl", "expressway": "expy", "freeway": "fwy",
    "turnpike": "tpke", "route": "rte", "rt": "rte", "north": "n", "south": "s", "east": "e",
    "west": "w", "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
    "sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
    "eleventh": "11th", "twelfth": "12th", "thirteenth": "13th", "fourteenth": "14th",
    "fifteenth": "15th", "sixteenth": "16th", "seventeenth": "17th", "eighteenth": "18th",
    "nineteenth": "19th", "twentieth": "20th",
    "saint": "st", "mount": "mt", "fort": "ft", "center": "ctr", "centre": "ctr",
    "plaza": "plz", "pike": "pike", "way": "way", "causeway": "cswy", "med": "medical",
}
DIRECTIONS = frozenset("n s e w ne nw se sw".split())
STREET_TYPES = frozenset(
    "st ave rd dr blvd ln hwy pkwy pl ct cir sq ter trl expy fwy tpke rte way pike plz".split())
ROUTE_WORDS = frozenset("hwy rte fwy expy tpke interstate fm cr sr".split())
STREET_NOISE = frozenset("us state county".split())  # "us hwy 80" == "hwy 80"
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
UNIT_WORDS = frozenset("suite ste bldg building floor fl room rm unit apt po box".split())
NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
CITY_SYNONYMS = {"saint": "st", "sainte": "ste", "mount": "mt", "fort": "ft"}


def fold_tokens(text: str | None, join_letters: bool = True) -> list[str]:
    """Lower-case tokens of ``text``: accents and apostrophes dropped, ``&`` -> and, other
    punctuation splits; with ``join_letters`` runs of single letters are joined
    (``m d`` -> ``md``)."""
    if not text:
        return []
    text = text.lower().translate(_TRANS)
    if not text.isascii():  # (NFKD changes nothing in ASCII, which has no combining marks)
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    if not join_letters:
        return [t for t in _WORD.split(text) if t]
    out: list[str] = []
    run = ""
    for tok in _WORD.split(text):
        if len(tok) == 1 and tok.isalpha():
            run += tok
            continue
        if run:
            out.append(run)
            run = ""
        if tok:
            out.append(tok)
    if run:
        out.append(run)
    return out


def normalize_postal(code: str | None, country: str | None) -> str | None:
    """US (or unknown country) ZIP -> 5 digits: ``2115`` -> ``02115``, ``77030-1234`` ->
    ``77030``; other countries: upper case without spaces (``WV1 4PW`` -> ``WV14PW``).
    Returns None for an empty code."""
    if not code:
        return None
    s = "".join(code.split()).upper()
    if country in (None, "US"):
        head = s.split("-", 1)[0]
        if head.isdigit() and 3 <= len(head) <= 5:
            return head.zfill(5)
        if head.isdigit() and len(head) == 9:
            return head[:5]
    return s or None


def normalize_city(city: str | None) -> str | None:
    """Folded city with saint/mount/fort abbreviated (``Saint Louis`` == ``ST. LOUIS``)."""
    toks = [CITY_SYNONYMS.get(t, t) for t in fold_tokens(city)]
    return " ".join(toks) or None


def name_forms(name: str) -> tuple[str, str, frozenset[str], frozenset[str]]:
    """(full, core, core token set, kind-word set) of one name; full and core are
    space-joined canonical tokens, core without generic words."""
    toks = [NAME_SYNONYMS.get(t, t) for t in fold_tokens(name)]
    toks = [t for t in toks if t not in STOP_WORDS]
    core = [t for t in toks if t not in GENERIC_WORDS]
    kinds = frozenset(KIND_WORDS[t] for t in toks if t in KIND_WORDS)
    return " ".join(toks), " ".join(core), frozenset(core), kinds


def _join_street_letters(toks: list[str]) -> list[str]:
    """``u s`` -> ``us``, ``s w`` -> ``sw`` (other single letters stay: ``w i st``)."""
    out: list[str] = []
    for t in toks:
        if out and ((out[-1], t) == ("u", "s")
                    or (out[-1] in ("n", "s") and t in ("e", "w"))):
            out[-1] += t
        else:
            out.append(t)
    return out


def parse_street(address: str | None) -> tuple[str | None, str | None]:
    """(house number or None, canonical street or None) of a street line. A house number
    keeps a hyphenated second part as ``39x000``."""
    if not address:
        return None, None
    for part in address.split(","):
        toks = fold_tokens(re.sub(r"(?<=\d)-(?=\d)", "x", part), join_letters=False)
        if toks and not (toks[0] in ("po", "pobox", "box") or toks[:2] == ["p", "o"]):
            break
    else:
        return None, None
    toks = [STREET_SYNONYMS.get(t, t) for t in _join_street_letters(toks)]
    if toks[0] in NUMBER_WORDS:
        toks[0] = NUMBER_WORDS[toks[0]]
    start = next((i for i, t in enumerate(toks) if t[0].isdigit()), None)
    house = None
    if start is not None:
        digits = re.match(r"\d+(?:x\d+)?", toks[start])
        house = digits.group(0) if digits else None
        toks = toks[start + 1:]
    street: list[str] = []
    for t in toks:
        if t in UNIT_WORDS or (t[0].isdigit() and street and street[-1] in STREET_TYPES
                               and street[-1] not in ROUTE_WORDS):
            break
        street.append(t)
    return house, (" ".join(street) or None)


def same_house(h1: str, h2: str) -> bool:
    """House numbers agree: equal, equal without the hyphen (``39-000`` == ``39000``), or
    the same first part of a range (``202-206`` == ``202``)."""
    return h1 == h2 or h1.replace("x", "") == h2.replace("x", "") \
        or h1.split("x")[0] == h2.split("x")[0]


@dataclass(slots=True)
class Prepared:
    """One record folded for scoring; ``names`` holds ``name_forms`` of name + alternates."""
    index: int
    key: str
    source: str
    names: list[tuple[str, str, frozenset[str], frozenset[str]]]
    house: str | None
    street: str | None
    city: str | None
    region: str | None
    postal: str | None
    country: str | None
    lat: float | None
    lon: float | None
    precise: bool          # has a point not at postal_code/city precision
    block_tokens: frozenset[str]


def prepare(index: int, rec: Any) -> Prepared:
    """Fold a ``LinkRecord``-like object (attributes as in ``LinkRecord``)."""
    names = [name_forms(n) for n in (rec.name, *rec.alternate_names) if n and n.strip()]
    names = [n for n in names if n[0]]
    house, street = parse_street(rec.address)
    city = normalize_city(rec.city)
    has_point = (rec.latitude is not None and rec.longitude is not None
                 and math.isfinite(rec.latitude) and math.isfinite(rec.longitude)
                 and abs(rec.latitude) <= 90 and abs(rec.longitude) <= 180)
    city_toks = set(city.split()) if city else set()
    block = frozenset(t for n in names for t in n[2]
                      if len(t) >= 3 and t not in city_toks and t not in KIND_WORDS
                      and not t.isdigit())
    if not block:  # e.g. "HUNTINGTON VA MEDICAL CENTER" in Huntington
        block = frozenset(t for n in names for t in n[2] if len(t) >= 2)
    return Prepared(
        index=index, key=rec.key, source=rec.source, names=names, house=house, street=street,
        city=city, region=(rec.region or None), postal=normalize_postal(rec.postal_code,
                                                                       rec.country),
        country=(rec.country or None), lat=rec.latitude if has_point else None,
        lon=rec.longitude if has_point else None,
        precise=has_point and rec.precision not in ("postal_code", "city"),
        block_tokens=block)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (spherical Earth, R = 6,371,008.8 m)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))


def name_similarity(p: Prepared, q: Prepared) -> float:
    """Best similarity (0..1) over the two records' names, kind-word penalty applied."""
    best = 0.0
    for full1, core1, _, kinds1 in p.names:
        for full2, core2, _, kinds2 in q.names:
            if core1 and core2:
                s = (fuzz.token_sort_ratio(core1, core2) + fuzz.token_set_ratio(core1, core2)) / 2
            else:
                s = fuzz.token_sort_ratio(full1, full2)
            s = s / 100 - TYPE_PENALTY * len(kinds1 ^ kinds2)
            if kinds1 - kinds2 and kinds2 - kinds1:  # surgical vs specialty, north vs south
                s -= TYPE_PENALTY
            best = max(best, s)
    return max(0.0, best)


def _street_core(street: str) -> str:
    core = [_ORDINAL.sub(r"\1", t) for t in street.split()
            if t not in STREET_TYPES and t not in DIRECTIONS and t not in STREET_NOISE]
    return " ".join(core) or street


def address_match(p: Prepared, q: Prepared) -> str | None:
    """'same' (house numbers equal or both absent, streets alike), 'street' (same street,
    one house number missing), 'conflict' (house numbers differ, or equal on different
    streets) or None (not comparable). Streets are alike when equal, or their cores (without
    street types, directions and us/state/county; ordinals as bare numbers, ``162nd`` ==
    ``162``) have ``token_sort_ratio`` >= 85 or ``token_set_ratio`` >= 95."""
    if not p.street or not q.street:
        return None
    alike = p.street == q.street
    if not alike:
        c1, c2 = _street_core(p.street), _street_core(q.street)
        alike = fuzz.token_sort_ratio(c1, c2) >= 85 or fuzz.token_set_ratio(c1, c2) >= 95
    if p.house and q.house:
        return "same" if alike and same_house(p.house, q.house) else "conflict"
    if not p.house and not q.house:
        return "same" if alike else None
    return "street" if alike else None


def score_pair(p: Prepared, q: Prepared) -> tuple[float, str, str] | None:
    """Score two records of different sources: ``(score 0..1, rule, reason)``, or None when
    they cannot be one site (other country or region, precise points > FAR_M apart, different
    house numbers and > CAMPUS_M apart, a centroid > CENTROID_FAR_M away) or share no location
    evidence (postal code, city, or points within FAR_M).

    Rules (the best applies): ``address+name`` = same street address and same postal code or
    city (or points within 1 km): 0.55 + 0.45 * name; ``point+name`` = precise points within
    FAR_M: name * (1 - 0.25 * (d - NEAR_M) / (FAR_M - NEAR_M)), full weight up to NEAR_M;
    ``name+postal`` / ``name+city`` (only when the address rule does not apply): name - 0.10
    when the street addresses conflict, - 0.04 when they cannot be compared, - 0.02 on the
    same street with one house number missing.
    """
    if p.country and q.country and p.country != q.country:
        return None
    if p.region and q.region and p.region != q.region:
        return None
    dist = None
    if p.lat is not None and q.lat is not None:
        dist = haversine_m(p.lat, p.lon, q.lat, q.lon)  # type: ignore[arg-type]
        if p.precise and q.precise:
            if dist > FAR_M:
                return None
        elif dist > CENTROID_FAR_M:
            return None
    precise_dist = dist if p.precise and q.precise else None
    same_postal = p.postal is not None and p.postal == q.postal
    same_city = p.city is not None and p.city == q.city
    if not (same_postal or same_city or precise_dist is not None):
        return None
    addr = address_match(p, q)
    if addr == "conflict" and precise_dist is not None and precise_dist > CAMPUS_M:
        return None
    ns = name_similarity(p, q)
    where = (f"postal code {p.postal}" if same_postal else f"city {p.city}" if same_city
             else "")
    best: tuple[float, str, str] = (0.0, "", "")
    if addr == "same" and (same_postal or same_city
                           or (precise_dist is not None and precise_dist <= CAMPUS_M)):
        best = max(best, (0.55 + 0.45 * ns, "address+name",
                          f"same street address {p.house or ''} {p.street}"
                          + (f" and {where}" if where else "")))
    if precise_dist is not None:
        f = 1.0 - (1.0 - FAR_WEIGHT) * max(0.0, precise_dist - NEAR_M) / (FAR_M - NEAR_M)
        best = max(best, (ns * f, "point+name", "points close"))
    if (same_postal or same_city) and best[1] != "address+name":
        penalty = {"conflict": 0.10, None: 0.04, "street": 0.02, "same": 0.0}[addr]
        best = max(best, (ns - penalty, "name+postal" if same_postal else "name+city",
                          f"same {where}"
                          + {"conflict": "; different street addresses", None: "",
                             "street": "; same street", "same": ""}[addr]))
    score, rule, why = best
    if not rule:
        return None
    why += f"; name similarity {ns:.2f}"
    if dist is not None:
        why += f"; {dist:.0f} m apart" + ("" if precise_dist is not None else " (centroid)")
    return round(max(0.0, min(1.0, score)), 4), rule, why
