#include "core/circuit.h"

#include <sodium.h>
#include <string.h>

#include "lib/cursor.h"
#include "lib/err.h"

#define PROLOGUE "VX6 circuit v1"
#define OFF_RECOGNIZED 0
#define OFF_MAC 4
#define MAC_LEN 12
#define OFF_CMD 16
#define OFF_FLAGS 17
#define OFF_STREAM 18
#define OFF_LEN 20

void
vx6_hop_crypto_wipe(struct vx6_hop_crypto *h)
{
	sodium_memzero(h, sizeof(*h));
}

/* Splits a Noise transport key into a cipher key and a MAC key. */
static void
derive(const uint8_t k[VX6_NOISE_KEYLEN], uint8_t cipher[32], uint8_t mac[32])
{
	crypto_kdf_derive_from_key(cipher, 32, 1, "vx6circ", k);
	crypto_kdf_derive_from_key(mac, 32, 2, "vx6circ", k);
}

static void
keys_from(struct vx6_noise_hs *hs, struct vx6_hop_crypto *out)
{
	uint8_t k1[VX6_NOISE_KEYLEN], k2[VX6_NOISE_KEYLEN];

	/* k1: client -> hop (forward), k2: hop -> client (backward). */
	vx6_noise_hs_split(hs, k1, k2);
	memset(out, 0, sizeof(*out));
	derive(k1, out->fwd_key, out->fwd_mac);
	derive(k2, out->bwd_key, out->bwd_mac);
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	vx6_noise_hs_wipe(hs);
}

int
vx6_hop_client_start(struct vx6_noise_hs *hs, const struct vx6_env *env, const uint8_t hop_key[VX6_KEY_LEN],
    uint8_t msg1[VX6_HOP_MSG_LEN])
{
	uint8_t rs[32];
	int rc, n;

	if ((rc = vx6_key_to_x25519(rs, hop_key)) != 0)
		return rc;
	rc = vx6_noise_hs_init(hs, VX6_NOISE_NK, true, (const uint8_t *)PROLOGUE, sizeof(PROLOGUE) - 1,
	    NULL, NULL, rs);
	if (rc)
		return rc;
	n = vx6_noise_hs_write(hs, env, NULL, 0, msg1, VX6_HOP_MSG_LEN);
	if (n == VX6_HOP_MSG_LEN)
		return 0;
	vx6_noise_hs_wipe(hs);
	return n < 0 ? n : VX6_ERR_STATE;
}

int
vx6_hop_client_finish(struct vx6_noise_hs *hs, const uint8_t msg2[VX6_HOP_MSG_LEN], struct vx6_hop_crypto *out)
{
	uint8_t none[1];
	int n = vx6_noise_hs_read(hs, msg2, VX6_HOP_MSG_LEN, none, 0);

	if (n != 0 || !vx6_noise_hs_done(hs)) {
		vx6_noise_hs_wipe(hs);
		return n < 0 ? n : VX6_ERR_MALFORMED;
	}
	keys_from(hs, out);
	return 0;
}

int
vx6_hop_respond(const struct vx6_identity *self, const struct vx6_env *env,
    const uint8_t msg1[VX6_HOP_MSG_LEN], uint8_t msg2[VX6_HOP_MSG_LEN], struct vx6_hop_crypto *out)
{
	struct vx6_noise_hs hs;
	uint8_t none[1];
	int rc, n;

	rc = vx6_noise_hs_init(&hs, VX6_NOISE_NK, false, (const uint8_t *)PROLOGUE, sizeof(PROLOGUE) - 1,
	    self->x_sk, self->x_pk, NULL);
	if (rc)
		return rc;
	n = vx6_noise_hs_read(&hs, msg1, VX6_HOP_MSG_LEN, none, 0);
	if (n != 0) {
		vx6_noise_hs_wipe(&hs);
		return n < 0 ? n : VX6_ERR_MALFORMED;
	}
	n = vx6_noise_hs_write(&hs, env, NULL, 0, msg2, VX6_HOP_MSG_LEN);
	if (n != VX6_HOP_MSG_LEN || !vx6_noise_hs_done(&hs)) {
		vx6_noise_hs_wipe(&hs);
		return n < 0 ? n : VX6_ERR_STATE;
	}
	keys_from(&hs, out);
	return 0;
}

int
vx6_cell_build(uint8_t cell[VX6_CELL_SIZE], uint8_t cmd, uint16_t stream_id, const void *payload, size_t len)
{
	if (len > VX6_CELL_MAX_PAYLOAD)
		return VX6_ERR_TOO_LARGE;
	memset(cell, 0, VX6_CELL_SIZE);
	cell[OFF_CMD] = cmd;
	vx6_put_u16(cell + OFF_STREAM, stream_id);
	vx6_put_u16(cell + OFF_LEN, (uint16_t)len);
	if (len)
		memcpy(cell + VX6_CELL_HEADER, payload, len);
	return 0;
}

int
vx6_cell_parse(const uint8_t cell[VX6_CELL_SIZE], struct vx6_cell *out)
{
	out->cmd = cell[OFF_CMD];
	out->stream_id = vx6_get_u16(cell + OFF_STREAM);
	out->length = vx6_get_u16(cell + OFF_LEN);
	out->payload = cell + VX6_CELL_HEADER;
	if (out->cmd < VX6_CELL_DATA || out->cmd > VX6_CELL_TRUNCATED || cell[OFF_FLAGS] != 0 ||
	    out->length > VX6_CELL_MAX_PAYLOAD)
		return VX6_ERR_MALFORMED;
	return 0;
}

