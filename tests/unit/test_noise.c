/*
 * test_noise — checks crypto/noise against the published cacophony test
 * vectors for Noise_IK_25519_ChaChaPoly_BLAKE2b and
 * Noise_XX_25519_ChaChaPoly_BLAKE2b (tests/vectors/noise_cacophony.txt),
 * HMAC/HKDF-BLAKE2b against values computed with Python's hmac + hashlib,
 * and the handshake's rejection of corrupted and truncated messages.
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

#include "crypto/noise.h"
#include "lib/err.h"
#include "testutil.h"

#define VEC_FILE VX6_VECTORS_DIR "/noise_cacophony.txt"
#define MAX_VECS 4
#define MAX_MSGS 16
#define MAX_BYTES 1024
#define MAX_LINE 8192

struct blob {
	uint8_t b[MAX_BYTES];
	size_t len;
	bool set;
};

struct vec {
	char name[96];
	enum vx6_noise_pattern pattern;
	struct blob init_prologue, init_static, init_ephemeral, init_remote_static;
	struct blob resp_prologue, resp_static, resp_ephemeral, handshake_hash;
	struct blob payload[MAX_MSGS], ct[MAX_MSGS];
	int nmsgs;
};

static struct vec vecs[MAX_VECS];
static int nvecs;
static struct tu_env tenv;

/* --- vector file parsing --- */

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

/* Maps a field name of the vector file to its blob in v (NULL if unknown). */
static struct blob *
vec_field(struct vec *v, const char *key)
{
	if (strcmp(key, "init_prologue") == 0) return &v->init_prologue;
	if (strcmp(key, "init_static") == 0) return &v->init_static;
	if (strcmp(key, "init_ephemeral") == 0) return &v->init_ephemeral;
	if (strcmp(key, "init_remote_static") == 0) return &v->init_remote_static;
	if (strcmp(key, "resp_prologue") == 0) return &v->resp_prologue;
	if (strcmp(key, "resp_static") == 0) return &v->resp_static;
	if (strcmp(key, "resp_ephemeral") == 0) return &v->resp_ephemeral;
	if (strcmp(key, "handshake_hash") == 0) return &v->handshake_hash;
	return NULL;
}

/* Checks that a finished block has every field the protocol needs, sized right. */
static int
vec_complete(const struct vec *v)
{
	const struct blob *keys[] = { &v->init_static, &v->init_ephemeral, &v->resp_static,
		&v->resp_ephemeral };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!keys[i]->set || keys[i]->len != VX6_NOISE_DHLEN)
			return -1;
	if (v->pattern == VX6_NOISE_IK
	    && (!v->init_remote_static.set || v->init_remote_static.len != VX6_NOISE_DHLEN))
		return -1;
	if (v->pattern == VX6_NOISE_XX && v->init_remote_static.set)
		return -1;
	if (!v->init_prologue.set || !v->resp_prologue.set)
		return -1;
	if (!v->handshake_hash.set || v->handshake_hash.len != VX6_NOISE_HASHLEN)
		return -1;
	return v->nmsgs > (v->pattern == VX6_NOISE_IK ? 2 : 3) ? 0 : -1;
}

