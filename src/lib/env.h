/*
 * env — what a protocol core is given instead of reaching for the OS.
 *
 * Cores take the time as an argument on every call (uint64_t nanoseconds on a
 * monotonic clock) and reach randomness and logging only through this
 * struct, so the simulator can run thousands of nodes from one seed.
 * The struct and what it points to are borrowed and must outlive the core.
 */
#ifndef VX6_LIB_ENV_H
#define VX6_LIB_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "lib/log.h"

#define VX6_NS_PER_MS 1000000ULL
#define VX6_NS_PER_SEC 1000000000ULL
#define VX6_TIME_NEVER UINT64_MAX

typedef void vx6_random_fn(void *ud, void *buf, size_t n);

struct vx6_env {
	vx6_random_fn *random;   /* must fill buf with n unpredictable bytes */
	void *random_ud;
	const struct vx6_log *log;
};

static inline void
vx6_env_random(const struct vx6_env *env, void *buf, size_t n)
{
	env->random(env->random_ud, buf, n);
}

/* The production RNG (libsodium randombytes_buf); ud unused. */
void vx6_env_sodium_random(void *ud, void *buf, size_t n);

/* A deterministic RNG for tests and simulation: ChaCha20 keyed by a seed. */
struct vx6_det_rng {
	uint8_t key[32];
	uint64_t counter;
};
void vx6_det_rng_init(struct vx6_det_rng *r, uint64_t seed);
void vx6_det_rng_fill(void *ud, void *buf, size_t n);   /* ud: struct vx6_det_rng * */
uint64_t vx6_det_rng_u64(struct vx6_det_rng *r);

#endif
