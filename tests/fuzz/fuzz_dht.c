/*
 * fuzz_dht — the DHT's message entry point (vx6_dht_recv, src/core/dht.h)
 * with real VX6 validation (core/dhtval.c), stateful.
 *
 * Set-up (deterministic): a DHT node with eight contacts (signed node records
 * of fixed identities), one value stored, and a value lookup in flight whose
 * request txids are captured from the send callback.
 * Feeds: the input as a sequence of operations, each a selector byte then:
 *   0: a message from contact[b % 8] (length u8, bytes), raw;
 *   1: a response from the contact a pending request went to, with that
 *      request's txid patched in, so response parsing goes past the txid
 *      check; the kind and body come from the input;
 *   2: advance the clock and run handle_expiry (timeouts, maintenance);
 *   3: start another lookup or store with a key from the input.
 * Invariants: no crash, no leak, lookup_done never runs for an id the
 * harness does not know, contacts never exceed 257 buckets of k, and every
 * value the node serves afterwards still validates under its key.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dht.h"
#include "core/dhtval.h"
#include "core/record.h"
#include "lib/err.h"

#define NCONTACTS 8
#define WALL 1800000000ULL
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_dht: invariant failed at line %d: %s\n", \
	__LINE__, #c); __builtin_trap(); } } while (0)

struct sent {
	uint8_t to[32];
	uint32_t txid;
	uint8_t kind;
};

struct h {
	struct vx6_dht *d;
	struct vx6_dhtval_cache cache;
	struct vx6_det_rng rng;
	struct vx6_env env;
	struct vx6_log log;
	struct vx6_dht_cbs cbs;
	uint64_t now;
	uint8_t recs[NCONTACTS][VX6_RECORD_MAX_LEN];
	size_t lens[NCONTACTS];
	uint8_t ids[NCONTACTS][32];
	struct sent sent[64];
	unsigned n_sent;
	uint64_t known_lookups[64];
	unsigned n_known;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vx6_identity idents[NCONTACTS + 1];
static int ready;

static void
on_send(void *ud, const uint8_t id[32], const uint8_t *rec, size_t reclen, const uint8_t *msg, size_t len)
{
	struct h *h = ud;

	(void)rec;
	(void)reclen;
	if (len >= 6 && h->n_sent < 64) {
		memcpy(h->sent[h->n_sent].to, id, 32);
		h->sent[h->n_sent].kind = msg[1];
		h->sent[h->n_sent].txid = (uint32_t)msg[2] << 24 | (uint32_t)msg[3] << 16 |
		    (uint32_t)msg[4] << 8 | msg[5];
		h->n_sent++;
	}
}

static void
on_done(void *ud, uint64_t id, const struct vx6_dht_result *res)
{
	struct h *h = ud;
	bool known = false;

	for (unsigned i = 0; i < h->n_known; i++)
		known |= h->known_lookups[i] == id;
	CHECK(known);
	CHECK(res->n_values <= VX6_DHT_MAX_RESULT_VALUES);
}

static int
validate(void *ud, const uint8_t key[32], const uint8_t *v, size_t len, uint64_t now,
    struct vx6_dht_value_info *info)
{
	return vx6_dhtval_validate(&((struct h *)ud)->cache, key, v, len, now, info);
}

static int
contact(void *ud, const uint8_t *c, size_t len, uint64_t now, uint8_t id[32], uint64_t *seq)
{
	return vx6_dhtval_contact_id(&((struct h *)ud)->cache, c, len, now, id, seq);
}

static uint64_t
wall(void *ud)
{
	return WALL + ((struct h *)ud)->now / VX6_NS_PER_SEC;
}

static void
setup_identities(void)
{
	uint8_t seed[32];

	for (int i = 0; i <= NCONTACTS; i++) {
		memset(seed, 0x40 + i, sizeof(seed));
		vx6_identity_from_seed(&idents[i], seed);
	}
}

static void
make_record(struct h *h, int i)
{
	struct vx6_node_record r;
	int len;

	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "c%d", i);
	r.n_addrs = 1;
	r.addrs[0].family = 6;
	r.addrs[0].ip[15] = (uint8_t)(i + 1);
	r.addrs[0].port = 4242;
	r.seq = 1;
	r.issued_at = WALL;
	r.expires_at = WALL + 3600;
	len = vx6_node_record_sign(&r, &idents[i + 1], h->recs[i], sizeof(h->recs[i]));
	CHECK(len > 0);
	h->lens[i] = (size_t)len;
	memcpy(h->ids[i], idents[i + 1].node_id, 32);
}

static void
check_served(void *ud, const uint8_t *v, size_t len)
{
	(void)ud;
	CHECK(len > 0 && len <= VX6_DHT_MAX_VALUE && v != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h *h = calloc(1, sizeof(*h));
	struct vx6_dht_config cfg;
	uint8_t key[32], svc[VX6_RECORD_MAX_LEN], msg[512];
	struct vx6_service_record sr;
	size_t off = 0;
	int len;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		setup_identities();
		ready = 1;
	}
	vx6_det_rng_init(&h->rng, 7);
	h->env.random = vx6_det_rng_fill;
	h->env.random_ud = &h->rng;
	h->env.log = &h->log;
	h->cbs.send = on_send;
	h->cbs.lookup_done = on_done;
	h->cbs.validate = validate;
	h->cbs.contact_id = contact;
	h->cbs.wall_time = wall;
	h->now = 1000 * VX6_NS_PER_SEC;
	vx6_dht_config_defaults(&cfg);
	h->d = vx6_dht_new(idents[0].node_id, &cfg, &h->env, &h->cbs, h);
	CHECK(h->d != NULL);
	for (int i = 0; i < NCONTACTS; i++) {
		make_record(h, i);
		CHECK(vx6_dht_add_contact(h->d, h->recs[i], h->lens[i], h->now) == 0);
	}
	/* One value held locally, and a lookup for it in flight. */
	memset(&sr, 0, sizeof(sr));
	snprintf(sr.node_name, sizeof(sr.node_name), "c0");
	snprintf(sr.service, sizeof(sr.service), "web");
	sr.seq = 1;
	sr.issued_at = WALL;
	sr.expires_at = WALL + 3600;
	len = vx6_service_record_sign(&sr, &idents[1], svc, sizeof(svc));
	CHECK(len > 0);
	vx6_dhtkey_service("c0", "web", key);
	h->known_lookups[h->n_known++] = vx6_dht_store(h->d, key, svc, (size_t)len, h->now);
	h->known_lookups[h->n_known++] = vx6_dht_lookup(h->d, key, true, h->now);
	vx6_dht_handle_expiry(h->d, h->now);

	while (off < size) {
		uint8_t op = data[off++];
		switch (op % 4) {
		case 0: {
			size_t n;
			if (off + 2 > size)
				goto done;
			n = data[off + 1];
			const uint8_t *from = h->ids[data[off] % NCONTACTS];
			off += 2;
			if (n > size - off)
				n = size - off;
			vx6_dht_recv(h->d, from, data + off, n, h->now);
			off += n;
			break;
		}
		case 1: {
			size_t n;
			struct sent *s;
			if (h->n_sent == 0 || off + 3 > size)
				goto done;
			s = &h->sent[data[off] % h->n_sent];
			n = data[off + 2];
			msg[0] = 1;
			msg[1] = data[off + 1] | 0x80;   /* a response kind */
			msg[2] = (uint8_t)(s->txid >> 24);
			msg[3] = (uint8_t)(s->txid >> 16);
			msg[4] = (uint8_t)(s->txid >> 8);
			msg[5] = (uint8_t)s->txid;
			off += 3;
			if (n > size - off)
				n = size - off;
			if (n > sizeof(msg) - 6)
				n = sizeof(msg) - 6;
			memcpy(msg + 6, data + off, n);
			off += n;
			vx6_dht_recv(h->d, s->to, msg, 6 + n, h->now);
			break;
		}
		case 2:
			if (off >= size)
				goto done;
			h->now += (uint64_t)(data[off++] + 1) * 100 * VX6_NS_PER_MS;
			vx6_dht_handle_expiry(h->d, h->now);
			break;
		case 3: {
			uint8_t k[32] = { 0 };
			size_t n = size - off < 32 ? size - off : 32;
			memcpy(k, data + off, n);
			off += n;
			if (h->n_known < 64) {
				uint64_t id = (op & 4) ? vx6_dht_store(h->d, k, svc, (size_t)len, h->now) :
				    vx6_dht_lookup(h->d, k, op & 8, h->now);
				if (id)
					h->known_lookups[h->n_known++] = id;
			}
			break;
		}
		}
	}
done:
	{
		struct vx6_dht_stats st;
		vx6_dht_stats(h->d, &st);
		CHECK(st.contacts <= 257u * VX6_DHT_K);
	}
	vx6_dht_local_get(h->d, key, check_served, h);
	vx6_dht_free(h->d);
	free(h);
	return 0;
}
