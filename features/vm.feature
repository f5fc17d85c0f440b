@vm @security
Feature: The lab VM is a hardened Docker host
  On the vagrant target the lab runs in a libvirt VM that the harness provisions itself. That VM is
  a small server like any other: SSH with keys only and no root login, the Docker engine running
  and reachable only through its unix socket, a `deploy` user that deploys, and nothing listening
  beyond SSH and the lab's documented ports. These checks log in to the VM with pytest-testinfra
  over the SSH configuration Vagrant reports.

  Background:
    Given the lab is deployed

  Scenario: SSH accepts keys only and no root login
    Then sshd in the VM refuses passwords and root logins

  Scenario: The Docker engine runs in the VM
    Then the docker service is running and enabled in the VM

  Scenario: Only SSH and the documented ports listen on the VM
    Then nothing listens on the VM beyond SSH and the lab's documented ports

  Scenario: A deploy user deploys the lab
    Then the VM has a "deploy" user in the docker group with an authorized key

  Scenario: The Docker API is not exposed over TCP
    Then the VM's Docker engine has no TCP socket
