/*
 * test_aggregate.c - core/aggregate.c, the one implementation of
 * hdb_aggregate's rules: value rules per op, null skipping, int sums and
 * their float fallback on overflow, avg, min/max by hdb__value_order,
 * type checks and their messages, group ids, result names, group records,
 * and hdb__agg_records' grouping (null group first, one group without
 * group_by even over no rows), plus every allocation failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/aggregate.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/record.h"
#include "core/value.h"
#include "hanzodb.h"

static hdb_value vint(int64_t i) { return (hdb_value){.type = HDB_TYPE_INT, .as.i = i}; }
static hdb_value vflt(double f) { return (hdb_value){.type = HDB_TYPE_FLOAT, .as.f = f}; }
static hdb_value vbool(int b) { return (hdb_value){.type = HDB_TYPE_BOOL, .as.boolean = b}; }
static hdb_value vts(int64_t us) { return (hdb_value){.type = HDB_TYPE_TIMESTAMP, .as.timestamp_us = us}; }
static hdb_value vtext(const char *s) {
  return (hdb_value){.type = HDB_TYPE_TEXT, .as.text = {s, strlen(s)}};
}
static hdb_value vjson(const char *s) {
  return (hdb_value){.type = HDB_TYPE_JSON, .as.text = {s, strlen(s)}};
}
static const hdb_value vnull = {.type = HDB_TYPE_NULL};

/* Folds vals[0..n) with op and returns the result (owned). */
static hdb_value fold_all(hdb_agg_op op, const hdb_value *vals, size_t n) {
  hdb__agg_acc ac = {0};
  hdb_error err = {0};
  for (size_t i = 0; i < n; i++)
    assert_int_equal(hdb__agg_fold(&ac, op, &vals[i], "t", "r", "f", &err), HDB_OK);
  hdb_value out;
  assert_int_equal(hdb__agg_result(&ac, op, &out), HDB_OK);
  return out;
}

static void test_accepts(void **state) {
  (void)state;
  hdb_type all[] = {HDB_TYPE_BOOL, HDB_TYPE_INT, HDB_TYPE_FLOAT, HDB_TYPE_TIMESTAMP};
  for (int op = HDB_AGG_COUNT; op <= HDB_AGG_MAX; op++) {
    for (size_t i = 0; i < 4; i++) assert_true(hdb__agg_accepts((hdb_agg_op)op, all[i]));
    assert_false(hdb__agg_accepts((hdb_agg_op)op, HDB_TYPE_BLOB));
    assert_false(hdb__agg_accepts((hdb_agg_op)op, HDB_TYPE_VECTOR));
    assert_false(hdb__agg_accepts((hdb_agg_op)op, HDB_TYPE_JSON));
  }
  assert_true(hdb__agg_accepts(HDB_AGG_COUNT, HDB_TYPE_TEXT));
  assert_true(hdb__agg_accepts(HDB_AGG_MIN, HDB_TYPE_TEXT));
  assert_true(hdb__agg_accepts(HDB_AGG_MAX, HDB_TYPE_TEXT));
  assert_false(hdb__agg_accepts(HDB_AGG_SUM, HDB_TYPE_TEXT));
  assert_false(hdb__agg_accepts(HDB_AGG_AVG, HDB_TYPE_TEXT));
}

static void test_count_skips_nulls(void **state) {
  (void)state;
  hdb_value vals[] = {vint(1), vnull, vtext("x"), vnull, vflt(2)};
  hdb_value r = fold_all(HDB_AGG_COUNT, vals, 5);
  assert_int_equal(r.type, HDB_TYPE_INT);
  assert_int_equal(r.as.i, 3);
  /* NULL value pointer (absent field) is skipped too */
  hdb__agg_acc ac = {0};
  assert_int_equal(hdb__agg_fold(&ac, HDB_AGG_COUNT, NULL, "t", "r", "f", NULL), HDB_OK);
  assert_int_equal(ac.n, 0);
  /* empty: count 0, not null */
  r = fold_all(HDB_AGG_COUNT, NULL, 0);
  assert_int_equal(r.type, HDB_TYPE_INT);
  assert_int_equal(r.as.i, 0);
}

