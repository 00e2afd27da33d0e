/*
 * conformance_aggregate.c - hdb_aggregate (HDB_CAP_AGGREGATE): count,
 * count_field, sum, avg, min, max, with and without group_by and filter,
 * groups in ascending order with null first, result field names and types
 * per hanzodb.h, nulls skipped, empty input, and errors.
 */
#include "conformance_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void load_agg(hdb *db) {
  CREATE_TABLE(db, "cf_agg",
               "{\"g\":\"text\",\"x\":\"int\",\"y\":\"float\",\"t\":\"text\",\"ts\":\"timestamp\","
               "\"b\":\"bool\",\"j\":\"json\"}");
  /* id, g, x, y, t, ts, b  (NULL / 0-flags for null) */
  struct {
    const char *id, *g;
    int hx;
    int64_t x;
    int hy;
    double y;
    const char *t;
    int64_t ts; /* 0: null */
    int b;      /* -1: null */
  } rows[] = {
      {"a1", "a", 1, 1, 1, 1.5, "m", 100, 1},
      {"a2", "a", 1, 3, 0, 0, "z", 300, 0},
      {"a3", "a", 0, 0, 1, 2.5, NULL, 0, 1},
      {"b1", "b", 1, 10, 1, -1.0, "b", 50, -1},
      {"n1", NULL, 1, 5, 1, 0.25, "q", 1000, 0},
      {"n2", NULL, 0, 0, 0, 0, NULL, 0, -1},
      {"c1", "B", 1, -2, 1, 4.0, "k", 7, 1},
  };
  enum { N = sizeof rows / sizeof rows[0] };
  hdb_record *recs[N];
  for (size_t i = 0; i < N; i++) {
    hdb_record *r = recs[i] = conf_rec(rows[i].id);
    if (rows[i].g) conf_set_text(r, "g", rows[i].g);
    if (rows[i].hx) conf_set_int(r, "x", rows[i].x);
    if (rows[i].hy) conf_set_float(r, "y", rows[i].y);
    if (rows[i].t) conf_set_text(r, "t", rows[i].t);
    if (rows[i].ts) conf_set_ts(r, "ts", rows[i].ts);
    if (rows[i].b >= 0) conf_set_bool(r, "b", rows[i].b);
    conf_set_json(r, "j", "{\"k\":1}");
  }
  INSERT_FREE(db, "cf_agg", recs, N);
}

/* Runs an aggregate and returns clones of its records. */
static hdb_record **run_agg(hdb *db, const hdb_agg *aggs, size_t n, const char *group_by,
                            const char *filter, size_t *count, const char *file, int line) {
  hdb_cursor *c = NULL;
  hdb_status st = hdb_aggregate(db, "cf_agg", aggs, n, group_by, filter, &c);
  if (st != HDB_OK) {
    print_error("hdb_aggregate(group_by=%s, filter=%s) -> %s: %s\n",
                group_by ? group_by : "NULL", filter ? filter : "NULL", hdb_status_name(st),
                hdb_errmsg(db));
    _fail(file, line);
  }
  hdb_record **out = calloc(64, sizeof *out);
  size_t k = 0;
  const hdb_record *r;
  while ((st = hdb_cursor_next(c, &r)) == HDB_OK && k < 64) out[k++] = hdb_record_clone(r);
  if (st != HDB_DONE) {
    print_error("aggregate cursor -> %s: %s\n", hdb_status_name(st), hdb_cursor_errmsg(c));
    hdb_cursor_close(c);
    _fail(file, line);
  }
  hdb_cursor_close(c);
  *count = k;
  return out;
}
#define RUN_AGG(db, a, n, g, f, cnt) run_agg((db), (a), (n), (g), (f), (cnt), __FILE__, __LINE__)

static void free_agg(hdb_record **r, size_t n) {
  conf_free_recs(r, n);
  free(r);
}

static int require_aggregate(hdb *db) {
  if (conf_has(HDB_CAP_AGGREGATE)) return 1;
  CREATE_TABLE(db, "cf_agg", "{\"x\":\"int\"}");
  const hdb_agg a = {HDB_AGG_COUNT, NULL};
  hdb_cursor *c = NULL;
  EXPECT(db, HDB_NOT_SUPPORTED, hdb_aggregate(db, "cf_agg", &a, 1, NULL, NULL, &c));
  assert_null(c);
  printf("      (aggregates: HDB_CAP_AGGREGATE is off; checked NOT_SUPPORTED)\n");
  return 0;
}

static const hdb_agg six[] = {
    {HDB_AGG_COUNT, NULL}, {HDB_AGG_COUNT, "x"}, {HDB_AGG_SUM, "x"},
    {HDB_AGG_AVG, "y"},    {HDB_AGG_MIN, "t"},   {HDB_AGG_MAX, "ts"},
};

