"""``lab``: bring the lab up, look at it, take it down, build its images — from one command.

    lab up [--target T] [--stores S] [--image-source X]   deploy (idempotent; volumes kept)
    lab status                                            each service's state (exit 1 unless all healthy)
    lab endpoints [--json]                                the lab's URLs (one JSON object with --json)
    lab down [--volumes]                                  remove containers (and volumes only if asked)
    lab images build [--only NAME ...]                    build the lab/*:local images (stack/images/build.sh)
    lab images list                                       what can be built and what the engine has
    lab box build                                         the vagrant box (provision/box/build.sh)
    lab sensitivity [--fault NAME ...] [--ci] [--list]    the suite against each fault (exit 1 on an escape)
    lab report merge OUT DIR...                           the reports of shards (--shard k/N) as one
    lab flaky RESULTS...                                  pass rate of each scenario over runs and repeats
    lab durations RESULTS... [--for T]                    runs' scenario durations, median (the shard split)
    lab links TRACE_ID [--at TIME] [--json]               the URLs of a trace, its logs, its latency series

``--shard K`` (up, status, endpoints, down) addresses the lab of shard K of a sharded run
(``pytest features --shards N``); ``lab down --shards N`` removes the labs of shards 1 to N.

Common options (also as environment variables): the rows of :data:`harness.base.options.OPTIONS`
that ``lab`` has (--target, --stores, --lab-host, --endpoints-file, --lab-project), and --image-source
for ``lab up``.
The first line of every command says which target is used and why. Progress goes to stdout,
except with ``--json``, where stdout holds only the JSON and everything else goes to stderr.
Exit codes: 0 ok, 1 the lab is not as it should be, 2 bad options or settings, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from harness import __version__
from harness.base import options, waiting
from harness.base.config import AUTO, REPO_ROOT, LabConfig
from harness.base.errors import ConfigError, LabError
from harness.base.progress import Display
from harness.base.statefile import read_json, write_json
from harness.base.waiting import scaled

STATE_FILE = Path(".lab") / "last-deploy.json"


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr and exit 2 (no usage block, no traceback)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"lab: {message} (see `{self.prog} --help`)\n")


def _add(group: Any, row: options.Option, default: Any) -> None:
    """One option of the table as an argparse option (its choices checked by argparse)."""
    group.add_argument(row.flag, dest=row.key, choices=row.choices or None, metavar=row.metavar,
                       default=default, help=row.described())


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("common options")
    for row in options.rows(command=options.LAB_COMMON):
        _add(group, row, default)
    group.add_argument(
        "--shard",
        dest="shard",
        metavar="K",
        default=default,
        help="the lab of shard K of a sharded run (`pytest features --shards N`): its own project, "
             "address or VM",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lab",
        description="Deploy and inspect the observability lab.",
        epilog="Details: README.md; `lab COMMAND --help`.",
    )
    parser.add_argument("--version", action="version", version=f"lab {__version__}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    up = sub.add_parser("up", help="deploy the lab and wait until every service is healthy")
    for row in options.rows(command=options.LAB_UP):
        _add(up, row, None)
    _common(up, suppress=True)

    status = sub.add_parser("status", help="each service's state")
    _common(status, suppress=True)

    endpoints = sub.add_parser("endpoints", help="the lab's URLs")
    endpoints.add_argument(
        "--json", action="store_true", help="print one JSON object (and nothing else on stdout)"
    )
    _common(endpoints, suppress=True)

    down = sub.add_parser("down", help="remove the lab's containers and networks")
    down.add_argument("--volumes", action="store_true", help="also remove its volumes (tasks, traces, logs)")
    down.add_argument("--shards", type=_count, default=None, metavar="N",
                      help="remove the labs of shards 1 to N of a sharded run (what Ctrl-C may leave)")
    _common(down, suppress=True)

    images = sub.add_parser("images", help="local images (for hosts with no registry)")
    images_sub = images.add_subparsers(dest="images_command", metavar="ACTION", parser_class=_Parser)
    build = images_sub.add_parser("build", help="build lab/*:local images with stack/images/build.sh")
    build.add_argument(
        "--only",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="only these images (and what they need); names as in `lab images list`",
    )
    build.add_argument("--force", action="store_true", help="rebuild even when inputs are unchanged")
    build.add_argument(
        "--rebuild-base", dest="rebuild_base", action="store_true", help="rebuild lab/base from debootstrap"
    )
    _common(build, suppress=True)
    listing = images_sub.add_parser("list", help="what can be built and whether the engine has it")
    _common(listing, suppress=True)

    box = sub.add_parser("box", help="the Vagrant box (vagrant target)")
    box_sub = box.add_subparsers(dest="box_command", metavar="ACTION", parser_class=_Parser)
    box_build = box_sub.add_parser("build", help="build the libvirt box locally (provision/box/build.sh)")
    _common(box_build, suppress=True)

    sens = sub.add_parser("sensitivity", help="run the suite against each fault of the catalogue")
    sens.add_argument("--fault", nargs="+", action="extend", metavar="NAME",
                      help="only these faults (default: the whole catalogue; `--list` shows it)")
    sens.add_argument("--ci", action="store_true", help="only the subset CI runs on every change")
    sens.add_argument("--list", action="store_true", help="print the catalogue and exit")
    sens.add_argument("--from", dest="source", metavar="REF", default=None,
                      help="the lab's files of this git commit (default: the working tree as it is)")
    sens.add_argument("--no-control", dest="control", action="store_false",
                      help="skip the run without a fault that must pass first")
    sens.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                      help="limit per fault (default 600; scaled by LAB_TIMEOUT_SCALE)")
    sens.add_argument("--total-timeout", dest="total_timeout", type=_seconds, default=None, metavar="SECONDS",
                      help="limit for the whole run (default 10800; scaled): later faults are not started")
    _common(sens, suppress=True)

    report = sub.add_parser("report", help="the reports of several runs as one")
    report_sub = report.add_subparsers(dest="report_command", metavar="ACTION", parser_class=_Parser)
    merge = report_sub.add_parser("merge", help="merge the reports of shards run on several machines")
    merge.add_argument("out", metavar="OUT", type=Path, help="where the merged reports go")
    merge.add_argument("inputs", metavar="DIR", type=Path, nargs="+",
                       help="reports directories (or results.json files) of the shards")

    flaky = sub.add_parser("flaky", help="pass rates of the scenarios over runs (results.json files)")
    flaky.add_argument("inputs", metavar="RESULTS", type=Path, nargs="+",
                       help="results.json files or reports directories, one per run")
    flaky.add_argument("--markdown", type=Path, default=None, metavar="FILE",
                       help="also write the table as Markdown (e.g. docs/flakiness.md)")

    links = sub.add_parser("links", help="the URLs that show a trace, its log records and its latency series")
    links.add_argument("trace_id", metavar="TRACE_ID",
                       help="32 hexadecimal digits (as in a traceparent header)")
    links.add_argument("--at", dest="at", type=_moment, default=None, metavar="TIME",
                       help="when the request was made (epoch seconds or ISO 8601; default: now): the "
                            "logs' and the series' time range is around it")
    links.add_argument("--json", action="store_true",
                       help="print one JSON object (and nothing else on stdout)")
    _common(links, suppress=True)

    durations = sub.add_parser("durations",
                               help="record runs' scenario durations (their median) for the shard split")
    durations.add_argument("inputs", metavar="RESULTS", type=Path, nargs="+",
                           help="results.json files or reports directories")
    durations.add_argument("--for", dest="for_target", choices=_deploying(), default=None,
                           help="the target the durations are for (default: the run's own)")
    return parser


def _deploying() -> tuple[str, ...]:
    """The targets whose labs the harness deploys: the ones a scenario's duration is recorded for."""
    from harness.lab.targets import registered_with
    from harness.lab.targets.base import DEPLOY

    return tuple(registered_with(DEPLOY))


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; use e.g. 4") from None
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; use 1 to 16")
    return value


