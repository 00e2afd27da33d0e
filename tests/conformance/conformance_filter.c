/*
 * conformance_filter.c - every filter operator, in the text and the JSON
 * syntax, on one fixed ten-row dataset with nulls, a json column and a
 * timestamp column. Each case lists the exact ids (worked out by hand from
 * the dataset below, with SQL's three-valued logic); both forms must return
 * exactly those rows through hdb_query and the same number through
 * hdb_count.
 */
#include "conformance_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILT_TABLE "cf_filt"
#define FILT_SCHEMA                                                                       \
  "{\"type\":\"text\",\"year\":\"int\",\"score\":\"float\",\"tag\":\"text\","             \
  "\"archived\":\"bool\",\"meta\":\"json\",\"ts\":\"timestamp\",\"name\":\"text\"}"

/* NULLs in the table below: a field left null. */
typedef struct frow {
  const char *id;
  const char *type;
  int has_year;
  int year;
  int has_score;
  double score;
  const char *tag;
  int archived; /* -1: null */
  const char *meta;
  int64_t ts; /* 0: null (no row uses the epoch itself) */
  const char *name;
} frow;

static const frow rows[] = {
    {"r01", "test", 1, 2021, 1, 1.5, "a", 0, "{\"lang\":\"en\",\"n\":1,\"deep\":{\"x\":\"y\"}}",
     1704067200000000LL, "apple"},
    {"r02", "test", 1, 2019, 1, 2.0, "b", 0, "{\"lang\":\"en\"}", 1686830400000000LL, "apricot"},
    {"r03", "test", 1, 2018, 1, 3.25, "c'd", 0, "{\"lang\":\"fr\"}", 1640995200000000LL, "banana"},
    {"r04", "test", 1, 2022, 0, 0, "c", 1, "{\"lang\":\"en\"}", 0, "a_b"},
    {"r05", "prod", 1, 2020, 1, 2.0, "a", 0, "{\"lang\":\"en\"}", 1709251200000000LL,
     "ch\xc3\xa9rry"},
    {"r06", "prod", 0, 0, 1, 0.5, NULL, -1, NULL, 1609459200000000LL, NULL},
    {"r07", NULL, 1, 2020, 1, -1.0, "b", 0, "{\"lang\":\"de\",\"n\":2}", 1582934400000000LL,
     "a%b"},
    {"r08", "test", 1, 2020, 1, 2020.0, "d", 0, "{\"lang\":\"en\",\"n\":null}",
     1704067199999999LL, "grape"},
    {"r09", "test", 1, 2023, 1, 10.0, "b", -1, "{}", 1735689600000000LL, "Apple"},
    {"r10", "TEST", 1, 2021, 1, 1e10, "a", 0, "{\"lang\":\"EN\"}", 1577836799000000LL,
     "pineapple"},
};
#define N_ROWS (sizeof rows / sizeof rows[0])

typedef struct fcase {
  const char *text; /* text form */
  const char *json; /* JSON form, NULL when the case has none */
  const char *ids;  /* expected ids, sorted, comma-joined */
} fcase;

#define ALL "r01,r02,r03,r04,r05,r06,r07,r08,r09,r10"

