"""The boot watchdog: a ``vagrant up`` whose guest makes no progress on its serial console is
stopped instead of waited for.

On hosts of our kind nested KVM either aborts a guest at once or lets it hang silently after GRUB
("Loading initial ramdisk ..."); vagrant-libvirt then waits for an address until its own timeout.
From the moment vagrant starts the domain until the guest is up, the VM's serial console log (the
Vagrantfile has libvirt write it under reports/) must keep growing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from harness.base.errors import LabError
from harness.base.progress import CommandResult
from harness.base.waiting import scaled

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# The boot watchdog: seconds (before LAB_TIMEOUT_SCALE, and never more than STALL_CAP after it)
# that a booting guest may print nothing on its serial console. A healthy boot under TCG prints
# every few seconds (GRUB, the kernel, systemd: the box's kernel command line has
# console=ttyS0 and no "quiet").
STALL_AFTER = 30.0
STALL_CAP = 180.0
# vagrant's and vagrant-libvirt's own lines: the domain was started / the guest is up.
BOOT_STARTED = ("Starting domain", "Waiting for domain to get an IP address")
BOOT_DONE = ("Waiting for SSH to become available", "SSH address:", "Machine booted and ready")
GUEST_UP = re.compile(r"login:|Reached target .*Multi-User")


def stall_after() -> float:
    """Seconds of serial silence that stop a boot (scaled, capped: a hang costs minutes, not hours)."""
    return min(scaled(STALL_AFTER), max(STALL_CAP, STALL_AFTER))


class BootStalled(LabError):
    """The guest made no progress on its serial console while booting; ``last`` is what it printed
    last (GRUB's "Loading initial ramdisk ..." on a host whose nested KVM hangs guests)."""

    def __init__(self, message: str, last: str, result: CommandResult | None = None,
                 log: Path | None = None):
        super().__init__(message)
        self.result = result
        self.log = log
        self.last = last


class BootWatch:
    """Watches one ``vagrant up``: armed when vagrant starts the domain, disarmed once the guest is
    up (vagrant reaches SSH, or the serial console shows a login prompt). While armed, the serial
    log must change at least every ``stall_after`` seconds; ``__call__`` (polled by
    :func:`harness.base.progress.run`) returns the reason to stop when it did not."""

    def __init__(self, serial_log: Path, stall_after: float, clock: Callable[[], float] = time.monotonic):
        self.serial_log = Path(serial_log)
        self.stall_after = stall_after
        self.clock = clock
        self.armed = False
        self.done = False
        self._size = -1
        self._since = 0.0
        self.last_line = ""

    def on_line(self, line: str) -> None:
        """A line of vagrant's output."""
        if self.done:
            return
        if not self.armed and any(m in line for m in BOOT_STARTED):
            self.armed = True
            self._size = self._serial_size()
            self._since = self.clock()
        if any(m in line for m in BOOT_DONE):
            self.done, self.armed = True, False

    def _serial_size(self) -> int:
        try:
            return self.serial_log.stat().st_size
        except OSError:
            return -1

    def _tail(self) -> str:
        try:
            with self.serial_log.open("rb") as fh:
                fh.seek(max(0, self._serial_size() - 4096))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [ln.strip() for ln in _ANSI.sub("", text).replace("\r", "\n").splitlines() if ln.strip()]
        return lines[-1][:160] if lines else ""

    def __call__(self) -> str | None:
        if not self.armed:
            return None
        size = self._serial_size()
        now = self.clock()
        if size != self._size:
            self._size, self._since = size, now
            self.last_line = self._tail()
            if GUEST_UP.search(self.last_line):
                self.done, self.armed = True, False
            return None
        if now - self._since < self.stall_after:
            return None
        self.last_line = self._tail()
        shown = f"last: {self.last_line!r}" if self.last_line else "it printed nothing"
        return (f"the guest made no boot progress for {now - self._since:.0f}s on its serial console "
                f"({self.serial_log}; {shown})")
