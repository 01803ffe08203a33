#include "ctl/ctl.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

/* Replaces bytes that are not printable ASCII, so text taken from input
 * (a command name cut mid-character, jansson's quote of the input) is always
 * valid UTF-8 for a JSON string. */
static void
ascii_only(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

const char *const vx6_ctl_commands[] = {
	"status", "reload", "connect.open", "connect.list", "connect.close", "ping", "resolve", "list",
	"holds", "probe", NULL,
};

static bool
known_command(const char *cmd)
{
	for (size_t i = 0; vx6_ctl_commands[i]; i++)
		if (strcmp(cmd, vx6_ctl_commands[i]) == 0)
			return true;
	return false;
}

int
vx6_ctl_parse_request(const char *line, size_t len, struct vx6_ctl_request *req, char *err,
    size_t errlen)
{
	json_error_t jerr;
	json_t *root, *id, *cmd, *args;

	memset(req, 0, sizeof(*req));
	req->id = -1;
	if (len > VX6_CTL_MAX_LINE) {
		snprintf(err, errlen, "request longer than %d bytes", VX6_CTL_MAX_LINE);
		return VX6_ERR_TOO_LARGE;
	}
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "invalid JSON: %s (column %d)", jerr.text, jerr.column);
		ascii_only(err);
		return VX6_ERR_MALFORMED;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		snprintf(err, errlen, "a request must be a JSON object");
		return VX6_ERR_MALFORMED;
	}
	id = json_object_get(root, "id");
	if (id != NULL) {
		if (!json_is_integer(id) || json_integer_value(id) < 0) {
			json_decref(root);
			snprintf(err, errlen, "\"id\" must be a non-negative integer");
			return VX6_ERR_MALFORMED;
		}
		req->id = json_integer_value(id);
	}
	cmd = json_object_get(root, "cmd");
	if (!json_is_string(cmd)) {
		json_decref(root);
		snprintf(err, errlen, "\"cmd\" must be a string");
		return VX6_ERR_MALFORMED;
	}
	if (!known_command(json_string_value(cmd))) {
		snprintf(err, errlen, "unknown command \"%.40s\"", json_string_value(cmd));
		ascii_only(err);
		json_decref(root);
		return VX6_ERR_NOT_FOUND;
	}
	args = json_object_get(root, "args");
	if (args == NULL) {
		args = json_object();
		if (args == NULL || json_object_set_new(root, "args", args) != 0) {
			json_decref(root);
			snprintf(err, errlen, "out of memory");
			return VX6_ERR_NOMEM;
		}
	} else if (!json_is_object(args)) {
		json_decref(root);
		snprintf(err, errlen, "\"args\" must be an object");
		return VX6_ERR_MALFORMED;
	}
	req->root = root;
	req->cmd = json_string_value(cmd);
	req->args = args;
	return 0;
}

void
vx6_ctl_request_free(struct vx6_ctl_request *req)
{
	json_decref(req->root);
	memset(req, 0, sizeof(*req));
}

const char *
vx6_ctl_arg_str(const struct vx6_ctl_request *req, const char *name, int *bad)
{
	json_t *v = json_object_get(req->args, name);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

int
vx6_ctl_arg_bool(const struct vx6_ctl_request *req, const char *name, int def, int *bad)
{
	json_t *v = json_object_get(req->args, name);

	if (v == NULL || json_is_null(v))
		return def;
	if (!json_is_boolean(v)) {
		*bad = 1;
		return def;
	}
	return json_is_true(v);
}

static char *
dump_line(json_t *obj)
{
	char *s, *line;
	size_t n;

	if (obj == NULL)
		return NULL;
	s = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(obj);
	if (s == NULL)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (line == NULL) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

char *
vx6_ctl_reply_ok(int64_t id, json_t *result)
{
	json_t *o = json_object();

	if (o == NULL) {
		json_decref(result);
		return NULL;
	}
	json_object_set_new(o, "id", json_integer(id));
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "result", result ? result : json_object());
	return dump_line(o);
}

char *
vx6_ctl_reply_error(int64_t id, const char *code, const char *message)
{
	json_t *o = json_object(), *e = json_object();

	if (o == NULL || e == NULL) {
		json_decref(o);
		json_decref(e);
		return NULL;
	}
	json_object_set_new(e, "code", json_string(code));
	{
		json_t *m = json_string(message);
		if (m == NULL) {
			/* Not valid UTF-8: send it with the offending bytes replaced. */
			char *copy = strdup(message ? message : "");
			if (copy) {
				ascii_only(copy);
				m = json_string(copy);
				free(copy);
			}
		}
		json_object_set_new(e, "message", m ? m : json_string("(unprintable message)"));
	}
	json_object_set_new(o, "id", json_integer(id));
	json_object_set_new(o, "ok", json_false());
	json_object_set_new(o, "error", e);
	return dump_line(o);
}

char *
vx6_ctl_event(const char *name, json_t *fields)
{
	json_t *o = fields ? fields : json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "event", json_string(name));
	return dump_line(o);
}

char *
vx6_ctl_request_line(int64_t id, const char *cmd, json_t *args)
{
	json_t *o = json_object();

	if (o == NULL) {
		json_decref(args);
		return NULL;
	}
	json_object_set_new(o, "id", json_integer(id));
	json_object_set_new(o, "cmd", json_string(cmd));
	json_object_set_new(o, "args", args ? args : json_object());
	return dump_line(o);
}
