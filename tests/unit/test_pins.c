/*
 * test_pins — store/pins: the known_peers file ("ADDR KEY [# comment]").
 * Valid lines are reported with a canonical address, invalid ones are
 * skipped and counted, later lines for an address win, and what
 * vx6_pins_append writes loads back. Files live in a mkdtemp() directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/identity.h"
#include "lib/err.h"
#include "store/pins.h"

#define MAXPINS 32

/* What the callback saw, in order. */
struct seen {
	char addr[MAXPINS][VX6_ADDR_STRLEN];
	uint8_t key[MAXPINS][VX6_KEY_LEN];
	int n;
};

static void
collect(void *ud, const char *addr, const uint8_t key[VX6_KEY_LEN])
{
	struct seen *s = ud;

	assert_true(s->n < MAXPINS);
	snprintf(s->addr[s->n], sizeof(s->addr[s->n]), "%s", addr);
	memcpy(s->key[s->n], key, VX6_KEY_LEN);
	s->n++;
}

/* The key a caller applying "later lines win" ends up with for addr. */
static const uint8_t *
last_key_for(const struct seen *s, const char *addr)
{
	const uint8_t *k = NULL;

	for (int i = 0; i < s->n; i++)
		if (strcmp(s->addr[i], addr) == 0)
			k = s->key[i];
	return k;
}

static void
key_of(uint8_t b, uint8_t key[32], char text[VX6_KEY_TEXT_LEN])
{
	memset(key, b, 32);
	key[0] = 0x10;
	vx6_key_to_text(key, text);
}

static int
group_setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

/* Valid lines (with and without a trailing comment, CRLF, surrounding
 * blanks) are all reported, in file order, with their keys. */
static void
test_parse_valid(void **state)
{
	uint8_t k1[32], k2[32], k3[32];
	char t1[VX6_KEY_TEXT_LEN], t2[VX6_KEY_TEXT_LEN], t3[VX6_KEY_TEXT_LEN], text[1024];
	struct seen s = { 0 };

	(void)state;
	key_of(1, k1, t1);
	key_of(2, k2, t2);
	key_of(3, k3, t3);
	snprintf(text, sizeof(text),
	    "# known peers\n"
	    "\n"
	    "[2001:db8::1]:4242 %s # first seen 2024-01-01T00:00:00Z\n"
	    "192.0.2.1:4242 %s\r\n"
	    "  127.0.0.1:1\t%s  \n",
	    t1, t2, t3);
	assert_int_equal(vx6_pins_parse(text, collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.addr[0], "[2001:db8::1]:4242");
	assert_memory_equal(s.key[0], k1, 32);
	assert_string_equal(s.addr[1], "192.0.2.1:4242");
	assert_memory_equal(s.key[1], k2, 32);
	assert_string_equal(s.addr[2], "127.0.0.1:1");
	assert_memory_equal(s.key[2], k3, 32);

	s.n = 0;
	assert_int_equal(vx6_pins_parse("", collect, &s), 0);
	assert_int_equal(s.n, 0);
	/* no final newline */
	snprintf(text, sizeof(text), "[::1]:9 %s", t1);
	assert_int_equal(vx6_pins_parse(text, collect, &s), 0);
	assert_int_equal(s.n, 1);
}

/* Invalid lines are skipped and counted exactly; valid lines around them
 * are still reported. */
static void
test_parse_skips_invalid(void **state)
{
	uint8_t k[32];
	char t[VX6_KEY_TEXT_LEN], text[4096], longline[400];
	struct seen s = { 0 };

	(void)state;
	key_of(7, k, t);
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	snprintf(text, sizeof(text),
	    "127.0.0.1:1 %s\n"                  /* valid */
	    "127.0.0.1:2\n"                     /* 1: no key */
	    "not-an-addr %s\n"                  /* 2: bad address */
	    "127.0.0.1:0 %s\n"                  /* 3: port 0 */
	    "::1:4242 %s\n"                     /* 4: bare IPv6 */
	    "127.0.0.1:3 %.42s\n"               /* 5: short key */
	    "127.0.0.1:4 %sA\n"                 /* 6: long key */
	    "127.0.0.1:5 %s=\n"                 /* 7: padded key */
	    "%s\n"                              /* 8: over-long line */
	    "127.0.0.1:6 %s\n",                 /* valid */
	    t, t, t, t, t, t, t, longline, t);
	assert_int_equal(vx6_pins_parse(text, collect, &s), 8);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.addr[0], "127.0.0.1:1");
	assert_string_equal(s.addr[1], "127.0.0.1:6");
	assert_memory_equal(s.key[1], k, 32);

	/* an over-long line whose start looks valid is still skipped whole */
	s.n = 0;
	snprintf(text, sizeof(text), "127.0.0.1:7 %s # %s\n127.0.0.1:8 %s\n", t, longline, t);
	assert_int_equal(vx6_pins_parse(text, collect, &s), 1);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.addr[0], "127.0.0.1:8");
}

