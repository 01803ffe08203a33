#include "core/record.h"

#include <sodium.h>
#include <string.h>

#include "lib/cursor.h"
#include "lib/err.h"

#define HEADER_LEN 6   /* magic, version, type */

static void
write_header(struct vx6_writer *w, uint8_t type)
{
	vx6_write_bytes(w, VX6_RECORD_MAGIC, 4);
	vx6_write_u8(w, VX6_RECORD_VERSION);
	vx6_write_u8(w, type);
}

static void
write_label(struct vx6_writer *w, const char *s)
{
	size_t n = strlen(s);

	vx6_write_u8(w, (uint8_t)n);
	vx6_write_bytes(w, s, n);
}

static bool
read_label(struct vx6_reader *r, char out[VX6_NAME_BUF])
{
	uint8_t n = vx6_read_u8(r);
	const uint8_t *p;

	if (n == 0 || n > VX6_NAME_MAX)
		return false;
	p = vx6_read_ptr(r, n);
	if (p == NULL || !vx6_name_valid_n((const char *)p, n))
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static int
node_body(const struct vx6_node_record *r, struct vx6_writer *w)
{
	if (!vx6_name_valid(r->name) || r->n_addrs > VX6_RECORD_MAX_ADDRS ||
	    (r->flags & ~VX6_NODE_FLAG_RELAY))
		return VX6_ERR_INVAL;   /* never sign what every decoder rejects */
	write_header(w, VX6_RECORD_NODE);
	vx6_write_bytes(w, r->key, VX6_KEY_LEN);
	vx6_write_bytes(w, r->node_id, VX6_NODE_ID_LEN);
	write_label(w, r->name);
	vx6_write_u8(w, r->flags);
	vx6_write_u8(w, r->n_addrs);
	for (uint8_t i = 0; i < r->n_addrs; i++) {
		const struct vx6_addr *a = &r->addrs[i];
		if ((a->family != 4 && a->family != 6) || a->transport > VX6_TRANSPORT_QUIC || a->port == 0)
			return VX6_ERR_INVAL;
		vx6_write_u8(w, a->transport);
		vx6_write_u8(w, a->family);
		vx6_write_bytes(w, a->ip, a->family == 4 ? 4 : 16);
		vx6_write_u16(w, a->port);
	}
	vx6_write_u64(w, r->seq);
	vx6_write_u64(w, r->issued_at);
	vx6_write_u64(w, r->expires_at);
	return w->err;
}

static int
service_body(const struct vx6_service_record *r, struct vx6_writer *w)
{
	if (!vx6_name_valid(r->node_name) || !vx6_name_valid(r->service) ||
	    r->visibility > VX6_VISIBILITY_PRIVATE)
		return VX6_ERR_INVAL;
	write_header(w, VX6_RECORD_SERVICE);
	vx6_write_bytes(w, r->owner_key, VX6_KEY_LEN);
	write_label(w, r->node_name);
	write_label(w, r->service);
	vx6_write_u8(w, r->visibility);
	vx6_write_u64(w, r->seq);
	vx6_write_u64(w, r->issued_at);
	vx6_write_u64(w, r->expires_at);
	return w->err;
}

static int
catalog_body(const struct vx6_catalog_record *r, struct vx6_writer *w)
{
	if (r->ct_len == 0 || r->ct_len > VX6_CATALOG_MAX_CT)
		return VX6_ERR_INVAL;
	write_header(w, VX6_RECORD_CATALOG);
	vx6_write_bytes(w, r->owner_key, VX6_KEY_LEN);
	vx6_write_bytes(w, r->slot, 32);
	vx6_write_u64(w, r->seq);
	vx6_write_u64(w, r->issued_at);
	vx6_write_u64(w, r->expires_at);
	vx6_write_u16(w, r->ct_len);
	vx6_write_bytes(w, r->ct, r->ct_len);
	return w->err;
}

static int
finish_sign(struct vx6_writer *w, const struct vx6_identity *id, const char *domain, uint8_t sig[VX6_SIG_LEN])
{
	int rc = vx6_sign(id, domain, w->p, w->off, sig);

	if (rc)
		return rc;
	vx6_write_bytes(w, sig, VX6_SIG_LEN);
	return w->err ? w->err : (int)w->off;
}

/* Writes one record's body (header included). */
typedef int body_fn(const void *r, struct vx6_writer *w);

static int
node_body_fn(const void *r, struct vx6_writer *w)
{
	return node_body(r, w);
}

static int
service_body_fn(const void *r, struct vx6_writer *w)
{
	return service_body(r, w);
}

static int
catalog_body_fn(const void *r, struct vx6_writer *w)
{
	return catalog_body(r, w);
}

/* Body, then a signature made now (sig filled) or the one given. */
static int
emit(body_fn *body, const void *r, const struct vx6_identity *id, const char *domain,
    uint8_t sig[VX6_SIG_LEN], uint8_t *out, size_t cap)
{
	struct vx6_writer w;
	int rc;

	vx6_writer_init(&w, out, cap);
	if ((rc = body(r, &w)) != 0)
		return rc;
	if (id)
		return finish_sign(&w, id, domain, sig);
	vx6_write_bytes(&w, sig, VX6_SIG_LEN);
	return w.err ? w.err : (int)w.off;
}

int
vx6_node_record_sign(struct vx6_node_record *r, const struct vx6_identity *id, uint8_t *out, size_t cap)
{
	memcpy(r->key, id->pk, VX6_KEY_LEN);
	memcpy(r->node_id, id->node_id, VX6_NODE_ID_LEN);
	return emit(node_body_fn, r, id, "node-record/v1", r->sig, out, cap);
}

int
vx6_service_record_sign(struct vx6_service_record *r, const struct vx6_identity *id, uint8_t *out,
    size_t cap)
{
	memcpy(r->owner_key, id->pk, VX6_KEY_LEN);
	return emit(service_body_fn, r, id, "service-record/v1", r->sig, out, cap);
}

int
vx6_catalog_record_sign(struct vx6_catalog_record *r, const struct vx6_identity *id, uint8_t *out,
    size_t cap)
{
	memcpy(r->owner_key, id->pk, VX6_KEY_LEN);
	return emit(catalog_body_fn, r, id, "catalog-record/v1", r->sig, out, cap);
}

int
vx6_node_record_encode(const struct vx6_node_record *r, uint8_t *out, size_t cap)
{
	uint8_t sig[VX6_SIG_LEN];

	memcpy(sig, r->sig, VX6_SIG_LEN);
	return emit(node_body_fn, r, NULL, NULL, sig, out, cap);
}

int
vx6_service_record_encode(const struct vx6_service_record *r, uint8_t *out, size_t cap)
{
	uint8_t sig[VX6_SIG_LEN];

	memcpy(sig, r->sig, VX6_SIG_LEN);
	return emit(service_body_fn, r, NULL, NULL, sig, out, cap);
}

int
vx6_record_peek_type(const uint8_t *p, size_t len)
{
	if (len > VX6_RECORD_MAX_LEN)
		return VX6_ERR_TOO_LARGE;
	if (len < HEADER_LEN + VX6_SIG_LEN || memcmp(p, VX6_RECORD_MAGIC, 4) != 0 ||
	    p[4] != VX6_RECORD_VERSION)
		return VX6_ERR_MALFORMED;
	if (p[5] != VX6_RECORD_NODE && p[5] != VX6_RECORD_SERVICE && p[5] != VX6_RECORD_CATALOG)
		return VX6_ERR_MALFORMED;
	return p[5];
}

static int
check_window(uint64_t issued, uint64_t expires, uint64_t now)
{
	if (expires <= issued || expires - issued > VX6_RECORD_MAX_LIFETIME_S)
		return VX6_ERR_MALFORMED;
	if (issued > now + VX6_RECORD_MAX_SKEW_S || expires <= now)
		return VX6_ERR_TIMEOUT;
	return 0;
}

int
vx6_node_record_decode(struct vx6_node_record *r, const uint8_t *p, size_t len, uint64_t now)
{
	struct vx6_reader rd;
	uint8_t derived[VX6_NODE_ID_LEN];
	size_t signed_len;
	int rc = vx6_record_peek_type(p, len);

	memset(r, 0, sizeof(*r));
	if (rc < 0)
		return rc;
	if (rc != VX6_RECORD_NODE)
		return VX6_ERR_MALFORMED;
	vx6_reader_init(&rd, p, len - VX6_SIG_LEN);
	(void)vx6_read_ptr(&rd, HEADER_LEN);
	vx6_read_bytes(&rd, r->key, VX6_KEY_LEN);
	vx6_read_bytes(&rd, r->node_id, VX6_NODE_ID_LEN);
	if (!read_label(&rd, r->name))
		return VX6_ERR_MALFORMED;
	r->flags = vx6_read_u8(&rd);
	r->n_addrs = vx6_read_u8(&rd);
	if (r->n_addrs > VX6_RECORD_MAX_ADDRS || (r->flags & ~VX6_NODE_FLAG_RELAY))
		return VX6_ERR_MALFORMED;
	for (uint8_t i = 0; i < r->n_addrs; i++) {
		struct vx6_addr *a = &r->addrs[i];
		a->transport = vx6_read_u8(&rd);
		a->family = vx6_read_u8(&rd);
		if ((a->family != 4 && a->family != 6) || a->transport > VX6_TRANSPORT_QUIC)
			return VX6_ERR_MALFORMED;
		vx6_read_bytes(&rd, a->ip, a->family == 4 ? 4 : 16);
		a->port = vx6_read_u16(&rd);
		if (a->port == 0)
			return VX6_ERR_MALFORMED;
	}
	r->seq = vx6_read_u64(&rd);
	r->issued_at = vx6_read_u64(&rd);
	r->expires_at = vx6_read_u64(&rd);
	if (vx6_reader_finish(&rd) != 0)
		return VX6_ERR_MALFORMED;
	signed_len = rd.off;
	memcpy(r->sig, p + signed_len, VX6_SIG_LEN);
	vx6_node_id_from_key(derived, r->key);
	if (memcmp(derived, r->node_id, VX6_NODE_ID_LEN) != 0)
		return VX6_ERR_MALFORMED;
	if (vx6_verify(r->key, "node-record/v1", p, signed_len, r->sig) != 0)
		return VX6_ERR_BAD_SIGNATURE;
	return check_window(r->issued_at, r->expires_at, now);
}

int
vx6_service_record_decode(struct vx6_service_record *r, const uint8_t *p, size_t len, uint64_t now)
{
	struct vx6_reader rd;
	size_t signed_len;
	int rc = vx6_record_peek_type(p, len);

	memset(r, 0, sizeof(*r));
	if (rc < 0)
		return rc;
	if (rc != VX6_RECORD_SERVICE)
		return VX6_ERR_MALFORMED;
	vx6_reader_init(&rd, p, len - VX6_SIG_LEN);
	(void)vx6_read_ptr(&rd, HEADER_LEN);
	vx6_read_bytes(&rd, r->owner_key, VX6_KEY_LEN);
	if (!read_label(&rd, r->node_name) || !read_label(&rd, r->service))
		return VX6_ERR_MALFORMED;
	r->visibility = vx6_read_u8(&rd);
	if (r->visibility > VX6_VISIBILITY_PRIVATE)
		return VX6_ERR_MALFORMED;
	r->seq = vx6_read_u64(&rd);
	r->issued_at = vx6_read_u64(&rd);
	r->expires_at = vx6_read_u64(&rd);
	if (vx6_reader_finish(&rd) != 0)
		return VX6_ERR_MALFORMED;
	signed_len = rd.off;
	memcpy(r->sig, p + signed_len, VX6_SIG_LEN);
	if (vx6_verify(r->owner_key, "service-record/v1", p, signed_len, r->sig) != 0)
		return VX6_ERR_BAD_SIGNATURE;
	return check_window(r->issued_at, r->expires_at, now);
}

int
vx6_catalog_record_decode(struct vx6_catalog_record *r, const uint8_t *p, size_t len, uint64_t now)
{
	struct vx6_reader rd;
	size_t signed_len;
	int rc = vx6_record_peek_type(p, len);

	memset(r, 0, sizeof(*r));
	if (rc < 0)
		return rc;
	if (rc != VX6_RECORD_CATALOG)
		return VX6_ERR_MALFORMED;
	vx6_reader_init(&rd, p, len - VX6_SIG_LEN);
	(void)vx6_read_ptr(&rd, HEADER_LEN);
	vx6_read_bytes(&rd, r->owner_key, VX6_KEY_LEN);
	vx6_read_bytes(&rd, r->slot, 32);
	r->seq = vx6_read_u64(&rd);
	r->issued_at = vx6_read_u64(&rd);
	r->expires_at = vx6_read_u64(&rd);
	r->ct_len = vx6_read_u16(&rd);
	if (r->ct_len == 0 || r->ct_len > VX6_CATALOG_MAX_CT)
		return VX6_ERR_MALFORMED;
	vx6_read_bytes(&rd, r->ct, r->ct_len);
	if (vx6_reader_finish(&rd) != 0)
		return VX6_ERR_MALFORMED;
	signed_len = rd.off;
	memcpy(r->sig, p + signed_len, VX6_SIG_LEN);
	if (vx6_verify(r->owner_key, "catalog-record/v1", p, signed_len, r->sig) != 0)
		return VX6_ERR_BAD_SIGNATURE;
	return check_window(r->issued_at, r->expires_at, now);
}

int
vx6_catalog_seal(const char names[][VX6_NAME_BUF], unsigned n, const uint8_t reader_key[VX6_KEY_LEN],
    uint8_t *ct, size_t cap, uint16_t *ct_len)
{
	uint8_t pt[1 + VX6_CATALOG_MAX_NAMES * (1 + VX6_NAME_MAX)], xpk[32];
	struct vx6_writer w;

	if (n == 0 || n > VX6_CATALOG_MAX_NAMES)
		return VX6_ERR_INVAL;
	vx6_writer_init(&w, pt, sizeof(pt));
	vx6_write_u8(&w, (uint8_t)n);
	for (unsigned i = 0; i < n; i++) {
		if (!vx6_name_valid(names[i]))
			return VX6_ERR_INVAL;
		write_label(&w, names[i]);
	}
	if (w.err || w.off + crypto_box_SEALBYTES > cap || w.off + crypto_box_SEALBYTES > VX6_CATALOG_MAX_CT)
		return VX6_ERR_TOO_LARGE;
	if (vx6_key_to_x25519(xpk, reader_key) != 0)
		return VX6_ERR_INVAL;
	if (crypto_box_seal(ct, pt, w.off, xpk) != 0)
		return VX6_ERR_CRYPTO;
	*ct_len = (uint16_t)(w.off + crypto_box_SEALBYTES);
	sodium_memzero(pt, sizeof(pt));
	return 0;
}

int
vx6_catalog_open(const struct vx6_catalog_record *r, const struct vx6_identity *reader,
    char names[][VX6_NAME_BUF], unsigned max)
{
	uint8_t pt[VX6_CATALOG_MAX_CT];
	struct vx6_reader rd;
	size_t ptlen;
	unsigned n;

	if (r->ct_len <= crypto_box_SEALBYTES)
		return VX6_ERR_MALFORMED;
	ptlen = r->ct_len - crypto_box_SEALBYTES;
	if (crypto_box_seal_open(pt, r->ct, r->ct_len, reader->x_pk, reader->x_sk) != 0)
		return VX6_ERR_CRYPTO;
	vx6_reader_init(&rd, pt, ptlen);
	n = vx6_read_u8(&rd);
	if (n == 0 || n > max || n > VX6_CATALOG_MAX_NAMES)
		return VX6_ERR_MALFORMED;
	for (unsigned i = 0; i < n; i++)
		if (!read_label(&rd, names[i]))
			return VX6_ERR_MALFORMED;
	if (vx6_reader_finish(&rd) != 0)
		return VX6_ERR_MALFORMED;
	sodium_memzero(pt, sizeof(pt));
	return (int)n;
}