static void test_sum_rules(void **state) {
  (void)state;
  /* bools, ints, timestamps: an int */
  hdb_value ints[] = {vbool(1), vbool(0), vint(40), vts(2), vnull};
  hdb_value r = fold_all(HDB_AGG_SUM, ints, 5);
  assert_int_equal(r.type, HDB_TYPE_INT);
  assert_int_equal(r.as.i, 43);
  /* any float: a float */
  hdb_value mixed[] = {vint(1), vflt(0.5)};
  r = fold_all(HDB_AGG_SUM, mixed, 2);
  assert_int_equal(r.type, HDB_TYPE_FLOAT);
  assert_true(r.as.f == 1.5);
  /* no values: null */
  hdb_value nulls[] = {vnull, vnull};
  r = fold_all(HDB_AGG_SUM, nulls, 2);
  assert_int_equal(r.type, HDB_TYPE_NULL);
  r = fold_all(HDB_AGG_AVG, NULL, 0);
  assert_int_equal(r.type, HDB_TYPE_NULL);
}

static void test_sum_overflow(void **state) {
  (void)state;
  hdb_value big[] = {vint(INT64_MAX), vint(1)};
  hdb_value r = fold_all(HDB_AGG_SUM, big, 2);
  assert_int_equal(r.type, HDB_TYPE_FLOAT);
  assert_true(r.as.f == (double)INT64_MAX + 1.0);
  hdb_value neg[] = {vint(INT64_MIN), vint(-1), vint(5)};
  r = fold_all(HDB_AGG_SUM, neg, 3);
  assert_int_equal(r.type, HDB_TYPE_FLOAT);
  assert_true(r.as.f == (double)INT64_MIN + 4.0);
  /* exactly INT64_MAX stays an int */
  hdb_value edge[] = {vint(INT64_MAX - 1), vint(1)};
  r = fold_all(HDB_AGG_SUM, edge, 2);
  assert_int_equal(r.type, HDB_TYPE_INT);
  assert_int_equal(r.as.i, INT64_MAX);
  /* avg after overflow divides the float sum */
  r = fold_all(HDB_AGG_AVG, big, 2);
  assert_int_equal(r.type, HDB_TYPE_FLOAT);
  assert_true(r.as.f == ((double)INT64_MAX + 1.0) / 2.0);
}

static void test_avg(void **state) {
  (void)state;
  hdb_value ints[] = {vint(1), vint(2), vnull, vbool(1)};
  hdb_value r = fold_all(HDB_AGG_AVG, ints, 4);
  assert_int_equal(r.type, HDB_TYPE_FLOAT);
  assert_true(r.as.f == 4.0 / 3.0);
  /* an exact int sum is divided: 2^53 + 1 is not a double, the sum is */
  hdb_value exact[] = {vint(((int64_t)1 << 53) + 1), vint(((int64_t)1 << 53) + 1)};
  r = fold_all(HDB_AGG_AVG, exact, 2);
  assert_true(r.as.f == (double)(((int64_t)1 << 54) + 2) / 2.0);
  hdb_value fl[] = {vflt(1.0), vint(2)};
  r = fold_all(HDB_AGG_AVG, fl, 2);
  assert_true(r.as.f == 1.5);
}

