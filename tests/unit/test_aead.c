/*
 * test_aead — crypto/aead for both algorithms: round trips, the documented
 * nonce layout checked against libsodium's one-shot functions, the counter
 * advancing only on success, tamper detection, nonce exhaustion, and Noise
 * Rekey() recomputed independently. AES-256-GCM tests are skipped (loudly)
 * on CPUs without hardware AES.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/aead.h"
#include "lib/err.h"

static const enum vx6_aead_alg CHACHA = VX6_AEAD_CHACHA20_POLY1305;
static const enum vx6_aead_alg AES = VX6_AEAD_AES256_GCM;

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

/* The nonce aead.h documents: 4 zero bytes, then the counter, little-endian
 * for ChaCha20-Poly1305 and big-endian for AES-256-GCM (big_endian picks). */
static void
make_nonce(bool big_endian, uint64_t n, uint8_t nonce[12])
{
	memset(nonce, 0, 12);
	for (int i = 0; i < 8; i++) {
		if (big_endian)
			nonce[11 - i] = (uint8_t)(n >> (8 * i));
		else
			nonce[4 + i] = (uint8_t)(n >> (8 * i));
	}
}

/* One-shot reference encryption with libsodium (detached tag) under an
 * explicit nonce. */
static void
ref_seal_nonce(enum vx6_aead_alg alg, const uint8_t key[32], const uint8_t nonce[12],
    const uint8_t *ad, size_t adlen, const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16])
{
	if (alg == VX6_AEAD_AES256_GCM)
		crypto_aead_aes256gcm_encrypt_detached(ct, tag, NULL, pt, len, ad, adlen, NULL, nonce, key);
	else
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(ct, tag, NULL, pt, len, ad, adlen,
		    NULL, nonce, key);
}

/* Reference encryption under the documented nonce for counter n. */
static void
ref_seal(enum vx6_aead_alg alg, const uint8_t key[32], uint64_t n, const uint8_t *ad,
    size_t adlen, const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16])
{
	uint8_t nonce[12];

	make_nonce(alg == VX6_AEAD_AES256_GCM, n, nonce);
	ref_seal_nonce(alg, key, nonce, ad, adlen, pt, len, ct, tag);
}

/* Skips the calling test when alg cannot run here, saying so on stderr. */
static void
require_alg(enum vx6_aead_alg alg)
{
	if (alg == VX6_AEAD_AES256_GCM && !crypto_aead_aes256gcm_is_available()) {
		fprintf(stderr, "*** SKIPPING AES-256-GCM test: this CPU has no hardware AES "
		    "(crypto_aead_aes256gcm_is_available() == 0) ***\n");
		skip();
	}
}

static void
fill_key(uint8_t key[32], uint8_t b)
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(b + i * 3);
}

/* seal then open (with a separate receiver) restores the plaintext for
 * several lengths and AD, and both counters advance in step. */
static void
round_trip(enum vx6_aead_alg alg)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 64, 1000, 4096 };
	struct vx6_aead tx, rx;
	uint8_t key[32], pt[4096], buf[4096], tag[16], ad[13];

	require_alg(alg);
	fill_key(key, 1);
	randombytes_buf(ad, sizeof(ad));
	assert_int_equal(vx6_aead_init(&tx, alg, key), 0);
	assert_int_equal(vx6_aead_init(&rx, alg, key), 0);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i], adlen = i % 2 ? sizeof(ad) : 0;
		randombytes_buf(pt, len);
		memcpy(buf, pt, len);
		assert_int_equal(vx6_aead_seal(&tx, adlen ? ad : NULL, adlen, buf, len, tag), 0);
		if (len >= 16)
			assert_memory_not_equal(buf, pt, len);
		assert_int_equal(vx6_aead_open(&rx, adlen ? ad : NULL, adlen, buf, len, tag, buf), 0);
		assert_memory_equal(buf, pt, len);
		assert_true(tx.n == i + 1);
		assert_true(rx.n == i + 1);
	}
	vx6_aead_wipe(&tx);
	vx6_aead_wipe(&rx);
	assert_true(sodium_is_zero((const unsigned char *)&tx, sizeof(tx)));
}

static void test_round_trip_chacha(void **state) { (void)state; round_trip(CHACHA); }
static void test_round_trip_aes(void **state) { (void)state; round_trip(AES); }

/* Ciphertext and tag equal libsodium's one-shot output under the documented
 * nonce, for counters whose bytes are all distinct (so the byte order is
 * pinned down), and opening at counter n accepts exactly that output. */
