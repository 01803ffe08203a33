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
