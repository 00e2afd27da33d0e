/*
 * test_sqlite_backend.c - what the conformance suite does not cover for
 * sqlite://: URL options and their validation, persistence across
 * reopen, unopenable and corrupt files, lock timeouts (HDB_BUSY),
 * read-only handles, hostile values (quotes, backslashes, semicolons,
 * SQL keywords, NUL bytes) in records, filters, names and KV keys, case-
 * sensitive names, another handle changing a table under the schema cache,
 * and the evaluator fallback (filters and sorts SQLite cannot run) giving
 * the memory backend's answers.
 *
 * Public API only; every database lives in a fresh directory under /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hanzodb.h"

static char dir[256];
static char url[512];

static void make_url(const char *name, const char *opts) {
  snprintf(url, sizeof url, "sqlite://%s/%s%s", dir, name, opts ? opts : "");
}

static hdb *open_ok(const char *u) {
  hdb *db = NULL;
  hdb_error err;
  hdb_status st = hdb_open(u, &db, &err);
  if (st != HDB_OK) fail_msg("open %s: %s %s", u, hdb_status_name(st), err.message);
  return db;
}

#define OK(db, call)                                                                   \
  do {                                                                                 \
    hdb_status st_ = (call);                                                           \
    if (st_ != HDB_OK) fail_msg("%s -> %s: %s", #call, hdb_status_name(st_), hdb_errmsg(db)); \
  } while (0)

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/hdb-sqlite-test-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void test_url_options(void **state) {
  (void)state;
  static const struct {
    const char *opts, *needle;
  } bad[] = {{"?journal_mode=fast", "journal_mode"}, {"?synchronous=maybe", "synchronous"},
             {"?busy_timeout=-1", "busy_timeout"},    {"?busy_timeout=abc", "busy_timeout"},
             {"?mmap_size=1x", "mmap_size"},         {"?cache=big", "cache"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    make_url("opts.db", bad[i].opts);
    hdb *db = NULL;
    hdb_error err;
    assert_int_equal(hdb_open(url, &db, &err), HDB_BAD_URL);
    assert_null(db);
    if (!strstr(err.message, bad[i].needle)) fail_msg("message '%s' lacks '%s'", err.message, bad[i].needle);
  }
  make_url("opts.db", "?journal_mode=delete&synchronous=full&busy_timeout=10&mmap_size=1048576");
  hdb *db = open_ok(url);
  OK(db, hdb_table_create(db, "t", NULL, 0));
  hdb_close(db);
  make_url("opts2.db", "?journal_mode=WAL&synchronous=off");
  db = open_ok(url);
  assert_true(hdb_capabilities(db) & HDB_CAP_PERSISTENT);
  OK(db, hdb_ping(db));
  hdb_close(db);
  db = open_ok("sqlite://:memory:");
  assert_false(hdb_capabilities(db) & HDB_CAP_PERSISTENT);
  hdb_close(db);
}

static void test_persistence_across_reopen(void **state) {
  (void)state;
  make_url("persist.db", NULL);
  hdb *db = open_ok(url);
  hdb_schema *s = NULL;
  assert_int_equal(hdb_schema_from_json("{\"n\":\"int\",\"e\":\"vector(3,cosine)\",\"m\":\"json\"}", &s, NULL),
                   HDB_OK);
  OK(db, hdb_table_create(db, "docs", s, 0));
  OK(db, hdb_table_create(db, "free", NULL, 0));
  OK(db, hdb_index_create(db, "docs", "n", HDB_INDEX_SCALAR, NULL));
  hdb_record *r = hdb_record_new("a");
  float v[3] = {1, 2, 3};
  hdb_record_set_int(r, "n", 7);
  hdb_record_set_vector(r, "e", v, 3);
  hdb_record_set_json(r, "m", "{\"k\":\"v\"}");
  OK(db, hdb_insert(db, "docs", &r, 1));
  hdb_record_set_timestamp(r, "ts", 1234567);
  OK(db, hdb_insert(db, "free", &r, 1));
  hdb_record_free(r);
  OK(db, hdb_kv_put(db, "ns", "k\0x", 3, "v", 1));
  hdb_close(db);

  db = open_ok(url);
  hdb_schema *back = NULL;
  OK(db, hdb_table_schema(db, "docs", &back));
  char *a = NULL, *b = NULL;
  hdb_schema_to_json(s, &a);
  hdb_schema_to_json(back, &b);
  assert_string_equal(a, b);
  hdb_free(a);
  hdb_free(b);
  hdb_schema_free(back);
  hdb_schema_free(s);
  OK(db, hdb_get(db, "free", "a", &r));
  hdb_value val;
  OK(db, hdb_record_get(r, "ts", &val));
  assert_int_equal(val.type, HDB_TYPE_TIMESTAMP);
  assert_true(val.as.timestamp_us == 1234567);
  OK(db, hdb_record_get(r, "e", &val));
  assert_int_equal(val.type, HDB_TYPE_VECTOR);
  hdb_record_free(r);
  hdb_index_info *infos = NULL;
  size_t n = 0;
  OK(db, hdb_index_list(db, "docs", &infos, &n));
  assert_int_equal(n, 1);
  assert_int_equal(infos[0].type, HDB_INDEX_SCALAR);
  hdb_index_info_free(infos, n);
  void *kv = NULL;
  size_t kvlen = 0;
  OK(db, hdb_kv_get(db, "ns", "k\0x", 3, &kv, &kvlen));
  assert_int_equal(kvlen, 1);
  hdb_free(kv);
  hdb_close(db);
}

static void test_open_errors(void **state) {
  (void)state;
  hdb *db = NULL;
  hdb_error err;
  /* A directory that does not exist: HDB_IO naming the path. */
  snprintf(url, sizeof url, "sqlite://%s/no/such/dir/x.db", dir);
  assert_int_equal(hdb_open(url, &db, &err), HDB_IO);
  assert_non_null(strstr(err.message, "no/such/dir"));
  /* A file that is not a database: HDB_CORRUPT. */
  char path[512];
  snprintf(path, sizeof path, "%s/garbage.db", dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (int i = 0; i < 512; i++) fputs("this is not an sqlite database; ", f);
  fclose(f);
  make_url("garbage.db", NULL);
  assert_int_equal(hdb_open(url, &db, &err), HDB_CORRUPT);
  assert_null(db);
  /* sqlite:// without a path. */
  assert_int_equal(hdb_open("sqlite://", &db, &err), HDB_BAD_URL);
}

