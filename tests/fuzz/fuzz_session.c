/*
 * fuzz_session — two real sessions (src/core/session.h) and their muxes,
 * driven by the fuzz input (docs/PROTOCOL.md §2-§7).
 *
 * Feeds: a dialer A and an acceptor B (fixed identities, deterministic RNGs,
 * no log sink, a fake clock) complete a real handshake and open a stream
 * each. Byte 0 picks the setup (IK / XX / forced XX, AEADs, small windows,
 * frequent rekeys, a small output budget, how the application consumes and
 * writes). The rest is a sequence of operations, each on side A or B:
 *   - inject a record of arbitrary plaintext with
 *     vx6_session_test_send_record() (malformed frames inside correctly
 *     encrypted records reach the peer's frame parser and mux), or a
 *     synthesized DATA frame of any length;
 *   - deliver raw bytes straight into vx6_session_recv() (garbage on the wire);
 *   - API calls: open, send (within credit or not), fin, reset, accept,
 *     consumed (also too much), credit, RPC, close, transport lost;
 *   - advance the clock and run expired timers;
 *   - move output to the peer: all of it, or with one record tampered with,
 *     dropped, or replayed afterwards.
 * The callbacks act like an application: they free every chunk, call
 * vx6_session_consumed() for delivered bytes (at once or later), accept or
 * refuse incoming streams, and may write when a stream becomes writable.
 * Both sessions are freed at the end, never inside a callback.
 *
 * Invariants (__builtin_trap):
 *   - on_closed comes once per session, after every stream got on_reset; no
 *     event ever names a stream after it ended; on_fin comes once per stream;
 *     no callback runs during vx6_session_free();
 *   - the mux's recv_buffered equals bytes delivered minus bytes consumed,
 *     and its open-stream count equals the streams the application knows;
 *   - consuming more than was delivered is refused (VX6_ERR_INVAL);
 *   - sending within the credit vx6_session_credit() reported succeeds
 *     (or hits the output budget); the credit never exceeds one frame;
 *   - a tampered, dropped-before or replayed record is never accepted;
 *   - after vx6_session_handle_expiry() the next expiry is in the future;
 *   - while only the API was used (nothing injected, tampered or dropped,
 *     no output budget hit): every stream delivers exactly the bytes the
 *     peer sent, in order, up to its FIN; ACCEPT arrives only for our own
 *     unaccepted streams; and a session ends only by close, GOAWAY, timeout
 *     or transport loss, never by a protocol, flow-control or crypto error.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "core/session.h"
#include "crypto/aead.h"
#include "crypto/identity.h"
#include "lib/chunk.h"
#include "lib/cursor.h"
#include "lib/env.h"
#include "lib/err.h"
#include "lib/log.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_session: invariant failed at line %d: %s\n", __LINE__, #cond); \
	__builtin_trap(); } } while (0)

#define MAX_TRACK 64
#define MAX_OPS 512
#define T0 (1000 * VX6_NS_PER_SEC)
#define UNIT_MAX (VX6_RECORD_LEN_BYTES + VX6_RECORD_MAX_CT)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vx6_identity id_a, id_b;   /* fixed after initialization */
static const struct vx6_log quiet = { VX6_LOG_ERROR, NULL, NULL };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[VX6_SEED_LEN];

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	memset(seed, 0xa1, sizeof(seed));
	if (vx6_identity_from_seed(&id_a, seed) != 0)
		abort();
	memset(seed, 0xb2, sizeof(seed));
	if (vx6_identity_from_seed(&id_b, seed) != 0)
		abort();
	return 0;
}

