"""Pages of background jobs (admin): an import job's progress, as HTML that refreshes
itself (no JavaScript needed) and as JSON that the page's script polls; "run again" for a
job whose worker stopped."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user

from directory.extensions import db
from directory.jobs.imports import read_progress, requeue_if_lost
from directory.models import ImportJob, PendingImport
from directory.web.auth import role_required
from directory.web.forms import ConfirmForm

bp = Blueprint("jobs", __name__, url_prefix="/admin/jobs")
REFRESH_SECONDS = 2  # the page's refresh (and poll) interval while the job runs


def _job(token: str) -> ImportJob:
    job = db.session.scalar(sa.select(ImportJob).where(ImportJob.token == token))
    if job is None or job.user != current_user.email:
        abort(404, description="There is no such import job (finished jobs are kept for "
                               "7 days).")
    return job


def _next_url(job: ImportJob) -> str | None:
    """Where the job's outcome is shown once it finished."""
    if job.status not in ("done", "failed"):
        return None
    if job.kind == "confirm" and job.status == "done":
        return url_for("admin.import_detail", run_id=job.run_id)
    pending = db.session.get(PendingImport, job.pending_id) if job.pending_id else None
    if pending is None:
        return url_for("admin.import_new")
    return url_for("admin.import_preview", token=pending.token)


def _state(job: ImportJob) -> dict:
    from flask import current_app

    jobs = current_app.extensions["jobs"]
    requeue_if_lost(jobs, job)  # a queued job whose message was lost would wait forever
    state = read_progress(jobs.huey, job)
    state["next"] = _next_url(job)
    return state


@bp.route("/<token>")
@role_required("admin")
def status(token: str):
    """The job's progress page; it reloads itself every few seconds while the job runs
    (``<meta http-equiv="refresh">``) and goes on to the outcome when it finished."""
    job = _job(token)
    state = _state(job)
    if state["next"] and job.status == "done":
        if job.kind == "confirm":
            flash(job.message, "success")
        return redirect(state["next"])
    if job.status == "failed" and job.kind == "confirm":
        flash(f"The import was not written: {job.message}", "error")
        return redirect(state["next"])
    if job.status == "failed":
        return redirect(state["next"])
    return render_template("admin/import_job.html", job=job, state=state,
                           refresh=REFRESH_SECONDS, form=ConfirmForm())


@bp.route("/<token>.json")
@role_required("admin")
def status_json(token: str):
    """The job's state: ``status`` (queued, running, done, failed), ``stage`` and
    ``stage_label``, ``done``/``total`` rows, ``percent`` (0-100, or null when unknown),
    ``stalled`` (its worker stopped), ``message``, ``next`` (the outcome's URL once
    finished)."""
    response = jsonify(_state(_job(token)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<token>/retry", methods=["POST"])
@role_required("admin")
def retry(token: str):
    """Queue again a job whose worker stopped while it ran (nothing of it was written)."""
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    from flask import current_app

    job = _job(token)
    if not (job.status == "running" and _state(job)["stalled"]):
        flash("This job is not stopped; it was not queued again.", "info")
        return redirect(url_for("jobs.status", token=token))
    job.status, job.started_at = "queued", None
    db.session.commit()
    current_app.extensions["jobs"].enqueue("import", job.id)
    db.session.expire_all()  # (an immediate job wrote through its own session)
    return redirect(url_for("jobs.status", token=token))
