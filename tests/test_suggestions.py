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
    CenterModality,
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


def test_smoke(client, center, editor):
    page = client.get(f"/centers/{center.id}")
    assert b"Suggest an update" in page.data
    form = client.get(f"/centers/{center.id}/suggest")
    assert form.status_code == 200, form.data
    r = suggest(client, center.id, phone="(713) 555-0199", phone_link="https://bayou.example.org/contact",
                website="bayou.example.org", offers=["immunotherapy"], status="closed",
                email="nurse@example.org")
    assert r.status_code == 303, r.data
    sent = client.get(r.headers["Location"])
    assert b"Thank you" in sent.data, sent.data
    s = stored()[0]
    q = client.get("/admin/suggestions/")
    assert q.status_code == 200, q.data
    d = client.get(f"/admin/suggestions/{s.id}")
    assert d.status_code == 200, d.data
    a = client.post(f"/admin/suggestions/{s.id}/accept",
                    data={"accept": [str(i.id) for i in s.items]})
    assert a.status_code == 302, a.data
    page = client.get(f"/centers/{center.id}")
    print(page.data.decode())
