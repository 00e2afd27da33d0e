/*
 * test_schema.c - hdb_schema: building, the JSON form (key order, every
 * parse error), type text, conforming records, allocation failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/alloc.h"
#include "core/record.h"
#include "core/schema.h"
#include "hanzodb.h"

static void test_build(void **state)
{
  (void)state;
  hdb_schema *s = hdb_schema_new();
  assert_non_null(s);
  assert_int_equal(hdb_schema_add(s, "text", HDB_TYPE_TEXT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "year", HDB_TYPE_INT), HDB_OK);
  assert_int_equal(hdb_schema_add_vector(s, "emb", 3, HDB_METRIC_DEFAULT), HDB_OK);
  assert_int_equal(hdb_schema_add_vector(s, "emb2", 2, HDB_METRIC_COSINE), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "year", HDB_TYPE_FLOAT), HDB_EXISTS);
  assert_int_equal(hdb_schema_add_vector(s, "year", 2, HDB_METRIC_L2), HDB_EXISTS);
  assert_int_equal(hdb_schema_add(s, "v", HDB_TYPE_VECTOR), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_add(s, "n", HDB_TYPE_NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_add(s, "n", (hdb_type)50), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_add(s, "1x", HDB_TYPE_INT), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_add(s, "_x", HDB_TYPE_INT), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_add(s, "id", HDB_TYPE_INT), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_add(s, NULL, HDB_TYPE_INT), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_add(NULL, "x", HDB_TYPE_INT), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_add_vector(s, "v", 0, HDB_METRIC_L2), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_add_vector(s, "v", HDB_MAX_VECTOR_DIM + 1, HDB_METRIC_L2),
                   HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_add_vector(s, "v", 4, (hdb_metric)9), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_add_vector(s, "max", HDB_MAX_VECTOR_DIM, HDB_METRIC_DOT), HDB_OK);
  assert_int_equal(hdb_schema_column_count(s), 5);
  hdb_column_info ci;
  assert_int_equal(hdb_schema_column(s, 2, &ci), HDB_OK);
  assert_string_equal(ci.name, "emb");
  assert_int_equal(ci.type, HDB_TYPE_VECTOR);
  assert_int_equal(ci.dim, 3);
  assert_int_equal(ci.metric, HDB_METRIC_L2); /* DEFAULT stored as L2 */
  assert_int_equal(hdb_schema_column(s, 0, &ci), HDB_OK);
  assert_int_equal(ci.dim, 0);
  assert_int_equal(ci.metric, HDB_METRIC_DEFAULT);
  assert_int_equal(hdb_schema_column(s, 5, &ci), HDB_NOT_FOUND);
  assert_int_equal(hdb_schema_column(s, 0, NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_find(s, "emb2"), 3);
  assert_int_equal(hdb_schema_find(s, "zz"), -1);
  assert_int_equal(hdb_schema_find(NULL, "zz"), -1);
  assert_int_equal(hdb_schema_column_count(NULL), 0);
  int nv = 0;
  assert_null(hdb__schema_sole_vector(s, &nv));
  assert_int_equal(nv, 3);
  assert_non_null(hdb__schema_column(s, "year"));
  assert_null(hdb__schema_column(s, "nope"));

  hdb_schema *c = hdb_schema_clone(s);
  assert_int_equal(hdb_schema_column_count(c), 5);
  assert_int_equal(hdb_schema_column(c, 3, &ci), HDB_OK);
  assert_string_equal(ci.name, "emb2");
  assert_int_equal(ci.metric, HDB_METRIC_COSINE);
  assert_null(hdb_schema_clone(NULL));
  hdb_schema_free(c);
  hdb_schema_free(s);
  hdb_schema_free(NULL);

  s = hdb_schema_new();
  assert_null(hdb__schema_sole_vector(s, &nv));
  assert_int_equal(nv, 0);
  hdb_schema_add_vector(s, "only", 2, HDB_METRIC_DOT);
  const hdb__column *sole = hdb__schema_sole_vector(s, NULL);
  assert_non_null(sole);
  assert_string_equal(sole->name, "only");
  hdb_schema_free(s);
}

