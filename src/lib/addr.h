/*
 * addr — socket addresses as VX6 writes them.
 *
 * Text forms: "[2001:db8::1]:4242", "127.0.0.1:8080", "localhost:8080"
 * (means 127.0.0.1), with an optional "tcp://" or "quic://" scheme (no scheme
 * means TCP, or with vx6_addr_parse_policy: whatever the node's policy says). Parsing never resolves DNS. No ownership: plain values.
 */
#ifndef VX6_LIB_ADDR_H
#define VX6_LIB_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vx6_transport {
	VX6_TRANSPORT_TCP = 0,
	VX6_TRANSPORT_QUIC = 1,
	/* Only in addresses a person wrote without a scheme for the node to
	 * listen on or dial (config, connect --addr): the node's transport
	 * policy decides. Never in a record or a bound address. */
	VX6_TRANSPORT_AUTO = 2,
};

struct vx6_addr {
	uint8_t family;       /* 4 or 6 */
	uint8_t transport;    /* enum vx6_transport */
	uint16_t port;
	uint8_t ip[16];       /* IPv4 in the first 4 bytes */
};

#define VX6_ADDR_STRLEN 64   /* enough for "quic://[ipv6]:65535" and NUL */

/* Parses text into a; port 0 is allowed only when allow_port0 is set.
 * Returns 0 or VX6_ERR_MALFORMED. */
int vx6_addr_parse(struct vx6_addr *a, const char *text, bool allow_port0);
/* The same, but no scheme gives VX6_TRANSPORT_AUTO (listen / dial addresses). */
int vx6_addr_parse_policy(struct vx6_addr *a, const char *text, bool allow_port0);
/* Writes the canonical text form (with scheme only when with_scheme). */
void vx6_addr_format(const struct vx6_addr *a, char *out, size_t outlen, bool with_scheme);
bool vx6_addr_is_loopback(const struct vx6_addr *a);
bool vx6_addr_is_unspecified(const struct vx6_addr *a);
bool vx6_addr_equal(const struct vx6_addr *a, const struct vx6_addr *b);
/* Same family and IP (ports and transports ignored). */
bool vx6_addr_same_host(const struct vx6_addr *a, const struct vx6_addr *b);

#endif
