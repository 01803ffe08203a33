#include "lib/idmap.h"

#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define TOMB UINT64_MAX

static size_t
slot_of(uint64_t key, size_t cap)
{
	/* Fibonacci hashing spreads sequential ids. */
	return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 17) & (cap - 1);
}

void
vx6_idmap_init(struct vx6_idmap *m)
{
	memset(m, 0, sizeof(*m));
}

void
vx6_idmap_free(struct vx6_idmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

static int
resize(struct vx6_idmap *m, size_t cap)
{
	struct vx6_idmap n = { 0 };

	n.keys = calloc(cap, sizeof(*n.keys));
	n.vals = calloc(cap, sizeof(*n.vals));
	if (n.keys == NULL || n.vals == NULL) {
		free(n.keys);
		free(n.vals);
		return VX6_ERR_NOMEM;
	}
	n.cap = cap;
	for (size_t i = 0; i < m->cap; i++) {
		uint64_t k = m->keys[i];
		if (k != 0 && k != TOMB) {
			size_t j = slot_of(k, cap);
			while (n.keys[j] != 0)
				j = (j + 1) & (cap - 1);
			n.keys[j] = k;
			n.vals[j] = m->vals[i];
			n.count++;
		}
	}
	n.used = n.count;
	free(m->keys);
	free(m->vals);
	*m = n;
	return 0;
}

static size_t
find(const struct vx6_idmap *m, uint64_t key)
{
	size_t i;

	if (m->cap == 0)
		return SIZE_MAX;
	i = slot_of(key, m->cap);
	for (size_t probes = 0; probes < m->cap; probes++) {
		if (m->keys[i] == key)
			return i;
		if (m->keys[i] == 0)
			return SIZE_MAX;
		i = (i + 1) & (m->cap - 1);
	}
	return SIZE_MAX;
}

int
vx6_idmap_put(struct vx6_idmap *m, uint64_t key, void *val)
{
	size_t i;

	if (key == 0 || key == TOMB)
		return VX6_ERR_INVAL;
	i = find(m, key);
	if (i != SIZE_MAX) {
		m->vals[i] = val;
		return 0;
	}
	if ((m->used + 1) * 4 >= m->cap * 3) {
		/* Sized from the live entries: a rehash at the same size clears
		 * tombstones, so churn does not grow the table. */
		size_t cap = 8;
		while ((m->count + 1) * 2 >= cap)
			cap *= 2;
		if (resize(m, cap) != 0)
			return VX6_ERR_NOMEM;
	}
	i = slot_of(key, m->cap);
	while (m->keys[i] != 0 && m->keys[i] != TOMB)
		i = (i + 1) & (m->cap - 1);
	if (m->keys[i] == 0)
		m->used++;
	m->keys[i] = key;
	m->vals[i] = val;
	m->count++;
	return 0;
}

void *
vx6_idmap_get(const struct vx6_idmap *m, uint64_t key)
{
	size_t i;

	if (key == 0 || key == TOMB)
		return NULL;
	i = find(m, key);
	return i == SIZE_MAX ? NULL : m->vals[i];
}

void *
vx6_idmap_del(struct vx6_idmap *m, uint64_t key)
{
	size_t i;
	void *v;

	if (key == 0 || key == TOMB)
		return NULL;
	i = find(m, key);
	if (i == SIZE_MAX)
		return NULL;
	v = m->vals[i];
	m->keys[i] = TOMB;
	m->vals[i] = NULL;
	m->count--;
	return v;
}

void *
vx6_idmap_next(const struct vx6_idmap *m, size_t *pos, uint64_t *key)
{
	while (*pos < m->cap) {
		size_t i = (*pos)++;
		if (m->keys[i] != 0 && m->keys[i] != TOMB) {
			if (key)
				*key = m->keys[i];
			return m->vals[i];
		}
	}
	return NULL;
}
