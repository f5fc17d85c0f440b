#!/bin/sh
# Like the official nginx image: render /etc/nginx/templates/*.template into
# $NGINX_ENVSUBST_OUTPUT_DIR (default /etc/nginx/conf.d), substituting only variables
# that are set in the environment (so nginx's own $variables survive).
set -e
template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
filter="${NGINX_ENVSUBST_FILTER:-}"
[ -d "$template_dir" ] || exit 0
defined_envs=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" < /dev/null))
for template in $(find "$template_dir" -follow -type f -name "*$suffix"); do
    relative_path="${template#"$template_dir/"}"
    output_path="$output_dir/${relative_path%"$suffix"}"
    mkdir -p "$(dirname "$output_path")"
    if [ ! -w "$(dirname "$output_path")" ]; then
        echo "$0: ERROR: $(dirname "$output_path") is not writable" >&2
        exit 1
    fi
    echo "$0: rendering $template to $output_path"
    envsubst "$defined_envs" < "$template" > "$output_path"
done
