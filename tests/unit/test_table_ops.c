/*
 * test_table_ops.c - engine/table's semantics: insert/upsert/update/delete
 * (including duplicate ids in a batch and across batches), filters with
 * zone-map skipping checked against a brute-force evaluation, projection,
 * time travel (versions, as-of version/time/tag, restore), schema changes
 * (a dropped then re-added column does not resurrect old data), writer
 * lock timeouts, and retention + compaction keeping disk use bounded under
 * a steady update workload.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/file.h>
#include <time.h>

#include "../table/tt_util.h"

static char g_dir[512];

static int setup_dir(void **state) {
  (void)state;
  return tt_mkdtemp(g_dir, sizeof g_dir, "tblops");
}
static int teardown_dir(void **state) {
  (void)state;
  tt_rmtree(g_dir);
  return 0;
}

static hdb_schema *schema_nv(void) {
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  hdb_schema_add(s, "cat", HDB_TYPE_TEXT);
  hdb_schema_add(s, "score", HDB_TYPE_FLOAT);
  hdb_schema_add(s, "ts", HDB_TYPE_TIMESTAMP);
  hdb_schema_add(s, "ok", HDB_TYPE_BOOL);
  hdb_schema_add(s, "meta", HDB_TYPE_JSON);
  hdb_schema_add_vector(s, "v", 3, HDB_METRIC_L2);
  return s;
}

static hdb_record *row(int i, const char *cat) {
  char id[32], meta[64];
  snprintf(id, sizeof id, "id%06d", i);
  hdb_record *r = hdb_record_new(id);
  hdb_record_set_int(r, "n", i);
  if (cat) hdb_record_set_text(r, "cat", cat);
  if (i % 10 != 0) hdb_record_set_float(r, "score", i / 10.0);
  hdb_record_set_timestamp(r, "ts", 1700000000000000LL + (int64_t)i * 1000000);
  hdb_record_set_bool(r, "ok", i % 2 == 0);
  snprintf(meta, sizeof meta, "{\"lang\":\"%s\"}", i % 3 ? "en" : "fr");
  hdb_record_set_json(r, "meta", meta);
  float v[3] = {(float)i, 0, 1};
  hdb_record_set_vector(r, "v", v, 3);
  return r;
}

static hdb__tbl *open_table(const char *dir, uint32_t chunk_rows) {
  hdb_schema *s = schema_nv();
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  o.create = 1;
  o.schema = s;
  o.chunk_rows = chunk_rows;
  o.sync = HDB__TBL_SYNC_NORMAL;
  hdb__tbl *t = NULL;
  hdb_error err;
  assert_int_equal(hdb__tbl_open(dir, &o, &t, &err), HDB_OK);
  hdb_schema_free(s);
  return t;
}

static void insert_range(hdb__tbl *t, int from, int to, hdb__tbl_write_mode mode, const char *cat) {
  int n = to - from;
  hdb_record **rows = calloc((size_t)n, sizeof *rows);
  for (int i = 0; i < n; i++) rows[i] = row(from + i, cat);
  hdb_error err;
  assert_int_equal(hdb__tbl_write(t, rows, (size_t)n, mode, NULL, &err), HDB_OK);
  for (int i = 0; i < n; i++) hdb_record_free(rows[i]);
  free(rows);
}

static long count_latest(hdb__tbl *t, const char *filter, hdb__tbl_scan_stats *st) {
  hdb__tbl_snap *s;
  hdb_error err;
  assert_int_equal(hdb__tbl_pin(t, 0, &s, &err), HDB_OK);
  long n = tt_count(s, filter, st);
  hdb__tbl_unpin(s);
  return n;
}

static void test_insert_upsert(void **state) {
  (void)state;
  hdb__tbl *t = open_table(g_dir, 0);
  insert_range(t, 0, 100, HDB__TBL_INSERT, "a");
  hdb_error err;
  /* Insert of an existing id fails and commits nothing. */
  hdb_record *r = row(5, "b");
  assert_int_equal(hdb__tbl_write(t, &r, 1, HDB__TBL_INSERT, NULL, &err), HDB_DUPLICATE_ID);
  assert_non_null(strstr(err.message, "id000005"));
  hdb_record_free(r);
  /* Twice in one insert batch. */
  hdb_record *two[2] = {row(500, "x"), row(500, "y")};
  assert_int_equal(hdb__tbl_write(t, two, 2, HDB__TBL_INSERT, NULL, &err), HDB_DUPLICATE_ID);
  /* Upsert: the last of the batch wins; existing rows are replaced. */
  hdb_record *up[3] = {row(500, "x"), row(7, "replaced"), row(500, "y")};
  int64_t v;
  assert_int_equal(hdb__tbl_write(t, up, 3, HDB__TBL_UPSERT, &v, &err), HDB_OK);
  assert_int_equal(v, 3);
  for (int i = 0; i < 3; i++) hdb_record_free(up[i]);
  hdb_record_free(two[0]);
  hdb_record_free(two[1]);
  assert_int_equal(count_latest(t, NULL, NULL), 101);
  assert_int_equal(count_latest(t, "cat = 'y'", NULL), 1);
  assert_int_equal(count_latest(t, "cat = 'x'", NULL), 0);
  assert_int_equal(count_latest(t, "cat = 'replaced' AND id = 'id000007'", NULL), 1);
  /* Upserting everything again never duplicates. */
  insert_range(t, 0, 100, HDB__TBL_UPSERT, "c");
  insert_range(t, 50, 150, HDB__TBL_UPSERT, "d");
  assert_int_equal(count_latest(t, NULL, NULL), 151);
  assert_int_equal(count_latest(t, "cat = 'd'", NULL), 100);
  /* Bad records: strict schema. */
  hdb_record *bad = hdb_record_new("zz");
  hdb_record_set_int(bad, "nope", 1);
  assert_int_equal(hdb__tbl_write(t, &bad, 1, HDB__TBL_UPSERT, NULL, &err), HDB_NO_FIELD);
  hdb_record_free(bad);
  bad = hdb_record_new("");
  assert_int_equal(hdb__tbl_write(t, &bad, 1, HDB__TBL_UPSERT, NULL, &err), HDB_BAD_ID);
  hdb_record_free(bad);
  hdb__tbl_close(t);
}

