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

/* --- Session pump and cleanup helpers (added for the protocol-core tests) - */

struct vx6_session;

/* Moves every chunk `from` has queued into `to` (NULL: the bytes are dropped)
 * through vx6_session_recv at time now, then confirms them written with
 * vx6_session_written. With split NULL each chunk is fed in one call;
 * otherwise the concatenated bytes are fed in pieces of 1..max_piece bytes
 * drawn from split (a quarter of them a single byte), so units are cut at
 * random places. Returns the bytes moved, or the first negative error of
 * vx6_session_recv (the bytes after it are dropped). */
long tu_session_transfer(struct vx6_session *from, struct vx6_session *to, uint64_t now,
    struct vx6_det_rng *split, size_t max_piece);
/* Transfers both ways at time now until neither session has output; aborts
 * after 100000 rounds (a livelock). Returns 0 or the first negative error a
 * vx6_session_recv returned (pumping continues after it). */
int tu_session_pump(struct vx6_session *a, struct vx6_session *b, uint64_t now,
    struct vx6_det_rng *split, size_t max_piece);
/* Takes everything s has queued as one malloc'd buffer of *len bytes
 * (caller frees) and confirms it written. Returns NULL when nothing is queued. */
uint8_t *tu_session_take_bytes(struct vx6_session *s, size_t *len);
/* Writes 2n lowercase hex digits and a NUL to out (cap >= 2n + 1). */
void tu_hex_encode(const uint8_t *p, size_t n, char *out);

/* Registers p to be released with fn(p) by tu_release_all(), so a test that
 * fails an assertion (cmocka jumps out of it) does not leak; tu_forget(p)
 * unregisters it when the test released it itself. At most 64 at a time. */
void tu_track(void *p, void (*fn)(void *));
void tu_forget(void *p);
/* Releases everything still tracked; returns 0, so it can be passed as a
 * cmocka setup/teardown function. */
int tu_release_all(void **state);

#endif
