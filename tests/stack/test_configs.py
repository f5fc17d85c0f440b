"""Every config under stack/ parses with the real tool that owns it, where that tool runs here:
promtool (config, rules, rule unit tests), docker-compose (every file combination), the built
collector's and Jaeger's `validate`; plus the structural promises of issue 3 that no tool checks
(ports, health checks, volumes, processor order, correlations, no default Grafana password)."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
import yaml

from harness.base import services
from tests.stack.prometheus_tools import require_prometheus_tool
from tests.stack.test_configs_support import (
    STACK,
    STORE_SETS,
    TEST_GRAFANA_PASSWORD,
    compose_config,
    compose_env,
    compose_files,
    compose_v2_available,
    require_image,
    run_compose,
)

PROMETHEUS_CONFIGS = ["prometheus.yml"] + [f"prometheus.{s}.yml" for s in STORE_SETS]
# The collector's configs as it runs them: the base alone (no store set), and the base with each
# set's fragment merged over it (compose.<set>.yaml passes both `--config` files).
COLLECTOR_BASE = "config.base.yaml"
COLLECTOR_SETS = [None, *STORE_SETS]


def load_yaml(relpath: str) -> Any:
    return yaml.safe_load((STACK / relpath).read_text(encoding="utf-8"))


def run(args: list[str], timeout: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def merge(base: Any, over: Any) -> Any:
    """The collector's merge of two config files (confmap's default): maps merged key by key, any
    other value — a list too — replaced by the later file's. test_the_collector_merges_as_the_tests_do
    holds it to the collector's own print-config."""
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: merge(base[k], v) if k in base else v for k, v in over.items()}}
    return over


def collector_files(store_set: str | None) -> list[str]:
    """The files the collector is given, in order."""
    return [COLLECTOR_BASE] + ([f"config.{store_set}.yaml"] if store_set else [])


def collector_config(store_set: str | None) -> Any:
    """The configuration the collector runs for ``store_set`` (None: the base alone)."""
    config: Any = {}
    for name in collector_files(store_set):
        config = merge(config, load_yaml(f"collector/{name}"))
    return config


