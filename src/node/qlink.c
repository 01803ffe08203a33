/* qlink — links over QUIC (docs/PROTOCOL.md §15): the node's UDP sockets,
 * one QUIC endpoint per socket, routing received datagrams to their
 * connection, and the QUIC half of a link's I/O (datagrams out).
 *
 * Everything above the link (streams, RPCs, circuits) goes through the
 * tsession interface and does not know a link is QUIC. Paths: a connection
 * always sees its socket's bound address as the local side (a wildcard
 * socket follows the host's addresses by itself, so a client whose address
 * changes keeps its connection and the server validates the new path);
 * a server link replies from the address its client wrote to. */
#include "node/node_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define LOG "quic"
/* Datagrams one link may write per event before yielding to the others
 * (it is called again at once through its expiry). */
#define MAX_DGRAMS_PER_FLUSH 512

static uint64_t
qkey(const struct vx6_quic *q)
{
	return (uint64_t)(uintptr_t)q;
}

static void
quic_config(struct vx6_node *n, struct vx6_quic_config *qc, const uint8_t *expected_key)
{
	const struct vx6_session_config *s = &n->scfg_out;

	memset(qc, 0, sizeof(*qc));
	qc->local = &n->id;
	qc->settings = s->settings;
	qc->handshake_timeout = s->handshake_timeout;
	/* With no RST on UDP, a vanished peer is only noticed by unanswered
	 * packets: PING after 2 s of silence (one small packet), and the
	 * connection ends after QUIC_MAX_PTO unanswered probes. */
	qc->keepalive_interval = s->keepalive_interval < 2000000000ULL ? s->keepalive_interval : 2000000000ULL;
	qc->idle_timeout = s->idle_timeout;
	if (expected_key) {
		qc->have_expected_key = true;
		memcpy(qc->expected_key, expected_key, VX6_KEY_LEN);
	}
}

static struct udp_sock *
udp_open(struct vx6_node *n, const struct vx6_addr *a, bool listener, int *rc)
{
	struct vx6_quic_ep_config ec;
	struct udp_sock *u;

	*rc = VX6_ERR_NOMEM;
	if (n->io->udp_open == NULL || n->io->udp_send == NULL) {
		*rc = VX6_ERR_STATE;   /* this I/O layer has no UDP */
		return NULL;
	}
	if (n->dgram_buf == NULL && (n->dgram_buf = malloc(VX6_UDP_BATCH * VX6_QUIC_MAX_DGRAM)) == NULL)
		return NULL;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return NULL;
	vx6_quic_ep_config_defaults(&ec);
	ec.local = &n->id;
	ec.max_handshakes = n->cfg.limits.max_handshakes;
	if (ec.retry_above > ec.max_handshakes / 2)
		ec.retry_above = ec.max_handshakes / 2;
	u->ep = vx6_quic_ep_new(&ec, n->env);
	u->node = n;
	u->id = node_new_id(n);
	u->listener = listener;
	if (u->ep == NULL || node_conn_add(n, u->id, CONN_UDP, u) == NULL) {
		vx6_quic_ep_free(u->ep);
		free(u);
		return NULL;
	}
	*rc = n->io->udp_open(n->io_ud, u->id, a, &u->bound);
	if (*rc) {
		free(vx6_idmap_del(&n->conns, u->id));
		vx6_quic_ep_free(u->ep);
		free(u);
		return NULL;
	}
	u->bound.transport = VX6_TRANSPORT_QUIC;
	u->next = n->udp_socks;
	n->udp_socks = u;
	return u;
}

int
qlink_listen(struct vx6_node *n, const struct vx6_addr *a, struct vx6_addr *bound)
{
	int rc;
	struct udp_sock *u = udp_open(n, a, true, &rc);

	if (u == NULL)
		return rc;
	*bound = u->bound;
	return 0;
}

/* The socket to dial from: a listener of the family (peers then see the
 * port we listen on), else a client socket opened once. */
