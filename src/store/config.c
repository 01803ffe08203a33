#include "store/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <ctype.h>
#include <stddef.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aead.h"
#include "lib/err.h"
#include "os/os.h"

struct parse_ctx {
	struct vx6_node_config *cfg;
	char *err;
	size_t errlen;
	int lineno;            /* counted by us: inih reports the failing line only at the end */
	bool services;         /* parsing services.ini */
	bool seen_name;
};

/* Records the first error only: inih keeps parsing after one and reports
 * the first failing line number. */
static int
bad(struct parse_ctx *c, const char *fmt, const char *a, const char *b)
{
	if (c->err[0] == '\0')
		snprintf(c->err, c->errlen, fmt, a, b);
	return 0;
}

static bool
parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (*v == '\0' || *v == '-' || *v == '+')
		return false;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end != '\0' || x < min || x > max)
		return false;
	*out = x;
	return true;
}

unsigned
vx6_config_aead_parse(const char *s)
{
	if (strcmp(s, "auto") == 0)
		return vx6_aead_available_mask();
	if (strcmp(s, "chacha20-poly1305") == 0)
		return 1u << (VX6_AEAD_CHACHA20_POLY1305 - 1);
	if (strcmp(s, "aes256-gcm") == 0)
		return 1u << (VX6_AEAD_AES256_GCM - 1);
	return 0;
}

struct limit_key {
	const char *name;
	size_t offset;
	bool is64;
	uint64_t min, max;
};

#define L32(f, lo, hi) { #f, offsetof(struct vx6_node_limits, f), false, lo, hi }
static const struct limit_key limit_keys[] = {
	L32(max_sessions, 1, 100000),
	L32(max_handshakes, 1, 100000),
	L32(max_streams, 1, 1u << 20),
	L32(stream_window, 16384, 1u << 30),
	L32(session_window, 16384, 0xffffffffu),
	L32(max_output, 131072, 0xffffffffu),
	L32(handshake_timeout_ms, 100, 3600000),
	L32(idle_timeout_ms, 1000, 86400000),
	L32(keepalive_ms, 100, 86400000),
	L32(rekey_interval_s, 1, 86400),
	{ "rekey_bytes", offsetof(struct vx6_node_limits, rekey_bytes), true, 1u << 20, 1ULL << 40 },
	L32(max_forwards, 1, 10000),
	L32(max_ctl_clients, 1, 1000),
	L32(max_app_conns, 1, 1000000),
	L32(republish_s, 1, 86400),
	L32(replicate_s, 1, 86400),
	L32(record_lifetime_s, 2, 7 * 86400),
	L32(quic_reprobe_s, 1, 86400),
};

static int
add_addr(struct parse_ctx *c, struct vx6_addr *arr, size_t *n, size_t max, const char *key,
    const char *value)
{
	if (*n >= max)
		return bad(c, "too many '%s' entries%s", key, "");
	if (vx6_addr_parse_policy(&arr[*n], value, strcmp(key, "listen") == 0) != 0)
		return bad(c, "'%s' is not an address like [::1]:4242 or 127.0.0.1:4242 (key %s)", value, key);
	(*n)++;
	return 1;
}

/* [routes]: `NODE.SERVICE = direct | relay N`, or `default = ...`. */
static int
add_route(struct parse_ctx *c, const char *name, const char *value)
{
	struct vx6_node_config *cfg = c->cfg;
	const char *dot = strchr(name, '.');
	char node[VX6_NAME_BUF];
	unsigned hops;
	int used = 0;

	if (strcmp(name, "default") != 0) {
		if (dot == NULL || (size_t)(dot - name) >= sizeof(node))
			return bad(c, "[routes] key '%s' is not NODE.SERVICE or default%s", name, "");
		memcpy(node, name, (size_t)(dot - name));
		node[dot - name] = '\0';
		if (!vx6_name_valid(node) || !vx6_name_valid(dot + 1))
			return bad(c, "[routes] key '%s' is not NODE.SERVICE or default%s", name, "");
	}
	for (size_t i = 0; i < cfg->n_routes; i++)
		if (strcmp(cfg->routes[i].service, name) == 0)
			return bad(c, "[routes] '%s' is set twice%s", name, "");
	_Static_assert(VX6_NODE_MAX_ROUTES == 64, "the message below says 64");
	if (cfg->n_routes >= VX6_NODE_MAX_ROUTES)
		return bad(c, "too many [routes] (at most %s)%s", "64", "");
	if (strcmp(value, "direct") == 0)
		hops = 0;
	else if (sscanf(value, "relay %u%n", &hops, &used) != 1 || value[used] != '\0' || hops < 1 ||
	    hops > 7)
		return bad(c, "[routes] %s = '%s': write direct or relay N (N from 1 to 7)", name, value);
	snprintf(cfg->routes[cfg->n_routes].service, sizeof(cfg->routes[0].service), "%s", name);
	cfg->routes[cfg->n_routes].relay_hops = (uint8_t)hops;
	cfg->n_routes++;
	return 1;
}

