/*
 * test_simnet — io/sim/simnet: the deterministic discrete-event scheduler
 * under tests/sim and bench. Events run in time order with ties in
 * scheduling order (checked against a stable sort of thousands of events,
 * past the heap's first growth); run() stops at `until` and at the event
 * cap; the clock never goes backwards; one seed gives one uniform() sequence;
 * free() hands every still-queued event to the drop hook exactly once.
 */

/* simnet.c lives in the vx6sim library, which unit tests do not link (it is
 * built for tests/sim and bench only), and tests/CMakeLists.txt may not be
 * changed here: so the implementation is compiled into this test directly.
 * It uses only lib/env (in vx6core, linked through vx6node). */
#include "../../src/io/sim/simnet.c"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

/* --- a trace of the events that ran --------------------------------------- */

struct trace {
	struct vx6_simnet *net;
	uint64_t arg[8192];
	uint64_t at[8192];
	size_t n;
};

static void
record(void *ud, uint64_t arg)
{
	struct trace *t = ud;

	assert_true(t->n < sizeof(t->arg) / sizeof(t->arg[0]));
	t->arg[t->n] = arg;
	t->at[t->n] = vx6_simnet_now(t->net);
	t->n++;
}

/* Events run in time order, ties in scheduling order, with the clock at each event's time. */
static void
test_time_order_ties_in_scheduling_order(void **state)
{
	static struct trace t;
	static const uint64_t when[] = { 30, 10, 20, 10, 10 };
	static const uint64_t want_arg[] = { 1, 3, 4, 2, 0 };
	static const uint64_t want_at[] = { 10, 10, 10, 20, 30 };

	(void)state;
	memset(&t, 0, sizeof(t));
	t.net = vx6_simnet_new(1);
	assert_non_null(t.net);
	for (uint64_t i = 0; i < 5; i++)
		assert_int_equal(vx6_simnet_at(t.net, when[i], record, &t, i), 0);
	assert_true(vx6_simnet_run(t.net, UINT64_MAX, 100));
	assert_int_equal(t.n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(t.arg[i], want_arg[i]);
		assert_int_equal(t.at[i], want_at[i]);
	}
	assert_int_equal(vx6_simnet_events(t.net), 5);
	assert_int_equal(vx6_simnet_now(t.net), 30);
	vx6_simnet_free(t.net, NULL);
}

struct ev_ref {
	uint64_t when, seq;
};

