/*
 * vec_kernels.c - run-time dispatch of the distance kernels, float16
 * conversion, and the metric wrappers (single, batched, multi-query).
 *
 * The level is chosen once per process: the best one the CPU supports
 * (__builtin_cpu_supports, plus CPUID for F16C), lowered to HANZO_SIMD when
 * that names a lower level. The choice is published through an atomic
 * pointer; two threads racing on the first call compute the same answer, so
 * no lock is needed.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef __x86_64__
#include <cpuid.h>
#endif

#include "core/distance.h"
#include "vec_kernels.h"

hdb__simd_level hdb__vec_simd_detect(void)
{
#ifdef HDB__VEC_HAVE_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    return HDB__SIMD_AVX512;
  unsigned a = 0, b = 0, c = 0, d = 0;
  int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c)
    return HDB__SIMD_AVX2;
#endif
  return HDB__SIMD_SCALAR;
}

const hdb__vec_kernels *hdb__vec_kernels_level(hdb__simd_level level)
{
  if (level > hdb__vec_simd_detect())
    return NULL;
  switch (level) {
#ifdef HDB__VEC_HAVE_X86
  case HDB__SIMD_AVX512:
    return &hdb__vec_kernels_avx512;
  case HDB__SIMD_AVX2:
    return &hdb__vec_kernels_avx2;
#endif
  case HDB__SIMD_SCALAR:
    return &hdb__vec_kernels_scalar;
  default:
    return NULL;
  }
}

static _Atomic(const hdb__vec_kernels *) chosen = NULL;

const hdb__vec_kernels *hdb__vec_kernels_get(void)
{
  const hdb__vec_kernels *k = atomic_load_explicit(&chosen, memory_order_acquire);
  if (k != NULL)
    return k;
  hdb__simd_level level = hdb__vec_simd_detect();
  const char *force = getenv("HANZO_SIMD");
  if (force != NULL) {
    if (strcmp(force, "scalar") == 0)
      level = HDB__SIMD_SCALAR;
    else if (strcmp(force, "avx2") == 0 && level > HDB__SIMD_AVX2)
      level = HDB__SIMD_AVX2;
  }
  k = hdb__vec_kernels_level(level);
  if (k == NULL)
    k = &hdb__vec_kernels_scalar;
  atomic_store_explicit(&chosen, k, memory_order_release);
  return k;
}

float hdb__vec_f16_to_f32(uint16_t h)
{
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, bits;
  if (exp == 0) {
    /* zero or subnormal: man * 2^-24, exact in float */
    float f = (float)man * 5.9604644775390625e-8f;
    return sign ? -f : f;
  }
  if (exp == 31)
    bits = sign | 0x7F800000u | (man << 13);
  else
    bits = sign | ((exp + 112u) << 23) | (man << 13);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* Round to nearest even; overflow gives infinity, NaN stays NaN. */
uint16_t hdb__vec_f32_to_f16(float f)
{
  const uint32_t f32_inf = 255u << 23, f16_max = (127u + 16u) << 23;
  const uint32_t magic_bits = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  uint32_t sign = x & 0x80000000u;
  x ^= sign;
  uint16_t o;
  if (x >= f16_max) {
    o = x > f32_inf ? 0x7E00u : 0x7C00u;
  } else if (x < (113u << 23)) {
    /* subnormal half: adding the magic number rounds the mantissa */
    float v, magic;
    memcpy(&v, &x, sizeof v);
    memcpy(&magic, &magic_bits, sizeof magic);
    v += magic;
    uint32_t vb;
    memcpy(&vb, &v, sizeof vb);
    o = (uint16_t)(vb - magic_bits);
  } else {
    uint32_t odd = (x >> 13) & 1u;
    x += ((uint32_t)(15 - 127) << 23) + 0xFFFu;
    x += odd;
    o = (uint16_t)(x >> 13);
  }
  return (uint16_t)(o | (sign >> 16));
}

float hdb__vec_cosine_from(float dot, float na, float nb)
{
  if (na == 0.0f || nb == 0.0f)
    return 1.0f;
  double d = 1.0 - (double)dot / sqrt((double)na * (double)nb);
  if (d < 0.0)
    d = 0.0;
  else if (d > 2.0)
    d = 2.0;
  return (float)d;
}

/* 1 when a float squared norm is comfortably representable. Zero is not:
 * it may be a tiny vector whose squares underflowed, so the double path
 * decides (and answers 1 for a true zero vector). */