static void test_update_delete(void **state) {
  (void)state;
  hdb__tbl *t = open_table(g_dir, 0);
  insert_range(t, 0, 200, HDB__TBL_INSERT, "a");
  hdb_error err;
  hdb_record *patch = hdb_record_new(NULL);
  hdb_record_set_text(patch, "cat", "patched");
  hdb_record_set_null(patch, "score");
  uint64_t n;
  assert_int_equal(hdb__tbl_update(t, "id000003", NULL, patch, &n, &err), HDB_OK);
  assert_int_equal(n, 1);
  assert_int_equal(hdb__tbl_update(t, "missing", NULL, patch, &n, &err), HDB_NOT_FOUND);
  hdb__expr *f = tt_filter("n >= 100 AND n < 110");
  assert_int_equal(hdb__tbl_update(t, NULL, f, patch, &n, &err), HDB_OK);
  assert_int_equal(n, 10);
  hdb__expr_free(f);
  assert_int_equal(count_latest(t, NULL, NULL), 200);
  assert_int_equal(count_latest(t, "cat = 'patched'", NULL), 11);
  assert_int_equal(count_latest(t, "cat = 'patched' AND score IS NULL", NULL), 11);
  /* Untouched fields survive the update. */
  hdb__tbl_snap *s;
  assert_int_equal(hdb__tbl_pin(t, 0, &s, &err), HDB_OK);
  hdb_record *got;
  assert_int_equal(hdb__tbl_get(s, "id000003", &got, &err), HDB_OK);
  hdb_value val;
  assert_int_equal(hdb_record_get(got, "n", &val), HDB_OK);
  assert_int_equal(val.as.i, 3);
  assert_int_equal(hdb_record_get(got, "score", &val), HDB_NOT_FOUND);
  hdb_record_free(got);
  hdb__tbl_unpin(s);
  /* A bad patch. */
  hdb_record *bad = hdb_record_new(NULL);
  hdb_record_set_text(bad, "n", "not a number");
  assert_int_equal(hdb__tbl_update(t, "id000004", NULL, bad, &n, &err), HDB_TYPE_MISMATCH);
  hdb_record_free(bad);
  hdb_record_free(patch);
  /* Deletes. */
  assert_int_equal(hdb__tbl_delete(t, "id000000", NULL, &n, &err), HDB_OK);
  assert_int_equal(hdb__tbl_delete(t, "id000000", NULL, &n, &err), HDB_NOT_FOUND);
  f = tt_filter("meta.lang = 'fr'");
  assert_int_equal(hdb__tbl_delete(t, NULL, f, &n, &err), HDB_OK);
  assert_int_equal(n, 66); /* multiples of 3 in 1..199 */
  hdb__expr_free(f);
  const char *ids[] = {"id000001", "id000002", "id000001", "nope"};
  assert_int_equal(hdb__tbl_delete_ids(t, ids, 4, &n, &err), HDB_OK);
  assert_int_equal(n, 2);
  assert_int_equal(count_latest(t, NULL, NULL), 200 - 1 - 66 - 2);
  /* Filter that matches nothing commits nothing. */
  assert_int_equal(hdb__tbl_pin(t, 0, &s, &err), HDB_OK);
  int64_t before = hdb__tbl_snap_version(s);
  hdb__tbl_unpin(s);
  f = tt_filter("n > 100000");
  assert_int_equal(hdb__tbl_delete(t, NULL, f, &n, &err), HDB_OK);
  assert_int_equal(n, 0);
  hdb__expr_free(f);
  assert_int_equal(hdb__tbl_pin(t, 0, &s, &err), HDB_OK);
  assert_int_equal(hdb__tbl_snap_version(s), before);
  hdb__tbl_unpin(s);
  /* Strict filters are bound: an unknown column is an error. */
  f = tt_filter("bogus = 1");
  assert_int_equal(hdb__tbl_delete(t, NULL, f, &n, &err), HDB_NO_FIELD);
  hdb__expr_free(f);
  /* Everything. */
  assert_int_equal(hdb__tbl_delete(t, NULL, NULL, &n, &err), HDB_OK);
  assert_int_equal(count_latest(t, NULL, NULL), 0);
  hdb__tbl_close(t);
}

