/*
 * conformance_errors.c - bad input: each case returns its specific status,
 * hdb_errmsg() names the table, field or position involved, and nothing
 * changes. Unknown tables on every call, unknown columns everywhere a
 * column is named, malformed filters (text and JSON), malformed record
 * JSON, malformed and unknown URLs, type mismatches, wrong dimensions,
 * NaN/Inf, bad ids, NULL arguments (HDB_INVALID_ARGUMENT, no crash), and
 * freeing NULL handles.
 */
#include "conformance_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E_SCHEMA "{\"n\":\"int\",\"s\":\"text\",\"v\":\"vector(3,l2)\",\"j\":\"json\"}"

static void seed_table(hdb *db) {
  CREATE_TABLE(db, "cf_err", E_SCHEMA);
  hdb_record *r[2] = {conf_rec("a"), conf_rec("b")};
  const float v[3] = {1, 2, 3};
  conf_set_int(r[0], "n", 1);
  conf_set_text(r[0], "s", "x");
  conf_set_vec(r[0], "v", v, 3);
  conf_set_int(r[1], "n", 2);
  INSERT_FREE(db, "cf_err", r, 2);
}

/* The table is as seed_table left it. */
static void expect_unchanged(hdb *db, const char *file, int line) {
  char *ids = conf_filter_ids(db, "cf_err", NULL, file, line);
  if (strcmp(ids, "a,b") != 0) {
    print_error("table changed by a failed call: rows {%s}\n", ids);
    free(ids);
    _fail(file, line);
  }
  free(ids);
  hdb_record *got = conf_get(db, "cf_err", "a", file, line);
  conf_field_int(got, "n", 1, file, line);
  conf_field_text(got, "s", "x", file, line);
  hdb_record_free(got);
}
#define UNCHANGED(db) expect_unchanged((db), __FILE__, __LINE__)

/* A check that records the failure and lets the test go on, so one run
 * lists every call that answers wrongly. Needs a local soft_failures. */
#define SOFT(expected, call)                                                            \
  do {                                                                                  \
    hdb_status soft_st_ = (call);                                                       \
    if (soft_st_ != (expected)) {                                                       \
      print_error("%s:%d: %s\n  expected %s, got %s\n", __FILE__, __LINE__, #call,      \
                  hdb_status_name(expected), hdb_status_name(soft_st_));                \
      soft_failures++;                                                                  \
    }                                                                                   \
  } while (0)

#define NO_TABLE_CALL(call)                        \
  do {                                             \
    EXPECT(db, HDB_NO_TABLE, (call));              \
    EXPECT_MSG(db, "cf_missing");                  \
    assert_int_equal(hdb_errcode(db), HDB_NO_TABLE); \
  } while (0)

