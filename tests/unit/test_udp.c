/*
 * test_udp — os/os_udp: UDP datagram sockets for QUIC, on real loopback
 * sockets ([::1], 127.0.0.0/8 and the dual-stack [::]).
 *
 * Shown: a 64-datagram batch of distinct sizes and contents arrives intact,
 * in order, with the right remote and local (pktinfo) addresses on both
 * families; a GSO batch (40 x 1200 + a 700-byte tail) arrives as 41 intact
 * datagrams; mixed flows in one batch are split correctly; ECN bits set on
 * send come back on receive; a specified local address is used as the source;
 * dual-stack [::] reports IPv4 peers as family 4 and answers them; oversize
 * datagrams are refused, and a datagram longer than the receive slot is
 * dropped, not cut; buffers are at least the kernel defaults; receiving
 * allocates nothing. Each send/receive test runs three ways: as the socket
 * opens (GSO + recvmmsg/sendmmsg on Linux), GSO off, and the portable
 * one-datagram-per-call path.
 *
 * In a private network namespace (unshare; root only, skipped loudly
 * otherwise): a full socket buffer (tbf on lo holds the packets) makes send
 * report fewer accepted, without an error; a datagram above the interface
 * MTU is refused, not fragmented (don't-fragment), and a GSO send the kernel
 * refuses for it does not turn GSO off; source selection with a second IPv6
 * address.
 */
#define _GNU_SOURCE 1   /* unshare, setns */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/addr.h"
#include "lib/err.h"
#include "os/os.h"

#define SLOT 2048   /* what the libuv adapter uses */

/* --- a malloc counter ------------------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif

static volatile unsigned long n_allocs;
static bool alloc_hook_ok;

#if defined(TU_ASAN)
int __sanitizer_install_malloc_and_free_hooks(void (*mh)(const volatile void *, size_t),
    void (*fh)(const volatile void *));

static void
count_malloc(const volatile void *p, size_t n)
{
	(void)p;
	(void)n;
	n_allocs++;
}

static void
count_free(const volatile void *p)
{
	(void)p;
}

static void
install_alloc_hook(void)
{
	static bool done;

	/* Both hooks are required; the result is a hook slot (0: none left). */
	if (!done)
		alloc_hook_ok = __sanitizer_install_malloc_and_free_hooks(count_malloc, count_free) != 0;
	done = true;
}
#elif defined(__GLIBC__)
/* glibc: interpose the allocator and forward to its own entry points. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

void *
malloc(size_t n)
{
	n_allocs++;
	return __libc_malloc(n);
}

void *
calloc(size_t a, size_t b)
{
	n_allocs++;
	return __libc_calloc(a, b);
}

void *
realloc(void *p, size_t n)
{
	n_allocs++;
	return __libc_realloc(p, n);
}

static void
install_alloc_hook(void)
{
	alloc_hook_ok = true;
}
#else
static void
install_alloc_hook(void)
{
	alloc_hook_ok = false;
}
#endif

/* --- helpers ----------------------------------------------------------------- */

enum mode { MODE_FULL, MODE_NO_GSO, MODE_PLAIN };
static const char *const mode_name[] = { "gso+mmsg", "mmsg, no gso", "sendmsg/recvmsg" };

static struct vx6_addr
A(const char *text)
{
	struct vx6_addr a;

	assert_int_equal(vx6_addr_parse(&a, text, true), 0);
	return a;
}

/* Sockets a test opened: closed by the teardown even after a failed assertion. */
static struct vx6_os_udp *opened[16];
static size_t n_opened;

static struct vx6_os_udp *
udp_open(const char *text, enum mode m)
{
	struct vx6_addr a = A(text);
	int err = 0;
	struct vx6_os_udp *s = vx6_os_udp_open(&a, &err);

	if (s == NULL)
		fail_msg("vx6_os_udp_open(%s): %s", text, vx6_strerror(err));
	assert_true(n_opened < 16);
	opened[n_opened++] = s;
	if (m == MODE_NO_GSO)
		vx6_os_udp_disable(s, true, false);
	else if (m == MODE_PLAIN)
		vx6_os_udp_disable(s, true, true);
	return s;
}

static struct vx6_addr
bound_of(struct vx6_os_udp *s)
{
	struct vx6_addr b;

	vx6_os_udp_bound(s, &b);
	return b;
}

/* The bound port at another host address: where to send to reach s. */
static struct vx6_addr
at(struct vx6_os_udp *s, const char *host_port0)
{
	struct vx6_addr a = A(host_port0);

	a.port = bound_of(s).port;
	return a;
}

struct rx {
	uint8_t data[SLOT];
	size_t len;
	struct vx6_addr local, remote;
	uint8_t ecn;
};

static uint8_t rxbuf[VX6_OS_UDP_BATCH * SLOT];

/* Receives into out[0..cap) until want datagrams came or timeout_ms passed
 * without any; returns how many came (more than cap are counted, not kept). */