/* Every filter gives the same rows as brute force over all rows, and the
 * selective ones skip chunks. */
static void test_zone_maps(void **state) {
  (void)state;
  hdb__tbl *t = open_table(g_dir, 1000);
  insert_range(t, 0, 10000, HDB__TBL_INSERT, NULL); /* cat null everywhere */
  insert_range(t, 10000, 12000, HDB__TBL_INSERT, "late");
  hdb_error err;
  struct {
    const char *filter;
    uint64_t min_skipped;
  } cases[] = {
      {"n >= 9500", 9},
      {"n < 1000", 11},
      {"n = 4321", 11},
      {"n BETWEEN 2500 AND 3499", 10},
      {"n IN (5, 11999)", 10},
      {"n > 3000 AND n <= 3100", 11},
      {"n < 500 OR n > 11500", 9},
      {"score >= 1190.5", 10},
      {"n = 4321.0", 11},
      {"n > 4320.5 AND n < 4321.5", 11},
      {"ts >= '2023-11-14T22:13:20Z' AND ts < '2023-11-14T22:30:00Z'", 10},
      {"ts > 1700000000000000", 0},
      {"cat = 'late'", 10},
      {"cat IS NULL", 2},
      {"cat IS NOT NULL", 10},
      {"EXISTS cat", 10},
      {"id = 'id004000'", 11},
      {"id >= 'id011000'", 10},
      {"ok = true AND n < 2000", 10},
      {"NOT (n < 5000)", 0},
      {"n != 3", 0},
      {"cat LIKE 'la%'", 0},
      {"meta.lang = 'fr' AND n < 1000", 11},
      {"n < -5", 12},
  };
  hdb__tbl_snap *s;
  assert_int_equal(hdb__tbl_pin(t, 0, &s, &err), HDB_OK);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    hdb__expr *e = tt_filter(cases[c].filter);
    assert_non_null(e);
    assert_int_equal(hdb__filter_bind(e, hdb__tbl_snap_schema(s), "t", &err), HDB_OK);
    /* Brute force: every row, no filter, evaluated here. */
    hdb__tbl_scan *sc;
    assert_int_equal(hdb__tbl_scan_open(s, NULL, &sc, &err), HDB_OK);
    const hdb_record *r;
    long want = 0;
    while (hdb__tbl_scan_next(sc, &r, NULL, NULL, &err) == HDB_OK) want += hdb__filter_match(e, r);
    hdb__tbl_scan_close(sc);
    hdb__tbl_scan_options o = {e, NULL, 0};
    assert_int_equal(hdb__tbl_scan_open(s, &o, &sc, &err), HDB_OK);
    long got = 0;
    while (hdb__tbl_scan_next(sc, &r, NULL, NULL, &err) == HDB_OK) got++;
    hdb__tbl_scan_stats st;
    hdb__tbl_scan_stats_get(sc, &st);
    hdb__tbl_scan_close(sc);
    if (got != want || st.chunks_skipped < cases[c].min_skipped)
      print_error("filter %s: got %ld want %ld, skipped %llu of %llu (expected >= %llu)\n",
                  cases[c].filter, got, want, (unsigned long long)st.chunks_skipped,
                  (unsigned long long)st.chunks_total, (unsigned long long)cases[c].min_skipped);
    assert_int_equal(got, want);
    assert_int_equal(st.chunks_total, 12);
    assert_true(st.chunks_skipped >= cases[c].min_skipped);
    assert_int_equal(st.rows_matched, got);
    hdb__expr_free(e);
  }
  /* Process-wide counters moved too. */
  hdb__tbl_scan_stats all;
  hdb__tbl_stats(t, &all);
  assert_true(all.chunks_skipped > 100);
  /* Projection: only the named columns (the id always). */
  const char *fields[] = {"n"};
  hdb__expr *e = tt_filter("score > 5");
  hdb__tbl_scan_options o = {e, fields, 1};
  hdb__tbl_scan *sc;
  const hdb_record *r;
  assert_int_equal(hdb__tbl_scan_open(s, &o, &sc, &err), HDB_OK);
  assert_int_equal(hdb__tbl_scan_next(sc, &r, NULL, NULL, &err), HDB_OK);
  assert_int_equal(hdb_record_field_count(r), 1);
  hdb_value v;
  assert_int_equal(hdb_record_get(r, "n", &v), HDB_OK);
  assert_int_equal(v.as.i, 51);
  assert_string_equal(hdb_record_id(r), "id000051");
  hdb__tbl_scan_close(sc);
  hdb__expr_free(e);
  const char *bad[] = {"nope"};
  hdb__tbl_scan_options ob = {NULL, bad, 1};
  assert_int_equal(hdb__tbl_scan_open(s, &ob, &sc, &err), HDB_NO_FIELD);
  hdb__tbl_unpin(s);
  hdb__tbl_close(t);
}