static int
config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *c = user;
	struct vx6_node_config *cfg = c->cfg;
	uint64_t v;

	if (strcmp(section, "node") == 0) {
		if (strcmp(name, "name") == 0) {
			if (c->seen_name)
				return bad(c, "'%s' is set twice%s", name, "");
			if (!vx6_name_valid(value))
				return bad(c, "invalid name '%s': %s", value, vx6_name_why_invalid(value));
			snprintf(cfg->name, sizeof(cfg->name), "%s", value);
			c->seen_name = true;
			return 1;
		}
		if (strcmp(name, "listen") == 0)
			return add_addr(c, cfg->listen, &cfg->n_listen, VX6_NODE_MAX_LISTEN, name, value);
		if (strcmp(name, "advertise") == 0)
			return add_addr(c, cfg->advertise, &cfg->n_advertise, VX6_NODE_MAX_LISTEN, name, value);
		if (strcmp(name, "transport") == 0) {
			int t = vx6_transport_policy_parse(value);
			if (t < 0)
				return bad(c, "transport '%s' is not one of auto, tcp, quic%s", value, "");
			cfg->transport = (enum vx6_transport_policy)t;
			return 1;
		}
		if (strcmp(name, "log_level") == 0) {
			int lvl = vx6_log_level_parse(value);
			if (lvl < 0)
				return bad(c, "log_level '%s' is not one of error, warn, info, debug%s", value, "");
			cfg->log_level = lvl;
			return 1;
		}
		if (strcmp(name, "aead") == 0) {
			unsigned m = vx6_config_aead_parse(value);
			if (m == 0)
				return bad(c, "aead '%s' is not one of auto, chacha20-poly1305, aes256-gcm%s",
				    value, "");
			if ((m & vx6_aead_available_mask()) == 0)
				return bad(c, "aead '%s' is not available on this CPU%s", value, "");
			cfg->aead_mask = m;
			return 1;
		}
		return bad(c, "unknown key '%s' in [%s]", name, section);
	}
	if (strcmp(section, "peers") == 0) {
		if (strcmp(name, "peer") == 0)
			return add_addr(c, cfg->peers, &cfg->n_peers, VX6_NODE_MAX_PEERS, name, value);
		return bad(c, "unknown key '%s' in [%s]", name, section);
	}
	if (strcmp(section, "relay") == 0) {
		bool *flag = strcmp(name, "enabled") == 0 ? &cfg->relay :
		    strcmp(name, "allow_loopback") == 0 ? &cfg->relay_allow_loopback :
		    strcmp(name, "same_prefix_paths") == 0 ? &cfg->relay_same_prefix : NULL;
		if (flag) {
			if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
				return bad(c, "%s = '%s': write yes or no", name, value);
			*flag = strcmp(value, "yes") == 0;
			return 1;
		}
#ifdef VX6_TEST_HOOKS
		if (strcmp(name, "test_misbehave") == 0) {
			/* Only test builds know this key: a relay that corrupts, repeats
			 * or drops every 10th cell it forwards. */
			cfg->relay_misbehave = strcmp(value, "tamper") == 0 ? 1 : strcmp(value, "replay") == 0 ? 2 :
			    strcmp(value, "drop") == 0 ? 3 : -1;
			if (cfg->relay_misbehave < 0)
				return bad(c, "test_misbehave = '%s': tamper, replay or drop%s", value, "");
			return 1;
		}
#endif
		if (strcmp(name, "max_circuits") == 0) {
			if (!parse_u64(value, 1, 100000, &v))
				return bad(c, "'%s' is out of range for %s", value, name);
			cfg->relay_max_circuits = (uint32_t)v;
			return 1;
		}
		if (strcmp(name, "max_rate_kib") == 0) {
			if (!parse_u64(value, 0, 100u * 1024 * 1024, &v))
				return bad(c, "'%s' is out of range for %s", value, name);
			cfg->relay_max_rate_kib = (uint32_t)v;
			return 1;
		}
		return bad(c, "unknown key '%s' in [%s]", name, section);
	}
	if (strcmp(section, "routes") == 0)
		return add_route(c, name, value);
	if (strcmp(section, "limits") == 0) {
		for (size_t i = 0; i < sizeof(limit_keys) / sizeof(limit_keys[0]); i++) {
			const struct limit_key *k = &limit_keys[i];
			if (strcmp(name, k->name) != 0)
				continue;
			if (!parse_u64(value, k->min, k->max, &v))
				return bad(c, "'%s' is out of range for %s", value, name);
			if (k->is64)
				*(uint64_t *)((char *)&cfg->limits + k->offset) = v;
			else
				*(uint32_t *)((char *)&cfg->limits + k->offset) = (uint32_t)v;
			return 1;
		}
		return bad(c, "unknown key '%s' in [%s]", name, section);
	}
	return bad(c, "unknown section [%s]%s", section, "");
}

