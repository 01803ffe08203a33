/* forward — a local listener whose connections become streams to a service
 * on a remote node (direct mode: the owner is named by address). */
#include "node/node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/err.h"

static const char *
key_source_name(enum key_source s)
{
	switch (s) {
	case KEY_EXPLICIT: return "explicit";
	case KEY_PINNED: return "pinned";
	case KEY_TOFU: return "trust-on-first-use";
	case KEY_RECORD: return "signed-record";
	default: return "none";
	}
}

static void forward_connect(struct forward *f);
static void forward_build_circuit(struct forward *f);
static void release_waiting(struct forward *f, bool open);

static void
reply(struct forward *f, char *line)
{
	if (f->reply_id >= 0 && line) {
		/* A detached forward still answers the client that asked for it. */
		ctl_send(f->node, f->reply_ctl, line);
	} else {
		free(line);
	}
	f->reply_id = -1;
}

json_t *
forward_json(const struct forward *f)
{
	json_t *o = json_object();
	char key[VX6_KEY_TEXT_LEN];
	const char *state = "down";

	if (o == NULL)
		return NULL;
	if (f->link && !f->link->over)
		state = f->link->established ? "up" : "connecting";
	else if (f->resolving)
		state = "resolving";
	json_object_set_new(o, "listen", json_string(f->listen_text));
	json_object_set_new(o, "service", json_string(f->named ? f->name : f->service));
	json_object_set_new(o, "mode", json_string(f->named ? "named" : "direct"));
	json_object_set_new(o, "relays", json_integer(f->relay_hops));
	if (f->relay_hops) {
		state = f->circ ? (f->circ->ready ? "up" : "building") : (f->resolving ? "resolving" : "down");
		/* Relays left out of new paths for now (they failed recently). */
		json_object_set_new(o, "avoiding", circ_avoided_json(f->node));
	}
	json_object_set_new(o, "addr", json_string(f->peer_text));
	if (f->have_key) {
		vx6_key_to_text(f->key, key);
		json_object_set_new(o, "peer_key", json_string(key));
	} else {
		json_object_set_new(o, "peer_key", json_null());
	}
	json_object_set_new(o, "key_source", json_string(key_source_name(f->key_source)));
	json_object_set_new(o, "state", json_string(state));
	json_object_set_new(o, "attached", json_boolean(f->ctl_id != 0));
	json_object_set_new(o, "connections_active", json_integer((json_int_t)f->conns_active));
	json_object_set_new(o, "connections_total", json_integer((json_int_t)f->conns_total));
	json_object_set_new(o, "streams_refused", json_integer((json_int_t)f->refused));
	json_object_set_new(o, "bytes_up", json_integer((json_int_t)f->bytes_up));
	json_object_set_new(o, "bytes_down", json_integer((json_int_t)f->bytes_down));
	json_object_set_new(o, "last_error", f->last_error[0] ? json_string(f->last_error) : json_null());
	return o;
}

void
forward_event(struct forward *f, const char *event, json_t *fields)
{
	if (f->ctl_id == 0) {
		json_decref(fields);
		return;
	}
	if (fields == NULL)
		fields = json_object();
	json_object_set_new(fields, "listen", json_string(f->listen_text));
	ctl_send(f->node, f->ctl_id, vx6_ctl_event(event, fields));
}