static void test_min_max(void **state) {
  (void)state;
  hdb_value nums[] = {vint(3), vnull, vflt(-1.5), vint(10)};
  hdb_value r = fold_all(HDB_AGG_MIN, nums, 4);
  assert_int_equal(r.type, HDB_TYPE_FLOAT); /* keeps the value's type */
  assert_true(r.as.f == -1.5);
  r = fold_all(HDB_AGG_MAX, nums, 4);
  assert_int_equal(r.type, HDB_TYPE_INT);
  assert_int_equal(r.as.i, 10);
  hdb_value texts[] = {vtext("pear"), vtext("apple"), vtext("zoo")};
  r = fold_all(HDB_AGG_MIN, texts, 3);
  assert_int_equal(r.type, HDB_TYPE_TEXT);
  assert_string_equal(r.as.text.data, "apple");
  hdb__value_release(&r);
  r = fold_all(HDB_AGG_MAX, texts, 3);
  assert_string_equal(r.as.text.data, "zoo");
  hdb__value_release(&r);
  /* ties keep the first value met: int 2 before float 2.0 */
  hdb_value ties[] = {vint(2), vflt(2.0)};
  r = fold_all(HDB_AGG_MIN, ties, 2);
  assert_int_equal(r.type, HDB_TYPE_INT);
  r = fold_all(HDB_AGG_MAX, ties, 2);
  assert_int_equal(r.type, HDB_TYPE_INT);
  hdb_value tss[] = {vts(5), vts(-5)};
  r = fold_all(HDB_AGG_MIN, tss, 2);
  assert_int_equal(r.type, HDB_TYPE_TIMESTAMP);
  assert_int_equal(r.as.timestamp_us, -5);
  r = fold_all(HDB_AGG_MAX, NULL, 0);
  assert_int_equal(r.type, HDB_TYPE_NULL);
}

static void test_fold_type_errors(void **state) {
  (void)state;
  hdb_error err = {0};
  hdb__agg_acc ac = {0};
  hdb_value t = vtext("x");
  assert_int_equal(hdb__agg_fold(&ac, HDB_AGG_SUM, &t, "tab", "row1", "name", &err),
                   HDB_TYPE_MISMATCH);
  assert_string_equal(err.message, "table 'tab': row 'row1': cannot sum field 'name' of type text");
  hdb_value j = vjson("{}");
  assert_int_equal(hdb__agg_fold(&ac, HDB_AGG_MAX, &j, "tab", "r2", "meta", &err),
                   HDB_TYPE_MISMATCH);
  assert_string_equal(err.message, "table 'tab': row 'r2': cannot max field 'meta' of type json");
  assert_int_equal(ac.n, 0);
}

static void test_group_id(void **state) {
  (void)state;
  struct {
    hdb_value v;
    const char *want;
  } cases[] = {
      {vnull, "null"},          {vbool(1), "true"},     {vbool(0), "false"},
      {vint(-42), "-42"},       {vflt(0.1), "0.1"},     {vflt(1.0 / 3), "0.3333333333333333"},
      {vflt(2.5), "2.5"},       {vtext("abc"), "abc"},  {vjson("[1]"), "[1]"},
      {vts(0), "1970-01-01T00:00:00.000000Z"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *id = hdb__agg_group_id(&cases[i].v);
    assert_non_null(id);
    assert_string_equal(id, cases[i].want);
    hdb__free_mem(id);
  }
  char *id = hdb__agg_group_id(NULL);
  assert_string_equal(id, "");
  hdb__free_mem(id);
}

static void test_result_name(void **state) {
  (void)state;
  char name[HDB__AGG_NAME_CAP];
  hdb_agg a = {HDB_AGG_COUNT, NULL};
  hdb__agg_result_name(&a, name);
  assert_string_equal(name, "count");
  a = (hdb_agg){HDB_AGG_COUNT, "year"};
  hdb__agg_result_name(&a, name);
  assert_string_equal(name, "count_year");
  a = (hdb_agg){HDB_AGG_AVG, "price"};
  hdb__agg_result_name(&a, name);
  assert_string_equal(name, "avg_price");
  char longname[HDB_MAX_NAME_LEN + 1];
  memset(longname, 'x', HDB_MAX_NAME_LEN);
  longname[HDB_MAX_NAME_LEN] = 0;
  a = (hdb_agg){HDB_AGG_MAX, longname};
  hdb__agg_result_name(&a, name);
  assert_int_equal(strlen(name), 4 + HDB_MAX_NAME_LEN);
}

/* ------------------------------------------------------------------ */
/* Checks                                                              */
/* ------------------------------------------------------------------ */

static int field_checks;

/* A backend's field check: "bad" does not exist, everything else does. */
static hdb_status fake_check(const void *ctx, const char *field, const char *what,
                             hdb_error *err) {
  field_checks++;
  if (strcmp(field, "bad") == 0)
    return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (%s)", (const char *)ctx,
                     field, what);
  return HDB_OK;
}

