/* vx6 node, vx6 reload */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "io/uv/daemon.h"
#include "lib/log.h"

static const char node_help[] =
    "usage: vx6 [--home DIR] node [--log-level error|warn|info|debug]\n\n"
    "Runs the node in the foreground, logging to stderr. SIGINT/SIGTERM stop it\n"
    "cleanly; SIGHUP (or `vx6 reload`) re-reads config.ini and services.ini.\n"
    "Only one node may run per home.\n";

int
cmd_node(struct app *a, int argc, char **argv)
{
	struct vx6_daemon_opts o = { .log_level = -1 };
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("%s", node_help);
			return EXIT_OK;
		}
		if (strcmp(argv[i], "--log-level") == 0 || strncmp(argv[i], "--log-level=", 12) == 0) {
			const char *v = argv[i][11] == '=' ? argv[i] + 12 : (i + 1 < argc ? argv[++i] : "");
			o.log_level = vx6_log_level_parse(v);
			if (o.log_level < 0)
				return app_usage_error("node", "--log-level is one of error, warn, info, debug");
			continue;
		}
		return app_usage_error("node", "unexpected argument '%s'", argv[i]);
	}
	if ((rc = app_home(a)) != 0)
		return rc;
	o.home = &a->home;
	return vx6_daemon_run(&o);
}

int
cmd_reload(struct app *a, int argc, char **argv)
{
	struct app_ctl ctl;
	json_t *res = NULL;
	int rc;

	if (app_is_help(argc, argv)) {
		printf("usage: vx6 [--home DIR] reload\n\nMakes the running node re-read config.ini "
		    "and services.ini.\n");
		return EXIT_OK;
	}
	if (argc > 1)
		return app_usage_error("reload", "unexpected argument '%s'", argv[1]);
	if ((rc = app_ctl_open(a, &ctl, false)) != 0)
		return rc;
	rc = app_ctl_call(&ctl, "reload", NULL, &res, NULL, NULL, NULL, 0);
	if (rc == 0)
		printf("reloaded: %zu service(s) published\n", json_array_size(json_object_get(res, "services")));
	json_decref(res);
	app_ctl_close(&ctl);
	return rc;
}
