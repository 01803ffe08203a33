/*
 * testutil — small helpers shared by the cmocka unit tests: hex decoding,
 * deterministic identities and a deterministic environment (seeded RNG,
 * logging captured to stderr only when VX6_TEST_LOG is set).
 */
#ifndef VX6_TESTUTIL_H
#define VX6_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "lib/env.h"
#include "lib/log.h"

struct tu_env {
	struct vx6_det_rng rng;
	struct vx6_log log;
	struct vx6_env env;
};

/* Decodes hex into out; returns the byte count (aborts the test on bad hex). */
size_t tu_hex(const char *hex, uint8_t *out, size_t cap);
/* An identity from a seed of 32 copies of b. */
void tu_identity(struct vx6_identity *id, uint8_t b);
void tu_env_init(struct tu_env *e, uint64_t seed);
/* Prints "seed=N" so a failing randomized test can be replayed. */
uint64_t tu_seed(void);

#endif
