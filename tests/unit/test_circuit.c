/*
 * test_circuit — core/circuit: the hop handshake, onion layers and cells.
 *
 *   - Noise_NK_25519_ChaChaPoly_BLAKE2b (the hop handshake's pattern) against
 *     the published cacophony vector (tests/vectors/circuit_nk_cacophony.txt):
 *     both roles byte for byte, the handshake hash (also recomputed from the
 *     message bytes alone) and the transport messages; every bit flip and
 *     every truncation of both handshake messages is rejected.
 *   - Hop handshake: mirrored keys on both sides; a hop with another identity
 *     cannot complete; every bit-flipped or truncated message 1 / message 2
 *     fails; it is exactly NK with prologue "VX6 circuit v1" (a plain Noise
 *     responder interoperates); known-answer vectors with fixed identities and
 *     deterministic RNGs (tests/vectors/circuit_hop.txt, produced by an
 *     independent Python reference) are regenerated and compared.
 *   - Layering, for 1..VX6_CIRCUIT_MAX_HOPS hops: a forward cell is recognized
 *     by exactly its target and by no earlier hop; a backward cell is
 *     attributed to its sender; counters stay in step over thousands of random
 *     cells (seeded, VX6_TEST_SEED replays) checked against a naive model;
 *     cells look different on every link and no non-target hop ever sees
 *     recognized == 0.
 *   - Tampering: every single-bit flip anywhere between the sender and the
 *     target is rejected; replaying, dropping or swapping cells makes the
 *     next cell at the target fail, in both directions, at every link.
 *   - vx6_cell_build/parse and vx6_extend_encode/decode: every command, the
 *     payload limit, malformed commands/flags/lengths, round trips, every
 *     truncation and extension, non-canonical addresses.
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

#include "core/circuit.h"
#include "crypto/identity.h"
#include "crypto/noise.h"
#include "lib/err.h"
#include "testutil.h"

#define NK_FILE VX6_VECTORS_DIR "/circuit_nk_cacophony.txt"
#define HOP_FILE VX6_VECTORS_DIR "/circuit_hop.txt"
#define MAX_MSGS 16
#define MAX_BYTES 1024
#define MAX_LINE 8192
#define MAX_KV 64
#define MAX_KV_VAL (2 * VX6_CELL_SIZE + 1)
#define PROLOGUE "VX6 circuit v1"   /* circuit.h: the hop handshake's prologue */
#define HOPS VX6_CIRCUIT_MAX_HOPS

/* ------------------------------------------------------------------------ */
/* Vector files                                                              */

struct blob {
	uint8_t b[MAX_BYTES];
	size_t len;
	bool set;
};

/* The NK cacophony vector. */
struct nkvec {
	struct blob init_prologue, init_ephemeral, init_remote_static;
	struct blob resp_prologue, resp_static, resp_ephemeral, handshake_hash;
	struct blob payload[MAX_MSGS], ct[MAX_MSGS];
	int nmsgs;
};

/* One "NAME VALUE" line of circuit_hop.txt. */
struct kv {
	char key[48];
	char val[MAX_KV_VAL];
	bool used;
};

static struct nkvec nk;
static struct kv kvs[MAX_KV];
static int nkv;

/* Decodes a hex field ("-" meaning empty) into a blob; checks it fits. */
static int
blob_set(struct blob *bl, const char *hex)
{
	if (strlen(hex) / 2 > sizeof(bl->b))
		return -1;
	bl->len = strcmp(hex, "-") == 0 ? 0 : tu_hex(hex, bl->b, sizeof(bl->b));
	bl->set = true;
	return 0;
}

/* Maps a field name of the NK block to its blob (NULL if unknown, e.g. init_static). */
static struct blob *
nk_field(const char *key)
{
	if (strcmp(key, "init_prologue") == 0) return &nk.init_prologue;
	if (strcmp(key, "init_ephemeral") == 0) return &nk.init_ephemeral;
	if (strcmp(key, "init_remote_static") == 0) return &nk.init_remote_static;
	if (strcmp(key, "resp_prologue") == 0) return &nk.resp_prologue;
	if (strcmp(key, "resp_static") == 0) return &nk.resp_static;
	if (strcmp(key, "resp_ephemeral") == 0) return &nk.resp_ephemeral;
	if (strcmp(key, "handshake_hash") == 0) return &nk.handshake_hash;
	return NULL;
}

/* Checks the NK block has every field, sized right, and more than the handshake. */
static int
nk_complete(void)
{
	const struct blob *keys[] = { &nk.init_ephemeral, &nk.init_remote_static, &nk.resp_static,
		&nk.resp_ephemeral };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!keys[i]->set || keys[i]->len != VX6_NOISE_DHLEN)
			return -1;
	if (!nk.init_prologue.set || !nk.resp_prologue.set)
		return -1;
	if (!nk.handshake_hash.set || nk.handshake_hash.len != VX6_NOISE_HASHLEN)
		return -1;
	return nk.nmsgs > 2 ? 0 : -1;
}

/* Splits a line into at most three words; returns the word count or -1 for more. */
static int
split_line(char *line, char **w)
{
	char *save = NULL;
	int n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	w[0] = strtok_r(line, " \t", &save);
	if (w[0] == NULL || w[0][0] == '#')
		return 0;
	for (n = 1; n < 4; n++)
		if ((w[n] = strtok_r(NULL, " \t", &save)) == NULL)
			break;
	return n == 4 ? -1 : n;
}

/* Parses circuit_nk_cacophony.txt (exactly one NK block); 0 or -1 after printing why. */
static int
load_nk(const char *path)
{
	static char line[MAX_LINE];
	bool in = false, done = false;
	int lineno = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	memset(&nk, 0, sizeof(nk));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *w[4];
		int n;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f))
			goto bad;
		if ((n = split_line(line, w)) == 0)
			continue;
		if (n < 0)
			goto bad;
		if (strcmp(w[0], "protocol") == 0) {
			if (in || done || n != 2 || strcmp(w[1], "Noise_NK_25519_ChaChaPoly_BLAKE2b") != 0)
				goto bad;
			in = true;
		} else if (strcmp(w[0], "end") == 0) {
			if (!in || n != 1 || nk_complete() != 0)
				goto bad;
			in = false;
			done = true;
		} else if (strcmp(w[0], "msg") == 0) {
			if (!in || n != 3 || nk.nmsgs == MAX_MSGS || blob_set(&nk.payload[nk.nmsgs], w[1]) != 0 ||
			    blob_set(&nk.ct[nk.nmsgs], w[2]) != 0)
				goto bad;
			nk.nmsgs++;
		} else {
			struct blob *bl = in ? nk_field(w[0]) : NULL;

			if (bl == NULL || bl->set || n != 2 || blob_set(bl, w[1]) != 0)
				goto bad;
		}
	}
	fclose(f);
	if (!done) {
		fprintf(stderr, "%s: no complete NK block\n", path);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "%s:%d: malformed or unexpected line\n", path, lineno);
	fclose(f);
	return -1;
}

/* Parses circuit_hop.txt into kvs[] (names unique); 0 or -1 after printing why. */
static int
load_kv(const char *path)
{
	static char line[MAX_LINE];
	int lineno = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	nkv = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *w[4];
		int n;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f))
			goto bad;
		if ((n = split_line(line, w)) == 0)
			continue;
		if (n != 2 || nkv == MAX_KV || strlen(w[0]) >= sizeof(kvs[0].key) ||
		    strlen(w[1]) >= sizeof(kvs[0].val))
			goto bad;
		for (int i = 0; i < nkv; i++)
			if (strcmp(kvs[i].key, w[0]) == 0)
				goto bad;
		strcpy(kvs[nkv].key, w[0]);
		strcpy(kvs[nkv].val, w[1]);
		kvs[nkv].used = false;
		nkv++;
	}
	fclose(f);
	return 0;
bad:
	fprintf(stderr, "%s:%d: malformed, duplicate or unexpected line\n", path, lineno);
	fclose(f);
	return -1;
}

/* The value of a circuit_hop.txt line (fails the test when it is absent); marks it used. */
static const char *
kv_get(const char *key)
{
	for (int i = 0; i < nkv; i++)
		if (strcmp(kvs[i].key, key) == 0) {
			kvs[i].used = true;
			return kvs[i].val;
		}
	fail_msg("%s has no line \"%s\"", HOP_FILE, key);
	return NULL;
}

/* Checks got[0..len) equals the hex value of line key (exactly len bytes). */
static void
kv_expect(const char *key, const uint8_t *got, size_t len)
{
	static uint8_t want[VX6_CELL_SIZE];

	assert_true(len <= sizeof(want));
	if (tu_hex(kv_get(key), want, sizeof(want)) != len)
		fail_msg("%s: \"%s\" is not %zu bytes", HOP_FILE, key, len);
	if (memcmp(got, want, len) != 0) {
		char hex[2 * VX6_CELL_SIZE + 1];

		tu_hex_encode(got, len, hex);
		fail_msg("%s: \"%s\" differs; regenerated: %s", HOP_FILE, key, hex);
	}
}

/* Decodes the hex value of line key into out (exactly len bytes). */
static void
kv_bytes(const char *key, uint8_t *out, size_t len)
{
	assert_int_equal(tu_hex(kv_get(key), out, len), len);
}

static uint64_t
kv_u64(const char *key)
{
	const char *v = kv_get(key);
	char *end;
	unsigned long long x = strtoull(v, &end, 10);

	assert_true(*v != '\0' && *end == '\0');
	return (uint64_t)x;
}

