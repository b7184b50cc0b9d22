"""Field normalisers of the validate stage: one cell in, a clean value (and a note) out.

Pure: no session, no network. Countries resolve to ISO 3166-1 alpha-2 and regions to ISO
3166-2 (pycountry); phones to E.164 (phonenumbers); postal codes, websites and coordinates
to their canonical text or number; :func:`natural_key` is the re-import key of a row without
an external id."""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit

import phonenumbers
import pycountry

from directory.text import fold, nfc

PLACEHOLDERS = {"not available", "n/a", "na", "n a", "none", "null", "nil", "-", "--", "?",
                "-999", "-999.0", "unknown", "not applicable", "#n/a", "0"}
# Fields where a placeholder-looking value is real data ("NA" is Namibia, "0" a valid id);
# in a coordinate "0" is the equator or Greenwich (the pair 0,0 is a placeholder, below).
_KEEP_AS_IS = {"country", "external_id"}
# The placeholders of each field: none in _KEEP_AS_IS, all but "0" in a coordinate.
_FIELD_PLACEHOLDERS = {**dict.fromkeys(_KEEP_AS_IS, frozenset()),
                       **dict.fromkeys(("latitude", "longitude"),
                                       frozenset(PLACEHOLDERS - {"0"}))}
# Fields whose line breaks are kept (a quoted multi-line address cell); other whitespace
# runs are collapsed line by line.
_MULTILINE = {"address", "description"}
KINDS = {
    # generic
    "hospital": "hospital", "cancer center": "cancer-center", "cancer centre": "cancer-center",
    "cancer-center": "cancer-center", "oncology center": "cancer-center", "clinic": "clinic",
    "outpatient clinic": "clinic", "other": "other",
    # CMS Hospital General Information "Hospital Type"
    "acute care hospitals": "hospital", "critical access hospitals": "critical-access",
    "acute care - veterans administration": "military",
    "acute care - department of defense": "military", "childrens": "childrens",
    "psychiatric": "psychiatric", "long-term": "long-term-care",
    "rural emergency hospital": "emergency",
    # HIFLD "TYPE"
    "general acute care": "hospital", "critical access": "critical-access",
    "military": "military",
    "women": "hospital", "special": "hospital", "children": "childrens",
    "rehabilitation": "rehabilitation", "long term care": "long-term-care",
    "chronic disease": "long-term-care",
    # NHS Choices "SubType"
    "mental health hospital": "psychiatric",
}
#: Name rules for the kind of a center whose source gives only a generic kind ("hospital",
#: "other", "clinic", critical access, military), tried in this order on the folded name
#: (each word must start a word of the name). A children's cancer hospital is a children's
#: hospital; "cancer center" words: English, German (Krebs, Onkologie, Tumorzentrum),
#: Turkish (Kanser, Onkoloji), Portuguese and Spanish (Câncer, Cáncer, Oncológico), Italian
#: (Cancro, Tumori), French (Cancérologie); a single-specialty hospital outside cancer care
#: (eye, dental, orthopaedic, maternity, sleep, pain, heart, ear-nose-throat, skin,
#: fertility, cosmetic, tropical diseases, homeopathy) is ``other``; psychosomatic and
#: addiction clinics are psychiatric; a cancer rehabilitation clinic is a rehabilitation
#: clinic.
NAME_KINDS: tuple[tuple[str, re.Pattern], ...] = (
    ("childrens", re.compile(r"\b(children|childrens|child s|paediatric|pediatric|kinder|"
                             r"kinderklinik|infantil|ninos|enfants|bambin|cocuk|criancas?)\b|"
                             r"\bgreat ormond street\b")),
    ("psychiatric", re.compile(r"\b(psychiatr|psychiatric|mental health|psiquiatr|psichiatr|"
                               r"psikiyatr|ruh sagligi|ruh ve sinir|nervenklinik|psychosomat|"
                               r"sucht(klinik|hilfe|behandlung)|addiction)")),
    ("rehabilitation", re.compile(r"\b(rehabilitation|rehab\b|rehaklinik|reha\b|rehabilitacion|"
                                  r"rehabilitasyon|reabilitacao|fizik tedavi)")),
    ("cancer-center", re.compile(r"\b((anti)?cancer|oncolo|onkolo|tumou?r|krebs|kanser|cancro|"
                                 r"onco\b)")),
    # Specialist hospitals that do not treat lung cancer: eyes ("Sleepy Eye" is a town),
    # teeth, bones, births, sleep, pain, hearts ("Sacred Heart" is a patron), ears, skin,
    # fertility, cosmetic surgery; in the languages of the starter data.
    ("other", re.compile(r"\b((?<!sleepy )eye|ophthalm\w*|oftalm\w*|ophtalm\w*|augen\w*|goz|"
                         r"dental|dentistry|zahn\w*|odontolog\w*|agiz ve dis|"
                         r"orthopaedic|orthopedic|orthopad\w*|ortopedi\w*|"
                         r"maternity|maternite|maternidad|maternidade|geburtshaus|kadin dogum|"
                         r"sleep|schlaf\w*|schmerz\w*|pain clinic|"
                         r"(?<!sacred )heart hospital|herzzentrum|herzklinik|"
                         r"ear nose|nose and ear|hno|dermatolog\w*|hautklinik|"
                         r"fertility|ivf|kinderwunsch|plastic surgery|cosmetic|"
                         r"tropical diseases|integrated medicine|homoeopathic|homeopathic)\b")),
)
#: Kinds a name rule may replace (a children's or psychiatric hospital stays what its source
#: says it is).
_NAMED_KINDS = frozenset({"hospital", "clinic", "other", "critical-access", "military"})


