/*
 * test_handshake — the VX6 session handshake (src/core/handshake.h,
 * docs/PROTOCOL.md §3): IK and XX between two identities, AEAD and version
 * negotiation, pinned known-answer vectors (tests/vectors/handshake_*.txt),
 * and rejection of wrong keys, truncated, extended, bit-flipped, replayed,
 * late and oversized messages, with sticky failures.
 *
 * Identities: the initiator is tu_identity(0x11), the responder
 * tu_identity(0x22), a third party tu_identity(0x33). RNG seeds: 1001 for the
 * initiator and 2002 for the responder unless a test says otherwise, so a
 * fresh object with the same seed reproduces the same messages.
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

#include "core/handshake.h"
#include "crypto/aead.h"
#include "crypto/identity.h"
#include "lib/err.h"
#include "testutil.h"

#define CHACHA (1u << (VX6_AEAD_CHACHA20_POLY1305 - 1))
#define AESGCM (1u << (VX6_AEAD_AES256_GCM - 1))
#define ALL_AEADS (CHACHA | AESGCM)

#define ISEED 1001
#define RSEED 2002

enum kind { IK, XX };

static const struct vx6_hs_settings SET = { 262144, 16777216, 1024 };
static const struct vx6_hs_settings SET_R = { 65536, 1048576, 7 };

static struct vx6_identity id_i, id_r, id_x;

/* One handshake under test: both sides, their RNGs, and the messages. */
struct run {
	struct tu_env ienv, renv;
	struct vx6_hs *i, *r;
	uint8_t msg[4][VX6_HS_MAX_MSG];   /* msg[1..3] */
	size_t len[4];
};

static int
group_setup(void **state)
{
	(void)state;
	tu_identity(&id_i, 0x11);
	tu_identity(&id_r, 0x22);
	tu_identity(&id_x, 0x33);
	return 0;
}

/* Freed by run_free, or by the teardown when an assertion fails first. */
static void
hs_release(void *hs)
{
	vx6_hs_free(hs);
}

static void
mk_initiator(struct run *t, const uint8_t *expected, bool force_xx, unsigned mask, uint64_t seed)
{
	tu_env_init(&t->ienv, seed);
	t->i = vx6_hs_new_initiator(&id_i, expected, force_xx, &SET, mask, &t->ienv.env);
	assert_non_null(t->i);
	tu_track(t->i, hs_release);
}

static void
mk_responder_with(struct run *t, const struct vx6_hs_settings *set, unsigned mask, uint64_t seed)
{
	tu_env_init(&t->renv, seed);
	t->r = vx6_hs_new_responder(&id_r, set, mask, &t->renv.env);
	assert_non_null(t->r);
	tu_track(t->r, hs_release);
}

static void
mk_responder(struct run *t, unsigned mask, uint64_t seed)
{
	mk_responder_with(t, &SET_R, mask, seed);
}

/* A pair with the default seeds; IK expects the responder's real key. */
static void
mk_pair(struct run *t, enum kind k, unsigned imask, unsigned rmask)
{
	memset(t, 0, sizeof(*t));
	mk_initiator(t, k == IK ? id_r.pk : NULL, false, imask, ISEED);
	mk_responder(t, rmask, RSEED);
}

static void
run_free(struct run *t)
{
	tu_forget(t->i);
	tu_forget(t->r);
	vx6_hs_free(t->i);
	vx6_hs_free(t->r);
	t->i = t->r = NULL;
}

static int
step1(struct run *t)
{
	int n = vx6_hs_start(t->i, t->msg[1], sizeof(t->msg[1]));

	t->len[1] = n > 0 ? (size_t)n : 0;
	return n < 0 ? n : 0;
}

static int
step2(struct run *t)
{
	return vx6_hs_recv(t->r, t->msg[1], t->len[1], t->msg[2], sizeof(t->msg[2]), &t->len[2]);
}

static int
step3(struct run *t)
{
	return vx6_hs_recv(t->i, t->msg[2], t->len[2], t->msg[3], sizeof(t->msg[3]), &t->len[3]);
}

static int
step4(struct run *t)
{
	uint8_t out[VX6_HS_MAX_MSG];
	size_t outlen = 99;
	int rc = vx6_hs_recv(t->r, t->msg[3], t->len[3], out, sizeof(out), &outlen);

	assert_int_equal(outlen, 0);
	return rc;
}

/* Runs every message of the pattern, each step expected to succeed. */
static void
complete(struct run *t, enum kind k)
{
	assert_int_equal(step1(t), 0);
	assert_int_equal(step2(t), 0);
	assert_int_equal(step3(t), 0);
	if (k == XX)
		assert_int_equal(step4(t), 0);
	assert_true(vx6_hs_done(t->i));
	assert_true(vx6_hs_done(t->r));
}

/* Checks both results: keys mirror each other, identities and settings are
 * each other's, version 1, the expected pattern and AEAD. */
static void
check_results(struct run *t, enum kind k, enum vx6_aead_alg aead)
{
	struct vx6_hs_result ri, rr;
	uint8_t nid[VX6_NODE_ID_LEN];

	assert_int_equal(vx6_hs_result(t->i, &ri), 0);
	assert_int_equal(vx6_hs_result(t->r, &rr), 0);
	assert_memory_equal(ri.send_key, rr.recv_key, VX6_AEAD_KEYLEN);
	assert_memory_equal(ri.recv_key, rr.send_key, VX6_AEAD_KEYLEN);
	assert_memory_not_equal(ri.send_key, ri.recv_key, VX6_AEAD_KEYLEN);
	assert_memory_equal(ri.hash, rr.hash, VX6_NOISE_HASHLEN);
	assert_memory_equal(ri.peer_key, id_r.pk, VX6_KEY_LEN);
	assert_memory_equal(rr.peer_key, id_i.pk, VX6_KEY_LEN);
	assert_memory_equal(ri.peer_node_id, id_r.node_id, VX6_NODE_ID_LEN);
	assert_memory_equal(rr.peer_node_id, id_i.node_id, VX6_NODE_ID_LEN);
	vx6_node_id_from_key(nid, id_r.pk);
	assert_memory_equal(ri.peer_node_id, nid, VX6_NODE_ID_LEN);
	assert_int_equal(ri.version, 1);
	assert_int_equal(rr.version, 1);
	assert_int_equal(ri.pattern, k == IK ? VX6_NOISE_IK : VX6_NOISE_XX);
	assert_int_equal(rr.pattern, ri.pattern);
	assert_int_equal(ri.aead, aead);
	assert_int_equal(rr.aead, aead);
	assert_memory_equal(&ri.peer_settings, &SET_R, sizeof(SET_R));
	assert_memory_equal(&rr.peer_settings, &SET, sizeof(SET));
	sodium_memzero(&ri, sizeof(ri));
	sodium_memzero(&rr, sizeof(rr));
}

