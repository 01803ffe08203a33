/*
 * test_identity — crypto/identity: the node ID recomputed independently and
 * against a fixed vector (RFC 8032 test key 1), deterministic derivation,
 * domain-separated signatures (checked against the documented signed bytes,
 * every 1-bit flip, other domains and other keys), the key text form, and
 * the Ed25519 -> X25519 conversion's refusal of bad points.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/identity.h"
#include "lib/err.h"
#include "testutil.h"

/* RFC 8032 section 7.1, TEST 1. */
static const char *const RFC_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char *const RFC_PK = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/* base64url(RFC_PK) without padding, and BLAKE2b-256("vx6/node-id/v1" || RFC_PK),
 * both computed with Python's base64 and hashlib. */
static const char *const RFC_PK_TEXT = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
static const char *const RFC_NODE_ID = "db4d0a1fae927d9c5cc5c4b27f8e27dc75611c8ed4d7f43bcf1f312b18e2a31d";

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

/* BLAKE2b-256("vx6/node-id/v1" || pk), computed here with the one-shot API. */
static void
expected_node_id(uint8_t out[32], const uint8_t pk[32])
{
	uint8_t in[14 + 32];

	memcpy(in, "vx6/node-id/v1", 14);
	memcpy(in + 14, pk, 32);
	crypto_generichash(out, 32, in, sizeof(in), NULL, 0);
}

/* The RFC 8032 seed gives the RFC public key, and the node ID, its hex form
 * and the key text match values computed outside libsodium. */
static void
test_known_answer(void **state)
{
	uint8_t seed[32], pk[32], nid[32], back[32];
	char hex[VX6_NODE_ID_HEX_LEN], text[VX6_KEY_TEXT_LEN];
	struct vx6_identity id;

	(void)state;
	tu_hex(RFC_SEED, seed, sizeof(seed));
	tu_hex(RFC_PK, pk, sizeof(pk));
	tu_hex(RFC_NODE_ID, nid, sizeof(nid));
	assert_int_equal(vx6_identity_from_seed(&id, seed), 0);
	assert_memory_equal(id.pk, pk, 32);
	assert_memory_equal(id.node_id, nid, 32);
	vx6_node_id_to_hex(id.node_id, hex);
	assert_string_equal(hex, RFC_NODE_ID);
	vx6_key_to_text(id.pk, text);
	assert_string_equal(text, RFC_PK_TEXT);
	vx6_identity_seed(&id, back);
	assert_memory_equal(back, seed, 32);
	vx6_identity_wipe(&id);
	assert_true(sodium_is_zero((const unsigned char *)&id, sizeof(id)));
}

/* For many keys, the node ID equals BLAKE2b-256 of the label and the key
 * computed independently, both in the identity and from the key alone. */
static void
test_node_id_recomputed(void **state)
{
	struct vx6_identity id;
	uint8_t want[32], got[32], seed[32];
	char hex[VX6_NODE_ID_HEX_LEN], want_hex[VX6_NODE_ID_HEX_LEN];

	(void)state;
	for (int i = 0; i < 64; i++) {
		randombytes_buf(seed, sizeof(seed));
		assert_int_equal(vx6_identity_from_seed(&id, seed), 0);
		expected_node_id(want, id.pk);
		assert_memory_equal(id.node_id, want, 32);
		vx6_node_id_from_key(got, id.pk);
		assert_memory_equal(got, want, 32);
		vx6_node_id_to_hex(got, hex);
		for (int j = 0; j < 32; j++)
			snprintf(want_hex + 2 * j, 3, "%02x", want[j]);
		assert_string_equal(hex, want_hex);
		vx6_identity_wipe(&id);
	}
}

/* from_seed is deterministic and derives every field from the seed:
 * Ed25519 keys as libsodium makes them, and the X25519 pair matching. */
static void
test_from_seed_deterministic(void **state)
{
	struct vx6_identity a, b, c;
	uint8_t seed[32], pk[32], sk[64], xpk[32], xsk[32], base[32];

	(void)state;
	memset(seed, 0x42, sizeof(seed));
	assert_int_equal(vx6_identity_from_seed(&a, seed), 0);
	assert_int_equal(vx6_identity_from_seed(&b, seed), 0);
	assert_memory_equal(&a, &b, sizeof(a));

	assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
	assert_memory_equal(a.pk, pk, 32);
	assert_memory_equal(a.sk, sk, 64);
	assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(xpk, pk), 0);
	assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(xsk, sk), 0);
	assert_memory_equal(a.x_pk, xpk, 32);
	assert_memory_equal(a.x_sk, xsk, 32);
	assert_int_equal(crypto_scalarmult_base(base, a.x_sk), 0);
	assert_memory_equal(base, a.x_pk, 32);

	seed[31] ^= 1;
	assert_int_equal(vx6_identity_from_seed(&c, seed), 0);
	assert_memory_not_equal(c.pk, a.pk, 32);
	assert_memory_not_equal(c.node_id, a.node_id, 32);
	vx6_identity_wipe(&a);
	vx6_identity_wipe(&b);
	vx6_identity_wipe(&c);
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(xsk, sizeof(xsk));
}

