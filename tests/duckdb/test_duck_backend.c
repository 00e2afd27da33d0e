/*
 * test_duck_backend.c - what the conformance suite does not reach on
 * duckdb://, through the public API only: persistence across reopen,
 * all-or-nothing bulk appends (several appender chunks, in and outside a
 * transaction), hostile strings and mixed-case names (DuckDB identifiers
 * are case-insensitive), the KV byte order on random binary keys, the
 * precision of the distances, the failed-transaction state, cursors that
 * outlive their handle, the statuses of open errors (a file locked by
 * another process, a corrupt file, bad URL options), and every library
 * allocation failing in turn (OK or HDB_NOMEM, no leak under ASan).
 *
 * Work files live under HDB_DUCK_TEST_DIR (set by tests/duckdb.cmake).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "hanzodb.h"

#ifndef HDB_DUCK_TEST_DIR
#define HDB_DUCK_TEST_DIR "/tmp/hdb-duck-test"
#endif

static char url_buf[512];

/* A fresh database file path (removed first) as a duckdb:// URL. */
static const char *fresh_url(const char *name) {
  char path[400];
  mkdir(HDB_DUCK_TEST_DIR, 0755);
  snprintf(path, sizeof path, "%s/%s.duckdb", HDB_DUCK_TEST_DIR, name);
  unlink(path);
  char wal[420];
  snprintf(wal, sizeof wal, "%s.wal", path);
  unlink(wal);
  snprintf(url_buf, sizeof url_buf, "duckdb://%s", path);
  return url_buf;
}

static hdb *open_ok(const char *url) {
  hdb *db = NULL;
  hdb_error err;
  hdb_status st = hdb_open(url, &db, &err);
  if (st != HDB_OK) fail_msg("open %s -> %s: %s", url, hdb_status_name(st), err.message);
  return db;
}

