/*
 * test_dht — core/dht driven directly, with the VX6 validators of
 * core/dhtval (docs/PROTOCOL.md §12).
 *
 *  - Routing table against a naive reference model (k-buckets, least
 *    recently seen first, a replacement cache per bucket, eviction after two
 *    failures promoting the newest replacement) under random operations
 *    (seed printed by tu_seed), with vx6_dht_closest compared with a
 *    brute-force sort by XOR distance.
 *  - Admission through STORE messages crafted here in the §12.3 format
 *    (version 1 || kind || txid (4) || body; the protocol byte of the RPC
 *    frame is the node's and not seen by the core): signer/key binding,
 *    seq rules, 16 signers per key, size, expiry, per-source throttling.
 *  - Lookups: none before vx6_dht_lookup returns, timeouts, responses only
 *    from the asked node with a pending txid, and a 30-node network on an
 *    in-test message pump (FIFO, synchronous time; like the node layer, a
 *    first message between two nodes makes each add the other's record as
 *    a contact, PROTOCOL.md §13) that finds stored values on >= 2 holders
 *    and the true k closest nodes.
 *  - Malformed messages of every kind are counted and never crash.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/dht.h"
#include "core/dhtval.h"
#include "core/record.h"
#include "lib/err.h"
#include "testutil.h"

#define T0 1800000000ULL          /* wall clock (unix seconds) */
#define HOUR 3600ULL
#define SEC VX6_NS_PER_SEC
#define NOW0 (1000 * SEC)         /* monotonic clock (ns) */
#define ID_OFF 38                 /* node_id inside an encoded node record */

/* --- identities and records ------------------------------------------------ */

struct peer {
	struct vx6_identity id;
	uint8_t rec[VX6_RECORD_MAX_LEN];
	size_t len;
};

static void
node_rec(struct peer *p, const char *name, uint64_t seq, uint64_t expires, uint16_t port)
{
	struct vx6_node_record r;
	int n;

	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "%s", name);
	r.n_addrs = 1;
	r.addrs[0].family = 4;
	r.addrs[0].ip[0] = 10;
	r.addrs[0].ip[1] = p->id.pk[0];
	r.addrs[0].ip[2] = p->id.pk[1];
	r.addrs[0].ip[3] = p->id.pk[2];
	r.addrs[0].port = port ? port : 4242;
	r.seq = seq;
	r.issued_at = T0 - 60;
	r.expires_at = expires;
	n = vx6_node_record_sign(&r, &p->id, p->rec, sizeof(p->rec));
	assert_true(n > 0);
	p->len = (size_t)n;
}

static void
peer_from_seed(struct peer *p, const uint8_t seed[32], const char *name)
{
	assert_int_equal(vx6_identity_from_seed(&p->id, seed), 0);
	node_rec(p, name, 1, T0 + HOUR, 0);
}

static void
peer_from_byte(struct peer *p, uint8_t b, const char *name)
{
	tu_identity(&p->id, b);
	node_rec(p, name, 1, T0 + HOUR, 0);
}

static size_t
service_rec(const struct vx6_identity *id, const char *node, const char *svc, uint64_t seq, uint64_t expires,
    uint8_t *out)
{
	struct vx6_service_record s;
	int n;

	memset(&s, 0, sizeof(s));
	snprintf(s.node_name, sizeof(s.node_name), "%s", node);
	snprintf(s.service, sizeof(s.service), "%s", svc);
	s.seq = seq;
	s.issued_at = T0 - 60;
	s.expires_at = expires;
	n = vx6_service_record_sign(&s, id, out, VX6_RECORD_MAX_LEN);
	assert_true(n > 0);
	return (size_t)n;
}

static int
cmp_dist(const uint8_t *a, const uint8_t *b, const uint8_t *target)
{
	for (int i = 0; i < 32; i++) {
		uint8_t da = a[i] ^ target[i], db = b[i] ^ target[i];
		if (da != db)
			return da < db ? -1 : 1;
	}
	return 0;
}

static int
prefix_bits(const uint8_t *a, const uint8_t *b)
{
	for (int i = 0; i < 32; i++) {
		uint8_t x = a[i] ^ b[i];
		if (x) {
			int n = 0;
			while (!(x & 0x80)) {
				x <<= 1;
				n++;
			}
			return i * 8 + n;
		}
	}
	return 256;
}

/* --- messages (§12.3) ----------------------------------------------------------- */

static size_t
put_hdr(uint8_t *p, uint8_t kind, uint32_t txid)
{
	p[0] = 1;
	p[1] = kind;
	p[2] = (uint8_t)(txid >> 24);
	p[3] = (uint8_t)(txid >> 16);
	p[4] = (uint8_t)(txid >> 8);
	p[5] = (uint8_t)txid;
	return 6;
}

static uint32_t
get_txid(const uint8_t *p)
{
	return (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
}

static size_t
put_u16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

static size_t
msg_find(uint8_t *p, uint8_t kind, uint32_t txid, const uint8_t key[32])
{
	size_t o = put_hdr(p, kind, txid);

	memcpy(p + o, key, 32);
	return o + 32;
}

static size_t
msg_store(uint8_t *p, uint32_t txid, const uint8_t key[32], const uint8_t *v, size_t len)
{
	size_t o = put_hdr(p, VX6_DHT_STORE, txid);

	memcpy(p + o, key, 32);
	o += 32;
	o += put_u16(p + o, len);
	memcpy(p + o, v, len);
	return o + len;
}

/* A NODES body (count, then len || record each) at p. */
static size_t
put_nodes_body(uint8_t *p, const struct peer *const *peers, unsigned n)
{
	size_t o = 0;

	p[o++] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		o += put_u16(p + o, peers[i]->len);
		memcpy(p + o, peers[i]->rec, peers[i]->len);
		o += peers[i]->len;
	}
	return o;
}

/* --- a single DHT with captured output ------------------------------------------- */

struct sent {
	uint8_t to[32];
	bool with_contact;
	size_t len;
	uint8_t *msg;
};

struct done {
	uint64_t id;
	int status;
	unsigned n_values, stored, n_closest, hops, messages;
	unsigned holders[VX6_DHT_MAX_RESULT_VALUES];
	uint8_t holder_ids[VX6_DHT_MAX_RESULT_VALUES][VX6_DHT_MAX_HOLDERS][32];
	uint8_t *vals[VX6_DHT_MAX_RESULT_VALUES];
	size_t vlen[VX6_DHT_MAX_RESULT_VALUES];
	uint8_t closest[VX6_DHT_K][32];
};

#define MAX_DONE 64

/* Lookup results and the "never inside the API call" check, shared by the
 * single harness and the network nodes. */
struct results {
	struct done done[MAX_DONE];
	unsigned n_done;
	bool in_api;
	unsigned early_calls;     /* lookup_done while vx6_dht_lookup/store ran */
};

static void
results_add(struct results *r, uint64_t id, const struct vx6_dht_result *res)
{
	struct done *d;

	if (r->in_api)
		r->early_calls++;
	assert_true(r->n_done < MAX_DONE);
	d = &r->done[r->n_done++];
	memset(d, 0, sizeof(*d));
	d->id = id;
	d->status = res->status;
	d->n_values = res->n_values;
	d->stored = res->stored;
	d->n_closest = res->n_closest;
	d->hops = res->hops;
	d->messages = res->messages;
	assert_true(res->n_values <= VX6_DHT_MAX_RESULT_VALUES && res->n_closest <= VX6_DHT_K);
	for (unsigned i = 0; i < res->n_values; i++) {
		d->holders[i] = res->values[i].holders;
		memcpy(d->holder_ids[i], res->values[i].holder_ids, sizeof(d->holder_ids[i]));
		d->vals[i] = malloc(res->values[i].len);
		assert_non_null(d->vals[i]);
		memcpy(d->vals[i], res->values[i].value, res->values[i].len);
		d->vlen[i] = res->values[i].len;
	}
	memcpy(d->closest, res->closest, sizeof(d->closest));
}

static void
results_free(struct results *r)
{
	for (unsigned i = 0; i < r->n_done; i++)
		for (unsigned j = 0; j < r->done[i].n_values; j++)
			free(r->done[i].vals[j]);
	r->n_done = 0;
}

static struct done *
result_for(struct results *r, uint64_t id)
{
	for (unsigned i = 0; i < r->n_done; i++)
		if (r->done[i].id == id)
			return &r->done[i];
	return NULL;
}

struct h {
	struct tu_env env;
	struct vx6_dht_cbs cbs;
	struct vx6_dht_config cfg;
	struct vx6_dht *d;
	struct vx6_dhtval_cache cache;
	uint64_t wall;
	struct peer self;
	struct sent *sent;
	size_t n_sent, cap_sent;
	struct results res;
	uint32_t next_txid;
	uint64_t now;                /* the clock of pending_lookup() */
};

static void
h_send(void *ud, const uint8_t id[32], const uint8_t *contact, size_t contact_len, const uint8_t *msg,
    size_t len)
{
	struct h *h = ud;
	struct sent *s;

	assert_true(len > 0 && len <= VX6_DHT_MAX_MSG);
	if (h->n_sent == h->cap_sent) {
		h->cap_sent = h->cap_sent ? 2 * h->cap_sent : 64;
		h->sent = realloc(h->sent, h->cap_sent * sizeof(*h->sent));
		assert_non_null(h->sent);
	}
	s = &h->sent[h->n_sent++];
	memcpy(s->to, id, 32);
	s->with_contact = contact != NULL && contact_len > 0;
	if (s->with_contact)   /* a contact is the record of the node it names */
		assert_memory_equal(contact + ID_OFF, id, 32);
	s->len = len;
	s->msg = malloc(len);
	assert_non_null(s->msg);
	memcpy(s->msg, msg, len);
}

static void
h_done(void *ud, uint64_t lookup_id, const struct vx6_dht_result *res)
{
	results_add(&((struct h *)ud)->res, lookup_id, res);
}

static int
h_validate(void *ud, const uint8_t key[32], const uint8_t *v, size_t len, uint64_t now,
    struct vx6_dht_value_info *info)
{
	return vx6_dhtval_validate(&((struct h *)ud)->cache, key, v, len, now, info);
}

static int
h_contact(void *ud, const uint8_t *c, size_t len, uint64_t now, uint8_t id[32], uint64_t *seq)
{
	return vx6_dhtval_contact_id(&((struct h *)ud)->cache, c, len, now, id, seq);
}

static uint64_t
h_wall(void *ud)
{
	return ((struct h *)ud)->wall;
}

static void
h_init_cfg(struct h *h, const struct peer *self, const struct vx6_dht_config *cfg, uint64_t seed)
{
	memset(h, 0, sizeof(*h));
	tu_env_init(&h->env, seed);
	h->cbs.send = h_send;
	h->cbs.lookup_done = h_done;
	h->cbs.validate = h_validate;
	h->cbs.contact_id = h_contact;
	h->cbs.wall_time = h_wall;
	if (cfg)
		h->cfg = *cfg;
	else
		vx6_dht_config_defaults(&h->cfg);
	h->wall = T0;
	h->self = *self;
	h->next_txid = 0x1000;
	h->now = NOW0;
	h->d = vx6_dht_new(self->id.node_id, &h->cfg, &h->env.env, &h->cbs, h);
	assert_non_null(h->d);
}

static void
h_clear_sent(struct h *h)
{
	for (size_t i = 0; i < h->n_sent; i++)
		free(h->sent[i].msg);
	h->n_sent = 0;
}

