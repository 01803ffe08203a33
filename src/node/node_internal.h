/*
 * node_internal — the node's private structures, shared by the files that
 * make up the node module (node.c, link.c, forward.c, expose.c, pump.c,
 * node_ctl.c). Nothing outside src/node includes this.
 *
 * Ownership: the node owns every link, forward, pump and ctl client. An
 * object tied to a connection id is freed only in vx6_node_closed() for that
 * id (never inside a callback of a core), so no pointer dangles while a
 * callback runs.
 */
#ifndef VX6_NODE_INTERNAL_H
#define VX6_NODE_INTERNAL_H

#include <jansson.h>

#include "core/circuit.h"
#include "core/dht.h"
#include "core/dhtval.h"
#include "core/record.h"
#include "core/session.h"
#include "lib/idmap.h"
#include "registry/registry.h"
#include "transport/quic.h"
#include "transport/tsession.h"
#include "lib/log.h"
#include "node/node.h"

enum conn_kind {
	CONN_LISTEN_PEER = 1,   /* accepts peer sessions */
	CONN_LISTEN_FWD,        /* a forward's local listener */
	CONN_LISTEN_CTL,        /* the control socket (opened by the host) */
	CONN_PEER,              /* a peer session's transport */
	CONN_APP,               /* a local application socket of a pump */
	CONN_CTL,               /* a control client */
	CONN_UDP,               /* a UDP socket carrying QUIC links */
};

struct link;
struct udp_sock;
struct pump;
struct forward;
struct ctl_client;

struct conn {
	uint64_t id;
	enum conn_kind kind;
	bool closing;               /* close requested; waiting for vx6_node_closed */
	union {
		struct link *link;
		struct pump *pump;
		struct forward *fwd;
		struct ctl_client *ctl;
		struct udp_sock *udp;
		void *ptr;
	} u;
};

/* Counters of rejected input and failures, shown by `vx6 status`. */
struct node_counters {
	uint64_t handshake_failed;
	uint64_t decrypt_failed;
	uint64_t malformed;
	uint64_t protocol_violations;
	uint64_t timeouts;
	uint64_t limit_refused;       /* sessions/handshakes/conns refused by a limit */
	uint64_t streams_refused;     /* unknown service / not allowed */
	uint64_t targets_unreachable;
	uint64_t ctl_bad_requests;
	uint64_t key_mismatches;
	uint64_t circuit_tampered;    /* cells that failed authentication in a circuit */
	uint64_t sessions_total;
	uint64_t streams_total;
};

/* One peer session over one connection. */
struct link {
	struct vx6_node *node;
	uint64_t conn_id;
	struct vx6_tsession *session;  /* TCP session or QUIC connection */
	struct vx6_session_cbs cbs;
	struct vx6_addr remote;
	char remote_text[VX6_ADDR_STRLEN];
	bool outbound;
	bool connected;              /* the transport is up */
	bool established;            /* the handshake completed */
	bool over;                   /* the session ended (on_closed ran) */
	bool expected_key_set;       /* we dialed with a key to enforce */
	bool diagnose;               /* an XX re-dial to learn the key a peer really has */
	uint8_t expected_key[VX6_KEY_LEN];
	int close_err;
	char close_reason[400];
	uint64_t created_at;
	struct vx6_idmap pumps;      /* stream id -> struct pump * */
	/* Named mode: the peer's node id once known, RPCs queued until the
	 * session is up, and why this link exists. */
	bool peer_known;
	uint8_t peer_id[VX6_NODE_ID_LEN];
	struct vx6_chunkq rpcq;
	bool for_dht;                /* dialed to carry DHT RPCs */
	bool for_boot;               /* dialed to a bootstrap peer */
	uint64_t last_rpc;           /* ns */
	double rpc_tokens;           /* inbound RPC rate limit */
	uint64_t rpc_refilled;
	struct vx6_idmap hops;       /* stream id -> struct hop * (circuit hop streams) */
	struct vx6_idmap circs;      /* stream id -> struct circuit * (our circuits' first hop) */
	/* QUIC links: the UDP socket they use (NULL for TCP), and a link whose
	 * connection is over and flushed waits here to be freed. */
	struct udp_sock *udp;
	struct vx6_addr quic_local;  /* server links: the address the client wrote to */
	bool quic_done;
	/* Transport "auto": a QUIC dial that falls back to TCP at `fallback`
	 * when it gets no answer (link_fallback_tcp). */
	bool has_fallback, fallback_pending, fell_back;
	struct vx6_addr fallback;
	struct vx6_addr quic_addr;   /* after a fallback: the QUIC address to probe */
	uint64_t reprobe_at;         /* after a fallback: when to try QUIC again */
	bool is_probe;               /* a QUIC session that replaces fallen-back ones */
	bool retire;                 /* close once no stream uses it (streams moved on) */
	struct link *next;
};

