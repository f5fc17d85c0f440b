"""A real browser: Debian's Chromium driven by Playwright, on the lab's page (the @ui scenarios).

No browser is ever downloaded (none can be here): Playwright drives the Chromium that Debian's
packages install (``chromium-headless-shell``, else ``chromium``) through ``executable_path``, in
a fresh profile, with Chromium's own background connections (updates, sync, QUIC, first-run
pings) switched off — on a closed network they would be refused and slow every page down.

:class:`Browser` is one Chromium; :class:`TaskManagerPage` is a person using the page: it fills
and clicks what a person would, waits for the page's own answer (list, stats, messages), and keeps
every request the page made, with the trace id each /api/ call carried, so a step can look the
trace up. The living documentation is checked in the same browser by :mod:`harness.report.docs_check`.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from harness.base import evidence, timeouts
from harness.base.errors import LabError
from harness.base.waiting import eventually, scaled
from harness.lab import npm

EXECUTABLES = ("chromium-headless-shell", "chromium")
ARGS = (
    "--no-sandbox",  # root in a container or CI: Chromium's sandbox needs user namespaces
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
)
ACTION_TIMEOUT = timeouts.base("browser")
LAUNCH_TIMEOUT = 60.0
VIEWPORT = {"width": 1280, "height": 900}
AXE_FILE = "axe-core/axe.min.js"
SERIOUS = ("serious", "critical")  # axe-core's impacts that fail the check (minor, moderate: noted)
NO_VALUE = "\u2013"  # what the page's stats say before the first answer (an en dash)
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def chromium_executable() -> str:
    """The Chromium binary to drive; LabError saying what to install when there is none."""
    for name in EXECUTABLES:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None)
        if found:
            return found
    raise LabError("no Chromium to drive: apt-get install chromium-headless-shell (or chromium)")


class Browser:
    """One headless Chromium in a throwaway profile; a context manager (``with Browser() as b``)."""

    def __init__(self) -> None:
        self.executable = chromium_executable()
        self._profile = tempfile.mkdtemp(prefix="lab-chromium-")
        self._playwright: Any = None
        self.context: Any = None

    def __enter__(self) -> Browser:
        from playwright.sync_api import Error, sync_playwright

        try:
            self._playwright = sync_playwright().start()
            self.context = self._playwright.chromium.launch_persistent_context(
                self._profile, executable_path=self.executable, headless=True, args=list(ARGS),
                viewport=VIEWPORT, timeout=scaled(LAUNCH_TIMEOUT) * 1000, locale="en-US",
            )
        except Error as exc:
            self.close()
            raise LabError(f"{self.executable} did not start under Playwright: {exc.message.splitlines()[0]}"
                           ) from None
        self.context.set_default_timeout(scaled(ACTION_TIMEOUT) * 1000)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> str:
        browser = self.context.browser if self.context else None
        return browser.version if browser else "?"

    def new_page(self) -> Any:
        return self.context.new_page()

    def close(self) -> None:
        """Close Chromium and Playwright's driver, remove the profile; idempotent."""
        for closer in (lambda: self.context and self.context.close(),
                       lambda: self._playwright and self._playwright.stop()):
            with contextlib.suppress(Exception):  # closing what may already be gone: nothing to report
                closer()
        self.context = self._playwright = None
        shutil.rmtree(self._profile, ignore_errors=True)


@dataclass(frozen=True)
class ApiCall:
    """One /api/ request the page made, as the browser sent it and as the front answered."""

    method: str
    path: str
    status: int
    trace_id: str | None  # from the traceparent the browser sent (the SDK's fetch span)
    parent_span_id: str | None  # that fetch span's id: the server span's parent
    answered_trace_id: str | None  # X-Trace-Id the backend answered with
    body: Any


@dataclass(frozen=True)
class Stats:
    total: str
    completed: str
    open: str