static size_t
rx_wait(struct vx6_os_udp *s, struct rx *out, size_t cap, size_t want, int timeout_ms)
{
	struct vx6_os_dgram d[VX6_OS_UDP_BATCH];
	struct pollfd p = { .fd = vx6_os_udp_fd(s), .events = POLLIN };
	size_t got = 0;
	bool more;

	while (got < want) {
		int n = vx6_os_udp_recv(s, rxbuf, SLOT, d, VX6_OS_UDP_BATCH, &more);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++, got++) {
			if (got >= cap)
				continue;
			assert_true(d[i].len <= SLOT);
			memcpy(out[got].data, d[i].data, d[i].len);
			out[got].len = d[i].len;
			out[got].local = d[i].local;
			out[got].remote = d[i].remote;
			out[got].ecn = d[i].ecn;
		}
		if (n == 0 && !more && poll(&p, 1, timeout_ms) <= 0)
			break;
	}
	return got;
}

/* Payload of datagram i of a test: its index, then bytes from i and the offset. */
static void
fill(uint8_t *p, size_t len, unsigned i)
{
	for (size_t k = 0; k < len; k++)
		p[k] = (uint8_t)(i * 131u + k * 7u + (k >> 8));
	if (len >= 2) {
		p[0] = (uint8_t)(i >> 8);
		p[1] = (uint8_t)i;
	}
}

static void
check_payload(const struct rx *r, size_t len, unsigned i)
{
	static uint8_t want[SLOT];

	assert_int_equal(r->len, len);
	fill(want, len, i);
	assert_memory_equal(r->data, want, len);
}

/* got is want (family, IP, port), reported as a QUIC address. */
static void
assert_addr(struct vx6_addr got, struct vx6_addr want)
{
	char g[VX6_ADDR_STRLEN], w[VX6_ADDR_STRLEN];

	vx6_addr_format(&got, g, sizeof(g), false);
	vx6_addr_format(&want, w, sizeof(w), false);
	if (got.family != want.family || got.port != want.port || !vx6_addr_same_host(&got, &want))
		fail_msg("address %s, want %s", g, w);
	assert_int_equal(got.transport, VX6_TRANSPORT_QUIC);
}

static uint8_t txbuf[VX6_OS_UDP_BATCH][SLOT];

static int
teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < n_opened; i++)
		vx6_os_udp_close(opened[i]);
	n_opened = 0;
	return 0;
}

/* --- a 64-datagram batch ----------------------------------------------------- */

/* 64 datagrams of distinct sizes (1..1450) and contents in one send arrive
 * intact, in order, each with the sender as remote and the address it was
 * sent to as local: the receiver is bound to the unspecified address, so
 * only pktinfo can tell (and on IPv4 the destination is 127.0.0.3, not the
 * 127.0.0.1 a guess would give). */
static void
batch64(enum mode m, const char *rx_bind, const char *tx_bind, const char *dst_host)
{
	struct vx6_os_udp *r = udp_open(rx_bind, m), *t = udp_open(tx_bind, m);
	struct vx6_os_dgram d[64];
	static struct rx got[80];
	struct vx6_addr dst = at(r, dst_host), src = bound_of(t);
	size_t n;

	memset(d, 0, sizeof(d));
	for (unsigned i = 0; i < 64; i++) {
		d[i].len = 1 + (size_t)i * 23;
		fill(txbuf[i], d[i].len, i);
		d[i].data = txbuf[i];
		d[i].remote = dst;
	}
	assert_int_equal(vx6_os_udp_send(t, d, 64), 64);
	n = rx_wait(r, got, 80, 64, 1000);
	assert_int_equal(n, 64);
	if (vx6_addr_is_unspecified(&src))   /* the sender's source is the loopback address */
		memcpy(src.ip, dst.ip, 16);
	for (unsigned i = 0; i < 64; i++) {
		check_payload(&got[i], 1 + (size_t)i * 23, i);
		assert_addr(got[i].remote, src);
		assert_addr(got[i].local, dst);
		assert_int_equal(got[i].ecn, 0);
	}
	assert_int_equal(rx_wait(r, got, 80, 1, 50), 0);   /* nothing more */
}

static void
test_batch64(void **state)
{
	(void)state;
	for (enum mode m = MODE_FULL; m <= MODE_PLAIN; m++) {
		print_message("  mode %s\n", mode_name[m]);
		batch64(m, "[::]:0", "[::1]:0", "[::1]:0");
		teardown(NULL);
		batch64(m, "[::1]:0", "[::1]:0", "[::1]:0");
		teardown(NULL);
		batch64(m, "0.0.0.0:0", "127.0.0.1:0", "127.0.0.3:0");
		teardown(NULL);
		/* IPv4 into the dual-stack socket: reported as family 4. */
		batch64(m, "[::]:0", "127.0.0.1:0", "127.0.0.3:0");
		teardown(NULL);
	}
}

/* --- GSO ------------------------------------------------------------------------ */

/* 40 x 1200 bytes and a 700-byte tail to one peer (one GSO send where there
 * is GSO) arrive as 41 datagrams, each intact. */
static void
gso_batch(enum mode m, const char *host)
{
	struct vx6_os_udp *r = udp_open(host, m), *t = udp_open(host, m);
	struct vx6_os_dgram d[41];
	static struct rx got[50];
	struct vx6_os_udp_info info;

	memset(d, 0, sizeof(d));
	for (unsigned i = 0; i < 41; i++) {
		d[i].len = i < 40 ? 1200 : 700;
		fill(txbuf[i], d[i].len, i);
		d[i].data = txbuf[i];
		d[i].remote = bound_of(r);
	}
	assert_int_equal(vx6_os_udp_send(t, d, 41), 41);
	assert_int_equal(rx_wait(r, got, 50, 41, 1000), 41);
	for (unsigned i = 0; i < 41; i++) {
		check_payload(&got[i], i < 40 ? 1200 : 700, i);
		assert_addr(got[i].remote, bound_of(t));
	}
	vx6_os_udp_info(t, &info);
	assert_int_equal(info.tx_gso_fallbacks, 0);
	if (m == MODE_FULL)
		print_message("  %s: GSO %s\n", host, info.gso ? "in use" : "not available");
	assert_int_equal(rx_wait(r, got, 50, 1, 50), 0);
}

