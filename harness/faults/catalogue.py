"""The fault catalogue: realistic mistakes, one per hop and per kind of thing a person changes.

Each fault is one change a person makes by mistake (or one thing that happens to a running lab),
with the scenario(s) that must go red. Edits address today's files by key path and expected value
(see :mod:`harness.faults.edits`): when a file changes under a fault, the catalogue's unit test
says which fault went stale. Files under the docker target's store set jaeger-victorialogs.

Baked-in files (the front's nginx config is copied into the frontend image, the app's modules into
the backend image) are delivered by bind-mounting the edited copy over the image's file: the same
bytes nginx or Python would read from an image rebuilt with the edit (the Dockerfiles only COPY
them; the image's compiled bytecode no longer matches the mounted source, so Python compiles the
source), without a build and without any other difference from the image that runs.
"""

from __future__ import annotations

from typing import Any

from harness.base.errors import LabError
from harness.faults.edits import (
    MISSING,
    StaleEdit,
    TextReplace,
    YamlDelete,
    YamlListItem,
    YamlMutate,
    YamlSet,
)
from harness.faults.model import Fault
from harness.faults.runtime import FillDisk, Partition, Repeated, Restart, Stop

COMPOSE = "stack/compose.yaml"
COMPOSE_SET = "stack/compose.jaeger-victorialogs.yaml"
COLLECTOR = "stack/collector/config.jaeger-victorialogs.yaml"  # the set's fragment: its exporters
COLLECTOR_BASE = "stack/collector/config.base.yaml"  # receivers, processors, pipelines: every set's
JAEGER = "stack/jaeger/config.yaml"
PROMETHEUS = "stack/prometheus/prometheus.jaeger-victorialogs.yml"
PROMETHEUS_JOBS = "stack/prometheus/scrape/common.yml"  # the jobs every set scrapes (scrape_config_files)
SLI_RULES = "stack/prometheus/rules/sli.rules.yml"
NGINX_SERVER = "app/frontend/nginx/default.conf.template"
APP_ERRORS = "app/backend/taskapp/errors.py"
APP_METRICS = "app/backend/taskapp/metrics.py"
# The split topology's files (ADR 0018)
SPLIT_COMPOSE = "stack/compose.split.yaml"
AGENT = "stack/collector/config.agent.yaml"
LINK = "stack/split/link.sh"

# The scenarios faults name (Gherkin titles; a unit test checks each exists in features/).
TRACE = "A request with a chosen trace id produces a complete trace"
LOGS = "A request's log records carry its trace id and the service name"
CORRELATION = "The trace, its logs and an exemplar share one trace id"
HEALTHY = "Every service of the store set reports healthy"
API = "The task API answers through nginx"
SCRAPE = "Prometheus scrapes every target successfully"
COUNTER = "Creating tasks moves the request counter by exactly the number of requests"
SLOW = "A slow request shows in the latency histogram"
RULES = "The SLI recording rules produce values"
NOT_ROOT = "The backend container does not run as root"  # a row of an outline
PORTS = "Only the documented ports listen on the host"
BUDGET = "A request's trace and log records arrive within the lab's delivery budget"
UNTRACED = "Requests that bring no trace context are traced too"
REPLACED = "The front follows the backend to a new container at a new address"
RECREATED = "Tasks survive the backend being recreated, as an upgrade does"
LOGS_RECREATED = "Log records survive the log store being recreated"
METRICS_RECREATED = "Prometheus keeps its samples when it is recreated"
CRASH = "The backend comes back by itself when its process ends"
SLIS = "Errors and slow requests move the SLIs"
FRESH = "Prometheus holds the app's metrics no older than the lab's scrape budget"
ERROR_RECORD = "A server error leaves its own ERROR record, with the error's type and exception"
SLO_BUCKETS = "The latency histogram can judge every latency SLO"
# features/topology.feature (the split topology)
CROSSES = "Steady traffic crosses the link whole: every trace, every log record, every request counted"
AGENT_RESTARTED = "The agent restarted while the link is cut loses nothing it had queued"