/* Group setup: loads both vector files once. */
static int
group_setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	return load_nk(NK_FILE) == 0 && load_kv(HOP_FILE) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Noise NK against cacophony                                                */

static struct tu_env nkenv;   /* never used for randomness: ephemerals are fixed */

/* Initializes the NK initiator (no static, knows rs) and responder from the vector. */
static void
nk_pair_init(struct vx6_noise_hs *ini, struct vx6_noise_hs *resp)
{
	uint8_t rpub[VX6_NOISE_DHLEN];

	tu_env_init(&nkenv, 1);
	assert_int_equal(crypto_scalarmult_base(rpub, nk.resp_static.b), 0);
	assert_int_equal(vx6_noise_hs_init(ini, VX6_NOISE_NK, true, nk.init_prologue.b, nk.init_prologue.len,
	    NULL, NULL, nk.init_remote_static.b), 0);
	vx6_noise_hs_set_ephemeral(ini, nk.init_ephemeral.b);
	assert_int_equal(vx6_noise_hs_init(resp, VX6_NOISE_NK, false, nk.resp_prologue.b, nk.resp_prologue.len,
	    nk.resp_static.b, rpub, NULL), 0);
	vx6_noise_hs_set_ephemeral(resp, nk.resp_ephemeral.b);
}

/* Writes handshake message i (one call or two steps) and checks its bytes. */
static void
nk_write(int i, struct vx6_noise_hs *w, bool two_step, uint8_t *out, size_t cap)
{
	int n;

	assert_int_equal(vx6_noise_msg_len(VX6_NOISE_NK, i, nk.payload[i].len), nk.ct[i].len);
	if (two_step) {
		int a = vx6_noise_hs_write_tokens(w, &nkenv.env, out, cap);

		assert_int_equal(a, VX6_NOISE_DHLEN);
		n = vx6_noise_hs_write_payload(w, nk.payload[i].b, nk.payload[i].len, out + a, cap - (size_t)a);
		assert_true(n >= 0);
		n += a;
	} else {
		n = vx6_noise_hs_write(w, &nkenv.env, nk.payload[i].b, nk.payload[i].len, out, cap);
	}
	assert_int_equal(n, (int)nk.ct[i].len);
	assert_memory_equal(out, nk.ct[i].b, nk.ct[i].len);
}

/* Sends handshake message i from the side whose turn it is; checks the reader agrees. */
static void
nk_exchange(int i, struct vx6_noise_hs *ini, struct vx6_noise_hs *resp, bool two_step)
{
	struct vx6_noise_hs *w = i % 2 == 0 ? ini : resp, *r = i % 2 == 0 ? resp : ini;
	uint8_t out[MAX_BYTES], pl[MAX_BYTES];
	int p;

	nk_write(i, w, two_step, out, sizeof(out));
	p = vx6_noise_hs_read(r, out, nk.ct[i].len, pl, sizeof(pl));
	assert_int_equal(p, (int)nk.payload[i].len);
	assert_memory_equal(pl, nk.payload[i].b, nk.payload[i].len);
	assert_memory_equal(w->h, r->h, VX6_NOISE_HASHLEN);
	assert_memory_equal(w->h_pre_payload, r->h_pre_payload, VX6_NOISE_HASHLEN);
}

/* Checks the NK block loaded and init_remote_static is resp_static's public key. */
static void
test_nk_vector_loaded(void **state)
{
	uint8_t pub[VX6_NOISE_DHLEN];

	(void)state;
	assert_int_equal(nk.nmsgs, 6);
	assert_int_equal(crypto_scalarmult_base(pub, nk.resp_static.b), 0);
	assert_memory_equal(pub, nk.init_remote_static.b, VX6_NOISE_DHLEN);
	/* NK messages: e + encrypted payload (es/ee give a key before each payload). */
	assert_int_equal(nk.ct[0].len, VX6_NOISE_DHLEN + nk.payload[0].len + VX6_NOISE_TAGLEN);
	assert_int_equal(nk.ct[1].len, VX6_NOISE_DHLEN + nk.payload[1].len + VX6_NOISE_TAGLEN);
}

/* Reference MixHash, h = BLAKE2b-512(h || data), computed without noise.c. */
static void
ref_mix_hash(uint8_t h[VX6_NOISE_HASHLEN], const uint8_t *data, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, VX6_NOISE_HASHLEN);
	crypto_generichash_update(&st, h, VX6_NOISE_HASHLEN);
	crypto_generichash_update(&st, data, len);
	crypto_generichash_final(&st, h, VX6_NOISE_HASHLEN);
}

/* Checks handshake_hash equals the spec's h recomputed from the vector bytes alone
 * (protocol name, prologue, pre-message rs, then e and ciphertext of each message). */
static void
test_nk_hash_chain(void **state)
{
	static const char name[] = "Noise_NK_25519_ChaChaPoly_BLAKE2b";
	uint8_t h[VX6_NOISE_HASHLEN] = { 0 };

	(void)state;
	memcpy(h, name, sizeof(name) - 1);
	ref_mix_hash(h, nk.init_prologue.b, nk.init_prologue.len);
	ref_mix_hash(h, nk.init_remote_static.b, VX6_NOISE_DHLEN);
	for (int m = 0; m < 2; m++) {
		ref_mix_hash(h, nk.ct[m].b, VX6_NOISE_DHLEN);
		ref_mix_hash(h, nk.ct[m].b + VX6_NOISE_DHLEN, nk.ct[m].len - VX6_NOISE_DHLEN);
	}
	assert_memory_equal(h, nk.handshake_hash.b, VX6_NOISE_HASHLEN);
}

/* Runs the whole vector: both roles byte for byte, final hash, split, transport. */
static void
run_nk(bool two_step)
{
	struct vx6_noise_hs ini, resp;
	struct vx6_noise_cipher isend = { .has_key = true }, irecv = { .has_key = true };
	struct vx6_noise_cipher rsend = { .has_key = true }, rrecv = { .has_key = true };

	nk_pair_init(&ini, &resp);
	assert_true(ini.has_rs);
	for (int i = 0; i < 2; i++) {
		assert_false(vx6_noise_hs_done(&ini));
		nk_exchange(i, &ini, &resp, two_step);
	}
	assert_true(vx6_noise_hs_done(&ini));
	assert_true(vx6_noise_hs_done(&resp));
	assert_memory_equal(ini.h, nk.handshake_hash.b, VX6_NOISE_HASHLEN);
	assert_memory_equal(resp.h, nk.handshake_hash.b, VX6_NOISE_HASHLEN);
	/* The responder learned no initiator static (NK: the initiator is anonymous). */
	assert_false(resp.has_rs);

	vx6_noise_hs_split(&ini, isend.k, irecv.k);
	vx6_noise_hs_split(&resp, rrecv.k, rsend.k);
	assert_memory_equal(isend.k, rrecv.k, VX6_NOISE_KEYLEN);
	assert_memory_equal(irecv.k, rsend.k, VX6_NOISE_KEYLEN);
	for (int i = 2; i < nk.nmsgs; i++) {
		struct vx6_noise_cipher *tx = i % 2 == 0 ? &isend : &rsend, *rx = i % 2 == 0 ? &rrecv : &irecv;
		uint8_t out[MAX_BYTES], pl[MAX_BYTES];
		int n = vx6_noise_encrypt(tx, NULL, 0, nk.payload[i].b, nk.payload[i].len, out);

		assert_int_equal(n, (int)nk.ct[i].len);
		assert_memory_equal(out, nk.ct[i].b, nk.ct[i].len);
		n = vx6_noise_decrypt(rx, NULL, 0, nk.ct[i].b, nk.ct[i].len, pl);
		assert_int_equal(n, (int)nk.payload[i].len);
		assert_memory_equal(pl, nk.payload[i].b, nk.payload[i].len);
	}
	vx6_noise_hs_wipe(&ini);
	vx6_noise_hs_wipe(&resp);
}

/* Checks Noise_NK_25519_ChaChaPoly_BLAKE2b against cacophony (one-call and two-step writes). */
static void
test_nk_vector(void **state)
{
	(void)state;
	run_nk(false);
	run_nk(true);
}

/* Checks NK's key requirements: initiator needs rs (s optional), responder needs s and no rs. */
static void
test_nk_init_args(void **state)
{
	struct vx6_noise_hs hs;
	uint8_t rpub[VX6_NOISE_DHLEN];

	(void)state;
	assert_int_equal(crypto_scalarmult_base(rpub, nk.resp_static.b), 0);
	assert_int_equal(vx6_noise_hs_init(&hs, VX6_NOISE_NK, true, NULL, 0, NULL, NULL, NULL),
	    VX6_ERR_INVAL);
	assert_int_equal(vx6_noise_hs_init(&hs, VX6_NOISE_NK, false, NULL, 0, NULL, NULL, NULL),
	    VX6_ERR_INVAL);
	assert_int_equal(vx6_noise_hs_init(&hs, VX6_NOISE_NK, false, NULL, 0, nk.resp_static.b, rpub,
	    nk.init_remote_static.b), VX6_ERR_INVAL);
	assert_int_equal(vx6_noise_hs_init(&hs, VX6_NOISE_NK, true, NULL, 0, NULL, NULL,
	    nk.init_remote_static.b), 0);
	/* NK has two messages: the initiator writes first and cannot read first. */
	assert_int_equal(vx6_noise_msg_len(VX6_NOISE_NK, 0, 0), VX6_HOP_MSG_LEN);
	assert_int_equal(vx6_noise_msg_len(VX6_NOISE_NK, 1, 0), VX6_HOP_MSG_LEN);
	assert_int_equal(vx6_noise_msg_len(VX6_NOISE_NK, 2, 0), 0);
	{
		uint8_t pl[8], msg[VX6_HOP_MSG_LEN] = { 0 };
		assert_int_equal(vx6_noise_hs_read(&hs, msg, sizeof(msg), pl, sizeof(pl)), VX6_ERR_STATE);
	}
	vx6_noise_hs_wipe(&hs);
}

