/*
 * test_record — core/record: signed node and service records
 * (docs/PROTOCOL.md §11). Round trips re-encode to the same bytes; every
 * 1-bit flip, truncated prefix and trailing byte fails; the node id must
 * derive from the key; signatures are domain-separated; the validity window
 * is enforced; encoders refuse what decoders reject, and hand-built encodings
 * of the same invalid fields (validly signed, so only the field check can
 * catch them) decode as MALFORMED.
 *
 * Hand-built records go through raw_node()/raw_service(), a second, naive
 * writer of the §11 layout; a control in each test shows that the same
 * builder with valid fields produces a record that decodes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/record.h"
#include "crypto/identity.h"
#include "lib/err.h"
#include "testutil.h"

#define T0 1800000000ULL   /* the wall clock of these tests (unix seconds) */
#define HOUR 3600ULL
#define DAYS7 (7ULL * 24 * 3600)

/* --- fixtures ------------------------------------------------------------ */

static void
v4(struct vx6_addr *a, uint8_t last, uint16_t port, uint8_t transport)
{
	memset(a, 0, sizeof(*a));
	a->family = 4;
	a->transport = transport;
	a->port = port;
	a->ip[0] = 192;
	a->ip[1] = 0;
	a->ip[2] = 2;
	a->ip[3] = last;
}

static void
v6(struct vx6_addr *a, uint8_t last, uint16_t port, uint8_t transport)
{
	memset(a, 0, sizeof(*a));
	a->family = 6;
	a->transport = transport;
	a->port = port;
	a->ip[0] = 0x20;
	a->ip[1] = 0x01;
	a->ip[2] = 0x0d;
	a->ip[3] = 0xb8;
	a->ip[15] = last;
}

static void
node_fields(struct vx6_node_record *r, const char *name, unsigned n_addrs, uint64_t seq, uint64_t issued,
    uint64_t expires)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->n_addrs = (uint8_t)n_addrs;
	for (unsigned i = 0; i < n_addrs && i < VX6_RECORD_MAX_ADDRS; i++) {
		if (i % 2)
			v6(&r->addrs[i], (uint8_t)(i + 1), (uint16_t)(4000 + i), (uint8_t)(i % 4 == 1));
		else
			v4(&r->addrs[i], (uint8_t)(i + 1), (uint16_t)(4000 + i), (uint8_t)(i % 4 == 2));
	}
	r->seq = seq;
	r->issued_at = issued;
	r->expires_at = expires;
}

static void
service_fields(struct vx6_service_record *r, const char *node, const char *service, uint64_t seq,
    uint64_t issued, uint64_t expires)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->node_name, sizeof(r->node_name), "%s", node);
	snprintf(r->service, sizeof(r->service), "%s", service);
	r->visibility = VX6_VISIBILITY_PUBLIC;
	r->seq = seq;
	r->issued_at = issued;
	r->expires_at = expires;
}

static size_t
sign_node(struct vx6_node_record *r, const struct vx6_identity *id, uint8_t *out, size_t cap)
{
	int n = vx6_node_record_sign(r, id, out, cap);

	assert_true(n > 0);
	return (size_t)n;
}

static size_t
sign_service(struct vx6_service_record *r, const struct vx6_identity *id, uint8_t *out, size_t cap)
{
	int n = vx6_service_record_sign(r, id, out, cap);

	assert_true(n > 0);
	return (size_t)n;
}

/* --- a naive second writer of the §11 layout ------------------------------ */

struct raw_addr {
	uint8_t transport, family;
	uint8_t ip[16];
	uint16_t port;
};

struct raw_node {
	uint8_t key[32], node_id[32];
	uint8_t name_len;
	char name[32];
	uint8_t flags, n_addrs;
	struct raw_addr addrs[12];
	uint64_t seq, issued, expires;
};

struct raw_service {
	uint8_t key[32];
	uint8_t node_len, svc_len;
	char node[32], svc[32];
	uint8_t visibility;
	uint64_t seq, issued, expires;
};

static size_t
put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	return bytes;
}

/* A valid raw node record of id (name "alice", one IPv4 address, issued T0,
 * one hour). */
static void
raw_node_init(struct raw_node *rn, const struct vx6_identity *id)
{
	memset(rn, 0, sizeof(*rn));
	memcpy(rn->key, id->pk, 32);
	memcpy(rn->node_id, id->node_id, 32);
	rn->name_len = 5;
	memcpy(rn->name, "alice", 5);
	rn->n_addrs = 1;
	rn->addrs[0] = (struct raw_addr){ .transport = 0, .family = 4, .ip = { 10, 0, 0, 1 }, .port = 4242 };
	rn->seq = T0;
	rn->issued = T0;
	rn->expires = T0 + HOUR;
}

