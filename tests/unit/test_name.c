/*
 * test_name — lib/name: a label is 1..15 characters of [a-z0-9-], neither
 * starting nor ending with '-'; checked by examples, by every short string
 * over a mixed alphabet against a naive reading of that rule, and by the
 * message vx6_name_why_invalid gives for each class of mistake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/name.h"

/* The rule as written in name.h, implemented independently. */
static bool
reference_valid(const char *s, size_t n)
{
	if (n < 1 || n > 15)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
		if (!ok)
			return false;
	}
	return s[0] != '-' && s[n - 1] != '-';
}

/* Typical valid names, including the 1- and 15-character bounds. */
static void
test_valid_examples(void **state)
{
	static const char *const good[] = {
		"a", "z", "0", "9", "alice", "bob-2", "a-b", "a--b", "9lives", "web", "node-01",
		"abcdefghijklmno", "0123456789abcde", "a-------------b",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!vx6_name_valid(good[i]))
			fail_msg("\"%s\" should be valid", good[i]);
		assert_true(vx6_name_valid_n(good[i], strlen(good[i])));
		assert_null(vx6_name_why_invalid(good[i]));
	}
}

/* Invalid names of every class are refused by all three functions. */
static void
test_invalid_examples(void **state)
{
	static const char *const bad[] = {
		"", "abcdefghijklmnop", "abcdefghijklmnopqrstuvwxyz", "-", "-a", "a-", "-a-", "--",
		"Alice", "A", "a_b", "a.b", "a b", " a", "a ", "a\n", "caf\xc3\xa9", "a/b", "a:b",
		"web.svc", "a\t", "\xff",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (vx6_name_valid(bad[i]))
			fail_msg("\"%s\" should be invalid", bad[i]);
		assert_false(vx6_name_valid_n(bad[i], strlen(bad[i])));
		assert_non_null(vx6_name_why_invalid(bad[i]));
	}
	assert_false(vx6_name_valid(NULL));
	assert_non_null(vx6_name_why_invalid(NULL));
}

/* Every string of length 0..4 over an alphabet of edge characters agrees
 * with the reference, and why_invalid is NULL exactly for valid names. */
static void
test_exhaustive_short_strings(void **state)
{
	static const char alpha[] = { 'a', 'z', '0', '9', '-', 'A', 'Z', '_', '.', ' ', '`', '{',
		'/', ':', '\x80' };
	enum { K = sizeof(alpha) };
	char s[8];

	(void)state;
	for (size_t len = 0; len <= 4; len++) {
		size_t total = 1;
		for (size_t i = 0; i < len; i++)
			total *= K;
		for (size_t code = 0; code < total; code++) {
			size_t c = code;
			for (size_t i = 0; i < len; i++) {
				s[i] = alpha[c % K];
				c /= K;
			}
			s[len] = '\0';
			bool want = reference_valid(s, len);
			if (vx6_name_valid(s) != want)
				fail_msg("vx6_name_valid(\"%s\") != %d", s, want);
			assert_int_equal(vx6_name_valid_n(s, len), want);
			assert_int_equal(vx6_name_why_invalid(s) == NULL, want);
		}
	}
}

/* Lengths around the 15-character limit, for each function. */
static void
test_length_bounds(void **state)
{
	char s[64];

	(void)state;
	for (size_t len = 0; len < sizeof(s); len++) {
		memset(s, 'x', len);
		s[len] = '\0';
		bool want = len >= 1 && len <= VX6_NAME_MAX;
		assert_int_equal(vx6_name_valid(s), want);
		assert_int_equal(vx6_name_valid_n(s, len), want);
		assert_int_equal(vx6_name_why_invalid(s) == NULL, want);
	}
	assert_int_equal(VX6_NAME_BUF, VX6_NAME_MAX + 1);
}

/* vx6_name_valid_n looks at exactly n bytes: it needs no NUL, ignores what
 * follows, and refuses an embedded NUL. */
static void
test_valid_n_bounds(void **state)
{
	const char buf[] = { 'w', 'e', 'b', '-', '-', 'X' };   /* no NUL */

	(void)state;
	assert_true(vx6_name_valid_n(buf, 3));                  /* "web" */
	assert_false(vx6_name_valid_n(buf, 4));                 /* "web-" */
	assert_false(vx6_name_valid_n(buf, 6));                 /* uppercase X */
	assert_false(vx6_name_valid_n(buf, 0));
	assert_false(vx6_name_valid_n("ab\0cd", 5));
	assert_true(vx6_name_valid_n("abcdefghijklmnopq", 15));
	assert_false(vx6_name_valid_n("abcdefghijklmnopq", 16));
}

/* why_invalid explains each class of mistake with its own message naming
 * the rule that was broken. */
static void
test_why_invalid_messages(void **state)
{
	const char *empty, *toolong, *chars, *dash;

	(void)state;
	empty = vx6_name_why_invalid("");
	toolong = vx6_name_why_invalid("abcdefghijklmnop");
	chars = vx6_name_why_invalid("Web");
	dash = vx6_name_why_invalid("-web");
	assert_non_null(empty);
	assert_non_null(toolong);
	assert_non_null(chars);
	assert_non_null(dash);
	assert_non_null(strstr(empty, "empty"));
	assert_string_equal(vx6_name_why_invalid(NULL), empty);
	assert_non_null(strstr(toolong, "15"));
	assert_non_null(strstr(chars, "a-z"));
	assert_non_null(strstr(chars, "0-9"));
	assert_non_null(strstr(chars, "'-'"));
	assert_non_null(strstr(dash, "start"));
	assert_non_null(strstr(dash, "end"));
	/* the same class gives the same message */
	assert_string_equal(vx6_name_why_invalid("web-"), dash);
	assert_string_equal(vx6_name_why_invalid("-"), dash);
	assert_string_equal(vx6_name_why_invalid("a_b"), chars);
	assert_string_equal(vx6_name_why_invalid("a.b"), chars);
	assert_string_equal(vx6_name_why_invalid("abcdefghijklmnopqrstuvwxyz"), toolong);
	/* the four messages are distinct */
	assert_string_not_equal(empty, toolong);
	assert_string_not_equal(empty, chars);
	assert_string_not_equal(empty, dash);
	assert_string_not_equal(toolong, chars);
	assert_string_not_equal(toolong, dash);
	assert_string_not_equal(chars, dash);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_examples),
		cmocka_unit_test(test_invalid_examples),
		cmocka_unit_test(test_exhaustive_short_strings),
		cmocka_unit_test(test_length_bounds),
		cmocka_unit_test(test_valid_n_bounds),
		cmocka_unit_test(test_why_invalid_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
