#!/usr/bin/env bash
# t_named_network — 12 nodes form a network by joining through each other;
# a service is found by name through the DHT, fetched, served from the
# registry after a restart, and survives the death of every node that held
# its record (re-replication).
#
#   join tree (random, seed printed; each node's only --peer is one earlier
#   node, never all the same one), e.g.:
#
#        alice ◄── n01 ◄── n04 ◄── n09            C = the deepest node of
#          ▲        ▲                                 the tree (latest on a tie)
#          │        └── n03 ◄── n07 ◄── n11 = C
#          ├── n02 ◄── n05                        alice: "web" = python
#          └── n06 ◄── n08, n10                   http.server, 32 MiB file
#
#   curl ─► C 127.0.0.1:L ═══ named forward alice.web (Noise IK, key from the
#                              signed record) ═══► alice ─► 127.0.0.1:HTTP
#
# 1. The network forms; every node joins through its one bootstrap peer.
# 2. alice publishes web; from C: `resolve alice.web` answers from the DHT,
#    `connect --service alice.web` fetches 32 MiB intact (sha256), and a
#    second resolve answers from C's registry.
# 3. C restarts (SIGTERM, same home): resolve answers from the registry and
#    does not send a single DHT RPC (named.dht.rpcs_out unchanged), while
#    `resolve --fresh` does (the control).
# 4. Every node whose DHT store holds alice.web (except alice) is SIGKILLed.
#    After at least one republish interval a survivor holds the record again,
#    a survivor that does not hold it (preferably one that never resolved
#    it) finds it with `resolve --fresh` (source dht), and a new forward
#    from there fetches 32 MiB intact.
. "$(dirname "$0")/lib.sh"
need curl jq ss "$PY" sha256sum

N=12
SEED=${VX6_SEED:-$((RANDOM * 32768 + RANDOM))}
say "join-order seed $SEED (VX6_SEED=$SEED reproduces it)"

# ---- plan the join tree: node i joins through a random earlier node
NODES=(alice)
for i in $(seq 1 $((N - 1))); do NODES+=("$(printf 'n%02d' "$i")"); done
declare -A PARENT=() DEPTH=()
plan() {
	local i p distinct
	RANDOM=$1
	DEPTH[alice]=0
	for ((i = 1; i < N; i++)); do
		p=${NODES[$((RANDOM % i))]}
		PARENT[${NODES[$i]}]=$p
		DEPTH[${NODES[$i]}]=$((DEPTH[$p] + 1))
	done
	distinct=$(printf '%s\n' "${PARENT[@]}" | sort -u | wc -l)
	[ "$distinct" -ge 3 ]
}
s=$SEED
until plan "$s"; do s=$((s + 1)); done
C=alice
for n in "${NODES[@]}"; do
	[ "${DEPTH[$n]}" -ge "${DEPTH[$C]}" ] && C=$n
done
say "join tree: $(for n in "${NODES[@]:1}"; do printf '%s<-%s ' "${PARENT[$n]}" "$n"; done)"
say "client C = $C (depth ${DEPTH[$C]})"

# ---- 1. the network
mkdir -p "$T/www" "$T/got"
make_random "$T/www/big" 32
http_server "$T/www"

start_named alice
for n in "${NODES[@]:1}"; do
	start_named "$n" "${PARENT[$n]}"
done
for n in "${NODES[@]}"; do
	node_joined "$n" || fail "node $n is not joined: $(nj "$n" .bootstrap)"
done
boot=$(nj "$C" .bootstrap)
[[ $boot == *"[::1]:${NODE_PORT[${PARENT[$C]}]}"* ]] ||
	fail "C joined through '$boot', want its only peer ${PARENT[$C]} ([::1]:${NODE_PORT[${PARENT[$C]}]})"
say "$N nodes joined; alice knows $(nj alice .dht.contacts) DHT contacts, C knows $(nj "$C" .dht.contacts)"