static void test_time_travel(void **state) {
  (void)state;
  hdb__tbl *t = open_table(g_dir, 0);
  hdb_error err;
  insert_range(t, 0, 10, HDB__TBL_INSERT, "v2");   /* version 2 */
  insert_range(t, 10, 20, HDB__TBL_INSERT, "v3");  /* version 3 */
  struct timespec ts = {0, 3000000};
  nanosleep(&ts, NULL);
  hdb__tbl_snap *s3;
  assert_int_equal(hdb__tbl_pin(t, 0, &s3, &err), HDB_OK);
  int64_t t3 = hdb__tbl_snap_timestamp(s3);
  nanosleep(&ts, NULL);
  insert_range(t, 0, 20, HDB__TBL_UPSERT, "v4");   /* version 4 */
  assert_int_equal(hdb__tbl_tag(t, "before_delete", 0, &err), HDB_OK); /* version 5 */
  assert_int_equal(hdb__tbl_delete(t, NULL, NULL, NULL, &err), HDB_OK); /* version 6 */
  /* The pinned snapshot still sees version 3. */
  assert_int_equal(hdb__tbl_snap_version(s3), 3);
  assert_int_equal(tt_count(s3, NULL, NULL), 20);
  assert_int_equal(tt_count(s3, "cat = 'v3'", NULL), 10);
  hdb__tbl_unpin(s3);
  hdb__tbl_snap *s;
  assert_int_equal(hdb__tbl_pin(t, 2, &s, &err), HDB_OK);
  assert_int_equal(tt_count(s, NULL, NULL), 10);
  hdb__tbl_unpin(s);
  assert_int_equal(hdb__tbl_pin_at(t, t3, &s, &err), HDB_OK);
  assert_int_equal(hdb__tbl_snap_version(s), 3);
  hdb__tbl_unpin(s);
  assert_int_equal(hdb__tbl_pin_at(t, t3 - 1, &s, &err), HDB_OK);
  assert_int_equal(hdb__tbl_snap_version(s), 2);
  hdb__tbl_unpin(s);
  assert_int_equal(hdb__tbl_pin_at(t, 1, &s, &err), HDB_NOT_FOUND);
  assert_int_equal(hdb__tbl_pin_tag(t, "before_delete", &s, &err), HDB_OK);
  assert_int_equal(hdb__tbl_snap_version(s), 4);
  assert_int_equal(tt_count(s, "cat = 'v4'", NULL), 20);
  hdb__tbl_unpin(s);
  assert_int_equal(hdb__tbl_pin(t, 99, &s, &err), HDB_NOT_FOUND);
  assert_int_equal(hdb__tbl_pin_tag(t, "nope", &s, &err), HDB_NOT_FOUND);
  assert_int_equal(hdb__tbl_tag(t, "bad-name", 0, &err), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__tbl_tag(t, "x", 99, &err), HDB_NOT_FOUND);
  /* Versions with timestamps and tags. */
  hdb_version_info *vi;
  size_t nv;
  assert_int_equal(hdb__tbl_versions(t, &vi, &nv, &err), HDB_OK);
  assert_int_equal(nv, 6);
  for (size_t i = 0; i < nv; i++) {
    assert_int_equal(vi[i].version, (int64_t)i + 1);
    if (i) assert_true(vi[i].timestamp_us > vi[i - 1].timestamp_us);
  }
  assert_string_equal(vi[3].tag, "before_delete");
  assert_null(vi[4].tag);
  hdb_version_info_free(vi, nv);
  /* Restore version 4 as version 7; tags stay. */
  int64_t nvv;
  assert_int_equal(hdb__tbl_restore(t, 4, &nvv, &err), HDB_OK);
  assert_int_equal(nvv, 7);
  assert_int_equal(count_latest(t, "cat = 'v4'", NULL), 20);
  assert_int_equal(hdb__tbl_restore(t, 42, &nvv, &err), HDB_NOT_FOUND);
  /* Writes continue on top of the restored version. */
  insert_range(t, 20, 25, HDB__TBL_INSERT, "v8");
  assert_int_equal(count_latest(t, NULL, NULL), 25);
  assert_int_equal(hdb__tbl_untag(t, "before_delete", &err), HDB_OK);
  assert_int_equal(hdb__tbl_untag(t, "before_delete", &err), HDB_NOT_FOUND);
  hdb__tbl_close(t);
  /* Everything survives a reopen. */
  t = open_table(g_dir, 0);
  assert_int_equal(count_latest(t, NULL, NULL), 25);
  assert_int_equal(hdb__tbl_pin(t, 3, &s, &err), HDB_OK);
  assert_int_equal(tt_count(s, NULL, NULL), 20);
  hdb__tbl_unpin(s);
  hdb__tbl_close(t);
}

