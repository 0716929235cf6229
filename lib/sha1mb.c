/*
 * sha1mb: SHA-1 over many messages of any length, on AVX2 lanes or the SHA
 * extensions. See sha1mb.h for the API and why each engine exists.
 *
 * Written from FIPS 180-4 section 6.1 (and, for the SHA extensions, the
 * instructions' definitions in Intel's SDM).
 *
 * AVX2 engine: each 256-bit register holds one 32-bit SHA-1 variable of
 * eight independent messages ("lanes"), so one pass of the 80 rounds
 * advances eight messages by a 64-byte block each. Per block, the eight
 * lanes' 16 message words are loaded (two 32-byte rows per lane),
 * byte-swapped to big-endian and transposed so that register t holds word t
 * of every lane.
 *
 * SHA-extension engine: up to four messages, each in its own registers, with
 * their instructions interleaved so that one message's rounds fill the
 * latency of another's.
 *
 * One scheduler drives both: a lane (message slot) walks its message's whole
 * 64-byte blocks in place (no copy), then its last one or two blocks, padded
 * in a per-lane buffer, then takes the next message of the batch. Fed in
 * parts (sha1mb_feed), a message is a run of whole blocks from a caller's
 * context and back to it ("segment"); the padding is one more segment. The busy
 * lanes run together for as many blocks as the one nearest the end of a
 * segment has left, so segment ends are the only scalar work. An AVX2 lane
 * with no message left reads a zero block and its result is never read.
 *
 * Invariants: a busy lane's p points into its own message (BODY) or its tail
 * buffer (TAIL) with at least `left` blocks readable there; every block read
 * from a caller's message lies inside [data, data + len). Nothing is written
 * to any out before all arguments were checked, so failures write nothing.
 * The two engines never run in one call: the SHA instructions have only
 * legacy-SSE encodings, and a trial kernel interleaving them with the 256-bit
 * AVX2 rounds ran 40 times slower here (most likely SSE/AVX transition
 * stalls), so a mixed engine is no shortcut. No state outside a call except
 * the cached CPU feature bits and the callers' sha1mb_ctx.
 *
 * Why feeding in parts takes whole blocks in place rather than buffering:
 * a part that ends mid-block leaves its last len % 64 bytes in the
 * context, and the next part's first bytes complete that block there; one
 * pass of the scheduler hashes all such completed blocks (one block each),
 * a second the parts' whole blocks where they lie, so only the bytes that
 * straddle a boundary are ever copied, and slices of 64-byte multiples
 * (ingest's) copy nothing.
 */
#include "sha1mb.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define SHA1MB_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define SHA1MB_X86 0
#endif

#define BLK 64u

/* Initial hash value, FIPS 180-4 5.3.1. */
static const uint32_t sha1_h0[5] = {
	0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u,
};

/* Longest message: its length in bits must fit 64 bits (FIPS 180-4 5.1.1). */
#define SHA1_MAX_LEN ((UINT64_C(1) << 61) - 1)

/*
 * Pads a message of len bytes whose last len % 64 bytes are already at
 * t[0..): the 0x80 marker, zeros and the 64-bit big-endian bit length (FIPS
 * 180-4 5.1.1). Returns the blocks of t to hash: one when the rest leaves
 * room for the marker and the length (len % 64 < 56), else two.
 */
static size_t pad_tail(uint8_t t[2 * BLK], uint64_t len)
{
	size_t r = (size_t)(len % BLK), nb = r < BLK - 8 ? 1 : 2;
	uint64_t bits = len << 3;

	memset(t + r, 0, 2 * BLK - r);
	t[r] = 0x80;
	for (size_t k = 0; k < 8; k++)
		t[nb * BLK - 1 - k] = (uint8_t)(bits >> (8 * k));
	return nb;
}

static void put_digest(const uint32_t h[5], uint8_t *out)
{
	for (int k = 0; k < 5; k++) {
		out[4 * k] = (uint8_t)(h[k] >> 24);
		out[4 * k + 1] = (uint8_t)(h[k] >> 16);
		out[4 * k + 2] = (uint8_t)(h[k] >> 8);
		out[4 * k + 3] = (uint8_t)h[k];
	}
}

