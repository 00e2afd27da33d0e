/*
 * pg_bench.c - the postgresql:// backend against raw libpq doing the same
 * work, side by side in one run on one server.
 *
 *   pg_bench URL [ROWS [QUERIES [DIM [MODE]]]]  (defaults 100000 1000 384 bytea)
 *
 * Load: ROWS records (id, category text, year int, score float, a DIM-d
 * float32 vector) inserted in batches of 10,000: hdb_insert (which sends
 * one binary COPY per batch) versus one binary COPY per batch written by
 * hand with libpq. Queries: QUERIES filtered exact k=10 searches
 * ("category = 'cN' AND year >= Y", about 5 % of the rows): hdb_search_vector
 * versus libpq doing the same work: the filtered (id, vector) rows streamed
 * in single-row mode, L2 distances in C, a top-10 heap, then the 10 rows
 * fetched by id. Both sides use separate but identical tables. The answers
 * are compared (same ids in the same order) and the times and their ratio
 * printed; the goal is an overhead of at most 10 %.
 *
 * MODE bytea (the default): hanzo-db with ?pgvector=off (vectors as
 * BYTEA, exact search in the client), the raw side as described above.
 * MODE pgvector: hanzo-db with ?pgvector=on (vector(DIM) columns); the
 * raw side COPYs pgvector's binary form into a vector(DIM) column and
 * asks the server for the k rows: WHERE <filter> ORDER BY emb <-> $q, id
 * LIMIT 10, whole rows in one statement. Phase 1, exact (no index; the
 * raw answer is pgvector's float32 order, hanzo's the exact one: the
 * answers are compared). Phase 2: an HNSW index (m 16, ef_construction
 * 64) built on both tables (timed), then the same queries with ef_search
 * 100 and iterative scans on both sides; each side's recall@10 against
 * phase 1's exact answers is printed.
 *
 * Run against a throwaway cluster with bench/pg_bench.sh. PG_BENCH_KEEP=1
 * leaves both tables in place afterwards (for EXPLAIN).
 */
#include <libpq-fe.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hanzodb.h"