/* Reads msg (copied into an exact-size heap buffer, so ASan sees any over-read)
 * with a copy of reader; returns the result, after checking a failure is sticky. */
static int
read_exact(const struct vx6_noise_hs *reader, const uint8_t *msg, size_t len)
{
	struct vx6_noise_hs r = *reader;
	uint8_t *buf = malloc(len ? len : 1), pl[MAX_BYTES];
	int rc;

	if (buf == NULL)
		abort();
	if (len)
		memcpy(buf, msg, len);
	rc = vx6_noise_hs_read(&r, buf, len, pl, sizeof(pl));
	free(buf);
	if (rc < 0) {
		/* Sticky: the same error again, never done. */
		int again = vx6_noise_hs_read(&r, msg, len, pl, sizeof(pl));
		bool done = vx6_noise_hs_done(&r);

		vx6_noise_hs_wipe(&r);
		assert_int_equal(again, rc);
		assert_false(done);
		return rc;
	}
	vx6_noise_hs_wipe(&r);
	return rc;
}

/* Checks every bit flip and every strict prefix of both NK handshake messages fails at once. */
static void
test_nk_bitflips_and_truncations(void **state)
{
	(void)state;
	for (int m = 0; m < 2; m++) {
		struct vx6_noise_hs ini, resp, *r;
		uint8_t out[MAX_BYTES], msg[MAX_BYTES];
		size_t len = nk.ct[m].len;

		nk_pair_init(&ini, &resp);
		if (m == 1)
			nk_exchange(0, &ini, &resp, false);
		nk_write(m, m == 0 ? &ini : &resp, false, out, sizeof(out));
		r = m == 0 ? &resp : &ini;
		for (size_t bit = 0; bit < len * 8; bit++) {
			memcpy(msg, nk.ct[m].b, len);
			msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (read_exact(r, msg, len) >= 0)
				fail_msg("NK message %d with bit %zu flipped was accepted", m, bit);
		}
		for (size_t l = 0; l < len; l++)
			if (read_exact(r, nk.ct[m].b, l) >= 0)
				fail_msg("NK message %d cut to %zu bytes was accepted", m, l);
		assert_int_equal(read_exact(r, nk.ct[m].b, len), (int)nk.payload[m].len);
		vx6_noise_hs_wipe(&ini);
		vx6_noise_hs_wipe(&resp);
	}
}

/* ------------------------------------------------------------------------ */
/* Hop handshake                                                             */

/* Runs one full hop handshake; checks every step succeeds and the keys mirror. */
static void
hop_handshake(const struct vx6_identity *hop, const struct vx6_env *cenv, const struct vx6_env *henv,
    struct vx6_hop_crypto *client, struct vx6_hop_crypto *hk)
{
	struct vx6_noise_hs hs;
	uint8_t m1[VX6_HOP_MSG_LEN], m2[VX6_HOP_MSG_LEN];

	assert_int_equal(vx6_hop_client_start(&hs, cenv, hop->pk, m1), 0);
	assert_int_equal(vx6_hop_respond(hop, henv, m1, m2, hk), 0);
	assert_int_equal(vx6_hop_client_finish(&hs, m2, client), 0);
	assert_memory_equal(client, hk, sizeof(*hk));
	vx6_noise_hs_wipe(&hs);
}

/* Checks both sides derive the same four keys, zero counters, all keys distinct, per hop. */
static void
test_hop_handshake_mirrored(void **state)
{
	struct vx6_hop_crypto c[4], h[4];
	struct vx6_identity id;
	struct tu_env ce, he;

	(void)state;
	tu_env_init(&ce, 11);
	for (int i = 0; i < 4; i++) {
		tu_identity(&id, (uint8_t)(0x31 + i % 2));   /* the same hop twice: fresh keys anyway */
		tu_env_init(&he, 100 + (uint64_t)i);
		hop_handshake(&id, &ce.env, &he.env, &c[i], &h[i]);
		assert_memory_equal(c[i].fwd_key, h[i].fwd_key, 32);
		assert_memory_equal(c[i].fwd_mac, h[i].fwd_mac, 32);
		assert_memory_equal(c[i].bwd_key, h[i].bwd_key, 32);
		assert_memory_equal(c[i].bwd_mac, h[i].bwd_mac, 32);
		assert_true(c[i].fwd_ctr == 0 && c[i].bwd_ctr == 0);
		assert_memory_not_equal(c[i].fwd_key, c[i].bwd_key, 32);
		assert_memory_not_equal(c[i].fwd_key, c[i].fwd_mac, 32);
		assert_memory_not_equal(c[i].bwd_key, c[i].bwd_mac, 32);
		assert_memory_not_equal(c[i].fwd_mac, c[i].bwd_mac, 32);
		for (int j = 0; j < i; j++)
			assert_memory_not_equal(c[i].fwd_key, c[j].fwd_key, 32);
		vx6_identity_wipe(&id);
	}
	vx6_hop_crypto_wipe(&c[0]);
	for (size_t k = 0; k < sizeof(c[0]); k++)
		assert_int_equal(((const uint8_t *)&c[0])[k], 0);
}

/* Checks a hop with another identity cannot complete the handshake, nor can any
 * message 2 that does not answer this client's message 1. */
static void
test_hop_wrong_identity(void **state)
{
	struct vx6_identity a, b;
	struct vx6_noise_hs hs, hs2, imp;
	struct vx6_hop_crypto hk, ck, untouched;
	struct tu_env ce, he;
	uint8_t m1[VX6_HOP_MSG_LEN], m2[VX6_HOP_MSG_LEN], other1[VX6_HOP_MSG_LEN], other2[VX6_HOP_MSG_LEN];
	uint8_t pl[8];

	(void)state;
	tu_identity(&a, 0x41);
	tu_identity(&b, 0x42);
	tu_env_init(&ce, 21);
	tu_env_init(&he, 22);
	memset(&untouched, 0xa5, sizeof(untouched));

	/* The client means A; B answers: B cannot even read message 1. */
	assert_int_equal(vx6_hop_client_start(&hs, &ce.env, a.pk, m1), 0);
	hk = untouched;
	assert_int_equal(vx6_hop_respond(&b, &he.env, m1, m2, &hk), VX6_ERR_CRYPTO);
	assert_memory_equal(&hk, &untouched, sizeof(hk));

	/* An impostor hashing A's public key as the pre-message but holding B's key. */
	assert_int_equal(vx6_noise_hs_init(&imp, VX6_NOISE_NK, false, (const uint8_t *)PROLOGUE,
	    sizeof(PROLOGUE) - 1, b.x_sk, a.x_pk, NULL), 0);
	assert_true(vx6_noise_hs_read(&imp, m1, sizeof(m1), pl, 0) < 0);

	/* B's genuine message 2 to another client (who meant B) does not finish ours. */
	assert_int_equal(vx6_hop_client_start(&hs2, &ce.env, b.pk, other1), 0);
	assert_int_equal(vx6_hop_respond(&b, &he.env, other1, other2, &hk), 0);
	ck = untouched;
	assert_true(vx6_hop_client_finish(&hs, other2, &ck) < 0);
	assert_memory_equal(&ck, &untouched, sizeof(ck));

	/* A's genuine message 2 to another client (who meant A) does not either. */
	assert_int_equal(vx6_hop_client_start(&hs, &ce.env, a.pk, m1), 0);
	assert_int_equal(vx6_hop_client_start(&hs2, &ce.env, a.pk, other1), 0);
	assert_int_equal(vx6_hop_respond(&a, &he.env, other1, other2, &hk), 0);
	assert_true(vx6_hop_client_finish(&hs, other2, &ck) < 0);
	/* The failed state is wiped: the right answer no longer completes it. */
	assert_int_equal(vx6_hop_respond(&a, &he.env, m1, m2, &hk), 0);
	assert_true(vx6_hop_client_finish(&hs, m2, &ck) < 0);
	assert_memory_equal(&ck, &untouched, sizeof(ck));

	vx6_noise_hs_wipe(&hs);
	vx6_noise_hs_wipe(&hs2);
	vx6_noise_hs_wipe(&imp);
	vx6_identity_wipe(&a);
	vx6_identity_wipe(&b);
	vx6_hop_crypto_wipe(&hk);
}

/* Checks vx6_hop_client_start refuses keys that are not valid Ed25519 points. */
static void
test_hop_bad_hop_key(void **state)
{
	static const char *bad[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",   /* small order */
		"0100000000000000000000000000000000000000000000000000000000000000",   /* identity */
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",   /* y = p - 1: order 2 */
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",   /* y = p: non-canonical */
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",   /* y >= p */
	};
	struct vx6_noise_hs hs;
	struct tu_env ce;
	uint8_t key[VX6_KEY_LEN], m1[VX6_HOP_MSG_LEN];

	(void)state;
	tu_env_init(&ce, 31);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tu_hex(bad[i], key, sizeof(key)), sizeof(key));
		assert_int_equal(vx6_hop_client_start(&hs, &ce.env, key, m1), VX6_ERR_MALFORMED);
	}
	vx6_noise_hs_wipe(&hs);
}

