#!/usr/bin/env bash
# bench/quic-loss.sh — VX6 over QUIC against VX6 over TCP on a lossy path
# with ~20 ms RTT, between two hosts (network namespaces). A BENCHMARK, not a
# test: it never fails on a slow number, only when something does not work.
# Needs root (network namespaces, nftables, ip6tables); without root it prints
# "SKIPPED: ..." on stdout and stderr and exits 0.
#
#          namespace vx6ns-<PID>-br: bridge br0
#            ┌─────────────┬─────────────┐
#         ┌──┴───┐      ┌──┴───┐
#         │owner │      │client│     eth0 (nodad, gso_max_segs 1), lo up
#         └──────┘      └──────┘     vx6 node on [::]:4242
#       fd42:R:S::1   fd42:R:S::2
#   delay: in each host, `ip6tables -A INPUT -s <other host> -j NFQUEUE`
#          and tests/helpers/nfq_delay holding every packet BENCH_DELAY_MS
#          (10) before accepting it: RTT + 2 x 10 ms (checked with ping -U).
#          On the RECEIVING side on purpose: a packet held in the sender's
#          OUTPUT hook is still charged to its socket, so TCP Small Queues
#          (TCP) and the socket send buffer (UDP) throttle the sender to a
#          few packets per delay (measured here: TCP 0.3 MiB/s, UDP 9 MiB/s
#          at 10 ms); a packet that crossed the veth is no longer the
#          sender's (TCP 42 MiB/s, UDP 93 MiB/s on the same path).
#   loss:  on the owner's bridge port (nftables, bridge family, both ways,
#          TCP and UDP only) `numgen random mod 100 < L drop`, as in
#          tests/netns/t_transport_loss.sh
#   app:   on the owner, 127.0.0.1:7000 (Python, one process per
#          connection): "bulk\n" -> an endless byte stream; "echo\n" -> echo
#   client: `vx6 connect --service app --addr '[owner]:4242'` (one forward)
#
# For each loss L in BENCH_LOSSES (0 1 5 %) and each transport (tcp, quic;
# both nodes restarted with `transport = ...`, so every cell starts with a
# fresh session and no TCP metrics cache):
#   (a) bulk alone: one download through the forward for BENCH_BULK_S (5) s,
#       MiB/s from the first byte
#   (b) small streams under load: a bulk download runs through the same
#       forward; once it has delivered 1 MiB, one echo connection (a stream
#       of its own) does one untimed exchange, then BENCH_ECHOES (100)
#       sequential 16-byte echoes, each timed (at most BENCH_ECHO_BUDGET_S
#       (30) s in all: fewer samples are reported as such); p50/p99 are
#       nearest-rank percentiles
#   (c) as (b), but the bulk download is read at BENCH_CAP_MIBPS (0.25)
#       MiB/s (started after ~1 s of it): the same offered load over both
#       transports. (b) alone can flatter the slower transport: a download
#       that crawls fills no queue, so its echoes wait behind less data.
# Printed: one table with QUIC/TCP ratios and the issue's target
#   "under 5% loss, p99 of small streams at least 2x better over QUIC than TCP"
#   (QUIC p99 <= 0.5 x TCP p99 at the highest loss measured, normally 5 %).
# Written: BENCH_OUT/quic-loss-results.txt and quic-loss-results.md.
#
# Environment (defaults in brackets):
#   VX6_BIN              the vx6 binary [build/vx6]
#   VX6_NFQ_DELAY_BIN    the delayer [build/tests/nfq_delay (built by CMake
#                        when libnetfilter_queue is found), else compiled from
#                        tests/helpers/nfq_delay.c into BENCH_OUT]
#   BENCH_OUT            where the result files go [build/bench]
#   BENCH_DELAY_MS       one-way delay added in each direction [10]; 0 runs
#                        without a delayer
#   BENCH_LOSSES         loss percentages (integers) [0 1 5]
#   BENCH_BULK_S         seconds of the bulk-alone download [5]
#   BENCH_ECHOES         timed echoes per cell [100]
#   BENCH_ECHO_BUDGET_S  time limit of each echo phase per cell [30]
#   BENCH_CAP_MIBPS      read rate of the download in (c) [0.25]; 0: no (c)
#   VX6_KEEP=1           keep the temp dir (logs, configs)
#
# Takes about 2-3 minutes on a 2-core machine. Requires (scripts/deps.sh
# test): ip (iproute2), nft (nftables), ip6tables (iptables), ping
# (iputils-ping), jq, python3, libnetfilter-queue-dev + cc (for nfq_delay).
set -u -o pipefail

