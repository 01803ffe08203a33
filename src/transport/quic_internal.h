/*
 * quic_internal — what the quic*.c files share (not part of the transport's
 * interface; only src/transport/quic*.c and the QUIC unit test include it).
 *
 * quic.c      connections: ngtcp2 callbacks, streams, control stream, RPC,
 *             datagrams, the write loop, timers, close.
 * quic_ep.c   the endpoint: connection-ID map, classify (version
 *             negotiation, Retry, stateless reset), handshake limits.
 * quic_tls.c  GnuTLS: the certificate made from the node identity, session
 *             setup (TLS 1.3, ALPN, mutual auth), peer-certificate checks.
 *
 * Wire format: docs/protocol-quic-draft.md.
 */
#ifndef VX6_TRANSPORT_QUIC_INTERNAL_H
#define VX6_TRANSPORT_QUIC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <sodium.h>

#include "transport/quic.h"

/* --- Named limits (docs/protocol-quic-draft.md §Limits) ------------------ */

#define QUIC_CIDLEN 16                 /* every connection ID we issue */
#define QUIC_TOKENLEN NGTCP2_STATELESS_RESET_TOKENLEN
#define QUIC_MIN_INITIAL 1200          /* smallest datagram carrying a client Initial */
#define QUIC_MIN_SHORT_FOR_RESET 41    /* smaller short-header packets get no reset */
#define QUIC_RESET_LEN 40              /* a stateless reset we send is at most this */
#define QUIC_RESET_BURST 32            /* stateless resets / version negotiations ... */
#define QUIC_RESET_PER_SEC 32          /* ... per second, per endpoint */
#define QUIC_CTRL_WINDOW (256u * 1024) /* the peer's control stream flow window */
#define QUIC_CTRL_MAX_QUEUED (4u << 20) /* control bytes queued before RPCs are refused */
#define QUIC_SEND_BUFFER_MAX (32u << 20) /* stream bytes held (unsent + unacked) per connection */
#define QUIC_DGRAM_MAX 1150            /* largest DATAGRAM payload we send */
#define QUIC_DGRAM_QUEUE 64            /* datagrams queued before new ones are dropped */
#define QUIC_MAX_DGRAM_FRAME 65535     /* max_datagram_frame_size we advertise */
#define QUIC_EARLY_RESETS 64           /* peer resets remembered for streams not yet seen */
/* ns: poll period while ngtcp2's expiry is stale (an ACK read from the
 * socket usually comes first). 2 ms: the uv adapter rounds down to whole
 * milliseconds, and under 1 ms it polls every loop turn (a spin). */
#define QUIC_STALE_POLL (2000000ULL)
/* Unanswered probe timeouts in a row after which the peer is taken for
 * gone: with PTO doubling that is ~15 PTOs of silence (under 1 s on a LAN,
 * ~4 s at 100 ms RTT), long before the idle timeout. It was 6 (~63 PTOs):
 * under a bulk load the measured RTT grows and relay failover over QUIC
 * then took up to 5.2 s; with 4 it takes 1.8-3.1 s (t_relay_failover). */
#define QUIC_MAX_PTO 4
/* ...and only when nothing at all came from the peer for this long: a busy
 * peer whose acknowledgements are late is slow, not gone. */
#define QUIC_DEAD_SILENCE (2ULL * 1000000000ULL)
/* The same verdict when only keep-alive PINGs are unanswered: ngtcp2 does
 * not count a PING toward probe timeouts, so a connection with nothing
 * else to send (idle, or blocked on the peer's flow control) never reaches
 * QUIC_MAX_PTO and lived on to the idle timeout (60 s) after its peer
 * vanished. A live peer acknowledges a PING within an RTT plus its ACK
 * delay: this many keep-alive intervals of silence with packets in flight
 * mean it is gone. */
#define QUIC_DEAD_KEEPALIVES 3
/* ns after a path change (migration, NAT rebinding) during which that rule
 * is off: validating the new path and re-probing it takes more PTOs; the
 * idle timeout still applies. */
#define QUIC_PATH_GRACE (10ULL * 1000000000ULL)
/* Congestion control (a build may override it with -DQUIC_CC_ALGO=...).
 * BBR v2: on clean loopback it holds 460-690 MiB/s where ngtcp2's BBR v1
 * swung between 230 and 650 from one download to the next; under random
 * loss both carry ~1.3x TCP (docs/BENCHMARKS.md "QUIC"). */
#ifndef QUIC_CC_ALGO
#define QUIC_CC_ALGO NGTCP2_CC_ALGO_BBR2
#endif
#define QUIC_OLD_PATHS 4               /* server: previous client paths remembered */
#define QUIC_OLD_PATH_WINDOW (6ULL * 1000000000ULL)   /* ns: at least this long (see quic.c) */

/* Stream header and control stream (docs/protocol-quic-draft.md §4-§5). */
#define QUIC_OPEN_SERVICE 0x01         /* opener's first byte: open by service name */
#define QUIC_ACCEPT_MARK 0x02          /* acceptor's first byte: stream accepted */
#define QUIC_CTRL_PREAMBLE 0x01        /* first byte of a control stream */
#define QUIC_MSG_RPC 0x01
#define QUIC_MSG_RESET 0x02
#define QUIC_MSG_HDR 3                 /* type u8, length u16 */
#define QUIC_MSG_MAX_PAYLOAD 32768     /* == VX6_FRAME_MAX_RPC */

