/*
 * test_native_backend.c - the native:// backend through the public API:
 * persistence of every value type across reopen, time travel (versions,
 * reads at a version, restore), the HNSW index (recall against the exact
 * answer on clustered data, fresh rows in the unindexed tail, deleted rows
 * never returned, identical results after reopen), optimizing the index
 * after inserts, updates, deletes and compaction, the IVF-PQ index (the
 * same checks, nprobe/refine overrides, optimize incrementally and past
 * the rebuild threshold, parameter errors), the AUTO index type's
 * choice by table size, KV across reopen, two
 * handles in one process, and a second process reading while this one
 * writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hanzodb.h"

static char dir[256];
static char url[300];

static void fresh_dir(const char *name) {
  snprintf(dir, sizeof dir, "/tmp/hdb-native-test-%ld-%s", (long)getpid(), name);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  snprintf(url, sizeof url, "native://%s", dir);
}

static void cleanup_dir(void) {
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static hdb *open_db(void) {
  hdb *db = NULL;
  hdb_error err;
  hdb_status st = hdb_open(url, &db, &err);
  if (st != HDB_OK) fail_msg("open %s: %s", url, err.message);
  return db;
}

#define OK(db, call)                                                                        \
  do {                                                                                      \
    hdb_status st_ = (call);                                                                \
    if (st_ != HDB_OK) fail_msg("%s -> %s: %s", #call, hdb_status_name(st_), hdb_errmsg(db)); \
  } while (0)

static uint64_t count(hdb *db, const char *t) {
  uint64_t n = 0;
  OK(db, hdb_count(db, t, NULL, &n));
  return n;
}

/* ------------------------------------------------------------------ */

static void test_persistence_every_type(void **state) {
  (void)state;
  fresh_dir("types");
  hdb *db = open_db();
  hdb_schema *s = NULL;
  hdb_error err;
  assert_int_equal(hdb_schema_from_json("{\"b\":\"bool\",\"i\":\"int\",\"f\":\"float\",\"t\":\"text\","
                                        "\"bl\":\"blob\",\"ts\":\"timestamp\",\"j\":\"json\","
                                        "\"v\":\"vector(3,cosine)\"}",
                                        &s, &err),
                   HDB_OK);
  OK(db, hdb_table_create(db, "all", s, 0));
  OK(db, hdb_table_create(db, "loose", NULL, 0));
  hdb_schema_free(s);
  hdb_record *r = hdb_record_new("r1");
  const float v[3] = {0.5f, -1.25f, 3e-20f};
  const unsigned char blob[4] = {0, 255, 7, 0};
  hdb_record_set_bool(r, "b", 1);
  hdb_record_set_int(r, "i", -9007199254740993LL);
  hdb_record_set_float(r, "f", 0.1);
  hdb_record_set_text(r, "t", "héllo");
  hdb_record_set_blob(r, "bl", blob, 4);
  hdb_record_set_timestamp(r, "ts", 1700000000123456LL);
  hdb_record_set_json(r, "j", "{\"a\":[1,2]}");
  hdb_record_set_vector(r, "v", v, 3);
  OK(db, hdb_insert(db, "all", &r, 1));
  OK(db, hdb_insert(db, "loose", &r, 1));
  char *before = NULL;
  OK(db, hdb_record_to_json(r, &before));
  hdb_record_free(r);
  OK(db, hdb_kv_put(db, "ns", "k", 1, "value", 5));
  hdb_close(db);

  db = open_db();
  char **names;
  size_t n;
  OK(db, hdb_table_list(db, &names, &n));
  assert_int_equal(n, 2);
  assert_string_equal(names[0], "all");
  assert_string_equal(names[1], "loose");
  hdb_strings_free(names, n);
  hdb_record *got = NULL;
  OK(db, hdb_get(db, "all", "r1", &got));
  char *after = NULL;
  OK(db, hdb_record_to_json(got, &after));
  assert_string_equal(before, after);
  hdb_free(after);
  hdb_record_free(got);
  OK(db, hdb_get(db, "loose", "r1", &got));
  hdb_value val;
  assert_int_equal(hdb_record_get(got, "i", &val), HDB_OK);
  assert_int_equal(val.as.i, -9007199254740993LL);
  hdb_record_free(got);
  hdb_schema *sc = NULL;
  OK(db, hdb_table_schema(db, "loose", &sc));
  assert_null(sc);
  void *kv = NULL;
  size_t kl = 0;
  OK(db, hdb_kv_get(db, "ns", "k", 1, &kv, &kl));
  assert_int_equal(kl, 5);
  assert_memory_equal(kv, "value", 5);
  hdb_free(kv);
  hdb_free(before);
  OK(db, hdb_table_drop(db, "loose", 0));
  hdb_close(db);
  db = open_db();
  assert_int_equal(hdb_table_drop(db, "loose", 0), HDB_NO_TABLE);
  hdb_close(db);
  cleanup_dir();
}