/* A UDP socket and the QUIC endpoint on it (qlink.c). Listeners are bound
 * to quic:// listen addresses; a client socket is opened on demand when
 * the node dials QUIC without listening on that family. */
struct udp_sock {
	struct vx6_node *node;
	uint64_t id;                 /* conn id (CONN_UDP) */
	struct vx6_addr bound;
	bool listener;
	struct vx6_quic_ep *ep;
	struct udp_sock *next;
};

/* A stream inside a circuit (both ends keep one per circuit stream). */
struct cstream {
	uint16_t id;
	struct pump *pump;
	uint64_t send_credit;        /* bytes we may still send */
	uint64_t recv_window;        /* bytes the other end may still send */
	uint64_t recv_pending;       /* consumed, not yet returned with WINDOW */
	uint32_t window;             /* client: the receive window granted in all */
	bool connected, fin_sent, fin_recv;
};

/* One hop of a circuit at this node: a relay (cells go on to `next`) or the
 * exit, the owner (circuit streams end at its services). */
struct hop {
	struct vx6_node *node;
	struct link *prev;           /* towards the client */
	uint32_t prev_sid;
	struct link *next;           /* towards the owner (relays only) */
	uint32_t next_sid;
	bool created;                /* CREATE answered */
	bool extending;              /* waiting for the next hop's CREATED */
	bool waiting_link;           /* EXTEND received; the session to next is not up yet */
	bool holds_slot;             /* counted in n_relay_circuits until destroyed */
	bool tampered;               /* this node found a bad cell on it */
	bool truncated_sent;         /* TRUNCATED went back: the prev stream ends with FIN */
	uint8_t next_msg1[VX6_HOP_MSG_LEN];
	uint8_t next_key[VX6_KEY_LEN];
	bool dead;
	struct vx6_hop_crypto keys;
	uint8_t fwd_part[VX6_CELL_SIZE];    /* partial cell from prev */
	size_t fwd_len;
	uint8_t bwd_part[VX6_CELL_SIZE];    /* partial cell from next */
	size_t bwd_len;
	struct vx6_chunkq fwd_q;     /* cells for next, waiting for credit */
	size_t fwd_q_unconsumed;     /* prev-stream bytes not yet credited back */
	struct vx6_chunkq bwd_q;     /* cells for prev, waiting for credit */
	size_t bwd_q_unconsumed;
	struct vx6_idmap streams;    /* exit: circuit stream id -> struct cstream * */
	uint64_t bytes, created_at, extend_at;
	uint64_t misbehave_count;    /* test builds only */
	struct hop *next_hop;        /* the node's list */
};

/* A circuit stream's initial window, both ways (fixed by the protocol). */
#ifndef CIRC_STREAM_WINDOW
#define CIRC_STREAM_WINDOW (512 * 1024)
#endif
/* What the client grants the exit in all, with a WINDOW right after BEGIN:
 * downloads keep a 3-relay pipeline busy (+36 % over 512 KiB on loopback,
 * docs/BENCHMARKS.md). It bounds what the client buffers per stream for
 * its own application. The exit grants only CIRC_STREAM_WINDOW: that is
 * what any client can make an owner buffer per stream. */