#define OK(db, call)                                                                     \
  do {                                                                                   \
    hdb_status st_ = (call);                                                             \
    if (st_ != HDB_OK) fail_msg("%s -> %s: %s", #call, hdb_status_name(st_), hdb_errmsg(db)); \
  } while (0)

static uint64_t count(hdb *db, const char *t, const char *filter) {
  uint64_t n = 0;
  OK(db, hdb_count(db, t, filter, &n));
  return n;
}

/* ------------------------------------------------------------------ */

static void test_persistence_reopen(void **state) {
  (void)state;
  const char *url = fresh_url("persist");
  char url_copy[512];
  snprintf(url_copy, sizeof url_copy, "%s", url);
  hdb *db = open_ok(url_copy);
  assert_true(hdb_capabilities(db) & HDB_CAP_PERSISTENT);
  hdb_schema *s = NULL;
  OK(db, hdb_schema_from_json("{\"n\":\"int\",\"ts\":\"timestamp\",\"v\":\"vector(3,cosine)\","
                              "\"j\":\"json\",\"b\":\"blob\"}",
                              &s, NULL));
  OK(db, hdb_table_create(db, "docs", s, 0));
  hdb_schema_free(s);
  OK(db, hdb_table_create(db, "free", NULL, 0));
  OK(db, hdb_index_create(db, "docs", "n", HDB_INDEX_SCALAR, NULL));
  hdb_record *r = hdb_record_new("a");
  const float v[3] = {1, 2, 3};
  hdb_record_set_int(r, "n", 7);
  hdb_record_set_timestamp(r, "ts", -5);
  hdb_record_set_vector(r, "v", v, 3);
  hdb_record_set_json(r, "j", "{\"k\":[1,2.50,\"x\"]}");
  hdb_record_set_blob(r, "b", "\0\1\2", 3);
  OK(db, hdb_insert(db, "docs", &r, 1));
  hdb_record_free(r);
  r = hdb_record_new("f1");
  hdb_record_set_timestamp(r, "when", 1700000000000000LL);
  hdb_record_set_vector(r, "emb", v, 3);
  OK(db, hdb_insert(db, "free", &r, 1));
  hdb_record_free(r);
  OK(db, hdb_kv_put(db, "agent/mem", "k\0y", 3, "val", 3));
  hdb_close(db);

  db = open_ok(url_copy);
  hdb_schema *back = NULL;
  OK(db, hdb_table_schema(db, "docs", &back));
  char *js = NULL;
  OK(db, hdb_schema_to_json(back, &js));
  assert_string_equal(js, "{\"n\":\"int\",\"ts\":\"timestamp\",\"v\":\"vector(3,cosine)\","
                          "\"j\":\"json\",\"b\":\"blob\"}");
  hdb_free(js);
  hdb_schema_free(back);
  hdb_record *got = NULL;
  OK(db, hdb_get(db, "docs", "a", &got));
  hdb_value val;
  assert_int_equal(hdb_record_get(got, "ts", &val), HDB_OK);
  assert_int_equal(val.type, HDB_TYPE_TIMESTAMP);
  assert_int_equal(val.as.timestamp_us, -5);
  assert_int_equal(hdb_record_get(got, "j", &val), HDB_OK);
  assert_string_equal(val.as.text.data, "{\"k\":[1,2.50,\"x\"]}");
  assert_int_equal(hdb_record_get(got, "b", &val), HDB_OK);
  assert_int_equal(val.as.blob.len, 3);
  assert_memory_equal(val.as.blob.data, "\0\1\2", 3);
  hdb_record_free(got);
  OK(db, hdb_get(db, "free", "f1", &got));
  assert_int_equal(hdb_record_get(got, "when", &val), HDB_OK);
  assert_int_equal(val.type, HDB_TYPE_TIMESTAMP);
  assert_int_equal(hdb_record_get(got, "emb", &val), HDB_OK);
  assert_int_equal(val.type, HDB_TYPE_VECTOR);
  hdb_record_free(got);
  hdb_index_info *ix = NULL;
  size_t nix = 0;
  OK(db, hdb_index_list(db, "docs", &ix, &nix));
  assert_int_equal(nix, 1);
  assert_int_equal(ix[0].type, HDB_INDEX_SCALAR);
  assert_int_equal(ix[0].rows_indexed, 1);
  hdb_index_info_free(ix, nix);
  void *kv = NULL;
  size_t kvlen = 0;
  OK(db, hdb_kv_get(db, "agent/mem", "k\0y", 3, &kv, &kvlen));
  assert_int_equal(kvlen, 3);
  assert_memory_equal(kv, "val", 3);
  hdb_free(kv);
  /* Filters still use the index'd column after reopen. */
  assert_int_equal(count(db, "docs", "n = 7"), 1);
  hdb_close(db);
}

/* ------------------------------------------------------------------ */

static hdb_record **make_batch(size_t n, const char *prefix) {
  hdb_record **b = calloc(n, sizeof *b);
  assert_non_null(b);
  char id[64];
  for (size_t i = 0; i < n; i++) {
    snprintf(id, sizeof id, "%s%06zu", prefix, i);
    b[i] = hdb_record_new(id);
    float v[4] = {(float)i, 1, 2, 3};
    hdb_record_set_int(b[i], "n", (int64_t)i);
    hdb_record_set_vector(b[i], "v", v, 4);
  }
  return b;
}

static void free_batch(hdb_record **b, size_t n) {
  for (size_t i = 0; i < n; i++) hdb_record_free(b[i]);
  free(b);
}

static void test_bulk_append_atomic(void **state) {
  (void)state;
  hdb *db = open_ok("duckdb://:memory:");
  hdb_schema *s = NULL;
  OK(db, hdb_schema_from_json("{\"n\":\"int\",\"v\":\"vector(4)\"}", &s, NULL));
  hdb_table_drop(db, "bulk", HDB_IF_EXISTS);
  OK(db, hdb_table_create(db, "bulk", s, 0));
  hdb_schema_free(s);
  enum { N = 10000 }; /* several 2048-row appender chunks */
  hdb_record **b = make_batch(N, "r");
  OK(db, hdb_insert(db, "bulk", b, N));
  assert_int_equal(count(db, "bulk", NULL), N);

  /* A batch whose LAST record duplicates an existing id: nothing lands,
   * and the status names the id. */
  hdb_record **c = make_batch(N, "s");
  hdb_record_set_id(c[N - 1], "r000123");
  assert_int_equal(hdb_insert(db, "bulk", c, N), HDB_DUPLICATE_ID);
  assert_non_null(strstr(hdb_errmsg(db), "r000123"));
  assert_int_equal(count(db, "bulk", NULL), N);
  assert_int_equal(count(db, "bulk", "n >= 0"), N);

  /* The same inside a transaction: refused before DuckDB sees it, and the
   * transaction goes on. */
  OK(db, hdb_begin(db));
  hdb_record **d = make_batch(3, "t");
  OK(db, hdb_insert(db, "bulk", d, 3));
  assert_int_equal(hdb_insert(db, "bulk", c, N), HDB_DUPLICATE_ID);
  assert_non_null(strstr(hdb_errmsg(db), "r000123"));
  assert_int_equal(count(db, "bulk", NULL), N + 3);
  OK(db, hdb_commit(db));
  assert_int_equal(count(db, "bulk", NULL), N + 3);

  /* Upsert of a big batch with repeats: the last record of an id wins. */
  hdb_record_set_id(c[N - 1], "s000000");
  hdb_record_set_int(c[N - 1], "n", -1);
  OK(db, hdb_upsert(db, "bulk", c, N));
  assert_int_equal(count(db, "bulk", NULL), 2 * N + 3 - 1);
  hdb_record *got = NULL;
  OK(db, hdb_get(db, "bulk", "s000000", &got));
  hdb_value val;
  assert_int_equal(hdb_record_get(got, "n", &val), HDB_OK);
  assert_int_equal(val.as.i, -1);
  hdb_record_free(got);
  /* A rolled-back bulk insert leaves nothing. */
  hdb_record **e = make_batch(5000, "u");
  OK(db, hdb_begin(db));
  OK(db, hdb_insert(db, "bulk", e, 5000));
  assert_int_equal(count(db, "bulk", "n >= 0"), 2 * N + 3 - 1 - 1 + 5000);
  OK(db, hdb_rollback(db));
  assert_int_equal(count(db, "bulk", NULL), 2 * N + 3 - 1);
  free_batch(b, N);
  free_batch(c, N);
  free_batch(d, 3);
  free_batch(e, 5000);
  hdb_table_drop(db, "bulk", 0);
  hdb_close(db);
}

/* ------------------------------------------------------------------ */

static void test_evil_strings_and_case(void **state) {
  (void)state;
  hdb *db = open_ok("duckdb://:memory:");
  /* Table and column names that differ only in case are distinct. */
  hdb_schema *s1 = NULL, *s2 = NULL;
  OK(db, hdb_schema_from_json("{\"Name\":\"text\",\"name\":\"text\",\"N\":\"int\"}", &s1, NULL));
  OK(db, hdb_schema_from_json("{\"x\":\"int\"}", &s2, NULL));
  OK(db, hdb_table_create(db, "evil_T", s1, 0));
  OK(db, hdb_table_create(db, "evil_t", s2, 0));
  hdb_schema_free(s1);
  hdb_schema_free(s2);
  static const char *const evil[] = {
      "'; DROP TABLE evil_t; --",
      "\"quoted\" and 'single'",
      "back\\slash \\x00 %_ like chars",
      "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89",
      "?, $1, :name",
  };
  enum { NE = sizeof evil / sizeof evil[0] };
  hdb_record *r[NE + 1];
  for (size_t i = 0; i < NE; i++) {
    r[i] = hdb_record_new(evil[i]);
    hdb_record_set_text(r[i], "Name", evil[i]);
    hdb_record_set_text(r[i], "name", "lower");
    hdb_record_set_int(r[i], "N", (int64_t)i);
  }
  r[NE] = hdb_record_new("nul");
  OK(db, hdb_record_set_textn(r[NE], "Name", "a\0b", 3));
  OK(db, hdb_insert(db, "evil_T", r, NE + 1));
  for (size_t i = 0; i <= NE; i++) hdb_record_free(r[i]);
  assert_int_equal(count(db, "evil_t", NULL), 0);
  assert_int_equal(count(db, "evil_T", NULL), NE + 1);
  for (size_t i = 0; i < NE; i++) {
    hdb_record *got = NULL;
    OK(db, hdb_get(db, "evil_T", evil[i], &got));
    hdb_value v;
    assert_int_equal(hdb_record_get(got, "Name", &v), HDB_OK);
    assert_string_equal(v.as.text.data, evil[i]);
    assert_int_equal(hdb_record_get(got, "name", &v), HDB_OK);
    assert_string_equal(v.as.text.data, "lower");
    hdb_record_free(got);
    /* The filter binds the value (never pasted): it matches exactly one row. */
    char filter[256];
    snprintf(filter, sizeof filter, "{\"Name\":\"%s\"}", i == 1 ? "\\\"quoted\\\" and 'single'"
                                                     : i == 2 ? "back\\\\slash \\\\x00 %_ like chars"
                                                              : evil[i]);
    assert_int_equal(count(db, "evil_T", filter), 1);
  }
  hdb_record *got = NULL;
  OK(db, hdb_get(db, "evil_T", "nul", &got));
  hdb_value v;
  assert_int_equal(hdb_record_get(got, "Name", &v), HDB_OK);
  assert_int_equal(v.as.text.len, 3);
  assert_memory_equal(v.as.text.data, "a\0b", 3);
  hdb_record_free(got);
  /* Sorting and aggregates on mixed-case columns (filters and sorts that
   * the shared translator cannot name are done in C). */
  assert_int_equal(count(db, "evil_T", "N >= 2 AND name = 'lower'"), NE - 2);
  hdb_agg agg = {HDB_AGG_SUM, "N"};
  hdb_cursor *c = NULL;
  OK(db, hdb_aggregate(db, "evil_T", &agg, 1, NULL, "N < 3", &c));
  const hdb_record *row;
  assert_int_equal(hdb_cursor_next(c, &row), HDB_OK);
  assert_int_equal(hdb_record_get(row, "sum_N", &v), HDB_OK);
  assert_int_equal(v.as.i, 0 + 1 + 2);
  hdb_cursor_close(c);
  hdb_sort_key key = {"N", 1};
  hdb_query_options q = HDB_QUERY_INIT;
  q.sort = &key;
  q.n_sort = 1;
  q.limit = 1;
  OK(db, hdb_query(db, "evil_T", &q, &c));
  assert_int_equal(hdb_cursor_next(c, &row), HDB_OK);
  assert_string_equal(hdb_record_id(row), evil[NE - 1]);
  hdb_cursor_close(c);
  OK(db, hdb_index_create(db, "evil_T", "Name", HDB_INDEX_SCALAR, NULL));
  OK(db, hdb_index_create(db, "evil_T", "name", HDB_INDEX_SCALAR, NULL));
  OK(db, hdb_table_drop(db, "evil_T", 0));
  assert_int_equal(count(db, "evil_t", NULL), 0);
  OK(db, hdb_table_drop(db, "evil_t", 0));
  hdb_close(db);
}

/* ------------------------------------------------------------------ */

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

typedef struct key {
  unsigned char b[40];
  size_t n;
} key;

static int key_cmp(const void *pa, const void *pb) {
  const key *a = pa, *b = pb;
  size_t m = a->n < b->n ? a->n : b->n;
  int c = memcmp(a->b, b->b, m);
  if (c) return c;
  return a->n < b->n ? -1 : a->n > b->n;
}

static void test_kv_blob_order_matches_memcmp(void **state) {
  (void)state;
  hdb *db = open_ok("duckdb://:memory:");
  enum { NK = 3000 };
  key *keys = calloc(NK, sizeof *keys);
  assert_non_null(keys);
  hdb_kv_batch *b = hdb_kv_batch_new();
  size_t n = 0;
  for (size_t i = 0; i < NK; i++) {
    key k;
    k.n = 1 + rng() % 30; /* both sides of DuckDB's 12-byte inline strings */
    for (size_t j = 0; j < k.n; j++) {
      uint64_t r = rng() % 5;
      k.b[j] = r == 0 ? 0x00 : r == 1 ? 0xff : r == 2 ? 0x80 : (unsigned char)(rng() & 0xff);
    }
    if (i % 7 == 0 && n) { /* share long prefixes with an earlier key */
      k = keys[rng() % n];
      if (k.n < 39) k.b[k.n++] = (unsigned char)(rng() % 3 == 0 ? 0 : 0xff);
    }
    int dup = 0;
    for (size_t j = 0; j < n && !dup; j++) dup = key_cmp(&keys[j], &k) == 0;
    if (dup) continue;
    keys[n++] = k;
    OK(db, hdb_kv_batch_put(b, "order", k.b, k.n, &i, sizeof i));
  }
  OK(db, hdb_kv_write(db, b));
  hdb_kv_batch_free(b);
  qsort(keys, n, sizeof *keys, key_cmp);
  for (int reverse = 0; reverse < 2; reverse++) {
    hdb_kv_range range = {0};
    range.reverse = reverse;
    hdb_kv_iter *it = NULL;
    OK(db, hdb_kv_iter_open(db, "order", &range, &it));
    const void *kp, *vp;
    size_t kl, vl, i = 0;
    while (hdb_kv_iter_next(it, &kp, &kl, &vp, &vl) == HDB_OK) {
      const key *want = &keys[reverse ? n - 1 - i : i];
      if (kl != want->n || memcmp(kp, want->b, kl) != 0) fail_msg("key %zu out of memcmp order", i);
      i++;
    }
    assert_int_equal(i, n);
    hdb_kv_iter_free(it);
  }
  /* Ranges with binary bounds agree with memcmp too. */
  for (int t = 0; t < 50; t++) {
    const key *lo = &keys[rng() % n], *hi = &keys[rng() % n];
    if (key_cmp(lo, hi) > 0) {
      const key *x = lo;
      lo = hi;
      hi = x;
    }
    hdb_kv_range range = {0};
    range.start = lo->b;
    range.start_len = lo->n;
    range.end = hi->b;
    range.end_len = hi->n;
    hdb_kv_iter *it = NULL;
    OK(db, hdb_kv_iter_open(db, "order", &range, &it));
    size_t got = 0, want = 0;
    for (size_t i = 0; i < n; i++) want += key_cmp(&keys[i], lo) >= 0 && key_cmp(&keys[i], hi) < 0;
    const void *kp, *vp;
    size_t kl, vl;
    while (hdb_kv_iter_next(it, &kp, &kl, &vp, &vl) == HDB_OK) got++;
    assert_int_equal(got, want);
    hdb_kv_iter_free(it);
  }
  free(keys);
  hdb_close(db);
}

/* ------------------------------------------------------------------ */

static double ref_dist(hdb_metric m, const float *a, const float *b, uint32_t dim) {
  double dot = 0, na = 0, nb = 0, l2 = 0;
  for (uint32_t i = 0; i < dim; i++) {
    dot += (double)a[i] * b[i];
    na += (double)a[i] * a[i];
    nb += (double)b[i] * b[i];
    l2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
  }
  if (m == HDB_METRIC_L2) return l2;
  if (m == HDB_METRIC_DOT) return -dot;
  if (na == 0 || nb == 0) return 1;
  return 1 - dot / (sqrt(na) * sqrt(nb));
}

static void test_distance_precision(void **state) {
  (void)state;
  hdb *db = open_ok("duckdb://:memory:");
  enum { D = 1536, N = 300 };
  hdb_schema *s = NULL;
  char js[96];
  snprintf(js, sizeof js, "{\"v\":\"vector(%d)\"}", D);
  OK(db, hdb_schema_from_json(js, &s, NULL));
  OK(db, hdb_table_create(db, "prec", s, 0));
  hdb_schema_free(s);
  float *data = malloc((size_t)N * D * sizeof *data), q[D];
  assert_non_null(data);
  hdb_record **recs = calloc(N, sizeof *recs);
  for (size_t i = 0; i < N; i++) {
    char id[16];
    snprintf(id, sizeof id, "p%04zu", i);
    for (size_t j = 0; j < D; j++) data[i * D + j] = (float)((double)(rng() % 20001) / 10000.0 - 1.0) * 50.f;
    recs[i] = hdb_record_new(id);
    hdb_record_set_vector(recs[i], "v", data + i * D, D);
  }
  OK(db, hdb_insert(db, "prec", recs, N));
  for (size_t j = 0; j < D; j++) q[j] = (float)((double)(rng() % 20001) / 10000.0 - 1.0) * 50.f;
  const hdb_metric ms[] = {HDB_METRIC_L2, HDB_METRIC_COSINE, HDB_METRIC_DOT};
  double worst = 0;
  for (size_t m = 0; m < 3; m++) {
    hdb_search sr = HDB_SEARCH_INIT;
    sr.vector = q;
    sr.dim = D;
    sr.k = N;
    sr.metric = ms[m];
    hdb_cursor *c = NULL;
    OK(db, hdb_search_vector(db, "prec", &sr, &c));
    const hdb_record *row;
    while (hdb_cursor_next(c, &row) == HDB_OK) {
      size_t i = (size_t)atoi(hdb_record_id(row) + 1);
      double truth = ref_dist(ms[m], q, data + i * D, D);
      double got = hdb_cursor_distance(c);
      double rel = fabs(got - truth) / (fabs(truth) > 1 ? fabs(truth) : 1);
      if (rel > worst) worst = rel;
    }
    hdb_cursor_close(c);
  }
  printf("      worst relative distance error at dim %d: %.3g\n", D, worst);
  assert_true(worst < 1e-5); /* the conformance suite allows 1e-4 */
  for (size_t i = 0; i < N; i++) hdb_record_free(recs[i]);
  free(recs);
  free(data);
  hdb_close(db);
}

/* ------------------------------------------------------------------ */

static void test_failed_transaction_state(void **state) {
  (void)state;
  const char *url = fresh_url("txnstate");
  char u[512];
  snprintf(u, sizeof u, "%s", url);
  hdb *h1 = open_ok(u), *h2 = open_ok(u);
  hdb_schema *s = NULL;
  OK(h1, hdb_schema_from_json("{\"n\":\"int\"}", &s, NULL));
  OK(h1, hdb_table_create(h1, "t", s, 0));
  hdb_schema_free(s);
  hdb_record *r = hdb_record_new("row");
  hdb_record_set_int(r, "n", 0);
  OK(h1, hdb_insert(h1, "t", &r, 1));
  OK(h2, hdb_begin(h2));
  hdb_record *got = NULL;
  OK(h2, hdb_get(h2, "t", "row", &got));
  hdb_record_free(got);
  hdb_record_set_int(r, "n", 1);
  OK(h1, hdb_update(h1, "t", "row", r));
  hdb_record_set_int(r, "n", 2);
  assert_int_equal(hdb_update(h2, "t", "row", r), HDB_CONFLICT);
  /* Nothing runs outside the transaction the caller believes is open. */
  assert_int_equal(hdb_get(h2, "t", "row", &got), HDB_TXN_STATE);
  assert_int_equal(hdb_kv_put(h2, "", "k", 1, "v", 1), HDB_TXN_STATE);
  assert_int_equal(hdb_commit(h2), HDB_CONFLICT);
  OK(h2, hdb_get(h2, "t", "row", &got)); /* usable again */
  hdb_value v;
  assert_int_equal(hdb_record_get(got, "n", &v), HDB_OK);
  assert_int_equal(v.as.i, 1);
  hdb_record_free(got);
  hdb_record_free(r);
  hdb_close(h1);
  hdb_close(h2);
}

static void test_cursor_outlives_handle(void **state) {
  (void)state;
  hdb *db = open_ok("duckdb://:memory:");
  hdb_schema *s = NULL;
  OK(db, hdb_schema_from_json("{\"n\":\"int\",\"v\":\"vector(4)\"}", &s, NULL));
  OK(db, hdb_table_create(db, "outlive", s, 0));
  hdb_schema_free(s);
  hdb_record **b = make_batch(5000, "o");
  OK(db, hdb_insert(db, "outlive", b, 5000));
  free_batch(b, 5000);
  hdb_cursor *c = NULL;
  hdb_query_options q = HDB_QUERY_INIT;
  OK(db, hdb_query(db, "outlive", &q, &c));
  /* A snapshot: a later delete does not show, nor does closing the handle
   * (the last one on this in-memory database) invalidate it. */
  uint64_t del = 0;
  OK(db, hdb_delete_where(db, "outlive", NULL, &del));
  assert_int_equal(del, 5000);
  hdb_close(db);
  const hdb_record *row;
  size_t n = 0;
  while (hdb_cursor_next(c, &row) == HDB_OK) n++;
  assert_int_equal(n, 5000);
  hdb_cursor_close(c);
}

/* ------------------------------------------------------------------ */

static void test_open_errors(void **state) {
  (void)state;
  hdb *db = NULL;
  hdb_error err;
  assert_int_equal(hdb_open("duckdb://:memory:?threads=0", &db, &err), HDB_BAD_URL);
  assert_int_equal(hdb_open("duckdb://:memory:?bogus=1", &db, &err), HDB_BAD_URL);
  assert_non_null(strstr(err.message, "bogus"));
  assert_int_equal(hdb_open("duckdb://", &db, &err), HDB_BAD_URL);
  assert_int_equal(hdb_open("duckdb:///nonexistent-dir-hdb/x.duckdb", &db, &err), HDB_IO);
  db = open_ok("duckdb://:memory:?threads=2");
  OK(db, hdb_ping(db));
  hdb_close(db);

  /* A corrupt file. */
  const char *url = fresh_url("corrupt");
  char u[512];
  snprintf(u, sizeof u, "%s", url);
  FILE *f = fopen(u + strlen("duckdb://"), "wb");
  assert_non_null(f);
  for (int i = 0; i < 8192; i++) fputc((i * 7919) & 0xff, f);
  fclose(f);
  assert_int_equal(hdb_open(u, &db, &err), HDB_CORRUPT);
  assert_null(db);

  /* A file another process holds: HDB_BUSY. */
  url = fresh_url("locked");
  snprintf(u, sizeof u, "%s", url);
  db = open_ok(u);
  hdb_close(db);
  int ready[2], done[2];
  assert_int_equal(pipe(ready), 0);
  assert_int_equal(pipe(done), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    hdb *child = NULL;
    char c = hdb_open(u, &child, NULL) == HDB_OK ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1) _exit(2);
    if (read(done[0], &c, 1) < 0) _exit(2);
    hdb_close(child);
    _exit(0);
  }
  char c = 0;
  assert_int_equal(read(ready[0], &c, 1), 1);
  assert_int_equal(c, 'y');
  hdb_status st = hdb_open(u, &db, &err);
  if (write(done[1], "x", 1) != 1) fail_msg("pipe");
  int wst = 0;
  waitpid(pid, &wst, 0);
  if (st != HDB_BUSY) fail_msg("open of a locked file -> %s: %s", hdb_status_name(st), err.message);
  /* Free again once the other process is gone. */
  db = open_ok(u);
  hdb_close(db);
}

