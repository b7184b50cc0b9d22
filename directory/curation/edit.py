"""Applying the admin center form to a center (flush only; the view audits and commits).

An editor's values are a source record of their own (source ``editor``, see
:mod:`directory.curation.records`): only the fields the editor changed go there, they win
over every import until an editor clears them, and the imported records keep their values
(a re-import never overwrites an editor, and clearing gives the sources' value back).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import sqlalchemy.orm as so

from directory.curation.records import editor_fields, set_editor_values
from directory.importer.fields import CHECKED_FIELDS, clean_fields, natural_key
from directory.models import Center, CenterModality, Modality

TEXT_FIELDS = ("name", "alternate_names", "kind", "status", "address", "city",
               "description")
#: Fields an editor can set, as the form names them (coordinates as one unit: latitude).
EDITABLE = (*TEXT_FIELDS, *CHECKED_FIELDS, "latitude")


class FieldError(ValueError):
    """A value that the field validation refuses; ``errors`` maps field -> message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def check_form_fields(form) -> tuple[dict[str, str | None], dict[str, str]]:
    """The form's country, region, postal code, phone, website and email through the one
    validation every write path uses (:func:`directory.importer.fields.clean_fields`):
    ``(clean values, errors)``; a refused value is an error here (the importer leaves it
    empty with a warning instead), a value changed with a note (a ZIP's lost zero) is not."""
    typed = {name: getattr(form, name).data for name in CHECKED_FIELDS}
    clean, notes = clean_fields(typed, strict=True)
    errors = {name: note.removesuffix("; left empty") for name, note in notes.items()
              if clean[name] is None}
    return clean, errors


def form_values(center: Center, form) -> dict:
    """What the form asks each field to be (country, region, postal code, phone, website and
    email cleaned like an import; typed coordinates get precision ``manual``).

    :raises FieldError: a value the field validation refuses (the form's own validation
        reports the same errors first; this guards any other caller).
    """
    wanted = {name: (getattr(form, name).data or "").strip() or None for name in TEXT_FIELDS}
    clean, errors = check_form_fields(form)
    if errors:
        raise FieldError(errors)
    wanted.update(clean)
    if form.clear_coordinates.data:
        wanted.update(latitude=None, longitude=None, geocode_precision="none")
    elif form.latitude.data is not None and (form.latitude.data != center.latitude or
                                             form.longitude.data != center.longitude):
        wanted.update(latitude=form.latitude.data, longitude=form.longitude.data,
                      geocode_precision="manual")
    return wanted


def apply_center_form(session: so.Session, center: Center, form) -> None:
    """Record the fields the form changes as the editor's values (and drop the ones the
    form's ``use_sources`` lists, so the sources' values show again); the chosen
    modalities replace the claims from source ``admin`` (verified on the form's date,
    provenance ``reported``); claims from other sources are kept."""
    wanted = form_values(center, form)
    changes = {name: value for name, value in wanted.items()
               if getattr(center, name) != value}
    clear = [name for name in (getattr(form, "use_sources", None) and form.use_sources.data
                               or []) if name in editor_fields(center)]
    for name in clear:  # clearing wins over an unchanged field of the same form
        changes.pop(name, None)
        if name == "latitude":
            for other in ("longitude", "geocode_precision"):
                changes.pop(other, None)
    if center.records:
        if changes or clear:
            set_editor_values(session, center, changes, clear)
    else:  # a center without records (made by hand): its columns are all it has
        for name, value in changes.items():
            setattr(center, name, value)
    center.natural_key = natural_key(center.name, center.postal_code, center.country) \
        if center.source == "admin" or not center.records else center.natural_key
    verified = form.verified_on.data or dt.date.today()
    wanted_slugs = set(form.modalities.data or [])
    modalities = {m.slug: m for m in session.scalars(sa.select(Modality))}
    kept = []
    for cm in center.modalities:
        if cm.source != "admin":
            kept.append(cm)
        elif cm.modality.slug in wanted_slugs:
            cm.verified_on = verified
            kept.append(cm)
            wanted_slugs.discard(cm.modality.slug)
    for slug in form.modalities.data or []:
        if slug in wanted_slugs and slug in modalities:
            kept.append(CenterModality(modality=modalities[slug], source="admin",
                                       provenance="reported", verified_on=verified,
                                       evidence="confirmed by an admin"))
    center.modalities = kept