static void test_aggregate_single_group(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_aggregate(db)) skip();
  load_agg(db);
  size_t n;
  hdb_record **r = RUN_AGG(db, six, 6, NULL, NULL, &n);
  assert_int_equal(n, 1);
  assert_string_equal(hdb_record_id(r[0]), "");
  FIELD_INT(r[0], "count", 7);
  FIELD_INT(r[0], "count_x", 5);
  FIELD_INT(r[0], "sum_x", 17);
  FIELD_FLOAT(r[0], "avg_y", 1.45);
  FIELD_TEXT(r[0], "min_t", "b");
  FIELD_TS(r[0], "max_ts", 1000);
  free_agg(r, n);

  const hdb_agg more[] = {{HDB_AGG_MIN, "x"}, {HDB_AGG_MAX, "y"}, {HDB_AGG_SUM, "y"},
                          {HDB_AGG_MAX, "t"}, {HDB_AGG_MIN, "ts"}, {HDB_AGG_COUNT, "t"}};
  r = RUN_AGG(db, more, 6, NULL, NULL, &n);
  assert_int_equal(n, 1);
  FIELD_INT(r[0], "min_x", -2);
  FIELD_FLOAT(r[0], "max_y", 4.0);
  FIELD_FLOAT(r[0], "sum_y", 7.25);
  FIELD_TEXT(r[0], "max_t", "z");
  FIELD_TS(r[0], "min_ts", 7);
  FIELD_INT(r[0], "count_t", 5);
  free_agg(r, n);

  /* With a filter. */
  r = RUN_AGG(db, six, 6, NULL, "g = 'a'", &n);
  assert_int_equal(n, 1);
  FIELD_INT(r[0], "count", 3);
  FIELD_INT(r[0], "count_x", 2);
  FIELD_INT(r[0], "sum_x", 4);
  FIELD_FLOAT(r[0], "avg_y", 2.0);
  FIELD_TEXT(r[0], "min_t", "m");
  FIELD_TS(r[0], "max_ts", 300);
  free_agg(r, n);
}

static void test_aggregate_group_by(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_aggregate(db)) skip();
  load_agg(db);
  size_t n;
  hdb_record **r = RUN_AGG(db, six, 6, "g", NULL, &n);
  assert_int_equal(n, 4);
  /* null first, then by bytes: "B" < "a" < "b". */
  FIELD_NULL(r[0], "g");
  FIELD_INT(r[0], "count", 2);
  FIELD_INT(r[0], "count_x", 1);
  FIELD_INT(r[0], "sum_x", 5);
  FIELD_FLOAT(r[0], "avg_y", 0.25);
  FIELD_TEXT(r[0], "min_t", "q");
  FIELD_TS(r[0], "max_ts", 1000);

  FIELD_TEXT(r[1], "g", "B");
  assert_string_equal(hdb_record_id(r[1]), "B");
  FIELD_INT(r[1], "count", 1);
  FIELD_INT(r[1], "sum_x", -2);
  FIELD_FLOAT(r[1], "avg_y", 4.0);
  FIELD_TEXT(r[1], "min_t", "k");
  FIELD_TS(r[1], "max_ts", 7);

  FIELD_TEXT(r[2], "g", "a");
  assert_string_equal(hdb_record_id(r[2]), "a");
  FIELD_INT(r[2], "count", 3);
  FIELD_INT(r[2], "count_x", 2);
  FIELD_INT(r[2], "sum_x", 4);
  FIELD_FLOAT(r[2], "avg_y", 2.0);
  FIELD_TEXT(r[2], "min_t", "m");
  FIELD_TS(r[2], "max_ts", 300);

  FIELD_TEXT(r[3], "g", "b");
  assert_string_equal(hdb_record_id(r[3]), "b");
  FIELD_INT(r[3], "count", 1);
  FIELD_INT(r[3], "sum_x", 10);
  FIELD_FLOAT(r[3], "avg_y", -1.0);
  FIELD_TEXT(r[3], "min_t", "b");
  FIELD_TS(r[3], "max_ts", 50);
  free_agg(r, n);

  /* Group by with a filter: groups without rows disappear. */
  const hdb_agg two[] = {{HDB_AGG_COUNT, NULL}, {HDB_AGG_SUM, "x"}};
  r = RUN_AGG(db, two, 2, "g", "x > 0", &n);
  assert_int_equal(n, 3);
  FIELD_NULL(r[0], "g");
  FIELD_INT(r[0], "count", 1);
  FIELD_INT(r[0], "sum_x", 5);
  FIELD_TEXT(r[1], "g", "a");
  FIELD_INT(r[1], "count", 2);
  FIELD_INT(r[1], "sum_x", 4);
  FIELD_TEXT(r[2], "g", "b");
  FIELD_INT(r[2], "sum_x", 10);
  free_agg(r, n);

  /* Aggregates over no values: null, and count 0. */
  const hdb_agg nulls[] = {{HDB_AGG_COUNT, NULL}, {HDB_AGG_COUNT, "x"}, {HDB_AGG_SUM, "x"},
                           {HDB_AGG_MIN, "x"},    {HDB_AGG_AVG, "y"}};
  r = RUN_AGG(db, nulls, 5, "g", "x IS NULL", &n);
  assert_int_equal(n, 2);
  FIELD_NULL(r[0], "g"); /* n2 */
  FIELD_INT(r[0], "count", 1);
  FIELD_INT(r[0], "count_x", 0);
  FIELD_NULL(r[0], "sum_x");
  FIELD_NULL(r[0], "min_x");
  FIELD_NULL(r[0], "avg_y");
  FIELD_TEXT(r[1], "g", "a"); /* a3 */
  FIELD_INT(r[1], "count_x", 0);
  FIELD_NULL(r[1], "sum_x");
  FIELD_FLOAT(r[1], "avg_y", 2.5);
  free_agg(r, n);
}

