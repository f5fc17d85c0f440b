#!/bin/sh
# The split topology's one link between the app host (compose network "app") and the observability
# host (the project's default network): a router with ip_forward (compose.split.yaml sysctls) and
# an nftables table of its own, lab_link, that lets exactly two kinds of flow across (ADR 0018):
#   app host -> obs host: OTLP to the gateway collector (4317 gRPC, 4318 HTTP) — the agent's export;
#   obs host -> app host: Prometheus' scrapes of the backend (5000) and of the agent (8888).
# Each side reaches the other at the link's own address under the peer's name (network aliases:
# otel-gateway on the app side; backend and otel-agent on the obs side); the link DNATs to the peer
# and masquerades, so no container needs a route of its own. Everything else forwarded is dropped.
# The peers are looked up by their per-side aliases (app-backend, app-agent, obs-gateway) every 5 s:
# a peer restarted at a new address is followed. The link's faults (harness/faults/network.py) are
# another table, lab_netfault, in this same namespace.
set -u
TABLE=lab_link
last=""

addr() { getent ahostsv4 "$1" 2>/dev/null | awk 'NR == 1 { print $1 }'; }
dev_to() { ip -o route get "$1" 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }'; }

apply() {
  backend=$(addr app-backend); agent=$(addr app-agent); gateway=$(addr obs-gateway)
  [ -n "$backend" ] && [ -n "$agent" ] && [ -n "$gateway" ] || return 1
  app_if=$(dev_to "$agent"); obs_if=$(dev_to "$gateway")
  [ -n "$app_if" ] && [ -n "$obs_if" ] && [ "$app_if" != "$obs_if" ] || return 1
  now="$backend $agent $gateway $app_if $obs_if"
  [ "$now" = "$last" ] && return 0
  nft -f - <<RULES || return 1
table ip $TABLE
delete table ip $TABLE
table ip $TABLE {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "$app_if" tcp dport { 4317, 4318 } dnat to $gateway
    iifname "$obs_if" tcp dport 5000 dnat to $backend
    iifname "$obs_if" tcp dport 8888 dnat to $agent
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname { "$app_if", "$obs_if" } ct status dnat masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ct status dnat accept
  }
}
RULES
  last="$now"
  echo "lab-link: app side $app_if, obs side $obs_if: OTLP -> gateway $gateway; scrapes -> backend $backend, agent $agent"
}

trap 'exit 0' TERM INT
while :; do
  apply || echo "lab-link: peers not all resolvable yet (app-backend, app-agent, obs-gateway)"
  sleep 5 &
  wait $!
done
