/*
 * quic — one VX6 session over one QUIC connection (see quic.h and
 * docs/protocol-quic-draft.md).
 *
 * Layout of a connection:
 *  - ngtcp2 runs QUIC; GnuTLS (quic_tls.c) runs TLS 1.3 inside it.
 *  - Each VX6 stream is one bidirectional QUIC stream; VX6 sid = QUIC
 *    stream id + 1 (the node reserves sid 0). The opener's first bytes are
 *    the OPEN header naming the service; the acceptor's first byte is the
 *    ACCEPT marker. Both count against flow control and are returned to the
 *    peer at once (they never reach the application).
 *  - Each side opens one unidirectional control stream once established:
 *    RPC messages and the reason text of stream resets travel there.
 *  - DATAGRAM frames carry unreliable messages.
 *
 * ngtcp2 does not copy stream data: a chunk handed to it stays in the
 * stream's list until acknowledged (acked_stream_data_offset) or until the
 * QUIC stream is closed. Credit = min(stream and connection flow control
 * left, the send-buffer bound) minus the bytes queued and not yet handed to
 * ngtcp2, so what we buffer stays bounded by the peer's windows.
 *
 * Application callbacks never run inside ngtcp2: ngtcp2 callbacks queue
 * events, and dispatch() delivers them after ngtcp2_conn_read_pkt() or
 * ngtcp2_conn_handle_expiry() returned, so the application may call any
 * function of this file from a callback (except vx6_quic_free()).
 *
 * Ownership: the connection owns its ngtcp2_conn, TLS session, streams,
 * queued chunks, datagrams and events; cfg, env, cbs and the ep are
 * borrowed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto.h>

#include "core/frame.h"
#include "lib/cursor.h"
#include "lib/err.h"
#include "lib/idmap.h"
#include "transport/quic_internal.h"

enum qstate { Q_HANDSHAKE, Q_OPEN, Q_CLOSED };

/* The VX6 view of a stream (the QUIC view is ngtcp2's). */
enum vstate {
	V_PENDING,   /* peer's stream: OPEN header incomplete or not yet announced */
	V_ALIVE,     /* the application knows sid and may use it */
	V_DONE,      /* reset, both FINs, or the session ended: sid is invalid */
};

struct qstream {
	int64_t id;
	uint32_t sid;            /* id + 1 */
	bool local;              /* we opened it */
	bool control;            /* our control stream */
	enum vstate v;
	bool accepted;           /* local: ACCEPT received; peer's: we accepted */
	bool hdr_done;           /* OPEN header (peer's) or ACCEPT marker (local) read */
	bool open_queued;        /* EV_OPEN queued */
	bool dead_early;         /* peer reset it before we announced it */
	bool fin_queued, fin_sent, fin_recv;
	bool wr_shut;            /* ngtcp2 takes no more data (reset, STOP_SENDING) */
	bool quic_closed;        /* ngtcp2 closed the stream; it references nothing */
	bool in_sq, parked, blocked;
	uint32_t pending;        /* events queued for it */
	uint8_t hdr[2 + VX6_FRAME_MAX_SERVICE];
	uint8_t hdrlen;
	/* Send side: every chunk from the first unacknowledged byte on. */
	struct vx6_chunk *head, *tail;
	struct vx6_chunk *cur;   /* first chunk with bytes not handed to ngtcp2 */
	uint32_t cur_off;
	uint64_t head_off;       /* stream offset of head's first byte */
	uint64_t queued;         /* stream offset after the last queued byte */
	uint64_t sent;           /* bytes handed to ngtcp2 */
	uint64_t unconsumed;     /* delivered, not yet consumed */
	struct qstream *sq_next;
};

enum ev_kind { EV_ESTABLISHED, EV_OPEN, EV_ACCEPT, EV_DATA, EV_FIN, EV_RESET, EV_RPC, EV_DGRAM };

struct event {
	struct event *next;
	uint8_t kind;
	uint16_t code;
	uint32_t sid;
	struct vx6_chunk *c;     /* payload, service name or reason (NUL-terminated) */
};

enum close_kind { CK_NONE, CK_APP, CK_LIBERR, CK_ALERT };

/* Header of every allocation ngtcp2 makes for one connection (32 bytes, so
 * the block stays 16-byte aligned). */
struct memhdr {
	struct memhdr *prev, *next;
	size_t size;
	size_t unused;
};

struct vx6_quic {
	struct vx6_quic_ep *ep;
	struct vx6_quic_config cfg;
	const struct vx6_env *env;
	const struct vx6_session_cbs *cbs;
	void *ud;
	void (*on_datagram)(void *ud, const uint8_t *msg, size_t len);
	bool server;
	enum qstate state;
	ngtcp2_conn *conn;
	ngtcp2_mem mem;          /* ngtcp2's allocator for this connection */
	struct memhdr allocs;    /* list head of what ngtcp2 holds */
	gnutls_session_t tls;
	gnutls_certificate_credentials_t own_cred;   /* when cfg.local is not the ep's */
	ngtcp2_crypto_conn_ref ref;
	bool half_open;          /* counted in ep->st.handshakes */
	/* Server: paths the client used before (see guard_old_path()). */
	ngtcp2_path_storage cur_path;
	ngtcp2_path_storage old_paths[QUIC_OLD_PATHS];
	uint32_t nold;
	uint64_t old_until;
	/* Either side: a path change is being validated until about then;
	 * unanswered probes do not mean a dead peer meanwhile. */
	uint64_t path_grace_until;
	uint64_t last_rx;            /* a datagram for this connection arrived */
	bool local_any;          /* client bound to an unspecified local address */
	uint64_t now;
	uint64_t hs_deadline;
	uint64_t expired_at;     /* last vx6_quic_handle_expiry() */
	uint64_t idle_write_at;  /* last vx6_quic_write() that had nothing to send */

	struct qkey *keys;       /* what this connection registered on the ep */
	size_t nkeys, capkeys;

	struct vx6_idmap streams;    /* sid -> struct qstream */
	struct qstream *ctrl;        /* our control stream */
	int64_t peer_ctrl;           /* the peer's control stream id, -1 before */
	struct qstream *sq_head, *sq_tail;
	uint32_t nparked, nblocked;
	bool conn_blocked;
	uint64_t total_unsent, total_held;
	uint64_t recv_buffered;
	uint64_t conn_owed;          /* connection credit not yet returned */
	uint32_t open_count;
	uint64_t opened_total;
	int64_t early_resets[QUIC_EARLY_RESETS];
	uint32_t nearly;

	/* Control stream parser. */
	bool crx_pre;
	uint8_t *crx;
	size_t crx_len;

	struct vx6_chunkq dgq;
	uint64_t dgrams_dropped;

	struct event *ev_head, *ev_tail;
	bool dispatching;

	/* Failure found inside an ngtcp2 callback. */
	int cb_err;
	char cb_reason[256];
	bool got_reset;          /* a stateless reset arrived */
	int hs_err;              /* set by the certificate checks */
	char hs_reason[256];

	enum close_kind ck;
	uint64_t close_code;
	uint8_t close_alert;
	int close_liberr;
	bool close_sent;
	char close_reason[VX6_FRAME_MAX_REASON + 1];

	int err;
	char reason[512];
	bool have_peer, have_presented;
	uint8_t peer_key[VX6_KEY_LEN];
	uint8_t presented[VX6_KEY_LEN];
	struct vx6_session_info info;
};

static const ngtcp2_callbacks callbacks;
static int cb_path_validation(ngtcp2_conn *conn, uint32_t flags, const ngtcp2_path *path,
    ngtcp2_path_validation_result res, void *user_data);
static void path_store(ngtcp2_path_storage *ps, const ngtcp2_path *p);

/* --- Small helpers ------------------------------------------------------- */

static uint64_t
min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static ngtcp2_conn *
get_conn(ngtcp2_crypto_conn_ref *ref)
{
	struct vx6_quic *q = ref->user_data;

	return q->conn;
}

