/*
 * handshake — the VX6 session handshake (docs/PROTOCOL.md §3).
 *
 * Noise IK when the dialer knows the peer's key, XX otherwise, with
 * X25519 statics that are the Montgomery form of each node's Ed25519 key.
 * Each side's encrypted payload carries its Ed25519 key, a signature over the
 * handshake hash (binding the identity to this handshake), and its flow-
 * control settings. The dialer's cleartext header (bound as the Noise
 * prologue) offers a version range and AEADs; the responder chooses.
 * Messages have exact lengths per pattern; anything else is malformed.
 *
 * A pure state machine: it takes whole message bodies (the session layer
 * strips the 2-byte length) and writes reply bodies into caller buffers.
 * The struct is opaque; vx6_hs_free() wipes and frees it.
 */
#ifndef VX6_CORE_HANDSHAKE_H
#define VX6_CORE_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/aead.h"
#include "crypto/identity.h"
#include "crypto/noise.h"
#include "lib/env.h"

#define VX6_HS_VERSION_MIN 1
#define VX6_HS_VERSION_MAX 1
#define VX6_HS_MAGIC "VX6S"
#define VX6_HS_HEADER_LEN 10
#define VX6_HS_PAYLOAD_LEN 112
#define VX6_HS_MAX_MSG 512          /* no valid body is longer */
#define VX6_HS_ERROR_REASON_MAX 200

enum vx6_hs_msg_type {
	VX6_HS_MSG1 = 1,
	VX6_HS_MSG2 = 2,
	VX6_HS_MSG3 = 3,
	VX6_HS_ERROR = 0xEE,
};

/* Codes in an error message (cleartext, unauthenticated: informational). */
enum vx6_hs_error_code {
	VX6_HS_E_MALFORMED = 1,
	VX6_HS_E_VERSION = 2,
	VX6_HS_E_DECRYPT = 3,       /* usually: the dialer expects another key */
	VX6_HS_E_BUSY = 4,
	VX6_HS_E_IDENTITY = 5,
};

/* Limits a peer must respect when sending to us. */
struct vx6_hs_settings {
	uint32_t stream_window;      /* initial credit per stream, bytes */
	uint32_t session_window;     /* initial credit for the whole session */
	uint32_t max_streams;        /* streams the peer may have open at once */
};

#define VX6_HS_MIN_STREAM_WINDOW 16384u
#define VX6_HS_MAX_STREAM_WINDOW (1u << 30)
#define VX6_HS_MAX_STREAMS (1u << 20)

struct vx6_hs_result {
	enum vx6_noise_pattern pattern;
	uint8_t version;
	enum vx6_aead_alg aead;
	uint8_t peer_key[VX6_KEY_LEN];
	uint8_t peer_node_id[VX6_NODE_ID_LEN];
	uint8_t send_key[VX6_AEAD_KEYLEN];
	uint8_t recv_key[VX6_AEAD_KEYLEN];
	uint8_t hash[VX6_NOISE_HASHLEN];      /* final handshake hash: channel binding */
	struct vx6_hs_settings peer_settings;
};

struct vx6_hs;

/* Creates a dialer. expected_key (borrowed, copied) selects IK and is
 * enforced; with NULL the pattern is XX and any key is accepted (the caller
 * pins it). force_xx runs XX even with an expected key (to learn what key a
 * peer really has); the key is still enforced. local and env are borrowed
 * and must outlive the handshake. Returns NULL on bad arguments or OOM. */
struct vx6_hs *vx6_hs_new_initiator(const struct vx6_identity *local, const uint8_t *expected_key,
    bool force_xx, const struct vx6_hs_settings *mine, unsigned aead_mask, const struct vx6_env *env);
/* Creates an acceptor; it accepts any authenticated identity (policy is the caller's). */
struct vx6_hs *vx6_hs_new_responder(const struct vx6_identity *local,
    const struct vx6_hs_settings *mine, unsigned aead_mask, const struct vx6_env *env);
void vx6_hs_free(struct vx6_hs *hs);   /* wipes; NULL is a no-op */

/* Dialer only: writes message 1 into out. Returns its length or a vx6_err. */
int vx6_hs_start(struct vx6_hs *hs, uint8_t *out, size_t cap);
/* Consumes one message body. Writes the reply (possibly an error message to
 * send before closing) to out and its length to *outlen (0 when none).
 * Returns 0 when the handshake may continue or is done, else a negative
 * vx6_err; the failure is sticky. */
int vx6_hs_recv(struct vx6_hs *hs, const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
    size_t *outlen);
bool vx6_hs_done(const struct vx6_hs *hs);
bool vx6_hs_is_initiator(const struct vx6_hs *hs);
/* Valid once done: copies the result (contains keys: wipe after use). */
int vx6_hs_result(const struct vx6_hs *hs, struct vx6_hs_result *out);
/* A human explanation of the failure (never NULL; "" when none). When the
 * peer sent an error message, its text is included, marked unauthenticated. */
const char *vx6_hs_error_text(const struct vx6_hs *hs);
/* After a VX6_ERR_KEY_MISMATCH: the key the peer actually proved (XX only),
 * or NULL. */
const uint8_t *vx6_hs_presented_key(const struct vx6_hs *hs);

/* Builds an error message body (for refusing before any state exists, e.g.
 * when busy). Returns its length. */
size_t vx6_hs_error_message(enum vx6_hs_error_code code, const char *reason, uint8_t *out,
    size_t cap);

#endif
