""""Suggest an update" on every center page, no account needed: the form, its checks
(CSRF, a rate limit per client address, a honeypot field, length limits, plain text, the
importer's field rules), and the visitor's confirmation page, where an open suggestion can
be withdrawn. Nothing suggested is shown publicly until an editor accepts it
(:mod:`directory.web.review`). Works without JavaScript.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    url_for,
)
from flask_babel import gettext as _

from directory.curation.suggest import (
    MAX_COMMENT,
    ROLE_PHRASES,
    STATUS_SENTENCES,
    SuggestionError,
    check_email,
    create_suggestion,
    plain_text,
    proposed_items,
    withdraw_suggestion,
)
from directory.extensions import db, limiter
from directory.models import Center, Suggestion
from directory.text import N_, Message
from directory.vocabulary import load_vocabulary
from directory.web.display import phone_display
from directory.web.forms import ConfirmForm, SuggestForm
from directory.web.i18n import modality_name, number

bp = Blueprint("suggest", __name__)
#: Each item kind as a heading (English for the admin pages; :func:`kind_name` for people).
KIND_NAMES = {"phone": N_("Phone"), "website": N_("Website"), "address": N_("Address"),
              "status": N_("Open or closed"), "offers": N_("Offers a treatment"),
              "no-longer-offers": N_("No longer offers a treatment")}
#: An accepted item as its center page lists it.
REPORTED_KINDS = {"phone": N_("Phone: %(value)s"), "website": N_("Website: %(value)s"),
                  "address": N_("Address: %(value)s"), "offers": N_("Offers: %(value)s"),
                  "no-longer-offers": N_("No longer offers: %(value)s")}


def kind_name(kind: str) -> str:
    """An item kind's heading in the page's language (``"offers"`` -> "Offers a treatment")."""
    return _(KIND_NAMES[kind]) if kind in KIND_NAMES else kind


def role_phrase(role: str | None) -> str:
    """Who reported a suggestion, in the page's language ("someone at the center")."""
    return _(ROLE_PHRASES.get(role or "", N_("someone else")))


def message_text(message: str) -> str:
    """A checker's message (a :class:`~directory.text.Message` or a plain catalog string)
    in the page's language, its numbers in the locale's form."""
    if isinstance(message, Message):
        params = {k: number(v) if isinstance(v, int) else v for k, v in message.params.items()}
        return _(message.template, **params)
    return _(message)


def _too_many() -> str:
    return _("Too many suggestions from your address. Thank you: please wait an hour and try "
             "again, or write to the editors.")


def _limit() -> str:
    return current_app.config["SUGGEST_RATE_LIMIT"]


def _counts(response) -> bool:
    """A stored suggestion (a redirect) or a honeypot hit counts against the limit; a form
    sent back with errors does not (a person fixing a typo is not spamming)."""
    return response.status_code == 303 or g.get("suggest_spam", False)


def _form(center: Center) -> SuggestForm:
    form = SuggestForm()
    choices = [(m.slug, modality_name(m)) for m in load_vocabulary().modalities]
    form.offers.choices = form.no_longer_offers.choices = choices
    return form


@bp.route("/centers/<id:center_id>/suggest", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"], deduct_when=_counts,
               error_message=_too_many)
