/*
 * quic_tls — GnuTLS for VX6-over-QUIC (docs/protocol-quic-draft.md §2):
 * the self-signed certificate made from the node's Ed25519 identity, the
 * TLS session (TLS 1.3 only, ALPN "vx6/1", client certificate required, no
 * resumption) and the check each side makes of the peer's certificate.
 *
 * Nothing here trusts a CA: a certificate is accepted when it is a
 * well-formed self-signed X.509 certificate carrying an Ed25519 key whose
 * signature verifies under that same key; TLS CertificateVerify (checked by
 * GnuTLS before the verify hook runs, TLS 1.3) proves possession of the
 * key. Which key is acceptable is the connection's decision (quic.c).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "lib/cursor.h"
#include "lib/err.h"
#include "transport/quic_internal.h"

/* TLS 1.3 only, no middlebox compatibility mode (QUIC forbids it), the AEADs
 * QUIC defines, X25519 first, Ed25519 signatures only. */
#define QUIC_PRIORITY                                                                         \
	"%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:" \
	"+AES-256-GCM:+CHACHA20-POLY1305:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:"         \
	"-SIGN-ALL:+SIGN-EDDSA-ED25519"

/* Certificate fields that carry no meaning but must be present. */
#define CERT_NOT_BEFORE ((time_t)946684800)   /* 2000-01-01T00:00:00Z */

/* DER of AlgorithmIdentifier { id-Ed25519 } (RFC 8410). */
static const uint8_t alg_ed25519[] = { 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70 };

/* Builds the certificate: serial = first 8 bytes of the node id (top bit
 * cleared, so positive), subject = issuer = CN=<node id hex>, validity
 * 2000-01-01 .. 9999-12-31 (RFC 5280 "no expiration"), signed by the key
 * itself. Ed25519 signatures are deterministic, so a given identity always
 * yields the same bytes. */
static int
make_cert(const struct vx6_identity *id, gnutls_x509_crt_t *crtp, gnutls_x509_privkey_t *keyp)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t key = NULL;
	gnutls_datum_t x = { (unsigned char *)id->pk, VX6_KEY_LEN };
	gnutls_datum_t k = { (unsigned char *)id->sk, VX6_SEED_LEN };   /* sk = seed || pk */
	char cn[VX6_NODE_ID_HEX_LEN];
	uint8_t serial[8];
	int rc = VX6_ERR_CRYPTO;

	if (gnutls_x509_privkey_init(&key) < 0)
		return VX6_ERR_NOMEM;
	if (gnutls_x509_privkey_import_ecc_raw(key, GNUTLS_ECC_CURVE_ED25519, &x, NULL, &k) < 0)
		goto out;
	if (gnutls_x509_crt_init(&crt) < 0) {
		rc = VX6_ERR_NOMEM;
		goto out;
	}
	memcpy(serial, id->node_id, sizeof(serial));
	serial[0] &= 0x7f;
	serial[0] |= 0x01;   /* positive, and never a leading zero byte */
	vx6_node_id_to_hex(id->node_id, cn);
	if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, CERT_NOT_BEFORE) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, (time_t)-1) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, 64) < 0 ||
	    gnutls_x509_crt_set_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, 64) < 0 ||
	    gnutls_x509_crt_set_key(crt, key) < 0 ||
	    gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA512, 0) < 0)
		goto out;
	*crtp = crt;
	*keyp = key;
	crt = NULL;   /* transferred */
	key = NULL;
	rc = 0;
out:
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return rc;
}

int
vx6_quic_tls_cred(const struct vx6_identity *id, gnutls_certificate_credentials_t *out)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	int rc;

	if ((rc = make_cert(id, &crt, &key)) != 0)
		return rc;
	if (gnutls_certificate_allocate_credentials(&cred) < 0) {
		rc = VX6_ERR_NOMEM;
	} else if (gnutls_certificate_set_x509_key(cred, &crt, 1, key) < 0) {
		gnutls_certificate_free_credentials(cred);
		rc = VX6_ERR_CRYPTO;
	} else {
		*out = cred;   /* transferred (the key and certificate were copied) */
	}
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

