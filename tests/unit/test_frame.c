/*
 * test_frame — the frame codec of docs/PROTOCOL.md §5 (src/core/frame.h).
 *
 * Every type encodes and decodes at its length bounds; every truncated prefix
 * is rejected (a short header is VX6_ERR_INCOMPLETE, a short payload is
 * VX6_ERR_MALFORMED because a frame never spans records, §4); unknown types,
 * unlisted flags, lengths outside the type's column and stream ids of the
 * wrong kind are malformed; reasons are parsed with non-printables replaced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/frame.h"
#include "lib/cursor.h"
#include "lib/err.h"
#include "testutil.h"

#define BUF_MAX (VX6_FRAME_HEADER_LEN + 65535 + 16)

static uint8_t buf[BUF_MAX];

/* The static rules of §5, restated independently of frame.c. */
struct rule {
	uint8_t type;
	uint8_t flags;          /* allowed flag bits */
	size_t minlen, maxlen;
	int sid;                /* 1: must be non-zero, 0: must be zero, -1: any */
};

static const struct rule rules[] = {
	{ VX6_FRAME_DATA, VX6_FRAME_FLAG_FIN, 0, 65511, 1 },
	{ VX6_FRAME_OPEN, 0, 2, 65, 1 },
	{ VX6_FRAME_ACCEPT, 0, 0, 0, 1 },
	{ VX6_FRAME_RESET, 0, 2, 202, 1 },
	{ VX6_FRAME_WINDOW, 0, 4, 4, -1 },
	{ VX6_FRAME_PING, VX6_FRAME_FLAG_ACK, 8, 8, 0 },
	{ VX6_FRAME_REKEY, 0, 0, 0, 0 },
	{ VX6_FRAME_GOAWAY, 0, 2, 202, 0 },
#ifdef VX6_FRAME_MAX_RPC
	{ VX6_FRAME_RPC, 0, 1, VX6_FRAME_MAX_RPC, 0 },   /* node-to-node control message */
#endif
};
#define NRULES (sizeof(rules) / sizeof(rules[0]))

/* Writes a frame with a recognisable payload into buf; returns its length. */
static size_t
put(uint8_t type, uint8_t flags, size_t len, uint32_t sid)
{
	vx6_frame_header_put(buf, type, flags, (uint16_t)len, sid);
	for (size_t i = 0; i < len; i++)
		buf[VX6_FRAME_HEADER_LEN + i] = (uint8_t)('a' + i % 26);
	return VX6_FRAME_HEADER_LEN + len;
}

/* Decodes buf[0..n) as exactly one frame; returns frame_read's result. */
static int
read_one(size_t n, struct vx6_frame *f)
{
	struct vx6_reader r;

	vx6_reader_init(&r, buf, n);
	return vx6_frame_read(&r, f);
}

static uint32_t
valid_sid(const struct rule *ru)
{
	return ru->sid == 0 ? 0 : 7;
}

/* The header is 8 bytes big-endian: type, flags, length u16, stream_id u32. */
static void
test_header_layout(void **state)
{
	uint8_t h[VX6_FRAME_HEADER_LEN];
	const uint8_t want[] = { 0x05, 0x00, 0x12, 0x34, 0x89, 0xab, 0xcd, 0xef };

	(void)state;
	vx6_frame_header_put(h, VX6_FRAME_WINDOW, 0, 0x1234, 0x89abcdefu);
	assert_memory_equal(h, want, sizeof(want));
}