/* Copies at most VX6_FRAME_MAX_REASON printable characters. */
static void
printable(char *out, size_t cap, const uint8_t *p, size_t n)
{
	size_t i;

	if (n > VX6_FRAME_MAX_REASON)
		n = VX6_FRAME_MAX_REASON;
	for (i = 0; i < n && i + 1 < cap; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	out[i] = '\0';
}

/* Records a failure found inside an ngtcp2 callback; the caller returns
 * NGTCP2_ERR_CALLBACK_FAILURE and the connection is closed with an
 * application error (VX6_RESET_PROTOCOL) carrying the reason. */
static int cb_fail(struct vx6_quic *q, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
cb_fail(struct vx6_quic *q, int err, const char *fmt, ...)
{
	va_list ap;

	if (q->cb_err == 0) {
		q->cb_err = err;
		va_start(ap, fmt);
		vsnprintf(q->cb_reason, sizeof(q->cb_reason), fmt, ap);
		va_end(ap);
	}
	return NGTCP2_ERR_CALLBACK_FAILURE;
}

static int
q_register(struct vx6_quic *q, const struct qkey *k)
{
	int rc;

	for (size_t i = 0; i < q->nkeys; i++)
		if (q->keys[i].kind == k->kind && q->keys[i].len == k->len &&
		    memcmp(q->keys[i].b, k->b, k->len) == 0)
			return 0;   /* already ours */
	if (q->nkeys == q->capkeys) {
		size_t ncap = q->capkeys ? q->capkeys * 2 : 8;
		struct qkey *nk = realloc(q->keys, ncap * sizeof(*nk));
		if (nk == NULL)
			return VX6_ERR_NOMEM;
		q->keys = nk;
		q->capkeys = ncap;
	}
	if ((rc = vx6_quic_ep_register(q->ep, q, k)) != 0)
		return rc;
	q->keys[q->nkeys++] = *k;
	return 0;
}

static void
q_unregister(struct vx6_quic *q, const struct qkey *k)
{
	for (size_t i = 0; i < q->nkeys; i++) {
		if (q->keys[i].kind == k->kind && q->keys[i].len == k->len &&
		    memcmp(q->keys[i].b, k->b, k->len) == 0) {
			vx6_quic_ep_unregister(q->ep, q, k);
			q->keys[i] = q->keys[--q->nkeys];
			return;
		}
	}
}

static void
drop_half_open(struct vx6_quic *q)
{
	if (q->half_open) {
		q->half_open = false;
		q->ep->st.handshakes--;
	}
}

/* --- ngtcp2's allocator ----------------------------------------------------
 *
 * ngtcp2 0.12 leaks a stream frame chain now and then under loss (a chain
 * allocated with malloc because it had many data vectors is split below the
 * pool threshold and released into the pool; upstream issue #1244, fixed
 * in 1.x by PR #1245). Every allocation it makes for a connection is kept
 * in a list, and whatever is still there after ngtcp2_conn_del() is freed
 * by vx6_quic_free(). */

static void
mem_link(struct vx6_quic *q, struct memhdr *h)
{
	h->prev = &q->allocs;
	h->next = q->allocs.next;
	q->allocs.next->prev = h;
	q->allocs.next = h;
}

static void
mem_unlink(struct memhdr *h)
{
	h->prev->next = h->next;
	h->next->prev = h->prev;
}

static void *
mem_malloc(size_t n, void *ud)
{
	struct memhdr *h;

	if (n > SIZE_MAX - sizeof(*h) || (h = malloc(sizeof(*h) + n)) == NULL)
		return NULL;
	h->size = n;
	mem_link(ud, h);
	return h + 1;
}

static void
mem_free(void *p, void *ud)
{
	struct memhdr *h;

	(void)ud;
	if (p == NULL)
		return;
	h = (struct memhdr *)p - 1;
	mem_unlink(h);
	free(h);
}

static void *
mem_calloc(size_t nmemb, size_t size, void *ud)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		return NULL;
	p = mem_malloc(nmemb * size, ud);
	if (p != NULL)
		memset(p, 0, nmemb * size);
	return p;
}

static void *
mem_realloc(void *p, size_t n, void *ud)
{
	struct memhdr *h, *nh;

	if (p == NULL)
		return mem_malloc(n, ud);
	if (n > SIZE_MAX - sizeof(*h))
		return NULL;
	h = (struct memhdr *)p - 1;
	mem_unlink(h);
	nh = realloc(h, sizeof(*h) + n);
	if (nh == NULL) {
		mem_link(ud, h);
		return NULL;
	}
	nh->size = n;
	mem_link(ud, nh);
	return nh + 1;
}

static void
mem_release_all(struct vx6_quic *q)
{
	while (q->allocs.next != &q->allocs) {
		struct memhdr *h = q->allocs.next;
		mem_unlink(h);
		free(h);
	}
}

/* --- Events --------------------------------------------------------------- */

static struct qstream *
stream_get(const struct vx6_quic *q, uint32_t sid)
{
	return sid ? vx6_idmap_get(&q->streams, sid) : NULL;
}

static int
event_push(struct vx6_quic *q, uint8_t kind, uint32_t sid, uint16_t code, const void *p, size_t n,
    bool nul)
{
	struct event *e = calloc(1, sizeof(*e));
	struct qstream *s;

	if (e == NULL)
		return VX6_ERR_NOMEM;
	if (p != NULL || nul) {
		e->c = vx6_chunk_new(0, n + (nul ? 1 : 0), 0);
		if (e->c == NULL) {
			free(e);
			return VX6_ERR_NOMEM;
		}
		if (n)
			memcpy(vx6_chunk_ptr(e->c), p, n);
		if (nul)
			vx6_chunk_ptr(e->c)[n] = '\0';
		e->c->len = (uint32_t)n;
	}
	e->kind = kind;
	e->sid = sid;
	e->code = code;
	if ((s = stream_get(q, sid)) != NULL)
		s->pending++;
	if (q->ev_tail)
		q->ev_tail->next = e;
	else
		q->ev_head = e;
	q->ev_tail = e;
	return 0;
}

/* --- Streams: buffers and lifetime ---------------------------------------- */

static bool
has_work(const struct qstream *s)
{
	return !s->wr_shut && !s->quic_closed &&
	    (s->queued > s->sent || (s->fin_queued && !s->fin_sent));
}

static void
sendq_add(struct vx6_quic *q, struct qstream *s, bool front)
{
	if (s->in_sq || s->parked || !has_work(s))
		return;
	s->in_sq = true;
	if (front || q->sq_head == NULL) {
		s->sq_next = q->sq_head;
		q->sq_head = s;
		if (q->sq_tail == NULL)
			q->sq_tail = s;
	} else {
		s->sq_next = NULL;
		q->sq_tail->sq_next = s;
		q->sq_tail = s;
	}
}

static struct qstream *
sendq_pop(struct vx6_quic *q)
{
	struct qstream *s = q->sq_head;

	if (s == NULL)
		return NULL;
	q->sq_head = s->sq_next;
	if (q->sq_head == NULL)
		q->sq_tail = NULL;
	s->sq_next = NULL;
	s->in_sq = false;
	return s;
}

static void
sendq_remove(struct vx6_quic *q, struct qstream *s)
{
	struct qstream **pp, *prev = NULL;

	if (!s->in_sq)
		return;
	for (pp = &q->sq_head; *pp != NULL; prev = *pp, pp = &(*pp)->sq_next) {
		if (*pp == s) {
			*pp = s->sq_next;
			if (q->sq_tail == s)
				q->sq_tail = prev;
			break;
		}
	}
	s->sq_next = NULL;
	s->in_sq = false;
}

static void
unpark(struct vx6_quic *q, struct qstream *s)
{
	if (!s->parked)
		return;
	s->parked = false;
	q->nparked--;
	sendq_add(q, s, s->control);
}

/* Takes c: appends it to the stream's send buffer. */
static void
queue_chunk(struct vx6_quic *q, struct qstream *s, struct vx6_chunk *c)
{
	c->next = NULL;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	if (s->cur == NULL) {
		s->cur = c;
		s->cur_off = 0;
	}
	s->queued += c->len;
	q->total_unsent += c->len;
	q->total_held += c->len;
	sendq_add(q, s, s->control);
}

/* n bytes from cur were handed to ngtcp2. */
static void
advance(struct vx6_quic *q, struct qstream *s, size_t n)
{
	s->sent += n;
	q->total_unsent -= n;
	while (n > 0 && s->cur != NULL) {
		size_t take = s->cur->len - s->cur_off;
		if (take > n)
			take = n;
		s->cur_off += (uint32_t)take;
		n -= take;
		if (s->cur_off == s->cur->len) {
			s->cur = s->cur->next;
			s->cur_off = 0;
		}
	}
}

/* Frees what was never handed to ngtcp2 (it will never be sent). */
static void
drop_unsent(struct vx6_quic *q, struct qstream *s)
{
	uint64_t n = s->queued - s->sent;
	struct vx6_chunk *c, *next, *keep;

	if (n == 0)
		return;
	keep = s->cur;
	if (s->cur_off > 0) {
		keep->len = s->cur_off;   /* the sent part stays until acked */
		c = keep->next;
		keep->next = NULL;
	} else {
		/* find the chunk before cur */
		struct vx6_chunk *p = NULL;
		for (struct vx6_chunk *x = s->head; x != s->cur; x = x->next)
			p = x;
		keep = p;
		c = s->cur;
		if (p)
			p->next = NULL;
		else
			s->head = NULL;
	}
	for (; c != NULL; c = next) {
		next = c->next;
		vx6_chunk_free(c);
	}
	s->tail = keep;
	s->cur = NULL;
	s->cur_off = 0;
	s->queued = s->sent;
	q->total_unsent -= n;
	q->total_held -= n;
}

static void
free_chunks(struct vx6_quic *q, struct qstream *s)
{
	struct vx6_chunk *c, *next;

	q->total_unsent -= s->queued - s->sent;
	q->total_held -= s->queued - s->head_off;
	for (c = s->head; c != NULL; c = next) {
		next = c->next;
		vx6_chunk_free(c);
	}
	s->head = s->tail = s->cur = NULL;
	s->head_off = s->sent = s->queued;
}

static struct qstream *
stream_new(struct vx6_quic *q, int64_t id, bool local)
{
	struct qstream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->id = id;
	s->sid = (uint32_t)(id + 1);
	s->local = local;
	s->v = local ? V_ALIVE : V_PENDING;
	if (vx6_idmap_put(&q->streams, s->sid, s) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void
stream_destroy(struct vx6_quic *q, struct qstream *s)
{
	sendq_remove(q, s);
	if (s->parked)
		q->nparked--;
	if (s->blocked)
		q->nblocked--;
	free_chunks(q, s);
	vx6_idmap_del(&q->streams, s->sid);
	if (q->ctrl == s)
		q->ctrl = NULL;
	/* A peer's stream slot is given back only now, so streams the
	 * application still holds keep counting against max_streams. */
	if (!s->local && !s->control && q->conn != NULL && q->state != Q_CLOSED)
		ngtcp2_conn_extend_max_streams_bidi(q->conn, 1);
	free(s);
}

static void
maybe_destroy(struct vx6_quic *q, struct qstream *s)
{
	if (s->quic_closed && s->v != V_ALIVE && s->pending == 0)
		stream_destroy(q, s);
}

/* The VX6 stream ended (not its QUIC stream, which may still deliver
 * queued bytes or wait for acks). */
static void
vx6_done(struct vx6_quic *q, struct qstream *s)
{
	if (s->v == V_ALIVE)
		q->open_count--;
	s->v = V_DONE;
	if (s->blocked) {
		s->blocked = false;
		q->nblocked--;
	}
}

/* Connection credit is returned as soon as bytes reach a stream's buffer,
 * while the buffers together hold less than a session window; beyond that
 * it waits for the application to consume. Returning it only on consume
 * would let a few stalled streams (each within its own window) pin the
 * connection window: ngtcp2 sends MAX_DATA only once the increment reaches
 * half a window, which then never happens. Per-stream windows still bound
 * what each stream holds (same rule as the TCP mux, mux.c). */
static void
conn_release(struct vx6_quic *q)
{
	if (q->conn_owed == 0 || q->conn == NULL || q->recv_buffered >= q->cfg.settings.session_window)
		return;
	ngtcp2_conn_extend_max_offset(q->conn, q->conn_owed);
	q->conn_owed = 0;
}

static void
extend_stream(struct vx6_quic *q, const struct qstream *s, int64_t id, size_t n)
{
	if (n > 0 && q->conn != NULL && (s == NULL || !s->quic_closed))
		(void)ngtcp2_conn_extend_max_stream_offset(q->conn, id, n);
}

/* Returns n received bytes of flow control (stream and connection) that
 * the application never holds. */
static void
extend(struct vx6_quic *q, const struct qstream *s, int64_t id, size_t n)
{
	if (n == 0 || q->conn == NULL)
		return;
	extend_stream(q, s, id, n);
	q->conn_owed += n;
	conn_release(q);
}

/* --- Ending the session ------------------------------------------------- */

static void
free_events(struct vx6_quic *q)
{
	struct event *e, *next;

	for (e = q->ev_head; e != NULL; e = next) {
		struct qstream *s = stream_get(q, e->sid);
		next = e->next;
		if (s && s->pending)
			s->pending--;
		vx6_chunk_free(e->c);
		free(e);
	}
	q->ev_head = q->ev_tail = NULL;
}

/* Ends the session once: every open stream gets on_reset, then on_closed.
 * The close frame (if any) was chosen by the caller in q->ck. */
static int end(struct vx6_quic *q, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
end(struct vx6_quic *q, int err, const char *fmt, ...)
{
	va_list ap;
	uint32_t *ids = NULL;
	size_t n = 0, pos = 0, cap = q->open_count;
	struct qstream *s;

	if (q->state == Q_CLOSED)
		return q->err;
	q->state = Q_CLOSED;
	q->err = err;
	va_start(ap, fmt);
	vsnprintf(q->reason, sizeof(q->reason), fmt, ap);
	va_end(ap);
	drop_half_open(q);
	free_events(q);
	if (cap > 0)
		ids = malloc(cap * sizeof(*ids));
	while ((s = vx6_idmap_next(&q->streams, &pos, NULL)) != NULL) {
		if (s->v != V_ALIVE)
			continue;
		vx6_done(q, s);
		if (ids != NULL && n < cap)
			ids[n++] = s->sid;
	}
	q->open_count = 0;
	for (size_t i = 0; i < n; i++)
		q->cbs->stream.on_reset(q->ud, ids[i], VX6_RESET_SESSION_LOST, q->reason, false);
	free(ids);
	if (q->cbs->on_closed)
		q->cbs->on_closed(q->ud, err, q->reason);
	return err;
}

static void
close_app(struct vx6_quic *q, uint64_t code, const char *reason)
{
	q->ck = CK_APP;
	q->close_code = code;
	snprintf(q->close_reason, sizeof(q->close_reason), "%.*s", VX6_FRAME_MAX_REASON, reason ? reason : "");
}

/* An error from ngtcp2_conn_read_pkt / handle_expiry / write. */
static int
fail_liberr(struct vx6_quic *q, int rv)
{
	ngtcp2_connection_close_error cc;
	char why[VX6_FRAME_MAX_REASON + 1];

	switch (rv) {
	case NGTCP2_ERR_DRAINING:
		if (q->got_reset)
			return end(q, VX6_ERR_CLOSED,
			    "stateless reset received (the peer lost this connection, e.g. it restarted)");
		ngtcp2_conn_get_connection_close_error(q->conn, &cc);
		printable(why, sizeof(why), cc.reason, cc.reasonlen);
		if (cc.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION)
			return end(q, q->state == Q_HANDSHAKE ? VX6_ERR_REFUSED : 0,
			    "peer closed the connection (%s%s%s)", vx6_reset_code_name((unsigned)cc.error_code),
			    why[0] ? ": " : "", why);
		if (cc.error_code >= NGTCP2_CRYPTO_ERROR && cc.error_code < NGTCP2_CRYPTO_ERROR + 0x100) {
			unsigned alert = (unsigned)(cc.error_code & 0xff);
			const char *an = gnutls_alert_get_strname((gnutls_alert_description_t)alert);
			return end(q, VX6_ERR_CRYPTO, "handshake failed: peer sent TLS alert %u (%s)%s%s",
			    alert, an ? an : "unknown", why[0] ? ": " : "", why);
		}
		if (cc.error_code == NGTCP2_NO_ERROR)
			return end(q, q->state == Q_HANDSHAKE ? VX6_ERR_REFUSED : 0,
			    "peer closed the connection%s%s", why[0] ? ": " : "", why);
		return end(q, VX6_ERR_PROTOCOL, "peer closed the connection with QUIC error 0x%llx%s%s",
		    (unsigned long long)cc.error_code, why[0] ? ": " : "", why);
	case NGTCP2_ERR_DROP_CONN:
	case NGTCP2_ERR_RETRY:
		return end(q, VX6_ERR_PROTOCOL, "connection dropped (invalid packet from the peer)");
	case NGTCP2_ERR_IDLE_CLOSE:
		return end(q, VX6_ERR_TIMEOUT, "idle timeout: nothing received for %llu ms",
		    (unsigned long long)(q->cfg.idle_timeout / VX6_NS_PER_MS));
	case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
		return end(q, VX6_ERR_TIMEOUT, "handshake did not complete within %llu ms",
		    (unsigned long long)(q->cfg.handshake_timeout / VX6_NS_PER_MS));
	case NGTCP2_ERR_CRYPTO: {
		uint8_t alert = ngtcp2_conn_get_tls_alert(q->conn);
		const char *an = gnutls_alert_get_strname((gnutls_alert_description_t)alert);
		q->ck = CK_ALERT;
		q->close_alert = alert;
		if (q->hs_err) {
			if (q->close_reason[0] == '\0')
				snprintf(q->close_reason, sizeof(q->close_reason), "%.*s", VX6_FRAME_MAX_REASON,
				    q->hs_reason);
			return end(q, q->hs_err, "handshake failed: %s", q->hs_reason);
		}
		snprintf(q->close_reason, sizeof(q->close_reason), "TLS handshake failed");
		return end(q, VX6_ERR_CRYPTO, "handshake failed: TLS alert %u (%s)", alert, an ? an : "none");
	}
	case NGTCP2_ERR_CALLBACK_FAILURE:
		if (q->cb_err == 0)
			q->cb_err = VX6_ERR_NOMEM;
		close_app(q, VX6_RESET_PROTOCOL, q->cb_reason);
		if (q->state == Q_HANDSHAKE && q->hs_err == 0)
			return end(q, q->cb_err, "handshake failed: %s", q->cb_reason);
		return end(q, q->cb_err, "%s", q->cb_reason);
	default:
		q->ck = CK_LIBERR;
		q->close_liberr = rv;
		return end(q, rv == NGTCP2_ERR_NOMEM ? VX6_ERR_NOMEM : VX6_ERR_PROTOCOL, "QUIC error: %s",
		    ngtcp2_strerror(rv));
	}
}

/* --- Dispatch ------------------------------------------------------------- */

static int open_control(struct vx6_quic *q);
static void check_writable(struct vx6_quic *q);

static void
establish(struct vx6_quic *q)
{
	int rc;

	if (q->state != Q_HANDSHAKE)
		return;
	q->state = Q_OPEN;
	drop_half_open(q);
	q->info.established = true;
	q->info.established_at = q->now;
	memcpy(q->info.peer_key, q->peer_key, VX6_KEY_LEN);
	vx6_node_id_from_key(q->info.peer_node_id, q->peer_key);
	if (q->cfg.keepalive_interval)
		ngtcp2_conn_set_keep_alive_timeout(q->conn, q->cfg.keepalive_interval);
	if ((rc = open_control(q)) != 0) {
		close_app(q, VX6_RESET_INTERNAL, "cannot open the control stream");
		end(q, rc, "cannot open the control stream: %s", vx6_strerror(rc));
		return;
	}
	if (q->cbs->on_established)
		q->cbs->on_established(q->ud);
}

static void
dispatch_one(struct vx6_quic *q, struct event *e)
{
	struct qstream *s = stream_get(q, e->sid);
	const struct vx6_mux_cbs *sc = &q->cbs->stream;

	if (s && s->pending)
		s->pending--;
	switch (e->kind) {
	case EV_ESTABLISHED:
		establish(q);
		break;
	case EV_OPEN:
		if (s == NULL || s->v != V_PENDING || s->dead_early)
			break;
		s->v = V_ALIVE;
		q->open_count++;
		q->opened_total++;
		sc->on_open(q->ud, e->sid, (const char *)vx6_chunk_ptr(e->c));
		break;
	case EV_ACCEPT:
		if (s == NULL || s->v != V_ALIVE || s->accepted)
			break;
		s->accepted = true;
		sc->on_accept(q->ud, e->sid);
		break;
	case EV_DATA:
		if (s == NULL || s->v != V_ALIVE) {
			/* Late data for a stream the application is done with:
			 * its flow control is ours to return. */
			extend(q, s, (int64_t)e->sid - 1, e->c->len);
			break;
		}
		q->recv_buffered += e->c->len;
		s->unconsumed += e->c->len;
		q->conn_owed += e->c->len;
		conn_release(q);
		sc->on_data(q->ud, e->sid, e->c);
		e->c = NULL;   /* transferred */
		break;
	case EV_FIN:
		if (s == NULL || s->v != V_ALIVE)
			break;
		s->fin_recv = true;
		sc->on_fin(q->ud, e->sid);
		if ((s = stream_get(q, e->sid)) != NULL && s->v == V_ALIVE && s->fin_queued)
			vx6_done(q, s);
		break;
	case EV_RESET:
		if (s == NULL)
			break;
		if (s->v == V_ALIVE) {
			vx6_done(q, s);
			drop_unsent(q, s);
			if (!s->quic_closed)
				(void)ngtcp2_conn_shutdown_stream(q->conn, s->id, e->code);
			sc->on_reset(q->ud, e->sid, e->code, (const char *)vx6_chunk_ptr(e->c), true);
		} else if (s->v == V_PENDING) {
			s->v = V_DONE;
			if (!s->quic_closed)
				(void)ngtcp2_conn_shutdown_stream(q->conn, s->id, e->code);
		}
		break;
	case EV_RPC:
		if (q->cbs->on_rpc)
			q->cbs->on_rpc(q->ud, vx6_chunk_ptr(e->c), e->c->len);
		break;
	case EV_DGRAM:
		if (q->on_datagram)
			q->on_datagram(q->ud, vx6_chunk_ptr(e->c), e->c->len);
		break;
	}
	if ((s = stream_get(q, e->sid)) != NULL)
		maybe_destroy(q, s);
}

static void
dispatch(struct vx6_quic *q)
{
	struct event *e;

	if (q->dispatching)
		return;
	q->dispatching = true;
	while (q->state != Q_CLOSED && (e = q->ev_head) != NULL) {
		q->ev_head = e->next;
		if (q->ev_head == NULL)
			q->ev_tail = NULL;
		dispatch_one(q, e);
		vx6_chunk_free(e->c);
		free(e);
	}
	q->dispatching = false;
	if (q->state == Q_CLOSED)
		free_events(q);
}

/* --- Control stream ------------------------------------------------------ */

static int
ctrl_msg(struct vx6_quic *q, uint8_t type, const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen)
{
	struct vx6_chunk *c;
	uint8_t *p;

	if (q->ctrl == NULL || q->ctrl->wr_shut)
		return VX6_ERR_CLOSED;
	if (q->ctrl->queued - q->ctrl->sent + QUIC_MSG_HDR + alen + blen > QUIC_CTRL_MAX_QUEUED)
		return VX6_ERR_LIMIT;
	c = vx6_chunk_new(0, QUIC_MSG_HDR + alen + blen, 0);
	if (c == NULL)
		return VX6_ERR_NOMEM;
	p = vx6_chunk_ptr(c);
	p[0] = type;
	vx6_put_u16(p + 1, (uint16_t)(alen + blen));
	if (alen)
		memcpy(p + QUIC_MSG_HDR, a, alen);
	if (blen)
		memcpy(p + QUIC_MSG_HDR + alen, b, blen);
	c->len = (uint32_t)(QUIC_MSG_HDR + alen + blen);
	queue_chunk(q, q->ctrl, c);
	return 0;
}

static int
open_control(struct vx6_quic *q)
{
	int64_t id;
	struct qstream *s;
	struct vx6_chunk *c;

	if (ngtcp2_conn_open_uni_stream(q->conn, &id, NULL) != 0)
		return VX6_ERR_LIMIT;
	s = stream_new(q, id, true);
	if (s == NULL)
		return VX6_ERR_NOMEM;
	s->control = true;
	s->v = V_DONE;   /* never a VX6 stream */
	ngtcp2_conn_set_stream_user_data(q->conn, id, s);
	q->ctrl = s;
	c = vx6_chunk_new(0, 1, 0);
	if (c == NULL)
		return VX6_ERR_NOMEM;
	vx6_chunk_ptr(c)[0] = QUIC_CTRL_PREAMBLE;
	c->len = 1;
	queue_chunk(q, s, c);
	return 0;
}

/* A RESET message from the peer: the VX6 reset of stream `id`. */
static int
ctrl_reset(struct vx6_quic *q, const uint8_t *p, size_t n)
{
	struct vx6_frame f = { .type = VX6_FRAME_RESET, .length = (uint16_t)(n - 8), .payload = p + 8 };
	char reason[VX6_FRAME_MAX_REASON + 1];
	uint64_t id = vx6_get_u64(p);
	uint16_t code;
	struct qstream *s;

	if (vx6_frame_parse_reason(&f, &code, reason) != 0)
		return cb_fail(q, VX6_ERR_MALFORMED, "malformed RESET message on the control stream");
	if (!ngtcp2_is_bidi_stream((int64_t)(id & 0x3fffffffffffffffULL)) || id >= UINT32_MAX)
		return cb_fail(q, VX6_ERR_PROTOCOL, "RESET message for stream id %llu, not a VX6 stream",
		    (unsigned long long)id);
	s = stream_get(q, (uint32_t)id + 1);
	if (s != NULL) {
		if (!s->local && !s->open_queued)
			s->dead_early = true;   /* never announce it */
		return event_push(q, EV_RESET, s->sid, code, reason, strlen(reason), true) ? cb_fail(q,
		    VX6_ERR_NOMEM, "out of memory") : 0;
	}
	if (!ngtcp2_conn_is_local_stream(q->conn, (int64_t)id)) {
		/* Not seen yet: remember it, so its OPEN is never announced. */
		q->early_resets[q->nearly++ % QUIC_EARLY_RESETS] = (int64_t)id;
	}
	return 0;
}

static int
ctrl_handle(struct vx6_quic *q, uint8_t type, const uint8_t *p, size_t n)
{
	switch (type) {
	case QUIC_MSG_RPC:
		if (n == 0)
			return cb_fail(q, VX6_ERR_MALFORMED, "empty RPC message on the control stream");
		return event_push(q, EV_RPC, 0, 0, p, n, false) ? cb_fail(q, VX6_ERR_NOMEM, "out of memory")
								: 0;
	case QUIC_MSG_RESET:
		if (n < 8 + 2 || n > 8 + 2 + VX6_FRAME_MAX_REASON)
			return cb_fail(q, VX6_ERR_MALFORMED, "RESET message of %zu bytes", n);
		return ctrl_reset(q, p, n);
	default:
		if (type >= 0x40)
			return 0;   /* extension space: ignored */
		return cb_fail(q, VX6_ERR_PROTOCOL, "unknown control message type 0x%02x", type);
	}
}

static int
ctrl_recv(struct vx6_quic *q, int64_t id, const uint8_t *data, size_t len, bool fin)
{
	int rc;

	if (q->peer_ctrl != id)
		return cb_fail(q, VX6_ERR_PROTOCOL, "data on unidirectional stream %lld", (long long)id);
	extend(q, NULL, id, len);   /* consumed here: at most one message is buffered */
	while (len > 0) {
		size_t need, take;
		if (!q->crx_pre) {
			if (data[0] != QUIC_CTRL_PREAMBLE)
				return cb_fail(q, VX6_ERR_PROTOCOL, "control stream starts with 0x%02x", data[0]);
			q->crx_pre = true;
			data++;
			len--;
			continue;
		}
		if (q->crx == NULL && (q->crx = malloc(QUIC_MSG_HDR + QUIC_MSG_MAX_PAYLOAD)) == NULL)
			return cb_fail(q, VX6_ERR_NOMEM, "out of memory");
		if (q->crx_len < QUIC_MSG_HDR) {
			need = QUIC_MSG_HDR - q->crx_len;
		} else {
			size_t plen = vx6_get_u16(q->crx + 1);
			if (plen > QUIC_MSG_MAX_PAYLOAD)
				return cb_fail(q, VX6_ERR_TOO_LARGE, "control message of %zu bytes", plen);
			need = QUIC_MSG_HDR + plen - q->crx_len;
		}
		take = need < len ? need : len;
		memcpy(q->crx + q->crx_len, data, take);
		q->crx_len += take;
		data += take;
		len -= take;
		if (q->crx_len >= QUIC_MSG_HDR) {
			size_t plen = vx6_get_u16(q->crx + 1);
			if (plen > QUIC_MSG_MAX_PAYLOAD)
				return cb_fail(q, VX6_ERR_TOO_LARGE, "control message of %zu bytes", plen);
			if (q->crx_len == QUIC_MSG_HDR + plen) {
				q->crx_len = 0;
				if ((rc = ctrl_handle(q, q->crx[0], q->crx + QUIC_MSG_HDR, plen)) != 0)
					return rc;
			}
		}
	}
	if (fin)
		return cb_fail(q, VX6_ERR_PROTOCOL, "peer closed its control stream");
	return 0;
}

/* --- ngtcp2 callbacks ------------------------------------------------------ */

static bool
service_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == ':';
}

static int
stream_recv(struct vx6_quic *q, struct qstream *s, const uint8_t *data, size_t len, bool fin)
{
	size_t off = 0;

	if (s->v == V_DONE || s->dead_early) {
		extend(q, s, s->id, len);
		return 0;
	}
	if (!s->hdr_done) {
		if (s->local) {
			if (len == 0)
				return cb_fail(q, VX6_ERR_PROTOCOL, "stream %u ended before ACCEPT", s->sid);
			if (data[0] != QUIC_ACCEPT_MARK)
				return cb_fail(q, VX6_ERR_PROTOCOL, "stream %u: answer starts with 0x%02x, not ACCEPT",
				    s->sid, data[0]);
			s->hdr_done = true;
			off = 1;
			extend(q, s, s->id, 1);
			if (event_push(q, EV_ACCEPT, s->sid, 0, NULL, 0, false) != 0)
				return cb_fail(q, VX6_ERR_NOMEM, "out of memory");
		} else {
			while (off < len && !s->hdr_done) {
				size_t want = s->hdrlen < 2 ? 2u : 2u + s->hdr[1];
				size_t take = want - s->hdrlen;
				if (take > len - off)
					take = len - off;
				memcpy(s->hdr + s->hdrlen, data + off, take);
				s->hdrlen = (uint8_t)(s->hdrlen + take);
				off += take;
				if (s->hdrlen == 2 && (s->hdr[0] != QUIC_OPEN_SERVICE || s->hdr[1] == 0 ||
							  s->hdr[1] > VX6_FRAME_MAX_SERVICE))
					return cb_fail(q, VX6_ERR_MALFORMED, "stream %u: malformed OPEN header", s->sid);
				if (s->hdrlen >= 2 && s->hdrlen == 2u + s->hdr[1])
					s->hdr_done = true;
			}
			if (!s->hdr_done) {
				if (fin)
					return cb_fail(q, VX6_ERR_MALFORMED, "stream %u ended inside its OPEN header",
					    s->sid);
				return 0;
			}
			for (size_t i = 0; i < s->hdr[1]; i++)
				if (!service_char(s->hdr[2 + i]))
					return cb_fail(q, VX6_ERR_MALFORMED, "stream %u: bad service name", s->sid);
			extend(q, s, s->id, 2u + s->hdr[1]);
			if (event_push(q, EV_OPEN, s->sid, 0, s->hdr + 2, s->hdr[1], true) != 0)
				return cb_fail(q, VX6_ERR_NOMEM, "out of memory");
			s->open_queued = true;
		}
	}
	if (len > off) {
		if (event_push(q, EV_DATA, s->sid, 0, data + off, len - off, false) != 0)
			return cb_fail(q, VX6_ERR_NOMEM, "out of memory");
	}
	if (fin && event_push(q, EV_FIN, s->sid, 0, NULL, 0, false) != 0)
		return cb_fail(q, VX6_ERR_NOMEM, "out of memory");
	return 0;
}

static int
cb_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t offset,
    const uint8_t *data, size_t datalen, void *user_data, void *stream_user_data)
{
	struct vx6_quic *q = user_data;
	bool fin = flags & NGTCP2_STREAM_DATA_FLAG_FIN;

	(void)conn;
	(void)offset;
	if (!ngtcp2_is_bidi_stream(stream_id))
		return ctrl_recv(q, stream_id, data, datalen, fin);
	if (stream_user_data == NULL) {
		extend(q, NULL, stream_id, datalen);
		return 0;
	}
	return stream_recv(q, stream_user_data, data, datalen, fin);
}

static int
cb_stream_open(ngtcp2_conn *conn, int64_t stream_id, void *user_data)
{
	struct vx6_quic *q = user_data;
	struct qstream *s;

	if (!ngtcp2_is_bidi_stream(stream_id)) {
		if (q->peer_ctrl >= 0)
			return cb_fail(q, VX6_ERR_PROTOCOL, "peer opened a second unidirectional stream");
		q->peer_ctrl = stream_id;
		return 0;
	}
	if (stream_id >= (int64_t)UINT32_MAX)
		return cb_fail(q, VX6_ERR_LIMIT, "stream ids exhausted");
	s = stream_new(q, stream_id, false);
	if (s == NULL)
		return cb_fail(q, VX6_ERR_NOMEM, "out of memory");
	ngtcp2_conn_set_stream_user_data(conn, stream_id, s);
	for (uint32_t i = 0; i < QUIC_EARLY_RESETS && i < q->nearly; i++) {
		if (q->early_resets[i] == stream_id) {
			s->dead_early = true;
			q->early_resets[i] = -1;
			if (event_push(q, EV_RESET, s->sid, VX6_RESET_CANCEL, "", 0, true) != 0)
				return cb_fail(q, VX6_ERR_NOMEM, "out of memory");
		}
	}
	return 0;
}

static int
cb_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t app_error_code,
    void *user_data, void *stream_user_data)
{
	struct vx6_quic *q = user_data;
	struct qstream *s = stream_user_data;

	(void)conn;
	(void)flags;
	(void)app_error_code;
	if (!ngtcp2_is_bidi_stream(stream_id)) {
		if (q->state == Q_CLOSED)
			return 0;
		return cb_fail(q, VX6_ERR_PROTOCOL, "a control stream was closed");
	}
	if (s == NULL)
		return 0;
	s->quic_closed = true;
	sendq_remove(q, s);
	if (s->parked) {
		s->parked = false;
		q->nparked--;
	}
	free_chunks(q, s);
	maybe_destroy(q, s);
	return 0;
}

static int
cb_acked(ngtcp2_conn *conn, int64_t stream_id, uint64_t offset, uint64_t datalen, void *user_data,
    void *stream_user_data)
{
	struct vx6_quic *q = user_data;
	struct qstream *s = stream_user_data;
	uint64_t end_off = offset + datalen;

	(void)conn;
	(void)stream_id;
	if (s == NULL)
		return 0;
	while (s->head != NULL && s->head != s->cur && s->head_off + s->head->len <= end_off) {
		struct vx6_chunk *c = s->head;
		s->head = c->next;
		if (s->head == NULL)
			s->tail = NULL;
		s->head_off += c->len;
		q->total_held -= c->len;
		vx6_chunk_free(c);
	}
	return 0;
}

static int
cb_stream_reset(ngtcp2_conn *conn, int64_t stream_id, uint64_t final_size, uint64_t app_error_code,
    void *user_data, void *stream_user_data)
{
	/* RESET_STREAM only frees QUIC state; the VX6 reset (code and
	 * reason) is the RESET message on the control stream. */
	(void)conn;
	(void)stream_id;
	(void)final_size;
	(void)app_error_code;
	(void)user_data;
	(void)stream_user_data;
	return 0;
}

static int
cb_extend_max_stream_data(ngtcp2_conn *conn, int64_t stream_id, uint64_t max_data, void *user_data,
    void *stream_user_data)
{
	(void)conn;
	(void)stream_id;
	(void)max_data;
	if (stream_user_data)
		unpark(user_data, stream_user_data);
	return 0;
}

static int
cb_recv_datagram(ngtcp2_conn *conn, uint32_t flags, const uint8_t *data, size_t datalen,
    void *user_data)
{
	struct vx6_quic *q = user_data;

	(void)conn;
	(void)flags;
	if (q->on_datagram == NULL)
		return 0;
	return event_push(q, EV_DGRAM, 0, 0, data, datalen, false) ? cb_fail(q, VX6_ERR_NOMEM,
								 "out of memory") : 0;
}

static int
cb_recv_stateless_reset(ngtcp2_conn *conn, const ngtcp2_pkt_stateless_reset *sr, void *user_data)
{
	struct vx6_quic *q = user_data;

	(void)conn;
	(void)sr;
	q->got_reset = true;
	return 0;
}

static void
cb_rand(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx)
{
	struct vx6_quic *q = rand_ctx->native_handle;

	vx6_env_random(q->env, dest, destlen);
}

static int
cb_path_challenge(ngtcp2_conn *conn, uint8_t *data, void *user_data)
{
	struct vx6_quic *q = user_data;

	(void)conn;
	vx6_env_random(q->env, data, NGTCP2_PATH_CHALLENGE_DATALEN);
	return 0;
}

static int
cb_new_cid(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *user_data)
{
	struct vx6_quic *q = user_data;
	struct qkey k;

	(void)conn;
	for (int tries = 0; tries < 8; tries++) {
		cid->datalen = cidlen;
		vx6_env_random(q->env, cid->data, cidlen);
		vx6_quic_key_cid(&k, cid->data, cidlen);
		if (vx6_quic_ep_has(q->ep, &k))
			continue;
		if (q_register(q, &k) != 0)
			return cb_fail(q, VX6_ERR_NOMEM, "out of memory");
		vx6_quic_ep_reset_token(q->ep, cid->data, cidlen, token);
		return 0;
	}
	return cb_fail(q, VX6_ERR_EXISTS, "cannot find an unused connection ID");
}

static int
cb_remove_cid(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *user_data)
{
	struct vx6_quic *q = user_data;
	struct qkey k;

	(void)conn;
	vx6_quic_key_cid(&k, cid->data, cid->datalen);
	q_unregister(q, &k);
	return 0;
}

static int
cb_dcid_status(ngtcp2_conn *conn, int type, uint64_t seq, const ngtcp2_cid *cid, const uint8_t *token,
    void *user_data)
{
	struct vx6_quic *q = user_data;
	struct qkey k;

	(void)conn;
	(void)seq;
	(void)cid;
	if (token == NULL)
		return 0;
	vx6_quic_key_token(&k, token);
	if (type == NGTCP2_CONNECTION_ID_STATUS_TYPE_ACTIVATE) {
		/* Best effort: without it a stateless reset is not recognized
		 * and the connection ends by idle timeout instead. */
		(void)q_register(q, &k);
	} else {
		q_unregister(q, &k);
	}
	return 0;
}

static int
cb_handshake_completed(ngtcp2_conn *conn, void *user_data)
{
	struct vx6_quic *q = user_data;
	const ngtcp2_transport_params *tp;

	if (!q->have_peer)
		return cb_fail(q, VX6_ERR_CRYPTO, "the peer's certificate was never checked");
	if (!vx6_quic_tls_alpn_ok(q->tls))
		return cb_fail(q, VX6_ERR_VERSION, "ALPN %s was not negotiated", VX6_QUIC_ALPN);
	if (!q->server && (tp = ngtcp2_conn_get_remote_transport_params(conn)) != NULL &&
	    tp->stateless_reset_token_present) {
		struct qkey k;
		vx6_quic_key_token(&k, tp->stateless_reset_token);
		(void)q_register(q, &k);
	}
	return event_push(q, EV_ESTABLISHED, 0, 0, NULL, 0, false) ? cb_fail(q, VX6_ERR_NOMEM,
								     "out of memory") : 0;
}

int
vx6_quic_peer_verified(struct vx6_quic *q, int rc, const uint8_t pk[VX6_KEY_LEN], const char *why)
{
	char have[VX6_KEY_TEXT_LEN], want[VX6_KEY_TEXT_LEN];

	if (rc != 0) {
		q->hs_err = VX6_ERR_CRYPTO;
		snprintf(q->hs_reason, sizeof(q->hs_reason), "peer certificate rejected: %s", why);
		return -1;
	}
	memcpy(q->presented, pk, VX6_KEY_LEN);
	q->have_presented = true;
	if (vx6_key_to_x25519((uint8_t[VX6_KEY_LEN]){ 0 }, pk) != 0) {
		q->hs_err = VX6_ERR_CRYPTO;
		snprintf(q->hs_reason, sizeof(q->hs_reason), "peer key is not a valid Ed25519 key");
		return -1;
	}
	if (!q->server && q->cfg.have_expected_key && sodium_memcmp(pk, q->cfg.expected_key, VX6_KEY_LEN) != 0) {
		vx6_key_to_text(pk, have);
		vx6_key_to_text(q->cfg.expected_key, want);
		q->hs_err = VX6_ERR_KEY_MISMATCH;
		snprintf(q->hs_reason, sizeof(q->hs_reason), "key mismatch: peer presented %s, expected %s",
		    have, want);
		/* What the server reads in our CONNECTION_CLOSE. */
		snprintf(q->close_reason, sizeof(q->close_reason), "client expected key %s, got %s", want, have);
		return -1;
	}
	memcpy(q->peer_key, pk, VX6_KEY_LEN);
	q->have_peer = true;
	return 0;
}

static const ngtcp2_callbacks callbacks = {
	.client_initial = ngtcp2_crypto_client_initial_cb,
	.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb,
	.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	.handshake_completed = cb_handshake_completed,
	.encrypt = ngtcp2_crypto_encrypt_cb,
	.decrypt = ngtcp2_crypto_decrypt_cb,
	.hp_mask = ngtcp2_crypto_hp_mask_cb,
	.recv_stream_data = cb_recv_stream_data,
	.acked_stream_data_offset = cb_acked,
	.stream_open = cb_stream_open,
	.stream_close = cb_stream_close,
	.recv_stateless_reset = cb_recv_stateless_reset,
	.recv_retry = ngtcp2_crypto_recv_retry_cb,
	.rand = cb_rand,
	.get_new_connection_id = cb_new_cid,
	.remove_connection_id = cb_remove_cid,
	.update_key = ngtcp2_crypto_update_key_cb,
	.stream_reset = cb_stream_reset,
	.extend_max_stream_data = cb_extend_max_stream_data,
	.dcid_status = cb_dcid_status,
	.path_validation = cb_path_validation,
	.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	.recv_datagram = cb_recv_datagram,
	.get_path_challenge_data = cb_path_challenge,
	.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
};

/* --- Creation ------------------------------------------------------------ */

static bool
config_ok(const struct vx6_quic_config *cfg)
{
	const struct vx6_hs_settings *st = &cfg->settings;

	return cfg->local != NULL && st->stream_window >= VX6_HS_MIN_STREAM_WINDOW &&
	    st->stream_window <= VX6_HS_MAX_STREAM_WINDOW && st->session_window >= st->stream_window &&
	    st->max_streams > 0 && st->max_streams <= VX6_HS_MAX_STREAMS && cfg->handshake_timeout > 0 &&
	    cfg->idle_timeout > 0;
}

static void
settings_init(struct vx6_quic *q, ngtcp2_settings *st, ngtcp2_transport_params *tp, uint64_t now)
{
	ngtcp2_settings_default(st);
	st->initial_ts = now;
	st->max_tx_udp_payload_size = VX6_QUIC_MAX_DGRAM;
	st->handshake_timeout = UINT64_MAX;   /* our own deadline, see hs_deadline */
	/* BBR: paced by the measured bottleneck rate and RTT, not by loss,
	 * so random loss on a path does not collapse throughput as it does
	 * with loss-based Cubic/Reno (bench/quic-loss.sh). Which BBR: see
	 * QUIC_CC_ALGO. */
	st->cc_algo = QUIC_CC_ALGO;
	/* No window auto-tuning past what the configuration grants: the
	 * windows are the memory bound a node operator chose. */
	st->max_window = q->cfg.settings.session_window;
	st->max_stream_window = q->cfg.settings.stream_window;

	st->rand_ctx.native_handle = q;
	ngtcp2_transport_params_default(tp);
	tp->initial_max_stream_data_bidi_local = q->cfg.settings.stream_window;
	tp->initial_max_stream_data_bidi_remote = q->cfg.settings.stream_window;
	tp->initial_max_stream_data_uni = QUIC_CTRL_WINDOW;
	tp->initial_max_data = q->cfg.settings.session_window;
	tp->initial_max_streams_bidi = q->cfg.settings.max_streams;
	tp->initial_max_streams_uni = 1;
	tp->max_idle_timeout = q->cfg.idle_timeout;
	tp->max_udp_payload_size = VX6_QUIC_MAX_DGRAM;
	tp->active_connection_id_limit = 4;
	tp->max_datagram_frame_size = QUIC_MAX_DGRAM_FRAME;
}

/* An ngtcp2 path over the caller's storage; false if either address
 * cannot be one. */
static bool
make_path(ngtcp2_path *path, ngtcp2_sockaddr_union *la, ngtcp2_sockaddr_union *ra,
    const struct vx6_addr *local, const struct vx6_addr *remote)
{
	path->local.addr = &la->sa;
	path->local.addrlen = (ngtcp2_socklen)vx6_quic_sockaddr(local, la);
	path->remote.addr = &ra->sa;
	path->remote.addrlen = (ngtcp2_socklen)vx6_quic_sockaddr(remote, ra);
	path->user_data = NULL;
	return path->local.addrlen != 0 && path->remote.addrlen != 0;
}

static struct vx6_quic *
conn_alloc(struct vx6_quic_ep *ep, const struct vx6_quic_config *cfg, const struct vx6_env *env,
    const struct vx6_session_cbs *cbs, void *ud, bool server, uint64_t now)
{
	struct vx6_quic *q;

	if (ep == NULL || cfg == NULL || env == NULL || cbs == NULL || !config_ok(cfg))
		return NULL;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	q->ep = ep;
	q->cfg = *cfg;
	q->env = env;
	q->cbs = cbs;
	q->ud = ud;
	q->server = server;
	q->now = now;
	q->hs_deadline = now + cfg->handshake_timeout;
	q->peer_ctrl = -1;
	q->ref.get_conn = get_conn;
	q->ref.user_data = q;
	q->allocs.prev = q->allocs.next = &q->allocs;
	q->mem.user_data = q;
	q->mem.malloc = mem_malloc;
	q->mem.free = mem_free;
	q->mem.calloc = mem_calloc;
	q->mem.realloc = mem_realloc;
	q->info.initiator = !server;
	q->info.version = 1;
	vx6_idmap_init(&q->streams);
	vx6_chunkq_init(&q->dgq);
	for (size_t i = 0; i < QUIC_EARLY_RESETS; i++)
		q->early_resets[i] = -1;
	ep->st.connections++;
	return q;
}

static gnutls_certificate_credentials_t
conn_cred(struct vx6_quic *q)
{
	if (sodium_memcmp(q->cfg.local->pk, q->ep->cfg.local->pk, VX6_KEY_LEN) == 0)
		return q->ep->cred;
	if (q->own_cred == NULL && vx6_quic_tls_cred(q->cfg.local, &q->own_cred) != 0)
		return NULL;
	return q->own_cred;
}

static int
tls_attach(struct vx6_quic *q)
{
	gnutls_certificate_credentials_t cred = conn_cred(q);
	int rc;

	if (cred == NULL)
		return VX6_ERR_CRYPTO;
	if ((rc = vx6_quic_tls_session(q, q->server, cred, &q->ref, &q->tls)) != 0)
		return rc;
	ngtcp2_conn_set_tls_native_handle(q->conn, q->tls);
	return 0;
}

struct vx6_quic *
vx6_quic_connect(struct vx6_quic_ep *ep, const struct vx6_quic_config *cfg, const struct vx6_env *env,
    const struct vx6_session_cbs *cbs, void *ud, const struct vx6_addr *local,
    const struct vx6_addr *remote, uint64_t now)
{
	struct vx6_quic *q;
	ngtcp2_settings st;
	ngtcp2_transport_params tp;
	ngtcp2_cid dcid, scid;
	ngtcp2_sockaddr_union la, ra;
	ngtcp2_path path;
	struct qkey k;

	if (local == NULL || remote == NULL || local->family != remote->family)
		return NULL;
	q = conn_alloc(ep, cfg, env, cbs, ud, false, now);
	if (q == NULL)
		return NULL;
	q->local_any = vx6_addr_is_unspecified(local);
	if (!make_path(&path, &la, &ra, local, remote))
		goto fail;
	dcid.datalen = scid.datalen = QUIC_CIDLEN;
	vx6_env_random(env, dcid.data, QUIC_CIDLEN);
	do {
		vx6_env_random(env, scid.data, QUIC_CIDLEN);
		vx6_quic_key_cid(&k, scid.data, QUIC_CIDLEN);
	} while (vx6_quic_ep_has(ep, &k));
	settings_init(q, &st, &tp, now);
	if (ngtcp2_conn_client_new(&q->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &callbacks, &st, &tp,
		&q->mem, q) != 0)
		goto fail;
	if (q_register(q, &k) != 0 || tls_attach(q) != 0)
		goto fail;
	return q;
fail:
	vx6_quic_free(q);
	return NULL;
}

struct vx6_quic *
vx6_quic_accept(struct vx6_quic_ep *ep, const struct vx6_quic_config *cfg, const struct vx6_env *env,
    const struct vx6_session_cbs *cbs, void *ud, const struct vx6_addr *local,
    const struct vx6_addr *remote, const uint8_t *data, size_t len, uint64_t now)
{
	struct vx6_quic *q = NULL;
	ngtcp2_settings st;
	ngtcp2_transport_params tp;
	ngtcp2_pkt_hd hd;
	ngtcp2_cid scid, odcid;
	ngtcp2_sockaddr_union la, ra;
	ngtcp2_path path;
	struct qkey k, alias;
	bool retried = false;
	int rc;

	if (ep == NULL || local == NULL || remote == NULL || data == NULL || len < QUIC_MIN_INITIAL)
		return NULL;
	if (ngtcp2_accept(&hd, data, len) != 0 || hd.type != NGTCP2_PKT_INITIAL ||
	    hd.version != NGTCP2_PROTO_VER_V1 || ep->st.handshakes >= ep->cfg.max_handshakes)
		return NULL;
	vx6_quic_key_cid(&alias, hd.dcid.data, hd.dcid.datalen);
	if (vx6_quic_ep_has(ep, &alias))
		return NULL;   /* already ours: classify says RX_CONN */
	rc = vx6_quic_ep_check_token(ep, remote, &hd, now, &odcid);
	if (rc == 0)
		retried = true;
	else if (rc != VX6_ERR_NOT_FOUND || ep->st.handshakes >= ep->cfg.retry_above)
		return NULL;   /* bad token, or a Retry was due */
	q = conn_alloc(ep, cfg, env, cbs, ud, true, now);
	if (q == NULL)
		return NULL;
	q->half_open = true;
	ep->st.handshakes++;
	if (!make_path(&path, &la, &ra, local, remote))
		goto fail;
	scid.datalen = QUIC_CIDLEN;
	do {
		vx6_env_random(env, scid.data, QUIC_CIDLEN);
		vx6_quic_key_cid(&k, scid.data, QUIC_CIDLEN);
	} while (vx6_quic_ep_has(ep, &k));
	settings_init(q, &st, &tp, now);
	tp.original_dcid = retried ? odcid : hd.dcid;
	if (retried) {
		tp.retry_scid = hd.dcid;
		tp.retry_scid_present = 1;
		st.token = hd.token;
	}
	tp.stateless_reset_token_present = 1;
	vx6_quic_ep_reset_token(ep, scid.data, scid.datalen, tp.stateless_reset_token);
	if (ngtcp2_conn_server_new(&q->conn, &hd.scid, &scid, &path, hd.version, &callbacks, &st, &tp, &q->mem,
		q) != 0)
		goto fail;
	if (q_register(q, &k) != 0 || q_register(q, &alias) != 0 || tls_attach(q) != 0)
		goto fail;
	path_store(&q->cur_path, ngtcp2_conn_get_path(q->conn));
	/* The first datagram: a bad Initial refuses the connection without
	 * any callback (the caller has not seen q yet). */
	q->now = now;
	rc = ngtcp2_conn_read_pkt(q->conn, &path, NULL, data, len, now);
	if (rc != 0 || q->cb_err != 0)
		goto fail;
	q->info.bytes_in += len;
	q->last_rx = now;
	q->info.records_in++;
	dispatch(q);
	return q;
fail:
	vx6_quic_free(q);
	return NULL;
}

void
vx6_quic_free(struct vx6_quic *q)
{
	size_t pos = 0;
	struct qstream *s;

	if (q == NULL)
		return;
	drop_half_open(q);
	while (q->nkeys > 0) {
		struct qkey k = q->keys[q->nkeys - 1];
		q_unregister(q, &k);
	}
	free(q->keys);
	free_events(q);
	/* ngtcp2 may still reference stream data: delete it first. */
	if (q->conn)
		ngtcp2_conn_del(q->conn);
	mem_release_all(q);
	if (q->tls)
		gnutls_deinit(q->tls);
	if (q->own_cred)
		gnutls_certificate_free_credentials(q->own_cred);
	while ((s = vx6_idmap_next(&q->streams, &pos, NULL)) != NULL) {
		struct vx6_chunk *c, *next;
		for (c = s->head; c != NULL; c = next) {
			next = c->next;
			vx6_chunk_free(c);
		}
		free(s);
	}
	vx6_idmap_free(&q->streams);
	vx6_chunkq_clear(&q->dgq);
	free(q->crx);
	q->ep->st.connections--;
	sodium_memzero(q, sizeof(*q));
	free(q);
}

/* --- Input and timers ------------------------------------------------------ */

/* Server only. ngtcp2 0.12 aborts (assert) when a non-probing packet
 * arrives from the path a pending validation would fall back to: its
 * "migrated back" branch asserts that PMTUD is not running and then starts
 * it (asserting again when PMTUD is disabled), and PMTUD does run after a
 * validation answered by an undersized PATH_RESPONSE. Any client can send
 * from its previous address, and reordering does it by itself right after
 * a migration. So for a while after the client's path changed (or a path
 * validation event), a packet from one of its previous paths is handed to
 * ngtcp2 as if it came on the current path: it is authenticated, only its
 * source is not taken as a migration. A client that really went back is
 * followed once the window has passed. */
static void
path_store(ngtcp2_path_storage *ps, const ngtcp2_path *p)
{
	ngtcp2_path_storage_init(ps, p->local.addr, p->local.addrlen, p->remote.addr, p->remote.addrlen, NULL);
}

static uint64_t
old_path_window(struct vx6_quic *q)
{
	uint64_t w = 6 * ngtcp2_conn_get_pto(q->conn);

	return (w > QUIC_OLD_PATH_WINDOW ? w : QUIC_OLD_PATH_WINDOW) + VX6_NS_PER_SEC;
}

static void
guard_old_path(struct vx6_quic *q, ngtcp2_path *path, ngtcp2_sockaddr_union *la, ngtcp2_sockaddr_union *ra)
{
	const ngtcp2_path *cur;

	if (!q->server || q->nold == 0 || q->now >= q->old_until)
		return;
	cur = ngtcp2_conn_get_path(q->conn);
	if (ngtcp2_path_eq(cur, path))
		return;
	for (uint32_t i = 0; i < q->nold && i < QUIC_OLD_PATHS; i++) {
		if (ngtcp2_path_eq(&q->old_paths[i].path, path)) {
			memcpy(la, cur->local.addr, cur->local.addrlen);
			path->local.addrlen = cur->local.addrlen;
			memcpy(ra, cur->remote.addr, cur->remote.addrlen);
			path->remote.addrlen = cur->remote.addrlen;
			return;
		}
	}
}

/* After ngtcp2 ran: notice the client's path changing. */
static void
track_path(struct vx6_quic *q)
{
	const ngtcp2_path *cur;

	if (!q->server || q->conn == NULL || q->state == Q_CLOSED)
		return;
	cur = ngtcp2_conn_get_path(q->conn);
	if (ngtcp2_path_eq(cur, &q->cur_path.path))
		return;
	path_store(&q->old_paths[q->nold++ % QUIC_OLD_PATHS], &q->cur_path.path);
	path_store(&q->cur_path, cur);
	q->old_until = q->now + old_path_window(q);
	q->path_grace_until = q->now + QUIC_PATH_GRACE;
}

static int
cb_path_validation(ngtcp2_conn *conn, uint32_t flags, const ngtcp2_path *path,
    ngtcp2_path_validation_result res, void *user_data)
{
	struct vx6_quic *q = user_data;

	(void)conn;
	(void)flags;
	(void)path;
	(void)res;
	if (q->server && q->nold > 0)
		q->old_until = q->now + old_path_window(q);   /* a new validation may follow */
	q->path_grace_until = q->now + QUIC_PATH_GRACE;
	return 0;
}

static void
unpark_ready(struct vx6_quic *q)
{
	size_t pos = 0;
	struct qstream *s;

	if (q->nparked == 0 || q->state == Q_CLOSED || ngtcp2_conn_get_max_data_left(q->conn) == 0)
		return;
	while (q->nparked > 0 && (s = vx6_idmap_next(&q->streams, &pos, NULL)) != NULL)
		if (s->parked && ngtcp2_conn_get_max_stream_data_left(q->conn, s->id) > 0)
			unpark(q, s);
}

static int
after_input(struct vx6_quic *q, int rv)
{
	if (rv != 0) {
		dispatch(q);   /* what arrived before the error goes first */
		fail_liberr(q, rv);
	} else {
		dispatch(q);
		unpark_ready(q);
		check_writable(q);
	}
	if (q->state == Q_CLOSED)
		return q->err ? q->err : VX6_ERR_CLOSED;
	return 0;
}

int
vx6_quic_recv(struct vx6_quic *q, const struct vx6_addr *local, const struct vx6_addr *remote,
    const uint8_t *data, size_t len, uint64_t now)
{
	ngtcp2_sockaddr_union la, ra;
	ngtcp2_path path;
	int rv;

	q->now = now;
	if (q->state == Q_CLOSED)
		return q->err ? q->err : VX6_ERR_CLOSED;
	if (data == NULL || len == 0)
		return 0;
	if (!make_path(&path, &la, &ra, local, remote))
		return 0;
	if (q->local_any && !vx6_addr_is_unspecified(local)) {
		/* A client bound to "any" learns its address from the first
		 * reply, so later packets match the connection's path. */
		ngtcp2_conn_set_local_addr(q->conn, &path.local);
		q->local_any = false;
	}
	q->info.bytes_in += len;
	q->last_rx = now;
	q->info.records_in++;
	guard_old_path(q, &path, &la, &ra);
	rv = ngtcp2_conn_read_pkt(q->conn, &path, NULL, data, len, now);
	track_path(q);
	return after_input(q, rv);
}

uint64_t
vx6_quic_expiry(const struct vx6_quic *q)
{
	uint64_t t;

	if (q->state == Q_CLOSED)
		return q->ck != CK_NONE && !q->close_sent ? 0 : VX6_TIME_NEVER;
	t = ngtcp2_conn_get_expiry(q->conn);
	/* ngtcp2 0.12 leaves a timer in the past while the congestion window
	 * is full (pacing / probe timers are not cleared by handle_expiry), so
	 * an expiry already handled and written at or after is stale: poll
	 * instead of spinning until an ACK opens the window. */
	if (t <= q->expired_at && t <= q->idle_write_at)
		t = (q->expired_at > q->idle_write_at ? q->expired_at : q->idle_write_at) + QUIC_STALE_POLL;
	if (q->state == Q_HANDSHAKE)
		t = min64(t, q->hs_deadline);
	return t;
}

int
vx6_quic_handle_expiry(struct vx6_quic *q, uint64_t now)
{
	int rv;

	q->now = now;
	q->expired_at = now;
	if (q->state == Q_CLOSED)
		return q->err ? q->err : VX6_ERR_CLOSED;
	if (q->state == Q_HANDSHAKE && now >= q->hs_deadline)
		return end(q, VX6_ERR_TIMEOUT, "handshake did not complete within %llu ms",
		    (unsigned long long)(q->cfg.handshake_timeout / VX6_NS_PER_MS));
	rv = ngtcp2_conn_handle_expiry(q->conn, now);
	track_path(q);
	if (rv == 0 && q->state == Q_OPEN && now >= q->path_grace_until &&
	    now - q->last_rx >= QUIC_DEAD_SILENCE) {
		ngtcp2_conn_stat cs;
		ngtcp2_conn_get_conn_stat(q->conn, &cs);
		if (cs.pto_count >= QUIC_MAX_PTO)
			return end(q, VX6_ERR_TIMEOUT, "the peer stopped answering (%zu probes unacknowledged)",
			    cs.pto_count);
		if (q->cfg.keepalive_interval && cs.bytes_in_flight > 0 &&
		    now - q->last_rx >= QUIC_DEAD_KEEPALIVES * q->cfg.keepalive_interval)
			return end(q, VX6_ERR_TIMEOUT, "the peer stopped answering (nothing received for %llu ms, "
			    "keep-alive PINGs unacknowledged)", (unsigned long long)((now - q->last_rx) / VX6_NS_PER_MS));
	}
	return after_input(q, rv);
}

int
vx6_quic_migrate(struct vx6_quic *q, const struct vx6_addr *local, uint64_t now)
{
	const ngtcp2_path *cur;
	ngtcp2_sockaddr_union la, ra;
	ngtcp2_path path;
	int rv;

	if (q->state != Q_OPEN)
		return VX6_ERR_CLOSED;
	if (q->server || local == NULL)
		return VX6_ERR_INVAL;
	cur = ngtcp2_conn_get_path(q->conn);
	memcpy(&ra, cur->remote.addr, cur->remote.addrlen);
	path.remote.addr = &ra.sa;
	path.remote.addrlen = cur->remote.addrlen;
	path.local.addr = &la.sa;
	path.local.addrlen = (ngtcp2_socklen)vx6_quic_sockaddr(local, &la);
	path.user_data = NULL;
	if (path.local.addrlen == 0 || la.sa.sa_family != ra.sa.sa_family)
		return VX6_ERR_INVAL;
	q->now = now;
	/* Immediate: the old address is gone, so there is nothing to wait
	 * for; ngtcp2 still validates the new path. */
	q->path_grace_until = now + QUIC_PATH_GRACE;
	rv = ngtcp2_conn_initiate_immediate_migration(q->conn, &path, now);
	switch (rv) {
	case 0:
		return 0;
	case NGTCP2_ERR_CONN_ID_BLOCKED:
		return VX6_ERR_LIMIT;
	case NGTCP2_ERR_INVALID_ARGUMENT:
		return VX6_ERR_INVAL;
	case NGTCP2_ERR_NOMEM:
		return VX6_ERR_NOMEM;
	default:
		return VX6_ERR_STATE;
	}
}

/* --- Output ---------------------------------------------------------------- */

static size_t
build_vec(const struct qstream *s, ngtcp2_vec *v, size_t maxv, uint64_t *total)
{
	const struct vx6_chunk *c = s->cur;
	size_t n = 0;
	uint32_t off = s->cur_off;

	*total = 0;
	for (; c != NULL && n < maxv; c = c->next, off = 0) {
		v[n].base = (uint8_t *)c->data + c->off + off;
		v[n].len = c->len - off;
		*total += v[n].len;
		n++;
	}
	return n;
}

static void
set_remote(struct vx6_quic *q, const ngtcp2_path_storage *ps, struct vx6_addr *remote)
{
	if (ps->path.remote.addrlen > 0)
		vx6_quic_from_sockaddr(remote, ps->path.remote.addr);
	else
		vx6_quic_from_sockaddr(remote, ngtcp2_conn_get_path(q->conn)->remote.addr);
}

static int
write_close(struct vx6_quic *q, uint64_t now, struct vx6_addr *remote, uint8_t *buf)
{
	ngtcp2_connection_close_error cc;
	ngtcp2_path_storage ps;
	ngtcp2_ssize n;
	const uint8_t *r = (const uint8_t *)q->close_reason;
	size_t rl = strlen(q->close_reason);

	if (q->ck == CK_NONE || q->close_sent || q->conn == NULL)
		return 0;
	q->close_sent = true;
	ngtcp2_connection_close_error_default(&cc);
	switch (q->ck) {
	case CK_APP:
		ngtcp2_connection_close_error_set_application_error(&cc, q->close_code, r, rl);
		break;
	case CK_ALERT:
		ngtcp2_connection_close_error_set_transport_error_tls_alert(&cc, q->close_alert, r, rl);
		break;
	default:
		ngtcp2_connection_close_error_set_transport_error_liberr(&cc, q->close_liberr, r, rl);
		break;
	}
	ngtcp2_path_storage_zero(&ps);
	n = ngtcp2_conn_write_connection_close(q->conn, &ps.path, NULL, buf, VX6_QUIC_MAX_DGRAM, &cc, now);
	if (n <= 0)
		return 0;
	set_remote(q, &ps, remote);
	q->info.bytes_out += (uint64_t)n;
	q->info.records_out++;
	return (int)n;
}

static int
write_failed(struct vx6_quic *q, ngtcp2_ssize rv)
{
	q->ck = CK_LIBERR;
	q->close_liberr = (int)rv;
	return end(q, rv == NGTCP2_ERR_NOMEM ? VX6_ERR_NOMEM : VX6_ERR_PROTOCOL, "QUIC error: %s",
	    ngtcp2_strerror((int)rv));
}

int
vx6_quic_write(struct vx6_quic *q, uint64_t now, struct vx6_addr *remote, uint8_t *buf, size_t cap)
{
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	ngtcp2_ssize n, ndatalen;
	size_t tries;
	bool dgram_done = false, coalescing = false;

	if (buf == NULL || remote == NULL || cap < VX6_QUIC_MAX_DGRAM)
		return VX6_ERR_INVAL;
	q->now = now;
	if (q->state == Q_CLOSED)
		return write_close(q, now, remote, buf);
	ngtcp2_path_storage_zero(&ps);
	tries = 0;
	for (struct qstream *s = q->sq_head; s != NULL; s = s->sq_next)
		tries++;
	for (;;) {
		struct qstream *s = tries > 0 ? sendq_pop(q) : NULL;
		if (s != NULL) {
			ngtcp2_vec v[16];
			uint64_t total;
			size_t nv = build_vec(s, v, 16, &total);
			bool fin = s->fin_queued && !s->fin_sent && total == s->queued - s->sent;
			uint32_t fl = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);

			tries--;
			n = ngtcp2_conn_writev_stream(q->conn, &ps.path, &pi, buf, VX6_QUIC_MAX_DGRAM, &ndatalen, fl,
			    s->id, v, nv, now);
			if (ndatalen >= 0) {
				advance(q, s, (size_t)ndatalen);
				if (fin && (uint64_t)ndatalen == total)
					s->fin_sent = true;
			}
			if (n == NGTCP2_ERR_WRITE_MORE) {
				coalescing = true;   /* a packet is open: finish it below */
				sendq_add(q, s, false);
				continue;
			}
			if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
				s->parked = true;
				q->nparked++;
				continue;
			}
			if (n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) {
				s->wr_shut = true;
				drop_unsent(q, s);
				continue;
			}
			if (n < 0)
				return write_failed(q, n);
			sendq_add(q, s, n == 0);
			if (n == 0 && coalescing) {
				tries = 0;   /* never leave ngtcp2 with a packet open */
				dgram_done = true;
				continue;
			}
			if (n == 0) {
				q->idle_write_at = now;
				return 0;   /* congestion control or pacing: see expiry */
			}
			break;
		}
		if (!dgram_done && q->dgq.head != NULL && q->state == Q_OPEN) {
			struct vx6_chunk *c = q->dgq.head;
			ngtcp2_vec v = { vx6_chunk_ptr(c), c->len };
			int accepted = 0;

			n = ngtcp2_conn_writev_datagram(q->conn, &ps.path, &pi, buf, VX6_QUIC_MAX_DGRAM, &accepted,
			    NGTCP2_WRITE_DATAGRAM_FLAG_MORE, 0, &v, 1, now);
			if (accepted || n == NGTCP2_ERR_INVALID_ARGUMENT || n == NGTCP2_ERR_INVALID_STATE) {
				if (!accepted)
					q->dgrams_dropped++;
				vx6_chunk_free(vx6_chunkq_pop(&q->dgq));
			}
			if (n == NGTCP2_ERR_WRITE_MORE)
				coalescing = true;
			if (n == NGTCP2_ERR_WRITE_MORE || n == NGTCP2_ERR_INVALID_ARGUMENT ||
			    n == NGTCP2_ERR_INVALID_STATE)
				continue;
			if (n < 0)
				return write_failed(q, n);
			if (n == 0) {
				dgram_done = true;
				continue;
			}
			break;
		}
		n = ngtcp2_conn_write_pkt(q->conn, &ps.path, &pi, buf, VX6_QUIC_MAX_DGRAM, now);
		if (n < 0)
			return write_failed(q, n);
		if (n == 0) {
			q->idle_write_at = now;
			return 0;
		}
		break;
	}
	ngtcp2_conn_update_pkt_tx_time(q->conn, now);
	set_remote(q, &ps, remote);
	q->info.bytes_out += (uint64_t)n;
	q->info.records_out++;
	return (int)n;
}

