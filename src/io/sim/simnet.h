/*
 * simnet — a deterministic discrete-event scheduler with a virtual clock, the
 * base of the in-process simulated network (tests/sim, bench). Events run in
 * time order (ties in scheduling order); nothing sleeps. One seed drives all
 * randomness, so a failing run replays exactly. The simulator owns its event
 * queue; callers own what their events point to.
 */
#ifndef VX6_IO_SIM_SIMNET_H
#define VX6_IO_SIM_SIMNET_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/env.h"

typedef void vx6_sim_fn(void *ud, uint64_t arg);

struct vx6_simnet;

struct vx6_simnet *vx6_simnet_new(uint64_t seed);
/* Frees the queue; events still queued are dropped without running (their
 * `drop` hook, if any, is called to free what arg points to). */
void vx6_simnet_free(struct vx6_simnet *net, void (*drop)(void *ud, uint64_t arg));
uint64_t vx6_simnet_now(const struct vx6_simnet *net);
/* Schedules fn(ud, arg) at virtual time `when` (ns; clamped to now). */
int vx6_simnet_at(struct vx6_simnet *net, uint64_t when, vx6_sim_fn *fn, void *ud, uint64_t arg);
/* Runs events until the clock would pass `until` or the queue empties.
 * Returns false when max_events ran first (a livelock guard). */
bool vx6_simnet_run(struct vx6_simnet *net, uint64_t until, uint64_t max_events);
uint64_t vx6_simnet_events(const struct vx6_simnet *net);
struct vx6_det_rng *vx6_simnet_rng(struct vx6_simnet *net);
/* Uniform in [lo, hi]. */
uint64_t vx6_simnet_uniform(struct vx6_simnet *net, uint64_t lo, uint64_t hi);

#endif