int
vx6_quic_tls_cert_der(const struct vx6_identity *id, gnutls_datum_t *out)
{
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	int rc;

	if ((rc = make_cert(id, &crt, &key)) != 0)
		return rc;
	rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, out) < 0 ? VX6_ERR_CRYPTO : 0;
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

/* --- Certificate check --------------------------------------------------- */

/* Reads one DER TLV with a one-byte tag and a minimal definite length;
 * start and total cover the whole TLV, body and blen its contents. */
static int
der_tlv(struct vx6_reader *r, uint8_t want_tag, const uint8_t **start, size_t *total,
    const uint8_t **body, size_t *blen)
{
	size_t off0 = r->off, len;
	uint8_t tag = vx6_read_u8(r), b = vx6_read_u8(r);

	if (r->err)
		return r->err;
	if (tag != want_tag)
		return VX6_ERR_MALFORMED;
	if (b < 0x80) {
		len = b;
	} else {
		size_t n = b & 0x7f;
		if (n == 0 || n > 3)
			return VX6_ERR_MALFORMED;   /* indefinite, or absurdly long */
		len = 0;
		for (size_t i = 0; i < n; i++)
			len = (len << 8) | vx6_read_u8(r);
		if (r->err)
			return r->err;
		if (len < 0x80 || (n > 1 && len < (1u << (8 * (n - 1)))))
			return VX6_ERR_MALFORMED;   /* not the minimal encoding */
	}
	*body = vx6_read_ptr(r, len);
	if (*body == NULL)
		return r->err;
	*blen = len;
	*start = r->p + off0;
	*total = r->off - off0;
	return 0;
}

int
vx6_quic_tls_check_cert(const uint8_t *der, size_t len, uint8_t pk[VX6_KEY_LEN], char *why,
    size_t whylen)
{
	struct vx6_reader outer, in;
	const uint8_t *start, *body, *tbs, *alg, *sig;
	size_t total, blen, tbslen, alglen, siglen;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d = { (unsigned char *)der, (unsigned int)len };
	gnutls_datum_t x = { NULL, 0 }, dn = { NULL, 0 }, idn = { NULL, 0 };
	gnutls_ecc_curve_t curve;
	int rc = VX6_ERR_MALFORMED;

	snprintf(why, whylen, "not a certificate");
	if (len == 0 || len > 16384)
		return VX6_ERR_MALFORMED;
	/* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
	 * signatureValue } with nothing after it. */
	vx6_reader_init(&outer, der, len);
	if (der_tlv(&outer, 0x30, &start, &total, &body, &blen) != 0 ||
	    vx6_reader_finish(&outer) != 0)
		return VX6_ERR_MALFORMED;
	vx6_reader_init(&in, body, blen);
	if (der_tlv(&in, 0x30, &tbs, &tbslen, &body, &blen) != 0 ||
	    der_tlv(&in, 0x30, &alg, &alglen, &body, &blen) != 0 ||
	    der_tlv(&in, 0x03, &start, &total, &sig, &siglen) != 0 || vx6_reader_finish(&in) != 0)
		return VX6_ERR_MALFORMED;
	if (alglen != sizeof(alg_ed25519) || memcmp(alg, alg_ed25519, alglen) != 0 ||
	    siglen != 1 + VX6_SIG_LEN || sig[0] != 0) {
		snprintf(why, whylen, "certificate is not signed with Ed25519");
		return VX6_ERR_MALFORMED;
	}
	if (gnutls_x509_crt_init(&crt) < 0)
		return VX6_ERR_NOMEM;
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0)
		goto out;
	if (gnutls_x509_crt_get_pk_algorithm(crt, NULL) != GNUTLS_PK_EDDSA_ED25519 ||
	    gnutls_x509_crt_get_signature_algorithm(crt) != GNUTLS_SIGN_EDDSA_ED25519 ||
	    gnutls_x509_crt_get_pk_ecc_raw(crt, &curve, &x, NULL) < 0 ||
	    curve != GNUTLS_ECC_CURVE_ED25519 || x.size != VX6_KEY_LEN) {
		snprintf(why, whylen, "certificate key is not Ed25519");
		goto out;
	}
	if (gnutls_x509_crt_get_raw_dn(crt, &dn) < 0 || gnutls_x509_crt_get_raw_issuer_dn(crt, &idn) < 0 ||
	    dn.size != idn.size || memcmp(dn.data, idn.data, dn.size) != 0) {
		snprintf(why, whylen, "certificate is not self-issued");
		goto out;
	}
	if (crypto_sign_verify_detached(sig + 1, tbs, tbslen, x.data) != 0) {
		snprintf(why, whylen, "certificate signature does not verify under its own key");
		rc = VX6_ERR_BAD_SIGNATURE;
		goto out;
	}
	memcpy(pk, x.data, VX6_KEY_LEN);
	why[0] = '\0';
	rc = 0;
