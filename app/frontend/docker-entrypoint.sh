#!/bin/sh
# Render the server block from the environment, then run nginx in the foreground (as the image's
# non-root user). Works the same on the official nginx image and on Debian's nginx package.
set -eu

: "${BACKEND_UPSTREAM:=backend:5000}"
: "${NGINX_RESOLVER:=127.0.0.11}"
: "${NGINX_PORT:=8080}"
: "${NGINX_TRACE_CONTEXT:=valid}"
: "${COLLECTOR_UPSTREAM:=otel-collector:4318}"
: "${APP_VERSION:=1.0.0}"
: "${DEPLOYMENT_ENVIRONMENT:=lab}"
case "$NGINX_TRACE_CONTEXT" in
    valid|drop) ;;
    *) echo "NGINX_TRACE_CONTEXT must be 'valid' (pass well-formed W3C trace headers) or 'drop', got '$NGINX_TRACE_CONTEXT'" >&2; exit 2 ;;
esac
# These go into the page's JavaScript (/tracing-config.js) and the nginx config: short tokens only.
for key in APP_VERSION DEPLOYMENT_ENVIRONMENT; do
    eval "value=\$$key"
    if ! printf '%s' "$value" | grep -Eq '^[A-Za-z0-9._-]{1,64}$'; then
        echo "$key must be 1-64 characters of A-Z a-z 0-9 . _ -, got '$value'" >&2; exit 2
    fi
done
if ! printf '%s' "$COLLECTOR_UPSTREAM" | grep -Eq '^[A-Za-z0-9.-]+:[0-9]{1,5}$'; then
    echo "COLLECTOR_UPSTREAM must be host:port of the collector's OTLP/HTTP receiver (e.g. otel-collector:4318), got '$COLLECTOR_UPSTREAM'" >&2; exit 2
fi
if [ "$NGINX_RESOLVER" = "auto" ]; then
    # outside Docker's embedded DNS (e.g. Kubernetes): the first nameserver of resolv.conf
    NGINX_RESOLVER=$(awk '/^nameserver/ { print $2; exit }' /etc/resolv.conf)
fi
export BACKEND_UPSTREAM NGINX_RESOLVER NGINX_PORT NGINX_TRACE_CONTEXT COLLECTOR_UPSTREAM APP_VERSION DEPLOYMENT_ENVIRONMENT

template_dir=${NGINX_TEMPLATE_DIR:-/etc/nginx/templates}
mkdir -p /tmp/nginx/conf.d /tmp/nginx/client_body /tmp/nginx/proxy /tmp/nginx/fastcgi /tmp/nginx/uwsgi /tmp/nginx/scgi
envsubst '${BACKEND_UPSTREAM} ${NGINX_RESOLVER} ${NGINX_PORT} ${NGINX_TRACE_CONTEXT} ${COLLECTOR_UPSTREAM} ${APP_VERSION} ${DEPLOYMENT_ENVIRONMENT}' \
    < "$template_dir/default.conf.template" > /tmp/nginx/conf.d/default.conf

if [ "$#" -eq 0 ]; then
    set -- nginx -e stderr -g 'daemon off;'
fi
exec "$@"
