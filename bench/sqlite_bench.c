/*
 * sqlite_bench.c - hanzo-db's sqlite:// backend against raw libsqlite3,
 * side by side in one run, on the same data and the same statements:
 *
 *   load:   N records (id, cat int, year int, tag text, emb 384 x float32);
 *           hanzo-db: hdb_insert in batches of B (HANZO_BENCH_BATCH,
 *           default 1000) of records built through the API; raw: BEGIN
 *           IMMEDIATE, one prepared INSERT per row, COMMIT per batch, into
 *           the same table layout (id TEXT PRIMARY KEY, INTEGER/TEXT
 *           columns, the vector as a little-endian float32 BLOB).
 *   search: Q filtered vector queries (cat = c, about 10 % of the rows),
 *           k = 10 nearest by l2, returning id, cat, year, tag;
 *           hanzo-db: hdb_search_vector with filter "cat = c" and that
 *           projection; raw: one prepared statement
 *             SELECT id, cat, year, tag, emb, hdb_distance(emb, ?, 1) AS d
 *             FROM t WHERE emb IS NOT NULL AND cat = ?
 *             ORDER BY d NULLS LAST, id LIMIT 10
 *           with the same distance function registered on the raw
 *           connection (the backend's hdb__sq_register_functions), rows
 *           read back column by column.
 * Both databases are files in one directory with the same pragmas
 * (journal_mode=WAL, synchronous=NORMAL). The sides alternate batch by
 * batch and query by query (the first side flips every time), so a busy
 * machine slows both alike. Both answer the same ids in the same order
 * (checked). Printed: load time, queries per second, p50/p99 latency and
 * the hanzo/raw ratios (goal: search overhead at most 10 %).
 *
 *   sqlite_bench [N [Q [DIM [DIR]]]]     defaults 100000 1000 384 /tmp
 */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/sqlite/sqlite.h"
#include "hanzodb.h"

#define K 10
#define NCAT 10

