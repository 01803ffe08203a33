#include "core/dht.h"

#include <stdlib.h>
#include <string.h>

#include "lib/cursor.h"
#include "lib/err.h"
#include "lib/idmap.h"

#define RPC_VERSION 1
#define MAX_CANDIDATES (3 * VX6_DHT_K)
#define MAINTENANCE_NS (5 * VX6_NS_PER_SEC)
#define FAILURES_TO_EVICT 2
#define MAX_SOURCES 4096
#define VALUE_MAX_TTL_S (24 * 3600)
#define REPLICATE_ON_JOIN_MAX 64

/* --- ids and distances --- */

static int
cmp_dist(const uint8_t *a, const uint8_t *b, const uint8_t *target)
{
	for (int i = 0; i < VX6_DHT_ID_LEN; i++) {
		uint8_t da = a[i] ^ target[i], db = b[i] ^ target[i];
		if (da != db)
			return da < db ? -1 : 1;
	}
	return 0;
}

/* Number of leading bits a and b share (256 when equal). */
static int
common_prefix(const uint8_t *a, const uint8_t *b)
{
	for (int i = 0; i < VX6_DHT_ID_LEN; i++) {
		uint8_t x = a[i] ^ b[i];
		if (x)
			return i * 8 + __builtin_clz((unsigned)x) - 24;
	}
	return 256;
}

static uint64_t
id_key(const uint8_t *id)
{
	uint64_t k = vx6_get_u64(id);

	/* idmap reserves 0 and UINT64_MAX. */
	return (k == 0 || k == UINT64_MAX) ? 1 : k;
}

/* --- routing table --- */

struct contact {
	uint8_t id[VX6_DHT_ID_LEN];
	uint8_t *rec;
	uint16_t len;
	uint64_t seq;                        /* of rec: only a higher one replaces it */
	uint64_t last_seen;
	uint32_t failures;
};

struct bucket {
	struct contact *live[VX6_DHT_K];     /* least recently seen first */
	unsigned n;
	struct contact *repl[VX6_DHT_K];     /* replacement cache, newest last */
	unsigned nrepl;
	uint64_t last_lookup;
};

/* --- store --- */

struct val {
	uint8_t signer[32];
	uint64_t seq;
	uint64_t expires_at;                 /* wall seconds */
	uint8_t *bytes;
	uint16_t len;
	uint64_t touched;                    /* ns: last stored or republished */
};

struct kv {
	uint8_t key[VX6_DHT_ID_LEN];
	unsigned n;
	struct val vals[VX6_DHT_MAX_VALUES_PER_KEY];
	struct kv *next;                     /* same idmap slot (first 8 bytes collide) */
};

struct source {
	uint8_t id[VX6_DHT_ID_LEN];
	double tokens;
	uint64_t refilled;
	struct source *next;
};

/* --- lookups --- */

enum cand_state { C_NEW, C_INFLIGHT, C_ANSWERED, C_FAILED };

struct cand {
	uint8_t id[VX6_DHT_ID_LEN];
	uint8_t *rec;
	uint16_t len;
	uint8_t state;
	uint8_t hop;
	uint32_t txid;
	uint64_t deadline;
};

struct found {
	uint8_t *bytes;
	uint16_t len;
	struct vx6_dht_value_info info;
	unsigned holders;
	uint8_t holder_ids[VX6_DHT_MAX_HOLDERS][VX6_DHT_ID_LEN];
};

enum lk_phase { P_FIND, P_STORE, P_DONE };

struct lookup {
	uint64_t id;
	uint8_t key[VX6_DHT_ID_LEN];
	bool want_value;
	bool is_store;
	bool internal;                       /* refresh/republish: no callback */
	uint8_t *store_val;
	uint16_t store_len;
	enum lk_phase phase;
	struct cand cand[MAX_CANDIDATES];
	unsigned n;
	unsigned inflight;
	unsigned messages;
	unsigned value_hop;
	unsigned stored;
	struct found found[VX6_DHT_MAX_RESULT_VALUES];
	unsigned n_found;
	bool kick;                           /* start at the next handle_expiry */
	struct lookup *next;
};

struct vx6_dht {
	uint8_t self[VX6_DHT_ID_LEN];
	struct vx6_dht_config cfg;
	const struct vx6_env *env;
	const struct vx6_dht_cbs *cbs;
	void *ud;
	struct bucket buckets[257];
	struct vx6_idmap store;              /* id_key(key) -> struct kv chain */
	uint32_t n_keys;
	struct source *sources;
	uint32_t n_sources;
	struct lookup *lookups;
	uint32_t n_lookups;
	uint64_t next_lookup_id;
	struct vx6_idmap pending;            /* txid -> struct lookup * */
	bool kick;                           /* some lookup waits to start */
	uint64_t next_maintenance;
	struct vx6_dht_stats st;
	/* scratch for vx6_dht_closest */
	const uint8_t *scratch_recs[VX6_DHT_K * 2];
	size_t scratch_lens[VX6_DHT_K * 2];
};

void
vx6_dht_config_defaults(struct vx6_dht_config *c)
{
	memset(c, 0, sizeof(*c));
	c->k = VX6_DHT_K;
	c->alpha = VX6_DHT_ALPHA;
	c->replication = VX6_DHT_REPLICATION;
	c->rpc_timeout = 3 * VX6_NS_PER_SEC;
	c->refresh_interval = 15 * 60 * VX6_NS_PER_SEC;
	c->republish_interval = 10 * 60 * VX6_NS_PER_SEC;
	c->max_keys = 65536;
	c->store_burst = 64;
	c->store_refill = VX6_NS_PER_SEC;    /* one STORE per second sustained */
	c->max_lookups = 64;
}