static void
raw_service_init(struct raw_service *rs, const struct vx6_identity *id)
{
	memset(rs, 0, sizeof(*rs));
	memcpy(rs->key, id->pk, 32);
	rs->node_len = 5;
	memcpy(rs->node, "alice", 5);
	rs->svc_len = 3;
	memcpy(rs->svc, "web", 3);
	rs->seq = T0;
	rs->issued = T0;
	rs->expires = T0 + HOUR;
}

/* Writes the body (header included) of rn; returns its length. */
static size_t
raw_node_body(const struct raw_node *rn, uint8_t *p)
{
	size_t o = 0;

	memcpy(p, "VX6R", 4);
	o = 4;
	p[o++] = 1;
	p[o++] = VX6_RECORD_NODE;
	memcpy(p + o, rn->key, 32);
	o += 32;
	memcpy(p + o, rn->node_id, 32);
	o += 32;
	p[o++] = rn->name_len;
	memcpy(p + o, rn->name, rn->name_len);
	o += rn->name_len;
	p[o++] = rn->flags;
	p[o++] = rn->n_addrs;
	for (unsigned i = 0; i < rn->n_addrs; i++) {
		const struct raw_addr *a = &rn->addrs[i];
		p[o++] = a->transport;
		p[o++] = a->family;
		memcpy(p + o, a->ip, a->family == 4 ? 4 : 16);
		o += a->family == 4 ? 4 : 16;
		o += put_be(p + o, a->port, 2);
	}
	o += put_be(p + o, rn->seq, 8);
	o += put_be(p + o, rn->issued, 8);
	o += put_be(p + o, rn->expires, 8);
	return o;
}

static size_t
raw_service_body(const struct raw_service *rs, uint8_t *p)
{
	size_t o = 0;

	memcpy(p, "VX6R", 4);
	o = 4;
	p[o++] = 1;
	p[o++] = VX6_RECORD_SERVICE;
	memcpy(p + o, rs->key, 32);
	o += 32;
	p[o++] = rs->node_len;
	memcpy(p + o, rs->node, rs->node_len);
	o += rs->node_len;
	p[o++] = rs->svc_len;
	memcpy(p + o, rs->svc, rs->svc_len);
	o += rs->svc_len;
	p[o++] = rs->visibility;
	o += put_be(p + o, rs->seq, 8);
	o += put_be(p + o, rs->issued, 8);
	o += put_be(p + o, rs->expires, 8);
	return o;
}

/* Appends a signature by id in domain over the body; returns the total. */
static size_t
raw_sign(uint8_t *p, size_t body, const struct vx6_identity *id, const char *domain)
{
	assert_int_equal(vx6_sign(id, domain, p, body, p + body), 0);
	return body + VX6_SIG_LEN;
}

static size_t
raw_node_signed(const struct raw_node *rn, const struct vx6_identity *id, uint8_t *p)
{
	return raw_sign(p, raw_node_body(rn, p), id, "node-record/v1");
}

static size_t
raw_service_signed(const struct raw_service *rs, const struct vx6_identity *id, uint8_t *p)
{
	return raw_sign(p, raw_service_body(rs, p), id, "service-record/v1");
}

/* Decodes from an exact-size heap copy, so ASan sees any over-read. */
static int
decode_node_exact(const uint8_t *p, size_t len, uint64_t now)
{
	struct vx6_node_record r;
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	if (len)
		memcpy(copy, p, len);
	rc = vx6_node_record_decode(&r, copy, len, now);
	free(copy);
	return rc;
}

static int
decode_service_exact(const uint8_t *p, size_t len, uint64_t now)
{
	struct vx6_service_record r;
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	if (len)
		memcpy(copy, p, len);
	rc = vx6_service_record_decode(&r, copy, len, now);
	free(copy);
	return rc;
}

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

/* --- round trips ---------------------------------------------------------- */

