# shellcheck shell=bash
# tests/netns/lib.sh — network-namespace helpers for multi-host tests.
#
# Source it first thing in a tests/netns/t_*.sh script:
#
#     . "$(dirname "$0")/lib.sh"
#
# Without root or without working `ip netns` / veth / bridge support it prints
#     SKIPPED: t_name: <why>
# on stdout (and stderr) and exits 0 — CTest counts that as passed, so the
# skip is said loudly. Otherwise it sources tests/integ/lib.sh (so $T, fail,
# pass, wait_until, sj, nj, set_limit, … all work the same) and adds:
#
#   ns_bridge                   the bridge namespace with br0
#   ns_host NAME ADDR/64        namespace for host NAME (lo up, eth0 with ADDR,
#                               nodad) plugged into br0 through port NAME
#   nsx NAME CMD...             CMD inside host NAME's namespace
#   ns_addr_add/ns_addr_del NAME ADDR/64, ns_reach NAME ADDR PORT
#   ns_init_node NAME PEER...   vx6 home $T/NAME listening on '[::]:4242'
#   ns_run_node NAME            `vx6 node` inside NAME's namespace (tracked
#                               like run_node: stopped and checked at exit)
#   ns_http_server NAME DIR PORT, ns_port_accepts NAME PORT,
#   ns_fetch NAME PORT PATH OUT [CURL ARGS...]
#   ns_cut "A B" "C D"          drop every frame between the two groups of
#                               hosts in the bridge (nftables, bridge family)
#   ns_heal                     remove that rule
#
# Every namespace is named vx6ns-<PID>-<name> (parallel runs do not clash),
# and veths are created directly inside the namespaces (the root
# namespace's interfaces and firewall are never touched). At exit (pass,
# fail or signal) every node and helper is stopped first (sanitizer checks
# as in tests/integ/lib.sh), then every process left in our namespaces is
# killed by PID and every namespace deleted (which deletes the veths).

NS_TEST_NAME=$(basename "${0%.sh}")

ns_skip() {
	echo "SKIPPED: $NS_TEST_NAME: $*"
	echo "SKIPPED: $NS_TEST_NAME: $*" >&2
	exit 0
}

# The checks that decide a skip (not a failure): root, ip netns, veth, bridge.
_ns_probe() {
	local p="vx6ns-probe-$$" ok=0
	[ "$(id -u)" = 0 ] || ns_skip "needs root (network namespaces); run as root to test named mode across hosts"
	command -v ip >/dev/null 2>&1 || ns_skip "the ip command (iproute2) is missing"
	if ip netns add "$p" 2>/dev/null; then
		if ip -n "$p" link add br0 type bridge 2>/dev/null &&
			ip -n "$p" link add va type veth peer name vb 2>/dev/null; then
			ok=1
		fi
		ip netns del "$p" 2>/dev/null
	fi
	[ "$ok" = 1 ] || ns_skip "ip netns / veth / bridge do not work here (container without CAP_SYS_ADMIN or a kernel without them)"
}
_ns_probe

. "$(dirname "${BASH_SOURCE[0]}")/../integ/lib.sh"

NS_PREFIX="vx6ns-$$"
NS_ALL=()              # every namespace created, bridge first
NS_BR="$NS_PREFIX-br"
NS_PORT=4242           # every node listens on [::]:NS_PORT in its namespace

ns_name() { echo "$NS_PREFIX-$1"; }

# nsx NAME CMD...: runs CMD in host NAME's namespace.
nsx() {
	local n=$1
	shift
	ip netns exec "$(ns_name "$n")" "$@"
}

# ns_bridge: the bridge namespace (br0, up).
ns_bridge() {
	ip netns add "$NS_BR" || fail "ip netns add $NS_BR failed"
	NS_ALL+=("$NS_BR")
	ip -n "$NS_BR" link set lo up &&
		ip -n "$NS_BR" link add br0 type bridge &&
		ip -n "$NS_BR" link set br0 up || fail "cannot create br0 in $NS_BR"
}

# ns_host NAME ADDR/PLEN: namespace vx6ns-PID-NAME with lo up and eth0
# (ADDR, nodad), whose veth peer is port NAME of br0.
ns_host() {
	local n=$1 a=$2 ns
	ns=$(ns_name "$n")
	ip netns add "$ns" || fail "ip netns add $ns failed"
	NS_ALL+=("$ns")
	ip link add eth0 netns "$ns" type veth peer name "$n" netns "$NS_BR" &&
		ip -n "$NS_BR" link set "$n" master br0 &&
		ip -n "$NS_BR" link set "$n" up &&
		ip -n "$ns" link set lo up &&
		ip -n "$ns" link set eth0 up &&
		ip -n "$ns" addr add "$a" dev eth0 nodad || fail "cannot set up host $n ($a) in $ns"
}