static int
cmp_ref(const void *a, const void *b)
{
	const struct ev_ref *x = a, *y = b;

	if (x->when != y->when)
		return x->when < y->when ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* 5000 events with many ties run exactly in the order of a stable sort by time (seeded). */
static void
test_order_matches_reference_sort(void **state)
{
	static struct trace t;
	static struct ev_ref ref[5000];
	struct vx6_det_rng rng;
	const size_t n = 5000;

	(void)state;
	memset(&t, 0, sizeof(t));
	vx6_det_rng_init(&rng, tu_seed());
	t.net = vx6_simnet_new(2);
	for (size_t i = 0; i < n; i++) {
		ref[i].when = 1000 + vx6_det_rng_u64(&rng) % 300;   /* ~17 per time */
		ref[i].seq = i;
		assert_int_equal(vx6_simnet_at(t.net, ref[i].when, record, &t, i), 0);
	}
	qsort(ref, n, sizeof(ref[0]), cmp_ref);
	assert_true(vx6_simnet_run(t.net, UINT64_MAX, n));
	assert_int_equal(t.n, n);
	for (size_t i = 0; i < n; i++) {
		if (t.arg[i] != ref[i].seq || t.at[i] != ref[i].when)
			fail_msg("event %zu: ran #%llu at %llu, want #%llu at %llu", i, (unsigned long long)t.arg[i],
			    (unsigned long long)t.at[i], (unsigned long long)ref[i].seq, (unsigned long long)ref[i].when);
	}
	vx6_simnet_free(t.net, NULL);
}

/* What chain_ev saw: order of args and the clock at each. */
struct chain {
	struct vx6_simnet *net;
	uint64_t order[16];
	uint64_t at[16];
	size_t n;
};

static void
chain_ev(void *ud, uint64_t arg)
{
	struct chain *c = ud;

	c->order[c->n] = arg;
	c->at[c->n] = vx6_simnet_now(c->net);
	c->n++;
	if (arg == 1) {
		assert_int_equal(vx6_simnet_at(c->net, 100, chain_ev, c, 10), 0);   /* same time */
		assert_int_equal(vx6_simnet_at(c->net, 5, chain_ev, c, 11), 0);     /* the past */
	}
}

/* Events scheduled from events at now run after those queued for now; past times clamp to now. */
static void
test_scheduling_from_events(void **state)
{
	struct chain c = { 0 };
	static const uint64_t want[] = { 1, 2, 10, 11, 3 };
	static const uint64_t want_at[] = { 100, 100, 100, 100, 200 };

	(void)state;
	c.net = vx6_simnet_new(3);
	vx6_simnet_at(c.net, 100, chain_ev, &c, 1);
	vx6_simnet_at(c.net, 100, chain_ev, &c, 2);
	vx6_simnet_at(c.net, 200, chain_ev, &c, 3);
	assert_true(vx6_simnet_run(c.net, UINT64_MAX, 100));
	assert_int_equal(c.n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(c.order[i], want[i]);
		assert_int_equal(c.at[i], want_at[i]);
	}
	/* Scheduling before now from outside is clamped too. */
	c.n = 0;
	vx6_simnet_at(c.net, 0, chain_ev, &c, 7);
	assert_true(vx6_simnet_run(c.net, UINT64_MAX, 100));
	assert_int_equal(c.n, 1);
	assert_int_equal(c.at[0], 200);
	vx6_simnet_free(c.net, NULL);
}

/* run(until) runs events at times <= until, leaves later ones queued and advances the clock to until. */
static void
test_run_stops_at_until(void **state)
{
	static struct trace t;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.net = vx6_simnet_new(4);
	vx6_simnet_at(t.net, 10, record, &t, 1);
	vx6_simnet_at(t.net, 20, record, &t, 2);
	vx6_simnet_at(t.net, 21, record, &t, 3);
	assert_true(vx6_simnet_run(t.net, 20, 100));
	assert_int_equal(t.n, 2);                       /* the event at exactly 20 ran */
	assert_int_equal(vx6_simnet_now(t.net), 20);
	assert_true(vx6_simnet_run(t.net, 15, 100));     /* until in the past: nothing */
	assert_int_equal(t.n, 2);
	assert_int_equal(vx6_simnet_now(t.net), 20);
	assert_true(vx6_simnet_run(t.net, 20, 100));
	assert_int_equal(t.n, 2);
	assert_true(vx6_simnet_run(t.net, 500, 100));
	assert_int_equal(t.n, 3);
	assert_int_equal(t.at[2], 21);
	assert_int_equal(vx6_simnet_now(t.net), 500);   /* idle time passes too */
	assert_true(vx6_simnet_run(t.net, 700, 100));   /* empty queue */
	assert_int_equal(vx6_simnet_now(t.net), 700);
	assert_int_equal(vx6_simnet_events(t.net), 3);
	vx6_simnet_free(t.net, NULL);
}

static void
livelock(void *ud, uint64_t arg)
{
	struct vx6_simnet *net = ud;

	(void)arg;
	vx6_simnet_at(net, vx6_simnet_now(net), livelock, net, 0);   /* forever, at one instant */
}

/* run() stops after exactly max_events (returning false) on a livelock, and returns true within the cap. */
static void
test_run_stops_at_event_cap(void **state)
{
	static struct trace t;
	struct vx6_simnet *net;

	(void)state;
	net = vx6_simnet_new(5);
	vx6_simnet_at(net, 50, livelock, net, 0);
	assert_false(vx6_simnet_run(net, UINT64_MAX, 1000));
	assert_int_equal(vx6_simnet_events(net), 1000);
	assert_int_equal(vx6_simnet_now(net), 50);
	assert_false(vx6_simnet_run(net, UINT64_MAX, 10));
	assert_int_equal(vx6_simnet_events(net), 1010);
	assert_false(vx6_simnet_run(net, 60, 0));          /* a cap of 0 runs nothing */
	assert_int_equal(vx6_simnet_events(net), 1010);
	vx6_simnet_free(net, NULL);

	memset(&t, 0, sizeof(t));
	t.net = vx6_simnet_new(6);
	for (uint64_t i = 0; i < 7; i++)
		vx6_simnet_at(t.net, 10 * i, record, &t, i);
	assert_true(vx6_simnet_run(t.net, UINT64_MAX, 7));
	assert_int_equal(t.n, 7);
	vx6_simnet_at(t.net, 100, record, &t, 7);
	vx6_simnet_at(t.net, 101, record, &t, 8);
	assert_false(vx6_simnet_run(t.net, UINT64_MAX, 1));
	assert_int_equal(t.n, 8);
	vx6_simnet_free(t.net, NULL);
}

/* The same seed gives the same uniform() sequence within [lo, hi]; another seed gives another. */
static void
test_uniform_deterministic(void **state)
{
	struct vx6_simnet *a = vx6_simnet_new(42), *b = vx6_simnet_new(42), *c = vx6_simnet_new(43);
	unsigned same_c = 0;
	bool seen_lo = false, seen_hi = false;

	(void)state;
	for (int i = 0; i < 10000; i++) {
		uint64_t lo = (uint64_t)(i % 7), hi = lo + (uint64_t)(i % 13);
		uint64_t x = vx6_simnet_uniform(a, lo, hi), y = vx6_simnet_uniform(b, lo, hi);
		uint64_t z = vx6_simnet_uniform(c, lo, hi);
		assert_int_equal(x, y);
		assert_true(x >= lo && x <= hi);
		assert_true(z >= lo && z <= hi);
		same_c += x == z;
		if (lo == 0 && hi == 12) {
			seen_lo |= x == 0;
			seen_hi |= x == 12;
		}
	}
	assert_true(same_c < 9000);         /* seed 43 is another sequence */
	assert_true(seen_lo && seen_hi);    /* both ends are reachable */
	for (int i = 0; i < 100; i++) {
		uint64_t x = vx6_simnet_uniform(a, 1000, 1000000000000ULL);
		assert_int_equal(x, vx6_simnet_uniform(b, 1000, 1000000000000ULL));
		assert_true(x >= 1000 && x <= 1000000000000ULL);
	}
	assert_int_equal(vx6_simnet_uniform(a, 5, 5), 5);
	assert_int_equal(vx6_simnet_uniform(a, 9, 3), 9);
	assert_int_equal(vx6_det_rng_u64(vx6_simnet_rng(a)), vx6_det_rng_u64(vx6_simnet_rng(b)));
	vx6_simnet_free(a, NULL);
	vx6_simnet_free(b, NULL);
	vx6_simnet_free(c, NULL);
}

static void
uniform_full_range(void)
{
	struct vx6_simnet *net = vx6_simnet_new(7);
	volatile uint64_t x = vx6_simnet_uniform(net, 0, UINT64_MAX);

	(void)x;
	vx6_simnet_free(net, NULL);
}

/* uniform(0, UINT64_MAX) returns a value instead of dividing by zero. */
static void
test_uniform_full_range(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	/* Regression (fixed): this failed until vx6_simnet_uniform (src/io/sim/simnet.c:74) handles
	 * hi - lo + 1 == 0 (lo = 0, hi = UINT64_MAX), e.g. by returning
	 * vx6_det_rng_u64() directly; today it computes x % 0 (SIGFPE, or a
	 * UBSan abort). */
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Crashes must kill the child: undo cmocka's handlers, which would
		 * longjmp back into the test runner inside the child. */
		signal(SIGFPE, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		uniform_full_range();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("uniform(0, UINT64_MAX) killed the process with signal %d", WTERMSIG(st));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("uniform(0, UINT64_MAX): child exit %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

struct drop_log {
	unsigned n;
	uint64_t sum;
	void *ud_seen;
};

static void
drop_hook(void *ud, uint64_t arg)
{
	struct drop_log *d = ud;

	d->n++;
	d->sum += arg;
	d->ud_seen = ud;
}

static void
must_not_run(void *ud, uint64_t arg)
{
	(void)ud;
	(void)arg;
	fail_msg("a dropped event ran");
}

/* free() calls the drop hook once per still-queued event (never for ones that ran); free(NULL) is safe. */
static void
test_free_drops_queued(void **state)
{
	static struct trace t;
	struct drop_log d = { 0 };
	struct vx6_simnet *net;
	uint64_t want = 0;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.net = vx6_simnet_new(8);
	vx6_simnet_at(t.net, 1, record, &t, 1000000);
	assert_true(vx6_simnet_run(t.net, 1, 10));
	assert_int_equal(t.n, 1);
	for (uint64_t i = 1; i <= 2000; i++) {
		vx6_simnet_at(t.net, 10 + i % 17, must_not_run, &d, i);
		want += i;
	}
	vx6_simnet_free(t.net, drop_hook);
	assert_int_equal(d.n, 2000);
	assert_int_equal(d.sum, want);
	assert_ptr_equal(d.ud_seen, &d);

	net = vx6_simnet_new(9);
	vx6_simnet_at(net, 1, must_not_run, NULL, 0);
	vx6_simnet_free(net, NULL);
	vx6_simnet_free(NULL, drop_hook);
	net = vx6_simnet_new(10);
	vx6_simnet_free(net, drop_hook);   /* empty: the hook is not called */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_order_ties_in_scheduling_order),
		cmocka_unit_test(test_order_matches_reference_sort),
		cmocka_unit_test(test_scheduling_from_events),
		cmocka_unit_test(test_run_stops_at_until),
		cmocka_unit_test(test_run_stops_at_event_cap),
		cmocka_unit_test(test_uniform_deterministic),
		cmocka_unit_test(test_uniform_full_range),
		cmocka_unit_test(test_free_drops_queued),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
