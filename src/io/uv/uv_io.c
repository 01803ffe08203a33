#include "io/uv/uv_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/idmap.h"
#include "os/os.h"

/* Pending writes get this long to drain on a graceful close. */
#define CLOSE_LINGER_MS 10000
#define MAX_IOV 64
/* UDP receive: one slot per datagram of a batch. Datagrams longer than a
 * slot are dropped (QUIC packets stay near 1200-1500 bytes; GRO runs are
 * split back by os_udp). At most UDP_MAX_ROUNDS batches are read from the
 * kernel per readiness callback, so one busy socket cannot starve the loop;
 * datagrams os_udp already holds are always handed on (epoll would not
 * report them, and they could wait for the peer's next packet). */
#define UDP_SLOT 2048
#define UDP_MAX_ROUNDS 16

_Static_assert(VX6_UDP_BATCH <= VX6_OS_UDP_BATCH, "a node batch must fit an OS batch");

/* A write that finished inside op_write (uv_try_write): reported to the node
 * from the check handle, never from inside the operation. */
struct done_write {
	uint64_t id;
	size_t bytes;
	struct done_write *next;
};

struct vx6_uv {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_idle_t due;                 /* a wake-up already due: next loop turn */
	int hr_fd;                     /* sub-millisecond wake-ups (-1: none) */
	uv_poll_t hr_poll;
	bool hr_open, hr_ok;           /* hr_poll initialised; polled (usable) */
	uint64_t hr_armed;             /* its deadline, 0 when not armed */
	uv_check_t check;
	struct done_write *done, **done_tail;
	struct vx6_node *node;
	struct vx6_idmap conns;        /* id -> struct uvconn * */
	void (*idle_fn)(void *);
	void *idle_ud;
};

struct uvconn {
	struct vx6_uv *u;
	uint64_t id;
	enum vx6_sock_kind kind;
	bool listener;
	bool is_pipe;
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
		uv_poll_t poll;        /* VX6_SOCK_UDP: the raw socket, polled */
	} h;
	uv_connect_t creq;
	uv_shutdown_t sreq;
	uv_timer_t *linger;            /* bounds a graceful close */
	struct vx6_chunk *rbuf;
	uint32_t writes_pending;
	size_t bytes_pending;
	int handles_open;              /* stream + linger timer */
	bool connecting, reading, closing, close_when_drained, shutdown_sent;
	bool registered;               /* known to the node: report vx6_node_closed */
	struct vx6_os_udp *udp;        /* VX6_SOCK_UDP: the socket, closed in handle_closed */
	uint8_t *udp_buf;              /* VX6_SOCK_UDP: VX6_OS_UDP_BATCH slots of UDP_SLOT bytes */
};

struct wreq {
	uv_write_t req;
	struct uvconn *c;
	size_t bytes;
	size_t n;
	struct vx6_chunk *chunks[MAX_IOV];
};

int
vx6_uv_err(int e)
{
	switch (e) {
	case 0: return 0;
	case UV_EADDRINUSE: return VX6_ERR_EXISTS;
	case UV_EACCES: case UV_EPERM: return VX6_ERR_PERM;
	case UV_ECONNREFUSED: return VX6_ERR_REFUSED;
	case UV_ETIMEDOUT: return VX6_ERR_TIMEOUT;
	case UV_ENETUNREACH: case UV_EHOSTUNREACH: case UV_EADDRNOTAVAIL: return VX6_ERR_UNREACHABLE;
	case UV_ENOMEM: case UV_ENOBUFS: return VX6_ERR_NOMEM;
	case UV_EINVAL: return VX6_ERR_INVAL;
	case UV_EOF: case UV_ECONNRESET: case UV_EPIPE: return VX6_ERR_CLOSED;
	default: return VX6_ERR_IO;
	}
}

static void
to_sockaddr(const struct vx6_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->ip, 16);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->ip, 4);
	}
}

