/*
 * test_idmap — lib/idmap checked against a naive reference model (a plain
 * array of present/absent slots) under random put/get/del, through growth,
 * shrinking and tombstones, including deletion during iteration.
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
#include <sodium.h>

#include "lib/env.h"
#include "lib/err.h"
#include "lib/idmap.h"
#include "testutil.h"

#define NKEYS 3000

/* The reference: key i of keys[] is present iff present[i]; its value is
 * &vals[i][gen[i] % 2] so that a replaced value is distinguishable. */
struct model {
	uint64_t keys[NKEYS];
	bool present[NKEYS];
	unsigned gen[NKEYS];
	char vals[NKEYS][2];
	size_t count;
};

static struct model M;

static void *
model_val(size_t i)
{
	return &M.vals[i][M.gen[i] % 2];
}

/* Fills M.keys with distinct keys, never 0 or UINT64_MAX: the first half
 * sequential (as stream ids are), the rest random 64-bit values, some with
 * only high bits set. */
static void
model_init(struct vx6_det_rng *rng)
{
	memset(&M, 0, sizeof(M));
	for (size_t i = 0; i < NKEYS; i++) {
		uint64_t k;
		bool dup;

		do {
			if (i < NKEYS / 2)
				k = i + 1;
			else if (i % 4 == 0)
				k = vx6_det_rng_u64(rng) << 40;
			else
				k = vx6_det_rng_u64(rng);
			dup = k == 0 || k == UINT64_MAX;
			for (size_t j = 0; !dup && j < i; j++)
				dup = M.keys[j] == k;
		} while (dup);
		M.keys[i] = k;
	}
}

/* The model index a value pointer belongs to (values encode their index). */
static size_t
model_index_of_val(const void *v)
{
	const char *base = &M.vals[0][0], *p = v;

	if (p < base || p >= base + sizeof(M.vals))
		return SIZE_MAX;
	return (size_t)(p - base) / 2;
}

/* The map holds exactly the model: count, every lookup, and an iteration
 * that visits each present key once with its value. */
static void
check_full(const struct vx6_idmap *m)
{
	static bool seen[NKEYS];
	size_t pos = 0, visited = 0;
	uint64_t key;
	void *v;

	assert_int_equal(m->count, M.count);
	memset(seen, 0, sizeof(seen));
	while ((v = vx6_idmap_next(m, &pos, &key)) != NULL) {
		size_t i = model_index_of_val(v);
		assert_true(i != SIZE_MAX);
		assert_true(M.keys[i] == key);
		assert_true(M.present[i]);
		assert_false(seen[i]);
		assert_ptr_equal(v, model_val(i));
		seen[i] = true;
		visited++;
	}
	assert_int_equal(visited, M.count);
	for (size_t i = 0; i < NKEYS; i++)
		assert_ptr_equal(vx6_idmap_get(m, M.keys[i]), M.present[i] ? model_val(i) : NULL);
	if (m->cap)
		assert_int_equal(m->cap & (m->cap - 1), 0);
}

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

/* 100k random put/get/del agree with the model at every step, through
 * growth from empty, churn with tombstones, and shrink phases. */
