/* node_ctl — the node's side of the control socket: reads request lines,
 * answers them, and builds `vx6 status`. */
#include "node/node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/err.h"

void
ctl_send(struct vx6_node *n, uint64_t ctl_id, char *line)
{
	struct conn *c = node_conn_get(n, ctl_id);
	struct vx6_chunk *chunk;

	if (line == NULL)
		return;
	if (c != NULL && c->kind == CONN_CTL && !c->closing) {
		chunk = vx6_chunk_copy(line, strlen(line), 0, 0);
		if (chunk)
			node_write(n, ctl_id, chunk);
	}
	free(line);
}

static json_t *
counters_json(const struct node_counters *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "handshake_failed", json_integer((json_int_t)c->handshake_failed));
	json_object_set_new(o, "key_mismatches", json_integer((json_int_t)c->key_mismatches));
	json_object_set_new(o, "circuit_tampered", json_integer((json_int_t)c->circuit_tampered));
	json_object_set_new(o, "decrypt_failed", json_integer((json_int_t)c->decrypt_failed));
	json_object_set_new(o, "malformed", json_integer((json_int_t)c->malformed));
	json_object_set_new(o, "protocol_violations", json_integer((json_int_t)c->protocol_violations));
	json_object_set_new(o, "timeouts", json_integer((json_int_t)c->timeouts));
	json_object_set_new(o, "limit_refused", json_integer((json_int_t)c->limit_refused));
	json_object_set_new(o, "streams_refused", json_integer((json_int_t)c->streams_refused));
	json_object_set_new(o, "targets_unreachable", json_integer((json_int_t)c->targets_unreachable));
	json_object_set_new(o, "ctl_bad_requests", json_integer((json_int_t)c->ctl_bad_requests));
	json_object_set_new(o, "sessions_total", json_integer((json_int_t)c->sessions_total));
	json_object_set_new(o, "streams_total", json_integer((json_int_t)c->streams_total));
	return o;
}

/* The node's QUIC side: fallbacks to TCP, and what its endpoints dropped
 * or answered without a connection (summed over the UDP sockets). */
static json_t *
quic_json(const struct vx6_node *n)
{
	json_t *o = json_object();
	struct vx6_quic_stats sum = { 0 }, st;
	size_t sockets = 0;

	for (const struct udp_sock *u = n->udp_socks; u; u = u->next, sockets++) {
		vx6_quic_ep_stats(u->ep, &st);
		sum.dropped += st.dropped;
		sum.retries_sent += st.retries_sent;
		sum.resets_sent += st.resets_sent;
		sum.version_negotiations += st.version_negotiations;
		sum.handshakes += st.handshakes;
	}
	json_object_set_new(o, "udp_sockets", json_integer((json_int_t)sockets));
	json_object_set_new(o, "fallbacks_to_tcp", json_integer((json_int_t)n->quic_fallbacks));
	json_object_set_new(o, "datagrams_not_sent", json_integer((json_int_t)n->quic_dropped_sends));
	json_object_set_new(o, "datagrams_dropped", json_integer((json_int_t)sum.dropped));
	json_object_set_new(o, "retries_sent", json_integer((json_int_t)sum.retries_sent));
	json_object_set_new(o, "stateless_resets_sent", json_integer((json_int_t)sum.resets_sent));
	json_object_set_new(o, "version_negotiations", json_integer((json_int_t)sum.version_negotiations));
	json_object_set_new(o, "handshakes_in_progress", json_integer((json_int_t)sum.handshakes));
	return o;
}

/* Why a session runs over its transport, for `vx6 status`. */
static const char *
transport_why(struct vx6_node *n, const struct link *l)
{
	bool quic = vx6_ts_kind(l->session) == VX6_TRANSPORT_QUIC;

	if (!l->outbound)
		return quic ? "the peer dialed over QUIC" : "the peer dialed over TCP";
	if (l->fell_back)
		return "transport auto: QUIC got no answer, fell back to TCP (QUIC is re-probed)";
	if (l->is_probe)
		return "transport auto: QUIC works again (replaces a TCP fallback)";
	switch (n->cfg.transport) {
	case VX6_POLICY_TCP:
		return quic ? "the address said quic://" : "transport = tcp";
	case VX6_POLICY_QUIC:
		return quic ? "transport = quic" : "the address said tcp://";
	case VX6_POLICY_AUTO:
		break;
	}
	if (quic)
		return "transport auto: QUIC preferred";
	if (node_quic_failed(n, &l->remote))
		return "transport auto: QUIC failed at this address lately, TCP until it is re-tried";
	return "transport auto: TCP (the address said tcp://, or the peer has no QUIC address)";
}

