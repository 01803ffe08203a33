#!/usr/bin/env bash
# t_unpublished — the owner connects streams only to services it published,
# and only to loopback targets.
#
#   client ──► 127.0.0.1:L_NOSUCH ══► [owner]  "nosuch": not published   → stream refused, RST
#          ──► 127.0.0.1:L_GONE   ══► [owner]  "gone": added then removed → stream refused, RST
#          ──► 127.0.0.1:L_DEAD   ══► [owner]  "dead" → 127.0.0.1:FREE    → target unreachable, RST
#          ──► 127.0.0.1:L_WEB    ══► [owner]  "web"  → http.server       → still works on the same session
#
# 1. A forward to a service the owner does not publish: each connection is
#    reset; curl fails; the owner logs 'refused stream' and counts
#    streams_refused; the client's forward counts streams_refused too.
# 2. A service removed with `vx6 service remove` is refused from then on.
# 3. Names that are not service names ("127.0.0.1:22", "A", "../x", 16+
#    characters) are refused by connect with exit 2, and no forward is made.
# 4. A published service whose target has no listener: the owner counts
#    targets_unreachable, logs it, and the client's connection is reset.
# 5. `vx6 service add` with a non-loopback target (10.1.2.3:80,
#    [2001:db8::1]:80, 0.0.0.0:80, [::]:80) exits 2 and changes nothing.
# 6. None of this hurt the session: "web" still serves a file byte for byte.
. "$(dirname "$0")/lib.sh"
need curl jq ss "$PY"

mkdir -p "$T/www" "$T/got"
make_random "$T/www/f" 1
http_server "$T/www"
start_node owner
start_node client
vx owner service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add web failed"
DEAD_PORT=$(free_port)
vx owner service add --name dead --target "127.0.0.1:$DEAD_PORT" >/dev/null || fail "service add dead failed"
vx owner service add --name gone --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add gone failed"

L_WEB=$(connect_detached client owner web)
L_NOSUCH=$(connect_detached client owner nosuch)
L_GONE=$(connect_detached client owner gone)
L_DEAD=$(connect_detached client owner dead)
fetch "$L_GONE" f "$T/got/gone0" --max-time "$(scaled 20)" || fail "service 'gone' did not work before its removal"

say "unpublished service"
for i in 1 2 3; do
	curl -sS --noproxy '*' --max-time "$(scaled 20)" -o /dev/null "http://127.0.0.1:$L_NOSUCH/f" 2>"$T/curl.err" &&
		fail "curl through a forward to an unpublished service succeeded"
	rc=$?
	[ "$rc" != 28 ] || fail "curl to an unpublished service hung until --max-time instead of failing"
done
r=$(tcp_probe "$L_NOSUCH")
[[ $r == "reset 0" ]] || fail "connection to an unpublished service ended with '$r', want 'reset 0'"
grep -q "refused stream .*no service named 'nosuch'" "$T/owner.log" ||
	fail "the owner's log has no 'refused stream ... no service named 'nosuch'' line"
[ "$(counter owner streams_refused)" = 4 ] ||
	fail "owner counters.streams_refused = $(counter owner streams_refused), want 4"
wait_until 10 "the client's forward to nosuch counting 4 refused streams" \
	output_is 4 sj client '[.forwards[] | select(.service == "nosuch")][0].streams_refused'
[ "$(counter owner targets_unreachable)" = 0 ] || fail "a refused stream was counted as targets_unreachable"

say "removed service"
vx owner service remove --name gone >/dev/null || fail "service remove gone failed"
r=$(tcp_probe "$L_GONE")
[[ $r == "reset 0" ]] || fail "connection to a removed service ended with '$r', want 'reset 0'"
grep -q "refused stream .*no service named 'gone'" "$T/owner.log" ||
	fail "the owner's log has no 'refused stream' line for the removed service"
[ "$(counter owner streams_refused)" = 5 ] ||
	fail "owner counters.streams_refused = $(counter owner streams_refused) after the removed service, want 5"

say "invalid service names"
nfwd=$(sj client '.forwards | length')
for name in '127.0.0.1:22' 'A' '../x' 'web;rm' 'abcdefghijklmnop' '-web' ''; do
	vx client connect --service "$name" --addr "[::1]:${NODE_PORT[owner]}" --listen 127.0.0.1:0 \
		--detach >"$T/inv.out" 2>"$T/inv.err"
	rc=$?
	[ "$rc" = 2 ] || fail "connect --service '$name' exited $rc, want 2 (usage)"
	[ -s "$T/inv.err" ] || fail "connect --service '$name' exited 2 without a message"
done
[ "$(sj client '.forwards | length')" = "$nfwd" ] || fail "an invalid service name created a forward"

say "target with nothing listening"
port_in_use "$DEAD_PORT" && fail "port $DEAD_PORT became used; cannot test an unreachable target"
r=$(tcp_probe "$L_DEAD")
[[ $r == "reset 0" ]] || fail "connection to a service whose target is down ended with '$r', want 'reset 0'"
curl -sS --noproxy '*' --max-time "$(scaled 20)" -o /dev/null "http://127.0.0.1:$L_DEAD/f" 2>/dev/null &&
	fail "curl through a service with a dead target succeeded"
[ "$(counter owner targets_unreachable)" = 2 ] ||
	fail "owner counters.targets_unreachable = $(counter owner targets_unreachable), want 2"
grep -q "service dead: target 127.0.0.1:$DEAD_PORT is not accepting connections" "$T/owner.log" ||
	fail "the owner's log does not say the target of 'dead' is not accepting connections"
[ "$(counter owner streams_refused)" = 5 ] || fail "an unreachable target was counted as a refused stream"

say "non-loopback targets"
nsvc=$(vx owner service list --json | jq length)
for tgt in 10.1.2.3:80 '[2001:db8::1]:80' 0.0.0.0:80 '[::]:80' 192.168.1.1:22; do
	vx owner service add --name bad --target "$tgt" >"$T/bad.out" 2>"$T/bad.err"
	rc=$?
	[ "$rc" = 2 ] || fail "service add --target $tgt exited $rc, want 2"
	grep -qi loopback "$T/bad.err" || fail "service add --target $tgt: the message does not mention loopback: $(cat "$T/bad.err")"
done
[ "$(vx owner service list --json | jq length)" = "$nsvc" ] || fail "a refused service add changed services.ini"
grep -q 'bad' "$T/owner/services.ini" && fail "services.ini mentions the refused service 'bad'"
[ "$(sj owner '[.services[] | select(.name == "bad")] | length')" = 0 ] || fail "the running owner publishes 'bad'"

say "the session still serves"
fetch "$L_WEB" f "$T/got/f" --max-time "$(scaled 20)" || fail "web failed after the refusals (curl rc=$?)"
same_sha "$T/www/f" "$T/got/f" "web after the refusals"
[ "$(counter owner handshake_failed)" = 0 ] || fail "owner counted failed handshakes"
wait_quiet 20 client owner
pass
