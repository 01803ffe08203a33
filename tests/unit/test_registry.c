/*
 * test_registry — registry/registry: the SQLite registry of verified node
 * and service records, name pins and claims, and peers. Highest seq wins per
 * node id and per (node, service, signer); every claimant of a name is
 * listed; the first pin wins; live peers come fewest-failures-first, then
 * most recent, joined with their node records; eviction drops expired rows
 * and keeps the most recently seen within the limits; a file survives close
 * and reopen; a corrupt file is moved aside to path.corrupt and replaced by a
 * working empty registry. Files live in a mkdtemp() directory per test.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/record.h"
#include "lib/err.h"
#include "registry/registry.h"
#include "testutil.h"

#define T0 1800000000ULL
#define HOUR 3600ULL
#define MAXREC 32

/* --- fixtures ------------------------------------------------------------- */

struct noderec {
	struct vx6_node_record r;
	uint8_t bytes[VX6_RECORD_MAX_LEN];
	size_t len;
};

struct svcrec {
	struct vx6_service_record r;
	uint8_t bytes[VX6_RECORD_MAX_LEN];
	size_t len;
};

static struct vx6_identity ids[8];

static void
make_node(struct noderec *n, unsigned who, const char *name, uint64_t seq, uint64_t expires)
{
	int len;

	memset(n, 0, sizeof(*n));
	snprintf(n->r.name, sizeof(n->r.name), "%s", name);
	n->r.n_addrs = 1;
	n->r.addrs[0].family = 4;
	n->r.addrs[0].ip[0] = 10;
	n->r.addrs[0].ip[3] = (uint8_t)who;
	n->r.addrs[0].port = (uint16_t)(4000 + seq % 1000);
	n->r.seq = seq;
	n->r.issued_at = T0;
	n->r.expires_at = expires;
	len = vx6_node_record_sign(&n->r, &ids[who], n->bytes, sizeof(n->bytes));
	assert_true(len > 0);
	n->len = (size_t)len;
}

static void
make_service(struct svcrec *s, unsigned who, const char *node, const char *svc, uint64_t seq,
    uint64_t expires)
{
	int len;

	memset(s, 0, sizeof(*s));
	snprintf(s->r.node_name, sizeof(s->r.node_name), "%s", node);
	snprintf(s->r.service, sizeof(s->r.service), "%s", svc);
	s->r.seq = seq;
	s->r.issued_at = T0;
	s->r.expires_at = expires;
	len = vx6_service_record_sign(&s->r, &ids[who], s->bytes, sizeof(s->bytes));
	assert_true(len > 0);
	s->len = (size_t)len;
}

/* Records handed to a callback, copied. */
struct recs {
	unsigned n;
	uint8_t bytes[MAXREC][VX6_RECORD_MAX_LEN];
	size_t len[MAXREC];
};

static void
collect(void *ud, const uint8_t *bytes, size_t len)
{
	struct recs *c = ud;

	assert_true(c->n < MAXREC && len <= VX6_RECORD_MAX_LEN);
	memcpy(c->bytes[c->n], bytes, len);
	c->len[c->n++] = len;
}

static bool
has_rec(const struct recs *c, const uint8_t *bytes, size_t len)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->len[i] == len && memcmp(c->bytes[i], bytes, len) == 0)
			return true;
	return false;
}

static int
index_of(const struct recs *c, const uint8_t *bytes, size_t len)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->len[i] == len && memcmp(c->bytes[i], bytes, len) == 0)
			return (int)i;
	return -1;
}

struct claims {
	unsigned n;
	uint8_t key[MAXREC][VX6_KEY_LEN];
	int64_t first_seen[MAXREC];
};

static void
collect_claim(void *ud, const uint8_t key[VX6_KEY_LEN], int64_t first_seen)
{
	struct claims *c = ud;

	assert_true(c->n < MAXREC);
	memcpy(c->key[c->n], key, VX6_KEY_LEN);
	c->first_seen[c->n++] = first_seen;
}