static json_t *
session_json(struct vx6_node *n, const struct link *l, uint64_t now)
{
	json_t *o = json_object();
	struct vx6_session_info info;
	char key[VX6_KEY_TEXT_LEN], nid[VX6_NODE_ID_HEX_LEN];

	vx6_ts_info(l->session, &info);
	json_object_set_new(o, "remote", json_string(l->remote_text));
	json_object_set_new(o, "direction", json_string(l->outbound ? "out" : "in"));
	json_object_set_new(o, "transport", json_string(vx6_ts_name(l->session)));
	json_object_set_new(o, "transport_why", json_string(transport_why(n, l)));
	if (l->fell_back)
		json_object_set_new(o, "transport_note", json_string("QUIC did not answer: fell back to TCP"));
	json_object_set_new(o, "state", json_string(l->over ? "closing" :
	    l->established ? "established" : "handshake"));
	if (info.established) {
		vx6_key_to_text(info.peer_key, key);
		vx6_node_id_to_hex(info.peer_node_id, nid);
		json_object_set_new(o, "peer_key", json_string(key));
		json_object_set_new(o, "peer_node_id", json_string(nid));
		if (vx6_ts_kind(l->session) == VX6_TRANSPORT_QUIC) {
			json_object_set_new(o, "pattern", json_string("TLS1.3"));   /* QUIC: no Noise pattern */
			json_object_set_new(o, "aead", json_string("tls"));
		} else {
			json_object_set_new(o, "pattern", json_string(info.pattern == VX6_NOISE_IK ? "IK" : "XX"));
			json_object_set_new(o, "aead", json_string(vx6_aead_name(info.aead)));
		}
		json_object_set_new(o, "version", json_integer(info.version));
	}
	json_object_set_new(o, "rtt_ms", info.rtt_ns ? json_real((double)info.rtt_ns / 1e6) : json_null());
	json_object_set_new(o, "bytes_in", json_integer((json_int_t)info.bytes_in));
	json_object_set_new(o, "bytes_out", json_integer((json_int_t)info.bytes_out));
	json_object_set_new(o, "streams", json_integer(info.mux.streams_open));
	json_object_set_new(o, "streams_total", json_integer((json_int_t)info.mux.streams_opened_total));
	json_object_set_new(o, "rekeys", json_integer((json_int_t)(info.rekeys_tx + info.rekeys_rx)));
	json_object_set_new(o, "age_s", json_real((double)(now - l->created_at) / 1e9));
	(void)n;
	return o;
}

json_t *
node_status_json(struct vx6_node *n)
{
	json_t *o = json_object(), *arr;
	char key[VX6_KEY_TEXT_LEN], nid[VX6_NODE_ID_HEX_LEN], text[VX6_ADDR_STRLEN];
	uint64_t now = node_now(n), streams = 0;
	struct vx6_session_info info;

	vx6_key_to_text(n->id.pk, key);
	vx6_node_id_to_hex(n->id.node_id, nid);
	json_object_set_new(o, "name", json_string(n->cfg.name));
	json_object_set_new(o, "node_id", json_string(nid));
	json_object_set_new(o, "public_key", json_string(key));
	json_object_set_new(o, "version", json_string(VX6_VERSION));
	json_object_set_new(o, "uptime_s", json_real((double)(now - n->started_at) / 1e9));
	arr = json_array();
	for (size_t i = 0; i < n->n_bound; i++) {
		vx6_addr_format(&n->bound[i], text, sizeof(text), true);
		json_array_append_new(arr, json_string(text));
	}
	json_object_set_new(o, "listen", arr);
	arr = json_array();
	for (const struct link *l = n->links; l; l = l->next) {
		json_array_append_new(arr, session_json(n, l, now));
		vx6_ts_info(l->session, &info);
		streams += info.mux.streams_open;
	}
	json_object_set_new(o, "sessions", arr);
	json_object_set_new(o, "streams", json_integer((json_int_t)streams));
	json_object_set_new(o, "app_connections", json_integer(n->n_app));
	arr = json_array();
	for (size_t i = 0; i < n->cfg.n_services; i++) {
		json_t *s = json_object();
		vx6_addr_format(&n->cfg.services[i].target, text, sizeof(text), false);
		json_object_set_new(s, "name", json_string(n->cfg.services[i].name));
		json_object_set_new(s, "target", json_string(text));
		json_array_append_new(arr, s);
	}
	json_object_set_new(o, "services", arr);
	arr = json_array();
	for (const struct forward *f = n->forwards; f; f = f->next)
		if (!f->closing)
			json_array_append_new(arr, forward_json(f));
	json_object_set_new(o, "forwards", arr);
	json_object_set_new(o, "counters", counters_json(&n->ctr));
	json_object_set_new(o, "quic", quic_json(n));
	json_object_set_new(o, "named", named_status_json(n));
	json_object_set_new(o, "circuits", circ_status_json(n));
	json_object_set_new(o, "circuit_window_extra", json_integer((json_int_t)n->circ_window_extra));
	json_object_set_new(o, "relay", relay_status_json(n));
	return o;
}

