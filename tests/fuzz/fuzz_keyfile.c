/*
 * fuzz_keyfile — the identity file parser (src/store/keyfile.h).
 *
 * Feeds: the input as the text of identity.key (length-bounded, not
 * NUL-terminated) to vx6_keyfile_parse().
 *
 * Invariants:
 *   - the result is 0 or VX6_ERR_MALFORMED;
 *   - success only when the text has exactly one line that is neither empty
 *     nor a '#' comment (an independent scan);
 *   - on success the identity is self-consistent (the node id is derived
 *     from the key) and writing its seed back as
 *     "VX6-IDENTITY-V1 <base64url>\n" parses to the same identity.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/identity.h"
#include "lib/err.h"
#include "store/keyfile.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_keyfile: invariant failed at line %d: %s\n", __LINE__, #cond); \
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

/* Lines that are neither empty nor comments. */
static size_t
content_lines(const uint8_t *p, size_t n)
{
	size_t count = 0, start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || p[i] == '\n') {
			if (i > start && p[start] != '#')
				count++;
			start = i + 1;
		}
	}
	return count;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vx6_identity id, again;
	uint8_t seed[VX6_SEED_LEN], nid[VX6_NODE_ID_LEN];
	char b64[sodium_base64_ENCODED_LEN(VX6_SEED_LEN, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	char text[128];
	int rc, n;

	rc = vx6_keyfile_parse((const char *)data, size, &id);
	CHECK(rc == 0 || rc == VX6_ERR_MALFORMED);
	if (rc != 0)
		return 0;
	CHECK(content_lines(data, size) == 1);
	vx6_node_id_from_key(nid, id.pk);
	CHECK(memcmp(nid, id.node_id, sizeof(nid)) == 0);

	vx6_identity_seed(&id, seed);
	sodium_bin2base64(b64, sizeof(b64), seed, sizeof(seed), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	n = snprintf(text, sizeof(text), "VX6-IDENTITY-V1 %s\n", b64);
	CHECK(n > 0 && (size_t)n < sizeof(text));
	CHECK(vx6_keyfile_parse(text, (size_t)n, &again) == 0);
	CHECK(memcmp(&again, &id, sizeof(id)) == 0);
	vx6_identity_wipe(&id);
	vx6_identity_wipe(&again);
	sodium_memzero(seed, sizeof(seed));
	return 0;
}