static int64_t
claim_of(const struct claims *c, const uint8_t *key)
{
	for (unsigned i = 0; i < c->n; i++)
		if (memcmp(c->key[i], key, VX6_KEY_LEN) == 0)
			return c->first_seen[i];
	return -1;
}

static struct vx6_registry *
open_ok(const char *path, const struct vx6_registry_limits *lim, bool want_rebuilt)
{
	struct vx6_registry *r = NULL;
	bool rebuilt = !want_rebuilt;
	char note[2048];

	assert_int_equal(vx6_registry_open(path, lim, &r, &rebuilt, note, sizeof(note)), 0);
	assert_non_null(r);
	assert_int_equal(rebuilt, want_rebuilt);
	return r;
}

/* Returns 0 and the record of id in out, or the registry's error. */
static int
get_node(struct vx6_registry *r, const struct vx6_identity *id, uint64_t now, struct noderec *out)
{
	return vx6_registry_get_node(r, id->node_id, now, out->bytes, sizeof(out->bytes), &out->len);
}

/* --- temp directory --------------------------------------------------------- */

struct tmp {
	char dir[256];
	char path[300];
};

static int
setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));
	const char *base = getenv("TMPDIR");

	if (t == NULL)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "%s/vx6-reg-XXXXXX", base && *base ? base : "/tmp");
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/registry.db", t->dir);
	*state = t;
	return 0;
}

static int
teardown_tmp(void **state)
{
	struct tmp *t = *state;
	DIR *d = opendir(t->dir);
	struct dirent *e;
	char p[600];

	while (d && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", t->dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(t->dir);
	free(t);
	return 0;
}

static int
group_setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	for (unsigned i = 0; i < 8; i++)
		tu_identity(&ids[i], (uint8_t)(0xa0 + i));
	return 0;
}

/* --- nodes -------------------------------------------------------------------- */

/* A ":memory:" registry opens empty and is never "rebuilt"; close(NULL) is a no-op. */
static void
test_open_memory(void **state)
{
	struct vx6_registry *r = open_ok(":memory:", NULL, false);
	struct vx6_registry_counts c;

	(void)state;
	vx6_registry_counts(r, &c);
	assert_int_equal(c.nodes + c.services + c.pins + c.claims + c.peers, 0);
	vx6_registry_close(r);
	vx6_registry_close(NULL);
}

/* put/get node keeps the highest seq (lower or equal seq never replaces); expired and unknown are NOT_FOUND. */
static void
test_node_highest_seq(void **state)
{
	struct vx6_registry *r = open_ok(":memory:", NULL, false);
	struct noderec n5, n4, n5b, n6, got;
	struct vx6_registry_counts c;

	(void)state;
	make_node(&n5, 1, "alice", 5, T0 + HOUR);
	make_node(&n4, 1, "alice", 4, T0 + 2 * HOUR);
	make_node(&n5b, 1, "alice", 5, T0 + 3 * HOUR);   /* same seq, other bytes */
	make_node(&n6, 1, "alice", 6, T0 + HOUR);
	assert_int_equal(get_node(r, &ids[1], T0, &got), VX6_ERR_NOT_FOUND);

	assert_int_equal(vx6_registry_put_node(r, &n5.r, n5.bytes, n5.len, T0), 0);
	assert_int_equal(get_node(r, &ids[1], T0, &got), 0);
	assert_int_equal(got.len, n5.len);
	assert_memory_equal(got.bytes, n5.bytes, n5.len);

	assert_int_equal(vx6_registry_put_node(r, &n4.r, n4.bytes, n4.len, T0 + 1), 0);
	assert_int_equal(get_node(r, &ids[1], T0, &got), 0);
	assert_memory_equal(got.bytes, n5.bytes, n5.len);
	assert_int_equal(vx6_registry_put_node(r, &n5b.r, n5b.bytes, n5b.len, T0 + 2), 0);
	assert_int_equal(get_node(r, &ids[1], T0, &got), 0);
	assert_memory_equal(got.bytes, n5.bytes, n5.len);

	assert_int_equal(vx6_registry_put_node(r, &n6.r, n6.bytes, n6.len, T0 + 3), 0);
	assert_int_equal(get_node(r, &ids[1], T0, &got), 0);
	assert_int_equal(got.len, n6.len);
	assert_memory_equal(got.bytes, n6.bytes, n6.len);
	assert_int_equal(vx6_registry_put_node(r, &n5.r, n5.bytes, n5.len, T0 + 4), 0);
	assert_int_equal(get_node(r, &ids[1], T0, &got), 0);
	assert_memory_equal(got.bytes, n6.bytes, n6.len);

	vx6_registry_counts(r, &c);
	assert_int_equal(c.nodes, 1);
	assert_int_equal(get_node(r, &ids[2], T0, &got), VX6_ERR_NOT_FOUND);
	assert_int_equal(get_node(r, &ids[1], T0 + HOUR - 1, &got), 0);
	assert_int_equal(get_node(r, &ids[1], T0 + HOUR, &got), VX6_ERR_NOT_FOUND);   /* expired */
	assert_true(vx6_registry_get_node(r, ids[1].node_id, T0, got.bytes, n6.len - 1, &got.len) < 0);
	vx6_registry_close(r);
}

