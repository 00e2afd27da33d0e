/*
 * vec_kernels.h - distance kernels for the vector engine, with run-time CPU
 * dispatch.
 *
 * One table of function pointers per SIMD level (scalar, AVX2+FMA,
 * AVX-512F). Each level lives in its own file (vec_kernels_scalar.c,
 * vec_kernels_avx2.c, vec_kernels_avx512.c) whose functions carry
 * __attribute__((target(...))), so the library is compiled with plain flags
 * and runs on any x86-64 (and on other architectures, scalar only).
 * hdb__vec_kernels_get() picks the best level the CPU supports once, or the level
 * named by HANZO_SIMD=scalar|avx2|avx512 (capped at what the CPU has).
 *
 * Primitives compute raw sums; the metric wrappers below turn them into the
 * distances of core/distance.h (l2 = squared Euclidean, cosine = 1 - cos,
 * 1 when a norm is 0, clamped to [0, 2]; dot = -<a,b>).
 *
 * Stored forms: float32; float16 (IEEE binary16, query stays float32);
 * int8 with a per-vector scale (component = scale * code).
 *
 * Invariants:
 *  1. Every pointer may be unaligned and every dim >= 0 is valid (dim 0
 *     gives 0 sums); kernels never read past dim elements.
 *  2. Kernels accumulate in float32 with several independent accumulators;
 *     results agree with the double-accumulating reference to a relative
 *     1e-5 of the sum of absolute terms (tests/unit/test_vec_kernels.c).
 *  3. Kernels are pure: thread-safe, no allocation, no global state beyond
 *     the dispatch table chosen once.
 */
#ifndef HDB_ENGINE_VECTOR_KERNELS_H
#define HDB_ENGINE_VECTOR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "hanzodb.h"

typedef enum hdb__simd_level {
  HDB__SIMD_SCALAR = 0,
  HDB__SIMD_AVX2 = 1,   /* AVX2 + FMA + F16C */
  HDB__SIMD_AVX512 = 2  /* AVX-512F */
} hdb__simd_level;

/* Storage type of the vectors a kernel reads. */
typedef enum hdb__vec_type {
  HDB__VEC_F32 = 0,
  HDB__VEC_F16 = 1,
  HDB__VEC_I8 = 2
} hdb__vec_type;

typedef struct hdb__vec_kernels {
  hdb__simd_level level;
  const char *name; /* "scalar", "avx2", "avx512" */
  /* float32 x float32 */
  float (*l2sq)(const float *a, const float *b, size_t dim);
  float (*dot)(const float *a, const float *b, size_t dim);
  /* out[0] = <a,b>, out[1] = |a|^2, out[2] = |b|^2, in one pass. */
  void (*dot3)(const float *a, const float *b, size_t dim, float out[3]);
  /* One query against n rows stored `stride` floats apart: out[i] = l2sq or
   * <q,row_i>. */
  void (*l2sq_batch)(const float *q, const float *base, size_t n, size_t stride, size_t dim,
                     float *out);
  void (*dot_batch)(const float *q, const float *base, size_t n, size_t stride, size_t dim,
                    float *out);
  /* float32 query x float16 stored */
  float (*l2sq_f16)(const float *q, const uint16_t *v, size_t dim);
  float (*dot_f16)(const float *q, const uint16_t *v, size_t dim);
  void (*dot3_f16)(const float *q, const uint16_t *v, size_t dim, float out[3]);
  /* float32 query x int8 stored with scale (component = scale * code) */
  float (*l2sq_i8)(const float *q, const int8_t *v, float scale, size_t dim);
  float (*dot_i8)(const float *q, const int8_t *v, float scale, size_t dim);
  void (*dot3_i8)(const float *q, const int8_t *v, float scale, size_t dim, float out[3]);
} hdb__vec_kernels;

/* The kernels chosen for this process (CPU and HANZO_SIMD); never NULL. */
const hdb__vec_kernels *hdb__vec_kernels_get(void);
/* The kernels of one level, or NULL when this CPU (or build) lacks it. */
const hdb__vec_kernels *hdb__vec_kernels_level(hdb__simd_level level);
/* The best level this CPU supports, ignoring HANZO_SIMD. */
hdb__simd_level hdb__vec_simd_detect(void);

/* Per-level tables (defined in the vec_kernels_*.c files). */
extern const hdb__vec_kernels hdb__vec_kernels_scalar;
#if defined(__x86_64__) || defined(__i386__)
#define HDB__VEC_HAVE_X86 1
extern const hdb__vec_kernels hdb__vec_kernels_avx2;
extern const hdb__vec_kernels hdb__vec_kernels_avx512;
#endif

/* float16 <-> float32, portable bit manipulation (round to nearest even). */
float hdb__vec_f16_to_f32(uint16_t h);
uint16_t hdb__vec_f32_to_f16(float f);

/* Cosine distance from the three sums of dot3 (1 when a norm is 0,
 * clamped to [0, 2]). Falls back to nothing: the caller decides. */
float hdb__vec_cosine_from(float dot, float na, float nb);

/* Distance of `metric` (DEFAULT counts as L2) between float32 vectors, and
 * against stored f16 / int8 vectors. Cosine falls back to the double
 * reference when a squared norm leaves float's comfortable range (zero,
 * below 1e-30 or above 1e30), so tiny and huge vectors still get the exact
 * answer. */
float hdb__vec_dist(const hdb__vec_kernels *k, hdb_metric metric, const float *a, const float *b,
                    size_t dim);
float hdb__vec_dist_f16(const hdb__vec_kernels *k, hdb_metric metric, const float *q,
                        const uint16_t *v, size_t dim);
float hdb__vec_dist_i8(const hdb__vec_kernels *k, hdb_metric metric, const float *q,
                       const int8_t *v, float scale, size_t dim);

/*
 * One query against n contiguous rows (row i at base + i * stride floats):
 * out[i] = distance (cosine: one fused pass per row for the dot and norms).
 */
void hdb__vec_dist_batch(const hdb__vec_kernels *k, hdb_metric metric, const float *q,
                         const float *base, size_t n, size_t stride, size_t dim, float *out);
/*
 * nq queries (query j at queries + j * dim) against n rows: out[j * n + i].
 * The rows are walked in cache-sized blocks, each block scored against every
 * query while it is hot, so the block is read from memory once.
 */
void hdb__vec_dist_multi(const hdb__vec_kernels *k, hdb_metric metric, const float *queries,
                         size_t nq, const float *base, size_t n, size_t dim, float *out);

#endif