/* Every type decodes at its min and max length with each allowed flag, consuming it exactly. */
static void
test_every_type_roundtrips(void **state)
{
	/* Every type decodes at its minimum and maximum length with every allowed
	 * flag combination, consuming exactly header + payload. */
	(void)state;
	for (size_t i = 0; i < NRULES; i++) {
		const struct rule *ru = &rules[i];
		size_t lens[2] = { ru->minlen, ru->maxlen };
		for (int li = 0; li < 2; li++) {
			for (unsigned fl = 0; fl <= ru->flags; fl++) {
				struct vx6_frame f;
				struct vx6_reader r;
				size_t n;

				if (fl & ~ru->flags)
					continue;
				n = put(ru->type, (uint8_t)fl, lens[li], valid_sid(ru));
				vx6_reader_init(&r, buf, n);
				assert_int_equal(vx6_frame_read(&r, &f), 0);
				assert_int_equal(f.type, ru->type);
				assert_int_equal(f.flags, fl);
				assert_int_equal(f.length, lens[li]);
				assert_int_equal(f.stream_id, valid_sid(ru));
				if (lens[li])
					assert_ptr_equal(f.payload, buf + VX6_FRAME_HEADER_LEN);
				assert_int_equal(vx6_reader_left(&r), 0);
				assert_int_equal(vx6_reader_finish(&r), 0);
			}
		}
	}
}

/* WINDOW takes stream 0 (the session) and any stream id. */
static void
test_window_any_stream(void **state)
{
	const uint32_t sids[] = { 0, 1, 2, 0x7fffffffu, 0xffffffffu };
	struct vx6_frame f;

	(void)state;
	for (size_t i = 0; i < sizeof(sids) / sizeof(sids[0]); i++) {
		size_t n = put(VX6_FRAME_WINDOW, 0, 4, sids[i]);
		assert_int_equal(read_one(n, &f), 0);
		assert_int_equal(f.stream_id, sids[i]);
	}
}

/* Several frames in one record decode one after another. */
static void
test_back_to_back(void **state)
{
	uint8_t rec[64];
	struct vx6_reader r;
	struct vx6_frame f;
	size_t off = 0;

	(void)state;
	vx6_frame_header_put(rec + off, VX6_FRAME_PING, 0, 8, 0);
	memcpy(rec + off + 8, "12345678", 8);
	off += 16;
	vx6_frame_header_put(rec + off, VX6_FRAME_DATA, VX6_FRAME_FLAG_FIN, 3, 9);
	memcpy(rec + off + 8, "xyz", 3);
	off += 11;
	vx6_frame_header_put(rec + off, VX6_FRAME_REKEY, 0, 0, 0);
	off += 8;

	vx6_reader_init(&r, rec, off);
	assert_int_equal(vx6_frame_read(&r, &f), 0);
	assert_int_equal(f.type, VX6_FRAME_PING);
	assert_memory_equal(f.payload, "12345678", 8);
	assert_int_equal(vx6_frame_read(&r, &f), 0);
	assert_int_equal(f.type, VX6_FRAME_DATA);
	assert_int_equal(f.flags, VX6_FRAME_FLAG_FIN);
	assert_int_equal(f.stream_id, 9);
	assert_memory_equal(f.payload, "xyz", 3);
	assert_int_equal(vx6_frame_read(&r, &f), 0);
	assert_int_equal(f.type, VX6_FRAME_REKEY);
	assert_int_equal(vx6_reader_left(&r), 0);
}

/* Every truncated prefix is rejected: short header INCOMPLETE, short payload MALFORMED. */
static void
test_truncated_prefixes(void **state)
{
	/* Every truncated prefix of every type at both length bounds is rejected:
	 * INCOMPLETE while the header is short, MALFORMED once the header is whole
	 * but the payload is not (a frame never spans records). */
	(void)state;
	for (size_t i = 0; i < NRULES; i++) {
		const struct rule *ru = &rules[i];
		size_t lens[2] = { ru->minlen, ru->maxlen };
		for (int li = 0; li < 2; li++) {
			size_t n = put(ru->type, 0, lens[li], valid_sid(ru));
			for (size_t p = 0; p < n; p++) {
				struct vx6_frame f;
				int rc = read_one(p, &f);
				if (p < VX6_FRAME_HEADER_LEN) {
					if (rc != VX6_ERR_INCOMPLETE)
						fail_msg("type %u len %zu prefix %zu: got %d, want INCOMPLETE",
						    ru->type, lens[li], p, rc);
				} else if (rc != VX6_ERR_MALFORMED) {
					fail_msg("type %u len %zu prefix %zu: got %d, want MALFORMED", ru->type,
					    lens[li], p, rc);
				}
			}
		}
	}
}