static void
from_sockaddr(const struct sockaddr_storage *ss, struct vx6_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		a->family = 6;
		a->port = ntohs(s6->sin6_port);
		memcpy(a->ip, &s6->sin6_addr, 16);
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		a->family = 4;
		a->port = ntohs(s4->sin_port);
		memcpy(a->ip, &s4->sin_addr, 4);
	}
}

static struct vx6_uv *
U(void *io)
{
	return io;
}

static struct uvconn *
conn_get(struct vx6_uv *u, uint64_t id)
{
	return vx6_idmap_get(&u->conns, id);
}

static struct uvconn *
conn_new(struct vx6_uv *u, uint64_t id, enum vx6_sock_kind kind)
{
	struct uvconn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->u = u;
	c->id = id;
	c->kind = kind;
	c->h.handle.data = c;
	return c;
}

static void
handle_closed(uv_handle_t *h)
{
	struct uvconn *c = h->data;
	struct vx6_uv *u = c->u;

	if (--c->handles_open > 0)
		return;
	free(c->linger);
	vx6_chunk_free(c->rbuf);
	vx6_os_udp_close(c->udp);   /* after the poll handle closed, never while polled */
	free(c->udp_buf);
	if (c->registered) {
		vx6_idmap_del(&u->conns, c->id);
		if (u->node)
			vx6_node_closed(u->node, c->id);
	}

	free(c);
	if (u->idle_fn)
		u->idle_fn(u->idle_ud);
}

static void
do_close(struct uvconn *c, bool reset)
{
	int rc = -1;

	if (uv_is_closing(&c->h.handle))
		return;
	if (c->linger && !uv_is_closing((uv_handle_t *)c->linger))
		uv_close((uv_handle_t *)c->linger, handle_closed);
	if (reset && !c->is_pipe && !c->listener && !c->connecting && c->kind != VX6_SOCK_UDP)
		rc = uv_tcp_close_reset(&c->h.tcp, handle_closed);
	if (rc != 0)
		uv_close(&c->h.handle, handle_closed);
}

static void
linger_expired(uv_timer_t *t)
{
	struct uvconn *c = t->data;

	do_close(c, true);   /* the reader never drained: give up */
}

/* --- io ops --- */

static uint64_t
op_now(void *io)
{
	(void)io;
	return uv_hrtime();
}

static void
timer_fired(uv_timer_t *t)
{
	struct vx6_uv *u = t->data;

	if (u->node)
		vx6_node_timer(u->node);
}

static void
due_fired(uv_idle_t *h)
{
	struct vx6_uv *u = h->data;

	uv_idle_stop(h);
	if (u->node)
		vx6_node_timer(u->node);
}

static void
hr_fired(uv_poll_t *p, int status, int events)
{
	struct vx6_uv *u = p->data;

	(void)status;
	(void)events;
	vx6_os_hrtimer_drain(u->hr_fd);
	u->hr_armed = 0;
	if (u->node)
		vx6_node_timer(u->node);
}

/* A wake-up in under a millisecond (QUIC pacing) goes to the
 * high-resolution timer, so the loop sleeps in epoll until then instead of
 * turning. Returns false where there is none, or it could not be armed. */
static bool
hr_arm(struct vx6_uv *u, uint64_t when)
{
	if (!u->hr_ok)
		return false;
	if (u->hr_armed != when) {
		if (vx6_os_hrtimer_arm(u->hr_fd, when) != 0)
			return false;
		u->hr_armed = when;
	}
	return true;
}