/* nblk whole blocks at p of a message fed in parts, from the state at h and
 * back into it (sha1mb_feed); nblk > 0. */
struct seg {
	uint32_t *h;
	const uint8_t *p;
	size_t nblk;
};

/* Feature bits, computed once: bit 0 = valid, 1 = AVX2, 2 = SHA. Relaxed is
 * enough: every thread computes the same value. */
#define CPU_VALID 1
#define CPU_AVX2  2
#define CPU_SHA	  4
static atomic_int cpu_bits;

static int cpu_features(void)
{
	int bits = atomic_load_explicit(&cpu_bits, memory_order_relaxed);

	if (bits)
		return bits;
	bits = CPU_VALID;
#if SHA1MB_X86
	{
		unsigned a, b, c, d;

		__builtin_cpu_init();
		/* __builtin_cpu_supports() also checks that the OS saves the
		 * YMM registers (XGETBV), which CPUID leaf 7 alone does not. */
		if (__builtin_cpu_supports("avx2"))
			bits |= CPU_AVX2;
		/* SHA extensions: CPUID.(EAX=7,ECX=0):EBX bit 29. Their code
		 * also uses SSSE3, which every CPU with SHA has. */
		if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1) &&
		    __builtin_cpu_supports("ssse3"))
			bits |= CPU_SHA;
	}
#endif
	atomic_store_explicit(&cpu_bits, bits, memory_order_relaxed);
	return bits;
}

/* The engine SHA1MB_AUTO stands for here, or -1. */
static int auto_engine(void)
{
	int bits = cpu_features();

	if (bits & CPU_SHA)
		return SHA1MB_SHANI;
	if (bits & CPU_AVX2)
		return SHA1MB_AVX2X8;
	return -1;
}

int sha1mb_has_engine(enum sha1mb_engine e)
{
	switch (e) {
	case SHA1MB_AUTO: return auto_engine() >= 0;
	case SHA1MB_AVX2X8: return !!(cpu_features() & CPU_AVX2);
	case SHA1MB_SHANI: return !!(cpu_features() & CPU_SHA);
	}
	return 0;
}

int sha1mb_available(void)
{
	return sha1mb_has_engine(SHA1MB_AUTO);
}

const char *sha1mb_path(void)
{
	switch (auto_engine()) {
	case SHA1MB_SHANI: return "shani-x4";
	case SHA1MB_AVX2X8: return "avx2x8";
	default: return "none";
	}
}

size_t sha1mb_min_batch(void)
{
	return auto_engine() == SHA1MB_SHANI ? 1 : SHA1MB_LANES / 2;
}

#if SHA1MB_X86

#define AVX2 __attribute__((target("avx2")))

#define V_ADD	     _mm256_add_epi32
#define V_XOR	     _mm256_xor_si256
#define V_AND	     _mm256_and_si256
#define V_OR	     _mm256_or_si256
#define V_ROTL(x, n) V_OR(_mm256_slli_epi32((x), (n)), _mm256_srli_epi32((x), 32 - (n)))

/* FIPS 180-4 4.1.1: Ch, Parity, Maj, written with the fewest operations
 * AVX2 has (no ternary logic before AVX-512). */
#define F_CH(b, c, d)  V_XOR((d), V_AND((b), V_XOR((c), (d))))
#define F_PAR(b, c, d) V_XOR(V_XOR((b), (c)), (d))
#define F_MAJ(b, c, d) V_OR(V_AND((b), (c)), V_AND((d), V_OR((b), (c))))

/* W[t] for t >= 16 (FIPS 180-4 6.1.2 step 1) in a 16-word ring. */
#define W_NEXT(t)                                                          \
	(w[(t)&15] = V_ROTL(V_XOR(V_XOR(w[((t)-3) & 15], w[((t)-8) & 15]), \
				  V_XOR(w[((t)-14) & 15], w[(t)&15])),     \
			    1))
#define W_AT(t) ((t) < 16 ? w[(t)&15] : W_NEXT(t))

