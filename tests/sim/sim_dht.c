/*
 * sim_dht — the real DHT core (src/core/dht.c + dhtval.c) on the simulated
 * network: N nodes join one after another through a random live node, a
 * hundred publish signed service records, 20% of the nodes die and as many
 * new ones join, the network runs past a republish interval, then random live
 * nodes look up random published names. Nothing sleeps: virtual time.
 *
 * Checks (CTest mode, no arguments): with 1,000 nodes and 20% churn at least
 * 99% of lookups return the publisher's record, and the mean hop count grows
 * like log N (100 → 1,000 nodes at most doubles it). Prints the seed; rerun
 * with --seed to replay. `sim_dht --nodes 10000 [--churn 0]` is the benchmark.
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dht.h"
#include "core/dhtval.h"
#include "core/record.h"
#include "io/sim/simnet.h"
#include "lib/err.h"
#include "lib/idmap.h"

#define BASE_WALL 1800000000ULL
#define SEC VX6_NS_PER_SEC
#define MS VX6_NS_PER_MS

struct sim;

struct simnode {
	struct sim *sim;
	unsigned idx;
	bool alive;
	struct vx6_identity id;
	uint8_t rec[VX6_RECORD_MAX_LEN];
	size_t reclen;
	struct vx6_dht *dht;
	struct vx6_dhtval_cache cache;
	struct vx6_det_rng rng;
	struct vx6_env env;
	struct vx6_dht_cbs cbs;
	uint64_t wake_at;
	uint64_t wake_gen;
};

struct pending {
	struct simnode *node;
	uint64_t lookup_id;
	uint8_t want_signer[32];
	bool is_store;
	struct pending *next;
};

struct sim {
	struct vx6_simnet *net;
	struct simnode **nodes;
	size_t n, cap;
	struct vx6_idmap byid;       /* first 8 bytes of node id -> node */
	double loss;
	struct vx6_log log;
	struct pending *pending;
	/* results */
	unsigned lookups, found, stores, stored_ok;
	unsigned *hops;
	unsigned n_hops;
	uint64_t messages;
	uint64_t lookup_msgs;        /* RPCs sent by the measured lookups themselves */
	uint64_t delivered, dropped;
};

struct simmsg {
	struct simnode *to;
	uint8_t from[VX6_DHT_ID_LEN];
	size_t len;
	uint8_t data[];
};

static uint64_t
key64(const uint8_t *id)
{
	uint64_t k = 0;

	for (int i = 0; i < 8; i++)
		k = (k << 8) | id[i];
	return (k == 0 || k == UINT64_MAX) ? 1 : k;
}

static uint64_t
node_wall(void *ud)
{
	struct simnode *sn = ud;

	return BASE_WALL + vx6_simnet_now(sn->sim->net) / SEC;
}

static void wake(void *ud, uint64_t gen);

static void
schedule_wake(struct simnode *sn)
{
	uint64_t e;

	if (!sn->alive)
		return;
	e = vx6_dht_expiry(sn->dht);
	if (e == VX6_TIME_NEVER || e >= sn->wake_at)
		return;
	sn->wake_at = e;
	vx6_simnet_at(sn->sim->net, e, wake, sn, ++sn->wake_gen);
}

static void
wake(void *ud, uint64_t gen)
{
	struct simnode *sn = ud;

	if (!sn->alive || gen != sn->wake_gen)
		return;
	sn->wake_at = VX6_TIME_NEVER;
	vx6_dht_handle_expiry(sn->dht, vx6_simnet_now(sn->sim->net));
	schedule_wake(sn);
}

static void
deliver(void *ud, uint64_t arg)
{
	struct simmsg *m = (struct simmsg *)(uintptr_t)arg;
	struct simnode *to = m->to;

	(void)ud;
	if (to->alive) {
		to->sim->delivered++;
		vx6_dht_recv(to->dht, m->from, m->data, m->len, vx6_simnet_now(to->sim->net));
		schedule_wake(to);
	} else {
		to->sim->dropped++;
	}
	free(m);
}

