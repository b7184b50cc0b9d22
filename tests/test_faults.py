"""Faults: an import killed with SIGKILL part-way leaves the database exactly as before and
the next import works; a read-only database gives a clear error and no corruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from directory.extensions import db
from directory.models import Center
from tests.conftest import GAZETTEER_PATH, ROOT
from tests.test_fuzz import table_checksum


def big_csv(path, rows: int, prefix: str = "Kill Test") -> None:
    cities = [("Boston", "MA", "02115"), ("Houston", "TX", "77030"), ("Denver", "CO", "80202"),
              ("Chicago", "IL", "60611"), ("Seattle", "WA", "98101")]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("external_id,name,city,region,postal_code,country,modalities\n")
        for i in range(rows):
            city, region, zip_code = cities[i % len(cities)]
            fh.write(f"K{i},{prefix} Center {i},{city},{region},{zip_code},US,"
                     f"chemotherapy;radiation therapy\n")


def flask(database_url, *args, **kwargs):
    env = {**os.environ, "DATABASE_URL": database_url, "GAZETTEER_PATH": str(GAZETTEER_PATH),
           "SECRET_KEY": "fault-test"}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "directory", *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            **kwargs)


def _count(source: str) -> int:
    db.session.remove()
    return db.session.scalar(sa.select(sa.func.count(Center.id)).where(Center.source == source))


def test_sigkill_during_import_is_all_or_nothing(app, database_url, tmp_path, make_center):
    """An import killed at 30 %, 60 % and 90 % of its usual duration (reading, validating,
    writing) leaves the database exactly as before, or -- killed after its commit -- holds
    the whole file: never part of it. The next import works and commits everything."""
    make_center("Already here", 42.0, -71.0)
    rows = 20_000
    timing = tmp_path / "timing.csv"
    big_csv(timing, rows, "Timing")
    started = time.perf_counter()
    uncut = flask(database_url, "import-centers", str(timing), "--source", "timing")
    _, err = uncut.communicate(timeout=600)
    assert uncut.returncode == 0, err.decode()[-2000:]
    duration = time.perf_counter() - started
    killed = 0
    for n, fraction in enumerate((0.3, 0.6, 0.9)):
        path = tmp_path / f"kill{n}.csv"
        big_csv(path, rows, f"Kill {n}")
        db.session.remove()
        before = table_checksum()
        proc = flask(database_url, "import-centers", str(path), "--source", f"kill{n}")
        time.sleep(duration * fraction)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        count = _count(f"kill{n}")
        if proc.returncode == -signal.SIGKILL:
            killed += 1
            assert count in (0, rows), (fraction, count)
            if count == 0:
                assert table_checksum() == before, fraction
        else:
            assert proc.returncode == 0 and count == rows, (fraction, proc.returncode, count)
    assert killed >= 2, "the imports finished before the kills: use a larger file"
    small = tmp_path / "small.csv"
    big_csv(small, 2_000, "Small")
    again = flask(database_url, "import-centers", str(small), "--source", "again")
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err.decode()[-2000:]
    assert _count("again") == 2_000


def test_read_only_database_gives_a_clear_error(app, database_url, tmp_path, make_center):
    if not database_url.startswith("sqlite"):
        return  # a read-only PostgreSQL needs a role; the SQLite case covers the message
    make_center("Already here", 42.0, -71.0)
    before = table_checksum()
    path = tmp_path / "one.csv"
    path.write_text("name,city,country\nNew Place,Boston,US\n", encoding="utf-8")
    ro_url = "sqlite:///file:" + database_url.removeprefix("sqlite:///") + "?mode=ro&uri=true"
    proc = flask(ro_url, "import-centers", str(path))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, (out, err)
    assert b"read-only" in err
    db.session.remove()
    assert table_checksum() == before
