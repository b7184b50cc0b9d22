"""``center.designated`` (kept by triggers on ``center_designation``) and the relevance
pages that rely on it: every write path keeps the flag, also two writers at once on
PostgreSQL, and a relevance page equals ranking every match, even under a concurrent edit.
(Found by a breaker session; each test failed before its fix.)"""

import threading
import time

import pytest
import sqlalchemy as sa

from directory.models import Center, CenterDesignation, Designation, ImportRun
from directory.search import SearchQuery, find_centers
from directory.search import query as search
from directory.text import fold

MISMATCH = sa.text(
    "SELECT id, designated FROM center WHERE "
    "(CASE WHEN designated THEN 1 ELSE 0 END) <> "
    "(CASE WHEN EXISTS (SELECT 1 FROM center_designation cd WHERE cd.center_id = center.id) "
    "THEN 1 ELSE 0 END)")
HEADER = "external_id,name,city,country,latitude,longitude,modalities,designations\n"


def mismatches(session):
    session.flush()
    return session.execute(MISMATCH).all()


def did(session, slug):
    return session.scalar(sa.select(Designation.id).where(Designation.slug == slug))
def test_orm_append_remove(session, make_center):
    a = make_center("Alpha", 1, 1)
    d = session.get(Designation, did(session, "nci-comprehensive"))
    a.designations.append(CenterDesignation(designation=d, source="test"))
    session.commit()
    assert mismatches(session) == []
    a.designations.remove(a.designations[0])
    session.commit()
    assert mismatches(session) == []
    # replace in same flush: remove one, add other
    a.designations.append(CenterDesignation(designation=d, source="test"))
    session.commit()
    d2 = session.get(Designation, did(session, "acs-coc"))
    a.designations = [CenterDesignation(designation=d2, source="test")]
    session.commit()
    assert mismatches(session) == []
    # clear()
    a.designations.clear()
    session.commit()
    assert mismatches(session) == []
    # delete center with designations
    a.designations.append(CenterDesignation(designation=d, source="test"))
    session.commit()
    session.delete(a)
    session.commit()
    assert mismatches(session) == []


def test_new_center_with_designations_same_flush(session, make_center):
    d = session.get(Designation, did(session, "nci-comprehensive"))
    c = Center(name="Zed", name_folded="zed", search_text="zed", source="test",
               natural_key="zed|us", country="US", city_folded="")
    c.designations.append(CenterDesignation(designation=d, source="test"))
    from directory.importer.write import ensure_source
    ensure_source(session, "test")
    session.add(c)
    session.commit()
    assert mismatches(session) == []
    session.expire_all()
    assert session.get(Center, c.id).designated


def test_merge(session, make_center):
    from directory.curation.merge import merge_centers
    keep = make_center("Same", 1, 1)
    drop = make_center("Same", 1, 1.0001, source="other")
    keep2 = make_center("Other", 2, 2)
    drop2 = make_center("Other", 2, 2.0001, source="other")
    n, a = did(session, "nci-comprehensive"), did(session, "acs-coc")
    session.add_all([CenterDesignation(center_id=drop.id, designation_id=n, source="x"),
                     CenterDesignation(center_id=keep2.id, designation_id=n, source="x"),
                     CenterDesignation(center_id=drop2.id, designation_id=n, source="x"),
                     CenterDesignation(center_id=drop2.id, designation_id=a, source="x")])
    session.commit()
    session.expire_all()
    merge_centers(session, session.get(Center, keep.id), session.get(Center, drop.id), user=None)
    merge_centers(session, session.get(Center, keep2.id), session.get(Center, drop2.id),
                  user=None)
    session.commit()
    assert mismatches(session) == []
    assert session.scalar(sa.select(Center.designated).where(Center.id == keep.id))




