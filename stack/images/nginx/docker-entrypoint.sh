#!/bin/sh
# Minimal stand-in for the official nginx image's entrypoint: when the command is nginx,
# run every executable /docker-entrypoint.d/*.sh in order, then exec the command.
set -e
if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
    for f in /docker-entrypoint.d/*.sh; do
        [ -x "$f" ] || continue
        echo "$0: running $f"
        "$f"
    done
fi
exec "$@"
