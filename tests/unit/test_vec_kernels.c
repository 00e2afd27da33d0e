/*
 * test_vec_kernels.c - every distance kernel of every SIMD level this CPU
 * has, against core's double-accumulating reference (hdb__dist_*): every
 * dimension 1..70 and a spread up to 4096, unaligned starts and tails,
 * zero vectors for cosine, huge and tiny magnitudes, float16 and int8
 * storage, the batched and multi-query forms, and HANZO_SIMD.
 *
 * Tolerance: relative 1e-5 of the sum of absolute terms (for l2 that is the
 * distance itself; for dot it is sum |a_i b_i|, the scale float rounding
 * works at); cosine distances lie in [0, 2] and get an absolute 1e-5.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/distance.h"
#include "engine/vector/vec_kernels.h"
#include "../vector/vec_testdata.h"

#define MAXD 4096
#define PAD 4

static float A[MAXD + PAD], B[MAXD + PAD];

static void check(const char *what, const char *level, size_t dim, double got, double ref,
                  double scale)
{
  double tol = 1e-5 * scale + 1e-30;
  if (!(fabs(got - ref) <= tol)) {
    print_error("%s [%s] dim %zu: got %.9g want %.9g (tol %.3g)\n", what, level, dim, got, ref,
                tol);
    fail();
  }
}

static double sum_abs_prod(const float *a, const float *b, size_t dim)
{
  double s = 0;
  for (size_t i = 0; i < dim; i++)
    s += fabs((double)a[i] * (double)b[i]);
  return s;
}

static void fill(vt_rng *r, float *x, size_t dim, double scale)
{
  for (size_t i = 0; i < dim; i++)
    x[i] = (float)(scale * vt_gauss(r));
}

/* The float32 kernels and metric wrappers on a, b of `dim`. */
static void check_f32(const hdb__vec_kernels *k, const float *a, const float *b, size_t dim)
{
  double l2 = hdb__dist_l2sq(a, b, (uint32_t)dim);
  double dot = -(double)hdb__dist_dot(a, b, (uint32_t)dim);
  double cs = hdb__dist_cosine(a, b, (uint32_t)dim);
  double sab = sum_abs_prod(a, b, dim);
  check("l2sq", k->name, dim, k->l2sq(a, b, dim), l2, l2);
  check("dot", k->name, dim, k->dot(a, b, dim), dot, sab);
  float s[3];
  k->dot3(a, b, dim, s);
  check("dot3.dot", k->name, dim, s[0], dot, sab);
  check("dot3.na", k->name, dim, s[1], -(double)hdb__dist_dot(a, a, (uint32_t)dim),
        -(double)hdb__dist_dot(a, a, (uint32_t)dim));
  check("dot3.nb", k->name, dim, s[2], -(double)hdb__dist_dot(b, b, (uint32_t)dim),
        -(double)hdb__dist_dot(b, b, (uint32_t)dim));
  check("dist l2", k->name, dim, hdb__vec_dist(k, HDB_METRIC_L2, a, b, dim), l2, l2);
  check("dist default", k->name, dim, hdb__vec_dist(k, HDB_METRIC_DEFAULT, a, b, dim), l2, l2);
  check("dist dot", k->name, dim, hdb__vec_dist(k, HDB_METRIC_DOT, a, b, dim), -dot, sab);
  check("dist cosine", k->name, dim, hdb__vec_dist(k, HDB_METRIC_COSINE, a, b, dim), cs, 1.0);
}

