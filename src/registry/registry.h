/*
 * registry — the node's local registry in SQLite (WAL): verified node and
 * service records, name pins (the first key seen for a name) and every other
 * key that claimed it, known peers with liveness, and a table ready for
 * hidden-service aliases. Lookups here avoid DHT round trips; the registry
 * survives restarts; it is bounded (expired rows go first, then the stalest);
 * a corrupt database is moved aside and rebuilt empty (the network refills
 * it). Callers verify records before putting them; the registry trusts them.
 * One connection per registry; not thread-safe (the node is single-threaded).
 */
#ifndef VX6_REGISTRY_REGISTRY_H
#define VX6_REGISTRY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/record.h"

struct vx6_registry_limits {
	uint32_t max_nodes;
	uint32_t max_services;
	uint32_t max_peers;
};
void vx6_registry_limits_defaults(struct vx6_registry_limits *l);

struct vx6_registry;

/* Opens (creating) the database at path, or ":memory:". *rebuilt is set when
 * a corrupt file was moved aside (its new name in note). Returns 0 or a
 * vx6_err with a message in err. */
int vx6_registry_open(const char *path, const struct vx6_registry_limits *lim,
    struct vx6_registry **out, bool *rebuilt, char *note, size_t notelen);
void vx6_registry_close(struct vx6_registry *r);   /* NULL is a no-op */

/* Keeps the highest seq per node id; also records the name claim. */
int vx6_registry_put_node(struct vx6_registry *r, const struct vx6_node_record *rec,
    const uint8_t *bytes, size_t len, uint64_t now_wall);
/* Copies the record of node id into buf. VX6_ERR_NOT_FOUND when absent or
 * expired. */
int vx6_registry_get_node(struct vx6_registry *r, const uint8_t id[VX6_NODE_ID_LEN], uint64_t now_wall,
    uint8_t *buf, size_t cap, size_t *len);

typedef void vx6_registry_rec_fn(void *ud, const uint8_t *bytes, size_t len);
/* Every unexpired node record claiming name; returns the count. */
int vx6_registry_nodes_by_name(struct vx6_registry *r, const char *name, uint64_t now_wall,
    vx6_registry_rec_fn *fn, void *ud);

/* Keeps the highest seq per (node, service, signer). */
int vx6_registry_put_service(struct vx6_registry *r, const struct vx6_service_record *rec,
    const uint8_t *bytes, size_t len, uint64_t now_wall);
int vx6_registry_services(struct vx6_registry *r, const char *node, const char *service,
    uint64_t now_wall, vx6_registry_rec_fn *fn, void *ud);

/* Name pins. get: 0 or VX6_ERR_NOT_FOUND. set: pins only when unpinned
 * (or pinned to the same key); returns VX6_ERR_EXISTS otherwise (read the
 * pinned key with pin_get). */
int vx6_registry_pin_get(struct vx6_registry *r, const char *name, uint8_t key[VX6_KEY_LEN],
    int64_t *first_seen);
int vx6_registry_pin_set(struct vx6_registry *r, const char *name, const uint8_t key[VX6_KEY_LEN],
    int64_t first_seen);
/* Every key seen claiming name with when it was first seen. */
typedef void vx6_registry_claim_fn(void *ud, const uint8_t key[VX6_KEY_LEN], int64_t first_seen);
int vx6_registry_claims(struct vx6_registry *r, const char *name, vx6_registry_claim_fn *fn, void *ud);
int vx6_registry_claim(struct vx6_registry *r, const char *name, const uint8_t key[VX6_KEY_LEN],
    int64_t now_wall);

/* Peers: liveness bookkeeping for bootstrap and peer exchange. */
int vx6_registry_peer_seen(struct vx6_registry *r, const uint8_t id[VX6_NODE_ID_LEN], int64_t now_wall,
    double rtt_ms);
int vx6_registry_peer_failed(struct vx6_registry *r, const uint8_t id[VX6_NODE_ID_LEN]);
/* Records of the `limit` most recently seen peers (fewest failures first among equals). */
int vx6_registry_live_peers(struct vx6_registry *r, unsigned limit, uint64_t now_wall,
    vx6_registry_rec_fn *fn, void *ud);

struct vx6_registry_counts {
	uint32_t nodes, services, pins, claims, peers;
	uint64_t hits, misses;
};
void vx6_registry_counts(struct vx6_registry *r, struct vx6_registry_counts *c);
/* Deletes expired rows and the stalest beyond the limits. */
int vx6_registry_evict(struct vx6_registry *r, uint64_t now_wall);
/* Iterates all unexpired services / nodes (for `vx6 list`). */
int vx6_registry_all_services(struct vx6_registry *r, uint64_t now_wall, vx6_registry_rec_fn *fn, void *ud);
int vx6_registry_all_nodes(struct vx6_registry *r, uint64_t now_wall, vx6_registry_rec_fn *fn, void *ud);

#endif
