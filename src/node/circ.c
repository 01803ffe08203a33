/* circ — circuits this node builds (docs/PROTOCOL.md §14): choosing a path,
 * the telescoping build (CREATE to the first relay, then EXTEND through the
 * circuit to each next hop and finally the owner), and circuit streams that
 * carry a forward's connections. */
#include "node/node_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define LOG "circuit"
#define BUILD_TIMEOUT_MIN (3 * VX6_NS_PER_SEC)
#define BUILD_TIMEOUT_MAX (30 * VX6_NS_PER_SEC)

static void relay_worked(struct vx6_node *n, const uint8_t node_id[VX6_NODE_ID_LEN]);


/* --- sending cells on the first hop stream --- */

static struct vx6_chunkq *
outq(struct circuit *c)
{
	return &c->out_q;
}

/* Sends queued cells, as many whole cells as the hop stream's credit
 * allows; asks for a wake-up when cells are left (see relay.c flush_q). */
static void
flush(struct circuit *c)
{
	struct vx6_chunk *ch;
	size_t len;

	while (!c->dead && c->first && !c->first->over && outq(c)->head != NULL) {
		len = cellq_sendable(outq(c), vx6_ts_credit(c->first->session, c->sid));
		if (len == 0) {
			vx6_ts_want_writable(c->first->session, c->sid);
			break;
		}
		if ((ch = cellq_take(outq(c), len)) == NULL || vx6_ts_send(c->first->session, c->sid, ch) != 0)
			break;
	}
}

/* Queues a sealed cell and sends what credit allows. Out of memory, the
 * cell is lost, and so the circuit: nothing more is sent on it, and
 * circ_timer closes it at once (not here: callers still hold its streams). */
static void
queue_cell(struct circuit *c, const uint8_t cell[VX6_CELL_SIZE])
{
	if (c->out_of_memory)
		return;
	if (cellq_push(outq(c), cell) != 0) {
		c->out_of_memory = true;
		return;
	}
	flush(c);
}

/* A cell for hop `target` (the owner is n - 1). */
static void
send_cell(struct circuit *c, unsigned target, uint8_t cmd, uint16_t sid, const void *p, size_t len)
{
	uint8_t cell[VX6_CELL_SIZE];

	if (c->dead || vx6_cell_build(cell, cmd, sid, p, len) != 0)
		return;
	vx6_cell_client_seal(c->hops, target, cell);
	queue_cell(c, cell);
}

/* --- circuit stream endpoint (client side) --- */

static struct cstream *
cs_get(struct circuit *c, uint32_t id)
{
	return id ? vx6_idmap_get(&c->streams, id) : NULL;
}

static bool
cl_live(void *ctx, uint32_t sid)
{
	struct circuit *c = ctx;

	return !c->dead && c->ready && cs_get(c, sid) != NULL;
}

static bool
cl_usable(void *ctx)
{
	return !((struct circuit *)ctx)->dead;
}

static size_t
cl_credit(void *ctx, uint32_t sid)
{
	struct circuit *c = ctx;
	struct cstream *cs = cs_get(c, sid);
	size_t bytes;

	if (cs == NULL || c->dead || cs->fin_sent || outq(c)->count > 0 || c->first == NULL ||
	    c->first->over)
		return 0;
	bytes = vx6_ts_credit(c->first->session, c->sid) / VX6_CELL_SIZE * VX6_CELL_MAX_PAYLOAD;
	if (bytes == 0) {
		/* Less than a cell of credit: wake up when there is more. */
		vx6_ts_want_writable(c->first->session, c->sid);
		return 0;
	}
	if (bytes > cs->send_credit)
		bytes = (size_t)cs->send_credit;
	return bytes > VX6_FRAME_MAX_DATA ? VX6_FRAME_MAX_DATA : bytes;
}

static int
cl_send(void *ctx, uint32_t sid, struct vx6_chunk *ch)
{
	struct circuit *c = ctx;
	struct cstream *cs = cs_get(c, sid);
	const uint8_t *p = vx6_chunk_ptr(ch);
	size_t left = ch->len;

	if (cs == NULL || c->dead || left > cs->send_credit) {
		vx6_chunk_free(ch);
		return VX6_ERR_STATE;
	}
	cs->send_credit -= left;
	c->bytes_up += left;
	while (left > 0) {
		size_t n = left > VX6_CELL_MAX_PAYLOAD ? VX6_CELL_MAX_PAYLOAD : left;
		send_cell(c, c->n - 1, VX6_CELL_DATA, (uint16_t)sid, p, n);
		p += n;
		left -= n;
	}
	vx6_chunk_free(ch);
	return 0;
}