/* ------------------------------------------------------------------ */

static void put_row(hdb *db, const char *t, const char *id, int64_t x) {
  hdb_record *r = hdb_record_new(id);
  hdb_record_set_int(r, "x", x);
  OK(db, hdb_upsert(db, t, &r, 1));
  hdb_record_free(r);
}

static void test_time_travel(void **state) {
  (void)state;
  fresh_dir("tt");
  hdb *db = open_db();
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "x", HDB_TYPE_INT);
  OK(db, hdb_table_create(db, "t", s, 0));
  hdb_schema_free(s);
  put_row(db, "t", "a", 1); /* version 2 */
  put_row(db, "t", "b", 2); /* version 3 */
  put_row(db, "t", "a", 10); /* version 4 */
  OK(db, hdb_delete(db, "t", "b")); /* version 5 */
  hdb_version_info *vi = NULL;
  size_t nv = 0;
  OK(db, hdb_table_versions(db, "t", &vi, &nv));
  assert_int_equal(nv, 5);
  for (size_t i = 0; i < nv; i++) {
    assert_int_equal(vi[i].version, (int64_t)i + 1);
    if (i) assert_true(vi[i].timestamp_us > vi[i - 1].timestamp_us);
  }
  hdb_version_info_free(vi, nv);

  hdb_query_options q = HDB_QUERY_INIT;
  q.version = 3;
  hdb_cursor *c = NULL;
  OK(db, hdb_query(db, "t", &q, &c));
  const hdb_record *r;
  int rows = 0;
  while (hdb_cursor_next(c, &r) == HDB_OK) {
    hdb_value v;
    assert_int_equal(hdb_record_get(r, "x", &v), HDB_OK);
    if (strcmp(hdb_record_id(r), "a") == 0) assert_int_equal(v.as.i, 1);
    rows++;
  }
  hdb_cursor_close(c);
  assert_int_equal(rows, 2);
  q.version = 99;
  assert_int_equal(hdb_query(db, "t", &q, &c), HDB_NOT_FOUND);
  assert_int_equal(count(db, "t"), 1);

  OK(db, hdb_table_restore(db, "t", 3)); /* version 6 = version 3 */
  assert_int_equal(count(db, "t"), 2);
  hdb_record *got = NULL;
  OK(db, hdb_get(db, "t", "a", &got));
  hdb_value v;
  hdb_record_get(got, "x", &v);
  assert_int_equal(v.as.i, 1);
  hdb_record_free(got);
  OK(db, hdb_table_versions(db, "t", &vi, &nv));
  assert_int_equal(nv, 6);
  hdb_version_info_free(vi, nv);
  assert_int_equal(hdb_table_restore(db, "t", 42), HDB_NOT_FOUND);
  OK(db, hdb_compact(db, NULL));
  assert_int_equal(count(db, "t"), 2);
  char *report = NULL;
  OK(db, hdb_check(db, &report));
  assert_non_null(strstr(report, "\"ok\":true"));
  hdb_free(report);
  hdb_close(db);
  cleanup_dir();
}

/* ------------------------------------------------------------------ */

#define DIM 16
#define NCLUSTER 20

static uint64_t rng = 88172645463325252ull;
static double frand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

static void make_vec(float *v, const float *centers, int c) {
  for (int d = 0; d < DIM; d++) v[d] = centers[c * DIM + d] + (float)(frand() - 0.5) * 0.3f;
}

