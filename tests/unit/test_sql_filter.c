/*
 * test_sql_filter.c - differential test of the filter-to-SQL translator
 * (backends/sql/sql_filter.c) against core's evaluator.
 *
 * Two datasets, stored exactly as the sqlite:// backend stores them (a
 * typed table; a schemaless table with hdb__sql_doc_encode documents), go
 * into a real in-memory SQLite database and stay in memory as conformed
 * records. Thousands of filters, generated from every operator, many
 * field kinds (typed columns, json paths, absent fields, the id, blobs,
 * vectors) and awkward literals (int64 extremes, 2^53 + 1, floats,
 * strings with quotes, backslashes, %, _, SQL keywords, non-ASCII text,
 * RFC 3339 text), alone and combined with AND/OR/NOT, are each run both
 * ways: the ids SQLite returns for "SELECT id FROM t WHERE <translation>"
 * must be exactly the ids hdb__filter_match accepts. A filter the
 * translator refuses (HDB_NOT_SUPPORTED) is counted; the test asserts it
 * stays rare. Postgres and DuckDB translations are checked to build.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "backends/sql/sql.h"
#include "backends/sqlite/sqlite.h"
#include "core/filter.h"
#include "core/record.h"
#include "core/schema.h"

#define NREC 32

static hdb_record *recs[NREC];
static size_t nrec;

static void add(hdb_record *r) { recs[nrec++] = r; }

static hdb_record *rec(const char *id) { return hdb_record_new(id); }

/* ---- typed dataset ---- */

static const char *typed_schema =
    "{\"i\":\"int\",\"f\":\"float\",\"t\":\"text\",\"b\":\"bool\",\"ts\":\"timestamp\",\"j\":\"json\","
    "\"bl\":\"blob\",\"v\":\"vector(2)\"}";

static void typed_rows(void) {
  float v1[2] = {1, 0}, v2[2] = {0.5f, -2};
  hdb_record *r = rec("r1");
  hdb_record_set_int(r, "i", 1);
  hdb_record_set_float(r, "f", 1.0);
  hdb_record_set_text(r, "t", "a");
  hdb_record_set_bool(r, "b", 1);
  hdb_record_set_timestamp(r, "ts", 1000);
  hdb_record_set_json(r, "j", "{\"a\":1,\"n\":1.5,\"s\":\"5\",\"b\":true,\"o\":{\"x\":\"y\"}}");
  hdb_record_set_blob(r, "bl", "\0\1", 2);
  hdb_record_set_vector(r, "v", v1, 2);
  add(r);
  r = rec("r2");
  hdb_record_set_int(r, "i", -1);
  hdb_record_set_float(r, "f", -2.5);
  hdb_record_set_text(r, "t", "A");
  hdb_record_set_bool(r, "b", 0);
  hdb_record_set_timestamp(r, "ts", -5);
  hdb_record_set_json(r, "j", "{\"a\":\"1\",\"n\":null,\"s\":5,\"arr\":[1,2],\"b\":false}");
  hdb_record_set_vector(r, "v", v2, 2);
  add(r);
  add(rec("r3")); /* everything null */
  r = rec("r4");
  hdb_record_set_int(r, "i", 9007199254740993LL);
  hdb_record_set_float(r, "f", 9007199254740992.0);
  hdb_record_set_text(r, "t", "it's");
  hdb_record_set_json(r, "j", "{\"a\":{\"b\":2},\"s\":\"it's\"}");
  add(r);
  r = rec("r5");
  hdb_record_set_int(r, "i", INT64_MAX);
  hdb_record_set_float(r, "f", 1e300);
  hdb_record_set_text(r, "t", "%_\\");
  hdb_record_set_json(r, "j", "[1,2]");
  hdb_record_set_timestamp(r, "ts", 1704067200000000LL);
  add(r);
  r = rec("r6");
  hdb_record_set_int(r, "i", INT64_MIN);
  hdb_record_set_float(r, "f", -0.0);
  hdb_record_set_text(r, "t", "\xc3\xa9t\xc3\xa9");
  hdb_record_set_json(r, "j", "\"str\"");
  hdb_record_set_bool(r, "b", 1);
  add(r);
  r = rec("r7");
  hdb_record_set_int(r, "i", 2);
  hdb_record_set_float(r, "f", 2.0);
  hdb_record_set_text(r, "t", "");
  hdb_record_set_json(r, "j", "{\"a\":2.0,\"s\":\"\",\"b\":false,\"n\":9007199254740993}");
  hdb_record_set_timestamp(r, "ts", 1704067200000001LL);
  add(r);
  r = rec("r8");
  hdb_record_set_text(r, "t", "a_b");
  hdb_record_set_json(r, "j", "{\"a\":1e2,\"s\":\"a%b\",\"o\":{\"x\":null}}");
  hdb_record_set_float(r, "f", 0.1);
  add(r);
  r = rec("r9");
  hdb_record_set_text(r, "t", "ab\\c");
  hdb_record_set_json(r, "j", "{\"k\\\"q\":1,\"a.b\":3,\"s\":\"ab\\\\c\"}");
  hdb_record_set_int(r, "i", 0);
  add(r);
  r = rec("x'; DROP TABLE t; --");
  hdb_record_set_text(r, "t", "x'; DROP TABLE t; --");
  hdb_record_set_json(r, "j", "{\"s\":\"SELECT\",\"a\":-1}");
  hdb_record_set_float(r, "f", 2.5);
  hdb_record_set_int(r, "i", 3);
  add(r);
  r = rec("r11");
  hdb_record_set_text(r, "t", "ABC");
  hdb_record_set_text(r, "t", "abc");
  hdb_record_set_json(r, "j", "{\"s\":\"A\",\"a\":true}");
  hdb_record_set_float(r, "f", 0.5);
  add(r);
}