/*
 * Ends a sum in a register. Each round's new a is rotl5(a) plus terms that
 * do not depend on a; gcc otherwise reassociates the additions so that three
 * of them follow the rotation, making the a -> a chain 5 cycles a round
 * instead of 3, which cost about 6% here (3.0 vs 3.2 GB/s, best of 8).
 */
#define SUM_DONE(x) __asm__("" : "+x"(x))

/* One round (6.1.2 step 3), renaming instead of moving: the new a is
 * written over e and the new c over b, so the next round is
 * ROUND(e, a, b, c, d). */
#define ROUND(a, b, c, d, e, f, k, t)                                 \
	do {                                                          \
		e = V_ADD(V_ADD(e, V_ADD(W_AT(t), (k))), f(b, c, d)); \
		SUM_DONE(e);                                          \
		e = V_ADD(e, V_ROTL(a, 5));                           \
		b = V_ROTL(b, 30);                                    \
	} while (0)

/* Five rounds bring the names back to where they started. */
#define ROUND5(t, f, k)                              \
	do {                                         \
		ROUND(a, b, c, d, e, f, k, (t));     \
		ROUND(e, a, b, c, d, f, k, (t) + 1); \
		ROUND(d, e, a, b, c, f, k, (t) + 2); \
		ROUND(c, d, e, a, b, f, k, (t) + 3); \
		ROUND(b, c, d, e, a, f, k, (t) + 4); \
	} while (0)

/*
 * Loads 32 bytes at offset `off` of each lane's block, swaps every word to
 * big-endian and transposes the 8 x 8 words: w[j] receives word j of the
 * eight rows, one lane per 32-bit element. Written out in full because
 * gcc -O2 leaves loops over __m256i arrays rolled, through the stack.
 */