@dataclass
class TaskManagerPage:
    """The task manager page in a browser tab, used the way a person uses it."""

    page: Any
    base_url: str
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # page errors and console errors
    calls: list[ApiCall] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)  # title -> id of the task this page added

    @classmethod
    def open(cls, browser: Browser, base_url: str) -> TaskManagerPage:
        """Load the page and wait until it has listed the tasks (and its tracing has started)."""
        tab = cls(browser.new_page(), base_url.rstrip("/"))
        tab.page.on("request", lambda r: tab.requests.append(r.url))
        tab.page.on("pageerror", lambda e: tab.problems.append(f"page error: {e}"))
        tab.page.on("console", tab._console)
        response = tab.page.goto(tab.base_url + "/", wait_until="load")
        if response is None or response.status != 200:
            status = response.status if response else "nothing"
            raise LabError(f"{tab.base_url}/ answered {status} in Chromium")
        tab.wait_for(tab._listed, "the page to list the tasks", timeout=ACTION_TIMEOUT)
        evidence.attach("browser", f"opened {tab.base_url}/ in Chromium {browser.version}",
                        tracing=tab.tracing(), requests=len(tab.requests))
        return tab

    def _listed(self) -> None:
        # polled from here: Playwright's wait_for_function evaluates a string, which the CSP forbids
        assert self.page.locator("#stat-total").inner_text() != NO_VALUE, "the stats have no value yet"

    def _console(self, message: Any) -> None:
        """Console errors count, except a refused span export: tracing is best effort."""
        where = (message.location or {}).get("url", "")
        if message.type == "error" and "/otlp/" not in where + message.text:
            self.problems.append(f"console error: {message.text} ({where})")

    # -- what the page says ---------------------------------------------------------------------
    def tracing(self) -> dict[str, Any] | None:
        """The SDK's window.labTracing (None when otel-web.js did not start)."""
        return self.page.evaluate("() => window.labTracing ? {active: window.labTracing.active, "
                                  "service: window.labTracing.serviceName} : null")

    def stats(self) -> Stats:
        text = {k: self.page.locator(f"#stat-{k}").inner_text() for k in ("total", "done", "open")}
        return Stats(text["total"], text["done"], text["open"])

    def message(self, element_id: str) -> str:
        """The visible text of a message element (``""`` when hidden)."""
        el = self.page.locator(f"#{element_id}")
        return el.inner_text().strip() if el.is_visible() else ""

    def item(self, title: str) -> Any:
        task_id = self.created.get(title)
        if task_id is None:
            raise AssertionError(f"this page has not added a task titled {title!r} "
                                 f"(added: {list(self.created)})")
        return self.page.locator(f'#task-list li[data-task-id="{task_id}"]')

    # -- what a person does ---------------------------------------------------------------------
    def add_task(self, title: str) -> ApiCall | None:
        """Type the title, press "Add task"; the POST the page made (None when the page refused to
        send one, e.g. for a blank title)."""
        self.page.get_by_label("Title").fill(title)
        button = self.page.get_by_role("button", name="Add task")
        if not title.strip():
            before = len(self.calls)
            button.click()
            self.page.locator("#form-error").wait_for(state="visible")
            assert len(self.calls) == before, "the page sent a blank title to the API"
            return None
        call = self._api_call(lambda: button.click(), "POST", "/api/tasks")
        if call.status == 201 and isinstance(call.body, dict):
            self.created[title] = int(call.body["id"])
            self.item(title).wait_for()
        return call

    def complete_task(self, title: str) -> ApiCall:
        box = self.item(title).get_by_role("checkbox")
        call = self._api_call(lambda: box.check(), "PUT", f"/api/tasks/{self.created[title]}")
        self.page.locator(f'#task-list li.done[data-task-id="{self.created[title]}"]').wait_for()
        return call

    def delete_task(self, title: str) -> ApiCall:
        task_id = self.created[title]
        button = self.item(title).get_by_role("button", name="Delete")
        call = self._api_call(lambda: button.click(), "DELETE", f"/api/tasks/{task_id}")
        self.page.locator(f'#task-list li[data-task-id="{task_id}"]').wait_for(state="detached")
        return call

    def press(self, button: str, path: str, method: str = "GET") -> ApiCall:
        """Press one of the signal buttons ("Simulate error") and wait for its request."""
        control = self.page.get_by_role("button", name=button, exact=True)
        call = self._api_call(lambda: control.click(), method, path)
        self.page.locator("#signal-result").wait_for(state="visible")
        return call

    def _api_call(self, action: Callable[[], None], method: str, path: str) -> ApiCall:
        def wanted(response: Any) -> bool:
            return response.request.method == method and urlparse(response.url).path == path

        with self.page.expect_response(wanted) as answer:
            action()
        response = answer.value
        sent = response.request.all_headers()
        match = TRACEPARENT.match(sent.get("traceparent", ""))
        try:
            body = response.json()
        except Exception:  # an answer that is not JSON: kept as text for the evidence
            body = response.text()[:300]
        trace_id, span_id = (match[1], match[2]) if match else (None, None)
        answered = response.headers.get("x-trace-id")
        call = ApiCall(method, path, response.status, trace_id, span_id, answered, body)
        self.calls.append(call)
        evidence.attach("browser", f"the page sent {method} {path}", status=call.status,
                        trace_id=call.trace_id, traceparent=sent.get("traceparent"),
                        x_trace_id=call.answered_trace_id, body=evidence.trim(json.dumps(body)))
        return call

    # -- checks over the page -------------------------------------------------------------------
    def flush_spans(self) -> bool:
        """Ask the page's SDK to export what it has now (instead of at the next 1 s batch)."""
        return bool(self.page.evaluate("() => window.labTracing ? window.labTracing.flush() : false"))

    def foreign_requests(self) -> list[str]:
        """Requests the page made anywhere but the front (data: URLs are the page's own)."""
        origin = urlparse(self.base_url)
        return [u for u in self.requests
                if not u.startswith(("data:", "blob:")) and (urlparse(u).scheme, urlparse(u).netloc)
                != (origin.scheme, origin.netloc)]

    def axe_violations(self, impacts: tuple[str, ...] = SERIOUS) -> list[dict[str, Any]]:
        """axe-core (from the npm lock) run in the page; the violations of these impacts, each
        with its rule, help text and the elements it names. Evaluated through the DevTools
        protocol: the page's CSP (script-src 'self') stays in force for the page itself."""
        source = npm.package_file(AXE_FILE).read_text(encoding="utf-8")
        self.page.evaluate(f"() => {{ {source}\n;window.axe = axe; }}")
        result = self.page.evaluate(
            "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ("
            "{id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))})))"
        )
        serious = [v for v in result if v["impact"] in impacts]
        evidence.attach("browser", f"axe-core {self.page.evaluate('() => axe.version')} on {self.base_url}/",
                        violations=len(result), serious=len(serious),
                        found=[f"{v['impact']} {v['id']}: {v['help']} ({len(v['nodes'])})" for v in result])
        return serious

    def screenshot(self, path: Path, summary: str) -> Path:
        """A full-page PNG, kept as evidence (``file`` relative to the living docs' folder)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        evidence.attach("screenshot", summary, file=f"{path.parent.name}/{path.name}", url=self.page.url)
        return path

    def wait_for(self, check: Callable[[], Any], describe: str, timeout: float = 15) -> Any:
        """Poll a page check (the page refreshes its list after each answer)."""
        return eventually(check, timeout=timeout, describe=describe, interval=0.2)


@contextmanager
def task_manager(base_url: str) -> Iterator[TaskManagerPage]:
    """Chromium with the task manager open on ``base_url`` (the front), closed afterwards."""
    with Browser() as browser:
        yield TaskManagerPage.open(browser, base_url)


def expected_stats(listing: dict[str, Any]) -> Stats:
    """What the page's stats must say for ``GET /api/tasks?limit=200``'s answer."""
    tasks = listing.get("tasks") or []
    done = sum(1 for t in tasks if t.get("completed"))
    return Stats(str(listing["count"]), str(done), str(len(tasks) - done))