/* Node records (0/1/3/8 addresses, relay flag) decode to the signed fields and re-encode to identical bytes. */
static void
test_node_round_trip(void **state)
{
	static const unsigned counts[] = { 0, 1, 3, VX6_RECORD_MAX_ADDRS };
	struct vx6_identity id;

	(void)state;
	tu_identity(&id, 0x11);
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		struct vx6_node_record in, out;
		uint8_t buf[VX6_RECORD_MAX_LEN], re[VX6_RECORD_MAX_LEN];
		size_t len;
		int n;

		node_fields(&in, c == 3 ? "a-very-long-nam" : "alice", counts[c], T0 + c, T0, T0 + HOUR);
		in.flags = c % 2 ? VX6_NODE_FLAG_RELAY : 0;
		len = sign_node(&in, &id, buf, sizeof(buf));
		assert_memory_equal(in.key, id.pk, 32);
		assert_memory_equal(in.node_id, id.node_id, 32);
		assert_int_equal(vx6_record_peek_type(buf, len), VX6_RECORD_NODE);
		assert_int_equal(vx6_node_record_decode(&out, buf, len, T0), 0);
		assert_memory_equal(out.key, id.pk, 32);
		assert_memory_equal(out.node_id, id.node_id, 32);
		assert_string_equal(out.name, in.name);
		assert_int_equal(out.flags, in.flags);
		assert_int_equal(out.n_addrs, counts[c]);
		for (unsigned i = 0; i < counts[c]; i++)
			assert_true(vx6_addr_equal(&out.addrs[i], &in.addrs[i]));
		assert_true(out.seq == in.seq && out.issued_at == T0 && out.expires_at == T0 + HOUR);
		assert_memory_equal(out.sig, in.sig, VX6_SIG_LEN);
		n = vx6_node_record_encode(&out, re, sizeof(re));
		assert_int_equal(n, (int)len);
		assert_memory_equal(re, buf, len);
		/* The naive writer agrees with the encoder on the layout. */
		if (counts[c] == 0) {
			struct raw_node rn;
			uint8_t raw[VX6_RECORD_MAX_LEN];
			raw_node_init(&rn, &id);
			rn.name_len = (uint8_t)strlen(in.name);
			memcpy(rn.name, in.name, rn.name_len);
			rn.n_addrs = 0;
			rn.flags = in.flags;
			rn.seq = in.seq;
			assert_int_equal(raw_node_body(&rn, raw), len - VX6_SIG_LEN);
			assert_memory_equal(raw, buf, len - VX6_SIG_LEN);
		}
	}
}

/* Service records (public, private) decode to the signed fields and re-encode to identical bytes. */
static void
test_service_round_trip(void **state)
{
	struct vx6_identity id;

	(void)state;
	tu_identity(&id, 0x22);
	for (uint8_t vis = 0; vis <= VX6_VISIBILITY_PRIVATE; vis++) {
		struct vx6_service_record in, out;
		struct raw_service rs;
		uint8_t buf[VX6_RECORD_MAX_LEN], re[VX6_RECORD_MAX_LEN], raw[VX6_RECORD_MAX_LEN];
		size_t len;

		service_fields(&in, "alice", "web-2", 77, T0 - 10, T0 + DAYS7 - 10);
		in.visibility = vis;
		len = sign_service(&in, &id, buf, sizeof(buf));
		assert_memory_equal(in.owner_key, id.pk, 32);
		assert_int_equal(vx6_record_peek_type(buf, len), VX6_RECORD_SERVICE);
		assert_int_equal(vx6_service_record_decode(&out, buf, len, T0), 0);
		assert_memory_equal(out.owner_key, id.pk, 32);
		assert_string_equal(out.node_name, "alice");
		assert_string_equal(out.service, "web-2");
		assert_int_equal(out.visibility, vis);
		assert_true(out.seq == 77 && out.issued_at == T0 - 10 && out.expires_at == T0 + DAYS7 - 10);
		assert_int_equal(vx6_service_record_encode(&out, re, sizeof(re)), (int)len);
		assert_memory_equal(re, buf, len);
		raw_service_init(&rs, &id);
		rs.svc_len = 5;
		memcpy(rs.svc, "web-2", 5);
		rs.visibility = vis;
		rs.seq = 77;
		rs.issued = T0 - 10;
		rs.expires = T0 + DAYS7 - 10;
		assert_int_equal(raw_service_body(&rs, raw), len - VX6_SIG_LEN);
		assert_memory_equal(raw, buf, len - VX6_SIG_LEN);
	}
}

