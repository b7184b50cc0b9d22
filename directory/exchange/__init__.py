"""Formats out and back: the project's CSV template (``template``: the full export, which
re-imports with ``--format native``, and the search exports) and Open Referral HSDS 3.0
tabular packages (``hsds``). No Flask: callers pass a session and get bytes or lines; every
CSV the app writes neutralises spreadsheet formulas."""