/* ------------------------------------------------------------------ */

/* core/alloc.h's test hook (the library's internal allocator). */
void hdb__alloc_fail_after(long n);

static int ok_or_nomem(hdb_status st) {
  return st == HDB_OK || st == HDB_NOMEM;
}

#define SOFT(call)                                                                        \
  do {                                                                                    \
    hdb_status st_ = (call);                                                              \
    if (!ok_or_nomem(st_)) fail_msg("k=%ld: %s -> %s: %s", k, #call, hdb_status_name(st_), \
                                    hdb_errmsg(db));                                      \
  } while (0)

/* Every allocation of the library fails in turn, somewhere in a sequence of
 * calls: each call answers OK or HDB_NOMEM, nothing crashes, and (under
 * ASan) nothing leaks. DuckDB's own memory is not part of this. */
static void test_allocation_failures(void **state) {
  (void)state;
  hdb_schema *s = NULL;
  assert_int_equal(hdb_schema_from_json("{\"n\":\"int\",\"t\":\"text\",\"v\":\"vector(4)\"}", &s, NULL), HDB_OK);
  hdb_record **b = make_batch(50, "m");
  for (int i = 0; i < 50; i++) hdb_record_set_text(b[i], "t", i % 2 ? "odd" : "even");
  const float q[4] = {1, 2, 3, 4};
  hdb_record *patch = hdb_record_new(NULL);
  hdb_record_set_text(patch, "t", "patched");
  int completed = 0;
  for (long k = 0; k < 2000 && !completed; k += (k < 300 ? 1 : 7)) {
    hdb *db = NULL;
    hdb__alloc_fail_after(k);
    hdb_status st = hdb_open("duckdb://:memory:", &db, NULL);
    if (st != HDB_OK) {
      hdb__alloc_fail_after(-1);
      if (st != HDB_NOMEM) fail_msg("k=%ld: open -> %s", k, hdb_status_name(st));
      continue;
    }
    SOFT(hdb_table_create(db, "oom", s, HDB_IF_NOT_EXISTS));
    SOFT(hdb_table_create(db, "oomfree", NULL, HDB_IF_NOT_EXISTS));
    hdb_status ins = hdb_insert(db, "oom", b, 50);
    if (ins != HDB_OK && ins != HDB_NOMEM && ins != HDB_NO_TABLE)
      fail_msg("k=%ld: insert -> %s: %s", k, hdb_status_name(ins), hdb_errmsg(db));
    hdb_status ins2 = hdb_insert(db, "oomfree", b, 10);
    (void)ins2;
    hdb_cursor *c = NULL;
    hdb_query_options qo = HDB_QUERY_INIT;
    qo.filter = "t = 'odd' AND n > 3";
    if (hdb_query(db, "oom", &qo, &c) == HDB_OK) {
      const hdb_record *row;
      while (hdb_cursor_next(c, &row) == HDB_OK) {
      }
      hdb_cursor_close(c);
    }
    hdb_search sr = HDB_SEARCH_INIT;
    sr.vector = q;
    sr.dim = 4;
    sr.k = 5;
    sr.filter = "t = 'even'";
    c = NULL;
    if (hdb_search_vector(db, "oom", &sr, &c) == HDB_OK) {
      const hdb_record *row;
      while (hdb_cursor_next(c, &row) == HDB_OK) {
      }
      hdb_cursor_close(c);
    }
    hdb_agg agg[2] = {{HDB_AGG_COUNT, NULL}, {HDB_AGG_SUM, "n"}};
    c = NULL;
    if (hdb_aggregate(db, "oomfree", agg, 2, "t", NULL, &c) == HDB_OK) hdb_cursor_close(c);
    uint64_t n = 0;
    (void)hdb_update_where(db, "oomfree", "n < 5", patch, &n);
    (void)hdb_delete_where(db, "oom", "n >= 40", &n);
    (void)hdb_kv_put(db, "oomkv", "key", 3, "value", 5);
    hdb_kv_iter *it = NULL;
    if (hdb_kv_iter_open(db, "oomkv", NULL, &it) == HDB_OK) hdb_kv_iter_free(it);
    st = hdb_count(db, "oom", "t = 'odd'", &n);
    hdb__alloc_fail_after(-1);
    if (st == HDB_OK && ins == HDB_OK) completed = 1;
    hdb_close(db);
  }
  assert_true(completed);
  hdb_record_free(patch);
  free_batch(b, 50);
  hdb_schema_free(s);
}

