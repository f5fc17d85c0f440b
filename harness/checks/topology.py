"""The split topology's shape (ADR 0018): each host runs its own services, and the app host reaches
the observability host only through the link — OTLP to the gateway — never the stores directly."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from harness.base import evidence, observes, services
from harness.base.errors import LabError
from harness.base.http import session
from harness.clients.hops import parse_exposition, total

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


def agent_has_memory_limiter(lab: Lab) -> dict[str, float]:
    """The agent's own metrics show a memory_limiter taking in each collected signal's items (the
    processor's incoming-items counter, labelled with its name), so it refuses data before the agent
    runs out of memory."""
    url = getattr(lab.endpoints, "agent_metrics", None)
    if not url:
        raise AssertionError("the lab has no agent metrics endpoint (is it --topology split?)")
    http = session(timeout=10.0, record=False)
    try:
        answer = http.get(f"{url}/metrics")
    finally:
        http.close()
    if answer.status_code != 200:
        raise LabError(f"GET {url}/metrics answered {answer.status_code}")
    samples = parse_exposition(answer.text)
    seen = {signal: total(samples, "otelcol_processor_incoming_items", processor="memory_limiter",
                          otel_signal=signal) or 0.0 for signal in observes.COLLECTED}
    evidence.attach("note", "items the agent's memory_limiter took in", url=f"{url}/metrics", **seen)
    missing = [signal for signal, items in seen.items() if not items]
    if missing:
        processors = sorted({s.labels.get("processor", "") for s in samples if s.labels.get("processor")})
        raise AssertionError(f"the agent's {' and '.join(missing)} pipeline has no memory_limiter taking in "
                             f"items (its processors counting items: {processors or 'none'}): nothing "
                             "refuses data before the agent runs out of memory")
    return seen
