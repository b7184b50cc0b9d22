"""Issue 3's "done when" on the real shared files: an admin uploads each file in
shared/data through the web workflow (upload -> preview -> confirm), the counts match the
files, and uploading each again changes nothing."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from directory.extensions import db, limiter
from directory.web.auth import upsert_user

SHARED = next((p for p in (Path(__file__).resolve().parents[2] / "shared" / "data",
                           Path("/work/shared/data")) if p.exists()), None)

# (path under shared/data, expected format, new records (added as centers or linked to
# stored ones), rejected); order matters: the CMS
# modality lists name hospitals of the CMS file by CCN.
FILES = [
    ("cms-hospital-general-information/Hospital_General_Information.csv", "cms-hgi", 5421, 0),
    ("nci-designated-cancer-centers/NCI_CancerCenter_Address_fall2024.csv", "nci", 75, 0),
    ("nhs-choices-hospitals-uk/Hospital.csv", "nhs", 1071, 5),
    ("hifld-hospitals/Hospitals.csv", "hifld", 8013, 0),
    ("cancer-treatment-sites-southeast-us/cancer_centers.csv", "native", 486, 0),
    ("hsds-examples/csv", "hsds", 0, 1),
    ("cms-star-rating-oncology-measures/oncology_measures_star_input_2021_2023.csv",
     "cms-oqr", None, 0),
    ("cms-star-rating-oncology-measures/op35_star_input_2025_2026.csv", "cms-oqr", None, 0),
    ("cms-pos-hospital-services/pos_hospital_services.csv", "cms-pos", None, 0),
]


def file_bytes(path: Path) -> tuple[bytes, str]:
    if path.is_dir():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for member in sorted(path.glob("*.csv")):
                zf.write(member, member.name)
        return buffer.getvalue(), path.name + ".zip"
    return path.read_bytes(), path.name


def counts(html: str) -> dict[str, int]:
    return {label: int(n) for n, label in
            re.findall(r"<strong>(\d+)</strong> (added|linked|updated|unchanged|rejected)", html)}


@pytest.mark.skipif(SHARED is None, reason="shared/data is not beside the checkout")
def test_every_shared_file_through_the_admin_workflow(client):
    limiter.reset()
    upsert_user(db.session, "admin@example.org", "correct horse battery", "admin")
    db.session.commit()
    client.post("/admin/login", data={"email": "admin@example.org",
                                       "password": "correct horse battery"})
    for rel, fmt, added, rejected in FILES:
        data, name = file_bytes(SHARED / rel)
        for attempt in ("first", "again"):
            upload = client.post("/admin/imports/new",
                                 data={"file": (io.BytesIO(data), name)},
                                 content_type="multipart/form-data")
            preview_url = upload.headers["Location"]
            preview = client.get(preview_url).get_data(as_text=True)
            assert f"<dd>{fmt}</dd>" in preview, (rel, attempt)
            found = counts(preview)
            assert found["rejected"] == rejected, (rel, attempt, found)
            if attempt == "first" and added is not None:
                assert found["added"] + found["linked"] == added, (rel, found)
            if attempt == "again":
                assert found["added"] == found["linked"] == found["updated"] == 0, (rel, found)
            done = client.post(preview_url, data={"action": "confirm"})
            assert done.status_code == 302, rel
