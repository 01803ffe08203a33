#!/usr/bin/env bash
# Regression (fixed): this failed until `vx6 init --force` refuses (exit 6, "home in use") while a node
# runs on the home; today it replaces identity.key under the running node
# (exit 0), which keeps serving with the old key (last step below).
#
# t_cli — the command line's contract: exit codes, help, files and modes,
# reload, forwards management, clean stop.
#
#   vx6 --home $T/a ...   (one node, "a"; a second node "b" to connect to)
#
# 1. init creates the home 0700 and identity.key 0600 (under umask 000);
#    a second init exits 6 and keeps the key; init --force makes a new key.
# 2. `vx6 status` exits 3 with no node running.
# 3. --help works for every command (exit 0, prints usage).
# 4. Bad arguments exit 2 with a message on stderr.
# 5. A node refuses an identity.key others can read.
# 6. A second `vx6 node` on the same home exits 6 and the first keeps running.
# 7. control.sock is a socket with mode 0600 (node started under umask 000).
# 8. `vx6 reload` and SIGHUP both apply a hand-edited services.ini; an
#    invalid edit is refused (exit 5) and the running services are kept.
# 9. connect list / connect close: a detached forward is listed, closed, and
#    its port stops accepting; closing an unknown forward fails.
# 10. SIGTERM stops the node with exit 0, removes control.sock, and status
#     exits 3 again.
# 11. init --force while the node runs exits 6 and leaves identity.key alone.
. "$(dirname "$0")/lib.sh"
need jq ss "$PY" stat

mode_of() { stat -c %a "$1"; }

say "init"
umask 000
init_node a
umask 077
[ "$(mode_of "$T/a")" = 700 ] || fail "home is mode $(mode_of "$T/a"), want 700"
[ "$(mode_of "$T/a/identity.key")" = 600 ] || fail "identity.key is mode $(mode_of "$T/a/identity.key"), want 600"
for f in config.ini services.ini; do [ -f "$T/a/$f" ] || fail "init did not create $f"; done
K0=$(node_key a)
[ -n "$K0" ] && [ "$K0" != null ] || fail "identity --json has no public_key"
[ "$(vx a identity --json | jq -r .name)" = a ] || fail "identity --json has the wrong name"
vx a init --name a --listen "[::1]:${NODE_PORT[a]}" >/dev/null 2>"$T/e"
rc=$?
[ "$rc" = 6 ] || fail "a second init exited $rc, want 6"
[ -s "$T/e" ] || fail "a second init exited 6 without a message"
[ "$(node_key a)" = "$K0" ] || fail "a refused init changed the key"
vx a init --name a --listen "[::1]:${NODE_PORT[a]}" --force >/dev/null 2>&1 || fail "init --force failed"
K1=$(node_key a)
[ "$K1" != "$K0" ] || fail "init --force kept the old key"
[ "$(mode_of "$T/a/identity.key")" = 600 ] || fail "identity.key after --force is mode $(mode_of "$T/a/identity.key")"

say "status with no node"
vx a status >/dev/null 2>&1
rc=$?
[ "$rc" = 3 ] || fail "status with no node exited $rc, want 3"
vx a status --json >/dev/null 2>&1
rc=$?
[ "$rc" = 3 ] || fail "status --json with no node exited $rc, want 3"

say "--help"
"$VX6_BIN" --help >"$T/h" 2>&1 || fail "vx6 --help exited $?"
grep -q usage "$T/h" || fail "vx6 --help prints no usage"
cmds=$(sed -n '/^commands:/,/^$/p' "$T/h" | awk 'NF && $1 != "commands:" {print $1}')
[ -n "$cmds" ] || fail "vx6 --help lists no commands"
for c in $cmds init node identity service connect status reload; do
	"$VX6_BIN" --home "$T/a" "$c" --help >"$T/h" 2>&1 || fail "vx6 $c --help exited $?"
	grep -q "usage: vx6" "$T/h" || fail "vx6 $c --help prints no usage line"
done
"$VX6_BIN" --version >"$T/h" 2>&1 || fail "vx6 --version exited $?"
[ -s "$T/h" ] || fail "vx6 --version printed nothing"

