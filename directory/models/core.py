"""Database models (SQLAlchemy 2 typed declarative), named after Open Referral HSDS terms.

- :class:`Center` is an HSDS *location* with its *address*: one physical site where patients
  are treated. Coordinates are WGS-84 degrees; ``geocode_precision`` says how they were found.
- :class:`Organization` is the health system a center belongs to (HSDS *organization*).
- :class:`Modality` is the controlled, hierarchical treatment vocabulary. Each center's
  ``modality_mask`` has the bit of every modality it offers and of their ancestors, so a search
  for a parent matches centers offering any of its children without a join.
- :class:`CenterModality` is a claim that a center offers a modality (HSDS
  *service_at_location*), with provenance (``reported`` or ``inferred``), source and date.
  A missing claim means "not reported", never "not offered".
- :class:`Designation` / :class:`CenterDesignation`: NCI designation, accreditation, as-of date.
- :class:`DataSource`: a dataset centers come from (publisher, licence, date, attribution).
- :class:`ImportRun` / :class:`ImportIssue`: who imported which file and what was rejected.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.orm import DeclarativeBase

from directory.geo.grid import GRID_CELL_SQL
from directory.text import N_


def utcnow() -> dt.datetime:
    """Current time, timezone-aware UTC (used as a column default callable)."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention so Alembic names constraints stably."""

    metadata = sa.MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


#: What a center is, in one vocabulary across sources (CMS Hospital Type, HIFLD TYPE,
#: Eurostat facility_type, NHS SubType, names): see ``directory.importer.fields.KINDS``.
CENTER_KINDS = ("hospital", "cancer-center", "clinic", "childrens", "critical-access",
                "military", "psychiatric", "rehabilitation", "long-term-care", "emergency",
                "other")
#: The kinds as a patient reads them (``childrens`` is labelled pediatric).
KIND_LABELS = {
    "hospital": N_("General hospital"), "cancer-center": N_("Cancer center"),
    "clinic": N_("Clinic"),
    "childrens": N_("Children's hospital (pediatric)"),
    "critical-access": N_("Critical access hospital (small, rural)"),
    "military": N_("Military or veterans hospital"), "psychiatric": N_("Psychiatric hospital"),
    "rehabilitation": N_("Rehabilitation hospital"),
    "long-term-care": N_("Long-term care hospital"),
    "emergency": N_("Rural emergency hospital (no inpatient beds)"),
    "other": N_("Other or specialist hospital"),
}
#: Kinds that do not deliver cancer treatment to adults: modality claims from lists keyed by
#: id (for example CMS Provider of Services "under arrangement" flags) are not applied to
#: them, and a search leaves them out unless asked for every kind (``kind=all``).
NON_TREATING_KINDS = ("psychiatric", "rehabilitation", "long-term-care", "emergency")
CENTER_STATUSES = ("active", "temporarily-closed", "closed")
GEOCODE_PRECISIONS = ("rooftop", "manual", "postal_code", "city", "none")
PROVENANCES = ("reported", "inferred")


class DataSource(Base):
    """A dataset that centers or modality claims come from."""

    __tablename__ = "data_source"

    slug: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    publisher: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    licence: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    url: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    as_of: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    attribution: so.Mapped[str | None] = so.mapped_column(sa.Text)
    note: so.Mapped[str | None] = so.mapped_column(sa.Text)

    def __repr__(self) -> str:
        return f"<DataSource {self.slug}>"


class Organization(Base):
    """A health system or parent organization (HSDS *organization*)."""

    __tablename__ = "organization"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(300), unique=True)
    website: so.Mapped[str | None] = so.mapped_column(sa.String(500))

    centers: so.Mapped[list[Center]] = so.relationship(back_populates="organization")

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.name!r}>"