# ---- 2. publish, resolve through the DHT, fetch, resolve from the registry
KA=$(node_key alice)
vx alice service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add web failed"
others=("${NODES[@]:1}")
stored_widely() { [ "$(holders alice.web "${others[@]}" | wc -w)" -ge 3 ]; }
wait_until 30 "alice.web stored on at least 3 nodes other than alice" stored_widely
say "alice.web held by: $(holders alice.web "${NODES[@]}")"

resolve_to "$C" alice.web "$T/r1.json" || fail "resolve alice.web on C failed: $(cat "$T/r1.json.err")"
[ "$(jq -r .source "$T/r1.json")" = dht ] || fail "first resolve on C: source '$(jq -r .source "$T/r1.json")', want dht"
[ "$(jq -r .owner_key "$T/r1.json")" = "$KA" ] || fail "first resolve on C: owner_key $(jq -r .owner_key "$T/r1.json"), want alice's $KA"
jq -e --arg a "$VX6_TEST_TRANSPORT://[::1]:${NODE_PORT[alice]}" '.addresses | index($a) != null' "$T/r1.json" >/dev/null ||
	fail "first resolve on C: addresses $(jq -c .addresses "$T/r1.json") lack alice's [::1]:${NODE_PORT[alice]}"
[ "$(jq -r .holders "$T/r1.json")" -ge 1 ] || fail "first resolve on C: no holder confirmed the record"
[ "$(jq -r '.conflicts | length' "$T/r1.json")" = 0 ] || fail "first resolve on C reports conflicts: $(jq -c .conflicts "$T/r1.json")"
say "C resolved alice.web from the DHT: $(jq -c '{holders,hops,elapsed_ms}' "$T/r1.json")"

LC=$(connect_named "$C" alice.web)
fetch "$LC" big "$T/got/big1" --max-time "$(scaled 120)" || fail "32 MiB fetch through C's named forward failed (curl rc=$?)"
same_sha "$T/www/big" "$T/got/big1" "32 MiB through C's named forward"

resolve_to "$C" alice.web "$T/r2.json" || fail "second resolve on C failed: $(cat "$T/r2.json.err")"
[ "$(jq -r .source "$T/r2.json")" = registry ] || fail "second resolve on C: source '$(jq -r .source "$T/r2.json")', want registry"
[ "$(jq -r .owner_key "$T/r2.json")" = "$KA" ] || fail "second resolve on C: wrong owner key"

# ---- 3. restart C: the registry survives and answers without the DHT
say "restarting $C"
stop_node "$C"
[ "${NODE_RC[$C]}" = 0 ] || fail "C exited with ${NODE_RC[$C]} on SIGTERM"
run_node "$C"
wait_joined "$C"
# rpcs_out also counts C's own republishing (every ${NAMED_REPUBLISH_S}s) and its
# replies to the other 11 nodes' lookups, so it moves in the background. A
# resolve that uses the DHT always sends requests, so the counter is sampled
# around the resolve up to 20 times and must stay unchanged at least once.
ok=0
for attempt in $(seq 1 20); do
	wait_until 30 "C's DHT lookups finishing" output_is 0 nj "$C" .dht.lookups_active
	out0=$(nj "$C" .dht.rpcs_out) h0=$(nj "$C" .registry.hits)
	resolve_to "$C" alice.web "$T/r3.json" || fail "resolve on C after its restart failed: $(cat "$T/r3.json.err")"
	out1=$(nj "$C" .dht.rpcs_out) h1=$(nj "$C" .registry.hits)
	[ "$(jq -r .source "$T/r3.json")" = registry ] ||
		fail "resolve on C after its restart: source '$(jq -r .source "$T/r3.json")', want registry"
	[ "$(jq -r .owner_key "$T/r3.json")" = "$KA" ] || fail "resolve on C after its restart: wrong owner key"
	[ "$h1" -gt "$h0" ] || fail "resolve from the registry did not count a registry hit ($h0 -> $h1)"
	if [ "$out0" = "$out1" ]; then ok=1; break; fi
