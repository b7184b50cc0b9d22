"""Suggested updates from visitors, and an editor's decision on them.

A visitor's suggestion (:class:`~directory.models.Suggestion`) is checked here with the
importer's own field rules (:mod:`directory.importer.fields`: phone to E.164, http(s)
websites, email addresses, postal codes, the same text cleaning), stored, and shown to
nobody but editors. An editor accepts it (all of it, some items, values edited first) or
rejects it with a reason. What is accepted becomes data of source ``suggestion``, like
any other source (docs: README "One center, many sources"):

- phone, website, address and status go into one :class:`~directory.models.SourceRecord`
  per suggestion (``external_id`` the suggestion's id, ``dataset_date`` the review date),
  so the precedence rules of :mod:`directory.curation.resolve` apply to them (the newest
  phone, website and status win; an editor's value still wins over them) and every other
  source keeps its values;
- "the center offers X" is a claim of source ``suggestion`` (provenance ``reported``);
  "no longer offers X" takes back a claim of source ``suggestion`` and is shown on the
  center page; other sources' claims are kept (they still say what they said).

Undoing an acceptance (:func:`revert_suggestion`) removes that record and those claims,
and the sources' values show again. Every step is in the audit log
(:class:`~directory.models.ChangeRecord`, actions ``suggest``, ``accept``, ``reject``,
``withdraw``, ``revert``). Functions take the caller's session and flush; the edge commits.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.curation.audit import apply_field, record_changes, snapshot
from directory.curation.records import dumps, resolve_center
from directory.curation.resolve import OWN_SOURCE_ROWS, SUGGESTION
from directory.importer.fields import (
    MAX_LENGTHS,
    US_ZIP,
    clean_text,
    normalise_email,
    normalise_phone,
    normalise_postal_code,
    normalise_website,
)
from directory.models import (
    Center,
    CenterModality,
    ChangeRecord,
    DataSource,
    Modality,
    SourceRecord,
    Suggestion,
    SuggestionItem,
    utcnow,
)
from directory.text import N_, Message

#: Who is suggesting, as people read it ("reported by ..."; pages pass it through gettext).
ROLE_PHRASES = {"center": N_("someone at the center"),
                "patient": N_("a patient or family member"), "other": N_("someone else")}
#: What a status item says, as people read it ("The center ...").
STATUS_PHRASES = {"closed": N_("has closed for good"),
                  "temporarily-closed": N_("is temporarily closed"), "active": N_("is open")}
#: A status item as one sentence (pages pass it through gettext).
STATUS_SENTENCES = {"closed": N_("The center has closed for good"),
                    "temporarily-closed": N_("The center is temporarily closed"),
                    "active": N_("The center is open")}
#: Length limits of a suggestion's text (characters).
MAX_VALUE = 300
MAX_ADDRESS = 500
MAX_COMMENT = 1000
MAX_LINK = 500
_TOO_LONG = N_("This is %(length)s characters long; the most is %(max)s.")
_MARKUP = re.compile(r"<\s*[A-Za-z/!?]|&#?\w+;")


class SuggestionError(ValueError):
    """A value that cannot be taken: ``field`` (the form's name for it) and why (a
    :class:`Message`)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message if isinstance(message, Message) else Message(message)


@dataclass(frozen=True)
class Proposed:
    """One checked change: its kind (:data:`~directory.models.ITEM_KINDS`), its value
    (text; an address as JSON ``{"address", "city", "postal_code"}``) and link."""

    kind: str
    value: str
    link: str | None = None


def plain_text(value: str | None, field: str, max_length: int,
               clean_as: str | None = None) -> str:
    """``value`` cleaned like an imported cell (:func:`~directory.importer.fields.clean_text`)
    and checked: at most ``max_length`` characters, no HTML or other markup.

    :raises SuggestionError: (``field``, why) for a value too long or with markup."""
    if value is not None and len(value) > max_length * 4:  # before any work on it
        raise SuggestionError(field, Message(_TOO_LONG, length=len(value), max=max_length))
    text = clean_text(value, clean_as or field)
    if len(text) > max_length:
        raise SuggestionError(field, Message(_TOO_LONG, length=len(text), max=max_length))
    if _MARKUP.search(text):
        raise SuggestionError(field, N_("Write plain text only, without HTML or other markup."))
    return text