static void test_json_roundtrip(void **state)
{
  (void)state;
  const char *in = "{\"text\":\"text\",\"year\":\"int\",\"embedding\":\"vector(384,cosine)\","
                   "\"image\":\"blob\",\"metadata\":\"json\",\"ok\":\"bool\",\"score\":\"float\","
                   "\"at\":\"timestamp\",\"v2\":\"vector(2)\",\"v3\":\"VECTOR( 7 , Dot )\"}";
  hdb_schema *s = NULL;
  hdb_error err;
  assert_int_equal(hdb_schema_from_json(in, &s, &err), HDB_OK);
  assert_int_equal(hdb_schema_column_count(s), 10);
  const char *order[] = {"text", "year", "embedding", "image", "metadata",
                         "ok",   "score", "at",       "v2",    "v3"};
  for (size_t i = 0; i < 10; i++) {
    hdb_column_info ci;
    hdb_schema_column(s, i, &ci);
    assert_string_equal(ci.name, order[i]);
  }
  char *out = NULL;
  assert_int_equal(hdb_schema_to_json(s, &out), HDB_OK);
  assert_string_equal(out, "{\"text\":\"text\",\"year\":\"int\",\"embedding\":\"vector(384,cosine)\","
                           "\"image\":\"blob\",\"metadata\":\"json\",\"ok\":\"bool\",\"score\":"
                           "\"float\",\"at\":\"timestamp\",\"v2\":\"vector(2,l2)\",\"v3\":"
                           "\"vector(7,dot)\"}");
  hdb_schema *again = NULL;
  assert_int_equal(hdb_schema_from_json(out, &again, &err), HDB_OK);
  char *out2 = NULL;
  assert_int_equal(hdb_schema_to_json(again, &out2), HDB_OK);
  assert_string_equal(out, out2);
  hdb_free(out);
  hdb_free(out2);
  hdb_schema_free(again);
  hdb_schema_free(s);
  /* the empty schema */
  assert_int_equal(hdb_schema_from_json(" {} ", &s, &err), HDB_OK);
  assert_int_equal(hdb_schema_column_count(s), 0);
  assert_int_equal(hdb_schema_to_json(s, &out), HDB_OK);
  assert_string_equal(out, "{}");
  hdb_free(out);
  hdb_schema_free(s);
  assert_int_equal(hdb_schema_to_json(NULL, &out), HDB_INVALID_ARGUMENT);
}

static void expect_error(const char *json, hdb_status code, const char *needle)
{
  hdb_schema *s = (hdb_schema *)1;
  hdb_error err;
  hdb_status st = hdb_schema_from_json(json, &s, &err);
  if (st != code)
    fail_msg("'%s': got %s (%s), expected %s", json, hdb_status_name(st), err.message,
             hdb_status_name(code));
  assert_null(s);
  assert_int_equal(err.code, code);
  if (needle != NULL && strstr(err.message, needle) == NULL)
    fail_msg("'%s': message '%s' lacks '%s'", json, err.message, needle);
}

