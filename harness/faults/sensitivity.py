"""``lab sensitivity``: the suite run against each fault of the catalogue; caught or escaped.

For each fault, in a fresh throwaway copy of the lab's files (:class:`harness.faults.workspace.
Workspace`) with the fault's edits applied, a fresh lab is deployed and the scenarios the fault
names are run (``pytest features -x``: in the fault's order, stopping at the first failure, so time
to red is short), with the fault's runtime actions done once the lab is up
(:mod:`harness.bdd.faults_plugin`). The child keeps its lab (``LAB_DESTROY=never``) and the runner
takes it down (``down --volumes``) with the base's files, which compose accepts whatever the fault
did to the copy's. Every run is bounded (per fault and in total); the lab
publishes its ports on the configured bind address only (loopback).

The table (fault, caught or escaped, by which scenario and step, time to red, whether the failing
step's message names the signal and the hop) is :meth:`SensitivityRun.to_dict`, handed to
``publish`` each time it grows; ``lab sensitivity`` (:mod:`harness.cli`) writes it to
``<reports>/sensitivity/sensitivity.json`` and ``sensitivity.md`` and into the living docs
(:func:`harness.report.render.write_sensitivity`). An escape, a stale fault, a run that timed out
or one that never started all fail the command.

Time to red is counted from the end of the lab's deploy (the first scenario's first step) to the
end of the failing scenario; a fault that stops the lab from deploying is red when the deploy
fails (counted from the run's start).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.base.config import LabConfig
from harness.base.errors import ConfigError, LabError
from harness.base.progress import Display, run
from harness.faults import BY_NAME, FAULTS, Fault, StaleEdit
from harness.faults.workspace import Workspace, snapshot
from harness.lab.targets import registered_with, target_class
from harness.lab.targets.base import DEPLOY, LOCAL, OWNS_LAB

SCHEMA = "obslab-sensitivity/1"  # of to_dict(), checked where the report reads it back
PER_FAULT_TIMEOUT = 600.0  # deploy (~25 s, up to 300 s for a service that never gets healthy) + scenarios
TOTAL_TIMEOUT = 3 * 3600.0
CAUGHT, ESCAPED, STALE, TIMEOUT = "caught", "escaped", "stale", "timed out"
ERROR, NOT_RUN = "error", "not run"
CONTROL, PASSED, FAILED = "control", "passed", "failed"  # the run without a fault
MESSAGE_LIMIT = 2000
# A fresh lab per fault, deployed from a throwaway copy of the lab's files on this machine and taken
# down after it: what the target must be able to do.
NEEDS = (DEPLOY, OWNS_LAB, LOCAL)


@dataclass
class Row:
    """One fault's outcome."""

    fault: str
    hop: str
    signal: str
    kind: str
    summary: str
    expected: list[str]
    verdict: str = NOT_RUN
    scenario: str | None = None
    step: str | None = None
    message: str = ""
    names_signal: bool | None = None
    names_hop: bool | None = None
    time_to_red_s: float | None = None
    run_s: float | None = None
    log: str | None = None
    applied: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict == CAUGHT


def choose_faults(names: Sequence[str] = (), ci: bool = False, topology: str = "single") -> list[Fault]:
    """The faults asked for (all of the lab's topology when none is named; the CI subset with ``ci``)."""
    if names:
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            raise ConfigError(f"no fault named {', '.join(map(repr, unknown))}; "
                              "`lab sensitivity --list` shows the catalogue")
        other = [n for n in names if BY_NAME[n].topology != topology]
        if other:
            raise ConfigError(f"{', '.join(other)}: a fault of another topology than {topology}; use "
                              f"--topology {BY_NAME[other[0]].topology} (LAB_TOPOLOGY)")
        return [BY_NAME[n] for n in names]
    mine = [f for f in FAULTS if f.topology == topology]
    return [f for f in mine if f.ci] if ci else mine


