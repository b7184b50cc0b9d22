"""Suggested updates: what a visitor says about a center (no account needed), waiting for
an editor. Nothing here is shown publicly; an accepted item becomes a source record (or a
claim) of source ``suggestion`` (:mod:`directory.curation.suggest`)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.models.core import Base, utcnow

#: Who is suggesting, as the form asks.
REPORTER_ROLES = ("center", "patient", "other")
#: ``open`` until an editor decides (``accepted``: at least one item taken, ``rejected``) or
#: the visitor withdraws it (``withdrawn``); ``reverted``: accepted, then undone.
SUGGESTION_STATUSES = ("open", "accepted", "rejected", "withdrawn", "reverted")
#: What one item proposes: a phone, a website, an address (JSON: address, city,
#: postal_code), a status (``closed``, ``temporarily-closed``, ``active``), a treatment the
#: center offers or no longer offers (value: a modality slug).
ITEM_KINDS = ("phone", "website", "address", "status", "offers", "no-longer-offers")


class Suggestion(Base):
    """One visitor's suggested update of one center. ``token`` is the secret of the
    visitor's confirmation page (status, withdraw); ``email`` is only for the editors'
    follow-up and never shown publicly. ``center_id`` is kept (no foreign key) after the
    center is merged or deleted, so a decided suggestion can still be looked up."""

    __tablename__ = "suggestion"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    token: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    center_id: so.Mapped[int] = so.mapped_column(sa.Integer, index=True)
    center_name: so.Mapped[str] = so.mapped_column(sa.String(300))
    reporter_role: so.Mapped[str] = so.mapped_column(sa.String(16))
    email: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    comment: so.Mapped[str | None] = so.mapped_column(sa.Text)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="open", index=True)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(sa.DateTime(timezone=True),
                                                          default=utcnow)
    decided_by: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    decided_at: so.Mapped[dt.datetime | None] = so.mapped_column(sa.DateTime(timezone=True))
    reviewed_on: so.Mapped[dt.date | None] = so.mapped_column(sa.Date)
    reason: so.Mapped[str | None] = so.mapped_column(sa.Text)

    items: so.Mapped[list[SuggestionItem]] = so.relationship(
        back_populates="suggestion", cascade="all, delete-orphan",
        order_by="SuggestionItem.id")

    def __repr__(self) -> str:
        return f"<Suggestion {self.id} center={self.center_id} {self.status}>"


class SuggestionItem(Base):
    """One proposed change (:data:`ITEM_KINDS`): ``value`` as the visitor gave it (cleaned),
    ``link`` where it is said; after review ``outcome`` is ``accepted`` (``accepted_value``:
    what the editor took, maybe edited) or ``rejected``."""

    __tablename__ = "suggestion_item"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    suggestion_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("suggestion.id", ondelete="CASCADE"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(24))
    value: so.Mapped[str] = so.mapped_column(sa.Text)
    link: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    outcome: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    accepted_value: so.Mapped[str | None] = so.mapped_column(sa.Text)

    suggestion: so.Mapped[Suggestion] = so.relationship(back_populates="items")

    def __repr__(self) -> str:
        return f"<SuggestionItem {self.kind} {self.value!r} {self.outcome}>"
