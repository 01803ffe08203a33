/*
 * node — the composition root: one object per running node.
 *
 * Owns the identity copy, the configuration, the peer links (each a
 * session over a connection), the forwards (local listeners that open
 * streams to a remote service), the streams exposed to local service
 * targets, the control clients and the counters shown by `vx6 status`.
 *
 * The node does no I/O. It calls the operations of io/io.h and is driven
 * through the vx6_node_* entry points below, from the libuv adapter in
 * production or from the simulator in tests. The node never calls back into
 * the I/O layer from inside those operations' own callbacks.
 */
#ifndef VX6_NODE_NODE_H
#define VX6_NODE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crypto/identity.h"
#include "io/io.h"
#include "lib/addr.h"
#include "lib/chunk.h"
#include "lib/env.h"
#include "lib/name.h"
#include "registry/registry.h"

#define VX6_NODE_MAX_LISTEN 8
#define VX6_NODE_MAX_SERVICES 256
#define VX6_NODE_MAX_PEERS 64
#define VX6_NODE_CTL_LISTENER 1     /* the id of the control listener (opened by the host) */

#define VX6_NODE_MAX_ROUTES 64
#define VX6_SERVICE_MAX_ALLOW 16
#define VX6_ALLOW_LEN 48            /* a key (43 characters) or a node name */

struct vx6_service_def {
	char name[VX6_NAME_BUF];
	struct vx6_addr target;     /* loopback only */
	bool is_private;            /* no public record; only `allow` may use it */
	uint8_t n_allow;
	char allow[VX6_SERVICE_MAX_ALLOW][VX6_ALLOW_LEN];   /* keys or pinned node names */
};

/* Limits with safe defaults (vx6_node_config_defaults); all configurable. */
struct vx6_node_limits {
	uint32_t max_sessions;          /* peer sessions, in + out */
	uint32_t max_handshakes;        /* inbound sessions still handshaking */
	uint32_t max_streams;           /* per session, opened by the peer */
	uint32_t stream_window;         /* bytes of credit per stream */
	uint32_t session_window;        /* bytes of credit per session */
	uint32_t max_output;            /* bytes queued per session before the peer is declared stuck */
	uint32_t handshake_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t keepalive_ms;
	uint32_t rekey_interval_s;
	uint64_t rekey_bytes;
	uint32_t max_forwards;
	uint32_t max_ctl_clients;
	uint32_t max_app_conns;         /* local connections across all forwards and targets */
	uint32_t republish_s;           /* owners re-sign and store their records */
	uint32_t replicate_s;           /* holders re-store values nobody refreshed */
	uint32_t record_lifetime_s;     /* validity of the records we sign */
	uint32_t quic_reprobe_s;        /* transport auto: QUIC re-tried this often after a fallback */
};

/* A client-side preference for how to reach a named service ([routes]):
 * `alice.web = relay 2`, `default = direct`. */
struct vx6_route {
	char service[2 * VX6_NAME_BUF];   /* NODE.SERVICE, or "default" */
	uint8_t relay_hops;               /* 0: direct session */
};

/* Which transport carries node-to-node sessions to and from addresses
 * written without a scheme (docs/PROTOCOL.md §15.10). */
enum vx6_transport_policy {
	VX6_POLICY_AUTO = 0,   /* listen on both; dial QUIC, fall back to TCP */
	VX6_POLICY_TCP = 1,
	VX6_POLICY_QUIC = 2,
};

static inline const char *
vx6_transport_policy_name(enum vx6_transport_policy p)
{
	return p == VX6_POLICY_TCP ? "tcp" : p == VX6_POLICY_QUIC ? "quic" : "auto";
}

/* -1 if not one of auto, tcp, quic. */
static inline int
vx6_transport_policy_parse(const char *s)
{
	return strcmp(s, "auto") == 0 ? VX6_POLICY_AUTO : strcmp(s, "tcp") == 0 ? VX6_POLICY_TCP :
	    strcmp(s, "quic") == 0 ? VX6_POLICY_QUIC : -1;
}

