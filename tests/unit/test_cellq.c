/*
 * test_cellq — node/cellq: cells queued for a hop stream leave in whole
 * cells as credit allows (never more than the credit, never a part of a
 * cell), in order, with the queue's byte count right; a chunk whose front
 * was sent keeps taking cells only within its own room.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "node/node_internal.h"
#include "testutil.h"

static void
cell_of(uint32_t seq, uint8_t cell[VX6_CELL_SIZE])
{
	for (size_t i = 0; i < VX6_CELL_SIZE; i++)
		cell[i] = (uint8_t)(seq * 31u + i);
	memcpy(cell, &seq, sizeof(seq));
}

static void
push(struct vx6_chunkq *q, uint32_t seq)
{
	uint8_t cell[VX6_CELL_SIZE];

	cell_of(seq, cell);
	assert_int_equal(cellq_push(q, cell), 0);
}

/* Checks that c holds whole cells seq, seq+1, ... and returns the next seq. */
static uint32_t
expect_cells(struct vx6_chunk *c, uint32_t seq)
{
	uint8_t want[VX6_CELL_SIZE];

	assert_int_equal(c->len % VX6_CELL_SIZE, 0);
	assert_true(vx6_chunk_headroom(c) >= VX6_SESSION_HEADROOM);
	assert_true(vx6_chunk_tailroom(c) >= VX6_SESSION_TAILROOM);
	for (size_t off = 0; off < c->len; off += VX6_CELL_SIZE) {
		cell_of(seq++, want);
		assert_memory_equal(vx6_chunk_ptr(c) + off, want, VX6_CELL_SIZE);
	}
	vx6_chunk_free(c);
	return seq;
}

static void
test_whole_cells_within_credit(void **state)
{
	struct vx6_chunkq q;
	uint32_t seq = 0;

	(void)state;
	vx6_chunkq_init(&q);
	assert_int_equal(cellq_sendable(&q, 1 << 20), 0);          /* empty */
	for (uint32_t i = 0; i < 40; i++)
		push(&q, i);
	assert_int_equal(q.count, 2);                               /* 31 + 9 */
	assert_int_equal(q.bytes, 40 * VX6_CELL_SIZE);
	assert_int_equal(cellq_sendable(&q, VX6_CELL_SIZE - 1), 0);  /* less than a cell */
	assert_int_equal(cellq_sendable(&q, 5000), 2 * VX6_CELL_SIZE);
	assert_int_equal(cellq_sendable(&q, 1 << 20), CELLQ_CELLS_PER_CHUNK * VX6_CELL_SIZE);
	assert_null(cellq_take(&q, 0));
	assert_null(cellq_take(&q, 32 * VX6_CELL_SIZE));             /* more than the head chunk */
	seq = expect_cells(cellq_take(&q, cellq_sendable(&q, 5000)), seq);
	assert_int_equal(q.bytes, 38 * VX6_CELL_SIZE);
	assert_int_equal(q.count, 2);
	seq = expect_cells(cellq_take(&q, cellq_sendable(&q, 1 << 20)), seq);   /* the rest of chunk 1 */
	assert_int_equal(q.count, 1);
	seq = expect_cells(cellq_take(&q, cellq_sendable(&q, 1 << 20)), seq);
	assert_int_equal(seq, 40);
	assert_int_equal(q.count, 0);
	assert_int_equal(q.bytes, 0);
}

/* Cells pushed after a partial take land behind the ones left, in a new
 * chunk once the old one's own room is used up (regression: the room freed
 * at its front was counted as room behind it, and cells were written past
 * its end). Random credit sizes, order checked to the last cell. */
static void
test_push_after_partial_take(void **state)
{
	struct vx6_chunkq q;
	uint32_t pushed = 0, seq = 0;
	uint64_t rng = 0x5eed;

	(void)state;
	vx6_chunkq_init(&q);
	for (int round = 0; round < 2000; round++) {
		unsigned n = (unsigned)((rng = rng * 6364136223846793005ULL + 1442695040888963407ULL) >> 59);
		size_t credit = (size_t)((rng >> 20) % (40 * VX6_CELL_SIZE));
		size_t len;

		for (unsigned i = 0; i < n; i++) {
			push(&q, pushed++);
			assert_true(q.tail->off + q.tail->len + VX6_SESSION_TAILROOM <= q.tail->cap);
		}
		len = cellq_sendable(&q, credit);
		assert_true(len <= credit);
		if (len > 0)
			seq = expect_cells(cellq_take(&q, len), seq);
		assert_int_equal(q.bytes, (size_t)(pushed - seq) * VX6_CELL_SIZE);
	}
	while (q.head != NULL)
		seq = expect_cells(cellq_take(&q, cellq_sendable(&q, 1 << 20)), seq);
	assert_int_equal(seq, pushed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_cells_within_credit),
		cmocka_unit_test(test_push_after_partial_take),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