out:
	gnutls_free(x.data);
	gnutls_free(dn.data);
	gnutls_free(idn.data);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

/* GnuTLS calls this once the peer's Certificate and CertificateVerify have
 * been processed (TLS 1.3); non-zero aborts the handshake. */
static int
verify_hook(gnutls_session_t s)
{
	ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(s);
	const gnutls_datum_t *certs;
	unsigned int n = 0;
	uint8_t pk[VX6_KEY_LEN];
	char why[128];
	int rc;

	if (gnutls_certificate_type_get2(s, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_X509)
		return vx6_quic_peer_verified(ref->user_data, VX6_ERR_MALFORMED, NULL,
		    "peer certificate is not X.509");
	certs = gnutls_certificate_get_peers(s, &n);
	if (certs == NULL || n == 0)
		return vx6_quic_peer_verified(ref->user_data, VX6_ERR_MALFORMED, NULL,
		    "peer sent no certificate");
	if (n != 1)
		return vx6_quic_peer_verified(ref->user_data, VX6_ERR_MALFORMED, NULL,
		    "peer sent a certificate chain (one self-signed certificate expected)");
	rc = vx6_quic_tls_check_cert(certs[0].data, certs[0].size, pk, why, sizeof(why));
	return vx6_quic_peer_verified(ref->user_data, rc, rc == 0 ? pk : NULL, why);
}

int
vx6_quic_tls_session(struct vx6_quic *q, bool server, gnutls_certificate_credentials_t cred,
    ngtcp2_crypto_conn_ref *ref, gnutls_session_t *out)
{
	static const char alpn_text[] = VX6_QUIC_ALPN;
	gnutls_datum_t alpn = { (unsigned char *)alpn_text, sizeof(alpn_text) - 1 };
	gnutls_session_t s;
	unsigned flags = GNUTLS_NO_TICKETS | GNUTLS_NO_END_OF_EARLY_DATA;

	(void)q;
	if (gnutls_init(&s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | flags) < 0)
		return VX6_ERR_NOMEM;
	if ((server ? ngtcp2_crypto_gnutls_configure_server_session(s)
		    : ngtcp2_crypto_gnutls_configure_client_session(s)) != 0 ||
	    gnutls_priority_set_direct(s, QUIC_PRIORITY, NULL) < 0 ||
	    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0 ||
	    gnutls_alpn_set_protocols(s, &alpn, 1, GNUTLS_ALPN_MANDATORY) < 0) {
		gnutls_deinit(s);
		return VX6_ERR_CRYPTO;
	}
	gnutls_session_set_ptr(s, ref);
	if (server)
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_function(s, verify_hook);
	*out = s;
	return 0;
}

bool
vx6_quic_tls_alpn_ok(gnutls_session_t s)
{
	gnutls_datum_t p;

	return gnutls_alpn_get_selected_protocol(s, &p) == 0 && p.size == strlen(VX6_QUIC_ALPN) &&
	    memcmp(p.data, VX6_QUIC_ALPN, p.size) == 0;
}