/* --- Close and introspection -------------------------------------------- */

void
vx6_quic_close(struct vx6_quic *q, uint16_t code, const char *reason)
{
	if (q->state == Q_CLOSED)
		return;
	close_app(q, code, reason);
	end(q, 0, "closed locally (%s)", reason ? reason : "no reason");
}

bool
vx6_quic_is_closed(const struct vx6_quic *q)
{
	return q->state == Q_CLOSED;
}

bool
vx6_quic_is_established(const struct vx6_quic *q)
{
	return q->state == Q_OPEN;
}

static uint64_t
conn_credit(const struct vx6_quic *q)
{
	uint64_t cl = ngtcp2_conn_get_max_data_left(q->conn);

	cl = cl > q->total_unsent ? cl - q->total_unsent : 0;
	return min64(cl, q->total_held < QUIC_SEND_BUFFER_MAX ? QUIC_SEND_BUFFER_MAX - q->total_held : 0);
}

void
vx6_quic_info(const struct vx6_quic *q, struct vx6_session_info *info)
{
	ngtcp2_conn_stat cs;

	*info = q->info;
	info->pattern = 0;   /* TLS 1.3, not a Noise pattern */
	if (q->conn != NULL) {
		ngtcp2_conn_get_conn_stat(q->conn, &cs);
		if (cs.first_rtt_sample_ts != UINT64_MAX)
			info->rtt_ns = cs.smoothed_rtt;
	}
	info->mux.streams_open = q->open_count;
	info->mux.streams_opened_total = q->opened_total;
	info->mux.send_credit = q->state == Q_OPEN ? conn_credit(q) : 0;
	info->mux.recv_buffered = q->recv_buffered;
}

