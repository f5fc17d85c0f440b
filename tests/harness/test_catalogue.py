"""The one catalogue of services, and the files outside Python that must agree with it: the compose
files (services, published ports, healthchecks), the Vagrantfile's forwarded ports, the security
feature's table of services, the image build script and the endpoints of a lab on a host."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from harness.base import services
from harness.lab import images
from harness.lab.targets.base import Endpoints

REPO = Path(__file__).parents[2]
STACK = REPO / "stack"


def compose_services(*names: str) -> dict[str, dict]:
    merged: dict[str, dict] = {}
    for name in names:
        for service, spec in (yaml.safe_load((STACK / name).read_text())["services"] or {}).items():
            merged.setdefault(service, {}).update(spec or {})
    return merged


def host_ports(spec: dict) -> set[int]:
    out = set()
    for entry in spec.get("ports") or []:
        parts = str(entry).rsplit(":", 2)
        out.add(int(parts[-2]))
    return out


def test_each_store_set_runs_the_services_the_catalogue_names() -> None:
    for stores in services.STORE_SETS:
        composed = compose_services("compose.yaml", f"compose.{stores}.yaml")
        assert sorted(composed) == sorted(s.name for s in services.services_of(stores)), stores


def test_compose_publishes_exactly_the_catalogue_ports_on_the_bind_address() -> None:
    for stores in services.STORE_SETS:
        composed = compose_services("compose.yaml", f"compose.{stores}.yaml")
        for name, spec in composed.items():
            assert host_ports(spec) == set(services.SERVICES[name].ports), name
            for entry in spec.get("ports") or []:
                assert str(entry).startswith("${LAB_BIND_ADDRESS:-127.0.0.1}:"), (name, entry)


def test_the_vagrantfile_forwards_every_catalogue_port_and_nothing_else() -> None:
    text = (REPO / "Vagrantfile").read_text()
    block = text[text.index("LAB_PORTS = {") : text.index("}.freeze")]
    forwarded = {int(p) for p in re.findall(r"=>\s*(\d+)", block)}
    assert forwarded == set(services.all_ports())


def test_the_security_feature_asks_about_every_catalogue_service() -> None:
    text = (REPO / "features" / "security.feature").read_text()
    table = text[text.index("Examples:") :].split("Scenario")[0]
    rows = [r.strip(" |") for r in table.splitlines() if r.strip().startswith("|")]
    assert rows[0] == "service"
    assert sorted(rows[1:]) == sorted(services.SERVICE_NAMES)


def test_the_build_script_makes_every_local_image_of_the_catalogue() -> None:
    listed = {i.name: i.tag for i in images.list_images(REPO)}
    for service in services.SERVICES.values():
        if service.name == "otel-agent":  # the split topology's agent runs the collector's image
            assert service.local_image == listed["otel-collector"]
        elif service.local_image:
            assert listed.get(service.name) == service.local_image, service.name
        else:
            assert listed.get(service.name, "missing") is None, f"{service.name} is buildable: say so"


def test_endpoints_of_a_host_come_from_the_catalogue() -> None:
    for stores in services.STORE_SETS:
        ep = Endpoints.for_host("192.0.2.1", "existing", stores).to_dict()
        for key, service in services.endpoint_services(stores).items():
            assert ep[key] == f"http://192.0.2.1:{service.port}"
        assert ("grafana" in ep) == ("grafana" in services.provides(stores))


def test_readiness_paths_are_the_compose_healthchecks_where_there_is_one() -> None:
    """The existing target probes what the compose healthcheck probes (one truth for "is it up")."""
    composed = compose_services("compose.yaml", "compose.jaeger-victorialogs.yaml", "compose.tempo-loki.yaml")
    for name, spec in composed.items():
        test = " ".join(map(str, (spec.get("healthcheck") or {}).get("test") or []))
        urls = re.findall(r"http://127\.0\.0\.1:(\d+)(/\S*)", test)
        service = services.SERVICES[name]
        if urls and service.port is not None:
            assert (str(service.port), service.ready_path) in urls or not any(
                p == str(service.port) for p, _ in urls
            ), (name, urls, service.ready_path)
