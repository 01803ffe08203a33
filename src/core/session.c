#include "core/session.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cursor.h"
#include "lib/err.h"

#define CTRL_ROOM 4096           /* control frames gathered per record */
#define UNIT_MAX (VX6_RECORD_LEN_BYTES + VX6_RECORD_MAX_CT)
#define MIN_RECORD_CT (VX6_AEAD_TAGLEN + VX6_FRAME_HEADER_LEN)

enum state {
	S_HANDSHAKE,
	S_OPEN,
	S_CLOSED,
};

struct vx6_session {
	enum state state;
	struct vx6_session_config cfg;
	const struct vx6_env *env;
	const struct vx6_session_cbs *cbs;
	void *ud;
	struct vx6_hs *hs;
	struct vx6_aead tx, rx;
	struct vx6_mux *mux;
	struct vx6_mux_sink sink;

	uint8_t *inbuf;              /* a partial unit, allocated on demand */
	size_t inlen;

	struct vx6_chunkq out;       /* sealed records ready for the socket */
	struct vx6_chunk *ctrl;      /* control frames not yet sealed */
	size_t inflight;             /* taken but not yet confirmed written */
	bool stuck;                  /* output bound exceeded: fail at next expiry */

	uint64_t now;
	uint64_t hs_deadline;
	uint64_t last_rx, last_tx;
	uint64_t rekey_at;
	uint64_t tx_since_rekey;
	bool in_rekey;
	uint8_t ping_token[8];
	bool ping_outstanding;
	uint64_t ping_sent_at;

	struct vx6_session_info info;
	int err;
	char reason[360];
	uint8_t presented[VX6_KEY_LEN];
	bool have_presented;
};

void
vx6_session_config_defaults(struct vx6_session_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->settings.stream_window = 256 * 1024;
	cfg->settings.session_window = 16 * 1024 * 1024;
	cfg->settings.max_streams = 1024;
	cfg->aead_mask = vx6_aead_available_mask();
	cfg->handshake_timeout = 10 * VX6_NS_PER_SEC;
	cfg->keepalive_interval = 15 * VX6_NS_PER_SEC;
	cfg->idle_timeout = 60 * VX6_NS_PER_SEC;
	cfg->rekey_interval = 600 * VX6_NS_PER_SEC;
	cfg->rekey_bytes = 1ULL << 30;
	cfg->max_output = 32 * 1024 * 1024;
}

