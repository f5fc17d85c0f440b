#!/usr/bin/env bash
# Make this machine ready for the lab: the one set-up behind the README's commands (./obslab) and
# .ci/run. A fresh Debian 12 or 13 machine needs only git, python3 and root.
#
#   provision/host/prepare.sh [--vms] [--images] [--dry-run]
#
#   --vms      also the VM host (provision/host/setup.sh: libvirt, vagrant, the KVM probe) and the
#              Vagrant box with the images baked in (provision/box/build.sh)
#   --images   also the lab's local images (stack/images/build.sh; cached)
#   --dry-run  say what each part would do, change nothing (exit 0)
#
# Parts, in the order a fresh host needs them (a later part reuses what an earlier one made):
#   packages  Debian packages the lab and its tests use        go       Go >= 1.21 (compose, images)
#   tox       tox at its pin, in its own virtualenv             docker   a Docker engine that answers
#   compose   `docker compose` v2 (built from the Go proxy)     vm-host  (--vms) libvirt, vagrant
#   images    (--images) lab/*:local                            box      (--vms) the lab's Vagrant box
# Idempotent: a part with nothing to do says so in one line. Before changing anything it checks it
# can: without root, or on a distribution it does not know, it stops in one line naming what is
# missing and the command that would install it, having changed nothing. Ends with each part's time.
# Environment: PREPARE_AS (the command to suggest, default: sudo <this script>), OBSLAB_TOOLS (where
# tox's virtualenv goes, default /opt/obslab/tools).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TOX_VERSION=4.67.15
GO_MIN=1.21  # the oldest go command that fetches a newer toolchain (GOTOOLCHAIN) by itself
TOOLS=${OBSLAB_TOOLS:-/opt/obslab/tools}
LOG_DIR=${SETUP_LOG_DIR:-/var/log/obslab}
GO_ON_PATH=$(command -v go || true)  # what tox and sudo will find, before the line below
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
# shellcheck source=../../stack/images/versions.env
GO_VERSION=$(sed -n 's/^GO_VERSION=//p' "$ROOT/stack/images/versions.env")

vms=0 images=0 dry=0
for arg in "$@"; do
  case $arg in
    --vms) vms=1 ;;
    --images) images=1 ;;
    --dry-run) dry=1 ;;
    *) echo "prepare: unknown option '$arg' (known: --vms, --images, --dry-run)" >&2; exit 2 ;;
  esac
done
AS=${PREPARE_AS:-sudo $0${*:+ $*}}

# What the lab and its tests use, on every host. docker-compose (v1) is for the unit tests of the
# compose wrapper's fallback (promtool is the images' own build, stack/images/.cache/bin); postgresql for the app's
# PostgreSQL tests; chromium-headless-shell for the @ui scenarios and the living-docs check (no
# browser download here) and libatomic1 for Playwright's own node driver (a fresh Debian 12 lacks it:
# 'libatomic.so.1: cannot open shared object file'); unzip for a Go toolchain from the module proxy;
# file for the images test of the static healthcheck binary (a fresh Debian 13 container has none).
PKGS=(docker.io apparmor docker-compose debootstrap iptables nftables postgresql nginx-light
      rsync ca-certificates curl unzip python3-venv chromium chromium-headless-shell nodejs libatomic1 file)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)  # a nodejs that bundles npm (NodeSource) conflicts with npm

say() { echo "prepare: $*"; }
die() { echo "prepare: $1" >&2; exit "${2:-1}"; }

# ------------------------------------------------------------------ what is missing (changes nothing)
missing_pkgs() {
  command -v dpkg-query >/dev/null 2>&1 || { printf '%s\n' "${PKGS[@]}"; return; }
  local p
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"
  done
}
go_cmd() { command -v go 2>/dev/null || { [[ -x /usr/local/go/bin/go ]] && echo /usr/local/go/bin/go; } || true; }
go_ok() {  # a go command at least GO_MIN
  local go v
  go=$(go_cmd); [[ -n $go ]] || return 1
  v=$(GOTOOLCHAIN=local "$go" env GOVERSION 2>/dev/null | sed 's/^go//')
  [[ -n $v ]] && [[ $(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -1) == "$GO_MIN" ]]
}
tox_ok() { [[ $("$TOOLS/bin/tox" --version 2>/dev/null || true) == "$TOX_VERSION "* ]]; }
docker_ok() { timeout 10 docker info >/dev/null 2>&1; }
compose_ok() { bash "$HERE/compose-v2.sh" --check >/dev/null 2>&1; }

