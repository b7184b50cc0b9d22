"""The importer reads a file's rows one at a time (never the whole table at once): the same
rows, issues and rejected-row cells as before, whatever the encoding, the line endings, or
the step that rejected a row; and the forked city-lookup helper changes no result."""

from __future__ import annotations

import csv
import io
import multiprocessing
import os

import pytest

from directory.importer.formats import RawRecord
from directory.importer.prefetch import CityPrefetch
from directory.importer.read import _first_lines, _head_text, read_table, stream_table
from directory.importer.validate import Validator
from directory.vocabulary import load_vocabulary

TEXT = ('name;address;city\r\n'
        '"Example; North";"Building 2\nMain St";Boston\r\n'
        '\r\n'
        'São Paulo Clínica;12 Elm;São Paulo\r'
        'Kōln Klinik ’A’;Ring 1;Köln\n'
        ';;\n'
        'Last;x;y')


def _rows(rows):
    return [(r.line, r.end_line, r.cells, r.too_long) for r in rows]


@pytest.mark.parametrize("source", [TEXT, TEXT.encode("utf-8"),
                                    b"\xef\xbb\xbf" + TEXT.encode("utf-8")],
                         ids=["text", "utf-8", "utf-8-bom"])
def test_stream_table_reads_the_rows_read_table_keeps(source):
    expected = read_table(TEXT)
    stream = stream_table(source)
    assert stream.header == ["name", "address", "city"] and stream.delimiter == ";"
    assert _rows(stream.rows) == _rows(expected.rows)
    assert [r.line for r in expected.rows] == [2, 5, 6, 8]


def test_delimiter_sniffed_from_the_first_lines_only_of_a_long_text():
    lines = ["name|city"] + ["x" * 30_000 + "|y"] * 3 + ["a,b,c,d,e|f"] * 40
    text = "\n".join(lines) + "\n"
    assert _first_lines(text, 20) == text.splitlines()[:20]
    assert _head_text(text.encode()).splitlines()[:20] == text.splitlines()[:20]
    assert _head_text(b"\xef\xbb\xbf" + "é,b\n".encode()) == "é,b\n"
    assert stream_table(text).delimiter == stream_table(text.encode()).delimiter == "|"


def test_validator_shares_repeated_values_between_records():
    validator = Validator(load_vocabulary(), source="test")
    columns = {k: k for k in ("name", "city", "country", "modalities", "designations",
                              "alternate_names")}

    def record(line, **values):
        raw = RawRecord(line, {"city": "Boston", "country": "US",
                               "modalities": "chemotherapy; surgery", **values}, columns)
        rec, issues = validator.validate(raw)
        assert rec is not None, issues
        return rec

    first, second = record(2, name="A"), record(3, name="B", alternate_names="AA, BB")
    third = record(4, name="C", designations="nci-comprehensive", alternate_names="AA;BB")
    assert first.modalities is second.modalities
    assert [m.slug for m in first.modalities] == ["chemotherapy", "surgery"]
    assert first.city is second.city and first.alternate_names == ()
    assert second.alternate_names == ("AA", "BB") and second.alternate_names is \
        third.alternate_names
    assert third.designations == ("nci-comprehensive",)
    inferred = [m for m in third.modalities if m.provenance == "inferred"]
    assert inferred and len(third.modalities) > len(first.modalities)
    assert [m.slug for m in first.modalities] == ["chemotherapy", "surgery"]  # unchanged


SWAPPED = "Example Cancer Institute,Boston,MA,02115,US,-71.0589,42.3601"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_rejected_rows_hold_the_cells_of_rows_rejected_in_any_step(import_file, encoding):
    text = ("name,city,state,zip,country,latitude,longitude\n"
            f"{SWAPPED}\n"                                            # 2: geocoding check
            ",Cleveland,OH,44195,US,41.5025,-81.6214\n"                # 3: validation
            "Clinique Médicale,Cleveland,OH,44195,US,41.5025,-81.6214\n"
            "Too Many,Boston,MA,02115,US,,,extra\n"                    # 5: row shape
            "Second Café,Boston,MA,02115,US,-71.0589,42.3601\n")       # 6: geocoding check
    result = import_file(text.encode(encoding), commit=False)
    assert result.encoding == encoding
    assert list(result.rejected_rows) == [2, 3, 5, 6]
    assert result.rejected_rows[2] == SWAPPED.split(",")
    assert result.rejected_rows[3][:2] == ["", "Cleveland"]
    assert result.rejected_rows[5][-1] == "extra"
    assert result.rejected_rows[6][0] == "Second Café"
    assert result.rows == 5 and result.rejected == 4 and result.added == 1
    rows = list(csv.reader(io.StringIO(result.rejected_csv())))
    assert [r[7] for r in rows[1:]] == ["2", "3", "5", "6"]
    assert "possibly swapped" in rows[1][8] and "name is required" in rows[2][8]


