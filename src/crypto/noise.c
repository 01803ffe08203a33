#include "crypto/noise.h"

#include <sodium.h>
#include <string.h>

#include "lib/err.h"

#define BLOCKLEN 128

static void
chacha_nonce(uint8_t nonce[12], uint64_t n)
{
	/* 32 bits of zeros followed by the little-endian 64-bit counter. */
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

int
vx6_noise_encrypt(struct vx6_noise_cipher *cs, const uint8_t *ad, size_t adlen,
    const uint8_t *pt, size_t ptlen, uint8_t *out)
{
	uint8_t nonce[12];
	unsigned long long clen = 0;

	if (!cs->has_key) {
		if (out != pt && ptlen)
			memmove(out, pt, ptlen);
		return (int)ptlen;
	}
	if (cs->n == UINT64_MAX)
		return VX6_ERR_NONCE;
	chacha_nonce(nonce, cs->n);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, pt, ptlen, ad, adlen, NULL, nonce, cs->k);
	cs->n++;
	return (int)clen;
}

int
vx6_noise_decrypt(struct vx6_noise_cipher *cs, const uint8_t *ad, size_t adlen,
    const uint8_t *ct, size_t ctlen, uint8_t *out)
{
	uint8_t nonce[12];
	unsigned long long plen = 0;

	if (!cs->has_key) {
		if (out != ct && ctlen)
			memmove(out, ct, ctlen);
		return (int)ctlen;
	}
	if (cs->n == UINT64_MAX)
		return VX6_ERR_NONCE;
	if (ctlen < VX6_NOISE_TAGLEN)
		return VX6_ERR_CRYPTO;
	chacha_nonce(nonce, cs->n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, NULL, ct, ctlen, ad, adlen, nonce,
	    cs->k) != 0)
		return VX6_ERR_CRYPTO;
	cs->n++;
	return (int)plen;
}

void
vx6_noise_rekey(uint8_t k[VX6_NOISE_KEYLEN])
{
	uint8_t zeros[32] = { 0 }, out[48], nonce[12];
	unsigned long long clen;

	chacha_nonce(nonce, UINT64_MAX);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, zeros, sizeof(zeros), NULL, 0, NULL,
	    nonce, k);
	memcpy(k, out, VX6_NOISE_KEYLEN);
	sodium_memzero(out, sizeof(out));
}

