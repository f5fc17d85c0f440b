"""What a destroyed lab VM may leave in libvirt, found and removed with virsh: a domain vagrant no
longer knows (an ``up`` cut short by Ctrl-C before vagrant recorded the machine), this lab's
volumes, and the box's base volume vagrant-libvirt leaves in the ``default`` pool."""

from __future__ import annotations

from harness.base.progress import Display, run
from harness.base.waiting import scaled

VIRSH_TIMEOUT = 60.0


def box_volume_prefix(box: str) -> str:
    """How vagrant-libvirt names a box's base volume in the pool (``lab/debian12`` ->
    ``lab-VAGRANTSLASH-debian12_vagrant_box_image_``)."""
    return box.replace("/", "-VAGRANTSLASH-") + "_vagrant_box_image_"


class Libvirt:
    """The lab's domains and volumes in ``qemu:///system`` (``prefix`` = the lab's domain prefix)."""

    def __init__(self, prefix: str, box: str, display: Display):
        self.prefix = prefix
        self.box = box
        self.display = display

    def _virsh(self, *args: str) -> list[str]:
        result = run(["virsh", "-c", "qemu:///system", *args], timeout=scaled(VIRSH_TIMEOUT))
        result.check(f"virsh {' '.join(args)}")
        return [line.strip() for line in result.output.splitlines() if line.strip()]

    def _pool_volumes(self) -> list[str]:
        lines = self._virsh("vol-list", "default")
        # " Name   Path" header, a dashes line, then "name  /path"
        return [line.split()[0] for line in lines[2:] if line.split()]

    def _others(self, volumes: list[str]) -> list[str]:
        """Other labs' disks (another clone or VM prefix): they may use the box volume as backing file."""
        return [v for v in volumes if v.startswith("obslab-") and not v.startswith(self.prefix)]

    def leftovers(self) -> list[str]:
        """Domains and volumes of this lab (prefix), and the box's base volume unless another lab's
        disk may still use it, as virsh lists them."""
        domains = [d for d in self._virsh("list", "--all", "--name") if d.startswith(self.prefix)]
        box_prefix = box_volume_prefix(self.box)
        pool = self._pool_volumes()
        keep_box = bool(self._others(pool))
        volumes = [
            v for v in pool if v.startswith(self.prefix) or (v.startswith(box_prefix) and not keep_box)
        ]
        return [f"domain {d}" for d in domains] + [f"volume {v}" for v in volumes]

    def remove_leftovers(self) -> list[str]:
        """Undefine a domain of this lab that vagrant no longer knows (an ``up`` cut short by Ctrl-C
        before vagrant recorded the machine), then delete this lab's volumes and the box's base volume
        from the ``default`` pool — unless another lab (another clone's ``obslab-…`` volume) may still
        use that box volume as its backing file."""
        removed = []
        for domain in self._virsh("list", "--all", "--name"):
            if not domain.startswith(self.prefix):
                continue
            run(["virsh", "-c", "qemu:///system", "destroy", domain], timeout=scaled(VIRSH_TIMEOUT))
            run(
                ["virsh", "-c", "qemu:///system", "undefine", domain, "--remove-all-storage"],
                timeout=scaled(VIRSH_TIMEOUT),
            ).check(f"virsh undefine {domain}")
            removed.append(f"domain {domain}")
        volumes = self._pool_volumes()
        others = self._others(volumes)
        box_prefix = box_volume_prefix(self.box)
        for volume in volumes:
            ours = volume.startswith(self.prefix)
            box = volume.startswith(box_prefix)
            if not (ours or box):
                continue
            if box and others:
                self.display.info(f"keeping {volume}: other labs' disks ({', '.join(others)}) may use it")
                continue
            run(
                ["virsh", "-c", "qemu:///system", "vol-delete", "--pool", "default", volume],
                timeout=scaled(VIRSH_TIMEOUT),
            ).check(f"virsh vol-delete {volume}")
            removed.append(volume)
        if removed:
            self.display.detail(f"removed from pool default: {', '.join(removed)}")
        return removed
