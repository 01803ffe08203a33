/* named — named mode: the node's own signed records, the DHT carried over
 * links, neighbour sync (own records, peer exchange), bootstrap, address
 * changes, and resolving node.service through the registry, then the DHT,
 * with names pinned to the first key seen (docs/PROTOCOL.md §11-§13). */
#include "node/node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sync.h"
#include "ctl/ctl.h"
#include "lib/err.h"

#define RECORD_LIFETIME_S (n->cfg.limits.record_lifetime_s)
#define REPUBLISH_NS ((uint64_t)n->cfg.limits.republish_s * VX6_NS_PER_SEC)
#define ADDR_CHECK_NS (15 * VX6_NS_PER_SEC)
#define SWEEP_NS (30 * VX6_NS_PER_SEC)
#define DHT_LINK_IDLE_NS (120 * VX6_NS_PER_SEC)
#define BOOT_BACKOFF_MAX_S 60
#define RPC_RATE 200.0              /* inbound RPCs per second per session */
#define RPC_BURST 400.0
#define RPCQ_MAX (256 * 1024)
#define LOG "named"

enum { R_START, R_SVC_LOOKUP, R_NODE_LOOKUP, R_NAME_LOOKUP, R_CATALOG_LOOKUP };

uint64_t
node_wall(struct vx6_node *n)
{
	return n->io->wall_now ? n->io->wall_now(n->io_ud) : 0;
}

static void
key_text(const uint8_t *key, char out[VX6_KEY_TEXT_LEN])
{
	vx6_key_to_text(key, out);
}

/* --- our own node record --- */

static size_t
collect_addrs(struct vx6_node *n, struct vx6_addr *out, size_t max)
{
	size_t count = 0;

	if (n->cfg.n_advertise) {
		for (size_t i = 0; i < n->cfg.n_advertise; i++) {
			struct vx6_addr c[2];
			size_t m = node_concrete_addrs(n, &n->cfg.advertise[i], c);
			for (size_t k = 0; k < m && count < max; k++)
				out[count++] = c[k];
		}
		return count;
	}
	for (size_t i = 0; i < n->n_bound && count < max; i++) {
		if (!vx6_addr_is_unspecified(&n->bound[i])) {
			out[count++] = n->bound[i];
			continue;
		}
		/* Listening on every address: publish this host's addresses. */
		struct vx6_addr local[VX6_RECORD_MAX_ADDRS];
		size_t m = n->io->local_addrs ? n->io->local_addrs(n->io_ud, local, VX6_RECORD_MAX_ADDRS) : 0;
		for (size_t j = 0; j < m && count < max; j++) {
			if (n->bound[i].family == 4 && local[j].family != 4)
				continue;
			local[j].port = n->bound[i].port;
			local[j].transport = n->bound[i].transport;
			out[count++] = local[j];
		}
	}
	return count;
}

static bool
same_addrs(const struct vx6_node_record *r, const struct vx6_addr *a, size_t n)
{
	if (r->n_addrs != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!vx6_addr_equal(&r->addrs[i], &a[i]))
			return false;
	return true;
}

static int
build_own_record(struct vx6_node *n)
{
	struct vx6_node_record r;
	uint64_t w = node_wall(n);
	int len;

	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "%s", n->cfg.name);
	r.flags = n->cfg.relay ? VX6_NODE_FLAG_RELAY : 0;   /* advertise the relay role */
	r.n_addrs = (uint8_t)collect_addrs(n, r.addrs, VX6_RECORD_MAX_ADDRS);
	/* seq follows the wall clock, so it grows across restarts without state. */
	r.seq = w > n->own.seq ? w : n->own.seq + 1;
	r.issued_at = w;
	r.expires_at = w + RECORD_LIFETIME_S;
	len = vx6_node_record_sign(&r, &n->id, n->own_rec, sizeof(n->own_rec));
	if (len < 0)
		return len;
	n->own = r;
	n->own_len = (size_t)len;
	if (n->reg)
		(void)vx6_registry_put_node(n->reg, &r, n->own_rec, n->own_len, w);
	return 0;
}

/* --- links for RPCs --- */

struct link *
named_link_to(struct vx6_node *n, const uint8_t id[VX6_NODE_ID_LEN])
{
	struct link *best = NULL;

	for (struct link *l = n->links; l; l = l->next) {
		if (l->over || !l->peer_known || memcmp(l->peer_id, id, VX6_NODE_ID_LEN) != 0)
			continue;
		if (l->established)
			return l;
		best = l;
	}
	return best;
}

static void
rpc_send(struct link *l, const uint8_t *msg, size_t len)
{
	struct vx6_chunk *c;

	l->last_rpc = node_now(l->node);
	if (l->established && !l->over) {
		(void)vx6_ts_send_rpc(l->session, msg, len);
		return;
	}
	if (l->rpcq.bytes + len > RPCQ_MAX)
		return;   /* the session is not up yet and too much is waiting */
	c = vx6_chunk_copy(msg, len, 0, 0);
	if (c)
		vx6_chunkq_push(&l->rpcq, c);
}

/* A session to the node a verified record describes (existing or new). */
static struct link *
link_for_record(struct vx6_node *n, const uint8_t *rec, size_t len, bool for_dht)
{
	struct vx6_node_record r;
	struct link *l;

	if (vx6_node_record_decode(&r, rec, len, node_wall(n)) != 0)
		return NULL;
	if ((l = named_link_to(n, r.node_id)) != NULL)
		return l;
	l = link_dial_addrs(n, r.addrs, r.n_addrs, r.key, false);
	if (l) {
		l->peer_known = true;
		memcpy(l->peer_id, r.node_id, VX6_NODE_ID_LEN);
		l->for_dht = for_dht;
	}
	return l;
}

/* --- DHT callbacks --- */

static void
dht_send(void *ud, const uint8_t id[VX6_DHT_ID_LEN], const uint8_t *rec, size_t reclen,
    const uint8_t *msg, size_t len)
{
	struct vx6_node *n = ud;
	uint8_t buf[1 + VX6_DHT_MAX_MSG];
	struct link *l = named_link_to(n, id);

	if (len > VX6_DHT_MAX_MSG)
		return;
	if (l == NULL && rec && reclen)
		l = link_for_record(n, rec, reclen, true);
	if (l == NULL)
		return;   /* unreachable: the lookup times this contact out */
	buf[0] = VX6_RPC_PROTO_DHT;
	memcpy(buf + 1, msg, len);
	rpc_send(l, buf, len + 1);
}

static int
dht_validate(void *ud, const uint8_t key[VX6_DHT_ID_LEN], const uint8_t *v, size_t len, uint64_t now,
    struct vx6_dht_value_info *info)
{
	return vx6_dhtval_validate(&((struct vx6_node *)ud)->dcache, key, v, len, now, info);
}

static int
dht_contact(void *ud, const uint8_t *c, size_t len, uint64_t now, uint8_t id[VX6_DHT_ID_LEN],
    uint64_t *seq)
{
	return vx6_dhtval_contact_id(&((struct vx6_node *)ud)->dcache, c, len, now, id, seq);
}

