#!/usr/bin/env bash
# Bootstrap of the lab VM (Debian 12); run as root by Vagrant's shell provisioner (uploaded, no
# /vagrant share). Idempotent: every item prints `changed: …` or `unchanged: …`, a second run
# prints only `unchanged` and ends with `bootstrap: 0 changed`.
#
# Items: Docker engine + compose, the Docker API on the unix socket only (never TCP), the `deploy`
# user (group docker, key-only SSH), sshd hardening (validated with `sshd -t` before reload), an
# nftables firewall in its own table (Docker's iptables-nft tables are left alone).
#
# Environment (the Vagrantfile passes the first three):
#   LAB_DEPLOY_PUBKEY    public key(s) for deploy's authorized_keys; when empty, the `vagrant`
#                        user's keys minus Vagrant's well-known insecure key
#   LAB_DOCKER_SOURCE    debian (docker.io + apparmor + docker-compose v1, default) | official
#                        (docker-ce + compose plugin v2 from Docker's apt repository)
#   LAB_PORTS            TCP ports the firewall lets in besides SSH (default: the lab's ports)
#   LAB_SSH_PORT         22
# For tests (no VM needed):
#   LAB_ROOT=/some/dir   every file read or written lives under this prefix
#   LAB_DRY_RUN=1        commands that change the system are printed (`would: …`), not run;
#                        files are still written under LAB_ROOT (required then)
#   LAB_SKIP_PACKAGES=1  leave packages alone
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

R=${LAB_ROOT:-}
R=${R%/}
DRY=${LAB_DRY_RUN:-0}
[[ -n $R ]] && DRY=1 # files under a prefix: never touch the real system
[[ $DRY == 1 && -z $R ]] && { echo "bootstrap: LAB_DRY_RUN=1 needs LAB_ROOT" >&2; exit 2; }
DOCKER_SOURCE=${LAB_DOCKER_SOURCE:-debian}
PORTS=${LAB_PORTS:-8080 5000 3000 9090 3200 3100 16686 9428 4317 4318 13133 8888}
SSH_PORT=${LAB_SSH_PORT:-22}
DEPLOY_USER=deploy
# Vagrant's published insecure keys (RSA, and the ed25519 one of newer Vagrants): never trusted
# for the deploy user.
INSECURE_KEYS=(
  AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ==
  AAAAC3NzaC1lZDI1NTE5AAAAIN1YdxBpNlzxDqfJyw/QKow1F+wvG9hXGoqiysfJOn5Y
)

