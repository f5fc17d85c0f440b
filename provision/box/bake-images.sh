#!/usr/bin/env bash
# Bake Docker images of this host's engine into a root filesystem's Docker storage (the box's).
#
#   provision/box/bake-images.sh ROOT IMAGE [IMAGE ...]
#
# Starts a private dockerd on ROOT/var/lib/docker (its own socket, exec root and containerd, in a
# network namespace of its own), loads `docker save IMAGE...` from this host's engine into it, records what it holds
# in ROOT/etc/obslab-box-images ("<name> <image id>" per line) and stops it again. The VM's own
# dockerd (the same Debian docker.io, overlay2) then finds the images in place: a fresh VM of the
# box has the lab's images, and the deploy (harness/lab/shipping.py, which compares image IDs) sends
# only those built since. Run by build.sh (default: every lab/*:local image of this host); root.
set -euo pipefail
ROOT=${1:?usage: bake-images.sh ROOT IMAGE [IMAGE ...]}
shift
(($#)) || { echo "bake: no images given" >&2; exit 2; }
[[ -d $ROOT ]] || { echo "bake: $ROOT is not a directory" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "bake: must run as root (a private dockerd)" >&2; exit 1; }
command -v dockerd >/dev/null || { echo "bake: dockerd not found (apt-get install docker.io)" >&2; exit 1; }
command -v unshare >/dev/null || { echo "bake: unshare not found (apt-get install util-linux)" >&2; exit 1; }

# A short path: containerd's socket lives under the exec root (unix sockets: 108 bytes at most).
RUN=$(mktemp -d /var/tmp/obslab-bake.XXXXXX)
SOCK=$RUN/docker.sock
PID=
stop() {
  if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
    kill "$PID"
    for _ in $(seq 1 60); do kill -0 "$PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$PID" 2>/dev/null || true
  fi
  PID=
}
cleanup() {
  local rc=$?
  stop
  if mountpoint -q "$ROOT/var/lib/docker"; then umount "$ROOT/var/lib/docker" || umount -l "$ROOT/var/lib/docker"; fi
  rm -rf "$RUN"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$ROOT/var/lib/docker" "$ROOT/etc"
# In a network namespace of its own: a dockerd with --bridge=none deletes the host's docker0 on
# start (moby removes "the default bridge interface"), and this one must touch no host network.
unshare --net -- dockerd --data-root "$ROOT/var/lib/docker" --exec-root "$RUN/exec" --pidfile "$RUN/dockerd.pid" \
  --host "unix://$SOCK" --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
  --storage-driver=overlay2 --containerd-namespace=obslab-bake >"$RUN/dockerd.log" 2>&1 &
PID=$!
for _ in $(seq 1 120); do
  docker --host "unix://$SOCK" version >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.5
done
docker --host "unix://$SOCK" version >/dev/null 2>&1 || { tail -20 "$RUN/dockerd.log" >&2; echo "bake: the private dockerd did not start" >&2; exit 1; }

# One `docker save` of all images: layers they share (the debootstrap base) go once.
set -o pipefail
timeout 1800 docker save "$@" | timeout 1800 docker --host "unix://$SOCK" load -q >"$RUN/load.log"
: >"$ROOT/etc/obslab-box-images"
for image in "$@"; do
  id=$(docker --host "unix://$SOCK" image inspect --format '{{.Id}}' "$image") \
    || { echo "bake: $image is not in the baked storage after the load" >&2; exit 1; }
  [[ $id == "$(docker image inspect --format '{{.Id}}' "$image")" ]] \
    || { echo "bake: $image has another ID in the baked storage" >&2; exit 1; }
  echo "$image $id" >>"$ROOT/etc/obslab-box-images"
done
stop
# dockerd bind-mounts its data root; a daemon that had to be killed may leave that mount behind.
if mountpoint -q "$ROOT/var/lib/docker"; then umount "$ROOT/var/lib/docker" || umount -l "$ROOT/var/lib/docker"; fi
# Only the image store stays: networks, containerd's state and scratch space are the VM's own.
rm -rf "$ROOT/var/lib/docker/network" "$ROOT/var/lib/docker/containerd" "$ROOT/var/lib/docker/tmp" \
  "$ROOT/var/lib/docker/runtimes"
echo "bake: $# image(s) in $ROOT/var/lib/docker ($(du -sh "$ROOT/var/lib/docker" | cut -f1))"
