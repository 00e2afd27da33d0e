/*
 * vec_kernels_avx2.c - AVX2 + FMA (+ F16C) distance kernels.
 *
 * Every function carries target("avx2,fma,f16c") so this file builds with
 * the library's plain flags; vec_kernels.c installs the table only when the
 * CPU reports AVX2, FMA and F16C. Main loops run four 8-lane accumulators
 * (32 floats per step); the last dim % 8 components are summed in a scalar
 * loop, so no load ever reaches past dim.
 */
#include "vec_kernels.h"
#include "vec_kernels_row.h"

#ifdef HDB__VEC_HAVE_X86

#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma,f16c")))
#define TGT_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

TGT static float k_l2sq(const float *a, const float *b, size_t dim)
{
  return hdb__l2sq_row_avx2(a, b, dim);
}

TGT static float k_dot(const float *a, const float *b, size_t dim)
{
  return hdb__dot_row_avx2(a, b, dim);
}

TGT static void k_dot3(const float *a, const float *b, size_t dim, float out[3])
{
  __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    __m256 x0 = _mm256_loadu_ps(a + i), y0 = _mm256_loadu_ps(b + i);
    __m256 x1 = _mm256_loadu_ps(a + i + 8), y1 = _mm256_loadu_ps(b + i + 8);
    d0 = _mm256_fmadd_ps(x0, y0, d0);
    d1 = _mm256_fmadd_ps(x1, y1, d1);
    a0 = _mm256_fmadd_ps(x0, x0, a0);
    a1 = _mm256_fmadd_ps(x1, x1, a1);
    b0 = _mm256_fmadd_ps(y0, y0, b0);
    b1 = _mm256_fmadd_ps(y1, y1, b1);
  }
  for (; i + 8 <= dim; i += 8) {
    __m256 x = _mm256_loadu_ps(a + i), y = _mm256_loadu_ps(b + i);
    d0 = _mm256_fmadd_ps(x, y, d0);
    a0 = _mm256_fmadd_ps(x, x, a0);
    b0 = _mm256_fmadd_ps(y, y, b0);
  }
  float d = hdb__hsum_avx2(_mm256_add_ps(d0, d1)), na = hdb__hsum_avx2(_mm256_add_ps(a0, a1));
  float nb = hdb__hsum_avx2(_mm256_add_ps(b0, b1));
  for (; i < dim; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  out[0] = d;
  out[1] = na;
  out[2] = nb;
}

TGT static void k_l2sq_batch(const float *q, const float *base, size_t n, size_t stride,
                             size_t dim, float *out)
{
  for (size_t i = 0; i < n; i++) {
    if (i + 2 < n)
      __builtin_prefetch(base + (i + 2) * stride);
    out[i] = hdb__l2sq_row_avx2(q, base + i * stride, dim);
  }
}

TGT static void k_dot_batch(const float *q, const float *base, size_t n, size_t stride,
                            size_t dim, float *out)
{
  for (size_t i = 0; i < n; i++) {
    if (i + 2 < n)
      __builtin_prefetch(base + (i + 2) * stride);
    out[i] = hdb__dot_row_avx2(q, base + i * stride, dim);
  }
}

TGT_INLINE __m256 load_f16(const uint16_t *v)
{
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)v));
}

TGT_INLINE __m256 load_i8(const int8_t *v)
{
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)v)));
}

TGT static float k_l2sq_f16(const float *q, const uint16_t *v, size_t dim)
{
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), load_f16(v + i));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 8), load_f16(v + i + 8));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
  }
  for (; i + 8 <= dim; i += 8) {
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(q + i), load_f16(v + i));
    s0 = _mm256_fmadd_ps(d, d, s0);
  }
  float s = hdb__hsum_avx2(_mm256_add_ps(s0, s1));
  for (; i < dim; i++) {
    float d = q[i] - hdb__vec_f16_to_f32(v[i]);
    s += d * d;
  }
  return s;
}

