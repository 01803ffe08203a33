/* relay — the hop side of circuits (docs/PROTOCOL.md §14): answering CREATE,
 * extending to the next hop (only to a VX6 node, by its key, never to this
 * node or a loopback address), moving cells both ways with one layer removed
 * or added, and, at the owner, ending circuit streams at local services. */
#include "node/node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define LOG "relay"

static void hop_destroy(struct hop *h, const char *why);
static void hop_tampered(struct hop *h);
static void send_truncated(struct hop *h, uint8_t why, const char *text);

static bool
is_prev(const struct hop *h, const struct link *l, uint32_t sid)
{
	return h->prev == l && h->prev_sid == sid;
}

/* --- sending cells on a hop stream --- */

static size_t
stream_credit(struct link *l, uint32_t sid)
{
	return (l && !l->over) ? vx6_ts_credit(l->session, sid) : 0;
}

/* The transit bandwidth budget ([relay] max_rate_kib): a token bucket over
 * the bytes this node forwards for others. When it runs dry, cells wait in
 * their hop's queue, their input is not credited back, and the senders
 * slow down through flow control; relay_timer() resumes. */
static bool
rate_take(struct vx6_node *n, size_t len)
{
	uint64_t rate = (uint64_t)n->cfg.relay_max_rate_kib * 1024, now, burst;

	if (rate == 0)
		return true;
	now = node_now(n);
	burst = rate / 8 > 64 * 1024 ? rate / 8 : 64 * 1024;
	if (n->relay_tokens_at == 0) {   /* first use: a full bucket */
		n->relay_tokens = burst;
		n->relay_tokens_at = now;
	}
	if (now > n->relay_tokens_at) {
		uint64_t add = (now - n->relay_tokens_at) * rate / VX6_NS_PER_SEC;
		if (add > 0) {
			n->relay_tokens = n->relay_tokens + add > burst ? burst : n->relay_tokens + add;
			n->relay_tokens_at = now;
		}
	}
	if (n->relay_tokens >= len) {
		n->relay_tokens -= len;
		return true;
	}
	n->relay_rate_limited++;
	if (n->relay_resume_at == VX6_TIME_NEVER)
		n->relay_resume_at = now + (len - n->relay_tokens) * VX6_NS_PER_SEC / rate + 1;
	return false;
}

/* Sends queued cells of q on (l, sid), as many whole cells as credit
 * allows, crediting back the input bytes they came from on (from,
 * from_sid). Traffic with a source link is transit and spends the bandwidth
 * budget (relay_timer resumes it). Cells left for want of credit ask the
 * session for a wake-up when credit grows: it would not come otherwise
 * while some credit, less than a cell, is left. */
static void
flush_q(struct vx6_chunkq *q, size_t *unconsumed, struct link *l, uint32_t sid, struct link *from,
    uint32_t from_sid)
{
	struct vx6_chunk *c;
	size_t len;

	while (q->head != NULL) {
		len = cellq_sendable(q, stream_credit(l, sid));
		if (len == 0) {
			if (l && !l->over)
				vx6_ts_want_writable(l->session, sid);
			break;
		}
		if ((from && !rate_take(l->node, len)) || (c = cellq_take(q, len)) == NULL)
			break;
		if (vx6_ts_send(l->session, sid, c) != 0)
			break;
		if (from && !from->over && *unconsumed >= len) {
			vx6_ts_consumed(from->session, from_sid, len);
			*unconsumed -= len;
		}
	}
}

/* A cell this hop originates towards the client. */
static void
send_back(struct hop *h, uint8_t cmd, uint16_t sid, const void *payload, size_t len)
{
	uint8_t cell[VX6_CELL_SIZE];

	if (h->dead || vx6_cell_build(cell, cmd, sid, payload, len) != 0)
		return;
	vx6_cell_hop_seal(&h->keys, cell);
	if (cellq_push(&h->bwd_q, cell) == 0)
		flush_q(&h->bwd_q, &h->bwd_q_unconsumed, h->prev, h->prev_sid, h->next, h->next_sid);
}

/* --- circuit streams at the exit (the owner) --- */

static struct cstream *
cs_get(struct hop *h, uint16_t id)
{
	return id ? vx6_idmap_get(&h->streams, id) : NULL;
}

static void
cs_free(struct hop *h, struct cstream *cs)
{
	vx6_idmap_del(&h->streams, cs->id);
	free(cs);
}