/* Encoders given any buffer shorter than the record fail instead of writing past it. */
static void
test_encode_short_buffer(void **state)
{
	struct vx6_identity id;
	struct vx6_node_record r;
	struct vx6_service_record s;
	uint8_t buf[VX6_RECORD_MAX_LEN];
	size_t full;

	(void)state;
	tu_identity(&id, 0x23);
	node_fields(&r, "alice", 2, 1, T0, T0 + HOUR);
	full = sign_node(&r, &id, buf, sizeof(buf));
	for (size_t cap = 0; cap < full; cap++) {
		uint8_t *out = malloc(cap ? cap : 1);
		assert_true(vx6_node_record_encode(&r, out, cap) < 0);
		assert_true(vx6_node_record_sign(&r, &id, out, cap) < 0);
		free(out);
	}
	service_fields(&s, "alice", "web", 1, T0, T0 + HOUR);
	full = sign_service(&s, &id, buf, sizeof(buf));
	for (size_t cap = 0; cap < full; cap++) {
		uint8_t *out = malloc(cap ? cap : 1);
		assert_true(vx6_service_record_encode(&s, out, cap) < 0);
		free(out);
	}
}

/* --- tampering ------------------------------------------------------------ */

/* Every 1-bit flip of an encoded node or service record gives BAD_SIGNATURE or MALFORMED, never success. */
static void
test_every_bit_flip_fails(void **state)
{
	struct vx6_identity id;
	struct vx6_node_record r;
	struct vx6_service_record s;
	uint8_t rec[2][VX6_RECORD_MAX_LEN];
	size_t len[2];

	(void)state;
	tu_identity(&id, 0x33);
	node_fields(&r, "alice", 3, 5, T0, T0 + HOUR);
	r.flags = VX6_NODE_FLAG_RELAY;
	len[0] = sign_node(&r, &id, rec[0], sizeof(rec[0]));
	service_fields(&s, "alice", "web", 5, T0, T0 + HOUR);
	len[1] = sign_service(&s, &id, rec[1], sizeof(rec[1]));
	for (int k = 0; k < 2; k++) {
		assert_int_equal(k ? decode_service_exact(rec[k], len[k], T0) : decode_node_exact(rec[k], len[k], T0), 0);
		for (size_t i = 0; i < len[k]; i++)
			for (int bit = 0; bit < 8; bit++) {
				uint8_t m[VX6_RECORD_MAX_LEN];
				int rc;
				memcpy(m, rec[k], len[k]);
				m[i] ^= (uint8_t)(1u << bit);
				rc = k ? decode_service_exact(m, len[k], T0) : decode_node_exact(m, len[k], T0);
				if (rc != VX6_ERR_BAD_SIGNATURE && rc != VX6_ERR_MALFORMED)
					fail_msg("record %d: flipping bit %d of byte %zu gave %d", k, bit, i, rc);
			}
	}
}

/* Every truncated prefix, one extra trailing byte, and the wrong decoder are MALFORMED (no over-read). */
static void
test_truncated_and_trailing(void **state)
{
	struct vx6_identity id;
	struct vx6_node_record r;
	struct vx6_service_record s;
	uint8_t rec[2][VX6_RECORD_MAX_LEN + 1];
	size_t len[2];

	(void)state;
	tu_identity(&id, 0x34);
	node_fields(&r, "alice", 2, 5, T0, T0 + HOUR);
	len[0] = sign_node(&r, &id, rec[0], sizeof(rec[0]));
	service_fields(&s, "alice", "web", 5, T0, T0 + HOUR);
	len[1] = sign_service(&s, &id, rec[1], sizeof(rec[1]));
	for (int k = 0; k < 2; k++) {
		for (size_t n = 0; n < len[k]; n++) {
			int rc = k ? decode_service_exact(rec[k], n, T0) : decode_node_exact(rec[k], n, T0);
			if (rc != VX6_ERR_MALFORMED)
				fail_msg("record %d: prefix of %zu/%zu bytes gave %d", k, n, len[k], rc);
		}
		for (int extra = 0; extra < 256; extra += 85) {
			rec[k][len[k]] = (uint8_t)extra;
			assert_int_equal(k ? decode_service_exact(rec[k], len[k] + 1, T0) :
			    decode_node_exact(rec[k], len[k] + 1, T0), VX6_ERR_MALFORMED);
		}
		/* The wrong decoder for the type is MALFORMED too. */
		assert_int_equal(k ? decode_node_exact(rec[k], len[k], T0) : decode_service_exact(rec[k], len[k], T0),
		    VX6_ERR_MALFORMED);
	}
}

