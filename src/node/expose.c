/* expose — serving side: a stream opened by a peer names a service; the
 * node connects it to that service's configured loopback target and to
 * nothing else. */
#include "node/node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

/* Refusals logged per session before going quiet (the counter keeps counting). */
#define REFUSALS_LOGGED 5

static void
refuse(struct link *l, uint32_t sid, uint16_t code, const char *reason)
{
	struct vx6_node *n = l->node;
	static const char module[] = "expose";

	n->ctr.streams_refused++;
	if (n->ctr.streams_refused <= REFUSALS_LOGGED || n->log->level >= VX6_LOG_DEBUG)
		vx6_log_warn(n->log, module, "refused stream %u from %s: %s", sid, l->remote_text, reason);
	vx6_ts_reset(l->session, sid, code, reason);
}

/* A private service serves only the keys its allow list names, checked
 * against the session's authenticated key (never a claimed name). */
static bool
allowed(struct link *l, const struct vx6_service_def *svc)
{
	struct vx6_session_info info;
	uint8_t k[VX6_KEY_LEN];

	vx6_ts_info(l->session, &info);
	for (uint8_t i = 0; i < svc->n_allow; i++) {
		if (vx6_key_from_text(k, svc->allow[i]) == 0) {
			if (memcmp(k, info.peer_key, VX6_KEY_LEN) == 0)
				return true;
		} else if (l->node->reg && vx6_registry_pin_get(l->node->reg, svc->allow[i], k, NULL) == 0 &&
		    memcmp(k, info.peer_key, VX6_KEY_LEN) == 0) {
			return true;
		}
	}
	return false;
}

void
expose_on_open(struct link *l, uint32_t sid, const char *service)
{
	struct vx6_node *n = l->node;
	const struct vx6_service_def *svc = node_service_find(n, service);
	char reason[160], target[VX6_ADDR_STRLEN];
	struct pump *p;
	uint64_t id;
	int rc;

	if (strcmp(service, VX6_CIRCUIT_SERVICE) == 0) {
		relay_on_open(l, sid);   /* a circuit hop, through or ending at this node */
		return;
	}

	if (svc != NULL && svc->is_private && !allowed(l, svc)) {
		char key[VX6_KEY_TEXT_LEN];
		struct vx6_session_info info;
		vx6_ts_info(l->session, &info);
		vx6_key_to_text(info.peer_key, key);
		vx6_log_warn(n->log, "expose", "refused stream %u from %s (key %s): private service %s "
		    "does not allow it", sid, l->remote_text, key, svc->name);
		svc = NULL;   /* the peer learns nothing: same answer as an unknown name */
		n->ctr.streams_refused++;
		snprintf(reason, sizeof(reason), "no service named '%.64s' is published on this node", service);
		vx6_ts_reset(l->session, sid, VX6_RESET_UNKNOWN_SERVICE, reason);
		return;
	}
	if (svc == NULL) {
		snprintf(reason, sizeof(reason), "no service named '%.64s' is published on this node", service);
		refuse(l, sid, VX6_RESET_UNKNOWN_SERVICE, reason);
		return;
	}
	if (n->shutting_down || n->n_app >= n->cfg.limits.max_app_conns) {
		n->ctr.limit_refused++;
		vx6_ts_reset(l->session, sid, VX6_RESET_LIMIT, "the owner is at its connection limit");
		return;
	}
	/* Defence in depth: configuration checks already demand loopback. */
	if (!vx6_addr_is_loopback(&svc->target)) {
		refuse(l, sid, VX6_RESET_NOT_ALLOWED, "service target is not a loopback address");
		return;
	}
	p = pump_new(n, false);
	if (p == NULL) {
		vx6_ts_reset(l->session, sid, VX6_RESET_INTERNAL, "out of memory");
		return;
	}
	snprintf(p->service, sizeof(p->service), "%s", svc->name);
	id = node_new_id(n);
	p->app_id = id;
	if (node_conn_add(n, id, CONN_APP, p) == NULL) {
		free(p);
		vx6_ts_reset(l->session, sid, VX6_RESET_INTERNAL, "out of memory");
		return;
	}
	n->n_app++;
	pump_attach_stream(p, l, sid);
	rc = n->io->dial(n->io_ud, id, VX6_SOCK_APP, &svc->target);
	if (rc) {
		vx6_addr_format(&svc->target, target, sizeof(target), false);
		/* No callback will come for a failed dial: finish it here. */
		pump_on_app_connected(p, rc, vx6_strerror(rc));
		return;
	}
	if (n->log->level >= VX6_LOG_DEBUG) {
		vx6_addr_format(&svc->target, target, sizeof(target), false);
		vx6_log_debug(n->log, "expose", "stream %u from %s -> service %s (%s)", sid, l->remote_text,
		    svc->name, target);
	}
}
