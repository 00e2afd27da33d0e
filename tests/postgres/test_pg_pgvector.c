/*
 * test_pg_pgvector.c - the postgresql:// backend's pgvector mode, against
 * a server with the extension (with-postgres.sh --pgvector).
 *
 * Checks, besides the public API, what the server holds (libpq on the same
 * URL): the column type (information_schema), the index method and
 * operator class (pg_indexes). Covered: vector(dim) storage and bytea
 * above 16,000 dims; bit-exact round trips (insert, upsert, update,
 * search projection); exact search identical to memory:// (ids and
 * distances) for l2, cosine (zero vectors too) and dot, filtered and not;
 * hnsw / ivfflat indexes with the opclass of the metric, hdb_index_list's
 * params; recall of hnsw on 2,000 clustered vectors >= 0.95; filtered
 * search at 1 % selectivity returns min(k, matches); dims > 2000 ->
 * NOT_SUPPORTED naming the limit; a bytea table made without pgvector
 * still works with pgvector=on (and a vector table with pgvector=off);
 * NaN and wrong dimensions rejected; bad pgvector= values; CREATE
 * EXTENSION by auto/on, and on's refusal on a read-only handle; index
 * searches inside a transaction.
 */
#include <float.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdint.h>
#include <time.h>

#include "pg_test_util.h"

/* ---------------- helpers ---------------- */

static PGconn *raw(void) {
  PGconn *pg = PQconnectdb(pg_url);
  if (PQstatus(pg) != CONNECTION_OK) fail_msg("libpq connect: %s", PQerrorMessage(pg));
  return pg;
}