/* Parses the vector file into vecs[]; returns 0, or -1 after printing why. */
static int
load_vectors(const char *path)
{
	char line[MAX_LINE];
	struct vec *cur = NULL;
	int lineno = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	nvecs = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *save = NULL, *key, *a, *b;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f))
			goto bad;
		line[strcspn(line, "\r\n")] = '\0';
		key = strtok_r(line, " \t", &save);
		if (key == NULL || key[0] == '#')
			continue;
		a = strtok_r(NULL, " \t", &save);
		b = strtok_r(NULL, " \t", &save);
		if (strtok_r(NULL, " \t", &save) != NULL)
			goto bad;
		if (strcmp(key, "protocol") == 0) {
			if (cur != NULL || a == NULL || b != NULL || nvecs == MAX_VECS)
				goto bad;
			cur = &vecs[nvecs];
			memset(cur, 0, sizeof(*cur));
			if (strlen(a) >= sizeof(cur->name))
				goto bad;
			strcpy(cur->name, a);
			if (strcmp(a, "Noise_IK_25519_ChaChaPoly_BLAKE2b") == 0)
				cur->pattern = VX6_NOISE_IK;
			else if (strcmp(a, "Noise_XX_25519_ChaChaPoly_BLAKE2b") == 0)
				cur->pattern = VX6_NOISE_XX;
			else
				goto bad;
		} else if (strcmp(key, "end") == 0) {
			if (cur == NULL || a != NULL || vec_complete(cur) != 0)
				goto bad;
			nvecs++;
			cur = NULL;
		} else if (strcmp(key, "msg") == 0) {
			if (cur == NULL || a == NULL || b == NULL || cur->nmsgs == MAX_MSGS)
				goto bad;
			if (blob_set(&cur->payload[cur->nmsgs], a) != 0
			    || blob_set(&cur->ct[cur->nmsgs], b) != 0)
				goto bad;
			cur->nmsgs++;
		} else {
			struct blob *bl = cur ? vec_field(cur, key) : NULL;

			if (bl == NULL || bl->set || a == NULL || b != NULL || blob_set(bl, a) != 0)
				goto bad;
		}
	}
	fclose(f);
	if (cur != NULL) {
		fprintf(stderr, "%s: block \"%s\" has no end\n", path, cur->name);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "%s:%d: malformed or unexpected line\n", path, lineno);
	fclose(f);
	return -1;
}

/* Group setup: checks that the vector file loads before any test uses it. */
static int
group_setup(void **state)
{
	(void)state;
	tu_env_init(&tenv, 1);
	return load_vectors(VEC_FILE);
}

/* Returns the loaded vector for a pattern (fails the test when it is absent). */
static const struct vec *
find_vec(enum vx6_noise_pattern p)
{
	for (int i = 0; i < nvecs; i++)
		if (vecs[i].pattern == p)
			return &vecs[i];
	fail_msg("no vector for pattern %d in %s", (int)p, VEC_FILE);
	return NULL;
}

/* --- handshake driving --- */

/* Number of handshake messages of a pattern; the rest are transport messages. */
static int
hs_msgs(enum vx6_noise_pattern p)
{
	return p == VX6_NOISE_IK ? 2 : 3;
}

/* Whether handshake message m carries a MAC (XX message 0 is "-> e" in clear). */
static bool
msg_authenticated(enum vx6_noise_pattern p, int m)
{
	return !(p == VX6_NOISE_XX && m == 0);
}

/* Initializes both sides from the vector's keys; checks init succeeds. */
static void
pair_init(const struct vec *v, struct vx6_noise_hs *ini, struct vx6_noise_hs *resp)
{
	uint8_t ipub[VX6_NOISE_DHLEN], rpub[VX6_NOISE_DHLEN];

	assert_int_equal(crypto_scalarmult_base(ipub, v->init_static.b), 0);
	assert_int_equal(crypto_scalarmult_base(rpub, v->resp_static.b), 0);
	assert_int_equal(vx6_noise_hs_init(ini, v->pattern, true, v->init_prologue.b,
	    v->init_prologue.len, v->init_static.b, ipub,
	    v->pattern == VX6_NOISE_IK ? v->init_remote_static.b : NULL), 0);
	vx6_noise_hs_set_ephemeral(ini, v->init_ephemeral.b);
	assert_int_equal(vx6_noise_hs_init(resp, v->pattern, false, v->resp_prologue.b,
	    v->resp_prologue.len, v->resp_static.b, rpub, NULL), 0);
	vx6_noise_hs_set_ephemeral(resp, v->resp_ephemeral.b);
}

