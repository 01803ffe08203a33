/*
 * test_addr — lib/addr: the accepted and rejected text forms, the canonical
 * format and its round trip through parse, loopback/unspecified detection,
 * and equality (which includes the transport).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/addr.h"
#include "lib/env.h"
#include "lib/err.h"
#include "testutil.h"

static struct vx6_addr
must_parse(const char *text)
{
	struct vx6_addr a;

	if (vx6_addr_parse(&a, text, false) != 0)
		fail_msg("expected %s to parse", text);
	return a;
}

/* The documented forms parse to the right family, address, port and
 * transport; "localhost" means 127.0.0.1 and no scheme means TCP. */
static void
test_accepted_forms(void **state)
{
	static const uint8_t lo6[16] = { [15] = 1 };
	static const uint8_t db8[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };
	struct vx6_addr a;

	(void)state;
	a = must_parse("[::1]:4242");
	assert_int_equal(a.family, 6);
	assert_int_equal(a.port, 4242);
	assert_int_equal(a.transport, VX6_TRANSPORT_TCP);
	assert_memory_equal(a.ip, lo6, 16);

	a = must_parse("127.0.0.1:80");
	assert_int_equal(a.family, 4);
	assert_int_equal(a.port, 80);
	assert_memory_equal(a.ip, "\x7f\x00\x00\x01", 4);

	a = must_parse("localhost:80");
	assert_int_equal(a.family, 4);
	assert_int_equal(a.port, 80);
	assert_memory_equal(a.ip, "\x7f\x00\x00\x01", 4);

	a = must_parse("tcp://[2001:db8::1]:443");
	assert_int_equal(a.family, 6);
	assert_int_equal(a.transport, VX6_TRANSPORT_TCP);
	assert_int_equal(a.port, 443);
	assert_memory_equal(a.ip, db8, 16);

	a = must_parse("quic://127.0.0.1:4433");
	assert_int_equal(a.family, 4);
	assert_int_equal(a.transport, VX6_TRANSPORT_QUIC);
	assert_int_equal(a.port, 4433);

	a = must_parse("quic://[::1]:1");
	assert_int_equal(a.transport, VX6_TRANSPORT_QUIC);
	assert_int_equal(a.port, 1);

	a = must_parse("tcp://localhost:65535");
	assert_int_equal(a.port, 65535);

	a = must_parse("[::ffff:127.0.0.1]:80");
	assert_int_equal(a.family, 6);
	assert_memory_equal(a.ip, mapped, 16);

	a = must_parse("[::]:4242");
	assert_int_equal(a.family, 6);
	assert_true(vx6_addr_is_unspecified(&a));
}

/* Port 0 is accepted only when the caller allows it. */
/* A bare address parsed for listening or dialing is AUTO (the node's
 * transport policy decides); a scheme always wins; AUTO prints bare. */
static void
test_policy_forms(void **state)
{
	struct vx6_addr a;
	char out[VX6_ADDR_STRLEN];

	(void)state;
	assert_int_equal(vx6_addr_parse_policy(&a, "[::1]:4242", false), 0);
	assert_int_equal(a.transport, VX6_TRANSPORT_AUTO);
	vx6_addr_format(&a, out, sizeof(out), true);
	assert_string_equal(out, "[::1]:4242");
	assert_int_equal(vx6_addr_parse_policy(&a, "tcp://[::1]:4242", false), 0);
	assert_int_equal(a.transport, VX6_TRANSPORT_TCP);
	assert_int_equal(vx6_addr_parse_policy(&a, "quic://127.0.0.1:1", false), 0);
	assert_int_equal(a.transport, VX6_TRANSPORT_QUIC);
	assert_int_equal(vx6_addr_parse_policy(&a, "[::]:0", true), 0);
	assert_int_not_equal(vx6_addr_parse_policy(&a, "[::]:0", false), 0);
	assert_int_not_equal(vx6_addr_parse_policy(&a, "udp://[::1]:1", false), 0);
	/* the plain parser keeps "bare means TCP" (records, targets) */
	assert_int_equal(vx6_addr_parse(&a, "[::1]:4242", false), 0);
	assert_int_equal(a.transport, VX6_TRANSPORT_TCP);
}