static void test_busy_and_read_only(void **state) {
  (void)state;
  make_url("busy.db", "?busy_timeout=50");
  hdb *h1 = open_ok(url), *h2 = open_ok(url);
  OK(h1, hdb_table_create(h1, "t", NULL, 0));
  hdb_record *r = hdb_record_new("a");
  hdb_record_set_int(r, "x", 1);
  OK(h1, hdb_begin(h1));
  OK(h1, hdb_insert(h1, "t", &r, 1)); /* h1 holds the write lock */
  hdb_record_set_id(r, "b");
  assert_int_equal(hdb_insert(h2, "t", &r, 1), HDB_BUSY);
  assert_int_equal(hdb_kv_put(h2, "", "k", 1, "v", 1), HDB_BUSY);
  OK(h1, hdb_commit(h1));
  OK(h2, hdb_insert(h2, "t", &r, 1));
  hdb_record_free(r);
  hdb_close(h1);
  hdb_close(h2);

  hdb_config cfg = HDB_CONFIG_INIT;
  cfg.url = url;
  cfg.read_only = 1;
  hdb *ro = NULL;
  hdb_error err;
  assert_int_equal(hdb_open_config(&cfg, &ro, &err), HDB_OK);
  uint64_t n = 0;
  OK(ro, hdb_count(ro, "t", NULL, &n));
  assert_int_equal(n, 2);
  assert_int_equal(hdb_table_create(ro, "u", NULL, 0), HDB_READ_ONLY);
  assert_int_equal(hdb_delete(ro, "t", "a"), HDB_READ_ONLY);
  hdb_close(ro);
}

