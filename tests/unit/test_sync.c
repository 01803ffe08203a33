/*
 * test_sync — core/sync: the neighbour-sync codec (docs/PROTOCOL.md §13).
 * Builders write a whole RPC payload (protocol byte 2 first); the parser
 * takes what follows the protocol byte. Round trips for RECORD, PEERS_REQ
 * and PEERS; every truncated prefix and a trailing byte are rejected; record
 * lengths of 0 or over 1024, counts over 16, PEERS_REQ max outside 1..16 and
 * unknown kinds are rejected. Records are opaque bytes to this codec (it does
 * not verify them), so the tests use patterned bytes of chosen lengths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/record.h"
#include "core/sync.h"
#include "lib/err.h"

#define OUT_CAP (8 + 17 * (2 + VX6_RECORD_MAX_LEN))

/* Bytes of record i: a pattern that differs per record and per offset. */
static void
fill_rec(uint8_t *p, size_t len, unsigned i)
{
	for (size_t j = 0; j < len; j++)
		p[j] = (uint8_t)(i * 31 + j * 7 + 1);
}

/* Parses from an exact-size heap copy so ASan sees any over-read. The
 * copy (which m->recs point into) lives until the next call. */
static uint8_t *parse_copy;

static int
parse_exact(const uint8_t *p, size_t len, struct vx6_sync_msg *m)
{
	free(parse_copy);
	parse_copy = malloc(len ? len : 1);
	assert_non_null(parse_copy);
	if (len)
		memcpy(parse_copy, p, len);
	return vx6_sync_parse(parse_copy, len, m);
}

static int
free_copy(void **state)
{
	(void)state;
	free(parse_copy);
	parse_copy = NULL;
	return 0;
}

/* Every strict prefix of payload (after the protocol byte) and the payload
 * with one extra byte are MALFORMED. */
static void
assert_prefixes_and_trailing_rejected(const uint8_t *payload, size_t len)
{
	struct vx6_sync_msg m;
	uint8_t *longer = malloc(len + 1);

	for (size_t n = 0; n < len; n++)
		if (parse_exact(payload, n, &m) != VX6_ERR_MALFORMED)
			fail_msg("prefix %zu of %zu accepted", n, len);
	memcpy(longer, payload, len);
	longer[len] = 0;
	assert_int_equal(parse_exact(longer, len + 1, &m), VX6_ERR_MALFORMED);
	free(longer);
}

/* RECORD round-trips (lengths 1, 100, 1024) in the exact layout; every prefix and a trailing byte fail. */
static void
test_record_round_trip(void **state)
{
	static const size_t lens[] = { 1, 100, VX6_RECORD_MAX_LEN };
	uint8_t rec[VX6_RECORD_MAX_LEN], out[OUT_CAP];

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct vx6_sync_msg m;
		int n;

		fill_rec(rec, lens[i], (unsigned)i);
		n = vx6_sync_build_record(rec, lens[i], out, sizeof(out));
		assert_int_equal(n, (int)(4 + lens[i]));
		assert_int_equal(out[0], VX6_RPC_PROTO_SYNC);
		assert_int_equal(out[1], VX6_SYNC_RECORD);
		assert_int_equal(out[2], lens[i] >> 8);
		assert_int_equal(out[3], lens[i] & 0xff);
		assert_memory_equal(out + 4, rec, lens[i]);
		assert_int_equal(parse_exact(out + 1, (size_t)n - 1, &m), 0);
		assert_int_equal(m.kind, VX6_SYNC_RECORD);
		assert_int_equal(m.n, 1);
		assert_int_equal(m.lens[0], lens[i]);
		assert_memory_equal(m.recs[0], rec, lens[i]);
		assert_prefixes_and_trailing_rejected(out + 1, (size_t)n - 1);
	}
}

/* PEERS_REQ round-trips for max 1..16; every other max is rejected by the parser. */
static void
test_peers_req_round_trip(void **state)
{
	uint8_t out[16], raw[2];
	struct vx6_sync_msg m;

	(void)state;
	for (unsigned max = 1; max <= VX6_SYNC_MAX_PEERS; max++) {
		int n = vx6_sync_build_peers_req((uint8_t)max, out, sizeof(out));
		assert_int_equal(n, 3);
		assert_int_equal(out[0], VX6_RPC_PROTO_SYNC);
		assert_int_equal(out[1], VX6_SYNC_PEERS_REQ);
		assert_int_equal(out[2], max);
		assert_int_equal(parse_exact(out + 1, 2, &m), 0);
		assert_int_equal(m.kind, VX6_SYNC_PEERS_REQ);
		assert_int_equal(m.max, max);
		assert_int_equal(m.n, 0);
		assert_prefixes_and_trailing_rejected(out + 1, 2);
	}
	raw[0] = VX6_SYNC_PEERS_REQ;
	for (unsigned bad = 0; bad < 256; bad++) {
		if (bad >= 1 && bad <= VX6_SYNC_MAX_PEERS)
			continue;
		raw[1] = (uint8_t)bad;
		assert_int_equal(parse_exact(raw, 2, &m), VX6_ERR_MALFORMED);
	}
}

