"""WCAG 2.1 AA checks with axe-core on every public and admin page, at 1280 px and 375 px;
no sideways scrolling on a phone; keyboard use and visible focus."""

from __future__ import annotations

import os
import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.conftest import login

# Pages, CSS and scripts do not depend on the database: these checks run on the SQLite pass
# only; the user flows (test_public_flows, test_admin_flow) run on both databases.
pytestmark = pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                                reason="accessibility checks run on the SQLite pass only")
AXE = Axe()
# Every axe rule (WCAG 2.0/2.1 A and AA, best practices); 0 violations allowed.
AXE_OPTIONS = {"resultTypes": ["violations"]}


def public_pages(centers) -> list[str]:
    ids = list(centers.values())
    bayou = centers["Bayou Cancer Center"]
    return [
        "/", "/guide/", "/guide/radiation-therapy", "/guide/immunotherapy", "/about",
        "/centers", "/centers?near=Houston%2C+TX&modality=radiation-therapy",
        "/centers?near=Houston%2C+TX&radius=200&per_page=50",
        "/centers?near=Springfield", "/centers?near=Nowhereville+Zzzz",
        "/centers?modality=proton-therapy", f"/centers/{bayou}",
        f"/centers/{centers['Heights Community Hospital']}",
        f"/compare?ids={ids[0]},{ids[1]},{ids[2]}&near=Houston",
        f"/compare/print?ids={ids[0]},{ids[1]},{ids[2]}&near=Houston&modality=immunotherapy",
        "/centers?near=Houston%2C+TX&modality=immunotherapy",
        "/compare", "/centers/999999", "/centers?page=x",
    ]


def admin_pages(center_id: int) -> list[str]:
    return ["/admin/", "/admin/imports", "/admin/imports/new", "/admin/centers",
            f"/admin/centers/{center_id}/edit", f"/admin/centers/{center_id}/history",
            "/admin/duplicates", "/admin/users"]


OVERFLOWING = """() => [...document.querySelectorAll('body *')].filter(e =>
    (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible')
    || e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(-3).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').trim()
    .slice(0, 40))"""


def settle(page, url: str) -> None:
    """Open ``url`` and wait until the scripts have run (the map is drawn when open)."""
    page.goto(url)
    page.wait_for_load_state("load")
    if page.locator("details.map-box[open]").count():
        page.locator(".leaflet-marker-icon").first.wait_for()


def sideways(page, url: str, width: int) -> list[str]:
    settle(page, url)
    if page.locator("details.map-box").count():
        page.locator("details.map-box summary").click()
    scroll = page.evaluate("document.documentElement.scrollWidth")
    return [f"{url}: {scroll}px {page.evaluate(OVERFLOWING)}"] if scroll > width else []


def check(page, url: str) -> list[str]:
    settle(page, url)
    results = AXE.run(page, options=AXE_OPTIONS)
    problems = []
    for violation in results.response["violations"]:
        targets = [", ".join(map(str, node["target"])) for node in violation["nodes"]][:3]
        problems.append(f"{url}: {violation['id']} ({violation['impact']}): {targets}")
    return problems


def test_axe_public_pages(context_factory, centers):
    problems = []
    for width in (1280, 375):
        page = context_factory(viewport={"width": width, "height": 800}).new_page()
        for url in public_pages(centers):
            problems += check(page, url)
        # With the map and an autocomplete list open.
        page.goto("/centers?near=Houston%2C+TX")
        page.locator("details.map-box summary").click() if width < 500 else None
        combo = page.get_by_role("combobox", name=re.compile("Near"))
        combo.fill("")
        combo.press_sequentially("Hous", delay=20)
        expect(page.locator(".ac-list [role=option]").first).to_be_visible()
        problems += [p + " [autocomplete open]" for p in
                     (lambda r: [f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}"
                                 for v in r.response["violations"]])(
                         AXE.run(page, options=AXE_OPTIONS))]
    assert not problems, "\n".join(problems)


