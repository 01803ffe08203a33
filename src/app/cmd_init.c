/* vx6 init, vx6 identity */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "lib/err.h"
#include "os/os.h"
#include "store/config.h"
#include "store/keyfile.h"

static const char init_help[] =
    "usage: vx6 [--home DIR] init --name NAME [--listen ADDR]... [--advertise ADDR]...\n"
    "                             [--peer ADDR]... [--transport auto|tcp|quic] [--relay]\n"
    "                             [--no-probe] [--force] [--json]\n\n"
    "Creates the home directory (mode 0700) with a new Ed25519 identity\n"
    "(identity.key, mode 0600), config.ini and an empty services.ini.\n\n"
    "  --name NAME       a label for this node: 1-15 characters of a-z, 0-9 and '-',\n"
    "                    not starting or ending with '-'\n"
    "  --listen ADDR     where peers connect, e.g. '[::]:4242' (default) or '[::1]:4242'\n"
    "  --advertise ADDR  the address other nodes should use, when it differs\n"
    "  --peer ADDR       a node to join the network through (repeatable)\n"
    "  --transport T     for addresses without tcp:// or quic://: auto (default:\n"
    "                    listen on TCP and QUIC on the same port, dial QUIC and fall\n"
    "                    back to TCP), tcp or quic (only that one)\n"
    "  --force           replace an existing identity (the old key is lost)\n"
    "  --relay           relay circuits for other nodes (config.ini [relay])\n"
    "  --no-probe        do not probe the network for other nodes using this name\n"
    "                    (with --peer, init starts the node briefly, joins, asks the\n"
    "                    DHT who claims the name, and warns; at most ~15 s)\n"
    "  --json            print the result as JSON\n";

static void probe_at_init(struct app *a, const char *name, bool json);

int
cmd_init(struct app *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' }, { "listen", required_argument, NULL, 'l' },
		{ "advertise", required_argument, NULL, 'a' }, { "peer", required_argument, NULL, 'p' },
		{ "force", no_argument, NULL, 'f' }, { "json", no_argument, NULL, 'j' },
		{ "no-probe", no_argument, NULL, 'P' }, { "help", no_argument, NULL, 'h' },
		{ "relay", no_argument, NULL, 'R' }, { "transport", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct vx6_node_config *cfg;
	struct vx6_identity id;
	bool force = false, json = false, no_probe = false;
	char err[512], *text;
	int c, rc, lock;

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return EXIT_ERROR;
	vx6_node_config_defaults(cfg);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		struct vx6_addr *arr = NULL;
		size_t *n = NULL, max = 0;
		switch (c) {
		case 'n':
			if (!vx6_name_valid(optarg)) {
				free(cfg);
				return app_usage_error("init", "invalid name '%s': %s", optarg,
				    vx6_name_why_invalid(optarg));
			}
			snprintf(cfg->name, sizeof(cfg->name), "%s", optarg);
			break;
		case 'l': arr = cfg->listen; n = &cfg->n_listen; max = VX6_NODE_MAX_LISTEN; break;
		case 'a': arr = cfg->advertise; n = &cfg->n_advertise; max = VX6_NODE_MAX_LISTEN; break;
		case 'p': arr = cfg->peers; n = &cfg->n_peers; max = VX6_NODE_MAX_PEERS; break;
		case 'f': force = true; break;
		case 'j': json = true; break;
		case 'P': no_probe = true; break;
		case 'R': cfg->relay = true; break;
		case 't':
			if (vx6_transport_policy_parse(optarg) < 0) {
				free(cfg);
				return app_usage_error("init", "--transport must be auto, tcp or quic, not '%s'", optarg);
			}
			cfg->transport = (enum vx6_transport_policy)vx6_transport_policy_parse(optarg);
			break;
		case 'h': printf("%s", init_help); free(cfg); return EXIT_OK;
		default: free(cfg); return app_usage_error("init", "unknown option");
		}
		if (arr) {
			if (*n >= max) {
				free(cfg);
				return app_usage_error("init", "too many addresses");
			}
			if (vx6_addr_parse_policy(&arr[*n], optarg, c == 'l') != 0) {
				free(cfg);
				return app_usage_error("init", "'%s' is not an address like '[::1]:4242' or "
				    "'127.0.0.1:4242'", optarg);
			}
			(*n)++;
		}
	}
	if (optind < argc) {
		free(cfg);
		return app_usage_error("init", "unexpected argument '%s'", argv[optind]);
	}
	if (cfg->name[0] == '\0') {
		free(cfg);
		return app_usage_error("init", "--name is required");
	}
	if (cfg->n_listen == 0)
		vx6_addr_parse_policy(&cfg->listen[cfg->n_listen++], "[::]:4242", false);
	if ((rc = app_home(a)) != 0) {
		free(cfg);
		return rc;
	}
	if (vx6_os_mkdir_p(a->home.dir, 0700) != 0 || vx6_os_chmod(a->home.dir, 0700) != 0) {
		fprintf(stderr, "vx6: cannot create %s\n", a->home.dir);
		free(cfg);
		return EXIT_ERROR;
	}
	/* The running node holds this lock: never replace its identity or
	 * config under it. */
	lock = vx6_os_lock(a->home.lock);
	if (lock < 0) {
		fprintf(stderr, lock == VX6_ERR_BUSY ? "vx6: a node is running with home %s: stop it "
		    "before re-initialising\n" : "vx6: cannot lock %s\n", a->home.dir);
		free(cfg);
		return lock == VX6_ERR_BUSY ? EXIT_BUSY : EXIT_ERROR;
	}
	rc = vx6_keyfile_create(a->home.identity, force, &id, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vx6: %s\n", err);
		free(cfg);
		vx6_os_unlock(lock);
		return rc == VX6_ERR_EXISTS ? EXIT_BUSY : EXIT_ERROR;
	}
	text = vx6_config_render(cfg);
	rc = text ? vx6_os_write_file_atomic(a->home.config, text, strlen(text), 0644) : VX6_ERR_NOMEM;
	free(text);
	if (rc == 0 && !vx6_os_exists(a->home.services)) {
		struct vx6_node_config *empty = calloc(1, sizeof(*empty));
		text = empty ? vx6_services_render(empty) : NULL;
		rc = text ? vx6_os_write_file_atomic(a->home.services, text, strlen(text), 0644) :
		    VX6_ERR_NOMEM;
		free(text);
		free(empty);
	}
	vx6_os_unlock(lock);
	if (rc) {
		fprintf(stderr, "vx6: cannot write the configuration in %s\n", a->home.dir);
		vx6_identity_wipe(&id);
		free(cfg);
		return EXIT_ERROR;
	}
	{
		char key[VX6_KEY_TEXT_LEN], nid[VX6_NODE_ID_HEX_LEN];
		vx6_key_to_text(id.pk, key);
		vx6_node_id_to_hex(id.node_id, nid);
		if (json) {
			json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "name", cfg->name, "node_id", nid,
			    "public_key", key, "home", a->home.dir);
			app_print_json(o);
			json_decref(o);
		} else {
			printf("created node %s in %s\n", cfg->name, a->home.dir);
			printf("  node id     %s\n  public key  %s\n", nid, key);
			printf("next: vx6 --home %s node\n", a->home.dir);
		}
	}
	vx6_identity_wipe(&id);
	if (!no_probe && cfg->n_peers > 0)
		probe_at_init(a, cfg->name, json);
	free(cfg);
	return EXIT_OK;
}