static void test_errors_unknown_table_every_call(void **state) {
  (void)state;
  hdb *db = conf_db;
  const char *t = "cf_missing";
  hdb_record *r = conf_rec("a");
  conf_set_int(r, "n", 1);
  hdb_record *batch[1] = {r};
  hdb_record *out = NULL;
  uint64_t n = 0;
  hdb_cursor *c = NULL;
  hdb_query_options q = HDB_QUERY_INIT;
  hdb_schema *s = NULL;
  hdb_index_info *infos = NULL;
  size_t ni = 0;
  NO_TABLE_CALL(hdb_insert(db, t, batch, 1));
  NO_TABLE_CALL(hdb_upsert(db, t, batch, 1));
  NO_TABLE_CALL(hdb_get(db, t, "a", &out));
  NO_TABLE_CALL(hdb_update(db, t, "a", r));
  NO_TABLE_CALL(hdb_update_where(db, t, NULL, r, &n));
  NO_TABLE_CALL(hdb_delete(db, t, "a"));
  NO_TABLE_CALL(hdb_delete_where(db, t, NULL, &n));
  NO_TABLE_CALL(hdb_query(db, t, &q, &c));
  NO_TABLE_CALL(hdb_count(db, t, NULL, &n));
  NO_TABLE_CALL(hdb_table_schema(db, t, &s));
  NO_TABLE_CALL(hdb_table_drop(db, t, 0));
  NO_TABLE_CALL(hdb_index_list(db, t, &infos, &ni));
  NO_TABLE_CALL(hdb_index_drop(db, t, "n"));
  if (conf_has(HDB_CAP_SCALAR_INDEX))
    NO_TABLE_CALL(hdb_index_create(db, t, "n", HDB_INDEX_SCALAR, NULL));
  if (conf_has(HDB_CAP_VECTOR_SEARCH)) {
    const float v[3] = {1, 2, 3};
    hdb_search sr = HDB_SEARCH_INIT;
    sr.vector = v;
    sr.dim = 3;
    sr.k = 1;
    NO_TABLE_CALL(hdb_search_vector(db, t, &sr, &c));
    NO_TABLE_CALL(hdb_index_create(db, t, "v", HDB_INDEX_FLAT, NULL));
  }
  if (conf_has(HDB_CAP_AGGREGATE)) {
    const hdb_agg a = {HDB_AGG_COUNT, NULL};
    NO_TABLE_CALL(hdb_aggregate(db, t, &a, 1, NULL, NULL, &c));
  }
  if (conf_has(HDB_CAP_STATS)) {
    char *json = NULL;
    NO_TABLE_CALL(hdb_stats(db, t, &json));
  }
  if (conf_has(HDB_CAP_TIME_TRAVEL)) {
    hdb_version_info *vi = NULL;
    size_t nv = 0;
    NO_TABLE_CALL(hdb_table_versions(db, t, &vi, &nv));
    NO_TABLE_CALL(hdb_table_restore(db, t, 1));
  }
  assert_null(out);
  assert_null(c);
  assert_null(s);
  hdb_record_free(r);
  /* Nothing was created by any of them. */
  char *list = conf_table_names(db);
  assert_string_equal(list, "");
  free(list);
}

static void test_errors_unknown_column_everywhere(void **state) {
  (void)state;
  hdb *db = conf_db;
  seed_table(db);
  hdb_cursor *c = NULL;
  uint64_t n = 0;
  /* filter */
  EXPECT(db, HDB_NO_FIELD, hdb_count(db, "cf_err", "zcol = 1", &n));
  EXPECT_MSG(db, "zcol");
  EXPECT(db, HDB_NO_FIELD, hdb_count(db, "cf_err", "{\"zcol\":1}", &n));
  EXPECT_MSG(db, "zcol");
  EXPECT(db, HDB_NO_FIELD, hdb_delete_where(db, "cf_err", "zcol = 1 OR n = 1", &n));
  /* sort */
  const hdb_sort_key key[] = {{"zsort", 0}};
  hdb_query_options q = HDB_QUERY_INIT;
  q.sort = key;
  q.n_sort = 1;
  EXPECT(db, HDB_NO_FIELD, hdb_query(db, "cf_err", &q, &c));
  EXPECT_MSG(db, "zsort");
  /* projection */
  static const char *const f[] = {"zproj"};
  q.sort = NULL;
  q.n_sort = 0;
  q.fields = f;
  q.n_fields = 1;
  EXPECT(db, HDB_NO_FIELD, hdb_query(db, "cf_err", &q, &c));
  EXPECT_MSG(db, "zproj");
  /* write */
  hdb_record *r[1] = {conf_rec("c")};
  conf_set_int(r[0], "zfield", 1);
  EXPECT(db, HDB_NO_FIELD, hdb_insert(db, "cf_err", r, 1));
  EXPECT_MSG(db, "zfield");
  EXPECT(db, HDB_NO_FIELD, hdb_update(db, "cf_err", "a", r[0]));
  EXPECT(db, HDB_NO_FIELD, hdb_update_where(db, "cf_err", NULL, r[0], &n));
  hdb_record_free(r[0]);
  /* search column */
  if (conf_has(HDB_CAP_VECTOR_SEARCH)) {
    const float v[3] = {1, 2, 3};
    hdb_search sr = HDB_SEARCH_INIT;
    sr.column = "zvec";
    sr.vector = v;
    sr.dim = 3;
    sr.k = 1;
    EXPECT(db, HDB_NO_FIELD, hdb_search_vector(db, "cf_err", &sr, &c));
    EXPECT_MSG(db, "zvec");
    EXPECT(db, HDB_NO_FIELD, hdb_index_create(db, "cf_err", "zidx", HDB_INDEX_FLAT, NULL));
    EXPECT_MSG(db, "zidx");
  }
  /* aggregate field */
  if (conf_has(HDB_CAP_AGGREGATE)) {
    const hdb_agg a = {HDB_AGG_MAX, "zagg"};
    EXPECT(db, HDB_NO_FIELD, hdb_aggregate(db, "cf_err", &a, 1, NULL, NULL, &c));
    EXPECT_MSG(db, "zagg");
  }
  if (conf_has(HDB_CAP_SCALAR_INDEX)) {
    EXPECT(db, HDB_NO_FIELD, hdb_index_create(db, "cf_err", "zidx", HDB_INDEX_SCALAR, NULL));
    EXPECT_MSG(db, "zidx");
  }
  /* unknown index */
  EXPECT(db, HDB_NO_INDEX, hdb_index_drop(db, "cf_err", "n"));
  assert_null(c);
  UNCHANGED(db);
}

