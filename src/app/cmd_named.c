/* vx6 resolve, vx6 list, vx6 peer add | list | remove */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "lib/err.h"
#include "store/config.h"

static const char resolve_help[] =
    "usage: vx6 [--home DIR] resolve NODE.SERVICE [--peer-key KEY] [--fresh] [--json]\n\n"
    "Resolves a name through the local registry, then the DHT, verifies the\n"
    "signed records, and prints the owner's key, addresses, which holders\n"
    "confirmed the record, and any other keys claiming the name. The first key\n"
    "seen for a name is pinned; a different key is reported, never used silently.\n"
    "  --fresh  skip the registry and ask the network\n";

int
cmd_resolve(struct app *a, int argc, char **argv)
{
	const char *name = NULL, *key = NULL;
	bool json = false, fresh = false;
	struct app_ctl ctl;
	json_t *args, *res = NULL, *v;
	size_t i;
	int rc;

	for (int k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0)
			json = true;
		else if (strcmp(argv[k], "--fresh") == 0)
			fresh = true;
		else if (strcmp(argv[k], "--peer-key") == 0 && k + 1 < argc)
			key = argv[++k];
		else if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
			printf("%s", resolve_help);
			return EXIT_OK;
		} else if (argv[k][0] != '-' && name == NULL)
			name = argv[k];
		else
			return app_usage_error("resolve", "unexpected argument '%s'", argv[k]);
	}
	if (name == NULL)
		return app_usage_error("resolve", "give a name like alice.web");
	if ((rc = app_ctl_open(a, &ctl, false)) != 0)
		return rc;
	args = json_pack("{s:s,s:b}", "name", name, "fresh", fresh);
	if (key)
		json_object_set_new(args, "peer_key", json_string(key));
	rc = app_ctl_call(&ctl, "resolve", args, &res, NULL, NULL, NULL, 0);
	app_ctl_close(&ctl);
	if (rc)
		return rc;
	if (json) {
		app_print_json(res);
	} else {
		printf("%s\n", json_string_value(json_object_get(res, "name")));
		printf("  owner key   %s\n", json_string_value(json_object_get(res, "owner_key")));
		printf("  node id     %s\n", json_string_value(json_object_get(res, "node_id")));
		printf("  addresses  ");
		json_array_foreach(json_object_get(res, "addresses"), i, v)
			printf(" %s", json_string_value(v));
		printf("\n  source      %s (%lld holder(s) confirmed, %lld hop(s), %.1f ms)\n",
		    json_string_value(json_object_get(res, "source")),
		    (long long)json_integer_value(json_object_get(res, "holders")),
		    (long long)json_integer_value(json_object_get(res, "hops")),
		    json_number_value(json_object_get(res, "elapsed_ms")));
		printf("  seq         service %lld, node %lld\n",
		    (long long)json_integer_value(json_object_get(res, "service_seq")),
		    (long long)json_integer_value(json_object_get(res, "node_seq")));
		v = json_object_get(res, "conflicts");
		if (json_array_size(v)) {
			json_t *c;
			printf("  WARNING     other keys claim this name:\n");
			json_array_foreach(v, i, c)
				printf("              %s (first seen %lld)\n",
				    json_string_value(json_object_get(c, "key")),
				    (long long)json_integer_value(json_object_get(c, "first_seen")));
		}
	}
	json_decref(res);
	return EXIT_OK;
}

int
cmd_dht(struct app *a, int argc, char **argv)
{
	struct app_ctl ctl;
	json_t *res = NULL;
	int rc;

	if (argc != 3 || strcmp(argv[1], "holds") != 0) {
		fprintf(stderr, "usage: vx6 [--home DIR] dht holds NODE.SERVICE\n\n"
		    "Says whether this node's DHT store holds the record of NODE.SERVICE\n"
		    "(diagnosis; prints JSON).\n");
		return app_is_help(argc, argv) ? EXIT_OK : EXIT_USAGE;
	}
	if ((rc = app_ctl_open(a, &ctl, false)) != 0)
		return rc;
	rc = app_ctl_call(&ctl, "holds", json_pack("{s:s}", "name", argv[2]), &res, NULL, NULL, NULL, 0);
	app_ctl_close(&ctl);
	if (rc == 0)
		app_print_json(res);
	json_decref(res);
	return rc;
}