/* IK completes in 218+161 bytes and both sides agree on keys, identities, version 1, ChaCha. */
static void
test_ik_completes(void **state)
{
	/* IK completes in two messages of the exact lengths of §3.3, and both sides
	 * agree on keys, identities, settings, version 1 and ChaCha20-Poly1305. */
	struct run t;

	(void)state;
	mk_pair(&t, IK, CHACHA, CHACHA);
	assert_true(vx6_hs_is_initiator(t.i));
	assert_false(vx6_hs_is_initiator(t.r));
	complete(&t, IK);
	assert_int_equal(t.len[1], 218);
	assert_int_equal(t.len[2], 161);
	assert_int_equal(t.len[3], 0);            /* IK: the dialer has nothing to send */
	assert_memory_equal(t.msg[1], "VX6S\x01\x01\x01\x01\x01\x00", VX6_HS_HEADER_LEN);
	assert_int_equal(t.msg[2][0], VX6_HS_MSG2);
	check_results(&t, IK, VX6_AEAD_CHACHA20_POLY1305);
	assert_string_equal(vx6_hs_error_text(t.i), "");
	run_free(&t);
}

/* XX completes in 42+209+177 bytes and both sides agree on keys, identities, settings. */
static void
test_xx_completes(void **state)
{
	/* XX completes in three messages of the exact lengths of §3.3 and both sides
	 * agree on everything, learning each other's key from the handshake. */
	struct run t;

	(void)state;
	mk_pair(&t, XX, CHACHA, CHACHA);
	complete(&t, XX);
	assert_int_equal(t.len[1], 42);
	assert_int_equal(t.len[2], 209);
	assert_int_equal(t.len[3], 177);
	assert_memory_equal(t.msg[1], "VX6S\x01\x02\x01\x01\x01\x00", VX6_HS_HEADER_LEN);
	assert_int_equal(t.msg[3][0], VX6_HS_MSG3);
	check_results(&t, XX, VX6_AEAD_CHACHA20_POLY1305);
	run_free(&t);
}

/* AES-256-GCM is chosen only when both sides offer it, otherwise ChaCha20-Poly1305. */
static void
test_aead_negotiation(void **state)
{
	/* AES-256-GCM is chosen only when both sides offer it; if either side offers
	 * only ChaCha20-Poly1305, ChaCha is chosen (both patterns). */
	const bool have_aes = (vx6_aead_available_mask() & AESGCM) != 0;
	const struct {
		unsigned imask, rmask;
		enum vx6_aead_alg want;
	} cases[] = {
		{ ALL_AEADS, ALL_AEADS, have_aes ? VX6_AEAD_AES256_GCM : VX6_AEAD_CHACHA20_POLY1305 },
		{ CHACHA, ALL_AEADS, VX6_AEAD_CHACHA20_POLY1305 },
		{ ALL_AEADS, CHACHA, VX6_AEAD_CHACHA20_POLY1305 },
		{ CHACHA, CHACHA, VX6_AEAD_CHACHA20_POLY1305 },
	};

	(void)state;
	if (!have_aes)
		fprintf(stderr, "note: no AES-GCM on this machine; only ChaCha can be chosen\n");
	for (int k = IK; k <= XX; k++) {
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			struct run t;
			mk_pair(&t, (enum kind)k, cases[c].imask, cases[c].rmask);
			complete(&t, (enum kind)k);
			check_results(&t, (enum kind)k, cases[c].want);
			run_free(&t);
		}
	}
}

/* With no AEAD in common the acceptor refuses with an error message and the dialer fails. */
static void
test_no_common_aead(void **state)
{
	/* With no AEAD in common (dialer AES-GCM only, acceptor ChaCha only) the
	 * acceptor refuses with an error message and the dialer fails too. */
	struct run t;
	uint8_t out[VX6_HS_MAX_MSG];
	size_t outlen;

	(void)state;
	if (!(vx6_aead_available_mask() & AESGCM)) {
		/* An AES-only offer cannot even be built here. */
		struct tu_env e;
		tu_env_init(&e, 1);
		assert_null(vx6_hs_new_initiator(&id_i, NULL, false, &SET, AESGCM, &e.env));
		skip();
	}
	for (int k = IK; k <= XX; k++) {
		mk_pair(&t, (enum kind)k, AESGCM, CHACHA);
		assert_int_equal(step1(&t), 0);
		assert_int_equal(t.msg[1][8], AESGCM);
		assert_true(step2(&t) < 0);
		assert_false(vx6_hs_done(t.r));
		assert_true(t.len[2] >= 3);
		assert_int_equal(t.msg[2][0], VX6_HS_ERROR);
		assert_true(vx6_hs_recv(t.i, t.msg[2], t.len[2], out, sizeof(out), &outlen) < 0);
		assert_int_equal(outlen, 0);
		assert_false(vx6_hs_done(t.i));
		run_free(&t);
	}
	/* No algorithm at all is refused at construction. */
	assert_null(vx6_hs_new_responder(&id_r, &SET, 0, &t.renv.env));
}

/* --- pinned vectors ------------------------------------------------------ */

struct vecfile {
	uint8_t ikey[32], rkey[32];
	uint8_t msg[4][VX6_HS_MAX_MSG];
	size_t len[4];
	uint8_t hash[64], isend[32], rsend[32];
};

