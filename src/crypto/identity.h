/*
 * identity — a node's Ed25519 identity, its node ID, and domain-separated
 * signatures.
 *
 * Node ID = BLAKE2b-256("vx6/node-id/v1" || ed25519_public_key). The name is a
 * label; the key is the identity. The Noise static key is the X25519 form of
 * the same key pair, so a peer that knows the Ed25519 key can run Noise IK.
 * Signatures cover "vx6/" || domain || 0x00 || message so a signature made
 * for one purpose never verifies for another. struct vx6_identity holds
 * secrets: wipe it with vx6_identity_wipe().
 */
#ifndef VX6_CRYPTO_IDENTITY_H
#define VX6_CRYPTO_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/env.h"

#define VX6_KEY_LEN 32
#define VX6_SEED_LEN 32
#define VX6_NODE_ID_LEN 32
#define VX6_SIG_LEN 64
#define VX6_KEY_TEXT_LEN 44      /* base64url, no padding, plus NUL */
#define VX6_NODE_ID_HEX_LEN 65   /* 64 hex digits plus NUL */
#define VX6_SIGN_MAX_MSG 65536

struct vx6_identity {
	uint8_t pk[VX6_KEY_LEN];        /* Ed25519 public key */
	uint8_t sk[64];                 /* Ed25519 secret key (seed || pk) */
	uint8_t x_pk[VX6_KEY_LEN];      /* X25519 public key (Noise static) */
	uint8_t x_sk[VX6_KEY_LEN];      /* X25519 secret key */
	uint8_t node_id[VX6_NODE_ID_LEN];
};

/* Derives the whole identity from a 32-byte seed. Returns 0 or VX6_ERR_CRYPTO. */
int vx6_identity_from_seed(struct vx6_identity *id, const uint8_t seed[VX6_SEED_LEN]);
/* Copies the seed out (for saving). */
void vx6_identity_seed(const struct vx6_identity *id, uint8_t seed[VX6_SEED_LEN]);
void vx6_identity_wipe(struct vx6_identity *id);

void vx6_node_id_from_key(uint8_t out[VX6_NODE_ID_LEN], const uint8_t pk[VX6_KEY_LEN]);
/* X25519 form of an Ed25519 public key; VX6_ERR_MALFORMED for a key that is
 * not a valid, canonical, prime-order point. */
int vx6_key_to_x25519(uint8_t out[VX6_KEY_LEN], const uint8_t pk[VX6_KEY_LEN]);

/* Signs "vx6/" domain 0x00 msg. msglen <= VX6_SIGN_MAX_MSG. */
int vx6_sign(const struct vx6_identity *id, const char *domain, const void *msg, size_t msglen,
    uint8_t sig[VX6_SIG_LEN]);
/* Returns 0 or VX6_ERR_BAD_SIGNATURE. */
int vx6_verify(const uint8_t pk[VX6_KEY_LEN], const char *domain, const void *msg, size_t msglen,
    const uint8_t sig[VX6_SIG_LEN]);

/* Key text form: base64url without padding (43 characters). */
void vx6_key_to_text(const uint8_t pk[VX6_KEY_LEN], char out[VX6_KEY_TEXT_LEN]);
/* Returns 0, or VX6_ERR_MALFORMED when text is not exactly a key. */
int vx6_key_from_text(uint8_t pk[VX6_KEY_LEN], const char *text);
/* True for the 64 characters of base64url. */
bool vx6_base64url_char(char c);
void vx6_node_id_to_hex(const uint8_t id[VX6_NODE_ID_LEN], char out[VX6_NODE_ID_HEX_LEN]);

#endif
