/*
 * test_vec_dim64k.c - vectors of the largest dimension, HDB_MAX_VECTOR_DIM
 * (65,536 components, 256 KiB each), through the public API on a native://
 * table: an HNSW and an IVF-PQ index over a few hundred rows (default
 * parameters for IVF-PQ, so its default m must divide the dimension),
 * recall@10 against the exact search, the same answers after reopening,
 * rows inserted after the build (the unindexed tail, then optimized in),
 * and rejection of NaN and infinity (by the record, so no insert carries
 * them, and by the search) and of a wrong dimension (insert and search).
 * Labelled "slow;vector" (tests/vector.cmake): 20-30 s here, mostly writing
 * and fsyncing 60 MB of rows.
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
#include <unistd.h>

#include "hanzodb.h"

enum { DIM = 65536, N = 240, EXTRA = 16, NQ = 8, K = 10, CLUSTERS = 8 };

static char dir[256];
static char url[300];

#define OK(db, call)                                                                           \
  do {                                                                                         \
    hdb_status st_ = (call);                                                                   \
    if (st_ != HDB_OK)                                                                         \
      fail_msg("%s -> %s: %s", #call, hdb_status_name(st_), hdb_errmsg(db));                   \
  } while (0)

static uint64_t rng_state;
static double frand(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Row i: its cluster's center plus uniform noise; centers are far apart
 * compared to the noise, so the true neighbors are clear-cut. */
static void make_vec(float *v, const float *centers, int cluster)
{
  for (size_t d = 0; d < DIM; d++)
    v[d] = centers[(size_t)cluster * DIM + d] + (float)(frand() - 0.5) * 0.5f;
}

static void fresh_dir(const char *name)
{
  snprintf(dir, sizeof dir, "/tmp/hdb-dim64k-%ld-%s", (long)getpid(), name);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  snprintf(url, sizeof url, "native://%s", dir);
}

static void cleanup_dir(void)
{
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static hdb *open_db(void)
{
  hdb *db = NULL;
  hdb_error err;
  if (hdb_open(url, &db, &err) != HDB_OK)
    fail_msg("open %s: %s", url, err.message);
  return db;
}

static void insert_rows(hdb *db, const float *centers, int from, int n, float *keep)
{
  hdb_record **rs = calloc((size_t)n, sizeof *rs);
  float *v = malloc((size_t)DIM * sizeof *v);
  assert_non_null(rs);
  assert_non_null(v);
  for (int i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "r%04d", from + i);
    make_vec(v, centers, (from + i) % CLUSTERS);
    if (keep != NULL && i == 0)
      memcpy(keep, v, (size_t)DIM * sizeof *v);
    rs[i] = hdb_record_new(id);
    assert_non_null(rs[i]);
    assert_int_equal(hdb_record_set_vector(rs[i], "v", v, DIM), HDB_OK);
  }
  OK(db, hdb_insert(db, "t", rs, (size_t)n));
  for (int i = 0; i < n; i++)
    hdb_record_free(rs[i]);
  free(rs);
  free(v);
}

/* The ids of a search, joined with ','; writes into out (cap bytes). */
static void search_ids(hdb *db, const float *q, int exact, char *out, size_t cap)
{
  hdb_search s = HDB_SEARCH_INIT;
  s.vector = q;
  s.dim = DIM;
  s.k = K;
  s.exact = exact;
  hdb_cursor *c = NULL;
  OK(db, hdb_search_vector(db, "t", &s, &c));
  size_t len = 0;
  out[0] = '\0';
  const hdb_record *r;
  while (hdb_cursor_next(c, &r) == HDB_OK && len < cap)
    len += (size_t)snprintf(out + len, cap - len, "%s,", hdb_record_id(r));
  hdb_cursor_close(c);
}

static int overlap(const char *a, const char *b)
{
  int hits = 0;
  char copy[512];
  snprintf(copy, sizeof copy, "%s", a);
  for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
    char pat[40];
    snprintf(pat, sizeof pat, "%s,", tok);
    hits += strstr(b, pat) != NULL;
  }
  return hits;
}

