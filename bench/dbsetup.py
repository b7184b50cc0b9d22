"""Create an empty directory database (schema via Alembic + vocabulary) at DATABASE_URL.

    DATABASE_URL=sqlite:////abs/path.sqlite python bench/dbsetup.py
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("MIGRATIONS", "1")  # the app loads Flask-Migrate only when asked

from flask_migrate import upgrade  # noqa: E402

from directory import create_app  # noqa: E402
from directory.catalog import sync_vocabulary  # noqa: E402
from directory.extensions import db  # noqa: E402


def main() -> None:
    if not os.environ.get("DATABASE_URL"):
        sys.exit("DATABASE_URL is required")
    app = create_app()
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        sync_vocabulary(db.session)
        db.session.commit()


if __name__ == "__main__":
    main()