#ifndef CIRC_CLIENT_WINDOW
#define CIRC_CLIENT_WINDOW (4 * 1024 * 1024)
#endif
_Static_assert(CIRC_CLIENT_WINDOW >= CIRC_STREAM_WINDOW, "the exit counts on the initial window");
/* The most a client grants beyond CIRC_STREAM_WINDOW over all its circuit
 * streams at once: 16 streams' worth (56 MiB). Later streams get the
 * initial window only, so what a node buffers for its applications stays
 * bounded. */
#define CIRC_CLIENT_EXTRA_BUDGET (16u * (CIRC_CLIENT_WINDOW - CIRC_STREAM_WINDOW))

/* What this node learned about a relay from the circuits it built through
 * it: path selection prefers relays that worked and skips, for a while,
 * one that just failed. */
struct relay_health {
	uint8_t node_id[VX6_NODE_ID_LEN];
	uint32_t ok, failed;             /* circuits built / failed because of it */
	uint32_t fails_in_row;
	uint64_t avoid_until;            /* ns; 0: not avoided */
};

/* A circuit this node built (client side). */
struct circuit {
	struct vx6_node *node;
	struct forward *fwd;
	struct link *first;          /* session to the first relay */
	uint32_t sid;                /* the hop stream on it */
	unsigned n;                  /* hops: relays then the owner */
	struct {
		uint8_t key[VX6_KEY_LEN];
		uint8_t node_id[VX6_NODE_ID_LEN];
		struct vx6_addr addr;
		char name[VX6_NAME_BUF];
	} path[VX6_CIRCUIT_MAX_HOPS];
	struct vx6_hop_crypto hops[VX6_CIRCUIT_MAX_HOPS];
	unsigned built;              /* hops with keys */
	struct vx6_noise_hs hs;      /* the handshake with hop `built` */
	bool started;                /* the hop stream to the first relay is open */
	bool ready, dead;
	bool tampered;               /* this node found a bad cell on it */
	bool out_of_memory;          /* a cell was lost: circ_timer closes it */
	int failed_hop;              /* path index a relay reported gone (TRUNCATED), or -1 */
	bool retired;                /* no new streams; closes when its last one ends */
	uint64_t deadline;           /* the build must finish by then */
	struct vx6_chunkq out_q;     /* cells waiting for hop-stream credit */
	char why[300];
	uint8_t part[VX6_CELL_SIZE];
	size_t part_len;
	struct vx6_idmap streams;    /* circuit stream id -> struct cstream * */
	uint16_t next_stream;
	uint64_t created_at, ready_at, bytes_up, bytes_down;
	struct circuit *next_circ;
};

/* Where a pump's stream lives: a session stream on a link, or a stream inside
 * a relay circuit. The carrier (ctx) is NULL once it is gone. Every call
 * tolerates a stream that no longer exists. */
struct endpoint_ops {
	bool (*live)(void *ctx, uint32_t sid);          /* the stream still exists */
	bool (*usable)(void *ctx);                      /* the carrier can still take credit back */
	size_t (*credit)(void *ctx, uint32_t sid);
	int (*send)(void *ctx, uint32_t sid, struct vx6_chunk *c);   /* takes c */
	int (*fin)(void *ctx, uint32_t sid);
	int (*reset)(void *ctx, uint32_t sid, uint16_t code, const char *reason);
	int (*consumed)(void *ctx, uint32_t sid, size_t n);
	int (*accept)(void *ctx, uint32_t sid);
	/* Forget the pump (it is being freed). */
	void (*detach)(void *ctx, uint32_t sid, struct pump *p);
};
extern const struct endpoint_ops link_endpoint;

/* A local application socket joined to a stream. */
struct pump {
	struct vx6_node *node;
	bool client;                 /* forward side (dialer) or service side (owner) */
	struct forward *fwd;         /* client side: our forward (NULL once it closed) */
	char service[VX6_NAME_BUF];  /* owner side */
	uint64_t app_id;
	bool app_connected;
	bool app_closing;
	const struct endpoint_ops *ep;   /* NULL while waiting for a stream */
	void *ep_ctx;                /* the link or circuit; NULL once it is gone */
	uint32_t sid;                /* 0 when there is no stream yet */
	bool accepted;
	bool app_eof;                /* the app finished sending */
	bool fin_sent;
	bool remote_fin;
	bool shut_sent;
	bool reading;
	struct vx6_chunkq to_app;    /* received before the app socket could take it */
	struct vx6_chunkq out_app;   /* received this event: written as one writev after it */
	bool dirty;                  /* on the node's list of pumps to flush */
	struct pump *next_dirty;
	size_t app_inflight;         /* written to the app, not yet confirmed */
	struct vx6_chunkq to_stream; /* read from the app, waiting for credit */
	uint64_t bytes_up, bytes_down;
	uint64_t created_at;
	struct pump *next_waiting;   /* in a forward's list of pumps waiting for a session */
};

