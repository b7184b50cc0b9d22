"""The import job's progress page in Chromium (issue 15, item 1): with JavaScript it polls
the JSON status (no page reload) and goes on to the preview when the job is done; without
JavaScript the page reloads itself (a <noscript> meta refresh) and gets there too."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from directory.jobs import make_consumer
from tests.browser.conftest import _row, login, rows_to_csv


def test_progress_page_with_and_without_javascript(app, context_factory, admin_user,
                                                   tmp_path):
    # A real queue (huey's SQLite file) whose consumer starts only when the test says so.
    app.config.update(JOBS_IMMEDIATE=False, JOBS_SQLITE_PATH=str(tmp_path / "jobs.sqlite"),
                      JOBS_QUEUE_NAME=f"browser-{time.monotonic_ns()}")
    huey = app.extensions["jobs"].huey
    csv_path = tmp_path / "progress.csv"
    csv_path.write_bytes(rows_to_csv([
        _row(external_id=f"P{i}", name=f"Progress Test Center {i}", city="Houston",
             region="TX", country="US", latitude=f"{29.70 + i / 1000:.3f}",
             longitude="-95.40", modalities="chemotherapy") for i in range(30)]))
    for javascript in (False, True):
        page = context_factory(java_script_enabled=javascript).new_page()
        login(page)
        page.goto("/admin/imports/new")
        page.get_by_label(re.compile("File", re.I)).set_input_files(str(csv_path))
        page.get_by_role("button", name="Upload and preview").click()
        page.wait_for_url("**/admin/jobs/**")
        loads = []
        page.on("load", lambda p, seen=loads: seen.append(p.url))
        expect(page.locator("h1")).to_contain_text("Preview of progress.csv")
        expect(page.locator("progress#job-bar")).to_be_visible()
        expect(page.locator("#job-stage")).to_have_text("Waiting for a job worker")
        expect(page.locator("#job-summary")).to_have_text("Waiting in the queue.")
        assert page.locator("progress#job-bar").get_attribute("value") is None
        page.wait_for_timeout(5000)
        if javascript:  # it polls the JSON status: the page is not reloaded
            assert loads == []
        else:  # it reloads itself every 2 s
            assert len(loads) >= 2 and all("/admin/jobs/" in url for url in loads)
        consumer = make_consumer(huey, 1, threaded=True)
        consumer.start()
        try:
            page.wait_for_url("**/admin/imports/preview/**", timeout=60_000)
            expect(page.locator("main")).to_contain_text("30 added")
            page.get_by_role("button", name="Cancel").click()
            page.wait_for_url("**/admin/imports/new")
        finally:
            consumer.stop(graceful=True)
