"""Browser fixtures: a live server on the test database, Debian's Chromium driven by
Playwright, and a small data set around Houston.

Without ``/usr/bin/chromium`` (or the ``playwright`` package) these tests are skipped with a
message, except when ``CI=true``, where they fail. Every request that does not go to the live
server is answered locally (map tiles get a blank PNG), so nothing reaches the network.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from pathlib import Path

import pytest

from directory.extensions import db, limiter

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "correct horse battery"
# A 1x1 transparent PNG for every tile request.
BLANK_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082")

COLUMNS = ["external_id", "name", "alternate_names", "kind", "address", "city", "region",
           "postal_code", "country", "latitude", "longitude", "phone", "website", "email",
           "modalities", "designations", "status", "description"]


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason} (install Debian's chromium package; "
                f"they fail instead when CI=true)")


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium (Debian's package) for the whole session."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} not found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover
        _unavailable("the playwright package is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app):
    """The test app served on 127.0.0.1 (a free port) from a thread, CSRF on as in
    production; yields the base URL."""
    from werkzeug.serving import make_server

    app.config["WTF_CSRF_ENABLED"] = True
    limiter.reset()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    db.session.remove()


def _new_context(browser, base_url, **options):
    context = browser.new_context(base_url=base_url, **options)
    context.set_default_timeout(10_000)

    def route(route):
        if route.request.url.startswith(base_url):
            route.continue_()
        elif route.request.resource_type == "image":
            route.fulfill(status=200, content_type="image/png", body=BLANK_PNG)
        else:
            route.abort()

    context.route("**/*", route)
    return context


@pytest.fixture
def context_factory(browser, live_server):
    """``context_factory(**options)``: a new browser context on the live server (e.g.
    ``java_script_enabled=False``, ``viewport={...}``); closed after the test."""
    contexts = []

    def make(**options):
        options.setdefault("viewport", {"width": 1280, "height": 900})
        contexts.append(_new_context(browser, live_server, **options))
        return contexts[-1]

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(context_factory):
    """A page at 1280x900; JavaScript errors on it fail the test."""
    page = context_factory().new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert not errors, f"JavaScript errors: {errors}"


def _row(**values) -> dict:
    return {c: values.get(c, "") for c in COLUMNS}


def houston_rows() -> list[dict]:
    """26 centers: 22 in and around Houston (exact coordinates, a few only at their ZIP code
    or city), 2 in Boston, 2 in London."""
    rows = [
        _row(external_id="H1", name="Bayou Cancer Center", address="1515 Holcombe Blvd",
             city="Houston", region="TX", postal_code="77030", country="US",
             latitude="29.7073", longitude="-95.3977", phone="+17137923000",
             website="https://bayou.example.org",
             modalities="radiation therapy; chemotherapy; immunotherapy; targeted therapy",
             designations="nci-comprehensive"),
        _row(external_id="H2", name="Galleria General Hospital", address="5100 Westheimer Rd",
             city="Houston", region="TX", postal_code="77056", country="US",
             latitude="29.7390", longitude="-95.4620", phone="+17135550100",
             modalities="sbrt; chemotherapy"),
        _row(external_id="H3", name="Heights Community Hospital", city="Houston", region="TX",
             postal_code="77008", country="US", modalities="chemotherapy; surgery"),
        _row(external_id="H4", name="Pasadena Regional Medical Center", city="Pasadena",
             region="TX", country="US", modalities="radiation therapy"),
    ]
    # A ring of centers around Houston at growing distances, for sorting and pagination.
    for i in range(18):
        lat = 29.76 + 0.05 * (i + 1) * (1 if i % 2 else -1) * 0.6
        lon = -95.37 + 0.05 * (i + 1) * (1 if i % 3 else -1) * 0.6
        mods = ["chemotherapy"] if i % 3 == 0 else ["radiation therapy", "chemotherapy"] \
            if i % 3 == 1 else ["surgery"]
        rows.append(_row(external_id=f"R{i}", name=f"Ring Hospital {chr(65 + i)}",
                         city="Houston", region="TX", country="US", latitude=f"{lat:.4f}",
                         longitude=f"{lon:.4f}", modalities="; ".join(mods)))
    rows += [
        _row(external_id="B1", name="Back Bay Oncology Institute", city="Boston", region="MA",
             postal_code="02115", country="US", latitude="42.3376", longitude="-71.1077",
             modalities="radiation therapy; immunotherapy", designations="nci-comprehensive"),
        _row(external_id="B2", name="Charles River Hospital", city="Boston", region="MA",
             country="US", latitude="42.3626", longitude="-71.0695",
             modalities="chemotherapy"),
        _row(external_id="L1", name="Thames Cancer Centre", city="London", country="GB",
             latitude="51.4980", longitude="-0.1180", modalities="radiotherapy; chemotherapy"),
        _row(external_id="L2", name="St Pancras Hospital", city="London", country="GB",
             latitude="51.5350", longitude="-0.1300", modalities="surgery"),
    ]
    return rows


def rows_to_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@pytest.fixture
def centers(import_file) -> dict[str, int]:
    """The Houston data set imported through the pipeline; ``{name: id}``."""
    import sqlalchemy as sa

    from directory.models import Center

    result = import_file(rows_to_csv(houston_rows()), filename="houston.csv",
                         source="browser-test", format="native")
    assert not result.rejected, result.rejected
    return dict(db.session.execute(sa.select(Center.name, Center.id)).all())


@pytest.fixture
def admin_user(app):
    from directory.web.auth import upsert_user

    upsert_user(db.session, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    db.session.commit()
    return ADMIN_EMAIL


def login(page, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
    page.goto("/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/**")


def pytest_collection_modifyitems(config, items):
    """Mark everything here ``browser`` (``pytest -m "not browser"`` leaves it out)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
