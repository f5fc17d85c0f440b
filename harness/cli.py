"""``lab``: bring the lab up, look at it, take it down, build its images — from one command.

    lab up [--target T] [--stores S] [--image-source X]   deploy (idempotent; volumes kept)
    lab status                                            each service's state (exit 1 unless all healthy)
    lab endpoints [--json]                                the lab's URLs (one JSON object with --json)
    lab down [--volumes]                                  remove containers (and volumes only if asked)
    lab images build [--only NAME ...]                    build the lab/*:local images (stack/images/build.sh)
    lab images list                                       what can be built and what the engine has
    lab box build                                         the vagrant box (issue 5)

Common options (also as environment variables): --target (LAB_TARGET), --stores (LAB_STORES),
--lab-host (LAB_HOST), --endpoints-file (LAB_ENDPOINTS_FILE), --project (LAB_PROJECT).
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
from harness.config import IMAGE_SOURCES, REPO_ROOT, STORE_SETS, TARGETS, LabConfig
from harness.errors import ConfigError, LabError
from harness.progress import Display, run
from harness.waiting import scaled

STATE_FILE = Path(".lab") / "last-deploy.json"
BOX_BUILD_TIMEOUT = 3600.0


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr and exit 2 (no usage block, no traceback)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"lab: {message} (see `{self.prog} --help`)\n")


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("common options")
    group.add_argument(
        "--target",
        choices=TARGETS,
        default=default,
        help="where the lab runs (LAB_TARGET; default auto: vagrant if usable, else docker)",
    )
    group.add_argument(
        "--stores",
        choices=STORE_SETS,
        default=default,
        help="trace and log stores (LAB_STORES; default jaeger-victorialogs, or the last deploy's)",
    )
    group.add_argument(
        "--lab-host",
        dest="lab_host",
        metavar="HOST",
        default=default,
        help="address of a lab that already runs (LAB_HOST; implies --target existing)",
    )
    group.add_argument(
        "--endpoints-file",
        dest="endpoints_file",
        metavar="FILE",
        default=default,
        help="a `lab endpoints --json` file of a running lab (LAB_ENDPOINTS_FILE)",
    )
    group.add_argument(
        "--project",
        metavar="NAME",
        default=default,
        help="compose project name (LAB_PROJECT; default obslab)",
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
    up.add_argument(
        "--image-source",
        dest="image_source",
        choices=IMAGE_SOURCES,
        default=None,
        help="registry, local (lab/*:local images) or auto (LAB_IMAGE_SOURCE)",
    )
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
    return parser


# ------------------------------------------------------------------------------------------------
def _state_path(repo_root: Path) -> Path:
    return repo_root / STATE_FILE


def _recall(repo_root: Path, project: str) -> dict[str, Any]:
    """What the last `lab up` of this project used (so `lab status`/`down` need no repeated options)."""
    try:
        data = json.loads(_state_path(repo_root).read_text())
        entry = data.get(project, {})
        return entry if isinstance(entry, dict) else {}
    except (OSError, ValueError):
        return {}


def _remember(repo_root: Path, project: str, entry: dict[str, Any] | None) -> None:
    path = _state_path(repo_root)
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        data = {}
    if entry is None:
        data.pop(project, None)
    else:
        data[project] = entry
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _config(args: argparse.Namespace, env: dict[str, str]) -> LabConfig:
    keys = ("target", "stores", "lab_host", "endpoints_file", "project", "image_source")
    options = {k: getattr(args, k, None) for k in keys}
    if options["stores"] is None and not env.get("LAB_STORES"):
        project = options["project"] or env.get("LAB_PROJECT") or "obslab"
        options["stores"] = _recall(REPO_ROOT, project).get("stores")
    return LabConfig.from_sources(options, env)


def _choose(config: LabConfig, display: Display) -> tuple[Any, str]:
    from harness.targets import choose

    target, reason = choose(config, display=display)
    display.info(f"target {target.name}: {reason}; stores {target.config.stores}, project {config.project}")
    return target, reason


# ------------------------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    started = time.monotonic()
    target, _ = _choose(config, display)
    try:
        target.up()
        if target.name != "existing":
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
    healthy = all(
        s.startswith(("running", "reachable")) and "unhealthy" not in s and "starting" not in s
        for s in states.values()
    )
    return 0 if healthy else 1


def cmd_endpoints(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    target, _ = _choose(config, display)
    try:
        data = target.endpoints().to_dict()
    finally:
        target.close()
    if args.json:
        print(json.dumps(data, sort_keys=True))
    else:
        for key, value in data.items():
            display.info(f"  {key:<17} {value}")
    return 0


def cmd_down(args: argparse.Namespace, config: LabConfig, display: Display) -> int:
    target, _ = _choose(config, display)
    try:
        target.down(volumes=args.volumes)
        if target.name != "existing":
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
    from harness import images

    if args.images_command is None:
        raise ConfigError("`lab images` needs an action: build or list")
    _target_line_or_none(config, display)
    if args.images_command == "list":
        from harness.compose import docker_client

        listed = images.list_images(config.repo_root)
        try:
            client = docker_client(timeout=20)
            present = images.present_tags(client)
            client.close()
        except LabError:
            present = set()
        for item in listed:
            if item.tag is None:
                display.info(f"  {item.name:<15} {'-':<40} not buildable here")
                continue
            have = (
                (config.repo_root / item.tag).is_file()
                if "/" in item.tag and ":" not in item.tag
                else item.tag in present
            )
            display.info(f"  {item.name:<15} {item.tag:<40} {'present' if have else 'missing'}")
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
    script = config.repo_root / "provision" / "box" / "build.sh"
    if not script.is_file():
        print(
            "lab: not available yet: the vagrant target (issue 5) builds its box with "
            "provision/box/build.sh, which this version does not have",
            file=sys.stderr,
        )
        return 2
    display.info("target vagrant: `lab box build` makes the libvirt box the vagrant target boots")
    with display.phase(f"box: {script.relative_to(config.repo_root)}"):
        run(
            [str(script)], timeout=scaled(BOX_BUILD_TIMEOUT), cwd=config.repo_root, on_line=display.detail
        ).check("provision/box/build.sh")
    return 0


COMMANDS = {
    "up": cmd_up,
    "status": cmd_status,
    "endpoints": cmd_endpoints,
    "down": cmd_down,
    "images": cmd_images,
    "box": cmd_box,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lab`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    machine = getattr(args, "json", False)
    display = Display(stream=sys.stderr if machine else sys.stdout)
    try:
        config = _config(args, dict(os.environ))
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
