"""The admin import workflow in a real browser: sign in, upload, preview, confirm, history."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import _row, login, rows_to_csv


def test_login_upload_preview_confirm_history(page, admin_user, tmp_path):
    page.goto("/admin/")
    page.wait_for_url("**/admin/login**")
    login(page)
    expect(page.get_by_role("navigation", name="Admin")).to_be_visible()
    csv_path = tmp_path / "two-centers.csv"
    csv_path.write_bytes(rows_to_csv([
        _row(external_id="U1", name="Upload Test Cancer Center", city="Houston", region="TX",
             country="US", latitude="29.70", longitude="-95.40", modalities="chemotherapy"),
        _row(external_id="U2", name="Upload Test Hospital", city="Austin", region="TX",
             country="US", latitude="30.27", longitude="-97.74", modalities="radiotherapy"),
        _row(external_id="U3", name="", city="Nowhere", country="US"),
    ]))
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Import a file").click()
    page.get_by_label(re.compile("File", re.I)).set_input_files(str(csv_path))
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url("**/admin/imports/preview/**")
    main = page.locator("main")
    expect(main).to_contain_text("two-centers.csv")
    expect(main).to_contain_text(re.compile(r"name", re.I))
    confirm = page.get_by_role("button", name=re.compile(r"^Confirm: import 2 change"))
    expect(confirm).to_be_visible()
    confirm.click()
    page.wait_for_url(re.compile(r"/admin/imports/\d+"))
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Import history").click()
    expect(page.locator("main table")).to_contain_text("two-centers.csv")
    # The new centers are public straight away.
    page.goto("/centers?q=Upload+Test")
    expect(page.locator("#results-heading")).to_contain_text("2 centers")