static int
cl_fin(void *ctx, uint32_t sid)
{
	struct circuit *c = ctx;
	struct cstream *cs = cs_get(c, sid);

	if (cs && !cs->fin_sent) {
		cs->fin_sent = true;
		send_cell(c, c->n - 1, VX6_CELL_END, (uint16_t)sid, NULL, 0);
	}
	return 0;
}

static int
cl_reset(void *ctx, uint32_t sid, uint16_t code, const char *reason)
{
	struct circuit *c = ctx;
	uint8_t p[2 + VX6_FRAME_MAX_REASON];
	size_t n = reason ? strnlen(reason, VX6_FRAME_MAX_REASON) : 0;

	if (cs_get(c, sid) == NULL)
		return 0;
	vx6_put_u16(p, code);
	memcpy(p + 2, reason, n);
	send_cell(c, c->n - 1, VX6_CELL_RESET, (uint16_t)sid, p, 2 + n);
	return 0;
}

static int
cl_consumed(void *ctx, uint32_t sid, size_t n)
{
	struct circuit *c = ctx;
	struct cstream *cs = cs_get(c, sid);
	uint8_t p[4];

	if (cs == NULL || c->dead)
		return 0;
	cs->recv_pending += n;
	if (cs->recv_pending >= cs->window / 2) {
		vx6_put_u32(p, (uint32_t)cs->recv_pending);
		cs->recv_window += cs->recv_pending;
		cs->recv_pending = 0;
		send_cell(c, c->n - 1, VX6_CELL_WINDOW, (uint16_t)sid, p, 4);
	}
	return 0;
}

static int
cl_accept(void *ctx, uint32_t sid)
{
	(void)ctx;
	(void)sid;
	return VX6_ERR_STATE;   /* the client opens circuit streams; it never accepts one */
}

/* Forgets a circuit stream and gives its extra window back to the budget. */
static void
cs_release(struct circuit *c, struct cstream *cs)
{
	if (cs->window > CIRC_STREAM_WINDOW)
		c->node->circ_window_extra -= cs->window - CIRC_STREAM_WINDOW;
	vx6_idmap_del(&c->streams, cs->id);
	free(cs);
}

static void
cl_detach(void *ctx, uint32_t sid, struct pump *p)
{
	struct circuit *c = ctx;
	struct cstream *cs = cs_get(c, sid);

	if (cs && cs->pump == p)
		cs_release(c, cs);
	if (c->retired && c->streams.count == 0)
		circ_close(c, "retired: its stream ids are used up");
}

const struct endpoint_ops circ_client_endpoint = {
	.live = cl_live, .usable = cl_usable, .credit = cl_credit, .send = cl_send, .fin = cl_fin,
	.reset = cl_reset, .consumed = cl_consumed, .accept = cl_accept, .detach = cl_detach,
};

void
circ_open_stream(struct circuit *c, struct pump *p)
{
	struct cstream *cs;
	size_t extra;
	uint16_t id;

	if (c->next_stream == UINT16_MAX) {
		pump_abort(p, VX6_RESET_LIMIT, "circuit stream ids exhausted");
		return;
	}
	id = ++c->next_stream;
	cs = calloc(1, sizeof(*cs));
	if (cs == NULL || vx6_idmap_put(&c->streams, id, cs) != 0) {
		free(cs);
		pump_abort(p, VX6_RESET_INTERNAL, "out of memory");
		return;
	}
	cs->id = id;
	cs->pump = p;
	cs->send_credit = CIRC_STREAM_WINDOW;
	extra = CIRC_CLIENT_WINDOW - CIRC_STREAM_WINDOW;
	if (c->node->circ_window_extra + extra > CIRC_CLIENT_EXTRA_BUDGET)
		extra = 0;
	c->node->circ_window_extra += extra;
	cs->window = (uint32_t)(CIRC_STREAM_WINDOW + extra);
	cs->recv_window = cs->window;
	send_cell(c, c->n - 1, VX6_CELL_BEGIN, id, c->fwd ? c->fwd->service : "", c->fwd ?
	    strlen(c->fwd->service) : 0);
	if (extra > 0) {
		uint8_t more[4];
		vx6_put_u32(more, (uint32_t)extra);
		send_cell(c, c->n - 1, VX6_CELL_WINDOW, id, more, sizeof(more));
	}
	pump_attach(p, &circ_client_endpoint, c, id);
	if (c->next_stream == UINT16_MAX && c->fwd && c->fwd->circ == c) {
		/* Stream ids used up: the forward builds a fresh circuit for its
		 * next connection; this one ends with its last stream. */
		c->fwd->circ = NULL;
		c->fwd = NULL;
		c->retired = true;
	}
}