static int norm_ok(float n)
{
  return n >= 1e-30f && n <= 1e30f;
}

static float cosine_double(double dot, double na, double nb)
{
  if (na == 0.0 || nb == 0.0)
    return 1.0f;
  double d = 1.0 - dot / (sqrt(na) * sqrt(nb));
  return (float)(d < 0.0 ? 0.0 : d > 2.0 ? 2.0 : d);
}

float hdb__vec_dist(const hdb__vec_kernels *k, hdb_metric metric, const float *a, const float *b,
                    size_t dim)
{
  switch (metric) {
  case HDB_METRIC_DOT:
    return -k->dot(a, b, dim);
  case HDB_METRIC_COSINE: {
    float s[3];
    k->dot3(a, b, dim, s);
    if (norm_ok(s[1]) && norm_ok(s[2]))
      return hdb__vec_cosine_from(s[0], s[1], s[2]);
    return hdb__dist_cosine(a, b, (uint32_t)dim);
  }
  case HDB_METRIC_DEFAULT:
  case HDB_METRIC_L2:
  default:
    return k->l2sq(a, b, dim);
  }
}

float hdb__vec_dist_f16(const hdb__vec_kernels *k, hdb_metric metric, const float *q,
                        const uint16_t *v, size_t dim)
{
  switch (metric) {
  case HDB_METRIC_DOT:
    return -k->dot_f16(q, v, dim);
  case HDB_METRIC_COSINE: {
    float s[3];
    k->dot3_f16(q, v, dim, s);
    if (norm_ok(s[1]) && norm_ok(s[2]))
      return hdb__vec_cosine_from(s[0], s[1], s[2]);
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < dim; i++) {
      double x = q[i], y = hdb__vec_f16_to_f32(v[i]);
      d += x * y;
      na += x * x;
      nb += y * y;
    }
    return cosine_double(d, na, nb);
  }
  case HDB_METRIC_DEFAULT:
  case HDB_METRIC_L2:
  default:
    return k->l2sq_f16(q, v, dim);
  }
}

float hdb__vec_dist_i8(const hdb__vec_kernels *k, hdb_metric metric, const float *q,
                       const int8_t *v, float scale, size_t dim)
{
  switch (metric) {
  case HDB_METRIC_DOT:
    return -k->dot_i8(q, v, scale, dim);
  case HDB_METRIC_COSINE: {
    float s[3];
    k->dot3_i8(q, v, scale, dim, s);
    if (norm_ok(s[1]) && norm_ok(s[2]))
      return hdb__vec_cosine_from(s[0], s[1], s[2]);
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < dim; i++) {
      double x = q[i], y = (double)scale * (double)v[i];
      d += x * y;
      na += x * x;
      nb += y * y;
    }
    return cosine_double(d, na, nb);
  }
  case HDB_METRIC_DEFAULT:
  case HDB_METRIC_L2:
  default:
    return k->l2sq_i8(q, v, scale, dim);
  }
}

void hdb__vec_dist_batch(const hdb__vec_kernels *k, hdb_metric metric, const float *q,
                         const float *base, size_t n, size_t stride, size_t dim, float *out)
{
  switch (metric) {
  case HDB_METRIC_DOT:
    k->dot_batch(q, base, n, stride, dim, out);
    for (size_t i = 0; i < n; i++)
      out[i] = -out[i];
    return;
  case HDB_METRIC_COSINE:
    for (size_t i = 0; i < n; i++)
      out[i] = hdb__vec_dist(k, metric, q, base + i * stride, dim);
    return;
  case HDB_METRIC_DEFAULT:
  case HDB_METRIC_L2:
  default:
    k->l2sq_batch(q, base, n, stride, dim, out);
    return;
  }
}

void hdb__vec_dist_multi(const hdb__vec_kernels *k, hdb_metric metric, const float *queries,
                         size_t nq, const float *base, size_t n, size_t dim, float *out)
{
  /* ~64 KiB of rows per block: stays in L2 while every query scores it. */
  size_t block = dim ? (16384 / dim) : n;
  if (block < 8)
    block = 8;
  for (size_t i0 = 0; i0 < n; i0 += block) {
    size_t m = n - i0 < block ? n - i0 : block;
    for (size_t j = 0; j < nq; j++)
      hdb__vec_dist_batch(k, metric, queries + j * dim, base + i0 * dim, m, dim, dim,
                          out + j * n + i0);
  }
}