static json_t *
services_json(struct vx6_node *n)
{
	json_t *arr = json_array();
	char text[VX6_ADDR_STRLEN];

	for (size_t i = 0; i < n->cfg.n_services; i++) {
		json_t *s = json_object();
		vx6_addr_format(&n->cfg.services[i].target, text, sizeof(text), false);
		json_object_set_new(s, "name", json_string(n->cfg.services[i].name));
		json_object_set_new(s, "target", json_string(text));
		json_array_append_new(arr, s);
	}
	return arr;
}

/* Service names on the wire: a label, or node.label (named mode). */
static bool
service_name_ok(const char *s)
{
	const char *dot = strchr(s, '.');

	if (dot == NULL)
		return vx6_name_valid(s);
	return strchr(dot + 1, '.') == NULL && vx6_name_valid_n(s, (size_t)(dot - s)) &&
	    vx6_name_valid(dot + 1);
}

static unsigned
route_hops(const struct vx6_node *n, const char *service)
{
	const struct vx6_route *dflt = NULL;

	for (size_t i = 0; i < n->cfg.n_routes; i++) {
		if (strcmp(n->cfg.routes[i].service, service) == 0)
			return n->cfg.routes[i].relay_hops;
		if (strcmp(n->cfg.routes[i].service, "default") == 0)
			dflt = &n->cfg.routes[i];
	}
	return dflt ? dflt->relay_hops : 0;
}

static void
handle_connect_open(struct vx6_node *n, struct ctl_client *c, const struct vx6_ctl_request *req)
{
	const char *service, *addr, *listen, *key;
	struct vx6_addr peer, local;
	uint8_t kbuf[VX6_KEY_LEN];
	char err[400];
	int bad = 0, detach, rc;
	unsigned relay_hops;

	service = vx6_ctl_arg_str(req, "service", &bad);
	addr = vx6_ctl_arg_str(req, "addr", &bad);
	listen = vx6_ctl_arg_str(req, "listen", &bad);
	key = vx6_ctl_arg_str(req, "peer_key", &bad);
	detach = vx6_ctl_arg_bool(req, "detach", 0, &bad);
	{
		json_t *r = json_object_get(req->args, "relay");
		if (r && (!json_is_integer(r) || json_integer_value(r) < 0 ||
		    json_integer_value(r) >= VX6_CIRCUIT_MAX_HOPS))
			bad = 1;
		/* Without --relay, a named service follows its [routes] entry. */
		relay_hops = r ? (unsigned)json_integer_value(r) :
		    service && addr == NULL ? route_hops(n, service) : 0;
	}
	if (bad || service == NULL || listen == NULL) {
		n->ctr.ctl_bad_requests++;
		ctl_send(n, c->conn_id, vx6_ctl_reply_error(req->id, "bad-request",
		    "connect.open needs string arguments service and listen (and addr for direct mode)"));
		return;
	}
	if (!service_name_ok(service)) {
		snprintf(err, sizeof(err), "\"%.64s\" is not a valid service name: %s", service,
		    vx6_name_why_invalid(strchr(service, '.') ? strchr(service, '.') + 1 : service) ?
		    vx6_name_why_invalid(strchr(service, '.') ? strchr(service, '.') + 1 : service) :
		    "use NAME or NODE.NAME");
		ctl_send(n, c->conn_id, vx6_ctl_reply_error(req->id, "invalid", err));
		return;
	}
	if (addr == NULL && strchr(service, '.') == NULL) {
		ctl_send(n, c->conn_id, vx6_ctl_reply_error(req->id, "invalid",
		    "without --addr, name the service as NODE.SERVICE (named mode)"));
		return;
	}
	if (addr && vx6_addr_parse_policy(&peer, addr, false) != 0) {
		snprintf(err, sizeof(err), "\"%.64s\" is not an address; write [IPv6]:PORT or IPv4:PORT", addr);
		ctl_send(n, c->conn_id, vx6_ctl_reply_error(req->id, "invalid", err));
		return;
	}
	if (vx6_addr_parse(&local, listen, true) != 0) {
		snprintf(err, sizeof(err), "\"%.64s\" is not a listen address; write 127.0.0.1:PORT", listen);
		ctl_send(n, c->conn_id, vx6_ctl_reply_error(req->id, "invalid", err));
		return;
	}
	if (!vx6_addr_is_loopback(&local)) {
		ctl_send(n, c->conn_id, vx6_ctl_reply_error(req->id, "not-allowed",
		    "a forward listens on loopback only (127.0.0.1 or [::1]), so the service is not "
		    "exposed to the network"));
		return;
	}
	if (key && vx6_key_from_text(kbuf, key) != 0) {
		ctl_send(n, c->conn_id, vx6_ctl_reply_error(req->id, "invalid",
		    "--peer-key must be a 43-character key as printed by `vx6 identity`"));
		return;
	}
	rc = forward_open(n, detach ? 0 : c->conn_id, req->id, c->conn_id, relay_hops, service,
	    addr ? &peer : NULL,
	    &local, key ? kbuf : NULL, err, sizeof(err));
	if (rc)
		ctl_send(n, c->conn_id, vx6_ctl_reply_error(req->id, rc == VX6_ERR_EXISTS ? "exists" :
		    "failed", err));
}

