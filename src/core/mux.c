#include "core/mux.h"

#include <stdlib.h>
#include <string.h>

#include "lib/cursor.h"
#include "lib/err.h"
#include "lib/idmap.h"

/* Credit is returned once half a window has been consumed: fewer WINDOW
 * frames, while the sender never waits as long as the reader keeps up. */
#define RETURN_FRACTION 2
#define MAX_CREDIT (1ULL << 40)

struct stream {
	uint32_t id;
	bool local;          /* we opened it */
	bool accepted;
	bool fin_sent;
	bool fin_recv;
	bool blocked;        /* ran out of credit since the last writable */
	uint64_t send_credit;
	uint64_t recv_window;    /* bytes the peer may still send */
	uint64_t recv_pending;   /* consumed but not yet returned */
};

struct vx6_mux {
	bool we_dialed;
	struct vx6_hs_settings local;
	struct vx6_hs_settings peer;
	const struct vx6_mux_cbs *cbs;
	void *cb_ud;
	const struct vx6_mux_sink *sink;
	struct vx6_idmap streams;
	uint32_t next_local_id;
	uint32_t last_peer_id;       /* highest id the peer has opened */
	uint32_t local_open;         /* streams we opened that still exist */
	uint32_t peer_open;
	uint64_t opened_total;
	uint64_t send_credit;        /* session level */
	uint64_t recv_window;
	uint64_t recv_pending;
	uint64_t recv_buffered;      /* delivered to callbacks, not yet consumed */
	bool session_wanted;         /* a stream waits for more session credit */
};

static bool
is_local_id(const struct vx6_mux *m, uint32_t sid)
{
	return ((sid & 1) == 1) == m->we_dialed;
}

struct vx6_mux *
vx6_mux_new(bool we_dialed, const struct vx6_hs_settings *local, const struct vx6_hs_settings *peer,
    const struct vx6_mux_cbs *cbs, void *cb_ud, const struct vx6_mux_sink *sink)
{
	struct vx6_mux *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->we_dialed = we_dialed;
	m->local = *local;
	m->peer = *peer;
	m->cbs = cbs;
	m->cb_ud = cb_ud;
	m->sink = sink;
	vx6_idmap_init(&m->streams);
	m->next_local_id = we_dialed ? 1 : 2;
	m->send_credit = peer->session_window;
	m->recv_window = local->session_window;
	return m;
}

void
vx6_mux_free(struct vx6_mux *m)
{
	size_t pos = 0;
	struct stream *s;

	if (m == NULL)
		return;
	while ((s = vx6_idmap_next(&m->streams, &pos, NULL)) != NULL)
		free(s);
	vx6_idmap_free(&m->streams);
	free(m);
}

static void
stream_delete(struct vx6_mux *m, struct stream *s)
{
	vx6_idmap_del(&m->streams, s->id);
	if (s->local)
		m->local_open--;
	else
		m->peer_open--;
	free(s);
}

static struct stream *
stream_get(const struct vx6_mux *m, uint32_t sid)
{
	return sid ? vx6_idmap_get(&m->streams, sid) : NULL;
}

static struct stream *
stream_add(struct vx6_mux *m, uint32_t sid, bool local)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->id = sid;
	s->local = local;
	s->send_credit = m->peer.stream_window;
	s->recv_window = m->local.stream_window;
	if (vx6_idmap_put(&m->streams, sid, s) != 0) {
		free(s);
		return NULL;
	}
	if (local)
		m->local_open++;
	else
		m->peer_open++;
	m->opened_total++;
	return s;
}

/* A stream whose both directions finished is forgotten; credit for any
 * bytes still unconsumed is returned at session level only. */
static void
maybe_done(struct vx6_mux *m, struct stream *s)
{
	if (s->fin_sent && s->fin_recv)
		stream_delete(m, s);
}

/* True when sid belongs to a stream that existed and is gone. */
static bool
is_old_id(const struct vx6_mux *m, uint32_t sid)
{
	if (is_local_id(m, sid))
		return sid < m->next_local_id;
	return sid <= m->last_peer_id;
}

static int
send_window(struct vx6_mux *m, uint32_t sid, uint64_t inc)
{
	uint8_t p[4];

	vx6_put_u32(p, (uint32_t)inc);
	return m->sink->frame(m->sink->ud, VX6_FRAME_WINDOW, 0, sid, p, 4);
}