int
forward_open(struct vx6_node *n, uint64_t ctl_id, int64_t reply_id, uint64_t reply_ctl,
    unsigned relay_hops, const char *service, const struct vx6_addr *peer, const struct vx6_addr *listen,
    const uint8_t *key, char *err, size_t errlen)
{
	struct forward *f;
	const struct pin *pin;
	int rc;

	if (n->shutting_down) {
		snprintf(err, errlen, "the node is shutting down");
		return VX6_ERR_STATE;
	}
	if (n->n_forwards >= n->cfg.limits.max_forwards) {
		snprintf(err, errlen, "too many forwards (max_forwards = %u)", n->cfg.limits.max_forwards);
		return VX6_ERR_LIMIT;
	}
	for (f = n->forwards; f; f = f->next)
		if (!f->closing && listen->port != 0 && vx6_addr_equal(&f->listen, listen)) {
			snprintf(err, errlen, "a forward already listens on %s", f->listen_text);
			return VX6_ERR_EXISTS;
		}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return VX6_ERR_NOMEM;
	f->node = n;
	f->reply_id = -1;
	f->created_at = node_now(n);
	f->relay_hops = relay_hops;
	if (peer == NULL) {
		const char *dot = strchr(service, '.');
		if (dot == NULL || n->dht == NULL) {
			free(f);
			snprintf(err, errlen, "named mode needs NODE.SERVICE (or pass --addr for direct mode)");
			return VX6_ERR_INVAL;
		}
		f->named = true;
		snprintf(f->name, sizeof(f->name), "%s", service);
		snprintf(f->service, sizeof(f->service), "%s", dot + 1);
		snprintf(f->peer_text, sizeof(f->peer_text), "(resolving %.40s)", service);
	} else {
		snprintf(f->service, sizeof(f->service), "%s", service);
		f->peer_addrs[0] = *peer;
		f->n_peer_addrs = 1;
		if (!node_circuit_addr(n, peer, 1, &f->peer))
			f->peer = *peer;   /* only sessions use it (no circuit at that transport) */
		f->have_peer = true;
		vx6_addr_format(peer, f->peer_text, sizeof(f->peer_text), false);
	}
	if (key) {
		memcpy(f->key, key, VX6_KEY_LEN);
		f->have_key = true;
		f->key_source = KEY_EXPLICIT;
	} else if (!f->named && (pin = node_pin_find(n, f->peer_text)) != NULL) {
		memcpy(f->key, pin->key, VX6_KEY_LEN);
		f->have_key = true;
		f->key_source = KEY_PINNED;
	}
	f->listener_id = node_new_id(n);
	if (node_conn_add(n, f->listener_id, CONN_LISTEN_FWD, f) == NULL) {
		free(f);
		return VX6_ERR_NOMEM;
	}
	rc = n->io->listen(n->io_ud, f->listener_id, VX6_SOCK_APP, listen, &f->listen);
	if (rc) {
		char text[VX6_ADDR_STRLEN];
		vx6_addr_format(listen, text, sizeof(text), false);
		snprintf(err, errlen, "cannot listen on %s: %s", text,
		    rc == VX6_ERR_EXISTS ? "address already in use" : vx6_strerror(rc));
		free(vx6_idmap_del(&n->conns, f->listener_id));
		free(f);
		return rc;
	}
	vx6_addr_format(&f->listen, f->listen_text, sizeof(f->listen_text), false);
	if (f->relay_hops && !f->named && !f->have_key) {
		snprintf(err, errlen, "relay mode needs the owner's key: pass --peer-key, connect once "
		    "directly (the key gets pinned), or use named mode");
		node_conn_close(n, f->listener_id, false);
		f->closing = true;
		f->next = n->forwards;
		n->forwards = f;
		n->n_forwards++;
		return VX6_ERR_INVAL;
	}
	if (f->named || f->relay_hops) {
		f->ctl_id = ctl_id;
		f->reply_id = reply_id;
		f->reply_ctl = reply_ctl;
		f->next = n->forwards;
		n->forwards = f;
		n->n_forwards++;
		NLOG_INFO(n, "forward %s -> %s (%s%s)", f->listen_text, f->named ? f->name : f->service,
		    f->named ? "named" : "direct", f->relay_hops ? ", through relays" : "");
		/* The reply waits for the resolution and the first handshake. */
		forward_connect(f);
		return 0;
	}
	f->link = link_dial_addrs(n, f->peer_addrs, f->n_peer_addrs, f->have_key ? f->key : NULL, false);
	if (f->link == NULL) {
		snprintf(err, errlen, "cannot start a session to %s (session limit reached?)", f->peer_text);
		node_conn_close(n, f->listener_id, false);
		f->closing = true;
		f->next = n->forwards;
		n->forwards = f;
		n->n_forwards++;
		return VX6_ERR_LIMIT;
	}
	f->ctl_id = ctl_id;
	f->reply_id = reply_id;
	f->reply_ctl = reply_ctl;
	f->next = n->forwards;
	n->forwards = f;
	n->n_forwards++;
	NLOG_INFO(n, "forward %s -> service %s at %s (key: %s)", f->listen_text, f->service,
	    f->peer_text, key_source_name(f->key_source));
	return 0;
}

/* Starts a session to the owner: by address, or by resolving its name first
 * (again from the network when an earlier session failed: the owner may
 * have moved). */
static void
forward_connect(struct forward *f)
{
	struct vx6_node *n = f->node;
	char node_name[VX6_NAME_BUF];
	const char *dot;

	if (f->named) {
		dot = strchr(f->name, '.');
		snprintf(node_name, sizeof(node_name), "%.*s", (int)(dot - f->name), f->name);
		f->resolving = true;
		(void)named_resolve(n, node_name, f->service, f->key_source == KEY_EXPLICIT ? f->key : NULL,
		    f->failed_sessions > 0, 0, -1, f);
		return;
	}
	if (f->relay_hops) {
		forward_build_circuit(f);
		return;
	}
	f->link = link_dial_addrs(n, f->peer_addrs, f->n_peer_addrs, f->have_key ? f->key : NULL, false);
	if (f->link == NULL) {
		snprintf(f->last_error, sizeof(f->last_error), "cannot start a session to %s", f->peer_text);
		forward_link_over(f, NULL);
	}
}

