"""Unit tests of the importer's pure helpers (no database)."""

from __future__ import annotations

import pytest

from directory.geo import geodesic_km
from directory.importer.claim_formats import pad_ccn
from directory.importer.decode import FileError, decode_bytes
from directory.importer.fields import (
    natural_key,
    normalise_phone,
    normalise_postal_code,
    normalise_website,
    parse_coordinate,
    recase,
    resolve_country,
    resolve_region,
)
from directory.importer.formats import RawRecord, detect_format, get_format
from directory.importer.read import MAX_CELL, read_table, sniff_delimiter
from directory.importer.validate import Validator
from directory.vocabulary import load_vocabulary


@pytest.mark.parametrize("value,expected", [
    ("SOUTHEAST HEALTH MEDICAL CENTER", "Southeast Health Medical Center"),
    ("UAB ST VINCENT'S", "UAB St Vincent's"),
    ("UCSF MEDICAL CENTER", "UCSF Medical Center"),
    ("HOSPITAL OF THE UNIVERSITY OF PENNSYLVANIA", "Hospital of the University of Pennsylvania"),
    ("700 SOUTH 19TH STREET", "700 South 19th Street"),
    ("BIRMINGHAM VA MEDICAL CENTER", "Birmingham VA Medical Center"),
    ("Mixed Case Stays", "Mixed Case Stays"),
    ("", ""),
    ("1234", "1234"),
])
def test_recase(value, expected):
    assert recase(value) == expected


@pytest.mark.parametrize("value,country,expected,warns", [
    ("02115", "US", "02115", False),
    ("2115", "US", "02115", True),
    ("501", "US", "00501", True),
    ("2115.0", "US", "02115", True),
    ("00501", "US", "00501", False),
    ("021151234", "US", "02115-1234", False),
    ("02115-1234", "US", "02115-1234", False),
    ("ABCDE", "US", "ABCDE", True),
    ("2115", "AU", "2115", False),
    ("01310-100", "BR", "01310-100", False),
    ("8091", "CH", "8091", False),
    ("sw1a 1aa", "GB", "SW1A 1AA", False),
    ("", "US", None, False),
])
def test_normalise_postal_code(value, country, expected, warns):
    code, warning = normalise_postal_code(value, country)
    assert code == expected
    assert (warning is not None) is warns
    assert code is None or isinstance(code, str)


@pytest.mark.parametrize("value,country,expected", [
    ("(334) 793-8701", "US", "+13347938701"),
    ("3347938701", "US", "+13347938701"),
    ("334.793.8701", None, "+13347938701"),
    ("01902 444000", "GB", "+441902444000"),
    ("+49 211 81100", "DE", "+4921181100"),
    ("", "US", None),
])
def test_normalise_phone(value, country, expected):
    phone, warning = normalise_phone(value, country)
    assert phone == expected and warning is None


@pytest.mark.parametrize("value", ["not a phone", "12"])
def test_normalise_phone_refuses(value):
    phone, warning = normalise_phone(value, "US")
    assert phone is None and value in warning


@pytest.mark.parametrize("value,expected", [
    ("https://www.mdanderson.org/", "https://www.mdanderson.org/"),
    ("http://www.christie.nhs.uk/", "http://www.christie.nhs.uk/"),
    ("example.org", "https://example.org"),
    ("www.example.org:8080/a", "https://www.example.org:8080/a"),
    ("", None),
])
def test_normalise_website(value, expected):
    assert normalise_website(value) == (expected, None)


@pytest.mark.parametrize("value", ["javascript:alert(1)", "JavaScript:alert(1)",
                                   "data:text/html,<b>x</b>", "vbscript:msgbox",
                                   "mailto:someone@example.org", "not a url"])
def test_normalise_website_refuses(value):
    website, warning = normalise_website(value)
    assert website is None and warning


