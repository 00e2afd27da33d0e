/*
 * test_vec_flat.c - the exact top-k scan: agreement with a sort of every
 * distance, ties by id, the same answer on 1, 2 and 7 threads, filters
 * (bitmap and callback) returning min(k, matches), several queries at once,
 * bad arguments and failing allocations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/distance.h"
#include "engine/vector/vec_flat.h"
#include "../vector/vec_testdata.h"

/* Every distance with the same kernels, sorted by (dist, id): the truth. */
static size_t brute(const hdb__vec_flat *f, const float *q, uint32_t k, hdb__vec_hit *out)
{
  const hdb__vec_kernels *kern = f->kernels ? f->kernels : hdb__vec_kernels_get();
  hdb__vec_hit *all = malloc((f->n + 1) * sizeof *all);
  assert_non_null(all);
  size_t m = 0, stride = f->stride ? f->stride : f->dim;
  for (size_t i = 0; i < f->n; i++) {
    uint64_t id = f->ids ? f->ids[i] : f->first_id + i;
    if (!hdb__vec_filter_pass(f->filter, id))
      continue;
    all[m].id = id;
    all[m++].dist = hdb__vec_dist(kern, f->metric, q, f->base + i * stride, f->dim);
  }
  hdb__vec_hits_sort(all, m);
  size_t r = m < k ? m : k;
  memcpy(out, all, r * sizeof *out);
  free(all);
  return r;
}

static void same_hits(const hdb__vec_hit *a, const hdb__vec_hit *b, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(a[i].id, b[i].id);
    assert_true(a[i].dist == b[i].dist);
  }
}

static void test_matches_brute_force(void **state)
{
  (void)state;
  enum { N = 3000, DIM = 33, NQ = 7, K = 25 };
  float *base = malloc(N * DIM * sizeof *base), qs[NQ * DIM];
  assert_non_null(base);
  assert_int_equal(vt_mixture(base, N, DIM, 10, 0.4, 1, 2), 0);
  assert_int_equal(vt_mixture(qs, NQ, DIM, 10, 0.4, 1, 3), 0);
  const hdb_metric metrics[] = {HDB_METRIC_L2, HDB_METRIC_COSINE, HDB_METRIC_DOT};
  hdb__vec_hit out[NQ * K], want[K];
  uint32_t n_out[NQ];
  for (size_t m = 0; m < 3; m++) {
    hdb__vec_flat f = {.base = base, .n = N, .dim = DIM, .metric = metrics[m], .threads = 1};
    assert_int_equal(hdb__vec_flat_search(&f, qs, NQ, K, out, n_out, NULL), HDB_OK);
    for (size_t q = 0; q < NQ; q++) {
      assert_int_equal(n_out[q], K);
      assert_int_equal(brute(&f, qs + q * DIM, K, want), K);
      same_hits(out + q * K, want, K);
      /* and the distances are the reference's */
      for (size_t i = 0; i < K; i++) {
        double ref = hdb__distance(metrics[m], qs + q * DIM, base + out[q * K + i].id * DIM, DIM);
        assert_true(fabs(out[q * K + i].dist - ref) <= 1e-4 * (fabs(ref) + 1.0));
      }
    }
  }
  /* k above n: every row, sorted */
  hdb__vec_hit *many = malloc((N + 10) * sizeof *many);
  hdb__vec_flat f = {.base = base, .n = 40, .dim = DIM, .first_id = 1000};
  assert_int_equal(hdb__vec_flat_search(&f, qs, 1, N + 10, many, n_out, NULL), HDB_OK);
  assert_int_equal(n_out[0], 40);
  for (size_t i = 1; i < 40; i++)
    assert_true(hdb__vec_hit_less(many[i - 1], many[i]));
  assert_true(many[0].id >= 1000 && many[0].id < 1040);
  /* no rows */
  f.n = 0;
  assert_int_equal(hdb__vec_flat_search(&f, qs, 1, 5, many, n_out, NULL), HDB_OK);
  assert_int_equal(n_out[0], 0);
  free(many);
  free(base);
}

static void test_ties_by_id(void **state)
{
  (void)state;
  enum { N = 500, DIM = 8 };
  float base[N * DIM], q[DIM] = {0};
  for (size_t i = 0; i < N * DIM; i++)
    base[i] = 1.0f; /* every row at the same distance */
  uint64_t ids[N];
  for (size_t i = 0; i < N; i++)
    ids[i] = 10000 - 3 * i; /* descending ids */
  hdb__vec_hit out[10];
  uint32_t n_out;
  hdb__vec_flat f = {.base = base, .n = N, .dim = DIM, .ids = ids, .threads = 3};
  assert_int_equal(hdb__vec_flat_search(&f, q, 1, 10, out, &n_out, NULL), HDB_OK);
  assert_int_equal(n_out, 10);
  for (size_t i = 0; i < 10; i++) {
    assert_int_equal(out[i].id, ids[N - 1 - i]); /* smallest ids first */
    assert_true(out[i].dist == 8.0f);
  }
}