static uint64_t
dht_wall(void *ud)
{
	return node_wall(ud);
}

static void resolve_lookup_done(struct vx6_node *n, struct resolve *r, const struct vx6_dht_result *res);

static void
dht_lookup_done(void *ud, uint64_t lookup_id, const struct vx6_dht_result *res)
{
	struct vx6_node *n = ud;

	for (struct resolve *r = n->resolves; r; r = r->next)
		if (r->lookup_id == lookup_id) {
			r->lookup_id = 0;
			resolve_lookup_done(n, r, res);
			return;
		}
	/* Publications: logged at debug, replicas counted by the DHT. */
	vx6_log_debug(n->log, LOG, "lookup %llu done: status %d, %u replicas, %u hops",
	    (unsigned long long)lookup_id, res->status, res->stored, res->hops);
}

/* --- publishing --- */

/* The key an allow entry names: a key, or the key pinned for a node name. */
static bool
allow_key(struct vx6_node *n, const char *entry, uint8_t key[VX6_KEY_LEN])
{
	if (vx6_key_from_text(key, entry) == 0)
		return true;
	return n->reg && vx6_registry_pin_get(n->reg, entry, key, NULL) == 0;
}

/* One catalog entry per allowed reader, listing the private services it may
 * use, sealed to it, at the slot only the two of us can compute. */
static void
publish_catalogs(struct vx6_node *n, uint64_t now)
{
	uint8_t readers[64][VX6_KEY_LEN], k[VX6_KEY_LEN], buf[VX6_RECORD_MAX_LEN];
	unsigned n_readers = 0;
	uint64_t w = node_wall(n);

	for (size_t i = 0; i < n->cfg.n_services; i++) {
		const struct vx6_service_def *d = &n->cfg.services[i];
		for (uint8_t j = 0; d->is_private && j < d->n_allow; j++) {
			bool seen = false;
			if (!allow_key(n, d->allow[j], k)) {
				vx6_log_debug(n->log, LOG, "allow entry %s of %s: no key pinned for that name yet",
				    d->allow[j], d->name);
				continue;
			}
			for (unsigned r = 0; r < n_readers; r++)
				seen |= memcmp(readers[r], k, VX6_KEY_LEN) == 0;
			if (!seen && n_readers < 64)
				memcpy(readers[n_readers++], k, VX6_KEY_LEN);
		}
	}
	for (unsigned r = 0; r < n_readers; r++) {
		char names[VX6_CATALOG_MAX_NAMES][VX6_NAME_BUF];
		struct vx6_catalog_record c;
		unsigned count = 0;
		int len;

		for (size_t i = 0; i < n->cfg.n_services && count < VX6_CATALOG_MAX_NAMES; i++) {
			const struct vx6_service_def *d = &n->cfg.services[i];
			for (uint8_t j = 0; d->is_private && j < d->n_allow; j++)
				if (allow_key(n, d->allow[j], k) && memcmp(k, readers[r], VX6_KEY_LEN) == 0) {
					snprintf(names[count++], VX6_NAME_BUF, "%s", d->name);
					break;
				}
		}
		memset(&c, 0, sizeof(c));
		vx6_dhtkey_catalog(n->id.pk, readers[r], c.slot);
		c.seq = w;
		c.issued_at = w;
		c.expires_at = w + RECORD_LIFETIME_S;
		if (count == 0 || vx6_catalog_seal((const char (*)[VX6_NAME_BUF])names, count, readers[r], c.ct,
		    sizeof(c.ct), &c.ct_len) != 0)
			continue;
		len = vx6_catalog_record_sign(&c, &n->id, buf, sizeof(buf));
		if (len > 0)
			(void)vx6_dht_store(n->dht, c.slot, buf, (size_t)len, now);
	}
}

static void
publish(struct vx6_node *n, uint64_t now)
{
	uint8_t key[VX6_DHT_ID_LEN], buf[VX6_RECORD_MAX_LEN];
	uint64_t w = node_wall(n);

	if (build_own_record(n) != 0)
		return;
	(void)vx6_dht_store(n->dht, n->own.node_id, n->own_rec, n->own_len, now);
	vx6_dhtkey_node_name(n->own.name, key);
	(void)vx6_dht_store(n->dht, key, n->own_rec, n->own_len, now);
	for (size_t i = 0; i < n->cfg.n_services; i++) {
		struct vx6_service_record s;
		int len;
		if (n->cfg.services[i].is_private)
			continue;   /* listed only in readers' catalogs, below */
		memset(&s, 0, sizeof(s));
		snprintf(s.node_name, sizeof(s.node_name), "%s", n->cfg.name);
		snprintf(s.service, sizeof(s.service), "%s", n->cfg.services[i].name);
		s.visibility = VX6_VISIBILITY_PUBLIC;
		s.seq = w;
		s.issued_at = w;
		s.expires_at = w + RECORD_LIFETIME_S;
		len = vx6_service_record_sign(&s, &n->id, buf, sizeof(buf));
		if (len < 0)
			continue;
		vx6_dhtkey_service(s.node_name, s.service, key);
		(void)vx6_dht_store(n->dht, key, buf, (size_t)len, now);
		if (n->reg)
			(void)vx6_registry_put_service(n->reg, &s, buf, (size_t)len, w);
	}
	publish_catalogs(n, now);
	n->republish_at = now + REPUBLISH_NS;
	vx6_log_info(n->log, LOG, "published node record (seq %llu, %u address(es)) and %zu service(s)",
	    (unsigned long long)n->own.seq, n->own.n_addrs, n->cfg.n_services);
}

void
named_services_changed(struct vx6_node *n)
{
	if (n->dht && n->joined)
		n->republish_at = node_now(n);   /* at the next timer */
}

static void
push_own_record(struct vx6_node *n)
{
	uint8_t msg[8 + VX6_RECORD_MAX_LEN];
	int len = vx6_sync_build_record(n->own_rec, n->own_len, msg, sizeof(msg));

	if (len < 0)
		return;
	for (struct link *l = n->links; l; l = l->next)
		if (l->established && !l->over)
			rpc_send(l, msg, (size_t)len);
}

/* Sessions whose local address went away are dead even if the kernel has
 * not said so yet: close them now, so the republished record and the DHT
 * traffic go out on new sessions from a current address (and the DHT does
 * not evict every contact for timeouts that were ours). */
static void
close_links_on_lost_addrs(struct vx6_node *n, const struct vx6_addr *now_addrs, size_t count)
{
	struct vx6_addr lost[VX6_RECORD_MAX_ADDRS];
	size_t n_lost = 0;

	for (size_t i = 0; i < n->own.n_addrs; i++) {
		bool kept = false;
		for (size_t j = 0; j < count; j++)
			kept |= vx6_addr_same_host(&n->own.addrs[i], &now_addrs[j]);
		if (!kept)
			lost[n_lost++] = n->own.addrs[i];
	}
	if (n_lost == 0)
		return;   /* only gained addresses: every session still works */
	for (struct link *l = n->links; l; l = l->next) {
		struct vx6_addr local;
		bool gone = true;   /* unknown local address: assume the worst */
		if (l->over || !l->connected)
			continue;
		if (n->io->conn_local_addr && n->io->conn_local_addr(n->io_ud, l->conn_id, &local) == 0) {
			gone = false;
			for (size_t i = 0; i < n_lost; i++)
				gone |= vx6_addr_same_host(&local, &lost[i]);
		}
		if (gone)
			link_close(l, "this node's address changed");
	}
}

