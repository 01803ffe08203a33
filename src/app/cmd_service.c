/* vx6 service add | list | remove */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "lib/err.h"
#include "store/config.h"

static const char service_help[] =
    "usage: vx6 [--home DIR] service add --name NAME --target ADDR [--private] [--allow WHO]...\n"
    "                                    [--json]\n"
    "       vx6 [--home DIR] service list [--json]\n"
    "       vx6 [--home DIR] service remove --name NAME\n\n"
    "Publishes a service that stays on this machine: streams that name it are\n"
    "connected to its target and to nothing else. The target must be a loopback\n"
    "address (127.0.0.0/8 or [::1]). Changes are written to services.ini and take\n"
    "effect in the running node at once (without a restart).\n\n"
    "  --private    publish no public record: the service is listed only in an\n"
    "               encrypted catalog entry for each allowed client, and streams\n"
    "               from anyone else are refused as if it did not exist\n"
    "  --allow WHO  a client allowed to use a private service: its public key, or\n"
    "               a node name (checked against the key pinned for that name);\n"
    "               repeatable\n";

/* Loads services.ini under its lock. */
static int
load_services(struct app *a, struct vx6_node_config *cfg, int *lock)
{
	char *text = NULL, err[400];
	int rc;

	for (int tries = 0; (*lock = vx6_os_lock(a->home.services_lock)) == VX6_ERR_BUSY && tries < 50;
	    tries++)
		usleep(100000);
	if (*lock < 0) {
		fprintf(stderr, "vx6: cannot lock %s\n", a->home.services_lock);
		return EXIT_BUSY;
	}
	vx6_node_config_defaults(cfg);
	rc = vx6_os_read_file(a->home.services, VX6_CONFIG_MAX_FILE, &text, NULL);
	if (rc == VX6_ERR_NOT_FOUND && !vx6_os_exists(a->home.config)) {
		fprintf(stderr, "vx6: %s is not a VX6 home: run `vx6 init` first\n", a->home.dir);
		return EXIT_CONFIG;
	}
	if (rc == 0) {
		rc = vx6_services_parse(text, cfg, err, sizeof(err));
		free(text);
		if (rc) {
			fprintf(stderr, "vx6: %s\n", err);
			return EXIT_CONFIG;
		}
	} else if (rc != VX6_ERR_NOT_FOUND) {
		fprintf(stderr, "vx6: cannot read %s\n", a->home.services);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

static int
save_services(struct app *a, const struct vx6_node_config *cfg)
{
	char *text = vx6_services_render(cfg);
	int rc = text ? vx6_os_write_file_atomic(a->home.services, text, strlen(text), 0644) : VX6_ERR_NOMEM;

	free(text);
	if (rc) {
		fprintf(stderr, "vx6: cannot write %s\n", a->home.services);
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

/* Tells a running node to reload. Returns EXIT_OK also when none runs. */
static int
notify_node(struct app *a, bool *running)
{
	struct app_ctl ctl;
	json_t *res = NULL;
	int rc;

	*running = false;
	if (app_ctl_open(a, &ctl, true) != EXIT_OK)
		return EXIT_OK;
	*running = true;
	rc = app_ctl_call(&ctl, "reload", NULL, &res, NULL, NULL, NULL, 0);
	json_decref(res);
	app_ctl_close(&ctl);
	return rc;
}

static int
service_add(struct app *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' }, { "target", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' }, { "private", no_argument, NULL, 'p' },
		{ "allow", required_argument, NULL, 'a' }, { NULL, 0, NULL, 0 },
	};
	struct vx6_node_config *cfg;
	const char *name = NULL, *target = NULL;
	const char *allow[VX6_SERVICE_MAX_ALLOW];
	unsigned n_allow = 0;
	bool is_private = false;
	struct vx6_addr t;
	char tt[VX6_ADDR_STRLEN];
	bool json = false, running;
	int c, rc, lock = -1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n') name = optarg;
		else if (c == 't') target = optarg;
		else if (c == 'j') json = true;
		else if (c == 'p') is_private = true;
		else if (c == 'a') {
			uint8_t k[VX6_KEY_LEN];
			if (n_allow >= VX6_SERVICE_MAX_ALLOW)
				return app_usage_error("service add", "at most %d --allow", VX6_SERVICE_MAX_ALLOW);
			if (vx6_key_from_text(k, optarg) != 0 && !vx6_name_valid(optarg))
				return app_usage_error("service add", "--allow %s is neither a public key nor a "
				    "node name", optarg);
			allow[n_allow++] = optarg;
		} else return app_usage_error("service add", "unknown option");
	}
	if (name == NULL || target == NULL)
		return app_usage_error("service add", "--name and --target are required");
	if (n_allow && !is_private)
		return app_usage_error("service add", "--allow applies to --private services");
	if (!vx6_name_valid(name))
		return app_usage_error("service add", "invalid service name '%s': %s", name,
		    vx6_name_why_invalid(name));
	if (vx6_addr_parse(&t, target, false) != 0)
		return app_usage_error("service add", "'%s' is not an address like 127.0.0.1:8080", target);
	if (!vx6_addr_is_loopback(&t)) {
		fprintf(stderr, "vx6: refusing target %s: a VX6 service stays on this machine, so its "
		    "target must be a loopback address (127.0.0.1, [::1])\n", target);
		return EXIT_USAGE;
	}
	if ((rc = app_home(a)) != 0)
		return rc;
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL)
		return EXIT_ERROR;
	rc = load_services(a, cfg, &lock);
	for (size_t i = 0; rc == 0 && i < cfg->n_services; i++)
		if (strcmp(cfg->services[i].name, name) == 0) {
			vx6_addr_format(&cfg->services[i].target, tt, sizeof(tt), false);
			fprintf(stderr, "vx6: service %s already exists (target %s); remove it first\n",
			    name, tt);
			rc = EXIT_BUSY;
		}
	if (rc == 0 && cfg->n_services >= VX6_NODE_MAX_SERVICES) {
		fprintf(stderr, "vx6: too many services (at most %d)\n", VX6_NODE_MAX_SERVICES);
		rc = EXIT_ERROR;
	}
	if (rc == 0) {
		struct vx6_service_def *d = &cfg->services[cfg->n_services];
		memset(d, 0, sizeof(*d));
		snprintf(d->name, VX6_NAME_BUF, "%s", name);
		d->target = t;
		d->is_private = is_private;
		for (unsigned i = 0; i < n_allow; i++)
			snprintf(d->allow[d->n_allow++], VX6_ALLOW_LEN, "%s", allow[i]);
		cfg->n_services++;
		rc = save_services(a, cfg);
	}
	vx6_os_unlock(lock);
	free(cfg);
	if (rc)
		return rc;
	rc = notify_node(a, &running);
	vx6_addr_format(&t, tt, sizeof(tt), false);
	if (json) {
		json_t *o = json_pack("{s:s,s:s,s:b,s:b}", "name", name, "target", tt, "private", is_private,
		    "live", running && rc == 0);
		app_print_json(o);
		json_decref(o);
	} else {
		printf("%sservice %s -> %s added%s\n", is_private ? "private " : "", name, tt,
		    running ? (rc == 0 ? " and published" : " (the node could not reload)") :
		    " (published when the node starts)");
	}
	return rc;
}