/* Writes handshake message i (one call or two steps); checks its bytes equal the vector's. */
static size_t
write_msg(const struct vec *v, int i, struct vx6_noise_hs *w, bool two_step, uint8_t *out,
    size_t cap)
{
	int n;

	assert_int_equal(vx6_noise_msg_len(v->pattern, i, v->payload[i].len), v->ct[i].len);
	if (two_step) {
		int a = vx6_noise_hs_write_tokens(w, &tenv.env, out, cap);
		assert_true(a >= 0);
		n = vx6_noise_hs_write_payload(w, v->payload[i].b, v->payload[i].len, out + a,
		    cap - (size_t)a);
		assert_true(n >= 0);
		n += a;
	} else {
		n = vx6_noise_hs_write(w, &tenv.env, v->payload[i].b, v->payload[i].len, out, cap);
	}
	assert_int_equal(n, (int)v->ct[i].len);
	assert_memory_equal(out, v->ct[i].b, v->ct[i].len);
	return (size_t)n;
}

/* Sends handshake message i; checks ciphertext, read-back payload and that both h agree. */
static void
exchange(const struct vec *v, int i, struct vx6_noise_hs *ini, struct vx6_noise_hs *resp,
    bool two_step)
{
	struct vx6_noise_hs *w = i % 2 == 0 ? ini : resp, *r = i % 2 == 0 ? resp : ini;
	uint8_t out[MAX_BYTES], pl[MAX_BYTES];
	size_t n = write_msg(v, i, w, two_step, out, sizeof(out));
	int p = vx6_noise_hs_read(r, out, n, pl, sizeof(pl));

	assert_int_equal(p, (int)v->payload[i].len);
	assert_memory_equal(pl, v->payload[i].b, v->payload[i].len);
	assert_memory_equal(w->h, r->h, VX6_NOISE_HASHLEN);
	assert_memory_equal(w->h_pre_payload, r->h_pre_payload, VX6_NOISE_HASHLEN);
	assert_int_equal(w->msg_index, i + 1);
	assert_int_equal(r->msg_index, i + 1);
}

/* Checks a whole vector: handshake messages, final hash, static keys, split, transport. */
static void
run_vector(const struct vec *v, bool two_step)
{
	struct vx6_noise_hs ini, resp;
	struct vx6_noise_cipher isend = { .has_key = true }, irecv = { .has_key = true };
	struct vx6_noise_cipher rsend = { .has_key = true }, rrecv = { .has_key = true };
	uint8_t ipub[VX6_NOISE_DHLEN], rpub[VX6_NOISE_DHLEN];
	int nhs = hs_msgs(v->pattern);

	pair_init(v, &ini, &resp);
	for (int i = 0; i < nhs; i++) {
		assert_false(vx6_noise_hs_done(&ini));
		exchange(v, i, &ini, &resp, two_step);
	}
	assert_true(vx6_noise_hs_done(&ini));
	assert_true(vx6_noise_hs_done(&resp));
	assert_memory_equal(ini.h, v->handshake_hash.b, VX6_NOISE_HASHLEN);
	assert_memory_equal(resp.h, v->handshake_hash.b, VX6_NOISE_HASHLEN);

	crypto_scalarmult_base(ipub, v->init_static.b);
	crypto_scalarmult_base(rpub, v->resp_static.b);
	assert_true(ini.has_rs && resp.has_rs);
	assert_memory_equal(ini.rs, rpub, VX6_NOISE_DHLEN);
	assert_memory_equal(resp.rs, ipub, VX6_NOISE_DHLEN);

	vx6_noise_hs_split(&ini, isend.k, irecv.k);
	vx6_noise_hs_split(&resp, rrecv.k, rsend.k);
	assert_memory_equal(isend.k, rrecv.k, VX6_NOISE_KEYLEN);
	assert_memory_equal(irecv.k, rsend.k, VX6_NOISE_KEYLEN);
	assert_memory_not_equal(isend.k, irecv.k, VX6_NOISE_KEYLEN);

	for (int i = nhs; i < v->nmsgs; i++) {
		struct vx6_noise_cipher *tx = i % 2 == 0 ? &isend : &rsend;
		struct vx6_noise_cipher *rx = i % 2 == 0 ? &rrecv : &irecv;
		uint8_t out[MAX_BYTES], pl[MAX_BYTES];
		uint64_t n0 = tx->n;
		int n = vx6_noise_encrypt(tx, NULL, 0, v->payload[i].b, v->payload[i].len, out);

		assert_int_equal(n, (int)v->ct[i].len);
		assert_memory_equal(out, v->ct[i].b, v->ct[i].len);
		assert_int_equal(tx->n, n0 + 1);
		n = vx6_noise_decrypt(rx, NULL, 0, v->ct[i].b, v->ct[i].len, pl);
		assert_int_equal(n, (int)v->payload[i].len);
		assert_memory_equal(pl, v->payload[i].b, v->payload[i].len);
		assert_int_equal(rx->n, tx->n);
	}
	vx6_noise_hs_wipe(&ini);
	vx6_noise_hs_wipe(&resp);
}

