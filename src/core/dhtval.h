/*
 * dhtval — what VX6 stores in the DHT, and under which keys (docs/PROTOCOL.md
 * §12.2). Every value is a signed record (core/record.h); a holder verifies it
 * before storing or serving it:
 *   node by id       key = node_id                          node record of that id
 *   node by name     key = BLAKE2b-256("vx6/dht/name/v1" || name)
 *                                                            node records claiming name
 *                                                            (one slot per signer: all
 *                                                            candidates are kept)
 *   service by name  key = BLAKE2b-256("vx6/dht/service/v1" || node "." service)
 *                                                            service records (one per signer)
 *   private catalog  key = BLAKE2b-256("vx6/dht/catalog/v1" || owner_key || reader_key)
 *                                                            catalog records (the slot is
 *                                                            inside the signed record)
 * Only a record's own key can sign it, so only the owner of a node id can
 * write under it; name keys hold every claimant's record and lookups report
 * conflicts. Pure functions.
 */
#ifndef VX6_CORE_DHTVAL_H
#define VX6_CORE_DHTVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/dht.h"
#include "core/record.h"

void vx6_dhtkey_node_name(const char *name, uint8_t key[VX6_DHT_ID_LEN]);
void vx6_dhtkey_service(const char *node, const char *service, uint8_t key[VX6_DHT_ID_LEN]);
/* The private catalog slot of (owner, reader): only they can compute it. */
void vx6_dhtkey_catalog(const uint8_t owner[32], const uint8_t reader[32], uint8_t key[VX6_DHT_ID_LEN]);

/* A per-node cache of records already verified (by BLAKE2b-128 of their
 * bytes), so a contact seen in many replies costs one signature check.
 * Direct-mapped; the validity window is still checked on every hit. */
#define VX6_DHTVAL_CACHE 256
struct vx6_dhtval_cache {
	struct {
		uint8_t digest[16];
		uint8_t type;
		uint8_t id_or_key[VX6_DHT_ID_LEN];   /* node id (node records) */
		uint8_t signer[32];
		uint8_t name_key[VX6_DHT_ID_LEN];    /* the key this record may live under by name */
		uint64_t seq, issued, expires;
		uint8_t valid;
	} slot[VX6_DHTVAL_CACHE];
	uint64_t hits, misses;
};

/* vx6_dht_validate_fn for VX6 records; ud is a struct vx6_dhtval_cache * or NULL. */
int vx6_dhtval_validate(void *ud, const uint8_t key[VX6_DHT_ID_LEN], const uint8_t *value, size_t len,
    uint64_t now_wall, struct vx6_dht_value_info *info);
/* vx6_dht_contact_fn: a contact is a node record; its id is the node id.
 * ud as above. */
int vx6_dhtval_contact_id(void *ud, const uint8_t *contact, size_t len, uint64_t now_wall,
    uint8_t id[VX6_DHT_ID_LEN], uint64_t *seq);

#endif
