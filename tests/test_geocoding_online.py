"""The opt-in online geocoder path (case 18), with a fake geopy geocoder: no network."""

from __future__ import annotations

import geopy.exc
import sqlalchemy as sa
from geopy.extra.rate_limiter import RateLimiter
from geopy.location import Location

from directory.geo import OnlineAddressGeocoder, online_geocoder
from directory.models import Center
from tests.conftest import CASES


class FakeGeocoder:
    """Behaviour keyed by city, not call number: Cleveland times out, Madison is
    rate-limited once (retry after 2 s), Denver refuses (403), Boston succeeds."""

    def __init__(self, clock):
        self.clock = clock
        self.calls: list[tuple[float, str]] = []
        self.madison_failed_at = None

    def __call__(self, query, **kwargs):
        self.calls.append((self.clock.now, query))
        if "Cleveland" in query:
            raise geopy.exc.GeocoderTimedOut("timed out")
        if "Denver" in query:
            raise geopy.exc.GeocoderInsufficientPrivileges("403 Forbidden")
        if "Madison" in query and self.madison_failed_at is None:
            self.madison_failed_at = self.clock.now
            raise geopy.exc.GeocoderRateLimited("429", retry_after=2)
        point = (42.35, -71.06) if "Boston" in query else (43.07, -89.40)
        return Location(query, point, {})


class FakeClock:
    now = 1000.0

    def sleep(self, seconds):
        self.now += seconds


def limited(fake, clock):
    limiter = RateLimiter(fake, min_delay_seconds=1.0, max_retries=2, error_wait_seconds=2.0,
                          swallow_exceptions=False)
    limiter._clock = lambda: clock.now
    limiter._sleep = clock.sleep
    return limiter


def test_case_18_online_only(session, import_file):
    clock = FakeClock()
    fake = FakeGeocoder(clock)
    online = OnlineAddressGeocoder(limited(fake, clock), offline=None)
    result = import_file(CASES / "18_geocode_batch.csv", geocoder=online)
    assert result.rejected == 0 and result.added == 5
    centers = {c.name: c for c in session.scalars(sa.select(Center))}
    by_city = {c.city: c for c in centers.values()}
    # Boston (both rows) and Madison get coordinates; one call covers both Boston rows.
    assert sum("Boston" in q for _, q in fake.calls) == 1
    assert by_city["Madison"].latitude is not None
    assert all(c.latitude is not None for c in centers.values() if c.city == "Boston")
    # Madison's retry came at least 2 s after the 429.
    madison = [t for t, q in fake.calls if "Madison" in q]
    assert len(madison) == 2 and madison[1] - fake.madison_failed_at >= 2.0
    # Cleveland and Denver are kept without coordinates, each with its reason.
    assert by_city["Cleveland"].latitude is None
    assert by_city["Cleveland"].geocode_precision == "none"
    assert by_city["Denver"].latitude is None
    messages = " | ".join(i.message for i in result.warnings)
    assert "geocoder refused (403)" in messages and "timed out" in messages
    # Cleveland was tried at most 3 times; calls were at least 1 s apart.
    assert sum("Cleveland" in q for _, q in fake.calls) <= 3
    times = [t for t, _ in fake.calls]
    assert all(b - a >= 1.0 for a, b in zip(times, times[1:]))


def test_online_with_offline_fallback_for_addresses(session, import_file, geocoder):
    clock = FakeClock()
    fake = FakeGeocoder(clock)
    online = OnlineAddressGeocoder(limited(fake, clock), offline=geocoder)
    csv = (b"name,address,city,state,zip,country\n"
           b"A,1 Main St,Boston,MA,02115,US\n"
           b"B,2 Main St,Denver,CO,80202,US\n")
    result = import_file(csv, filename="addresses.csv", geocoder=online)
    centers = {c.name: c for c in session.scalars(sa.select(Center))}
    assert centers["A"].geocode_precision == "rooftop"
    assert centers["B"].geocode_precision == "postal_code"
    assert any("geocoder refused (403)" in i.message for i in result.warnings)


def test_online_geocoder_is_rate_limited_with_an_app_user_agent():
    limiter = online_geocoder("oncology-center-directory/0.1 test")
    assert limiter.min_delay_seconds >= 1.0 and limiter.swallow_exceptions is False
    nominatim = limiter.func.__self__
    assert nominatim.headers["User-Agent"].startswith("oncology-center-directory/")
    assert nominatim.timeout >= 5


def test_searching_never_calls_the_geocoder_for_stored_centers(client, make_center,
                                                               monkeypatch):
    from directory.geo import OfflineGeocoder

    make_center("Stored", 42.35, -71.06, city="Boston")
    calls = []
    original = OfflineGeocoder.resolve
    monkeypatch.setattr(OfflineGeocoder, "resolve",
                        lambda self, q, **kw: calls.append(q) or original(self, q, **kw))
    client.get("/centers?city=Boston")
    client.get("/centers?near=Boston")
    assert calls == ["Boston"]  # only the user's place, never the stored centers