enum { K = 10, BATCH = 10000, CATS = 10 };

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 42;
static uint64_t rng(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static float rnd01(void) { return (float)((rng() >> 11) / 9007199254740992.0); }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void quiet(void *arg, const char *msg) {
  (void)arg;
  (void)msg;
}

static void die(const char *what, const char *msg) {
  fprintf(stderr, "pg_bench: %s: %s\n", what, msg);
  exit(1);
}

/* ---------------- raw libpq side ---------------- */

static void pq_ok(PGconn *pg, PGresult *r, ExecStatusType want, const char *what) {
  if (!r || PQresultStatus(r) != want) die(what, PQerrorMessage(pg));
  PQclear(r);
}

static void put32(unsigned char *d, uint32_t v) {
  d[0] = (unsigned char)(v >> 24); d[1] = (unsigned char)(v >> 16);
  d[2] = (unsigned char)(v >> 8); d[3] = (unsigned char)v;
}
static void put64(unsigned char *d, uint64_t v) {
  for (int k = 7; k >= 0; k--, v >>= 8) d[k] = (unsigned char)v;
}

typedef struct row {
  char id[16];
  char cat[8];
  int64_t year;
  double score;
  float *vec;
} row;

static int pgv_mode = 0;    /* MODE pgvector */
static int pgv_indexed = 0; /* phase 2: ORDER BY without ", id", which the index cannot give */

static void raw_copy(PGconn *pg, const row *rows, size_t n, uint32_t dim) {
  pq_ok(pg, PQexec(pg, "COPY raw_bench (id, category, year, score, emb) FROM STDIN (FORMAT binary)"),
        PGRES_COPY_IN, "COPY");
  size_t cap = 19 + n * (2 + 5 * 4 + 32 + 16 + 4 + (size_t)dim * 4) + 2;
  unsigned char *b = malloc(cap), *w = b;
  static const unsigned char hdr[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xFF, '\r', '\n', 0};
  memcpy(w, hdr, 19);
  w += 19;
  for (size_t i = 0; i < n; i++) {
    const row *r = &rows[i];
    w[0] = 0; w[1] = 5; w += 2;
    size_t l = strlen(r->id);
    put32(w, (uint32_t)l); memcpy(w + 4, r->id, l); w += 4 + l;
    l = strlen(r->cat);
    put32(w, (uint32_t)l); memcpy(w + 4, r->cat, l); w += 4 + l;
    put32(w, 8); put64(w + 4, (uint64_t)r->year); w += 12;
    uint64_t bits; memcpy(&bits, &r->score, 8);
    put32(w, 8); put64(w + 4, bits); w += 12;
    if (pgv_mode) { /* pgvector's binary form: int16 dim, int16 0, float4 big-endian */
      put32(w, 4 + dim * 4);
      w[4] = (unsigned char)(dim >> 8); w[5] = (unsigned char)dim; w[6] = w[7] = 0;
      for (uint32_t d = 0; d < dim; d++) {
        uint32_t fb; memcpy(&fb, &r->vec[d], 4);
        put32(w + 8 + 4 * d, fb);
      }
      w += 8 + (size_t)dim * 4;
      continue;
    }
    put32(w, dim * 4); memcpy(w + 4, r->vec, (size_t)dim * 4); w += 4 + (size_t)dim * 4;
  }
  w[0] = 0xFF; w[1] = 0xFF; w += 2;
  if (PQputCopyData(pg, (const char *)b, (int)(w - b)) != 1 || PQputCopyEnd(pg, NULL) != 1)
    die("COPY data", PQerrorMessage(pg));
  free(b);
  pq_ok(pg, PQgetResult(pg), PGRES_COMMAND_OK, "COPY end");
  PGresult *r;
  while ((r = PQgetResult(pg))) PQclear(r);
}

typedef struct hit { double d; char id[16]; } hit;

static int hit_worse(const hit *a, const hit *b) { /* a ranks after b */
  if (a->d != b->d) return a->d > b->d;
  return strcmp(a->id, b->id) > 0;
}

static void heap_push(hit *h, int *n, const hit *c) {
  if (*n == K) {
    if (!hit_worse(&h[0], c)) return;
    h[0] = *c;
    for (int i = 0;;) { /* sift down (max-heap on "worse") */
      int l = 2 * i + 1, r = l + 1, m = i;
      if (l < K && hit_worse(&h[l], &h[m])) m = l;
      if (r < K && hit_worse(&h[r], &h[m])) m = r;
      if (m == i) break;
      hit t = h[m]; h[m] = h[i]; h[i] = t; i = m;
    }
    return;
  }
  int i = (*n)++;
  h[i] = *c;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!hit_worse(&h[i], &h[p])) break;
    hit t = h[p]; h[p] = h[i]; h[i] = t; i = p;
  }
}

static int hit_cmp(const void *a, const void *b) {
  const hit *x = a, *y = b;
  if (x->d != y->d) return x->d < y->d ? -1 : 1;
  return strcmp(x->id, y->id);
}

/* One query the raw way; ids written to out (K x 16). Returns hits. */
static int raw_query(PGconn *pg, const float *q, uint32_t dim, const char *cat, int64_t year,
                     char out[K][16]) {
  char ybuf[24];
  snprintf(ybuf, sizeof ybuf, "%lld", (long long)year);
  const char *vals[2] = {cat, ybuf};
  if (!PQsendQueryParams(pg, "SELECT id, emb FROM raw_bench WHERE emb IS NOT NULL AND "
                             "category = $1::text AND year >= $2::bigint",
                         2, NULL, vals, NULL, NULL, 1))
    die("query", PQerrorMessage(pg));
  PQsetSingleRowMode(pg);
  hit h[K];
  int n = 0;
  PGresult *r;
  while ((r = PQgetResult(pg))) {
    if (PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
      const float *v = (const float *)(const void *)PQgetvalue(r, 0, 1);
      double acc = 0; /* as core's reference kernel: double sums, one rounding */
      for (uint32_t i = 0; i < dim; i++) {
        double d = (double)q[i] - (double)v[i];
        acc += d * d;
      }
      hit c;
      c.d = (float)acc;
      snprintf(c.id, sizeof c.id, "%s", PQgetvalue(r, 0, 0));
      heap_push(h, &n, &c);
    } else if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      die("query", PQresultErrorMessage(r));
    }
    PQclear(r);
  }
  qsort(h, (size_t)n, sizeof *h, hit_cmp);
  /* Fetch the rows, as the library returns them whole. */
  char arr[K * 20 + 4] = "{";
  for (int i = 0; i < n; i++) {
    strcat(arr, i ? "," : "");
    strcat(arr, h[i].id);
  }
  strcat(arr, "}");
  const char *pv[1] = {arr};
  PGresult *rows = PQexecParams(pg, "SELECT id, category, year, score, emb FROM raw_bench WHERE id = ANY($1::text[])",
                                1, NULL, pv, NULL, NULL, 1);
  if (PQresultStatus(rows) != PGRES_TUPLES_OK) die("fetch", PQerrorMessage(pg));
  PQclear(rows);
  for (int i = 0; i < n; i++) memcpy(out[i], h[i].id, 16);
  return n;
}

