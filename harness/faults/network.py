"""Network faults on the lab's own network, one link at a time: packets from one service's
container to another's delayed (``tc netem``) or dropped (an nftables rule), made in the sending
container's network namespace with ``nsenter`` on the host that runs the containers, through the
root shell the target gives (:meth:`harness.lab.targets.base.Target.host_shell`: this host for the
docker target, the lab VM over ssh for the vagrant target; a target without one cannot do this).

Only the one link is touched: netem sits on its own band of a ``prio`` qdisc that a u32 filter
feeds with the destination's address alone; the drop rule names the destination's address alone;
both live in the container's namespace and go away when it restarts. Why these tools and not
``docker network disconnect`` or a Toxiproxy: docs/adr/0009-network-faults-and-telemetry-accounting.md.

Every fault is removed by :meth:`NetworkFaults.clear` (idempotent), also when the step fails.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.base import evidence, timeouts
from harness.base.errors import LabError
from harness.lab.engine.model import SERVICE_LABEL
from harness.lab.targets.base import NotSupported

if TYPE_CHECKING:
    from harness.lab.targets.base import Target

NFT_TABLE = "lab_netfault"
HOST_TIMEOUT = timeouts.base("fault")
NO_NETEM = "Specified qdisc kind is unknown"


@dataclass(frozen=True)
class Link:
    """Packets from ``source``'s container to ``dest``'s (compose service names)."""

    source: str
    dest: str

    def __str__(self) -> str:
        return f"{self.source} → {self.dest}"


@dataclass(frozen=True)
class Endpoint:
    service: str
    pid: int
    addresses: Mapping[str, str]  # network name -> IPv4 address


def endpoints(target: Target) -> dict[str, Endpoint]:
    """Service -> its running container's pid and addresses, from the engine's inspect documents."""
    out: dict[str, Endpoint] = {}
    for doc in target.engine.inspect_project():
        state = doc.get("State") or {}
        if state.get("Status") != "running" or not state.get("Pid"):
            continue
        service = ((doc.get("Config") or {}).get("Labels") or {}).get(SERVICE_LABEL, "")
        networks = (doc.get("NetworkSettings") or {}).get("Networks") or {}
        addresses = {name: n.get("IPAddress") for name, n in networks.items() if n.get("IPAddress")}
        out.setdefault(service, Endpoint(service, int(state["Pid"]), addresses))
    return out


def _resolve(target: Target, link: Link, known: dict[str, Endpoint] | None = None) -> tuple[Endpoint, str]:
    found = known if known is not None else endpoints(target)
    for name in (link.source, link.dest):
        if name not in found:
            raise LabError(f"network fault on {link}: no running container for {name!r} "
                           f"(running: {', '.join(sorted(found)) or 'none'})")
    source, dest = found[link.source], found[link.dest]
    shared = sorted(set(source.addresses) & set(dest.addresses))
    if not shared:
        raise LabError(f"network fault on {link}: the two containers share no network")
    return source, dest.addresses[shared[0]]


def delay_script(pid: int, address: str, delay_ms: int) -> str:
    """tc netem on the band that only packets to ``address`` enter (the rest is untouched)."""
    ns = f"nsenter -t {pid} -n"
    return (
        "set -e; "
        f"dev=$({ns} ip -o route get {address} | awk '{{for (i = 1; i < NF; i++) if ($i == \"dev\") "
        "{ print $(i + 1); exit }}'); "
        f'{ns} tc qdisc del dev "$dev" root 2>/dev/null || true; '
        f'{ns} tc qdisc add dev "$dev" root handle 1: prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1; '
        f'{ns} tc qdisc add dev "$dev" parent 1:4 handle 40: netem delay {int(delay_ms)}ms; '
        f'{ns} tc filter add dev "$dev" parent 1: protocol ip prio 1 u32 '
        f"match ip dst {address}/32 flowid 1:4; "
        f'{ns} tc qdisc show dev "$dev"'
    )


def drop_script(pid: int, address: str) -> str:
    """An nftables table of our own in the namespace that drops every packet to ``address``."""
    ns = f"nsenter -t {pid} -n"
    rules = (f"table inet {NFT_TABLE} {{\n"
             "  chain output { type filter hook output priority 0; policy accept; "
             f"ip daddr {address} drop; }}\n"
             "}")
    return (f"set -e; {ns} nft delete table inet {NFT_TABLE} 2>/dev/null || true; "
            f"printf '%s\\n' {shlex.quote(rules)} | {ns} nft -f -; {ns} nft list table inet {NFT_TABLE}")


def clear_script(pid: int, address: str) -> str:
    ns = f"nsenter -t {pid} -n"
    return (f"dev=$({ns} ip -o route get {address} | awk '{{for (i = 1; i < NF; i++) if ($i == \"dev\") "
            "{ print $(i + 1); exit }}'); "
            f'{ns} tc qdisc del dev "$dev" root 2>/dev/null; '
            f"{ns} nft delete table inet {NFT_TABLE} 2>/dev/null; true")


# The split topology's one link between the hosts (stack/compose.split.yaml, ADR 0018): a router
# container; a fault on it is in its namespace, on what it forwards (every packet between the hosts).
HOSTS_LINK = "link"
HOSTS = Link("app host", "obs host")  # how a fault on the link between the hosts names it


def _link_devices(ns: str) -> str:
    """The link's interfaces but loopback, as a shell word list."""
    return f"$({ns} ip -o link show | awk -F': ' '{{print $2}}' | cut -d@ -f1 | grep -v '^lo$')"


