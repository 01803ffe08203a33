/*
 * test_ctl — ctl: the control protocol's strict request parser (valid
 * requests, each kind of rejection with its error code) and the reply,
 * event and request builders (one '\n'-terminated line that parses back to
 * the same fields).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ctl/ctl.h"
#include "lib/err.h"

static int
parse(const char *line, struct vx6_ctl_request *req, char *err, size_t errlen)
{
	return vx6_ctl_parse_request(line, strlen(line), req, err, errlen);
}

/* Checks that s is exactly one line: ends in '\n', has no other '\n' and
 * no other control or non-ASCII bytes; returns it parsed (caller decrefs). */
static json_t *
one_line(const char *s)
{
	size_t n;
	json_error_t jerr;
	json_t *o;

	assert_non_null(s);
	n = strlen(s);
	assert_true(n >= 3);
	assert_int_equal(s[n - 1], '\n');
	for (size_t i = 0; i + 1 < n; i++)
		assert_true((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f);
	o = json_loadb(s, n - 1, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		fail_msg("builder output does not parse: %s (%s)", s, jerr.text);
	assert_true(json_is_object(o));
	return o;
}

/* A minimal request parses: id, cmd, and args defaulting to {}. */
static void
test_valid_requests(void **state)
{
	struct vx6_ctl_request req;
	char err[256];

	(void)state;
	assert_int_equal(parse("{\"id\":1,\"cmd\":\"status\"}", &req, err, sizeof(err)), 0);
	assert_true(req.id == 1);
	assert_string_equal(req.cmd, "status");
	assert_non_null(req.args);
	assert_true(json_is_object(req.args));
	assert_int_equal(json_object_size(req.args), 0);
	vx6_ctl_request_free(&req);
	assert_null(req.root);
	vx6_ctl_request_free(&req);                     /* freeing twice is harmless */

	assert_int_equal(parse(" { \"cmd\" : \"connect.open\" , \"args\" : {\"service\":\"web\","
	    "\"detach\":true}, \"id\": 0 } ", &req, err, sizeof(err)), 0);
	assert_true(req.id == 0);
	assert_string_equal(req.cmd, "connect.open");
	assert_int_equal(json_object_size(req.args), 2);
	vx6_ctl_request_free(&req);

	/* without an id: id is -1 */
	assert_int_equal(parse("{\"cmd\":\"ping\"}", &req, err, sizeof(err)), 0);
	assert_true(req.id == -1);
	vx6_ctl_request_free(&req);

	/* the largest integer JSON can carry exactly, and beyond */
	assert_int_equal(parse("{\"id\":9007199254740993,\"cmd\":\"ping\"}", &req, err, sizeof(err)), 0);
	assert_true(req.id == 9007199254740993LL);
	vx6_ctl_request_free(&req);
	assert_int_equal(parse("{\"id\":9223372036854775807,\"cmd\":\"ping\"}", &req, err,
	    sizeof(err)), 0);
	assert_true(req.id == INT64_MAX);
	vx6_ctl_request_free(&req);

	/* every command the node lists is accepted */
	for (size_t i = 0; vx6_ctl_commands[i]; i++) {
		char line[128];
		snprintf(line, sizeof(line), "{\"id\":%zu,\"cmd\":\"%s\",\"args\":{}}", i,
		    vx6_ctl_commands[i]);
		assert_int_equal(parse(line, &req, err, sizeof(err)), 0);
		assert_string_equal(req.cmd, vx6_ctl_commands[i]);
		vx6_ctl_request_free(&req);
	}
}

/* Expects line to be refused with code rc, a message, no root kept, and
 * req->id as given. */
static void
expect_reject(const char *line, size_t len, int rc, int64_t id)
{
	struct vx6_ctl_request req;
	char err[256];
	int got;

	err[0] = '\0';
	got = vx6_ctl_parse_request(line, len, &req, err, sizeof(err));
	if (got != rc)
		fail_msg("\"%.80s\": got %d, want %d (%s)", line, got, rc, err);
	assert_true(err[0] != '\0');
	assert_null(req.root);
	if (req.id != id)
		fail_msg("\"%.80s\": id %lld, want %lld", line, (long long)req.id, (long long)id);
}

static void
reject(const char *line, int rc, int64_t id)
{
	expect_reject(line, strlen(line), rc, id);
}

/* Non-objects, missing or non-string cmd, bad ids, non-object args,
 * duplicate keys and invalid JSON are MALFORMED; unknown commands are
 * NOT_FOUND with the id still reported. */
static void
test_rejections(void **state)
{
	(void)state;
	/* not an object */
	reject("[]", VX6_ERR_MALFORMED, -1);
	reject("[{\"cmd\":\"status\"}]", VX6_ERR_MALFORMED, -1);
	reject("1", VX6_ERR_MALFORMED, -1);
	reject("\"status\"", VX6_ERR_MALFORMED, -1);
	reject("null", VX6_ERR_MALFORMED, -1);
	reject("true", VX6_ERR_MALFORMED, -1);
	/* cmd */
	reject("{}", VX6_ERR_MALFORMED, -1);
	reject("{\"id\":4}", VX6_ERR_MALFORMED, 4);
	reject("{\"id\":4,\"cmd\":5}", VX6_ERR_MALFORMED, 4);
	reject("{\"id\":4,\"cmd\":null}", VX6_ERR_MALFORMED, 4);
	reject("{\"id\":4,\"cmd\":[\"status\"]}", VX6_ERR_MALFORMED, 4);
	reject("{\"id\":4,\"cmd\":{\"name\":\"status\"}}", VX6_ERR_MALFORMED, 4);
	/* unknown commands */
	reject("{\"id\":7,\"cmd\":\"stat\"}", VX6_ERR_NOT_FOUND, 7);
	reject("{\"id\":7,\"cmd\":\"STATUS\"}", VX6_ERR_NOT_FOUND, 7);
	reject("{\"id\":7,\"cmd\":\"status \"}", VX6_ERR_NOT_FOUND, 7);
	reject("{\"id\":7,\"cmd\":\"\"}", VX6_ERR_NOT_FOUND, 7);
	reject("{\"cmd\":\"shutdown\"}", VX6_ERR_NOT_FOUND, -1);
	/* id */
	reject("{\"id\":-1,\"cmd\":\"status\"}", VX6_ERR_MALFORMED, -1);
	reject("{\"id\":-9223372036854775808,\"cmd\":\"status\"}", VX6_ERR_MALFORMED, -1);
	reject("{\"id\":1.5,\"cmd\":\"status\"}", VX6_ERR_MALFORMED, -1);
	reject("{\"id\":1.0,\"cmd\":\"status\"}", VX6_ERR_MALFORMED, -1);
	reject("{\"id\":1e3,\"cmd\":\"status\"}", VX6_ERR_MALFORMED, -1);
	reject("{\"id\":\"1\",\"cmd\":\"status\"}", VX6_ERR_MALFORMED, -1);
	reject("{\"id\":null,\"cmd\":\"status\"}", VX6_ERR_MALFORMED, -1);
	reject("{\"id\":true,\"cmd\":\"status\"}", VX6_ERR_MALFORMED, -1);
	reject("{\"id\":99999999999999999999,\"cmd\":\"status\"}", VX6_ERR_MALFORMED, -1);
	/* args */
	reject("{\"id\":2,\"cmd\":\"status\",\"args\":[]}", VX6_ERR_MALFORMED, 2);
	reject("{\"id\":2,\"cmd\":\"status\",\"args\":\"x\"}", VX6_ERR_MALFORMED, 2);
	reject("{\"id\":2,\"cmd\":\"status\",\"args\":null}", VX6_ERR_MALFORMED, 2);
	reject("{\"id\":2,\"cmd\":\"status\",\"args\":1}", VX6_ERR_MALFORMED, 2);
	/* duplicate keys, at the top and inside args */
	reject("{\"id\":1,\"id\":2,\"cmd\":\"status\"}", VX6_ERR_MALFORMED, -1);
	reject("{\"cmd\":\"status\",\"cmd\":\"reload\"}", VX6_ERR_MALFORMED, -1);
	reject("{\"cmd\":\"status\",\"args\":{\"a\":1,\"a\":2}}", VX6_ERR_MALFORMED, -1);
	/* invalid JSON */
	reject("", VX6_ERR_MALFORMED, -1);
	reject("   ", VX6_ERR_MALFORMED, -1);
	reject("{", VX6_ERR_MALFORMED, -1);
	reject("{\"cmd\":\"status\"", VX6_ERR_MALFORMED, -1);
	reject("{\"cmd\":\"status\"}}", VX6_ERR_MALFORMED, -1);
	reject("{\"cmd\":\"status\"} {\"cmd\":\"status\"}", VX6_ERR_MALFORMED, -1);
	reject("{\"cmd\":\"status\"} x", VX6_ERR_MALFORMED, -1);
	reject("{'cmd':'status'}", VX6_ERR_MALFORMED, -1);
	reject("{\"cmd\":\"status\",}", VX6_ERR_MALFORMED, -1);
	reject("{\"cmd\":\"sta\\u0000tus\"}", VX6_ERR_MALFORMED, -1);
	reject("{\"cmd\":\"\xff\"}", VX6_ERR_MALFORMED, -1);
	/* bytes after the object within len, including a NUL */
	expect_reject("{\"cmd\":\"status\"}\0junk", 21, VX6_ERR_MALFORMED, -1);
	expect_reject("{\"cmd\":\"status\"}\0", 17, VX6_ERR_MALFORMED, -1);
	/* only len bytes are read: a truncated object is invalid */
	expect_reject("{\"cmd\":\"status\"}", 15, VX6_ERR_MALFORMED, -1);
}

/* Lines up to VX6_CTL_MAX_LINE bytes are parsed; one byte more is
 * TOO_LARGE before any parsing. */
static void
test_line_length_cap(void **state)
{
	const char *head = "{\"id\":3,\"cmd\":\"status\",\"args\":{\"pad\":\"";
	char *line = malloc(VX6_CTL_MAX_LINE + 2);
	struct vx6_ctl_request req;
	char err[256];
	size_t hl = strlen(head);

	(void)state;
	assert_non_null(line);
	/* exactly VX6_CTL_MAX_LINE bytes: head, padding, "\"}}" */
	memcpy(line, head, hl);
	memset(line + hl, 'x', VX6_CTL_MAX_LINE - hl - 3);
	memcpy(line + VX6_CTL_MAX_LINE - 3, "\"}}", 3);
	line[VX6_CTL_MAX_LINE] = '\0';
	assert_int_equal(vx6_ctl_parse_request(line, VX6_CTL_MAX_LINE, &req, err, sizeof(err)), 0);
	assert_true(req.id == 3);
	vx6_ctl_request_free(&req);

	/* one more byte (still valid JSON: trailing space) */
	line[VX6_CTL_MAX_LINE] = ' ';
	line[VX6_CTL_MAX_LINE + 1] = '\0';
	err[0] = '\0';
	assert_int_equal(vx6_ctl_parse_request(line, VX6_CTL_MAX_LINE + 1, &req, err, sizeof(err)),
	    VX6_ERR_TOO_LARGE);
	assert_null(req.root);
	assert_true(err[0] != '\0');
	assert_int_equal(vx6_ctl_parse_request(line, SIZE_MAX, &req, err, sizeof(err)),
	    VX6_ERR_TOO_LARGE);
	free(line);
}

/* Argument accessors: absent/null give the default, a wrong type sets bad. */
static void
test_arg_accessors(void **state)
{
	struct vx6_ctl_request req;
	char err[256];
	int bad = 0;

	(void)state;
	assert_int_equal(parse("{\"cmd\":\"connect.open\",\"args\":{\"s\":\"web\",\"n\":null,"
	    "\"b\":true,\"f\":false,\"i\":1}}", &req, err, sizeof(err)), 0);
	assert_string_equal(vx6_ctl_arg_str(&req, "s", &bad), "web");
	assert_int_equal(bad, 0);
	assert_null(vx6_ctl_arg_str(&req, "n", &bad));
	assert_null(vx6_ctl_arg_str(&req, "missing", &bad));
	assert_int_equal(bad, 0);
	assert_null(vx6_ctl_arg_str(&req, "i", &bad));
	assert_int_equal(bad, 1);
	bad = 0;
	assert_int_equal(vx6_ctl_arg_bool(&req, "b", 0, &bad), 1);
	assert_int_equal(vx6_ctl_arg_bool(&req, "f", 1, &bad), 0);
	assert_int_equal(vx6_ctl_arg_bool(&req, "missing", 1, &bad), 1);
	assert_int_equal(vx6_ctl_arg_bool(&req, "n", 0, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(vx6_ctl_arg_bool(&req, "s", 1, &bad), 1);
	assert_int_equal(bad, 1);
	bad = 0;
	assert_int_equal(vx6_ctl_arg_bool(&req, "i", 0, &bad), 0);
	assert_int_equal(bad, 1);
	vx6_ctl_request_free(&req);
}

/* reply_ok: one line {"id", "ok": true, "result"}; NULL result is {}. */
static void
test_reply_ok(void **state)
{
	char *s;
	json_t *o, *r;

	(void)state;
	r = json_pack("{s:i, s:s}", "sessions", 3, "name", "alice");
	s = vx6_ctl_reply_ok(42, r);
	o = one_line(s);
	assert_true(json_integer_value(json_object_get(o, "id")) == 42);
	assert_true(json_is_true(json_object_get(o, "ok")));
	r = json_object_get(o, "result");
	assert_true(json_is_object(r));
	assert_true(json_integer_value(json_object_get(r, "sessions")) == 3);
	assert_string_equal(json_string_value(json_object_get(r, "name")), "alice");
	assert_int_equal(json_object_size(o), 3);
	json_decref(o);
	free(s);

	s = vx6_ctl_reply_ok(INT64_MAX, NULL);
	o = one_line(s);
	assert_true(json_integer_value(json_object_get(o, "id")) == INT64_MAX);
	assert_true(json_is_object(json_object_get(o, "result")));
	assert_int_equal(json_object_size(json_object_get(o, "result")), 0);
	json_decref(o);
	free(s);
}

/* reply_error: {"id", "ok": false, "error": {"code", "message"}}, with
 * newlines, quotes and non-ASCII in the message escaped onto one line. */
static void
test_reply_error(void **state)
{
	const char *msg = "no such \"thing\"\nsecond line\tcaf\xc3\xa9 \\ end";
	char *s;
	json_t *o, *e;

	(void)state;
	s = vx6_ctl_reply_error(9, "not-found", msg);
	o = one_line(s);
	assert_true(json_integer_value(json_object_get(o, "id")) == 9);
	assert_true(json_is_false(json_object_get(o, "ok")));
	e = json_object_get(o, "error");
	assert_true(json_is_object(e));
	assert_string_equal(json_string_value(json_object_get(e, "code")), "not-found");
	assert_string_equal(json_string_value(json_object_get(e, "message")), msg);
	assert_null(json_object_get(o, "result"));
	json_decref(o);
	free(s);

	/* a request that could not be read has id -1 */
	s = vx6_ctl_reply_error(-1, "bad-request", "x");
	o = one_line(s);
	assert_true(json_integer_value(json_object_get(o, "id")) == -1);
	json_decref(o);
	free(s);
}

/* event: the fields plus "event": name; NULL fields gives just the name. */
static void
test_event(void **state)
{
	char *s;
	json_t *o;

	(void)state;
	s = vx6_ctl_event("session-up", json_pack("{s:s, s:i}", "addr", "[::1]:4242", "n", 2));
	o = one_line(s);
	assert_string_equal(json_string_value(json_object_get(o, "event")), "session-up");
	assert_string_equal(json_string_value(json_object_get(o, "addr")), "[::1]:4242");
	assert_true(json_integer_value(json_object_get(o, "n")) == 2);
	assert_int_equal(json_object_size(o), 3);
	json_decref(o);
	free(s);

	s = vx6_ctl_event("key-mismatch", NULL);
	o = one_line(s);
	assert_string_equal(json_string_value(json_object_get(o, "event")), "key-mismatch");
	assert_int_equal(json_object_size(o), 1);
	json_decref(o);
	free(s);
}

/* request_line builds what vx6_ctl_parse_request accepts, with the same
 * id, cmd and args (args {} when NULL). */
static void
test_request_line_round_trip(void **state)
{
	struct vx6_ctl_request req;
	char err[256], *s;
	json_t *o;

	(void)state;
	s = vx6_ctl_request_line(17, "connect.close", json_pack("{s:s}", "listen", "127.0.0.1:8080"));
	o = one_line(s);
	json_decref(o);
	assert_int_equal(vx6_ctl_parse_request(s, strlen(s) - 1, &req, err, sizeof(err)), 0);
	assert_true(req.id == 17);
	assert_string_equal(req.cmd, "connect.close");
	assert_string_equal(json_string_value(json_object_get(req.args, "listen")), "127.0.0.1:8080");
	assert_int_equal(json_object_size(req.args), 1);
	vx6_ctl_request_free(&req);
	free(s);

	s = vx6_ctl_request_line(0, "status", NULL);
	assert_int_equal(vx6_ctl_parse_request(s, strlen(s) - 1, &req, err, sizeof(err)), 0);
	assert_true(req.id == 0);
	assert_string_equal(req.cmd, "status");
	assert_int_equal(json_object_size(req.args), 0);
	vx6_ctl_request_free(&req);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_requests),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_line_length_cap),
		cmocka_unit_test(test_arg_accessors),
		cmocka_unit_test(test_reply_ok),
		cmocka_unit_test(test_reply_error),
		cmocka_unit_test(test_event),
		cmocka_unit_test(test_request_line_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