/* Addresses are reported in canonical form, so spellings of one address
 * collapse to one pin. */
static void
test_parse_canonicalises(void **state)
{
	static const char *const in[][2] = {
		{ "localhost:4242", "127.0.0.1:4242" },
		{ "tcp://127.0.0.1:4242", "127.0.0.1:4242" },
		{ "[2001:0db8:0000:0000::0001]:80", "[2001:db8::1]:80" },
		{ "[::FFFF:7f00:1]:80", "[::ffff:127.0.0.1]:80" },
		{ "10.0.0.1:00080", "10.0.0.1:80" },
	};
	uint8_t k[32];
	char t[VX6_KEY_TEXT_LEN], line[256];

	(void)state;
	key_of(4, k, t);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct seen s = { 0 };
		snprintf(line, sizeof(line), "%s %s\n", in[i][0], t);
		assert_int_equal(vx6_pins_parse(line, collect, &s), 0);
		assert_int_equal(s.n, 1);
		assert_string_equal(s.addr[0], in[i][1]);
	}
}

/* Lines are reported in order, so for an address given twice (in any
 * spelling) the later key is the one that wins. */
static void
test_later_lines_win(void **state)
{
	uint8_t k1[32], k2[32], k3[32];
	char t1[VX6_KEY_TEXT_LEN], t2[VX6_KEY_TEXT_LEN], t3[VX6_KEY_TEXT_LEN], text[1024];
	struct seen s = { 0 };

	(void)state;
	key_of(1, k1, t1);
	key_of(2, k2, t2);
	key_of(3, k3, t3);
	snprintf(text, sizeof(text),
	    "127.0.0.1:80 %s\n"
	    "[::1]:80 %s\n"
	    "localhost:80 %s\n"
	    "[0::1]:80 %s\n",
	    t1, t1, t2, t3);
	assert_int_equal(vx6_pins_parse(text, collect, &s), 0);
	assert_int_equal(s.n, 4);
	assert_memory_equal(last_key_for(&s, "127.0.0.1:80"), k2, 32);
	assert_memory_equal(last_key_for(&s, "[::1]:80"), k3, 32);
	assert_null(last_key_for(&s, "localhost:80"));
}

struct tmp {
	char dir[64];
	char path[128];
};

static int
setup_tmp(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/vx6-test-pins-XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/known_peers", t->dir);
	*state = t;
	return 0;
}

static int
teardown_tmp(void **state)
{
	struct tmp *t = *state;
	int rc;

	unlink(t->path);
	rc = rmdir(t->dir);
	free(t);
	return rc;
}

/* A missing file is an empty pin list; appended pins load back in order
 * (the newest winning), into a 0600 file whose lines carry the
 * "# first seen <UTC time>" comment. */