static hdb_schema *make_schema(void) {
  hdb_schema *s = hdb_schema_new();
  assert_non_null(s);
  assert_int_equal(hdb_schema_add(s, "n", HDB_TYPE_INT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "name", HDB_TYPE_TEXT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "meta", HDB_TYPE_JSON), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "raw", HDB_TYPE_BLOB), HDB_OK);
  assert_int_equal(hdb_schema_add_vector(s, "emb", 2, HDB_METRIC_L2), HDB_OK);
  return s;
}

static void test_check(void **state) {
  (void)state;
  hdb_schema *s = make_schema();
  hdb_error err = {0};
  const hdb_agg ok[] = {{HDB_AGG_COUNT, NULL}, {HDB_AGG_SUM, "n"}, {HDB_AGG_MIN, "name"}};
  assert_int_equal(hdb__agg_check("t", s, ok, 3, "name", fake_check, "t", &err), HDB_OK);
  assert_int_equal(hdb__agg_check("t", s, ok, 3, "meta", fake_check, "t", &err), HDB_OK);
  assert_int_equal(hdb__agg_check("t", NULL, ok, 3, "anything", fake_check, "t", &err), HDB_OK);

  struct {
    hdb_agg a;
    const char *group_by;
    hdb_status want;
    const char *msg;
  } bad[] = {
      {{(hdb_agg_op)9, "n"}, NULL, HDB_INVALID_ARGUMENT, "table 't': aggregate 0 has unknown op 9"},
      {{HDB_AGG_SUM, NULL}, NULL, HDB_INVALID_ARGUMENT, "table 't': aggregate 0 (sum) needs a field"},
      {{HDB_AGG_SUM, "bad"}, NULL, HDB_NO_FIELD, "table 't' has no column 'bad' (aggregate 0 (sum))"},
      {{HDB_AGG_AVG, "name"}, NULL, HDB_TYPE_MISMATCH, "table 't': cannot avg column 'name' of type text"},
      {{HDB_AGG_MAX, "meta"}, NULL, HDB_TYPE_MISMATCH, "table 't': cannot max column 'meta' of type json"},
      {{HDB_AGG_COUNT, "emb"}, NULL, HDB_TYPE_MISMATCH, "table 't': cannot count column 'emb' of type vector"},
      {{HDB_AGG_COUNT, "id"}, NULL, HDB_NO_FIELD, "table 't' has no column 'id' (aggregate 0 (count))"},
      {{HDB_AGG_COUNT, NULL}, "bad", HDB_NO_FIELD, "table 't' has no column 'bad' (group_by)"},
      {{HDB_AGG_COUNT, NULL}, "nope", HDB_NO_FIELD, "table 't' has no column 'nope' (group_by)"},
      {{HDB_AGG_COUNT, NULL}, "raw", HDB_TYPE_MISMATCH, "table 't': cannot group by blob column 'raw'"},
      {{HDB_AGG_COUNT, NULL}, "emb", HDB_TYPE_MISMATCH, "table 't': cannot group by vector column 'emb'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(hdb__agg_check("t", s, &bad[i].a, 1, bad[i].group_by, fake_check, "t", &err),
                     bad[i].want);
    assert_string_equal(err.message, bad[i].msg);
  }
  /* schemaless: no type checks, but the backend's field check still runs */
  const hdb_agg txt = {HDB_AGG_SUM, "name"};
  assert_int_equal(hdb__agg_check("t", NULL, &txt, 1, "raw", fake_check, "t", &err), HDB_OK);
  field_checks = 0;
  const hdb_agg b = {HDB_AGG_SUM, "bad"};
  assert_int_equal(hdb__agg_check("t", NULL, &b, 1, NULL, fake_check, "t", &err), HDB_NO_FIELD);
  assert_int_equal(field_checks, 1);
  hdb_schema_free(s);
}