if [ "$(id -u)" != 0 ]; then
	echo "SKIPPED: quic-loss: needs root (network namespaces, nftables, ip6tables); run as root"
	echo "SKIPPED: quic-loss: needs root (network namespaces, nftables, ip6tables); run as root" >&2
	exit 0
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export VX6_BIN=${VX6_BIN:-$ROOT/build/vx6}
export VX6_TESTS_DIR=$ROOT/tests
OUTDIR=${BENCH_OUT:-$ROOT/build/bench}
DELAY_MS=${BENCH_DELAY_MS:-10}
LOSSES=${BENCH_LOSSES:-0 1 5}
BULK_S=${BENCH_BULK_S:-5}
N_ECHO=${BENCH_ECHOES:-100}
ECHO_BUDGET_S=${BENCH_ECHO_BUDGET_S:-30}
CAP=${BENCH_CAP_MIBPS:-0.25}
[[ $CAP =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "quic-loss: BENCH_CAP_MIBPS=$CAP: must be a number" >&2; exit 2; }
awk -v c="$CAP" 'BEGIN { exit !(c == 0) }' && CAP=0
for v in DELAY_MS BULK_S N_ECHO ECHO_BUDGET_S; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "quic-loss: $v=${!v}: must be a whole number" >&2; exit 2; }
done
for l in $LOSSES; do
	{ [[ $l =~ ^[0-9]+$ ]] && [ "$l" -lt 100 ]; } || { echo "quic-loss: BENCH_LOSSES: '$l' is not a percentage 0-99" >&2; exit 2; }
done
[ -x "$VX6_BIN" ] || { echo "quic-loss: VX6_BIN=$VX6_BIN is not an executable (make build, or set VX6_BIN)" >&2; exit 1; }

# The delayer: given, or CMake's, or compiled here.
NFQ=${VX6_NFQ_DELAY_BIN:-}
if [ "$DELAY_MS" -gt 0 ] && [ -z "$NFQ" ]; then
	if [ -x "$ROOT/build/tests/nfq_delay" ] && [ "$ROOT/build/tests/nfq_delay" -nt "$ROOT/tests/helpers/nfq_delay.c" ]; then
		NFQ=$ROOT/build/tests/nfq_delay
	else
		NFQ=$OUTDIR/nfq_delay
		if [ ! -x "$NFQ" ] || [ "$ROOT/tests/helpers/nfq_delay.c" -nt "$NFQ" ]; then
			pkg-config --exists libnetfilter_queue 2>/dev/null ||
				{ echo "quic-loss: libnetfilter_queue not found (scripts/deps.sh test installs libnetfilter-queue-dev), or set VX6_NFQ_DELAY_BIN, or BENCH_DELAY_MS=0" >&2; exit 1; }
			mkdir -p "$OUTDIR"
			# shellcheck disable=SC2046 # pkg-config output is split on purpose
			cc -O2 -Wall -Wextra -o "$NFQ" "$ROOT/tests/helpers/nfq_delay.c" $(pkg-config --cflags --libs libnetfilter_queue) ||
				{ echo "quic-loss: cannot compile tests/helpers/nfq_delay.c" >&2; exit 1; }
		fi
	fi
fi
[ "$DELAY_MS" = 0 ] || [ -x "$NFQ" ] || { echo "quic-loss: VX6_NFQ_DELAY_BIN=$NFQ is not an executable" >&2; exit 1; }