static int
services_handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *c = user;
	struct vx6_node_config *cfg = c->cfg;
	struct vx6_service_def *s;
	const char *svc;

	if (strncmp(section, "service ", 8) != 0)
		return bad(c, "unknown section [%s]: services are [service NAME]%s", section, "");
	svc = section + 8;
	if (!vx6_name_valid(svc))
		return bad(c, "invalid service name '%s': %s", svc, vx6_name_why_invalid(svc));
	if (strcmp(name, "private") == 0 || strcmp(name, "allow") == 0) {
		/* Options of the service defined by the target line above. */
		if (cfg->n_services == 0 || strcmp(cfg->services[cfg->n_services - 1].name, svc) != 0)
			return bad(c, "'%s' must come after the target of [%s]", name, section);
		s = &cfg->services[cfg->n_services - 1];
		if (strcmp(name, "private") == 0) {
			if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
				return bad(c, "private = '%s': write yes or no%s", value, "");
			s->is_private = strcmp(value, "yes") == 0;
			return 1;
		}
		uint8_t k[VX6_KEY_LEN];
		if (vx6_key_from_text(k, value) != 0 && !vx6_name_valid(value))
			return bad(c, "allow = '%s' is neither a public key nor a node name%s", value, "");
		if (s->n_allow >= VX6_SERVICE_MAX_ALLOW)
			return bad(c, "too many allow entries in [%s]%s", section, "");
		snprintf(s->allow[s->n_allow++], VX6_ALLOW_LEN, "%s", value);
		return 1;
	}
	if (strcmp(name, "target") != 0)
		return bad(c, "unknown key '%s' in [%s]", name, section);
	for (size_t i = 0; i < cfg->n_services; i++)
		if (strcmp(cfg->services[i].name, svc) == 0)
			return bad(c, "service '%s' is defined twice%s", svc, "");
	if (cfg->n_services >= VX6_NODE_MAX_SERVICES)
		return bad(c, "too many services%s%s", "", "");
	s = &cfg->services[cfg->n_services];
	snprintf(s->name, sizeof(s->name), "%s", svc);
	if (vx6_addr_parse(&s->target, value, false) != 0 || s->target.transport != VX6_TRANSPORT_TCP)
		return bad(c, "target '%s' is not a TCP address like 127.0.0.1:8080 (service %s)", value, svc);
	if (!vx6_addr_is_loopback(&s->target))
		return bad(c, "target '%s' of service %s is not a loopback address: VX6 publishes only "
		    "services that listen on this machine", value, svc);
	cfg->n_services++;
	return 1;
}

/* Debian's libinih reads lines into a 200-byte buffer and parses the rest of
 * a longer line as a new line (a long comment could turn into a setting).
 * So comment lines are blanked before inih sees them (line numbers stay),
 * and a longer setting line is refused. */
#define INI_LINE_MAX 198