static void
test_port_zero(void **state)
{
	struct vx6_addr a;

	(void)state;
	assert_int_equal(vx6_addr_parse(&a, "127.0.0.1:0", false), VX6_ERR_MALFORMED);
	assert_int_equal(vx6_addr_parse(&a, "[::1]:0", false), VX6_ERR_MALFORMED);
	assert_int_equal(vx6_addr_parse(&a, "127.0.0.1:0", true), 0);
	assert_int_equal(a.port, 0);
	assert_int_equal(vx6_addr_parse(&a, "[::]:0", true), 0);
	assert_int_equal(a.port, 0);
	assert_int_equal(a.family, 6);
}

/* Everything outside the documented forms is MALFORMED, with and without
 * port 0 allowed: bare IPv6, zone ids, bad ports, junk, empty, names that
 * would need DNS, unknown schemes, over-long text. */
static void
test_rejected_forms(void **state)
{
	static const char *const bad[] = {
		/* bare IPv6 without brackets */
		"::1:4242", "2001:db8::1:80", "::1", "[::1]",
		/* zone ids */
		"[fe80::1%eth0]:80", "[fe80::1%25eth0]:80", "fe80::1%eth0:80",
		/* ports */
		"127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:123456", "127.0.0.1:", "127.0.0.1",
		"127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1: 80", "[::1]:", "[::1]:65536",
		"127.0.0.1:0x50", "127.0.0.1:1e3",
		/* trailing or leading junk */
		"127.0.0.1:80x", "127.0.0.1:80 ", " 127.0.0.1:80", "127.0.0.1:80/", "[::1]:4242]",
		"[::1]x:80", "[::1]]:80", "[[::1]]:80", "tcp://127.0.0.1:80/path", "127.0.0.1:80:80",
		"[::1]:80\n",
		/* empty and partial */
		"", "tcp://", "quic://", ":80", "[]:80", "[:80", "localhost", "127.0.0.1:",
		/* not an address of the right family / needs DNS */
		"[127.0.0.1]:80", "256.1.1.1:80", "1.2.3:80", "1.2.3.4.5:80", "example.com:80",
		"LOCALHOST:80", "localhost.:80",
		/* schemes */
		"udp://127.0.0.1:80", "TCP://127.0.0.1:80", "tcp:/127.0.0.1:80", "tcp://tcp://127.0.0.1:80",
		"quic://tcp://127.0.0.1:80",
	};
	char longtext[1200];
	struct vx6_addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int allow0 = 0; allow0 <= 1; allow0++) {
			int rc = vx6_addr_parse(&a, bad[i], allow0);
			if (rc != VX6_ERR_MALFORMED)
				fail_msg("\"%s\" (allow_port0=%d) gave %d, want MALFORMED", bad[i], allow0, rc);
		}
	}
	assert_int_equal(vx6_addr_parse(&a, NULL, false), VX6_ERR_MALFORMED);

	/* over-long: a valid prefix followed by a very long port or host */
	snprintf(longtext, sizeof(longtext), "127.0.0.1:%01100d", 80);
	assert_int_equal(vx6_addr_parse(&a, longtext, false), VX6_ERR_MALFORMED);
	memset(longtext, '1', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	longtext[0] = '[';
	assert_int_equal(vx6_addr_parse(&a, longtext, false), VX6_ERR_MALFORMED);
	snprintf(longtext, sizeof(longtext), "quic://[%0200d::1]:80", 0);
	assert_int_equal(vx6_addr_parse(&a, longtext, false), VX6_ERR_MALFORMED);
}

