"""Admin upload, preview, remap, rejected rows and confirm with the streamed importer: a
cp1252 file with CR-only line ends, `;` cells, multi-line quoted cells, one row rejected by
validation and one by the geocoding check (swapped coordinates). From a breaker session."""

import csv
import io
import re

import sqlalchemy as sa

from directory.extensions import db
from directory.models import Center
from tests.test_admin import admin, preview_token, upload  # noqa: F401 - fixtures

ROWS = ["Hospital;Town;Nation;lat;lon;Services",
        'Clínica Ñandú;Montréal;CA;;;chemotherapy',
        '"Multi\rLine Centre";Boston;US;;;"surgery\rchemotherapy"',
        'Bad Lat;Boston;US;abc;-71;chemotherapy',
        'Swapped;Boston;US;-71.0589;42.3601;chemotherapy',
        'Café “Quoted”;Cleveland;US;;;radiotherapy']
DATA = "\r".join(ROWS).encode("cp1252")


def test_admin_preview_remap_confirm_and_rejected_csv(admin):  # noqa: F811 - fixture
    token = preview_token(upload(admin, DATA, "gov.csv"))
    page = admin.get(f"/admin/imports/preview/{token}").get_data(as_text=True)
    admin.post(f"/admin/imports/preview/{token}", data={
        "action": "remap", "col-0": "Hospital", "map-0": "name", "col-1": "Town",
        "map-1": "city", "col-2": "Nation", "map-2": "country", "col-3": "lat",
        "map-3": "latitude", "col-4": "lon", "map-4": "longitude", "col-5": "Services",
        "map-5": "modalities"})
    page = admin.get(f"/admin/imports/preview/{token}")
    assert page.status_code == 200, page.get_data(as_text=True)[:2000]
    text = admin.get(f"/admin/imports/preview/{token}/rejected.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r[:6] for r in rows[1:]] == [
        ["Bad Lat", "Boston", "US", "abc", "-71", "chemotherapy"],
        ["Swapped", "Boston", "US", "-71.0589", "42.3601", "chemotherapy"]]
    assert [r[6] for r in rows[1:]] == ["6", "7"]
    done = admin.post(f"/admin/imports/preview/{token}", data={"action": "confirm"})
    assert done.status_code == 302
    run_id = int(re.search(r"/admin/imports/(\d+)", done.headers["Location"]).group(1))
    after = admin.get(f"/admin/imports/{run_id}/rejected.csv").get_data(as_text=True)
    assert after == text
    names = set(db.session.scalars(sa.select(Center.name)))
    assert names == {"Clínica Ñandú", "Multi Line Centre", "Café “Quoted”"}, names
