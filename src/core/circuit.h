/*
 * circuit — onion-layered relay circuits (docs/PROTOCOL.md §14): the hop
 * handshake, the per-hop layer keys, and the fixed-size cells.
 *
 * A circuit is a chain of hops (relays, then the owner). Each hop shares
 * keys with the client from a Noise NK handshake (the client knows the hop's
 * static key, so the hop is authenticated and the keys are forward secret;
 * the client stays anonymous to it). The client wraps every cell in one
 * ChaCha20 layer per hop; each hop removes one layer going forward and adds
 * one going back. A cell addressed to a hop carries recognized = 0 and a MAC
 * under that hop's key and cell counter, so a tampered, injected, dropped,
 * replayed or reordered cell fails at the hop it was meant for. All cells are
 * VX6_CELL_SIZE bytes: no hop learns its position from sizes.
 *
 * Pure functions over caller-owned state; keys are wiped with
 * vx6_hop_crypto_wipe().
 */
#ifndef VX6_CORE_CIRCUIT_H
#define VX6_CORE_CIRCUIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "crypto/noise.h"
#include "lib/addr.h"
#include "lib/env.h"

#define VX6_CELL_SIZE 2048
#define VX6_CELL_HEADER 22
#define VX6_CELL_MAX_PAYLOAD (VX6_CELL_SIZE - VX6_CELL_HEADER)   /* 2026 */
#define VX6_CIRCUIT_MAX_HOPS 8                                    /* relays + the owner */
#define VX6_HOP_MSG_LEN 48       /* NK message 1 or 2: e (32) + empty payload's tag (16) */
#define VX6_CIRCUIT_SERVICE "vx6.circuit"   /* the reserved name of a hop stream */

enum vx6_cell_cmd {
	VX6_CELL_DATA = 1,        /* stream bytes */
	VX6_CELL_BEGIN = 2,       /* client -> owner: open a stream to a service */
	VX6_CELL_CONNECTED = 3,   /* owner -> client: the target is connected */
	VX6_CELL_END = 4,         /* one direction of a stream is finished */
	VX6_CELL_RESET = 5,       /* abort a stream: u16 code, reason */
	VX6_CELL_WINDOW = 6,      /* u32 bytes of credit for a stream */
	VX6_CELL_EXTEND = 7,      /* client -> hop: extend to the next node */
	VX6_CELL_EXTENDED = 8,    /* hop -> client: the next hop's NK message 2 */
	VX6_CELL_PADDING = 9,     /* ignored by the hop it is for */
	VX6_CELL_TRUNCATED = 10,  /* hop -> client: u8 why (below); the circuit ends */
};

/* Keys one hop shares with the client, and the cell counters that keep
 * both ends in step (each direction counts every cell passing the hop). */
/* TRUNCATED reasons: the next hop went away or cannot be reached (blame
 * it), or this hop refused the EXTEND (budget, relaying off: blame me). */
#define VX6_TRUNCATED_NEXT_GONE 1
#define VX6_TRUNCATED_REFUSED 2

struct vx6_hop_crypto {
	uint8_t fwd_key[32], fwd_mac[32];
	uint8_t bwd_key[32], bwd_mac[32];
	uint64_t fwd_ctr, bwd_ctr;
};
void vx6_hop_crypto_wipe(struct vx6_hop_crypto *h);

/* Hop handshake (Noise_NK_25519_ChaChaPoly_BLAKE2b, prologue "VX6 circuit v1").
 * Client: start with the hop's Ed25519 key; writes message 1. */
int vx6_hop_client_start(struct vx6_noise_hs *hs, const struct vx6_env *env,
    const uint8_t hop_key[VX6_KEY_LEN], uint8_t msg1[VX6_HOP_MSG_LEN]);
/* Client: consumes message 2 and derives the hop's keys. */
int vx6_hop_client_finish(struct vx6_noise_hs *hs, const uint8_t msg2[VX6_HOP_MSG_LEN],
    struct vx6_hop_crypto *out);
/* Hop: answers message 1 with message 2 and derives its keys. */
int vx6_hop_respond(const struct vx6_identity *self, const struct vx6_env *env,
    const uint8_t msg1[VX6_HOP_MSG_LEN], uint8_t msg2[VX6_HOP_MSG_LEN], struct vx6_hop_crypto *out);

/* A cell's plaintext (after all layers are off). */
struct vx6_cell {
	uint8_t cmd;
	uint16_t stream_id;
	uint16_t length;
	const uint8_t *payload;   /* borrowed from the cell buffer */
};

/* Writes a plaintext cell (recognized 0, MAC left for sealing, zero padding).
 * Returns 0 or VX6_ERR_TOO_LARGE. */
int vx6_cell_build(uint8_t cell[VX6_CELL_SIZE], uint8_t cmd, uint16_t stream_id, const void *payload,
    size_t len);
/* Parses a recognized cell; VX6_ERR_MALFORMED for an unknown command or a
 * length beyond the payload area. */
int vx6_cell_parse(const uint8_t cell[VX6_CELL_SIZE], struct vx6_cell *out);

/* Client, forward: MACs the cell for hop `target` and applies the layers of
 * hops target..0 (hops[0] is the first relay). */
void vx6_cell_client_seal(struct vx6_hop_crypto *hops, unsigned target, uint8_t cell[VX6_CELL_SIZE]);
/* Hop, forward: removes its layer; true when the cell is addressed to it
 * (recognized and the MAC verifies under its counter). */
bool vx6_cell_hop_open(struct vx6_hop_crypto *hop, uint8_t cell[VX6_CELL_SIZE]);
/* Hop, backward: MACs and layers a cell it originates. */
void vx6_cell_hop_seal(struct vx6_hop_crypto *hop, uint8_t cell[VX6_CELL_SIZE]);
/* Hop, backward: adds its layer to a cell from further along. */
void vx6_cell_hop_wrap(struct vx6_hop_crypto *hop, uint8_t cell[VX6_CELL_SIZE]);
/* Client, backward: peels layers from hop 0 on; returns the index of the hop
 * that sent the cell, or -1 when no hop recognizes it (tampering). */
int vx6_cell_client_open(struct vx6_hop_crypto *hops, unsigned n, uint8_t cell[VX6_CELL_SIZE]);

/* EXTEND payload: the next node (address and key) and NK message 1 for it. */
struct vx6_extend {
	struct vx6_addr addr;
	uint8_t key[VX6_KEY_LEN];
	uint8_t msg1[VX6_HOP_MSG_LEN];
};
#define VX6_EXTEND_LEN (1 + 1 + 16 + 2 + VX6_KEY_LEN + VX6_HOP_MSG_LEN)
int vx6_extend_encode(const struct vx6_extend *e, uint8_t out[VX6_EXTEND_LEN]);
int vx6_extend_decode(struct vx6_extend *e, const uint8_t *p, size_t len);

#endif
