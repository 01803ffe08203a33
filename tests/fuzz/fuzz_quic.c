/*
 * fuzz_quic — the QUIC transport's datagram entry points
 * (src/transport/quic.h, docs/protocol-quic-draft.md).
 *
 * Setup (once): fixed identities A (client) and B (server); a real client
 * connection of A writes its first datagram, a valid Initial, kept as
 * `initial` (TLS randomness comes from GnuTLS, so its bytes differ between
 * processes; everything else uses seeded RNGs and a fake clock).
 *
 * Byte 0 picks the mode (mod 4); the rest is:
 *   0  one datagram to vx6_quic_ep_classify() on a fresh server ep; an
 *      RX_NEW goes on to vx6_quic_accept();
 *   1  one datagram to vx6_quic_recv() of a server connection created from
 *      `initial`, then its output is drained and its timers run;
 *   2  a sequence of datagrams, each [op u8][len u16][bytes]: op bit 0
 *      picks the source address, bit 1 XORs the bytes onto `initial`
 *      (so mutations of a valid Initial get past the header checks), bit 2
 *      advances the clock by len ms first; each goes through classify and
 *      then recv / accept / the reply path, like an adapter would;
 *   3  a real client A and server B finish a handshake in memory; the input
 *      is a sequence of operations on either side: open, send within
 *      credit, fin, reset, consume, RPC, datagram, raw bytes injected on
 *      the control stream / a new stream / an existing stream
 *      (vx6_quic_test_send_raw: malformed OPEN headers, ACCEPT markers and
 *      control messages inside real packets), delivery of what is in flight
 *      (all, or with datagrams dropped, duplicated or bit-flipped), clock
 *      steps, migration, close.
 *
 * Invariants (__builtin_trap):
 *   - classify never returns RX_CONN for an ep without connections, never
 *     replies with as many bytes as it got, and counts connections right;
 *   - on_closed comes at most once per connection, after every stream it
 *     knew got on_reset; no stream event names a stream after it ended or
 *     after on_closed; no callback runs during vx6_quic_free();
 *   - the connection's recv_buffered equals bytes delivered minus consumed;
 *     consuming more is refused (VX6_ERR_INVAL);
 *   - credit never exceeds one frame and a send within credit succeeds;
 *   - write never produces more than VX6_QUIC_MAX_DGRAM bytes;
 *   - while only the API was used (datagrams dropped, damaged or
 *     duplicated on the way are fine), no connection ends with a protocol,
 *     malformed-input or crypto error.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "crypto/identity.h"
#include "lib/chunk.h"
#include "lib/cursor.h"
#include "lib/env.h"
#include "lib/err.h"
#include "lib/log.h"
#include "transport/quic.h"
#include "transport/quic_internal.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_quic: invariant failed at line %d: %s\n", __LINE__, #cond); \
	__builtin_trap(); } } while (0)

#define MS VX6_NS_PER_MS
#define T0 (1000 * VX6_NS_PER_SEC)
#define MAX_SIDS 64
#define MAX_CONNS 8
#define MAX_OUT 256

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vx6_identity id_a, id_b;
static struct vx6_log quiet;
static uint8_t initial[VX6_QUIC_MAX_DGRAM];
static size_t initial_len;
static struct vx6_addr addr_a, addr_b, addr_c, addr_a2;

struct env {
	struct vx6_det_rng rng;
	struct vx6_env env;
};

static void
env_init(struct env *e, uint64_t seed)
{
	vx6_det_rng_init(&e->rng, seed);
	e->env.random = vx6_det_rng_fill;
	e->env.random_ud = &e->rng;
	e->env.log = &quiet;
}

static void
addr_make(struct vx6_addr *a, uint8_t last, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = 6;
	a->transport = VX6_TRANSPORT_QUIC;
	a->ip[0] = 0xfd;
	a->ip[1] = 0x42;
	a->ip[15] = last;
	a->port = port;
}

static void
config(struct vx6_quic_config *c, const struct vx6_identity *id, const uint8_t *expect)
{
	memset(c, 0, sizeof(*c));
	c->local = id;
	c->settings.stream_window = 16384;
	c->settings.session_window = 65536;
	c->settings.max_streams = 16;
	c->handshake_timeout = 5 * VX6_NS_PER_SEC;
	c->keepalive_interval = 2 * VX6_NS_PER_SEC;
	c->idle_timeout = 10 * VX6_NS_PER_SEC;
	if (expect) {
		c->have_expected_key = true;
		memcpy(c->expected_key, expect, VX6_KEY_LEN);
	}
}

/* --- The application: state every callback checks ------------------------- */

