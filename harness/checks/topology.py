"""The split topology's shape (ADR 0018): each host runs its own services, and the app host reaches
the observability host only through the link — OTLP to the gateway — never the stores directly."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from harness.base import evidence, services
from harness.base.errors import LabError

if TYPE_CHECKING:
    from harness.lab.lifecycle import Lab

# From the backend's container (the app host): (name, port) -> must it connect?
REACH = (("otel-agent", 4318, True), ("otel-gateway", 4318, True), ("otel-collector", 4318, False),
         ("jaeger", 16686, False), ("victorialogs", 9428, False), ("prometheus", 9090, False),
         ("otel-gateway", 9090, False))
PROBE = """
import json, socket, sys
out = {}
for name, port in json.loads(sys.argv[1]):
    try:
        socket.create_connection((name, port), timeout=3).close()
        out[f"{name}:{port}"] = "connected"
    except OSError as exc:
        out[f"{name}:{port}"] = type(exc).__name__ + ": " + str(exc)[:80]
print(json.dumps(out))
"""


def split_services_run(lab: Lab) -> dict[str, list[str]]:
    """Host -> its services, each running (the app host's, the obs host's, the link)."""
    states = lab.target.status()
    hosts = {"app": list(services.APP_HOST), "obs": services.obs_host(lab.config.stores), "link": ["link"]}
    missing = [name for names in hosts.values() for name in names if name not in states
               or not states[name].running]
    if missing:
        raise AssertionError(f"the split topology's services not running: {missing} (running: "
                             f"{sorted(n for n, st in states.items() if st.running)})")
    evidence.attach("note", "the split topology's hosts", **hosts)
    return hosts


def app_host_reaches_only_the_link(lab: Lab) -> dict[str, str]:
    """From the backend's container: the agent and the gateway's OTLP port through the link connect;
    the gateway itself, the stores and Prometheus (by name, or the link's other ports) do not."""
    wanted = [[name, port] for name, port, _ in REACH]
    result = lab.target.exec("backend", ["python3", "-c", PROBE, json.dumps(wanted)])
    if result.exit_code != 0:
        raise LabError(f"the reachability probe in backend failed: {result.output.strip()[-300:]!r}")
    answers: dict[str, str] = json.loads(result.output.strip().splitlines()[-1])
    evidence.attach("note", "what the app host reaches (from the backend's container)", **answers)
    wrong = [f"{name}:{port} {'did not connect' if must else 'connected'} ({answers[f'{name}:{port}']})"
             for name, port, must in REACH if (answers[f"{name}:{port}"] == "connected") != must]
    if wrong:
        raise AssertionError("the app host's reach across the link is not what the split topology says: "
                             + "; ".join(wrong))
    return answers
