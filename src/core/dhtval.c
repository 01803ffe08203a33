#include "core/dhtval.h"

#include <sodium.h>
#include <string.h>

#include "lib/err.h"

static void
hash_key(const char *label, const char *a, const char *sep, const char *b, uint8_t key[VX6_DHT_ID_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, VX6_DHT_ID_LEN);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(&st, (const uint8_t *)a, strlen(a));
	if (sep)
		crypto_generichash_update(&st, (const uint8_t *)sep, strlen(sep));
	if (b)
		crypto_generichash_update(&st, (const uint8_t *)b, strlen(b));
	crypto_generichash_final(&st, key, VX6_DHT_ID_LEN);
}

void
vx6_dhtkey_node_name(const char *name, uint8_t key[VX6_DHT_ID_LEN])
{
	hash_key("vx6/dht/name/v1", name, NULL, NULL, key);
}

void
vx6_dhtkey_service(const char *node, const char *service, uint8_t key[VX6_DHT_ID_LEN])
{
	hash_key("vx6/dht/service/v1", node, ".", service, key);
}

/* Verifies a record once; later calls with the same bytes hit the cache. */
static int
check_record(struct vx6_dhtval_cache *cache, const uint8_t *value, size_t len, uint64_t now,
    uint8_t *type, uint8_t id[VX6_DHT_ID_LEN], uint8_t signer[32], uint8_t name_key[VX6_DHT_ID_LEN],
    uint64_t *seq, uint64_t *expires)
{
	uint8_t digest[16];
	unsigned slot = 0;
	int t, rc;

	if (cache) {
		crypto_generichash(digest, sizeof(digest), value, len, NULL, 0);
		slot = (unsigned)(digest[0] | digest[1] << 8) % VX6_DHTVAL_CACHE;
		if (cache->slot[slot].valid && memcmp(cache->slot[slot].digest, digest, 16) == 0) {
			cache->hits++;
			if (cache->slot[slot].issued > now + VX6_RECORD_MAX_SKEW_S ||
			    cache->slot[slot].expires <= now)
				return VX6_ERR_TIMEOUT;
			*type = cache->slot[slot].type;
			memcpy(id, cache->slot[slot].id_or_key, VX6_DHT_ID_LEN);
			memcpy(signer, cache->slot[slot].signer, 32);
			memcpy(name_key, cache->slot[slot].name_key, VX6_DHT_ID_LEN);
			*seq = cache->slot[slot].seq;
			*expires = cache->slot[slot].expires;
			return 0;
		}
		cache->misses++;
	}
	t = vx6_record_peek_type(value, len);
	if (t == VX6_RECORD_NODE) {
		struct vx6_node_record r;
		if ((rc = vx6_node_record_decode(&r, value, len, now)) != 0)
			return rc;
		memcpy(id, r.node_id, VX6_DHT_ID_LEN);
		memcpy(signer, r.key, 32);
		vx6_dhtkey_node_name(r.name, name_key);
		*seq = r.seq;
		*expires = r.expires_at;
		if (r.n_addrs == 0)
			t = -VX6_RECORD_NODE;   /* valid, but not usable as a contact */
		if (cache) {
			memcpy(cache->slot[slot].digest, digest, 16);
			cache->slot[slot].issued = r.issued_at;
		}
	} else if (t == VX6_RECORD_SERVICE) {
		struct vx6_service_record r;
		if ((rc = vx6_service_record_decode(&r, value, len, now)) != 0)
			return rc;
		vx6_dhtkey_service(r.node_name, r.service, id);   /* the only key it may live under */
		memcpy(signer, r.owner_key, 32);
		memcpy(name_key, id, VX6_DHT_ID_LEN);
		*seq = r.seq;
		*expires = r.expires_at;
		if (cache) {
			memcpy(cache->slot[slot].digest, digest, 16);
			cache->slot[slot].issued = r.issued_at;
		}
	} else if (t == VX6_RECORD_CATALOG) {
		struct vx6_catalog_record r;
		if ((rc = vx6_catalog_record_decode(&r, value, len, now)) != 0)
			return rc;
		/* Holders cannot derive the slot (the reader is secret): the owner
		 * signed the slot, and per-signer slots keep others' junk apart. */
		memcpy(id, r.slot, VX6_DHT_ID_LEN);
		memcpy(signer, r.owner_key, 32);
		memcpy(name_key, r.slot, VX6_DHT_ID_LEN);
		*seq = r.seq;
		*expires = r.expires_at;
		if (cache) {
			memcpy(cache->slot[slot].digest, digest, 16);
			cache->slot[slot].issued = r.issued_at;
		}
	} else {
		return t < 0 ? t : VX6_ERR_MALFORMED;
	}
	if (cache) {
		cache->slot[slot].type = (uint8_t)(t < 0 ? 0 : t);
		memcpy(cache->slot[slot].id_or_key, id, VX6_DHT_ID_LEN);
		memcpy(cache->slot[slot].signer, signer, 32);
		memcpy(cache->slot[slot].name_key, name_key, VX6_DHT_ID_LEN);
		cache->slot[slot].seq = *seq;
		cache->slot[slot].expires = *expires;
		cache->slot[slot].valid = 1;
	}
	*type = (uint8_t)(t < 0 ? 0 : t);
	return 0;
}

void
vx6_dhtkey_catalog(const uint8_t owner[32], const uint8_t reader[32], uint8_t key[VX6_DHT_ID_LEN])
{
	static const char label[] = "vx6/dht/catalog/v1";
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, VX6_DHT_ID_LEN);
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label) - 1);
	crypto_generichash_update(&st, owner, 32);
	crypto_generichash_update(&st, reader, 32);
	crypto_generichash_final(&st, key, VX6_DHT_ID_LEN);
}

int
vx6_dhtval_validate(void *ud, const uint8_t key[VX6_DHT_ID_LEN], const uint8_t *value, size_t len,
    uint64_t now_wall, struct vx6_dht_value_info *info)
{
	uint8_t type, id[VX6_DHT_ID_LEN], name_key[VX6_DHT_ID_LEN];
	int rc;

	rc = check_record(ud, value, len, now_wall, &type, id, info->signer, name_key, &info->seq,
	    &info->expires_at);
	if (rc)
		return rc;
	if (type == VX6_RECORD_SERVICE || type == VX6_RECORD_CATALOG)
		return memcmp(key, id, VX6_DHT_ID_LEN) == 0 ? 0 : VX6_ERR_PERM;
	/* A node record lives under its id, or under its name (any type 0 here
	 * is a node record without addresses: still a valid name claim). */
	if (memcmp(key, id, VX6_DHT_ID_LEN) == 0 || memcmp(key, name_key, VX6_DHT_ID_LEN) == 0)
		return 0;
	return VX6_ERR_PERM;
}

int
vx6_dhtval_contact_id(void *ud, const uint8_t *contact, size_t len, uint64_t now_wall,
    uint8_t id[VX6_DHT_ID_LEN], uint64_t *seq_out)
{
	uint8_t type, signer[32], name_key[VX6_DHT_ID_LEN];
	uint64_t seq, expires;
	int rc;

	if (vx6_record_peek_type(contact, len) != VX6_RECORD_NODE)
		return VX6_ERR_MALFORMED;
	rc = check_record(ud, contact, len, now_wall, &type, id, signer, name_key, &seq, &expires);
	if (rc)
		return rc;
	if (seq_out)
		*seq_out = seq;
	return type == VX6_RECORD_NODE ? 0 : VX6_ERR_MALFORMED;   /* must have an address */
}