def _moment(text: str) -> float:
    """``--at``: epoch seconds or an ISO 8601 time (UTC when it names no zone)."""
    from datetime import UTC, datetime

    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither epoch seconds nor an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _seconds(text: str) -> float:
    """A positive number of seconds (argparse turns the ValueError into one line)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds; use e.g. 600") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 and less than 1000000 seconds")
    return value


# ------------------------------------------------------------------------------------------------
def _state_path(repo_root: Path) -> Path:
    return repo_root / STATE_FILE


def _recall(repo_root: Path, project: str) -> dict[str, Any]:
    """What the last `lab up` of this project used (so `lab status`/`down` need no repeated options)."""
    entry = read_json(_state_path(repo_root)).get(project, {})
    return entry if isinstance(entry, dict) else {}


def _remember(repo_root: Path, project: str, entry: dict[str, Any] | None) -> None:
    data = read_json(_state_path(repo_root))
    if entry is None:
        data.pop(project, None)
    else:
        data[project] = entry
    write_json(_state_path(repo_root), data)


def _config(args: argparse.Namespace, env: dict[str, str]) -> LabConfig:
    """The run's config (validated as pytest validates it); the store set defaults to the last
    deploy's of this project when neither --stores nor LAB_STORES says."""
    from harness.lab.targets import validate

    rows = options.rows(command=options.LAB_COMMON) + options.rows(command=options.LAB_UP)
    given = {row.key: getattr(args, row.key, None) for row in rows}
    config = LabConfig.from_sources(given, env)
    if given["stores"] is None and not (config.lab_env.get("LAB_STORES") or "").strip():
        recalled = _recall(REPO_ROOT, config.project).get("stores")
        if recalled:
            config = LabConfig.from_sources({**given, "stores": recalled}, env)
    validate(config)
    shard = getattr(args, "shard", None)
    if shard:
        from harness.bdd.shards import parse_shard

        text = str(shard)
        config = config.for_shard(parse_shard(text if "/" in text else f"{text}/16", "--shard").index)
    return config


