/*
 * aead_shim.c — an EXPERIMENT, not a fix: an LD_PRELOAD library that serves
 * libsodium's AES-256-GCM "afternm" calls with GnuTLS (nettle) instead, so
 * the effect of a faster AES-GCM on the vx6 nodes can be measured without
 * touching src/. The wire format is unchanged (same AEAD, key, nonce, AD,
 * tag), so a shimmed node interoperates with a normal one.
 *
 *   cc -O2 -shared -fPIC -o build/bench/aead_shim.so bench/aead_shim.c -lgnutls
 *   PROFILE_NODE_ENV="LD_PRELOAD=$PWD/build/bench/aead_shim.so" bench/profile.sh
 *
 * Limits (fine for a benchmark, not for production): the GnuTLS handle is
 * kept inside libsodium's opaque 512-byte state and is never freed (one
 * small leak per key and rekey); decryption copies the ciphertext to the
 * output buffer and decrypts it there.
 */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#define SHIM_MAGIC 0x56583653u   /* "VX6S" */

struct shim_state {
	uint32_t magic;
	gnutls_aead_cipher_hd_t h;
};

int
crypto_aead_aes256gcm_beforenm(crypto_aead_aes256gcm_state *st, const unsigned char *k)
{
	struct shim_state *s = (struct shim_state *)(void *)st;
	gnutls_datum_t key = { (unsigned char *)k, 32 };

	memset(st, 0, sizeof(*st));
	if (gnutls_aead_cipher_init(&s->h, GNUTLS_CIPHER_AES_256_GCM, &key) < 0)
		return -1;
	s->magic = SHIM_MAGIC;
	return 0;
}

int
crypto_aead_aes256gcm_encrypt_detached_afternm(unsigned char *c, unsigned char *mac,
    unsigned long long *maclen_p, const unsigned char *m, unsigned long long mlen,
    const unsigned char *ad, unsigned long long adlen, const unsigned char *nsec,
    const unsigned char *npub, const crypto_aead_aes256gcm_state *st)
{
	const struct shim_state *s = (const struct shim_state *)(const void *)st;
	struct iovec data = { c, (size_t)mlen }, aad = { (void *)ad, (size_t)adlen };
	size_t taglen = 16;

	(void)nsec;
	if (s->magic != SHIM_MAGIC)
		return -1;
	if (c != m && mlen)
		memmove(c, m, (size_t)mlen);
	if (gnutls_aead_cipher_encryptv2(s->h, npub, 12, &aad, adlen ? 1 : 0, &data, mlen ? 1 : 0,
	    mac, &taglen) < 0)
		return -1;
	if (maclen_p)
		*maclen_p = taglen;
	return 0;
}

int
crypto_aead_aes256gcm_decrypt_detached_afternm(unsigned char *m, unsigned char *nsec,
    const unsigned char *c, unsigned long long clen, const unsigned char *mac,
    const unsigned char *ad, unsigned long long adlen, const unsigned char *npub,
    const crypto_aead_aes256gcm_state *st)
{
	const struct shim_state *s = (const struct shim_state *)(const void *)st;
	struct iovec data = { m, (size_t)clen }, aad = { (void *)ad, (size_t)adlen };

	(void)nsec;
	if (s->magic != SHIM_MAGIC)
		return -1;
	if (m != c && clen)
		memcpy(m, c, (size_t)clen);
	if (gnutls_aead_cipher_decryptv2(s->h, npub, 12, &aad, adlen ? 1 : 0, &data, clen ? 1 : 0,
	    (void *)mac, 16) < 0) {
		if (clen)
			memset(m, 0, (size_t)clen);
		return -1;
	}
	return 0;
}
