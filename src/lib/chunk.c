#include "lib/chunk.h"

#include <stdlib.h>
#include <string.h>

struct vx6_chunk *
vx6_chunk_new(size_t headroom, size_t room, size_t tailroom)
{
	struct vx6_chunk *c;
	size_t cap;

	if (headroom > UINT32_MAX || room > UINT32_MAX - headroom ||
	    tailroom > UINT32_MAX - headroom - room)
		return NULL;
	cap = headroom + room + tailroom;
	c = malloc(sizeof(*c) + cap);
	if (c == NULL)
		return NULL;
	c->next = NULL;
	c->cap = (uint32_t)cap;
	c->off = (uint32_t)headroom;
	c->len = 0;
	c->tag = 0;
	return c;
}

struct vx6_chunk *
vx6_chunk_copy(const void *p, size_t n, size_t headroom, size_t tailroom)
{
	struct vx6_chunk *c = vx6_chunk_new(headroom, n, tailroom);

	if (c == NULL)
		return NULL;
	if (n)
		memcpy(vx6_chunk_ptr(c), p, n);
	c->len = (uint32_t)n;
	return c;
}

void
vx6_chunk_free(struct vx6_chunk *c)
{
	free(c);
}

uint8_t *
vx6_chunk_prepend(struct vx6_chunk *c, size_t n)
{
	if (n > c->off)
		return NULL;
	c->off -= (uint32_t)n;
	c->len += (uint32_t)n;
	return c->data + c->off;
}

void
vx6_chunk_consume(struct vx6_chunk *c, size_t n)
{
	if (n > c->len)
		n = c->len;
	c->off += (uint32_t)n;
	c->len -= (uint32_t)n;
}

void
vx6_chunkq_init(struct vx6_chunkq *q)
{
	memset(q, 0, sizeof(*q));
}

void
vx6_chunkq_push(struct vx6_chunkq *q, struct vx6_chunk *c)
{
	c->next = NULL;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->bytes += c->len;
	q->count++;
}

struct vx6_chunk *
vx6_chunkq_pop(struct vx6_chunkq *q)
{
	struct vx6_chunk *c = q->head;

	if (c == NULL)
		return NULL;
	q->head = c->next;
	if (q->head == NULL)
		q->tail = NULL;
	c->next = NULL;
	q->bytes -= c->len;
	q->count--;
	return c;
}

void
vx6_chunkq_clear(struct vx6_chunkq *q)
{
	struct vx6_chunk *c;

	while ((c = vx6_chunkq_pop(q)) != NULL)
		vx6_chunk_free(c);
}