def test_reimport_add_remove_and_revert(session, import_file):
    from directory.curation.revert import revert_import
    r1 = import_file((HEADER + "a1,Alpha Center,Houston,US,29.7,-95.4,chemotherapy,\n"
                      "a2,Beta Center,Houston,US,29.8,-95.4,chemotherapy,nci-comprehensive\n"
                      ).encode(), filename="s.csv", source="src")
    assert mismatches(session) == []
    r2 = import_file((HEADER + "a1,Alpha Center,Houston,US,29.7,-95.4,chemotherapy,acs-coc\n"
                      "a2,Beta Center,Houston,US,29.8,-95.4,chemotherapy,\n").encode(),
                     filename="s.csv", source="src")
    assert r2.updated == 2, r2
    assert mismatches(session) == []
    flags = dict(session.execute(sa.select(Center.external_id, Center.designated)).all())
    assert flags == {"a1": True, "a2": False}
    run = session.get(ImportRun, r2.run_id)
    revert_import(session, run, user=None)
    session.commit()
    assert mismatches(session) == []
    flags = dict(session.execute(sa.select(Center.external_id, Center.designated)).all())
    assert flags == {"a1": False, "a2": True}
    run = session.get(ImportRun, r1.run_id)
    revert_import(session, run, user=None)
    session.commit()
    assert mismatches(session) == []


def test_bulk_import(session, import_file):
    rows = "".join(f"g{i},Gamma {i} Center,Houston,US,29.{i % 1000},-95.4,chemotherapy,"
                   f"{'nci-comprehensive; acs-coc' if i % 3 == 0 else ''}\n"
                   for i in range(2500))
    r = import_file((HEADER + rows).encode(), filename="g.csv", source="bulk")
    assert r.added == 2500
    assert mismatches(session) == []
    n = session.scalar(sa.select(sa.func.count()).where(Center.designated))
    assert n == len(range(0, 2500, 3))
    # re-import removing every designation
    rows = "".join(f"g{i},Gamma {i} Center,Houston,US,29.{i % 1000},-95.4,chemotherapy,\n"
                   for i in range(2500))
    import_file((HEADER + rows).encode(), filename="g.csv", source="bulk")
    assert mismatches(session) == []
    # bulk again after existing table
    rows = "".join(f"h{i},Eta {i} Center,Houston,US,29.{i % 1000},-95.4,chemotherapy,"
                   f"{'nci-comprehensive' if i % 2 == 0 else ''}\n"
                   for i in range(3000))
    import_file((HEADER + rows).encode(), filename="h.csv", source="bulk2")
    assert mismatches(session) == []


def test_bulk_import_rollback(session, import_file):
    rows = "".join(f"g{i},Gamma {i} Center,Houston,US,29.{i % 1000},-95.4,chemotherapy,"
                   f"{'nci-comprehensive' if i % 3 == 0 else ''}\n" for i in range(2500))
    import_file((HEADER + rows).encode(), filename="g.csv", source="bulk", dry_run=True)
    assert mismatches(session) == []
    assert session.scalar(sa.select(sa.func.count(Center.id))) == 0
    import_file((HEADER + rows).encode(), filename="g.csv", source="bulk")
    assert mismatches(session) == []


INS = sa.text("INSERT INTO center_designation (center_id, designation_id, source) "
              "VALUES (:c, :d, 'test')")
DEL = sa.text("DELETE FROM center_designation WHERE center_id = :c AND designation_id = :d")
STATE = sa.text("SELECT designated, (SELECT count(*) FROM center_designation "
                "WHERE center_id = :c) FROM center WHERE id = :c")
def _concurrently(engine, first, second):
    """``first`` in T1 (left open); ``second`` in T2 on a thread (it may wait for T1's
    locks); then T1 commits and T2 finishes and commits."""
    t1, t2 = engine.connect(), engine.connect()
    x1, x2 = t1.begin(), t2.begin()
    errors = []
    try:
        first(t1)

        def run():
            try:
                second(t2)
                x2.commit()
            except Exception as exc:  # pragma: no cover
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.3)
        x1.commit()
        thread.join(30)
    finally:
        t1.close()
        t2.close()
    assert not errors, errors


@pytest.mark.parametrize("case", ["add_while_removing_last", "remove_both"])
def test_designated_flag_under_concurrent_writes(session, make_center, database_url, case):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers")
    d1, d2 = session.scalars(sa.select(Designation.id).order_by(Designation.id).limit(2)).all()
    c = make_center("Race Center", 1, 1)
    session.execute(INS, {"c": c.id, "d": d1})
    if case == "remove_both":
        session.execute(INS, {"c": c.id, "d": d2})
    session.commit()
    engine = sa.create_engine(database_url)
    try:
        if case == "add_while_removing_last":
            _concurrently(engine, lambda t: t.execute(INS, {"c": c.id, "d": d2}),
                          lambda t: t.execute(DEL, {"c": c.id, "d": d1}))
        else:
            _concurrently(engine, lambda t: t.execute(DEL, {"c": c.id, "d": d1}),
                          lambda t: t.execute(DEL, {"c": c.id, "d": d2}))
    finally:
        engine.dispose()
    designated, rows = session.execute(STATE, {"c": c.id}).one()
    assert bool(designated) == (rows > 0), (designated, rows)


