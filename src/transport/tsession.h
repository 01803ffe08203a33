/*
 * tsession — the one session interface the node uses, whatever carries it:
 * a VX6 session over TCP (core/session: Noise + records + mux) or a QUIC
 * connection (transport/quic: TLS 1.3 + native streams).
 *
 * Everything above this interface (forwards, relays, circuits, the DHT and
 * sync RPCs, status) works on streams, credit, RPC messages and session
 * info, and never asks which transport is underneath. Only the link's I/O
 * path differs (bytes over a connected socket vs datagrams on a shared UDP
 * socket); it reaches the concrete object with vx6_ts_tcp() / vx6_ts_quic().
 *
 * Ownership: a tsession owns the session or connection it wraps and frees
 * it in vx6_ts_free(). Callbacks are the struct vx6_session_cbs given when
 * the wrapped object was created, with the same rules (see session.h).
 */
#ifndef VX6_TRANSPORT_TSESSION_H
#define VX6_TRANSPORT_TSESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/session.h"
#include "lib/addr.h"
#include "lib/chunk.h"

struct vx6_quic;

struct vx6_tsession_ops {
	enum vx6_transport kind;
	const char *name;                     /* "tcp", "quic" */
	void (*free)(void *impl);
	int (*open)(void *impl, const char *service, uint32_t *sid);
	int (*accept)(void *impl, uint32_t sid);
	size_t (*credit)(const void *impl, uint32_t sid);
	void (*want_writable)(void *impl, uint32_t sid);
	int (*send)(void *impl, uint32_t sid, struct vx6_chunk *c);
	int (*fin)(void *impl, uint32_t sid);
	int (*reset)(void *impl, uint32_t sid, uint16_t code, const char *reason);
	int (*consumed)(void *impl, uint32_t sid, size_t n);
	bool (*stream_exists)(const void *impl, uint32_t sid);
	int (*send_rpc)(void *impl, const uint8_t *msg, size_t len);
	void (*info)(const void *impl, struct vx6_session_info *info);
	const uint8_t *(*presented_key)(const void *impl);
	uint64_t (*expiry)(const void *impl);
	int (*handle_expiry)(void *impl, uint64_t now);
	void (*close)(void *impl, uint16_t code, const char *reason);
	bool (*is_closed)(const void *impl);
	bool (*is_established)(const void *impl);
};

struct vx6_tsession {
	const struct vx6_tsession_ops *ops;
	void *impl;
};

/* Wrap (take) a session / connection; NULL in gives NULL, as does OOM (the
 * object is then freed). */
struct vx6_tsession *vx6_ts_wrap_tcp(struct vx6_session *s);
struct vx6_tsession *vx6_ts_wrap_quic(struct vx6_quic *q);
/* Frees the wrapper and what it wraps; NULL is a no-op. No callbacks. */
void vx6_ts_free(struct vx6_tsession *ts);

/* The concrete object for the link's I/O path; NULL if of the other kind. */
struct vx6_session *vx6_ts_tcp(struct vx6_tsession *ts);
struct vx6_quic *vx6_ts_quic(struct vx6_tsession *ts);

static inline enum vx6_transport vx6_ts_kind(const struct vx6_tsession *ts) { return ts->ops->kind; }
static inline const char *vx6_ts_name(const struct vx6_tsession *ts) { return ts->ops->name; }

static inline int
vx6_ts_open(struct vx6_tsession *ts, const char *service, uint32_t *sid)
{
	return ts->ops->open(ts->impl, service, sid);
}
static inline int vx6_ts_accept(struct vx6_tsession *ts, uint32_t sid) { return ts->ops->accept(ts->impl, sid); }
static inline size_t
vx6_ts_credit(const struct vx6_tsession *ts, uint32_t sid)
{
	return ts->ops->credit(ts->impl, sid);
}
/* on_writable for sid also when its credit grows without having run out:
 * for a caller that needs more than the credit it has (see mux.h). */
static inline void
vx6_ts_want_writable(struct vx6_tsession *ts, uint32_t sid)
{
	ts->ops->want_writable(ts->impl, sid);
}
/* Takes c (best with VX6_SESSION_HEADROOM/TAILROOM around the data). */
static inline int
vx6_ts_send(struct vx6_tsession *ts, uint32_t sid, struct vx6_chunk *c)
{
	return ts->ops->send(ts->impl, sid, c);
}
static inline int vx6_ts_fin(struct vx6_tsession *ts, uint32_t sid) { return ts->ops->fin(ts->impl, sid); }
static inline int
vx6_ts_reset(struct vx6_tsession *ts, uint32_t sid, uint16_t code, const char *reason)
{
	return ts->ops->reset(ts->impl, sid, code, reason);
}
static inline int
vx6_ts_consumed(struct vx6_tsession *ts, uint32_t sid, size_t n)
{
	return ts->ops->consumed(ts->impl, sid, n);
}
static inline bool
vx6_ts_stream_exists(const struct vx6_tsession *ts, uint32_t sid)
{
	return ts->ops->stream_exists(ts->impl, sid);
}
static inline int
vx6_ts_send_rpc(struct vx6_tsession *ts, const uint8_t *msg, size_t len)
{
	return ts->ops->send_rpc(ts->impl, msg, len);
}
static inline void
vx6_ts_info(const struct vx6_tsession *ts, struct vx6_session_info *info)
{
	ts->ops->info(ts->impl, info);
}
static inline const uint8_t *
vx6_ts_presented_key(const struct vx6_tsession *ts)
{
	return ts->ops->presented_key(ts->impl);
}
static inline uint64_t vx6_ts_expiry(const struct vx6_tsession *ts) { return ts->ops->expiry(ts->impl); }
static inline int
vx6_ts_handle_expiry(struct vx6_tsession *ts, uint64_t now)
{
	return ts->ops->handle_expiry(ts->impl, now);
}
static inline void
vx6_ts_close(struct vx6_tsession *ts, uint16_t code, const char *reason)
{
	ts->ops->close(ts->impl, code, reason);
}
static inline bool vx6_ts_is_closed(const struct vx6_tsession *ts) { return ts->ops->is_closed(ts->impl); }
static inline bool
vx6_ts_is_established(const struct vx6_tsession *ts)
{
	return ts->ops->is_established(ts->impl);
}

#endif
