"""The lab VM's host posture (``@vm``): thin steps over :mod:`harness.checks.posture`."""

from __future__ import annotations

from pytest_bdd import then

from harness.bdd.scenario import sentence
from harness.checks import posture
from harness.lab.lifecycle import Lab


@then("sshd in the VM refuses passwords and root logins")
def sshd_hardened(lab: Lab) -> None:
    posture.sshd_hardened(lab)


@then("the docker service is running and enabled in the VM")
def docker_running(lab: Lab) -> None:
    posture.docker_running(lab)


@then("nothing listens on the VM beyond SSH and the lab's documented ports")
def only_documented_ports(lab: Lab) -> None:
    posture.only_documented_ports_listen(lab)


@then(sentence('the VM has a "{name}" user in the docker group with an authorized key'))
def deploy_user(lab: Lab, name: str) -> None:
    posture.deploy_user_in_docker_group(lab, name)


@then("the VM's Docker engine has no TCP socket")
def no_docker_tcp(lab: Lab) -> None:
    posture.no_docker_tcp_socket(lab)