struct side {
	const char *name;
	struct vx6_quic *q;
	bool closed;
	int close_err;
	bool in_free;
	bool auto_accept;
	uint64_t delivered, consumed;
	uint32_t sids[MAX_SIDS];     /* streams the application knows */
	bool fin[MAX_SIDS];
	int nsids;
};

static int
sid_index(const struct side *s, uint32_t sid)
{
	for (int i = 0; i < s->nsids; i++)
		if (s->sids[i] == sid)
			return i;
	return -1;
}

static void
sid_add(struct side *s, uint32_t sid)
{
	CHECK(sid_index(s, sid) < 0);
	if (s->nsids < MAX_SIDS) {
		s->fin[s->nsids] = false;
		s->sids[s->nsids++] = sid;
	}
}

static void
sid_del(struct side *s, uint32_t sid)
{
	int i = sid_index(s, sid);

	if (i >= 0) {
		s->sids[i] = s->sids[--s->nsids];
		s->fin[i] = s->fin[s->nsids];
	}
}

static void
cb_established(void *ud)
{
	struct side *s = ud;

	CHECK(!s->in_free && !s->closed);
}

static void
cb_open(void *ud, uint32_t sid, const char *service)
{
	struct side *s = ud;

	CHECK(!s->in_free && !s->closed);
	CHECK(sid != 0 && service != NULL && strlen(service) >= 1 && strlen(service) <= VX6_FRAME_MAX_SERVICE);
	sid_add(s, sid);
	if (s->auto_accept)
		CHECK(vx6_quic_accept_stream(s->q, sid) == 0);
}

static void
cb_accept(void *ud, uint32_t sid)
{
	struct side *s = ud;

	CHECK(!s->in_free && !s->closed);
	CHECK(sid_index(s, sid) >= 0 || s->nsids == MAX_SIDS);
}

static void
cb_data(void *ud, uint32_t sid, struct vx6_chunk *c)
{
	struct side *s = ud;
	struct vx6_session_info info;

	CHECK(!s->in_free && !s->closed);
	CHECK(c != NULL && c->len > 0);
	s->delivered += c->len;
	vx6_quic_info(s->q, &info);
	CHECK(info.mux.recv_buffered == s->delivered - s->consumed);
	if (c->len & 1) {   /* consume some at once, the rest later */
		CHECK(vx6_quic_consumed(s->q, sid, c->len) == 0);
		s->consumed += c->len;
	}
	vx6_chunk_free(c);
}

static void
cb_fin(void *ud, uint32_t sid)
{
	struct side *s = ud;
	int i = sid_index(s, sid);

	CHECK(!s->in_free && !s->closed);
	if (i >= 0) {
		CHECK(!s->fin[i]);
		s->fin[i] = true;
	}
}

static void
cb_reset(void *ud, uint32_t sid, uint16_t code, const char *reason, bool remote)
{
	struct side *s = ud;

	(void)code;
	CHECK(!s->in_free && !s->closed);
	CHECK(reason != NULL && strlen(reason) < 512);
	CHECK(remote || sid_index(s, sid) >= 0 || s->nsids == MAX_SIDS);
	sid_del(s, sid);
}

static void
cb_writable(void *ud, uint32_t sid)
{
	struct side *s = ud;

	(void)sid;
	CHECK(!s->in_free && !s->closed);
}

static void
cb_closed(void *ud, int err, const char *reason)
{
	struct side *s = ud;

	CHECK(!s->in_free && !s->closed);
	CHECK(reason != NULL);
	s->closed = true;
	s->close_err = err;
	s->nsids = 0;   /* every stream got on_reset before (checked there) */
}