static bool
exit_live(void *ctx, uint32_t sid)
{
	struct hop *h = ctx;

	return !h->dead && cs_get(h, (uint16_t)sid) != NULL;
}

static bool
exit_usable(void *ctx)
{
	return !((struct hop *)ctx)->dead;
}

static size_t
exit_credit(void *ctx, uint32_t sid)
{
	struct hop *h = ctx;
	struct cstream *cs = cs_get(h, (uint16_t)sid);
	size_t cells, bytes;

	if (cs == NULL || h->dead || cs->fin_sent || !cs->connected || h->bwd_q.count > 0)
		return 0;
	cells = stream_credit(h->prev, h->prev_sid) / VX6_CELL_SIZE;
	if (cells == 0) {
		/* Less than a cell of credit: wake up when there is more. */
		if (h->prev && !h->prev->over)
			vx6_ts_want_writable(h->prev->session, h->prev_sid);
		return 0;
	}
	bytes = cells * VX6_CELL_MAX_PAYLOAD;
	if (bytes > cs->send_credit)
		bytes = (size_t)cs->send_credit;
	return bytes > VX6_FRAME_MAX_DATA ? VX6_FRAME_MAX_DATA : bytes;
}

static int
exit_send(void *ctx, uint32_t sid, struct vx6_chunk *c)
{
	struct hop *h = ctx;
	struct cstream *cs = cs_get(h, (uint16_t)sid);
	const uint8_t *p = vx6_chunk_ptr(c);
	size_t left = c->len;

	if (cs == NULL || h->dead || left > cs->send_credit) {
		vx6_chunk_free(c);
		return VX6_ERR_STATE;
	}
	cs->send_credit -= left;
	h->bytes += left;
	while (left > 0) {
		size_t n = left > VX6_CELL_MAX_PAYLOAD ? VX6_CELL_MAX_PAYLOAD : left;
		send_back(h, VX6_CELL_DATA, cs->id, p, n);
		p += n;
		left -= n;
	}
	vx6_chunk_free(c);
	return 0;
}

static int
exit_fin(void *ctx, uint32_t sid)
{
	struct hop *h = ctx;
	struct cstream *cs = cs_get(h, (uint16_t)sid);

	if (cs == NULL || cs->fin_sent)
		return 0;
	cs->fin_sent = true;
	send_back(h, VX6_CELL_END, cs->id, NULL, 0);
	if (cs->fin_recv && cs->pump == NULL)
		cs_free(h, cs);
	return 0;
}

static int
exit_reset(void *ctx, uint32_t sid, uint16_t code, const char *reason)
{
	struct hop *h = ctx;
	struct cstream *cs = cs_get(h, (uint16_t)sid);
	uint8_t p[2 + VX6_FRAME_MAX_REASON];
	size_t n = reason ? strnlen(reason, VX6_FRAME_MAX_REASON) : 0;

	if (cs == NULL)
		return 0;
	vx6_put_u16(p, code);
	memcpy(p + 2, reason, n);
	send_back(h, VX6_CELL_RESET, cs->id, p, 2 + n);
	if (cs->pump)
		cs->pump = NULL;   /* the pump detaches itself when it is freed */
	return 0;
}

static void
grant(struct hop *h, struct cstream *cs, size_t n)
{
	uint8_t p[4];

	cs->recv_pending += n;
	if (cs->recv_pending >= CIRC_STREAM_WINDOW / 2) {
		vx6_put_u32(p, (uint32_t)cs->recv_pending);
		send_back(h, VX6_CELL_WINDOW, cs->id, p, 4);
		cs->recv_window += cs->recv_pending;
		cs->recv_pending = 0;
	}
}

static int
exit_consumed(void *ctx, uint32_t sid, size_t n)
{
	struct hop *h = ctx;
	struct cstream *cs = cs_get(h, (uint16_t)sid);

	if (cs && !h->dead)
		grant(h, cs, n);
	return 0;
}

static int
exit_accept(void *ctx, uint32_t sid)
{
	struct hop *h = ctx;
	struct cstream *cs = cs_get(h, (uint16_t)sid);

	if (cs == NULL)
		return VX6_ERR_STATE;
	cs->connected = true;
	send_back(h, VX6_CELL_CONNECTED, cs->id, NULL, 0);
	return 0;
}

