#include "lib/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

static int
parse_port(const char *s, bool allow0, uint16_t *out)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return VX6_ERR_MALFORMED;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return VX6_ERR_MALFORMED;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535 || (v == 0 && !allow0))
		return VX6_ERR_MALFORMED;
	*out = (uint16_t)v;
	return 0;
}

int
vx6_addr_parse(struct vx6_addr *a, const char *text, bool allow_port0)
{
	char buf[VX6_ADDR_STRLEN];
	char *host, *port;
	size_t n;

	memset(a, 0, sizeof(*a));
	if (text == NULL)
		return VX6_ERR_MALFORMED;
	if (strncmp(text, "tcp://", 6) == 0) {
		text += 6;
	} else if (strncmp(text, "quic://", 7) == 0) {
		a->transport = VX6_TRANSPORT_QUIC;
		text += 7;
	}
	n = strlen(text);
	if (n == 0 || n >= sizeof(buf))
		return VX6_ERR_MALFORMED;
	memcpy(buf, text, n + 1);

	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (close == NULL || close[1] != ':')
			return VX6_ERR_MALFORMED;
		*close = '\0';
		host = buf + 1;
		port = close + 2;
		if (strchr(host, '%'))   /* zone ids are not supported */
			return VX6_ERR_MALFORMED;
		if (inet_pton(AF_INET6, host, a->ip) != 1)
			return VX6_ERR_MALFORMED;
		a->family = 6;
	} else {
		char *colon = strrchr(buf, ':');
		if (colon == NULL || strchr(buf, ':') != colon)
			return VX6_ERR_MALFORMED;   /* bare IPv6 needs brackets */
		*colon = '\0';
		host = buf;
		port = colon + 1;
		if (strcmp(host, "localhost") == 0)
			host = "127.0.0.1";
		if (inet_pton(AF_INET, host, a->ip) != 1)
			return VX6_ERR_MALFORMED;
		a->family = 4;
	}
	return parse_port(port, allow_port0, &a->port);
}

void
vx6_addr_format(const struct vx6_addr *a, char *out, size_t outlen, bool with_scheme)
{
	char host[INET6_ADDRSTRLEN] = "?";
	const char *scheme = "";

	if (with_scheme && a->transport != VX6_TRANSPORT_AUTO)
		scheme = a->transport == VX6_TRANSPORT_QUIC ? "quic://" : "tcp://";
	if (a->family == 6) {
		inet_ntop(AF_INET6, a->ip, host, sizeof(host));
		snprintf(out, outlen, "%s[%s]:%u", scheme, host, a->port);
	} else {
		inet_ntop(AF_INET, a->ip, host, sizeof(host));
		snprintf(out, outlen, "%s%s:%u", scheme, host, a->port);
	}
}

bool
vx6_addr_is_loopback(const struct vx6_addr *a)
{
	static const uint8_t v6lo[16] = { [15] = 1 };

	if (a->family == 4)
		return a->ip[0] == 127;
	if (a->family == 6) {
		/* ::ffff:127.x.x.x is loopback too */
		static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
		if (memcmp(a->ip, mapped, 12) == 0)
			return a->ip[12] == 127;
		return memcmp(a->ip, v6lo, 16) == 0;
	}
	return false;
}

bool
vx6_addr_is_unspecified(const struct vx6_addr *a)
{
	static const uint8_t zero[16];

	return memcmp(a->ip, zero, a->family == 4 ? 4 : 16) == 0;
}

bool
vx6_addr_equal(const struct vx6_addr *a, const struct vx6_addr *b)
{
	return a->family == b->family && a->transport == b->transport && a->port == b->port &&
	    memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

bool
vx6_addr_same_host(const struct vx6_addr *a, const struct vx6_addr *b)
{
	return a->family == b->family && memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

int
vx6_addr_parse_policy(struct vx6_addr *a, const char *text, bool allow_port0)
{
	int rc = vx6_addr_parse(a, text, allow_port0);

	if (rc == 0 && strncmp(text, "tcp://", 6) != 0 && strncmp(text, "quic://", 7) != 0)
		a->transport = VX6_TRANSPORT_AUTO;
	return rc;
}