say "bad arguments"
bad() {
	vx a "$@" >/dev/null 2>"$T/e"
	local rc=$?
	[ "$rc" = 2 ] || fail "vx6 $* exited $rc, want 2"
	[ -s "$T/e" ] || fail "vx6 $* exited 2 without a message on stderr"
}
bad frobnicate
bad init
bad init --name BAD_NAME
bad init --name -x
bad init --name abcdefghijklmnop
bad init --name a --bogus
bad status --bogus
bad identity extra
bad node --log-level loud
bad node extra
bad reload now
bad service frob
bad service add --name web
bad service add --name web --target 127.0.0.1:99999
bad service add --name web --target 127.0.0.1
bad service add --name web --target nonsense
bad service remove
bad connect
bad connect --service web
bad connect --service web --listen 127.0.0.1:0
bad connect close
"$VX6_BIN" --home >/dev/null 2>"$T/e"
rc=$?
[ "$rc" = 2 ] && [ -s "$T/e" ] || fail "vx6 --home (no value) exited $rc, want 2 with a message"

say "identity.key others can read"
chmod 0644 "$T/a/identity.key"
"$VX6_BIN" --home "$T/a" node >/dev/null 2>"$T/e" &
pid=$!
wait_pid_exit "$pid" "$(scaled 10)" || { kill -KILL "$pid"; fail "the node started with a world-readable identity.key"; }
[ "$WAIT_RC" != 0 ] || fail "the node exited 0 with a world-readable identity.key"
[ -s "$T/e" ] || fail "the node refused a world-readable identity.key without a message"
sanitizer_check "$T/e" || fail "sanitizer report (see above)"
chmod 0600 "$T/a/identity.key"

say "node, lock, control socket"
umask 000
run_node a
umask 077
PID_A=${NODE_PID[a]}
"$VX6_BIN" --home "$T/a" node >/dev/null 2>"$T/e" &
pid=$!
wait_pid_exit "$pid" "$(scaled 10)" || { kill -KILL "$pid"; fail "a second node on the same home kept running"; }
[ "$WAIT_RC" = 6 ] || fail "a second node on the same home exited $WAIT_RC, want 6: $(cat "$T/e")"
[ -s "$T/e" ] || fail "a second node exited 6 without a message"
sanitizer_check "$T/e" || fail "sanitizer report (see above)"
kill -0 "$PID_A" 2>/dev/null || fail "the first node died when a second one was started"
node_status_ok a || fail "the first node stopped answering after a second one was refused"
[ -S "$T/a/control.sock" ] || fail "control.sock is not a socket"
[ "$(mode_of "$T/a/control.sock")" = 600 ] || fail "control.sock is mode $(mode_of "$T/a/control.sock"), want 600"
[ "$(mode_of "$T/a/identity.key")" = 600 ] || fail "identity.key is mode $(mode_of "$T/a/identity.key") while the node runs"
[ "$(sj a .public_key)" = "$K1" ] || fail "status shows key $(sj a .public_key), want $K1"

say "reload and SIGHUP"
services() { sj a '[.services[].name] | sort | join(",")'; }
P1=$(free_port) P2=$(free_port)
printf '\n[service one]\ntarget = 127.0.0.1:%s\n' "$P1" >>"$T/a/services.ini"
[ "$(services)" = "" ] || fail "the node applied services.ini before reload"
vx a reload >/dev/null 2>"$T/e" || fail "vx6 reload failed: $(cat "$T/e")"
[ "$(services)" = one ] || fail "after vx6 reload the node publishes '$(services)', want 'one'"
printf '\n[service two]\ntarget = [::1]:%s\n' "$P2" >>"$T/a/services.ini"
kill -HUP "$PID_A"
wait_until 10 "SIGHUP applying services.ini" output_is one,two services
kill -0 "$PID_A" 2>/dev/null || fail "SIGHUP killed the node"
cp "$T/a/services.ini" "$T/services.good"
printf '\n[service evil]\ntarget = 10.1.2.3:80\n' >>"$T/a/services.ini"
vx a reload >/dev/null 2>"$T/e"
rc=$?
[ "$rc" = 5 ] || fail "reload of a services.ini with a non-loopback target exited $rc, want 5"
[ -s "$T/e" ] || fail "a refused reload gave no message"
[ "$(services)" = one,two ] || fail "a refused reload changed the running services to '$(services)'"
kill -HUP "$PID_A"
wait_until 10 "the node logging the refused SIGHUP reload" grep -q "reload failed" "$T/a.log"
[ "$(services)" = one,two ] || fail "a refused SIGHUP reload changed the running services"
cp "$T/services.good" "$T/a/services.ini"
vx a reload >/dev/null || fail "reload of the repaired services.ini failed"