static void
test_gso_batch(void **state)
{
	(void)state;
	for (enum mode m = MODE_FULL; m <= MODE_PLAIN; m++) {
		gso_batch(m, "[::1]:0");
		teardown(NULL);
		gso_batch(m, "127.0.0.1:0");
		teardown(NULL);
	}
}

/* The kernel refuses GSO on a socket without UDP checksums (SO_NO_CHECK:
 * EINVAL): the run is resent datagram by datagram, all 41 arrive intact,
 * and GSO is off for that socket from then on (one fallback, not one per
 * send). */
static void
test_gso_fallback(void **state)
{
#if defined(SO_NO_CHECK)
	struct vx6_os_udp *r = udp_open("127.0.0.1:0", MODE_FULL), *t = udp_open("127.0.0.1:0", MODE_FULL);
	struct vx6_os_dgram d[41];
	static struct rx got[50];
	struct vx6_os_udp_info info;
	int one = 1;

	(void)state;
	vx6_os_udp_info(t, &info);
	if (!info.gso) {
		fprintf(stderr, "SKIPPED test_gso_fallback: no UDP GSO on this kernel\n");
		skip();
	}
	assert_int_equal(setsockopt(vx6_os_udp_fd(t), SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one)), 0);
	memset(d, 0, sizeof(d));
	for (unsigned i = 0; i < 41; i++) {
		d[i].len = i < 40 ? 1200 : 700;
		fill(txbuf[i], d[i].len, i);
		d[i].data = txbuf[i];
		d[i].remote = bound_of(r);
	}
	for (int round = 0; round < 2; round++) {
		assert_int_equal(vx6_os_udp_send(t, d, 41), 41);
		assert_int_equal(rx_wait(r, got, 50, 41, 1000), 41);
		for (unsigned i = 0; i < 41; i++)
			check_payload(&got[i], i < 40 ? 1200 : 700, i);
		vx6_os_udp_info(t, &info);
		assert_false(info.gso);
		assert_int_equal(info.tx_gso_fallbacks, 1);
	}
#else
	(void)state;
	fprintf(stderr, "SKIPPED test_gso_fallback: no SO_NO_CHECK here\n");
	skip();
#endif
}

/* Runs that must not be merged: two destinations interleaved, an ECN change,
 * a longer datagram after a shorter one (which would be cut at the shorter
 * one's size), a zero-length datagram, a local address change. Every datagram arrives where it was sent, with its ECN. */
static void
mixed_flows(enum mode m)
{
	struct vx6_os_udp *r1 = udp_open("[::]:0", m), *r2 = udp_open("[::]:0", m);
	struct vx6_os_udp *t = udp_open("[::]:0", m);
	struct vx6_os_dgram d[64];
	static struct rx g1[64], g2[64];
	size_t n1 = 0, n2 = 0, c1, c2;
	/* 800 ends a run; 500 then 1200 (i = 36, 37: same flow) must not form one. */
	static const size_t lens[8] = { 1200, 1200, 1200, 800, 500, 1200, 0, 1200 };

	memset(d, 0, sizeof(d));
	for (unsigned i = 0; i < 64; i++) {
		bool second = (i / 8) % 2 == 1 || i % 13 == 0;
		d[i].len = lens[i % 8];
		fill(txbuf[i], d[i].len, i);
		d[i].data = txbuf[i];
		d[i].remote = second ? at(r2, "127.0.0.1:0") : at(r1, "[::1]:0");
		d[i].ecn = (i % 16) >= 12 ? 2 : 0;
		if (i % 5 == 0 && !second)
			d[i].local = A("[::1]:0");
		if (second)
			n2++;
		else
			n1++;
	}
	assert_int_equal(vx6_os_udp_send(t, d, 64), 64);
	c1 = rx_wait(r1, g1, 64, n1, 1000);
	c2 = rx_wait(r2, g2, 64, n2, 1000);
	assert_int_equal(c1, n1);
	assert_int_equal(c2, n2);
	c1 = c2 = 0;
	for (unsigned i = 0; i < 64; i++) {
		bool second = d[i].remote.family == 4;
		struct rx *g = second ? &g2[c2++] : &g1[c1++];
		check_payload(g, d[i].len, i);
		assert_int_equal(g->ecn, d[i].ecn);
		assert_int_equal(g->remote.family, second ? 4 : 6);
	}
}

static void
test_mixed_flows(void **state)
{
	(void)state;
	for (enum mode m = MODE_FULL; m <= MODE_PLAIN; m++) {
		mixed_flows(m);
		teardown(NULL);
	}
}

/* --- ECN ------------------------------------------------------------------------ */