static void
exit_detach(void *ctx, uint32_t sid, struct pump *p)
{
	struct hop *h = ctx;
	struct cstream *cs = cs_get(h, (uint16_t)sid);

	if (cs && cs->pump == p) {
		cs->pump = NULL;
		cs_free(h, cs);
	}
}

const struct endpoint_ops circ_exit_endpoint = {
	.live = exit_live, .usable = exit_usable, .credit = exit_credit, .send = exit_send,
	.fin = exit_fin, .reset = exit_reset, .consumed = exit_consumed, .accept = exit_accept,
	.detach = exit_detach,
};

/* BEGIN at the owner: the same rules as a stream on a direct session, except
 * that the client is anonymous, so private services are not offered. */
static void
exit_begin(struct hop *h, uint16_t id, const uint8_t *name, size_t len)
{
	struct vx6_node *n = h->node;
	char service[VX6_NAME_BUF], reason[160];
	const struct vx6_service_def *svc;
	struct cstream *cs;
	struct pump *p;
	uint64_t conn;
	uint8_t r[2 + VX6_FRAME_MAX_REASON];
	size_t rn;

	if (id == 0 || cs_get(h, id) != NULL || len == 0 || len > VX6_NAME_MAX) {
		hop_destroy(h, "bad BEGIN");
		return;
	}
	memcpy(service, name, len);
	service[len] = '\0';
	svc = vx6_name_valid(service) ? node_service_find(n, service) : NULL;
	if (svc && !svc->is_private && (n->shutting_down || n->n_app >= n->cfg.limits.max_app_conns)) {
		/* Same answer as a direct stream at the limit. */
		n->ctr.limit_refused++;
		snprintf(reason, sizeof(reason), "the owner is at its connection limit");
		vx6_put_u16(r, VX6_RESET_LIMIT);
		rn = strlen(reason);
		memcpy(r + 2, reason, rn);
		send_back(h, VX6_CELL_RESET, id, r, 2 + rn);
		return;
	}
	if (svc == NULL || svc->is_private) {
		n->ctr.streams_refused++;
		snprintf(reason, sizeof(reason), "no service named '%s' is published on this node", service);
		vx6_log_info(n->log, LOG, "refused a circuit stream to '%s'%s", service,
		    svc && svc->is_private ? " (private services are not reachable through relays)" : "");
		vx6_put_u16(r, VX6_RESET_UNKNOWN_SERVICE);
		rn = strlen(reason);
		memcpy(r + 2, reason, rn);
		send_back(h, VX6_CELL_RESET, id, r, 2 + rn);
		return;
	}
	cs = calloc(1, sizeof(*cs));
	p = pump_new(n, false);
	if (cs == NULL || p == NULL || vx6_idmap_put(&h->streams, id, cs) != 0) {
		free(cs);
		free(p);
		hop_destroy(h, "out of memory");
		return;
	}
	cs->id = id;
	cs->pump = p;
	cs->send_credit = CIRC_STREAM_WINDOW;
	cs->recv_window = CIRC_STREAM_WINDOW;
	snprintf(p->service, sizeof(p->service), "%s", svc->name);
	conn = node_new_id(n);
	p->app_id = conn;
	if (node_conn_add(n, conn, CONN_APP, p) == NULL) {
		cs_free(h, cs);
		free(p);
		return;
	}
	n->n_app++;
	pump_attach(p, &circ_exit_endpoint, h, id);
	if (n->io->dial(n->io_ud, conn, VX6_SOCK_APP, &svc->target) != 0)
		pump_on_app_connected(p, VX6_ERR_UNREACHABLE, "dial failed");
}

