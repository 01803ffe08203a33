/*
 * quic_ep — the endpoint of one UDP socket (see quic.h): routes datagrams to
 * connections by connection ID, answers what needs no connection (version
 * negotiation, Retry, stateless reset), bounds half-open handshakes, and
 * drops everything else without allocating.
 *
 * The map holds two kinds of keys: connection IDs we issued (plus the
 * client-chosen Initial DCID and the Retry SCID of server connections still
 * in their handshake), and the stateless reset tokens peers issued for the
 * DCIDs our connections use (a stateless reset carries no CID we know, only
 * the token in its last 16 bytes). Open addressing with linear probing and
 * backward-shift deletion, keyed SipHash (crypto_shorthash) so a peer cannot
 * choose colliding CIDs.
 */
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "lib/err.h"
#include "transport/quic_internal.h"

/* Domain strings (docs/protocol-quic-draft.md §8). */
#define RESET_KEY_DOMAIN "vx6/quic/stateless-reset-key/v1"

/* --- Addresses ----------------------------------------------------------- */

size_t
vx6_quic_sockaddr(const struct vx6_addr *a, ngtcp2_sockaddr_union *out)
{
	memset(out, 0, sizeof(*out));
	if (a->family == 4) {
		out->in.sin_family = AF_INET;
		out->in.sin_port = htons(a->port);
		memcpy(&out->in.sin_addr, a->ip, 4);
		return sizeof(out->in);
	}
	if (a->family == 6) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons(a->port);
		memcpy(&out->in6.sin6_addr, a->ip, 16);
		return sizeof(out->in6);
	}
	return 0;
}