static void
h_free(struct h *h)
{
	vx6_dht_free(h->d);
	h_clear_sent(h);
	free(h->sent);
	results_free(&h->res);
}

static struct vx6_dht_stats
h_stats(struct h *h)
{
	struct vx6_dht_stats st;

	vx6_dht_stats(h->d, &st);
	return st;
}

static uint64_t
h_lookup(struct h *h, const uint8_t key[32], bool want_value, uint64_t now)
{
	uint64_t id;

	h->res.in_api = true;
	id = vx6_dht_lookup(h->d, key, want_value, now);
	h->res.in_api = false;
	return id;
}

/* Feeds a crafted STORE from `from`; returns the STORED code sent back to
 * `from`, or -1 when there was no reply. */
static int
h_store(struct h *h, const uint8_t from[32], const uint8_t key[32], const uint8_t *v, size_t len, uint64_t now)
{
	static uint8_t msg[16 + 32 + 70000];
	uint32_t txid = h->next_txid++;
	size_t before = h->n_sent, n = msg_store(msg, txid, key, v, len);

	vx6_dht_recv(h->d, from, msg, n, now);
	for (size_t i = before; i < h->n_sent; i++) {
		struct sent *s = &h->sent[i];
		if (s->len >= 6 && s->msg[1] == VX6_DHT_STORED && get_txid(s->msg) == txid) {
			assert_memory_equal(s->to, from, 32);
			assert_int_equal(s->len, 7);
			return s->msg[6];
		}
	}
	return -1;
}

/* Sends FIND_VALUE from `from`; returns the number of values in the VALUES
 * reply and copies the first value (if any) to first/first_len. */
static int
h_find_value(struct h *h, const uint8_t from[32], const uint8_t key[32], uint8_t *first, size_t *first_len)
{
	uint8_t msg[64];
	uint32_t txid = h->next_txid++;
	size_t before = h->n_sent;

	vx6_dht_recv(h->d, from, msg, msg_find(msg, VX6_DHT_FIND_VALUE, txid, key), NOW0);
	for (size_t i = before; i < h->n_sent; i++) {
		struct sent *s = &h->sent[i];
		if (s->len >= 7 && s->msg[1] == VX6_DHT_VALUES && get_txid(s->msg) == txid) {
			if (first && s->msg[6] > 0) {
				size_t vl = (size_t)s->msg[7] << 8 | s->msg[8];
				memcpy(first, s->msg + 9, vl);
				*first_len = vl;
			}
			return s->msg[6];
		}
	}
	return -1;
}

static void
count_value(void *ud, const uint8_t *v, size_t len)
{
	(void)v;
	(void)len;
	(*(unsigned *)ud)++;
}

static unsigned
h_local_count(struct h *h, const uint8_t key[32])
{
	unsigned n = 0;

	vx6_dht_local_get(h->d, key, count_value, &n);
	return n;
}

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

/* vx6_dht_new refuses k = 0 or > 20, alpha = 0, replication = 0 or > k; free(NULL) is a no-op. */
static void
test_new_rejects_bad_config(void **state)
{
	struct tu_env env;
	struct vx6_dht_cbs cbs = { 0 };
	struct vx6_dht_config cfg;
	struct vx6_dht *d;
	uint8_t self[32] = { 1 };

	(void)state;
	tu_env_init(&env, 21);
	for (int c = 0; c < 6; c++) {
		vx6_dht_config_defaults(&cfg);
		switch (c) {
		case 0: cfg.k = 0; break;
		case 1: cfg.k = VX6_DHT_K + 1; break;
		case 2: cfg.alpha = 0; break;
		case 3: cfg.replication = 0; break;
		case 4: cfg.k = 4; cfg.replication = 5; break;
		default: break;   /* control */
		}
		d = vx6_dht_new(self, &cfg, &env.env, &cbs, NULL);
		if (c < 5)
			assert_null(d);
		else
			assert_non_null(d);
		vx6_dht_free(d);
	}
	vx6_dht_free(NULL);
}

/* --- routing table ---------------------------------------------------------------- */

#define POOL 160

struct model {
	unsigned k;
	int live[257][VX6_DHT_K];    /* pool indices, least recently seen first */
	unsigned nlive[257];
	int repl[257][VX6_DHT_K];    /* newest last */
	unsigned nrepl[257];
	unsigned failures[POOL];
	unsigned total;
};

static const uint8_t *model_self;
static struct peer *model_pool;

static int
find_idx(const int *arr, unsigned n, int x)
{
	for (unsigned i = 0; i < n; i++)
		if (arr[i] == x)
			return (int)i;
	return -1;
}

static void
remove_idx(int *arr, unsigned *n, unsigned i)
{
	memmove(&arr[i], &arr[i + 1], (*n - i - 1) * sizeof(arr[0]));
	(*n)--;
}

static void
model_add(struct model *m, int x)
{
	int b = prefix_bits(model_self, model_pool[x].id.node_id), i;

	if ((i = find_idx(m->live[b], m->nlive[b], x)) >= 0) {
		remove_idx(m->live[b], &m->nlive[b], (unsigned)i);
		m->live[b][m->nlive[b]++] = x;
		m->failures[x] = 0;
		return;
	}
	if ((i = find_idx(m->repl[b], m->nrepl[b], x)) >= 0)
		remove_idx(m->repl[b], &m->nrepl[b], (unsigned)i);
	m->failures[x] = 0;
	if (m->nlive[b] < m->k) {
		m->live[b][m->nlive[b]++] = x;
		m->total++;
		return;
	}
	if (m->nrepl[b] == m->k)
		remove_idx(m->repl[b], &m->nrepl[b], 0);
	m->repl[b][m->nrepl[b]++] = x;
}

static void
model_evict(struct model *m, int b, unsigned i)
{
	remove_idx(m->live[b], &m->nlive[b], i);
	m->total--;
	if (m->nrepl[b] > 0) {
		m->live[b][m->nlive[b]++] = m->repl[b][--m->nrepl[b]];
		m->total++;
	}
}

static void
model_failed(struct model *m, int x)
{
	int b = prefix_bits(model_self, model_pool[x].id.node_id), i = find_idx(m->live[b], m->nlive[b], x);

	if (i >= 0 && ++m->failures[x] >= 2)
		model_evict(m, b, (unsigned)i);
}

static void
model_gone(struct model *m, int x)
{
	int b = prefix_bits(model_self, model_pool[x].id.node_id), i = find_idx(m->live[b], m->nlive[b], x);

	if (i >= 0)
		model_evict(m, b, (unsigned)i);
}

static const uint8_t *sort_target;

static int
cmp_by_target(const void *a, const void *b)
{
	return cmp_dist(model_pool[*(const int *)a].id.node_id, model_pool[*(const int *)b].id.node_id, sort_target);
}

/* vx6_dht_closest(target, max) is exactly the model's live set sorted by
 * XOR distance to target, cut at max. */
static void
check_closest(struct h *h, struct model *m, const uint8_t target[32], unsigned max)
{
	const uint8_t *recs[2 * VX6_DHT_K];
	size_t lens[2 * VX6_DHT_K];
	int all[POOL];
	unsigned n = 0, got, want;

	for (int b = 0; b < 257; b++)
		for (unsigned i = 0; i < m->nlive[b]; i++)
			all[n++] = m->live[b][i];
	assert_int_equal(n, m->total);
	sort_target = target;
	qsort(all, n, sizeof(all[0]), cmp_by_target);
	want = n < max ? n : max;
	got = vx6_dht_closest(h->d, target, max, recs, lens);
	if (got != want)
		fail_msg("k=%u closest(max %u): %u contacts, the model has %u", m->k, max, got, want);
	for (unsigned i = 0; i < got; i++) {
		const struct peer *p = &model_pool[all[i]];
		if (lens[i] != p->len || memcmp(recs[i], p->rec, p->len) != 0)
			fail_msg("k=%u closest(max %u)[%u] is not the model's (pool %d)", m->k, max, i, all[i]);
	}
}

/* Each bucket b: a target sharing b bits with self then differing puts bucket
 * b's contacts first; they must be exactly the model's bucket (<= k). */
static void
check_buckets(struct h *h, struct model *m, struct vx6_det_rng *rng)
{
	for (int b = 0; b < 16; b++) {
		const uint8_t *recs[2 * VX6_DHT_K];
		size_t lens[2 * VX6_DHT_K];
		uint8_t target[32];
		unsigned got, inb = 0;

		vx6_det_rng_fill(rng, target, 32);
		for (int bit = 0; bit <= b; bit++) {
			uint8_t mask = (uint8_t)(0x80 >> (bit % 8));
			uint8_t want = (uint8_t)((model_self[bit / 8] & mask) ^ (bit == b ? mask : 0));
			target[bit / 8] = (uint8_t)((target[bit / 8] & ~mask) | want);
		}
		got = vx6_dht_closest(h->d, target, 2 * VX6_DHT_K, recs, lens);
		for (unsigned i = 0; i < got; i++) {
			if (prefix_bits(model_self, recs[i] + ID_OFF) != b)
				continue;
			assert_true(i == inb);   /* bucket b comes first */
			inb++;
			bool found = false;
			for (unsigned j = 0; j < m->nlive[b]; j++)
				found |= memcmp(model_pool[m->live[b][j]].id.node_id, recs[i] + ID_OFF, 32) == 0;
			if (!found)
				fail_msg("k=%u bucket %d holds a contact the model does not", m->k, b);
		}
		assert_true(inb <= m->k);
		if (inb != m->nlive[b])
			fail_msg("k=%u bucket %d: %u contacts, the model has %u", m->k, b, inb, m->nlive[b]);
	}
}

static void
make_pool(struct peer *pool, unsigned n, uint64_t seed)
{
	struct vx6_det_rng rng;

	vx6_det_rng_init(&rng, seed);
	for (unsigned i = 0; i < n; i++) {
		uint8_t s[32];
		char name[16];
		vx6_det_rng_fill(&rng, s, sizeof(s));
		snprintf(name, sizeof(name), "p%u", i);
		peer_from_seed(&pool[i], s, name);
	}
}