# == Prometheus ===================================================================================
@pytest.mark.parametrize("name", PROMETHEUS_CONFIGS)
def test_promtool_check_config(name: str) -> None:
    promtool = require_prometheus_tool("promtool")
    proc = run([promtool, "check", "config", str(STACK / "prometheus" / name)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The rule files are found through the relative glob (a typo would silently load none).
    assert "2 rule files found" in proc.stdout, proc.stdout
    # promtool loads the scrape_config_files too: a job in error there fails the check above, and
    # the check names none of their files when they match nothing.
    assert "SUCCESS" in proc.stdout, proc.stdout


def test_promtool_check_rules() -> None:
    promtool = require_prometheus_tool("promtool")
    rules = sorted((STACK / "prometheus" / "rules").glob("*.yml"))
    assert {p.name for p in rules} == {"sli.rules.yml", "slo.alerts.yml"}
    proc = run([promtool, "check", "rules", *map(str, rules)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_rule_unit_tests() -> None:
    """The SLI rules compute the right values on synthetic series (stack/prometheus/tests)."""
    promtool = require_prometheus_tool("promtool")
    proc = run([promtool, "test", "rules", str(STACK / "prometheus" / "tests" / "sli.test.yml")])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_sli_rule_names_and_windows() -> None:
    groups = load_yaml("prometheus/rules/sli.rules.yml")["groups"]
    records = {r["record"] for g in groups for r in g["rules"]}
    for sli in (
        "sli:availability:ratio",
        "sli:latency_p95:seconds",
        "sli:error_rate:ratio",
        "sli:db_latency_p95:seconds",
    ):
        for window in ("rate1m", "rate5m"):
            assert f"{sli}_{window}" in records
    alerts = {
        r["alert"]: r for g in load_yaml("prometheus/rules/slo.alerts.yml")["groups"] for r in g["rules"]
    }
    assert (
        alerts["TaskManagerAvailabilitySLOBreached"]["expr"].strip() == "sli:availability:ratio_rate5m < 0.99"
    )
    assert alerts["TaskManagerLatencySLOBreached"]["expr"].strip() == "sli:latency_p95:seconds_rate5m > 0.5"


def _jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in config.get("scrape_configs") or []}


def prometheus_jobs(name: str) -> dict[str, dict[str, Any]]:
    """The scrape jobs Prometheus runs for ``stack/prometheus/<name>``: its own and those of every
    file its scrape_config_files name (globs, relative to it, as Prometheus reads them)."""
    folder = STACK / "prometheus"
    config = load_yaml(f"prometheus/{name}")
    jobs = _jobs(config)
    for pattern in config.get("scrape_config_files") or []:
        files = sorted(folder.glob(pattern))
        assert files, f"{name}: scrape_config_files {pattern!r} matches no file"
        for path in files:
            more = _jobs(yaml.safe_load(path.read_text(encoding="utf-8")))
            assert not set(more) & set(jobs), f"{name}: jobs {set(more) & set(jobs)} twice"
            jobs.update(more)
    return jobs


def test_prometheus_scrape_jobs_per_store_set() -> None:
    expected = {
        "prometheus.yml": {"prometheus", "flask-backend", "otel-collector", "otel-agent"},
        "prometheus.jaeger-victorialogs.yml": {
            "prometheus",
            "flask-backend",
            "otel-collector",
            "otel-agent",
            "jaeger",
            "victorialogs",
        },
        "prometheus.tempo-loki.yml": {
            "prometheus",
            "flask-backend",
            "otel-collector",
            "otel-agent",
            "tempo",
            "loki",
            "grafana",
        },
    }
    for name, jobs in expected.items():
        assert set(prometheus_jobs(name)) == jobs, name
        assert all(job.get("scrape_interval", "2s") == "2s" for job in prometheus_jobs(name).values()), name
    targets = {
        "flask-backend": "backend:5000",
        "otel-collector": "otel-collector:8888",
        "jaeger": "jaeger:8888",
        "victorialogs": "victorialogs:9428",
        "tempo": "tempo:3200",
        "loki": "loki:3100",
        "grafana": "grafana:3000",
    }
    for name in PROMETHEUS_CONFIGS:
        for job_name, job in prometheus_jobs(name).items():
            if job_name in targets:
                assert job["static_configs"][0]["targets"] == [targets[job_name]], (name, job_name)


def test_prometheus_files_differ_only_in_their_store_set() -> None:
    """Each job is written once (scrape/), each config file reads the shared jobs and its set's
    through scrape_config_files, and the files' own settings are one block but for the set's label."""
    written: dict[str, str] = {}
    for path in sorted((STACK / "prometheus" / "scrape").glob("*.yml")):
        for job in _jobs(yaml.safe_load(path.read_text(encoding="utf-8"))):
            assert job not in written, f"job {job} is written in {written.get(job)} and {path.name}"
            written[job] = path.name
    base = load_yaml("prometheus/prometheus.yml")
    for name in PROMETHEUS_CONFIGS:
        config = load_yaml(f"prometheus/{name}")
        store_set = name.removeprefix("prometheus").removesuffix(".yml").removeprefix(".")
        assert "scrape_configs" not in config, f"{name}: jobs belong in scrape/"
        assert config["scrape_config_files"] == ["scrape/common.yml"] + (
            [f"scrape/{store_set}.yml"] if store_set else []), name
        assert config["global"]["external_labels"]["stores"] == (store_set or "none"), name
        assert config["global"]["scrape_interval"] == "2s", name
        assert _but_the_set(config) == _but_the_set(base), f"{name} drifted from prometheus.yml"


def _but_the_set(config: dict[str, Any]) -> dict[str, Any]:
    """A Prometheus config less what names its store set (its scrape files, its ``stores`` label)."""
    out = {k: v for k, v in config.items() if k != "scrape_config_files"}
    labels = {k: v for k, v in out["global"]["external_labels"].items() if k != "stores"}
    return {**out, "global": {**out["global"], "external_labels": labels}}


# == Collector ====================================================================================
@pytest.mark.parametrize("store_set", COLLECTOR_SETS)
def test_collector_config_shape(store_set: str | None) -> None:
    config = collector_config(store_set)
    service = config["service"]
    pipelines = service["pipelines"]
    assert set(pipelines) == {"traces", "logs"}, "no metrics pipeline: Prometheus scrapes the app itself"
    for pipeline in pipelines.values():
        assert pipeline["receivers"] == ["otlp"]
        assert pipeline["processors"][0] == "memory_limiter"
        assert pipeline["processors"][-1] == "batch"
        assert "resource" in pipeline["processors"]
    batch_timeout = config["processors"]["batch"]["timeout"]
    match = re.fullmatch(r"(\d+)(ms|s)", batch_timeout)
    assert match, batch_timeout
    assert int(match.group(1)) * (1 if match.group(2) == "ms" else 1000) <= 1000
    keys = {a["key"] for a in config["processors"]["resource"]["attributes"]}
    assert {"service.instance.id", "deployment.environment"} <= keys
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    assert config["extensions"]["health_check"]["endpoint"] == "0.0.0.0:13133"
    if store_set is None:  # debug exporters only: nothing to queue
        assert service["extensions"] == ["health_check"]
    else:
        assert service["extensions"] == ["health_check", "file_storage/queue"]
    reader = service["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert (reader["host"], reader["port"]) == ("0.0.0.0", 8888)


def test_a_fragment_holds_only_what_its_store_set_adds() -> None:
    """Everything the sets share is written once, in the base: a fragment has its exporters, each
    pipeline's exporters and the extensions to start — and memory_limiter is in one file of stack/."""
    for store_set in STORE_SETS:
        fragment = load_yaml(f"collector/config.{store_set}.yaml")
        assert set(fragment) == {"exporters", "service"}, store_set
        assert set(fragment["service"]) == {"extensions", "pipelines"}, store_set
        assert all(set(p) == {"exporters"} for p in fragment["service"]["pipelines"].values()), store_set
    # images/: the collector image's own default (it runs alone, without the lab's mount), held
    # valid by tests/stack/test_images.py; the lab always passes the base.
    written = sorted(str(f.relative_to(STACK)) for f in STACK.rglob("*.y*ml")
                     if "memory_limiter:" in f.read_text(encoding="utf-8")
                     and f.relative_to(STACK).parts[0] != "images")
    assert written == ["collector/config.base.yaml"]


def test_collector_exporters_point_at_the_stores() -> None:
    jv = collector_config("jaeger-victorialogs")
    assert jv["exporters"]["otlp_grpc/jaeger"]["endpoint"] == "jaeger:4317"
    assert (
        jv["exporters"]["otlp_http/victorialogs"]["logs_endpoint"]
        == "http://victorialogs:9428/insert/opentelemetry/v1/logs"
    )
    assert jv["service"]["pipelines"]["traces"]["exporters"] == ["otlp_grpc/jaeger"]
    assert jv["service"]["pipelines"]["logs"]["exporters"] == ["otlp_http/victorialogs"]
    tl = collector_config("tempo-loki")
    assert tl["exporters"]["otlp_grpc/tempo"]["endpoint"] == "tempo:4317"
    # otlp_http appends /v1/logs: Loki's OTLP endpoint is /otlp/v1/logs.
    assert tl["exporters"]["otlp_http/loki"]["endpoint"] == "http://loki:3100/otlp"
    assert tl["service"]["pipelines"]["traces"]["exporters"] == ["otlp_grpc/tempo"]
    assert tl["service"]["pipelines"]["logs"]["exporters"] == ["otlp_http/loki"]


QUEUE_DIR = "/var/lib/otelcol/file_storage"  # the collector-queue volume's mount point (compose.yaml)


@pytest.mark.parametrize("store_set", STORE_SETS)
def test_collector_exporters_queue_on_the_volume_and_retry(store_set: str) -> None:
    """Every store exporter keeps its sending queue in file_storage on the collector-queue volume
    (survives a collector restart) and retries a store that does not answer for minutes, not
    seconds (a 30 s outage of a store loses nothing: features/accounting.feature)."""
    config = collector_config(store_set)
    storage = config["extensions"]["file_storage/queue"]
    assert storage["directory"] == QUEUE_DIR and storage["compaction"]["directory"] == QUEUE_DIR
    assert storage["compaction"]["on_start"] and storage["compaction"]["on_rebound"]
    services = compose_config(compose_files(store_set, False), _env_for(store_set))
    volumes = services["services"]["otel-collector"]["volumes"]
    assert any(isinstance(v, str) and v.startswith("collector-queue:") and v.split(":")[1] == QUEUE_DIR
               for v in volumes), volumes
    exporters = load_yaml(f"collector/config.{store_set}.yaml")["exporters"]  # the set's own
    assert set(exporters) == {e for p in config["service"]["pipelines"].values() for e in p["exporters"]}
    assert "file_storage/queue" in config["service"]["extensions"]
    for name, exporter in config["exporters"].items():
        if name not in exporters:
            continue  # the base's debug exporter, which no pipeline of a store set uses
        queue, retry = exporter["sending_queue"], exporter["retry_on_failure"]
        assert queue["enabled"] and queue["storage"] == "file_storage/queue", name
        assert queue["queue_size"] >= 1000, name
        assert retry["enabled"], name
        assert int(retry["max_elapsed_time"].removesuffix("s")) >= 120, name


@pytest.mark.docker
def test_the_registry_collector_image_gives_the_queue_volume_its_owner(tmp_path: Any) -> None:
    """stack/images/collector/registry/Dockerfile (the official image + the queue's directory): a
    fresh named volume mounted there belongs to uid 10001, so file_storage can write. Built here on
    lab/base (the official image is FROM scratch: no shell to look with)."""
    require_image("lab/base:bookworm")
    tag, volume = "obslab-test/collector-queue-owner:test", f"obslab-test-queue-{tmp_path.name[-8:]}"
    context = STACK / "images" / "collector" / "registry"
    try:
        build = run(["docker", "build", "-q", "-t", tag, "--build-arg", "BASE_IMAGE=lab/base:bookworm",
                     str(context)], timeout=300)
        assert build.returncode == 0, build.stdout + build.stderr
        proc = run(["docker", "run", "--rm", "--network", "none", "-v", f"{volume}:{QUEUE_DIR}", tag,
                    "stat", "-c", "%u:%g", QUEUE_DIR], timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip() == "10001:10001"
    finally:
        run(["docker", "volume", "rm", "-f", volume], timeout=60)
        run(["docker", "rmi", "-f", tag], timeout=60)


def _collector(command: str, store_set: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """lab/otel-collector:local's ``command`` on the files the lab gives it for ``store_set``."""
    configs = [f"--config=/cfg/{name}" for name in collector_files(store_set)]
    return run(
        [
            "docker", "run", "--rm", "--network", "none",
            "-e", "DEPLOYMENT_ENVIRONMENT=lab",
            "-v", f"{STACK / 'collector'}:/cfg:ro",
            "lab/otel-collector:local", command, *configs, *args,
        ],
        timeout=120,
    )  # fmt: skip


@pytest.mark.docker
@pytest.mark.parametrize("store_set", COLLECTOR_SETS)
def test_collector_validate_with_built_collector(store_set: str | None) -> None:
    """`validate` of lab/otel-collector:local (the same components as the contrib image uses here)
    on the base alone and on the base with each set's fragment, as compose gives them."""
    require_image("lab/otel-collector:local")
    proc = _collector("validate", store_set)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.docker
@pytest.mark.parametrize("store_set", STORE_SETS)
def test_the_collector_merges_as_the_tests_do(store_set: str) -> None:
    """The collector's own ``print-config`` of the two files: lists replaced (each pipeline exports
    only to the set's stores, not to the base's debug exporter too), maps merged (receivers and
    processors kept) — what :func:`merge` does, so the tests above read what the collector runs."""
    require_image("lab/otel-collector:local")
    proc = _collector("print-config", store_set, "--format=json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    printed = json.loads(proc.stdout)
    ours = collector_config(store_set)
    assert printed["service"]["pipelines"] == ours["service"]["pipelines"]
    assert printed["service"]["extensions"] == ours["service"]["extensions"]
    for section in ("receivers", "processors", "exporters", "extensions"):
        assert set(printed[section]) == set(ours[section]), section
    fragment = load_yaml(f"collector/config.{store_set}.yaml")
    for pipeline in printed["service"]["pipelines"].values():
        assert pipeline["exporters"] != ["debug"] and set(pipeline["exporters"]) <= set(fragment["exporters"])


@pytest.mark.docker
def test_collector_validate_rejects_a_broken_config(tmp_path: Any) -> None:
    """The validate step really checks: an unknown exporter type in a fragment fails."""
    require_image("lab/otel-collector:local")
    text = (STACK / "collector" / "config.jaeger-victorialogs.yaml").read_text(encoding="utf-8")
    (tmp_path / "broken.yaml").write_text(text.replace("otlp_grpc/jaeger", "no_such_exporter/jaeger"))
    (tmp_path / COLLECTOR_BASE).write_text((STACK / "collector" / COLLECTOR_BASE).read_text(encoding="utf-8"))
    tmp_path.chmod(0o755)
    for written in ("broken.yaml", COLLECTOR_BASE):
        (tmp_path / written).chmod(0o644)
    proc = run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{tmp_path}:/cfg:ro",
         "lab/otel-collector:local", "validate", f"--config=/cfg/{COLLECTOR_BASE}",
         "--config=/cfg/broken.yaml"],
        timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "no_such_exporter" in proc.stdout + proc.stderr


# == Jaeger, VictoriaLogs, Tempo, Loki ============================================================
def test_jaeger_config_shape() -> None:
    config = load_yaml("jaeger/config.yaml")
    ext = config["extensions"]
    backend = ext["jaeger_query"]["storage"]["traces"]
    badger = ext["jaeger_storage"]["backends"][backend]["badger"]  # on disk: a restart keeps the traces
    assert badger["ephemeral"] is False
    mount = "/tmp"  # where compose.jaeger-victorialogs.yaml mounts the volume jaeger-data
    assert all(d.startswith(f"{mount}/") for d in badger["directories"].values()), badger["directories"]
    services = compose_config(compose_files("jaeger-victorialogs", False), _env_for("jaeger-victorialogs"))
    assert f"jaeger-data:{mount}:rw" in services["services"]["jaeger"]["volumes"]
    assert config["exporters"]["jaeger_storage_exporter"]["trace_storage"] == backend
    assert ext["jaeger_query"]["http"]["endpoint"] == "0.0.0.0:16686"
    assert ext["healthcheckv2"]["http"]["endpoint"] == "0.0.0.0:13133"
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    reader = config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert reader["port"] == 8888


@pytest.mark.docker
def test_jaeger_validate_with_built_jaeger() -> None:
    require_image("lab/jaeger:local")
    proc = run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{STACK / 'jaeger'}:/cfg:ro",
         "lab/jaeger:local", "validate", "--config=/cfg/config.yaml"],
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_tempo_config_shape() -> None:
    config = load_yaml("tempo/tempo.yaml")
    assert config["server"]["http_listen_port"] == 3200
    assert config["storage"]["trace"]["backend"] == "local"
    assert config["storage"]["trace"]["local"]["path"].startswith("/var/tempo")
    remote = config["metrics_generator"]["storage"]["remote_write"][0]
    assert remote["url"] == "http://prometheus:9090/api/v1/write"
    assert remote["send_exemplars"] is True
    processors = config["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert set(processors) == {"service-graphs", "span-metrics"}
    assert config["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"


def test_loki_config_shape() -> None:
    config = load_yaml("loki/loki.yaml")
    schema = config["schema_config"]["configs"][-1]
    assert (schema["store"], schema["schema"]) == ("tsdb", "v13")
    limits = config["limits_config"]
    assert limits["allow_structured_metadata"] is True
    kept = {a for rule in limits["otlp_config"]["log_attributes"] if rule["action"] == "structured_metadata"
            for a in rule["attributes"]}  # fmt: skip
    assert {"trace_id", "span_id"} <= kept
    assert config["server"]["http_listen_port"] == 3100
    assert config["common"]["path_prefix"] == "/loki"


# Loki 3.7 pkg/loghttp/push/otlp_config.go: GlobalOTLPConfig.RegisterFlags (the defaults) and
# ApplyGlobalOTLPConfig + actionForAttribute (defaults first unless ignore_defaults, first match wins,
# unmatched -> structured metadata).
LOKI_DEFAULT_INDEX_LABELS = [
    "service.name", "service.namespace", "service.instance.id", "deployment.environment",
    "deployment.environment.name", "cloud.region", "cloud.availability_zone", "k8s.cluster.name",
    "k8s.namespace.name", "k8s.pod.name", "k8s.container.name", "container.name", "k8s.replicaset.name",
    "k8s.deployment.name", "k8s.statefulset.name", "k8s.daemonset.name", "k8s.cronjob.name", "k8s.job.name",
]  # fmt: skip


def loki_resource_action(config: dict[str, Any], attribute: str) -> str:
    resource = config["limits_config"].get("otlp_config", {}).get("resource_attributes", {})
    rules = list(resource.get("attributes_config", []))
    if not resource.get("ignore_defaults"):
        rules.insert(0, {"action": "index_label", "attributes": LOKI_DEFAULT_INDEX_LABELS})
    for rule in rules:
        if attribute in rule.get("attributes", []) or (
            "regex" in rule and re.fullmatch(rule["regex"], attribute)
        ):
            return rule.get("action", "structured_metadata")
    return "structured_metadata"


def test_loki_stream_labels_are_stable() -> None:
    """service.instance.id (the collector's container hostname when the app sets none) must not be a
    stream label: each new collector container would start new streams (issue 16)."""
    config = load_yaml("loki/loki.yaml")
    # every resource attribute the collector and the app's SDK send (stack/collector/config.base.yaml)
    sent = ["service.name", "service.version", "service.instance.id", "deployment.environment",
            "deployment.environment.name", "telemetry.sdk.name", "telemetry.sdk.language",
            "telemetry.sdk.version"]  # fmt: skip
    index = {a.replace(".", "_") for a in sent if loki_resource_action(config, a) == "index_label"}
    assert index == {"service_name", "deployment_environment", "deployment_environment_name"}
    assert loki_resource_action(config, "service.instance.id") == "structured_metadata"
    # what Loki does without the lab's otlp_config
    assert loki_resource_action({"limits_config": {}}, "service.instance.id") == "index_label"


@pytest.mark.docker
@pytest.mark.parametrize(
    ("service", "args"),
    [
        # Tempo registers -config.verify as a value flag on its command line: a bare -config.verify
        # exits 2 with "flag needs an argument" (checked with Tempo 2.10.8 built from source).
        ("tempo", ["-config.file=/cfg/tempo.yaml", "-config.verify=true"]),
        ("loki", ["-config.file=/cfg/loki.yaml", "-verify-config"]),
    ],
)
def test_grafana_stack_config_verify(service: str, args: list[str]) -> None:
    """Tempo and Loki check their own config, when their (registry-only) image is present locally."""
    env = compose_env(GF_SECURITY_ADMIN_PASSWORD=TEST_GRAFANA_PASSWORD)
    image = compose_config(compose_files("tempo-loki", False), env)["services"][service]["image"]
    require_image(image, hint="registry-only image: pull it where a registry is reachable")
    proc = run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{STACK / service}:/cfg:ro", image, *args]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# == Grafana provisioning =========================================================================
def test_grafana_datasources_and_correlations() -> None:
    sources = {
        d["uid"]: d for d in load_yaml("grafana/provisioning/datasources/datasources.yaml")["datasources"]
    }
    assert set(sources) == {"prometheus", "tempo", "loki"}
    prom, tempo, loki = sources["prometheus"], sources["tempo"], sources["loki"]
    assert prom["type"] == "prometheus" and prom["url"] == "http://prometheus:9090"
    assert {d["datasourceUid"] for d in prom["jsonData"]["exemplarTraceIdDestinations"]} == {"tempo"}
    assert "trace_id" in {d["name"] for d in prom["jsonData"]["exemplarTraceIdDestinations"]}
    t = tempo["jsonData"]
    assert t["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert "__trace.traceId" in t["tracesToLogsV2"]["query"]
    assert t["tracesToMetrics"]["datasourceUid"] == "prometheus"
    assert t["serviceMap"]["datasourceUid"] == "prometheus"
    field = loki["jsonData"]["derivedFields"][0]
    assert (field["datasourceUid"], field["matcherType"], field["matcherRegex"]) == (
        "tempo",
        "label",
        "trace_id",
    )
    # Literal `$` must be escaped as `$$` in provisioning files (Grafana expands env variables).
    raw = (STACK / "grafana/provisioning/datasources/datasources.yaml").read_text(encoding="utf-8")
    assert not re.search(r"(?<!\$)\$\{__", raw), "unescaped ${__...} would be expanded as an env variable"


def test_grafana_dashboards_have_fixed_uids_and_panels(dashboards: list[dict[str, Any]]) -> None:
    by_uid = {d["uid"]: d for d in dashboards}
    assert set(by_uid) == {"task-manager-sli-slo", "end-to-end-tracing"}
    assert by_uid["task-manager-sli-slo"]["title"] == "SLI/SLO — Task Manager"
    assert by_uid["end-to-end-tracing"]["title"] == "End-to-end tracing"
    titles = " | ".join(p.get("title", "") for p in by_uid["task-manager-sli-slo"]["panels"]).lower()
    for wanted in ("availability", "p95", "request rate by endpoint", "error rate by endpoint",
                   "percentiles", "database query p95 by operation", "requests by status"):  # fmt: skip
        assert wanted in titles, wanted
    e2e_types = {p["type"] for p in by_uid["end-to-end-tracing"]["panels"]}
    assert {"nodeGraph", "traces", "logs"} <= e2e_types
    provider = load_yaml("grafana/provisioning/dashboards/dashboards.yaml")["providers"][0]
    assert provider["options"]["path"] == "/etc/lab/grafana/dashboards"


# == Compose ======================================================================================
COMBINATIONS = [(s, local) for s in (None, *STORE_SETS) for local in (False, True)]
# The expectations come from the one catalogue of services (harness/base/services.py).
HOST_PORTS = services.documented_ports()
# What stack/images/build.sh can build here; Tempo, Loki and Grafana always come from a registry.
LOCAL_BUILDABLE = {s.name for s in services.SERVICES.values() if s.local_image}
SERVICES = {
    None: {s.name for s in services.SERVICES.values()
           if s.store_sets == services.STORE_SETS and "single" in s.topologies},
    **{stores: {s.name for s in services.services_of(stores)} for stores in services.STORE_SETS},
}


def _env_for(store_set: str | None, **extra: str) -> dict[str, str]:
    if store_set == "tempo-loki":
        extra.setdefault("GF_SECURITY_ADMIN_PASSWORD", TEST_GRAFANA_PASSWORD)
    return compose_env(**extra)


def _id(combo: tuple[str | None, bool]) -> str:
    return f"{combo[0] or 'base'}{'+local' if combo[1] else ''}"


@pytest.mark.parametrize("combo", COMBINATIONS, ids=_id)
def test_compose_config_quiet(combo: tuple[str | None, bool]) -> None:
    """`docker-compose config -q` (Debian's 1.29) accepts every combination of files."""
    store_set, local = combo
    proc = run_compose(["config", "-q"], compose_files(store_set, local), _env_for(store_set))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("combo", COMBINATIONS, ids=_id)
def test_compose_config_quiet_v2(combo: tuple[str | None, bool]) -> None:
    if not compose_v2_available():
        pytest.skip("compose v2 is not installed here (no `docker compose` plugin, LAB_COMPOSE_V2 unset)")
    store_set, local = combo
    proc = run_compose(["config", "-q"], compose_files(store_set, local), _env_for(store_set), v2=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("combo", COMBINATIONS, ids=_id)
def test_compose_services_ports_health_and_volumes(combo: tuple[str | None, bool]) -> None:
    store_set, local = combo
    config = compose_config(compose_files(store_set, local), _env_for(store_set))
    services = config["services"]
    expected = set(SERVICES[store_set])
    if local and store_set is None:
        expected |= {"jaeger", "victorialogs"}  # compose.local-images.yaml names their images too
    if local and store_set == "tempo-loki":
        expected |= {"jaeger", "victorialogs"}
    assert set(services) == expected
    for name, svc in services.items():
        if name not in SERVICES[store_set]:
            continue
        assert "container_name" not in svc, name
        test = svc["healthcheck"]["test"]
        assert test[:2] == ["CMD", "/lab-healthcheck"] and test[2].startswith("http://127.0.0.1:"), (
            name,
            test,
        )
        mounts = [v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}" for v in svc["volumes"]]
        assert any(m.endswith("healthcheck/bin/lab-healthcheck:/lab-healthcheck:ro") or
                   "/lab-healthcheck" in m for m in mounts), (name, mounts)  # fmt: skip
        published = set()
        for port in svc.get("ports", []):
            text = (
                port
                if isinstance(port, str)
                else f"{port.get('host_ip')}:{port.get('published')}:{port['target']}"
            )
            host_ip, host_port = text.split(":")[0], int(text.split(":")[1])
            assert host_ip == "127.0.0.1", (name, text)
            published.add(host_port)
        assert published == HOST_PORTS[name], (name, published)
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert cond["condition"] == "service_healthy", (name, dep)
        if local and name in LOCAL_BUILDABLE:
            assert svc["image"].startswith("lab/") and svc["image"].endswith(":local"), (name, svc["image"])
        else:
            assert svc["image"].startswith(("docker.io/", "obslab/")), (name, svc["image"])
    assert services["backend"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert services["backend"]["environment"]["DATABASE_URL"] == "sqlite:////app/data/tasks.db"
    assert services["frontend"]["depends_on"]["backend"]["condition"] == "service_healthy"
    assert services["backend"]["depends_on"]["otel-collector"]["condition"] == "service_healthy"

    state = {
        "backend": "/app/data",
        "prometheus": "/prometheus",
        "otel-collector": "/var/lib/otelcol/file_storage",
        "jaeger": "/tmp",
        "victorialogs": "/victoria-logs-data",
        "tempo": "/var/tempo",
        "loki": "/loki",
        "grafana": "/var/lib/grafana",
    }
    for name, target in state.items():
        if name in SERVICES[store_set]:
            named = [
                v for v in services[name]["volumes"] if isinstance(v, str) and v.endswith(f":{target}:rw")
            ]
            assert named and not named[0].startswith("/"), (name, services[name]["volumes"])
            assert named[0].split(":")[0] in config["volumes"], name


@pytest.mark.parametrize("store_set", STORE_SETS)
def test_compose_store_set_points_collector_and_prometheus_at_its_files(store_set: str) -> None:
    services = compose_config(compose_files(store_set, False), _env_for(store_set))["services"]
    assert services["otel-collector"]["command"] == [f"--config=/etc/lab/collector/{name}"
                                                     for name in collector_files(store_set)]
    prom_cmd = services["prometheus"]["command"]
    assert f"--config.file=/etc/lab/prometheus/prometheus.{store_set}.yml" in prom_cmd
    base_cmd = compose_config(compose_files(None, False), _env_for(None))["services"]["prometheus"]["command"]
    # Same flags as the base file except the config file.
    assert [a for a in prom_cmd if not a.startswith("--config.file")] == [
        a for a in base_cmd if not a.startswith("--config.file")
    ]
    for flag in ("--enable-feature=exemplar-storage", "--web.enable-remote-write-receiver"):
        assert flag in prom_cmd
    assert set(services["otel-collector"]["depends_on"]) == (
        {"jaeger", "victorialogs"} if store_set == "jaeger-victorialogs" else {"tempo", "loki"}
    )


def test_prometheus_flags_accepted_by_the_lab_prometheus() -> None:
    """The compose flags parse on the lab's Prometheus (the binary of lab/prometheus:local, the
    release of the registry pin)."""
    prometheus = require_prometheus_tool("prometheus")
    flags = compose_config(compose_files(None, False), _env_for(None))["services"]["prometheus"]["command"]
    proc = run([prometheus, *[f for f in flags if not f.startswith("--config.file")], "--help"])
    # --help exits 0 only when every other flag parsed.
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_compose_grafana_password_has_no_default() -> None:
    proc = run_compose(["config", "-q"], compose_files("tempo-loki", False), compose_env())
    assert proc.returncode != 0
    assert "GF_SECURITY_ADMIN_PASSWORD" in proc.stderr
    text = (STACK / "compose.tempo-loki.yaml").read_text(encoding="utf-8")
    assert re.search(r"GF_SECURITY_ADMIN_PASSWORD:\s*\$\{GF_SECURITY_ADMIN_PASSWORD:\?", text)
    env = compose_config(compose_files("tempo-loki", False), _env_for("tempo-loki"))["services"]["grafana"][
        "environment"
    ]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == TEST_GRAFANA_PASSWORD
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


TEMPO_LOKI_PINS = {"tempo": ("grafana/tempo", "2.10.8", "confirmed"),
                   "loki": ("grafana/loki", "3.7.8", "not confirmed"),
                   "grafana": ("grafana/grafana", "13.2.3", "not confirmed")}


def test_tempo_loki_image_pins_and_how_each_was_checked() -> None:
    """The pins of issue 16 stay, and the compose file says for each how it was checked."""
    services = compose_config(compose_files("tempo-loki", False), _env_for("tempo-loki"))["services"]
    text = (STACK / "compose.tempo-loki.yaml").read_text(encoding="utf-8")
    for service, (image, tag, verdict) in TEMPO_LOKI_PINS.items():
        assert services[service]["image"] == f"docker.io/{image}:{tag}"
        pattern = rf"^#   {re.escape(image)} {re.escape(tag)} — (.+?)(?=^#   \S|^#\s*$)"
        note = re.search(pattern, text, re.M | re.S)
        assert note, f"compose.tempo-loki.yaml does not say how {image}:{tag} was checked"
        assert note.group(1).startswith(verdict + ":"), note.group(1)
        assert re.search(r"\b[0-9a-f]{8}\b", note.group(1)), f"{image}: name the commit that was read"


def test_compose_files_have_no_version_name_or_container_name() -> None:
    for path in sorted(STACK.glob("compose*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert "version" not in data and "name" not in data, path.name
        for name, svc in (data.get("services") or {}).items():
            assert "container_name" not in svc, (path.name, name)


def test_compose_bind_address_and_mirror_are_overridable() -> None:
    env = _env_for(
        "jaeger-victorialogs", LAB_BIND_ADDRESS="0.0.0.0", LAB_REGISTRY_MIRROR="mirror.example:5000"
    )
    services = compose_config(compose_files("jaeger-victorialogs", False), env)["services"]
    assert services["jaeger"]["image"].startswith("mirror.example:5000/jaegertracing/jaeger:")
    assert services["prometheus"]["image"].startswith("mirror.example:5000/prom/prometheus:")
    ports = services["frontend"]["ports"][0]
    text = ports if isinstance(ports, str) else f"{ports.get('host_ip')}:{ports.get('published')}"
    assert text.startswith("0.0.0.0:8080")


def test_local_images_never_pull() -> None:
    data = yaml.safe_load((STACK / "compose.local-images.yaml").read_text(encoding="utf-8"))
    for name, svc in data["services"].items():
        assert svc["image"] == f"lab/{name}:local"
        assert svc["pull_policy"] == "never", name