static int
return_credit(struct vx6_mux *m, struct stream *s, size_t n)
{
	int rc;

	m->recv_pending += n;
	/* Return session credit after half a window, and also whenever the
	 * peer's remaining credit runs low: slow streams may hold most of the
	 * window unread, and the others must keep flowing. */
	if (m->recv_pending >= m->local.session_window / RETURN_FRACTION ||
	    (m->recv_pending > 0 && m->recv_window < m->local.session_window / RETURN_FRACTION)) {
		rc = send_window(m, 0, m->recv_pending);
		if (rc)
			return rc;
		m->recv_window += m->recv_pending;
		m->recv_pending = 0;
	}
	if (s && !s->fin_recv) {
		s->recv_pending += n;
		if (s->recv_pending >= m->local.stream_window / RETURN_FRACTION) {
			rc = send_window(m, s->id, s->recv_pending);
			if (rc)
				return rc;
			s->recv_window += s->recv_pending;
			s->recv_pending = 0;
		}
	}
	return 0;
}

static int
handle_open(struct vx6_mux *m, const struct vx6_frame *f)
{
	char service[VX6_FRAME_MAX_SERVICE + 1];
	size_t n;
	struct stream *s;

	/* The peer's ids are consecutive: 1, 3, 5 ... or 2, 4, 6 ... */
	if (f->stream_id != (m->last_peer_id ? m->last_peer_id + 2 : (m->we_dialed ? 2u : 1u)))
		return VX6_ERR_PROTOCOL;   /* wrong parity, reused, skipped or out of order */
	m->last_peer_id = f->stream_id;
	if (f->payload[0] != 1)            /* kind 1: service by name */
		return VX6_ERR_MALFORMED;
	n = f->length - 1u;
	for (size_t i = 0; i < n; i++) {
		char c = (char)f->payload[1 + i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == ':'))
			return VX6_ERR_MALFORMED;
		service[i] = c;
	}
	service[n] = '\0';
	if (m->peer_open >= m->local.max_streams)
		return vx6_mux_reset(m, f->stream_id, VX6_RESET_LIMIT, "too many streams");
	s = stream_add(m, f->stream_id, false);
	if (s == NULL)
		return VX6_ERR_NOMEM;
	m->cbs->on_open(m->cb_ud, f->stream_id, service);
	return 0;
}

static int
handle_data(struct vx6_mux *m, const struct vx6_frame *f, struct vx6_chunk **record)
{
	struct stream *s = stream_get(m, f->stream_id);
	struct vx6_chunk *c;
	uint32_t sid = f->stream_id;
	bool fin = f->flags & VX6_FRAME_FLAG_FIN;

	if (f->length > m->recv_window)
		return VX6_ERR_FLOW;
	if (s == NULL) {
		if (!is_old_id(m, sid))
			return VX6_ERR_PROTOCOL;   /* data for a stream never opened */
		/* Late data for a stream we already closed: drop it, but the
		 * session credit it used is ours to return. */
		m->recv_window -= f->length;
		return f->length ? return_credit(m, NULL, f->length) : 0;
	}
	if (s->fin_recv)
		return VX6_ERR_PROTOCOL;       /* data after FIN */
	if (s->local && !s->accepted)
		return VX6_ERR_PROTOCOL;       /* data before ACCEPT */
	if (f->length > s->recv_window)
		return VX6_ERR_FLOW;
	m->recv_window -= f->length;
	s->recv_window -= f->length;
	if (f->length) {
		if (record && *record) {
			c = *record;
			*record = NULL;
			c->off = (uint32_t)(f->payload - c->data);
			c->len = f->length;
		} else {
			c = vx6_chunk_copy(f->payload, f->length, 0, 0);
			if (c == NULL)
				return VX6_ERR_NOMEM;
		}
		m->recv_buffered += f->length;
		m->cbs->on_data(m->cb_ud, sid, c);
	}
	if (fin) {
		s = stream_get(m, sid);     /* the callback may have reset it */
		if (s == NULL)
			return 0;
		s->fin_recv = true;
		m->cbs->on_fin(m->cb_ud, sid);
		s = stream_get(m, sid);
		if (s)
			maybe_done(m, s);
	}
	return 0;
}