/* Prints what a probe found; returns the number of other claimants. */
static size_t
print_probe(json_t *res, const char *name, bool json)
{
	json_t *arr = json_object_get(res, "claimed_by"), *v;
	size_t i, n = json_array_size(arr);

	if (json) {
		app_print_json(res);
		return n;
	}
	if (n == 0) {
		printf("probe: no other node claims the name %s (asked %lld nodes)\n", name,
		    (long long)json_integer_value(json_object_get(res, "holders_asked")));
		return 0;
	}
	fprintf(stderr, "WARNING: the name %s is already claimed by %zu other key(s):\n", name, n);
	json_array_foreach(arr, i, v)
		fprintf(stderr, "           %s (record issued at %lld)\n", json_string_value(json_object_get(v,
		    "key")), (long long)json_integer_value(json_object_get(v, "issued_at")));
	fprintf(stderr, "         Nodes that pinned another key for %s will refuse this one under that "
	    "name.\n         Consider another name: vx6 identity rename --name NEW\n", name);
	return n;
}

/* Asks the running node who else claims name. */
static int
probe_running(struct app *a, const char *name, json_t **res)
{
	struct app_ctl ctl;
	int rc;

	*res = NULL;
	if ((rc = app_ctl_open(a, &ctl, true)) != 0)
		return rc;
	rc = app_ctl_call(&ctl, "probe", json_pack("{s:s}", "name", name), res, NULL, NULL, NULL, 0);
	app_ctl_close(&ctl);
	return rc;
}

/* Polls the node's status until it joined a network (bounded). */
static bool
wait_joined(struct app *a, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 200) {
		struct app_ctl ctl;
		json_t *res = NULL;
		bool joined = false;
		if (app_ctl_open(a, &ctl, true) == 0) {
			if (app_ctl_call(&ctl, "status", NULL, &res, NULL, NULL, NULL, 0) == 0)
				joined = json_is_true(json_object_get(json_object_get(res, "named"), "joined"));
			json_decref(res);
			app_ctl_close(&ctl);
			if (joined)
				return true;
		}
		vx6_os_sleep_ms(200);
	}
	return false;
}

/* `init --peer`: start the new node briefly, join, probe, stop it. */
static void
probe_at_init(struct app *a, const char *name, bool json)
{
	char *argv[] = { "vx6", "--home", a->home.dir, "node", "--log-level", "error", NULL };
	long child = vx6_os_spawn_self(argv);
	json_t *res = NULL;

	if (child < 0) {
		fprintf(stderr, "vx6: could not start the node to probe for name clashes\n");
		return;
	}
	if (!wait_joined(a, 12000))
		fprintf(stderr, "vx6: could not probe for name clashes: no peer answered within 12 s "
		    "(the node will keep trying when it runs)\n");
	else if (probe_running(a, name, &res) == 0)
		print_probe(res, name, json);
	json_decref(res);
	vx6_os_stop_child(child, 5000);
}

