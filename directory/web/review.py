"""The editors' review queue of suggested updates (``/admin/suggestions``): each suggestion
beside the center's current values and their sources; accept all or some items (values
edited first), reject with a reason, undo an acceptance; decided and withdrawn suggestions
stay searchable. The work is :mod:`directory.curation.suggest`; every POST carries a CSRF
token and each view commits once at the end.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from directory.curation.merge import merged_into
from directory.curation.records import editor_fields
from directory.curation.suggest import (
    ROLE_PHRASES,
    STATUS_PHRASES,
    SUGGESTION,
    SuggestionError,
    accept_suggestion,
    check_item_value,
    plain_text,
    reject_suggestion,
    revert_suggestion,
)
from directory.extensions import db
from directory.models import SUGGESTION_STATUSES, Center, Suggestion
from directory.text import fold
from directory.vocabulary import load_vocabulary
from directory.web.auth import role_required
from directory.web.display import center_provenance, phone_display, status_label
from directory.web.forms import ConfirmForm
from directory.web.suggest import KIND_NAMES, item_text

bp = Blueprint("review", __name__, url_prefix="/admin/suggestions")
MAX_REASON = 1000
#: How long a visitor's email is kept once their suggestion is decided or withdrawn: it is
#: only for the editors' questions about it (the suggest form says so).
EMAIL_RETENTION = dt.timedelta(days=90)


def status_counts() -> dict[str, int]:
    """Suggestions per status (every status of
    :data:`~directory.models.SUGGESTION_STATUSES`, 0 when none)."""
    counts = dict(db.session.execute(sa.select(Suggestion.status, sa.func.count())
                                     .group_by(Suggestion.status)).all())
    return {s: counts.get(s, 0) for s in SUGGESTION_STATUSES}


@bp.route("/")
@role_required("admin", "editor")
def queue():
    """Suggestions of one status (``status``: open by default, or ``all``), oldest open
    first, newest decided first; ``q`` finds a suggestion by its number or its center's
    number or name."""
    status = request.args.get("status", "open")
    if status not in (*SUGGESTION_STATUSES, "all"):
        abort(400, description="status must be one of: " + ", ".join(
            (*SUGGESTION_STATUSES, "all")) + ".")
    if forget_emails(db.session):
        db.session.commit()
    q = (request.args.get("q") or "").strip()[:200]
    stmt = sa.select(Suggestion)
    if status != "all":
        stmt = stmt.where(Suggestion.status == status)
    if q.isascii() and q.lstrip("#").isdigit() and len(q) <= 12:
        number = int(q.lstrip("#"))
        stmt = stmt.where(sa.or_(Suggestion.id == number, Suggestion.center_id == number))
    elif q:
        for word in fold(q).split()[:10]:
            stmt = stmt.where(sa.func.lower(Suggestion.center_name).contains(
                word, autoescape=True))
    order = Suggestion.created_at if status == "open" else Suggestion.id.desc()
    rows = db.session.scalars(stmt.order_by(order, Suggestion.id).limit(200)).all()
    return render_template("admin/suggestions.html", rows=rows, status=status, q=q,
                           counts=status_counts(), roles=ROLE_PHRASES, kinds=KIND_NAMES)


def forget_emails(session, now: dt.datetime | None = None) -> int:
    """Erase the senders' emails of the suggestions decided or withdrawn more than
    :data:`EMAIL_RETENTION` ago (run when the review queue is opened); returns how many."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - EMAIL_RETENTION
    return session.execute(sa.update(Suggestion).where(
        Suggestion.status != "open", Suggestion.email.is_not(None),
        Suggestion.decided_at < cutoff).values(email=None)).rowcount


def _suggestion(suggestion_id: int) -> Suggestion:
    suggestion = db.session.get(Suggestion, suggestion_id)
    if suggestion is None:
        abort(404, description=f"There is no suggestion #{suggestion_id}.")
    return suggestion


def _center(suggestion: Suggestion) -> Center | None:
    """The suggestion's center, or the one it was merged into; ``None`` when deleted."""
    center = db.session.get(Center, suggestion.center_id)
    if center is None:
        target = merged_into(db.session, suggestion.center_id)
        center = db.session.get(Center, target) if target else None
    return center


def _rows(suggestion: Suggestion, center: Center | None) -> list[dict]:
    """Each item beside the center's current value and where that value came from."""
    names = {m.slug: m.name for m in load_vocabulary().modalities}
    prov = center_provenance(center) if center is not None else None
    edited = editor_fields(center) if center is not None else set()
    rows = []
    for item in suggestion.items:
        country = center.country if center is not None else None
        row = {"item": item, "label": KIND_NAMES[item.kind], "now": "", "origins": [],
               "shown": item_text(item, names, country),
               "parts": json.loads(item.accepted_value or item.value)
               if item.kind == "address" else None,
               "taken": item_text(item, names, country, item.accepted_value)
               if item.outcome == "accepted" and item.accepted_value
               and item.kind != "no-longer-offers" else None}
        if center is None:
            rows.append(row)
            continue
        field = "address" if item.kind == "address" else item.kind
        if field in edited:
            row["note"] = ("An editor's value is set for this field and still shows over "
                           "an accepted suggestion until it is cleared on the Edit page.")
        if item.kind == "phone":
            row["now"] = phone_display(center.phone, center.country) if center.phone else ""
            row["origins"] = [o.label for o in prov.origins("phone")]
        elif item.kind == "website":
            row["now"] = center.website or ""
            row["origins"] = [o.label for o in prov.origins("website")]
        elif item.kind == "address":
            row["now"] = ", ".join(p for p in (center.address, center.city, center.region,
                                               center.postal_code, center.country) if p)
            row["origins"] = [o.label for o in prov.origins(
                "address", "city", "region", "postal_code", "country")]
        elif item.kind == "status":
            row["now"] = status_label(center.status)
            row["origins"] = [o.label for o in prov.origins("status")]
        else:
            claims = [cm for cm in center.modalities if cm.modality.slug == item.value]
            row["now"] = "reported by " + str(len(claims)) + " source(s)" if claims \
                else "not reported by any source"
            row["origins"] = [f"{prov.source_name(cm.source)}: {cm.provenance}"
                              + (f", {cm.verified_on.isoformat()}" if cm.verified_on else "")
                              for cm in claims]
            if item.kind == "no-longer-offers" and any(cm.source != SUGGESTION
                                                       for cm in claims):
                row["note"] = ("Accepting keeps the other sources' claims (they still say "
                               "it); the center page shows that the center reported it no "
                               "longer offers it.")
        rows.append(row)
    return rows


