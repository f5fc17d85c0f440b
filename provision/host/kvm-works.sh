#!/usr/bin/env bash
# Exit 0 when KVM really works on this host, 1 otherwise (the reason on stderr with -v).
#
# /dev/kvm existing proves nothing. On hosts with broken nested virtualisation a KVM guest either
# aborts at once (QEMU: "failed to set MSR 0x10a") or starts and then hangs silently (the guest's
# serial log stops after GRUB's "Loading initial ramdisk ..."). Only a guest that makes progress
# proves KVM: this script boots a real Linux kernel under `-accel kvm` with its console on the
# serial port and no root disk, and says "works" only when the kernel gets all the way to its
# "Kernel panic - not syncing: VFS: Unable to mount root fs" within KVM_PROBE_TIMEOUT seconds
# (about 1 s under KVM, 2 s even under TCG). A guest that prints nothing, or stops half way, is a
# hang: TCG. No kernel to boot also means TCG (nothing was proven).
#
# The kernel: KVM_PROBE_KERNEL, else the host's /boot/vmlinuz-*, else a Debian cloud kernel
# extracted once from `apt-get download linux-image-cloud-amd64`'s package into KVM_PROBE_DIR
# (default /var/cache/obslab/kvm-probe; KVM_PROBE_FETCH=0 forbids the download).
#
# The answer is cached in /run (gone at reboot; KVM_CACHE_FILE moves it) as "0|1 reason".
# KVM_WORKS=0|1 forces it. `--record 0 REASON` writes the cache without probing: the harness does
# that when a KVM guest of the lab hung at boot although this probe passed.
#
#   kvm-works.sh [-v] [--no-cache] [--reason] [--record 0|1 REASON]
#     --reason   print the answer's one-line reason on stdout (cached or fresh)
set -u
verbose=0 cache=1 show_reason=0 record=""
record_reason=""
while (($#)); do
  case $1 in
    -v) verbose=1 ;;
    --no-cache) cache=0 ;;
    --reason) show_reason=1 ;;
    --record)
      (($# >= 3)) || { echo "kvm-works: --record takes 0|1 and a reason" >&2; exit 2; }
      record=$2; record_reason=$3; shift 2 ;;
    *) echo "kvm-works: unknown option $1 (use -v, --no-cache, --reason, --record 0|1 REASON)" >&2; exit 2 ;;
  esac
  shift
done
say() { ((verbose)) && echo "kvm-works: $*" >&2; return 0; }
answer() { # result(0|1) reason: print, cache, exit
  local result=$1 reason=$2
  say "KVM works: $result ($reason)"
  ((show_reason)) && echo "$reason"
  if ((cache)); then
    mkdir -p "$(dirname "$CACHE")" 2>/dev/null
    echo "$result $reason" >"$CACHE" 2>/dev/null || true
  fi
  [[ $result == 1 ]]
  exit
}

# /run for root; a non-root user (who may still use qemu:///system) caches per user
if [[ -w /run ]]; then default_cache=/run/obslab-kvm-works
else default_cache=${XDG_RUNTIME_DIR:-/tmp}/obslab-kvm-works-$(id -u); fi
CACHE=${KVM_CACHE_FILE:-$default_cache}

if [[ -n $record ]]; then
  [[ $record == 0 || $record == 1 ]] || { echo "kvm-works: --record takes 0 or 1, got '$record'" >&2; exit 2; }
  cache=1
  answer "$record" "$record_reason"
fi
if [[ -n ${KVM_WORKS:-} ]]; then
  say "KVM_WORKS=$KVM_WORKS (forced)"
  ((show_reason)) && echo "forced by KVM_WORKS=$KVM_WORKS"
  [[ $KVM_WORKS == 1 ]]
  exit
fi
DEV=${KVM_DEVICE:-/dev/kvm}
QEMU=${KVM_QEMU:-qemu-system-x86_64}
ACCEL=${KVM_PROBE_ACCEL:-kvm}   # tests boot the same kernel under tcg to prove the probe can pass
TIMEOUT=${KVM_PROBE_TIMEOUT:-20}
PROBE_DIR=${KVM_PROBE_DIR:-/var/cache/obslab/kvm-probe}
MARKER='Kernel panic - not syncing'

if ((cache)) && [[ -f $CACHE ]]; then
  read -r v why <"$CACHE"
  # An answer without a reason was written by an older probe that only checked QEMU stayed alive
  # (which a hanging guest does): not trusted, probed again.
  if [[ ( $v == 0 || $v == 1 ) && -n ${why:-} ]]; then
    say "cached in $CACHE: $v ($why)"
    ((show_reason)) && echo "$why (cached in $CACHE)"
    [[ $v == 1 ]]
    exit
  fi
  say "ignoring $CACHE (no reason recorded: written by an older probe)"
fi
if [[ $ACCEL == kvm ]]; then
  [[ -e $DEV ]] || answer 0 "$DEV missing"
  [[ -r $DEV && -w $DEV ]] || answer 0 "$DEV not read/writable by $(id -un)"
fi
command -v "$QEMU" >/dev/null 2>&1 || answer 0 "$QEMU not installed"

find_kernel() {
  local k
  if [[ -n ${KVM_PROBE_KERNEL:-} ]]; then
    [[ -r $KVM_PROBE_KERNEL ]] && { echo "$KVM_PROBE_KERNEL"; return 0; }
    say "KVM_PROBE_KERNEL=$KVM_PROBE_KERNEL is not a readable file"
    return 1
  fi
  for k in "/boot/vmlinuz-$(uname -r)" $(ls -1t /boot/vmlinuz-* 2>/dev/null) "$PROBE_DIR"/vmlinuz-*; do
    [[ -r $k && -s $k ]] && { echo "$k"; return 0; }
  done
  [[ ${KVM_PROBE_FETCH:-1} == 0 ]] && return 1
  command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || return 1
  local pkg work deb
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [[ -n $pkg ]] || { say "apt knows no linux-image-cloud-amd64 (apt-get update?)"; return 1; }
  work=$(mktemp -d) || return 1
  say "fetching $pkg (a kernel to boot under KVM) into $PROBE_DIR"
  if ! (cd "$work" && timeout 300 apt-get download -q "$pkg" >/dev/null 2>&1); then
    say "apt-get download $pkg failed"; rm -rf "$work"; return 1
  fi
  deb=$(ls "$work"/*.deb 2>/dev/null | head -1)
  mkdir -p "$PROBE_DIR" && dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards './boot/vmlinuz-*' \
    && mv "$work"/boot/vmlinuz-* "$PROBE_DIR"/ 2>/dev/null
  rm -rf "$work"
  k=$(ls -1 "$PROBE_DIR"/vmlinuz-* 2>/dev/null | head -1)
  [[ -n $k ]] && echo "$k"
}
KERNEL=$(find_kernel) || answer 0 "no kernel to boot, so no guest could prove KVM (set KVM_PROBE_KERNEL)"

# Boot it: serial console to a file, no disk (the kernel panics when it finds no root: that line
# is the proof it ran its whole init), -no-reboot + panic=-1 make QEMU exit right after.
serial=$(mktemp) errors=$(mktemp) pidf=$(mktemp) rcf=$(mktemp)
qpid=""
trap 'rm -f "$serial" "$errors" "$pidf" "$rcf"; [[ -n $qpid ]] && kill -9 "$qpid" 2>/dev/null' EXIT
cpu=host; [[ $ACCEL == tcg ]] && cpu=qemu64
# (in a subshell whose stderr is /dev/null: QEMU aborts on broken KVM, and bash's "Aborted" job
# notice must not reach the caller)
( "$QEMU" -accel "$ACCEL" -machine pc -cpu "$cpu" -smp 1 -m 256 -nodefaults -display none \
    -monitor none -no-reboot -serial "file:$serial" -kernel "$KERNEL" \
    -append "console=ttyS0 panic=-1 root=/dev/obslab-no-root" >"$errors" 2>&1 </dev/null &
  echo $! >"$pidf"; wait $!; echo $? >"$rcf" ) 2>/dev/null &
started=$SECONDS deadline=$((SECONDS + TIMEOUT))
while [[ ! -s $pidf ]] && ((SECONDS < deadline)); do sleep 0.05; done
qpid=$(cat "$pidf")
stop() { [[ -n $qpid ]] && kill -9 "$qpid" 2>/dev/null; qpid=""; wait 2>/dev/null; }
while ((SECONDS < deadline)); do
  if grep -q "$MARKER" "$serial" 2>/dev/null; then
    stop
    answer 1 "a kernel booted under -accel $ACCEL to its end of init in $((SECONDS - started))s ($(basename "$KERNEL"))"
  fi
  if ! kill -0 "$qpid" 2>/dev/null; then
    qpid=""; wait 2>/dev/null
    answer 0 "$QEMU -accel $ACCEL exited $(cat "$rcf") before the guest finished booting: $(tr '\n' ' ' <"$errors" | cut -c1-240)"
  fi
  sleep 0.2
done
stop
last=$(tr -d '\r' <"$serial" | grep -v '^[[:space:]]*$' | tail -1 | cut -c1-160)
answer 0 "the guest hangs under -accel $ACCEL: no end of kernel init within ${TIMEOUT}s ($(wc -c <"$serial") bytes on its serial console${last:+, last: $last})"