struct vx6_dht *
vx6_dht_new(const uint8_t self_id[VX6_DHT_ID_LEN], const struct vx6_dht_config *cfg,
    const struct vx6_env *env, const struct vx6_dht_cbs *cbs, void *ud)
{
	struct vx6_dht *d;

	if (cfg->k == 0 || cfg->k > VX6_DHT_K || cfg->alpha == 0 || cfg->replication == 0 ||
	    cfg->replication > cfg->k)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	memcpy(d->self, self_id, VX6_DHT_ID_LEN);
	d->cfg = *cfg;
	d->env = env;
	d->cbs = cbs;
	d->ud = ud;
	vx6_idmap_init(&d->store);
	vx6_idmap_init(&d->pending);
	d->next_lookup_id = 1;
	return d;
}

static void
contact_free(struct contact *c)
{
	if (c) {
		free(c->rec);
		free(c);
	}
}

static void
lookup_free(struct lookup *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->cand[i].rec);
	for (unsigned i = 0; i < l->n_found; i++)
		free(l->found[i].bytes);
	free(l->store_val);
	free(l);
}

void
vx6_dht_free(struct vx6_dht *d)
{
	size_t pos = 0;
	struct kv *kv;

	if (d == NULL)
		return;
	for (int b = 0; b < 257; b++) {
		for (unsigned i = 0; i < d->buckets[b].n; i++)
			contact_free(d->buckets[b].live[i]);
		for (unsigned i = 0; i < d->buckets[b].nrepl; i++)
			contact_free(d->buckets[b].repl[i]);
	}
	while ((kv = vx6_idmap_next(&d->store, &pos, NULL)) != NULL) {
		while (kv) {
			struct kv *next = kv->next;
			for (unsigned i = 0; i < kv->n; i++)
				free(kv->vals[i].bytes);
			free(kv);
			kv = next;
		}
	}
	vx6_idmap_free(&d->store);
	while (d->sources) {
		struct source *s = d->sources;
		d->sources = s->next;
		free(s);
	}
	while (d->lookups) {
		struct lookup *l = d->lookups;
		d->lookups = l->next;
		lookup_free(l);
	}
	vx6_idmap_free(&d->pending);
	free(d);
}

static uint64_t
wall(struct vx6_dht *d)
{
	return d->cbs->wall_time(d->ud);
}

static struct bucket *
bucket_for(struct vx6_dht *d, const uint8_t *id)
{
	return &d->buckets[common_prefix(d->self, id)];
}

static int
find_in(struct contact **arr, unsigned n, const uint8_t *id)
{
	for (unsigned i = 0; i < n; i++)
		if (memcmp(arr[i]->id, id, VX6_DHT_ID_LEN) == 0)
			return (int)i;
	return -1;
}

static void
remove_at(struct contact **arr, unsigned *n, unsigned i)
{
	memmove(&arr[i], &arr[i + 1], (*n - i - 1) * sizeof(arr[0]));
	(*n)--;
}

static int
set_record(struct contact *c, const uint8_t *rec, size_t len)
{
	uint8_t *copy;

	if (c->rec && c->len == len && memcmp(c->rec, rec, len) == 0)
		return 0;
	copy = malloc(len);
	if (copy == NULL)
		return VX6_ERR_NOMEM;
	memcpy(copy, rec, len);
	free(c->rec);
	c->rec = copy;
	c->len = (uint16_t)len;
	return 0;
}

static void replicate_to_new(struct vx6_dht *d, const struct contact *c, uint64_t now);

int
vx6_dht_add_contact(struct vx6_dht *d, const uint8_t *rec, size_t len, uint64_t now)
{
	uint8_t id[VX6_DHT_ID_LEN];
	uint64_t seq = 0;
	struct bucket *b;
	struct contact *c;
	int i, rc;

	if (len == 0 || len > VX6_DHT_MAX_CONTACT)
		return VX6_ERR_TOO_LARGE;
	rc = d->cbs->contact_id(d->ud, rec, len, wall(d), id, &seq);
	if (rc)
		return rc;
	if (memcmp(id, d->self, VX6_DHT_ID_LEN) == 0)
		return 0;
	b = bucket_for(d, id);
	if ((i = find_in(b->live, b->n, id)) >= 0) {
		c = b->live[i];
		remove_at(b->live, &b->n, (unsigned)i);
		b->live[b->n++] = c;            /* most recently seen goes last */
		c->last_seen = now;
		c->failures = 0;
		if (seq < c->seq)
			return 0;               /* an older record must not roll back an address */
		c->seq = seq;
		return set_record(c, rec, len);
	}
	if ((i = find_in(b->repl, b->nrepl, id)) >= 0) {
		c = b->repl[i];
		remove_at(b->repl, &b->nrepl, (unsigned)i);
		if (seq < c->seq) {     /* keep the newer record we had */
			rec = c->rec;
			len = c->len;
			seq = c->seq;
		}
	} else {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return VX6_ERR_NOMEM;
		memcpy(c->id, id, VX6_DHT_ID_LEN);
	}
	c->last_seen = now;
	c->failures = 0;
	c->seq = seq;
	if ((rc = set_record(c, rec, len)) != 0) {
		contact_free(c);
		return rc;
	}
	if (b->n < d->cfg.k) {
		b->live[b->n++] = c;
		d->st.contacts++;
		replicate_to_new(d, c, now);
		return 0;
	}
	/* Full: Kademlia keeps long-lived contacts; the newcomer waits. */
	if (b->nrepl == d->cfg.k) {
		contact_free(b->repl[0]);
		remove_at(b->repl, &b->nrepl, 0);
	}
	b->repl[b->nrepl++] = c;
	return 0;
}

static void
evict(struct vx6_dht *d, struct bucket *b, unsigned i)
{
	contact_free(b->live[i]);
	remove_at(b->live, &b->n, i);
	d->st.contacts--;
	if (b->nrepl > 0) {
		b->live[b->n++] = b->repl[--b->nrepl];
		d->st.contacts++;
	}
}

