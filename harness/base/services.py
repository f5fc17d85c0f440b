"""The one catalogue of the lab's services: what each is, where it listens, how to tell it is up,
which image it runs from here, which store set has it, whether it may run as root.

Everything that names services derives from this table: the endpoints of a lab on a host, the
"only documented ports" and "not root" posture checks, the existing target's reachability probes,
the local image tables, which store set provides what (skip reasons), and the tests that compare
the Vagrantfile's forwarded ports, the compose files and the feature files with it. Adding a
service is one entry here (and its compose and image files); the stores are made from their kinds
in :mod:`harness.base.observes`, where a store set is one composition of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from harness.base import observes

STORE_SETS: Final = observes.STORE_SET_NAMES
TOPOLOGIES: Final = ("single", "split")  # --topology (harness.base.options.TOPOLOGIES)
SPLIT_ONLY: Final = ("split",)


@dataclass(frozen=True)
class Service:
    name: str  # the compose service name
    ports: MappingProxyType[int, str]  # host port -> what it is (published on the host / the VM)
    endpoint: str | None  # key in Endpoints (and `lab endpoints --json`) of its main URL
    port: int | None  # the port of that URL
    ready_path: str  # an HTTP path on that URL that answers when the service is up
    store_sets: tuple[str, ...] = STORE_SETS  # the sets that run it
    local_image: str | None = None  # the lab/*:local tag stack/images/build.sh makes (None: cannot here)
    may_run_as_root: bool = False
    role: str = ""
    # further URLs of the service in Endpoints: key -> port (optional keys: old endpoints files lack them)
    more_endpoints: tuple[tuple[str, int], ...] = ()
    topologies: tuple[str, ...] = TOPOLOGIES  # the topologies that run it (split: the agent, the link)
    host: str = ""  # split topology: "app" or "obs" (the link is on both: "")


def _ports(**named: int) -> MappingProxyType[int, str]:
    return MappingProxyType({port: name.replace("_", "-") for name, port in named.items()})


def _store(kind: observes.StoreKind) -> Service:
    """The service of a store kind, run by the store sets that compose it."""
    signal = observes.SIGNALS[kind.signal]
    return Service(kind.name, MappingProxyType({kind.port: kind.port_name}), signal.endpoint, kind.port,
                   kind.ready_path, observes.sets_with(kind.name), local_image=kind.local_image,
                   role=signal.holder)


SERVICES: Final[dict[str, Service]] = {
    s.name: s
    for s in (
        Service("frontend", _ports(http=8080), "frontend", 8080, "/healthz",
                local_image="lab/frontend:local", role="nginx: the page and /api/ to the backend"),
        Service("backend", _ports(http=5000), "backend", 5000, "/ready",
                local_image="lab/backend:local", role="the Flask task API (gunicorn)"),
        Service("otel-collector",
                _ports(otlp_grpc=4317, otlp_http=4318, health=13133, metrics=8888),
                "collector_health", 13133, "/", local_image="lab/otel-collector:local",
                role="OpenTelemetry Collector: OTLP in, traces and logs to the stores",
                more_endpoints=(("collector_metrics", 8888),)),
        Service("prometheus", _ports(http=9090), "prometheus", 9090, "/-/ready",
                local_image="lab/prometheus:local", role="scrapes the app, the collector and the stores"),
        *(_store(kind) for kind in observes.STORE_KINDS.values()),
        Service("grafana", _ports(http=3000), "grafana", 3000, "/api/health", observes.sets_with("grafana"),
                role="dashboards joining the three signals"),
        # The split topology (stack/compose.split.yaml, ADR 0018): the app host's collector agent and
        # the one link between the two hosts.
        Service("otel-agent", _ports(agent_metrics=8889), "agent_metrics", 8889, "/metrics",
                local_image="lab/otel-collector:local", topologies=SPLIT_ONLY, host="app",
                role="OpenTelemetry Collector agent on the app host: OTLP in, on to the gateway"),
        Service("link", MappingProxyType({}), None, None, "", local_image="lab/link:local",
                may_run_as_root=True, topologies=SPLIT_ONLY,
                role="the one routed link between the app host and the observability host (NET_ADMIN)"),
    )
}

SERVICE_NAMES: Final = tuple(SERVICES)


APP_HOST: Final = ("frontend", "backend", "otel-agent")  # the split topology's app host


def services_of(stores: str, topology: str = "single") -> list[Service]:
    """The services a store set runs in a topology, in catalogue order."""
    return [s for s in SERVICES.values() if stores in s.store_sets and topology in s.topologies]


def obs_host(stores: str) -> list[str]:
    """The split topology's observability host: every service of the set but the app host's and the link."""
    return [s.name for s in services_of(stores, "split") if s.name not in APP_HOST and s.name != "link"]


def documented_ports(stores: str | None = None, topology: str | None = None) -> dict[str, set[int]]:
    """Service -> the host ports it publishes (every service when ``stores`` is None; of every
    topology when ``topology`` is None)."""
    chosen = SERVICES.values() if stores is None else services_of(stores, topology or "split")
    return {s.name: set(s.ports) for s in chosen if topology is None or topology in s.topologies}


def all_ports(topology: str = "single") -> dict[int, str]:
    """Every documented port of a topology -> ``service/purpose`` (what the Vagrantfile forwards: the
    single topology's)."""
    return {p: f"{s.name}/{what}" for s in SERVICES.values() if topology in s.topologies
            for p, what in s.ports.items()}


def provides(stores: str) -> frozenset[str]:
    """The services a store set has beyond the common ones (e.g. "grafana" for tempo-loki)."""
    return frozenset(s.name for s in services_of(stores) if s.store_sets != STORE_SETS)


def endpoint_services(stores: str, topology: str = "single") -> dict[str, Service]:
    """Endpoint key -> the service behind it, for one store set and topology."""
    return {s.endpoint: s for s in services_of(stores, topology) if s.endpoint}


def required_endpoints(stores: str) -> tuple[str, ...]:
    """The endpoint keys every lab of ``stores`` has, in catalogue order (an endpoints file must name
    each): all but those of the services the set runs beside its stores (Grafana) and the optional
    :func:`more_endpoints`."""
    extras = observes.STORE_SETS[stores].extras
    return tuple(s.endpoint for s in services_of(stores) if s.endpoint and s.name not in extras)


def endpoint_keys() -> tuple[str, ...]:
    """Every endpoint key of every store set, main and optional (the fields of an Endpoints)."""
    keys = [s.endpoint for s in SERVICES.values() if s.endpoint]
    keys += [key for s in SERVICES.values() for key, _ in s.more_endpoints]
    return tuple(dict.fromkeys(keys))


def more_endpoints(stores: str) -> dict[str, int]:
    """Optional endpoint key -> port, for one store set (e.g. ``collector_metrics``: the collector's
    own metrics, read by :mod:`harness.clients.hops`)."""
    return {key: port for s in services_of(stores) for key, port in s.more_endpoints}


def local_images(stores: str, topology: str = "single") -> dict[str, str] | None:
    """Service -> lab/*:local tag for a store set whose every image can be built here, else None (an
    image two services run, as the agent runs the collector's, under the first of them: the build step)."""
    chosen = services_of(stores, topology)
    if any(s.local_image is None for s in chosen):
        return None
    out: dict[str, str] = {}
    for s in chosen:
        if s.local_image and s.local_image not in out.values():
            out[s.name] = s.local_image
    return out


def unbuildable(stores: str) -> tuple[str, ...]:
    """The services of a store set that have no local image."""
    return tuple(s.name for s in services_of(stores) if s.local_image is None)