struct vx6_node_config {
	char name[VX6_NAME_BUF];
	enum vx6_transport_policy transport;
	struct vx6_addr listen[VX6_NODE_MAX_LISTEN];
	size_t n_listen;
	struct vx6_addr advertise[VX6_NODE_MAX_LISTEN];
	size_t n_advertise;
	struct vx6_addr peers[VX6_NODE_MAX_PEERS];   /* bootstrap peers */
	size_t n_peers;
	struct vx6_node_limits limits;
	unsigned aead_mask;
	int log_level;
	bool relay;                     /* relay circuits for others ([relay] enabled) */
	uint32_t relay_max_circuits;    /* circuits relayed at once */
	uint32_t relay_max_rate_kib;    /* transit KiB/s across all circuits, 0 = unlimited */
	bool relay_allow_loopback;      /* extend to loopback addresses (tests on one host only) */
	bool relay_same_prefix;         /* paths may repeat a /48 (tests on one host only) */
	int relay_misbehave;            /* test builds only (VX6_TEST_HOOKS): 1 tamper, 2 replay, 3 drop */
	struct vx6_route routes[VX6_NODE_MAX_ROUTES];
	size_t n_routes;
	struct vx6_service_def services[VX6_NODE_MAX_SERVICES];
	size_t n_services;
};

void vx6_node_config_defaults(struct vx6_node_config *cfg);

/* What the node needs from whoever runs it. */
struct vx6_node_host {
	const struct vx6_io_ops *io;
	void *io_ud;
	/* Re-reads the configuration and applies it with vx6_node_apply_config();
	 * returns 0, or an error with a message in err. */
	int (*reload)(void *ud, char *err, size_t errlen);
	/* Persists a trust-on-first-use pin: the key seen at addr. */
	void (*save_pin)(void *ud, const char *addr, const uint8_t key[VX6_KEY_LEN]);
	void *ud;
	/* The local registry (borrowed; NULL: named mode keeps nothing across
	 * restarts and resolves through the DHT only). */
	struct vx6_registry *registry;
};

struct vx6_node;

/* id and cfg are copied; host and env are borrowed and must outlive the node. */
struct vx6_node *vx6_node_new(const struct vx6_identity *id, const struct vx6_node_config *cfg,
    const struct vx6_node_host *host, const struct vx6_env *env);
/* Opens the peer listeners. Returns 0 or a vx6_err with a message in err. */
int vx6_node_start(struct vx6_node *n, char *err, size_t errlen);
/* Adds a known pin (at start, from the pin file). */
void vx6_node_add_pin(struct vx6_node *n, const char *addr, const uint8_t key[VX6_KEY_LEN]);
/* Applies a new configuration: services and limits take effect now (limits
 * for new sessions); listen addresses need a restart. */
int vx6_node_apply_config(struct vx6_node *n, const struct vx6_node_config *cfg, char *err,
    size_t errlen);
/* Begins an orderly shutdown: GOAWAY on every session, listeners closed.
 * vx6_node_idle() tells when every connection is gone. */
void vx6_node_shutdown(struct vx6_node *n);
bool vx6_node_idle(const struct vx6_node *n);
void vx6_node_free(struct vx6_node *n);   /* NULL is a no-op; after vx6_node_idle() */

/* --- entry points for the I/O layer --- */
/* A fresh connection id, for the I/O layer to register an accepted
 * connection under before calling vx6_node_accepted(). */
uint64_t vx6_node_new_conn_id(struct vx6_node *n);
/* A listener accepted a connection, registered as id. Returns 0, or a
 * negative vx6_err to refuse it (the I/O layer then closes it and does not
 * call vx6_node_closed). */
int vx6_node_accepted(struct vx6_node *n, uint64_t listener, uint64_t id, const struct vx6_addr *remote);
/* A dial completed (status 0) or failed (negative vx6_err; detail says why). */
void vx6_node_connected(struct vx6_node *n, uint64_t id, int status, const char *detail);
/* A buffer to read into for id: read at most *room bytes at vx6_chunk_ptr(c)
 * and set c->len. NULL when out of memory. */
struct vx6_chunk *vx6_node_read_buffer(struct vx6_node *n, uint64_t id, size_t *room);
/* Bytes were read (takes c). c == NULL: EOF (status 0) or error (status < 0). */
void vx6_node_read(struct vx6_node *n, uint64_t id, struct vx6_chunk *c, int status,
    const char *detail);
/* n bytes of earlier writes on id completed (status < 0: they were dropped). */
void vx6_node_wrote(struct vx6_node *n, uint64_t id, size_t bytes, int status);
/* id is closed and may be reused. */
void vx6_node_closed(struct vx6_node *n, uint64_t id);
/* The timer set with set_timer fired. */
void vx6_node_timer(struct vx6_node *n);
/* Datagrams arrived on UDP socket id (count <= VX6_UDP_BATCH; borrowed). */
void vx6_node_datagrams(struct vx6_node *n, uint64_t id, const struct vx6_dgram *d, size_t count);
/* The host's addresses may have changed (netlink): re-check now. */
void vx6_node_addresses_changed(struct vx6_node *n);

#endif
