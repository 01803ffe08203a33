/*
 * dht — a Kademlia DHT as a sans-I/O state machine (docs/PROTOCOL.md §12).
 *
 * Owns the routing table (256-bit ids, k-buckets with replacement caches),
 * the local value store (with admission rules, expiry and per-source write
 * limits), iterative parallel lookups, and replication. It never opens a
 * connection: RPCs go out through cbs->send to a contact (a verified node
 * record) and come in through vx6_dht_recv() with the sender's authenticated
 * node id. The caller drives time with vx6_dht_expiry()/vx6_dht_handle_expiry().
 *
 * What a value may be stored under which key is decided by the validate
 * callback (core/dhtval.c for VX6 records), so the same core runs in the
 * simulator. Values are opaque bytes here.
 *
 * Parameters (why: docs/PROTOCOL.md §12.1): k = 20, alpha = 3, replication 5.
 */
#ifndef VX6_CORE_DHT_H
#define VX6_CORE_DHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/env.h"

#define VX6_DHT_ID_LEN 32
#define VX6_DHT_K 20
#define VX6_DHT_ALPHA 3
#define VX6_DHT_REPLICATION 5
#define VX6_DHT_MAX_VALUE 1024
#define VX6_DHT_MAX_VALUES_PER_KEY 16
#define VX6_DHT_MAX_MSG 32768
#define VX6_DHT_MAX_CONTACT 1024     /* an encoded contact (a node record) */

/* What the validator says about a value offered for a key. */
struct vx6_dht_value_info {
	uint8_t signer[32];       /* one slot per signer and key */
	uint64_t seq;             /* a slot only moves to a higher seq */
	uint64_t expires_at;      /* wall-clock seconds */
};

/* Returns 0 when `value` may be stored under `key` (filling info), else a
 * negative vx6_err. now_wall is unix seconds. */
typedef int vx6_dht_validate_fn(void *ud, const uint8_t key[VX6_DHT_ID_LEN], const uint8_t *value,
    size_t len, uint64_t now_wall, struct vx6_dht_value_info *info);
/* Extracts the node id and seq from an encoded contact (after verifying it):
 * a newer record of a known contact replaces the older, never the reverse.
 * Returns 0 or a negative vx6_err. */
typedef int vx6_dht_contact_fn(void *ud, const uint8_t *contact, size_t len, uint64_t now_wall,
    uint8_t id[VX6_DHT_ID_LEN], uint64_t *seq);

struct vx6_dht_config {
	unsigned k, alpha, replication;
	uint64_t rpc_timeout;          /* ns */
	uint64_t refresh_interval;     /* ns: refresh a bucket not looked up for this long */
	uint64_t republish_interval;   /* ns: holders re-store values to the closest nodes */
	uint32_t max_keys;             /* store bound (keys) */
	uint32_t store_burst;          /* per-source STORE tokens */
	uint64_t store_refill;         /* ns per token */
	uint32_t max_lookups;          /* concurrent lookups */
};
void vx6_dht_config_defaults(struct vx6_dht_config *cfg);

struct vx6_dht_result;

struct vx6_dht_cbs {
	/* Send msg to the node described by contact (an encoded node record). */
	void (*send)(void *ud, const uint8_t id[VX6_DHT_ID_LEN], const uint8_t *contact,
	    size_t contact_len, const uint8_t *msg, size_t len);
	/* A lookup finished (see vx6_dht_lookup). */
	void (*lookup_done)(void *ud, uint64_t lookup_id, const struct vx6_dht_result *res);
	vx6_dht_validate_fn *validate;
	vx6_dht_contact_fn *contact_id;
	/* Wall-clock unix seconds (virtual in the simulator). */
	uint64_t (*wall_time)(void *ud);
};

#define VX6_DHT_MAX_RESULT_VALUES 16
#define VX6_DHT_MAX_HOLDERS 8

struct vx6_dht_found {
	const uint8_t *value;          /* borrowed: valid during lookup_done only */
	size_t len;
	struct vx6_dht_value_info info;
	unsigned holders;              /* distinct nodes that returned these bytes */
	uint8_t holder_ids[VX6_DHT_MAX_HOLDERS][VX6_DHT_ID_LEN];
};