/* --- the input as a stream of small values --- */

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t
in_u8(struct input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t
in_u16(struct input *in)
{
	uint16_t hi = in_u8(in);
	return (uint16_t)((hi << 8) | in_u8(in));
}

static const uint8_t *
in_bytes(struct input *in, size_t *len)
{
	const uint8_t *p = in->p;

	if (*len > in->n)
		*len = in->n;
	in->p += *len;
	in->n -= *len;
	return p;
}

/* --- what the application on each side knows --- */

struct tstream {
	uint32_t sid;
	bool local;          /* this side opened it */
	bool accepted;       /* local: the peer accepted; remote: we accepted */
	bool fin_sent, fin_recv;
	bool gone;           /* reset (either side) or ended (both FINs) */
	uint64_t sent, recvd;
	uint64_t pending;    /* delivered on this stream, not yet consumed */
};

struct harness;

struct party {
	struct harness *h;
	int idx;
	struct vx6_session *s;
	struct vx6_session_config cfg;
	struct vx6_det_rng rng;
	struct vx6_env env;
	struct tstream st[MAX_TRACK];
	size_t nst;
	bool overflow;               /* a stream was not tracked */
	uint64_t delivered;          /* delivered to on_data, not yet consumed */
	uint64_t loose;              /* part of it on streams not tracked */
	int closed_calls;
	int close_err;
	bool was_established;        /* at the previous take_output */
	uint8_t *last_rec;           /* the last record it accepted (for replay) */
	size_t last_rec_len;
};

struct harness {
	struct party p[2];
	uint64_t now;
	bool consume_now;            /* on_data consumes at once */
	bool write_on_writable;
	bool tainted;                /* bytes not from the API reached a session */
	bool misaligned;             /* raw bytes may have split the unit stream */
	bool limited;                /* an output budget was hit */
	bool freeing;
};

/* Stream bytes are a function of (stream id, offset), so the receiver can
 * check them. The byte loops are left uninstrumented: they are hot and have
 * nothing for the fuzzer to learn. */
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))

#define PATTERN(sid, off) ((uint8_t)(((off) * 131u) ^ ((off) >> 9) ^ ((sid) * 29u)))

NO_COVERAGE static void
fill_pattern(uint8_t *q, size_t len, uint32_t sid, uint64_t off)
{
	for (uint64_t i = 0; i < len; i++)
		q[i] = PATTERN(sid, off + i);
}

NO_COVERAGE static bool
match_pattern(const uint8_t *q, size_t len, uint32_t sid, uint64_t off)
{
	for (uint64_t i = 0; i < len; i++)
		if (q[i] != PATTERN(sid, off + i))
			return false;
	return true;
}

static struct tstream *
find(struct party *p, uint32_t sid)
{
	for (size_t i = 0; i < p->nst; i++)
		if (p->st[i].sid == sid)
			return &p->st[i];
	return NULL;
}

static struct tstream *
track(struct party *p, uint32_t sid, bool local)
{
	struct tstream *t;

	CHECK(find(p, sid) == NULL);   /* ids are never reused */
	if (p->nst == MAX_TRACK) {
		p->overflow = true;
		return NULL;
	}
	t = &p->st[p->nst++];
	memset(t, 0, sizeof(*t));
	t->sid = sid;
	t->local = local;
	return t;
}

static struct party *
peer_of(struct party *p)
{
	return &p->h->p[!p->idx];
}

static bool
can_send(const struct tstream *t)
{
	return !t->gone && !t->fin_sent && (t->local || t->accepted);
}

static void
note_rc(struct harness *h, int rc)
{
	if (rc == VX6_ERR_LIMIT)
		h->limited = true;
}

/* A session over its output budget ("stuck") reports no credit and fails at
 * its next expiry (expiry 0). Frames it could not queue then are lost, so
 * the peer may see a broken protocol: note it. */
static bool
stuck(struct party *p)
{
	bool st = vx6_session_is_established(p->s) && vx6_session_expiry(p->s) == 0;

	if (st)
		p->h->limited = true;
	return st;
}