/* The longest canonical forms (full IPv6 with scheme and port 65535) fit
 * VX6_ADDR_STRLEN and parse back. */
static void
test_longest_forms(void **state)
{
	const char *t = "quic://[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
	char out[VX6_ADDR_STRLEN];
	struct vx6_addr a;

	(void)state;
	a = must_parse(t);
	vx6_addr_format(&a, out, sizeof(out), true);
	assert_string_equal(out, t);
	a = must_parse("tcp://[0000:0000:0000:0000:0000:ffff:255.255.255.255]:65535");
	vx6_addr_format(&a, out, sizeof(out), true);
	assert_string_equal(out, "tcp://[::ffff:255.255.255.255]:65535");
}

/* Formatting gives the canonical text, with a scheme only when asked. */
static void
test_format_canonical(void **state)
{
	static const struct {
		const char *in, *plain, *scheme;
	} cases[] = {
		{ "[2001:0db8:0000:0000:0000:0000:0000:0001]:80", "[2001:db8::1]:80", "tcp://[2001:db8::1]:80" },
		{ "localhost:8080", "127.0.0.1:8080", "tcp://127.0.0.1:8080" },
		{ "tcp://10.1.2.3:00080", "10.1.2.3:80", "tcp://10.1.2.3:80" },
		{ "quic://[::1]:4242", "[::1]:4242", "quic://[::1]:4242" },
		{ "[::FFFF:7F00:1]:9", "[::ffff:127.0.0.1]:9", "tcp://[::ffff:127.0.0.1]:9" },
	};
	char out[VX6_ADDR_STRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vx6_addr a = must_parse(cases[i].in);
		vx6_addr_format(&a, out, sizeof(out), false);
		assert_string_equal(out, cases[i].plain);
		vx6_addr_format(&a, out, sizeof(out), true);
		assert_string_equal(out, cases[i].scheme);
	}
}

/* format(with scheme) then parse gives back an equal address for random
 * addresses of both families and transports; format without a scheme
 * parses back as the same address over TCP. */
static void
test_round_trip_random(void **state)
{
	struct vx6_det_rng rng;
	char text[VX6_ADDR_STRLEN];

	(void)state;
	assert_true(sodium_init() >= 0);
	vx6_det_rng_init(&rng, tu_seed());
	for (int i = 0; i < 20000; i++) {
		struct vx6_addr a, b;
		uint64_t r = vx6_det_rng_u64(&rng);

		memset(&a, 0, sizeof(a));
		a.family = (r & 1) ? 6 : 4;
		a.transport = (r & 2) ? VX6_TRANSPORT_QUIC : VX6_TRANSPORT_TCP;
		a.port = (uint16_t)(1 + (r >> 8) % 65535);
		vx6_det_rng_fill(&rng, a.ip, a.family == 4 ? 4 : 16);
		if (a.family == 6 && (r & 4))   /* exercise IPv4-mapped and :: runs */
			memset(a.ip, 0, 10 + (r >> 40) % 6);

		vx6_addr_format(&a, text, sizeof(text), true);
		if (vx6_addr_parse(&b, text, false) != 0)
			fail_msg("formatted text \"%s\" does not parse", text);
		assert_true(vx6_addr_equal(&a, &b));
		assert_memory_equal(&a, &b, sizeof(a));

		vx6_addr_format(&a, text, sizeof(text), false);
		assert_int_equal(vx6_addr_parse(&b, text, false), 0);
		assert_int_equal(b.transport, VX6_TRANSPORT_TCP);
		b.transport = a.transport;
		assert_true(vx6_addr_equal(&a, &b));
	}
}