def _choose(config: LabConfig, display: Display) -> tuple[Any, str]:
    from harness.lab.targets import choose

    target, reason = choose(config, display=display)
    display.info(f"target {target.name}: {reason}; stores {target.config.stores}, project {config.project}")
    return target, reason


def _owns(target: Any) -> bool:
    """Whether the lab is the harness's own (its last deploy is remembered, `lab down` forgets it)."""
    from harness.lab.targets.base import OWNS_LAB

    return OWNS_LAB in target.capabilities


# ------------------------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    started = time.monotonic()
    target, _ = _choose(config, display)
    try:
        target.up()
        if _owns(target):
            _remember(REPO_ROOT, config.project, {"stores": target.config.stores, "target": target.name})
        for key, url in target.endpoints().to_dict().items():
            if key not in ("target", "stores"):
                display.info(f"  {key:<17} {url}")
        display.info(
            f"lab is up ({target.name}, {target.config.stores}) in {time.monotonic() - started:.0f}s"
        )
    finally:
        target.close()
    return 0


def cmd_status(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    target, _ = _choose(config, display)
    try:
        states = target.status()
    finally:
        target.close()
    if not states:
        display.info(f"no services of project {config.project} are deployed")
        return 1
    width = max(len(s) for s in states)
    for service, state in sorted(states.items()):
        display.info(f"  {service:<{width}}  {state}")
    return 0 if all(s.ready for s in states.values()) else 1


def cmd_endpoints(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    target, _ = _choose(config, display)
    try:
        data: dict[str, Any] = target.endpoints().to_dict()
        try:
            running, why = target.is_running(), ""
        except LabError as exc:
            running, why = False, f" ({exc})"
    finally:
        target.close()
    data["running"] = running
    if not running:
        display.info(f"the lab is not running{why.splitlines()[0] if why else ''}: these are the URLs it "
                     "will have once `lab up` has deployed it")
    if args.json:
        print(json.dumps(data, sort_keys=True))
    else:
        for key, value in data.items():
            display.info(f"  {key:<17} {value}")
    return 0


def cmd_down(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    if args.shards:
        if config.shard:
            raise ConfigError("`lab down` takes --shard K (one shard's lab) or --shards N (all), not both")
        failed = 0
        for index in range(1, args.shards + 1):
            display.info(f"shard {index} of {args.shards}:")
            try:
                one = argparse.Namespace(**{**vars(args), "shards": None})
                cmd_down(one, config.for_shard(index), display)
            except LabError as exc:
                display.info(f"  shard {index}: {' '.join(str(exc).split())}")
                failed += 1
        return 1 if failed else 0
    target, _ = _choose(config, display)
    try:
        target.down(volumes=args.volumes)
        if _owns(target):
            _remember(REPO_ROOT, config.project, None)
    finally:
        target.close()
    display.info(
        "lab is down" + (" (volumes removed)" if args.volumes else " (volumes kept; --volumes removes them)")
    )
    return 0


def _target_line_or_none(config: LabConfig, display: Display) -> None:
    try:
        target, _ = _choose(config, display)
        target.close()
    except ConfigError as exc:
        display.info(f"target: none ({exc}); images are still built into the local Docker engine")


def cmd_images(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    from harness.lab import images

    if args.images_command is None:
        raise ConfigError("`lab images` needs an action: build or list")
    _target_line_or_none(config, display)
    if args.images_command == "list":
        from harness.lab.engine import SdkEngine

        listed = images.list_images(config.repo_root)
        engine = SdkEngine(config.project)
        try:
            present = set(engine.image_ids())
        except LabError as exc:
            display.info(f"the local Docker engine does not answer ({exc}): cannot say which images it has")
            present = None
        finally:
            engine.close()
        for item in listed:
            if item.tag is None:
                display.info(f"  {item.name:<15} {'-':<40} not buildable here")
                continue
            if "/" in item.tag and ":" not in item.tag:
                seen = "present" if (config.repo_root / item.tag).is_file() else "missing"
            else:
                seen = "unknown" if present is None else "present" if item.tag in present else "missing"
            display.info(f"  {item.name:<15} {item.tag:<40} {seen}")
        return 0
    extra = [flag for flag, on in (("--force", args.force), ("--rebuild-base", args.rebuild_base)) if on]
    _, lines = images.build(args.only, display=display, repo_root=config.repo_root, extra_args=extra)
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.status] = counts.get(line.status, 0) + 1
    display.info("images: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to do"))
    return 0


def cmd_box(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    if args.box_command is None:
        raise ConfigError("`lab box` needs an action: build")
    from harness.lab.targets.vagrant import BOX_BUILD_SCRIPT, build_box

    display.info("target vagrant: `lab box build` makes the libvirt box the vagrant target boots")
    with display.phase(f"box: {BOX_BUILD_SCRIPT}"):
        build_box(config.repo_root, display)
    return 0


def cmd_sensitivity(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    from harness.faults import sensitivity

    faults = sensitivity.choose_faults(args.fault or (), ci=args.ci, topology=config.topology)
    if args.list:
        for fault in faults:
            flag = " [ci]" if fault.ci else ""
            display.info(f"{fault.name:<44} {fault.hop:<12} {fault.kind:<15} {fault.summary}{flag}")
            display.detail(f"    caught by: {'; '.join(fault.catches)}")
        display.info(f"{len(faults)} faults")
        return 0
    if config.target == AUTO:  # the first target that can make a lab per fault (sensitivity.NEEDS)
        from harness.lab.targets import registered_with

        config = config.with_(target=registered_with(*sensitivity.NEEDS)[0])
    display.info(f"target {config.target}: a fresh lab per fault (project {config.project}, "
                 f"bind address {config.bind_address}); {len(faults)} faults")
    from harness.report.render import write_sensitivity

    def publish(data: dict[str, Any]) -> dict[str, Path]:  # the table as it grows, and once at the end
        return write_sensitivity(data, config.reports_dir)

    runner = sensitivity.SensitivityRun(
        config, faults, display=display,
        per_fault_timeout=scaled(args.timeout or sensitivity.PER_FAULT_TIMEOUT),
        total_timeout=scaled(args.total_timeout or sensitivity.TOTAL_TIMEOUT),
        source=args.source, control=args.control, publish=publish,
    )
    rows = runner.run()
    written = publish(runner.to_dict())
    summary = runner.summary()
    display.info(f"sensitivity: {summary['caught_percent']} % of {summary['faults']} faults caught "
                 f"({', '.join(f'{n} {v}' for v, n in sorted(summary['counts'].items()))}); "
                 f"table: {written['markdown']}")
    missed = [r for r in rows if not r.ok]
    for row in missed:
        display.info(f"  {row.verdict}: {row.fault}: {row.message[:200]}")
    return 1 if missed or len(rows) < len(faults) else 0


def _unknown_options(parser: argparse.ArgumentParser, args: argparse.Namespace, unknown: list[str]) -> str:
    """One line for options the command does not have, naming the commands that do."""
    command = " ".join(w for w in (args.command, getattr(args, "images_command", None),
                                   getattr(args, "box_command", None)) if w)
    where = f"`lab {command}`" if command else "`lab`"
    owners: dict[str, list[str]] = {}
    subparsers = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    for name, sub in (subparsers.choices.items() if subparsers else []):
        for option in sub._option_string_actions:
            owners.setdefault(option, []).append(f"lab {name}")
    options = [u for u in unknown if u.startswith("-")] or unknown
    has_it = owners.get(options[0].split("=", 1)[0])
    hint = f"; it is an option of {', '.join(has_it)}" if has_it else ""
    noun = "option" if len(options) == 1 else "options"
    return f"{where} has no {noun} {' '.join(options)}{hint} (see `lab {command} --help`)".replace(
        "`lab  --help`", "`lab --help`")


def _results_path(path: Path) -> Path:
    from harness.report import render

    return path / render.RESULTS if path.is_dir() else path


def cmd_report(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    from harness.report import merge, model, render

    if args.report_command != "merge":
        raise ConfigError("`lab report` needs an action: merge")
    try:
        parts = [model.load(_results_path(p)) for p in args.inputs]
    except model.ResultsError as exc:
        raise ConfigError(str(exc)) from None
    results = merge.combine(parts)
    written = render.write_all(results, args.out)
    counts = ", ".join(f"{n} {s}" for s, n in results["summary"]["scenarios"].items() if n)
    display.info(f"merged {len(parts)} runs: {counts}; living docs {written['living_docs']}")
    return 0 if results["run"]["exit_status"] == 0 else 1


def cmd_flaky(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    from harness.report import flakiness, model

    try:
        runs = [model.load(_results_path(p)) for p in args.inputs]
    except model.ResultsError as exc:
        raise ConfigError(str(exc)) from None
    table = flakiness.tally(runs)
    for line in flakiness.lines(table):
        display.info(line)
    if args.markdown:
        text = flakiness.markdown(table, [str(p) for p in args.inputs])
        args.markdown.write_text(text, encoding="utf-8")
        display.info(f"written: {args.markdown}")
    return 0 if all(row.verdict == "stable" for row in table) else 1


def cmd_durations(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    from harness.bdd import shards
    from harness.report import model

    by_target: dict[str, list[dict[str, Any]]] = {}
    for path in args.inputs:
        try:
            results = model.load(_results_path(path))
        except model.ResultsError as exc:
            raise ConfigError(str(exc)) from None
        deploying = _deploying()
        target = args.for_target or str(results["run"].get("target") or deploying[0]).split(",")[0].strip()
        if target not in deploying:
            raise ConfigError(f"{path}: the run's target is {target!r}; say "
                              f"{' or '.join(f'--for {name}' for name in deploying)}")
        by_target.setdefault(target, []).append(results)
    for target, runs in by_target.items():
        n = shards.update_durations(runs, target)
        display.info(f"{n} scenario durations (the median of {len(runs)} runs) recorded for {target} in "
                     f"{shards.DURATIONS_FILE}")
    return 0


def cmd_links(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    """The links of :func:`harness.clients.links.trace_links` for this lab; the Jaeger UI is asked
    once whether it is the real UI or the local image's placeholder page, Prometheus whether it
    serves its UI at all."""
    from harness.clients import links

    trace_id = links.require_trace_id(args.trace_id)  # before anything else: bad input is exit 2
    target, _ = _choose(config, display)
    try:
        endpoints = target.endpoints().to_dict()
    finally:
        target.close()
    jaeger_ui = links.jaeger_ui_available(endpoints)
    found = links.trace_links(endpoints, trace_id, args.at, jaeger_ui=jaeger_ui,
                              prometheus_ui=links.prometheus_ui_available(endpoints))
    if args.json:
        print(json.dumps({"trace_id": trace_id, "stores": endpoints.get("stores"), "at": args.at,
                          "links": [link.to_dict() for link in found]}, sort_keys=True))
        return 0
    for signal in ("traces", "logs", "metrics"):
        display.info(signal)
        for link in (x for x in found if x.signal == signal):
            said = f" ({link.note})" if link.note else ""
            display.info(f"  [{link.kind}] {link.label}{said}\n        {link.url}")
    return 0


COMMANDS = {
    "up": cmd_up,
    "status": cmd_status,
    "endpoints": cmd_endpoints,
    "down": cmd_down,
    "images": cmd_images,
    "box": cmd_box,
    "sensitivity": cmd_sensitivity,
    "report": cmd_report,
    "flaky": cmd_flaky,
    "durations": cmd_durations,
    "links": cmd_links,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lab`` console script; returns the exit code."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(words)
    if unknown:
        print(f"lab: {_unknown_options(parser, args, unknown)}", file=sys.stderr)
        return 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    machine = getattr(args, "json", False)
    display = Display(stream=sys.stderr if machine else sys.stdout)
    try:
        config = _config(args, dict(os.environ))
        waiting.configure(config.timeout_scale)
        return COMMANDS[args.command](args, config, display)
    except ConfigError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
