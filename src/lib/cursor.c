#include "lib/cursor.h"

#include <string.h>

#include "lib/err.h"

void
vx6_reader_init(struct vx6_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = p ? len : 0;
	r->off = 0;
	r->err = 0;
}

size_t
vx6_reader_left(const struct vx6_reader *r)
{
	return r->err ? 0 : r->len - r->off;
}

const uint8_t *
vx6_read_ptr(struct vx6_reader *r, size_t n)
{
	const uint8_t *q;

	if (r->err)
		return NULL;
	if (n > r->len - r->off) {
		r->err = VX6_ERR_INCOMPLETE;
		return NULL;
	}
	q = r->p + r->off;
	r->off += n;
	return q;
}

uint8_t
vx6_read_u8(struct vx6_reader *r)
{
	const uint8_t *q = vx6_read_ptr(r, 1);
	return q ? q[0] : 0;
}

uint16_t
vx6_read_u16(struct vx6_reader *r)
{
	const uint8_t *q = vx6_read_ptr(r, 2);
	return q ? vx6_get_u16(q) : 0;
}

uint32_t
vx6_read_u32(struct vx6_reader *r)
{
	const uint8_t *q = vx6_read_ptr(r, 4);
	return q ? vx6_get_u32(q) : 0;
}

uint64_t
vx6_read_u64(struct vx6_reader *r)
{
	const uint8_t *q = vx6_read_ptr(r, 8);
	return q ? vx6_get_u64(q) : 0;
}

void
vx6_read_bytes(struct vx6_reader *r, void *out, size_t n)
{
	const uint8_t *q = vx6_read_ptr(r, n);

	if (q)
		memcpy(out, q, n);
	else if (n)
		memset(out, 0, n);
}

int
vx6_reader_finish(const struct vx6_reader *r)
{
	if (r->err)
		return r->err;
	return r->off == r->len ? 0 : VX6_ERR_MALFORMED;
}

void
vx6_writer_init(struct vx6_writer *w, void *p, size_t cap)
{
	w->p = p;
	w->cap = p ? cap : 0;
	w->off = 0;
	w->err = 0;
}

static uint8_t *
writer_take(struct vx6_writer *w, size_t n)
{
	uint8_t *q;

	if (w->err)
		return NULL;
	if (n > w->cap - w->off) {
		w->err = VX6_ERR_TOO_LARGE;
		return NULL;
	}
	q = w->p + w->off;
	w->off += n;
	return q;
}

void
vx6_write_u8(struct vx6_writer *w, uint8_t v)
{
	uint8_t *q = writer_take(w, 1);
	if (q)
		q[0] = v;
}

void
vx6_write_u16(struct vx6_writer *w, uint16_t v)
{
	uint8_t *q = writer_take(w, 2);
	if (q)
		vx6_put_u16(q, v);
}

void
vx6_write_u32(struct vx6_writer *w, uint32_t v)
{
	uint8_t *q = writer_take(w, 4);
	if (q)
		vx6_put_u32(q, v);
}

void
vx6_write_u64(struct vx6_writer *w, uint64_t v)
{
	uint8_t *q = writer_take(w, 8);
	if (q)
		vx6_put_u64(q, v);
}

void
vx6_write_bytes(struct vx6_writer *w, const void *p, size_t n)
{
	uint8_t *q = writer_take(w, n);
	if (q && n)
		memcpy(q, p, n);
}