static void
cb_rpc(void *ud, const uint8_t *msg, size_t len)
{
	struct side *s = ud;

	CHECK(!s->in_free && !s->closed);
	CHECK(msg != NULL && len >= 1 && len <= VX6_FRAME_MAX_RPC);
}

static void
cb_dgram(void *ud, const uint8_t *msg, size_t len)
{
	struct side *s = ud;

	CHECK(!s->in_free && !s->closed);
	CHECK(msg != NULL || len == 0);
}

static const struct vx6_session_cbs cbs = {
	.on_established = cb_established,
	.stream = {
		.on_open = cb_open,
		.on_accept = cb_accept,
		.on_data = cb_data,
		.on_fin = cb_fin,
		.on_reset = cb_reset,
		.on_writable = cb_writable,
	},
	.on_closed = cb_closed,
	.on_rpc = cb_rpc,
};

static void
side_free(struct side *s)
{
	s->in_free = true;
	vx6_quic_free(s->q);
	s->q = NULL;
	s->in_free = false;
}

/* --- Setup ------------------------------------------------------------- */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct vx6_quic_ep_config ec;
	struct vx6_quic_config cfg;
	struct vx6_quic_ep *ep;
	struct vx6_quic *q;
	struct env e;
	struct vx6_addr to;
	uint8_t seed[VX6_SEED_LEN];
	int n;

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	memset(seed, 0xa1, sizeof(seed));
	vx6_identity_from_seed(&id_a, seed);
	memset(seed, 0xb2, sizeof(seed));
	vx6_identity_from_seed(&id_b, seed);
	quiet.level = VX6_LOG_ERROR;
	quiet.sink = NULL;
	addr_make(&addr_a, 1, 50001);
	addr_make(&addr_b, 2, 4433);
	addr_make(&addr_c, 3, 50002);
	addr_make(&addr_a2, 9, 50999);
	env_init(&e, 7);
	vx6_quic_ep_config_defaults(&ec);
	ec.local = &id_a;
	ep = vx6_quic_ep_new(&ec, &e.env);
	config(&cfg, &id_a, id_b.pk);
	q = vx6_quic_connect(ep, &cfg, &e.env, &cbs, NULL, &addr_a, &addr_b, T0);
	if (ep == NULL || q == NULL)
		abort();
	n = vx6_quic_write(q, T0, &to, initial, sizeof(initial));
	if (n < 1200)
		abort();
	initial_len = (size_t)n;
	vx6_quic_free(q);
	vx6_quic_ep_free(ep);
	return 0;
}

static struct vx6_quic_ep *
server_ep(struct env *e, uint32_t max_hs, uint32_t retry_above)
{
	struct vx6_quic_ep_config ec;
	struct vx6_quic_ep *ep;

	vx6_quic_ep_config_defaults(&ec);
	ec.local = &id_b;
	ec.max_handshakes = max_hs;
	ec.retry_above = retry_above;
	ep = vx6_quic_ep_new(&ec, &e->env);
	CHECK(ep != NULL);
	return ep;
}

/* Drains a connection's output (bounded); returns the datagrams written. */
static int
drain(struct vx6_quic *q, uint64_t now)
{
	uint8_t buf[VX6_QUIC_MAX_DGRAM];
	struct vx6_addr to;
	int n, k = 0;

	while (k < 64 && (n = vx6_quic_write(q, now, &to, buf, sizeof(buf))) > 0) {
		CHECK(n <= VX6_QUIC_MAX_DGRAM);
		k++;
	}
	return k;
}

/* --- Modes 0-2: datagrams to a server ---------------------------------------- */

