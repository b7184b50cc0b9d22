"""The OpenAPI 3.1 document of the JSON API, kept beside the code it describes
(:mod:`directory.web.api`). Tests validate it with openapi-spec-validator and run schemathesis
against the app with it, so a change to a response shape must change this file too.

Shapes are JSON Schema 2020-12 (OpenAPI 3.1): ``["string", "null"]`` for optional values,
``additionalProperties: false`` so undocumented fields fail the tests. Every enum and bound
comes from the code that decides it (kinds, statuses, precisions and provenances from
:mod:`directory.models`, modalities and designations from the vocabulary, units, sorts and
the radius and page bounds from the search form), never typed here, so the document cannot
fall behind the data.
"""

from __future__ import annotations

from functools import lru_cache

from directory.curation.resolve import RECORD_FIELDS
from directory.geo import KM_PER_MILE, PRECISIONS
from directory.models import (
    CENTER_KINDS,
    CENTER_STATUSES,
    GEOCODE_PRECISIONS,
    NON_TREATING_KINDS,
    PROVENANCES,
)
from directory.vocabulary import load_vocabulary
from directory.web.display import ITEM_FIELDS
from directory.web.forms import PAGE_MAX, RADIUS_MAX, RADIUS_MIN, SORT_CHOICES, UNITS

NULL_STR = {"type": ["string", "null"]}
NULL_NUM = {"type": ["number", "null"]}


