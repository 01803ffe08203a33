#!/usr/bin/env bash
#
# t_transport_loss — TCP vs QUIC sessions under random packet loss, across
# two hosts (network namespaces). A MEASUREMENT with a correctness check,
# not a performance test: it prints the latency of small request/response
# exchanges made while a bulk download runs on the same forward, for each
# transport, and asserts only that everything completes and every byte is
# intact. It never compares timings (performance is judged by the
# benchmarks under bench/, not by timed tests). Needs root; prints
# "SKIPPED: ..." otherwise. Sets `--transport tcp`, then `--transport quic`
# on both nodes itself, whatever VX6_TEST_TRANSPORT says.
#
#          namespace vx6ns-<PID>-br: bridge br0
#            ┌─────────────┬─────────────┐
#         ┌──┴───┐      ┌──┴───┐
#         │owner │      │client│          eth0 (nodad), lo up
#         └──────┘      └──────┘          vx6 node on [::]:4242
#       fd42:R:S::1   fd42:R:S::2
#   owner's veth (port "owner" of br0): nftables, bridge family, both ways:
#          `meta l4proto { tcp, udp } numgen random mod 100 < 3 drop`
#          → ~3 % of the node-to-node packets lost in each direction
#          (ICMPv6 / neighbour discovery left alone); eth0 of both hosts
#          with gso_max_segs 1, so a "packet" is a wire packet, not a
#          64 KiB TSO/GSO aggregate (see below).
#          app = a small Python server on 127.0.0.1:7000: "bulk\n" → an
#          endless deterministic byte stream; "echo\n" → echoes.
#   client: connect --service app --addr '[owner]:4242' (one forward).
#
# Delay: the kernel here has no netem, and nftables' `queue` expression is
# not built in (`nft add rule ... queue num N` fails with ENOENT), but the
# xt NFQUEUE target of ip6tables is. When VX6_NFQ_DELAY_BIN names the
# delayer (tests/helpers/nfq_delay.c; CMake builds it when libnetfilter_queue
# is found and passes its path), each host gets
#          `ip6tables -A INPUT -s <other host> -j NFQUEUE --queue-num 17`
# and an nfq_delay holding every such packet NFQ_DELAY_MS (10) ms: RTT
# ~20 ms. On the receiving side on purpose: a packet held in the sender's
# OUTPUT hook is still charged to its socket, and TCP Small Queues / the
# UDP send buffer would throttle the sender to a few packets per delay.
# Without the delayer: loss only, RTT ~0.1 ms (said in the output).
#
# For each transport (tcp, then quic, both nodes restarted with it):
# 1. The client's session to the owner is of that transport.
# 2. Through the ONE forward: a bulk download starts (read as fast as
#    possible); once 1 MiB has arrived, 200 echo exchanges of 16 bytes,
#    one at a time on one connection, each timed; then the bulk connection
#    is closed.
# 3. Asserted: all 200 replies arrive, each equal to its request; the bulk
#    bytes received (>= 1 MiB) are exactly the generator's prefix; the nft
#    counter shows packets were dropped (the loss was real); both nodes
#    answered every `vx6 status` probe (two per second) within
#    STATUS_LIMIT throughout (liveness: their loops kept polling their
#    sockets). Printed: p50 / p90 / p99 / max latency, bulk MiB and MiB/s,
#    drops, the slowest status answer.
. "$(dirname "$0")/lib.sh"
need jq nft timeout "$PY"
NFQ_DELAY_BIN=${VX6_NFQ_DELAY_BIN:-}
NFQ_DELAY_MS=10
if [ -n "$NFQ_DELAY_BIN" ]; then
	need "$NFQ_DELAY_BIN" ip6tables ping
fi

R=$(printf '%x:%x' $((RANDOM | 0x1000)) $(($$ & 0xffff | 0x1000)))
OWNER_IP=fd42:$R::1
CLIENT_IP=fd42:$R::2
APP=7000
LOSS_PCT=3
N_REQ=200
# A liveness bound, not a performance target: a healthy node answers in
# milliseconds even under ASan; a node that stops polling its sockets
# does not answer at all.
STATUS_LIMIT=$(scaled 10)

say "namespaces $NS_PREFIX-{br,owner,client}, owner $OWNER_IP, client $CLIENT_IP"
ns_bridge
ns_host owner "$OWNER_IP/64"
ns_host client "$CLIENT_IP/64"