static void
check_addresses(struct vx6_node *n, uint64_t now)
{
	struct vx6_addr addrs[VX6_RECORD_MAX_ADDRS];
	size_t count = collect_addrs(n, addrs, VX6_RECORD_MAX_ADDRS);
	char text[VX6_ADDR_STRLEN] = "none";

	n->addr_check_at = now + ADDR_CHECK_NS;
	if (same_addrs(&n->own, addrs, count))
		return;
	if (count)
		vx6_addr_format(&addrs[0], text, sizeof(text), false);
	vx6_log_info(n->log, LOG, "this node's addresses changed (now %zu, first %s): republishing",
	    count, text);
	close_links_on_lost_addrs(n, addrs, count);
	publish(n, now);
	push_own_record(n);
}

/* --- start, timers --- */

int
named_start(struct vx6_node *n)
{
	struct vx6_dht_config cfg;

	vx6_dht_config_defaults(&cfg);
	cfg.republish_interval = (uint64_t)n->cfg.limits.replicate_s * VX6_NS_PER_SEC;
	n->dht_cbs.send = dht_send;
	n->dht_cbs.lookup_done = dht_lookup_done;
	n->dht_cbs.validate = dht_validate;
	n->dht_cbs.contact_id = dht_contact;
	n->dht_cbs.wall_time = dht_wall;
	n->dht = vx6_dht_new(n->id.node_id, &cfg, n->env, &n->dht_cbs, n);
	if (n->dht == NULL)
		return VX6_ERR_NOMEM;
	n->next_resolve_id = 1;
	if (build_own_record(n) != 0)
		return VX6_ERR_INVAL;
	n->boot_at = node_now(n);
	n->republish_at = VX6_TIME_NEVER;
	n->addr_check_at = node_now(n) + ADDR_CHECK_NS;
	n->sweep_at = node_now(n) + SWEEP_NS;
	snprintf(n->boot_status, sizeof(n->boot_status), "starting");
	return 0;
}

static void resolve_free(struct vx6_node *n, struct resolve *r);

void
named_free(struct vx6_node *n)
{
	while (n->resolves)
		resolve_free(n, n->resolves);
	vx6_dht_free(n->dht);
	n->dht = NULL;
}

uint64_t
named_expiry(struct vx6_node *n)
{
	uint64_t e = VX6_TIME_NEVER;

	if (n->dht == NULL || n->shutting_down)
		return e;
	e = vx6_dht_expiry(n->dht);
	if (n->boot_at < e)
		e = n->boot_at;
	if (n->republish_at < e)
		e = n->republish_at;
	if (n->addr_check_at < e)
		e = n->addr_check_at;
	if (n->sweep_at < e)
		e = n->sweep_at;
	return e;
}

static void
add_boot_record(void *ud, const uint8_t *rec, size_t len)
{
	struct vx6_node *n = ud;
	struct link *l = link_for_record(n, rec, len, false);

	if (l)
		l->for_boot = true;
}

static void
bootstrap(struct vx6_node *n, uint64_t now)
{
	unsigned backoff, dialed = 0;
	char text[VX6_ADDR_STRLEN];

	if (n->joined) {
		n->boot_at = VX6_TIME_NEVER;
		return;
	}
	for (size_t i = 0; i < n->cfg.n_peers; i++) {
		bool have = false;
		for (struct link *l = n->links; l; l = l->next)
			have |= !l->over && l->outbound && vx6_addr_equal(&l->remote, &n->cfg.peers[i]);
		if (have)
			continue;
		struct link *l = link_dial(n, &n->cfg.peers[i], NULL, false);
		if (l) {
			l->for_boot = true;
			dialed++;
		}
	}
	/* Peers remembered from earlier runs are bootstrap candidates too. */
	if (n->reg)
		dialed += (unsigned)(vx6_registry_live_peers(n->reg, 8, node_wall(n), add_boot_record, n) > 0);
	if (n->cfg.n_peers == 0 && dialed == 0) {
		snprintf(n->boot_status, sizeof(n->boot_status),
		    "standalone: no peers to join through (add one with `vx6 peer add --addr ADDR`)");
		n->boot_at = VX6_TIME_NEVER;
		return;
	}
	n->boot_attempts++;
	backoff = n->boot_attempts < 7 ? 1u << (n->boot_attempts - 1) : BOOT_BACKOFF_MAX_S;
	if (backoff > BOOT_BACKOFF_MAX_S)
		backoff = BOOT_BACKOFF_MAX_S;
	n->boot_at = now + (uint64_t)backoff * VX6_NS_PER_SEC;
	if (n->cfg.n_peers)
		vx6_addr_format(&n->cfg.peers[0], text, sizeof(text), false);
	else
		snprintf(text, sizeof(text), "remembered peers");
	snprintf(n->boot_status, sizeof(n->boot_status), "joining via %s (attempt %u, next in %u s)",
	    text, n->boot_attempts, backoff);
}

static void
sweep(struct vx6_node *n, uint64_t now)
{
	n->sweep_at = now + SWEEP_NS;
	for (struct link *l = n->links; l; l = l->next) {
		bool used = l->pumps.count > 0;
		for (struct forward *f = n->forwards; f; f = f->next)
			used |= f->link == l;
		/* Sessions dialed only for DHT traffic do not linger. */
		if (l->for_dht && !used && !l->over && now - l->last_rpc > DHT_LINK_IDLE_NS)
			link_close(l, "idle");
	}
	if (n->reg)
		(void)vx6_registry_evict(n->reg, node_wall(n));
}

/* A joined node that lost every neighbour and every DHT contact (its
 * address moved, the network restarted) is back where it started: join
 * again through the configured and remembered peers. */
static void
rejoin_if_alone(struct vx6_node *n, uint64_t now)
{
	struct vx6_dht_stats st;

	for (struct link *l = n->links; l; l = l->next)
		if (!l->over)
			return;
	vx6_dht_stats(n->dht, &st);
	if (st.contacts > 0)
		return;
	n->joined = false;
	n->boot_attempts = 0;
	n->boot_at = now;
	snprintf(n->boot_status, sizeof(n->boot_status), "lost every neighbour: joining again");
	vx6_log_info(n->log, LOG, "lost every neighbour and DHT contact: joining the network again");
}

void
named_timer(struct vx6_node *n, uint64_t now)
{
	if (n->dht == NULL || n->shutting_down)
		return;
	if (vx6_dht_expiry(n->dht) <= now)
		vx6_dht_handle_expiry(n->dht, now);
	if (n->joined && now >= n->addr_check_at)
		rejoin_if_alone(n, now);
	if (now >= n->boot_at)
		bootstrap(n, now);
	if (now >= n->republish_at)
		publish(n, now);
	if (now >= n->addr_check_at)
		check_addresses(n, now);
	if (now >= n->sweep_at)
		sweep(n, now);
}