static void
ecn(enum mode m, const char *rx_bind, const char *tx_bind, const char *dst_host)
{
	struct vx6_os_udp *r = udp_open(rx_bind, m), *t = udp_open(tx_bind, m);
	struct vx6_os_dgram d[16];
	static struct rx got[16];

	memset(d, 0, sizeof(d));
	for (unsigned i = 0; i < 16; i++) {
		d[i].len = 100;
		fill(txbuf[i], d[i].len, i);
		d[i].data = txbuf[i];
		d[i].remote = at(r, dst_host);
		/* mostly ECT(0), as QUIC sends; a few not-ECT, ECT(1) and CE */
		d[i].ecn = i < 10 ? 2 : (uint8_t)(i % 4);
	}
	assert_int_equal(vx6_os_udp_send(t, d, 16), 16);
	assert_int_equal(rx_wait(r, got, 16, 16, 1000), 16);
	for (unsigned i = 0; i < 16; i++) {
		check_payload(&got[i], 100, i);
		if (got[i].ecn != d[i].ecn)
			fail_msg("datagram %u: ecn %u, want %u (%s -> %s)", i, got[i].ecn, d[i].ecn,
			    tx_bind, dst_host);
	}
}

static void
test_ecn(void **state)
{
	(void)state;
	for (enum mode m = MODE_FULL; m <= MODE_PLAIN; m++) {
		ecn(m, "[::1]:0", "[::1]:0", "[::1]:0");
		teardown(NULL);
		ecn(m, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0");
		teardown(NULL);
		ecn(m, "[::]:0", "127.0.0.1:0", "127.0.0.1:0");     /* IPv4 into dual-stack */
		teardown(NULL);
		ecn(m, "127.0.0.1:0", "[::]:0", "127.0.0.1:0");     /* dual-stack out to IPv4 */
		teardown(NULL);
	}
}

/* --- source address selection ----------------------------------------------- */

/* Sends one datagram from t with local set, and returns where r saw it come from. */
static struct vx6_addr
source_seen(struct vx6_os_udp *t, struct vx6_os_udp *r, const char *dst_host, const char *local)
{
	struct vx6_os_dgram d;
	static struct rx got[2];

	memset(&d, 0, sizeof(d));
	d.data = (const uint8_t *)"hello";
	d.len = 5;
	d.remote = at(r, dst_host);
	if (local)
		d.local = A(local);
	assert_int_equal(vx6_os_udp_send(t, &d, 1), 1);
	assert_int_equal(rx_wait(r, got, 2, 1, 1000), 1);
	return got[0].remote;
}

static void
test_source_address(void **state)
{
	(void)state;
	for (enum mode m = MODE_FULL; m <= MODE_PLAIN; m++) {
		struct vx6_os_udp *r4 = udp_open("127.0.0.1:0", m), *r6 = udp_open("[::1]:0", m);
		struct vx6_os_udp *t4 = udp_open("0.0.0.0:0", m), *t6 = udp_open("[::]:0", m);
		struct vx6_os_dgram d;
		struct vx6_addr a;
		uint16_t p4 = bound_of(t4).port, p6 = bound_of(t6).port;

		/* IPv4: the kernel would pick 127.0.0.1; local asks for 127.0.0.5. */
		a = source_seen(t4, r4, "127.0.0.1:0", NULL);
		assert_addr(a, (struct vx6_addr){ .family = 4, .transport = 1, .port = p4, .ip = { 127, 0, 0, 1 } });
		a = source_seen(t4, r4, "127.0.0.1:0", "127.0.0.5:0");
		assert_addr(a, (struct vx6_addr){ .family = 4, .transport = 1, .port = p4, .ip = { 127, 0, 0, 5 } });
		/* The same from the dual-stack socket, with a family-4 local. */
		a = source_seen(t6, r4, "127.0.0.1:0", "127.0.0.7:0");
		assert_addr(a, (struct vx6_addr){ .family = 4, .transport = 1, .port = p6, .ip = { 127, 0, 0, 7 } });
		/* IPv6: ::1 is the only loopback address; it is honoured ... */
		a = source_seen(t6, r6, "[::1]:0", "[::1]:0");
		assert_addr(a, (struct vx6_addr){ .family = 6, .transport = 1, .port = p6, .ip = { [15] = 1 } });
		/* ... and really used: an address this host lacks is refused. */
		memset(&d, 0, sizeof(d));
		d.data = (const uint8_t *)"x";
		d.len = 1;
		d.remote = at(r6, "[::1]:0");
		d.local = A("[2001:db8::1]:0");
		assert_int_equal(vx6_os_udp_send(t6, &d, 1), VX6_ERR_INVAL);
		/* A local of the other family than the remote is refused. */
		d.local = A("127.0.0.1:0");
		assert_int_equal(vx6_os_udp_send(t6, &d, 1), VX6_ERR_INVAL);
		teardown(NULL);
	}
}

/* --- dual-stack ------------------------------------------------------------------ */

/* A [::] socket hears an IPv4 and an IPv6 peer, reports the IPv4 one as
 * family 4 (local and remote), and answers both in one batch, from the
 * local address each was received on, with ECT(0). */
static void
test_dual_stack(void **state)
{
	struct vx6_os_udp *s = udp_open("[::]:0", MODE_FULL);
	struct vx6_os_udp *p4 = udp_open("127.0.0.1:0", MODE_FULL), *p6 = udp_open("[::1]:0", MODE_FULL);
	struct vx6_os_udp_info info;
	struct vx6_os_dgram d[2];
	static struct rx got[4], back[2];

	(void)state;
	vx6_os_udp_info(s, &info);
	assert_true(info.dual_stack);
	memset(d, 0, sizeof(d));
	d[0].data = (const uint8_t *)"four";
	d[0].len = 4;
	d[0].remote = at(s, "127.0.0.9:0");
	assert_int_equal(vx6_os_udp_send(p4, &d[0], 1), 1);
	d[0].data = (const uint8_t *)"six";
	d[0].len = 3;
	d[0].remote = at(s, "[::1]:0");
	assert_int_equal(vx6_os_udp_send(p6, &d[0], 1), 1);
	assert_int_equal(rx_wait(s, got, 4, 2, 1000), 2);
	assert_int_equal(got[0].len, 4);
	assert_addr(got[0].remote, bound_of(p4));
	assert_addr(got[0].local, (struct vx6_addr){ .family = 4, .port = bound_of(s).port, .ip = { 127, 0, 0, 9 } });
	assert_int_equal(got[1].len, 3);
	assert_addr(got[1].remote, bound_of(p6));
	assert_addr(got[1].local, at(s, "[::1]:0"));
	/* Answer both in one batch. */
	memset(d, 0, sizeof(d));
	for (int i = 0; i < 2; i++) {
		d[i].local = got[i].local;
		d[i].remote = got[i].remote;
		d[i].data = (const uint8_t *)"reply";
		d[i].len = 5;
		d[i].ecn = 2;
	}
	assert_int_equal(vx6_os_udp_send(s, d, 2), 2);
	assert_int_equal(rx_wait(p4, &back[0], 1, 1, 1000), 1);
	assert_int_equal(rx_wait(p6, &back[1], 1, 1, 1000), 1);
	assert_addr(back[0].remote, (struct vx6_addr){ .family = 4, .port = bound_of(s).port, .ip = { 127, 0, 0, 9 } });
	assert_addr(back[1].remote, at(s, "[::1]:0"));
	assert_int_equal(back[0].ecn, 2);
	assert_int_equal(back[1].ecn, 2);
	/* A specific IPv6 address is v6-only: no IPv4 through it. */
	d[0].remote = bound_of(p4);
	d[0].local = A("0.0.0.0:0");
	d[0].ecn = 0;
	assert_int_equal(vx6_os_udp_send(p6, &d[0], 1), VX6_ERR_INVAL);
	vx6_os_udp_info(p6, &info);
	assert_false(info.dual_stack);
}

/* --- sizes --------------------------------------------------------------------- */

/* A 70000-byte datagram is refused with TOO_LARGE, and ends a batch after
 * what went before it; on receive, a datagram longer than the slot is
 * dropped whole and counted, and the next one still arrives. */
static void
test_oversize(void **state)
{
	static uint8_t big[70000];
	struct vx6_os_udp *r = udp_open("[::1]:0", MODE_FULL), *t = udp_open("[::1]:0", MODE_FULL);
	struct vx6_os_dgram d[3];
	struct vx6_os_udp_info info;
	static struct rx got[4];

	(void)state;
	memset(d, 0, sizeof(d));
	for (int i = 0; i < 3; i++) {
		d[i].remote = bound_of(r);
		d[i].data = big;
	}
	d[0].len = sizeof(big);
	assert_int_equal(vx6_os_udp_send(t, d, 1), VX6_ERR_TOO_LARGE);
	d[0].len = 10;
	d[1].len = sizeof(big);
	d[2].len = 10;
	assert_int_equal(vx6_os_udp_send(t, d, 3), 1);
	assert_int_equal(rx_wait(r, got, 4, 2, 200), 1);   /* only d[0] */
	/* The largest payload passes the user-space check and the kernel has
	 * the last word: with the headers, 65507 bytes fit the loopback MTU
	 * (65536) on IPv4 but not on IPv6, and don't-fragment means no local
	 * fragmentation either: refused. */
	d[0].len = VX6_OS_UDP_MAX_PAYLOAD;
	d[1].len = VX6_OS_UDP_MAX_PAYLOAD + 1;
	assert_int_equal(vx6_os_udp_send(t, d, 2), VX6_ERR_TOO_LARGE);
	{
		struct vx6_os_udp *r4 = udp_open("127.0.0.1:0", MODE_FULL);
		struct vx6_os_udp *t4 = udp_open("127.0.0.1:0", MODE_FULL);
		d[0].remote = d[1].remote = bound_of(r4);
		assert_int_equal(vx6_os_udp_send(t4, d, 2), 1);
		assert_int_equal(rx_wait(r4, got, 4, 1, 200), 0);   /* too long for a slot */
		vx6_os_udp_info(r4, &info);
		assert_int_equal(info.rx_truncated, 1);
		d[0].remote = d[1].remote = bound_of(r);
	}
	/* Receive: 3000 bytes do not fit a 2048-byte slot. */
	fill(big, 3000, 1);
	d[0].len = 3000;
	d[1].len = 20;
	fill(txbuf[0], 20, 2);
	d[1].data = txbuf[0];
	assert_int_equal(vx6_os_udp_send(t, d, 2), 2);
	assert_int_equal(rx_wait(r, got, 4, 1, 1000), 1);
	check_payload(&got[0], 20, 2);
	vx6_os_udp_info(r, &info);
	assert_int_equal(info.rx_truncated, 1);
}

/* --- batch limits ----------------------------------------------------------------- */

/* 70 waiting datagrams: a receive of 64 says more may wait, the next gets
 * the last 6 and says there is no more; the slot size bounds nothing else. */
static void
test_recv_more(void **state)
{
	(void)state;
	for (enum mode m = MODE_FULL; m <= MODE_PLAIN; m++) {
		struct vx6_os_udp *r = udp_open("127.0.0.1:0", m), *t = udp_open("127.0.0.1:0", m);
		struct vx6_os_dgram d[64], in[64];
		struct pollfd p = { .fd = vx6_os_udp_fd(r), .events = POLLIN };
		bool more = false;
		int n;

		memset(d, 0, sizeof(d));
		for (unsigned i = 0; i < 64; i++) {
			d[i].len = 10;
			d[i].data = txbuf[0];
			d[i].remote = bound_of(r);
		}
		assert_int_equal(vx6_os_udp_send(t, d, 64), 64);
		assert_int_equal(vx6_os_udp_send(t, d, 6), 6);
		assert_int_equal(poll(&p, 1, 1000), 1);
		n = vx6_os_udp_recv(r, rxbuf, SLOT, in, 64, &more);
		assert_int_equal(n, 64);
		assert_true(more);
		n = vx6_os_udp_recv(r, rxbuf, SLOT, in, 64, &more);
		assert_int_equal(n, 6);
		assert_false(more);
		assert_int_equal(vx6_os_udp_recv(r, rxbuf, SLOT, in, 64, &more), 0);
		assert_false(more);
		teardown(NULL);
	}
}

/* GRO: a GSO run of 64 arrives as one buffer; a caller taking 10 at a time
 * still gets all 64, in order, intact, with *more set until the last. The
 * socket says it holds the rest (vx6_os_udp_buffered): those are no longer
 * in the kernel, so a caller waiting for readiness would leave them waiting. */
static void
test_gro_split(void **state)
{
	struct vx6_os_udp *r = udp_open("[::1]:0", MODE_FULL), *t = udp_open("[::1]:0", MODE_FULL);
	struct vx6_os_dgram d[64], in[10];
	struct vx6_os_udp_info info;
	struct pollfd p = { .fd = vx6_os_udp_fd(r), .events = POLLIN };
	size_t got = 0;
	bool more = true;

	(void)state;
	memset(d, 0, sizeof(d));
	for (unsigned i = 0; i < 64; i++) {
		d[i].len = i == 63 ? 500 : 1200;   /* the last of a run may be shorter */
		fill(txbuf[i], d[i].len, i);
		d[i].data = txbuf[i];
		d[i].remote = bound_of(r);
	}
	assert_int_equal(vx6_os_udp_send(t, d, 64), 64);
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_false(vx6_os_udp_buffered(r));
	vx6_os_udp_info(r, &info);
	while (got < 64 && more) {
		int n = vx6_os_udp_recv(r, rxbuf, SLOT, in, 10, &more);
		assert_true(n >= 0 && n <= 10);
		if (info.gro && got == 0)
			assert_true(vx6_os_udp_buffered(r));   /* held, not in the kernel */
		for (int k = 0; k < n; k++, got++) {
			struct rx x = { .len = in[k].len };
			assert_true(in[k].len <= SLOT);
			memcpy(x.data, in[k].data, in[k].len);
			check_payload(&x, d[got].len, (unsigned)got);
		}
		if (n == 0 && !more)
			break;
	}
	assert_int_equal(got, 64);
	assert_false(vx6_os_udp_buffered(r));
	vx6_os_udp_info(r, &info);
	assert_int_equal(info.rx_truncated, 0);
	print_message("  gro %s\n", info.gro ? "yes" : "no (kernel < 5.0: plain receives)");
}

/* --- errors --------------------------------------------------------------------- */

static void
test_errors(void **state)
{
	struct vx6_os_udp *s4 = udp_open("127.0.0.1:0", MODE_FULL), *s;
	struct vx6_addr a;
	struct vx6_os_dgram d[VX6_OS_UDP_BATCH + 1];
	bool more = true;
	int err = 0;

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_null(vx6_os_udp_open(&a, &err));
	assert_int_equal(err, VX6_ERR_INVAL);
	a = bound_of(s4);
	assert_null(vx6_os_udp_open(&a, &err));
	assert_int_equal(err, VX6_ERR_EXISTS);
	a = A("192.0.2.1:0");   /* TEST-NET: not ours */
	assert_null(vx6_os_udp_open(&a, &err));
	assert_int_equal(err, VX6_ERR_UNREACHABLE);
	memset(d, 0, sizeof(d));
	d[0].remote = A("[::1]:9");
	d[0].data = (const uint8_t *)"x";
	d[0].len = 1;
	assert_int_equal(vx6_os_udp_send(s4, d, 1), VX6_ERR_INVAL);   /* IPv6 from IPv4 */
	assert_int_equal(vx6_os_udp_send(s4, d, VX6_OS_UDP_BATCH + 1), VX6_ERR_INVAL);
	assert_int_equal(vx6_os_udp_send(s4, d, 0), 0);
	assert_int_equal(vx6_os_udp_recv(s4, rxbuf, SLOT, d, 8, &more), 0);
	assert_false(more);
	/* Buffers: at least what a plain socket gets by default. */
	{
		int fd = socket(AF_INET, SOCK_DGRAM, 0), def_r = 0, def_s = 0;
		socklen_t l = sizeof(int);
		struct vx6_os_udp_info info;

		assert_true(fd >= 0);
		assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &def_r, &l), 0);
		l = sizeof(int);
		assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &def_s, &l), 0);
		close(fd);
		s = udp_open("[::]:0", MODE_FULL);
		vx6_os_udp_info(s, &info);
		print_message("  buffers: rcvbuf %d sndbuf %d (defaults %d %d)%s; gso %s; mmsg %s\n",
		    info.rcvbuf, info.sndbuf, def_r, def_s, info.buf_forced ? ", forced" : "",
		    info.gso ? "yes" : "no", info.mmsg ? "yes" : "no");
		assert_true(info.rcvbuf >= def_r);
		assert_true(info.sndbuf >= def_s);
		if (info.buf_forced) {
			assert_true(info.rcvbuf >= VX6_OS_UDP_BUFSIZE);
			assert_true(info.sndbuf >= VX6_OS_UDP_BUFSIZE);
		}
	}
}