/* --- corruption helpers --- */

/* Checks a failed state stays failed: same error, state untouched, no write, not done. */
static void
expect_sticky(struct vx6_noise_hs *hs, const struct vec *v, int m, int err)
{
	uint8_t pl[MAX_BYTES], out[MAX_BYTES];
	struct vx6_noise_hs before;

	assert_true(err < 0);
	assert_int_equal(hs->err, err);
	memcpy(&before, hs, sizeof(before));
	assert_int_equal(vx6_noise_hs_read(hs, v->ct[m].b, v->ct[m].len, pl, sizeof(pl)), err);
	assert_int_equal(vx6_noise_hs_read(hs, v->ct[m].b, v->ct[m].len, pl, sizeof(pl)), err);
	assert_int_equal(vx6_noise_hs_write(hs, &tenv.env, NULL, 0, out, sizeof(out)), err);
	assert_memory_equal(&before, hs, sizeof(before));
	assert_false(vx6_noise_hs_done(hs));
	sodium_memzero(&before, sizeof(before));
}

/* Checks a corrupted message m is rejected (at once, or next message if m has no MAC). */
static bool
expect_rejected(const struct vec *v, int m, const struct vx6_noise_hs *writer,
    const struct vx6_noise_hs *reader, const uint8_t *msg, size_t len)
{
	struct vx6_noise_hs r = *reader, w = *writer;
	uint8_t *buf = malloc(len ? len : 1), pl[MAX_BYTES], out[MAX_BYTES];
	bool at_once;
	int rc;

	/* An exact-size heap copy lets ASan catch any read past the end. Returns
	 * whether the reader refused it at once (with a sticky error). */
	assert_non_null(buf);
	if (len)
		memcpy(buf, msg, len);
	rc = vx6_noise_hs_read(&r, buf, len, pl, sizeof(pl));
	at_once = rc < 0;
	if (at_once) {
		expect_sticky(&r, v, m, rc);
	} else {
		/* Accepted: only possible for an unauthenticated message, and then
		 * the corruption must surface in the reply (it changed h). */
		assert_false(msg_authenticated(v->pattern, m));
		assert_true(m + 1 < hs_msgs(v->pattern));
		rc = vx6_noise_hs_write(&r, &tenv.env, v->payload[m + 1].b, v->payload[m + 1].len,
		    out, sizeof(out));
		if (rc >= 0) {
			rc = vx6_noise_hs_read(&w, out, (size_t)rc, pl, sizeof(pl));
			assert_true(rc < 0);
			expect_sticky(&w, v, m + 1, rc);
		}
	}
	free(buf);
	vx6_noise_hs_wipe(&r);
	vx6_noise_hs_wipe(&w);
	return at_once;
}

/* Brings a fresh pair to where message m is written (and checked) but not yet read. */
static void
pair_at_msg(const struct vec *v, int m, struct vx6_noise_hs *ini, struct vx6_noise_hs *resp,
    struct vx6_noise_hs **w, struct vx6_noise_hs **r)
{
	uint8_t out[MAX_BYTES];

	pair_init(v, ini, resp);
	for (int i = 0; i < m; i++)
		exchange(v, i, ini, resp, false);
	*w = m % 2 == 0 ? ini : resp;
	*r = m % 2 == 0 ? resp : ini;
	write_msg(v, m, *w, false, out, sizeof(out));
}