/* --- link events --- */

void
named_link_established(struct link *l)
{
	struct vx6_node *n = l->node;
	struct vx6_session_info info;
	uint8_t msg[8 + VX6_RECORD_MAX_LEN];
	struct vx6_chunk *c;
	int len;

	if (n->dht == NULL)
		return;
	vx6_ts_info(l->session, &info);
	l->peer_known = true;
	memcpy(l->peer_id, info.peer_node_id, VX6_NODE_ID_LEN);
	l->last_rpc = node_now(n);
	l->rpc_tokens = RPC_BURST;
	l->rpc_refilled = node_now(n);
	/* Our record first, then what waited for the session. */
	len = vx6_sync_build_record(n->own_rec, n->own_len, msg, sizeof(msg));
	if (len > 0)
		(void)vx6_ts_send_rpc(l->session, msg, (size_t)len);
	while ((c = vx6_chunkq_pop(&l->rpcq)) != NULL) {
		(void)vx6_ts_send_rpc(l->session, vx6_chunk_ptr(c), c->len);
		vx6_chunk_free(c);
	}
	if (l->for_boot) {
		len = vx6_sync_build_peers_req(VX6_SYNC_MAX_PEERS, msg, sizeof(msg));
		if (len > 0)
			(void)vx6_ts_send_rpc(l->session, msg, (size_t)len);
	}
	if (n->reg)
		(void)vx6_registry_peer_seen(n->reg, l->peer_id, (int64_t)node_wall(n), 0);
}

void
named_link_over(struct link *l)
{
	struct vx6_node *n = l->node;

	vx6_chunkq_clear(&l->rpcq);
	if (n->dht == NULL || !l->peer_known || l->close_err == 0)
		return;
	vx6_dht_contact_failed(n->dht, l->peer_id, node_now(n));
	if (n->reg)
		(void)vx6_registry_peer_failed(n->reg, l->peer_id);
	if (l->for_boot && !n->joined)
		snprintf(n->boot_status, sizeof(n->boot_status), "bootstrap peer %s unreachable: %.120s; "
		    "retrying", l->remote_text, l->close_reason);
}

struct peers_ctx {
	uint64_t wall;
	const uint8_t *exclude;
	const uint8_t *recs[VX6_SYNC_MAX_PEERS];
	size_t lens[VX6_SYNC_MAX_PEERS];
	uint8_t store[VX6_SYNC_MAX_PEERS][VX6_RECORD_MAX_LEN];
	unsigned n, max;
};

static void
collect_peer(void *ud, const uint8_t *rec, size_t len)
{
	struct peers_ctx *p = ud;
	struct vx6_node_record r;

	if (p->n >= p->max || len > VX6_RECORD_MAX_LEN)
		return;
	/* The registry holds verified records; decode to skip the asker. */
	if (vx6_node_record_decode(&r, rec, len, p->wall) != 0)
		return;
	if (memcmp(r.node_id, p->exclude, VX6_NODE_ID_LEN) == 0)
		return;
	memcpy(p->store[p->n], rec, len);
	p->recs[p->n] = p->store[p->n];
	p->lens[p->n] = len;
	p->n++;
}

static void
learn_record(struct vx6_node *n, const uint8_t *rec, size_t len, const uint8_t *must_key)
{
	struct vx6_node_record r;
	uint64_t now = node_now(n);
	int rc = vx6_node_record_decode(&r, rec, len, node_wall(n));

	if (rc == 0 && must_key && memcmp(r.key, must_key, VX6_KEY_LEN) != 0)
		rc = VX6_ERR_PERM;   /* a neighbour speaks for itself only */
	if (rc) {
		n->named_ctr_rejected_records++;
		vx6_log_debug(n->log, LOG, "rejected a node record: %s", vx6_strerror(rc));
		return;
	}
	if (memcmp(r.node_id, n->id.node_id, VX6_NODE_ID_LEN) == 0)
		return;
	if (n->reg)
		(void)vx6_registry_put_node(n->reg, &r, rec, len, node_wall(n));
	if (r.n_addrs)
		(void)vx6_dht_add_contact(n->dht, rec, len, now);
}

static void
handle_sync(struct link *l, const uint8_t *p, size_t len)
{
	struct vx6_node *n = l->node;
	struct vx6_session_info info;
	struct vx6_sync_msg m;
	uint8_t out[8 + VX6_SYNC_MAX_PEERS * (2 + VX6_RECORD_MAX_LEN)];
	int olen;

	if (vx6_sync_parse(p, len, &m) != 0) {
		n->named_ctr_rejected_records++;
		return;
	}
	switch (m.kind) {
	case VX6_SYNC_RECORD:
		vx6_ts_info(l->session, &info);
		learn_record(n, m.recs[0], m.lens[0], info.peer_key);
		if (!n->joined) {
			/* Any authenticated neighbour, dialed or dialing us, puts this
			 * node in a network: find our neighbourhood, then publish. */
			n->joined = true;
			n->boot_at = VX6_TIME_NEVER;
			snprintf(n->boot_status, sizeof(n->boot_status), "joined via %s%s", l->remote_text,
			    l->outbound ? "" : " (it connected to us)");
			vx6_log_info(n->log, LOG, "joined the network via %s", l->remote_text);
			/* Find our neighbourhood, then publish. */
			(void)vx6_dht_lookup(n->dht, n->id.node_id, false, node_now(n));
			n->republish_at = node_now(n) + VX6_NS_PER_SEC;
		}
		break;
	case VX6_SYNC_PEERS_REQ: {
		struct peers_ctx *pc = calloc(1, sizeof(*pc));
		if (pc == NULL)
			return;
		pc->exclude = l->peer_id;
		pc->max = m.max;
		pc->wall = node_wall(n);
		if (n->reg)
			(void)vx6_registry_live_peers(n->reg, m.max + 1, node_wall(n), collect_peer, pc);
		olen = vx6_sync_build_peers(pc->recs, pc->lens, pc->n, out, sizeof(out));
		if (olen > 0)
			rpc_send(l, out, (size_t)olen);
		free(pc);
		break;
	}
	case VX6_SYNC_PEERS:
		for (unsigned i = 0; i < m.n; i++)
			learn_record(n, m.recs[i], m.lens[i], NULL);
		break;
	}
}

void
named_on_rpc(struct link *l, const uint8_t *msg, size_t len)
{
	struct vx6_node *n = l->node;
	uint64_t now = node_now(n);

	if (n->dht == NULL || !l->established || len < 1)
		return;
	/* A token bucket per session: a flood costs the flooder, not the node. */
	l->rpc_tokens += (double)(now - l->rpc_refilled) / 1e9 * RPC_RATE;
	if (l->rpc_tokens > RPC_BURST)
		l->rpc_tokens = RPC_BURST;
	l->rpc_refilled = now;
	if (l->rpc_tokens < 1.0) {
		n->named_ctr_rpc_throttled++;
		return;
	}
	l->rpc_tokens -= 1.0;
	l->last_rpc = now;
	if (msg[0] == VX6_RPC_PROTO_DHT)
		vx6_dht_recv(n->dht, l->peer_id, msg + 1, len - 1, now);
	else if (msg[0] == VX6_RPC_PROTO_SYNC)
		handle_sync(l, msg + 1, len - 1);
	else
		n->named_ctr_rejected_records++;
}

