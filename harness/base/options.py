"""Every option of the lab, declared once — after Molecule's option table: its name, its environment
variable, its default, what it allows (choices or a parser), one line of help, and the commands
that have it as a flag.

An option used to be written in four places (the config, the pytest options, the `lab` options and
the README). Now :meth:`harness.base.config.LabConfig.from_sources` resolves every ``lab`` row of
:data:`OPTIONS`, the run's plugin (:mod:`harness.bdd.plugin`) adds a pytest option for every row
``pytest`` has and reads the ``run`` rows (:class:`harness.bdd.scenario.RunOptions`), the `lab`
command adds its common and ``up`` options from the rows ``lab`` and ``lab up`` have, and
``tests/harness/test_options.py`` compares the table with the README's options table (the same
variables and defaults, row for row). A new option is one row here and one row there.

Precedence, for every row: a flag given (None = not given) > the variable (an empty one counts as
unset) > the default. A bad value is one line naming the variable and the flag, and what is right.

The VM's own settings (``LAB_BOX``, ``LAB_VM_*``) are the vagrant target's, read by
:class:`harness.base.config.VmSettings` and documented in the README's vagrant section.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from harness.base import observes
from harness.base.errors import ConfigError

# The targets, one line each: name -> "module:Class". harness.lab.targets imports a class only when
# it is chosen, so a target whose dependencies are missing does not break the others.
TARGET_CLASSES: Final[Mapping[str, str]] = MappingProxyType({
    "docker": "harness.lab.targets.docker:DockerTarget",
    "vagrant": "harness.lab.targets.vagrant:VagrantTarget",
    "existing": "harness.lab.targets.existing:ExistingTarget",
})
AUTO: Final = "auto"  # not a target: the choice made when the run starts (harness.lab.targets.choose)
TARGETS: Final = (AUTO, *TARGET_CLASSES)
IMAGE_SOURCES: Final = ("auto", "registry", "local")
DESTROY_POLICIES: Final = ("passing", "always", "never")
COMPOSE_COMMANDS: Final = ("docker compose", "docker-compose")
# single: one host (today's lab); split: an app host with a collector agent and an observability
# host with the gateway and the stores, one link between them (stack/compose.split.yaml, ADR 0018).
TOPOLOGIES: Final = ("single", "split")
MAX_TIMEOUT_SCALE: Final = 100.0  # beyond this a timeout is "forever", which nothing may wait

# Which options a row belongs to (Option.scope).
LAB, RUN, SECRET = "lab", "run", "secret"  # LabConfig's fields; RunOptions'; LabConfig.secrets
# Where a row's flag exists (Option.commands).
PYTEST, REPORT, LAB_COMMON, LAB_UP = "pytest", "report", "lab", "lab up"


# ------------------------------------------------------------------------------------- the parsers
def split_host(lab_host: str) -> tuple[str, str]:
    """``LAB_HOST`` -> (scheme, host): accepts ``host``, ``http://host``, ``host/``; brackets IPv6."""
    text = lab_host.strip()
    scheme = "http"
    if "://" in text:
        scheme, text = text.split("://", 1)
    host = text.strip("/").split("/")[0]
    if not host:
        raise ConfigError(f"LAB_HOST={lab_host!r} has no host name; use e.g. LAB_HOST=192.168.121.10")
    if host.count(":") > 1 and not host.startswith("["):
        host = f"[{host}]"
    elif ":" in host and not host.startswith("["):
        raise ConfigError(
            f"LAB_HOST={lab_host!r}: give the host only, the lab's documented ports are used "
            "(or a `lab endpoints --json` file via LAB_ENDPOINTS_FILE for other ports)"
        )
    if scheme not in ("http", "https"):
        raise ConfigError(f"LAB_HOST={lab_host!r}: the scheme must be http or https")
    return scheme, host