/* Sends `len` pattern bytes on t; room picks headroom/tailroom. */
static int
send_bytes(struct party *p, struct tstream *t, size_t len, unsigned room)
{
	size_t credit = vx6_session_credit(p->s, t->sid);
	struct vx6_chunk *c;
	int rc;

	CHECK(credit <= VX6_FRAME_MAX_DATA);
	if (len > VX6_FRAME_MAX_DATA)
		len = VX6_FRAME_MAX_DATA;
	c = vx6_chunk_new(room & 1 ? VX6_SESSION_HEADROOM : 0, len, room & 2 ? VX6_SESSION_TAILROOM : 0);
	if (c == NULL)
		abort();
	fill_pattern(vx6_chunk_ptr(c), len, t->sid, t->sent);
	c->len = (uint32_t)len;
	rc = vx6_session_send(p->s, t->sid, c);   /* takes c */
	note_rc(p->h, rc);
	if (len > 0 && len <= credit && !vx6_session_is_closed(p->s))
		CHECK(rc == 0 || rc == VX6_ERR_LIMIT || rc == VX6_ERR_NOMEM);
	if (len > credit && len > 0 && !stuck(p))
		CHECK(rc != 0);   /* (a stuck session reads 0 credit but still queues) */
	if (rc == 0)
		t->sent += len;
	return rc;
}

/* --- callbacks: a well-behaved application --- */

static void
cb_established(void *ud)
{
	struct party *p = ud;

	CHECK(!p->h->freeing);
	CHECK(vx6_session_is_established(p->s));
}

static void
cb_open(void *ud, uint32_t sid, const char *service)
{
	struct party *p = ud;
	struct tstream *t;
	size_t n = strlen(service);
	int rc;

	CHECK(!p->h->freeing);
	CHECK(n >= 1 && n <= VX6_FRAME_MAX_SERVICE);
	for (size_t i = 0; i < n; i++) {
		char c = service[i];
		CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == ':');
	}
	CHECK(sid != 0 && (sid & 1) == (p->idx == 0 ? 0u : 1u));   /* the peer's parity */
	t = track(p, sid, false);
	if (strncmp(service, "deny", 4) == 0) {
		rc = vx6_session_reset(p->s, sid, VX6_RESET_UNKNOWN_SERVICE, "no such service");
		note_rc(p->h, rc);
		if (t)
			t->gone = true;
	} else if (strncmp(service, "later", 5) != 0) {
		rc = vx6_session_accept(p->s, sid);
		note_rc(p->h, rc);
		/* A failed accept (output budget) leaves the stream unaccepted:
		 * nothing may be sent on it yet, a FIN included. */
		if (t && rc == 0)
			t->accepted = true;
	}
}

static void
cb_accept(void *ud, uint32_t sid)
{
	struct party *p = ud;
	struct tstream *t = find(p, sid);

	CHECK(!p->h->freeing);
	CHECK(t == NULL || !t->gone);
	if (t && !p->h->tainted)
		CHECK(t->local && !t->accepted);
	if (t)
		t->accepted = true;
}

static void
cb_data(void *ud, uint32_t sid, struct vx6_chunk *c)
{
	struct party *p = ud;
	struct harness *h = p->h;
	struct tstream *t = find(p, sid);
	const uint8_t *q = vx6_chunk_ptr(c);
	size_t len = c->len;
	int rc;

	CHECK(!h->freeing);
	CHECK(len > 0 && len <= VX6_FRAME_MAX_DATA);
	CHECK(t == NULL || (!t->gone && !t->fin_recv));
	if (t && !h->tainted)
		CHECK(match_pattern(q, len, sid, t->recvd));
	vx6_chunk_free(c);
	p->delivered += len;
	if (t) {
		t->recvd += len;
		t->pending += len;
	} else {
		p->loose += len;
	}
	if (h->consume_now && vx6_session_stream_exists(p->s, sid)) {
		rc = vx6_session_consumed(p->s, sid, len);
		note_rc(h, rc);
		CHECK(rc != VX6_ERR_INVAL);
		if (rc != VX6_ERR_CLOSED) {
			p->delivered -= len;
			if (t)
				t->pending -= len;
			else
				p->loose -= len;
		}
	}
}