/* Checks every single-bit flip of every handshake message of v is rejected. */
static void
check_bitflips(const struct vec *v)
{
	for (int m = 0; m < hs_msgs(v->pattern); m++) {
		struct vx6_noise_hs ini, resp, *w, *r;
		uint8_t msg[MAX_BYTES];
		size_t len = v->ct[m].len, now = 0;

		pair_at_msg(v, m, &ini, &resp, &w, &r);
		for (size_t bit = 0; bit < len * 8; bit++) {
			memcpy(msg, v->ct[m].b, len);
			msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			now += expect_rejected(v, m, w, r, msg, len);
		}
		if (msg_authenticated(v->pattern, m))
			assert_int_equal(now, len * 8);
		vx6_noise_hs_wipe(&ini);
		vx6_noise_hs_wipe(&resp);
	}
}

/* Checks every strict prefix of every handshake message of v is rejected. */
static void
check_truncations(const struct vec *v)
{
	/* XX message 0 is "e" + cleartext payload: a prefix that keeps the whole
	 * "e" is a valid shorter message, so only there the reply must fail. */
	for (int m = 0; m < hs_msgs(v->pattern); m++) {
		struct vx6_noise_hs ini, resp, *w, *r;
		size_t len = v->ct[m].len;

		pair_at_msg(v, m, &ini, &resp, &w, &r);
		for (size_t l = 0; l < len; l++) {
			bool now = expect_rejected(v, m, w, r, v->ct[m].b, l);

			if (msg_authenticated(v->pattern, m) || l < VX6_NOISE_DHLEN)
				assert_true(now);
		}
		vx6_noise_hs_wipe(&ini);
		vx6_noise_hs_wipe(&resp);
	}
}

/* --- tests --- */

