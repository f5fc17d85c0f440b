#!/usr/bin/env bash
# Build the lab's container images on a host with no container registry.
#
#   stack/images/build.sh [--only NAME[,NAME...]] [--list] [--rebuild-base] [--force]
#
# Everything starts from lab/base:$DEBIAN_SUITE (debootstrap --variant=minbase + docker
# import); Debian packages and the Go module proxy supply the rest. Versions are pinned in
# versions.env (the one place). One line per image: name, tag, status, seconds, detail.
# Statuses: built | cached (nothing changed) | skipped (input missing) | unavailable
# (cannot be built here) | failed. Exit 0 when nothing failed, else 1 naming what failed;
# 2 on a usage error. Logs of every step: $LAB_IMAGES_CACHE/logs/NAME.log.
#
# Caching: lab/base is rebuilt only with --rebuild-base. Each Go binary is keyed on
# (module version + manifest/source hash + go version + recipe) and not rebuilt while the
# key matches. Each image carries a label lab.source-hash = hash of its inputs (Dockerfile,
# context files, build args, base image id); docker build is not even started while the
# label matches. --force ignores both (docker's layer cache still applies).
#
# Environment: LAB_IMAGES_CACHE (cache dir, default stack/images/.cache), GO (go command),
# LAB_BUILD_TIMEOUT (seconds per docker/go build, default 1800), LAB_EXTRA_CA_CERTS (PEM files
# handed to the backend's pip step and the frontend's npm step; default
# /usr/local/share/ca-certificates/*.crt).
set -euo pipefail
export LC_NUMERIC=C

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${LAB_IMAGES_CACHE:-$HERE/.cache}"
BUILD_TIMEOUT="${LAB_BUILD_TIMEOUT:-1800}"
# Bump when a build recipe changes so cached binaries/images are not reused.
RECIPE=1

