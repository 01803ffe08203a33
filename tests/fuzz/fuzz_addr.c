/*
 * fuzz_addr — the socket-address parser (src/lib/addr.h).
 *
 * Feeds: a NUL-terminated copy of the input (text ends at the first NUL) to
 * vx6_addr_parse(), with and without allow_port0.
 *
 * Invariants:
 *   - the result is 0 or VX6_ERR_MALFORMED, and allow_port0 changes only
 *     whether port 0 is accepted;
 *   - a parsed address has family 4 or 6 and a known transport; IPv4 leaves
 *     ip[4..16) zero;
 *   - vx6_addr_format() with the scheme fits VX6_ADDR_STRLEN and parses back
 *     to an equal address; without the scheme it does too for TCP;
 *   - the canonical text is a fixed point: formatting the re-parsed address
 *     gives the same text.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/err.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_addr: invariant failed at line %d: %s\n", __LINE__, #cond); \
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

static void
roundtrip(const struct vx6_addr *a, bool with_scheme)
{
	char text[VX6_ADDR_STRLEN], text2[VX6_ADDR_STRLEN];
	struct vx6_addr b;

	memset(text, 'X', sizeof(text));
	vx6_addr_format(a, text, sizeof(text), with_scheme);
	CHECK(strnlen(text, sizeof(text)) < sizeof(text) - 1);   /* never truncated */
	CHECK(vx6_addr_parse(&b, text, true) == 0);
	CHECK(vx6_addr_equal(a, &b));
	vx6_addr_format(&b, text2, sizeof(text2), with_scheme);
	CHECK(strcmp(text, text2) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero[12];
	char *text = malloc(size + 1);
	struct vx6_addr a, a0;
	int rc, rc0;

	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	rc = vx6_addr_parse(&a, text, false);
	rc0 = vx6_addr_parse(&a0, text, true);
	free(text);
	CHECK(rc == 0 || rc == VX6_ERR_MALFORMED);
	CHECK(rc0 == 0 || rc0 == VX6_ERR_MALFORMED);
	if (rc == 0)
		CHECK(rc0 == 0 && vx6_addr_equal(&a, &a0) && a.port != 0);
	if (rc0 != 0)
		return 0;
	CHECK(rc == 0 || a0.port == 0);
	CHECK(a0.family == 4 || a0.family == 6);
	CHECK(a0.transport == VX6_TRANSPORT_TCP || a0.transport == VX6_TRANSPORT_QUIC);
	if (a0.family == 4)
		CHECK(memcmp(a0.ip + 4, zero, sizeof(zero)) == 0);
	(void)vx6_addr_is_loopback(&a0);
	(void)vx6_addr_is_unspecified(&a0);
	roundtrip(&a0, true);
	if (a0.transport == VX6_TRANSPORT_TCP)
		roundtrip(&a0, false);
	return 0;
}