static void test_errors_malformed_filters(void **state) {
  (void)state;
  hdb *db = conf_db;
  seed_table(db);
  const char *const text[] = {
      "n = = 1",       "n >",           "(n = 1",       "n = 1)",          "n IN (1,",
      "n IN ()",       "s LIKE",        "s = 'unterminated", "AND n = 1", "n = 1 AND",
      "n BETWEEN 1",   "n BETWEEN 1 AND", "@@",         "n IS",            "n IS NOT 5",
      "NOT",           "n = 1 n = 2",   "\"n = 1",      "n == 1",          "n = 1;",
  };
  uint64_t count = 0;
  int bad = 0;
  for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
    hdb_status st = hdb_count(db, "cf_err", text[i], &count);
    if (st != HDB_BAD_FILTER) {
      print_error("filter \"%s\": expected BAD_FILTER, got %s: %s\n", text[i],
                  hdb_status_name(st), hdb_errmsg(db));
      bad++;
    } else if (!conf_contains(hdb_errmsg(db), "1:")) {
      print_error("filter \"%s\": message \"%s\" has no position (\"1:\")\n", text[i],
                  hdb_errmsg(db));
      bad++;
    }
  }
  /* The line of the position counts newlines. */
  EXPECT(db, HDB_BAD_FILTER, hdb_count(db, "cf_err", "n = 1\nAND s = = 'x'", &count));
  EXPECT_MSG(db, "2:");
  /* The column: "n = = 1" fails at the second '=' (column 5). */
  EXPECT(db, HDB_BAD_FILTER, hdb_count(db, "cf_err", "n = = 1", &count));
  EXPECT_MSG(db, "1:5");

  const char *const json[] = {
      "{\"n\":",           "{\"n\":{\"$gt\":}}",        "{\"n\":{\"$bogus\":1}}",
      "{\"$or\":5}",       "{\"n\":{\"$in\":5}}",       "{\"n\":{\"$between\":[1]}}",
      "{\"$and\":{}}",     "{\"n\":1,}",                "{\"$nope\":[{\"n\":1}]}",
      "{\"n\":{\"$exists\":\"yes\"}}", "{} trailing",
  };
  for (size_t i = 0; i < sizeof json / sizeof json[0]; i++) {
    hdb_status st = hdb_count(db, "cf_err", json[i], &count);
    if (st != HDB_BAD_FILTER) {
      print_error("JSON filter %s: expected BAD_FILTER, got %s: %s\n", json[i],
                  hdb_status_name(st), hdb_errmsg(db));
      bad++;
    }
  }
  if (bad) fail_msg("%d malformed filter(s) not reported as documented", bad);
  /* Every filtering call reports it the same way, and changes nothing. */
  hdb_record *patch = conf_rec(NULL);
  conf_set_int(patch, "n", 9);
  EXPECT(db, HDB_BAD_FILTER, hdb_update_where(db, "cf_err", "n >", patch, &count));
  hdb_record_free(patch);
  EXPECT(db, HDB_BAD_FILTER, hdb_delete_where(db, "cf_err", "n >", &count));
  hdb_query_options q = HDB_QUERY_INIT;
  q.filter = "{\"n\":";
  hdb_cursor *c = NULL;
  EXPECT(db, HDB_BAD_FILTER, hdb_query(db, "cf_err", &q, &c));
  assert_null(c);
  UNCHANGED(db);
}