static void
exit_cell(struct hop *h, const struct vx6_cell *cell)
{
	struct cstream *cs = cs_get(h, cell->stream_id);
	struct vx6_chunk *c;
	char reason[VX6_FRAME_MAX_REASON + 1];
	size_t rn;

	switch (cell->cmd) {
	case VX6_CELL_BEGIN:
		exit_begin(h, cell->stream_id, cell->payload, cell->length);
		return;
	case VX6_CELL_DATA:
		if (cs == NULL)
			return;   /* the stream ended here first */
		if (cs->fin_recv || cell->length > cs->recv_window) {
			hop_destroy(h, "circuit stream flow violation");
			return;
		}
		cs->recv_window -= cell->length;
		if (cs->pump == NULL || cell->length == 0) {
			grant(h, cs, cell->length);
			return;
		}
		c = vx6_chunk_copy(cell->payload, cell->length, 0, 0);
		if (c)
			pump_stream_data(cs->pump, c);
		return;
	case VX6_CELL_END:
		if (cs == NULL)
			return;
		cs->fin_recv = true;
		if (cs->pump)
			pump_stream_fin(cs->pump);
		else if (cs->fin_sent)
			cs_free(h, cs);
		return;
	case VX6_CELL_RESET:
		if (cs == NULL)
			return;
		rn = cell->length > 2 ? cell->length - 2u : 0;
		if (rn > VX6_FRAME_MAX_REASON)
			rn = VX6_FRAME_MAX_REASON;
		for (size_t i = 0; i < rn; i++)
			reason[i] = (cell->payload[2 + i] >= 0x20 && cell->payload[2 + i] < 0x7f) ?
			    (char)cell->payload[2 + i] : '?';
		reason[rn] = '\0';
		if (cs->pump) {
			struct pump *p = cs->pump;
			cs->pump = NULL;
			cs_free(h, cs);
			p->ep_ctx = NULL;   /* the stream is gone: nothing to detach from */
			pump_stream_reset(p, cell->length >= 2 ? vx6_get_u16(cell->payload) : 0, reason, true);
		} else {
			cs_free(h, cs);
		}
		return;
	case VX6_CELL_WINDOW:
		if (cs == NULL || cell->length != 4)
			return;
		cs->send_credit += vx6_get_u32(cell->payload);
		if (cs->send_credit > (1ULL << 40)) {
			hop_destroy(h, "circuit stream credit overflow");
			return;
		}
		if (cs->pump)
			pump_stream_writable(cs->pump);
		return;
	case VX6_CELL_PADDING:
		return;
	default:
		hop_destroy(h, "unexpected cell at the exit");
	}
}

/* --- extending --- */

static bool
own_address(struct vx6_node *n, const struct vx6_addr *a)
{
	for (size_t i = 0; i < n->n_bound; i++)
		if (a->port == n->bound[i].port && (vx6_addr_equal(a, &n->bound[i]) ||
		    vx6_addr_is_unspecified(&n->bound[i])))
			for (uint8_t j = 0; j < n->own.n_addrs; j++)
				if (vx6_addr_equal(a, &n->own.addrs[j]))
					return true;
	return false;
}

static void
open_next(struct hop *h)
{
	uint8_t cell[VX6_CELL_SIZE];
	uint32_t sid;

	h->waiting_link = false;
	if (vx6_ts_open(h->next->session, VX6_CIRCUIT_SERVICE, &sid) != 0 ||
	    vx6_idmap_put(&h->next->hops, sid, h) != 0) {
		hop_destroy(h, "cannot open a stream to the next hop");
		return;
	}
	h->next_sid = sid;
	memset(cell, 0, sizeof(cell));
	memcpy(cell, h->next_msg1, VX6_HOP_MSG_LEN);
	if (cellq_push(&h->fwd_q, cell) == 0)
		flush_q(&h->fwd_q, &h->fwd_q_unconsumed, h->next, h->next_sid, NULL, 0);
	h->extending = true;
}

static void
extend(struct hop *h, const struct vx6_cell *cell)
{
	struct vx6_node *n = h->node;
	struct vx6_extend e;
	uint8_t id[VX6_NODE_ID_LEN];
	struct link *l;

	if (h->next || h->extending || h->waiting_link) {
		hop_destroy(h, "EXTEND twice");
		return;
	}
	if (!n->cfg.relay) {
		n->relay_refused++;
		send_truncated(h, VX6_TRUNCATED_REFUSED, "this node does not relay");
		hop_destroy(h, "this node does not relay");
		return;
	}
	if (vx6_extend_decode(&e, cell->payload, cell->length) != 0) {
		hop_destroy(h, "malformed EXTEND");
		return;
	}
	/* A relay reaches VX6 nodes only (Noise IK with the given key), never
	 * itself, its own addresses, or loopback/unspecified addresses. */
	if (memcmp(e.key, n->id.pk, VX6_KEY_LEN) == 0 || own_address(n, &e.addr) ||
	    vx6_addr_is_unspecified(&e.addr) ||
	    (vx6_addr_is_loopback(&e.addr) && !n->cfg.relay_allow_loopback)) {
		n->relay_refused++;
		vx6_log_warn(n->log, LOG, "refused to extend a circuit to a forbidden address or to itself");
		send_truncated(h, VX6_TRUNCATED_NEXT_GONE, "forbidden next hop");
		hop_destroy(h, "forbidden next hop");
		return;
	}
	if (n->n_relay_circuits >= n->cfg.relay_max_circuits) {
		n->relay_refused++;
		send_truncated(h, VX6_TRUNCATED_REFUSED, "relay circuit budget exhausted");
		hop_destroy(h, "relay circuit budget exhausted");
		return;
	}
	vx6_node_id_from_key(id, e.key);
	l = named_link_to(n, id);
	if (l == NULL)
		l = link_dial_hop(n, &e.addr, e.key);
	if (l == NULL) {
		send_truncated(h, VX6_TRUNCATED_NEXT_GONE, "cannot reach the next hop");
		hop_destroy(h, "cannot reach the next hop");
		return;
	}
	h->next = l;
	h->extend_at = node_now(n);
	h->holds_slot = true;
	n->n_relay_circuits++;
	memcpy(h->next_key, e.key, VX6_KEY_LEN);
	memcpy(h->next_msg1, e.msg1, VX6_HOP_MSG_LEN);
	if (l->established)
		open_next(h);
	else
		h->waiting_link = true;
}

