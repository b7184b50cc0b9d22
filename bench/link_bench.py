"""Record-linkage benchmark on the real source files in ``/work/shared/data``.

Loads CMS Hospital General Information, HIFLD hospitals (open and closed), the NCI-designated
cancer centers and the NHS Choices hospital list (plus, with ``--world``, Wikidata hospitals and
Eurostat GISCO hospitals) into :class:`directory.curation.link.LinkRecord`, runs
:func:`directory.curation.link.link_records` once, and prints stats, wall time, peak RSS, the
CMS->HIFLD linkage rate, the four NCI flagship centers and samples of low-score accepted links and
review pairs for eyeballing false positives.

Usage::

    .venv/bin/python bench/link_bench.py            # CMS + HIFLD + NCI + NHS
    .venv/bin/python bench/link_bench.py --world    # + Wikidata + Eurostat
    .venv/bin/python bench/link_bench.py --data DIR --sample 30

The loaders are plain functions (``load_cms(data_dir) -> list[LinkRecord]`` and so on), also
used by the slow test in ``tests/test_link.py``. Each raises ``FileNotFoundError`` when its file
is missing.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from directory.curation.link import LinkRecord, LinkResult, link_records  # noqa: E402
from directory.importer.fields import resolve_country  # noqa: E402

DATA = Path("/work/shared/data")

US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "DC": "DC", "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}

def _opt(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def load_cms(data: Path = DATA) -> list[LinkRecord]:
    """CMS Hospital General Information: key ``cms:<CCN>``, ids ``(("ccn", CCN),)``, no point."""
    path = data / "cms-hospital-general-information" / "Hospital_General_Information.csv"
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            ccn = row["Facility ID"].strip()
            state = row["State"].strip()
            out.append(LinkRecord(
                key=f"cms:{ccn}", source="cms-hospitals", name=row["Facility Name"],
                address=_opt(row["Address"]), city=_opt(row["City/Town"]),
                region=f"US-{state}" if state else None, postal_code=_opt(row["ZIP Code"]),
                country="US", ids=(("ccn", ccn),)))
    return out


def load_hifld(data: Path = DATA, *, include_closed: bool = True) -> list[LinkRecord]:
    """HIFLD hospitals (utf-8-sig); territories as region ``US-XX``, country ``US``; point
    from LATITUDE/LONGITUDE at precision ``address``. ZIPs are left as given (3-5 digits):
    the linker pads them."""
    path = data / "hifld-hospitals" / "Hospitals.csv"
    out = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            if not include_closed and row["STATUS"] != "OPEN":
                continue
            state = row["STATE"].strip()
            lat, lon = float(row["LATITUDE"]), float(row["LONGITUDE"])
            out.append(LinkRecord(
                key=f"hifld:{row['ID'].strip()}", source="hifld-hospitals", name=row["NAME"],
                address=_opt(row["ADDRESS"]), city=_opt(row["CITY"]),
                region=f"US-{state}" if state else None, postal_code=_opt(row["ZIP"]),
                country="US", latitude=lat, longitude=lon, precision="address"))
    return out


def load_nci(data: Path = DATA) -> list[LinkRecord]:
    """NCI-designated cancer centers: key ``nci:<id>``, mailing ZIP ``Zip_Code``."""
    path = data / "nci-designated-cancer-centers" / "NCI_CancerCenter_Address_fall2024.csv"
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            state = US_STATES.get(row["state"].strip())
            out.append(LinkRecord(
                key=f"nci:{row['id'].strip()}", source="nci-designated", name=row["name"],
                address=_opt(row["Street"]), city=_opt(row["City"]),
                region=f"US-{state}" if state else None, postal_code=_opt(row["Zip_Code"]),
                country="US", latitude=float(row["Latitude"]), longitude=float(row["Longitude"]),
                precision="address"))
    return out


def load_nhs(data: Path = DATA) -> list[LinkRecord]:
    """NHS Choices hospitals (cp1252, ``¬``-delimited, no quoting): key ``nhs:<OrganisationID>``,
    ids ``(("ods", code),)``; street line = Address1 (Address2 when Address1 has no digit and
    Address2 does)."""
    path = data / "nhs-choices-hospitals-uk" / "Hospital.csv"
    out = []
    with open(path, newline="", encoding="cp1252") as fh:
        for row in csv.DictReader(fh, delimiter="¬", quoting=csv.QUOTE_NONE):
            lat, lon = _opt(row["Latitude"]), _opt(row["Longitude"])
            street = _opt(row["Address1"])
            a2 = _opt(row["Address2"])
            if a2 and not any(c.isdigit() for c in street or "") and any(c.isdigit() for c in a2):
                street = a2
            code = row["OrganisationCode"].strip()
            out.append(LinkRecord(
                key=f"nhs:{row['OrganisationID'].strip()}", source="nhs-choices",
                name=row["OrganisationName"], address=street, city=_opt(row["City"]),
                postal_code=_opt(row["Postcode"]), country="GB",
                latitude=float(lat) if lat else None, longitude=float(lon) if lon else None,
                precision="address" if lat else None,
                ids=(("ods", code),) if code else ()))
    return out


def load_wikidata(data: Path = DATA) -> list[LinkRecord]:
    """Wikidata hospitals TSV (QUOTE_NONE), one record per QID (first row wins); labels that
    are a bare QID give an empty name; WKT ``Point(lon lat)``; precision None (unknown)."""
    path = data / "wikidata-hospitals-world" / "hospital.001.wikidata.tsv"
    out, seen = [], set()
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            qid = row["item"].rsplit("/", 1)[-1]
            if qid in seen:
                continue
            seen.add(qid)
            geo = row["geo"].strip()
            lat = lon = None
            if geo.startswith("Point(") and geo.endswith(")"):
                lon_s, lat_s = geo[6:-1].split()
                lon, lat = float(lon_s), float(lat_s)
            label = row["itemLabel"].strip()
            out.append(LinkRecord(
                key=f"wikidata:{qid}", source="wikidata", name="" if label == qid else label,
                country=resolve_country(row["countryLabel"]),
                latitude=lat, longitude=lon, ids=(("wikidata", qid),)))
    return out


def load_eurostat(data: Path = DATA) -> list[LinkRecord]:
    """Eurostat GISCO hospitals: key ``eurostat:<id>`` (``#2``... for repeated ids); address
    ``<house_number> <street>``; ``EL`` -> ``GR``; geo_qual 1 -> rooftop, 2 -> address,
    3 -> city, -1 -> None (unknown)."""
    path = data / "eurostat-gisco-healthcare" / "all.csv"
    quality = {"1": "rooftop", "2": "address", "3": "city"}
    out, seen = [], {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rid = row["id"].strip()
            seen[rid] = seen.get(rid, 0) + 1
            key = f"eurostat:{rid}" + (f"#{seen[rid]}" if seen[rid] > 1 else "")
            try:
                lat, lon = float(row["lat"]), float(row["lon"])
            except ValueError:
                lat = lon = None
            street = " ".join(p for p in (row["house_number"].strip(), row["street"].strip()) if p)
            cc = row["cc"].strip()
            names = [n for n in (row["hospital_name"].strip(), row["site_name"].strip()) if n]
            out.append(LinkRecord(
                key=key, source="eurostat-gisco", name=names[0] if names else "",
                alternate_names=tuple(names[1:]), address=street or None,
                city=_opt(row["city"]), postal_code=_opt(row["postcode"]),
                country={"EL": "GR", "UK": "GB"}.get(cc, cc) or None,
                latitude=lat, longitude=lon,
                precision=quality.get(row["geo_qual"].strip()) if lat is not None else None))
    return out


def load_all(data: Path = DATA, *, world: bool = False) -> list[LinkRecord]:
    """CMS + HIFLD (open and closed) + NCI + NHS, and Wikidata + Eurostat when ``world``."""
    records = load_cms(data) + load_hifld(data) + load_nci(data) + load_nhs(data)
    if world:
        records += load_wikidata(data) + load_eurostat(data)
    return records


FLAGSHIPS = {  # NCI id -> expected HIFLD name
    "nci:59": "UNIVERSITY OF TEXAS M.D. ANDERSON CANCER CENTER",
    "nci:39": "MEMORIAL HOSPITAL FOR CANCER AND ALLIED DISEASES",
    "nci:26": "DANA - FARBER CANCER INSTITUTE",
    "nci:14": "H LEE MOFFITT CANCER CENTER AND RESEARCH INSTITUTE HOSPITAL",
}


def cms_hifld_rate(result: LinkResult) -> tuple[int, int]:
    """(CMS records whose cluster holds a HIFLD record, CMS records)."""
    linked = total = 0
    for cluster in result.clusters:
        n_cms = sum(k.startswith("cms:") for k in cluster)
        total += n_cms
        if n_cms and any(k.startswith("hifld:") for k in cluster):
            linked += n_cms
    return linked, total


def flagship_partners(result: LinkResult, by_key: dict[str, LinkRecord]) -> dict[str, list[str]]:
    """NCI key -> names of the HIFLD records in its cluster."""
    where = {k: c for c in result.clusters for k in c}
    return {nci: [by_key[k].name for k in where.get(nci, []) if k.startswith("hifld:")]
            for nci in FLAGSHIPS}


def _describe(link, by_key: dict[str, LinkRecord]) -> str:
    def one(key: str) -> str:
        r = by_key[key]
        return f"{key} {r.name!r} [{r.address or ''}, {r.city or ''} {r.postal_code or ''}]"
    return (f"{link.score:.3f} {link.rule:13s} {one(link.a)}\n      <-> {one(link.b)}\n"
            f"      {link.reason}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--world", action="store_true", help="add Wikidata and Eurostat")
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dump", type=Path, help="write every non-key link and review pair here")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    records = load_all(args.data, world=args.world)
    t1 = time.perf_counter()
    result = link_records(records)
    t2 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    by_key = {r.key: r for r in records}

    print(f"loaded {len(records)} records in {t1 - t0:.2f} s; linked in {t2 - t1:.2f} s; "
          f"peak RSS {rss_mb:.0f} MB")
    for k, v in result.stats().items():
        print(f"  {k}: {v}")
    linked, total = cms_hifld_rate(result)
    print(f"CMS linked to HIFLD: {linked}/{total} = {100 * linked / max(total, 1):.1f} %")
    for nci, names in flagship_partners(result, by_key).items():
        print(f"  {nci} {by_key[nci].name!r} -> {names}")

    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as fh:
            for kind, items in (("link", result.links), ("review", result.review)):
                for link in sorted(items, key=lambda lk: (lk.score, lk.a, lk.b)):
                    if not link.rule.startswith(("key:", "existing")):
                        fh.write(f"{kind} " + _describe(link, by_key) + "\n")
    rng = random.Random(args.seed)
    non_key = sorted((lk for lk in result.links if not lk.rule.startswith(("key:", "existing"))),
                     key=lambda lk: (lk.score, lk.a, lk.b))
    low = non_key[: args.sample * 5]
    print(f"\n{args.sample} of the {len(low)} lowest-score accepted non-key links (random sample):")
    for link in sorted(rng.sample(low, min(args.sample, len(low))), key=lambda lk: lk.score):
        print(_describe(link, by_key))
    print(f"\n{args.sample} of {len(result.review)} review pairs (random sample):")
    for link in sorted(rng.sample(result.review, min(args.sample, len(result.review))),
                       key=lambda lk: -lk.score):
        print(_describe(link, by_key))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
