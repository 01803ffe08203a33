# shellcheck shell=bash disable=SC2034,SC2154
# bench/lib.sh — shell helpers shared by the loopback benchmarks (bench/run.sh,
# relay.sh, quic.sh, named.sh, sim.sh). Each sources it first thing, before its `cd`:
#
#     . "$(dirname "$0")/lib.sh"
#
# It only defines functions: it starts nothing, sets no trap and reads no
# environment. The functions use these globals of the script, set before the
# first call:
#   ME         message prefix ("bench", "bench-relay", ...)
#   V, B       the vx6 binary; the vx6bench load tool (bench/vx6bench.c)
#   T          the temp dir; vx6 node NAME has its home in $T/NAME and its
#              log in $T/NAME.log
#   PIDS       long-lived processes started here (roots of process trees)
#   NPID       vx6 node name -> pid (optional; relay.sh, named.sh)
#   LOGS_HINT  where the logs are, added to wait_listening's error (optional)
#
# Provides:
#   log, die                 messages (die names the vx6 nodes in NPID that died)
#   parse_bytes, need_positive, exit_if_missing, find_sshd   arguments, prerequisites
#   build_vx6bench           compiles $B when missing or older than its source
#   port, is_listening, wait_listening                       TCP ports
#   descendants, ticks, machine_busy, hwm_kib                CPU and memory from /proc
#   kill_trees, reap_nodes, drop_tmp                         pieces of the EXIT trap
#   vx6, sj, wait_node       vx6 nodes by name
#   start_servers            the bulk source and echo server (vx6bench)
#   start_sshd               a private sshd on 127.0.0.1 and the ssh options for it
#   fmt, ratio, median, spread, table                        numbers and tables
#   describe_run             CPU_MODEL, COMMIT and VX6_VERSION for the report
# (SC2034/SC2154 are off: the globals above are shared with the script.)

log() { printf '[%s %s] %s\n' "$ME" "$(date +%H:%M:%S)" "$*" >&2; }

die() {
	local n
	echo "$ME: $*" >&2
	for n in "${!NPID[@]}"; do
		kill -0 "${NPID[$n]}" 2>/dev/null ||
			echo "$ME: vx6 node $n is no longer running; its log ends: $(tail -n 3 "$T/$n.log" 2>/dev/null)" >&2
	done
	exit 1
}

# parse_bytes NAME VALUE: BYTES = VALUE (a number with an optional K, M or G
# suffix); NAME is the environment variable it came from, for the error.
parse_bytes() {
	case $2 in
	*[Gg]) BYTES=$(( ${2%?} * 1024 * 1024 * 1024 )) ;;
	*[Mm]) BYTES=$(( ${2%?} * 1024 * 1024 )) ;;
	*[Kk]) BYTES=$(( ${2%?} * 1024 )) ;;
	*[0-9]) BYTES=$2 ;;
	*) die "$1=$2: use a number with an optional K, M or G suffix" ;;
	esac
	[ "$BYTES" -gt 0 ] || die "$1 must be positive"
}