const uint8_t *
vx6_quic_presented_key(const struct vx6_quic *q)
{
	return q->have_presented ? q->presented : NULL;
}

/* --- Streams ---------------------------------------------------------------- */

/* A stream the application may use (never the control stream). */
static struct qstream *
vstream(const struct vx6_quic *q, uint32_t sid)
{
	struct qstream *s = stream_get(q, sid);

	return s != NULL && !s->control && s->v == V_ALIVE ? s : NULL;
}

int
vx6_quic_open(struct vx6_quic *q, const char *service, uint32_t *sid)
{
	size_t n;
	int64_t id;
	struct qstream *s;
	struct vx6_chunk *c;
	int rv;

	if (q->state != Q_OPEN)
		return VX6_ERR_CLOSED;
	if (service == NULL || sid == NULL)
		return VX6_ERR_INVAL;
	n = strnlen(service, VX6_FRAME_MAX_SERVICE + 1);
	if (n == 0 || n > VX6_FRAME_MAX_SERVICE)
		return VX6_ERR_INVAL;
	for (size_t i = 0; i < n; i++)
		if (!service_char((uint8_t)service[i]))
			return VX6_ERR_INVAL;
	c = vx6_chunk_new(0, 2 + n, 0);
	if (c == NULL)
		return VX6_ERR_NOMEM;
	rv = ngtcp2_conn_open_bidi_stream(q->conn, &id, NULL);
	if (rv != 0) {
		vx6_chunk_free(c);
		return rv == NGTCP2_ERR_STREAM_ID_BLOCKED ? VX6_ERR_LIMIT : VX6_ERR_NOMEM;
	}
	if (id >= (int64_t)UINT32_MAX || (s = stream_new(q, id, true)) == NULL) {
		vx6_chunk_free(c);
		(void)ngtcp2_conn_shutdown_stream(q->conn, id, VX6_RESET_LIMIT);
		return id >= (int64_t)UINT32_MAX ? VX6_ERR_LIMIT : VX6_ERR_NOMEM;
	}
	ngtcp2_conn_set_stream_user_data(q->conn, id, s);
	q->open_count++;
	q->opened_total++;
	vx6_chunk_ptr(c)[0] = QUIC_OPEN_SERVICE;
	vx6_chunk_ptr(c)[1] = (uint8_t)n;
	memcpy(vx6_chunk_ptr(c) + 2, service, n);
	c->len = (uint32_t)(2 + n);
	queue_chunk(q, s, c);
	*sid = s->sid;
	return 0;
}