static struct udp_sock *
dial_socket(struct vx6_node *n, uint8_t family)
{
	struct vx6_addr any;
	int rc;

	for (struct udp_sock *u = n->udp_socks; u; u = u->next)
		if (u->listener && u->bound.family == family)
			return u;
	for (struct udp_sock *u = n->udp_socks; u; u = u->next)
		if (u->bound.family == family)
			return u;
	memset(&any, 0, sizeof(any));
	any.family = family;
	any.transport = VX6_TRANSPORT_QUIC;
	return udp_open(n, &any, false, &rc);
}

/* Takes q: on failure it is freed (by the wrapper, or with the link). */
static int
attach_quic(struct link *l, struct udp_sock *u, struct vx6_quic *q)
{
	l->session = vx6_ts_wrap_quic(q);
	if (l->session == NULL)
		return VX6_ERR_NOMEM;
	l->udp = u;
	if (vx6_idmap_put(&l->node->quic_links, qkey(q), l) != 0)
		return VX6_ERR_NOMEM;
	l->connected = true;   /* datagrams need no connection */
	return 0;
}

struct link *
qlink_dial(struct vx6_node *n, const struct vx6_addr *to, const uint8_t *expected_key, uint64_t hs_timeout)
{
	struct vx6_quic_config qc;
	struct udp_sock *u = dial_socket(n, to->family);
	struct vx6_quic *q;
	struct link *l;

	if (u == NULL) {
		char text[VX6_ADDR_STRLEN];
		vx6_addr_format(to, text, sizeof(text), true);
		NLOG_WARN(n, "cannot dial %s: no UDP socket", text);
		return NULL;
	}
	l = link_new(n, 0, to, true);
	if (l == NULL)
		return NULL;
	quic_config(n, &qc, expected_key);
	if (hs_timeout && hs_timeout < qc.handshake_timeout)
		qc.handshake_timeout = hs_timeout;
	q = vx6_quic_connect(u->ep, &qc, n->env, &l->cbs, l, &u->bound, to, node_now(n));
	if (q == NULL || attach_quic(l, u, q) != 0) {
		link_free(l);   /* and q, which attach_quic took */
		return NULL;
	}
	link_attach(l);
	return l;
}

static void
accept_new(struct udp_sock *u, const struct vx6_dgram *d)
{
	struct vx6_node *n = u->node;
	struct vx6_quic_config qc;
	struct vx6_quic *q;
	struct link *l;

	if (n->shutting_down || n->n_links >= n->cfg.limits.max_sessions ||
	    n->n_handshaking_in >= n->cfg.limits.max_handshakes) {
		n->ctr.limit_refused++;
		return;
	}
	struct vx6_addr remote = d->remote;

	remote.transport = VX6_TRANSPORT_QUIC;
	l = link_new(n, 0, &remote, false);
	if (l == NULL)
		return;
	quic_config(n, &qc, NULL);
	q = vx6_quic_accept(u->ep, &qc, n->env, &l->cbs, l, &u->bound, &remote, d->data, d->len,
	    node_now(n));
	if (q == NULL || attach_quic(l, u, q) != 0) {
		link_free(l);   /* and q, which attach_quic took */
		return;
	}
	l->quic_local = d->local;   /* reply from where the client wrote to */
	link_attach(l);
	n->n_handshaking_in++;
}

