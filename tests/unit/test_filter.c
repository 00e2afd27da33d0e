/*
 * test_filter.c - the filter language: both syntaxes, their equivalence on
 * a fixed set of records, SQL null semantics, json paths, LIKE, error
 * messages and positions, nesting limits, schema binding, and failing
 * allocations on every parse and evaluation path.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hanzodb.h"
#include "core/alloc.h"
#include "core/filter.h"
#include "core/record.h"
#include "core/value.h"

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

#define N_RECS 6
static hdb_record *recs[N_RECS];

static int64_t ts_of(const char *s) {
  int64_t us = 0;
  assert_int_equal(hdb__timestamp_parse(s, strlen(s), &us), 0);
  return us;
}

/*
 *      type    year    tag   archived score meta                                    name
 *  a   test    2021    x     false    1.5   {"lang":"en","n":5,"deep":{"k":"v"},..}  alpha
 *  b   test    2019    a     false    2.0   {"lang":"en","n":null}                   beta
 *  c   prod    2022    b     true     -1    {"lang":"fr"}                            100%_done
 *  d   test    null    b     -        -     {"lang":"en","n":7.5}                    café
 *  e   -       2020    null  false    -     {"la\"ng":"q","lang":"café","n":"5"}     x_y
 *  f   test    2020.5  a     false    -     [1,2]                                    a\b
 */
static int setup_records(void **state) {
  (void)state;
  const char *ids[N_RECS] = {"a", "b", "c", "d", "e", "f"};
  for (int i = 0; i < N_RECS; i++) {
    recs[i] = hdb_record_new(ids[i]);
    assert_non_null(recs[i]);
  }
  hdb_record *r = recs[0];
  assert_int_equal(hdb_record_set_text(r, "type", "test"), HDB_OK);
  assert_int_equal(hdb_record_set_int(r, "year", 2021), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "tag", "x"), HDB_OK);
  assert_int_equal(hdb_record_set_bool(r, "archived", 0), HDB_OK);
  assert_int_equal(hdb_record_set_float(r, "score", 1.5), HDB_OK);
  assert_int_equal(hdb_record_set_json(r, "meta",
                                       "{\"lang\":\"en\",\"n\":5,\"deep\":{\"k\":\"v\"},"
                                       "\"arr\":[1,{\"x\":2}],\"s\":\"a\\nb\"}"),
                   HDB_OK);
  assert_int_equal(hdb_record_set_timestamp(r, "ts", ts_of("2024-01-20T10:00:00Z")), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "name", "alpha"), HDB_OK);

  r = recs[1];
  assert_int_equal(hdb_record_set_text(r, "type", "test"), HDB_OK);
  assert_int_equal(hdb_record_set_int(r, "year", 2019), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "tag", "a"), HDB_OK);
  assert_int_equal(hdb_record_set_bool(r, "archived", 0), HDB_OK);
  assert_int_equal(hdb_record_set_float(r, "score", 2.0), HDB_OK);
  assert_int_equal(hdb_record_set_json(r, "meta", "{\"lang\":\"en\",\"n\":null}"), HDB_OK);
  assert_int_equal(hdb_record_set_timestamp(r, "ts", ts_of("2023-06-01T00:00:00Z")), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "name", "beta"), HDB_OK);

  r = recs[2];
  assert_int_equal(hdb_record_set_text(r, "type", "prod"), HDB_OK);
  assert_int_equal(hdb_record_set_int(r, "year", 2022), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "tag", "b"), HDB_OK);
  assert_int_equal(hdb_record_set_bool(r, "archived", 1), HDB_OK);
  assert_int_equal(hdb_record_set_int(r, "score", -1), HDB_OK);
  assert_int_equal(hdb_record_set_json(r, "meta", "{\"lang\":\"fr\"}"), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "name", "100%_done"), HDB_OK);

  r = recs[3];
  assert_int_equal(hdb_record_set_text(r, "type", "test"), HDB_OK);
  assert_int_equal(hdb_record_set_null(r, "year"), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "tag", "b"), HDB_OK);
  assert_int_equal(hdb_record_set_json(r, "meta", "{\"lang\":\"en\",\"n\":7.5}"), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "name", "caf\xc3\xa9"), HDB_OK);

  r = recs[4];
  assert_int_equal(hdb_record_set_int(r, "year", 2020), HDB_OK);
  assert_int_equal(hdb_record_set_null(r, "tag"), HDB_OK);
  assert_int_equal(hdb_record_set_bool(r, "archived", 0), HDB_OK);
  assert_int_equal(
      hdb_record_set_json(r, "meta", "{\"la\\\"ng\":\"q\",\"lang\":\"caf\\u00e9\",\"n\":\"5\"}"),
      HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "name", "x_y"), HDB_OK);

  r = recs[5];
  assert_int_equal(hdb_record_set_text(r, "type", "test"), HDB_OK);
  assert_int_equal(hdb_record_set_float(r, "year", 2020.5), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "tag", "a"), HDB_OK);
  assert_int_equal(hdb_record_set_bool(r, "archived", 0), HDB_OK);
  assert_int_equal(hdb_record_set_json(r, "meta", "[1,2]"), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "name", "a\\b"), HDB_OK);
  return 0;
}

static int teardown_records(void **state) {
  (void)state;
  for (int i = 0; i < N_RECS; i++) {
    hdb_record_free(recs[i]);
    recs[i] = NULL;
  }
  return 0;
}

/* Bit i set when record i matches. Fails the test when parsing fails. */
static unsigned mask_of(const char *filter) {
  hdb__expr *e = NULL;
  hdb_error err = {0};
  hdb_status st = hdb__filter_parse(filter, &e, &err);
  if (st != HDB_OK) fail_msg("parse failed for %.80s: %s", filter, err.message);
  unsigned m = 0;
  for (int i = 0; i < N_RECS; i++) {
    int matched = -1;
    assert_int_equal(hdb__filter_eval(e, recs[i], &matched, &err), HDB_OK);
    assert_int_equal(matched, hdb__filter_match(e, recs[i]));
    if (matched) m |= 1u << i;
  }
  hdb__expr_free(e);
  return m;
}

#define A (1u << 0)
#define B (1u << 1)
#define C (1u << 2)
#define D (1u << 3)
#define E (1u << 4)
#define F (1u << 5)

static void check_mask(const char *filter, unsigned want) {
  unsigned got = mask_of(filter);
  if (got != want) fail_msg("%s: matched 0x%x, want 0x%x", filter, got, want);
}

/* The canonical text of a filter, which must also parse back to itself. */
static void check_text(const char *filter, const char *want) {
  hdb__expr *e = NULL, *e2 = NULL;
  hdb_error err = {0};
  if (hdb__filter_parse(filter, &e, &err) != HDB_OK) fail_msg("%s: %s", filter, err.message);
  char *t = hdb__expr_to_text(e);
  assert_non_null(t);
  if (strcmp(t, want) != 0) fail_msg("%s\n  gave %s\n  want %s", filter, t, want);
  if (hdb__filter_parse(t, &e2, &err) != HDB_OK) fail_msg("reparse %s: %s", t, err.message);
  char *t2 = hdb__expr_to_text(e2);
  assert_non_null(t2);
  assert_string_equal(t, t2);
  hdb__free_mem(t);
  hdb__free_mem(t2);
  hdb__expr_free(e);
  hdb__expr_free(e2);
}

