/*
 * fuzz_ctl — the control-socket request parser (src/ctl/ctl.h,
 * docs/PROTOCOL.md §9).
 *
 * Feeds: the input as one request line (without its '\n') to
 * vx6_ctl_parse_request(); on success the argument accessors are called for
 * every argument name the node reads, then vx6_ctl_request_free(). On failure
 * the harness builds the error reply exactly as the node does
 * (vx6_ctl_reply_error(req.id, code, err)).
 *
 * Invariants:
 *   - a parsed request has a known command, an object as args, and an id that
 *     is -1 (absent) or non-negative; a failed one owns nothing;
 *   - a parsed request with an id re-encodes (vx6_ctl_request_line) to a line
 *     that parses to the same id, command and args;
 *   - the error reply for a rejected line is a JSON object carrying the id,
 *     "ok": false and an error with string "code" and "message" (§9).
 */
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/err.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_ctl: invariant failed at line %d: %s\n", __LINE__, #cond); \
	__builtin_trap(); } } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	return 0;
}

static bool
known(const char *cmd)
{
	for (size_t i = 0; vx6_ctl_commands[i]; i++)
		if (strcmp(cmd, vx6_ctl_commands[i]) == 0)
			return true;
	return false;
}

/* Every argument name node_ctl.c reads, plus one that never exists. */
static void
read_args(const struct vx6_ctl_request *req)
{
	static const char *const strs[] = { "service", "addr", "listen", "peer_key", "nope" };
	static const char *const bools[] = { "detach", "force", "nope" };
	int bad;

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		bad = 0;
		const char *v = vx6_ctl_arg_str(req, strs[i], &bad);
		CHECK(!(v != NULL && bad));
		if (v)
			(void)strlen(v);
	}
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		bad = 0;
		int v = vx6_ctl_arg_bool(req, bools[i], 7, &bad);
		CHECK(v == 0 || v == 1 || v == 7);
		CHECK(!bad || v == 7);
	}
}

static void
check_roundtrip(const struct vx6_ctl_request *req)
{
	struct vx6_ctl_request again;
	char err[300];
	char *line;
	size_t n;

	line = vx6_ctl_request_line(req->id, req->cmd, json_deep_copy(req->args));
	CHECK(line != NULL);
	n = strlen(line);
	CHECK(n > 0 && line[n - 1] == '\n');
	if (n - 1 > VX6_CTL_MAX_LINE) {
		/* Escaping can make a line longer than the input was. */
		CHECK(vx6_ctl_parse_request(line, n - 1, &again, err, sizeof(err)) == VX6_ERR_TOO_LARGE);
		free(line);
		return;
	}
	CHECK(vx6_ctl_parse_request(line, n - 1, &again, err, sizeof(err)) == 0);
	CHECK(again.id == req->id);
	CHECK(strcmp(again.cmd, req->cmd) == 0);
	CHECK(json_equal(again.args, req->args));
	vx6_ctl_request_free(&again);
	free(line);
}

/* What the node sends back for a rejected line (node_ctl.c). */
static void
check_error_reply(int64_t id, int rc, const char *err)
{
	json_error_t jerr;
	json_t *o, *e;
	char *reply;

	reply = vx6_ctl_reply_error(id, rc == VX6_ERR_NOT_FOUND ? "unknown-command" : "bad-request",
	    err);
	CHECK(reply != NULL);
	o = json_loads(reply, 0, &jerr);
	CHECK(o != NULL && json_is_object(o));
	CHECK(json_integer_value(json_object_get(o, "id")) == id);
	CHECK(json_is_false(json_object_get(o, "ok")));
	e = json_object_get(o, "error");
	CHECK(json_is_object(e));
	CHECK(json_is_string(json_object_get(e, "code")));
	CHECK(json_is_string(json_object_get(e, "message")));
	json_decref(o);
	free(reply);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx6_ctl_request req;
	char err[300];
	int rc;

	err[0] = '\0';
	rc = vx6_ctl_parse_request((const char *)data, size, &req, err, sizeof(err));
	if (rc != 0) {
		CHECK(rc == VX6_ERR_MALFORMED || rc == VX6_ERR_TOO_LARGE || rc == VX6_ERR_NOT_FOUND ||
		    rc == VX6_ERR_NOMEM);
		CHECK(req.root == NULL && req.cmd == NULL && req.args == NULL);
		CHECK(req.id >= -1);
		CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		check_error_reply(req.id, rc, err);
		return 0;
	}
	CHECK(req.root != NULL && json_is_object(req.root));
	CHECK(req.cmd != NULL && known(req.cmd));
	CHECK(req.args != NULL && json_is_object(req.args));
	CHECK(req.id >= -1);
	read_args(&req);
	if (req.id >= 0)
		check_roundtrip(&req);
	vx6_ctl_request_free(&req);
	CHECK(req.root == NULL);
	vx6_ctl_request_free(&req);   /* a freed request frees nothing twice */
	return 0;
}
