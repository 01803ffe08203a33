#include "io/sim/simnet.h"

#include <stdlib.h>

#include "lib/err.h"

struct event {
	uint64_t when;
	uint64_t order;
	vx6_sim_fn *fn;
	void *ud;
	uint64_t arg;
};

struct vx6_simnet {
	uint64_t now;
	uint64_t order;
	uint64_t events_run;
	struct event *heap;
	size_t n, cap;
	struct vx6_det_rng rng;
};

static bool
before(const struct event *a, const struct event *b)
{
	return a->when < b->when || (a->when == b->when && a->order < b->order);
}

struct vx6_simnet *
vx6_simnet_new(uint64_t seed)
{
	struct vx6_simnet *net = calloc(1, sizeof(*net));

	if (net)
		vx6_det_rng_init(&net->rng, seed);
	return net;
}

void
vx6_simnet_free(struct vx6_simnet *net, void (*drop)(void *ud, uint64_t arg))
{
	if (net == NULL)
		return;
	for (size_t i = 0; drop && i < net->n; i++)
		drop(net->heap[i].ud, net->heap[i].arg);
	free(net->heap);
	free(net);
}

uint64_t
vx6_simnet_now(const struct vx6_simnet *net)
{
	return net->now;
}

uint64_t
vx6_simnet_events(const struct vx6_simnet *net)
{
	return net->events_run;
}

struct vx6_det_rng *
vx6_simnet_rng(struct vx6_simnet *net)
{
	return &net->rng;
}

uint64_t
vx6_simnet_uniform(struct vx6_simnet *net, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return lo;
	if (hi - lo == UINT64_MAX)
		return vx6_det_rng_u64(&net->rng);   /* the whole range: hi - lo + 1 wraps */
	return lo + vx6_det_rng_u64(&net->rng) % (hi - lo + 1);
}

int
vx6_simnet_at(struct vx6_simnet *net, uint64_t when, vx6_sim_fn *fn, void *ud, uint64_t arg)
{
	struct event e = { when < net->now ? net->now : when, net->order++, fn, ud, arg };
	size_t i;

	if (net->n == net->cap) {
		size_t cap = net->cap ? net->cap * 2 : 1024;
		struct event *h = realloc(net->heap, cap * sizeof(*h));
		if (h == NULL)
			return VX6_ERR_NOMEM;
		net->heap = h;
		net->cap = cap;
	}
	i = net->n++;
	while (i > 0 && before(&e, &net->heap[(i - 1) / 2])) {
		net->heap[i] = net->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	net->heap[i] = e;
	return 0;
}

static struct event
pop(struct vx6_simnet *net)
{
	struct event top = net->heap[0], last = net->heap[--net->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= net->n)
			break;
		if (c + 1 < net->n && before(&net->heap[c + 1], &net->heap[c]))
			c++;
		if (!before(&net->heap[c], &last))
			break;
		net->heap[i] = net->heap[c];
		i = c;
	}
	if (net->n)
		net->heap[i] = last;
	return top;
}

bool
vx6_simnet_run(struct vx6_simnet *net, uint64_t until, uint64_t max_events)
{
	uint64_t ran = 0;

	while (net->n > 0 && net->heap[0].when <= until) {
		struct event e;
		if (ran++ >= max_events)
			return false;
		e = pop(net);
		net->now = e.when;
		net->events_run++;
		e.fn(e.ud, e.arg);
	}
	if (until > net->now && until != UINT64_MAX)
		net->now = until;
	return true;
}
