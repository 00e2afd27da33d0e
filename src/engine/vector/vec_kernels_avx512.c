/*
 * vec_kernels_avx512.c - AVX-512F distance kernels.
 *
 * Every function carries target("avx512f") so this file builds with the
 * library's plain flags; vec_kernels.c installs the table only after
 * __builtin_cpu_supports("avx512f"). Main loops run four 16-lane
 * accumulators (64 floats per step) to hide FMA latency; the tail is one
 * masked load, which reads no byte past dim (masked lanes do not fault).
 * float16 uses vcvtph2ps and int8 vpmovsxbd, both in AVX-512F; their tails
 * go through a zero-padded 16-element stack buffer.
 */
#include "vec_kernels.h"
#include "vec_kernels_row.h"

#ifdef HDB__VEC_HAVE_X86

#include <immintrin.h>
#include <string.h>

#define TGT __attribute__((target("avx512f")))
#define TGT_INLINE __attribute__((target("avx512f"), always_inline)) static inline

TGT static float k_l2sq(const float *a, const float *b, size_t dim)
{
  return hdb__l2sq_row_avx512(a, b, dim);
}

TGT static float k_dot(const float *a, const float *b, size_t dim)
{
  return hdb__dot_row_avx512(a, b, dim);
}

TGT static void k_dot3(const float *a, const float *b, size_t dim, float out[3])
{
  __m512 d0 = _mm512_setzero_ps(), d1 = _mm512_setzero_ps();
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m512 x0 = _mm512_loadu_ps(a + i), y0 = _mm512_loadu_ps(b + i);
    __m512 x1 = _mm512_loadu_ps(a + i + 16), y1 = _mm512_loadu_ps(b + i + 16);
    d0 = _mm512_fmadd_ps(x0, y0, d0);
    d1 = _mm512_fmadd_ps(x1, y1, d1);
    a0 = _mm512_fmadd_ps(x0, x0, a0);
    a1 = _mm512_fmadd_ps(x1, x1, a1);
    b0 = _mm512_fmadd_ps(y0, y0, b0);
    b1 = _mm512_fmadd_ps(y1, y1, b1);
  }
  for (; i < dim; i += 16) {
    __mmask16 m = dim - i >= 16 ? (__mmask16)0xFFFF : hdb__tail_mask_avx512(dim - i);
    __m512 x = _mm512_maskz_loadu_ps(m, a + i), y = _mm512_maskz_loadu_ps(m, b + i);
    d0 = _mm512_fmadd_ps(x, y, d0);
    a0 = _mm512_fmadd_ps(x, x, a0);
    b0 = _mm512_fmadd_ps(y, y, b0);
  }
  out[0] = _mm512_reduce_add_ps(_mm512_add_ps(d0, d1));
  out[1] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
  out[2] = _mm512_reduce_add_ps(_mm512_add_ps(b0, b1));
}

/* Rows are streamed in order; the hardware prefetcher follows a linear
 * walk, and an explicit prefetch two rows ahead covers the first lines of
 * each row when the stride is not a multiple of the line size. */
TGT static void k_l2sq_batch(const float *q, const float *base, size_t n, size_t stride,
                             size_t dim, float *out)
{
  for (size_t i = 0; i < n; i++) {
    if (i + 2 < n)
      __builtin_prefetch(base + (i + 2) * stride);
    out[i] = hdb__l2sq_row_avx512(q, base + i * stride, dim);
  }
}

TGT static void k_dot_batch(const float *q, const float *base, size_t n, size_t stride,
                            size_t dim, float *out)
{
  for (size_t i = 0; i < n; i++) {
    if (i + 2 < n)
      __builtin_prefetch(base + (i + 2) * stride);
    out[i] = hdb__dot_row_avx512(q, base + i * stride, dim);
  }
}

/* Loads 16 halves (or the zero-padded tail) as 16 floats. */
TGT_INLINE __m512 load_f16(const uint16_t *v, size_t left)
{
  if (left >= 16)
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)v));
  uint16_t tmp[16] = {0};
  memcpy(tmp, v, left * sizeof *v);
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)tmp));
}

