#include "core/handshake.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cursor.h"
#include "lib/err.h"

#define SIG_DOMAIN "session/v1"
#define PROLOGUE_LABEL "VX6 session"

enum hs_state {
	HS_NEW,               /* dialer before start */
	HS_WAIT_MSG1,         /* acceptor */
	HS_WAIT_MSG2,         /* dialer */
	HS_WAIT_MSG3,         /* acceptor, XX */
	HS_DONE,
	HS_FAILED,
};

struct vx6_hs {
	enum hs_state state;
	bool initiator;
	bool force_xx;
	bool have_expected;
	int err;
	const struct vx6_identity *local;
	const struct vx6_env *env;
	struct vx6_hs_settings mine;
	unsigned aead_mask;
	uint8_t expected[VX6_KEY_LEN];
	uint8_t presented[VX6_KEY_LEN];
	bool have_presented;
	uint8_t header[VX6_HS_HEADER_LEN];   /* msg1 header, also the prologue tail */
	struct vx6_noise_hs noise;
	struct vx6_hs_result result;
	char errtext[320];
};

static int
fail(struct vx6_hs *hs, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(struct vx6_hs *hs, int err, const char *fmt, ...)
{
	va_list ap;

	if (hs->state != HS_FAILED) {
		va_start(ap, fmt);
		vsnprintf(hs->errtext, sizeof(hs->errtext), fmt, ap);
		va_end(ap);
		hs->state = HS_FAILED;
		hs->err = err;
	}
	vx6_noise_hs_wipe(&hs->noise);
	return hs->err;
}

static struct vx6_hs *
hs_alloc(const struct vx6_identity *local, const struct vx6_hs_settings *mine, unsigned aead_mask,
    const struct vx6_env *env)
{
	struct vx6_hs *hs;

	if (local == NULL || mine == NULL || env == NULL)
		return NULL;
	aead_mask &= vx6_aead_available_mask();
	if (aead_mask == 0)
		return NULL;
	hs = calloc(1, sizeof(*hs));
	if (hs == NULL)
		return NULL;
	hs->local = local;
	hs->env = env;
	hs->mine = *mine;
	hs->aead_mask = aead_mask;
	return hs;
}

struct vx6_hs *
vx6_hs_new_initiator(const struct vx6_identity *local, const uint8_t *expected_key, bool force_xx,
    const struct vx6_hs_settings *mine, unsigned aead_mask, const struct vx6_env *env)
{
	struct vx6_hs *hs = hs_alloc(local, mine, aead_mask, env);

	if (hs == NULL)
		return NULL;
	hs->initiator = true;
	hs->state = HS_NEW;
	hs->force_xx = force_xx;
	if (expected_key) {
		memcpy(hs->expected, expected_key, VX6_KEY_LEN);
		hs->have_expected = true;
	}
	return hs;
}

struct vx6_hs *
vx6_hs_new_responder(const struct vx6_identity *local, const struct vx6_hs_settings *mine,
    unsigned aead_mask, const struct vx6_env *env)
{
	struct vx6_hs *hs = hs_alloc(local, mine, aead_mask, env);

	if (hs == NULL)
		return NULL;
	hs->state = HS_WAIT_MSG1;
	return hs;
}

void
vx6_hs_free(struct vx6_hs *hs)
{
	if (hs == NULL)
		return;
	sodium_memzero(hs, sizeof(*hs));
	free(hs);
}

bool
vx6_hs_done(const struct vx6_hs *hs)
{
	return hs->state == HS_DONE;
}

bool
vx6_hs_is_initiator(const struct vx6_hs *hs)
{
	return hs->initiator;
}

const char *
vx6_hs_error_text(const struct vx6_hs *hs)
{
	return hs->errtext;
}

const uint8_t *
vx6_hs_presented_key(const struct vx6_hs *hs)
{
	return hs->have_presented ? hs->presented : NULL;
}

int
vx6_hs_result(const struct vx6_hs *hs, struct vx6_hs_result *out)
{
	if (hs->state != HS_DONE)
		return VX6_ERR_STATE;
	*out = hs->result;
	return 0;
}

size_t
vx6_hs_error_message(enum vx6_hs_error_code code, const char *reason, uint8_t *out, size_t cap)
{
	struct vx6_writer w;
	size_t rlen = reason ? strnlen(reason, VX6_HS_ERROR_REASON_MAX) : 0;

	vx6_writer_init(&w, out, cap);
	vx6_write_u8(&w, VX6_HS_ERROR);
	vx6_write_u8(&w, (uint8_t)code);
	vx6_write_u8(&w, (uint8_t)rlen);
	vx6_write_bytes(&w, reason, rlen);
	return w.err ? 0 : w.off;
}

/* Parses an error message body into printable text. */
static void
describe_peer_error(struct vx6_hs *hs, const uint8_t *msg, size_t len)
{
	struct vx6_reader r;
	char reason[VX6_HS_ERROR_REASON_MAX + 1];
	uint8_t code, rlen;
	const uint8_t *p;

	vx6_reader_init(&r, msg, len);
	(void)vx6_read_u8(&r);
	code = vx6_read_u8(&r);
	rlen = vx6_read_u8(&r);
	p = rlen <= VX6_HS_ERROR_REASON_MAX ? vx6_read_ptr(&r, rlen) : NULL;
	if (p == NULL || vx6_reader_finish(&r) != 0) {
		fail(hs, VX6_ERR_MALFORMED, "peer sent a malformed handshake error");
		return;
	}
	for (size_t i = 0; i < rlen; i++)
		reason[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	reason[rlen] = '\0';
	switch (code) {
	case VX6_HS_E_DECRYPT:
		fail(hs, VX6_ERR_KEY_MISMATCH,
		    "peer could not decrypt our handshake: it does not hold the key we expected "
		    "(peer says, unauthenticated: \"%s\")", reason);
		break;
	case VX6_HS_E_VERSION:
		fail(hs, VX6_ERR_VERSION, "no common protocol version (peer says: \"%s\")", reason);
		break;
	case VX6_HS_E_BUSY:
		fail(hs, VX6_ERR_LIMIT, "peer is busy (peer says: \"%s\")", reason);
		break;
	default:
		fail(hs, VX6_ERR_REFUSED, "peer refused the handshake (code %u, unauthenticated: \"%s\")",
		    code, reason);
		break;
	}
}

static void
prologue(const uint8_t header[VX6_HS_HEADER_LEN], uint8_t out[sizeof(PROLOGUE_LABEL) - 1 + VX6_HS_HEADER_LEN])
{
	memcpy(out, PROLOGUE_LABEL, sizeof(PROLOGUE_LABEL) - 1);
	memcpy(out + sizeof(PROLOGUE_LABEL) - 1, header, VX6_HS_HEADER_LEN);
}

/* Builds our payload, signing the current handshake hash. */
static int
build_payload(struct vx6_hs *hs, uint8_t version, uint8_t aead, uint8_t out[VX6_HS_PAYLOAD_LEN])
{
	struct vx6_writer w;
	uint8_t sig[VX6_SIG_LEN];
	int rc;

	rc = vx6_sign(hs->local, SIG_DOMAIN, hs->noise.h_pre_payload, VX6_NOISE_HASHLEN, sig);
	if (rc)
		return rc;
	vx6_writer_init(&w, out, VX6_HS_PAYLOAD_LEN);
	vx6_write_bytes(&w, hs->local->pk, VX6_KEY_LEN);
	vx6_write_bytes(&w, sig, VX6_SIG_LEN);
	vx6_write_u8(&w, version);
	vx6_write_u8(&w, aead);
	vx6_write_u16(&w, 0);
	vx6_write_u32(&w, hs->mine.stream_window);
	vx6_write_u32(&w, hs->mine.session_window);
	vx6_write_u32(&w, hs->mine.max_streams);
	return w.err ? w.err : 0;
}

struct peer_payload {
	uint8_t key[VX6_KEY_LEN];
	uint8_t sig[VX6_SIG_LEN];
	uint8_t version;
	uint8_t aead;
	struct vx6_hs_settings settings;
};

/* Parses and authenticates the peer's payload: the Ed25519 key must be a
 * valid point whose X25519 form is the static key Noise authenticated, and
 * the signature must cover this handshake's hash. */
static int
check_payload(struct vx6_hs *hs, const uint8_t *p, size_t len, struct peer_payload *pp)
{
	struct vx6_reader r;
	uint8_t x[VX6_KEY_LEN];
	uint16_t reserved;

	if (len != VX6_HS_PAYLOAD_LEN)
		return fail(hs, VX6_ERR_MALFORMED, "handshake payload has length %zu, expected %d",
		    len, VX6_HS_PAYLOAD_LEN);
	vx6_reader_init(&r, p, len);
	vx6_read_bytes(&r, pp->key, VX6_KEY_LEN);
	vx6_read_bytes(&r, pp->sig, VX6_SIG_LEN);
	pp->version = vx6_read_u8(&r);
	pp->aead = vx6_read_u8(&r);
	reserved = vx6_read_u16(&r);
	pp->settings.stream_window = vx6_read_u32(&r);
	pp->settings.session_window = vx6_read_u32(&r);
	pp->settings.max_streams = vx6_read_u32(&r);
	if (vx6_reader_finish(&r) != 0 || reserved != 0)
		return fail(hs, VX6_ERR_MALFORMED, "malformed handshake payload");
	if (vx6_key_to_x25519(x, pp->key) != 0 ||
	    sodium_memcmp(x, hs->noise.rs, VX6_KEY_LEN) != 0)
		return fail(hs, VX6_ERR_PROTOCOL,
		    "peer's identity key does not match the static key it proved");
	if (vx6_verify(pp->key, SIG_DOMAIN, hs->noise.h_pre_payload, VX6_NOISE_HASHLEN, pp->sig) != 0)
		return fail(hs, VX6_ERR_BAD_SIGNATURE, "peer's identity signature does not verify");
	if (pp->settings.stream_window < VX6_HS_MIN_STREAM_WINDOW ||
	    pp->settings.stream_window > VX6_HS_MAX_STREAM_WINDOW ||
	    pp->settings.session_window < pp->settings.stream_window ||
	    pp->settings.max_streams == 0 || pp->settings.max_streams > VX6_HS_MAX_STREAMS)
		return fail(hs, VX6_ERR_MALFORMED, "peer's flow-control settings are out of range");
	memcpy(hs->presented, pp->key, VX6_KEY_LEN);
	hs->have_presented = true;
	if (hs->have_expected && sodium_memcmp(pp->key, hs->expected, VX6_KEY_LEN) != 0) {
		char want[VX6_KEY_TEXT_LEN], got[VX6_KEY_TEXT_LEN];
		vx6_key_to_text(hs->expected, want);
		vx6_key_to_text(pp->key, got);
		return fail(hs, VX6_ERR_KEY_MISMATCH, "peer key mismatch: expected %s, peer has %s",
		    want, got);
	}
	return 0;
}

static void
finish(struct vx6_hs *hs, const struct peer_payload *pp, uint8_t version, enum vx6_aead_alg aead)
{
	uint8_t k1[VX6_NOISE_KEYLEN], k2[VX6_NOISE_KEYLEN];

	hs->result.pattern = hs->noise.pattern;
	hs->result.version = version;
	hs->result.aead = aead;
	memcpy(hs->result.peer_key, pp->key, VX6_KEY_LEN);
	vx6_node_id_from_key(hs->result.peer_node_id, pp->key);
	hs->result.peer_settings = pp->settings;
	memcpy(hs->result.hash, hs->noise.h, VX6_NOISE_HASHLEN);
	vx6_noise_hs_split(&hs->noise, k1, k2);
	memcpy(hs->result.send_key, hs->initiator ? k1 : k2, VX6_AEAD_KEYLEN);
	memcpy(hs->result.recv_key, hs->initiator ? k2 : k1, VX6_AEAD_KEYLEN);
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	vx6_noise_hs_wipe(&hs->noise);
	hs->state = HS_DONE;
}

/* Appends a Noise message with our signed payload to out, whose first `off`
 * bytes the caller has already filled. Returns the total length. */
static int
write_signed(struct vx6_hs *hs, uint8_t version, uint8_t aead, uint8_t *out, size_t cap, size_t off)
{
	uint8_t payload[VX6_HS_PAYLOAD_LEN];
	int a, b, rc;

	if (cap < off)
		return fail(hs, VX6_ERR_TOO_LARGE, "output buffer too small");
	a = vx6_noise_hs_write_tokens(&hs->noise, hs->env, out + off, cap - off);
	if (a < 0)
		return fail(hs, a, "handshake write failed: %s", vx6_strerror(a));
	rc = build_payload(hs, version, aead, payload);
	if (rc)
		return fail(hs, rc, "cannot sign handshake: %s", vx6_strerror(rc));
	b = vx6_noise_hs_write_payload(&hs->noise, payload, sizeof(payload), out + off + a,
	    cap - off - (size_t)a);
	sodium_memzero(payload, sizeof(payload));
	if (b < 0)
		return fail(hs, b, "handshake write failed: %s", vx6_strerror(b));
	return (int)(off + (size_t)a + (size_t)b);
}

int
vx6_hs_start(struct vx6_hs *hs, uint8_t *out, size_t cap)
{
	uint8_t pro[sizeof(PROLOGUE_LABEL) - 1 + VX6_HS_HEADER_LEN];
	enum vx6_noise_pattern pattern;
	uint8_t rs[VX6_KEY_LEN];
	int rc, n;

	if (!hs->initiator || hs->state != HS_NEW)
		return VX6_ERR_STATE;
	pattern = (hs->have_expected && !hs->force_xx) ? VX6_NOISE_IK : VX6_NOISE_XX;
	if (pattern == VX6_NOISE_IK && vx6_key_to_x25519(rs, hs->expected) != 0)
		return fail(hs, VX6_ERR_INVAL, "the expected peer key is not a valid Ed25519 key");

	memcpy(hs->header, VX6_HS_MAGIC, 4);
	hs->header[4] = VX6_HS_MSG1;
	hs->header[5] = (uint8_t)pattern;
	hs->header[6] = VX6_HS_VERSION_MIN;
	hs->header[7] = VX6_HS_VERSION_MAX;
	hs->header[8] = (uint8_t)hs->aead_mask;
	hs->header[9] = 0;
	prologue(hs->header, pro);
	rc = vx6_noise_hs_init(&hs->noise, pattern, true, pro, sizeof(pro), hs->local->x_sk,
	    hs->local->x_pk, pattern == VX6_NOISE_IK ? rs : NULL);
	if (rc)
		return fail(hs, rc, "handshake init failed");
	if (cap < VX6_HS_HEADER_LEN)
		return fail(hs, VX6_ERR_TOO_LARGE, "output buffer too small");
	memcpy(out, hs->header, VX6_HS_HEADER_LEN);
	if (pattern == VX6_NOISE_XX) {
		/* "-> e" with an empty cleartext payload. */
		n = vx6_noise_hs_write(&hs->noise, hs->env, NULL, 0, out + VX6_HS_HEADER_LEN,
		    cap - VX6_HS_HEADER_LEN);
		if (n < 0)
			return fail(hs, n, "handshake write failed");
		n += VX6_HS_HEADER_LEN;
	} else {
		n = write_signed(hs, 0, 0, out, cap, VX6_HS_HEADER_LEN);
		if (n < 0)
			return n;
	}
	hs->state = HS_WAIT_MSG2;
	return n;
}

static int
pick_aead(unsigned offer, unsigned mine)
{
	unsigned both = offer & mine;

	/* AES-GCM only when both ends run it in hardware: it is then faster. */
	if (both & (1u << (VX6_AEAD_AES256_GCM - 1)))
		return VX6_AEAD_AES256_GCM;
	if (both & (1u << (VX6_AEAD_CHACHA20_POLY1305 - 1)))
		return VX6_AEAD_CHACHA20_POLY1305;
	return 0;
}

static size_t
reply_error(uint8_t *out, size_t cap, enum vx6_hs_error_code code, const char *reason)
{
	return vx6_hs_error_message(code, reason, out, cap);
}

static int
acceptor_msg1(struct vx6_hs *hs, const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
    size_t *outlen)
{
	uint8_t pro[sizeof(PROLOGUE_LABEL) - 1 + VX6_HS_HEADER_LEN];
	uint8_t payload[VX6_HS_PAYLOAD_LEN];
	struct peer_payload pp;
	enum vx6_noise_pattern pattern;
	uint8_t vmin, vmax, version;
	int aead, n, rc;

	if (len < VX6_HS_HEADER_LEN || memcmp(msg, VX6_HS_MAGIC, 4) != 0 || msg[4] != VX6_HS_MSG1) {
		*outlen = reply_error(out, cap, VX6_HS_E_MALFORMED, "not a VX6 handshake");
		return fail(hs, VX6_ERR_MALFORMED, "first message is not a VX6 handshake");
	}
	memcpy(hs->header, msg, VX6_HS_HEADER_LEN);
	pattern = (enum vx6_noise_pattern)msg[5];
	vmin = msg[6];
	vmax = msg[7];
	if (vmin > vmax || vmax < VX6_HS_VERSION_MIN || vmin > VX6_HS_VERSION_MAX) {
		char why[64];
		snprintf(why, sizeof(why), "this node speaks versions %d..%d", VX6_HS_VERSION_MIN,
		    VX6_HS_VERSION_MAX);
		*outlen = reply_error(out, cap, VX6_HS_E_VERSION, why);
		return fail(hs, VX6_ERR_VERSION, "dialer offers versions %u..%u, we speak %d..%d",
		    vmin, vmax, VX6_HS_VERSION_MIN, VX6_HS_VERSION_MAX);
	}
	version = vmax < VX6_HS_VERSION_MAX ? vmax : VX6_HS_VERSION_MAX;
	aead = pick_aead(msg[8], hs->aead_mask);
	if (aead == 0 && msg[9] == 0) {
		char why[80];
		snprintf(why, sizeof(why), "no AEAD in common (you offer 0x%02x, this node runs 0x%02x)",
		    msg[8], hs->aead_mask);
		*outlen = reply_error(out, cap, VX6_HS_E_MALFORMED, why);
		return fail(hs, VX6_ERR_PROTOCOL, "dialer offers AEAD mask 0x%02x; we run 0x%02x",
		    msg[8], hs->aead_mask);
	}
	if (msg[9] != 0 || aead == 0 || (pattern != VX6_NOISE_IK && pattern != VX6_NOISE_XX) ||
	    len != VX6_HS_HEADER_LEN + vx6_noise_msg_len(pattern, 0,
	        pattern == VX6_NOISE_IK ? VX6_HS_PAYLOAD_LEN : 0)) {
		*outlen = reply_error(out, cap, VX6_HS_E_MALFORMED, "malformed first message");
		return fail(hs, VX6_ERR_MALFORMED, "malformed first handshake message (length %zu)", len);
	}
	prologue(hs->header, pro);
	rc = vx6_noise_hs_init(&hs->noise, pattern, false, pro, sizeof(pro), hs->local->x_sk,
	    hs->local->x_pk, NULL);
	if (rc)
		return fail(hs, rc, "handshake init failed");
	n = vx6_noise_hs_read(&hs->noise, msg + VX6_HS_HEADER_LEN, len - VX6_HS_HEADER_LEN, payload,
	    sizeof(payload));
	if (n < 0) {
		*outlen = reply_error(out, cap, VX6_HS_E_DECRYPT,
		    "cannot decrypt: you expect a different key for this node");
		return fail(hs, VX6_ERR_CRYPTO,
		    "cannot decrypt an IK handshake: the dialer expects a different key for us");
	}
	if (pattern == VX6_NOISE_IK) {
		rc = check_payload(hs, payload, (size_t)n, &pp);
		if (rc)
			return rc;
		if (pp.version != 0 || pp.aead != 0)
			return fail(hs, VX6_ERR_MALFORMED, "dialer payload sets responder-only fields");
	} else if (n != 0) {
		return fail(hs, VX6_ERR_MALFORMED, "XX first message carries a payload");
	}
	if (cap < 1)
		return fail(hs, VX6_ERR_TOO_LARGE, "output buffer too small");
	out[0] = VX6_HS_MSG2;
	n = write_signed(hs, version, (uint8_t)aead, out, cap, 1);
	if (n < 0)
		return n;
	*outlen = (size_t)n;
	hs->result.version = version;
	hs->result.aead = (enum vx6_aead_alg)aead;
	if (pattern == VX6_NOISE_IK) {
		finish(hs, &pp, version, (enum vx6_aead_alg)aead);
	} else {
		hs->state = HS_WAIT_MSG3;
	}
	return 0;
}

static int
dialer_msg2(struct vx6_hs *hs, const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
    size_t *outlen)
{
	uint8_t payload[VX6_HS_PAYLOAD_LEN];
	struct peer_payload pp;
	int n, rc;

	if (len == 0 || msg[0] != VX6_HS_MSG2 ||
	    len != 1 + vx6_noise_msg_len(hs->noise.pattern, 1, VX6_HS_PAYLOAD_LEN))
		return fail(hs, VX6_ERR_MALFORMED, "malformed second handshake message (length %zu)", len);
	n = vx6_noise_hs_read(&hs->noise, msg + 1, len - 1, payload, sizeof(payload));
	if (n < 0)
		return fail(hs, VX6_ERR_CRYPTO, "cannot decrypt the peer's handshake reply");
	rc = check_payload(hs, payload, (size_t)n, &pp);
	if (rc)
		return rc;
	if (pp.version < hs->header[6] || pp.version > hs->header[7])
		return fail(hs, VX6_ERR_VERSION, "peer chose version %u outside our %u..%u",
		    pp.version, hs->header[6], hs->header[7]);
	if (pp.aead == 0 || pp.aead > 8 || !(hs->aead_mask & (1u << (pp.aead - 1))))
		return fail(hs, VX6_ERR_PROTOCOL, "peer chose an AEAD we did not offer");
	if (hs->noise.pattern == VX6_NOISE_XX) {
		if (cap < 1)
			return fail(hs, VX6_ERR_TOO_LARGE, "output buffer too small");
		out[0] = VX6_HS_MSG3;
		n = write_signed(hs, 0, 0, out, cap, 1);
		if (n < 0)
			return n;
		*outlen = (size_t)n;
	}
	finish(hs, &pp, pp.version, (enum vx6_aead_alg)pp.aead);
	return 0;
}

static int
acceptor_msg3(struct vx6_hs *hs, const uint8_t *msg, size_t len)
{
	uint8_t payload[VX6_HS_PAYLOAD_LEN];
	struct peer_payload pp;
	int n, rc;

	if (len == 0 || msg[0] != VX6_HS_MSG3 ||
	    len != 1 + vx6_noise_msg_len(VX6_NOISE_XX, 2, VX6_HS_PAYLOAD_LEN))
		return fail(hs, VX6_ERR_MALFORMED, "malformed third handshake message (length %zu)", len);
	n = vx6_noise_hs_read(&hs->noise, msg + 1, len - 1, payload, sizeof(payload));
	if (n < 0)
		return fail(hs, VX6_ERR_CRYPTO, "cannot decrypt the dialer's final handshake message");
	rc = check_payload(hs, payload, (size_t)n, &pp);
	if (rc)
		return rc;
	if (pp.version != 0 || pp.aead != 0)
		return fail(hs, VX6_ERR_MALFORMED, "dialer payload sets responder-only fields");
	finish(hs, &pp, hs->result.version, hs->result.aead);
	return 0;
}

int
vx6_hs_recv(struct vx6_hs *hs, const uint8_t *msg, size_t len, uint8_t *out, size_t cap,
    size_t *outlen)
{
	*outlen = 0;
	if (hs->state == HS_FAILED)
		return hs->err;
	if (len > VX6_HS_MAX_MSG)
		return fail(hs, VX6_ERR_TOO_LARGE, "handshake message of %zu bytes is too large", len);
	if (len >= 1 && msg[0] == VX6_HS_ERROR && hs->initiator && hs->state == HS_WAIT_MSG2) {
		describe_peer_error(hs, msg, len);
		return hs->err;
	}
	switch (hs->state) {
	case HS_WAIT_MSG1:
		return acceptor_msg1(hs, msg, len, out, cap, outlen);
	case HS_WAIT_MSG2:
		return dialer_msg2(hs, msg, len, out, cap, outlen);
	case HS_WAIT_MSG3:
		return acceptor_msg3(hs, msg, len);
	default:
		return fail(hs, VX6_ERR_STATE, "unexpected handshake message (%s)",
		    hs->state == HS_DONE ? "handshake already done" : "not started");
	}
}