static void insert_vectors(hdb *db, const char *prefix, int from, int n, const float *centers) {
  hdb_record **rs = calloc((size_t)n, sizeof *rs);
  for (int i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "%s%05d", prefix, from + i);
    float v[DIM];
    make_vec(v, centers, (from + i) % NCLUSTER);
    rs[i] = hdb_record_new(id);
    hdb_record_set_vector(rs[i], "v", v, DIM);
    hdb_record_set_int(rs[i], "g", (from + i) % 4);
  }
  OK(db, hdb_insert(db, "vec", rs, (size_t)n));
  for (int i = 0; i < n; i++) hdb_record_free(rs[i]);
  free(rs);
}

/* Result ids of a search, joined with ',' (owned). */
static char *search_ids(hdb *db, const float *q, int k, int exact, const char *filter) {
  hdb_search s = HDB_SEARCH_INIT;
  s.vector = q;
  s.dim = DIM;
  s.k = k;
  s.exact = exact;
  s.filter = filter;
  s.ef = 128;
  hdb_cursor *c = NULL;
  OK(db, hdb_search_vector(db, "vec", &s, &c));
  size_t cap = 64 * (size_t)k + 1, len = 0;
  char *out = calloc(1, cap);
  const hdb_record *r;
  while (hdb_cursor_next(c, &r) == HDB_OK) len += (size_t)snprintf(out + len, cap - len, "%s,", hdb_record_id(r));
  hdb_cursor_close(c);
  return out;
}

static int overlap(const char *a, const char *b) {
  int hits = 0;
  char *copy = strdup(a);
  for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
    char pat[40];
    snprintf(pat, sizeof pat, "%s,", tok);
    if (strstr(b, pat)) hits++;
  }
  free(copy);
  return hits;
}

static void test_hnsw_index(void **state) {
  (void)state;
  fresh_dir("hnsw");
  hdb *db = open_db();
  hdb_schema *s = NULL;
  hdb_error err;
  assert_int_equal(hdb_schema_from_json("{\"v\":\"vector(16)\",\"g\":\"int\"}", &s, &err), HDB_OK);
  OK(db, hdb_table_create(db, "vec", s, 0));
  hdb_schema_free(s);
  float centers[NCLUSTER * DIM];
  for (int i = 0; i < NCLUSTER * DIM; i++) centers[i] = (float)(frand() * 10.0 - 5.0);
  insert_vectors(db, "r", 0, 3000, centers);
  OK(db, hdb_index_create(db, "vec", "v", HDB_INDEX_HNSW, "{\"m\":16,\"ef_construction\":100}"));

  /* Recall against the exact answer. */
  int hit = 0, total = 0;
  float qs[20][DIM];
  for (int qi = 0; qi < 20; qi++) {
    make_vec(qs[qi], centers, qi % NCLUSTER);
    char *ex = search_ids(db, qs[qi], 10, 1, NULL);
    char *ap = search_ids(db, qs[qi], 10, 0, NULL);
    hit += overlap(ex, ap);
    total += 10;
    free(ex);
    free(ap);
  }
  double recall = (double)hit / total;
  printf("      (hnsw recall@10 = %.3f)\n", recall);
  assert_true(recall >= 0.95);

  /* Filtered search returns k whenever k rows match. */
  char *f = search_ids(db, qs[0], 10, 0, "g = 1");
  int n = 0;
  for (char *p = f; *p; p++) n += *p == ',';
  assert_int_equal(n, 10);
  free(f);

  /* Fresh rows (the unindexed tail) are found. */
  hdb_record *fresh = hdb_record_new("fresh");
  float fv[DIM];
  for (int d = 0; d < DIM; d++) fv[d] = 100.0f + (float)d;
  hdb_record_set_vector(fresh, "v", fv, DIM);
  OK(db, hdb_insert(db, "vec", &fresh, 1));
  hdb_record_free(fresh);
  char *ids = search_ids(db, fv, 1, 0, NULL);
  assert_string_equal(ids, "fresh,");
  free(ids);
  hdb_index_info *infos = NULL;
  size_t ni = 0;
  OK(db, hdb_index_list(db, "vec", &infos, &ni));
  assert_int_equal(ni, 1);
  assert_int_equal(infos[0].type, HDB_INDEX_HNSW);
  assert_int_equal(infos[0].rows_indexed, 3000);
  assert_int_equal(infos[0].rows_unindexed, 1);
  hdb_index_info_free(infos, ni);

  /* Deleted rows never come back, indexed or not. */
  char *top = search_ids(db, qs[3], 5, 0, NULL);
  char first[32];
  sscanf(top, "%31[^,]", first);
  OK(db, hdb_delete(db, "vec", first));
  OK(db, hdb_delete(db, "vec", "fresh"));
  char *after = search_ids(db, qs[3], 5, 0, NULL);
  char pat[40];
  snprintf(pat, sizeof pat, "%s,", first);
  assert_null(strstr(after, pat));
  char *fa = search_ids(db, fv, 3, 0, NULL);
  assert_null(strstr(fa, "fresh,"));
  free(fa);
  free(top);

  /* Identical results after reopen (the graph is loaded from its file). */
  hdb_close(db);
  db = open_db();
  char *again = search_ids(db, qs[3], 5, 0, NULL);
  assert_string_equal(after, again);
  free(after);
  free(again);
  OK(db, hdb_index_drop(db, "vec", "v"));
  assert_int_equal(hdb_index_drop(db, "vec", "v"), HDB_NO_INDEX);
  hdb_close(db);
  cleanup_dir();
}


