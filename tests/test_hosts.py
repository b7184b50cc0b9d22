"""The Host header (issue 15, item 8): only configured hosts are answered (Flask's
``TRUSTED_HOSTS``; anything else is a 400 that never repeats the host), and absolute URLs
come from configuration (``PUBLIC_BASE_URL``) or a trusted host, never from a stranger."""

from __future__ import annotations

import csv
import io

import pytest

from directory import ConfigurationError, create_app
from directory.config import trusted_hosts
from tests.conftest import GAZETTEER_PATH

EVIL = "evil.example"
BASE = "https://centers.example.org"


@pytest.fixture
def centers(make_center):
    a = make_center("Lakeside Cancer Center", 42.336, -71.106, city="Boston",
                    modalities=["chemotherapy"])
    make_center("Harbor Hospital", 42.35, -71.07, city="Boston", modalities=["chemotherapy"])
    return a


def _every_get_url(app, center_id):
    args = {"center_id": center_id, "lang": "es", "suggestion_id": 1, "run_id": 1,
            "token": "x", "review_id": 1, "user_id": 1, "slug": "treatments",
            "filename": "app.css"}
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods:
            yield rule.build({k: args[k] for k in rule.arguments}, append_unknown=False)[1]


def test_an_untrusted_host_is_a_400_on_every_route(app, client, centers):
    urls = list(_every_get_url(app, centers.id)) + ["/nowhere", "/api/v1/nowhere",
                                                     "/centers?near=Boston"]
    for url in urls:
        response = client.get(url, headers={"Host": EVIL})
        body = response.get_data(as_text=True)
        assert response.status_code == 400, url
        assert EVIL not in body and EVIL not in str(response.headers), url
        if url.startswith("/api/"):
            assert response.get_json()["error"] == "bad request", url
            assert "public" not in response.headers.get("Cache-Control", ""), url
    assert client.post("/admin/login", headers={"Host": EVIL}).status_code == 400
    assert client.get("/api/v1/centers", headers={"Host": f"{EVIL}:80"}).status_code == 400


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:5000", "localhost:5103",
                                  "LOCALHOST", "LocalHost:5103"])
def test_local_hosts_are_answered_by_default(client, host):
    """Host names are not case sensitive: ``Host: LOCALHOST`` is localhost (and its links
    use the lower-case name)."""
    response = client.get("/api/v1/", headers={"Host": host})
    assert response.status_code == 200
    assert response.get_json()["links"]["centers"].startswith(f"http://{host.lower()}/")


@pytest.fixture
def public_app(_migrated, database_url, geocoder, app):
    public = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                         "GAZETTEER_PATH": str(GAZETTEER_PATH), "SECRET_KEY": "test",
                         "PUBLIC_BASE_URL": BASE + "/"})
    public.extensions["geocoder"] = geocoder
    return public


def test_absolute_urls_come_from_public_base_url(public_app, centers):
    assert "centers.example.org" in public_app.config["TRUSTED_HOSTS"]
    client = public_app.test_client()
    for host in ("centers.example.org", "localhost"):  # the same links whichever host
        headers = {"Host": host}
        listed = client.get("/api/v1/centers?near=Boston,MA&per_page=1", headers=headers)
        assert listed.status_code == 200 and "public" in listed.headers["Cache-Control"]
        links = [part.split(";")[0].strip(" <>") for part in listed.headers["Link"].split(",")]
        payload = listed.get_json()
        urls = links + [v for v in payload["links"].values() if v] + \
            [i["url"] for i in payload["items"]]
        index = client.get("/api/v1/", headers=headers).get_json()
        urls += list(index["links"].values())
        urls += [m["centers_url"] for m in client.get("/api/v1/modalities",
                                                      headers=headers).get_json()["items"]]
        exported = client.get("/centers.csv?city=Boston", headers=headers).get_data(as_text=True)
        urls += [r["url"] for r in csv.DictReader(io.StringIO(exported.lstrip("\ufeff")))]
        assert len(urls) > 10 and all(u.startswith(BASE + "/") for u in urls), urls
        page = client.get(f"/centers/{centers.id}", headers=headers).get_data(as_text=True)
        nearby = page.split('id="nearby"', 1)[1].split("</section>", 1)[0]
        assert f'href="{BASE}/centers/' in nearby
        search = client.get("/centers?city=Boston", headers=headers).get_data(as_text=True)
        assert f'href="{BASE}/centers?city=Boston">Link to this search' in search
        assert f"Printed from {BASE}/centers?city=Boston" in search
        assert "http://localhost" not in search + page


def test_without_public_base_url_links_use_the_trusted_host(client, centers):
    page = client.get(f"/centers/{centers.id}", headers={"Host": "127.0.0.1:5103"})
    assert 'href="http://127.0.0.1:5103/centers/' in page.get_data(as_text=True)


@pytest.mark.parametrize("value, base, expected", [
    (None, None, ["localhost", "127.0.0.1"]),
    ("", BASE, ["localhost", "127.0.0.1", "centers.example.org"]),
    ("a.example, .b.example", None, ["a.example", ".b.example"]),
    ("Centers.Example.ORG", None, ["centers.example.org"]),
    ("*", None, None),
])
def test_trusted_hosts_setting(value, base, expected):
    assert trusted_hosts(value, base) == expected


@pytest.mark.parametrize("bad", ["centers.example.org", "ftp://x.org", "https://x.org/sub",
                                 "https://x.org/?a=1"])
def test_a_bad_public_base_url_stops_the_app(bad):
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL"):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "k",
                    "PUBLIC_BASE_URL": bad})


def _remaining(client, forwarded: str) -> int:
    response = client.get("/api/v1/", headers={"X-Forwarded-For": forwarded},
                          environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert response.status_code == 200
    return int(response.headers["X-RateLimit-Remaining"])


def test_behind_a_proxy_each_client_has_its_own_rate_limit(database_url):
    """``PROXY_COUNT=1`` (a load balancer in front): the client address of the rate limits
    is the one the proxy put in X-Forwarded-For, so two visitors behind one balancer do not
    share a limit; by default the header is ignored (a client could forge it)."""
    from directory.extensions import limiter

    for hops, shared in ((0, True), (1, False)):
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                          "SECRET_KEY": "test", "RATELIMIT_ENABLED": True,
                          "PROXY_COUNT": hops})
        limiter.reset()
        client = app.test_client()
        first = _remaining(client, "203.0.113.5")
        second = _remaining(client, "198.51.100.7")
        assert (second == first - 1) is shared, (hops, first, second)


@pytest.mark.parametrize("bad", ["-1", "two", "11", "\u00b2", "\u0661"])
def test_a_bad_proxy_count_stops_the_app(bad):
    with pytest.raises(ConfigurationError, match="PROXY_COUNT must be a whole number"):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "k",
                    "PROXY_COUNT": bad})