def backend_env(key: str, value: str, expect: Any = MISSING) -> YamlSet:
    """The backend's environment in compose.yaml (``expect`` MISSING: a key that is not set today)."""
    return YamlSet(COMPOSE, ("services", "backend", "environment", key), value,
                   expect=expect, new_key=expect is MISSING)


def mount_nginx_server_config() -> YamlListItem:
    """The frontend serves the copy's (edited) server template instead of the image's."""
    return YamlListItem(COMPOSE, ("services", "frontend", "volumes"),
                        append=f"../{NGINX_SERVER}:/etc/nginx/templates/default.conf.template:ro")


def mount_backend_module(file: str) -> YamlListItem:
    """The backend runs the copy's (edited) module ``file`` (under app/backend/) instead of the image's."""
    inside = "/app/" + file.removeprefix("app/backend/")
    return YamlListItem(COMPOSE, ("services", "backend", "volumes"), append=f"../{file}:{inside}:ro")


def command_flag(file: str, service: str, flag: str, replace: str | None) -> YamlListItem:
    """One flag of a service's command list (``flag`` is the text it starts with)."""
    return YamlListItem(file, ("services", service, "command"), match=flag, replace=replace)


def _scrape_job(doc: dict[str, Any], job: str) -> dict[str, Any]:
    jobs = [j for j in doc.get("scrape_configs") or [] if j.get("job_name") == job]
    if len(jobs) != 1:
        names = [j.get("job_name") for j in doc.get("scrape_configs") or []]
        raise StaleEdit(f"{PROMETHEUS_JOBS}: {len(jobs)} scrape jobs named {job!r} (jobs: {names})")
    return jobs[0]


def _backend_target_port(doc: dict[str, Any]) -> None:
    configs = _scrape_job(doc, "flask-backend").get("static_configs") or []
    if not configs or configs[0].get("targets") != ["backend:5000"]:
        raise StaleEdit(f"{PROMETHEUS_JOBS}: job flask-backend does not scrape ['backend:5000'] "
                        f"({configs!r})")
    configs[0]["targets"] = ["backend:8000"]


def _tmpfs_instead_of_volume(file: str, service: str, volume: str, size: str,
                             owner: int = 10001) -> tuple[YamlListItem, YamlSet]:
    """The service's named volume replaced by a small tmpfs at the same place, owned by the image's
    user (10001 in the lab's images): a disk that can be filled without touching the host's."""
    path = volume.partition(":")[2]
    return (
        YamlListItem(file, ("services", service, "volumes"), match=volume, replace=None),
        YamlSet(file, ("services", service, "tmpfs"), [f"{path}:size={size},uid={owner},gid={owner}"],
                new_key=True),
    )