def check_phone(value: str | None, country: str | None, field: str = "phone") -> str | None:
    """A phone number as E.164 (read as a number of ``country`` when it has no ``+``), or
    ``None`` when empty. :raises SuggestionError: when it cannot be a phone number."""
    text = plain_text(value, field, 40, "phone")
    if not text:
        return None
    phone, problem = normalise_phone(text, country)
    if phone is None:
        raise SuggestionError(field, N_(
            "This is not a phone number we can read (it is not a possible number). Write it "
            "with the country code, e.g. +1 713 555 0100.") if "not a possible" in (problem or "")
            else N_("This is not a phone number we can read. Write it with the country code, "
                    "e.g. +1 713 555 0100."))
    return phone


def check_url(value: str | None, field: str) -> str | None:
    """An http(s) address (a bare domain gets ``https://``), or ``None`` when empty.
    :raises SuggestionError: for another scheme, a malformed address or one too long."""
    text = plain_text(value, field, MAX_LINK, "website")
    if not text:
        return None
    url, problem = normalise_website(text)
    if url is None:
        raise SuggestionError(field, N_("This is not a web address (it should start with "
                                        "https://)."))
    if len(url) > MAX_LENGTHS["website"]:
        raise SuggestionError(field, Message(N_("Web addresses can be at most %(max)s "
                                                "characters long."), max=MAX_LENGTHS["website"]))
    return url


def check_email(value: str | None, field: str = "email") -> str | None:
    """An email address or ``None`` when empty. :raises SuggestionError: when it is not."""
    text = plain_text(value, field, MAX_LENGTHS["email"], "email")
    if not text:
        return None
    email, problem = normalise_email(text)
    if email is None:
        raise SuggestionError(field, N_("This is not an email address (name@example.org)."))
    return email


def check_address(values: Mapping[str, str | None], country: str | None,
                  prefix: str = "") -> str | None:
    """An address item's value: JSON ``{"address", "city", "postal_code"}`` (postal code
    normalised for ``country``), or ``None`` when every part is empty. Field names in
    errors are ``prefix + part``. :raises SuggestionError: a street address without a
    city, a part too long or with markup."""
    street = plain_text(values.get("address"), prefix + "address", MAX_ADDRESS, "address")
    city = plain_text(values.get("city"), prefix + "city", MAX_LENGTHS["city"], "city")
    postal = plain_text(values.get("postal_code"), prefix + "postal_code",
                        MAX_LENGTHS["postal_code"], "postal_code")
    if not (street or city or postal):
        return None
    if not city:
        raise SuggestionError(prefix + "city", N_("Give the city with the address."))
    postal_code, _ = normalise_postal_code(postal, country)
    if postal_code and country == "US" and not US_ZIP.match(postal_code):
        raise SuggestionError(prefix + "postal_code",
                              N_("This is not a US ZIP code (five digits, such as 77030)."))
    return json.dumps({"address": street or None, "city": city,
                       "postal_code": postal_code}, sort_keys=True, ensure_ascii=False)


def proposed_items(data: Mapping, country: str | None, modality_slugs: Iterable[str]
                   ) -> tuple[list[Proposed], list[tuple[str, str]]]:
    """The changes a suggestion form asks for, checked.

    :param data: the form's values: ``phone``, ``website``, ``address``, ``city``,
        ``postal_code``, ``status`` (``""`` or a :data:`STATUS_PHRASES` key), ``offers`` and
        ``no_longer_offers`` (lists of modality slugs) and a ``<group>_link`` for each group
        (``phone``, ``website``, ``address``, ``status``, ``treatments``).
    :param country: the center's country (ISO 3166-1 alpha-2): how a phone number without
        a country code and a postal code are read.
    :returns: ``(items, errors)``; ``errors`` are ``(field, reason)`` pairs, and one pair
        ``("", reason)`` when nothing is asked for.
    """
    items: list[Proposed] = []
    errors: list[tuple[str, str]] = []
    slugs = set(modality_slugs)

    def attempt(check, *args):
        try:
            return check(*args)
        except SuggestionError as exc:
            errors.append((exc.field, exc.message))
            return None

    links = {group: attempt(check_url, data.get(f"{group}_link"), f"{group}_link")
             for group in ("phone", "website", "address", "status", "treatments")}
    phone = attempt(check_phone, data.get("phone"), country)
    if phone:
        items.append(Proposed("phone", phone, links["phone"]))
    website = attempt(check_url, data.get("website"), "website")
    if website:
        items.append(Proposed("website", website, links["website"]))
    address = attempt(check_address, data, country)
    if address:
        items.append(Proposed("address", address, links["address"]))
    status = (data.get("status") or "").strip()
    if status and status not in STATUS_PHRASES:
        errors.append(("status", Message(N_("Choose one of the listed answers."))))
    elif status:
        items.append(Proposed("status", status, links["status"]))
    offers, stopped = list(data.get("offers") or []), list(data.get("no_longer_offers") or [])
    for field, chosen in (("offers", offers), ("no_longer_offers", stopped)):
        if any(slug not in slugs for slug in chosen):
            errors.append((field, Message(N_("Choose treatments from the list."))))
    both = set(offers) & set(stopped)
    if both:
        errors.append(("no_longer_offers", Message(N_("A treatment cannot be both offered and "
                                                      "no longer offered."))))
    if not errors:
        items += [Proposed("offers", s, links["treatments"]) for s in dict.fromkeys(offers)]
        items += [Proposed("no-longer-offers", s, links["treatments"])
                  for s in dict.fromkeys(stopped)]
    for group, link in links.items():
        if link and not any(i.link == link for i in items):
            errors.append((f"{group}_link", Message(N_(
                "This link goes with a change: fill in the change it supports, or leave the "
                "link empty."))))
    if not items and not errors:
        errors.append(("", Message(N_(
            "Tell us at least one thing to update: a treatment, the phone number, the "
            "website, the address or whether the center is open."))))
    return items, errors