static const char *const hostile[] = {
    "'", "''", "\"", "\\", "\\'", "a'; DROP TABLE t; --", "\"; DELETE FROM t; --", "SELECT * FROM t",
    "%", "_", "\\%", "OR 1=1", "NULL", "\xc3\xa9\xe2\x82\xac", "$1", "?", ":name", "@x", "--", "/*", "*/",
};

static void test_hostile_values(void **state) {
  (void)state;
  make_url("hostile.db", NULL);
  hdb *db = open_ok(url);
  hdb_schema *s = NULL;
  assert_int_equal(hdb_schema_from_json("{\"t\":\"text\",\"m\":\"json\"}", &s, NULL), HDB_OK);
  OK(db, hdb_table_create(db, "t", s, 0));
  OK(db, hdb_table_create(db, "free", NULL, 0));
  hdb_schema_free(s);
  size_t n = sizeof hostile / sizeof *hostile;
  for (size_t i = 0; i < n; i++) {
    hdb_record *r = hdb_record_new(hostile[i]);
    hdb_record_set_text(r, "t", hostile[i]);
    char *json = NULL;
    hdb_record *tmp = hdb_record_new("x");
    hdb_record_set_text(tmp, "k", hostile[i]);
    hdb_record_to_json(tmp, &json); /* {"id":"x","k":"..."}: a valid object */
    hdb_record_set_json(r, "m", json);
    hdb_free(json);
    hdb_record_free(tmp);
    OK(db, hdb_insert(db, "t", &r, 1));
    OK(db, hdb_insert(db, "free", &r, 1));
    hdb_record_free(r);
  }
  for (size_t i = 0; i < n; i++) {
    /* The literal in both syntaxes, quotes doubled for the text form. */
    char lit[128] = {0}, filter[512];
    size_t k = 0;
    for (const char *p = hostile[i]; *p; p++) {
      if (*p == '\'') lit[k++] = '\'';
      lit[k++] = *p;
    }
    const char *forms[] = {"t = '%s'", "m.k = '%s'", "id = '%s'", "t IN ('%s', 'zz')", "t >= '%s'"};
    for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
      snprintf(filter, sizeof filter, forms[f], lit);
      for (int table = 0; table < 2; table++) {
        const char *tn = table ? "free" : "t";
        uint64_t got = 0;
        OK(db, hdb_count(db, tn, filter, &got));
        if (f < 4) assert_int_equal(got, 1);
        hdb_record *r = NULL;
        OK(db, hdb_get(db, tn, hostile[i], &r));
        hdb_value v;
        OK(db, hdb_record_get(r, "t", &v));
        assert_string_equal(v.as.text.data, hostile[i]);
        hdb_record_free(r);
      }
    }
  }
  uint64_t total = 0;
  OK(db, hdb_count(db, "t", NULL, &total));
  assert_int_equal(total, n);
  /* KV keys and values with NUL bytes and quotes. */
  OK(db, hdb_kv_put(db, "a/b", "'\0;", 3, "\0\0", 2));
  void *v = NULL;
  size_t vl = 0;
  OK(db, hdb_kv_get(db, "a/b", "'\0;", 3, &v, &vl));
  assert_int_equal(vl, 2);
  assert_memory_equal(v, "\0\0", 2);
  hdb_free(v);
  OK(db, hdb_kv_put(db, "a/b", "e", 1, "", 0));
  OK(db, hdb_kv_get(db, "a/b", "e", 1, &v, &vl));
  assert_int_equal(vl, 0);
  hdb_free(v);
  hdb_close(db);
}

