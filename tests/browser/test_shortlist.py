"""Compare -> Print in Chromium (issue 17): the comparison carries the questions for the
searched treatment, and "Print a shortlist" gives one printed page per center with the
center's contact details, what is reported, and the questions with room for the answers."""

from __future__ import annotations

import re

from playwright.sync_api import expect


def pdf_pages(data: bytes) -> int:
    """Pages of a PDF Chromium wrote (its page objects)."""
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", data))


def test_compare_then_print_shows_questions(page, centers):
    page.goto("/centers?near=Houston%2C+TX&modality=chemotherapy&per_page=5")
    boxes = page.get_by_role("checkbox", name=re.compile("^Compare"))
    for i in range(3):
        boxes.nth(i).check()
    picked = page.locator(".result h3").all_inner_texts()[:3]
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url("**/compare?**")
    questions = page.locator("section.compare-questions")
    expect(questions.get_by_role("heading", name="Chemotherapy")).to_be_visible()
    expect(questions).to_contain_text("outpatient infusion unit")
    expect(questions).to_contain_text("tumor board")       # the questions for every call
    # Another treatment's questions, chosen on the page (a plain GET form).
    page.get_by_label("Questions about").select_option("targeted-therapy")
    page.get_by_role("button", name="Show questions").click()
    expect(questions).to_contain_text("KRAS G12C")
    page.get_by_role("link", name="Print a shortlist").click()
    page.wait_for_url("**/compare/print?**")
    sheets = page.locator("article.sheet")
    expect(sheets).to_have_count(3)
    assert sheets.locator("h2").all_inner_texts() == picked
    first = sheets.first
    expect(first.get_by_role("heading", name="Targeted therapy")).to_be_visible()
    expect(first).to_contain_text("KRAS G12C")
    expect(first).to_contain_text("What is reported, and by whom")
    expect(first.locator(".badge.reported").first).to_be_visible()
    expect(page.get_by_role("button", name="Print")).to_be_visible()   # shown by the script
    bayou = sheets.filter(has_text="Bayou Cancer Center")
    expect(bayou).to_contain_text("+1 713-792-3000")                 # international format
    # Printed: no site header or navigation; one page per center, answers have room.
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator(".shortlist-intro")).to_be_hidden()
    assert first.evaluate("e => getComputedStyle(e).breakAfter") == "page"
    answer = first.locator(".answer").first
    assert answer.evaluate("e => e.getBoundingClientRect().height") > 15
    pdf = page.pdf(format="Letter")
    assert pdf[:4] == b"%PDF" and pdf_pages(pdf) == 3