def hosts_drop_script(pid: int, percent: int | None = None) -> str:
    """An nftables table of our own in the link's namespace that drops what it forwards: all of it
    (a partition), or ``percent`` % of packets at random (``numgen random``: no netem needed)."""
    ns = f"nsenter -t {pid} -n"
    match = f"numgen random mod 100 < {int(percent)} " if percent is not None else ""
    rules = (f"table inet {NFT_TABLE} {{\n"
             "  chain forward { type filter hook forward priority -10; policy accept; "
             f"{match}drop; }}\n"
             "}")
    return (f"set -e; {ns} nft delete table inet {NFT_TABLE} 2>/dev/null || true; "
            f"printf '%s\\n' {shlex.quote(rules)} | {ns} nft -f -; {ns} nft list table inet {NFT_TABLE}")


def hosts_delay_script(pid: int, delay_ms: int) -> str:
    """tc netem on each of the link's interfaces: every packet between the hosts waits ``delay_ms``
    longer on the way (each direction leaves through one of them)."""
    ns = f"nsenter -t {pid} -n"
    return ("set -e; "
            f"for dev in {_link_devices(ns)}; do "
            f'{ns} tc qdisc replace dev "$dev" root netem delay {int(delay_ms)}ms; '
            f'{ns} tc qdisc show dev "$dev"; done')


def hosts_clear_script(pid: int) -> str:
    ns = f"nsenter -t {pid} -n"
    return (f"for dev in {_link_devices(ns)}; do "
            f'{ns} tc qdisc del dev "$dev" root 2>/dev/null; done; '
            f"{ns} nft delete table inet {NFT_TABLE} 2>/dev/null; true")