/* Ends the session once: streams get on_reset, then on_closed. */
static int
fail(struct vx6_session *s, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(struct vx6_session *s, int err, const char *fmt, ...)
{
	va_list ap;

	if (s->state == S_CLOSED)
		return s->err;
	s->state = S_CLOSED;
	s->err = err;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
	vx6_chunk_free(s->ctrl);
	s->ctrl = NULL;
	if (s->mux)
		vx6_mux_abort_all(s->mux, VX6_RESET_SESSION_LOST, s->reason);
	if (s->cbs->on_closed)
		s->cbs->on_closed(s->ud, err, s->reason);
	return err;
}

/* Everything queued counts: sealed records, bytes in flight, control frames
 * still being gathered, and the framing sealing will add (length, tag, and a
 * frame header, for both the pending control record and this one). */
static bool
over_budget(const struct vx6_session *s, size_t more)
{
	size_t overhead = 2 * (VX6_RECORD_LEN_BYTES + VX6_AEAD_TAGLEN) + VX6_FRAME_HEADER_LEN;

	return s->out.bytes + s->inflight + (s->ctrl ? s->ctrl->len : 0) + overhead + more >
	    s->cfg.max_output;
}

/* Prepends the record length and seals c in place; queues it. Takes c. */
static int
seal(struct vx6_session *s, struct vx6_chunk *c)
{
	uint8_t *p;
	size_t ptlen = c->len;
	int rc;

	if (vx6_chunk_headroom(c) < VX6_RECORD_LEN_BYTES || vx6_chunk_tailroom(c) < VX6_AEAD_TAGLEN) {
		struct vx6_chunk *d = vx6_chunk_copy(vx6_chunk_ptr(c), c->len, VX6_RECORD_LEN_BYTES,
		    VX6_AEAD_TAGLEN);
		vx6_chunk_free(c);
		if (d == NULL)
			return VX6_ERR_NOMEM;
		c = d;
	}
	p = vx6_chunk_prepend(c, VX6_RECORD_LEN_BYTES);
	vx6_put_u16(p, (uint16_t)(ptlen + VX6_AEAD_TAGLEN));
	rc = vx6_aead_seal(&s->tx, p, VX6_RECORD_LEN_BYTES, p + VX6_RECORD_LEN_BYTES, ptlen,
	    p + VX6_RECORD_LEN_BYTES + ptlen);
	if (rc) {
		vx6_chunk_free(c);
		return rc;
	}
	c->len += VX6_AEAD_TAGLEN;
	s->info.records_out++;
	s->info.bytes_out += c->len;
	s->tx_since_rekey += c->len;
	s->last_tx = s->now;
	vx6_chunkq_push(&s->out, c);
	return 0;
}

static int
seal_ctrl(struct vx6_session *s)
{
	struct vx6_chunk *c = s->ctrl;

	if (c == NULL)
		return 0;
	s->ctrl = NULL;
	return seal(s, c);
}

static int sink_frame(void *ud, uint8_t type, uint8_t flags, uint32_t sid, const void *payload,
    size_t len);

/* Queues REKEY as the last frame of a record, then switches the send key. */
static int
rekey_tx(struct vx6_session *s)
{
	int rc;

	if (s->in_rekey)
		return 0;
	s->in_rekey = true;
	rc = sink_frame(s, VX6_FRAME_REKEY, 0, 0, NULL, 0);
	if (rc == 0)
		rc = seal_ctrl(s);
	if (rc == 0)
		rc = vx6_aead_rekey(&s->tx);
	if (rc == 0) {
		s->info.rekeys_tx++;
		s->tx_since_rekey = 0;
		s->rekey_at = s->now + s->cfg.rekey_interval;
	}
	s->in_rekey = false;
	return rc;
}

static int
after_seal(struct vx6_session *s)
{
	if (s->tx_since_rekey >= s->cfg.rekey_bytes && !s->in_rekey)
		return rekey_tx(s);
	return 0;
}

static int
sink_frame(void *ud, uint8_t type, uint8_t flags, uint32_t sid, const void *payload, size_t len)
{
	struct vx6_session *s = ud;
	size_t need = VX6_FRAME_HEADER_LEN + len;
	uint8_t *p;
	int rc;

	if (s->state != S_OPEN)
		return VX6_ERR_CLOSED;
	if (over_budget(s, need)) {
		s->stuck = true;
		return VX6_ERR_LIMIT;
	}
	if (s->ctrl && vx6_chunk_tailroom(s->ctrl) < need + VX6_AEAD_TAGLEN) {
		if ((rc = seal_ctrl(s)) != 0 || (rc = after_seal(s)) != 0)
			return rc;
	}
	if (s->ctrl == NULL) {
		s->ctrl = vx6_chunk_new(VX6_RECORD_LEN_BYTES, need > CTRL_ROOM ? need : CTRL_ROOM,
		    VX6_AEAD_TAGLEN);
		if (s->ctrl == NULL)
			return VX6_ERR_NOMEM;
	}
	p = vx6_chunk_ptr(s->ctrl) + s->ctrl->len;
	vx6_frame_header_put(p, type, flags, (uint16_t)len, sid);
	if (len)
		memcpy(p + VX6_FRAME_HEADER_LEN, payload, len);
	s->ctrl->len += (uint32_t)need;
	return 0;
}

static int
sink_data(void *ud, uint32_t sid, uint8_t flags, struct vx6_chunk *c)
{
	struct vx6_session *s = ud;
	uint8_t *p;
	size_t len = c->len;
	int rc;

	if (s->state != S_OPEN) {
		vx6_chunk_free(c);
		return VX6_ERR_CLOSED;
	}
	if (over_budget(s, len)) {
		vx6_chunk_free(c);
		s->stuck = true;
		return VX6_ERR_LIMIT;
	}
	/* Control frames queued earlier go first: order within a stream holds. */
	if ((rc = seal_ctrl(s)) != 0) {
		vx6_chunk_free(c);
		return rc;
	}
	if (vx6_chunk_headroom(c) < VX6_SESSION_HEADROOM || vx6_chunk_tailroom(c) < VX6_AEAD_TAGLEN) {
		struct vx6_chunk *d = vx6_chunk_copy(vx6_chunk_ptr(c), len, VX6_SESSION_HEADROOM,
		    VX6_AEAD_TAGLEN);
		vx6_chunk_free(c);
		if (d == NULL)
			return VX6_ERR_NOMEM;
		c = d;
	}
	p = vx6_chunk_prepend(c, VX6_FRAME_HEADER_LEN);
	vx6_frame_header_put(p, VX6_FRAME_DATA, flags, (uint16_t)len, sid);
	if ((rc = seal(s, c)) != 0)
		return rc;
	return after_seal(s);
}

static void
queue_raw(struct vx6_session *s, const uint8_t *body, size_t len)
{
	struct vx6_chunk *c = vx6_chunk_new(0, VX6_RECORD_LEN_BYTES + len, 0);

	if (c == NULL)
		return;   /* best effort: only handshake messages take this path */
	vx6_put_u16(vx6_chunk_ptr(c), (uint16_t)len);
	memcpy(vx6_chunk_ptr(c) + VX6_RECORD_LEN_BYTES, body, len);
	c->len = (uint32_t)(VX6_RECORD_LEN_BYTES + len);
	s->info.bytes_out += c->len;
	s->last_tx = s->now;
	vx6_chunkq_push(&s->out, c);
}

static void
send_ping(struct vx6_session *s)
{
	vx6_put_u64(s->ping_token, s->now);
	if (sink_frame(s, VX6_FRAME_PING, 0, 0, s->ping_token, 8) == 0) {
		s->ping_outstanding = true;
		s->ping_sent_at = s->now;
		s->last_tx = s->now;   /* the frame is queued; it goes out with this flush */
	}
}

struct vx6_session *
vx6_session_new(const struct vx6_session_config *cfg, const struct vx6_env *env,
    const struct vx6_session_cbs *cbs, void *ud, uint64_t now)
{
	struct vx6_session *s;
	uint8_t msg[VX6_HS_MAX_MSG];
	int n;

	if (cfg == NULL || cfg->local == NULL || env == NULL || cbs == NULL)
		return NULL;
	if (cfg->settings.stream_window < VX6_HS_MIN_STREAM_WINDOW ||
	    cfg->settings.stream_window > VX6_HS_MAX_STREAM_WINDOW ||
	    cfg->settings.session_window < cfg->settings.stream_window ||
	    cfg->settings.max_streams == 0 || cfg->settings.max_streams > VX6_HS_MAX_STREAMS)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->cfg = *cfg;
	s->env = env;
	s->cbs = cbs;
	s->ud = ud;
	s->now = now;
	s->last_rx = s->last_tx = now;
	s->hs_deadline = now + cfg->handshake_timeout;
	s->info.initiator = cfg->initiator;
	vx6_chunkq_init(&s->out);
	s->sink.frame = sink_frame;
	s->sink.data = sink_data;
	s->sink.ud = s;
	if (cfg->initiator)
		s->hs = vx6_hs_new_initiator(cfg->local, cfg->have_expected_key ? cfg->expected_key : NULL,
		    cfg->force_xx, &cfg->settings, cfg->aead_mask, env);
	else
		s->hs = vx6_hs_new_responder(cfg->local, &cfg->settings, cfg->aead_mask, env);
	if (s->hs == NULL) {
		free(s);
		return NULL;
	}
	if (cfg->initiator) {
		n = vx6_hs_start(s->hs, msg, sizeof(msg));
		if (n < 0) {
			vx6_session_free(s);
			return NULL;
		}
		queue_raw(s, msg, (size_t)n);
	}
	return s;
}

void
vx6_session_free(struct vx6_session *s)
{
	if (s == NULL)
		return;
	vx6_hs_free(s->hs);
	vx6_mux_free(s->mux);
	vx6_chunkq_clear(&s->out);
	vx6_chunk_free(s->ctrl);
	free(s->inbuf);
	vx6_aead_wipe(&s->tx);
	vx6_aead_wipe(&s->rx);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

static int
establish(struct vx6_session *s)
{
	struct vx6_hs_result res;
	struct vx6_hs_settings peer;
	int rc;

	rc = vx6_hs_result(s->hs, &res);
	if (rc == 0)
		rc = vx6_aead_init(&s->tx, res.aead, res.send_key);
	if (rc == 0)
		rc = vx6_aead_init(&s->rx, res.aead, res.recv_key);
	sodium_memzero(res.send_key, sizeof(res.send_key));
	sodium_memzero(res.recv_key, sizeof(res.recv_key));
	if (rc)
		return fail(s, rc, "cannot start transport encryption: %s", vx6_strerror(rc));
	peer = res.peer_settings;
	/* We never queue more than our own output budget, whatever the peer grants. */
	if (peer.session_window > s->cfg.max_output / 2)
		peer.session_window = (uint32_t)(s->cfg.max_output / 2);
	if (peer.stream_window > peer.session_window)
		peer.stream_window = peer.session_window;
	s->mux = vx6_mux_new(s->cfg.initiator, &s->cfg.settings, &peer, &s->cbs->stream, s->ud, &s->sink);
	if (s->mux == NULL)
		return fail(s, VX6_ERR_NOMEM, "out of memory");
	s->info.established = true;
	s->info.pattern = res.pattern;
	s->info.version = res.version;
	s->info.aead = res.aead;
	memcpy(s->info.peer_key, res.peer_key, VX6_KEY_LEN);
	memcpy(s->info.peer_node_id, res.peer_node_id, VX6_NODE_ID_LEN);
	s->info.established_at = s->now;
	vx6_hs_free(s->hs);
	s->hs = NULL;
	s->state = S_OPEN;
	s->rekey_at = s->now + s->cfg.rekey_interval;
	send_ping(s);   /* measures RTT right away */
	if (s->cbs->on_established)
		s->cbs->on_established(s->ud);
	return 0;
}

static int
handshake_unit(struct vx6_session *s, const uint8_t *body, size_t len)
{
	uint8_t out[VX6_HS_MAX_MSG];
	size_t outlen = 0;
	const uint8_t *pk;
	int rc;

	rc = vx6_hs_recv(s->hs, body, len, out, sizeof(out), &outlen);
	if (outlen)
		queue_raw(s, out, outlen);
	if (rc) {
		if ((pk = vx6_hs_presented_key(s->hs)) != NULL) {
			memcpy(s->presented, pk, VX6_KEY_LEN);
			s->have_presented = true;
		}
		return fail(s, rc, "handshake failed: %s", vx6_hs_error_text(s->hs));
	}
	if (vx6_hs_done(s->hs))
		return establish(s);
	return 0;
}

static int
record_unit(struct vx6_session *s, const uint8_t *unit, size_t ctlen)
{
	struct vx6_chunk *c;
	struct vx6_reader r;
	struct vx6_frame f;
	size_t ptlen = ctlen - VX6_AEAD_TAGLEN;
	bool first = true, rekey_after = false;
	uint16_t code;
	char reason[VX6_FRAME_MAX_REASON + 1];
	int rc;

	c = vx6_chunk_new(0, ptlen, 0);
	if (c == NULL)
		return fail(s, VX6_ERR_NOMEM, "out of memory");
	rc = vx6_aead_open(&s->rx, unit, VX6_RECORD_LEN_BYTES, unit + VX6_RECORD_LEN_BYTES, ptlen,
	    unit + VX6_RECORD_LEN_BYTES + ptlen, vx6_chunk_ptr(c));
	if (rc) {
		vx6_chunk_free(c);
		return fail(s, rc, "record %llu failed authentication (tampered, replayed or reordered)",
		    (unsigned long long)s->info.records_in);
	}
	c->len = (uint32_t)ptlen;
	s->info.records_in++;

	vx6_reader_init(&r, vx6_chunk_ptr(c), ptlen);
	while (vx6_reader_left(&r) > 0 && s->state == S_OPEN) {
		bool only;
		rc = vx6_frame_read(&r, &f);
		if (rc) {
			vx6_chunk_free(c);
			return fail(s, VX6_ERR_MALFORMED, "malformed frame in record %llu",
			    (unsigned long long)s->info.records_in);
		}
		only = first && vx6_reader_left(&r) == 0;
		first = false;
		switch (f.type) {
		case VX6_FRAME_PING:
			if (!(f.flags & VX6_FRAME_FLAG_ACK)) {
				(void)sink_frame(s, VX6_FRAME_PING, VX6_FRAME_FLAG_ACK, 0, f.payload, 8);
			} else if (s->ping_outstanding && memcmp(f.payload, s->ping_token, 8) == 0) {
				s->ping_outstanding = false;
				s->info.rtt_ns = s->now - s->ping_sent_at;
			}
			break;
		case VX6_FRAME_REKEY:
			if (vx6_reader_left(&r) != 0) {
				vx6_chunk_free(c);
				return fail(s, VX6_ERR_MALFORMED, "REKEY is not the last frame of its record");
			}
			rekey_after = true;
			break;
		case VX6_FRAME_RPC:
			if (s->cbs->on_rpc)
				s->cbs->on_rpc(s->ud, f.payload, f.length);
			break;
		case VX6_FRAME_GOAWAY:
			vx6_frame_parse_reason(&f, &code, reason);
			vx6_chunk_free(c);
			return fail(s, 0, "peer closed the session (%s%s%s)", vx6_reset_code_name(code),
			    reason[0] ? ": " : "", reason);
		default:
			rc = vx6_mux_handle(s->mux, &f, only ? &c : NULL);
			if (rc) {
				vx6_chunk_free(c);
				return fail(s, rc, "peer broke the stream protocol on stream %u: %s",
				    f.stream_id, vx6_strerror(rc));
			}
			break;
		}
	}
	vx6_chunk_free(c);   /* NULL if the mux took it */
	if (rekey_after && s->state == S_OPEN) {
		if ((rc = vx6_aead_rekey(&s->rx)) != 0)
			return fail(s, rc, "rekey failed");
		s->info.rekeys_rx++;
	}
	return s->state == S_CLOSED ? (s->err ? s->err : VX6_ERR_CLOSED) : 0;
}

/* Validates a unit's length as soon as it is known, before buffering it. */
static int
check_unit_len(struct vx6_session *s, size_t L)
{
	if (s->state == S_HANDSHAKE) {
		if (L == 0 || L > VX6_HS_MAX_MSG)
			return fail(s, L ? VX6_ERR_TOO_LARGE : VX6_ERR_MALFORMED,
			    "handshake message of %zu bytes is not valid", L);
	} else if (L < MIN_RECORD_CT) {
		return fail(s, VX6_ERR_MALFORMED, "record of %zu bytes is too short", L);
	}
	return 0;
}

static int
process_unit(struct vx6_session *s, const uint8_t *unit, size_t L)
{
	/* Liveness counts whole units: trickled bytes do not keep a session. */
	s->last_rx = s->now;
	if (s->state == S_HANDSHAKE)
		return handshake_unit(s, unit + VX6_RECORD_LEN_BYTES, L);
	return record_unit(s, unit, L);
}

int
vx6_session_recv(struct vx6_session *s, const uint8_t *data, size_t len, uint64_t now)
{
	size_t L, take;
	int rc;

	s->now = now;
	if (s->state == S_CLOSED)
		return s->err ? s->err : VX6_ERR_CLOSED;
	if (len == 0)
		return 0;
	s->info.bytes_in += len;
	while (len > 0 && s->state != S_CLOSED) {
		if (s->inlen == 0 && len >= VX6_RECORD_LEN_BYTES) {
			L = vx6_get_u16(data);
			if ((rc = check_unit_len(s, L)) != 0)
				return rc;
			if (len >= VX6_RECORD_LEN_BYTES + L) {
				/* Whole unit in the caller's buffer: no copy. */
				rc = process_unit(s, data, L);
				data += VX6_RECORD_LEN_BYTES + L;
				len -= VX6_RECORD_LEN_BYTES + L;
				if (rc)
					return rc;
				continue;
			}
		}
		if (s->inbuf == NULL && (s->inbuf = malloc(UNIT_MAX)) == NULL)
			return fail(s, VX6_ERR_NOMEM, "out of memory");
		if (s->inlen < VX6_RECORD_LEN_BYTES) {
			take = VX6_RECORD_LEN_BYTES - s->inlen;
			if (take > len)
				take = len;
			memcpy(s->inbuf + s->inlen, data, take);
			s->inlen += take;
			data += take;
			len -= take;
			if (s->inlen < VX6_RECORD_LEN_BYTES)
				break;
			if ((rc = check_unit_len(s, vx6_get_u16(s->inbuf))) != 0)
				return rc;
		}
		L = vx6_get_u16(s->inbuf);
		take = VX6_RECORD_LEN_BYTES + L - s->inlen;
		if (take > len)
			take = len;
		memcpy(s->inbuf + s->inlen, data, take);
		s->inlen += take;
		data += take;
		len -= take;
		if (s->inlen == VX6_RECORD_LEN_BYTES + L) {
			s->inlen = 0;
			if ((rc = process_unit(s, s->inbuf, L)) != 0)
				return rc;
		}
	}
	return s->state == S_CLOSED ? (s->err ? s->err : VX6_ERR_CLOSED) : 0;
}

void
vx6_session_take_output(struct vx6_session *s, struct vx6_chunkq *q)
{
	struct vx6_chunk *c;

	if (s->state == S_OPEN && seal_ctrl(s) == 0)
		(void)after_seal(s);
	while ((c = vx6_chunkq_pop(&s->out)) != NULL) {
		s->inflight += c->len;
		vx6_chunkq_push(q, c);
	}
}

void
vx6_session_written(struct vx6_session *s, size_t n)
{
	s->inflight = n > s->inflight ? 0 : s->inflight - n;
}

bool
vx6_session_has_output(const struct vx6_session *s)
{
	return s->out.count > 0 || (s->ctrl != NULL && s->state == S_OPEN);
}

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t
vx6_session_expiry(const struct vx6_session *s)
{
	switch (s->state) {
	case S_HANDSHAKE:
		return s->hs_deadline;
	case S_OPEN:
		if (s->stuck)
			return 0;
		return min_u64(min_u64(s->last_rx + s->cfg.idle_timeout,
		    s->last_tx + s->cfg.keepalive_interval), s->rekey_at);
	default:
		return VX6_TIME_NEVER;
	}
}

int
vx6_session_handle_expiry(struct vx6_session *s, uint64_t now)
{
	s->now = now;
	switch (s->state) {
	case S_HANDSHAKE:
		if (now >= s->hs_deadline)
			return fail(s, VX6_ERR_TIMEOUT, "handshake did not complete within %llu s",
			    (unsigned long long)(s->cfg.handshake_timeout / VX6_NS_PER_SEC));
		return 0;
	case S_OPEN:
		if (s->stuck)
			return fail(s, VX6_ERR_LIMIT, "peer is not reading: %zu bytes queued",
			    s->out.bytes + s->inflight);
		if (now - s->last_rx >= s->cfg.idle_timeout)
			return fail(s, VX6_ERR_TIMEOUT, "peer silent for %llu s",
			    (unsigned long long)((now - s->last_rx) / VX6_NS_PER_SEC));
		if (now - s->last_tx >= s->cfg.keepalive_interval)
			send_ping(s);
		if (now >= s->rekey_at)
			return rekey_tx(s);
		return 0;
	default:
		return s->err;
	}
}

void
vx6_session_close(struct vx6_session *s, uint16_t code, const char *reason)
{
	uint8_t p[2 + VX6_FRAME_MAX_REASON];
	size_t n = reason ? strnlen(reason, VX6_FRAME_MAX_REASON) : 0;

	if (s->state == S_CLOSED)
		return;
	if (s->state == S_OPEN) {
		vx6_put_u16(p, code);
		if (n)
			memcpy(p + 2, reason, n);
		if (sink_frame(s, VX6_FRAME_GOAWAY, 0, 0, p, 2 + n) == 0)
			(void)seal_ctrl(s);
	}
	fail(s, 0, "closed locally (%s)", reason ? reason : "no reason");
}

void
vx6_session_transport_lost(struct vx6_session *s, int err, const char *reason)
{
	if (s->state == S_HANDSHAKE)
		fail(s, err ? err : VX6_ERR_CLOSED, "connection lost during the handshake (%s)", reason);
	else
		fail(s, err ? err : VX6_ERR_CLOSED, "connection lost (%s)", reason);
}

bool
vx6_session_is_closed(const struct vx6_session *s)
{
	return s->state == S_CLOSED;
}

bool
vx6_session_is_established(const struct vx6_session *s)
{
	return s->state == S_OPEN;
}

void
vx6_session_info(const struct vx6_session *s, struct vx6_session_info *info)
{
	*info = s->info;
	info->send_nonce = s->tx.n;
	info->recv_nonce = s->rx.n;
	if (s->mux)
		vx6_mux_stats(s->mux, &info->mux);
	else
		memset(&info->mux, 0, sizeof(info->mux));
}

const uint8_t *
vx6_session_presented_key(const struct vx6_session *s)
{
	return s->have_presented ? s->presented : NULL;
}

#define NEED_OPEN(s) do { if ((s)->state != S_OPEN) return VX6_ERR_CLOSED; } while (0)

int
vx6_session_open(struct vx6_session *s, const char *service, uint32_t *sid)
{
	NEED_OPEN(s);
	return vx6_mux_open(s->mux, service, sid);
}

int
vx6_session_accept(struct vx6_session *s, uint32_t sid)
{
	NEED_OPEN(s);
	return vx6_mux_accept(s->mux, sid);
}

size_t
vx6_session_credit(const struct vx6_session *s, uint32_t sid)
{
	if (s->state != S_OPEN || s->stuck)
		return 0;
	return vx6_mux_credit(s->mux, sid);
}

void
vx6_session_want_writable(struct vx6_session *s, uint32_t sid)
{
	if (s->state == S_OPEN)
		vx6_mux_want_writable(s->mux, sid);
}

int
vx6_session_send(struct vx6_session *s, uint32_t sid, struct vx6_chunk *c)
{
	if (s->state != S_OPEN) {
		vx6_chunk_free(c);
		return VX6_ERR_CLOSED;
	}
	if (s->stuck) {
		vx6_chunk_free(c);
		return VX6_ERR_LIMIT;   /* consistent with vx6_session_credit() == 0 */
	}
	return vx6_mux_send(s->mux, sid, c);
}

int
vx6_session_fin(struct vx6_session *s, uint32_t sid)
{
	NEED_OPEN(s);
	return vx6_mux_fin(s->mux, sid);
}

int
vx6_session_reset(struct vx6_session *s, uint32_t sid, uint16_t code, const char *reason)
{
	NEED_OPEN(s);
	return vx6_mux_reset(s->mux, sid, code, reason);
}

int
vx6_session_consumed(struct vx6_session *s, uint32_t sid, size_t n)
{
	NEED_OPEN(s);
	return vx6_mux_consumed(s->mux, sid, n);
}

int
vx6_session_send_rpc(struct vx6_session *s, const uint8_t *msg, size_t len)
{
	NEED_OPEN(s);
	if (len == 0 || len > VX6_FRAME_MAX_RPC)
		return VX6_ERR_INVAL;
	return sink_frame(s, VX6_FRAME_RPC, 0, 0, msg, len);
}

bool
vx6_session_stream_exists(const struct vx6_session *s, uint32_t sid)
{
	return s->state == S_OPEN && vx6_mux_stream_exists(s->mux, sid);
}

int
vx6_session_test_send_record(struct vx6_session *s, const uint8_t *plaintext, size_t len)
{
	struct vx6_chunk *c;
	int rc;

	if (s->state != S_OPEN)
		return VX6_ERR_CLOSED;
	if (len == 0 || len > VX6_RECORD_MAX_PT)
		return VX6_ERR_INVAL;
	if ((rc = seal_ctrl(s)) != 0)
		return rc;
	c = vx6_chunk_copy(plaintext, len, VX6_RECORD_LEN_BYTES, VX6_AEAD_TAGLEN);
	if (c == NULL)
		return VX6_ERR_NOMEM;
	return seal(s, c);
}