/* --- building --- */

static uint64_t
build_timeout(struct vx6_node *n)
{
	uint64_t t[8], tmp;
	unsigned k = 0;

	/* Three times the median of recent builds, clamped: a slow network
	 * gets more time, a dead relay is given up on quickly. */
	for (unsigned i = 0; i < 8; i++)
		if (n->build_times[i])
			t[k++] = n->build_times[i];
	if (k == 0)
		return 10 * VX6_NS_PER_SEC;
	for (unsigned i = 1; i < k; i++)
		for (unsigned j = i; j > 0 && t[j - 1] > t[j]; j--) {
			tmp = t[j];
			t[j] = t[j - 1];
			t[j - 1] = tmp;
		}
	tmp = 3 * t[k / 2];
	return tmp < BUILD_TIMEOUT_MIN ? BUILD_TIMEOUT_MIN : tmp > BUILD_TIMEOUT_MAX ? BUILD_TIMEOUT_MAX : tmp;
}

static void
start(struct circuit *c)
{
	struct vx6_node *n = c->node;
	uint8_t cell[VX6_CELL_SIZE];

	c->started = true;
	if (vx6_ts_open(c->first->session, VX6_CIRCUIT_SERVICE, &c->sid) != 0 ||
	    vx6_idmap_put(&c->first->circs, c->sid, c) != 0) {
		circ_close(c, "cannot open a circuit stream to the first relay");
		return;
	}
	memset(cell, 0, sizeof(cell));
	if (vx6_hop_client_start(&c->hs, n->env, c->path[0].key, cell) != 0) {
		circ_close(c, "hop handshake failed");
		return;
	}
	queue_cell(c, cell);   /* CREATE travels without layers */
}

