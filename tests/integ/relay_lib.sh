# shellcheck shell=bash
# tests/integ/relay_lib.sh — helpers for the relay tests (t_relay_*.sh).
#
#     . "$(dirname "$0")/relay_lib.sh"     # sources lib.sh
#
# Relay nodes run on [::1] like every named-mode test, so each relay needs
# `allow_loopback = yes` (it may extend to ::1) and every node that builds
# circuits needs `same_prefix_paths = yes` (all of ::1 is one /48).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# VX6_MISBEHAVE_BIN: the test-only binary (a relay that tampers with, replays
# or drops every 10th cell it forwards); built next to vx6.
VX6_MISBEHAVE_BIN=${VX6_MISBEHAVE_BIN:-$(dirname "$VX6_BIN")/vx6-misbehave}

# set_relay NAME KEY VALUE: `KEY = VALUE` in the [relay] section of NAME's
# config.ini (replacing an existing or commented line, else right after the
# `[relay]` header). Takes effect at the node's next start.
set_relay() {
	local n=$1 k=$2 v=$3 f=$T/$1/config.ini
	[ -f "$f" ] || fail "set_relay: $f does not exist"
	grep -qx '\[relay\]' "$f" || fail "set_relay: $f has no [relay] section"
	if sed -n '/^\[relay\]/,/^\[/p' "$f" | grep -qE "^#? *$k *="; then
		sed -i -E "/^\[relay\]/,/^\[/ s|^#? *$k *=.*|$k = $v|" "$f"
	else
		sed -i "/^\[relay\]\$/a $k = $v" "$f"
	fi
	sed -n '/^\[relay\]/,/^\[/p' "$f" | grep -qx "$k = $v" ||
		fail "set_relay: could not set $k = $v in [relay] of $f"
}

# init_relayed NAME yes|no [PEER...]: init_named (home on [::1], --peer per
# PEER) plus the [relay] keys single-host tests need: enabled = yes|no,
# allow_loopback = yes, same_prefix_paths = yes.
init_relayed() {
	local n=$1 on=$2
	shift 2
	init_named "$n" "$@"
	set_relay "$n" enabled "$on"
	set_relay "$n" allow_loopback yes
	set_relay "$n" same_prefix_paths yes
}

# start_relayed NAME yes|no [PEER...]: init_relayed + run_node (+ wait_joined
# when it has peers).
start_relayed() {
	local n=$1
	init_relayed "$@"
	run_node "$n"
	[ $# -gt 2 ] && wait_joined "$n"
	return 0
}

# run_misbehave NAME: like run_node, but runs $VX6_MISBEHAVE_BIN.
run_misbehave() {
	local saved=$VX6_BIN
	VX6_BIN=$VX6_MISBEHAVE_BIN
	run_node "$1"
	VX6_BIN=$saved
}

# addr_of NAME: the node's address as status and records print it.
addr_of() { echo "[::1]:${NODE_PORT[$1]}"; }

# name_at ADDR: the name of the test node listening on ADDR ("?" if none).
name_at() {
	local n
	for n in "${NODE_NAMES[@]}"; do
		[ "$(addr_of "$n")" = "$1" ] && { echo "$n"; return 0; }
	done
	echo "?"
}

# knows_nodes CLIENT NAME...: CLIENT's registry (`vx6 list`) has a node
# record for every NAME (records carry the relay flag: a relay's record is
# what makes it a candidate).
knows_nodes() {
	local c=$1 have n
	shift
	have=$(vx "$c" list --json 2>>"$T/$c.cli.err" | jq -r '.nodes[].name') || return 1
	for n in "$@"; do
		grep -qx "$n" <<<"$have" || return 1
	done
}

# connect_relay_try CLIENT NODE.SVC RELAYS OUT: `vx6 connect --relay RELAYS
# --detach --json` on CLIENT; stdout to OUT, stderr to OUT.err. Returns
# connect's exit code (for tests that expect a failure).
connect_relay_try() {
	local c=$1 name=$2 k=$3 of=$4 rc
	timeout "$(scaled 60)" "$VX6_BIN" --home "$T/$c" connect --service "$name" \
		--listen 127.0.0.1:0 --relay "$k" --detach --json >"$of" 2>"$of.err"
	rc=$?
	cat "$of.err" >>"$T/$c.cli.err"
	return "$rc"
}

# connect_relay CLIENT NODE.SVC RELAYS: a detached named forward through a
# circuit of RELAYS relays; prints its local port. Fails the test if connect
# fails or reports another circuit length.
connect_relay() {
	local c=$1 name=$2 k=$3 of=$T/.connect_relay.$RANDOM
	connect_relay_try "$c" "$name" "$k" "$of" ||
		fail "vx6 connect --service $name --relay $k on $c failed (rc=$?): $(head -c 400 "$of.err")"
	[ "$(jq -r .circuit_hops "$of")" = $((k + 1)) ] ||
		fail "connect --relay $k on $c: circuit_hops $(jq -r .circuit_hops "$of"), want $((k + 1))"
	jq -r .listen "$of" | sed 's/.*://'
}

# circuits CLIENT: the client's circuits, one compact JSON line each.
circuits() { sj "$1" '.circuits[] | tojson'; }

# path_of CIRCUIT_JSON: "r3 r1 owner" (test node names of the hops, the last
# one as status names it).
path_of() {
	local a names=()
	while read -r a; do names+=("$(name_at "$a")"); done < <(jq -r '.hops[].addr' <<<"$1")
	echo "${names[*]}"
}

# check_circuits CLIENT OWNER RELAY_COUNTS: every ready circuit of CLIENT
# ends at OWNER (named "owner", OWNER's address), has no node twice (by
# address and by name), has neither CLIENT nor OWNER among its relays, and
# has only relay-enabled nodes (RELAY_NODES, set by the test) as relays.
# RELAY_COUNTS (e.g. "1 2 3") is the sorted list of relay counts the
# circuits must have, one per circuit. Prints one line per circuit.
check_circuits() {
	local c=$1 o=$2 want=$3 line n last addrs names k counts=() relays r
	while read -r line; do
		[ -n "$line" ] || continue
		[ "$(jq -r .state <<<"$line")" = ready ] || fail "$c has a circuit that is not ready: $line"
		n=$(jq -r '.hops | length' <<<"$line")
		last=$(jq -r '.hops[-1] | "\(.name) \(.addr)"' <<<"$line")
		[ "$last" = "owner $(addr_of "$o")" ] ||
			fail "circuit of $c does not end at the owner $o ($(addr_of "$o")): last hop '$last' in $line"
		addrs=$(jq -r '.hops[].addr' <<<"$line")
		names=$(jq -r '.hops[:-1][].name' <<<"$line")
		[ "$(sort <<<"$addrs" | uniq -d)" = "" ] || fail "circuit of $c repeats a node (address): $line"
		[ "$(sort <<<"$names" | uniq -d)" = "" ] || fail "circuit of $c repeats a relay (name): $line"
		relays=$(jq -r '.hops[:-1][].addr' <<<"$line")
		for k in $relays; do
			r=$(name_at "$k")
			[ "$r" != "$c" ] || fail "circuit of $c uses the client itself as a relay: $line"
			[ "$r" != "$o" ] || fail "circuit of $c uses the owner $o as a relay: $line"
			case " ${RELAY_NODES[*]} " in *" $r "*) ;; *)
				fail "circuit of $c uses $r ($k), which is not a relay-enabled node: $line" ;;
			esac
		done
		counts+=($((n - 1)))
		say "circuit of $c: $(path_of "$line") (build $(jq -r '.build_ms | floor' <<<"$line") ms, down $(jq -r .bytes_down <<<"$line") B)"
	done < <(circuits "$c")
	[ "$(printf '%s\n' "${counts[@]}" | sort -n | xargs)" = "$want" ] ||
		fail "$c's circuits have $(printf '%s\n' "${counts[@]}" | sort -n | xargs | sed 's/^$/no/') relay(s), want $want"
}

