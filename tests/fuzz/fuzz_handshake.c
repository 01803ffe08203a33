/*
 * fuzz_handshake — the session handshake (src/core/handshake.h,
 * docs/PROTOCOL.md §3), two-party.
 *
 * Feeds: a real dialer I and a real acceptor R (fixed identities, a
 * deterministic RNG each, no log sink) exchange messages; the fuzz input
 * replaces or mutates one of them. Byte 0 chooses:
 *   bits 0-1  scenario  0: R receives the input as message 1;
 *                       1: I receives the input as message 2 (after a real
 *                          message 1 reached R);
 *                       2: R receives the input as message 3 (XX, after real
 *                          messages 1 and 2; with IK, as an extra message
 *                          after the handshake is done);
 *                       3: the input is XORed onto one real message: byte 1
 *                          picks it (1-3), byte 2 bit 0 makes the input's
 *                          length the message length (truncate / extend).
 *   bits 2-4  key mode  0: IK with R's key; 1: XX, no key; 2: XX forced, R's
 *                       key enforced; 3: IK with a third node's key; 4: XX
 *                       forced, the third node's key enforced.
 *   bits 5-6  AEADs     which algorithms each side offers.
 *   bit 7     settings  the flow-control settings each side announces.
 * After the altered message the exchange runs to its end with real parties
 * (error messages included).
 *
 * Invariants (__builtin_trap):
 *   - a side that reports done has a result whose peer_key is the real
 *     peer's key (a forged peer never succeeds), with the pattern asked for;
 *     a dialer that expects the third node's key never completes;
 *   - when both are done they agree on keys (I.send = R.recv and back),
 *     hash, version, AEAD, and each learned the other's settings; and no
 *     message was altered (every byte of every message is authenticated);
 *   - with nothing altered the handshake ends as specified: both done, or
 *     for a wrong expected key the dialer fails with VX6_ERR_KEY_MISMATCH
 *     (XX: having seen R's real key);
 *   - failures are sticky (the next call returns the same error), replies
 *     fit their buffer, error texts are NUL-terminated.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/handshake.h"
#include "crypto/aead.h"
#include "crypto/identity.h"
#include "lib/env.h"
#include "lib/err.h"
#include "lib/log.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_handshake: invariant failed at line %d: %s\n", __LINE__, #cond); \
	__builtin_trap(); } } while (0)

#define MAX_STEPS 4
#define BUF 1024

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { ID_I, ID_R, ID_OTHER, N_IDS };
static struct vx6_identity ids[N_IDS];   /* fixed after initialization */
static const struct vx6_log quiet = { VX6_LOG_ERROR, NULL, NULL };

static const struct vx6_hs_settings presets[2] = {
	{ 256 * 1024, 16 * 1024 * 1024, 1024 },
	{ VX6_HS_MIN_STREAM_WINDOW, VX6_HS_MIN_STREAM_WINDOW, 1 },
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[VX6_SEED_LEN];

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	for (int i = 0; i < N_IDS; i++) {
		memset(seed, 0x11 * (i + 1), sizeof(seed));
		if (vx6_identity_from_seed(&ids[i], seed) != 0)
			abort();
	}
	return 0;
}

struct side {
	struct vx6_hs *hs;
	struct vx6_det_rng rng;
	struct vx6_env env;
	const struct vx6_hs_settings *settings;
	unsigned mask;
	int rc;               /* last result of vx6_hs_recv */
};

static void
side_init(struct side *s, uint64_t seed, const struct vx6_hs_settings *settings, unsigned mask)
{
	memset(s, 0, sizeof(*s));
	vx6_det_rng_init(&s->rng, seed);
	s->env.random = vx6_det_rng_fill;
	s->env.random_ud = &s->rng;
	s->env.log = &quiet;
	s->settings = settings;
	s->mask = mask;
}

