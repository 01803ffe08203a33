#include "core/sync.h"

#include "lib/cursor.h"
#include "lib/err.h"

int
vx6_sync_parse(const uint8_t *p, size_t len, struct vx6_sync_msg *m)
{
	struct vx6_reader r;
	uint8_t count;

	vx6_reader_init(&r, p, len);
	m->kind = vx6_read_u8(&r);
	m->n = 0;
	m->max = 0;
	switch (m->kind) {
	case VX6_SYNC_RECORD:
		count = 1;
		break;
	case VX6_SYNC_PEERS_REQ:
		m->max = vx6_read_u8(&r);
		if (m->max == 0 || m->max > VX6_SYNC_MAX_PEERS)
			return VX6_ERR_MALFORMED;
		return vx6_reader_finish(&r) == 0 ? 0 : VX6_ERR_MALFORMED;
	case VX6_SYNC_PEERS:
		count = vx6_read_u8(&r);
		if (count > VX6_SYNC_MAX_PEERS)
			return VX6_ERR_MALFORMED;
		break;
	default:
		return VX6_ERR_MALFORMED;
	}
	for (unsigned i = 0; i < count; i++) {
		uint16_t l = vx6_read_u16(&r);
		const uint8_t *rec;
		if (l == 0 || l > VX6_RECORD_MAX_LEN)
			return VX6_ERR_MALFORMED;
		rec = vx6_read_ptr(&r, l);
		if (rec == NULL)
			return VX6_ERR_MALFORMED;
		m->recs[m->n] = rec;
		m->lens[m->n++] = l;
	}
	return vx6_reader_finish(&r) == 0 ? 0 : VX6_ERR_MALFORMED;
}

int
vx6_sync_build_record(const uint8_t *rec, size_t reclen, uint8_t *out, size_t cap)
{
	struct vx6_writer w;

	if (reclen == 0 || reclen > VX6_RECORD_MAX_LEN)
		return VX6_ERR_INVAL;
	vx6_writer_init(&w, out, cap);
	vx6_write_u8(&w, VX6_RPC_PROTO_SYNC);
	vx6_write_u8(&w, VX6_SYNC_RECORD);
	vx6_write_u16(&w, (uint16_t)reclen);
	vx6_write_bytes(&w, rec, reclen);
	return w.err ? w.err : (int)w.off;
}

int
vx6_sync_build_peers_req(uint8_t max, uint8_t *out, size_t cap)
{
	struct vx6_writer w;

	if (max == 0 || max > VX6_SYNC_MAX_PEERS)
		return VX6_ERR_INVAL;
	vx6_writer_init(&w, out, cap);
	vx6_write_u8(&w, VX6_RPC_PROTO_SYNC);
	vx6_write_u8(&w, VX6_SYNC_PEERS_REQ);
	vx6_write_u8(&w, max);
	return w.err ? w.err : (int)w.off;
}

int
vx6_sync_build_peers(const uint8_t *const *recs, const size_t *lens, unsigned n, uint8_t *out, size_t cap)
{
	struct vx6_writer w;

	if (n > VX6_SYNC_MAX_PEERS)
		return VX6_ERR_INVAL;
	vx6_writer_init(&w, out, cap);
	vx6_write_u8(&w, VX6_RPC_PROTO_SYNC);
	vx6_write_u8(&w, VX6_SYNC_PEERS);
	vx6_write_u8(&w, (uint8_t)n);
	for (unsigned i = 0; i < n; i++) {
		if (lens[i] == 0 || lens[i] > VX6_RECORD_MAX_LEN)
			return VX6_ERR_INVAL;
		vx6_write_u16(&w, (uint16_t)lens[i]);
		vx6_write_bytes(&w, recs[i], lens[i]);
	}
	return w.err ? w.err : (int)w.off;
}