void
vx6_dht_contact_failed(struct vx6_dht *d, const uint8_t id[VX6_DHT_ID_LEN], uint64_t now)
{
	struct bucket *b = bucket_for(d, id);
	int i = find_in(b->live, b->n, id);

	(void)now;
	if (i < 0)
		return;
	if (++b->live[i]->failures >= FAILURES_TO_EVICT)
		evict(d, b, (unsigned)i);
}

void
vx6_dht_contact_gone(struct vx6_dht *d, const uint8_t id[VX6_DHT_ID_LEN])
{
	struct bucket *b = bucket_for(d, id);
	int i = find_in(b->live, b->n, id);

	if (i >= 0)
		evict(d, b, (unsigned)i);
}

/* Up to max live contacts closest to target (insertion into a sorted array). */
static unsigned
closest_contacts(struct vx6_dht *d, const uint8_t *target, unsigned max, struct contact **out)
{
	unsigned n = 0;

	if (max == 0)
		return 0;
	for (int b = 0; b < 257; b++) {
		for (unsigned i = 0; i < d->buckets[b].n; i++) {
			struct contact *c = d->buckets[b].live[i];
			unsigned j = n < max ? n : max;
			if (n == max && cmp_dist(c->id, out[max - 1]->id, target) >= 0)
				continue;
			while (j > 0 && cmp_dist(c->id, out[j - 1]->id, target) < 0) {
				if (j < max)
					out[j] = out[j - 1];
				j--;
			}
			out[j] = c;
			if (n < max)
				n++;
		}
	}
	return n;
}

unsigned
vx6_dht_closest(struct vx6_dht *d, const uint8_t target[VX6_DHT_ID_LEN], unsigned max,
    const uint8_t **contacts, size_t *lens)
{
	struct contact *out[VX6_DHT_K * 2];
	unsigned n;

	if (max > VX6_DHT_K * 2)
		max = VX6_DHT_K * 2;
	n = closest_contacts(d, target, max, out);
	for (unsigned i = 0; i < n; i++) {
		contacts[i] = out[i]->rec;
		lens[i] = out[i]->len;
	}
	return n;
}

static struct contact *
contact_get(struct vx6_dht *d, const uint8_t *id)
{
	struct bucket *b = bucket_for(d, id);
	int i = find_in(b->live, b->n, id);

	return i >= 0 ? b->live[i] : NULL;
}

/* --- store --- */

static struct kv *
kv_find(struct vx6_dht *d, const uint8_t *key)
{
	for (struct kv *kv = vx6_idmap_get(&d->store, id_key(key)); kv; kv = kv->next)
		if (memcmp(kv->key, key, VX6_DHT_ID_LEN) == 0)
			return kv;
	return NULL;
}

static struct kv *
kv_create(struct vx6_dht *d, const uint8_t *key)
{
	struct kv *kv = calloc(1, sizeof(*kv)), *head;

	if (kv == NULL)
		return NULL;
	memcpy(kv->key, key, VX6_DHT_ID_LEN);
	head = vx6_idmap_get(&d->store, id_key(key));
	kv->next = head;
	if (vx6_idmap_put(&d->store, id_key(key), kv) != 0) {
		free(kv);
		return NULL;
	}
	d->n_keys++;
	d->st.keys++;
	return kv;
}

static void
kv_remove(struct vx6_dht *d, struct kv *kv)
{
	struct kv *head = vx6_idmap_get(&d->store, id_key(kv->key)), **pp;

	for (pp = &head; *pp; pp = &(*pp)->next)
		if (*pp == kv) {
			*pp = kv->next;
			break;
		}
	if (head)
		vx6_idmap_put(&d->store, id_key(kv->key), head);
	else
		vx6_idmap_del(&d->store, id_key(kv->key));
	free(kv);
	d->n_keys--;
	d->st.keys--;
}

/* Admission: size, validity, a slot per signer, higher seq only. */
static int
store_local(struct vx6_dht *d, const uint8_t *key, const uint8_t *value, size_t len, uint64_t now)
{
	struct vx6_dht_value_info info;
	uint64_t w = wall(d);
	struct kv *kv;
	struct val *v = NULL;
	uint8_t *copy;

	if (len == 0 || len > VX6_DHT_MAX_VALUE)
		return VX6_DHT_STORE_REJECTED;
	if (d->cbs->validate(d->ud, key, value, len, w, &info) != 0)
		return VX6_DHT_STORE_REJECTED;
	kv = kv_find(d, key);
	if (kv) {
		for (unsigned i = 0; i < kv->n; i++)
			if (memcmp(kv->vals[i].signer, info.signer, 32) == 0)
				v = &kv->vals[i];
	}
	if (v) {
		if (info.seq < v->seq) {
			d->st.stale_rejected++;
			return VX6_DHT_STORE_STALE;
		}
		if (info.seq == v->seq) {
			if (v->len != len || memcmp(v->bytes, value, len) != 0) {
				d->st.stale_rejected++;
				return VX6_DHT_STORE_STALE;   /* one value per (signer, seq) */
			}
			v->touched = now;
			return VX6_DHT_STORE_OK;
		}
	} else {
		if (kv == NULL && d->n_keys >= d->cfg.max_keys)
			return VX6_DHT_STORE_FULL;
		if (kv && kv->n >= VX6_DHT_MAX_VALUES_PER_KEY)
			return VX6_DHT_STORE_FULL;
		if (kv == NULL && (kv = kv_create(d, key)) == NULL)
			return VX6_DHT_STORE_FULL;
		v = &kv->vals[kv->n++];
		memset(v, 0, sizeof(*v));
		d->st.values++;
	}
	copy = malloc(len);
	if (copy == NULL)
		return VX6_DHT_STORE_FULL;
	memcpy(copy, value, len);
	free(v->bytes);
	v->bytes = copy;
	v->len = (uint16_t)len;
	memcpy(v->signer, info.signer, 32);
	v->seq = info.seq;
	v->expires_at = info.expires_at < w + VALUE_MAX_TTL_S ? info.expires_at : w + VALUE_MAX_TTL_S;
	v->touched = now;
	return VX6_DHT_STORE_OK;
}

