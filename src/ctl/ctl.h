/*
 * ctl — the control protocol spoken on the node's Unix socket
 * (docs/PROTOCOL.md §8): one JSON object per line.
 *
 *   request  {"id": N, "cmd": "status", "args": {...}}
 *   reply    {"id": N, "ok": true, "result": {...}}
 *            {"id": N, "ok": false, "error": {"code": "...", "message": "..."}}
 *   event    {"event": "...", ...}     (pushed to clients that stay attached)
 *
 * Parsing is strict and bounded (line length, duplicate keys rejected,
 * known commands only). Replies are built as malloc'd lines ending in '\n'
 * that the caller frees.
 */
#ifndef VX6_CTL_CTL_H
#define VX6_CTL_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define VX6_CTL_MAX_LINE 65536

struct vx6_ctl_request {
	int64_t id;
	const char *cmd;     /* borrowed from root */
	json_t *args;        /* borrowed from root; always an object */
	json_t *root;        /* owned: free with vx6_ctl_request_free() */
};

/* Parses one line (without its '\n'). Returns 0, or VX6_ERR_MALFORMED /
 * VX6_ERR_TOO_LARGE / VX6_ERR_NOT_FOUND (unknown command) with a message in err.
 * req->id is set whenever the id could be read (else -1). */
int vx6_ctl_parse_request(const char *line, size_t len, struct vx6_ctl_request *req, char *err,
    size_t errlen);
void vx6_ctl_request_free(struct vx6_ctl_request *req);

/* Argument accessors: NULL / def when absent; *bad set when present with the
 * wrong type. */
const char *vx6_ctl_arg_str(const struct vx6_ctl_request *req, const char *name, int *bad);
int vx6_ctl_arg_bool(const struct vx6_ctl_request *req, const char *name, int def, int *bad);

/* Reply and event lines; `result`/`ev` are stolen (may be NULL for {}). */
char *vx6_ctl_reply_ok(int64_t id, json_t *result);
char *vx6_ctl_reply_error(int64_t id, const char *code, const char *message);
char *vx6_ctl_event(const char *name, json_t *fields);
/* Builds a request line (client side); args stolen. */
char *vx6_ctl_request_line(int64_t id, const char *cmd, json_t *args);

/* The commands a node understands. */
extern const char *const vx6_ctl_commands[];

#endif