static int count_ids(const char *list) {
  int n = 0;
  for (const char *p = list; *p; p++) n += *p == ',';
  return n;
}

static void expect_index(hdb *db, hdb_index_type type, uint64_t indexed, uint64_t unindexed) {
  hdb_index_info *infos = NULL;
  size_t ni = 0;
  OK(db, hdb_index_list(db, "vec", &infos, &ni));
  assert_int_equal(ni, 1);
  assert_int_equal(infos[0].type, type);
  assert_int_equal(infos[0].rows_indexed, indexed);
  assert_int_equal(infos[0].rows_unindexed, unindexed);
  hdb_index_info_free(infos, ni);
}

/* Recall@10 of the index against the exact answer on 20 queries. */
static double recall_at_10(hdb *db, const float *centers) {
  int hit = 0;
  for (int qi = 0; qi < 20; qi++) {
    float q[DIM];
    make_vec(q, centers, qi % NCLUSTER);
    char *ex = search_ids(db, q, 10, 1, NULL);
    char *ap = search_ids(db, q, 10, 0, NULL);
    hit += overlap(ex, ap);
    free(ex);
    free(ap);
  }
  return hit / 200.0;
}

/* A vector far from the clusters, unique to i. */
static void far_vec(float *v, int i) {
  for (int d = 0; d < DIM; d++) v[d] = 50.0f + (float)((i * 7 + d * 13) % 97) * 3.0f;
}