def _audit(session: so.Session, center_id: int, center_name: str | None, action: str,
           text: str, user: str | None, before: str | None = None) -> None:
    session.add(ChangeRecord(user=user, center_id=center_id, center_name=center_name,
                             action=action, field="suggestion", before=before, after=text))


def create_suggestion(session: so.Session, center: Center, items: list[Proposed], *,
                      role: str, email: str | None = None,
                      comment: str | None = None) -> Suggestion:
    """Store a visitor's suggestion (status ``open``, a fresh secret ``token``) and audit
    its arrival. Nothing on the center changes. Flushes."""
    suggestion = Suggestion(token=secrets.token_urlsafe(24), center_id=center.id,
                            center_name=center.name[:300], reporter_role=role, email=email,
                            comment=comment or None, status="open")
    suggestion.items = [SuggestionItem(kind=i.kind, value=i.value, link=i.link) for i in items]
    session.add(suggestion)
    session.flush()
    kinds = ", ".join(dict.fromkeys(i.kind for i in items))
    _audit(session, center.id, center.name, "suggest",
           f"suggestion #{suggestion.id} received from {ROLE_PHRASES.get(role, role)}: {kinds}",
           None)
    return suggestion


def provenance_phrase(suggestion: Suggestion) -> str:
    """``"Reported by someone at the center, reviewed on 2026-12-14"`` (stored in English as
    a record's link reason; :func:`directory.web.i18n_data.link_reason` translates it)."""
    who = ROLE_PHRASES.get(suggestion.reporter_role, "a visitor")
    when = suggestion.reviewed_on.isoformat() if suggestion.reviewed_on else "not yet"
    return f"Reported by {who}, reviewed on {when}"


def _ensure_source(session: so.Session) -> None:
    if session.get(DataSource, SUGGESTION) is None:
        session.add(DataSource(slug=SUGGESTION, **OWN_SOURCE_ROWS[SUGGESTION]))
        session.flush()


def check_item_value(item: SuggestionItem, value, country: str | None) -> str:
    """The value an editor accepts for ``item`` (as given, or edited: for an address a
    mapping of its parts), checked by the same rules as the visitor's.
    :raises SuggestionError: (``item-<id>``, why) when it is empty or not valid."""
    field = f"item-{item.id}"
    if item.kind == "phone":
        checked = check_phone(value, country, field)
    elif item.kind == "website":
        checked = check_url(value, field)
    elif item.kind == "address":
        checked = check_address(value if isinstance(value, Mapping) else json.loads(value),
                                country, prefix=f"{field}-")
    elif item.kind == "status":
        checked = value if value in STATUS_PHRASES else None
    else:
        checked = item.value  # a treatment: taken as sent or not at all
    if not checked:
        raise SuggestionError(field, "Give a value to accept, or leave this item unticked.")
    return checked


def _claim_evidence(suggestion: Suggestion) -> str:
    """``"reported by someone at the center, reviewed on 2026-12-14 (suggestion #12)"``:
    the claim's evidence, which also names the suggestion (:func:`revert_suggestion`)."""
    phrase = provenance_phrase(suggestion)
    return f"{phrase[0].lower()}{phrase[1:]} {_claim_mark(suggestion.id)}"


def _claim_mark(suggestion_id: int) -> str:
    return f"(suggestion #{suggestion_id})"