static void
handle_resolve(struct vx6_node *n, struct ctl_client *c, const struct vx6_ctl_request *req)
{
	const char *name, *key, *dot;
	char node_name[VX6_NAME_BUF];
	uint8_t kbuf[VX6_KEY_LEN];
	int bad = 0;
	bool fresh;

	name = vx6_ctl_arg_str(req, "name", &bad);
	key = vx6_ctl_arg_str(req, "peer_key", &bad);
	fresh = vx6_ctl_arg_bool(req, "fresh", 0, &bad);
	if (bad || name == NULL || !service_name_ok(name) || (dot = strchr(name, '.')) == NULL) {
		n->ctr.ctl_bad_requests++;
		ctl_send(n, c->conn_id, vx6_ctl_reply_error(req->id, "invalid",
		    "resolve needs a name like NODE.SERVICE"));
		return;
	}
	if (key && vx6_key_from_text(kbuf, key) != 0) {
		ctl_send(n, c->conn_id, vx6_ctl_reply_error(req->id, "invalid", "bad --peer-key"));
		return;
	}
	snprintf(node_name, sizeof(node_name), "%.*s", (int)(dot - name), name);
	if (named_resolve(n, node_name, dot + 1, key ? kbuf : NULL, fresh, c->conn_id, req->id, NULL) == 0)
		ctl_send(n, c->conn_id, vx6_ctl_reply_error(req->id, "failed", "named mode is not running"));
}

static struct forward *
find_forward(struct vx6_node *n, const char *listen)
{
	struct vx6_addr a;
	bool parsed = vx6_addr_parse(&a, listen, true) == 0;

	for (struct forward *f = n->forwards; f; f = f->next)
		if (!f->closing && (strcmp(f->listen_text, listen) == 0 ||
		    (parsed && vx6_addr_equal(&f->listen, &a))))
			return f;
	return NULL;
}

