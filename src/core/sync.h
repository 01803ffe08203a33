/*
 * sync — the neighbour protocol carried in RPC frames next to the DHT
 * (docs/PROTOCOL.md §13): every RPC payload starts with a protocol byte
 * (1 = DHT, 2 = sync). Sync messages:
 *   RECORD     the sender's own current node record (after the handshake,
 *              and again whenever it changes: a new address, a new seq)
 *   PEERS_REQ  ask for up to N node records of live peers (bootstrap)
 *   PEERS      those records
 * Incremental by construction: a node sends its own record to its direct
 * neighbours and a bounded sample of peers on request, never a snapshot of
 * everything it knows, so the cost per node does not grow with the network.
 * Codec only; pure.
 */
#ifndef VX6_CORE_SYNC_H
#define VX6_CORE_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "core/record.h"

#define VX6_RPC_PROTO_DHT 1
#define VX6_RPC_PROTO_SYNC 2
#define VX6_SYNC_MAX_PEERS 16

enum vx6_sync_kind {
	VX6_SYNC_RECORD = 1,
	VX6_SYNC_PEERS_REQ = 2,
	VX6_SYNC_PEERS = 3,
};

struct vx6_sync_msg {
	uint8_t kind;
	uint8_t max;                                   /* PEERS_REQ */
	unsigned n;                                    /* RECORD: 1; PEERS: count */
	const uint8_t *recs[VX6_SYNC_MAX_PEERS];       /* borrowed from the input */
	size_t lens[VX6_SYNC_MAX_PEERS];
};

/* Parses a sync message (after the protocol byte). Records are not verified
 * here. Returns 0 or VX6_ERR_MALFORMED. */
int vx6_sync_parse(const uint8_t *p, size_t len, struct vx6_sync_msg *m);
/* Builders: write a whole RPC payload (with the protocol byte); return the
 * length or a negative vx6_err. */
int vx6_sync_build_record(const uint8_t *rec, size_t reclen, uint8_t *out, size_t cap);
int vx6_sync_build_peers_req(uint8_t max, uint8_t *out, size_t cap);
int vx6_sync_build_peers(const uint8_t *const *recs, const size_t *lens, unsigned n, uint8_t *out,
    size_t cap);

#endif