/* Events still queued when the run ends: a message in flight (scheduled with
 * ud == NULL by on_send) owns its buffer; a wake (ud == node) owns nothing. */
static void
drop_event(void *ud, uint64_t arg)
{
	if (ud == NULL)
		free((void *)(uintptr_t)arg);
}

static void
on_send(void *ud, const uint8_t id[VX6_DHT_ID_LEN], const uint8_t *rec, size_t reclen,
    const uint8_t *msg, size_t len)
{
	struct simnode *sn = ud;
	struct sim *s = sn->sim;
	struct simnode *to = vx6_idmap_get(&s->byid, key64(id));
	struct simmsg *m;

	(void)rec;
	(void)reclen;
	s->messages++;
	if (to == NULL || memcmp(to->id.node_id, id, 32) != 0)
		return;
	if (s->loss > 0 && (double)(vx6_det_rng_u64(vx6_simnet_rng(s->net)) % 10000) < s->loss * 10000)
		return;
	m = malloc(sizeof(*m) + len);
	if (m == NULL)
		return;
	m->to = to;
	memcpy(m->from, sn->id.node_id, VX6_DHT_ID_LEN);
	m->len = len;
	memcpy(m->data, msg, len);
	/* one-way latency 5..60 ms */
	vx6_simnet_at(s->net, vx6_simnet_now(s->net) + vx6_simnet_uniform(s->net, 5 * MS, 60 * MS),
	    deliver, NULL, (uint64_t)(uintptr_t)m);
}

static void
on_lookup_done(void *ud, uint64_t lookup_id, const struct vx6_dht_result *res)
{
	struct simnode *sn = ud;
	struct sim *s = sn->sim;
	struct pending **pp, *p;

	for (pp = &s->pending; (p = *pp) != NULL; pp = &p->next)
		if (p->node == sn && p->lookup_id == lookup_id)
			break;
	if (p == NULL)
		return;
	*pp = p->next;
	if (p->is_store) {
		s->stored_ok += res->stored > 0;
	} else {
		for (unsigned i = 0; i < res->n_values; i++)
			if (memcmp(res->values[i].info.signer, p->want_signer, 32) == 0) {
				s->found++;
				s->hops[s->n_hops++] = res->hops;
				break;
			}
		s->lookup_msgs += res->messages;
	}
	free(p);
}

static struct simnode *
node_new(struct sim *s, uint64_t seed)
{
	struct simnode *sn = calloc(1, sizeof(*sn));
	struct vx6_node_record r;
	struct vx6_dht_config cfg;
	uint8_t idseed[32];
	int len;

	sn->sim = s;
	sn->idx = (unsigned)s->n;
	vx6_det_rng_init(&sn->rng, seed * 1000003 + s->n);
	vx6_det_rng_fill(&sn->rng, idseed, sizeof(idseed));
	vx6_identity_from_seed(&sn->id, idseed);
	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "n%u", sn->idx);
	r.n_addrs = 1;
	r.addrs[0].family = 6;
	r.addrs[0].ip[0] = 0xfd;
	r.addrs[0].ip[12] = (uint8_t)(sn->idx >> 24);
	r.addrs[0].ip[13] = (uint8_t)(sn->idx >> 16);
	r.addrs[0].ip[14] = (uint8_t)(sn->idx >> 8);
	r.addrs[0].ip[15] = (uint8_t)sn->idx;
	r.addrs[0].port = 4242;
	r.seq = 1;
	r.issued_at = BASE_WALL + vx6_simnet_now(s->net) / SEC;
	r.expires_at = r.issued_at + 6 * 3600;
	len = vx6_node_record_sign(&r, &sn->id, sn->rec, sizeof(sn->rec));
	if (len < 0)
		abort();
	sn->reclen = (size_t)len;
	sn->env.random = vx6_det_rng_fill;
	sn->env.random_ud = &sn->rng;
	sn->env.log = &s->log;
	sn->cbs.send = on_send;
	sn->cbs.lookup_done = on_lookup_done;
	sn->cbs.validate = vx6_dhtval_validate;
	sn->cbs.contact_id = vx6_dhtval_contact_id;
	sn->cbs.wall_time = node_wall;
	vx6_dht_config_defaults(&cfg);
	cfg.rpc_timeout = 2 * SEC;
	/* The dht passes its ud to every callback; validate/contact_id need the
	 * cache, the others the node: the node's first member is not the cache,
	 * so route through small trampolines below. */
	sn->dht = vx6_dht_new(sn->id.node_id, &cfg, &sn->env, &sn->cbs, sn);
	sn->wake_at = VX6_TIME_NEVER;
	sn->alive = true;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->nodes = realloc(s->nodes, s->cap * sizeof(*s->nodes));
	}
	s->nodes[s->n++] = sn;
	vx6_idmap_put(&s->byid, key64(sn->id.node_id), sn);
	return sn;
}