class NetworkFaults:
    """Faults on the links of one target's lab; remembers what it set, so :meth:`clear` undoes it."""

    def __init__(self, target: Target):
        self.target = target
        self.shell = target.host_shell()  # NotSupported, with the target's reason, when it has none
        self._applied: dict[Link, tuple[int, str]] = {}
        self._known: dict[str, Endpoint] | None = None

    def prepare(self) -> NetworkFaults:
        """Look the containers up now, so that a fault set later during traffic starts at once.

        Reading every container's pid and addresses is one ``docker inspect`` over ssh on the
        vagrant target, and it took 16 s in a TCG VM serving traffic: longer than a third of a
        20-second run, so a fault looked up when it was due began after the traffic had ended. Only
        for faults on containers that are not restarted in between (a new container has a new pid).
        """
        self._known = endpoints(self.target)
        return self

    def _apply(self, link: Link, kind: str, script_for: Any) -> float:
        """Set the fault; the time its command began (the fault may be in place from then)."""
        source, address = _resolve(self.target, link, self._known)
        began = time.time()
        result = self.shell.run(script_for(source.pid, address), HOST_TIMEOUT)
        if not result.ok:
            self.shell.run(clear_script(source.pid, address), HOST_TIMEOUT)
            if NO_NETEM in result.output:
                raise NotSupported(f"the kernel of {self.shell.where} has no netem qdisc "
                                   f"(sch_netem/sch_prio): tc netem cannot delay {link} there")
            raise LabError(f"{kind} on {link} in {self.shell.where} failed: {result.tail(5)}")
        self._applied[link] = (source.pid, address)
        evidence.attach("command", f"network fault: {kind} on {link}", where=self.shell.where,
                        address=address, output=evidence.trim(result.output, 1500),
                        seconds=round(time.time() - began, 1))
        return began

    def delay(self, link: Link, delay_ms: int) -> float:
        """Every packet from ``link.source`` to ``link.dest`` waits ``delay_ms`` longer; the time
        the command that set it began."""
        if not 0 < delay_ms <= 10_000:
            raise ValueError(f"a delay of {delay_ms} ms is out of range; use 1 to 10000 ms")
        return self._apply(link, f"{delay_ms} ms delay", lambda pid, ip: delay_script(pid, ip, delay_ms))

    def partition(self, link: Link) -> float:
        """Every packet from ``link.source`` to ``link.dest`` is dropped (TCP stalls, new connections
        time out), until :meth:`clear`; the time the command that set it began."""
        return self._apply(link, "partition", drop_script)

    def clear(self, link: Link | None = None) -> None:
        """Remove the fault on ``link`` (every fault this object set, when None)."""
        for one in [link] if link is not None else list(self._applied):
            if one == HOSTS:
                self.clear_hosts()
                continue
            known = self._applied.pop(one, None)
            if known is None:
                try:
                    source, address = _resolve(self.target, one)
                except LabError:
                    continue  # the container is gone: so is its namespace and the fault
                known = (source.pid, address)
            result = self.shell.run(clear_script(*known), HOST_TIMEOUT)
            evidence.attach("command", f"network fault cleared on {one}", where=self.shell.where,
                            exit_code=result.exit_code)

    # ------------------------------------------------------- the link between the hosts (split topology)
    def _link_pid(self) -> int:
        found = self._known if self._known is not None else endpoints(self.target)
        if HOSTS_LINK not in found:
            raise LabError(f"a fault between the hosts needs the split topology's {HOSTS_LINK!r} container "
                           f"(running: {', '.join(sorted(found)) or 'none'}; is the lab --topology split?)")
        return found[HOSTS_LINK].pid

    def between_hosts(self, kind: str, *, percent: int | None = None, delay_ms: int | None = None) -> float:
        """Cut the link between the hosts (``percent`` None, ``delay_ms`` None), drop ``percent`` % of
        its packets, or delay them by ``delay_ms``; the time the command that set it began."""
        pid = self._link_pid()
        script = (hosts_delay_script(pid, delay_ms) if delay_ms is not None
                  else hosts_drop_script(pid, percent))
        began = time.time()
        result = self.shell.run(script, HOST_TIMEOUT)
        if not result.ok:
            self.shell.run(hosts_clear_script(pid), HOST_TIMEOUT)
            if NO_NETEM in result.output:
                raise NotSupported(f"the kernel of {self.shell.where} has no netem qdisc (sch_netem): "
                                   f"tc netem cannot delay {HOSTS} there")
            raise LabError(f"{kind} on {HOSTS} in {self.shell.where} failed: {result.tail(5)}")
        self._applied[HOSTS] = (pid, "")
        evidence.attach("command", f"network fault: {kind} on {HOSTS}", where=self.shell.where,
                        output=evidence.trim(result.output, 1500), seconds=round(time.time() - began, 1))
        return began

    def clear_hosts(self) -> None:
        """Remove every fault on the link between the hosts (idempotent)."""
        known = self._applied.pop(HOSTS, None)
        try:
            pid = known[0] if known is not None else self._link_pid()
        except LabError:
            return  # no link container: no fault on it
        result = self.shell.run(hosts_clear_script(pid), HOST_TIMEOUT)
        evidence.attach("command", f"network fault cleared on {HOSTS}", where=self.shell.where,
                        exit_code=result.exit_code)

    def can_delay(self, link: Link = Link("backend", "otel-collector")) -> str | None:
        """None when ``link`` can be delayed here (tried with 1 ms, then cleared); else why not."""
        try:
            self.delay(link, 1)
        except (NotSupported, LabError) as exc:
            return str(exc)
        finally:
            self.clear(link)
        return None