static void test_alter(void **state) {
  (void)state;
  hdb__tbl *t = open_table(g_dir, 0);
  insert_range(t, 0, 10, HDB__TBL_INSERT, "a");
  hdb_error err;
  /* Drop "cat", add "extra". */
  hdb_schema *s2 = schema_nv();
  hdb_schema *s3 = hdb_schema_new();
  for (size_t i = 0; i < hdb_schema_column_count(s2); i++) {
    hdb_column_info ci;
    hdb_schema_column(s2, i, &ci);
    if (strcmp(ci.name, "cat") == 0) continue;
    if (ci.type == HDB_TYPE_VECTOR) hdb_schema_add_vector(s3, ci.name, ci.dim, ci.metric);
    else hdb_schema_add(s3, ci.name, ci.type);
  }
  hdb_schema_add(s3, "extra", HDB_TYPE_INT);
  assert_int_equal(hdb__tbl_alter(t, s3, &err), HDB_OK);
  assert_int_equal(count_latest(t, "extra IS NULL", NULL), 10);
  hdb_record *r = hdb_record_new("new");
  hdb_record_set_int(r, "extra", 5);
  assert_int_equal(hdb__tbl_write(t, &r, 1, HDB__TBL_INSERT, NULL, &err), HDB_OK);
  hdb_record_free(r);
  r = row(99, "a");
  assert_int_equal(hdb__tbl_write(t, &r, 1, HDB__TBL_INSERT, NULL, &err), HDB_NO_FIELD);
  hdb_record_free(r);
  /* Re-adding "cat" gives a new column: the old values do not come back. */
  hdb_schema_add(s3, "cat", HDB_TYPE_TEXT);
  assert_int_equal(hdb__tbl_alter(t, s3, &err), HDB_OK);
  assert_int_equal(count_latest(t, "cat IS NULL", NULL), 11);
  /* A type change is refused. */
  hdb_schema *s4 = hdb_schema_new();
  hdb_schema_add(s4, "n", HDB_TYPE_TEXT);
  assert_int_equal(hdb__tbl_alter(t, s4, &err), HDB_BAD_SCHEMA);
  /* Old versions keep their schema. */
  hdb__tbl_snap *s;
  assert_int_equal(hdb__tbl_pin(t, 2, &s, &err), HDB_OK);
  assert_int_equal(tt_count(s, "cat = 'a'", NULL), 10);
  hdb__tbl_unpin(s);
  hdb_schema_free(s2);
  hdb_schema_free(s3);
  hdb_schema_free(s4);
  hdb__tbl_close(t);
}