done
[ "$ok" = 1 ] || fail "all 20 resolves from C's registry after the restart were accompanied by DHT RPCs (rpcs_out kept growing)"
say "after the restart C resolves from its registry with rpcs_out unchanged ($out1; attempt $attempt)"
# The control: the same resolve with --fresh asks the DHT, and the counter moves.
out0=$(nj "$C" .dht.rpcs_out)
resolve_to "$C" alice.web "$T/r3f.json" --fresh || fail "resolve --fresh on C failed: $(cat "$T/r3f.json.err")"
out1=$(nj "$C" .dht.rpcs_out)
[ "$(jq -r .source "$T/r3f.json")" = dht ] || fail "resolve --fresh on C: source $(jq -r .source "$T/r3f.json"), want dht"
[ "$out1" -gt "$out0" ] || fail "resolve --fresh on C did not send a DHT RPC (rpcs_out $out0 -> $out1)"

# ---- 4. kill every holder; the record is re-replicated
HOLD=$(holders alice.web "${others[@]}")
[ -n "$HOLD" ] || fail "no node other than alice holds alice.web"
SURV=()
for n in "${others[@]}"; do
	case " $HOLD " in *" $n "*) ;; *) SURV+=("$n") ;; esac
done
[ "${#SURV[@]}" -ge 1 ] || fail "every node holds alice.web ($HOLD): nobody would survive"
say "SIGKILL the holders of alice.web: $HOLD (survivors: ${SURV[*]})"
for n in $HOLD; do kill9_node "$n"; done
KILLED_MS=$(now_ms)
rereplicated() {
	[ $(( $(now_ms) - KILLED_MS )) -ge $((NAMED_REPUBLISH_S * 1000)) ] &&
		[ -n "$(holders alice.web "${SURV[@]}")" ]
}
wait_until 60 "a surviving node holding alice.web again (re-replication)" rereplicated
say "$(( ($(now_ms) - KILLED_MS) / 1000 ))s after the kill alice.web is held by: $(holders alice.web "${SURV[@]}") (+ alice: $(dht_holds alice alice.web && echo yes || echo no))"

# The resolver: a survivor whose own store does not hold the record (so the
# answer comes from other nodes), preferably one that never resolved it.
S=
HOLD2=" $(holders alice.web "${SURV[@]}") "
for n in "${SURV[@]}"; do [[ $HOLD2 != *" $n "* && $n != "$C" ]] && { S=$n; break; }; done
for n in "${SURV[@]}"; do [[ -z $S && $HOLD2 != *" $n "* ]] && S=$n; done
[ -n "$S" ] || S=${SURV[0]}
resolve_to "$S" alice.web "$T/r4.json" --fresh || fail "resolve --fresh alice.web on survivor $S failed: $(cat "$T/r4.json.err")"
[ "$(jq -r .source "$T/r4.json")" = dht ] || fail "resolve --fresh on $S: source '$(jq -r .source "$T/r4.json")', want dht"
[ "$(jq -r .owner_key "$T/r4.json")" = "$KA" ] || fail "resolve --fresh on $S: wrong owner key"
[ "$(jq -r .holders "$T/r4.json")" -ge 1 ] || fail "resolve --fresh on $S: no holder confirmed the record"
say "$S resolved alice.web after the holders died: $(jq -c '{source,holders,hops,elapsed_ms}' "$T/r4.json")"
LS=$(connect_named "$S" alice.web)
fetch "$LS" big "$T/got/big2" --max-time "$(scaled 120)" || fail "32 MiB fetch through $S's named forward failed (curl rc=$?)"
same_sha "$T/www/big" "$T/got/big2" "32 MiB through $S's named forward after the holders died"
pass