# ------------------------------------------------------------------------------ reading one run
def _ts(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def _error_text(error: dict[str, str] | None) -> str:
    if not error:
        return ""
    return str(error.get("message") or error.get("traceback") or "").strip()


def read_outcome(results: dict[str, Any], fault: Fault | None) -> dict[str, Any]:
    """verdict, scenario, step, message, time to red and the message check from ``results.json``."""
    scenarios = sorted(
        (s for f in results.get("features", []) for s in f.get("scenarios", [])),
        key=lambda s: s.get("started") or "~",
    )
    ran = [s for s in scenarios if s.get("status") != "skipped" or s.get("started")]
    failed = next((s for s in ran if s.get("status") in ("failed", "undefined")), None)
    if failed is None:
        skipped = [s["name"] for s in scenarios if s.get("status") == "skipped"]
        note = f" (skipped: {', '.join(skipped)})" if skipped else ""
        verdict = ESCAPED if any(s.get("status") == "passed" for s in scenarios) else ERROR
        return {"verdict": verdict, "message": f"every scenario run passed{note}" if verdict == ESCAPED
                else f"no scenario ran{note}"}
    step = next((st for st in failed.get("steps", []) if st.get("status") in ("failed", "undefined")), None)
    hook = next((h for h in failed.get("hooks", []) if h.get("status") == "failed"), None)
    if step is None:  # setup or teardown failed (a fault's own action, a fixture): not a catch
        where = hook["phase"] if hook else "outside the steps"
        return {"verdict": ERROR, "scenario": failed.get("name"), "step": f"({where})",
                "message": f"the run failed in {where}, not in a step: "
                           f"{_error_text(hook.get('error') if hook else None)[:MESSAGE_LIMIT]}"}
    message = _error_text(step.get("error") if step else None) or _error_text(
        hook.get("error") if hook else None)
    step_text = f"{step['keyword']} {step['text']}" if step else f"({hook['phase']})" if hook else None
    start = _ts(results.get("run", {}).get("started"))
    red = (_ts(failed.get("started")) or 0) + float(failed.get("duration") or 0)
    first = ran[0]
    first_step = (first.get("steps") or [{}])[0]
    deployed = None
    if first_step.get("status") == "passed":  # the lab comes up in the first step, or in the setup
        setup = sum(float(h.get("duration") or 0) for h in first.get("hooks", [])
                    if h.get("phase") == "setup")
        deployed = (_ts(first.get("started")) or 0) + setup + float(first_step.get("duration") or 0)
    origin = deployed if deployed is not None and red >= deployed else start
    names_signal, names_hop = fault.message_names(message) if fault else (None, None)
    return {
        "verdict": CAUGHT,
        "scenario": failed.get("name"),
        "step": step_text,
        "message": message[:MESSAGE_LIMIT],
        "names_signal": names_signal,
        "names_hop": names_hop,
        "time_to_red_s": round(red - origin, 1) if origin else None,
    }


# ------------------------------------------------------------------------------------- the runner
class SensitivityRun:
    """Runs faults one after the other against fresh labs; ``rows`` fill as it goes."""

    def __init__(self, config: LabConfig, faults: Sequence[Fault], *, display: Display | None = None,
                 per_fault_timeout: float = PER_FAULT_TIMEOUT, total_timeout: float = TOTAL_TIMEOUT,
                 work_dir: Path | None = None, pytest_args: Sequence[str] = (), source: str | None = None,
                 control: bool = True, publish: Callable[[dict[str, Any]], object] | None = None):
        fit = registered_with(*NEEDS)
        if config.target not in fit:
            raise ConfigError(f"lab sensitivity deploys a lab per fault on the {' or '.join(fit)} target; "
                              f"the target is {config.target!r}: use --target {fit[0]} (LAB_TARGET={fit[0]})")
        self.config = config
        self.faults = list(faults)
        self.display = display or Display()
        self.per_fault_timeout = per_fault_timeout
        self.total_timeout = total_timeout
        self.out_dir = config.reports_dir / "sensitivity"
        self.work_dir = work_dir or Path(os.environ.get("TMPDIR", "/tmp")) / f"{config.project}-sensitivity"
        self.pytest_args = list(pytest_args)
        self.source = source  # a git ref, or None: the working tree
        self.control = control
        self.publish = publish  # called with to_dict() after the control run and after each fault
        self.base: Path | None = None
        self.control_row: Row | None = None
        self.rows: list[Row] = []
        self.started = time.time()

    # --- one fault ---------------------------------------------------------------------------------
    def child_env(self, workspace: Workspace, reports: Path) -> dict[str, str]:
        """The child run's environment: ours without LAB_*, then the lab's settings (LabConfig.lab_env),
        then what a sensitivity run fixes."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
        env.update(self.config.lab_env)
        env.update({
            "LAB_TARGET": self.config.target,
            "LAB_PROJECT": self.config.project,
            "LAB_DESTROY": "never",  # the runner takes it down, with the base's valid compose files
            "LAB_REPORTS_DIR": str(reports),
            "LAB_BIND_ADDRESS": self.config.bind_address,
            "LAB_STORES": self.config.stores,
            "LAB_TOPOLOGY": self.config.topology,
            "PYTHONPATH": os.pathsep.join([str(workspace.root), str(workspace.root / "app" / "backend")]),
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        return env

    def command(self, fault: Fault | None, titles: Sequence[str] = ()) -> list[str]:
        argv = [sys.executable, "-m", "pytest", "features", "-x", "-q", "-p", "no:cacheprovider",
                "-p", "harness.bdd.faults_plugin"]
        if fault is not None:
            argv += ["--lab-fault", fault.name]
        for title in titles or (fault.catches if fault else ()):
            argv += ["--lab-scenario", title]
        return argv + self.pytest_args

    def control_titles(self) -> list[str]:
        """Every scenario the chosen faults name, once, in catalogue order."""
        return list(dict.fromkeys(t for f in self.faults for t in f.catches))

    def _down(self) -> None:
        """The project's containers and volumes go, before and after each child run — with the base's
        files, which compose accepts whatever a fault did to the copy's (an undefined dependency
        makes compose refuse even `down`)."""
        config = self.config.with_(repo_root=self.base_dir())
        target = target_class(config.target)(config, display=Display.silent())
        try:
            if target.status():
                target.down(volumes=True)
        except LabError as exc:
            self.display.info(f"  cleanup of project {self.config.project} failed: {exc}")
        finally:
            target.close()

    def run_one(self, fault: Fault | None, timeout: float) -> Row:
        """One fault against a fresh lab (``fault`` None: the control run, no fault, every scenario
        the chosen faults name — it must pass, or the verdicts would mean nothing)."""
        if fault is None:
            titles = self.control_titles()
            row = Row(CONTROL, "-", "-", "-", "no fault: the scenarios the faults name, on the lab as it is",
                      titles)
        else:
            titles = list(fault.catches)
            row = Row(fault.name, fault.hop, fault.signal, fault.kind, fault.summary, titles)
        workspace = Workspace(self.base_dir(), self.work_dir / row.fault)
        logs = self.out_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{row.fault}.log"
        row.log = str(log_path.relative_to(self.config.reports_dir))
        try:
            workspace.create()
            row.applied = workspace.apply(fault) if fault else []
        except StaleEdit as exc:
            row.verdict, row.message = STALE, str(exc)
            return row
        reports = workspace.root / "reports"
        self._down()  # a lab of this project left by someone: a fresh lab per fault
        started = time.monotonic()
        with log_path.open("w", encoding="utf-8") as log:
            how = fault.how() if fault else ["(no fault)"]
            log.write(f"# {row.fault}: {row.summary}\n# " + "\n# ".join(how) + "\n")
            result = run(self.command(fault, titles), timeout=timeout, cwd=workspace.root,
                         env=self.child_env(workspace, reports), on_line=lambda line: log.write(line + "\n"),
                         record=False)
        row.run_s = round(time.monotonic() - started, 1)
        self._down()
        try:
            results = json.loads((reports / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            results = None
        if result.timed_out:
            row.verdict, row.message = TIMEOUT, f"no verdict within {timeout:.0f}s (see {row.log})"
        elif results is None:
            row.verdict = ERROR
            row.message = f"the run wrote no results (exit {result.exit_code}): {result.tail(3)}"
        elif fault is None:
            outcome = read_outcome(results, None)
            row.verdict = PASSED if outcome["verdict"] == ESCAPED and result.exit_code == 0 else FAILED
            row.scenario, row.step = outcome.get("scenario"), outcome.get("step")
            row.message = outcome.get("message", "")
        else:
            for key, value in read_outcome(results, fault).items():
                setattr(row, key, value)
            if row.verdict == CAUGHT and result.exit_code == 0:
                row.verdict, row.message = ERROR, f"results say failed but pytest exited 0: {row.message}"
        self._keep_reports(reports, row.fault)
        workspace.remove()
        return row

    def base_dir(self) -> Path:
        """The lab's files every fault of this run starts from (made once, on first use)."""
        if self.base is None:
            self.base = snapshot(self.config.repo_root, self.work_dir / "base", self.source)
        return self.base

    def _keep_reports(self, reports: Path, name: str) -> None:
        """The child run's own reports (results, living docs) under ``sensitivity/runs/<name>``."""
        import shutil

        kept = self.out_dir / "runs" / name
        shutil.rmtree(kept, ignore_errors=True)
        if reports.is_dir():
            shutil.copytree(reports, kept)

    # --- all of them -------------------------------------------------------------------------------
    def run(self, on_row: Callable[[Row], None] | None = None) -> list[Row]:
        deadline = time.monotonic() + self.total_timeout
        if self.control:
            titles = self.control_titles()
            with self.display.phase(f"control: {len(titles)} scenarios on the lab without a fault"):
                self.control_row = self.run_one(None, min(self.per_fault_timeout * 2, self.total_timeout))
            self._publish()
            if self.control_row.verdict != PASSED:
                c = self.control_row
                raise LabError(f"the lab is red without any fault ({c.scenario} → {c.step}: "
                               f"{' '.join(c.message.split())[:300]}); a sensitivity run would mean nothing "
                               f"(see {c.log})")
            self.display.info(f"  control passed in {self.control_row.run_s}s")
        for index, fault in enumerate(self.faults, 1):
            left = deadline - time.monotonic()
            if left <= 30:
                row = Row(fault.name, fault.hop, fault.signal, fault.kind, fault.summary, list(fault.catches))
                row.message = f"not started: the total time limit ({self.total_timeout:.0f}s) was reached"
                self.rows.append(row)
                continue
            with self.display.phase(f"[{index}/{len(self.faults)}] fault {fault.name}: {fault.summary}"):
                row = self.run_one(fault, min(self.per_fault_timeout, left))
            self.rows.append(row)
            self.display.info(f"  {row.verdict}" + (f" by {row.scenario!r} in {row.time_to_red_s}s"
                                                    if row.verdict == CAUGHT else f": {row.message[:200]}"))
            if on_row:
                on_row(row)
            self._publish()
        self._publish()
        return self.rows

    # --- the report ---------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.verdict] = counts.get(row.verdict, 0) + 1
        caught = counts.get(CAUGHT, 0)
        reds = [r.time_to_red_s for r in self.rows if r.time_to_red_s is not None]
        return {
            "faults": len(self.faults),
            "counts": counts,
            "caught_percent": round(100.0 * caught / len(self.faults), 1) if self.faults else 0.0,
            "median_time_to_red_s": sorted(reds)[len(reds) // 2] if reds else None,
            "names_signal_and_hop": sum(1 for r in self.rows if r.names_signal and r.names_hop),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.time() - self.started, 1),
            "target": self.config.target,
            "stores": self.config.stores,
            "project": self.config.project,
            "source": self.source or "working tree",
            "summary": self.summary(),
            "control": asdict(self.control_row) if self.control_row else None,
            "rows": [asdict(r) for r in self.rows],
        }

    def _publish(self) -> None:
        if self.publish is not None:
            self.publish(self.to_dict())