/* The routing table matches a naive k-bucket model under random add/fail/gone; closest() is true XOR order. */
static void
test_routing_table_model(void **state)
{
	static struct peer pool[POOL];
	static struct model m;
	struct peer self;
	uint64_t seed = tu_seed();
	struct vx6_det_rng rng;

	(void)state;
	make_pool(pool, POOL, seed);
	peer_from_byte(&self, 0x01, "self");
	model_self = self.id.node_id;
	model_pool = pool;
	vx6_det_rng_init(&rng, seed ^ 0x5eed);
	for (unsigned kk = 0; kk < 2; kk++) {
		struct vx6_dht_config cfg;
		struct h *h = calloc(1, sizeof(*h));

		vx6_dht_config_defaults(&cfg);
		cfg.k = kk == 0 ? VX6_DHT_K : 4;
		cfg.replication = cfg.k < cfg.replication ? cfg.k : cfg.replication;
		h_init_cfg(h, &self, &cfg, seed);
		memset(&m, 0, sizeof(m));
		m.k = cfg.k;
		for (unsigned op = 0; op < 2500; op++) {
			unsigned r = (unsigned)(vx6_det_rng_u64(&rng) % 100);
			int x = (int)(vx6_det_rng_u64(&rng) % POOL);
			int b = (int)(vx6_det_rng_u64(&rng) % 8);
			if (r < 45) {
				assert_int_equal(vx6_dht_add_contact(h->d, pool[x].rec, pool[x].len, NOW0 + op), 0);
				model_add(&m, x);
			} else if (r < 55 && m.nrepl[b] > 0) {
				/* a parked contact seen again becomes the newest replacement */
				x = m.repl[b][vx6_det_rng_u64(&rng) % m.nrepl[b]];
				assert_int_equal(vx6_dht_add_contact(h->d, pool[x].rec, pool[x].len, NOW0 + op), 0);
				model_add(&m, x);
			} else if (r < 85) {
				if (m.nlive[b] > 0)
					x = m.live[b][vx6_det_rng_u64(&rng) % m.nlive[b]];
				vx6_dht_contact_failed(h->d, pool[x].id.node_id, NOW0 + op);
				model_failed(&m, x);
			} else if (r < 95) {
				vx6_dht_contact_failed(h->d, pool[x].id.node_id, NOW0 + op);   /* maybe unknown */
				model_failed(&m, x);
			} else {
				if (m.nlive[b] > 0)
					x = m.live[b][vx6_det_rng_u64(&rng) % m.nlive[b]];
				vx6_dht_contact_gone(h->d, pool[x].id.node_id);
				model_gone(&m, x);
			}
			if (h_stats(h).contacts != m.total)
				fail_msg("k=%u op %u: %u contacts, the model has %u", m.k, op, h_stats(h).contacts, m.total);
			if (op % 25 == 0 || op == 2499) {
				uint8_t target[32];
				vx6_det_rng_fill(&rng, target, 32);
				check_closest(h, &m, target, 2 * VX6_DHT_K);
				check_closest(h, &m, target, m.k);
				check_closest(h, &m, target, 1);
				check_closest(h, &m, pool[x].id.node_id, m.k);
				check_closest(h, &m, self.id.node_id, 7);
				check_buckets(h, &m, &rng);
			}
		}
		assert_int_equal(h->n_sent, 0);   /* no values stored: nothing replicated */
		h_free(h);
		free(h);
	}
}

/* Pool members in bucket 0 of self (first bit differs), n of them. */
static unsigned
bucket0_members(struct peer *pool, unsigned pool_n, const uint8_t *self, int *out, unsigned n)
{
	unsigned got = 0;

	for (unsigned i = 0; i < pool_n && got < n; i++)
		if (prefix_bits(self, pool[i].id.node_id) == 0)
			out[got++] = (int)i;
	return got;
}

/* True when vx6_dht_closest(target self^bit0) lists exactly these pool
 * members in bucket 0. */
static bool
bucket0_is(struct h *h, struct peer *pool, const int *members, unsigned n)
{
	const uint8_t *recs[2 * VX6_DHT_K];
	size_t lens[2 * VX6_DHT_K];
	uint8_t target[32];
	unsigned got, inb = 0;

	memcpy(target, h->self.id.node_id, 32);
	target[0] ^= 0x80;
	got = vx6_dht_closest(h->d, target, 2 * VX6_DHT_K, recs, lens);
	for (unsigned i = 0; i < got; i++) {
		bool found = false;
		if (prefix_bits(h->self.id.node_id, recs[i] + ID_OFF) != 0)
			continue;
		inb++;
		for (unsigned j = 0; j < n; j++)
			found |= memcmp(recs[i] + ID_OFF, pool[members[j]].id.node_id, 32) == 0;
		if (!found)
			return false;
	}
	return inb == n;
}

/* A full bucket keeps old contacts and parks newcomers; two failures evict and promote the newest replacement. */
static void
test_full_bucket_and_replacements(void **state)
{
	static struct peer pool[48];
	struct vx6_dht_config cfg;
	struct peer self;
	struct h *h = calloc(1, sizeof(*h));
	int b0[8];

	(void)state;
	make_pool(pool, 48, 1234);
	peer_from_byte(&self, 0x02, "self");
	assert_int_equal(bucket0_members(pool, 48, self.id.node_id, b0, 8), 8);
	vx6_dht_config_defaults(&cfg);
	cfg.k = 4;
	cfg.replication = 3;
	h_init_cfg(h, &self, &cfg, 1);

	for (int i = 0; i < 4; i++)
		assert_int_equal(vx6_dht_add_contact(h->d, pool[b0[i]].rec, pool[b0[i]].len, NOW0), 0);
	assert_true(bucket0_is(h, pool, (int[]){ b0[0], b0[1], b0[2], b0[3] }, 4));
	for (int i = 4; i < 7; i++)   /* newcomers to a full bucket wait */
		assert_int_equal(vx6_dht_add_contact(h->d, pool[b0[i]].rec, pool[b0[i]].len, NOW0), 0);
	assert_true(bucket0_is(h, pool, (int[]){ b0[0], b0[1], b0[2], b0[3] }, 4));
	assert_int_equal(h_stats(h).contacts, 4);
	/* b0[4] seen again: now the newest replacement (order 5, 6, 4). */
	assert_int_equal(vx6_dht_add_contact(h->d, pool[b0[4]].rec, pool[b0[4]].len, NOW0), 0);

	vx6_dht_contact_failed(h->d, pool[b0[1]].id.node_id, NOW0);            /* one failure: kept */
	assert_true(bucket0_is(h, pool, (int[]){ b0[0], b0[1], b0[2], b0[3] }, 4));
	assert_int_equal(vx6_dht_add_contact(h->d, pool[b0[1]].rec, pool[b0[1]].len, NOW0), 0);   /* clears it */
	vx6_dht_contact_failed(h->d, pool[b0[1]].id.node_id, NOW0);
	assert_true(bucket0_is(h, pool, (int[]){ b0[0], b0[1], b0[2], b0[3] }, 4));
	vx6_dht_contact_failed(h->d, pool[b0[1]].id.node_id, NOW0);            /* second in a row */
	assert_true(bucket0_is(h, pool, (int[]){ b0[0], b0[4], b0[2], b0[3] }, 4));
	vx6_dht_contact_failed(h->d, pool[b0[1]].id.node_id, NOW0);            /* gone: no-op */
	vx6_dht_contact_failed(h->d, pool[b0[6]].id.node_id, NOW0);            /* parked: no-op */

	vx6_dht_contact_failed(h->d, pool[b0[0]].id.node_id, NOW0);
	vx6_dht_contact_failed(h->d, pool[b0[0]].id.node_id, NOW0);
	assert_true(bucket0_is(h, pool, (int[]){ b0[6], b0[4], b0[2], b0[3] }, 4));
	vx6_dht_contact_gone(h->d, pool[b0[2]].id.node_id);
	assert_true(bucket0_is(h, pool, (int[]){ b0[6], b0[4], b0[5], b0[3] }, 4));
	vx6_dht_contact_failed(h->d, pool[b0[3]].id.node_id, NOW0);
	vx6_dht_contact_failed(h->d, pool[b0[3]].id.node_id, NOW0);            /* nothing left to promote */
	assert_true(bucket0_is(h, pool, (int[]){ b0[6], b0[4], b0[5] }, 3));
	assert_int_equal(h_stats(h).contacts, 3);
	/* Room again: a newcomer goes straight in. */
	assert_int_equal(vx6_dht_add_contact(h->d, pool[b0[7]].rec, pool[b0[7]].len, NOW0), 0);
	assert_true(bucket0_is(h, pool, (int[]){ b0[6], b0[4], b0[5], b0[7] }, 4));
	h_free(h);
	free(h);
}

/* add_contact refuses empty, oversize, garbage, tampered, address-less, expired and service records; ignores self. */
static void
test_add_contact_rejects(void **state)
{
	struct peer self, b, noaddr, old;
	struct h *h = calloc(1, sizeof(*h));
	static uint8_t big[VX6_DHT_MAX_CONTACT + 1];
	uint8_t svc[VX6_RECORD_MAX_LEN], bad[VX6_RECORD_MAX_LEN];
	struct vx6_node_record r;
	size_t sl;
	int n;

	(void)state;
	peer_from_byte(&self, 0x03, "self");
	peer_from_byte(&b, 0x04, "b");
	h_init_cfg(h, &self, NULL, 2);
	assert_int_equal(vx6_dht_add_contact(h->d, b.rec, 0, NOW0), VX6_ERR_TOO_LARGE);
	assert_int_equal(vx6_dht_add_contact(h->d, big, sizeof(big), NOW0), VX6_ERR_TOO_LARGE);
	assert_true(vx6_dht_add_contact(h->d, big, 100, NOW0) < 0);
	memcpy(bad, b.rec, b.len);
	bad[b.len - 1] ^= 1;
	assert_true(vx6_dht_add_contact(h->d, bad, b.len, NOW0) < 0);
	tu_identity(&noaddr.id, 0x05);
	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "noaddr");
	r.seq = 1;
	r.issued_at = T0;
	r.expires_at = T0 + HOUR;
	n = vx6_node_record_sign(&r, &noaddr.id, noaddr.rec, sizeof(noaddr.rec));
	assert_true(n > 0);
	assert_true(vx6_dht_add_contact(h->d, noaddr.rec, (size_t)n, NOW0) < 0);
	tu_identity(&old.id, 0x06);
	node_rec(&old, "old", 1, T0 - 1, 0);
	assert_true(vx6_dht_add_contact(h->d, old.rec, old.len, NOW0) < 0);
	sl = service_rec(&b.id, "b", "web", 1, T0 + HOUR, svc);
	assert_true(vx6_dht_add_contact(h->d, svc, sl, NOW0) < 0);
	assert_int_equal(vx6_dht_add_contact(h->d, self.rec, self.len, NOW0), 0);
	assert_int_equal(h_stats(h).contacts, 0);
	assert_int_equal(vx6_dht_add_contact(h->d, b.rec, b.len, NOW0), 0);   /* control */
	assert_int_equal(h_stats(h).contacts, 1);
	h_free(h);
	free(h);
}

/* A contact's record never moves back to a lower seq (a stale record does not replace a newer one). */
static void
test_contact_record_keeps_highest_seq(void **state)
{
	struct peer self, v1, v2, v3;
	struct h *h = calloc(1, sizeof(*h));
	const uint8_t *recs[4];
	size_t lens[4];
	uint8_t after_old[VX6_RECORD_MAX_LEN], after_new[VX6_RECORD_MAX_LEN];
	size_t after_old_len, after_new_len;

	(void)state;
	peer_from_byte(&self, 0x07, "self");
	tu_identity(&v1.id, 0x08);
	v2 = v3 = v1;
	node_rec(&v1, "b", 1, T0 + HOUR, 1111);
	node_rec(&v2, "b", 2, T0 + HOUR, 2222);
	node_rec(&v3, "b", 3, T0 + HOUR, 3333);
	h_init_cfg(h, &self, NULL, 3);
	assert_int_equal(vx6_dht_add_contact(h->d, v2.rec, v2.len, NOW0), 0);
	assert_int_equal(vx6_dht_closest(h->d, v1.id.node_id, 4, recs, lens), 1);
	assert_memory_equal(recs[0], v2.rec, v2.len);
	(void)vx6_dht_add_contact(h->d, v1.rec, v1.len, NOW0 + 1);   /* 0 or a "stale" error */
	assert_int_equal(vx6_dht_closest(h->d, v1.id.node_id, 4, recs, lens), 1);
	after_old_len = lens[0];
	memcpy(after_old, recs[0], lens[0]);
	assert_int_equal(vx6_dht_add_contact(h->d, v3.rec, v3.len, NOW0 + 2), 0);
	assert_int_equal(vx6_dht_closest(h->d, v1.id.node_id, 4, recs, lens), 1);
	after_new_len = lens[0];
	memcpy(after_new, recs[0], lens[0]);
	h_free(h);
	free(h);

	assert_int_equal(after_new_len, v3.len);
	assert_memory_equal(after_new, v3.rec, v3.len);     /* a newer record replaces */
	/* Regression (fixed): this failed until vx6_dht_add_contact (src/core/dht.c:323-329) compares the
	 * seq of the known record before set_record() and keeps the higher one;
	 * today any valid older record of the node overwrites the newer one, so
	 * a stale NODES reply rolls a moved node back to its old address (which
	 * dht_send in src/node/named.c then dials, and which this node hands out
	 * in its own NODES replies). */
	assert_int_equal(after_old_len, v2.len);
	assert_memory_equal(after_old, v2.rec, v2.len);
}

