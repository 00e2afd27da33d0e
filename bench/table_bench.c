/*
 * table_bench.c - engine/table: insert throughput of embedding records,
 * a filtered full scan compared with SQLite in the same run, and the time
 * to open a table with many versions.
 *
 *   insert   N records (768-d float32 vector, text, int, json metadata)
 *            written in batches of B (one commit each), sync=normal;
 *            goal >= 50,000 vectors/s
 *   scan     M rows of (id, n int, cat text, score float, meta json);
 *            "score > 0.9 AND cat = 'c3'" (no chunk can be skipped: the
 *            values are random) and "n BETWEEN .. AND .." (zone maps skip
 *            all but one chunk), each as a full scan that materializes the
 *            matching rows; the same queries on a SQLite table (file,
 *            WAL, no index) holding the same rows, with the ratio
 *   open     a table with V versions: hdb__tbl_open + pin of the newest
 *            in a fresh process state; and listing all versions
 *   hnsw     through the public API on a native:// table with an HNSW
 *            index (m 16, ef_construction 200), for each dimension of -x:
 *            (a) X rows inserted in batches of 1,000 after the index was
 *            built on the first batch (the rows land in the unindexed
 *            tail), then one search timed over that tail; (b) the same
 *            inserts with hdb_index_optimize after every O rows (and at
 *            the end), vectors/s over insert + optimize; goal >= 10,000.
 *            Clustered data (tests/vector/vec_testdata.h).
 *
 * Usage: table_bench [-n N] [-b B] [-m M] [-v V] [-d DIR] [-x ROWS]
 *          [-D DIMS] [-O ROWS] [-s SECTIONS]
 * Defaults: N 100000, B 10000, M 1000000, V 1000, DIR /tmp/hdb-table-bench,
 * X 100000, D "128,768", O 10000, sections "insert,scan,open,hnsw".
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

#include "../tests/table/tt_util.h"
#include "../tests/vector/vec_testdata.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}
static double rnd01(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

static void die(const char *what, const hdb_error *err) {
  fprintf(stderr, "table_bench: %s: %s\n", what, err ? err->message : "");
  exit(1);
}

/* ------------------------------------------------------------------ */

static void bench_insert(const char *root, long n, long batch) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/vectors", root);
  tt_rmtree(dir);
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "text", HDB_TYPE_TEXT);
  hdb_schema_add(s, "year", HDB_TYPE_INT);
  hdb_schema_add(s, "metadata", HDB_TYPE_JSON);
  hdb_schema_add_vector(s, "embedding", 768, HDB_METRIC_COSINE);
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  o.create = 1;
  o.schema = s;
  o.sync = HDB__TBL_SYNC_NORMAL;
  hdb__tbl *t;
  hdb_error err;
  if (hdb__tbl_open(dir, &o, &t, &err) != HDB_OK) die("open", &err);
  hdb_record **rows = calloc((size_t)batch, sizeof *rows);
  float *v = malloc(768 * sizeof *v);
  double spent = 0;
  for (long done = 0; done < n; done += batch) {
    long cnt = n - done < batch ? n - done : batch;
    for (long i = 0; i < cnt; i++) {
      char id[32], text[64], meta[96];
      snprintf(id, sizeof id, "doc-%09ld", done + i);
      snprintf(text, sizeof text, "chunk %ld of some document", done + i);
      snprintf(meta, sizeof meta, "{\"lang\":\"%s\",\"source\":\"bench\",\"page\":%ld}",
               (i & 1) ? "en" : "fr", (done + i) % 300);
      for (int k = 0; k < 768; k++) v[k] = (float)rnd01() - 0.5f;
      rows[i] = hdb_record_new(id);
      hdb_record_set_text(rows[i], "text", text);
      hdb_record_set_int(rows[i], "year", 2000 + (done + i) % 25);
      hdb_record_set_json(rows[i], "metadata", meta);
      hdb_record_set_vector(rows[i], "embedding", v, 768);
    }
    double a = now_s();
    if (hdb__tbl_write(t, rows, (size_t)cnt, HDB__TBL_INSERT, NULL, &err) != HDB_OK)
      die("insert", &err);
    spent += now_s() - a;
    for (long i = 0; i < cnt; i++) hdb_record_free(rows[i]);
  }
  printf("insert   %ld records (768-d vector + text, int, json), batches of %ld, sync=normal: "
         "%.2f s, %.0f vectors/s (goal 50000: %s)\n",
         n, batch, spent, (double)n / spent, (double)n / spent >= 50000 ? "met" : "NOT met");
  /* The mapped blocks are what search kernels read. */
  hdb__tbl_snap *snap;
  if (hdb__tbl_pin(t, 0, &snap, &err) != HDB_OK) die("pin", &err);
  double a = now_s(), sum = 0;
  uint64_t total = 0;
  for (size_t f = 0; f < hdb__tbl_snap_fragments(snap); f++) {
    const float *d;
    uint64_t r;
    uint32_t dim;
    if (hdb__tbl_vector_block(snap, f, "embedding", &d, &r, &dim, NULL, NULL, &err) != HDB_OK)
      die("vectors", &err);
    for (uint64_t i = 0; i < r * dim; i++) sum += d[i];
    total += r;
  }
  double b = now_s();
  printf("vectors  %llu vectors read from the mapped blocks (checksums verified) in %.3f s, "
         "%.2f GB/s (sum %.1f)\n",
         (unsigned long long)total, b - a, (double)total * 768 * 4 / (b - a) / 1e9, sum);
  hdb__tbl_unpin(snap);
  hdb__tbl_close(t);
  free(rows);
  free(v);
  hdb_schema_free(s);
}