static void
op_set_timer(void *io, uint64_t when)
{
	struct vx6_uv *u = U(io);
	uint64_t now = uv_hrtime(), ms;

	/* A high-resolution deadline left armed fires once more at worst: the
	 * node then finds nothing due and re-arms, as for any early wake-up.
	 * Not disarmed here, which would cost a system call per event. */
	if (when == VX6_TIME_NEVER) {
		uv_timer_stop(&u->timer);
		uv_idle_stop(&u->due);
		return;
	}
	/* Not a 0 ms uv timer for a wake-up already due: libuv 1.44 runs a
	 * timer re-armed with 0 from its own callback again in the same turn,
	 * without polling, so a wake-up that stays due (a stale QUIC expiry)
	 * starved every socket for seconds. An idle handle runs once per turn,
	 * with a poll (timeout 0) between turns. */
	if (when <= now) {
		uv_timer_stop(&u->timer);
		uv_idle_start(&u->due, due_fired);
		return;
	}
	ms = (when - now) / VX6_NS_PER_MS;
	if (ms == 0 && hr_arm(u, when)) {
		uv_timer_stop(&u->timer);
		uv_idle_stop(&u->due);
		return;
	}
	if (ms == 0) {
		/* No high-resolution timer: the next loop turn, rather than a
		 * whole millisecond tick late. */
		uv_timer_stop(&u->timer);
		uv_idle_start(&u->due, due_fired);
		return;
	}
	/* Rounded down: a timer that fires early finds nothing due and is
	 * re-armed for the rest. */
	uv_idle_stop(&u->due);
	uv_timer_start(&u->timer, timer_fired, ms, 0);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct uvconn *c = h->data;
	size_t room = 0;

	(void)suggested;
	if (c->rbuf == NULL && c->u->node)
		c->rbuf = vx6_node_read_buffer(c->u->node, c->id, &room);
	else if (c->rbuf)
		room = vx6_chunk_tailroom(c->rbuf);
	buf->base = c->rbuf ? (char *)vx6_chunk_ptr(c->rbuf) : NULL;
	buf->len = c->rbuf ? room : 0;
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct uvconn *c = s->data;
	struct vx6_chunk *chunk = c->rbuf;
	struct vx6_node *node = c->u->node;

	(void)buf;
	c->rbuf = NULL;
	if (nread > 0) {
		chunk->len = (uint32_t)nread;
		vx6_node_read(node, c->id, chunk, 0, NULL);
		return;
	}
	vx6_chunk_free(chunk);
	if (nread == 0)
		return;
	uv_read_stop(s);
	c->reading = false;
	if (nread == UV_EOF)
		vx6_node_read(node, c->id, NULL, 0, NULL);
	else
		vx6_node_read(node, c->id, NULL, vx6_uv_err((int)nread), uv_strerror((int)nread));
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct uvconn *l = server->data, *c;
	struct vx6_uv *u = l->u;
	struct sockaddr_storage ss;
	struct vx6_addr remote;
	int len = sizeof(ss), rc;
	uv_os_fd_t fd;

	if (status < 0 || u->node == NULL)
		return;
	c = conn_new(u, 0, l->kind);
	if (c == NULL)
		return;
	c->is_pipe = l->is_pipe;
	rc = c->is_pipe ? uv_pipe_init(u->loop, &c->h.pipe, 0) : uv_tcp_init(u->loop, &c->h.tcp);
	if (rc) {
		free(c);
		return;
	}
	c->h.handle.data = c;
	c->handles_open = 1;
	if (uv_accept(server, &c->h.stream) != 0) {
		uv_close(&c->h.handle, handle_closed);
		return;
	}
	memset(&remote, 0, sizeof(remote));
	if (c->is_pipe) {
		/* Only our own user may drive the node. */
		if (uv_fileno(&c->h.handle, &fd) != 0 || !vx6_os_peer_is_same_user(fd)) {
			uv_close(&c->h.handle, handle_closed);
			return;
		}
	} else {
		uv_tcp_nodelay(&c->h.tcp, 1);
		if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
			from_sockaddr(&ss, &remote);
	}
	c->id = vx6_node_new_conn_id(u->node);
	if (vx6_idmap_put(&u->conns, c->id, c) != 0) {
		uv_close(&c->h.handle, handle_closed);
		return;
	}
	c->registered = true;
	if (vx6_node_accepted(u->node, l->id, c->id, &remote) != 0) {
		vx6_idmap_del(&u->conns, c->id);
		c->registered = false;   /* refused: the node forgets it */
		do_close(c, true);
	}
}