FAULTS: tuple[Fault, ...] = (
    # ------------------------------------------------------------------ the app's OTel settings
    Fault("app-sampler-always-off", "app", "traces",
          "OTEL_TRACES_SAMPLER=always_off on the backend",
          "Left from a load test that wanted no tracing cost: every span is dropped in the SDK.",
          (TRACE,), edits=(backend_env("OTEL_TRACES_SAMPLER", "always_off"),)),
    Fault("app-sampler-ratio-10-percent", "app", "traces",
          "OTEL_TRACES_SAMPLER=parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG=0.1",
          "A production sampling rate copied into the lab: requests that arrive with a sampled "
          "traceparent are still traced, so a suite that always sends one never notices that nine "
          "in ten of the users' requests are not.",
          (UNTRACED,), edits=(backend_env("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                              backend_env("OTEL_TRACES_SAMPLER_ARG", "0.1"))),
    Fault("app-propagators-baggage-only", "app", "traces",
          "OTEL_PROPAGATORS=baggage (tracecontext forgotten)",
          "Someone adds baggage and replaces the list instead of extending it: the caller's W3C "
          "traceparent is ignored and every request starts a trace of its own.",
          (TRACE,), edits=(backend_env("OTEL_PROPAGATORS", "baggage"),)),
    Fault("app-service-name-typo", "app", "logs",
          "OTEL_SERVICE_NAME=flask_backend (underscore)",
          "A typo in the service name: the telemetry arrives, under a name no dashboard or query uses.",
          (LOGS,), edits=(backend_env("OTEL_SERVICE_NAME", "flask_backend", expect="flask-backend"),)),
    Fault("app-otlp-grpc-port", "app", "traces",
          "OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4317 (the gRPC port, with the HTTP exporter)",
          "The classic port mix-up: the app's OTLP/HTTP exporter posts to the collector's gRPC port.",
          (TRACE,), edits=(backend_env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4317",
                                       expect="http://otel-collector:4318"),)),
    Fault("app-logs-endpoint-without-path", "app", "logs",
          "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=http://otel-collector:4318 (no /v1/logs)",
          "A signal-specific endpoint is used as given (unlike OTEL_EXPORTER_OTLP_ENDPOINT): log "
          "records are posted to / and refused; traces still flow, so only the logs go missing.",
          (LOGS,), edits=(backend_env("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://otel-collector:4318"),)),
    Fault("app-span-export-every-60s", "app", "traces",
          "OTEL_BSP_SCHEDULE_DELAY=60000 (instead of 500)",
          "Fewer, bigger exports to save CPU: spans now wait up to a minute in the app; everything "
          "arrives, late — only a check of the delivery budget sees it.",
          (BUDGET,), edits=(backend_env("OTEL_BSP_SCHEDULE_DELAY", "60000", expect="500"),)),
    Fault("app-flask-excludes-api", "app", "traces",
          "OTEL_PYTHON_FLASK_EXCLUDED_URLS=health,ready,metrics,api",
          "An attempt to exclude a health URL that matches too much: the list holds regular "
          "expressions searched in the URL, and 'api' matches every API request.",
          (TRACE,), edits=(backend_env("OTEL_PYTHON_FLASK_EXCLUDED_URLS", "health,ready,metrics,api",
                                       expect="health,ready,metrics"),)),
    Fault("app-error-record-warn", "app", "logs",
          "the simulated error's own log record written at WARN (taskapp/errors.py: level 30, not 40)",
          "A handled error judged 'expected' and logged a level down: the error's record is at WARN while "
          "the request's 'Request completed' record of the 500 stays at ERROR, so a search or an alert on "
          "ERROR records with error.type misses every server error — and 'an ERROR record of the trace' "
          "stayed green.",
          (ERROR_RECORD,), edits=(TextReplace(APP_ERRORS, 'logger, 40, "Simulated error"',
                                              'logger, 30, "Simulated error"'),
                                  mount_backend_module(APP_ERRORS))),
    Fault("app-log-attribute-limit", "app", "logs",
          "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT=6 on the backend",
          "A cap on attributes per log record to keep the log store small: the SDK keeps the newest six "
          "and quietly drops the oldest — on the error's record that is error.type, the attribute an "
          "error search filters on; the record, its severity and its exception still arrive.",
          (ERROR_RECORD,), edits=(backend_env("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "6"),)),
    Fault("app-endpoint-label-dropped", "app", "metrics",
          "the endpoint label dropped from the HTTP request counter and histogram (taskapp/metrics.py)",
          "Labels cut to lower the series count: the request counter and the latency histogram keep "
          "method and status code, so every total still moves while no endpoint's rate, latency or "
          "exemplar can be read.",
          (COUNTER,), edits=(
              TextReplace(APP_METRICS, 'labels = ("method", "endpoint", "status_code")',
                          'labels = ("method", "status_code")'),
              TextReplace(APP_METRICS, "labels = (method, endpoint, str(status))",
                          "labels = (method, str(status))"),
              TextReplace(APP_METRICS, "self.duration.labels(method, endpoint, str(success))",
                          "self.duration.labels(method, str(success))"),
              TextReplace(APP_METRICS, "            endpoint or UNKNOWN_ENDPOINT,\n", ""),
              mount_backend_module(APP_METRICS))),
    Fault("app-latency-buckets-coarse", "app", "metrics",
          "the HTTP latency histogram's buckets cut to (1.0, 15.0) (taskapp/metrics.py)",
          "Fewer buckets to save series: a 1.2 s request still counts above 1 s, but with no bound at "
          "0.5 s the p95 of the 500 ms SLO is interpolated across 0-1 s, so the latency alert fires or "
          "stays quiet by arithmetic, not by latency.",
          (SLO_BUCKETS, SLOW), edits=(
              TextReplace(APP_METRICS, "HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, "
                                       "0.5, 1.0, 2.5, 5.0, 10.0, 15.0)", "HTTP_BUCKETS = (1.0, 15.0)"),
              mount_backend_module(APP_METRICS))),
    Fault("app-log-level-warning", "app", "logs",
          "LOG_LEVEL=WARNING on the backend",
          "Quieter logs for a demo: the INFO request records ('Incoming request', 'Request "
          "completed') are never written, so logs cannot be found from a trace.",
          (LOGS,), edits=(backend_env("LOG_LEVEL", "WARNING", expect="${LAB_LOG_LEVEL:-INFO}"),)),
    # ----------------------------------------------------------------------------- the collector
    Fault("collector-traces-to-debug", "collector", "traces",
          "the traces pipeline exports to the debug exporter only",
          "Left from a debugging session: spans are printed in the collector's log and go nowhere.",
          (TRACE,), ci=True,
          edits=(YamlSet(COLLECTOR, ("exporters", "debug"), {"verbosity": "basic"}, new_key=True),
                 YamlSet(COLLECTOR, ("service", "pipelines", "traces", "exporters"), ["debug"],
                         expect=["otlp_grpc/jaeger"]))),
    Fault("collector-no-logs-pipeline", "collector", "logs",
          "the logs pipeline removed from service.pipelines",
          "A pipeline deleted while tidying the config: the OTLP receiver then has no logs consumer "
          "and the app's log exports are refused.",
          (LOGS,), edits=(YamlDelete(COLLECTOR_BASE, ("service", "pipelines", "logs")),
                          YamlDelete(COLLECTOR, ("service", "pipelines", "logs")))),
    Fault("collector-jaeger-v1-port", "collector", "traces",
          "the Jaeger exporter's endpoint is jaeger:14250 (Jaeger v1's gRPC port)",
          "A port from an old Jaeger guide: the exporter cannot connect, retries, and drops.",
          (TRACE,), edits=(YamlSet(COLLECTOR, ("exporters", "otlp_grpc/jaeger", "endpoint"), "jaeger:14250",
                                   expect="jaeger:4317"),)),
    Fault("collector-victorialogs-wrong-path", "collector", "logs",
          "the VictoriaLogs exporter posts to /insert/jsonline",
          "The wrong ingestion API of VictoriaLogs: OTLP protobuf is refused there.",
          (LOGS,), edits=(YamlSet(COLLECTOR, ("exporters", "otlp_http/victorialogs", "logs_endpoint"),
                                  "http://victorialogs:9428/insert/jsonline",
                                  expect="http://victorialogs:9428/insert/opentelemetry/v1/logs"),)),
    Fault("collector-batch-60s", "collector", "traces",
          "processors.batch.timeout: 60s (instead of 500ms)",
          "A production batching setting: a quiet lab's spans and logs wait a minute in the "
          "collector. Nothing is lost; everything is late.",
          (BUDGET,), ci=True,
          edits=(YamlSet(COLLECTOR_BASE, ("processors", "batch", "timeout"), "60s", expect="500ms"),)),
    Fault("collector-resource-overwrites-service-name", "collector", "logs",
          "the resource processor upserts service.name=otel-collector",
          "'insert' and 'upsert' confused while adding an attribute: every span and log record "
          "now claims to come from the collector.",
          (LOGS,), edits=(YamlListItem(COLLECTOR_BASE, ("processors", "resource", "attributes"),
                                       append={"key": "service.name", "value": "otel-collector",
                                               "action": "upsert"}),)),
    Fault("collector-otlp-http-on-localhost", "collector", "traces",
          "the OTLP/HTTP receiver listens on localhost:4318",
          "The collector's own default since v0.104: reachable only from inside its container, so "
          "the app's exports are refused while the collector looks healthy.",
          (TRACE,), edits=(YamlSet(COLLECTOR_BASE, ("receivers", "otlp", "protocols", "http", "endpoint"),
                                   "localhost:4318", expect="0.0.0.0:4318"),)),
    # ---------------------------------------------------------------------------- the trace store
    Fault("jaeger-otlp-on-localhost", "trace store", "traces",
          "Jaeger's OTLP gRPC receiver listens on localhost:4317",
          "The same default trap in Jaeger v2 (a collector build): the collector cannot deliver.",
          (TRACE,), edits=(YamlSet(JAEGER, ("receivers", "otlp", "protocols", "grpc", "endpoint"),
                                   "localhost:4317", expect="0.0.0.0:4317"),)),
    Fault("jaeger-batch-60s", "trace store", "traces",
          "Jaeger's own batch processor waits 60s (instead of 200ms)",
          "The collector's batching advice applied to the store as well: traces become searchable a "
          "minute late, though nothing is lost.",
          (BUDGET,), edits=(YamlSet(JAEGER, ("processors", "batch", "timeout"), "60s", expect="200ms"),)),
    # ------------------------------------------------------------------------------ the log store
    Fault("victorialogs-listens-on-loopback", "log store", "logs",
          "VictoriaLogs started with -httpListenAddr=127.0.0.1:9428",
          "Bound to loopback 'for safety': its own healthcheck passes, nobody else can reach it.",
          (LOGS,), edits=(command_flag(COMPOSE_SET, "victorialogs", "-httpListenAddr=",
                                       "-httpListenAddr=127.0.0.1:9428"),)),
    Fault("victorialogs-data-off-volume", "log store", "logs",
          "VictoriaLogs' -storageDataPath=/tmp/victoria-logs-data (not the volume)",
          "The data path changed without moving the volume: logs live in the container and are "
          "gone when it is recreated (an upgrade); a restart keeps them.",
          (LOGS_RECREATED,), edits=(command_flag(COMPOSE_SET, "victorialogs", "-storageDataPath=",
                                                 "-storageDataPath=/tmp/victoria-logs-data"),)),
    Fault("victorialogs-disk-full", "log store", "logs",
          "the log store's disk is full (its data on a 48 MiB tmpfs, filled)",
          "A full disk under the log store: it stops taking log records, the app keeps serving. "
          "VictoriaLogs may exit on the full disk; a tmpfs is empty again when the container "
          "restarts, which a real full disk is not, so the store is not restarted for this fault "
          "(without that it came back on an empty disk and the fault escaped).",
          (LOGS,), edits=(*_tmpfs_instead_of_volume(COMPOSE_SET, "victorialogs",
                                                    "victorialogs-data:/victoria-logs-data", "48m"),
                          YamlSet(COMPOSE_SET, ("services", "victorialogs", "restart"), "no",
                                  expect="unless-stopped")),
          actions=(FillDisk("victorialogs", "/victoria-logs-data", settle_s=5.0),)),
    # ---------------------------------------------------------------------------------- Prometheus
    Fault("prometheus-backend-target-port", "prometheus", "metrics",
          "the flask-backend scrape target is backend:8000",
          "A port from another app's config: the target is down and the app's metrics stop.",
          (SCRAPE,), edits=(YamlMutate(PROMETHEUS_JOBS, (), mutate_fn=_backend_target_port,
                                       text="job flask-backend scrapes backend:8000"),)),
    Fault("prometheus-scrape-every-2m", "prometheus", "metrics",
          "global scrape_interval: 2m (instead of 2s)",
          "A production interval copied into the lab: the app's counters reach Prometheus minutes "
          "late and the 1-minute SLIs have at most one sample. A counter check may still pass (a "
          "scrape can land inside its 30 s wait); the age of the newest sample cannot.",
          (FRESH,), edits=(YamlSet(PROMETHEUS, ("global", "scrape_interval"), "2m", expect="2s"),)),
    Fault("prometheus-rule-files-wrong-extension", "prometheus", "metrics",
          "rule_files: rules/*.yaml (the files are *.yml)",
          "The glob matches nothing, which Prometheus accepts silently: no SLI rules, no alerts.",
          (RULES,), edits=(YamlSet(PROMETHEUS, ("rule_files",), ["rules/*.yaml"], expect=["rules/*.yml"]),)),
    Fault("prometheus-rule-metric-typo", "prometheus", "metrics",
          "the 1-minute p95 latency rule reads http_request_duration_bucket (a metric that does not exist)",
          "A typo in a rule expression is valid PromQL: the rule loads and records nothing.",
          (RULES,), edits=(TextReplace(
              SLI_RULES,
              'rate(http_request_duration_seconds_bucket{job="flask-backend", '
              'endpoint!~"metrics|health|ready"}[1m])',
              'rate(http_request_duration_bucket{job="flask-backend", endpoint!~"metrics|health|ready"}[1m])',
          ),)),
    Fault("prometheus-error-rate-rule-literal", "prometheus", "metrics",
          'the 1-minute error-rate rule selects status_code="5.." (= instead of =~)',
          "A regular expression written with '=': the rule matches no status code, the 'or ... * 0' "
          "keeps it at 0, so it has a value and never moves, whatever fails.",
          (SLIS,), edits=(TextReplace(SLI_RULES, 'status_code=~"5.."}[1m]', 'status_code="5.."}[1m]'),)),
    Fault("prometheus-exemplars-off", "prometheus", "metrics",
          "Prometheus started without --enable-feature=exemplar-storage",
          "A feature flag dropped when the command was rewritten: no exemplars, so no link from a "
          "latency spike to its trace.",
          (CORRELATION,), edits=(command_flag(COMPOSE_SET, "prometheus", "--enable-feature=exemplar-storage",
                                              None),)),
    Fault("prometheus-retention-without-unit", "prometheus", "metrics",
          "--storage.tsdb.retention.time=15 (no unit; LAB_PROMETHEUS_RETENTION=15)",
          "A retention given in days without the 'd': Prometheus refuses the flag and never starts.",
          (HEALTHY,), edits=(command_flag(COMPOSE_SET, "prometheus", "--storage.tsdb.retention.time=",
                                          "--storage.tsdb.retention.time=15"),)),
    Fault("prometheus-tsdb-off-volume", "prometheus", "metrics",
          "--storage.tsdb.path=/tmp/prometheus (not the volume)",
          "The data path moved off the volume: every recreate (an upgrade) starts with no history.",
          (METRICS_RECREATED,), edits=(command_flag(COMPOSE_SET, "prometheus", "--storage.tsdb.path=",
                                                    "--storage.tsdb.path=/tmp/prometheus"),)),
    # ------------------------------------------------------------------------- the front (nginx)
    Fault("front-static-proxy-pass", "front", "requests",
          "proxy_pass http://${BACKEND_UPSTREAM}; (a literal, not the variable)",
          "The usual way to write proxy_pass: nginx resolves the backend's name once, at start, and "
          "keeps its old address when the backend comes back elsewhere.",
          (REPLACED,), ci=True,
          edits=(TextReplace(NGINX_SERVER, "proxy_pass $lab_backend;", "proxy_pass http://${BACKEND_UPSTREAM};"),
                 mount_nginx_server_config())),
    Fault("front-resolver-caches-1h", "front", "requests",
          "resolver ... valid=1h (instead of 10s)",
          "A longer DNS cache 'to spare the resolver': the front keeps the backend's old address for "
          "an hour after the backend moves.",
          (REPLACED,),
          edits=(TextReplace(NGINX_SERVER, "valid=10s", "valid=1h"), mount_nginx_server_config())),
    Fault("front-proxy-pass-trailing-slash", "front", "requests",
          "proxy_pass $lab_backend/; (a trailing slash)",
          "With a variable, a URI part replaces the whole request URI: every API call reaches the "
          "backend as GET /.",
          (API,), edits=(TextReplace(NGINX_SERVER, "proxy_pass $lab_backend;", "proxy_pass $lab_backend/;"),
                         mount_nginx_server_config())),
    Fault("front-read-timeout-1s", "front", "requests",
          "proxy_read_timeout 1s (instead of 15s)",
          "A tight timeout that the slow requests exceed: they end as 504 at the front.",
          (SLOW,), edits=(TextReplace(NGINX_SERVER, "proxy_read_timeout 15s;", "proxy_read_timeout 1s;"),
                          mount_nginx_server_config())),
    Fault("front-drops-trace-context", "front", "traces",
          "NGINX_TRACE_CONTEXT=drop on the frontend",
          "The front's privacy switch turned on: callers' trace ids never reach the backend.",
          (TRACE,), edits=(YamlSet(COMPOSE, ("services", "frontend", "environment", "NGINX_TRACE_CONTEXT"),
                                   "drop", new_key=True),)),
    # ------------------------------------------------------------------------------------ compose
    Fault("compose-database-off-volume", "app", "data",
          "DATABASE_URL=sqlite:////tmp/tasks.db (not on the tasks-data volume)",
          "The database moved out of the volume: tasks survive restarts and vanish at the first "
          "recreate (every upgrade).",
          (RECREATED,), ci=True,
          edits=(backend_env("DATABASE_URL", "sqlite:////tmp/tasks.db",
                             expect="${LAB_DATABASE_URL:-sqlite:////app/data/tasks.db}"),)),
    Fault("compose-backend-port-moved", "deployment", "posture",
          "the backend is published on host port 5001",
          "A port changed to dodge a clash on one machine: the documented port is gone.",
          (PORTS,), edits=(YamlListItem(COMPOSE, ("services", "backend", "ports"),
                                        match="${LAB_BIND_ADDRESS:-127.0.0.1}:5000:5000",
                                        replace="${LAB_BIND_ADDRESS:-127.0.0.1}:5001:5000"),)),
    Fault("compose-backend-restart-no", "app", "requests",
          "restart: \"no\" on the backend",
          "The restart policy dropped while editing the service: a crashed backend stays down.",
          (CRASH,),
          edits=(YamlSet(COMPOSE, ("services", "backend", "restart"), "no", expect="unless-stopped"),)),
    Fault("compose-backend-runs-as-root", "deployment", "posture",
          "user: \"0:0\" on the backend",
          "Root added to get past a permission error on the data volume.",
          (NOT_ROOT,), edits=(YamlSet(COMPOSE, ("services", "backend", "user"), "0:0", new_key=True),)),
    Fault("compose-collector-depends-on-tempo", "deployment", "deploy",
          "the collector depends on tempo (a service of the other store set)",
          "A dependency copied from compose.tempo-loki.yaml: compose refuses the project.",
          (HEALTHY,), edits=(YamlSet(COMPOSE_SET, ("services", "otel-collector", "depends_on", "tempo"),
                                     {"condition": "service_healthy"}, new_key=True),)),
    # ------------------------------------------------------------------------------------ runtime
    Fault("runtime-log-store-stopped", "log store", "logs",
          "the victorialogs container is stopped",
          "Stopped by hand (or killed with no restart): the app and the collector go on, logs stop.",
          (LOGS,), actions=(Stop("victorialogs"),)),
    Fault("runtime-trace-store-stopped", "trace store", "traces",
          "the jaeger container is stopped",
          "The trace store gone: the collector retries, then drops.",
          (TRACE,), actions=(Stop("jaeger"),)),
    Fault("runtime-collector-stopped", "collector", "traces",
          "the otel-collector container is stopped",
          "The collector gone: the app's exports fail (users are spared), no trace, no log.",
          (TRACE,), ci=True, actions=(Stop("otel-collector"),)),
    Fault("runtime-database-disk-full", "app", "data",
          "the backend's data disk is full (the tasks volume replaced by a 4 MiB tmpfs, filled)",
          "A full disk under the database: reads still work, every write fails.",
          (COUNTER,), edits=_tmpfs_instead_of_volume(COMPOSE, "backend", "tasks-data:/app/data", "4m"),
          actions=(FillDisk("backend", "/app/data"),)),
    Fault("runtime-backend-collector-partition", "collector", "traces",
          "the link backend → otel-collector cut for 90 s (every packet dropped)",
          "A firewall rule or network policy that drops the app's traffic to the collector (a port left "
          "out of an allow-list, a network split): users are served, the app's exports time out and are "
          "dropped after its 10 s of retries; nothing reaches the collector, so no trace and no log.",
          (TRACE,), actions=(Partition("backend", "otel-collector", seconds=90),)),
    Fault("runtime-collector-log-store-partition", "log store", "logs",
          "the link otel-collector → victorialogs cut for 90 s (every packet dropped)",
          "The log store out of the collector's reach (a network split, a rule on the store's host): the "
          "collector keeps the log records in its queue and retries, so they arrive once the link is back "
          "— a minute and a half late, after a search for them has come back empty.",
          (LOGS,), actions=(Partition("otel-collector", "victorialogs", seconds=90),)),
    Fault("runtime-collector-restart-loop", "collector", "traces",
          "the otel-collector container restarted again and again for 60 s (a crash loop)",
          "A collector that keeps restarting (killed by a memory limit set below what it uses, a failing "
          "liveness probe): each restart is survived — its queue is on a volume, the app retries for 10 s — "
          "but one after another the app's exports find no receiver, run out of retries and are dropped.",
          (TRACE,), actions=(Repeated(Restart("otel-collector"), every=0.0, seconds=60.0),)),
    # ---- the split topology (features/topology.feature, ADR 0018): LAB_TOPOLOGY=split labs only
    Fault("split-agent-queue-in-memory", "agent", "traces",
          "the agent's sending queue in memory (its file_storage left out of the exporter)",
          "The agent's exporter without `storage:` keeps its queue in memory: a link outage is still "
          "ridden out, but whatever the agent holds when it restarts (an upgrade, an OOM kill) is gone.",
          (AGENT_RESTARTED,), topology="split",
          edits=(YamlDelete(AGENT, ("exporters", "otlp_grpc/gateway", "sending_queue", "storage")),)),
    Fault("split-agent-wrong-gateway", "link", "traces",
          "the agent exports to otel-collector:4317, the gateway's name on the obs host, not reachable "
          "from the app host",
          "An agent config copied from the single host: its exporter names the gateway by the name only "
          "the obs host resolves, so the agent queues and retries and nothing crosses the link.",
          (CROSSES,), topology="split",
          edits=(YamlSet(SPLIT_COMPOSE, ("services", "otel-agent", "environment", "LAB_GATEWAY_ENDPOINT"),
                         "otel-collector:4317", expect="${LAB_GATEWAY_ENDPOINT:-otel-gateway:4317}"),)),
    Fault("split-firewall-blocks-otlp", "link", "traces",
          "the link forwards OTLP/HTTP (4318) but not OTLP/gRPC (4317) to the gateway",
          "A firewall allow-list between the hosts with one OTLP port left out — the one the agent uses: "
          "the agent's exports time out, it queues and retries, nothing arrives.",
          (CROSSES,), topology="split",
          edits=(TextReplace(LINK, "tcp dport { 4317, 4318 } dnat", "tcp dport { 4318 } dnat"),)),
    Fault("split-scrape-of-app-host-blocked", "prometheus", "metrics",
          "the link does not forward Prometheus' scrapes of the backend (5000)",
          "A firewall between the hosts that lets telemetry out of the app host but not the scrape in: "
          "traces and logs arrive, the app's metrics never reach Prometheus.",
          (CROSSES,), topology="split",
          edits=(TextReplace(LINK, '    iifname "$obs_if" tcp dport 5000 dnat to $backend\n', ""),)),
    Fault("split-gateway-on-loopback", "link", "traces",
          "the collectors' OTLP/gRPC receiver listens on 127.0.0.1:4317, not 0.0.0.0",
          "A receiver endpoint copied from a laptop (or the collector's own default, localhost, since "
          "v0.104): on one host the app may still reach it, across the link nothing can.",
          (CROSSES,), topology="split",
          edits=(YamlSet(COLLECTOR_BASE, ("receivers", "otlp", "protocols", "grpc", "endpoint"),
                         "127.0.0.1:4317", expect="0.0.0.0:4317"),)),
    Fault("split-agent-without-memory-limiter", "agent", "traces",
          "the agent's pipelines without the memory_limiter (resource and batch only)",
          "An agent config trimmed down 'because the app host is small': nothing refuses data before "
          "the agent runs out of memory, so a burst or a long outage ends in an OOM kill and a lost queue.",
          (CROSSES,), topology="split",
          edits=tuple(YamlSet(AGENT, ("service", "pipelines", signal, "processors"), ["resource", "batch"],
                              new_key=True) for signal in ("traces", "logs"))),
)

BY_NAME: dict[str, Fault] = {f.name: f for f in FAULTS}
if len(BY_NAME) != len(FAULTS):  # pragma: no cover - a catalogue bug, caught at import
    raise LabError("two faults share a name")
