#include "node/node_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

#define PEER_READ_BUF (256 * 1024)
#define CTL_READ_BUF 4096

void
vx6_node_config_defaults(struct vx6_node_config *cfg)
{
	struct vx6_node_limits *l = &cfg->limits;

	memset(cfg, 0, sizeof(*cfg));
	l->max_sessions = 256;
	l->max_handshakes = 64;
	l->max_streams = 1024;
	l->stream_window = 1024 * 1024;
	l->session_window = 16 * 1024 * 1024;
	l->max_output = 32 * 1024 * 1024;
	l->handshake_timeout_ms = 10000;
	l->idle_timeout_ms = 60000;
	l->keepalive_ms = 15000;
	l->rekey_interval_s = 600;
	l->rekey_bytes = 1ULL << 30;
	l->max_forwards = 64;
	l->max_ctl_clients = 16;
	l->max_app_conns = 4096;
	l->republish_s = 1200;
	l->replicate_s = 600;
	l->record_lifetime_s = 3600;
	l->quic_reprobe_s = 30;
	cfg->aead_mask = vx6_aead_available_mask();
	cfg->log_level = VX6_LOG_INFO;
	cfg->relay_max_circuits = 256;
}

static void
derive_session_config(struct vx6_node *n)
{
	const struct vx6_node_limits *l = &n->cfg.limits;
	struct vx6_session_config *c = &n->scfg_out;

	vx6_session_config_defaults(c);
	c->local = &n->id;
	c->settings.stream_window = l->stream_window;
	c->settings.session_window = l->session_window;
	c->settings.max_streams = l->max_streams;
	c->aead_mask = n->cfg.aead_mask & vx6_aead_available_mask();
	c->handshake_timeout = (uint64_t)l->handshake_timeout_ms * VX6_NS_PER_MS;
	c->idle_timeout = (uint64_t)l->idle_timeout_ms * VX6_NS_PER_MS;
	c->keepalive_interval = (uint64_t)l->keepalive_ms * VX6_NS_PER_MS;
	c->rekey_interval = (uint64_t)l->rekey_interval_s * VX6_NS_PER_SEC;
	c->rekey_bytes = l->rekey_bytes;
	c->max_output = l->max_output;
	n->scfg_in = *c;
	n->scfg_out.initiator = true;
	n->scfg_in.initiator = false;
}

/* Checks a configuration before it is used. */
static int
check_config(const struct vx6_node_config *cfg, char *err, size_t errlen)
{
	const struct vx6_node_limits *l = &cfg->limits;

	if (l->stream_window < VX6_HS_MIN_STREAM_WINDOW || l->stream_window > VX6_HS_MAX_STREAM_WINDOW) {
		snprintf(err, errlen, "stream_window must be between %u and %u bytes",
		    VX6_HS_MIN_STREAM_WINDOW, VX6_HS_MAX_STREAM_WINDOW);
		return VX6_ERR_INVAL;
	}
	if (l->session_window < l->stream_window) {
		snprintf(err, errlen, "session_window must be at least stream_window");
		return VX6_ERR_INVAL;
	}
	if (l->max_streams == 0 || l->max_streams > VX6_HS_MAX_STREAMS || l->max_sessions == 0 ||
	    l->max_handshakes == 0 || l->max_output < 2u * VX6_RECORD_MAX_CT) {
		snprintf(err, errlen, "limits must be positive (max_streams <= %u, max_output >= %u)",
		    VX6_HS_MAX_STREAMS, 2u * VX6_RECORD_MAX_CT);
		return VX6_ERR_INVAL;
	}
	if (l->handshake_timeout_ms < 100 || l->idle_timeout_ms < 1000 || l->keepalive_ms < 100 ||
	    l->keepalive_ms >= l->idle_timeout_ms || l->rekey_interval_s == 0 || l->rekey_bytes < (1u << 20)) {
		snprintf(err, errlen, "timeouts out of range (keepalive must be shorter than idle_timeout)");
		return VX6_ERR_INVAL;
	}
	if (l->republish_s == 0 || l->replicate_s == 0 || l->record_lifetime_s < 2 * l->republish_s) {
		snprintf(err, errlen, "record_lifetime_s must be at least twice republish_s");
		return VX6_ERR_INVAL;
	}
	if ((cfg->aead_mask & vx6_aead_available_mask()) == 0) {
		snprintf(err, errlen, "no usable AEAD selected");
		return VX6_ERR_INVAL;
	}
	for (size_t i = 0; i < cfg->n_services; i++) {
		if (!vx6_name_valid(cfg->services[i].name)) {
			snprintf(err, errlen, "service name \"%s\": %s", cfg->services[i].name,
			    vx6_name_why_invalid(cfg->services[i].name));
			return VX6_ERR_INVAL;
		}
		if (!vx6_addr_is_loopback(&cfg->services[i].target)) {
			snprintf(err, errlen, "service \"%s\": target must be a loopback address",
			    cfg->services[i].name);
			return VX6_ERR_PERM;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->services[i].name, cfg->services[j].name) == 0) {
				snprintf(err, errlen, "service \"%s\" is defined twice", cfg->services[i].name);
				return VX6_ERR_EXISTS;
			}
	}
	return 0;
}