/* In a forked child, crashes must kill the child: undo cmocka's handlers,
 * which would otherwise longjmp back into the test runner inside the child. */
static void
child_default_signals(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

static void
closest_zero_child(void)
{
	struct peer self, b;
	struct h *h = calloc(1, sizeof(*h));
	const uint8_t *recs[1];
	size_t lens[1];
	unsigned n;

	peer_from_byte(&self, 0x09, "self");
	peer_from_byte(&b, 0x0a, "b");
	h_init_cfg(h, &self, NULL, 4);
	if (vx6_dht_add_contact(h->d, b.rec, b.len, NOW0) != 0)
		_exit(3);
	n = vx6_dht_closest(h->d, b.id.node_id, 0, recs, lens);
	_exit(n == 0 ? 0 : 2);
}

/* vx6_dht_closest(max 0) returns 0 instead of crashing. */
static void
test_closest_max_zero(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	/* Regression (fixed): this failed until closest_contacts (src/core/dht.c:406) guards max == 0
	 * (return 0 up front): with n == max == 0 and one contact it evaluates
	 * out[max - 1], and max is unsigned, so it reads out[UINT_MAX] (32 GiB
	 * past the stack array) and dereferences it: SIGSEGV. */
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_default_signals();
		closest_zero_child();
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("vx6_dht_closest(max 0) killed the process with signal %d", WTERMSIG(st));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("vx6_dht_closest(max 0): child exit %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* --- admission ---------------------------------------------------------------------- */

static const uint8_t SRC_X[32] = { 0xee, 1 }, SRC_Y[32] = { 0xee, 2 };

/* STORE admits a value only under a key its signer may write (own id, own name, own service key). */
static void
test_store_rejects_wrong_key(void **state)
{
	struct peer self, a, b;
	struct h *h = calloc(1, sizeof(*h));
	uint8_t key[32], svc[VX6_RECORD_MAX_LEN], junk[100];
	size_t sl;

	(void)state;
	peer_from_byte(&self, 0x10, "self");
	peer_from_byte(&a, 0x11, "alice");
	peer_from_byte(&b, 0x12, "bob");
	h_init_cfg(h, &self, NULL, 5);
	assert_int_equal(h_store(h, SRC_X, a.id.node_id, b.rec, b.len, NOW0), VX6_DHT_STORE_REJECTED);
	vx6_dhtkey_node_name("alice", key);
	assert_int_equal(h_store(h, SRC_X, key, b.rec, b.len, NOW0), VX6_DHT_STORE_REJECTED);
	assert_int_equal(h_local_count(h, a.id.node_id), 0);
	assert_int_equal(h_stats(h).values, 0);
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, b.len, NOW0), VX6_DHT_STORE_OK);
	vx6_dhtkey_node_name("bob", key);
	assert_int_equal(h_store(h, SRC_X, key, b.rec, b.len, NOW0), VX6_DHT_STORE_OK);

	sl = service_rec(&a.id, "alice", "web", 1, T0 + HOUR, svc);
	vx6_dhtkey_service("alice", "mail", key);
	assert_int_equal(h_store(h, SRC_X, key, svc, sl, NOW0), VX6_DHT_STORE_REJECTED);
	vx6_dhtkey_service("bob", "web", key);
	assert_int_equal(h_store(h, SRC_X, key, svc, sl, NOW0), VX6_DHT_STORE_REJECTED);
	assert_int_equal(h_store(h, SRC_X, a.id.node_id, svc, sl, NOW0), VX6_DHT_STORE_REJECTED);
	vx6_dhtkey_node_name("alice", key);
	assert_int_equal(h_store(h, SRC_X, key, svc, sl, NOW0), VX6_DHT_STORE_REJECTED);
	vx6_dhtkey_service("alice", "web", key);
	assert_int_equal(h_store(h, SRC_X, key, svc, sl, NOW0), VX6_DHT_STORE_OK);
	assert_int_equal(h_local_count(h, key), 1);

	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(h_store(h, SRC_X, key, junk, sizeof(junk), NOW0), VX6_DHT_STORE_REJECTED);
	svc[sl - 1] ^= 0x01;   /* a bad signature */
	assert_int_equal(h_store(h, SRC_X, key, svc, sl, NOW0), VX6_DHT_STORE_REJECTED);
	assert_int_equal(h_stats(h).values, 3);
	assert_int_equal(h_stats(h).stores_accepted, 3);
	h_free(h);
	free(h);
}

/* Per (key, signer) a lower seq or the same seq with other bytes is STALE; a higher seq replaces the value. */
static void
test_store_seq_rules(void **state)
{
	struct peer self, b9, b10, b10x, b11;
	struct h *h = calloc(1, sizeof(*h));
	uint8_t got[VX6_RECORD_MAX_LEN];
	size_t gl = 0;

	(void)state;
	peer_from_byte(&self, 0x13, "self");
	tu_identity(&b10.id, 0x14);
	b9 = b10x = b11 = b10;
	node_rec(&b9, "bob", 9, T0 + HOUR, 0);
	node_rec(&b10, "bob", 10, T0 + HOUR, 0);
	node_rec(&b10x, "bob", 10, T0 + HOUR, 5555);   /* same seq, other bytes */
	node_rec(&b11, "bob", 11, T0 + HOUR, 0);
	h_init_cfg(h, &self, NULL, 6);
	assert_int_equal(h_store(h, SRC_X, b10.id.node_id, b10.rec, b10.len, NOW0), VX6_DHT_STORE_OK);
	assert_int_equal(h_store(h, SRC_X, b10.id.node_id, b9.rec, b9.len, NOW0), VX6_DHT_STORE_STALE);
	assert_int_equal(h_store(h, SRC_X, b10.id.node_id, b10x.rec, b10x.len, NOW0), VX6_DHT_STORE_STALE);
	assert_int_equal(h_store(h, SRC_Y, b10.id.node_id, b10.rec, b10.len, NOW0), VX6_DHT_STORE_OK);
	assert_int_equal(h_stats(h).stale_rejected, 2);
	assert_int_equal(h_find_value(h, SRC_Y, b10.id.node_id, got, &gl), 1);
	assert_int_equal(gl, b10.len);
	assert_memory_equal(got, b10.rec, b10.len);
	assert_int_equal(h_store(h, SRC_X, b10.id.node_id, b11.rec, b11.len, NOW0), VX6_DHT_STORE_OK);
	assert_int_equal(h_find_value(h, SRC_Y, b10.id.node_id, got, &gl), 1);
	assert_int_equal(gl, b11.len);
	assert_memory_equal(got, b11.rec, b11.len);
	assert_int_equal(h_store(h, SRC_X, b10.id.node_id, b10.rec, b10.len, NOW0), VX6_DHT_STORE_STALE);
	assert_int_equal(h_local_count(h, b10.id.node_id), 1);
	assert_int_equal(h_stats(h).values, 1);
	h_free(h);
	free(h);
}

/* A key holds at most 16 signers: the 17th is FULL, existing signers may still update. */
static void
test_store_full_after_16_signers(void **state)
{
	static struct peer claim[17];
	struct peer self, upd;
	struct h *h = calloc(1, sizeof(*h));
	uint8_t key[32];

	(void)state;
	peer_from_byte(&self, 0x15, "self");
	h_init_cfg(h, &self, NULL, 7);
	vx6_dhtkey_node_name("popular", key);
	for (unsigned i = 0; i < 17; i++) {
		tu_identity(&claim[i].id, (uint8_t)(0x40 + i));
		node_rec(&claim[i], "popular", 1, T0 + HOUR, 0);
		assert_int_equal(h_store(h, SRC_X, key, claim[i].rec, claim[i].len, NOW0),
		    i < VX6_DHT_MAX_VALUES_PER_KEY ? VX6_DHT_STORE_OK : VX6_DHT_STORE_FULL);
	}
	upd = claim[3];
	node_rec(&upd, "popular", 2, T0 + HOUR, 0);
	assert_int_equal(h_store(h, SRC_X, key, upd.rec, upd.len, NOW0), VX6_DHT_STORE_OK);
	assert_int_equal(h_store(h, SRC_X, key, claim[16].rec, claim[16].len, NOW0), VX6_DHT_STORE_FULL);
	assert_int_equal(h_find_value(h, SRC_Y, key, NULL, NULL), VX6_DHT_MAX_VALUES_PER_KEY);
	assert_int_equal(h_local_count(h, key), VX6_DHT_MAX_VALUES_PER_KEY);
	/* Other keys are unaffected. */
	assert_int_equal(h_store(h, SRC_X, claim[16].id.node_id, claim[16].rec, claim[16].len, NOW0),
	    VX6_DHT_STORE_OK);
	h_free(h);
	free(h);
}

/* Values over 1024 bytes are never stored (malformed STORE, vx6_dht_store refuses, padded record REJECTED). */
static void
test_store_oversize_rejected(void **state)
{
	struct peer self, b;
	struct h *h = calloc(1, sizeof(*h));
	static uint8_t big[VX6_DHT_MAX_VALUE + 1];
	uint8_t longer[VX6_RECORD_MAX_LEN + 1];

	(void)state;
	peer_from_byte(&self, 0x16, "self");
	peer_from_byte(&b, 0x17, "bob");
	h_init_cfg(h, &self, NULL, 8);
	memcpy(big, b.rec, b.len);
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, big, sizeof(big), NOW0), -1);
	assert_int_equal(h_stats(h).bad_messages, 1);
	assert_int_equal(h_stats(h).values, 0);
	assert_int_equal(vx6_dht_store(h->d, b.id.node_id, big, sizeof(big), NOW0), 0);
	memcpy(longer, b.rec, b.len);
	longer[b.len] = 0;
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, longer, b.len + 1, NOW0), VX6_DHT_STORE_REJECTED);
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, 0, NOW0), VX6_DHT_STORE_REJECTED);
	assert_int_equal(h_stats(h).values, 0);
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, b.len, NOW0), VX6_DHT_STORE_OK);   /* control */
	h_free(h);
	free(h);
}