/* Sets up a client that started a handshake with hop id, and the hop's genuine reply. */
static void
hop_msgs(const struct vx6_identity *id, struct vx6_noise_hs *hs, uint8_t m1[VX6_HOP_MSG_LEN],
    uint8_t m2[VX6_HOP_MSG_LEN])
{
	struct tu_env ce, he;
	struct vx6_hop_crypto hk;

	tu_env_init(&ce, 41);
	tu_env_init(&he, 42);
	assert_int_equal(vx6_hop_client_start(hs, &ce.env, id->pk, m1), 0);
	assert_int_equal(vx6_hop_respond(id, &he.env, m1, m2, &hk), 0);
	vx6_hop_crypto_wipe(&hk);
}

/* Checks a corrupted message 1 is refused by the hop (no keys) and a corrupted
 * message 2 by the client (no keys); returns nothing, fails the test otherwise. */
static void
expect_hop_msgs_fail(const struct vx6_identity *id, const struct vx6_noise_hs *started,
    const uint8_t m1[VX6_HOP_MSG_LEN], const uint8_t m2[VX6_HOP_MSG_LEN], const char *what, size_t i)
{
	struct vx6_hop_crypto out, untouched;
	struct vx6_noise_hs hs;
	struct tu_env he;
	uint8_t reply[VX6_HOP_MSG_LEN];

	memset(&untouched, 0x5a, sizeof(untouched));
	if (m1 != NULL) {
		tu_env_init(&he, 42);
		out = untouched;
		if (vx6_hop_respond(id, &he.env, m1, reply, &out) >= 0)
			fail_msg("message 1 %s %zu was answered", what, i);
		assert_memory_equal(&out, &untouched, sizeof(out));
	}
	if (m2 != NULL) {
		hs = *started;
		out = untouched;
		if (vx6_hop_client_finish(&hs, m2, &out) >= 0)
			fail_msg("message 2 %s %zu completed the handshake", what, i);
		assert_memory_equal(&out, &untouched, sizeof(out));
		vx6_noise_hs_wipe(&hs);
	}
}

/* Checks every single-bit flip of message 1 and of message 2 makes the handshake fail. */
static void
test_hop_msg_bitflips(void **state)
{
	struct vx6_identity id;
	struct vx6_noise_hs started;
	uint8_t m1[VX6_HOP_MSG_LEN], m2[VX6_HOP_MSG_LEN], bad[VX6_HOP_MSG_LEN];

	(void)state;
	tu_identity(&id, 0x51);
	hop_msgs(&id, &started, m1, m2);
	for (size_t bit = 0; bit < VX6_HOP_MSG_LEN * 8; bit++) {
		memcpy(bad, m1, sizeof(bad));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		expect_hop_msgs_fail(&id, &started, bad, NULL, "with bit flipped", bit);
		memcpy(bad, m2, sizeof(bad));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		expect_hop_msgs_fail(&id, &started, NULL, bad, "with bit flipped", bit);
	}
	/* Control: the genuine messages still work from the same states. */
	{
		struct vx6_noise_hs hs = started;
		struct vx6_hop_crypto ck, hk;
		struct tu_env he;
		uint8_t reply[VX6_HOP_MSG_LEN];

		tu_env_init(&he, 42);
		assert_int_equal(vx6_hop_respond(&id, &he.env, m1, reply, &hk), 0);
		assert_memory_equal(reply, m2, sizeof(reply));
		assert_int_equal(vx6_hop_client_finish(&hs, m2, &ck), 0);
		assert_memory_equal(&ck, &hk, sizeof(ck));
		vx6_hop_crypto_wipe(&ck);
		vx6_hop_crypto_wipe(&hk);
	}
	vx6_noise_hs_wipe(&started);
	vx6_identity_wipe(&id);
}

/* Checks truncated messages fail: through the fixed-size API (a prefix, the rest
 * lost and zero-filled), and at the Noise layer the hop runs (every prefix at
 * its exact size, and one extra byte) with a plain NK responder built from the
 * prologue of circuit.h, which is also shown to interoperate with the hop
 * client and to give the same keys. */
static void
test_hop_msg_truncations(void **state)
{
	struct vx6_identity id;
	struct vx6_noise_hs started, plain;
	struct vx6_hop_crypto hk, ck;
	struct tu_env ce, he;
	uint8_t m1[VX6_HOP_MSG_LEN], m2[VX6_HOP_MSG_LEN], bad[VX6_HOP_MSG_LEN], pl[8];
	uint8_t longer[VX6_HOP_MSG_LEN + 1], k1[32], k2[32];

	(void)state;
	tu_identity(&id, 0x52);
	hop_msgs(&id, &started, m1, m2);
	for (size_t l = 0; l < VX6_HOP_MSG_LEN; l++) {
		memset(bad, 0, sizeof(bad));
		memcpy(bad, m1, l);
		if (memcmp(bad, m1, sizeof(bad)) != 0)
			expect_hop_msgs_fail(&id, &started, bad, NULL, "cut to", l);
		memset(bad, 0, sizeof(bad));
		memcpy(bad, m2, l);
		if (memcmp(bad, m2, sizeof(bad)) != 0)
			expect_hop_msgs_fail(&id, &started, NULL, bad, "cut to", l);
	}

	/* A plain NK responder with the prologue of circuit.h answers the hop client. */
	assert_int_equal(vx6_noise_hs_init(&plain, VX6_NOISE_NK, false, (const uint8_t *)PROLOGUE,
	    sizeof(PROLOGUE) - 1, id.x_sk, id.x_pk, NULL), 0);
	for (size_t l = 0; l < VX6_HOP_MSG_LEN; l++)
		if (read_exact(&plain, m1, l) != VX6_ERR_MALFORMED)
			fail_msg("NK message 1 of %zu bytes not refused as malformed", l);
	memcpy(longer, m1, sizeof(m1));
	longer[VX6_HOP_MSG_LEN] = 0;
	{
		struct vx6_noise_hs r = plain;
		assert_int_equal(vx6_noise_hs_read(&r, longer, sizeof(longer), pl, 0), VX6_ERR_TOO_LARGE);
		r = plain;
		assert_int_equal(vx6_noise_hs_read(&r, longer, sizeof(longer), pl, sizeof(pl)), VX6_ERR_CRYPTO);
		vx6_noise_hs_wipe(&r);
	}
	tu_env_init(&ce, 43);
	tu_env_init(&he, 44);
	{
		struct vx6_noise_hs hs;
		uint8_t a1[VX6_HOP_MSG_LEN], a2[VX6_HOP_MSG_LEN];

		assert_int_equal(vx6_hop_client_start(&hs, &ce.env, id.pk, a1), 0);
		assert_int_equal(vx6_noise_hs_read(&plain, a1, sizeof(a1), pl, 0), 0);
		assert_int_equal(vx6_noise_hs_write(&plain, &he.env, NULL, 0, a2, sizeof(a2)), VX6_HOP_MSG_LEN);
		assert_true(vx6_noise_hs_done(&plain));
		assert_int_equal(vx6_hop_client_finish(&hs, a2, &ck), 0);
		vx6_noise_hs_split(&plain, k1, k2);
		/* Same keys as the hop API would derive: compare with the derivation
		 * of circuit.h (cipher/MAC subkeys 1 and 2 of "vx6circ"). */
		crypto_kdf_derive_from_key(hk.fwd_key, 32, 1, "vx6circ", k1);
		crypto_kdf_derive_from_key(hk.fwd_mac, 32, 2, "vx6circ", k1);
		crypto_kdf_derive_from_key(hk.bwd_key, 32, 1, "vx6circ", k2);
		crypto_kdf_derive_from_key(hk.bwd_mac, 32, 2, "vx6circ", k2);
		assert_memory_equal(ck.fwd_key, hk.fwd_key, 32);
		assert_memory_equal(ck.fwd_mac, hk.fwd_mac, 32);
		assert_memory_equal(ck.bwd_key, hk.bwd_key, 32);
		assert_memory_equal(ck.bwd_mac, hk.bwd_mac, 32);
		vx6_noise_hs_wipe(&hs);
	}
	/* And the message 2 side: every prefix of m2 at the client's Noise state. */
	for (size_t l = 0; l < VX6_HOP_MSG_LEN; l++)
		if (read_exact(&started, m2, l) != VX6_ERR_MALFORMED)
			fail_msg("NK message 2 of %zu bytes not refused as malformed", l);
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	vx6_hop_crypto_wipe(&hk);
	vx6_hop_crypto_wipe(&ck);
	vx6_noise_hs_wipe(&plain);
	vx6_noise_hs_wipe(&started);
	vx6_identity_wipe(&id);
}

/* ------------------------------------------------------------------------ */
/* Circuits                                                                  */

struct circ {
	unsigned n;
	struct vx6_hop_crypto client[HOPS];   /* the client's copy of each hop's keys */
	struct vx6_hop_crypto hop[HOPS];      /* each hop's own */
};

/* Builds an n-hop circuit with real handshakes (identities and RNGs from seed). */
static void
circ_build(struct circ *c, unsigned n, uint64_t seed)
{
	struct tu_env ce, he;

	assert_true(n >= 1 && n <= HOPS);
	memset(c, 0, sizeof(*c));
	c->n = n;
	tu_env_init(&ce, seed);
	for (unsigned i = 0; i < n; i++) {
		struct vx6_identity id;

		tu_identity(&id, (uint8_t)(0x60 + i));
		tu_env_init(&he, seed * 64 + i + 1);
		hop_handshake(&id, &ce.env, &he.env, &c->client[i], &c->hop[i]);
		vx6_identity_wipe(&id);
	}
}