/* The signature covers exactly "vx6/" || domain || 0x00 || message: it
 * verifies as a plain Ed25519 signature over those bytes. */
static void
test_signed_bytes_layout(void **state)
{
	struct vx6_identity id;
	uint8_t sig[64], m[64];
	const char *msg = "hello";

	(void)state;
	tu_identity(&id, 7);
	assert_int_equal(vx6_sign(&id, "session/v1", msg, 5, sig), 0);
	memcpy(m, "vx6/session/v1\0hello", 20);
	assert_int_equal(crypto_sign_verify_detached(sig, m, 20, id.pk), 0);
	/* and not over the message alone or without the separator */
	assert_int_not_equal(crypto_sign_verify_detached(sig, (const uint8_t *)msg, 5, id.pk), 0);
	assert_int_not_equal(crypto_sign_verify_detached(sig, (const uint8_t *)"vx6/session/v1hello",
	    19, id.pk), 0);
	vx6_identity_wipe(&id);
}

/* A signature for one domain fails for every other domain, including ones
 * that share the concatenated bytes without the 0x00 separator. */
static void
test_domain_separation(void **state)
{
	struct vx6_identity id;
	uint8_t sig[64];

	(void)state;
	tu_identity(&id, 9);
	assert_int_equal(vx6_sign(&id, "session/v1", "abc", 3, sig), 0);
	assert_int_equal(vx6_verify(id.pk, "session/v1", "abc", 3, sig), 0);
	assert_int_equal(vx6_verify(id.pk, "session/v2", "abc", 3, sig), VX6_ERR_BAD_SIGNATURE);
	assert_int_equal(vx6_verify(id.pk, "session", "abc", 3, sig), VX6_ERR_BAD_SIGNATURE);
	assert_int_equal(vx6_verify(id.pk, "", "abc", 3, sig), VX6_ERR_BAD_SIGNATURE);
	assert_int_equal(vx6_verify(id.pk, "record/v1", "abc", 3, sig), VX6_ERR_BAD_SIGNATURE);

	/* ("ab", "c") and ("a", "bc") must not be confused */
	assert_int_equal(vx6_sign(&id, "ab", "c", 1, sig), 0);
	assert_int_equal(vx6_verify(id.pk, "ab", "c", 1, sig), 0);
	assert_int_equal(vx6_verify(id.pk, "a", "bc", 2, sig), VX6_ERR_BAD_SIGNATURE);
	assert_int_equal(vx6_verify(id.pk, "abc", "", 0, sig), VX6_ERR_BAD_SIGNATURE);

	/* empty message */
	assert_int_equal(vx6_sign(&id, "d", NULL, 0, sig), 0);
	assert_int_equal(vx6_verify(id.pk, "d", NULL, 0, sig), 0);
	assert_int_equal(vx6_verify(id.pk, "d", "\0", 1, sig), VX6_ERR_BAD_SIGNATURE);
	vx6_identity_wipe(&id);
}

/* Every 1-bit flip of the message or of the signature fails, and another
 * key (and a flipped key) fails. */