/* ---- schemaless dataset ---- */

static void free_rows(void) {
  for (size_t i = 0; i < nrec; i++) hdb_record_free(recs[i]);
  nrec = 0;
}

static void schemaless_rows(void) {
  float v1[3] = {1, 2, 3};
  hdb_record *r = rec("s1");
  hdb_record_set_int(r, "x", 1);
  hdb_record_set_text(r, "y", "a");
  hdb_record_set_json(r, "m", "{\"k\":1,\"s\":\"v\"}");
  add(r);
  r = rec("s2");
  hdb_record_set_text(r, "x", "1");
  hdb_record_set_float(r, "y", 1.5);
  hdb_record_set_json(r, "m", "5");
  add(r);
  r = rec("s3");
  hdb_record_set_timestamp(r, "x", 1000);
  hdb_record_set_bool(r, "y", 1);
  hdb_record_set_json(r, "m", "{\"k\":\"1\",\"o\":{\"p\":[1]}}");
  add(r);
  r = rec("s4");
  hdb_record_set_vector(r, "x", v1, 3);
  hdb_record_set_null(r, "y");
  hdb_record_set_json(r, "m", "{\"$ts\":5}");
  add(r);
  r = rec("s5");
  hdb_record_set_blob(r, "x", "ab", 2);
  hdb_record_set_float(r, "y", 2.0);
  hdb_record_set_json(r, "m", "null");
  add(r);
  r = rec("s6");
  hdb_record_set_timestamp(r, "x", 1704067200000000LL);
  hdb_record_set_int(r, "y", 9007199254740993LL);
  hdb_record_set_json(r, "m", "\"str\"");
  add(r);
  r = rec("s7");
  hdb_record_set_float(r, "x", 1.0);
  hdb_record_set_bool(r, "y", 0);
  hdb_record_set_json(r, "m", "{\"k\":null}");
  add(r);
  add(rec("s8"));
  r = rec("s9");
  hdb_record_set_json(r, "x", "{\"a\":1}");
  hdb_record_set_text(r, "y", "it's");
  add(r);
}

/* ---- storing them in SQLite ---- */

static sqlite3 *db;

static void exec(const char *sql) {
  char *msg = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) fail_msg("%s: %s", sql, msg ? msg : "?");
}