/* The first value of a one-row query with one text parameter ("" when no row). */
static char *sql1(const char *q, const char *a, const char *b) {
  PGconn *pg = raw();
  const char *vals[2] = {a, b};
  PGresult *r = PQexecParams(pg, q, b ? 2 : a ? 1 : 0, NULL, vals, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", q, PQerrorMessage(pg));
  char *out = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
  PQclear(r);
  PQfinish(pg);
  return out;
}

static char *col_type(const char *table, const char *col) {
  return sql1("SELECT udt_name FROM information_schema.columns WHERE table_name = $1 AND "
              "column_name = $2",
              table, col);
}

static char *index_def(const char *table) {
  return sql1("SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexname LIKE 'hdbx_%'",
              table, NULL);
}

/* The vector field of a record (borrowed) and its dimension. */
static hdb_status get_vec(const hdb_record *r, const char *field, const float **v, uint32_t *dim) {
  hdb_value val;
  hdb_status st = hdb_record_get(r, field, &val);
  if (st != HDB_OK) return st;
  if (val.type != HDB_TYPE_VECTOR) return HDB_TYPE_MISMATCH;
  *v = val.as.vector.data;
  *dim = val.as.vector.dim;
  return HDB_OK;
}

/* Sequential scans of a table and scans of its hanzo index so far
 * (pg_stat_user_tables / _indexes; the primary key's are not counted). A
 * handle's statistics reach the server when its sessions end, so callers
 * close their handle and poll. */
static void scans(const char *table, long *seq, long *idx) {
  PGconn *pg = raw();
  const char *vals[1] = {table};
  PGresult *r = PQexecParams(pg, "SELECT t.seq_scan, coalesce((SELECT sum(i.idx_scan) FROM "
                                 "pg_stat_user_indexes i WHERE i.relname = $1 AND "
                                 "i.indexrelname LIKE 'hdbx_%'), 0) FROM pg_stat_user_tables t "
                                 "WHERE t.relname = $1", 1, NULL, vals, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) fail_msg("%s", PQerrorMessage(pg));
  *seq = atol(PQgetvalue(r, 0, 0));
  *idx = atol(PQgetvalue(r, 0, 1));
  PQclear(r);
  PQfinish(pg);
}

/* Waits (up to 10 s) until the table's index scans reach want. */
static void wait_scans(const char *table, long want_idx, long *seq, long *idx) {
  for (int i = 0; i < 100; i++) {
    scans(table, seq, idx);
    if (*idx >= want_idx) return;
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
  }
}

/* ALTER DATABASE <this one> SET setting, for sessions opened later;
 * NULL: RESET enable_seqscan. */
static void db_setting(const char *setting) {
  PGconn *pg = raw();
  char q[256];
  snprintf(q, sizeof q, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %%I %s%s', current_database()); END $$",
           setting ? "SET " : "RESET enable_seqscan", setting ? setting : "");
  PGresult *r = PQexec(pg, q);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", q, PQerrorMessage(pg));
  PQclear(r);
  PQfinish(pg);
}

static hdb *open_mode(const char *mode) {
  char buf[512], p[32];
  snprintf(p, sizeof p, "pgvector=%s", mode);
  return pg_open_url(pg_url_with(buf, sizeof buf, p));
}

static void create(hdb *db, const char *table, const char *json) {
  hdb_schema *s = NULL;
  hdb_error e;
  if (hdb_schema_from_json(json, &s, &e) != HDB_OK) fail_msg("schema: %s", e.message);
  PG_CHECK(db, hdb_table_create(db, table, s, 0));
  hdb_schema_free(s);
}

static uint64_t rng_s = 7;
static float rndf(void) { /* uniform in [-1, 1) */
  rng_s = rng_s * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((rng_s >> 40) / 8388608.0) - 1.0f;
}

/* Inserts n rows id "rNNNNN" with vector vecs[i] (dim) and grp = i % ngrp. */
static void load(hdb *db, const char *table, const float *vecs, size_t n, uint32_t dim, int ngrp) {
  for (size_t at = 0; at < n;) {
    hdb_record *recs[500];
    size_t m = 0;
    for (; m < 500 && at < n; m++, at++) {
      char id[32];
      snprintf(id, sizeof id, "r%05zu", at);
      recs[m] = hdb_record_new(id);
      PG_CHECK(db, hdb_record_set_vector(recs[m], "v", vecs + at * dim, dim));
      PG_CHECK(db, hdb_record_set_int(recs[m], "grp", (int64_t)(at % (size_t)ngrp)));
    }
    PG_CHECK(db, hdb_insert(db, table, recs, m));
    for (size_t i = 0; i < m; i++) hdb_record_free(recs[i]);
  }
}

typedef struct hits {
  size_t n;
  char id[64][16];
  double d[64];
} hits;

static void search(hdb *db, const char *table, const float *q, uint32_t dim, int k,
                   hdb_metric metric, const char *filter, int exact, int ef, hits *out) {
  hdb_search s = HDB_SEARCH_INIT;
  s.vector = q;
  s.dim = dim;
  s.k = k;
  s.metric = metric;
  s.filter = filter;
  s.exact = exact;
  s.ef = ef;
  hdb_cursor *c = NULL;
  PG_CHECK(db, hdb_search_vector(db, table, &s, &c));
  const hdb_record *r;
  out->n = 0;
  while (hdb_cursor_next(c, &r) == HDB_OK && out->n < 64) {
    snprintf(out->id[out->n], sizeof out->id[0], "%s", hdb_record_id(r));
    out->d[out->n++] = hdb_cursor_distance(c);
  }
  hdb_cursor_close(c);
}

/* ---------------- tests ---------------- */

static void test_mode_and_storage(void **state) {
  (void)state;
  hdb *db = open_mode("on");
  uint32_t caps = hdb_capabilities(db);
  assert_true(caps & HDB_CAP_VECTOR_INDEX);
  assert_true(caps & HDB_CAP_INDEX_HNSW);
  assert_true(caps & HDB_CAP_INDEX_IVF_PQ);
  create(db, "pv_store", "{\"v\":\"vector(4,l2)\",\"huge\":\"vector(16001)\",\"grp\":\"int\"}");
  char *t = col_type("pv_store", "v");
  assert_string_equal(t, "vector");
  free(t);
  t = col_type("pv_store", "huge"); /* over the vector type's 16,000 */
  assert_string_equal(t, "bytea");
  free(t);
  /* The huge column still works (bytea, exact search in the client). */
  float *big = calloc(16001, sizeof *big);
  big[3] = 1.5f;
  hdb_record *r = hdb_record_new("a");
  PG_CHECK(db, hdb_record_set_vector(r, "huge", big, 16001));
  PG_CHECK(db, hdb_insert(db, "pv_store", &r, 1));
  hdb_record_free(r);
  hdb_search s = HDB_SEARCH_INIT;
  s.column = "huge";
  s.vector = big;
  s.dim = 16001;
  s.k = 1;
  hdb_cursor *c = NULL;
  PG_CHECK(db, hdb_search_vector(db, "pv_store", &s, &c));
  const hdb_record *row;
  assert_int_equal(hdb_cursor_next(c, &row), HDB_OK);
  assert_string_equal(hdb_record_id(row), "a");
  assert_true(hdb_cursor_distance(c) == 0.0);
  hdb_cursor_close(c);
  free(big);
  hdb_close(db);

  db = open_mode("off");
  caps = hdb_capabilities(db);
  assert_false(caps & HDB_CAP_VECTOR_INDEX);
  assert_false(caps & (HDB_CAP_INDEX_HNSW | HDB_CAP_INDEX_IVF_PQ));
  create(db, "pv_store_off", "{\"v\":\"vector(4)\"}");
  t = col_type("pv_store_off", "v");
  assert_string_equal(t, "bytea");
  free(t);
  PG_EXPECT(db, HDB_NOT_SUPPORTED, hdb_index_create(db, "pv_store", "v", HDB_INDEX_HNSW, NULL));
  hdb_close(db);

  /* auto uses it (the extension is there). */
  db = open_mode("auto");
  assert_true(hdb_capabilities(db) & HDB_CAP_INDEX_HNSW);
  hdb_close(db);

  char buf[512];
  hdb *bad = NULL;
  hdb_error e;
  assert_int_equal(hdb_open(pg_url_with(buf, sizeof buf, "pgvector=maybe"), &bad, &e), HDB_BAD_URL);
  assert_non_null(strstr(e.message, "pgvector"));
}

static void test_round_trip_bits(void **state) {
  (void)state;
  hdb *db = open_mode("on");
  create(db, "pv_bits", "{\"v\":\"vector(12)\",\"grp\":\"int\"}");
  float v[12] = {0.0f, -0.0f, 1.0f / 3.0f, FLT_MAX, -FLT_MAX, FLT_MIN,
                 1e-45f /* denormal */, 3.4028e38f, 1e-38f, -2.5e-40f, 123456.789f, 0.1f};
  hdb_record *r = hdb_record_new("x");
  PG_CHECK(db, hdb_record_set_vector(r, "v", v, 12));
  PG_CHECK(db, hdb_insert(db, "pv_bits", &r, 1));
  hdb_record_free(r);
  hdb_record *got = NULL;
  PG_CHECK(db, hdb_get(db, "pv_bits", "x", &got));
  const float *gv;
  uint32_t gd;
  PG_CHECK(db, get_vec(got, "v", &gv, &gd));
  assert_int_equal(gd, 12);
  assert_memory_equal(gv, v, sizeof v);
  hdb_record_free(got);

  /* upsert and update (parameters, not COPY) keep the bits too */
  for (int i = 0; i < 12; i++) v[i] = -v[i];
  r = hdb_record_new("x");
  PG_CHECK(db, hdb_record_set_vector(r, "v", v, 12));
  PG_CHECK(db, hdb_upsert(db, "pv_bits", &r, 1));
  hdb_record_free(r);
  PG_CHECK(db, hdb_get(db, "pv_bits", "x", &got));
  PG_CHECK(db, get_vec(got, "v", &gv, &gd));
  assert_memory_equal(gv, v, sizeof v);
  hdb_record_free(got);
  v[2] = 7.0f / 9.0f;
  hdb_record *patch = hdb_record_new("x");
  PG_CHECK(db, hdb_record_set_vector(patch, "v", v, 12));
  PG_CHECK(db, hdb_update(db, "pv_bits", "x", patch));
  hdb_record_free(patch);
  PG_CHECK(db, hdb_get(db, "pv_bits", "x", &got));
  PG_CHECK(db, get_vec(got, "v", &gv, &gd));
  assert_memory_equal(gv, v, sizeof v);
  hdb_record_free(got);

  /* and through a search's rows */
  float q[12] = {0};
  hdb_search s = HDB_SEARCH_INIT;
  s.vector = q;
  s.dim = 12;
  s.k = 1;
  hdb_cursor *c = NULL;
  PG_CHECK(db, hdb_search_vector(db, "pv_bits", &s, &c));
  const hdb_record *row;
  assert_int_equal(hdb_cursor_next(c, &row), HDB_OK);
  PG_CHECK(db, get_vec(row, "v", &gv, &gd));
  assert_memory_equal(gv, v, sizeof v);
  hdb_cursor_close(c);

  /* NaN and wrong dimensions never reach the server */
  float nanv[12] = {0};
  nanv[4] = NAN;
  r = hdb_record_new("nan");
  hdb_status st = hdb_record_set_vector(r, "v", nanv, 12);
  if (st == HDB_OK) st = hdb_insert(db, "pv_bits", &r, 1);
  assert_int_equal(st, HDB_NOT_FINITE);
  hdb_record_free(r);
  r = hdb_record_new("short");
  PG_CHECK(db, hdb_record_set_vector(r, "v", v, 11));
  PG_EXPECT(db, HDB_DIMENSION, hdb_insert(db, "pv_bits", &r, 1));
  hdb_record_free(r);
  s.dim = 11;
  PG_EXPECT(db, HDB_DIMENSION, hdb_search_vector(db, "pv_bits", &s, &c));
  s.dim = 12;
  q[0] = INFINITY;
  PG_EXPECT(db, HDB_NOT_FINITE, hdb_search_vector(db, "pv_bits", &s, &c));
  hdb_close(db);
}

/* Exact search equals memory://'s, ids and distance bits, for each metric. */
static void test_exact_matches_memory(void **state) {
  (void)state;
  static const char *metrics[3] = {"l2", "cosine", "dot"};
  enum { N = 600, D = 24 };
  static float vecs[N * D];
  for (size_t i = 0; i < N * D; i++) vecs[i] = rndf();
  for (int j = 0; j < D; j++) vecs[5 * D + j] = 0.0f; /* a zero vector */
  memcpy(vecs + 9 * D, vecs + 8 * D, D * sizeof *vecs); /* a tie: ids decide */
  hdb *db = open_mode("on");
  hdb *mem = pg_open_url("memory://");
  for (int m = 0; m < 3; m++) {
    char name[32], schema[96];
    snprintf(name, sizeof name, "pv_exact_%s", metrics[m]);
    snprintf(schema, sizeof schema, "{\"v\":\"vector(%d,%s)\",\"grp\":\"int\"}", D, metrics[m]);
    create(db, name, schema);
    create(mem, name, schema);
    load(db, name, vecs, N, D, 10);
    load(mem, name, vecs, N, D, 10);
    /* An index of this metric must not change exact answers. */
    if (m == 1) PG_CHECK(db, hdb_index_create(db, name, "v", HDB_INDEX_HNSW, NULL));
    for (int t = 0; t < 12; t++) {
      float q[D];
      for (int j = 0; j < D; j++) q[j] = t == 0 ? 0.0f : t == 1 ? vecs[8 * D + j] : rndf();
      const char *filter = (t % 3 == 2) ? "grp = 3" : NULL;
      int k = t % 4 == 3 ? 50 : 10;
      hits a, b;
      search(db, name, q, D, k, HDB_METRIC_DEFAULT, filter, m == 1 && t % 2, 0, &a);
      search(mem, name, q, D, k, HDB_METRIC_DEFAULT, filter, 1, 0, &b);
      if (m == 1 && !(t % 2)) continue; /* approximate (index): recall is tested below */
      assert_int_equal(a.n, b.n);
      for (size_t i = 0; i < a.n; i++) {
        if (strcmp(a.id[i], b.id[i]) != 0 || memcmp(&a.d[i], &b.d[i], sizeof a.d[i]) != 0)
          fail_msg("%s query %d rank %zu: postgres %s %.9g, memory %s %.9g", metrics[m], t, i,
                   a.id[i], a.d[i], b.id[i], b.d[i]);
      }
    }
  }
  hdb_close(mem);
  hdb_close(db);
}

/* Many exact ties (components in {-1, -0.5, 0, 0.5, 1}, 6 dims): the
 * server's pages end inside runs of equal distances, and the ids decide. */
static void test_exact_ties_match_memory(void **state) {
  (void)state;
  static const char *metrics[2] = {"l2", "cosine"};
  enum { N = 800, D = 6 };
  static float vecs[N * D];
  for (size_t i = 0; i < N * D; i++) vecs[i] = (float)((int)((rndf() + 1.0f) * 2.5f) - 2) * 0.5f;
  hdb *db = open_mode("on");
  hdb *mem = pg_open_url("memory://");
  for (int m = 0; m < 2; m++) {
    char name[32], schema[96];
    snprintf(name, sizeof name, "pv_ties_%s", metrics[m]);
    snprintf(schema, sizeof schema, "{\"v\":\"vector(%d,%s)\",\"grp\":\"int\"}", D, metrics[m]);
    create(db, name, schema);
    create(mem, name, schema);
    load(db, name, vecs, N, D, 4);
    load(mem, name, vecs, N, D, 4);
    for (int t = 0; t < 20; t++) {
      float q[D];
      for (int j = 0; j < D; j++) q[j] = (float)((int)((rndf() + 1.0f) * 2.5f) - 2) * 0.5f;
      const char *filter = t % 2 ? "grp = 1" : NULL;
      int k = t % 3 == 0 ? 60 : 7;
      hits a, b;
      search(db, name, q, D, k, HDB_METRIC_DEFAULT, filter, 0, 0, &a);
      search(mem, name, q, D, k, HDB_METRIC_DEFAULT, filter, 1, 0, &b);
      assert_int_equal(a.n, b.n);
      for (size_t i = 0; i < a.n; i++)
        if (strcmp(a.id[i], b.id[i]) != 0 || memcmp(&a.d[i], &b.d[i], sizeof a.d[i]) != 0)
          fail_msg("ties %s query %d rank %zu: postgres %s %.9g, memory %s %.9g", metrics[m], t, i,
                   a.id[i], a.d[i], b.id[i], b.d[i]);
    }
  }
  hdb_close(mem);
  hdb_close(db);
}

static void test_index_opclass_and_params(void **state) {
  (void)state;
  static const char *metrics[3] = {"l2", "cosine", "dot"};
  static const char *ops[3] = {"vector_l2_ops", "vector_cosine_ops", "vector_ip_ops"};
  hdb *db = open_mode("on");
  for (int m = 0; m < 3; m++) {
    char name[32], schema[96];
    snprintf(name, sizeof name, "pv_ix_%s", metrics[m]);
    snprintf(schema, sizeof schema, "{\"v\":\"vector(8,%s)\",\"grp\":\"int\"}", metrics[m]);
    create(db, name, schema);
    float vecs[100 * 8];
    for (size_t i = 0; i < 100 * 8; i++) vecs[i] = rndf();
    load(db, name, vecs, 100, 8, 5);
    PG_CHECK(db, hdb_index_create(db, name, "v", HDB_INDEX_HNSW, "{\"m\":8,\"ef_construction\":32}"));
    char *def = index_def(name);
    assert_non_null(strstr(def, "USING hnsw"));
    assert_non_null(strstr(def, ops[m]));
    assert_non_null(strstr(def, "m='8'"));
    assert_non_null(strstr(def, "ef_construction='32'"));
    free(def);
    hdb_index_info *infos = NULL;
    size_t n = 0;
    PG_CHECK(db, hdb_index_list(db, name, &infos, &n));
    assert_int_equal(n, 1);
    assert_int_equal(infos[0].type, HDB_INDEX_HNSW);
    assert_int_equal(infos[0].rows_indexed, 100);
    assert_non_null(strstr(infos[0].params, ops[m]));
    hdb_index_info_free(infos, n);
    PG_EXPECT(db, HDB_EXISTS, hdb_index_create(db, name, "v", HDB_INDEX_IVF_PQ, NULL));
    PG_CHECK(db, hdb_index_drop(db, name, "v"));
    def = index_def(name);
    assert_string_equal(def, "");
    free(def);

    /* ivf_pq is pgvector's ivfflat, and says so */
    PG_CHECK(db, hdb_index_create(db, name, "v", HDB_INDEX_IVF_PQ, "{\"nlist\":4,\"m\":4}"));
    def = index_def(name);
    assert_non_null(strstr(def, "USING ivfflat"));
    /* vector_l2_ops is ivfflat's default class, which indexdef leaves out */
    if (m) assert_non_null(strstr(def, ops[m]));
    else assert_null(strstr(def, "_ops"));
    assert_non_null(strstr(def, "lists='4'"));
    free(def);
    PG_CHECK(db, hdb_index_list(db, name, &infos, &n));
    assert_int_equal(infos[0].type, HDB_INDEX_IVF_PQ);
    assert_non_null(strstr(infos[0].params, "\"pgvector\":\"ivfflat\""));
    hdb_index_info_free(infos, n);
    float q[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    hits h;
    search(db, name, q, 8, 10, HDB_METRIC_DEFAULT, NULL, 0, 0, &h);
    assert_int_equal(h.n, 10);
    PG_CHECK(db, hdb_index_drop(db, name, "v"));
  }
  /* bad parameters are refused by us, with pgvector's ranges */
  PG_EXPECT(db, HDB_INVALID_ARGUMENT,
            hdb_index_create(db, "pv_ix_l2", "v", HDB_INDEX_HNSW, "{\"m\":1}"));
  PG_EXPECT(db, HDB_INVALID_ARGUMENT,
            hdb_index_create(db, "pv_ix_l2", "v", HDB_INDEX_HNSW, "{\"m\":64,\"ef_construction\":100}"));
  PG_EXPECT(db, HDB_INVALID_ARGUMENT,
            hdb_index_create(db, "pv_ix_l2", "v", HDB_INDEX_IVF_PQ, "{\"nlist\":0}"));

  /* over pgvector's 2,000 index dimensions */
  create(db, "pv_wide", "{\"v\":\"vector(2001)\"}");
  PG_EXPECT(db, HDB_NOT_SUPPORTED, hdb_index_create(db, "pv_wide", "v", HDB_INDEX_HNSW, NULL));
  assert_non_null(strstr(hdb_errmsg(db), "2000"));
  PG_EXPECT(db, HDB_NOT_SUPPORTED, hdb_index_create(db, "pv_wide", "v", HDB_INDEX_IVF_PQ, NULL));
  assert_non_null(strstr(hdb_errmsg(db), "2000"));
  PG_CHECK(db, hdb_index_create(db, "pv_wide", "v", HDB_INDEX_FLAT, NULL));
  hdb_close(db);
}

enum { RN = 2000, RD = 32, RC = 20 };
static float rvecs[RN * RD];

static void make_clusters(void) {
  float centers[RC][RD];
  for (int c = 0; c < RC; c++)
    for (int j = 0; j < RD; j++) centers[c][j] = rndf() * 4.0f;
  for (size_t i = 0; i < RN; i++)
    for (int j = 0; j < RD; j++) rvecs[i * RD + j] = centers[i % RC][j] + rndf() * 0.5f;
}

static void test_hnsw_recall_and_filters(void **state) {
  (void)state;
  make_clusters();
  hdb *db = open_mode("on");
  create(db, "pv_recall", "{\"v\":\"vector(32,l2)\",\"grp\":\"int\"}");
  load(db, "pv_recall", rvecs, RN, RD, 100); /* grp = i % 100: 20 rows each */
  PG_CHECK(db, hdb_index_create(db, "pv_recall", "v", HDB_INDEX_HNSW,
                                "{\"m\":16,\"ef_construction\":64}"));
  long seq0, idx0, seq1, idx1;
  hdb_close(db); /* statistics of the load and build reach the server */
  scans("pv_recall", &seq0, &idx0);
  db = open_mode("on");
  int hit = 0, total = 0;
  for (int t = 0; t < 50; t++) {
    float q[RD];
    const float *base = rvecs + (size_t)(t * 37 % RN) * RD;
    for (int j = 0; j < RD; j++) q[j] = base[j] + rndf() * 0.3f;
    hits approx, exact;
    search(db, "pv_recall", q, RD, 10, HDB_METRIC_DEFAULT, NULL, 0, 0, &approx);
    search(db, "pv_recall", q, RD, 10, HDB_METRIC_DEFAULT, NULL, 1, 0, &exact);
    assert_int_equal(approx.n, 10);
    assert_int_equal(exact.n, 10);
    for (size_t i = 0; i < approx.n; i++)
      for (size_t j = 0; j < exact.n; j++)
        if (!strcmp(approx.id[i], exact.id[j])) hit++;
    total += 10;
    /* ranked closest first by our own distances */
    for (size_t i = 1; i < approx.n; i++) assert_true(approx.d[i - 1] <= approx.d[i]);

    /* 1 % selectivity (grp = t: 20 rows) through the index's iterative
     * scan: k rows; a narrower filter: all its matches */
    char f[64];
    snprintf(f, sizeof f, "grp = %d", t);
    hits fh;
    search(db, "pv_recall", q, RD, 10, HDB_METRIC_DEFAULT, f, 0, 0, &fh);
    assert_int_equal(fh.n, 10);
    search(db, "pv_recall", q, RD, 30, HDB_METRIC_DEFAULT, f, 0, 0, &fh);
    assert_int_equal(fh.n, 20);
    snprintf(f, sizeof f, "grp = %d AND grp != %d", t, t);
    search(db, "pv_recall", q, RD, 5, HDB_METRIC_DEFAULT, f, 0, 0, &fh);
    assert_int_equal(fh.n, 0);
  }
  hdb_close(db);
  /* (the 50 unfiltered approximate searches went through the index) */
  wait_scans("pv_recall", idx0 + 50, &seq1, &idx1);
  assert_true(idx1 - idx0 >= 50);
  /* The index does the approximate searches, and its iterative scan
   * answers the filtered ones (1 % selectivity) with k rows: no fallback to
   * the exact path B, which would be a sequential scan. On 2,000 rows the
   * planner would rather scan and sort for the filtered query (exact, and
   * also fine); enable_seqscan = off for the handle's sessions makes it
   * take the index, as it does on large tables. */
  scans("pv_recall", &seq0, &idx0);
  db_setting("enable_seqscan = off");
  db = open_mode("on");
  for (int t = 0; t < 20; t++) {
    float q[RD];
    for (int j = 0; j < RD; j++) q[j] = rvecs[(size_t)t * RD + j];
    char f[64];
    snprintf(f, sizeof f, "grp = %d", t);
    hits fh;
    search(db, "pv_recall", q, RD, 10, HDB_METRIC_DEFAULT, NULL, 0, 0, &fh);
    search(db, "pv_recall", q, RD, 10, HDB_METRIC_DEFAULT, f, 0, 0, &fh);
    assert_int_equal(fh.n, 10);
  }
  hdb_close(db);
  db_setting(NULL);
  wait_scans("pv_recall", idx0 + 40, &seq1, &idx1);
  printf("      (40 searches: %ld index scans, %ld sequential scans)\n", idx1 - idx0, seq1 - seq0);
  assert_true(idx1 - idx0 >= 40);
  assert_int_equal(seq1 - seq0, 0);
  db = open_mode("on");
  double recall = (double)hit / total;
  printf("      (hnsw recall@10 on %d clustered %d-d vectors: %.3f)\n", RN, RD, recall);
  assert_true(recall >= 0.95);
  /* refine: 4 k candidates from the index, the k best kept, in order */
  {
    hdb_search s = HDB_SEARCH_INIT;
    s.vector = rvecs + 5 * RD;
    s.dim = RD;
    s.k = 10;
    s.refine = 4;
    hdb_cursor *c = NULL;
    PG_CHECK(db, hdb_search_vector(db, "pv_recall", &s, &c));
    const hdb_record *row;
    int n = 0;
    double prev = -1;
    while (hdb_cursor_next(c, &row) == HDB_OK) {
      if (n == 0) assert_string_equal(hdb_record_id(row), "r00005");
      assert_true(hdb_cursor_distance(c) >= prev);
      prev = hdb_cursor_distance(c);
      n++;
    }
    hdb_cursor_close(c);
    assert_int_equal(n, 10);
  }
  /* k beyond pgvector's ef_search cap still returns k */
  float q[RD] = {0};
  hits big;
  search(db, "pv_recall", q, RD, 64, HDB_METRIC_DEFAULT, NULL, 0, 10, &big);
  assert_int_equal(big.n, 64);
  hdb_close(db);
}

static void test_old_bytea_table(void **state) {
  (void)state;
  float v[4] = {1, 2, 3, 4}, w[4] = {4, 3, 2, 1};
  hdb *db = open_mode("off");
  create(db, "pv_old", "{\"v\":\"vector(4,cosine)\",\"grp\":\"int\"}");
  load(db, "pv_old", v, 1, 4, 1);
  hdb_close(db);

  db = open_mode("on");
  char *t = col_type("pv_old", "v");
  assert_string_equal(t, "bytea");
  free(t);
  hdb_record *r = hdb_record_new("r00001");
  PG_CHECK(db, hdb_record_set_vector(r, "v", w, 4));
  PG_CHECK(db, hdb_insert(db, "pv_old", &r, 1));
  hdb_record_free(r);
  hits h;
  search(db, "pv_old", w, 4, 5, HDB_METRIC_DEFAULT, NULL, 0, 0, &h);
  assert_int_equal(h.n, 2);
  assert_string_equal(h.id[0], "r00001");
  hdb_record *got = NULL;
  PG_CHECK(db, hdb_get(db, "pv_old", "r00000", &got));
  const float *gv;
  uint32_t gd;
  PG_CHECK(db, get_vec(got, "v", &gv, &gd));
  assert_memory_equal(gv, v, sizeof v);
  hdb_record_free(got);
  PG_EXPECT(db, HDB_NOT_SUPPORTED, hdb_index_create(db, "pv_old", "v", HDB_INDEX_HNSW, NULL));
  assert_non_null(strstr(hdb_errmsg(db), "bytea"));
  /* and the other way: a vector table read with pgvector off */
  create(db, "pv_new", "{\"v\":\"vector(4)\",\"grp\":\"int\"}");
  load(db, "pv_new", v, 1, 4, 1);
  hdb_close(db);
  db = open_mode("off");
  PG_CHECK(db, hdb_get(db, "pv_new", "r00000", &got));
  PG_CHECK(db, get_vec(got, "v", &gv, &gd));
  assert_memory_equal(gv, v, sizeof v);
  hdb_record_free(got);
  search(db, "pv_new", w, 4, 5, HDB_METRIC_DEFAULT, NULL, 0, 0, &h);
  assert_int_equal(h.n, 1);
  hdb_close(db);
}

/* A database without the extension: auto and on create it on writable
 * handles; a read-only handle cannot, so on fails saying why and auto
 * runs without pgvector. */
static void test_extension_creation(void **state) {
  (void)state;
  PGconn *pg = raw();
  PGresult *r = PQexec(pg, "DROP DATABASE IF EXISTS pv_noext");
  PQclear(r);
  r = PQexec(pg, "CREATE DATABASE pv_noext");
  if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s", PQerrorMessage(pg));
  PQclear(r);
  PQfinish(pg);
  /* the test URL ends in "/hanzo" (pg-throwaway.sh) */
  char base[512], url[600];
  snprintf(base, sizeof base, "%s", pg_url);
  char *slash = strrchr(base, '/');
  assert_non_null(slash);
  snprintf(slash, sizeof base - (size_t)(slash - base), "/pv_noext");

  hdb_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.read_only = 1;
  hdb *db = NULL;
  hdb_error e;
  snprintf(url, sizeof url, "%s?pgvector=on", base);
  cfg.url = url;
  assert_int_equal(hdb_open_config(&cfg, &db, &e), HDB_NOT_SUPPORTED);
  assert_non_null(strstr(e.message, "read-only"));
  snprintf(url, sizeof url, "%s?pgvector=auto", base);
  PG_CHECK(db, hdb_open_config(&cfg, &db, &e));
  assert_false(hdb_capabilities(db) & HDB_CAP_VECTOR_INDEX);
  hdb_close(db);
  snprintf(url, sizeof url, "%s?pgvector=on", base);
  db = pg_open_url(url); /* writable: CREATE EXTENSION */
  assert_true(hdb_capabilities(db) & HDB_CAP_INDEX_HNSW);
  hdb_close(db);
  cfg.url = url; /* now the read-only handle finds it installed */
  PG_CHECK(db, hdb_open_config(&cfg, &db, &e));
  assert_true(hdb_capabilities(db) & HDB_CAP_INDEX_HNSW);
  hdb_close(db);
}

/* Index searches inside a transaction: SET LOCAL does not outlive the
 * call, reads see the transaction's own writes. */
static void test_search_in_transaction(void **state) {
  (void)state;
  hdb *db = open_mode("on");
  create(db, "pv_txn", "{\"v\":\"vector(8,cosine)\",\"grp\":\"int\"}");
  float vecs[300 * 8];
  for (size_t i = 0; i < 300 * 8; i++) vecs[i] = rndf();
  load(db, "pv_txn", vecs, 300, 8, 3);
  PG_CHECK(db, hdb_index_create(db, "pv_txn", "v", HDB_INDEX_HNSW, NULL));
  PG_CHECK(db, hdb_begin(db));
  float q[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  hdb_record *rec = hdb_record_new("zz");
  PG_CHECK(db, hdb_record_set_vector(rec, "v", q, 8));
  PG_CHECK(db, hdb_record_set_int(rec, "grp", 1));
  PG_CHECK(db, hdb_insert(db, "pv_txn", &rec, 1));
  hdb_record_free(rec);
  hits h;
  for (int i = 0; i < 3; i++) {
    search(db, "pv_txn", q, 8, 5, HDB_METRIC_DEFAULT, i == 1 ? "grp = 1" : NULL, i == 2, 60, &h);
    assert_int_equal(h.n, 5);
    assert_string_equal(h.id[0], "zz");
    assert_true(fabs(h.d[0]) < 1e-6);
  }
  PG_CHECK(db, hdb_rollback(db));
  search(db, "pv_txn", q, 8, 5, HDB_METRIC_DEFAULT, NULL, 0, 0, &h);
  assert_int_equal(h.n, 5);
  assert_string_not_equal(h.id[0], "zz");
  hdb_close(db);
}

/* The index search options are session settings on pooled connections,
 * remembered per connection (pg_search.c). A server restart replaces the
 * connections; the new ones must get the settings again, not inherit what
 * was remembered for the old ones: else the filtered index scan would run
 * without iterative scans (ef_search 40 candidates, 1 % passing) and fall
 * back to the exact path, a sequential scan. */
static void test_settings_after_restart(void **state) {
  (void)state;
  if (!getenv("HANZO_TEST_PG_SCRIPT")) skip();
  make_clusters();
  hdb *db = open_mode("on");
  PG_CHECK(db, hdb_table_drop(db, "pv_restart", HDB_IF_EXISTS));
  create(db, "pv_restart", "{\"v\":\"vector(32,l2)\",\"grp\":\"int\"}");
  load(db, "pv_restart", rvecs, RN, RD, 100);
  PG_CHECK(db, hdb_index_create(db, "pv_restart", "v", HDB_INDEX_HNSW, NULL));
  hdb_close(db);
  db_setting("enable_seqscan = off");
  db = open_mode("on");
  for (int round = 0; round < 2; round++) {
    long seq0, idx0, seq1, idx1;
    if (round == 1) {
      /* settings on the pool's connection, then the restart; the pool
       * (and what it remembered) lives on in db */
      hits fh;
      search(db, "pv_restart", rvecs, RD, 10, HDB_METRIC_DEFAULT, "grp = 0", 0, 0, &fh);
      assert_int_equal(pg_server("restart"), 0);
    }
    scans("pv_restart", &seq0, &idx0);
    for (int t = 0; t < 10; t++) {
      float q[RD];
      for (int j = 0; j < RD; j++) q[j] = rvecs[(size_t)t * RD + j];
      char f[64];
      snprintf(f, sizeof f, "grp = %d", t);
      hits fh;
      search(db, "pv_restart", q, RD, 10, HDB_METRIC_DEFAULT, f, 0, 0, &fh);
      assert_int_equal(fh.n, 10);
      for (size_t i = 1; i < fh.n; i++) assert_true(fh.d[i - 1] <= fh.d[i]);
    }
    /* statistics reach the server when sessions end: a fresh handle
     * (another pool) would not end ours, so close and reopen */
    hdb_close(db);
    wait_scans("pv_restart", idx0 + 10, &seq1, &idx1);
    printf("      (round %d: %ld index scans, %ld sequential scans)\n", round, idx1 - idx0,
           seq1 - seq0);
    assert_true(idx1 - idx0 >= 10);
    assert_int_equal(seq1 - seq0, 0);
    if (round == 0) db = open_mode("on");
  }
  db_setting(NULL);
}

int main(int argc, char **argv) {
  pg_usage(argc, argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mode_and_storage),
      cmocka_unit_test(test_round_trip_bits),
      cmocka_unit_test(test_exact_matches_memory),
      cmocka_unit_test(test_exact_ties_match_memory),
      cmocka_unit_test(test_index_opclass_and_params),
      cmocka_unit_test(test_hnsw_recall_and_filters),
      cmocka_unit_test(test_old_bytea_table),
      cmocka_unit_test(test_extension_creation),
      cmocka_unit_test(test_search_in_transaction),
      cmocka_unit_test(test_settings_after_restart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
