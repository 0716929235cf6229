/*
 * parity: see parity.h. Decoding follows the usual construction for a
 * systematic code: take the generator's rows of k surviving shards, invert
 * that k x k matrix, and each lost shard's row of the generator times the
 * inverse gives its coefficients over the survivors; one ec_encode_data call
 * then writes every lost shard.
 */
#include "parity.h"

#include <errno.h>
#include <isa-l/erasure_code.h>
#include <string.h>

int parity_init(struct parity *p, unsigned k, unsigned m, struct seed_err *err)
{
	memset(p, 0, sizeof(*p));
	if (k < 1 || k > PARITY_MAX_K)
		return seed_err_set(err, -EINVAL,
				    "parity: %u data blocks per stripe (k), not 1 to %u", k,
				    PARITY_MAX_K);
	if (m < 1 || m > PARITY_MAX_M)
		return seed_err_set(err, -EINVAL,
				    "parity: %u parity blocks per stripe (m), not 1 to %u", m,
				    PARITY_MAX_M);
	p->k = k;
	p->m = m;
	gf_gen_cauchy1_matrix(p->gen, (int)(k + m), (int)k);
	ec_init_tables((int)k, (int)m, p->gen + k * k, p->enc_tables);
	return 0;
}

void parity_encode(const struct parity *p, size_t len, uint8_t *const *data, uint8_t *const *out)
{
	ec_encode_data((int)len, (int)p->k, (int)p->m, (unsigned char *)p->enc_tables,
		       (unsigned char **)data, (unsigned char **)out);
}

int parity_rebuild(const struct parity *p, size_t len, uint8_t *const *shards, uint64_t lost)
{
	unsigned k = p->k, n = p->k + p->m;
	unsigned nlost = (unsigned)__builtin_popcountll(lost);
	if (!lost || nlost > p->m || (n < 64 && lost >> n))
		return -EINVAL;

	uint8_t sub[PARITY_MAX_K * PARITY_MAX_K], inv[PARITY_MAX_K * PARITY_MAX_K];
	uint8_t coef[PARITY_MAX_M * PARITY_MAX_K], tables[32 * PARITY_MAX_K * PARITY_MAX_M];
	unsigned char *src[PARITY_MAX_K], *dst[PARITY_MAX_M];
	unsigned ns = 0, nd = 0;

	for (unsigned i = 0; i < n && ns < k; i++) {
		if (lost >> i & 1)
			continue;
		memcpy(sub + ns * k, p->gen + i * k, k);
		src[ns++] = shards[i];
	}
	if (ns < k || gf_invert_matrix(sub, inv, (int)k) < 0)
		return -EINVAL; /* cannot happen with a Cauchy matrix and <= m lost */
	for (unsigned i = 0; i < n; i++) {
		if (!(lost >> i & 1))
			continue;
		uint8_t *row = coef + nd * k;
		if (i < k) {
			memcpy(row, inv + i * k, k);
		} else {
			/* the parity row of the generator, over the survivors */
			for (unsigned c = 0; c < k; c++) {
				uint8_t s = 0;
				for (unsigned j = 0; j < k; j++)
					s ^= gf_mul(p->gen[i * k + j], inv[j * k + c]);
				row[c] = s;
			}
		}
		dst[nd++] = shards[i];
	}
	ec_init_tables((int)k, (int)nd, coef, tables);
	ec_encode_data((int)len, (int)k, (int)nd, tables, src, dst);
	return 0;
}