/* --- resolution --- */

static void
resolve_free(struct vx6_node *n, struct resolve *r)
{
	struct resolve **pp;

	for (pp = &n->resolves; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	free(r);
}

void
named_forward_gone(struct vx6_node *n, struct forward *f)
{
	for (struct resolve *r = n->resolves; r; r = r->next)
		if (r->fwd == f)
			r->fwd = NULL;
}

struct claim_ctx {
	json_t *arr;
	char text[1024];
	size_t len;
	const uint8_t *skip;
	unsigned n;
};

static void
claim_cb(void *ud, const uint8_t key[VX6_KEY_LEN], int64_t first_seen)
{
	struct claim_ctx *c = ud;
	char k[VX6_KEY_TEXT_LEN];

	if (c->skip && memcmp(key, c->skip, VX6_KEY_LEN) == 0)
		return;
	key_text(key, k);
	c->n++;
	if (c->arr)
		json_array_append_new(c->arr, json_pack("{s:s,s:I}", "key", k, "first_seen",
		    (json_int_t)first_seen));
	if (c->len < sizeof(c->text) - 80)
		c->len += (size_t)snprintf(c->text + c->len, sizeof(c->text) - c->len, "%s%s (first seen %lld)",
		    c->n > 1 ? ", " : "", k, (long long)first_seen);
}

static void
resolve_fail(struct vx6_node *n, struct resolve *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
resolve_fail(struct vx6_node *n, struct resolve *r, const char *code, const char *fmt, ...)
{
	char why[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	vx6_log_info(n->log, LOG, "resolving %s.%s failed: %s", r->node_name, r->service, why);
	if (r->ctl_id)
		ctl_send(n, r->ctl_id, vx6_ctl_reply_error(r->reply_id, code, why));
	if (r->fwd)
		forward_resolved(r->fwd, strcmp(code, "conflict") == 0 || strcmp(code, "key-mismatch") == 0 ?
		    VX6_ERR_KEY_MISMATCH : VX6_ERR_NOT_FOUND, why, NULL);
	resolve_free(n, r);
}

static json_t *
resolve_json(struct vx6_node *n, const struct resolve *r)
{
	char key[VX6_KEY_TEXT_LEN], nid[VX6_NODE_ID_HEX_LEN], a[VX6_ADDR_STRLEN];
	json_t *o = json_object(), *addrs = json_array();
	struct claim_ctx cc = { .arr = json_array(), .skip = r->owner_key };

	key_text(r->owner_key, key);
	vx6_node_id_to_hex(r->node.node_id, nid);
	for (uint8_t i = 0; i < r->node.n_addrs; i++) {
		vx6_addr_format(&r->node.addrs[i], a, sizeof(a), true);
		json_array_append_new(addrs, json_string(a));
	}
	json_object_set_new(o, "name", json_pack("s++", r->node_name, ".", r->service));
	json_object_set_new(o, "node", json_string(r->node_name));
	json_object_set_new(o, "service", json_string(r->service));
	json_object_set_new(o, "owner_key", json_string(key));
	json_object_set_new(o, "node_id", json_string(nid));
	json_object_set_new(o, "addresses", addrs);
	json_object_set_new(o, "service_seq", json_integer((json_int_t)r->svc.seq));
	json_object_set_new(o, "service_expires", json_integer((json_int_t)r->svc.expires_at));
	json_object_set_new(o, "node_seq", json_integer((json_int_t)r->node.seq));
	json_object_set_new(o, "source", json_string(r->from_registry ? "registry" :
	    r->svc.visibility == VX6_VISIBILITY_PRIVATE ? "dht (private catalog)" : "dht"));
	json_object_set_new(o, "private", json_boolean(r->svc.visibility == VX6_VISIBILITY_PRIVATE));
	json_object_set_new(o, "holders", json_integer(r->holders));
	json_object_set_new(o, "hops", json_integer(r->dht_hops));
	json_object_set_new(o, "elapsed_ms", json_real((double)(node_now(n) - r->started) / 1e6));
	if (n->reg)
		(void)vx6_registry_claims(n->reg, r->node_name, claim_cb, &cc);
	json_object_set_new(o, "conflicts", cc.arr);
	return o;
}

static void
resolve_done(struct vx6_node *n, struct resolve *r)
{
	char a[VX6_ADDR_STRLEN] = "?";

	if (r->node.n_addrs)
		vx6_addr_format(&r->node.addrs[0], a, sizeof(a), false);
	vx6_log_info(n->log, LOG, "resolved %s.%s -> %s (%s)", r->node_name, r->service, a,
	    r->from_registry ? "registry" : "dht");
	if (r->ctl_id)
		ctl_send(n, r->ctl_id, vx6_ctl_reply_ok(r->reply_id, resolve_json(n, r)));
	if (r->fwd)
		forward_resolved(r->fwd, 0, NULL, r);
	resolve_free(n, r);
}

/* Candidate service records for the name, gathered from one source. */
struct cands {
	struct resolve *r;
	struct vx6_node *n;
	unsigned count;
	struct vx6_service_record recs[VX6_DHT_MAX_RESULT_VALUES];
	uint8_t bytes[VX6_DHT_MAX_RESULT_VALUES][VX6_RECORD_MAX_LEN];
	size_t lens[VX6_DHT_MAX_RESULT_VALUES];
	unsigned holders[VX6_DHT_MAX_RESULT_VALUES];
};

static void
add_cand(struct cands *c, const uint8_t *bytes, size_t len, unsigned holders)
{
	struct vx6_service_record s;
	uint64_t w = node_wall(c->n);

	if (c->count >= VX6_DHT_MAX_RESULT_VALUES || len > VX6_RECORD_MAX_LEN)
		return;
	if (vx6_service_record_decode(&s, bytes, len, w) != 0)
		return;
	if (strcmp(s.node_name, c->r->node_name) != 0 || strcmp(s.service, c->r->service) != 0)
		return;
	for (unsigned i = 0; i < c->count; i++)
		if (memcmp(c->recs[i].owner_key, s.owner_key, VX6_KEY_LEN) == 0) {
			if (s.seq > c->recs[i].seq) {
				c->recs[i] = s;
				memcpy(c->bytes[i], bytes, len);
				c->lens[i] = len;
			}
			return;
		}
	c->recs[c->count] = s;
	memcpy(c->bytes[c->count], bytes, len);
	c->lens[c->count] = len;
	c->holders[c->count] = holders;
	c->count++;
	if (c->n->reg) {
		(void)vx6_registry_put_service(c->n->reg, &s, bytes, len, w);
		(void)vx6_registry_claim(c->n->reg, s.node_name, s.owner_key, (int64_t)w);
	}
}

static void
registry_cand(void *ud, const uint8_t *bytes, size_t len)
{
	add_cand(ud, bytes, len, 0);
}

/* Applies the pinning rules; returns the chosen index, or -1 after failing
 * the resolve with an explanation. */
static int
choose(struct vx6_node *n, struct resolve *r, struct cands *c)
{
	uint8_t pinned[VX6_KEY_LEN];
	int64_t first = 0;
	bool have_pin = n->reg && vx6_registry_pin_get(n->reg, r->node_name, pinned, &first) == 0;
	struct claim_ctx cc = { 0 };
	char k[VX6_KEY_TEXT_LEN];

	if (r->have_want_key) {
		for (unsigned i = 0; i < c->count; i++)
			if (memcmp(c->recs[i].owner_key, r->want_key, VX6_KEY_LEN) == 0)
				return (int)i;
		key_text(r->want_key, k);
		resolve_fail(n, r, "not-found", "no record of %s.%s is signed by the key %s",
		    r->node_name, r->service, k);
		return -1;
	}
	if (have_pin) {
		int match = -1;
		for (unsigned i = 0; i < c->count; i++)
			if (memcmp(c->recs[i].owner_key, pinned, VX6_KEY_LEN) == 0)
				match = (int)i;
			else
				n->named_ctr_conflicts++;
		if (match >= 0) {
			if (c->count > 1)
				vx6_log_warn(n->log, LOG, "name %s is also claimed by %u other key(s); "
				    "using the pinned one", r->node_name, c->count - 1);
			return match;
		}
		key_text(pinned, k);
		for (unsigned i = 0; i < c->count; i++)
			claim_cb(&cc, c->recs[i].owner_key, 0);
		resolve_fail(n, r, "key-mismatch", "%s is pinned to key %s (first seen %lld), but %s.%s "
		    "is only offered by: %s. Refusing. If %s really changed keys, verify the new key out "
		    "of band and pass --peer-key", r->node_name, k, (long long)first, r->node_name,
		    r->service, cc.text, r->node_name);
		return -1;
	}
	if (c->count == 1) {
		/* Trust on first use: the first key seen for a name is pinned. */
		if (n->reg)
			(void)vx6_registry_pin_set(n->reg, r->node_name, c->recs[0].owner_key,
			    (int64_t)node_wall(n));
		key_text(c->recs[0].owner_key, k);
		vx6_log_info(n->log, LOG, "pinned name %s to key %s (first use)", r->node_name, k);
		return 0;
	}
	for (unsigned i = 0; i < c->count; i++)
		claim_cb(&cc, c->recs[i].owner_key, 0);
	n->named_ctr_conflicts++;
	resolve_fail(n, r, "conflict", "the name %s is claimed by %u different keys: %s. Choose one "
	    "with --peer-key", r->node_name, c->count, cc.text);
	return -1;
}

static bool
node_from_registry(struct vx6_node *n, struct resolve *r)
{
	uint8_t buf[VX6_RECORD_MAX_LEN], id[VX6_NODE_ID_LEN];
	size_t len;

	if (n->reg == NULL || r->fresh)
		return false;
	vx6_node_id_from_key(id, r->owner_key);
	if (vx6_registry_get_node(n->reg, id, node_wall(n), buf, sizeof(buf), &len) != 0)
		return false;
	return vx6_node_record_decode(&r->node, buf, len, node_wall(n)) == 0 && r->node.n_addrs > 0;
}

static void
lookup_node(struct vx6_node *n, struct resolve *r)
{
	uint8_t id[VX6_NODE_ID_LEN];

	vx6_node_id_from_key(id, r->owner_key);
	r->stage = R_NODE_LOOKUP;
	r->lookup_id = vx6_dht_lookup(n->dht, id, true, node_now(n));
	if (r->lookup_id == 0)
		resolve_fail(n, r, "busy", "too many lookups in progress; try again");
}

static void
chose(struct vx6_node *n, struct resolve *r, struct cands *c, int i)
{
	memcpy(r->owner_key, c->recs[i].owner_key, VX6_KEY_LEN);
	r->svc = c->recs[i];
	memcpy(r->svc_bytes, c->bytes[i], c->lens[i]);
	r->svc_len = c->lens[i];
	r->holders = c->holders[i];
	if (node_from_registry(n, r))
		resolve_done(n, r);
	else
		lookup_node(n, r);
}

/* A candidate set for r, or NULL after failing r. */
static struct cands *
cands_new(struct vx6_node *n, struct resolve *r)
{
	struct cands *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		resolve_fail(n, r, "failed", "out of memory");
		return NULL;
	}
	c->r = r;
	c->n = n;
	return c;
}

/* Applies the pinning rules to c, continues with the choice; frees c. */
static void
pick(struct vx6_node *n, struct resolve *r, struct cands *c)
{
	int i = choose(n, r, c);

	if (i >= 0)
		chose(n, r, c, i);
	free(c);
}

static void
resolve_step(struct vx6_node *n, struct resolve *r)
{
	struct cands *c = cands_new(n, r);
	uint8_t key[VX6_DHT_ID_LEN];

	if (c == NULL)
		return;
	/* A registry hit avoids the DHT altogether. */
	if (n->reg)
		(void)vx6_registry_services(n->reg, r->node_name, r->service, node_wall(n), registry_cand, c);
	if (c->count > 0 && !r->fresh) {
		r->from_registry = true;
		pick(n, r, c);
		return;
	}
	free(c);
	vx6_dhtkey_service(r->node_name, r->service, key);
	r->stage = R_SVC_LOOKUP;
	r->from_registry = false;
	r->lookup_id = vx6_dht_lookup(n->dht, key, true, node_now(n));
	if (r->lookup_id == 0)
		resolve_fail(n, r, "busy", "too many lookups in progress; try again");
}

static void
not_found(struct vx6_node *n, struct resolve *r)
{
	resolve_fail(n, r, "not-found", "no service %s.%s found in the network, or it is private and "
	    "not shared with this node (%s)", r->node_name, r->service, n->joined ?
	    "asked the nodes closest to the name" : "this node has not joined a network yet");
}

static void
lookup_catalog(struct vx6_node *n, struct resolve *r)
{
	uint8_t slot[VX6_DHT_ID_LEN];

	vx6_dhtkey_catalog(r->owner_key, n->id.pk, slot);
	r->stage = R_CATALOG_LOOKUP;
	r->lookup_id = vx6_dht_lookup(n->dht, slot, true, node_now(n));
	if (r->lookup_id == 0)
		resolve_fail(n, r, "busy", "too many lookups in progress; try again");
}

static void
try_private(struct vx6_node *n, struct resolve *r)
{
	uint8_t key[VX6_DHT_ID_LEN];

	if (r->have_want_key) {
		memcpy(r->owner_key, r->want_key, VX6_KEY_LEN);
		lookup_catalog(n, r);
		return;
	}
	if (n->reg && vx6_registry_pin_get(n->reg, r->node_name, r->owner_key, NULL) == 0) {
		lookup_catalog(n, r);
		return;
	}
	vx6_dhtkey_node_name(r->node_name, key);
	r->stage = R_NAME_LOOKUP;
	r->lookup_id = vx6_dht_lookup(n->dht, key, true, node_now(n));
	if (r->lookup_id == 0)
		resolve_fail(n, r, "busy", "too many lookups in progress; try again");
}

/* A probe's answer: every other key that claims the name. */
static void
probe_done(struct vx6_node *n, struct resolve *r, const struct vx6_dht_result *res)
{
	json_t *arr = json_array();
	char k[VX6_KEY_TEXT_LEN];

	for (unsigned v = 0; v < res->n_values; v++) {
		struct vx6_node_record rec;
		if (vx6_node_record_decode(&rec, res->values[v].value, res->values[v].len, node_wall(n)) != 0 ||
		    strcmp(rec.name, r->node_name) != 0 || memcmp(rec.key, n->id.pk, VX6_KEY_LEN) == 0)
			continue;
		key_text(rec.key, k);
		json_array_append_new(arr, json_pack("{s:s,s:I,s:I}", "key", k, "seq", (json_int_t)rec.seq,
		    "issued_at", (json_int_t)rec.issued_at));
	}
	ctl_send(n, r->ctl_id, vx6_ctl_reply_ok(r->reply_id, json_pack("{s:s,s:o,s:b,s:i}", "name",
	    r->node_name, "claimed_by", arr, "joined", n->joined, "holders_asked", (int)res->n_closest)));
	resolve_free(n, r);
}

uint64_t
named_probe(struct vx6_node *n, const char *node_name, uint64_t ctl_id, int64_t reply_id)
{
	struct resolve *r;
	uint8_t key[VX6_DHT_ID_LEN];

	if (n->dht == NULL || (r = calloc(1, sizeof(*r))) == NULL)
		return 0;
	r->id = n->next_resolve_id++;
	r->probe = true;
	snprintf(r->node_name, sizeof(r->node_name), "%s", node_name);
	r->ctl_id = ctl_id;
	r->reply_id = reply_id;
	r->started = node_now(n);
	r->stage = R_NAME_LOOKUP;
	r->next = n->resolves;
	n->resolves = r;
	vx6_dhtkey_node_name(node_name, key);
	r->lookup_id = vx6_dht_lookup(n->dht, key, true, node_now(n));
	if (r->lookup_id == 0) {
		resolve_free(n, r);
		return 0;
	}
	return r->id;
}

/* Node records claiming the name: the owner's key by the pinning rules. */
static void
name_lookup_done(struct vx6_node *n, struct resolve *r, const struct vx6_dht_result *res)
{
	uint8_t keys[VX6_DHT_MAX_RESULT_VALUES][VX6_KEY_LEN];
	unsigned count = 0;
	struct claim_ctx cc = { 0 };

	for (unsigned v = 0; v < res->n_values; v++) {
		struct vx6_node_record rec;
		if (vx6_node_record_decode(&rec, res->values[v].value, res->values[v].len, node_wall(n)) != 0 ||
		    strcmp(rec.name, r->node_name) != 0)
			continue;
		if (n->reg) {
			(void)vx6_registry_put_node(n->reg, &rec, res->values[v].value, res->values[v].len,
			    node_wall(n));
		}
		memcpy(keys[count++], rec.key, VX6_KEY_LEN);
	}
	if (count == 0) {
		not_found(n, r);
		return;
	}
	if (count > 1) {
		for (unsigned i = 0; i < count; i++)
			claim_cb(&cc, keys[i], 0);
		n->named_ctr_conflicts++;
		resolve_fail(n, r, "conflict", "the name %s is claimed by %u different keys: %s. Choose one "
		    "with --peer-key", r->node_name, count, cc.text);
		return;
	}
	if (n->reg)
		(void)vx6_registry_pin_set(n->reg, r->node_name, keys[0], (int64_t)node_wall(n));
	memcpy(r->owner_key, keys[0], VX6_KEY_LEN);
	lookup_catalog(n, r);
}

static void
catalog_lookup_done(struct vx6_node *n, struct resolve *r, const struct vx6_dht_result *res)
{
	char names[VX6_CATALOG_MAX_NAMES][VX6_NAME_BUF];

	r->dht_hops = res->hops;
	for (unsigned v = 0; v < res->n_values; v++) {
		struct vx6_catalog_record c;
		int count;
		if (memcmp(res->values[v].info.signer, r->owner_key, VX6_KEY_LEN) != 0 ||
		    vx6_catalog_record_decode(&c, res->values[v].value, res->values[v].len, node_wall(n)) != 0)
			continue;
		count = vx6_catalog_open(&c, &n->id, names, VX6_CATALOG_MAX_NAMES);
		for (int i = 0; i < count; i++)
			if (strcmp(names[i], r->service) == 0) {
				memset(&r->svc, 0, sizeof(r->svc));
				memcpy(r->svc.owner_key, r->owner_key, VX6_KEY_LEN);
				snprintf(r->svc.node_name, sizeof(r->svc.node_name), "%s", r->node_name);
				snprintf(r->svc.service, sizeof(r->svc.service), "%s", r->service);
				r->svc.visibility = VX6_VISIBILITY_PRIVATE;
				r->svc.seq = c.seq;
				r->svc.expires_at = c.expires_at;
				r->holders = res->values[v].holders;
				if (node_from_registry(n, r))
					resolve_done(n, r);
				else
					lookup_node(n, r);
				return;
			}
	}
	not_found(n, r);
}

static void
resolve_lookup_done(struct vx6_node *n, struct resolve *r, const struct vx6_dht_result *res)
{
	if (r->stage == R_SVC_LOOKUP) {
		struct cands *c = cands_new(n, r);
		if (c == NULL)
			return;
		r->dht_hops = res->hops;
		for (unsigned v = 0; v < res->n_values; v++)
			add_cand(c, res->values[v].value, res->values[v].len, res->values[v].holders);
		if (c->count == 0) {
			free(c);
			/* No public record: the service may be private, listed for us
			 * in the owner's catalog. Find the owner's key first. */
			try_private(n, r);
			return;
		}
		pick(n, r, c);
		return;
	}
	if (r->stage == R_NAME_LOOKUP) {
		if (r->probe)
			probe_done(n, r, res);
		else
			name_lookup_done(n, r, res);
		return;
	}
	if (r->stage == R_CATALOG_LOOKUP) {
		catalog_lookup_done(n, r, res);
		return;
	}
	if (r->stage == R_NODE_LOOKUP) {
		const struct vx6_dht_found *best = NULL;
		struct vx6_node_record rec;
		for (unsigned v = 0; v < res->n_values; v++)
			if (memcmp(res->values[v].info.signer, r->owner_key, VX6_KEY_LEN) == 0 &&
			    (best == NULL || res->values[v].info.seq > best->info.seq))
				best = &res->values[v];
		if (best == NULL || vx6_node_record_decode(&rec, best->value, best->len, node_wall(n)) != 0 ||
		    rec.n_addrs == 0) {
			char k[VX6_KEY_TEXT_LEN];
			key_text(r->owner_key, k);
			resolve_fail(n, r, "not-found", "%s.%s is published by key %s, but no current node "
			    "record (addresses) for it was found", r->node_name, r->service, k);
			return;
		}
		r->node = rec;
		if (n->reg)
			(void)vx6_registry_put_node(n->reg, &rec, best->value, best->len, node_wall(n));
		resolve_done(n, r);
	}
}

uint64_t
named_resolve(struct vx6_node *n, const char *node_name, const char *service, const uint8_t *want_key,
    bool fresh, uint64_t ctl_id, int64_t reply_id, struct forward *fwd)
{
	struct resolve *r;

	if (n->dht == NULL)
		return 0;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return 0;
	r->id = n->next_resolve_id++;
	snprintf(r->node_name, sizeof(r->node_name), "%s", node_name);
	snprintf(r->service, sizeof(r->service), "%s", service);
	if (want_key) {
		r->have_want_key = true;
		memcpy(r->want_key, want_key, VX6_KEY_LEN);
	}
	r->fresh = fresh;
	r->ctl_id = ctl_id;
	r->reply_id = reply_id;
	r->fwd = fwd;
	r->started = node_now(n);
	r->next = n->resolves;
	n->resolves = r;
	/* Our own services resolve locally (the DHT would too, more slowly). */
	resolve_step(n, r);
	return 1;
}

/* --- status --- */

json_t *
named_status_json(struct vx6_node *n)
{
	json_t *o = json_object(), *d = json_object(), *reg = json_object();
	struct vx6_dht_stats st;
	struct vx6_registry_counts rc;

	if (n->dht == NULL)
		return o;
	vx6_dht_stats(n->dht, &st);
	json_object_set_new(o, "bootstrap", json_string(n->boot_status));
	json_object_set_new(o, "joined", json_boolean(n->joined));
	json_object_set_new(o, "record_seq", json_integer((json_int_t)n->own.seq));
	json_object_set_new(d, "contacts", json_integer(st.contacts));
	json_object_set_new(d, "keys", json_integer(st.keys));
	json_object_set_new(d, "values", json_integer(st.values));
	json_object_set_new(d, "lookups_active", json_integer(st.lookups_active));
	json_object_set_new(d, "rpcs_in", json_integer((json_int_t)st.rpcs_in));
	json_object_set_new(d, "rpcs_out", json_integer((json_int_t)st.rpcs_out));
	json_object_set_new(d, "stores_accepted", json_integer((json_int_t)st.stores_accepted));
	json_object_set_new(d, "stores_rejected", json_integer((json_int_t)st.stores_rejected));
	json_object_set_new(d, "stores_throttled", json_integer((json_int_t)st.stores_throttled));
	json_object_set_new(d, "stale_rejected", json_integer((json_int_t)st.stale_rejected));
	json_object_set_new(d, "bad_messages", json_integer((json_int_t)st.bad_messages));
	json_object_set_new(d, "late_responses", json_integer((json_int_t)st.late_responses));
	json_object_set_new(d, "rpc_timeouts", json_integer((json_int_t)st.rpc_timeouts));
	json_object_set_new(o, "dht", d);
	if (n->reg) {
		vx6_registry_counts(n->reg, &rc);
		json_object_set_new(reg, "nodes", json_integer(rc.nodes));
		json_object_set_new(reg, "services", json_integer(rc.services));
		json_object_set_new(reg, "pins", json_integer(rc.pins));
		json_object_set_new(reg, "peers", json_integer(rc.peers));
		json_object_set_new(reg, "hits", json_integer((json_int_t)rc.hits));
		json_object_set_new(reg, "misses", json_integer((json_int_t)rc.misses));
	}
	json_object_set_new(o, "registry", reg);
	json_object_set_new(o, "records_rejected", json_integer((json_int_t)n->named_ctr_rejected_records));
	json_object_set_new(o, "rpc_throttled", json_integer((json_int_t)n->named_ctr_rpc_throttled));
	json_object_set_new(o, "name_conflicts", json_integer((json_int_t)n->named_ctr_conflicts));
	return o;
}

struct list_ctx {
	json_t *arr;
	uint64_t wall;
};

static void
list_node(void *ud, const uint8_t *bytes, size_t len)
{
	struct list_ctx *lc = ud;
	json_t *arr = lc->arr;
	struct vx6_node_record r;
	char k[VX6_KEY_TEXT_LEN], nid[VX6_NODE_ID_HEX_LEN], a[VX6_ADDR_STRLEN];
	json_t *addrs = json_array();

	if (vx6_node_record_decode(&r, bytes, len, lc->wall) != 0)
		return;
	key_text(r.key, k);
	vx6_node_id_to_hex(r.node_id, nid);
	for (uint8_t i = 0; i < r.n_addrs; i++) {
		vx6_addr_format(&r.addrs[i], a, sizeof(a), false);
		json_array_append_new(addrs, json_string(a));
	}
	json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:o,s:I,s:I}", "name", r.name, "key", k,
	    "node_id", nid, "addresses", addrs, "seq", (json_int_t)r.seq, "expires",
	    (json_int_t)r.expires_at));
}