static void
cb_fin(void *ud, uint32_t sid)
{
	struct party *p = ud;
	struct tstream *t = find(p, sid), *u;

	CHECK(!p->h->freeing);
	if (t == NULL)
		return;
	CHECK(!t->gone && !t->fin_recv);
	t->fin_recv = true;
	if (!p->h->tainted && (u = find(peer_of(p), sid)) != NULL)
		CHECK(t->recvd == u->sent);   /* everything before the FIN arrived */
	if (t->fin_sent)
		t->gone = true;
}

static void
cb_reset(void *ud, uint32_t sid, uint16_t code, const char *reason, bool remote)
{
	struct party *p = ud;
	struct tstream *t = find(p, sid);

	(void)code;
	(void)remote;
	CHECK(!p->h->freeing);
	CHECK(reason != NULL && strlen(reason) < 512);
	CHECK(t == NULL || !t->gone);
	if (t)
		t->gone = true;
}

static void
cb_writable(void *ud, uint32_t sid)
{
	struct party *p = ud;
	struct tstream *t = find(p, sid);
	size_t credit;

	CHECK(!p->h->freeing);
	CHECK(t == NULL || !t->gone);
	credit = vx6_session_credit(p->s, sid);
	if (!p->h->limited)
		CHECK(credit > 0);   /* also never for a stream that sent FIN */
	if (t && p->h->write_on_writable && can_send(t) && credit > 0)
		(void)send_bytes(p, t, credit < 3000 ? credit : 3000, 3);
}

static void
cb_closed(void *ud, int err, const char *reason)
{
	struct party *p = ud;
	struct harness *h = p->h;

	CHECK(!h->freeing);
	CHECK(reason != NULL && strlen(reason) < 512);
	CHECK(++p->closed_calls == 1);
	CHECK(vx6_session_is_closed(p->s));
	p->close_err = err;
	/* Every stream got on_reset first. */
	for (size_t i = 0; i < p->nst; i++)
		CHECK(p->st[i].gone);
	if (!h->tainted && !h->limited && err != 0 && err != VX6_ERR_TIMEOUT &&
	    err != VX6_ERR_CLOSED) {
		fprintf(stderr, "fuzz_session: side %c closed by API use alone: %s (%s)\n",
		    p->idx ? 'B' : 'A', vx6_strerror(err), reason);
		__builtin_trap();
	}
}

#ifdef VX6_FRAME_MAX_RPC
NO_COVERAGE static unsigned
sum_bytes(const uint8_t *p, size_t len)
{
	unsigned sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return sum;
}

static void
cb_rpc(void *ud, const uint8_t *msg, size_t len)
{
	struct party *p = ud;

	CHECK(!p->h->freeing);
	CHECK(len >= 1 && len <= VX6_FRAME_MAX_RPC);
	(void)sum_bytes(msg, len);   /* the bytes must be readable (ASan) */
}
#endif

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
#ifdef VX6_FRAME_MAX_RPC
	.on_rpc = cb_rpc,
#endif
};

/* --- moving bytes --- */

enum { MOVE_ALL, MOVE_TAMPER, MOVE_DROP };

/* Moves everything side `from` has queued to its peer, optionally
 * tampering with or dropping one unit. */
static void
shuttle(struct harness *h, int from, int mode, struct input *in)
{
	struct party *src = &h->p[from], *dst = &h->p[!from];
	struct vx6_chunkq q;
	struct vx6_chunk *c;
	bool records = src->was_established;   /* no handshake message in this batch */
	bool aligned = !h->misaligned, dropped = false, check_next = false;
	size_t idx = 0, target = SIZE_MAX, pos = 0;
	uint8_t mask = 1;
	int rc;

	src->was_established = vx6_session_is_established(src->s);
	vx6_chunkq_init(&q);
	vx6_session_take_output(src->s, &q);
	if (mode != MOVE_ALL && q.count > 0) {
		target = in_u8(in) % q.count;
		pos = in_u16(in);
		mask = in_u8(in) | 1;
		h->tainted = true;
	}
	while ((c = vx6_chunkq_pop(&q)) != NULL) {
		uint8_t *b = vx6_chunk_ptr(c);
		size_t len = c->len;

		CHECK(len > VX6_RECORD_LEN_BYTES && len <= UNIT_MAX);
		CHECK(vx6_get_u16(b) == len - VX6_RECORD_LEN_BYTES);
		if (idx == target && mode == MOVE_DROP) {
			dropped = true;
			check_next = records && aligned;
		} else {
			if (idx == target)
				b[VX6_RECORD_LEN_BYTES + pos % (len - VX6_RECORD_LEN_BYTES)] ^= mask;
			rc = vx6_session_recv(dst->s, b, len, h->now);
			if (idx == target && records && aligned)
				CHECK(rc != 0);   /* a tampered record is never accepted */
			if (dropped && check_next) {
				CHECK(rc != 0);   /* nor the one after a dropped record */
				check_next = false;
			}
			if (rc == 0 && records && dst->last_rec) {
				memcpy(dst->last_rec, b, len);
				dst->last_rec_len = len;
			}
		}
		vx6_session_written(src->s, len);
		vx6_chunk_free(c);
		idx++;
	}
}

