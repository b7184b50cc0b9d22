"""What makes ``flask seed`` fast without changing what it loads: the linker's reuse of
folded records across calls (directory.curation.link.reuse_prepared) and the paused
garbage collector (directory.gc_pause)."""

from __future__ import annotations

import gc

import pytest

from directory.curation import link
from directory.curation.link import LinkRecord, link_records, reuse_prepared
from directory.gc_pause import gc_paused


def _records(name: str) -> list[LinkRecord]:
    stored = LinkRecord(key="c1", source="stored-center", name="Mercy General Hospital",
                        address="4001 J St", city="Sacramento", region="US-CA",
                        postal_code="95819", country="US", latitude=38.5705,
                        longitude=-121.4536, precision="address")
    new = LinkRecord(key="n1", source="hifld-hospitals", name=name, address="4001 J Street",
                     city="Sacramento", region="US-CA", postal_code="95819", country="US",
                     latitude=38.5706, longitude=-121.4535, precision="address")
    return [stored, new]


def test_reused_folding_gives_the_same_links_and_follows_changed_values(monkeypatch):
    plain = [link_records(_records(n)) for n in ("Mercy General Hospital", "Sutter Eye Clinic")]
    assert plain[0].links and not plain[1].links  # the second name is another site
    calls = []
    real = link.prepare
    monkeypatch.setattr(link, "prepare", lambda i, r: calls.append(r.key) or real(i, r))
    with reuse_prepared():
        first = link_records(_records("Mercy General Hospital"))
        again = link_records(_records("Mercy General Hospital"))
        # same key "n1", other values: folded again, not taken from the first call
        changed = link_records(_records("Sutter Eye Clinic"))
    assert calls == ["c1", "n1", "n1"]
    assert first == again == plain[0]
    assert changed == plain[1]
    link_records(_records("Mercy General Hospital"))  # outside the block: no reuse
    assert calls[3:] == ["c1", "n1"]


def test_gc_paused_restores_the_collector_state():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # only the outermost block re-enables it
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as it was
    finally:
        gc.enable()