static void check_error(const char *filter, hdb_status code, const char *want_msg) {
  hdb__expr *e = (hdb__expr *)&e; /* must be reset to NULL */
  hdb_error err = {0};
  hdb_status st = hdb__filter_parse(filter, &e, &err);
  if (st != code) fail_msg("%.80s: status %s, want %s (%s)", filter, hdb_status_name(st),
                           hdb_status_name(code), err.message);
  assert_null(e);
  assert_int_equal(err.code, code);
  if (!strstr(err.message, want_msg))
    fail_msg("%.80s:\n  message \"%s\"\n  lacks  \"%s\"", filter, err.message, want_msg);
}

/* ------------------------------------------------------------------ */
/* Operators in both syntaxes                                          */
/* ------------------------------------------------------------------ */

typedef struct pair {
  const char *text, *json;
  unsigned want;
} pair;

static const pair pairs[] = {
    /* the issue's example */
    {"type = 'test' AND (year >= 2020 OR tag IN ('a','b')) AND NOT archived AND meta.lang = 'en'",
     "{\"type\":\"test\",\"$or\":[{\"year\":{\"$gte\":2020}},{\"tag\":{\"$in\":[\"a\",\"b\"]}}],"
     "\"$not\":{\"archived\":true},\"meta.lang\":\"en\"}",
     A | B},
    {"type = 'test'", "{\"type\":\"test\"}", A | B | D | F},
    {"type = 'test'", "{\"type\":{\"$eq\":\"test\"}}", A | B | D | F},
    {"type != 'test'", "{\"type\":{\"$ne\":\"test\"}}", C},
    {"type <> 'test'", "{\"type\":{\"$ne\":\"test\"}}", C},
    {"year > 2020", "{\"year\":{\"$gt\":2020}}", A | C | F},
    {"year >= 2020", "{\"year\":{\"$gte\":2020}}", A | C | E | F},
    {"year < 2020.5", "{\"year\":{\"$lt\":2020.5}}", B | E},
    {"year <= 2020.5", "{\"year\":{\"$lte\":2020.5}}", B | E | F},
    {"year = 2020.5", "{\"year\":2020.5}", F},
    {"score = 2", "{\"score\":2}", B},
    {"score > 1.4", "{\"score\":{\"$gt\":1.4}}", A | B},
    {"year IN (2019, 2022)", "{\"year\":{\"$in\":[2019,2022]}}", B | C},
    {"year NOT IN (2019, 2022)", "{\"year\":{\"$nin\":[2019,2022]}}", A | E | F},
    {"year BETWEEN 2020 AND 2021", "{\"year\":{\"$between\":[2020,2021]}}", A | E | F},
    {"year NOT BETWEEN 2020 AND 2021", "{\"year\":{\"$not\":{\"$between\":[2020,2021]}}}", B | C},
    {"name LIKE 'a%'", "{\"name\":{\"$like\":\"a%\"}}", A | F},
    {"name NOT LIKE '%a%'", "{\"name\":{\"$not\":{\"$like\":\"%a%\"}}}", C | E},
    {"tag IS NULL", "{\"tag\":null}", E},
    {"tag IS NULL", "{\"tag\":{\"$eq\":null}}", E},
    {"tag IS NOT NULL", "{\"tag\":{\"$ne\":null}}", A | B | C | D | F},
    {"archived IS NULL", "{\"archived\":null}", D},
    {"EXISTS tag", "{\"tag\":{\"$exists\":true}}", A | B | C | D | F},
    {"NOT EXISTS tag", "{\"tag\":{\"$exists\":false}}", E},
    {"archived", "{\"archived\":true}", C},
    {"NOT archived", "{\"$not\":{\"archived\":true}}", A | B | E | F},
    {"type = 'prod' OR year = 2019", "{\"$or\":[{\"type\":\"prod\"},{\"year\":2019}]}", B | C},
    {"NOT (type = 'prod' OR year = 2019)", "{\"$nor\":[{\"type\":\"prod\"},{\"year\":2019}]}",
     A | F},
    {"type = 'test' AND year > 2020", "{\"$and\":[{\"type\":\"test\"},{\"year\":{\"$gt\":2020}}]}",
     A | F},
    {"year > 2019 AND year < 2022", "{\"year\":{\"$gt\":2019,\"$lt\":2022}}", A | E | F},
    {"", "{}", A | B | C | D | E | F},
    {"meta.lang = 'en'", "{\"meta.lang\":\"en\"}", A | B | D},
    {"meta.deep.k = 'v'", "{\"meta.deep.k\":\"v\"}", A},
    {"EXISTS meta.n", "{\"meta.n\":{\"$exists\":true}}", A | B | D | E},
    {"meta.n IS NULL", "{\"meta.n\":null}", B | C | F},
    {"ts >= '2024-01-01'", "{\"ts\":{\"$gte\":\"2024-01-01\"}}", A},
    {"ts BETWEEN '2023-01-01' AND '2023-12-31T23:59:59Z'",
     "{\"ts\":{\"$between\":[\"2023-01-01\",\"2023-12-31T23:59:59Z\"]}}", B},
};

static void test_both_syntaxes(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    check_mask(pairs[i].text, pairs[i].want);
    check_mask(pairs[i].json, pairs[i].want);
  }
}

static void test_keywords_case_and_quoting(void **state) {
  (void)state;
  check_mask("type = 'test' and not archived aNd year Between 2020 AnD 2021", A | F);
  check_mask("\"type\" = 'test' AND \"year\" iS nOt NuLl", A | B | F);
  check_mask("exists META.lang", 0); /* names are case-sensitive */
  check_mask("meta.\"la\"\"ng\" = 'q'", E);
  check_mask("TRUE", A | B | C | D | E | F);
  check_mask("FALSE OR year = 2019", B);
  check_mask("type='test'AND(year>2020)", A | F);
  check_mask("\n\ttype = 'test'\r\n  AND year = 2021\n", A);
}

/* ------------------------------------------------------------------ */
/* SQL null semantics                                                  */
/* ------------------------------------------------------------------ */

static void test_null_semantics(void **state) {
  (void)state;
  /* != does not match null (d) or missing values */
  check_mask("year != 2021", B | C | E | F);
  check_mask("NOT (year = 2021)", B | C | E | F);
  check_mask("type != 'prod'", A | B | D | F); /* e has no type */
  /* IN with null: TRUE on a match, else UNKNOWN */
  check_mask("year IN (2019, null)", B);
  check_mask("year NOT IN (2019, null)", 0);
  check_mask("NOT (year IN (2019, null))", 0);
  check_mask("tag IN ('a', null)", B | F);
  /* UNKNOWN through AND / OR / NOT */
  check_mask("year = 2021 OR archived", A | C);
  check_mask("NOT archived OR type = 'test'", A | B | D | E | F);
  check_mask("NOT (archived AND year > 0)", A | B | E | F);
  check_mask("NOT (archived OR year > 3000)", A | B | E | F);
  /* comparing incompatible types is unknown, not an error, without a schema */
  check_mask("year = 'x'", 0);
  check_mask("year != 'x'", 0);
  check_mask("NOT (year = 'x')", 0);
  check_mask("type > 5", 0);
  check_mask("meta = 'x'", 0);
  check_mask("ts = 'garbage'", 0);
  /* IS NULL and EXISTS are never unknown */
  check_mask("NOT (year IS NULL)", A | B | C | E | F);
  check_mask("EXISTS year", A | B | C | E | F);
  check_mask("EXISTS nothing_here", 0);
  check_mask("nothing_here IS NULL", A | B | C | D | E | F);
  check_mask("NOT (nothing_here = 1)", 0);
  /* BETWEEN: (v >= lo) AND (v <= hi), three-valued */
  check_mask("year NOT BETWEEN 2000 AND 2020", A | C | F);
  check_mask("tag BETWEEN 'a' AND 'b'", B | C | D | F);
}