void
forward_resolved(struct forward *f, int rc, const char *why, const struct resolve *res)
{
	struct vx6_node *n = f->node;
	struct vx6_addr a, unused;
	bool fb;

	f->resolving = false;
	if (f->closing)
		return;
	if (rc == 0 && !node_pick_dial(n, res->node.addrs, res->node.n_addrs, &a, &unused, &fb)) {
		rc = VX6_ERR_UNREACHABLE;
		why = n->cfg.transport == VX6_POLICY_QUIC ? "the owner's record has no QUIC address (transport = quic)" :
		    n->cfg.transport == VX6_POLICY_TCP ? "the owner's record has no TCP address (transport = tcp)" :
		    "the owner's record has no address";
	}
	if (rc == 0 && f->relay_hops && !node_circuit_addr(n, res->node.addrs, res->node.n_addrs, &a)) {
		rc = VX6_ERR_UNREACHABLE;
		why = "the owner's record has no address a circuit can end at";
	}
	if (rc) {
		snprintf(f->last_error, sizeof(f->last_error), "%s", why);
		release_waiting(f, false);
		if (f->reply_id >= 0) {
			reply(f, vx6_ctl_reply_error(f->reply_id, rc == VX6_ERR_KEY_MISMATCH ? "key-mismatch" :
			    "not-found", why));
			forward_close(f, "name resolution failed");
		} else {
			json_t *ev = json_object();
			if (ev)
				json_object_set_new(ev, "reason", json_string(why));
			forward_event(f, "resolve-failed", ev);
		}
		return;
	}
	f->peer = a;
	memcpy(f->peer_addrs, res->node.addrs, res->node.n_addrs * sizeof(f->peer_addrs[0]));
	f->n_peer_addrs = res->node.n_addrs;
	f->have_peer = true;
	vx6_addr_format(&a, f->peer_text, sizeof(f->peer_text), false);
	memcpy(f->key, res->owner_key, VX6_KEY_LEN);
	f->have_key = true;
	if (f->key_source != KEY_EXPLICIT)
		f->key_source = KEY_RECORD;
	if (f->relay_hops) {
		forward_build_circuit(f);
		return;
	}
	f->link = link_dial_addrs(n, f->peer_addrs, f->n_peer_addrs, f->key, false);
	if (f->link == NULL) {
		snprintf(f->last_error, sizeof(f->last_error), "cannot start a session to %s", f->peer_text);
		forward_link_over(f, NULL);
	}
}

static void
open_stream(struct forward *f, struct pump *p)
{
	uint32_t sid;
	int rc = vx6_ts_open(f->link->session, f->service, &sid);

	if (rc) {
		snprintf(f->last_error, sizeof(f->last_error), "cannot open a stream: %s", vx6_strerror(rc));
		pump_abort(p, VX6_RESET_LIMIT, f->last_error);
		return;
	}
	pump_attach_stream(p, f->link, sid);
}

/* Relay mode: a circuit through f->relay_hops relays to the owner. */
static void
forward_build_circuit(struct forward *f)
{
	char why[300];
	int rc = circ_build(f, f->key, &f->peer, why, sizeof(why));

	if (rc) {
		snprintf(f->last_error, sizeof(f->last_error), "%s", why);
		release_waiting(f, false);
		if (f->reply_id >= 0) {
			reply(f, vx6_ctl_reply_error(f->reply_id, "no-path", why));
			forward_close(f, "no circuit could be built");
		}
	}
}

void
forward_circuit_ready(struct forward *f, struct circuit *c)
{
	json_t *res;
	struct pump *p, *next;

	f->last_error[0] = '\0';
	if (f->reply_id >= 0) {
		res = forward_json(f);
		if (res)
			json_object_set_new(res, "circuit_hops", json_integer(c->n));
		reply(f, vx6_ctl_reply_ok(f->reply_id, res));
	} else {
		forward_event(f, "circuit-up", json_pack("{s:i}", "hops", c->n));
	}
	p = f->waiting;
	f->waiting = NULL;
	for (; p; p = next) {
		next = p->next_waiting;
		p->next_waiting = NULL;
		circ_open_stream(c, p);
	}
}