/* Parses a "name hex" vector file; fails the test on anything unexpected. */
static void
load_vectors(const char *path, struct vecfile *v)
{
	char line[2048];
	FILE *f = fopen(path, "r");
	unsigned seen = 0;

	memset(v, 0, sizeof(*v));
	if (f == NULL)
		fail_msg("cannot open %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		char name[64], hex[1500];
		uint8_t *dst = NULL;
		size_t cap = 0, n, *lenp = NULL;
		unsigned bit = 0;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%63s %1499s", name, hex) != 2)
			fail_msg("%s: bad line: %s", path, line);
		if (strncmp(name, "msg", 3) == 0 && name[3] >= '1' && name[3] <= '3' && !name[4]) {
			int m = name[3] - '0';
			dst = v->msg[m];
			cap = VX6_HS_MAX_MSG;
			lenp = &v->len[m];
			bit = 2u << m;                       /* 4, 8, 16 */
		} else if (strcmp(name, "initiator_key") == 0) {
			dst = v->ikey; cap = 32; bit = 1;
		} else if (strcmp(name, "responder_key") == 0) {
			dst = v->rkey; cap = 32; bit = 2;
		} else if (strcmp(name, "handshake_hash") == 0) {
			dst = v->hash; cap = 64; bit = 32;
		} else if (strcmp(name, "initiator_send_key") == 0) {
			dst = v->isend; cap = 32; bit = 64;
		} else if (strcmp(name, "responder_send_key") == 0) {
			dst = v->rsend; cap = 32; bit = 128;
		} else {
			fail_msg("%s: unknown field %s", path, name);
		}
		if (seen & bit)
			fail_msg("%s: duplicate field %s", path, name);
		seen |= bit;
		n = tu_hex(hex, dst, cap);
		if (lenp)
			*lenp = n;
		else if (n != cap)
			fail_msg("%s: %s has %zu bytes, want %zu", path, name, n, cap);
	}
	fclose(f);
	if ((seen & 0xef) != 0xef)
		fail_msg("%s: missing fields (mask %#x)", path, seen);
}

/* Compares regenerated bytes with pinned ones; on mismatch prints the new hex. */
static void
check_pinned(const char *what, const uint8_t *got, size_t glen, const uint8_t *want, size_t wlen)
{
	if (glen != wlen || memcmp(got, want, glen) != 0) {
		char *hex = malloc(2 * glen + 1);
		assert_non_null(hex);
		tu_hex_encode(got, glen, hex);
		fprintf(stderr, "%s differs from the pinned vector; regenerated: %s %s\n", what, what, hex);
		free(hex);
		fail_msg("%s does not match the pinned vector", what);
	}
}

static void
vectors(enum kind k, const char *path)
{
	struct vecfile v;
	struct run t;
	struct vx6_hs_result ri, rr;

	load_vectors(path, &v);
	assert_memory_equal(v.ikey, id_i.pk, 32);
	assert_memory_equal(v.rkey, id_r.pk, 32);
	assert_int_equal(v.len[3] != 0, k == XX);

	/* 1. Regenerate with the documented seeds and compare byte for byte. */
	memset(&t, 0, sizeof(t));
	mk_initiator(&t, k == IK ? id_r.pk : NULL, false, CHACHA, ISEED);
	mk_responder_with(&t, &SET, CHACHA, RSEED);
	complete(&t, k);
	check_pinned("msg1", t.msg[1], t.len[1], v.msg[1], v.len[1]);
	check_pinned("msg2", t.msg[2], t.len[2], v.msg[2], v.len[2]);
	if (k == XX)
		check_pinned("msg3", t.msg[3], t.len[3], v.msg[3], v.len[3]);
	assert_int_equal(vx6_hs_result(t.i, &ri), 0);
	assert_int_equal(vx6_hs_result(t.r, &rr), 0);
	check_pinned("handshake_hash", ri.hash, 64, v.hash, 64);
	check_pinned("initiator_send_key", ri.send_key, 32, v.isend, 32);
	check_pinned("responder_send_key", rr.send_key, 32, v.rsend, 32);
	run_free(&t);

	/* 2. The pinned msg1 is accepted by a fresh responder with another RNG
	 * (a new ephemeral), and its reply completes a handshake with a fresh
	 * initiator whose RNG reproduces the pinned ephemeral. */
	memset(&t, 0, sizeof(t));
	mk_initiator(&t, k == IK ? id_r.pk : NULL, false, CHACHA, ISEED);
	mk_responder_with(&t, &SET, CHACHA, 777);
	assert_int_equal(step1(&t), 0);
	memcpy(t.msg[1], v.msg[1], v.len[1]);
	t.len[1] = v.len[1];
	assert_int_equal(step2(&t), 0);
	assert_memory_not_equal(t.msg[2], v.msg[2], t.len[2]);
	assert_int_equal(step3(&t), 0);
	if (k == XX)
		assert_int_equal(step4(&t), 0);
	assert_true(vx6_hs_done(t.i) && vx6_hs_done(t.r));
	run_free(&t);

	/* 3. The pinned later messages are accepted by fresh peers in the state
	 * the vector describes, and end with the pinned keys. */
	memset(&t, 0, sizeof(t));
	mk_initiator(&t, k == IK ? id_r.pk : NULL, false, CHACHA, ISEED);
	assert_int_equal(step1(&t), 0);
	memcpy(t.msg[2], v.msg[2], v.len[2]);
	t.len[2] = v.len[2];
	assert_int_equal(step3(&t), 0);
	assert_true(vx6_hs_done(t.i));
	assert_int_equal(vx6_hs_result(t.i, &ri), 0);
	check_pinned("initiator_send_key (replayed)", ri.send_key, 32, v.isend, 32);
	if (k == XX) {
		mk_responder_with(&t, &SET, CHACHA, RSEED);
		memcpy(t.msg[1], v.msg[1], v.len[1]);
		t.len[1] = v.len[1];
		assert_int_equal(step2(&t), 0);
		memcpy(t.msg[3], v.msg[3], v.len[3]);
		t.len[3] = v.len[3];
		assert_int_equal(step4(&t), 0);
		assert_true(vx6_hs_done(t.r));
		assert_int_equal(vx6_hs_result(t.r, &rr), 0);
		check_pinned("responder_send_key (replayed)", rr.send_key, 32, v.rsend, 32);
	}
	sodium_memzero(&ri, sizeof(ri));
	sodium_memzero(&rr, sizeof(rr));
	run_free(&t);
}

