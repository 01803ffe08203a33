/* vx6 status */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"

static const char status_help[] =
    "usage: vx6 [--home DIR] status [--json]\n\n"
    "Shows the running node: identity, listen addresses, sessions (peer,\n"
    "transport, RTT, bytes, age), services, forwards and counters of rejected\n"
    "input. Exits 0 only when the node is running and answering (3 otherwise),\n"
    "so scripts can wait on it.\n";

static const char *
str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

static long long
num(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static void
print_human(json_t *st)
{
	char b1[32], b2[32], d[32];
	json_t *arr, *v;
	size_t i;
	const char *key;

	printf("node       %s (running, up %s)\n", str(st, "name"),
	    app_duration(json_number_value(json_object_get(st, "uptime_s")), d, sizeof(d)));
	printf("node id    %s\n", str(st, "node_id"));
	printf("key        %s\n", str(st, "public_key"));
	printf("listen    ");
	json_array_foreach(json_object_get(st, "listen"), i, v)
		printf(" %s", json_string_value(v));
	printf("\n");

	arr = json_object_get(st, "services");
	printf("services   %zu\n", json_array_size(arr));
	json_array_foreach(arr, i, v)
		printf("  %-16s -> %s\n", str(v, "name"), str(v, "target"));

	arr = json_object_get(st, "sessions");
	printf("sessions   %zu (streams open: %lld)\n", json_array_size(arr), num(st, "streams"));
	if (json_array_size(arr)) {
		printf("  %-24s %-3s %-9s %-11s %-8s %-10s %-10s %-7s %s\n", "PEER", "DIR", "TRANSPORT",
		    "STATE", "RTT", "IN", "OUT", "STREAMS", "AGE");
		json_array_foreach(arr, i, v) {
			json_t *rtt = json_object_get(v, "rtt_ms");
			char r[16] = "-";
			if (json_is_number(rtt))
				snprintf(r, sizeof(r), "%.2fms", json_number_value(rtt));
			printf("  %-24s %-3s %-9s %-11s %-8s %-10s %-10s %-7lld %s\n", str(v, "remote"),
			    str(v, "direction"), str(v, "transport"), str(v, "state"), r,
			    app_bytes((uint64_t)num(v, "bytes_in"), b1, sizeof(b1)),
			    app_bytes((uint64_t)num(v, "bytes_out"), b2, sizeof(b2)), num(v, "streams"),
			    app_duration(json_number_value(json_object_get(v, "age_s")), d, sizeof(d)));
			if (json_object_get(v, "peer_key"))
				printf("    peer %s  %s %s\n", str(v, "peer_key"), str(v, "pattern"), str(v, "aead"));
			if (json_object_get(v, "transport_why"))
				printf("    transport: %s\n", str(v, "transport_why"));
		}
	}

	arr = json_object_get(st, "forwards");
	printf("forwards   %zu\n", json_array_size(arr));
	json_array_foreach(arr, i, v) {
		printf("  %s -> %s at %s  [%s, %s] conns %lld/%lld  up %s down %s\n", str(v, "listen"),
		    str(v, "service"), str(v, "addr"), str(v, "state"), str(v, "key_source"),
		    num(v, "connections_active"), num(v, "connections_total"),
		    app_bytes((uint64_t)num(v, "bytes_up"), b1, sizeof(b1)),
		    app_bytes((uint64_t)num(v, "bytes_down"), b2, sizeof(b2)));
		if (num(v, "relays") > 0)
			printf("    through %lld relay(s)\n", num(v, "relays"));
		if (json_is_string(json_object_get(v, "last_error")))
			printf("    last error: %s\n", str(v, "last_error"));
	}

	arr = json_object_get(st, "circuits");
	if (json_array_size(arr))
		printf("circuits   %zu\n", json_array_size(arr));
	json_array_foreach(arr, i, v) {
		json_t *h;
		size_t j;
		printf("  %-8s", str(v, "state"));
		json_array_foreach(json_object_get(v, "hops"), j, h)
			printf("%s %s", j ? " ->" : "", str(h, "name"));
		printf("  streams %lld  up %s down %s  age %s\n", num(v, "streams"),
		    app_bytes((uint64_t)num(v, "bytes_up"), b1, sizeof(b1)),
		    app_bytes((uint64_t)num(v, "bytes_down"), b2, sizeof(b2)),
		    app_duration(json_number_value(json_object_get(v, "age_s")), d, sizeof(d)));
	}
	v = json_object_get(st, "relay");
	if (json_is_object(v) && json_is_true(json_object_get(v, "enabled")))
		printf("relay      on: relaying %lld of %lld circuits, %s relayed, %lld refused, "
		    "buffered %s, rate limit %lld KiB/s (0: none)\n", num(v, "relaying"),
		    num(v, "max_circuits"), app_bytes((uint64_t)num(v, "bytes"), b1, sizeof(b1)),
		    num(v, "refused"), app_bytes((uint64_t)num(v, "buffered"), b2, sizeof(b2)),
		    num(v, "max_rate_kib"));
	else if (json_is_object(v))
		printf("relay      off (exits for our services: %lld)\n", num(v, "exits"));
	printf("counters  ");
	json_object_foreach(json_object_get(st, "counters"), key, v)
		printf(" %s=%lld", key, (long long)json_integer_value(v));
	printf("\n");
	printf("quic      ");
	json_object_foreach(json_object_get(st, "quic"), key, v)
		printf(" %s=%lld", key, (long long)json_integer_value(v));
	printf("\n");
}

int
cmd_status(struct app *a, int argc, char **argv)
{
	bool json = false;
	struct app_ctl ctl;
	json_t *res = NULL;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("%s", status_help);
			return EXIT_OK;
		} else
			return app_usage_error("status", "unexpected argument '%s'", argv[i]);
	}
	if ((rc = app_home(a)) != 0)
		return rc;
	if ((rc = app_ctl_open(a, &ctl, json)) != 0) {
		if (json)
			printf("{\"running\": false}\n");
		return rc;
	}
	rc = app_ctl_call(&ctl, "status", NULL, &res, NULL, NULL, NULL, 0);
	app_ctl_close(&ctl);
	if (rc)
		return rc;
	if (json) {
		json_object_set_new(res, "running", json_true());
		app_print_json(res);
	} else {
		print_human(res);
	}
	json_decref(res);
	return EXIT_OK;
}