/* Values past expires_at are not served or re-stored, and maintenance drops them from the store. */
static void
test_expired_values_not_served(void **state)
{
	struct peer self, b, c;
	struct h *h = calloc(1, sizeof(*h));

	(void)state;
	peer_from_byte(&self, 0x18, "self");
	tu_identity(&b.id, 0x19);
	node_rec(&b, "bob", 1, T0 + 100, 0);
	tu_identity(&c.id, 0x1a);
	node_rec(&c, "carol", 1, T0 + HOUR, 0);
	h_init_cfg(h, &self, NULL, 9);
	vx6_dht_handle_expiry(h->d, NOW0);
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, b.len, NOW0), VX6_DHT_STORE_OK);
	assert_int_equal(h_store(h, SRC_X, c.id.node_id, c.rec, c.len, NOW0), VX6_DHT_STORE_OK);
	h->wall = T0 + 99;
	assert_int_equal(h_local_count(h, b.id.node_id), 1);
	assert_int_equal(h_find_value(h, SRC_Y, b.id.node_id, NULL, NULL), 1);
	h->wall = T0 + 100;
	assert_int_equal(h_local_count(h, b.id.node_id), 0);
	assert_int_equal(h_find_value(h, SRC_Y, b.id.node_id, NULL, NULL), 0);
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, b.len, NOW0), VX6_DHT_STORE_REJECTED);
	assert_int_equal(h_stats(h).values, 2);          /* still held until maintenance */
	vx6_dht_handle_expiry(h->d, NOW0 + 5 * SEC);     /* maintenance runs */
	assert_int_equal(h_stats(h).values, 1);
	assert_int_equal(h_stats(h).keys, 1);
	assert_int_equal(h_local_count(h, c.id.node_id), 1);
	h->wall = T0 + HOUR;
	vx6_dht_handle_expiry(h->d, NOW0 + 10 * SEC);
	assert_int_equal(h_stats(h).values, 0);
	assert_int_equal(h_stats(h).keys, 0);
	h_free(h);
	free(h);
}

/* A burst of 64 STOREs from one id is accepted, the next is THROTTLED while another id is accepted; refill 1/s. */
static void
test_store_throttled_per_source(void **state)
{
	struct peer self, b;
	struct h *h = calloc(1, sizeof(*h));

	(void)state;
	peer_from_byte(&self, 0x1b, "self");
	peer_from_byte(&b, 0x1c, "bob");
	h_init_cfg(h, &self, NULL, 10);
	for (unsigned i = 0; i < h->cfg.store_burst; i++)
		assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, b.len, NOW0), VX6_DHT_STORE_OK);
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, b.len, NOW0), VX6_DHT_STORE_THROTTLED);
	assert_int_equal(h_store(h, SRC_Y, b.id.node_id, b.rec, b.len, NOW0), VX6_DHT_STORE_OK);
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, b.len, NOW0 + SEC / 2), VX6_DHT_STORE_THROTTLED);
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, b.len, NOW0 + SEC), VX6_DHT_STORE_OK);
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, b.len, NOW0 + SEC), VX6_DHT_STORE_THROTTLED);
	assert_int_equal(h_stats(h).stores_throttled, 3);
	/* Throttled STOREs do not reach admission: a new value is refused too. */
	{
		struct peer c;
		peer_from_byte(&c, 0x1d, "carol");
		assert_int_equal(h_store(h, SRC_X, c.id.node_id, c.rec, c.len, NOW0 + SEC), VX6_DHT_STORE_THROTTLED);
		assert_int_equal(h_local_count(h, c.id.node_id), 0);
	}
	h_free(h);
	free(h);
}

/* The store is bounded by max_keys: a new key is FULL, held keys still accept updates. */
static void
test_store_full_at_max_keys(void **state)
{
	struct peer self, a, b, c, a2;
	struct vx6_dht_config cfg;
	struct h *h = calloc(1, sizeof(*h));

	(void)state;
	peer_from_byte(&self, 0x37, "self");
	peer_from_byte(&a, 0x38, "alice");
	peer_from_byte(&b, 0x39, "bob");
	peer_from_byte(&c, 0x3a, "carol");
	a2 = a;
	node_rec(&a2, "alice", 2, T0 + HOUR, 0);
	vx6_dht_config_defaults(&cfg);
	cfg.max_keys = 2;
	h_init_cfg(h, &self, &cfg, 19);
	assert_int_equal(h_store(h, SRC_X, a.id.node_id, a.rec, a.len, NOW0), VX6_DHT_STORE_OK);
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, b.len, NOW0), VX6_DHT_STORE_OK);
	assert_int_equal(h_store(h, SRC_X, c.id.node_id, c.rec, c.len, NOW0), VX6_DHT_STORE_FULL);
	assert_int_equal(h_store(h, SRC_X, a.id.node_id, a2.rec, a2.len, NOW0), VX6_DHT_STORE_OK);
	assert_int_equal(h_stats(h).keys, 2);
	assert_int_equal(h_local_count(h, c.id.node_id), 0);
	h_free(h);
	free(h);
}

/* FIND_NODE is answered with the k closest contacts in XOR order, as records, never the asker itself. */
static void
test_find_node_reply(void **state)
{
	static struct peer pool[30];
	struct peer self;
	struct h *h = calloc(1, sizeof(*h));
	uint8_t msg[64], target[32];
	int idx[30];
	const uint8_t *p;
	unsigned n = 0, count;

	(void)state;
	make_pool(pool, 30, 4321);
	peer_from_byte(&self, 0x3b, "self");
	h_init_cfg(h, &self, NULL, 20);
	for (int i = 0; i < 30; i++)
		assert_int_equal(vx6_dht_add_contact(h->d, pool[i].rec, pool[i].len, NOW0), 0);
	/* Every id shares bucket 0/1/... with self at random, so some buckets
	 * may be full; the reply must match the table, which closest() gives. */
	memcpy(target, pool[0].id.node_id, 32);
	target[31] ^= 1;   /* pool[0] (the asker) is the closest to the target */
	{
		const uint8_t *recs[2 * VX6_DHT_K];
		size_t lens[2 * VX6_DHT_K];
		unsigned got = vx6_dht_closest(h->d, target, VX6_DHT_K + 1, recs, lens);
		for (unsigned i = 0; i < got; i++)
			for (int j = 0; j < 30; j++)
				if (lens[i] == pool[j].len && memcmp(recs[i], pool[j].rec, lens[i]) == 0)
					idx[n++] = j;
		assert_int_equal(n, got);
	}
	assert_int_equal(idx[0], 0);
	h_clear_sent(h);
	vx6_dht_recv(h->d, pool[0].id.node_id, msg, msg_find(msg, VX6_DHT_FIND_NODE, 0xabcdef01, target), NOW0);
	assert_int_equal(h->n_sent, 1);
	assert_memory_equal(h->sent[0].to, pool[0].id.node_id, 32);
	assert_true(h->sent[0].with_contact);
	assert_int_equal(h->sent[0].msg[0], 1);
	assert_int_equal(h->sent[0].msg[1], VX6_DHT_NODES);
	assert_int_equal(get_txid(h->sent[0].msg), 0xabcdef01);
	count = h->sent[0].msg[6];
	assert_true(count >= VX6_DHT_K - 1 && count <= VX6_DHT_K);
	p = h->sent[0].msg + 7;
	for (unsigned i = 1; i <= count; i++) {
		size_t len = (size_t)p[0] << 8 | p[1];
		assert_int_equal(len, pool[idx[i]].len);
		assert_memory_equal(p + 2, pool[idx[i]].rec, len);
		p += 2 + len;
	}
	assert_ptr_equal(p, h->sent[0].msg + h->sent[0].len);
	h_free(h);
	free(h);
	/* Regression (fixed): this failed until write_contacts (src/core/dht.c:628) takes the k closest
	 * and only then skips the asker, so an asker among them gets k - 1
	 * contacts although this node knows k others; it should take k + 1
	 * (or keep scanning) and stop at k written. */
	assert_int_equal(count, VX6_DHT_K);
}

/* --- lookups on one DHT ---------------------------------------------------------------- */

/* Without contacts lookups finish from handle_expiry, never inside the call: NOT_FOUND, UNREACHABLE, local hits. */
static void
test_lookup_without_contacts(void **state)
{
	struct peer self, b;
	struct vx6_dht_config cfg;
	struct h *h = calloc(1, sizeof(*h));
	uint8_t key[32] = { 0x42 };
	uint64_t l1, l2, l3, l4;
	struct done *d;

	(void)state;
	peer_from_byte(&self, 0x20, "self");
	peer_from_byte(&b, 0x21, "bob");
	vx6_dht_config_defaults(&cfg);
	cfg.max_lookups = 3;
	h_init_cfg(h, &self, &cfg, 11);
	l1 = h_lookup(h, key, true, NOW0);
	l2 = h_lookup(h, key, false, NOW0);
	h->res.in_api = true;
	l3 = vx6_dht_store(h->d, b.id.node_id, b.rec, b.len, NOW0);
	h->res.in_api = false;
	assert_true(l1 > 0 && l2 > 0 && l3 > 0 && l1 != l2 && l2 != l3 && l1 != l3);
	assert_int_equal(h_lookup(h, key, true, NOW0), 0);   /* over max_lookups */
	assert_int_equal(h->res.n_done, 0);
	assert_int_equal(vx6_dht_expiry(h->d), 0);           /* due now */
	vx6_dht_handle_expiry(h->d, NOW0);
	assert_int_equal(h->res.early_calls, 0);
	assert_int_equal(h->res.n_done, 3);
	d = result_for(&h->res, l1);
	assert_non_null(d);
	assert_int_equal(d->status, VX6_ERR_NOT_FOUND);
	assert_int_equal(d->n_values, 0);
	d = result_for(&h->res, l2);
	assert_int_equal(d->status, VX6_ERR_UNREACHABLE);
	assert_int_equal(d->n_closest, 0);
	d = result_for(&h->res, l3);
	assert_int_equal(d->status, 0);
	assert_int_equal(d->stored, 1);
	assert_int_equal(h_local_count(h, b.id.node_id), 1);
	assert_int_equal(h->n_sent, 0);
	assert_int_equal(h_stats(h).lookups_active, 0);

	l4 = h_lookup(h, b.id.node_id, true, NOW0);
	assert_true(l4 > 0);
	assert_null(result_for(&h->res, l4));
	vx6_dht_handle_expiry(h->d, NOW0);
	d = result_for(&h->res, l4);
	assert_non_null(d);
	assert_int_equal(d->status, 0);
	assert_int_equal(d->n_values, 1);
	assert_int_equal(d->holders[0], 1);
	assert_memory_equal(d->holder_ids[0][0], self.id.node_id, 32);
	assert_memory_equal(d->vals[0], b.rec, b.len);
	assert_int_equal(h->res.early_calls, 0);
	h_free(h);
	free(h);
}

/* An unanswered request fails the lookup after exactly rpc_timeout; two such failures evict the contact. */
static void
test_lookup_timeout_evicts(void **state)
{
	struct peer self, b;
	struct h *h = calloc(1, sizeof(*h));
	uint8_t key[32] = { 0x43 };
	uint64_t id;

	(void)state;
	peer_from_byte(&self, 0x22, "self");
	peer_from_byte(&b, 0x23, "bob");
	h_init_cfg(h, &self, NULL, 12);
	vx6_dht_handle_expiry(h->d, NOW0);
	assert_int_equal(vx6_dht_add_contact(h->d, b.rec, b.len, NOW0), 0);
	for (int round = 0; round < 2; round++) {
		uint64_t t = NOW0 + (uint64_t)round * 10 * SEC;
		h_clear_sent(h);
		id = h_lookup(h, key, true, t);
		vx6_dht_handle_expiry(h->d, t);
		assert_int_equal(h->n_sent, 1);
		assert_memory_equal(h->sent[0].to, b.id.node_id, 32);
		assert_true(h->sent[0].with_contact);
		assert_int_equal(h->sent[0].len, 38);
		assert_int_equal(h->sent[0].msg[0], 1);
		assert_int_equal(h->sent[0].msg[1], VX6_DHT_FIND_VALUE);
		assert_memory_equal(h->sent[0].msg + 6, key, 32);
		assert_int_equal(vx6_dht_expiry(h->d), t + h->cfg.rpc_timeout);
		vx6_dht_handle_expiry(h->d, t + h->cfg.rpc_timeout - 1);
		assert_null(result_for(&h->res, id));
		vx6_dht_handle_expiry(h->d, t + h->cfg.rpc_timeout);
		assert_non_null(result_for(&h->res, id));
		assert_int_equal(result_for(&h->res, id)->status, VX6_ERR_NOT_FOUND);
		assert_int_equal(h_stats(h).rpc_timeouts, (uint64_t)round + 1);
		assert_int_equal(h_stats(h).contacts, round == 0 ? 1 : 0);
	}
	h_free(h);
	free(h);
}