int
vx6_quic_accept_stream(struct vx6_quic *q, uint32_t sid)
{
	struct qstream *s;
	struct vx6_chunk *c;

	if (q->state != Q_OPEN)
		return VX6_ERR_CLOSED;
	s = vstream(q, sid);
	if (s == NULL || s->local || s->accepted)
		return VX6_ERR_STATE;
	c = vx6_chunk_new(0, 1, 0);
	if (c == NULL)
		return VX6_ERR_NOMEM;
	vx6_chunk_ptr(c)[0] = QUIC_ACCEPT_MARK;
	c->len = 1;
	s->accepted = true;
	queue_chunk(q, s, c);
	return 0;
}

size_t
vx6_quic_credit(const struct vx6_quic *q, uint32_t sid)
{
	const struct qstream *s;
	uint64_t sl, unsent;

	if (q->state != Q_OPEN)
		return 0;
	s = vstream(q, sid);
	if (s == NULL || s->fin_queued || s->wr_shut || s->quic_closed || (!s->local && !s->accepted))
		return 0;   /* an acceptor sends nothing before ACCEPT; an opener may */
	sl = ngtcp2_conn_get_max_stream_data_left(q->conn, s->id);
	unsent = s->queued - s->sent;
	sl = sl > unsent ? sl - unsent : 0;
	return (size_t)min64(min64(sl, conn_credit(q)), VX6_FRAME_MAX_DATA);
}