# shellcheck source=versions.env
source "$HERE/versions.env"
: "${DEBIAN_SUITE:?versions.env: DEBIAN_SUITE missing}"
: "${COLLECTOR_CORE_VERSION:?}" "${COLLECTOR_STABLE_VERSION:?}" "${COLLECTOR_CONTRIB_VERSION:?}"
: "${JAEGER_VERSION:?}" "${JAEGER_RELEASE:?}" "${VICTORIALOGS_VERSION:?}" "${PROMETHEUS_VERSION:?}"
# Prometheus 3.MINOR.PATCH is the Go module's v0.3MINOR.PATCH (3.16.0 -> 0.316.0).
IFS=. read -r _pm _pn _pp <<<"$PROMETHEUS_VERSION"
PROMETHEUS_MODULE_VERSION="0.${_pm}$(printf '%02d' "$((10#$_pn))").${_pp}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

# ---------------------------------------------------------------- the images, in order
STEPS=(base python nginx node backend frontend healthcheck prometheus otel-collector jaeger victorialogs link)
declare -A TAG=(
  [base]="lab/base:$DEBIAN_SUITE"
  [python]="lab/python:$DEBIAN_SUITE"
  [nginx]="lab/nginx:$DEBIAN_SUITE"
  [node]="lab/node:$DEBIAN_SUITE"
  [backend]="lab/backend:local"
  [frontend]="lab/frontend:local"
  [healthcheck]="stack/healthcheck/bin/lab-healthcheck"
  [prometheus]="lab/prometheus:local"
  [otel-collector]="lab/otel-collector:local"
  [jaeger]="lab/jaeger:local"
  [victorialogs]="lab/victorialogs:local"
  [link]="lab/link:local"
)
declare -A DEPS=(
  [base]=""
  [python]="base"
  [nginx]="base"
  [node]="base"
  [backend]="python"
  [frontend]="nginx node"
  [healthcheck]=""
  [prometheus]="base healthcheck"
  [otel-collector]="base healthcheck"
  [jaeger]="base healthcheck"
  [victorialogs]="base healthcheck"
  [link]="base"
)
declare -A FROM_WHAT=(
  [base]="debootstrap --variant=minbase $DEBIAN_SUITE + docker import"
  [python]="Debian python3 python3-venv"
  [nginx]="Debian nginx-light + curl"
  [node]="Debian nodejs npm (build stage of the frontend)"
  [backend]="app/backend/Dockerfile, BASE_IMAGE=lab/python:$DEBIAN_SUITE"
  [frontend]="app/frontend/Dockerfile, BASE_IMAGE=lab/nginx:$DEBIAN_SUITE NODE_IMAGE=lab/node:$DEBIAN_SUITE"
  [healthcheck]="stack/healthcheck (Go, stdlib only)"
  [prometheus]="github.com/prometheus/prometheus/cmd/{prometheus,promtool} v$PROMETHEUS_MODULE_VERSION (Prometheus $PROMETHEUS_VERSION, no web UI assets)"
  [otel-collector]="ocb v$COLLECTOR_CORE_VERSION, collector/builder-config.yaml"
  [jaeger]="github.com/jaegertracing/jaeger/cmd/jaeger v$JAEGER_VERSION (Jaeger $JAEGER_RELEASE)"
  [victorialogs]="github.com/VictoriaMetrics/VictoriaLogs v$VICTORIALOGS_VERSION"
  [link]="Debian nftables iproute2 (the split topology's link)"
)
UNBUILDABLE=(tempo loki grafana)
declare -A UNBUILDABLE_WHY=(
  [tempo]="Tempo (github.com/grafana/tempo) is AGPL-3.0, which this project does not build from source; use LAB_IMAGE_SOURCE=registry or the jaeger-victorialogs store set"
  [loki]="Loki (github.com/grafana/loki/v3) is AGPL-3.0, which this project does not build from source; use LAB_IMAGE_SOURCE=registry or the jaeger-victorialogs store set"
  [grafana]="Grafana (github.com/grafana/grafana) is AGPL-3.0 and its UI needs a Node build of its own repository; use LAB_IMAGE_SOURCE=registry (the jaeger-victorialogs set has no Grafana)"
)

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  echo "Names: ${STEPS[*]} (not buildable here: ${UNBUILDABLE[*]})"
}

# ---------------------------------------------------------------- options
ONLY=""
REBUILD_BASE=0
FORCE=0
LIST=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) [[ $# -ge 2 ]] || { echo "build.sh: --only needs NAME[,NAME]" >&2; exit 2; }; ONLY="$2"; shift 2 ;;
    --only=*) ONLY="${1#--only=}"; shift ;;
    --list) LIST=1; shift ;;
    --rebuild-base) REBUILD_BASE=1; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build.sh: unknown option: $1 (try --help)" >&2; exit 2 ;;
  esac
done

if [[ $LIST -eq 1 ]]; then
  for s in "${STEPS[@]}"; do
    printf '%-15s %-40s needs: %-22s from: %s\n' "$s" "${TAG[$s]}" "${DEPS[$s]:--}" "${FROM_WHAT[$s]}"
  done
  for s in "${UNBUILDABLE[@]}"; do
    printf '%-15s %-40s not buildable here: %s\n' "$s" "-" "${UNBUILDABLE_WHY[$s]}"
  done
  exit 0
fi

# Resolve --only (names or tags) and add dependencies.
declare -A WANT=()
WANT_UNBUILDABLE=()
add_want() {
  local s="$1" d
  [[ -n "${WANT[$s]:-}" ]] && return 0
  WANT[$s]=1
  for d in ${DEPS[$s]}; do add_want "$d"; done
}
if [[ -z "$ONLY" ]]; then
  for s in "${STEPS[@]}"; do WANT[$s]=1; done
  WANT_UNBUILDABLE=("${UNBUILDABLE[@]}")
else
  IFS=',' read -r -a names <<<"$ONLY"
  for n in "${names[@]}"; do
    n="${n// /}"; [[ -z "$n" ]] && continue
    found=""
    for s in "${STEPS[@]}"; do
      if [[ "$n" == "$s" || "$n" == "${TAG[$s]}" || "$n" == "${TAG[$s]%%:*}" ]]; then found="$s"; fi
    done
    [[ "$n" == "collector" || "$n" == "otelcol" ]] && found="otel-collector"
    if [[ -n "$found" ]]; then add_want "$found"; continue; fi
    for s in "${UNBUILDABLE[@]}"; do [[ "$n" == "$s" ]] && found="$s"; done
    if [[ -n "$found" ]]; then WANT_UNBUILDABLE+=("$found"); continue; fi
    echo "build.sh: unknown image name: $n (known: ${STEPS[*]} ${UNBUILDABLE[*]})" >&2
    exit 2
  done
