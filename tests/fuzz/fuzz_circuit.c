/*
 * fuzz_circuit — relay circuit cells (src/core/circuit.h).
 *
 * Feeds:
 *   (a) the input to vx6_cell_parse() (its first VX6_CELL_SIZE bytes,
 *       zero-padded to a whole cell) and to vx6_extend_decode() (all of it);
 *   (b) the input as a sequence of operations on a client and a 3-hop circuit
 *       whose keys come from real hop handshakes at start-up (fixed
 *       identities, seeded RNGs, so every run is the same). Each operation is
 *       an opcode byte (modulo 10) and its arguments:
 *         0 SEAL  t|cmd, stream, len, payload   client seals a cell for hop t
 *         1 SEND  t|cmd, stream, len, payload   hop t originates a backward cell
 *         2 FWD   i        forward cell i in flight moves one link on (the
 *                          next hop opens it; any i, so cells get reordered)
 *         3 BWD   i        backward cell i moves one link on (the next hop
 *                          wraps it, or the client opens it)
 *         4 XOR   dir|i, off(2), n, n bytes     XORed onto a cell in flight
 *         5 SWAP  dir|i    cells i and i+1 change places
 *         6 DROP  dir|i    cell i is lost
 *         7 DUP   dir|i    cell i is duplicated (a replay)
 *         8 RAW   who, len(2), len bytes        fed as a whole cell to hop
 *                          who's open (who 0..2) or to client_open (who 3)
 *         9 FLUSH          every cell in flight travels to its end, in order
 *       (len 255 in SEAL/SEND means the maximum payload). Missing input
 *       bytes read as zero; at the end everything in flight is flushed.
 *
 * Invariants:
 *   (a) vx6_cell_parse accepts exactly a known command, zero flags and a
 *       length inside the payload area, and then rebuilds to the same header
 *       and payload; vx6_extend_decode accepts exactly 100 bytes with family
 *       4 or 6, a known transport, a non-zero port and (IPv4) zeros after the
 *       first 4 address bytes, and then re-encodes to the input;
 *   (b) a model tracks, for each cell in flight, the XOR of every change made
 *       to its bytes and the counters its layers were added with. A cell is
 *       accepted by its target (hop_open true / client_open returns the
 *       sender) exactly when its bytes were never changed and every layer
 *       was removed with the counter that added it; it then carries exactly
 *       the plaintext it was sealed with. No hop other than the target ever
 *       recognizes a cell, raw input bytes are never accepted anywhere, and
 *       every call moves the counters exactly as the model says (one step
 *       per cell per hop passed).
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/circuit.h"
#include "crypto/identity.h"
#include "crypto/noise.h"
#include "lib/env.h"
#include "lib/err.h"
#include "lib/log.h"

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "fuzz_circuit: invariant failed at line %d: %s\n", __LINE__, #cond); \
	__builtin_trap(); } } while (0)

#define NHOPS 3
#define MAX_FLIGHT 8

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct vx6_log quiet = { VX6_LOG_ERROR, NULL, NULL };

/* Keys after the handshakes, copied into the working state for every input. */
static struct vx6_hop_crypto base_client[NHOPS], base_hop[NHOPS];

/* One cell in flight. */
struct flight {
	uint8_t cell[VX6_CELL_SIZE];
	uint8_t diff[VX6_CELL_SIZE];    /* XOR of every change made in flight */
	uint8_t plain[VX6_CELL_SIZE];   /* the plaintext it was sealed with */
	unsigned target;                /* forward: the hop it is for; backward: its sender */
	int pos;                        /* forward: next hop to open it; backward: next hop
	                                 * to wrap it, -1 = on the link to the client */
	uint64_t ctr[NHOPS];            /* the counter each layer was added with */
	bool garbled;                   /* forward: a layer came off with another counter */
};

struct dir {
	struct flight f[MAX_FLIGHT];
	unsigned n;
};

static struct {
	struct vx6_hop_crypto client[NHOPS], hop[NHOPS];
	uint64_t cf[NHOPS], cb[NHOPS], hf[NHOPS], hb[NHOPS];   /* model counters */
	struct dir fwd, bwd;
	const uint8_t *p;
	size_t left;
} st;

static uint8_t
in_u8(void)
{
	if (st.left == 0)
		return 0;
	st.left--;
	return *st.p++;
}

