"""Generate a realistic CSV of centers in the project's import template.

    python bench/generate.py ROWS OUT.csv [--seed 5] [--gazetteer instance/gazetteer.sqlite]

Places are real cities from the offline gazetteer (table ``place``, kind ``city``) drawn with
probability proportional to population**0.9, so centers cluster in big cities as in life;
each center is jittered a few km around its city. ``--ungeocoded`` (default 0.15) of the rows
carry no coordinates, so the importer geocodes them from the city name. Modalities: 1-6
slugs from seeds/modalities.toml, weighted (chemotherapy common, proton therapy rare).
Designations on ~3 % of rows. ~1 % closed. Deterministic for a given seed and row count.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import math
import random
import sqlite3
import sys
import time
import tomllib
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["external_id", "name", "alternate_names", "kind", "address", "city", "region",
           "postal_code", "country", "latitude", "longitude", "phone", "website", "email",
           "modalities", "designations", "status", "description"]

# Relative frequency of each modality slug on a center that offers something.
MODALITY_WEIGHTS = {
    "chemotherapy": 60, "surgery": 45, "radiation-therapy": 30, "external-beam-radiation": 25,
    "immunotherapy": 25, "targeted-therapy": 22, "palliative-care": 30, "biomarker-testing": 18,
    "clinical-trials": 12, "thoracic-surgery": 10, "sbrt": 6, "brachytherapy": 5,
    "metastasectomy": 3, "proton-therapy": 1,
}
SAINTS = ["Mary", "Joseph", "Luke", "John", "Anne", "Vincent", "Francis", "Elizabeth", "Jude",
          "Michael", "Thomas", "Peter", "Catherine", "George", "Clare", "Patrick"]
SURNAMES = ["Anderson", "Sloan", "Hopkins", "Mayo", "Cleveland", "Dana", "Fox", "Moffitt",
            "Roswell", "Huntsman", "Siteman", "Fred", "Kimmel", "Lurie", "Knight", "Winship",
            "Levine", "Baptist", "Mercy", "Providence", "Ascension", "Adventist", "Methodist",
            "Presbyterian", "Charité", "Gustave", "Curie", "Karolinska", "Marsden", "Christie"]
PATTERNS = ["{city} General Hospital", "{city} University Hospital", "St. {saint} Hospital {city}",
            "{surname} Cancer Center", "{surname} Cancer Institute of {city}",
            "{city} Regional Medical Center", "{surname} Oncology Clinic", "{city} Cancer Centre",
            "{surname} Memorial Hospital", "Hôpital {saint} de {city}", "{city} Community Hospital",
            "{surname} Health {city}", "{city} Radiation Oncology Center"]
STREETS = ["Main", "Oak", "Hospital", "Church", "Park", "Station", "Market", "University",
           "Medical", "Lake", "River", "Hill", "King", "Queen", "Victoria", "Garden"]
SUFFIXES = ["Street", "Avenue", "Road", "Boulevard", "Way", "Drive", "Lane"]
KINDS = [("hospital", 70), ("cancer-center", 15), ("clinic", 12), ("childrens", 3)]
DESIGNATIONS = [("acs-coc", 50), ("jci", 30), ("nci-comprehensive", 8), ("nci-clinical", 8),
                ("nci-pediatric", 4)]


def load_places(gazetteer: Path, min_population: int = 1000):
    if not gazetteer.exists():  # a fresh machine: build it as the app would on first use
        sys.path.insert(0, str(ROOT))
        from directory.geo import build_gazetteer
        gazetteer.parent.mkdir(parents=True, exist_ok=True)
        build_gazetteer(gazetteer)
    con = sqlite3.connect(f"file:{gazetteer}?mode=ro", uri=True)
    rows = con.execute("SELECT name, country, region, region_name, lat, lon, population "
                       "FROM place WHERE kind = 'city' AND population >= ? AND country "
                       "IS NOT NULL AND country != 'XK' ORDER BY id", (min_population,)).fetchall()
    con.close()
    cum, total = [], 0.0
    for row in rows:
        total += (row[6] or min_population) ** 0.9
        cum.append(total)
    return rows, cum


def modality_slugs() -> list[str]:
    with open(ROOT / "seeds" / "modalities.toml", "rb") as fh:
        slugs = [m["slug"] for m in tomllib.load(fh)["modality"]]
    return [s for s in slugs if s in MODALITY_WEIGHTS] + \
        [s for s in slugs if s not in MODALITY_WEIGHTS]


def generate(n: int, out, *, seed: int = 5, gazetteer: Path, ungeocoded: float = 0.15) -> None:
    rng = random.Random(seed)
    places, cum = load_places(gazetteer)
    slugs = modality_slugs()
    mweights = [MODALITY_WEIGHTS.get(s, 2) for s in slugs]
    kinds, kweights = zip(*KINDS, strict=True)
    desigs, dweights = zip(*DESIGNATIONS, strict=True)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    total = cum[-1]
    for i in range(1, n + 1):
        name_, country, region, region_name, lat, lon, _pop = places[
            bisect.bisect_left(cum, rng.random() * total)]
        pattern = rng.choice(PATTERNS)
        name = pattern.format(city=name_, saint=rng.choice(SAINTS),
                              surname=rng.choice(SURNAMES))
        if rng.random() < 0.3:  # many real hospitals share a name: make most unique
            name += f" {rng.choice(['North', 'South', 'East', 'West', 'Campus'])} {i % 97 + 1}"
        alternate = ""
        if rng.random() < 0.1:
            alternate = "".join(w[0] for w in name.split() if w[:1].isalpha()).upper()
        if rng.random() < ungeocoded:
            lat_text = lon_text = ""
        else:  # a few km around the city centre (≈ 0.03° ≈ 3 km s.d.)
            dlat = rng.gauss(0, 0.03)
            dlon = rng.gauss(0, 0.03) / max(0.2, math.cos(math.radians(lat)))
            lat_text = f"{max(-89.9, min(89.9, lat + dlat)):.6f}"
            lon_text = f"{((lon + dlon + 180) % 360) - 180:.6f}"
        k = min(6, max(1, int(rng.expovariate(0.45)) + 1))
        chosen = set()
        while len(chosen) < k:
            chosen.add(rng.choices(slugs, mweights)[0])
        designation = ""
        if rng.random() < 0.03:
            designation = rng.choices(desigs, dweights)[0]
            if designation.startswith("nci") and country != "US":
                designation = rng.choice(["acs-coc", "jci"])
        postal = ""  # unknown: a random ZIP would contradict the city
        phone = f"+1 {rng.randrange(201, 989)} {rng.randrange(200, 999)} " \
                f"{rng.randrange(1000, 9999)}" if country in ("US", "CA") else ""
        slug = "".join(ch for ch in unicodedata.normalize("NFKD", name.lower())
                       if ch.isascii() and ch.isalnum())[:30] or f"c{i}"
        status = "closed" if rng.random() < 0.01 else "active"
        writer.writerow([
            f"BENCH-{i:07d}", name, alternate, rng.choices(kinds, kweights)[0],
            f"{rng.randrange(1, 9999)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}",
            name_, region or region_name or "", postal, country, lat_text, lon_text, phone,
            f"https://www.{slug}.example.org", f"info@{slug}.example.org",
            ";".join(sorted(chosen)), designation, status,
            f"{k} oncology services in {name_}." if rng.random() < 0.3 else ""])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rows", type=int)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--ungeocoded", type=float, default=0.15)
    ap.add_argument("--gazetteer", type=Path, default=ROOT / "instance" / "gazetteer.sqlite")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        generate(args.rows, fh, seed=args.seed, gazetteer=args.gazetteer,
                 ungeocoded=args.ungeocoded)
    tmp.replace(args.out)
    print(f"{args.out}: {args.rows} rows in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