/* ------------------------------------------------------------------ */

static const char *g_cats[] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};

static void bench_scan(const char *root, long m) {
  char dir[512], sq[512];
  snprintf(dir, sizeof dir, "%s/scan", root);
  snprintf(sq, sizeof sq, "%s/scan.sqlite", root);
  tt_rmtree(dir);
  unlink(sq);
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  hdb_schema_add(s, "cat", HDB_TYPE_TEXT);
  hdb_schema_add(s, "score", HDB_TYPE_FLOAT);
  hdb_schema_add(s, "meta", HDB_TYPE_JSON);
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  o.create = 1;
  o.schema = s;
  o.sync = HDB__TBL_SYNC_NORMAL;
  hdb__tbl *t;
  hdb_error err;
  if (hdb__tbl_open(dir, &o, &t, &err) != HDB_OK) die("open", &err);
  sqlite3 *db;
  if (sqlite3_open(sq, &db) != SQLITE_OK) die("sqlite open", NULL);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                   "CREATE TABLE t(id TEXT PRIMARY KEY, n INTEGER, cat TEXT, score REAL, meta TEXT)",
               NULL, NULL, NULL);
  sqlite3_stmt *ins;
  sqlite3_prepare_v2(db, "INSERT INTO t VALUES(?,?,?,?,?)", -1, &ins, NULL);
  enum { B = 100000 };
  hdb_record **rows = calloc(B, sizeof *rows);
  double t_ours = 0, t_sql = 0;
  for (long done = 0; done < m; done += B) {
    long cnt = m - done < B ? m - done : B;
    for (long i = 0; i < cnt; i++) {
      char id[32], meta[64];
      long k = done + i;
      snprintf(id, sizeof id, "row-%09ld", k);
      snprintf(meta, sizeof meta, "{\"k\":%ld}", k % 1000);
      rows[i] = hdb_record_new(id);
      hdb_record_set_int(rows[i], "n", k);
      hdb_record_set_text(rows[i], "cat", g_cats[rnd() % 8]);
      hdb_record_set_float(rows[i], "score", rnd01());
      hdb_record_set_json(rows[i], "meta", meta);
    }
    double a = now_s();
    if (hdb__tbl_write(t, rows, (size_t)cnt, HDB__TBL_INSERT, NULL, &err) != HDB_OK)
      die("insert", &err);
    double b = now_s();
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (long i = 0; i < cnt; i++) {
      hdb_value v;
      sqlite3_bind_text(ins, 1, hdb_record_id(rows[i]), -1, SQLITE_STATIC);
      hdb_record_get(rows[i], "n", &v);
      sqlite3_bind_int64(ins, 2, v.as.i);
      hdb_record_get(rows[i], "cat", &v);
      sqlite3_bind_text(ins, 3, v.as.text.data, (int)v.as.text.len, SQLITE_STATIC);
      hdb_record_get(rows[i], "score", &v);
      sqlite3_bind_double(ins, 4, v.as.f);
      hdb_record_get(rows[i], "meta", &v);
      sqlite3_bind_text(ins, 5, v.as.text.data, (int)v.as.text.len, SQLITE_STATIC);
      sqlite3_step(ins);
      sqlite3_reset(ins);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    double c = now_s();
    t_ours += b - a;
    t_sql += c - b;
    for (long i = 0; i < cnt; i++) hdb_record_free(rows[i]);
  }
  sqlite3_finalize(ins);
  printf("load     %ld rows: ours %.2f s (%.0f rows/s), sqlite %.2f s (%.0f rows/s)\n", m, t_ours,
         (double)m / t_ours, t_sql, (double)m / t_sql);
  struct {
    const char *ours, *sql;
  } q[] = {
      {"score > 0.9 AND cat = 'c3'", "SELECT id, n, cat, score, meta FROM t WHERE score > 0.9 AND cat = 'c3'"},
      {"n BETWEEN 500000 AND 510000", "SELECT id, n, cat, score, meta FROM t WHERE n BETWEEN 500000 AND 510000"},
  };
  hdb__tbl_snap *snap;
  if (hdb__tbl_pin(t, 0, &snap, &err) != HDB_OK) die("pin", &err);
  for (size_t i = 0; i < 2; i++) {
    hdb__expr *e = tt_filter(q[i].ours);
    double best_ours = 1e9, best_sql = 1e9;
    long n_ours = 0, n_sql = 0;
    hdb__tbl_scan_stats st = {0};
    for (int rep = 0; rep < 3; rep++) {
      double a = now_s();
      hdb__tbl_scan_options so = {e, NULL, 0};
      hdb__tbl_scan *sc;
      if (hdb__tbl_scan_open(snap, &so, &sc, &err) != HDB_OK) die("scan", &err);
      const hdb_record *r;
      long cnt = 0;
      hdb_status rc;
      double sink = 0;
      while ((rc = hdb__tbl_scan_next(sc, &r, NULL, NULL, &err)) == HDB_OK) {
        hdb_value v;
        if (hdb_record_get(r, "score", &v) == HDB_OK) sink += v.as.f;
        cnt++;
      }
      if (rc != HDB_DONE) die("scan", &err);
      hdb__tbl_scan_stats_get(sc, &st);
      hdb__tbl_scan_close(sc);
      double b = now_s();
      if (b - a < best_ours) best_ours = b - a;
      n_ours = cnt + (sink < 0);
      sqlite3_stmt *sel;
      a = now_s();
      sqlite3_prepare_v2(db, q[i].sql, -1, &sel, NULL);
      cnt = 0;
      while (sqlite3_step(sel) == SQLITE_ROW) {
        sink += sqlite3_column_double(sel, 3);
        (void)sqlite3_column_text(sel, 0);
        (void)sqlite3_column_text(sel, 4);
        cnt++;
      }
      sqlite3_finalize(sel);
      b = now_s();
      if (b - a < best_sql) best_sql = b - a;
      n_sql = cnt;
    }
    printf("scan     %-30s %ld rows of %ld: ours %.1f ms (%llu/%llu chunks skipped), sqlite %.1f ms "
           "(%ld rows): ours is %.1fx sqlite\n",
           q[i].ours, n_ours, m, best_ours * 1e3, (unsigned long long)st.chunks_skipped,
           (unsigned long long)st.chunks_total, best_sql * 1e3, n_sql, best_sql / best_ours);
    hdb__expr_free(e);
  }
  hdb__tbl_unpin(snap);
  hdb__tbl_close(t);
  sqlite3_close(db);
  free(rows);
  hdb_schema_free(s);
}