static bool
known_type(unsigned t)
{
	for (size_t i = 0; i < NRULES; i++)
		if (rules[i].type == t)
			return true;
	return false;
}

/* Every type outside the table (0, and all after the last defined one) is MALFORMED. */
static void
test_unknown_types(void **state)
{
	/* Every type outside the table (0 and everything after the last defined
	 * type, up to 255) is malformed whatever the rest of the header says. */
	struct vx6_frame f;

	(void)state;
	for (unsigned t = 0; t < 256; t++) {
		if (known_type(t))
			continue;
		size_t n = put((uint8_t)t, 0, 0, 0);
		assert_int_equal(read_one(n, &f), VX6_ERR_MALFORMED);
		n = put((uint8_t)t, 0, 4, 1);
		assert_int_equal(read_one(n, &f), VX6_ERR_MALFORMED);
	}
}

/* Any flag bit not listed for its type is MALFORMED; listed ones decode. */
static void
test_unlisted_flags(void **state)
{
	/* Any flag bit not listed for the type is malformed (FIN only on DATA, ACK
	 * only on PING, nothing on the others). */
	struct vx6_frame f;

	(void)state;
	for (size_t i = 0; i < NRULES; i++) {
		const struct rule *ru = &rules[i];
		for (unsigned fl = 1; fl < 256; fl++) {
			size_t n = put(ru->type, (uint8_t)fl, ru->minlen, valid_sid(ru));
			int rc = read_one(n, &f);
			if (fl & ~ru->flags)
				assert_int_equal(rc, VX6_ERR_MALFORMED);
			else
				assert_int_equal(rc, 0);
		}
	}
}

/* Payload lengths just outside each type's range, and 65535, are MALFORMED. */
static void
test_lengths_out_of_range(void **state)
{
	/* Payload lengths just outside each type's column, and 65535, are malformed
	 * even when the bytes are present. */
	struct vx6_frame f;

	(void)state;
	for (size_t i = 0; i < NRULES; i++) {
		const struct rule *ru = &rules[i];
		size_t bad[3];
		int nb = 0;

		if (ru->minlen > 0)
			bad[nb++] = ru->minlen - 1;
		bad[nb++] = ru->maxlen + 1;
		bad[nb++] = 65535;
		for (int b = 0; b < nb; b++) {
			size_t n = put(ru->type, 0, bad[b], valid_sid(ru));
			int rc = read_one(n, &f);
			if (rc != VX6_ERR_MALFORMED)
				fail_msg("type %u length %zu: got %d, want MALFORMED", ru->type, bad[b], rc);
		}
	}
}

/* Stream frames need a non-zero stream id, session frames stream id 0 (WINDOW either). */
static void
test_stream_id_rules(void **state)
{
	/* DATA, OPEN, ACCEPT and RESET need a stream id; PING, REKEY and GOAWAY must
	 * have stream id 0. */
	struct vx6_frame f;

	(void)state;
	for (size_t i = 0; i < NRULES; i++) {
		const struct rule *ru = &rules[i];
		size_t n;

		if (ru->sid == -1)
			continue;
		n = put(ru->type, 0, ru->minlen, ru->sid == 1 ? 0 : 1);
		assert_int_equal(read_one(n, &f), VX6_ERR_MALFORMED);
		if (ru->sid == 0) {
			n = put(ru->type, 0, ru->minlen, 0x80000000u);
			assert_int_equal(read_one(n, &f), VX6_ERR_MALFORMED);
		}
	}
}

/* A RESET/GOAWAY reason keeps 0x20..0x7e and shows every other byte as '?'. */
static void
test_parse_reason_printable(void **state)
{
	/* A RESET/GOAWAY payload yields its code and the reason with every byte
	 * outside 0x20..0x7e replaced by '?'. */
	uint8_t p[2 + 12] = { 0x00, 0x03, 'o', 'k', ' ', '~', 0x00, 0x1f, 0x7f, 0x80, 0xff, '\n', 'z',
		0x09 };
	char reason[VX6_FRAME_MAX_REASON + 1];
	struct vx6_frame f = { .type = VX6_FRAME_RESET, .length = sizeof(p), .stream_id = 1,
		.payload = p };
	uint16_t code = 0;

	(void)state;
	assert_int_equal(vx6_frame_parse_reason(&f, &code, reason), 0);
	assert_int_equal(code, 3);
	assert_string_equal(reason, "ok ~??????z?");
}