static void
settle(struct harness *h, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		if (!vx6_session_has_output(h->p[0].s) && !vx6_session_has_output(h->p[1].s))
			break;
		shuttle(h, 0, MOVE_ALL, NULL);
		shuttle(h, 1, MOVE_ALL, NULL);
	}
}

static void
check_accounting(struct party *p)
{
	struct vx6_session_info info;
	uint32_t live = 0;

	(void)stuck(p);
	vx6_session_info(p->s, &info);
	CHECK(info.mux.recv_buffered == p->delivered);
	for (size_t i = 0; i < p->nst; i++)
		if (!p->st[i].gone)
			live++;
	if (!p->overflow && !vx6_session_is_closed(p->s))
		CHECK(info.mux.streams_open == live);
}

static void
run_timers(struct harness *h)
{
	for (int i = 0; i < 2; i++) {
		struct party *p = &h->p[i];
		uint64_t e = vx6_session_expiry(p->s);
		int rc;

		if (e > h->now)
			continue;
		rc = vx6_session_handle_expiry(p->s, h->now);
		note_rc(h, rc);
		e = vx6_session_expiry(p->s);
		if (e == 0)
			h->limited = true;   /* stuck: fails at the next expiry */
		CHECK(vx6_session_is_closed(p->s) || e == 0 || e > h->now);
	}
}

/* --- operations --- */

static const char *const services[] = {
	"echo", "deny", "later", "web.a:b-c_d", "x",
	"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01",   /* 64 */
};

static struct tstream *
pick(struct party *p, struct input *in)
{
	if (p->nst == 0)
		return NULL;
	return &p->st[in_u8(in) % p->nst];
}

static void
op_inject(struct harness *h, struct party *p, struct input *in)
{
	size_t len = in_u16(in) % 2048;
	const uint8_t *pt = in_bytes(in, &len);
	int rc;

	if (len == 0)
		return;
	h->tainted = true;
	rc = vx6_session_test_send_record(p->s, pt, len);
	CHECK(rc == 0 || vx6_session_is_closed(p->s) || rc == VX6_ERR_NOMEM || rc == VX6_ERR_LIMIT);
}

/* A DATA frame of any length (up to a full record) with a chosen header. */
static void
op_inject_data(struct harness *h, struct party *p, struct input *in)
{
	static uint8_t rec[VX6_RECORD_MAX_PT];
	struct tstream *t = pick(p, in);
	uint8_t flags = in_u8(in) & 3;
	uint16_t len = in_u16(in);
	uint32_t sid = t ? t->sid : 1;
	int rc;

	if (len > VX6_FRAME_MAX_DATA)
		len = VX6_FRAME_MAX_DATA;
	if (in_u8(in) == 0xff)
		sid = (uint32_t)in_u16(in) << 8;
	vx6_frame_header_put(rec, VX6_FRAME_DATA, flags, len, sid);
	memset(rec + VX6_FRAME_HEADER_LEN, 0x5a, len);
	h->tainted = true;
	rc = vx6_session_test_send_record(p->s, rec, VX6_FRAME_HEADER_LEN + (size_t)len);
	CHECK(rc == 0 || vx6_session_is_closed(p->s) || rc == VX6_ERR_NOMEM || rc == VX6_ERR_LIMIT);
}