/* --- no allocation per datagram --------------------------------------------------- */

/* 10048 datagrams (157 batches of 64) through send and receive: the
 * allocator is not called once. The counter is checked to work first. */
static void
test_no_alloc(void **state)
{
	struct vx6_os_udp *r = udp_open("[::]:0", MODE_FULL), *t = udp_open("[::1]:0", MODE_FULL);
	struct vx6_os_dgram d[64], in[64];
	unsigned long before;
	size_t total = 0;
	bool more;

	(void)state;
	install_alloc_hook();
	if (!alloc_hook_ok) {
		fprintf(stderr, "SKIPPED test_no_alloc: no allocation hook on this platform\n");
		skip();
	}
	before = n_allocs;
	free(malloc(16));
	assert_true(n_allocs > before);   /* the counter sees allocations */

	memset(d, 0, sizeof(d));
	for (unsigned i = 0; i < 64; i++) {
		d[i].len = 1000;
		fill(txbuf[i], 1000, i);
		d[i].data = txbuf[i];
		d[i].remote = at(r, "[::1]:0");
		d[i].ecn = 2;
	}
	/* Warm-up: first calls may set up lazily (the sanitizer's interceptors). */
	assert_int_equal(vx6_os_udp_send(t, d, 64), 64);
	{
		static struct rx got[64];
		assert_int_equal(rx_wait(r, got, 64, 64, 1000), 64);
	}
	before = n_allocs;
	for (int round = 0; round < 157; round++) {
		size_t got = 0;
		struct pollfd p = { .fd = vx6_os_udp_fd(r), .events = POLLIN };
		assert_int_equal(vx6_os_udp_send(t, d, 64), 64);
		while (got < 64) {
			int n = vx6_os_udp_recv(r, rxbuf, SLOT, in, 64, &more);
			assert_true(n >= 0);
			for (int i = 0; i < n; i++)
				assert_int_equal(in[i].len, 1000);
			got += (size_t)n;
			if (n == 0)
				assert_true(poll(&p, 1, 1000) == 1);
		}
		total += got;
	}
	assert_int_equal(total, 157 * 64);
	if (n_allocs != before)
		fail_msg("%lu allocations for %zu datagrams", n_allocs - before, total);
}