static void
nonce_layout(enum vx6_aead_alg alg)
{
	static const uint64_t counters[] = { 0, 1, 255, 256, 0x0102030405060708ULL,
		UINT64_MAX - 1 };
	struct vx6_aead a;
	uint8_t key[32], pt[40], buf[40], tag[16], want[40], want_tag[16], ad[5] = { 'h', 'd', 'r', '0', '1' };

	require_alg(alg);
	fill_key(key, 9);
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		assert_int_equal(vx6_aead_init(&a, alg, key), 0);
		a.n = counters[i];
		memcpy(buf, pt, sizeof(pt));
		assert_int_equal(vx6_aead_seal(&a, ad, sizeof(ad), buf, sizeof(buf), tag), 0);
		ref_seal(alg, key, counters[i], ad, sizeof(ad), pt, sizeof(pt), want, want_tag);
		assert_memory_equal(buf, want, sizeof(buf));
		assert_memory_equal(tag, want_tag, sizeof(tag));
		assert_true(a.n == counters[i] + 1);

		assert_int_equal(vx6_aead_init(&a, alg, key), 0);
		a.n = counters[i];
		assert_int_equal(vx6_aead_open(&a, ad, sizeof(ad), want, sizeof(want), want_tag, buf), 0);
		assert_memory_equal(buf, pt, sizeof(pt));
	}
	/* the other byte order gives a different ciphertext (the test can tell) */
	{
		uint8_t nonce[12];
		make_nonce(alg != VX6_AEAD_AES256_GCM, 0x0102030405060708ULL, nonce);
		ref_seal_nonce(alg, key, nonce, ad, sizeof(ad), pt, sizeof(pt), want, want_tag);
	}
	assert_int_equal(vx6_aead_init(&a, alg, key), 0);
	a.n = 0x0102030405060708ULL;
	memcpy(buf, pt, sizeof(pt));
	assert_int_equal(vx6_aead_seal(&a, ad, sizeof(ad), buf, sizeof(buf), tag), 0);
	assert_memory_not_equal(buf, want, sizeof(buf));
	vx6_aead_wipe(&a);
}

static void test_nonce_layout_chacha(void **state) { (void)state; nonce_layout(CHACHA); }
static void test_nonce_layout_aes(void **state) { (void)state; nonce_layout(AES); }

/* The receive counter advances only on a successful open: a forged record
 * or one from the future leaves it alone, and the genuine record still
 * opens afterwards. */
static void
counter_on_success(enum vx6_aead_alg alg)
{
	struct vx6_aead tx, rx;
	uint8_t key[32], m[3][24], tags[3][16], out[24], bad[24];

	require_alg(alg);
	fill_key(key, 3);
	assert_int_equal(vx6_aead_init(&tx, alg, key), 0);
	assert_int_equal(vx6_aead_init(&rx, alg, key), 0);
	for (int i = 0; i < 3; i++) {
		memset(m[i], 'a' + i, sizeof(m[i]));
		assert_int_equal(vx6_aead_seal(&tx, NULL, 0, m[i], sizeof(m[i]), tags[i]), 0);
	}
	assert_int_equal(vx6_aead_open(&rx, NULL, 0, m[0], 24, tags[0], out), 0);
	assert_true(rx.n == 1);
	memcpy(bad, m[1], sizeof(bad));
	bad[0] ^= 1;
	assert_int_equal(vx6_aead_open(&rx, NULL, 0, bad, 24, tags[1], out), VX6_ERR_CRYPTO);
	assert_true(rx.n == 1);
	assert_int_equal(vx6_aead_open(&rx, NULL, 0, m[2], 24, tags[2], out), VX6_ERR_CRYPTO);
	assert_true(rx.n == 1);
	assert_int_equal(vx6_aead_open(&rx, NULL, 0, m[0], 24, tags[0], out), VX6_ERR_CRYPTO);
	assert_true(rx.n == 1);                          /* a replay fails too */
	assert_int_equal(vx6_aead_open(&rx, NULL, 0, m[1], 24, tags[1], out), 0);
	assert_true(rx.n == 2);
	assert_int_equal(vx6_aead_open(&rx, NULL, 0, m[2], 24, tags[2], out), 0);
	assert_true(rx.n == 3);
	memset(bad, 'c', sizeof(bad));
	assert_memory_equal(out, bad, sizeof(out));
	vx6_aead_wipe(&tx);
	vx6_aead_wipe(&rx);
}

static void test_counter_chacha(void **state) { (void)state; counter_on_success(CHACHA); }
static void test_counter_aes(void **state) { (void)state; counter_on_success(AES); }

/* Every 1-bit flip of the tag, the ciphertext or the AD, a shorter or
 * longer AD, or a wrong key fails with CRYPTO and leaves the counter. */
