#include "crypto/aead.h"

#include <string.h>

#include "lib/err.h"

unsigned
vx6_aead_available_mask(void)
{
	unsigned m = 1u << (VX6_AEAD_CHACHA20_POLY1305 - 1);

	if (crypto_aead_aes256gcm_is_available())
		m |= 1u << (VX6_AEAD_AES256_GCM - 1);
	return m;
}

const char *
vx6_aead_name(enum vx6_aead_alg alg)
{
	switch (alg) {
	case VX6_AEAD_CHACHA20_POLY1305: return "chacha20-poly1305";
	case VX6_AEAD_AES256_GCM: return "aes256-gcm";
	}
	return "?";
}

static void
make_nonce(const struct vx6_aead *a, uint8_t nonce[12])
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++) {
		if (a->alg == VX6_AEAD_AES256_GCM)
			nonce[4 + i] = (uint8_t)(a->n >> (56 - 8 * i));
		else
			nonce[4 + i] = (uint8_t)(a->n >> (8 * i));
	}
}

int
vx6_aead_init(struct vx6_aead *a, enum vx6_aead_alg alg, const uint8_t key[VX6_AEAD_KEYLEN])
{
	memset(a, 0, sizeof(*a));
	if (alg != VX6_AEAD_CHACHA20_POLY1305 && alg != VX6_AEAD_AES256_GCM)
		return VX6_ERR_INVAL;
	if (!(vx6_aead_available_mask() & (1u << (alg - 1))))
		return VX6_ERR_INVAL;
	a->alg = alg;
	memcpy(a->key, key, VX6_AEAD_KEYLEN);
	if (alg == VX6_AEAD_AES256_GCM)
		crypto_aead_aes256gcm_beforenm(&a->aes, a->key);
	return 0;
}

int
vx6_aead_seal(struct vx6_aead *a, const uint8_t *ad, size_t adlen, uint8_t *buf, size_t len,
    uint8_t tag[VX6_AEAD_TAGLEN])
{
	uint8_t nonce[12];

	if (a->n == UINT64_MAX)
		return VX6_ERR_NONCE;
	make_nonce(a, nonce);
	if (a->alg == VX6_AEAD_AES256_GCM)
		crypto_aead_aes256gcm_encrypt_detached_afternm(buf, tag, NULL, buf, len, ad, adlen,
		    NULL, nonce, &a->aes);
	else
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf, tag, NULL, buf, len, ad, adlen,
		    NULL, nonce, a->key);
	a->n++;
	return 0;
}

int
vx6_aead_open(struct vx6_aead *a, const uint8_t *ad, size_t adlen, const uint8_t *ct, size_t len,
    const uint8_t tag[VX6_AEAD_TAGLEN], uint8_t *out)
{
	uint8_t nonce[12];
	int rc;

	if (a->n == UINT64_MAX)
		return VX6_ERR_NONCE;
	make_nonce(a, nonce);
	if (a->alg == VX6_AEAD_AES256_GCM)
		rc = crypto_aead_aes256gcm_decrypt_detached_afternm(out, NULL, ct, len, tag, ad, adlen,
		    nonce, &a->aes);
	else
		rc = crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL, ct, len, tag, ad,
		    adlen, nonce, a->key);
	if (rc != 0)
		return VX6_ERR_CRYPTO;
	a->n++;
	return 0;
}

int
vx6_aead_rekey(struct vx6_aead *a)
{
	uint8_t block[32] = { 0 }, tag[VX6_AEAD_TAGLEN], nonce[12], newkey[VX6_AEAD_KEYLEN];
	enum vx6_aead_alg alg = a->alg;
	int rc;

	/* Noise Rekey(): encrypt 32 zero bytes under the reserved nonce 2^64-1. */
	a->n = UINT64_MAX;
	make_nonce(a, nonce);
	if (alg == VX6_AEAD_AES256_GCM)
		crypto_aead_aes256gcm_encrypt_detached_afternm(block, tag, NULL, block, sizeof(block),
		    NULL, 0, NULL, nonce, &a->aes);
	else
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(block, tag, NULL, block,
		    sizeof(block), NULL, 0, NULL, nonce, a->key);
	memcpy(newkey, block, sizeof(newkey));
	rc = vx6_aead_init(a, alg, newkey);   /* restarts the counter at 0 */
	sodium_memzero(newkey, sizeof(newkey));
	sodium_memzero(block, sizeof(block));
	return rc;
}

void
vx6_aead_wipe(struct vx6_aead *a)
{
	sodium_memzero(a, sizeof(*a));
}
