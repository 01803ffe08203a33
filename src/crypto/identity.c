#include "crypto/identity.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

int
vx6_identity_from_seed(struct vx6_identity *id, const uint8_t seed[VX6_SEED_LEN])
{
	memset(id, 0, sizeof(*id));
	if (crypto_sign_seed_keypair(id->pk, id->sk, seed) != 0)
		goto fail;
	if (crypto_sign_ed25519_sk_to_curve25519(id->x_sk, id->sk) != 0)
		goto fail;
	if (crypto_sign_ed25519_pk_to_curve25519(id->x_pk, id->pk) != 0)
		goto fail;
	vx6_node_id_from_key(id->node_id, id->pk);
	return 0;
fail:
	vx6_identity_wipe(id);
	return VX6_ERR_CRYPTO;
}

void
vx6_identity_seed(const struct vx6_identity *id, uint8_t seed[VX6_SEED_LEN])
{
	crypto_sign_ed25519_sk_to_seed(seed, id->sk);
}

void
vx6_identity_wipe(struct vx6_identity *id)
{
	sodium_memzero(id, sizeof(*id));
}

void
vx6_node_id_from_key(uint8_t out[VX6_NODE_ID_LEN], const uint8_t pk[VX6_KEY_LEN])
{
	static const char label[] = "vx6/node-id/v1";
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, VX6_NODE_ID_LEN);
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label) - 1);
	crypto_generichash_update(&st, pk, VX6_KEY_LEN);
	crypto_generichash_final(&st, out, VX6_NODE_ID_LEN);
}

int
vx6_key_to_x25519(uint8_t out[VX6_KEY_LEN], const uint8_t pk[VX6_KEY_LEN])
{
	/* is_valid_point rejects small-order and non-canonical encodings. */
	if (!crypto_core_ed25519_is_valid_point(pk))
		return VX6_ERR_MALFORMED;
	if (crypto_sign_ed25519_pk_to_curve25519(out, pk) != 0)
		return VX6_ERR_MALFORMED;
	return 0;
}

/* Builds "vx6/" domain 0x00 msg into a buffer the caller frees. */
static uint8_t *
domain_message(const char *domain, const void *msg, size_t msglen, size_t *outlen)
{
	size_t dlen = strlen(domain);
	uint8_t *m;

	if (msglen > VX6_SIGN_MAX_MSG || dlen > 64)
		return NULL;
	m = malloc(4 + dlen + 1 + msglen);
	if (m == NULL)
		return NULL;
	memcpy(m, "vx6/", 4);
	memcpy(m + 4, domain, dlen);
	m[4 + dlen] = 0;
	if (msglen)
		memcpy(m + 5 + dlen, msg, msglen);
	*outlen = 5 + dlen + msglen;
	return m;
}

int
vx6_sign(const struct vx6_identity *id, const char *domain, const void *msg, size_t msglen,
    uint8_t sig[VX6_SIG_LEN])
{
	size_t mlen;
	uint8_t *m = domain_message(domain, msg, msglen, &mlen);
	int rc;

	if (m == NULL)
		return msglen > VX6_SIGN_MAX_MSG ? VX6_ERR_TOO_LARGE : VX6_ERR_NOMEM;
	rc = crypto_sign_detached(sig, NULL, m, mlen, id->sk) == 0 ? 0 : VX6_ERR_CRYPTO;
	free(m);
	return rc;
}

int
vx6_verify(const uint8_t pk[VX6_KEY_LEN], const char *domain, const void *msg, size_t msglen,
    const uint8_t sig[VX6_SIG_LEN])
{
	size_t mlen;
	uint8_t *m = domain_message(domain, msg, msglen, &mlen);
	int rc;

	if (m == NULL)
		return msglen > VX6_SIGN_MAX_MSG ? VX6_ERR_TOO_LARGE : VX6_ERR_NOMEM;
	rc = crypto_sign_verify_detached(sig, m, mlen, pk) == 0 ? 0 : VX6_ERR_BAD_SIGNATURE;
	free(m);
	return rc;
}

bool
vx6_base64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	    c == '_';
}

void
vx6_key_to_text(const uint8_t pk[VX6_KEY_LEN], char out[VX6_KEY_TEXT_LEN])
{
	sodium_bin2base64(out, VX6_KEY_TEXT_LEN, pk, VX6_KEY_LEN,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int
vx6_key_from_text(uint8_t pk[VX6_KEY_LEN], const char *text)
{
	size_t binlen = 0;
	const char *end = NULL;

	if (text == NULL || strlen(text) != VX6_KEY_TEXT_LEN - 1)
		return VX6_ERR_MALFORMED;
	/* libsodium 1.0.18 accepts some bytes >= 0x80 as digits: one spelling only. */
	for (const char *c = text; *c; c++)
		if (!vx6_base64url_char(*c))
			return VX6_ERR_MALFORMED;
	if (sodium_base642bin(pk, VX6_KEY_LEN, text, VX6_KEY_TEXT_LEN - 1, NULL, &binlen, &end,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || binlen != VX6_KEY_LEN || *end != '\0')
		return VX6_ERR_MALFORMED;
	return 0;
}

void
vx6_node_id_to_hex(const uint8_t id[VX6_NODE_ID_LEN], char out[VX6_NODE_ID_HEX_LEN])
{
	sodium_bin2hex(out, VX6_NODE_ID_HEX_LEN, id, VX6_NODE_ID_LEN);
}
