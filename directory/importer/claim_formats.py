"""Modality lists: files that add treatment claims to centers already in the directory,
named by a key of another source (CMS quality measures and Provider of Services flags, keyed
by CCN). Each row becomes a :class:`ClaimRow`; :func:`with_inferred` adds what the rules of
``seeds/inferences.toml`` infer from them; the plan stage matches the keys."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from directory.importer.read import normalise_header
from directory.inference import InferenceTable


@dataclass(frozen=True)
class ClaimRow:
    """A modality-list row: the center key, the modality slug, evidence and its date;
    ``provenance`` ``inferred`` for a claim an inference rule made (evidence: its basis)."""

    line: int
    external_id: str
    modality: str
    evidence: str
    verified_on: dt.date
    provenance: str = "reported"


def with_inferred(claims: list[ClaimRow], format_name: str,
                  rules: InferenceTable) -> list[ClaimRow]:
    """``claims`` followed by the inferred claims the rules set off by ``format_name``
    reporting a modality give (same key, line and date as the reported claim; the rule's
    basis as evidence). A modality the list reports for the key is not inferred for it."""
    triggers = {slug: rules.for_reported(format_name, slug) for slug in {c.modality
                                                                        for c in claims}}
    if not any(triggers.values()):
        return claims
    reported = {(c.external_id, c.modality) for c in claims}
    inferred = [ClaimRow(c.line, c.external_id, slug, rule.basis, c.verified_on, "inferred")
                for c in claims for rule in triggers[c.modality] for slug in rule.infers
                if (c.external_id, slug) not in reported]
    return claims + inferred


class ModalityListFormat:
    """Base for files that add modality claims to existing centers named by key."""

    kind = "modality-list"
    name = ""
    label = ""
    default_source = ""
    target_source = "cms-hgi"

    def detect(self, header: list[str]) -> int:
        return 0

    def claims(self, header: list[str], rows) -> tuple[list[ClaimRow], list[tuple]]:
        """Turn rows into claims; returns ``(claims, issues)`` with issues as
        ``(line, column, severity, message)``."""
        raise NotImplementedError


def pad_ccn(value: str) -> str:
    """Normalise a CMS Certification Number: ``"10139.0"`` -> ``"010139"``; letters kept."""
    value = value.strip()
    if value.endswith(".0") and value[:-2].isdigit():
        value = value[:-2]
    return value.zfill(6) if value.isdigit() and len(value) < 6 else value.upper()


MEASURES = {
    "OP_33": ("external-beam-radiation",
              "CMS quality measure OP-33 (external-beam radiotherapy for bone metastases)"),
    "OP_35_ADM": ("chemotherapy", "CMS quality measure OP-35 (outpatient chemotherapy)"),
    "OP_35_ED": ("chemotherapy", "CMS quality measure OP-35 (outpatient chemotherapy)"),
}


class CmsQualityMeasures(ModalityListFormat):
    """CMS star-rating measure inputs (``facility_id, star_rating_release|star_rating_year,
    measure_id, score``): OP-33 means external-beam radiation was delivered, OP-35 outpatient
    chemotherapy. Positive-only: a hospital missing from the file is "not reported"."""

    name = "cms-oqr"
    label = "CMS outpatient quality measures (OP-33, OP-35)"
    default_source = "cms-oqr"

    def detect(self, header: list[str]) -> int:
        keys = {normalise_header(h) for h in header}
        period = keys & {"star rating release", "star rating year"}
        return 70 if {"facility id", "measure id", "score"} <= keys and period else 0

    def claims(self, header, rows):
        idx = {normalise_header(h): i for i, h in enumerate(header)}
        period_col = "star rating release" if "star rating release" in idx else "star rating year"
        out, issues = [], []
        for row in rows:
            cells = row.cells + [""] * (len(header) - len(row.cells))
            measure = cells[idx["measure id"]].strip().upper()
            if measure not in MEASURES:
                continue
            period = cells[idx[period_col]].strip()
            try:
                verified = (dt.date.fromisoformat(period + "-01") if len(period) == 7
                            else dt.date(int(period), 1, 1))
                if not 1990 <= verified.year <= dt.date.today().year + 1:
                    raise ValueError(period)
            except ValueError:
                issues.append((row.line, header[idx[period_col]], "error",
                               f"unreadable period {period!r}"))
                continue
            ccn = pad_ccn(cells[idx["facility id"]])
            if not ccn:
                issues.append((row.line, header[idx["facility id"]], "error",
                               "facility_id is required"))
                continue
            slug, label = MEASURES[measure]
            out.append(ClaimRow(row.line, ccn, slug,
                                f"{label}, star rating {period}", verified))
        return out, issues


POS_FLAGS = {
    "pos chemo": ("chemotherapy", "CMS Provider of Services: chemotherapy service"),
    "pos radonc": ("radiation-therapy", "CMS Provider of Services: therapeutic radiology"),
    "pos surg": ("surgery", "CMS Provider of Services: inpatient surgical services"),
    "pos opsurg": ("surgery", "CMS Provider of Services: outpatient surgery unit"),
}


class CmsProviderOfServices(ModalityListFormat):
    """Per-CCN service flags from the CMS Provider of Services file (2026-04 release).

    A ``1`` is a positive signal; ``0`` or blank means "not reported", never "not offered".
    """

    name = "cms-pos"
    label = "CMS Provider of Services service flags"
    default_source = "cms-pos"
    release = dt.date(2026, 4, 1)

    def detect(self, header: list[str]) -> int:
        keys = {normalise_header(h) for h in header}
        return 70 if {"facility id", "pos chemo", "pos radonc"} <= keys else 0

    def claims(self, header, rows):
        idx = {normalise_header(h): i for i, h in enumerate(header)}
        out, issues = [], []
        for row in rows:
            cells = row.cells + [""] * (len(header) - len(row.cells))
            ccn = pad_ccn(cells[idx["facility id"]])
            seen = set()
            for flag, (slug, label) in POS_FLAGS.items():
                if flag in idx and cells[idx[flag]].strip() == "1" and slug not in seen:
                    seen.add(slug)
                    out.append(ClaimRow(row.line, ccn, slug,
                                        f"{label} (release {self.release:%Y-%m})", self.release))
        return out, issues