static void test_hnsw_optimize(void **state) {
  (void)state;
  fresh_dir("optimize");
  hdb *db = open_db();
  hdb_schema *s = NULL;
  hdb_error err;
  assert_int_equal(hdb_schema_from_json("{\"v\":\"vector(16)\",\"g\":\"int\"}", &s, &err), HDB_OK);
  OK(db, hdb_table_create(db, "vec", s, 0));
  hdb_schema_free(s);
  float centers[NCLUSTER * DIM];
  for (int i = 0; i < NCLUSTER * DIM; i++) centers[i] = (float)(frand() * 10.0 - 5.0);
  insert_vectors(db, "r", 0, 3000, centers);
  assert_int_equal(hdb_index_optimize(db, "vec", "v"), HDB_NO_INDEX);
  OK(db, hdb_index_create(db, "vec", "v", HDB_INDEX_HNSW, "{\"m\":16,\"ef_construction\":100}"));
  OK(db, hdb_index_optimize(db, "vec", "v")); /* already current */

  /* Writes since the build: appends, updates (delete + append), deletes. */
  insert_vectors(db, "n", 0, 400, centers);
  for (int i = 0; i < 60; i++) { /* updated: moved far away, must be found there */
    char id[32];
    snprintf(id, sizeof id, "r%05d", i * 50);
    float v[DIM];
    far_vec(v, i);
    hdb_record *patch = hdb_record_new(NULL);
    hdb_record_set_vector(patch, "v", v, DIM);
    OK(db, hdb_update(db, "vec", id, patch));
    hdb_record_free(patch);
  }
  for (int i = 0; i < 80; i++) {
    char id[32];
    snprintf(id, sizeof id, "r%05d", 1 + i * 30);
    OK(db, hdb_delete(db, "vec", id));
  }
  OK(db, hdb_delete(db, "vec", "n00007"));
  uint64_t live = count(db, "vec");
  assert_int_equal(live, 3000 + 400 - 80 - 1);
  OK(db, hdb_index_optimize(db, "vec", "v"));
  expect_index(db, HDB_INDEX_HNSW, live, 0);

  double recall = recall_at_10(db, centers);
  printf("      (recall@10 after optimize = %.3f)\n", recall);
  assert_true(recall >= 0.95);
  /* Every fresh row is findable by its own vector. */
  uint64_t saved = rng;
  rng = 424242;
  for (int i = 0; i < 400; i += 7) {
    char id[32], pat[40];
    snprintf(id, sizeof id, "n%05d", i);
    hdb_record *r = NULL;
    if (i == 7) continue;
    OK(db, hdb_get(db, "vec", id, &r));
    hdb_value v;
    OK(db, hdb_record_get(r, "v", &v));
    char *got = search_ids(db, v.as.vector.data, 3, 0, NULL);
    snprintf(pat, sizeof pat, "%s,", id);
    assert_non_null(strstr(got, pat));
    free(got);
    hdb_record_free(r);
  }
  rng = saved;
  /* Updated rows are found at their new place, exactly once. */
  for (int i = 0; i < 60; i++) {
    char id[32], want[40];
    snprintf(id, sizeof id, "r%05d", i * 50);
    float v[DIM];
    far_vec(v, i);
    char *got = search_ids(db, v, 1, 0, NULL);
    snprintf(want, sizeof want, "%s,", id);
    assert_string_equal(got, want);
    free(got);
  }
  /* Deleted rows never come back: each one's own cluster, k = 50. */
  for (int i = 0; i < 80; i += 5) {
    char id[32], pat[40];
    snprintf(id, sizeof id, "r%05d,", 1 + i * 30);
    float q[DIM];
    make_vec(q, centers, (1 + i * 30) % NCLUSTER);
    char *got = search_ids(db, q, 50, 0, NULL);
    snprintf(pat, sizeof pat, "%s", id);
    assert_null(strstr(got, pat));
    assert_int_equal(count_ids(got), 50);
    free(got);
  }
  float q3[DIM];
  make_vec(q3, centers, 3);
  char *before = search_ids(db, q3, 10, 0, "g = 2");
  assert_int_equal(count_ids(before), 10);
  hdb_close(db);
  db = open_db();
  char *again = search_ids(db, q3, 10, 0, "g = 2");
  assert_string_equal(before, again);
  free(again);
  expect_index(db, HDB_INDEX_HNSW, live, 0);

  /* Compaction rewrites every fragment: optimize re-maps them all. */
  OK(db, hdb_compact(db, "vec"));
  insert_vectors(db, "c", 0, 50, centers);
  live += 50;
  OK(db, hdb_index_optimize(db, "vec", "v"));
  expect_index(db, HDB_INDEX_HNSW, live, 0);
  recall = recall_at_10(db, centers);
  printf("      (recall@10 after compaction + optimize = %.3f)\n", recall);
  assert_true(recall >= 0.95);
  char *after = search_ids(db, q3, 10, 1, "g = 2");
  char *ap = search_ids(db, q3, 10, 0, "g = 2");
  assert_true(overlap(after, ap) >= 9);
  free(after);
  free(ap);
  free(before);
  hdb_close(db);
  cleanup_dir();
}

/* Result ids of an approximate search with IVF-PQ's nprobe and refine. */
static char *search_ivf(hdb *db, const float *q, int k, int nprobe, int refine) {
  hdb_search s = HDB_SEARCH_INIT;
  s.vector = q;
  s.dim = DIM;
  s.k = k;
  s.nprobe = nprobe;
  s.refine = refine;
  hdb_cursor *c = NULL;
  OK(db, hdb_search_vector(db, "vec", &s, &c));
  size_t cap = 64 * (size_t)k + 1, len = 0;
  char *out = calloc(1, cap);
  const hdb_record *r;
  while (hdb_cursor_next(c, &r) == HDB_OK) len += (size_t)snprintf(out + len, cap - len, "%s,", hdb_record_id(r));
  hdb_cursor_close(c);
  return out;
}

