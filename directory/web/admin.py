"""Admin pages: the import workflow (upload -> preview -> confirm -> result), import
history with rejected rows and revert, duplicates and merge, center editing with history,
and accounts. Every POST carries a CSRF token; each view commits once at the end."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import secrets

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_user

from directory.curation.audit import history, record_changes, snapshot
from directory.curation.merge import (
    UnmergeError,
    find_duplicate_pairs,
    merge_centers,
    unmerge_center,
)
from directory.curation.revert import revert_import
from directory.extensions import db, export_limit
from directory.importer import FORMAT_NAMES
from directory.importer.formats import CENTER_FORMATS, MAPPABLE_FIELDS, MODALITY_FORMATS
from directory.jobs.imports import enqueue_job, unpack
from directory.jobs.imports import prune as prune_jobs
from directory.models import (
    CENTER_KINDS,
    CENTER_STATUSES,
    Center,
    CenterModality,
    ChangeRecord,
    ImportJob,
    ImportRun,
    LinkReview,
    PendingImport,
    User,
    utcnow,
)
from directory.text import fold
from directory.vocabulary import load_vocabulary
from directory.web.auth import role_required, upsert_user
from directory.web.forms import CenterForm, ConfirmForm, ImportUploadForm, UserForm

bp = Blueprint("admin", __name__, url_prefix="/admin")
PENDING_TTL = dt.timedelta(days=1)  # an upload (and its kept preview) waits this long
JOB_TTL = dt.timedelta(days=7)  # finished jobs' rows are kept this long


def _format_choices():
    labels = {**{k: f.label for k, f in CENTER_FORMATS.items()},
              **{k: f.label for k, f in MODALITY_FORMATS.items()}}
    return [("auto", "Detect automatically")] + [(n, labels.get(n, n))
                                                 for n in FORMAT_NAMES if n != "auto"]


@bp.route("/")
@role_required("admin", "editor")
def home():
    """Dashboard: recent imports, suggested updates by status, shortcuts."""
    runs = db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc()).limit(10)).all()
    total = db.session.scalar(sa.select(sa.func.count(Center.id)))
    from directory.web.review import status_counts

    return render_template("admin/home.html", runs=runs, total=total,
                           suggestions=status_counts())


# ---------------------------------------------------------------------------- imports

@bp.route("/imports")
@role_required("admin")
def imports():
    """Every import: file, sha-256, user, time, format, counts, status."""
    runs = db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).all()
    return render_template("admin/imports.html", runs=runs)


@bp.route("/imports/new", methods=["GET", "POST"])
@role_required("admin")
def import_new():
    """Upload a file; it is kept as a pending import and a preview job is queued (nothing
    written yet); the browser follows the job's progress page."""
    form = ImportUploadForm()
    form.format.choices = _format_choices()
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read()
        db.session.execute(sa.delete(PendingImport).where(
            PendingImport.created_at < dt.datetime.now(dt.UTC) - PENDING_TTL))
        prune_jobs(db.session, JOB_TTL)
        pending = PendingImport(token=secrets.token_urlsafe(24), user=current_user.email,
                                filename=(upload.filename or "upload.csv")[:300], data=data,
                                format=form.format.data or "auto",
                                source=(form.source.data or "").strip() or None,
                                sheet=(form.sheet.data or "").strip() or None)
        db.session.add(pending)
        db.session.commit()
        job = enqueue_job("preview", pending, current_user.email)
        return _follow(job, pending.token)
    return render_template("admin/import_new.html", form=form,
                           max_bytes=current_app.config["MAX_CONTENT_LENGTH"])


def _follow(job: ImportJob, token: str):
    """Where the browser goes after queueing ``job``: its progress page, or (a job that
    already finished, e.g. in immediate mode) its outcome."""
    if job.status == "done" and job.kind == "confirm":
        flash(job.message, "success")
        return redirect(url_for("admin.import_detail", run_id=job.run_id))
    if job.status in ("done", "failed") and job.kind == "preview":
        return redirect(url_for("admin.import_preview", token=token))
    return redirect(url_for("jobs.status", token=job.token))


def _pending(token: str) -> PendingImport:
    pending = db.session.scalar(sa.select(PendingImport).where(PendingImport.token == token))
    if pending is None or pending.user != current_user.email:
        abort(404, description="This upload is no longer waiting (it was confirmed, "
                               "cancelled or has expired). Upload the file again.")
    return pending


def _latest_job(pending: PendingImport) -> ImportJob | None:
    return db.session.scalar(sa.select(ImportJob).where(ImportJob.pending_id == pending.id)
                             .order_by(ImportJob.id.desc()).limit(1))