static void
mode_classify(const uint8_t *d, size_t n)
{
	struct env e;
	struct vx6_quic_ep *ep;
	struct vx6_quic *q = NULL;
	uint8_t reply[VX6_QUIC_MAX_DGRAM];
	size_t rlen;
	enum vx6_quic_rx rx;
	struct vx6_quic_stats st;
	struct vx6_quic_config cfg;
	struct side s = { .name = "B" };

	env_init(&e, 11);
	ep = server_ep(&e, n & 1 ? 1 : 64, n & 2 ? 0 : 16);
	rx = vx6_quic_ep_classify(ep, &addr_b, &addr_a, d, n, T0, &q, reply, &rlen);
	CHECK(rx != VX6_QUIC_RX_CONN && q == NULL);
	if (rx == VX6_QUIC_RX_REPLY)
		CHECK(rlen > 0 && rlen < n);
	if (rx == VX6_QUIC_RX_NEW) {
		config(&cfg, &id_b, NULL);
		s.q = vx6_quic_accept(ep, &cfg, &e.env, &cbs, &s, &addr_b, &addr_a, d, n, T0);
		if (s.q)
			drain(s.q, T0);
		side_free(&s);
	}
	vx6_quic_ep_stats(ep, &st);
	CHECK(st.connections == 0 && st.handshakes == 0);
	vx6_quic_ep_free(ep);
}

static void
mode_recv(const uint8_t *d, size_t n)
{
	struct env e;
	struct vx6_quic_ep *ep;
	struct vx6_quic_config cfg;
	struct side s = { .name = "B", .auto_accept = true };

	env_init(&e, 12);
	ep = server_ep(&e, 64, 16);
	config(&cfg, &id_b, NULL);
	s.q = vx6_quic_accept(ep, &cfg, &e.env, &cbs, &s, &addr_b, &addr_a, initial, initial_len, T0);
	CHECK(s.q != NULL);
	drain(s.q, T0);
	(void)vx6_quic_recv(s.q, &addr_b, n & 1 ? &addr_c : &addr_a, d, n, T0 + MS);
	drain(s.q, T0 + MS);
	(void)vx6_quic_handle_expiry(s.q, T0 + 400 * MS);
	drain(s.q, T0 + 400 * MS);
	side_free(&s);
	vx6_quic_ep_free(ep);
}

static void
mode_sequence(const uint8_t *d, size_t n)
{
	struct env e;
	struct vx6_quic_ep *ep;
	struct vx6_quic_config cfg;
	struct side s[MAX_CONNS];
	int ns = 0;
	struct vx6_reader r;
	uint64_t now = T0;
	uint8_t buf[VX6_QUIC_MAX_DGRAM], reply[VX6_QUIC_MAX_DGRAM];

	memset(s, 0, sizeof(s));
	env_init(&e, 13);
	ep = server_ep(&e, 3, 1);
	config(&cfg, &id_b, NULL);
	vx6_reader_init(&r, d, n);
	while (vx6_reader_left(&r) >= 3) {
		uint8_t op = vx6_read_u8(&r);
		size_t len = vx6_read_u16(&r), rlen;
		const uint8_t *p;
		const struct vx6_addr *from = op & 1 ? &addr_c : &addr_a;
		struct vx6_quic *q = NULL;
		enum vx6_quic_rx rx;

		if (len > vx6_reader_left(&r))
			len = vx6_reader_left(&r);
		if (len > sizeof(buf))
			len = sizeof(buf);
		p = vx6_read_ptr(&r, len);
		if (op & 4) {
			now += (uint64_t)len * MS;
			for (int i = 0; i < ns; i++)
				if (s[i].q && vx6_quic_expiry(s[i].q) <= now) {
					(void)vx6_quic_handle_expiry(s[i].q, now);
					drain(s[i].q, now);
				}
		}
		if (op & 2) {
			memcpy(buf, initial, initial_len);
			for (size_t i = 0; i < len && i < initial_len; i++)
				buf[i] ^= p[i];
			len = initial_len;
		} else if (len > 0) {
			memcpy(buf, p, len);
		}
		rx = vx6_quic_ep_classify(ep, &addr_b, from, buf, len, now, &q, reply, &rlen);
		switch (rx) {
		case VX6_QUIC_RX_CONN:
			CHECK(q != NULL);
			for (int i = 0; i < ns; i++)
				if (s[i].q == q) {
					(void)vx6_quic_recv(q, &addr_b, from, buf, len, now);
					drain(q, now);
				}
			break;
		case VX6_QUIC_RX_NEW:
			if (ns < MAX_CONNS) {
				s[ns].name = "B";
				s[ns].auto_accept = true;
				s[ns].q = vx6_quic_accept(ep, &cfg, &e.env, &cbs, &s[ns], &addr_b, from, buf, len, now);
				if (s[ns].q) {
					drain(s[ns].q, now);
					ns++;
				}
			}
			break;
		case VX6_QUIC_RX_REPLY:
			CHECK(rlen > 0 && rlen < len);
			break;
		default:
			break;
		}
	}
	for (int i = 0; i < ns; i++)
		side_free(&s[i]);
	{
		struct vx6_quic_stats st;
		vx6_quic_ep_stats(ep, &st);
		CHECK(st.connections == 0 && st.handshakes == 0);
	}
	vx6_quic_ep_free(ep);
}