TGT static float k_dot_f16(const float *q, const uint16_t *v, size_t dim)
{
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_f16(v + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load_f16(v + i + 8), s1);
  }
  for (; i + 8 <= dim; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_f16(v + i), s0);
  float s = hdb__hsum_avx2(_mm256_add_ps(s0, s1));
  for (; i < dim; i++)
    s += q[i] * hdb__vec_f16_to_f32(v[i]);
  return s;
}

TGT static void k_dot3_f16(const float *q, const uint16_t *v, size_t dim, float out[3])
{
  __m256 d = _mm256_setzero_ps(), a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    __m256 x = _mm256_loadu_ps(q + i), y = load_f16(v + i);
    d = _mm256_fmadd_ps(x, y, d);
    a = _mm256_fmadd_ps(x, x, a);
    b = _mm256_fmadd_ps(y, y, b);
  }
  float sd = hdb__hsum_avx2(d), sa = hdb__hsum_avx2(a), sb = hdb__hsum_avx2(b);
  for (; i < dim; i++) {
    float y = hdb__vec_f16_to_f32(v[i]);
    sd += q[i] * y;
    sa += q[i] * q[i];
    sb += y * y;
  }
  out[0] = sd;
  out[1] = sa;
  out[2] = sb;
}

TGT static float k_l2sq_i8(const float *q, const int8_t *v, float scale, size_t dim)
{
  __m256 sc = _mm256_set1_ps(scale);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    __m256 d0 = _mm256_fnmadd_ps(sc, load_i8(v + i), _mm256_loadu_ps(q + i));
    __m256 d1 = _mm256_fnmadd_ps(sc, load_i8(v + i + 8), _mm256_loadu_ps(q + i + 8));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
  }
  for (; i + 8 <= dim; i += 8) {
    __m256 d = _mm256_fnmadd_ps(sc, load_i8(v + i), _mm256_loadu_ps(q + i));
    s0 = _mm256_fmadd_ps(d, d, s0);
  }
  float s = hdb__hsum_avx2(_mm256_add_ps(s0, s1));
  for (; i < dim; i++) {
    float d = q[i] - scale * (float)v[i];
    s += d * d;
  }
  return s;
}

TGT static float k_dot_i8(const float *q, const int8_t *v, float scale, size_t dim)
{
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_i8(v + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load_i8(v + i + 8), s1);
  }
  for (; i + 8 <= dim; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_i8(v + i), s0);
  float s = hdb__hsum_avx2(_mm256_add_ps(s0, s1));
  for (; i < dim; i++)
    s += q[i] * (float)v[i];
  return scale * s;
}

TGT static void k_dot3_i8(const float *q, const int8_t *v, float scale, size_t dim, float out[3])
{
  __m256 d = _mm256_setzero_ps(), a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    __m256 x = _mm256_loadu_ps(q + i), y = load_i8(v + i);
    d = _mm256_fmadd_ps(x, y, d);
    a = _mm256_fmadd_ps(x, x, a);
    b = _mm256_fmadd_ps(y, y, b);
  }
  float sd = hdb__hsum_avx2(d), sa = hdb__hsum_avx2(a), sb = hdb__hsum_avx2(b);
  for (; i < dim; i++) {
    float y = (float)v[i];
    sd += q[i] * y;
    sa += q[i] * q[i];
    sb += y * y;
  }
  out[0] = scale * sd;
  out[1] = sa;
  out[2] = scale * scale * sb;
}

const hdb__vec_kernels hdb__vec_kernels_avx2 = {
  .level = HDB__SIMD_AVX2,
  .name = "avx2",
  .l2sq = k_l2sq,
  .dot = k_dot,
  .dot3 = k_dot3,
  .l2sq_batch = k_l2sq_batch,
  .dot_batch = k_dot_batch,
  .l2sq_f16 = k_l2sq_f16,
  .dot_f16 = k_dot_f16,
  .dot3_f16 = k_dot3_f16,
  .l2sq_i8 = k_l2sq_i8,
  .dot_i8 = k_dot_i8,
  .dot3_i8 = k_dot3_i8,
};

#endif