/* Table definitions cached per handle follow every create/drop of any
 * handle on the same database: a table recreated with its columns in
 * another order (same types, so DuckDB itself would accept rows in the old
 * order) gets each value into its own column; a drop and create inside a
 * transaction shows to the other handle only once committed, and not at
 * all when rolled back. */
static hdb_schema *schema_of(const char *json) {
  hdb_schema *s = NULL;
  assert_int_equal(hdb_schema_from_json(json, &s, NULL), HDB_OK);
  return s;
}

static void put_ab(hdb *db, const char *id, int64_t a, int64_t b) {
  hdb_record *r = hdb_record_new(id);
  hdb_record_set_int(r, "a", a);
  hdb_record_set_int(r, "b", b);
  OK(db, hdb_insert(db, "tc", &r, 1));
  hdb_record_free(r);
}

static void expect_ab(hdb *db, const char *id, int64_t a, int64_t b) {
  hdb_record *r = NULL;
  OK(db, hdb_get(db, "tc", id, &r));
  hdb_value v;
  assert_int_equal(hdb_record_get(r, "a", &v), HDB_OK);
  assert_int_equal(v.as.i, a);
  assert_int_equal(hdb_record_get(r, "b", &v), HDB_OK);
  assert_int_equal(v.as.i, b);
  hdb_record_free(r);
}

