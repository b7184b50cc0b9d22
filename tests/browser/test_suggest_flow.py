"""Suggested updates in a real browser (issue 17): a visitor suggests without JavaScript,
an editor reviews; accept -> shown on the center page with its provenance, and reject ->
the visitor's page says why. Plus axe-core on the new pages and, with
``SUGGEST_SCREENSHOTS=<dir>``, screenshots of the form, the confirmation and the queue."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.test_accessibility import AXE, AXE_OPTIONS, check

TODAY = dt.date.today().isoformat()
SHOTS = os.environ.get("SUGGEST_SCREENSHOTS")


def shoot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def send_suggestion(context_factory, center_id: int, fill) -> str:
    """Open the center page with JavaScript off, follow "Suggest an update", fill the form
    with ``fill(page)``, send it; returns the confirmation page's URL."""
    page = context_factory(java_script_enabled=False).new_page()
    page.goto(f"/centers/{center_id}")
    page.get_by_role("link", name="Suggest an update").click()
    page.wait_for_url(f"**/centers/{center_id}/suggest")
    expect(page.get_by_role("heading", name="Suggest an update")).to_be_visible()
    fill(page)
    shoot(page, "suggest-form")
    page.get_by_role("button", name="Send the suggestion").click()
    page.wait_for_url("**/suggestions/**")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you: your suggestion was received")
    shoot(page, "suggest-confirmation")
    return page.url


def test_suggest_review_accept_shows_it_with_its_provenance(context_factory, centers,
                                                           admin_user):
    center_id = centers["Heights Community Hospital"]

    def fill(page):
        page.get_by_label("I work at this center").check()
        page.locator("fieldset", has_text="Treatments").get_by_label(
            "Immunotherapy").first.check()
        page.get_by_label("Where the treatments are stated (a link, optional)").fill(
            "https://heights.example.org/oncology")
        page.get_by_label("Phone number", exact=True).fill("(713) 555-0142")
        page.get_by_label("It is temporarily closed").check()
        page.get_by_label("Your email, if an editor may ask you a question (optional)").fill(
            "navigator@example.org")

    sent = send_suggestion(context_factory, center_id, fill)
    visitor = context_factory().new_page()
    visitor.goto(f"/centers/{center_id}")  # nothing public yet
    expect(visitor.locator("main")).not_to_contain_text("555-0142")
    expect(visitor.locator("#updates").locator("..")).not_to_contain_text("reviewed on")

    page = context_factory().new_page()
    login(page)
    page.goto("/admin/")
    page.get_by_role("link", name="1 open suggestion").click()
    expect(page.locator("main table")).to_contain_text("Heights Community Hospital")
    shoot(page, "review-queue")
    page.get_by_role("link", name=re.compile(r"^#\d+$")).first.click()
    main = page.locator("main")
    expect(main).to_contain_text("navigator@example.org")
    expect(main).to_contain_text("+1 713-555-0142")
    shoot(page, "review-detail")
    page.get_by_label("Phone to accept").fill("+1 713 555 0143")  # corrected before accepting
    page.get_by_role("button", name="Accept the ticked items").click()
    expect(page.locator("main")).to_contain_text("accepted (3 of 3 item(s))")

    visitor.goto(f"/centers/{center_id}")
    main = visitor.locator("main")
    label = f"Reported by someone at the center, reviewed on {TODAY}"
    expect(main.locator("dd", has_text="+1 713-555-0143")).to_contain_text(label)
    expect(main.locator("dd", has_text="Temporarily closed")).to_contain_text(label)
    expect(main.locator(".claims")).to_contain_text("Immunotherapy")
    updates = main.locator("section[aria-labelledby=updates]")
    expect(updates).to_contain_text(label)
    expect(updates.get_by_role("link", name="where this is stated")).to_have_attribute(
        "href", "https://heights.example.org/oncology")
    shoot(visitor, "center-with-accepted-update")
    visitor.goto(sent)
    expect(visitor.locator("main")).to_contain_text("Accepted on " + TODAY)


def test_suggest_then_reject_with_a_reason(context_factory, centers, admin_user):
    center_id = centers["Galleria General Hospital"]

    def fill(page):
        page.get_by_label("I am a patient or a family member").check()
        page.get_by_label("Website", exact=True).fill("galleria-cheap-pills.example.com")

    sent = send_suggestion(context_factory, center_id, fill)
    page = context_factory().new_page()
    login(page)
    page.goto("/admin/suggestions/")
    page.get_by_role("link", name=re.compile(r"^#\d+$")).first.click()
    page.get_by_label("Reason for rejecting the whole suggestion (required)").fill(
        "Not the hospital's website.")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("main")).to_contain_text("rejected")
    page.get_by_role("link", name=re.compile(r"^Rejected \(1\)")).click()
    expect(page.locator("main table")).to_contain_text("Galleria General Hospital")

    visitor = context_factory(java_script_enabled=False).new_page()
    visitor.goto(sent)
    expect(visitor.locator("main")).to_contain_text("Not the hospital's website.")
    visitor.goto(f"/centers/{center_id}")
    expect(visitor.locator("main")).not_to_contain_text("cheap-pills")


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                    reason="accessibility checks run on the SQLite pass only")
def test_axe_on_the_suggestion_pages(context_factory, centers, admin_user):
    center_id = centers["Bayou Cancer Center"]
    page = context_factory().new_page()
    problems = check(page, f"/centers/{center_id}/suggest")
    page.get_by_role("button", name="Send the suggestion").click()  # errors shown
    page.wait_for_load_state("load")
    expect(page.locator("main")).to_contain_text("The suggestion was not sent")
    shoot(page, "suggest-form-errors")
    problems += [f"form with errors: {v['id']}: {[n['target'] for n in v['nodes']][:3]}"
                 for v in AXE.run(page, options=AXE_OPTIONS).response["violations"]]
    page.get_by_label("I work at this center").check()
    page.get_by_label("Phone number", exact=True).fill("7135550100")
    page.get_by_role("button", name="Send the suggestion").click()
    page.wait_for_url("**/suggestions/**")
    problems += check(page, page.url)
    login(page)
    problems += check(page, "/admin/suggestions/")
    page.goto("/admin/suggestions/")
    page.get_by_role("link", name=re.compile(r"^#\d+$")).first.click()
    problems += check(page, page.url)
    assert not problems, "\n".join(problems)