struct vx6_dht_result {
	int status;                    /* 0, VX6_ERR_NOT_FOUND, VX6_ERR_TIMEOUT, ... */
	unsigned hops;                 /* rounds of the lookup */
	unsigned messages;             /* RPCs sent */
	unsigned n_values;
	struct vx6_dht_found values[VX6_DHT_MAX_RESULT_VALUES];
	unsigned n_closest;            /* closest nodes that answered */
	uint8_t closest[VX6_DHT_K][VX6_DHT_ID_LEN];
	unsigned stored;               /* for store operations: replicas that accepted */
};

struct vx6_dht_stats {
	uint32_t contacts;
	uint32_t keys, values;
	uint32_t lookups_active;
	uint64_t rpcs_in, rpcs_out;
	uint64_t stores_accepted, stores_rejected, stores_throttled, stale_rejected;
	uint64_t bad_messages;       /* malformed, or a reply from a node we did not ask */
	uint64_t late_responses;     /* replies to requests no longer pending */
	uint64_t rpc_timeouts;
};

struct vx6_dht;

/* self_id, cfg, env, cbs are copied or borrowed (cbs and env must outlive). */
struct vx6_dht *vx6_dht_new(const uint8_t self_id[VX6_DHT_ID_LEN], const struct vx6_dht_config *cfg,
    const struct vx6_env *env, const struct vx6_dht_cbs *cbs, void *ud);
void vx6_dht_free(struct vx6_dht *d);   /* no callbacks; NULL is a no-op */

/* Adds or refreshes a contact (an encoded, verifiable node record). */
int vx6_dht_add_contact(struct vx6_dht *d, const uint8_t *contact, size_t len, uint64_t now);
/* The node with this id could not be reached: count a failure (evicted after
 * repeated failures, replaced from the bucket's replacement cache). */
void vx6_dht_contact_failed(struct vx6_dht *d, const uint8_t id[VX6_DHT_ID_LEN], uint64_t now);
void vx6_dht_contact_gone(struct vx6_dht *d, const uint8_t id[VX6_DHT_ID_LEN]);

/* An RPC arrived from the authenticated node `from`. Malformed input is
 * counted and dropped. */
void vx6_dht_recv(struct vx6_dht *d, const uint8_t from[VX6_DHT_ID_LEN], const uint8_t *msg,
    size_t len, uint64_t now);

/* Starts an iterative lookup for key; want_value asks FIND_VALUE. Returns an
 * id (> 0) reported to lookup_done, or 0 when too many lookups run. */
uint64_t vx6_dht_lookup(struct vx6_dht *d, const uint8_t key[VX6_DHT_ID_LEN], bool want_value,
    uint64_t now);
/* Stores value under key on the `replication` closest nodes (a lookup, then
 * STOREs); also keeps it locally when this node is among them. Reports
 * through lookup_done with res->stored. */
uint64_t vx6_dht_store(struct vx6_dht *d, const uint8_t key[VX6_DHT_ID_LEN], const uint8_t *value,
    size_t len, uint64_t now);
/* Values held locally for key (validated on the way in). Calls fn for each. */
void vx6_dht_local_get(struct vx6_dht *d, const uint8_t key[VX6_DHT_ID_LEN],
    void (*fn)(void *ud, const uint8_t *value, size_t len), void *ud);

uint64_t vx6_dht_expiry(const struct vx6_dht *d);
void vx6_dht_handle_expiry(struct vx6_dht *d, uint64_t now);
void vx6_dht_stats(const struct vx6_dht *d, struct vx6_dht_stats *st);
/* Up to max contacts closest to target, as encoded records (borrowed,
 * valid until the next call into the dht). Returns the count. */
unsigned vx6_dht_closest(struct vx6_dht *d, const uint8_t target[VX6_DHT_ID_LEN], unsigned max,
    const uint8_t **contacts, size_t *lens);

/* RPC kinds (first bytes of every message: version 1, kind, txid u32). */
enum vx6_dht_kind {
	VX6_DHT_FIND_NODE = 1,
	VX6_DHT_FIND_VALUE = 2,
	VX6_DHT_STORE = 3,
	VX6_DHT_NODES = 0x81,
	VX6_DHT_VALUES = 0x82,
	VX6_DHT_STORED = 0x83,
};

enum vx6_dht_store_code {
	VX6_DHT_STORE_OK = 0,
	VX6_DHT_STORE_STALE = 1,
	VX6_DHT_STORE_REJECTED = 2,
	VX6_DHT_STORE_THROTTLED = 3,
	VX6_DHT_STORE_FULL = 4,
};

#endif
