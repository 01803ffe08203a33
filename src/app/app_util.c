/* Helpers shared by the subcommands. */
#include "app/app.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/err.h"

int
app_home(struct app *a)
{
	char err[300];

	if (a->home_ok)
		return EXIT_OK;
	if (vx6_home_resolve(&a->home, a->home_arg, err, sizeof(err)) != 0) {
		fprintf(stderr, "vx6: %s\n", err);
		return EXIT_USAGE;
	}
	a->home_ok = true;
	return EXIT_OK;
}

int
app_ctl_open(struct app *a, struct app_ctl *ctl, bool quiet)
{
	int rc = app_home(a), err = 0;

	if (rc)
		return rc;
	memset(ctl, 0, sizeof(*ctl));
	ctl->next_id = 1;
	ctl->c = vx6_os_ctl_connect(a->home.control, &err);
	if (ctl->c == NULL) {
		if (!quiet) {
			if (err == VX6_ERR_PERM)
				fprintf(stderr, "vx6: permission denied on %s: run as the node's user\n",
				    a->home.control);
			else
				fprintf(stderr, "vx6: no node is running with home %s\n"
				    "     start one with: vx6 --home %s node\n", a->home.dir, a->home.dir);
		}
		return EXIT_NOT_RUNNING;
	}
	return EXIT_OK;
}

void
app_ctl_close(struct app_ctl *ctl)
{
	vx6_os_ctl_close(ctl->c);
	ctl->c = NULL;
}

int
app_ctl_call(struct app_ctl *ctl, const char *cmd, json_t *args, json_t **result,
    app_event_fn *on_event, void *ud, char *errcode, size_t errcodelen)
{
	int64_t id = ctl->next_id++;
	char *line = vx6_ctl_request_line(id, cmd, args), *reply = NULL;
	json_t *msg, *v;
	json_error_t jerr;
	int rc;

	*result = NULL;
	if (errcode && errcodelen)
		errcode[0] = '\0';
	if (line == NULL)
		return EXIT_ERROR;
	rc = vx6_os_ctl_send(ctl->c, line, strlen(line));
	free(line);
	if (rc) {
		fprintf(stderr, "vx6: the node closed the control connection\n");
		return EXIT_ERROR;
	}
	for (;;) {
		/* The node answers quickly; connect waits for a handshake (< 30 s). */
		rc = vx6_os_ctl_read_line(ctl->c, &reply, 60000, NULL);
		if (rc) {
			fprintf(stderr, "vx6: no answer from the node (%s)\n", vx6_strerror(rc));
			return EXIT_ERROR;
		}
		msg = json_loads(reply, JSON_REJECT_DUPLICATES, &jerr);
		free(reply);
		if (!json_is_object(msg)) {
			json_decref(msg);
			fprintf(stderr, "vx6: the node sent an invalid reply\n");
			return EXIT_ERROR;
		}
		if (json_object_get(msg, "event")) {
			if (on_event)
				on_event(ud, msg);
			json_decref(msg);
			continue;
		}
		v = json_object_get(msg, "id");
		if (!json_is_integer(v) || json_integer_value(v) != id) {
			json_decref(msg);
			continue;
		}
		if (json_is_true(json_object_get(msg, "ok"))) {
			*result = json_incref(json_object_get(msg, "result"));
			json_decref(msg);
			return EXIT_OK;
		}
		v = json_object_get(msg, "error");
		{
			const char *code = json_string_value(json_object_get(v, "code"));
			const char *text = json_string_value(json_object_get(v, "message"));
			fprintf(stderr, "vx6: %s\n", text ? text : "the node refused the request");
			if (errcode && code)
				snprintf(errcode, errcodelen, "%s", code);
			rc = (code && (strcmp(code, "key-mismatch") == 0)) ? EXIT_REFUSED :
			    (code && strcmp(code, "config") == 0) ? EXIT_CONFIG :
			    (code && (strcmp(code, "invalid") == 0 || strcmp(code, "bad-request") == 0 ||
			    strcmp(code, "not-allowed") == 0 || strcmp(code, "unsupported") == 0)) ?
			    EXIT_USAGE : EXIT_ERROR;
		}
		json_decref(msg);
		return rc;
	}
}

int
app_ctl_wait_events(struct app_ctl *ctl, app_event_fn *on_event, void *ud, volatile int *interrupted)
{
	char *line;
	json_t *msg;
	json_error_t jerr;
	int rc;

	for (;;) {
		rc = vx6_os_ctl_read_line(ctl->c, &line, -1, interrupted);
		if (interrupted && *interrupted)
			return EXIT_OK;
		if (rc)
			return EXIT_ERROR;
		msg = json_loads(line, 0, &jerr);
		free(line);
		if (json_is_object(msg) && json_object_get(msg, "event") && on_event)
			on_event(ud, msg);
		json_decref(msg);
	}
}

void
app_print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

	if (s) {
		printf("%s\n", s);
		free(s);
	}
}

const char *
app_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

const char *
app_duration(double s, char *buf, size_t len)
{
	if (s < 60)
		snprintf(buf, len, "%.0fs", s);
	else if (s < 3600)
		snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
	else
		snprintf(buf, len, "%dd%02dh", (int)(s / 86400), (int)(s / 3600) % 24);
	return buf;
}

int
app_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vx6 %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see `vx6 %s --help`)\n", cmd);
	return EXIT_USAGE;
}

bool
app_is_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}