static int
handle_window(struct vx6_mux *m, const struct vx6_frame *f)
{
	uint32_t inc = vx6_get_u32(f->payload);
	struct stream *s;
	size_t pos = 0;

	if (inc == 0)
		return VX6_ERR_PROTOCOL;
	if (f->stream_id == 0) {
		bool was_blocked = m->send_credit == 0;
		m->send_credit += inc;
		if (m->send_credit > MAX_CREDIT)
			return VX6_ERR_FLOW;
		if (!was_blocked && !m->session_wanted)
			return 0;
		m->session_wanted = false;
		/* Session credit was exhausted: any stream may have found zero
		 * credit (not only those whose own send used it up), so wake every
		 * stream that has stream credit; else wake the streams that asked
		 * (vx6_mux_want_writable). Ids are collected first because
		 * callbacks may add or remove streams. */
		uint32_t ids[64];
		size_t n;
		do {
			n = 0;
			while (n < 64 && (s = vx6_idmap_next(&m->streams, &pos, NULL)) != NULL)
				if (s->send_credit > 0 && !s->fin_sent && (was_blocked || s->blocked))
					ids[n++] = s->id;
			for (size_t i = 0; i < n; i++) {
				s = stream_get(m, ids[i]);
				if (s && m->send_credit > 0) {
					s->blocked = false;
					m->cbs->on_writable(m->cb_ud, ids[i]);
				}
			}
		} while (n == 64);
		return 0;
	}
	s = stream_get(m, f->stream_id);
	if (s == NULL)
		return is_old_id(m, f->stream_id) ? 0 : VX6_ERR_PROTOCOL;
	s->send_credit += inc;
	if (s->send_credit > MAX_CREDIT)
		return VX6_ERR_FLOW;
	if (s->blocked && m->send_credit > 0 && !s->fin_sent) {
		s->blocked = false;
		m->cbs->on_writable(m->cb_ud, s->id);
	}
	return 0;
}

int
vx6_mux_handle(struct vx6_mux *m, const struct vx6_frame *f, struct vx6_chunk **record)
{
	struct stream *s;
	uint16_t code;
	char reason[VX6_FRAME_MAX_REASON + 1];

	switch (f->type) {
	case VX6_FRAME_OPEN:
		return handle_open(m, f);
	case VX6_FRAME_DATA:
		return handle_data(m, f, record);
	case VX6_FRAME_WINDOW:
		return handle_window(m, f);
	case VX6_FRAME_ACCEPT:
		s = stream_get(m, f->stream_id);
		if (s == NULL)
			return is_old_id(m, f->stream_id) ? 0 : VX6_ERR_PROTOCOL;
		if (!s->local || s->accepted)
			return VX6_ERR_PROTOCOL;
		s->accepted = true;
		m->cbs->on_accept(m->cb_ud, f->stream_id);
		return 0;
	case VX6_FRAME_RESET:
		if (vx6_frame_parse_reason(f, &code, reason) != 0)
			return VX6_ERR_MALFORMED;
		s = stream_get(m, f->stream_id);
		if (s == NULL)
			return is_old_id(m, f->stream_id) ? 0 : VX6_ERR_PROTOCOL;
		/* Bytes delivered but not consumed keep their session credit owed;
		 * vx6_mux_consumed() returns it after the stream is gone. */
		stream_delete(m, s);
		m->cbs->on_reset(m->cb_ud, f->stream_id, code, reason, true);
		return 0;
	default:
		return VX6_ERR_PROTOCOL;
	}
}

int
vx6_mux_open(struct vx6_mux *m, const char *service, uint32_t *sid)
{
	uint8_t p[1 + VX6_FRAME_MAX_SERVICE];
	size_t n = strlen(service);
	struct stream *s;
	uint32_t id;
	int rc;

	if (n == 0 || n > VX6_FRAME_MAX_SERVICE)
		return VX6_ERR_INVAL;
	if (m->local_open >= m->peer.max_streams)
		return VX6_ERR_LIMIT;
	if (m->next_local_id > UINT32_MAX - 2)
		return VX6_ERR_LIMIT;      /* ids exhausted: a new session is needed */
	id = m->next_local_id;
	p[0] = 1;
	memcpy(p + 1, service, n);
	rc = m->sink->frame(m->sink->ud, VX6_FRAME_OPEN, 0, id, p, 1 + n);
	if (rc)
		return rc;
	m->next_local_id += 2;
	s = stream_add(m, id, true);
	if (s == NULL)
		return VX6_ERR_NOMEM;
	*sid = id;
	return 0;
}

int
vx6_mux_accept(struct vx6_mux *m, uint32_t sid)
{
	struct stream *s = stream_get(m, sid);
	int rc;

	if (s == NULL || s->local || s->accepted)
		return VX6_ERR_STATE;
	/* Accepted only once the peer will see ACCEPT: no DATA may precede it. */
	rc = m->sink->frame(m->sink->ud, VX6_FRAME_ACCEPT, 0, sid, NULL, 0);
	if (rc == 0)
		s->accepted = true;
	return rc;
}