/* failed_hop: the path index blamed for the failure, or -1 (circ.c has
 * already marked that relay as failed). */
void
forward_circuit_over(struct forward *f, struct circuit *c, const char *why, int failed_hop)
{
	if (f->circ != c)
		return;
	f->circ = NULL;
	f->failed_sessions++;
	snprintf(f->last_error, sizeof(f->last_error), "circuit closed: %.400s", why);
	release_waiting(f, false);
	if (f->reply_id >= 0) {
		reply(f, vx6_ctl_reply_error(f->reply_id, "no-path", f->last_error));
		forward_close(f, "the circuit could not be built");
	} else if (!f->closing) {
		forward_event(f, "circuit-lost", json_pack("{s:s}", "reason", why));
	}
}

void
forward_on_accept(struct forward *f, uint64_t app_id)
{
	struct vx6_node *n = f->node;
	struct pump *p;

	if (f->closing)
		return;
	p = pump_new(n, true);
	if (p == NULL)
		return;
	if (node_conn_add(n, app_id, CONN_APP, p) == NULL) {
		free(p);
		return;
	}
	n->n_app++;
	p->fwd = f;
	p->app_id = app_id;
	p->app_connected = true;
	f->conns_total++;
	f->conns_active++;
	if (f->relay_hops && f->circ && f->circ->ready && !f->circ->dead) {
		circ_open_stream(f->circ, p);
	} else if (!f->relay_hops && f->link && f->link->established && !f->link->over) {
		open_stream(f, p);
	} else {
		p->next_waiting = f->waiting;
		f->waiting = p;
		if (f->relay_hops ? (f->circ == NULL && !f->resolving) :
		    ((f->link == NULL || f->link->over) && !f->resolving))
			forward_connect(f);
		if (f->closing)
			return;
	}
	/* Read the first bytes while the session comes up. */
	pump_stream_writable(p);
}

static void
release_waiting(struct forward *f, bool open)
{
	struct pump *p, *next;

	p = f->waiting;
	f->waiting = NULL;
	for (; p; p = next) {
		next = p->next_waiting;
		p->next_waiting = NULL;
		if (open)
			open_stream(f, p);
		else
			pump_abort(p, VX6_RESET_SESSION_LOST, f->last_error);
	}
}

void
forward_link_established(struct forward *f, struct link *l)
{
	struct vx6_node *n = f->node;
	struct vx6_session_info info;
	char key[VX6_KEY_TEXT_LEN], nid[VX6_NODE_ID_HEX_LEN];
	json_t *res;

	vx6_ts_info(l->session, &info);
	if (!f->have_key) {
		memcpy(f->key, info.peer_key, VX6_KEY_LEN);
		f->have_key = true;
		f->key_source = KEY_TOFU;
		node_pin_set(n, f->peer_text, f->key);
		if (n->host->save_pin)
			n->host->save_pin(n->host->ud, f->peer_text, f->key);
		vx6_key_to_text(f->key, key);
		NLOG_INFO(n, "pinned key %s for %s (trust on first use)", key, f->peer_text);
	}
	f->last_error[0] = '\0';
	vx6_key_to_text(info.peer_key, key);
	vx6_node_id_to_hex(info.peer_node_id, nid);
	if (f->reply_id >= 0) {
		res = forward_json(f);
		if (res)
			json_object_set_new(res, "peer_node_id", json_string(nid));
		reply(f, vx6_ctl_reply_ok(f->reply_id, res));
	} else {
		json_t *ev = json_object();
		if (ev)
			json_object_set_new(ev, "peer_key", json_string(key));
		forward_event(f, "session-up", ev);
	}
	release_waiting(f, true);
}