enum key_source {
	KEY_NONE = 0,                /* trust on first use pending */
	KEY_EXPLICIT,                /* --peer-key */
	KEY_PINNED,                  /* from the pin file */
	KEY_TOFU,                    /* learned on first use in this forward */
	KEY_RECORD,                  /* from the owner's signed records (named mode) */
};

struct forward {
	struct vx6_node *node;
	uint64_t listener_id;
	struct vx6_addr listen;
	char listen_text[VX6_ADDR_STRLEN];
	struct vx6_addr peer;        /* the one address circuits end at */
	char peer_text[VX6_ADDR_STRLEN];
	struct vx6_addr peer_addrs[VX6_RECORD_MAX_ADDRS];   /* what sessions dial (policy) */
	size_t n_peer_addrs;
	char service[VX6_FRAME_MAX_SERVICE + 1];   /* what the OPEN frame names */
	unsigned relay_hops;         /* 0: a direct session; N: a circuit through N relays */
	struct circuit *circ;        /* relay mode: the circuit in use */
	bool named;                  /* resolved by name (node.service) */
	char name[2 * VX6_NAME_BUF]; /* node.service as the user wrote it */
	bool resolving;              /* a resolve is in progress */
	bool have_peer;              /* peer address known (direct, or resolved) */
	bool have_key;
	uint8_t key[VX6_KEY_LEN];
	enum key_source key_source;
	uint64_t ctl_id;             /* attached control client, 0 = detached */
	int64_t reply_id;            /* pending connect.open reply, -1 = none */
	uint64_t reply_ctl;          /* the control client that waits for it */
	struct link *link;           /* the session used for new connections */
	struct pump *waiting;        /* connections waiting for the session */
	bool closing;
	uint64_t conns_total, conns_active, refused, failed_sessions;
	uint64_t bytes_up, bytes_down;
	uint64_t created_at;
	char last_error[512];
	struct forward *next;
};

struct ctl_client {
	uint64_t conn_id;
	char *buf;
	size_t len, cap;
	bool closing;
};

/* A name resolution in progress (docs/PROTOCOL.md §12.4). */
struct resolve {
	uint64_t id;
	char node_name[VX6_NAME_BUF];
	char service[VX6_NAME_BUF];
	bool have_want_key;          /* the caller pinned the owner key explicitly */
	uint8_t want_key[VX6_KEY_LEN];
	bool fresh;                  /* skip registry hits for the node record */
	int stage;                   /* see named.c */
	uint64_t lookup_id;          /* DHT lookup in flight */
	uint64_t ctl_id;             /* who asked: a control client ... */
	int64_t reply_id;
	struct forward *fwd;         /* ... or a forward */
	bool from_registry;
	bool probe;                  /* only list the keys claiming node_name */
	unsigned holders;
	unsigned dht_hops;
	uint8_t owner_key[VX6_KEY_LEN];
	struct vx6_service_record svc;
	uint8_t svc_bytes[VX6_RECORD_MAX_LEN];
	size_t svc_len;
	struct vx6_node_record node;
	uint64_t started;
	struct resolve *next;
};

struct pin {
	char addr[VX6_ADDR_STRLEN];
	uint8_t key[VX6_KEY_LEN];
	struct pin *next;
};

struct vx6_node {
	struct vx6_identity id;
	struct vx6_node_config cfg;
	const struct vx6_node_host *host;
	const struct vx6_io_ops *io;
	void *io_ud;
	const struct vx6_env *env;
	const struct vx6_log *log;
	struct vx6_session_config scfg_in, scfg_out;   /* derived from cfg.limits */