/* Empty and 200-byte reasons parse with the full u16 code; lengths 0, 1, 203 are MALFORMED. */
static void
test_parse_reason_bounds(void **state)
{
	/* An empty reason, a 200-byte reason, and the u16 code's full range parse;
	 * lengths 0, 1 and 203 are malformed. */
	uint8_t p[2 + VX6_FRAME_MAX_REASON + 1];
	char reason[VX6_FRAME_MAX_REASON + 1];
	struct vx6_frame f = { .type = VX6_FRAME_GOAWAY, .payload = p };
	uint16_t code = 0;

	(void)state;
	memset(p, 'r', sizeof(p));
	p[0] = 0xff;
	p[1] = 0xfe;
	f.length = 2;
	assert_int_equal(vx6_frame_parse_reason(&f, &code, reason), 0);
	assert_int_equal(code, 0xfffe);
	assert_string_equal(reason, "");

	f.length = 2 + VX6_FRAME_MAX_REASON;
	assert_int_equal(vx6_frame_parse_reason(&f, &code, reason), 0);
	assert_int_equal(strlen(reason), VX6_FRAME_MAX_REASON);

	f.length = 2 + VX6_FRAME_MAX_REASON + 1;
	assert_int_equal(vx6_frame_parse_reason(&f, &code, reason), VX6_ERR_MALFORMED);
	f.length = 1;
	assert_int_equal(vx6_frame_parse_reason(&f, &code, reason), VX6_ERR_MALFORMED);
	f.length = 0;
	assert_int_equal(vx6_frame_parse_reason(&f, &code, reason), VX6_ERR_MALFORMED);
}

/* A reason decoded from the wire through frame_read parses the same way. */
static void
test_parse_reason_from_wire(void **state)
{
	struct vx6_frame f;
	char reason[VX6_FRAME_MAX_REASON + 1];
	uint16_t code;
	size_t n;

	(void)state;
	vx6_frame_header_put(buf, VX6_FRAME_RESET, 0, 2 + 5, 4);
	memcpy(buf + 8, "\x00\x06lim\x01t", 7);
	n = 8 + 7;
	assert_int_equal(read_one(n, &f), 0);
	assert_int_equal(vx6_frame_parse_reason(&f, &code, reason), 0);
	assert_int_equal(code, VX6_RESET_LIMIT);
	assert_string_equal(reason, "lim?t");
}

/* Every documented code has its own name; others are "unknown code". */
static void
test_reset_code_names(void **state)
{
	(void)state;
	for (unsigned c = VX6_CLOSE_NORMAL; c <= VX6_RESET_INTERNAL; c++) {
		assert_string_not_equal(vx6_reset_code_name(c), "unknown code");
		for (unsigned d = 0; d < c; d++)
			assert_string_not_equal(vx6_reset_code_name(c), vx6_reset_code_name(d));
	}
	assert_string_equal(vx6_reset_code_name(VX6_RESET_LIMIT), "limit reached");
	assert_string_equal(vx6_reset_code_name(10), "unknown code");
	assert_string_equal(vx6_reset_code_name(0xffff), "unknown code");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_every_type_roundtrips),
		cmocka_unit_test(test_window_any_stream),
		cmocka_unit_test(test_back_to_back),
		cmocka_unit_test(test_truncated_prefixes),
		cmocka_unit_test(test_unknown_types),
		cmocka_unit_test(test_unlisted_flags),
		cmocka_unit_test(test_lengths_out_of_range),
		cmocka_unit_test(test_stream_id_rules),
		cmocka_unit_test(test_parse_reason_printable),
		cmocka_unit_test(test_parse_reason_bounds),
		cmocka_unit_test(test_parse_reason_from_wire),
		cmocka_unit_test(test_reset_code_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