/* nodes_by_name lists every unexpired claimant; claims list each key with its first_seen, never updated. */
static void
test_nodes_by_name_and_claims(void **state)
{
	struct vx6_registry *r = open_ok(":memory:", NULL, false);
	struct noderec a1, a2, b1, c1, c1new, d1;
	struct recs got = { 0 };
	struct claims cl = { 0 };

	(void)state;
	make_node(&a1, 1, "alice", 1, T0 + HOUR);
	make_node(&b1, 2, "alice", 1, T0 + HOUR);
	make_node(&c1, 3, "alice", 1, T0 + HOUR);
	make_node(&c1new, 3, "alice", 2, T0 + HOUR);
	make_node(&d1, 4, "alice", 1, T0 + 10);          /* expires soon */
	make_node(&a2, 5, "bob", 1, T0 + HOUR);
	assert_int_equal(vx6_registry_put_node(r, &a1.r, a1.bytes, a1.len, T0 + 100), 0);
	assert_int_equal(vx6_registry_put_node(r, &b1.r, b1.bytes, b1.len, T0 + 200), 0);
	assert_int_equal(vx6_registry_put_node(r, &c1.r, c1.bytes, c1.len, T0 + 300), 0);
	assert_int_equal(vx6_registry_put_node(r, &d1.r, d1.bytes, d1.len, T0 + 5), 0);
	assert_int_equal(vx6_registry_put_node(r, &a2.r, a2.bytes, a2.len, T0 + 400), 0);
	assert_int_equal(vx6_registry_put_node(r, &c1new.r, c1new.bytes, c1new.len, T0 + 500), 0);

	assert_int_equal(vx6_registry_nodes_by_name(r, "alice", T0, collect, &got), 4);
	memset(&got, 0, sizeof(got));
	assert_int_equal(vx6_registry_nodes_by_name(r, "alice", T0 + 20, collect, &got), 3);
	assert_int_equal(got.n, 3);
	assert_true(has_rec(&got, a1.bytes, a1.len));
	assert_true(has_rec(&got, b1.bytes, b1.len));
	assert_true(has_rec(&got, c1new.bytes, c1new.len));
	assert_false(has_rec(&got, c1.bytes, c1.len));
	memset(&got, 0, sizeof(got));
	assert_int_equal(vx6_registry_nodes_by_name(r, "bob", T0, collect, &got), 1);
	assert_memory_equal(got.bytes[0], a2.bytes, a2.len);
	assert_int_equal(vx6_registry_nodes_by_name(r, "carol", T0, collect, &got), 0);

	assert_int_equal(vx6_registry_claims(r, "alice", collect_claim, &cl), 4);
	assert_int_equal(cl.n, 4);
	assert_int_equal(claim_of(&cl, ids[1].pk), T0 + 100);
	assert_int_equal(claim_of(&cl, ids[2].pk), T0 + 200);
	assert_int_equal(claim_of(&cl, ids[3].pk), T0 + 300);   /* not T0 + 500 */
	assert_int_equal(claim_of(&cl, ids[4].pk), T0 + 5);
	for (unsigned i = 1; i < cl.n; i++)
		assert_true(cl.first_seen[i - 1] <= cl.first_seen[i]);   /* oldest first */
	memset(&cl, 0, sizeof(cl));
	assert_int_equal(vx6_registry_claims(r, "bob", collect_claim, &cl), 1);
	assert_memory_equal(cl.key[0], ids[5].pk, 32);
	vx6_registry_close(r);
}