@pytest.mark.parametrize("text,expected", [
    ("42.3601", 42.3601),
    ("-71.0589", -71.0589),
    ("42,36", 42.36),
    ("42.36°", 42.36),
    (" 53.3498 ", 53.3498),
    ("-8.1896319985389709E-2", -0.081896319985389709),
    ("4.3077960610389709E-2", 0.043077960610389709),
    ("6.2793414108455181E-3", 0.0062793414108455181),
    ("3.35446220000e+01", 33.544622),
])
def test_parse_coordinate(text, expected):
    assert parse_coordinate(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "abc", "nan", "inf", "-inf", "1e400", "42.1.2", "N42"])
def test_parse_coordinate_rejects(text):
    assert parse_coordinate(text) is None


@pytest.mark.parametrize("value,expected", [
    ("US", "US"), ("us", "US"), ("USA", "US"), ("United States", "US"),
    ("United States of America", "US"), ("UK", "GB"), ("England", "GB"), ("GBR", "GB"),
    ("Germany", "DE"), ("CHE", "CH"), ("Switzerland", "CH"), ("Brazil", "BR"),
    ("NA", "NA"), ("Côte d'Ivoire", "CI"), ("Atlantis", None),
])
def test_resolve_country(value, expected):
    assert resolve_country(value) == expected


@pytest.mark.parametrize("value,country,expected", [
    ("MA", "US", "US-MA"), ("ma", "US", "US-MA"), ("US-MA", "US", "US-MA"),
    ("Minnesota", "US", "US-MN"), ("District of Columbia", "US", "US-DC"),
    ("NW", "DE", "DE-NW"), ("SP", "BR", "BR-SP"), ("ZH", "CH", "CH-ZH"),
    ("Zürich", "CH", "CH-ZH"), ("XX", "US", None), ("MA", None, None), ("", "US", None),
])
def test_resolve_region(value, country, expected):
    assert resolve_region(value, country) == expected


@pytest.mark.parametrize("text,expected", [
    ("name,city,zip\nA,Boston,02115\n", ","),
    ("name;city;zip\nA;Boston;02115\n", ";"),
    ("name\tcity\tzip\nA\tBoston\t02115\n", "\t"),
    ("name|city|zip\nA|Boston|02115\n", "|"),
    ("Name¬City¬Postcode\nNuffield Health, Brighton Hospital¬Brighton¬BN2 6DX\n", "¬"),
    ('name;city;note\n"A, B, C";Boston;"x, y"\n', ";"),
    ("name,address\n\"A; B\",\"1; 2\"\n", ","),
    ("name\n", ","),
    ("", ","),
])
def test_sniff_delimiter(text, expected):
    assert sniff_delimiter(text) == expected


# --- decode ----------------------------------------------------------------------------------

CYRILLIC = ("name,city,country\nОнкологический центр им. Блохина,Москва,RU\n"
            "Петербургский онкологический центр,Санкт-Петербург,RU\n")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_decode_utf16(codec):
    text = "name,city,country\nKlinik für Beispiel-Onkologie,Düsseldorf,DE\n" + CYRILLIC
    decoded = decode_bytes(text.encode(codec))
    assert decoded.text.lstrip("\ufeff") == text
    assert decoded.encoding.startswith("utf-16")


def test_decode_cp1251_cyrillic():
    decoded = decode_bytes(CYRILLIC.encode("cp1251"))
    assert decoded.encoding == "cp1251"
    assert decoded.text == CYRILLIC


def test_decode_cp1252():
    text = "name,city\nSt. Mary’s Example Cancer Center,Düsseldorf\n"
    decoded = decode_bytes(text.encode("cp1252"))
    assert (decoded.encoding, decoded.text) == ("cp1252", text)
    assert "\x92" not in decoded.text


def test_decode_cp1252_header_with_not_sign():
    """A lone NHS header line ("¬" = 0xAC between ASCII words) is cp1252, not Korean."""
    header = "OrganisationID¬OrganisationCode¬OrganisationName¬ParentODSCode\n"
    decoded = decode_bytes(header.encode("cp1252"))
    assert (decoded.encoding, decoded.text) == ("cp1252", header)


