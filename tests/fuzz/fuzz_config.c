/*
 * fuzz_config — the config.ini and services.ini parsers (src/store/config.h).
 *
 * Feeds: a NUL-terminated copy of the input (text ends at the first NUL) to
 * vx6_config_parse() on a fresh vx6_node_config_defaults() and to
 * vx6_services_parse() on another. Both configs live on the heap (the struct
 * is large), and to vx6_peers_parse() (the peers file).
 *
 * Invariants:
 *   - every error leaves a non-empty, NUL-terminated message;
 *   - comment lines (first non-blank character '#' or ';') do not matter:
 *     the text with them removed parses to the same result and config;
 *   - a parsed config.ini has a valid name, address counts within their caps,
 *     every limit inside its documented range, a known log level and an AEAD
 *     mask this machine can run; vx6_config_render() of it parses again with
 *     the same name, log level and addresses (compared without the scheme,
 *     which the template does not write);
 *   - a parsed services.ini has at most VX6_NODE_MAX_SERVICES services with
 *     valid, distinct names and loopback targets, and vx6_services_render()
 *     of it parses again to identical services (name, address with its
 *     scheme, private flag, allow list);
 *   - a parsed peers file adds distinct addresses with a port, at most
 *     VX6_NODE_MAX_PEERS, and parsing it again adds nothing.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aead.h"
#include "lib/addr.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/name.h"
#include "node/node.h"
#include "store/config.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_config: invariant failed at line %d: %s\n", __LINE__, #cond); \
	__builtin_trap(); } } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	return 0;
}

static bool
in(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v >= lo && v <= hi;
}

/* Ranges from the [limits] table in config.c / README. */
static void
check_limits(const struct vx6_node_limits *l)
{
	CHECK(in(l->max_sessions, 1, 100000));
	CHECK(in(l->max_handshakes, 1, 100000));
	CHECK(in(l->max_streams, 1, 1u << 20));
	CHECK(in(l->stream_window, 16384, 1u << 30));
	CHECK(in(l->session_window, 16384, 0xffffffffu));
	CHECK(in(l->max_output, 131072, 0xffffffffu));
	CHECK(in(l->handshake_timeout_ms, 100, 3600000));
	CHECK(in(l->idle_timeout_ms, 1000, 86400000));
	CHECK(in(l->keepalive_ms, 100, 86400000));
	CHECK(in(l->rekey_interval_s, 1, 86400));
	CHECK(in(l->rekey_bytes, 1u << 20, 1ULL << 40));
	CHECK(in(l->max_forwards, 1, 10000));
	CHECK(in(l->max_ctl_clients, 1, 1000));
	CHECK(in(l->max_app_conns, 1, 1000000));
}

static bool
same_ignoring_scheme(const struct vx6_addr *a, const struct vx6_addr *b)
{
	struct vx6_addr x = *a, y = *b;

	x.transport = y.transport = VX6_TRANSPORT_TCP;
	return vx6_addr_equal(&x, &y);
}

/* A copy of text without its comment lines (caller frees). */
static char *
strip_comments(const char *text)
{
	size_t n = strlen(text), o = 0;
	char *out = malloc(n + 1);
	const char *line = text;

	if (out == NULL)
		abort();
	while (*line) {
		const char *eol = strchr(line, '\n'), *p = line;
		size_t len = eol ? (size_t)(eol - line) + 1 : strlen(line);

		while (p < line + len && isspace((unsigned char)*p) && *p != '\n')
			p++;
		if (*p != '#' && *p != ';') {
			memcpy(out + o, line, len);
			o += len;
		}
		line += len;
	}
	out[o] = '\0';
	return out;
}

typedef int parse_fn(const char *text, struct vx6_node_config *cfg, char *err, size_t errlen);

/* Parses text without its comments into a fresh config and compares. */
static void
check_comments_ignored(parse_fn *parse, const char *text, int rc, const struct vx6_node_config *cfg)
{
	struct vx6_node_config *other = malloc(sizeof(*other));
	char *stripped = strip_comments(text);
	char err[512];
	int rc2;

	if (other == NULL)
		abort();
	vx6_node_config_defaults(other);
	rc2 = parse(stripped, other, err, sizeof(err));
	if ((rc == 0) != (rc2 == 0))
		fprintf(stderr, "fuzz_config: removing comment lines changes the result (%d -> %d)\n",
		    rc, rc2);
	CHECK((rc == 0) == (rc2 == 0));
	if (rc == 0)
		CHECK(memcmp(other, cfg, sizeof(*cfg)) == 0);
	free(stripped);
	free(other);
}

static void
check_err(const char *err, size_t cap)
{
	CHECK(memchr(err, '\0', cap) != NULL);
	CHECK(err[0] != '\0');
}

