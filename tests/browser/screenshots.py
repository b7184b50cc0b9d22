"""Take the README / docs screenshots of a running site at 1280 px and 375 px.

    make screenshots            # serves the starter-data database and shoots docs/screenshots/
    python tests/browser/screenshots.py http://127.0.0.1:5000 docs/screenshots

Tile requests are answered with a blank tile (no network), so the map shows markers only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
BLANK_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082")


def pages(base: str, api_get) -> list[tuple[str, str]]:
    """(name, url) of the main pages; the center and comparison use real ids."""
    houston = api_get("/api/v1/centers?near=Houston%2C%20TX&modality=radiation-therapy"
                      "&per_page=3")
    ids = [str(item["id"]) for item in houston["items"]]
    shots = [
        ("home", "/"),
        ("search-houston", "/centers?near=Houston%2C+TX&modality=radiation-therapy"),
        ("guide", "/guide/"),
        ("guide-radiation", "/guide/radiation-therapy"),
        ("about", "/about"),
    ]
    anderson = api_get("/api/v1/centers?q=" + quote("MD Anderson Cancer Center") + "&city=Houston")
    center_id = anderson["items"][0]["id"] if anderson["items"] else ids[0]
    shots.append(("center", f"/centers/{center_id}"))
    shots.append(("compare", f"/compare?ids={','.join(ids)}&near=Houston%2C+TX"))
    shots += [  # the Spanish pages (issue 16)
        ("es-home", "/es/"),
        ("es-search-houston", "/es/centers?near=Houston&modality=radioterapia"),
        ("es-guide-radiation", "/es/guide/radiation-therapy"),
        ("es-center", f"/es/centers/{center_id}"),
        ("es-compare", f"/es/compare?ids={','.join(ids)}&near=Houston"),
    ]
    return [(name, base + path) for name, path in shots]


def main(base: str, out: str) -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context()
        context.route("**/*", lambda route: route.continue_()
                      if route.request.url.startswith(base)
                      else route.fulfill(status=200, content_type="image/png", body=BLANK_PNG))
        api = context.request

        def api_get(path):
            return api.get(base + path).json()

        for name, url in pages(base, api_get):
            for width, suffix in ((1280, ""), (375, "-375")):
                page = context.new_page()
                page.set_viewport_size({"width": width, "height": 1000 if width > 400 else 812})
                page.goto(url)
                page.wait_for_load_state("networkidle")
                path = out_dir / f"{name}{suffix}.png"
                page.screenshot(path=str(path), full_page=width < 400)
                print(path)
                page.close()
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:5000",
         sys.argv[2] if len(sys.argv) > 2 else "docs/screenshots")
