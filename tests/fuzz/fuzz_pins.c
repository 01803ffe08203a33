/*
 * fuzz_pins — the known_peers parser (src/store/pins.h).
 *
 * Feeds: a NUL-terminated copy of the input (text ends at the first NUL) to
 * vx6_pins_parse() with a callback that checks every entry it is given.
 *
 * Invariants:
 *   - every line that is neither empty nor a '#' comment is either reported
 *     through the callback or counted as invalid, exactly once (valid +
 *     invalid = content lines, by an independent scan);
 *   - a reported address is in canonical form: it parses (port != 0) and
 *     formats back to the same text; a reported key survives
 *     vx6_key_to_text() / vx6_key_from_text().
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/identity.h"
#include "lib/addr.h"
#include "store/pins.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_pins: invariant failed at line %d: %s\n", __LINE__, #cond); \
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
on_pin(void *ud, const char *addr, const uint8_t key[VX6_KEY_LEN])
{
	size_t *valid = ud;
	struct vx6_addr a;
	char again[VX6_ADDR_STRLEN], text[VX6_KEY_TEXT_LEN];
	uint8_t k[VX6_KEY_LEN];

	CHECK(addr != NULL && strlen(addr) < VX6_ADDR_STRLEN);
	CHECK(vx6_addr_parse(&a, addr, false) == 0);
	CHECK(a.port != 0);
	vx6_addr_format(&a, again, sizeof(again), false);
	CHECK(strcmp(again, addr) == 0);
	vx6_key_to_text(key, text);
	CHECK(vx6_key_from_text(k, text) == 0);
	CHECK(memcmp(k, key, VX6_KEY_LEN) == 0);
	(*valid)++;
}

static size_t
content_lines(const char *t)
{
	size_t count = 0;
	const char *line = t;

	while (*line) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		if (n > 0 && line[0] != '#')
			count++;
		if (eol == NULL)
			break;
		line = eol + 1;
	}
	return count;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	size_t valid = 0;
	int invalid;

	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	invalid = vx6_pins_parse(text, on_pin, &valid);
	CHECK(invalid >= 0);
	CHECK(valid + (size_t)invalid == content_lines(text));
	free(text);
	return 0;
}