static const char rename_help[] =
    "usage: vx6 [--home DIR] identity rename --name NEW [--no-probe]\n\n"
    "Changes this node's name (a label; the key stays). With a running node the\n"
    "network is probed first for other keys claiming NEW (a warning lists them),\n"
    "then the node reloads and republishes under the new name.\n";

static int
identity_rename(struct app *a, int argc, char **argv)
{
	const char *name = NULL;
	bool no_probe = false, running;
	char *text = NULL, *out, *line, *eol;
	json_t *res = NULL;
	size_t len, off = 0;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strcmp(argv[i], "--no-probe") == 0)
			no_probe = true;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("%s", rename_help);
			return EXIT_OK;
		} else
			return app_usage_error("identity rename", "unexpected argument '%s'", argv[i]);
	}
	if (name == NULL || !vx6_name_valid(name))
		return app_usage_error("identity rename", "--name NEW is required: %s",
		    name ? vx6_name_why_invalid(name) : "1-15 characters of a-z, 0-9, -");
	if ((rc = app_home(a)) != 0)
		return rc;
	running = probe_running(a, name, &res) == 0;
	if (running && !no_probe)
		print_probe(res, name, false);
	json_decref(res);
	if (vx6_os_read_file(a->home.config, 1 << 20, &text, &len) != 0) {
		fprintf(stderr, "vx6: cannot read %s\n", a->home.config);
		return EXIT_CONFIG;
	}
	/* Replace the name line only: comments and other settings stay. */
	out = malloc(len + 64);
	if (out == NULL) {
		free(text);
		return EXIT_ERROR;
	}
	bool done = false;
	for (line = text; line && *line; line = eol ? eol + 1 : NULL) {
		char *p = line;
		eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) + 1 : strlen(line);
		while (*p == ' ' || *p == '\t')
			p++;
		if (!done && strncmp(p, "name", 4) == 0 && (p[4] == ' ' || p[4] == '=' || p[4] == '\t')) {
			off += (size_t)sprintf(out + off, "name = %s\n", name);
			done = true;
		} else {
			memcpy(out + off, line, n);
			off += n;
		}
	}
	free(text);
	if (!done || vx6_os_write_file_atomic(a->home.config, out, off, 0644) != 0) {
		fprintf(stderr, "vx6: cannot update the name in %s\n", a->home.config);
		free(out);
		return EXIT_CONFIG;
	}
	free(out);
	if (running) {
		struct app_ctl ctl;
		if (app_ctl_open(a, &ctl, true) == 0) {
			(void)app_ctl_call(&ctl, "reload", NULL, &res, NULL, NULL, NULL, 0);
			json_decref(res);
			app_ctl_close(&ctl);
		}
	}
	printf("renamed to %s%s\n", name, running ? " (the node republishes under the new name)" :
	    " (takes effect when the node starts)");
	return EXIT_OK;
}

static const char identity_help[] =
    "usage: vx6 [--home DIR] identity [--json]\n"
    "       vx6 [--home DIR] identity rename --name NEW [--no-probe]\n\n"
    "Prints this node's name, node ID (BLAKE2b-256 of the public key) and\n"
    "Ed25519 public key (the value other nodes pass as --peer-key).\n";

int
cmd_identity(struct app *a, int argc, char **argv)
{
	struct vx6_identity id;
	struct vx6_node_config *cfg;
	char err[512], key[VX6_KEY_TEXT_LEN], nid[VX6_NODE_ID_HEX_LEN];
	bool json = false;
	int rc;

	if (argc > 1 && strcmp(argv[1], "rename") == 0)
		return identity_rename(a, argc - 1, argv + 1);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("%s", identity_help);
			return EXIT_OK;
		} else
			return app_usage_error("identity", "unexpected argument '%s'", argv[i]);
	}
	if ((rc = app_home(a)) != 0)
		return rc;
	if (vx6_keyfile_load(a->home.identity, &id, err, sizeof(err)) != 0) {
		fprintf(stderr, "vx6: %s\n", err);
		return EXIT_ERROR;
	}
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL || vx6_config_load(a->home.config, a->home.services, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "vx6: %s\n", cfg ? err : "out of memory");
		free(cfg);
		vx6_identity_wipe(&id);
		return EXIT_CONFIG;
	}
	vx6_key_to_text(id.pk, key);
	vx6_node_id_to_hex(id.node_id, nid);
	if (json) {
		json_t *o = json_pack("{s:s,s:s,s:s}", "name", cfg->name, "node_id", nid, "public_key", key);
		app_print_json(o);
		json_decref(o);
	} else {
		printf("name        %s\nnode id     %s\npublic key  %s\n", cfg->name, nid, key);
	}
	free(cfg);
	vx6_identity_wipe(&id);
	return EXIT_OK;
}
