#!/usr/bin/env bash
# t_relay_routes — a client's [routes] choose how a named service is reached
# when `connect` has no --relay, and a relay's bandwidth budget
# ([relay] max_rate_kib) holds transit traffic back without losing a byte.
#
#   alice ◄── r ◄── c        r: relay, max_rate_kib = 1024 (1 MiB/s)
#
# 1. c's config.ini has `[routes] alice.web = relay 1` and `default = direct`:
#    `connect --service alice.web` (no --relay) builds a 1-relay circuit
#    through r; `connect --service alice.api` is direct; `--relay 0` on
#    alice.web forces a direct session.
# 2. 4 MiB through r arrive intact and take at least 2.5 s (the budget allows
#    1 MiB/s plus a 128 KiB burst, so 4 MiB cannot arrive sooner), r's
#    status shows rate_limited > 0, and the same 4 MiB over the direct
#    forward are not held back (r's relay bytes do not grow).
. "$(dirname "$0")/relay_lib.sh"
need curl jq "$PY" sha256sum

mkdir -p "$T/www" "$T/got"
make_random "$T/www/f" 4
http_server "$T/www"

start_relayed alice no
init_relayed r yes alice
set_relay r max_rate_kib 1024
run_node r
wait_joined r
init_relayed c no r
cat >>"$T/c/config.ini" <<'EOF'

[routes]
default = direct
alice.web = relay 1
EOF
run_node c
wait_joined c
RELAY_NODES=(r)
vx alice service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add web failed"
vx alice service add --name api --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add api failed"
wait_until 60 "c's registry knowing alice and r" knows_nodes c alice r
wait_until 60 "alice.web resolving on c" resolves c alice.web
wait_until 60 "alice.api resolving on c" resolves c alice.api
[ "$(sj r .relay.max_rate_kib)" = 1024 ] || fail "r's relay.max_rate_kib is $(sj r .relay.max_rate_kib), want 1024"

# open_default NODE.SVC [ARGS...]: a detached forward without --relay; prints the reply JSON.
open_default() {
	local name=$1 of=$T/.open.$RANDOM
	shift
	"$VX6_BIN" --home "$T/c" connect --service "$name" --listen 127.0.0.1:0 --detach --json "$@" \
		>"$of" 2>"$of.err" || fail "connect --service $name $* on c failed: $(head -c 300 "$of.err")"
	cat "$of"
}

# ---- 1. routes
web=$(open_default alice.web)
[ "$(jq -r .circuit_hops <<<"$web")" = 2 ] ||
	fail "alice.web without --relay: circuit_hops $(jq -r .circuit_hops <<<"$web"), want 2 ([routes] alice.web = relay 1): $web"
check_circuits c alice "1"
api=$(open_default alice.api)
[ "$(jq -r '.circuit_hops // 0' <<<"$api")" = 0 ] ||
	fail "alice.api without --relay went through relays ([routes] default = direct): $api"
forced=$(open_default alice.web --relay 0)
[ "$(jq -r '.circuit_hops // 0' <<<"$forced")" = 0 ] || fail "alice.web --relay 0 built a circuit: $forced"
[ "$(sj c '[.forwards[] | .relays] | sort | join(" ")')" = "0 0 1" ] ||
	fail "c's forwards have relays $(sj c '[.forwards[] | .relays]'), want 0, 0 and 1"
WEB_PORT=$(jq -r .listen <<<"$web" | sed 's/.*://')
DIRECT_PORT=$(jq -r .listen <<<"$forced" | sed 's/.*://')
say "routes: alice.web -> 1 relay, alice.api -> direct, alice.web --relay 0 -> direct"

# ---- 2. the bandwidth budget
limited0=$(sj r .relay.rate_limited)
t0=$(now_ms)
curl -sf --max-time "$(scaled 60)" -o "$T/got/relayed" "http://127.0.0.1:$WEB_PORT/f" ||
	fail "4 MiB through r failed (curl rc=$?)"
took=$(( $(now_ms) - t0 ))
same_sha "$T/www/f" "$T/got/relayed" "4 MiB through rate-limited r"
[ "$took" -ge 2500 ] || fail "4 MiB through r (max_rate_kib = 1024) took only $took ms: the budget did not hold transit back"
limited1=$(sj r .relay.rate_limited)
[ "$limited1" -gt "$limited0" ] || fail "r's relay.rate_limited did not grow ($limited0 -> $limited1)"
say "4 MiB through r at 1 MiB/s: intact in $took ms, rate_limited $limited0 -> $limited1, r buffered $(sj r .relay.buffered) B"
bytes0=$(sj r .relay.bytes)
curl -sf --max-time "$(scaled 60)" -o "$T/got/direct" "http://127.0.0.1:$DIRECT_PORT/f" ||
	fail "4 MiB over the direct forward failed (curl rc=$?)"
same_sha "$T/www/f" "$T/got/direct" "4 MiB over the direct forward"
[ "$(sj r .relay.bytes)" = "$bytes0" ] || fail "the direct forward's bytes went through r ($bytes0 -> $(sj r .relay.bytes))"

close_forwards c
pass