static int
run_parse(const char *text, ini_handler handler, struct parse_ctx *c, const char *what)
{
	int line, lineno = 0;
	char msg[300], *copy = strdup(text), *p = copy;

	if (copy == NULL) {
		snprintf(c->err, c->errlen, "%s: out of memory", what);
		return VX6_ERR_NOMEM;
	}
	while (p && *p) {
		char *eol = strchr(p, '\n'), *q = p;
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		lineno++;
		while (q < p + n && isspace((unsigned char)*q))   /* as inih skips it */
			q++;
		if (q < p + n && (*q == '#' || *q == ';')) {
			memset(p, ' ', n);   /* a comment, however long, is nothing */
		} else if (n > INI_LINE_MAX) {
			snprintf(c->err, c->errlen, "%s line %d is too long (at most %d characters)", what,
			    lineno, INI_LINE_MAX);
			free(copy);
			return VX6_ERR_MALFORMED;
		}
		p = eol ? eol + 1 : NULL;
	}
	c->err[0] = '\0';
	line = ini_parse_string(copy, handler, c);
	free(copy);

	if (line == 0)
		return 0;
	snprintf(msg, sizeof(msg), "%s", c->err[0] ? c->err : "syntax error");
	if (line > 0)
		snprintf(c->err, c->errlen, "%s line %d: %s", what, line, msg);
	else
		snprintf(c->err, c->errlen, "%s: %s", what, msg);
	return VX6_ERR_MALFORMED;
}

int
vx6_config_parse(const char *text, struct vx6_node_config *cfg, char *err, size_t errlen)
{
	struct parse_ctx c = { .cfg = cfg, .err = err, .errlen = errlen };
	int rc = run_parse(text, config_handler, &c, "config.ini");

	if (rc == 0 && !c.seen_name) {
		snprintf(err, errlen, "config.ini: [node] name is missing");
		return VX6_ERR_MALFORMED;
	}
	return rc;
}

int
vx6_services_parse(const char *text, struct vx6_node_config *cfg, char *err, size_t errlen)
{
	struct parse_ctx c = { .cfg = cfg, .err = err, .errlen = errlen, .services = true };
	const char *line = text;
	int rc, lineno = 0;

	cfg->n_services = 0;
	rc = run_parse(text, services_handler, &c, "services.ini");
	if (rc)
		return rc;
	/* inih never calls back for a section without keys: find those. */
	while (line && *line) {
		const char *eol = strchr(line, '\n');
		char name[64];
		bool found = false;
		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		if (sscanf(line, "[service %63[^]]]", name) == 1) {
			for (size_t i = 0; i < cfg->n_services; i++)
				found |= strcmp(cfg->services[i].name, name) == 0;
			if (!found) {
				snprintf(err, errlen, "services.ini line %d: service '%s' has no target", lineno,
				    name);
				return VX6_ERR_MALFORMED;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return 0;
}

int
vx6_config_load(const char *config_path, const char *services_path, struct vx6_node_config *cfg,
    char *err, size_t errlen)
{
	char *text = NULL;
	int rc;

	vx6_node_config_defaults(cfg);
	rc = vx6_os_read_file(config_path, VX6_CONFIG_MAX_FILE, &text, NULL);
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s%s", config_path, vx6_strerror(rc),
		    rc == VX6_ERR_NOT_FOUND ? " (run `vx6 init` first)" : "");
		return rc;
	}
	rc = vx6_config_parse(text, cfg, err, errlen);
	free(text);
	if (rc)
		return rc;
	rc = vx6_os_read_file(services_path, VX6_CONFIG_MAX_FILE, &text, NULL);
	if (rc == VX6_ERR_NOT_FOUND)
		return 0;
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s", services_path, vx6_strerror(rc));
		return rc;
	}
	rc = vx6_services_parse(text, cfg, err, errlen);
	free(text);
	return rc;
}

