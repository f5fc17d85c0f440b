"""The task manager page must work with no internet: every asset it names is served by the front."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlparse

from harness.base import evidence

if TYPE_CHECKING:
    import requests

    from harness.lab.lifecycle import Lab


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"] or "")
        elif (
            tag == "link"
            and a.get("href")
            and (a.get("rel") or "") in ("stylesheet", "icon", "preload", "manifest")
        ):
            self.urls.append(a["href"] or "")
        elif tag == "img" and a.get("src"):
            self.urls.append(a["src"] or "")
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False


def asset_urls(html: str) -> tuple[str, list[str]]:
    """(page title, URLs of scripts, stylesheets and images the page loads)."""
    parser = _Assets()
    parser.feed(html)
    return parser.title.strip(), parser.urls


def open_page(lab: Lab) -> requests.Response:
    """GET the task manager page through the front."""
    return lab.front.http.get(lab.front.url("/"))


def assert_offline_task_manager(lab: Lab, response: requests.Response) -> None:
    assert response.status_code == 200, f"the page answered {response.status_code}"
    title, urls = asset_urls(response.text)
    assert "task" in title.lower(), f"page title is {title!r}, not the task manager"
    assert urls, "the page names no script, stylesheet or image: not the task manager's page (it has one)"
    base = lab.endpoints.frontend + "/"
    foreign = [u for u in urls if urlparse(urljoin(base, u)).netloc != urlparse(base).netloc]
    assert not foreign, f"the page loads assets from elsewhere: {foreign}"
    broken = {}
    for u in urls:
        status = lab.front.http.get(urljoin(base, u)).status_code
        if status != 200:
            broken[u] = status
    evidence.attach("note", f"page {title!r} with {len(urls)} local assets", assets=urls)
    assert not broken, f"assets that did not load through the front: {broken}"