static void test_lock_timeout(void **state) {
  (void)state;
  hdb__tbl *t = open_table(g_dir, 0);
  char p[700];
  snprintf(p, sizeof p, "%s/_writer.lock", g_dir);
  int fd = open(p, O_RDWR | O_CREAT, 0644);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX), 0);
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  o.lock_timeout_ms = 60;
  hdb__tbl *t2;
  hdb_error err;
  assert_int_equal(hdb__tbl_open(g_dir, &o, &t2, &err), HDB_OK);
  hdb_record *r = row(1, "a");
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  assert_int_equal(hdb__tbl_write(t2, &r, 1, HDB__TBL_INSERT, NULL, &err), HDB_BUSY);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
  assert_true(ms >= 55);
  assert_non_null(strstr(err.message, "_writer.lock"));
  /* Readers are never blocked by the writer lock. */
  assert_int_equal(count_latest(t2, NULL, NULL), 0);
  flock(fd, LOCK_UN);
  close(fd);
  assert_int_equal(hdb__tbl_write(t2, &r, 1, HDB__TBL_INSERT, NULL, &err), HDB_OK);
  assert_int_equal(count_latest(t, NULL, NULL), 1);
  hdb_record_free(r);
  hdb__tbl_close(t2);
  hdb__tbl_close(t);
}

/* A steady update workload: 300 commits that each upsert 50 of 500 rows
 * and delete/reinsert some, with cleanup every 10 commits and compaction
 * every 25. Disk use must stop growing. */