/* Feeds one message to a side and checks what every call must satisfy. */
static int
deliver(struct side *s, const uint8_t *msg, size_t len, uint8_t *out, size_t *outlen)
{
	const char *text;
	uint8_t again[BUF];
	size_t againlen = 1;
	int rc;

	*outlen = SIZE_MAX;
	rc = vx6_hs_recv(s->hs, msg, len, out, VX6_HS_MAX_MSG, outlen);
	CHECK(*outlen <= VX6_HS_MAX_MSG);
	CHECK(rc <= 0);
	text = vx6_hs_error_text(s->hs);
	CHECK(text != NULL && strlen(text) < 320);
	if (rc != 0) {
		/* Sticky: whatever comes next fails the same way, with no reply. */
		CHECK(!vx6_hs_done(s->hs));
		CHECK(vx6_hs_recv(s->hs, msg, len, again, sizeof(again), &againlen) == rc);
		CHECK(againlen == 0);
	}
	s->rc = rc;
	return rc;
}

static void
check_done(const struct side *s, const struct vx6_identity *peer, enum vx6_noise_pattern pattern,
    struct vx6_hs_result *res)
{
	CHECK(vx6_hs_result(s->hs, res) == 0);
	CHECK(memcmp(res->peer_key, peer->pk, VX6_KEY_LEN) == 0);
	CHECK(memcmp(res->peer_node_id, peer->node_id, VX6_NODE_ID_LEN) == 0);
	CHECK(res->pattern == pattern);
	CHECK(res->version >= VX6_HS_VERSION_MIN && res->version <= VX6_HS_VERSION_MAX);
	CHECK(res->aead == VX6_AEAD_CHACHA20_POLY1305 || res->aead == VX6_AEAD_AES256_GCM);
	CHECK(s->mask & (1u << (res->aead - 1)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned chacha = 1u << (VX6_AEAD_CHACHA20_POLY1305 - 1);
	static const unsigned aes = 1u << (VX6_AEAD_AES256_GCM - 1);
	unsigned avail = vx6_aead_available_mask();
	struct side I, R, *from, *to, *tmp;
	struct vx6_hs_result ri, rr;
	const uint8_t *fuzz;
	size_t fuzzlen, glen, dlen, outlen;
	uint8_t g[BUF], d[BUF], out[BUF];
	unsigned scenario, keymode, aeadmode, target, masks[2];
	bool tampered = false, resize = false, expect_other, forced, ik;
	const uint8_t *expected;
	int n;

	if (size < 1)
		return 0;
	scenario = data[0] & 3;
	keymode = ((data[0] >> 2) & 7) % 5;
	aeadmode = (data[0] >> 5) & 3;
	fuzz = data + 1;
	fuzzlen = size - 1;
	target = scenario + 1;   /* the step whose message is replaced */
	if (scenario == 3) {
		if (fuzzlen < 2)
			return 0;
		target = fuzz[0] % 3 + 1;
		resize = fuzz[1] & 1;
		fuzz += 2;
		fuzzlen -= 2;
	}
	if (fuzzlen > VX6_HS_MAX_MSG + 64)
		return 0;

	switch (aeadmode) {
	case 0: masks[0] = masks[1] = avail; break;
	case 1: masks[0] = chacha; masks[1] = avail; break;
	case 2: masks[0] = avail; masks[1] = chacha; break;
	default: masks[0] = aes; masks[1] = chacha; break;   /* nothing in common */
	}
	expect_other = keymode == 3 || keymode == 4;
	forced = keymode == 2 || keymode == 4;
	ik = keymode == 0 || keymode == 3;
	expected = keymode == 1 ? NULL : expect_other ? ids[ID_OTHER].pk : ids[ID_R].pk;

	side_init(&I, 1, &presets[data[0] >> 7], masks[0]);
	side_init(&R, 2, &presets[!(data[0] >> 7)], masks[1]);
	I.hs = vx6_hs_new_initiator(&ids[ID_I], expected, forced, I.settings, I.mask, &I.env);
	R.hs = vx6_hs_new_responder(&ids[ID_R], R.settings, R.mask, &R.env);
	if (I.hs == NULL || R.hs == NULL) {
		/* Only an AEAD set this machine cannot run is refused. */
		CHECK((masks[0] & avail) == 0 || (masks[1] & avail) == 0);
		goto out;
	}
	CHECK(vx6_hs_is_initiator(I.hs) && !vx6_hs_is_initiator(R.hs));
	CHECK(!vx6_hs_done(I.hs) && !vx6_hs_done(R.hs));
	CHECK(vx6_hs_result(I.hs, &ri) == VX6_ERR_STATE);

	n = vx6_hs_start(I.hs, g, VX6_HS_MAX_MSG);
	CHECK(n > 0 && n <= VX6_HS_MAX_MSG);
	CHECK(vx6_hs_start(I.hs, out, sizeof(out)) == VX6_ERR_STATE);
	glen = (size_t)n;
	from = &I;
	to = &R;
	for (unsigned step = 1; step <= MAX_STEPS && glen > 0; step++) {
		memcpy(d, g, glen);
		dlen = glen;
		if (step == target && scenario != 3) {
			memcpy(d, fuzz, fuzzlen);
			dlen = fuzzlen;
		} else if (step == target) {
			for (size_t i = 0; i < fuzzlen; i++)
				d[i] = (uint8_t)((i < glen ? g[i] : 0) ^ fuzz[i]);
			if (resize)
				dlen = fuzzlen;
		}
		if (dlen != glen || memcmp(d, g, dlen) != 0)
			tampered = true;
		(void)deliver(to, d, dlen, out, &outlen);
		memcpy(g, out, outlen);
		glen = outlen;
		tmp = from;
		from = to;
		to = tmp;
	}
	if (vx6_hs_done(I.hs)) {
		CHECK(!expect_other);
		check_done(&I, &ids[ID_R], ik ? VX6_NOISE_IK : VX6_NOISE_XX, &ri);
		CHECK(memcmp(&ri.peer_settings, R.settings, sizeof(*R.settings)) == 0);
	}
	if (vx6_hs_done(R.hs)) {
		check_done(&R, &ids[ID_I], ik ? VX6_NOISE_IK : VX6_NOISE_XX, &rr);
		CHECK(memcmp(&rr.peer_settings, I.settings, sizeof(*I.settings)) == 0);
	}
	if (vx6_hs_done(I.hs) && vx6_hs_done(R.hs)) {
		CHECK(!tampered);
		CHECK(memcmp(ri.send_key, rr.recv_key, VX6_AEAD_KEYLEN) == 0);
		CHECK(memcmp(ri.recv_key, rr.send_key, VX6_AEAD_KEYLEN) == 0);
		CHECK(memcmp(ri.send_key, ri.recv_key, VX6_AEAD_KEYLEN) != 0);
		CHECK(memcmp(ri.hash, rr.hash, VX6_NOISE_HASHLEN) == 0);
		CHECK(ri.version == rr.version && ri.aead == rr.aead);
	}
	if (!tampered) {
		bool common = (masks[0] & masks[1] & avail) != 0;
		if (!common) {
			CHECK(!vx6_hs_done(I.hs) && !vx6_hs_done(R.hs));
		} else if (!expect_other) {
			CHECK(vx6_hs_done(I.hs) && vx6_hs_done(R.hs));
		} else {
			CHECK(!vx6_hs_done(I.hs) && !vx6_hs_done(R.hs));
			CHECK(I.rc == VX6_ERR_KEY_MISMATCH);
			if (!ik) {
				const uint8_t *pk = vx6_hs_presented_key(I.hs);
				CHECK(pk != NULL && memcmp(pk, ids[ID_R].pk, VX6_KEY_LEN) == 0);
			}
		}
	}
	/* Scenario 2 against IK: a message after the end is refused. */
	if (scenario == 2 && ik && vx6_hs_done(R.hs))
		CHECK(deliver(&R, fuzz, fuzzlen, out, &outlen) != 0);
	sodium_memzero(&ri, sizeof(ri));
	sodium_memzero(&rr, sizeof(rr));
out:
	vx6_hs_free(I.hs);
	vx6_hs_free(R.hs);
	return 0;
}