/* l is NULL when no session could even be started. */
void
forward_link_over(struct forward *f, struct link *l)
{
	struct vx6_node *n = f->node;
	char want[VX6_KEY_TEXT_LEN], got[VX6_KEY_TEXT_LEN];
	const uint8_t *presented;
	int err = l ? l->close_err : VX6_ERR_LIMIT;
	bool mismatch;

	if (l && l != f->link)
		return;
	f->link = NULL;
	mismatch = err == VX6_ERR_KEY_MISMATCH && f->have_key;
	if (mismatch && l && !l->diagnose && !f->closing) {
		/* IK failed: the peer could not decrypt. Re-dial with XX to learn
		 * which key it really has, so the error can name both. */
		f->link = link_dial_addrs(n, f->peer_addrs, f->n_peer_addrs, f->key, true);
		if (f->link)
			return;
	}
	if (l && l->established && err == 0 && !f->closing) {
		snprintf(f->last_error, sizeof(f->last_error), "session ended: %.400s", l->close_reason);
	} else if (mismatch) {
		vx6_key_to_text(f->key, want);
		presented = l ? vx6_ts_presented_key(l->session) : NULL;
		if (presented) {
			vx6_key_to_text(presented, got);
			snprintf(f->last_error, sizeof(f->last_error),
			    "KEY MISMATCH: the node at %s presents key %s, but %s key %s is expected. "
			    "Refusing to connect. If the owner really changed its key, check it out of band "
			    "and pass --peer-key", f->peer_text, got, key_source_name(f->key_source), want);
		} else {
			snprintf(f->last_error, sizeof(f->last_error),
			    "KEY MISMATCH: the node at %s does not hold the %s key %s. Refusing to connect",
			    f->peer_text, key_source_name(f->key_source), want);
		}
		NLOG_ERROR(n, "forward %s: %s", f->listen_text, f->last_error);
	} else if (l) {
		snprintf(f->last_error, sizeof(f->last_error), "%s", l->close_reason);
	}
	if (l)
		f->failed_sessions += err != 0;
	release_waiting(f, false);
	if (f->reply_id >= 0) {
		if (mismatch) {
			reply(f, vx6_ctl_reply_error(f->reply_id, "key-mismatch", f->last_error));
			forward_close(f, "peer key mismatch");
		} else {
			json_t *res = forward_json(f);
			if (res)
				json_object_set_new(res, "warning", json_string(f->last_error));
			reply(f, vx6_ctl_reply_ok(f->reply_id, res));
		}
	} else if (!f->closing) {
		json_t *ev = json_object();
		if (ev)
			json_object_set_new(ev, "reason", json_string(f->last_error));
		forward_event(f, mismatch ? "key-mismatch" : "session-lost", ev);
	}
}

void
forward_close(struct forward *f, const char *why)
{
	struct vx6_node *n = f->node;
	size_t pos = 0;
	struct conn *c;

	if (f->closing)
		return;
	f->closing = true;
	snprintf(f->last_error, sizeof(f->last_error), "%s", why);
	if (f->reply_id >= 0)
		reply(f, vx6_ctl_reply_error(f->reply_id, "closed", why));
	node_conn_close(n, f->listener_id, false);
	release_waiting(f, false);
	/* Connections in progress end with the forward: the user asked it to stop. */
	while ((c = vx6_idmap_next(&n->conns, &pos, NULL)) != NULL)
		if (c->kind == CONN_APP && c->u.pump->fwd == f)
			pump_abort(c->u.pump, VX6_RESET_CANCEL, why);
	if (f->link)
		link_close(f->link, why);
	if (f->circ)
		circ_close(f->circ, why);
	named_forward_gone(n, f);
	NLOG_INFO(n, "forward %s closed: %s", f->listen_text, why);
}

void
forward_on_listener_closed(struct forward *f)
{
	struct vx6_node *n = f->node;
	struct forward **pp;
	size_t pos = 0;
	struct conn *c;

	while ((c = vx6_idmap_next(&n->conns, &pos, NULL)) != NULL)
		if (c->kind == CONN_APP && c->u.pump->fwd == f)
			c->u.pump->fwd = NULL;
	for (pp = &n->forwards; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	n->n_forwards--;
	free(f);
}

void
forward_pump_gone(struct forward *f, struct pump *p)
{
	struct pump **pp;

	if (f->conns_active)
		f->conns_active--;
	for (pp = &f->waiting; *pp; pp = &(*pp)->next_waiting)
		if (*pp == p) {
			*pp = p->next_waiting;
			break;
		}
}

void
forward_ctl_gone(struct vx6_node *n, uint64_t ctl_id)
{
	for (struct forward *f = n->forwards; f; f = f->next) {
		if (f->reply_ctl == ctl_id)
			f->reply_id = -1;   /* nobody to answer any more */
		if (f->ctl_id == ctl_id) {
			f->ctl_id = 0;
			forward_close(f, "the connect command ended");
		}
	}
}

/* --- transport auto: back to QUIC after a fallback (PROTOCOL §15.13) --- */

/* A QUIC session to the owner replaced f's TCP fallback (link_probe_up):
 * new streams go to it; the old one keeps its streams until they end. */
void
forward_move_to(struct forward *f, struct link *l)
{
	json_t *ev = json_object();

	NLOG_INFO(f->node, "forward %s: QUIC to %s works again: new streams use it, the TCP session "
	    "closes when its streams end", f->listen_text, l->remote_text);
	f->link = l;
	if (ev)
		json_object_set_new(ev, "transport", json_string("quic"));
	forward_event(f, "transport-changed", ev);
}