void
vx6_dht_local_get(struct vx6_dht *d, const uint8_t key[VX6_DHT_ID_LEN],
    void (*fn)(void *ud, const uint8_t *value, size_t len), void *ud)
{
	struct kv *kv = kv_find(d, key);
	uint64_t w = wall(d);

	for (unsigned i = 0; kv && i < kv->n; i++)
		if (kv->vals[i].expires_at > w)
			fn(ud, kv->vals[i].bytes, kv->vals[i].len);
}

/* Token bucket per authenticated source: a flood from one identity is
 * throttled without affecting others. */
static bool
take_token(struct vx6_dht *d, const uint8_t *from, uint64_t now)
{
	struct source *s, **pp, *oldest = NULL;

	for (s = d->sources; s; s = s->next)
		if (memcmp(s->id, from, VX6_DHT_ID_LEN) == 0)
			break;
	if (s == NULL) {
		if (d->n_sources >= MAX_SOURCES) {
			/* Recycle the entry idle the longest. */
			for (s = d->sources; s; s = s->next)
				if (oldest == NULL || s->refilled < oldest->refilled)
					oldest = s;
			for (pp = &d->sources; *pp; pp = &(*pp)->next)
				if (*pp == oldest) {
					*pp = oldest->next;
					break;
				}
			s = oldest;
			d->n_sources--;
		} else {
			s = malloc(sizeof(*s));
			if (s == NULL)
				return false;
		}
		memcpy(s->id, from, VX6_DHT_ID_LEN);
		s->tokens = d->cfg.store_burst;
		s->refilled = now;
		s->next = d->sources;
		d->sources = s;
		d->n_sources++;
	}
	if (now > s->refilled) {
		s->tokens += (double)(now - s->refilled) / (double)d->cfg.store_refill;
		if (s->tokens > d->cfg.store_burst)
			s->tokens = d->cfg.store_burst;
		s->refilled = now;
	}
	if (s->tokens < 1.0)
		return false;
	s->tokens -= 1.0;
	return true;
}

/* --- messages --- */

static void
msg_header(struct vx6_writer *w, uint8_t kind, uint32_t txid)
{
	vx6_write_u8(w, RPC_VERSION);
	vx6_write_u8(w, kind);
	vx6_write_u32(w, txid);
}

/* Writes up to k contacts closest to target, as many as fit. */
static void
write_contacts(struct vx6_dht *d, struct vx6_writer *w, const uint8_t *target, const uint8_t *skip)
{
	struct contact *out[VX6_DHT_K + 1];
	/* One extra: the asker may be among the closest and is skipped. */
	unsigned n = closest_contacts(d, target, d->cfg.k + 1, out), count = 0;
	size_t count_at = w->off;

	vx6_write_u8(w, 0);
	for (unsigned i = 0; i < n && count < d->cfg.k; i++) {
		if (skip && memcmp(out[i]->id, skip, VX6_DHT_ID_LEN) == 0)
			continue;
		if (w->cap - w->off < 2u + out[i]->len)
			break;
		vx6_write_u16(w, out[i]->len);
		vx6_write_bytes(w, out[i]->rec, out[i]->len);
		count++;
	}
	if (!w->err)
		w->p[count_at] = (uint8_t)count;
}

static void
send_to(struct vx6_dht *d, const uint8_t *id, const uint8_t *rec, size_t len, const uint8_t *msg,
    size_t mlen)
{
	d->st.rpcs_out++;
	d->cbs->send(d->ud, id, rec, len, msg, mlen);
}

static void
reply(struct vx6_dht *d, const uint8_t *to, const uint8_t *msg, size_t len)
{
	struct contact *c = contact_get(d, to);

	/* The sender has a session with us; its record may not be in our table
	 * (bucket full): the caller routes replies by id. */
	send_to(d, to, c ? c->rec : NULL, c ? c->len : 0, msg, len);
}

static void
handle_request(struct vx6_dht *d, const uint8_t *from, uint8_t kind, uint32_t txid,
    struct vx6_reader *r, uint64_t now)
{
	uint8_t *out = malloc(VX6_DHT_MAX_MSG);
	struct vx6_writer w;
	uint8_t key[VX6_DHT_ID_LEN];
	const uint8_t *value;
	uint16_t vlen;
	int code;

	if (out == NULL)
		return;
	vx6_read_bytes(r, key, VX6_DHT_ID_LEN);
	vx6_writer_init(&w, out, VX6_DHT_MAX_MSG);
	switch (kind) {
	case VX6_DHT_FIND_NODE:
		if (vx6_reader_finish(r) != 0)
			goto bad;
		msg_header(&w, VX6_DHT_NODES, txid);
		write_contacts(d, &w, key, from);
		break;
	case VX6_DHT_FIND_VALUE: {
		struct kv *kv;
		uint64_t wnow = wall(d);
		unsigned count = 0;
		size_t count_at;
		if (vx6_reader_finish(r) != 0)
			goto bad;
		msg_header(&w, VX6_DHT_VALUES, txid);
		count_at = w.off;
		vx6_write_u8(&w, 0);
		kv = kv_find(d, key);
		for (unsigned i = 0; kv && i < kv->n; i++) {
			struct val *v = &kv->vals[i];
			if (v->expires_at <= wnow || w.cap - w.off < 2u + v->len + 4096u)
				continue;
			vx6_write_u16(&w, v->len);
			vx6_write_bytes(&w, v->bytes, v->len);
			count++;
		}
		out[count_at] = (uint8_t)count;
		write_contacts(d, &w, key, from);
		break;
	}
	case VX6_DHT_STORE:
		vlen = vx6_read_u16(r);
		value = vlen <= VX6_DHT_MAX_VALUE ? vx6_read_ptr(r, vlen) : NULL;
		if (value == NULL || vx6_reader_finish(r) != 0)
			goto bad;
		if (!take_token(d, from, now)) {
			code = VX6_DHT_STORE_THROTTLED;
			d->st.stores_throttled++;
		} else {
			code = store_local(d, key, value, vlen, now);
			if (code == VX6_DHT_STORE_OK)
				d->st.stores_accepted++;
			else
				d->st.stores_rejected++;
		}
		msg_header(&w, VX6_DHT_STORED, txid);
		vx6_write_u8(&w, (uint8_t)code);
		break;
	default:
		goto bad;
	}
	if (w.err == 0)
		reply(d, from, out, w.off);
	free(out);
	return;
bad:
	d->st.bad_messages++;
	free(out);
}