struct vx6_node *
vx6_node_new(const struct vx6_identity *id, const struct vx6_node_config *cfg,
    const struct vx6_node_host *host, const struct vx6_env *env)
{
	struct vx6_node *n;
	char err[200];

	if (check_config(cfg, err, sizeof(err)) != 0) {
		vx6_log_error(env->log, "node", "invalid configuration: %s", err);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->id = *id;
	n->cfg = *cfg;
	n->host = host;
	n->io = host->io;
	n->io_ud = host->io_ud;
	n->env = env;
	n->log = env->log;
	n->reg = host->registry;
	n->next_id = VX6_NODE_CTL_LISTENER + 1;
	vx6_idmap_init(&n->conns);
	vx6_idmap_init(&n->relay_health);
	vx6_idmap_init(&n->quic_links);
	derive_session_config(n);
	n->started_at = node_now(n);
	n->timer_at = VX6_TIME_NEVER;
	n->relay_resume_at = VX6_TIME_NEVER;
	if (node_conn_add(n, VX6_NODE_CTL_LISTENER, CONN_LISTEN_CTL, NULL) == NULL) {
		vx6_node_free(n);
		return NULL;
	}
	return n;
}

int
vx6_node_start(struct vx6_node *n, char *err, size_t errlen)
{
	char text[VX6_ADDR_STRLEN];
	int rc;

	for (size_t i = 0; i < n->cfg.n_listen; i++) {
		struct vx6_addr want[2];
		size_t nwant = node_concrete_addrs(n, &n->cfg.listen[i], want);
		for (size_t k = 0; k < nwant; k++) {
			struct vx6_addr *b = &n->bound[n->n_bound];
			bool quic = want[k].transport == VX6_TRANSPORT_QUIC;
			uint64_t lid = 0;
			/* AUTO: QUIC takes the port TCP got (it may have been 0). */
			if (k > 0)
				want[k].port = n->bound[n->n_bound - 1].port;
			if (quic) {
				rc = qlink_listen(n, &want[k], b);
			} else {
				lid = node_new_id(n);
				if (node_conn_add(n, lid, CONN_LISTEN_PEER, NULL) == NULL)
					return VX6_ERR_NOMEM;
				rc = n->io->listen(n->io_ud, lid, VX6_SOCK_PEER, &want[k], b);
			}
			vx6_addr_format(&want[k], text, sizeof(text), true);
			if (rc) {
				if (lid)
					free(vx6_idmap_del(&n->conns, lid));
				snprintf(err, errlen, "cannot listen on %s: %s%s", text, vx6_strerror(rc),
				    k > 0 ? " (transport = auto listens on TCP and UDP on the same port; "
				    "set transport = tcp, or free the UDP port)" : "");
				return rc;
			}
			b->transport = want[k].transport;
			n->listener_ids[n->n_bound++] = lid;
			vx6_addr_format(b, text, sizeof(text), true);
			NLOG_INFO(n, "listening for peers on %s", text);
		}
	}
	rc = named_start(n);
	if (rc) {
		snprintf(err, errlen, "cannot start named mode: %s", vx6_strerror(rc));
		return rc;
	}
	node_after_event(n);
	return 0;
}

void
vx6_node_free(struct vx6_node *n)
{
	size_t pos = 0;
	struct conn *c;
	struct pin *p;

	if (n == NULL)
		return;
	/* Normally empty by now (vx6_node_idle); free whatever is left. */
	while ((c = vx6_idmap_next(&n->conns, &pos, NULL)) != NULL)
		free(c);
	vx6_idmap_free(&n->conns);
	named_free(n);
	while (n->links) {
		struct link *l = n->links;
		n->links = l->next;
		link_free(l);
	}
	qlink_free_all(n);   /* after the links: their connections sit on its endpoints */
	while (n->forwards) {
		struct forward *f = n->forwards;
		n->forwards = f->next;
		free(f);
	}
	while ((p = n->pins) != NULL) {
		n->pins = p->next;
		free(p);
	}
	circ_health_free(n);
	vx6_identity_wipe(&n->id);
	free(n);
}

uint64_t
node_now(struct vx6_node *n)
{
	return n->io->now(n->io_ud);
}

uint64_t
node_new_id(struct vx6_node *n)
{
	return n->next_id++;
}

struct conn *
node_conn_add(struct vx6_node *n, uint64_t id, enum conn_kind kind, void *ptr)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->id = id;
	c->kind = kind;
	c->u.ptr = ptr;
	if (vx6_idmap_put(&n->conns, id, c) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

struct conn *
node_conn_get(struct vx6_node *n, uint64_t id)
{
	return vx6_idmap_get(&n->conns, id);
}

void
node_conn_close(struct vx6_node *n, uint64_t id, bool reset)
{
	struct conn *c = node_conn_get(n, id);

	if (c == NULL || c->closing)
		return;
	c->closing = true;
	n->io->close(n->io_ud, id, reset);
}

void
node_write(struct vx6_node *n, uint64_t id, struct vx6_chunk *c)
{
	struct vx6_chunkq q;

	vx6_chunkq_init(&q);
	vx6_chunkq_push(&q, c);
	if (n->io->write(n->io_ud, id, &q) != 0)
		vx6_chunkq_clear(&q);
}

const struct pin *
node_pin_find(struct vx6_node *n, const char *addr)
{
	for (const struct pin *p = n->pins; p; p = p->next)
		if (strcmp(p->addr, addr) == 0)
			return p;
	return NULL;
}

void
node_pin_set(struct vx6_node *n, const char *addr, const uint8_t key[VX6_KEY_LEN])
{
	struct pin *p = (struct pin *)node_pin_find(n, addr);

	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			return;
		snprintf(p->addr, sizeof(p->addr), "%s", addr);
		p->next = n->pins;
		n->pins = p;
	}
	memcpy(p->key, key, VX6_KEY_LEN);
}

void
vx6_node_add_pin(struct vx6_node *n, const char *addr, const uint8_t key[VX6_KEY_LEN])
{
	node_pin_set(n, addr, key);
}

const struct vx6_service_def *
node_service_find(struct vx6_node *n, const char *name)
{
	for (size_t i = 0; i < n->cfg.n_services; i++)
		if (strcmp(n->cfg.services[i].name, name) == 0)
			return &n->cfg.services[i];
	return NULL;
}

int
vx6_node_apply_config(struct vx6_node *n, const struct vx6_node_config *cfg, char *err, size_t errlen)
{
	int rc = check_config(cfg, err, errlen);
	bool listen_changed;

	if (rc)
		return rc;
	listen_changed = cfg->n_listen != n->cfg.n_listen;
	for (size_t i = 0; !listen_changed && i < cfg->n_listen; i++)
		listen_changed = !vx6_addr_equal(&cfg->listen[i], &n->cfg.listen[i]);
	if (listen_changed)
		NLOG_WARN(n, "listen addresses changed in the configuration: restart the node to apply them");
	{
		/* Keep the addresses we actually listen on. */
		struct vx6_addr keep[VX6_NODE_MAX_LISTEN];
		size_t nkeep = n->cfg.n_listen;
		memcpy(keep, n->cfg.listen, sizeof(keep));
		n->cfg = *cfg;
		memcpy(n->cfg.listen, keep, sizeof(keep));
		n->cfg.n_listen = nkeep;
	}
	derive_session_config(n);
	NLOG_INFO(n, "configuration applied: %zu service(s)", n->cfg.n_services);
	named_services_changed(n);
	if (n->dht && !n->joined && n->cfg.n_peers)
		n->boot_at = node_now(n);   /* new peers may make joining possible */
	return 0;
}

void
vx6_node_shutdown(struct vx6_node *n)
{
	size_t pos = 0;
	struct conn *c;

	if (n->shutting_down)
		return;
	n->shutting_down = true;
	NLOG_INFO(n, "shutting down");
	for (struct forward *f = n->forwards; f; f = f->next)
		forward_close(f, "node is shutting down");
	for (struct link *l = n->links; l; l = l->next)
		link_close(l, "node is shutting down");
	while ((c = vx6_idmap_next(&n->conns, &pos, NULL)) != NULL)
		if (c->kind == CONN_LISTEN_PEER || c->kind == CONN_LISTEN_CTL || c->kind == CONN_CTL)
			node_conn_close(n, c->id, false);
	node_after_event(n);
}

bool
vx6_node_idle(const struct vx6_node *n)
{
	return n->conns.count == 0;
}

/* At shutdown, a UDP socket closes once its QUIC links said goodbye. */
static void
close_idle_udp(struct vx6_node *n)
{
	for (struct udp_sock *u = n->udp_socks; u; u = u->next) {
		bool used = false;
		for (struct link *l = n->links; l && !used; l = l->next)
			used = l->udp == u;
		if (!used)
			node_conn_close(n, u->id, false);
	}
}

/* Moves pending session output to the sockets, closes finished links and
 * re-arms the timer. Called at the end of every entry point. */
void
node_after_event(struct vx6_node *n)
{
	uint64_t next = VX6_TIME_NEVER, e;

	pump_flush_dirty(n);
	relay_gc(n);
	circ_gc(n);
	for (struct link *l = n->links; l; l = l->next) {
		link_flush(l);
		e = link_expiry(l);
		if (e < next)
			next = e;
	}
	qlink_gc(n);
	link_retire_idle(n);
	if (n->shutting_down)
		close_idle_udp(n);
	e = named_expiry(n);
	if (e < next)
		next = e;
	e = circ_expiry(n);
	if (e < next)
		next = e;
	e = relay_expiry(n);
	if (e < next)
		next = e;
	e = link_reprobe_expiry(n);
	if (e < next)
		next = e;
	if (next != n->timer_at) {
		n->timer_at = next;
		n->io->set_timer(n->io_ud, next);
	}
}

uint64_t
vx6_node_new_conn_id(struct vx6_node *n)
{
	return node_new_id(n);
}

int
vx6_node_accepted(struct vx6_node *n, uint64_t listener, uint64_t id, const struct vx6_addr *remote)
{
	struct conn *lc = node_conn_get(n, listener);
	char text[VX6_ADDR_STRLEN];
	int rc = VX6_ERR_REFUSED;

	if (lc == NULL || lc->closing || n->shutting_down)
		return VX6_ERR_CLOSED;
	switch (lc->kind) {
	case CONN_LISTEN_PEER:
		if (n->n_links >= n->cfg.limits.max_sessions ||
		    n->n_handshaking_in >= n->cfg.limits.max_handshakes) {
			n->ctr.limit_refused++;
			vx6_addr_format(remote, text, sizeof(text), false);
			NLOG_DEBUG(n, "refused a session from %s: %s limit reached", text,
			    n->n_links >= n->cfg.limits.max_sessions ? "max_sessions" : "max_handshakes");
			rc = VX6_ERR_LIMIT;
			break;
		}
		rc = link_accept(n, id, remote) ? 0 : VX6_ERR_NOMEM;
		break;
	case CONN_LISTEN_FWD:
		if (n->n_app >= n->cfg.limits.max_app_conns) {
			n->ctr.limit_refused++;
			rc = VX6_ERR_LIMIT;
			break;
		}
		forward_on_accept(lc->u.fwd, id);
		rc = node_conn_get(n, id) ? 0 : VX6_ERR_NOMEM;
		break;
	case CONN_LISTEN_CTL:
		if (n->n_ctl >= n->cfg.limits.max_ctl_clients) {
			n->ctr.limit_refused++;
			rc = VX6_ERR_LIMIT;
			break;
		}
		{
			struct ctl_client *cc = calloc(1, sizeof(*cc));
			if (cc == NULL || node_conn_add(n, id, CONN_CTL, cc) == NULL) {
				free(cc);
				rc = VX6_ERR_NOMEM;
				break;
			}
			cc->conn_id = id;
			n->n_ctl++;
			n->io->read(n->io_ud, id, true);
			rc = 0;
		}
		break;
	default:
		break;
	}
	node_after_event(n);
	return rc;
}

void
vx6_node_connected(struct vx6_node *n, uint64_t id, int status, const char *detail)
{
	struct conn *c = node_conn_get(n, id);

	if (c == NULL || c->closing)
		return;
	if (c->kind == CONN_PEER)
		link_on_connected(c->u.link, status, detail);
	else if (c->kind == CONN_APP)
		pump_on_app_connected(c->u.pump, status, detail);
	node_after_event(n);
}

struct vx6_chunk *
vx6_node_read_buffer(struct vx6_node *n, uint64_t id, size_t *room)
{
	struct conn *c = node_conn_get(n, id);
	struct vx6_chunk *chunk;

	if (c != NULL && c->kind == CONN_APP) {
		chunk = pump_read_buffer(c->u.pump);
		/* Keep the tailroom for the AEAD tag: sealing happens in place. */
		*room = chunk ? vx6_chunk_tailroom(chunk) - VX6_SESSION_TAILROOM : 0;
		return chunk;
	}
	chunk = vx6_chunk_new(0, c != NULL && c->kind == CONN_PEER ? PEER_READ_BUF : CTL_READ_BUF, 0);
	*room = chunk ? vx6_chunk_tailroom(chunk) : 0;
	return chunk;
}

void
vx6_node_read(struct vx6_node *n, uint64_t id, struct vx6_chunk *chunk, int status, const char *detail)
{
	struct conn *c = node_conn_get(n, id);

	if (c == NULL || c->closing) {
		vx6_chunk_free(chunk);
		return;
	}
	switch (c->kind) {
	case CONN_PEER:
		link_on_read(c->u.link, chunk, status, detail);
		break;
	case CONN_APP:
		pump_on_app_read(c->u.pump, chunk, status, detail);
		break;
	case CONN_CTL:
		if (chunk == NULL)
			node_conn_close(n, id, false);
		else
			ctl_on_read(n, c->u.ctl, chunk);
		break;
	default:
		vx6_chunk_free(chunk);
		break;
	}
	node_after_event(n);
}

void
vx6_node_wrote(struct vx6_node *n, uint64_t id, size_t bytes, int status)
{
	struct conn *c = node_conn_get(n, id);

	if (c == NULL)
		return;
	if (c->kind == CONN_PEER && c->u.link->session)
		vx6_session_written(vx6_ts_tcp(c->u.link->session), bytes);
	else if (c->kind == CONN_APP)
		pump_on_app_wrote(c->u.pump, bytes, status);
	node_after_event(n);
}

void
vx6_node_closed(struct vx6_node *n, uint64_t id)
{
	struct conn *c = vx6_idmap_del(&n->conns, id);

	if (c == NULL)
		return;
	switch (c->kind) {
	case CONN_PEER:
		link_on_closed(c->u.link);
		break;
	case CONN_APP:
		pump_on_app_closed(c->u.pump);
		break;
	case CONN_LISTEN_FWD:
		forward_on_listener_closed(c->u.fwd);
		break;
	case CONN_UDP:
		qlink_udp_closed(c->u.udp);
		break;
	case CONN_CTL:
		forward_ctl_gone(n, id);
		free(c->u.ctl->buf);
		free(c->u.ctl);
		n->n_ctl--;
		break;
	default:
		break;
	}
	free(c);
	node_after_event(n);
}

void
vx6_node_timer(struct vx6_node *n)
{
	uint64_t now = node_now(n);

	n->timer_at = VX6_TIME_NEVER;   /* the timer fired: it is disarmed */
	for (struct link *l = n->links; l; l = l->next)
		if (link_expiry(l) <= now)
			link_timer(l, now);
	named_timer(n, now);
	circ_timer(n, now);
	relay_timer(n, now);
	link_reprobe_timer(n, now);
	node_after_event(n);
}

void
vx6_node_addresses_changed(struct vx6_node *n)
{
	/* Let the kernel settle (DAD, several events in a row), then re-check. */
	n->addr_check_at = node_now(n) + 500 * VX6_NS_PER_MS;
	node_after_event(n);
}

/* --- transport policy (docs/PROTOCOL.md §15.10) --- */

size_t
node_concrete_addrs(const struct vx6_node *n, const struct vx6_addr *a, struct vx6_addr out[2])
{
	out[0] = *a;
	if (a->transport != VX6_TRANSPORT_AUTO)
		return 1;
	switch (n->cfg.transport) {
	case VX6_POLICY_TCP:
		out[0].transport = VX6_TRANSPORT_TCP;
		return 1;
	case VX6_POLICY_QUIC:
		out[0].transport = VX6_TRANSPORT_QUIC;
		return 1;
	case VX6_POLICY_AUTO:
		break;
	}
	out[0].transport = VX6_TRANSPORT_TCP;
	out[1] = *a;
	out[1].transport = VX6_TRANSPORT_QUIC;
	return 2;
}

static struct quic_failed *
quic_failed_slot(struct vx6_node *n, const struct vx6_addr *a, bool add)
{
	struct quic_failed *oldest = &n->quic_failed[0];
	struct vx6_addr key = *a;

	key.transport = VX6_TRANSPORT_QUIC;
	for (size_t i = 0; i < sizeof(n->quic_failed) / sizeof(n->quic_failed[0]); i++) {
		struct quic_failed *f = &n->quic_failed[i];
		if (f->until && vx6_addr_same_host(&f->addr, &key) && f->addr.port == key.port)
			return f;
		if (f->until < oldest->until)
			oldest = f;
	}
	if (!add)
		return NULL;
	oldest->addr = key;
	return oldest;
}

bool
node_quic_failed(struct vx6_node *n, const struct vx6_addr *a)
{
	struct quic_failed *f = quic_failed_slot(n, a, false);

	return f && f->until > node_now(n);
}

void
node_note_quic_ok(struct vx6_node *n, const struct vx6_addr *a)
{
	struct quic_failed *f = quic_failed_slot(n, a, false);

	if (f)
		f->until = 0;
}

void
node_note_quic_failed(struct vx6_node *n, const struct vx6_addr *a)
{
	struct quic_failed *f = quic_failed_slot(n, a, true);

	f->until = node_now(n) + VX6_QUIC_RETRY_AFTER;
}

/* The address to dial among a record's (or a person's) addresses, with
 * the TCP address to fall back to when the first is QUIC under "auto".
 * False when none is usable under the policy. */
bool
node_pick_dial(struct vx6_node *n, const struct vx6_addr *addrs, size_t count, struct vx6_addr *primary,
    struct vx6_addr *fallback, bool *has_fallback)
{
	struct vx6_addr tcp, quic;
	bool have_tcp = false, have_quic = false;

	*has_fallback = false;
	for (size_t i = 0; i < count; i++) {
		struct vx6_addr c[2];
		size_t m = node_concrete_addrs(n, &addrs[i], c);
		for (size_t k = 0; k < m; k++) {
			if (c[k].transport == VX6_TRANSPORT_TCP && !have_tcp) {
				tcp = c[k];
				have_tcp = true;
			} else if (c[k].transport == VX6_TRANSPORT_QUIC && !have_quic) {
				quic = c[k];
				have_quic = true;
			}
		}
	}
	have_quic &= n->cfg.transport != VX6_POLICY_TCP;
	have_tcp &= n->cfg.transport != VX6_POLICY_QUIC;
	if (have_quic && have_tcp && node_quic_failed(n, &quic))
		have_quic = false;   /* QUIC failed there lately: TCP straight away */
	if (have_quic) {
		*primary = quic;
		if (have_tcp) {
			*fallback = tcp;
			*has_fallback = true;
		}
		return true;
	}
	if (have_tcp)
		*primary = tcp;
	return have_tcp;
}

bool
node_circuit_addr(const struct vx6_node *n, const struct vx6_addr *addrs, size_t count, struct vx6_addr *out)
{
	/* QUIC first unless the policy is tcp; a hop dials it with TCP on the
	 * same port as its fallback (link_dial_hop). */
	for (int pass = 0; pass < 2; pass++) {
		uint8_t want = pass == 0 ? VX6_TRANSPORT_QUIC : VX6_TRANSPORT_TCP;
		if ((want == VX6_TRANSPORT_QUIC && n->cfg.transport == VX6_POLICY_TCP) ||
		    (want == VX6_TRANSPORT_TCP && n->cfg.transport == VX6_POLICY_QUIC))
			continue;
		for (size_t i = 0; i < count; i++) {
			struct vx6_addr c = addrs[i];
			if (c.transport == VX6_TRANSPORT_AUTO)
				c.transport = want;
			if (c.transport == want) {
				*out = c;
				return true;
			}
		}
	}
	return false;
}
