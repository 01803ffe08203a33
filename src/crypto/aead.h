/*
 * aead — the transport-phase AEAD of a session: one key and one 64-bit nonce
 * counter per direction.
 *
 * Two algorithms: ChaCha20-Poly1305 (portable default) and AES-256-GCM (used
 * when both ends have hardware AES). Nonces follow Noise: 32 zero bits, then
 * the counter (little-endian for ChaCha, big-endian for AES-GCM). The counter
 * is the only nonce source, advances on every seal/open, and is never reused:
 * at 2^64-1 every call fails with VX6_ERR_NONCE. Rekey replaces the key with
 * ENCRYPT(k, 2^64-1, "", zeros)[0..32) and restarts the counter. The struct
 * holds a key: wipe it with vx6_aead_wipe().
 */
#ifndef VX6_CRYPTO_AEAD_H
#define VX6_CRYPTO_AEAD_H

#include <sodium.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VX6_AEAD_KEYLEN 32
#define VX6_AEAD_TAGLEN 16

enum vx6_aead_alg {
	VX6_AEAD_CHACHA20_POLY1305 = 1,
	VX6_AEAD_AES256_GCM = 2,
};

/* Bit mask of algorithms this machine can run (bit = 1 << (alg - 1)). */
unsigned vx6_aead_available_mask(void);
const char *vx6_aead_name(enum vx6_aead_alg alg);

struct vx6_aead {
	alignas(16) crypto_aead_aes256gcm_state aes;   /* expanded key for AES-GCM */
	uint8_t key[VX6_AEAD_KEYLEN];
	uint64_t n;
	enum vx6_aead_alg alg;
};

/* Returns 0, or VX6_ERR_INVAL when alg is unknown or unavailable here. */
int vx6_aead_init(struct vx6_aead *a, enum vx6_aead_alg alg, const uint8_t key[VX6_AEAD_KEYLEN]);
/* Encrypts buf[0..len) in place and writes the 16-byte tag to tag.
 * Returns 0 or VX6_ERR_NONCE. */
int vx6_aead_seal(struct vx6_aead *a, const uint8_t *ad, size_t adlen, uint8_t *buf, size_t len,
    uint8_t tag[VX6_AEAD_TAGLEN]);
/* Decrypts ct[0..len) into out (may alias ct) checking tag.
 * Returns 0, VX6_ERR_CRYPTO (the counter does not advance) or VX6_ERR_NONCE. */
int vx6_aead_open(struct vx6_aead *a, const uint8_t *ad, size_t adlen, const uint8_t *ct, size_t len,
    const uint8_t tag[VX6_AEAD_TAGLEN], uint8_t *out);
int vx6_aead_rekey(struct vx6_aead *a);
void vx6_aead_wipe(struct vx6_aead *a);

#endif