# need_positive VAR...: each named variable holds a positive whole number.
need_positive() {
	local v
	for v in "$@"; do
		[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: must be a positive number"
	done
}

# exit_if_missing HOW_MANY: when the script's missing[] lists programs, print
# them and exit 1 (scripts/deps.sh bench installs HOW_MANY: "them", "most of them").
exit_if_missing() {
	[ ${#missing[@]} -gt 0 ] || return 0
	echo "$ME: missing required programs (scripts/deps.sh bench installs $1):" >&2
	printf '  - %s\n' "${missing[@]}" >&2
	exit 1
}

# find_sshd: SSHD = the sshd program (often not on a user's PATH), or empty.
find_sshd() {
	SSHD=$(command -v sshd || true)
	[ -n "$SSHD" ] || { [ -x /usr/sbin/sshd ] && SSHD=/usr/sbin/sshd; } || true
}

# build_vx6bench: compile the load tool to $B when it is missing or older than
# bench/vx6bench.c or bench/benchnet.h (run from the repository root).
build_vx6bench() {
	if [ ! -x "$B" ] || [ bench/vx6bench.c -nt "$B" ] || [ bench/benchnet.h -nt "$B" ]; then
		mkdir -p "$(dirname "$B")"
		cc -O2 -g -Wall -Wextra -pthread -o "$B" bench/vx6bench.c || die "cannot compile bench/vx6bench.c"
	fi
}

port() { "$B" freeport; }

# is_listening PORT: a TCP listener on PORT (any address).
is_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6
}

wait_listening() {   # wait_listening PORT WHAT
	for _ in $(seq 200); do is_listening "$1" && return 0; sleep 0.025; done
	die "nothing listens on port $1 ($2)${LOGS_HINT:+; logs in $LOGS_HINT}"
}

# descendants ROOT...: the roots and every descendant process, one per line.
descendants() {
	ps -e -o pid=,ppid= | awk -v roots="$*" '
		BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
		{ par[$1] = $2 }
		END {
			do { changed = 0
				for (p in par) if (!(p in keep) && (par[p] in keep)) { keep[p] = 1; changed = 1 }
			} while (changed)
			for (p in keep) print p
		}'
}

# ticks ROOT...: utime+stime+cutime+cstime summed over the process trees.
ticks() {
	local t=0 p s f
	for p in $(descendants "$@"); do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		read -r -a f <<<"$s"
		t=$(( t + f[11] + f[12] + f[13] + f[14] ))
	done
	echo "$t"
}

# machine_busy: busy ticks of the whole machine (all CPUs) from /proc/stat.
machine_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# kill_trees: SIGTERM the PIDS (newest first), then once every descendant
# that is not itself in PIDS (a second SIGTERM makes a vx6 node stop without
# closing its sessions and circuits); up to 5 s for all to end, then SIGKILL.
kill_trees() {
	local all p i alive
	all=$(descendants "${PIDS[@]}")
	for (( i = ${#PIDS[@]} - 1; i >= 0; i-- )); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
	for p in $all; do
		case " ${PIDS[*]} " in *" $p "*) ;; *) kill -TERM "$p" 2>/dev/null || true ;; esac
	done
	for _ in $(seq 100); do
		alive=0
		for p in $all; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.05
	done
	for p in $all; do kill -KILL "$p" 2>/dev/null || true; done
}

# reap_nodes: wait for every vx6 node in NPID (after they were told to stop,
# before a bare `wait`, which would lose their statuses). A node must exit 0
# on SIGTERM: CRASHED lists " NAME (exit status N[, signal S])" for the others.
reap_nodes() {
	local n st
	CRASHED=""
	for n in "${!NPID[@]}"; do
		st=0; wait "${NPID[$n]}" 2>/dev/null || st=$?
		[ "$st" = 0 ] || CRASHED+=" $n (exit status $st$( [ "$st" -gt 128 ] && echo ", signal $((st - 128))"))"
	done
}

# drop_tmp: remove $T, or keep it (and say where) with BENCH_KEEP=1.
drop_tmp() {
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "$ME: kept $T" >&2
	else
		rm -rf "$T"
	fi
}

vx6() { "$V" --home "$T/$1" "${@:2}"; }   # vx6 NODE ARG...
sj() { vx6 "$1" status --json 2>/dev/null | jq -r "$2"; }   # sj NODE JQ_FILTER

wait_node() {   # wait_node NODE: its control socket answers
	for _ in $(seq 400); do vx6 "$1" status >/dev/null 2>&1 && return 0; sleep 0.025; done
	die "vx6 node $1 did not start: $(tail -n 20 "$T/$1.log")"
}

# start_servers: vx6bench's bulk source (BYTES per connection) on P_SRC and
# echo server on P_ECHO (pids PID_SRC, PID_ECHOSRV), both answering.
start_servers() {
	P_SRC=$(port); P_ECHO=$(port)
	"$B" source "$P_SRC" "$BYTES" >"$T/source.out" 2>&1 &
	PID_SRC=$!; PIDS+=("$PID_SRC")
	"$B" echo "$P_ECHO" >"$T/echo.out" 2>&1 &
	PID_ECHOSRV=$!; PIDS+=("$PID_ECHOSRV")
	wait_listening "$P_SRC" "bulk source"
	"$B" wait "$P_ECHO" 5000 || die "echo server does not answer"
}

# start_sshd CIPHERS: a private sshd ($SSHD) on 127.0.0.1:P_SSHD (pid
# PID_SSHD) with fresh host and user keys in $T/ssh; SSH_OPTS and SSH_DEST
# for `ssh "${SSH_OPTS[@]}" ... "$SSH_DEST"` to reach it as this user.
start_sshd() {
	P_SSHD=$(port)
	mkdir -m 700 "$T/ssh"
	ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host_key" -C bench-host
	ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/id" -C bench-user
	cp "$T/ssh/id.pub" "$T/ssh/authorized_keys"
	cat >"$T/ssh/sshd_config" <<EOF
Port $P_SSHD
ListenAddress 127.0.0.1
HostKey $T/ssh/host_key
AuthorizedKeysFile $T/ssh/authorized_keys
PidFile none
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
UseDNS no
Compression no
Ciphers $1
MaxStartups 100:30:200
LogLevel ERROR
EOF
	if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then
		mkdir -p -m 0755 /run/sshd   # sshd's privilege-separation directory, as the package creates it
	fi
	"$SSHD" -D -e -f "$T/ssh/sshd_config" 2>"$T/sshd.log" &
	PID_SSHD=$!; PIDS+=("$PID_SSHD")
	wait_listening "$P_SSHD" "sshd (log: $(cat "$T/sshd.log" 2>/dev/null))"

	SSH_OPTS=(-F /dev/null -N -p "$P_SSHD" -i "$T/ssh/id" -o IdentitiesOnly=yes -o BatchMode=yes
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null
		-o Compression=no -o ExitOnForwardFailure=yes -o LogLevel=ERROR -o ControlMaster=no)
	SSH_DEST=$(id -un)@127.0.0.1
}

fmt() { awk -v x="$1" -v d="${2:-1}" 'BEGIN { if (x == "" || x == "-") print "-"; else printf "%.*f", d, x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
# median, spread [DECIMALS]: of the space-separated numbers on stdin ("-" for none).
median() { tr ' ' '\n' | awk NF | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { tr ' ' '\n' | awk NF | sort -n | awk -v d="${1:-0}" 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR == 0) print "-"; else printf "%.*f-%.*f", d, lo, d, hi }'; }
# table: '|'-separated lines in, aligned columns out (first column left-aligned).
table() {
	awk -F'|' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
		if (NF > nf) nf = NF; n = NR }
		END { for (r = 1; r <= n; r++) { line = ""
			for (i = 1; i <= nf; i++) line = line sprintf(i == 1 ? "%-*s" : "  %*s", w[i], c[r, i])
			print line } }'
}

# describe_run: CPU_MODEL; COMMIT (of $ROOT, marked when src/ has changes);
# VX6_VERSION (what $V says).
describe_run() {
	CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || COMMIT="$COMMIT (src/ modified)"
	VX6_VERSION=$("$V" --version 2>&1 | head -n1)
}
