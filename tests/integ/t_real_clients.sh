#!/usr/bin/env bash
# t_real_clients — real servers and their real clients through direct mode.
#
#   ssh ───────► 127.0.0.1:L_SSH   ─┐                  ┌─► sshd        127.0.0.1:P_SSH (own host key, own config)
#   redis-cli ─► 127.0.0.1:L_REDIS ─┼─► [client] ══► [owner] ─┼─► redis-server 127.0.0.1:P_REDIS (no persistence)
#   psql ──────► 127.0.0.1:L_PG    ─┘                  └─► postgres    127.0.0.1:P_PG (initdb in $T)
#
# 1. ssh: a private sshd on a free port with a host key, an authorized key
#    and a config made in $T (UsePAM no, StrictModes no), run as the current
#    user; `ssh ... echo ok` through the forward prints "ok"; a 2 MiB file
#    piped through `ssh cat` comes back byte for byte.
# 2. redis: redis-server on a free port; SET/GET of a 1 MiB value through the
#    forward comes back byte for byte.
# 3. PostgreSQL: initdb in $T (as user nobody via setpriv when running as
#    root) and postgres on a free port; psql SELECTs through the forward give
#    the same answers as psql straight to the server.
# Every binary must be installed (scripts/deps.sh test): a missing one fails
# the test. Postgres alone is skipped (loudly) when running as root and no
# unprivileged user can be used.
. "$(dirname "$0")/lib.sh"
SSHD=/usr/sbin/sshd
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
need jq ss "$PY" ssh ssh-keygen "$SSHD" redis-server redis-cli psql "$PGBIN/initdb" "$PGBIN/postgres" "$PGBIN/pg_ctl"

start_node owner
start_node client

# ---------------------------------------------------------------- ssh
say "sshd"
ME=$(id -un)
mkdir -p "$T/ssh"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host_key" || fail "ssh-keygen (host key) failed"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/id" || fail "ssh-keygen (client key) failed"
cp "$T/ssh/id.pub" "$T/ssh/authorized_keys"
P_SSH=$(free_port)
cat >"$T/ssh/sshd_config" <<EOF
Port $P_SSH
ListenAddress 127.0.0.1
HostKey $T/ssh/host_key
AuthorizedKeysFile $T/ssh/authorized_keys
PidFile $T/ssh/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers $ME
LogLevel VERBOSE
EOF
if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then
	# sshd running as root needs its privilege separation directory (the
	# package's tmpfiles entry makes it at boot; containers often lack it).
	mkdir -p /run/sshd && chmod 0755 /run/sshd || fail "cannot create /run/sshd for sshd"
fi
"$SSHD" -t -f "$T/ssh/sshd_config" 2>"$T/ssh/check.err" || fail "sshd -t rejects the config: $(cat "$T/ssh/check.err")"
bg "$SSHD" -D -e -f "$T/ssh/sshd_config" 2>"$T/ssh/sshd.log"
EXTRA_LOGS+=("$T/ssh/sshd.log")
wait_port "$P_SSH"
vx owner service add --name ssh --target "127.0.0.1:$P_SSH" >/dev/null || fail "service add ssh failed"
L_SSH=$(connect_detached client owner ssh)

SSH_OPTS=(-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes
	-o IdentitiesOnly=yes -o ConnectTimeout="$(scaled 20)" -o LogLevel=ERROR -i "$T/ssh/id")
out=$(timeout "$(scaled 60)" ssh "${SSH_OPTS[@]}" -p "$L_SSH" "$ME@127.0.0.1" echo ok 2>"$T/ssh/client.err")
rc=$?
[ "$rc" = 0 ] || fail "ssh through the forward exited $rc: $(tail -n 3 "$T/ssh/client.err")"
[ "$out" = ok ] || fail "ssh through the forward printed '$out', want 'ok'"
make_random "$T/ssh/blob" 2
timeout "$(scaled 60)" ssh "${SSH_OPTS[@]}" -p "$L_SSH" "$ME@127.0.0.1" cat <"$T/ssh/blob" >"$T/ssh/blob.back" 2>"$T/ssh/client.err" ||
	fail "ssh cat through the forward failed: $(tail -n 3 "$T/ssh/client.err")"
same_sha "$T/ssh/blob" "$T/ssh/blob.back" "2 MiB through ssh cat"
say "ssh ok"

# ---------------------------------------------------------------- redis
say "redis"
P_REDIS=$(free_port)
mkdir -p "$T/redis"
bg redis-server --port "$P_REDIS" --bind 127.0.0.1 --save '' --appendonly no --dir "$T/redis" \
	--protected-mode yes --daemonize no --logfile "$T/redis/redis.log"
