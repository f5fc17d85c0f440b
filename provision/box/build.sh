#!/usr/bin/env bash
# Build a libvirt Vagrant box of Debian 12 (bookworm) from debootstrap and `vagrant box add` it.
# For hosts with no box registry; `lab box build` runs exactly this script.
#
#   provision/box/build.sh [--force] [--with-docker|--no-docker] [--name NAME] [--output DIR]
#                          [--disk-gb N] [--mirror URL] [--keep-work]
#                          [--images "IMAGE ..."|--no-images]
#   provision/box/build.sh --check        exit 0 when box NAME is added and current, 3 when a
#                                         build would run (builds nothing)
#   provision/box/build.sh --pack-only IMG.qcow2 [--output DIR]   only package IMG as a .box
#
# The box: one qcow2 disk (MBR, one ext4 partition, GRUB for BIOS), linux-image-amd64, systemd,
# systemd-networkd with DHCP on every Ethernet NIC whatever its name (the first one is Vagrant's
# management NIC), openssh-server (host keys made at first boot), sudo, the `vagrant` user with
# Vagrant's insecure public key (taken from the local Vagrant install, never downloaded) and
# passwordless sudo, serial console on ttyS0, an empty machine-id. With --with-docker (default)
# also docker.io + apparmor + docker-compose + nftables + rsync, so provisioning skips that step,
# and the lab's images baked into the box's Docker storage (bake-images.sh; default: every
# lab/*:local image of this host's engine, --images to choose, --no-images for none), so a fresh
# VM has them and the deploy sends only the images built since (it compares image IDs).
#
# Cached: when box NAME is already added and the hash of its inputs (this script, the files next
# to it, the package list, the options, Vagrant's key) is the one recorded in the box
# (obslab-inputs), nothing is done. --force rebuilds.
# `vagrant box add` runs under the host-wide lock /var/lock/obslab-vagrant.lock (shared with the
# harness; do not hold it while calling this script).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
HERE=$(cd "$(dirname "$0")" && pwd)

NAME=${LAB_BOX:-lab/debian12}
WITH_DOCKER=1
BAKE=auto
FORCE=0
KEEP_WORK=0
CHECK=0
PACK_ONLY=
OUTPUT=${BOX_OUTPUT_DIR:-/var/cache/obslab/box}
DISK_GB=${BOX_DISK_GB:-20}
SUITE=bookworm
MIRROR=${BOX_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${BOX_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
LOCK=${LAB_VAGRANT_LOCK:-/var/lock/obslab-vagrant.lock}
BUILD_LOCK=/var/lock/obslab-box-build.lock
DEB_CACHE=${BOX_DEB_CACHE:-/var/cache/obslab/box-debs}

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --force) FORCE=1 ;;
    --with-docker) WITH_DOCKER=1 ;;
    --no-docker) WITH_DOCKER=0 ;;
    --images) BAKE=$2; shift ;;
    --images=*) BAKE=${1#*=} ;;
    --no-images) BAKE= ;;
    --name) NAME=$2; shift ;;
    --name=*) NAME=${1#*=} ;;
    --output) OUTPUT=$2; shift ;;
    --output=*) OUTPUT=${1#*=} ;;
    --disk-gb) DISK_GB=$2; shift ;;
    --mirror) MIRROR=$2; shift ;;
    --keep-work) KEEP_WORK=1 ;;
    --check) CHECK=1 ;;
    --pack-only) PACK_ONLY=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "box: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# ------------------------------------------------------------------ helpers
T0=$(date +%s)
step_t=$T0
log() { echo "box: [$(date -u +%H:%M:%S) +$(($(date +%s) - T0))s] $*"; }
step() { step_t=$(date +%s); log "$*"; }
took() { log "  done: $* ($(($(date +%s) - step_t))s)"; }
die() { echo "box: error: $*" >&2; exit 1; }

# Packages of the box (the list is part of the cache key).
BASE_INCLUDE=systemd-sysv,systemd-resolved,udev,dbus,kmod,iproute2,iputils-ping,procps,less,ca-certificates,openssh-server,sudo,rsync,nftables,curl,gnupg
KERNEL_PKGS=(linux-image-amd64 grub-pc initramfs-tools)
DOCKER_PKGS=(docker.io apparmor docker-compose)