static void
handle(struct vx6_node *n, struct ctl_client *c, const char *line, size_t len)
{
	struct vx6_ctl_request req;
	char err[300];
	int rc, bad = 0;

	rc = vx6_ctl_parse_request(line, len, &req, err, sizeof(err));
	if (rc) {
		n->ctr.ctl_bad_requests++;
		ctl_send(n, c->conn_id, vx6_ctl_reply_error(req.id, rc == VX6_ERR_NOT_FOUND ?
		    "unknown-command" : "bad-request", err));
		return;
	}
	if (strcmp(req.cmd, "ping") == 0) {
		ctl_send(n, c->conn_id, vx6_ctl_reply_ok(req.id, json_pack("{s:b}", "pong", 1)));
	} else if (strcmp(req.cmd, "status") == 0) {
		ctl_send(n, c->conn_id, vx6_ctl_reply_ok(req.id, node_status_json(n)));
	} else if (strcmp(req.cmd, "reload") == 0) {
		rc = n->host->reload ? n->host->reload(n->host->ud, err, sizeof(err)) : VX6_ERR_STATE;
		if (rc)
			ctl_send(n, c->conn_id, vx6_ctl_reply_error(req.id, "config", err));
		else
			ctl_send(n, c->conn_id, vx6_ctl_reply_ok(req.id,
			    json_pack("{s:o}", "services", services_json(n))));
	} else if (strcmp(req.cmd, "connect.open") == 0) {
		handle_connect_open(n, c, &req);
	} else if (strcmp(req.cmd, "resolve") == 0) {
		handle_resolve(n, c, &req);
	} else if (strcmp(req.cmd, "probe") == 0) {
		const char *name = vx6_ctl_arg_str(&req, "name", &bad);
		if (name == NULL || !vx6_name_valid(name))
			ctl_send(n, c->conn_id, vx6_ctl_reply_error(req.id, "invalid", "probe needs a node name"));
		else if (named_probe(n, name, c->conn_id, req.id) == 0)
			ctl_send(n, c->conn_id, vx6_ctl_reply_error(req.id, "busy", "cannot probe now"));
	} else if (strcmp(req.cmd, "holds") == 0) {
		const char *name = vx6_ctl_arg_str(&req, "name", &bad), *dot;
		char node_name[VX6_NAME_BUF];
		if (name == NULL || (dot = strchr(name, '.')) == NULL || !service_name_ok(name)) {
			ctl_send(n, c->conn_id, vx6_ctl_reply_error(req.id, "invalid", "holds needs NODE.SERVICE"));
		} else {
			snprintf(node_name, sizeof(node_name), "%.*s", (int)(dot - name), name);
			ctl_send(n, c->conn_id, vx6_ctl_reply_ok(req.id, named_holds_json(n, node_name, dot + 1)));
		}
	} else if (strcmp(req.cmd, "list") == 0) {
		ctl_send(n, c->conn_id, vx6_ctl_reply_ok(req.id, named_list_json(n)));
	} else if (strcmp(req.cmd, "connect.list") == 0) {
		json_t *arr = json_array();
		for (struct forward *f = n->forwards; f; f = f->next)
			if (!f->closing)
				json_array_append_new(arr, forward_json(f));
		ctl_send(n, c->conn_id, vx6_ctl_reply_ok(req.id, json_pack("{s:o}", "forwards", arr)));
	} else if (strcmp(req.cmd, "connect.close") == 0) {
		const char *listen = vx6_ctl_arg_str(&req, "listen", &bad);
		struct forward *f = listen ? find_forward(n, listen) : NULL;
		if (f == NULL) {
			snprintf(err, sizeof(err), "no forward listens on %.64s", listen ? listen : "(none)");
			ctl_send(n, c->conn_id, vx6_ctl_reply_error(req.id, "not-found", err));
		} else {
			forward_close(f, "closed by `vx6 connect close`");
			ctl_send(n, c->conn_id, vx6_ctl_reply_ok(req.id, NULL));
		}
	}
	vx6_ctl_request_free(&req);
}

void
ctl_on_read(struct vx6_node *n, struct ctl_client *c, struct vx6_chunk *chunk)
{
	const uint8_t *p = vx6_chunk_ptr(chunk);
	size_t len = chunk->len;

	for (size_t i = 0; i < len && !c->closing; i++) {
		if (p[i] == '\n') {
			handle(n, c, c->buf ? c->buf : "", c->len);
			c->len = 0;
			continue;
		}
		if (c->len >= VX6_CTL_MAX_LINE) {
			n->ctr.ctl_bad_requests++;
			ctl_send(n, c->conn_id, vx6_ctl_reply_error(-1, "bad-request",
			    "request line too long"));
			c->closing = true;
			node_conn_close(n, c->conn_id, false);
			break;
		}
		if (c->len + 1 > c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 512;
			char *nb;
			if (cap > VX6_CTL_MAX_LINE + 1)
				cap = VX6_CTL_MAX_LINE + 1;
			nb = realloc(c->buf, cap);
			if (nb == NULL)
				break;
			c->buf = nb;
			c->cap = cap;
		}
		c->buf[c->len++] = (char)p[i];
	}
	vx6_chunk_free(chunk);
}
