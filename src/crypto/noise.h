/*
 * noise — the Noise Protocol Framework (revision 34) for the patterns VX6
 * uses: Noise_IK, Noise_XX (sessions) and Noise_NK (circuit hops), all
 * _25519_ChaChaPoly_BLAKE2b.
 *
 * A generic, VX6-agnostic implementation: CipherState, SymmetricState and
 * HandshakeState exactly as the specification names them, so it can be
 * checked against published test vectors. HMAC is HMAC-BLAKE2b-512 built on
 * libsodium's BLAKE2b. No I/O; ephemeral keys come from the caller's RNG.
 * All state is caller-allocated; call vx6_noise_hs_wipe() when done.
 */
#ifndef VX6_CRYPTO_NOISE_H
#define VX6_CRYPTO_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/env.h"

#define VX6_NOISE_HASHLEN 64
#define VX6_NOISE_DHLEN 32
#define VX6_NOISE_KEYLEN 32
#define VX6_NOISE_TAGLEN 16
#define VX6_NOISE_MAX_MSG 65535

struct vx6_noise_cipher {
	uint8_t k[VX6_NOISE_KEYLEN];
	uint64_t n;
	bool has_key;
};

/* EncryptWithAd: writes ptlen(+16 with a key) bytes to out (may alias pt).
 * Returns the output length, or VX6_ERR_NONCE when n reached 2^64-1. */
int vx6_noise_encrypt(struct vx6_noise_cipher *cs, const uint8_t *ad, size_t adlen,
    const uint8_t *pt, size_t ptlen, uint8_t *out);
/* DecryptWithAd: returns the plaintext length, VX6_ERR_CRYPTO or VX6_ERR_NONCE.
 * The nonce advances only on success. */
int vx6_noise_decrypt(struct vx6_noise_cipher *cs, const uint8_t *ad, size_t adlen,
    const uint8_t *ct, size_t ctlen, uint8_t *out);
/* Rekey(): k = first 32 bytes of ENCRYPT(k, 2^64-1, "", zeros(32)). */
void vx6_noise_rekey(uint8_t k[VX6_NOISE_KEYLEN]);

/* HMAC-BLAKE2b-512 and the Noise HKDF (num_outputs 2 or 3). */
void vx6_noise_hmac(const uint8_t *key, size_t keylen, const uint8_t *data, size_t datalen,
    uint8_t out[VX6_NOISE_HASHLEN]);
void vx6_noise_hkdf(const uint8_t ck[VX6_NOISE_HASHLEN], const uint8_t *ikm, size_t ikmlen,
    uint8_t out1[VX6_NOISE_HASHLEN], uint8_t out2[VX6_NOISE_HASHLEN], uint8_t *out3);

enum vx6_noise_pattern {
	VX6_NOISE_IK = 1,
	VX6_NOISE_XX = 2,
	VX6_NOISE_NK = 3,    /* initiator knows the responder's static; initiator anonymous */
};

struct vx6_noise_hs {
	enum vx6_noise_pattern pattern;
	bool initiator;
	int msg_index;            /* next message number, 0-based */
	int err;                  /* sticky */
	uint8_t ck[VX6_NOISE_HASHLEN];
	uint8_t h[VX6_NOISE_HASHLEN];
	struct vx6_noise_cipher cs;
	uint8_t s_priv[VX6_NOISE_DHLEN], s_pub[VX6_NOISE_DHLEN];
	uint8_t e_priv[VX6_NOISE_DHLEN], e_pub[VX6_NOISE_DHLEN];
	uint8_t rs[VX6_NOISE_DHLEN], re[VX6_NOISE_DHLEN];
	bool has_e, has_rs, has_re;
	bool writing;             /* between write_tokens and write_payload */
	/* h just before the last message's payload was encrypted or decrypted:
	 * what VX6 signs to bind an identity key to this handshake. */
	uint8_t h_pre_payload[VX6_NOISE_HASHLEN];
};

/* Initialize(): s is required except for the NK initiator (NULL); rs is
 * required for the IK and NK initiators and must be NULL otherwise. The
 * prologue is mixed into h. */
int vx6_noise_hs_init(struct vx6_noise_hs *hs, enum vx6_noise_pattern pattern, bool initiator,
    const uint8_t *prologue, size_t prologuelen, const uint8_t s_priv[VX6_NOISE_DHLEN],
    const uint8_t s_pub[VX6_NOISE_DHLEN], const uint8_t *rs);
/* Fixes the ephemeral key pair instead of generating one (test vectors). */
void vx6_noise_hs_set_ephemeral(struct vx6_noise_hs *hs, const uint8_t priv[VX6_NOISE_DHLEN]);

/* Total message length for message number idx with a payload of plen bytes. */
size_t vx6_noise_msg_len(enum vx6_noise_pattern pattern, int idx, size_t plen);

/* WriteMessage: appends the next message to out (cap outcap). env supplies
 * the ephemeral key unless one was fixed. Returns the length written or a
 * negative vx6_err (VX6_ERR_STATE when it is not our turn). */
int vx6_noise_hs_write(struct vx6_noise_hs *hs, const struct vx6_env *env, const uint8_t *payload,
    size_t plen, uint8_t *out, size_t outcap);
/* WriteMessage in two steps, so the caller can read h_pre_payload (for a
 * signature inside the payload) between them: write_tokens writes the token
 * part and returns its length; write_payload encrypts the payload after it
 * and returns its length. */
int vx6_noise_hs_write_tokens(struct vx6_noise_hs *hs, const struct vx6_env *env, uint8_t *out,
    size_t outcap);
int vx6_noise_hs_write_payload(struct vx6_noise_hs *hs, const uint8_t *payload, size_t plen,
    uint8_t *out, size_t outcap);
/* ReadMessage: returns the payload length written to payload (cap paycap),
 * or a negative vx6_err; any failure is sticky. */
int vx6_noise_hs_read(struct vx6_noise_hs *hs, const uint8_t *msg, size_t mlen, uint8_t *payload,
    size_t paycap);
bool vx6_noise_hs_done(const struct vx6_noise_hs *hs);
/* Split(): c1 encrypts initiator->responder, c2 the other way. Only after done. */
void vx6_noise_hs_split(struct vx6_noise_hs *hs, uint8_t k1[VX6_NOISE_KEYLEN], uint8_t k2[VX6_NOISE_KEYLEN]);
void vx6_noise_hs_wipe(struct vx6_noise_hs *hs);

#endif