static int
op_listen(void *io, uint64_t id, enum vx6_sock_kind kind, const struct vx6_addr *a, struct vx6_addr *bound)
{
	struct vx6_uv *u = U(io);
	struct sockaddr_storage ss;
	struct uvconn *c;
	int len = sizeof(ss), rc;

	c = conn_new(u, id, kind);
	if (c == NULL)
		return VX6_ERR_NOMEM;
	c->listener = true;
	if ((rc = uv_tcp_init(u->loop, &c->h.tcp)) != 0) {
		free(c);
		return vx6_uv_err(rc);
	}
	c->h.handle.data = c;
	c->handles_open = 1;
	to_sockaddr(a, &ss);
	rc = uv_tcp_bind(&c->h.tcp, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen(&c->h.stream, 511, on_connection);
	if (rc == 0 && bound) {
		if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
			from_sockaddr(&ss, bound);
		else
			*bound = *a;
	}
	if (rc) {
		uv_close(&c->h.handle, handle_closed);   /* not registered: no node callback */
		return vx6_uv_err(rc);
	}
	if (vx6_idmap_put(&u->conns, id, c) != 0) {
		uv_close(&c->h.handle, handle_closed);
		return VX6_ERR_NOMEM;
	}
	c->registered = true;
	return 0;
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct uvconn *c = req->data;

	c->connecting = false;
	if (c->closing || status == UV_ECANCELED)
		return;
	vx6_node_connected(c->u->node, c->id, status ? vx6_uv_err(status) : 0,
	    status ? uv_strerror(status) : NULL);
}

static int
op_dial(void *io, uint64_t id, enum vx6_sock_kind kind, const struct vx6_addr *a)
{
	struct vx6_uv *u = U(io);
	struct sockaddr_storage ss;
	struct uvconn *c = conn_new(u, id, kind);
	int rc;

	if (c == NULL)
		return VX6_ERR_NOMEM;
	if ((rc = uv_tcp_init(u->loop, &c->h.tcp)) != 0) {
		free(c);
		return vx6_uv_err(rc);
	}
	c->h.handle.data = c;
	c->handles_open = 1;
	uv_tcp_nodelay(&c->h.tcp, 1);
	to_sockaddr(a, &ss);
	c->creq.data = c;
	rc = uv_tcp_connect(&c->creq, &c->h.tcp, (struct sockaddr *)&ss, on_connect);
	if (rc == 0 && vx6_idmap_put(&u->conns, id, c) != 0)
		rc = UV_ENOMEM;
	if (rc) {
		uv_close(&c->h.handle, handle_closed);
		return vx6_uv_err(rc);
	}
	c->registered = true;
	c->connecting = true;
	return 0;
}

static void
on_written(uv_write_t *req, int status)
{
	struct wreq *w = req->data;
	struct uvconn *c = w->c;

	for (size_t i = 0; i < w->n; i++)
		vx6_chunk_free(w->chunks[i]);
	c->writes_pending--;
	c->bytes_pending -= w->bytes;
	if (c->registered && c->u->node)
		vx6_node_wrote(c->u->node, c->id, w->bytes, status ? vx6_uv_err(status) : 0);
	free(w);
	if (c->close_when_drained && c->writes_pending == 0)
		do_close(c, false);
}

static void
report_done(uv_check_t *chk)
{
	struct vx6_uv *u = chk->data;
	struct done_write *d;

	while ((d = u->done) != NULL) {
		u->done = d->next;
		if (u->done == NULL)
			u->done_tail = &u->done;
		if (u->node && conn_get(u, d->id) != NULL)
			vx6_node_wrote(u->node, d->id, d->bytes, 0);
		free(d);
	}
}

/* Writes what the socket takes at once without queueing (no epoll change
 * when it all fits); returns true when q was written completely. */
static bool
try_write_all(struct uvconn *c, struct vx6_chunkq *q)
{
	uv_buf_t bufs[MAX_IOV];
	struct vx6_chunk *ch = q->head;
	struct done_write *d;
	unsigned n = 0;
	size_t total = 0;
	int rc;

	if (c->writes_pending > 0 || q->count > MAX_IOV || c->is_pipe)
		return false;
	for (; ch; ch = ch->next) {
		bufs[n++] = uv_buf_init((char *)vx6_chunk_ptr(ch), ch->len);
		total += ch->len;
	}
	rc = uv_try_write(&c->h.stream, bufs, n);
	if (rc <= 0)
		return false;
	if ((size_t)rc < total) {
		/* Partly written: drop what went out, queue the rest normally. */
		size_t left = (size_t)rc;
		while (left > 0 && (ch = q->head) != NULL) {
			if (ch->len <= left) {
				left -= ch->len;
				vx6_chunk_free(vx6_chunkq_pop(q));
			} else {
				vx6_chunk_consume(ch, left);
				q->bytes -= left;
				left = 0;
			}
		}
		d = calloc(1, sizeof(*d));
		if (d) {
			d->id = c->id;
			d->bytes = (size_t)rc;
			*c->u->done_tail = d;
			c->u->done_tail = &d->next;
		}
		return false;
	}
	vx6_chunkq_clear(q);
	d = calloc(1, sizeof(*d));
	if (d) {
		d->id = c->id;
		d->bytes = total;
		*c->u->done_tail = d;
		c->u->done_tail = &d->next;
	}
	return true;
}

static int
op_write(void *io, uint64_t id, struct vx6_chunkq *q)
{
	struct uvconn *c = conn_get(U(io), id);
	uv_buf_t bufs[MAX_IOV];
	struct wreq *w;
	int rc;

	if (c == NULL || c->closing || c->listener || c->connecting || c->kind == VX6_SOCK_UDP)
		return VX6_ERR_STATE;
	if (try_write_all(c, q))
		return 0;
	while (q->count > 0) {
		w = calloc(1, sizeof(*w));
		if (w == NULL)
			return VX6_ERR_NOMEM;
		w->c = c;
		w->req.data = w;
		while (w->n < MAX_IOV && q->count > 0) {
			struct vx6_chunk *ch = vx6_chunkq_pop(q);
			bufs[w->n] = uv_buf_init((char *)vx6_chunk_ptr(ch), ch->len);
			w->bytes += ch->len;
			w->chunks[w->n++] = ch;
		}
		rc = uv_write(&w->req, &c->h.stream, bufs, (unsigned)w->n, on_written);
		if (rc) {
			for (size_t i = 0; i < w->n; i++)
				vx6_chunk_free(w->chunks[i]);
			free(w);
			return vx6_uv_err(rc);
		}
		c->writes_pending++;
		c->bytes_pending += w->bytes;
	}
	return 0;
}

static void
op_read(void *io, uint64_t id, bool on)
{
	struct uvconn *c = conn_get(U(io), id);

	if (c == NULL || c->closing || c->listener || on == c->reading || c->kind == VX6_SOCK_UDP)
		return;
	if (on) {
		if (uv_read_start(&c->h.stream, on_alloc, on_read) == 0)
			c->reading = true;
	} else {
		uv_read_stop(&c->h.stream);
		c->reading = false;
	}
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
	(void)req;
	(void)status;   /* a failed FIN shows up as a read or write error */
}

static void
op_shutdown(void *io, uint64_t id)
{
	struct uvconn *c = conn_get(U(io), id);

	if (c == NULL || c->closing || c->listener || c->shutdown_sent || c->connecting ||
	    c->kind == VX6_SOCK_UDP)
		return;
	c->shutdown_sent = true;
	c->sreq.data = c;
	uv_shutdown(&c->sreq, &c->h.stream, on_shutdown);   /* waits for pending writes */
}

static void
op_close(void *io, uint64_t id, bool reset)
{
	struct uvconn *c = conn_get(U(io), id);

	if (c == NULL || c->closing)
		return;
	c->closing = true;
	if (c->reading && !c->listener)
		uv_read_stop(&c->h.stream);
	c->reading = false;
	if (!reset && !c->listener && c->writes_pending > 0) {
		/* Let queued bytes reach the peer first, for a bounded time. */
		c->close_when_drained = true;
		c->linger = malloc(sizeof(*c->linger));
		if (c->linger && uv_timer_init(c->u->loop, c->linger) == 0) {
			c->linger->data = c;
			c->handles_open++;
			uv_timer_start(c->linger, linger_expired, CLOSE_LINGER_MS, 0);
		} else {
			free(c->linger);
			c->linger = NULL;
		}
		return;
	}
	do_close(c, reset);
}

static size_t
op_write_queue(void *io, uint64_t id)
{
	struct uvconn *c = conn_get(U(io), id);

	return c ? c->bytes_pending : 0;
}

static uint64_t
op_wall_now(void *io)
{
	(void)io;
	return (uint64_t)vx6_os_wall_time();
}

static size_t
op_local_addrs(void *io, struct vx6_addr *out, size_t max)
{
	uv_interface_address_t *ifs = NULL;
	int count = 0;
	size_t n = 0;

	(void)io;
	if (uv_interface_addresses(&ifs, &count) != 0)
		return 0;
	for (int i = 0; i < count && n < max; i++) {
		struct vx6_addr a;
		struct sockaddr_storage ss;
		if (ifs[i].is_internal)
			continue;
		/* libuv's address union is only 4-byte aligned: copy it out
		 * rather than reading it through a sockaddr_storage pointer. */
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, &ifs[i].address, sizeof(ifs[i].address));
		from_sockaddr(&ss, &a);
		if (a.family == 6 && a.ip[0] == 0xfe && (a.ip[1] & 0xc0) == 0x80)
			continue;   /* link-local: not reachable across links */
		if (a.family == 0 || vx6_addr_is_loopback(&a))
			continue;
		out[n++] = a;
	}
	uv_free_interface_addresses(ifs, count);
	return n;
}