# fetch_ok PORT PATH OUT REF WHAT [CURL ARGS...]: fetch, then same sha as REF.
fetch_ok() {
	local port=$1 path=$2 dst=$3 ref=$4 what=$5 rc
	shift 5
	fetch "$port" "$path" "$dst" --max-time "$(scaled 180)" "$@"
	rc=$?
	[ "$rc" = 0 ] || fail "$what: curl failed (rc=$rc, $(file_size "$dst") of $(file_size "$ref") bytes)"
	same_sha "$ref" "$dst" "$what"
}

# is_prefix PART FULL: PART's bytes are the first bytes of FULL (an empty or
# missing PART is a prefix).
is_prefix() {
	local n
	n=$(file_size "$1")
	[ "$n" -le "$(file_size "$2")" ] || return 1
	[ "$n" = 0 ] || cmp -s -n "$n" "$1" "$2"
}

# no_apps NAME: no application connections (circuit hop streams stay open as
# long as a forward's circuit does, so `node_quiet` is only for the end).
no_apps() { output_is 0 sj "$1" .app_connections; }

# wait_no_apps TIMEOUT NAME...
wait_no_apps() {
	local t=$1 n
	shift
	for n in "$@"; do
		wait_until "$t" "node $n having no application connections" no_apps "$n"
	done
}

# relay_idle NAME: relays and exits nothing.
relay_idle() { output_is "0 0" sj "$1" '"\(.relay.relaying) \(.relay.exits)"'; }

# close_forwards CLIENT: closes every forward of CLIENT, then waits until
# every node is quiet (0 streams, 0 app connections) and relays nothing:
# circuits were torn down end to end.
close_forwards() {
	local c=$1 l n
	for l in $(vx "$c" connect list --json | jq -r '.[].listen'); do
		vx "$c" connect close "$l" >/dev/null 2>>"$T/$c.cli.err" || fail "connect close $l on $c failed"
	done
	wait_until 30 "$c's circuits closed" output_is 0 sj "$c" '.circuits | length'
	for n in "${NODE_NAMES[@]}"; do
		node_alive "$n" || continue
		wait_until 30 "node $n relaying nothing after $c closed its forwards" relay_idle "$n"
	done
	for n in "${NODE_NAMES[@]}"; do
		node_alive "$n" && wait_quiet 30 "$n"
	done
	return 0
}

# slow_fetch PORT PATH OUT BYTES_PER_S [CURL ARGS...]: curl to a reader that
# takes at most BYTES_PER_S (flow control then slows the whole path down;
# curl 7.88's --limit-rate does not hold back a fast loopback download). OUT
# grows as the data arrives. Returns curl's exit code. Run it with `&`.
slow_fetch() {
	local port=$1 path=$2 dst=$3 rate=$4
	shift 4
	curl -sS --fail --noproxy '*' "$@" "http://127.0.0.1:$port/$path" | "$PY" "$VX6_TESTS_DIR/helpers/rate_write.py" "$dst" "$rate"
	return "${PIPESTATUS[0]}"
}