	uint64_t next_id;
	struct vx6_idmap conns;          /* id -> struct conn * */
	struct link *links;
	struct forward *forwards;
	struct pin *pins;
	struct udp_sock *udp_socks;      /* QUIC (qlink.c) */
	struct vx6_idmap quic_links;     /* (uintptr_t)struct vx6_quic * -> struct link * */
	uint8_t *dgram_buf;              /* VX6_UDP_BATCH datagrams being sent */
	uint64_t quic_dropped_sends;     /* datagrams the socket buffer refused */
	/* Sockets we listen on: an AUTO listen address opens two (TCP, QUIC). */
	struct vx6_addr bound[2 * VX6_NODE_MAX_LISTEN];
	uint64_t listener_ids[2 * VX6_NODE_MAX_LISTEN];
	size_t n_bound;
	/* Transport policy "auto": hosts (address and port) where QUIC failed
	 * and TCP worked, so dials go straight to TCP until `until` (ns). */
	struct quic_failed {
		struct vx6_addr addr;
		uint64_t until;
	} quic_failed[32];
	uint64_t quic_fallbacks;         /* dials that fell back to TCP */

	uint32_t n_links, n_handshaking_in, n_ctl, n_forwards, n_app;
	uint64_t started_at;
	bool shutting_down;
	uint64_t timer_at;               /* what set_timer was last given */
	struct node_counters ctr;

	/* Named mode (named.c). */
	struct vx6_registry *reg;        /* borrowed from the host; may be NULL */
	struct vx6_dht *dht;
	struct vx6_dht_cbs dht_cbs;
	struct vx6_dhtval_cache dcache;
	struct vx6_node_record own;      /* our current signed node record */
	uint8_t own_rec[VX6_RECORD_MAX_LEN];
	size_t own_len;
	uint64_t republish_at;           /* ns */
	uint64_t addr_check_at;
	uint64_t boot_at;                /* next bootstrap attempt, VX6_TIME_NEVER when done */
	uint32_t boot_attempts;
	bool joined;                     /* some peer answered: the network is reachable */
	char boot_status[320];
	uint64_t sweep_at;
	struct pump *dirty_pumps;        /* pumps with data for their app (out_app) */
	struct hop *hops;                /* circuits through (or ending at) this node */
	struct circuit *circuits;        /* circuits this node built */
	uint32_t n_relay_circuits;       /* hops with a next hop (relaying) */
	uint64_t build_times[8];         /* recent circuit build times (adaptive timeout) */
	struct vx6_idmap relay_health;   /* node id prefix -> struct relay_health * (circ.c) */
	unsigned build_next;
	uint64_t relay_bytes, relay_refused;
	size_t circ_window_extra;        /* granted beyond CIRC_STREAM_WINDOW (circ.c) */
	uint64_t relay_tokens, relay_tokens_at;   /* transit bandwidth bucket (bytes, ns) */
	uint64_t relay_resume_at;        /* when cells held by the budget may move */
	uint64_t relay_sweep_at;         /* next check for half-built hops */
	uint64_t relay_rate_limited;     /* times the budget held cells back */
	struct resolve *resolves;
	uint64_t next_resolve_id;
	uint64_t named_ctr_rejected_records;
	uint64_t named_ctr_rpc_throttled;
	uint64_t named_ctr_conflicts;
};

/* node.c */
uint64_t node_now(struct vx6_node *n);
/* Transport policy "auto": how long a dial waits for QUIC before TCP, and
 * how long a host where QUIC failed is dialed over TCP directly. */
#define VX6_QUIC_FALLBACK_AFTER (1500ULL * 1000000ULL)
#define VX6_QUIC_RETRY_AFTER (600ULL * 1000000000ULL)
/* What an address means under the policy: AUTO gives TCP and QUIC (auto)
 * or the one transport; others are returned as they are. */
size_t node_concrete_addrs(const struct vx6_node *n, const struct vx6_addr *a, struct vx6_addr out[2]);
bool node_pick_dial(struct vx6_node *n, const struct vx6_addr *addrs, size_t count, struct vx6_addr *primary,
    struct vx6_addr *fallback, bool *has_fallback);
