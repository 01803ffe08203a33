/*
 * test_hrtimer — the high-resolution timer descriptor of the os layer
 * (vx6_os_hrtimer_*), which the libuv adapter uses for wake-ups under a
 * millisecond (QUIC pacing). Checked: it never fires before its deadline,
 * it does fire once the deadline passed, re-arming replaces the deadline,
 * and drain() leaves it quiet. Linux must have one; on a system without
 * (-1) the tests say so and pass: the adapter then turns the loop instead.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <time.h>

#include "os/os.h"

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int
readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, timeout_ms);
}

static int
open_or_skip(void)
{
	int fd = vx6_os_hrtimer_open();

#ifdef __linux__
	assert_true(fd >= 0);   /* a timerfd: never missing on Linux */
#else
	if (fd < 0)
		print_message("  no high-resolution timer on this system: nothing to test\n");
#endif
	return fd;
}

/* Arms fd for deadline, waits (at most 5 s) until it fires, checks that it
 * did not fire early, and drains it. */
static void
fires_at(int fd, uint64_t deadline)
{
	assert_int_equal(vx6_os_hrtimer_arm(fd, deadline), 0);
	assert_int_equal(readable(fd, 5000), 1);
	assert_true(mono_ns() >= deadline);
	vx6_os_hrtimer_drain(fd);
}

/* Armed 20 ms ahead: quiet at once, readable within five seconds, and never
 * before the deadline (the kernel does not fire a timerfd early). */
static void
test_fires_at_deadline(void **state)
{
	int fd = open_or_skip();

	(void)state;
	if (fd < 0)
		return;
	fires_at(fd, mono_ns() + 20 * 1000000ULL);
	assert_int_equal(readable(fd, 0), 0);   /* drained, and one-shot */
	vx6_os_hrtimer_close(fd);
}

/* A sub-millisecond deadline fires too (the reason the timer exists), and
 * a deadline already past fires at once. */
static void
test_short_and_past(void **state)
{
	int fd = open_or_skip();

	(void)state;
	if (fd < 0)
		return;
	fires_at(fd, mono_ns() + 200 * 1000ULL);
	fires_at(fd, mono_ns() - 1000000ULL);
	fires_at(fd, 0);   /* the clock's epoch: due (0 would disarm a timerfd) */
	vx6_os_hrtimer_close(fd);
}

/* Re-arming replaces the deadline: one an hour away, then one 5 ms away
 * fires; the other way round, the near one no longer fires. */
static void
test_rearm_replaces(void **state)
{
	int fd = open_or_skip();
	uint64_t now;

	(void)state;
	if (fd < 0)
		return;
	now = mono_ns();
	assert_int_equal(vx6_os_hrtimer_arm(fd, now + 3600ULL * 1000000000ULL), 0);
	fires_at(fd, now + 5 * 1000000ULL);
	now = mono_ns();
	assert_int_equal(vx6_os_hrtimer_arm(fd, now + 5 * 1000000ULL), 0);
	assert_int_equal(vx6_os_hrtimer_arm(fd, now + 3600ULL * 1000000000ULL), 0);
	assert_int_equal(readable(fd, 100), 0);
	vx6_os_hrtimer_close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fires_at_deadline),
		cmocka_unit_test(test_short_and_past),
		cmocka_unit_test(test_rearm_replaces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