void
vx6_quic_from_sockaddr(struct vx6_addr *a, const ngtcp2_sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	a->transport = VX6_TRANSPORT_QUIC;
	if (sa->sa_family == AF_INET) {
		const ngtcp2_sockaddr_in *in = (const ngtcp2_sockaddr_in *)(const void *)sa;
		a->family = 4;
		a->port = ntohs(in->sin_port);
		memcpy(a->ip, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const ngtcp2_sockaddr_in6 *in6 = (const ngtcp2_sockaddr_in6 *)(const void *)sa;
		a->family = 6;
		a->port = ntohs(in6->sin6_port);
		memcpy(a->ip, &in6->sin6_addr, 16);
	}
}

/* --- The map --------------------------------------------------------------- */

void
vx6_quic_key_cid(struct qkey *k, const uint8_t *b, size_t len)
{
	memset(k, 0, sizeof(*k));
	k->kind = QKEY_CID;
	k->len = (uint8_t)len;
	memcpy(k->b, b, len);
}

void
vx6_quic_key_token(struct qkey *k, const uint8_t token[QUIC_TOKENLEN])
{
	memset(k, 0, sizeof(*k));
	k->kind = QKEY_TOKEN;
	k->len = QUIC_TOKENLEN;
	memcpy(k->b, token, QUIC_TOKENLEN);
}

static size_t
key_hash(const struct vx6_quic_ep *ep, const struct qkey *k)
{
	uint8_t in[2 + NGTCP2_MAX_CIDLEN], h[crypto_shorthash_BYTES];
	uint64_t v;

	in[0] = k->kind;
	in[1] = k->len;
	memcpy(in + 2, k->b, k->len);
	crypto_shorthash(h, in, 2u + k->len, ep->hash_key);
	memcpy(&v, h, sizeof(v));
	return (size_t)v;
}

static bool
key_eq(const struct qkey *a, const struct qkey *b)
{
	return a->kind == b->kind && a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

static struct qslot *
map_find(const struct vx6_quic_ep *ep, const struct qkey *k)
{
	size_t mask, i;

	if (ep->map.cap == 0)
		return NULL;
	mask = ep->map.cap - 1;
	for (i = key_hash(ep, k) & mask;; i = (i + 1) & mask) {
		struct qslot *s = &ep->map.slots[i];
		if (s->q == NULL)
			return NULL;
		if (key_eq(&s->k, k))
			return s;
	}
}

static int
map_grow(struct vx6_quic_ep *ep)
{
	size_t ncap = ep->map.cap ? ep->map.cap * 2 : 64, mask = ncap - 1;
	struct qslot *ns = calloc(ncap, sizeof(*ns)), *old = ep->map.slots;

	if (ns == NULL)
		return VX6_ERR_NOMEM;
	for (size_t j = 0; j < ep->map.cap; j++) {
		size_t i;
		if (old[j].q == NULL)
			continue;
		for (i = key_hash(ep, &old[j].k) & mask; ns[i].q != NULL; i = (i + 1) & mask)
			;
		ns[i] = old[j];
	}
	free(old);
	ep->map.slots = ns;
	ep->map.cap = ncap;
	return 0;
}

int
vx6_quic_ep_register(struct vx6_quic_ep *ep, struct vx6_quic *q, const struct qkey *k)
{
	struct qslot *s = map_find(ep, k);
	size_t mask, i;
	int rc;

	if (s != NULL)
		return s->q == q ? 0 : VX6_ERR_EXISTS;
	if ((ep->map.count + 1) * 2 > ep->map.cap && (rc = map_grow(ep)) != 0)
		return rc;
	mask = ep->map.cap - 1;
	for (i = key_hash(ep, k) & mask; ep->map.slots[i].q != NULL; i = (i + 1) & mask)
		;
	ep->map.slots[i].q = q;
	ep->map.slots[i].k = *k;
	ep->map.count++;
	return 0;
}

void
vx6_quic_ep_unregister(struct vx6_quic_ep *ep, struct vx6_quic *q, const struct qkey *k)
{
	struct qslot *s = map_find(ep, k);
	size_t mask = ep->map.cap - 1, i, j;

	if (s == NULL || s->q != q)
		return;
	i = (size_t)(s - ep->map.slots);
	ep->map.slots[i].q = NULL;
	ep->map.count--;
	/* Backward shift: move later entries of the run into the hole when
	 * their home slot does not lie cyclically in (i, j]. */
	for (j = (i + 1) & mask; ep->map.slots[j].q != NULL; j = (j + 1) & mask) {
		size_t h = key_hash(ep, &ep->map.slots[j].k) & mask;
		bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
		if (stays)
			continue;
		ep->map.slots[i] = ep->map.slots[j];
		ep->map.slots[j].q = NULL;
		i = j;
	}
}

bool
vx6_quic_ep_has(const struct vx6_quic_ep *ep, const struct qkey *k)
{
	return map_find(ep, k) != NULL;
}

/* --- Keys and tokens ------------------------------------------------------- */

void
vx6_quic_ep_reset_token(const struct vx6_quic_ep *ep, const uint8_t *cid, size_t cidlen,
    uint8_t token[QUIC_TOKENLEN])
{
	crypto_generichash(token, QUIC_TOKENLEN, cid, cidlen, ep->reset_key, sizeof(ep->reset_key));
}

void
vx6_quic_ep_config_defaults(struct vx6_quic_ep_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_handshakes = 64;
	cfg->retry_above = 16;
	cfg->token_lifetime = 10 * VX6_NS_PER_SEC;
}

struct vx6_quic_ep *
vx6_quic_ep_new(const struct vx6_quic_ep_config *cfg, const struct vx6_env *env)
{
	static const char domain[] = RESET_KEY_DOMAIN;
	struct vx6_quic_ep *ep;

	if (cfg == NULL || env == NULL || cfg->local == NULL || cfg->max_handshakes == 0 ||
	    cfg->token_lifetime == 0)
		return NULL;
	if (sodium_init() < 0)
		return NULL;
	ep = calloc(1, sizeof(*ep));
	if (ep == NULL)
		return NULL;
	ep->cfg = *cfg;
	ep->env = env;
	vx6_env_random(env, ep->hash_key, sizeof(ep->hash_key));
	vx6_env_random(env, ep->token_key, sizeof(ep->token_key));
	/* reset_key = BLAKE2b-256(key = identity seed, "vx6/quic/stateless-reset-key/v1") */
	crypto_generichash(ep->reset_key, sizeof(ep->reset_key), (const uint8_t *)domain,
	    sizeof(domain) - 1, cfg->local->sk, VX6_SEED_LEN);
	ep->bucket = QUIC_RESET_BURST;
	if (vx6_quic_tls_cred(cfg->local, &ep->cred) != 0) {
		sodium_memzero(ep, sizeof(*ep));
		free(ep);
		return NULL;
	}
	return ep;
}

void
vx6_quic_ep_free(struct vx6_quic_ep *ep)
{
	if (ep == NULL)
		return;
	free(ep->map.slots);
	if (ep->cred)
		gnutls_certificate_free_credentials(ep->cred);
	sodium_memzero(ep, sizeof(*ep));
	free(ep);
}

void
vx6_quic_ep_stats(const struct vx6_quic_ep *ep, struct vx6_quic_stats *st)
{
	*st = ep->st;
}

/* --- Classify -------------------------------------------------------------- */

static enum vx6_quic_rx
drop(struct vx6_quic_ep *ep)
{
	ep->st.dropped++;
	return VX6_QUIC_RX_DROP;
}

/* Token bucket shared by stateless resets and version negotiation. */
static bool
bucket_take(struct vx6_quic_ep *ep, uint64_t now)
{
	if (now > ep->bucket_at) {
		uint64_t add = (now - ep->bucket_at) / (VX6_NS_PER_SEC / QUIC_RESET_PER_SEC);
		if (add > 0) {
			ep->bucket = (uint32_t)(ep->bucket + add > QUIC_RESET_BURST ? QUIC_RESET_BURST
										     : ep->bucket + add);
			ep->bucket_at = now;
		}
	}
	if (ep->bucket == 0)
		return false;
	ep->bucket--;
	return true;
}

int
vx6_quic_ep_check_token(struct vx6_quic_ep *ep, const struct vx6_addr *remote,
    const ngtcp2_pkt_hd *hd, uint64_t now, ngtcp2_cid *odcid)
{
	ngtcp2_sockaddr_union sa;
	size_t salen = vx6_quic_sockaddr(remote, &sa);

	if (salen == 0 || hd->token.len == 0 || hd->token.base[0] != NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY)
		return VX6_ERR_NOT_FOUND;
	if (ngtcp2_crypto_verify_retry_token(odcid, hd->token.base, hd->token.len, ep->token_key,
		sizeof(ep->token_key), hd->version, &sa.sa, (ngtcp2_socklen)salen, &hd->dcid,
		ep->cfg.token_lifetime, now) != 0)
		return VX6_ERR_CRYPTO;
	return 0;
}

/* A Retry for this Initial: a fresh SCID, a token binding the client
 * address, the original DCID and the time. */
static enum vx6_quic_rx
send_retry(struct vx6_quic_ep *ep, const struct vx6_addr *remote, const ngtcp2_pkt_hd *hd,
    uint64_t now, uint8_t *reply, size_t *reply_len)
{
	uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
	ngtcp2_sockaddr_union sa;
	size_t salen = vx6_quic_sockaddr(remote, &sa);
	ngtcp2_cid scid;
	ngtcp2_ssize tl, n;

	if (salen == 0)
		return drop(ep);
	scid.datalen = QUIC_CIDLEN;
	vx6_env_random(ep->env, scid.data, QUIC_CIDLEN);
	tl = ngtcp2_crypto_generate_retry_token(token, ep->token_key, sizeof(ep->token_key), hd->version,
	    &sa.sa, (ngtcp2_socklen)salen, &scid, &hd->dcid, now);
	if (tl < 0)
		return drop(ep);
	n = ngtcp2_crypto_write_retry(reply, VX6_QUIC_MAX_DGRAM, hd->version, &hd->scid, &scid, &hd->dcid,
	    token, (size_t)tl);
	if (n <= 0)
		return drop(ep);
	*reply_len = (size_t)n;
	ep->st.retries_sent++;
	return VX6_QUIC_RX_REPLY;
}

static enum vx6_quic_rx
initial(struct vx6_quic_ep *ep, const struct vx6_addr *remote, const uint8_t *data, size_t len,
    uint64_t now, uint8_t *reply, size_t *reply_len)
{
	ngtcp2_pkt_hd hd;
	ngtcp2_cid odcid;
	int rc;

	if (len < QUIC_MIN_INITIAL)
		return drop(ep);   /* RFC 9000 §14.1: too small to start a connection */
	if (ngtcp2_accept(&hd, data, len) != 0 || hd.type != NGTCP2_PKT_INITIAL ||
	    hd.version != NGTCP2_PROTO_VER_V1)
		return drop(ep);
	if (ep->st.handshakes >= ep->cfg.max_handshakes)
		return drop(ep);
	rc = vx6_quic_ep_check_token(ep, remote, &hd, now, &odcid);
	if (rc == VX6_ERR_CRYPTO) {
		/* A Retry token we did not issue, expired or for another
		 * address: tell the client at once (RFC 9000 §8.1.3). */
		ngtcp2_ssize n = ngtcp2_crypto_write_connection_close(reply, VX6_QUIC_MAX_DGRAM, hd.version,
		    &hd.scid, &hd.dcid, NGTCP2_INVALID_TOKEN, NULL, 0);
		if (n <= 0)
			return drop(ep);
		*reply_len = (size_t)n;
		return VX6_QUIC_RX_REPLY;
	}
	if (rc != 0 && ep->st.handshakes >= ep->cfg.retry_above)
		return send_retry(ep, remote, &hd, now, reply, reply_len);
	return VX6_QUIC_RX_NEW;
}

static enum vx6_quic_rx
version_negotiation(struct vx6_quic_ep *ep, const ngtcp2_version_cid *vc, size_t len, uint64_t now,
    uint8_t *reply, size_t *reply_len)
{
	static const uint32_t versions[] = { NGTCP2_PROTO_VER_V1 };
	uint8_t r;
	ngtcp2_ssize n;

	/* Only to a datagram that could start a connection (no amplification),
	 * and never to a version negotiation packet. */
	if (len < QUIC_MIN_INITIAL || vc->version == 0 || !bucket_take(ep, now))
		return drop(ep);
	vx6_env_random(ep->env, &r, 1);
	n = ngtcp2_pkt_write_version_negotiation(reply, VX6_QUIC_MAX_DGRAM, r, vc->scid, vc->scidlen,
	    vc->dcid, vc->dcidlen, versions, 1);
	if (n <= 0)
		return drop(ep);
	*reply_len = (size_t)n;
	ep->st.version_negotiations++;
	return VX6_QUIC_RX_REPLY;
}

static enum vx6_quic_rx
stateless_reset(struct vx6_quic_ep *ep, const uint8_t *data, size_t len, uint64_t now,
    uint8_t *reply, size_t *reply_len)
{
	uint8_t token[QUIC_TOKENLEN], rnd[QUIC_RESET_LEN];
	size_t n;
	ngtcp2_ssize w;

	/* Only to a short header with room for a real packet (the fixed bit
	 * may be clear: ngtcp2 always advertises grease_quic_bit, RFC 9287);
	 * the reset is always shorter than what triggered it (no loops). */
	if (len < QUIC_MIN_SHORT_FOR_RESET || !bucket_take(ep, now))
		return drop(ep);
	n = len - 1 < QUIC_RESET_LEN ? len - 1 : QUIC_RESET_LEN;
	vx6_quic_ep_reset_token(ep, data + 1, QUIC_CIDLEN, token);
	vx6_env_random(ep->env, rnd, n - QUIC_TOKENLEN);
	w = ngtcp2_pkt_write_stateless_reset(reply, VX6_QUIC_MAX_DGRAM, token, rnd, n - QUIC_TOKENLEN - 1);
	if (w <= 0)
		return drop(ep);
	*reply_len = (size_t)w;
	ep->st.resets_sent++;
	return VX6_QUIC_RX_REPLY;
}

enum vx6_quic_rx
vx6_quic_ep_classify(struct vx6_quic_ep *ep, const struct vx6_addr *local, const struct vx6_addr *remote,
    const uint8_t *data, size_t len, uint64_t now, struct vx6_quic **conn, uint8_t *reply,
    size_t *reply_len)
{
	ngtcp2_version_cid vc;
	struct qslot *s;
	struct qkey k;
	int rc;

	(void)local;
	*conn = NULL;
	*reply_len = 0;
	if (data == NULL || len == 0 || len > 65527)
		return drop(ep);
	rc = ngtcp2_pkt_decode_version_cid(&vc, data, len, QUIC_CIDLEN);
	if (rc != 0 && rc != NGTCP2_ERR_VERSION_NEGOTIATION)
		return drop(ep);
	if (vc.dcidlen <= NGTCP2_MAX_CIDLEN) {
		vx6_quic_key_cid(&k, vc.dcid, vc.dcidlen);
		if ((s = map_find(ep, &k)) != NULL) {
			*conn = s->q;
			return VX6_QUIC_RX_CONN;
		}
	}
	if (data[0] & 0x80) {   /* long header */
		if (rc == NGTCP2_ERR_VERSION_NEGOTIATION || vc.version != NGTCP2_PROTO_VER_V1)
			return version_negotiation(ep, &vc, len, now, reply, reply_len);
		/* Long-header type bits 0x30: 0 = Initial (QUIC v1). */
		if ((data[0] & 0x30) != 0)
			return drop(ep);
		return initial(ep, remote, data, len, now, reply, reply_len);
	}
	/* Short header, unknown DCID: a stateless reset for one of our
	 * connections, or a packet for a connection we no longer have. */
	if (len >= NGTCP2_MIN_STATELESS_RESET_RANDLEN + 1 + QUIC_TOKENLEN) {
		vx6_quic_key_token(&k, data + len - QUIC_TOKENLEN);
		if ((s = map_find(ep, &k)) != NULL) {
			*conn = s->q;
			return VX6_QUIC_RX_CONN;
		}
	}
	return stateless_reset(ep, data, len, now, reply, reply_len);
}
