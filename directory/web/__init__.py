"""The web edge: blueprints (public pages and compare, admin, login, the JSON API with its
OpenAPI document), request parameter parsing, WTForms forms, error pages and URL converters.

The only code that reads a request and the only code that commits a session; everything it
calls (search, geo, importer, exchange, curation) takes plain values and a session.
"""
