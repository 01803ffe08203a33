/*
 * frame — the frames carried inside session records (docs/PROTOCOL.md §5).
 *
 * A record's plaintext is one or more frames, each an 8-byte header
 * (type u8, flags u8, length u16, stream_id u32; big-endian) and `length`
 * payload bytes. This module only encodes and decodes; it keeps no state.
 */
#ifndef VX6_CORE_FRAME_H
#define VX6_CORE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "lib/cursor.h"

#define VX6_FRAME_HEADER_LEN 8
#define VX6_RECORD_LEN_BYTES 2
#define VX6_RECORD_MAX_CT 65535u                            /* ciphertext incl. tag */
#define VX6_RECORD_MAX_PT (VX6_RECORD_MAX_CT - 16u)         /* 65519 */
#define VX6_FRAME_MAX_DATA (VX6_RECORD_MAX_PT - VX6_FRAME_HEADER_LEN)   /* 65511 */
#define VX6_FRAME_MAX_REASON 200
#define VX6_FRAME_MAX_SERVICE 64
#define VX6_FRAME_MAX_RPC 32768

enum vx6_frame_type {
	VX6_FRAME_DATA = 1,      /* stream data; flag FIN ends our direction */
	VX6_FRAME_OPEN = 2,      /* open a stream to a service */
	VX6_FRAME_ACCEPT = 3,    /* the service's target is connected */
	VX6_FRAME_RESET = 4,     /* abort a stream: u16 code, reason text */
	VX6_FRAME_WINDOW = 5,    /* u32 credit increment; stream 0 = session */
	VX6_FRAME_PING = 6,      /* 8 opaque bytes; flag ACK = pong */
	VX6_FRAME_REKEY = 7,     /* last frame of its record; next record uses the next key */
	VX6_FRAME_GOAWAY = 8,    /* session closes: u16 code, reason text */
	VX6_FRAME_RPC = 9,       /* a node-to-node control message (DHT, sync) */
};

#define VX6_FRAME_FLAG_FIN 0x01   /* DATA */
#define VX6_FRAME_FLAG_ACK 0x01   /* PING */

/* Reset and close codes (u16 on the wire). */
enum vx6_reset_code {
	VX6_CLOSE_NORMAL = 0,         /* GOAWAY: orderly shutdown */
	VX6_RESET_UNKNOWN_SERVICE = 1,
	VX6_RESET_NOT_ALLOWED = 2,
	VX6_RESET_TARGET_UNREACHABLE = 3,
	VX6_RESET_TARGET_ABORTED = 4,
	VX6_RESET_CANCEL = 5,
	VX6_RESET_LIMIT = 6,
	VX6_RESET_SESSION_LOST = 7,   /* the session (or a circuit behind a hop stream) ended */
	VX6_RESET_PROTOCOL = 8,
	VX6_RESET_INTERNAL = 9,
};
const char *vx6_reset_code_name(unsigned code);

struct vx6_frame {
	uint8_t type;
	uint8_t flags;
	uint16_t length;
	uint32_t stream_id;
	const uint8_t *payload;   /* borrowed from the record buffer */
};

/* Reads one frame and validates the header's static rules (known type,
 * flags, stream-id zero or not, payload length bounds by type).
 * Returns 0, VX6_ERR_INCOMPLETE or VX6_ERR_MALFORMED. */
int vx6_frame_read(struct vx6_reader *r, struct vx6_frame *f);
void vx6_frame_header_put(uint8_t out[VX6_FRAME_HEADER_LEN], uint8_t type, uint8_t flags,
    uint16_t length, uint32_t stream_id);
/* Parses a RESET or GOAWAY payload into code and a printable NUL-terminated
 * reason (non-printable bytes become '?'). */
int vx6_frame_parse_reason(const struct vx6_frame *f, uint16_t *code,
    char reason[VX6_FRAME_MAX_REASON + 1]);

#endif