static void check_rejections(hdb *db, const float *good)
{
  float *bad = malloc((size_t)DIM * sizeof *bad);
  assert_non_null(bad);
  hdb_record *r = hdb_record_new("bad");
  assert_non_null(r);
  /* NaN and infinity anywhere (here the very last component). */
  const float poison[2] = {NAN, INFINITY};
  for (int p = 0; p < 2; p++) {
    memcpy(bad, good, (size_t)DIM * sizeof *bad);
    bad[DIM - 1] = poison[p];
    /* the record refuses it, so no insert can carry it */
    assert_int_equal(hdb_record_set_vector(r, "v", bad, DIM), HDB_NOT_FINITE);
    hdb_search s = HDB_SEARCH_INIT;
    s.vector = bad;
    s.dim = DIM;
    s.k = K;
    hdb_cursor *c = NULL;
    assert_int_equal(hdb_search_vector(db, "t", &s, &c), HDB_NOT_FINITE);
    assert_null(c);
  }
  /* One component short. */
  assert_int_equal(hdb_record_set_vector(r, "v", good, DIM - 1), HDB_OK);
  assert_int_equal(hdb_insert(db, "t", &r, 1), HDB_DIMENSION);
  hdb_search s = HDB_SEARCH_INIT;
  s.vector = good;
  s.dim = DIM - 1;
  s.k = K;
  hdb_cursor *c = NULL;
  assert_int_equal(hdb_search_vector(db, "t", &s, &c), HDB_DIMENSION);
  assert_null(c);
  hdb_record_free(r);
  free(bad);
}

static void run_index(hdb_index_type type, const char *params, const char *name, double min_recall)
{
  fresh_dir(name);
  rng_state = 0x9E3779B97F4A7C15ull;
  float *centers = malloc((size_t)CLUSTERS * DIM * sizeof *centers);
  float *qs = malloc((size_t)NQ * DIM * sizeof *qs);
  float *fresh = malloc((size_t)DIM * sizeof *fresh);
  char(*before)[512] = calloc(NQ, sizeof *before);
  assert_true(centers && qs && fresh && before);
  for (size_t i = 0; i < (size_t)CLUSTERS * DIM; i++)
    centers[i] = (float)(frand() * 4.0 - 2.0);

  hdb *db = open_db();
  hdb_schema *s = hdb_schema_new();
  assert_int_equal(hdb_schema_add_vector(s, "v", DIM, HDB_METRIC_L2), HDB_OK);
  OK(db, hdb_table_create(db, "t", s, 0));
  hdb_schema_free(s);
  for (int b = 0; b < N; b += 60)
    insert_rows(db, centers, b, 60, NULL);
  OK(db, hdb_index_create(db, "t", "v", type, params));

  for (int q = 0; q < NQ; q++)
    make_vec(qs + (size_t)q * DIM, centers, q % CLUSTERS);
  int hit = 0;
  for (int q = 0; q < NQ; q++) {
    char ex[512];
    search_ids(db, qs + (size_t)q * DIM, 1, ex, sizeof ex);
    search_ids(db, qs + (size_t)q * DIM, 0, before[q], sizeof before[q]);
    hit += overlap(ex, before[q]);
  }
  double recall = (double)hit / (NQ * K);
  printf("      (%s, dim %d: recall@10 = %.3f)\n", name, DIM, recall);
  assert_true(recall >= min_recall);
  check_rejections(db, qs);

  /* Reopen: the index is read from its file and answers the same. */
  hdb_close(db);
  db = open_db();
  for (int q = 0; q < NQ; q++) {
    char again[512];
    search_ids(db, qs + (size_t)q * DIM, 0, again, sizeof again);
    assert_string_equal(before[q], again);
  }

  /* Rows written after the build: found in the tail, then optimized in. */
  insert_rows(db, centers, N, EXTRA, fresh);
  char ids[512];
  search_ids(db, fresh, 0, ids, sizeof ids);
  assert_non_null(strstr(ids, "r0240,"));
  OK(db, hdb_index_optimize(db, "t", "v"));
  hdb_index_info *infos = NULL;
  size_t ni = 0;
  OK(db, hdb_index_list(db, "t", &infos, &ni));
  assert_int_equal(ni, 1);
  assert_int_equal(infos[0].rows_indexed, N + EXTRA);
  assert_int_equal(infos[0].rows_unindexed, 0);
  hdb_index_info_free(infos, ni);
  search_ids(db, fresh, 0, ids, sizeof ids);
  assert_non_null(strstr(ids, "r0240,"));
  hdb_close(db);
  cleanup_dir();
  free(centers);
  free(qs);
  free(fresh);
  free(before);
}

static void test_hnsw_dim64k(void **state)
{
  (void)state;
  run_index(HDB_INDEX_HNSW, "{\"m\":16,\"ef_construction\":64}", "hnsw", 0.95);
}

static void test_ivfpq_dim64k(void **state)
{
  (void)state;
  run_index(HDB_INDEX_IVF_PQ, NULL, "ivfpq", 0.95);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hnsw_dim64k),
    cmocka_unit_test(test_ivfpq_dim64k),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