int
cmd_list(struct app *a, int argc, char **argv)
{
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
	struct app_ctl ctl;
	json_t *res = NULL, *v, *addr;
	size_t i, j;
	int rc;

	if (app_is_help(argc, argv)) {
		printf("usage: vx6 [--home DIR] list [--json]\n\nKnown nodes and services in the local "
		    "registry (verified records).\n");
		return EXIT_OK;
	}
	if ((rc = app_ctl_open(a, &ctl, false)) != 0)
		return rc;
	rc = app_ctl_call(&ctl, "list", NULL, &res, NULL, NULL, NULL, 0);
	app_ctl_close(&ctl);
	if (rc)
		return rc;
	if (json) {
		app_print_json(res);
	} else {
		printf("nodes (%zu)\n", json_array_size(json_object_get(res, "nodes")));
		json_array_foreach(json_object_get(res, "nodes"), i, v) {
			printf("  %-16s %s ", json_string_value(json_object_get(v, "name")),
			    json_string_value(json_object_get(v, "key")));
			json_array_foreach(json_object_get(v, "addresses"), j, addr)
				printf(" %s", json_string_value(addr));
			printf("\n");
		}
		printf("services (%zu)\n", json_array_size(json_object_get(res, "services")));
		json_array_foreach(json_object_get(res, "services"), i, v)
			printf("  %-24s %s\n", json_string_value(json_object_get(v, "name")),
			    json_string_value(json_object_get(v, "owner_key")));
	}
	json_decref(res);
	return EXIT_OK;
}

static const char peer_help[] =
    "usage: vx6 [--home DIR] peer add --addr ADDR\n"
    "       vx6 [--home DIR] peer list [--json]\n"
    "       vx6 [--home DIR] peer remove --addr ADDR\n\n"
    "Bootstrap peers: nodes to join the network through. `add` and `remove` edit\n"
    "the home's peers file (config.ini [peers] is read too) and reload a running\n"
    "node. Any one live peer is enough to join.\n";

static int
peers_load(struct app *a, struct vx6_node_config *cfg)
{
	char *text = NULL, err[300];
	int rc;

	cfg->n_peers = 0;
	rc = vx6_os_read_file(a->home.peers, VX6_CONFIG_MAX_FILE, &text, NULL);
	if (rc == VX6_ERR_NOT_FOUND)
		return 0;
	if (rc) {
		fprintf(stderr, "vx6: cannot read %s\n", a->home.peers);
		return EXIT_ERROR;
	}
	rc = vx6_peers_parse(text, cfg, err, sizeof(err));
	free(text);
	if (rc) {
		fprintf(stderr, "vx6: %s\n", err);
		return EXIT_CONFIG;
	}
	return 0;
}

static int
peers_save(struct app *a, const struct vx6_node_config *cfg)
{
	char text[VX6_NODE_MAX_PEERS * (VX6_ADDR_STRLEN + 1) + 128], addr[VX6_ADDR_STRLEN];
	size_t off = (size_t)snprintf(text, sizeof(text), "# Bootstrap peers added with `vx6 peer add`.\n");

	for (size_t i = 0; i < cfg->n_peers; i++) {
		vx6_addr_format(&cfg->peers[i], addr, sizeof(addr), true);
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s\n", addr);
	}
	if (vx6_os_write_file_atomic(a->home.peers, text, off, 0644) != 0) {
		fprintf(stderr, "vx6: cannot write %s\n", a->home.peers);
		return EXIT_ERROR;
	}
	return 0;
}