static void store(const hdb_schema *s) {
  exec("DROP TABLE IF EXISTS t");
  hdb__sql_buf b = {0};
  hdb__sql_buf_append(&b, "CREATE TABLE t(\"id\" TEXT PRIMARY KEY");
  if (s) {
    for (size_t i = 0; i < s->n; i++) {
      hdb__sql_buf_append(&b, ", ");
      hdb__sql_buf_name(&b, HDB__SQL_SQLITE, s->cols[i].name);
      hdb__sql_buf_appendf(&b, " %s", hdb__sql_column_type(HDB__SQL_SQLITE, s->cols[i].type, 0));
    }
  } else {
    hdb__sql_buf_append(&b, ", \"doc\" TEXT");
  }
  hdb__sql_buf_append(&b, ")");
  exec(b.s);
  hdb__sql_buf_free(&b);
  for (size_t r = 0; r < nrec; r++) {
    hdb_error err;
    assert_int_equal(hdb__schema_conform(s, "t", recs[r], 1, &err), HDB_OK);
    sqlite3_stmt *st;
    size_t n = s ? s->n : 1;
    hdb__sql_buf_append(&b, "INSERT INTO t VALUES(?");
    for (size_t i = 0; i < n; i++) hdb__sql_buf_append(&b, ",?");
    hdb__sql_buf_append(&b, ")");
    assert_int_equal(sqlite3_prepare_v2(db, b.s, -1, &st, NULL), SQLITE_OK);
    hdb__sql_buf_free(&b);
    sqlite3_bind_text(st, 1, recs[r]->id, -1, SQLITE_STATIC);
    char *doc = NULL;
    if (s) {
      for (size_t i = 0; i < n; i++) {
        const hdb_value *v = hdb__record_value(recs[r], s->cols[i].name);
        if (v) hdb__sq_bind_value(st, 2 + (int)i, v);
      }
    } else {
      assert_int_equal(hdb__sql_doc_encode(recs[r], &doc, NULL), HDB_OK);
      sqlite3_bind_text(st, 2, doc, -1, SQLITE_STATIC);
    }
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    hdb_free(doc);
  }
}

/* ---- the comparison ---- */

static size_t n_checked, n_unsupported, n_parse_errors;

/* Sorted, comma-joined ids (fixed buffer; ids are short). */
static void ids_expected(const hdb__expr *e, char *out) {
  out[0] = 0;
  const char *sel[NREC];
  size_t k = 0;
  for (size_t i = 0; i < nrec; i++)
    if (hdb__filter_match(e, recs[i])) sel[k++] = recs[i]->id;
  for (size_t i = 1; i < k; i++)
    for (size_t j = i; j > 0 && strcmp(sel[j - 1], sel[j]) > 0; j--) {
      const char *tmp = sel[j];
      sel[j] = sel[j - 1];
      sel[j - 1] = tmp;
    }
  for (size_t i = 0; i < k; i++) {
    if (i) strcat(out, ",");
    strcat(out, sel[i]);
  }
}

static void check_filter(const char *text, const hdb_schema *s) {
  hdb__expr *e = NULL;
  hdb_error err;
  if (hdb__filter_parse(text, &e, &err) != HDB_OK) {
    n_parse_errors++;
    return;
  }
  char want[4096], got[4096];
  ids_expected(e, want);
  hdb__sql_buf w = {0};
  hdb__sql_params p = {0};
  hdb_status rc = hdb__sql_where(e, s, s ? NULL : "doc", HDB__SQL_SQLITE, &w, &p, &err);
  if (rc == HDB_NOT_SUPPORTED) {
    n_unsupported++;
  } else {
    assert_int_equal(rc, HDB_OK);
    char *sql = sqlite3_mprintf("SELECT id FROM t WHERE %s ORDER BY id", w.s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
      fail_msg("filter %s: SQL %s does not prepare: %s", text, sql, sqlite3_errmsg(db));
    assert_int_equal(hdb__sq_bind_params(st, &p, 1), SQLITE_OK);
    got[0] = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
      if (got[0]) strcat(got, ",");
      strcat(got, (const char *)sqlite3_column_text(st, 0));
    }
    if (src != SQLITE_DONE) fail_msg("filter %s: SQL %s fails: %s", text, sql, sqlite3_errmsg(db));
    if (strcmp(want, got) != 0)
      fail_msg("filter %s%s\n  SQL  %s\n  evaluator: [%s]\n  sqlite:    [%s]", text, s ? "" : " (schemaless)", sql,
               want, got);
    sqlite3_finalize(st);
    sqlite3_free(sql);
    n_checked++;
  }
  /* The other dialects build too (they run against their servers in
   * their own backends' tests). */
  for (int d = HDB__SQL_POSTGRES; d <= HDB__SQL_DUCKDB; d++) {
    hdb__sql_buf w2 = {0};
    hdb__sql_params p2 = {0};
    hdb_status r2 = hdb__sql_where(e, s, s ? NULL : "doc", (hdb__sql_dialect)d, &w2, &p2, &err);
    assert_true(r2 == HDB_OK || r2 == HDB_NOT_SUPPORTED);
    hdb__sql_buf_free(&w2);
    hdb__sql_params_free(&p2);
  }
  hdb__sql_buf_free(&w);
  hdb__sql_params_free(&p);
  hdb__expr_free(e);
}

