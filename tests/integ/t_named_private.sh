#!/usr/bin/env bash
# t_named_private — a private service is found and used only by the nodes its
# allow list names; to anyone else it does not exist.
#
#                 alice ─ admin (private) ─► http.server (2 MiB file)
#                   │      --allow <X's key>   --allow y (a node name)
#   n1 n2 n3 ── random join tree ── x  y  z
#
#   y publishes www (public); alice resolves y.www, which pins the name y
#   to Y's key in alice's registry: an allow entry that is a NAME means "the
#   key alice pinned for that name", so Y must be known to alice first.
#
#   x, y: resolve alice.admin → source "dht (private catalog)", private;
#         connect --service alice.admin → 2 MiB intact
#   z:    resolve alice.admin (also with --peer-key <alice>) → not found
#         connect --service admin --addr <alice> (direct) → RESET, exactly like
#         an unknown service; alice logs "does not allow it", streams_refused+1
#         `vx6 list` on z shows no admin service
. "$(dirname "$0")/lib.sh"
need curl jq ss "$PY" sha256sum

SEED=${VX6_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
say "join-order seed $SEED (VX6_SEED=$SEED reproduces it)"

mkdir -p "$T/www" "$T/got"
make_random "$T/www/file" 2
http_server "$T/www"

ALL=(alice)
start_named alice
for n in n1 n2 n3 x y z; do
	start_named "$n" "${ALL[$((RANDOM % ${#ALL[@]}))]}"
	ALL+=("$n")
done
KA=$(node_key alice) KX=$(node_key x) KY=$(node_key y) KZ=$(node_key z)

say "alice pins the name y (resolving y.www)"
vx y service add --name www --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add www on y failed"
wait_until 30 "alice resolving y.www" resolves alice y.www
resolve_to alice y.www "$T/a-y.json" || fail "resolve y.www on alice failed"
[ "$(jq -r .owner_key "$T/a-y.json")" = "$KY" ] || fail "alice resolved y.www to $(jq -r .owner_key "$T/a-y.json"), want Y's key $KY"

say "alice publishes admin privately for x (by key) and y (by name)"
vx alice service add --name admin --target "127.0.0.1:$HTTP_PORT" --private --allow "$KX" --allow y >"$T/add.out" 2>&1 ||
	fail "service add admin --private failed: $(cat "$T/add.out")"

for c in x y; do
	wait_until 30 "$c resolving alice.admin through its private catalog" resolves "$c" alice.admin
	resolve_to "$c" alice.admin "$T/$c.json" || fail "resolve alice.admin on $c failed: $(cat "$T/$c.json.err")"
	[ "$(jq -r .source "$T/$c.json")" = "dht (private catalog)" ] ||
		fail "resolve alice.admin on $c: source '$(jq -r .source "$T/$c.json")', want 'dht (private catalog)'"
	[ "$(jq -r .private "$T/$c.json")" = true ] || fail "resolve alice.admin on $c: private is not true"
	[ "$(jq -r .owner_key "$T/$c.json")" = "$KA" ] || fail "resolve alice.admin on $c: owner_key is not alice's"
	L=$(connect_named "$c" alice.admin)
	fetch "$L" file "$T/got/$c" --max-time "$(scaled 60)" || fail "fetch of alice.admin through $c's forward failed (curl rc=$?)"
	same_sha "$T/www/file" "$T/got/$c" "2 MiB of alice.admin through $c's named forward"
	say "$c resolved and fetched alice.admin: $(jq -c '{source,holders,hops}' "$T/$c.json")"
done
grep "does not allow it" "${NODE_LOG[alice]}" | grep -qE -- "$KX|$KY" &&
	fail "alice refused an allowed node: $(grep 'does not allow it' "${NODE_LOG[alice]}" | head -n 2)"

say "z is not allowed: the name does not resolve"
for args in "" "--peer-key $KA"; do
	# shellcheck disable=SC2086
	resolve_to z alice.admin "$T/z.json" $args
	rc=$?
	[ "$rc" != 0 ] || fail "z resolved the private alice.admin ${args:+($args) }: $(cat "$T/z.json")"
	grep -q "no service alice.admin found" "$T/z.json.err" ||
		fail "z's resolve alice.admin ${args:+($args) }failed without 'not found': $(cat "$T/z.json.err")"
done
jq -e '[.services[].name] | index("alice.admin") == null' <(vx z list --json) >/dev/null ||
	fail "vx6 list on z shows alice.admin: $(vx z list --json | jq -c .services)"
vx z list >"$T/z.list" 2>>"$T/z.cli.err" || fail "vx6 list on z failed"
grep -q admin "$T/z.list" && fail "vx6 list on z mentions admin: $(cat "$T/z.list")"

say "z's direct connection to admin is refused like an unknown service"
r0=$(counter alice streams_refused)
LZ=$(connect_detached z alice admin)
LU=$(connect_detached z alice nosuch)
r=$(tcp_probe "$LZ" 10)
[ "$r" = "reset 0" ] || fail "z's direct connection to the private admin ended with '$r', want 'reset 0'"
ru=$(tcp_probe "$LU" 10)
[ "$ru" = "reset 0" ] || fail "a direct connection to an unknown service ended with '$ru', want 'reset 0'"
wait_until 10 "alice logging the refusal" grep -q "key $KZ): private service admin does not allow it" "${NODE_LOG[alice]}"
r1=$(counter alice streams_refused)
[ "$r1" -ge $((r0 + 2)) ] || fail "alice's counters.streams_refused went $r0 -> $r1, want +2 (admin for z, nosuch)"
ez=$(sj z "[.forwards[] | select(.listen == \"127.0.0.1:$LZ\")][0].last_error")
eu=$(sj z "[.forwards[] | select(.listen == \"127.0.0.1:$LU\")][0].last_error")
[ "${ez//admin/X}" = "${eu//nosuch/X}" ] ||
	fail "z can tell the private service from an unknown one: '$ez' vs '$eu'"
wait_quiet 20 alice x y z
pass
