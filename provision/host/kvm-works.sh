#!/usr/bin/env bash
# Exit 0 when KVM really works on this host, 1 otherwise (prints the reason on stderr with -v).
# /dev/kvm existing is not enough: on hosts with broken nested virtualisation the device opens but
# KVM_CREATE_VM or the first vCPU run fails. So: the device must be readable and writable, and a
# QEMU with `-accel kvm` must start a guest (no disk, paused at the first instruction: -S) and keep
# it alive for a moment. Cached in /run (gone at reboot; KVM_CACHE_FILE moves it; KVM_WORKS=0|1 forces).
#
#   kvm-works.sh [-v] [--no-cache]
set -u
verbose=0 cache=1
for a in "$@"; do
  case $a in
    -v) verbose=1 ;;
    --no-cache) cache=0 ;;
  esac
done
say() { ((verbose)) && echo "kvm-works: $*" >&2; return 0; }

if [[ -n ${KVM_WORKS:-} ]]; then
  say "KVM_WORKS=$KVM_WORKS (forced)"
  [[ $KVM_WORKS == 1 ]]
  exit
fi
DEV=${KVM_DEVICE:-/dev/kvm}
QEMU=${KVM_QEMU:-qemu-system-x86_64}
# /run for root; a non-root user (who may still use qemu:///system) caches per user
if [[ -w /run ]]; then default_cache=/run/obslab-kvm-works
else default_cache=${XDG_RUNTIME_DIR:-/tmp}/obslab-kvm-works-$(id -u); fi
CACHE=${KVM_CACHE_FILE:-$default_cache}

if [[ ! -e $DEV ]]; then say "$DEV missing"; exit 1; fi
if [[ ! -r $DEV || ! -w $DEV ]]; then say "$DEV not read/writable by $(id -un)"; exit 1; fi
if ((cache)) && [[ -f $CACHE ]]; then
  read -r v <"$CACHE"
  say "cached in $CACHE: $v"
  [[ $v == 1 ]]
  exit
fi
if ! command -v "$QEMU" >/dev/null 2>&1; then say "$QEMU not installed"; exit 1; fi

# Start a guest under KVM: with -S QEMU creates the VM and vCPUs (KVM_CREATE_VM, KVM_CREATE_VCPU)
# and waits; "-accel kvm" without fallback exits at once when KVM cannot be used. Alive after 2 s
# = works. Then also let it run a little (no -S) to catch hosts where KVM_RUN fails.
probe() {
  local log rc
  log=$(mktemp)
  # (the braces keep bash's "Aborted" job notice off stderr: QEMU asserts on broken KVM)
  { timeout -k 2 "$1" "$QEMU" -accel kvm -machine pc -cpu host -m 32 -nodefaults -display none \
    -serial none -monitor none -no-reboot "${@:2}" >"$log" 2>&1; } 2>/dev/null
  rc=$?
  if ((rc == 124)); then rm -f "$log"; return 0; fi
  say "$QEMU -accel kvm exited $rc: $(tr '\n' ' ' <"$log" | cut -c1-300)"
  rm -f "$log"
  return 1
}
result=0
if probe 3 -S && probe 3; then result=1; fi
if ((cache)); then echo "$result" >"$CACHE" 2>/dev/null || true; fi
say "KVM works: $result"
[[ $result == 1 ]]