/* ------------------------------------------------------------------ */
/* json paths                                                          */
/* ------------------------------------------------------------------ */

static void test_json_paths(void **state) {
  (void)state;
  check_mask("meta.n = 5", A);     /* e's n is the text "5": unknown */
  check_mask("meta.n = '5'", E);
  check_mask("meta.n > 5", D);
  check_mask("meta.n = 7.5", D);
  check_mask("meta.lang = 'caf\xc3\xa9'", E); /* stored with \u00e9 or raw */
  check_mask("meta.s = 'a\nb'", A);          /* decoded escape */
  check_mask("meta.s LIKE 'a_b'", A);
  check_mask("meta.arr IS NOT NULL", A);
  check_mask("meta.arr = 1", 0);             /* an array compares with nothing */
  check_mask("meta.arr.x IS NULL", A | B | C | D | E | F); /* arrays are not walked */
  check_mask("meta.deep.k.z IS NULL", A | B | C | D | E | F);
  check_mask("EXISTS meta.deep", A);
  check_mask("EXISTS meta.lang", A | B | C | D | E); /* f's meta is an array */
  check_mask("name.x IS NULL", A | B | C | D | E | F); /* name is text, not json */
  check_error("meta.\"la\\\"ng\" = 'q'", HDB_BAD_FILTER, /* no backslash escapes in names */
              "at 1:11: expected an operator after 'meta.la\\' (found 'ng')");
  check_mask("{\"meta.la\\\"ng\":\"q\"}", E);

  /* hdb__path_resolve gives NUL-terminated copies of json leaves. */
  hdb__expr *e = NULL;
  assert_int_equal(hdb__filter_parse("meta.deep IS NULL AND meta.lang IS NULL AND meta.n IS NULL "
                                     "AND meta.s IS NULL AND year IS NULL AND meta.zz IS NULL",
                                     &e, NULL),
                   HDB_OK);
  hdb_value v, scratch;
  assert_int_equal(hdb__path_resolve(&e->kids[0]->path, recs[0], &v, &scratch), 1);
  assert_int_equal(v.type, HDB_TYPE_JSON);
  assert_string_equal(v.as.text.data, "{\"k\":\"v\"}");
  assert_int_equal(v.as.text.len, 9);
  hdb__value_release(&scratch);
  assert_int_equal(hdb__path_resolve(&e->kids[1]->path, recs[0], &v, &scratch), 1);
  assert_int_equal(v.type, HDB_TYPE_TEXT);
  assert_string_equal(v.as.text.data, "en");
  hdb__value_release(&scratch);
  assert_int_equal(hdb__path_resolve(&e->kids[2]->path, recs[0], &v, &scratch), 1);
  assert_int_equal(v.type, HDB_TYPE_INT);
  assert_int_equal(v.as.i, 5);
  hdb__value_release(&scratch);
  assert_int_equal(hdb__path_resolve(&e->kids[2]->path, recs[1], &v, &scratch), 1);
  assert_int_equal(v.type, HDB_TYPE_NULL);
  hdb__value_release(&scratch);
  assert_int_equal(hdb__path_resolve(&e->kids[2]->path, recs[3], &v, &scratch), 1);
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  assert_true(v.as.f == 7.5);
  hdb__value_release(&scratch);
  assert_int_equal(hdb__path_resolve(&e->kids[3]->path, recs[0], &v, &scratch), 1);
  assert_int_equal(v.type, HDB_TYPE_TEXT);
  assert_string_equal(v.as.text.data, "a\nb");
  hdb__value_release(&scratch);
  assert_int_equal(hdb__path_resolve(&e->kids[4]->path, recs[3], &v, &scratch), 1);
  assert_int_equal(v.type, HDB_TYPE_NULL); /* present but null */
  hdb__value_release(&scratch);
  assert_int_equal(hdb__path_resolve(&e->kids[5]->path, recs[0], &v, &scratch), 0);
  assert_int_equal(hdb__path_resolve(&e->kids[4]->path, recs[4], &v, &scratch), 1);
  assert_int_equal(v.type, HDB_TYPE_INT);
  hdb__expr_free(e);
}

/* Numbers, escapes and malformed documents met while walking json. */
static void test_json_walker_edges(void **state) {
  (void)state;
  hdb_record *r = hdb_record_new("z");
  assert_non_null(r);
  assert_int_equal(hdb_record_set_json(r, "j",
                                       "{\"a\":{\"b\":[{\"c\":1}],\"c\":\"x\"},\"big\":"
                                       "9223372036854775807,\"over\":9223372036854775808,"
                                       "\"neg\":-9223372036854775808,\"e\":1e3,\"f\":-0.5,"
                                       "\"t\":true,\"u\":\"\\ud83d\\ude00\",\"k\\u0065y\":1,"
                                       "\"q\":\"\\\"\\\\\\/\\b\\f\\r\\t\"}"),
                   HDB_OK);
  struct {
    const char *f;
    int want;
  } cases[] = {
      {"j.a.c = 'x'", 1},
      {"j.big = 9223372036854775807", 1},
      {"j.big > 9223372036854775806", 1},
      {"j.over > 9223372036854775807", 1},
      {"j.over = 9223372036854775808", 1},
      {"j.neg = -9223372036854775808", 1},
      {"j.e = 1000", 1},
      {"j.f = -0.5", 1},
      {"j.t", 1},
      {"j.u = '\xf0\x9f\x98\x80'", 1},
      {"j.u LIKE '_'", 1},
      {"j.key = 1", 1},
      {"j.q = '\"\\/\b\f\r\t'", 1},
      {"j.a.b IS NOT NULL", 1},
      {"j.a.b.c IS NULL", 1},
      {"j.missing IS NULL", 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hdb__expr *e = NULL;
    hdb_error err = {0};
    if (hdb__filter_parse(cases[i].f, &e, &err) != HDB_OK) fail_msg("%s: %s", cases[i].f, err.message);
    if (hdb__filter_match(e, r) != cases[i].want) fail_msg("%s: wrong result", cases[i].f);
    hdb__expr_free(e);
  }
  hdb_record_free(r);

  /* A malformed document (a corrupt store, say) only makes paths absent.
   * hdb_record_set_json would reject these, so they go in raw. */
  static const char *bad[] = {"{",           "{\"a\"",        "{\"a\":",      
                              "{\"a\" 1}",    "{\"a\":\"x",    "{\"a\":\"\\u12\"}", "{\"a\":\"\\ud800\"}",
                              "{\"a\":\"\\q\"}", "{\"a\":]",    "{\"x\":[[[}",   "{\"a\":-}",
                              "{\"a\":1.}",   "{\"a\":1e}",    "{\"a\":01x}",   "[",
                              "",             "{\"x\":1 \"a\":1}"};
  hdb__expr *e = NULL;
  assert_int_equal(hdb__filter_parse("j.a = 1 OR j.a = 'x' OR j.a IS NOT NULL", &e, NULL), HDB_OK);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    hdb_record *rr = hdb_record_new("raw");
    assert_non_null(rr);
    assert_int_equal(hdb_record_set_text(rr, "j", bad[i]), HDB_OK);
    /* Retag the text field as json in place: the walker must cope. */
    hdb_value *v = (hdb_value *)hdb__record_value(rr, "j");
    v->type = HDB_TYPE_JSON;
    if (hdb__filter_match(e, rr)) fail_msg("malformed %s matched", bad[i]);
    hdb_record_free(rr);
  }
  hdb__expr_free(e);
}