static void test_ivfpq_index(void **state) {
  (void)state;
  fresh_dir("ivfpq");
  hdb *db = open_db();
  hdb_schema *s = NULL;
  hdb_error err;
  assert_int_equal(hdb_schema_from_json("{\"v\":\"vector(16)\",\"g\":\"int\"}", &s, &err), HDB_OK);
  OK(db, hdb_table_create(db, "vec", s, 0));
  hdb_schema_free(s);
  /* Nothing to train on yet; unknown or bad parameters are refused. */
  assert_int_equal(hdb_index_create(db, "vec", "v", HDB_INDEX_IVF_PQ, NULL), HDB_INVALID_ARGUMENT);
  float centers[NCLUSTER * DIM];
  for (int i = 0; i < NCLUSTER * DIM; i++) centers[i] = (float)(frand() * 10.0 - 5.0);
  insert_vectors(db, "r", 0, 3000, centers);
  assert_int_equal(hdb_index_create(db, "vec", "v", HDB_INDEX_IVF_PQ, "{\"ef_search\":4}"),
                   HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_index_create(db, "vec", "v", HDB_INDEX_IVF_PQ, "{\"m\":5}"),
                   HDB_INVALID_ARGUMENT); /* 5 does not divide 16 */
  assert_int_equal(hdb_index_create(db, "vec", "g", HDB_INDEX_IVF_PQ, NULL), HDB_NOT_SUPPORTED);
  OK(db, hdb_index_create(db, "vec", "v", HDB_INDEX_IVF_PQ, "{\"nlist\":32,\"m\":8,\"nprobe\":4}"));
  assert_int_equal(hdb_index_create(db, "vec", "v", HDB_INDEX_IVF_PQ, NULL), HDB_EXISTS);
  expect_index(db, HDB_INDEX_IVF_PQ, 3000, 0);

  double recall = recall_at_10(db, centers);
  printf("      (ivf_pq recall@10 = %.3f)\n", recall);
  assert_true(recall >= 0.95);
  /* nprobe and refine override the index's defaults; k always comes back. */
  float q0[DIM];
  make_vec(q0, centers, 0);
  char *ex = search_ids(db, q0, 10, 1, NULL);
  char *wide = search_ivf(db, q0, 10, 32, 50);
  assert_string_equal(ex, wide);
  char *narrow = search_ivf(db, q0, 10, 1, 1);
  assert_int_equal(count_ids(narrow), 10);
  free(ex);
  free(wide);
  free(narrow);
  char *f = search_ids(db, q0, 10, 0, "g = 1");
  assert_int_equal(count_ids(f), 10);
  free(f);

  /* Fresh rows (the unindexed tail) are found. */
  hdb_record *fresh = hdb_record_new("fresh");
  float fv[DIM];
  far_vec(fv, 1000);
  hdb_record_set_vector(fresh, "v", fv, DIM);
  OK(db, hdb_insert(db, "vec", &fresh, 1));
  hdb_record_free(fresh);
  char *ids = search_ids(db, fv, 1, 0, NULL);
  assert_string_equal(ids, "fresh,");
  free(ids);
  expect_index(db, HDB_INDEX_IVF_PQ, 3000, 1);

  /* Deleted rows never come back, indexed or not. */
  float q3[DIM];
  make_vec(q3, centers, 3);
  char *top = search_ids(db, q3, 5, 0, NULL);
  char first[32], pat[40];
  sscanf(top, "%31[^,]", first);
  free(top);
  OK(db, hdb_delete(db, "vec", first));
  OK(db, hdb_delete(db, "vec", "fresh"));
  char *after = search_ids(db, q3, 5, 0, NULL);
  snprintf(pat, sizeof pat, "%s,", first);
  assert_null(strstr(after, pat));
  char *fa = search_ids(db, fv, 3, 0, NULL);
  assert_null(strstr(fa, "fresh,"));
  free(fa);

  /* Identical results after reopen (the index is loaded from its file). */
  hdb_close(db);
  db = open_db();
  char *again = search_ids(db, q3, 5, 0, NULL);
  assert_string_equal(after, again);
  free(after);
  free(again);

  /* Optimize: appends, updates and deletes since the build. */
  insert_vectors(db, "n", 0, 300, centers);
  for (int i = 0; i < 40; i++) {
    char id[32];
    snprintf(id, sizeof id, "r%05d", i * 70 + 2);
    float v[DIM];
    far_vec(v, i);
    hdb_record *patch = hdb_record_new(NULL);
    hdb_record_set_vector(patch, "v", v, DIM);
    OK(db, hdb_update(db, "vec", id, patch));
    hdb_record_free(patch);
  }
  for (int i = 0; i < 50; i++) {
    char id[32];
    snprintf(id, sizeof id, "r%05d", 1 + i * 40);
    if (strcmp(id, first) != 0) OK(db, hdb_delete(db, "vec", id));
  }
  uint64_t live = count(db, "vec");
  OK(db, hdb_index_optimize(db, "vec", "v"));
  expect_index(db, HDB_INDEX_IVF_PQ, live, 0);
  recall = recall_at_10(db, centers);
  printf("      (ivf_pq recall@10 after optimize = %.3f)\n", recall);
  assert_true(recall >= 0.95);
  for (int i = 0; i < 40; i++) { /* updated rows, found at their new place */
    char id[32], want[40];
    snprintf(id, sizeof id, "r%05d", i * 70 + 2);
    float v[DIM];
    far_vec(v, i);
    char *got = search_ids(db, v, 1, 0, NULL);
    snprintf(want, sizeof want, "%s,", id);
    assert_string_equal(got, want);
    free(got);
  }
  for (int i = 0; i < 50; i += 5) { /* deleted rows, k = 50 in their cluster */
    char id[40];
    snprintf(id, sizeof id, "r%05d,", 1 + i * 40);
    float q[DIM];
    make_vec(q, centers, (1 + i * 40) % NCLUSTER);
    char *got = search_ids(db, q, 50, 0, NULL);
    assert_null(strstr(got, id));
    assert_int_equal(count_ids(got), 50);
    free(got);
  }
  char *before = search_ids(db, q3, 10, 0, "g = 2");
  hdb_close(db);
  db = open_db();
  char *re = search_ids(db, q3, 10, 0, "g = 2");
  assert_string_equal(before, re);
  free(before);
  free(re);

  /* Past the deletion threshold optimize rebuilds (and retrains). */
  OK(db, hdb_delete_where(db, "vec", "g = 0 OR g = 1", NULL));
  live = count(db, "vec");
  OK(db, hdb_index_optimize(db, "vec", "v"));
  expect_index(db, HDB_INDEX_IVF_PQ, live, 0);
  char *ex2 = search_ids(db, q3, 10, 1, NULL);
  char *ap2 = search_ids(db, q3, 10, 0, NULL);
  assert_true(overlap(ex2, ap2) >= 9);
  free(ex2);
  free(ap2);
  OK(db, hdb_index_drop(db, "vec", "v"));
  assert_int_equal(hdb_index_drop(db, "vec", "v"), HDB_NO_INDEX);
  hdb_close(db);
  cleanup_dir();
}

