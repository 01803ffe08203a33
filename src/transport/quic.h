/*
 * quic — VX6 sessions over QUIC (docs/PROTOCOL.md §15), on ngtcp2 0.12 and
 * GnuTLS: TLS 1.3 with self-signed certificates made from each node's
 * Ed25519 identity, ALPN "vx6/1", one native QUIC stream per VX6 stream.
 *
 * Owns two things:
 *  - struct vx6_quic_ep, one per UDP socket: routes received datagrams to
 *    their connection by connection ID, answers what needs no connection
 *    (version negotiation, Retry, stateless reset) and drops garbage without
 *    allocating; bounds half-open handshakes.
 *  - struct vx6_quic, one connection = one VX6 session: the same contract
 *    as core/session.h (streams opened to a service name, accepted before
 *    data flows, per-stream and per-connection credit, FIN, reset with a
 *    code and a reason, RPC messages outside any stream), plus unreliable
 *    datagrams.
 *
 * Pure state machines like session.h: datagrams in through
 * vx6_quic_ep_classify() / vx6_quic_recv(), datagrams out through
 * vx6_quic_write(), time always passed in (ns), vx6_quic_expiry() says when
 * to call vx6_quic_handle_expiry(). No sockets, no clocks, no threads.
 * Callbacks are struct vx6_session_cbs (same meaning as for TCP sessions);
 * they may call vx6_quic functions but must not free the connection.
 *
 * Ownership: the caller owns every vx6_quic and the ep, and frees each
 * connection (vx6_quic_free) before the ep it was created on.
 */
#ifndef VX6_TRANSPORT_QUIC_H
#define VX6_TRANSPORT_QUIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/session.h"
#include "crypto/identity.h"
#include "lib/addr.h"
#include "lib/chunk.h"
#include "lib/env.h"

#define VX6_QUIC_ALPN "vx6/1"
/* Largest datagram vx6_quic_write() produces (and buffer size to pass). */
#define VX6_QUIC_MAX_DGRAM 1452

struct vx6_quic_ep;
struct vx6_quic;

struct vx6_quic_ep_config {
	const struct vx6_identity *local;  /* borrowed; outlives the ep. Its secret
	                                      also keys stateless-reset tokens, so
	                                      a restarted node can reset old peers */
	uint32_t max_handshakes;           /* half-open server connections at once */
	uint32_t retry_above;              /* above this many, Initials get a Retry */
	uint64_t token_lifetime;           /* ns a Retry token stays valid */
};

/* 64 half-open, Retry above 16, tokens valid 10 s. */
void vx6_quic_ep_config_defaults(struct vx6_quic_ep_config *cfg);
/* cfg and env borrowed (must outlive the ep). NULL on OOM / bad config. */
struct vx6_quic_ep *vx6_quic_ep_new(const struct vx6_quic_ep_config *cfg, const struct vx6_env *env);
/* NULL is a no-op. Every connection on it must be freed first. */
void vx6_quic_ep_free(struct vx6_quic_ep *ep);

enum vx6_quic_rx {
	VX6_QUIC_RX_DROP,     /* ignore it (garbage, unknown, over a limit) */
	VX6_QUIC_RX_CONN,     /* *conn is its connection: call vx6_quic_recv() */
	VX6_QUIC_RX_NEW,      /* a valid client Initial: call vx6_quic_accept() */
	VX6_QUIC_RX_REPLY,    /* send reply[0..*reply_len) back to remote */
};

/* Classifies one received datagram without allocating. reply must hold
 * VX6_QUIC_MAX_DGRAM bytes; *reply_len is set for RX_REPLY. */
enum vx6_quic_rx vx6_quic_ep_classify(struct vx6_quic_ep *ep, const struct vx6_addr *local,
    const struct vx6_addr *remote, const uint8_t *data, size_t len, uint64_t now,
    struct vx6_quic **conn, uint8_t *reply, size_t *reply_len);

struct vx6_quic_stats {
	uint64_t dropped;             /* datagrams dropped by classify */
	uint64_t retries_sent;
	uint64_t resets_sent;         /* stateless resets */
	uint64_t version_negotiations;
	uint32_t handshakes;          /* half-open server connections now */
	uint32_t connections;         /* connections registered now */
};
void vx6_quic_ep_stats(const struct vx6_quic_ep *ep, struct vx6_quic_stats *st);

struct vx6_quic_config {
	const struct vx6_identity *local;     /* borrowed; outlives the connection */
	bool have_expected_key;               /* dialer: the peer must prove this key */
	uint8_t expected_key[VX6_KEY_LEN];
	struct vx6_hs_settings settings;      /* what we grant: windows, streams */
	uint64_t handshake_timeout;           /* ns */
	uint64_t keepalive_interval;          /* ns of silence before a PING */
	uint64_t idle_timeout;                /* ns of silence before giving up */
};