ns_addr_add() { ip -n "$(ns_name "$1")" addr add "$2" dev eth0 nodad || fail "cannot add $2 to $1"; }
ns_addr_del() { ip -n "$(ns_name "$1")" addr del "$2" dev eth0 || fail "cannot delete $2 from $1"; }

# ns_reach NAME ADDR PORT: a TCP connect from NAME to [ADDR]:PORT succeeds
# within 2 s.
# (QUIC nodes have no TCP port: their hosts are probed with ping.)
ns_reach() {
	if [ "${VX6_TEST_TRANSPORT:-tcp}" = tcp ]; then
		nsx "$1" timeout 2 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null
	else
		nsx "$1" ping -6 -c 1 -W 2 "$2" >/dev/null 2>&1
	fi
}

# ns_run_with_transport TR NAME...: starts each node with `transport = TR`,
# making its home the first time (handshake timeout 5 s) and editing its
# config.ini afterwards (the pins stay valid). The nodes must be stopped.
ns_run_with_transport() {
	local tr=$1 h
	shift
	for h in "$@"; do
		if [ ! -d "$T/$h" ]; then
			TRANSPORT_ARGS=(--transport "$tr")
			ns_init_node "$h"
			set_limit "$h" handshake_timeout_ms 5000
		else
			sed -i -E "s/^transport = .*/transport = $tr/" "$T/$h/config.ini"
		fi
		grep -qx "transport = $tr" "$T/$h/config.ini" || fail "$h's config.ini does not say transport = $tr"
		ns_run_node "$h"
	done
}

# ns_init_node NAME [PEER_ADDR...]: home $T/NAME for a node listening on
# '[::]:4242' (its record lists the namespace's addresses), with the short
# named-mode timing knobs of init_named.
ns_init_node() {
	local n=$1 p
	local -a args=()
	shift
	for p in "$@"; do args+=(--peer "$p"); done
	NODE_PORT[$n]=$NS_PORT
	NODE_LOG[$n]=$T/$n.log
	vx "$n" init --name "$n" --listen "[::]:$NS_PORT" "${TRANSPORT_ARGS[@]}" "${args[@]}" --no-probe \
		>"$T/$n.init.out" 2>"$T/$n.init.cli.err" ||
		{ cat "$T/$n.init.out" "$T/$n.init.cli.err" >&2; fail "vx6 init of node $n failed"; }
	set_limit "$n" republish_s "$NAMED_REPUBLISH_S"
	set_limit "$n" replicate_s "$NAMED_REPLICATE_S"
	set_limit "$n" record_lifetime_s "$NAMED_LIFETIME_S"
}

# ns_run_node NAME: `vx6 node` inside NAME's namespace, log appended to
# $T/NAME.log; waits until `vx6 status` answers (the control socket is a
# file in the home, reachable from any namespace). `ip netns exec` execs
# the command, so the PID recorded is the node's own.
ns_run_node() {
	local n=$1
	case " ${NODE_NAMES[*]} " in *" $n "*) ;; *) NODE_NAMES+=("$n") ;; esac
	NODE_LOG[$n]=$T/$n.log
	echo "=== $(date +%T.%N) vx6 node start (namespace $(ns_name "$n"))" >>"${NODE_LOG[$n]}"
	ip netns exec "$(ns_name "$n")" "$VX6_BIN" --home "$T/$n" node --log-level "${VX6_LOG_LEVEL:-info}" \
		2>>"${NODE_LOG[$n]}" </dev/null &
	NODE_PID[$n]=$!
	wait_status "$n"
}

# ns_port_accepts NAME PORT: a TCP connect to 127.0.0.1:PORT inside NAME.
ns_port_accepts() { nsx "$1" bash -c "exec 3<>/dev/tcp/127.0.0.1/$2" 2>/dev/null; }

# ns_http_server NAME DIR PORT: python http.server on 127.0.0.1:PORT inside
# NAME's namespace (registered for cleanup).
ns_http_server() {
	local n=$1 dir=$2 port=$3
	bg ip netns exec "$(ns_name "$n")" "$PY" -c '
import functools, http.server, sys
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
Server(("127.0.0.1", int(sys.argv[2])), handler).serve_forever()
' "$dir" "$port" >"$T/http-$n.log" 2>&1
	EXTRA_LOGS+=("$T/http-$n.log")
	wait_until 20 "http server in $n on port $port" ns_port_accepts "$n" "$port"
}

