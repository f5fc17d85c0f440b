#!/usr/bin/env bash
# The VM part of the set-up: make a Debian host ready for the lab's vagrant target — libvirt + QEMU,
# Vagrant + vagrant-libvirt, the box builder's tools, /dev/kvm, the daemons, the storage pool.
# provision/host/prepare.sh --vms runs it after what every target needs (packages, Go, tox, the
# Docker engine, compose v2); run that, not this, unless those are there already.
# Idempotent: a second run installs nothing and starts nothing. Runs as root.
# Prints what it did and how long each step took. Every long command runs under `timeout`.
#
#   provision/host/setup.sh            # everything
#   SETUP_SKIP_APT=1 ...               # only start daemons / pool / permissions
#
# Works without systemd (containers, sandboxes): daemons are started by hand when they
# are not running (virtlogd -d, libvirtd -d).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
HERE=$(cd "$(dirname "$0")" && pwd)
LOG_DIR=${SETUP_LOG_DIR:-/var/log/obslab}
mkdir -p "$LOG_DIR"

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: must run as root (apt-get, daemons, /dev/kvm)" >&2
  exit 2
fi

t0=$(date +%s)
step_t=0
step() { step_t=$(date +%s); echo "setup: [$(date -u +%H:%M:%S)] $*"; }
done_step() { echo "setup:   -> $* ($(($(date +%s) - step_t))s)"; }

# ---------------------------------------------------------------- packages
PKGS=(
  vagrant vagrant-libvirt
  libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu
  qemu-system-x86 qemu-utils
  dnsmasq-base ebtables iptables
  debootstrap e2fsprogs fdisk dosfstools
  rsync openssh-client util-linux ca-certificates curl
  # not needed to run VMs; tests/provision check the VM's sshd drop-in and nftables rules with them
  nftables openssh-server
)
step "packages"
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})) && [[ -z ${SETUP_SKIP_APT:-} ]]; then
  echo "setup:   installing: ${missing[*]}"
  timeout 600 apt-get update -q >"$LOG_DIR/apt-update.log" 2>&1 || { tail -20 "$LOG_DIR/apt-update.log"; exit 1; }
  # No recommends: vagrant-libvirt would pull in a desktop's worth; what it needs is listed above.
  if ! timeout 1800 apt-get install -y -q --no-install-recommends "${missing[@]}" >"$LOG_DIR/apt-install.log" 2>&1; then
    tail -40 "$LOG_DIR/apt-install.log"
    exit 1
  fi
  done_step "installed ${#missing[@]} package(s)"
else
  done_step "all ${#PKGS[@]} packages present${missing:+ (skipped apt: ${missing[*]})}"
fi

# ---------------------------------------------------------------- /dev/kvm
# libvirt re-probes QEMU on every call when /dev/kvm's group is not `kvm` (measured: `vagrant up`
# 158 s instead of 46 s). Fix the group whether or not KVM itself works.
step "/dev/kvm permissions"
if [[ -e /dev/kvm ]]; then
  getent group kvm >/dev/null || groupadd -r kvm
  if [[ $(stat -c %G /dev/kvm) != kvm ]]; then
    chgrp kvm /dev/kvm && chmod 660 /dev/kvm
    done_step "chgrp kvm /dev/kvm"
  else
    done_step "already group kvm"
  fi
  if "$HERE/kvm-works.sh"; then echo "setup:   KVM works: VMs use KVM"; else echo "setup:   KVM does not work: VMs use QEMU TCG (slower)"; fi
else
  # Still boot the probe's kernel, under TCG: it proves QEMU runs a guest here, and it fetches that
  # kernel once when /boot has none (a container), which the unit tests boot too (--no-cache: this
  # answer is TCG's, not KVM's).
  if tcg=$(KVM_PROBE_ACCEL=tcg KVM_PROBE_TIMEOUT=60 "$HERE/kvm-works.sh" --no-cache --reason); then
    done_step "no /dev/kvm: VMs use QEMU TCG; $tcg"
  else
    done_step "no /dev/kvm: VMs use QEMU TCG; but QEMU TCG did not boot the probe kernel either: $tcg"
  fi
fi

# ---------------------------------------------------------------- daemons
have_systemd() { [[ -d /run/systemd/system ]]; }
start_daemon() { # name, check command, start command...
  local name=$1 check=$2; shift 2
  if eval "$check" >/dev/null 2>&1; then
    echo "setup:   $name already running"
    return 0
  fi
  if have_systemd && systemctl list-unit-files "$name.service" >/dev/null 2>&1; then
    timeout 60 systemctl start "$name" || true
  fi
  if ! eval "$check" >/dev/null 2>&1; then
    "$@"
  fi
  for _ in $(seq 1 60); do
    eval "$check" >/dev/null 2>&1 && { echo "setup:   started $name"; return 0; }
    sleep 1
  done
  echo "setup: $name did not start (see $LOG_DIR/$name.log)" >&2
  return 1
}
step "daemons"
start_daemon virtlogd "pgrep -x virtlogd" virtlogd -d
start_daemon libvirtd "timeout 10 virsh -c qemu:///system version" libvirtd -d
done_step "virtlogd, libvirtd up"

# ---------------------------------------------------------------- libvirt pool
VIRSH=(timeout 30 virsh -c qemu:///system)
step "libvirt storage pool 'default'"
if ! "${VIRSH[@]}" pool-info default >/dev/null 2>&1; then
  mkdir -p /var/lib/libvirt/images
  "${VIRSH[@]}" pool-define-as default dir --target /var/lib/libvirt/images >/dev/null
  echo "setup:   defined pool default (/var/lib/libvirt/images)"
fi
"${VIRSH[@]}" pool-autostart default >/dev/null 2>&1 || true
# (captured first: `virsh … | grep -q` under pipefail fails when grep exits before virsh is done)
pool_info=$("${VIRSH[@]}" pool-info default)
if ! grep -Eq '^State:\s+running' <<<"$pool_info"; then
  "${VIRSH[@]}" pool-start default >/dev/null
  echo "setup:   started pool default"
fi
done_step "pool default active"

# vagrant-libvirt creates its management network (`vagrant-libvirt`, 192.168.121.0/24, NAT) and the
# lab's private network on first `up`; that needs dnsmasq, iptables and a working `virsh
# net-define`. Check the driver answers now rather than in the middle of an `up`.
step "libvirt networks"
"${VIRSH[@]}" net-list --all >/dev/null
done_step "network driver answers ($("${VIRSH[@]}" net-list --all --name | grep -c . || true) network(s) defined)"

# ---------------------------------------------------------------- summary
echo "setup: vagrant $(vagrant --version 2>/dev/null | awk '{print $2}'), plugins: $(vagrant plugin list 2>/dev/null | tr '\n' ' ')"
# (captured first, as above: under pipefail `virsh … | grep -m1` fails when grep leaves before virsh
# is done, and printed "libvirt ?" after the hypervisor's line in a fresh Debian 13 container)
versions=$(timeout 30 virsh -c qemu:///system version 2>/dev/null || true)
echo "setup: $(grep -m1 'Running hypervisor' <<<"$versions" || echo 'libvirt ?')"
echo "setup: done in $(($(date +%s) - t0))s"