static void
list_service(void *ud, const uint8_t *bytes, size_t len)
{
	struct list_ctx *lc = ud;
	json_t *arr = lc->arr;
	struct vx6_service_record r;
	char k[VX6_KEY_TEXT_LEN];

	if (vx6_service_record_decode(&r, bytes, len, lc->wall) != 0)
		return;
	key_text(r.owner_key, k);
	json_array_append_new(arr, json_pack("{s:s++,s:s,s:I}", "name", r.node_name, ".", r.service,
	    "owner_key", k, "expires", (json_int_t)r.expires_at));
}

json_t *
named_list_json(struct vx6_node *n)
{
	json_t *nodes = json_array(), *services = json_array();
	struct list_ctx ln = { nodes, node_wall(n) }, ls = { services, node_wall(n) };

	if (n->reg) {
		(void)vx6_registry_all_nodes(n->reg, ln.wall, list_node, &ln);
		(void)vx6_registry_all_services(n->reg, ls.wall, list_service, &ls);
	}
	return json_pack("{s:o,s:o}", "nodes", nodes, "services", services);
}

struct holds_ctx {
	unsigned n;
};

static void
count_value(void *ud, const uint8_t *value, size_t len)
{
	(void)value;
	(void)len;
	((struct holds_ctx *)ud)->n++;
}

json_t *
named_holds_json(struct vx6_node *n, const char *node_name, const char *service)
{
	uint8_t key[VX6_DHT_ID_LEN];
	struct holds_ctx hc = { 0 };

	if (n->dht == NULL)
		return json_pack("{s:b,s:i}", "holds", 0, "values", 0);
	if (service && *service)
		vx6_dhtkey_service(node_name, service, key);
	else
		vx6_dhtkey_node_name(node_name, key);
	vx6_dht_local_get(n->dht, key, count_value, &hc);
	return json_pack("{s:b,s:i}", "holds", hc.n > 0, "values", (int)hc.n);
}
