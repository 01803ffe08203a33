/* vx6 connect | connect list | connect close */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"

static const char connect_help[] =
    "usage: vx6 [--home DIR] connect --service NODE.SERVICE --listen ADDR [--relay N]\n"
    "                                [--peer-key KEY] [--detach] [--json]   (named)\n"
    "       vx6 [--home DIR] connect --service NAME --addr ADDR --listen ADDR\n"
    "                                [--peer-key KEY] [--detach] [--json]   (direct)\n"
    "       vx6 [--home DIR] connect list [--json]\n"
    "       vx6 [--home DIR] connect close LISTEN\n\n"
    "Asks the running node to listen on --listen (a loopback address; port 0 picks\n"
    "one); every connection to it becomes a stream to the service. Named mode\n"
    "resolves NODE.SERVICE (registry, then DHT), verifies the signed records and\n"
    "connects to the owner's current address with the owner's key. Direct mode\n"
    "names the owner by --addr ('[2001:db8::1]:4242' or 'tcp://[::1]:4242').\n\n"
    "  --peer-key KEY  the owner's public key (as `vx6 identity` prints it). Without\n"
    "                  it the key is learned on first contact and pinned in\n"
    "                  known_peers (trust on first use); a later mismatch is refused.\n"
    "  --relay N       carry the streams through a circuit of N relays (chosen from\n"
    "                  known relay nodes by liveness and diversity, never twice, never\n"
    "                  this node or the owner): the owner sees only the last relay,\n"
    "                  no relay reads or alters the data, and with 2 or more relays\n"
    "                  no relay knows both ends. Without --relay, a named\n"
    "                  service follows the node's [routes] (config.ini); --relay 0\n"
    "                  forces a direct session\n"
    "  --detach        leave the forward to the node and return; without it the\n"
    "                  command stays in the foreground, prints events, and closes\n"
    "                  the forward when interrupted\n"
    "  --json          print results (and events) as JSON\n";

static volatile sig_atomic_t interrupted;

static void
on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void
print_event(void *ud, json_t *ev)
{
	bool json = *(bool *)ud;
	const char *name = json_string_value(json_object_get(ev, "event"));
	const char *reason = json_string_value(json_object_get(ev, "reason"));

	if (json) {
		char *s = json_dumps(ev, JSON_COMPACT);
		if (s)
			printf("%s\n", s);
		free(s);
		fflush(stdout);
		return;
	}
	if (name == NULL)
		return;
	if (strcmp(name, "stream-reset") == 0)
		fprintf(stderr, "vx6: the owner refused a connection: %s\n", reason ? reason : "?");
	else if (strcmp(name, "session-lost") == 0)
		fprintf(stderr, "vx6: session to the owner lost: %s (new connections will reconnect)\n",
		    reason ? reason : "?");
	else if (strcmp(name, "key-mismatch") == 0)
		fprintf(stderr, "vx6: %s\n", reason ? reason : "key mismatch");
	else if (strcmp(name, "session-up") == 0)
		fprintf(stderr, "vx6: session to the owner is up\n");
	else if (strcmp(name, "circuit-up") == 0)
		fprintf(stderr, "vx6: circuit to the owner is up\n");
	else if (strcmp(name, "circuit-lost") == 0)
		fprintf(stderr, "vx6: circuit lost: %s (the next connection builds a new one)\n",
		    reason ? reason : "?");
	else
		fprintf(stderr, "vx6: event %s\n", name);
}