bool node_quic_failed(struct vx6_node *n, const struct vx6_addr *a);
/* The address a circuit extends to: QUIC unless transport = tcp (a hop
 * falls back to TCP on the same port, link_dial_hop), else TCP. */
bool node_circuit_addr(const struct vx6_node *n, const struct vx6_addr *addrs, size_t count, struct vx6_addr *out);
void node_note_quic_failed(struct vx6_node *n, const struct vx6_addr *a);
void node_note_quic_ok(struct vx6_node *n, const struct vx6_addr *a);
uint64_t node_new_id(struct vx6_node *n);
struct conn *node_conn_add(struct vx6_node *n, uint64_t id, enum conn_kind kind, void *ptr);
struct conn *node_conn_get(struct vx6_node *n, uint64_t id);
void node_conn_close(struct vx6_node *n, uint64_t id, bool reset);
void node_write(struct vx6_node *n, uint64_t id, struct vx6_chunk *c);
void node_after_event(struct vx6_node *n);
const struct pin *node_pin_find(struct vx6_node *n, const char *addr);
void node_pin_set(struct vx6_node *n, const char *addr, const uint8_t key[VX6_KEY_LEN]);
const struct vx6_service_def *node_service_find(struct vx6_node *n, const char *name);

/* link.c */
/* Dials the node at `to` (an AUTO address follows the transport policy).
 * NULL when no session can be started (limit, no usable address). */
struct link *link_dial(struct vx6_node *n, const struct vx6_addr *to, const uint8_t *expected_key,
    bool diagnose);
/* The same, choosing among a record's addresses (node_pick_dial). */
struct link *link_dial_addrs(struct vx6_node *n, const struct vx6_addr *addrs, size_t count,
    const uint8_t *expected_key, bool diagnose);
void link_fallback_tcp(struct link *l);
/* A circuit hop's address (a record's QUIC or TCP one): dialed under this
 * node's policy, a QUIC one with TCP on the same port as the fallback. */
struct link *link_dial_hop(struct vx6_node *n, const struct vx6_addr *to, const uint8_t *key);
/* A QUIC session to `to` without fallback (a re-probe after a fallback). */
struct link *link_probe_quic(struct vx6_node *n, const struct vx6_addr *to, const uint8_t *expected_key);
/* Closes retired links nothing uses any more. */
void link_retire_idle(struct vx6_node *n);
/* Links that fell back to TCP try QUIC again every quic_reprobe_s; a QUIC
 * session that comes up retires them (closed once idle), and forwards that
 * used them move their new streams to it. */
uint64_t link_reprobe_expiry(struct vx6_node *n);
void link_reprobe_timer(struct vx6_node *n, uint64_t now);
struct link *link_accept(struct vx6_node *n, uint64_t conn_id, const struct vx6_addr *remote);
void link_flush(struct link *l);
void link_on_read(struct link *l, struct vx6_chunk *c, int status, const char *detail);
void link_on_connected(struct link *l, int status, const char *detail);
void link_on_closed(struct link *l);
void link_close(struct link *l, const char *reason);
/* Frees the link and its session (no callbacks); the caller unlinks it. */
void link_free(struct link *l);
struct link *link_new(struct vx6_node *n, uint64_t conn_id, const struct vx6_addr *remote, bool outbound);
/* Puts a new link on the node's list (and counts it). */
void link_attach(struct link *l);
/* Removes a link from the node's list and frees it. */
void link_detach_free(struct link *l);

/* qlink.c: QUIC links over UDP sockets. */
int qlink_listen(struct vx6_node *n, const struct vx6_addr *a, struct vx6_addr *bound);
/* hs_timeout: ns for the handshake, 0 = the configured one. */
struct link *qlink_dial(struct vx6_node *n, const struct vx6_addr *to, const uint8_t *expected_key,
    uint64_t hs_timeout);
