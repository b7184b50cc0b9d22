"""The "best match" order (``sort=best``, the default of place searches): cancer care
first. No Flask; :func:`care_tier` for rows ordered in Python, :func:`care_tier_sql` for
an ORDER BY."""

from __future__ import annotations

import sqlalchemy as sa

from directory.models import Center

#: Kinds a "best match" order puts last even when they report cancer treatment (the guide
#: is for adults: a children's hospital is not a first call), and the general hospitals that
#: come before the other kinds when neither reports a cancer treatment.
_LAST_TIER_KINDS = frozenset({"childrens"})
_GENERAL_KINDS = ("hospital", "critical-access", "military")


def care_tier(designated: bool, kind: str, modality_mask: int) -> int:
    """The group of a center in the ``best`` order: 0 = a designated cancer center or a
    center whose kind is ``cancer-center``; 1 = a center with a reported or inferred cancer
    treatment (any bit of ``modality_mask``); 2 = a general hospital with none reported;
    3 = the rest (clinics, specialist and children's hospitals, and the kinds a search
    leaves out by default when asked for). Within a group, results go by distance (place
    searches) or name."""
    if kind in _LAST_TIER_KINDS:
        return 3
    if designated or kind == "cancer-center":
        return 0
    if modality_mask:
        return 1
    return 2 if kind in _GENERAL_KINDS else 3


def care_tier_sql():
    """:func:`care_tier` as a SQL expression (for ``sort=best`` without a place)."""
    return sa.case((Center.kind.in_(_LAST_TIER_KINDS), 3),
                   (sa.or_(Center.designated, Center.kind == "cancer-center"), 0),
                   (Center.modality_mask != 0, 1),
                   (Center.kind.in_(_GENERAL_KINDS), 2), else_=3)