static void test_errors_record_from_json(void **state) {
  (void)state;
  hdb_record *r = (hdb_record *)1;
  hdb_error err;
  memset(&err, 0, sizeof err);
  const char *bad = "{\"id\":\"a\",\n  \"x\": }";
  assert_int_equal(hdb_record_from_json(bad, strlen(bad), 1, &r, &err), HDB_BAD_JSON);
  assert_int_equal(err.code, HDB_BAD_JSON);
  assert_null(r);
  if (!conf_contains(err.message, "2:") && !conf_contains(err.message, "line 2"))
    fail_msg("record JSON error message \"%s\" has no position (line 2)", err.message);

  const char *const bad_json[] = {"", "[1,2]", "{\"id\":\"a\"", "{\"id\":\"a\",\"x\":tru}",
                                  "{\"id\":\"a\"} extra", "\"str\"", "{\"id\":\"a\",\"x\":[1,}"};
  for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
    r = NULL;
    memset(&err, 0, sizeof err);
    hdb_status st = hdb_record_from_json(bad_json[i], strlen(bad_json[i]), 0, &r, &err);
    if (st != HDB_BAD_JSON) fail_msg("record JSON \"%s\": expected BAD_JSON, got %s", bad_json[i], hdb_status_name(st));
    assert_null(r);
    assert_true(err.message[0] != '\0');
  }
  /* A NULL error pointer is allowed. */
  r = NULL;
  assert_int_equal(hdb_record_from_json("{", 1, 0, &r, NULL), HDB_BAD_JSON);
  assert_null(r);
  /* The length bounds the input: the text after len is not read. */
  const char *withtail = "{\"id\":\"t\"}GARBAGE";
  assert_int_equal(hdb_record_from_json(withtail, 10, 1, &r, &err), HDB_OK);
  assert_string_equal(hdb_record_id(r), "t");
  hdb_record_free(r);
  r = NULL;
  /* id required. */
  memset(&err, 0, sizeof err);
  assert_int_equal(hdb_record_from_json("{\"x\":1}", 7, 1, &r, &err), HDB_BAD_ID);
  assert_null(r);
  assert_int_equal(hdb_record_from_json("{\"id\":\"\",\"x\":1}", 15, 1, &r, &err), HDB_BAD_ID);
  assert_null(r);
  assert_int_equal(hdb_record_from_json("{\"x\":1}", 7, 0, &r, &err), HDB_OK);
  assert_null(hdb_record_id(r));
  hdb_record_free(r);
}

