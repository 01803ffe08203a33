/* link — a peer session over one connection, and its session callbacks. */
#include "node/node_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

static void
short_id(const uint8_t id[VX6_NODE_ID_LEN], char out[17])
{
	char hex[VX6_NODE_ID_HEX_LEN];

	vx6_node_id_to_hex(id, hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
}

static void link_probe_up(struct link *l);

static void
on_established(void *ud)
{
	struct link *l = ud;
	struct vx6_node *n = l->node;
	struct vx6_session_info info;
	char nid[17];

	l->established = true;
	if (!l->outbound)
		n->n_handshaking_in--;
	n->ctr.sessions_total++;
	vx6_ts_info(l->session, &info);
	if (memcmp(info.peer_key, n->id.pk, VX6_KEY_LEN) == 0) {
		/* A node never talks to itself (a forward or peer pointing at our
		 * own address, or a copied identity elsewhere). */
		NLOG_WARN(n, "session %s %s reached this node itself: closing it", l->outbound ? "to" : "from",
		    l->remote_text);
		vx6_ts_close(l->session, VX6_RESET_NOT_ALLOWED, "that is this node's own key");
		return;
	}
	short_id(info.peer_node_id, nid);
	if (l->udp)
		NLOG_INFO(n, "session %s %s (node %s) established: QUIC, TLS 1.3", l->outbound ? "to" : "from",
		    l->remote_text, nid);
	else
		NLOG_INFO(n, "session %s %s (node %s) established: Noise %s, %s", l->outbound ? "to" : "from",
		    l->remote_text, nid, info.pattern == VX6_NOISE_IK ? "IK" : "XX", vx6_aead_name(info.aead));
	if (l->fell_back)
		l->reprobe_at = node_now(n) + (uint64_t)n->cfg.limits.quic_reprobe_s * 1000000000ULL;
	if (l->is_probe)
		link_probe_up(l);
	named_link_established(l);
	relay_link_established(l);
	circ_link_established(l);
	if (l->outbound) {
		for (struct forward *f = n->forwards; f; f = f->next) {
			if (f->link == l)
				forward_link_established(f, l);
		}
	}
}

static void
on_open(void *ud, uint32_t sid, const char *service)
{
	expose_on_open(ud, sid, service);
}

static struct pump *
pump_of(struct link *l, uint32_t sid)
{
	return vx6_idmap_get(&l->pumps, sid);
}

static void
on_accept(void *ud, uint32_t sid)
{
	struct pump *p = pump_of(ud, sid);

	if (p)
		pump_stream_accepted(p);
}

static void
on_data(void *ud, uint32_t sid, struct vx6_chunk *c)
{
	struct link *l = ud;
	struct pump *p = pump_of(l, sid);
	struct hop *h;
	struct circuit *cc;

	if (p) {
		pump_stream_data(p, c);
	} else if ((h = vx6_idmap_get(&l->hops, sid)) != NULL) {
		relay_stream_data(h, l, sid, c);
	} else if ((cc = vx6_idmap_get(&l->circs, sid)) != NULL) {
		circ_stream_data(cc, c);
	} else {
		/* No local socket any more: drop it but return the credit. */
		vx6_ts_consumed(l->session, sid, c->len);
		vx6_chunk_free(c);
	}
}

static void
on_fin(void *ud, uint32_t sid)
{
	struct link *l = ud;
	struct pump *p = pump_of(l, sid);
	struct hop *h;
	struct circuit *cc;

	if (p)
		pump_stream_fin(p);
	else if ((h = vx6_idmap_get(&l->hops, sid)) != NULL)
		relay_stream_reset(h, l, sid, "hop stream finished", true);   /* a circuit has no half-close */
	else if ((cc = vx6_idmap_get(&l->circs, sid)) != NULL)
		circ_stream_reset(cc, "the first relay finished the circuit", true);
}

static void
on_reset(void *ud, uint32_t sid, uint16_t code, const char *reason, bool remote)
{
	struct link *l = ud;
	struct pump *p = pump_of(l, sid);
	struct hop *h;
	struct circuit *cc;

	(void)code;
	if (p)
		pump_stream_reset(p, code, reason, remote);
	else if ((h = vx6_idmap_get(&l->hops, sid)) != NULL)
		relay_stream_reset(h, l, sid, reason, remote);
	else if ((cc = vx6_idmap_get(&l->circs, sid)) != NULL)
		circ_stream_reset(cc, reason, remote);
}

static void
on_writable(void *ud, uint32_t sid)
{
	struct link *l = ud;
	struct pump *p = pump_of(l, sid);
	struct hop *h;
	struct circuit *cc;

	if (p)
		pump_stream_writable(p);
	else if ((h = vx6_idmap_get(&l->hops, sid)) != NULL)
		relay_stream_writable(h, l, sid);
	else if ((cc = vx6_idmap_get(&l->circs, sid)) != NULL)
		circ_stream_writable(cc);
}

void
link_count_failure(struct vx6_node *n, const struct link *l, int err)
{
	if (err == 0)
		return;
	if (!l->established) {
		n->ctr.handshake_failed++;
		if (err == VX6_ERR_KEY_MISMATCH || err == VX6_ERR_CRYPTO)
			n->ctr.key_mismatches += err == VX6_ERR_KEY_MISMATCH;
		if (err == VX6_ERR_TIMEOUT)
			n->ctr.timeouts++;
		return;
	}
	switch (err) {
	case VX6_ERR_CRYPTO: n->ctr.decrypt_failed++; break;
	case VX6_ERR_MALFORMED:
	case VX6_ERR_TOO_LARGE: n->ctr.malformed++; break;
	case VX6_ERR_PROTOCOL:
	case VX6_ERR_FLOW: n->ctr.protocol_violations++; break;
	case VX6_ERR_TIMEOUT: n->ctr.timeouts++; break;
	case VX6_ERR_LIMIT: n->ctr.limit_refused++; break;
	default: break;
	}
}

static bool
is_peer_fault(int err)
{
	switch (err) {
	case VX6_ERR_CRYPTO: case VX6_ERR_MALFORMED: case VX6_ERR_TOO_LARGE: case VX6_ERR_PROTOCOL:
	case VX6_ERR_FLOW: case VX6_ERR_BAD_SIGNATURE: case VX6_ERR_VERSION: case VX6_ERR_KEY_MISMATCH:
		return true;
	default:
		return false;
	}
}

static void
on_closed(void *ud, int err, const char *reason)
{
	struct link *l = ud;
	struct vx6_node *n = l->node;

	l->over = true;
	l->close_err = err;
	snprintf(l->close_reason, sizeof(l->close_reason), "%s", reason);
	if (l->has_fallback && !l->established && !n->shutting_down &&
	    (err == VX6_ERR_TIMEOUT || err == VX6_ERR_UNREACHABLE || err == VX6_ERR_IO ||
	    err == VX6_ERR_REFUSED || err == VX6_ERR_VERSION)) {
		/* No QUIC answer (UDP blocked, or a node without QUIC): the link
		 * retries over TCP once this connection is gone, and nobody
		 * waiting on it is told it failed. */
		l->fallback_pending = true;
		return;
	}
	if (!l->established && !l->outbound)
		n->n_handshaking_in--;
	link_count_failure(n, l, err);
	/* Logged once, here, where the failure is first known; a key mismatch
	 * on a dial is reported by the forward, which knows both keys. */
	if (err == VX6_ERR_KEY_MISMATCH && l->outbound)
		NLOG_DEBUG(n, "session to %s: %s", l->remote_text, reason);
	else if (err && is_peer_fault(err))
		NLOG_WARN(n, "session %s %s rejected: %s", l->outbound ? "to" : "from", l->remote_text, reason);
	else if (err)
		NLOG_INFO(n, "session %s %s ended: %s", l->outbound ? "to" : "from", l->remote_text, reason);
	else
		NLOG_INFO(n, "session %s %s closed: %s", l->outbound ? "to" : "from", l->remote_text, reason);
	named_link_over(l);
	relay_link_over(l);
	circ_link_over(l);
	for (struct forward *f = n->forwards; f; f = f->next) {
		if (f->link == l)
			forward_link_over(f, l);
	}
}

static void
on_rpc(void *ud, const uint8_t *msg, size_t len)
{
	named_on_rpc(ud, msg, len);
}

struct link *
link_new(struct vx6_node *n, uint64_t conn_id, const struct vx6_addr *remote, bool outbound)
{
	struct link *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->node = n;
	l->conn_id = conn_id;
	l->remote = *remote;
	vx6_addr_format(remote, l->remote_text, sizeof(l->remote_text),
	    remote->transport != VX6_TRANSPORT_TCP);
	l->outbound = outbound;
	l->created_at = node_now(n);
	vx6_idmap_init(&l->pumps);
	vx6_idmap_init(&l->hops);
	vx6_idmap_init(&l->circs);
	vx6_chunkq_init(&l->rpcq);
	l->cbs.on_rpc = on_rpc;
	l->cbs.on_established = on_established;
	l->cbs.stream.on_open = on_open;
	l->cbs.stream.on_accept = on_accept;
	l->cbs.stream.on_data = on_data;
	l->cbs.stream.on_fin = on_fin;
	l->cbs.stream.on_reset = on_reset;
	l->cbs.stream.on_writable = on_writable;
	l->cbs.on_closed = on_closed;
	return l;
}

void
link_free(struct link *l)
{
	if (l->udp && l->session)
		vx6_idmap_del(&l->node->quic_links, (uint64_t)(uintptr_t)vx6_ts_quic(l->session));
	vx6_ts_free(l->session);
	vx6_idmap_free(&l->pumps);
	vx6_idmap_free(&l->hops);
	vx6_idmap_free(&l->circs);
	vx6_chunkq_clear(&l->rpcq);
	free(l);
}

/* Starts the TCP transport and Noise session of an outbound link. */
static int
link_start_tcp(struct link *l)
{
	struct vx6_node *n = l->node;
	struct vx6_session_config cfg = n->scfg_out;
	uint64_t id = node_new_id(n);
	int rc;

	l->conn_id = id;
	if (l->expected_key_set) {
		cfg.have_expected_key = true;
		memcpy(cfg.expected_key, l->expected_key, VX6_KEY_LEN);
	}
	cfg.force_xx = l->diagnose;
	l->session = vx6_ts_wrap_tcp(vx6_session_new(&cfg, n->env, &l->cbs, l, node_now(n)));
	if (l->session == NULL || node_conn_add(n, id, CONN_PEER, l) == NULL)
		return VX6_ERR_NOMEM;
	rc = n->io->dial(n->io_ud, id, VX6_SOCK_PEER, &l->remote);
	if (rc) {
		free(vx6_idmap_del(&n->conns, id));
		NLOG_WARN(n, "cannot dial %s: %s", l->remote_text, vx6_strerror(rc));
	}
	return rc;
}

static void
link_set_key(struct link *l, const uint8_t *expected_key, bool diagnose)
{
	l->diagnose = diagnose;
	if (expected_key == NULL)
		return;
	l->expected_key_set = true;
	memcpy(l->expected_key, expected_key, VX6_KEY_LEN);
	l->peer_known = true;   /* the key fixes the node id before the handshake */
	vx6_node_id_from_key(l->peer_id, expected_key);
}

struct link *
link_dial_addrs(struct vx6_node *n, const struct vx6_addr *addrs, size_t count, const uint8_t *expected_key,
    bool diagnose)
{
	struct vx6_addr to, fallback;
	bool has_fallback;
	struct link *l;

	if (n->n_links >= n->cfg.limits.max_sessions) {
		n->ctr.limit_refused++;
		return NULL;
	}
	if (!node_pick_dial(n, addrs, count, &to, &fallback, &has_fallback)) {
		NLOG_DEBUG(n, "no address usable with transport = %s", vx6_transport_policy_name(n->cfg.transport));
		return NULL;
	}
	if (to.transport == VX6_TRANSPORT_QUIC) {
		l = qlink_dial(n, &to, expected_key, has_fallback ? VX6_QUIC_FALLBACK_AFTER : 0);
		if (l) {
			link_set_key(l, expected_key, diagnose);
			l->has_fallback = has_fallback;
			l->fallback = fallback;
		}
		return l;
	}
	l = link_new(n, 0, &to, true);
	if (l == NULL)
		return NULL;
	link_set_key(l, expected_key, diagnose);
	if (link_start_tcp(l) != 0) {
		link_free(l);
		return NULL;
	}
	link_attach(l);
	return l;
}

struct link *
link_dial(struct vx6_node *n, const struct vx6_addr *to, const uint8_t *expected_key, bool diagnose)
{
	return link_dial_addrs(n, to, 1, expected_key, diagnose);
}

struct link *
link_dial_hop(struct vx6_node *n, const struct vx6_addr *to, const uint8_t *key)
{
	struct vx6_addr cand[2] = { *to, *to };

	/* Nodes under "auto" listen on both transports on one port. */
	cand[1].transport = to->transport == VX6_TRANSPORT_QUIC ? VX6_TRANSPORT_TCP : VX6_TRANSPORT_QUIC;
	return link_dial_addrs(n, cand, 2, key, false);
}

/* A QUIC dial under "auto" got no answer: the same link goes on over TCP,
 * so whoever waits on it (forwards, circuits, RPCs) never notices. Called
 * once the QUIC connection is over (qlink_gc), outside its callbacks. */
void
link_fallback_tcp(struct link *l)
{
	struct vx6_node *n = l->node;
	char quic_text[VX6_ADDR_STRLEN];

	if (n->shutting_down) {
		l->has_fallback = l->fallback_pending = false;
		l->cbs.on_closed(l, l->close_err, l->close_reason);
		link_detach_free(l);
		return;
	}
	snprintf(quic_text, sizeof(quic_text), "%s", l->remote_text);
	l->quic_addr = l->remote;
	node_note_quic_failed(n, &l->remote);
	n->quic_fallbacks++;
	vx6_idmap_del(&n->quic_links, (uint64_t)(uintptr_t)vx6_ts_quic(l->session));
	vx6_ts_free(l->session);
	l->session = NULL;
	l->udp = NULL;
	l->quic_done = false;
	l->fallback_pending = false;
	l->has_fallback = false;
	l->fell_back = true;
	l->over = false;
	l->connected = false;
	l->close_err = 0;
	l->close_reason[0] = '\0';
	l->remote = l->fallback;
	vx6_addr_format(&l->remote, l->remote_text, sizeof(l->remote_text), false);
	NLOG_INFO(n, "no QUIC answer from %s: falling back to TCP %s (QUIC is tried again there in %u s)",
	    quic_text, l->remote_text, (unsigned)(VX6_QUIC_RETRY_AFTER / 1000000000ULL));
	if (link_start_tcp(l) != 0) {
		l->cbs.on_closed(l, VX6_ERR_UNREACHABLE, "neither QUIC nor TCP could be started");
		link_detach_free(l);
	}
}

void
link_attach(struct link *l)
{
	struct vx6_node *n = l->node;

	l->next = n->links;
	n->links = l;
	n->n_links++;
}

struct link *
link_accept(struct vx6_node *n, uint64_t conn_id, const struct vx6_addr *remote)
{
	struct link *l = link_new(n, conn_id, remote, false);

	if (l == NULL)
		return NULL;
	l->session = vx6_ts_wrap_tcp(vx6_session_new(&n->scfg_in, n->env, &l->cbs, l, node_now(n)));
	if (l->session == NULL || node_conn_add(n, conn_id, CONN_PEER, l) == NULL) {
		link_free(l);
		return NULL;
	}
	l->connected = true;
	link_attach(l);
	n->n_handshaking_in++;
	n->io->read(n->io_ud, conn_id, true);
	return l;
}

void
link_flush(struct link *l)
{
	struct vx6_node *n = l->node;
	struct conn *c = node_conn_get(n, l->conn_id);
	struct vx6_session *tcp = vx6_ts_tcp(l->session);
	struct vx6_chunkq q;

	if (l->udp) {
		qlink_flush(l);
		return;
	}
	if (c == NULL || c->closing)
		return;
	if (!l->connected) {
		if (l->over)   /* ended before the transport came up (e.g. timed out) */
			node_conn_close(n, l->conn_id, true);
		return;
	}
	if (vx6_session_has_output(tcp)) {
		vx6_chunkq_init(&q);
		vx6_session_take_output(tcp, &q);
		if (q.count && n->io->write(n->io_ud, l->conn_id, &q) != 0) {
			vx6_chunkq_clear(&q);
			vx6_session_transport_lost(tcp, VX6_ERR_IO, "write failed");
		}
	}
	if (l->over && !vx6_session_has_output(tcp))
		node_conn_close(n, l->conn_id, false);   /* flushes the last bytes first */
}

void
link_on_connected(struct link *l, int status, const char *detail)
{
	if (status) {
		vx6_session_transport_lost(vx6_ts_tcp(l->session), VX6_ERR_UNREACHABLE, detail ? detail : "connect failed");
		node_conn_close(l->node, l->conn_id, true);
		return;
	}
	l->connected = true;
	l->node->io->read(l->node->io_ud, l->conn_id, true);
}

void
link_on_read(struct link *l, struct vx6_chunk *c, int status, const char *detail)
{
	if (c == NULL) {
		if (!l->over)
			vx6_session_transport_lost(vx6_ts_tcp(l->session), status ? VX6_ERR_IO : VX6_ERR_CLOSED,
			    status ? (detail ? detail : "read error") : "peer closed the connection");
		node_conn_close(l->node, l->conn_id, status != 0);
		return;
	}
	if (!l->over)
		vx6_session_recv(vx6_ts_tcp(l->session), vx6_chunk_ptr(c), c->len, node_now(l->node));
	vx6_chunk_free(c);
}

void
link_on_closed(struct link *l)
{
	if (!l->over)
		vx6_session_transport_lost(vx6_ts_tcp(l->session), VX6_ERR_CLOSED, "connection closed");
	link_detach_free(l);
}

void
link_detach_free(struct link *l)
{
	struct vx6_node *n = l->node;
	struct link **pp;
	size_t pos = 0;
	struct pump *p;

	/* Pumps whose streams are gone may still point here. */
	while ((p = vx6_idmap_next(&l->pumps, &pos, NULL)) != NULL)
		pump_carrier_gone(p);
	for (pp = &n->links; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	n->n_links--;
	link_free(l);
}

void
link_close(struct link *l, const char *reason)
{
	if (!l->over)
		vx6_ts_close(l->session, VX6_CLOSE_NORMAL, reason);
}

/* A QUIC connection keeps its timers after the session ended: it drains
 * (answers late packets with its close) until it is closed. */
uint64_t
link_expiry(const struct link *l)
{
	if (l->udp)
		return l->quic_done ? VX6_TIME_NEVER : vx6_ts_expiry(l->session);
	return l->over ? VX6_TIME_NEVER : vx6_ts_expiry(l->session);
}

void
link_timer(struct link *l, uint64_t now)
{
	if (l->udp ? !l->quic_done : !l->over)
		vx6_ts_handle_expiry(l->session, now);
}

struct link *
link_probe_quic(struct vx6_node *n, const struct vx6_addr *to, const uint8_t *expected_key)
{
	struct link *l;

	if (n->n_links >= n->cfg.limits.max_sessions)
		return NULL;
	l = qlink_dial(n, to, expected_key, VX6_QUIC_FALLBACK_AFTER);
	if (l) {
		link_set_key(l, expected_key, false);
		l->is_probe = true;
	}
	return l;
}

static bool
wants_reprobe(const struct vx6_node *n, const struct link *l)
{
	return l->fell_back && l->established && !l->over && !l->retire && l->outbound &&
	    n->cfg.transport == VX6_POLICY_AUTO;
}

uint64_t
link_reprobe_expiry(struct vx6_node *n)
{
	uint64_t next = VX6_TIME_NEVER;

	for (const struct link *l = n->links; l; l = l->next)
		if (wants_reprobe(n, l) && l->reprobe_at < next)
			next = l->reprobe_at;
	return next;
}

void
link_reprobe_timer(struct vx6_node *n, uint64_t now)
{
	for (struct link *l = n->links; l; l = l->next) {
		struct vx6_session_info info;
		if (!wants_reprobe(n, l) || l->reprobe_at > now)
			continue;
		l->reprobe_at = now + (uint64_t)n->cfg.limits.quic_reprobe_s * 1000000000ULL;
		vx6_ts_info(l->session, &info);
		/* New links go to the head of the list: this walk never meets them. */
		if (link_probe_quic(n, &l->quic_addr, info.peer_key) != NULL)
			NLOG_DEBUG(n, "session to %s: trying QUIC again", l->remote_text);
	}
}

/* A QUIC probe came up: fallen-back sessions to that node retire (they
 * close once idle), forwards on them move their new streams to it, and
 * dials there use QUIC again. */
static void
link_probe_up(struct link *l)
{
	struct vx6_node *n = l->node;
	struct vx6_session_info info;

	vx6_ts_info(l->session, &info);
	node_note_quic_ok(n, &l->remote);
	for (struct link *m = n->links; m; m = m->next) {
		struct vx6_session_info mi;
		bool moved = false;
		if (m == l || !m->fell_back || m->over || m->retire || !m->established)
			continue;
		vx6_ts_info(m->session, &mi);
		if (memcmp(mi.peer_key, info.peer_key, VX6_KEY_LEN) != 0)
			continue;
		m->retire = true;
		for (struct forward *f = n->forwards; f; f = f->next)
			if (f->link == m && !f->closing) {
				forward_move_to(f, l);
				moved = true;
			}
		if (!moved)
			NLOG_INFO(n, "QUIC to %s works again: the TCP session closes once idle", l->remote_text);
	}
}

void
link_retire_idle(struct vx6_node *n)
{
	for (struct link *l = n->links; l; l = l->next)
		if (l->retire && !l->over && l->pumps.count == 0 && l->hops.count == 0 && l->circs.count == 0)
			link_close(l, "its streams moved to another session");
}
