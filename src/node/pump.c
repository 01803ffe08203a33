/* pump — moves bytes between a local application socket and a stream, both
 * ways, with half-close and reset, never buffering more than the stream's
 * credit (towards the peer) or window (towards the app). */
#include "node/node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

/* Bytes read from the app and held while no stream exists yet. */
#define WAITING_READ_LIMIT (256 * 1024)

struct pump *
pump_new(struct vx6_node *n, bool client)
{
	struct pump *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->node = n;
	p->client = client;
	vx6_chunkq_init(&p->to_app);
	vx6_chunkq_init(&p->out_app);
	vx6_chunkq_init(&p->to_stream);
	p->created_at = node_now(n);
	return p;
}

/* --- the session stream endpoint --- */

static bool
ep_link_live(void *ctx, uint32_t sid)
{
	struct link *l = ctx;

	return !l->over && vx6_ts_stream_exists(l->session, sid);
}

static bool
ep_link_usable(void *ctx)
{
	return !((struct link *)ctx)->over;
}

static size_t
ep_link_credit(void *ctx, uint32_t sid)
{
	return vx6_ts_credit(((struct link *)ctx)->session, sid);
}

static int
ep_link_send(void *ctx, uint32_t sid, struct vx6_chunk *c)
{
	return vx6_ts_send(((struct link *)ctx)->session, sid, c);
}

static int
ep_link_fin(void *ctx, uint32_t sid)
{
	return vx6_ts_fin(((struct link *)ctx)->session, sid);
}

static int
ep_link_reset(void *ctx, uint32_t sid, uint16_t code, const char *reason)
{
	return vx6_ts_reset(((struct link *)ctx)->session, sid, code, reason);
}

static int
ep_link_consumed(void *ctx, uint32_t sid, size_t n)
{
	return vx6_ts_consumed(((struct link *)ctx)->session, sid, n);
}

static int
ep_link_accept(void *ctx, uint32_t sid)
{
	return vx6_ts_accept(((struct link *)ctx)->session, sid);
}

static void
ep_link_detach(void *ctx, uint32_t sid, struct pump *p)
{
	struct link *l = ctx;

	if (vx6_idmap_get(&l->pumps, sid) == p)
		vx6_idmap_del(&l->pumps, sid);
}

const struct endpoint_ops link_endpoint = {
	.live = ep_link_live, .usable = ep_link_usable, .credit = ep_link_credit, .send = ep_link_send,
	.fin = ep_link_fin, .reset = ep_link_reset, .consumed = ep_link_consumed,
	.accept = ep_link_accept, .detach = ep_link_detach,
};

/* --- the pump --- */

/* The pump stays registered with its carrier until it is freed (so the
 * carrier can detach it); whether the stream still exists is the carrier's call. */
static bool
stream_live(const struct pump *p)
{
	return p->ep_ctx != NULL && p->sid != 0 && p->ep->live(p->ep_ctx, p->sid);
}

/* True when credit for received bytes can still be returned. */
static bool
carrier_usable(const struct pump *p)
{
	return p->ep_ctx != NULL && p->sid != 0 && p->ep->usable(p->ep_ctx);
}

static size_t
credit(const struct pump *p)
{
	return stream_live(p) ? p->ep->credit(p->ep_ctx, p->sid) : 0;
}

static void
give_credit(struct pump *p, size_t n)
{
	if (n && carrier_usable(p))
		(void)p->ep->consumed(p->ep_ctx, p->sid, n);
}

static void
update_reading(struct pump *p)
{
	bool want = p->app_connected && !p->app_closing && !p->app_eof;

	if (want) {
		if (p->sid == 0)
			want = p->to_stream.bytes < WAITING_READ_LIMIT;
		else
			want = p->to_stream.count == 0 && credit(p) > 0;
	}
	if (want != p->reading) {
		p->reading = want;
		p->node->io->read(p->node->io_ud, p->app_id, want);
	}
}

static void
close_app(struct pump *p, bool reset)
{
	if (p->app_closing)
		return;
	p->app_closing = true;
	p->reading = false;
	node_conn_close(p->node, p->app_id, reset);
}

/* Closes gracefully once both directions are finished. */
static void
maybe_finish(struct pump *p)
{
	if (p->app_eof && p->fin_sent && p->remote_fin && p->shut_sent)
		close_app(p, false);
}