/* ------------------------------------------------------------------ */

static void bench_open(const char *root, long versions) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/versions", root);
  tt_rmtree(dir);
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  o.create = 1;
  o.schema = s;
  o.sync = HDB__TBL_SYNC_OFF;
  hdb__tbl *t;
  hdb_error err;
  if (hdb__tbl_open(dir, &o, &t, &err) != HDB_OK) die("open", &err);
  double a = now_s();
  for (long v = 1; v < versions; v++) {
    char id[32];
    snprintf(id, sizeof id, "r%ld", v % 50);
    hdb_record *r = hdb_record_new(id);
    hdb_record_set_int(r, "n", v);
    if (hdb__tbl_write(t, &r, 1, HDB__TBL_UPSERT, NULL, &err) != HDB_OK) die("commit", &err);
    hdb_record_free(r);
  }
  double commits = now_s() - a;
  hdb__tbl_close(t);
  /* Open in a child so no process state is warm. */
  int p[2];
  if (pipe(p) != 0) die("pipe", NULL);
  pid_t pid = fork();
  if (pid == 0) {
    double r[3];
    double x = now_s();
    hdb__tbl *ct;
    hdb__tbl_snap *sn;
    if (hdb__tbl_open(dir, NULL, &ct, &err) != HDB_OK || hdb__tbl_pin(ct, 0, &sn, &err) != HDB_OK)
      _exit(1);
    r[0] = now_s() - x;
    r[2] = (double)hdb__tbl_snap_version(sn);
    x = now_s();
    hdb_version_info *vi;
    size_t nv;
    if (hdb__tbl_versions(ct, &vi, &nv, &err) != HDB_OK) _exit(1);
    r[1] = now_s() - x;
    hdb_version_info_free(vi, nv);
    hdb__tbl_unpin(sn);
    hdb__tbl_close(ct);
    if (write(p[1], r, sizeof r) != (ssize_t)sizeof r) _exit(1);
    _exit(0);
  }
  double r[3] = {0};
  if (read(p[0], r, sizeof r) != (ssize_t)sizeof r) die("open child", NULL);
  waitpid(pid, NULL, 0);
  int files = 0;
  unsigned long long bytes = tt_dir_bytes(dir, &files);
  printf("open     table with %.0f versions (%d files, %.1f MB; %ld commits in %.2f s): "
         "open + pin newest %.3f ms, list all versions %.2f ms\n",
         r[2], files, (double)bytes / 1e6, versions - 1, commits, r[0] * 1e3, r[1] * 1e3);
  hdb_schema_free(s);
}