/* Starts a FIND_NODE lookup whose only contact is b; returns the txid of
 * the request sent to b. */
static uint32_t
pending_lookup(struct h *h, const struct peer *b, uint64_t *lookup_id)
{
	uint8_t key[32] = { 0x44 };

	assert_int_equal(vx6_dht_add_contact(h->d, b->rec, b->len, h->now), 0);
	h_clear_sent(h);
	*lookup_id = h_lookup(h, key, false, h->now);
	vx6_dht_handle_expiry(h->d, h->now);
	assert_int_equal(h->n_sent, 1);
	assert_memory_equal(h->sent[0].to, b->id.node_id, 32);
	assert_int_equal(h->sent[0].msg[1], VX6_DHT_FIND_NODE);
	return get_txid(h->sent[0].msg);
}

/* Responses from another node, with an unknown txid, or replayed are counted as bad and ignored. */
static void
test_response_only_from_asked_node(void **state)
{
	struct peer self, b, c;
	struct h *h = calloc(1, sizeof(*h));
	const struct peer *cs[1] = { &c };
	uint8_t msg[1200];
	uint64_t id;
	uint32_t tx;
	size_t n;

	(void)state;
	peer_from_byte(&self, 0x24, "self");
	peer_from_byte(&b, 0x25, "bob");
	peer_from_byte(&c, 0x26, "carol");
	h_init_cfg(h, &self, NULL, 13);
	tx = pending_lookup(h, &b, &id);
	n = put_hdr(msg, VX6_DHT_NODES, tx);
	n += put_nodes_body(msg + n, cs, 1);

	vx6_dht_recv(h->d, c.id.node_id, msg, n, NOW0);             /* wrong node */
	assert_int_equal(h_stats(h).bad_messages, 1);
	vx6_dht_recv(h->d, SRC_X, msg, n, NOW0);
	assert_int_equal(h_stats(h).bad_messages, 2);
	put_hdr(msg, VX6_DHT_NODES, tx + 1);                         /* unknown txid */
	vx6_dht_recv(h->d, b.id.node_id, msg, n, NOW0);
	assert_int_equal(h_stats(h).bad_messages, 2);               /* not pending: late */
	assert_int_equal(h_stats(h).late_responses, 1);
	assert_null(result_for(&h->res, id));
	assert_int_equal(h_stats(h).contacts, 1);                   /* carol not learnt */
	assert_int_equal(vx6_dht_expiry(h->d), NOW0 + h->cfg.rpc_timeout);

	put_hdr(msg, VX6_DHT_NODES, tx);
	h_clear_sent(h);
	vx6_dht_recv(h->d, b.id.node_id, msg, n, NOW0);             /* the real answer */
	assert_int_equal(h_stats(h).bad_messages, 2);
	/* carol is asked next; answer her with nothing. */
	assert_int_equal(h->n_sent, 1);
	assert_memory_equal(h->sent[0].to, c.id.node_id, 32);
	{
		uint8_t empty[8];
		size_t en = put_hdr(empty, VX6_DHT_NODES, get_txid(h->sent[0].msg));
		empty[en++] = 0;
		vx6_dht_recv(h->d, b.id.node_id, empty, en, NOW0);      /* b may not answer for c */
		assert_int_equal(h_stats(h).bad_messages, 3);
		vx6_dht_recv(h->d, c.id.node_id, empty, en, NOW0);
	}
	assert_non_null(result_for(&h->res, id));
	assert_int_equal(result_for(&h->res, id)->status, 0);
	assert_int_equal(result_for(&h->res, id)->n_closest, 2);
	vx6_dht_recv(h->d, b.id.node_id, msg, n, NOW0);             /* replay */
	assert_int_equal(h_stats(h).bad_messages, 3);
	assert_int_equal(h_stats(h).late_responses, 2);
	assert_int_equal(h->res.n_done, 1);
	h_free(h);
	free(h);
}

/* Every truncated, padded, wrong-version, txid-0, unknown-kind or oversize request is counted once, unanswered. */
static void
test_malformed_requests(void **state)
{
	struct peer self, b;
	struct h *h = calloc(1, sizeof(*h));
	uint8_t msgs[3][64 + VX6_RECORD_MAX_LEN], m[80 + VX6_RECORD_MAX_LEN];
	size_t lens[3];
	static uint8_t huge[VX6_DHT_MAX_MSG + 1];
	uint64_t bad = 0;

	(void)state;
	peer_from_byte(&self, 0x27, "self");
	peer_from_byte(&b, 0x28, "bob");
	h_init_cfg(h, &self, NULL, 14);
	lens[0] = msg_find(msgs[0], VX6_DHT_FIND_NODE, 7, b.id.node_id);
	lens[1] = msg_find(msgs[1], VX6_DHT_FIND_VALUE, 8, b.id.node_id);
	lens[2] = msg_store(msgs[2], 9, b.id.node_id, b.rec, b.len);
#define EXPECT_BAD(p, n) do { \
		uint8_t *copy_ = malloc((n) ? (n) : 1); \
		memcpy(copy_, (p), (n)); \
		vx6_dht_recv(h->d, SRC_X, copy_, (n), NOW0); \
		free(copy_); \
		bad++; \
		if (h_stats(h).bad_messages != bad || h->n_sent != 0) \
			fail_msg("line %d: bad_messages %llu want %llu, %zu replies", __LINE__, \
			    (unsigned long long)h_stats(h).bad_messages, (unsigned long long)bad, h->n_sent); \
	} while (0)
	for (int k = 0; k < 3; k++) {
		for (size_t n = 0; n < lens[k]; n++)
			EXPECT_BAD(msgs[k], n);
		memcpy(m, msgs[k], lens[k]);
		m[lens[k]] = 0;
		EXPECT_BAD(m, lens[k] + 1);
		memcpy(m, msgs[k], lens[k]);
		m[0] = 0;
		EXPECT_BAD(m, lens[k]);
		m[0] = 2;
		EXPECT_BAD(m, lens[k]);
		m[0] = 1;
		m[2] = m[3] = m[4] = m[5] = 0;   /* txid 0 */
		EXPECT_BAD(m, lens[k]);
	}
	/* STORE whose len field says more (or less) than is there. */
	memcpy(m, msgs[2], lens[2]);
	m[38] = (uint8_t)((b.len + 1) >> 8);
	m[39] = (uint8_t)(b.len + 1);
	EXPECT_BAD(m, lens[2]);
	m[38] = 0xff;
	m[39] = 0xff;
	EXPECT_BAD(m, lens[2]);
	m[38] = (uint8_t)((b.len - 1) >> 8);
	m[39] = (uint8_t)(b.len - 1);
	EXPECT_BAD(m, lens[2]);
	for (unsigned kind = 0; kind < 0x80; kind++) {
		if (kind >= VX6_DHT_FIND_NODE && kind <= VX6_DHT_STORE)
			continue;
		memcpy(m, msgs[1], lens[1]);
		m[1] = (uint8_t)kind;
		EXPECT_BAD(m, lens[1]);
	}
	memcpy(huge, msgs[0], lens[0]);
	vx6_dht_recv(h->d, SRC_X, huge, sizeof(huge), NOW0);
	bad++;
	assert_int_equal(h_stats(h).bad_messages, bad);
	assert_int_equal(h->n_sent, 0);
	assert_int_equal(h_stats(h).values, 0);
	assert_int_equal(h_stats(h).stores_accepted + h_stats(h).stores_rejected + h_stats(h).stores_throttled, 0);
	/* Controls: the intact messages are answered. */
	for (int k = 0; k < 3; k++)
		vx6_dht_recv(h->d, SRC_X, msgs[k], lens[k], NOW0);
	assert_int_equal(h_stats(h).bad_messages, bad);
	assert_int_equal(h->n_sent, 3);
	assert_int_equal(h_stats(h).values, 1);
#undef EXPECT_BAD
	h_free(h);
	free(h);
}

/* Every truncated or inconsistent response (counts, lengths, kinds) is counted once and never crashes. */
static void
test_malformed_responses(void **state)
{
	struct peer self, b, c, d;
	struct h *h = calloc(1, sizeof(*h));
	const struct peer *cs[2] = { &c, &d };
	static uint8_t full[4096], m[4096];
	struct vx6_dht_config cfg;
	size_t fl, n, o, nodes_at;
	uint64_t id, bad = 0;
	uint32_t tx;

	(void)state;
	peer_from_byte(&self, 0x29, "self");
	peer_from_byte(&b, 0x2a, "bob");
	peer_from_byte(&c, 0x2b, "carol");
	peer_from_byte(&d, 0x2c, "dave");
	vx6_dht_config_defaults(&cfg);
	cfg.refresh_interval = 10000ULL * HOUR * SEC;   /* no bucket refreshes as time passes */
	h_init_cfg(h, &self, &cfg, 15);
#define EXPECT_BAD_RESPONSE(p, len) do { \
		size_t len_ = (len); \
		uint8_t *copy_ = malloc(len_ ? len_ : 1); \
		tx = pending_lookup(h, &b, &id); \
		memcpy(copy_, (p), len_); \
		for (size_t t_ = 2; t_ < 6 && t_ < len_; t_++)   /* the pending txid */ \
			copy_[t_] = (uint8_t)(tx >> (8 * (5 - t_))); \
		vx6_dht_recv(h->d, b.id.node_id, copy_, len_, h->now); \
		free(copy_); \
		bad++; \
		if (h_stats(h).bad_messages != bad) \
			fail_msg("line %d (len %zu): bad_messages %llu want %llu", __LINE__, len_, \
			    (unsigned long long)h_stats(h).bad_messages, (unsigned long long)bad); \
		/* Whatever is still asked (b, or contacts read before the damage) \
		 * times out. */ \
		for (int r_ = 0; r_ < 10 && result_for(&h->res, id) == NULL; r_++) { \
			h->now += h->cfg.rpc_timeout; \
			vx6_dht_handle_expiry(h->d, h->now); \
		} \
		assert_non_null(result_for(&h->res, id)); \
		assert_int_equal(h_stats(h).bad_messages, bad); \
		results_free(&h->res); \
	} while (0)

	/* A full VALUES reply: one value (dave's record: not valid under the
	 * lookup key, so ignored) and two contacts. */
	fl = put_hdr(full, VX6_DHT_VALUES, 0);
	full[fl++] = 1;
	fl += put_u16(full + fl, d.len);
	memcpy(full + fl, d.rec, d.len);
	fl += d.len;
	nodes_at = fl;
	fl += put_nodes_body(full + fl, cs, 2);
	for (size_t k = 0; k < fl; k++)
		EXPECT_BAD_RESPONSE(full, k);
	memcpy(m, full, fl);
	m[fl] = 0;
	EXPECT_BAD_RESPONSE(m, fl + 1);
	memcpy(m, full, fl);
	m[0] = 2;                                   /* version */
	EXPECT_BAD_RESPONSE(m, fl);

	/* Counts beyond the data. */
	memcpy(m, full, fl);
	m[6] = 2;                                   /* 2 values, 1 present */
	EXPECT_BAD_RESPONSE(m, fl);
	memcpy(m, full, fl);
	m[nodes_at] = 3;                            /* 3 contacts, 2 present */
	EXPECT_BAD_RESPONSE(m, fl);
	n = put_hdr(m, VX6_DHT_NODES, 0);
	n += put_nodes_body(m + n, cs, 2);
	m[6] = 200;
	EXPECT_BAD_RESPONSE(m, n);
	/* A contact length over 1024, with the bytes present. */
	o = put_hdr(m, VX6_DHT_NODES, 0);
	m[o++] = 1;
	o += put_u16(m + o, VX6_DHT_MAX_CONTACT + 1);
	memset(m + o, 0, VX6_DHT_MAX_CONTACT + 1);
	memcpy(m + o, c.rec, c.len);
	o += VX6_DHT_MAX_CONTACT + 1;
	EXPECT_BAD_RESPONSE(m, o);
	/* A value length over 1024. */
	o = put_hdr(m, VX6_DHT_VALUES, 0);
	m[o++] = 1;
	o += put_u16(m + o, VX6_DHT_MAX_VALUE + 1);
	memset(m + o, 0, VX6_DHT_MAX_VALUE + 1);
	o += VX6_DHT_MAX_VALUE + 1;
	m[o++] = 0;
	EXPECT_BAD_RESPONSE(m, o);
	/* Empty bodies and a STORED with a trailing byte. */
	for (unsigned kind = VX6_DHT_NODES; kind <= VX6_DHT_STORED; kind++) {
		n = put_hdr(m, (uint8_t)kind, 0);
		EXPECT_BAD_RESPONSE(m, n);
	}
	n = put_hdr(m, VX6_DHT_STORED, 0);
	m[n++] = 0;
	m[n++] = 0;
	EXPECT_BAD_RESPONSE(m, n);
	/* Unknown response kinds. */
	for (unsigned kind = 0x80; kind < 0x100; kind += 0x0f) {
		if (kind >= VX6_DHT_NODES && kind <= VX6_DHT_STORED)
			continue;
		n = put_hdr(m, (uint8_t)kind, 0);
		m[n++] = 0;
		EXPECT_BAD_RESPONSE(m, n);
	}
