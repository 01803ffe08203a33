/*
 * mux — streams multiplexed over one session, with credit-based flow control
 * (docs/PROTOCOL.md §6).
 *
 * Owns the stream table and both levels of credit: a stream may send only
 * what the peer granted for that stream AND for the whole session, so a slow
 * reader stalls only its own stream and buffered bytes stay bounded by the
 * windows. The dialer of the session opens odd stream ids, the acceptor even
 * ones; ids only grow and are never reused.
 *
 * No I/O: frames come in through vx6_mux_handle() and go out through the sink
 * the session provides; events go out through callbacks. Callbacks may call
 * back into the mux (send, reset, ...) but must not free it.
 */
#ifndef VX6_CORE_MUX_H
#define VX6_CORE_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"
#include "core/handshake.h"
#include "lib/chunk.h"

struct vx6_mux;

struct vx6_mux_cbs {
	/* The peer opened stream sid to `service` (NUL-terminated, validated
	 * characters). Answer with vx6_mux_accept() or vx6_mux_reset(). */
	void (*on_open)(void *ud, uint32_t sid, const char *service);
	/* The peer accepted a stream we opened. */
	void (*on_accept)(void *ud, uint32_t sid);
	/* Data arrived; takes c. Call vx6_mux_consumed() once it is delivered. */
	void (*on_data)(void *ud, uint32_t sid, struct vx6_chunk *c);
	/* The peer finished its direction. */
	void (*on_fin)(void *ud, uint32_t sid);
	/* The stream is gone: reset by the peer (remote) or because the session
	 * ended. The id is invalid afterwards. */
	void (*on_reset)(void *ud, uint32_t sid, uint16_t code, const char *reason, bool remote);
	/* Credit may be available again on a stream that found none: check
	 * vx6_mux_credit(). Spurious calls are allowed. */
	void (*on_writable)(void *ud, uint32_t sid);
};

/* Where frames go (the session). Both return 0 or a vx6_err. */
struct vx6_mux_sink {
	int (*frame)(void *ud, uint8_t type, uint8_t flags, uint32_t sid, const void *payload,
	    size_t len);
	/* Takes c: its valid region is the DATA payload. */
	int (*data)(void *ud, uint32_t sid, uint8_t flags, struct vx6_chunk *c);
	void *ud;
};

struct vx6_mux_stats {
	uint32_t streams_open;
	uint64_t streams_opened_total;
	uint64_t send_credit;        /* session-level credit left */
	uint64_t recv_buffered;      /* bytes received and not yet consumed */
};

/* local: what we grant; peer: what the peer granted us. All borrowed
 * pointers must outlive the mux. Returns NULL on OOM. */
struct vx6_mux *vx6_mux_new(bool we_dialed, const struct vx6_hs_settings *local,
    const struct vx6_hs_settings *peer, const struct vx6_mux_cbs *cbs, void *cb_ud,
    const struct vx6_mux_sink *sink);
/* Frees all streams without callbacks; NULL is a no-op. */
void vx6_mux_free(struct vx6_mux *m);

/* Handles a stream frame or WINDOW. *record may hold the decrypted record
 * when this DATA frame is its only frame: the mux may take it (sets NULL)
 * instead of copying. Returns 0 or a vx6_err that must end the session
 * (VX6_ERR_PROTOCOL, VX6_ERR_FLOW, VX6_ERR_MALFORMED, VX6_ERR_NOMEM). */
int vx6_mux_handle(struct vx6_mux *m, const struct vx6_frame *f, struct vx6_chunk **record);

/* Opens a stream to service (len <= VX6_FRAME_MAX_SERVICE). */
int vx6_mux_open(struct vx6_mux *m, const char *service, uint32_t *sid);
int vx6_mux_accept(struct vx6_mux *m, uint32_t sid);
/* Bytes that may be sent on sid now (0 when blocked or unknown). */
size_t vx6_mux_credit(const struct vx6_mux *m, uint32_t sid);
/* The caller holds data for sid that needs more credit than it has (a whole
 * cell, a queued chunk): on_writable comes with the next WINDOW that adds
 * credit for sid, although its credit never ran out. Without this call
 * on_writable only follows credit that reached zero. */
void vx6_mux_want_writable(struct vx6_mux *m, uint32_t sid);
/* Sends c (takes it, even on error). c->len must be <= vx6_mux_credit(). */
int vx6_mux_send(struct vx6_mux *m, uint32_t sid, struct vx6_chunk *c);
/* Ends our direction of sid. */
int vx6_mux_fin(struct vx6_mux *m, uint32_t sid);
/* Aborts sid (no callback for it). */
int vx6_mux_reset(struct vx6_mux *m, uint32_t sid, uint16_t code, const char *reason);
/* n received bytes were delivered; returns credit to the peer. Works after
 * the stream closed too (session credit is still owed). */
int vx6_mux_consumed(struct vx6_mux *m, uint32_t sid, size_t n);
/* Ends every stream with on_reset(code, reason, remote=false). */
void vx6_mux_abort_all(struct vx6_mux *m, uint16_t code, const char *reason);
void vx6_mux_stats(const struct vx6_mux *m, struct vx6_mux_stats *st);
bool vx6_mux_stream_exists(const struct vx6_mux *m, uint32_t sid);

#endif