def new(center_id: int):
    """The form (GET); check and store a suggestion, then redirect (303) to its
    confirmation page (POST). Bad input is the form again with each error beside its
    field, status 400; nothing is stored."""
    center = db.session.get(Center, center_id)
    if center is None:
        from directory.curation.merge import merged_into

        target = merged_into(db.session, center_id)
        if target is not None:  # merged into another: suggest for that one
            return redirect(url_for("suggest.new", center_id=target), 301)
        abort(404, description=_("There is no center with id %(id)s.", id=center_id))
    form = _form(center)
    children = {m.slug for m in load_vocabulary().modalities if m.parent}
    if not form.is_submitted():
        return render_template("public/suggest.html", c=center, form=form, children=children)
    problems: list[tuple[str, str]] = []
    if form.homepage.data:
        g.suggest_spam = True
        problems.append(("homepage", N_("This field must stay empty (it is there to stop "
                                        "automated spam).")))
    valid = form.validate()  # (a missing or stale CSRF token is a 400 before this view)
    items, errors = proposed_items({f.name: f.data for f in form}, center.country,
                                   [m.slug for m in load_vocabulary().modalities])
    problems += errors
    email = comment = None
    try:
        email = check_email(form.email.data)
    except SuggestionError as exc:
        problems.append((exc.field, exc.message))
    try:
        comment = plain_text(form.comment.data, "comment", MAX_COMMENT, "description")
    except SuggestionError as exc:
        problems.append((exc.field, exc.message))
    if problems or not valid:  # every error at once, each beside its field
        for field, message in problems:
            message = message_text(message)
            target = getattr(form, field, None) if field else None
            if target is None:
                form.form_errors.append(message)
            else:
                target.errors = [*target.errors, message]
        return render_template("public/suggest.html", c=center, form=form,
                               children=children), 400
    suggestion = create_suggestion(db.session, center, items, role=form.role.data,
                                   email=email, comment=comment)
    db.session.commit()
    return redirect(url_for("suggest.sent", token=suggestion.token), 303)


def item_text(item, names: dict[str, str], country: str | None = None,
              value: str | None = None) -> str:
    """What a suggestion item says, for people: ``"+1 713-555-0100"``, ``"12 Main St,
    Houston, 77030"``, ``"The center has closed for good"``, a treatment's name. ``value``:
    another value of the item (the one accepted) instead of the one sent."""
    value = item.value if value is None else value
    if item.kind == "address":
        parts = json.loads(value)
        return ", ".join(p for p in (parts.get("address"), parts.get("city"),
                                     parts.get("postal_code")) if p)
    if item.kind == "status":
        return _(STATUS_SENTENCES[value]) if value in STATUS_SENTENCES else value
    if item.kind in ("offers", "no-longer-offers"):
        return names.get(value, value)
    if item.kind == "phone":
        return phone_display(value, country)
    return value


def reported_text(item, names: dict[str, str], country: str | None) -> str:
    """An accepted item as its center page lists it: ``"Phone: +1 713-555-0100"``,
    ``"No longer offers: Proton therapy"``, ``"The center has closed for good"`` (in the
    page's language)."""
    value = item.accepted_value if item.kind != "no-longer-offers" else None
    text = item_text(item, names, country, value)
    if item.kind not in REPORTED_KINDS:
        return text
    return _(REPORTED_KINDS[item.kind], value=text)


def _by_token(token: str) -> Suggestion:
    suggestion = db.session.scalar(sa.select(Suggestion).where(Suggestion.token == token)) \
        if len(token) <= 64 else None
    if suggestion is None:
        abort(404, description=_("There is no suggestion at this address. Check the link "
                                 "you were given when you sent it."))
    return suggestion


@bp.route("/suggestions/<token>")
def sent(token: str):
    """The confirmation page: what was sent, what happens next, its status now; an open
    suggestion can be withdrawn here. Its address is the sender's only key to it."""
    suggestion = _by_token(token)
    names = {m.slug: modality_name(m) for m in load_vocabulary().modalities}
    center = db.session.get(Center, suggestion.center_id)
    country = center.country if center is not None else None
    texts = {item.id: item_text(item, names, country) for item in suggestion.items}
    return render_template("public/suggest_sent.html", s=suggestion, texts=texts,
                           roles=role_phrase, kinds=kind_name, form=ConfirmForm())


@bp.route("/suggestions/<token>/withdraw", methods=["POST"])
@limiter.limit(_limit, methods=["POST"])
def withdraw(token: str):
    """Take back an open suggestion (an editor will not see it in the queue any more)."""
    suggestion = _by_token(token)
    if not ConfirmForm().validate_on_submit():
        abort(400, description=_("The form expired; reload the page and try again."))
    try:
        withdraw_suggestion(db.session, suggestion)
    except SuggestionError as exc:
        abort(400, description=message_text(exc.message))
    db.session.commit()
    flash(_("Your suggestion is withdrawn. Nothing on the center’s page changes."), "success")
    return redirect(url_for("suggest.sent", token=token), 303)