/* ------------------------------------------------------------------ */
/* Group records and whole arrays                                      */
/* ------------------------------------------------------------------ */

static void test_group_record(void **state) {
  (void)state;
  hdb_record *r;
  hdb_value g = vtext("red");
  assert_int_equal(hdb__agg_group_record_new("color", &g, &r), HDB_OK);
  assert_string_equal(hdb_record_id(r), "red");
  const hdb_value *v = hdb__record_value(r, "color");
  assert_non_null(v);
  assert_string_equal(v->as.text.data, "red");
  hdb__agg_acc accs[2] = {{0}};
  hdb_value x = vint(7);
  const hdb_agg aggs[] = {{HDB_AGG_COUNT, NULL}, {HDB_AGG_SUM, "x"}};
  accs[0].n = 3;
  assert_int_equal(hdb__agg_fold(&accs[1], HDB_AGG_SUM, &x, "t", "r", "x", NULL), HDB_OK);
  assert_int_equal(hdb__agg_group_record_put(r, aggs, 2, accs), HDB_OK);
  const char *name;
  hdb_value fv;
  assert_int_equal(hdb_record_field_count(r), 3);
  assert_int_equal(hdb_record_field(r, 0, &name, &fv), HDB_OK);
  assert_string_equal(name, "color");
  assert_int_equal(hdb_record_field(r, 1, &name, &fv), HDB_OK);
  assert_string_equal(name, "count");
  assert_int_equal(fv.as.i, 3);
  assert_int_equal(hdb_record_field(r, 2, &name, &fv), HDB_OK);
  assert_string_equal(name, "sum_x");
  assert_int_equal(fv.as.i, 7);
  hdb_record_free(r);
  /* the single group: id "", no group field */
  assert_int_equal(hdb__agg_group_record_new(NULL, NULL, &r), HDB_OK);
  assert_string_equal(hdb_record_id(r), "");
  assert_int_equal(hdb_record_field_count(r), 0);
  hdb_record_free(r);
}

/* Rows: id, optional group field "g", value field "x". */
static hdb_record *row(const char *id, const hdb_value *g, const hdb_value *x) {
  hdb_record *r = hdb_record_new(id);
  assert_non_null(r);
  hdb_value v;
  if (g) {
    assert_int_equal(hdb__value_copy(&v, g), HDB_OK);
    assert_int_equal(hdb__record_put_owned(r, "g", &v), HDB_OK);
  }
  if (x) {
    assert_int_equal(hdb__value_copy(&v, x), HDB_OK);
    assert_int_equal(hdb__record_put_owned(r, "x", &v), HDB_OK);
  }
  return r;
}

static void free_rows(hdb_record **rows, size_t n) {
  for (size_t i = 0; i < n; i++) hdb_record_free(rows[i]);
}