/* ------------------------------------------------------------------ */
/* LIKE                                                                */
/* ------------------------------------------------------------------ */

static int like(const char *s, const char *p) { return hdb__like_match(s, strlen(s), p, strlen(p)); }

static void test_like(void **state) {
  (void)state;
  assert_true(like("", ""));
  assert_true(like("", "%"));
  assert_true(like("", "%%"));
  assert_false(like("", "_"));
  assert_false(like("a", ""));
  assert_true(like("abc", "abc"));
  assert_false(like("abc", "ab"));
  assert_false(like("ab", "abc"));
  assert_true(like("abc", "a%c"));
  assert_true(like("abc", "%b%"));
  assert_true(like("abc", "_b_"));
  assert_false(like("ab", "_b_"));
  assert_true(like("abc", "%"));
  assert_true(like("abc", "a%%%"));
  assert_true(like("mississippi", "%iss%ppi"));
  assert_true(like("mississippi", "m%i%s%i%p%i"));
  assert_false(like("mississippi", "%iss%pp"));
  assert_true(like("ABC", "ABC"));
  assert_false(like("ABC", "abc")); /* case-sensitive */
  assert_true(like("a%", "a\\%"));
  assert_false(like("ab", "a\\%"));
  assert_true(like("a_", "a\\_"));
  assert_false(like("ab", "a\\_"));
  assert_true(like("a\\b", "a\\\\b"));
  assert_true(like("a\\", "a\\"));  /* a trailing lone backslash is literal */
  assert_false(like("ab", "a\\"));
  assert_true(like("ax", "a\\x")); /* escaping an ordinary character */
  assert_true(like("\xc3\xa9", "_"));
  assert_false(like("\xc3\xa9", "__"));
  assert_true(like("a\xc3\xa9z", "a_z"));
  assert_true(like("\xc3\xa9\xc3\xa9", "%\xc3\xa9"));
  assert_true(like("\xf0\x9f\x98\x80x", "_x"));
  assert_true(like("x\xc3\xa9", "x\\\xc3\xa9"));
  assert_true(like("\xff", "_")); /* a stray byte is one character */
  /* the prefix / suffix / contains fast paths and their escapes */
  assert_true(like("abcdef", "abc%"));
  assert_false(like("ab", "abc%"));
  assert_true(like("xbc", "%bc"));
  assert_false(like("c", "%bc"));
  assert_true(like("xxbodyxx", "%body%"));
  assert_false(like("bod", "%body%"));
  assert_true(like("50%", "%\\%"));
  assert_false(like("50", "%\\%"));
  assert_true(like("a%", "a\\%%"));
  assert_false(like("ab", "a\\%%"));
  assert_true(like("caf\xc3\xa9", "%\xc3\xa9"));
  /* No exponential blow-up on adversarial patterns. */
  char s[4001], p[64];
  memset(s, 'a', 4000);
  s[4000] = '\0';
  strcpy(p, "%a%a%a%a%a%a%a%a%a%a%a%a%b");
  assert_false(like(s, p));
  /* Embedded NUL bytes are ordinary characters (lengths, not strlen). */
  assert_true(hdb__like_match("a\0b", 3, "a_b", 3));
  assert_false(hdb__like_match("a\0b", 3, "a", 1));

  check_mask("name LIKE '100\\%\\_done'", C);
  check_mask("name LIKE '100%'", C);
  check_mask("name LIKE 'caf_'", D);
  check_mask("name LIKE '____'", B | D);
  check_mask("name LIKE 'a\\\\b'", F);
  check_mask("name LIKE '%\\_%'", C | E);
  check_mask("name LIKE ''", 0);
  check_mask("year LIKE '2%'", 0); /* not text: unknown */
  check_mask("year NOT LIKE '2%'", 0);
}

/* ------------------------------------------------------------------ */
/* Numbers and timestamps                                              */
/* ------------------------------------------------------------------ */

