/* tsession — the session interface over TCP sessions (see tsession.h). The
 * QUIC side of the interface lives in tsession_quic.c. */
#include "transport/tsession.h"

#include <stdlib.h>

/* Casts between the interface's void pointers and the TCP session. */
static struct vx6_session *S(void *p) { return p; }
static const struct vx6_session *CS(const void *p) { return p; }

static void tcp_free(void *p) { vx6_session_free(S(p)); }
static int tcp_open(void *p, const char *svc, uint32_t *sid) { return vx6_session_open(S(p), svc, sid); }
static int tcp_accept(void *p, uint32_t sid) { return vx6_session_accept(S(p), sid); }
static size_t tcp_credit(const void *p, uint32_t sid) { return vx6_session_credit(CS(p), sid); }
static void tcp_want_writable(void *p, uint32_t sid) { vx6_session_want_writable(S(p), sid); }
static int tcp_send(void *p, uint32_t sid, struct vx6_chunk *c) { return vx6_session_send(S(p), sid, c); }
static int tcp_fin(void *p, uint32_t sid) { return vx6_session_fin(S(p), sid); }
static int
tcp_reset(void *p, uint32_t sid, uint16_t code, const char *reason)
{
	return vx6_session_reset(S(p), sid, code, reason);
}
static int tcp_consumed(void *p, uint32_t sid, size_t n) { return vx6_session_consumed(S(p), sid, n); }
static bool tcp_stream_exists(const void *p, uint32_t sid) { return vx6_session_stream_exists(CS(p), sid); }
static int
tcp_send_rpc(void *p, const uint8_t *msg, size_t len)
{
	return vx6_session_send_rpc(S(p), msg, len);
}
static void tcp_info(const void *p, struct vx6_session_info *i) { vx6_session_info(CS(p), i); }
static const uint8_t *tcp_presented_key(const void *p) { return vx6_session_presented_key(CS(p)); }
static uint64_t tcp_expiry(const void *p) { return vx6_session_expiry(CS(p)); }
static int tcp_handle_expiry(void *p, uint64_t now) { return vx6_session_handle_expiry(S(p), now); }
static void
tcp_close(void *p, uint16_t code, const char *reason)
{
	vx6_session_close(S(p), code, reason);
}
static bool tcp_is_closed(const void *p) { return vx6_session_is_closed(CS(p)); }
static bool tcp_is_established(const void *p) { return vx6_session_is_established(CS(p)); }

static const struct vx6_tsession_ops tcp_ops = {
	.kind = VX6_TRANSPORT_TCP,
	.name = "tcp",
	.free = tcp_free,
	.open = tcp_open,
	.accept = tcp_accept,
	.credit = tcp_credit,
	.want_writable = tcp_want_writable,
	.send = tcp_send,
	.fin = tcp_fin,
	.reset = tcp_reset,
	.consumed = tcp_consumed,
	.stream_exists = tcp_stream_exists,
	.send_rpc = tcp_send_rpc,
	.info = tcp_info,
	.presented_key = tcp_presented_key,
	.expiry = tcp_expiry,
	.handle_expiry = tcp_handle_expiry,
	.close = tcp_close,
	.is_closed = tcp_is_closed,
	.is_established = tcp_is_established,
};

struct vx6_tsession *
vx6_ts_wrap_tcp(struct vx6_session *s)
{
	struct vx6_tsession *ts;

	if (s == NULL)
		return NULL;
	ts = malloc(sizeof(*ts));
	if (ts == NULL) {
		vx6_session_free(s);
		return NULL;
	}
	ts->ops = &tcp_ops;
	ts->impl = s;
	return ts;
}

void
vx6_ts_free(struct vx6_tsession *ts)
{
	if (ts == NULL)
		return;
	ts->ops->free(ts->impl);
	free(ts);
}

struct vx6_session *
vx6_ts_tcp(struct vx6_tsession *ts)
{
	return ts && ts->ops->kind == VX6_TRANSPORT_TCP ? ts->impl : NULL;
}

struct vx6_quic *
vx6_ts_quic(struct vx6_tsession *ts)
{
	return ts && ts->ops->kind == VX6_TRANSPORT_QUIC ? ts->impl : NULL;
}