static void
op_raw(struct harness *h, struct party *p, struct input *in)
{
	size_t len = in_u8(in);
	const uint8_t *b = in_bytes(in, &len);

	if (len == 0)
		return;
	h->tainted = true;
	h->misaligned = true;
	(void)vx6_session_recv(p->s, b, len, h->now);
}

static void
op_open(struct harness *h, struct party *p, struct input *in)
{
	const char *svc = services[in_u8(in) % (sizeof(services) / sizeof(services[0]))];
	uint32_t sid = 0;
	int rc;

	rc = vx6_session_open(p->s, svc, &sid);
	note_rc(h, rc);
	if (vx6_session_is_closed(p->s))
		return;
	CHECK(rc == 0 || rc == VX6_ERR_LIMIT || rc == VX6_ERR_NOMEM);
	if (rc != 0)
		return;
	CHECK(sid != 0 && (sid & 1) == (p->idx == 0 ? 1u : 0u));
	CHECK(vx6_session_stream_exists(p->s, sid));
	(void)track(p, sid, true);
}

static void
op_send(struct harness *h, struct party *p, struct input *in)
{
	struct tstream *t = pick(p, in);
	unsigned room = in_u8(in);
	size_t len = in_u16(in);

	(void)h;
	if (t == NULL || !can_send(t))
		return;
	if (room & 4) {   /* mostly stay within credit, as an application does */
		size_t credit = vx6_session_credit(p->s, t->sid);
		len = credit ? len % (credit + 1) : 0;
	}
	(void)send_bytes(p, t, len, room);
}

static void
op_fin(struct harness *h, struct party *p, struct input *in)
{
	struct tstream *t = pick(p, in);
	int rc;

	if (t == NULL || !can_send(t))
		return;
	rc = vx6_session_fin(p->s, t->sid);
	note_rc(h, rc);
	if (vx6_session_is_closed(p->s))
		return;
	CHECK(rc == 0 || rc == VX6_ERR_LIMIT || rc == VX6_ERR_NOMEM);
	if (rc == 0) {
		t->fin_sent = true;
		if (t->fin_recv)
			t->gone = true;
	}
}

static void
op_reset(struct harness *h, struct party *p, struct input *in)
{
	struct tstream *t = pick(p, in);
	uint16_t code = in_u16(in);
	size_t len = in_u8(in) % 64;
	const uint8_t *b = in_bytes(in, &len);
	char reason[64];
	int rc;

	if (t == NULL || t->gone)
		return;
	memcpy(reason, b, len);
	reason[len] = '\0';
	rc = vx6_session_reset(p->s, t->sid, code, reason);
	note_rc(h, rc);
	if (!vx6_session_is_closed(p->s))
		CHECK(rc == 0 || rc == VX6_ERR_LIMIT || rc == VX6_ERR_NOMEM);
	t->gone = true;
	CHECK(!vx6_session_stream_exists(p->s, t->sid));
}

static void
op_accept(struct harness *h, struct party *p, struct input *in)
{
	struct tstream *t = pick(p, in);
	int rc;

	if (t == NULL || t->local || t->accepted || t->gone)
		return;
	rc = vx6_session_accept(p->s, t->sid);
	note_rc(h, rc);
	if (vx6_session_is_closed(p->s))
		return;
	CHECK(rc == 0 || rc == VX6_ERR_LIMIT || rc == VX6_ERR_NOMEM);
	if (rc == 0)
		t->accepted = true;
}