def parse_timeout_scale(raw: str | None) -> float:
    """``LAB_TIMEOUT_SCALE`` as a finite number in (0, 100]; unset or empty is 1."""
    text = (raw or "").strip() or "1"
    hint = "use e.g. 1, 2.5 or 10"
    try:
        scale = float(text)
    except ValueError:
        raise ConfigError(f"LAB_TIMEOUT_SCALE={raw!r} is not a number; {hint}") from None
    if not math.isfinite(scale):
        raise ConfigError(f"LAB_TIMEOUT_SCALE={raw!r} is not a finite number; {hint}")
    if scale <= 0:
        raise ConfigError(f"LAB_TIMEOUT_SCALE={raw!r} must be greater than 0; {hint}")
    if scale > MAX_TIMEOUT_SCALE:
        raise ConfigError(f"LAB_TIMEOUT_SCALE={raw!r} is more than {MAX_TIMEOUT_SCALE:g}; {hint}")
    return scale


def _host(text: str) -> str:
    split_host(text)  # one-line error now, not when a target first uses it
    return text


def _endpoints_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise ConfigError(f"LAB_ENDPOINTS_FILE={text!r} does not exist; "
                          "give the path of a file written by `lab endpoints --json`")
    return path


def _project(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", text):
        raise ConfigError(f"LAB_PROJECT={text!r} is not a valid compose project name; "
                          "use lowercase letters, digits, '-' or '_'")
    return text


def _compose(text: str) -> str:
    command = " ".join(text.split())
    if command not in COMPOSE_COMMANDS:
        raise ConfigError(f"LAB_COMPOSE={command!r} is not valid; use one of: "
                          f"{', '.join(repr(c) for c in COMPOSE_COMMANDS)} (or unset it to detect)")
    return command


# ------------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Option:
    """One option: a flag (or none), a variable, a default, what it allows, where the flag is."""

    name: str  # the field it fills (LabConfig's, RunOptions'), and the key of a mapping of given options
    env: str
    default: str | None  # None: unset
    help: str  # one line (the README's row says more)
    flag: str | None = None  # None: the variable only
    choices: tuple[str, ...] = ()
    parse: Callable[[str], Any] | None = None  # text -> value; ConfigError (one line) when bad
    commands: tuple[str, ...] = ()  # where the flag is: PYTEST, REPORT, LAB_COMMON, LAB_UP
    scope: str = LAB
    metavar: str | None = None
    flag_value: str | None = None  # a flag without a value that sets this one (--keep: never)
    dest: str | None = None  # the key the flag is given under when not ``name`` (--keep: keep)
    shown_default: str | None = None  # the README's default when it is not the value ("reports/")

    @property
    def key(self) -> str:
        """The key of this row's flag in a mapping of given options (argparse's and pytest's dest)."""
        return self.dest or self.name

    @property
    def documented_default(self) -> str:
        """The default as the README's options table says it."""
        return self.shown_default or self.default or "—"

    @property
    def where(self) -> str:
        """Where a value came from, for an error: the variable, and the flag when it takes a value."""
        return f"{self.env} or {self.flag}" if self.flag and self.flag_value is None else self.env

    def described(self) -> str:
        """The help line of the flag: what it is, its variable and its default."""
        shown = self.shown_default or self.default
        default = f"; default {shown}" if shown else ""
        if self.flag_value is not None:
            return f"{self.env}={self.flag_value}: {self.help} ({self.env}{default})"
        return f"{self.help} ({self.env}{default})"

    def text(self, options: Mapping[str, object | None], env: Mapping[str, str]) -> str | None:
        """The value as text: the flag when given, else the variable (empty is unset), else the default."""
        given = options.get(self.key)
        if given is not None and given is not False:
            return self.flag_value if self.flag_value is not None else str(given)
        value = env.get(self.env)
        return value.strip() if value and value.strip() else self.default

    def value(self, options: Mapping[str, object | None], env: Mapping[str, str]) -> Any:
        """The value, checked and parsed (ConfigError in one line); None when unset."""
        text = self.text(options, env)
        if text is None:
            return None
        if self.choices and text not in self.choices:
            raise ConfigError(f"{self.name}={text!r} (from {self.where}) is not valid; use one of: "
                              f"{', '.join(self.choices)}")
        return self.parse(text) if self.parse is not None else text


OPTIONS: Final[Mapping[str, Option]] = MappingProxyType({
    o.name: o
    for o in (
        Option("target", "LAB_TARGET", AUTO, "where the lab runs (auto: vagrant if usable, else docker)",
               "--target", TARGETS, commands=(PYTEST, LAB_COMMON)),
        Option("stores", "LAB_STORES", observes.STORE_SET_NAMES[0],
               "the trace and log stores (`lab`: the last deploy's when not given)", "--stores",
               observes.STORE_SET_NAMES, commands=(PYTEST, LAB_COMMON)),
        Option("topology", "LAB_TOPOLOGY", TOPOLOGIES[0],
               "one host, or split: an app host with a collector agent and an observability host, "
               "one link between them", "--topology", TOPOLOGIES, commands=(PYTEST, LAB_COMMON)),
        Option("image_source", "LAB_IMAGE_SOURCE", "auto",
               "registry, local (lab/*:local images) or auto", "--image-source", IMAGE_SOURCES,
               commands=(PYTEST, LAB_UP)),
        Option("lab_host", "LAB_HOST", None,
               "host of a lab that already runs (its documented ports; auto then uses it)", "--lab-host",
               parse=_host, commands=(PYTEST, LAB_COMMON), metavar="HOST"),
        Option("endpoints_file", "LAB_ENDPOINTS_FILE", None, "a `lab endpoints --json` file of a running lab",
               "--endpoints-file", parse=_endpoints_file, commands=(PYTEST, LAB_COMMON), metavar="FILE"),
        Option("destroy", "LAB_DESTROY", "passing",
               "after a run: destroy the lab when the run passed, always, or never", "--keep",
               DESTROY_POLICIES, commands=(PYTEST,), flag_value="never", dest="keep"),
        Option("timeout_scale", "LAB_TIMEOUT_SCALE", "1", "multiplies every timeout",
               parse=parse_timeout_scale),
        Option("shards", "LAB_SHARDS", "1", "run on N labs at once (pytest-xdist, one lab per worker), the "
               "scenarios split by their recorded durations", "--shards", commands=(PYTEST,), scope=RUN,
               metavar="N"),
        Option("shard", "LAB_SHARD", None, "run only shard K of N on one lab, e.g. one per CI machine; "
               "`lab report merge` joins the machines' reports", "--shard", commands=(PYTEST,), scope=RUN,
               metavar="K/N"),
        Option("repeat", "LAB_REPEAT", "1", "run each selected scenario N times on its lab: one that both "
               "passed and failed is flaky, never a pass", "--repeat", commands=(PYTEST,), scope=RUN,
               metavar="N"),
        Option("project", "LAB_PROJECT", "obslab", "compose project name (the same for `lab` and pytest)",
               "--lab-project", parse=_project, commands=(PYTEST, LAB_COMMON), metavar="NAME"),
        Option("reports_dir", "LAB_REPORTS_DIR", None,
               "where results.json, cucumber.json, junit.xml and living-docs/ go", "--reports-dir",
               commands=(REPORT,), metavar="DIR", dest="lab_reports_dir", shown_default="reports/"),
        Option("registry_mirror", "LAB_REGISTRY_MIRROR", None, "registry prefix for official images",
               shown_default="docker.io"),
        Option("docker_host", "LAB_DOCKER_HOST", None,
               "the Docker engine that runs an existing lab (service control for failure scenarios)"),
        Option("compose_command", "LAB_COMPOSE", None, "the compose command (unset: detected)",
               parse=_compose, shown_default="detected"),
        Option("bind_address", "LAB_BIND_ADDRESS", "127.0.0.1",
               "where the docker target publishes the lab's ports"),
        Option("GF_SECURITY_ADMIN_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD", None, "Grafana's admin password",
               scope=SECRET, shown_default="generated"),
    )
})


def rows(*, scope: str | None = None, command: str | None = None) -> list[Option]:
    """The rows of one scope and/or whose flag one command has, in table order."""
    return [o for o in OPTIONS.values()
            if (scope is None or o.scope == scope) and (command is None or command in o.commands)]