def accept_suggestion(session: so.Session, suggestion: Suggestion, center: Center,
                      accepted: Mapping[int, str], *, user: str,
                      reason: str | None = None, today: dt.date | None = None) -> None:
    """Take the items of ``suggestion`` whose ids are in ``accepted`` (id -> the checked
    value, see :func:`check_item_value`) into ``center`` as data of source ``suggestion``
    dated ``today``; the other items are rejected (``reason`` says why). Audited: the
    decision and every field and claim list it changes. Flushes.

    :raises SuggestionError: when the suggestion is not open or nothing is accepted."""
    if suggestion.status != "open":
        raise SuggestionError("", f"Suggestion #{suggestion.id} is {suggestion.status}, "
                                  f"not open.")
    if not accepted:
        raise SuggestionError("", "Tick at least one item to accept, or reject the "
                                  "suggestion.")
    today = today or dt.date.today()
    _ensure_source(session)
    suggestion.reviewed_on = today
    before = snapshot(center)
    values: dict = {}
    evidence = _claim_evidence(suggestion)
    modalities = {m.slug: m for m in session.scalars(sa.select(Modality))}
    for item in suggestion.items:
        if item.id not in accepted:
            item.outcome = "rejected"
            continue
        value = accepted[item.id]
        item.outcome = "accepted"
        item.accepted_value = value if item.kind not in ("offers", "no-longer-offers") else None
        if item.kind in ("phone", "website", "status"):
            values[item.kind] = value
        elif item.kind == "address":
            parts = json.loads(value)
            values.update(address=parts["address"], city=parts["city"],
                          postal_code=parts["postal_code"], region=center.region,
                          country=center.country)
        elif item.kind == "offers" and item.value in modalities:
            claim = next((cm for cm in center.modalities if cm.source == SUGGESTION
                          and cm.modality.slug == item.value), None)
            if claim is None:
                claim = CenterModality(modality=modalities[item.value], source=SUGGESTION)
                center.modalities.append(claim)
            claim.provenance, claim.verified_on, claim.evidence = "reported", today, evidence
        elif item.kind == "no-longer-offers":
            claim = next((cm for cm in center.modalities if cm.source == SUGGESTION
                          and cm.modality.slug == item.value), None)
            if claim is not None:  # kept on the item: undoing this gives it back
                item.accepted_value = json.dumps({"evidence": claim.evidence, "verified_on":
                                                  claim.verified_on.isoformat()
                                                  if claim.verified_on else None})
                center.modalities.remove(claim)
    if values:
        if center.records:
            center.records.append(SourceRecord(
                source=SUGGESTION, external_id=str(suggestion.id),
                natural_key=f"center-{center.id}", values=dumps(values), dataset_date=today,
                link_rule=SUGGESTION, link_reason=provenance_phrase(suggestion) + "."))
            resolve_center(session, center)
        else:  # a center made by hand holds its values in its columns alone
            for name, value in values.items():
                setattr(center, name, value)
    session.flush()
    after = snapshot(center)
    record_changes(session, center, before, after, user=user, action="accept")
    columns = None if center.records else json.dumps(
        {name: [before.get(name), after[name]] for name in values
         if before.get(name) != after.get(name)}, sort_keys=True)
    taken = [i.kind for i in suggestion.items if i.outcome == "accepted"]
    left = [i.kind for i in suggestion.items if i.outcome == "rejected"]
    text = f"suggestion #{suggestion.id} accepted: {', '.join(taken)}"
    if left:
        text += f"; not taken: {', '.join(left)}" + (f" ({reason})" if reason else "")
    _audit(session, center.id, center.name, "accept", text, user, before=columns)
    suggestion.status, suggestion.decided_by = "accepted", user
    suggestion.decided_at, suggestion.reason = utcnow(), reason or None
    session.flush()


def reject_suggestion(session: so.Session, suggestion: Suggestion, *, user: str,
                      reason: str) -> None:
    """Reject an open suggestion with a reason (required); audited. Flushes.
    :raises SuggestionError: when it is not open or the reason is empty."""
    if suggestion.status != "open":
        raise SuggestionError("", f"Suggestion #{suggestion.id} is {suggestion.status}, "
                                  f"not open.")
    if not (reason or "").strip():
        raise SuggestionError("reason", "Say why the suggestion is rejected.")
    for item in suggestion.items:
        item.outcome = "rejected"
    suggestion.status, suggestion.decided_by, suggestion.decided_at = "rejected", user, utcnow()
    suggestion.reason, suggestion.reviewed_on = reason.strip(), dt.date.today()
    _audit(session, suggestion.center_id, suggestion.center_name, "reject",
           f"suggestion #{suggestion.id} rejected: {suggestion.reason}", user)
    session.flush()