static void test_errors_bad_urls(void **state) {
  (void)state;
  const char *const bad[] = {"", "not a url", "memory", "://x", "memory:/x", "nosuchscheme://x",
                             "ftp://host/db", "MEMORY-ish://"};
  int bad_urls = 0;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    hdb *db = (hdb *)1;
    hdb_error err;
    memset(&err, 0, sizeof err);
    hdb_status st = hdb_open(bad[i], &db, &err);
    if (st != HDB_BAD_URL || err.code != HDB_BAD_URL || err.message[0] == '\0') {
      print_error("hdb_open(\"%s\"): expected BAD_URL, got %s (err.code %s): %s\n", bad[i],
                  hdb_status_name(st), hdb_status_name(err.code), err.message);
      bad_urls++;
    }
    if (st == HDB_OK) hdb_close(db);
    else assert_null(db);
  }
  if (bad_urls) fail_msg("%d malformed URL(s) not reported as BAD_URL", bad_urls);
  hdb_error err;
  memset(&err, 0, sizeof err);
  hdb *db = (hdb *)1;
  assert_int_equal(hdb_open("nosuchscheme://x", &db, &err), HDB_BAD_URL);
  if (!conf_contains(err.message, "nosuchscheme"))
    fail_msg("unknown scheme message \"%s\" does not name the scheme", err.message);
  /* NULL pointers. */
  int soft_failures = 0;
  db = (hdb *)1;
  SOFT(HDB_INVALID_ARGUMENT, hdb_open(NULL, &db, &err));
  assert_null(db);
  SOFT(HDB_INVALID_ARGUMENT, hdb_open(conf_url, NULL, &err));
  db = NULL;
  SOFT(HDB_BAD_URL, hdb_open("nosuchscheme://x", &db, NULL));
  assert_null(db);
  SOFT(HDB_INVALID_ARGUMENT, hdb_open_config(NULL, &db, &err));
  if (soft_failures) fail_msg("%d hdb_open call(s) gave the wrong status", soft_failures);
}

