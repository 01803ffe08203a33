/*
 * fuzz_frame — the frame decoder (src/core/frame.h, docs/PROTOCOL.md §5).
 *
 * Feeds: the input as the decrypted plaintext of one record. Frames are read
 * with vx6_frame_read() until one fails or the input is used up; RESET and
 * GOAWAY payloads go through vx6_frame_parse_reason().
 *
 * Invariants (each violation is a __builtin_trap()):
 *   - vx6_frame_read() succeeds exactly when an independent model of the
 *     §5 table says the frame is valid; a short header is INCOMPLETE, every
 *     other rejection is MALFORMED (a frame never spans records);
 *   - on success the reader advanced by exactly 8 + length bytes, the payload
 *     points into the input right after the header, and re-encoding the
 *     header with vx6_frame_header_put() gives back the input bytes;
 *   - a RESET/GOAWAY reason parses, has length - 2 characters, all printable.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"
#include "lib/cursor.h"
#include "lib/err.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_frame: invariant failed at line %d: %s\n", __LINE__, #cond); \
	__builtin_trap(); } } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	return 0;
}

/* The §5 table, written independently of frame.c. */
static bool
model_header_valid(const uint8_t h[VX6_FRAME_HEADER_LEN])
{
	uint8_t type = h[0], flags = h[1];
	uint16_t len = vx6_get_u16(h + 2);
	uint32_t sid = vx6_get_u32(h + 4);

	switch (type) {
	case 1: return sid != 0 && (flags & ~1u) == 0 && len <= 65511;            /* DATA */
	case 2: return sid != 0 && flags == 0 && len >= 2 && len <= 65;           /* OPEN */
	case 3: return sid != 0 && flags == 0 && len == 0;                        /* ACCEPT */
	case 4: return sid != 0 && flags == 0 && len >= 2 && len <= 202;          /* RESET */
	case 5: return flags == 0 && len == 4;                                    /* WINDOW */
	case 6: return sid == 0 && (flags & ~1u) == 0 && len == 8;                /* PING */
	case 7: return sid == 0 && flags == 0 && len == 0;                        /* REKEY */
	case 8: return sid == 0 && flags == 0 && len >= 2 && len <= 202;          /* GOAWAY */
#ifdef VX6_FRAME_MAX_RPC
	case 9: return sid == 0 && flags == 0 && len >= 1 && len <= 32768;        /* RPC */
#endif
	default: return false;
	}
}

static void
check_reason(const struct vx6_frame *f)
{
	char reason[VX6_FRAME_MAX_REASON + 1];
	uint16_t code = 0;
	size_t n;

	memset(reason, 'X', sizeof(reason));
	CHECK(vx6_frame_parse_reason(f, &code, reason) == 0);
	CHECK(code == vx6_get_u16(f->payload));
	n = strnlen(reason, sizeof(reason));
	CHECK(n < sizeof(reason));
	CHECK(n == (size_t)f->length - 2);
	for (size_t i = 0; i < n; i++)
		CHECK(reason[i] >= 0x20 && reason[i] < 0x7f);
	CHECK(vx6_reset_code_name(code) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx6_reader r;
	struct vx6_frame f;
	uint8_t hdr[VX6_FRAME_HEADER_LEN];

	vx6_reader_init(&r, data, size);
	while (vx6_reader_left(&r) > 0) {
		size_t before = r.off, left = size - before;
		const uint8_t *h = data + before;
		bool want_ok;
		int rc;

		memset(&f, 0, sizeof(f));
		rc = vx6_frame_read(&r, &f);
		if (left < VX6_FRAME_HEADER_LEN) {
			CHECK(rc == VX6_ERR_INCOMPLETE);
			break;
		}
		want_ok = model_header_valid(h) &&
		    left - VX6_FRAME_HEADER_LEN >= vx6_get_u16(h + 2);
		if (!want_ok) {
			CHECK(rc == VX6_ERR_MALFORMED);
			break;
		}
		CHECK(rc == 0);
		CHECK(r.off == before + VX6_FRAME_HEADER_LEN + f.length);
		CHECK(f.length == 0 || f.payload == h + VX6_FRAME_HEADER_LEN);
		vx6_frame_header_put(hdr, f.type, f.flags, f.length, f.stream_id);
		CHECK(memcmp(hdr, h, VX6_FRAME_HEADER_LEN) == 0);
		if (f.type == VX6_FRAME_RESET || f.type == VX6_FRAME_GOAWAY)
			check_reason(&f);
	}
	return 0;
}