void qlink_flush(struct link *l);
void qlink_gc(struct vx6_node *n);
void qlink_udp_closed(struct udp_sock *u);
/* This node's address changed: client QUIC links move to a current one. */
void qlink_migrate(struct link *l, const struct vx6_addr *local);
void qlink_free_all(struct vx6_node *n);
uint64_t link_expiry(const struct link *l);
void link_timer(struct link *l, uint64_t now);
void link_count_failure(struct vx6_node *n, const struct link *l, int err);

/* pump.c */
struct pump *pump_new(struct vx6_node *n, bool client);
/* Joins p to stream sid of a carrier; the carrier has registered p so it can
 * deliver stream events and detach it. */
void pump_attach(struct pump *p, const struct endpoint_ops *ep, void *ctx, uint32_t sid);
void pump_attach_stream(struct pump *p, struct link *l, uint32_t sid);
/* The carrier is gone (session or circuit ended and is being freed). */
void pump_carrier_gone(struct pump *p);
void pump_on_app_read(struct pump *p, struct vx6_chunk *c, int status, const char *detail);
void pump_on_app_wrote(struct pump *p, size_t bytes, int status);
void pump_on_app_connected(struct pump *p, int status, const char *detail);
void pump_on_app_closed(struct pump *p);
void pump_stream_data(struct pump *p, struct vx6_chunk *c);
void pump_stream_fin(struct pump *p);
void pump_stream_reset(struct pump *p, uint16_t code, const char *reason, bool remote);
void pump_stream_writable(struct pump *p);
void pump_stream_accepted(struct pump *p);
void pump_abort(struct pump *p, uint16_t code, const char *reason);
struct vx6_chunk *pump_read_buffer(struct pump *p);
/* Writes every dirty pump's out_app queue (one writev each). */
void pump_flush_dirty(struct vx6_node *n);

/* forward.c */
/* peer NULL: named mode, service is "node.service". */
int forward_open(struct vx6_node *n, uint64_t ctl_id, int64_t reply_id, uint64_t reply_ctl,
    unsigned relay_hops, const char *service,
    const struct vx6_addr *peer, const struct vx6_addr *listen, const uint8_t *key, char *err,
    size_t errlen);
void forward_on_accept(struct forward *f, uint64_t app_id);
void forward_link_established(struct forward *f, struct link *l);
void forward_link_over(struct forward *f, struct link *l);
void forward_move_to(struct forward *f, struct link *l);
void forward_close(struct forward *f, const char *why);
void forward_on_listener_closed(struct forward *f);
void forward_pump_gone(struct forward *f, struct pump *p);
void forward_ctl_gone(struct vx6_node *n, uint64_t ctl_id);
/* Relay mode: the forward's circuit is ready / ended (failed_hop: the path
 * index being added when a build failed, else -1). */
void forward_circuit_ready(struct forward *f, struct circuit *c);
void forward_circuit_over(struct forward *f, struct circuit *c, const char *why, int failed_hop);
/* A named forward's resolution finished (rc 0: peer/key set from res). */
void forward_resolved(struct forward *f, int rc, const char *why, const struct resolve *res);
void forward_event(struct forward *f, const char *event, json_t *fields);
json_t *forward_json(const struct forward *f);

/* named.c */
int named_start(struct vx6_node *n);
void named_free(struct vx6_node *n);
uint64_t named_expiry(struct vx6_node *n);
void named_timer(struct vx6_node *n, uint64_t now);
void named_link_established(struct link *l);
void named_link_over(struct link *l);
void named_on_rpc(struct link *l, const uint8_t *msg, size_t len);
void named_services_changed(struct vx6_node *n);
/* Starts resolving node.service for a control client or a forward. */
uint64_t named_resolve(struct vx6_node *n, const char *node_name, const char *service,
    const uint8_t *want_key, bool fresh, uint64_t ctl_id, int64_t reply_id, struct forward *fwd);
void named_forward_gone(struct vx6_node *n, struct forward *f);
json_t *named_status_json(struct vx6_node *n);
json_t *named_list_json(struct vx6_node *n);
/* Whether this node's DHT store holds values for node.service (or, with an
 * empty service, for the node name): for tests and diagnosis. */