static void
test_random_against_model(void **state)
{
	enum { OPS = 100000 };
	struct vx6_det_rng rng;
	struct vx6_idmap m;
	size_t max_count = 0;

	(void)state;
	vx6_det_rng_init(&rng, tu_seed());
	model_init(&rng);
	vx6_idmap_init(&m);
	for (int op = 0; op < OPS; op++) {
		uint64_t r = vx6_det_rng_u64(&rng);
		size_t i = (size_t)((r >> 32) % NKEYS);
		/* phases of 10k ops alternately favour puts and deletes */
		unsigned put_pct = (op / 10000) % 2 == 0 ? 60 : 25;
		unsigned roll = (unsigned)(r % 100);

		if (roll < put_pct) {
			if (M.present[i])
				M.gen[i]++;                      /* replace */
			else
				M.count++;
			M.present[i] = true;
			assert_int_equal(vx6_idmap_put(&m, M.keys[i], model_val(i)), 0);
		} else if (roll < put_pct + 25) {
			void *want = M.present[i] ? model_val(i) : NULL;
			assert_ptr_equal(vx6_idmap_del(&m, M.keys[i]), want);
			if (M.present[i])
				M.count--;
			M.present[i] = false;
		} else {
			assert_ptr_equal(vx6_idmap_get(&m, M.keys[i]), M.present[i] ? model_val(i) : NULL);
		}
		assert_int_equal(m.count, M.count);
		assert_true(m.used >= m.count);
		assert_true(m.cap == 0 || m.used < m.cap);   /* an empty slot ends every probe */
		if (M.count > max_count)
			max_count = M.count;
		if (op % 2500 == 0)
			check_full(&m);
	}
	check_full(&m);
	assert_true(max_count > 1000);   /* the table did grow well past its first size */
	vx6_idmap_free(&m);
	assert_int_equal(m.cap, 0);
	assert_int_equal(m.count, 0);
}

/* Deleting the current entry during iteration visits every key exactly
 * once and leaves the map empty. */
static void
test_delete_current_during_iteration(void **state)
{
	static char vals[1000];
	static bool seen[1000];
	struct vx6_idmap m;
	size_t pos = 0, visited = 0;
	uint64_t key;
	void *v;

	(void)state;
	vx6_idmap_init(&m);
	memset(seen, 0, sizeof(seen));
	for (uint64_t k = 1; k <= 1000; k++)
		assert_int_equal(vx6_idmap_put(&m, k * 977, &vals[k - 1]), 0);
	while ((v = vx6_idmap_next(&m, &pos, &key)) != NULL) {
		size_t i = (size_t)(key / 977 - 1);
		assert_true(key % 977 == 0 && i < 1000);
		assert_false(seen[i]);
		assert_ptr_equal(v, &vals[i]);
		seen[i] = true;
		visited++;
		assert_ptr_equal(vx6_idmap_del(&m, key), v);
	}
	assert_int_equal(visited, 1000);
	assert_int_equal(m.count, 0);
	for (uint64_t k = 1; k <= 1000; k++)
		assert_null(vx6_idmap_get(&m, k * 977));
	vx6_idmap_free(&m);
}

/* Deleting other entries during iteration (random ones, some already
 * visited, some not) never makes the iteration revisit a key, never yields
 * a deleted key, and still yields every key that was never deleted. */
static void
test_delete_others_during_iteration(void **state)
{
	enum { N = 2000 };
	static char vals[N];
	static bool seen[N], deleted[N];
	struct vx6_det_rng rng;
	struct vx6_idmap m;
	size_t pos = 0;
	uint64_t key;
	void *v;

	(void)state;
	vx6_det_rng_init(&rng, tu_seed());
	vx6_idmap_init(&m);
	memset(seen, 0, sizeof(seen));
	memset(deleted, 0, sizeof(deleted));
	for (uint64_t k = 1; k <= N; k++)
		assert_int_equal(vx6_idmap_put(&m, k, &vals[k - 1]), 0);
	while ((v = vx6_idmap_next(&m, &pos, &key)) != NULL) {
		size_t i = (size_t)(key - 1), j;
		assert_true(i < N);
		assert_false(seen[i]);
		assert_false(deleted[i]);
		assert_ptr_equal(v, &vals[i]);
		seen[i] = true;
		for (int d = 0; d < 2; d++) {
			j = (size_t)(vx6_det_rng_u64(&rng) % N);
			assert_ptr_equal(vx6_idmap_del(&m, j + 1), deleted[j] ? NULL : &vals[j]);
			deleted[j] = true;
		}
	}
	for (size_t i = 0; i < N; i++) {
		if (!deleted[i])
			assert_true(seen[i]);
		assert_ptr_equal(vx6_idmap_get(&m, i + 1), deleted[i] ? NULL : &vals[i]);
	}
	vx6_idmap_free(&m);
}

/* Keys 0 and UINT64_MAX (the empty and tombstone markers) are rejected by
 * put and never found, and do not disturb the map. */