/* validate/contact_id trampolines: ud is the node; pass its cache. */
static int
tr_validate(void *ud, const uint8_t key[VX6_DHT_ID_LEN], const uint8_t *v, size_t len, uint64_t now,
    struct vx6_dht_value_info *info)
{
	return vx6_dhtval_validate(&((struct simnode *)ud)->cache, key, v, len, now, info);
}

static int
tr_contact(void *ud, const uint8_t *c, size_t len, uint64_t now, uint8_t id[VX6_DHT_ID_LEN],
    uint64_t *seq)
{
	return vx6_dhtval_contact_id(&((struct simnode *)ud)->cache, c, len, now, id, seq);
}

static struct simnode *
random_alive(struct sim *s, size_t below)
{
	for (int tries = 0; tries < 100000; tries++) {
		struct simnode *sn = s->nodes[vx6_det_rng_u64(vx6_simnet_rng(s->net)) % below];
		if (sn->alive)
			return sn;
	}
	return NULL;
}

static void
join(struct sim *s, uint64_t seed)
{
	size_t existing = s->n;
	struct simnode *sn = node_new(s, seed), *via;

	sn->cbs.validate = tr_validate;
	sn->cbs.contact_id = tr_contact;
	if (existing > 0 && (via = random_alive(s, existing)) != NULL) {
		vx6_dht_add_contact(sn->dht, via->rec, via->reclen, vx6_simnet_now(s->net));
		/* The contacted node learns the newcomer too (its session would). */
		vx6_dht_add_contact(via->dht, sn->rec, sn->reclen, vx6_simnet_now(s->net));
		vx6_dht_lookup(sn->dht, sn->id.node_id, false, vx6_simnet_now(s->net));
		schedule_wake(via);
	}
	schedule_wake(sn);
}

static void
run_for(struct sim *s, uint64_t ns)
{
	if (!vx6_simnet_run(s->net, vx6_simnet_now(s->net) + ns, 500000000ULL)) {
		fprintf(stderr, "event cap reached: livelock?\n");
		exit(1);
	}
}

struct outcome {
	unsigned nodes, lookups, found;
	double success, mean_hops, p95_hops, msgs_per_lookup, background_per_node_s;
	uint64_t events;
	double seconds;
};

static int
cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return x < y ? -1 : x > y;
}

