/* tsession_quic — the session interface over QUIC connections (see
 * tsession.h and quic.h). */
#include "transport/tsession.h"

#include <stdlib.h>

#include "transport/quic.h"

/* Casts between the interface's void pointers and the QUIC connection. */
static struct vx6_quic *Q(void *p) { return p; }
static const struct vx6_quic *CQ(const void *p) { return p; }

static void quic_free(void *p) { vx6_quic_free(Q(p)); }
static int quic_open(void *p, const char *svc, uint32_t *sid) { return vx6_quic_open(Q(p), svc, sid); }
static int quic_accept(void *p, uint32_t sid) { return vx6_quic_accept_stream(Q(p), sid); }
static size_t quic_credit(const void *p, uint32_t sid) { return vx6_quic_credit(CQ(p), sid); }
static void quic_want_writable(void *p, uint32_t sid) { vx6_quic_want_writable(Q(p), sid); }
static int quic_send(void *p, uint32_t sid, struct vx6_chunk *c) { return vx6_quic_send(Q(p), sid, c); }
static int quic_fin(void *p, uint32_t sid) { return vx6_quic_fin(Q(p), sid); }
static int
quic_reset(void *p, uint32_t sid, uint16_t code, const char *reason)
{
	return vx6_quic_reset(Q(p), sid, code, reason);
}
static int quic_consumed(void *p, uint32_t sid, size_t n) { return vx6_quic_consumed(Q(p), sid, n); }
static bool quic_stream_exists(const void *p, uint32_t sid) { return vx6_quic_stream_exists(CQ(p), sid); }
static int
quic_send_rpc(void *p, const uint8_t *msg, size_t len)
{
	return vx6_quic_send_rpc(Q(p), msg, len);
}
static void quic_info(const void *p, struct vx6_session_info *i) { vx6_quic_info(CQ(p), i); }
static const uint8_t *quic_presented_key(const void *p) { return vx6_quic_presented_key(CQ(p)); }
static uint64_t quic_expiry(const void *p) { return vx6_quic_expiry(CQ(p)); }
static int quic_handle_expiry(void *p, uint64_t now) { return vx6_quic_handle_expiry(Q(p), now); }
static void
quic_close(void *p, uint16_t code, const char *reason)
{
	vx6_quic_close(Q(p), code, reason);
}
static bool quic_is_closed(const void *p) { return vx6_quic_is_closed(CQ(p)); }
static bool quic_is_established(const void *p) { return vx6_quic_is_established(CQ(p)); }

static const struct vx6_tsession_ops quic_ops = {
	.kind = VX6_TRANSPORT_QUIC,
	.name = "quic",
	.free = quic_free,
	.open = quic_open,
	.accept = quic_accept,
	.credit = quic_credit,
	.want_writable = quic_want_writable,
	.send = quic_send,
	.fin = quic_fin,
	.reset = quic_reset,
	.consumed = quic_consumed,
	.stream_exists = quic_stream_exists,
	.send_rpc = quic_send_rpc,
	.info = quic_info,
	.presented_key = quic_presented_key,
	.expiry = quic_expiry,
	.handle_expiry = quic_handle_expiry,
	.close = quic_close,
	.is_closed = quic_is_closed,
	.is_established = quic_is_established,
};

struct vx6_tsession *
vx6_ts_wrap_quic(struct vx6_quic *q)
{
	struct vx6_tsession *ts;

	if (q == NULL)
		return NULL;
	ts = malloc(sizeof(*ts));
	if (ts == NULL) {
		vx6_quic_free(q);
		return NULL;
	}
	ts->ops = &quic_ops;
	ts->impl = q;
	return ts;
}