def _big_file(rows: int) -> bytes:
    places = [("Boston", "MA", "US", "42.3601", "-71.0589"), ("Cleveland", "OH", "US", "", ""),
              ("London", "", "GB", "51.5072", "-0.1276"), ("Paris", "", "FR", "", ""),
              ("Nowhereville Xq", "", "US", "", ""), ("Boston", "MA", "US", "-71.0589",
                                                       "42.3601"),
              ("Lyon", "", "FR", "45.764", "4.8357")]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_id", "name", "city", "region", "country", "latitude",
                     "longitude", "modalities"])
    for i in range(rows):
        city, region, country, lat, lon = places[i % len(places)]
        writer.writerow([f"ID-{i}", f"Center {i}", f"{city}" if i % 11 else f"{city} {i % 13}",
                         region, country, lat, lon, "chemotherapy" if i % 2 else "surgery"])
    return out.getvalue().encode()


def test_city_helper_process_changes_no_result(import_file, monkeypatch):
    data = _big_file(CityPrefetch.MIN_ROWS + 200)
    used = []
    results = CityPrefetch.results

    def spy(self):
        used.append(True)
        return results(self)

    monkeypatch.setattr(CityPrefetch, "results", spy)
    alone = import_file(data, commit=False, parallel=False)
    assert not used
    helped = import_file(data, commit=False, parallel=True)
    if (os.cpu_count() or 1) >= 2 and "fork" in multiprocessing.get_all_start_methods():
        assert used

    def summary(result):
        return ([(i.line, i.column, i.severity, i.message) for i in result.issues],
                result.rejected_rows, result.rows, result.added,
                [(r.line, r.latitude, r.longitude, r.geocode_precision)
                 for r in result.plan.adds])

    assert summary(helped) == summary(alone)
    assert alone.rejected and any("could not be geocoded" in i.message for i in alone.issues)


@pytest.mark.parametrize("canadian, assumed", [(0, True), (50, False)])
def test_a_file_without_country_is_taken_as_us_only_if_all_of_it_is(import_file, canadian,
                                                                    assumed):
    """Rows are streamed, but the US assumption still looks at every row, not the first
    ones: 550 US states then 50 Canadian provinces (8 %) is not a US file."""
    lines = ["name,city,region,latitude,longitude"]
    lines += [f"Center {i},Austin,TX,30.2,-97.7" for i in range(600 - canadian)]
    lines += [f"Centre {i},Toronto,ON,43.6,-79.3" for i in range(canadian)]
    result = import_file(("\n".join(lines) + "\n").encode(), filename="nocountry.csv",
                         commit=False, dry_run=True)
    warned = any("taken to be US" in i.message for i in result.issues)
    assert warned == assumed, [i.message for i in result.issues][:5]


def test_an_import_into_a_never_seeded_database_keeps_claims_and_designations(
        session, import_file):
    """``flask db upgrade`` then ``import-centers``: the vocabulary rows are written on the
    way instead of every modality and designation being dropped silently."""
    import sqlalchemy as sa

    from directory.models import Center, CenterDesignation, CenterModality, Designation, Modality

    session.execute(sa.delete(Modality))
    session.execute(sa.delete(Designation))
    session.commit()
    import_file(b"name,city,country,latitude,longitude,modalities,designations\n"
                b"Alpha Center,Austin,US,30.2,-97.7,chemotherapy,acs-coc\n")
    assert session.scalar(sa.select(sa.func.count(Center.id))) == 1
    slugs = set(session.scalars(sa.select(Modality.slug).join(CenterModality)))
    assert "chemotherapy" in slugs
    assert session.scalar(sa.select(sa.func.count(CenterDesignation.id))) == 1