int
vx6_peers_parse(const char *text, struct vx6_node_config *cfg, char *err, size_t errlen)
{
	const char *line = text;
	int lineno = 0;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		char buf[VX6_ADDR_STRLEN + 8];
		struct vx6_addr a;
		bool dup = false;

		lineno++;
		while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\r' || line[n - 1] == '\t'))
			n--;
		if (n > 0 && line[0] != '#') {
			if (n >= sizeof(buf)) {
				snprintf(err, errlen, "peers line %d: too long", lineno);
				return VX6_ERR_MALFORMED;
			}
			memcpy(buf, line, n);
			buf[n] = '\0';
			if (vx6_addr_parse_policy(&a, buf, false) != 0) {
				snprintf(err, errlen, "peers line %d: '%s' is not an address", lineno, buf);
				return VX6_ERR_MALFORMED;
			}
			for (size_t i = 0; i < cfg->n_peers; i++)
				dup |= vx6_addr_equal(&cfg->peers[i], &a);
			if (!dup) {
				if (cfg->n_peers >= VX6_NODE_MAX_PEERS) {
					snprintf(err, errlen, "too many peers (at most %d)", VX6_NODE_MAX_PEERS);
					return VX6_ERR_TOO_LARGE;
				}
				cfg->peers[cfg->n_peers++] = a;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return 0;
}

int
vx6_config_load_home(const char *config_path, const char *services_path, const char *peers_path,
    struct vx6_node_config *cfg, char *err, size_t errlen)
{
	char *text = NULL;
	int rc = vx6_config_load(config_path, services_path, cfg, err, errlen);

	if (rc || peers_path == NULL)
		return rc;
	rc = vx6_os_read_file(peers_path, VX6_CONFIG_MAX_FILE, &text, NULL);
	if (rc == VX6_ERR_NOT_FOUND)
		return 0;
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s", peers_path, vx6_strerror(rc));
		return rc;
	}
	rc = vx6_peers_parse(text, cfg, err, errlen);
	free(text);
	return rc;
}

/* A growing text buffer for rendering. */
struct text {
	char *p;
	size_t len, cap;
	bool oom;
};

static void
add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if (t->p && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = (t->cap ? t->cap * 2 : 1024) + (size_t)n;
		char *np = realloc(t->p, cap);
		if (np == NULL) {
			t->oom = true;
			return;
		}
		t->p = np;
		t->cap = cap;
	}
}

static char *
text_done(struct text *t)
{
	if (t->oom) {
		free(t->p);
		return NULL;
	}
	return t->p;
}