static void
advance(struct circuit *c)
{
	struct vx6_node *n = c->node;
	uint8_t payload[VX6_EXTEND_LEN];
	struct vx6_extend e;

	if (c->built == c->n) {
		uint64_t took = node_now(n) - c->created_at;
		c->ready = true;
		c->ready_at = node_now(n);
		for (unsigned i = 0; i + 1 < c->n; i++)
			relay_worked(n, c->path[i].node_id);
		n->build_times[n->build_next++ % 8] = took;
		vx6_log_info(n->log, LOG, "circuit of %u hop(s) ready in %.1f ms", c->n,
		    (double)took / 1e6);
		if (c->fwd)
			forward_circuit_ready(c->fwd, c);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.addr = c->path[c->built].addr;
	memcpy(e.key, c->path[c->built].key, VX6_KEY_LEN);
	if (vx6_hop_client_start(&c->hs, n->env, e.key, e.msg1) != 0 || vx6_extend_encode(&e, payload) != 0) {
		circ_close(c, "cannot extend the circuit");
		return;
	}
	send_cell(c, c->built - 1, VX6_CELL_EXTEND, 0, payload, sizeof(payload));
}

/* --- relay health --- */

#define AVOID_BASE_NS (60ull * VX6_NS_PER_SEC)      /* first failure: 1 min */
#define AVOID_MAX_NS (30ull * 60 * VX6_NS_PER_SEC)  /* doubling up to 30 min */

static uint64_t
health_key(const uint8_t id[VX6_NODE_ID_LEN])
{
	uint64_t k;

	memcpy(&k, id, sizeof(k));
	return k;
}

static struct relay_health *
health_get(struct vx6_node *n, const uint8_t id[VX6_NODE_ID_LEN], bool create)
{
	struct relay_health *h = vx6_idmap_get(&n->relay_health, health_key(id));

	if (h && memcmp(h->node_id, id, VX6_NODE_ID_LEN) != 0)
		return NULL;   /* a prefix collision: no record for this one */
	if (h || !create || n->relay_health.count >= 4096)
		return h;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	memcpy(h->node_id, id, VX6_NODE_ID_LEN);
	if (vx6_idmap_put(&n->relay_health, health_key(id), h) != 0) {
		free(h);
		return NULL;
	}
	return h;
}

void
circ_relay_failed(struct vx6_node *n, const uint8_t node_id[VX6_NODE_ID_LEN])
{
	struct relay_health *h = health_get(n, node_id, true);
	uint64_t hold;

	if (h == NULL)
		return;
	h->failed++;
	h->fails_in_row++;
	hold = h->fails_in_row > 6 ? AVOID_MAX_NS : AVOID_BASE_NS << (h->fails_in_row - 1);
	h->avoid_until = node_now(n) + (hold < AVOID_MAX_NS ? hold : AVOID_MAX_NS);
}

static void
relay_worked(struct vx6_node *n, const uint8_t node_id[VX6_NODE_ID_LEN])
{
	struct relay_health *h = health_get(n, node_id, true);

	if (h) {
		h->ok++;
		h->fails_in_row = 0;
		h->avoid_until = 0;
	}
}

bool
circ_relay_avoided(struct vx6_node *n, const uint8_t node_id[VX6_NODE_ID_LEN])
{
	struct relay_health *h = health_get(n, node_id, false);

	return h && h->avoid_until > node_now(n);
}

json_t *
circ_avoided_json(struct vx6_node *n)
{
	json_t *arr = json_array();
	struct relay_health *h;
	size_t pos = 0;
	char hex[2 * VX6_NODE_ID_LEN + 1];

	while ((h = vx6_idmap_next(&n->relay_health, &pos, NULL)) != NULL) {
		if (h->avoid_until <= node_now(n))
			continue;
		sodium_bin2hex(hex, sizeof(hex), h->node_id, VX6_NODE_ID_LEN);
		json_array_append_new(arr, json_string(hex));
	}
	return arr;
}

void
circ_health_free(struct vx6_node *n)
{
	struct relay_health *h;
	size_t pos = 0;

	while ((h = vx6_idmap_next(&n->relay_health, &pos, NULL)) != NULL)
		free(h);
	vx6_idmap_free(&n->relay_health);
}

/* The candidates for relays: records with the relay flag, not us, not the
 * owner (one that failed recently scores last). When more are known than fit,
 * a uniform sample of them (reservoir), so no name or key is favoured. */
#define MAX_CANDIDATES 64

struct pick {
	struct vx6_node *n;
	const uint8_t *owner_id;
	struct vx6_node_record cand[MAX_CANDIDATES];
	unsigned count;
	unsigned seen;                   /* eligible records, sampled or not */
	uint64_t wall;
};

static void
consider(void *ud, const uint8_t *bytes, size_t len)
{
	struct pick *pk = ud;
	struct vx6_node_record r;
	uint32_t slot;

	if (vx6_node_record_decode(&r, bytes, len, pk->wall) != 0)
		return;
	if (!(r.flags & VX6_NODE_FLAG_RELAY) || r.n_addrs == 0 ||
	    memcmp(r.node_id, pk->n->id.node_id, VX6_NODE_ID_LEN) == 0 ||
	    memcmp(r.node_id, pk->owner_id, VX6_NODE_ID_LEN) == 0)
		return;
	pk->seen++;
	if (pk->count < MAX_CANDIDATES) {
		pk->cand[pk->count++] = r;
		return;
	}
	vx6_env_random(pk->n->env, (uint8_t *)&slot, sizeof(slot));
	slot %= pk->seen;
	if (slot < MAX_CANDIDATES)
		pk->cand[slot] = r;
}

static bool
same_48(const struct vx6_addr *a, const struct vx6_addr *b)
{
	if (a->family != b->family)
		return false;
	return a->family == 6 ? memcmp(a->ip, b->ip, 6) == 0 : memcmp(a->ip, b->ip, 3) == 0;
}

/* The address of a relay in a cell: QUIC when it has one (and the policy
 * allows), which the previous hop dials with TCP as its fallback. */
static bool
hop_addr(const struct vx6_node *n, const struct vx6_node_record *r, struct vx6_addr *out)
{
	return node_circuit_addr(n, r->addrs, r->n_addrs, out);
}

/* Scores a candidate (docs/PROTOCOL.md §14.11): health from our own
 * circuits through it, liveness and RTT of a session we have with it, and
 * a random part so paths differ. Then takes `want` greedily, highest score
 * first, that pass the diversity rule. */
static uint32_t
score_relay(struct vx6_node *n, const struct vx6_node_record *r)
{
	struct link *l = named_link_to(n, r->node_id);
	struct relay_health *h = health_get(n, r->node_id, false);
	uint32_t ok = h ? h->ok : 0, failed = h ? h->failed : 0, score;
	uint8_t rnd;

	vx6_env_random(n->env, &rnd, 1);
	/* A relay that failed in the last minutes is a last resort: below any
	 * other (every other score is at least 256). */
	if (h && h->avoid_until > node_now(n))
		return rnd;
	/* success rate with a neutral prior: (ok + 1) / (ok + failed + 2) */
	score = (uint32_t)(512ull * (ok + 1) / ((uint64_t)ok + failed + 2)) + rnd;
	if (l && l->established && !l->over) {
		struct vx6_session_info info;
		uint64_t rtt_ms;
		vx6_ts_info(l->session, &info);
		rtt_ms = info.rtt_ns / 1000000;
		/* alive now: +256, and up to +256 more the lower its RTT (20 ms halves it) */
		score += 256 + (uint32_t)(256ull * 20 / (20 + rtt_ms));
	}
	return score;
}

static unsigned
choose_path(struct circuit *c, struct pick *pk, unsigned want, const struct vx6_addr *owner_addr)
{
	struct vx6_node *n = c->node;
	uint32_t score[MAX_CANDIDATES];
	unsigned taken = 0;

	for (unsigned i = 0; i < pk->count; i++)
		score[i] = score_relay(n, &pk->cand[i]);
	for (unsigned k = 0; k < want; k++) {
		int best = -1;
		for (unsigned i = 0; i < pk->count; i++) {
			struct vx6_addr a;
			bool ok = hop_addr(n, &pk->cand[i], &a) && score[i] != UINT32_MAX;
			if (ok && !n->cfg.relay_same_prefix) {
				if (same_48(&a, owner_addr))
					ok = false;
				for (unsigned j = 0; ok && j < taken; j++)
					ok = !same_48(&a, &c->path[j].addr);
			}
			if (ok && (best < 0 || score[i] > score[best]))
				best = (int)i;
		}
		if (best < 0)
			break;
		memcpy(c->path[taken].key, pk->cand[best].key, VX6_KEY_LEN);
		memcpy(c->path[taken].node_id, pk->cand[best].node_id, VX6_NODE_ID_LEN);
		(void)hop_addr(n, &pk->cand[best], &c->path[taken].addr);
		snprintf(c->path[taken].name, sizeof(c->path[taken].name), "%s", pk->cand[best].name);
		score[best] = UINT32_MAX;   /* never twice in one path */
		taken++;
	}
	return taken;
}

int
circ_build(struct forward *f, const uint8_t owner_key[VX6_KEY_LEN], const struct vx6_addr *owner_addr,
    char *why, size_t whylen)
{
	struct vx6_node *n = f->node;
	struct circuit *c;
	struct pick *pk;
	unsigned relays = f->relay_hops, got;
	uint8_t owner_id[VX6_NODE_ID_LEN];

	if (relays + 1 > VX6_CIRCUIT_MAX_HOPS) {
		snprintf(why, whylen, "at most %d relays", VX6_CIRCUIT_MAX_HOPS - 1);
		return VX6_ERR_INVAL;
	}
	c = calloc(1, sizeof(*c));
	pk = calloc(1, sizeof(*pk));
	if (c == NULL || pk == NULL) {
		free(c);
		free(pk);
		return VX6_ERR_NOMEM;
	}
	c->node = n;
	c->failed_hop = -1;
	c->fwd = f;
	c->n = relays + 1;
	c->created_at = node_now(n);
	vx6_idmap_init(&c->streams);
	vx6_chunkq_init(&c->out_q);
	vx6_node_id_from_key(owner_id, owner_key);
	pk->n = n;
	pk->owner_id = owner_id;
	pk->wall = node_wall(n);
	if (n->reg)
		(void)vx6_registry_all_nodes(n->reg, pk->wall, consider, pk);
	if ((got = choose_path(c, pk, relays, owner_addr)) < relays) {
		snprintf(why, whylen, "not enough relays: %u relay(s) known, a path of %u found, %u needed "
		    "(relays must be distinct, each in its own /48 apart from the owner's, and neither this "
		    "node nor the owner)", pk->seen, got, relays);
		free(pk);
		vx6_idmap_free(&c->streams);
		free(c);
		return VX6_ERR_NOT_FOUND;
	}
	free(pk);
	memcpy(c->path[relays].key, owner_key, VX6_KEY_LEN);
	memcpy(c->path[relays].node_id, owner_id, VX6_NODE_ID_LEN);
	c->path[relays].addr = *owner_addr;
	snprintf(c->path[relays].name, sizeof(c->path[relays].name), "owner");
	c->first = named_link_to(n, c->path[0].node_id);
	if (c->first == NULL)
		c->first = link_dial_hop(n, &c->path[0].addr, c->path[0].key);
	if (c->first == NULL) {
		snprintf(why, whylen, "cannot reach the first relay");
		vx6_idmap_free(&c->streams);
		free(c);
		return VX6_ERR_UNREACHABLE;
	}
	c->deadline = node_now(n) + build_timeout(n);
	c->next_circ = n->circuits;
	n->circuits = c;
	f->circ = c;
	if (c->first->established)
		start(c);
	return 0;
}

void
circ_link_established(struct link *l)
{
	for (struct circuit *c = l->node->circuits; c; c = c->next_circ)
		if (!c->dead && !c->started && c->first == l)
			start(c);
}

static void
stream_cell(struct circuit *c, const struct vx6_cell *cell)
{
	struct cstream *cs = cs_get(c, cell->stream_id);
	struct vx6_chunk *ch;
	char reason[VX6_FRAME_MAX_REASON + 1];
	size_t rn;
	struct pump *p;

	if (cs == NULL)
		return;   /* ended on our side first */
	p = cs->pump;
	switch (cell->cmd) {
	case VX6_CELL_CONNECTED:
		cs->connected = true;
		if (p)
			pump_stream_accepted(p);
		break;
	case VX6_CELL_DATA:
		if (cs->fin_recv || cell->length > cs->recv_window) {
			circ_close(c, "circuit stream flow violation by the owner");
			return;
		}
		cs->recv_window -= cell->length;
		c->bytes_down += cell->length;
		if (p && cell->length && (ch = vx6_chunk_copy(cell->payload, cell->length, 0, 0)) != NULL)
			pump_stream_data(p, ch);
		break;
	case VX6_CELL_END:
		cs->fin_recv = true;
		if (p)
			pump_stream_fin(p);
		break;
	case VX6_CELL_RESET:
		rn = cell->length > 2 ? cell->length - 2u : 0;
		if (rn > VX6_FRAME_MAX_REASON)
			rn = VX6_FRAME_MAX_REASON;
		for (size_t i = 0; i < rn; i++)
			reason[i] = (cell->payload[2 + i] >= 0x20 && cell->payload[2 + i] < 0x7f) ?
			    (char)cell->payload[2 + i] : '?';
		reason[rn] = '\0';
		cs_release(c, cs);
		if (p) {
			p->ep_ctx = NULL;
			pump_stream_reset(p, cell->length >= 2 ? vx6_get_u16(cell->payload) : 0, reason, true);
		}
		break;
	case VX6_CELL_WINDOW:
		if (cell->length != 4)
			break;
		cs->send_credit += vx6_get_u32(cell->payload);
		if (cs->send_credit > (1ULL << 40)) {
			circ_close(c, "circuit stream credit overflow");
			return;
		}
		if (p)
			pump_stream_writable(p);
		break;
	default:
		break;
	}
}

static void
one_cell(struct circuit *c, uint8_t cell[VX6_CELL_SIZE])
{
	struct vx6_node *n = c->node;
	struct vx6_cell pc;
	int idx;

	if (c->built == 0) {
		/* CREATED: the first relay's NK message 2. */
		if (vx6_hop_client_finish(&c->hs, cell, &c->hops[0]) != 0) {
			circ_close(c, "the first relay's CREATED does not verify");
			return;
		}
		c->built = 1;
		advance(c);
		return;
	}
	idx = vx6_cell_client_open(c->hops, c->built, cell);
	if (idx < 0) {
		/* Counted here, where it was detected: a reset reason from a
		 * peer is only text and must not raise this counter. */
		n->ctr.circuit_tampered++;
		c->tampered = true;
		circ_close(c, "a cell failed authentication (tampered, replayed or reordered)");
		return;
	}
	if (vx6_cell_parse(cell, &pc) != 0) {
		/* Authentic but malformed: its sender broke the protocol. */
		n->ctr.protocol_violations++;
		c->failed_hop = (unsigned)idx + 1 < c->n ? idx : -1;
		circ_close(c, "a hop sent a malformed cell");
		return;
	}
	if (pc.cmd == VX6_CELL_EXTENDED) {
		if ((unsigned)idx != c->built - 1 || c->ready || pc.length != VX6_HOP_MSG_LEN ||
		    vx6_hop_client_finish(&c->hs, pc.payload, &c->hops[c->built]) != 0) {
			circ_close(c, "bad EXTENDED");
			return;
		}
		c->built++;
		advance(c);
		return;
	}
	if (pc.cmd == VX6_CELL_PADDING)
		return;
	if (pc.cmd == VX6_CELL_TRUNCATED && (unsigned)idx + 1 < c->n) {
		/* Hop idx lost (or could not reach) hop idx + 1, or refused to
		 * extend at all: the one at fault is avoided for a while. */
		bool refused = pc.length >= 1 && pc.payload[0] == VX6_TRUNCATED_REFUSED;
		char why[300], text[201];
		size_t tlen = pc.length > 1 ? pc.length - 1u : 0;
		/* The relay's words, printable ASCII only (they reach logs). */
		if (tlen > 200)
			tlen = 200;
		for (size_t i = 0; i < tlen; i++)
			text[i] = pc.payload[1 + i] >= 0x20 && pc.payload[1 + i] < 0x7f ? (char)pc.payload[1 + i] : '?';
		text[tlen] = '\0';
		c->failed_hop = refused ? (int)idx : (int)idx + 1;
		snprintf(why, sizeof(why), "%s %s refused: %s", refused ? "relay" : "the hop after relay",
		    c->path[refused ? idx : idx + 1].name, tlen ? text : "no reason given");
		if (!refused)
			snprintf(why, sizeof(why), "relay %s lost or could not reach the next hop (%s): %s",
			    c->path[idx].name, c->path[idx + 1].name, tlen ? text : "no reason given");
		circ_close(c, why);
		return;
	}
	if ((unsigned)idx != c->n - 1 || !c->ready) {
		circ_close(c, "a relay sent a stream cell");
		return;
	}
	stream_cell(c, &pc);
}

void
circ_stream_data(struct circuit *c, struct vx6_chunk *chunk)
{
	const uint8_t *p = vx6_chunk_ptr(chunk);
	size_t left = chunk->len, total = chunk->len;
	struct link *first = c->first;
	uint32_t sid = c->sid;

	while (left > 0 && !c->dead) {
		size_t take = VX6_CELL_SIZE - c->part_len;
		if (take > left)
			take = left;
		memcpy(c->part + c->part_len, p, take);
		c->part_len += take;
		p += take;
		left -= take;
		if (c->part_len == VX6_CELL_SIZE) {
			c->part_len = 0;
			one_cell(c, c->part);
		}
	}
	vx6_chunk_free(chunk);
	/* Circuit streams have their own windows: the hop stream credit goes
	 * back at once. */
	if (first && !first->over)
		vx6_ts_consumed(first->session, sid, total);
}

void
circ_stream_writable(struct circuit *c)
{
	size_t pos = 0;
	struct cstream *cs;

	flush(c);
	while (!c->dead && outq(c)->count == 0 && (cs = vx6_idmap_next(&c->streams, &pos, NULL)) != NULL)
		if (cs->pump)
			pump_stream_writable(cs->pump);
}

void
circ_close(struct circuit *c, const char *why)
{
	struct vx6_node *n = c->node;
	size_t pos = 0;
	struct cstream *cs;
	int failed_hop = c->failed_hop;

	if (c->dead)
		return;
	c->dead = true;
	snprintf(c->why, sizeof(c->why), "%s", why);
	/* During the build, the hop being added is the likely culprit. */
	if (!c->ready && failed_hop < 0)
		failed_hop = c->started ? (int)c->built : 0;
	if (failed_hop >= 0 && (unsigned)failed_hop + 1 < c->n)
		circ_relay_failed(n, c->path[failed_hop].node_id);
	if (c->tampered)
		vx6_log_warn(n->log, LOG, "circuit of %u hop(s) closed: %s", c->n, why);
	else
		vx6_log_info(n->log, LOG, "circuit of %u hop(s) closed%s: %s", c->n,
		    c->ready ? "" : " while building", why);
	if (c->first && !c->first->over && c->started) {
		vx6_ts_reset(c->first->session, c->sid, VX6_RESET_CANCEL, why);
		vx6_idmap_del(&c->first->circs, c->sid);
	}
	while ((cs = vx6_idmap_next(&c->streams, &pos, NULL)) != NULL) {
		struct pump *p = cs->pump;
		cs_release(c, cs);
		if (p) {
			p->ep_ctx = NULL;
			pump_stream_reset(p, VX6_RESET_SESSION_LOST, why, false);
		}
	}
	vx6_chunkq_clear(outq(c));
	vx6_noise_hs_wipe(&c->hs);
	if (c->fwd)
		forward_circuit_over(c->fwd, c, why, failed_hop);
	c->fwd = NULL;
}

void
circ_stream_reset(struct circuit *c, const char *reason, bool remote)
{
	/* The hop stream is gone already (reset by the first relay, or with
	 * the session). */
	if (c->first)
		vx6_idmap_del(&c->first->circs, c->sid);
	c->started = false;
	/* The session to the first relay ended under the circuit (silent,
	 * broken): nobody before it can report it, so blame it here. */
	if (!remote && c->n > 1 && c->failed_hop < 0)
		c->failed_hop = 0;
	circ_close(c, reason);
}

void
circ_link_over(struct link *l)
{
	for (struct circuit *c = l->node->circuits; c; c = c->next_circ)
		if (!c->dead && c->first == l) {
			c->started = false;
			/* A first relay that went silent or broke the session has
			 * nobody before it to report it: blame it here. */
			if (l->close_err && c->n > 1)
				c->failed_hop = 0;
			circ_close(c, "the session to the first relay ended");
			c->first = NULL;
		}
}

uint64_t
circ_expiry(struct vx6_node *n)
{
	uint64_t e = VX6_TIME_NEVER;

	for (struct circuit *c = n->circuits; c; c = c->next_circ) {
		if (!c->dead && c->out_of_memory)
			return 0;   /* due now */
		if (!c->dead && !c->ready && c->deadline < e)
			e = c->deadline;
	}
	return e;
}

void
circ_timer(struct vx6_node *n, uint64_t now)
{
	for (struct circuit *c = n->circuits; c; c = c->next_circ)
		if (!c->dead && c->out_of_memory)
			circ_close(c, "out of memory (a cell could not be queued)");
		else if (!c->dead && !c->ready && now >= c->deadline)
			circ_close(c, "the circuit did not finish building in time");
}

void
circ_gc(struct vx6_node *n)
{
	struct circuit **pp = &n->circuits, *c;

	while ((c = *pp) != NULL) {
		if (!c->dead) {
			pp = &c->next_circ;
			continue;
		}
		*pp = c->next_circ;
		for (unsigned i = 0; i < VX6_CIRCUIT_MAX_HOPS; i++)
			vx6_hop_crypto_wipe(&c->hops[i]);
		vx6_idmap_free(&c->streams);
		free(c);
	}
}

json_t *
circ_status_json(struct vx6_node *n)
{
	json_t *arr = json_array();
	uint64_t now = node_now(n);
	char a[VX6_ADDR_STRLEN];

	for (struct circuit *c = n->circuits; c; c = c->next_circ) {
		json_t *hops = json_array(), *o;
		double rtt = 0;
		if (c->dead)
			continue;
		for (unsigned i = 0; i < c->n; i++) {
			vx6_addr_format(&c->path[i].addr, a, sizeof(a), false);
			json_array_append_new(hops, json_pack("{s:s,s:s}", "name", c->path[i].name, "addr", a));
		}
		if (c->first && c->first->established) {
			struct vx6_session_info info;
			vx6_ts_info(c->first->session, &info);
			rtt = (double)info.rtt_ns / 1e6;
		}
		o = json_pack("{s:s,s:o,s:f,s:I,s:I,s:i,s:f}", "state", c->ready ? "ready" : "building",
		    "hops", hops, "age_s", (double)(now - c->created_at) / 1e9, "bytes_up",
		    (json_int_t)c->bytes_up, "bytes_down", (json_int_t)c->bytes_down, "streams",
		    (int)c->streams.count, "first_hop_rtt_ms", rtt);
		if (c->ready)
			json_object_set_new(o, "build_ms", json_real((double)(c->ready_at - c->created_at) / 1e6));
		json_array_append_new(arr, o);
	}
	return arr;
}