static int
op_conn_local_addr(void *io, uint64_t id, struct vx6_addr *out)
{
	struct uvconn *c = conn_get(U(io), id);
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (c != NULL && c->kind == VX6_SOCK_UDP) {
		vx6_os_udp_bound(c->udp, out);
		return 0;
	}
	if (c == NULL || c->is_pipe || c->listener)
		return VX6_ERR_INVAL;
	if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *)&ss, &len) != 0)
		return VX6_ERR_IO;
	from_sockaddr(&ss, out);
	return out->family ? 0 : VX6_ERR_INVAL;
}

/* --- UDP (QUIC) --- */

static void
on_udp_readable(uv_poll_t *p, int status, int events)
{
	struct uvconn *c = p->data;
	struct vx6_os_dgram od[VX6_OS_UDP_BATCH];
	struct vx6_dgram d[VX6_OS_UDP_BATCH];
	bool more = true;

	if (status < 0 || !(events & UV_READABLE))
		return;   /* a poll error: the next readiness (or close) decides */
	for (int round = 0; more && !c->closing; round++) {
		if (round >= UDP_MAX_ROUNDS && !vx6_os_udp_buffered(c->udp))
			break;
		int n = vx6_os_udp_recv(c->udp, c->udp_buf, UDP_SLOT, od, VX6_OS_UDP_BATCH, &more);

		if (n < 0)
			break;   /* a socket error, consumed; nothing to tell the node */
		if (n == 0 || c->u->node == NULL)
			continue;   /* all dropped (truncated), or shutting down: drain */
		for (int i = 0; i < n; i++) {
			d[i].local = od[i].local;
			d[i].remote = od[i].remote;
			d[i].data = od[i].data;
			d[i].len = od[i].len;
			d[i].ecn = od[i].ecn;
		}
		/* The node may send or close(id) from here: c stays valid until
		 * its close callback, and closing ends the loop. */
		for (int off = 0; off < n && !c->closing && c->u->node; off += VX6_UDP_BATCH)
			vx6_node_datagrams(c->u->node, c->id, d + off,
			    (size_t)(n - off < VX6_UDP_BATCH ? n - off : VX6_UDP_BATCH));
	}
}

