"""Applying the admin center form to a center (flush only; the view audits and commits)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.curation.audit import apply_field
from directory.importer.fields import natural_key, normalise_phone, resolve_region
from directory.models import Center, CenterModality, Modality


def apply_center_form(session: so.Session, center: Center, form) -> None:
    """Copy every form field onto ``center``. Typed coordinates get precision ``manual``;
    the chosen modalities replace the claims from source ``admin`` (verified on the form's
    date, provenance ``reported``); claims from other sources are kept."""
    text_fields = ("name", "alternate_names", "kind", "status", "address", "city",
                   "postal_code", "website", "email", "description")
    for name in text_fields:
        value = (getattr(form, name).data or "").strip() or None
        apply_field(session, center, name, value)
    country = (form.country.data or "").strip().upper() or None
    center.country = country
    region = (form.region.data or "").strip() or None
    center.region = (resolve_region(region, country) or region) if region else None
    phone = (form.phone.data or "").strip()
    center.phone = (normalise_phone(phone, country)[0] or phone) if phone else None
    if form.clear_coordinates.data:
        center.latitude = center.longitude = None
        center.geocode_precision = "none"
    elif form.latitude.data is not None and (form.latitude.data != center.latitude or
                                             form.longitude.data != center.longitude):
        center.latitude, center.longitude = form.latitude.data, form.longitude.data
        center.geocode_precision = "manual"
    center.natural_key = natural_key(center.name, center.postal_code, center.country)
    verified = form.verified_on.data or dt.date.today()
    wanted = set(form.modalities.data or [])
    modalities = {m.slug: m for m in session.scalars(sa.select(Modality))}
    kept = []
    for cm in center.modalities:
        if cm.source != "admin":
            kept.append(cm)
        elif cm.modality.slug in wanted:
            cm.verified_on = verified
            kept.append(cm)
            wanted.discard(cm.modality.slug)
    for slug in form.modalities.data or []:
        if slug in wanted and slug in modalities:
            kept.append(CenterModality(modality=modalities[slug], source="admin",
                                       provenance="reported", verified_on=verified,
                                       evidence="confirmed by an admin"))
    center.modalities = kept