void
relay_link_established(struct link *l)
{
	for (struct hop *h = l->node->hops; h; h = h->next_hop)
		if (!h->dead && h->next == l && h->waiting_link)
			open_next(h);
}

/* --- cells arriving --- */

/* Counts a cell in transit and queues it onwards (q, whose bytes not yet
 * credited back to `from` are *unconsumed). Test builds may corrupt, repeat
 * or drop every 10th cell, for tests that show it is caught; a dropped
 * cell's credit goes back to `from` at once. */
static void
pass_on(struct hop *h, uint8_t cell[VX6_CELL_SIZE], struct vx6_chunkq *q, size_t *unconsumed,
    struct link *from, uint32_t from_sid)
{
	h->bytes += VX6_CELL_SIZE;
	h->node->relay_bytes += VX6_CELL_SIZE;
#ifdef VX6_TEST_HOOKS
	if (h->node->cfg.relay_misbehave && ++h->misbehave_count % 10 == 0) {
		if (h->node->cfg.relay_misbehave == 1) {
			cell[VX6_CELL_SIZE / 2] ^= 0x01;
		} else if (h->node->cfg.relay_misbehave == 2) {
			if (cellq_push(q, cell) == 0)
				*unconsumed += VX6_CELL_SIZE;
		} else {
			vx6_ts_consumed(from->session, from_sid, VX6_CELL_SIZE);
			return;
		}
	}
#else
	(void)from;
	(void)from_sid;
#endif
	if (cellq_push(q, cell) == 0)
		*unconsumed += VX6_CELL_SIZE;
}

/* Processes one whole cell from the client's side. */
static void
forward_cell(struct hop *h, uint8_t cell[VX6_CELL_SIZE])
{
	struct vx6_cell pc;
	uint8_t reply[VX6_CELL_SIZE];

	if (!h->created) {
		/* CREATE: NK message 1 in the first 48 bytes. */
		memset(reply, 0, sizeof(reply));
		if (vx6_hop_respond(&h->node->id, h->node->env, cell, reply, &h->keys) != 0) {
			hop_destroy(h, "bad CREATE");
			return;
		}
		h->created = true;
		if (cellq_push(&h->bwd_q, reply) == 0)
			flush_q(&h->bwd_q, &h->bwd_q_unconsumed, h->prev, h->prev_sid, NULL, 0);
		return;
	}
	if (vx6_cell_hop_open(&h->keys, cell)) {
		if (vx6_cell_parse(cell, &pc) != 0) {
			hop_destroy(h, "malformed cell");
			return;
		}
		if (pc.cmd == VX6_CELL_PADDING)
			return;   /* cover traffic for this hop: dropped here */
		if (pc.cmd == VX6_CELL_EXTEND)
			extend(h, &pc);
		else if (h->next == NULL && !h->extending && !h->waiting_link)
			exit_cell(h, &pc);
		else
			hop_destroy(h, "unexpected cell at a relay");
		return;
	}
	if (h->next == NULL || h->waiting_link) {
		/* Nobody further on: an unrecognized cell here was tampered with. */
		hop_tampered(h);
		return;
	}
	pass_on(h, cell, &h->fwd_q, &h->fwd_q_unconsumed, h->prev, h->prev_sid);
}

