#include "testutil.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
stderr_sink(void *ud, enum vx6_log_level level, const char *module, const char *msg)
{
	(void)ud;
	fprintf(stderr, "[%s] %s: %s\n", vx6_log_level_name(level), module, msg);
}

size_t
tu_hex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	if (sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &n, NULL) != 0) {
		fprintf(stderr, "tu_hex: bad hex or too long: %s\n", hex);
		abort();
	}
	return n;
}

void
tu_identity(struct vx6_identity *id, uint8_t b)
{
	uint8_t seed[VX6_SEED_LEN];

	memset(seed, b, sizeof(seed));
	if (sodium_init() < 0 || vx6_identity_from_seed(id, seed) != 0)
		abort();
}

void
tu_env_init(struct tu_env *e, uint64_t seed)
{
	if (sodium_init() < 0)
		abort();
	vx6_det_rng_init(&e->rng, seed);
	e->log.level = getenv("VX6_TEST_LOG") ? VX6_LOG_DEBUG : VX6_LOG_ERROR;
	e->log.sink = getenv("VX6_TEST_LOG") ? stderr_sink : NULL;
	e->log.ud = NULL;
	e->env.random = vx6_det_rng_fill;
	e->env.random_ud = &e->rng;
	e->env.log = &e->log;
}

uint64_t
tu_seed(void)
{
	const char *s = getenv("VX6_TEST_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);

	fprintf(stderr, "seed=%llu (set VX6_TEST_SEED to replay)\n", (unsigned long long)seed);
	return seed;
}

/* --- Session pump ---------------------------------------------------------- */

#include "core/session.h"
#include "lib/chunk.h"

long
tu_session_transfer(struct vx6_session *from, struct vx6_session *to, uint64_t now,
    struct vx6_det_rng *split, size_t max_piece)
{
	struct vx6_chunkq q;
	struct vx6_chunk *c;
	uint8_t *buf;
	size_t len = 0, off = 0, n;
	long moved;
	int rc = 0;

	vx6_chunkq_init(&q);
	vx6_session_take_output(from, &q);
	if (q.bytes == 0) {
		vx6_chunkq_clear(&q);
		return 0;
	}
	buf = malloc(q.bytes);
	if (buf == NULL)
		abort();
	while ((c = vx6_chunkq_pop(&q)) != NULL) {
		memcpy(buf + len, vx6_chunk_ptr(c), c->len);
		if (split == NULL && to != NULL && rc == 0)
			rc = vx6_session_recv(to, vx6_chunk_ptr(c), c->len, now);
		len += c->len;
		vx6_chunk_free(c);
	}
	while (split != NULL && to != NULL && rc == 0 && off < len) {
		uint64_t r = vx6_det_rng_u64(split);
		n = (r & 3) == 0 || max_piece <= 1 ? 1 : 1 + (size_t)((r >> 2) % max_piece);
		if (n > len - off)
			n = len - off;
		rc = vx6_session_recv(to, buf + off, n, now);
		off += n;
	}
	free(buf);
	vx6_session_written(from, len);
	moved = (long)len;
	return rc < 0 ? rc : moved;
}

int
tu_session_pump(struct vx6_session *a, struct vx6_session *b, uint64_t now,
    struct vx6_det_rng *split, size_t max_piece)
{
	int first = 0;
	long r;

	for (int round = 0; round < 100000; round++) {
		if (!vx6_session_has_output(a) && !vx6_session_has_output(b))
			return first;
		r = tu_session_transfer(a, b, now, split, max_piece);
		if (r < 0 && first == 0)
			first = (int)r;
		r = tu_session_transfer(b, a, now, split, max_piece);
		if (r < 0 && first == 0)
			first = (int)r;
	}
	fprintf(stderr, "tu_session_pump: still busy after 100000 rounds (livelock)\n");
	abort();
}

uint8_t *
tu_session_take_bytes(struct vx6_session *s, size_t *len)
{
	struct vx6_chunkq q;
	struct vx6_chunk *c;
	uint8_t *buf;

	*len = 0;
	vx6_chunkq_init(&q);
	vx6_session_take_output(s, &q);
	if (q.bytes == 0) {
		vx6_chunkq_clear(&q);
		return NULL;
	}
	buf = malloc(q.bytes);
	if (buf == NULL)
		abort();
	while ((c = vx6_chunkq_pop(&q)) != NULL) {
		memcpy(buf + *len, vx6_chunk_ptr(c), c->len);
		*len += c->len;
		vx6_chunk_free(c);
	}
	vx6_session_written(s, *len);
	return buf;
}

void
tu_hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* --- Release on failure ---------------------------------------------------- */

static struct {
	void *p;
	void (*fn)(void *);
} tracked[64];
static int ntracked;

void
tu_track(void *p, void (*fn)(void *))
{
	if (ntracked == (int)(sizeof(tracked) / sizeof(tracked[0]))) {
		fprintf(stderr, "tu_track: too many tracked objects\n");
		abort();
	}
	tracked[ntracked].p = p;
	tracked[ntracked].fn = fn;
	ntracked++;
}

void
tu_forget(void *p)
{
	for (int i = ntracked - 1; i >= 0; i--) {
		if (tracked[i].p == p) {
			tracked[i] = tracked[--ntracked];
			return;
		}
	}
}

int
tu_release_all(void **state)
{
	(void)state;
	while (ntracked > 0) {
		ntracked--;
		tracked[ntracked].fn(tracked[ntracked].p);
	}
	return 0;
}