def kind_from_name(kind: str, name: str) -> str:
    """The kind that ``name`` shows (:data:`NAME_KINDS`: "Krebszentrum", "Istituto dei
    Tumori" -> ``cancer-center``; "Great Ormond Street Hospital" -> ``childrens``; "Moorfields
    Eye Hospital" -> ``other``) for a generic ``kind``; else ``kind`` unchanged."""
    if kind not in _NAMED_KINDS:
        return kind
    folded = fold(name)
    for named, pattern in NAME_KINDS:
        if pattern.search(folded):
            return named
    return kind


STATUSES = {"active": "active", "open": "active", "operational": "active",
            "closed": "closed", "inactive": "closed", "temporarily closed": "temporarily-closed",
            "temporarily-closed": "temporarily-closed"}
# The database column sizes of the fields not checked elsewhere.
MAX_LENGTHS = {"city": 120, "postal_code": 20, "website": 500, "email": 254, "organization": 300}
US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# Words kept upper case when recasing UPPER CASE names from CMS.
_KEEP_UPPER = {"VA", "UAB", "UCSF", "UCLA", "UC", "MD", "UT", "UNC", "USC", "LLC", "LP", "II",
               "III", "IV", "NYU", "OSF", "HCA", "SSM", "CHI", "ECU", "OU", "KU", "LSU", "UPMC",
               "UW", "VCU", "MUSC", "UNM", "UMC", "CMC", "ST", "NW", "NE", "SW", "SE", "PC",
               "SNF", "US", "USA", "AMC", "ICU", "DC"}
_SMALL = {"and", "of", "the", "at", "for", "in", "on", "de", "la", "del"}


def natural_key(name: str, postal_code: str | None, country: str | None) -> str:
    """``casefold(NFKC(name, trimmed, inner whitespace collapsed))|postal|country``."""
    folded = " ".join(unicodedata.normalize("NFKC", name).split()).casefold()
    return f"{folded}|{(postal_code or '').upper().replace(' ', '')}|{(country or '').upper()}"