# The namespace helpers of the netns tests (skip without ip netns / veth /
# bridge; EXIT trap that stops every node and helper, kills what is left in
# our namespaces by PID and deletes them).
# shellcheck source=/dev/null
. "$ROOT/tests/netns/lib.sh"
need jq nft ping timeout "$PY"
IPT=
if [ "$DELAY_MS" -gt 0 ]; then
	for c in ip6tables ip6tables-nft ip6tables-legacy; do
		command -v "$c" >/dev/null 2>&1 && { IPT=$c; break; }
	done
	[ -n "$IPT" ] || fail "ip6tables is missing (Debian package iptables; scripts/deps.sh test)"
fi
mkdir -p "$OUTDIR" || fail "cannot create $OUTDIR"

R=$(printf '%x:%x' $((RANDOM | 0x1000)) $(($$ & 0xffff | 0x1000)))
OWNER_IP=fd42:$R::1
CLIENT_IP=fd42:$R::2
APP=7000
QNUM=17
NFQ_PID=()

say "namespaces $NS_PREFIX-{br,owner,client}, owner $OWNER_IP, client $CLIENT_IP; delay ${DELAY_MS} ms each way, losses: $LOSSES %"
ns_bridge
ns_host owner "$OWNER_IP/64"
ns_host client "$CLIENT_IP/64"
for h in owner client; do
	# One "packet" is one wire packet (see t_transport_loss.sh); no cached
	# TCP metrics (ssthresh) from one cell to the next.
	ip -n "$(ns_name "$h")" link set dev eth0 gso_max_segs 1 gso_max_size 1500 ||
		fail "cannot limit GSO on $h's eth0"
	nsx "$h" sysctl -qw net.ipv4.tcp_no_metrics_save=1 || fail "sysctl tcp_no_metrics_save in $h"
done

