/*
 * test_cursor — lib/cursor: bounded reads are sticky and tell "incomplete"
 * from "malformed", bounded writes are sticky, and integers are big-endian.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/cursor.h"
#include "lib/err.h"

/* A sample message: u8 || u16 || u32 || u64 || 5 bytes = 20 bytes. */
static const uint8_t sample[20] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
	0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 'h', 'e', 'l', 'l', 'o',
};

/* Decodes the sample layout from buf[0..len) and returns vx6_reader_finish(). */
static int
decode_sample(const uint8_t *buf, size_t len)
{
	struct vx6_reader r;
	uint8_t tail[5];

	vx6_reader_init(&r, buf, len);
	(void)vx6_read_u8(&r);
	(void)vx6_read_u16(&r);
	(void)vx6_read_u32(&r);
	(void)vx6_read_u64(&r);
	vx6_read_bytes(&r, tail, sizeof(tail));
	return vx6_reader_finish(&r);
}

/* A read past the end fails with INCOMPLETE and stays failed: later reads,
 * even ones that would fit, return 0/NULL and do not advance. */
static void
test_reader_past_end_is_sticky(void **state)
{
	const uint8_t buf[3] = { 0xaa, 0xbb, 0xcc };
	struct vx6_reader r;
	uint8_t out[2] = { 0x55, 0x55 };

	(void)state;
	vx6_reader_init(&r, buf, sizeof(buf));
	assert_int_equal(vx6_read_u16(&r), 0xaabb);
	assert_int_equal(vx6_reader_left(&r), 1);
	assert_int_equal(r.err, 0);

	assert_int_equal(vx6_read_u16(&r), 0);          /* needs 2, has 1 */
	assert_int_equal(r.err, VX6_ERR_INCOMPLETE);
	assert_int_equal(r.off, 2);

	assert_int_equal(vx6_read_u8(&r), 0);           /* would fit, but sticky */
	assert_int_equal(r.off, 2);
	assert_null(vx6_read_ptr(&r, 0));
	assert_null(vx6_read_ptr(&r, 1));
	assert_int_equal(vx6_read_u32(&r), 0);
	assert_int_equal(vx6_read_u64(&r), 0);
	vx6_read_bytes(&r, out, sizeof(out));
	assert_int_equal(out[0], 0);                    /* zero-filled on failure */
	assert_int_equal(out[1], 0);
	assert_int_equal(r.off, 2);
	assert_int_equal(r.err, VX6_ERR_INCOMPLETE);
	assert_int_equal(vx6_reader_left(&r), 0);
	assert_int_equal(vx6_reader_finish(&r), VX6_ERR_INCOMPLETE);
}

/* Every truncated prefix of a message is INCOMPLETE, the exact message is
 * accepted, and any trailing byte makes it MALFORMED. */
static void
test_truncations_and_trailing(void **state)
{
	uint8_t longer[sizeof(sample) + 3];

	(void)state;
	for (size_t len = 0; len < sizeof(sample); len++)
		assert_int_equal(decode_sample(sample, len), VX6_ERR_INCOMPLETE);
	assert_int_equal(decode_sample(sample, sizeof(sample)), 0);
	memcpy(longer, sample, sizeof(sample));
	memset(longer + sizeof(sample), 0, 3);
	for (size_t extra = 1; extra <= 3; extra++)
		assert_int_equal(decode_sample(longer, sizeof(sample) + extra), VX6_ERR_MALFORMED);
}

/* vx6_reader_finish reports unread trailing bytes as MALFORMED (not as
 * INCOMPLETE), and 0 once everything was read. */
static void
test_finish_trailing_is_malformed(void **state)
{
	const uint8_t buf[4] = { 1, 2, 3, 4 };
	struct vx6_reader r;

	(void)state;
	vx6_reader_init(&r, buf, sizeof(buf));
	assert_int_equal(vx6_reader_finish(&r), VX6_ERR_MALFORMED);
	(void)vx6_read_u16(&r);
	assert_int_equal(vx6_reader_finish(&r), VX6_ERR_MALFORMED);
	assert_non_null(vx6_read_ptr(&r, 2));
	assert_int_equal(vx6_reader_finish(&r), 0);
	/* a zero-length read at the end is fine and changes nothing */
	assert_non_null(vx6_read_ptr(&r, 0));
	assert_int_equal(vx6_reader_finish(&r), 0);

	vx6_reader_init(&r, buf, 0);
	assert_int_equal(vx6_reader_finish(&r), 0);
}

/* A huge length cannot wrap the bounds check: it fails as INCOMPLETE. */
static void
test_reader_huge_length(void **state)
{
	const uint8_t buf[8] = { 0 };
	struct vx6_reader r;

	(void)state;
	vx6_reader_init(&r, buf, sizeof(buf));
	(void)vx6_read_u8(&r);
	assert_null(vx6_read_ptr(&r, SIZE_MAX));
	assert_int_equal(r.err, VX6_ERR_INCOMPLETE);
	assert_int_equal(r.off, 1);
	assert_int_equal(vx6_reader_finish(&r), VX6_ERR_INCOMPLETE);
}

