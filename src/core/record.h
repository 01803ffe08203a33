/*
 * record — signed node and service records (docs/PROTOCOL.md §11): the one
 * canonical binary encoding, signing, and verification.
 *
 * A record is "VX6R" || version (1) || type || body || Ed25519 signature over
 * everything before it (domain "node-record/v1" or "service-record/v1").
 * Decoding is strict: exact lengths, valid names, the node ID derived from
 * the key, a good signature, a sane validity window. A decoded record always
 * re-encodes to the same bytes. Plain values; no ownership.
 */
#ifndef VX6_CORE_RECORD_H
#define VX6_CORE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "lib/addr.h"
#include "lib/name.h"

#define VX6_RECORD_MAGIC "VX6R"
#define VX6_RECORD_VERSION 1
#define VX6_RECORD_MAX_ADDRS 8
#define VX6_RECORD_MAX_LEN 1024
/* Records may not claim to be issued more than this far in the future. */
#define VX6_RECORD_MAX_SKEW_S 300
/* Nor live longer than this. */
#define VX6_RECORD_MAX_LIFETIME_S (7 * 24 * 3600)

enum vx6_record_type {
	VX6_RECORD_NODE = 1,
	VX6_RECORD_SERVICE = 2,
	VX6_RECORD_CATALOG = 3,
};

#define VX6_NODE_FLAG_RELAY 0x01

struct vx6_node_record {
	uint8_t key[VX6_KEY_LEN];
	uint8_t node_id[VX6_NODE_ID_LEN];
	char name[VX6_NAME_BUF];
	uint8_t flags;
	uint8_t n_addrs;
	struct vx6_addr addrs[VX6_RECORD_MAX_ADDRS];
	uint64_t seq;
	uint64_t issued_at;          /* unix seconds */
	uint64_t expires_at;
	uint8_t sig[VX6_SIG_LEN];
};

enum vx6_visibility {
	VX6_VISIBILITY_PUBLIC = 0,
	VX6_VISIBILITY_PRIVATE = 1,
};

struct vx6_service_record {
	uint8_t owner_key[VX6_KEY_LEN];
	char node_name[VX6_NAME_BUF];
	char service[VX6_NAME_BUF];
	uint8_t visibility;
	uint64_t seq;
	uint64_t issued_at;
	uint64_t expires_at;
	uint8_t sig[VX6_SIG_LEN];
};

/* A private catalog entry: the names of the owner's private services one
 * reader may use, sealed to that reader's X25519 key (crypto_box_seal), at a
 * DHT slot only the owner and the reader can compute (core/dhtval.h). */
#define VX6_CATALOG_MAX_CT 512
struct vx6_catalog_record {
	uint8_t owner_key[VX6_KEY_LEN];
	uint8_t slot[32];            /* the DHT key it lives under */
	uint64_t seq;
	uint64_t issued_at;
	uint64_t expires_at;
	uint16_t ct_len;
	uint8_t ct[VX6_CATALOG_MAX_CT];
	uint8_t sig[VX6_SIG_LEN];
};

/* Encode and sign (fills r->sig). Returns the length written to out, or a
 * negative vx6_err (VX6_ERR_INVAL for an invalid field). */
int vx6_node_record_sign(struct vx6_node_record *r, const struct vx6_identity *id, uint8_t *out,
    size_t cap);
int vx6_service_record_sign(struct vx6_service_record *r, const struct vx6_identity *id,
    uint8_t *out, size_t cap);
int vx6_catalog_record_sign(struct vx6_catalog_record *r, const struct vx6_identity *id,
    uint8_t *out, size_t cap);
/* Encode an already-signed record (re-encoding check, storage). */
int vx6_node_record_encode(const struct vx6_node_record *r, uint8_t *out, size_t cap);
int vx6_service_record_encode(const struct vx6_service_record *r, uint8_t *out, size_t cap);

/* The type of an encoded record, or a negative vx6_err (cheap: header only). */
int vx6_record_peek_type(const uint8_t *p, size_t len);
/* Decode and verify against the wall-clock time `now` (unix seconds).
 * Returns 0, VX6_ERR_MALFORMED, VX6_ERR_TOO_LARGE, VX6_ERR_BAD_SIGNATURE, or
 * VX6_ERR_TIMEOUT (expired, or issued too far in the future). */
int vx6_node_record_decode(struct vx6_node_record *r, const uint8_t *p, size_t len, uint64_t now);
int vx6_service_record_decode(struct vx6_service_record *r, const uint8_t *p, size_t len,
    uint64_t now);
int vx6_catalog_record_decode(struct vx6_catalog_record *r, const uint8_t *p, size_t len, uint64_t now);

/* The catalog plaintext: a count (1) and that many labels (len (1), name).
 * seal writes ct for reader_key (an Ed25519 public key); open decrypts with
 * the reader's identity. Names are returned NUL-terminated into names[][16];
 * returns the count or a negative vx6_err. */
#define VX6_CATALOG_MAX_NAMES 16
int vx6_catalog_seal(const char names[][VX6_NAME_BUF], unsigned n, const uint8_t reader_key[VX6_KEY_LEN],
    uint8_t *ct, size_t cap, uint16_t *ct_len);
int vx6_catalog_open(const struct vx6_catalog_record *r, const struct vx6_identity *reader,
    char names[][VX6_NAME_BUF], unsigned max);

#endif