/* --- services ------------------------------------------------------------------- */

/* Services keep the highest seq per (node, service, signer); other signers and services are separate. */
static void
test_services_highest_seq_per_signer(void **state)
{
	struct vx6_registry *r = open_ok(":memory:", NULL, false);
	struct svcrec a1, a2, a3, b1, m1, bobweb;
	struct recs got = { 0 };
	struct vx6_registry_counts c;

	(void)state;
	make_service(&a1, 1, "alice", "web", 1, T0 + HOUR);
	make_service(&a2, 1, "alice", "web", 2, T0 + HOUR);
	make_service(&a3, 1, "alice", "web", 3, T0 + HOUR);
	make_service(&b1, 2, "alice", "web", 1, T0 + HOUR);
	make_service(&m1, 1, "alice", "mail", 1, T0 + HOUR);
	make_service(&bobweb, 1, "bob", "web", 1, T0 + HOUR);
	assert_int_equal(vx6_registry_put_service(r, &a2.r, a2.bytes, a2.len, T0), 0);
	assert_int_equal(vx6_registry_put_service(r, &a1.r, a1.bytes, a1.len, T0 + 1), 0);
	assert_int_equal(vx6_registry_put_service(r, &b1.r, b1.bytes, b1.len, T0 + 2), 0);
	assert_int_equal(vx6_registry_put_service(r, &m1.r, m1.bytes, m1.len, T0 + 3), 0);
	assert_int_equal(vx6_registry_put_service(r, &bobweb.r, bobweb.bytes, bobweb.len, T0 + 3), 0);

	assert_int_equal(vx6_registry_services(r, "alice", "web", T0, collect, &got), 2);
	assert_true(has_rec(&got, a2.bytes, a2.len));
	assert_true(has_rec(&got, b1.bytes, b1.len));
	assert_false(has_rec(&got, a1.bytes, a1.len));

	assert_int_equal(vx6_registry_put_service(r, &a3.r, a3.bytes, a3.len, T0 + 4), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(vx6_registry_services(r, "alice", "web", T0, collect, &got), 2);
	assert_true(has_rec(&got, a3.bytes, a3.len));
	assert_true(has_rec(&got, b1.bytes, b1.len));

	memset(&got, 0, sizeof(got));
	assert_int_equal(vx6_registry_services(r, "alice", "mail", T0, collect, &got), 1);
	assert_memory_equal(got.bytes[0], m1.bytes, m1.len);
	assert_int_equal(vx6_registry_services(r, "alice", "ftp", T0, collect, &got), 0);
	assert_int_equal(vx6_registry_services(r, "alice", "web", T0 + HOUR, collect, &got), 0);   /* expired */
	memset(&got, 0, sizeof(got));
	assert_int_equal(vx6_registry_all_services(r, T0, collect, &got), 4);
	vx6_registry_counts(r, &c);
	assert_int_equal(c.services, 4);
	vx6_registry_close(r);
}

/* --- pins ------------------------------------------------------------------------ */

/* The first pin wins: a different key gets VX6_ERR_EXISTS; claims list every key by first_seen. */
static void
test_pins_first_wins(void **state)
{
	struct vx6_registry *r = open_ok(":memory:", NULL, false);
	uint8_t key[VX6_KEY_LEN];
	int64_t first = 0;
	struct claims cl = { 0 };

	(void)state;
	assert_int_equal(vx6_registry_pin_get(r, "alice", key, &first), VX6_ERR_NOT_FOUND);
	assert_int_equal(vx6_registry_pin_set(r, "alice", ids[1].pk, 100), 0);
	assert_int_equal(vx6_registry_pin_set(r, "alice", ids[1].pk, 999), 0);
	assert_int_equal(vx6_registry_pin_set(r, "alice", ids[2].pk, 200), VX6_ERR_EXISTS);
	assert_int_equal(vx6_registry_pin_get(r, "alice", key, &first), 0);
	assert_memory_equal(key, ids[1].pk, 32);
	assert_int_equal(first, 100);
	assert_int_equal(vx6_registry_pin_get(r, "alice", key, NULL), 0);
	assert_int_equal(vx6_registry_pin_set(r, "bob", ids[2].pk, 300), 0);
	assert_int_equal(vx6_registry_pin_get(r, "bob", key, &first), 0);
	assert_memory_equal(key, ids[2].pk, 32);
	assert_int_equal(first, 300);

	assert_int_equal(vx6_registry_claim(r, "alice", ids[1].pk, 100), 0);
	assert_int_equal(vx6_registry_claim(r, "alice", ids[2].pk, 200), 0);
	assert_int_equal(vx6_registry_claim(r, "alice", ids[3].pk, 150), 0);
	assert_int_equal(vx6_registry_claim(r, "alice", ids[1].pk, 400), 0);   /* seen again */
	assert_int_equal(vx6_registry_claims(r, "alice", collect_claim, &cl), 3);
	assert_memory_equal(cl.key[0], ids[1].pk, 32);
	assert_int_equal(cl.first_seen[0], 100);
	assert_memory_equal(cl.key[1], ids[3].pk, 32);
	assert_int_equal(cl.first_seen[1], 150);
	assert_memory_equal(cl.key[2], ids[2].pk, 32);
	assert_int_equal(cl.first_seen[2], 200);
	vx6_registry_close(r);
}

/* --- peers ------------------------------------------------------------------------ */

/* live_peers orders by failures then recency, joins unexpired node records, honours the limit. */
static void
test_live_peers_order(void **state)
{
	struct vx6_registry *r = open_ok(":memory:", NULL, false);
	struct noderec n[6];
	struct recs got = { 0 };

	(void)state;
	for (unsigned i = 1; i <= 5; i++) {
		make_node(&n[i], i, "peer", 1, i == 5 ? T0 + 10 : T0 + HOUR);
		if (i != 4)   /* peer 4 has no node record */
			assert_int_equal(vx6_registry_put_node(r, &n[i].r, n[i].bytes, n[i].len, T0), 0);
	}
	assert_int_equal(vx6_registry_peer_seen(r, ids[1].node_id, T0 + 10, 5.0), 0);
	assert_int_equal(vx6_registry_peer_seen(r, ids[2].node_id, T0 + 20, 0), 0);
	assert_int_equal(vx6_registry_peer_seen(r, ids[3].node_id, T0 + 30, 1.5), 0);
	assert_int_equal(vx6_registry_peer_seen(r, ids[4].node_id, T0 + 40, 1.0), 0);
	assert_int_equal(vx6_registry_peer_seen(r, ids[5].node_id, T0 + 50, 1.0), 0);
	assert_int_equal(vx6_registry_peer_failed(r, ids[3].node_id), 0);
	assert_int_equal(vx6_registry_peer_failed(r, ids[2].node_id), 0);
	assert_int_equal(vx6_registry_peer_failed(r, ids[2].node_id), 0);
	assert_int_equal(vx6_registry_peer_failed(r, ids[7].node_id), 0);   /* unknown: no-op */

	/* At T0 + 20, peer 5's record has expired. Order: 1 (0 failures),
	 * 3 (1 failure), 2 (2 failures). */
	assert_int_equal(vx6_registry_live_peers(r, 10, T0 + 20, collect, &got), 3);
	assert_memory_equal(got.bytes[0], n[1].bytes, n[1].len);
	assert_memory_equal(got.bytes[1], n[3].bytes, n[3].len);
	assert_memory_equal(got.bytes[2], n[2].bytes, n[2].len);
	/* Before peer 5 expires it comes first (0 failures, most recent). */
	memset(&got, 0, sizeof(got));
	assert_int_equal(vx6_registry_live_peers(r, 2, T0, collect, &got), 2);
	assert_memory_equal(got.bytes[0], n[5].bytes, n[5].len);
	assert_memory_equal(got.bytes[1], n[1].bytes, n[1].len);
	/* Seeing peer 2 again clears its failures and makes it the most recent. */
	assert_int_equal(vx6_registry_peer_seen(r, ids[2].node_id, T0 + 60, 2.0), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(vx6_registry_live_peers(r, 10, T0 + 20, collect, &got), 3);
	assert_memory_equal(got.bytes[0], n[2].bytes, n[2].len);
	assert_memory_equal(got.bytes[1], n[1].bytes, n[1].len);
	assert_memory_equal(got.bytes[2], n[3].bytes, n[3].len);
	assert_int_equal(index_of(&got, n[4].bytes, n[4].len), -1);
	vx6_registry_close(r);
}

/* --- eviction ----------------------------------------------------------------------- */

/* evict drops expired rows and keeps the most recently seen within small limits; pins and claims stay. */
static void
test_evict_limits(void **state)
{
	struct vx6_registry_limits lim = { .max_nodes = 3, .max_services = 2, .max_peers = 2 };
	struct vx6_registry *r = open_ok(":memory:", &lim, false);
	struct vx6_registry_counts c;
	struct noderec n[7], got;
	struct svcrec s[5];
	struct recs all = { 0 };

	(void)state;
	/* Nodes 1..6 seen at T0+1..T0+6; node 6 expires at T0+50. */
	for (unsigned i = 1; i <= 6; i++) {
		make_node(&n[i], i, "n", 1, i == 6 ? T0 + 50 : T0 + HOUR);
		assert_int_equal(vx6_registry_put_node(r, &n[i].r, n[i].bytes, n[i].len, T0 + i), 0);
		assert_int_equal(vx6_registry_peer_seen(r, ids[i].node_id, (int64_t)(T0 + i), 1.0), 0);
	}
	/* Services seen at T0+1..T0+4; service 4 expires at T0+50. */
	make_service(&s[1], 1, "a", "web", 1, T0 + HOUR);
	make_service(&s[2], 2, "a", "web", 1, T0 + HOUR);
	make_service(&s[3], 1, "a", "mail", 1, T0 + HOUR);
	make_service(&s[4], 1, "b", "web", 1, T0 + 50);
	for (unsigned i = 1; i <= 4; i++)
		assert_int_equal(vx6_registry_put_service(r, &s[i].r, s[i].bytes, s[i].len, T0 + i), 0);
	assert_int_equal(vx6_registry_pin_set(r, "n", ids[1].pk, 1), 0);

	assert_int_equal(vx6_registry_evict(r, T0 + 100), 0);
	vx6_registry_counts(r, &c);
	assert_int_equal(c.nodes, 3);
	assert_int_equal(c.services, 2);
	assert_int_equal(c.peers, 2);
	assert_int_equal(c.pins, 1);
	assert_int_equal(c.claims, 6);
	/* Node 6 expired; of 1..5 the three most recently seen stay. */
	for (unsigned i = 1; i <= 6; i++)
		assert_int_equal(get_node(r, &ids[i], T0 + 10, &got), (i >= 3 && i <= 5) ? 0 : VX6_ERR_NOT_FOUND);
	/* Service 4 expired; of 1..3 the two most recent stay. */
	assert_int_equal(vx6_registry_all_services(r, T0, collect, &all), 2);
	assert_true(has_rec(&all, s[2].bytes, s[2].len));
	assert_true(has_rec(&all, s[3].bytes, s[3].len));
	/* Peers: the two most recently seen (5 and 6). */
	memset(&all, 0, sizeof(all));
	assert_int_equal(vx6_registry_live_peers(r, 10, T0 + 10, collect, &all), 1);   /* 6's record is gone */
	assert_memory_equal(all.bytes[0], n[5].bytes, n[5].len);

	/* Idempotent; nothing more to drop. */
	assert_int_equal(vx6_registry_evict(r, T0 + 100), 0);
	vx6_registry_counts(r, &c);
	assert_int_equal(c.nodes, 3);
	/* Everything expires eventually. */
	assert_int_equal(vx6_registry_evict(r, T0 + HOUR), 0);
	vx6_registry_counts(r, &c);
	assert_int_equal(c.nodes, 0);
	assert_int_equal(c.services, 0);
	assert_int_equal(c.pins, 1);
	vx6_registry_close(r);
}

/* --- files ---------------------------------------------------------------------------- */

static void
fill_registry(struct vx6_registry *r, struct noderec *n, struct svcrec *s)
{
	make_node(n, 1, "alice", 7, T0 + HOUR);
	make_service(s, 1, "alice", "web", 7, T0 + HOUR);
	assert_int_equal(vx6_registry_put_node(r, &n->r, n->bytes, n->len, T0), 0);
	assert_int_equal(vx6_registry_put_service(r, &s->r, s->bytes, s->len, T0), 0);
	assert_int_equal(vx6_registry_pin_set(r, "alice", ids[1].pk, 42), 0);
	assert_int_equal(vx6_registry_claim(r, "alice", ids[2].pk, 43), 0);
	assert_int_equal(vx6_registry_peer_seen(r, ids[1].node_id, T0, 3.0), 0);
}

/* A file registry keeps nodes, services, pins, claims and peers across close and reopen. */
static void
test_persistence(void **state)
{
	struct tmp *t = *state;
	struct vx6_registry *r = open_ok(t->path, NULL, false);
	struct noderec n, got;
	struct svcrec s;
	struct recs rs = { 0 };
	struct claims cl = { 0 };
	struct vx6_registry_counts c;
	uint8_t key[32];
	int64_t first;

	fill_registry(r, &n, &s);
	vx6_registry_close(r);

	r = open_ok(t->path, NULL, false);
	assert_int_equal(get_node(r, &ids[1], T0, &got), 0);
	assert_memory_equal(got.bytes, n.bytes, n.len);
	assert_int_equal(vx6_registry_services(r, "alice", "web", T0, collect, &rs), 1);
	assert_memory_equal(rs.bytes[0], s.bytes, s.len);
	assert_int_equal(vx6_registry_pin_get(r, "alice", key, &first), 0);
	assert_memory_equal(key, ids[1].pk, 32);
	assert_int_equal(first, 42);
	assert_int_equal(vx6_registry_claims(r, "alice", collect_claim, &cl), 2);
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(vx6_registry_live_peers(r, 5, T0, collect, &rs), 1);
	vx6_registry_counts(r, &c);
	assert_int_equal(c.nodes, 1);
	assert_int_equal(c.peers, 1);
	vx6_registry_close(r);
}

static void
write_file(const char *path, const uint8_t *p, size_t len, off_t at, bool truncate)
{
	int fd = open(path, O_WRONLY | O_CREAT | (truncate ? O_TRUNC : 0), 0600);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, len, at), (ssize_t)len);
	close(fd);
}