/* --- The endpoint's connection-ID / reset-token map ---------------------- */

enum qkey_kind {
	QKEY_CID = 1,      /* a connection ID we issued (or an Initial DCID alias) */
	QKEY_TOKEN = 2,    /* a stateless reset token the peer issued for a DCID we use */
};

struct qkey {
	uint8_t kind;
	uint8_t len;
	uint8_t b[NGTCP2_MAX_CIDLEN];
};

struct qslot {
	struct vx6_quic *q;      /* NULL: empty */
	struct qkey k;
};

struct qmap {
	struct qslot *slots;
	size_t cap;              /* power of two or 0 */
	size_t count;
};

struct vx6_quic_ep {
	struct vx6_quic_ep_config cfg;
	const struct vx6_env *env;
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	uint8_t reset_key[32];   /* derived from the identity: stateless reset tokens */
	uint8_t token_key[32];   /* random per ep: Retry tokens */
	struct qmap map;
	struct vx6_quic_stats st;
	uint64_t bucket_at;      /* token bucket for stateless resets / VN */
	uint32_t bucket;
	gnutls_certificate_credentials_t cred;   /* for cfg.local */
};

/* quic_ep.c */
int vx6_quic_ep_register(struct vx6_quic_ep *ep, struct vx6_quic *q, const struct qkey *k);
void vx6_quic_ep_unregister(struct vx6_quic_ep *ep, struct vx6_quic *q, const struct qkey *k);
bool vx6_quic_ep_has(const struct vx6_quic_ep *ep, const struct qkey *k);
void vx6_quic_ep_reset_token(const struct vx6_quic_ep *ep, const uint8_t *cid, size_t cidlen,
    uint8_t token[QUIC_TOKENLEN]);
/* Checks an Initial's Retry token; fills odcid. 0 or a vx6_err. */
int vx6_quic_ep_check_token(struct vx6_quic_ep *ep, const struct vx6_addr *remote,
    const ngtcp2_pkt_hd *hd, uint64_t now, ngtcp2_cid *odcid);
void vx6_quic_key_cid(struct qkey *k, const uint8_t *b, size_t len);
void vx6_quic_key_token(struct qkey *k, const uint8_t token[QUIC_TOKENLEN]);

/* Addresses: vx6_addr <-> sockaddr. Returns the sockaddr length (0 when the
 * family is unknown). */
size_t vx6_quic_sockaddr(const struct vx6_addr *a, ngtcp2_sockaddr_union *out);
void vx6_quic_from_sockaddr(struct vx6_addr *a, const ngtcp2_sockaddr *sa);

/* quic_tls.c */
/* A fresh credentials object holding the self-signed certificate made from
 * id. 0 or VX6_ERR_CRYPTO / VX6_ERR_NOMEM; caller frees with
 * gnutls_certificate_free_credentials(). */
int vx6_quic_tls_cred(const struct vx6_identity *id, gnutls_certificate_credentials_t *out);
/* The DER certificate made from id (for tests). Caller gnutls_free()s
 * out->data. */
int vx6_quic_tls_cert_der(const struct vx6_identity *id, gnutls_datum_t *out);
/* Checks one peer certificate (DER): a self-signed X.509 certificate with an
 * Ed25519 key whose signature verifies under that key. Fills pk. Returns 0,
 * VX6_ERR_MALFORMED (not such a certificate) or VX6_ERR_BAD_SIGNATURE; why
 * gets a short explanation. */
int vx6_quic_tls_check_cert(const uint8_t *der, size_t len, uint8_t pk[VX6_KEY_LEN], char *why,
    size_t whylen);
/* Creates the TLS session for q (client or server) with cred, ALPN, the
 * priority string and the verify hook. 0 or VX6_ERR_CRYPTO / NOMEM. */
int vx6_quic_tls_session(struct vx6_quic *q, bool server, gnutls_certificate_credentials_t cred,
    ngtcp2_crypto_conn_ref *ref, gnutls_session_t *out);
/* Called by the verify hook (quic.c): the peer certificate passed or failed
 * the checks. Returns 0 to continue the handshake, -1 to abort it. */
int vx6_quic_peer_verified(struct vx6_quic *q, int rc, const uint8_t pk[VX6_KEY_LEN],
    const char *why);
/* The ALPN the session negotiated is "vx6/1". */
bool vx6_quic_tls_alpn_ok(gnutls_session_t s);

/* For tests and fuzzing only (the node never calls it): queues raw bytes
 * on our control stream (sid VX6_QUIC_TEST_CONTROL), on a new
 * bidirectional stream with no OPEN header (VX6_QUIC_TEST_NEW; its sid in
 * *opened), or on stream sid ignoring credit and ACCEPT, optionally with
 * FIN, so the peer's parsers can be fed anything inside real packets.
 * Returns 0 or VX6_ERR_CLOSED / STATE / LIMIT / NOMEM. */
#define VX6_QUIC_TEST_CONTROL UINT32_MAX
#define VX6_QUIC_TEST_NEW (UINT32_MAX - 1)
int vx6_quic_test_send_raw(struct vx6_quic *q, uint32_t sid, const uint8_t *data, size_t len, bool fin,
    uint32_t *opened);


#endif
