"""rate_write.py OUT BYTES_PER_S: copies stdin to the file OUT (unbuffered,
so OUT grows as data arrives), reading at most BYTES_PER_S on average.

Tests use it as a slow reader behind curl: flow control then slows the
whole forwarding path down (curl 7.88's --limit-rate does not hold back a
fast loopback download). The sleeps are a throttle, not waits for
readiness."""
import sys
import time

out, rate = open(sys.argv[1], "wb", buffering=0), float(sys.argv[2])
start, n = time.monotonic(), 0
while True:
    b = sys.stdin.buffer.read1(16384)
    if not b:
        break
    out.write(b)
    n += len(b)
    ahead = n / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)