static void test_threads_agree(void **state)
{
  (void)state;
  enum { N = 60000, DIM = 32, NQ = 3, K = 50 };
  float *base = malloc((size_t)N * DIM * sizeof *base), qs[NQ * DIM];
  assert_non_null(base);
  assert_int_equal(vt_mixture(base, N, DIM, 20, 0.5, 7, 8), 0);
  assert_int_equal(vt_mixture(qs, NQ, DIM, 20, 0.5, 7, 9), 0);
  hdb__vec_hit a[NQ * K], b[NQ * K];
  uint32_t na[NQ], nb[NQ];
  hdb__vec_flat f = {.base = base, .n = N, .dim = DIM, .threads = 1};
  assert_int_equal(hdb__vec_flat_search(&f, qs, NQ, K, a, na, NULL), HDB_OK);
  const uint32_t threads[] = {0, 2, 7, 64};
  for (size_t t = 0; t < 4; t++) {
    f.threads = threads[t];
    assert_int_equal(hdb__vec_flat_search(&f, qs, NQ, K, b, nb, NULL), HDB_OK);
    for (size_t q = 0; q < NQ; q++) {
      assert_int_equal(na[q], nb[q]);
      same_hits(a + q * K, b + q * K, K);
    }
  }
  free(base);
}

static int every_third(void *ctx, uint64_t id)
{
  (void)ctx;
  return id % 3 == 0;
}

static void test_filters(void **state)
{
  (void)state;
  enum { N = 20000, DIM = 16, K = 10 };
  float *base = malloc((size_t)N * DIM * sizeof *base), q[DIM];
  uint64_t *bits = calloc((N + 63) / 64, sizeof *bits);
  assert_non_null(base);
  assert_non_null(bits);
  assert_int_equal(vt_mixture(base, N, DIM, 10, 0.5, 3, 4), 0);
  assert_int_equal(vt_mixture(q, 1, DIM, 10, 0.5, 3, 5), 0);
  const double sel[] = {1.0, 0.5, 0.1, 0.01, 0.001, 0.0003, 0.0};
  vt_rng r = {11};
  hdb__vec_hit out[K], want[K];
  uint32_t n_out;
  for (size_t s = 0; s < sizeof sel / sizeof sel[0]; s++) {
    memset(bits, 0, (N + 63) / 64 * sizeof *bits);
    size_t matches = 0;
    for (size_t i = 0; i < N; i++)
      if (vt_uniform(&r) < sel[s]) {
        bits[i / 64] |= UINT64_C(1) << (i % 64);
        matches++;
      }
    hdb__vec_filter flt = {.bits = bits, .n_bits = N};
    for (uint32_t threads = 1; threads <= 2; threads++) {
      hdb__vec_flat f = {.base = base, .n = N, .dim = DIM, .filter = &flt, .threads = threads};
      assert_int_equal(hdb__vec_flat_search(&f, q, 1, K, out, &n_out, NULL), HDB_OK);
      assert_int_equal(n_out, matches < K ? matches : K);
      assert_int_equal(brute(&f, q, K, want), n_out);
      same_hits(out, want, n_out);
    }
  }
  /* callback, alone and with a bitmap; a short bitmap excludes the rest */
  hdb__vec_filter cb = {.fn = every_third};
  hdb__vec_flat f = {.base = base, .n = N, .dim = DIM, .filter = &cb, .threads = 2};
  assert_int_equal(hdb__vec_flat_search(&f, q, 1, K, out, &n_out, NULL), HDB_OK);
  assert_int_equal(n_out, K);
  for (size_t i = 0; i < K; i++)
    assert_int_equal(out[i].id % 3, 0);
  memset(bits, 0xFF, (N + 63) / 64 * sizeof *bits);
  hdb__vec_filter both = {.bits = bits, .n_bits = 30, .fn = every_third};
  f.filter = &both;
  assert_int_equal(hdb__vec_flat_search(&f, q, 1, K, out, &n_out, NULL), HDB_OK);
  assert_int_equal(n_out, 10); /* 0, 3, ..., 27 */
  for (size_t i = 0; i < n_out; i++)
    assert_true(out[i].id < 30 && out[i].id % 3 == 0);
  free(bits);
  free(base);
}

static void test_errors_and_nomem(void **state)
{
  (void)state;
  float base[64 * 4], q[4] = {1, 2, 3, 4};
  for (size_t i = 0; i < 64 * 4; i++)
    base[i] = (float)i;
  hdb__vec_hit out[5];
  uint32_t n_out;
  hdb_error err;
  hdb__vec_flat f = {.base = base, .n = 64, .dim = 4, .threads = 2};
  assert_int_equal(hdb__vec_flat_search(&f, q, 1, 0, out, &n_out, &err), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__vec_flat_search(NULL, q, 1, 5, out, &n_out, &err), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__vec_flat_search(&f, NULL, 1, 5, out, &n_out, &err), HDB_INVALID_ARGUMENT);
  f.dim = 0;
  assert_int_equal(hdb__vec_flat_search(&f, q, 1, 5, out, &n_out, &err), HDB_INVALID_ARGUMENT);
  f.dim = 4;
  int failures = 0;
  for (long i = 0;; i++) {
    hdb__alloc_fail_after(i);
    hdb_status st = hdb__vec_flat_search(&f, q, 1, 5, out, &n_out, &err);
    hdb__alloc_fail_after(-1);
    if (st == HDB_OK)
      break;
    assert_int_equal(st, HDB_NOMEM);
    failures++;
  }
  assert_true(failures > 0);
  assert_int_equal(out[0].id, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_matches_brute_force), cmocka_unit_test(test_ties_by_id),
    cmocka_unit_test(test_threads_agree),       cmocka_unit_test(test_filters),
    cmocka_unit_test(test_errors_and_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