/* A node record whose node_id is not derived from its key fails even though that key validly signed it. */
static void
test_node_id_not_derived(void **state)
{
	struct vx6_identity a, b;
	struct raw_node rn;
	uint8_t p[VX6_RECORD_MAX_LEN];
	size_t len;

	(void)state;
	tu_identity(&a, 0x41);
	tu_identity(&b, 0x42);
	raw_node_init(&rn, &a);
	len = raw_node_signed(&rn, &a, p);
	assert_int_equal(decode_node_exact(p, len, T0), 0);   /* control */

	memcpy(rn.node_id, b.node_id, 32);                    /* another node's id */
	len = raw_node_signed(&rn, &a, p);
	assert_int_equal(decode_node_exact(p, len, T0), VX6_ERR_MALFORMED);

	memset(rn.node_id, 0, 32);                            /* no one's id */
	len = raw_node_signed(&rn, &a, p);
	assert_int_equal(decode_node_exact(p, len, T0), VX6_ERR_MALFORMED);

	memcpy(rn.node_id, a.node_id, 32);                    /* a's id, b's key, signed by b */
	memcpy(rn.key, b.pk, 32);
	len = raw_node_signed(&rn, &b, p);
	assert_int_equal(decode_node_exact(p, len, T0), VX6_ERR_MALFORMED);
}

/* A record claiming "alice" signed by another key decodes but carries that key: records bind no names. */
static void
test_other_key_same_name(void **state)
{
	struct vx6_identity a, b;
	struct vx6_node_record ra, rb, out;
	uint8_t pa[VX6_RECORD_MAX_LEN], pb[VX6_RECORD_MAX_LEN];
	size_t la, lb;

	(void)state;
	tu_identity(&a, 0x51);
	tu_identity(&b, 0x52);
	node_fields(&ra, "alice", 1, 9, T0, T0 + HOUR);
	la = sign_node(&ra, &a, pa, sizeof(pa));
	rb = ra;                                  /* same fields, same name */
	lb = sign_node(&rb, &b, pb, sizeof(pb));
	assert_int_equal(la, lb);
	assert_memory_not_equal(pa, pb, la);
	assert_int_equal(vx6_node_record_decode(&out, pb, lb, T0), 0);
	assert_string_equal(out.name, "alice");
	assert_memory_equal(out.key, b.pk, 32);
	assert_memory_equal(out.node_id, b.node_id, 32);
	assert_memory_not_equal(out.key, a.pk, 32);
	/* a's signature does not carry over to b's record. */
	memcpy(pb + lb - VX6_SIG_LEN, pa + la - VX6_SIG_LEN, VX6_SIG_LEN);
	assert_int_equal(vx6_node_record_decode(&out, pb, lb, T0), VX6_ERR_BAD_SIGNATURE);
}

/* A service body signed in domain node-record/v1 (and vice versa) fails: signatures are domain-separated. */
static void
test_domain_separation(void **state)
{
	struct vx6_identity id;
	struct raw_service rs;
	struct raw_node rn;
	uint8_t p[VX6_RECORD_MAX_LEN];
	size_t len;

	(void)state;
	tu_identity(&id, 0x61);
	raw_service_init(&rs, &id);
	len = raw_sign(p, raw_service_body(&rs, p), &id, "service-record/v1");
	assert_int_equal(decode_service_exact(p, len, T0), 0);
	len = raw_sign(p, raw_service_body(&rs, p), &id, "node-record/v1");
	assert_int_equal(decode_service_exact(p, len, T0), VX6_ERR_BAD_SIGNATURE);
	len = raw_sign(p, raw_service_body(&rs, p), &id, "catalog-record/v1");
	assert_int_equal(decode_service_exact(p, len, T0), VX6_ERR_BAD_SIGNATURE);

	raw_node_init(&rn, &id);
	len = raw_sign(p, raw_node_body(&rn, p), &id, "node-record/v1");
	assert_int_equal(decode_node_exact(p, len, T0), 0);
	len = raw_sign(p, raw_node_body(&rn, p), &id, "service-record/v1");
	assert_int_equal(decode_node_exact(p, len, T0), VX6_ERR_BAD_SIGNATURE);
}

/* --- validity window ------------------------------------------------------- */

struct window_case {
	uint64_t issued, expires;
	int want;
};

static const struct window_case window_cases[] = {
	{ T0, T0 + HOUR, 0 },
	{ T0 - 2 * HOUR, T0 - 1, VX6_ERR_TIMEOUT },          /* expired */
	{ T0 - 2 * HOUR, T0, VX6_ERR_TIMEOUT },              /* expires now */
	{ T0 - 2 * HOUR, T0 + 1, 0 },                        /* one second left */
	{ T0 + VX6_RECORD_MAX_SKEW_S, T0 + HOUR, 0 },        /* exactly 300 s ahead */
	{ T0 + VX6_RECORD_MAX_SKEW_S + 1, T0 + HOUR, VX6_ERR_TIMEOUT },
	{ T0 + 10 * HOUR, T0 + 11 * HOUR, VX6_ERR_TIMEOUT },
	{ T0, T0 + DAYS7, 0 },                               /* exactly 7 days */
	{ T0, T0 + DAYS7 + 1, VX6_ERR_MALFORMED },
	{ 0, UINT64_MAX, VX6_ERR_MALFORMED },
	{ T0, T0, VX6_ERR_MALFORMED },                       /* expires == issued */
	{ T0 + 10, T0, VX6_ERR_MALFORMED },                  /* expires < issued */
	{ UINT64_MAX, 1, VX6_ERR_MALFORMED },
};

