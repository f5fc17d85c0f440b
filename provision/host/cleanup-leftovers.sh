#!/usr/bin/env bash
# Remove what a lab VM can leave in libvirt after a crash, Ctrl-C or `vagrant destroy`:
#   - domains and volumes whose name starts with the lab's prefix (the Vagrantfile's LAB_VM_PREFIX,
#     default obslab-<8 hex of sha1(repo dir)>_), e.g. after a killed `vagrant up`;
#   - with --box-volumes: vagrant-libvirt's uploaded copies of boxes (`*_vagrant_box_image_*` in the
#     `default` pool) that no domain uses — vagrant-libvirt never removes them, not even on
#     destroy. The copy of the box currently added is kept unless --all-box-volumes (the next `up`
#     re-uploads it, ~40 s).
#   - the lab's private network (LAB_VM_NETWORK, default obslab0) when no domain uses it.
# Never touches domains, volumes or networks of other prefixes, nor the box added in Vagrant.
#
#   cleanup-leftovers.sh [--prefix P] [--box-volumes] [--all-box-volumes] [--dry-run]
# Prints what it removed and then what is left (`virsh list --all`, `virsh vol-list default`).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PREFIX=${LAB_VM_PREFIX:-obslab-$(printf '%s' "$REPO" | sha1sum | cut -c1-8)_}
NETWORK=${LAB_VM_NETWORK:-obslab0}
BOX=${LAB_BOX:-lab/debian12}
BOX_VOLUMES=0 ALL_BOX=0 DRY=0
while (($#)); do
  case $1 in
    --prefix) PREFIX=$2; shift ;;
    --box-volumes) BOX_VOLUMES=1 ;;
    --all-box-volumes) BOX_VOLUMES=1 ALL_BOX=1 ;;
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cleanup: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -n $PREFIX ]] || { echo "cleanup: empty prefix" >&2; exit 2; }
V=(timeout 60 virsh -c "${LIBVIRT_DEFAULT_URI:-qemu:///system}")
act() { echo "cleanup: $*"; ((DRY)) || "${V[@]}" "$@" >/dev/null; }

domains=$("${V[@]}" list --all --name | grep . || true)
for d in $domains; do
  [[ $d == "$PREFIX"* ]] || continue
  state=$("${V[@]}" domstate "$d" 2>/dev/null || true)
  [[ $state == "shut off" ]] || act destroy "$d"
  act undefine "$d" --nvram --managed-save --snapshots-metadata 2>/dev/null || act undefine "$d"
done

# Every image a domain uses, with its whole backing chain (a box copy backs the domains' disks).
disks=$(for d in $("${V[@]}" list --all --name | grep . || true); do
          "${V[@]}" dumpxml "$d" 2>/dev/null | grep -oE "/var/lib/libvirt/images/[^'\"]+" || true
        done | sort -u)
in_use=$(for f in $disks; do
           echo "$f"
           qemu-img info -U --backing-chain "$f" 2>/dev/null | sed -n 's/^image: //p' || true
         done | xargs -r -n1 basename | sort -u)
current_box_mtime=none
for box_img in "${VAGRANT_HOME:-$HOME/.vagrant.d}/boxes/${BOX//\//-VAGRANTSLASH-}"/*/libvirt/box.img; do
  [[ -f $box_img ]] && current_box_mtime=$(stat -c %Y "$box_img")
done

for v in $("${V[@]}" vol-list default 2>/dev/null | awk 'NR > 2 && NF {print $1}'); do
  if [[ $v == "$PREFIX"* ]]; then
    grep -qxF "$v" <<<"$in_use" && { echo "cleanup: $v in use by a domain: kept"; continue; }
    act vol-delete --pool default "$v"
  elif ((BOX_VOLUMES)) && [[ $v == *_vagrant_box_image_* ]]; then
    grep -qxF "$v" <<<"$in_use" && { echo "cleanup: $v backs a domain's disk: kept"; continue; }
    if ((!ALL_BOX)) && [[ $v == "${BOX//\//-VAGRANTSLASH-}_vagrant_box_image_"*"_${current_box_mtime}_box.img" ]]; then
      echo "cleanup: $v is the current box's copy: kept (--all-box-volumes removes it)"
      continue
    fi
    act vol-delete --pool default "$v"
  fi
done

if "${V[@]}" net-info "$NETWORK" >/dev/null 2>&1; then
  users=0
  for d in $("${V[@]}" list --all --name | grep . || true); do
    xml=$("${V[@]}" dumpxml "$d" 2>/dev/null || true)
    grep -q "network='$NETWORK'" <<<"$xml" && users=$((users + 1))
  done
  if ((users == 0)); then
    info=$("${V[@]}" net-info "$NETWORK")
    grep -Eq '^Active:\s+yes' <<<"$info" && act net-destroy "$NETWORK"
    act net-undefine "$NETWORK"
  else
    echo "cleanup: network $NETWORK used by $users domain(s): kept"
  fi
fi

echo "cleanup: left in libvirt:"
"${V[@]}" list --all | sed 's/^/  /'
"${V[@]}" vol-list default | sed 's/^/  /'