# ---- the application: bulk + echo (stdlib only)
cat >"$T/app.py" <<'EOF'
import socket, socketserver, sys, random
BLOCK = random.Random(20240601).randbytes(1 << 20)
def block(i):                     # block i: BLOCK rotated by i*7919 bytes
    r = (i * 7919) % len(BLOCK)
    return BLOCK[r:] + BLOCK[:r]
class H(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        f = s.makefile("rb")
        mode = f.readline().strip()
        try:
            if mode == b"bulk":
                i = 0
                while True:
                    s.sendall(block(i))
                    i += 1
            elif mode == b"echo":
                while True:
                    b = f.read1(65536)
                    if not b:
                        break
                    s.sendall(b)
        except OSError:
            pass
class S(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
cat >"$T/measure.py" <<'EOF'
import socket, sys, threading, time, random, os, json
port, n_req, label = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
BLOCK = random.Random(20240601).randbytes(1 << 20)
def block(i):
    r = (i * 7919) % len(BLOCK)
    return BLOCK[r:] + BLOCK[:r]
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
res = {"label": label, "bulk_bytes": 0, "bulk_ok": True, "bulk_err": None}
stop = threading.Event()
started = threading.Event()
def bulk():
    try:
        s = conn()
        s.sendall(b"bulk\n")
        i, pos, got = 0, 0, 0
        cur = block(0)
        t0 = time.monotonic()
        while not stop.is_set():
            b = s.recv(262144)
            if not b:
                res["bulk_err"] = "bulk connection ended early"
                break
            k = 0
            while k < len(b):       # compare against the generator
                take = min(len(b) - k, len(cur) - pos)
                if b[k:k + take] != cur[pos:pos + take]:
                    res["bulk_ok"] = False
                    res["bulk_err"] = "bulk bytes differ at offset %d" % (got + k)
                    stop.set()
                    break
                k += take
                pos += take
                if pos == len(cur):
                    i += 1
                    cur, pos = block(i), 0
            got += len(b)
            res["bulk_bytes"] = got
            if got >= (1 << 20):
                started.set()
        res["bulk_s"] = time.monotonic() - t0
        s.close()
    except Exception as e:
        res["bulk_err"] = "bulk: %r" % (e,)
    started.set()
th = threading.Thread(target=bulk)
th.start()
if not started.wait(60):
    res["bulk_err"] = "no 1 MiB of bulk within 60 s"
lat, bad = [], 0
try:
    e = conn()
    e.sendall(b"echo\n")
    for j in range(n_req):
        msg = os.urandom(8).hex().encode()      # 16 bytes
        t = time.monotonic()
        e.sendall(msg)
        got = b""
        while len(got) < len(msg):
            b = e.recv(len(msg) - len(got))
            if not b:
                raise RuntimeError("echo connection ended after %d replies" % j)
            got += b
        lat.append((time.monotonic() - t) * 1000)
        if got != msg:
            bad += 1
    e.close()
except Exception as ex:
    res["echo_err"] = repr(ex)
stop.set()
th.join(60)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None
res.update(replies=len(lat), bad=bad, p50=q(0.50), p90=q(0.90), p99=q(0.99), max=lat[-1] if lat else None)
print(json.dumps(res))
EOF

# ---- loss on the owner's veth, both directions, per wire packet.
# TCP (TSO) and QUIC (UDP GSO) hand the stack 64 KiB aggregates that a veth
# passes on whole; a rule in the owner's own output hook would drop a whole
# aggregate (dozens of packets) as one. So both hosts' eth0 get
# gso_max_segs 1 (aggregates are cut into wire-sized packets when they
# leave eth0), and the loss rule sits on the owner's veth peer (port
# "owner" of br0, bridge family, as ns_cut does), where every frame is one
# packet of at most the MTU. Only TCP and UDP: ND/ICMPv6 is left alone.
for h in owner client; do
	ip -n "$(ns_name "$h")" link set dev eth0 gso_max_segs 1 gso_max_size 1500 ||
		fail "cannot limit GSO on $h's eth0"
done
ip netns exec "$NS_BR" nft -f - <<EOF || fail "nft: cannot install the loss rules on the owner's veth"
table bridge vx6loss {
	chain lossy {
		type filter hook forward priority 0; policy accept;
		iifname "owner" meta l4proto { tcp, udp } counter
		oifname "owner" meta l4proto { tcp, udp } counter
		iifname "owner" meta l4proto { tcp, udp } numgen random mod 100 < $LOSS_PCT counter drop
		oifname "owner" meta l4proto { tcp, udp } numgen random mod 100 < $LOSS_PCT counter drop
	}
}
EOF
# nft_counts: "PACKETS DROPPED" so far (both directions; the first two
# counters count every packet, the last two the drops).
nft_counts() {
	ip netns exec "$NS_BR" nft list table bridge vx6loss 2>/dev/null |
		awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") c[++k] = $(i + 1) }
			END { print c[1] + c[2], c[3] + c[4] }'
}

# ---- delay (when the delayer is available): one nfq_delay per host
# namespace (NFQUEUE is per namespace), on the receiving side (see above).
NFQ_PIDS=()
nfq_alive() {
	local p
	for p in "${NFQ_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done
}
DELAY_NOTE="no added delay (VX6_NFQ_DELAY_BIN not set: tests/helpers/nfq_delay not built)"
if [ -n "$NFQ_DELAY_BIN" ]; then
	for h in owner client; do
		case $h in owner) peer=$CLIENT_IP ;; *) peer=$OWNER_IP ;; esac
		bg ip netns exec "$(ns_name "$h")" "$NFQ_DELAY_BIN" -q 17 -d "$NFQ_DELAY_MS" -r "$T/nfq-$h.ready" 2>"$T/nfq-$h.log"
		NFQ_PIDS+=("$BG_PID")
		EXTRA_LOGS+=("$T/nfq-$h.log")
		wait_until 10 "nfq_delay in $h" test -e "$T/nfq-$h.ready"
		nsx "$h" ip6tables -A INPUT -s "$peer" -j NFQUEUE --queue-num 17 ||
			fail "ip6tables -j NFQUEUE does not work in $h"
	done
	# Informational (not asserted): ping -U gives user-to-user times (the
	# default kernel receive timestamp is taken before the INPUT hook).
	rtt=$(nsx client ping -U -6 -c 5 -i 0.1 -q "$OWNER_IP" 2>&1 | awk -F'[/ =]+' '/^rtt/ { print $7 }')
	[ -n "$rtt" ] || fail "ping from client to owner through the delayers failed"
	DELAY_NOTE="${NFQ_DELAY_MS} ms added each way by nfq_delay (ping -U avg rtt $rtt ms)"
	say "delay: $DELAY_NOTE"