static void test_records_grouping(void **state) {
  (void)state;
  hdb_value gb = vtext("b"), ga = vtext("a"), g1 = vint(1), gn = vnull;
  hdb_value x1 = vint(1), x2 = vint(2), x5 = vflt(5.0);
  hdb_record *rows[] = {
      row("r1", &gb, &x1), row("r2", NULL, &x2), /* absent group = null group */
      row("r3", &ga, &x5), row("r4", &gb, &x2), row("r5", &gn, NULL), row("r6", &g1, &x1),
  };
  const size_t n = sizeof rows / sizeof *rows;
  const hdb_agg aggs[] = {{HDB_AGG_COUNT, NULL}, {HDB_AGG_SUM, "x"}, {HDB_AGG_COUNT, "x"}};
  hdb__rowbuf buf = {0};
  hdb_error err = {0};
  assert_int_equal(hdb__agg_records("t", aggs, 3, "g", (const hdb_record *const *)rows, n, &buf, &err),
                   HDB_OK);
  /* null < numbers < text */
  const char *ids[] = {"null", "1", "a", "b"};
  const int64_t counts[] = {2, 1, 1, 2}, count_x[] = {1, 1, 1, 2};
  assert_int_equal(buf.n, 4);
  for (size_t i = 0; i < 4; i++) {
    assert_string_equal(hdb_record_id(buf.rows[i]), ids[i]);
    assert_int_equal(hdb__record_value(buf.rows[i], "count")->as.i, counts[i]);
    assert_int_equal(hdb__record_value(buf.rows[i], "count_x")->as.i, count_x[i]);
    assert_true(isnan(buf.dist[i]));
  }
  assert_int_equal(hdb__record_value(buf.rows[0], "g")->type, HDB_TYPE_NULL);
  assert_int_equal(hdb__record_value(buf.rows[0], "sum_x")->as.i, 2);
  assert_int_equal(hdb__record_value(buf.rows[2], "sum_x")->type, HDB_TYPE_FLOAT);
  assert_int_equal(hdb__record_value(buf.rows[3], "sum_x")->as.i, 3);
  hdb__rowbuf_free(&buf);

  /* without group_by: one group over everything */
  assert_int_equal(hdb__agg_records("t", aggs, 3, NULL, (const hdb_record *const *)rows, n, &buf, &err),
                   HDB_OK);
  assert_int_equal(buf.n, 1);
  assert_string_equal(hdb_record_id(buf.rows[0]), "");
  assert_int_equal(hdb_record_field_count(buf.rows[0]), 3);
  assert_int_equal(hdb__record_value(buf.rows[0], "count")->as.i, 6);
  assert_int_equal(hdb__record_value(buf.rows[0], "sum_x")->type, HDB_TYPE_FLOAT);
  assert_true(hdb__record_value(buf.rows[0], "sum_x")->as.f == 11.0);
  hdb__rowbuf_free(&buf);
  free_rows(rows, n);
}

static void test_records_empty(void **state) {
  (void)state;
  const hdb_agg aggs[] = {{HDB_AGG_COUNT, NULL}, {HDB_AGG_AVG, "x"}, {HDB_AGG_MIN, "x"}};
  hdb__rowbuf buf = {0};
  hdb_error err = {0};
  /* no group_by: one group even over no rows */
  assert_int_equal(hdb__agg_records("t", aggs, 3, NULL, NULL, 0, &buf, &err), HDB_OK);
  assert_int_equal(buf.n, 1);
  assert_int_equal(hdb__record_value(buf.rows[0], "count")->as.i, 0);
  assert_int_equal(hdb__record_value(buf.rows[0], "avg_x")->type, HDB_TYPE_NULL);
  assert_int_equal(hdb__record_value(buf.rows[0], "min_x")->type, HDB_TYPE_NULL);
  hdb__rowbuf_free(&buf);
  /* with group_by: no groups */
  assert_int_equal(hdb__agg_records("t", aggs, 3, "g", NULL, 0, &buf, &err), HDB_OK);
  assert_int_equal(buf.n, 0);
  hdb__rowbuf_free(&buf);
}