find_vagrant_pubkey() {
  local c
  for c in ${VAGRANT_INSECURE_PUBKEY:-} /usr/share/vagrant/keys/vagrant.pub \
           /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub \
           /opt/vagrant/embedded/gems/*/gems/vagrant-*/keys/vagrant.pub \
           /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub; do
    [[ -n $c && -f $c ]] && { echo "$c"; return 0; }
  done
  c=$(gem contents vagrant 2>/dev/null | grep -m1 '/keys/vagrant.pub$' || true)
  [[ -n $c && -f $c ]] && { echo "$c"; return 0; }
  return 1
}

box_dir() { # the added box's provider dir, if any
  local home=${VAGRANT_HOME:-$HOME/.vagrant.d} d
  for d in "$home/boxes/${NAME//\//-VAGRANTSLASH-}"/*/libvirt; do
    [[ -f $d/metadata.json ]] && { echo "$d"; return 0; }
  done
  return 1
}

inputs_hash() {
  {
    echo "suite=$SUITE docker=$WITH_DOCKER disk=$DISK_GB"
    echo "base=$BASE_INCLUDE kernel=${KERNEL_PKGS[*]} docker=${DOCKER_PKGS[*]}"
    # the names of the baked images, not their IDs: a rebuilt image does not rebuild the box (the
    # deploy sends it), a changed set of images does
    echo "images=${BAKE_IMAGES[*]}"
    # every file of provision/box/ (this script included) by relative name: the same hash
    # whichever path the script was started by
    (cd "$HERE" && find . -maxdepth 2 -type f ! -name '*.md' -print0 | sort -z | xargs -0 -r sha256sum)
    cat "$PUBKEY"
  } | sha256sum | cut -c1-64
}

# pack_box IMAGE BOXFILE HASH: a libvirt box (v1 format) — metadata.json, Vagrantfile, box.img,
# obslab-inputs — as an uncompressed tar (the qcow2 is compressed already).
pack_box() {
  local img=$1 boxfile=$2 hash=$3 dir info fmt vsize gb
  info=$(qemu-img info --output=json "$img") || die "qemu-img info $img failed"
  # the image's own keys, not its children's: QEMU 10 (Debian 13) lists the protocol layer first
  # ("children": [{"info": {"format": "file", "virtual-size": <file size>}}]) — a text match took those
  read -r fmt vsize < <(python3 -c 'import json, sys; i = json.load(sys.stdin); print(i["format"], i["virtual-size"])' \
                          <<<"$info") || die "qemu-img info $img: no format or virtual size"
  [[ $fmt == qcow2 ]] || die "$img is $fmt, a libvirt box needs qcow2"
  gb=$(( (vsize + 1073741823) / 1073741824 ))   # vagrant-libvirt wants whole GB
  dir=$(mktemp -d "${TMPDIR:-/tmp}/obslab-pack.XXXXXX")
  printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' "$gb" >"$dir/metadata.json"
  cat >"$dir/Vagrantfile" <<'EOF'
# Box defaults (built by provision/box/build.sh). The project's Vagrantfile sets the rest.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.disk_bus = "virtio"
    libvirt.nic_model_type = "virtio"
  end
end
EOF
  echo "$hash" >"$dir/obslab-inputs"
  ln "$img" "$dir/box.img" 2>/dev/null || cp --reflink=auto "$img" "$dir/box.img"
  mkdir -p "$(dirname "$boxfile")"
  timeout 600 tar -C "$dir" -cf "$boxfile.tmp" metadata.json Vagrantfile obslab-inputs box.img \
    || { rm -rf "$dir" "$boxfile.tmp"; die "tar failed"; }
  mv -f "$boxfile.tmp" "$boxfile"
  rm -rf "$dir"
}

# ------------------------------------------------------------------ preflight
if [[ -n $PACK_ONLY ]]; then
  [[ -f $PACK_ONLY ]] || die "--pack-only: no image $PACK_ONLY"
  BOXFILE=$OUTPUT/${NAME//\//-}.box
  pack_box "$PACK_ONLY" "$BOXFILE" "pack-only"
  log "packed $BOXFILE"
  exit 0
fi
[[ $(id -u) -eq 0 || $CHECK == 1 ]] || die "must run as root (debootstrap, loop devices, mounts)"
PUBKEY=$(find_vagrant_pubkey) || die "Vagrant's insecure public key not found (is vagrant installed? set VAGRANT_INSECURE_PUBKEY)"
for tool in debootstrap qemu-img sfdisk partx mkfs.ext4 losetup vagrant flock; do
  command -v "$tool" >/dev/null || die "$tool missing (run provision/host/setup.sh)"
done
# Images to bake: named, or every lab/*:local image of this host's engine (none when it has none).
BAKE_IMAGES=()
if ((WITH_DOCKER)) && [[ -n $BAKE ]]; then
  if [[ $BAKE == auto ]]; then
    if command -v docker >/dev/null && timeout 30 docker version >/dev/null 2>&1; then
      mapfile -t BAKE_IMAGES < <(timeout 60 docker images --filter 'reference=lab/*:local' \
                                   --format '{{.Repository}}:{{.Tag}}' | sort -u)
    fi
  else
    read -r -a BAKE_IMAGES <<<"$BAKE"
  fi
fi
HASH=$(inputs_hash)
log "box $NAME (docker: $WITH_DOCKER), inputs $(cut -c1-12 <<<"$HASH")"

if ((!FORCE)) && d=$(box_dir) && [[ -f $d/obslab-inputs && $(<"$d/obslab-inputs") == "$HASH" ]]; then
  log "cached: box $NAME already added with the same inputs ($d); --force rebuilds"
  exit 0
fi
if ((CHECK)); then
  log "box $NAME is missing or its inputs changed: a build would run"
  exit 3
fi

mkdir -p "$OUTPUT" "$DEB_CACHE" "$(dirname "$BUILD_LOCK")"
exec 8>"$BUILD_LOCK"
timeout 3600 flock 8 || die "another box build holds $BUILD_LOCK"

WORK=$(mktemp -d /var/tmp/obslab-box.XXXXXX)
RAW=$WORK/disk.raw
MNT=$WORK/root
LOOP=
mkdir -p "$MNT"

MOUNTS=()
cleanup() {
  local rc=$?
  set +e
  local i
  for ((i=${#MOUNTS[@]}-1; i>=0; i--)); do
    mountpoint -q "${MOUNTS[i]}" && { umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}"; }
  done
  if [[ -n $LOOP ]]; then
    partx -d "$LOOP" 2>/dev/null
    losetup -d "$LOOP" 2>/dev/null
  fi
  if ((KEEP_WORK)); then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  if ((rc != 0)); then echo "box: FAILED after $(($(date +%s) - T0))s (exit $rc)" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mnt() { mount "$@"; MOUNTS+=("${!#}"); }

# ------------------------------------------------------------------ disk
step "disk: ${DISK_GB}G sparse raw, MBR, one ext4 partition"
truncate -s "${DISK_GB}G" "$RAW"
printf 'label: dos\nstart=2048, type=83, bootable\n' | timeout 60 sfdisk -q "$RAW"
# A container's /dev (a tmpfs of its own, no devtmpfs) has no loop nodes: losetup then fails with
# 'failed to set up loop device: No such file or directory' ('device node /dev/loopN is lost').
# Make /dev/loop-control and the free device's node as the kernel numbers them (sysfs).
[[ -e /dev/loop-control ]] || mknod -m 660 /dev/loop-control c 10 237
free=$(losetup -f) || die "no free loop device (losetup -f)"
free=${free%% *}
if [[ ! -b $free ]]; then
  dev=$(cat "/sys/block/$(basename "$free")/dev" 2>/dev/null) || die "no sysfs entry for $free"
  mknod -m 660 "$free" b "${dev%:*}" "${dev#*:}"
fi
LOOP=$(losetup -f --show "$RAW")
# `losetup -P` makes no partition nodes here (no udev); partx adds them through the kernel.
timeout 30 partx -a "$LOOP" 2>/dev/null || true
for _ in $(seq 1 20); do [[ -b ${LOOP}p1 ]] && break; sleep 0.5; done
if [[ ! -b ${LOOP}p1 ]]; then
  # no devtmpfs node either: make it from sysfs
  dev=$(cat "/sys/block/$(basename "$LOOP")/$(basename "$LOOP")p1/dev" 2>/dev/null) || die "no partition device for $LOOP"
  mknod "${LOOP}p1" b "${dev%:*}" "${dev#*:}"
fi
PART=${LOOP}p1
timeout 120 mkfs.ext4 -q -L lab-root -m 1 "$PART"
UUID=$(blkid -s UUID -o value "$PART")
[[ -n $UUID ]] || die "no UUID for $PART"
mnt "$PART" "$MNT"
took "$LOOP, root UUID $UUID"

# ------------------------------------------------------------------ debootstrap
step "debootstrap $SUITE (minbase + ${BASE_INCLUDE//,/ })"
if ! timeout 1200 debootstrap --variant=minbase --cache-dir="$DEB_CACHE" --include="$BASE_INCLUDE" \
    "$SUITE" "$MNT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
  tail -30 "$WORK/debootstrap.log"; tail -30 "$MNT/debootstrap/debootstrap.log" 2>/dev/null
  die "debootstrap failed"
fi
took "$(du -sh "$MNT" | cut -f1) rootfs"

# ------------------------------------------------------------------ chroot setup
mnt --bind /dev "$MNT/dev"
mnt --bind /dev/pts "$MNT/dev/pts"
mnt -t proc proc "$MNT/proc"
mnt -t sysfs sysfs "$MNT/sys"
mnt -t tmpfs tmpfs "$MNT/run"
mkdir -p "$MNT/var/cache/apt/archives" "$DEB_CACHE/apt"
mnt --bind "$DEB_CACHE/apt" "$MNT/var/cache/apt/archives"
# every chroot command has a timeout: T=<seconds> in_root ... (default 300)
in_root() { timeout -k 10 "${T:-300}" chroot "$MNT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 HOME=/root "$@"; }

# dpkg without fsync while building (the image is converted afterwards anyway); removed below.
echo force-unsafe-io >"$MNT/etc/dpkg/dpkg.cfg.d/obslab-build-unsafe-io"
# No daemon starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$MNT/usr/sbin/policy-rc.d"
chmod 755 "$MNT/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$MNT/etc/resolv.conf.build" 2>/dev/null || true
rm -f "$MNT/etc/resolv.conf"
cp "$MNT/etc/resolv.conf.build" "$MNT/etc/resolv.conf" 2>/dev/null || true

cat >"$MNT/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
cat >"$MNT/etc/apt/apt.conf.d/90obslab" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
EOF
# grub-pc: install to no device from its postinst; we run grub-install ourselves below.
in_root debconf-set-selections <<'EOF'
grub-pc grub-pc/install_devices multiselect
grub-pc grub-pc/install_devices_empty boolean true
EOF

pkgs=("${KERNEL_PKGS[@]}")
((WITH_DOCKER)) && pkgs+=("${DOCKER_PKGS[@]}")
step "apt: ${pkgs[*]}"
T=600 in_root apt-get update -q >"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; die "apt-get update failed"; }
T=600 in_root apt-get -y -q -o Dpkg::Options::=--force-confold upgrade >>"$WORK/apt.log" 2>&1 \
  || { tail -30 "$WORK/apt.log"; die "apt-get upgrade failed"; }
T=1800 in_root apt-get install -y -q "${pkgs[@]}" >>"$WORK/apt.log" 2>&1 \
  || { tail -40 "$WORK/apt.log"; die "apt-get install failed"; }
took "installed"

# ------------------------------------------------------------------ system configuration
step "configure: fstab, network, ssh, vagrant user, serial console"
cat >"$MNT/etc/fstab" <<EOF
UUID=$UUID / ext4 errors=remount-ro,noatime 0 1
EOF
echo lab >"$MNT/etc/hostname"
cat >"$MNT/etc/hosts" <<'EOF'
127.0.0.1 localhost
127.0.1.1 lab
::1 localhost ip6-localhost ip6-loopback
EOF

# DHCP on every Ethernet NIC whatever its name. Vagrant writes 50-vagrant-<nic>.network for its
# private networks; networkd takes the first file (in name order) that matches, so ours is 99-.
# RequiredForOnline=no: a NIC with no DHCP server (the lab's isolated private network before Vagrant
# configures it) must not hold up boot.
mkdir -p "$MNT/etc/systemd/network"
cat >"$MNT/etc/systemd/network/99-obslab-dhcp.network" <<'EOF'
[Match]
Type=ether
Name=en* eth*

[Network]
DHCP=yes
LinkLocalAddressing=no
IPv6AcceptRA=no

[DHCPv4]
ClientIdentifier=mac
UseDomains=yes

[Link]
RequiredForOnline=no
EOF
in_root systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1
in_root systemctl disable systemd-networkd-wait-online.service >/dev/null 2>&1 || true
rm -f "$MNT/etc/resolv.conf" "$MNT/etc/resolv.conf.build"
ln -s ../run/systemd/resolve/stub-resolv.conf "$MNT/etc/resolv.conf"

# SSH: host keys are made on first boot (never shared between VMs of one box); no DNS lookups.
# Only ed25519 + ECDSA: `ssh-keygen -A` also makes an RSA key, which took 26 s of the first boot
# under TCG (systemd-analyze blame); Vagrant's net-ssh speaks both.
rm -f "$MNT"/etc/ssh/ssh_host_*
cat >"$MNT/etc/systemd/system/ssh-hostkeys.service" <<'EOF'
[Unit]
Description=Generate SSH host keys on first boot
Before=ssh.service
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
ExecStart=/usr/bin/ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
EOF
in_root systemctl enable ssh-hostkeys.service ssh.service >/dev/null 2>&1
cat >"$MNT/etc/ssh/sshd_config.d/10-box.conf" <<'EOF'
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
UseDNS no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
EOF

# The vagrant user: Vagrant's insecure key (Vagrant replaces it on first `up`), passwordless sudo.
in_root useradd -m -s /bin/bash -U vagrant
in_root passwd -l vagrant >/dev/null
((WITH_DOCKER)) && in_root usermod -aG docker vagrant
install -d -m 700 "$MNT/home/vagrant/.ssh"
install -m 600 "$PUBKEY" "$MNT/home/vagrant/.ssh/authorized_keys"
in_root chown -R vagrant:vagrant /home/vagrant/.ssh
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' >"$MNT/etc/sudoers.d/vagrant"
chmod 440 "$MNT/etc/sudoers.d/vagrant"
in_root visudo -cq -f /etc/sudoers.d/vagrant || die "sudoers file invalid"
in_root passwd -l root >/dev/null

# Docker in the box: enabled; the lab's bootstrap does the rest (deploy user, sshd, firewall).
# The two files below are byte-for-byte the ones provision/vm/bootstrap.sh writes (a test checks),
# so the first provisioning finds them in place and restarts neither Docker nor resolved.
if ((WITH_DOCKER)); then
  in_root systemctl enable docker.service containerd.service >/dev/null 2>&1
  mkdir -p "$MNT/etc/docker"
  cat >"$MNT/etc/docker/daemon.json" <<'EOF'
{
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "3"}
}
EOF
fi
mkdir -p "$MNT/etc/systemd/resolved.conf.d"
cat >"$MNT/etc/systemd/resolved.conf.d/obslab.conf" <<'EOF'
# obslab: no LLMNR/mDNS listeners (only SSH and the lab's ports listen on the VM's addresses)
[Resolve]
LLMNR=no
MulticastDNS=no
EOF
in_root systemctl enable serial-getty@ttyS0.service >/dev/null 2>&1 || true

# Keep the image small and unique per VM.
: >"$MNT/etc/machine-id"
rm -f "$MNT/var/lib/dbus/machine-id"
echo "obslab box $NAME built $(date -u +%Y-%m-%dT%H:%M:%SZ) inputs $HASH" >"$MNT/etc/obslab-box"
took "configured"

# ------------------------------------------------------------------ images
if ((${#BAKE_IMAGES[@]})); then
  step "images: bake ${BAKE_IMAGES[*]}"
  timeout 1800 "$HERE/bake-images.sh" "$MNT" "${BAKE_IMAGES[@]}" || die "baking the images failed"
  took "baked ${#BAKE_IMAGES[@]} image(s)"
elif ((WITH_DOCKER)); then
  log "no images baked (none named, no lab/*:local image here): the first deploy sends them all"
fi

# ------------------------------------------------------------------ bootloader
step "grub (BIOS, serial console)"
cat >"$MNT/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --speed=115200 --unit=0 --word=8 --parity=no --stop=1"
GRUB_DISABLE_OS_PROBER=true
EOF
T=300 in_root grub-install --target=i386-pc --modules="part_msdos ext2" "$LOOP" >"$WORK/grub.log" 2>&1 \
  || { cat "$WORK/grub.log"; die "grub-install failed"; }
T=300 in_root update-grub >>"$WORK/grub.log" 2>&1 || { cat "$WORK/grub.log"; die "update-grub failed"; }
# update-grub in a chroot writes root=/dev/loopXp1: point it at the filesystem's UUID.
sed -i -E "s#root=/dev/loop[0-9]+p1#root=UUID=$UUID#g" "$MNT/boot/grub/grub.cfg"
grep -q "root=UUID=$UUID" "$MNT/boot/grub/grub.cfg" || die "grub.cfg has no root=UUID=$UUID"
if grep -q '/dev/loop' "$MNT/boot/grub/grub.cfg"; then die "grub.cfg still names a loop device"; fi
took "grub installed on $LOOP"

# ------------------------------------------------------------------ shrink + convert
step "clean up and convert to qcow2"
rm -f "$MNT/usr/sbin/policy-rc.d" "$MNT/etc/dpkg/dpkg.cfg.d/obslab-build-unsafe-io"
in_root apt-get clean
umount "$MNT/var/cache/apt/archives"
rm -rf "$MNT"/var/lib/apt/lists/* "$MNT"/tmp/* "$MNT"/var/tmp/* "$MNT"/var/log/*.log "$MNT/root/.bash_history"
for ((i=${#MOUNTS[@]}-1; i>=1; i--)); do mountpoint -q "${MOUNTS[i]}" && umount "${MOUNTS[i]}"; done
timeout 120 fstrim "$MNT" 2>/dev/null || true
umount "$MNT"
MOUNTS=()
timeout 120 e2fsck -fy "$PART" >/dev/null 2>&1 || true
partx -d "$LOOP" 2>/dev/null || true
losetup -d "$LOOP"
LOOP=
mkdir -p "$WORK/box"
timeout 900 qemu-img convert -c -O qcow2 "$RAW" "$WORK/box/box.img"
rm -f "$RAW"
took "box.img $(du -h "$WORK/box/box.img" | cut -f1)"

# ------------------------------------------------------------------ package
step "package .box"
BOXFILE=$OUTPUT/${NAME//\//-}.box
pack_box "$WORK/box/box.img" "$BOXFILE" "$HASH"
took "$BOXFILE $(du -h "$BOXFILE" | cut -f1)"

step "vagrant box add --force --name $NAME (lock $LOCK)"
mkdir -p "$(dirname "$LOCK")"
(
  exec 9>"$LOCK"
  timeout 1800 flock 9 || die "timed out waiting for $LOCK"
  timeout 900 vagrant box add --force --name "$NAME" --provider libvirt "$BOXFILE" >"$WORK/box-add.log" 2>&1 \
    || { cat "$WORK/box-add.log"; die "vagrant box add failed"; }
) || exit 1
took "added"

# vagrant-libvirt uploads a box to the `default` pool once, named after the box and box.img's mtime
# (<name>_vagrant_box_image_0_<mtime>_box.img); older uploads of this box are stale now. Remove the
# ones no domain uses.
if command -v virsh >/dev/null && timeout 10 virsh -c qemu:///system pool-info default >/dev/null 2>&1; then
  prefix="${NAME//\//-VAGRANTSLASH-}_vagrant_box_image_"
  current=$(box_dir) && current_mtime=$(stat -c %Y "$current/box.img") || current_mtime=none
  in_use=$(for d in $(timeout 20 virsh -c qemu:///system list --all --name); do
             # (|| true: a domain that does not use this box — or vanished meanwhile — is no error)
             timeout 20 virsh -c qemu:///system dumpxml "$d" 2>/dev/null | grep -o "${prefix}[^'\"]*" || true
           done | sort -u)
  for v in $(timeout 20 virsh -c qemu:///system vol-list default 2>/dev/null | awk 'NR>2 {print $1}' | grep "^$prefix" || true); do
    [[ $v == *"_${current_mtime}_box.img" ]] && continue
    grep -qxF "$v" <<<"$in_use" && { log "stale box volume $v still used by a domain: kept"; continue; }
    if timeout 60 virsh -c qemu:///system vol-delete --pool default "$v" >/dev/null; then
      log "removed stale box volume $v"
    else
      log "could not remove stale box volume $v (left for provision/host/cleanup-leftovers.sh --box-volumes)"
    fi
  done
fi

log "box $NAME ready in $(($(date +%s) - T0))s ($BOXFILE)"