static void
circ_wipe(struct circ *c)
{
	for (unsigned i = 0; i < HOPS; i++) {
		vx6_hop_crypto_wipe(&c->client[i]);
		vx6_hop_crypto_wipe(&c->hop[i]);
	}
}

/* Checks the client's and each hop's counters agree in both directions. */
static void
circ_in_step(const struct circ *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		assert_true(c->client[i].fwd_ctr == c->hop[i].fwd_ctr);
		assert_true(c->client[i].bwd_ctr == c->hop[i].bwd_ctr);
	}
}

static bool
zero4(const uint8_t *cell)
{
	return (cell[0] | cell[1] | cell[2] | cell[3]) == 0;
}

/* Delivers a forward cell to hops from..n-1 in turn, as relays do (a hop that
 * does not recognize a cell passes it on); returns the hop that recognized it
 * or -1. *zeros counts hops that did not recognize it yet saw recognized == 0. */
static int
fwd_deliver(struct circ *c, unsigned from, uint8_t cell[VX6_CELL_SIZE], unsigned *zeros)
{
	for (unsigned i = from; i < c->n; i++) {
		if (vx6_cell_hop_open(&c->hop[i], cell))
			return (int)i;
		if (zeros && zero4(cell))
			(*zeros)++;
	}
	return -1;
}

/* Hop t originates a backward cell; hops t-1..to wrap it (to = 0: reaches the client). */
static void
bwd_send(struct circ *c, unsigned t, unsigned to, uint8_t cell[VX6_CELL_SIZE])
{
	vx6_cell_hop_seal(&c->hop[t], cell);
	for (unsigned i = t; i-- > to;)
		vx6_cell_hop_wrap(&c->hop[i], cell);
}

/* Builds a plaintext cell whose payload is len bytes derived from tag. */
static void
plain_cell(uint8_t cell[VX6_CELL_SIZE], uint8_t cmd, uint16_t sid, size_t len, uint64_t tag)
{
	static uint8_t payload[VX6_CELL_MAX_PAYLOAD];

	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(tag * 131 + i * 7 + (i >> 8));
	assert_int_equal(vx6_cell_build(cell, cmd, sid, payload, len), 0);
}

/* Checks an opened cell equals the plaintext it was built from (header and
 * payload; recognized zero) and parses back to the same fields. */
static void
expect_plain(const uint8_t *got, const uint8_t *want)
{
	struct vx6_cell a, b;

	assert_true(zero4(got));
	assert_memory_equal(got + 16, want + 16, VX6_CELL_SIZE - 16);
	assert_int_equal(vx6_cell_parse(got, &a), 0);
	assert_int_equal(vx6_cell_parse(want, &b), 0);
	assert_int_equal(a.cmd, b.cmd);
	assert_int_equal(a.stream_id, b.stream_id);
	assert_int_equal(a.length, b.length);
}

/* Checks for 1..MAX_HOPS hops that a forward cell for every target is recognized
 * by exactly that hop (none before it) and arrives intact, and that no hop before
 * it ever sees recognized == 0. */
static void
test_layers_target_only(void **state)
{
	uint8_t cell[VX6_CELL_SIZE], want[VX6_CELL_SIZE];
	unsigned zeros = 0, passes = 0;

	(void)state;
	for (unsigned n = 1; n <= HOPS; n++) {
		struct circ c;

		circ_build(&c, n, 1000 + n);
		for (unsigned round = 0; round < 100; round++)
			for (unsigned t = 0; t < n; t++) {
				plain_cell(want, (uint8_t)(1 + (round + t) % 9), (uint16_t)(round * 3 + t),
				    (round * 53 + t) % (VX6_CELL_MAX_PAYLOAD + 1), round * 10 + t);
				memcpy(cell, want, sizeof(cell));
				vx6_cell_client_seal(c.client, t, cell);
				for (unsigned i = 0; i < t; i++) {
					if (vx6_cell_hop_open(&c.hop[i], cell))
						fail_msg("n=%u: a cell for hop %u recognized by hop %u", n, t, i);
					zeros += zero4(cell);
					passes++;
				}
				if (!vx6_cell_hop_open(&c.hop[t], cell))
					fail_msg("n=%u: hop %u did not recognize its cell", n, t);
				expect_plain(cell, want);
				circ_in_step(&c);
			}
		circ_wipe(&c);
	}
	assert_int_equal(passes, 100 * 84);   /* sum over n of n(n-1)/2, per round */
	assert_int_equal(zeros, 0);
}

/* Checks for 1..MAX_HOPS hops that a backward cell from every hop is attributed
 * to that hop by vx6_cell_client_open and arrives intact. */
static void
test_layers_backward_attribution(void **state)
{
	uint8_t cell[VX6_CELL_SIZE], want[VX6_CELL_SIZE];

	(void)state;
	for (unsigned n = 1; n <= HOPS; n++) {
		struct circ c;

		circ_build(&c, n, 2000 + n);
		for (unsigned round = 0; round < 40; round++)
			for (unsigned t = 0; t < n; t++) {
				plain_cell(want, (uint8_t)(1 + (round + t) % 9), (uint16_t)(0xffff - round),
				    (round * 97 + t * 5) % (VX6_CELL_MAX_PAYLOAD + 1), round * 10 + t + 7);
				memcpy(cell, want, sizeof(cell));
				bwd_send(&c, t, 0, cell);
				assert_int_equal(vx6_cell_client_open(c.client, n, cell), (int)t);
				expect_plain(cell, want);
				circ_in_step(&c);
			}
		circ_wipe(&c);
	}
}

/* Checks thousands of random cells (random circuit length, direction, target,
 * command, length) all arrive where they should, the counters match a naive model
 * (forward: cells for targets >= i; backward: cells from hops >= i), and no
 * non-target hop or client step ever sees recognized == 0. */
static void
test_layers_mixed_random(void **state)
{
	uint64_t seed = tu_seed();
	struct vx6_det_rng rng;
	uint8_t cell[VX6_CELL_SIZE], want[VX6_CELL_SIZE];
	unsigned zeros = 0;

	(void)state;
	vx6_det_rng_init(&rng, seed);
	for (int run = 0; run < 3; run++) {
		struct circ c;
		uint64_t model_f[HOPS] = { 0 }, model_b[HOPS] = { 0 };
		unsigned n = 1 + (unsigned)(vx6_det_rng_u64(&rng) % HOPS);

		if (run == 0)
			n = HOPS;
		circ_build(&c, n, seed + (uint64_t)run);
		for (int op = 0; op < 2000; op++) {
			uint64_t r = vx6_det_rng_u64(&rng);
			unsigned t = (unsigned)((r >> 1) % n);
			size_t len = (size_t)((r >> 8) % (VX6_CELL_MAX_PAYLOAD + 1));

			plain_cell(want, (uint8_t)(1 + (r >> 24) % 9), (uint16_t)(r >> 32), len, r);
			memcpy(cell, want, sizeof(cell));
			if (r & 1) {
				vx6_cell_client_seal(c.client, t, cell);
				if (fwd_deliver(&c, 0, cell, &zeros) != (int)t)
					fail_msg("seed=%llu run %d op %d: forward cell for hop %u lost",
					    (unsigned long long)seed, run, op, t);
				for (unsigned i = 0; i <= t; i++)
					model_f[i]++;
			} else {
				bwd_send(&c, t, 0, cell);
				/* Count what the client sees at each peel before the sender. */
				{
					uint8_t peek[VX6_CELL_SIZE];
					struct vx6_hop_crypto tmp;

					memcpy(peek, cell, sizeof(peek));
					for (unsigned i = 0; i < t; i++) {
						tmp = c.client[i];
						vx6_cell_hop_wrap(&tmp, peek);   /* the same XOR layer */
						zeros += zero4(peek);
					}
				}
				if (vx6_cell_client_open(c.client, n, cell) != (int)t)
					fail_msg("seed=%llu run %d op %d: backward cell from hop %u misattributed",
					    (unsigned long long)seed, run, op, t);
				for (unsigned i = 0; i <= t; i++)
					model_b[i]++;
			}
			expect_plain(cell, want);
		}
		circ_in_step(&c);
		for (unsigned i = 0; i < n; i++) {
			assert_true(c.hop[i].fwd_ctr == model_f[i]);
			assert_true(c.hop[i].bwd_ctr == model_b[i]);
		}
		circ_wipe(&c);
	}
	assert_int_equal(zeros, 0);
}

/* Checks a cell looks different on every link and at the target (no plaintext
 * header or payload visible on the way), both directions, and that the same
 * plaintext sent twice looks different the second time. */