/* Names differ only in case: SQLite's identifiers do not, ours do. */
static void test_case_sensitive_names(void **state) {
  (void)state;
  make_url("case.db", NULL);
  hdb *db = open_ok(url);
  hdb_schema *s = NULL;
  assert_int_equal(hdb_schema_from_json("{\"a\":\"int\",\"A\":\"text\"}", &s, NULL), HDB_OK);
  OK(db, hdb_table_create(db, "Tab", s, 0));
  OK(db, hdb_table_create(db, "tab", s, 0));
  OK(db, hdb_index_create(db, "Tab", "A", HDB_INDEX_SCALAR, NULL));
  OK(db, hdb_index_create(db, "Tab", "a", HDB_INDEX_SCALAR, NULL));
  OK(db, hdb_index_create(db, "tab", "a", HDB_INDEX_SCALAR, NULL));
  hdb_schema_free(s);
  hdb_record *r = hdb_record_new("1");
  hdb_record_set_int(r, "a", 5);
  hdb_record_set_text(r, "A", "five");
  OK(db, hdb_insert(db, "Tab", &r, 1));
  hdb_record_free(r);
  uint64_t n = 0;
  OK(db, hdb_count(db, "Tab", "a = 5 AND A = 'five'", &n));
  assert_int_equal(n, 1);
  OK(db, hdb_count(db, "tab", NULL, &n));
  assert_int_equal(n, 0);
  OK(db, hdb_table_drop(db, "Tab", 0));
  OK(db, hdb_count(db, "tab", NULL, &n));
  hdb_close(db);
}

/* Another handle drops and recreates a table: the schema cache follows. */
static void test_schema_cache_follows_other_handles(void **state) {
  (void)state;
  make_url("cache.db", NULL);
  hdb *h1 = open_ok(url), *h2 = open_ok(url);
  hdb_schema *s1 = NULL, *s2 = NULL;
  hdb_schema_from_json("{\"x\":\"int\"}", &s1, NULL);
  hdb_schema_from_json("{\"y\":\"text\"}", &s2, NULL);
  OK(h1, hdb_table_create(h1, "t", s1, 0));
  uint64_t n = 0;
  OK(h2, hdb_count(h2, "t", "x = 1", &n)); /* h2 caches t(x) */
  OK(h1, hdb_table_drop(h1, "t", 0));
  OK(h1, hdb_table_create(h1, "t", s2, 0));
  assert_int_equal(hdb_count(h2, "t", "x = 1", &n), HDB_NO_FIELD);
  OK(h2, hdb_count(h2, "t", "y = 'a'", &n));
  /* A rolled-back create leaves no trace in the cache either. */
  OK(h2, hdb_begin(h2));
  OK(h2, hdb_table_create(h2, "u", s1, 0));
  OK(h2, hdb_count(h2, "u", "x = 1", &n));
  OK(h2, hdb_rollback(h2));
  assert_int_equal(hdb_count(h2, "u", NULL, &n), HDB_NO_TABLE);
  hdb_schema_free(s1);
  hdb_schema_free(s2);
  hdb_close(h1);
  hdb_close(h2);
}

/* Ids of a cursor, comma-joined (in cursor order). */
static void cursor_ids(hdb_cursor *c, char *out, size_t cap) {
  const hdb_record *r;
  out[0] = 0;
  while (hdb_cursor_next(c, &r) == HDB_OK) {
    if (out[0]) strncat(out, ",", cap - strlen(out) - 1);
    strncat(out, hdb_record_id(r), cap - strlen(out) - 1);
  }
  hdb_cursor_close(c);
}

/* Filters SQLite cannot run and sorts by json paths go through core's
 * evaluator and sorter: same answers as memory://. */
