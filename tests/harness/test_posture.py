"""The posture checks' pure parts for the lab VM (what sshd -T, the listeners and dockerd's
settings say)."""

from __future__ import annotations

from harness.checks import posture


def test_sshd_t_parsing() -> None:
    text = "port 22\npasswordauthentication no\nPermitRootLogin no\nsubsystem sftp /usr/lib/sftp\n"
    parsed = posture.parse_sshd_t(text)
    assert parsed["passwordauthentication"] == "no" and parsed["permitrootlogin"] == "no"


def test_listeners_outside_loopback_on_undocumented_ports() -> None:
    listeners = posture.parse_listeners(
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
    allowed = posture.allowed_ports(["frontend", "backend"])
    assert allowed == {22, 8080, 5000}
    assert [str(x) for x in posture.unexpected_listeners(listeners, allowed)] == ["tcp://0.0.0.0:2375"]


def test_docker_tcp_hosts_are_found_in_daemon_json_and_args() -> None:
    assert posture.tcp_hosts_in_daemon_json("") == []
    assert posture.tcp_hosts_in_daemon_json('{"hosts": ["unix:///var/run/docker.sock"]}') == []
    assert posture.tcp_hosts_in_daemon_json('{"hosts": ["tcp://0.0.0.0:2375"]}') == ["tcp://0.0.0.0:2375"]
    assert posture.tcp_hosts_in_args("/usr/sbin/dockerd -H fd:// --containerd=/run/c.sock") == []
    assert posture.tcp_hosts_in_args("dockerd -H tcp://0.0.0.0:2375 --host=tcp://[::]:2376") == [
        "tcp://0.0.0.0:2375",
        "tcp://[::]:2376",
    ]
