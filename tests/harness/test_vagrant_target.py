"""The vagrant target's decisions, without a VM: reuse by configuration fingerprint, which images
travel, endpoints through forwarded ports, the engine in the VM read from `docker inspect`, and the
ssh/rsync/pipe plumbing run against a fake ssh that executes locally."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from harness import remote as hr
from harness import vm_posture
from harness.config import LabConfig
from harness.errors import ConfigError, LabError
from harness.progress import Display
from harness.targets import vagrant as tv
from harness.targets.base import Endpoints
from harness.vagrant import NOT_CREATED, POWEROFF, RUNNING

FIXTURES = Path(__file__).parent / "fixtures" / "vagrant"
REPO = Path(__file__).parents[2]


# --- configuration fingerprint -------------------------------------------------------------------------
def _repo(tmp_path: Path) -> Path:
    (tmp_path / "provision" / "vm").mkdir(parents=True)
    (tmp_path / "Vagrantfile").write_text(
        'cpus = ENV.fetch("LAB_VM_CPUS", "2")\nENV["LAB_REPORTS_DIR"]\n'
        'env: {"LAB_DOCKER_SOURCE" => ENV["LAB_DOCKER_SOURCE"]}\n'
    )
    (tmp_path / "provision" / "vm" / "bootstrap.sh").write_text(
        'echo "${LAB_DOCKER_SOURCE:-debian} ${LAB_ROOT:-}"\n'
    )
    return tmp_path


def test_fingerprint_is_stable_and_ignores_unrelated_settings(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    first = tv.fingerprint(root, {})
    assert tv.fingerprint(root, {"LAB_STORES": "tempo-loki", "LAB_TIMEOUT_SCALE": "5"}) == first
    assert tv.fingerprint(root, {"LAB_REPORTS_DIR": "/elsewhere"}) == first  # where the serial log goes
    assert tv.fingerprint(root, {"LAB_ROOT": "/x"}) == first  # the script's test-only variable, not passed


def test_fingerprint_follows_the_vagrantfile_its_variables_and_provisioning(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    base = tv.fingerprint(root, {})
    cpus = tv.fingerprint(root, {"LAB_VM_CPUS": "4"})
    assert cpus["machine"] != base["machine"] and cpus["provision"] == base["provision"]
    docker = tv.fingerprint(root, {"LAB_DOCKER_SOURCE": "official"})
    assert docker["provision"] != base["provision"] and docker["machine"] == base["machine"]
    (root / "provision" / "vm" / "bootstrap.sh").write_text("echo changed\n")
    assert tv.fingerprint(root, {})["provision"] != base["provision"]
    (root / "Vagrantfile").write_text("# edited\n")
    assert tv.fingerprint(root, {})["machine"] != base["machine"]
    assert tv.fingerprint(root, {"LAB_BOX": "debian/bookworm64"})["box"] == "debian/bookworm64"


def test_fingerprint_of_this_repository_names_the_vagrantfiles_variables() -> None:
    if not (REPO / "Vagrantfile").is_file():
        pytest.skip("no Vagrantfile in this checkout")
    base = tv.fingerprint(REPO, {})
    assert tv.fingerprint(REPO, {"LAB_VM_MEMORY": "8192"})["machine"] != base["machine"]
    assert tv.fingerprint(REPO, {"LAB_VM_PORT_OFFSET": "10000"})["machine"] != base["machine"]


CURRENT = {"machine": "m1", "provision": "p1", "box": "lab/debian12"}


@pytest.mark.parametrize(
    ("state", "saved", "action"),
    [
        (NOT_CREATED, None, "up"),
        (NOT_CREATED, CURRENT, "up"),
        (RUNNING, CURRENT, "reuse"),
        (RUNNING, {**CURRENT, "provision": "p0"}, "provision"),
        (RUNNING, {**CURRENT, "machine": "m0"}, "reload"),
        (RUNNING, None, "provision"),
        (RUNNING, {**CURRENT, "box": "debian/bookworm64"}, "recreate"),
        (POWEROFF, CURRENT, "up"),
        (POWEROFF, {**CURRENT, "provision": "p0"}, "up-provision"),
        (POWEROFF, None, "up-provision"),
    ],
)
def test_what_to_do_with_the_vm(state: str, saved: dict[str, str] | None, action: str) -> None:
    got, reason = tv.vm_action(state, saved, CURRENT)
    assert got == action and reason


def test_state_file_round_trip(tmp_path: Path) -> None:
    tv.save_state(tmp_path, {"fingerprint": CURRENT, "domain": "x_lab"})
    assert tv.load_state(tmp_path)["fingerprint"] == CURRENT
    tv.save_state(tmp_path, None)
    assert tv.load_state(tmp_path) == {}
    (tmp_path / tv.STATE_FILE).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / tv.STATE_FILE).write_text("{not json")
    assert tv.load_state(tmp_path) == {}


# --- images ------------------------------------------------------------------------------------------
def test_only_images_whose_id_differs_are_sent() -> None:
    local = {
        "lab/backend:local": "sha256:b2",
        "lab/frontend:local": "sha256:f1",
        "lab/jaeger:local": "sha256:j1",
    }
    remote = {"lab/backend:local": "sha256:b1", "lab/frontend:local": "sha256:f1"}
    wanted = ["lab/frontend:local", "lab/backend:local", "lab/jaeger:local"]
    assert hr.images_to_send(wanted, local, remote) == ["lab/backend:local", "lab/jaeger:local"]
    assert hr.images_to_send(wanted, local, local) == []


def test_an_image_missing_here_cannot_be_sent() -> None:
    with pytest.raises(LabError, match="lab/victorialogs:local"):
        hr.images_to_send(["lab/victorialogs:local"], {}, {})


def test_image_list_parsing() -> None:
    text = (
        "lab/backend:local sha256:aaa\n<none>:<none> sha256:bbb\nlab/base:bookworm sha256:ccc\n"
        "garbage line here\n"
    )
    assert hr.parse_image_ids(text) == {"lab/backend:local": "sha256:aaa", "lab/base:bookworm": "sha256:ccc"}


# --- the engine in the VM ----------------------------------------------------------------------------
def test_containers_from_docker_inspect_json() -> None:
    infos = tv.infos_from_inspect((FIXTURES / "docker-inspect.json").read_text())
    assert [i.service for i in infos] == ["backend", "frontend"]
    front = infos[1]
    assert front.ready and front.state_text == "running (healthy)"
    assert front.published == (("127.0.0.3", 8080),)
    assert tv.infos_from_inspect("") == [] and tv.infos_from_inspect("[]") == []


def test_one_off_containers_are_not_services() -> None:
    data = json.loads((FIXTURES / "docker-inspect.json").read_text())
    data[0]["Config"]["Labels"]["com.docker.compose.oneoff"] = "True"
    assert len(tv.infos_from_inspect(json.dumps(data))) == 1


# --- endpoints and settings ----------------------------------------------------------------------------
def test_endpoints_go_through_forwarded_ports_on_loopback(tmp_path: Path) -> None:
    target = tv.VagrantTarget(LabConfig(target="vagrant", reports_dir=tmp_path), Display.silent(), env={})
    ep = target.endpoints()
    assert ep.frontend == "http://127.0.0.1:8080" and ep.traces == "http://127.0.0.1:16686"
    assert ep.target == "vagrant"


def test_endpoints_with_a_port_offset_or_the_vm_address(tmp_path: Path) -> None:
    config = LabConfig(target="vagrant", reports_dir=tmp_path)
    shifted = tv.VagrantTarget(config, Display.silent(), env={"LAB_VM_PORT_OFFSET": "10000"}).endpoints()
    assert (
        shifted.frontend == "http://127.0.0.1:18080" and shifted.collector_health == "http://127.0.0.1:23133"
    )
    direct = tv.VagrantTarget(config, Display.silent(), env={"LAB_VM_FORWARD_PORTS": "0"}).endpoints()
    assert direct.frontend == "http://10.77.0.10:8080"
    given = tv.VagrantTarget(config.with_(lab_host="10.77.0.20"), Display.silent(), env={}).endpoints()
    assert given.prometheus == "http://10.77.0.20:9090"


def test_shift_ports_keeps_grafana_absent_or_present() -> None:
    ep = tv.shift_ports(Endpoints.for_host("127.0.0.1", "vagrant", "tempo-loki"), 5)
    assert ep.grafana == "http://127.0.0.1:3005" and ep.logs == "http://127.0.0.1:3105"
    assert (
        tv.shift_ports(Endpoints.for_host("127.0.0.1", "vagrant", "jaeger-victorialogs"), 5).grafana is None
    )


def test_settings_errors_and_defaults(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LAB_VM_PORT_OFFSET='ten'"):
        tv.VmSettings.from_env({"LAB_VM_PORT_OFFSET": "ten"}, tmp_path)
    settings = tv.VmSettings.from_env({}, tmp_path)
    assert settings.box == "lab/debian12" and not settings.box_given
    assert settings.domain.startswith("obslab-") and settings.domain.endswith("_lab")
    assert tv.box_volume_prefix("lab/debian12") == "lab-VAGRANTSLASH-debian12_vagrant_box_image_"


def test_domain_prefix_is_the_vagrantfiles() -> None:
    vagrantfile = REPO / "Vagrantfile"
    if not vagrantfile.is_file():
        pytest.skip("no Vagrantfile in this checkout")
    text = vagrantfile.read_text()
    assert "obslab-" in text and "sha1" in text.lower() and "LAB_VM_PREFIX" in text


def test_vm_compose_env_forwards_what_the_compose_files_name(tmp_path: Path) -> None:
    from harness import deploy

    config = LabConfig(target="vagrant", reports_dir=tmp_path)
    env = {"LAB_NGINX_VERSION": "1.99.0", "LAB_BIND_ADDRESS": "127.0.0.3", "UNRELATED": "x"}
    target = tv.VagrantTarget(config, Display.silent(), env=env)
    plan = deploy.DeployPlan(
        project="obslab",
        stores=config.stores,
        images=deploy.ImageSource("local", "test"),
        files=deploy.compose_files(config.stack_dir, config.stores, "local"),
        env={"LAB_STORES": config.stores},
        stack_dir=config.stack_dir,
    )
    got = target.vm_compose_env(plan)
    assert got["LAB_NGINX_VERSION"] == "1.99.0" and "UNRELATED" not in got
    assert got["LAB_BIND_ADDRESS"] == "0.0.0.0"  # the host's bind address is not the VM's
    assert "frontend" in target.expected_services(plan) and "victorialogs" in target.expected_services(plan)
    compose = tv.Compose(plan.project, [f.name for f in plan.files], command=hr_compose_v1())
    assert compose.up_args(wait=False, no_build=True)[:4] == ["docker-compose", "-p", "obslab", "-f"]


def hr_compose_v1() -> tv.ComposeCommand:
    return tv.ComposeCommand(argv=("docker-compose",), version="1.29.2")


# --- ssh plumbing against a fake ssh ----------------------------------------------------------------------
@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(FIXTURES / "bin" / "ssh", bin_dir / "ssh")
    log = tmp_path / "ssh.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_SSH_LOG", str(log))
    monkeypatch.setenv("LAB_TIMEOUT_SCALE", "1")
    (tmp_path / "ssh-config").write_text("Host lab\n  HostName 127.0.0.1\n")
    return log


def test_remote_run_quotes_words_and_uses_the_config(fake_ssh: Path, tmp_path: Path) -> None:
    remote = hr.Remote(tmp_path / "ssh-config", "lab", user="deploy")
    result = remote.run(["printf", "%s|", "a b", "$HOME"], check="printf")
    assert result.output == "a b|$HOME|"
    assert fake_ssh.read_text().startswith(f"-F {tmp_path / 'ssh-config'} -l deploy lab -- ")
    with pytest.raises(LabError, match="exited 3"):
        remote.run("exit 3", check="a failing command")


def test_rsync_over_the_ssh_config_copies_only_what_changed(fake_ssh: Path, tmp_path: Path) -> None:
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    src = tmp_path / "stack"
    (src / "images" / ".cache").mkdir(parents=True)
    (src / "compose.yaml").write_text("services: {}\n")
    (src / "images" / ".cache" / "big").write_text("x" * 1000)
    dest = tmp_path / "vm-home" / "obslab"
    dest.parent.mkdir()
    remote = hr.Remote(tmp_path / "ssh-config", "lab", user="deploy")
    remote.rsync([src], f"{dest}/", excludes=tv.RSYNC_EXCLUDES)
    assert (dest / "stack" / "compose.yaml").read_text() == "services: {}\n"
    assert not (dest / "stack" / "images" / ".cache").exists()
    assert "-F" in fake_ssh.read_text()


def test_pipe_in_counts_bytes_and_reports_progress(fake_ssh: Path, tmp_path: Path) -> None:
    remote = hr.Remote(tmp_path / "ssh-config", "lab")
    out = tmp_path / "received"
    seen: list[int] = []
    result = remote.pipe_in(
        [
            sys.executable,
            "-c",
            "import sys,time\nfor _ in range(3):\n sys.stdout.buffer.write(b'x'*(3<<20)); "
            "sys.stdout.flush(); time.sleep(0.6)",
        ],
        f"cat > {out}; echo Loaded image: fake",
        timeout=60,
        on_progress=lambda sent, seconds: seen.append(sent),
    )
    assert result.bytes == 9 << 20 and out.stat().st_size == 9 << 20
    assert "Loaded image: fake" in result.output and result.mib == 9.0
    assert seen and seen[-1] <= result.bytes


def test_pipe_in_is_killed_at_its_timeout(fake_ssh: Path, tmp_path: Path) -> None:
    remote = hr.Remote(tmp_path / "ssh-config", "lab")
    with pytest.raises(LabError, match="timed out"):
        remote.pipe_in(["sleep", "30"], "cat >/dev/null", timeout=1)


def test_pipe_in_failure_of_either_end_is_an_error(fake_ssh: Path, tmp_path: Path) -> None:
    remote = hr.Remote(tmp_path / "ssh-config", "lab")
    with pytest.raises(LabError, match="exited 1"):
        remote.pipe_in(["sh", "-c", "echo no such image >&2; exit 1"], "cat >/dev/null", timeout=30)
    with pytest.raises(LabError, match="exited 4"):
        remote.pipe_in(["echo", "data"], "cat >/dev/null; exit 4", timeout=30)


def test_engine_in_the_vm_through_ssh_and_docker_cli(fake_ssh: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    inspect = (FIXTURES / "docker-inspect.json").read_text()
    (tmp_path / "inspect.json").write_text(inspect)
    (bin_dir / "docker").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {tmp_path}/docker.calls\n'
        'case "$1" in\n'
        "  ps) echo 68e462edf3a1 20055e5bcfe6 ;;\n"
        f"  inspect) cat {tmp_path}/inspect.json ;;\n"
        '  exec) shift 2; "$@" ;;\n'
        "esac\n"
    )
    (bin_dir / "docker").chmod(0o755)
    engine = tv.SshEngine(hr.Remote(tmp_path / "ssh-config", "lab", user="deploy"), "obslab", api=False)
    assert engine.status() == {"backend": "running (healthy)", "frontend": "running (healthy)"}
    assert engine.published_ports()["frontend"] == {8080}
    engine.restart("frontend")
    result = engine.exec("backend", ["echo", "hello world"])
    assert result.exit_code == 0 and result.output == "hello world\n"
    calls = (tmp_path / "docker.calls").read_text().splitlines()
    assert "ps -aq --no-trunc --filter label=com.docker.compose.project=obslab" in calls
    assert "restart 20055e5bcfe691ac752a63c9817fd71d010de4d178690684684d5340ace5374e" in calls
    with pytest.raises(LabError, match="no container for service 'grafana'"):
        engine.stop("grafana")


def test_engine_state_through_the_engine_api_with_curl(fake_ssh: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    data = json.loads((FIXTURES / "docker-inspect.json").read_text())
    for item in data:
        (tmp_path / f"{item['Id']}.json").write_text(json.dumps(item))
    listing = json.dumps([{"Id": item["Id"], "Names": [item["Name"]]} for item in data])
    (tmp_path / "list.json").write_text(listing)
    (bin_dir / "curl").write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do url=$a; done\n'
        f'echo "$url" >> {tmp_path}/curl.calls\n'
        'case "$url" in\n'
        f"  *containers/json*) cat {tmp_path}/list.json ;;\n"
        f'  *) id=${{url#http://d/containers/}}; cat "{tmp_path}/${{id%/json}}.json" ;;\n'
        "esac\n"
    )
    (bin_dir / "curl").chmod(0o755)
    engine = tv.SshEngine(hr.Remote(tmp_path / "ssh-config", "lab", user="deploy"), "obslab", api=True)
    infos = engine.infos()
    assert [i.service for i in infos] == ["backend", "frontend"] and all(i.ready for i in infos)
    first = (tmp_path / "curl.calls").read_text().splitlines()[0]
    assert "filters=%7B%22label%22%3A%5B%22com.docker.compose.project%3Dobslab%22%5D%7D" in first


def test_testinfra_reaches_a_container_in_the_vm_through_ssh_docker_exec(
    fake_ssh: Path, tmp_path: Path
) -> None:
    import testinfra

    bin_dir = tmp_path / "bin"
    (bin_dir / "docker").write_text('#!/bin/sh\n[ "$1" = exec ] && shift 2 && exec "$@"\n')
    (bin_dir / "docker").chmod(0o755)
    spec = vm_posture.container_hostspec(tmp_path / "ssh-config", "abc123")
    assert spec.startswith("ssh-docker://deploy@lab?ssh_config=")
    host = testinfra.get_host(spec)
    assert host.run("echo $((40 + 2))").stdout.strip() == "42"
    logged = fake_ssh.read_text()
    assert "docker exec abc123 /bin/sh -c" in logged and f"-F {tmp_path / 'ssh-config'}" in logged


# --- VM posture parsing ---------------------------------------------------------------------------------
def test_sshd_t_parsing() -> None:
    text = "port 22\npasswordauthentication no\nPermitRootLogin no\nsubsystem sftp /usr/lib/sftp\n"
    parsed = vm_posture.parse_sshd_t(text)
    assert parsed["passwordauthentication"] == "no" and parsed["permitrootlogin"] == "no"


def test_listeners_outside_loopback_on_undocumented_ports() -> None:
    listeners = vm_posture.parse_listeners(
        [
            "tcp://0.0.0.0:22",
            "tcp://:::22",
            "tcp://0.0.0.0:8080",
            "tcp://127.0.0.53:53",
            "tcp://0.0.0.0:2375",
            "unix:///run/docker.sock",
            "udp://0.0.0.0:68",
        ]
    )
    allowed = vm_posture.allowed_ports(["frontend", "backend"])
    assert allowed == {22, 8080, 5000}
    assert [str(x) for x in vm_posture.unexpected_listeners(listeners, allowed)] == ["tcp://0.0.0.0:2375"]


def test_docker_tcp_hosts_are_found_in_daemon_json_and_args() -> None:
    assert vm_posture.tcp_hosts_in_daemon_json("") == []
    assert vm_posture.tcp_hosts_in_daemon_json('{"hosts": ["unix:///var/run/docker.sock"]}') == []
    assert vm_posture.tcp_hosts_in_daemon_json('{"hosts": ["tcp://0.0.0.0:2375"]}') == ["tcp://0.0.0.0:2375"]
    assert vm_posture.tcp_hosts_in_args("/usr/sbin/dockerd -H fd:// --containerd=/run/c.sock") == []
    assert vm_posture.tcp_hosts_in_args("dockerd -H tcp://0.0.0.0:2375 --host=tcp://[::]:2376") == [
        "tcp://0.0.0.0:2375",
        "tcp://[::]:2376",
    ]


# --- libvirt leftovers against a fake virsh ---------------------------------------------------------------
@pytest.fixture
def fake_virsh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A virsh whose domains and volumes are files in a directory (deleted by the fake's commands)."""
    state = tmp_path / "libvirt"
    (state / "domains").mkdir(parents=True)
    (state / "volumes").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "virsh").write_text(
        "#!/bin/sh\n"
        f"S={state}\n"
        'shift 2\necho "$*" >> $S/calls\n'
        'case "$1" in\n'
        "  list) ls $S/domains ;;\n"
        "  vol-list) echo ' Name  Path'; echo '------';\n"
        '    for v in $(ls $S/volumes); do echo " $v  /x/$v"; done ;;\n'
        '  vol-delete) rm "$S/volumes/$4" ;;\n'
        "  destroy) ;;\n"
        '  undefine) rm "$S/domains/$2"; rm -f "$S/volumes/$2.img" ;;\n'
        "esac\n"
    )
    (bin_dir / "virsh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return state


def _target(tmp_path: Path) -> tv.VagrantTarget:
    env = {"LAB_VM_PREFIX": "obslab-t_", "LAB_VAGRANT_LOCK": str(tmp_path / "lock")}
    return tv.VagrantTarget(LabConfig(target="vagrant", reports_dir=tmp_path), Display.silent(), env=env)


def test_leftovers_are_this_labs_domain_volumes_and_the_box_volume(fake_virsh: Path, tmp_path: Path) -> None:
    for name in ("obslab-t_lab",):
        (fake_virsh / "domains" / name).touch()
    for name in (
        "obslab-t_lab.img",
        "lab-VAGRANTSLASH-debian12_vagrant_box_image_0_17_box.img",
        "other.qcow2",
    ):
        (fake_virsh / "volumes" / name).touch()
    target = _target(tmp_path)
    assert sorted(target.leftovers()) == [
        "domain obslab-t_lab",
        "volume lab-VAGRANTSLASH-debian12_vagrant_box_image_0_17_box.img",
        "volume obslab-t_lab.img",
    ]
    removed = target.remove_leftovers()
    assert "domain obslab-t_lab" in removed
    assert target.leftovers() == []
    assert sorted(p.name for p in (fake_virsh / "volumes").iterdir()) == ["other.qcow2"]  # not ours


def test_the_box_volume_stays_while_another_lab_may_use_it(fake_virsh: Path, tmp_path: Path) -> None:
    box = "lab-VAGRANTSLASH-debian12_vagrant_box_image_0_17_box.img"
    for name in ("obslab-t_lab.img", box, "obslab-0123abcd_lab.img"):
        (fake_virsh / "volumes" / name).touch()
    target = _target(tmp_path)
    assert target.remove_leftovers() == ["obslab-t_lab.img"]
    assert (fake_virsh / "volumes" / box).exists()


def test_forwarded_ports_are_repaired_and_a_taken_port_is_an_error(tmp_path: Path) -> None:
    script = tmp_path / "provision" / "host" / "forward-ports.sh"
    script.parent.mkdir(parents=True)
    script.write_text(
        "#!/bin/sh\necho 'forward-ports: 127.0.0.1:8080 -> 8080 up (pid 1)'\n"
        'echo "forward-ports: 127.0.0.1:8888 -> 8888 started (pid 2)"\nexit "${FAKE_EXIT:-0}"\n'
    )
    script.chmod(0o755)
    lines: list[str] = []

    class Recording(Display):
        def detail(self, text: str) -> None:
            lines.append(text)

    config = LabConfig(target="vagrant", reports_dir=tmp_path, repo_root=tmp_path)
    tv.VagrantTarget(config, Recording(plain=True), env={"PATH": "/usr/bin:/bin"}).ensure_tunnels()
    assert lines == ["forward-ports: 127.0.0.1:8888 -> 8888 started (pid 2)"]
    failing = tv.VagrantTarget(config, Display.silent(), env={"PATH": "/usr/bin:/bin", "FAKE_EXIT": "1"})
    with pytest.raises(LabError, match="forwarded ports of the VM are not all up"):
        failing.ensure_tunnels()
    off = tv.VagrantTarget(config, Display.silent(), env={"LAB_VM_FORWARD_PORTS": "0", "FAKE_EXIT": "1"})
    off.ensure_tunnels()  # nothing forwarded, nothing to check