static void check_quantized(const hdb__vec_kernels *k, vt_rng *r, size_t dim, size_t off)
{
  static uint16_t H[MAXD + PAD];
  static int8_t C[MAXD + PAD];
  static float D[MAXD + PAD];
  const float *q = A + off;
  uint16_t *h = H + off;
  int8_t *c = C + off;
  for (size_t i = 0; i < dim; i++) {
    h[i] = hdb__vec_f32_to_f16((float)vt_gauss(r));
    D[i] = hdb__vec_f16_to_f32(h[i]);
  }
  double l2 = hdb__dist_l2sq(q, D, (uint32_t)dim), dot = -(double)hdb__dist_dot(q, D, (uint32_t)dim);
  double sab = sum_abs_prod(q, D, dim);
  check("l2sq_f16", k->name, dim, k->l2sq_f16(q, h, dim), l2, l2);
  check("dot_f16", k->name, dim, k->dot_f16(q, h, dim), dot, sab);
  check("dist_f16 l2", k->name, dim, hdb__vec_dist_f16(k, HDB_METRIC_L2, q, h, dim), l2, l2);
  check("dist_f16 dot", k->name, dim, hdb__vec_dist_f16(k, HDB_METRIC_DOT, q, h, dim), -dot, sab);
  check("dist_f16 cosine", k->name, dim, hdb__vec_dist_f16(k, HDB_METRIC_COSINE, q, h, dim),
        hdb__dist_cosine(q, D, (uint32_t)dim), 1.0);
  float s[3];
  k->dot3_f16(q, h, dim, s);
  check("dot3_f16", k->name, dim, s[0], dot, sab);

  float scale = (float)(0.01 + vt_uniform(r) * 0.05);
  for (size_t i = 0; i < dim; i++) {
    c[i] = (int8_t)((int)(vt_next(r) % 255) - 127);
    D[i] = scale * (float)c[i];
  }
  l2 = hdb__dist_l2sq(q, D, (uint32_t)dim);
  dot = -(double)hdb__dist_dot(q, D, (uint32_t)dim);
  sab = sum_abs_prod(q, D, dim);
  check("l2sq_i8", k->name, dim, k->l2sq_i8(q, c, scale, dim), l2, l2);
  check("dot_i8", k->name, dim, k->dot_i8(q, c, scale, dim), dot, sab);
  check("dist_i8 dot", k->name, dim, hdb__vec_dist_i8(k, HDB_METRIC_DOT, q, c, scale, dim), -dot,
        sab);
  check("dist_i8 cosine", k->name, dim,
        hdb__vec_dist_i8(k, HDB_METRIC_COSINE, q, c, scale, dim),
        hdb__dist_cosine(q, D, (uint32_t)dim), 1.0);
  k->dot3_i8(q, c, scale, dim, s);
  check("dot3_i8", k->name, dim, s[0], dot, sab);
  check("dot3_i8.nb", k->name, dim, s[2], -(double)hdb__dist_dot(D, D, (uint32_t)dim),
        -(double)hdb__dist_dot(D, D, (uint32_t)dim));
}

static const size_t big_dims[] = {71,  96,  100, 127, 128,  129,  200,  255,  256,  257, 384,
                                  511, 512, 513, 768, 1000, 1023, 1024, 1536, 2048, 3072, 4095,
                                  4096};

static void run_level(hdb__simd_level level)
{
  const hdb__vec_kernels *k = hdb__vec_kernels_level(level);
  if (k == NULL) {
    print_message("level %d not available on this CPU: skipped\n", (int)level);
    return;
  }
  vt_rng r = {1000 + (uint64_t)level};
  size_t n_dims = 70 + sizeof big_dims / sizeof big_dims[0];
  for (size_t di = 0; di < n_dims; di++) {
    size_t dim = di < 70 ? di + 1 : big_dims[di - 70];
    for (size_t off = 0; off < PAD; off++) {
      float *a = A + off, *b = B + (PAD - 1 - off);
      fill(&r, a, dim, 1.0);
      fill(&r, b, dim, 1.0);
      check_f32(k, a, b, dim);
      check_quantized(k, &r, dim, off);
    }
  }
  /* dim 0: empty sums */
  assert_true(k->l2sq(A, B, 0) == 0.0f);
  assert_true(k->dot(A, B, 0) == 0.0f);
  assert_true(hdb__vec_dist(k, HDB_METRIC_COSINE, A, B, 0) == 1.0f);
}

static void test_scalar(void **state)
{
  (void)state;
  run_level(HDB__SIMD_SCALAR);
}

static void test_avx2(void **state)
{
  (void)state;
  run_level(HDB__SIMD_AVX2);
}

static void test_avx512(void **state)
{
  (void)state;
  run_level(HDB__SIMD_AVX512);
}