/* IK bytes from the fixed seeds equal handshake_ik.txt, and the pinned bytes are accepted. */
static void
test_vectors_ik(void **state)
{
	/* The IK messages, final hash and transport keys from the fixed seeds equal
	 * the pinned bytes of handshake_ik.txt, and the pinned bytes are accepted. */
	(void)state;
	vectors(IK, VX6_VECTORS_DIR "/handshake_ik.txt");
}

/* Same for XX with handshake_xx.txt. */
static void
test_vectors_xx(void **state)
{
	(void)state;
	vectors(XX, VX6_VECTORS_DIR "/handshake_xx.txt");
}

/* --- rejections ---------------------------------------------------------- */

/* IK to the wrong key: acceptor VX6_ERR_CRYPTO + error code 3, dialer VX6_ERR_KEY_MISMATCH. */
static void
test_ik_wrong_key(void **state)
{
	/* An IK dialer expecting another key: the acceptor cannot decrypt, fails
	 * with VX6_ERR_CRYPTO and answers error code 3; the dialer turns that into
	 * VX6_ERR_KEY_MISMATCH with a text about the key. */
	struct run t;
	uint8_t out[VX6_HS_MAX_MSG];
	size_t outlen = 99;

	(void)state;
	memset(&t, 0, sizeof(t));
	mk_initiator(&t, id_x.pk, false, CHACHA, ISEED);
	mk_responder(&t, CHACHA, RSEED);
	assert_int_equal(step1(&t), 0);
	assert_int_equal(step2(&t), VX6_ERR_CRYPTO);
	assert_false(vx6_hs_done(t.r));
	assert_true(t.len[2] >= 3);
	assert_int_equal(t.msg[2][0], VX6_HS_ERROR);
	assert_int_equal(t.msg[2][1], VX6_HS_E_DECRYPT);
	assert_int_equal(t.msg[2][2], t.len[2] - 3);
	assert_int_equal(vx6_hs_recv(t.i, t.msg[2], t.len[2], out, sizeof(out), &outlen),
	    VX6_ERR_KEY_MISMATCH);
	assert_int_equal(outlen, 0);
	assert_false(vx6_hs_done(t.i));
	assert_non_null(strstr(vx6_hs_error_text(t.i), "key"));
	assert_non_null(strstr(vx6_hs_error_text(t.i), "unauthenticated"));
	assert_null(vx6_hs_presented_key(t.i));   /* IK proves nothing about the peer */
	run_free(&t);
}

/* XX with a pin (force_xx) to another node fails KEY_MISMATCH and reports the real key. */
static void
test_xx_pinned_key_mismatch(void **state)
{
	/* XX with a pinned key (force_xx) against another node: the dialer fails with
	 * VX6_ERR_KEY_MISMATCH, sends no message 3, and reports the key the peer
	 * proved; with the right pin force_xx completes as XX. */
	struct run t;
	char want[VX6_KEY_TEXT_LEN], got[VX6_KEY_TEXT_LEN];
	const uint8_t *pk;

	(void)state;
	memset(&t, 0, sizeof(t));
	mk_initiator(&t, id_x.pk, true, CHACHA, ISEED);
	mk_responder(&t, CHACHA, RSEED);
	assert_int_equal(step1(&t), 0);
	assert_int_equal(t.msg[1][5], VX6_NOISE_XX);
	assert_int_equal(step2(&t), 0);
	assert_int_equal(step3(&t), VX6_ERR_KEY_MISMATCH);
	assert_int_equal(t.len[3], 0);
	assert_false(vx6_hs_done(t.i));
	pk = vx6_hs_presented_key(t.i);
	assert_non_null(pk);
	assert_memory_equal(pk, id_r.pk, VX6_KEY_LEN);
	vx6_key_to_text(id_x.pk, want);
	vx6_key_to_text(id_r.pk, got);
	assert_non_null(strstr(vx6_hs_error_text(t.i), want));
	assert_non_null(strstr(vx6_hs_error_text(t.i), got));
	run_free(&t);

	memset(&t, 0, sizeof(t));
	mk_initiator(&t, id_r.pk, true, CHACHA, ISEED);
	mk_responder(&t, CHACHA, RSEED);
	complete(&t, XX);
	check_results(&t, XX, VX6_AEAD_CHACHA20_POLY1305);
	run_free(&t);
}

/* Disjoint version ranges fail with VX6_ERR_VERSION on the acceptor and on the dialer. */
static void
test_version_no_overlap(void **state)
{
	/* Version ranges that do not overlap ours (1..1): the acceptor fails with
	 * VX6_ERR_VERSION and answers code 2; the dialer receiving it fails with
	 * VX6_ERR_VERSION too. */
	const uint8_t ranges[][2] = { { 2, 2 }, { 2, 255 }, { 0, 0 }, { 255, 255 }, { 3, 2 } };
	uint8_t out[VX6_HS_MAX_MSG];
	size_t outlen;

	(void)state;
	for (int k = IK; k <= XX; k++) {
		for (size_t c = 0; c < sizeof(ranges) / sizeof(ranges[0]); c++) {
			struct run t;
			mk_pair(&t, (enum kind)k, CHACHA, CHACHA);
			assert_int_equal(step1(&t), 0);
			t.msg[1][6] = ranges[c][0];
			t.msg[1][7] = ranges[c][1];
			assert_int_equal(step2(&t), VX6_ERR_VERSION);
			assert_false(vx6_hs_done(t.r));
			assert_true(t.len[2] >= 3);
			assert_int_equal(t.msg[2][0], VX6_HS_ERROR);
			assert_int_equal(t.msg[2][1], VX6_HS_E_VERSION);
			assert_int_equal(vx6_hs_recv(t.i, t.msg[2], t.len[2], out, sizeof(out), &outlen),
			    VX6_ERR_VERSION);
			assert_int_equal(outlen, 0);
			assert_false(vx6_hs_done(t.i));
			assert_non_null(strstr(vx6_hs_error_text(t.i), "version"));
			run_free(&t);
		}
	}
}