static void
test_bit_flips_and_other_key(void **state)
{
	struct vx6_identity id, other;
	uint8_t msg[64], sig[64], pk[32];

	(void)state;
	tu_identity(&id, 1);
	tu_identity(&other, 2);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 13);
	assert_int_equal(vx6_sign(&id, "session/v1", msg, sizeof(msg), sig), 0);
	assert_int_equal(vx6_verify(id.pk, "session/v1", msg, sizeof(msg), sig), 0);
	for (size_t bit = 0; bit < sizeof(msg) * 8; bit++) {
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(vx6_verify(id.pk, "session/v1", msg, sizeof(msg), sig),
		    VX6_ERR_BAD_SIGNATURE);
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (size_t bit = 0; bit < sizeof(sig) * 8; bit++) {
		sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(vx6_verify(id.pk, "session/v1", msg, sizeof(msg), sig),
		    VX6_ERR_BAD_SIGNATURE);
		sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (size_t bit = 0; bit < sizeof(pk) * 8; bit++) {
		memcpy(pk, id.pk, 32);
		pk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(vx6_verify(pk, "session/v1", msg, sizeof(msg), sig),
		    VX6_ERR_BAD_SIGNATURE);
	}
	/* truncating the message by one byte fails too */
	assert_int_equal(vx6_verify(id.pk, "session/v1", msg, sizeof(msg) - 1, sig),
	    VX6_ERR_BAD_SIGNATURE);
	assert_int_equal(vx6_verify(other.pk, "session/v1", msg, sizeof(msg), sig),
	    VX6_ERR_BAD_SIGNATURE);
	assert_int_equal(vx6_verify(id.pk, "session/v1", msg, sizeof(msg), sig), 0);
	vx6_identity_wipe(&id);
	vx6_identity_wipe(&other);
}

/* Messages up to VX6_SIGN_MAX_MSG are signed; longer ones are TOO_LARGE
 * for both sign and verify. */
static void
test_message_size_cap(void **state)
{
	struct vx6_identity id;
	uint8_t *big = calloc(1, VX6_SIGN_MAX_MSG + 1), sig[64];

	(void)state;
	assert_non_null(big);
	tu_identity(&id, 3);
	assert_int_equal(vx6_sign(&id, "x", big, VX6_SIGN_MAX_MSG, sig), 0);
	assert_int_equal(vx6_verify(id.pk, "x", big, VX6_SIGN_MAX_MSG, sig), 0);
	assert_int_equal(vx6_sign(&id, "x", big, VX6_SIGN_MAX_MSG + 1, sig), VX6_ERR_TOO_LARGE);
	assert_int_equal(vx6_verify(id.pk, "x", big, VX6_SIGN_MAX_MSG + 1, sig), VX6_ERR_TOO_LARGE);
	free(big);
	vx6_identity_wipe(&id);
}

/* Keys survive text form: 43 base64url characters, no padding. */
static void
test_key_text_round_trip(void **state)
{
	uint8_t pk[32], back[32];
	char text[VX6_KEY_TEXT_LEN];

	(void)state;
	for (int i = 0; i < 200; i++) {
		randombytes_buf(pk, sizeof(pk));
		if (i == 0)
			memset(pk, 0, sizeof(pk));
		if (i == 1)
			memset(pk, 0xff, sizeof(pk));
		vx6_key_to_text(pk, text);
		assert_int_equal(strlen(text), 43);
		for (size_t j = 0; j < 43; j++) {
			char c = text[j];
			assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_');
		}
		assert_int_equal(vx6_key_from_text(back, text), 0);
		assert_memory_equal(back, pk, 32);
	}
}

/* Text that is not exactly one key is refused: wrong lengths, padding,
 * the standard (non-URL) alphabet, stray characters anywhere, whitespace,
 * and a last character with non-zero unused bits (a second spelling). */
static void
test_key_text_rejections(void **state)
{
	char t[128];
	uint8_t pk[32];
	const size_t n = strlen(RFC_PK_TEXT);

	(void)state;
	assert_int_equal(vx6_key_from_text(pk, RFC_PK_TEXT), 0);
	assert_int_equal(vx6_key_from_text(pk, NULL), VX6_ERR_MALFORMED);
	assert_int_equal(vx6_key_from_text(pk, ""), VX6_ERR_MALFORMED);
	/* every shorter prefix, and longer texts */
	for (size_t len = 0; len < n; len++) {
		memcpy(t, RFC_PK_TEXT, len);
		t[len] = '\0';
		assert_int_equal(vx6_key_from_text(pk, t), VX6_ERR_MALFORMED);
	}
	snprintf(t, sizeof(t), "%sA", RFC_PK_TEXT);
	assert_int_equal(vx6_key_from_text(pk, t), VX6_ERR_MALFORMED);
	snprintf(t, sizeof(t), "%s=", RFC_PK_TEXT);                 /* padded form */
	assert_int_equal(vx6_key_from_text(pk, t), VX6_ERR_MALFORMED);
	snprintf(t, sizeof(t), "%s%s", RFC_PK_TEXT, RFC_PK_TEXT);
	assert_int_equal(vx6_key_from_text(pk, t), VX6_ERR_MALFORMED);
	snprintf(t, sizeof(t), "%s\n", RFC_PK_TEXT);
	assert_int_equal(vx6_key_from_text(pk, t), VX6_ERR_MALFORMED);
	snprintf(t, sizeof(t), " %s", RFC_PK_TEXT);
	assert_int_equal(vx6_key_from_text(pk, t), VX6_ERR_MALFORMED);

	/* each position replaced by ASCII characters outside the alphabet */
	for (size_t pos = 0; pos < n; pos++) {
		for (int c = 1; c < 0x80; c++) {
			if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_')
				continue;
			memcpy(t, RFC_PK_TEXT, n + 1);
			t[pos] = (char)c;
			if (vx6_key_from_text(pk, t) != VX6_ERR_MALFORMED)
				fail_msg("accepted byte 0x%02x at position %zu", c, pos);
		}
	}

	/* 43 characters carry 258 bits: the last one's 2 low bits must be zero.
	 * RFC_PK_TEXT ends in 'o' (index 40, low bits 00); 'p' (41) decodes to
	 * the same key and must be refused. */
	memcpy(t, RFC_PK_TEXT, n + 1);
	assert_int_equal(t[n - 1], 'o');
	t[n - 1] = 'p';
	assert_int_equal(vx6_key_from_text(pk, t), VX6_ERR_MALFORMED);
}

/* Bytes 0x80..0xff are not base64url either: no position accepts one. */
static void
test_key_text_rejects_non_ascii(void **state)
{
	char t[64];
	uint8_t pk[32];
	const size_t n = strlen(RFC_PK_TEXT);
	int accepted = 0, first_c = 0;
	size_t first_pos = 0;

	(void)state;
	for (size_t pos = 0; pos < n; pos++) {
		for (int c = 0x80; c <= 0xff; c++) {
			memcpy(t, RFC_PK_TEXT, n + 1);
			t[pos] = (char)c;
			if (vx6_key_from_text(pk, t) != VX6_ERR_MALFORMED && accepted++ == 0) {
				first_c = c;
				first_pos = pos;
			}
		}
	}
	/* Regression (fixed): this failed until vx6_key_from_text (src/crypto/identity.c:127) checks that
	 * all 43 characters are in [A-Za-z0-9_-] before sodium_base642bin. The
	 * libsodium 1.0.18 decoder reads each character as a signed `char`, so
	 * bytes >= 0x80 decode as some 6-bit value and are accepted (5376 of the
	 * 43 * 128 one-byte variants of this key text). */
	if (accepted)
		print_message("%d non-ASCII variants accepted, first 0x%02x at position %zu\n",
		    accepted, first_c, first_pos);
	assert_int_equal(accepted, 0);
}

/* vx6_key_to_x25519 agrees with libsodium for valid keys. */
static void
test_x25519_valid_keys(void **state)
{
	uint8_t seed[32], pk[32], sk[64], want[32], got[32];

	(void)state;
	for (int i = 0; i < 64; i++) {
		randombytes_buf(seed, sizeof(seed));
		assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
		assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(want, pk), 0);
		assert_int_equal(vx6_key_to_x25519(got, pk), 0);
		assert_memory_equal(got, want, 32);
	}
	sodium_memzero(sk, sizeof(sk));
}