/* Starts a client connection from local (unspecified = any) to remote and
 * registers it on ep. cfg, env, cbs borrowed. NULL on OOM or bad config. */
struct vx6_quic *vx6_quic_connect(struct vx6_quic_ep *ep, const struct vx6_quic_config *cfg,
    const struct vx6_env *env, const struct vx6_session_cbs *cbs, void *ud, const struct vx6_addr *local,
    const struct vx6_addr *remote, uint64_t now);
/* After RX_NEW: creates the server connection and processes that first
 * datagram. NULL when it is refused (limits, bad Initial, OOM). */
struct vx6_quic *vx6_quic_accept(struct vx6_quic_ep *ep, const struct vx6_quic_config *cfg,
    const struct vx6_env *env, const struct vx6_session_cbs *cbs, void *ud, const struct vx6_addr *local,
    const struct vx6_addr *remote, const uint8_t *data, size_t len, uint64_t now);
/* Unregisters from its ep, wipes keys, frees; no callbacks. NULL no-op. */
void vx6_quic_free(struct vx6_quic *q);

/* Feeds one datagram received on the path (local, remote). Returns 0 or the
 * error that closed the connection (on_closed has been called). */
int vx6_quic_recv(struct vx6_quic *q, const struct vx6_addr *local, const struct vx6_addr *remote,
    const uint8_t *data, size_t len, uint64_t now);
/* Writes the next datagram to send into buf (cap >= VX6_QUIC_MAX_DGRAM) and
 * its destination into *remote. Returns its length, 0 when nothing is due
 * now (congestion control and pacing included), or a negative vx6_err. */
int vx6_quic_write(struct vx6_quic *q, uint64_t now, struct vx6_addr *remote, uint8_t *buf, size_t cap);
uint64_t vx6_quic_expiry(const struct vx6_quic *q);
int vx6_quic_handle_expiry(struct vx6_quic *q, uint64_t now);
/* The client's local address changed: migrate the connection to it. */
int vx6_quic_migrate(struct vx6_quic *q, const struct vx6_addr *local, uint64_t now);

/* Sends CONNECTION_CLOSE (code and reason) and ends the session: streams
 * reset, on_closed called. Keep calling vx6_quic_write() until it returns 0,
 * then free once vx6_quic_is_closed(). */
void vx6_quic_close(struct vx6_quic *q, uint16_t code, const char *reason);
bool vx6_quic_is_closed(const struct vx6_quic *q);
bool vx6_quic_is_established(const struct vx6_quic *q);
/* Fills info like vx6_session_info (pattern 0: TLS 1.3; rtt from ngtcp2). */
void vx6_quic_info(const struct vx6_quic *q, struct vx6_session_info *info);
/* After a failed handshake: the key the peer's certificate carried, if any. */
const uint8_t *vx6_quic_presented_key(const struct vx6_quic *q);

/* Streams: same semantics as vx6_session_open() ... vx6_session_consumed(). */
int vx6_quic_open(struct vx6_quic *q, const char *service, uint32_t *sid);
int vx6_quic_accept_stream(struct vx6_quic *q, uint32_t sid);
size_t vx6_quic_credit(const struct vx6_quic *q, uint32_t sid);
void vx6_quic_want_writable(struct vx6_quic *q, uint32_t sid);
int vx6_quic_send(struct vx6_quic *q, uint32_t sid, struct vx6_chunk *c);   /* takes c */
int vx6_quic_fin(struct vx6_quic *q, uint32_t sid);
int vx6_quic_reset(struct vx6_quic *q, uint32_t sid, uint16_t code, const char *reason);
int vx6_quic_consumed(struct vx6_quic *q, uint32_t sid, size_t n);
bool vx6_quic_stream_exists(const struct vx6_quic *q, uint32_t sid);
/* One RPC message (1..VX6_FRAME_MAX_RPC bytes), reliable, in order. */
int vx6_quic_send_rpc(struct vx6_quic *q, const uint8_t *msg, size_t len);
/* One unreliable QUIC DATAGRAM (may be lost; never split). 0, or
 * VX6_ERR_TOO_LARGE / VX6_ERR_STATE. */
int vx6_quic_send_datagram(struct vx6_quic *q, const uint8_t *msg, size_t len);
void vx6_quic_set_datagram_cb(struct vx6_quic *q,
    void (*on_datagram)(void *ud, const uint8_t *msg, size_t len));

#endif
