#include "lib/env.h"

#include <sodium.h>
#include <string.h>

void
vx6_env_sodium_random(void *ud, void *buf, size_t n)
{
	(void)ud;
	randombytes_buf(buf, n);
}

void
vx6_det_rng_init(struct vx6_det_rng *r, uint64_t seed)
{
	uint8_t s[8];

	for (int i = 0; i < 8; i++)
		s[i] = (uint8_t)(seed >> (8 * i));
	crypto_generichash(r->key, sizeof(r->key), s, sizeof(s),
	    (const uint8_t *)"vx6 det rng", 11);
	r->counter = 0;
}

void
vx6_det_rng_fill(void *ud, void *buf, size_t n)
{
	struct vx6_det_rng *r = ud;
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];

	/* One fresh nonce per call, so no keystream is ever reused. */
	for (int i = 0; i < 8; i++)
		nonce[i] = (uint8_t)(r->counter >> (8 * i));
	r->counter++;
	crypto_stream_chacha20(buf, n, nonce, r->key);
}

uint64_t
vx6_det_rng_u64(struct vx6_det_rng *r)
{
	uint8_t b[8];
	uint64_t v = 0;

	vx6_det_rng_fill(r, b, sizeof(b));
	for (int i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}
