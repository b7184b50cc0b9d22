"""Web imports as background jobs (issue 15, item 1): the preview is computed once by a job
and kept; the confirm is a job that writes in one transaction; the progress page works with
and without JavaScript; the queue in its production modes (SQLite file, Redis) with a real
consumer; a job whose consumer stopped is run again and writes once."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import time

import pytest
import sqlalchemy as sa

from directory import create_app
from directory.extensions import db, limiter
from directory.jobs import make_consumer
from directory.jobs.imports import progress_key, requeue_interrupted
from directory.models import Center, ImportJob, ImportRun, PendingImport
from directory.web.auth import upsert_user
from tests.conftest import CASES, GAZETTEER_PATH

PASSWORD = "correct horse battery"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
CSV = (b"name,city,region,postal_code,country,latitude,longitude,modalities\n"
       + b"".join(b"Job Center %d,Boston,MA,02115,US,42.36,-71.05,chemotherapy\n" % i
                  for i in range(1500))
       + b",Boston,MA,02115,US,42.36,-71.05,chemotherapy\n")  # one rejected row


def _login(client, email="admin@example.org"):
    limiter.reset()
    upsert_user(db.session, email, PASSWORD, "admin")
    db.session.commit()
    assert client.post("/admin/login", data={"email": email, "password": PASSWORD}
                       ).status_code == 302


def _upload(client, data=CSV, name="jobs.csv"):
    return client.post("/admin/imports/new", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --------------------------------------------------------------- immediate mode (tests)

def test_the_preview_is_computed_once_and_kept(client, monkeypatch):
    import directory.jobs.imports as jobs_imports

    calls = []
    real = jobs_imports.run_import
    monkeypatch.setattr(jobs_imports, "run_import",
                        lambda *a, **k: calls.append(k["dry_run"]) or real(*a, **k))
    _login(client)
    response = _upload(client)
    preview_url = response.headers["Location"]
    for _ in range(3):  # every load shows the kept preview
        page = client.get(preview_url).get_data(as_text=True)
        assert "<strong>1500</strong> added" in page and "<strong>1</strong> rejected" in page
    rejected = client.get(preview_url + "/rejected.csv").get_data(as_text=True)
    assert "name is required" in rejected
    assert calls == [True]  # one dry run for the upload and all those pages
    pending = db.session.scalar(sa.select(PendingImport))
    assert pending.preview is not None and pending.rejected_csv is not None
    job = db.session.scalar(sa.select(ImportJob))
    assert (job.kind, job.status, job.rows) == ("preview", "done", 1501)
    # Confirm: one more run (it writes), the job ends in the import's own transaction.
    done = client.post(preview_url, data={"action": "confirm"})
    run_id = int(done.headers["Location"].rsplit("/", 1)[1])
    assert calls == [True, False]
    confirm = db.session.scalar(sa.select(ImportJob).where(ImportJob.kind == "confirm"))
    assert (confirm.status, confirm.run_id) == ("done", run_id)
    assert _count(Center) == 1500 and _count(PendingImport) == 0
    assert confirm.pending_id is None  # the upload is gone; the job's row stays
    detail = client.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert "added 1500" in detail


def test_a_new_mapping_is_previewed_again(client):
    _login(client)
    preview_url = _upload(client, b"Hospital,Town,Nation\nRiver Clinic,Boston,US\n"
                          ).headers["Location"]
    assert client.get(preview_url).status_code == 400
    client.post(preview_url, data={"action": "remap", "col-0": "Hospital", "map-0": "name",
                                   "col-1": "Town", "map-1": "city", "col-2": "Nation",
                                   "map-2": "country"})
    assert "<strong>1</strong> added" in client.get(preview_url).get_data(as_text=True)
    assert _count(ImportJob) == 2


def test_jobs_belong_to_their_user(app, client):
    _login(client)
    _upload(client)
    job = db.session.scalar(sa.select(ImportJob))
    client.post("/admin/logout")
    _login(client, "other@example.org")
    assert client.get(f"/admin/jobs/{job.token}").status_code == 404
    assert client.get(f"/admin/jobs/{job.token}.json").status_code == 404


def test_a_stalled_job_is_shown_and_run_again_once(app, client):
    """A confirm whose consumer was killed: the job row says running, the heartbeat is
    old. The page says so and offers to run it again; that writes the import once."""
    _login(client)
    preview_url = _upload(client).headers["Location"]
    pending = db.session.scalar(sa.select(PendingImport))
    job = ImportJob(token="stalled-job-token", kind="confirm", user="admin@example.org",
                    pending_id=pending.id, filename=pending.filename, status="running")
    db.session.add(job)
    db.session.commit()
    huey = app.extensions["jobs"].huey
    huey.put(progress_key(job.token), {"stage": "writing", "done": 1500, "total": 1501,
                                       "at": time.time() - 300, "started": time.time() - 400,
                                       "stage_started": time.time() - 310})
    state = client.get("/admin/jobs/stalled-job-token.json").get_json()
    assert state["stalled"] is True and state["status"] == "running"
    page = client.get("/admin/jobs/stalled-job-token").get_data(as_text=True)
    assert "stopped reporting" in page and "Run it again" in page
    assert 'http-equiv="refresh"' not in page  # no refresh loop on a stopped job
    # The preview page sends the admin to the job, not to a second confirm.
    assert client.get(preview_url).headers["Location"].endswith("/admin/jobs/stalled-job-token")
    done = client.post("/admin/jobs/stalled-job-token/retry")
    assert done.headers["Location"].endswith("/admin/jobs/stalled-job-token")
    assert client.get("/admin/jobs/stalled-job-token").status_code == 302
    db.session.expire_all()
    assert _count(Center) == 1500 and _count(ImportRun) == 1
    assert db.session.get(ImportJob, job.id).status == "done"
    # Asking again does nothing (the job is done).
    client.post("/admin/jobs/stalled-job-token/retry")
    assert _count(ImportRun) == 1


def test_a_bad_file_fails_its_preview_with_the_message(client):
    _login(client)
    response = _upload(client, (CASES / "05b_missing_required_header.csv").read_bytes())
    page = client.get(response.headers["Location"])
    assert page.status_code == 400
    assert "missing required column(s): name" in page.get_data(as_text=True)
    job = db.session.scalar(sa.select(ImportJob))
    assert job.status == "failed" and "missing required column" in job.message
    assert _count(Center) == 0 and _count(ImportRun) == 0


# --------------------------------------------------------------- production modes

def _redis_or_skip():
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no Redis to test against
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is not reachable and CI=true: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable ({exc}); set TEST_REDIS_URL "
                    f"(this test fails instead when CI=true)")


@pytest.fixture(params=["sqlite-queue", "redis-queue"])
def queued_app(request, app, database_url, geocoder, tmp_path):
    """An app whose jobs go through a real queue (not immediate): huey's SQLite file, or
    Redis (db 5 by default), on a queue name of its own; yields ``(app, consumer)`` with
    the consumer not started."""
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
              "GAZETTEER_PATH": str(GAZETTEER_PATH), "SECRET_KEY": "test",
              "WTF_CSRF_ENABLED": False, "JOBS_IMMEDIATE": False,
              "JOBS_CONSUMER": "external",
              "JOBS_QUEUE_NAME": f"test-jobs-{os.getpid()}-{time.monotonic_ns()}",
              "JOBS_SQLITE_PATH": str(tmp_path / "jobs.sqlite")}
    if request.param == "redis-queue":
        _redis_or_skip()
        config["REDIS_URL"] = REDIS_URL
    queued = create_app(config)
    queued.extensions["geocoder"] = geocoder
    huey = queued.extensions["jobs"].huey
    consumer = make_consumer(huey, 1, threaded=True)
    yield queued, consumer
    consumer.stop(graceful=True)
    huey.flush()
    huey.storage.close() if hasattr(huey.storage, "close") else None


def _wait(client, token, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/admin/jobs/{token}.json").get_json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {token} did not finish: {state}")


def test_jobs_through_the_queue_with_a_consumer(queued_app):
    queued, consumer = queued_app
    client = queued.test_client()
    with queued.app_context():
        _login(client)
    response = _upload(client)
    job_url = response.headers["Location"]
    token = re.search(r"/admin/jobs/([\w-]+)$", job_url).group(1)
    # Queued, no consumer yet: the page refreshes itself and shows an empty bar.
    page = client.get(job_url).get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in page
    assert '<progress id="job-bar" max="100"' in page and "Waiting in the queue" in page
    assert client.get(f"{job_url}.json").get_json()["status"] == "queued"
    with queued.app_context():
        assert db.session.scalar(sa.select(ImportJob.status)) == "queued"
    consumer.start()
    state = _wait(client, token)
    assert state["status"] == "done" and state["percent"] == 100
    assert state["next"].startswith("/admin/imports/preview/")
    page = client.get(job_url)  # a finished preview job goes on to the preview
    assert page.status_code == 302 and page.headers["Location"] == state["next"]
    preview = client.get(state["next"]).get_data(as_text=True)
    assert "<strong>1500</strong> added" in preview
    confirm = client.post(state["next"], data={"action": "confirm"})
    token = re.search(r"/admin/jobs/([\w-]+)$", confirm.headers["Location"]).group(1)
    state = _wait(client, token)
    assert state["status"] == "done" and state["next"] == f"/admin/imports/{state['run_id']}"
    with queued.app_context():
        assert _count(Center) == 1500 and _count(PendingImport) == 0
        assert db.session.get(ImportRun, state["run_id"]).added == 1500
        huey = queued.extensions["jobs"].huey
        assert huey.get(progress_key(token), peek=True) is None  # progress let go


def test_the_consumer_queues_again_jobs_it_left_running(queued_app):
    """A consumer stopped (killed) mid-job: at the next start the job is queued again."""
    queued, consumer = queued_app
    client = queued.test_client()
    with queued.app_context():
        _login(client)
        _upload(client)
        job = db.session.scalar(sa.select(ImportJob))
        job.status = "running"  # as a killed consumer leaves it; its message is in the queue
        db.session.commit()
        queued.extensions["jobs"].huey.flush()  # ... but was taken off the queue
    import directory.jobs.imports as jobs_imports

    old, jobs_imports.STALE = jobs_imports.STALE, 0.0
    try:
        assert requeue_interrupted(queued) == 1
    finally:
        jobs_imports.STALE = old
    consumer.start()
    with queued.app_context():
        token = db.session.scalar(sa.select(ImportJob.token))
    assert _wait(client, token)["status"] == "done"


def test_flask_run_consumes_in_a_thread(app, database_url, geocoder, tmp_path):
    """``make run`` (``flask run``: JOBS_CONSUMER=thread) needs no second process: the
    first request starts a consumer thread, and an upload's preview finishes."""
    threaded = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                           "GAZETTEER_PATH": str(GAZETTEER_PATH), "SECRET_KEY": "test",
                           "WTF_CSRF_ENABLED": False, "JOBS_IMMEDIATE": False,
                           "JOBS_CONSUMER": "thread",
                           "JOBS_QUEUE_NAME": f"thread-{time.monotonic_ns()}",
                           "JOBS_SQLITE_PATH": str(tmp_path / "jobs.sqlite")})
    threaded.extensions["geocoder"] = geocoder
    jobs = threaded.extensions["jobs"]
    client = threaded.test_client()
    try:
        with threaded.app_context():
            _login(client)
        assert jobs.consumer is not None  # started by the first request
        token = re.search(r"/admin/jobs/([\w-]+)$",
                          _upload(client).headers["Location"]).group(1)
        state = _wait(client, token)
        assert state["status"] == "done"
        assert "<strong>1500</strong> added" in client.get(state["next"]).get_data(
            as_text=True)
    finally:
        if jobs.consumer is not None:
            jobs.consumer[0].stop(graceful=True)
        jobs.huey.flush()