/* A write that does not fit sets TOO_LARGE, writes nothing, and every later
 * write (even one that would fit) is refused without touching the buffer. */
static void
test_writer_overflow_is_sticky(void **state)
{
	uint8_t buf[8];
	struct vx6_writer w;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	vx6_writer_init(&w, buf, 5);
	vx6_write_u32(&w, 0x01020304);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.off, 4);

	vx6_write_u16(&w, 0xa1a2);                      /* needs 2, has 1 */
	assert_int_equal(w.err, VX6_ERR_TOO_LARGE);
	assert_int_equal(w.off, 4);
	assert_int_equal(buf[4], 0xee);

	vx6_write_u8(&w, 0x99);                         /* would fit, but sticky */
	vx6_write_bytes(&w, "x", 1);
	vx6_write_u64(&w, 1);
	vx6_write_u32(&w, 1);
	assert_int_equal(w.off, 4);
	assert_int_equal(w.err, VX6_ERR_TOO_LARGE);
	for (size_t i = 4; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xee);

	vx6_writer_init(&w, buf, sizeof(buf));
	vx6_write_u8(&w, 1);
	vx6_write_bytes(&w, buf, SIZE_MAX);             /* cannot wrap the check */
	assert_int_equal(w.err, VX6_ERR_TOO_LARGE);
	assert_int_equal(w.off, 1);
}

/* Filling the writer exactly is not an error. */
static void
test_writer_exact_fit(void **state)
{
	uint8_t buf[15];
	struct vx6_writer w;

	(void)state;
	vx6_writer_init(&w, buf, sizeof(buf));
	vx6_write_u8(&w, 1);
	vx6_write_u16(&w, 2);
	vx6_write_u32(&w, 3);
	vx6_write_u64(&w, 4);
	vx6_write_bytes(&w, NULL, 0);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.off, sizeof(buf));
}

/* u16/u32/u64 are written and read most significant byte first, by the
 * cursor and by the fixed-position helpers alike, with no sign extension. */
static void
test_big_endian_layout(void **state)
{
	static const uint8_t want[14] = {
		0x01, 0x02,
		0x03, 0x04, 0x05, 0x06,
		0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
	};
	static const uint8_t high[14] = {
		0xff, 0xfe,
		0x80, 0x00, 0x00, 0x01,
		0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
	};
	uint8_t buf[14], fixed[8];
	struct vx6_writer w;
	struct vx6_reader r;

	(void)state;
	vx6_writer_init(&w, buf, sizeof(buf));
	vx6_write_u16(&w, 0x0102);
	vx6_write_u32(&w, 0x03040506);
	vx6_write_u64(&w, 0x0708090a0b0c0d0eULL);
	assert_int_equal(w.err, 0);
	assert_memory_equal(buf, want, sizeof(want));

	vx6_reader_init(&r, high, sizeof(high));
	assert_int_equal(vx6_read_u16(&r), 0xfffe);
	assert_int_equal(vx6_read_u32(&r), 0x80000001u);
	assert_true(vx6_read_u64(&r) == 0xfedcba9876543210ULL);
	assert_int_equal(vx6_reader_finish(&r), 0);

	vx6_put_u16(fixed, 0xfffe);
	assert_int_equal(fixed[0], 0xff);
	assert_int_equal(fixed[1], 0xfe);
	assert_int_equal(vx6_get_u16(high), 0xfffe);
	vx6_put_u32(fixed, 0x80000001u);
	assert_memory_equal(fixed, high + 2, 4);
	assert_int_equal(vx6_get_u32(high + 2), 0x80000001u);
	vx6_put_u64(fixed, 0xfedcba9876543210ULL);
	assert_memory_equal(fixed, high + 6, 8);
	assert_true(vx6_get_u64(high + 6) == 0xfedcba9876543210ULL);
}

/* read_bytes/read_ptr hand back exactly the next bytes and advance by n. */
static void
test_read_bytes_and_ptr(void **state)
{
	struct vx6_reader r;
	uint8_t out[4];
	const uint8_t *p;

	(void)state;
	vx6_reader_init(&r, sample, sizeof(sample));
	vx6_read_bytes(&r, out, sizeof(out));
	assert_memory_equal(out, sample, sizeof(out));
	p = vx6_read_ptr(&r, 3);
	assert_ptr_equal(p, sample + 4);
	assert_int_equal(vx6_reader_left(&r), sizeof(sample) - 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_past_end_is_sticky),
		cmocka_unit_test(test_truncations_and_trailing),
		cmocka_unit_test(test_finish_trailing_is_malformed),
		cmocka_unit_test(test_reader_huge_length),
		cmocka_unit_test(test_writer_overflow_is_sticky),
		cmocka_unit_test(test_writer_exact_fit),
		cmocka_unit_test(test_big_endian_layout),
		cmocka_unit_test(test_read_bytes_and_ptr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
