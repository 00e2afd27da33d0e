/*
 * test_vec_ivfpq_large.c - IVF-PQ at scale: 100k x 128 Gaussian mixture,
 * default parameters, recall@10 >= 0.95 against the exact scan, then save,
 * reopen and the same answers. Labelled "slow" (tests/vector_ivfpq.cmake):
 * it runs once in the ordinary build, not under the sanitizers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/vector/vec_flat.h"
#include "engine/vector/vec_ivfpq.h"
#include "vec_testdata.h"

enum { N = 100000, DIM = 128, NQ = 500, K = 10, CLUSTERS = 200 };

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_large_recall(void **state)
{
  (void)state;
  float *base = malloc((size_t)N * DIM * sizeof *base);
  float *queries = malloc((size_t)NQ * DIM * sizeof *queries);
  hdb__vec_hit *truth = malloc((size_t)NQ * K * sizeof *truth);
  uint32_t *n_out = malloc(NQ * sizeof *n_out);
  assert_true(base && queries && truth && n_out);
  assert_int_equal(vt_mixture(base, N, DIM, CLUSTERS, 0.5, 11, 12), 0);
  assert_int_equal(vt_mixture(queries, NQ, DIM, CLUSTERS, 0.5, 11, 13), 0);
  hdb__vec_flat f = {.base = base, .n = N, .dim = DIM, .metric = HDB_METRIC_L2};
  assert_int_equal(hdb__vec_flat_search(&f, queries, NQ, K, truth, n_out, NULL), HDB_OK);

  hdb__ivfpq *idx;
  assert_int_equal(hdb__ivfpq_new(DIM, HDB_METRIC_L2, NULL, &idx, NULL), HDB_OK);
  double t0 = now_s();
  assert_int_equal(hdb__ivfpq_build(idx, base, NULL, 0, N, 0, NULL), HDB_OK);
  double build = now_s() - t0;
  hdb__ivfpq_source src = {.base = base};
  hdb__vec_hit *got = malloc((size_t)NQ * K * sizeof *got);
  assert_non_null(got);
  size_t hit = 0;
  t0 = now_s();
  for (size_t q = 0; q < NQ; q++) {
    uint32_t no;
    assert_int_equal(hdb__ivfpq_search(idx, queries + q * DIM, K, 0, 0, NULL, &src, got + q * K,
                                       &no, NULL),
                     HDB_OK);
    assert_int_equal(no, K);
    for (int i = 0; i < K; i++)
      for (int j = 0; j < K; j++)
        if (got[q * K + i].id == truth[q * K + j].id) {
          hit++;
          break;
        }
  }
  double qs = NQ / (now_s() - t0);
  double recall = (double)hit / (NQ * K);
  hdb__ivfpq_params p = hdb__ivfpq_get_params(idx);
  print_message("ivfpq 100k x 128: nlist %u m %u nprobe %u refine %u: recall@10 %.4f, build "
                "%.1f s, %.0f q/s, %zu bytes\n",
                p.nlist, p.m, p.nprobe, p.refine, recall, build, qs, hdb__ivfpq_memory(idx));
  assert_true(recall >= 0.95);

  char path[256];
  snprintf(path, sizeof path, "/tmp/hdb_test_ivfpq_large_%ld.ivfpq", (long)getpid());
  assert_int_equal(hdb__ivfpq_save(idx, path, NULL), HDB_OK);
  hdb__ivfpq *m;
  assert_int_equal(hdb__ivfpq_open(path, &m, NULL), HDB_OK);
  for (size_t q = 0; q < NQ; q += 5) {
    hdb__vec_hit out[K];
    uint32_t no;
    assert_int_equal(hdb__ivfpq_search(m, queries + q * DIM, K, 0, 0, NULL, &src, out, &no, NULL),
                     HDB_OK);
    assert_int_equal(no, K);
    for (int i = 0; i < K; i++) {
      assert_int_equal(out[i].id, got[q * K + i].id);
      assert_true(out[i].dist == got[q * K + i].dist);
    }
  }
  unlink(path);
  hdb__ivfpq_free(m);
  hdb__ivfpq_free(idx);
  free(got);
  free(base);
  free(queries);
  free(truth);
  free(n_out);
}

int main(void)
{
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_large_recall)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