def test_an_unreachable_queue_is_a_message_not_a_500(app, database_url, geocoder):
    down = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                       "GAZETTEER_PATH": str(GAZETTEER_PATH), "SECRET_KEY": "test",
                       "WTF_CSRF_ENABLED": False, "JOBS_IMMEDIATE": False,
                       "JOBS_CONSUMER": "external", "REDIS_URL": "redis://127.0.0.1:9/0"})
    client = down.test_client()
    with down.app_context():
        _login(client)
    response = _upload(client)
    assert response.status_code == 302
    page = client.get(response.headers["Location"], follow_redirects=True)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "The job queue cannot be reached" in text
    assert "Run the preview again" in text
    with down.app_context():
        assert db.session.scalar(sa.select(ImportJob.status)) == "failed"
        assert _count(Center) == 0


def test_a_job_whose_queue_message_was_lost_is_queued_again(queued_app):
    """A queue that lost its messages (Redis restarted without persistence, the queue file
    deleted): a job left ``queued`` is queued again when its page is looked at after
    LOST_AFTER s, and a job delivered twice runs once."""
    queued, consumer = queued_app
    client = queued.test_client()
    huey = queued.extensions["jobs"].huey
    with queued.app_context():
        _login(client)
        token = re.search(r"/admin/jobs/([\w-]+)$",
                          _upload(client).headers["Location"]).group(1)
        job = db.session.scalar(sa.select(ImportJob))
        assert [t.args for t in huey.pending()] == [(job.id,)]
        huey.flush()  # the message is gone
        assert client.get(f"/admin/jobs/{token}.json").get_json()["status"] == "queued"
        assert huey.pending() == []  # not yet: a message may be on its way to a consumer
        job.created_at = job.created_at - dt.timedelta(seconds=120)
        db.session.commit()
        client.get(f"/admin/jobs/{token}")  # looked at: queued again, once
        client.get(f"/admin/jobs/{token}.json")
        assert [t.args for t in huey.pending()] == [(job.id,)]
        queued.extensions["jobs"].tasks["import"](job.id)  # and delivered twice
    consumer.start()
    state = _wait(client, token)
    assert state["status"] == "done"
    time.sleep(1.0)  # the second delivery has run by now: it found the job claimed
    with queued.app_context():
        assert huey.pending() == []
        assert db.session.get(ImportJob, job.id).status == "done"
        assert _count(PendingImport) == 1  # a preview: the upload waits for its confirm