else
	say "NOTE: $DELAY_NOTE"
fi

bg ip netns exec "$(ns_name owner)" "$PY" "$T/app.py" "$APP" >"$T/app.log" 2>&1
EXTRA_LOGS+=("$T/app.log")
wait_until 20 "the app server in owner" ns_port_accepts owner "$APP"

declare -A OUT=()
for tr in tcp quic; do
	# Both nodes with this transport only (homes made once, then the policy
	# edited; the client's pin of the owner's key stays valid).
	ns_run_with_transport "$tr" owner client
	vx owner service list 2>/dev/null | grep -qw app ||
		vx owner service add --name app --target "127.0.0.1:$APP" >/dev/null || fail "service add app on owner failed"
	out=$(timeout "$(scaled 30)" "$VX6_BIN" --home "$T/client" connect --service app --addr "[$OWNER_IP]:$NS_PORT" \
		--listen 127.0.0.1:0 --detach --json 2>"$T/connect.err") ||
		fail "$tr: connect --service app on client failed: $(head -c 400 "$T/connect.err") $out"
	LP=$(jq -r .listen <<<"$out" | sed 's/.*://')
	read -r p0 d0 < <(nft_counts)
	# Liveness while loaded: both nodes answer `vx6 status` on their
	# control socket throughout (a node whose loop stopped polling its
	# sockets under loss once went silent for seconds; see STATUS_LIMIT).
	: >"$T/status-probe-$tr.log"
	bg bash -c 'while :; do for h in owner client; do
		t0=$(date +%s%3N)
		if timeout "$2" "$1" --home "$3/$h" status --json >/dev/null 2>&1; then r=ok; else r=FAILED; fi
		echo "$h $r $(( $(date +%s%3N) - t0 ))"
		done; sleep 0.5; done' probe "$VX6_BIN" "$STATUS_LIMIT" "$T" >>"$T/status-probe-$tr.log"
	PROBE_PID=$BG_PID
	t0=$(now_ms)
	OUT[$tr]=$(nsx client timeout "$(scaled 120)" "$PY" "$T/measure.py" "$LP" "$N_REQ" "$tr" 2>"$T/measure-$tr.err") ||
		fail "$tr: the measuring client failed (rc=$?): $(head -c 600 "$T/measure-$tr.err")"
	ms=$(( $(now_ms) - t0 ))
	kill "$PROBE_PID" 2>/dev/null
	wait "$PROBE_PID" 2>/dev/null
	nprobe=$(grep -c ' ok ' "$T/status-probe-$tr.log")
	if grep -q FAILED "$T/status-probe-$tr.log"; then
		fail "$tr: a node did not answer \`vx6 status\` within ${STATUS_LIMIT} s during the measurement: $(grep FAILED "$T/status-probe-$tr.log" | head -3 | tr '\n' ';')"
	fi
	[ "$nprobe" -ge 2 ] || fail "$tr: only $nprobe status probes answered during the measurement"
	slowest=$(awk '{ if ($3 > m) m = $3 } END { print m + 0 }' "$T/status-probe-$tr.log")
	read -r p1 d1 < <(nft_counts)
	np=$((p1 - p0)) nd=$((d1 - d0))
	r=${OUT[$tr]}
	# The session really is of this transport (it carried the streams).
	sess=$(sj client "[.sessions[] | select(.remote | contains(\"[$OWNER_IP]:$NS_PORT\")) | select(.state == \"established\")]")
	[ "$(jq -r 'length' <<<"$sess")" = 1 ] || fail "$tr: the client has not exactly one established session to the owner: $(jq -c . <<<"$sess")"
	[ "$(jq -r '.[0].transport' <<<"$sess")" = "$tr" ] || fail "$tr: the client's session to the owner is $(jq -r '.[0].transport' <<<"$sess"), want $tr"
	[ "$(jq -r '.[0].streams_total' <<<"$sess")" -ge 2 ] || fail "$tr: the session carried $(jq -r '.[0].streams_total' <<<"$sess") streams, want >= 2 (bulk + echo)"
	# Correctness: everything completed, every byte intact.
	for k in bulk_err echo_err; do
		[ "$(jq -r ".$k // empty" <<<"$r")" = "" ] || fail "$tr: $(jq -r ".$k" <<<"$r") ($r)"
	done
	[ "$(jq -r .bulk_ok <<<"$r")" = true ] || fail "$tr: bulk bytes corrupted: $r"
	[ "$(jq -r .replies <<<"$r")" = "$N_REQ" ] || fail "$tr: $(jq -r .replies <<<"$r") of $N_REQ echo replies: $r"
	[ "$(jq -r .bad <<<"$r")" = 0 ] || fail "$tr: $(jq -r .bad <<<"$r") echo replies differ from their request: $r"
	[ "$(jq -r .bulk_bytes <<<"$r")" -ge $((1024 * 1024)) ] || fail "$tr: only $(jq -r .bulk_bytes <<<"$r") bulk bytes: $r"
	[ "$nd" -gt 0 ] || fail "$tr: the loss rule dropped no packet during the measurement"
	nfq_alive || fail "$tr: an nfq_delay process died during the measurement (see its log)"
	say "$tr: $N_REQ echoes under bulk, ${LOSS_PCT}% loss ($nd of $np packets dropped, $(awk -v a="$nd" -v b="$np" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }') %): $(jq -r '"p50 \(.p50*100|round/100) ms, p90 \(.p90*100|round/100) ms, p99 \(.p99*100|round/100) ms, max \(.max*100|round/100) ms; bulk \(.bulk_bytes/1048576*10|round/10) MiB in \(.bulk_s*10|round/10) s (\(.bulk_bytes/1048576/.bulk_s*10|round/10) MiB/s), intact"' <<<"$r"); $nprobe status answers, slowest $slowest ms [${ms} ms]"
	vx client connect close "127.0.0.1:$LP" >/dev/null 2>>"$T/client.cli.err" || fail "$tr: connect close failed"
	for h in client owner; do
		stop_node "$h"
		[ "${NODE_RC[$h]}" = 0 ] || fail "$tr: node $h exited with ${NODE_RC[$h]} on SIGTERM (expected 0; see its log)"
	done
done

printf 'RESULT t_transport_loss (%s%% loss each way, %s; latency of 16-byte echoes during a bulk download on the same forward, not asserted):\n' "$LOSS_PCT" "$DELAY_NOTE"
for tr in tcp quic; do
	jq -r '"  \(.label):  p50 \(.p50*100|round/100) ms  p90 \(.p90*100|round/100) ms  p99 \(.p99*100|round/100) ms  max \(.max*100|round/100) ms   bulk \(.bulk_bytes/1048576/.bulk_s*10|round/10) MiB/s"' <<<"${OUT[$tr]}"
done
pass