/* Expired or issued > 300 s ahead is TIMEOUT; lifetime > 7 days or expires <= issued is MALFORMED; edges pass. */
static void
test_validity_window(void **state)
{
	struct vx6_identity id;

	(void)state;
	tu_identity(&id, 0x71);
	for (size_t i = 0; i < sizeof(window_cases) / sizeof(window_cases[0]); i++) {
		const struct window_case *c = &window_cases[i];
		struct vx6_node_record r, out;
		struct vx6_service_record s, sout;
		uint8_t p[VX6_RECORD_MAX_LEN];
		size_t len;

		node_fields(&r, "alice", 1, 1, c->issued, c->expires);
		len = sign_node(&r, &id, p, sizeof(p));
		if (vx6_node_record_decode(&out, p, len, T0) != c->want)
			fail_msg("node case %zu: got %d want %d", i, vx6_node_record_decode(&out, p, len, T0),
			    c->want);
		service_fields(&s, "alice", "web", 1, c->issued, c->expires);
		len = sign_service(&s, &id, p, sizeof(p));
		if (vx6_service_record_decode(&sout, p, len, T0) != c->want)
			fail_msg("service case %zu: got %d want %d", i, vx6_service_record_decode(&sout, p, len, T0),
			    c->want);
	}
}

/* --- invalid fields -------------------------------------------------------- */

static const char *const bad_names[] = {
	"", "-alice", "alice-", "Alice", "al.ice", "al_ice", "al ice", "abcdefghijklmnop",
};

/* Encoders refuse (INVAL) > 8 addresses, port 0, bad family/transport, invalid names, visibility > 1. */
static void
test_encode_refuses_invalid(void **state)
{
	struct vx6_identity id;
	struct vx6_node_record r;
	struct vx6_service_record s;
	uint8_t p[VX6_RECORD_MAX_LEN];

	(void)state;
	tu_identity(&id, 0x81);
	node_fields(&r, "alice", VX6_RECORD_MAX_ADDRS, 1, T0, T0 + HOUR);
	assert_true(vx6_node_record_sign(&r, &id, p, sizeof(p)) > 0);   /* control: 8 is fine */
	r.n_addrs = VX6_RECORD_MAX_ADDRS + 1;
	assert_int_equal(vx6_node_record_sign(&r, &id, p, sizeof(p)), VX6_ERR_INVAL);
	assert_int_equal(vx6_node_record_encode(&r, p, sizeof(p)), VX6_ERR_INVAL);
	r.n_addrs = 255;
	assert_int_equal(vx6_node_record_sign(&r, &id, p, sizeof(p)), VX6_ERR_INVAL);

	node_fields(&r, "alice", 3, 1, T0, T0 + HOUR);
	r.addrs[2].port = 0;
	assert_int_equal(vx6_node_record_sign(&r, &id, p, sizeof(p)), VX6_ERR_INVAL);
	assert_int_equal(vx6_node_record_encode(&r, p, sizeof(p)), VX6_ERR_INVAL);
	node_fields(&r, "alice", 3, 1, T0, T0 + HOUR);
	r.addrs[1].family = 5;
	assert_int_equal(vx6_node_record_sign(&r, &id, p, sizeof(p)), VX6_ERR_INVAL);
	node_fields(&r, "alice", 3, 1, T0, T0 + HOUR);
	r.addrs[0].transport = 2;
	assert_int_equal(vx6_node_record_sign(&r, &id, p, sizeof(p)), VX6_ERR_INVAL);

	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		node_fields(&r, "alice", 1, 1, T0, T0 + HOUR);
		memset(r.name, 0, sizeof(r.name));
		memcpy(r.name, bad_names[i], strlen(bad_names[i]) < sizeof(r.name) ? strlen(bad_names[i]) : sizeof(r.name));
		assert_int_equal(vx6_node_record_sign(&r, &id, p, sizeof(p)), VX6_ERR_INVAL);
		assert_int_equal(vx6_node_record_encode(&r, p, sizeof(p)), VX6_ERR_INVAL);

		service_fields(&s, "alice", "web", 1, T0, T0 + HOUR);
		memset(s.node_name, 0, sizeof(s.node_name));
		memcpy(s.node_name, bad_names[i], strlen(bad_names[i]) < 16 ? strlen(bad_names[i]) : 16);
		assert_int_equal(vx6_service_record_sign(&s, &id, p, sizeof(p)), VX6_ERR_INVAL);
		service_fields(&s, "alice", "web", 1, T0, T0 + HOUR);
		memset(s.service, 0, sizeof(s.service));
		memcpy(s.service, bad_names[i], strlen(bad_names[i]) < 16 ? strlen(bad_names[i]) : 16);
		assert_int_equal(vx6_service_record_sign(&s, &id, p, sizeof(p)), VX6_ERR_INVAL);
		assert_int_equal(vx6_service_record_encode(&s, p, sizeof(p)), VX6_ERR_INVAL);
	}
	service_fields(&s, "alice", "web", 1, T0, T0 + HOUR);
	s.visibility = 2;
	assert_int_equal(vx6_service_record_sign(&s, &id, p, sizeof(p)), VX6_ERR_INVAL);
}