class Center(Base):
    """One physical treatment site (HSDS *location* + *address*).

    ``latitude``/``longitude`` are WGS-84 degrees or both ``None``; ``country`` is ISO 3166-1
    alpha-2; ``region`` is ISO 3166-2 (``US-TX``) when known, else the text given;
    ``phone`` is E.164 when it could be parsed. ``(source, external_id)`` is the re-import key;
    ``natural_key`` (folded name | postal code | country) is the fallback when a file has no id.
    """

    __tablename__ = "center"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id", name="uq_center_source_external_id"),
        sa.Index("ix_center_source_natural_key", "source", "natural_key"),
        sa.Index("ix_center_country_region", "country", "region"),
        # Covering indexes: each search reads its candidates from one index alone (no row
        # lookups) and, ordered by (name_folded, id), walks it in page order. Radius: the
        # grid cells of the bounding box, then latitude, with what the distance sort and the
        # facets need; country: name order within a country; everything else: name order.
        # Every search filters on kind (non-treating kinds are left out by default); the
        # best-match order of a radius search reads designated and source as well.
        sa.Index("ix_center_geo_cell_cover", "geo_cell", "latitude", "longitude", "status",
                 "kind", "modality_mask", "reported_mask", "designated", "country",
                 "name_folded", "source", "id"),
        sa.Index("ix_center_country_name_cover", "country", "name_folded", "id", "status",
                 "kind", "modality_mask", "reported_mask"),
        sa.Index("ix_center_name_cover", "name_folded", "id", "status", "kind",
                 "modality_mask", "reported_mask"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    source: so.Mapped[str] = so.mapped_column(sa.ForeignKey("data_source.slug"), index=True)
    external_id: so.Mapped[str | None] = so.mapped_column(sa.String(128))
    natural_key: so.Mapped[str] = so.mapped_column(sa.String(400))
    name: so.Mapped[str] = so.mapped_column(sa.String(300))
    name_folded: so.Mapped[str] = so.mapped_column(sa.String(300))
    alternate_names: so.Mapped[str | None] = so.mapped_column(sa.Text)
    search_text: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    kind: so.Mapped[str] = so.mapped_column(sa.String(32), default="hospital")
    address: so.Mapped[str | None] = so.mapped_column(sa.Text)
    city: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    city_folded: so.Mapped[str] = so.mapped_column(sa.String(120), default="", index=True)
    region: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    postal_code: so.Mapped[str | None] = so.mapped_column(sa.String(20), index=True)
    country: so.Mapped[str | None] = so.mapped_column(sa.String(2))
    latitude: so.Mapped[float | None] = so.mapped_column(sa.Double)
    longitude: so.Mapped[float | None] = so.mapped_column(sa.Double)
    geocode_precision: so.Mapped[str] = so.mapped_column(sa.String(16), default="none")
    # The 1-degree grid cell of the coordinates (directory.geo.grid_cell), computed
    # by the database: a radius search reads only the cells its bounding box touches
    # instead of a whole band of latitude round the world. (PostgreSQL's expression is in
    # directory.geo.GRID_CELL_SQL; Alembic does not compare generated expressions.)
    geo_cell: so.Mapped[int | None] = so.mapped_column(
        sa.Integer, sa.Computed(GRID_CELL_SQL["sqlite"], persisted=False))
    # One bit per vocabulary modality (its position in seeds/modalities.toml), ancestors
    # included, kept in step with ``modalities`` by a flush hook: lets search filter and
    # count modalities with ``modality_mask & bits`` instead of joins.
    modality_mask: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0,
                                                     server_default="0")
    # The same bits for the claims a source *reports* (provenance ``reported``), kept by
    # the same hook: the best-match order of a treatment search puts reported before
    # inferred with ``reported_mask & bit`` instead of a subquery per candidate row.
    reported_mask: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0,
                                                     server_default="0")
    # True while the center holds a designation: kept by triggers on center_designation
    # (migration e5f2a9c1d3b4), never written by the app. Relevance ranks designated
    # centers first, and PostgreSQL indexes their search text apart (a partial GIN index).
    designated: so.Mapped[bool] = so.mapped_column(sa.Boolean, server_default=sa.false())
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    website: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    email: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    status: so.Mapped[str] = so.mapped_column(sa.String(24), default="active", index=True)
    description: so.Mapped[str | None] = so.mapped_column(sa.Text)
    organization_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("organization.id"), index=True)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(sa.DateTime(timezone=True),
                                                          default=utcnow)
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(sa.DateTime(timezone=True),
                                                          default=utcnow, onupdate=utcnow)
    verified_at: so.Mapped[dt.date | None] = so.mapped_column(sa.Date)
    # Where each shown field came from when not from the center's first record (``source``,
    # ``external_id``): JSON ``{field: {"source", "external_id", "date"}}``, written by
    # directory.curation.resolve; ``None`` when every field is the first record's.
    field_sources: so.Mapped[str | None] = so.mapped_column(sa.Text)

    organization: so.Mapped[Organization | None] = so.relationship(back_populates="centers")
    records: so.Mapped[list[SourceRecord]] = so.relationship(
        back_populates="center", order_by="SourceRecord.id", cascade="all, delete-orphan")
    data_source: so.Mapped[DataSource] = so.relationship()
    modalities: so.Mapped[list[CenterModality]] = so.relationship(
        back_populates="center", cascade="all, delete-orphan")
    designations: so.Mapped[list[CenterDesignation]] = so.relationship(
        back_populates="center", cascade="all, delete-orphan")

    @property
    def has_coordinates(self) -> bool:
        """True when both latitude and longitude are set."""
        return self.latitude is not None and self.longitude is not None

    def __repr__(self) -> str:
        return f"<Center {self.id} {self.name!r}>"


class Modality(Base):
    """A treatment modality in the controlled vocabulary (``seeds/modalities.toml``)."""

    __tablename__ = "modality"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    slug: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    parent_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("modality.id"))
    guide: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    synonyms: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    position: so.Mapped[int] = so.mapped_column(default=0)

    parent: so.Mapped[Modality | None] = so.relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<Modality {self.slug}>"