/* Zeros, identical and opposite vectors, huge and tiny magnitudes. */
static void test_edge_cases(void **state)
{
  (void)state;
  vt_rng r = {77};
  for (int lv = HDB__SIMD_SCALAR; lv <= HDB__SIMD_AVX512; lv++) {
    const hdb__vec_kernels *k = hdb__vec_kernels_level((hdb__simd_level)lv);
    if (k == NULL)
      continue;
    const size_t dims[] = {1, 7, 8, 15, 16, 17, 33, 64, 65, 1000};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
      size_t dim = dims[di];
      float *a = A + 1, *b = B + 3;
      fill(&r, a, dim, 1.0);
      memset(b, 0, dim * sizeof *b);
      /* one zero vector, then two */
      assert_true(hdb__vec_dist(k, HDB_METRIC_COSINE, a, b, dim) == 1.0f);
      assert_true(hdb__vec_dist(k, HDB_METRIC_COSINE, b, a, dim) == 1.0f);
      assert_true(hdb__vec_dist(k, HDB_METRIC_COSINE, b, b, dim) == 1.0f);
      check_f32(k, a, b, dim);
      /* identical and opposite */
      memcpy(b, a, dim * sizeof *b);
      check_f32(k, a, b, dim);
      assert_true(k->l2sq(a, b, dim) == 0.0f);
      for (size_t i = 0; i < dim; i++)
        b[i] = -a[i];
      check_f32(k, a, b, dim);
      /* large magnitudes (no overflow in float) and tiny ones (norms
       * underflow float: cosine takes the double path) */
      const double scales[] = {1e15, 1e8, 1e-12, 1e-20, 1e-30};
      for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        fill(&r, a, dim, scales[s]);
        fill(&r, b, dim, scales[s]);
        double cs = hdb__dist_cosine(a, b, (uint32_t)dim);
        check("cosine scaled", k->name, dim, hdb__vec_dist(k, HDB_METRIC_COSINE, a, b, dim), cs,
              1.0);
        if (scales[s] >= 1e-12)
          check_f32(k, a, b, dim);
      }
      /* mixed magnitudes within a vector */
      for (size_t i = 0; i < dim; i++) {
        a[i] = (float)(vt_gauss(&r) * pow(10.0, (double)(vt_next(&r) % 13) - 6.0));
        b[i] = (float)(vt_gauss(&r) * pow(10.0, (double)(vt_next(&r) % 13) - 6.0));
      }
      check_f32(k, a, b, dim);
    }
  }
}

static void test_batch_and_multi(void **state)
{
  (void)state;
  enum { N = 37, NQ = 5, STRIDE_EXTRA = 3 };
  const size_t dims[] = {1, 3, 16, 31, 64, 100, 768};
  static float base[N * (768 + STRIDE_EXTRA)], qs[NQ * 768], out[NQ * N];
  vt_rng r = {5};
  for (int lv = HDB__SIMD_SCALAR; lv <= HDB__SIMD_AVX512; lv++) {
    const hdb__vec_kernels *k = hdb__vec_kernels_level((hdb__simd_level)lv);
    if (k == NULL)
      continue;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
      size_t dim = dims[di], stride = dim + STRIDE_EXTRA;
      fill(&r, base, N * stride, 1.0);
      fill(&r, qs, NQ * dim, 1.0);
      k->l2sq_batch(qs, base, N, stride, dim, out);
      for (size_t i = 0; i < N; i++)
        check("l2sq_batch", k->name, dim, out[i], k->l2sq(qs, base + i * stride, dim),
              k->l2sq(qs, base + i * stride, dim));
      k->dot_batch(qs, base, N, stride, dim, out);
      for (size_t i = 0; i < N; i++)
        check("dot_batch", k->name, dim, out[i],
              -(double)hdb__dist_dot(qs, base + i * stride, (uint32_t)dim),
              sum_abs_prod(qs, base + i * stride, dim));
      const hdb_metric metrics[] = {HDB_METRIC_L2, HDB_METRIC_COSINE, HDB_METRIC_DOT};
      for (size_t m = 0; m < 3; m++) {
        hdb__vec_dist_batch(k, metrics[m], qs, base, N, stride, dim, out);
        for (size_t i = 0; i < N; i++) {
          double ref = hdb__distance(metrics[m], qs, base + i * stride, (uint32_t)dim);
          double scale = metrics[m] == HDB_METRIC_COSINE ? 1.0
                         : metrics[m] == HDB_METRIC_L2   ? ref
                                                         : sum_abs_prod(qs, base + i * stride, dim);
          check("dist_batch", k->name, dim, out[i], ref, scale);
        }
        /* multi: contiguous rows (stride = dim) */
        hdb__vec_dist_multi(k, metrics[m], qs, NQ, base, N, dim, out);
        for (size_t j = 0; j < NQ; j++)
          for (size_t i = 0; i < N; i++) {
            double ref = hdb__distance(metrics[m], qs + j * dim, base + i * dim, (uint32_t)dim);
            double scale = metrics[m] == HDB_METRIC_COSINE ? 1.0
                           : metrics[m] == HDB_METRIC_L2
                             ? ref
                             : sum_abs_prod(qs + j * dim, base + i * dim, dim);
            check("dist_multi", k->name, dim, out[j * N + i], ref, scale);
          }
      }
    }
  }
}