/* --- in a private network namespace ------------------------------------------------ */

static int saved_ns = -1;

/* Enters a new network namespace (lo up) and runs cmds there; false (and
 * back in the original namespace) when that is not possible here. */
static bool
enter_netns(const char *cmds)
{
	char line[512];

	saved_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved_ns < 0)
		return false;
	if (unshare(CLONE_NEWNET) != 0) {
		close(saved_ns);
		saved_ns = -1;
		return false;
	}
	snprintf(line, sizeof(line), "{ ip link set lo up && %s; } >/dev/null 2>&1", cmds);
	if (system(line) != 0) {
		(void)setns(saved_ns, CLONE_NEWNET);
		close(saved_ns);
		saved_ns = -1;
		return false;
	}
	return true;
}

/* Sockets opened inside stay in that namespace after leaving it. */
static int
leave_netns(void **state)
{
	teardown(state);
	if (saved_ns >= 0) {
		if (setns(saved_ns, CLONE_NEWNET) != 0)
			abort();   /* the rest of the run would be in the wrong network */
		close(saved_ns);
		saved_ns = -1;
	}
	return 0;
}

#define NETNS_SKIP(what) do { \
	fprintf(stderr, "SKIPPED %s: needs a private network namespace " \
	    "(unshare -n, root) with ip and tc\n", what); \
	skip(); \
} while (0)