static void
fuzz_config_ini(const char *text)
{
	struct vx6_node_config *cfg = malloc(sizeof(*cfg)), *again = malloc(sizeof(*again));
	char err[512];
	char *rendered;
	int rc;

	if (cfg == NULL || again == NULL)
		abort();
	vx6_node_config_defaults(cfg);
	rc = vx6_config_parse(text, cfg, err, sizeof(err));
	check_comments_ignored(vx6_config_parse, text, rc, cfg);
	if (rc != 0) {
		CHECK(rc == VX6_ERR_MALFORMED);
		check_err(err, sizeof(err));
		goto out;
	}
	CHECK(vx6_name_valid(cfg->name));
	CHECK(cfg->n_listen <= VX6_NODE_MAX_LISTEN);
	CHECK(cfg->n_advertise <= VX6_NODE_MAX_LISTEN);
	CHECK(cfg->n_peers <= VX6_NODE_MAX_PEERS);
	CHECK(cfg->log_level >= VX6_LOG_ERROR && cfg->log_level <= VX6_LOG_DEBUG);
	CHECK(cfg->aead_mask != 0 && (cfg->aead_mask & ~vx6_aead_available_mask()) == 0);
	for (size_t i = 0; i < cfg->n_advertise; i++)
		CHECK(cfg->advertise[i].port != 0);
	for (size_t i = 0; i < cfg->n_peers; i++)
		CHECK(cfg->peers[i].port != 0);
	check_limits(&cfg->limits);

	rendered = vx6_config_render(cfg);
	CHECK(rendered != NULL);
	vx6_node_config_defaults(again);
	rc = vx6_config_parse(rendered, again, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "fuzz_config: rendered config.ini does not parse: %s\n%s", err, rendered);
	CHECK(rc == 0);
	CHECK(strcmp(again->name, cfg->name) == 0);
	CHECK(again->log_level == cfg->log_level);
	CHECK(again->n_listen == cfg->n_listen);
	CHECK(again->n_advertise == cfg->n_advertise);
	CHECK(again->n_peers == cfg->n_peers);
	for (size_t i = 0; i < cfg->n_listen; i++)
		CHECK(same_ignoring_scheme(&again->listen[i], &cfg->listen[i]));
	for (size_t i = 0; i < cfg->n_advertise; i++)
		CHECK(same_ignoring_scheme(&again->advertise[i], &cfg->advertise[i]));
	for (size_t i = 0; i < cfg->n_peers; i++)
		CHECK(same_ignoring_scheme(&again->peers[i], &cfg->peers[i]));
	free(rendered);
out:
	free(cfg);
	free(again);
}

static void
fuzz_services_ini(const char *text)
{
	struct vx6_node_config *cfg = malloc(sizeof(*cfg)), *again = malloc(sizeof(*again));
	char err[512];
	char *rendered;
	int rc;

	if (cfg == NULL || again == NULL)
		abort();
	vx6_node_config_defaults(cfg);
	rc = vx6_services_parse(text, cfg, err, sizeof(err));
	check_comments_ignored(vx6_services_parse, text, rc, cfg);
	if (rc != 0) {
		CHECK(rc == VX6_ERR_MALFORMED);
		check_err(err, sizeof(err));
		goto out;
	}
	CHECK(cfg->n_services <= VX6_NODE_MAX_SERVICES);
	for (size_t i = 0; i < cfg->n_services; i++) {
		CHECK(vx6_name_valid(cfg->services[i].name));
		CHECK(vx6_addr_is_loopback(&cfg->services[i].target));
		CHECK(cfg->services[i].target.port != 0);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(cfg->services[i].name, cfg->services[j].name) != 0);
	}

	rendered = vx6_services_render(cfg);
	CHECK(rendered != NULL);
	vx6_node_config_defaults(again);
	rc = vx6_services_parse(rendered, again, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "fuzz_config: rendered services.ini does not parse: %s\n%s", err, rendered);
	CHECK(rc == 0);
	CHECK(again->n_services == cfg->n_services);
	for (size_t i = 0; i < cfg->n_services; i++) {
		CHECK(strcmp(again->services[i].name, cfg->services[i].name) == 0);
		if (!vx6_addr_equal(&again->services[i].target, &cfg->services[i].target)) {
			char a[VX6_ADDR_STRLEN], b[VX6_ADDR_STRLEN];
			vx6_addr_format(&cfg->services[i].target, a, sizeof(a), true);
			vx6_addr_format(&again->services[i].target, b, sizeof(b), true);
			fprintf(stderr, "fuzz_config: service %s: target %s came back as %s\n",
			    cfg->services[i].name, a, b);
		}
		CHECK(vx6_addr_equal(&again->services[i].target, &cfg->services[i].target));
		CHECK(again->services[i].is_private == cfg->services[i].is_private);
		CHECK(again->services[i].n_allow == cfg->services[i].n_allow);
		for (size_t j = 0; j < cfg->services[i].n_allow; j++)
			CHECK(strcmp(again->services[i].allow[j], cfg->services[i].allow[j]) == 0);
	}
	free(rendered);
out:
	free(cfg);
	free(again);
}

static void
fuzz_peers(const char *text)
{
	struct vx6_node_config *cfg = malloc(sizeof(*cfg));
	char err[512];
	size_t n;
	int rc;

	if (cfg == NULL)
		abort();
	vx6_node_config_defaults(cfg);
	rc = vx6_peers_parse(text, cfg, err, sizeof(err));
	CHECK(rc == 0 || rc == VX6_ERR_MALFORMED || rc == VX6_ERR_TOO_LARGE);
	if (rc != 0) {
		check_err(err, sizeof(err));
		free(cfg);
		return;
	}
	CHECK(cfg->n_peers <= VX6_NODE_MAX_PEERS);
	for (size_t i = 0; i < cfg->n_peers; i++) {
		CHECK(cfg->peers[i].port != 0);
		for (size_t j = 0; j < i; j++)
			CHECK(!vx6_addr_equal(&cfg->peers[i], &cfg->peers[j]));
	}
	n = cfg->n_peers;
	CHECK(vx6_peers_parse(text, cfg, err, sizeof(err)) == 0);
	CHECK(cfg->n_peers == n);
	free(cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_config_ini(text);
	fuzz_services_ini(text);
	fuzz_peers(text);
	free(text);
	return 0;
}