size_t
vx6_mux_credit(const struct vx6_mux *m, uint32_t sid)
{
	const struct stream *s = stream_get(m, sid);
	uint64_t c;

	if (s == NULL || s->fin_sent || (!s->local && !s->accepted))
		return 0;   /* nothing goes out on a peer's stream before we accept it */
	c = s->send_credit < m->send_credit ? s->send_credit : m->send_credit;
	return c > VX6_FRAME_MAX_DATA ? VX6_FRAME_MAX_DATA : (size_t)c;
}

void
vx6_mux_want_writable(struct vx6_mux *m, uint32_t sid)
{
	struct stream *s = stream_get(m, sid);

	if (s == NULL || s->fin_sent)
		return;
	s->blocked = true;
	m->session_wanted = true;
}

int
vx6_mux_send(struct vx6_mux *m, uint32_t sid, struct vx6_chunk *c)
{
	struct stream *s = stream_get(m, sid);

	if (s == NULL || s->fin_sent || (!s->local && !s->accepted)) {
		vx6_chunk_free(c);
		return s == NULL ? VX6_ERR_CLOSED : VX6_ERR_STATE;
	}
	if (c->len == 0) {
		vx6_chunk_free(c);
		return 0;
	}
	if (c->len > vx6_mux_credit(m, sid)) {
		vx6_chunk_free(c);
		return VX6_ERR_FLOW;
	}
	s->send_credit -= c->len;
	m->send_credit -= c->len;
	if (s->send_credit == 0 || m->send_credit == 0)
		s->blocked = true;
	return m->sink->data(m->sink->ud, sid, 0, c);
}

int
vx6_mux_fin(struct vx6_mux *m, uint32_t sid)
{
	struct stream *s = stream_get(m, sid);
	int rc;

	if (s == NULL)
		return VX6_ERR_CLOSED;
	if (s->fin_sent)
		return 0;
	if (!s->local && !s->accepted)
		return VX6_ERR_STATE;
	rc = m->sink->frame(m->sink->ud, VX6_FRAME_DATA, VX6_FRAME_FLAG_FIN, sid, NULL, 0);
	if (rc)
		return rc;
	s->fin_sent = true;
	maybe_done(m, s);
	return 0;
}

int
vx6_mux_reset(struct vx6_mux *m, uint32_t sid, uint16_t code, const char *reason)
{
	uint8_t p[2 + VX6_FRAME_MAX_REASON];
	size_t n = reason ? strnlen(reason, VX6_FRAME_MAX_REASON) : 0;
	struct stream *s = stream_get(m, sid);

	vx6_put_u16(p, code);
	if (n)
		memcpy(p + 2, reason, n);
	if (s)
		stream_delete(m, s);
	return m->sink->frame(m->sink->ud, VX6_FRAME_RESET, 0, sid, p, 2 + n);
}

int
vx6_mux_consumed(struct vx6_mux *m, uint32_t sid, size_t n)
{
	if (n == 0)
		return 0;
	if (n > m->recv_buffered)
		return VX6_ERR_INVAL;       /* the caller's accounting is wrong */
	m->recv_buffered -= n;
	return return_credit(m, stream_get(m, sid), n);
}

void
vx6_mux_abort_all(struct vx6_mux *m, uint16_t code, const char *reason)
{
	uint32_t ids[64];
	size_t n, pos;
	struct stream *s;

	do {
		n = 0;
		pos = 0;
		while (n < 64 && (s = vx6_idmap_next(&m->streams, &pos, NULL)) != NULL)
			ids[n++] = s->id;
		for (size_t i = 0; i < n; i++) {
			s = stream_get(m, ids[i]);
			if (s == NULL)
				continue;
			stream_delete(m, s);
			m->cbs->on_reset(m->cb_ud, ids[i], code, reason, false);
		}
	} while (n > 0);
}

void
vx6_mux_stats(const struct vx6_mux *m, struct vx6_mux_stats *st)
{
	st->streams_open = m->local_open + m->peer_open;
	st->streams_opened_total = m->opened_total;
	st->send_credit = m->send_credit;
	st->recv_buffered = m->recv_buffered;
}

bool
vx6_mux_stream_exists(const struct vx6_mux *m, uint32_t sid)
{
	return stream_get(m, sid) != NULL;
}