TGT_INLINE __m512 load_i8(const int8_t *v, size_t left)
{
  if (left >= 16)
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)v)));
  int8_t tmp[16] = {0};
  memcpy(tmp, v, left);
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)tmp)));
}

TGT static float k_l2sq_f16(const float *q, const uint16_t *v, size_t dim)
{
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(q + i), load_f16(v + i, 16));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(q + i + 16), load_f16(v + i + 16, 16));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
  }
  for (; i < dim; i += 16) {
    size_t left = dim - i;
    __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : hdb__tail_mask_avx512(left);
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q + i), load_f16(v + i, left));
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

TGT static void k_dot3_f16(const float *q, const uint16_t *v, size_t dim, float out[3])
{
  __m512 d = _mm512_setzero_ps(), a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
  for (size_t i = 0; i < dim; i += 16) {
    size_t left = dim - i;
    __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : hdb__tail_mask_avx512(left);
    __m512 x = _mm512_maskz_loadu_ps(m, q + i), y = load_f16(v + i, left);
    d = _mm512_fmadd_ps(x, y, d);
    a = _mm512_fmadd_ps(x, x, a);
    b = _mm512_fmadd_ps(y, y, b);
  }
  out[0] = _mm512_reduce_add_ps(d);
  out[1] = _mm512_reduce_add_ps(a);
  out[2] = _mm512_reduce_add_ps(b);
}

TGT static float k_dot_f16(const float *q, const uint16_t *v, size_t dim)
{
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load_f16(v + i, 16), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), load_f16(v + i + 16, 16), s1);
  }
  for (; i < dim; i += 16) {
    size_t left = dim - i;
    __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : hdb__tail_mask_avx512(left);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), load_f16(v + i, left), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

TGT static float k_l2sq_i8(const float *q, const int8_t *v, float scale, size_t dim)
{
  __m512 sc = _mm512_set1_ps(scale);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m512 d0 = _mm512_fnmadd_ps(sc, load_i8(v + i, 16), _mm512_loadu_ps(q + i));
    __m512 d1 = _mm512_fnmadd_ps(sc, load_i8(v + i + 16, 16), _mm512_loadu_ps(q + i + 16));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
  }
  for (; i < dim; i += 16) {
    size_t left = dim - i;
    __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : hdb__tail_mask_avx512(left);
    __m512 d = _mm512_fnmadd_ps(sc, load_i8(v + i, left), _mm512_maskz_loadu_ps(m, q + i));
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

TGT static float k_dot_i8(const float *q, const int8_t *v, float scale, size_t dim)
{
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load_i8(v + i, 16), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), load_i8(v + i + 16, 16), s1);
  }
  for (; i < dim; i += 16) {
    size_t left = dim - i;
    __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : hdb__tail_mask_avx512(left);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), load_i8(v + i, left), s0);
  }
  return scale * _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

TGT static void k_dot3_i8(const float *q, const int8_t *v, float scale, size_t dim, float out[3])
{
  __m512 d = _mm512_setzero_ps(), a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
  for (size_t i = 0; i < dim; i += 16) {
    size_t left = dim - i;
    __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : hdb__tail_mask_avx512(left);
    __m512 x = _mm512_maskz_loadu_ps(m, q + i), y = load_i8(v + i, left);
    d = _mm512_fmadd_ps(x, y, d);
    a = _mm512_fmadd_ps(x, x, a);
    b = _mm512_fmadd_ps(y, y, b);
  }
  out[0] = scale * _mm512_reduce_add_ps(d);
  out[1] = _mm512_reduce_add_ps(a);
  out[2] = scale * scale * _mm512_reduce_add_ps(b);
}

const hdb__vec_kernels hdb__vec_kernels_avx512 = {
  .level = HDB__SIMD_AVX512,
  .name = "avx512",
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