static void
tamper(enum vx6_aead_alg alg)
{
	struct vx6_aead tx, rx, wrong;
	uint8_t key[32], key2[32], ct[32], tag[16], ad[8] = { 'a', 'd', 'd', 'a', 't', 'a', '!', '!' };
	uint8_t out[32];

	require_alg(alg);
	fill_key(key, 5);
	fill_key(key2, 6);
	assert_int_equal(vx6_aead_init(&tx, alg, key), 0);
	assert_int_equal(vx6_aead_init(&rx, alg, key), 0);
	assert_int_equal(vx6_aead_init(&wrong, alg, key2), 0);
	memset(ct, 0x5a, sizeof(ct));
	assert_int_equal(vx6_aead_seal(&tx, ad, sizeof(ad), ct, sizeof(ct), tag), 0);

	for (size_t bit = 0; bit < sizeof(tag) * 8; bit++) {
		tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(vx6_aead_open(&rx, ad, sizeof(ad), ct, sizeof(ct), tag, out),
		    VX6_ERR_CRYPTO);
		tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (size_t bit = 0; bit < sizeof(ct) * 8; bit++) {
		ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(vx6_aead_open(&rx, ad, sizeof(ad), ct, sizeof(ct), tag, out),
		    VX6_ERR_CRYPTO);
		ct[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (size_t bit = 0; bit < sizeof(ad) * 8; bit++) {
		ad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(vx6_aead_open(&rx, ad, sizeof(ad), ct, sizeof(ct), tag, out),
		    VX6_ERR_CRYPTO);
		ad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_int_equal(vx6_aead_open(&rx, ad, sizeof(ad) - 1, ct, sizeof(ct), tag, out),
	    VX6_ERR_CRYPTO);
	assert_int_equal(vx6_aead_open(&rx, NULL, 0, ct, sizeof(ct), tag, out), VX6_ERR_CRYPTO);
	assert_int_equal(vx6_aead_open(&rx, ad, sizeof(ad), ct, sizeof(ct) - 1, tag, out),
	    VX6_ERR_CRYPTO);
	assert_int_equal(vx6_aead_open(&wrong, ad, sizeof(ad), ct, sizeof(ct), tag, out),
	    VX6_ERR_CRYPTO);
	assert_true(rx.n == 0);
	assert_true(wrong.n == 0);
	assert_int_equal(vx6_aead_open(&rx, ad, sizeof(ad), ct, sizeof(ct), tag, out), 0);
	assert_true(rx.n == 1);
	vx6_aead_wipe(&tx);
	vx6_aead_wipe(&rx);
	vx6_aead_wipe(&wrong);
}

static void test_tamper_chacha(void **state) { (void)state; tamper(CHACHA); }
static void test_tamper_aes(void **state) { (void)state; tamper(AES); }

/* Nonce 2^64-1 is never used: at n = 2^64-1 seal and open fail with NONCE
 * without touching the buffer or the counter; n = 2^64-2 is the last one. */
static void
nonce_exhaustion(enum vx6_aead_alg alg)
{
	struct vx6_aead a;
	uint8_t key[32], buf[16], tag[16], orig[16], out[16];

	require_alg(alg);
	fill_key(key, 7);
	memset(buf, 0x11, sizeof(buf));
	memcpy(orig, buf, sizeof(buf));
	assert_int_equal(vx6_aead_init(&a, alg, key), 0);
	a.n = UINT64_MAX;
	memset(tag, 0, sizeof(tag));
	assert_int_equal(vx6_aead_seal(&a, NULL, 0, buf, sizeof(buf), tag), VX6_ERR_NONCE);
	assert_memory_equal(buf, orig, sizeof(buf));
	assert_true(sodium_is_zero(tag, sizeof(tag)));
	assert_true(a.n == UINT64_MAX);
	assert_int_equal(vx6_aead_open(&a, NULL, 0, buf, sizeof(buf), tag, out), VX6_ERR_NONCE);
	assert_true(a.n == UINT64_MAX);

	a.n = UINT64_MAX - 1;
	assert_int_equal(vx6_aead_seal(&a, NULL, 0, buf, sizeof(buf), tag), 0);
	assert_true(a.n == UINT64_MAX);
	assert_int_equal(vx6_aead_seal(&a, NULL, 0, buf, sizeof(buf), tag), VX6_ERR_NONCE);
	vx6_aead_wipe(&a);
}

static void test_nonce_exhaustion_chacha(void **state) { (void)state; nonce_exhaustion(CHACHA); }
static void test_nonce_exhaustion_aes(void **state) { (void)state; nonce_exhaustion(AES); }

/* Rekey sets the key to ENCRYPT(k, 2^64-1, "", zeros(32))[0..32), computed
 * here with libsodium, restarts the counter at 0 whatever it was, and the
 * next record is sealed under the new key with nonce 0. */
static void
rekey(enum vx6_aead_alg alg)
{
	struct vx6_aead a, b;
	uint8_t key[32], zeros[32] = { 0 }, block[32], tag[16], newkey[32];
	uint8_t pt[20], buf[20], want[20], want_tag[16];

	require_alg(alg);
	fill_key(key, 11);
	ref_seal(alg, key, UINT64_MAX, NULL, 0, zeros, sizeof(zeros), block, tag);
	memcpy(newkey, block, 32);
	assert_memory_not_equal(newkey, key, 32);

	assert_int_equal(vx6_aead_init(&a, alg, key), 0);
	a.n = 12345;
	assert_int_equal(vx6_aead_rekey(&a), 0);
	assert_true(a.n == 0);
	assert_int_equal(a.alg, alg);
	assert_memory_equal(a.key, newkey, 32);

	memset(pt, 'r', sizeof(pt));
	memcpy(buf, pt, sizeof(pt));
	assert_int_equal(vx6_aead_seal(&a, NULL, 0, buf, sizeof(buf), tag), 0);
	ref_seal(alg, newkey, 0, NULL, 0, pt, sizeof(pt), want, want_tag);
	assert_memory_equal(buf, want, sizeof(buf));
	assert_memory_equal(tag, want_tag, sizeof(tag));

	/* both ends rekeying in step keep talking; one that did not cannot */
	assert_int_equal(vx6_aead_init(&b, alg, key), 0);
	b.n = 77;
	assert_int_equal(vx6_aead_rekey(&b), 0);
	assert_int_equal(vx6_aead_open(&b, NULL, 0, want, sizeof(want), want_tag, buf), 0);
	assert_memory_equal(buf, pt, sizeof(pt));
	assert_int_equal(vx6_aead_init(&b, alg, key), 0);
	assert_int_equal(vx6_aead_open(&b, NULL, 0, want, sizeof(want), want_tag, buf), VX6_ERR_CRYPTO);

	/* rekey is usable at n = 2^64-1, where seal/open are refused */
	assert_int_equal(vx6_aead_init(&b, alg, key), 0);
	b.n = UINT64_MAX;
	assert_int_equal(vx6_aead_rekey(&b), 0);
	assert_true(b.n == 0);
	assert_memory_equal(b.key, newkey, 32);
	vx6_aead_wipe(&a);
	vx6_aead_wipe(&b);
	sodium_memzero(newkey, sizeof(newkey));
}

static void test_rekey_chacha(void **state) { (void)state; rekey(CHACHA); }
static void test_rekey_aes(void **state) { (void)state; rekey(AES); }

/* init refuses unknown algorithms; availability and names are reported. */
static void
test_init_and_names(void **state)
{
	struct vx6_aead a;
	uint8_t key[32] = { 0 };
	unsigned mask = vx6_aead_available_mask();

	(void)state;
	assert_int_equal(vx6_aead_init(&a, (enum vx6_aead_alg)0, key), VX6_ERR_INVAL);
	assert_int_equal(vx6_aead_init(&a, (enum vx6_aead_alg)3, key), VX6_ERR_INVAL);
	assert_true(mask & 1u);                                   /* ChaCha always */
	assert_int_equal(!!(mask & 2u), !!crypto_aead_aes256gcm_is_available());
	if (!(mask & 2u))
		assert_int_equal(vx6_aead_init(&a, AES, key), VX6_ERR_INVAL);
	assert_string_equal(vx6_aead_name(CHACHA), "chacha20-poly1305");
	assert_string_equal(vx6_aead_name(AES), "aes256-gcm");
	vx6_aead_wipe(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_chacha),
		cmocka_unit_test(test_round_trip_aes),
		cmocka_unit_test(test_nonce_layout_chacha),
		cmocka_unit_test(test_nonce_layout_aes),
		cmocka_unit_test(test_counter_chacha),
		cmocka_unit_test(test_counter_aes),
		cmocka_unit_test(test_tamper_chacha),
		cmocka_unit_test(test_tamper_aes),
		cmocka_unit_test(test_nonce_exhaustion_chacha),
		cmocka_unit_test(test_nonce_exhaustion_aes),
		cmocka_unit_test(test_rekey_chacha),
		cmocka_unit_test(test_rekey_aes),
		cmocka_unit_test(test_init_and_names),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
