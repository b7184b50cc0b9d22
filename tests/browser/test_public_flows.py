"""Public pages in real Chromium: search, results, center pages, guide, facets and
pagination, the map, place autocomplete, compare, no-JavaScript use and print."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect


def distances(page) -> list[float]:
    texts = page.locator(".result .distance").all_inner_texts()
    return [float(re.search(r"([\d.]+)\s*(km|mi)", t).group(1)) for t in texts]


def test_search_by_typing_a_place_and_choosing_a_modality(page, centers):
    page.goto("/")
    near = page.get_by_role("combobox", name=re.compile("Near"))
    near.press_sequentially("Houst", delay=30)
    options = page.locator(".ac-list [role=option]")
    expect(options.first).to_be_visible()
    expect(near).to_have_attribute("aria-expanded", "true")
    # Keyboard: arrow down to the first suggestion, Enter picks it without submitting.
    near.press("ArrowDown")
    expect(near).to_have_attribute("aria-activedescendant", re.compile(r"-0$"))
    chosen = options.first.inner_text()
    assert chosen.startswith("Houston")
    near.press("Enter")
    expect(near).to_have_value(chosen)
    expect(near).to_have_attribute("aria-expanded", "false")
    assert urlparse(page.url).path == "/"
    page.get_by_label("Treatment", exact=True).select_option("radiation-therapy")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/centers?**")
    query = parse_qs(urlparse(page.url).query)
    assert query["near"] == [chosen] and query["modality"] == ["radiation-therapy"]
    heading = page.locator("#results-heading")
    expect(heading).to_contain_text("centers")
    found = distances(page)
    assert len(found) >= 5 and found == sorted(found)
    names = page.locator(".result h3").all_inner_texts()
    assert "Bayou Cancer Center" in names and "Heights Community Hospital" not in names
    # An approximate position (centre of the city) is marked as such.
    approx = page.locator(".result", has_text="Pasadena Regional").locator(".distance abbr")
    expect(approx).to_have_attribute("title", re.compile("approximate"))


def test_the_typed_text_submits_without_choosing_a_suggestion(page, centers):
    page.goto("/")
    near = page.get_by_label(re.compile("Near"))
    near.fill("Boston, MA")
    near.press("Escape")
    near.press("Enter")
    page.wait_for_url("**/centers?**")
    assert "Bad request" not in page.title()
    # best match: the designated cancer center first, then the nearest to central Boston
    expect(page.locator(".result h3").nth(0)).to_have_text("Back Bay Oncology Institute")
    expect(page.locator(".result h3").nth(1)).to_have_text("Charles River Hospital")


def test_open_a_center_and_come_back(page, centers):
    page.goto("/centers?near=Houston%2C+TX&modality=chemotherapy")
    results_url = page.url
    first = page.locator(".result h3 a").first
    name = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("heading", name="Treatments")).to_be_visible()
    page.go_back()
    assert page.url == results_url
    expect(page.locator(".result h3 a").first).to_have_text(name)


def test_guide_to_centers_and_back(page, centers):
    page.goto("/guide/")
    page.get_by_role("link", name=re.compile("^Radiation therapy")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Radiation therapy")
    guide_url = page.url
    page.get_by_role("link", name=re.compile("centers known to offer radiation")).click()
    page.wait_for_url("**/centers?modality=radiation-therapy")
    expect(page.locator("#results-heading")).to_contain_text("center")
    assert page.locator(".result").count() > 0
    page.go_back()
    assert page.url == guide_url
    # The guide's own "near" box searches with its modality.
    near = page.get_by_label("Near")
    near.fill("Houston, TX")
    page.get_by_role("button", name="Find centers").click()
    page.wait_for_url("**/centers?**")
    assert parse_qs(urlparse(page.url).query)["modality"] == ["radiation-therapy"]


def test_facets_and_pagination(page, centers):
    page.goto("/centers?near=Houston%2C+TX&per_page=5")
    total = int(re.search(r"([\d,]+) center", page.locator("#results-heading").inner_text())
                .group(1))
    facet = page.locator(".facets a", has_text="Chemotherapy")
    count = int(re.search(r"\((\d+)\)", facet.inner_text()).group(1))
    assert 0 < count < total
    facet.click()
    page.wait_for_url(re.compile("modality=chemotherapy"))
    expect(page.locator("#results-heading")).to_contain_text(f"{count} centers")
    expect(page.locator(".facets a[aria-current]")).to_contain_text("Chemotherapy")
    first_page = page.locator(".result h3").all_inner_texts()
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile("page=2"))
    expect(page.locator("#results-heading")).to_contain_text("page 2 of")
    second_page = page.locator(".result h3").all_inner_texts()
    assert second_page and not set(first_page) & set(second_page)
    assert distances(page)[0] >= max(d for d in [0.0])
    page.get_by_role("link", name="← Previous").click()
    expect(page.locator(".result h3").first).to_have_text(first_page[0])
    # Removing the facet brings every center back.
    page.locator(".facets a[aria-current]").click()
    expect(page.locator("#results-heading")).to_contain_text(f"{total} centers")


def test_map_shows_a_marker_per_result_with_popups(page, centers):
    page.goto("/centers?near=Boston&radius=50")
    details = page.locator("details.map-box")
    expect(details).to_be_visible()
    expect(details).to_have_attribute("open", "")
    pins = page.locator(".leaflet-marker-icon.pin")
    expect(pins).to_have_count(2)
    pins.first.focus()
    pins.first.press("Enter")
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_be_visible()
    link = popup.get_by_role("link")
    href = link.get_attribute("href")
    assert re.fullmatch(r"/centers/\d+", href)
    expect(link).to_be_visible()
    link.click()  # (the popup may still be panning the map into view: a longer wait)
    page.wait_for_url(re.compile(r"/centers/\d+$"), timeout=20_000)


def test_map_clusters_many_results_and_marks_approximate_positions(page, centers):
    page.goto("/centers?near=Houston%2C+TX&radius=200&per_page=50")
    expect(page.locator(".leaflet-marker-icon").first).to_be_visible()
    on_map = 0
    for text in page.locator(".marker-cluster").all_inner_texts():
        on_map += int(re.match(r"\d+", text.strip()).group(0))
    on_map += page.locator(".leaflet-marker-icon.pin").count()
    assert on_map == page.locator(".result").count() == 22
    assert page.locator(".marker-cluster").count() >= 1
    # Zoom all the way in on the approximate ones: they carry their own look and title.
    page.goto("/centers?near=Houston%2C+TX&q=Heights")
    pin = page.locator(".leaflet-marker-icon.pin-approx")
    expect(pin).to_have_attribute("title", re.compile(r"approximate position"))
    pin.click()
    expect(page.locator(".leaflet-popup-content")).to_contain_text("Approximate position")


def test_center_page_map_and_nearest(page, centers):
    page.goto(f"/centers/{centers['Bayou Cancer Center']}")
    expect(page.locator(".leaflet-marker-icon.pin-current")).to_have_count(1)
    expect(page.get_by_role("heading", name="Nearest other centers")).to_be_visible()


def test_map_draws_markers_without_tiles(app, page, centers):
    """``MAP_TILE_URL=`` (empty) draws markers on a blank map: no tile requests, no
    "Map has no maxZoom specified" from the cluster layer (which drew nothing)."""
    app.config["MAP_TILE_URL"] = ""
    tiles = []
    page.on("request", lambda r: tiles.append(r.url) if r.resource_type == "image"
            and "/static/" not in r.url else None)
    page.goto("/centers?near=Houston%2C+TX&radius=200&per_page=50")
    expect(page.locator(".leaflet-marker-icon").first).to_be_visible()
    assert page.locator(".marker-cluster").count() >= 1
    assert page.locator(".leaflet-tile").count() == 0
    page.goto(f"/centers/{centers['Bayou Cancer Center']}")
    expect(page.locator(".leaflet-marker-icon.pin-current")).to_have_count(1)
    assert tiles == []


def test_pages_work_without_tiles_or_javascript(context_factory, centers):
    page = context_factory(java_script_enabled=False).new_page()
    page.goto("/")
    page.get_by_label(re.compile("Near")).fill("Houston, TX")
    page.get_by_label("Treatment", exact=True).select_option("chemotherapy")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/centers?**")
    assert page.locator(".result").count() >= 5
    expect(page.locator("details.map-box")).to_be_hidden()
    # best match: the designated center first, then the others nearest first
    assert page.locator(".result h3").first.inner_text() == "Bayou Cancer Center"
    assert distances(page)[1:] == sorted(distances(page)[1:])
    # Compare without JavaScript: tick three, submit the plain form.
    boxes = page.get_by_role("checkbox", name=re.compile("^Compare"))
    for i in range(3):
        boxes.nth(i).check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url("**/compare?**")
    expect(page.locator("table.compare thead th")).to_have_count(3)
    expect(page.get_by_role("row", name=re.compile("^Distance from Houston"))).to_be_visible()
    # A center page, the guide and the facets are plain links.
    page.locator("table.compare thead th a").first.click()
    expect(page.get_by_role("heading", name="Treatments")).to_be_visible()
    page.goto("/centers?near=Houston%2C+TX")
    page.locator(".facets a", has_text="Surgery").click()
    assert "modality=surgery" in page.url


def test_compare_three_centers(page, centers):
    page.goto("/centers?near=Houston%2C+TX&per_page=5")
    boxes = page.get_by_role("checkbox", name=re.compile("^Compare"))
    boxes.nth(0).check()
    boxes.nth(1).check()
    picked = page.locator(".result h3").all_inner_texts()[:2]
    status = page.locator("[data-compare-status]")
    expect(status).to_contain_text("2 of 3 chosen")
    # The shortlist survives going to the next page.
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile("page=2"))
    expect(status).to_contain_text("2 of 3 chosen")
    boxes.nth(0).check()
    picked.append(page.locator(".result h3").first.inner_text())
    expect(status).to_contain_text("3 of 3 chosen")
    expect(boxes.nth(1)).to_be_disabled()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url("**/compare?**")
    query = parse_qs(urlparse(page.url).query)
    assert len(query["ids"][0].split(",")) == 3 and query["near"] == ["Houston, TX"]
    headers = page.locator("table.compare thead th a:not(.remove)").all_inner_texts()
    assert headers == picked
    for row in ("Distance from Houston", "Address", "Phone", "Designations", "Chemotherapy"):
        expect(page.get_by_role("row", name=re.compile("^" + row))).to_be_visible()
    expect(page.locator("table.compare .badge.reported").first).to_be_visible()
    # The URL is the whole state: opened fresh, it shows the same comparison.
    shared = page.url
    fresh = page.context.new_page()
    fresh.goto(shared)
    assert fresh.locator("table.compare thead th a:not(.remove)").all_inner_texts() == picked
    # Remove one.
    page.get_by_role("link", name=re.compile(f"Remove {re.escape(picked[0])}")).click()
    expect(page.locator("table.compare thead th")).to_have_count(2)


def test_compare_from_a_center_page_and_inferred_provenance(page, centers):
    page.goto(f"/centers/{centers['Bayou Cancer Center']}")
    page.get_by_role("checkbox", name=re.compile("Add to comparison")).check()
    page.goto(f"/centers/{centers['Galleria General Hospital']}")
    page.get_by_role("checkbox", name=re.compile("Add to comparison")).check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url("**/compare?ids=*")
    expect(page.locator("table.compare thead th")).to_have_count(2)
    expect(page.get_by_role("row", name=re.compile("^Designations"))).to_contain_text(
        "NCI-Designated Comprehensive")
    expect(page.get_by_role("row", name=re.compile("^— Stereotactic"))).to_contain_text("reported")


def test_compare_url_limits_and_errors(page, centers):
    ids = ",".join(str(i) for i in list(centers.values())[:4])
    page.goto(f"/compare?ids={ids}")
    expect(page.locator("table.compare thead th")).to_have_count(3)
    expect(page.get_by_role("status").first).to_contain_text("up to 3")
    response = page.goto("/compare?ids=abc")
    assert response.status == 400
    expect(page.locator("main")).to_contain_text("ids")
    page.goto("/compare")
    expect(page.locator("main")).to_contain_text("Choose up to 3 centers")


def test_print_stylesheet(page, centers):
    page.emulate_media(media="print")
    checks = {
        "/centers?near=Houston%2C+TX": ".result h3 a",
        f"/centers/{centers['Bayou Cancer Center']}": "dl.facts a[href^=http]",
        "/compare?ids={}&near=Houston".format(
            ",".join(str(centers[n]) for n in ("Bayou Cancer Center", "Ring Hospital A",
                                                "Galleria General Hospital"))):
            "table.compare thead th a:not(.remove)",
    }
    for url, link_selector in checks.items():
        page.goto(url)
        for hidden in (".site-header nav", "form.search", ".facets", ".pagination",
                       ".map-box", ".compare-bar", ".compare-pick", ".skip"):
            for element in page.locator(hidden).all():
                expect(element).to_be_hidden()
        expect(page.locator(".print-only")).to_be_visible()
        link = page.locator(link_selector).first
        after = link.evaluate("a => getComputedStyle(a, '::after').content")
        assert link.get_attribute("href") in after and after.startswith('" <http'), after
        assert page.pdf(format="A4")[:4] == b"%PDF"


def test_api_docs_render_the_interactive_reference(page, centers):
    """Swagger UI starts from a script file: the Content-Security-Policy (no inline
    script) once left /api/docs with its static table only."""
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto("/api/docs")
    expect(page.locator("#swagger-ui .opblock").first).to_be_visible(timeout=10_000)
    expect(page.locator("#swagger-ui")).to_contain_text("Oncology center directory API")
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_sort_and_kind_controls(page, import_file, centers):
    """Issue 14: the sort control (best match, distance, name) and the kind control keep
    their choice in the URL; psychiatric hospitals appear only when asked for."""
    from tests.browser.conftest import _row, rows_to_csv

    import_file(rows_to_csv([_row(external_id="P1", name="Bayou Behavioral Hospital",
                                  kind="psychiatric", city="Houston", region="TX",
                                  country="US", latitude="29.7605", longitude="-95.3700")]),
                filename="psych.csv", source="browser-psych", format="native")
    page.goto("/centers?near=29.76,-95.37&radius=60")
    names = page.locator(".result h3").all_inner_texts()
    assert names[0] == "Bayou Cancer Center"  # best match: the designated center first
    assert "Bayou Behavioral Hospital" not in names
    expect(page.locator(".sort-control [aria-current=true]")).to_have_text("Best match")
    page.locator(".sort-control").get_by_role("link", name="Distance").click()
    page.wait_for_url("**sort=distance**")
    found = distances(page)
    assert found == sorted(found)
    # The kind control, in "More filters", keeps the order chosen
    page.locator("details.more summary").click()
    page.get_by_label("Kind of center").select_option("all")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**kind=all**")
    assert "sort=distance" in page.url
    assert page.locator(".result h3").first.inner_text() == "Bayou Behavioral Hospital"
    expect(page.locator(".result", has_text="Bayou Behavioral Hospital")
           .locator(".kind")).to_have_text("Psychiatric hospital")
    page.get_by_role("link", name="Only hospitals and centers that treat cancer").click()
    expect(page.locator(".result", has_text="Bayou Behavioral Hospital")).to_have_count(0)
    page.locator(".sort-control").get_by_role("link", name="Name").click()
    names = page.locator(".result h3").all_inner_texts()
    assert names == sorted(names, key=str.casefold)
