#!/bin/sh
# Render the server block from the environment, then run nginx in the foreground (as the image's
# non-root user). Works the same on the official nginx image and on Debian's nginx package.
set -eu

: "${BACKEND_UPSTREAM:=backend:5000}"
: "${NGINX_RESOLVER:=127.0.0.11}"
: "${NGINX_PORT:=8080}"
if [ "$NGINX_RESOLVER" = "auto" ]; then
    # outside Docker's embedded DNS (e.g. Kubernetes): the first nameserver of resolv.conf
    NGINX_RESOLVER=$(awk '/^nameserver/ { print $2; exit }' /etc/resolv.conf)
fi
export BACKEND_UPSTREAM NGINX_RESOLVER NGINX_PORT

template_dir=${NGINX_TEMPLATE_DIR:-/etc/nginx/templates}
mkdir -p /tmp/nginx/conf.d /tmp/nginx/client_body /tmp/nginx/proxy /tmp/nginx/fastcgi /tmp/nginx/uwsgi /tmp/nginx/scgi
envsubst '${BACKEND_UPSTREAM} ${NGINX_RESOLVER} ${NGINX_PORT}' \
    < "$template_dir/default.conf.template" > /tmp/nginx/conf.d/default.conf

if [ "$#" -eq 0 ]; then
    set -- nginx -e stderr -g 'daemon off;'
fi
exec "$@"