static size_t
read_file(const char *path, uint8_t *p, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(p, 1, cap, f);
	fclose(f);
	return n;
}

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Opens a corrupt file expecting it moved to path.corrupt (with the bad
 * bytes kept), "rebuilt" set, a note naming the new file, and a working,
 * empty registry that is a valid file on the next open. */
static void
expect_rebuilt(const char *path, const uint8_t *bad, size_t badlen)
{
	struct vx6_registry *r = NULL;
	struct vx6_registry_counts c;
	struct noderec n, got;
	bool rebuilt = false;
	char note[2048], aside[400];
	static uint8_t kept[1 << 16];

	snprintf(aside, sizeof(aside), "%s.corrupt", path);
	unlink(aside);
	assert_int_equal(vx6_registry_open(path, NULL, &r, &rebuilt, note, sizeof(note)), 0);
	assert_non_null(r);
	assert_true(rebuilt);
	assert_non_null(strstr(note, aside));
	assert_true(exists(aside));
	if (bad) {
		assert_int_equal(read_file(aside, kept, sizeof(kept)), badlen);
		assert_memory_equal(kept, bad, badlen);
	}
	vx6_registry_counts(r, &c);
	assert_int_equal(c.nodes + c.services + c.pins + c.claims + c.peers, 0);
	make_node(&n, 3, "carol", 1, T0 + HOUR);
	assert_int_equal(vx6_registry_put_node(r, &n.r, n.bytes, n.len, T0), 0);
	assert_int_equal(get_node(r, &ids[3], T0, &got), 0);
	vx6_registry_close(r);
	r = open_ok(path, NULL, false);
	assert_int_equal(get_node(r, &ids[3], T0, &got), 0);
	vx6_registry_close(r);
}