/* Processes one whole cell from the owner's side. */
static void
backward_cell(struct hop *h, uint8_t cell[VX6_CELL_SIZE])
{
	if (h->extending) {
		/* CREATED from the next hop: hand its message 2 to the client. */
		h->extending = false;
		send_back(h, VX6_CELL_EXTENDED, 0, cell, VX6_HOP_MSG_LEN);
		if (h->next && !h->next->over)
			vx6_ts_consumed(h->next->session, h->next_sid, VX6_CELL_SIZE);
		return;
	}
	vx6_cell_hop_wrap(&h->keys, cell);
	pass_on(h, cell, &h->bwd_q, &h->bwd_q_unconsumed, h->next, h->next_sid);
}

void
relay_stream_data(struct hop *h, struct link *l, uint32_t sid, struct vx6_chunk *c)
{
	bool fwd = is_prev(h, l, sid);
	uint8_t *part = fwd ? h->fwd_part : h->bwd_part;
	size_t *plen = fwd ? &h->fwd_len : &h->bwd_len;
	const uint8_t *p = vx6_chunk_ptr(c);
	size_t left = c->len, local = 0, before;
	struct vx6_chunkq *q = fwd ? &h->fwd_q : &h->bwd_q;
	size_t *unconsumed = fwd ? &h->fwd_q_unconsumed : &h->bwd_q_unconsumed;

	while (left > 0 && !h->dead) {
		size_t take = VX6_CELL_SIZE - *plen;
		if (take > left)
			take = left;
		memcpy(part + *plen, p, take);
		*plen += take;
		p += take;
		left -= take;
		if (*plen < VX6_CELL_SIZE)
			break;
		*plen = 0;
		before = *unconsumed;
		if (fwd)
			forward_cell(h, part);
		else
			backward_cell(h, part);
		/* Cells handled here (not queued onwards) are credited at once. */
		if (!h->dead && *unconsumed == before && !(!fwd && h->extending))
			local += VX6_CELL_SIZE;
	}
	vx6_chunk_free(c);
	if (h->dead)
		return;
	if (local && !l->over)
		vx6_ts_consumed(l->session, sid, local);
	if (fwd)
		flush_q(q, unconsumed, h->next, h->next_sid, h->prev, h->prev_sid);
	else
		flush_q(q, unconsumed, h->prev, h->prev_sid, h->next, h->next_sid);
}

void
relay_stream_writable(struct hop *h, struct link *l, uint32_t sid)
{
	size_t pos = 0;
	struct cstream *cs;

	if (h->dead)
		return;
	if (is_prev(h, l, sid)) {
		flush_q(&h->bwd_q, &h->bwd_q_unconsumed, h->prev, h->prev_sid, h->next, h->next_sid);
		while ((cs = vx6_idmap_next(&h->streams, &pos, NULL)) != NULL)
			if (cs->pump)
				pump_stream_writable(cs->pump);
	} else {
		flush_q(&h->fwd_q, &h->fwd_q_unconsumed, h->next, h->next_sid, h->prev, h->prev_sid);
	}
}

/* The session to the next hop ended under a live circuit: tell the client
 * which hop broke with a TRUNCATED cell under this hop's layer, so it
 * avoids the next node when it builds again. Cells still queued for the
 * client are dropped and their counters given back first: the client must
 * see TRUNCATED with the next counter it expects from this hop. */
static void
send_truncated(struct hop *h, uint8_t why, const char *text)
{
	uint64_t unsent = h->bwd_q.bytes / VX6_CELL_SIZE;
	uint8_t payload[1 + 200];
	size_t tlen = strlen(text) < 200 ? strlen(text) : 200;

	if (!h->created || h->prev == NULL || h->prev->over)
		return;
	vx6_chunkq_clear(&h->bwd_q);
	h->bwd_q_unconsumed = 0;
	h->keys.bwd_ctr -= unsent;
	payload[0] = why;
	memcpy(payload + 1, text, tlen);
	send_back(h, VX6_CELL_TRUNCATED, 0, payload, 1 + tlen);
	h->truncated_sent = true;
}

