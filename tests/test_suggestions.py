"""Suggested updates (issue 17 items 2 and 3): the public form and its spam limits, the
visitor's confirmation page and withdrawal, and the editors' review queue: accept (all,
some, edited), reject with a reason, undo; provenance on the center page; the audit log."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa

from directory.extensions import db, limiter
from directory.models import (
    Center,
    ChangeRecord,
    SourceRecord,
    Suggestion,
)
from directory.web.auth import upsert_user

PASSWORD = "correct horse battery"
TODAY = dt.date.today().isoformat()


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    limiter.reset()


@pytest.fixture
def center(make_center):
    """A Houston hospital from one source (dataset of 2026-01-01), reporting chemotherapy."""
    return make_center("Bayou General Hospital", 29.70, -95.40, city="Houston",
                       region="US-TX", postal_code="77030", address="1 Old Road",
                       phone="+17135550100", website="https://old.example.org",
                       modalities=["chemotherapy"], source="test", external_id="T1")


def suggest(client, center_id, **fields):
    data = {"role": "center"}
    data.update(fields)
    return client.post(f"/centers/{center_id}/suggest", data=data)


@pytest.fixture
def editor(client):
    upsert_user(db.session, "editor@example.org", PASSWORD, "editor")
    db.session.commit()
    response = client.post("/admin/login", data={"email": "editor@example.org",
                                                  "password": PASSWORD})
    assert response.status_code == 302
    return client


def stored() -> list[Suggestion]:
    return db.session.scalars(sa.select(Suggestion).order_by(Suggestion.id)).all()


def test_center_page_links_to_the_form_and_the_form_works_without_javascript(client, center):
    page = client.get(f"/centers/{center.id}")
    assert f'href="/centers/{center.id}/suggest"'.encode() in page.data
    form = client.get(f"/centers/{center.id}/suggest")
    assert form.status_code == 200
    html = form.data.decode()
    assert '<form method="post"' in html and 'type="submit"' in html
    for name in ("role", "offers", "no_longer_offers", "treatments_link", "phone", "website",
                 "address", "city", "postal_code", "status", "email", "homepage"):
        assert f'name="{name}"' in html, name
    assert 'class="hp" aria-hidden="true"' in html  # the honeypot is off screen
    assert client.get("/centers/999999/suggest").status_code == 404


def test_a_suggestion_is_stored_and_nothing_is_public_until_accepted(client, center):
    response = suggest(client, center.id, role="patient", phone="(713) 555-0199",
                       phone_link="https://bayou.example.org/contact",
                       website="bayou.example.org", offers=["immunotherapy"],
                       status="closed", email="family@example.org",
                       comment="Their new number is on the door.")
    assert response.status_code == 303
    (s,) = stored()
    assert (s.status, s.reporter_role, s.email, s.center_id) == (
        "open", "patient", "family@example.org", center.id)
    items = {(i.kind, i.value, i.link) for i in s.items}
    assert items == {("phone", "+17135550199", "https://bayou.example.org/contact"),
                     ("website", "https://bayou.example.org", None),
                     ("offers", "immunotherapy", None), ("status", "closed", None)}
    assert response.headers["Location"].endswith(f"/suggestions/{s.token}")
    sent = client.get(response.headers["Location"]).data.decode()
    assert "Thank you: your suggestion was received" in sent
    assert "Nothing changes on the center" in sent and "+1 713-555-0199" in sent
    assert "Withdraw this suggestion" in sent
    page = client.get(f"/centers/{center.id}").data.decode()
    shown = page.split('id="questions"')[0]  # the questions to ask list every unreported one
    assert "555-0199" not in page and "Immunotherapy" not in shown and "Closed" not in page
    db.session.expire_all()
    fresh = db.session.get(Center, center.id)
    assert (fresh.phone, fresh.status) == ("+17135550100", "active")
    assert [r.source for r in fresh.records] == ["test"]
    audit = db.session.scalars(sa.select(ChangeRecord).where(
        ChangeRecord.action == "suggest")).all()
    assert [a.after for a in audit] == [
        f"suggestion #{s.id} received from a patient or family member: phone, website, "
        f"status, offers"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"role": ""}, "Say who you are"),
    ({"role": "robot", "phone": "7135550199"}, "Not a valid choice"),
    ({}, "Tell us at least one thing to update"),
    ({"phone": "12"}, "This is not a phone number we can read"),
    ({"phone": "call us"}, "This is not a phone number we can read"),
    ({"website": "javascript:alert(1)"}, "This is not a web address"),
    ({"website": "https://"}, "This is not a web address"),
    ({"phone": "7135550199", "phone_link": "ftp://example.org/x"}, "This is not a web address"),
    ({"phone_link": "https://example.org/x"}, "This link goes with a change"),
    ({"phone": "7135550199", "email": "not-an-address"}, "This is not an email address"),
    ({"phone": "7135550199", "comment": "<script>alert(1)</script>"}, "plain text only"),
    ({"phone": "7135550199", "comment": "<b>bold</b> claim"}, "plain text only"),
    ({"address": "<a href=x>12 Main</a>", "city": "Houston"}, "plain text only"),
    ({"phone": "7135550199", "comment": "x" * 1001}, "the most is 1,000"),
    ({"phone": "7135550199", "comment": "x" * 200_000}, "the most is 1,000"),
    ({"address": "x" * 501, "city": "Houston"}, "the most is 500"),
    ({"address": "12 Main St"}, "Give the city with the address"),
    ({"city": "Houston", "postal_code": "ABCDE-XYZ"}, "This is not a US ZIP code"),
    ({"city": "H" * 121}, "the most is 120"),
    ({"offers": ["warp-drive"]}, "Choose treatments from the list"),
    ({"offers": ["sbrt"], "no_longer_offers": ["sbrt"]}, "cannot be both offered and no"),
    ({"status": "exploded"}, "Choose one of the listed answers"),
    ({"website": "https://example.org/" + "a" * 600}, "the most is 500"),
])
def test_each_bad_input_is_a_400_with_its_message_and_stores_nothing(client, center, fields,
                                                                     message):
    response = suggest(client, center.id, **fields)
    assert response.status_code == 400
    html = response.data.decode()
    assert message in html
    assert "The suggestion was not sent" in html
    assert stored() == []


def test_the_form_keeps_what_was_typed_after_an_error(client, center):
    response = suggest(client, center.id, phone="12", website="bayou.example.org",
                       comment="see the sign")
    assert response.status_code == 400
    html = response.data.decode()
    assert 'value="bayou.example.org"' in html and "see the sign" in html
    assert 'aria-invalid="true"' in html


def test_the_honeypot_refuses_the_form_and_counts_against_the_limit(app, client, center):
    app.config["SUGGEST_RATE_LIMIT"] = "2 per hour"
    for _ in range(2):
        response = suggest(client, center.id, phone="7135550199", homepage="http://spam.example")
        assert response.status_code == 400
        assert b"This field must stay empty" in response.data
    assert stored() == []
    assert suggest(client, center.id, phone="7135550199").status_code == 429


def test_the_rate_limit_counts_stored_suggestions_per_address(app, client, center):
    app.config["SUGGEST_RATE_LIMIT"] = "3 per hour"
    assert suggest(client, center.id, phone="12").status_code == 400  # a typo: not counted
    for _ in range(3):
        assert suggest(client, center.id, phone="7135550199").status_code == 303
    blocked = suggest(client, center.id, phone="7135550199")
    assert blocked.status_code == 429
    assert b"Too many suggestions from your address" in blocked.data
    assert len(stored()) == 3
    other = app.test_client()  # another address is not limited by this one
    response = other.post(f"/centers/{center.id}/suggest", data={
        "role": "other", "phone": "7135550199"}, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert response.status_code == 303
    assert client.get(f"/centers/{center.id}/suggest").status_code == 200  # GET is free


def test_the_form_needs_its_csrf_token(app, client, center):
    app.config["WTF_CSRF_ENABLED"] = True
    response = suggest(client, center.id, phone="7135550199")
    assert response.status_code == 400
    assert stored() == []
    page = client.get(f"/centers/{center.id}/suggest").data.decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert suggest(client, center.id, phone="7135550199",
                   csrf_token=token).status_code == 303


def test_withdraw_by_the_sender_and_look_it_up(client, center, editor):
    response = suggest(client, center.id, website="https://new.example.org")
    (s,) = stored()
    url = response.headers["Location"]
    assert client.post(url + "/withdraw").status_code == 303
    db.session.expire_all()
    assert stored()[0].status == "withdrawn"
    assert b"Withdrawn." in client.get(url).data
    assert client.post(url + "/withdraw").status_code == 400  # only an open one
    assert client.get("/suggestions/not-a-token").status_code == 404
    assert client.get("/suggestions/" + "x" * 300).status_code == 404
    listed = client.get("/admin/suggestions/?status=withdrawn").data.decode()
    assert f"#{s.id}" in listed and "Bayou General Hospital" in listed
    assert f"#{s.id}" not in client.get("/admin/suggestions/").data.decode()  # not open
    audit = db.session.scalar(sa.select(ChangeRecord).where(ChangeRecord.action == "withdraw"))
    assert audit.center_id == center.id and f"suggestion #{s.id} withdrawn" in audit.after


def test_queue_needs_an_editor_and_a_known_status(client, center):
    assert client.get("/admin/suggestions/").status_code == 302  # to the login
    upsert_user(db.session, "e@example.org", PASSWORD, "editor")
    db.session.commit()
    client.post("/admin/login", data={"email": "e@example.org", "password": PASSWORD})
    assert client.get("/admin/suggestions/?status=bogus").status_code == 400
    assert client.get("/admin/suggestions/424242").status_code == 404


def _suggestion(client, center, **fields) -> Suggestion:
    assert suggest(client, center.id, **fields).status_code == 303
    return stored()[-1]


def test_review_page_shows_each_item_beside_the_current_value_and_source(client, center,
                                                                         editor):
    s = _suggestion(client, center, phone="7135550199", address="2 New Road", city="Houston",
                    postal_code="77031", no_longer_offers=["chemotherapy"],
                    status="temporarily-closed", email="x@example.org")
    home = client.get("/admin/").data.decode()
    assert "1 open suggestion" in home
    queue = client.get("/admin/suggestions/").data.decode()
    assert f'href="/admin/suggestions/{s.id}"' in queue and "Open (1)" in queue
    assert "someone at the center" in queue
    html = client.get(f"/admin/suggestions/{s.id}").data.decode()
    assert "+1 713-555-0100" in html and "+1 713-555-0199" in html  # now, suggested
    assert "Source: test, January 2026" in html  # where the current value comes from
    assert "2 New Road, Houston, 77031" in html and "1 Old Road, Houston, US-TX" in html
    assert "The center is temporarily closed" in html
    assert "test: reported, 2026-01-01" in html  # chemotherapy's current claim
    assert "Accepting keeps the other sources" in html
    assert "x@example.org" in html
    assert f"/admin/suggestions/{s.id}\"" in client.get(
        "/admin/suggestions/?q=bayou+general").data.decode()
    assert f"/admin/suggestions/{s.id}\"" in client.get(
        f"/admin/suggestions/?q={center.id}").data.decode()
    assert f"/admin/suggestions/{s.id}\"" not in client.get(
        "/admin/suggestions/?q=nowhere").data.decode()


def test_accept_everything_shows_it_with_its_provenance_and_keeps_other_sources(
        client, center, editor):
    s = _suggestion(client, center, phone="7135550199",
                    phone_link="https://bayou.example.org/contact",
                    address="2 New Road", city="Houston", postal_code="77031",
                    offers=["immunotherapy"], status="closed")
    response = client.post(f"/admin/suggestions/{s.id}/accept",
                           data={"accept": [str(i.id) for i in s.items]})
    assert response.status_code == 302, re.findall(r'<p class="error">(.*?)</p>|<p>(.*?)</p>',
                                                   response.data.decode())
    db.session.expire_all()
    c = db.session.get(Center, center.id)
    assert (c.phone, c.status, c.address, c.postal_code) == (
        "+17135550199", "closed", "2 New Road", "77031")
    assert c.region == "US-TX" and c.country == "US"
    records = {r.source: r for r in c.records}
    assert set(records) == {"test", "suggestion"}
    assert json.loads(records["test"].values)["phone"] == "+17135550100"  # kept
    mine = records["suggestion"]
    assert (mine.external_id, mine.dataset_date.isoformat()) == (str(s.id), TODAY)
    assert json.loads(mine.values)["status"] == "closed"
    claims = {(cm.modality.slug, cm.source) for cm in c.modalities}
    assert claims == {("chemotherapy", "test"), ("immunotherapy", "suggestion")}
    page = client.get(f"/centers/{center.id}").data.decode()
    label = f"Reported by someone at the center, reviewed on {TODAY}"
    assert page.count(label) >= 3  # phone, address, status
    assert "+1 713-555-0199" in page and "2 New Road" in page
    assert 'href="https://bayou.example.org/contact"' in page
    assert "Updates reported to us" in page and "Offers: Immunotherapy" in page
    s = db.session.get(Suggestion, s.id)
    assert (s.status, s.decided_by, s.reviewed_on.isoformat()) == (
        "accepted", "editor@example.org", TODAY)
    actions = {(a.action, a.field) for a in db.session.scalars(sa.select(ChangeRecord))}
    assert {("accept", "suggestion"), ("accept", "phone"), ("accept", "status"),
            ("accept", "modalities")} <= actions
    history = client.get(f"/admin/centers/{center.id}/history").data.decode()
    assert f"suggestion #{s.id} accepted: phone, address, status, offers" in history
    api = client.get(f"/api/v1/centers/{center.id}").get_json()
    assert api["field_sources"]["phone"]["source"] == "suggestion"


def test_accept_some_items_with_an_edited_value(client, center, editor):
    s = _suggestion(client, center, phone="7135550199", website="https://new.example.org")
    phone, website = s.items
    response = client.post(f"/admin/suggestions/{s.id}/accept", data={
        "accept": [str(phone.id)], f"value-{phone.id}": "+1 713 555 0123",
        "reason": "The website is a parking page."})
    assert response.status_code == 302
    db.session.expire_all()
    c = db.session.get(Center, center.id)
    assert (c.phone, c.website) == ("+17135550123", "https://old.example.org")
    s = db.session.get(Suggestion, s.id)
    assert [(i.kind, i.outcome, i.accepted_value) for i in s.items] == [
        ("phone", "accepted", "+17135550123"), ("website", "rejected", None)]
    assert s.reason == "The website is a parking page."
    decision = db.session.scalar(sa.select(ChangeRecord).where(
        ChangeRecord.action == "accept", ChangeRecord.field == "suggestion"))
    assert decision.after == (f"suggestion #{s.id} accepted: phone; not taken: website "
                              f"(The website is a parking page.)")
    detail = client.get(f"/admin/suggestions/{s.id}").data.decode()
    assert "Accepted: +1 713-555-0123" in detail and "Not taken" in detail


@pytest.mark.parametrize(("data", "message"), [
    ({}, "Tick at least one item"),
    ({"value": "not a phone"}, "This is not a phone number we can read"),
    ({"value": ""}, "Give a value to accept"),
    ({"reason": "<i>x</i>"}, "plain text only"),
])
def test_bad_acceptance_is_a_400_and_changes_nothing(client, center, editor, data, message):
    s = _suggestion(client, center, phone="7135550199")
    (item,) = s.items
    form = {} if data == {} else {"accept": [str(item.id)]}
    if "value" in data:
        form[f"value-{item.id}"] = data["value"]
    if "reason" in data:
        form["reason"] = data["reason"]
    response = client.post(f"/admin/suggestions/{s.id}/accept", data=form)
    assert response.status_code == 400
    assert message in response.data.decode()
    db.session.expire_all()
    assert db.session.get(Suggestion, s.id).status == "open"
    assert db.session.get(Center, center.id).phone == "+17135550100"
    assert db.session.scalar(sa.select(sa.func.count(SourceRecord.id))) == 1


def test_reject_needs_a_reason_and_can_be_looked_up(client, center, editor):
    s = _suggestion(client, center, website="https://spam.example.org")
    response = client.post(f"/admin/suggestions/{s.id}/reject", data={"reason": "  "})
    assert response.status_code == 400 and b"Say why the suggestion is rejected" in response.data
    response = client.post(f"/admin/suggestions/{s.id}/reject",
                           data={"reason": "Not this hospital's site."})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Center, center.id).website == "https://old.example.org"
    listed = client.get("/admin/suggestions/?status=rejected").data.decode()
    assert f"#{s.id}" in listed
    detail = client.get(f"/admin/suggestions/{s.id}").data.decode()
    assert "Not this hospital&#39;s site." in detail and "editor@example.org" in detail
    sent = client.get(f"/suggestions/{s.token}").data.decode()
    assert "Not accepted" in sent and "Not this hospital&#39;s site." in sent
    audit = db.session.scalar(sa.select(ChangeRecord).where(ChangeRecord.action == "reject"))
    assert audit.user == "editor@example.org" and "Not this hospital" in audit.after
    # A decided suggestion cannot be decided again.
    assert client.post(f"/admin/suggestions/{s.id}/accept",
                       data={"accept": [str(s.items[0].id)]}).status_code == 400
    assert client.post(f"/admin/suggestions/{s.id}/reject",
                       data={"reason": "again"}).status_code == 400


def test_an_accepted_closure_can_be_undone(client, center, editor):
    s = _suggestion(client, center, status="closed", offers=["sbrt"])
    client.post(f"/admin/suggestions/{s.id}/accept",
                data={"accept": [str(i.id) for i in s.items]})
    db.session.expire_all()
    assert db.session.get(Center, center.id).status == "closed"
    response = client.post(f"/admin/suggestions/{s.id}/revert")
    assert response.status_code == 302
    db.session.expire_all()
    c = db.session.get(Center, center.id)
    assert c.status == "active"
    assert [r.source for r in c.records] == ["test"]
    assert {cm.source for cm in c.modalities} == {"test"}
    assert db.session.get(Suggestion, s.id).status == "reverted"
    reverts = db.session.scalars(sa.select(ChangeRecord).where(
        ChangeRecord.action == "revert")).all()
    assert {r.field for r in reverts} >= {"status", "modalities", "suggestion"}
    page = client.get(f"/centers/{center.id}").data.decode()
    assert "Updates reported to us" in page and "reviewed on" not in page
    assert client.post(f"/admin/suggestions/{s.id}/revert").status_code == 400


def test_no_longer_offers_takes_back_a_suggested_claim_and_keeps_other_sources(
        client, center, editor):
    first = _suggestion(client, center, offers=["sbrt"])
    client.post(f"/admin/suggestions/{first.id}/accept",
                data={"accept": [str(first.items[0].id)]})
    second = _suggestion(client, center, no_longer_offers=["sbrt", "chemotherapy"])
    client.post(f"/admin/suggestions/{second.id}/accept",
                data={"accept": [str(i.id) for i in second.items]})
    db.session.expire_all()
    claims = {(cm.modality.slug, cm.source) for cm in db.session.get(Center, center.id).modalities}
    assert claims == {("chemotherapy", "test")}  # CMS-like source kept, suggested SBRT gone
    page = client.get(f"/centers/{center.id}").data.decode()
    assert "No longer offers: Chemotherapy (other sources above still list it" in page
    assert "No longer offers: SBRT" in page or "No longer offers: Stereotactic" in page
    client.post(f"/admin/suggestions/{second.id}/revert")
    db.session.expire_all()
    claims = {(cm.modality.slug, cm.source) for cm in db.session.get(Center, center.id).modalities}
    assert claims == {("chemotherapy", "test"), ("sbrt", "suggestion")}


def test_an_editors_value_still_wins_over_an_accepted_suggestion(client, center, editor):
    from directory.curation.records import set_editor_values

    c = db.session.get(Center, center.id)
    set_editor_values(db.session, c, {"phone": "+17135550111"})
    db.session.commit()
    s = _suggestion(client, center, phone="7135550199")
    assert "An editor's value is set for this field" in client.get(
        f"/admin/suggestions/{s.id}").data.decode().replace("&#39;", "'")
    client.post(f"/admin/suggestions/{s.id}/accept", data={"accept": [str(s.items[0].id)]})
    db.session.expire_all()
    assert db.session.get(Center, center.id).phone == "+17135550111"


def test_a_suggestion_wins_a_tie_with_a_list_of_the_same_date(client, center, editor):
    """A list dated the review day (an import without a date is dated the day it ran)
    does not hide the reviewed report: the status the center reported shows."""
    record = db.session.get(Center, center.id).records[0]
    record.dataset_date = dt.date.today()
    db.session.commit()
    s = _suggestion(client, center, status="closed", phone="7135550199")
    client.post(f"/admin/suggestions/{s.id}/accept",
                data={"accept": [str(i.id) for i in s.items]})
    db.session.expire_all()
    c = db.session.get(Center, center.id)
    assert (c.status, c.phone) == ("closed", "+17135550199")
    evidence = [cm.evidence for cm in c.modalities]
    assert evidence == [None]  # the list's claim, untouched


def test_accept_and_undo_on_a_center_without_records(client, editor, session):
    """A center made by hand (no source records) takes the values into its fields, and
    undoing gives the old ones back."""
    from directory.importer.write import ensure_source
    from directory.text import fold

    ensure_source(session, "admin")
    c = Center(name="Hand Made Clinic", name_folded=fold("Hand Made Clinic"),
               search_text="hand made clinic", source="admin", natural_key="hand|77001|US",
               country="US", city="Houston", city_folded="houston", phone="+17135550100")
    session.add(c)
    session.commit()
    s = _suggestion(client, c, phone="7135550177", status="temporarily-closed",
                    offers=["chemotherapy"])
    assert client.post(f"/admin/suggestions/{s.id}/accept",
                       data={"accept": [str(i.id) for i in s.items]}).status_code == 302
    db.session.expire_all()
    c = db.session.get(Center, c.id)
    assert (c.phone, c.status, c.records) == ("+17135550177", "temporarily-closed", [])
    page = client.get(f"/centers/{c.id}").data.decode()
    assert "Phone: +1 713-555-0177" in page
    assert client.post(f"/admin/suggestions/{s.id}/revert").status_code == 302
    db.session.expire_all()
    c = db.session.get(Center, c.id)
    assert (c.phone, c.status, c.modalities) == ("+17135550100", "active", [])


def test_reverting_the_import_that_made_a_center_keeps_it_held_by_a_suggestion(
        client, import_file):
    """Like an editor's value, an accepted suggestion holds its center: reverting the
    import that made it keeps the center (its fields as they were, the reported ones over
    them) instead of failing or leaving a center without a name."""
    result = import_file(b"external_id,name,city,country,phone\n"
                         b"X1,Lone Star Oncology,Houston,US,7135550100\n",
                         filename="one.csv", source="one-list", format="native")
    center_id = db.session.scalar(sa.select(Center.id))
    upsert_user(db.session, "admin@example.org", PASSWORD, "admin")
    db.session.commit()
    client.post("/admin/login", data={"email": "admin@example.org", "password": PASSWORD})
    s = _suggestion(client, db.session.get(Center, center_id), phone="7135550188")
    client.post(f"/admin/suggestions/{s.id}/accept", data={"accept": [str(s.items[0].id)]})
    response = client.post(f"/admin/imports/{result.run_id}/revert")
    assert response.status_code == 302
    db.session.expire_all()
    c = db.session.get(Center, center_id)
    assert (c.name, c.phone) == ("Lone Star Oncology", "+17135550188")
    assert [r.source for r in c.records] == ["suggestion"]
    assert client.get(f"/centers/{center_id}").status_code == 200


def test_the_form_of_a_merged_center_moves_to_the_center_it_joined(client, make_center):
    from directory.curation.merge import merge_centers

    keep = make_center("Kept Hospital", 29.7, -95.4, source="a", external_id="K")
    drop = make_center("Dropped Hospital", 29.7, -95.4, source="b", external_id="D")
    drop_id = drop.id
    merge_centers(db.session, keep, drop, user="admin@example.org")
    db.session.commit()
    response = client.get(f"/centers/{drop_id}/suggest")
    assert response.status_code == 301
    assert response.headers["Location"].endswith(f"/centers/{keep.id}/suggest")
    form = client.get(f"/centers/{keep.id}/suggest").data.decode()
    assert 'class="checkbox child"' in form  # SBRT and the like sit under their parent


def test_every_error_is_reported_at_once(client, center):
    response = suggest(client, center.id, role="", phone="12", email="nope")
    html = response.data.decode()
    assert response.status_code == 400
    for message in ("Say who you are", "This is not a phone number we can read",
                    "This is not an email address"):
        assert message in html


def test_senders_emails_are_erased_90_days_after_the_decision(client, center, editor):
    """A sender's email is kept for the editors' questions only: opening the review queue
    erases it from suggestions decided or withdrawn more than 90 days ago; open ones and
    recent decisions keep it."""
    old = _suggestion(client, center, website="https://a.example.org", email="a@example.org")
    recent = _suggestion(client, center, website="https://b.example.org",
                         email="b@example.org")
    waiting = _suggestion(client, center, website="https://c.example.org",
                          email="c@example.org")
    for s in (old, recent):
        client.post(f"/admin/suggestions/{s.id}/reject", data={"reason": "Not its site."})
    now = dt.datetime.now(dt.UTC)
    db.session.get(Suggestion, old.id).decided_at = now - dt.timedelta(days=91)
    db.session.get(Suggestion, recent.id).decided_at = now - dt.timedelta(days=89)
    db.session.get(Suggestion, waiting.id).created_at = now - dt.timedelta(days=400)
    db.session.commit()
    assert client.get("/admin/suggestions/").status_code == 200
    db.session.expire_all()
    emails = {s.id: s.email for s in stored()}
    assert emails == {old.id: None, recent.id: "b@example.org", waiting.id: "c@example.org"}
    assert "erased 90 days after" in client.get(f"/centers/{center.id}/suggest").get_data(
        as_text=True)