static void
maybe_shutdown_app(struct pump *p)
{
	if (p->remote_fin && p->app_connected && !p->shut_sent && p->to_app.count == 0 &&
	    p->out_app.count == 0 && !p->app_closing) {
		p->shut_sent = true;
		p->node->io->shutdown(p->node->io_ud, p->app_id);
	}
	maybe_finish(p);
}

static void
flush_to_stream(struct pump *p)
{
	struct vx6_chunk *c;
	size_t cr;

	while (stream_live(p) && (c = p->to_stream.head) != NULL) {
		cr = p->ep->credit(p->ep_ctx, p->sid);
		if (cr == 0)
			break;
		if (c->len <= cr) {
			c = vx6_chunkq_pop(&p->to_stream);
		} else {
			/* Send what the credit allows; the rest stays, in place. */
			struct vx6_chunk *head = vx6_chunk_copy(vx6_chunk_ptr(c), cr, VX6_SESSION_HEADROOM,
			    VX6_SESSION_TAILROOM);
			if (head == NULL)
				break;
			vx6_chunk_consume(c, cr);
			p->to_stream.bytes -= cr;
			c = head;
		}
		if (p->ep->send(p->ep_ctx, p->sid, c) != 0)
			break;
	}
	if (stream_live(p) && p->to_stream.count == 0 && p->app_eof && !p->fin_sent) {
		p->fin_sent = true;
		p->ep->fin(p->ep_ctx, p->sid);
		maybe_finish(p);
	}
	update_reading(p);
}

void
pump_attach(struct pump *p, const struct endpoint_ops *ep, void *ctx, uint32_t sid)
{
	p->ep = ep;
	p->ep_ctx = ctx;
	p->sid = sid;
	p->node->ctr.streams_total++;
	flush_to_stream(p);
}

void
pump_attach_stream(struct pump *p, struct link *l, uint32_t sid)
{
	if (vx6_idmap_put(&l->pumps, sid, p) != 0) {
		vx6_ts_reset(l->session, sid, VX6_RESET_INTERNAL, "out of memory");
		close_app(p, true);
		return;
	}
	pump_attach(p, &link_endpoint, l, sid);
}

void
pump_carrier_gone(struct pump *p)
{
	p->ep_ctx = NULL;
}

struct vx6_chunk *
pump_read_buffer(struct pump *p)
{
	size_t room = credit(p);

	if (room == 0 || room > VX6_FRAME_MAX_DATA)
		room = VX6_FRAME_MAX_DATA;
	return vx6_chunk_new(VX6_SESSION_HEADROOM, room, VX6_SESSION_TAILROOM);
}

void
pump_on_app_read(struct pump *p, struct vx6_chunk *c, int status, const char *detail)
{
	if (c == NULL) {
		if (status == 0) {
			p->app_eof = true;
			flush_to_stream(p);     /* sends FIN once the queue is empty */
		} else {
			pump_abort(p, VX6_RESET_CANCEL, "the local connection was reset");
		}
		update_reading(p);
		return;
	}
	if (c->len == 0 || p->app_closing) {
		vx6_chunk_free(c);
		return;
	}
	p->bytes_up += c->len;
	if (p->fwd)
		p->fwd->bytes_up += c->len;
	vx6_chunkq_push(&p->to_stream, c);
	flush_to_stream(p);
}

void
pump_on_app_wrote(struct pump *p, size_t bytes, int status)
{
	if (bytes > p->app_inflight)
		bytes = p->app_inflight;
	p->app_inflight -= bytes;
	/* Written or dropped, the bytes are no longer ours: return the credit. */
	give_credit(p, bytes);
	if (status < 0 && !p->app_closing)
		pump_abort(p, VX6_RESET_CANCEL, "the local connection failed");
	else
		maybe_shutdown_app(p);
}

/* Queues c for the app; everything queued during one event goes out as one
 * writev (pump_flush_dirty, called at the end of every node entry point). */
static void
write_to_app(struct pump *p, struct vx6_chunk *c)
{
	p->app_inflight += c->len;
	vx6_chunkq_push(&p->out_app, c);
	if (!p->dirty) {
		p->dirty = true;
		p->next_dirty = p->node->dirty_pumps;
		p->node->dirty_pumps = p;
	}
}

void
pump_flush_dirty(struct vx6_node *n)
{
	struct pump *p;

	while ((p = n->dirty_pumps) != NULL) {
		n->dirty_pumps = p->next_dirty;
		p->dirty = false;
		p->next_dirty = NULL;
		if (p->out_app.count == 0)
			continue;
		if (n->io->write(n->io_ud, p->app_id, &p->out_app) != 0) {
			/* The socket is going away: the bytes are dropped, credit owed. */
			size_t bytes = p->out_app.bytes;
			vx6_chunkq_clear(&p->out_app);
			p->app_inflight -= bytes < p->app_inflight ? bytes : p->app_inflight;
			give_credit(p, bytes);
		}
		maybe_shutdown_app(p);   /* a FIN may have waited for this data */
	}
}