/* ------------------------------------------------------------------ */

/* Inserts rows [from, from + cnt) of data (dim floats each) through the
 * public API as records "v-%09ld" with the vector in column "v". */
static void api_insert(hdb *db, const float *data, uint32_t dim, long from, long cnt,
                       hdb_record **rows) {
  for (long i = 0; i < cnt; i++) {
    char id[32];
    snprintf(id, sizeof id, "v-%09ld", from + i);
    rows[i] = hdb_record_new(id);
    hdb_record_set_vector(rows[i], "v", data + (size_t)(from + i) * dim, dim);
  }
  hdb_status st = hdb_insert(db, "t", rows, (size_t)cnt);
  if (st != HDB_OK) {
    fprintf(stderr, "table_bench: insert: %s\n", hdb_errmsg(db));
    exit(1);
  }
  for (long i = 0; i < cnt; i++) hdb_record_free(rows[i]);
}

static hdb *hnsw_table(const char *root, uint32_t dim, const char *tag, const float *data,
                       hdb_record **rows) {
  char dir[600], url[700];
  snprintf(dir, sizeof dir, "%s/hnsw-%u-%s", root, dim, tag);
  tt_rmtree(dir);
  snprintf(url, sizeof url, "native://%s", dir);
  hdb *db = NULL;
  hdb_error err;
  if (hdb_open(url, &db, &err) != HDB_OK) die("open", &err);
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add_vector(s, "v", dim, HDB_METRIC_L2);
  if (hdb_table_create(db, "t", s, 0) != HDB_OK) die("create", NULL);
  hdb_schema_free(s);
  api_insert(db, data, dim, 0, 1000, rows);
  if (hdb_index_create(db, "t", "v", HDB_INDEX_HNSW, "{\"m\":16,\"ef_construction\":200}") !=
      HDB_OK) {
    fprintf(stderr, "table_bench: index: %s\n", hdb_errmsg(db));
    exit(1);
  }
  return db;
}

/* CPU seconds of this process (all threads): on a shared machine the wall
 * time of the optimize depends on the load, its CPU time much less. */
static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double one_search(hdb *db, const float *q, uint32_t dim) {
  hdb_search s = HDB_SEARCH_INIT;
  s.vector = q;
  s.dim = dim;
  s.k = 10;
  hdb_cursor *c = NULL;
  double a = now_s();
  if (hdb_search_vector(db, "t", &s, &c) != HDB_OK) die("search", NULL);
  const hdb_record *r;
  while (hdb_cursor_next(c, &r) == HDB_OK) {
  }
  hdb_cursor_close(c);
  return now_s() - a;
}