static void
test_cells_differ_per_hop(void **state)
{
	static uint8_t seen[HOPS + 1][VX6_CELL_SIZE], again[VX6_CELL_SIZE];
	uint8_t want[VX6_CELL_SIZE], cell[VX6_CELL_SIZE];
	struct circ c;

	(void)state;
	circ_build(&c, HOPS, 77);
	for (int dir = 0; dir < 2; dir++)
		for (int rep = 0; rep < 2; rep++) {
			plain_cell(want, VX6_CELL_DATA, 9, 600, 5);
			memcpy(cell, want, sizeof(cell));
			if (dir == 0) {
				vx6_cell_client_seal(c.client, HOPS - 1, cell);
				for (unsigned i = 0; i < HOPS; i++) {
					memcpy(seen[i], cell, VX6_CELL_SIZE);   /* on the link into hop i */
					assert_int_equal(vx6_cell_hop_open(&c.hop[i], cell), i == HOPS - 1);
				}
			} else {
				vx6_cell_hop_seal(&c.hop[HOPS - 1], cell);
				for (unsigned i = HOPS; i-- > 0;) {
					if (i < HOPS - 1)
						vx6_cell_hop_wrap(&c.hop[i], cell);
					memcpy(seen[i], cell, VX6_CELL_SIZE);   /* on the link out of hop i */
				}
				assert_int_equal(vx6_cell_client_open(c.client, HOPS, cell), HOPS - 1);
			}
			memcpy(seen[HOPS], cell, VX6_CELL_SIZE);   /* the plaintext */
			expect_plain(seen[HOPS], want);
			for (unsigned i = 0; i < HOPS; i++) {
				assert_false(zero4(seen[i]));
				assert_memory_not_equal(seen[i] + 16, want + 16, 6);   /* header */
				assert_memory_not_equal(seen[i] + VX6_CELL_HEADER, want + VX6_CELL_HEADER, 600);
				assert_memory_not_equal(seen[i] + 622, want + 622, VX6_CELL_SIZE - 622);   /* padding */
				for (unsigned j = i + 1; j <= HOPS; j++)
					assert_memory_not_equal(seen[i], seen[j], VX6_CELL_SIZE);
			}
			if (rep == 0)
				memcpy(again, seen[0], VX6_CELL_SIZE);
			else
				assert_memory_not_equal(again, seen[0], VX6_CELL_SIZE);
		}
	circ_in_step(&c);
	circ_wipe(&c);
}

/* ------------------------------------------------------------------------ */
/* Tampering                                                                 */

/* Checks every single-bit flip of a forward cell, made on any link between the
 * client and the target, makes the target reject it (and no hop accept it);
 * for the last hop and for a middle hop as target. */
