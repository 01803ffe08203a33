/*
 * chunk — heap byte blocks with head- and tailroom, and FIFO queues of them.
 *
 * Data moves through VX6 in chunks so that headers can be prepended and an
 * AEAD tag appended in place: a block read from a local socket is framed,
 * sealed and written without being copied. A chunk has exactly one owner at
 * a time; functions that take one say "takes" and free it on every path.
 */
#ifndef VX6_LIB_CHUNK_H
#define VX6_LIB_CHUNK_H

#include <stddef.h>
#include <stdint.h>

struct vx6_chunk {
	struct vx6_chunk *next;   /* queue link, owned by whichever queue holds it */
	uint32_t cap;             /* size of data[] */
	uint32_t off;             /* first valid byte */
	uint32_t len;             /* valid bytes */
	uint64_t tag;             /* free for the current owner's bookkeeping */
	uint8_t data[];
};

/* Allocates a chunk whose valid region is empty and starts after `headroom`
 * bytes, with `room` + `tailroom` bytes after it. Returns NULL on OOM.
 * Caller frees with vx6_chunk_free(). */
struct vx6_chunk *vx6_chunk_new(size_t headroom, size_t room, size_t tailroom);
/* Allocates a chunk holding a copy of p[0..n). */
struct vx6_chunk *vx6_chunk_copy(const void *p, size_t n, size_t headroom, size_t tailroom);
void vx6_chunk_free(struct vx6_chunk *c);   /* NULL is a no-op */

static inline uint8_t *vx6_chunk_ptr(struct vx6_chunk *c) { return c->data + c->off; }
static inline size_t vx6_chunk_headroom(const struct vx6_chunk *c) { return c->off; }
static inline size_t vx6_chunk_tailroom(const struct vx6_chunk *c) { return c->cap - c->off - c->len; }

/* Grows the valid region n bytes to the front; returns the new start, or
 * NULL when the headroom is too small. */
uint8_t *vx6_chunk_prepend(struct vx6_chunk *c, size_t n);
/* Drops n bytes from the front (n <= len). */
void vx6_chunk_consume(struct vx6_chunk *c, size_t n);

struct vx6_chunkq {
	struct vx6_chunk *head;
	struct vx6_chunk *tail;
	size_t bytes;             /* sum of len over the queue */
	size_t count;
};

void vx6_chunkq_init(struct vx6_chunkq *q);
/* Takes c. */
void vx6_chunkq_push(struct vx6_chunkq *q, struct vx6_chunk *c);
/* Returns the head (caller owns it) or NULL. */
struct vx6_chunk *vx6_chunkq_pop(struct vx6_chunkq *q);
/* Frees every chunk in the queue. */
void vx6_chunkq_clear(struct vx6_chunkq *q);

#endif
