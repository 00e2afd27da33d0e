/*
 * test_vec_hnsw_large.c - the slow recall test (label "slow"): 100k x 128
 * Gaussian mixture, parallel build at default parameters, recall@10 >= 0.95
 * against the exact scan, then save -> mmap open -> identical results.
 * HDB_VEC_LARGE_N overrides the row count (e.g. for a quicker local run).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "engine/vector/vec_flat.h"
#include "engine/vector/vec_hnsw.h"
#include "vec_testdata.h"

enum { DIM = 128, NQ = 500, K = 10, CLUSTERS = 100 };

static double now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void test_recall_large(void **state)
{
  (void)state;
  size_t n = 100000;
  const char *env = getenv("HDB_VEC_LARGE_N");
  if (env != NULL && atol(env) > 0)
    n = (size_t)atol(env);
  float *base = malloc(n * DIM * sizeof *base), *qs = malloc(NQ * DIM * sizeof *qs);
  hdb__vec_hit *truth = malloc(NQ * K * sizeof *truth);
  uint32_t *nt = malloc(NQ * sizeof *nt);
  assert_true(base && qs && truth && nt);
  assert_int_equal(vt_mixture(base, n, DIM, CLUSTERS, 0.5, 11, 12), 0);
  assert_int_equal(vt_mixture(qs, NQ, DIM, CLUSTERS, 0.5, 11, 13), 0);
  hdb__vec_flat f = {.base = base, .n = n, .dim = DIM};
  double t0 = now();
  assert_int_equal(hdb__vec_flat_search(&f, qs, NQ, K, truth, nt, NULL), HDB_OK);
  double t_flat = now() - t0;

  hdb__hnsw *idx;
  assert_int_equal(hdb__hnsw_new(DIM, HDB_METRIC_L2, NULL, &idx, NULL), HDB_OK);
  t0 = now();
  assert_int_equal(hdb__hnsw_add(idx, base, NULL, 0, n, 0, NULL), HDB_OK);
  double t_build = now() - t0;

  char path[256];
  const char *dir = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/hdb_vec_large_%ld.hnsw", dir ? dir : "/tmp", (long)getpid());
  assert_int_equal(hdb__hnsw_save(idx, path, NULL), HDB_OK);
  hdb__hnsw *m;
  t0 = now();
  assert_int_equal(hdb__hnsw_open(path, &m, NULL), HDB_OK);
  double t_open = now() - t0;

  hdb__hnsw_ctx *c1, *c2;
  assert_int_equal(hdb__hnsw_ctx_new(idx, &c1, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_ctx_new(m, &c2, NULL), HDB_OK);
  size_t hit = 0;
  t0 = now();
  for (size_t q = 0; q < NQ; q++) {
    hdb__vec_hit a[K];
    uint32_t na;
    assert_int_equal(hdb__hnsw_search(idx, c1, qs + q * DIM, K, 0, NULL, a, &na, NULL), HDB_OK);
    assert_int_equal(na, K);
    for (size_t i = 0; i < K; i++)
      for (size_t j = 0; j < K; j++)
        if (a[i].id == truth[q * K + j].id) {
          hit++;
          break;
        }
  }
  double t_search = now() - t0;
  for (size_t q = 0; q < NQ; q++) {
    hdb__vec_hit a[K], b[K];
    uint32_t na, nb;
    assert_int_equal(hdb__hnsw_search(idx, c1, qs + q * DIM, K, 0, NULL, a, &na, NULL), HDB_OK);
    assert_int_equal(hdb__hnsw_search(m, c2, qs + q * DIM, K, 0, NULL, b, &nb, NULL), HDB_OK);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
      assert_int_equal(a[i].id, b[i].id);
      assert_true(a[i].dist == b[i].dist);
    }
  }
  double recall = (double)hit / (NQ * K);
  print_message("%zu x %d: build %.2fs, recall@10 %.4f at ef_search 64 (%.0f queries/s), "
                "exact scan %.2fs for %d queries, open %.3fs\n",
                n, DIM, t_build, recall, NQ / t_search, t_flat, NQ, t_open);
  assert_true(recall >= 0.95);
  hdb__hnsw_ctx_free(c1);
  hdb__hnsw_ctx_free(c2);
  hdb__hnsw_free(m);
  hdb__hnsw_free(idx);
  unlink(path);
  free(base);
  free(qs);
  free(truth);
  free(nt);
}

int main(void)
{
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_recall_large)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