static void test_retention_bounds_disk(void **state) {
  (void)state;
  hdb__tbl *t = open_table(g_dir, 0);
  hdb_error err;
  insert_range(t, 0, 500, HDB__TBL_INSERT, "base");
  unsigned long long peak_first = 0, peak_second = 0;
  int files = 0;
  hdb__tbl_snap *pinned = NULL;
  long pinned_rows = 0;
  for (int c = 1; c <= 300; c++) {
    int from = (c * 37) % 450;
    insert_range(t, from, from + 50, HDB__TBL_UPSERT, c % 2 ? "odd" : "even");
    if (c % 7 == 0) {
      char id[32];
      snprintf(id, sizeof id, "id%06d", (c * 11) % 500);
      const char *ids[] = {id};
      assert_int_equal(hdb__tbl_delete_ids(t, ids, 1, NULL, &err), HDB_OK);
    }
    if (c == 40) {
      assert_int_equal(hdb__tbl_pin(t, 0, &pinned, &err), HDB_OK);
      pinned_rows = tt_count(pinned, NULL, NULL);
    }
    if (c % 25 == 0) {
      hdb__tbl_compact_options co = {0, 0.05, 400};
      hdb__tbl_compact_stats cs;
      assert_int_equal(hdb__tbl_compact(t, &co, &cs, &err), HDB_OK);
    }
    if (c % 10 == 0) {
      hdb__tbl_retention r = {5, 0, -1};
      hdb__tbl_cleanup_stats cs;
      assert_int_equal(hdb__tbl_cleanup(t, &r, &cs, &err), HDB_OK);
      assert_true(cs.versions_kept <= 6); /* 5 + the pinned one */
      unsigned long long bytes = tt_dir_bytes(g_dir, &files);
      if (c <= 150 && bytes > peak_first) peak_first = bytes;
      if (c > 150 && bytes > peak_second) peak_second = bytes;
    }
    /* The pinned version stays readable whatever retention does. */
    if (pinned && c % 50 == 0) assert_int_equal(tt_count(pinned, NULL, NULL), pinned_rows);
  }
  long live = count_latest(t, NULL, NULL);
  assert_true(live > 400 && live <= 500);
  /* No growth from the first half to the second: bounded. */
  assert_true(peak_second <= peak_first + peak_first / 4);
  assert_true(files < 120);
  /* The pinned version survived every cleanup. */
  hdb__tbl_snap *again;
  assert_int_equal(hdb__tbl_pin(t, hdb__tbl_snap_version(pinned), &again, &err), HDB_OK);
  hdb__tbl_unpin(again);
  hdb__tbl_unpin(pinned);
  hdb__tbl_retention r = {1, 0, -1};
  assert_int_equal(hdb__tbl_cleanup(t, &r, NULL, &err), HDB_OK);
  hdb_version_info *vi;
  size_t nv;
  assert_int_equal(hdb__tbl_versions(t, &vi, &nv, &err), HDB_OK);
  assert_int_equal(nv, 1);
  hdb_version_info_free(vi, nv);
  /* Full compaction to one fragment, then only its files remain. */
  hdb__tbl_compact_options co = {0, 0.0001, 100000};
  hdb__tbl_compact_stats cs;
  assert_int_equal(hdb__tbl_compact(t, &co, &cs, &err), HDB_OK);
  assert_int_equal(hdb__tbl_cleanup(t, &r, NULL, &err), HDB_OK);
  hdb__tbl_snap *s;
  assert_int_equal(hdb__tbl_pin(t, 0, &s, &err), HDB_OK);
  assert_int_equal(hdb__tbl_snap_fragments(s), 1);
  assert_int_equal(tt_count(s, NULL, NULL), live);
  hdb__tbl_unpin(s);
  hdb__tbl_check_report rep;
  assert_int_equal(hdb__tbl_check(g_dir, &rep, &err), HDB_OK);
  assert_int_equal(rep.orphans, 0);
  assert_int_equal(rep.versions, 1);
  hdb__tbl_close(t);
}

static void test_grace_period(void **state) {
  (void)state;
  hdb__tbl *t = open_table(g_dir, 0);
  hdb_error err;
  for (int i = 0; i < 5; i++) insert_range(t, i * 10, i * 10 + 10, HDB__TBL_INSERT, "g");
  /* Default grace (10 s): versions this young are kept for readers of
   * other processes. */
  hdb__tbl_retention r = {1, 0, 0};
  hdb__tbl_cleanup_stats cs;
  assert_int_equal(hdb__tbl_cleanup(t, &r, &cs, &err), HDB_OK);
  assert_int_equal(cs.versions_removed, 0);
  /* Age rule: keep versions younger than an hour. */
  hdb__tbl_retention r2 = {1, 3600LL * 1000000, -1};
  assert_int_equal(hdb__tbl_cleanup(t, &r2, &cs, &err), HDB_OK);
  assert_int_equal(cs.versions_removed, 0);
  hdb__tbl_retention r3 = {2, 0, -1};
  assert_int_equal(hdb__tbl_cleanup(t, &r3, &cs, &err), HDB_OK);
  assert_int_equal(cs.versions_removed, 4);
  assert_int_equal(cs.versions_kept, 2);
  hdb__tbl_close(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_insert_upsert, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_update_delete, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_zone_maps, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_time_travel, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_alter, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_lock_timeout, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_retention_bounds_disk, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_grace_period, setup_dir, teardown_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