/* tbf on lo holds packets, so they stay charged to the sender's buffer:
 * with a small SO_SNDBUF send soon reports fewer accepted than given, with
 * no error, counted in tx_full; batches later fail whole (0), not with an
 * error. (On plain loopback the sender's buffer never fills: loopback frees
 * each packet's charge as it is sent, so the receiver's buffer drops them.) */
static void
test_full_buffer(void **state)
{
	struct vx6_os_udp *r, *t;
	struct vx6_os_dgram d[64];
	struct vx6_os_udp_info info;
	int small = 4096, rc = 64, round;
	size_t sent = 0;

	(void)state;
	if (!enter_netns("tc qdisc add dev lo root tbf rate 100kbit burst 2kb limit 100mb"))
		NETNS_SKIP("test_full_buffer");
	for (enum mode m = MODE_FULL; m <= MODE_PLAIN; m++) {
		r = udp_open("[::1]:0", m);
		t = udp_open("[::1]:0", m);
		assert_int_equal(setsockopt(vx6_os_udp_fd(t), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
		memset(d, 0, sizeof(d));
		for (unsigned i = 0; i < 64; i++) {
			d[i].len = 1200;
			fill(txbuf[i], 1200, i);
			d[i].data = txbuf[i];
			d[i].remote = bound_of(r);
			d[i].ecn = i % 3 == 0 ? 2 : 0;   /* several runs, not one GSO send */
		}
		for (round = 0; round < 100 && rc == 64; round++) {
			rc = vx6_os_udp_send(t, d, 64);
			assert_true(rc >= 0);
			sent += (size_t)rc;
		}
		print_message("  %s: accepted %d of 64 in batch %d\n", mode_name[m], rc, round);
		assert_true(rc >= 0 && rc < 64);
		assert_int_equal(vx6_os_udp_send(t, d, 64), 0);   /* still full: none, no error */
		vx6_os_udp_info(t, &info);
		assert_true(info.tx_full >= (uint64_t)(64 - rc) + 64);
		rc = 64;
		teardown(NULL);
	}
	(void)sent;
}

/* lo at MTU 1280: a 1300-byte datagram is refused (don't-fragment: never
 * split locally), a 1200-byte one passes; a run of 1300-byte datagrams is
 * refused as too large and GSO stays on, since it was not the cause. A second IPv6 address on lo shows
 * source selection that the kernel would not have made itself. */
static void
test_mtu_and_source(void **state)
{
	static uint8_t p[1300];
	struct vx6_os_udp *r, *t, *t4, *r4;
	struct vx6_os_dgram d[3];
	struct vx6_os_udp_info info;
	static struct rx got[4];

	(void)state;
	if (!enter_netns("ip link set lo mtu 1280 && ip -6 addr add fd42::5/128 dev lo nodad"))
		NETNS_SKIP("test_mtu_and_source");
	r = udp_open("[::1]:0", MODE_FULL);
	t = udp_open("[::]:0", MODE_FULL);
	r4 = udp_open("127.0.0.1:0", MODE_FULL);
	t4 = udp_open("127.0.0.1:0", MODE_FULL);
	memset(d, 0, sizeof(d));
	for (int i = 0; i < 3; i++) {
		d[i].remote = bound_of(r);
		d[i].data = p;
		d[i].len = 1300;
	}
	assert_int_equal(vx6_os_udp_send(t, d, 1), VX6_ERR_TOO_LARGE);
	d[0].remote = bound_of(r4);
	assert_int_equal(vx6_os_udp_send(t4, d, 1), VX6_ERR_TOO_LARGE);
	d[0].remote = bound_of(r);
	assert_int_equal(vx6_os_udp_send(t, d, 3), VX6_ERR_TOO_LARGE);
	vx6_os_udp_info(t, &info);
	assert_true(info.gso);   /* a refused datagram does not turn GSO off */
	for (int i = 0; i < 3; i++)
		d[i].len = 1200;
	assert_int_equal(vx6_os_udp_send(t, d, 3), 3);
	assert_int_equal(rx_wait(r, got, 4, 3, 1000), 3);
	vx6_os_udp_info(t, &info);
	assert_true(info.gso);
	/* Source selection: fd42::5 instead of the ::1 the kernel picks for ::1. */
	d[0].local = A("[fd42::5]:0");
	assert_int_equal(vx6_os_udp_send(t, d, 1), 1);
	assert_int_equal(rx_wait(r, got, 4, 1, 1000), 1);
	assert_addr(got[0].remote, (struct vx6_addr){ .family = 6, .port = bound_of(t).port,
	    .ip = { 0xfd, 0x42, [15] = 5 } });
	/* And a reply to fd42::5 arrives on the [::] socket with it as local. */
	d[0].local = (struct vx6_addr){ 0 };
	d[0].remote = at(t, "[fd42::5]:0");
	d[0].len = 33;
	assert_int_equal(vx6_os_udp_send(r, d, 1), 1);
	assert_int_equal(rx_wait(t, got, 4, 1, 1000), 1);
	assert_addr(got[0].local, at(t, "[fd42::5]:0"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_batch64, teardown),
		cmocka_unit_test_teardown(test_gso_batch, teardown),
		cmocka_unit_test_teardown(test_gso_fallback, teardown),
		cmocka_unit_test_teardown(test_gro_split, teardown),
		cmocka_unit_test_teardown(test_mixed_flows, teardown),
		cmocka_unit_test_teardown(test_ecn, teardown),
		cmocka_unit_test_teardown(test_source_address, teardown),
		cmocka_unit_test_teardown(test_dual_stack, teardown),
		cmocka_unit_test_teardown(test_oversize, teardown),
		cmocka_unit_test_teardown(test_recv_more, teardown),
		cmocka_unit_test_teardown(test_errors, teardown),
		cmocka_unit_test_teardown(test_no_alloc, teardown),
		cmocka_unit_test_teardown(test_full_buffer, leave_netns),
		cmocka_unit_test_teardown(test_mtu_and_source, leave_netns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