static uint16_t
in_u16(void)
{
	uint16_t hi = in_u8();

	return (uint16_t)((hi << 8) | in_u8());
}

/* Copies n input bytes to out (zeros once the input ends). */
static void
in_bytes(uint8_t *out, size_t n)
{
	size_t k = n < st.left ? n : st.left;

	memcpy(out, st.p, k);
	memset(out + k, 0, n - k);
	st.p += k;
	st.left -= k;
}

/* Runs the real hop handshake; the client and the hop must derive the same keys. */
static void
handshake(unsigned i, const struct vx6_env *cenv)
{
	struct vx6_identity id;
	struct vx6_noise_hs hs;
	struct vx6_det_rng hrng;
	struct vx6_env henv = { vx6_det_rng_fill, &hrng, &quiet };
	uint8_t seed[VX6_SEED_LEN], m1[VX6_HOP_MSG_LEN], m2[VX6_HOP_MSG_LEN];

	memset(seed, 0x81 + (int)i, sizeof(seed));
	vx6_det_rng_init(&hrng, 100 + i);
	CHECK(vx6_identity_from_seed(&id, seed) == 0);
	CHECK(vx6_hop_client_start(&hs, cenv, id.pk, m1) == 0);
	CHECK(vx6_hop_respond(&id, &henv, m1, m2, &base_hop[i]) == 0);
	CHECK(vx6_hop_client_finish(&hs, m2, &base_client[i]) == 0);
	CHECK(memcmp(&base_hop[i], &base_client[i], sizeof(base_hop[i])) == 0);
	vx6_identity_wipe(&id);
	vx6_noise_hs_wipe(&hs);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct vx6_det_rng crng;
	struct vx6_env cenv = { vx6_det_rng_fill, &crng, &quiet };

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	vx6_det_rng_init(&crng, 7);
	for (unsigned i = 0; i < NHOPS; i++)
		handshake(i, &cenv);
	return 0;
}

/* --- (a) parsers ------------------------------------------------------------ */

static void
check_parsers(const uint8_t *data, size_t size)
{
	static uint8_t cell[VX6_CELL_SIZE], out[VX6_CELL_SIZE];
	struct vx6_cell pc;
	struct vx6_extend e;
	uint8_t enc[VX6_EXTEND_LEN];
	size_t k = size < VX6_CELL_SIZE ? size : VX6_CELL_SIZE;
	uint16_t len;
	bool ok;
	int rc;

	memset(cell, 0, sizeof(cell));
	memcpy(cell, data, k);
	len = (uint16_t)((cell[20] << 8) | cell[21]);
	ok = cell[16] >= VX6_CELL_DATA && cell[16] <= VX6_CELL_TRUNCATED && cell[17] == 0 &&
	    len <= VX6_CELL_MAX_PAYLOAD;
	rc = vx6_cell_parse(cell, &pc);
	CHECK(rc == 0 || rc == VX6_ERR_MALFORMED);
	CHECK((rc == 0) == ok);
	if (rc == 0) {
		CHECK(pc.cmd == cell[16] && pc.length == len && pc.payload == cell + VX6_CELL_HEADER);
		CHECK(pc.stream_id == (uint16_t)((cell[18] << 8) | cell[19]));
		CHECK(vx6_cell_build(out, pc.cmd, pc.stream_id, pc.payload, pc.length) == 0);
		CHECK(memcmp(out + 16, cell + 16, VX6_CELL_HEADER - 16 + (size_t)pc.length) == 0);
	}

	rc = vx6_extend_decode(&e, data, size);
	CHECK(rc == 0 || rc == VX6_ERR_MALFORMED);
	ok = size == VX6_EXTEND_LEN && (data[0] == 4 || data[0] == 6) && data[1] <= VX6_TRANSPORT_QUIC &&
	    (data[18] | data[19]) != 0;
	for (size_t i = 6; ok && data[0] == 4 && i < 18; i++)
		ok = data[i] == 0;
	CHECK((rc == 0) == ok);
	if (rc == 0) {
		CHECK(vx6_extend_encode(&e, enc) == 0);
		CHECK(memcmp(enc, data, VX6_EXTEND_LEN) == 0);
	}
}

/* --- (b) the circuit -------------------------------------------------------- */