fi

# ---------------------------------------------------------------- environment checks
mkdir -p "$CACHE"/{logs,state,bin,ctx,go,tools}
exec 9>"$CACHE/build.lock"
if ! flock -w 3600 9; then echo "build.sh: another build holds $CACHE/build.lock" >&2; exit 1; fi

if [[ "${!WANT[*]}" != "healthcheck" ]]; then   # everything but the healthcheck binary needs docker
  command -v docker >/dev/null || { echo "build.sh: docker not found" >&2; exit 1; }
  docker info >/dev/null 2>&1 || { echo "build.sh: the Docker engine does not answer (is dockerd running?)" >&2; exit 1; }
fi
GO="${GO:-$(command -v go || true)}"
[[ -z "$GO" && -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
GOVERSION=""
if [[ -n "$GO" ]]; then GOVERSION="$("$GO" env GOVERSION 2>/dev/null || true)"; fi

# ---------------------------------------------------------------- helpers
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }
sha() { sha256sum | cut -c1-64; }
# Hash of every file under a directory (paths + contents), ignoring caches and VCS files.
tree_hash() {
  (cd "$1" && find . -type f \
      ! -path './.git/*' ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*/.pytest_cache/*' \
      ! -path '*/node_modules/*' ! -path '*/.venv/*' ! -path '*/.mypy_cache/*' ! -path '*/.ruff_cache/*' \
      -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha
}
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }
image_label() { docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }
# Set by a step for its status line (DETAIL_PREFIX, if set, goes before the detail).
say() { printf '%s\t%s%s\n' "$1" "${DETAIL_PREFIX:+$DETAIL_PREFIX; }" "$2" >"$STATUS_FILE"; }

# docker_build NAME DOCKERFILE CONTEXT [--build-arg K=V ...] : build TAG[NAME] unless the
# image's lab.source-hash label equals the hash of all inputs.
docker_build() {
  local name="$1" dockerfile="$2" context="$3"; shift 3
  local tag="${TAG[$name]}" args=("$@") base_ids="" a
  for a in "${args[@]}"; do
    if [[ "$a" == BASE_IMAGE=* ]]; then
      local bid; bid="$(image_id "${a#BASE_IMAGE=}")"
      [[ -n "$bid" ]] || { echo "base image ${a#BASE_IMAGE=} not found" >&2; return 1; }
      base_ids+="$bid "
    fi
  done
  local hash
  hash="$( { echo "recipe=$RECIPE tag=$tag args=${args[*]} bases=$base_ids"; sha256sum <"$dockerfile"; tree_hash "$context"; } | sha)"
  if [[ $FORCE -eq 0 && "$(image_label "$tag" lab.source-hash)" == "$hash" ]]; then
    say cached "inputs unchanged (lab.source-hash ${hash:0:12})"
    return 0
  fi
  local bargs=() shown=() ; for a in "${args[@]}"; do bargs+=(--build-arg "$a"); shown+=("${a:0:60}"); done
  echo "+ docker build -t $tag -f $dockerfile (build args: ${shown[*]}) $context"
  timeout "$BUILD_TIMEOUT" docker build --pull=false \
    --label "lab.source-hash=$hash" --label "lab.built-by=stack/images/build.sh" \
    -t "$tag" -f "$dockerfile" "${bargs[@]}" "$context"
  say built "$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
}

# Stage a docker build context for a Go image: hard links (or copies) of the given files.
stage_ctx() {
  local name="$1"; shift
  local dir="$CACHE/ctx/$name" f
  rm -rf "$dir"; mkdir -p "$dir"
  for f in "$@"; do ln -f "$f" "$dir/" 2>/dev/null || cp -f "$f" "$dir/"; done
  echo "$dir"
}

need_go() {
  [[ -n "$GO" && -n "$GOVERSION" ]] || { echo "Go not found (set GO=/path/to/go; Go >= 1.26 is needed)" >&2; return 1; }
  if [[ -n "${GO_VERSION:-}" && "$GOVERSION" != "go$GO_VERSION" ]]; then
    echo "note: building with $GOVERSION; versions.env was measured with go$GO_VERSION"
  fi
}

# go_cached BIN KEY : true when BIN exists and BIN.key holds KEY.
go_cached() { [[ $FORCE -eq 0 && -x "$1" && -f "$1.key" && "$(cat "$1.key")" == "$2" ]]; }

# go_tool_build NAME MODULE VERSION PKG_REL OUT [LDFLAGS]: build a program of a module in a
# throwaway module under the cache (go get -tool, then go build of that package).
go_tool_build() {
  local name="$1" mod="$2" ver="$3" pkgrel="$4" out="$5" ldflags="${6:-}"
  local work="$CACHE/go/$name"
  rm -rf "$work"; mkdir -p "$work"
  (
    cd "$work"
    "$GO" mod init "lab.local/build/$name"
    timeout "$BUILD_TIMEOUT" "$GO" get -tool "$mod/$pkgrel@v$ver"
    timeout "$BUILD_TIMEOUT" "$GO" build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$mod/$pkgrel"
  )
  mv -f "$out.tmp" "$out"
}

# ---------------------------------------------------------------- steps
step_base() {
  local tag="${TAG[base]}"
  if [[ $REBUILD_BASE -eq 0 && -n "$(image_id "$tag")" ]]; then
    say cached "image exists (--rebuild-base rebuilds it)"
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || { echo "debootstrap needs root" >&2; return 1; }
  command -v debootstrap >/dev/null || { echo "debootstrap not installed (apt-get install debootstrap)" >&2; return 1; }
  local dir; dir="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  # shellcheck disable=SC2064
  trap "umount '$dir/proc' 2>/dev/null || true; rm -rf '$dir'" EXIT
  echo "+ debootstrap --variant=minbase $DEBIAN_SUITE $dir $DEBIAN_MIRROR"
  timeout 1200 debootstrap --variant=minbase "$DEBIAN_SUITE" "$dir" "$DEBIAN_MIRROR"
  cat >"$dir/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $DEBIAN_SUITE main
deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main
EOF
  # What the official Debian images do for containers: no recommends, no cached .debs,
  # no translations, services never started by package scripts.
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$dir/etc/apt/apt.conf.d/docker-no-recommends"
  printf 'Acquire::Languages "none";\n' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
  printf 'Acquire::GzipIndexes "true";\n' >"$dir/etc/apt/apt.conf.d/docker-gzip-indexes"
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"; chmod 0755 "$dir/usr/sbin/policy-rc.d"
  # Security and point-release updates into the base itself.
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  mount -t proc proc "$dir/proc" 2>/dev/null || true
  echo "+ apt-get update && apt-get -y upgrade (in the new root)"
  timeout 900 chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -q && apt-get -y -q upgrade && apt-get clean'
  umount "$dir/proc" 2>/dev/null || true
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/var/log/*.log "$dir"/var/log/apt/* \
         "$dir"/tmp/* "$dir"/var/tmp/* "$dir"/dev/* "$dir"/root/.bash_history
  : >"$dir/etc/resolv.conf"; : >"$dir/etc/machine-id"; rm -f "$dir/etc/hostname"
  local created; created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "+ tar | docker import - $tag"
  tar --numeric-owner --xattrs -C "$dir" -c . | timeout 600 docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --change "LABEL lab.built-by=stack/images/build.sh lab.debian-suite=$DEBIAN_SUITE org.opencontainers.image.created=$created" \
    - "$tag"
  rm -rf "$dir"; trap - EXIT
  say built "$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
}

step_python() {
  docker_build python "$HERE/python/Dockerfile" "$HERE/python" "BASE_IMAGE=${TAG[base]}"
}

step_nginx() {
  docker_build nginx "$HERE/nginx/Dockerfile" "$HERE/nginx" "BASE_IMAGE=${TAG[base]}"
}

step_node() {
  docker_build node "$HERE/node/Dockerfile" "$HERE/node" "BASE_IMAGE=${TAG[base]}"
}

step_link() {
  docker_build link "$HERE/link/Dockerfile" "$HERE/link" "BASE_IMAGE=${TAG[base]}"
}

# Extra CA certificates (PEM) for pip (backend) and npm (frontend) inside the builds, for hosts behind a
# TLS-intercepting proxy: LAB_EXTRA_CA_CERTS (space-separated files), default every
# /usr/local/share/ca-certificates/*.crt of this host (the local additions to its trust store).
extra_ca_certs() {
  local f pem=""
  for f in ${LAB_EXTRA_CA_CERTS:-/usr/local/share/ca-certificates/*.crt}; do
    [[ -f "$f" ]] && pem+="$(cat "$f")"$'\n'
  done
  printf '%s' "$pem"
}

step_backend() {
  local df="$ROOT/app/backend/Dockerfile"
  if [[ ! -f "$df" ]]; then say skipped "app/backend/Dockerfile does not exist yet"; return 0; fi
  local args=("BASE_IMAGE=${TAG[python]}") pem
  pem="$(extra_ca_certs)"
  # Only a Dockerfile that declares the argument gets it (app/backend's pip step does).
  if [[ -n "$pem" ]] && grep -q '^ARG EXTRA_CA_CERT' "$df"; then args+=("EXTRA_CA_CERT=$pem"); fi
  docker_build backend "$df" "$ROOT/app/backend" "${args[@]}"
}

step_frontend() {
  local df="$ROOT/app/frontend/Dockerfile"
  if [[ ! -f "$df" ]]; then say skipped "app/frontend/Dockerfile does not exist yet"; return 0; fi
  local args=("BASE_IMAGE=${TAG[nginx]}" "NODE_IMAGE=${TAG[node]}") pem
  pem="$(extra_ca_certs)"
  # npm ci in the bundle stage (the page's OpenTelemetry web SDK) goes through the same proxy as pip
  if [[ -n "$pem" ]] && grep -q '^ARG EXTRA_CA_CERT' "$df"; then args+=("EXTRA_CA_CERT=$pem"); fi
  docker_build frontend "$df" "$ROOT/app/frontend" "${args[@]}"
}

step_healthcheck() {
  need_go
  local src="$ROOT/stack/healthcheck" bin="$CACHE/bin/lab-healthcheck" out="$ROOT/stack/healthcheck/bin/lab-healthcheck"
  # Key on the sources only (bin/ lives inside src).
  local key; key="recipe=$RECIPE go=$GOVERSION src=$(cd "$src" && cat go.mod ./*.go | sha)"
  if go_cached "$bin" "$key"; then
    if ! cmp -s "$bin" "$out"; then mkdir -p "$(dirname "$out")"; cp -f "$bin" "$out"; fi
    say cached "binary up to date"
    return 0
  fi
  (cd "$src" && timeout "$BUILD_TIMEOUT" "$GO" build -trimpath -ldflags '-s -w' -o "$bin.tmp" .)
  mv -f "$bin.tmp" "$bin"; echo "$key" >"$bin.key"
  mkdir -p "$(dirname "$out")"; cp -f "$bin" "$out"
  say built "$(du -h "$bin" | cut -f1) static binary, copied to stack/healthcheck/bin/"
}

# Prometheus and promtool from the Go module at the release of versions.env, with the version
# variables its own release builds set (promu), so /api/v1/status/buildinfo and `promtool --version`
# say the release. The web UI's assets (a React build, `builtinassets`) are not in the module: the
# binary answers the UI's pages with its own "Error opening React index.html"; the API is whole.
# promtool stays in $CACHE/bin: the unit tests use it (tests/stack/prometheus_tools.py).
step_prometheus() {
  need_go
  local mod=github.com/prometheus/prometheus ver="$PROMETHEUS_MODULE_VERSION" name
  local ldflags="-X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION"
  ldflags+=" -X github.com/prometheus/common/version.Revision=v$ver"
  ldflags+=" -X github.com/prometheus/common/version.Branch=HEAD"
  ldflags+=" -X github.com/prometheus/common/version.BuildUser=lab@build.sh"
  ldflags+=" -X github.com/prometheus/common/version.BuildDate=release"
  local key="recipe=$RECIPE go=$GOVERSION module=$mod@v$ver version=$PROMETHEUS_VERSION"
  DETAIL_PREFIX="binaries cached"
  for name in prometheus promtool; do
    if ! go_cached "$CACHE/bin/$name" "$key"; then
      DETAIL_PREFIX="binaries built"
      go_tool_build "$name" "$mod" "$ver" "cmd/$name" "$CACHE/bin/$name" "$ldflags"
      echo "$key" >"$CACHE/bin/$name.key"
    fi
  done
  "$CACHE/bin/promtool" --version
  "$CACHE/bin/promtool" check config "$HERE/prometheus/prometheus.yml"
  local ctx; ctx="$(stage_ctx prometheus "$CACHE/bin/prometheus" "$CACHE/bin/promtool" \
    "$HERE/prometheus/prometheus.yml" "$CACHE/bin/lab-healthcheck")"
  docker_build prometheus "$HERE/prometheus/Dockerfile" "$ctx" "BASE_IMAGE=${TAG[base]}"
}

step_otel_collector() {
  need_go
  local manifest="$HERE/collector/builder-config.yaml"
  # Every collector module at one release: the versions in versions.env.
  local bad
  bad="$(grep -E '^\s*-\s*gomod:' "$manifest" | awk '{print $3, $4}' | while read -r mod ver; do
      case "$mod" in
        github.com/open-telemetry/opentelemetry-collector-contrib/*) [[ "$ver" == "v$COLLECTOR_CONTRIB_VERSION" ]] || echo "$mod $ver";;
        go.opentelemetry.io/collector/*) [[ "$ver" == "v$COLLECTOR_CORE_VERSION" || "$ver" == "v$COLLECTOR_STABLE_VERSION" ]] || echo "$mod $ver";;
      esac
    done)"
  if [[ -n "$bad" ]]; then
    echo "builder-config.yaml is not at the release of versions.env (core v$COLLECTOR_CORE_VERSION/v$COLLECTOR_STABLE_VERSION, contrib v$COLLECTOR_CONTRIB_VERSION):" >&2
    echo "$bad" >&2
    return 1
  fi
  local ocb="$CACHE/tools/ocb-v$COLLECTOR_CORE_VERSION/builder"
  if [[ ! -x "$ocb" ]]; then
    echo "+ go install go.opentelemetry.io/collector/cmd/builder@v$COLLECTOR_CORE_VERSION"
    GOBIN="$(dirname "$ocb")" timeout "$BUILD_TIMEOUT" "$GO" install "go.opentelemetry.io/collector/cmd/builder@v$COLLECTOR_CORE_VERSION"
  fi
  local bin="$CACHE/bin/otelcol-lab"
  local key="recipe=$RECIPE go=$GOVERSION ocb=v$COLLECTOR_CORE_VERSION manifest=$(sha <"$manifest")"
  DETAIL_PREFIX="binary cached"
  if ! go_cached "$bin" "$key"; then
    local work="$CACHE/go/otel-collector"
    rm -rf "$work"; mkdir -p "$work"
    echo "+ ocb --config $manifest (in $work)"
    (cd "$work" && timeout "$BUILD_TIMEOUT" "$ocb" --config "$manifest")
    mv -f "$work/otelcol-lab/otelcol-lab" "$bin"; echo "$key" >"$bin.key"
    DETAIL_PREFIX="binary built"
  fi
  "$bin" validate --config "$HERE/collector/config.yaml"
  local ctx; ctx="$(stage_ctx otel-collector "$bin" "$CACHE/bin/lab-healthcheck" "$HERE/collector/config.yaml")"
  docker_build otel-collector "$HERE/collector/Dockerfile" "$ctx" "BASE_IMAGE=${TAG[base]}"
}

step_jaeger() {
  need_go
  local bin="$CACHE/bin/jaeger"
  local key="recipe=$RECIPE go=$GOVERSION module=github.com/jaegertracing/jaeger@v$JAEGER_VERSION release=$JAEGER_RELEASE"
  DETAIL_PREFIX="binary cached"
  if ! go_cached "$bin" "$key"; then
    DETAIL_PREFIX="binary built"
    go_tool_build jaeger github.com/jaegertracing/jaeger "$JAEGER_VERSION" cmd/jaeger "$bin" \
      "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$JAEGER_RELEASE -X github.com/jaegertracing/jaeger/internal/version.commitSHA=v$JAEGER_VERSION -X github.com/jaegertracing/jaeger/internal/version.date=release"
    echo "$key" >"$bin.key"
  fi
  local ctx; ctx="$(stage_ctx jaeger "$bin" "$CACHE/bin/lab-healthcheck")"
  docker_build jaeger "$HERE/jaeger/Dockerfile" "$ctx" "BASE_IMAGE=${TAG[base]}"
}

step_victorialogs() {
  need_go
  local bin="$CACHE/bin/victoria-logs"
  local key="recipe=$RECIPE go=$GOVERSION module=github.com/VictoriaMetrics/VictoriaLogs@v$VICTORIALOGS_VERSION"
  DETAIL_PREFIX="binary cached"
  if ! go_cached "$bin" "$key"; then
    DETAIL_PREFIX="binary built"
    go_tool_build victorialogs github.com/VictoriaMetrics/VictoriaLogs "$VICTORIALOGS_VERSION" app/victoria-logs "$bin" \
      "-X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-logs-v$VICTORIALOGS_VERSION"
    echo "$key" >"$bin.key"
  fi
  local ctx; ctx="$(stage_ctx victorialogs "$bin" "$CACHE/bin/lab-healthcheck")"
  docker_build victorialogs "$HERE/victorialogs/Dockerfile" "$ctx" "BASE_IMAGE=${TAG[base]}"
}

# ---------------------------------------------------------------- run
declare -A RESULT=()
FAILED=()
T_ALL="$(now)"
echo "build.sh: images from ${TAG[base]} (Debian $DEBIAN_SUITE), ${GOVERSION:-no Go}; cache $CACHE; logs $CACHE/logs/"
for s in "${STEPS[@]}"; do
  [[ -n "${WANT[$s]:-}" ]] || continue
  STATUS_FILE="$CACHE/state/$s.status"; rm -f "$STATUS_FILE"
  log="$CACHE/logs/$s.log"
  t0="$(now)"
  blocked=""
  for d in ${DEPS[$s]}; do
    case "${RESULT[$d]:-}" in failed|blocked) blocked="$d" ;; esac
  done
  if [[ -n "$blocked" ]]; then
    status=skipped; detail="needs $blocked, which failed"; RESULT[$s]=blocked; FAILED+=("${TAG[$s]}")
  else
    # Run the step in a background subshell so that `set -e` applies inside it.
    rc=0
    echo "==== $(date -u +%Y-%m-%dT%H:%M:%SZ) build.sh step $s" >>"$log"
    ( set -euo pipefail; "step_${s//-/_}" ) >>"$log" 2>&1 &
    wait $! || rc=$?
    if [[ $rc -eq 0 ]]; then
      IFS=$'\t' read -r status detail <"$STATUS_FILE" || { status=built; detail=""; }
      RESULT[$s]="$status"
    else
      status=failed; detail="exit $rc, log: $log"; RESULT[$s]=failed; FAILED+=("${TAG[$s]}")
    fi
  fi
  printf '%-15s %-40s %-11s %7.1fs  %s\n' "$s" "${TAG[$s]}" "$status" "$(since "$t0")" "$detail"
  if [[ "$status" == failed ]]; then
    echo "---- last lines of $log ----" >&2
    tail -n 25 "$log" >&2 || true
    echo "----" >&2
  fi
done
for s in "${WANT_UNBUILDABLE[@]}"; do
  printf '%-15s %-40s %-11s %7.1fs  %s\n' "$s" "-" unavailable 0 "${UNBUILDABLE_WHY[$s]}"
done
printf 'build.sh: done in %.1fs\n' "$(since "$T_ALL")"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  echo "build.sh: FAILED: ${FAILED[*]}" >&2
  exit 1
fi