def test_axe_admin_pages(context_factory, centers, admin_user, import_file):
    from tests.browser.conftest import houston_rows, rows_to_csv

    # One import run for the history and its detail page, and a pending preview.
    rows = houston_rows()[:2]
    rows[0]["name"] += " (copy)"
    page = context_factory().new_page()
    login(page)
    problems = []
    center_id = centers["Bayou Cancer Center"]
    for url in admin_pages(center_id):
        problems += check(page, url)
    page.goto("/admin/imports/new")
    page.set_input_files("input[type=file]", files=[{
        "name": "mixed.csv", "mimeType": "text/csv",
        "buffer": rows_to_csv(rows) + b",No name,,,,Nowhere,,,US,,,,,,,,,\n"}])
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url("**/preview/**")
    problems += check(page, page.url)
    page.get_by_role("button", name=re.compile("^Confirm")).click()
    page.wait_for_url(re.compile(r"/admin/imports/\d+"))
    problems += check(page, page.url)
    problems += check(page, "/admin/login")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", [375])
def test_no_page_scrolls_sideways_on_a_phone(context_factory, centers, admin_user, width):
    page = context_factory(viewport={"width": width, "height": 800}, is_mobile=True,
                           has_touch=True).new_page()
    wide = []
    for url in public_pages(centers):
        wide += sideways(page, url, width)
    login(page)
    for url in admin_pages(centers["Bayou Cancer Center"]):
        wide += sideways(page, url, width)
    assert not wide, "\n".join(wide)


def test_tap_targets_are_large_enough_on_a_phone(context_factory, centers):
    """Buttons, form controls and stand-alone links are at least 24x24 CSS px (WCAG 2.2
    target size minimum; most are 44 px); links inside sentences are exempt."""
    page = context_factory(viewport={"width": 375, "height": 800}, is_mobile=True,
                           has_touch=True).new_page()
    small = []
    for url in ("/", "/centers?near=Houston%2C+TX&per_page=5",
                f"/centers/{centers['Bayou Cancer Center']}"):
        page.goto(url)
        small += page.evaluate("""() => [...document.querySelectorAll(
            'button, select, input:not([type=hidden]), summary, .site-header a, .facets a, '
            + '.pagination a, .result h3 a, .compare-pick label')]
          .filter(e => e.offsetParent !== null)
          .map(e => [e, e.getBoundingClientRect()])
          .filter(([e, r]) => r.height < 24 || r.width < 24)
          .map(([e, r]) => `${location.pathname}: ${e.tagName} ${e.textContent.trim()
              .slice(0, 30)} ${Math.round(r.width)}x${Math.round(r.height)}`)""")
    assert not small, small


def test_keyboard_only_search_and_visible_focus(page, centers):
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    # Tab to the place field, type, choose a suggestion, Tab on to the treatment, submit.
    near = page.get_by_role("combobox", name=re.compile("Near"))
    for _ in range(10):
        page.keyboard.press("Tab")
        if near.evaluate("e => e === document.activeElement"):
            break
    expect(near).to_be_focused()
    assert near.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
    page.keyboard.type("Bosto")
    expect(page.locator(".ac-list [role=option]").first).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(near).to_have_value(re.compile("^Boston"))
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    treatment = page.get_by_label("Treatment", exact=True)
    expect(treatment).to_be_focused()
    treatment.select_option("radiation-therapy")
    page.keyboard.press("Tab")  # the "More filters" disclosure
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Search")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**/centers?**")
    expect(page.locator(".result h3").first).to_have_text("Back Bay Oncology Institute")
    # Tab reaches a result's compare box and the map's zoom control.
    page.locator(".result h3 a").first.focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("checkbox", name=re.compile("Compare Back Bay"))).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator("[data-compare-status]")).to_contain_text("1 of 3 chosen")


def test_language_and_labels(page, centers):
    for url in ("/", "/centers?near=Houston", "/compare"):
        page.goto(url)
        assert page.evaluate("document.documentElement.lang") == "en"
        unlabeled = page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), select, textarea')].filter(e => !e.labels.length
            && !e.getAttribute('aria-label')).map(e => e.name)""")
        assert not unlabeled, (url, unlabeled)