def withdraw_suggestion(session: so.Session, suggestion: Suggestion) -> None:
    """The visitor takes back an open suggestion; audited. Flushes.
    :raises SuggestionError: when an editor already decided it."""
    if suggestion.status != "open":
        raise SuggestionError("", N_("An editor has already decided on this suggestion, so it "
                                     "can no longer be withdrawn."))
    suggestion.status, suggestion.decided_at = "withdrawn", utcnow()
    _audit(session, suggestion.center_id, suggestion.center_name, "withdraw",
           f"suggestion #{suggestion.id} withdrawn by the person who sent it", None)
    session.flush()


def revert_suggestion(session: so.Session, suggestion: Suggestion, center: Center, *,
                      user: str) -> None:
    """Undo an accepted suggestion: its source record and its claims leave the center
    (the claims it took back return), the center is resolved again from what remains,
    and everything is audited (action ``revert``). A center without records gets back
    the values its fields had before, unless changed since. Flushes.
    :raises SuggestionError: when the suggestion is not accepted."""
    if suggestion.status != "accepted":
        raise SuggestionError("", f"Suggestion #{suggestion.id} is {suggestion.status}; only "
                                  f"an accepted suggestion can be undone.")
    before = snapshot(center)
    record = next((r for r in center.records if r.source == SUGGESTION
                   and r.external_id == str(suggestion.id)), None)
    mark = _claim_mark(suggestion.id)
    center.modalities = [cm for cm in center.modalities if not (
        cm.source == SUGGESTION and (cm.evidence or "").endswith(mark))]
    modalities = {m.slug: m for m in session.scalars(sa.select(Modality))}
    for item in suggestion.items:
        if item.kind == "no-longer-offers" and item.outcome == "accepted" \
                and item.accepted_value and item.value in modalities and not any(
                    cm.source == SUGGESTION and cm.modality.slug == item.value
                    for cm in center.modalities):
            old = json.loads(item.accepted_value)
            center.modalities.append(CenterModality(
                modality=modalities[item.value], source=SUGGESTION, provenance="reported",
                evidence=old["evidence"], verified_on=dt.date.fromisoformat(old["verified_on"])
                if old["verified_on"] else None))
    if record is not None:
        center.records.remove(record)
        session.flush()
        resolve_center(session, center)
    else:
        _restore_columns(session, suggestion, center)
    session.flush()
    record_changes(session, center, before, snapshot(center), user=user, action="revert")
    _audit(session, center.id, center.name, "revert",
           f"suggestion #{suggestion.id} undone: its values and claims were taken out", user)
    suggestion.status = "reverted"
    session.flush()


def _restore_columns(session: so.Session, suggestion: Suggestion, center: Center) -> None:
    """For a center without records: the fields the acceptance set get their values from
    before it back (kept as JSON in the ``before`` of its decision's audit record), when
    nothing changed them since."""
    decision = session.scalar(sa.select(ChangeRecord).where(
        ChangeRecord.center_id == center.id, ChangeRecord.action == "accept",
        ChangeRecord.field == "suggestion",
        ChangeRecord.after.startswith(f"suggestion #{suggestion.id} accepted"))
        .order_by(ChangeRecord.id.desc()).limit(1))
    if decision is None or not decision.before:
        return
    current = snapshot(center)
    for name, (old, new) in json.loads(decision.before).items():
        if current.get(name) == new:
            apply_field(session, center, name, old)


def accepted_updates(session: so.Session, center: Center) -> list[Suggestion]:
    """The accepted suggestions of ``center`` (its own, and those of centers merged into
    it, whose records it holds), newest first, with their items: what its page lists as
    reported updates."""
    ids = {int(r.external_id) for r in center.records
           if r.source == SUGGESTION and (r.external_id or "").isdigit()}
    ids |= {int(m.group(1)) for cm in center.modalities if cm.source == SUGGESTION
            for m in [re.search(r"\(suggestion #(\d+)\)$", cm.evidence or "")] if m}
    return list(session.scalars(
        sa.select(Suggestion).where(Suggestion.status == "accepted", sa.or_(
            Suggestion.center_id == center.id, Suggestion.id.in_(sorted(ids))))
        .options(so.selectinload(Suggestion.items))
        .order_by(Suggestion.reviewed_on.desc(), Suggestion.id.desc())))