static int
op_udp_open(void *io, uint64_t id, const struct vx6_addr *a, struct vx6_addr *bound)
{
	struct vx6_uv *u = U(io);
	struct uvconn *c = conn_new(u, id, VX6_SOCK_UDP);
	int rc, err = VX6_ERR_NOMEM;

	if (c == NULL)
		return VX6_ERR_NOMEM;
	c->udp_buf = malloc((size_t)VX6_OS_UDP_BATCH * UDP_SLOT);   /* 256 KiB: room for GRO runs */
	if (c->udp_buf != NULL)
		c->udp = vx6_os_udp_open(a, &err);
	if (c->udp == NULL) {
		free(c->udp_buf);
		free(c);
		return err;
	}
	rc = uv_poll_init_socket(u->loop, &c->h.poll, vx6_os_udp_fd(c->udp));
	if (rc) {
		/* The handle was not initialised: nothing to close in the loop. */
		vx6_os_udp_close(c->udp);
		free(c->udp_buf);
		free(c);
		return vx6_uv_err(rc);
	}
	c->h.handle.data = c;
	c->handles_open = 1;
	rc = uv_poll_start(&c->h.poll, UV_READABLE, on_udp_readable);
	if (rc == 0 && vx6_idmap_put(&u->conns, id, c) != 0)
		rc = UV_ENOMEM;
	if (rc) {
		uv_close(&c->h.handle, handle_closed);   /* not registered: no node callback */
		return vx6_uv_err(rc);
	}
	c->registered = true;
	if (bound)
		vx6_os_udp_bound(c->udp, bound);
	return 0;
}