def _obj(properties: dict, required: list[str] | None = None, *, closed: bool = True,
         description: str | None = None) -> dict:
    schema = {"type": "object", "properties": properties,
              "required": list(properties) if required is None else required}
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _schemas() -> dict:
    vocabulary = load_vocabulary()
    claim = _obj({
        "slug": {"type": "string", "enum": [m.slug for m in vocabulary.modalities]},
        "name": {"type": "string"},
        "provenance": {"type": "string", "enum": list(PROVENANCES),
                       "description": "reported: a public source says the center delivers "
                                      "it; inferred: derived by a rule of the directory's "
                                      "inference table from a designation or from another "
                                      "treatment a source reports (see `inference`). A "
                                      "search for a treatment ranks centers with it "
                                      "reported before those with it only inferred "
                                      "(sort=best)"},
        "source": {"type": "string", "description": "data-source slug of the claim (for an "
                                                    "inferred claim: the source of the fact "
                                                    "the inference starts from)"},
        "verified_on": {"type": ["string", "null"], "format": "date",
                        "description": "date of the evidence"},
        "evidence": {"type": ["string", "null"],
                     "description": "what the claim rests on: the source's own words for a "
                                    "reported claim (e.g. 'CMS quality measure OP-35 "
                                    "(outpatient chemotherapy), star rating 2025'), the "
                                    "basis for an inferred one"},
        "inference": {"oneOf": [{"type": "null"}, _obj({
            "basis": {"type": "string",
                      "description": "why it is inferred, as shown on the pages: 'inferred: "
                                     "this hospital reports outpatient chemotherapy; confirm "
                                     "with the center'"},
            "rule": {"type": ["string", "null"],
                     "description": "slug of the inference rule (null: a claim whose basis "
                                    "no current rule has)"},
            "url": {"type": "string", "format": "uri",
                    "description": "the rule's reasoning and facts on the About page"},
        })], "description": "null for a reported claim"},
    }, description="A claim that the center offers a modality. A missing claim means "
                   "'not reported', never 'not offered'.")
    designation = _obj({
        "slug": {"type": "string"}, "name": {"type": "string"}, "source": {"type": "string"},
        "as_of": {"type": ["string", "null"], "format": "date"},
    })
    field_source = _obj({
        "source": {"type": "string",
                   "description": "data-source slug; `editor`: set by hand by an editor"},
        "external_id": {"type": ["string", "null"],
                        "description": "the row's identifier in that source"},
        "date": {"type": ["string", "null"], "format": "date",
                 "description": "date of the source's data (null: unknown)"},
    }, description="Where one shown field came from.")
    record = _obj({
        "source": {"type": "string", "description": "data-source slug"},
        "external_id": {"type": ["string", "null"],
                        "description": "the row's identifier in that source"},
        "dataset_date": {"type": ["string", "null"], "format": "date",
                         "description": "date of the source's data (null: unknown)"},
        "link_rule": {"type": "string",
                      "description": "why the record belongs to the center: `first` (the "
                                     "record the center was made from), `editor` (editors' "
                                     "values), or the matching rule (`key:ccn`, "
                                     "`address+name`, `merge`...)"},
        "link_score": {"type": ["number", "null"],
                       "description": "the match score of that rule, when it has one"},
        "link_reason": {"type": ["string", "null"],
                        "description": "the match explained in words"},
    }, description="A row of one source, as read, linked into this center.")

    def field_sources(fields) -> dict:
        return {"type": "object",
                "properties": {f: {"oneOf": [{"type": "null"}, _ref("FieldSource")]}
                               for f in fields},
                "required": list(fields), "additionalProperties": False,
                "description": "where each shown field came from: every field is named; "
                               "null when no source gives it (the value is then null or "
                               "a default)"}

    center_props = {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": list(CENTER_KINDS)},
        "address": NULL_STR, "city": NULL_STR,
        "region": {"type": ["string", "null"],
                   "description": "ISO 3166-2 code (US-MA) when known, else the text given"},
        "postal_code": {"type": ["string", "null"], "description": "always a string (02115)"},
        "country": {"type": ["string", "null"], "description": "ISO 3166-1 alpha-2"},
        "latitude": {"type": ["number", "null"], "minimum": -90, "maximum": 90,
                     "description": "WGS-84 degrees"},
        "longitude": {"type": ["number", "null"], "minimum": -180, "maximum": 180,
                      "description": "WGS-84 degrees"},
        "phone": {"type": ["string", "null"], "description": "E.164 when it could be parsed"},
        "website": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": list(CENTER_STATUSES)},
        "status_verified": {"type": "boolean", "description":
                            "false when the center comes from a source that does not record "
                            "closures (Wikidata): its status is not verified"},
        "geocode_precision": {"type": "string",
                              "enum": list(GEOCODE_PRECISIONS),
                              "description": "how the coordinates were found: postal_code "
                                             "and city mean approximate"},
        "distance_km": {"type": "number", "minimum": 0,
                        "description": "geodesic (WGS-84) distance from `near`; absent "
                                       "without a place"},
        "distance_mi": {"type": "number", "minimum": 0,
                        "description": "the same distance in miles; only with `unit=mi`"},
        "modalities": {"type": "array", "items": _ref("ModalityClaim")},
        "designations": {"type": "array", "items": _ref("Designation")},
        "url": {"type": "string", "format": "uri", "description": "the center's web page"},
        "field_sources": field_sources(ITEM_FIELDS),
        "records": {"type": "array", "items": _ref("SourceRecord"),
                    "description": "every source record linked to the center, the one it "
                                   "was made from first"},
    }
    required = [k for k in center_props if k not in ("distance_km", "distance_mi",
                                                     "field_sources", "records")]
    detail_props = {
        **center_props,
        "alternate_names": {"type": "array", "items": {"type": "string"}},
        "email": NULL_STR, "description": NULL_STR,
        "organization": {"oneOf": [{"type": "null"}, _obj({
            "name": {"type": "string"}, "website": NULL_STR})]},
        "source": {"type": "string", "description": "data source the center comes from"},
        "external_id": {"type": ["string", "null"],
                        "description": "the source's identifier (e.g. a CMS CCN)"},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
        "verified_at": {"type": ["string", "null"], "format": "date"},
    }
    detail_props["field_sources"] = field_sources(RECORD_FIELDS)
    place = _obj({
        "name": {"type": "string", "description": "display label"},
        "latitude": {"type": "number", "minimum": -90, "maximum": 90},
        "longitude": {"type": "number", "minimum": -180, "maximum": 180},
        "precision": {"type": "string", "enum": list(PRECISIONS),
                      "description": "how exactly the place is known"},
        "country": NULL_STR, "region": NULL_STR,
    })
    near = _obj({**place["properties"], "query": {"type": "string"},
                 "alternatives": {"type": "array", "items": _ref("Place")}},
                description="How `near` was understood; `alternatives` are other places "
                            "the text may mean (\"did you mean\").")
    counts = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
    page_link = {"type": ["string", "null"], "format": "uri"}
    envelope = _obj({
        "items": {"type": "array", "items": _ref("Center")},
        "total": {"type": "integer", "minimum": 0, "description": "results over all pages"},
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
        "pages": {"type": "integer", "minimum": 0},
        "distance_unit": {"type": "string", "enum": [u.value for u in UNITS],
                          "description": "unit of `radius` (and of `distance_mi` when mi)"},
        "radius": {"type": ["number", "null"],
                   "description": "radius applied, in `distance_unit`; null without a "
                                  "place (or when the place is a country or region)"},
        "facets": _obj({"modality": counts, "country": counts},
                       description="counts per modality slug (a parent counts its "
                                   "children) and per country, over every result"),
        "near": {"oneOf": [{"type": "null"}, _ref("Near")]},
        "links": _obj({"self": {"type": "string", "format": "uri"}, "next": page_link,
                       "prev": page_link}),
        "warnings": {"type": "array", "items": {"type": "string"},
                     "description": "e.g. that per_page was capped"},
    })
    node = _obj({
        "slug": {"type": "string"}, "name": {"type": "string"}, "parent": NULL_STR,
        "synonyms": {"type": "array", "items": {"type": "string"}},
        "count": {"type": "integer", "minimum": 0,
                  "description": "open centers offering it or any of its children"},
        "url": {"type": ["string", "null"], "format": "uri",
                "description": "the guide page"},
        "centers_url": {"type": "string", "format": "uri"},
        "children": {"type": "array", "items": _ref("ModalityNode")},
    })
    error = _obj({
        "error": {"type": "string", "description": "short reason: bad request, not found, "
                                                   "method not allowed, file too large, "
                                                   "too many requests"},
        "message": {"type": "string"},
        "field": {"type": ["string", "null"], "description": "the parameter at fault"},
        "max_bytes": {"type": ["integer", "null"], "description": "413 only"},
    }, required=["error", "message", "field"])
    return {
        "ModalityClaim": claim, "Designation": designation,
        "FieldSource": field_source, "SourceRecord": record,
        "Center": _obj(center_props, required),
        "CenterDetail": _obj(detail_props, [*required, "field_sources", "records",
                                            *list(detail_props)[len(center_props):]]),
        "Place": place, "Near": near, "SearchResults": envelope, "ModalityNode": node,
        "ModalityTree": _obj({"items": {"type": "array", "items": _ref("ModalityNode")}}),
        "PlaceSuggestions": _obj({"query": {"type": "string"},
                                  "items": {"type": "array", "items": _ref("Place"),
                                            "maxItems": 10}}),
        "ApiIndex": _obj({"name": {"type": "string"}, "version": {"type": "string"},
                          "links": {"type": "object",
                                    "additionalProperties": {"type": "string",
                                                             "format": "uri"}}}),
        "Error": error,
    }