/* Feeds message number `which` (1..3) of pattern k, replaced by `len` bytes
 * of `msg`, to a fresh receiver in the right state. Returns its result and
 * leaves the run allocated (caller frees) with the reply in t->msg[which+1]. */
static int
deliver_variant(struct run *t, enum kind k, int which, const uint8_t *msg, size_t len)
{
	uint8_t out[VX6_HS_MAX_MSG];
	size_t outlen;

	mk_pair(t, k, CHACHA, CHACHA);
	switch (which) {
	case 1:
		return vx6_hs_recv(t->r, msg, len, t->msg[2], sizeof(t->msg[2]), &t->len[2]);
	case 2:
		assert_int_equal(step1(t), 0);
		return vx6_hs_recv(t->i, msg, len, t->msg[3], sizeof(t->msg[3]), &t->len[3]);
	default:
		assert_int_equal(step1(t), 0);
		assert_int_equal(step2(t), 0);
		return vx6_hs_recv(t->r, msg, len, out, sizeof(out), &outlen);
	}
}

/* The genuine messages of pattern k with the default seeds. */
static void
genuine(struct run *g, enum kind k)
{
	mk_pair(g, k, CHACHA, CHACHA);
	complete(g, k);
}

/* Every truncated prefix and every one-byte extension of every message is MALFORMED. */
static void
test_truncated_and_extended(void **state)
{
	/* Every truncated prefix of every message, and every message with one extra
	 * byte, is rejected as malformed and leaves the receiver unfinished. */
	(void)state;
	for (int k = IK; k <= XX; k++) {
		struct run g;
		int nmsg = k == IK ? 2 : 3;

		genuine(&g, (enum kind)k);
		for (int m = 1; m <= nmsg; m++) {
			uint8_t buf[VX6_HS_MAX_MSG + 1];
			for (size_t len = 0; len <= g.len[m] + 1; len++) {
				struct run t;
				int rc;
				if (len == g.len[m])
					continue;
				memcpy(buf, g.msg[m], g.len[m]);
				buf[g.len[m]] = 0;
				rc = deliver_variant(&t, (enum kind)k, m, buf, len);
				if (rc != VX6_ERR_MALFORMED)
					fail_msg("%s msg%d of %zu bytes (genuine %zu): got %d, want MALFORMED",
					    k == IK ? "IK" : "XX", m, len, g.len[m], rc);
				assert_false(vx6_hs_done(t.i));
				assert_false(vx6_hs_done(t.r));
				run_free(&t);
			}
		}
		run_free(&g);
	}
}

/* True when bit `bit` of XX message 1 lies in a part that only later
 * messages can authenticate: the version range and AEAD offer (bound through
 * the prologue) and the cleartext ephemeral key. */
static bool
xx_msg1_late_bit(size_t bit)
{
	size_t byte = bit / 8;

	return (byte >= 6 && byte <= 8) || byte >= VX6_HS_HEADER_LEN;
}

/* Every 1-bit flip of every message is rejected at once or, for XX msg1, at message 2. */
static void
test_bitflips(void **state)
{
	/* Every single-bit flip of every message is rejected by its receiver; the
	 * only exceptions are XX message 1's version/AEAD offer and ephemeral bits,
	 * which the acceptor cannot check: then the dialer must reject message 2, so
	 * the handshake never completes with wrong keys. */
	int caught_later = 0;

	(void)state;
	for (int k = IK; k <= XX; k++) {
		struct run g;
		int nmsg = k == IK ? 2 : 3;

		genuine(&g, (enum kind)k);
		for (int m = 1; m <= nmsg; m++) {
			for (size_t bit = 0; bit < g.len[m] * 8; bit++) {
				uint8_t buf[VX6_HS_MAX_MSG];
				struct run t;
				int rc;

				memcpy(buf, g.msg[m], g.len[m]);
				buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				rc = deliver_variant(&t, (enum kind)k, m, buf, g.len[m]);
				if (rc == 0 && k == XX && m == 1 && xx_msg1_late_bit(bit)) {
					/* The acceptor answered; the dialer must refuse that answer. */
					uint8_t out[VX6_HS_MAX_MSG];
					size_t outlen;
					assert_false(vx6_hs_done(t.r));
					assert_int_equal(step1(&t), 0);
					rc = vx6_hs_recv(t.i, t.msg[2], t.len[2], out, sizeof(out), &outlen);
					if (rc == 0)
						fail_msg("XX msg1 bit %zu flipped: the dialer accepted message 2", bit);
					assert_false(vx6_hs_done(t.i));
					caught_later++;
				} else if (rc == 0) {
					fail_msg("%s msg%d bit %zu flipped: accepted", k == IK ? "IK" : "XX", m, bit);
				}
				assert_false(vx6_hs_done(t.i) && vx6_hs_done(t.r));
				run_free(&t);
			}
		}
		run_free(&g);
	}
	/* All 256 ephemeral bits at least must have reached message 2. */
	assert_true(caught_later >= 256);
}