static void test_auto_index_type(void **state) {
  (void)state;
  fresh_dir("auto");
  hdb *db = open_db();
  hdb_schema *s = NULL;
  hdb_error err;
  assert_int_equal(hdb_schema_from_json("{\"v\":\"vector(16)\",\"g\":\"int\"}", &s, &err), HDB_OK);
  OK(db, hdb_table_create(db, "vec", s, 0));
  hdb_schema_free(s);
  float centers[NCLUSTER * DIM];
  for (int i = 0; i < NCLUSTER * DIM; i++) centers[i] = (float)(frand() * 10.0 - 5.0);
  insert_vectors(db, "a", 0, 200, centers);
  /* Small table: flat (exact). */
  OK(db, hdb_index_create(db, "vec", "v", HDB_INDEX_AUTO, NULL));
  expect_index(db, HDB_INDEX_FLAT, 200, 0);
  OK(db, hdb_index_optimize(db, "vec", "v"));
  expect_index(db, HDB_INDEX_FLAT, 200, 0);
  /* Past 10,000 rows, optimize turns the auto choice into hnsw. */
  insert_vectors(db, "b", 0, 9900, centers);
  OK(db, hdb_index_optimize(db, "vec", "v"));
  expect_index(db, HDB_INDEX_HNSW, 10100, 0);
  assert_true(recall_at_10(db, centers) >= 0.95);
  /* Created on a large table, auto is hnsw right away. */
  OK(db, hdb_index_drop(db, "vec", "v"));
  OK(db, hdb_index_create(db, "vec", "v", HDB_INDEX_AUTO, NULL));
  expect_index(db, HDB_INDEX_HNSW, 10100, 0);
  hdb_close(db);
  cleanup_dir();
}