static int
connect_open(struct app *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "service", required_argument, NULL, 's' }, { "addr", required_argument, NULL, 'a' },
		{ "listen", required_argument, NULL, 'l' }, { "peer-key", required_argument, NULL, 'k' },
		{ "detach", no_argument, NULL, 'd' }, { "json", no_argument, NULL, 'j' },
		{ "relay", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *service = NULL, *addr = NULL, *listen = NULL, *key = NULL;
	bool detach = false, json = false;
	int relay = -1;   /* not given */
	struct app_ctl ctl;
	json_t *args, *res = NULL;
	struct sigaction sa;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': service = optarg; break;
		case 'a': addr = optarg; break;
		case 'l': listen = optarg; break;
		case 'k': key = optarg; break;
		case 'd': detach = true; break;
		case 'r': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || v > 7)
				return app_usage_error("connect", "--relay takes a number of relays, 0 to 7");
			relay = (int)v;
			break;
		}
		case 'j': json = true; break;
		case 'h': printf("%s", connect_help); return EXIT_OK;
		default: return app_usage_error("connect", "unknown option");
		}
	}
	if (optind < argc)
		return app_usage_error("connect", "unexpected argument '%s'", argv[optind]);
	if (service == NULL || listen == NULL)
		return app_usage_error("connect", "--service and --listen are required");
	if (addr == NULL && strchr(service, '.') == NULL)
		return app_usage_error("connect", "give --addr (direct mode) or name the service as "
		    "NODE.SERVICE (named mode)");
	if ((rc = app_ctl_open(a, &ctl, false)) != 0)
		return rc;
	args = json_pack("{s:s,s:s,s:b}", "service", service, "listen", listen, "detach", detach);
	if (relay >= 0)   /* else the node's [routes] decide */
		json_object_set_new(args, "relay", json_integer(relay));
	if (addr)
		json_object_set_new(args, "addr", json_string(addr));
	if (key)
		json_object_set_new(args, "peer_key", json_string(key));
	rc = app_ctl_call(&ctl, "connect.open", args, &res, print_event, &json, NULL, 0);
	if (rc) {
		app_ctl_close(&ctl);
		return rc;
	}
	if (json) {
		app_print_json(res);
		fflush(stdout);
	} else {
		const char *peer_key = json_string_value(json_object_get(res, "peer_key"));
		const char *src = json_string_value(json_object_get(res, "key_source"));
		const char *warn = json_string_value(json_object_get(res, "warning"));
		printf("forwarding %s -> service %s at %s\n",
		    json_string_value(json_object_get(res, "listen")), service,
		    json_string_value(json_object_get(res, "addr")));
		if (peer_key)
			printf("  owner key  %s (%s)\n", peer_key,
			    src && strcmp(src, "trust-on-first-use") == 0 ? "pinned on first use" : src);
		if (warn)
			printf("  warning    %s; each new connection retries\n", warn);
		if (!detach)
			printf("  press Ctrl-C to stop\n");
		fflush(stdout);
	}
	json_decref(res);
	if (detach) {
		app_ctl_close(&ctl);
		return EXIT_OK;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = app_ctl_wait_events(&ctl, print_event, &json, (volatile int *)&interrupted);
	app_ctl_close(&ctl);
	if (interrupted) {
		if (!json)
			printf("forward closed\n");
		return EXIT_OK;
	}
	fprintf(stderr, "vx6: the node went away; the forward is closed\n");
	return EXIT_ERROR;
}

static int
connect_list(struct app *a, int argc, char **argv)
{
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
	struct app_ctl ctl;
	json_t *res = NULL, *arr, *f;
	size_t i;
	int rc;

	if ((rc = app_ctl_open(a, &ctl, false)) != 0)
		return rc;
	rc = app_ctl_call(&ctl, "connect.list", NULL, &res, NULL, NULL, NULL, 0);
	app_ctl_close(&ctl);
	if (rc)
		return rc;
	arr = json_object_get(res, "forwards");
	if (json) {
		app_print_json(arr);
	} else if (json_array_size(arr) == 0) {
		printf("no forwards\n");
	} else {
		printf("%-22s %-12s %-24s %-10s %-8s %s\n", "LISTEN", "SERVICE", "ADDR", "STATE", "CONNS",
		    "MODE");
		json_array_foreach(arr, i, f) {
			printf("%-22s %-12s %-24s %-10s %-8lld %s\n",
			    json_string_value(json_object_get(f, "listen")),
			    json_string_value(json_object_get(f, "service")),
			    json_string_value(json_object_get(f, "addr")),
			    json_string_value(json_object_get(f, "state")),
			    (long long)json_integer_value(json_object_get(f, "connections_active")),
			    json_is_true(json_object_get(f, "attached")) ? "attached" : "detached");
		}
	}
	json_decref(res);
	return EXIT_OK;
}

static int
connect_close(struct app *a, int argc, char **argv)
{
	struct app_ctl ctl;
	json_t *res = NULL;
	int rc;

	if (argc != 2)
		return app_usage_error("connect close", "give the listen address of the forward");
	if ((rc = app_ctl_open(a, &ctl, false)) != 0)
		return rc;
	rc = app_ctl_call(&ctl, "connect.close", json_pack("{s:s}", "listen", argv[1]), &res, NULL,
	    NULL, NULL, 0);
	app_ctl_close(&ctl);
	json_decref(res);
	if (rc == 0)
		printf("forward %s closed\n", argv[1]);
	return rc;
}

int
cmd_connect(struct app *a, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return connect_list(a, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "close") == 0)
		return connect_close(a, argc - 1, argv + 1);
	return connect_open(a, argc, argv);
}
