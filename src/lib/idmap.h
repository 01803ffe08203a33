/*
 * idmap — an open-addressing hash map from non-zero uint64 ids to pointers.
 *
 * Used for stream tables and the node's connection table. The map does not
 * own the values. Deleting during iteration is allowed (iteration may then
 * skip or revisit nothing: entries keep their slots until a resize, and a
 * resize happens only on put).
 */
#ifndef VX6_LIB_IDMAP_H
#define VX6_LIB_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct vx6_idmap {
	uint64_t *keys;   /* 0 = empty, UINT64_MAX = deleted */
	void **vals;
	size_t cap;       /* power of two, or 0 */
	size_t count;
	size_t used;      /* count + tombstones */
};

void vx6_idmap_init(struct vx6_idmap *m);
void vx6_idmap_free(struct vx6_idmap *m);   /* frees the table, not the values */
/* Inserts or replaces. key must not be 0 or UINT64_MAX. Returns 0 or VX6_ERR_NOMEM. */
int vx6_idmap_put(struct vx6_idmap *m, uint64_t key, void *val);
void *vx6_idmap_get(const struct vx6_idmap *m, uint64_t key);
/* Removes and returns the value, or NULL. */
void *vx6_idmap_del(struct vx6_idmap *m, uint64_t key);
/* Iterates: start with *pos = 0; returns the next value or NULL at the end. */
void *vx6_idmap_next(const struct vx6_idmap *m, size_t *pos, uint64_t *key);

#endif