static uint64_t rng = 0x5eed;
static uint64_t next_u64(void) {
  uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static float next_float(void) { return (float)((next_u64() >> 40) / (double)(1 << 24)) * 2.0f - 1.0f; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dcmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void die(const char *what, const char *msg) {
  fprintf(stderr, "sqlite_bench: %s: %s\n", what, msg);
  exit(1);
}

static void raw_exec(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) die(sql, msg ? msg : "?");
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
  size_t q = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
  uint32_t dim = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 384;
  const char *dir = argc > 4 ? argv[4] : "/tmp";
  size_t batch = getenv("HANZO_BENCH_BATCH") ? strtoul(getenv("HANZO_BENCH_BATCH"), NULL, 10) : 1000;
  if (!n || !q || !dim || !batch) die("usage", "sqlite_bench [N [Q [DIM [DIR]]]]");

  char hpath[512], rpath[512], url[600], cmd[3300];
  snprintf(hpath, sizeof hpath, "%s/hdb-sqlite-bench-%ld.db", dir, (long)getpid());
  snprintf(rpath, sizeof rpath, "%s/hdb-sqlite-bench-%ld.raw.db", dir, (long)getpid());
  snprintf(url, sizeof url, "sqlite://%s", hpath);

  hdb *h = NULL;
  hdb_error err;
  if (hdb_open(url, &h, &err) != HDB_OK) die("hdb_open", err.message);
  char sj[128];
  snprintf(sj, sizeof sj, "{\"cat\":\"int\",\"year\":\"int\",\"tag\":\"text\",\"emb\":\"vector(%u,l2)\"}", dim);
  hdb_schema *schema = NULL;
  if (hdb_schema_from_json(sj, &schema, &err) != HDB_OK) die("schema", err.message);
  if (hdb_table_create(h, "t", schema, 0) != HDB_OK) die("create", hdb_errmsg(h));
  hdb_schema_free(schema);

  sqlite3 *raw = NULL;
  if (sqlite3_open(rpath, &raw) != SQLITE_OK) die("sqlite3_open", sqlite3_errmsg(raw));
  raw_exec(raw, "PRAGMA journal_mode=WAL");
  raw_exec(raw, "PRAGMA synchronous=NORMAL");
  if (hdb__sq_register_functions(raw) != SQLITE_OK) die("register", sqlite3_errmsg(raw));
  raw_exec(raw, "CREATE TABLE t(id TEXT PRIMARY KEY NOT NULL, cat INTEGER, year INTEGER, tag TEXT, emb BLOB)");
  sqlite3_stmt *ins = NULL, *sel = NULL;
  if (sqlite3_prepare_v2(raw, "INSERT INTO t(id, cat, year, tag, emb) VALUES(?, ?, ?, ?, ?)", -1, &ins, NULL))
    die("prepare", sqlite3_errmsg(raw));
  if (sqlite3_prepare_v2(raw,
                         "SELECT id, cat, year, tag, emb, hdb_distance(emb, ?, 1) AS d FROM t "
                         "WHERE emb IS NOT NULL AND cat = ? ORDER BY d NULLS LAST, id LIMIT 10",
                         -1, &sel, NULL))
    die("prepare", sqlite3_errmsg(raw));

  /* ---- load ---- */
  float *vecs = malloc((size_t)batch * dim * sizeof *vecs);
  hdb_record **recs = malloc(batch * sizeof *recs);
  static const char *const tags[] = {"news", "blog", "paper", "code", "mail"};
  double t_h = 0, t_r = 0;
  for (size_t b0 = 0, bi = 0; b0 < n; b0 += batch, bi++) {
    size_t m = n - b0 < batch ? n - b0 : batch;
    for (size_t i = 0; i < m * dim; i++) vecs[i] = next_float();
    for (int side = 0; side < 2; side++) {
      int hanzo = (side == 0) == (bi % 2 == 0);
      double t0 = now();
      if (hanzo) {
        for (size_t i = 0; i < m; i++) {
          char id[32];
          size_t row = b0 + i;
          snprintf(id, sizeof id, "doc-%zu", row);
          hdb_record *r = recs[i] = hdb_record_new(id);
          hdb_record_set_int(r, "cat", (int64_t)(row % NCAT));
          hdb_record_set_int(r, "year", 2000 + (int64_t)(row % 25));
          hdb_record_set_text(r, "tag", tags[row % 5]);
          hdb_record_set_vector(r, "emb", vecs + i * dim, dim);
        }
        if (hdb_insert(h, "t", recs, m) != HDB_OK) die("hdb_insert", hdb_errmsg(h));
        for (size_t i = 0; i < m; i++) hdb_record_free(recs[i]);
        t_h += now() - t0;
      } else {
        raw_exec(raw, "BEGIN IMMEDIATE");
        for (size_t i = 0; i < m; i++) {
          char id[32];
          size_t row = b0 + i;
          snprintf(id, sizeof id, "doc-%zu", row);
          sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
          sqlite3_bind_int64(ins, 2, (int64_t)(row % NCAT));
          sqlite3_bind_int64(ins, 3, 2000 + (int64_t)(row % 25));
          sqlite3_bind_text(ins, 4, tags[row % 5], -1, SQLITE_STATIC);
          sqlite3_bind_blob(ins, 5, vecs + i * dim, (int)(dim * 4), SQLITE_STATIC);
          if (sqlite3_step(ins) != SQLITE_DONE) die("insert", sqlite3_errmsg(raw));
          sqlite3_reset(ins);
        }
        raw_exec(raw, "COMMIT");
        t_r += now() - t0;
      }
    }
  }
  printf("sqlite_bench: N=%zu Q=%zu dim=%u batch=%zu (sqlite %s)\n", n, q, dim, batch, sqlite3_libversion());
  printf("load    hanzo-db %8.3f s  %9.0f rows/s | raw sqlite3 %8.3f s  %9.0f rows/s | ratio %.3f\n", t_h,
         n / t_h, t_r, n / t_r, t_h / t_r);

  /* ---- search ---- */
  double *lat_h = malloc(q * sizeof *lat_h), *lat_r = malloc(q * sizeof *lat_r);
  float *qv = malloc(dim * sizeof *qv);
  const char *fields[] = {"id", "cat", "year", "tag"};
  size_t mismatches = 0;
  double sum_h = 0, sum_r = 0;
  for (size_t i = 0; i < q; i++) {
    for (uint32_t d = 0; d < dim; d++) qv[d] = next_float();
    int cat = (int)(i % NCAT);
    char ids_h[K][32], ids_r[K][32];
    int nh = 0, nr = 0;
    for (int side = 0; side < 2; side++) {
      int hanzo = (side == 0) == (i % 2 == 0);
      double t0 = now();
      if (hanzo) {
        char filter[32];
        snprintf(filter, sizeof filter, "cat = %d", cat);
        hdb_search s = HDB_SEARCH_INIT;
        s.vector = qv;
        s.dim = dim;
        s.k = K;
        s.filter = filter;
        s.fields = fields;
        s.n_fields = 4;
        hdb_cursor *c = NULL;
        if (hdb_search_vector(h, "t", &s, &c) != HDB_OK) die("search", hdb_errmsg(h));
        const hdb_record *r;
        while (hdb_cursor_next(c, &r) == HDB_OK) {
          hdb_value v;
          hdb_record_get(r, "tag", &v);
          snprintf(ids_h[nh++], 32, "%s", hdb_record_id(r));
        }
        hdb_cursor_close(c);
        lat_h[i] = now() - t0;
        sum_h += lat_h[i];
      } else {
        sqlite3_bind_blob(sel, 1, qv, (int)(dim * 4), SQLITE_STATIC);
        sqlite3_bind_int(sel, 2, cat);
        int rc;
        while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
          const char *id = (const char *)sqlite3_column_text(sel, 0);
          (void)sqlite3_column_int64(sel, 1);
          (void)sqlite3_column_int64(sel, 2);
          (void)sqlite3_column_text(sel, 3);
          (void)sqlite3_column_double(sel, 5);
          snprintf(ids_r[nr++], 32, "%s", id);
        }
        if (rc != SQLITE_DONE) die("select", sqlite3_errmsg(raw));
        sqlite3_reset(sel);
        lat_r[i] = now() - t0;
        sum_r += lat_r[i];
      }
    }
    if (nh != nr) mismatches++;
    else
      for (int k = 0; k < nh; k++)
        if (strcmp(ids_h[k], ids_r[k]) != 0) {
          mismatches++;
          break;
        }
  }
  qsort(lat_h, q, sizeof *lat_h, dcmp);
  qsort(lat_r, q, sizeof *lat_r, dcmp);
  double p50h = lat_h[q / 2] * 1e3, p99h = lat_h[(q * 99) / 100] * 1e3;
  double p50r = lat_r[q / 2] * 1e3, p99r = lat_r[(q * 99) / 100] * 1e3;
  printf("search  hanzo-db %8.3f s  %7.1f q/s p50 %.3f ms p99 %.3f ms | raw sqlite3 %8.3f s  %7.1f q/s p50 %.3f ms "
         "p99 %.3f ms | ratio %.3f\n",
         sum_h, q / sum_h, p50h, p99h, sum_r, q / sum_r, p50r, p99r, sum_h / sum_r);
  printf("answers: %s (%zu of %zu queries differ)\n", mismatches ? "DIFFER" : "identical", mismatches, q);

  sqlite3_finalize(ins);
  sqlite3_finalize(sel);
  sqlite3_close(raw);
  hdb_close(h);
  snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm' '%s' '%s-wal' '%s-shm'", hpath, hpath, hpath, rpath, rpath,
           rpath);
  if (system(cmd) != 0) fprintf(stderr, "sqlite_bench: could not remove the database files\n");
  free(vecs);
  free(recs);
  free(lat_h);
  free(lat_r);
  free(qv);
  return mismatches ? 1 : 0;
}
