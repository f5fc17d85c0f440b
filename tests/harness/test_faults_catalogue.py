"""The fault catalogue stays true to today's files: every fault applies to a copy of the repository
(an edit whose key, value or text is gone fails here, naming the fault), changes what it says,
leaves files the services can still parse, and names scenarios that exist; the edits refuse stale
targets; the catalogue covers every hop; a disk is only ever filled on a tmpfs the fault mounts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.bdd.scenario import scenario_steps
from harness.faults import FAULTS, HOPS, SIGNALS, Fault, StaleEdit
from harness.faults.edits import TextReplace, YamlDelete, YamlListItem, YamlSet
from harness.faults.runtime import FillDisk
from harness.faults.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(REPO, tmp_path_factory.mktemp("pristine") / "lab").create()


def scenario_titles() -> set[str]:
    """Every scenario's title as a run names it (an outline's rows with their values)."""
    return {steps[0].scenario for steps in scenario_steps(REPO / "features", REPO) if steps}


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_applies_to_todays_files(fault: Fault, tmp_path: Path, pristine: Workspace) -> None:
    workspace = Workspace(REPO, tmp_path / "lab").create()
    try:
        applied = workspace.apply(fault)
    except StaleEdit as exc:
        pytest.fail(f"fault {fault.name} no longer applies to today's files: {exc}")
    assert len(applied) == len(fault.edits)
    for edit in fault.edits:
        after = (workspace.root / edit.file).read_text()
        before = (pristine.root / edit.file).read_text()
        assert after != before, f"{fault.name}: {edit.describe()} changed nothing"
        if edit.file.endswith((".yaml", ".yml")):
            assert isinstance(yaml.safe_load(after), dict), f"{fault.name} left {edit.file} unparsable"
    for edit in fault.edits:  # each YAML edit changed what it says (not only the formatting)
        if isinstance(edit, YamlSet):
            node = yaml.safe_load((workspace.root / edit.file).read_text())
            for key in edit.path:
                node = node[key]
            assert node == edit.value


def test_every_fault_names_scenarios_that_exist() -> None:
    titles = scenario_titles()
    assert "The backend container does not run as root" in titles  # an outline row, named with its value
    unknown = {f.name: [t for t in f.catches if t not in titles] for f in FAULTS}
    unknown = {k: v for k, v in unknown.items() if v}
    assert not unknown, f"faults naming scenarios that do not exist: {unknown}"


def test_catalogue_covers_every_hop_and_kind() -> None:
    assert len(FAULTS) >= 30
    assert len({f.name for f in FAULTS}) == len(FAULTS)
    assert {f.hop for f in FAULTS} == set(HOPS)
    assert {f.signal for f in FAULTS} <= set(SIGNALS)
    assert {f.kind for f in FAULTS} == {"config", "runtime", "config+runtime"}
    files = {e.file.split("/")[1] if e.file.startswith("stack/") else e.file for f in FAULTS for e in f.edits}
    for part in ("compose.yaml", "collector", "jaeger", "prometheus", "compose.jaeger-victorialogs.yaml",
                 "app/frontend/nginx/default.conf.template"):
        assert part in files, f"no fault edits {part}"
    assert 3 <= sum(f.ci for f in FAULTS) <= 6, "the CI subset is a handful of faults"
    for fault in FAULTS:
        assert fault.summary and fault.why and fault.how()


@pytest.mark.parametrize("fault", [f for f in FAULTS if any(isinstance(a, FillDisk) for a in f.actions)],
                         ids=lambda f: f.name)
def test_disks_are_filled_only_on_a_tmpfs_the_fault_mounts(fault: Fault, tmp_path: Path) -> None:
    workspace = Workspace(REPO, tmp_path / "lab").create()
    workspace.apply(fault)
    for action in fault.actions:
        assert isinstance(action, FillDisk)
        files = {e.file for e in fault.edits}
        mounts = []
        for file in files:
            service = yaml.safe_load((workspace.root / file).read_text())["services"].get(action.service, {})
            mounts += [m.split(":")[0] for m in service.get("tmpfs", [])]
            volumes = [v.split(":")[1] for v in service.get("volumes", []) if isinstance(v, str) and ":" in v]
            assert action.path not in volumes, f"{fault.name}: {action.path} is still a volume"
        assert action.path in mounts, f"{fault.name} fills {action.path}, which it does not mount as a tmpfs"
        size = next(m for f in files for m in yaml.safe_load((workspace.root / f).read_text())["services"]
                    .get(action.service, {}).get("tmpfs", []) if m.startswith(action.path))
        assert "size=" in size, f"{fault.name}: the tmpfs has no size limit ({size})"


def test_edits_refuse_stale_targets(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("a:\n  b: 1\n  l: [x, y]\n")
    (tmp_path / "n.conf").write_text("valid=10s;\n")
    stale = [
        YamlSet("c.yaml", ("a", "b"), 2, expect=5),  # the value changed
        YamlSet("c.yaml", ("a", "z"), 2),  # the key is gone
        YamlSet("c.yaml", ("q", "b"), 2, new_key=True),  # the parent is gone
        YamlDelete("c.yaml", ("a", "nope")),
        YamlListItem("c.yaml", ("a", "l"), match="w"),
        YamlListItem("c.yaml", ("a", "b"), match="x"),  # not a list
        TextReplace("n.conf", "valid=5s", "valid=1h"),
        TextReplace("n.conf", "valid", "x", count=2),
        YamlSet("missing.yaml", ("a",), 1),
    ]
    for edit in stale:
        with pytest.raises(StaleEdit) as caught:
            edit.apply(tmp_path)
        assert "\n" not in str(caught.value) and edit.file in str(caught.value)
    assert (tmp_path / "c.yaml").read_text() == "a:\n  b: 1\n  l: [x, y]\n", "a refused edit wrote nothing"
    YamlSet("c.yaml", ("a", "b"), 2, expect=1).apply(tmp_path)
    YamlListItem("c.yaml", ("a", "l"), match="x", replace="z").apply(tmp_path)
    YamlSet("c.yaml", ("a", "new"), "v", new_key=True).apply(tmp_path)
    assert yaml.safe_load((tmp_path / "c.yaml").read_text()) == {"a": {"b": 2, "l": ["z", "y"], "new": "v"}}


def test_message_check_uses_the_faults_signal_and_hop() -> None:
    fault = next(f for f in FAULTS if f.hop == "collector" and f.signal == "traces")
    message = "no trace abc in jaeger; the collector accepted 3 spans and sent 0"
    assert fault.message_names(message) == (True, True)
    assert fault.message_names("timed out after 30.1s") == (False, False)
    with pytest.raises(ValueError, match="hop"):
        Fault("x", "nowhere", "traces", "s", "w", ("t",), edits=(TextReplace("f", "a", "b"),))
    with pytest.raises(ValueError, match="neither"):
        Fault("x", "app", "traces", "s", "w", ("t",))
