"""provision/vm/bootstrap.sh, run for real against a file tree (LAB_ROOT, dry run) and in a container.

The VM run itself (vagrant up + provision twice) is measured in docs/adr/0002-vagrant-vms.md; these
tests pin what the script writes and that a second run changes nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = REPO / "provision" / "vm" / "bootstrap.sh"
LAB_PORTS = [8080, 5000, 3000, 9090, 3200, 3100, 16686, 9428, 4317, 4318, 13133, 8888]
INSECURE_RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2"
    "YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7Pt"
    "ixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R"
    "4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key"
)
REAL_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHn6cJk8mJ9cQ0x2QnJxw8bGQ3lqz4m3z0m6y8Qq3k1f generated@host"

DEBIAN_SSHD_CONFIG = """\
Include /etc/ssh/sshd_config.d/*.conf
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem\tsftp\t/usr/lib/openssh/sftp-server
"""


def make_root(tmp_path: Path, *, vagrant_keys: str | None = REAL_KEY + "\n") -> Path:
    """A minimal Debian-like tree for LAB_ROOT."""
    root = tmp_path / "root"
    (root / "etc" / "ssh" / "sshd_config.d").mkdir(parents=True)
    (root / "etc" / "ssh" / "sshd_config").write_text(DEBIAN_SSHD_CONFIG)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\nvagrant:x:1000:1000::/home/vagrant:/bin/bash\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\nvagrant:x:1000:\ndocker:x:107:\n")
    (root / "etc" / "shadow").write_text("root:*:19000:0:99999:7:::\nvagrant:!:19000:0:99999:7:::\n")
    (root / "etc" / "os-release").write_text("ID=debian\nVERSION_CODENAME=bookworm\n")
    if vagrant_keys is not None:
        ssh = root / "home" / "vagrant" / ".ssh"
        ssh.mkdir(parents=True)
        (ssh / "authorized_keys").write_text(vagrant_keys)
    return root


def run_bootstrap(root: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LAB_ROOT": str(root),
        "LAB_DRY_RUN": "1",
        "LAB_SKIP_PACKAGES": "1",
        **env,
    }
    proc = subprocess.run(
        ["bash", str(BOOTSTRAP)], env=full_env, capture_output=True, text=True, timeout=60, check=False
    )
    if check:
        assert proc.returncode == 0, f"bootstrap failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def changed_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("changed: ")]


def test_first_run_writes_every_item_and_second_run_changes_nothing(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    first = run_bootstrap(root)
    changed = changed_lines(first.stdout)
    assert any("daemon.json" in line for line in changed), first.stdout
    assert any("sshd hardening" in line for line in changed), first.stdout
    assert any("firewall unit" in line for line in changed), first.stdout
    assert any("user deploy created" in line for line in changed), first.stdout
    assert "would: useradd" in first.stdout  # dry run: commands printed, not run

    second = run_bootstrap(root)
    assert changed_lines(second.stdout) == [], second.stdout
    assert "bootstrap: 0 changed" in second.stdout
    assert "would: " not in second.stdout, "a second run must not want to run anything"


def test_docker_api_stays_off_tcp(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (root / "etc" / "docker").mkdir(parents=True)
    (root / "etc" / "docker" / "daemon.json").write_text(
        '{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]}\n'
    )
    dropins = root / "etc" / "systemd" / "system" / "docker.service.d"
    dropins.mkdir(parents=True)
    (dropins / "override.conf").write_text(
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// -H tcp://0.0.0.0:2376\n"
    )
    (dropins / "limits.conf").write_text("[Service]\nLimitNOFILE=1048576\n")
    out = run_bootstrap(root).stdout
    daemon = (root / "etc" / "docker" / "daemon.json").read_text()
    assert "tcp://" not in daemon and '"hosts"' not in daemon
    assert not (dropins / "override.conf").exists(), "a drop-in adding a TCP host must go"
    assert (dropins / "limits.conf").exists(), "unrelated drop-ins stay"
    assert "changed: docker TCP listeners removed" in out


def test_sshd_hardening_and_validated_by_sshd(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    run_bootstrap(root)
    dropin = root / "etc" / "ssh" / "sshd_config.d" / "01-obslab-hardening.conf"
    text = dropin.read_text()
    for line in ("PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin no"):
        assert line in text.splitlines()
    assert "AllowTcpForwarding no" not in text, "vagrant-libvirt's forwarded ports are ssh -L tunnels"

    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    if sshd is None:
        pytest.skip("sshd not installed: drop-in content checked, effective config not")
    # The effective config sshd derives from Debian's main file + our drop-in (first value wins).
    hostkey = tmp_path / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)],
                   check=True, timeout=30)
    cfg = tmp_path / "sshd_config"
    cfg.write_text(
        DEBIAN_SSHD_CONFIG.replace("/etc/ssh/sshd_config.d/*.conf", str(dropin))
        + "PasswordAuthentication yes\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd -T insists on its privilege separation dir
    proc = subprocess.run(
        [sshd, "-T", "-f", str(cfg), "-h", str(hostkey)],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    effective = set(proc.stdout.lower().splitlines())
    assert {"passwordauthentication no", "permitrootlogin no", "kbdinteractiveauthentication no"} <= effective


def test_sshd_config_without_include_gets_one(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (root / "etc" / "ssh" / "sshd_config").write_text("PasswordAuthentication yes\nUsePAM yes\n")
    out = run_bootstrap(root).stdout
    main = (root / "etc" / "ssh" / "sshd_config").read_text().splitlines()
    assert main[0] == "Include /etc/ssh/sshd_config.d/*.conf", "the drop-in must be read before the old value"
    assert "changed: sshd_config includes sshd_config.d" in out


def test_firewall_rules_allow_exactly_ssh_and_lab_ports(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    run_bootstrap(root)
    rules = (root / "etc" / "obslab" / "firewall.nft").read_text()
    assert "table inet obslab" in rules
    assert "flush ruleset" not in rules, "Docker's iptables-nft tables must survive a reload"
    assert "policy drop" in rules
    elements = rules.split("elements = {", 1)[1].split("}", 1)[0]
    assert sorted(int(p) for p in elements.replace(",", " ").split()) == sorted(LAB_PORTS)
    assert "tcp dport 22 accept" in rules
    assert "ct original proto-dst @lab_tcp_ports" in rules  # published container ports
    unit = (root / "etc" / "systemd" / "system" / "obslab-firewall.service").read_text()
    assert "ExecStart=/usr/sbin/nft -f /etc/obslab/firewall.nft" in unit

    nft = shutil.which("nft") or ("/usr/sbin/nft" if Path("/usr/sbin/nft").exists() else None)
    if nft is None:
        pytest.skip("nft not installed: rules not syntax-checked")
    proc = subprocess.run([nft, "-c", "-f", str(root / "etc/obslab/firewall.nft")],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr


def test_custom_ports_reach_the_firewall(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    run_bootstrap(root, LAB_PORTS="8080 9999", LAB_SSH_PORT="2222")
    rules = (root / "etc" / "obslab" / "firewall.nft").read_text()
    assert "elements = { 8080, 9999 }" in rules
    assert "tcp dport 2222 accept" in rules


@pytest.mark.parametrize("ports", ["8080 http", "0", "70000", "80;reboot"])
def test_bad_ports_are_refused(tmp_path: Path, ports: str) -> None:
    proc = run_bootstrap(make_root(tmp_path), check=False, LAB_PORTS=ports)
    assert proc.returncode == 2
    assert "bad port" in proc.stderr


def test_deploy_key_from_env_and_insecure_key_never_trusted(tmp_path: Path) -> None:
    root = make_root(tmp_path, vagrant_keys=INSECURE_RSA + "\n" + REAL_KEY + "\n")
    out = run_bootstrap(root).stdout
    keys = (root / "home" / "deploy" / ".ssh" / "authorized_keys").read_text()
    assert keys == REAL_KEY + "\n", "the vagrant user's keys minus the insecure one"
    assert "the vagrant user's keys" in out

    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherOtherOtherOtherOtherOtherOtherOther1 harness"
    out = run_bootstrap(root, LAB_DEPLOY_PUBKEY=other).stdout
    assert (root / "home" / "deploy" / ".ssh" / "authorized_keys").read_text() == other + "\n"
    assert "changed: deploy authorized_keys (1 key(s) from LAB_DEPLOY_PUBKEY)" in out


def test_only_the_insecure_key_is_refused(tmp_path: Path) -> None:
    root = make_root(tmp_path, vagrant_keys=INSECURE_RSA + "\n")
    proc = run_bootstrap(root, check=False)
    assert proc.returncode == 1
    assert "insecure key is refused" in proc.stderr
    proc = run_bootstrap(root, check=False, LAB_DEPLOY_PUBKEY="not a key")
    assert proc.returncode == 1
    assert "does not look like an OpenSSH public key" in proc.stderr


def test_unknown_docker_source_is_refused(tmp_path: Path) -> None:
    proc = run_bootstrap(make_root(tmp_path), check=False, LAB_DOCKER_SOURCE="snap")
    assert proc.returncode == 2


def _docker_image(image: str) -> bool:
    if shutil.which("docker") is None:
        return False
    proc = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=30, check=False)
    return proc.returncode == 0


@pytest.mark.docker
def test_real_run_in_a_container_creates_the_deploy_user_once() -> None:
    """Not a dry run: useradd/usermod/chown for real in a throwaway Debian container, run twice."""
    image = "lab/base:bookworm"
    if not _docker_image(image):
        pytest.skip(f"needs Docker and the local image {image} (stack/images/build.sh)")
    script = (
        "set -e; mkdir -p /home/vagrant/.ssh /etc/ssh/sshd_config.d; "
        f"printf '%s\\n' '{INSECURE_RSA}' '{REAL_KEY}' > /home/vagrant/.ssh/authorized_keys; "
        "useradd -M vagrant; "
        "LAB_SKIP_PACKAGES=1 bash /bootstrap.sh > /tmp/first; "
        "LAB_SKIP_PACKAGES=1 bash /bootstrap.sh > /tmp/second; "
        "cat /tmp/first; echo ===; cat /tmp/second; echo ===; "
        "id deploy; stat -c '%a %U' /home/deploy/.ssh /home/deploy/.ssh/authorized_keys; "
        "getent shadow deploy | cut -d: -f2; cat /home/deploy/.ssh/authorized_keys"
    )
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{BOOTSTRAP}:/bootstrap.sh:ro",
         image, "bash", "-c", script],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, second, facts = proc.stdout.split("===\n")
    assert "changed: user deploy created" in first
    assert "changed: group docker created" in first
    assert changed_lines(second) == [], second
    assert "bootstrap: 0 changed" in second
    lines = facts.splitlines()
    assert "groups=" in lines[0] and "(docker)" in lines[0], lines[0]
    assert lines[1] == "700 deploy" and lines[2] == "600 deploy"
    assert lines[3] == "*", "no password at all: key-only"
    assert lines[4:] == [REAL_KEY]