@bp.route("/imports/preview/<token>", methods=["GET", "POST"])
@role_required("admin")
def import_preview(token: str):
    """What the import would do (computed once by a preview job and kept), with the
    column mapping to adjust; then confirm (a job too)."""
    pending = _pending(token)
    form = ConfirmForm()
    job = _latest_job(pending)
    if job is not None and job.status in ("queued", "running"):
        return redirect(url_for("jobs.status", token=job.token))  # one job at a time
    if request.method == "POST" and form.validate_on_submit():
        action = request.form.get("action")
        if action == "cancel":
            db.session.delete(pending)
            db.session.commit()
            flash("Import cancelled; nothing was written.", "info")
            return redirect(url_for("admin.import_new"))
        if action == "remap":
            mapping = {}
            for key, value in request.form.items():
                if key.startswith("map-") and value in (*MAPPABLE_FIELDS, "ignore"):
                    mapping[request.form.get("col-" + key[4:], "")] = value
            pending.mapping = json.dumps({k: v for k, v in mapping.items() if k})
            pending.preview = pending.rejected_csv = None
            db.session.commit()
            return _follow(enqueue_job("preview", pending, current_user.email), token)
        if action == "options":  # the sheet, and the file's coordinates confirmed
            pending.keep_coordinates = request.form.get("keep_coordinates") == "1"
            if "sheet" in request.form:
                pending.sheet = request.form["sheet"].strip()[:100] or None
            pending.preview = pending.rejected_csv = None
            db.session.commit()
            return _follow(enqueue_job("preview", pending, current_user.email), token)
        if action == "confirm":
            return _follow(enqueue_job("confirm", pending, current_user.email), token)
        if action == "retry":
            return _follow(enqueue_job("preview", pending, current_user.email), token)
        abort(400, description="Unknown action.")
    summary = unpack(pending.preview)
    if summary is None and job is not None and job.status == "failed":
        return render_template("admin/import_error.html", pending=pending, retry=True,
                               message=job.message, form=form)
    if summary is None:  # uploaded before jobs: preview it now
        return _follow(enqueue_job("preview", pending, current_user.email), token)
    if "error" in summary:
        return render_template("admin/import_error.html", pending=pending,
                               message=summary["error"], form=form), 400
    failed = job.message if job is not None and job.kind == "confirm" and \
        job.status == "failed" else None
    return render_template("admin/import_preview.html", pending=pending, result=summary,
                           form=form, fields=MAPPABLE_FIELDS, failed=failed)


@bp.route("/imports/preview/<token>/rejected.csv")
@role_required("admin")
def preview_rejected_csv(token: str):
    """Rejected rows of a pending import, as CSV (original columns + line + error), as
    its preview job found them."""
    pending = _pending(token)
    if pending.rejected_csv is None:
        abort(404, description="The preview of this upload is not ready yet.")
    return _csv_download(gzip.decompress(pending.rejected_csv).decode("utf-8"),
                         f"rejected-{pending.filename}")


def _csv_download(text: str, filename: str) -> Response:
    safe = "".join(c for c in filename if c.isalnum() or c in "-_.") or "rejected.csv"
    if not safe.endswith(".csv"):
        safe += ".csv"
    return Response("\ufeff" + text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{safe}"'})


@bp.route("/imports/<id:run_id>")
@role_required("admin")
def import_detail(run_id: int):
    """One import's result: counts, rejected rows, warnings, and a revert button."""
    run = db.get_or_404(ImportRun, run_id)
    changed = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(ChangeRecord.center_id)))
        .where(ChangeRecord.import_run_id == run_id))
    return render_template("admin/import_detail.html", run=run, form=ConfirmForm(),
                           changed=changed)


@bp.route("/imports/<id:run_id>/rejected.csv")
@role_required("admin")
def import_rejected_csv(run_id: int):
    """The rejected rows of a committed import, as CSV (original columns + line + error)."""
    from directory.importer.result import rejected_rows_csv

    run = db.get_or_404(ImportRun, run_id)
    header = json.loads(run.header) if run.header else []
    rows: dict[int, tuple[list[str], list[str]]] = {}
    for issue in run.issues:
        if issue.severity != "error":
            continue
        cells = json.loads(issue.row_data) if issue.row_data else []
        where = f"{issue.column}: " if issue.column else ""
        rows.setdefault(issue.line, (cells, []))[1].append(where + issue.message)
    return _csv_download(rejected_rows_csv(header, rows), f"rejected-{run.filename}")


@bp.route("/imports/<id:run_id>/revert", methods=["POST"])
@role_required("admin")
def import_revert(run_id: int):
    """Undo an import (centers it added removed, fields it changed restored)."""
    run = db.get_or_404(ImportRun, run_id)
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    if run.status == "reverted":
        flash("This import was already reverted.", "info")
        return redirect(url_for("admin.import_detail", run_id=run_id))
    result = revert_import(db.session, run, user=current_user.email)
    db.session.commit()
    message = f"Reverted: {result.removed} centers removed, {result.restored} restored."
    if result.skipped:
        message += (f" {len(result.skipped)} field(s) were edited after the import and kept "
                    f"their newer value.")
    flash(message, "success")
    return redirect(url_for("admin.import_detail", run_id=run_id))