def test_relevance_page_never_repeats_a_center_under_a_concurrent_rename(
        session, make_center, database_url, monkeypatch):
    """A writer commits a rename right after the page's first statement: the page still
    holds each center once (the exact-name and designated parts are one statement)."""
    from sqlalchemy import event

    from directory.extensions import db

    monkeypatch.setattr(search, "HEAD_FIRST_DIALECTS", {"sqlite", "postgresql"})
    x = make_center("Zzrace Oncology", 1, 1)
    make_center("Zzrace Oncology", 1, 2)
    session.add(CenterDesignation(center_id=x.id, designation_id=did(session, "acs-coc"),
                                  source="test"))
    session.commit()
    other = sa.create_engine(database_url)
    fired = []

    def rename_after(conn, cursor, statement, params, context, executemany):
        if "ORDER BY" in statement and "zzrace" in str(params) and not fired:
            fired.append(True)
            with other.begin() as c:
                c.execute(sa.text("UPDATE center SET name = 'Zzrace Oncology Aaa', "
                                  "name_folded = 'zzrace oncology aaa' WHERE id = :i"),
                          {"i": x.id})

    event.listen(db.engine, "after_cursor_execute", rename_after)
    try:
        page = find_centers(session, SearchQuery(q="zzrace oncology", per_page=3))
    finally:
        event.remove(db.engine, "after_cursor_execute", rename_after)
        other.dispose()
    ids = [h.center.id for h in page.items]
    assert fired
    assert len(ids) == len(set(ids)) == 2, ids


def test_relevance_pages_fuzz(session, make_center, monkeypatch):
    """Random names, designations, filters and page sizes: every page of every query equals
    the full ranking (the exact-name + designated first look on both dialects)."""
    import random

    monkeypatch.setattr(search, "HEAD_FIRST_DIALECTS", {"sqlite", "postgresql"})
    rng = random.Random(1)
    des = session.scalars(sa.select(Designation.id)).all()
    words = ["Anderson", "Ånderson", "St.", "Mary's", "Cancer", "Center", "100%", "a_b",
             "Mayo", "Clinic"]
    made = []
    for i in range(200):
        name = rng.choice(["Anderson", "Cancer Center", "St. Mary's"]) if i % 9 == 0 else \
            " ".join(rng.sample(words, rng.randint(1, 4)))
        made.append(make_center(name, 10 + i / 100, 10, country=rng.choice(["US", "CA", "GB"]),
                                city=rng.choice(["Houston", "Hounslow", "Paris"]),
                                status="closed" if rng.random() < 0.1 else "active",
                                modalities=["chemotherapy"] if i % 2 else ["surgery"]))
    for c in made:
        if rng.random() < 0.5:
            for d in rng.sample(des, rng.randint(1, 2)):
                session.add(CenterDesignation(center_id=c.id, designation_id=d, source="t"))
    session.commit()
    for q in ["anderson", "ånderson", "cancer center", "st. mary's", "100%", "a_b",
              "clinic mayo"]:
        for extra in [{}, {"include_closed": True}, {"country": "US"}, {"city": "hou"},
                      {"designation": "nci-comprehensive"}]:
            query = SearchQuery(q=q, **extra)
            ref = list(session.scalars(sa.select(Center.id).where(
                *search._filters(session, query)).order_by(
                *search._relevance(fold(q)), Center.name_folded, Center.id)))
            for per_page in (1, 7, 50):
                got = []
                for page in range(1, len(ref) // per_page + 2):
                    p = find_centers(session, SearchQuery(q=q, page=page, per_page=per_page,
                                                          **extra))
                    assert p.total == len(ref)
                    got += [h.center.id for h in p.items]
                assert got == ref, (q, extra, per_page)