void
vx6_node_datagrams(struct vx6_node *n, uint64_t id, const struct vx6_dgram *d, size_t count)
{
	struct conn *c = node_conn_get(n, id);
	struct udp_sock *u;
	uint8_t reply[VX6_QUIC_MAX_DGRAM];

	if (c == NULL || c->kind != CONN_UDP || c->closing)
		return;
	u = c->u.udp;
	for (size_t i = 0; i < count; i++) {
		struct vx6_quic *q = NULL;
		struct vx6_addr remote = d[i].remote;
		size_t reply_len = 0;
		struct link *l;
		remote.transport = VX6_TRANSPORT_QUIC;
		switch (vx6_quic_ep_classify(u->ep, &u->bound, &remote, d[i].data, d[i].len, node_now(n), &q,
		    reply, &reply_len)) {
		case VX6_QUIC_RX_CONN:
			l = vx6_idmap_get(&n->quic_links, qkey(q));
			if (l && !l->quic_done)
				(void)vx6_quic_recv(q, &u->bound, &remote, d[i].data, d[i].len, node_now(n));
			break;
		case VX6_QUIC_RX_NEW:
			accept_new(u, &d[i]);
			break;
		case VX6_QUIC_RX_REPLY: {
			struct vx6_dgram out = { .local = d[i].local, .remote = d[i].remote, .data = reply,
			    .len = reply_len };
			(void)n->io->udp_send(n->io_ud, u->id, &out, 1);
			break;
		}
		case VX6_QUIC_RX_DROP:
			break;
		}
	}
	node_after_event(n);
}

/* Writes what the connection has to send, in batches. */
void
qlink_flush(struct link *l)
{
	struct vx6_node *n = l->node;
	struct vx6_quic *q = vx6_ts_quic(l->session);
	struct vx6_dgram batch[VX6_UDP_BATCH];
	size_t count = 0, total = 0;
	uint64_t now = node_now(n);
	int len;

	if (q == NULL || l->quic_done || l->udp == NULL)
		return;
	for (;;) {
		uint8_t *buf = n->dgram_buf + count * VX6_QUIC_MAX_DGRAM;
		struct vx6_addr to;
		len = total < MAX_DGRAMS_PER_FLUSH ? vx6_quic_write(q, now, &to, buf, VX6_QUIC_MAX_DGRAM) : 0;
		if (len > 0) {
			memset(&batch[count], 0, sizeof(batch[count]));
			batch[count].local = l->outbound ? l->udp->bound : l->quic_local;
			batch[count].local.port = l->udp->bound.port;
			batch[count].remote = to;
			batch[count].data = buf;
			batch[count].len = (size_t)len;
			count++;
			total++;
		}
		if (count == VX6_UDP_BATCH || (len <= 0 && count > 0)) {
			int sent = n->io->udp_send(n->io_ud, l->udp->id, batch, count);
			if (sent >= 0 && (size_t)sent < count)
				n->quic_dropped_sends += count - (size_t)sent;
			count = 0;
		}
		if (len <= 0)
			break;
	}
	if (l->over && vx6_quic_is_closed(q))
		l->quic_done = true;   /* freed by qlink_gc(), outside the link walk */
}

void
qlink_gc(struct vx6_node *n)
{
	struct link *l = n->links, *next;

	for (; l; l = next) {
		next = l->next;
		if (l->udp && l->quic_done && l->fallback_pending)
			link_fallback_tcp(l);
		else if (l->udp && l->quic_done)
			link_detach_free(l);
	}
}

/* The socket went away (node shutdown): its connections end. */
void
qlink_udp_closed(struct udp_sock *u)
{
	struct vx6_node *n = u->node;
	struct udp_sock **pp;

	for (struct link *l = n->links; l; l = l->next)
		if (l->udp == u) {
			if (!l->over)
				vx6_ts_close(l->session, VX6_CLOSE_NORMAL, "the UDP socket closed");
			l->quic_done = true;
		}
	qlink_gc(n);
	for (pp = &n->udp_socks; *pp; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	vx6_quic_ep_free(u->ep);
	free(u);
}

void
qlink_free_all(struct vx6_node *n)
{
	while (n->udp_socks) {
		struct udp_sock *u = n->udp_socks;
		n->udp_socks = u->next;
		vx6_quic_ep_free(u->ep);
		free(u);
	}
	vx6_idmap_free(&n->quic_links);
	free(n->dgram_buf);
	n->dgram_buf = NULL;
}