static void test_json_errors(void **state)
{
  (void)state;
  expect_error("{\"e\":\"vector(0)\"}", HDB_BAD_SCHEMA, "column 'e'");
  expect_error("{\"e\":\"vector(70000)\"}", HDB_BAD_SCHEMA, "1..65536");
  expect_error("{\"e\":\"vector(65537)\"}", HDB_BAD_SCHEMA, "1..65536");
  expect_error("{\"e\":\"vector(99999999999999999999)\"}", HDB_BAD_SCHEMA, "1..65536");
  expect_error("{\"e\":\"vector(3,manhattan)\"}", HDB_BAD_SCHEMA, "unknown metric");
  expect_error("{\"e\":\"vector(3,)\"}", HDB_BAD_SCHEMA, "unknown metric");
  expect_error("{\"e\":\"vector()\"}", HDB_BAD_SCHEMA, "dimension");
  expect_error("{\"e\":\"vector(-3)\"}", HDB_BAD_SCHEMA, "dimension");
  expect_error("{\"e\":\"vector(3\"}", HDB_BAD_SCHEMA, NULL);
  expect_error("{\"e\":\"vector(3))\"}", HDB_BAD_SCHEMA, NULL);
  expect_error("{\"e\":\"vector 3\"}", HDB_BAD_SCHEMA, NULL);
  expect_error("{\"e\":\"vector\"}", HDB_BAD_SCHEMA, NULL);
  expect_error("{\"e\":\"string\"}", HDB_BAD_SCHEMA, "unknown type");
  expect_error("{\"e\":\"null\"}", HDB_BAD_SCHEMA, "unknown type");
  expect_error("{\"e\":\"\"}", HDB_BAD_SCHEMA, "unknown type");
  expect_error("{\"e\":5}", HDB_BAD_SCHEMA, "must be a string");
  expect_error("{\"e\":{\"type\":\"int\"}}", HDB_BAD_SCHEMA, "must be a string");
  expect_error("[\"text\"]", HDB_BAD_SCHEMA, "JSON object");
  expect_error("\"text\"", HDB_BAD_SCHEMA, "JSON object");
  expect_error("{\"9x\":\"int\"}", HDB_BAD_SCHEMA, "not a valid column name");
  expect_error("{\"id\":\"int\"}", HDB_BAD_SCHEMA, "not a valid column name");
  expect_error("{\"_x\":\"int\"}", HDB_BAD_SCHEMA, "not a valid column name");
  expect_error("{\"a\":\"int\",\"a\":\"text\"}", HDB_BAD_SCHEMA, "twice");
  expect_error("{\"a\":\"int\",", HDB_BAD_JSON, "at 1:");
  expect_error("{\"a\":\"int\"} extra", HDB_BAD_JSON, "at 1:13");
  expect_error("", HDB_BAD_JSON, "empty");
  hdb_schema *s;
  assert_int_equal(hdb_schema_from_json(NULL, &s, NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_schema_from_json("{}", NULL, NULL), HDB_INVALID_ARGUMENT);
}

static void test_type_text(void **state)
{
  (void)state;
  hdb_type t;
  uint32_t dim;
  hdb_metric m;
  hdb_error err;
  assert_int_equal(hdb__type_parse(" Timestamp ", &t, &dim, &m, &err), HDB_OK);
  assert_int_equal(t, HDB_TYPE_TIMESTAMP);
  assert_int_equal(hdb__type_parse("vector(65536,cosine)", &t, &dim, &m, &err), HDB_OK);
  assert_int_equal(t, HDB_TYPE_VECTOR);
  assert_int_equal(dim, 65536);
  assert_int_equal(m, HDB_METRIC_COSINE);
  assert_int_equal(hdb__type_parse("vector(1,L2)", &t, &dim, &m, &err), HDB_OK);
  assert_int_equal(m, HDB_METRIC_L2);
  assert_int_equal(hdb__type_parse(NULL, &t, &dim, &m, &err), HDB_BAD_SCHEMA);
  char buf[64];
  hdb__type_format(HDB_TYPE_VECTOR, 384, HDB_METRIC_COSINE, buf, sizeof buf);
  assert_string_equal(buf, "vector(384,cosine)");
  hdb__type_format(HDB_TYPE_VECTOR, 2, HDB_METRIC_DEFAULT, buf, sizeof buf);
  assert_string_equal(buf, "vector(2,l2)");
  hdb__type_format(HDB_TYPE_JSON, 0, HDB_METRIC_DEFAULT, buf, sizeof buf);
  assert_string_equal(buf, "json");
  hdb__type_format(HDB_TYPE_VECTOR, 384, HDB_METRIC_COSINE, buf, 8); /* truncates safely */
  assert_string_equal(buf, "vector(");
  hdb__type_format(HDB_TYPE_INT, 0, HDB_METRIC_DEFAULT, buf, 0);
}

static hdb_schema *docs_schema(void)
{
  hdb_schema *s = NULL;
  hdb_error err;
  assert_int_equal(hdb_schema_from_json("{\"text\":\"text\",\"year\":\"int\",\"score\":\"float\","
                                        "\"at\":\"timestamp\",\"meta\":\"json\","
                                        "\"emb\":\"vector(2)\"}",
                                        &s, &err),
                   HDB_OK);
  return s;
}

static void test_conform(void **state)
{
  (void)state;
  hdb_schema *s = docs_schema();
  hdb_error err;
  hdb_record *r = NULL;
  const char *json = "{\"id\":\"d1\",\"text\":\"hi\",\"year\":2020.0,\"score\":3,"
                     "\"at\":\"2024-01-20T10:00:00Z\",\"meta\":\"plain\",\"emb\":[0.5,1]}";
  assert_int_equal(hdb_record_from_json(json, strlen(json), 1, &r, &err), HDB_OK);
  assert_int_equal(hdb__schema_conform(s, "docs", r, 1, &err), HDB_OK);
  hdb_value v;
  hdb_record_get(r, "year", &v);
  assert_int_equal(v.type, HDB_TYPE_INT);
  assert_int_equal(v.as.i, 2020);
  hdb_record_get(r, "score", &v);
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  hdb_record_get(r, "at", &v);
  assert_int_equal(v.type, HDB_TYPE_TIMESTAMP);
  hdb_record_get(r, "meta", &v);
  assert_int_equal(v.type, HDB_TYPE_JSON);
  assert_string_equal(v.as.text.data, "\"plain\"");
  hdb_record_get(r, "emb", &v);
  assert_int_equal(v.type, HDB_TYPE_VECTOR);
  assert_int_equal(v.as.vector.dim, 2);
  hdb_record_free(r);

  /* errors name the table, the record and the field */
  r = hdb_record_new("d2");
  hdb_record_set_int(r, "nope", 1);
  assert_int_equal(hdb__schema_conform(s, "docs", r, 1, &err), HDB_NO_FIELD);
  assert_non_null(strstr(err.message, "table 'docs', record 'd2'"));
  assert_non_null(strstr(err.message, "'nope'"));
  hdb_record_free(r);
  r = hdb_record_new("d3");
  hdb_record_set_text(r, "year", "2020");
  assert_int_equal(hdb__schema_conform(s, "docs", r, 1, &err), HDB_TYPE_MISMATCH);
  assert_non_null(strstr(err.message, "table 'docs', record 'd3': field 'year'"));
  hdb_record_free(r);
  r = hdb_record_new(NULL);
  const float three[3] = {1, 2, 3};
  hdb_record_set_vector(r, "emb", three, 3);
  assert_int_equal(hdb__schema_conform(s, "docs", r, 0, &err), HDB_DIMENSION);
  assert_non_null(strstr(err.message, "table 'docs'"));
  assert_int_equal(hdb__schema_conform(s, "docs", r, 1, &err), HDB_BAD_ID);
  assert_non_null(strstr(err.message, "table 'docs'"));
  hdb_record_free(r);
  r = hdb_record_new("");
  assert_int_equal(hdb__schema_conform(NULL, "loose", r, 1, &err), HDB_BAD_ID);
  assert_int_equal(hdb__schema_conform(NULL, "loose", r, 0, &err), HDB_OK);
  hdb_record_free(r);
  /* schemaless: anything goes, nothing changes */
  r = hdb_record_new("x");
  hdb_record_set_text(r, "whatever", "1");
  assert_int_equal(hdb__schema_conform(NULL, "loose", r, 1, &err), HDB_OK);
  hdb_record_get(r, "whatever", &v);
  assert_int_equal(v.type, HDB_TYPE_TEXT);
  hdb_record_free(r);
  /* NaN inside a JSON-sourced vector cannot occur (JSON has no NaN); an
   * out-of-range component is caught as not finite */
  r = NULL;
  const char *big = "{\"id\":\"b\",\"emb\":[1e39,1]}";
  assert_int_equal(hdb_record_from_json(big, strlen(big), 1, &r, &err), HDB_OK);
  assert_int_equal(hdb__schema_conform(s, "docs", r, 1, &err), HDB_NOT_FINITE);
  hdb_record_free(r);
  hdb_schema_free(s);
}

static void test_nomem(void **state)
{
  (void)state;
  const char *json = "{\"a\":\"text\",\"b\":\"int\",\"c\":\"vector(3,dot)\",\"d\":\"json\","
                     "\"e\":\"float\",\"f\":\"blob\",\"g\":\"bool\",\"h\":\"timestamp\","
                     "\"i\":\"int\",\"j\":\"int\"}";
  for (long n = 0;; n++) {
    hdb_schema *s = NULL, *c = NULL;
    char *out = NULL;
    hdb_error err;
    hdb__alloc_fail_after(n);
    hdb_status st = hdb_schema_from_json(json, &s, &err);
    if (st == HDB_OK) {
      c = hdb_schema_clone(s);
      st = c ? HDB_OK : HDB_NOMEM;
    }
    if (st == HDB_OK)
      st = hdb_schema_to_json(c, &out);
    hdb__alloc_fail_after(-1);
    hdb_free(out);
    hdb_schema_free(c);
    hdb_schema_free(s);
    if (st == HDB_OK)
      break;
    if (st != HDB_NOMEM)
      fail_msg("n=%ld: %s: %s", n, hdb_status_name(st), err.message);
  }
  hdb__alloc_fail_after(0);
  assert_null(hdb_schema_new());
  hdb__alloc_fail_after(-1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_build),     cmocka_unit_test(test_json_roundtrip),
      cmocka_unit_test(test_json_errors), cmocka_unit_test(test_type_text),
      cmocka_unit_test(test_conform),   cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
