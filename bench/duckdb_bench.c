/*
 * duckdb_bench.c - hanzo-db's duckdb:// backend against the raw DuckDB C
 * API, side by side in one run, on the same data and the same queries:
 *
 *   load:   N records (id, cat int, year int, tag text, emb FLOAT[D]);
 *           hanzo-db: hdb_insert in batches (HANZO_BENCH_BATCH, default
 *           10000) of records built through the API; raw: one appender fed
 *           the same rows as data chunks (DuckDB's fastest load path),
 *           flushed per batch; raw txn: BEGIN, appender, COMMIT per batch
 *           (the all-or-nothing guarantee hdb_insert gives); same table
 *           layout (id VARCHAR PRIMARY KEY); the three rotate per batch.
 *   search: Q filtered vector queries (cat = c, about 10 % of the rows),
 *           k nearest by l2, projecting id, cat, year, tag;
 *           hanzo-db: hdb_search_vector; raw: one prepared statement
 *             SELECT id, cat, year, tag, array_distance(emb, ?) AS d
 *             FROM t WHERE emb IS NOT NULL AND cat = ? ORDER BY d, id LIMIT k
 *           executed per query, rows read back as strings.
 * The two sides alternate batch by batch and query by query (the first
 * side flips every query), so a busy machine slows both alike.
 * Both sides answer the same ids in the same order (checked). Printed:
 * load time, queries per second, p50/p99 latency, and hanzo/raw ratios
 * (the goal is an overhead of at most 10 % on search).
 *
 *   duckdb_bench [N [Q [DIM [URL]]]]     defaults 100000 1000 384 duckdb://:memory:
 *
 * URL may carry ?threads=N (the raw side gets the same setting); threads=1
 * makes the two sides comparable on a machine shared with other work,
 * where DuckDB's worker threads otherwise meet different contention.
 *
 * The raw side uses an in-memory database when URL is :memory:, else the
 * same path with ".raw" appended.
 */
#include <duckdb.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hanzodb.h"