static void test_numbers(void **state) {
  (void)state;
  hdb_record *r = hdb_record_new("n");
  assert_non_null(r);
  assert_int_equal(hdb_record_set_int(r, "i", INT64_C(9007199254740993)), HDB_OK);
  assert_int_equal(hdb_record_set_int(r, "min", INT64_MIN), HDB_OK);
  assert_int_equal(hdb_record_set_float(r, "nan", NAN), HDB_OK);
  assert_int_equal(hdb_record_set_float(r, "f", 0.1), HDB_OK);
  assert_int_equal(hdb_record_set_timestamp(r, "ts", 1000000), HDB_OK);
  struct {
    const char *f;
    int want;
  } cases[] = {
      {"i = 9007199254740993", 1},
      {"i = 9007199254740992.0", 0}, /* exact int vs double, no rounding */
      {"i > 9007199254740992.0", 1},
      {"i < 1e300", 1},
      {"i > -1e300", 1},
      {"i < 9223372036854775808", 1}, /* overflowing literal becomes a float */
      {"min = -9223372036854775808", 1},
      {"min < -9223372036854775807", 1},
      {"min > -9223372036854775809", 0}, /* float -2^63 equals min */
      {"min >= -9223372036854775809", 1},
      {"nan = 1", 0},
      {"nan != 1", 0},
      {"NOT (nan < 1)", 0},
      {"nan IS NOT NULL", 1},
      {"f = 0.1", 1},
      {"f = .1", 1},
      {"f = +0.1", 1},
      {"f = 1e-1", 1},
      {"f = 0.01E1", 1},
      {"f > -.5", 1},
      {"ts = 1000000", 1},
      {"ts = '1970-01-01T00:00:01Z'", 1},
      {"ts = '1970-01-01 00:00:01+00:00'", 1},
      {"ts < '1970-01-02'", 1},
      {"ts IN ('1970-01-01T00:00:01Z', 5)", 1},
      {"ts = 1.0", 0},
      {"ts = 'x'", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hdb__expr *e = NULL;
    hdb_error err = {0};
    if (hdb__filter_parse(cases[i].f, &e, &err) != HDB_OK) fail_msg("%s: %s", cases[i].f, err.message);
    if (hdb__filter_match(e, r) != cases[i].want) fail_msg("%s: wrong result", cases[i].f);
    hdb__expr_free(e);
  }
  hdb_record_free(r);
}

/* ------------------------------------------------------------------ */
/* Canonical text                                                      */
/* ------------------------------------------------------------------ */

static void test_to_text(void **state) {
  (void)state;
  check_text("", "TRUE");
  check_text("   \n ", "TRUE");
  check_text("a = 1 AND b = 'x' OR NOT c", "(((a = 1) AND (b = 'x')) OR (NOT (c = TRUE)))");
  check_text("a = 1 AND (b = 2 AND c = 3)", "((a = 1) AND ((b = 2) AND (c = 3)))");
  check_text("a=1 and b=2 and c=3", "((a = 1) AND (b = 2) AND (c = 3))");
  check_text("((a <> 1))", "(a != 1)");
  check_text("a < 1 OR a <= 2 OR a > 3 OR a >= 4",
             "((a < 1) OR (a <= 2) OR (a > 3) OR (a >= 4))");
  check_text("x IN (1, 2.5, 'a''b', null, true, FALSE)",
             "(x IN (1, 2.5, 'a''b', NULL, TRUE, FALSE))");
  check_text("x not in (-1)", "(x NOT IN (-1))");
  check_text("x NOT BETWEEN -1 AND 1e3", "(x NOT BETWEEN -1 AND 1000.0)");
  check_text("x between 0.1 and 1.5e-7", "(x BETWEEN 0.1 AND 1.5e-07)");
  check_text("x LIKE 'a%' AND y NOT LIKE '_'", "((x LIKE 'a%') AND (y NOT LIKE '_'))");
  check_text("x is null or x IS NOT NULL", "((x IS NULL) OR (x IS NOT NULL))");
  check_text("EXISTS meta.\"a.b\"", "(EXISTS meta.\"a.b\")");
  check_text("\"in\" = 1 AND \"a b\".c = 2 AND \"q\"\"\" = 3 AND \"plain\" = 4",
             "((\"in\" = 1) AND (\"a b\".c = 2) AND (\"q\"\"\" = 3) AND (plain = 4))");
  check_text("meta.null = 1", "(meta.\"null\" = 1)");
  check_text("x = 9223372036854775808", "(x = 9.223372036854776e+18)");
  check_text("x = -9223372036854775808", "(x = -9223372036854775808)");
  check_text("x = -0.0", "(x = -0.0)");
  check_text("x = 'caf\xc3\xa9\n'", "(x = 'caf\xc3\xa9\n')");
  check_text("TRUE AND FALSE", "(TRUE AND (NOT TRUE))");
  check_text("NOT NOT a", "(NOT (NOT (a = TRUE)))");
  check_text("{}", "TRUE");
  check_text("{\"a\":1,\"b\":{\"$gt\":2,\"$lt\":5}}", "((a = 1) AND ((b > 2) AND (b < 5)))");
  check_text("{\"f\":null}", "(f IS NULL)");
  check_text("{\"f\":{\"$ne\":null}}", "(f IS NOT NULL)");
  check_text("{\"f\":{\"$exists\":false}}", "(NOT (EXISTS f))");
  check_text("{\"$nor\":[{\"a\":1},{\"b\":2}]}", "(NOT ((a = 1) OR (b = 2)))");
  check_text("{\"$nor\":[{\"a\":1}]}", "(NOT (a = 1))");
  check_text("{\"$and\":[{\"a\":1}]}", "(a = 1)");
  check_text("{\"$and\":[{},{\"a\":true}]}", "(TRUE AND (a = TRUE))");
  check_text("{\"a\":{\"$nin\":[1,null,\"x\",false]}}", "(a NOT IN (1, NULL, 'x', FALSE))");
  check_text("{\"a\":{\"$between\":[1,2.5]}}", "(a BETWEEN 1 AND 2.5)");
  check_text("{\"a\":{\"$like\":\"x%\"}}", "(a LIKE 'x%')");
  check_text("{\"a\":{\"$not\":{\"$gt\":1,\"$lt\":0}}}", "(NOT ((a > 1) AND (a < 0)))");
  check_text("{\"meta.lang\":\"en\",\"x\":1.0,\"y\":-2e0,\"z\":1.5}",
             "((meta.lang = 'en') AND (x = 1) AND (y = -2) AND (z = 1.5))");
  check_text("  {\"a\":\"it's\"}  ", "(a = 'it''s')");
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static void test_text_errors(void **state) {
  (void)state;
  check_error("year >= ", HDB_BAD_FILTER, "at 1:9: expected a value after '>=' (found end of filter)");
  check_error("year = ", HDB_BAD_FILTER, "at 1:8: expected a value after '='");
  check_error("type = 'abc", HDB_BAD_FILTER, "at 1:8: unterminated string");
  check_error("\"type = 1", HDB_BAD_FILTER, "at 1:1: unterminated quoted name");
  check_error("\"\" = 1", HDB_BAD_FILTER, "at 1:1: empty quoted name");
  check_error("(a = 1", HDB_BAD_FILTER,
              "at 1:7: expected AND, OR or ')' to close the '(' at 1:1 (found end of filter)");
  check_error("(a = 1 b", HDB_BAD_FILTER, "at 1:8: expected AND, OR or ')'");
  check_error("a = 1 b", HDB_BAD_FILTER, "at 1:7: expected AND, OR or end of filter (found 'b')");
  check_error("a = 1)", HDB_BAD_FILTER, "at 1:6: expected end of filter (this ')' has no '(')");
  check_error("a IN ()", HDB_BAD_FILTER, "at 1:6: empty IN list");
  check_error("a IN (1,)", HDB_BAD_FILTER, "at 1:9: expected a value in the IN list (found ')')");
  check_error("a IN (1 2)", HDB_BAD_FILTER, "at 1:9: expected ',' or ')' in the IN list (found '2')");
  check_error("a IN 1", HDB_BAD_FILTER, "at 1:6: expected '(' after IN (found '1')");
  check_error("a IN (1", HDB_BAD_FILTER, "at 1:8: expected ',' or ')' in the IN list (found end of filter)");
  check_error("a == 1", HDB_BAD_FILTER, "at 1:3: unknown operator '=='");
  check_error("a =< 1", HDB_BAD_FILTER, "at 1:3: unknown operator '=<'");
  check_error("a ! 1", HDB_BAD_FILTER, "at 1:3: unknown operator '!'");
  check_error("x = null", HDB_BAD_FILTER, "at 1:5: null cannot be compared with '='; write 'x IS NULL'");
  check_error("x != NULL", HDB_BAD_FILTER, "write 'x IS NOT NULL'");
  check_error("x < null", HDB_BAD_FILTER, "null cannot be compared with '<'");
  check_error("x BETWEEN null AND 1", HDB_BAD_FILTER, "at 1:11: BETWEEN needs two values, not null");
  check_error("x BETWEEN 1 AND null", HDB_BAD_FILTER, "at 1:17: BETWEEN needs two values");
  check_error("x BETWEEN 1 OR 2", HDB_BAD_FILTER, "at 1:13: expected AND in BETWEEN ... AND ... (found 'OR')");
  check_error("x BETWEEN 1", HDB_BAD_FILTER, "expected AND in BETWEEN");
  check_error("x LIKE 5", HDB_BAD_FILTER, "at 1:8: expected a 'text' pattern after LIKE (found '5')");
  check_error("x LIKE null", HDB_BAD_FILTER, "expected a 'text' pattern after LIKE");
  check_error("x IS 5", HDB_BAD_FILTER, "at 1:6: expected NULL or NOT NULL after IS (found '5')");
  check_error("x IS NOT 5", HDB_BAD_FILTER, "at 1:10: expected NULL after IS NOT");
  check_error("x NOT = 5", HDB_BAD_FILTER, "at 1:7: expected IN, BETWEEN or LIKE after NOT (found '=')");
  check_error("x 5", HDB_BAD_FILTER, "at 1:3: expected an operator after 'x' (found '5')");
  check_error("x = y", HDB_BAD_FILTER, "at 1:5: expected a value after '=' (found 'y')");
  check_error("= 5", HDB_BAD_FILTER, "at 1:1: expected a field name, '(' or NOT (found '=')");
  check_error("in = 5", HDB_BAD_FILTER, "quote a field named like a keyword");
  check_error("a = 1 AND", HDB_BAD_FILTER, "at 1:10: expected a field name, '(' or NOT (found end of filter)");
  check_error("a = 1 OR OR", HDB_BAD_FILTER, "at 1:10: expected a field name");
  check_error("NOT", HDB_BAD_FILTER, "at 1:4: expected a field name");
  check_error("EXISTS", HDB_BAD_FILTER, "at 1:7: expected a field name after EXISTS");
  check_error("EXISTS 'a'", HDB_BAD_FILTER, "expected a field name after EXISTS (found ''a'')");
  check_error("()", HDB_BAD_FILTER, "at 1:2: expected a field name");
  check_error("a. = 1", HDB_BAD_FILTER, "at 1:3: expected a name after '.'");
  check_error("a.1 = 1", HDB_BAD_FILTER, "at 1:3: expected a name after '.' (found '1')");
  check_error("a = 1e", HDB_BAD_FILTER, "at 1:5: malformed number '1e'");
  check_error("a = 1e+", HDB_BAD_FILTER, "malformed number '1e+'");
  check_error("a = 0x10", HDB_BAD_FILTER, "malformed number '0x10'");
  check_error("a = 1.2.3", HDB_BAD_FILTER, "malformed number '1.2.3'");
  check_error("a = 12abc", HDB_BAD_FILTER, "malformed number '12abc'");
  check_error("a = 1e999", HDB_BAD_FILTER, "at 1:5: number '1e999' is out of range");
  check_error("a = - 1", HDB_BAD_FILTER, "at 1:5: unexpected character '-'");
  check_error("a = #", HDB_BAD_FILTER, "unexpected character '#'");
  check_error("(a = 1)#", HDB_BAD_FILTER, "at 1:8: unexpected character '#'"); /* frees the group */
  check_error("a = 1 ; DROP TABLE x", HDB_BAD_FILTER, "at 1:7: unexpected character ';'");
  check_error("caf\xc3\xa9 = 1", HDB_BAD_FILTER, "at 1:4: unexpected character '\xc3\xa9'");
  check_error("a = '\xff'", HDB_BAD_FILTER, "at 1:5: string is not valid UTF-8");
  check_error("\"\xc3\" = 1", HDB_BAD_FILTER, "quoted name is not valid UTF-8");
  check_error("a = 'x\x01y' AND", HDB_BAD_FILTER, "found end of filter");
  /* line:column, with columns in characters */
  check_error("a = 1\nAND b = ", HDB_BAD_FILTER, "at 2:9: expected a value after '='");
  check_error("name = 'caf\xc3\xa9' AND", HDB_BAD_FILTER, "at 1:18:");
  check_error("name = 'caf\xc3\xa9' b", HDB_BAD_FILTER, "at 1:15:");
  /* long tokens are cut in messages */
  check_error("a = 1 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
              HDB_BAD_FILTER, "(found 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb...')");
}

static void test_json_errors(void **state) {
  (void)state;
  check_error("{\"age\":{\"$gtx\":30}}", HDB_BAD_FILTER, "unknown operator '$gtx' on field 'age'");
  check_error("{\"$gtx\":30}", HDB_BAD_FILTER, "unknown operator '$gtx'");
  check_error("{\"a\":", HDB_BAD_FILTER, "at 1:6: malformed JSON filter");
  check_error("{\"a\":1,}", HDB_BAD_FILTER, "malformed JSON filter");
  check_error("{\"a\":1} x", HDB_BAD_FILTER, "at 1:9: malformed JSON filter");
  check_error("{\n  \"a\": tru\n}", HDB_BAD_FILTER, "at 2:");
  check_error("{\"a\":[1,2]}", HDB_BAD_FILTER, "field 'a': an array cannot be compared");
  check_error("{\"a\":{\"b\":1}}", HDB_BAD_FILTER, "field 'a': 'b' is not an operator");
  check_error("{\"a\":{}}", HDB_BAD_FILTER, "field 'a': empty operator object");
  check_error("{\"a\":{\"$eq\":[1]}}", HDB_BAD_FILTER, "field 'a': '$eq' needs a number, text, true, false, not an array");
  check_error("{\"a\":{\"$eq\":{\"x\":1}}}", HDB_BAD_FILTER, "not an object");
  check_error("{\"a\":{\"$gt\":null}}", HDB_BAD_FILTER, "field 'a': '$gt' needs a value, not null");
  check_error("{\"a\":{\"$in\":[]}}", HDB_BAD_FILTER, "field 'a': '$in' needs a non-empty array");
  check_error("{\"a\":{\"$nin\":5}}", HDB_BAD_FILTER, "field 'a': '$nin' needs a non-empty array");
  check_error("{\"a\":{\"$in\":[[1]]}}", HDB_BAD_FILTER, "'$in' needs a number, text, true, false or null");
  check_error("{\"a\":{\"$between\":[1]}}", HDB_BAD_FILTER, "'$between' needs an array of two values");
  check_error("{\"a\":{\"$between\":[1,2,3]}}", HDB_BAD_FILTER, "'$between' needs");
  check_error("{\"a\":{\"$between\":[null,2]}}", HDB_BAD_FILTER, "'$between' needs");
  check_error("{\"a\":{\"$between\":{\"x\":1,\"y\":2}}}", HDB_BAD_FILTER, "'$between' needs");
  check_error("{\"a\":{\"$like\":5}}", HDB_BAD_FILTER, "field 'a': '$like' needs a text pattern");
  check_error("{\"a\":{\"$exists\":1}}", HDB_BAD_FILTER, "field 'a': '$exists' needs true or false");
  check_error("{\"a\":{\"$not\":5}}", HDB_BAD_FILTER, "field 'a': '$not' needs an object");
  check_error("{\"a\":{\"$not\":{}}}", HDB_BAD_FILTER, "'$not' needs an object");
  check_error("{\"$or\":[]}", HDB_BAD_FILTER, "'$or' needs a non-empty array of filter objects");
  check_error("{\"$and\":{}}", HDB_BAD_FILTER, "'$and' needs a non-empty array");
  check_error("{\"$or\":[{\"a\":1},5]}", HDB_BAD_FILTER, "element 1 of '$or' must be a JSON object");
  check_error("{\"$not\":[1]}", HDB_BAD_FILTER, "'$not' must be a JSON object");
  check_error("{\"\":1}", HDB_BAD_FILTER, "empty field name");
  check_error("{\"a..b\":1}", HDB_BAD_FILTER, "field 'a..b': empty name in the path");
  check_error("{\"a.\":1}", HDB_BAD_FILTER, "empty name in the path");
  check_error("{\"a\":1e999}", HDB_BAD_FILTER, "number out of range");
  check_error("{\"a\":\"\xff\"}", HDB_BAD_FILTER, "not valid UTF-8");
  check_error("{\"\x82\":{\"$exists\":true}}", HDB_BAD_FILTER, "field name '\x82' is not valid UTF-8");
  /* JSON form entered directly must still be an object */
  hdb__expr *e = NULL;
  hdb_error err = {0};
  assert_int_equal(hdb__filter_parse_json("[1]", &e, &err), HDB_BAD_FILTER);
  assert_non_null(strstr(err.message, "must be a JSON object"));
  assert_null(e);
  assert_int_equal(hdb__filter_parse_json("  ", &e, &err), HDB_OK);
  assert_int_equal(e->kind, HDB__EXPR_TRUE);
  hdb__expr_free(e);
  /* a leading '[' goes to the text parser */
  check_error("[1]", HDB_BAD_FILTER, "at 1:1: unexpected character '['");
  /* NULL error pointers are allowed */
  assert_int_equal(hdb__filter_parse("a =", &e, NULL), HDB_BAD_FILTER);
  assert_int_equal(hdb__filter_parse("{\"a\":{\"$x\":1}}", &e, NULL), HDB_BAD_FILTER);
  assert_int_equal(hdb__filter_parse(NULL, &e, NULL), HDB_OK);
  assert_int_equal(e->kind, HDB__EXPR_TRUE);
  hdb__expr_free(e);
  hdb__expr_free(NULL);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *mid, const char *tail,
                    size_t tail_n) {
  size_t len = strlen(head) + strlen(unit) * n + strlen(mid) + strlen(tail) * tail_n + 1;
  char *s = malloc(len), *p = s;
  assert_non_null(s);
  p += sprintf(p, "%s", head);
  for (size_t i = 0; i < n; i++) p += sprintf(p, "%s", unit);
  p += sprintf(p, "%s", mid);
  for (size_t i = 0; i < tail_n; i++) p += sprintf(p, "%s", tail);
  return s;
}

static void test_nesting_limit(void **state) {
  (void)state;
  char *s;
  s = repeat("", "(", HDB__FILTER_MAX_DEPTH, "a = 1", ")", HDB__FILTER_MAX_DEPTH);
  check_mask(s, 0);
  free(s);
  s = repeat("", "(", HDB__FILTER_MAX_DEPTH + 1, "a = 1", ")", HDB__FILTER_MAX_DEPTH + 1);
  check_error(s, HDB_BAD_FILTER, "filter nests deeper than 200 levels");
  free(s);
  s = repeat("", "(", 100000, "", "", 0);
  check_error(s, HDB_BAD_FILTER, "at 1:201: filter nests deeper than 200 levels");
  free(s);
  s = repeat("", "NOT ", HDB__FILTER_MAX_DEPTH, "archived", "", 0);
  check_mask(s, C); /* an even number of NOTs */
  free(s);
  s = repeat("", "NOT ", 100000, "a", "", 0);
  check_error(s, HDB_BAD_FILTER, "nests deeper");
  free(s);
  s = repeat("", "(NOT ", 150, "a", ")", 150);
  check_error(s, HDB_BAD_FILTER, "nests deeper");
  free(s);
  /* long flat chains are not nesting */
  s = repeat("a = 0", " OR a = 0", 100000, "", "", 0);
  check_mask(s, 0);
  free(s);
  s = repeat("tag IN (", "'x',", 50000, "'a')", "", 0);
  check_mask(s, A | B | F);
  free(s);
  /* JSON */
  s = repeat("", "{\"$not\":", HDB__FILTER_MAX_DEPTH - 1, "{\"archived\":true}", "}",
             HDB__FILTER_MAX_DEPTH - 1);
  check_mask(s, (HDB__FILTER_MAX_DEPTH - 1) % 2 ? A | B | E | F : C);
  free(s);
  s = repeat("", "{\"$not\":", HDB__FILTER_MAX_DEPTH, "{\"a\":1}", "}", HDB__FILTER_MAX_DEPTH);
  check_error(s, HDB_BAD_FILTER, "filter nests deeper than 200 levels");
  free(s);
  s = repeat("", "{\"$or\":[", 300, "{\"a\":1}", "]}", 300);
  check_error(s, HDB_BAD_FILTER, "nests deeper");
  free(s);
  s = repeat("", "{\"a\":{\"$not\":", 300, "{\"$gt\":1}", "}}", 300);
  check_error(s, HDB_BAD_FILTER, "field 'a': 'a' is not an operator");
  free(s);
  s = repeat("{\"a\":", "{\"$not\":", 300, "{\"$gt\":1}", "}", 301);
  check_error(s, HDB_BAD_FILTER, "nests deeper");
  free(s);
  s = repeat("", "[", 100000, "", "", 0);
  check_error(s, HDB_BAD_FILTER, "unexpected character");
  free(s);
  s = repeat("", "{\"a\":", 100000, "1", "}", 100000);
  check_error(s, HDB_BAD_FILTER, "malformed JSON filter"); /* cJSON's own limit */
  free(s);
}

/* ------------------------------------------------------------------ */
/* Binding to a schema                                                 */
/* ------------------------------------------------------------------ */

static hdb_schema *docs_schema(void) {
  hdb_schema *s = hdb_schema_new();
  assert_non_null(s);
  assert_int_equal(hdb_schema_add(s, "type", HDB_TYPE_TEXT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "year", HDB_TYPE_INT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "tag", HDB_TYPE_TEXT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "archived", HDB_TYPE_BOOL), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "score", HDB_TYPE_FLOAT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "meta", HDB_TYPE_JSON), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "ts", HDB_TYPE_TIMESTAMP), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "img", HDB_TYPE_BLOB), HDB_OK);
  assert_int_equal(hdb_schema_add_vector(s, "emb", 3, HDB_METRIC_COSINE), HDB_OK);
  return s;
}

