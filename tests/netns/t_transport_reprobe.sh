#!/usr/bin/env bash
#
# t_transport_reprobe — transport = auto, sessions that are not a forward's
# (here: the named-mode session a node joins the network through) also go
# back to QUIC after a fallback. Needs root; prints "SKIPPED: ..." otherwise.
#
#   a (fd42:R:S::1) ◄── b joins through a (`init --peer [a]:4242`)
#   a: nftables drops UDP to port 4242 at first
#
# 1. With UDP blocked, b joins over TCP: its only session to a is tcp, with
#    the fallback note, and its log shows the fallback.
# 2. UDP unblocked: within 15 s (quic_reprobe_s = 2) b has an established
#    quic session to a and no tcp session any more (the fallen-back one was
#    retired and closed once idle), a sees the same, and b is still joined.
. "$(dirname "$0")/lib.sh"
need jq nft timeout

# shellcheck disable=SC2034
TRANSPORT_ARGS=(--transport auto)

R=$(printf '%x:%x' $((RANDOM | 0x1000)) $(($$ & 0xffff | 0x1000)))
A_IP=fd42:$R::1
B_IP=fd42:$R::2

say "namespaces $NS_PREFIX-{br,ha,hb}, a $A_IP, b $B_IP"
ns_bridge
ns_host ha "$A_IP/64"
ns_host hb "$B_IP/64"
ns_init_node ha
ns_init_node hb "[$A_IP]:$NS_PORT"
for h in ha hb; do set_limit "$h" quic_reprobe_s 2; done

ns_block_udp ha
ns_run_node ha
ns_run_node hb
wait_joined hb 30

# sessions NODE TRANSPORT: how many established sessions of that transport.
sessions() { sj "$1" "[.sessions[] | select(.transport == \"$2\" and .state == \"established\")] | length"; }

say "1. UDP blocked"
wait_until 15 "b's session to a over tcp" output_is 1 sessions hb tcp
[ "$(sessions hb quic)" = 0 ] || fail "b has a quic session to a although UDP is blocked"
grep -q "no QUIC answer from quic://\[$A_IP\]:$NS_PORT: falling back to TCP" "${NODE_LOG[hb]}" ||
	fail "b's log does not show the fallback to TCP"
[ "$(sj hb '[.sessions[] | select(.transport == "tcp") | .transport_note] | first')" != null ] ||
	fail "b's tcp session does not say why it is tcp"

say "2. UDP unblocked"
ns_unblock_udp ha
t0=$(now_ms)
# (Two QUIC sessions may exist: a dial that was waiting for its handshake
# when UDP opened again also completes; pairs of sessions are not merged.)
back_on_quic() { [ "$(sessions hb quic)" -ge 1 ] && [ "$(sessions hb tcp)" = 0 ]; }
wait_until 15 "b back on QUIC only (quic session up, tcp session closed)" back_on_quic
say "b moved to QUIC in $(( $(now_ms) - t0 )) ms: $(sj hb '[.sessions[] | {remote, transport, state}]' | jq -c .)"
wait_until 10 "a's tcp session from b closed" output_is 0 sessions ha tcp
node_joined hb || fail "b is no longer joined after the move to QUIC"
grep -q "QUIC to quic://\[$A_IP\]:$NS_PORT works again" "${NODE_LOG[hb]}" ||
	fail "b's log does not say QUIC works again"
pass
