"""The engine interface over the lab VM's engine (docker CLI or Engine API through curl, over a fake
ssh that runs here), and the one ``docker inspect`` parser both engines share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.base.errors import LabError
from harness.lab import remote as hr
from harness.lab.engine import ContainerInfo, SshEngine
from harness.lab.engine.ssh import parse_inspect

FIXTURES = Path(__file__).parent / "fixtures" / "vagrant"


def test_containers_from_docker_inspect_json() -> None:
    docs = parse_inspect("Warning: ssh noise\n" + (FIXTURES / "docker-inspect.json").read_text())
    infos = sorted((ContainerInfo.from_inspect(d) for d in docs), key=lambda i: i.service)
    assert [i.service for i in infos] == ["backend", "frontend"]
    front = infos[1]
    assert front.ready and str(front.state) == "running (healthy)"
    assert front.published == (("127.0.0.3", 8080),)
    assert (front.started_at, front.restarts) == ("2026-11-26T20:39:45.942480143Z", 0)
    assert (infos[0].started_at, infos[0].restarts) == ("2026-11-26T20:39:40.235730511Z", 2)
    assert parse_inspect("") == [] and parse_inspect("[]") == []


def test_one_off_containers_are_not_services(fake_ssh: Path, fake_bin: Path, tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "docker-inspect.json").read_text())
    data[0]["Config"]["Labels"]["com.docker.compose.oneoff"] = "True"
    (tmp_path / "inspect.json").write_text(json.dumps(data))
    script = f'#!/bin/sh\n[ "$1" = ps ] && echo a b || cat {tmp_path}/inspect.json\n'
    (fake_bin / "docker").write_text(script)
    (fake_bin / "docker").chmod(0o755)
    engine = SshEngine(hr.Remote(tmp_path / "ssh-config", "lab", user="deploy"), "obslab", api=False)
    assert len(engine.infos()) == 1


def test_engine_in_the_vm_through_ssh_and_docker_cli(fake_ssh: Path, fake_bin: Path, tmp_path: Path) -> None:
    bin_dir = fake_bin
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
    engine = SshEngine(hr.Remote(tmp_path / "ssh-config", "lab", user="deploy"), "obslab", api=False)
    assert {k: str(v) for k, v in engine.states().items()} == {
        "backend": "running (healthy)", "frontend": "running (healthy)"
    }
    assert engine.published_ports()["frontend"] == {8080}
    engine.restart("frontend")
    result = engine.exec("backend", ["echo", "hello world"])
    assert result.exit_code == 0 and result.output == "hello world\n"
    calls = (tmp_path / "docker.calls").read_text().splitlines()
    assert "ps -aq --no-trunc --filter label=com.docker.compose.project=obslab" in calls
    assert "restart 20055e5bcfe691ac752a63c9817fd71d010de4d178690684684d5340ace5374e" in calls
    with pytest.raises(LabError, match="no container for service 'grafana'"):
        engine.stop("grafana")


def test_engine_state_through_the_engine_api_with_curl(
    fake_ssh: Path, fake_bin: Path, tmp_path: Path
) -> None:
    bin_dir = fake_bin
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
    engine = SshEngine(hr.Remote(tmp_path / "ssh-config", "lab", user="deploy"), "obslab", api=True)
    infos = engine.infos()
    assert [i.service for i in infos] == ["backend", "frontend"] and all(i.ready for i in infos)
    first = (tmp_path / "curl.calls").read_text().splitlines()[0]
    assert "filters=%7B%22label%22%3A%5B%22com.docker.compose.project%3Dobslab%22%5D%7D" in first
