"""WTForms forms. The search form binds to the query string (GET, no CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FloatField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    URLField,
    ValidationError,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)
from wtforms.widgets import CheckboxInput, ListWidget

UNITS = [SelectChoice("km", "km"), SelectChoice("mi", _l("miles"))]
#: Bounds of ``radius`` (in its unit) and ``page``: the form checks them and the OpenAPI
#: document publishes the same numbers (:mod:`directory.web.openapi`).
RADIUS_MIN, RADIUS_MAX = 0.1, 20000
PAGE_MAX = 100000
SORT_CHOICES = [SelectChoice("best", _l("Best match")),
                SelectChoice("distance", _l("Distance")), SelectChoice("name", _l("Name")),
                SelectChoice("relevance", _l("Relevance"))]
SORT_VALUES = ("", *(c.value for c in SORT_CHOICES))  # "": the default order


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
        self.designation.choices = [SelectChoice("", _l("Any"))] + [
            SelectChoice(d.slug, d.name) for d in vocabulary.designations]

    q = StringField(_l("Center name"), validators=[Optional(), Length(max=200)])
    near = StringField(_l("Near (city, ZIP code or lat,lon)"), validators=[Optional(),
                                                                       Length(max=200)])
    radius = FloatField(_l("Within"), validators=[Optional(), NumberRange(
        min=RADIUS_MIN, max=RADIUS_MAX,
        message=_l("radius must be between 0.1 and 20,000 (km or mi, as unit says)"))])
    unit = SelectField(_l("Unit"), choices=UNITS, default="km", validate_choice=False,
                       validators=[Optional(), AnyOf(["km", "mi"],
                                                     message=_l("unit must be km or mi"))])
    city = StringField(_l("City"), validators=[Optional(), Length(max=200)])
    region = StringField(_l("State / region"), validators=[Optional(), Length(max=200)])
    country = StringField(_l("Country"), validators=[Optional(), Length(max=100)])
    modality = SelectMultipleField(_l("Treatment"), choices=[], validate_choice=False)
    designation = SelectField(_l("Designation"), choices=[], validate_choice=False,
                              validators=[Optional()])
    sort = SelectField(_l("Sort by"), choices=SORT_CHOICES, validate_choice=False,
                       validators=[Optional(), AnyOf(SORT_VALUES, message=_l(
                           "sort must be best, distance, name or relevance"))])
    kind = SelectMultipleField(_l("Kind of center"), choices=[], validate_choice=False)
    page = IntegerField(_l("Page"), default=1, validators=[Optional(), NumberRange(
        min=1, max=PAGE_MAX, message=_l("page must be a whole number of at least 1"))])
    per_page = IntegerField(_l("Results per page"), default=20, validators=[Optional()])

    def validate_unit(self, field):
        if field.raw_data and field.raw_data[0] not in {"km", "mi"}:
            raise ValidationError(_l("unit must be 'km' or 'mi'"))

    def validate_sort(self, field):
        if field.raw_data and field.raw_data[0] not in SORT_VALUES:
            raise ValidationError(_l("sort must be one of: best, distance, name, relevance"))


class LoginForm(FlaskForm):
    """Admin sign-in (CSRF-protected)."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class ImportUploadForm(FlaskForm):
    """Step 1 of an import: the file, its source name and (optionally) its format."""

    file = FileField("File (CSV, Excel .xlsx or HSDS zip)",
                     validators=[FileRequired("Choose a file to upload.")])
    source = StringField("Source name", validators=[Optional(), Length(max=64)],
                         description="Keys re-imports: use the same name for the next "
                                     "edition of the same list. Default: from the format.")
    format = SelectField("Format", choices=[], default="auto")
    sheet = StringField("Sheet", validators=[Optional(), Length(max=100)],
                        description="Excel workbooks only: the sheet's name or number. "
                                    "Default: the first sheet with data.")


class ConfirmForm(FlaskForm):
    """A form with only the CSRF token (confirm, revert, merge, delete)."""


class UserForm(FlaskForm):
    """Create an account (admins only)."""

    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False),
                                            Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=12, max=200)])
    role = SelectField("Role", choices=[SelectChoice("editor", "editor"),
                                        SelectChoice("admin", "admin")])