json_t *named_holds_json(struct vx6_node *n, const char *node_name, const char *service);
/* Asks the network which keys claim node_name (a name-clash probe); the
 * reply goes to ctl_id. Returns 0 when named mode does not run. */
uint64_t named_probe(struct vx6_node *n, const char *node_name, uint64_t ctl_id, int64_t reply_id);
struct link *named_link_to(struct vx6_node *n, const uint8_t id[VX6_NODE_ID_LEN]);
uint64_t node_wall(struct vx6_node *n);

/* relay.c: hop side of circuits (relay and exit) */
/* cellq.c: cells queued for a hop stream. */
#define CELLQ_CELLS_PER_CHUNK (VX6_FRAME_MAX_DATA / VX6_CELL_SIZE)   /* 31 */
/* Appends one cell (copied) to the last chunk of q, or to a new one. */
int cellq_push(struct vx6_chunkq *q, const uint8_t cell[VX6_CELL_SIZE]);
/* Bytes of q's head chunk that `credit` lets go now: whole cells only. */
size_t cellq_sendable(const struct vx6_chunkq *q, size_t credit);
/* Takes the first len bytes (whole cells, at most the head chunk) off q;
 * the caller owns the result. NULL when out of memory. */
struct vx6_chunk *cellq_take(struct vx6_chunkq *q, size_t len);

void relay_on_open(struct link *l, uint32_t sid);
void relay_stream_data(struct hop *h, struct link *l, uint32_t sid, struct vx6_chunk *c);
void relay_stream_reset(struct hop *h, struct link *l, uint32_t sid, const char *reason, bool remote);
void relay_stream_writable(struct hop *h, struct link *l, uint32_t sid);
void relay_link_established(struct link *l);
void relay_link_over(struct link *l);
json_t *relay_status_json(struct vx6_node *n);
void relay_gc(struct vx6_node *n);
uint64_t relay_expiry(const struct vx6_node *n);
/* circ.c: a relay failed (avoided for a while) / worked. */
void circ_relay_failed(struct vx6_node *n, const uint8_t node_id[VX6_NODE_ID_LEN]);
bool circ_relay_avoided(struct vx6_node *n, const uint8_t node_id[VX6_NODE_ID_LEN]);
json_t *circ_avoided_json(struct vx6_node *n);
void circ_health_free(struct vx6_node *n);
void relay_timer(struct vx6_node *n, uint64_t now);

/* circ.c: client side of circuits */
int circ_build(struct forward *f, const uint8_t owner_key[VX6_KEY_LEN], const struct vx6_addr *owner_addr,
    char *why, size_t whylen);
void circ_link_established(struct link *l);
void circ_stream_data(struct circuit *c, struct vx6_chunk *chunk);
void circ_stream_reset(struct circuit *c, const char *reason, bool remote);
void circ_stream_writable(struct circuit *c);
void circ_link_over(struct link *l);
void circ_open_stream(struct circuit *c, struct pump *p);
void circ_close(struct circuit *c, const char *why);
json_t *circ_status_json(struct vx6_node *n);
uint64_t circ_expiry(struct vx6_node *n);
void circ_timer(struct vx6_node *n, uint64_t now);
void circ_gc(struct vx6_node *n);
/* circuit stream endpoints (relay.c) */
extern const struct endpoint_ops circ_client_endpoint;
extern const struct endpoint_ops circ_exit_endpoint;

/* expose.c */
void expose_on_open(struct link *l, uint32_t sid, const char *service);

/* node_ctl.c */
void ctl_on_read(struct vx6_node *n, struct ctl_client *c, struct vx6_chunk *chunk);
void ctl_send(struct vx6_node *n, uint64_t ctl_id, char *line);   /* takes line */
json_t *node_status_json(struct vx6_node *n);

#define NLOG_ERROR(n, ...) vx6_log_error((n)->log, "node", __VA_ARGS__)
#define NLOG_WARN(n, ...) vx6_log_warn((n)->log, "node", __VA_ARGS__)
#define NLOG_INFO(n, ...) vx6_log_info((n)->log, "node", __VA_ARGS__)
#define NLOG_DEBUG(n, ...) vx6_log_debug((n)->log, "node", __VA_ARGS__)

#endif