static bool
all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* The real counters must be what the model says. */
static void
check_counters(void)
{
	for (unsigned i = 0; i < NHOPS; i++) {
		CHECK(st.client[i].fwd_ctr == st.cf[i] && st.client[i].bwd_ctr == st.cb[i]);
		CHECK(st.hop[i].fwd_ctr == st.hf[i] && st.hop[i].bwd_ctr == st.hb[i]);
	}
}

/* A cell the target accepted carries exactly its plaintext. */
static void
check_plain(const struct flight *f)
{
	struct vx6_cell pc;

	CHECK(all_zero(f->cell, 4));
	CHECK(memcmp(f->cell + 16, f->plain + 16, VX6_CELL_SIZE - 16) == 0);
	CHECK(vx6_cell_parse(f->cell, &pc) == 0);
}

static void
remove_at(struct dir *d, unsigned i)
{
	memmove(&d->f[i], &d->f[i + 1], (d->n - i - 1) * sizeof(d->f[0]));
	d->n--;
}

/* Reads t|cmd, stream, len and the payload; builds the plaintext into f. */
static unsigned
read_cell(struct flight *f)
{
	uint8_t a = in_u8(), sid_hi = in_u8(), sid_lo = in_u8();
	size_t len = in_u8();
	static uint8_t payload[VX6_CELL_MAX_PAYLOAD];

	if (len == 255)
		len = VX6_CELL_MAX_PAYLOAD;
	in_bytes(payload, len);
	CHECK(vx6_cell_build(f->plain, (uint8_t)(1 + (a / NHOPS) % 9), (uint16_t)((sid_hi << 8) | sid_lo),
	    payload, len) == 0);
	memcpy(f->cell, f->plain, VX6_CELL_SIZE);
	memset(f->diff, 0, VX6_CELL_SIZE);
	f->garbled = false;
	memset(f->ctr, 0, sizeof(f->ctr));
	return a % NHOPS;
}

static void
op_seal(void)
{
	struct flight *f = &st.fwd.f[st.fwd.n < MAX_FLIGHT ? st.fwd.n : 0];
	struct flight tmp;
	unsigned t;

	if (st.fwd.n == MAX_FLIGHT)
		f = &tmp;   /* full: the cell is built and sealed, then lost */
	t = read_cell(f);
	f->target = t;
	f->pos = 0;
	for (unsigned i = 0; i <= t; i++)
		f->ctr[i] = st.cf[i]++;
	vx6_cell_client_seal(st.client, t, f->cell);
	if (f != &tmp)
		st.fwd.n++;
}

static void
op_send(void)
{
	struct flight *f = &st.bwd.f[st.bwd.n < MAX_FLIGHT ? st.bwd.n : 0];
	struct flight tmp;
	unsigned t;

	if (st.bwd.n == MAX_FLIGHT)
		f = &tmp;
	t = read_cell(f);
	f->target = t;
	f->pos = (int)t - 1;
	f->ctr[t] = st.hb[t]++;
	vx6_cell_hop_seal(&st.hop[t], f->cell);
	CHECK(!all_zero(f->cell, 4) || !all_zero(f->cell + 4, 12));   /* layered, not in clear */
	if (f != &tmp)
		st.bwd.n++;
}

/* Forward cell i moves one link: the next hop opens it. */
static void
step_fwd(unsigned i)
{
	struct flight *f = &st.fwd.f[i];
	unsigned h = (unsigned)f->pos;
	bool intact, acc;

	if (h > f->target || f->ctr[h] != st.hf[h])
		f->garbled = true;
	intact = !f->garbled && all_zero(f->diff, VX6_CELL_SIZE);
	acc = vx6_cell_hop_open(&st.hop[h], f->cell);
	st.hf[h]++;
	if (intact && h == f->target) {
		CHECK(acc);
		check_plain(f);
		remove_at(&st.fwd, i);
		return;
	}
	CHECK(!acc);
	if (h + 1 == NHOPS)
		remove_at(&st.fwd, i);   /* the last hop drops what it does not recognize */
	else
		f->pos++;
}