/* One query the raw pgvector way: the server orders and limits, whole
 * rows come back in one statement. */
static int raw_query_pgv(PGconn *pg, const float *q, uint32_t dim, const char *cat, int64_t year,
                         char out[K][16]) {
  char ybuf[24];
  snprintf(ybuf, sizeof ybuf, "%lld", (long long)year);
  size_t qlen = 4 + (size_t)dim * 4;
  unsigned char *qb = malloc(qlen);
  qb[0] = (unsigned char)(dim >> 8); qb[1] = (unsigned char)dim; qb[2] = qb[3] = 0;
  for (uint32_t d = 0; d < dim; d++) {
    uint32_t fb; memcpy(&fb, &q[d], 4);
    put32(qb + 4 + 4 * d, fb);
  }
  const char *vals[3] = {cat, ybuf, (const char *)qb};
  int lens[3] = {0, 0, (int)qlen}, fmts[3] = {0, 0, 1};
  PGresult *r = PQexecParams(pg, pgv_indexed ? "SELECT id, category, year, score, emb FROM raw_bench WHERE "
                                               "category = $1::text AND year >= $2::bigint "
                                               "ORDER BY emb <-> $3::vector LIMIT 10"
                                             : "SELECT id, category, year, score, emb FROM raw_bench WHERE "
                                               "category = $1::text AND year >= $2::bigint "
                                               "ORDER BY emb <-> $3::vector, id LIMIT 10",
                             3, NULL, vals, lens, fmts, 1);
  free(qb);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) die("query", PQerrorMessage(pg));
  int n = PQntuples(r);
  for (int i = 0; i < n && i < K; i++) snprintf(out[i], 16, "%s", PQgetvalue(r, i, 0));
  PQclear(r);
  return n;
}

typedef struct phase {
  double tot_h, tot_r, *lat_h, *lat_r;
  int mismatches;
  long hit_h, hit_r, total;
} phase;

/* Runs the nq queries (the same ones for the same seed) on both sides,
 * interleaved. exact_ids: NULL to compare the two sides' answers (the
 * exact phase; the hanzo answers are stored there when store is set),
 * else the exact answers to count recall against. */
