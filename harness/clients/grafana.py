"""Grafana HTTP API client (https://grafana.com/docs/grafana/latest/developers/http_api/):
health, data sources and their health checks, dashboards, ``/api/ds/query``, and what an
anonymous visitor is allowed to be.

Authenticated calls use basic auth (the provisioned admin); the anonymous checks use a second
session without credentials, because "no anonymous Admin" can only be proven without them.
"""

from __future__ import annotations

import re
from typing import Any

from harness.base import evidence
from harness.base.http import DEFAULT_TIMEOUT, LabSession, session
from harness.clients.base import HttpClient, SignalError, decode_json, raise_for_status

_ORG_ROLE = re.compile(r'"orgRole"\s*:\s*"([A-Za-z]*)"')


class GrafanaClient(HttpClient):
    """Grafana at ``base_url`` (e.g. ``http://127.0.0.1:3000``) as ``user``/``password``."""

    def __init__(self, base_url: str, user: str | None = "admin", password: str | None = "admin", *,
                 timeout: float = DEFAULT_TIMEOUT, http: LabSession | None = None,
                 anonymous_http: LabSession | None = None):
        super().__init__(base_url, timeout=timeout, http=http)
        if user is not None:
            self.http.auth = (user, password or "")
        self.anonymous_http = anonymous_http or session(timeout=timeout)
        self.anonymous_http.auth = None

    # plumbing ----------------------------------------------------------------------------------
    def _json(self, method: str, path: str, *, anonymous: bool = False, none_on_404: bool = False,
              **kwargs: Any) -> Any:
        http = self.anonymous_http if anonymous else self.http
        response = http.request(method, self.url(path), **kwargs)
        if none_on_404 and response.status_code == 404:
            return None
        raise_for_status(response, f"Grafana {path}")
        return decode_json(response, f"Grafana {path}")

    # server --------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """GET /api/health -> ``{"commit", "database": "ok", "version"}`` (no auth needed)."""
        return self._json("GET", "/api/health", anonymous=True)

    def frontend_settings(self, *, anonymous: bool = False) -> dict[str, Any]:
        """GET /api/frontend/settings (data sources, build info, feature toggles)."""
        return self._json("GET", "/api/frontend/settings", anonymous=anonymous)

    def current_user(self) -> dict[str, Any]:
        """GET /api/user as the configured user."""
        return self._json("GET", "/api/user")

    # data sources ----------------------------------------------------------------------------------
    def datasources(self) -> list[dict[str, Any]]:
        """GET /api/datasources."""
        return self._json("GET", "/api/datasources")

    def datasource(self, uid: str) -> dict[str, Any] | None:
        """GET /api/datasources/uid/{uid}; None if there is no such data source."""
        return self._json("GET", f"/api/datasources/uid/{uid}", none_on_404=True)

    def datasource_health(self, uid: str) -> dict[str, Any]:
        """GET /api/datasources/uid/{uid}/health -> ``{"status": "OK"|"ERROR", "message", "http_status"}``.

        A failing check answers HTTP 400 with the same body; that is a result, not an exception.
        """
        response = self.http.get(self.url(f"/api/datasources/uid/{uid}/health"))
        body = decode_json(response, f"Grafana data source {uid} health")
        if not isinstance(body, dict):
            raise SignalError(f"Grafana data source {uid} health: unexpected body {body!r}")
        result = {"status": str(body.get("status", "")).upper(), "message": body.get("message", ""),
                  "http_status": response.status_code}
        if "details" in body:
            result["details"] = body["details"]
        evidence.attach("query", f"Grafana data source health {uid}", **result)
        return result

    # dashboards -----------------------------------------------------------------------------------
    def dashboard(self, uid: str) -> dict[str, Any] | None:
        """GET /api/dashboards/uid/{uid} -> ``{"dashboard": {...}, "meta": {...}}``; None if absent."""
        return self._json("GET", f"/api/dashboards/uid/{uid}", none_on_404=True)

    def search_dashboards(self, query: str | None = None, tag: str | None = None) -> list[dict[str, Any]]:
        """GET /api/search?type=dash-db -> ``[{"uid", "title", "url", "type", "tags", ...}]``."""
        params: dict[str, Any] = {"type": "dash-db"}
        if query:
            params["query"] = query
        if tag:
            params["tag"] = tag
        return self._json("GET", "/api/search", params=params)

    # queries --------------------------------------------------------------------------------------
    def ds_query(self, queries: list[dict[str, Any]], *, from_: str = "now-15m",
                 to: str = "now") -> dict[str, Any]:
        """POST /api/ds/query; the body ``{"results": {refId: {"status", "frames", "error"?}}}``.

        Each query needs ``refId`` and ``datasource: {"uid": ...}`` plus its data source's own
        fields (``expr`` for Prometheus/Loki, ``query`` for Tempo, ...). A 400 whose body still
        has ``results`` (one query failed) is returned so the caller sees which one and why.
        """
        payload = {"queries": queries, "from": from_, "to": to}
        response = self.http.post(self.url("/api/ds/query"), json=payload)
        body = decode_json(response, "Grafana /api/ds/query")
        if response.status_code >= 400 and not (isinstance(body, dict) and "results" in body):
            raise SignalError(f"Grafana /api/ds/query: HTTP {response.status_code}: "
                              f"{body.get('message', body) if isinstance(body, dict) else body}")
        evidence.attach("query", "Grafana /api/ds/query", queries=queries, status=response.status_code,
                        errors=query_errors(body))
        return body

    # anonymous access -----------------------------------------------------------------------------
    def anonymous_status(self, path: str) -> int:
        """HTTP status of ``GET path`` without credentials (e.g. 401/403 for admin APIs)."""
        return self.anonymous_http.get(self.url(path), allow_redirects=False).status_code

    def anonymous_role(self) -> str | None:
        """The org role Grafana gives a visitor without credentials (``"Viewer"``, ``"Admin"``...),
        read from the ``grafanaBootData`` of the start page; None when anonymous access is off."""
        response = self.anonymous_http.get(self.url("/"))
        m = _ORG_ROLE.search(response.text)
        role = m.group(1) if m else ""
        evidence.attach("note", "Grafana anonymous role", role=role or None, url=response.url)
        return role or None


def frames(body: dict[str, Any], ref_id: str = "A") -> list[dict[str, Any]]:
    """The data frames of one query of an ``/api/ds/query`` answer."""
    return ((body.get("results") or {}).get(ref_id) or {}).get("frames") or []


def frame_columns(frame: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field name: values}`` of a data frame (schema fields zipped with data values)."""
    fields = (frame.get("schema") or {}).get("fields") or []
    values = (frame.get("data") or {}).get("values") or []
    return {f.get("name", str(i)): list(values[i]) if i < len(values) else [] for i, f in enumerate(fields)}


def query_errors(body: Any) -> dict[str, str]:
    """``{refId: error}`` for the queries of an ``/api/ds/query`` answer that failed."""
    if not isinstance(body, dict):
        return {}
    return {ref: str(r.get("error")) for ref, r in (body.get("results") or {}).items()
            if isinstance(r, dict) and r.get("error")}


def has_data(body: dict[str, Any], ref_id: str = "A") -> bool:
    """True when the query returned at least one frame with at least one value."""
    return any(any(len(col) > 0 for col in frame_columns(f).values()) for f in frames(body, ref_id))