/* The PEERS_REQ builder refuses max 0 and 17, which the parser rejects. */
static void
test_peers_req_builder_refuses_bad_max(void **state)
{
	uint8_t out[16];

	(void)state;
	/* Regression (fixed): this failed until vx6_sync_build_peers_req (src/core/sync.c:63) checks
	 * max == 0 || max > VX6_SYNC_MAX_PEERS and returns VX6_ERR_INVAL; today
	 * it writes a message every receiver rejects. */
	assert_int_equal(vx6_sync_build_peers_req(0, out, sizeof(out)), VX6_ERR_INVAL);
	assert_int_equal(vx6_sync_build_peers_req(VX6_SYNC_MAX_PEERS + 1, out, sizeof(out)), VX6_ERR_INVAL);
}

/* PEERS round-trips 0..16 records byte-exact and in order; prefixes and a trailing byte fail. */
static void
test_peers_round_trip(void **state)
{
	static uint8_t recs[VX6_SYNC_MAX_PEERS][VX6_RECORD_MAX_LEN];
	static uint8_t out[OUT_CAP];
	const uint8_t *ptrs[VX6_SYNC_MAX_PEERS];
	size_t lens[VX6_SYNC_MAX_PEERS];

	(void)state;
	for (unsigned i = 0; i < VX6_SYNC_MAX_PEERS; i++) {
		lens[i] = i == 0 ? 1 : i == 1 ? VX6_RECORD_MAX_LEN : 150 + 37 * i;
		fill_rec(recs[i], lens[i], i);
		ptrs[i] = recs[i];
	}
	for (unsigned n = 0; n <= VX6_SYNC_MAX_PEERS; n++) {
		struct vx6_sync_msg m;
		size_t want = 3;
		int len;

		for (unsigned i = 0; i < n; i++)
			want += 2 + lens[i];
		len = vx6_sync_build_peers(ptrs, lens, n, out, sizeof(out));
		assert_int_equal(len, (int)want);
		assert_int_equal(out[0], VX6_RPC_PROTO_SYNC);
		assert_int_equal(out[1], VX6_SYNC_PEERS);
		assert_int_equal(out[2], n);
		assert_int_equal(parse_exact(out + 1, (size_t)len - 1, &m), 0);
		assert_int_equal(m.kind, VX6_SYNC_PEERS);
		assert_int_equal(m.n, n);
		for (unsigned i = 0; i < n; i++) {
			assert_int_equal(m.lens[i], lens[i]);
			assert_memory_equal(m.recs[i], recs[i], lens[i]);
		}
		if (n <= 3)
			assert_prefixes_and_trailing_rejected(out + 1, (size_t)len - 1);
	}
}

/* PEERS with 17 records is refused by the builder and rejected by the parser. */
static void
test_peers_over_16_rejected(void **state)
{
	static uint8_t out[OUT_CAP];
	uint8_t rec[10];
	const uint8_t *ptrs[17];
	size_t lens[17], o = 0;
	struct vx6_sync_msg m;

	(void)state;
	fill_rec(rec, sizeof(rec), 1);
	for (unsigned i = 0; i < 17; i++) {
		ptrs[i] = rec;
		lens[i] = sizeof(rec);
	}
	assert_int_equal(vx6_sync_build_peers(ptrs, lens, 17, out, sizeof(out)), VX6_ERR_INVAL);
	out[o++] = VX6_SYNC_PEERS;
	out[o++] = 17;
	for (unsigned i = 0; i < 17; i++) {
		out[o++] = 0;
		out[o++] = sizeof(rec);
		memcpy(out + o, rec, sizeof(rec));
		o += sizeof(rec);
	}
	assert_int_equal(parse_exact(out, o, &m), VX6_ERR_MALFORMED);
	out[1] = 16;   /* control: the first 16 parse once the count says 16... */
	assert_int_equal(parse_exact(out, o - 2 - sizeof(rec), &m), 0);
	assert_int_equal(m.n, 16);
	out[1] = 255;
	assert_int_equal(parse_exact(out, o, &m), VX6_ERR_MALFORMED);
}

