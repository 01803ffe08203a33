#!/usr/bin/env bash
#
# t_transport_fallback — transport = auto across two hosts (network
# namespaces): QUIC blocked → the forward falls back to TCP; QUIC unblocked
# → the same forward moves its NEW streams to QUIC within a bounded time,
# a download in flight finishes intact on the old TCP session, which then
# closes. Needs root; prints "SKIPPED: ..." otherwise. Always runs with
# `--transport auto` on both nodes, whatever VX6_TEST_TRANSPORT says (CTest
# runs t_transport_* once, with auto).
#
#          namespace vx6ns-<PID>-br: bridge br0
#            ┌─────────────┬─────────────┐
#         ┌──┴───┐      ┌──┴───┐
#         │owner │      │client│          eth0 (nodad), lo up
#         └──────┘      └──────┘          vx6 node on [::]:4242 (TCP + UDP), auto
#       fd42:R:S::1   fd42:R:S::2
#   owner: nftables (inet, input) `udp dport 4242 counter drop` in phase a;
#          web = python http.server on 127.0.0.1:8080 inside owner
#   client: connect --service web --addr '[owner]:4242' (direct mode),
#           quic_reprobe_s = 2; curl inside client
#
# a. UDP to the owner's port is dropped. The client's `connect` comes up
#    (QUIC gets no answer within 1.5 s, the link falls back): its log says
#    "no QUIC answer from quic://[owner]:4242: falling back to TCP", the nft
#    counter shows dropped datagrams, the client's only established session
#    to the owner is tcp (transport_note set), a 4 MiB fetch is intact and
#    its stream was counted on that tcp session (streams_total +1).
# c. (set up before b) A 32 MiB download through the same forward, read at
#    2 MiB/s, is in flight on the TCP session when UDP is unblocked.
# b. `nft delete` the rule. Within 15 s (quic_reprobe_s = 2, 1.5 s QUIC
#    timeout) the client logs "QUIC to quic://[owner]:4242 works again" and
#    has an established quic session to the owner; the download of (c) is
#    still running then (it really was in flight) and its TCP session is
#    still there carrying its 1 stream. A new 4 MiB fetch through the SAME
#    forward is intact, and its stream went over QUIC: the quic session's
#    streams_total grew by 1 and bytes_in by >= 4 MiB, the tcp session's
#    streams_total did not grow; the owner sees it the same way on its
#    inbound quic session.
# c. The 32 MiB download completes intact (sha256) — it crossed the switch.
# b. Once it has ended, the client's TCP session to the owner closes (within
#    10 s) and so does the owner's inbound one; a last fetch still works
#    (over quic). Both nodes stop cleanly.
. "$(dirname "$0")/lib.sh"
need curl jq nft timeout sha256sum "$PY"

# This test is about the auto policy itself (ns_init_node reads TRANSPORT_ARGS).
# shellcheck disable=SC2034
TRANSPORT_ARGS=(--transport auto)

R=$(printf '%x:%x' $((RANDOM | 0x1000)) $(($$ & 0xffff | 0x1000)))
OWNER_IP=fd42:$R::1
CLIENT_IP=fd42:$R::2
HTTP=8080
MIB=$((1024 * 1024))
REPROBE_S=2
BIG_MIB=32     # the download in flight across the switch, read at 2 MiB/s
SWITCH_S=15     # bound for the move back to QUIC after the unblock
TCP_REMOTE="[$OWNER_IP]:$NS_PORT"
QUIC_REMOTE="quic://[$OWNER_IP]:$NS_PORT"

say "namespaces $NS_PREFIX-{br,owner,client}, owner $OWNER_IP, client $CLIENT_IP"
ns_bridge
ns_host owner "$OWNER_IP/64"
ns_host client "$CLIENT_IP/64"