static void
test_reserved_keys(void **state)
{
	struct vx6_idmap m;
	int x, y;
	size_t pos = 0;

	(void)state;
	vx6_idmap_init(&m);
	assert_null(vx6_idmap_get(&m, 1));               /* empty table */
	assert_null(vx6_idmap_del(&m, 1));
	assert_null(vx6_idmap_next(&m, &pos, NULL));
	assert_int_equal(vx6_idmap_put(&m, 0, &x), VX6_ERR_INVAL);
	assert_int_equal(vx6_idmap_put(&m, UINT64_MAX, &x), VX6_ERR_INVAL);
	assert_int_equal(m.count, 0);
	assert_int_equal(vx6_idmap_put(&m, 5, &y), 0);
	assert_int_equal(vx6_idmap_put(&m, 0, &x), VX6_ERR_INVAL);
	assert_int_equal(vx6_idmap_put(&m, UINT64_MAX, &x), VX6_ERR_INVAL);
	assert_null(vx6_idmap_get(&m, 0));
	assert_null(vx6_idmap_get(&m, UINT64_MAX));
	assert_null(vx6_idmap_del(&m, 0));
	assert_null(vx6_idmap_del(&m, UINT64_MAX));
	assert_int_equal(m.count, 1);
	/* UINT64_MAX - 1 is an ordinary key */
	assert_int_equal(vx6_idmap_put(&m, UINT64_MAX - 1, &x), 0);
	assert_ptr_equal(vx6_idmap_get(&m, UINT64_MAX - 1), &x);
	assert_ptr_equal(vx6_idmap_get(&m, 5), &y);
	assert_int_equal(m.count, 2);
	vx6_idmap_free(&m);
	vx6_idmap_free(&m);   /* freeing a freed (zeroed) map is harmless */
}

/* Put on an existing key replaces the value without adding an entry. */
static void
test_replace(void **state)
{
	struct vx6_idmap m;
	int a, b;

	(void)state;
	vx6_idmap_init(&m);
	assert_int_equal(vx6_idmap_put(&m, 42, &a), 0);
	assert_int_equal(vx6_idmap_put(&m, 42, &b), 0);
	assert_int_equal(m.count, 1);
	assert_ptr_equal(vx6_idmap_get(&m, 42), &b);
	assert_ptr_equal(vx6_idmap_del(&m, 42), &b);
	assert_null(vx6_idmap_del(&m, 42));
	assert_int_equal(m.count, 0);
	vx6_idmap_free(&m);
}

/* Endless put/del churn of fresh keys with at most one live entry (a
 * session opening and closing streams with ever-increasing ids) keeps the
 * table small: tombstones are reclaimed by rehashing, not by growing. */
static void
test_tombstone_churn_stays_small(void **state)
{
	struct vx6_idmap m;
	size_t max_cap = 0;
	int v;

	(void)state;
	vx6_idmap_init(&m);
	for (uint64_t k = 1; k <= 100000; k++) {
		assert_int_equal(vx6_idmap_put(&m, k, &v), 0);
		assert_ptr_equal(vx6_idmap_get(&m, k), &v);
		assert_ptr_equal(vx6_idmap_del(&m, k), &v);
		if (m.cap > max_cap)
			max_cap = m.cap;
	}
	assert_int_equal(m.count, 0);
	vx6_idmap_free(&m);
	/* Regression (fixed): this failed until vx6_idmap_put (src/lib/idmap.c:93-97) sizes the new table
	 * from the live count (start at 8, not at m->cap) and rehashes at the
	 * same size when only tombstones fill it; today every rehash doubles, so
	 * cap grows with the number of keys ever inserted (65536 here). */
	if (max_cap > 64)
		print_message("idmap grew to %zu slots for 1 live entry\n", max_cap);
	assert_true(max_cap <= 64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_delete_current_during_iteration),
		cmocka_unit_test(test_delete_others_during_iteration),
		cmocka_unit_test(test_reserved_keys),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_tombstone_churn_stays_small),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