/* Loopback is 127/8, ::1 and ::ffff:127/104; nothing else. */
static void
test_loopback(void **state)
{
	static const char *const yes[] = {
		"127.0.0.1:1", "127.255.255.254:1", "127.1.2.3:1", "localhost:1", "[::1]:1",
		"[::ffff:127.0.0.1]:1", "[::ffff:127.9.8.7]:1", "quic://[::1]:1",
	};
	static const char *const no[] = {
		"128.0.0.1:1", "126.255.255.255:1", "10.0.0.1:1", "0.0.0.0:1", "[::]:1", "[::2]:1",
		"[::1:0]:1", "[fe80::1]:1", "[::ffff:10.0.0.1]:1", "[::ffff:0.0.0.0]:1",
		"[2001:db8::1]:1", "[1::1]:1", "[::fffe:127.0.0.1]:1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		struct vx6_addr a = must_parse(yes[i]);
		if (!vx6_addr_is_loopback(&a))
			fail_msg("%s should be loopback", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		struct vx6_addr a = must_parse(no[i]);
		if (vx6_addr_is_loopback(&a))
			fail_msg("%s should not be loopback", no[i]);
	}
}

/* Unspecified is 0.0.0.0 and ::, nothing else. */
static void
test_unspecified(void **state)
{
	struct vx6_addr a;

	(void)state;
	a = must_parse("0.0.0.0:1");
	assert_true(vx6_addr_is_unspecified(&a));
	a = must_parse("[::]:1");
	assert_true(vx6_addr_is_unspecified(&a));
	a = must_parse("0.0.0.1:1");
	assert_false(vx6_addr_is_unspecified(&a));
	a = must_parse("[::1]:1");
	assert_false(vx6_addr_is_unspecified(&a));
	a = must_parse("[::8000:0:0:0]:1");
	assert_false(vx6_addr_is_unspecified(&a));
}

/* Equality compares family, address, port and transport. */
static void
test_equality(void **state)
{
	struct vx6_addr a, b;

	(void)state;
	a = must_parse("127.0.0.1:80");
	b = must_parse("localhost:80");
	assert_true(vx6_addr_equal(&a, &b));
	b = must_parse("tcp://127.0.0.1:80");
	assert_true(vx6_addr_equal(&a, &b));
	b = must_parse("quic://127.0.0.1:80");
	assert_false(vx6_addr_equal(&a, &b));
	assert_false(vx6_addr_equal(&b, &a));
	b = must_parse("127.0.0.1:81");
	assert_false(vx6_addr_equal(&a, &b));
	b = must_parse("127.0.0.2:80");
	assert_false(vx6_addr_equal(&a, &b));
	b = must_parse("[::ffff:127.0.0.1]:80");   /* other family, same host */
	assert_false(vx6_addr_equal(&a, &b));
	a = must_parse("[2001:db8::1]:80");
	b = must_parse("[2001:db8::2]:80");        /* differs in the last byte only */
	assert_false(vx6_addr_equal(&a, &b));
	b = must_parse("[2001:0db8:0::1]:80");
	assert_true(vx6_addr_equal(&a, &b));
}

/* Same host ignores port and transport, never family or address bytes. */
static void
test_same_host(void **state)
{
	struct vx6_addr a, b;

	(void)state;
	a = must_parse("[2001:db8::1]:4242");
	b = must_parse("quic://[2001:db8::1]:51000");
	assert_true(vx6_addr_same_host(&a, &b));
	b = must_parse("[2001:db8::1:0]:4242");
	assert_false(vx6_addr_same_host(&a, &b));
	a = must_parse("10.0.0.1:1");
	b = must_parse("10.0.0.1:2");
	assert_true(vx6_addr_same_host(&a, &b));
	b = must_parse("[::ffff:10.0.0.1]:1");
	assert_false(vx6_addr_same_host(&a, &b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_forms),
		cmocka_unit_test(test_port_zero),
		cmocka_unit_test(test_policy_forms),
		cmocka_unit_test(test_rejected_forms),
		cmocka_unit_test(test_longest_forms),
		cmocka_unit_test(test_format_canonical),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_unspecified),
		cmocka_unit_test(test_equality),
		cmocka_unit_test(test_same_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