class CenterForm(FlaskForm):
    """Edit every field of a center. Coordinates typed here get precision ``manual``;
    modalities chosen here are claims from source ``admin`` verified on ``verified_on``."""

    name = StringField("Name", validators=[DataRequired(), Length(max=300)])
    alternate_names = StringField("Alternate names (separate with ;)",
                                  validators=[Optional(), Length(max=2000)])
    kind = SelectField("Kind", choices=[])
    status = SelectField("Status", choices=[])
    address = TextAreaField("Address", validators=[Optional(), Length(max=1000)])
    city = StringField("City", validators=[Optional(), Length(max=120)])
    region = StringField("Region (ISO 3166-2, e.g. US-MA)", validators=[Optional(),
                                                                        Length(max=120)])
    postal_code = StringField("Postal code", validators=[Optional(), Length(max=20)])
    country = StringField("Country (ISO 3166-1 alpha-2)", validators=[Optional(),
                                                                      Length(max=2)])
    latitude = FloatField("Latitude", validators=[Optional(), NumberRange(-90, 90)])
    longitude = FloatField("Longitude", validators=[Optional(), NumberRange(-180, 180)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    website = URLField("Website", validators=[Optional(), Length(max=500)])
    email = EmailField("Email", validators=[Optional(), Length(max=254)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=5000)])
    modalities = SelectMultipleField("Treatments confirmed by an admin", choices=[])
    verified_on = DateField("Verified on", validators=[Optional()])
    clear_coordinates = BooleanField("Remove the coordinates")
    use_sources = SelectMultipleField("Use the sources' values again for", choices=[],
                                      validate_choice=False)

    def validate_latitude(self, field):
        if (field.data is None) != (self.longitude.data is None):
            raise ValidationError("Give both latitude and longitude, or neither.")

    def validate(self, extra_validators=None) -> bool:
        """The field validators, then country, region, postal code, phone, website and email
        through the same validation as an import (a value it refuses is an error on its
        field: ``javascript:`` links, addresses that are not emails, unknown countries)."""
        from directory.curation.edit import check_form_fields

        valid = super().validate(extra_validators)
        for name, message in check_form_fields(self)[1].items():
            field = getattr(self, name)
            if not field.errors:
                field.errors = [*field.errors, message]
            valid = False
        return valid

class SuggestForm(FlaskForm):
    """"Suggest an update" of one center (no account; CSRF-protected). Only the fields'
    shapes are here: the values are checked by
    :func:`directory.curation.suggest.proposed_items` (the importer's field rules), whose
    ``(field, reason)`` errors the view copies onto the fields. ``homepage`` is a honeypot:
    hidden from people, a form that fills it in is refused. Treatment choices come from the
    vocabulary (set by the view)."""

    role = RadioField(_l("Who is suggesting this?"), choices=[
        SelectChoice("center", _l("I work at this center")),
        SelectChoice("patient", _l("I am a patient or a family member")),
        SelectChoice("other", _l("Other (for example a nurse navigator or social worker)"))],
        validators=[InputRequired(_l("Say who you are: it tells the editors how to "
                                     "weigh the update."))], validate_choice=True)
    offers = SelectMultipleField(_l("Treatments the center offers"), choices=[],
                                 validate_choice=False, option_widget=CheckboxInput(),
                                 widget=ListWidget(prefix_label=False))
    no_longer_offers = SelectMultipleField(_l("Treatments the center no longer offers"),
                                           choices=[], validate_choice=False,
                                           option_widget=CheckboxInput(),
                                           widget=ListWidget(prefix_label=False))
    treatments_link = StringField(_l("Where the treatments are stated (a link, optional)"))
    phone = StringField(_l("Phone number"))
    phone_link = StringField(_l("Where this phone number is stated (a link, optional)"))
    website = StringField(_l("Website"))
    website_link = StringField(_l("Where this website is stated (a link, optional)"))
    address = TextAreaField(_l("Street address"))
    city = StringField(_l("City"))
    postal_code = StringField(_l("Postal code"))
    address_link = StringField(_l("Where this address is stated (a link, optional)"))
    status = RadioField(_l("Is the center open?"), choices=[
        SelectChoice("", _l("No change")),
        SelectChoice("closed", _l("It has closed for good")),
        SelectChoice("temporarily-closed", _l("It is temporarily closed")),
        SelectChoice("active", _l("It is open (this page says otherwise)"))],
        default="", validate_choice=False)
    status_link = StringField(_l("Where this is stated (a link, optional)"))
    comment = TextAreaField(_l("Anything else the editors should know (optional)"))
    email = StringField(_l("Your email, if an editor may ask you a question (optional)"))
    homepage = StringField(_l("Leave this field empty"))