class CenterModality(Base):
    """A claim that a center offers a modality (HSDS *service_at_location*).

    ``provenance`` is ``reported`` (a source says the center delivered it) or ``inferred``
    (derived, e.g. from an NCI designation); ``verified_on`` is the date of the evidence.
    """

    __tablename__ = "center_modality"
    __table_args__ = (
        sa.UniqueConstraint("center_id", "modality_id", "source",
                            name="uq_center_modality_center_id"),
        sa.Index("ix_center_modality_modality_center", "modality_id", "center_id"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    center_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("center.id", ondelete="CASCADE"))
    modality_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("modality.id"))
    provenance: so.Mapped[str] = so.mapped_column(sa.String(16), default="reported")
    source: so.Mapped[str] = so.mapped_column(sa.String(64))
    verified_on: so.Mapped[dt.date | None] = so.mapped_column(sa.Date)
    evidence: so.Mapped[str | None] = so.mapped_column(sa.String(300))

    center: so.Mapped[Center] = so.relationship(back_populates="modalities")
    modality: so.Mapped[Modality] = so.relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<CenterModality {self.center_id} {self.modality_id} {self.provenance}>"


class Designation(Base):
    """A designation or accreditation (``seeds/designations.toml``)."""

    __tablename__ = "designation"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    slug: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    issuer: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    url: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    infers: so.Mapped[str] = so.mapped_column(sa.Text, default="")

    def __repr__(self) -> str:
        return f"<Designation {self.slug}>"


class CenterDesignation(Base):
    """That a center holds a designation, as of a date, according to a source."""

    __tablename__ = "center_designation"
    __table_args__ = (
        sa.UniqueConstraint("center_id", "designation_id", name="uq_center_designation_center_id"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    center_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("center.id", ondelete="CASCADE"))
    designation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("designation.id"),
                                                      index=True)
    source: so.Mapped[str] = so.mapped_column(sa.String(64))
    as_of: so.Mapped[dt.date | None] = so.mapped_column(sa.Date)

    center: so.Mapped[Center] = so.relationship(back_populates="designations")
    designation: so.Mapped[Designation] = so.relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<CenterDesignation {self.center_id} {self.designation_id}>"


class SourceRecord(Base):
    """One row of one source as it was read (DESIGN.md *source record*), linked into the
    center it describes. ``values`` is JSON of the canonical fields the source gave
    (a column the file lacked is absent, an empty cell is ``null``); ``dataset_date`` is
    the date of the data; ``link_rule`` / ``link_score`` / ``link_reason`` say why the
    record belongs to its center (``first`` for the record that made it, ``key:ccn``,
    ``address+name``, ``merge``...). Source ``editor`` holds editors' values, one record per
    center. Claims and designations stay in their tables, keyed by source."""

    __tablename__ = "source_record"
    __table_args__ = (
        sa.UniqueConstraint("source", "external_id", name="uq_source_record_source"),
        sa.Index("ix_source_record_source_natural_key", "source", "natural_key"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    center_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("center.id", ondelete="CASCADE"), index=True)
    source: so.Mapped[str] = so.mapped_column(sa.String(64))
    external_id: so.Mapped[str | None] = so.mapped_column(sa.String(128))
    natural_key: so.Mapped[str] = so.mapped_column(sa.String(400))
    values: so.Mapped[str] = so.mapped_column(sa.Text, default="{}")
    dataset_date: so.Mapped[dt.date | None] = so.mapped_column(sa.Date)
    import_run_id: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    link_rule: so.Mapped[str] = so.mapped_column(sa.String(40), default="first")
    link_score: so.Mapped[float | None] = so.mapped_column(sa.Float)
    link_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(sa.DateTime(timezone=True),
                                                          default=utcnow, onupdate=utcnow)

    center: so.Mapped[Center] = so.relationship(back_populates="records")

    def __repr__(self) -> str:
        return f"<SourceRecord {self.source}:{self.external_id or self.natural_key}>"


class LinkReview(Base):
    """A pair of centers that may be one site: the linker scored a new row against a stored
    center between the review and link thresholds, so it was added as its own center and
    the pair waits here for a person (``status`` ``open``, then ``merged`` or
    ``rejected``). Never merged without one."""

    __tablename__ = "link_review"
    __table_args__ = (sa.UniqueConstraint("center_id", "other_center_id",
                                          name="uq_link_review_center_id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    center_id: so.Mapped[int] = so.mapped_column(sa.Integer, index=True)
    other_center_id: so.Mapped[int] = so.mapped_column(sa.Integer, index=True)
    score: so.Mapped[float] = so.mapped_column(sa.Float)
    rule: so.Mapped[str] = so.mapped_column(sa.String(40))
    reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="open", index=True)
    import_run_id: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(sa.DateTime(timezone=True),
                                                          default=utcnow)
    decided_by: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    decided_at: so.Mapped[dt.datetime | None] = so.mapped_column(sa.DateTime(timezone=True))