static void
undirty(struct pump *p)
{
	struct pump **pp;

	if (!p->dirty)
		return;
	for (pp = &p->node->dirty_pumps; *pp; pp = &(*pp)->next_dirty)
		if (*pp == p) {
			*pp = p->next_dirty;
			break;
		}
	p->dirty = false;
}

void
pump_on_app_connected(struct pump *p, int status, const char *detail)
{
	struct vx6_node *n = p->node;
	struct vx6_chunk *c;
	char why[160];

	if (status) {
		const struct vx6_service_def *svc = node_service_find(n, p->service);
		char target[VX6_ADDR_STRLEN] = "?";
		if (svc)
			vx6_addr_format(&svc->target, target, sizeof(target), false);
		n->ctr.targets_unreachable++;
		NLOG_WARN(n, "service %s: target %s is not accepting connections (%s)", p->service,
		    target, detail ? detail : vx6_strerror(status));
		snprintf(why, sizeof(why), "service '%s' is published but its target is not accepting "
		    "connections", p->service);
		pump_abort(p, VX6_RESET_TARGET_UNREACHABLE, why);
		return;
	}
	p->app_connected = true;
	if (stream_live(p))
		p->ep->accept(p->ep_ctx, p->sid);
	while ((c = vx6_chunkq_pop(&p->to_app)) != NULL)
		write_to_app(p, c);
	update_reading(p);
	maybe_shutdown_app(p);
}

void
pump_on_app_closed(struct pump *p)
{
	struct vx6_node *n = p->node;

	/* Queued data for the app is dropped: its credit is still owed. */
	undirty(p);
	give_credit(p, p->to_app.bytes + p->out_app.bytes);
	vx6_chunkq_clear(&p->to_app);
	vx6_chunkq_clear(&p->out_app);
	vx6_chunkq_clear(&p->to_stream);
	if (stream_live(p))
		p->ep->reset(p->ep_ctx, p->sid, VX6_RESET_CANCEL, "the local connection closed");
	if (p->ep_ctx && p->sid)
		p->ep->detach(p->ep_ctx, p->sid, p);
	if (p->fwd)
		forward_pump_gone(p->fwd, p);
	n->n_app--;
	free(p);
}

void
pump_stream_data(struct pump *p, struct vx6_chunk *c)
{
	p->bytes_down += c->len;
	if (p->fwd)
		p->fwd->bytes_down += c->len;
	if (p->app_closing) {
		give_credit(p, c->len);
		vx6_chunk_free(c);
	} else if (!p->app_connected) {
		vx6_chunkq_push(&p->to_app, c);
	} else {
		write_to_app(p, c);
	}
}

void
pump_stream_fin(struct pump *p)
{
	p->remote_fin = true;
	maybe_shutdown_app(p);
}

void
pump_stream_accepted(struct pump *p)
{
	p->accepted = true;
}

void
pump_stream_writable(struct pump *p)
{
	flush_to_stream(p);
}

void
pump_stream_reset(struct pump *p, uint16_t code, const char *reason, bool remote)
{
	struct vx6_node *n = p->node;

	/* The stream is gone from the session; p->sid stays for the credit of
	 * bytes still being written to the app. */
	if (p->client && p->fwd && remote) {
		struct forward *f = p->fwd;
		json_t *ev = json_object();
		f->refused += !p->accepted;
		snprintf(f->last_error, sizeof(f->last_error), "owner reset a stream: %s (%s)",
		    reason[0] ? reason : vx6_reset_code_name(code), vx6_reset_code_name(code));
		NLOG_INFO(n, "forward %s: owner reset stream %u: %s", f->listen_text, p->sid,
		    f->last_error);
		if (ev) {
			json_object_set_new(ev, "code", json_string(vx6_reset_code_name(code)));
			json_object_set_new(ev, "reason", json_string(reason));
			forward_event(f, "stream-reset", ev);
		}
	}
	close_app(p, true);
}

void
pump_abort(struct pump *p, uint16_t code, const char *reason)
{
	if (stream_live(p))
		p->ep->reset(p->ep_ctx, p->sid, code, reason);
	close_app(p, true);
}
