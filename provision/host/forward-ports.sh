#!/usr/bin/env bash
# (Re)start the lab VM's forwarded ports: 127.0.0.1:(P + LAB_VM_PORT_OFFSET) → the VM's P, for every
# documented lab port P — the same ssh -L tunnels vagrant-libvirt starts on `vagrant up`.
#
# Why: vagrant-libvirt starts its tunnels only when it boots (or resumes) the domain. `vagrant up`
# on a machine that is already running only provisions, so tunnels that died (killed ssh, a new
# login session) stay dead. This script starts the missing ones and records their pids where
# vagrant-libvirt keeps its own (<dotfile>/machines/lab/libvirt/pids/ssh_<port>.pid), so `vagrant
# halt` / `vagrant destroy` stop them as usual.
#
#   forward-ports.sh            start what is missing; print one line per port
#   forward-ports.sh --check    change nothing; exit 1 when a tunnel is down
# Run from anywhere; honours VAGRANT_DOTFILE_PATH, LAB_VM_PORT_OFFSET, LAB_VM_FORWARD_PORTS.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
MACHINE=lab
PORTS=(8080 5000 3000 9090 3200 3100 16686 9428 4317 4318 13133 8888)
OFFSET=${LAB_VM_PORT_OFFSET:-0}
CHECK=0
[[ ${1:-} == --check ]] && CHECK=1
case ${LAB_VM_FORWARD_PORTS:-1} in 0|no|false|off) echo "forward-ports: LAB_VM_FORWARD_PORTS=off: nothing to do"; exit 0 ;; esac

DOT=${VAGRANT_DOTFILE_PATH:-.vagrant}
[[ $DOT == /* ]] || DOT=$REPO/$DOT
PIDS=$DOT/machines/$MACHINE/libvirt/pids
mkdir -p "$PIDS"
CFG=$PIDS/../obslab-ssh-config # kept: the tunnels read it when they start
if ! timeout 120 vagrant ssh-config "$MACHINE" >"$CFG" 2>/dev/null; then
  echo "forward-ports: \`vagrant ssh-config $MACHINE\` failed: is the VM up?" >&2
  exit 2
fi

alive() { # pid file → 0 when its process is an ssh that is still running
  local pid
  [[ -f $1 ]] || return 1
  pid=$(<"$1")
  # shellcheck disable=SC2009 # the same test vagrant-libvirt makes (ps -o command=)
  [[ $pid =~ ^[0-9]+$ ]] && ps -o command= "$pid" 2>/dev/null | grep -q ssh
}
listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q "127.0.0.1:$1 "; }

down=0
for guest in "${PORTS[@]}"; do
  host=$((guest + OFFSET))
  pidfile=$PIDS/ssh_$host.pid
  if alive "$pidfile"; then
    echo "forward-ports: 127.0.0.1:$host -> $guest up (pid $(<"$pidfile"))"
    continue
  fi
  if ((CHECK)); then
    echo "forward-ports: 127.0.0.1:$host -> $guest DOWN"
    down=$((down + 1))
    continue
  fi
  if listening "$host"; then
    echo "forward-ports: 127.0.0.1:$host is taken by another process: not forwarded" >&2
    down=$((down + 1))
    continue
  fi
  setsid ssh -F "$CFG" -o ExitOnForwardFailure=yes -o ServerAliveInterval=30 -n -N \
    -L "127.0.0.1:$host:127.0.0.1:$guest" "$MACHINE" </dev/null >/dev/null 2>&1 &
  echo $! >"$pidfile"
  echo "forward-ports: 127.0.0.1:$host -> $guest started (pid $!)"
done
# Give the new tunnels a moment, then make sure they listen (ExitOnForwardFailure kills a failed one).
if ((!CHECK)); then
  for _ in $(seq 1 20); do
    missing=0
    for guest in "${PORTS[@]}"; do listening $((guest + OFFSET)) || missing=$((missing + 1)); done
    ((missing == 0)) && break
    sleep 0.5
  done
fi
exit $((down > 0))