static struct outcome
scenario(unsigned nodes, unsigned publishers, unsigned lookups, double churn, double loss, uint64_t seed)
{
	struct sim s;
	struct outcome o = { 0 };
	struct simnode **pubs;
	clock_t t0 = clock();
	uint64_t msgs_before, lookups_started;

	memset(&s, 0, sizeof(s));
	s.net = vx6_simnet_new(seed);
	s.loss = loss;
	vx6_idmap_init(&s.byid);
	s.hops = calloc(lookups, sizeof(unsigned));
	/* 1. nodes join one after another (20 ms apart) */
	for (unsigned i = 0; i < nodes; i++) {
		join(&s, seed);
		run_for(&s, 20 * MS);
	}
	run_for(&s, 60 * SEC);
	/* 2. publishers store a signed service record under node.web */
	pubs = calloc(publishers, sizeof(*pubs));
	for (unsigned i = 0; i < publishers; i++) {
		struct simnode *p;
		bool dup;
		do {   /* distinct publishers: one record per name */
			p = random_alive(&s, s.n);
			dup = false;
			for (unsigned j = 0; j < i; j++)
				dup |= pubs[j] == p;
		} while (dup);
		struct vx6_service_record r;
		uint8_t buf[VX6_RECORD_MAX_LEN], key[VX6_DHT_ID_LEN];
		struct pending *pd = calloc(1, sizeof(*pd));
		int len;

		memset(&r, 0, sizeof(r));
		snprintf(r.node_name, sizeof(r.node_name), "n%u", p->idx);
		snprintf(r.service, sizeof(r.service), "web");
		r.seq = 1;
		r.issued_at = BASE_WALL + vx6_simnet_now(s.net) / SEC;
		r.expires_at = r.issued_at + 6 * 3600;
		len = vx6_service_record_sign(&r, &p->id, buf, sizeof(buf));
		vx6_dhtkey_service(r.node_name, r.service, key);
		pubs[i] = p;
		pd->node = p;
		pd->is_store = true;
		pd->lookup_id = vx6_dht_store(p->dht, key, buf, (size_t)len, vx6_simnet_now(s.net));
		pd->next = s.pending;
		s.pending = pd;
		s.stores++;
		schedule_wake(p);
		run_for(&s, 100 * MS);
	}
	run_for(&s, 30 * SEC);
	/* 3. churn: a fraction dies, as many new nodes join */
	unsigned kill = (unsigned)(churn * nodes);
	for (unsigned i = 0; i < kill; i++) {
		struct simnode *v = random_alive(&s, s.n);
		v->alive = false;
	}
	for (unsigned i = 0; i < kill; i++) {
		join(&s, seed);
		run_for(&s, 50 * MS);
	}
	/* past a republish interval, so holders re-place replicas */
	run_for(&s, 12 * 60 * SEC);
	/* 4. lookups from random live nodes for random published names */
	msgs_before = s.messages;
	lookups_started = vx6_simnet_now(s.net);
	for (unsigned i = 0; i < lookups; i++) {
		struct simnode *from = random_alive(&s, s.n);
		struct simnode *p = pubs[vx6_det_rng_u64(vx6_simnet_rng(s.net)) % publishers];
		struct pending *pd = calloc(1, sizeof(*pd));
		uint8_t key[VX6_DHT_ID_LEN];
		char name[VX6_NAME_BUF];

		snprintf(name, sizeof(name), "n%u", p->idx);
		vx6_dhtkey_service(name, "web", key);
		pd->node = from;
		memcpy(pd->want_signer, p->id.pk, 32);
		pd->lookup_id = vx6_dht_lookup(from->dht, key, true, vx6_simnet_now(s.net));
		pd->next = s.pending;
		s.pending = pd;
		s.lookups++;
		schedule_wake(from);
		run_for(&s, 10 * MS);
	}
	run_for(&s, 60 * SEC);

	o.nodes = nodes;
	o.lookups = s.lookups;
	o.found = s.found;
	o.success = s.lookups ? (double)s.found / s.lookups : 0;
	qsort(s.hops, s.n_hops, sizeof(unsigned), cmp_uint);
	for (unsigned i = 0; i < s.n_hops; i++)
		o.mean_hops += s.hops[i];
	o.mean_hops = s.n_hops ? o.mean_hops / s.n_hops : 0;
	o.p95_hops = s.n_hops ? s.hops[(s.n_hops * 95) / 100 < s.n_hops ? (s.n_hops * 95) / 100 : s.n_hops - 1] : 0;
	o.msgs_per_lookup = s.lookups ? (double)s.lookup_msgs / s.lookups : 0;
	o.background_per_node_s = (double)(s.messages - msgs_before) / (double)s.n /
	    ((double)(vx6_simnet_now(s.net) - lookups_started) / SEC);
	o.events = vx6_simnet_events(s.net);
	o.seconds = (double)(clock() - t0) / CLOCKS_PER_SEC;
	printf("nodes=%u churn=%.0f%% loss=%.0f%% stores=%u/%u lookups=%u found=%u success=%.2f%% "
	    "hops mean=%.2f p95=%.0f msgs/lookup=%.1f all-msgs/node/s=%.2f events=%llu cpu=%.1fs\n",
	    nodes, churn * 100, loss * 100, s.stored_ok, s.stores, s.lookups, s.found, o.success * 100,
	    o.mean_hops, o.p95_hops, o.msgs_per_lookup, o.background_per_node_s,
	    (unsigned long long)o.events, o.seconds);
	fflush(stdout);

	{
		uint64_t hits = 0, misses = 0;
		for (size_t i = 0; i < s.n; i++) {
			hits += s.nodes[i]->cache.hits;
			misses += s.nodes[i]->cache.misses;
		}
		printf("  record verification cache: %llu hits, %llu misses (signature checks)\n",
		    (unsigned long long)hits, (unsigned long long)misses);
	}
	vx6_simnet_free(s.net, drop_event);
	for (size_t i = 0; i < s.n; i++) {
		vx6_dht_free(s.nodes[i]->dht);
		vx6_identity_wipe(&s.nodes[i]->id);
		free(s.nodes[i]);
	}
	while (s.pending) {
		struct pending *p = s.pending;
		s.pending = p->next;
		free(p);
	}
	free(s.nodes);
	free(pubs);
	free(s.hops);
	vx6_idmap_free(&s.byid);
	return o;
}