/* --- lookups --- */

static void lookup_advance(struct vx6_dht *d, struct lookup *l, uint64_t now);

static uint32_t
new_txid(struct vx6_dht *d)
{
	uint32_t t;

	do {
		vx6_env_random(d->env, &t, sizeof(t));
	} while (t == 0 || vx6_idmap_get(&d->pending, t) != NULL);
	return t;
}

/* Inserts a candidate in distance order; keeps at most MAX_CANDIDATES. */
static void
cand_add(struct vx6_dht *d, struct lookup *l, const uint8_t *id, const uint8_t *rec, size_t len,
    unsigned hop)
{
	unsigned i, pos;
	uint8_t *copy;

	if (memcmp(id, d->self, VX6_DHT_ID_LEN) == 0)
		return;
	for (i = 0; i < l->n; i++)
		if (memcmp(l->cand[i].id, id, VX6_DHT_ID_LEN) == 0)
			return;
	for (pos = 0; pos < l->n; pos++)
		if (cmp_dist(id, l->cand[pos].id, l->key) < 0)
			break;
	if (pos == MAX_CANDIDATES)
		return;
	if (l->n == MAX_CANDIDATES) {
		struct cand *last = &l->cand[MAX_CANDIDATES - 1];
		if (last->state == C_INFLIGHT)
			return;   /* do not drop a request we still wait for */
		free(last->rec);
		l->n--;
	}
	copy = malloc(len);
	if (copy == NULL)
		return;
	memcpy(copy, rec, len);
	memmove(&l->cand[pos + 1], &l->cand[pos], (l->n - pos) * sizeof(l->cand[0]));
	memset(&l->cand[pos], 0, sizeof(l->cand[0]));
	memcpy(l->cand[pos].id, id, VX6_DHT_ID_LEN);
	l->cand[pos].rec = copy;
	l->cand[pos].len = (uint16_t)len;
	l->cand[pos].hop = (uint8_t)(hop > 255 ? 255 : hop);
	l->cand[pos].state = C_NEW;
	l->n++;
}

static struct cand *
cand_by_txid(struct lookup *l, uint32_t txid)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->cand[i].state == C_INFLIGHT && l->cand[i].txid == txid)
			return &l->cand[i];
	return NULL;
}

static void
send_request(struct vx6_dht *d, struct lookup *l, struct cand *c, uint8_t kind, uint64_t now)
{
	uint8_t msg[16 + VX6_DHT_ID_LEN + VX6_DHT_MAX_VALUE];
	struct vx6_writer w;

	c->txid = new_txid(d);
	if (vx6_idmap_put(&d->pending, c->txid, l) != 0) {
		c->state = C_FAILED;
		return;
	}
	vx6_writer_init(&w, msg, sizeof(msg));
	msg_header(&w, kind, c->txid);
	vx6_write_bytes(&w, l->key, VX6_DHT_ID_LEN);
	if (kind == VX6_DHT_STORE) {
		vx6_write_u16(&w, l->store_len);
		vx6_write_bytes(&w, l->store_val, l->store_len);
	}
	c->state = C_INFLIGHT;
	c->deadline = now + d->cfg.rpc_timeout;
	l->inflight++;
	l->messages++;
	send_to(d, c->id, c->rec, c->len, msg, w.off);
}