for h in owner client; do
	ns_init_node "$h"
	grep -qx 'transport = auto' "$T/$h/config.ini" || fail "$h's config.ini does not say transport = auto"
	set_limit "$h" quic_reprobe_s "$REPROBE_S"
	# set_limit replaced the commented default in place: make sure it is
	# inside [limits] (the last section before it must be [limits]).
	sect=$(awk -v k="quic_reprobe_s = $REPROBE_S" '/^\[/ { s = $0 } $0 == k { print s; exit }' "$T/$h/config.ini")
	[ "$sect" = "[limits]" ] || fail "quic_reprobe_s landed in section '$sect' of $h's config.ini, not [limits]"
done

# ---- UDP to the owner's port dropped, in the owner's namespace (input hook)
ns_block_udp owner

for h in owner client; do ns_run_node "$h"; done
# Both listen on TCP and UDP 4242 (auto).
nsx owner ss -Htuln "sport = :$NS_PORT" | grep -q '^udp' || fail "owner does not listen on UDP $NS_PORT under auto: $(nsx owner ss -Htuln "sport = :$NS_PORT" | tr '\n' ';')"
nsx owner ss -Htuln "sport = :$NS_PORT" | grep -q '^tcp' || fail "owner does not listen on TCP $NS_PORT under auto"

mkdir -p "$T/www" "$T/got"
make_random "$T/www/small" 4
make_random "$T/www/big" "$BIG_MIB"
ns_http_server owner "$T/www" "$HTTP"
vx owner service add --name web --target "127.0.0.1:$HTTP" >/dev/null || fail "service add web on owner failed"
OWNER_KEY=$(node_key owner)
CLIENT_KEY=$(node_key client)

# ---- helpers
# csess TRANSPORT FIELD: FIELD of the client's ESTABLISHED session of that
# transport to the owner (its address and key); "none" if there is none,
# an error if there are several.
csess() {
	local remote
	[ "$1" = quic ] && remote=$QUIC_REMOTE || remote=$TCP_REMOTE
	sj client "[.sessions[] | select(.transport == \"$1\" and .remote == \"$remote\" and .state == \"established\" and .peer_key == \"$OWNER_KEY\")] |
		if length == 0 then \"none\" elif length == 1 then .[0].$2 else error(\"\\(length) sessions\") end"
}
# osess TRANSPORT FIELD: the same on the owner, for its inbound session of
# that transport from the client.
osess() {
	sj owner "[.sessions[] | select(.transport == \"$1\" and (.remote | contains(\"[$CLIENT_IP]:\")) and .state == \"established\" and .peer_key == \"$CLIENT_KEY\")] |
		if length == 0 then \"none\" elif length == 1 then .[0].$2 else error(\"\\(length) sessions\") end"
}
sessions_view() { sj "$1" '[.sessions[] | {remote, transport, state, streams, total: .streams_total, in: .bytes_in, note: .transport_note}]' | jq -c .; }
has_session() { [ "$(csess "$1" state)" = established ]; }
no_session() { [ "$(csess "$1" state)" = none ]; }
no_owner_session() { [ "$(osess "$1" state)" = none ]; }

# ---- a. fallback to TCP
t0=$(now_ms)
out=$(timeout "$(scaled 30)" "$VX6_BIN" --home "$T/client" connect --service web --addr "[$OWNER_IP]:$NS_PORT" \
	--listen 127.0.0.1:0 --detach --json 2>"$T/connect.err") ||
	fail "connect --service web --addr [$OWNER_IP]:$NS_PORT on client failed with UDP blocked: $(head -c 400 "$T/connect.err") $out"
cat "$T/connect.err" >>"$T/client.cli.err"
LP=$(jq -r .listen <<<"$out" | sed 's/.*://')
{ [ -n "$LP" ] && [ "$LP" != null ]; } || fail "connect gave no listen address: $out"
say "forward 127.0.0.1:$LP up in $(( $(now_ms) - t0 )) ms (UDP blocked)"

wait_until 10 "the client's log saying it fell back to TCP" \
	grep -qF "no QUIC answer from $QUIC_REMOTE: falling back to TCP $TCP_REMOTE" "${NODE_LOG[client]}"