static void
nonce_of(uint64_t ctr, uint8_t nonce[12])
{
	memset(nonce, 0, 12);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(ctr >> (8 * i));
}

static void
layer(const uint8_t key[32], uint64_t ctr, uint8_t cell[VX6_CELL_SIZE])
{
	uint8_t nonce[12];

	nonce_of(ctr, nonce);
	crypto_stream_chacha20_ietf_xor(cell, cell, VX6_CELL_SIZE, nonce, key);
}

/* MAC over the counter and the cell with its MAC field zeroed. */
static void
cell_mac(const uint8_t key[32], uint64_t ctr, const uint8_t cell[VX6_CELL_SIZE], uint8_t mac[MAC_LEN])
{
	crypto_generichash_state st;
	uint8_t c[8], zero[MAC_LEN] = { 0 };

	vx6_put_u64(c, ctr);
	crypto_generichash_init(&st, key, 32, MAC_LEN);
	crypto_generichash_update(&st, c, sizeof(c));
	crypto_generichash_update(&st, cell, OFF_MAC);
	crypto_generichash_update(&st, zero, MAC_LEN);
	crypto_generichash_update(&st, cell + OFF_MAC + MAC_LEN, VX6_CELL_SIZE - OFF_MAC - MAC_LEN);
	crypto_generichash_final(&st, mac, MAC_LEN);
}

static bool
recognized(const uint8_t key[32], uint64_t ctr, const uint8_t cell[VX6_CELL_SIZE])
{
	uint8_t mac[MAC_LEN];

	/* Cheap filter first: for other hops these 4 bytes look random. */
	if (cell[0] | cell[1] | cell[2] | cell[3])
		return false;
	cell_mac(key, ctr, cell, mac);
	return sodium_memcmp(mac, cell + OFF_MAC, MAC_LEN) == 0;
}

void
vx6_cell_client_seal(struct vx6_hop_crypto *hops, unsigned target, uint8_t cell[VX6_CELL_SIZE])
{
	memset(cell, 0, 4);
	cell_mac(hops[target].fwd_mac, hops[target].fwd_ctr, cell, cell + OFF_MAC);
	/* Innermost first: the target's layer, then back to the first hop. */
	for (unsigned i = target + 1; i-- > 0;)
		layer(hops[i].fwd_key, hops[i].fwd_ctr++, cell);
}

bool
vx6_cell_hop_open(struct vx6_hop_crypto *hop, uint8_t cell[VX6_CELL_SIZE])
{
	uint64_t ctr = hop->fwd_ctr++;

	layer(hop->fwd_key, ctr, cell);
	return recognized(hop->fwd_mac, ctr, cell);
}

void
vx6_cell_hop_seal(struct vx6_hop_crypto *hop, uint8_t cell[VX6_CELL_SIZE])
{
	memset(cell, 0, 4);
	cell_mac(hop->bwd_mac, hop->bwd_ctr, cell, cell + OFF_MAC);
	layer(hop->bwd_key, hop->bwd_ctr++, cell);
}

void
vx6_cell_hop_wrap(struct vx6_hop_crypto *hop, uint8_t cell[VX6_CELL_SIZE])
{
	layer(hop->bwd_key, hop->bwd_ctr++, cell);
}

int
vx6_cell_client_open(struct vx6_hop_crypto *hops, unsigned n, uint8_t cell[VX6_CELL_SIZE])
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t ctr = hops[i].bwd_ctr++;
		layer(hops[i].bwd_key, ctr, cell);
		if (recognized(hops[i].bwd_mac, ctr, cell))
			return (int)i;
	}
	return -1;
}

/* The one encoding an EXTEND address may have: IPv4 in the first four
 * bytes with the rest zero, a known transport, a real port. */
static bool
extend_addr_valid(const struct vx6_addr *a)
{
	static const uint8_t zero[12];

	if ((a->family != 4 && a->family != 6) || a->transport > VX6_TRANSPORT_QUIC || a->port == 0)
		return false;
	return a->family == 6 || memcmp(a->ip + 4, zero, sizeof(zero)) == 0;
}

int
vx6_extend_encode(const struct vx6_extend *e, uint8_t out[VX6_EXTEND_LEN])
{
	struct vx6_writer w;

	/* Never write what the decoder refuses. */
	if (!extend_addr_valid(&e->addr))
		return VX6_ERR_INVAL;
	vx6_writer_init(&w, out, VX6_EXTEND_LEN);
	vx6_write_u8(&w, e->addr.family);
	vx6_write_u8(&w, e->addr.transport);
	vx6_write_bytes(&w, e->addr.ip, 16);
	vx6_write_u16(&w, e->addr.port);
	vx6_write_bytes(&w, e->key, VX6_KEY_LEN);
	vx6_write_bytes(&w, e->msg1, VX6_HOP_MSG_LEN);
	return w.err ? w.err : 0;
}

int
vx6_extend_decode(struct vx6_extend *e, const uint8_t *p, size_t len)
{
	struct vx6_reader r;

	memset(e, 0, sizeof(*e));
	vx6_reader_init(&r, p, len);
	e->addr.family = vx6_read_u8(&r);
	e->addr.transport = vx6_read_u8(&r);
	vx6_read_bytes(&r, e->addr.ip, 16);
	e->addr.port = vx6_read_u16(&r);
	vx6_read_bytes(&r, e->key, VX6_KEY_LEN);
	vx6_read_bytes(&r, e->msg1, VX6_HOP_MSG_LEN);
	if (vx6_reader_finish(&r) != 0 || !extend_addr_valid(&e->addr))
		return VX6_ERR_MALFORMED;
	return 0;
}