static void recreate(hdb *db, const char *json) {
  hdb_schema *s = schema_of(json);
  OK(db, hdb_table_drop(db, "tc", 0));
  OK(db, hdb_table_create(db, "tc", s, 0));
  hdb_schema_free(s);
}

static void test_table_cache_follows_ddl(void **state) {
  (void)state;
  const char *url = fresh_url("table_cache");
  hdb *a = open_ok(url), *b = open_ok(url);
  hdb_schema *s = schema_of("{\"a\":\"int\",\"b\":\"int\"}");
  OK(a, hdb_table_create(a, "tc", s, 0));
  hdb_schema_free(s);
  put_ab(a, "r1", 1, 2); /* a caches (a, b) */
  expect_ab(a, "r1", 1, 2);

  recreate(b, "{\"b\":\"int\",\"a\":\"int\"}");
  put_ab(a, "r2", 3, 4);
  expect_ab(a, "r2", 3, 4);
  expect_ab(b, "r2", 3, 4);

  /* Inside b's transaction: a keeps the committed definition until the
   * commit, and b sees its own. */
  OK(b, hdb_begin(b));
  recreate(b, "{\"a\":\"int\",\"b\":\"int\",\"c\":\"text\"}");
  put_ab(b, "t1", 5, 6);
  hdb_schema *seen = NULL;
  OK(a, hdb_table_schema(a, "tc", &seen));
  assert_int_equal(hdb_schema_column_count(seen), 2);
  hdb_schema_free(seen);
  OK(b, hdb_commit(b));
  OK(a, hdb_table_schema(a, "tc", &seen));
  assert_int_equal(hdb_schema_column_count(seen), 3);
  hdb_schema_free(seen);
  put_ab(a, "r3", 7, 8);
  expect_ab(a, "r3", 7, 8);
  expect_ab(a, "t1", 5, 6);

  /* Rolled back: the definition a caches stays right. */
  OK(b, hdb_begin(b));
  recreate(b, "{\"b\":\"int\",\"a\":\"int\"}");
  OK(b, hdb_rollback(b));
  put_ab(a, "r4", 9, 10);
  expect_ab(b, "r4", 9, 10);
  OK(b, hdb_table_schema(b, "tc", &seen));
  assert_int_equal(hdb_schema_column_count(seen), 3);
  hdb_schema_free(seen);

  /* Dropped by b: a's next call names the missing table. */
  OK(b, hdb_table_drop(b, "tc", 0));
  hdb_record *r = hdb_record_new("x");
  hdb_record_set_int(r, "a", 1);
  assert_int_equal(hdb_insert(a, "tc", &r, 1), HDB_NO_TABLE);
  hdb_record_free(r);
  hdb_close(a);
  hdb_close(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_persistence_reopen),
      cmocka_unit_test(test_bulk_append_atomic),
      cmocka_unit_test(test_evil_strings_and_case),
      cmocka_unit_test(test_kv_blob_order_matches_memcmp),
      cmocka_unit_test(test_distance_precision),
      cmocka_unit_test(test_failed_transaction_state),
      cmocka_unit_test(test_cursor_outlives_handle),
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_table_cache_follows_ddl),
  };
  return cmocka_run_group_tests_name("duckdb", tests, NULL, NULL);
}