def _detail(suggestion: Suggestion, errors: dict[str, str] | None = None, status: int = 200,
            reason: str = ""):
    center = _center(suggestion)
    return render_template("admin/suggestion.html", s=suggestion, c=center,
                           rows=_rows(suggestion, center), roles=ROLE_PHRASES,
                           statuses=STATUS_PHRASES, errors=errors or {}, form=ConfirmForm(),
                           reason=reason), status


@bp.route("/<id:suggestion_id>")
@role_required("admin", "editor")
def detail(suggestion_id: int):
    """One suggestion beside the center's current values, with the decision forms."""
    return _detail(_suggestion(suggestion_id))


def _checked_form() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400, description="The form expired; reload the page and try again.")


@bp.route("/<id:suggestion_id>/accept", methods=["POST"])
@role_required("admin", "editor")
def accept(suggestion_id: int):
    """Accept the ticked items (``accept``: item ids), each with its value as edited on the
    page (``value-<id>``; an address as ``value-<id>-address``, ``-city``,
    ``-postal_code``; a value not in the form is taken as sent); the others are rejected
    with the optional ``reason``."""
    suggestion = _suggestion(suggestion_id)
    _checked_form()
    center = _center(suggestion)
    if center is None:
        abort(400, description="The center of this suggestion no longer exists; reject it.")
    if suggestion.status != "open":
        abort(400, description=f"Suggestion #{suggestion.id} is {suggestion.status}, not open.")
    errors: dict[str, str] = {}
    reason = ""
    try:
        reason = plain_text(request.form.get("reason"), "reason", MAX_REASON, "description")
    except SuggestionError as exc:
        errors[exc.field] = exc.message
    ticked = set(request.form.getlist("accept"))
    accepted: dict[int, str] = {}
    for item in suggestion.items:
        if str(item.id) not in ticked:
            continue
        key = f"value-{item.id}"
        if item.kind == "address":  # (parts not in the form: as sent)
            sent = json.loads(item.value)
            value = {part: request.form.get(f"{key}-{part}", sent.get(part) or "")
                     for part in ("address", "city", "postal_code")}
        else:
            value = request.form.get(key, item.value)
        try:
            accepted[item.id] = check_item_value(item, value, center.country)
        except SuggestionError as exc:
            errors[exc.field] = exc.message
    if not errors:
        try:
            accept_suggestion(db.session, suggestion, center, accepted,
                              user=current_user.email, reason=reason)
        except SuggestionError as exc:
            errors[exc.field or "form"] = exc.message
    if errors:
        db.session.rollback()
        return _detail(suggestion, errors, 400, reason=request.form.get("reason", ""))
    db.session.commit()
    flash(f"Suggestion #{suggestion.id} accepted ({len(accepted)} of "
          f"{len(suggestion.items)} item(s)); the center page shows it now.", "success")
    return redirect(url_for("review.detail", suggestion_id=suggestion.id))


@bp.route("/<id:suggestion_id>/reject", methods=["POST"])
@role_required("admin", "editor")
def reject(suggestion_id: int):
    """Reject the whole suggestion; ``reason`` is required (kept, and in the audit log)."""
    suggestion = _suggestion(suggestion_id)
    _checked_form()
    try:
        reason = plain_text(request.form.get("reason"), "reason", MAX_REASON, "description")
        reject_suggestion(db.session, suggestion, user=current_user.email, reason=reason)
    except SuggestionError as exc:
        db.session.rollback()
        return _detail(suggestion, {exc.field or "form": exc.message}, 400,
                       reason=request.form.get("reason", ""))
    db.session.commit()
    flash(f"Suggestion #{suggestion.id} rejected.", "success")
    return redirect(url_for("review.queue"))


@bp.route("/<id:suggestion_id>/revert", methods=["POST"])
@role_required("admin", "editor")
def revert(suggestion_id: int):
    """Undo an accepted suggestion: its values and claims leave the center."""
    suggestion = _suggestion(suggestion_id)
    _checked_form()
    center = _center(suggestion)
    if center is None:
        abort(400, description="The center of this suggestion no longer exists.")
    try:
        revert_suggestion(db.session, suggestion, center, user=current_user.email)
    except SuggestionError as exc:
        abort(400, description=exc.message)
    db.session.commit()
    flash(f"Suggestion #{suggestion.id} undone; the sources' values show again.", "success")
    return redirect(url_for("review.detail", suggestion_id=suggestion.id))