/* Small-order points, non-canonical encodings, points off the curve and
 * points with a small-order component are all MALFORMED. */
static void
test_x25519_rejects_bad_points(void **state)
{
	static const char *const bad[] = {
		/* all zero: y = 0, a point of order 4 */
		"0000000000000000000000000000000000000000000000000000000000000000",
		/* the identity (0, 1) */
		"0100000000000000000000000000000000000000000000000000000000000000",
		/* (0, -1), order 2 */
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		/* order-8 points */
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
		/* y = p (non-canonical 0) and y = p + 1 (non-canonical identity) */
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		/* y = 2 is not on the curve */
		"0200000000000000000000000000000000000000000000000000000000000000",
	};
	uint8_t pk[32], out[32], mixed[32], seed[32], sk[64], order4[32] = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_hex(bad[i], pk, sizeof(pk));
		if (vx6_key_to_x25519(out, pk) != VX6_ERR_MALFORMED)
			fail_msg("accepted bad point %s", bad[i]);
	}
	/* a valid key plus a point of order 4: on the curve, not prime order */
	memset(seed, 5, sizeof(seed));
	assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
	assert_int_equal(vx6_key_to_x25519(out, pk), 0);
	assert_int_equal(crypto_core_ed25519_add(mixed, pk, order4), 0);
	assert_memory_not_equal(mixed, pk, 32);
	assert_int_equal(vx6_key_to_x25519(out, mixed), VX6_ERR_MALFORMED);
	sodium_memzero(sk, sizeof(sk));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_node_id_recomputed),
		cmocka_unit_test(test_from_seed_deterministic),
		cmocka_unit_test(test_signed_bytes_layout),
		cmocka_unit_test(test_domain_separation),
		cmocka_unit_test(test_bit_flips_and_other_key),
		cmocka_unit_test(test_message_size_cap),
		cmocka_unit_test(test_key_text_round_trip),
		cmocka_unit_test(test_key_text_rejections),
		cmocka_unit_test(test_key_text_rejects_non_ascii),
		cmocka_unit_test(test_x25519_valid_keys),
		cmocka_unit_test(test_x25519_rejects_bad_points),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
