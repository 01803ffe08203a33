/*
 * fuzz_record — signed node, service and catalog records (src/core/record.h)
 * and the neighbour sync messages that carry them (src/core/sync.h).
 *
 * Feeds: the input to vx6_record_peek_type() and to all three record
 * decoders (at a fixed wall-clock time), and to vx6_sync_parse() as the body
 * of a sync RPC (after the protocol byte); every record a sync message
 * carries is decoded too.
 *
 * Invariants:
 *   - results are the documented codes only; at most one decoder gets past
 *     the type check, the one vx6_record_peek_type() names;
 *   - a record whose signature verified (decode 0 or TIMEOUT) is internally
 *     consistent (node id derived from the key, valid names, addresses,
 *     window) and re-encodes to exactly the input bytes (node, service);
 *   - a parsed sync message lies inside the input, respects its caps, and
 *     the builders re-create exactly the input.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/record.h"
#include "core/sync.h"
#include "crypto/identity.h"
#include "lib/err.h"
#include "lib/name.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_record: invariant failed at line %d: %s\n", __LINE__, #cond); \
	__builtin_trap(); } } while (0)

/* The wall clock of the decoders (unix seconds); the seeds are valid then. */
#define NOW 1800000000ULL
#define BUF (VX6_RECORD_MAX_LEN + 64)

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
known_rc(int rc)
{
	return rc == 0 || rc == VX6_ERR_MALFORMED || rc == VX6_ERR_TOO_LARGE ||
	    rc == VX6_ERR_BAD_SIGNATURE || rc == VX6_ERR_TIMEOUT;
}

static void
check_window(uint64_t issued, uint64_t expires, int rc)
{
	CHECK(expires > issued && expires - issued <= VX6_RECORD_MAX_LIFETIME_S);
	if (rc == 0)
		CHECK(issued <= NOW + VX6_RECORD_MAX_SKEW_S && expires > NOW);
}

static void
check_node(const struct vx6_node_record *r, const uint8_t *p, size_t len, int rc)
{
	uint8_t id[VX6_NODE_ID_LEN], out[BUF];
	int n;

	vx6_node_id_from_key(id, r->key);
	CHECK(memcmp(id, r->node_id, sizeof(id)) == 0);
	CHECK(vx6_name_valid(r->name));
	CHECK(r->n_addrs <= VX6_RECORD_MAX_ADDRS);
	for (unsigned i = 0; i < r->n_addrs; i++)
		CHECK((r->addrs[i].family == 4 || r->addrs[i].family == 6) && r->addrs[i].port != 0);
	check_window(r->issued_at, r->expires_at, rc);
	n = vx6_node_record_encode(r, out, sizeof(out));
	CHECK(n > 0 && (size_t)n == len && memcmp(out, p, len) == 0);
}

static void
check_service(const struct vx6_service_record *r, const uint8_t *p, size_t len, int rc)
{
	uint8_t out[BUF];
	int n;

	CHECK(vx6_name_valid(r->node_name) && vx6_name_valid(r->service));
	CHECK(r->visibility <= VX6_VISIBILITY_PRIVATE);
	check_window(r->issued_at, r->expires_at, rc);
	n = vx6_service_record_encode(r, out, sizeof(out));
	CHECK(n > 0 && (size_t)n == len && memcmp(out, p, len) == 0);
}

/* Decodes p with every decoder; returns the record type it holds or < 0. */
static int
decode_all(const uint8_t *p, size_t len)
{
	struct vx6_node_record nr;
	struct vx6_service_record sr;
	struct vx6_catalog_record cr;
	int type = vx6_record_peek_type(p, len);
	int rn, rs, rcat;

	CHECK(type == VX6_RECORD_NODE || type == VX6_RECORD_SERVICE || type == VX6_RECORD_CATALOG ||
	    type == VX6_ERR_MALFORMED || type == VX6_ERR_TOO_LARGE);
	rn = vx6_node_record_decode(&nr, p, len, NOW);
	rs = vx6_service_record_decode(&sr, p, len, NOW);
	rcat = vx6_catalog_record_decode(&cr, p, len, NOW);
	CHECK(known_rc(rn) && known_rc(rs) && known_rc(rcat));
	if (type < 0) {
		CHECK(rn == type && rs == type && rcat == type);
		return type;
	}
	/* Only the decoder of the announced type reads further. */
	CHECK(type == VX6_RECORD_NODE || rn == VX6_ERR_MALFORMED);
	CHECK(type == VX6_RECORD_SERVICE || rs == VX6_ERR_MALFORMED);
	CHECK(type == VX6_RECORD_CATALOG || rcat == VX6_ERR_MALFORMED);
	if (rn == 0 || rn == VX6_ERR_TIMEOUT)
		check_node(&nr, p, len, rn);
	if (rs == 0 || rs == VX6_ERR_TIMEOUT)
		check_service(&sr, p, len, rs);
	if (rcat == 0 || rcat == VX6_ERR_TIMEOUT) {
		CHECK(cr.ct_len > 0 && cr.ct_len <= VX6_CATALOG_MAX_CT);
		check_window(cr.issued_at, cr.expires_at, rcat);
	}
	return type;
}

static void
check_sync(const uint8_t *data, size_t size)
{
	struct vx6_sync_msg m;
	uint8_t out[2 + 1 + VX6_SYNC_MAX_PEERS * (2 + VX6_RECORD_MAX_LEN)];
	int rc, n = -1;

	memset(&m, 0, sizeof(m));
	rc = vx6_sync_parse(data, size, &m);
	CHECK(rc == 0 || rc == VX6_ERR_MALFORMED);
	if (rc != 0)
		return;
	CHECK(m.n <= VX6_SYNC_MAX_PEERS);
	for (unsigned i = 0; i < m.n; i++) {
		CHECK(m.lens[i] >= 1 && m.lens[i] <= VX6_RECORD_MAX_LEN);
		CHECK(m.recs[i] >= data && m.recs[i] + m.lens[i] <= data + size);
		(void)decode_all(m.recs[i], m.lens[i]);
	}
	switch (m.kind) {
	case VX6_SYNC_RECORD:
		CHECK(m.n == 1);
		n = vx6_sync_build_record(m.recs[0], m.lens[0], out, sizeof(out));
		break;
	case VX6_SYNC_PEERS_REQ:
		CHECK(m.n == 0 && m.max >= 1 && m.max <= VX6_SYNC_MAX_PEERS);
		n = vx6_sync_build_peers_req(m.max, out, sizeof(out));
		break;
	case VX6_SYNC_PEERS:
		n = vx6_sync_build_peers(m.recs, m.lens, m.n, out, sizeof(out));
		break;
	default:
		CHECK(!"unknown sync kind accepted");
	}
	CHECK(n >= 1 && out[0] == VX6_RPC_PROTO_SYNC);
	CHECK((size_t)n - 1 == size && memcmp(out + 1, data, size) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)decode_all(data, size);
	check_sync(data, size);
	return 0;
}