/* A file of random bytes is moved to path.corrupt and replaced by a working empty registry. */
static void
test_corrupt_random_file(void **state)
{
	struct tmp *t = *state;
	static uint8_t junk[8192];
	struct vx6_det_rng rng;

	vx6_det_rng_init(&rng, 77);
	vx6_det_rng_fill(&rng, junk, sizeof(junk));
	write_file(t->path, junk, sizeof(junk), 0, true);
	expect_rebuilt(t->path, junk, sizeof(junk));
}

/* A registry with garbage over its header, or over all its pages, is moved aside and rebuilt empty. */
static void
test_corrupt_overwritten_registry(void **state)
{
	struct tmp *t = *state;
	static uint8_t junk[1 << 16], before[1 << 16];
	struct vx6_registry *r;
	struct noderec n;
	struct svcrec s;
	struct vx6_det_rng rng;
	struct stat st;
	size_t len;

	vx6_det_rng_init(&rng, 78);
	for (int variant = 0; variant < 2; variant++) {
		r = open_ok(t->path, NULL, false);
		fill_registry(r, &n, &s);
		for (unsigned i = 0; i < 4; i++) {   /* a few pages' worth */
			struct noderec m;
			make_node(&m, 2 + i, "filler", 1, T0 + HOUR);
			assert_int_equal(vx6_registry_put_node(r, &m.r, m.bytes, m.len, T0), 0);
		}
		vx6_registry_close(r);
		assert_int_equal(stat(t->path, &st), 0);
		assert_true(st.st_size >= 8192 && (size_t)st.st_size <= sizeof(junk));
		vx6_det_rng_fill(&rng, junk, sizeof(junk));
		if (variant == 0) {
			write_file(t->path, junk, 4096, 0, false);
		} else {
			/* Keep the 100-byte header (the page size in it), trash the rest. */
			write_file(t->path, junk, (size_t)st.st_size - 100, 100, false);
		}
		len = read_file(t->path, before, sizeof(before));
		expect_rebuilt(t->path, before, len);
		unlink(t->path);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_memory),
		cmocka_unit_test(test_node_highest_seq),
		cmocka_unit_test(test_nodes_by_name_and_claims),
		cmocka_unit_test(test_services_highest_seq_per_signer),
		cmocka_unit_test(test_pins_first_wins),
		cmocka_unit_test(test_live_peers_order),
		cmocka_unit_test(test_evict_limits),
		cmocka_unit_test_setup_teardown(test_persistence, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_corrupt_random_file, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_corrupt_overwritten_registry, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