int
main(int argc, char **argv)
{
	unsigned nodes = 0, lookups = 1000, publishers = 100;
	double churn = 0.2, loss = 0;
	uint64_t seed = (uint64_t)time(NULL);

	if (sodium_init() < 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc)
			nodes = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--lookups") == 0 && i + 1 < argc)
			lookups = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--churn") == 0 && i + 1 < argc)
			churn = atof(argv[++i]);
		else if (strcmp(argv[i], "--loss") == 0 && i + 1 < argc)
			loss = atof(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: sim_dht [--nodes N] [--lookups L] [--churn F] [--loss F] [--seed S]\n");
			return 2;
		}
	}
	printf("seed=%llu (rerun with --seed to replay)\n", (unsigned long long)seed);
	if (nodes) {
		struct outcome o = scenario(nodes, publishers, lookups, churn, loss, seed);
		return o.success >= 0.99 ? 0 : 1;
	}
	/* CTest mode: 100 and 1,000 nodes, 20% churn. */
	struct outcome small = scenario(100, 50, 500, 0.2, 0, seed);
	struct outcome big = scenario(1000, 100, 1000, 0.2, 0, seed);
	int fail = 0;
	if (big.success < 0.99) {
		printf("FAIL: lookup success %.2f%% < 99%% with 1000 nodes and 20%% churn\n", big.success * 100);
		fail = 1;
	}
	if (small.success < 0.99) {
		printf("FAIL: lookup success %.2f%% < 99%% with 100 nodes\n", small.success * 100);
		fail = 1;
	}
	/* log N growth: 10x the nodes adds log2(10) ~ 3.3 bits; with k-buckets
	 * hops grow by about one; linear growth would multiply them by 10. */
	if (big.mean_hops > 2.0 * small.mean_hops + 0.5) {
		printf("FAIL: mean hops grew from %.2f (100 nodes) to %.2f (1000 nodes): not logarithmic\n",
		    small.mean_hops, big.mean_hops);
		fail = 1;
	}
	printf("%s\n", fail ? "sim_dht FAILED" : "sim_dht passed");
	return fail;
}