static void
mark_blocked(struct vx6_quic *q, struct qstream *s)
{
	if (conn_credit(q) == 0)
		q->conn_blocked = true;
	if (!s->blocked && vx6_quic_credit(q, s->sid) == 0) {
		s->blocked = true;
		q->nblocked++;
	}
}

/* Marked blocked, the stream is woken after the next input that leaves it
 * any credit (check_writable); the caller checks again whether it is enough. */
void
vx6_quic_want_writable(struct vx6_quic *q, uint32_t sid)
{
	struct qstream *s;

	if (q->state != Q_OPEN || (s = vstream(q, sid)) == NULL || s->v != V_ALIVE || s->blocked ||
	    s->fin_queued || s->wr_shut || s->quic_closed)
		return;   /* (a stream that can no longer send would stay counted) */
	s->blocked = true;
	q->nblocked++;
}

int
vx6_quic_send(struct vx6_quic *q, uint32_t sid, struct vx6_chunk *c)
{
	struct qstream *s;

	if (q->state != Q_OPEN) {
		vx6_chunk_free(c);
		return VX6_ERR_CLOSED;
	}
	s = vstream(q, sid);
	if (s == NULL) {
		vx6_chunk_free(c);
		return VX6_ERR_CLOSED;
	}
	if (s->fin_queued || (!s->local && !s->accepted)) {
		vx6_chunk_free(c);
		return VX6_ERR_STATE;
	}
	if (c->len == 0) {
		vx6_chunk_free(c);
		return 0;
	}
	if (c->len > vx6_quic_credit(q, sid)) {
		vx6_chunk_free(c);
		return VX6_ERR_FLOW;
	}
	queue_chunk(q, s, c);
	mark_blocked(q, s);
	return 0;
}