wait_until 10 "an established tcp session from client to owner" has_session tcp
[ "$(ns_udp_drops owner)" -gt 0 ] || fail "the owner's nft rule dropped no UDP datagram: the client never tried QUIC"
no_session quic || fail "the client has an established QUIC session to the owner although UDP is dropped: $(sessions_view client)"
[ "$(csess tcp transport_note)" != null ] || fail "the client's tcp session to the owner has no transport_note (fallback not shown): $(sessions_view client)"
[ "$(jq -r '.transport // "?"' <<<"$out")" = quic ] && fail "connect reported transport quic with UDP blocked: $out"

tcp_total0=$(csess tcp streams_total)
ns_fetch client "$LP" small "$T/got/a" --max-time "$(scaled 30)" ||
	fail "a: 4 MiB fetch over the fallen-back forward failed (rc=$?, $(file_size "$T/got/a") bytes); client sessions: $(sessions_view client)"
same_sha "$T/www/small" "$T/got/a" "a: 4 MiB over TCP (QUIC blocked)"
tcp_total1=$(csess tcp streams_total)
[ "$tcp_total1" = $((tcp_total0 + 1)) ] ||
	fail "a: the fetch's stream is not on the client's tcp session (streams_total $tcp_total0 -> $tcp_total1): $(sessions_view client)"
no_session quic || fail "a: a QUIC session appeared with UDP still dropped: $(sessions_view client)"
say "a: fell back to TCP ($(ns_udp_drops owner) UDP datagrams dropped at owner); 4 MiB intact over tcp; client: $(sessions_view client)"

# ---- c (start). A download in flight across the switch: 32 MiB read at
# 2 MiB/s (a throttle, so it lasts ~16 s; not a wait). Socket buffers on
# the client's loopback hold ~10 MiB, so the owner still sends for ~10 s.
(nsx client curl -sS --fail --noproxy '*' --max-time "$(scaled 60)" "http://127.0.0.1:$LP/big" 2>"$T/curl-slow.err" |
	"$PY" "$VX6_TESTS_DIR/helpers/rate_write.py" "$T/got/slow" $((2 * MIB)); exit "${PIPESTATUS[0]}") &
SLOW_PID=$!
BG_PIDS+=("$SLOW_PID")
wait_until 20 "1 MiB of the rate-limited download" size_at_least "$T/got/slow" "$MIB"
[ "$(csess tcp streams)" = 1 ] || fail "c: the slow download's stream is not on the tcp session: $(sessions_view client)"
tcp_total2=$(csess tcp streams_total)

# ---- b. unblock UDP: the forward moves to QUIC
ns_unblock_udp owner
UNBLOCK_MS=$(now_ms)
say "b: UDP unblocked ($(file_size "$T/got/slow") bytes of the slow download so far)"
switched() {
	grep -qF "QUIC to $QUIC_REMOTE works again: new streams use it" "${NODE_LOG[client]}" && has_session quic
}
wait_until "$SWITCH_S" "the client's forward moving to QUIC (log 'QUIC to $QUIC_REMOTE works again' and an established quic session) after UDP was unblocked; client sessions: $(sessions_view client)" switched
SWITCH_MS=$(( $(now_ms) - UNBLOCK_MS ))
kill -0 "$SLOW_PID" 2>/dev/null ||
	fail "c: the slow download had already ended when the forward switched to QUIC ($SWITCH_MS ms after the unblock): it did not cross the switch"
[ "$(csess tcp streams)" = 1 ] ||
	fail "b: the client's tcp session no longer carries the in-flight download's stream after the switch: $(sessions_view client)"
tcp_in_switch=$(csess tcp bytes_in)
say "b: switched to QUIC $SWITCH_MS ms after the unblock; client: $(sessions_view client)"

q_total0=$(csess quic streams_total) q_in0=$(csess quic bytes_in)
oq_total0=$(osess quic streams_total)
ns_fetch client "$LP" small "$T/got/b" --max-time "$(scaled 30)" ||
	fail "b: 4 MiB fetch after the switch failed (rc=$?); client sessions: $(sessions_view client)"