static void check_bind(const hdb_schema *s, const char *filter, hdb_status code, const char *msg) {
  hdb__expr *e = NULL;
  hdb_error err = {0};
  if (hdb__filter_parse(filter, &e, &err) != HDB_OK) fail_msg("%s: %s", filter, err.message);
  hdb_status st = hdb__filter_bind(e, s, "docs", &err);
  if (st != code)
    fail_msg("%s: bind gave %s, want %s (%s)", filter, hdb_status_name(st), hdb_status_name(code),
             err.message);
  if (msg && !strstr(err.message, msg)) fail_msg("%s:\n  message \"%s\"\n  lacks \"%s\"", filter, err.message, msg);
  /* without a schema nothing is checked */
  assert_int_equal(hdb__filter_bind(e, NULL, "docs", &err), HDB_OK);
  hdb__expr_free(e);
}

static void test_bind(void **state) {
  (void)state;
  hdb_schema *s = docs_schema();
  check_bind(s, pairs[0].text, HDB_OK, NULL);
  check_bind(s, pairs[0].json, HDB_OK, NULL);
  check_bind(s, "", HDB_OK, NULL);
  check_bind(s, "colour = 'red'", HDB_NO_FIELD, "table 'docs' has no column 'colour'");
  check_bind(s, "{\"colour\":\"red\"}", HDB_NO_FIELD, "table 'docs' has no column 'colour'");
  check_bind(s, "type = 'a' AND (year > 1 OR NOT EXISTS colour)", HDB_NO_FIELD, "no column 'colour'");
  check_bind(s, "colour IS NULL", HDB_NO_FIELD, "no column 'colour'");
  check_bind(s, "colour.x = 1", HDB_NO_FIELD, "no column 'colour'");
  check_bind(s, "year.x = 1", HDB_TYPE_MISMATCH, "column 'year' is int, not json, so 'year.x' cannot look inside it");
  check_bind(s, "EXISTS type.x", HDB_TYPE_MISMATCH, "not json");
  check_bind(s, "year = 'abc'", HDB_TYPE_MISMATCH, "column 'year' is int and cannot be compared with text 'abc'");
  check_bind(s, "year = 2020.5 AND score = 1 AND score IN (1, 2.5, null)", HDB_OK, NULL);
  check_bind(s, "year IN (1, 'x')", HDB_TYPE_MISMATCH, "cannot be compared with text 'x'");
  check_bind(s, "year BETWEEN 1 AND true", HDB_TYPE_MISMATCH, "cannot be compared with true");
  check_bind(s, "year", HDB_TYPE_MISMATCH, "column 'year' is int and cannot be compared with true");
  check_bind(s, "type = 5", HDB_TYPE_MISMATCH, "column 'type' is text and cannot be compared with int 5");
  check_bind(s, "type > 1.5", HDB_TYPE_MISMATCH, "float 1.5");
  check_bind(s, "archived = 1", HDB_TYPE_MISMATCH, "column 'archived' is bool");
  check_bind(s, "archived = false AND NOT archived", HDB_OK, NULL);
  check_bind(s, "year LIKE '2%'", HDB_TYPE_MISMATCH, "LIKE needs a text column, and 'year' is int");
  check_bind(s, "type LIKE 't%' AND tag NOT LIKE '_'", HDB_OK, NULL);
  check_bind(s, "emb = 1", HDB_TYPE_MISMATCH, "column 'emb' is vector; only IS NULL, IS NOT NULL and EXISTS apply");
  check_bind(s, "img = 'x'", HDB_TYPE_MISMATCH, "column 'img' is blob");
  check_bind(s, "emb IS NULL AND EXISTS img AND img IS NOT NULL", HDB_OK, NULL);
  check_bind(s, "meta = 'x'", HDB_TYPE_MISMATCH, "compare a path inside it");
  check_bind(s, "meta LIKE 'x'", HDB_TYPE_MISMATCH, "column 'meta' is json");
  check_bind(s, "meta.lang = 'en' AND meta.n > 3 AND meta.a.b LIKE 'x%' AND meta.t", HDB_OK, NULL);
  check_bind(s, "EXISTS meta AND meta IS NOT NULL", HDB_OK, NULL);
  check_bind(s, "ts >= '2024-01-01' AND ts < '2024-02-01T00:00:00+01:00' AND ts > 0", HDB_OK, NULL);
  check_bind(s, "ts >= 'yesterday'", HDB_TYPE_MISMATCH, "column 'ts' is timestamp and text 'yesterday' is not RFC 3339");
  check_bind(s, "ts > 1.5", HDB_TYPE_MISMATCH, "column 'ts' is timestamp and cannot be compared with float 1.5");
  check_bind(s, "ts IN ('2024-01-01', 5, null)", HDB_OK, NULL);
  check_bind(s, "{\"ts\":{\"$between\":[\"2024-01-01\",\"2025-01-01\"]},\"year\":{\"$in\":[1,null]}}", HDB_OK, NULL);
  check_bind(s, "{\"year\":{\"$like\":\"2%\"}}", HDB_TYPE_MISMATCH, "LIKE needs a text column");
  check_bind(s, "{\"$nor\":[{\"year\":\"x\"}]}", HDB_TYPE_MISMATCH, "column 'year' is int");
  /* a long literal is cut in the message */
  check_bind(s, "year = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'", HDB_TYPE_MISMATCH,
             "text 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
  /* NULL table name and NULL err are tolerated */
  hdb__expr *e = NULL;
  assert_int_equal(hdb__filter_parse("nope = 1", &e, NULL), HDB_OK);
  assert_int_equal(hdb__filter_bind(e, s, NULL, NULL), HDB_NO_FIELD);
  hdb__expr_free(e);
  hdb_schema_free(s);
}

/* ------------------------------------------------------------------ */
/* Out of memory                                                       */
/* ------------------------------------------------------------------ */

/* Fails the n-th allocation for n = 0, 1, ... until the call succeeds;
 * every failure must be HDB_NOMEM with nothing leaked (LeakSanitizer). */
static void oom_parse(const char *filter) {
  for (long n = 0;; n++) {
    hdb__expr *e = NULL;
    hdb_error err = {0};
    hdb__alloc_fail_after(n);
    hdb_status st = hdb__filter_parse(filter, &e, &err);
    char *t = st == HDB_OK ? hdb__expr_to_text(e) : NULL;
    hdb__alloc_fail_after(-1);
    if (st == HDB_OK) {
      hdb__free_mem(t);
      hdb__expr_free(e);
      if (t) return;
      continue; /* to_text ran out; try with more room */
    }
    if (st != HDB_NOMEM) fail_msg("%s: allocation %ld failing gave %s (%s)", filter, n, hdb_status_name(st), err.message);
    assert_int_equal(err.code, HDB_NOMEM);
    assert_null(e);
    assert_true(n < 10000);
  }
}

static void test_out_of_memory(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    oom_parse(pairs[i].text);
    oom_parse(pairs[i].json);
  }
  oom_parse("x IN (1, 2, 3, 4, 5, 'a', 'b', 'c', null, true, 1.5) AND \"q\"\"\".y.z LIKE 'p%'");
  oom_parse("x = 1.25 OR y BETWEEN '2024-01-01' AND '2025-01-01' OR NOT EXISTS z OR FALSE");
  oom_parse("{\"$nor\":[{\"a\":{\"$nin\":[1,2,null]}},{\"b\":{\"$exists\":false}}],"
            "\"c\":{\"$not\":{\"$between\":[1,2]},\"$like\":\"x\"}}");

  /* Evaluation allocates only to decode a json string with escapes. */
  hdb__expr *e = NULL;
  assert_int_equal(hdb__filter_parse("meta.s = 'a\nb' OR meta.lang = 'x'", &e, NULL), HDB_OK);
  int matched = -1;
  hdb_error err = {0};
  hdb__alloc_fail_after(0);
  hdb_status st = hdb__filter_eval(e, recs[0], &matched, &err);
  int m = hdb__filter_match(e, recs[0]);
  hdb_value v, scratch;
  int rc = hdb__path_resolve(&e->kids[1]->path, recs[0], &v, &scratch); /* a plain string: copied */
  hdb__alloc_fail_after(-1);
  assert_int_equal(st, HDB_NOMEM);
  assert_int_equal(err.code, HDB_NOMEM);
  assert_int_equal(matched, 0);
  assert_int_equal(m, 0);
  assert_int_equal(rc, -1);
  assert_int_equal(v.type, HDB_TYPE_NULL);
  /* and nothing on the common paths */
  hdb__expr_free(e);
  assert_int_equal(hdb__filter_parse(pairs[0].text, &e, NULL), HDB_OK);
  hdb__alloc_fail_after(0);
  st = hdb__filter_eval(e, recs[0], &matched, &err);
  hdb__alloc_fail_after(-1);
  assert_int_equal(st, HDB_OK);
  assert_int_equal(matched, 1);
  hdb__expr_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_both_syntaxes),
      cmocka_unit_test(test_keywords_case_and_quoting),
      cmocka_unit_test(test_null_semantics),
      cmocka_unit_test(test_json_paths),
      cmocka_unit_test(test_json_walker_edges),
      cmocka_unit_test(test_like),
      cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_to_text),
      cmocka_unit_test(test_text_errors),
      cmocka_unit_test(test_json_errors),
      cmocka_unit_test(test_nesting_limit),
      cmocka_unit_test(test_bind),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, setup_records, teardown_records);
}
