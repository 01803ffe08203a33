/*
 * session — one authenticated, encrypted, multiplexed connection to a peer
 * over a byte stream (docs/PROTOCOL.md §3-§6).
 *
 * Owns the handshake, the two transport AEAD states, the record layer
 * (2-byte length, AEAD with the length as associated data), session-level
 * frames (PING, REKEY, GOAWAY) and the mux. Pure state machine: bytes come in
 * through vx6_session_recv(), sealed output is taken with
 * vx6_session_take_output(), and the caller asks vx6_session_expiry() when to
 * call vx6_session_handle_expiry(). Time is always passed in (ns).
 *
 * Any malformed, truncated, oversized, tampered, replayed or reordered input
 * ends the session (never the process): on_closed reports why, exactly once,
 * after every open stream got on_reset. Callbacks may call session functions
 * but must not free the session; free it after the call that triggered them
 * has returned.
 */
#ifndef VX6_CORE_SESSION_H
#define VX6_CORE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/handshake.h"
#include "core/mux.h"
#include "lib/chunk.h"
#include "lib/env.h"

/* Headroom and tailroom a chunk passed to vx6_session_send() should have so
 * it can be framed and sealed in place (else it is copied). */
#define VX6_SESSION_HEADROOM (VX6_RECORD_LEN_BYTES + VX6_FRAME_HEADER_LEN)
#define VX6_SESSION_TAILROOM VX6_AEAD_TAGLEN

struct vx6_session_config {
	bool initiator;
	const struct vx6_identity *local;     /* borrowed; must outlive the session */
	bool have_expected_key;
	uint8_t expected_key[VX6_KEY_LEN];    /* dialer: enforced peer key (IK) */
	bool force_xx;                        /* dialer: XX even with an expected key */
	struct vx6_hs_settings settings;      /* what we grant the peer */
	unsigned aead_mask;                   /* algorithms we offer/accept */
	uint64_t handshake_timeout;           /* ns */
	uint64_t keepalive_interval;          /* ns of send silence before a PING */
	uint64_t idle_timeout;                /* ns of receive silence before giving up */
	uint64_t rekey_interval;              /* ns between rekeys of our send key */
	uint64_t rekey_bytes;                 /* bytes sealed between rekeys */
	size_t max_output;                    /* bytes queued for the socket before the peer is stuck */
};

/* Safe defaults: 256 KiB stream / 16 MiB session windows, 1024 streams,
 * 10 s handshake, 15 s keepalive, 60 s idle, rekey every 10 min or 1 GiB. */
void vx6_session_config_defaults(struct vx6_session_config *cfg);

struct vx6_session_cbs {
	void (*on_established)(void *ud);
	struct vx6_mux_cbs stream;            /* stream events, see mux.h */
	/* The session is over. err is 0 for an orderly close (ours or the
	 * peer's GOAWAY), else why it failed; reason is human-readable. */
	void (*on_closed)(void *ud, int err, const char *reason);
	/* An RPC message arrived (bytes borrowed for the call). May be NULL. */
	void (*on_rpc)(void *ud, const uint8_t *msg, size_t len);
};

struct vx6_session_info {
	bool established;
	bool initiator;
	enum vx6_noise_pattern pattern;
	uint8_t version;
	enum vx6_aead_alg aead;
	uint8_t peer_key[VX6_KEY_LEN];
	uint8_t peer_node_id[VX6_NODE_ID_LEN];
	uint64_t established_at;
	uint64_t rtt_ns;                      /* last measured, 0 = unknown */
	uint64_t bytes_in, bytes_out;         /* wire bytes */
	uint64_t records_in, records_out;
	uint64_t rekeys_tx, rekeys_rx;
	uint64_t send_nonce, recv_nonce;
	struct vx6_mux_stats mux;
};

struct vx6_session;

/* cfg, env, cbs are borrowed and must outlive the session. Returns NULL on
 * bad config or OOM. A dialer queues handshake message 1 immediately. */
struct vx6_session *vx6_session_new(const struct vx6_session_config *cfg, const struct vx6_env *env,
    const struct vx6_session_cbs *cbs, void *ud, uint64_t now);
/* Wipes keys and frees; NULL is a no-op. No callbacks. */
void vx6_session_free(struct vx6_session *s);

/* Feeds received bytes (any split). Returns 0, or the error that closed the
 * session (on_closed has then been called). */
int vx6_session_recv(struct vx6_session *s, const uint8_t *data, size_t len, uint64_t now);
/* Moves every sealed record into q (caller owns and frees the chunks), and
 * records those bytes as in flight until vx6_session_written(). */
void vx6_session_take_output(struct vx6_session *s, struct vx6_chunkq *q);
/* n bytes previously taken have been written to the socket. */
void vx6_session_written(struct vx6_session *s, size_t n);
bool vx6_session_has_output(const struct vx6_session *s);
uint64_t vx6_session_expiry(const struct vx6_session *s);
int vx6_session_handle_expiry(struct vx6_session *s, uint64_t now);
/* Sends GOAWAY and ends the session (streams reset, on_closed called). */
void vx6_session_close(struct vx6_session *s, uint16_t code, const char *reason);
/* The transport under the session died (EOF or error): ends it. */
void vx6_session_transport_lost(struct vx6_session *s, int err, const char *reason);
/* True once the session is over: write what output remains, then close. */
bool vx6_session_is_closed(const struct vx6_session *s);
bool vx6_session_is_established(const struct vx6_session *s);
void vx6_session_info(const struct vx6_session *s, struct vx6_session_info *info);
/* After a failed handshake: the key the peer proved, if known (see
 * vx6_hs_presented_key). */
const uint8_t *vx6_session_presented_key(const struct vx6_session *s);

/* Streams (valid once established; see mux.h for semantics). */
int vx6_session_open(struct vx6_session *s, const char *service, uint32_t *sid);
int vx6_session_accept(struct vx6_session *s, uint32_t sid);
size_t vx6_session_credit(const struct vx6_session *s, uint32_t sid);
void vx6_session_want_writable(struct vx6_session *s, uint32_t sid);
/* Takes c. Best with VX6_SESSION_HEADROOM/TAILROOM around the data. */
int vx6_session_send(struct vx6_session *s, uint32_t sid, struct vx6_chunk *c);
int vx6_session_fin(struct vx6_session *s, uint32_t sid);
int vx6_session_reset(struct vx6_session *s, uint32_t sid, uint16_t code, const char *reason);
int vx6_session_consumed(struct vx6_session *s, uint32_t sid, size_t n);
/* Sends one RPC message (1..VX6_FRAME_MAX_RPC bytes), outside any stream. */
int vx6_session_send_rpc(struct vx6_session *s, const uint8_t *msg, size_t len);
bool vx6_session_stream_exists(const struct vx6_session *s, uint32_t sid);

/* For tests and fuzzing only (the node never calls it): seals `len` bytes of
 * arbitrary plaintext as one record, so a peer's frame parser and mux can be
 * fed malformed frames inside a correctly encrypted record. 0 < len <=
 * VX6_RECORD_MAX_PT. Returns 0 or a vx6_err. */
int vx6_session_test_send_record(struct vx6_session *s, const uint8_t *plaintext, size_t len);

#endif