def _param(name: str, schema: dict, description: str, **extra) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description, **extra}


def _lang_parameter() -> dict:
    return _param("lang", {"type": "string", "enum": ["en", "es"]},
                  "Names of modalities and designations in this language (`es`: "
                  "Radioterapia); `url` then points to that language's page. Slugs, codes "
                  "and error messages do not change.")


def _search_parameters() -> list[dict]:
    vocabulary = load_vocabulary()
    text = {"type": "string", "maxLength": 200}
    return [
        _param("q", text, "Name, alternate name or organization words (case- and "
                          "accent-insensitive)."),
        _param("near", text, "A place: `Houston, TX`, `São Paulo`, `02115` or "
                             "`42.36,-71.06`. A country becomes a country filter, a US state "
                             "a region filter. A place that cannot be found is a 400 with "
                             "`field: near`.", example="Boston, MA"),
        _param("radius", {"type": "number", "minimum": RADIUS_MIN, "maximum": RADIUS_MAX},
               f"Radius in `unit`, from {RADIUS_MIN} (default 100 km / 60 mi with a place; "
               f"at most {RADIUS_MAX:,} km, so {RADIUS_MAX / KM_PER_MILE:,.0f} mi: a larger "
               f"radius in miles is a 400 with `field: radius`)."),
        _param("unit", {"type": "string", "enum": [u.value for u in UNITS], "default": "km"},
               "Unit of `radius` and of the extra `distance_mi` field."),
        _param("city", text, "City prefix (accent-insensitive)."),
        _param("region", text, "Region code or name: `MN`, `US-MN`, `Minnesota`."),
        _param("country", {"type": "string", "maxLength": 100},
               "ISO 3166-1 code or English name."),
        _param("modality", {"type": "array", "items": {"type": "string", "maxLength": 60}},
               "Modality slug or synonym; repeat for AND. A parent matches its children. "
               "Slugs: " + ", ".join(m.slug for m in vocabulary.modalities) + ".",
               style="form", explode=True),
        _param("designation", {"type": "string",
                               "enum": [d.slug for d in vocabulary.designations]},
               "A designation slug."),
        _param("kind", {"type": "array", "items": {"type": "string",
                                                   "enum": ["all", *CENTER_KINDS]}},
               "Only centers of these kinds (repeat for OR). Default: every kind but "
               "those that do not treat adult cancer (" + ", ".join(NON_TREATING_KINDS)
               + "); `all`: every kind.", style="form", explode=True),
        _param("sort", {"type": "string", "enum": [c.value for c in SORT_CHOICES]},
               "Default: best with `near`, relevance with `q`, else name. `best`: "
               "designated and cancer centers first, then centers reporting a cancer "
               "treatment, then the rest, each group by distance (by name without `near`). "
               "Name order breaks ties by id. `distance` needs `near`."),
        _param("page", {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": 1},
               "1-based page. A page past the end is an empty list, not an error."),
        _param("per_page", {"type": "integer", "minimum": 1, "default": 20},
               "Results per page; capped at 100 (the response's `warnings` says so)."),
        _param("format", {"type": "string", "enum": ["json", "csv", "ndjson"],
                          "default": "json"},
               "`csv` or `ndjson`: every result (page and per_page ignored), streamed, at "
               "most 10,000 rows (`EXPORT_MAX_ROWS`); see `X-Export-Truncated`."),
        _lang_parameter(),
        _param("include", {"type": "string", "enum": ["provenance"]},
               "`provenance`: every item also says where each field came from "
               "(`field_sources`) and lists the center's source records (`records`), as "
               "the single-center item always does (JSON and NDJSON)."),
    ]


def _json(schema_name: str, description: str, headers: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/json": {"schema": _ref(schema_name)}}}
    if headers:
        response["headers"] = headers
    return response


LIMITED = {"429": {"$ref": "#/components/responses/TooManyRequests"}}
ERRORS = {"400": {"$ref": "#/components/responses/BadRequest"}, **LIMITED}


@lru_cache(maxsize=8)
def openapi_document(server_url: str = "/api/v1") -> dict:
    """The OpenAPI 3.1 document, with ``server_url`` (the API root) as its server."""
    header_str = {"schema": {"type": "string"}}
    count_header = {"description": "total results over all pages",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Oncology center directory API",
            "version": "1.0.0",
            "summary": "Hospitals and cancer centers that treat advanced lung cancer.",
            "description": (
                "The same search as the `/centers` web page, as data. Read-only; no "
                "authentication; CORS allows any origin to GET.\n\n"
                "* Distances are geodesic on WGS-84. `distance_km` is always given with a "
                "place; `unit=mi` adds `distance_mi` and makes `radius` miles. The default "
                "unit is km.\n"
                "* Errors are JSON `{\"error\", \"message\", \"field\"}` with status 400 (bad "
                "parameter, unknown place in `near`), 404, 405, 413 (with `max_bytes`) or "
                "429; never an HTML page.\n"
                "* Successful GETs carry `ETag` (send `If-None-Match` for a 304) and "
                "`Cache-Control: public, max-age=300`.\n"
                "* Bulk: `format=csv` / `format=ndjson` on `/centers` (also `/centers.csv` "
                "on the site), capped at 10,000 rows. CSV cells that could run as spreadsheet "
                "formulas start with `'`.\n\n"
                "This site informs; it does not give medical advice."),
        },
        "servers": [{"url": server_url}],
        "paths": {
            "/": {"get": {
                "operationId": "getIndex", "summary": "API version and links",
                "responses": {"200": _json("ApiIndex", "version and links"), **LIMITED}}},
            "/centers": {"get": {
                "operationId": "searchCenters", "summary": "Search centers",
                "description": "Every `/centers` parameter. JSON by default: a page of "
                               "results with total, facets, how `near` was understood and "
                               "paging links (also as `Link` and `X-Total-Count` headers).",
                "parameters": _search_parameters(),
                "responses": {
                    "200": {
                        "description": "a page of results (json) or every result (csv, "
                                       "ndjson)",
                        "headers": {"X-Total-Count": count_header,
                                    "Link": {"description": "RFC 8288 first/last/next/prev",
                                             **header_str}},
                        "content": {
                            "application/json": {"schema": _ref("SearchResults")},
                            "text/csv": {"schema": {"type": "string"}},
                            "application/x-ndjson": {"schema": {"type": "string"}},
                        }},
                    **ERRORS}}},
            "/centers/{center_id}": {"get": {
                "operationId": "getCenter", "summary": "One center",
                "parameters": [{"name": "center_id", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1,
                                           "maximum": 2**31 - 1}}, _lang_parameter()],
                "responses": {"200": _json("CenterDetail", "the center"),
                              "404": {"$ref": "#/components/responses/NotFound"},
                              **ERRORS}}},
            "/modalities": {"get": {
                "operationId": "listModalities", "summary": "The modality tree, with counts",
                "parameters": [_lang_parameter()],
                "responses": {"200": _json("ModalityTree", "roots with their children"),
                              **ERRORS}}},
            "/places": {"get": {
                "operationId": "suggestPlaces", "summary": "Place autocomplete",
                "description": "Up to 10 places whose name starts with `q` (offline "
                               "gazetteer), most populous first: for a `near` field.",
                "parameters": [
                    {"name": "q", "in": "query", "required": True,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                     "example": "Hous"},
                    _param("limit", {"type": "integer", "minimum": 1, "maximum": 10,
                                     "default": 10}, "How many places at most.")],
                "responses": {"200": _json("PlaceSuggestions", "matching places"),
                              **ERRORS}}},
            "/openapi.json": {"get": {
                "operationId": "getOpenApi", "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {
                    "application/json": {"schema": {"type": "object"}}}}, **LIMITED}}},
        },
        "components": {
            "schemas": _schemas(),
            "responses": {
                "BadRequest": _json("Error", "a bad parameter; `field` names it"),
                "NotFound": _json("Error", "no such resource"),
                "TooManyRequests": _json("Error", "over the rate limit (per client address, "
                                                  "default 600 requests per minute)",
                                         {"Retry-After": {"description": "seconds to wait",
                                                          "schema": {"type": "string"}}}),
            },
        },
    }