static int
service_remove(struct app *a, int argc, char **argv)
{
	struct vx6_node_config *cfg;
	const char *name = NULL;
	bool running, found = false;
	int rc, lock = -1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strncmp(argv[i], "--name=", 7) == 0)
			name = argv[i] + 7;
		else
			return app_usage_error("service remove", "unexpected argument '%s'", argv[i]);
	}
	if (name == NULL)
		return app_usage_error("service remove", "--name is required");
	if ((rc = app_home(a)) != 0)
		return rc;
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL)
		return EXIT_ERROR;
	rc = load_services(a, cfg, &lock);
	for (size_t i = 0; rc == 0 && i < cfg->n_services; i++)
		if (strcmp(cfg->services[i].name, name) == 0) {
			memmove(&cfg->services[i], &cfg->services[i + 1],
			    (cfg->n_services - i - 1) * sizeof(cfg->services[0]));
			cfg->n_services--;
			found = true;
			break;
		}
	if (rc == 0 && !found) {
		fprintf(stderr, "vx6: no service named %s\n", name);
		rc = EXIT_ERROR;
	}
	if (rc == 0)
		rc = save_services(a, cfg);
	vx6_os_unlock(lock);
	free(cfg);
	if (rc)
		return rc;
	rc = notify_node(a, &running);
	printf("service %s removed%s\n", name, running && rc == 0 ? " (no longer published)" : "");
	return rc;
}

static int
service_list(struct app *a, int argc, char **argv)
{
	struct vx6_node_config *cfg;
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
	char tt[VX6_ADDR_STRLEN];
	int rc, lock = -1;

	if (argc > 2 || (argc == 2 && !json))
		return app_usage_error("service list", "unexpected argument '%s'", argv[argc - 1]);
	if ((rc = app_home(a)) != 0)
		return rc;
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL)
		return EXIT_ERROR;
	rc = load_services(a, cfg, &lock);
	vx6_os_unlock(lock);
	if (rc == 0) {
		if (json) {
			json_t *arr = json_array();
			for (size_t i = 0; i < cfg->n_services; i++) {
				vx6_addr_format(&cfg->services[i].target, tt, sizeof(tt), false);
				json_t *al = json_array();
				for (uint8_t j = 0; j < cfg->services[i].n_allow; j++)
					json_array_append_new(al, json_string(cfg->services[i].allow[j]));
				json_array_append_new(arr, json_pack("{s:s,s:s,s:b,s:o}", "name",
				    cfg->services[i].name, "target", tt, "private", cfg->services[i].is_private,
				    "allow", al));
			}
			app_print_json(arr);
			json_decref(arr);
		} else if (cfg->n_services == 0) {
			printf("no services (add one with: vx6 service add --name NAME --target 127.0.0.1:PORT)\n");
		} else {
			printf("%-16s %-22s %s\n", "NAME", "TARGET", "VISIBILITY");
			for (size_t i = 0; i < cfg->n_services; i++) {
				vx6_addr_format(&cfg->services[i].target, tt, sizeof(tt), false);
				printf("%-16s %-22s %s", cfg->services[i].name, tt,
				    cfg->services[i].is_private ? "private" : "public");
				for (uint8_t j = 0; j < cfg->services[i].n_allow; j++)
					printf("%s%s", j ? ", " : " (allow: ", cfg->services[i].allow[j]);
				printf("%s\n", cfg->services[i].n_allow ? ")" : "");
			}
		}
	}
	free(cfg);
	return rc;
}

int
cmd_service(struct app *a, int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "%s", service_help);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		printf("%s", service_help);
		return EXIT_OK;
	}
	if (app_is_help(argc, argv)) {
		printf("%s", service_help);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "add") == 0)
		return service_add(a, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return service_list(a, argc - 1, argv + 1);
	if (strcmp(argv[1], "remove") == 0 || strcmp(argv[1], "rm") == 0)
		return service_remove(a, argc - 1, argv + 1);
	return app_usage_error("service", "unknown subcommand '%s' (add, list, remove)", argv[1]);
}
