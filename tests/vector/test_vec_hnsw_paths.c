/*
 * test_vec_hnsw_paths.c - the specialised HNSW search loops
 * (vec_hnsw_layer.h instantiated per kernel level, with dimension 128 and
 * 768 as constants) against the exact scan, which computes its distances
 * through the kernel table: for every SIMD level this CPU has, the three
 * metrics and dimensions 128, 768 and 100 (the generic loop), every
 * distance a wide search returns must be bit-identical to the table's
 * (hnsw_dist), i.e. the inlined kernels compute the table's floats, and
 * recall@10 must reach 0.95 (dot is not a metric: a node or two may be
 * unreachable, so not 1). Also the 16-bit visited tags:
 * more than 65,535 searches on one context (a wrap clears the tags) give
 * the same answers as the first search.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/vector/vec_hnsw_int.h"
#include "vec_testdata.h"

enum { N = 400, NQ = 12, K = 10 };

static void check_level(hdb__simd_level level, uint32_t dim, hdb_metric metric)
{
  float *base = malloc((size_t)N * dim * sizeof *base);
  float *qs = malloc((size_t)NQ * dim * sizeof *qs);
  assert_true(base && qs);
  assert_int_equal(vt_mixture(base, N, dim, 8, 0.5, 7, 8), 0);
  assert_int_equal(vt_mixture(qs, NQ, dim, 8, 0.5, 7, 9), 0);
  hdb__hnsw_params p = {.m = 8, .ef_construction = 64};
  hdb__hnsw *idx;
  assert_int_equal(hdb__hnsw_new(dim, metric, &p, &idx, NULL), HDB_OK);
  idx->k = hdb__vec_kernels_level(level); /* the build and the search run on it */
  assert_int_equal(hdb__hnsw_add(idx, base, NULL, 0, N, 1, NULL), HDB_OK);
  hdb__hnsw_ctx *ctx, *ref;
  assert_int_equal(hdb__hnsw_ctx_new(idx, &ctx, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_ctx_new(idx, &ref, NULL), HDB_OK);
  int hit = 0;
  for (size_t q = 0; q < NQ; q++) {
    hdb__vec_hit a[K], b[K];
    uint32_t na, nb;
    assert_int_equal(hdb__hnsw_search(idx, ctx, qs + q * dim, K, N, NULL, a, &na, NULL), HDB_OK);
    assert_int_equal(hdb__hnsw_search_exact(idx, ctx, qs + q * dim, K, NULL, b, &nb, NULL),
                     HDB_OK);
    assert_int_equal(na, K);
    assert_int_equal(nb, K);
    const float *qn = hdb__hnsw_prepare_query(idx, ref, qs + q * dim);
    for (size_t i = 0; i < K; i++) {
      float want = hnsw_dist(idx, qn, hnsw_vec(idx, (uint32_t)a[i].id)); /* id = node */
      if (a[i].dist != want)
        fail_msg("level %d dim %u metric %d query %zu rank %zu: node %llu at %.9g, table %.9g",
                 (int)level, dim, (int)metric, q, i, (unsigned long long)a[i].id, a[i].dist,
                 want);
      for (size_t j = 0; j < K; j++)
        hit += a[i].id == b[j].id;
    }
  }
  if (hit < 0.95 * NQ * K)
    fail_msg("level %d dim %u metric %d: recall@10 %.3f", (int)level, dim, (int)metric,
             (double)hit / (NQ * K));
  hdb__hnsw_ctx_free(ref);
  hdb__hnsw_ctx_free(ctx);
  hdb__hnsw_free(idx);
  free(base);
  free(qs);
}

static void test_levels_match_exact(void **state)
{
  (void)state;
  static const uint32_t dims[] = {128, 768, 100};
  static const hdb_metric metrics[] = {HDB_METRIC_L2, HDB_METRIC_COSINE, HDB_METRIC_DOT};
  hdb__simd_level top = hdb__vec_simd_detect();
  for (int level = HDB__SIMD_SCALAR; level <= (int)top; level++)
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
      for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++)
        check_level((hdb__simd_level)level, dims[d], metrics[m]);
}

static void test_visited_tags_wrap(void **state)
{
  (void)state;
  enum { DIM = 16, ROUNDS = 66000 };
  float *base = malloc((size_t)N * DIM * sizeof *base);
  float q[DIM];
  assert_non_null(base);
  assert_int_equal(vt_mixture(base, N, DIM, 8, 0.5, 3, 4), 0);
  assert_int_equal(vt_mixture(q, 1, DIM, 8, 0.5, 3, 5), 0);
  hdb__hnsw *idx;
  assert_int_equal(hdb__hnsw_new(DIM, HDB_METRIC_L2, NULL, &idx, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_add(idx, base, NULL, 0, N, 1, NULL), HDB_OK);
  hdb__hnsw_ctx *ctx;
  assert_int_equal(hdb__hnsw_ctx_new(idx, &ctx, NULL), HDB_OK);
  hdb__vec_hit first[K], again[K];
  uint32_t n1, n2;
  assert_int_equal(hdb__hnsw_search(idx, ctx, q, K, 16, NULL, first, &n1, NULL), HDB_OK);
  int wrapped = 0;
  for (uint32_t r = 0; r < ROUNDS; r++) {
    uint32_t before = ctx->epoch;
    assert_int_equal(hdb__hnsw_search(idx, ctx, q, K, 16, NULL, again, &n2, NULL), HDB_OK);
    wrapped |= ctx->epoch < before;
    assert_int_equal(n1, n2);
    assert_memory_equal(first, again, n1 * sizeof first[0]);
  }
  assert_true(wrapped);
  hdb__hnsw_ctx_free(ctx);
  hdb__hnsw_free(idx);
  free(base);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_levels_match_exact),
    cmocka_unit_test(test_visited_tags_wrap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
