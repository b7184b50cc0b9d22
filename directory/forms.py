"""WTForms forms. The search form binds to the query string (GET, no CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (FloatField, IntegerField, SelectField, SelectMultipleField, StringField,
                     ValidationError)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

UNITS = [SelectChoice("km", "km"), SelectChoice("mi", "miles")]
SORT_CHOICES = [SelectChoice("", "Best match"), SelectChoice("distance", "Distance"),
                SelectChoice("name", "Name"), SelectChoice("relevance", "Relevance")]


class SearchForm(FlaskForm):
    """The ``/centers`` search (same parameters as ``/api/v1/centers``).

    ``radius`` is in ``unit`` (km or mi); ``per_page`` is bounded by
    ``SEARCH_PER_PAGE_MAX``; text fields are limited to ``SEARCH_MAX_TEXT`` characters.
    Modality choices are set by the view from the vocabulary (synonyms are accepted too).
    """

    class Meta:
        csrf = False

    def set_vocabulary_choices(self, vocabulary) -> None:
        """Fill the modality and designation choices from the vocabulary."""
        self.modality.choices = [SelectChoice(m.slug, m.name) for m in vocabulary.modalities]
        self.designation.choices = [SelectChoice("", "Any")] + [
            SelectChoice(d.slug, d.name) for d in vocabulary.designations]

    q = StringField("Center name", validators=[Optional(), Length(max=200)])
    near = StringField("Near (city, ZIP code or lat,lon)", validators=[Optional(),
                                                                       Length(max=200)])
    radius = FloatField("Within", validators=[Optional(), NumberRange(
        min=0.1, max=20000, message="radius must be between 0.1 and 20,000")])
    unit = SelectField("Unit", choices=UNITS, default="km", validators=[Optional()])
    city = StringField("City", validators=[Optional(), Length(max=200)])
    region = StringField("State / region", validators=[Optional(), Length(max=200)])
    country = StringField("Country", validators=[Optional(), Length(max=100)])
    modality = SelectMultipleField("Treatment", choices=[], validate_choice=False)
    designation = SelectField("Designation", choices=[], validate_choice=False,
                              validators=[Optional()])
    sort = SelectField("Sort by", choices=SORT_CHOICES, validators=[Optional()])
    page = IntegerField("Page", default=1, validators=[Optional(), NumberRange(
        min=1, max=100000, message="page must be a whole number of at least 1")])
    per_page = IntegerField("Results per page", default=20, validators=[Optional()])

    def validate_unit(self, field):
        if field.raw_data and field.raw_data[0] not in {"km", "mi"}:
            raise ValidationError("unit must be 'km' or 'mi'")

    def validate_sort(self, field):
        if field.raw_data and field.raw_data[0] not in {c.value for c in SORT_CHOICES}:
            raise ValidationError("sort must be one of: distance, name, relevance")