/* Backward cell i moves one link: the next hop wraps it, or the client opens it. */
static void
step_bwd(unsigned i)
{
	struct flight *f = &st.bwd.f[i];
	bool intact;
	int got;

	if (f->pos >= 0) {
		unsigned h = (unsigned)f->pos;

		f->ctr[h] = st.hb[h]++;
		vx6_cell_hop_wrap(&st.hop[h], f->cell);
		f->pos--;
		return;
	}
	intact = all_zero(f->diff, VX6_CELL_SIZE);
	for (unsigned h = 0; h <= f->target; h++)
		intact = intact && f->ctr[h] == st.cb[h];
	got = vx6_cell_client_open(st.client, NHOPS, f->cell);
	if (intact) {
		CHECK(got == (int)f->target);
		check_plain(f);
		for (unsigned h = 0; h <= f->target; h++)
			st.cb[h]++;
	} else {
		CHECK(got == -1);
		for (unsigned h = 0; h < NHOPS; h++)
			st.cb[h]++;
	}
	remove_at(&st.bwd, i);
}

static void
flush(void)
{
	while (st.fwd.n > 0)
		step_fwd(0);
	while (st.bwd.n > 0)
		step_bwd(0);
}

static void
op_xor(void)
{
	uint8_t sel = in_u8();
	struct dir *d = sel & 1 ? &st.bwd : &st.fwd;
	unsigned off = in_u16() % VX6_CELL_SIZE, n = in_u8() % 33;
	uint8_t x[32];
	struct flight *f;

	in_bytes(x, n);
	if (d->n == 0)
		return;
	f = &d->f[(sel >> 1) % d->n];
	for (unsigned k = 0; k < n; k++) {
		f->cell[(off + k) % VX6_CELL_SIZE] ^= x[k];
		f->diff[(off + k) % VX6_CELL_SIZE] ^= x[k];
	}
}

static void
op_manip(int kind)
{
	uint8_t sel = in_u8();
	struct dir *d = sel & 1 ? &st.bwd : &st.fwd;
	unsigned i;

	if (d->n == 0)
		return;
	i = (sel >> 1) % d->n;
	if (kind == 5 && i + 1 < d->n) {
		static struct flight tmp;

		tmp = d->f[i];
		d->f[i] = d->f[i + 1];
		d->f[i + 1] = tmp;
	} else if (kind == 6) {
		remove_at(d, i);
	} else if (kind == 7 && d->n < MAX_FLIGHT) {
		d->f[d->n++] = d->f[i];
	}
}

static void
op_raw(void)
{
	static uint8_t cell[VX6_CELL_SIZE];
	unsigned who = in_u8() % (NHOPS + 1);
	size_t len = in_u16() % (VX6_CELL_SIZE + 1);

	in_bytes(cell, len);
	memset(cell + len, 0, VX6_CELL_SIZE - len);
	if (who < NHOPS) {
		CHECK(!vx6_cell_hop_open(&st.hop[who], cell));
		st.hf[who]++;
	} else {
		CHECK(vx6_cell_client_open(st.client, NHOPS, cell) == -1);
		for (unsigned h = 0; h < NHOPS; h++)
			st.cb[h]++;
	}
}

static void
run_circuit(const uint8_t *data, size_t size)
{
	memcpy(st.client, base_client, sizeof(st.client));
	memcpy(st.hop, base_hop, sizeof(st.hop));
	memset(st.cf, 0, sizeof(st.cf));
	memset(st.cb, 0, sizeof(st.cb));
	memset(st.hf, 0, sizeof(st.hf));
	memset(st.hb, 0, sizeof(st.hb));
	st.fwd.n = st.bwd.n = 0;
	st.p = data;
	st.left = size;
	while (st.left > 0) {
		uint8_t op = in_u8() % 10, a;

		switch (op) {
		case 0: op_seal(); break;
		case 1: op_send(); break;
		case 2:
			a = in_u8();
			if (st.fwd.n)
				step_fwd(a % st.fwd.n);
			break;
		case 3:
			a = in_u8();
			if (st.bwd.n)
				step_bwd(a % st.bwd.n);
			break;
		case 4: op_xor(); break;
		case 5: case 6: case 7: op_manip(op); break;
		case 8: op_raw(); break;
		default: flush(); break;
		}
		check_counters();
	}
	flush();
	check_counters();
	for (unsigned i = 0; i < NHOPS; i++) {
		vx6_hop_crypto_wipe(&st.client[i]);
		vx6_hop_crypto_wipe(&st.hop[i]);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parsers(data, size);
	run_circuit(data, size);
	return 0;
}