static void bench_hnsw_insert(const char *root, long n, uint32_t dim, long every) {
  enum { BATCH = 1000 };
  if (n < 2 * BATCH) n = 2 * BATCH;
  float *data = malloc((size_t)n * dim * sizeof *data), *q = malloc((size_t)dim * sizeof *q);
  hdb_record **rows = calloc(BATCH, sizeof *rows);
  if (!data || !q || !rows || vt_mixture(data, (size_t)n, dim, 100, 0.5, 1, 2) != 0 ||
      vt_mixture(q, 1, dim, 100, 0.5, 1, 3) != 0)
    die("out of memory", NULL);

  /* (a) inserts into the unindexed tail */
  hdb *db = hnsw_table(root, dim, "tail", data, rows);
  double spent = 0;
  for (long done = BATCH; done < n; done += BATCH) {
    long cnt = n - done < BATCH ? n - done : BATCH;
    double a = now_s();
    api_insert(db, data, dim, done, cnt, rows);
    spent += now_s() - a;
  }
  double tail_q = one_search(db, q, dim);
  tail_q = one_search(db, q, dim) < tail_q ? one_search(db, q, dim) : tail_q;
  printf("hnsw %4u-d (a) %ld rows inserted in batches of %d into an HNSW-indexed table "
         "(unindexed tail): %.2f s, %.0f vectors/s; one k=10 search over the %ld-row tail: "
         "%.1f ms\n",
         dim, n - BATCH, BATCH, spent, (double)(n - BATCH) / spent, n - BATCH, tail_q * 1e3);
  double a = now_s(), c0 = cpu_s();
  if (hdb_index_optimize(db, "t", "v") != HDB_OK) die("optimize", NULL);
  double opt = now_s() - a, opt_cpu = cpu_s() - c0;
  double first = one_search(db, q, dim), second = one_search(db, q, dim);
  printf("hnsw %4u-d     one hdb_index_optimize folding the %ld-row tail in: %.2f s (%.2f CPU s, "
         "%.0f vectors per CPU s); insert + optimize %.0f vectors/s (goal 10000: %s); search "
         "after: %.2f ms (first, opens the new graph), %.2f ms\n",
         dim, n - BATCH, opt, opt_cpu, (double)(n - BATCH) / opt_cpu,
         (double)(n - BATCH) / (spent + opt),
         (double)(n - BATCH) / (spent + opt) >= 10000 ? "met" : "NOT met", first * 1e3,
         second * 1e3);
  hdb_close(db);

  /* (b) inserts with an optimize every `every` rows */
  db = hnsw_table(root, dim, "opt", data, rows);
  double ins = 0, optim = 0, cpu0 = cpu_s();
  long since = 0;
  for (long done = BATCH; done < n; done += BATCH) {
    long cnt = n - done < BATCH ? n - done : BATCH;
    a = now_s();
    api_insert(db, data, dim, done, cnt, rows);
    ins += now_s() - a;
    since += cnt;
    if (since >= every || done + cnt >= n) {
      a = now_s();
      if (hdb_index_optimize(db, "t", "v") != HDB_OK) die("optimize", NULL);
      optim += now_s() - a;
      since = 0;
    }
  }
  double rate = (double)(n - BATCH) / (ins + optim), cpu = cpu_s() - cpu0;
  printf("hnsw %4u-d (b) %ld rows in batches of %d, hdb_index_optimize every %ld rows: insert "
         "%.2f s + optimize %.2f s = %.0f vectors/s (goal 10000: %s); %.2f CPU s, %.0f vectors "
         "per CPU s\n",
         dim, n - BATCH, BATCH, every, ins, optim, rate, rate >= 10000 ? "met" : "NOT met", cpu,
         (double)(n - BATCH) / cpu);
  hdb_close(db);
  char dir[600];
  snprintf(dir, sizeof dir, "%s/hnsw-%u-tail", root, dim);
  tt_rmtree(dir);
  snprintf(dir, sizeof dir, "%s/hnsw-%u-opt", root, dim);
  tt_rmtree(dir);
  free(data);
  free(q);
  free(rows);
}

int main(int argc, char **argv) {
  long n = 100000, batch = 10000, m = 1000000, versions = 1000, xrows = 100000, every = 10000;
  const char *root = "/tmp/hdb-table-bench", *dims = "128,768";
  const char *sections = "insert,scan,open,hnsw";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "-n")) n = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "-b")) batch = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "-m")) m = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "-v")) versions = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "-d")) root = argv[i + 1];
    else if (!strcmp(argv[i], "-x")) xrows = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "-D")) dims = argv[i + 1];
    else if (!strcmp(argv[i], "-O")) every = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "-s")) sections = argv[i + 1];
    else {
      fprintf(stderr, "usage: table_bench [-n N] [-b B] [-m M] [-v V] [-d DIR] [-x ROWS] "
                      "[-D DIMS] [-O ROWS] [-s SECTIONS]\n");
      return 2;
    }
  }
  if (mkdir(root, 0755) != 0 && errno != EEXIST) {
    perror(root);
    return 1;
  }
  if (strstr(sections, "insert")) bench_insert(root, n, batch);
  if (strstr(sections, "scan")) bench_scan(root, m);
  if (strstr(sections, "open")) bench_open(root, versions);
  for (const char *d = dims; strstr(sections, "hnsw") && *d;) {
    long dim = strtol(d, (char **)&d, 10);
    if (dim > 0) bench_hnsw_insert(root, xrows, (uint32_t)dim, every > 0 ? every : 1000);
    while (*d == ',') d++;
    if (dim <= 0 && *d) d++;
  }
  tt_rmtree(root);
  return 0;
}