static int
op_udp_send(void *io, uint64_t id, const struct vx6_dgram *d, size_t count)
{
	struct uvconn *c = conn_get(U(io), id);
	struct vx6_os_dgram od[VX6_UDP_BATCH];

	if (c == NULL || c->closing || c->kind != VX6_SOCK_UDP)
		return VX6_ERR_STATE;
	if (count > VX6_UDP_BATCH)
		return VX6_ERR_INVAL;
	for (size_t i = 0; i < count; i++) {
		od[i].local = d[i].local;
		od[i].remote = d[i].remote;
		od[i].data = d[i].data;
		od[i].len = d[i].len;
		od[i].ecn = d[i].ecn;
	}
	/* Sent now, never queued: what a full buffer refuses is lost, and
	 * QUIC's loss recovery resends it. */
	return vx6_os_udp_send(c->udp, od, count);
}

static const struct vx6_io_ops uv_ops = {
	.wall_now = op_wall_now,
	.local_addrs = op_local_addrs,
	.conn_local_addr = op_conn_local_addr,
	.now = op_now,
	.set_timer = op_set_timer,
	.listen = op_listen,
	.dial = op_dial,
	.write = op_write,
	.read = op_read,
	.shutdown = op_shutdown,
	.close = op_close,
	.write_queue = op_write_queue,
	.udp_open = op_udp_open,
	.udp_send = op_udp_send,
};

const struct vx6_io_ops *
vx6_uv_ops(void)
{
	return &uv_ops;
}