void
relay_stream_reset(struct hop *h, struct link *l, uint32_t sid, const char *reason, bool remote)
{
	char why[200];

	snprintf(why, sizeof(why), "%s side closed: %.150s", is_prev(h, l, sid) ? "client" : "owner",
	    reason);
	/* That stream is already gone: do not reset it again, and forget it
	 * on its link now (hop_destroy only unmaps the streams it resets). */
	vx6_idmap_del(&l->hops, sid);
	if (is_prev(h, l, sid)) {
		h->prev = NULL;
	} else {
		h->next = NULL;
		if (!remote)   /* the session went, not the next relay's choice */
			send_truncated(h, VX6_TRUNCATED_NEXT_GONE, "the session to the next hop ended");
	}
	hop_destroy(h, why);
}

void
relay_on_open(struct link *l, uint32_t sid)
{
	struct vx6_node *n = l->node;
	struct hop *h;
	uint32_t count = 0;

	for (h = n->hops; h; h = h->next_hop)
		count += !h->dead;
	if (count >= n->cfg.relay_max_circuits + 64) {
		/* Exits for our own services count too; a flood of CREATEs is
		 * refused here without touching existing circuits. */
		n->relay_refused++;
		vx6_ts_reset(l->session, sid, VX6_RESET_LIMIT, "circuit budget exhausted");
		return;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL || vx6_idmap_put(&l->hops, sid, h) != 0) {
		free(h);
		vx6_ts_reset(l->session, sid, VX6_RESET_INTERNAL, "out of memory");
		return;
	}
	h->node = n;
	h->prev = l;
	h->prev_sid = sid;
	h->created_at = node_now(n);
	vx6_chunkq_init(&h->fwd_q);
	vx6_chunkq_init(&h->bwd_q);
	vx6_idmap_init(&h->streams);
	h->next_hop = n->hops;
	n->hops = h;
	vx6_ts_accept(l->session, sid);
}

/* Ends the hop: both streams reset (so the whole circuit learns), circuit
 * streams at the exit reset. Freed by relay_gc(). */
static void
hop_destroy(struct hop *h, const char *why)
{
	struct vx6_node *n = h->node;
	size_t pos = 0;
	struct cstream *cs;

	if (h->dead)
		return;
	h->dead = true;
	if (h->tampered)
		vx6_log_warn(n->log, LOG, "circuit closed: %s", why);
	else
		vx6_log_debug(n->log, LOG, "circuit hop closed: %s", why);
	if (h->next && (h->extending || h->next_sid)) {
		if (!h->next->over && h->next_sid) {
			vx6_ts_reset(h->next->session, h->next_sid, VX6_RESET_SESSION_LOST, why);
			vx6_idmap_del(&h->next->hops, h->next_sid);
		}
	}
	if (h->holds_slot) {
		h->holds_slot = false;
		n->n_relay_circuits--;
	}
	if (h->prev && !h->prev->over) {
		/* After a TRUNCATED, end the stream with FIN: a reset may overtake
		 * the cell (QUIC sends resets outside the stream), a FIN never does. */
		if (h->truncated_sent)
			vx6_ts_fin(h->prev->session, h->prev_sid);
		else
			vx6_ts_reset(h->prev->session, h->prev_sid, VX6_RESET_SESSION_LOST, why);
		vx6_idmap_del(&h->prev->hops, h->prev_sid);
	}
	while ((cs = vx6_idmap_next(&h->streams, &pos, NULL)) != NULL) {
		struct pump *p = cs->pump;
		vx6_idmap_del(&h->streams, cs->id);
		free(cs);
		if (p) {
			p->ep_ctx = NULL;
			pump_stream_reset(p, VX6_RESET_SESSION_LOST, why, false);
		}
	}
	h->prev = NULL;
	h->next = NULL;
}

/* A cell this node received failed authentication: counted and warned
 * here only, where it was detected (the reason the neighbours see is text
 * they must not be able to turn into our counters). */
static void
hop_tampered(struct hop *h)
{
	if (h->dead)
		return;
	h->node->ctr.circuit_tampered++;
	h->tampered = true;
	hop_destroy(h, "a cell failed authentication (tampered, replayed or reordered)");
}