/* Record lengths of 0 or over 1024 are refused by the builders and rejected by the parser. */
static void
test_lengths_over_1024_rejected(void **state)
{
	static uint8_t big[VX6_RECORD_MAX_LEN + 1], out[OUT_CAP];
	const uint8_t *ptrs[2] = { big, big };
	size_t lens[2] = { 10, VX6_RECORD_MAX_LEN + 1 };
	struct vx6_sync_msg m;
	size_t o;

	(void)state;
	fill_rec(big, sizeof(big), 3);
	assert_int_equal(vx6_sync_build_record(big, VX6_RECORD_MAX_LEN + 1, out, sizeof(out)), VX6_ERR_INVAL);
	assert_int_equal(vx6_sync_build_record(big, 0, out, sizeof(out)), VX6_ERR_INVAL);
	assert_int_equal(vx6_sync_build_peers(ptrs, lens, 2, out, sizeof(out)), VX6_ERR_INVAL);
	lens[1] = 0;
	assert_int_equal(vx6_sync_build_peers(ptrs, lens, 2, out, sizeof(out)), VX6_ERR_INVAL);

	/* RECORD with len 1025 and 1025 bytes present. */
	out[0] = VX6_SYNC_RECORD;
	out[1] = (VX6_RECORD_MAX_LEN + 1) >> 8;
	out[2] = (VX6_RECORD_MAX_LEN + 1) & 0xff;
	memcpy(out + 3, big, VX6_RECORD_MAX_LEN + 1);
	assert_int_equal(parse_exact(out, 3 + VX6_RECORD_MAX_LEN + 1, &m), VX6_ERR_MALFORMED);
	out[1] = 0xff;
	out[2] = 0xff;
	assert_int_equal(parse_exact(out, 3 + VX6_RECORD_MAX_LEN + 1, &m), VX6_ERR_MALFORMED);
	/* RECORD with len 0. */
	out[1] = 0;
	out[2] = 0;
	assert_int_equal(parse_exact(out, 3, &m), VX6_ERR_MALFORMED);
	/* PEERS: one fine record, then one of 1025 bytes. */
	o = 0;
	out[o++] = VX6_SYNC_PEERS;
	out[o++] = 2;
	out[o++] = 0;
	out[o++] = 10;
	memcpy(out + o, big, 10);
	o += 10;
	out[o++] = (VX6_RECORD_MAX_LEN + 1) >> 8;
	out[o++] = (VX6_RECORD_MAX_LEN + 1) & 0xff;
	memcpy(out + o, big, VX6_RECORD_MAX_LEN + 1);
	o += VX6_RECORD_MAX_LEN + 1;
	assert_int_equal(parse_exact(out, o, &m), VX6_ERR_MALFORMED);
	/* Control: the same with 1024 parses. */
	out[14] = VX6_RECORD_MAX_LEN >> 8;
	out[15] = VX6_RECORD_MAX_LEN & 0xff;
	assert_int_equal(parse_exact(out, o - 1, &m), 0);
	assert_int_equal(m.n, 2);
	assert_int_equal(m.lens[1], VX6_RECORD_MAX_LEN);
}

/* Unknown kinds and empty input are rejected whatever follows. */
static void
test_unknown_kinds_rejected(void **state)
{
	uint8_t msg[8] = { 0, 1, 1, 0, 0, 0, 0, 0 }, rec[1] = { 7 }, out[16];
	struct vx6_sync_msg m;
	int n;

	(void)state;
	assert_int_equal(parse_exact(msg, 0, &m), VX6_ERR_MALFORMED);
	for (unsigned k = 0; k < 256; k++) {
		if (k == VX6_SYNC_RECORD || k == VX6_SYNC_PEERS_REQ || k == VX6_SYNC_PEERS)
			continue;
		msg[0] = (uint8_t)k;
		for (size_t len = 1; len <= sizeof(msg); len++)
			assert_int_equal(parse_exact(msg, len, &m), VX6_ERR_MALFORMED);
	}
	n = vx6_sync_build_record(rec, 1, out, sizeof(out));
	assert_int_equal(n, 5);
	assert_int_equal(parse_exact(out, (size_t)n, &m), VX6_ERR_MALFORMED);
}

/* Builders fail instead of writing past a too-small buffer. */
static void
test_builders_respect_cap(void **state)
{
	uint8_t rec[40], *out;
	const uint8_t *ptrs[2] = { rec, rec };
	size_t lens[2] = { sizeof(rec), 5 };

	(void)state;
	fill_rec(rec, sizeof(rec), 9);
	for (size_t cap = 0; cap < 4 + sizeof(rec); cap++) {
		out = malloc(cap ? cap : 1);
		assert_true(vx6_sync_build_record(rec, sizeof(rec), out, cap) < 0);
		free(out);
	}
	for (size_t cap = 0; cap < 3; cap++) {
		out = malloc(cap ? cap : 1);
		assert_true(vx6_sync_build_peers_req(4, out, cap) < 0);
		free(out);
	}
	for (size_t cap = 0; cap < 3 + 2 + sizeof(rec) + 2 + 5; cap++) {
		out = malloc(cap ? cap : 1);
		assert_true(vx6_sync_build_peers(ptrs, lens, 2, out, cap) < 0);
		free(out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_peers_req_round_trip),
		cmocka_unit_test(test_peers_req_builder_refuses_bad_max),
		cmocka_unit_test(test_peers_round_trip),
		cmocka_unit_test(test_peers_over_16_rejected),
		cmocka_unit_test(test_lengths_over_1024_rejected),
		cmocka_unit_test(test_unknown_kinds_rejected),
		cmocka_unit_test(test_builders_respect_cap),
	};

	return cmocka_run_group_tests(tests, NULL, free_copy);
}
