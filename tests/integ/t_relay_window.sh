#!/usr/bin/env bash
# Regression (fixed): a relay sent queued cells only in whole chunks of up to
#   31 cells (62 KiB) and waited for that much hop-stream credit, but the
#   session layer wakes a sender only when its credit has run out entirely.
#   With credit left but less than a chunk, nothing ever woke the relay and
#   the circuit stalled for good: with the client's stream window below a
#   chunk, every transfer stopped after the first few KiB (step 2). Step 3
#   guards the other way to the same state (several streams of one circuit
#   with more in flight than the hop stream's window); it did not stall in
#   runs of the old code, so it is a guard, not a reproduction.
# t_relay_window — circuits keep moving whatever the flow-control windows:
#
#   alice ◄── r ◄── c            r: relay; c: [limits] stream_window = 16384
#     ▲
#     └────── d                  d: default limits, 4 parallel downloads
#
# 1. alice, r, c and d join; alice publishes web (python http.server).
# 2. c (16 KiB stream windows: every hop stream to c holds less than one
#    chunk of cells) fetches 8 MiB through `--relay 1`, sha256 intact.
# 3. d fetches four 16 MiB files at once through one `--relay 1` forward
#    (one circuit, four streams: their 4 MiB end-to-end windows together
#    are far more than the 1 MiB window of the hop stream), each sha256
#    intact.
# 4. The larger window is a bounded budget: with 20 circuit streams open on
#    d (idle connections), exactly 16 got the extra 3.5 MiB
#    (circuit_window_extra = 16 x 3670016); closing them gives it back.
# 5. Nothing is left over: no app connection on alice, r relays no cell
#    still queued (buffered 0), and c and d have given back every extra
#    window they granted (circuit_window_extra 0: the budget that caps how
#    much a client buffers for its applications).
. "$(dirname "$0")/relay_lib.sh"
need curl jq "$PY" sha256sum

mkdir -p "$T/www" "$T/got"
make_random "$T/www/big" 8
for i in 1 2 3 4; do make_random "$T/www/p$i" 16; done
http_server "$T/www"

# ---- 1. the network
start_relayed alice no
start_relayed r yes alice
init_relayed c no r
set_limit c stream_window 16384
run_node c
wait_joined c
start_relayed d no r
wait_until 60 "c's registry knowing alice and r" knows_nodes c alice r
wait_until 60 "d's registry knowing alice and r" knows_nodes d alice r
vx alice service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add web failed"
wait_until 60 "alice.web resolving on c" resolves c alice.web
wait_until 60 "alice.web resolving on d" resolves d alice.web

# ---- 2. a client whose stream window is smaller than a chunk of cells
PC=$(connect_relay c alice.web 1)
fetch_ok "$PC" big "$T/got/big" "$T/www/big" "8 MiB through --relay 1 to a client with 16 KiB stream windows"
say "8 MiB intact through r to c (stream_window 16384)"

# ---- 3. four streams on one circuit, more in flight than a hop window
PD=$(connect_relay d alice.web 1)
pids=()
for i in 1 2 3 4; do
	fetch "$PD" "p$i" "$T/got/p$i" --max-time "$(scaled 180)" &
	pids+=($!)
	BG_PIDS+=($!)
done
for i in 1 2 3 4; do
	wait "${pids[$((i - 1))]}" || fail "parallel download $i of 4 through one circuit failed (curl rc=$?, $(file_size "$T/got/p$i") bytes)"
done
for i in 1 2 3 4; do same_sha "$T/www/p$i" "$T/got/p$i" "parallel download $i of 4"; done
[ "$(sj d '.circuits | length')" = 1 ] || fail "d has $(sj d '.circuits | length') circuits, want 1 (the four streams share it)"
say "4 x 16 MiB at once through one circuit, all intact"

# ---- 4. the extra window is a bounded budget
fds=()
for i in $(seq 1 20); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PD" || fail "connection $i to d's forward failed"
	fds+=("$fd")
done
wait_until 20 "d holding 20 circuit streams" output_is 20 sj d .app_connections
extra=$(sj d .circuit_window_extra)
[ "$extra" = $((16 * 3670016)) ] || fail "d granted $extra bytes of extra window to 20 streams, want 16 x 3670016"
for fd in "${fds[@]}"; do exec {fd}>&-; done
say "20 streams open: extra window $extra bytes (16 streams' worth)"

# ---- 5. nothing left over
wait_no_apps 30 alice
wait_until 20 "r holding no queued cells" output_is 0 sj r .relay.buffered
wait_until 20 "c's extra window budget back to 0" output_is 0 sj c .circuit_window_extra
wait_until 20 "d's extra window budget back to 0" output_is 0 sj d .circuit_window_extra
pass