static const fcase cases[] = {
    /* The example. */
    {"type = 'test' AND (year >= 2020 OR tag IN ('a','b')) AND NOT archived AND meta.lang = 'en'",
     "{\"type\":\"test\",\"$or\":[{\"year\":{\"$gte\":2020}},{\"tag\":{\"$in\":[\"a\",\"b\"]}}],"
     "\"$not\":{\"archived\":true},\"meta.lang\":\"en\"}",
     "r01,r02,r08"},
    /* Everything. */
    {"", "{}", ALL},
    /* Comparisons on an int column (r06 has a null year). */
    {"year = 2020", "{\"year\":2020}", "r05,r07,r08"},
    {"year = 2020", "{\"year\":{\"$eq\":2020}}", "r05,r07,r08"},
    {"year != 2020", "{\"year\":{\"$ne\":2020}}", "r01,r02,r03,r04,r09,r10"},
    {"year <> 2020", NULL, "r01,r02,r03,r04,r09,r10"},
    {"year < 2020", "{\"year\":{\"$lt\":2020}}", "r02,r03"},
    {"year <= 2020", "{\"year\":{\"$lte\":2020}}", "r02,r03,r05,r07,r08"},
    {"year > 2021", "{\"year\":{\"$gt\":2021}}", "r04,r09"},
    {"year >= 2021", "{\"year\":{\"$gte\":2021}}", "r01,r04,r09,r10"},
    {"year IN (2018, 2023)", "{\"year\":{\"$in\":[2018,2023]}}", "r03,r09"},
    {"year NOT IN (2018, 2023)", "{\"year\":{\"$nin\":[2018,2023]}}", "r01,r02,r04,r05,r07,r08,r10"},
    {"year BETWEEN 2019 AND 2021", "{\"year\":{\"$between\":[2019,2021]}}",
     "r01,r02,r05,r07,r08,r10"},
    {"year NOT BETWEEN 2019 AND 2021", "{\"$not\":{\"year\":{\"$between\":[2019,2021]}}}",
     "r03,r04,r09"},
    {"\"year\" = 2020", "{\"year\":{\"$gte\":2020,\"$lte\":2020}}", "r05,r07,r08"},
    /* Numbers compare by value across int and float. */
    {"year = 2020.0", "{\"year\":2020.0}", "r05,r07,r08"},
    {"year < 2020.5", "{\"year\":{\"$lt\":2020.5}}", "r02,r03,r05,r07,r08"},
    {"score = 2", "{\"score\":2}", "r02,r05"},
    {"score > 2", "{\"score\":{\"$gt\":2}}", "r03,r08,r09,r10"},
    {"score BETWEEN 0 AND 2", "{\"score\":{\"$between\":[0,2]}}", "r01,r02,r05,r06"},
    {"score <= -1", "{\"score\":{\"$lte\":-1}}", "r07"},
    {"score IN (2, 10)", "{\"score\":{\"$in\":[2,10]}}", "r02,r05,r09"},
    {"score >= 1e10", "{\"score\":{\"$gte\":1e10}}", "r10"},
    {"score = 2020 AND year = 2020.0", NULL, "r08"},
    /* Text compares by bytes; '' is a quote. */
    {"type = 'test'", "{\"type\":\"test\"}", "r01,r02,r03,r04,r08,r09"},
    {"type != 'test'", "{\"type\":{\"$ne\":\"test\"}}", "r05,r06,r10"},
    {"type > 'prod'", "{\"type\":{\"$gt\":\"prod\"}}", "r01,r02,r03,r04,r08,r09"},
    {"tag < 'b'", "{\"tag\":{\"$lt\":\"b\"}}", "r01,r05,r10"},
    {"tag = 'c''d'", "{\"tag\":\"c'd\"}", "r03"},
    {"tag = 'c'", "{\"tag\":\"c\"}", "r04"},
    {"tag IN ('a','b')", "{\"tag\":{\"$in\":[\"a\",\"b\"]}}", "r01,r02,r05,r07,r09,r10"},
    {"tag IN ('a', null)", "{\"tag\":{\"$in\":[\"a\",null]}}", "r01,r05,r10"},
    {"tag NOT IN ('a','b')", "{\"tag\":{\"$nin\":[\"a\",\"b\"]}}", "r03,r04,r08"},
    {"tag NOT IN ('a', null)", "{\"tag\":{\"$nin\":[\"a\",null]}}", ""},
    {"name = 'ch\xc3\xa9rry'", "{\"name\":\"ch\xc3\xa9rry\"}", "r05"},
    {"name > 'cherry'", "{\"name\":{\"$gt\":\"cherry\"}}", "r05,r08,r10"},
    {"name >= 'apricot'", "{\"name\":{\"$gte\":\"apricot\"}}", "r02,r03,r05,r08,r10"},
    /* LIKE: % any run, _ one character (a code point), \ escapes; case matters. */
    {"name LIKE 'ap%'", "{\"name\":{\"$like\":\"ap%\"}}", "r01,r02"},
    {"name LIKE '%apple'", "{\"name\":{\"$like\":\"%apple\"}}", "r01,r10"},
    {"name LIKE '%an%'", "{\"name\":{\"$like\":\"%an%\"}}", "r03"},
    {"name LIKE 'a_b'", "{\"name\":{\"$like\":\"a_b\"}}", "r04,r07"},
    {"name LIKE 'a\\_b'", "{\"name\":{\"$like\":\"a\\\\_b\"}}", "r04"},
    {"name LIKE 'a\\%b'", "{\"name\":{\"$like\":\"a\\\\%b\"}}", "r07"},
    {"name LIKE '_____'", "{\"name\":{\"$like\":\"_____\"}}", "r01,r08,r09"},
    {"name LIKE 'ch_rry'", "{\"name\":{\"$like\":\"ch_rry\"}}", "r05"},
    {"name LIKE '%'", "{\"name\":{\"$like\":\"%\"}}", "r01,r02,r03,r04,r05,r07,r08,r09,r10"},
    {"name NOT LIKE 'ap%'", "{\"$not\":{\"name\":{\"$like\":\"ap%\"}}}",
     "r03,r04,r05,r07,r08,r09,r10"},
    /* Nulls. */
    {"tag IS NULL", "{\"tag\":null}", "r06"},
    {"tag IS NOT NULL", "{\"tag\":{\"$exists\":true}}", "r01,r02,r03,r04,r05,r07,r08,r09,r10"},
    {"score IS NULL", "{\"score\":null}", "r04"},
    {"archived IS NULL", "{\"archived\":null}", "r06,r09"},
    {"type IS NULL", "{\"type\":null}", "r07"},
    {"ts IS NULL", "{\"ts\":null}", "r04"},
    {"meta IS NULL", "{\"meta\":null}", "r06"},
    {"meta.n IS NOT NULL", NULL, "r01,r07"},
    {"meta.n IS NULL", NULL, "r02,r03,r04,r05,r06,r08,r09,r10"},
    /* EXISTS: present and not null; for a json path, the key is present. */
    {"EXISTS score", "{\"score\":{\"$exists\":true}}", "r01,r02,r03,r05,r06,r07,r08,r09,r10"},
    {"NOT EXISTS score", "{\"score\":{\"$exists\":false}}", "r04"},
    {"EXISTS meta.n", "{\"meta.n\":{\"$exists\":true}}", "r01,r07,r08"},
    {"EXISTS meta.deep.x", "{\"meta.deep.x\":{\"$exists\":true}}", "r01"},
    {"EXISTS meta", "{\"meta\":{\"$exists\":true}}", "r01,r02,r03,r04,r05,r07,r08,r09,r10"},
    /* Booleans: a bare field means f = true. */
    {"archived", "{\"archived\":true}", "r04"},
    {"NOT archived", "{\"archived\":false}", "r01,r02,r03,r05,r07,r08,r10"},
    {"archived = false", "{\"archived\":{\"$eq\":false}}", "r01,r02,r03,r05,r07,r08,r10"},
    {"archived != true", "{\"archived\":{\"$ne\":true}}", "r01,r02,r03,r05,r07,r08,r10"},
    {"NOT NOT archived", "{\"$not\":{\"$not\":{\"archived\":true}}}", "r04"},
    /* Logic with SQL's three values. */
    {"type = 'prod' OR year = 2018", "{\"$or\":[{\"type\":\"prod\"},{\"year\":2018}]}",
     "r03,r05,r06"},
    {"NOT (type = 'test')", "{\"$not\":{\"type\":\"test\"}}", "r05,r06,r10"},
    {"(year >= 2020 AND tag = 'b') OR score < 0",
     "{\"$or\":[{\"year\":{\"$gte\":2020},\"tag\":\"b\"},{\"score\":{\"$lt\":0}}]}", "r07,r09"},
    {"NOT (year < 2020 OR tag = 'a')",
     "{\"$nor\":[{\"year\":{\"$lt\":2020}},{\"tag\":\"a\"}]}", "r04,r07,r08,r09"},
    {"NOT (type = 'test' OR type = 'prod')",
     "{\"$nor\":[{\"type\":\"test\"},{\"type\":\"prod\"}]}", "r10"},
    {"year > 2000 OR tag = 'zzz'", "{\"$or\":[{\"year\":{\"$gt\":2000}},{\"tag\":\"zzz\"}]}",
     "r01,r02,r03,r04,r05,r07,r08,r09,r10"},
    {"tag IS NULL OR year = 2018", "{\"$or\":[{\"tag\":null},{\"year\":2018}]}", "r03,r06"},
    {"year >= 2019 AND year <= 2020",
     "{\"$and\":[{\"year\":{\"$gte\":2019}},{\"year\":{\"$lte\":2020}}]}", "r02,r05,r07,r08"},
    {"type = 'test' AND year > 2020", "{\"type\":\"test\",\"year\":{\"$gt\":2020}}",
     "r01,r04,r09"},
    {"year between 2019 and 2021 and not archived", NULL, "r01,r02,r05,r07,r08,r10"},
    /* Dotted paths into the json column. */
    {"meta.lang = 'en'", "{\"meta.lang\":\"en\"}", "r01,r02,r04,r05,r08"},
    {"meta.deep.x = 'y'", "{\"meta.deep.x\":\"y\"}", "r01"},
    {"meta.n > 1", "{\"meta.n\":{\"$gt\":1}}", "r07"},
    {"meta.n = 1", "{\"meta.n\":1}", "r01"},
    {"meta.lang IN ('fr','de')", "{\"meta.lang\":{\"$in\":[\"fr\",\"de\"]}}", "r03,r07"},
    {"meta.lang != 'en'", "{\"meta.lang\":{\"$ne\":\"en\"}}", "r03,r07,r10"},
    {"meta.lang = 5", "{\"meta.lang\":5}", ""},
    /* "id" names the record id (no field may be called that). */
    {"id = 'r03'", "{\"id\":\"r03\"}", "r03"},
    {"id IN ('r01','r10','r99')", "{\"id\":{\"$in\":[\"r01\",\"r10\",\"r99\"]}}", "r01,r10"},
    {"id >= 'r08'", "{\"id\":{\"$gte\":\"r08\"}}", "r08,r09,r10"},
    {"id LIKE 'r0_' AND year = 2020", "{\"id\":{\"$like\":\"r0_\"},\"year\":2020}", "r05,r07,r08"},
    {"id IS NULL", "{\"id\":null}", ""},
    /* Timestamps against RFC 3339 text. */
    {"ts >= '2024-01-01T00:00:00Z'", "{\"ts\":{\"$gte\":\"2024-01-01T00:00:00Z\"}}",
     "r01,r05,r09"},
    {"ts > '2023-12-31T23:59:59.999998Z'", "{\"ts\":{\"$gt\":\"2023-12-31T23:59:59.999998Z\"}}",
     "r01,r05,r08,r09"},
    {"ts < '2020-03-01T00:00:00Z'", "{\"ts\":{\"$lt\":\"2020-03-01T00:00:00Z\"}}", "r07,r10"},
    {"ts = '2024-01-01T01:00:00+01:00'", "{\"ts\":\"2024-01-01T01:00:00+01:00\"}", "r01"},
    {"ts BETWEEN '2021-01-01T00:00:00Z' AND '2022-01-01T00:00:00Z'",
     "{\"ts\":{\"$between\":[\"2021-01-01T00:00:00Z\",\"2022-01-01T00:00:00Z\"]}}", "r03,r06"},
    {"ts != '2024-01-01T00:00:00Z'", "{\"ts\":{\"$ne\":\"2024-01-01T00:00:00Z\"}}",
     "r02,r03,r05,r06,r07,r08,r09,r10"},
    {"ts IN ('2020-02-29T00:00:00Z', '2025-01-01T00:00:00Z')",
     "{\"ts\":{\"$in\":[\"2020-02-29T00:00:00Z\",\"2025-01-01T00:00:00Z\"]}}", "r07,r09"},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void load_dataset(hdb *db) {
  CREATE_TABLE(db, FILT_TABLE, FILT_SCHEMA);
  hdb_record *recs[N_ROWS];
  for (size_t i = 0; i < N_ROWS; i++) {
    const frow *f = &rows[i];
    hdb_record *r = recs[i] = conf_rec(f->id);
    if (f->type) conf_set_text(r, "type", f->type);
    if (f->has_year) conf_set_int(r, "year", f->year);
    if (f->has_score) conf_set_float(r, "score", f->score);
    if (f->tag) conf_set_text(r, "tag", f->tag);
    if (f->archived >= 0) conf_set_bool(r, "archived", f->archived);
    if (f->meta) conf_set_json(r, "meta", f->meta);
    if (f->ts) conf_set_ts(r, "ts", f->ts);
    if (f->name) conf_set_text(r, "name", f->name);
  }
  INSERT_FREE(db, FILT_TABLE, recs, N_ROWS);
}

static size_t count_ids(const char *ids) {
  if (ids[0] == '\0') return 0;
  size_t n = 1;
  for (const char *p = ids; *p; p++) n += *p == ',';
  return n;
}

static int run_case(hdb *db, const char *filter, const char *want, const char *form) {
  hdb_query_options q = HDB_QUERY_INIT;
  q.filter = filter;
  hdb_cursor *c = NULL;
  hdb_status st = hdb_query(db, FILT_TABLE, &q, &c);
  if (st != HDB_OK) {
    print_error("  [%s] %s\n    -> %s: %s\n", form, filter, hdb_status_name(st), hdb_errmsg(db));
    return 1;
  }
  hdb_cursor_close(c);
  char *got = QUERY_IDS(db, FILT_TABLE, &q, 1);
  int bad = 0;
  if (strcmp(got, want) != 0) {
    print_error("  [%s] %s\n    got    {%s}\n    wanted {%s}\n", form, filter, got, want);
    bad = 1;
  }
  free(got);
  uint64_t n = 0;
  st = hdb_count(db, FILT_TABLE, filter, &n);
  if (st != HDB_OK || n != count_ids(want)) {
    print_error("  [%s] hdb_count(%s) -> %s, %llu; wanted %zu\n", form, filter,
                hdb_status_name(st), (unsigned long long)n, count_ids(want));
    bad = 1;
  }
  return bad;
}

static void test_filter_every_operator_both_syntaxes(void **state) {
  (void)state;
  hdb *db = conf_db;
  load_dataset(db);
  int failures = 0;
  for (size_t i = 0; i < N_CASES; i++) {
    failures += run_case(db, cases[i].text, cases[i].ids, "text");
    if (cases[i].json) failures += run_case(db, cases[i].json, cases[i].ids, "json");
  }
  if (failures) fail_msg("%d filter case(s) disagree with the expected rows", failures);
}

static void test_filter_null_and_empty_match_all(void **state) {
  (void)state;
  hdb *db = conf_db;
  load_dataset(db);
  char *ids = FILTER_IDS(db, FILT_TABLE, NULL);
  assert_string_equal(ids, ALL);
  free(ids);
  ids = FILTER_IDS(db, FILT_TABLE, "   ");
  assert_string_equal(ids, ALL);
  free(ids);
  assert_int_equal(COUNT(db, FILT_TABLE, NULL), N_ROWS);
  assert_int_equal(COUNT(db, FILT_TABLE, ""), N_ROWS);
  /* Whitespace before '{' still selects the JSON form. */
  ids = FILTER_IDS(db, FILT_TABLE, "  \n {\"year\":2018}");
  assert_string_equal(ids, "r03");
  free(ids);
}

static void test_filter_keywords_case_insensitive(void **state) {
  (void)state;
  hdb *db = conf_db;
  load_dataset(db);
  char *ids = FILTER_IDS(db, FILT_TABLE, "tag in ('a') or tag is null");
  assert_string_equal(ids, "r01,r05,r06,r10");
  free(ids);
  ids = FILTER_IDS(db, FILT_TABLE, "tag In ('a') Or tag Is Null");
  assert_string_equal(ids, "r01,r05,r06,r10");
  free(ids);
  ids = FILTER_IDS(db, FILT_TABLE, "year not between 2019 and 2021 and tag not in ('c') and "
                                   "name not like 'x%' and exists score and archived is not null");
  assert_string_equal(ids, "r03");
  free(ids);
  ids = FILTER_IDS(db, FILT_TABLE, "archived = TRUE OR archived = False");
  assert_string_equal(ids, "r01,r02,r03,r04,r05,r07,r08,r10");
  free(ids);
}

static void test_filter_type_mismatch_on_strict_table(void **state) {
  (void)state;
  hdb *db = conf_db;
  load_dataset(db);
  const char *const bad[] = {
      "year = 'abc'", "name > 5", "archived = 'yes'", "{\"year\":\"abc\"}",
      "{\"name\":{\"$gt\":5}}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint64_t n = 12345;
    hdb_status st = hdb_count(db, FILT_TABLE, bad[i], &n);
    if (st != HDB_TYPE_MISMATCH)
      fail_msg("filter %s: expected TYPE_MISMATCH, got %s: %s", bad[i], hdb_status_name(st),
               hdb_errmsg(db));
    hdb_cursor *c = NULL;
    hdb_query_options q = HDB_QUERY_INIT;
    q.filter = bad[i];
    st = hdb_query(db, FILT_TABLE, &q, &c);
    if (st == HDB_OK) {
      /* A backend may report it from the first next(). */
      const hdb_record *r;
      st = hdb_cursor_next(c, &r);
      hdb_cursor_close(c);
    }
    if (st != HDB_TYPE_MISMATCH)
      fail_msg("query with %s: expected TYPE_MISMATCH, got %s", bad[i], hdb_status_name(st));
  }
}

static void test_filter_unknown_field_strict(void **state) {
  (void)state;
  hdb *db = conf_db;
  load_dataset(db);
  const char *const bad[] = {"nosuch = 1", "year = 1 AND nosuch IS NULL", "{\"nosuch\":1}",
                             "EXISTS nosuch", "nosuch.path = 'x'"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint64_t n = 0;
    hdb_status st = hdb_count(db, FILT_TABLE, bad[i], &n);
    if (st != HDB_NO_FIELD)
      fail_msg("filter %s: expected NO_FIELD, got %s: %s", bad[i], hdb_status_name(st),
               hdb_errmsg(db));
    EXPECT_MSG(db, "nosuch");
  }
  /* A dotted path into a non-json column is not a field either. */
  uint64_t n = 0;
  hdb_status st = hdb_count(db, FILT_TABLE, "name.x = 'a'", &n);
  if (st != HDB_NO_FIELD && st != HDB_TYPE_MISMATCH && st != HDB_BAD_FILTER)
    fail_msg("filter name.x = 'a': expected an error, got %s", hdb_status_name(st));
}

int conf_run_filter(void) {
  static const struct CMUnitTest tests[] = {
      CONF_T(test_filter_every_operator_both_syntaxes),
      CONF_T(test_filter_null_and_empty_match_all),
      CONF_T(test_filter_keywords_case_insensitive),
      CONF_T(test_filter_type_mismatch_on_strict_table),
      CONF_T(test_filter_unknown_field_strict),
  };
  return CONF_RUN_GROUP("filter", tests);
}