/* Encoders refuse (INVAL) node flags other than RELAY, which every decoder rejects. */
static void
test_encode_refuses_unknown_flags(void **state)
{
	struct vx6_identity id;
	struct vx6_node_record r;
	uint8_t p[VX6_RECORD_MAX_LEN];

	(void)state;
	tu_identity(&id, 0x82);
	/* Regression (fixed): this failed until node_body() (src/core/record.c:47) also refuses
	 * r->flags & ~VX6_NODE_FLAG_RELAY with VX6_ERR_INVAL. */
	for (unsigned f = 0x02; f <= 0x80; f <<= 1) {
		node_fields(&r, "alice", 1, 1, T0, T0 + HOUR);
		r.flags = (uint8_t)(f | VX6_NODE_FLAG_RELAY);
		assert_int_equal(vx6_node_record_sign(&r, &id, p, sizeof(p)), VX6_ERR_INVAL);
		assert_int_equal(vx6_node_record_encode(&r, p, sizeof(p)), VX6_ERR_INVAL);
	}
}

/* Hand-built, validly signed records with each invalid field (addrs, port, flags, names, visibility) are MALFORMED. */
static void
test_decode_rejects_invalid_fields(void **state)
{
	struct vx6_identity id;
	struct raw_node rn;
	struct raw_service rs;
	uint8_t p[VX6_RECORD_MAX_LEN];
	size_t len;

	(void)state;
	tu_identity(&id, 0x83);
#define NODE_CASE(mutate) do { \
		raw_node_init(&rn, &id); \
		mutate; \
		len = raw_node_signed(&rn, &id, p); \
		if (decode_node_exact(p, len, T0) != VX6_ERR_MALFORMED) \
			fail_msg("node case '%s' gave %d", #mutate, decode_node_exact(p, len, T0)); \
	} while (0)
#define SERVICE_CASE(mutate) do { \
		raw_service_init(&rs, &id); \
		mutate; \
		len = raw_service_signed(&rs, &id, p); \
		if (decode_service_exact(p, len, T0) != VX6_ERR_MALFORMED) \
			fail_msg("service case '%s' gave %d", #mutate, decode_service_exact(p, len, T0)); \
	} while (0)

	raw_node_init(&rn, &id);
	rn.n_addrs = VX6_RECORD_MAX_ADDRS;
	for (unsigned i = 0; i < 12; i++)
		rn.addrs[i] = (struct raw_addr){ .transport = 1, .family = 6, .ip = { 0x20, 1, [15] = 1 },
		    .port = (uint16_t)(1 + i) };
	len = raw_node_signed(&rn, &id, p);
	assert_int_equal(decode_node_exact(p, len, T0), 0);    /* control: 8 addresses */
	raw_service_init(&rs, &id);
	len = raw_service_signed(&rs, &id, p);
	assert_int_equal(decode_service_exact(p, len, T0), 0); /* control */

	NODE_CASE({
		rn.n_addrs = 9;
		for (unsigned i = 0; i < 9; i++)
			rn.addrs[i] = rn.addrs[0];
	});
	NODE_CASE(rn.addrs[0].port = 0);
	NODE_CASE(rn.addrs[0].family = 5);
	NODE_CASE(rn.addrs[0].family = 0);
	NODE_CASE(rn.addrs[0].transport = 2);
	NODE_CASE(rn.flags = 0x02);
	NODE_CASE(rn.flags = 0x81);
	NODE_CASE(rn.name_len = 0);
	NODE_CASE({ rn.name_len = 16; memset(rn.name, 'a', 16); });
	NODE_CASE(memcpy(rn.name, "Alice", 5));
	NODE_CASE(memcpy(rn.name, "-lice", 5));
	NODE_CASE(memcpy(rn.name, "alic-", 5));
	NODE_CASE(memcpy(rn.name, "al.ce", 5));
	NODE_CASE(memcpy(rn.name, "al\0ce", 5));
	SERVICE_CASE(rs.visibility = 2);
	SERVICE_CASE(rs.visibility = 0xff);
	SERVICE_CASE(rs.node_len = 0);
	SERVICE_CASE(rs.svc_len = 0);
	SERVICE_CASE({ rs.svc_len = 16; memset(rs.svc, 'w', 16); });
	SERVICE_CASE(memcpy(rs.node, "ALICE", 5));
	SERVICE_CASE(memcpy(rs.svc, "w b", 3));
	SERVICE_CASE(memcpy(rs.svc, "we\0", 3));
#undef NODE_CASE
#undef SERVICE_CASE
}