/* Checks both protocols loaded and IK's init_remote_static is resp_static's public key. */
static void
test_vectors_loaded(void **state)
{
	const struct vec *ik = find_vec(VX6_NOISE_IK), *xx = find_vec(VX6_NOISE_XX);
	uint8_t pub[VX6_NOISE_DHLEN];

	(void)state;
	assert_int_equal(nvecs, 2);
	assert_string_equal(ik->name, "Noise_IK_25519_ChaChaPoly_BLAKE2b");
	assert_string_equal(xx->name, "Noise_XX_25519_ChaChaPoly_BLAKE2b");
	assert_int_equal(crypto_scalarmult_base(pub, ik->resp_static.b), 0);
	assert_memory_equal(pub, ik->init_remote_static.b, VX6_NOISE_DHLEN);
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

/* Checks handshake_hash equals the spec's h recomputed from the vector bytes alone. */
static void
test_hash_chain_from_vector_bytes(void **state)
{
	/* Token field sizes before the payload, per handshake message. */
	static const size_t ik_fields[2][3] = { { 32, 48, 0 }, { 32, 0, 0 } };
	static const size_t xx_fields[3][3] = { { 32, 0, 0 }, { 32, 48, 0 }, { 48, 0, 0 } };

	(void)state;
	for (int p = 0; p < 2; p++) {
		const struct vec *v = find_vec(p == 0 ? VX6_NOISE_IK : VX6_NOISE_XX);
		uint8_t h[VX6_NOISE_HASHLEN] = { 0 };

		assert_true(strlen(v->name) <= sizeof(h));
		memcpy(h, v->name, strlen(v->name));
		ref_mix_hash(h, v->init_prologue.b, v->init_prologue.len);
		if (v->pattern == VX6_NOISE_IK)
			ref_mix_hash(h, v->init_remote_static.b, VX6_NOISE_DHLEN);
		for (int m = 0; m < hs_msgs(v->pattern); m++) {
			const size_t *f = v->pattern == VX6_NOISE_IK ? ik_fields[m] : xx_fields[m];
			size_t off = 0;

			for (int t = 0; t < 3 && f[t] != 0; t++) {
				assert_true(off + f[t] <= v->ct[m].len);
				ref_mix_hash(h, v->ct[m].b + off, f[t]);
				off += f[t];
			}
			ref_mix_hash(h, v->ct[m].b + off, v->ct[m].len - off);
		}
		assert_memory_equal(h, v->handshake_hash.b, VX6_NOISE_HASHLEN);
	}
}

/* Checks Noise_IK_25519_ChaChaPoly_BLAKE2b against its vector (one-call and two-step writes). */
static void
test_ik_vector(void **state)
{
	(void)state;
	run_vector(find_vec(VX6_NOISE_IK), false);
	run_vector(find_vec(VX6_NOISE_IK), true);
}

/* Checks Noise_XX_25519_ChaChaPoly_BLAKE2b against its vector (one-call and two-step writes). */
static void
test_xx_vector(void **state)
{
	(void)state;
	run_vector(find_vec(VX6_NOISE_XX), false);
	run_vector(find_vec(VX6_NOISE_XX), true);
}

/* Checks vx6_noise_hmac against Python hmac + hashlib.blake2b values, incl. long keys. */
static void
test_hmac_blake2b(void **state)
{
	/* key: kind 0 = bytes(range(n)), 1 = ASCII text, 2 = (i*7) & 0xff. */
	static const struct {
		int kkind;
		size_t klen;
		const char *ktext;
		int dkind;   /* 0 = bytes(range(n)), 1 = ASCII text */
		size_t dlen;
		const char *dtext;
		const char *hex;
	} cases[] = {
		{ 0, 0, NULL, 1, 0, "",
		  "198cd2006f66ff83fbbd913f78aca2251caf4f19fe9475aade8cf2091b99a684"
		  "66775177424f58286886cbae8229644cec747237d4b721735485e17372fdf59c" },
		{ 1, 3, "key", 1, 43, "The quick brown fox jumps over the lazy dog",
		  "92294f92c0dfb9b00ec9ae8bd94d7e7d8a036b885a499f149dfe2fd2199394aa"
		  "af6b8894a1730cccb2cd050f9bcf5062a38b51b0dab33207f8ef35ae2c9df51b" },
		{ 0, 64, NULL, 0, 200, NULL,
		  "1946eada75baf91211d29fddc60f4d1114824763b4dd0be397b379b17136839d"
		  "11948cc1f5603b91457899d411287443d95410385c027e04c3c42478c4e2eec7" },
		{ 0, 128, NULL, 1, 15, "block-sized key",
		  "e8f055350fe58fe19360b0179889b1242eae250409cc853d12ebff65bb8c9cf0"
		  "e9fe5c510b791836928de71403dd6461659aa2987889a4fbf685f0dd6706be4c" },
		{ 0, 129, NULL, 1, 25, "key longer than one block",
		  "232939be38696a5fc90d078d312906068372b5d7677e61e5ba87f7d80c86a1e8"
		  "9e1190d6075782fdb732fe3d40ca18a343c3217d0e7bfcd1dc90055d9904d824" },
		{ 2, 200, NULL, 1, 0, "",
		  "49df7197f499572e49a4fc1f853df73643fea115c2204f4aeb63a62a130869e3"
		  "959b8c985a63a04c2831380da86c4e2f95048d87434576ffcdd30102a4c75f7d" },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint8_t key[256], data[256], want[VX6_NOISE_HASHLEN], got[VX6_NOISE_HASHLEN];

		for (size_t i = 0; i < cases[c].klen; i++)
			key[i] = cases[c].kkind == 1 ? (uint8_t)cases[c].ktext[i]
			    : cases[c].kkind == 2 ? (uint8_t)((i * 7) & 0xff) : (uint8_t)i;
		for (size_t i = 0; i < cases[c].dlen; i++)
			data[i] = cases[c].dkind == 1 ? (uint8_t)cases[c].dtext[i] : (uint8_t)i;
		assert_int_equal(tu_hex(cases[c].hex, want, sizeof(want)), VX6_NOISE_HASHLEN);
		vx6_noise_hmac(key, cases[c].klen, data, cases[c].dlen, got);
		assert_memory_equal(got, want, VX6_NOISE_HASHLEN);
	}
}

/* Checks vx6_noise_hkdf (2 and 3 outputs) against Python-computed values. */
static void
test_hkdf_blake2b(void **state)
{
	static const char *want_hex[2][3] = {
		{ "b257cf2863e7aa7f84d41d31e58df6dfb1e0a6cf3172192cc35eba2625a21975"
		  "db4475b2ef89316383acac6b2ac7cf03f7583e0ff20a64fb208fa5b1199f835f",
		  "4f4d712feaff914e80db4d0d400a46056854134b5001018c4f1fe19bb477053c"
		  "5a9b92f8c937b1328c0ae7e51895b8d68068bc84d59436cc3b75de5a2d6d0630",
		  "c3e03a921f0f492329fe003e995b982fdd8c0596cc3575e01c2f24234e05e477"
		  "8d233726d60ffe48a7d9ef235a6ff5fac555bafcfdd1272c4763ded2e01c0c3f" },
		{ "03be0946afb62e33dcc2e8cb76dfad47663d284d81c0bde963f32a283dede221"
		  "be2b9e3a86fa82934234d2a6ed331fb664a3e670252b9454da9ed2567b435e11",
		  "8481b385940ea1ddc1e37243d34e6a00d9e35fe86844b75be2f9d084efcbf4a9"
		  "d18c764645baf5262707efcb490c9ddfcc81c78ff75e1e727428f05b9fee857f",
		  "acdbd8e7a251555a14055d23f4f43995042fdfc8178635fd72bac03932f52c54"
		  "f608730b82d65ece0ebd610ca58943edaa3a9928715cdfcd309c4e5749e03f26" },
	};
	uint8_t ck[VX6_NOISE_HASHLEN], ikm[32];

	/* ck = bytes(range(64)); ikm = bytes(range(32)), then empty (as in Split). */
	(void)state;
	for (size_t i = 0; i < sizeof(ck); i++)
		ck[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(ikm); i++)
		ikm[i] = (uint8_t)i;
	for (int c = 0; c < 2; c++) {
		uint8_t o[3][VX6_NOISE_HASHLEN], o2[2][VX6_NOISE_HASHLEN], want[VX6_NOISE_HASHLEN];
		size_t ilen = c == 0 ? sizeof(ikm) : 0;

		vx6_noise_hkdf(ck, ikm, ilen, o[0], o[1], o[2]);
		vx6_noise_hkdf(ck, ikm, ilen, o2[0], o2[1], NULL);
		for (int j = 0; j < 3; j++) {
			tu_hex(want_hex[c][j], want, sizeof(want));
			assert_memory_equal(o[j], want, VX6_NOISE_HASHLEN);
			if (j < 2)
				assert_memory_equal(o2[j], want, VX6_NOISE_HASHLEN);
		}
	}
}

/* Checks that every single-bit flip of each IK handshake message is rejected. */
static void
test_ik_bitflips(void **state)
{
	(void)state;
	check_bitflips(find_vec(VX6_NOISE_IK));
}

/* Checks every single-bit flip of each XX handshake message is rejected. */
static void
test_xx_bitflips(void **state)
{
	(void)state;
	check_bitflips(find_vec(VX6_NOISE_XX));
}

/* Checks that every truncated prefix of each IK handshake message is rejected. */
static void
test_ik_truncations(void **state)
{
	(void)state;
	check_truncations(find_vec(VX6_NOISE_IK));
}

/* Checks every truncated prefix of each XX handshake message is rejected. */
static void
test_xx_truncations(void **state)
{
	(void)state;
	check_truncations(find_vec(VX6_NOISE_XX));
}

/* Checks read errors are sticky with exact codes (bad MAC, too-short message). */
static void
test_sticky_error(void **state)
{
	const struct vec *v = find_vec(VX6_NOISE_IK);
	struct vx6_noise_hs ini, resp, *w, *r;
	uint8_t msg[MAX_BYTES], pl[MAX_BYTES];
	size_t len = v->ct[0].len;
	struct vx6_noise_hs copy;

	(void)state;
	pair_at_msg(v, 0, &ini, &resp, &w, &r);
	copy = *r;
	memcpy(msg, v->ct[0].b, len);
	msg[len - 1] ^= 0x80;   /* last tag byte */
	assert_int_equal(vx6_noise_hs_read(&copy, msg, len, pl, sizeof(pl)), VX6_ERR_CRYPTO);
	expect_sticky(&copy, v, 0, VX6_ERR_CRYPTO);

	copy = *r;
	assert_int_equal(vx6_noise_hs_read(&copy, v->ct[0].b, VX6_NOISE_DHLEN, pl, sizeof(pl)),
	    VX6_ERR_MALFORMED);
	expect_sticky(&copy, v, 0, VX6_ERR_MALFORMED);

	/* The untouched reader still accepts the genuine message. */
	assert_int_equal(vx6_noise_hs_read(r, v->ct[0].b, len, pl, sizeof(pl)),
	    (int)v->payload[0].len);
	vx6_noise_hs_wipe(&copy);
	vx6_noise_hs_wipe(&ini);
	vx6_noise_hs_wipe(&resp);
}

/* Checks transport decryption rejects tampering without advancing n, and nonce 2^64-1. */
static void
test_transport_tamper_and_nonce(void **state)
{
	const struct vec *v = find_vec(VX6_NOISE_XX);
	int i = hs_msgs(v->pattern);   /* first transport message: responder -> initiator */
	struct vx6_noise_hs ini, resp;
	struct vx6_noise_cipher rx = { .has_key = true }, unused;
	uint8_t msg[MAX_BYTES], pl[MAX_BYTES];
	size_t len = v->ct[i].len;

	(void)state;
	pair_init(v, &ini, &resp);
	for (int m = 0; m < i; m++)
		exchange(v, m, &ini, &resp, false);
	vx6_noise_hs_split(&ini, unused.k, rx.k);
	assert_int_equal(i % 2, 1);
	for (size_t bit = 0; bit < len * 8; bit++) {
		memcpy(msg, v->ct[i].b, len);
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(vx6_noise_decrypt(&rx, NULL, 0, msg, len, pl), VX6_ERR_CRYPTO);
		assert_int_equal(rx.n, 0);
	}
	for (size_t l = 0; l < len; l++)
		assert_int_equal(vx6_noise_decrypt(&rx, NULL, 0, v->ct[i].b, l, pl), VX6_ERR_CRYPTO);
	assert_int_equal(vx6_noise_decrypt(&rx, NULL, 0, v->ct[i].b, len, pl),
	    (int)v->payload[i].len);
	assert_memory_equal(pl, v->payload[i].b, v->payload[i].len);
	assert_int_equal(rx.n, 1);

	rx.n = UINT64_MAX;
	assert_int_equal(vx6_noise_encrypt(&rx, NULL, 0, pl, 4, msg), VX6_ERR_NONCE);
	assert_int_equal(vx6_noise_decrypt(&rx, NULL, 0, v->ct[i].b, len, pl), VX6_ERR_NONCE);
	assert_true(rx.n == UINT64_MAX);
	vx6_noise_hs_wipe(&ini);
	vx6_noise_hs_wipe(&resp);
	sodium_memzero(&rx, sizeof(rx));
	sodium_memzero(&unused, sizeof(unused));
}

/* Runs every check above after loading the vector file once. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_loaded),
		cmocka_unit_test(test_hash_chain_from_vector_bytes),
		cmocka_unit_test(test_ik_vector),
		cmocka_unit_test(test_xx_vector),
		cmocka_unit_test(test_hmac_blake2b),
		cmocka_unit_test(test_hkdf_blake2b),
		cmocka_unit_test(test_ik_bitflips),
		cmocka_unit_test(test_xx_bitflips),
		cmocka_unit_test(test_ik_truncations),
		cmocka_unit_test(test_xx_truncations),
		cmocka_unit_test(test_sticky_error),
		cmocka_unit_test(test_transport_tamper_and_nonce),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