static void test_aggregate_group_by_int(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_aggregate(db)) skip();
  load_agg(db);
  const hdb_agg one[] = {{HDB_AGG_COUNT, NULL}, {HDB_AGG_MAX, "y"}};
  size_t n;
  hdb_record **r = RUN_AGG(db, one, 2, "x", NULL, &n);
  assert_int_equal(n, 6);
  FIELD_NULL(r[0], "x");
  FIELD_INT(r[0], "count", 2); /* a3, n2 */
  FIELD_FLOAT(r[0], "max_y", 2.5);
  const int64_t xs[] = {-2, 1, 3, 5, 10};
  const char *ids[] = {"-2", "1", "3", "5", "10"};
  for (size_t i = 0; i < 5; i++) {
    FIELD_INT(r[i + 1], "x", xs[i]);
    assert_string_equal(hdb_record_id(r[i + 1]), ids[i]);
    FIELD_INT(r[i + 1], "count", 1);
  }
  FIELD_NULL(r[3], "max_y"); /* x = 3 is a2, which has no y */
  free_agg(r, n);
}

static void test_aggregate_empty_input(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_aggregate(db)) skip();
  load_agg(db);
  size_t n;
  hdb_record **r = RUN_AGG(db, six, 6, NULL, "x > 1000", &n);
  assert_int_equal(n, 1);
  assert_string_equal(hdb_record_id(r[0]), "");
  FIELD_INT(r[0], "count", 0);
  FIELD_INT(r[0], "count_x", 0);
  FIELD_NULL(r[0], "sum_x");
  FIELD_NULL(r[0], "avg_y");
  FIELD_NULL(r[0], "min_t");
  FIELD_NULL(r[0], "max_ts");
  free_agg(r, n);
  r = RUN_AGG(db, six, 6, "g", "x > 1000", &n);
  assert_int_equal(n, 0);
  free_agg(r, n);

  /* An empty table. */
  CREATE_TABLE(db, "cf_agg_empty", "{\"x\":\"int\"}");
  const hdb_agg a[] = {{HDB_AGG_COUNT, NULL}, {HDB_AGG_SUM, "x"}};
  hdb_cursor *c = NULL;
  CHECK(db, hdb_aggregate(db, "cf_agg_empty", a, 2, NULL, NULL, &c));
  const hdb_record *rec;
  assert_int_equal(hdb_cursor_next(c, &rec), HDB_OK);
  FIELD_INT(rec, "count", 0);
  FIELD_NULL(rec, "sum_x");
  assert_int_equal(hdb_cursor_next(c, &rec), HDB_DONE);
  hdb_cursor_close(c);
}

static void test_aggregate_errors(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_aggregate(db)) skip();
  load_agg(db);
  hdb_cursor *c = NULL;
  const hdb_agg unknown[] = {{HDB_AGG_SUM, "nosuch"}};
  EXPECT(db, HDB_NO_FIELD, hdb_aggregate(db, "cf_agg", unknown, 1, NULL, NULL, &c));
  EXPECT_MSG(db, "nosuch");
  const hdb_agg count[] = {{HDB_AGG_COUNT, NULL}};
  EXPECT(db, HDB_NO_FIELD, hdb_aggregate(db, "cf_agg", count, 1, "nogroup", NULL, &c));
  EXPECT_MSG(db, "nogroup");
  const hdb_agg sum_text[] = {{HDB_AGG_SUM, "t"}};
  EXPECT(db, HDB_TYPE_MISMATCH, hdb_aggregate(db, "cf_agg", sum_text, 1, NULL, NULL, &c));
  const hdb_agg avg_json[] = {{HDB_AGG_AVG, "j"}};
  EXPECT(db, HDB_TYPE_MISMATCH, hdb_aggregate(db, "cf_agg", avg_json, 1, NULL, NULL, &c));
  EXPECT(db, HDB_BAD_FILTER, hdb_aggregate(db, "cf_agg", count, 1, NULL, "x >", &c));
  EXPECT(db, HDB_NO_TABLE, hdb_aggregate(db, "cf_agg_missing", count, 1, NULL, NULL, &c));
  EXPECT_MSG(db, "cf_agg_missing");
  assert_null(c);
}

int conf_run_aggregate(void) {
  static const struct CMUnitTest tests[] = {
      CONF_T(test_aggregate_single_group), CONF_T(test_aggregate_group_by),
      CONF_T(test_aggregate_group_by_int), CONF_T(test_aggregate_empty_input),
      CONF_T(test_aggregate_errors),
  };
  return CONF_RUN_GROUP("aggregate", tests);
}
