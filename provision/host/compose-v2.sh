#!/usr/bin/env bash
# Install Docker Compose v2 (the `docker compose` CLI plugin users run) on a host with no download
# site: build it from the Go module proxy. Idempotent: does nothing when the pinned version is there.
#   usage: provision/host/compose-v2.sh [--check]
# Compose v2.40.x needs a Go newer than Debian's; the go command fetches the pinned toolchain from
# the module proxy (GOTOOLCHAIN), like any module.
set -euo pipefail
COMPOSE_VERSION=${COMPOSE_VERSION:-2.40.3}
GO_TOOLCHAIN=${GO_TOOLCHAIN:-go1.27.3}
PLUGIN_DIR=${DOCKER_CLI_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}
dest="$PLUGIN_DIR/docker-compose"

installed() { [ -x "$dest" ] && "$dest" version --short 2>/dev/null | grep -qx "v\?${COMPOSE_VERSION}"; }

if installed; then
  echo "compose v2: v${COMPOSE_VERSION} already installed at $dest"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "compose v2: v${COMPOSE_VERSION} is not installed at $dest" >&2
  exit 1
fi
command -v go >/dev/null || { echo "compose v2: needs the go command (Go >= 1.21 to fetch $GO_TOOLCHAIN)" >&2; exit 1; }

start=$(date +%s)
export GOTOOLCHAIN=$GO_TOOLCHAIN GOFLAGS=-buildvcs=false CGO_ENABLED=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "compose v2: fetching github.com/docker/compose/v2@v${COMPOSE_VERSION} from the module proxy"
src=$(timeout 900 go mod download -json "github.com/docker/compose/v2@v${COMPOSE_VERSION}" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "compose v2: module download gave no source directory" >&2; exit 1; }
mkdir -p "$PLUGIN_DIR"
cd "$src"
echo "compose v2: building (a few minutes on 2 cores the first time; cached afterwards)"
timeout 2400 go build -trimpath \
  -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=v${COMPOSE_VERSION}" \
  -o "$work/docker-compose" ./cmd
install -m 0755 "$work/docker-compose" "$dest"
"$dest" version
echo "compose v2: installed in $(( $(date +%s) - start ))s"