case $DOCKER_SOURCE in debian|official) ;; *) echo "bootstrap: LAB_DOCKER_SOURCE must be debian or official" >&2; exit 2 ;; esac
for p in $PORTS $SSH_PORT; do
  if ! [[ $p =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then echo "bootstrap: bad port '$p'" >&2; exit 2; fi
done

T0=$(date +%s)
CHANGED=0
UNCHANGED=0
changed() { CHANGED=$((CHANGED + 1)); echo "changed: $*"; }
unchanged() { UNCHANGED=$((UNCHANGED + 1)); echo "unchanged: $*"; }
note() { echo "bootstrap: $*"; }
die() { echo "bootstrap: error: $*" >&2; exit 1; }
run() { # a command that changes the system
  if [[ $DRY == 1 ]]; then echo "would: $*"; else "$@"; fi
}
have_systemd() { [[ $DRY != 1 && -z $R && -d /run/systemd/system ]]; }

# put_file PATH MODE [OWNER] < content  → returns 0 when the file changed, 1 when unchanged.
put_file() {
  local path=$R$1 mode=$2 owner=${3:-} tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [[ -f $path ]] && cmp -s "$tmp" "$path" && [[ $(stat -c %a "$path") == "${mode#0}" ]] \
     && { [[ -z $owner || $DRY == 1 ]] || [[ $(stat -c %U:%G "$path") == "$owner" ]]; }; then
    rm -f "$tmp"
    return 1
  fi
  mkdir -p "$(dirname "$path")"
  install -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
  if [[ -n $owner && $DRY != 1 ]]; then chown "$owner" "$path"; fi
  return 0
}

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

# ------------------------------------------------------------------ packages
item_packages() {
  if [[ -n ${LAB_SKIP_PACKAGES:-} ]]; then unchanged "packages (skipped: LAB_SKIP_PACKAGES)"; return; fi
  local want=(apparmor nftables rsync openssh-server ca-certificates iproute2)
  if [[ $DOCKER_SOURCE == official ]]; then
    want+=(docker-ce docker-ce-cli containerd.io docker-compose-plugin docker-buildx-plugin)
  else
    want+=(docker.io docker-compose)
  fi
  local missing=() p
  for p in "${want[@]}"; do pkg_installed "$p" || missing+=("$p"); done
  if ((${#missing[@]} == 0)); then unchanged "packages (${want[*]})"; return; fi
  run timeout 600 apt-get update -q
  if [[ $DOCKER_SOURCE == official ]]; then
    local codename keyring=/etc/apt/keyrings/docker.asc
    # shellcheck disable=SC1091
    codename=$(. "$R/etc/os-release" && echo "$VERSION_CODENAME")
    if [[ ! -s $R$keyring ]]; then
      pkg_installed curl || run timeout 600 apt-get install -y -q --no-install-recommends curl ca-certificates
      run mkdir -p "$R/etc/apt/keyrings"
      run timeout 120 curl -fsSL https://download.docker.com/linux/debian/gpg -o "$R$keyring"
    fi
    put_file /etc/apt/sources.list.d/docker.list 0644 <<EOF || true
deb [arch=$(dpkg --print-architecture) signed-by=$keyring] https://download.docker.com/linux/debian $codename stable
EOF
    run timeout 600 apt-get update -q # now with Docker's repository
  fi
  # Without recommends; Debian's docker.io then needs apparmor explicitly (it is in the list), or
  # `docker run` fails on the AppArmor profile.
  run timeout 1800 apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold "${missing[@]}"
  changed "packages (installed ${missing[*]})"
}

# ------------------------------------------------------------------ docker: unix socket only
item_docker_config() {
  local dj=/etc/docker/daemon.json restart=0
  if [[ -f $R$dj ]] && grep -q 'tcp://' "$R$dj"; then note "$dj had TCP hosts: replacing it"; fi
  # The whole file is ours: no "hosts" key at all (dockerd listens on the unix socket only, or on
  # systemd's fd:// which is the same socket), bounded json-file logs.
  if put_file /etc/docker/daemon.json 0644 <<'EOF'
{
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "3"}
}
EOF
  then changed "docker daemon.json (unix socket only, log rotation)"; restart=1
  else unchanged "docker daemon.json"; fi

  # Drop-ins or defaults that add -H tcp://… are removed.
  local f removed=()
  for f in "$R"/etc/systemd/system/docker.service.d/*.conf "$R"/etc/default/docker; do
    [[ -f $f ]] || continue
    if grep -Eq -- '(-H|--host)[= ]*tcp://|tcp://[^ ]*:237[56]' "$f"; then
      if [[ $f == */etc/default/docker ]]; then
        sed -i -E '/tcp:\/\//s/^/# disabled by obslab bootstrap (no Docker API on TCP): /' "$f"
      else
        rm -f "$f"
      fi
      removed+=("${f#"$R"}")
    fi
  done
  if ((${#removed[@]})); then changed "docker TCP listeners removed from ${removed[*]}"; restart=1
  else unchanged "docker service definition (no TCP host)"; fi

  if have_systemd; then
    ((${#removed[@]})) && systemctl daemon-reload
    if ! systemctl is-enabled -q docker.service 2>/dev/null; then systemctl enable -q docker.service; changed "docker service enabled"; fi
    if ! systemctl is-active -q docker.service; then
      timeout 300 systemctl start docker.service; changed "docker service started"
    elif ((restart)); then
      timeout 300 systemctl restart docker.service; changed "docker service restarted (new config)"
    else
      unchanged "docker service running"
    fi
  elif ((restart)); then
    run echo "restart docker (no systemd here)"
  fi
}

# ------------------------------------------------------------------ deploy user
filtered_keys() { # stdin → stdout without Vagrant's insecure keys, blank lines or comments
  local k line
  while IFS= read -r line || [[ -n $line ]]; do
    [[ -z ${line//[[:space:]]/} || $line == \#* ]] && continue
    for k in "${INSECURE_KEYS[@]}"; do [[ $line == *"$k"* ]] && continue 2; done
    echo "$line"
  done
}

item_deploy_user() {
  local home=/home/$DEPLOY_USER keys src
  if [[ -n ${LAB_DEPLOY_PUBKEY:-} ]]; then
    keys=$(printf '%s\n' "$LAB_DEPLOY_PUBKEY" | filtered_keys); src="LAB_DEPLOY_PUBKEY"
  elif [[ -f $R/home/vagrant/.ssh/authorized_keys ]]; then
    keys=$(filtered_keys <"$R/home/vagrant/.ssh/authorized_keys"); src="the vagrant user's keys"
  else
    keys=; src="nothing"
  fi
  [[ -n $keys ]] || die "no SSH key for $DEPLOY_USER: set LAB_DEPLOY_PUBKEY (got keys from $src; Vagrant's insecure key is refused)"
  grep -Eq '^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-|sk-)' <<<"$keys" || die "LAB_DEPLOY_PUBKEY does not look like an OpenSSH public key"

  if ! grep -q '^docker:' "$R/etc/group" 2>/dev/null; then
    run groupadd -r docker; changed "group docker created"
  fi
  if grep -q "^$DEPLOY_USER:" "$R/etc/passwd" 2>/dev/null; then
    unchanged "user $DEPLOY_USER exists"
  else
    run useradd -m -d "$home" -s /bin/bash -U -c "obslab deploy" "$DEPLOY_USER"
    [[ $DRY == 1 ]] && { mkdir -p "$R$home"; echo "$DEPLOY_USER:x:1001:1001:obslab deploy:$home:/bin/bash" >>"$R/etc/passwd"; }
    changed "user $DEPLOY_USER created"
  fi
  # No password at all ('*', not '!': a locked account is refused by sshd without PAM) = key only.
  local pw
  pw=$(awk -F: -v u="$DEPLOY_USER" '$1 == u {print $2}' "$R/etc/shadow" 2>/dev/null || true)
  if [[ $DRY != 1 && $pw != '*' ]]; then usermod -p '*' "$DEPLOY_USER"; changed "user $DEPLOY_USER: password disabled (key only)"; fi
  local groups
  groups=$(awk -F: '$1 == "docker" {print $4}' "$R/etc/group" 2>/dev/null || true)
  if [[ ,$groups, == *",$DEPLOY_USER,"* ]]; then
    unchanged "user $DEPLOY_USER in group docker"
  else
    run usermod -aG docker "$DEPLOY_USER"
    [[ $DRY == 1 ]] && sed -i -E "s/^(docker:[^:]*:[^:]*:)(.*)$/\1\2${groups:+,}$DEPLOY_USER/" "$R/etc/group"
    changed "user $DEPLOY_USER added to group docker"
  fi
  if grep -q '^vagrant:' "$R/etc/passwd" 2>/dev/null && [[ ,$groups, != *",vagrant,"* ]]; then
    run usermod -aG docker vagrant
    [[ $DRY == 1 ]] && sed -i -E "s/^(docker:[^:]*:[^:]*:)(.*)$/\1\2,vagrant/" "$R/etc/group"
    changed "user vagrant added to group docker"
  fi

  if [[ ! -d $R$home/.ssh ]] || [[ $(stat -c %a "$R$home/.ssh") != 700 ]]; then
    install -d -m 700 "$R$home/.ssh"; [[ $DRY == 1 ]] || chown "$DEPLOY_USER:$DEPLOY_USER" "$R$home/.ssh"
  fi
  if printf '%s\n' "$keys" | put_file "$home/.ssh/authorized_keys" 0600 "$DEPLOY_USER:$DEPLOY_USER"; then
    changed "$DEPLOY_USER authorized_keys ($(grep -c . <<<"$keys") key(s) from $src)"
  else
    unchanged "$DEPLOY_USER authorized_keys ($src)"
  fi
}

# ------------------------------------------------------------------ sshd
SSHD_DROPIN=/etc/ssh/sshd_config.d/01-obslab-hardening.conf
item_sshd() {
  local cfg=/etc/ssh/sshd_config
  # The drop-in only counts if sshd_config includes the directory before its own settings
  # (sshd keeps the first value it reads). Debian 12's does; add it to older images.
  if [[ -f $R$cfg ]] && ! grep -Eq '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/\*\.conf' "$R$cfg"; then
    cp -p "$R$cfg" "$R$cfg.obslab-orig"
    { echo "Include /etc/ssh/sshd_config.d/*.conf"; cat "$R$cfg.obslab-orig"; } >"$R$cfg"
    changed "sshd_config includes sshd_config.d"
  fi
  local backup=
  [[ -f $R$SSHD_DROPIN ]] && { backup=$(mktemp); cp -p "$R$SSHD_DROPIN" "$backup"; }
  # AllowTcpForwarding stays at its default (yes): Vagrant's forwarded ports are ssh -L tunnels.
  if put_file "$SSHD_DROPIN" 0644 <<'EOF'
# obslab: key-only SSH, no root (provision/vm/bootstrap.sh)
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
PermitEmptyPasswords no
PubkeyAuthentication yes
X11Forwarding no
UseDNS no
EOF
  then
    if [[ $DRY != 1 && -z $R ]] && command -v sshd >/dev/null; then
      mkdir -p /run/sshd
      if ! out=$(sshd -t 2>&1); then
        if [[ -n $backup ]]; then cp -p "$backup" "$SSHD_DROPIN"; else rm -f "$SSHD_DROPIN"; fi
        die "sshd -t rejected the hardened config (restored the previous one): $out"
      fi
    fi
    changed "sshd hardening ($SSHD_DROPIN)"
    if have_systemd; then timeout 60 systemctl reload ssh.service || timeout 60 systemctl restart ssh.service; fi
  else
    unchanged "sshd hardening"
  fi
  rm -f "$backup"
  # What sshd really uses (first value wins; another drop-in could precede ours).
  if [[ $DRY != 1 && -z $R ]] && command -v sshd >/dev/null; then
    local eff want bad=()
    eff=$(sshd -T 2>/dev/null | tr '[:upper:]' '[:lower:]')
    for want in "passwordauthentication no" "kbdinteractiveauthentication no" "permitrootlogin no" "pubkeyauthentication yes"; do
      grep -qx "$want" <<<"$eff" || bad+=("$want")
    done
    ((${#bad[@]} == 0)) || die "sshd's effective config lacks: ${bad[*]} (see sshd -T)"
  fi
}

# ------------------------------------------------------------------ no stray listeners
# systemd-resolved answers LLMNR on 0.0.0.0:5355 by default: not a documented port of the lab.
item_resolved() {
  if put_file /etc/systemd/resolved.conf.d/obslab.conf 0644 <<'EOF'
# obslab: no LLMNR/mDNS listeners (only SSH and the lab's ports listen on the VM's addresses)
[Resolve]
LLMNR=no
MulticastDNS=no
EOF
  then
    changed "systemd-resolved: LLMNR and mDNS off"
    if have_systemd; then timeout 60 systemctl try-restart systemd-resolved.service || true; fi
  else
    unchanged "systemd-resolved: LLMNR and mDNS off"
  fi
}

# ------------------------------------------------------------------ firewall
FW_FILE=/etc/obslab/firewall.nft
FW_UNIT=/etc/systemd/system/obslab-firewall.service
firewall_rules() {
  local ports
  ports=$(tr ' ' '\n' <<<"$PORTS" | grep . | sort -nu | paste -sd, | sed 's/,/, /g')
  cat <<EOF
#!/usr/sbin/nft -f
# obslab firewall (provision/vm/bootstrap.sh). Its own table: Docker's iptables-nft tables
# (ip filter / ip nat) are never touched, and a reload replaces only this table.
table inet obslab {}
delete table inet obslab

table inet obslab {
  set lab_tcp_ports {
    type inet_service
    elements = { $ports }
  }

  chain input {
    type filter hook input priority filter + 10; policy drop;
    iif "lo" accept
    ct state established,related accept
    ct state invalid drop
    meta l4proto { icmp, ipv6-icmp } accept
    udp sport 67 udp dport 68 accept comment "DHCP replies"
    tcp dport $SSH_PORT accept comment "SSH"
    tcp dport @lab_tcp_ports accept comment "the lab's documented ports"
    iifname "docker0" accept comment "containers to the host"
    iifname "br-*" accept comment "compose networks to the host"
    counter comment "dropped"
  }

  # Published container ports are DNAT'ed and forwarded, never seen by input: let through from
  # outside only those of the lab. Everything else is left to Docker's own chains.
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    ct state established,related accept
    iifname "docker0" accept
    iifname "br-*" accept
    meta l4proto tcp ct status dnat ct original proto-dst @lab_tcp_ports accept
    ct status dnat counter drop comment "published port not in the lab's list"
  }
}
EOF
}

item_firewall() {
  local changed_file=0
  if firewall_rules | put_file "$FW_FILE" 0644; then changed_file=1; fi
  if command -v nft >/dev/null && [[ $DRY != 1 ]]; then
    local out
    out=$(nft -c -f "$R$FW_FILE" 2>&1) || die "nft rejected $FW_FILE: $out"
  fi
  if put_file "$FW_UNIT" 0644 <<EOF
[Unit]
Description=obslab firewall (nftables table inet obslab)
Wants=network-pre.target
Before=network-pre.target
DefaultDependencies=no
After=local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f $FW_FILE
ExecReload=/usr/sbin/nft -f $FW_FILE
ExecStop=/usr/sbin/nft delete table inet obslab

[Install]
WantedBy=multi-user.target
EOF
  then changed "firewall unit $FW_UNIT"; changed_file=1; have_systemd && systemctl daemon-reload
  else unchanged "firewall unit"; fi

  if have_systemd; then
    systemctl is-enabled -q obslab-firewall.service 2>/dev/null || { systemctl enable -q obslab-firewall.service; changed "firewall enabled at boot"; }
  fi
  if [[ $DRY != 1 ]] && ! command -v nft >/dev/null; then
    [[ -n ${LAB_SKIP_PACKAGES:-} ]] || die "nft not installed"
    unchanged "firewall not loaded (nft not installed, LAB_SKIP_PACKAGES)"
    return
  fi
  local loaded=0
  if [[ $DRY == 1 ]]; then loaded=1 # cannot look at a live ruleset: only a changed file counts
  elif nft list table inet obslab >/dev/null 2>&1; then loaded=1; fi
  if ((changed_file || !loaded)); then
    if [[ $DRY == 1 || -n $R ]]; then
      echo "would: nft -f $FW_FILE"
    elif have_systemd; then
      timeout 60 systemctl restart obslab-firewall.service
    else
      nft -f "$FW_FILE"
    fi
    changed "firewall rules loaded (SSH $SSH_PORT + TCP $PORTS)"
  else
    unchanged "firewall rules (SSH $SSH_PORT + TCP $PORTS)"
  fi
}

# ------------------------------------------------------------------ checks (change nothing)
check_docker() {
  [[ $DRY == 1 || -n $R ]] && return 0
  local listening
  listening=$(ss -Hltn 2>/dev/null | awk '{print $4}' | grep -E ':(2375|2376)$' || true)
  [[ -z $listening ]] || die "something listens on a Docker TCP port: $listening"
  if pgrep -x dockerd >/dev/null && tr '\0' ' ' </proc/"$(pgrep -xo dockerd)"/cmdline | grep -q 'tcp://'; then
    die "dockerd runs with a tcp:// host: $(tr '\0' ' ' </proc/"$(pgrep -xo dockerd)"/cmdline)"
  fi
  if command -v docker >/dev/null; then
    local v
    v=$(timeout 60 docker info --format '{{.ServerVersion}}' 2>/dev/null) || die "docker info failed"
    local compose
    if timeout 30 docker compose version >/dev/null 2>&1; then compose="docker compose $(docker compose version --short 2>/dev/null)"
    elif command -v docker-compose >/dev/null; then compose="docker-compose $(docker-compose version --short 2>/dev/null)"
    else die "no compose (neither docker compose nor docker-compose)"; fi
    note "docker engine $v on unix socket only; $compose"
  fi
}

item_packages
item_docker_config
item_deploy_user
item_sshd
item_resolved
item_firewall
check_docker
note "$CHANGED changed, $UNCHANGED unchanged in $(($(date +%s) - T0))s"