@bp.route("/export.csv")
@export_limit
@role_required("admin")
def export_csv():
    """The whole directory in the project's CSV template (formula cells neutralised)."""
    from directory.exchange.template import directory_csv_bytes

    stamp = dt.date.today().isoformat()
    return Response(directory_csv_bytes(db.session), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="centers-{stamp}.csv"'})


@bp.route("/export-hsds.zip")
@export_limit
@role_required("admin")
def export_hsds():
    """The whole directory as an Open Referral HSDS 3.0 tabular package (zip)."""
    from directory.exchange.hsds import export_package

    stamp = dt.date.today().isoformat()
    return Response(export_package(db.session), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="centers-hsds-{stamp}.zip"'})


# ---------------------------------------------------------------------------- duplicates

@bp.route("/duplicates")
@role_required("admin")
def duplicates():
    """Pairs waiting for a person: the linker's review queue (scored between its review and
    link thresholds), then same-name centers sharing a postal code or within 100 m."""
    reviews = db.session.scalars(sa.select(LinkReview).where(LinkReview.status == "open")
                                 .order_by(LinkReview.score.desc(), LinkReview.id)
                                 .limit(500)).all()
    ids = {i for r in reviews for i in (r.center_id, r.other_center_id)}
    centers = {c.id: c for c in db.session.scalars(
        sa.select(Center).where(Center.id.in_(ids)))} if ids else {}
    reviews = [r for r in reviews if r.center_id in centers and r.other_center_id in centers]
    open_total = db.session.scalar(sa.select(sa.func.count(LinkReview.id))
                                   .where(LinkReview.status == "open"))
    pairs = find_duplicate_pairs(db.session, limit=500)
    return render_template("admin/duplicates.html", pairs=pairs, reviews=reviews,
                           centers=centers, open_total=open_total, form=ConfirmForm())


@bp.route("/duplicates/merge", methods=["POST"])
@role_required("admin")
def duplicates_merge():
    """Merge ``drop`` into ``keep``: ``drop``'s source records, claims and designations
    join ``keep``; ``drop``'s id is remembered (unmerge gives it back)."""
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    try:
        keep_id, drop_id = int(request.form["keep"]), int(request.form["drop"])
    except (KeyError, ValueError):
        abort(400, description="Choose the two centers to merge.")
    if not (0 < keep_id < 2**31 and 0 < drop_id < 2**31):
        abort(400, description="Those two centers cannot be merged.")
    keep, drop = db.session.get(Center, keep_id), db.session.get(Center, drop_id)
    if keep is None or drop is None or keep.id == drop.id:
        abort(400, description="Those two centers cannot be merged.")
    merge_centers(db.session, keep, drop, user=current_user.email)
    db.session.commit()
    flash(f"Merged center {drop_id} into {keep.name}. To undo, use \"Unmerge\" in the "
          f"history of center {keep.id} (listed under \"Centers merged into this one\").",
          "success")
    return redirect(url_for("admin.duplicates"))


@bp.route("/duplicates/<id:review_id>/reject", methods=["POST"])
@role_required("admin")
def duplicates_reject(review_id: int):
    """Mark a review pair as two different places (it leaves the queue; nothing changes)."""
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    review = db.session.get(LinkReview, review_id)
    if review is None or review.status != "open":
        abort(404, description=f"There is no open review pair {review_id}.")
    review.status, review.decided_by = "rejected", current_user.email
    review.decided_at = utcnow()
    db.session.commit()
    flash("Marked as two different places.", "success")
    return redirect(url_for("admin.duplicates"))


@bp.route("/centers/<id:center_id>/unmerge", methods=["POST"])
@role_required("admin")
def center_unmerge(center_id: int):
    """Give back a center that was merged into another (same id, its records and claims)."""
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    try:
        center = unmerge_center(db.session, center_id, user=current_user.email)
    except UnmergeError as exc:
        abort(400, description=str(exc))
    db.session.commit()
    flash(f"Center {center_id} ({center.name}) is back as it was before the merge.",
          "success")
    return redirect(url_for("admin.center_history", center_id=center_id))


# ---------------------------------------------------------------------------- centers

@bp.route("/centers")
@role_required("admin", "editor")
def centers():
    """Find a center to edit (by name words or id)."""
    q = (request.args.get("q") or "").strip()[:200]
    stmt = sa.select(Center).order_by(Center.name_folded, Center.id).limit(50)
    if q.isascii() and q.isdigit() and len(q) <= 12:  # an id ("²" is a digit, not a number)
        stmt = stmt.where(Center.id == int(q))
    elif q:
        for token in fold(q).split()[:10]:
            stmt = stmt.where(Center.search_text.contains(token, autoescape=True))
    rows = db.session.scalars(stmt).all() if q else []
    return render_template("admin/centers.html", rows=rows, q=q)


def _center_form(center: Center | None, formdata=None) -> CenterForm:
    vocabulary = load_vocabulary()
    form = CenterForm(formdata=formdata, obj=center)
    form.kind.choices = [(k, k) for k in CENTER_KINDS]
    form.status.choices = [(s, s.replace("-", " ")) for s in CENTER_STATUSES]
    form.modalities.choices = [(m.slug, m.name) for m in vocabulary.modalities]
    if center is not None:
        from directory.curation.records import editor_fields

        labels = {"latitude": "coordinates"}
        form.use_sources.choices = [(f, labels.get(f, f.replace("_", " ")))
                                    for f in sorted(editor_fields(center))
                                    if f not in ("longitude", "geocode_precision")]
    return form


@bp.route("/centers/<id:center_id>/edit", methods=["GET", "POST"])
@role_required("admin", "editor")
def center_edit(center_id: int):
    """Edit every field; admin-confirmed modalities are claims from source ``admin``."""
    center = db.session.scalar(sa.select(Center).where(Center.id == center_id).options(
        so.selectinload(Center.modalities).joinedload(CenterModality.modality),
        so.selectinload(Center.records)))
    if center is None:
        abort(404, description=f"There is no center with id {center_id}.")
    form = _center_form(center, formdata=request.form if request.method == "POST" else None)
    if request.method == "GET":
        form.modalities.data = [cm.modality.slug for cm in center.modalities
                                if cm.source == "admin"]
        form.verified_on.data = dt.date.today()
    if form.validate_on_submit():
        from directory.curation.edit import apply_center_form

        before = snapshot(center)
        apply_center_form(db.session, center, form)
        db.session.flush()
        records = record_changes(db.session, center, before, snapshot(center),
                                 user=current_user.email)
        db.session.commit()
        flash(f"Saved ({len(records)} field(s) changed).", "success")
        return redirect(url_for("admin.center_history", center_id=center.id))
    return render_template("admin/center_edit.html", form=form, center=center)


@bp.route("/centers/<id:center_id>/history")
@role_required("admin", "editor")
def center_history(center_id: int):
    """Every recorded change to a center: who, when, field, before, after."""
    center = db.session.get(Center, center_id)
    records = history(db.session, center_id)
    if center is None and not records:
        abort(404, description=f"There is no center with id {center_id}.")
    merged = db.session.scalars(sa.select(ChangeRecord).where(
        ChangeRecord.field == "center", ChangeRecord.action == "merge",
        ChangeRecord.after == f"merged into center {center_id}")
        .order_by(ChangeRecord.id.desc())).all()
    merged = [m for m in merged if db.session.get(Center, m.center_id) is None]
    return render_template("admin/center_history.html", center=center, records=records,
                           center_id=center_id, merged=merged, form=ConfirmForm())


# ---------------------------------------------------------------------------- users

@bp.route("/users", methods=["GET", "POST"])
@role_required("admin")
def users():
    """List accounts and create one."""
    form = UserForm()
    if form.validate_on_submit():
        try:
            user, created = upsert_user(db.session, form.email.data, form.password.data,
                                        form.role.data)
        except ValueError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            if user.id == current_user.id:  # your own new password: stay signed in here
                login_user(user)
            message = f"{'Created' if created else 'Updated'} {user.role} {user.email}."
            if not created:
                message += " Its earlier sessions are signed out."
            if not user.active:
                message += " The account stays deactivated: use Reactivate to let it sign in."
            flash(message, "success")
            return redirect(url_for("admin.users"))
    accounts = db.session.scalars(sa.select(User).order_by(User.email)).all()
    return render_template("admin/users.html", form=form, accounts=accounts,
                           confirm=ConfirmForm())


@bp.route("/users/<id:user_id>/deactivate", methods=["POST"])
@role_required("admin")
def user_deactivate(user_id: int):
    """Deactivate an account (not your own)."""
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    user = db.get_or_404(User, user_id)
    if user.id == current_user.id:
        abort(400, description="You cannot deactivate your own account.")
    user.active = False
    user.revoke_sessions()
    db.session.commit()
    flash(f"{user.email} can no longer sign in; its sessions are signed out.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<id:user_id>/reactivate", methods=["POST"])
@role_required("admin")
def user_reactivate(user_id: int):
    """Let a deactivated account sign in again (with its password; no old session revives:
    deactivation replaced their token)."""
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")
    user = db.get_or_404(User, user_id)
    user.active = True
    db.session.commit()
    flash(f"{user.email} can sign in again.", "success")
    return redirect(url_for("admin.users"))