int
vx6_quic_fin(struct vx6_quic *q, uint32_t sid)
{
	struct qstream *s;

	if (q->state != Q_OPEN)
		return VX6_ERR_CLOSED;
	s = vstream(q, sid);
	if (s == NULL)
		return VX6_ERR_CLOSED;
	if (s->fin_queued)
		return 0;
	if (!s->local && !s->accepted)
		return VX6_ERR_STATE;
	s->fin_queued = true;
	sendq_add(q, s, false);
	if (s->fin_recv)
		vx6_done(q, s);
	return 0;
}

int
vx6_quic_reset(struct vx6_quic *q, uint32_t sid, uint16_t code, const char *reason)
{
	uint8_t p[8 + 2];
	size_t n = reason ? strnlen(reason, VX6_FRAME_MAX_REASON) : 0;
	struct qstream *s;
	int rc;

	if (q->state != Q_OPEN)
		return VX6_ERR_CLOSED;
	s = vstream(q, sid);
	if (s == NULL)
		return 0;   /* already gone: nothing to abort */
	vx6_put_u64(p, (uint64_t)s->id);
	vx6_put_u16(p + 8, code);
	/* The message goes first in our send order; the QUIC frames only
	 * free QUIC state. */
	rc = ctrl_msg(q, QUIC_MSG_RESET, p, sizeof(p), (const uint8_t *)reason, n);
	vx6_done(q, s);
	drop_unsent(q, s);
	if (!s->quic_closed)
		(void)ngtcp2_conn_shutdown_stream(q->conn, s->id, code);
	maybe_destroy(q, s);
	return rc;
}