/* A replayed message 1 gives a new acceptor keys nobody can use; replies are not transferable. */
static void
test_replayed_msg1(void **state)
{
	/* A message 1 replayed into a new acceptor yields a different message 2 and
	 * different keys, so traffic of the real session cannot be opened there; a
	 * message 2 from another handshake is rejected by a fresh dialer; the
	 * finished dialer rejects the stray reply; XX: the replayed message 3 is
	 * rejected by the new acceptor. */
	(void)state;
	for (int k = IK; k <= XX; k++) {
		struct run g, r2, i3;
		struct vx6_hs_result gi, r2r;
		uint8_t out[VX6_HS_MAX_MSG];
		size_t outlen;

		genuine(&g, (enum kind)k);

		memset(&r2, 0, sizeof(r2));
		mk_responder(&r2, CHACHA, 3003);
		memcpy(r2.msg[1], g.msg[1], g.len[1]);
		r2.len[1] = g.len[1];
		assert_int_equal(step2(&r2), 0);
		assert_int_equal(r2.len[2], g.len[2]);
		assert_memory_not_equal(r2.msg[2], g.msg[2], g.len[2]);

		/* The finished dialer refuses the second answer. */
		assert_int_equal(vx6_hs_recv(g.i, r2.msg[2], r2.len[2], out, sizeof(out), &outlen),
		    VX6_ERR_STATE);

		if (k == IK) {
			/* The new acceptor thinks it is done, but with other keys. */
			struct vx6_aead a, b;
			uint8_t rec[5] = "hello", tag[16];

			assert_true(vx6_hs_done(r2.r));
			assert_int_equal(vx6_hs_result(r2.r, &r2r), 0);
			memset(&gi, 0, sizeof(gi));
			{
				struct run fresh;
				mk_pair(&fresh, IK, CHACHA, CHACHA);
				complete(&fresh, IK);
				assert_int_equal(vx6_hs_result(fresh.i, &gi), 0);
				run_free(&fresh);
			}
			assert_memory_not_equal(gi.send_key, r2r.recv_key, 32);
			assert_int_equal(vx6_aead_init(&a, VX6_AEAD_CHACHA20_POLY1305, gi.send_key), 0);
			assert_int_equal(vx6_aead_init(&b, VX6_AEAD_CHACHA20_POLY1305, r2r.recv_key), 0);
			assert_int_equal(vx6_aead_seal(&a, NULL, 0, rec, sizeof(rec), tag), 0);
			assert_int_equal(vx6_aead_open(&b, NULL, 0, rec, sizeof(rec), tag, rec), VX6_ERR_CRYPTO);
			vx6_aead_wipe(&a);
			vx6_aead_wipe(&b);
			sodium_memzero(&gi, sizeof(gi));
			sodium_memzero(&r2r, sizeof(r2r));
		} else {
			/* The attacker cannot produce message 3: the genuine one fails. */
			assert_false(vx6_hs_done(r2.r));
			memcpy(r2.msg[3], g.msg[3], g.len[3]);
			r2.len[3] = g.len[3];
			assert_int_equal(step4(&r2), VX6_ERR_CRYPTO);
			assert_false(vx6_hs_done(r2.r));
		}

		/* A dialer with a fresh ephemeral rejects both earlier answers. */
		for (int which = 0; which < 2; which++) {
			memset(&i3, 0, sizeof(i3));
			mk_initiator(&i3, k == IK ? id_r.pk : NULL, false, CHACHA, 4004);
			assert_int_equal(step1(&i3), 0);
			memcpy(i3.msg[2], which ? r2.msg[2] : g.msg[2], g.len[2]);
			i3.len[2] = g.len[2];
			assert_int_equal(step3(&i3), VX6_ERR_CRYPTO);
			assert_int_equal(i3.len[3], 0);
			assert_false(vx6_hs_done(i3.i));
			run_free(&i3);
		}
		run_free(&r2);
		run_free(&g);
	}
}

/* Messages after completion, before start, or a second start fail with VX6_ERR_STATE. */
static void
test_messages_after_done(void **state)
{
	/* After completion any further message fails with VX6_ERR_STATE on both
	 * sides; so do receiving before start, starting twice and a responder start. */
	uint8_t out[VX6_HS_MAX_MSG];
	size_t outlen;

	(void)state;
	for (int k = IK; k <= XX; k++) {
		struct run g;
		genuine(&g, (enum kind)k);
		assert_int_equal(vx6_hs_recv(g.i, g.msg[2], g.len[2], out, sizeof(out), &outlen),
		    VX6_ERR_STATE);
		assert_int_equal(outlen, 0);
		assert_int_equal(vx6_hs_recv(g.r, g.msg[k == IK ? 1 : 3], g.len[k == IK ? 1 : 3], out,
		    sizeof(out), &outlen), VX6_ERR_STATE);
		assert_int_equal(outlen, 0);
		/* Sticky: the same message fails the same way again. */
		assert_int_equal(vx6_hs_recv(g.i, g.msg[2], g.len[2], out, sizeof(out), &outlen),
		    VX6_ERR_STATE);
		run_free(&g);
	}
	{
		struct run t;
		mk_pair(&t, XX, CHACHA, CHACHA);
		assert_int_equal(vx6_hs_start(t.r, out, sizeof(out)), VX6_ERR_STATE);
		assert_int_equal(vx6_hs_recv(t.i, (const uint8_t *)"\x02", 1, out, sizeof(out), &outlen),
		    VX6_ERR_STATE);
		run_free(&t);

		mk_pair(&t, IK, CHACHA, CHACHA);
		assert_int_equal(step1(&t), 0);
		assert_int_equal(vx6_hs_start(t.i, out, sizeof(out)), VX6_ERR_STATE);
		{
			struct vx6_hs_result res;
			assert_int_equal(vx6_hs_result(t.i, &res), VX6_ERR_STATE);
		}
		run_free(&t);
	}
}

/* Bodies over VX6_HS_MAX_MSG are TOO_LARGE at every step; exactly 512 bytes is MALFORMED. */
static void
test_oversized(void **state)
{
	/* A body over VX6_HS_MAX_MSG fails with VX6_ERR_TOO_LARGE at every step; a
	 * body of exactly VX6_HS_MAX_MSG is merely malformed. */
	uint8_t big[VX6_HS_MAX_MSG + 1];

	(void)state;
	memset(big, 0x41, sizeof(big));
	for (int k = IK; k <= XX; k++) {
		for (int m = 1; m <= (k == IK ? 2 : 3); m++) {
			struct run t;
			uint8_t first = m == 1 ? 'V' : (uint8_t)m;
			big[0] = first;
			assert_int_equal(deliver_variant(&t, (enum kind)k, m, big, sizeof(big)),
			    VX6_ERR_TOO_LARGE);
			assert_non_null(strstr(vx6_hs_error_text(m == 2 ? t.i : t.r), "too large"));
			run_free(&t);
			assert_int_equal(deliver_variant(&t, (enum kind)k, m, big, VX6_HS_MAX_MSG),
			    VX6_ERR_MALFORMED);
			run_free(&t);
		}
	}
}