/* splitmix64: deterministic combinations. */
static uint64_t rng = 42;
static uint64_t next_rand(void) {
  uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static const char *const lits[] = {"0",     "1",          "-1",   "2",      "2.5",  "2.0",   "1.5",
                                   "0.1",   "9007199254740993", "9007199254740992", "9223372036854775807",
                                   "-9223372036854775808", "1e300", "1e19", "-0.0", "'a'", "'A'", "''",
                                   "'5'",   "'1'",  "'it''s'", "'%_\\'", "'ab\\c'", "'\xc3\xa9t\xc3\xa9'",
                                   "'x''; DROP TABLE t; --'", "'SELECT'", "true",  "false",
                                   "'2024-01-01T00:00:00Z'", "'1970-01-01T00:00:00.001Z'", "1000",
                                   "1704067200000000", "'str'", "'y'", "'v'"};
static const char *const likes[] = {"'a%'", "'%a%'", "'_'", "'%'", "'A%'", "'a\\_b'", "'a_b'", "'%\\%%'",
                                    "'ab\\\\c'", "'ab\\c'", "'%\\'", "'\\'", "'_t_'", "'\xc3\xa9%'",
                                    "'it''s'", "'x%--'", "'%b'", "''"};
static const char *const ops[] = {"=", "!=", "<", "<=", ">", ">="};

static void gen_atom(char *out, size_t cap, const char *const *fields, size_t nf) {
  const char *f = fields[next_rand() % nf];
  const size_t nl = sizeof lits / sizeof *lits;
  switch (next_rand() % 9) {
  case 0:
  case 1:
  case 2:
    snprintf(out, cap, "%s %s %s", f, ops[next_rand() % 6], lits[next_rand() % nl]);
    break;
  case 3:
    snprintf(out, cap, "%s %sIN (%s, %s%s)", f, next_rand() % 2 ? "NOT " : "", lits[next_rand() % nl],
             lits[next_rand() % nl], next_rand() % 3 ? "" : ", null");
    break;
  case 4:
    snprintf(out, cap, "%s %sBETWEEN %s AND %s", f, next_rand() % 2 ? "NOT " : "", lits[next_rand() % nl],
             lits[next_rand() % nl]);
    break;
  case 5:
  case 6:
    snprintf(out, cap, "%s %sLIKE %s", f, next_rand() % 2 ? "NOT " : "",
             likes[next_rand() % (sizeof likes / sizeof *likes)]);
    break;
  case 7: snprintf(out, cap, "%s IS %sNULL", f, next_rand() % 2 ? "NOT " : ""); break;
  default: snprintf(out, cap, "%sEXISTS %s", next_rand() % 2 ? "NOT " : "", f); break;
  }
}

static void run_dataset(const hdb_schema *s, const char *const *fields, size_t nf, int rounds) {
  store(s);
  char a[256], b[256], c[900];
  /* Every field with every operator and literal once. */
  const size_t nl = sizeof lits / sizeof *lits;
  for (size_t fi = 0; fi < nf; fi++) {
    for (size_t o = 0; o < 6; o++)
      for (size_t l = 0; l < nl; l++) {
        snprintf(c, sizeof c, "%s %s %s", fields[fi], ops[o], lits[l]);
        check_filter(c, s);
      }
    for (size_t l = 0; l < sizeof likes / sizeof *likes; l++) {
      snprintf(c, sizeof c, "%s LIKE %s", fields[fi], likes[l]);
      check_filter(c, s);
    }
    snprintf(c, sizeof c, "%s IS NULL", fields[fi]);
    check_filter(c, s);
    snprintf(c, sizeof c, "EXISTS %s", fields[fi]);
    check_filter(c, s);
    snprintf(c, sizeof c, "NOT EXISTS %s", fields[fi]);
    check_filter(c, s);
    snprintf(c, sizeof c, "%s", fields[fi]);
    check_filter(c, s);
  }
  /* Random combinations. */
  for (int r = 0; r < rounds; r++) {
    gen_atom(a, sizeof a, fields, nf);
    gen_atom(b, sizeof b, fields, nf);
    switch (next_rand() % 5) {
    case 0: snprintf(c, sizeof c, "%s", a); break;
    case 1: snprintf(c, sizeof c, "NOT (%s)", a); break;
    case 2: snprintf(c, sizeof c, "(%s) AND NOT (%s)", a, b); break;
    case 3: snprintf(c, sizeof c, "NOT ((%s) OR (%s))", a, b); break;
    default: snprintf(c, sizeof c, "(%s) OR (%s)", a, b); break;
    }
    check_filter(c, s);
  }
}

static void test_typed_differential(void **state) {
  (void)state;
  hdb_schema *s = NULL;
  hdb_error err;
  assert_int_equal(hdb_schema_from_json(typed_schema, &s, &err), HDB_OK);
  free_rows();
  typed_rows();
  static const char *const fields[] = {"i", "f", "t", "b", "ts", "j", "j.a", "j.n", "j.s", "j.b", "j.o",
                                       "j.o.x", "j.arr", "j.nope", "j.a.b", "j.\"a.b\"", "j.\"k\"\"q\"",
                                       "bl", "v", "id", "nosuch", "t.x"};
  n_checked = n_unsupported = n_parse_errors = 0;
  run_dataset(s, fields, sizeof fields / sizeof *fields, 6000);
  printf("typed: %zu filters compared, %zu not translated, %zu not parsed\n", n_checked, n_unsupported,
         n_parse_errors);
  assert_true(n_checked > 8000);
  assert_true(n_unsupported * 10 < n_checked);
  free_rows();
  hdb_schema_free(s);
}

static void test_schemaless_differential(void **state) {
  (void)state;
  free_rows();
  schemaless_rows();
  static const char *const fields[] = {"x", "y", "m", "m.k", "m.s", "m.o", "m.o.p", "m.\"$ts\"", "x.a",
                                       "id", "nosuch"};
  n_checked = n_unsupported = n_parse_errors = 0;
  run_dataset(NULL, fields, sizeof fields / sizeof *fields, 4000);
  printf("schemaless: %zu filters compared, %zu not translated, %zu not parsed\n", n_checked, n_unsupported,
         n_parse_errors);
  assert_true(n_checked > 4000);
  assert_true(n_unsupported * 10 < n_checked);
  free_rows();
}

/* The document round trip keeps every type and byte. */
static void test_doc_roundtrip(void **state) {
  (void)state;
  float v[3] = {1.5f, -0.0f, 3.25e-7f};
  hdb_record *r = rec("d1");
  hdb_record_set_int(r, "i", INT64_MIN);
  hdb_record_set_float(r, "f", 1.0);
  hdb_record_set_text(r, "t", "q\"\\\n");
  hdb_record_set_bool(r, "b", 0);
  hdb_record_set_blob(r, "bl", "\0\xff", 2);
  hdb_record_set_timestamp(r, "ts", -1);
  hdb_record_set_json(r, "j", "{\"$base64\":\"AA==\"}");
  hdb_record_set_json(r, "j2", "1e5");
  hdb_record_set_vector(r, "v", v, 3);
  hdb_record_set_null(r, "n");
  char *doc = NULL;
  size_t len = 0;
  assert_int_equal(hdb__sql_doc_encode(r, &doc, &len), HDB_OK);
  hdb_record *back = NULL;
  hdb_error err;
  assert_int_equal(hdb__sql_doc_decode("d1", doc, len, &back, &err), HDB_OK);
  assert_int_equal(back->n, r->n);
  for (size_t i = 0; i < r->n; i++) {
    hdb_value a = r->fields[i].value, b = back->fields[i].value;
    assert_string_equal(r->fields[i].name, back->fields[i].name);
    assert_int_equal(a.type, b.type);
    switch (a.type) {
    case HDB_TYPE_INT: assert_true(a.as.i == b.as.i); break;
    case HDB_TYPE_FLOAT: assert_memory_equal(&a.as.f, &b.as.f, sizeof a.as.f); break;
    case HDB_TYPE_TIMESTAMP: assert_true(a.as.timestamp_us == b.as.timestamp_us); break;
    case HDB_TYPE_BOOL: assert_int_equal(a.as.boolean, b.as.boolean); break;
    case HDB_TYPE_TEXT:
    case HDB_TYPE_JSON:
      assert_int_equal(a.as.text.len, b.as.text.len);
      assert_memory_equal(a.as.text.data, b.as.text.data, a.as.text.len);
      break;
    case HDB_TYPE_BLOB:
      assert_int_equal(a.as.blob.len, b.as.blob.len);
      assert_memory_equal(a.as.blob.data, b.as.blob.data, a.as.blob.len);
      break;
    case HDB_TYPE_VECTOR:
      assert_int_equal(a.as.vector.dim, b.as.vector.dim);
      assert_memory_equal(a.as.vector.data, b.as.vector.data, 4 * a.as.vector.dim);
      break;
    default: break;
    }
  }
  hdb_record_free(back);
  hdb_record_free(r);
  hdb_free(doc);
  assert_int_equal(hdb__sql_doc_decode("bad", "[1]", 3, &back, &err), HDB_CORRUPT);
}

/* Identifier quoting, case mapping, placeholders and column types. */
static void test_buf_and_types(void **state) {
  (void)state;
  hdb__sql_buf b = {0};
  hdb__sql_buf_ident(&b, "a\"b");
  hdb__sql_buf_append(&b, " ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, "cf_tB");
  hdb__sql_buf_append(&b, " ");
  hdb__sql_buf_name(&b, HDB__SQL_POSTGRES, "cf_tB");
  assert_string_equal(b.s, "\"a\"\"b\" \"cf_t^b\" \"cf_tB\"");
  hdb__sql_buf_free(&b);
  hdb__sql_params p = {0};
  hdb_value v = {.type = HDB_TYPE_INT};
  hdb__sql_param(&b, &p, HDB__SQL_POSTGRES, &v);
  hdb__sql_param_textn(&b, &p, HDB__SQL_POSTGRES, "x", 1);
  hdb__sql_param_int(&b, &p, HDB__SQL_SQLITE, 5);
  assert_string_equal(b.s, "$1$2?");
  assert_int_equal(p.n, 3);
  assert_int_equal(hdb__sql_params_status(&p, NULL), HDB_OK);
  hdb__sql_params_free(&p);
  hdb__sql_buf_free(&b);
  char buf[32];
  assert_string_equal(hdb__sql_column_type(HDB__SQL_SQLITE, HDB_TYPE_VECTOR, 3), "BLOB");
  assert_string_equal(hdb__sql_column_type(HDB__SQL_POSTGRES, HDB_TYPE_TEXT, 0), "TEXT COLLATE \"C\"");
  assert_string_equal(hdb__sql_column_type_buf(HDB__SQL_DUCKDB, HDB_TYPE_VECTOR, 384, buf, sizeof buf),
                      "FLOAT[384]");
  assert_string_equal(hdb__sql_column_type(HDB__SQL_DUCKDB, HDB_TYPE_JSON, 0), "JSON");
  float f[2] = {1.0f, -2.0f}, back[2];
  void *owned = NULL;
  const void *blob = hdb__sql_vector_blob(f, 2, &owned);
  hdb__sql_vector_read(blob, 2, back);
  assert_memory_equal(f, back, sizeof f);
  hdb_free(owned);
}

int main(void) {
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buf_and_types),
      cmocka_unit_test(test_doc_roundtrip),
      cmocka_unit_test(test_typed_differential),
      cmocka_unit_test(test_schemaless_differential),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  free_rows();
  sqlite3_close(db);
  return rc;
}