void
vx6_noise_hmac(const uint8_t *key, size_t keylen, const uint8_t *data, size_t datalen,
    uint8_t out[VX6_NOISE_HASHLEN])
{
	uint8_t k[BLOCKLEN] = { 0 }, pad[BLOCKLEN], inner[VX6_NOISE_HASHLEN];
	crypto_generichash_state st;

	if (keylen > BLOCKLEN)
		crypto_generichash(k, VX6_NOISE_HASHLEN, key, keylen, NULL, 0);
	else if (keylen)
		memcpy(k, key, keylen);

	for (int i = 0; i < BLOCKLEN; i++)
		pad[i] = k[i] ^ 0x36;
	crypto_generichash_init(&st, NULL, 0, VX6_NOISE_HASHLEN);
	crypto_generichash_update(&st, pad, BLOCKLEN);
	crypto_generichash_update(&st, data, datalen);
	crypto_generichash_final(&st, inner, VX6_NOISE_HASHLEN);

	for (int i = 0; i < BLOCKLEN; i++)
		pad[i] = k[i] ^ 0x5c;
	crypto_generichash_init(&st, NULL, 0, VX6_NOISE_HASHLEN);
	crypto_generichash_update(&st, pad, BLOCKLEN);
	crypto_generichash_update(&st, inner, VX6_NOISE_HASHLEN);
	crypto_generichash_final(&st, out, VX6_NOISE_HASHLEN);

	sodium_memzero(k, sizeof(k));
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

void
vx6_noise_hkdf(const uint8_t ck[VX6_NOISE_HASHLEN], const uint8_t *ikm, size_t ikmlen,
    uint8_t out1[VX6_NOISE_HASHLEN], uint8_t out2[VX6_NOISE_HASHLEN], uint8_t *out3)
{
	uint8_t temp[VX6_NOISE_HASHLEN], in[VX6_NOISE_HASHLEN + 1];

	vx6_noise_hmac(ck, VX6_NOISE_HASHLEN, ikm, ikmlen, temp);
	in[0] = 0x01;
	vx6_noise_hmac(temp, VX6_NOISE_HASHLEN, in, 1, out1);
	memcpy(in, out1, VX6_NOISE_HASHLEN);
	in[VX6_NOISE_HASHLEN] = 0x02;
	vx6_noise_hmac(temp, VX6_NOISE_HASHLEN, in, sizeof(in), out2);
	if (out3) {
		memcpy(in, out2, VX6_NOISE_HASHLEN);
		in[VX6_NOISE_HASHLEN] = 0x03;
		vx6_noise_hmac(temp, VX6_NOISE_HASHLEN, in, sizeof(in), out3);
	}
	sodium_memzero(temp, sizeof(temp));
	sodium_memzero(in, sizeof(in));
}

/* --- SymmetricState --- */

static void
mix_hash(struct vx6_noise_hs *hs, const uint8_t *data, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, VX6_NOISE_HASHLEN);
	crypto_generichash_update(&st, hs->h, VX6_NOISE_HASHLEN);
	crypto_generichash_update(&st, data, len);
	crypto_generichash_final(&st, hs->h, VX6_NOISE_HASHLEN);
}

static void
mix_key(struct vx6_noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t tk[VX6_NOISE_HASHLEN];

	vx6_noise_hkdf(hs->ck, ikm, len, hs->ck, tk, NULL);
	memcpy(hs->cs.k, tk, VX6_NOISE_KEYLEN);
	hs->cs.n = 0;
	hs->cs.has_key = true;
	sodium_memzero(tk, sizeof(tk));
}

static int
encrypt_and_hash(struct vx6_noise_hs *hs, const uint8_t *pt, size_t len, uint8_t *out)
{
	int n = vx6_noise_encrypt(&hs->cs, hs->h, VX6_NOISE_HASHLEN, pt, len, out);

	if (n >= 0)
		mix_hash(hs, out, (size_t)n);
	return n;
}

static int
decrypt_and_hash(struct vx6_noise_hs *hs, const uint8_t *ct, size_t len, uint8_t *out)
{
	uint8_t h[VX6_NOISE_HASHLEN];
	int n;

	/* MixHash covers the ciphertext; keep it before out may overwrite ct. */
	memcpy(h, hs->h, sizeof(h));
	{
		crypto_generichash_state st;
		crypto_generichash_init(&st, NULL, 0, VX6_NOISE_HASHLEN);
		crypto_generichash_update(&st, h, VX6_NOISE_HASHLEN);
		crypto_generichash_update(&st, ct, len);
		crypto_generichash_final(&st, hs->h, VX6_NOISE_HASHLEN);
	}
	n = vx6_noise_decrypt(&hs->cs, h, VX6_NOISE_HASHLEN, ct, len, out);
	return n;
}

static int
dh(uint8_t out[VX6_NOISE_DHLEN], const uint8_t priv[VX6_NOISE_DHLEN], const uint8_t pub[VX6_NOISE_DHLEN])
{
	/* libsodium fails on an all-zero result (small-order point). */
	return crypto_scalarmult(out, priv, pub) == 0 ? 0 : VX6_ERR_CRYPTO;
}