static void
finish_lookup(struct vx6_dht *d, struct lookup *l)
{
	struct vx6_dht_result *res;
	struct lookup **pp;

	l->phase = P_DONE;
	for (unsigned i = 0; i < l->n; i++)
		if (l->cand[i].state == C_INFLIGHT)
			vx6_idmap_del(&d->pending, l->cand[i].txid);
	for (pp = &d->lookups; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	d->n_lookups--;
	d->st.lookups_active = d->n_lookups;
	if (!l->internal && d->cbs->lookup_done && (res = calloc(1, sizeof(*res))) != NULL) {
		unsigned closest_hop = 0;
		res->messages = l->messages;
		res->stored = l->stored;
		for (unsigned i = 0; i < l->n && res->n_closest < d->cfg.k; i++)
			if (l->cand[i].state == C_ANSWERED) {
				if (res->n_closest == 0)
					closest_hop = l->cand[i].hop;   /* rounds to reach the closest */
				memcpy(res->closest[res->n_closest++], l->cand[i].id, VX6_DHT_ID_LEN);
			}
		for (unsigned i = 0; i < l->n_found; i++) {
			struct vx6_dht_found *f = &res->values[res->n_values++];
			f->value = l->found[i].bytes;
			f->len = l->found[i].len;
			f->info = l->found[i].info;
			f->holders = l->found[i].holders;
			memcpy(f->holder_ids, l->found[i].holder_ids, sizeof(f->holder_ids));
		}
		res->hops = l->n_found ? l->value_hop : closest_hop;
		if (l->is_store)
			res->status = l->stored > 0 ? 0 : VX6_ERR_UNREACHABLE;
		else if (l->want_value)
			res->status = l->n_found ? 0 : VX6_ERR_NOT_FOUND;
		else
			res->status = res->n_closest ? 0 : VX6_ERR_UNREACHABLE;
		d->cbs->lookup_done(d->ud, l->id, res);
		free(res);
	}
	lookup_free(l);
}

/* Records a validated value returned by a holder. */
static void
found_value(struct vx6_dht *d, struct lookup *l, const uint8_t *holder, const uint8_t *v, size_t len,
    unsigned hop)
{
	struct vx6_dht_value_info info;
	struct found *f = NULL;

	if (d->cbs->validate(d->ud, l->key, v, len, wall(d), &info) != 0)
		return;   /* a holder served something invalid: ignore it */
	for (unsigned i = 0; i < l->n_found; i++)
		if (l->found[i].len == len && memcmp(l->found[i].bytes, v, len) == 0)
			f = &l->found[i];
	if (f == NULL) {
		/* Same signer with another seq: keep the newest only. */
		for (unsigned i = 0; i < l->n_found; i++)
			if (memcmp(l->found[i].info.signer, info.signer, 32) == 0) {
				if (l->found[i].info.seq >= info.seq)
					return;
				free(l->found[i].bytes);
				l->found[i] = l->found[--l->n_found];
			}
		if (l->n_found == VX6_DHT_MAX_RESULT_VALUES)
			return;
		f = &l->found[l->n_found];
		memset(f, 0, sizeof(*f));
		f->bytes = malloc(len);
		if (f->bytes == NULL)
			return;
		memcpy(f->bytes, v, len);
		f->len = (uint16_t)len;
		f->info = info;
		l->n_found++;
		if (l->n_found == 1)
			l->value_hop = hop;
	}
	for (unsigned i = 0; i < f->holders && i < VX6_DHT_MAX_HOLDERS; i++)
		if (memcmp(f->holder_ids[i], holder, VX6_DHT_ID_LEN) == 0)
			return;
	if (f->holders < VX6_DHT_MAX_HOLDERS)
		memcpy(f->holder_ids[f->holders], holder, VX6_DHT_ID_LEN);
	f->holders++;
}

static void
read_contacts(struct vx6_dht *d, struct lookup *l, struct vx6_reader *r, unsigned hop, uint64_t now)
{
	uint8_t count = vx6_read_u8(r), id[VX6_DHT_ID_LEN];

	for (unsigned i = 0; i < count && !r->err; i++) {
		uint16_t len = vx6_read_u16(r);
		const uint8_t *rec = len <= VX6_DHT_MAX_CONTACT ? vx6_read_ptr(r, len) : NULL;
		if (rec == NULL) {
			r->err = VX6_ERR_MALFORMED;
			return;
		}
		if (d->cbs->contact_id(d->ud, rec, len, wall(d), id, NULL) != 0)
			continue;   /* unverifiable contact: skip, keep the rest */
		if (l)
			cand_add(d, l, id, rec, len, hop);
	}
	(void)now;
}

static void
handle_response(struct vx6_dht *d, const uint8_t *from, uint8_t kind, uint32_t txid,
    struct vx6_reader *r, uint64_t now)
{
	struct lookup *l = vx6_idmap_get(&d->pending, txid);
	struct cand *c = l ? cand_by_txid(l, txid) : NULL;
	unsigned hop;

	if (c == NULL) {
		/* Not pending: an answer after the lookup ended, to a replication
		 * STORE, or a replay. Dropped, counted apart from bad input. */
		d->st.late_responses++;
		return;
	}
	if (memcmp(c->id, from, VX6_DHT_ID_LEN) != 0) {
		d->st.bad_messages++;     /* a node answering for another */
		return;
	}
	vx6_idmap_del(&d->pending, txid);
	l->inflight--;
	hop = c->hop;
	/* c may move as candidates are inserted: finish with it first. */
	c->state = C_ANSWERED;
	if (c->rec)
		(void)vx6_dht_add_contact(d, c->rec, c->len, now);   /* it answered: it is live */
	switch (kind) {
	case VX6_DHT_NODES:
		read_contacts(d, l, r, hop + 1, now);
		break;
	case VX6_DHT_VALUES: {
		uint8_t count = vx6_read_u8(r);
		for (unsigned i = 0; i < count && !r->err; i++) {
			uint16_t len = vx6_read_u16(r);
			const uint8_t *v = len <= VX6_DHT_MAX_VALUE ? vx6_read_ptr(r, len) : NULL;
			if (v == NULL)
				r->err = VX6_ERR_MALFORMED;
			else
				found_value(d, l, from, v, len, hop);
		}
		read_contacts(d, l, r, hop + 1, now);
		break;
	}
	case VX6_DHT_STORED: {
		uint8_t code = vx6_read_u8(r);
		if (!r->err && code == VX6_DHT_STORE_OK)
			l->stored++;
		break;
	}
	default:
		r->err = VX6_ERR_MALFORMED;
	}
	if (vx6_reader_finish(r) != 0)
		d->st.bad_messages++;
	lookup_advance(d, l, now);
}

void
vx6_dht_recv(struct vx6_dht *d, const uint8_t from[VX6_DHT_ID_LEN], const uint8_t *msg, size_t len,
    uint64_t now)
{
	struct vx6_reader r;
	uint8_t version, kind;
	uint32_t txid;

	d->st.rpcs_in++;
	if (len > VX6_DHT_MAX_MSG) {
		d->st.bad_messages++;
		return;
	}
	vx6_reader_init(&r, msg, len);
	version = vx6_read_u8(&r);
	kind = vx6_read_u8(&r);
	txid = vx6_read_u32(&r);
	if (r.err || version != RPC_VERSION || txid == 0) {
		d->st.bad_messages++;
		return;
	}
	if (kind & 0x80)
		handle_response(d, from, kind, txid, &r, now);
	else
		handle_request(d, from, kind, txid, &r, now);
}

static bool
lookup_converged(struct vx6_dht *d, struct lookup *l)
{
	unsigned seen = 0;

	/* Done when the k closest candidates that did not fail have answered. */
	for (unsigned i = 0; i < l->n && seen < d->cfg.k; i++) {
		if (l->cand[i].state == C_FAILED)
			continue;
		if (l->cand[i].state != C_ANSWERED)
			return false;
		seen++;
	}
	return true;
}

/* Sends STORE to the `replication` closest nodes that answered, and keeps a
 * copy here when this node is closer than the farthest of them. */
static void
start_store_phase(struct vx6_dht *d, struct lookup *l, uint64_t now)
{
	const uint8_t *farthest = NULL;
	unsigned sent = 0;

	l->phase = P_STORE;
	for (unsigned i = 0; i < l->n && sent < d->cfg.replication; i++) {
		struct cand *c = &l->cand[i];
		if (c->state != C_ANSWERED)
			continue;
		farthest = c->id;
		send_request(d, l, c, VX6_DHT_STORE, now);
		sent++;
	}
	if ((sent < d->cfg.replication || cmp_dist(d->self, farthest, l->key) < 0) &&
	    store_local(d, l->key, l->store_val, l->store_len, now) == VX6_DHT_STORE_OK)
		l->stored++;
}

static void
lookup_advance(struct vx6_dht *d, struct lookup *l, uint64_t now)
{
	if (l->phase == P_STORE) {
		if (l->inflight == 0)
			finish_lookup(d, l);
		return;
	}
	if (l->want_value && l->n_found > 0) {
		unsigned best = 0;
		for (unsigned i = 0; i < l->n_found; i++)
			if (l->found[i].holders > best)
				best = l->found[i].holders;
		/* Two holders confirm a value (a local copy counts as one); with
		 * fewer, keep asking until nothing closer is left. */
		if (best >= 2) {
			finish_lookup(d, l);
			return;
		}
	}
	if (lookup_converged(d, l)) {
		if (l->inflight > 0)
			return;
		if (l->is_store)
			start_store_phase(d, l, now);
		if (l->phase != P_STORE || l->inflight == 0)
			finish_lookup(d, l);
		return;
	}
	/* Keep alpha requests in flight among the closest not yet asked. */
	for (unsigned i = 0; i < l->n && l->inflight < d->cfg.alpha; i++) {
		if (l->cand[i].state != C_NEW)
			continue;
		/* Only the k closest non-failed candidates are worth asking. */
		unsigned rank = 0;
		for (unsigned j = 0; j < i; j++)
			if (l->cand[j].state != C_FAILED)
				rank++;
		if (rank >= d->cfg.k)
			break;
		send_request(d, l, &l->cand[i], l->want_value ? VX6_DHT_FIND_VALUE : VX6_DHT_FIND_NODE, now);
	}
	if (l->inflight == 0)
		finish_lookup(d, l);
}

static struct lookup *
lookup_begin(struct vx6_dht *d, const uint8_t *key, bool want_value, uint64_t now)
{
	struct contact *seed[VX6_DHT_K];
	struct lookup *l;
	unsigned n;

	if (d->n_lookups >= d->cfg.max_lookups)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->id = d->next_lookup_id++;
	memcpy(l->key, key, VX6_DHT_ID_LEN);
	l->want_value = want_value;
	l->next = d->lookups;
	d->lookups = l;
	d->n_lookups++;
	d->st.lookups_active = d->n_lookups;
	n = closest_contacts(d, key, d->cfg.k, seed);
	for (unsigned i = 0; i < n; i++)
		cand_add(d, l, seed[i]->id, seed[i]->rec, seed[i]->len, 1);
	d->buckets[common_prefix(d->self, key)].last_lookup = now;
	return l;
}

uint64_t
vx6_dht_lookup(struct vx6_dht *d, const uint8_t key[VX6_DHT_ID_LEN], bool want_value, uint64_t now)
{
	struct lookup *l = lookup_begin(d, key, want_value, now);
	uint64_t id;

	if (l == NULL)
		return 0;
	id = l->id;
	/* A holder that is us answers from the local store first. */
	if (want_value) {
		struct kv *kv = kv_find(d, key);
		for (unsigned i = 0; kv && i < kv->n; i++)
			if (kv->vals[i].expires_at > wall(d))
				found_value(d, l, d->self, kv->vals[i].bytes, kv->vals[i].len, 0);
	}
	/* Started from vx6_dht_handle_expiry, so lookup_done never runs before
	 * the caller has the id. */
	l->kick = true;
	d->kick = true;
	(void)now;
	return id;
}

uint64_t
vx6_dht_store(struct vx6_dht *d, const uint8_t key[VX6_DHT_ID_LEN], const uint8_t *value, size_t len,
    uint64_t now)
{
	struct vx6_dht_value_info info;
	struct lookup *l;
	uint64_t id;

	if (len == 0 || len > VX6_DHT_MAX_VALUE ||
	    d->cbs->validate(d->ud, key, value, len, wall(d), &info) != 0)
		return 0;
	l = lookup_begin(d, key, false, now);
	if (l == NULL)
		return 0;
	l->is_store = true;
	l->store_val = malloc(len);
	if (l->store_val == NULL) {
		finish_lookup(d, l);
		return 0;
	}
	memcpy(l->store_val, value, len);
	l->store_len = (uint16_t)len;
	id = l->id;
	l->kick = true;
	d->kick = true;
	return id;
}

/* A new contact closer to some of our keys than we are gets a copy, so
 * replicas follow the responsible set as nodes join. */
static void
replicate_to_new(struct vx6_dht *d, const struct contact *c, uint64_t now)
{
	uint8_t msg[16 + VX6_DHT_ID_LEN + VX6_DHT_MAX_VALUE];
	struct vx6_writer w;
	size_t pos = 0;
	struct kv *kv;
	unsigned sent = 0;
	uint64_t wnow = wall(d);

	(void)now;
	while ((kv = vx6_idmap_next(&d->store, &pos, NULL)) != NULL && sent < REPLICATE_ON_JOIN_MAX) {
		for (; kv && sent < REPLICATE_ON_JOIN_MAX; kv = kv->next) {
			if (cmp_dist(c->id, d->self, kv->key) >= 0)
				continue;   /* not closer to the key than we are */
			for (unsigned i = 0; i < kv->n && sent < REPLICATE_ON_JOIN_MAX; i++) {
				if (kv->vals[i].expires_at <= wnow)
					continue;
				vx6_writer_init(&w, msg, sizeof(msg));
				msg_header(&w, VX6_DHT_STORE, new_txid(d));
				vx6_write_bytes(&w, kv->key, VX6_DHT_ID_LEN);
				vx6_write_u16(&w, kv->vals[i].len);
				vx6_write_bytes(&w, kv->vals[i].bytes, kv->vals[i].len);
				send_to(d, c->id, c->rec, c->len, msg, w.off);
				sent++;
			}
		}
	}
}

uint64_t
vx6_dht_expiry(const struct vx6_dht *d)
{
	uint64_t e = d->next_maintenance;

	if (d->kick)
		return 0;
	for (const struct lookup *l = d->lookups; l; l = l->next)
		for (unsigned i = 0; i < l->n; i++)
			if (l->cand[i].state == C_INFLIGHT && l->cand[i].deadline < e)
				e = l->cand[i].deadline;
	return e;
}

static void
maintenance(struct vx6_dht *d, uint64_t now)
{
	uint64_t wnow = wall(d);
	size_t pos = 0;
	struct kv *kv, *next;
	unsigned republished = 0;
	int top = 0;

	/* Expire values; republish what nobody refreshed for an interval. */
	while ((kv = vx6_idmap_next(&d->store, &pos, NULL)) != NULL) {
		for (; kv; kv = next) {
			next = kv->next;
			for (unsigned i = 0; i < kv->n;) {
				struct val *v = &kv->vals[i];
				if (v->expires_at <= wnow) {
					free(v->bytes);
					kv->vals[i] = kv->vals[--kv->n];
					d->st.values--;
					continue;
				}
				if (now - v->touched >= d->cfg.republish_interval && republished < 8 &&
				    d->n_lookups < d->cfg.max_lookups / 2) {
					uint8_t key[VX6_DHT_ID_LEN];
					memcpy(key, kv->key, VX6_DHT_ID_LEN);
					v->touched = now;
					republished++;
					uint64_t id = vx6_dht_store(d, key, v->bytes, v->len, now);
					for (struct lookup *l = d->lookups; l; l = l->next)
						if (l->id == id)
							l->internal = true;
				}
				i++;
			}
			if (kv->n == 0)
				kv_remove(d, kv);
		}
	}
	/* Refresh buckets that saw no lookup for a while (up to the deepest used). */
	for (int b = 0; b < 257; b++)
		if (d->buckets[b].n)
			top = b;
	for (int b = 0; b <= top && b < 256; b++) {
		if (now - d->buckets[b].last_lookup < d->cfg.refresh_interval ||
		    d->n_lookups >= d->cfg.max_lookups / 2)
			continue;
		uint8_t target[VX6_DHT_ID_LEN];
		struct lookup *l;
		vx6_env_random(d->env, target, sizeof(target));
		/* Keep the first b bits of ours, flip bit b: an id in bucket b. */
		for (int bit = 0; bit <= b; bit++) {
			uint8_t mask = (uint8_t)(0x80 >> (bit % 8));
			uint8_t want = (uint8_t)((d->self[bit / 8] & mask) ^ (bit == b ? mask : 0));
			target[bit / 8] = (uint8_t)((target[bit / 8] & ~mask) | want);
		}
		l = lookup_begin(d, target, false, now);
		if (l) {
			l->internal = true;
			lookup_advance(d, l, now);
		}
	}
}

void
vx6_dht_handle_expiry(struct vx6_dht *d, uint64_t now)
{
	struct lookup *l, *next;

	if (d->next_maintenance == 0) {
		/* First call: buckets count as fresh now, not since the epoch. */
		for (int b = 0; b < 257; b++)
			d->buckets[b].last_lookup = now;
	}
	if (d->kick) {
		d->kick = false;
		for (l = d->lookups; l; l = next) {
			next = l->next;
			if (l->kick) {
				l->kick = false;
				lookup_advance(d, l, now);   /* may free l */
			}
		}
	}
	for (l = d->lookups; l; l = next) {
		next = l->next;
		bool changed = false;
		for (unsigned i = 0; i < l->n; i++) {
			struct cand *c = &l->cand[i];
			if (c->state == C_INFLIGHT && c->deadline <= now) {
				vx6_idmap_del(&d->pending, c->txid);
				c->state = C_FAILED;
				l->inflight--;
				d->st.rpc_timeouts++;
				vx6_dht_contact_failed(d, c->id, now);
				changed = true;
			}
		}
		if (changed)
			lookup_advance(d, l, now);   /* may free l */
	}
	if (now >= d->next_maintenance) {
		if (d->next_maintenance != 0)
			maintenance(d, now);
		d->next_maintenance = now + MAINTENANCE_NS;
	}
}

void
vx6_dht_stats(const struct vx6_dht *d, struct vx6_dht_stats *st)
{
	*st = d->st;
}
