/* cellq — cells waiting for hop-stream credit, shared by the circuit's
 * client side (circ.c) and by relays and exits (relay.c). Cells are packed
 * into chunks of up to CELLQ_CELLS_PER_CHUNK (one session record each) and
 * leave in whole cells, as many as the credit allows: a sender never waits
 * for more credit than the peer's stream window can ever give. */
#include "node/node_internal.h"

#include <string.h>

#include "lib/err.h"

int
cellq_push(struct vx6_chunkq *q, const uint8_t cell[VX6_CELL_SIZE])
{
	struct vx6_chunk *c = q->tail;

	/* By tailroom, not length: cellq_take may have consumed the front of
	 * the last chunk, and the room freed there is not usable behind it. */
	if (c == NULL || vx6_chunk_tailroom(c) < VX6_CELL_SIZE + VX6_SESSION_TAILROOM) {
		c = vx6_chunk_new(VX6_SESSION_HEADROOM, CELLQ_CELLS_PER_CHUNK * VX6_CELL_SIZE,
		    VX6_SESSION_TAILROOM);
		if (c == NULL)
			return VX6_ERR_NOMEM;
		vx6_chunkq_push(q, c);
	}
	memcpy(vx6_chunk_ptr(c) + c->len, cell, VX6_CELL_SIZE);
	c->len += VX6_CELL_SIZE;
	q->bytes += VX6_CELL_SIZE;
	return 0;
}

size_t
cellq_sendable(const struct vx6_chunkq *q, size_t credit)
{
	size_t whole = credit / VX6_CELL_SIZE * VX6_CELL_SIZE;

	if (q->head == NULL)
		return 0;
	return q->head->len < whole ? q->head->len : whole;
}

struct vx6_chunk *
cellq_take(struct vx6_chunkq *q, size_t len)
{
	struct vx6_chunk *c = q->head, *part;

	if (c == NULL || len == 0 || len > c->len)
		return NULL;
	if (len == c->len)
		return vx6_chunkq_pop(q);
	/* Part of the head chunk: copied out, the rest stays in place. */
	part = vx6_chunk_copy(vx6_chunk_ptr(c), len, VX6_SESSION_HEADROOM, VX6_SESSION_TAILROOM);
	if (part == NULL)
		return NULL;
	vx6_chunk_consume(c, len);
	q->bytes -= len;
	return part;
}