void
relay_link_over(struct link *l)
{
	size_t pos = 0;
	struct hop *h;

	while ((h = vx6_idmap_next(&l->hops, &pos, NULL)) != NULL) {
		if (h->prev == l)
			h->prev = NULL;
		if (h->next == l) {
			h->next = NULL;
			send_truncated(h, VX6_TRUNCATED_NEXT_GONE, "the session to the next hop ended");
		}
		hop_destroy(h, "a neighbour's session ended");
	}
	vx6_idmap_free(&l->hops);
	vx6_idmap_init(&l->hops);
	/* Hops still waiting for this link to come up. */
	for (h = l->node->hops; h; h = h->next_hop)
		if (!h->dead && h->next == l) {
			h->next = NULL;
			send_truncated(h, VX6_TRUNCATED_NEXT_GONE, "cannot reach the next hop");
			hop_destroy(h, "cannot reach the next hop");
		}
}

/* Frees hops that are dead (never from inside their own processing). */
void
relay_gc(struct vx6_node *n)
{
	struct hop **pp = &n->hops, *h;

	while ((h = *pp) != NULL) {
		if (!h->dead) {
			pp = &h->next_hop;
			continue;
		}
		*pp = h->next_hop;
		vx6_chunkq_clear(&h->fwd_q);
		vx6_chunkq_clear(&h->bwd_q);
		vx6_idmap_free(&h->streams);
		vx6_hop_crypto_wipe(&h->keys);
		free(h);
	}
}

/* A hop must get its CREATE, and an EXTEND its CREATED, within this: a
 * client that stops half-way does not hold a slot until the session ends. */
#define HOP_SETUP_TIMEOUT (30 * VX6_NS_PER_SEC)
#define HOP_SWEEP_INTERVAL (5 * VX6_NS_PER_SEC)

uint64_t
relay_expiry(const struct vx6_node *n)
{
	uint64_t sweep = n->hops ? n->relay_sweep_at : VX6_TIME_NEVER;

	return n->relay_resume_at < sweep ? n->relay_resume_at : sweep;
}

static void
sweep_stuck_hops(struct vx6_node *n, uint64_t now)
{
	n->relay_sweep_at = now + HOP_SWEEP_INTERVAL;
	for (struct hop *h = n->hops; h; h = h->next_hop) {
		if (h->dead)
			continue;
		if (!h->created && now - h->created_at > HOP_SETUP_TIMEOUT) {
			hop_destroy(h, "no CREATE in time");
		} else if ((h->extending || h->waiting_link) && now - h->extend_at > HOP_SETUP_TIMEOUT) {
			send_truncated(h, VX6_TRUNCATED_NEXT_GONE, "the next hop did not answer the EXTEND in time");
			hop_destroy(h, "the next hop did not answer the EXTEND in time");
		}
	}
}

/* Sweeps half-built hops; when the bandwidth budget refilled, moves the
 * cells that waited for it. */
void
relay_timer(struct vx6_node *n, uint64_t now)
{
	if (n->hops && now >= n->relay_sweep_at)
		sweep_stuck_hops(n, now);
	if (now < n->relay_resume_at)
		return;
	n->relay_resume_at = VX6_TIME_NEVER;
	for (struct hop *h = n->hops; h; h = h->next_hop) {
		if (h->dead || h->next == NULL)
			continue;
		flush_q(&h->fwd_q, &h->fwd_q_unconsumed, h->next, h->next_sid, h->prev, h->prev_sid);
		flush_q(&h->bwd_q, &h->bwd_q_unconsumed, h->prev, h->prev_sid, h->next, h->next_sid);
	}
}

json_t *
relay_status_json(struct vx6_node *n)
{
	uint32_t relaying = 0, exits = 0;
	uint64_t buffered = 0;

	for (struct hop *h = n->hops; h; h = h->next_hop) {
		if (h->dead)
			continue;
		buffered += h->fwd_q.bytes + h->bwd_q.bytes;
		if (h->next || h->waiting_link || h->extending)
			relaying++;
		else
			exits++;
	}
	/* Buffered bytes are bounded by flow control: each hop queues at most
	 * one stream window per direction before its senders stop. */
	return json_pack("{s:b,s:i,s:i,s:i,s:I,s:I,s:b,s:I,s:I,s:I}", "enabled", n->cfg.relay,
	    "relaying", relaying, "exits", exits, "max_circuits", n->cfg.relay_max_circuits, "bytes",
	    (json_int_t)n->relay_bytes, "refused", (json_int_t)n->relay_refused, "allow_loopback",
	    n->cfg.relay_allow_loopback, "max_rate_kib", (json_int_t)n->cfg.relay_max_rate_kib,
	    "rate_limited", (json_int_t)n->relay_rate_limited, "buffered", (json_int_t)buffered);
}