static void test_errors_values_and_ids(void **state) {
  (void)state;
  hdb *db = conf_db;
  seed_table(db);
  hdb_record *r[1];
  const float v2[2] = {1, 2};
  /* type mismatch */
  r[0] = conf_rec("c");
  conf_set_text(r[0], "n", "seven");
  EXPECT(db, HDB_TYPE_MISMATCH, hdb_insert(db, "cf_err", r, 1));
  EXPECT_MSG(db, "n");
  hdb_record_free(r[0]);
  r[0] = conf_rec("c");
  conf_set_int(r[0], "s", 7);
  EXPECT(db, HDB_TYPE_MISMATCH, hdb_insert(db, "cf_err", r, 1));
  hdb_record_free(r[0]);
  r[0] = conf_rec("c");
  conf_set_text(r[0], "v", "not a vector");
  EXPECT(db, HDB_TYPE_MISMATCH, hdb_upsert(db, "cf_err", r, 1));
  hdb_record_free(r[0]);
  /* dimension */
  r[0] = conf_rec("c");
  conf_set_vec(r[0], "v", v2, 2);
  EXPECT(db, HDB_DIMENSION, hdb_insert(db, "cf_err", r, 1));
  EXPECT_MSG(db, "v");
  EXPECT(db, HDB_DIMENSION, hdb_upsert(db, "cf_err", r, 1));
  EXPECT(db, HDB_DIMENSION, hdb_update(db, "cf_err", "a", r[0]));
  EXPECT(db, HDB_DIMENSION, hdb_update_where(db, "cf_err", "n = 1", r[0], NULL));
  hdb_record_free(r[0]);
  /* NaN / Inf never get into a record. */
  hdb_record *x = conf_rec("c");
  const float nan3[3] = {NAN, 0, 0};
  const float inf3[3] = {0, 0, INFINITY};
  assert_int_equal(hdb_record_set_vector(x, "v", nan3, 3), HDB_NOT_FINITE);
  assert_int_equal(hdb_record_set_vector(x, "v", inf3, 3), HDB_NOT_FINITE);
  assert_int_equal(hdb_record_field_count(x), 0);
  hdb_record_free(x);
  /* duplicate id */
  r[0] = conf_rec("a");
  conf_set_int(r[0], "n", 100);
  EXPECT(db, HDB_DUPLICATE_ID, hdb_insert(db, "cf_err", r, 1));
  EXPECT_MSG(db, "a");
  hdb_record_free(r[0]);
  /* bad ids */
  r[0] = conf_rec("");
  EXPECT(db, HDB_BAD_ID, hdb_insert(db, "cf_err", r, 1));
  EXPECT(db, HDB_BAD_ID, hdb_upsert(db, "cf_err", r, 1));
  hdb_record_free(r[0]);
  char *longid = malloc(HDB_MAX_ID_LEN + 2);
  assert_non_null(longid);
  memset(longid, 'L', HDB_MAX_ID_LEN + 1);
  longid[HDB_MAX_ID_LEN + 1] = '\0';
  r[0] = conf_rec(longid);
  EXPECT(db, HDB_BAD_ID, hdb_insert(db, "cf_err", r, 1));
  hdb_record_free(r[0]);
  free(longid);
  r[0] = conf_rec("bad\xff\xfeutf8");
  EXPECT(db, HDB_BAD_ID, hdb_insert(db, "cf_err", r, 1));
  hdb_record_free(r[0]);
  /* bad field names in records */
  x = conf_rec("c");
  assert_int_equal(hdb_record_set_int(x, "1abc", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_int(x, "a-b", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_int(x, "", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_json(x, "j", "{bad json"), HDB_BAD_JSON);
  assert_int_equal(hdb_record_field_count(x), 0);
  assert_int_equal(hdb_record_unset(x, "nope"), HDB_NOT_FOUND);
  hdb_record_free(x);
  /* More than HDB_MAX_BATCH records in one call. */
  hdb_record *one = conf_rec("tb");
  size_t nbig = (size_t)HDB_MAX_BATCH + 1;
  hdb_record **many = malloc(nbig * sizeof *many);
  assert_non_null(many);
  for (size_t i = 0; i < nbig; i++) many[i] = one;
  EXPECT(db, HDB_TOO_BIG, hdb_insert(db, "cf_err", many, nbig));
  EXPECT(db, HDB_TOO_BIG, hdb_upsert(db, "cf_err", many, nbig));
  free(many);
  hdb_record_free(one);
  UNCHANGED(db);
  assert_int_equal(COUNT(db, "cf_err", NULL), 2);
  /* After a success the handle reports no error. */
  assert_int_equal(hdb_errcode(db), HDB_OK);
  assert_string_equal(hdb_errmsg(db), "not an error");
}

static void test_errors_null_arguments(void **state) {
  (void)state;
  hdb *db = conf_db;
  seed_table(db);
  hdb_record *rec = NULL;
  hdb_cursor *c = NULL;
  uint64_t n = 0;
  char **names = NULL;
  size_t count = 0;
  hdb_record *good = conf_rec("z");
  hdb_record *batch_with_null[2] = {good, NULL};
  hdb_query_options q = HDB_QUERY_INIT;
  int soft_failures = 0;
  /* NULL handle */
  SOFT(HDB_INVALID_ARGUMENT, hdb_table_create(NULL, "cf_x", NULL, 0));
  SOFT(HDB_INVALID_ARGUMENT, hdb_table_list(NULL, &names, &count));
  SOFT(HDB_INVALID_ARGUMENT, hdb_insert(NULL, "cf_err", &good, 1));
  SOFT(HDB_INVALID_ARGUMENT, hdb_get(NULL, "cf_err", "a", &rec));
  SOFT(HDB_INVALID_ARGUMENT, hdb_count(NULL, "cf_err", NULL, &n));
  SOFT(HDB_INVALID_ARGUMENT, hdb_query(NULL, "cf_err", &q, &c));
  SOFT(HDB_INVALID_ARGUMENT, hdb_delete(NULL, "cf_err", "a"));
  SOFT(HDB_INVALID_ARGUMENT, hdb_begin(NULL));
  SOFT(HDB_INVALID_ARGUMENT, hdb_kv_put(NULL, NULL, "k", 1, "v", 1));
  SOFT(HDB_INVALID_ARGUMENT, hdb_ping(NULL));
  /* NULL table, id, out pointers */
  SOFT(HDB_INVALID_ARGUMENT, hdb_table_create(db, NULL, NULL, 0));
  SOFT(HDB_INVALID_ARGUMENT, hdb_table_drop(db, NULL, 0));
  SOFT(HDB_INVALID_ARGUMENT, hdb_table_list(db, NULL, &count));
  SOFT(HDB_INVALID_ARGUMENT, hdb_table_list(db, &names, NULL));
  SOFT(HDB_INVALID_ARGUMENT, hdb_table_schema(db, "cf_err", NULL));
  SOFT(HDB_INVALID_ARGUMENT, hdb_insert(db, NULL, &good, 1));
  SOFT(HDB_INVALID_ARGUMENT, hdb_insert(db, "cf_err", NULL, 1));
  SOFT(HDB_INVALID_ARGUMENT, hdb_insert(db, "cf_err", batch_with_null, 2));
  SOFT(HDB_INVALID_ARGUMENT, hdb_upsert(db, "cf_err", batch_with_null, 2));
  SOFT(HDB_INVALID_ARGUMENT, hdb_get(db, "cf_err", NULL, &rec));
  SOFT(HDB_INVALID_ARGUMENT, hdb_get(db, "cf_err", "a", NULL));
  SOFT(HDB_INVALID_ARGUMENT, hdb_update(db, "cf_err", NULL, good));
  SOFT(HDB_INVALID_ARGUMENT, hdb_update(db, "cf_err", "a", NULL));
  SOFT(HDB_INVALID_ARGUMENT, hdb_update_where(db, "cf_err", NULL, NULL, &n));
  SOFT(HDB_INVALID_ARGUMENT, hdb_delete(db, "cf_err", NULL));
  SOFT(HDB_INVALID_ARGUMENT, hdb_count(db, "cf_err", NULL, NULL));
  SOFT(HDB_INVALID_ARGUMENT, hdb_query(db, "cf_err", &q, NULL));
  SOFT(HDB_INVALID_ARGUMENT, hdb_index_list(db, "cf_err", NULL, &count));
  SOFT(HDB_INVALID_ARGUMENT, hdb_index_drop(db, "cf_err", NULL));
  if (conf_has(HDB_CAP_AGGREGATE)) {
    const hdb_agg a = {HDB_AGG_COUNT, NULL};
    SOFT(HDB_INVALID_ARGUMENT, hdb_aggregate(db, "cf_err", NULL, 1, NULL, NULL, &c));
    SOFT(HDB_INVALID_ARGUMENT, hdb_aggregate(db, "cf_err", &a, 1, NULL, NULL, NULL));
  }
  if (conf_has(HDB_CAP_KV)) {
    void *v = NULL;
    size_t vl = 0;
    int found = 0;
    SOFT(HDB_INVALID_ARGUMENT, hdb_kv_put(db, "cfkv", NULL, 1, "v", 1));
    SOFT(HDB_INVALID_ARGUMENT, hdb_kv_put(db, "cfkv", "k", 1, NULL, 1));
    SOFT(HDB_INVALID_ARGUMENT, hdb_kv_get(db, "cfkv", "k", 1, NULL, &vl));
    SOFT(HDB_INVALID_ARGUMENT, hdb_kv_get(db, "cfkv", NULL, 1, &v, &vl));
    SOFT(HDB_INVALID_ARGUMENT, hdb_kv_has(db, "cfkv", "k", 1, NULL));
    SOFT(HDB_INVALID_ARGUMENT, hdb_kv_has(db, "cfkv", NULL, 1, &found));
    SOFT(HDB_INVALID_ARGUMENT, hdb_kv_delete(db, "cfkv", NULL, 1));
    SOFT(HDB_INVALID_ARGUMENT, hdb_kv_write(db, NULL));
    SOFT(HDB_INVALID_ARGUMENT, hdb_kv_iter_open(db, "cfkv", NULL, NULL));
    SOFT(HDB_INVALID_ARGUMENT, hdb_kv_iter_next(NULL, NULL, NULL, NULL, NULL));
  }
  /* Objects */
  SOFT(HDB_INVALID_ARGUMENT, hdb_record_set_int(NULL, "n", 1));
  SOFT(HDB_INVALID_ARGUMENT, hdb_record_set_int(good, NULL, 1));
  SOFT(HDB_INVALID_ARGUMENT, hdb_record_set_text(good, "s", NULL));
  SOFT(HDB_INVALID_ARGUMENT, hdb_record_set_vector(good, "v", NULL, 3));
  SOFT(HDB_INVALID_ARGUMENT, hdb_record_set_vector(good, "v", (const float[1]){1}, 0));
  SOFT(HDB_INVALID_ARGUMENT, hdb_record_get(good, NULL, NULL));
  SOFT(HDB_INVALID_ARGUMENT, hdb_schema_add(NULL, "x", HDB_TYPE_INT));
  SOFT(HDB_INVALID_ARGUMENT, hdb_cursor_next(NULL, NULL));
  assert_int_equal(hdb_record_field_count(NULL), 0);
  assert_null(hdb_record_id(NULL));
  hdb_record_free(good);
  UNCHANGED(db);
  if (soft_failures) fail_msg("%d call(s) did not answer INVALID_ARGUMENT for a NULL argument", soft_failures);
}

static void test_errors_free_null_is_harmless(void **state) {
  (void)state;
  hdb_close(NULL);
  hdb_cursor_close(NULL);
  hdb_record_free(NULL);
  hdb_schema_free(NULL);
  hdb_free(NULL);
  hdb_strings_free(NULL, 0);
  hdb_index_info_free(NULL, 0);
  hdb_version_info_free(NULL, 0);
  hdb_kv_batch_free(NULL);
  hdb_kv_iter_free(NULL);
  /* And the NULL-tolerant getters. */
  assert_true(isnan(hdb_cursor_distance(NULL)));
  (void)hdb_cursor_errmsg(NULL);
  (void)hdb_kv_iter_errmsg(NULL);
  (void)hdb_errmsg(NULL);
}

static void test_errors_names_and_versions(void **state) {
  (void)state;
  assert_string_equal(hdb_status_name(HDB_OK), "OK");
  assert_string_equal(hdb_status_name(HDB_NO_TABLE), "NO_TABLE");
  assert_string_equal(hdb_status_message(HDB_NO_TABLE), "no such table");
  assert_string_equal(hdb_status_name(HDB_TOO_BIG), "TOO_BIG");
  assert_string_equal(hdb_status_name((hdb_status)999), "UNKNOWN");
  assert_string_equal(hdb_status_message((hdb_status)-1), "UNKNOWN");
  assert_string_equal(hdb_type_name(HDB_TYPE_TIMESTAMP), "timestamp");
  assert_string_equal(hdb_type_name(HDB_TYPE_VECTOR), "vector");
  assert_string_equal(hdb_metric_name(HDB_METRIC_COSINE), "cosine");
  assert_string_equal(hdb_metric_name(HDB_METRIC_DEFAULT), "default");
  assert_string_equal(hdb_agg_op_name(HDB_AGG_AVG), "avg");
  assert_string_equal(hdb_backend_name(HDB_BACKEND_POSTGRES), "postgresql");
  hdb_backend b = HDB_BACKEND_DEFAULT;
  assert_int_equal(hdb_backend_from_name("lancedb", &b), HDB_OK);
  assert_int_equal(b, HDB_BACKEND_NATIVE);
  assert_int_equal(hdb_backend_from_name("postgres", &b), HDB_OK);
  assert_int_equal(b, HDB_BACKEND_POSTGRES);
  assert_int_equal(hdb_backend_from_name("oracle", &b), HDB_INVALID_ARGUMENT);
  assert_true(hdb_backend_built(HDB_BACKEND_MEMORY));
  assert_string_equal(hdb_version(), HDB_VERSION_STRING);
  assert_int_equal(hdb_version_number(), HDB_VERSION_NUMBER);
}

int conf_run_errors(void) {
  static const struct CMUnitTest tests[] = {
      CONF_T(test_errors_unknown_table_every_call),
      CONF_T(test_errors_unknown_column_everywhere),
      CONF_T(test_errors_malformed_filters),
      CONF_T(test_errors_record_from_json),
      CONF_T(test_errors_bad_urls),
      CONF_T(test_errors_values_and_ids),
      CONF_T(test_errors_null_arguments),
      CONF_T(test_errors_free_null_is_harmless),
      CONF_T(test_errors_names_and_versions),
  };
  return CONF_RUN_GROUP("errors", tests);
}