static void test_fallback_matches_memory(void **state) {
  (void)state;
  make_url("fallback.db", NULL);
  hdb *dbs[2] = {open_ok(url), open_ok("memory://")};
  const char *rows[] = {
      "{\"id\":\"a\",\"n\":3,\"m\":{\"k\\\"q\":1,\"s\":\"b\"}}", "{\"id\":\"b\",\"n\":1,\"m\":{\"k\\\"q\":2,\"s\":\"a\"}}",
      "{\"id\":\"c\",\"n\":2,\"m\":{\"s\":\"c\",\"k\\\"q\":\"2\"}}", "{\"id\":\"d\",\"m\":[1]}", "{\"id\":\"e\",\"n\":2}",
  };
  hdb_schema *s = NULL;
  hdb_schema_from_json("{\"n\":\"int\",\"m\":\"json\"}", &s, NULL);
  for (int d = 0; d < 2; d++) {
    OK(dbs[d], hdb_table_create(dbs[d], "t", s, 0));
    OK(dbs[d], hdb_table_create(dbs[d], "f", NULL, 0));
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
      hdb_record *r = NULL;
      assert_int_equal(hdb_record_from_json(rows[i], strlen(rows[i]), 1, &r, NULL), HDB_OK);
      OK(dbs[d], hdb_insert(dbs[d], "t", &r, 1));
      OK(dbs[d], hdb_insert(dbs[d], "f", &r, 1));
      hdb_record_free(r);
    }
  }
  hdb_schema_free(s);
  const char *filters[] = {"m.\"k\"\"q\" = 2", "NOT m.\"k\"\"q\" >= 2", "m.\"k\"\"q\" IS NULL OR n = 2", NULL};
  const char *sorts[] = {"m.s", "n", "id"};
  for (int table = 0; table < 2; table++) {
    const char *tn = table ? "f" : "t";
    for (size_t f = 0; f < sizeof filters / sizeof *filters; f++) {
      for (size_t k = 0; k < sizeof sorts / sizeof *sorts; k++) {
        for (int desc = 0; desc < 2; desc++) {
          char got[2][256];
          hdb_sort_key key = {sorts[k], desc};
          for (int d = 0; d < 2; d++) {
            hdb_query_options q = HDB_QUERY_INIT;
            q.filter = filters[f];
            q.sort = &key;
            q.n_sort = 1;
            q.limit = 3;
            q.offset = 1;
            hdb_cursor *c = NULL;
            OK(dbs[d], hdb_query(dbs[d], tn, &q, &c));
            cursor_ids(c, got[d], sizeof got[d]);
          }
          if (strcmp(got[0], got[1]) != 0)
            fail_msg("%s filter %s sort %s%s: sqlite [%s], memory [%s]", tn, filters[f] ? filters[f] : "-",
                     sorts[k], desc ? " desc" : "", got[0], got[1]);
        }
      }
      uint64_t n[2];
      for (int d = 0; d < 2; d++) OK(dbs[d], hdb_count(dbs[d], tn, filters[f], &n[d]));
      assert_int_equal(n[0], n[1]);
      hdb_agg agg[2] = {{HDB_AGG_COUNT, NULL}, {HDB_AGG_SUM, "n"}};
      char a[2][256];
      for (int d = 0; d < 2; d++) {
        hdb_cursor *c = NULL;
        OK(dbs[d], hdb_aggregate(dbs[d], tn, agg, 2, NULL, filters[f], &c));
        const hdb_record *r;
        OK(dbs[d], hdb_cursor_next(c, &r));
        char *json = NULL;
        hdb_record_to_json(r, &json);
        snprintf(a[d], sizeof a[d], "%s", json);
        hdb_free(json);
        hdb_cursor_close(c);
      }
      assert_string_equal(a[0], a[1]);
    }
  }
  /* update_where / delete_where with a filter SQLite cannot run. */
  for (int d = 0; d < 2; d++) {
    hdb_record *patch = hdb_record_new(NULL);
    hdb_record_set_int(patch, "n", 40);
    uint64_t n = 0;
    OK(dbs[d], hdb_update_where(dbs[d], "t", "m.\"k\"\"q\" = 2", patch, &n));
    assert_int_equal(n, 1);
    OK(dbs[d], hdb_update_where(dbs[d], "f", "m.\"k\"\"q\" = 2", patch, &n));
    assert_int_equal(n, 1);
    hdb_record_free(patch);
    OK(dbs[d], hdb_delete_where(dbs[d], "f", "m.\"k\"\"q\" = 1", &n));
    assert_int_equal(n, 1);
    OK(dbs[d], hdb_count(dbs[d], "t", "n = 40", &n));
    assert_int_equal(n, 1);
  }
  hdb_close(dbs[0]);
  hdb_close(dbs[1]);
}

int main(void) {
  if (!hdb_backend_built(HDB_BACKEND_SQLITE)) {
    printf("sqlite backend not built: skipped\n");
    return 0;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_url_options),
      cmocka_unit_test(test_persistence_across_reopen),
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_busy_and_read_only),
      cmocka_unit_test(test_hostile_values),
      cmocka_unit_test(test_case_sensitive_names),
      cmocka_unit_test(test_schema_cache_follows_other_handles),
      cmocka_unit_test(test_fallback_matches_memory),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