static int
mix_dh(struct vx6_noise_hs *hs, const uint8_t *priv, const uint8_t *pub)
{
	uint8_t shared[VX6_NOISE_DHLEN];
	int rc = dh(shared, priv, pub);

	if (rc == 0)
		mix_key(hs, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return rc;
}

/* --- HandshakeState --- */

enum token { T_END = 0, T_E, T_S, T_EE, T_ES, T_SE, T_SS };

static const enum token ik_msgs[2][5] = {
	{ T_E, T_ES, T_S, T_SS, T_END },
	{ T_E, T_EE, T_SE, T_END, T_END },
};
static const enum token nk_msgs[2][5] = {
	{ T_E, T_ES, T_END, T_END, T_END },
	{ T_E, T_EE, T_END, T_END, T_END },
};
static const enum token xx_msgs[3][5] = {
	{ T_E, T_END, T_END, T_END, T_END },
	{ T_E, T_EE, T_S, T_ES, T_END },
	{ T_S, T_SE, T_END, T_END, T_END },
};

static int
pattern_msgs(enum vx6_noise_pattern p)
{
	return p == VX6_NOISE_XX ? 3 : 2;
}

static const enum token *
pattern_tokens(enum vx6_noise_pattern p, int idx)
{
	if (idx < 0 || idx >= pattern_msgs(p))
		return NULL;
	switch (p) {
	case VX6_NOISE_IK: return ik_msgs[idx];
	case VX6_NOISE_NK: return nk_msgs[idx];
	case VX6_NOISE_XX: return xx_msgs[idx];
	default: return NULL;   /* a wiped or never-initialised state */
	}
}

int
vx6_noise_hs_init(struct vx6_noise_hs *hs, enum vx6_noise_pattern pattern, bool initiator,
    const uint8_t *prologue, size_t prologuelen, const uint8_t s_priv[VX6_NOISE_DHLEN],
    const uint8_t s_pub[VX6_NOISE_DHLEN], const uint8_t *rs)
{
	const char *name;
	size_t nlen;

	memset(hs, 0, sizeof(*hs));
	if (pattern != VX6_NOISE_IK && pattern != VX6_NOISE_XX && pattern != VX6_NOISE_NK)
		return VX6_ERR_INVAL;
	if (((pattern == VX6_NOISE_IK || pattern == VX6_NOISE_NK) && initiator) != (rs != NULL))
		return VX6_ERR_INVAL;
	if (s_priv == NULL && !(pattern == VX6_NOISE_NK && initiator))
		return VX6_ERR_INVAL;
	hs->pattern = pattern;
	hs->initiator = initiator;
	name = pattern == VX6_NOISE_IK ? "Noise_IK_25519_ChaChaPoly_BLAKE2b" :
	    pattern == VX6_NOISE_NK ? "Noise_NK_25519_ChaChaPoly_BLAKE2b" :
	    "Noise_XX_25519_ChaChaPoly_BLAKE2b";
	nlen = strlen(name);
	memcpy(hs->h, name, nlen);   /* <= HASHLEN: pad with zeros */
	memcpy(hs->ck, hs->h, VX6_NOISE_HASHLEN);
	mix_hash(hs, prologue, prologuelen);
	if (s_priv) {
		memcpy(hs->s_priv, s_priv, VX6_NOISE_DHLEN);
		memcpy(hs->s_pub, s_pub, VX6_NOISE_DHLEN);
	}
	if (pattern == VX6_NOISE_IK || pattern == VX6_NOISE_NK) {
		/* Pre-message "<- s": both sides hash the responder's static. */
		if (initiator) {
			memcpy(hs->rs, rs, VX6_NOISE_DHLEN);
			hs->has_rs = true;
			mix_hash(hs, hs->rs, VX6_NOISE_DHLEN);
		} else {
			mix_hash(hs, hs->s_pub, VX6_NOISE_DHLEN);
		}
	}
	return 0;
}

void
vx6_noise_hs_set_ephemeral(struct vx6_noise_hs *hs, const uint8_t priv[VX6_NOISE_DHLEN])
{
	memcpy(hs->e_priv, priv, VX6_NOISE_DHLEN);
	crypto_scalarmult_base(hs->e_pub, hs->e_priv);
	hs->has_e = true;
}

size_t
vx6_noise_msg_len(enum vx6_noise_pattern pattern, int idx, size_t plen)
{
	const enum token *t = pattern_tokens(pattern, idx);
	size_t len = 0;
	bool keyed = false;

	if (t == NULL)
		return 0;
	/* Whether a key exists before this message: true after any DH token. */
	for (int m = 0; m < idx; m++)
		for (const enum token *u = pattern_tokens(pattern, m); *u != T_END; u++)
			if (*u >= T_EE)
				keyed = true;
	for (; *t != T_END; t++) {
		switch (*t) {
		case T_E: len += VX6_NOISE_DHLEN; break;
		case T_S: len += VX6_NOISE_DHLEN + (keyed ? VX6_NOISE_TAGLEN : 0); break;
		default: keyed = true; break;
		}
	}
	return len + plen + (keyed ? VX6_NOISE_TAGLEN : 0);
}

static bool
my_turn(const struct vx6_noise_hs *hs)
{
	return (hs->msg_index % 2 == 0) == hs->initiator;
}

static int
token_dh(struct vx6_noise_hs *hs, enum token t)
{
	/* es: initiator e with responder s; se: initiator s with responder e. */
	switch (t) {
	case T_EE: return mix_dh(hs, hs->e_priv, hs->re);
	case T_ES: return hs->initiator ? mix_dh(hs, hs->e_priv, hs->rs) : mix_dh(hs, hs->s_priv, hs->re);
	case T_SE: return hs->initiator ? mix_dh(hs, hs->s_priv, hs->re) : mix_dh(hs, hs->e_priv, hs->rs);
	case T_SS: return mix_dh(hs, hs->s_priv, hs->rs);
	default: return VX6_ERR_INVAL;
	}
}

int
vx6_noise_hs_write_tokens(struct vx6_noise_hs *hs, const struct vx6_env *env, uint8_t *out,
    size_t outcap)
{
	const enum token *t;
	size_t off = 0;
	int n, rc;

	if (hs->err)
		return hs->err;
	t = pattern_tokens(hs->pattern, hs->msg_index);
	if (t == NULL || !my_turn(hs) || hs->writing)
		return VX6_ERR_STATE;
	if (vx6_noise_msg_len(hs->pattern, hs->msg_index, 0) > outcap)
		return VX6_ERR_TOO_LARGE;
	for (; *t != T_END; t++) {
		switch (*t) {
		case T_E:
			if (!hs->has_e) {
				uint8_t priv[VX6_NOISE_DHLEN];
				vx6_env_random(env, priv, sizeof(priv));
				vx6_noise_hs_set_ephemeral(hs, priv);
				sodium_memzero(priv, sizeof(priv));
			}
			memcpy(out + off, hs->e_pub, VX6_NOISE_DHLEN);
			mix_hash(hs, hs->e_pub, VX6_NOISE_DHLEN);
			off += VX6_NOISE_DHLEN;
			break;
		case T_S:
			n = encrypt_and_hash(hs, hs->s_pub, VX6_NOISE_DHLEN, out + off);
			if (n < 0)
				return hs->err = n;
			off += (size_t)n;
			break;
		default:
			if ((rc = token_dh(hs, *t)) != 0)
				return hs->err = rc;
			break;
		}
	}
	memcpy(hs->h_pre_payload, hs->h, VX6_NOISE_HASHLEN);
	hs->writing = true;
	return (int)off;
}

int
vx6_noise_hs_write_payload(struct vx6_noise_hs *hs, const uint8_t *payload, size_t plen,
    uint8_t *out, size_t outcap)
{
	int n;

	if (hs->err)
		return hs->err;
	if (!hs->writing)
		return VX6_ERR_STATE;
	if (plen + (hs->cs.has_key ? VX6_NOISE_TAGLEN : 0) > outcap)
		return VX6_ERR_TOO_LARGE;
	n = encrypt_and_hash(hs, payload, plen, out);
	if (n < 0)
		return hs->err = n;
	hs->writing = false;
	hs->msg_index++;
	return n;
}

int
vx6_noise_hs_write(struct vx6_noise_hs *hs, const struct vx6_env *env, const uint8_t *payload,
    size_t plen, uint8_t *out, size_t outcap)
{
	int a, b;

	if (vx6_noise_msg_len(hs->pattern, hs->msg_index, plen) > outcap)
		return VX6_ERR_TOO_LARGE;
	a = vx6_noise_hs_write_tokens(hs, env, out, outcap);
	if (a < 0)
		return a;
	b = vx6_noise_hs_write_payload(hs, payload, plen, out + a, outcap - (size_t)a);
	if (b < 0)
		return b;
	return a + b;
}

int
vx6_noise_hs_read(struct vx6_noise_hs *hs, const uint8_t *msg, size_t mlen, uint8_t *payload,
    size_t paycap)
{
	const enum token *t;
	size_t off = 0, expect_min;
	int n, rc;

	if (hs->err)
		return hs->err;
	t = pattern_tokens(hs->pattern, hs->msg_index);
	if (t == NULL || my_turn(hs) || hs->writing)
		return VX6_ERR_STATE;
	expect_min = vx6_noise_msg_len(hs->pattern, hs->msg_index, 0);
	if (mlen < expect_min)
		return hs->err = VX6_ERR_MALFORMED;
	if (mlen - expect_min > paycap)
		return hs->err = VX6_ERR_TOO_LARGE;
	for (; *t != T_END; t++) {
		switch (*t) {
		case T_E:
			memcpy(hs->re, msg + off, VX6_NOISE_DHLEN);
			hs->has_re = true;
			mix_hash(hs, hs->re, VX6_NOISE_DHLEN);
			off += VX6_NOISE_DHLEN;
			break;
		case T_S: {
			size_t slen = VX6_NOISE_DHLEN + (hs->cs.has_key ? VX6_NOISE_TAGLEN : 0);
			uint8_t tmp[VX6_NOISE_DHLEN + VX6_NOISE_TAGLEN];
			n = decrypt_and_hash(hs, msg + off, slen, tmp);
			if (n < 0)
				return hs->err = n;
			memcpy(hs->rs, tmp, VX6_NOISE_DHLEN);
			hs->has_rs = true;
			off += slen;
			break;
		}
		default:
			if ((rc = token_dh(hs, *t)) != 0)
				return hs->err = rc;
			break;
		}
	}
	memcpy(hs->h_pre_payload, hs->h, VX6_NOISE_HASHLEN);
	n = decrypt_and_hash(hs, msg + off, mlen - off, payload);
	if (n < 0)
		return hs->err = n;
	hs->msg_index++;
	return n;
}

bool
vx6_noise_hs_done(const struct vx6_noise_hs *hs)
{
	return hs->err == 0 && hs->msg_index == pattern_msgs(hs->pattern);
}

void
vx6_noise_hs_split(struct vx6_noise_hs *hs, uint8_t k1[VX6_NOISE_KEYLEN], uint8_t k2[VX6_NOISE_KEYLEN])
{
	uint8_t t1[VX6_NOISE_HASHLEN], t2[VX6_NOISE_HASHLEN];

	vx6_noise_hkdf(hs->ck, NULL, 0, t1, t2, NULL);
	memcpy(k1, t1, VX6_NOISE_KEYLEN);
	memcpy(k2, t2, VX6_NOISE_KEYLEN);
	sodium_memzero(t1, sizeof(t1));
	sodium_memzero(t2, sizeof(t2));
}

void
vx6_noise_hs_wipe(struct vx6_noise_hs *hs)
{
	sodium_memzero(hs, sizeof(*hs));
}