def test_decode_bom():
    decoded = decode_bytes(b"\xef\xbb\xbfname,city\nA,B\n")
    assert (decoded.encoding, decoded.had_bom, decoded.text) == ("utf-8-sig", True,
                                                                 "name,city\nA,B\n")


@pytest.mark.parametrize("data,message", [
    (b"", "empty"), (b"\r\n", "empty"), (b"\xef\xbb\xbf\r\n \t", "empty"),
    (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "binary"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
])
def test_decode_file_errors(data, message):
    with pytest.raises(FileError, match=message):
        decode_bytes(data)


# --- read ---------------------------------------------------------------------------------

def test_read_table_lines_and_quotes():
    text = ('name,address,city\r\n'
            '"Example, North","Building 2\nMain St",Boston\r\n'
            '\r\n'
            '"The ""Hope"" Clinic",12 Elm,Portland\r\n')
    table = read_table(text)
    assert table.header == ["name", "address", "city"]
    assert [r.line for r in table.rows] == [2, 5]
    assert table.rows[0].cells == ["Example, North", "Building 2\nMain St", "Boston"]
    assert table.rows[1].cells[0] == 'The "Hope" Clinic'


def test_read_table_long_cell_is_flagged():
    text = "name,description\nA," + "x" * (MAX_CELL + 10) + "\nB,short\n"
    table = read_table(text)
    assert table.rows[0].too_long == [1]
    assert len(table.rows[0].cells[1]) == MAX_CELL
    assert table.rows[1].too_long == [] and table.rows[1].line == 3


def test_read_table_blank_lines_only():
    with pytest.raises(FileError, match="empty"):
        read_table("\r\n\r\n,,\r\n")


# --- validate ----------------------------------------------------------------------------------

def _validate(values: dict[str, str], line: int = 2, fmt: str = "native"):
    columns = {k: k for k in values}
    raw = RawRecord(line, dict(values), columns)
    get_format(fmt).extras(raw)
    return Validator(load_vocabulary(), source="test").validate(raw)


def test_validate_keeps_newlines_in_address():
    record, issues = _validate({"name": "  Example   Clinic ", "city": "Boston",
                                "country": "US", "address": "Building 2,  Floor 3\r\nMain St"})
    assert not issues
    assert record.name == "Example Clinic"
    assert record.address == "Building 2, Floor 3\nMain St"


def test_validate_nfc():
    record, _ = _validate({"name": "Beispiel", "city": "Zu\u0308rich", "country": "CH"})
    assert record.city == "Zürich" and len(record.city) == 6


@pytest.mark.parametrize("values,column,reason", [
    ({"name": "", "city": "Boston", "country": "US"}, "name", "name is required"),
    ({"name": "A", "city": "Boston", "country": "Atlantis"}, "country", "unknown country"),
    ({"name": "A", "latitude": "95", "longitude": "10"}, "latitude", "outside -90..90"),
    ({"name": "A", "latitude": "45", "longitude": "190"}, "longitude", "outside -180..180"),
    ({"name": "A", "latitude": "north", "longitude": "10"}, "latitude", "not a number"),
    ({"name": "A", "latitude": "45", "longitude": ""}, "longitude", "together"),
    ({"name": "A", "city": "Boston"}, "country", "required"),
])
def test_validate_rejects(values, column, reason):
    record, issues = _validate(values)
    assert record is None
    errors = [i for i in issues if i.severity == "error"]
    assert errors and errors[0].column == column and reason in errors[0].message
    assert errors[0].line == 2


def test_validate_placeholder_coordinates_dropped():
    record, issues = _validate({"name": "A", "city": "Boston", "country": "US",
                                "latitude": "0", "longitude": "0"})
    assert record is not None and record.latitude is None


def test_natural_key():
    assert natural_key(" example  cancer institute ", "02115", "us") == \
        natural_key("Example Cancer Institute", "02115", "US")
    assert natural_key("Ｅxample", None, None) == natural_key("example", "", "")
    assert natural_key("A", "02115", "US") != natural_key("A", "02116", "US")


@pytest.mark.parametrize("value,expected", [
    ("10139.0", "010139"), ("10001", "010001"), ("010001", "010001"), ("01014f", "01014F"),
    ("450076", "450076"), ("", ""),
])
def test_pad_ccn(value, expected):
    assert pad_ccn(value) == expected


def test_detect_format_unknown_header():
    assert detect_format(["foo", "bar"]) is None
    assert detect_format(["name", "city", "country"]).name == "native"


def test_geodesic_dublin_liverpool():
    """Case 19: (lat, lon) order gives 217 km; the swapped call gives ~363 km."""
    right = geodesic_km((53.3498, -6.2603), (53.4084, -2.9916))
    assert right == pytest.approx(217, abs=2)
    swapped = geodesic_km((-6.2603, 53.3498), (-2.9916, 53.4084))
    assert swapped == pytest.approx(363, abs=5)


def test_invisible_only_name_is_required_and_undefined_cp1252_bytes_are_replaced(import_file):
    result = import_file("name,city,country\n\u200b\u200b,Boston,US\n".encode(),
                         filename="zw.csv")
    assert result.rejected == 1 and "name is required" in result.errors[0].message
    result = import_file(b"name,city,country\nCaf\xe9 \x81 Center,Boston,US\n",
                         filename="x.csv")
    assert result.encoding == "cp1252" and result.added == 1
    assert any("mean nothing in Windows-1252" in i.message for i in result.warnings)


def test_invalid_website_port_and_long_messages():
    from directory.importer.fields import MAX_MESSAGE, normalise_website

    assert normalise_website("http://x.com:99999999")[0] is None
    assert normalise_website("https://example.org:8443/a")[0] == "https://example.org:8443/a"
    assert MAX_MESSAGE <= 300


def test_utf8_with_a_stray_nul_is_binary_not_utf16():
    from directory.importer.decode import FileError, decode_bytes

    with pytest.raises(FileError, match="NUL bytes"):
        decode_bytes(b"name,city\nA\x00B,Boston\n")


def test_float_ccn_in_a_generic_file_is_padded(import_file, session):
    import sqlalchemy as sa

    from directory.models import Center

    data = (b"CMS Certification Number,Hospital Name,CITY,STATE,ZIP\n"
            b"10139.0,Example Hospital,Birmingham,AL,35233\n")
    result = import_file(data, filename="ccn.csv")
    assert result.added == 1
    assert session.scalar(sa.select(Center.external_id)) == "010139"


def test_a_zero_coordinate_is_the_equator_or_greenwich_but_zero_zero_is_missing(
        import_file, session):
    """"0" is a placeholder in other fields; in a coordinate it is a real value (Quito's
    latitude is about 0, Greenwich's longitude 0). Only the pair 0,0 is read as missing."""
    import sqlalchemy as sa

    from directory.models import Center

    result = import_file(b"name,city,country,latitude,longitude\n"
                         b"Equator Clinic,Quito,EC,0,-78.5\n"
                         b"Greenwich Clinic,London,GB,51.48,0\n"
                         b"Null Island Clinic,Boston,US,0,0\n")
    assert result.rejected == 0
    coords = dict((n, (lat, lon)) for n, lat, lon in session.execute(
        sa.select(Center.name, Center.latitude, Center.longitude)))
    assert coords["Equator Clinic"] == (0.0, -78.5)
    assert coords["Greenwich Clinic"] == (51.48, 0.0)
    assert coords["Null Island Clinic"] != (0.0, 0.0)  # geocoded from Boston instead
    assert any("0,0 are a placeholder" in i.message for i in result.warnings)