/* ------------------------------------------------------------------ */

static void test_kv_reopen_and_two_handles(void **state) {
  (void)state;
  fresh_dir("kv");
  hdb *a = open_db();
  hdb *b = open_db(); /* same directory, same process: shared engine */
  OK(a, hdb_kv_put(a, "", "k1", 2, "v1", 2));
  OK(a, hdb_kv_put(a, "other", "k1", 2, "w", 1));
  void *val = NULL;
  size_t vl;
  OK(b, hdb_kv_get(b, "", "k1", 2, &val, &vl));
  assert_memory_equal(val, "v1", 2);
  hdb_free(val);
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "x", HDB_TYPE_INT);
  OK(a, hdb_table_create(a, "t", s, 0));
  hdb_schema_free(s);
  put_row(a, "t", "r", 1);
  assert_int_equal(count(b, "t"), 1);
  OK(b, hdb_table_drop(b, "t", 0));
  assert_int_equal(hdb_count(a, "t", NULL, &vl), HDB_NO_TABLE);
  hdb_close(a);
  hdb_close(b);
  a = open_db();
  OK(a, hdb_kv_get(a, "other", "k1", 2, &val, &vl));
  assert_memory_equal(val, "w", 1);
  hdb_free(val);
  int found = 1;
  OK(a, hdb_kv_has(a, "other", "k2", 2, &found));
  assert_int_equal(found, 0);
  hdb_close(a);
  cleanup_dir();
}

static void test_second_process_reads_while_writing(void **state) {
  (void)state;
  fresh_dir("fork");
  hdb *db = open_db();
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "x", HDB_TYPE_INT);
  OK(db, hdb_table_create(db, "t", s, 0));
  hdb_schema_free(s);
  put_row(db, "t", "r0", 0);
  int go[2];
  assert_int_equal(pipe(go), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* The reader: its own handle; counts only grow and never tear. */
    char byte;
    close(go[1]);
    if (read(go[0], &byte, 1) != 1) _exit(3);
    hdb *r = NULL;
    hdb_error err;
    if (hdb_open(url, &r, &err) != HDB_OK) _exit(4);
    uint64_t last = 0;
    for (int i = 0; i < 200; i++) {
      uint64_t n = 0;
      if (hdb_count(r, "t", NULL, &n) != HDB_OK) _exit(5);
      if (n < last || n < 1) _exit(6);
      last = n;
      hdb_cursor *c = NULL;
      hdb_query_options q = HDB_QUERY_INIT;
      if (hdb_query(r, "t", &q, &c) != HDB_OK) _exit(7);
      const hdb_record *rec;
      uint64_t m = 0;
      while (hdb_cursor_next(c, &rec) == HDB_OK) m++;
      hdb_cursor_close(c);
      if (m < n) _exit(8);
    }
    hdb_close(r);
    _exit(0);
  }
  close(go[0]);
  assert_int_equal(write(go[1], "g", 1), 1);
  close(go[1]);
  for (int i = 1; i <= 50; i++) {
    char id[16];
    snprintf(id, sizeof id, "r%d", i);
    put_row(db, "t", id, i);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(count(db, "t"), 51);
  hdb_close(db);
  cleanup_dir();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_persistence_every_type),
      cmocka_unit_test(test_time_travel),
      cmocka_unit_test(test_hnsw_index),
      cmocka_unit_test(test_hnsw_optimize),
      cmocka_unit_test(test_ivfpq_index),
      cmocka_unit_test(test_auto_index_type),
      cmocka_unit_test(test_kv_reopen_and_two_handles),
      cmocka_unit_test(test_second_process_reads_while_writing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