static void
test_tamper_forward_bitflips(void **state)
{
	static uint8_t at[HOPS][VX6_CELL_SIZE];
	uint8_t want[VX6_CELL_SIZE], cell[VX6_CELL_SIZE];
	struct circ c;

	(void)state;
	circ_build(&c, 3, 91);
	for (unsigned t = 1; t < 3; t++) {
		struct circ before;

		plain_cell(want, VX6_CELL_DATA, 1, 1000, t);
		memcpy(cell, want, sizeof(cell));
		vx6_cell_client_seal(c.client, t, cell);
		before = c;
		/* The genuine bytes on each link 0..t (into hop i). */
		for (unsigned i = 0; i <= t; i++) {
			memcpy(at[i], cell, sizeof(cell));
			assert_int_equal(vx6_cell_hop_open(&c.hop[i], cell), i == t);
		}
		expect_plain(cell, want);
		for (unsigned link = 0; link <= t; link++)
			for (size_t bit = 0; bit < VX6_CELL_SIZE * 8; bit++) {
				struct vx6_hop_crypto h[3];
				int got = -1;

				/* hops before the link already passed the genuine cell */
				memcpy(h, before.hop, sizeof(h));
				for (unsigned i = 0; i < link; i++)
					h[i].fwd_ctr++;
				memcpy(cell, at[link], sizeof(cell));
				cell[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				for (unsigned i = link; i < 3 && got < 0; i++)
					if (vx6_cell_hop_open(&h[i], cell))
						got = (int)i;
				if (got >= 0)
					fail_msg("target %u: bit %zu flipped before hop %u accepted by hop %d", t, bit,
					    link, got);
			}
	}
	circ_in_step(&c);
	circ_wipe(&c);
}

/* Checks every single-bit flip of a backward cell, made on any link between
 * the sending hop and the client, makes vx6_cell_client_open return -1. */
static void
test_tamper_backward_bitflips(void **state)
{
	static uint8_t at[HOPS][VX6_CELL_SIZE];
	uint8_t want[VX6_CELL_SIZE], cell[VX6_CELL_SIZE];
	struct circ c;
	const unsigned t = 2;

	(void)state;
	circ_build(&c, 3, 92);
	plain_cell(want, VX6_CELL_CONNECTED, 2, 1500, 3);
	memcpy(cell, want, sizeof(cell));
	/* at[i]: the genuine bytes on the link out of hop i (towards the client). */
	vx6_cell_hop_seal(&c.hop[t], cell);
	memcpy(at[t], cell, sizeof(cell));
	for (unsigned i = t; i-- > 0;) {
		vx6_cell_hop_wrap(&c.hop[i], cell);
		memcpy(at[i], cell, sizeof(cell));
	}
	for (unsigned link = 0; link <= t; link++)
		for (size_t bit = 0; bit < VX6_CELL_SIZE * 8; bit++) {
			struct vx6_hop_crypto h[3], cl[3];
			int got;

			memcpy(h, c.hop, sizeof(h));
			memcpy(cl, c.client, sizeof(cl));
			memcpy(cell, at[link], sizeof(cell));
			cell[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			/* hops link-1..0 wrap it with the counters they used for the genuine cell */
			for (unsigned i = link; i-- > 0;) {
				h[i].bwd_ctr--;
				vx6_cell_hop_wrap(&h[i], cell);
			}
			got = vx6_cell_client_open(cl, 3, cell);
			if (got != -1)
				fail_msg("bit %zu flipped after hop %u: client_open returned %d", bit, link, got);
		}
	memcpy(cell, at[0], sizeof(cell));
	assert_int_equal(vx6_cell_client_open(c.client, 3, cell), (int)t);
	expect_plain(cell, want);
	circ_in_step(&c);
	circ_wipe(&c);
}

enum attack { REPLAY, DROP, SWAP };
static const char *const attack_name[] = { "replay", "drop", "swap" };

/* The order in which the attacker delivers cells 0..3 (-1 ends); expected[k]:
 * whether delivery k is accepted. After a swap both swapped cells fail, and the
 * counters line up again for the cell after them. */
static const int order[3][6] = { { 0, 0, 1, 2, 3, -1 }, { 0, 2, 3, -1 }, { 0, 2, 1, 3, -1 } };
static const bool accepted[3][6] = { { 1, 0, 0, 0, 0 }, { 1, 0, 0 }, { 1, 0, 0, 1 } };

/* Checks replay, drop and swap of forward cells on every link up to the target
 * (for every target of a 3-hop circuit): the next cell at the target fails. */
static void
test_forward_replay_drop_swap(void **state)
{
	static uint8_t sealed[4][VX6_CELL_SIZE], want[4][VX6_CELL_SIZE];

	(void)state;
	for (unsigned t = 0; t < 3; t++)
		for (unsigned link = 0; link <= t; link++)
			for (int a = REPLAY; a <= SWAP; a++) {
				struct circ c;

				circ_build(&c, 3, 300 + t);
				for (int k = 0; k < 4; k++) {
					plain_cell(want[k], VX6_CELL_DATA, 4, 100 + (size_t)k, (uint64_t)k);
					memcpy(sealed[k], want[k], VX6_CELL_SIZE);
					vx6_cell_client_seal(c.client, t, sealed[k]);
					/* the hops before the attacker pass every cell in order */
					for (unsigned i = 0; i < link; i++)
						assert_false(vx6_cell_hop_open(&c.hop[i], sealed[k]));
				}
				for (int d = 0; order[a][d] >= 0; d++) {
					uint8_t cell[VX6_CELL_SIZE];
					int got;

					memcpy(cell, sealed[order[a][d]], VX6_CELL_SIZE);
					got = fwd_deliver(&c, link, cell, NULL);
					if (accepted[a][d] ? got != (int)t : got != -1)
						fail_msg("%s before hop %u, target %u: delivery %d gave %d",
						    attack_name[a], link, t, d, got);
					if (got >= 0)
						expect_plain(cell, want[order[a][d]]);
				}
				circ_wipe(&c);
			}
}

/* Checks replay, drop and swap of backward cells on every link between the
 * sending hop and the client: the next cell at the client fails. */
static void
test_backward_replay_drop_swap(void **state)
{
	static uint8_t sent[4][VX6_CELL_SIZE], want[4][VX6_CELL_SIZE];

	(void)state;
	for (unsigned t = 0; t < 3; t++)
		for (unsigned link = 0; link <= t; link++)   /* attacker on the link out of hop `link` */
			for (int a = REPLAY; a <= SWAP; a++) {
				struct circ c;

				circ_build(&c, 3, 400 + t);
				for (int k = 0; k < 4; k++) {
					plain_cell(want[k], VX6_CELL_DATA, 5, 200 + (size_t)k, (uint64_t)k + 50);
					memcpy(sent[k], want[k], VX6_CELL_SIZE);
					bwd_send(&c, t, link, sent[k]);
				}
				for (int d = 0; order[a][d] >= 0; d++) {
					uint8_t cell[VX6_CELL_SIZE];
					int got;

					memcpy(cell, sent[order[a][d]], VX6_CELL_SIZE);
					for (unsigned i = link; i-- > 0;)
						vx6_cell_hop_wrap(&c.hop[i], cell);
					got = vx6_cell_client_open(c.client, 3, cell);
					if (accepted[a][d] ? got != (int)t : got != -1)
						fail_msg("%s after hop %u, sender %u: delivery %d gave %d",
						    attack_name[a], link, t, d, got);
					if (got >= 0)
						expect_plain(cell, want[order[a][d]]);
				}
				circ_wipe(&c);
			}
}

/* ------------------------------------------------------------------------ */
/* Known-answer vectors                                                      */

/* Regenerates every line of circuit_hop.txt from its inputs and compares. */
static void
test_hop_vectors(void **state)
{
	struct vx6_hop_crypto client[3], hop[3];
	struct tu_env ce, he;
	uint8_t cell[VX6_CELL_SIZE];
	char key[48];

	(void)state;
	for (int i = 0; i < nkv; i++)
		kvs[i].used = false;
	tu_env_init(&ce, kv_u64("client_env_seed"));
	for (int i = 0; i < 3; i++) {
		struct vx6_identity id;
		struct vx6_noise_hs hs;
		uint8_t seed[VX6_SEED_LEN], x[VX6_KEY_LEN], m1[VX6_HOP_MSG_LEN], m2[VX6_HOP_MSG_LEN];

#define K(f) (snprintf(key, sizeof(key), "hop%d_%s", i, f), key)
		kv_bytes(K("identity_seed"), seed, sizeof(seed));
		assert_int_equal(vx6_identity_from_seed(&id, seed), 0);
		tu_env_init(&he, kv_u64(K("env_seed")));
		kv_expect(K("pk"), id.pk, VX6_KEY_LEN);
		kv_expect(K("x_pk"), id.x_pk, VX6_KEY_LEN);
		assert_int_equal(vx6_key_to_x25519(x, id.pk), 0);
		kv_expect(K("x_pk"), x, VX6_KEY_LEN);
		assert_int_equal(vx6_hop_client_start(&hs, &ce.env, id.pk, m1), 0);
		kv_expect(K("msg1"), m1, sizeof(m1));
		assert_int_equal(vx6_hop_respond(&id, &he.env, m1, m2, &hop[i]), 0);
		kv_expect(K("msg2"), m2, sizeof(m2));
		assert_int_equal(vx6_hop_client_finish(&hs, m2, &client[i]), 0);
		kv_expect(K("fwd_key"), client[i].fwd_key, 32);
		kv_expect(K("fwd_mac"), client[i].fwd_mac, 32);
		kv_expect(K("bwd_key"), client[i].bwd_key, 32);
		kv_expect(K("bwd_mac"), client[i].bwd_mac, 32);
		assert_memory_equal(&client[i], &hop[i], sizeof(hop[i]));
#undef K
		vx6_identity_wipe(&id);
	}

	{
		static const char p1[] = "vx6 circuit vector: DATA to hop 2";
		static const uint8_t win[4] = { 0, 0, 0, 64 };
		struct circ c;
		struct vx6_cell pc;

		memset(&c, 0, sizeof(c));
		c.n = 3;
		memcpy(c.client, client, sizeof(client));
		memcpy(c.hop, hop, sizeof(hop));

		assert_int_equal(vx6_cell_build(cell, VX6_CELL_DATA, 7, p1, sizeof(p1) - 1), 0);
		vx6_cell_client_seal(c.client, 2, cell);
		kv_expect("cell_fwd1", cell, VX6_CELL_SIZE);
		assert_int_equal(fwd_deliver(&c, 0, cell, NULL), 2);
		assert_int_equal(vx6_cell_parse(cell, &pc), 0);
		assert_true(pc.cmd == VX6_CELL_DATA && pc.stream_id == 7 && pc.length == sizeof(p1) - 1);
		assert_memory_equal(pc.payload, p1, sizeof(p1) - 1);

		assert_int_equal(vx6_cell_build(cell, VX6_CELL_END, 7, NULL, 0), 0);
		vx6_cell_client_seal(c.client, 1, cell);
		kv_expect("cell_fwd2", cell, VX6_CELL_SIZE);
		assert_int_equal(fwd_deliver(&c, 0, cell, NULL), 1);
		assert_int_equal(vx6_cell_parse(cell, &pc), 0);
		assert_true(pc.cmd == VX6_CELL_END && pc.stream_id == 7 && pc.length == 0);

		assert_int_equal(vx6_cell_build(cell, VX6_CELL_CONNECTED, 7, "connected", 9), 0);
		bwd_send(&c, 2, 0, cell);
		kv_expect("cell_bwd1", cell, VX6_CELL_SIZE);
		assert_int_equal(vx6_cell_client_open(c.client, 3, cell), 2);
		assert_int_equal(vx6_cell_parse(cell, &pc), 0);
		assert_true(pc.cmd == VX6_CELL_CONNECTED && pc.length == 9);
		assert_memory_equal(pc.payload, "connected", 9);

		assert_int_equal(vx6_cell_build(cell, VX6_CELL_WINDOW, 7, win, sizeof(win)), 0);
		bwd_send(&c, 0, 0, cell);
		kv_expect("cell_bwd2", cell, VX6_CELL_SIZE);
		assert_int_equal(vx6_cell_client_open(c.client, 3, cell), 0);
		assert_int_equal(vx6_cell_parse(cell, &pc), 0);
		assert_true(pc.cmd == VX6_CELL_WINDOW && pc.length == 4);
		assert_memory_equal(pc.payload, win, 4);
		circ_in_step(&c);

		/* High counters: every byte of the nonce and of the MAC's counter. */
		for (unsigned i = 0; i < 3; i++) {
			uint64_t hi = ((uint64_t)i + 1) * (1ULL << 56) + 5;

			c.client[i].fwd_ctr = c.client[i].bwd_ctr = hi;
			c.hop[i].fwd_ctr = c.hop[i].bwd_ctr = hi;
		}
		assert_int_equal(vx6_cell_build(cell, VX6_CELL_DATA, 9, "high counters", 13), 0);
		vx6_cell_client_seal(c.client, 2, cell);
		kv_expect("cell_fwd3", cell, VX6_CELL_SIZE);
		assert_int_equal(fwd_deliver(&c, 0, cell, NULL), 2);
		assert_int_equal(vx6_cell_parse(cell, &pc), 0);
		assert_true(pc.cmd == VX6_CELL_DATA && pc.stream_id == 9 && pc.length == 13);
		assert_memory_equal(pc.payload, "high counters", 13);

		assert_int_equal(vx6_cell_build(cell, VX6_CELL_PADDING, 0, NULL, 0), 0);
		bwd_send(&c, 1, 0, cell);
		kv_expect("cell_bwd3", cell, VX6_CELL_SIZE);
		assert_int_equal(vx6_cell_client_open(c.client, 3, cell), 1);
		assert_int_equal(vx6_cell_parse(cell, &pc), 0);
		assert_true(pc.cmd == VX6_CELL_PADDING && pc.stream_id == 0 && pc.length == 0);
		circ_in_step(&c);
		circ_wipe(&c);
	}
	for (int i = 0; i < nkv; i++)
		if (!kvs[i].used)
			fail_msg("%s: line \"%s\" is not checked by any test", HOP_FILE, kvs[i].key);
	for (int i = 0; i < 3; i++) {
		vx6_hop_crypto_wipe(&client[i]);
		vx6_hop_crypto_wipe(&hop[i]);
	}
}

/* ------------------------------------------------------------------------ */
/* Cell encoding                                                             */

/* Checks build/parse of every command with stream ids and lengths up to the
 * maximum: exact layout, zero padding, parse gives the same fields. */
static void
test_cell_build_parse_all_cmds(void **state)
{
	static const uint16_t sids[] = { 0, 1, 0x1234, 0xffff };
	static const size_t lens[] = { 0, 1, 2, 100, VX6_CELL_MAX_PAYLOAD - 1, VX6_CELL_MAX_PAYLOAD };
	static uint8_t payload[VX6_CELL_MAX_PAYLOAD];
	uint8_t cell[VX6_CELL_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 13 + 1);
	assert_int_equal(VX6_CELL_MAX_PAYLOAD, 2026);
	for (unsigned cmd = VX6_CELL_DATA; cmd <= VX6_CELL_TRUNCATED; cmd++)
		for (size_t s = 0; s < sizeof(sids) / sizeof(sids[0]); s++)
			for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
				struct vx6_cell pc;
				size_t len = lens[l];

				memset(cell, 0xee, sizeof(cell));
				assert_int_equal(vx6_cell_build(cell, (uint8_t)cmd, sids[s], len ? payload : NULL, len), 0);
				for (int k = 0; k < 16; k++)
					assert_int_equal(cell[k], 0);   /* recognized and MAC */
				assert_int_equal(cell[16], cmd);
				assert_int_equal(cell[17], 0);
				assert_int_equal(cell[18], sids[s] >> 8);
				assert_int_equal(cell[19], sids[s] & 0xff);
				assert_int_equal(cell[20], len >> 8);
				assert_int_equal(cell[21], len & 0xff);
				if (len)
					assert_memory_equal(cell + VX6_CELL_HEADER, payload, len);
				for (size_t k = VX6_CELL_HEADER + len; k < VX6_CELL_SIZE; k++)
					assert_int_equal(cell[k], 0);
				assert_int_equal(vx6_cell_parse(cell, &pc), 0);
				assert_int_equal(pc.cmd, cmd);
				assert_int_equal(pc.stream_id, sids[s]);
				assert_int_equal(pc.length, len);
				assert_ptr_equal(pc.payload, cell + VX6_CELL_HEADER);
			}
}

/* Checks a payload beyond VX6_CELL_MAX_PAYLOAD is refused and leaves the cell alone. */
static void
test_cell_build_too_large(void **state)
{
	static uint8_t payload[2 * VX6_CELL_SIZE];
	static const size_t lens[] = { VX6_CELL_MAX_PAYLOAD + 1, VX6_CELL_SIZE, 2 * VX6_CELL_SIZE, 65535,
		65536, (size_t)-1 };
	uint8_t cell[VX6_CELL_SIZE], orig[VX6_CELL_SIZE];

	(void)state;
	memset(orig, 0x77, sizeof(orig));
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		memcpy(cell, orig, sizeof(cell));
		assert_int_equal(vx6_cell_build(cell, VX6_CELL_DATA, 1, payload, lens[l]), VX6_ERR_TOO_LARGE);
		assert_memory_equal(cell, orig, sizeof(cell));
	}
}