static void
test_append_then_load(void **state)
{
	struct tmp *t = *state;
	uint8_t k1[32], k2[32], k3[32];
	char t1[VX6_KEY_TEXT_LEN], buf[1024];
	struct seen s = { 0 };
	struct stat st;
	FILE *f;
	size_t n;

	key_of(1, k1, t1);
	key_of(2, k2, t1);
	key_of(3, k3, t1);
	assert_int_equal(vx6_pins_load(t->path, collect, &s), 0);
	assert_int_equal(s.n, 0);

	assert_int_equal(vx6_pins_append(t->path, "[2001:db8::1]:4242", k1), 0);
	assert_int_equal(vx6_pins_append(t->path, "127.0.0.1:4243", k2), 0);
	assert_int_equal(vx6_pins_append(t->path, "[2001:db8::1]:4242", k3), 0);
	assert_int_equal(stat(t->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(vx6_pins_load(t->path, collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.addr[0], "[2001:db8::1]:4242");
	assert_memory_equal(s.key[0], k1, 32);
	assert_string_equal(s.addr[1], "127.0.0.1:4243");
	assert_memory_equal(s.key[1], k2, 32);
	assert_memory_equal(last_key_for(&s, "[2001:db8::1]:4242"), k3, 32);

	f = fopen(t->path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_int_equal(buf[n - 1], '\n');
	for (char *line = buf; *line; line = strchr(line, '\n') + 1) {
		const char *c = strstr(line, " # first seen ");
		assert_non_null(c);
		/* YYYY-MM-DDTHH:MM:SSZ */
		assert_int_equal(strcspn(c + 14, "\n"), 20);
		assert_int_equal(c[14 + 10], 'T');
		assert_int_equal(c[14 + 19], 'Z');
	}
}

/* Appending to a hand-edited file whose last line has no newline must not
 * glue the new pin onto that line: both pins load afterwards. */
static void
test_append_after_missing_newline(void **state)
{
	struct tmp *t = *state;
	uint8_t k1[32], k2[32];
	char t1[VX6_KEY_TEXT_LEN], t2[VX6_KEY_TEXT_LEN];
	struct seen s = { 0 };
	FILE *f;
	int invalid;

	key_of(1, k1, t1);
	key_of(2, k2, t2);
	f = fopen(t->path, "w");
	assert_non_null(f);
	fprintf(f, "127.0.0.1:1 %s", t1);                /* no final '\n' */
	fclose(f);
	assert_int_equal(vx6_pins_append(t->path, "127.0.0.1:2", k2), 0);
	invalid = vx6_pins_load(t->path, collect, &s);
	/* Regression (fixed): this failed until vx6_pins_append (src/store/pins.c:61) or
	 * vx6_os_append_line (src/os/os_posix.c:94) first writes a '\n' when the
	 * file is non-empty and does not end in one. Today the new pin is glued
	 * onto the last line ("...KEY1127.0.0.1:2 KEY2 # first seen ..."), which
	 * then parses as one invalid line: both pins are lost at the next start. */
	if (invalid != 0 || s.n != 2)
		print_message("after append: %d invalid line(s), %d pin(s) loaded\n", invalid, s.n);
	assert_int_equal(invalid, 0);
	assert_int_equal(s.n, 2);
	assert_memory_equal(last_key_for(&s, "127.0.0.1:1"), k1, 32);
	assert_memory_equal(last_key_for(&s, "127.0.0.1:2"), k2, 32);
}

/* load reports errors other than "missing" (here: a directory). */
static void
test_load_unreadable(void **state)
{
	struct tmp *t = *state;
	struct seen s = { 0 };

	assert_true(vx6_pins_load(t->dir, collect, &s) < 0);
	assert_int_equal(s.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_skips_invalid),
		cmocka_unit_test(test_parse_canonicalises),
		cmocka_unit_test(test_later_lines_win),
		cmocka_unit_test_setup_teardown(test_append_then_load, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_append_after_missing_newline, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_load_unreadable, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