static void test_records_errors(void **state) {
  (void)state;
  hdb_value txt = vtext("word");
  hdb_value x1 = vint(1);
  hdb_record *rows[] = {row("r1", NULL, &x1), row("r2", NULL, &txt)};
  const hdb_agg sum = {HDB_AGG_SUM, "x"};
  hdb__rowbuf buf = {0};
  hdb_error err = {0};
  assert_int_equal(hdb__agg_records("t", &sum, 1, NULL, (const hdb_record *const *)rows, 2, &buf, &err),
                   HDB_TYPE_MISMATCH);
  assert_string_equal(err.message, "table 't': row 'r2': cannot sum field 'x' of type text");
  assert_int_equal(buf.n, 0);
  hdb__rowbuf_free(&buf);
  free_rows(rows, 2);

  /* a blob group value, met on a row, is refused naming the row */
  hdb_value blob = {.type = HDB_TYPE_BLOB, .as.blob = {"ab", 2}};
  hdb_record *brows[] = {row("ok", &x1, NULL), row("b1", &blob, NULL)};
  const hdb_agg cnt = {HDB_AGG_COUNT, NULL};
  assert_int_equal(hdb__agg_records("t", &cnt, 1, "g", (const hdb_record *const *)brows, 2, &buf, &err),
                   HDB_TYPE_MISMATCH);
  assert_string_equal(err.message, "table 't': row 'b1': cannot group by blob field 'g'");
  hdb__rowbuf_free(&buf);
  free_rows(brows, 2);
}

static void test_records_nomem(void **state) {
  (void)state;
  hdb_value ga = vtext("a"), gb = vtext("b"), x = vtext("m");
  hdb_record *rows[] = {row("r1", &ga, &x), row("r2", &gb, &x), row("r3", NULL, &x)};
  const hdb_agg aggs[] = {{HDB_AGG_COUNT, NULL}, {HDB_AGG_MIN, "x"}, {HDB_AGG_MAX, "x"}};
  for (long n = 0;; n++) {
    hdb__rowbuf buf = {0};
    hdb_error err = {0};
    hdb__alloc_fail_after(n);
    hdb_status st = hdb__agg_records("tab", aggs, 3, "g", (const hdb_record *const *)rows, 3, &buf, &err);
    hdb__alloc_fail_after(-1);
    if (st == HDB_OK) {
      assert_int_equal(buf.n, 3);
      hdb__rowbuf_free(&buf);
      assert_true(n > 5);
      break;
    }
    assert_int_equal(st, HDB_NOMEM);
    assert_string_equal(err.message, "out of memory aggregating table 'tab'");
    hdb__rowbuf_free(&buf); /* partial output is the caller's to free */
  }
  /* the building blocks answer NOMEM without a message, leaking nothing */
  for (long n = 0;; n++) {
    hdb_record *r = NULL;
    hdb__agg_acc acc = {0};
    hdb_value v = vtext("long enough text");
    assert_int_equal(hdb__agg_fold(&acc, HDB_AGG_MAX, &v, "t", "r", "x", NULL), HDB_OK);
    hdb__alloc_fail_after(n);
    hdb_status st = hdb__agg_group_record_new("g", &ga, &r);
    if (st == HDB_OK) st = hdb__agg_group_record_put(r, &aggs[2], 1, &acc);
    hdb__alloc_fail_after(-1);
    hdb_record_free(r);
    if (st == HDB_OK) break;
    assert_int_equal(st, HDB_NOMEM);
  }
  for (long n = 0;; n++) {
    hdb__alloc_fail_after(n);
    char *id = hdb__agg_group_id(&ga);
    hdb__alloc_fail_after(-1);
    if (id) {
      hdb__free_mem(id);
      break;
    }
  }
  free_rows(rows, 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accepts),          cmocka_unit_test(test_count_skips_nulls),
      cmocka_unit_test(test_sum_rules),        cmocka_unit_test(test_sum_overflow),
      cmocka_unit_test(test_avg),              cmocka_unit_test(test_min_max),
      cmocka_unit_test(test_fold_type_errors), cmocka_unit_test(test_group_id),
      cmocka_unit_test(test_result_name),      cmocka_unit_test(test_check),
      cmocka_unit_test(test_group_record),     cmocka_unit_test(test_records_grouping),
      cmocka_unit_test(test_records_empty),    cmocka_unit_test(test_records_errors),
      cmocka_unit_test(test_records_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
