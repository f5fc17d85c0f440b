"""The split topology's files (issue 26, ADR 0018): the overlay puts each service on its host, the
link alone on both, the agent's queue on disk and sized for an outage, and the link forwards only
the two flows the hosts need."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.base import services
from harness.lab import deploy
from tests.stack.test_configs_support import STACK, compose_config, compose_env

SPLIT = ["compose.yaml", "compose.jaeger-victorialogs.yaml", "compose.local-images.yaml",
         "compose.split.yaml"]


def load_yaml(relpath: str) -> Any:
    return yaml.safe_load((STACK / relpath).read_text(encoding="utf-8"))


def _networks(spec: dict) -> set[str]:
    return set(spec.get("networks") or {"default": None})


@pytest.fixture(scope="module")
def rendered() -> dict:
    return compose_config(SPLIT, compose_env(LAB_AGENT_IMAGE="lab/otel-collector:local"))["services"]


def test_each_service_is_on_its_host_and_the_link_alone_on_both(rendered: dict) -> None:
    assert set(rendered) == {s.name for s in services.services_of("jaeger-victorialogs", "split")}
    for name in services.APP_HOST:
        assert _networks(rendered[name]) == {"app"}, name
    for name in services.obs_host("jaeger-victorialogs"):
        assert _networks(rendered[name]) == {"default"}, name
    assert _networks(rendered["link"]) == {"app", "default"}
    assert rendered["link"]["networks"]["app"]["aliases"] == ["otel-gateway"]
    assert set(rendered["link"]["networks"]["default"]["aliases"]) == {"backend", "otel-agent"}


def test_the_app_exports_to_its_own_host_s_agent(rendered: dict) -> None:
    assert rendered["backend"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-agent:4318"
    assert rendered["frontend"]["environment"]["COLLECTOR_UPSTREAM"] == "otel-agent:4318"
    assert "otel-agent" in rendered["backend"]["depends_on"]


def test_the_agent_is_the_base_plus_its_fragment_with_a_queue_on_disk_for_a_5_minute_outage(
        rendered: dict) -> None:
    assert rendered["otel-agent"]["command"] == ["--config=/etc/lab/collector/config.base.yaml",
                                                 "--config=/etc/lab/collector/config.agent.yaml"]
    mounts = [v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}"
              for v in rendered["otel-agent"]["volumes"]]
    assert any(m.startswith("agent-queue:/var/lib/otelcol/file_storage") for m in mounts), mounts
    base, agent = load_yaml("collector/config.base.yaml"), load_yaml("collector/config.agent.yaml")
    exporter = agent["exporters"]["otlp_grpc/gateway"]
    assert exporter["sending_queue"]["storage"] == "file_storage/queue"
    assert "file_storage/queue" in agent["service"]["extensions"]
    # 2 requests a second per signal (batch timeout 500 ms) for 5 minutes: 600; and retried longer
    assert exporter["sending_queue"]["queue_size"] >= 600
    assert int(exporter["retry_on_failure"]["max_elapsed_time"].removesuffix("s")) >= 300
    assert base["service"]["pipelines"]["traces"]["processors"][0] == "memory_limiter"
    assert set(agent["service"]["pipelines"]) == {"traces", "logs"}


def test_the_agent_s_metrics_are_published_on_the_catalogue_port(rendered: dict) -> None:
    published = {int(p["published"]) if isinstance(p, dict) else int(str(p).split(":")[-2])
                 for p in rendered["otel-agent"]["ports"]}
    assert published == set(services.SERVICES["otel-agent"].ports)


def test_the_link_forwards_only_otlp_to_the_gateway_and_the_two_scrapes() -> None:
    script = (STACK / "split" / "link.sh").read_text()
    start = script.index("table ip $TABLE {")
    rules = script[start:script.index("RULES\n", start)]
    assert "policy drop;" in rules.split("chain forward")[1]
    dnats = re.findall(r'iifname "\$(\w+)" tcp dport (.+?) dnat to \$(\w+)', rules)
    assert dnats == [("app_if", "{ 4317, 4318 }", "gateway"), ("obs_if", "5000", "backend"),
                     ("obs_if", "8888", "agent")]


def test_the_split_topology_adds_its_overlay_last() -> None:
    files = deploy.compose_files(STACK, "jaeger-victorialogs", "local", "split")
    assert [f.name for f in files] == SPLIT
    assert deploy.compose_files(STACK, "jaeger-victorialogs", "local")[-1].name == "compose.local-images.yaml"


def test_prometheus_scrapes_the_agent_only_where_the_overlay_mounts_its_target() -> None:
    target = load_yaml("split/prometheus/agent.yml")
    assert target[0]["targets"] == ["otel-agent:8888"]
    # every store set's Prometheus reads the common jobs (scrape_config_files), the agent's among them
    for name in ("prometheus.yml", "prometheus.jaeger-victorialogs.yml", "prometheus.tempo-loki.yml"):
        assert "scrape/common.yml" in load_yaml(f"prometheus/{name}")["scrape_config_files"], name
    jobs = {j["job_name"]: j for j in load_yaml("prometheus/scrape/common.yml")["scrape_configs"]}
    assert jobs["otel-agent"]["file_sd_configs"] == [{"files": ["/etc/lab/split/prometheus/*.yml"]}]
    assert Path(STACK / "split" / "prometheus").is_dir()
