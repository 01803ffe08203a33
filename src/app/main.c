/* vx6 — main() and the subcommand table. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"

static const struct app_cmd commands[] = {
	{ "init", "create a node's home: identity, config.ini, services.ini", cmd_init },
	{ "node", "run the node in the foreground", cmd_node },
	{ "identity", "print this node's name, node ID and public key", cmd_identity },
	{ "service", "add, list or remove published services", cmd_service },
	{ "connect", "forward a local port to a service on another node", cmd_connect },
	{ "status", "show the running node: sessions, services, forwards, counters", cmd_status },
	{ "reload", "make the running node re-read config.ini and services.ini", cmd_reload },
	{ "resolve", "resolve NODE.SERVICE through the registry and the DHT", cmd_resolve },
	{ "list", "known nodes and services (local registry)", cmd_list },
	{ "peer", "add, list or remove bootstrap peers", cmd_peer },
	{ "dht", "diagnosis: `dht holds NODE.SERVICE`", cmd_dht },
	{ NULL, NULL, NULL },
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: vx6 [--home DIR] COMMAND [ARGS]\n\n"
	    "VX6 reaches services that stay on localhost, by name, through encrypted\n"
	    "node-to-node sessions.\n\ncommands:\n");
	for (const struct app_cmd *c = commands; c->name; c++)
		fprintf(out, "  %-10s %s\n", c->name, c->summary);
	fprintf(out,
	    "\noptions:\n"
	    "  --home DIR   the node's home (default: $VX6_HOME, else $XDG_CONFIG_HOME/vx6,\n"
	    "               else ~/.config/vx6); lets several nodes share a machine\n"
	    "  --version    print the version\n"
	    "  --help       this text; `vx6 COMMAND --help` for a command\n\n"
	    "exit codes: 0 ok, 1 error, 2 usage, 3 no node running, 4 refused by the peer,\n"
	    "            5 bad configuration, 6 busy (home in use, identity exists)\n");
}

/* Takes --home DIR / --home=DIR out of argv wherever it appears. */
static int
extract_home(int *argc, char **argv, const char **home)
{
	int out = 0;

	for (int i = 0; i < *argc; i++) {
		if (strcmp(argv[i], "--home") == 0) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "vx6: --home needs a directory\n");
				return -1;
			}
			*home = argv[++i];
			continue;
		}
		if (strncmp(argv[i], "--home=", 7) == 0) {
			*home = argv[i] + 7;
			continue;
		}
		argv[out++] = argv[i];
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int
main(int argc, char **argv)
{
	struct app a;

	memset(&a, 0, sizeof(a));
	if (sodium_init() < 0) {
		fprintf(stderr, "vx6: libsodium failed to initialise\n");
		return EXIT_ERROR;
	}
	if (extract_home(&argc, argv, &a.home_arg) != 0)
		return EXIT_USAGE;
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("vx6 %s (protocol version 1)\n", VX6_VERSION);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	for (const struct app_cmd *c = commands; c->name; c++)
		if (strcmp(argv[1], c->name) == 0)
			return c->run(&a, argc - 1, argv + 1);
	fprintf(stderr, "vx6: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