same_sha "$T/www/small" "$T/got/b" "b: 4 MiB after the switch to QUIC"
q_total1=$(csess quic streams_total) q_in1=$(csess quic bytes_in)
oq_total1=$(osess quic streams_total)
tcp_total3=$(csess tcp streams_total)
[ "$q_total1" = $((q_total0 + 1)) ] ||
	fail "b: the new connection's stream is not on the QUIC session (quic streams_total $q_total0 -> $q_total1): $(sessions_view client)"
[ $((q_in1 - q_in0)) -ge $((4 * MIB)) ] ||
	fail "b: the QUIC session received only $((q_in1 - q_in0)) bytes during a 4 MiB fetch: $(sessions_view client)"
[ "$tcp_total3" = "$tcp_total2" ] ||
	fail "b: the tcp session got a new stream after the switch (streams_total $tcp_total2 -> $tcp_total3): $(sessions_view client)"
[ "$oq_total1" = $((oq_total0 + 1)) ] ||
	fail "b: the owner's inbound quic session from the client did not get the new stream ($oq_total0 -> $oq_total1): $(sessions_view owner)"
say "b: new fetch intact over QUIC (quic streams_total $q_total0 -> $q_total1, +$(((q_in1 - q_in0) / 1024)) KiB in; tcp streams_total stays $tcp_total3)"
# The old download's bytes keep arriving on the TCP session after the switch
# (it was in flight on the wire, not only in socket buffers: ~10 MiB of
# 32 MiB are buffered at most). The window opens in steps as the reader
# drains, so poll rather than compare two samples.
tcp_grew() {
	local v
	v=$(csess tcp bytes_in) || return 1
	[ "$v" != none ] && [ "$v" -gt $((tcp_in_switch + MIB)) ]
}
wait_until 10 "c: more of the old download arriving on the tcp session after the switch (${tcp_in_switch} bytes in at the switch): it was not in flight on the wire" tcp_grew
say "c: the old download still arrives on tcp after the switch: $(( ($(csess tcp bytes_in) - tcp_in_switch) / 1024 )) KiB since"

# ---- c (end). The in-flight download completes intact.
wait "$SLOW_PID"
rc=$?
[ "$rc" = 0 ] || fail "c: the download in flight during the switch failed (rc=$rc, $(file_size "$T/got/slow") of $((BIG_MIB * MIB)) bytes): $(cat "$T/curl-slow.err")"
same_sha "$T/www/big" "$T/got/slow" "c: $BIG_MIB MiB download in flight across the switch to QUIC"
say "c: $BIG_MIB MiB in flight across the switch: intact"

# ---- b (end). The old TCP session closes once idle.
wait_until 10 "the client's retired tcp session to the owner closing after its last stream ended; client: $(sessions_view client)" no_session tcp
wait_until 10 "the owner's inbound tcp session from the client closing; owner: $(sessions_view owner)" no_owner_session tcp
has_session quic || fail "b: the quic session went away with the tcp one: $(sessions_view client)"
ns_fetch client "$LP" small "$T/got/c" --max-time "$(scaled 30)" || fail "a last fetch after the tcp session closed failed (rc=$?)"
same_sha "$T/www/small" "$T/got/c" "last 4 MiB over QUIC"
[ "$(csess quic streams_total)" = $((q_total1 + 1)) ] || fail "the last fetch was not on the quic session: $(sessions_view client)"
[ "$(grep -c 'falling back to TCP' "${NODE_LOG[client]}")" = 1 ] ||
	fail "the client fell back to TCP more than once: $(grep 'falling back to TCP' "${NODE_LOG[client]}")"
[ "$(sj client .quic.fallbacks_to_tcp)" = 1 ] ||
	fail "the client's status counts $(sj client .quic.fallbacks_to_tcp) fallbacks to TCP, want 1"
say "b: tcp sessions closed on both ends; a last fetch went over quic; client: $(sessions_view client)"

for h in client owner; do
	stop_node "$h"
	[ "${NODE_RC[$h]}" = 0 ] || fail "node $h exited with ${NODE_RC[$h]} on SIGTERM (expected 0; see its log)"
done
pass