static void
reload_if_running(struct app *a)
{
	struct app_ctl ctl;
	json_t *res = NULL;

	if (app_ctl_open(a, &ctl, true) != EXIT_OK)
		return;
	(void)app_ctl_call(&ctl, "reload", NULL, &res, NULL, NULL, NULL, 0);
	json_decref(res);
	app_ctl_close(&ctl);
}

int
cmd_peer(struct app *a, int argc, char **argv)
{
	struct vx6_node_config *cfg;
	const char *addr = NULL;
	struct vx6_addr pa;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "%s", peer_help);
		return EXIT_USAGE;
	}
	if (app_is_help(argc, argv)) {
		printf("%s", peer_help);
		return EXIT_OK;
	}
	for (int k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--addr") == 0 && k + 1 < argc)
			addr = argv[++k];
		else if (strcmp(argv[k], "--json") == 0 && strcmp(argv[1], "list") == 0)
			;
		else
			return app_usage_error("peer", "unexpected argument '%s'", argv[k]);
	}
	if ((rc = app_home(a)) != 0)
		return rc;
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return EXIT_ERROR;
	if ((rc = peers_load(a, cfg)) != 0) {
		free(cfg);
		return rc;
	}
	if (strcmp(argv[1], "list") == 0) {
		char text[VX6_ADDR_STRLEN];
		struct vx6_node_config *all = calloc(1, sizeof(*all));
		char err[300];
		bool json = argc > 2;
		json_t *arr = json_array();
		if (all && vx6_config_load_home(a->home.config, a->home.services, a->home.peers, all, err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "vx6: %s\n", err);
			free(all);
			free(cfg);
			json_decref(arr);
			return EXIT_CONFIG;
		}
		for (size_t i = 0; all && i < all->n_peers; i++) {
			vx6_addr_format(&all->peers[i], text, sizeof(text), true);
			if (json)
				json_array_append_new(arr, json_string(text));
			else
				printf("%s\n", text);
		}
		if (json)
			app_print_json(arr);
		else if (all && all->n_peers == 0)
			printf("no bootstrap peers (add one with: vx6 peer add --addr ADDR)\n");
		json_decref(arr);
		free(all);
		free(cfg);
		return EXIT_OK;
	}
	if (addr == NULL || vx6_addr_parse_policy(&pa, addr, false) != 0) {
		free(cfg);
		return app_usage_error("peer", "--addr ADDR is required, like '[2001:db8::1]:4242'");
	}
	if (strcmp(argv[1], "add") == 0) {
		for (size_t i = 0; i < cfg->n_peers; i++)
			if (vx6_addr_equal(&cfg->peers[i], &pa)) {
				printf("peer %s is already known\n", addr);
				free(cfg);
				return EXIT_OK;
			}
		if (cfg->n_peers >= VX6_NODE_MAX_PEERS) {
			fprintf(stderr, "vx6: too many peers\n");
			free(cfg);
			return EXIT_ERROR;
		}
		cfg->peers[cfg->n_peers++] = pa;
	} else if (strcmp(argv[1], "remove") == 0 || strcmp(argv[1], "rm") == 0) {
		size_t i;
		for (i = 0; i < cfg->n_peers && !vx6_addr_equal(&cfg->peers[i], &pa); i++)
			;
		if (i == cfg->n_peers) {
			fprintf(stderr, "vx6: %s is not in %s (peers in config.ini [peers] are edited there)\n",
			    addr, a->home.peers);
			free(cfg);
			return EXIT_ERROR;
		}
		memmove(&cfg->peers[i], &cfg->peers[i + 1], (cfg->n_peers - i - 1) * sizeof(cfg->peers[0]));
		cfg->n_peers--;
	} else {
		free(cfg);
		return app_usage_error("peer", "unknown subcommand '%s' (add, list, remove)", argv[1]);
	}
	rc = peers_save(a, cfg);
	free(cfg);
	if (rc == 0) {
		reload_if_running(a);
		printf("peer %s %s\n", addr, strcmp(argv[1], "add") == 0 ? "added" : "removed");
	}
	return rc;
}