os_id=unknown os_version="" os_name="this machine"
OS_RELEASE=${PREPARE_OS_RELEASE:-/etc/os-release}  # another file only in its tests
if [[ -r $OS_RELEASE ]]; then
  # shellcheck disable=SC1091
  os_id=$(. "$OS_RELEASE"; echo "${ID:-unknown}") os_version=$(. "$OS_RELEASE"; echo "${VERSION_ID:-}")
  os_name=$(. "$OS_RELEASE"; echo "${PRETTY_NAME:-$ID}")
fi
known_os=0
[[ $os_id == debian && ($os_version == 12 || $os_version == 13) ]] && known_os=1
# Debian 13 packages the docker command apart from the engine (docker.io only recommends it).
[[ $os_id == debian && $os_version == 13 ]] && PKGS+=(docker-cli)

mapfile -t need_pkgs < <(missing_pkgs)
todo=()
((${#need_pkgs[@]})) && todo+=("packages: ${need_pkgs[*]}")
go_ok || todo+=("go: Go >= $GO_MIN (go$GO_VERSION from the Go module proxy)")
go_ok && [[ -z $GO_ON_PATH ]] && todo+=("go: link $(go_cmd) into /usr/local/bin")
tox_ok || todo+=("tox: tox $TOX_VERSION in $TOOLS")
docker_ok || todo+=("docker: start the Docker engine")
compose_ok || todo+=("compose: build docker compose v2")

if ((${#todo[@]})) && ((!dry)); then
  if ((!known_os)) && ((${#need_pkgs[@]})); then
    die "$os_name is not a distribution this set-up knows (Debian 12 or 13, with apt); missing: ${need_pkgs[*]} — install them (and tox $TOX_VERSION), then run again" 3
  fi
  if [[ $(id -u) -ne 0 ]]; then
    die "needs root to install or start: $(IFS=';'; echo "${todo[*]%%:*}" | tr ';' ',') — run: $AS" 2
  fi
fi
if ((vms)) && ((!dry)) && [[ $(id -u) -ne 0 ]]; then
  die "needs root for the VM host (libvirt, vagrant, /dev/kvm) and the box — run: $AS" 2
fi
if ((dry)); then
  say "$os_name ($( ((known_os)) && echo known || echo 'not a distribution this set-up knows'))"
  if ((${#todo[@]})); then printf 'prepare: would do %s\n' "${todo[@]}"; else say "nothing to install or start"; fi
  ((vms)) && say "would make the VM host ready (provision/host/setup.sh) and the box (provision/box/build.sh)"
  ((images)) && say "would build the lab's local images (stack/images/build.sh; cached)"
  exit 0
fi
mkdir -p "$LOG_DIR"

# ------------------------------------------------------------------ doing it
declare -a TIMES=()
part_t=0 part_name=""
part() { part_name=$1; part_t=$(date +%s); }
done_part() {  # one line per part: what it did (or that there was nothing to do) and how long
  local t=$(( $(date +%s) - part_t ))
  TIMES+=("$(printf '%-10s %5ds  %s' "$part_name" "$t" "$*")")
  say "$part_name: $* (${t}s)"
}
# A long command: its output goes to a log; every 30 s one line says it is still going and what it
# last printed; on failure the log's tail.
long() {
  local log="$LOG_DIR/prepare-$part_name.log" pid rc=0 start
  start=$(date +%s)
  "$@" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null || break
    say "  $part_name … $(( $(date +%s) - start ))s: $(tail -n 1 "$log" | cut -c1-120)"
  done
  wait "$pid" || rc=$?
  if ((rc)); then
    tail -n 30 "$log" >&2
    die "$part_name failed (exit $rc); the whole log: $log"
  fi
}
summary() {
  local rc=$?
  ((${#TIMES[@]})) && { say "parts:"; printf 'prepare:   %s\n' "${TIMES[@]}"; }
  exit "$rc"
}
trap summary EXIT

part packages
if ((${#need_pkgs[@]})); then
  long timeout 600 apt-get update -q
  long timeout 1800 apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
  # Debian starts these on install where it can; the lab runs its own, not the host's.
  for svc in nginx postgresql; do (service "$svc" stop >/dev/null 2>&1 || true); done
  done_part "installed ${#need_pkgs[@]}: ${need_pkgs[*]}"
else
  done_part "all ${#PKGS[@]} present"
fi

part go
if go_ok && [[ -z $GO_ON_PATH ]]; then
  # a go outside the PATH sudo and tox give (the image builder's ocb looks the go command up there)
  ln -sf "$(go_cmd)" /usr/local/bin/go && ln -sf "$(dirname "$(go_cmd)")/gofmt" /usr/local/bin/gofmt
  done_part "$($(go_cmd) version | awk '{print $3}') at $(go_cmd), linked from /usr/local/bin"
elif go_ok; then
  done_part "$($(go_cmd) version | awk '{print $3}') at $(go_cmd)"
else
  [[ -e /usr/local/go ]] && die "go: /usr/local/go is there but its go is older than $GO_MIN or broken; move it away and run again"
  zip="$LOG_DIR/go$GO_VERSION.zip"
  long timeout 600 curl -fsSL -o "$zip" \
    "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-amd64.zip"
  tmp=$(mktemp -d)
  long unzip -q "$zip" -d "$tmp"
  mv "$tmp/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-amd64" /usr/local/go
  rm -rf "$tmp" "$zip"
  /usr/local/go/bin/go version >/dev/null || die "go: the toolchain from the module proxy does not run"
  # on the PATH sudo and tox give (the image builder's ocb looks the go command up there)
  ln -sf /usr/local/go/bin/go /usr/local/bin/go && ln -sf /usr/local/go/bin/gofmt /usr/local/bin/gofmt
  done_part "installed go$GO_VERSION in /usr/local/go, linked from /usr/local/bin (from the Go module proxy)"
fi

part tox
if tox_ok; then
  done_part "tox $TOX_VERSION present ($TOOLS)"
else
  long timeout 300 python3 -m venv --clear "$TOOLS"
  long timeout 600 "$TOOLS/bin/pip" install -q "tox==$TOX_VERSION"
  ln -sf "$TOOLS/bin/tox" /usr/local/bin/tox
  done_part "installed tox $TOX_VERSION in $TOOLS (linked from /usr/local/bin/tox)"
fi

part docker
if docker_ok; then
  done_part "engine $(timeout 10 docker info --format '{{.ServerVersion}}') answers"
else
  if [[ -d /run/systemd/system ]]; then timeout 60 systemctl start docker >/dev/null 2>&1 || true; fi
  docker_ok || (nohup dockerd >"$LOG_DIR/dockerd.log" 2>&1 &)
  for _ in $(seq 1 60); do docker_ok && break; sleep 1; done
  command -v docker >/dev/null || die "docker: the engine runs but there is no docker command (Debian 13: apt-get install docker-cli)"
  docker_ok || { tail -n 20 "$LOG_DIR/dockerd.log" >&2 || true; die "docker: the engine did not answer within 60 s (log: $LOG_DIR/dockerd.log)"; }
  done_part "started engine $(timeout 10 docker info --format '{{.ServerVersion}} ({{.Driver}})')"
fi

part compose
if compose_ok; then
  done_part "$(bash "$HERE/compose-v2.sh" 2>/dev/null | tail -n 1)"
else
  long timeout 2700 bash "$HERE/compose-v2.sh"
  done_part "built $(tail -n 1 "$LOG_DIR/prepare-compose.log")"
fi

if ((vms)); then
  part vm-host
  long timeout 1800 bash "$HERE/setup.sh"
  done_part "$(grep -m1 -E 'KVM (works|does not work)|no /dev/kvm' "$LOG_DIR/prepare-vm-host.log" | sed 's/^setup: *//;s/-> //') ; $(tail -n 1 "$LOG_DIR/prepare-vm-host.log" | sed 's/^setup: //')"
fi

# The images before the box: the box bakes them in, so a fresh host's first VM needs none sent.
if ((images || vms)); then
  part images
  long timeout 2700 bash "$ROOT/stack/images/build.sh"
  done_part "$(grep -c ' built ' "$LOG_DIR/prepare-images.log" || true) built, $(grep -c ' cached ' "$LOG_DIR/prepare-images.log" || true) cached"
fi

if ((vms)); then
  part box
  long timeout 1800 bash "$ROOT/provision/box/build.sh"
  done_part "$(tail -n 1 "$LOG_DIR/prepare-box.log")"
fi
