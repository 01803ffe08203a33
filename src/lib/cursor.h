/*
 * cursor — bounded reader and writer over caller-owned bytes.
 *
 * Every read checks the remaining length first; the first failure makes the
 * cursor sticky (every later call fails fast with the same error), so a parser
 * can read a whole message and check once. Multi-byte integers are big-endian.
 * Neither type owns its memory.
 */
#ifndef VX6_LIB_CURSOR_H
#define VX6_LIB_CURSOR_H

#include <stddef.h>
#include <stdint.h>

struct vx6_reader {
	const uint8_t *p;   /* borrowed */
	size_t len;
	size_t off;
	int err;            /* sticky; VX6_ERR_INCOMPLETE when a read ran past the end */
};

struct vx6_writer {
	uint8_t *p;         /* borrowed */
	size_t cap;
	size_t off;
	int err;            /* sticky; VX6_ERR_TOO_LARGE when a write did not fit */
};

void vx6_reader_init(struct vx6_reader *r, const void *p, size_t len);
size_t vx6_reader_left(const struct vx6_reader *r);
uint8_t vx6_read_u8(struct vx6_reader *r);
uint16_t vx6_read_u16(struct vx6_reader *r);
uint32_t vx6_read_u32(struct vx6_reader *r);
uint64_t vx6_read_u64(struct vx6_reader *r);
/* Copies n bytes out; on failure fills out with zeros. */
void vx6_read_bytes(struct vx6_reader *r, void *out, size_t n);
/* Returns a pointer into the reader's buffer for n bytes, or NULL. */
const uint8_t *vx6_read_ptr(struct vx6_reader *r, size_t n);
/* 0 when all reads succeeded and nothing is left; VX6_ERR_MALFORMED on
 * trailing bytes; otherwise the sticky error. */
int vx6_reader_finish(const struct vx6_reader *r);

void vx6_writer_init(struct vx6_writer *w, void *p, size_t cap);
void vx6_write_u8(struct vx6_writer *w, uint8_t v);
void vx6_write_u16(struct vx6_writer *w, uint16_t v);
void vx6_write_u32(struct vx6_writer *w, uint32_t v);
void vx6_write_u64(struct vx6_writer *w, uint64_t v);
void vx6_write_bytes(struct vx6_writer *w, const void *p, size_t n);

/* Raw big-endian helpers for fixed positions. */
static inline void vx6_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline uint16_t vx6_get_u16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline void vx6_put_u32(uint8_t *p, uint32_t v)
{ p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }
static inline uint32_t vx6_get_u32(const uint8_t *p)
{ return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }
static inline void vx6_put_u64(uint8_t *p, uint64_t v) { vx6_put_u32(p, (uint32_t)(v >> 32)); vx6_put_u32(p + 4, (uint32_t)v); }
static inline uint64_t vx6_get_u64(const uint8_t *p) { return ((uint64_t)vx6_get_u32(p) << 32) | vx6_get_u32(p + 4); }

#endif
