"""Checks on Grafana's provisioning: the data sources and dashboards a sentence names, by uid.

(The trace↔logs links are followed in :mod:`harness.checks.grafana_links`.) A sentence that names
no uid would be satisfied by nothing: that is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.base import evidence
from harness.checks.selection import VacuousCheck

if TYPE_CHECKING:  # a vocabulary over a Lab, not a user of the lab's lifecycle
    from harness.lab.lifecycle import Lab


def _named(uids: list[str], what: str) -> None:
    if not uids or any(not uid for uid in uids):
        raise VacuousCheck(f"Grafana {what} are checked by uid; {uids!r} names none")


def grafana_datasources_healthy(lab: Lab, uids: list[str]) -> None:
    _named(uids, "data sources")
    assert lab.grafana is not None, "this store set has no Grafana"
    health = {uid: lab.grafana.datasource_health(uid) for uid in uids}
    evidence.attach("note", f"Grafana data sources {uids}", health=health)
    problems = {uid: h for uid, h in health.items() if str(h.get("status", "")).upper() != "OK"}
    assert not problems, f"datasources not healthy: {problems}"


def grafana_dashboards_exist(lab: Lab, uids: list[str]) -> None:
    _named(uids, "dashboards")
    assert lab.grafana is not None, "this store set has no Grafana"
    missing = [uid for uid in uids if lab.grafana.dashboard(uid) is None]
    evidence.attach("note", f"Grafana dashboards {uids}", missing=missing)
    assert not missing, f"dashboards missing in Grafana: {missing}"
