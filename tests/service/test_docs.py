"""/docs and /redoc work offline: every script, style and icon they load is the service's own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_nothing_from_another_host(served: tuple[str, Path], page: str) -> None:
    base, _ = served
    html = httpx.get(f"{base}{page}")
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""", html.text)
    loaded = [a or b for a, b in references]
    assert any(u.endswith(".js") for u in loaded) and "/openapi.json" in html.text, loaded
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html.text, re.IGNORECASE), html.text
    for url in loaded:
        assert url.startswith("/"), url
        asset = httpx.get(f"{base}{url}")
        assert asset.status_code == 200 and len(asset.content) > 100, url