char *
vx6_config_render(const struct vx6_node_config *cfg)
{
	struct text t = { 0 };
	struct vx6_node_config d;
	char a[VX6_ADDR_STRLEN];

	vx6_node_config_defaults(&d);
	add(&t, "# VX6 node configuration. After editing, run `vx6 reload` (or send SIGHUP).\n"
	    "# Listen addresses take effect at the next start.\n\n[node]\n");
	add(&t, "# A label for people; the key in identity.key is the node's identity.\n"
	    "# 1-15 characters of a-z, 0-9 and '-', not starting or ending with '-'.\nname = %s\n",
	    cfg->name);
	add(&t, "# Where peers reach this node (repeat the key for several addresses).\n");
	for (size_t i = 0; i < cfg->n_listen; i++) {
		vx6_addr_format(&cfg->listen[i], a, sizeof(a), true);
		add(&t, "listen = %s\n", a);
	}
	add(&t, "# Node-to-node transport for addresses written without tcp:// or quic://:\n"
	    "# auto listens on TCP and QUIC (UDP) on the same port and dials QUIC first,\n"
	    "# falling back to TCP; tcp or quic use only that one.\ntransport = %s\n",
	    vx6_transport_policy_name(cfg->transport));
	add(&t, "# Addresses published to other nodes, when they differ from listen.\n");
	if (cfg->n_advertise == 0)
		add(&t, "# advertise = [2001:db8::10]:4242\n");
	for (size_t i = 0; i < cfg->n_advertise; i++) {
		vx6_addr_format(&cfg->advertise[i], a, sizeof(a), true);
		add(&t, "advertise = %s\n", a);
	}
	add(&t, "# error | warn | info | debug\nlog_level = %s\n", vx6_log_level_name(cfg->log_level));
	add(&t, "# Transport cipher: auto (AES-256-GCM when both ends have hardware AES,\n"
	    "# else ChaCha20-Poly1305) | chacha20-poly1305 | aes256-gcm\naead = %s\n\n",
	    cfg->aead_mask == vx6_config_aead_parse("chacha20-poly1305") ? "chacha20-poly1305" :
	    cfg->aead_mask == vx6_config_aead_parse("aes256-gcm") &&
	    cfg->aead_mask != vx6_aead_available_mask() ? "aes256-gcm" : "auto");
	add(&t, "[peers]\n# Nodes to join the network through (repeat the key).\n");
	if (cfg->n_peers == 0)
		add(&t, "# peer = [2001:db8::20]:4242\n");
	for (size_t i = 0; i < cfg->n_peers; i++) {
		vx6_addr_format(&cfg->peers[i], a, sizeof(a), true);
		add(&t, "peer = %s\n", a);
	}
	add(&t, "\n[relay]\n# Relay circuits for other nodes (multi-hop paths). A relay only forwards\n"
	    "# encrypted cells between VX6 nodes, never to its own or loopback addresses.\n"
	    "enabled = %s\n# max_circuits = %u\n", cfg->relay ? "yes" : "no", d.relay_max_circuits);
	add(&t, "# Transit bandwidth for other nodes' circuits, KiB/s (0 = unlimited).\n"
	    "# max_rate_kib = 0\n");
	if (cfg->relay_max_rate_kib)
		add(&t, "max_rate_kib = %u\n", cfg->relay_max_rate_kib);
	if (cfg->relay_allow_loopback)
		add(&t, "allow_loopback = yes\n");
	if (cfg->relay_same_prefix)
		add(&t, "same_prefix_paths = yes\n");
	add(&t, "\n[routes]\n# How `vx6 connect --service NODE.SERVICE` reaches a service when --relay\n"
	    "# is not given: direct, or relay N (a circuit of N relays).\n"
	    "# default = direct\n# alice.web = relay 2\n");
	for (size_t i = 0; i < cfg->n_routes; i++) {
		if (cfg->routes[i].relay_hops)
			add(&t, "%s = relay %u\n", cfg->routes[i].service, cfg->routes[i].relay_hops);
		else
			add(&t, "%s = direct\n", cfg->routes[i].service);
	}
	add(&t, "\n[limits]\n# Safe defaults; uncomment to change.\n");
	add(&t, "# max_sessions = %u\n# max_handshakes = %u\n# max_streams = %u\n",
	    d.limits.max_sessions, d.limits.max_handshakes, d.limits.max_streams);
	add(&t, "# stream_window = %u\n# session_window = %u\n# max_output = %u\n",
	    d.limits.stream_window, d.limits.session_window, d.limits.max_output);
	add(&t, "# handshake_timeout_ms = %u\n# idle_timeout_ms = %u\n# keepalive_ms = %u\n",
	    d.limits.handshake_timeout_ms, d.limits.idle_timeout_ms, d.limits.keepalive_ms);
	add(&t, "# rekey_interval_s = %u\n# rekey_bytes = %llu\n", d.limits.rekey_interval_s,
	    (unsigned long long)d.limits.rekey_bytes);
	add(&t, "# max_forwards = %u\n# max_ctl_clients = %u\n# max_app_conns = %u\n",
	    d.limits.max_forwards, d.limits.max_ctl_clients, d.limits.max_app_conns);
	add(&t, "# Named mode: re-sign and store our records every republish_s; DHT holders\n"
	    "# re-store values nobody refreshed every replicate_s; records live record_lifetime_s.\n");
	add(&t, "# republish_s = %u\n# replicate_s = %u\n# record_lifetime_s = %u\n",
	    d.limits.republish_s, d.limits.replicate_s, d.limits.record_lifetime_s);
	add(&t, "# With transport auto: after a fallback to TCP, QUIC is tried again every quic_reprobe_s.\n"
	    "# quic_reprobe_s = %u\n", d.limits.quic_reprobe_s);
	return text_done(&t);
}

char *
vx6_services_render(const struct vx6_node_config *cfg)
{
	struct text t = { 0 };
	char a[VX6_ADDR_STRLEN];

	add(&t, "# Services this node publishes: [service NAME] with a loopback target.\n"
	    "# private = yes publishes no public record; allow = KEY or NODE-NAME (repeatable)\n"
	    "# names who may find and use it. Managed by `vx6 service add/remove`.\n");
	for (size_t i = 0; i < cfg->n_services; i++) {
		vx6_addr_format(&cfg->services[i].target, a, sizeof(a), false);
		add(&t, "\n[service %s]\ntarget = %s\n", cfg->services[i].name, a);
		if (cfg->services[i].is_private)
			add(&t, "private = yes\n");
		for (uint8_t j = 0; j < cfg->services[i].n_allow; j++)
			add(&t, "allow = %s\n", cfg->services[i].allow[j]);
	}
	if (t.p == NULL)
		add(&t, "%s", "");
	return text_done(&t);
}