#undef EXPECT_BAD_RESPONSE

	/* A NODES reply whose first contact is tampered: skipped, dave kept,
	 * and the message is not bad. */
	tx = pending_lookup(h, &b, &id);
	n = put_hdr(m, VX6_DHT_NODES, tx);
	n += put_nodes_body(m + n, cs, 2);
	m[7 + 2 + 10] ^= 1;                         /* inside carol's key */
	h_clear_sent(h);
	vx6_dht_recv(h->d, b.id.node_id, m, n, h->now);
	assert_int_equal(h_stats(h).bad_messages, bad);
	assert_int_equal(h->n_sent, 1);             /* dave is asked, carol is not */
	assert_memory_equal(h->sent[0].to, d.id.node_id, 32);
	h_free(h);
	free(h);
}

/* 20000 random messages never crash or leak and are all counted as received. */
static void
test_random_garbage(void **state)
{
	struct peer self, b;
	struct h *h = calloc(1, sizeof(*h));
	struct vx6_det_rng rng;
	static const uint8_t kinds[] = { 1, 2, 3, 0x81, 0x82, 0x83, 0, 4, 0x80, 0x84, 0xff };
	static uint8_t m[2048];
	uint64_t id;
	uint32_t tx;

	(void)state;
	peer_from_byte(&self, 0x2d, "self");
	peer_from_byte(&b, 0x2e, "bob");
	h_init_cfg(h, &self, NULL, 16);
	vx6_det_rng_init(&rng, 99);
	tx = pending_lookup(h, &b, &id);
	for (unsigned i = 0; i < 20000; i++) {
		size_t len = (size_t)(vx6_det_rng_u64(&rng) % (i % 10 == 0 ? sizeof(m) : 96));
		uint64_t r = vx6_det_rng_u64(&rng);
		vx6_det_rng_fill(&rng, m, len ? len : 1);
		if (len >= 6 && (r & 1)) {
			m[0] = 1;
			m[1] = kinds[(r >> 8) % sizeof(kinds)];
			if (r & 2)
				put_hdr(m, m[1], tx);
			if (len >= 7 && (r & 4))
				m[6] = (uint8_t)((r >> 16) % 4);   /* small counts */
		}
		vx6_dht_recv(h->d, (r & 8) ? b.id.node_id : SRC_X, m, len, NOW0);
		if (result_for(&h->res, id) != NULL) {
			results_free(&h->res);
			tx = pending_lookup(h, &b, &id);
		}
		h_clear_sent(h);
	}
	assert_int_equal(h_stats(h).rpcs_in, 20000);
	h_free(h);
	free(h);
}

/* vx6_dht_free with lookups and requests in flight calls no callback and frees everything. */
static void
test_free_with_lookups_in_flight(void **state)
{
	struct peer self, b;
	struct h *h = calloc(1, sizeof(*h));
	uint8_t key[32] = { 0x45 };
	uint64_t id;

	(void)state;
	peer_from_byte(&self, 0x2f, "self");
	peer_from_byte(&b, 0x30, "bob");
	h_init_cfg(h, &self, NULL, 17);
	(void)pending_lookup(h, &b, &id);
	assert_true(h_lookup(h, key, true, NOW0) > 0);   /* not even started */
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, b.len, NOW0), VX6_DHT_STORE_OK);
	vx6_dht_free(h->d);
	h->d = NULL;
	assert_int_equal(h->res.n_done, 0);
	h_free(h);
	free(h);
}

/* Answers to this node's own requests (replication STOREs, late lookup replies) are not counted as bad. */
static void
test_answers_to_own_requests_not_bad(void **state)
{
	struct peer self, b, c[3];
	struct h *h = calloc(1, sizeof(*h));
	uint8_t m[2 * VX6_RECORD_MAX_LEN];
	uint64_t id, bad_replication, bad_late;
	uint32_t tx[3] = { 0 };
	size_t n;
	bool sent_store = false, done;

	(void)state;
	peer_from_byte(&self, 0x31, "self");
	peer_from_byte(&b, 0x32, "bob");
	for (int i = 0; i < 3; i++)
		peer_from_byte(&c[i], (uint8_t)(0x33 + i), (const char *[]){ "c0", "c1", "c2" }[i]);
	h_init_cfg(h, &self, NULL, 18);
	vx6_dht_handle_expiry(h->d, NOW0);

	/* 1. Holding bob's record under bob's id, meeting bob (closer to that
	 *    key than us) replicates it to him. */
	assert_int_equal(h_store(h, SRC_X, b.id.node_id, b.rec, b.len, NOW0), VX6_DHT_STORE_OK);
	h_clear_sent(h);
	assert_int_equal(vx6_dht_add_contact(h->d, b.rec, b.len, NOW0), 0);
	for (size_t i = 0; i < h->n_sent; i++)
		if (h->sent[i].msg[1] == VX6_DHT_STORE && memcmp(h->sent[i].to, b.id.node_id, 32) == 0) {
			sent_store = true;
			tx[0] = get_txid(h->sent[i].msg);
		}
	n = put_hdr(m, VX6_DHT_STORED, tx[0]);
	m[n++] = VX6_DHT_STORE_OK;
	vx6_dht_recv(h->d, b.id.node_id, m, n, NOW0);
	bad_replication = h_stats(h).bad_messages;

	/* 2. A value lookup with a local copy asks three contacts; the first
	 *    answer with the value makes two holders and ends it; the other two
	 *    answers arrive after that. */
	vx6_dht_contact_gone(h->d, b.id.node_id);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vx6_dht_add_contact(h->d, c[i].rec, c[i].len, NOW0), 0);
	h_clear_sent(h);
	id = h_lookup(h, b.id.node_id, true, NOW0);
	vx6_dht_handle_expiry(h->d, NOW0);
	assert_int_equal(h->n_sent, 3);
	for (int i = 0; i < 3; i++) {
		for (size_t j = 0; j < h->n_sent; j++)
			if (memcmp(h->sent[j].to, c[i].id.node_id, 32) == 0)
				tx[i] = get_txid(h->sent[j].msg);
		assert_true(tx[i] != 0);
	}
	n = put_hdr(m, VX6_DHT_VALUES, tx[0]);
	m[n++] = 1;
	n += put_u16(m + n, b.len);
	memcpy(m + n, b.rec, b.len);
	n += b.len;
	m[n++] = 0;
	vx6_dht_recv(h->d, c[0].id.node_id, m, n, NOW0);
	done = result_for(&h->res, id) != NULL && result_for(&h->res, id)->holders[0] == 2;
	for (int i = 1; i < 3; i++) {
		n = put_hdr(m, VX6_DHT_VALUES, tx[i]);
		m[n++] = 0;
		m[n++] = 0;
		vx6_dht_recv(h->d, c[i].id.node_id, m, n, NOW0);
	}
	bad_late = h_stats(h).bad_messages - bad_replication;
	h_free(h);
	free(h);

	assert_true(sent_store);
	assert_true(done);
	/* Regression (fixed): this failed until the DHT tells its own late answers from unsolicited
	 * ones. replicate_to_new (src/core/dht.c:1198) sends STOREs with a txid
	 * that is never put in d->pending, and finish_lookup (src/core/dht.c:833)
	 * drops the txids still in flight; handle_response (src/core/dht.c:946)
	 * then counts those answers in bad_messages (exported as "bad_messages"
	 * by src/node/named.c:1220), so on a healthy network the counter grows
	 * with every replication and with every value lookup that ends on two
	 * holders (about 4 per lookup on 30 nodes). Suggested fix: keep
	 * finished/replication txids in a small "expired" set (or count them
	 * in a separate late_responses stat) and drop them silently. */
	if (bad_replication != 0 || bad_late != 0)
		fail_msg("bad_messages counted %llu replication answer(s) and %llu late lookup answer(s)",
		    (unsigned long long)bad_replication, (unsigned long long)bad_late);
}

/* --- a 30-node network on an in-test message pump ------------------------------------------- */

#define NET_N 30

struct net;

struct netnode {
	struct net *net;
	unsigned idx;
	struct peer p;
	struct vx6_dht *d;
	struct vx6_dhtval_cache cache;
	struct tu_env env;
	struct vx6_dht_cbs cbs;
	struct results res;
};

struct qmsg {
	unsigned from, to;
	size_t len;
	uint8_t *msg;
};

struct net {
	struct netnode *nodes;
	struct qmsg *q;
	size_t head, tail, cap;
	uint64_t now, wall;
	uint64_t delivered, undeliverable;
	bool met[NET_N][NET_N];   /* a session exists (records exchanged) */
};

static void
net_send(void *ud, const uint8_t id[32], const uint8_t *contact, size_t contact_len, const uint8_t *msg, size_t len)
{
	struct netnode *from = ud;
	struct net *net = from->net;
	struct qmsg *q;
	unsigned to = NET_N;

	(void)contact;
	(void)contact_len;
	for (unsigned i = 0; i < NET_N; i++)
		if (memcmp(net->nodes[i].p.id.node_id, id, 32) == 0)
			to = i;
	if (to == NET_N) {
		net->undeliverable++;
		return;
	}
	if (net->tail == net->cap) {
		net->cap = net->cap ? net->cap * 2 : 1024;
		net->q = realloc(net->q, net->cap * sizeof(*net->q));
		assert_non_null(net->q);
	}
	q = &net->q[net->tail++];
	q->from = from->idx;
	q->to = to;
	q->len = len;
	q->msg = malloc(len);
	assert_non_null(q->msg);
	memcpy(q->msg, msg, len);
}