/* --- Mode 3: two real peers ------------------------------------------------- */

struct dgram {
	struct vx6_addr from, to;
	size_t len;
	uint8_t data[VX6_QUIC_MAX_DGRAM];
};

struct duo {
	struct env ea, eb;
	struct vx6_quic_ep *epa, *epb;
	struct vx6_quic_config ca, cb;
	struct side a, b;
	struct vx6_addr la;         /* A's current address */
	uint64_t now;
	struct dgram *out;          /* in flight */
	int nout;
	bool injected;              /* raw bytes went out: the peer may rightly fail */
};

static void
collect(struct duo *u, struct side *s, const struct vx6_addr *from)
{
	int n;

	if (s->q == NULL)
		return;
	for (int k = 0; k < 64 && u->nout < MAX_OUT; k++) {
		struct dgram *g = &u->out[u->nout];
		n = vx6_quic_write(s->q, u->now, &g->to, g->data, sizeof(g->data));
		CHECK(n <= VX6_QUIC_MAX_DGRAM);
		if (n <= 0)
			break;
		g->from = *from;
		g->len = (size_t)n;
		u->nout++;
	}
}

static void
deliver_one(struct duo *u, const struct dgram *g)
{
	struct vx6_quic_ep *ep;
	struct side *s;
	struct vx6_quic *q = NULL;
	uint8_t reply[VX6_QUIC_MAX_DGRAM];
	size_t rlen;
	enum vx6_quic_rx rx;

	if (vx6_addr_equal(&g->to, &addr_b)) {
		ep = u->epb;
		s = &u->b;
	} else if (vx6_addr_equal(&g->to, &u->la)) {
		ep = u->epa;
		s = &u->a;
	} else {
		return;
	}
	rx = vx6_quic_ep_classify(ep, &g->to, &g->from, g->data, g->len, u->now, &q, reply, &rlen);
	if (rx == VX6_QUIC_RX_CONN && s->q != NULL && q == s->q)
		(void)vx6_quic_recv(q, &g->to, &g->from, g->data, g->len, u->now);
	if (rx == VX6_QUIC_RX_NEW && s == &u->b && s->q == NULL)
		s->q = vx6_quic_accept(ep, &u->cb, &u->eb.env, &cbs, s, &g->to, &g->from, g->data, g->len, u->now);
	if (rx == VX6_QUIC_RX_REPLY)
		CHECK(rlen < g->len);
}

/* Moves what is in flight; mask bits pick per datagram: drop, duplicate,
 * flip a bit (each only when `how` allows it). */
static void
exchange(struct duo *u, uint8_t how, uint32_t mask)
{
	struct dgram *g = malloc(sizeof(*g) * MAX_OUT);
	int n;

	CHECK(g != NULL);
	collect(u, &u->a, &u->la);
	collect(u, &u->b, &addr_b);
	n = u->nout;
	memcpy(g, u->out, sizeof(*g) * (size_t)n);
	u->nout = 0;
	for (int i = 0; i < n; i++) {
		bool bit = (mask >> (i % 32)) & 1;
		if (bit && (how & 1))
			continue;   /* dropped */
		if (bit && (how & 2) && g[i].len > 0)   /* damaged: QUIC discards it */
			g[i].data[(mask + (uint32_t)i) % g[i].len] ^= (uint8_t)(1u << (i % 8));
		deliver_one(u, &g[i]);
		if (bit && (how & 4))
			deliver_one(u, &g[i]);   /* duplicated: QUIC discards it */
	}
	free(g);
}