static void run_queries(hdb *db, PGconn *pg, int nq, uint32_t dim, int ef, char (*exact_ids)[K][16],
                        int store, phase *ph) {
  float *q = malloc(dim * sizeof *q);
  uint64_t saved = rng_state;
  rng_state = 4242; /* the same queries in every phase */
  memset(ph, 0, sizeof *ph);
  ph->lat_h = malloc((size_t)nq * sizeof *ph->lat_h);
  ph->lat_r = malloc((size_t)nq * sizeof *ph->lat_r);
  for (int i = 0; i < nq; i++) {
    for (uint32_t d = 0; d < dim; d++) q[d] = rnd01() * 2 - 1;
    char cat[8], filter[96];
    snprintf(cat, sizeof cat, "c%d", (int)(rng() % CATS));
    int64_t year = 2000 + (int64_t)(rng() % 13); /* about half the years */
    snprintf(filter, sizeof filter, "category = '%s' AND year >= %lld", cat, (long long)year);
    char hids[K][16], rids[K][16];
    int nh = 0, nr = 0;

    /* Alternate which side goes first, so neither gets the warmer cache. */
    double th = 0, tr = 0;
    for (int side = 0; side < 2; side++) {
      if ((side == 0) == (i % 2 == 0)) {
        double a = now_s();
        hdb_search s = HDB_SEARCH_INIT;
        s.vector = q;
        s.dim = dim;
        s.k = K;
        s.filter = filter;
        s.ef = ef;
        hdb_cursor *c;
        if (hdb_search_vector(db, "hdb_bench", &s, &c) != HDB_OK) die("search", hdb_errmsg(db));
        const hdb_record *r;
        while (hdb_cursor_next(c, &r) == HDB_OK && nh < K) snprintf(hids[nh++], 16, "%s", hdb_record_id(r));
        hdb_cursor_close(c);
        th = now_s() - a;
      } else {
        double a = now_s();
        nr = pgv_mode ? raw_query_pgv(pg, q, dim, cat, year, rids) : raw_query(pg, q, dim, cat, year, rids);
        tr = now_s() - a;
      }
    }
    ph->lat_h[i] = th;
    ph->lat_r[i] = tr;
    ph->tot_h += th;
    ph->tot_r += tr;
    if (exact_ids && !store) {
      for (int j = 0; j < K; j++) {
        if (!exact_ids[i][j][0]) continue;
        ph->total++;
        for (int x = 0; x < nh; x++) ph->hit_h += !strcmp(hids[x], exact_ids[i][j]);
        for (int x = 0; x < nr; x++) ph->hit_r += !strcmp(rids[x], exact_ids[i][j]);
      }
      continue;
    }
    if (store) {
      memset(exact_ids[i], 0, sizeof exact_ids[i]);
      for (int j = 0; j < nh; j++) memcpy(exact_ids[i][j], hids[j], 16);
    }
    if (nh != nr) ph->mismatches++;
    else
      for (int j = 0; j < nh; j++)
        if (strcmp(hids[j], rids[j])) {
          ph->mismatches++;
          break;
        }
  }
  qsort(ph->lat_h, (size_t)nq, sizeof *ph->lat_h, cmp_double);
  qsort(ph->lat_r, (size_t)nq, sizeof *ph->lat_r, cmp_double);
  rng_state = saved;
  free(q);
}