static void
net_done(void *ud, uint64_t id, const struct vx6_dht_result *res)
{
	results_add(&((struct netnode *)ud)->res, id, res);
}

static int
net_validate(void *ud, const uint8_t key[32], const uint8_t *v, size_t len, uint64_t now,
    struct vx6_dht_value_info *info)
{
	return vx6_dhtval_validate(&((struct netnode *)ud)->cache, key, v, len, now, info);
}

static int
net_contact(void *ud, const uint8_t *c, size_t len, uint64_t now, uint8_t id[32], uint64_t *seq)
{
	return vx6_dhtval_contact_id(&((struct netnode *)ud)->cache, c, len, now, id, seq);
}

static uint64_t
net_wall(void *ud)
{
	return ((struct netnode *)ud)->net->wall;
}

/* Delivers queued messages in order and runs due timers until nothing is
 * left to do (time does not advance). Fails on a livelock. */
static void
net_pump(struct net *net)
{
	for (unsigned steps = 0;; steps++) {
		bool any = false;
		assert_true(steps < 1000000);
		if (net->head < net->tail) {
			struct qmsg q = net->q[net->head++];
			if (!net->met[q.from][q.to]) {
				/* First message between two nodes: the node layer's
				 * handshake, after which each side sends its RECORD and
				 * the other adds it as a contact (PROTOCOL.md §13). */
				net->met[q.from][q.to] = net->met[q.to][q.from] = true;
				assert_int_equal(vx6_dht_add_contact(net->nodes[q.to].d, net->nodes[q.from].p.rec,
				    net->nodes[q.from].p.len, net->now), 0);
				assert_int_equal(vx6_dht_add_contact(net->nodes[q.from].d, net->nodes[q.to].p.rec,
				    net->nodes[q.to].p.len, net->now), 0);
			}
			vx6_dht_recv(net->nodes[q.to].d, net->nodes[q.from].p.id.node_id, q.msg, q.len, net->now);
			free(q.msg);
			net->delivered++;
			continue;
		}
		net->head = net->tail = 0;
		for (unsigned i = 0; i < NET_N; i++)
			if (vx6_dht_expiry(net->nodes[i].d) <= net->now) {
				vx6_dht_handle_expiry(net->nodes[i].d, net->now);
				any = true;
			}
		if (!any && net->head == net->tail)
			return;
	}
}

static uint64_t
net_lookup(struct netnode *n, const uint8_t key[32], bool want_value)
{
	uint64_t id;

	n->res.in_api = true;
	id = vx6_dht_lookup(n->d, key, want_value, n->net->now);
	n->res.in_api = false;
	assert_true(id > 0);
	return id;
}

static struct net *
net_new(uint64_t seed)
{
	struct net *net = calloc(1, sizeof(*net));
	struct vx6_dht_config cfg;
	struct vx6_det_rng rng;

	net->nodes = calloc(NET_N, sizeof(*net->nodes));
	net->now = NOW0;
	net->wall = T0;
	vx6_dht_config_defaults(&cfg);
	vx6_det_rng_init(&rng, seed);
	for (unsigned i = 0; i < NET_N; i++) {
		struct netnode *n = &net->nodes[i];
		uint8_t s[32];
		char name[16];
		n->net = net;
		n->idx = i;
		vx6_det_rng_fill(&rng, s, sizeof(s));
		snprintf(name, sizeof(name), "n%u", i);
		peer_from_seed(&n->p, s, name);
		tu_env_init(&n->env, seed * 1000 + i);
		n->cbs.send = net_send;
		n->cbs.lookup_done = net_done;
		n->cbs.validate = net_validate;
		n->cbs.contact_id = net_contact;
		n->cbs.wall_time = net_wall;
		n->d = vx6_dht_new(n->p.id.node_id, &cfg, &n->env.env, &n->cbs, n);
		assert_non_null(n->d);
	}
	/* Each node knows three others; then every node looks itself up. */
	for (unsigned i = 0; i < NET_N; i++)
		for (unsigned j = 1; j <= 3; j++) {
			unsigned o = (unsigned)((i + j * 7 + vx6_det_rng_u64(&rng) % 5) % NET_N);
			if (o != i)
				assert_int_equal(vx6_dht_add_contact(net->nodes[i].d, net->nodes[o].p.rec,
				    net->nodes[o].p.len, net->now), 0);
		}
	net_pump(net);
	for (unsigned i = 0; i < NET_N; i++)
		(void)net_lookup(&net->nodes[i], net->nodes[i].p.id.node_id, false);
	net_pump(net);
	return net;
}

static void
net_free(struct net *net)
{
	for (size_t i = net->head; i < net->tail; i++)
		free(net->q[i].msg);
	free(net->q);
	for (unsigned i = 0; i < NET_N; i++) {
		vx6_dht_free(net->nodes[i].d);
		results_free(&net->nodes[i].res);
	}
	free(net->nodes);
	free(net);
}

static const uint8_t *net_sort_target;
static struct net *net_sort_net;

static int
cmp_node_by_target(const void *a, const void *b)
{
	return cmp_dist(net_sort_net->nodes[*(const unsigned *)a].p.id.node_id,
	    net_sort_net->nodes[*(const unsigned *)b].p.id.node_id, net_sort_target);
}

/* The true k closest nodes to target among all but `self`. */
static unsigned
true_closest(struct net *net, unsigned self, const uint8_t *target, unsigned *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < NET_N; i++)
		if (i != self)
			out[n++] = i;
	net_sort_target = target;
	net_sort_net = net;
	qsort(out, n, sizeof(out[0]), cmp_node_by_target);
	return n < VX6_DHT_K ? n : VX6_DHT_K;
}

/* On 30 nodes, FIND_NODE lookups from every node return exactly the true 20 closest nodes in order. */
static void
test_network_find_node_exact(void **state)
{
	struct net *net = net_new(7);
	struct vx6_det_rng rng;
	uint64_t ids[NET_N];
	uint8_t target[NET_N][32];

	(void)state;
	vx6_det_rng_init(&rng, 8);
	for (unsigned i = 0; i < NET_N; i++) {
		assert_int_equal(net->nodes[i].res.n_done, 1);   /* the self lookup */
		assert_int_equal(net->nodes[i].res.done[0].status, 0);
		assert_int_equal(net->nodes[i].res.early_calls, 0);
		vx6_det_rng_fill(&rng, target[i], 32);
		ids[i] = net_lookup(&net->nodes[i], target[i], false);
	}
	net_pump(net);
	for (unsigned i = 0; i < NET_N; i++) {
		struct done *d = result_for(&net->nodes[i].res, ids[i]);
		unsigned want[NET_N], nw = true_closest(net, i, target[i], want);
		assert_non_null(d);
		assert_int_equal(d->status, 0);
		assert_int_equal(net->nodes[i].res.early_calls, 0);
		if (d->n_closest != nw)
			fail_msg("node %u: %u closest, want %u", i, d->n_closest, nw);
		for (unsigned j = 0; j < nw; j++)
			if (memcmp(d->closest[j], net->nodes[want[j]].p.id.node_id, 32) != 0)
				fail_msg("node %u: closest[%u] is not the true %u-th closest", i, j, j);
	}
	assert_int_equal(net->undeliverable, 0);
	net_free(net);
}

/* On 30 nodes, a stored record is held by >= 5 nodes and every node finds it on >= 2 distinct holders. */
static void
test_network_lookup_finds_value(void **state)
{
	struct net *net = net_new(11);
	struct netnode *pub = &net->nodes[3];
	uint8_t key[32], svc[VX6_RECORD_MAX_LEN];
	size_t sl;
	uint64_t sid, ids[NET_N];
	unsigned holders = 0;
	struct done *d;

	(void)state;
	sl = service_rec(&pub->p.id, "n3", "web", 1, T0 + HOUR, svc);
	vx6_dhtkey_service("n3", "web", key);
	pub->res.in_api = true;
	sid = vx6_dht_store(pub->d, key, svc, sl, net->now);
	pub->res.in_api = false;
	assert_true(sid > 0);
	net_pump(net);
	d = result_for(&pub->res, sid);
	assert_non_null(d);
	assert_int_equal(d->status, 0);
	assert_true(d->stored >= VX6_DHT_REPLICATION);
	for (unsigned i = 0; i < NET_N; i++) {
		unsigned c = 0;
		vx6_dht_local_get(net->nodes[i].d, key, count_value, &c);
		holders += c;
	}
	assert_true(holders >= VX6_DHT_REPLICATION);

	for (unsigned i = 0; i < NET_N; i++)
		ids[i] = net_lookup(&net->nodes[i], key, true);
	net_pump(net);
	for (unsigned i = 0; i < NET_N; i++) {
		d = result_for(&net->nodes[i].res, ids[i]);
		assert_non_null(d);
		assert_int_equal(net->nodes[i].res.early_calls, 0);
		if (d->status != 0 || d->n_values != 1)
			fail_msg("node %u: status %d, %u values", i, d->status, d->n_values);
		assert_int_equal(d->vlen[0], sl);
		assert_memory_equal(d->vals[0], svc, sl);
		if (d->holders[0] < 2)
			fail_msg("node %u: %u holder(s)", i, d->holders[0]);
		for (unsigned a = 0; a < d->holders[0] && a < VX6_DHT_MAX_HOLDERS; a++)
			for (unsigned b = a + 1; b < d->holders[0] && b < VX6_DHT_MAX_HOLDERS; b++)
				assert_memory_not_equal(d->holder_ids[0][a], d->holder_ids[0][b], 32);
	}
	/* A key nobody stored is NOT_FOUND everywhere. */
	vx6_dhtkey_service("n3", "mail", key);
	ids[0] = net_lookup(&net->nodes[0], key, true);
	net_pump(net);
	assert_int_equal(result_for(&net->nodes[0].res, ids[0])->status, VX6_ERR_NOT_FOUND);
	net_free(net);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_bad_config),
		cmocka_unit_test(test_routing_table_model),
		cmocka_unit_test(test_full_bucket_and_replacements),
		cmocka_unit_test(test_add_contact_rejects),
		cmocka_unit_test(test_contact_record_keeps_highest_seq),
		cmocka_unit_test(test_closest_max_zero),
		cmocka_unit_test(test_store_rejects_wrong_key),
		cmocka_unit_test(test_store_seq_rules),
		cmocka_unit_test(test_store_full_after_16_signers),
		cmocka_unit_test(test_store_oversize_rejected),
		cmocka_unit_test(test_expired_values_not_served),
		cmocka_unit_test(test_store_throttled_per_source),
		cmocka_unit_test(test_store_full_at_max_keys),
		cmocka_unit_test(test_find_node_reply),
		cmocka_unit_test(test_lookup_without_contacts),
		cmocka_unit_test(test_lookup_timeout_evicts),
		cmocka_unit_test(test_response_only_from_asked_node),
		cmocka_unit_test(test_malformed_requests),
		cmocka_unit_test(test_malformed_responses),
		cmocka_unit_test(test_random_garbage),
		cmocka_unit_test(test_free_with_lookups_in_flight),
		cmocka_unit_test(test_answers_to_own_requests_not_bad),
		cmocka_unit_test(test_network_find_node_exact),
		cmocka_unit_test(test_network_lookup_finds_value),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