# ---- delay: one nfq_delay per host namespace (NFQUEUE is per namespace)
if [ "$DELAY_MS" -gt 0 ]; then
	declare -A PEER=([owner]=$CLIENT_IP [client]=$OWNER_IP)
	for h in owner client; do
		rm -f "$T/nfq-$h.ready"
		bg ip netns exec "$(ns_name "$h")" "$NFQ" -q "$QNUM" -d "$DELAY_MS" -r "$T/nfq-$h.ready" 2>"$T/nfq-$h.log"
		EXTRA_LOGS+=("$T/nfq-$h.log")
		NFQ_PID[${#NFQ_PID[@]}]=$BG_PID
		wait_until 10 "nfq_delay in $h" test -e "$T/nfq-$h.ready"
		nsx "$h" "$IPT" -A INPUT -s "${PEER[$h]}" -j NFQUEUE --queue-num "$QNUM" ||
			fail "$IPT -j NFQUEUE does not work in $h (xt NFQUEUE target missing?)"
	done
fi
# RTT check (ICMPv6 goes through the delay too). -U: user-to-user times;
# ping's default uses the kernel's receive timestamp, taken before the
# INPUT hook, and would miss the delay of the replies.
rtt=$(nsx client ping -U -6 -c 10 -i 0.1 -q "$OWNER_IP" 2>&1 | awk -F'[/ =]+' '/^rtt|^round-trip/ { print $6, $7, $8 }')
[ -n "$rtt" ] || fail "ping from client to owner failed"
read -r RTT_MIN RTT_AVG RTT_MAX <<<"$rtt"
say "ping client -> owner: rtt min/avg/max $RTT_MIN/$RTT_AVG/$RTT_MAX ms (want ~$((2 * DELAY_MS)) ms)"
awk -v a="$RTT_AVG" -v d="$DELAY_MS" 'BEGIN { exit !(a >= 1.8 * d && a <= 2 * d + 5) }' ||
	say "WARNING: the measured RTT $RTT_AVG ms is not ~$((2 * DELAY_MS)) ms"

# ---- loss on the owner's bridge port, both ways (0 %: counters only)
set_loss() {
	local l=$1 drops=""
	ip netns exec "$NS_BR" nft delete table bridge vx6loss 2>/dev/null
	if [ "$l" -gt 0 ]; then
		drops="iifname \"owner\" meta l4proto { tcp, udp } numgen random mod 100 < $l counter drop
		oifname \"owner\" meta l4proto { tcp, udp } numgen random mod 100 < $l counter drop"
	fi
	ip netns exec "$NS_BR" nft -f - <<EOF || fail "nft: cannot install the loss rules ($l %)"
table bridge vx6loss {
	chain lossy {
		type filter hook forward priority 0; policy accept;
		iifname "owner" meta l4proto { tcp, udp } counter
		oifname "owner" meta l4proto { tcp, udp } counter
		$drops
	}
}
EOF
}
# nft_counts: "PACKETS DROPPED" since set_loss.
nft_counts() {
	ip netns exec "$NS_BR" nft list table bridge vx6loss 2>/dev/null |
		awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") c[++k] = $(i + 1) }
			END { print c[1] + c[2], c[3] + c[4] }'
}

# ---- the application (owner) and the measuring client (client)
cat >"$T/app.py" <<'EOF'
import socket, socketserver, sys
BUF = bytes(range(256)) * 4096            # 1 MiB
class H(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        mode = f.readline().strip()
        try:
            if mode == b"bulk":
                while True:
                    s.sendall(BUF)
            elif mode == b"echo":
                while True:
                    b = f.read1(65536)
                    if not b:
                        break
                    s.sendall(b)
        except OSError:
            pass
class S(socketserver.ForkingTCPServer):   # a process per connection: no GIL shared
    allow_reuse_address = True
    request_queue_size = 64
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
cat >"$T/measure.py" <<'EOF'
# measure.py bulk PORT SECONDS [STARTED_FILE STOP_FILE]
#   reads a bulk stream for SECONDS from the first byte (or until STOP_FILE
#   exists); creates STARTED_FILE after 1 MiB; prints JSON {bytes, s, mibps}
# measure.py echo PORT N BUDGET_S
#   one untimed exchange, then N timed 16-byte echoes (stops at BUDGET_S);
#   prints JSON {n, p50, p99, max, mean} (ms, nearest-rank percentiles)
import json, math, os, socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=60)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
if mode == "bulk":
    secs = float(sys.argv[3])
    started = sys.argv[4] if len(sys.argv) > 4 else None
    stop = sys.argv[5] if len(sys.argv) > 5 else None
    cap = float(sys.argv[6]) * 1048576 if len(sys.argv) > 6 else 0.0   # bytes/s, 0: none
    s.sendall(b"bulk\n")
    buf = bytearray(1 << 14 if cap else 1 << 18)
    mark = min(1 << 20, max(1 << 16, int(cap))) if cap else 1 << 20   # "started" after ~1 s
    got, t0, t, k = 0, None, 0.0, 0
    while True:
        n = s.recv_into(buf)
        if not n:
            break
        now = time.monotonic()
        if t0 is None:
            t0 = now
        got += n
        t = now - t0
        if started and got >= mark:
            open(started, "w").close()
            started = None
        k += 1
        if t >= secs or (stop and (cap or k % 16 == 0) and os.path.exists(stop)):
            break
        if cap and got > cap * t:             # read no faster than cap
            time.sleep(min(0.05, got / cap - t))
    s.close()
    print(json.dumps({"bytes": got, "s": t, "mibps": got / 1048576 / t if t > 0 else 0}))
else:
    n, budget = int(sys.argv[3]), float(sys.argv[4])
    s.sendall(b"echo\n")
    def once():
        msg = os.urandom(8).hex().encode()    # 16 bytes
        t = time.monotonic()
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            b = s.recv(len(msg) - len(got))
            if not b:
                raise SystemExit("echo connection ended")
            got += b
        if got != msg:
            raise SystemExit("echo reply differs from the request")
        return (time.monotonic() - t) * 1000
    once()                                   # stream set up, untimed
    lat, t_end = [], time.monotonic() + budget
    for _ in range(n):
        lat.append(once())
        if time.monotonic() > t_end:
            break
    s.close()
    lat.sort()
    q = lambda p: lat[max(0, math.ceil(p * len(lat)) - 1)]
    print(json.dumps({"n": len(lat), "p50": q(0.50), "p99": q(0.99), "max": lat[-1],
                      "mean": sum(lat) / len(lat)}))
EOF
bg ip netns exec "$(ns_name owner)" "$PY" "$T/app.py" "$APP" >"$T/app.log" 2>&1
EXTRA_LOGS+=("$T/app.log")
wait_until 20 "the app server in owner" ns_port_accepts owner "$APP"

# under_load TR L PORT TAG CAP: a bulk download through the forward (read
# as fast as it comes, or at CAP MiB/s), and once it runs, the echoes;
# sets ECHO[TAG,TR,L] and BULKLOAD[TAG,TR,L] (JSON).
under_load() {
	local tr=$1 l=$2 lp=$3 tag=$4 cap=$5 bulk_pid f=$T/$4-$1-$2
	rm -f "$T/started" "$T/stop"
	nsx client timeout $((ECHO_BUDGET_S + 120)) "$PY" "$T/measure.py" bulk "$lp" $((ECHO_BUDGET_S + 90)) "$T/started" "$T/stop" "$cap" \
		>"$f.bulk.out" 2>"$f.bulk.err" &
	bulk_pid=$!
	wait_until 60 "$tr $l% $tag: the background download running" test -e "$T/started"
	ECHO[$tag,$tr,$l]=$(nsx client timeout $((ECHO_BUDGET_S + 60)) "$PY" "$T/measure.py" echo "$lp" "$N_ECHO" "$ECHO_BUDGET_S" 2>"$f.echo.err") ||
		fail "$tr $l% $tag: the echo client failed: $(head -c 400 "$f.echo.err")"
	: >"$T/stop"
	wait "$bulk_pid" || fail "$tr $l% $tag: the background download failed: $(head -c 400 "$f.bulk.err")"
	BULKLOAD[$tag,$tr,$l]=$(cat "$f.bulk.out")
	say "$tr, loss $l %, $tag load: $(jq -r '"\(.n) echoes p50 \(.p50*10|round/10) ms p99 \(.p99*10|round/10) ms max \(.max*10|round/10) ms"' <<<"${ECHO[$tag,$tr,$l]}"), bulk $(jq -r '.mibps*100|round/100' <<<"${BULKLOAD[$tag,$tr,$l]}") MiB/s"
}

# ---- one cell: transport TR, loss L
declare -A BULK=() ECHO=() BULKLOAD=() DROPS=()
cell() {
	local tr=$1 l=$2 h out lp sess p0 d0 p1 d1 t0
	ns_run_with_transport "$tr" owner client
	vx owner service list 2>/dev/null | grep -qw app ||
		vx owner service add --name app --target "127.0.0.1:$APP" >/dev/null || fail "service add app on owner failed"
	set_loss "$l"
	out=$(timeout 60 "$VX6_BIN" --home "$T/client" connect --service app --addr "[$OWNER_IP]:$NS_PORT" \
		--listen 127.0.0.1:0 --detach --json 2>"$T/connect.err") ||
		fail "$tr $l%: connect --service app on client failed: $(head -c 400 "$T/connect.err") $out"
	lp=$(jq -r .listen <<<"$out" | sed 's/.*://')
	read -r p0 d0 < <(nft_counts)
	t0=$(now_ms)

	# (a) bulk alone
	BULK[$tr,$l]=$(nsx client timeout $((BULK_S + 60)) "$PY" "$T/measure.py" bulk "$lp" "$BULK_S" 2>"$T/bulk-$tr-$l.err") ||
		fail "$tr $l%: the bulk download failed: $(head -c 400 "$T/bulk-$tr-$l.err")"
	# (b) echoes while a bulk download runs on the same forward, as fast
	# as it goes; (c) the same with the download read at CAP MiB/s
	under_load "$tr" "$l" "$lp" full 0
	[ "$CAP" = 0 ] || under_load "$tr" "$l" "$lp" cap "$CAP"
	read -r p1 d1 < <(nft_counts)
	DROPS[$tr,$l]="$((d1 - d0)) $((p1 - p0))"

	# The session really was of this transport and carried the streams.
	sess=$(sj client "[.sessions[] | select(.remote | contains(\"[$OWNER_IP]:$NS_PORT\")) | select(.state == \"established\")]")
	[ "$(jq -r 'length' <<<"$sess")" = 1 ] || fail "$tr $l%: not exactly one established session to the owner: $(jq -c . <<<"$sess")"
	[ "$(jq -r '.[0].transport' <<<"$sess")" = "$tr" ] || fail "$tr $l%: the session is $(jq -r '.[0].transport' <<<"$sess"), want $tr"
	say "$tr, loss $l %: bulk alone $(jq -r '.mibps*10|round/10' <<<"${BULK[$tr,$l]}") MiB/s; dropped ${DROPS[$tr,$l]% *} of ${DROPS[$tr,$l]#* } packets [$(( $(now_ms) - t0 )) ms]"
	vx client connect close "127.0.0.1:$lp" >/dev/null 2>>"$T/client.cli.err" || fail "$tr $l%: connect close failed"
	for h in client owner; do
		stop_node "$h"
		[ "${NODE_RC[$h]}" = 0 ] || fail "$tr $l%: node $h exited with ${NODE_RC[$h]} on SIGTERM"
	done
}

# shellcheck disable=SC2086 # the list is split on purpose
for l in $LOSSES; do
	for tr in tcp quic; do
		cell "$tr" "$l"
	done
done

# The delayers: stopped here to read their statistics (overflow = packets
# that went through undelayed because MAX were held).
NFQ_STATS=""
if [ "$DELAY_MS" -gt 0 ]; then
	for pid in "${NFQ_PID[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${NFQ_PID[@]}"; do wait "$pid" 2>/dev/null || fail "nfq_delay (pid $pid) exited with $?"; done
	for h in owner client; do
		NFQ_STATS+="  nfq_delay $h: $(grep 'exit:' "$T/nfq-$h.log" | sed 's/^nfq_delay: exit: //')"$'\n'
	done
fi

# ---- the table
fmt() { awk -v x="$1" 'BEGIN { if (x == "" || x == "null") print "-"; else printf "%.1f", x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
LMAX=0
for l in $LOSSES; do [ "$l" -gt "$LMAX" ] && LMAX=$l; done
# echo_rows TAG: one row per loss of the echo table for that load.
echo_rows() {
	local tag=$1 l nt t50 t99 tmx nq q50 q99 qmx
	for l in $LOSSES; do
		read -r nt t50 t99 tmx < <(jq -r '"\(.n) \(.p50) \(.p99) \(.max)"' <<<"${ECHO[$tag,tcp,$l]}")
		read -r nq q50 q99 qmx < <(jq -r '"\(.n) \(.p50) \(.p99) \(.max)"' <<<"${ECHO[$tag,quic,$l]}")
		printf '%-5s | %4s %6s %6s %7s | %4s %6s %6s %7s | %6s %6s | %6s %6s %7s\n' "$l %" \
			"$nt" "$(fmt "$t50")" "$(fmt "$t99")" "$(fmt "$tmx")" \
			"$nq" "$(fmt "$q50")" "$(fmt "$q99")" "$(fmt "$qmx")" \
			"$(ratio "$q50" "$t50")" "$(ratio "$q99" "$t99")" \
			"$(fmt2 "$(jq -r .mibps <<<"${BULKLOAD[$tag,tcp,$l]}")")" "$(fmt2 "$(jq -r .mibps <<<"${BULKLOAD[$tag,quic,$l]}")")" \
			"$(ratio "$t99" "$q99")"
	done
}
echo_head() {
	printf '%-5s | %-27s | %-27s | %-13s | %-14s %s\n' "" "TCP echo (ms)" "QUIC echo (ms)" "QUIC/TCP" "bulk MiB/s" "p99"
	printf '%-5s | %4s %6s %6s %7s | %4s %6s %6s %7s | %6s %6s | %6s %6s %7s\n' loss n p50 p99 max n p50 p99 max p50 p99 TCP QUIC "TCP/Q"
}
fmt2() { awk -v x="$1" 'BEGIN { if (x == "" || x == "null") print "-"; else printf "%.2f", x }'; }
{
	echo "bench/quic-loss.sh — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($CPU), kernel $(uname -r)"
	echo "vx6: $VX6_BIN; added delay ${DELAY_MS} ms each way (ping -U rtt min/avg/max $RTT_MIN/$RTT_AVG/$RTT_MAX ms); loss on the owner's bridge port, both ways"
	echo
	echo "(a) bulk alone: one download through the forward, ${BULK_S} s, MiB/s"
	printf '%-5s | %6s %6s %9s\n' loss TCP QUIC "QUIC/TCP"
	for l in $LOSSES; do
		bt=$(jq -r .mibps <<<"${BULK[tcp,$l]}") bq=$(jq -r .mibps <<<"${BULK[quic,$l]}")
		printf '%-5s | %6s %6s %9s\n' "$l %" "$(fmt "$bt")" "$(fmt "$bq")" "$(ratio "$bq" "$bt")"
	done
	echo
	echo "(b) $N_ECHO sequential 16-byte echoes on one stream while a bulk download runs on the same forward (read as fast as it comes)"
	echo_head
	echo_rows full
	if [ "$CAP" != 0 ]; then
		echo
		echo "(c) the same with the bulk download read at $CAP MiB/s (the same offered load over both transports)"
		echo_head
		echo_rows cap
	fi
	echo
	echo "packets dropped / seen at the owner's port (whole cell):"
	for l in $LOSSES; do
		for tr in tcp quic; do
			d=${DROPS[$tr,$l]}
			printf '  %s %s%%: %s of %s (%s %%)\n' "$tr" "$l" "${d% *}" "${d#* }" "$(awk -v a="${d% *}" -v b="${d#* }" 'BEGIN { printf "%.2f", b ? 100 * a / b : 0 }')"
		done
	done
	[ -n "$NFQ_STATS" ] && printf 'delayers:\n%s' "$NFQ_STATS"
	echo
	echo "target (issue): under 5% loss, p99 of small streams at least 2x better over QUIC than TCP"
	for tag in full cap; do
		[ "$tag" = cap ] && [ "$CAP" = 0 ] && continue
		read -r t99 < <(jq -r .p99 <<<"${ECHO[$tag,tcp,$LMAX]}")
		read -r q99 < <(jq -r .p99 <<<"${ECHO[$tag,quic,$LMAX]}")
		verdict=$(awk -v t="$t99" -v q="$q99" 'BEGIN { if (q > 0 && t / q >= 2) print "MET"; else print "NOT MET" }')
		echo "  ($( [ "$tag" = full ] && echo b || echo c )) at ${LMAX}% loss: TCP p99 $(fmt "$t99") ms, QUIC p99 $(fmt "$q99") ms: TCP/QUIC = $(ratio "$t99" "$q99")x -> $verdict"
	done
} | tee "$OUTDIR/quic-loss-results.txt"
{
	echo '```'
	cat "$OUTDIR/quic-loss-results.txt"
	echo '```'
} >"$OUTDIR/quic-loss-results.md"
say "results in $OUTDIR/quic-loss-results.txt and .md"

_stop_all || fail "teardown found problems (see above)"
exit 0