say "connect list / close"
start_node b
vx b service add --name web --target "127.0.0.1:$P1" >/dev/null || fail "service add on b failed"
out=$(vx a connect list 2>&1) || fail "connect list failed"
[[ $out == *"no forwards"* ]] || fail "connect list with no forwards printed: $out"
[ "$(vx a connect list --json | jq length)" = 0 ] || fail "connect list --json is not empty"
LP=$(connect_detached a b web)
port_accepts "$LP" || fail "the detached forward's port does not accept"
vx a connect list | grep -q "127.0.0.1:$LP .*web" || fail "connect list does not show 127.0.0.1:$LP"
[ "$(vx a connect list --json | jq -r '.[0].listen')" = "127.0.0.1:$LP" ] || fail "connect list --json does not show the forward"
vx a connect close "127.0.0.1:$LP" >/dev/null 2>"$T/e" || fail "connect close failed: $(cat "$T/e")"
[ "$(vx a connect list --json | jq length)" = 0 ] || fail "the closed forward is still listed"
wait_until 10 "the closed forward's port to stop accepting" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$LP) 2>/dev/null"
vx a connect close "127.0.0.1:$LP" >/dev/null 2>"$T/e"
rc=$?
[ "$rc" != 0 ] || fail "closing an unknown forward exited 0"
[ -s "$T/e" ] || fail "closing an unknown forward gave no message"
# A forward may not listen beyond loopback.
NL=$(free_port)
vx a connect --service web --addr "[::1]:${NODE_PORT[b]}" --listen "0.0.0.0:$NL" --detach >/dev/null 2>"$T/e"
rc=$?
[ "$rc" != 0 ] || fail "a forward listening on 0.0.0.0 was accepted"
port_in_use "$NL" && fail "something listens on 0.0.0.0:$NL after a refused connect"
# A foreground connect keeps its forward until SIGINT.
FL=$(free_port)
"$VX6_BIN" --home "$T/a" connect --service web --addr "[::1]:${NODE_PORT[b]}" --listen "127.0.0.1:$FL" \
	>"$T/fg.out" 2>"$T/fg.err" &
FG=$!
BG_PIDS+=("$FG")
wait_until 20 "the foreground connect's forward" port_accepts "$FL"
vx a connect list | grep -q "127.0.0.1:$FL .*attached" || fail "the foreground forward is not listed as attached"
kill -INT "$FG"
wait_pid_exit "$FG" "$(scaled 10)" || fail "a foreground connect did not end on SIGINT"
[ "$WAIT_RC" = 0 ] || fail "a foreground connect exited $WAIT_RC on SIGINT, want 0"
n_forwards() { vx a connect list --json | jq length; }
wait_until 10 "the foreground forward to close with its command" output_is 0 n_forwards

say "SIGTERM"
stop_node a TERM
[ "${NODE_RC[a]}" = 0 ] || fail "the node exited ${NODE_RC[a]} on SIGTERM, want 0"
[ ! -e "$T/a/control.sock" ] || fail "control.sock is left behind after SIGTERM"
grep -q "stopped" "$T/a.log" || fail "the node did not log that it stopped"
vx a status >/dev/null 2>&1
rc=$?
[ "$rc" = 3 ] || fail "status after SIGTERM exited $rc, want 3"

say "init --force while the node runs"
run_node a
vx a init --name a --listen "[::1]:${NODE_PORT[a]}" --force >/dev/null 2>"$T/e"
rc=$?
K2=$(node_key a)
[ "$rc" = 6 ] || fail "init --force on a home whose node is running exited $rc, want 6 (busy); identity.key is now $K2 while the node still serves $(sj a .public_key)"
[ "$K2" = "$K1" ] || fail "a refused init --force changed identity.key"
pass