struct vx6_uv *
vx6_uv_new(uv_loop_t *loop)
{
	struct vx6_uv *u = calloc(1, sizeof(*u));

	if (u == NULL)
		return NULL;
	u->loop = loop;
	vx6_idmap_init(&u->conns);
	uv_timer_init(loop, &u->timer);
	u->timer.data = u;
	uv_idle_init(loop, &u->due);
	u->due.data = u;
	/* Without it (other systems, or a failure here) wake-ups under a
	 * millisecond run on the next loop turn. */
	u->hr_fd = vx6_os_hrtimer_open();
	if (u->hr_fd >= 0 && uv_poll_init(loop, &u->hr_poll, u->hr_fd) == 0) {
		u->hr_open = true;   /* closed by vx6_uv_close, the fd by vx6_uv_free */
		u->hr_poll.data = u;
		u->hr_ok = uv_poll_start(&u->hr_poll, UV_READABLE, hr_fired) == 0;
	}
	u->done_tail = &u->done;
	uv_check_init(loop, &u->check);
	u->check.data = u;
	uv_check_start(&u->check, report_done);
	return u;
}

void
vx6_uv_set_node(struct vx6_uv *u, struct vx6_node *node)
{
	u->node = node;
}

void
vx6_uv_on_idle_check(struct vx6_uv *u, void (*fn)(void *), void *ud)
{
	u->idle_fn = fn;
	u->idle_ud = ud;
}

int
vx6_uv_listen_ctl(struct vx6_uv *u, const char *path, char *err, size_t errlen)
{
	struct uvconn *c = conn_new(u, VX6_NODE_CTL_LISTENER, VX6_SOCK_CTL);
	int rc;

	if (c == NULL)
		return VX6_ERR_NOMEM;
	c->listener = true;
	c->is_pipe = true;
	uv_pipe_init(u->loop, &c->h.pipe, 0);
	c->h.handle.data = c;
	c->handles_open = 1;
	(void)vx6_os_unlink(path);   /* we hold the home lock: any socket here is stale */
	{
		/* Created owner-only from the first instant, not chmod'ed after. */
		unsigned old = vx6_os_umask(077);
		rc = uv_pipe_bind(&c->h.pipe, path);
		vx6_os_umask(old);
	}
	/* Owner only (uv_pipe_chmod would widen it); the home is 0700 as well. */
	if (rc == 0 && vx6_os_chmod(path, 0600) != 0)
		rc = UV_EPERM;
	if (rc == 0)
		rc = uv_listen(&c->h.stream, 16, on_connection);
	if (rc) {
		snprintf(err, errlen, "cannot open the control socket %s: %s", path, uv_strerror(rc));
		uv_close(&c->h.handle, handle_closed);
		return vx6_uv_err(rc);
	}
	vx6_idmap_put(&u->conns, c->id, c);
	c->registered = true;
	return 0;
}

void
vx6_uv_close(struct vx6_uv *u)
{
	size_t pos = 0;
	struct uvconn *c;

	/* Without a node nothing is reported; each wrapper is freed in its
	 * close callback when the loop drains. */
	u->node = NULL;
	u->idle_fn = NULL;
	while ((c = vx6_idmap_next(&u->conns, &pos, NULL)) != NULL) {
		c->closing = true;
		do_close(c, true);
	}
	if (!uv_is_closing((uv_handle_t *)&u->timer))
		uv_close((uv_handle_t *)&u->timer, NULL);
	if (!uv_is_closing((uv_handle_t *)&u->due))
		uv_close((uv_handle_t *)&u->due, NULL);
	u->hr_ok = false;
	if (u->hr_open && !uv_is_closing((uv_handle_t *)&u->hr_poll))
		uv_close((uv_handle_t *)&u->hr_poll, NULL);
	if (!uv_is_closing((uv_handle_t *)&u->check))
		uv_close((uv_handle_t *)&u->check, NULL);
}

void
vx6_uv_free(struct vx6_uv *u)
{
	if (u == NULL)
		return;
	while (u->done) {
		struct done_write *d = u->done;
		u->done = d->next;
		free(d);
	}
	vx6_idmap_free(&u->conns);
	vx6_os_hrtimer_close(u->hr_fd);   /* its poll handle closed before */
	free(u);
}