static void test_f16_conversion(void **state)
{
  (void)state;
  /* every finite half survives a round trip through float */
  for (uint32_t h = 0; h < 65536; h++) {
    if ((h & 0x7C00u) == 0x7C00u && (h & 0x3FFu) != 0)
      continue; /* NaN payloads */
    assert_int_equal(hdb__vec_f32_to_f16(hdb__vec_f16_to_f32((uint16_t)h)), h);
  }
  assert_true(hdb__vec_f16_to_f32(0x3C00) == 1.0f);
  assert_true(hdb__vec_f16_to_f32(0xC000) == -2.0f);
  assert_true(hdb__vec_f16_to_f32(0x7BFF) == 65504.0f);
  assert_true(hdb__vec_f16_to_f32(0x0001) == 5.9604644775390625e-8f);
  assert_int_equal(hdb__vec_f32_to_f16(65520.0f), 0x7C00); /* rounds to infinity */
  assert_int_equal(hdb__vec_f32_to_f16(65519.0f), 0x7BFF);
  assert_int_equal(hdb__vec_f32_to_f16(1e-9f), 0x0000);  /* below half the smallest subnormal */
  assert_int_equal(hdb__vec_f32_to_f16(-0.0f), 0x8000);
  assert_int_equal(hdb__vec_f32_to_f16(1.0f + 1.0f / 2048.0f), 0x3C00); /* tie to even */
  assert_int_equal(hdb__vec_f32_to_f16(1.0f + 3.0f / 2048.0f), 0x3C02);
  assert_true(isnan(hdb__vec_f16_to_f32(hdb__vec_f32_to_f16(NAN))));
  assert_true(isinf(hdb__vec_f16_to_f32(hdb__vec_f32_to_f16(INFINITY))));
  /* the SIMD conversion (vcvtph2ps) agrees with the portable one */
  for (int lv = HDB__SIMD_AVX2; lv <= HDB__SIMD_AVX512; lv++) {
    const hdb__vec_kernels *k = hdb__vec_kernels_level((hdb__simd_level)lv);
    if (k == NULL)
      continue;
    static uint16_t hs[64];
    static float one[64];
    for (uint32_t base = 0; base < 65536; base += 64) {
      size_t n = 0;
      for (uint32_t h = base; h < base + 64; h++)
        if ((h & 0x7C00u) != 0x7C00u) /* finite only */
          hs[n++] = (uint16_t)h;
      for (size_t i = 0; i < n; i++) {
        memset(one, 0, sizeof one);
        one[i] = 1.0f;
        assert_true(k->dot_f16(one, hs, n) == hdb__vec_f16_to_f32(hs[i]));
      }
    }
  }
}

/* HANZO_SIMD lowers the level chosen for the process (read once). */
static void test_dispatch_env(void **state)
{
  (void)state;
  hdb__simd_level best = hdb__vec_simd_detect();
  assert_non_null(hdb__vec_kernels_level(HDB__SIMD_SCALAR));
  assert_true(hdb__vec_kernels_level(best) != NULL);
  if (best < HDB__SIMD_AVX512)
    assert_null(hdb__vec_kernels_level(HDB__SIMD_AVX512));
  const char *forced = getenv("HANZO_SIMD");
  if (forced == NULL) {
    setenv("HANZO_SIMD", "scalar", 1);
    assert_int_equal(hdb__vec_kernels_get()->level, HDB__SIMD_SCALAR);
    unsetenv("HANZO_SIMD");
    assert_int_equal(hdb__vec_kernels_get()->level, HDB__SIMD_SCALAR); /* chosen once */
  } else {
    hdb__simd_level want = strcmp(forced, "scalar") == 0 ? HDB__SIMD_SCALAR
                           : strcmp(forced, "avx2") == 0 ? HDB__SIMD_AVX2
                                                         : HDB__SIMD_AVX512;
    assert_int_equal(hdb__vec_kernels_get()->level, want < best ? want : best);
  }
  print_message("best level on this CPU: %s\n", hdb__vec_kernels_level(best)->name);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dispatch_env),   cmocka_unit_test(test_scalar),
    cmocka_unit_test(test_avx2),           cmocka_unit_test(test_avx512),
    cmocka_unit_test(test_edge_cases),     cmocka_unit_test(test_batch_and_multi),
    cmocka_unit_test(test_f16_conversion),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