static void
op_consumed(struct harness *h, struct party *p, struct input *in)
{
	struct tstream *t = pick(p, in);
	uint8_t how = in_u8(in);
	uint64_t n = in_u16(in), *owed;
	uint32_t sid;
	int rc;

	if (how == 0xff) {
		/* The application's accounting is wrong: refused, nothing changes. */
		n = p->delivered + 1 + n;
		rc = vx6_session_consumed(p->s, t ? t->sid : 1, (size_t)n);
		CHECK(rc == (vx6_session_is_closed(p->s) ? VX6_ERR_CLOSED : VX6_ERR_INVAL));
		return;
	}
	/* Bytes of one stream (also after it ended), or of untracked streams. */
	if (t == NULL || (how & 2)) {
		sid = 0;
		owed = &p->loose;
	} else {
		sid = t->sid;
		owed = &t->pending;
	}
	if (how & 1)
		n = *owed;
	else
		n = *owed ? n % (*owed + 1) : 0;
	rc = vx6_session_consumed(p->s, sid, (size_t)n);
	note_rc(h, rc);
	if (vx6_session_is_closed(p->s) && rc == VX6_ERR_CLOSED)
		return;
	CHECK(rc == 0 || rc == VX6_ERR_LIMIT || rc == VX6_ERR_NOMEM);
	*owed -= n;
	p->delivered -= n;
}

static void
op_credit(struct party *p, struct input *in)
{
	struct tstream *t = pick(p, in);
	size_t c;

	if (t == NULL)
		return;
	c = vx6_session_credit(p->s, t->sid);
	CHECK(c <= VX6_FRAME_MAX_DATA);
	if (t->gone || t->fin_sent)
		CHECK(c == 0);
	if (t->gone)
		CHECK(!vx6_session_stream_exists(p->s, t->sid));
}

static void
op_rpc(struct harness *h, struct party *p, struct input *in)
{
#ifdef VX6_FRAME_MAX_RPC
	size_t len = in_u16(in) % 512;
	const uint8_t *b = in_bytes(in, &len);
	int rc = vx6_session_send_rpc(p->s, b, len);

	note_rc(h, rc);
	if (vx6_session_is_closed(p->s))
		return;
	if (len == 0)
		CHECK(rc == VX6_ERR_INVAL);
	else
		CHECK(rc == 0 || rc == VX6_ERR_LIMIT || rc == VX6_ERR_NOMEM);
#else
	(void)h;
	(void)p;
	(void)in_u16(in);
#endif
}

static void
op_clock(struct harness *h, struct input *in)
{
	uint8_t how = in_u8(in);
	uint64_t step = in_u16(in);

	if (how & 1)
		h->now += step * VX6_NS_PER_MS;                 /* up to 65 s */
	else
		h->now += (step % 4096) * VX6_NS_PER_SEC / 8;   /* up to 512 s */
	run_timers(h);
}

static void
op_replay(struct harness *h, struct party *p)
{
	int rc;

	if (p->last_rec_len == 0 || h->misaligned)
		return;
	h->tainted = true;
	rc = vx6_session_recv(p->s, p->last_rec, p->last_rec_len, h->now);
	CHECK(rc != 0);   /* a replayed record is never accepted */
}

static void
op_close(struct harness *h, struct party *p, struct input *in)
{
	uint8_t how = in_u8(in);

	(void)h;
	if (how & 1)
		vx6_session_close(p->s, VX6_CLOSE_NORMAL, how & 2 ? "bye" : NULL);
	else
		vx6_session_transport_lost(p->s, 0, "connection reset");
	CHECK(vx6_session_is_closed(p->s));
	CHECK(vx6_session_open(p->s, "echo", &(uint32_t){ 0 }) == VX6_ERR_CLOSED);
}

/* --- setup and the run --- */