int
vx6_quic_consumed(struct vx6_quic *q, uint32_t sid, size_t n)
{
	struct qstream *s;

	if (q->state != Q_OPEN)
		return VX6_ERR_CLOSED;
	if (n == 0)
		return 0;
	if (n > q->recv_buffered)
		return VX6_ERR_INVAL;   /* the caller's accounting is wrong */
	q->recv_buffered -= n;
	s = stream_get(q, sid);
	if (s != NULL && !s->control)
		s->unconsumed -= n < s->unconsumed ? n : s->unconsumed;
	extend_stream(q, s, (int64_t)sid - 1, n);
	conn_release(q);   /* the connection's share went back on receipt */
	return 0;
}

bool
vx6_quic_stream_exists(const struct vx6_quic *q, uint32_t sid)
{
	return q->state == Q_OPEN && vstream(q, sid) != NULL;
}

/* After input: wake streams whose credit may have come back. */
static void
check_writable(struct vx6_quic *q)
{
	uint64_t cc;
	bool wake_all;
	uint32_t *ids;
	size_t n = 0, pos = 0;
	struct qstream *s;

	if (q->state != Q_OPEN)
		return;
	cc = conn_credit(q);
	wake_all = q->conn_blocked && cc > 0;
	q->conn_blocked = cc == 0;
	if (!wake_all && q->nblocked == 0)
		return;
	ids = malloc((q->open_count + 1) * sizeof(*ids));
	if (ids == NULL)
		return;
	while (n < q->open_count && (s = vx6_idmap_next(&q->streams, &pos, NULL)) != NULL)
		if (s->v == V_ALIVE && !s->control && (s->blocked || wake_all))
			ids[n++] = s->sid;
	for (size_t i = 0; i < n && q->state == Q_OPEN; i++) {
		s = vstream(q, ids[i]);
		if (s == NULL || vx6_quic_credit(q, ids[i]) == 0)
			continue;
		if (s->blocked) {
			s->blocked = false;
			q->nblocked--;
		}
		q->cbs->stream.on_writable(q->ud, ids[i]);
	}
	free(ids);
}

/* --- RPC and datagrams ----------------------------------------------------- */

int
vx6_quic_send_rpc(struct vx6_quic *q, const uint8_t *msg, size_t len)
{
	if (q->state != Q_OPEN)
		return VX6_ERR_CLOSED;
	if (msg == NULL || len == 0 || len > VX6_FRAME_MAX_RPC)
		return VX6_ERR_INVAL;
	return ctrl_msg(q, QUIC_MSG_RPC, msg, len, NULL, 0);
}

int
vx6_quic_send_datagram(struct vx6_quic *q, const uint8_t *msg, size_t len)
{
	const ngtcp2_transport_params *tp;
	struct vx6_chunk *c;

	if (q->state != Q_OPEN)
		return VX6_ERR_STATE;
	tp = ngtcp2_conn_get_remote_transport_params(q->conn);
	if (tp == NULL || tp->max_datagram_frame_size == 0)
		return VX6_ERR_STATE;
	/* A DATAGRAM frame adds a type byte and a length of up to 2 bytes. */
	if (msg == NULL || len == 0 || len > QUIC_DGRAM_MAX || len + 3 > tp->max_datagram_frame_size)
		return VX6_ERR_TOO_LARGE;
	if (q->dgq.count >= QUIC_DGRAM_QUEUE) {
		q->dgrams_dropped++;   /* unreliable: the newest is lost */
		return 0;
	}
	c = vx6_chunk_copy(msg, len, 0, 0);
	if (c == NULL)
		return VX6_ERR_NOMEM;
	vx6_chunkq_push(&q->dgq, c);
	return 0;
}

void
vx6_quic_set_datagram_cb(struct vx6_quic *q, void (*on_datagram)(void *ud, const uint8_t *msg, size_t len))
{
	q->on_datagram = on_datagram;
}


/* --- Tests and fuzzing ----------------------------------------------------- */

int
vx6_quic_test_send_raw(struct vx6_quic *q, uint32_t sid, const uint8_t *data, size_t len, bool fin,
    uint32_t *opened)
{
	struct qstream *s;
	struct vx6_chunk *c;
	int64_t id;

	if (q->state != Q_OPEN)
		return VX6_ERR_CLOSED;
	if (sid == VX6_QUIC_TEST_CONTROL) {
		s = q->ctrl;
	} else if (sid == VX6_QUIC_TEST_NEW) {
		if (ngtcp2_conn_open_bidi_stream(q->conn, &id, NULL) != 0)
			return VX6_ERR_LIMIT;
		if ((s = stream_new(q, id, true)) == NULL)
			return VX6_ERR_NOMEM;
		ngtcp2_conn_set_stream_user_data(q->conn, id, s);
		q->open_count++;
		if (opened)
			*opened = s->sid;
	} else {
		s = stream_get(q, sid);
	}
	if (s == NULL || s->wr_shut || s->quic_closed || s->fin_queued)
		return VX6_ERR_STATE;
	if (len > 0) {
		if ((c = vx6_chunk_copy(data, len, 0, 0)) == NULL)
			return VX6_ERR_NOMEM;
		queue_chunk(q, s, c);
	}
	if (fin) {
		s->fin_queued = true;
		sendq_add(q, s, s->control);
	}
	return 0;
}
