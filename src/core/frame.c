#include "core/frame.h"

#include <stdbool.h>

#include "lib/err.h"

const char *
vx6_reset_code_name(unsigned code)
{
	switch (code) {
	case VX6_CLOSE_NORMAL: return "normal close";
	case VX6_RESET_UNKNOWN_SERVICE: return "unknown service";
	case VX6_RESET_NOT_ALLOWED: return "not allowed";
	case VX6_RESET_TARGET_UNREACHABLE: return "target unreachable";
	case VX6_RESET_TARGET_ABORTED: return "target aborted";
	case VX6_RESET_CANCEL: return "cancelled";
	case VX6_RESET_LIMIT: return "limit reached";
	case VX6_RESET_SESSION_LOST: return "session lost";
	case VX6_RESET_PROTOCOL: return "protocol error";
	case VX6_RESET_INTERNAL: return "internal error";
	}
	return "unknown code";
}

void
vx6_frame_header_put(uint8_t out[VX6_FRAME_HEADER_LEN], uint8_t type, uint8_t flags,
    uint16_t length, uint32_t stream_id)
{
	out[0] = type;
	out[1] = flags;
	vx6_put_u16(out + 2, length);
	vx6_put_u32(out + 4, stream_id);
}

int
vx6_frame_read(struct vx6_reader *r, struct vx6_frame *f)
{
	bool stream_frame;
	uint8_t allowed_flags = 0;
	size_t minlen = 0, maxlen = 0;

	f->type = vx6_read_u8(r);
	f->flags = vx6_read_u8(r);
	f->length = vx6_read_u16(r);
	f->stream_id = vx6_read_u32(r);
	if (r->err)
		return r->err;
	switch (f->type) {
	case VX6_FRAME_DATA:
		stream_frame = true; allowed_flags = VX6_FRAME_FLAG_FIN; maxlen = VX6_FRAME_MAX_DATA;
		break;
	case VX6_FRAME_OPEN:
		stream_frame = true; minlen = 2; maxlen = 1 + VX6_FRAME_MAX_SERVICE;
		break;
	case VX6_FRAME_ACCEPT:
		stream_frame = true;
		break;
	case VX6_FRAME_RESET:
		stream_frame = true; minlen = 2; maxlen = 2 + VX6_FRAME_MAX_REASON;
		break;
	case VX6_FRAME_WINDOW:
		stream_frame = false; minlen = maxlen = 4;   /* stream id may be 0 or not */
		break;
	case VX6_FRAME_PING:
		stream_frame = false; allowed_flags = VX6_FRAME_FLAG_ACK; minlen = maxlen = 8;
		break;
	case VX6_FRAME_REKEY:
		stream_frame = false;
		break;
	case VX6_FRAME_GOAWAY:
		stream_frame = false; minlen = 2; maxlen = 2 + VX6_FRAME_MAX_REASON;
		break;
	case VX6_FRAME_RPC:
		stream_frame = false; minlen = 1; maxlen = VX6_FRAME_MAX_RPC;
		break;
	default:
		return VX6_ERR_MALFORMED;
	}
	if (f->flags & ~allowed_flags)
		return VX6_ERR_MALFORMED;
	if (f->length < minlen || f->length > maxlen)
		return VX6_ERR_MALFORMED;
	if (stream_frame && f->stream_id == 0)
		return VX6_ERR_MALFORMED;
	if (!stream_frame && f->type != VX6_FRAME_WINDOW && f->stream_id != 0)
		return VX6_ERR_MALFORMED;
	f->payload = vx6_read_ptr(r, f->length);
	if (f->payload == NULL && f->length)
		return VX6_ERR_MALFORMED;   /* a frame never spans records */
	return 0;
}

int
vx6_frame_parse_reason(const struct vx6_frame *f, uint16_t *code, char reason[VX6_FRAME_MAX_REASON + 1])
{
	size_t n;

	if (f->length < 2 || f->length > 2 + VX6_FRAME_MAX_REASON)
		return VX6_ERR_MALFORMED;
	*code = vx6_get_u16(f->payload);
	n = f->length - 2u;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = f->payload[2 + i];
		reason[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	reason[n] = '\0';
	return 0;
}