/* Checks unknown commands, any non-zero flags and lengths beyond the payload area
 * are MALFORMED, whatever the recognized/MAC bytes; the limits themselves parse. */
static void
test_cell_parse_malformed(void **state)
{
	uint8_t cell[VX6_CELL_SIZE];
	struct vx6_cell pc;

	(void)state;
	assert_int_equal(vx6_cell_build(cell, VX6_CELL_DATA, 3, "x", 1), 0);
	memset(cell, 0xff, 16);   /* parse does not look at recognized/MAC */
	assert_int_equal(vx6_cell_parse(cell, &pc), 0);
	for (unsigned cmd = 0; cmd < 256; cmd++) {
		cell[16] = (uint8_t)cmd;
		assert_int_equal(vx6_cell_parse(cell, &pc),
		    cmd >= VX6_CELL_DATA && cmd <= VX6_CELL_TRUNCATED ? 0 : VX6_ERR_MALFORMED);
	}
	cell[16] = VX6_CELL_DATA;
	for (unsigned fl = 1; fl < 256; fl++) {
		cell[17] = (uint8_t)fl;
		assert_int_equal(vx6_cell_parse(cell, &pc), VX6_ERR_MALFORMED);
	}
	cell[17] = 0;
	for (unsigned len = 0; len <= 0xffff; len++) {
		cell[20] = (uint8_t)(len >> 8);
		cell[21] = (uint8_t)len;
		if (vx6_cell_parse(cell, &pc) != (len <= VX6_CELL_MAX_PAYLOAD ? 0 : VX6_ERR_MALFORMED))
			fail_msg("length %u: wrong parse result", len);
	}
}

/* ------------------------------------------------------------------------ */
/* EXTEND payload                                                            */

static void
extend_sample(struct vx6_extend *e, int family)
{
	struct vx6_identity id;

	memset(e, 0, sizeof(*e));
	tu_identity(&id, 0x71);
	e->addr.family = (uint8_t)family;
	if (family == 4) {
		static const uint8_t v4[4] = { 192, 0, 2, 1 };
		memcpy(e->addr.ip, v4, 4);
		e->addr.transport = VX6_TRANSPORT_TCP;
		e->addr.port = 4242;
	} else {
		static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
		memcpy(e->addr.ip, v6, 16);
		e->addr.transport = VX6_TRANSPORT_QUIC;
		e->addr.port = 65535;
	}
	memcpy(e->key, id.pk, VX6_KEY_LEN);
	for (int i = 0; i < VX6_HOP_MSG_LEN; i++)
		e->msg1[i] = (uint8_t)(0xa0 + i);
	vx6_identity_wipe(&id);
}

/* Decodes p (copied into an exact-size heap buffer for ASan). */
static int
decode_exact(struct vx6_extend *e, const uint8_t *p, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	int rc;

	if (buf == NULL)
		abort();
	if (len)
		memcpy(buf, p, len);
	rc = vx6_extend_decode(e, buf, len);
	free(buf);
	return rc;
}

/* Checks encode's exact layout and the decode round trip for IPv4/TCP and IPv6/QUIC. */
static void
test_extend_round_trip(void **state)
{
	(void)state;
	assert_int_equal(VX6_EXTEND_LEN, 100);
	for (int f = 4; f <= 6; f += 2) {
		struct vx6_extend e, d;
		uint8_t out[VX6_EXTEND_LEN];

		extend_sample(&e, f);
		assert_int_equal(vx6_extend_encode(&e, out), 0);
		assert_int_equal(out[0], f);
		assert_int_equal(out[1], e.addr.transport);
		assert_memory_equal(out + 2, e.addr.ip, 16);
		assert_int_equal(out[18], e.addr.port >> 8);
		assert_int_equal(out[19], e.addr.port & 0xff);
		assert_memory_equal(out + 20, e.key, VX6_KEY_LEN);
		assert_memory_equal(out + 52, e.msg1, VX6_HOP_MSG_LEN);
		assert_int_equal(decode_exact(&d, out, sizeof(out)), 0);
		assert_int_equal(d.addr.family, e.addr.family);
		assert_int_equal(d.addr.transport, e.addr.transport);
		assert_int_equal(d.addr.port, e.addr.port);
		assert_memory_equal(d.addr.ip, e.addr.ip, 16);
		assert_memory_equal(d.key, e.key, VX6_KEY_LEN);
		assert_memory_equal(d.msg1, e.msg1, VX6_HOP_MSG_LEN);
		assert_true(vx6_addr_equal(&d.addr, &e.addr));
	}
}

/* Checks every truncation and extension, every family but 4/6, unknown
 * transports, port 0 and IPv4 with bytes after the first 4 are MALFORMED;
 * encode refuses a family it cannot write. */
static void
test_extend_malformed(void **state)
{
	struct vx6_extend e, d;
	uint8_t good[VX6_EXTEND_LEN], buf[2 * VX6_EXTEND_LEN];

	(void)state;
	for (int f = 4; f <= 6; f += 2) {
		extend_sample(&e, f);
		assert_int_equal(vx6_extend_encode(&e, good), 0);
		for (size_t l = 0; l < VX6_EXTEND_LEN; l++)
			if (decode_exact(&d, good, l) != VX6_ERR_MALFORMED)
				fail_msg("family %d: EXTEND cut to %zu bytes not malformed", f, l);
		memset(buf, 0, sizeof(buf));
		memcpy(buf, good, sizeof(good));
		for (size_t l = VX6_EXTEND_LEN + 1; l <= sizeof(buf); l++)
			if (decode_exact(&d, buf, l) != VX6_ERR_MALFORMED)
				fail_msg("family %d: EXTEND with %zu bytes not malformed", f, l);
		buf[VX6_EXTEND_LEN] = 0xff;
		assert_int_equal(decode_exact(&d, buf, VX6_EXTEND_LEN + 1), VX6_ERR_MALFORMED);

		memcpy(buf, good, sizeof(good));
		for (unsigned v = 0; v < 256; v++) {
			buf[0] = (uint8_t)v;
			if (v == 4 || v == 6)
				continue;
			assert_int_equal(decode_exact(&d, buf, VX6_EXTEND_LEN), VX6_ERR_MALFORMED);
		}
		memcpy(buf, good, sizeof(good));
		for (unsigned v = 0; v < 256; v++) {
			buf[1] = (uint8_t)v;
			assert_int_equal(decode_exact(&d, buf, VX6_EXTEND_LEN),
			    v <= VX6_TRANSPORT_QUIC ? 0 : VX6_ERR_MALFORMED);
		}
		memcpy(buf, good, sizeof(good));
		buf[18] = buf[19] = 0;
		assert_int_equal(decode_exact(&d, buf, VX6_EXTEND_LEN), VX6_ERR_MALFORMED);
		buf[19] = 1;
		assert_int_equal(decode_exact(&d, buf, VX6_EXTEND_LEN), 0);
		assert_int_equal(d.addr.port, 1);
		/* Bytes 4..15 of the address: IPv4 must have them zero, IPv6 uses them. */
		for (int k = 4; k < 16; k++)
			for (int bit = 0; bit < 8; bit++) {
				memcpy(buf, good, sizeof(good));
				buf[2 + k] ^= (uint8_t)(1u << bit);
				assert_int_equal(decode_exact(&d, buf, VX6_EXTEND_LEN), f == 4 ? VX6_ERR_MALFORMED : 0);
			}
	}
	/* The all-zero key and message are not the decoder's business (the NK
	 * handshake and vx6_key_to_x25519 refuse them); decoding succeeds. */
	extend_sample(&e, 4);
	memset(e.key, 0, sizeof(e.key));
	assert_int_equal(vx6_extend_encode(&e, good), 0);
	assert_int_equal(decode_exact(&d, good, VX6_EXTEND_LEN), 0);
	for (unsigned v = 0; v < 256; v++) {
		if (v == 4 || v == 6)
			continue;
		e.addr.family = (uint8_t)v;
		assert_int_equal(vx6_extend_encode(&e, good), VX6_ERR_INVAL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nk_vector_loaded),
		cmocka_unit_test(test_nk_hash_chain),
		cmocka_unit_test(test_nk_vector),
		cmocka_unit_test(test_nk_init_args),
		cmocka_unit_test(test_nk_bitflips_and_truncations),
		cmocka_unit_test(test_hop_handshake_mirrored),
		cmocka_unit_test(test_hop_wrong_identity),
		cmocka_unit_test(test_hop_bad_hop_key),
		cmocka_unit_test(test_hop_msg_bitflips),
		cmocka_unit_test(test_hop_msg_truncations),
		cmocka_unit_test(test_hop_vectors),
		cmocka_unit_test(test_layers_target_only),
		cmocka_unit_test(test_layers_backward_attribution),
		cmocka_unit_test(test_layers_mixed_random),
		cmocka_unit_test(test_cells_differ_per_hop),
		cmocka_unit_test(test_tamper_forward_bitflips),
		cmocka_unit_test(test_tamper_backward_bitflips),
		cmocka_unit_test(test_forward_replay_drop_swap),
		cmocka_unit_test(test_backward_replay_drop_swap),
		cmocka_unit_test(test_cell_build_parse_all_cmds),
		cmocka_unit_test(test_cell_build_too_large),
		cmocka_unit_test(test_cell_parse_malformed),
		cmocka_unit_test(test_extend_round_trip),
		cmocka_unit_test(test_extend_malformed),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
