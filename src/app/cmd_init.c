/* vx6 init, vx6 identity */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "lib/err.h"
#include "store/config.h"
#include "store/keyfile.h"

static const char init_help[] =
    "usage: vx6 [--home DIR] init --name NAME [--listen ADDR]... [--advertise ADDR]...\n"
    "                             [--peer ADDR]... [--force] [--json]\n\n"
    "Creates the home directory (mode 0700) with a new Ed25519 identity\n"
    "(identity.key, mode 0600), config.ini and an empty services.ini.\n\n"
    "  --name NAME       a label for this node: 1-15 characters of a-z, 0-9 and '-',\n"
    "                    not starting or ending with '-'\n"
    "  --listen ADDR     where peers connect, e.g. '[::]:4242' (default) or '[::1]:4242'\n"
    "  --advertise ADDR  the address other nodes should use, when it differs\n"
    "  --peer ADDR       a node to join the network through (repeatable)\n"
    "  --force           replace an existing identity (the old key is lost)\n"
    "  --no-probe        accepted for compatibility (name clash probing needs a network)\n"
    "  --json            print the result as JSON\n";

int
cmd_init(struct app *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' }, { "listen", required_argument, NULL, 'l' },
		{ "advertise", required_argument, NULL, 'a' }, { "peer", required_argument, NULL, 'p' },
		{ "force", no_argument, NULL, 'f' }, { "json", no_argument, NULL, 'j' },
		{ "no-probe", no_argument, NULL, 'P' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vx6_node_config *cfg;
	struct vx6_identity id;
	bool force = false, json = false;
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
		case 'P': break;
		case 'h': printf("%s", init_help); free(cfg); return EXIT_OK;
		default: free(cfg); return app_usage_error("init", "unknown option");
		}
		if (arr) {
			if (*n >= max) {
				free(cfg);
				return app_usage_error("init", "too many addresses");
			}
			if (vx6_addr_parse(&arr[*n], optarg, c == 'l') != 0) {
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
		vx6_addr_parse(&cfg->listen[cfg->n_listen++], "[::]:4242", false);
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
	free(cfg);
	return EXIT_OK;
}

static const char identity_help[] =
    "usage: vx6 [--home DIR] identity [--json]\n\n"
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
