"""No N+1: the number of SQL statements a page issues does not grow with its results."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from directory.extensions import db
from directory.models import CenterDesignation, Designation


class StatementCounter:
    def __init__(self, engine):
        self.engine = engine
        self.count = 0

    def _count(self, *_args):
        self.count += 1

    def __enter__(self):
        self.count = 0
        sa.event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._count)


@pytest.fixture
def forty_centers(make_center):
    """40 centers near Boston, each with three claims and a designation."""
    designation = db.session.scalar(sa.select(Designation).limit(1))
    for i in range(40):
        center = make_center(f"Center {i:02d}", 42.36 + i / 1000, -71.06, city="Boston",
                             region="US-MA",
                             modalities=["chemotherapy", "immunotherapy", "sbrt"])
        center.designations.append(CenterDesignation(designation=designation, source="test",
                                                     as_of=dt.date(2026, 1, 1)))
    db.session.commit()


PAGES = [
    "/api/v1/centers?country=US&modality=chemotherapy&per_page={n}",
    "/api/v1/centers?near=42.36,-71.06&radius=50&per_page={n}",
    "/api/v1/centers?q=center&per_page={n}",
    "/centers?country=US&modality=chemotherapy&per_page={n}",
    "/centers?near=42.36,-71.06&radius=50&per_page={n}",
    "/centers?q=center&per_page={n}",
]


@pytest.mark.parametrize("url", PAGES)
def test_statements_per_request_do_not_grow_with_the_page(app, client, forty_centers, url):
    """5 results or 40 (each with claims and designations): the same number of
    statements, and few of them (claims and designations are loaded in bulk)."""
    counts = []
    for n in (5, 40):
        client.get(url.format(n=n))  # warm: the counts cache and the session's vocabulary
        with StatementCounter(db.engine) as counter:
            response = client.get(url.format(n=n))
        assert response.status_code == 200, response.data[:300]
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
    assert counts[1] <= 12, counts


def test_center_page_statements_are_constant(app, client, forty_centers):
    from directory.models import Center

    ids = db.session.scalars(sa.select(Center.id).order_by(Center.id)).all()
    counts = []
    for center_id in (ids[0], ids[-1]):
        with StatementCounter(db.engine) as counter:
            assert client.get(f"/centers/{center_id}").status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1] and counts[0] <= 12, counts
