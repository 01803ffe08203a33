#!/usr/bin/env bash
# t_named_conflict — a second key claiming a name already pinned is reported,
# never used; a client that never saw the name refuses to choose.
#
#   alice (key K1) ─ web ─► http.server (4 MiB file)
#   "alice" (home impostor, key KI) ─ web ─► recorder (logs every connection)
#
#        n1 … n5 ── random join tree, plus C, D and the impostor ──
#
#   C: resolve alice.web             → K1, pinned (trust on first use)
#      (the impostor joins, `init --peer` warns that K1 claims "alice")
#   C: resolve [--fresh] alice.web   → still K1; conflicts = [KI]; name_conflicts > 0
#   C: connect --service alice.web   → 4 MiB from alice, intact
#   D (fresh): resolve alice.web     → exit ≠ 0, "claimed by 2 different keys", K1 and KI
#   D: connect --service alice.web   → exit ≠ 0, no forward
#   D: resolve alice.web --peer-key K1 → K1
#   the recorder behind the impostor's "web" never gets a connection
. "$(dirname "$0")/lib.sh"
need curl jq ss "$PY" sha256sum

SEED=${VX6_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
say "join-order seed $SEED (VX6_SEED=$SEED reproduces it)"

mkdir -p "$T/www" "$T/got"
make_random "$T/www/file" 4
http_server "$T/www"

# The impostor's target: records every connection (and its bytes).
REC_PORT=$(free_port)
bg "$PY" -c '
import socket, sys, threading
out = sys.argv[2]
def serve(c, a):
    with open(out, "a") as f:
        f.write("connection from %s\n" % (a,))
    with c:
        try:
            c.sendall(b"HTTP/1.0 200 OK\r\n\r\nimpostor\n")
            while True:
                b = c.recv(65536)
                if not b:
                    break
                with open(out, "a") as f:
                    f.write("%d bytes\n" % len(b))
        except OSError:
            pass
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
while True:
    c, a = s.accept()
    threading.Thread(target=serve, args=(c, a), daemon=True).start()
' "$REC_PORT" "$T/recorded" 2>"$T/rec.log"
EXTRA_LOGS+=("$T/rec.log")
wait_port "$REC_PORT"
# Forget wait_port's probe, once the recorder's thread has logged it.
wait_until 10 "the recorder logging wait_port's probe" grep -q "connection from" "$T/recorded"
: >"$T/recorded"

# ---- the network: alice, n1..n5 and C, each joining through a random earlier node
ALL=(alice)
start_named alice
join() {
	local n=$1 p=${ALL[$((RANDOM % ${#ALL[@]}))]}
	start_named "$n" "$p"
	ALL+=("$n")
}
for n in n1 n2 n3 n4 n5 c; do join "$n"; done
K1=$(node_key alice)
vx alice service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add web on alice failed"
wait_until 30 "alice.web stored in the DHT" resolves c alice.web

say "C pins alice on first use"
resolve_to c alice.web "$T/c1.json" || fail "resolve alice.web on C failed: $(cat "$T/c1.json.err")"
[ "$(jq -r .owner_key "$T/c1.json")" = "$K1" ] || fail "C resolved alice.web to $(jq -r .owner_key "$T/c1.json"), want K1 $K1"
[ "$(nj c .registry.pins)" -ge 1 ] || fail "C pinned no name after resolving alice.web"

say "an impostor calls itself alice (init --peer probes the name first)"
NODE_LABEL[impostor]=alice
p=${ALL[$((RANDOM % ${#ALL[@]}))]}
NAMED_PROBE=1 init_named impostor "$p"
grep -q "WARNING: the name alice is already claimed" "$T/impostor.init.cli.err" ||
	fail "init --peer of a second 'alice' did not warn about the name clash: $(cat "$T/impostor.init.out" "$T/impostor.init.cli.err")"
grep -q -- "$K1" "$T/impostor.init.cli.err" || fail "the init warning does not name alice's key K1: $(cat "$T/impostor.init.cli.err")"
run_node impostor
wait_joined impostor
ALL+=(impostor)
KI=$(node_key impostor)
[ "$KI" != "$K1" ] || fail "the impostor has alice's key"
vx impostor service add --name web --target "127.0.0.1:$REC_PORT" >/dev/null || fail "service add web on the impostor failed"
# Both owners store their records on the 5 nodes closest to the key (one
# slot per signer). Nodes that held alice's record before the network grew
# may keep only hers until it expires: wait for 5 nodes with both.
both_stored() {
	local n h=0
	for n in "${ALL[@]}"; do
		[ "$(dht_values "$n" alice.web)" = 2 ] && h=$((h + 1))
	done
	[ "$h" -ge 5 ]
}
wait_until 30 "5 nodes storing both claimants' records of alice.web" both_stored

say "C keeps the pinned key and reports the other one"
resolve_to c alice.web "$T/c2.json" || fail "resolve alice.web on C (registry) failed: $(cat "$T/c2.json.err")"
[ "$(jq -r .owner_key "$T/c2.json")" = "$K1" ] || fail "C now resolves alice.web to $(jq -r .owner_key "$T/c2.json"), want the pinned K1"
c0=$(nj c .name_conflicts)
resolve_to c alice.web "$T/c3.json" --fresh || fail "resolve --fresh alice.web on C failed: $(cat "$T/c3.json.err")"
[ "$(jq -r .source "$T/c3.json")" = dht ] || fail "resolve --fresh on C: source $(jq -r .source "$T/c3.json"), want dht"
[ "$(jq -r .owner_key "$T/c3.json")" = "$K1" ] || fail "resolve --fresh on C chose $(jq -r .owner_key "$T/c3.json"), want the pinned K1"
jq -e --arg k "$KI" '[.conflicts[].key] | index($k) != null' "$T/c3.json" >/dev/null ||
	fail "resolve --fresh on C does not list the impostor's key under conflicts: $(jq -c .conflicts "$T/c3.json")"
jq -e --arg k "$K1" '[.conflicts[].key] | index($k) == null' "$T/c3.json" >/dev/null ||
	fail "resolve --fresh on C lists the pinned key itself as a conflict: $(jq -c .conflicts "$T/c3.json")"
c1=$(nj c .name_conflicts)
[ "$c1" -gt "$c0" ] || fail "C's named.name_conflicts did not grow ($c0 -> $c1)"
grep -q "name alice is also claimed by 1 other key" "${NODE_LOG[c]}" || fail "C's log does not warn that another key claims alice"
resolve_to c alice.web "$T/c4.json" || fail "resolve alice.web on C after --fresh failed: $(cat "$T/c4.json.err")"
[ "$(jq -r .owner_key "$T/c4.json")" = "$K1" ] || fail "C's registry now resolves alice.web to $(jq -r .owner_key "$T/c4.json"), want K1"
jq -e --arg k "$KI" '[.conflicts[].key] | index($k) != null' "$T/c4.json" >/dev/null ||
	fail "C's registry answer does not list the impostor's key under conflicts: $(jq -c .conflicts "$T/c4.json")"

say "C's traffic goes to alice only"
LC=$(connect_named c alice.web)
fetch "$LC" file "$T/got/c" --max-time "$(scaled 60)" || fail "fetch through C's forward failed (curl rc=$?)"
same_sha "$T/www/file" "$T/got/c" "4 MiB through C's named forward"
[ "$(sj c "[.forwards[] | select(.listen == \"127.0.0.1:$LC\")][0].peer_key")" = "$K1" ] ||
	fail "C's forward uses key $(sj c '.forwards[0].peer_key'), want K1"

say "a fresh client D refuses to choose"
p=${ALL[$((RANDOM % ${#ALL[@]}))]}
start_named d "$p"
resolve_to d alice.web "$T/d1.json"
rc=$?
[ "$rc" != 0 ] || fail "fresh client D resolved a name two keys claim (to $(jq -r .owner_key "$T/d1.json")), want a conflict error"
grep -q "claimed by 2 different keys" "$T/d1.json.err" || fail "D's resolve error does not say 'claimed by 2 different keys': $(cat "$T/d1.json.err")"
grep -q -- "$K1" "$T/d1.json.err" || fail "D's resolve error does not list K1: $(cat "$T/d1.json.err")"
grep -q -- "$KI" "$T/d1.json.err" || fail "D's resolve error does not list the impostor's key: $(cat "$T/d1.json.err")"
[ "$(nj d .registry.pins)" = 0 ] || fail "D pinned a name after a conflict"
[ "$(nj d .name_conflicts)" -ge 1 ] || fail "D's named.name_conflicts is 0 after a conflict"
timeout "$(scaled 60)" "$VX6_BIN" --home "$T/d" connect --service alice.web --listen 127.0.0.1:0 --detach \
	>"$T/d.connect.out" 2>"$T/d.connect.err"
rc=$?
cat "$T/d.connect.err" >>"$T/d.cli.err"
[ "$rc" != 0 ] || fail "connect --service alice.web on D succeeded despite the conflict: $(cat "$T/d.connect.out")"
grep -q "claimed by 2 different keys" "$T/d.connect.err" || fail "D's connect error does not explain the conflict: $(cat "$T/d.connect.err")"
[ "$(sj d '.forwards | length')" = 0 ] || fail "a refused named connect left a forward on D"
resolve_to d alice.web "$T/d2.json" --peer-key "$K1" || fail "resolve alice.web --peer-key K1 on D failed: $(cat "$T/d2.json.err")"
[ "$(jq -r .owner_key "$T/d2.json")" = "$K1" ] || fail "resolve --peer-key K1 on D gave $(jq -r .owner_key "$T/d2.json")"
resolve_to d alice.web "$T/d3.json" --peer-key "$KI" || fail "resolve alice.web --peer-key KI on D failed: $(cat "$T/d3.json.err")"
[ "$(jq -r .owner_key "$T/d3.json")" = "$KI" ] || fail "resolve --peer-key KI on D gave $(jq -r .owner_key "$T/d3.json")"
LD=$(connect_named d alice.web --peer-key "$K1")
fetch "$LD" file "$T/got/d" --max-time "$(scaled 60)" || fail "fetch through D's forward with --peer-key K1 failed (curl rc=$?)"
same_sha "$T/www/file" "$T/got/d" "4 MiB through D's named forward with --peer-key K1"

say "the impostor's target saw nothing"
[ ! -s "$T/recorded" ] || fail "the impostor's target got traffic: $(head -c 300 "$T/recorded")"
[ "$(counter impostor streams_total)" = 0 ] || fail "the impostor opened $(counter impostor streams_total) stream(s)"
pass
