"""Formats out and back: the project's CSV template (``template``: the full export, which
re-imports with ``--format native``, and the search exports), Open Referral HSDS 3.0
tabular packages (``hsds``), and the records export (``records``, format in
``records_file``): every source record with its claims, designations and data sources,
restored into an empty database with the same center ids. No Flask: callers pass a session
and get bytes or lines; every CSV the app writes neutralises spreadsheet formulas."""