AVX2 static inline void load8(__m256i w[8], const uint8_t *const p[8], size_t off, __m256i bswap)
{
#define ROW(i) _mm256_shuffle_epi8(_mm256_loadu_si256((const void *)(p[i] + off)), bswap)
	const __m256i r0 = ROW(0), r1 = ROW(1), r2 = ROW(2), r3 = ROW(3);
	const __m256i r4 = ROW(4), r5 = ROW(5), r6 = ROW(6), r7 = ROW(7);
#undef ROW
	/* t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5], etc. */
	const __m256i t0 = _mm256_unpacklo_epi32(r0, r1);
	const __m256i t1 = _mm256_unpackhi_epi32(r0, r1);
	const __m256i t2 = _mm256_unpacklo_epi32(r2, r3);
	const __m256i t3 = _mm256_unpackhi_epi32(r2, r3);
	const __m256i t4 = _mm256_unpacklo_epi32(r4, r5);
	const __m256i t5 = _mm256_unpackhi_epi32(r4, r5);
	const __m256i t6 = _mm256_unpacklo_epi32(r6, r7);
	const __m256i t7 = _mm256_unpackhi_epi32(r6, r7);
	/* u0 = word 0 of rows 0-3 | word 4 of rows 0-3; u4 = rows 4-7. */
	const __m256i u0 = _mm256_unpacklo_epi64(t0, t2);
	const __m256i u1 = _mm256_unpackhi_epi64(t0, t2);
	const __m256i u2 = _mm256_unpacklo_epi64(t1, t3);
	const __m256i u3 = _mm256_unpackhi_epi64(t1, t3);
	const __m256i u4 = _mm256_unpacklo_epi64(t4, t6);
	const __m256i u5 = _mm256_unpackhi_epi64(t4, t6);
	const __m256i u6 = _mm256_unpacklo_epi64(t5, t7);
	const __m256i u7 = _mm256_unpackhi_epi64(t5, t7);

	w[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
	w[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
	w[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
	w[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
	w[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
	w[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
	w[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
	w[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/*
 * nblk blocks of every lane: lane i reads p[i], p[i] + step[i], ... (step is
 * 64, or 0 for an idle lane re-reading one dummy block). st[j][i] is
 * variable j of lane i, updated in place.
 */
AVX2 static void x8_blocks(uint32_t st[5][SHA1MB_LANES], const uint8_t *p[SHA1MB_LANES],
			   const size_t step[SHA1MB_LANES], size_t nblk)
{
	/* Swaps the bytes of every 32-bit word: SHA-1 words are big-endian. */
	const __m256i bswap =
		_mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0,
				 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
	/* FIPS 180-4 4.2.1. */
	const __m256i k0 = _mm256_set1_epi32(0x5a827999);
	const __m256i k1 = _mm256_set1_epi32(0x6ed9eba1);
	const __m256i k2 = _mm256_set1_epi32((int)0x8f1bbcdcu);
	const __m256i k3 = _mm256_set1_epi32((int)0xca62c1d6u);
	__m256i a = _mm256_loadu_si256((const void *)st[0]);
	__m256i b = _mm256_loadu_si256((const void *)st[1]);
	__m256i c = _mm256_loadu_si256((const void *)st[2]);
	__m256i d = _mm256_loadu_si256((const void *)st[3]);
	__m256i e = _mm256_loadu_si256((const void *)st[4]);

	while (nblk--) {
		__m256i w[16];
		const __m256i a0 = a, b0 = b, c0 = c, d0 = d, e0 = e;

		load8(w, p, 0, bswap);
		load8(w + 8, p, 32, bswap);
		for (int i = 0; i < SHA1MB_LANES; i++)
			p[i] += step[i];

		ROUND5(0, F_CH, k0);
		ROUND5(5, F_CH, k0);
		ROUND5(10, F_CH, k0);
		ROUND5(15, F_CH, k0);
		ROUND5(20, F_PAR, k1);
		ROUND5(25, F_PAR, k1);
		ROUND5(30, F_PAR, k1);
		ROUND5(35, F_PAR, k1);
		ROUND5(40, F_MAJ, k2);
		ROUND5(45, F_MAJ, k2);
		ROUND5(50, F_MAJ, k2);
		ROUND5(55, F_MAJ, k2);
		ROUND5(60, F_PAR, k3);
		ROUND5(65, F_PAR, k3);
		ROUND5(70, F_PAR, k3);
		ROUND5(75, F_PAR, k3);

		a = V_ADD(a, a0);
		b = V_ADD(b, b0);
		c = V_ADD(c, c0);
		d = V_ADD(d, d0);
		e = V_ADD(e, e0);
	}
	_mm256_storeu_si256((void *)st[0], a);
	_mm256_storeu_si256((void *)st[1], b);
	_mm256_storeu_si256((void *)st[2], c);
	_mm256_storeu_si256((void *)st[3], d);
	_mm256_storeu_si256((void *)st[4], e);
}

#define SHANI __attribute__((target("sha,ssse3")))

/* Messages the SHA-extension engine interleaves: on the build machine one
 * runs at 1.5 GB/s, two at 2.6, three or four at 3.2-3.5 (four ahead by a
 * little); more would only add register spills. */
#define NI_STREAMS_MAX 4

/*
 * nblk blocks of each of k messages (k <= NI_STREAMS_MAX, a constant after
 * inlining) with the SHA extensions: stream i reads p[i], p[i] + 64, ... and
 * updates h[i]. One stream is latency-bound (each sha1rnds4 waits for the
 * previous one); interleaving independent streams fills the unit.
 *
 * Register layout per stream: abcd holds a in its top 32 bits down to d in
 * its bottom ones; e sits in the top 32 bits of its register. sha1rnds4 runs
 * four rounds given W[t..t+3] with e already added to W[t]; sha1nexte
 * supplies that e (rotl30 of a from four rounds back) and adds it;
 * sha1msg1/xor/sha1msg2 compute W[t..t+3] from W[t-16..t-1] (FIPS 180-4
 * 6.1.2 step 1, four words at a time). The stream loops are unrolled so the
 * per-stream arrays live in registers at -O2 too.
 */
SHANI static inline __attribute__((always_inline)) void
ni_kernel(uint32_t h[][5], const uint8_t **p, size_t nblk, const int k)
{
	/* Reverses the 16 bytes: big-endian W[t] lands in the top 32 bits. */
	const __m128i bswap = _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
	__m128i abcd[NI_STREAMS_MAX], e[NI_STREAMS_MAX];

#pragma GCC unroll 4
	for (int i = 0; i < k; i++) {
		abcd[i] = _mm_shuffle_epi32(_mm_loadu_si128((const void *)h[i]), 0x1b);
		e[i] = _mm_set_epi32((int)h[i][4], 0, 0, 0);
	}
	for (; nblk; nblk--) {
		__m128i abcd0[NI_STREAMS_MAX], e0[NI_STREAMS_MAX];
		__m128i m0[NI_STREAMS_MAX], m1[NI_STREAMS_MAX];
		__m128i m2[NI_STREAMS_MAX], m3[NI_STREAMS_MAX];
		__m128i prev[NI_STREAMS_MAX];

#pragma GCC unroll 4
		for (int i = 0; i < k; i++) {
			const uint8_t *b = p[i];

			p[i] += BLK;
			abcd0[i] = abcd[i];
			e0[i] = e[i];
			m0[i] = _mm_shuffle_epi8(_mm_loadu_si128((const void *)b), bswap);
			m1[i] = _mm_shuffle_epi8(_mm_loadu_si128((const void *)(b + 16)), bswap);
			m2[i] = _mm_shuffle_epi8(_mm_loadu_si128((const void *)(b + 32)), bswap);
			m3[i] = _mm_shuffle_epi8(_mm_loadu_si128((const void *)(b + 48)), bswap);
			/* Rounds 0-3: e is added by hand; later groups get
			 * theirs from sha1nexte. */
			prev[i] = abcd[i];
			abcd[i] = _mm_sha1rnds4_epu32(abcd[i], _mm_add_epi32(e[i], m0[i]), 0);
		}

/* Rounds 4g..4g+3 of every stream on W in m (f selects function and K). */
#define NI4(m, f)                                                         \
	do {                                                              \
		_Pragma("GCC unroll 4") for (int i = 0; i < k; i++)       \
		{                                                         \
			__m128i ew_ = _mm_sha1nexte_epu32(prev[i], m[i]); \
			prev[i] = abcd[i];                                \
			abcd[i] = _mm_sha1rnds4_epu32(abcd[i], ew_, (f)); \
		}                                                         \
	} while (0)
/* W[4g..4g+3] into mg (which held W[4g-16..]), then its four rounds. */
#define NI4_SCHED(mg, ma, mb, mc, f)                                                            \
	do {                                                                                    \
		_Pragma("GCC unroll 4") for (int i = 0; i < k; i++) mg[i] = _mm_sha1msg2_epu32( \
			_mm_xor_si128(_mm_sha1msg1_epu32(mg[i], ma[i]), mb[i]), mc[i]);         \
		NI4(mg, f);                                                                     \
	} while (0)

/* Sixteen rounds: the schedule words rotate through m0..m3 every four
 * groups, while f (function and K) changes every five, so each call names
 * the f of its four groups. It expands to the same written-out code. */
#define NI4_SCHED4(f0, f1, f2, f3)             \
	do {                                   \
		NI4_SCHED(m0, m1, m2, m3, f0); \
		NI4_SCHED(m1, m2, m3, m0, f1); \
		NI4_SCHED(m2, m3, m0, m1, f2); \
		NI4_SCHED(m3, m0, m1, m2, f3); \
	} while (0)

		/* Written out, not a loop over the groups: the same rounds as
		 * `#pragma GCC unroll 19` over g (m[g % 4], f = g / 5, sha1rnds4's
		 * immediate through a switch that folds) unroll fully too, but
		 * GCC 12 then schedules and allocates them worse: hashbench's
		 * sha1mb_shani_x4 fell from 5.1 to 3.5 GB/s at -O3 (5.2 to 3.9
		 * at -O2), in every loop shape tried. */
		NI4(m1, 0);
		NI4(m2, 0);
		NI4(m3, 0);
		NI4_SCHED4(0, 1, 1, 1); /* 16-31 */
		NI4_SCHED4(1, 1, 2, 2); /* 32-47 */
		NI4_SCHED4(2, 2, 2, 3); /* 48-63 */
		NI4_SCHED4(3, 3, 3, 3); /* 64-79 */
#undef NI4_SCHED4
#undef NI4_SCHED
#undef NI4

		/* e after round 79 is rotl30(a after round 75): sha1nexte
		 * computes it and adds the saved e, the final addition. */
#pragma GCC unroll 4
		for (int i = 0; i < k; i++) {
			e[i] = _mm_sha1nexte_epu32(prev[i], e0[i]);
			abcd[i] = _mm_add_epi32(abcd[i], abcd0[i]);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < k; i++) {
		_mm_storeu_si128((void *)h[i], _mm_shuffle_epi32(abcd[i], 0x1b));
		h[i][4] = (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(e[i], 12));
	}
}

/* One instance per stream count, so k is a constant in each. */
SHANI static void ni_blocks(uint32_t h[][5], const uint8_t **p, size_t nblk, size_t k)
{
	switch (k) {
	case 1: ni_kernel(h, p, nblk, 1); break;
	case 2: ni_kernel(h, p, nblk, 2); break;
	case 3: ni_kernel(h, p, nblk, 3); break;
	default: ni_kernel(h, p, nblk, 4); break;
	}
}

enum lane_phase { LANE_IDLE, LANE_BODY, LANE_TAIL };

struct lane {
	const uint8_t *p; /* next block to read */
	size_t left;	  /* blocks left in this phase */
	size_t job;	  /* index in sched.jobs */
	enum lane_phase phase;
	uint8_t tail[2 * BLK]; /* the message's padded last block(s) */
};

struct sched {
	uint32_t st[5][SHA1MB_LANES]; /* st[j][i]: variable j of lane i */
	struct lane lane[SHA1MB_LANES];
	const struct hash_job *jobs; /* whole messages (sha1mb_batch), or */
	const struct seg *segs;	     /* segments (sha1mb_feed): one is NULL */
	size_t n, next;		     /* next: first job not yet in a lane */
};

/* A block idle lanes hash over and over; their result is never read. */
static const uint8_t zero_block[BLK];

/*
 * The last len % 64 bytes of the message, the 0x80 marker, zeros and the
 * 64-bit big-endian bit length (FIPS 180-4 5.1.1): one block when the rest
 * leaves room for the marker and the length (len % 64 < 56), else two.
 */
static void lane_to_tail(struct lane *l, const struct hash_job *j)
{
	size_t r = j->len % BLK;

	if (r)
		memcpy(l->tail, (const uint8_t *)j->data + (j->len - r), r);
	/* No buffer comes near SHA1_MAX_LEN bytes. */
	l->left = pad_tail(l->tail, j->len);
	l->p = l->tail;
	l->phase = LANE_TAIL;
}

static void lane_state(const struct sched *s, size_t i, uint32_t h[5])
{
	for (int k = 0; k < 5; k++)
		h[k] = s->st[k][i];
}

static void lane_set_state(struct sched *s, size_t i, const uint32_t h[5])
{
	for (int k = 0; k < 5; k++)
		s->st[k][i] = h[k];
}

/* Puts the next waiting job, if any, in lane i. */
static void lane_fill(struct sched *s, size_t i)
{
	struct lane *l = &s->lane[i];
	const struct hash_job *j;

	if (s->next == s->n) {
		l->phase = LANE_IDLE;
		l->p = zero_block;
		l->left = 0;
		return;
	}
	l->job = s->next++;
	if (s->segs) {
		const struct seg *g = &s->segs[l->job];

		lane_set_state(s, i, g->h);
		l->p = g->p;
		l->left = g->nblk;
		l->phase = LANE_BODY;
		return;
	}
	j = &s->jobs[l->job];
	for (int k = 0; k < 5; k++)
		s->st[k][i] = sha1_h0[k];
	if (j->len >= BLK) {
		l->p = j->data;
		l->left = j->len / BLK;
		l->phase = LANE_BODY;
	} else {
		lane_to_tail(l, j);
	}
}

/* Lane i has hashed `run` more blocks: on to its padding, or done (digest
 * or segment's state out, next one in). */
static void lane_step(struct sched *s, size_t i, size_t run)
{
	struct lane *l = &s->lane[i];
	uint32_t h[5];

	l->left -= run;
	if (l->left)
		return;
	if (s->segs) {
		lane_state(s, i, s->segs[l->job].h);
		lane_fill(s, i);
		return;
	}
	if (l->phase == LANE_BODY) {
		lane_to_tail(l, &s->jobs[l->job]);
		return;
	}
	lane_state(s, i, h);
	put_digest(h, s->jobs[l->job].out);
	lane_fill(s, i);
}

/*
 * The SHA-extension engine: the first NI_STREAMS_MAX busy lanes run
 * together, like the AVX2 passes, until the first reaches the end of a
 * segment; a lane that finishes takes the next waiting job.
 */
static void ni_run(struct sched *s)
{
	for (;;) {
		uint32_t h[NI_STREAMS_MAX][5];
		const uint8_t *p[NI_STREAMS_MAX];
		size_t idx[NI_STREAMS_MAX], k = 0, run = SIZE_MAX;

		for (size_t i = 0; i < SHA1MB_LANES && k < NI_STREAMS_MAX; i++) {
			if (s->lane[i].phase == LANE_IDLE)
				continue;
			idx[k++] = i;
			if (s->lane[i].left < run)
				run = s->lane[i].left;
		}
		if (!k)
			return;
		for (size_t j = 0; j < k; j++) {
			lane_state(s, idx[j], h[j]);
			p[j] = s->lane[idx[j]].p;
		}
		ni_blocks(h, p, run, k);
		for (size_t j = 0; j < k; j++) {
			lane_set_state(s, idx[j], h[j]);
			s->lane[idx[j]].p = p[j];
			lane_step(s, idx[j], run);
		}
	}
}

/* The AVX2 engine: all eight lanes each pass, idle ones on a zero block. */
static void avx2_run(struct sched *s)
{
	const uint8_t *p[SHA1MB_LANES];
	size_t step[SHA1MB_LANES];

	for (;;) {
		size_t busy = 0, run = SIZE_MAX;

		for (size_t i = 0; i < SHA1MB_LANES; i++) {
			const struct lane *l = &s->lane[i];

			if (l->phase == LANE_IDLE)
				continue;
			busy++;
			if (l->left < run)
				run = l->left;
		}
		if (!busy)
			return;
		for (size_t i = 0; i < SHA1MB_LANES; i++) {
			p[i] = s->lane[i].p;
			step[i] = s->lane[i].phase == LANE_IDLE ? 0 : BLK;
		}
		x8_blocks(s->st, p, step, run);
		for (size_t i = 0; i < SHA1MB_LANES; i++) {
			if (s->lane[i].phase == LANE_IDLE)
				continue;
			s->lane[i].p = p[i];
			lane_step(s, i, run);
		}
	}
}

/* Hashes every job, or every segment, on engine e (not AUTO), which this
 * CPU has. */
static void sched_run(const struct hash_job *jobs, const struct seg *segs, size_t n, int e)
{
	struct sched s;

	s.jobs = jobs;
	s.segs = segs;
	s.n = n;
	s.next = 0;
	for (size_t i = 0; i < SHA1MB_LANES; i++)
		lane_fill(&s, i);
	if (e == SHA1MB_SHANI)
		ni_run(&s);
	else
		avx2_run(&s);
}

#else /* !SHA1MB_X86: no engine is available, so this is never called. */

static void sched_run(const struct hash_job *jobs, const struct seg *segs, size_t n, int e)
{
	(void)jobs;
	(void)segs;
	(void)n;
	(void)e;
}

#endif

int sha1mb_batch_on(enum sha1mb_engine e, const struct hash_job *jobs, size_t n)
{
	if ((n && !jobs) || (unsigned)e > SHA1MB_SHANI)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!jobs[i].out || (jobs[i].len && !jobs[i].data))
			return -EINVAL;
	if (!sha1mb_has_engine(e))
		return -ENOTSUP;
	if (n)
		sched_run(jobs, NULL, n, e == SHA1MB_AUTO ? auto_engine() : (int)e);
	return 0;
}

int sha1mb_batch(const struct hash_job *jobs, size_t n)
{
	return sha1mb_batch_on(SHA1MB_AUTO, jobs, n);
}

void sha1mb_init(struct sha1mb_ctx *c)
{
	memcpy(c->h, sha1_h0, sizeof(c->h));
	c->len = 0;
}

/* Segments handed to the scheduler per run, on the stack: the hot path
 * allocates nothing, and 64 refill the lanes many times. */
#define SEG_BATCH 64

struct segq {
	struct seg seg[SEG_BATCH];
	size_t n;
	int e;
};

static void segq_flush(struct segq *q)
{
	if (q->n)
		sched_run(NULL, q->seg, q->n, q->e);
	q->n = 0;
}

/* Queues nblk blocks at p for the state h; a full queue runs at once,
 * which is safe because no two queued segments share a state. */
static void segq_add(struct segq *q, uint32_t *h, const uint8_t *p, size_t nblk)
{
	if (!nblk)
		return;
	q->seg[q->n++] = (struct seg){ h, p, nblk };
	if (q->n == SEG_BATCH)
		segq_flush(q);
}

/* The bytes of pt that go to complete the block its context has begun. */
static size_t head_len(const struct sha1mb_part *pt)
{
	size_t r = (size_t)(pt->c->len % BLK);

	if (!r)
		return 0;
	return pt->len < BLK - r ? pt->len : BLK - r;
}

static int feed_check(const struct sha1mb_part *parts, size_t n)
{
	if (n && !parts)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct sha1mb_part *pt = &parts[i];

		if (!pt->c || (pt->len && !pt->data))
			return -EINVAL;
		/* c->len <= SHA1_MAX_LEN always holds, so this cannot wrap. */
		if (pt->len > SHA1_MAX_LEN - pt->c->len)
			return -EOVERFLOW;
		/* Two lanes on one state would each hash from the same start. */
		for (size_t k = 0; k < i; k++)
			if (parts[k].c == pt->c)
				return -EINVAL;
	}
	return 0;
}

int sha1mb_feed_on(enum sha1mb_engine e, const struct sha1mb_part *parts, size_t n)
{
	struct segq q;
	int rc;

	if ((unsigned)e > SHA1MB_SHANI)
		return -EINVAL;
	if ((rc = feed_check(parts, n)) < 0)
		return rc;
	if (!sha1mb_has_engine(e))
		return -ENOTSUP;
	q.n = 0;
	q.e = e == SHA1MB_AUTO ? auto_engine() : (int)e;
	/* 1: the block each context has begun, where a part completes it */
	for (size_t i = 0; i < n; i++) {
		const struct sha1mb_part *pt = &parts[i];
		size_t r = (size_t)(pt->c->len % BLK), head = head_len(pt);

		if (r && r + head == BLK) {
			memcpy(pt->c->buf + r, pt->data, head);
			segq_add(&q, pt->c->h, pt->c->buf, 1);
		}
	}
	segq_flush(&q);
	/* 2: each part's whole blocks after that, where they lie */
	for (size_t i = 0; i < n; i++) {
		const struct sha1mb_part *pt = &parts[i];
		size_t head = head_len(pt);

		if (pt->len)
			segq_add(&q, pt->c->h, (const uint8_t *)pt->data + head,
				 (pt->len - head) / BLK);
	}
	segq_flush(&q);
	/* 3: the bytes left over into the context; the padding of the last
	 * parts (their contexts are all distinct, so one pass) */
	for (size_t i = 0; i < n; i++) {
		const struct sha1mb_part *pt = &parts[i];
		struct sha1mb_ctx *c = pt->c;
		size_t r = (size_t)(c->len % BLK), head = head_len(pt);
		size_t rest = (pt->len - head) % BLK;

		if (r && r + head < BLK) {
			if (head)
				memcpy(c->buf + r, pt->data, head);
		} else if (rest) {
			memcpy(c->buf, (const uint8_t *)pt->data + (pt->len - rest), rest);
		}
		c->len += pt->len;
		if (pt->out)
			segq_add(&q, c->h, c->buf, pad_tail(c->buf, c->len));
	}
	segq_flush(&q);
	for (size_t i = 0; i < n; i++)
		if (parts[i].out)
			put_digest(parts[i].c->h, parts[i].out);
	return 0;
}

int sha1mb_feed(const struct sha1mb_part *parts, size_t n)
{
	return sha1mb_feed_on(SHA1MB_AUTO, parts, n);
}