EXTRA_LOGS+=("$T/redis/redis.log")
wait_port "$P_REDIS"
wait_until 20 "redis answering PING" bash -c "redis-cli -p $P_REDIS PING | grep -q PONG"
vx owner service add --name redis --target "127.0.0.1:$P_REDIS" >/dev/null || fail "service add redis failed"
L_REDIS=$(connect_detached client owner redis)
# 1 MiB of printable random text (redis-cli -x sends stdin as the last argument).
head -c 786432 /dev/urandom | base64 -w0 >"$T/redis/value"
[ "$(file_size "$T/redis/value")" = 1048576 ] || fail "could not make a 1 MiB value"
r=$(redis-cli -p "$L_REDIS" -x SET big <"$T/redis/value" 2>&1)
[ "$r" = OK ] || fail "redis SET through the forward answered '$r'"
[ "$(redis-cli -p "$L_REDIS" STRLEN big)" = 1048576 ] || fail "redis STRLEN through the forward is wrong"
# --raw prints the value and a newline.
redis-cli -p "$L_REDIS" --raw GET big >"$T/redis/got.raw" || fail "redis GET through the forward failed"
[ "$(file_size "$T/redis/got.raw")" = 1048577 ] || fail "redis GET through the forward returned $(file_size "$T/redis/got.raw") bytes, want 1048576 + newline"
head -c 1048576 "$T/redis/got.raw" >"$T/redis/got"
same_sha "$T/redis/value" "$T/redis/got" "1 MiB redis value"
redis-cli -p "$P_REDIS" --raw GET big >"$T/redis/direct.raw" || fail "redis GET straight to redis failed"
cmp -s "$T/redis/got.raw" "$T/redis/direct.raw" || fail "the value stored in redis (read directly) differs"
say "redis ok"

# ---------------------------------------------------------------- postgres
say "postgres"
PG_USER=$(id -un)
AS=()
if [ "$(id -u)" = 0 ]; then
	if getent passwd nobody >/dev/null && command -v setpriv >/dev/null; then
		PG_USER=nobody
		AS=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --)
		chmod 0755 "$T"   # nobody must reach $T/pg
	else
		PG_USER=
	fi
fi
if [ -z "$PG_USER" ]; then
	echo "########################################################################" >&2
	echo "## $TEST_NAME: SKIPPING POSTGRESQL: running as root without user 'nobody'" >&2
	echo "## or setpriv, and initdb refuses to run as root. ssh and redis passed.  " >&2
	echo "########################################################################" >&2
else
	P_PG=$(free_port)
	mkdir -p "$T/pg"
	[ "$PG_USER" = "$(id -un)" ] || chown "$PG_USER" "$T/pg"
	(cd "$T/pg" && "${AS[@]}" "$PGBIN/initdb" -D "$T/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
		>"$T/pg/initdb.log" 2>&1) || { cat "$T/pg/initdb.log" >&2; fail "initdb failed"; }
	CLEANUP_CMDS+=("cd / && ${AS[*]} $PGBIN/pg_ctl -D $T/pg/data stop -m immediate -w")
	(cd "$T/pg" && "${AS[@]}" "$PGBIN/pg_ctl" -D "$T/pg/data" -l "$T/pg/postgres.log" -w -t "$(scaled 60)" \
		-o "-p $P_PG -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >/dev/null 2>&1) ||
		{ cat "$T/pg/postgres.log" >&2; fail "postgres did not start"; }
	EXTRA_LOGS+=("$T/pg/postgres.log")
	wait_port "$P_PG"
	vx owner service add --name pg --target "127.0.0.1:$P_PG" >/dev/null || fail "service add pg failed"
	L_PG=$(connect_detached client owner pg)
	Q="SELECT 6 * 7, md5(string_agg(i::text, ',')), length(repeat('x', 1000000)) FROM generate_series(1, 100000) i"
	direct=$(psql -X -A -t -h 127.0.0.1 -p "$P_PG" -U postgres -d postgres -c "$Q" 2>&1) || fail "psql straight to postgres failed: $direct"
	via=$(PGCONNECT_TIMEOUT=$(scaled 20) timeout "$(scaled 60)" psql -X -A -t -h 127.0.0.1 -p "$L_PG" -U postgres -d postgres -c "$Q" 2>&1) ||
		fail "psql through the forward failed: $via"
	[[ $direct == 42\|* ]] || fail "unexpected answer from postgres: $direct"
	[ "$via" = "$direct" ] || fail "psql through the forward answered '$via', directly '$direct'"
	big=$(psql -X -A -t -h 127.0.0.1 -p "$L_PG" -U postgres -d postgres -c "SELECT md5(repeat(md5(random()::text), 1))" 2>&1) ||
		fail "a second psql session through the forward failed: $big"
	say "postgres ok"
fi

wait_quiet 20 client owner
pass