#define K 10
#define NCAT 10

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng_s = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void) {
  uint64_t z = (rng_s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
static float frand(void) {
  return (float)((double)(rng() >> 11) / 9007199254740992.0) * 2.f - 1.f;
}

static int dcmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void pct(double *lat, size_t n, double *p50, double *p99) {
  qsort(lat, n, sizeof *lat, dcmp);
  *p50 = lat[n / 2];
  *p99 = lat[(size_t)((double)n * 0.99) < n ? (size_t)((double)n * 0.99) : n - 1];
}

static void die(const char *what, const char *msg) {
  fprintf(stderr, "duckdb_bench: %s: %s\n", what, msg ? msg : "");
  exit(1);
}

/* The data set, shared by every side. */
static const char *const tags[] = {"news", "code", "chat", "mail", "note"};
static float *emb;
static int64_t *cat, *year;
static char (*ids)[16];

/* Rows off..off+m into app as data chunks of DuckDB's vector size. */
static void append_rows(duckdb_appender app, duckdb_data_chunk ch, size_t off, size_t m, unsigned dim) {
  idx_t cap = duckdb_vector_size(), rows = 0;
  for (size_t r = off; r < off + m; r++) {
    duckdb_vector_assign_string_element(duckdb_data_chunk_get_vector(ch, 0), rows, ids[r]);
    ((int64_t *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, 1)))[rows] = cat[r];
    ((int64_t *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, 2)))[rows] = year[r];
    duckdb_vector_assign_string_element(duckdb_data_chunk_get_vector(ch, 3), rows, tags[r % 5]);
    float *child = duckdb_vector_get_data(duckdb_array_vector_get_child(duckdb_data_chunk_get_vector(ch, 4)));
    memcpy(child + rows * dim, emb + r * dim, dim * sizeof(float));
    if (++rows == cap || r + 1 == off + m) {
      duckdb_data_chunk_set_size(ch, rows);
      if (duckdb_append_data_chunk(app, ch) != DuckDBSuccess) die("append", duckdb_appender_error(app));
      duckdb_data_chunk_reset(ch);
      rows = 0;
    }
  }
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)atol(argv[1]) : 100000;
  size_t nq = argc > 2 ? (size_t)atol(argv[2]) : 1000;
  unsigned dim = argc > 3 ? (unsigned)atoi(argv[3]) : 384;
  const char *url = argc > 4 ? argv[4] : "duckdb://:memory:";
  if (n == 0 || nq == 0 || dim == 0) die("usage", "duckdb_bench [N [Q [DIM [URL]]]]");

  /* Data and queries, shared by both sides. */
  emb = malloc(n * dim * sizeof *emb);
  float *qv = malloc(nq * dim * sizeof *qv);
  cat = malloc(n * sizeof *cat);
  year = malloc(n * sizeof *year);
  int64_t *qcat = malloc(nq * sizeof *qcat);
  ids = malloc(n * sizeof *ids);
  if (!emb || !qv || !cat || !year || !qcat || !ids) die("malloc", "out of memory");
  for (size_t i = 0; i < n; i++) {
    snprintf(ids[i], sizeof ids[i], "doc%09zu", (i * 7919) % 1000000007);
    cat[i] = (int64_t)(rng() % NCAT);
    year[i] = 2000 + (int64_t)(rng() % 25);
    for (unsigned j = 0; j < dim; j++) emb[i * dim + j] = frand();
  }
  for (size_t q = 0; q < nq; q++) {
    qcat[q] = (int64_t)(rng() % NCAT);
    for (unsigned j = 0; j < dim; j++) qv[q * dim + j] = frand();
  }
  char (*hz_ids)[K][16] = calloc(nq, sizeof *hz_ids), (*raw_ids)[K][16] = calloc(nq, sizeof *raw_ids);
  double *lat = malloc(nq * sizeof *lat);
  if (!hz_ids || !raw_ids || !lat) die("malloc", "out of memory");

  printf("duckdb_bench: %zu records, %u-d vectors + metadata, %zu filtered queries (cat = c, ~%d%%), k=%d, l2\n",
         n, dim, nq, 100 / NCAT, K);
  printf("DuckDB %s, hanzo-db %s, %ld CPUs\n", duckdb_library_version(), hdb_version(),
         sysconf(_SC_NPROCESSORS_ONLN));

  /* Both databases side by side; every step alternates between them so
   * that a busy machine slows both alike. */
  hdb *db = NULL;
  hdb_error err;
  /* The database path (without "?threads=N") and the thread count, which
   * the raw side gets too. */
  char path[1024];
  snprintf(path, sizeof path, "%s", strncmp(url, "duckdb://", 9) == 0 ? url + 9 : ":memory:");
  const char *threads = NULL;
  char *qm = strchr(path, '?');
  if (qm) {
    *qm = 0;
    const char *t = strstr(qm + 1, "threads=");
    if (t) threads = t + 8;
  }
  const int memory = strcmp(path, ":memory:") == 0;
  if (!memory) {
    unlink(path);
    char wal[1100];
    snprintf(wal, sizeof wal, "%s.wal", path);
    unlink(wal);
  }
  if (hdb_open(url, &db, &err) != HDB_OK) die("hdb_open", err.message);
  hdb_table_drop(db, "bench", HDB_IF_EXISTS);
  char schema_json[128];
  snprintf(schema_json, sizeof schema_json,
           "{\"cat\":\"int\",\"year\":\"int\",\"tag\":\"text\",\"emb\":\"vector(%u,l2)\"}", dim);
  hdb_schema *schema = NULL;
  if (hdb_schema_from_json(schema_json, &schema, &err) != HDB_OK) die("schema", err.message);
  if (hdb_table_create(db, "bench", schema, 0) != HDB_OK) die("create", hdb_errmsg(db));
  hdb_table_drop(db, "bench_ref", HDB_IF_EXISTS);
  if (hdb_table_create(db, "bench_ref", schema, 0) != HDB_OK) die("create", hdb_errmsg(db));
  hdb_schema_free(schema);

  duckdb_database rdb;
  duckdb_connection con;
  duckdb_config cfg;
  duckdb_create_config(&cfg);
  duckdb_set_config(cfg, "autoinstall_known_extensions", "false");
  duckdb_set_config(cfg, "autoload_known_extensions", "false");
  if (threads) {
    char tv[16];
    snprintf(tv, sizeof tv, "%.*s", (int)strcspn(threads, "&"), threads);
    duckdb_set_config(cfg, "threads", tv);
  }
  char rawpath[1100] = ":memory:";
  if (!memory) {
    snprintf(rawpath, sizeof rawpath, "%s.raw", path);
    unlink(rawpath);
    char wal[1200];
    snprintf(wal, sizeof wal, "%s.wal", rawpath);
    unlink(wal);
  }
  char *oerr = NULL;
  if (duckdb_open_ext(rawpath, &rdb, cfg, &oerr) != DuckDBSuccess) die("duckdb_open", oerr);
  duckdb_destroy_config(&cfg);
  duckdb_connect(rdb, &con);
  char sql[512];
  snprintf(sql, sizeof sql,
           "CREATE TABLE t(id VARCHAR PRIMARY KEY, cat BIGINT, year BIGINT, tag VARCHAR, emb FLOAT[%u])", dim);
  duckdb_result res;
  if (duckdb_query(con, sql, &res) != DuckDBSuccess) die("create", duckdb_result_error(&res));
  duckdb_destroy_result(&res);

  /* Load: per batch of HANZO_BENCH_BATCH records (default 10000), three
   * sides in a rotating order so that a busy machine slows all alike:
   *   hanzo-db: records built through the API, one hdb_insert (all or
   *             nothing: the backend wraps its appender in a transaction);
   *   raw:      one long-lived appender fed data chunks, flushed per batch
   *             (DuckDB's fastest load path; a batch larger than the
   *             appender's flush threshold would commit in pieces);
   *   raw txn:  BEGIN, a fresh appender, the same chunks, close, COMMIT:
   *             the same all-or-nothing guarantee as hdb_insert, into a
   *             second table of the raw database. */
  const char *be = getenv("HANZO_BENCH_BATCH");
  const size_t batch = be && atol(be) > 0 ? (size_t)atol(be) : 10000;
  snprintf(sql, sizeof sql,
           "CREATE TABLE t_txn(id VARCHAR PRIMARY KEY, cat BIGINT, year BIGINT, tag VARCHAR, emb FLOAT[%u])",
           dim);
  if (duckdb_query(con, sql, &res) != DuckDBSuccess) die("create", duckdb_result_error(&res));
  duckdb_destroy_result(&res);
  hdb_record **recs = malloc(batch * sizeof *recs);
  duckdb_appender app;
  if (duckdb_appender_create(con, NULL, "t", &app) != DuckDBSuccess) die("appender", "create");
  duckdb_logical_type types[5];
  for (idx_t i = 0; i < 5; i++) types[i] = duckdb_appender_column_type(app, i);
  duckdb_data_chunk ch = duckdb_create_data_chunk(types, 5);
  double hz_load = 0, hz_build = 0, ref_load = 0, ref_build = 0, raw_load = 0, txn_load = 0, t0;
  for (size_t off = 0, bi = 0; off < n; off += batch, bi++) {
    size_t m = n - off < batch ? n - off : batch;
    for (int turn = 0; turn < 4; turn++) {
      int side = (int)((turn + bi) % 4);
      t0 = now();
      if (side == 0 || side == 3) {
        /* side 3: the same records with zero-copy vectors (the records
         * point at emb) into a second table. */
        for (size_t i = 0; i < m; i++) {
          size_t r = off + i;
          recs[i] = hdb_record_new(ids[r]);
          hdb_record_set_int(recs[i], "cat", cat[r]);
          hdb_record_set_int(recs[i], "year", year[r]);
          hdb_record_set_text(recs[i], "tag", tags[r % 5]);
          if (side == 0)
            hdb_record_set_vector(recs[i], "emb", emb + r * dim, dim);
          else
            hdb_record_set_vector_ref(recs[i], "emb", emb + r * dim, dim);
        }
        double t1 = now();
        if (hdb_insert(db, side == 0 ? "bench" : "bench_ref", recs, m) != HDB_OK)
          die("insert", hdb_errmsg(db));
        double t2 = now();
        for (size_t i = 0; i < m; i++) hdb_record_free(recs[i]);
        double build = t1 - t0 + (now() - t2);
        if (side == 0) {
          hz_build += build;
          hz_load += now() - t0;
        } else {
          ref_build += build;
          ref_load += now() - t0;
        }
      } else if (side == 1) {
        append_rows(app, ch, off, m, dim);
        if (duckdb_appender_flush(app) != DuckDBSuccess) die("appender flush", duckdb_appender_error(app));
        raw_load += now() - t0;
      } else {
        duckdb_appender tapp;
        if (duckdb_query(con, "BEGIN", NULL) != DuckDBSuccess) die("begin", "failed");
        if (duckdb_appender_create(con, NULL, "t_txn", &tapp) != DuckDBSuccess) die("appender", "create");
        append_rows(tapp, ch, off, m, dim);
        if (duckdb_appender_close(tapp) != DuckDBSuccess) die("appender close", duckdb_appender_error(tapp));
        duckdb_appender_destroy(&tapp);
        if (duckdb_query(con, "COMMIT", NULL) != DuckDBSuccess) die("commit", "failed");
        txn_load += now() - t0;
      }
    }
  }
  t0 = now();
  if (duckdb_appender_close(app) != DuckDBSuccess) die("appender close", duckdb_appender_error(app));
  duckdb_appender_destroy(&app);
  raw_load += now() - t0;
  duckdb_destroy_data_chunk(&ch);
  for (idx_t i = 0; i < 5; i++) duckdb_destroy_logical_type(&types[i]);
  free(recs);

  /* Search: query q on both sides, alternating which goes first. */
  static const char *const fields[] = {"cat", "year", "tag"};
  char filter[32];
  snprintf(sql, sizeof sql,
           "SELECT id, cat, year, tag, CAST(array_distance(emb, ?::FLOAT[%u]) AS DOUBLE) AS d "
           "FROM t WHERE emb IS NOT NULL AND cat = ? ORDER BY d, id LIMIT %d", dim, K);
  duckdb_prepared_statement ps;
  if (duckdb_prepare(con, sql, &ps) != DuckDBSuccess) die("prepare", duckdb_prepare_error(ps));
  duckdb_logical_type ft = duckdb_create_logical_type(DUCKDB_TYPE_FLOAT);
  duckdb_value *vals = malloc(dim * sizeof *vals);
  double *rlat = malloc(nq * sizeof *rlat);
  double hz_search = 0, raw_search = 0;
  if (!vals || !rlat) die("malloc", "out of memory");
  for (size_t q = 0; q < nq; q++) {
    for (int side = 0; side < 2; side++) {
      int hanzo = (side == 0) == (q % 2 == 0);
      double s = now();
      if (hanzo) {
        hdb_search sr = HDB_SEARCH_INIT;
        sr.vector = qv + q * dim;
        sr.dim = dim;
        sr.k = K;
        snprintf(filter, sizeof filter, "cat = %lld", (long long)qcat[q]);
        sr.filter = filter;
        sr.fields = fields;
        sr.n_fields = 3;
        hdb_cursor *c = NULL;
        if (hdb_search_vector(db, "bench", &sr, &c) != HDB_OK) die("search", hdb_errmsg(db));
        const hdb_record *row;
        size_t i = 0;
        while (hdb_cursor_next(c, &row) == HDB_OK)
          if (i < K) snprintf(hz_ids[q][i++], 16, "%s", hdb_record_id(row));
        hdb_cursor_close(c);
        lat[q] = now() - s;
        hz_search += lat[q];
      } else {
        for (unsigned j = 0; j < dim; j++) vals[j] = duckdb_create_float(qv[q * dim + j]);
        duckdb_value arr = duckdb_create_array_value(ft, vals, dim);
        duckdb_bind_value(ps, 1, arr);
        duckdb_bind_int64(ps, 2, qcat[q]);
        if (duckdb_execute_prepared(ps, &res) != DuckDBSuccess) die("query", duckdb_result_error(&res));
        idx_t nrows = duckdb_row_count(&res);
        for (idx_t i = 0; i < nrows && i < K; i++) {
          char *id = duckdb_value_varchar(&res, 0, i);
          char *tg = duckdb_value_varchar(&res, 3, i);
          (void)duckdb_value_int64(&res, 1, i);
          (void)duckdb_value_int64(&res, 2, i);
          (void)duckdb_value_double(&res, 4, i);
          snprintf(raw_ids[q][i], 16, "%s", id);
          duckdb_free(id);
          duckdb_free(tg);
        }
        duckdb_destroy_result(&res);
        duckdb_destroy_value(&arr);
        for (unsigned j = 0; j < dim; j++) duckdb_destroy_value(&vals[j]);
        rlat[q] = now() - s;
        raw_search += rlat[q];
      }
    }
  }
  double hz_p50, hz_p99, raw_p50, raw_p99;
  pct(lat, nq, &hz_p50, &hz_p99);
  pct(rlat, nq, &raw_p50, &raw_p99);
  free(rlat);
  duckdb_destroy_logical_type(&ft);
  duckdb_destroy_prepare(&ps);
  duckdb_disconnect(&con);
  duckdb_close(&rdb);
  hdb_close(db);

  size_t differ = 0;
  for (size_t q = 0; q < nq; q++)
    for (int i = 0; i < K; i++) differ += strcmp(hz_ids[q][i], raw_ids[q][i]) != 0;

  printf("\n%-34s %14s %14s %10s\n", "", "hanzo-db", "raw DuckDB", "hanzo/raw");
  printf("%-34s %12.3f s %12.3f s %9.2fx\n", "load (insert/appender)", hz_load, raw_load, hz_load / raw_load);
  printf("%-34s %12.0f/s %12.0f/s\n", "  rows per second", (double)n / hz_load, (double)n / raw_load);
  printf("%-34s %12.3f s\n", "  of which building/freeing records", hz_build);
  printf("%-34s %12.3f s %12.3f s %9.2fx\n", "load vs raw txn per batch", hz_load, txn_load,
         hz_load / txn_load);
  printf("%-34s %12.3f s %12.3f s %9.2fx\n", "load, zero-copy vectors", ref_load, raw_load,
         ref_load / raw_load);
  printf("%-34s %12.3f s\n", "  of which building/freeing records", ref_build);
  printf("%-34s %12.3f s %12.3f s %9.2fx\n", "zero-copy vs raw txn per batch", ref_load, txn_load,
         ref_load / txn_load);
  printf("%-34s %12.3f s %12.3f s %9.2fx\n", "search, total", hz_search, raw_search, hz_search / raw_search);
  printf("%-34s %12.0f/s %12.0f/s\n", "  queries per second", (double)nq / hz_search, (double)nq / raw_search);
  printf("%-34s %11.3f ms %11.3f ms %9.2fx\n", "  p50 latency", hz_p50 * 1e3, raw_p50 * 1e3, hz_p50 / raw_p50);
  printf("%-34s %11.3f ms %11.3f ms %9.2fx\n", "  p99 latency", hz_p99 * 1e3, raw_p99 * 1e3, hz_p99 / raw_p99);
  printf("search overhead: %+.1f %% (goal <= 10 %%); result ids differing: %zu of %zu\n",
         (hz_search / raw_search - 1) * 100, differ, nq * K);
  free(emb);
  free(qv);
  free(cat);
  free(year);
  free(qcat);
  free(ids);
  free(hz_ids);
  free(raw_ids);
  free(lat);
  free(vals);
  return differ ? 1 : 0;
}