# ns_fetch NAME PORT PATH OUT [CURL ARGS...]: curl inside NAME's namespace.
ns_fetch() {
	local n=$1 port=$2 path=$3 out=$4
	shift 4
	nsx "$n" curl -sS --fail --noproxy '*' -o "$out" "$@" "http://127.0.0.1:$port/$path"
}

# ns_cut "A B ..." "C D ...": the bridge drops every frame between a host of
# the first group and a host of the second (both directions); hosts within
# a group still reach each other.
ns_cut() {
	local a b
	# shellcheck disable=SC2086 # the groups are split into words on purpose
	a=$(printf '"%s", ' $1) b=$(printf '"%s", ' $2)
	a=${a%, } b=${b%, }
	ip netns exec "$NS_BR" nft -f - <<EOF || fail "nft: cannot install the partition rule"
table bridge vx6part {
	chain cut {
		type filter hook forward priority 0; policy accept;
		iifname { $a } oifname { $b } counter drop
		iifname { $b } oifname { $a } counter drop
	}
}
EOF
}

ns_heal() { ip netns exec "$NS_BR" nft delete table bridge vx6part || fail "nft: cannot remove the partition rule"; }

# ns_cut_drops: frames dropped by the partition rule so far.
ns_cut_drops() {
	ip netns exec "$NS_BR" nft list table bridge vx6part 2>/dev/null |
		awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}

# ns_block_udp HOST: HOST drops every UDP datagram to the node port
# $NS_PORT (input hook, counted): QUIC cannot reach its node, TCP still can.
# ns_unblock_udp HOST lifts it; ns_udp_drops HOST: datagrams dropped so far.
ns_block_udp() {
	nsx "$1" nft -f - <<EOF || fail "nft: cannot install the UDP drop rule in $1"
table inet vx6udp {
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport $NS_PORT counter drop
	}
}
EOF
}
ns_unblock_udp() { nsx "$1" nft delete table inet vx6udp || fail "nft: cannot remove the UDP drop rule in $1"; }
ns_udp_drops() {
	nsx "$1" nft list table inet vx6udp 2>/dev/null |
		awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}

# ns_delete_all: kills (by PID) whatever still runs in our namespaces, then
# deletes them (hosts first, the bridge last); veths go with them.
ns_delete_all() {
	local i ns pid
	for ((i = ${#NS_ALL[@]} - 1; i >= 0; i--)); do
		ns=${NS_ALL[$i]}
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null || echo "($NS_TEST_NAME: could not delete namespace $ns)" >&2
	done
	NS_ALL=()
}

# The EXIT trap: processes first (integ lib: SIGTERM, exit codes, sanitizer
# scan), then namespaces, then the integ lib's own cleanup (temp dir, rc).
_ns_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if ! _stop_all; then
		[ "$FAILED" -eq 0 ] && dump_logs
		rc=1
	fi
	ns_delete_all
	(exit "$rc")
	_cleanup
}
trap _ns_cleanup EXIT

# ---------------------------------------------------------------- relays
# (added for t_relay_netns.sh)

# ns_onlink NAME PREFIX: PREFIX (e.g. fd00::/8) is on-link on NAME's eth0, so
# hosts of one bridge in different /64s and /48s reach each other directly
# (neighbour discovery, no router needed).
ns_onlink() { ip -n "$(ns_name "$1")" -6 route add "$2" dev eth0 || fail "cannot add the on-link route $2 to $1"; }

# ns_link NAME up|down: NAME's eth0 up or down, inside its namespace (down
# also drops its IPv6 addresses unless keep_addr_on_down is set: the host
# is gone for its peers, which see nothing but silence).
ns_link() { ip -n "$(ns_name "$1")" link set eth0 "$2" || fail "cannot set eth0 of $1 $2"; }

# ns_set_relay NAME KEY VALUE: `KEY = VALUE` in the [relay] section of NAME's
# config.ini (replacing an existing or commented line, else right after the
# `[relay]` header), like set_relay in tests/integ/relay_lib.sh. Takes effect
# at the node's next start.
ns_set_relay() {
	local n=$1 k=$2 v=$3 f=$T/$1/config.ini
	[ -f "$f" ] || fail "ns_set_relay: $f does not exist"
	grep -qx '\[relay\]' "$f" || fail "ns_set_relay: $f has no [relay] section"
	if sed -n '/^\[relay\]/,/^\[/p' "$f" | grep -qE "^#? *$k *="; then
		sed -i -E "/^\[relay\]/,/^\[/ s|^#? *$k *=.*|$k = $v|" "$f"
	else
		sed -i "/^\[relay\]\$/a $k = $v" "$f"
	fi
	sed -n '/^\[relay\]/,/^\[/p' "$f" | grep -qx "$k = $v" ||
		fail "ns_set_relay: could not set $k = $v in [relay] of $f"
}