/* After a failure the genuine message returns the first error, no reply and no result. */
static void
test_sticky_failure(void **state)
{
	/* A failed handshake stays failed: the genuine message afterwards returns the
	 * first error, produces no reply, and no result is available. */
	struct run g, t;
	struct vx6_hs_result res;
	uint8_t out[VX6_HS_MAX_MSG];
	size_t outlen;
	char first[400];

	(void)state;
	genuine(&g, XX);

	/* Dialer: truncated message 2, then the genuine one. */
	assert_int_equal(deliver_variant(&t, XX, 2, g.msg[2], g.len[2] - 1), VX6_ERR_MALFORMED);
	snprintf(first, sizeof(first), "%s", vx6_hs_error_text(t.i));
	assert_string_not_equal(first, "");
	outlen = 99;
	assert_int_equal(vx6_hs_recv(t.i, g.msg[2], g.len[2], out, sizeof(out), &outlen),
	    VX6_ERR_MALFORMED);
	assert_int_equal(outlen, 0);
	assert_false(vx6_hs_done(t.i));
	assert_int_equal(vx6_hs_result(t.i, &res), VX6_ERR_STATE);
	assert_string_equal(vx6_hs_error_text(t.i), first);
	run_free(&t);

	/* Acceptor: garbage message 1, then the genuine one. */
	assert_int_equal(deliver_variant(&t, XX, 1, (const uint8_t *)"nonsense", 8), VX6_ERR_MALFORMED);
	outlen = 99;
	assert_int_equal(vx6_hs_recv(t.r, g.msg[1], g.len[1], out, sizeof(out), &outlen),
	    VX6_ERR_MALFORMED);
	assert_int_equal(outlen, 0);
	assert_false(vx6_hs_done(t.r));
	run_free(&t);

	/* Acceptor: corrupted message 3, then the genuine one. */
	{
		uint8_t bad[VX6_HS_MAX_MSG];
		memcpy(bad, g.msg[3], g.len[3]);
		bad[g.len[3] - 1] ^= 1;
		assert_int_equal(deliver_variant(&t, XX, 3, bad, g.len[3]), VX6_ERR_CRYPTO);
		assert_int_equal(vx6_hs_recv(t.r, g.msg[3], g.len[3], out, sizeof(out), &outlen),
		    VX6_ERR_CRYPTO);
		assert_false(vx6_hs_done(t.r));
		assert_int_equal(vx6_hs_result(t.r, &res), VX6_ERR_STATE);
		run_free(&t);
	}
	run_free(&g);
}

/* Error messages: exact encoding, code mapping at the dialer, printable text, bad lengths. */
static void
test_error_messages(void **state)
{
	/* Error messages: built as 0xEE code len reason (reason capped at 200); the
	 * dialer maps busy to VX6_ERR_LIMIT and identity/unknown codes to
	 * VX6_ERR_REFUSED, shows non-printable reason bytes as '?', and rejects a
	 * malformed error message (bad length) as VX6_ERR_MALFORMED. */
	uint8_t em[VX6_HS_MAX_MSG], out[VX6_HS_MAX_MSG];
	char longr[300];
	size_t n, outlen;
	const struct {
		uint8_t code;
		int err;
	} maps[] = {
		{ VX6_HS_E_BUSY, VX6_ERR_LIMIT },
		{ VX6_HS_E_IDENTITY, VX6_ERR_REFUSED },
		{ 77, VX6_ERR_REFUSED },
		{ VX6_HS_E_DECRYPT, VX6_ERR_KEY_MISMATCH },
		{ VX6_HS_E_VERSION, VX6_ERR_VERSION },
	};

	(void)state;
	n = vx6_hs_error_message(VX6_HS_E_BUSY, "too busy", em, sizeof(em));
	assert_int_equal(n, 3 + 8);
	assert_memory_equal(em, "\xee\x04\x08too busy", n);
	memset(longr, 'x', sizeof(longr) - 1);
	longr[sizeof(longr) - 1] = '\0';
	n = vx6_hs_error_message(VX6_HS_E_MALFORMED, longr, em, sizeof(em));
	assert_int_equal(n, 3 + VX6_HS_ERROR_REASON_MAX);
	assert_int_equal(em[2], VX6_HS_ERROR_REASON_MAX);
	assert_int_equal(vx6_hs_error_message(VX6_HS_E_BUSY, "too busy", em, 5), 0);
	assert_int_equal(vx6_hs_error_message(VX6_HS_E_BUSY, NULL, em, sizeof(em)), 3);

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		struct run t;
		mk_pair(&t, XX, CHACHA, CHACHA);
		assert_int_equal(step1(&t), 0);
		n = vx6_hs_error_message(maps[i].code, "go\x01 away\x7f", em, sizeof(em));
		em[1] = maps[i].code;
		assert_int_equal(vx6_hs_recv(t.i, em, n, out, sizeof(out), &outlen), maps[i].err);
		assert_int_equal(outlen, 0);
		assert_non_null(strstr(vx6_hs_error_text(t.i), "go? away?"));
		run_free(&t);
	}
	/* reason_len disagreeing with the body, or over 200 */
	{
		const uint8_t bad1[] = { 0xee, 0x04, 0x05, 'a', 'b' };
		const uint8_t bad2[] = { 0xee, 0x04, 0x01, 'a', 'b' };
		const uint8_t bad3[] = { 0xee, 0x04 };
		const struct {
			const uint8_t *p;
			size_t n;
		} bads[] = { { bad1, sizeof(bad1) }, { bad2, sizeof(bad2) }, { bad3, sizeof(bad3) } };
		for (size_t i = 0; i < 3; i++) {
			struct run t;
			mk_pair(&t, IK, CHACHA, CHACHA);
			assert_int_equal(step1(&t), 0);
			assert_int_equal(vx6_hs_recv(t.i, bads[i].p, bads[i].n, out, sizeof(out), &outlen),
			    VX6_ERR_MALFORMED);
			run_free(&t);
		}
		memset(em, 'y', sizeof(em));
		em[0] = 0xee;
		em[1] = 4;
		em[2] = 201;
		{
			struct run t;
			mk_pair(&t, IK, CHACHA, CHACHA);
			assert_int_equal(step1(&t), 0);
			assert_int_equal(vx6_hs_recv(t.i, em, 3 + 201, out, sizeof(out), &outlen),
			    VX6_ERR_MALFORMED);
			run_free(&t);
		}
	}
}