static void
party_init(struct harness *h, int idx, uint8_t opts)
{
	struct party *p = &h->p[idx];
	struct vx6_session_config *c = &p->cfg;

	p->h = h;
	p->idx = idx;
	vx6_det_rng_init(&p->rng, 100 + (uint64_t)idx);
	p->env.random = vx6_det_rng_fill;
	p->env.random_ud = &p->rng;
	p->env.log = &quiet;
	vx6_session_config_defaults(c);
	c->initiator = idx == 0;
	c->local = idx == 0 ? &id_a : &id_b;
	if (idx == 0) {
		switch (opts & 3) {
		case 1:
			break;                           /* XX, no key */
		case 2:
			c->force_xx = true;              /* XX, key enforced */
			/* fallthrough */
		default:
			c->have_expected_key = true;     /* IK */
			memcpy(c->expected_key, id_b.pk, VX6_KEY_LEN);
			break;
		}
		if (opts & 4)
			c->aead_mask = 1u << (VX6_AEAD_CHACHA20_POLY1305 - 1);
	}
	if (opts & 8) {
		c->settings.stream_window = VX6_HS_MIN_STREAM_WINDOW;
		c->settings.session_window = 2 * VX6_HS_MIN_STREAM_WINDOW;
		c->settings.max_streams = 4;
	}
	if (opts & 16) {
		c->rekey_bytes = 20000;
		c->rekey_interval = 5 * VX6_NS_PER_SEC;
	}
	if (opts & 32)
		c->max_output = 100000;
	p->last_rec = malloc(UNIT_MAX);
	if (p->last_rec == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness h;
	struct input in = { data, size };
	uint8_t opts = in_u8(&in);
	uint32_t sid;

	memset(&h, 0, sizeof(h));
	h.now = T0;
	h.consume_now = opts & 64;
	h.write_on_writable = opts & 128;
	party_init(&h, 0, opts);
	party_init(&h, 1, opts);
	h.p[0].s = vx6_session_new(&h.p[0].cfg, &h.p[0].env, &cbs, &h.p[0], h.now);
	h.p[1].s = vx6_session_new(&h.p[1].cfg, &h.p[1].env, &cbs, &h.p[1], h.now);
	CHECK(h.p[0].s != NULL && h.p[1].s != NULL);
	settle(&h, 4);
	CHECK(vx6_session_is_established(h.p[0].s) && vx6_session_is_established(h.p[1].s));

	/* One stream each way. */
	CHECK(vx6_session_open(h.p[0].s, "echo", &sid) == 0);
	(void)track(&h.p[0], sid, true);
	CHECK(vx6_session_open(h.p[1].s, "later", &sid) == 0);
	(void)track(&h.p[1], sid, true);
	settle(&h, 4);

	for (int n = 0; n < MAX_OPS && in.n > 0; n++) {
		uint8_t op = in_u8(&in);
		struct party *p = &h.p[op & 1];

		switch ((op >> 1) % 18) {
		case 0: op_inject(&h, p, &in); break;
		case 1: op_inject_data(&h, p, &in); break;
		case 2: op_raw(&h, p, &in); break;
		case 3: op_open(&h, p, &in); break;
		case 4:
		case 5: op_send(&h, p, &in); break;
		case 6: op_fin(&h, p, &in); break;
		case 7: op_reset(&h, p, &in); break;
		case 8: op_accept(&h, p, &in); break;
		case 9: op_consumed(&h, p, &in); break;
		case 10: op_credit(p, &in); break;
		case 11: op_rpc(&h, p, &in); break;
		case 12: op_clock(&h, &in); break;
		case 13:
		case 14: shuttle(&h, op & 1, MOVE_ALL, &in); break;
		case 15: shuttle(&h, op & 1, (in_u8(&in) & 1) ? MOVE_DROP : MOVE_TAMPER, &in); break;
		case 16: op_replay(&h, p); break;
		default:
			if (in_u8(&in) & 1)
				op_close(&h, p, &in);
			else
				settle(&h, 8);
			break;
		}
		check_accounting(&h.p[0]);
		check_accounting(&h.p[1]);
	}
	settle(&h, 8);
	check_accounting(&h.p[0]);
	check_accounting(&h.p[1]);
	for (int i = 0; i < 2; i++)
		CHECK(h.p[i].closed_calls == (vx6_session_is_closed(h.p[i].s) ? 1 : 0));

	h.freeing = true;
	for (int i = 0; i < 2; i++) {
		vx6_session_free(h.p[i].s);
		free(h.p[i].last_rec);
	}
	return 0;
}