/* peek_type: > 1024 bytes is TOO_LARGE (decode too); bad magic/version/type or short input is MALFORMED. */
static void
test_peek_type(void **state)
{
	struct vx6_identity id;
	struct vx6_node_record r;
	struct vx6_service_record s;
	uint8_t *big = calloc(1, VX6_RECORD_MAX_LEN + 1);
	size_t len;

	(void)state;
	tu_identity(&id, 0x91);
	node_fields(&r, "alice", 1, 1, T0, T0 + HOUR);
	len = sign_node(&r, &id, big, VX6_RECORD_MAX_LEN + 1);
	assert_int_equal(vx6_record_peek_type(big, len), VX6_RECORD_NODE);
	assert_int_equal(vx6_record_peek_type(big, VX6_RECORD_MAX_LEN), VX6_RECORD_NODE);
	assert_int_equal(vx6_record_peek_type(big, VX6_RECORD_MAX_LEN + 1), VX6_ERR_TOO_LARGE);
	assert_int_equal(vx6_record_peek_type(big, 65535), VX6_ERR_TOO_LARGE);
	assert_int_equal(vx6_node_record_decode(&r, big, VX6_RECORD_MAX_LEN + 1, T0), VX6_ERR_TOO_LARGE);
	assert_int_equal(vx6_service_record_decode(&s, big, VX6_RECORD_MAX_LEN + 1, T0), VX6_ERR_TOO_LARGE);
	assert_int_equal(vx6_node_record_decode(&r, big, VX6_RECORD_MAX_LEN, T0), VX6_ERR_MALFORMED);

	assert_int_equal(vx6_record_peek_type(big, 6 + VX6_SIG_LEN - 1), VX6_ERR_MALFORMED);
	assert_int_equal(vx6_record_peek_type(big, 6 + VX6_SIG_LEN), VX6_RECORD_NODE);
	big[0] = 'X';
	assert_int_equal(vx6_record_peek_type(big, len), VX6_ERR_MALFORMED);
	big[0] = 'V';
	big[4] = 2;
	assert_int_equal(vx6_record_peek_type(big, len), VX6_ERR_MALFORMED);
	big[4] = 0;
	assert_int_equal(vx6_record_peek_type(big, len), VX6_ERR_MALFORMED);
	big[4] = VX6_RECORD_VERSION;
	for (int t = 0; t < 256; t++) {
		big[5] = (uint8_t)t;
		if (t == VX6_RECORD_NODE || t == VX6_RECORD_SERVICE || t == VX6_RECORD_CATALOG)
			assert_int_equal(vx6_record_peek_type(big, len), t);
		else
			assert_int_equal(vx6_record_peek_type(big, len), VX6_ERR_MALFORMED);
	}
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_round_trip),
		cmocka_unit_test(test_service_round_trip),
		cmocka_unit_test(test_encode_short_buffer),
		cmocka_unit_test(test_every_bit_flip_fails),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_node_id_not_derived),
		cmocka_unit_test(test_other_key_same_name),
		cmocka_unit_test(test_domain_separation),
		cmocka_unit_test(test_validity_window),
		cmocka_unit_test(test_encode_refuses_invalid),
		cmocka_unit_test(test_encode_refuses_unknown_flags),
		cmocka_unit_test(test_decode_rejects_invalid_fields),
		cmocka_unit_test(test_peek_type),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