/* Settings outside §3.4 rule 4 are refused by the receiver; the boundary values are accepted. */
static void
test_peer_settings_bounds(void **state)
{
	const struct {
		struct vx6_hs_settings set;
		bool ok;
	} cases[] = {
		{ { 16384, 16384, 1 }, true },
		{ { 1u << 30, 1u << 30, 1u << 20 }, true },
		{ { 1u << 30, 0xffffffffu, 5 }, true },
		{ { 16383, 65536, 5 }, false },
		{ { (1u << 30) + 1, 0xffffffffu, 5 }, false },
		{ { 65536, 65535, 5 }, false },
		{ { 65536, 65536, 0 }, false },
		{ { 65536, 65536, (1u << 20) + 1 }, false },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (int k = IK; k <= XX; k++) {
			struct run t;
			struct vx6_hs_result res;
			int rc;

			/* The acceptor grants the settings: the dialer judges them. */
			memset(&t, 0, sizeof(t));
			mk_initiator(&t, k == IK ? id_r.pk : NULL, false, CHACHA, ISEED);
			mk_responder_with(&t, &cases[c].set, CHACHA, RSEED);
			assert_int_equal(step1(&t), 0);
			assert_int_equal(step2(&t), 0);
			rc = step3(&t);
			if (cases[c].ok) {
				assert_int_equal(rc, 0);
				assert_int_equal(vx6_hs_result(t.i, &res), 0);
				assert_memory_equal(&res.peer_settings, &cases[c].set, sizeof(cases[c].set));
			} else {
				assert_int_equal(rc, VX6_ERR_MALFORMED);
				assert_false(vx6_hs_done(t.i));
			}
			run_free(&t);

			/* The dialer grants them: the acceptor judges them (IK msg1, XX msg3). */
			memset(&t, 0, sizeof(t));
			tu_env_init(&t.ienv, ISEED);
			t.i = vx6_hs_new_initiator(&id_i, k == IK ? id_r.pk : NULL, false, &cases[c].set,
			    CHACHA, &t.ienv.env);
			assert_non_null(t.i);
			tu_track(t.i, hs_release);
			mk_responder(&t, CHACHA, RSEED);
			assert_int_equal(step1(&t), 0);
			rc = step2(&t);
			if (k == XX && rc == 0) {
				assert_int_equal(step3(&t), 0);
				rc = step4(&t);
			}
			if (cases[c].ok) {
				assert_int_equal(rc, 0);
				assert_true(vx6_hs_done(t.r));
			} else {
				assert_int_equal(rc, VX6_ERR_MALFORMED);
				assert_false(vx6_hs_done(t.r));
			}
			run_free(&t);
		}
	}
}

/* Constructors refuse bad arguments and empty masks; a bad IK key or tiny buffer fails start. */
static void
test_bad_arguments(void **state)
{
	/* Constructors refuse missing arguments and an empty AEAD mask; an IK dialer
	 * with an expected key that is not a valid Ed25519 point fails to start. */
	struct tu_env e;
	struct vx6_hs *hs;
	uint8_t bad_key[VX6_KEY_LEN], out[VX6_HS_MAX_MSG];

	(void)state;
	tu_env_init(&e, 5);
	assert_null(vx6_hs_new_initiator(NULL, NULL, false, &SET, CHACHA, &e.env));
	assert_null(vx6_hs_new_initiator(&id_i, NULL, false, NULL, CHACHA, &e.env));
	assert_null(vx6_hs_new_initiator(&id_i, NULL, false, &SET, CHACHA, NULL));
	assert_null(vx6_hs_new_initiator(&id_i, NULL, false, &SET, 0, &e.env));
	assert_null(vx6_hs_new_responder(NULL, &SET, CHACHA, &e.env));
	assert_null(vx6_hs_new_responder(&id_r, &SET, 1u << 7, &e.env));
	vx6_hs_free(NULL);

	memset(bad_key, 0, sizeof(bad_key));   /* the identity point: small order */
	hs = vx6_hs_new_initiator(&id_i, bad_key, false, &SET, CHACHA, &e.env);
	assert_non_null(hs);
	assert_int_equal(vx6_hs_start(hs, out, sizeof(out)), VX6_ERR_INVAL);
	vx6_hs_free(hs);

	/* An output buffer too small for message 1 fails rather than overflowing. */
	hs = vx6_hs_new_initiator(&id_i, id_r.pk, false, &SET, CHACHA, &e.env);
	assert_non_null(hs);
	assert_true(vx6_hs_start(hs, out, 100) < 0);
	assert_false(vx6_hs_done(hs));
	vx6_hs_free(hs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_ik_completes, tu_release_all),
		cmocka_unit_test_teardown(test_xx_completes, tu_release_all),
		cmocka_unit_test_teardown(test_aead_negotiation, tu_release_all),
		cmocka_unit_test_teardown(test_no_common_aead, tu_release_all),
		cmocka_unit_test_teardown(test_vectors_ik, tu_release_all),
		cmocka_unit_test_teardown(test_vectors_xx, tu_release_all),
		cmocka_unit_test_teardown(test_ik_wrong_key, tu_release_all),
		cmocka_unit_test_teardown(test_xx_pinned_key_mismatch, tu_release_all),
		cmocka_unit_test_teardown(test_version_no_overlap, tu_release_all),
		cmocka_unit_test_teardown(test_truncated_and_extended, tu_release_all),
		cmocka_unit_test_teardown(test_bitflips, tu_release_all),
		cmocka_unit_test_teardown(test_replayed_msg1, tu_release_all),
		cmocka_unit_test_teardown(test_messages_after_done, tu_release_all),
		cmocka_unit_test_teardown(test_oversized, tu_release_all),
		cmocka_unit_test_teardown(test_sticky_failure, tu_release_all),
		cmocka_unit_test_teardown(test_error_messages, tu_release_all),
		cmocka_unit_test_teardown(test_peer_settings_bounds, tu_release_all),
		cmocka_unit_test_teardown(test_bad_arguments, tu_release_all),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