static void print_queries(const char *label, const phase *ph, int nq) {
  int p99 = (int)(nq * 0.99);
  if (p99 >= nq) p99 = nq - 1;
  printf("%-22s %11.3fs %11.3fs %8.3f\n", label, ph->tot_h, ph->tot_r, ph->tot_h / ph->tot_r);
  printf("%-22s %10.2fms %10.2fms %8.3f\n", "  query mean", ph->tot_h / nq * 1e3, ph->tot_r / nq * 1e3,
         ph->tot_h / ph->tot_r);
  printf("%-22s %10.2fms %10.2fms %8.3f\n", "  query p50", ph->lat_h[nq / 2] * 1e3,
         ph->lat_r[nq / 2] * 1e3, ph->lat_h[nq / 2] / ph->lat_r[nq / 2]);
  printf("%-22s %10.2fms %10.2fms %8.3f\n", "  query p99", ph->lat_h[p99] * 1e3, ph->lat_r[p99] * 1e3,
         ph->lat_h[p99] / ph->lat_r[p99]);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: pg_bench postgresql://URL [ROWS [QUERIES [DIM]]]\n");
    return 2;
  }
  const char *url = argv[1];
  size_t nrows = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
  int nq = argc > 3 ? atoi(argv[3]) : 1000;
  uint32_t dim = argc > 4 ? (uint32_t)atoi(argv[4]) : 384;
  const char *mode = argc > 5 ? argv[5] : "bytea";
  if (!strcmp(mode, "pgvector")) pgv_mode = 1;
  else if (strcmp(mode, "bytea")) die("MODE", "must be bytea or pgvector");
  char hurl[1024];
  snprintf(hurl, sizeof hurl, "%s%spgvector=%s", url, strchr(url, '?') ? "&" : "?",
           pgv_mode ? "on" : "off");

  /* Data */
  row *rows = calloc(nrows, sizeof *rows);
  float *vecs = malloc(nrows * dim * sizeof *vecs);
  for (size_t i = 0; i < nrows; i++) {
    snprintf(rows[i].id, sizeof rows[i].id, "r%07u", (unsigned)(i % 10000000u));
    snprintf(rows[i].cat, sizeof rows[i].cat, "c%d", (int)(rng() % CATS));
    rows[i].year = 2000 + (int64_t)(rng() % 25);
    rows[i].score = rnd01();
    rows[i].vec = vecs + i * dim;
    for (uint32_t d = 0; d < dim; d++) rows[i].vec[d] = rnd01() * 2 - 1;
  }

  /* hanzo-db side: load */
  hdb *db;
  hdb_error err;
  if (hdb_open(hurl, &db, &err) != HDB_OK) die("hdb_open", err.message);
  char sj[128];
  snprintf(sj, sizeof sj, "{\"category\":\"text\",\"year\":\"int\",\"score\":\"float\",\"emb\":\"vector(%u,l2)\"}", dim);
  hdb_schema *schema;
  if (hdb_schema_from_json(sj, &schema, &err) != HDB_OK) die("schema", err.message);
  hdb_table_drop(db, "hdb_bench", HDB_IF_EXISTS);
  if (hdb_table_create(db, "hdb_bench", schema, 0) != HDB_OK) die("create", hdb_errmsg(db));
  hdb_schema_free(schema);
  hdb_record **batch = calloc(BATCH, sizeof *batch);
  /* Only the inserts are timed: building the records is the caller's work,
   * as filling rows[] is for the raw side. */
  double hdb_load = 0, t0;
  for (size_t off = 0; off < nrows; off += BATCH) {
    size_t n = nrows - off < BATCH ? nrows - off : BATCH;
    for (size_t i = 0; i < n; i++) {
      const row *r = &rows[off + i];
      hdb_record *rec = batch[i] = hdb_record_new(r->id);
      hdb_record_set_text(rec, "category", r->cat);
      hdb_record_set_int(rec, "year", r->year);
      hdb_record_set_float(rec, "score", r->score);
      hdb_record_set_vector(rec, "emb", r->vec, dim);
    }
    t0 = now_s();
    if (hdb_insert(db, "hdb_bench", batch, n) != HDB_OK) die("insert", hdb_errmsg(db));
    hdb_load += now_s() - t0;
    for (size_t i = 0; i < n; i++) hdb_record_free(batch[i]);
  }

  /* raw side: load */
  PGconn *pg = PQconnectdb(url); /* without hanzo's own parameters */
  if (PQstatus(pg) != CONNECTION_OK) die("PQconnectdb", PQerrorMessage(pg));
  PQsetNoticeProcessor(pg, quiet, NULL);
  pq_ok(pg, PQexec(pg, "DROP TABLE IF EXISTS raw_bench"), PGRES_COMMAND_OK, "drop");
  char ddl[256], etype[32] = "BYTEA";
  if (pgv_mode) snprintf(etype, sizeof etype, "vector(%u)", dim);
  snprintf(ddl, sizeof ddl, "CREATE TABLE raw_bench (id TEXT COLLATE \"C\" PRIMARY KEY, category TEXT "
           "COLLATE \"C\", year BIGINT, score DOUBLE PRECISION, emb %s)", etype);
  pq_ok(pg, PQexec(pg, ddl), PGRES_COMMAND_OK, "create");
  t0 = now_s();
  for (size_t off = 0; off < nrows; off += BATCH) {
    size_t n = nrows - off < BATCH ? nrows - off : BATCH;
    raw_copy(pg, rows + off, n, dim);
  }
  double raw_load = now_s() - t0;
  pq_ok(pg, PQexec(pg, "VACUUM ANALYZE raw_bench"), PGRES_COMMAND_OK, "vacuum");
  pq_ok(pg, PQexec(pg, "VACUUM ANALYZE hdb_bench"), PGRES_COMMAND_OK, "vacuum");
  /* Same cache state for both tables: a scan does not fill the buffer
   * cache (it uses a small ring), so load both into it when pg_prewarm
   * (contrib) is there; otherwise the table loaded last starts warmer. */
  PGresult *pw = PQexec(pg, "CREATE EXTENSION IF NOT EXISTS pg_prewarm");
  int prewarmed = PQresultStatus(pw) == PGRES_COMMAND_OK;
  PQclear(pw);
  if (prewarmed) {
    PQclear(PQexec(pg, "SELECT pg_prewarm('hdb_bench'), pg_prewarm('raw_bench')"));
  }

  /* Queries, interleaved per query so both sides see the same cache state. */
  char (*exact_ids)[K][16] = calloc((size_t)nq, sizeof *exact_ids);
  phase p1, p2;
  run_queries(db, pg, nq, dim, 0, exact_ids, 1, &p1);
  double build_h = 0, build_r = 0;
  if (pgv_mode) {
    t0 = now_s();
    if (hdb_index_create(db, "hdb_bench", "emb", HDB_INDEX_HNSW, "{\"m\":16,\"ef_construction\":64}") != HDB_OK)
      die("index", hdb_errmsg(db));
    build_h = now_s() - t0;
    t0 = now_s();
    pq_ok(pg, PQexec(pg, "CREATE INDEX raw_bench_hnsw ON raw_bench USING hnsw (emb vector_l2_ops) "
                         "WITH (m = 16, ef_construction = 64)"), PGRES_COMMAND_OK, "raw index");
    build_r = now_s() - t0;
    pq_ok(pg, PQexec(pg, "SET hnsw.ef_search = 100"), PGRES_COMMAND_OK, "set");
    pq_ok(pg, PQexec(pg, "SET hnsw.iterative_scan = relaxed_order"), PGRES_COMMAND_OK, "set");
    pgv_indexed = 1;
    run_queries(db, pg, nq, dim, 100, exact_ids, 0, &p2);
  }

  printf("pg_bench: %zu rows, dim %u, %d filtered k=%d queries (~5%% selectivity), mode %s, server %s%s\n",
         nrows, dim, nq, K, mode, PQparameterStatus(pg, "server_version"),
         prewarmed ? ", both tables prewarmed" : ", not prewarmed (no pg_prewarm)");
  printf("%-22s %12s %12s %8s\n", "", "hanzo-db", "raw libpq", "ratio");
  printf("%-22s %11.3fs %11.3fs %8.3f\n", "load (COPY batches)", hdb_load, raw_load, hdb_load / raw_load);
  printf("%-22s %10.0f/s %10.0f/s\n", "load rows/s", nrows / hdb_load, nrows / raw_load);
  print_queries(pgv_mode ? "exact queries total" : "queries total", &p1, nq);
  printf("answers: %d of %d queries differ between the two sides%s\n", p1.mismatches, nq,
         pgv_mode ? " (raw: pgvector's float32 order; hanzo: exact)" : "");
  if (pgv_mode) {
    printf("%-22s %11.3fs %11.3fs %8.3f\n", "hnsw build", build_h, build_r, build_h / build_r);
    print_queries("hnsw queries total", &p2, nq);
    printf("hnsw recall@10 vs exact: hanzo-db %.3f, raw %.3f (ef_search 100, iterative scan)\n",
           p2.total ? (double)p2.hit_h / p2.total : 0.0, p2.total ? (double)p2.hit_r / p2.total : 0.0);
    free(p2.lat_h);
    free(p2.lat_r);
  }
  int mismatches = p1.mismatches;
  free(p1.lat_h);
  free(p1.lat_r);
  free(exact_ids);

  if (!getenv("PG_BENCH_KEEP")) {
    pq_ok(pg, PQexec(pg, "DROP TABLE raw_bench"), PGRES_COMMAND_OK, "drop");
    hdb_table_drop(db, "hdb_bench", 0);
  }
  PQfinish(pg);
  hdb_close(db);
  free(batch);
  free(vecs);
  free(rows);
  return mismatches ? 1 : 0;
}