static void
settle(struct duo *u, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		exchange(u, 0, 0);
		u->now += 5 * MS;
		if (u->a.q && vx6_quic_expiry(u->a.q) <= u->now)
			(void)vx6_quic_handle_expiry(u->a.q, u->now);
		if (u->b.q && vx6_quic_expiry(u->b.q) <= u->now)
			(void)vx6_quic_handle_expiry(u->b.q, u->now);
	}
}

static struct side *
pick(struct duo *u, uint8_t b)
{
	return b & 0x80 ? &u->b : &u->a;
}

static uint32_t
pick_sid(const struct side *s, uint8_t b)
{
	return s->nsids ? s->sids[b % s->nsids] : 1u + b;
}

static void
mode_duo(const uint8_t *d, size_t n)
{
	struct duo *u = calloc(1, sizeof(*u));
	struct vx6_reader r;
	struct vx6_quic_ep_config ec;
	uint8_t tmp[VX6_FRAME_MAX_RPC];

	CHECK(u != NULL);
	u->out = calloc(MAX_OUT, sizeof(*u->out));
	CHECK(u->out != NULL);
	u->now = T0;
	u->la = addr_a;
	env_init(&u->ea, 21);
	env_init(&u->eb, 22);
	vx6_quic_ep_config_defaults(&ec);
	ec.local = &id_a;
	u->epa = vx6_quic_ep_new(&ec, &u->ea.env);
	u->epb = server_ep(&u->eb, 4, 4);
	CHECK(u->epa != NULL);
	config(&u->ca, &id_a, id_b.pk);
	config(&u->cb, &id_b, NULL);
	u->a.name = "A";
	u->b.name = "B";
	u->a.auto_accept = u->b.auto_accept = true;
	u->a.q = vx6_quic_connect(u->epa, &u->ca, &u->ea.env, &cbs, &u->a, &u->la, &addr_b, u->now);
	CHECK(u->a.q != NULL);
	vx6_quic_set_datagram_cb(u->a.q, cb_dgram);
	settle(u, 20);
	if (u->b.q)
		vx6_quic_set_datagram_cb(u->b.q, cb_dgram);
	CHECK(u->a.q && u->b.q && vx6_quic_is_established(u->a.q) && vx6_quic_is_established(u->b.q));

	vx6_reader_init(&r, d, n);
	while (vx6_reader_left(&r) >= 2) {
		uint8_t op = vx6_read_u8(&r), arg = vx6_read_u8(&r);
		struct side *s = pick(u, arg);
		uint32_t sid;
		size_t len, credit;
		struct vx6_chunk *c;
		struct vx6_session_info info;

		if (s->q == NULL)
			continue;
		switch (op % 12) {
		case 0:   /* open */
			if (vx6_quic_open(s->q, arg & 1 ? "echo" : "svc.b-1", &sid) == 0)
				sid_add(s, sid);
			break;
		case 1:   /* send within credit */
			sid = pick_sid(s, arg);
			credit = vx6_quic_credit(s->q, sid);
			CHECK(credit <= VX6_FRAME_MAX_DATA);
			len = 1 + (size_t)(arg & 0x7f) * 97;
			if (len > credit)
				len = credit;
			if (len > 0) {
				c = vx6_chunk_new(0, len, 0);
				CHECK(c != NULL);
				memset(vx6_chunk_ptr(c), arg, len);
				c->len = (uint32_t)len;
				CHECK(vx6_quic_send(s->q, sid, c) == 0);
			}
			break;
		case 2:
			sid = pick_sid(s, arg);
			if (vx6_quic_fin(s->q, sid) == 0 && !vx6_quic_stream_exists(s->q, sid))
				sid_del(s, sid);
			break;
		case 3:
			sid = pick_sid(s, arg);
			(void)vx6_quic_reset(s->q, sid, arg & 0x0f, "fuzz");
			sid_del(s, sid);
			break;
		case 4:   /* consume what is pending */
			vx6_quic_info(s->q, &info);
			CHECK(vx6_quic_consumed(s->q, pick_sid(s, arg), info.mux.recv_buffered + 1) ==
			    (vx6_quic_is_closed(s->q) ? VX6_ERR_CLOSED : VX6_ERR_INVAL));
			if (vx6_quic_consumed(s->q, pick_sid(s, arg), info.mux.recv_buffered) == 0)
				s->consumed += info.mux.recv_buffered;
			break;
		case 5:   /* RPC */
			len = vx6_reader_left(&r) < (size_t)arg ? vx6_reader_left(&r) : arg;
			memcpy(tmp, vx6_read_ptr(&r, len), len);
			(void)vx6_quic_send_rpc(s->q, tmp, len);
			break;
		case 6:   /* datagram */
			len = vx6_reader_left(&r) < (size_t)arg ? vx6_reader_left(&r) : arg;
			memcpy(tmp, vx6_read_ptr(&r, len), len);
			(void)vx6_quic_send_datagram(s->q, tmp, len);
			break;
		case 7:   /* raw bytes: control stream, a new stream, or a stream */
			len = vx6_reader_left(&r) < (size_t)(arg & 0x3f) ? vx6_reader_left(&r) : (size_t)(arg & 0x3f);
			memcpy(tmp, vx6_read_ptr(&r, len), len);
			sid = (arg & 0x40) ? VX6_QUIC_TEST_CONTROL : (len & 1) ? VX6_QUIC_TEST_NEW : pick_sid(s, arg);
			{
				uint32_t opened = 0;
				if (vx6_quic_test_send_raw(s->q, sid, tmp, len, (arg & 0x21) == 0x21, &opened) == 0)
					u->injected = true;
				if (opened)
					sid_add(s, opened);
			}
			break;
		case 8:   /* deliver, maybe dropping / flipping / duplicating */
			exchange(u, arg & 7, vx6_reader_left(&r) >= 4 ? vx6_read_u32(&r) : 0);
			break;
		case 9:   /* time passes */
			u->now += (uint64_t)(arg & 0x7f) * 10 * MS;
			if (vx6_quic_expiry(s->q) <= u->now)
				(void)vx6_quic_handle_expiry(s->q, u->now);
			break;
		case 10:  /* A moves */
			if (s == &u->a) {
				u->la = vx6_addr_equal(&u->la, &addr_a) ? addr_a2 : addr_a;
				if (vx6_quic_migrate(u->a.q, &u->la, u->now) != 0)
					u->la = vx6_addr_equal(&u->la, &addr_a) ? addr_a2 : addr_a;
			}
			break;
		case 11:
			if (arg == 0xff)
				vx6_quic_close(s->q, VX6_CLOSE_NORMAL, "fuzz close");
			break;
		}
	}
	settle(u, 10);
	if (!u->injected) {
		/* Only the API was used (loss, damage and duplicates are not the
		 * peer's fault): nothing may end in a protocol error. */
		CHECK(!u->a.closed || (u->a.close_err != VX6_ERR_PROTOCOL && u->a.close_err != VX6_ERR_MALFORMED &&
					  u->a.close_err != VX6_ERR_CRYPTO));
		CHECK(!u->b.closed || (u->b.close_err != VX6_ERR_PROTOCOL && u->b.close_err != VX6_ERR_MALFORMED &&
					  u->b.close_err != VX6_ERR_CRYPTO));
	}
	side_free(&u->a);
	side_free(&u->b);
	vx6_quic_ep_free(u->epa);
	vx6_quic_ep_free(u->epb);
	free(u->out);
	free(u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		mode_classify(data + 1, size - 1);
		break;
	case 1:
		mode_recv(data + 1, size - 1);
		break;
	case 2:
		mode_sequence(data + 1, size - 1);
		break;
	default:
		mode_duo(data + 1, size - 1);
		break;
	}
	return 0;
}
