"""Database models (SQLAlchemy 2 typed declarative), named after Open Referral HSDS terms.

``core``: what the directory holds (centers, their source records, organizations, the
treatment vocabulary, claims, designations, data sources); ``admin``: the directory's own
work (import runs, accounts, the audit log, pending uploads, the data version); ``hooks``:
flush hooks that keep derived columns in step; ``suggestion``: visitors' suggested updates
waiting for an editor. Import from here.
"""

from directory.models.admin import (
    ROLES,
    ChangeRecord,
    DataVersion,
    ImportIssue,
    ImportJob,
    ImportRun,
    PendingImport,
    User,
)
from directory.models.core import (
    CENTER_KINDS,
    CENTER_STATUSES,
    GEOCODE_PRECISIONS,
    KIND_LABELS,
    NON_TREATING_KINDS,
    PROVENANCES,
    Base,
    Center,
    CenterDesignation,
    CenterModality,
    DataSource,
    Designation,
    LinkReview,
    Modality,
    Organization,
    SourceRecord,
    utcnow,
)
from directory.models.hooks import search_text_of
from directory.models.suggestion import (
    ITEM_KINDS,
    REPORTER_ROLES,
    SUGGESTION_STATUSES,
    Suggestion,
    SuggestionItem,
)

__all__ = [
    "CENTER_KINDS", "KIND_LABELS", "CENTER_STATUSES", "GEOCODE_PRECISIONS", "NON_TREATING_KINDS",
    "PROVENANCES", "ROLES", "Base", "Center", "CenterDesignation", "CenterModality",
    "ChangeRecord", "DataSource", "DataVersion", "Designation", "ImportIssue", "ImportJob",
    "ImportRun", "LinkReview", "Modality", "Organization", "PendingImport", "SourceRecord", "User",
    "search_text_of", "utcnow",
    "ITEM_KINDS", "REPORTER_ROLES", "SUGGESTION_STATUSES", "Suggestion", "SuggestionItem",
]