# Invisible characters that only hide text: control characters, zero-width space, word
# joiner, bidirectional overrides, BOM. (Zero-width joiners stay: some scripts need them.)
_SPACES = re.compile(r"\s+")
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200e\u200f"
                        "\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def _clean(value: str | None, fieldname: str) -> str:
    if value is None:
        return ""
    if value.isascii() and value.isprintable():
        # The common case, same result as below: printable ASCII has no invisible
        # characters and no line breaks, is already NFC, and its only whitespace is " ".
        if value[:1] == "'" and value[1:2] in ("=", "+", "-", "@"):
            value = value[1:]
        if "  " in value:
            value = _SPACES.sub(" ", value)
        value = value.strip(" ")
        if value.lower() in _FIELD_PLACEHOLDERS.get(fieldname, PLACEHOLDERS):
            return ""
        return value
    value = _INVISIBLE.sub("", value)
    # Our CSV export prefixes ' to cells that a spreadsheet would run as a formula; read
    # them back unchanged (a leading ' before anything else is kept).
    if value[:1] == "'" and value[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        value = value[1:]
    if fieldname in _MULTILINE:
        value = "\n".join(filter(None, (nfc(line) for line in value.splitlines())))
    else:
        value = nfc(value)
    if value.casefold() in _FIELD_PLACEHOLDERS.get(fieldname, PLACEHOLDERS):
        return ""
    return value


def clean_text(value: str | None, fieldname: str) -> str:
    """A cell or form value as the importer keeps it: invisible and control characters
    removed, Unicode NFC, whitespace runs collapsed (line breaks kept in ``address`` and
    ``description``), a leading ``'`` before a formula character dropped, and a
    placeholder (``"N/A"``, ``"unknown"``...) read as empty (``""``)."""
    return _clean(value, fieldname)


_LONGEST_PLACEHOLDER = max(map(len, PLACEHOLDERS))


def _clean_values(values: dict[str, str | None]) -> dict[str, str]:
    """``{field: _clean(value, field)}``, with the commonest cells (plain printable ASCII,
    no doubled spaces, no leading quote) cleaned inline: the same result, a tenth the time."""
    out = {}
    for key, value in values.items():
        if not value:
            out[key] = ""
        elif type(value) is str and value.isascii() and value.isprintable() and \
                value[0] != "'" and "  " not in value:
            value = value.strip(" ")
            if len(value) <= _LONGEST_PLACEHOLDER and \
                    value.lower() in _FIELD_PLACEHOLDERS.get(key, PLACEHOLDERS):
                value = ""
            out[key] = value
        else:
            out[key] = _clean(value, key)
    return out


#: English names pycountry does not know (older or everyday names, Wikidata's labels).
COUNTRY_ALIASES = {
    "uk": "GB", "u k": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "great britain": "GB", "britain": "GB", "usa": "US",
    "u s a": "US", "u s": "US", "united states of america": "US", "america": "US",
    "russia": "RU", "turkey": "TR", "republic of ireland": "IE", "state of palestine": "PS",
    "palestine": "PS", "democratic republic of the congo": "CD",
    "republic of the congo": "CG", "brunei": "BN", "the gambia": "GM", "gambia": "GM",
    "ivory coast": "CI", "east timor": "TL", "united states virgin islands": "VI",
    "sint maarten": "SX", "bailiwick of guernsey": "GG", "bailiwick of jersey": "JE",
    "south korea": "KR", "north korea": "KP", "iran": "IR", "syria": "SY", "vietnam": "VN",
    "laos": "LA", "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ", "moldova": "MD",
    "czech republic": "CZ", "czechia": "CZ", "macau": "MO", "hong kong": "HK",
    "kingdom of the netherlands": "NL", "holland": "NL", "the netherlands": "NL",
    "kingdom of denmark": "DK", "people s republic of china": "CN", "vatican city": "VA",
    "federated states of micronesia": "FM", "cape verde": "CV", "swaziland": "SZ",
    "eswatini": "SZ", "taiwan": "TW", "uae": "AE", "burma": "MM",
}
#: Languages whose country names (pycountry's ISO 3166 translations) are accepted too:
#: ``Deutschland``, ``Allemagne``, ``Alemania``, ``Türkei``, ``Brasil``, ``Österreich``.
COUNTRY_NAME_LANGUAGES = ("de", "fr", "es", "it", "pt", "pt_BR", "nl", "tr", "pl", "cs", "sv",
                          "da", "nb", "fi", "el", "hu", "ro")


@lru_cache(maxsize=1)
def country_name_catalogs() -> tuple:
    """pycountry's ISO 3166-1 gettext catalogs of :data:`COUNTRY_NAME_LANGUAGES` (a language
    whose catalog this pycountry lacks is left out); shared by the importer and the
    gazetteer ("near=Alemania")."""
    import gettext

    out = []
    for language in COUNTRY_NAME_LANGUAGES:
        try:
            out.append(gettext.translation("iso3166-1", pycountry.LOCALES_DIR,
                                           languages=[language]))
        except OSError:  # a pycountry without that catalog
            continue
    return tuple(out)


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Folded country name (English, official, common, and in
    :data:`COUNTRY_NAME_LANGUAGES`) -> ISO 3166-1 alpha-2. Built once (~0.1 s)."""
    index: dict[str, str] = {}
    translations = country_name_catalogs()
    for country in pycountry.countries:
        names = [n for n in (country.name, getattr(country, "common_name", None),
                             getattr(country, "official_name", None)) if n]
        for name in names:
            index.setdefault(fold(name), country.alpha_2)
            for translation in translations:
                index.setdefault(fold(translation.gettext(name)), country.alpha_2)
    for alias, code in COUNTRY_ALIASES.items():
        index[fold(alias)] = code
    return index


@lru_cache(maxsize=512)
def resolve_country(value: str) -> str | None:
    """ISO 3166-1 alpha-2 for a code (alpha-2/alpha-3), an English name (also the everyday
    ones of :data:`COUNTRY_ALIASES`: ``Turkey``, ``Russia``, ``UK``) or a name in one of
    :data:`COUNTRY_NAME_LANGUAGES` (``Deutschland``, ``Allemagne``); ``None`` if unknown."""
    value = value.strip()
    if not value:
        return None
    if len(value) in (2, 3) and value.isalpha():
        country = pycountry.countries.get(**{"alpha_2" if len(value) == 2 else "alpha_3":
                                             value.upper()})
        if country is not None:
            return country.alpha_2
    return _country_names().get(fold(value))


@lru_cache(maxsize=4096)
def resolve_region(value: str, country: str | None) -> str | None:
    """ISO 3166-2 code for a subdivision code or name within ``country``, else ``None``.

    ``("MA", "US") -> "US-MA"``, ``("Minnesota", "US") -> "US-MN"``, ``("NW", "DE") -> "DE-NW"``.
    """
    value = value.strip()
    if not country or not value:
        return None
    code = value.upper()
    if not code.startswith(country + "-"):
        code = f"{country}-{code}"
    if pycountry.subdivisions.get(code=code):
        return code
    folded = fold(value)
    for sub in pycountry.subdivisions.get(country_code=country) or ():
        if fold(sub.name) == folded:
            return sub.code
    return None


def recase(value: str) -> str:
    """Title-case an UPPER CASE name or address, keeping acronyms: ``"UAB ST VINCENT'S"`` ->
    ``"UAB St Vincent's"``. Mixed-case text is returned unchanged."""
    if not value or value != value.upper() or not any(c.isalpha() for c in value):
        return value
    words = value.split(" ")
    out = []
    for i, word in enumerate(words):
        bare = re.sub(r"[^A-Z0-9]", "", word)
        if bare in _KEEP_UPPER and bare not in {"ST"}:
            out.append(word)
        elif i and word.lower() in _SMALL:
            out.append(word.lower())
        elif re.fullmatch(r"\d+[A-Z]{0,2}", bare or "x") and any(c.isdigit() for c in bare):
            out.append(word.lower() if re.fullmatch(r"\d+(ST|ND|RD|TH)", bare) else word)
        else:
            out.append(re.sub(r"[A-Za-z]+('[A-Za-z]+)?",
                              lambda m: m.group(0).capitalize(), word.lower()))
    return " ".join(out)


def parse_coordinate(text: str) -> float | None:
    """A decimal degree from text: ``"42.36"``, ``"42,36"`` (decimal comma),
    ``"-8.18E-2"`` (exponent, as GIS exports write small values), ``"42.36°"``.
    ``None`` when it is not a finite number."""
    text = text.strip().rstrip("°").strip()
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    if not _NUMBER.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def normalise_postal_code(value: str, country: str | None) -> tuple[str | None, str | None]:
    """Return ``(postal_code, warning)``. US ZIPs that lost leading zeros (3-4 digits, or a
    float such as ``"2115.0"``) are left-padded to 5 with a warning; other countries' codes
    are only trimmed and upper-cased."""
    if not value:
        return None, None
    value = value.strip().upper()
    if country == "US":
        if re.fullmatch(r"\d+\.0", value):
            value = value[:-2]
        if re.fullmatch(r"\d{3,4}", value):
            padded = value.zfill(5)
            return padded, f"US ZIP code {value!r} lost its leading zero(s); read as {padded}"
        if re.fullmatch(r"\d{9}", value):
            value = f"{value[:5]}-{value[5:]}"
        if not US_ZIP.match(value):
            return value, f"{value!r} is not a valid US ZIP code"
    return value, None


def normalise_phone(value: str, country: str | None) -> tuple[str | None, str | None]:
    """E.164 phone (``"+13347938701"``) and a warning when it cannot be parsed."""
    if not value:
        return None, None
    try:
        number = phonenumbers.parse(value, country or "US")
    except phonenumbers.NumberParseException:
        return None, f"phone number {value[:40]!r} could not be read; left empty"
    if not phonenumbers.is_possible_number(number):
        return None, f"phone number {value[:40]!r} is not a possible number; left empty"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)
_HTTP = re.compile(r"^https?://", re.I)
_BARE_DOMAIN = re.compile(r"^[\w.-]+\.[a-z]{2,}(:\d+)?(/|$)", re.I)
# http(s)://host.name[/path] with no port, user, query or unusual character.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(/[A-Za-z0-9._~/%-]*)?", re.I)
# local@domain: the local part in RFC 5322 "atext" (dots between), the domain in labels of
# letters, digits and hyphens (any script); no spaces, quotes, <, >, brackets or commas.
_EMAIL = re.compile(r"[\w!#$%&'*+/=?^`{|}~-]+(\.[\w!#$%&'*+/=?^`{|}~-]+)*"
                    r"@[^\W_]([\w-]*[^\W_])?(\.[^\W_]([\w-]*[^\W_])?)*\.[^\W\d_]{2,}")


def normalise_website(value: str) -> tuple[str | None, str | None]:
    """An http(s) URL; a bare domain gets ``https://``; other schemes are refused."""
    if not value:
        return None, None
    if _PLAIN_URL.fullmatch(value):  # what the checks below accept unchanged, found faster
        return value, None
    if _SCHEME.match(value) and not _HTTP.match(value):
        if not _BARE_DOMAIN.match(value):
            return None, f"website {value[:60]!r} is not an http(s) URL; left empty"
    if not _HTTP.match(value):
        value = "https://" + value
    value = value.replace("\\", "/")  # "www.nghs.com\braselton": as browsers read it
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port outside 0..65535
    except ValueError:
        return None, f"website {value[:60]!r} has an invalid port; left empty"
    if not parts.netloc or " " in parts.netloc or "." not in parts.netloc:
        return None, f"website {value[:60]!r} is not a valid URL; left empty"
    if "@" in parts.netloc or any(c in value for c in '"<>\\^`{|}'):
        # "https://good.org@evil.example/" goes to evil.example; quotes and brackets are
        # not part of a URL.
        return None, f"website {value[:60]!r} is not a plain web address; left empty"
    return value, None


def normalise_email(value: str) -> tuple[str | None, str | None]:
    """``(email, warning)``: ``value`` (a ``mailto:`` prefix dropped) when it looks like an
    address (``name@host.tld``, no spaces or markup, at most 254 characters), else ``None``
    and why."""
    if not value:
        return None, None
    address = value[7:] if value[:7].lower() == "mailto:" else value
    if not _EMAIL.fullmatch(address):
        return None, f"email {value[:60]!r} is not an address; left empty"
    if len(address) > MAX_LENGTHS["email"]:
        return None, (f"email {address[:30]!r}... is {len(address)} characters long (max "
                      f"{MAX_LENGTHS['email']}); left empty")
    return address, None


def safe_website(url: str | None) -> str | None:
    """``url`` as a link that is safe to show or follow (what :func:`normalise_website`
    makes of it: http(s) only, a bare domain gets ``https://``), or ``None``: every place
    that outputs a stored website (pages, API) goes through this, whatever wrote it."""
    if not url:
        return None
    return normalise_website(url.strip())[0]


#: The fields :func:`clean_fields` checks, in the order it checks them.
CHECKED_FIELDS = ("country", "region", "postal_code", "phone", "website", "email")


def clean_fields(values: dict[str, str | None], country: str | None = None, *,
                 strict: bool = False) -> tuple[dict[str, str | None], dict[str, str]]:
    """The one field validation of every write path (importer, editor form, later ones).

    ``values`` holds some of :data:`CHECKED_FIELDS` as typed; ``country`` is the row's ISO
    code when ``values`` has none. Returns ``(clean, notes)``: ``clean`` has each given
    field normalised (country ISO 3166-1, region ISO 3166-2 when known, postal code, phone
    E.164, website http(s), email), ``None`` when refused; ``notes`` has a message per
    field that was refused (``clean`` is then ``None``) or changed with a warning (a US ZIP
    that lost its zeros). Values over :data:`MAX_LENGTHS` are refused too. ``strict`` (a
    form a person filled in) also refuses a postal code that is not one of its country's
    (a US ZIP), which a file's row keeps with a warning.
    """
    clean: dict[str, str | None] = {}
    notes: dict[str, str] = {}
    for name in CHECKED_FIELDS:
        if name not in values:
            continue
        value = (values[name] or "").strip()
        note = None
        if not value:
            clean[name] = None
            continue
        if name == "country":
            country = resolve_country(value)
            result = country
            if country is None:
                note = (f"unknown country {value!r} (use an ISO 3166 code or an English "
                        f"name)")
        elif name == "region":
            result = resolve_region(value, country) or value
            if len(result) > 120:
                result, note = None, (f"region {value[:30]!r}... is {len(value)} characters "
                                      f"long (max 120); left empty")
        elif name == "postal_code":
            result, note = normalise_postal_code(value, country)
            if strict and country == "US" and result and not US_ZIP.match(result):
                result = None  # a person typed it: refused, not kept with a warning
        elif name == "phone":
            result, note = normalise_phone(value, country)
        elif name == "website":
            result, note = normalise_website(value)
        else:
            result, note = normalise_email(value)
        limit = MAX_LENGTHS.get(name)
        if result and limit and len(result) > limit:
            result, note = None, (f"{name.replace('_', ' ')} {result[:30]!r}... is "
                                  f"{len(result)} characters long (max {limit}); left empty")
        clean[name] = result
        if note:
            notes[name] = note
    return clean, notes


MAX_MESSAGE = 300


def _short(message: str) -> str:
    """Cap a message (they quote cell values) at :data:`MAX_MESSAGE` characters."""
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 1] + "…"
