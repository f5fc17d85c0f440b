"""Which scenarios a configuration can serve, run order, and the destroy policy of a run."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from harness.base.config import LabConfig
from harness.base.errors import LabError
from harness.bdd.scenario import needs, run_order, runtime_skip_reason, static_skip_reason
from harness.checks.frontpage import asset_urls
from harness.checks.grafana_links import frame_rows, trace_to_logs_query
from harness.checks.posture import uid_of_main_process
from harness.drive.traffic import ok
from harness.lab.lifecycle import LabLifecycle, LabStartFailed
from harness.lab.targets.base import OWNS_LAB
from harness.lab.targets.existing import ExistingTarget


def test_grafana_scenarios_are_skipped_without_grafana_with_the_reason() -> None:
    reason = static_skip_reason(LabConfig(stores="jaeger-victorialogs"), {"grafana", "deployment"})
    assert reason and "jaeger-victorialogs" in reason and "tempo-loki" in reason
    assert static_skip_reason(LabConfig(stores="tempo-loki"), {"grafana"}) is None


def test_vm_scenarios_need_the_vagrant_target() -> None:
    reason = static_skip_reason(LabConfig(target="docker"), {"vm"})
    assert reason == ("@vm needs a target that can run the lab in a VM: target docker cannot run the lab "
                      "in a VM (use --target vagrant)")
    assert static_skip_reason(LabConfig(target="vagrant"), {"vm"}) is None
    assert static_skip_reason(LabConfig(target="auto"), {"vm"}) is None  # decided when the run starts


def test_destructive_scenarios_need_service_control() -> None:
    existing = ExistingTarget(LabConfig(target="existing", lab_host="127.0.0.1"))
    reason = runtime_skip_reason(existing.capabilities, existing.name, {"destructive"},
                                 why_not=existing.why_not)
    assert reason and reason.startswith("@destructive needs a target that can restart")
    assert "no LAB_DOCKER_HOST" in reason
    assert runtime_skip_reason(frozenset({"control"}), "docker", {"destructive"}) is None
    assert "target x cannot" in (runtime_skip_reason(frozenset(), "x", {"destructive"}) or "")


def test_a_step_s_needs_are_checked_before_the_scenario_runs() -> None:
    """An existing lab is never deployed by the harness: the scenario that deploys again is skipped
    when the run is collected, saying which step needs what and why the target cannot."""
    config = LabConfig(target="existing", lab_host="127.0.0.1")
    steps = ["the lab is deployed", 'a task titled "survives redeploy" exists', "the lab is deployed again"]
    reason = static_skip_reason(config, {"deployment"}, steps)
    assert reason == ("the step 'the lab is deployed again' needs a target that can deploy the lab itself "
                      "(deploy it again, recreate or replace a service): target existing: the lab already "
                      "runs; the harness does not deploy it (use --target docker or vagrant)")
    assert static_skip_reason(LabConfig(target="docker"), {"deployment"}, steps) is None
    assert static_skip_reason(config, {"deployment"}, steps[:2]) is None
    with_engine = config.with_(docker_host="ssh://deploy@lab")  # control, but not a look inside containers
    assert static_skip_reason(with_engine, {"destructive"}) is None
    inside = static_skip_reason(with_engine, {"security"},
                                ['the main process of the "backend" container runs as a non-root user'])
    assert inside and "this machine's engine" in inside
    assert needs({"network", "destructive"}) == {"control": "@destructive", "host_shell": "@network"}


def test_every_step_need_is_the_sentence_of_a_step_definition() -> None:
    """STEP_NEEDS is keyed by the sentences the steps are registered under: a step renamed without it
    would silently lose its need (and crash on a target that lacks it)."""
    import importlib
    from pathlib import Path

    from harness.bdd.scenario import STEP_NEEDS, step_definitions

    root = Path(__file__).parents[2]
    modules = [importlib.import_module(f"steps.{p.stem}") for p in sorted((root / "steps").glob("*.py"))
               if p.stem != "__init__"]
    patterns = {d.pattern for d in step_definitions(modules, root)}
    assert set(STEP_NEEDS) <= patterns, sorted(set(STEP_NEEDS) - patterns)


def test_destructive_scenarios_run_last_in_stable_order() -> None:
    def item(name: str, *marks: str) -> SimpleNamespace:
        return SimpleNamespace(name=name, iter_markers=lambda: [SimpleNamespace(name=m) for m in marks])

    items = [item("a", "failure", "destructive"), item("b", "metrics"), item("c", "destructive"), item("d")]
    assert [i.name for i in run_order(items)] == ["b", "d", "a", "c"]
    # a scenario that needs a quiet lab goes first, even one of a destructive feature
    items.append(item("q", "destructive", "quiet"))
    assert [i.name for i in run_order(items)] == ["q", "b", "d", "a", "c"]


class RecordingTarget:
    name = "recording"
    capabilities = frozenset({OWNS_LAB})  # a lab the run made: the policy decides

    def __init__(self, running: bool) -> None:
        self.running = running
        self.calls: list[str] = []

    def is_running(self) -> bool:
        return self.running

    def down(self, volumes: bool = False) -> None:
        self.calls.append(f"down volumes={volumes}")

    def close(self) -> None:
        self.calls.append("close")


@pytest.mark.parametrize(
    ("policy", "passed", "was_running", "destroyed"),
    [
        ("passing", True, False, True),
        ("passing", False, False, False),  # keep a failed lab for debugging
        ("always", False, False, True),
        ("never", True, False, False),
        ("always", True, True, False),  # a lab we did not make is never destroyed
    ],
)
def test_destroy_policy(policy: str, passed: bool, was_running: bool, destroyed: bool) -> None:
    out = io.StringIO()
    life = LabLifecycle(LabConfig(destroy=policy), out=out)
    target = RecordingTarget(was_running)
    life.target, life.was_running = target, was_running  # as start() leaves them
    life.finish(passed)
    life.finish(passed)  # a second call (fixture teardown + sessionfinish) does nothing more
    assert ("down volumes=True" in target.calls) is destroyed, out.getvalue()
    assert target.calls.count("close") == 1
    assert f"LAB_DESTROY={policy}" in out.getvalue() or was_running


@pytest.mark.parametrize(
    ("shard", "policy", "destroyed"),
    [(2, "passing", True), (None, "passing", False), (2, "never", False), (None, "always", True)],
)
def test_an_interrupted_shard_leaves_nothing_behind(shard: int | None, policy: str, destroyed: bool) -> None:
    """Ctrl-C of a sharded run: each shard's lab is its own and goes (unless LAB_DESTROY=never); an
    unsharded lab interrupted under ``passing`` is kept, as a failed one is."""
    config = LabConfig(destroy=policy)
    life = LabLifecycle(config.for_shard(shard) if shard else config, out=io.StringIO())
    target = RecordingTarget(False)
    life.target, life.was_running = target, False
    life.finish(passed=False, interrupted=True)
    assert ("down volumes=True" in target.calls) is destroyed


def test_an_interrupted_running_check_never_destroys(monkeypatch: pytest.MonkeyPatch) -> None:
    class Interrupted(RecordingTarget):
        def is_running(self) -> bool:
            raise KeyboardInterrupt

    target = Interrupted(running=True)
    monkeypatch.setattr("harness.lab.lifecycle.choose", lambda config: (target, "test"))
    life = LabLifecycle(LabConfig(destroy="always"), out=io.StringIO())
    with pytest.raises(KeyboardInterrupt):
        life.get()
    life.finish(passed=False)
    assert "down volumes=True" not in target.calls


def test_a_failed_start_is_remembered_not_retried_per_scenario(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def broken_choose(config: LabConfig) -> None:
        calls.append(1)
        raise LabError("no docker engine answers")

    monkeypatch.setattr("harness.lab.lifecycle.choose", broken_choose)
    life = LabLifecycle(LabConfig(), out=io.StringIO())
    with pytest.raises(LabError, match="no docker engine"):
        life.get()
    with pytest.raises(LabStartFailed) as err:
        life.get()
    assert str(err.value) == "the lab could not be started: no docker engine answers"
    assert not err.value.first and len(calls) == 1


def test_page_assets_and_title() -> None:
    html = """<html><head><title>Task Manager</title><link rel="stylesheet" href="styles.css">
    <script src="app.js"></script><link rel="canonical" href="https://example.invalid/"></head>
    <body><img src="/favicon.svg"></body></html>"""
    title, urls = asset_urls(html)
    assert title == "Task Manager"
    assert urls == ["styles.css", "app.js", "/favicon.svg"]


def test_uid_of_main_process() -> None:
    status = "Name:\tgunicorn\nUid:\t10001\t10001\t10001\t10001\nGid:\t10001\n"
    assert uid_of_main_process(status) == 10001
    with pytest.raises(ValueError, match="no Uid line"):
        uid_of_main_process("Name: x\n")


def test_grafana_trace_to_logs_query_from_provisioned_settings() -> None:
    custom = {
        "tracesToLogsV2": {
            "datasourceUid": "loki",
            "customQuery": True,
            "query": '{service_name="${__span.tags["service.name"]}"} | trace_id="${__trace.traceId}"',
        }
    }
    assert trace_to_logs_query(custom, "ab" * 16) == (
        "loki",
        '{service_name="flask-backend"} | trace_id="' + "ab" * 16 + '"',
    )
    default = {"tracesToLogsV2": {"datasourceUid": "loki"}}  # Grafana's query: the tags only
    assert trace_to_logs_query(default, "cd" * 16)[1] == '{service_name="flask-backend"}'
    with pytest.raises(AssertionError, match="no tracesToLogsV2"):
        trace_to_logs_query({}, "ab" * 16)


def test_frame_rows_counts_rows_and_surfaces_errors() -> None:
    body = {
        "results": {
            "A": {"frames": [{"data": {"values": [[1, 2, 3], ["a", "b", "c"]]}}, {"data": {"values": [[4]]}}]}
        }
    }
    assert frame_rows(body) == 4
    with pytest.raises(AssertionError, match="bad query"):
        frame_rows({"results": {"A": {"error": "bad query"}}})


def test_ok_names_status_and_body() -> None:
    assert ok((201, {"id": 1}), 201) == {"id": 1}
    with pytest.raises(AssertionError, match=r"answered 400 \(expected 201\).*title"):
        ok((400, {"error": "title is required"}), 201)


def test_a_teardown_that_fails_is_one_line_and_fails_the_run() -> None:
    """A lab half taken down must not pass silently, nor end the run in a traceback."""
    out = io.StringIO()
    life = LabLifecycle(LabConfig(destroy="always"), out=out)

    class Stuck:
        name = "vagrant"

        def down(self, volumes: bool = False) -> None:
            raise LabError("after destroy, still there: volume obslab-x_lab.img\n(see virsh)")

        def close(self) -> None: ...

    life.target = Stuck()  # type: ignore[assignment]
    life.was_running = False
    assert life.finish(passed=True) is False
    said = out.getvalue().splitlines()
    assert said[-1] == ("[lab] the lab could not be destroyed: after destroy, still there: "
                        "volume obslab-x_lab.img (see virsh)")
