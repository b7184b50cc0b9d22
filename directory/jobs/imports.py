"""The import workflow's jobs: the preview (a dry run of the pipeline, kept with the pending
import) and the confirm (the import, in one transaction), run by a queue consumer.

A job's lasting state is its :class:`~directory.models.ImportJob` row; while it runs, its
progress (stage, rows checked, a heartbeat every :data:`BEAT` seconds) is kept in the
queue's storage under ``import-progress:<token>``, so any web process can show it without
touching the database the import may be holding locked (SQLite). A job whose heartbeat
stopped for :data:`STALE` seconds was interrupted (its consumer was stopped or killed):
nothing of it was written (the confirm commits once), and it can be run again.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import re
import threading
import time

import sqlalchemy as sa
from flask import Flask

from directory.extensions import db
from directory.importer import FileError, ImportResult, run_import
from directory.models import Center, ImportJob, PendingImport, utcnow

log = logging.getLogger(__name__)
BEAT = 2.0  # seconds between heartbeats of a running job
STALE = 60.0  # a running job without a heartbeat for this long was interrupted
LOST_AFTER = 30.0  # a job queued this long whose message is not in the queue was lost (s)
KEEP = 200  # rows of each list kept in a preview (the rest are counted)
#: Stages of a job, in order, with the share of the whole job's time each takes (measured
#: on 200,000 rows on SQLite: checking the rows is most of a preview; a confirm also writes).
STAGES = {"preview": (("queued", 0.0), ("reading", 0.0), ("checking", 0.85),
                      ("matching", 0.15)),
          "confirm": (("queued", 0.0), ("reading", 0.0), ("checking", 0.45),
                      ("matching", 0.10), ("writing", 0.45))}
STAGE_LABELS = {"queued": "Waiting for a job worker", "reading": "Reading the file",
                "checking": "Checking rows", "matching": "Placing and matching centers "
                "with the directory", "writing": "Writing to the directory",
                "done": "Finished", "failed": "Stopped"}


def progress_key(token: str) -> str:
    return f"import-progress:{token}"


class Progress:
    """A running job's progress in the queue's storage (``huey.put``): a heartbeat thread
    rewrites it every :data:`BEAT` seconds; :meth:`rows` is the pipeline's ``progress``
    callback; :meth:`stage` moves forward only."""

    def __init__(self, huey, token: str, kind: str, total: int | None):
        self.huey, self.key, self.kind = huey, progress_key(token), kind
        self.state = {"stage": "reading", "done": 0, "total": total, "at": time.time(),
                      "started": time.time(), "stage_started": time.time()}
        self.order = [name for name, _ in STAGES[kind]]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name=f"heartbeat {token[:8]}")

    def __enter__(self):
        self.save()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _beat(self):
        while not self._stop.wait(BEAT):
            self.save()

    def save(self) -> None:
        with self._lock:
            self.state["at"] = time.time()
            try:
                self.huey.put(self.key, dict(self.state))
            except Exception:  # noqa: BLE001 - progress is advisory; the job goes on
                log.warning("could not save the progress of %s", self.key, exc_info=True)

    def rows(self, count: int) -> None:
        self.state["done"] += count
        self.stage("checking")

    def stage(self, name: str) -> None:
        if self.order.index(name) > self.order.index(self.state["stage"]):
            self.state["stage"], self.state["stage_started"] = name, time.time()
            self.save()


def watch_statements(connection, progress: Progress):
    """Move ``progress`` to "matching" at the pipeline's first read of stored centers and
    to "writing" at its run record; returns a function that stops watching."""
    from sqlalchemy import event

    matching = re.compile(r"\bFROM (center|source_record)\b", re.IGNORECASE)

    def seen(conn, cursor, statement, params, context, executemany):
        head = statement.lstrip()[:200]
        if head.upper().startswith("INSERT INTO IMPORT_RUN"):
            progress.stage("writing")
        elif matching.search(head):
            progress.stage("matching")

    event.listen(connection, "before_cursor_execute", seen)
    return lambda: event.remove(connection, "before_cursor_execute", seen)


def line_count(data: bytes) -> int | None:
    """About how many rows a CSV file has (``None`` for a zip: unknown until read)."""
    if data[:4] == b"PK\x03\x04":
        return None
    return max(data.count(b"\n"), data.count(b"\r"), 1) - 1 or 1


def run_import_job(app: Flask, job_id: int) -> None:
    """Run job ``job_id`` (queued by the web): a preview or a confirm of its pending
    import. Never raises: a file that cannot be imported (:class:`FileError`) or an
    unexpected error marks the job ``failed`` with a message, and nothing is written."""
    with app.app_context():
        try:
            _run(app, job_id)
        except Exception:
            log.exception("import job %s failed", job_id)
            db.session.rollback()
            _finish(job_id, "failed", "The job stopped on an unexpected error; nothing was "
                                      "written. Try again, or tell the site's maintainers.")
        finally:
            db.session.remove()


def _finish(job_id: int, status: str, message: str | None = None) -> None:
    job = db.session.get(ImportJob, job_id)
    if job is not None:
        job.status, job.message, job.finished_at = status, message, utcnow()
        db.session.commit()


def _run(app: Flask, job_id: int) -> None:
    from directory.web.params import get_import_geocoder

    # Claimed in one statement: a job delivered twice (queued again by requeue_if_lost
    # while a consumer had just taken it, or by two consumers) runs once.
    claimed = db.session.execute(sa.update(ImportJob).where(
        ImportJob.id == job_id, ImportJob.status == "queued").values(
        status="running", started_at=utcnow())).rowcount
    db.session.commit()
    if not claimed:
        return  # delivered twice, running elsewhere, finished or discarded
    job = db.session.get(ImportJob, job_id)
    pending = db.session.get(PendingImport, job.pending_id) if job.pending_id else None
    if pending is None:
        _finish(job_id, "failed", "This upload is no longer waiting (it was confirmed, "
                                  "cancelled or has expired). Upload the file again.")
        return
    job.rows = line_count(pending.data)
    db.session.commit()
    preview = job.kind == "preview"
    huey = app.extensions["jobs"].huey
    with Progress(huey, job.token, job.kind, job.rows) as progress:
        stop = watch_statements(db.session.connection(), progress)
        try:
            result = run_import(
                db.session, pending.data, filename=pending.filename, format=pending.format,
                source=pending.source, dry_run=preview, geocoder=get_import_geocoder(),
                user=job.user, progress=progress.rows,
                mapping=json.loads(pending.mapping) if pending.mapping else None,
                sheet=pending.sheet, keep_coordinates=bool(pending.keep_coordinates))
            names = _names(result) if preview else {}
        except FileError as exc:
            db.session.rollback()
            job = db.session.get(ImportJob, job_id)
            pending = db.session.get(PendingImport, job.pending_id) if job.pending_id else None
            if preview and pending is not None:
                pending.preview = pack({"error": str(exc)})
                pending.rejected_csv = None
            job.status, job.message, job.finished_at = "failed", str(exc), utcnow()
            db.session.commit()
            return
        finally:
            stop()
        if preview:
            db.session.rollback()  # a dry run: nothing of it stays
            job = db.session.get(ImportJob, job_id)
            pending = db.session.get(PendingImport, job.pending_id) if job.pending_id else None
            if pending is None:  # discarded while it ran
                _finish(job_id, "failed", "The upload was discarded.")
                return
            pending.preview = pack(summarise(result, names))
            pending.rejected_csv = gzip.compress(result.rejected_csv().encode("utf-8"), 6)
        else:  # the job's end is part of the import's one transaction
            job.run_id = result.run_id
            job.message = (f"Imported: added {result.added}, updated {result.updated}, "
                           f"unchanged {result.unchanged}, rejected {result.rejected}.")
            db.session.delete(pending)
        progress.__exit__(None, None, None)  # heartbeat stopped, progress let go before
        _forget_progress(huey, job.token)    # "done" is visible (a poll then finds none)
        job.status, job.finished_at = "done", utcnow()
        db.session.commit()
    _forget_progress(huey, job.token)


def _forget_progress(huey, token: str) -> None:
    try:
        huey.delete(progress_key(token))
    except Exception:  # noqa: BLE001 - a stale progress entry is harmless
        pass


def _names(result: ImportResult) -> dict[int, str]:
    """Names of the stored centers the preview lists (rows joining or resembling them)."""
    ids = [cid for _, _, cid, _ in result.duplicates[:KEEP]]
    if result.plan is not None:
        ids += [cid for _, cid, _ in (*result.plan.attach[:KEEP], *result.plan.review[:KEEP])]
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(Center.id, Center.name)
                                   .where(Center.id.in_(ids))).all())


def summarise(result: ImportResult, names: dict[int, str]) -> dict:
    """What the preview page shows of ``result``, as plain JSON values: the counts, the
    column mapping, and the first :data:`KEEP` of each list with its full length."""
    def issues(items):
        return [[i.line, i.column, i.message] for i in items[:KEEP]]

    def links(items):
        return [[record.line, record.name, cid, names.get(cid, str(cid)), link.rule,
                 link.score, link.reason] for record, cid, link in items[:KEEP]]

    plan = result.plan
    errors, warnings = result.errors, result.warnings
    return {
        "format": result.format, "source": result.source, "encoding": result.encoding,
        "sheet": result.sheet,
        "delimiter": result.delimiter, "rows": result.rows, "added": result.added,
        "linked": result.linked, "updated": result.updated, "unchanged": result.unchanged,
        "rejected": result.rejected, "not_in_file": result.not_in_file,
        "column_map": [list(pair) for pair in result.column_map],
        "errors": issues(errors), "error_total": len(errors),
        "warnings": issues(warnings), "warning_total": len(warnings),
        "attach": links(plan.attach) if plan is not None else [],
        "attach_total": len(plan.attach) if plan is not None else 0,
        "review": links(plan.review) if plan is not None else [],
        "review_total": len(plan.review) if plan is not None else 0,
        "duplicates": [[line, name, cid, names.get(cid, str(cid)), other]
                       for line, name, cid, other in result.duplicates[:KEEP]],
        "duplicate_total": len(result.duplicates),
    }


def pack(value: dict) -> bytes:
    return gzip.compress(json.dumps(value, ensure_ascii=False).encode("utf-8"), 6)


def unpack(blob: bytes | None) -> dict | None:
    return json.loads(gzip.decompress(blob)) if blob else None


def read_progress(huey, job: ImportJob) -> dict:
    """The job's state for a page or the JSON status: ``status``, ``stage`` and its label,
    ``done``/``total`` rows, ``percent`` (an estimate over the stages, or ``None`` when
    it cannot be told), ``stalled`` (running without a heartbeat for :data:`STALE` s),
    ``elapsed`` seconds."""
    state = None
    if job.status == "running":
        try:
            state = huey.get(progress_key(job.token), peek=True)
        except Exception:  # noqa: BLE001 - shown as "no progress reported"
            state = None
    now = time.time()
    stage = job.status if job.status in ("queued", "done", "failed") else \
        (state or {}).get("stage", "reading")
    done, total = (state or {}).get("done", 0), (state or {}).get("total") or job.rows
    percent = None
    if job.status == "done":
        percent = 100
    elif job.status == "running" and state:
        percent = _percent(job.kind, state, now)
    started = job.started_at or job.created_at
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=dt.UTC)
    stalled = job.status == "running" and (
        (state is None and started is not None
         and (dt.datetime.now(dt.UTC) - started).total_seconds() > STALE)
        or (state is not None and now - state["at"] > STALE))
    elapsed = round(now - state["started"]) if state else None
    if job.status == "queued":
        ahead = db.session.scalar(sa.select(sa.func.count(ImportJob.id)).where(
            ImportJob.id < job.id, ImportJob.status.in_(("queued", "running"))))
        summary = "Waiting in the queue." if not ahead else (
            f"Waiting in the queue: {ahead} import job{'s' if ahead > 1 else ''} ahead "
            f"of this one.")
    elif job.status in ("done", "failed"):
        summary = job.message or ("Finished." if job.status == "done" else "Stopped.")
    elif percent is None:
        summary = "Working."
    else:
        summary = f"{percent} % done" + (f", {elapsed} s so far." if elapsed else ".")
    return {"status": job.status, "kind": job.kind, "stage": stage, "summary": summary,
            "stage_label": STAGE_LABELS.get(stage, stage), "done": done, "total": total,
            "percent": percent, "stalled": stalled, "message": job.message,
            "run_id": job.run_id, "elapsed": elapsed}


def _percent(kind: str, state: dict, now: float) -> int:
    """The whole job's share done: the stages before the current one, plus the current
    one's part (rows checked of the total; else time in it against the time the rows
    took, capped below its end)."""
    stages = STAGES[kind]
    names = [n for n, _ in stages]
    index = names.index(state["stage"]) if state["stage"] in names else 1
    before = sum(w for _, w in stages[:index])
    weight = stages[index][1]
    if state["stage"] == "checking" and state.get("total"):
        part = min(1.0, state["done"] / state["total"])
    else:
        checked = max(1.0, state["stage_started"] - state["started"])
        expected = checked * weight / max(stages[2][1], 0.01)
        part = min(0.9, (now - state["stage_started"]) / max(expected, 1.0))
    return max(1, min(99, int(100 * (before + weight * part))))


def requeue_interrupted(app: Flask) -> int:
    """Queue again the jobs left ``running`` by a consumer that stopped (no heartbeat for
    :data:`STALE` s); returns how many. Safe: an interrupted job wrote nothing."""
    with app.app_context():
        jobs = app.extensions["jobs"]
        running = db.session.scalars(sa.select(ImportJob).where(
            ImportJob.status == "running")).all()
        count = 0
        for job in running:
            if read_progress(jobs.huey, job)["stalled"]:
                job.status, job.started_at = "queued", None
                db.session.commit()
                jobs.tasks["import"](job.id)
                count += 1
        db.session.remove()
        return count


def requeue_if_lost(jobs, job: ImportJob) -> bool:
    """Queue ``job`` again when it has waited :data:`LOST_AFTER` s and its message is no
    longer in the queue (a Redis restarted without persistence, a queue file deleted):
    without this it would wait forever. Returns whether it was queued again. A consumer
    that took the message a moment ago finds the job claimed (see :func:`_run`), so a
    second delivery runs nothing. ``jobs``: the app's :class:`~directory.jobs.Jobs`."""
    created = job.created_at
    if job.status != "queued" or created is None:
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    if (dt.datetime.now(dt.UTC) - created).total_seconds() < LOST_AFTER:
        return False
    try:
        waiting = {task.args[0] for task in jobs.huey.pending() if task.args}
    except Exception:  # noqa: BLE001 - the queue cannot be read: leave the job be
        return False
    if job.id in waiting:
        return False
    log.warning("import job %s was queued but its message is gone; queued again", job.id)
    jobs.tasks["import"](job.id)
    return True


def enqueue_job(kind: str, pending: PendingImport, user: str) -> ImportJob:
    """Create and queue a ``preview`` or ``confirm`` job of ``pending`` (committed first,
    so the consumer finds it)."""
    import secrets

    from flask import current_app

    job = ImportJob(token=secrets.token_urlsafe(24), kind=kind, user=user,
                    pending_id=pending.id, filename=pending.filename, status="queued")
    db.session.add(job)
    db.session.commit()
    job_id = job.id
    try:
        current_app.extensions["jobs"].enqueue("import", job_id)
    except Exception as exc:  # noqa: BLE001 - the queue's storage is down: say so
        log.exception("could not queue import job %s", job_id)
        db.session.rollback()
        _finish(job_id, "failed", f"The job queue cannot be reached ({type(exc).__name__}); "
                                  f"nothing was written. Try again in a moment.")
    db.session.expire_all()
    return db.session.get(ImportJob, job_id)


def prune(session, older_than: dt.timedelta) -> None:
    """Delete finished jobs older than ``older_than`` (their imports stay in the history)."""
    session.execute(sa.delete(ImportJob).where(
        ImportJob.created_at < dt.datetime.now(dt.UTC) - older_than,
        ImportJob.status.in_(("done", "failed"))))
