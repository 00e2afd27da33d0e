/*
 * test_json.c - the JSON form of records and values: round trips of every
 * type, exact ints and floats, parse errors with positions, cJSON trees,
 * json paths, vectors from JSON, and allocation failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/record.h"
#include "core/value.h"
#include "hanzodb.h"

static hdb_record *parse(const char *json, int require_id)
{
  hdb_record *r = NULL;
  hdb_error err;
  hdb_status st = hdb_record_from_json(json, strlen(json), require_id, &r, &err);
  if (st != HDB_OK)
    fail_msg("parse failed (%s): %s", hdb_status_name(st), err.message);
  return r;
}

static hdb_status parse_err(const char *json, int require_id, hdb_error *err)
{
  hdb_record *r = (hdb_record *)1;
  hdb_status st = hdb_record_from_json(json, strlen(json), require_id, &r, err);
  assert_null(r);
  assert_int_equal(err->code, st);
  return st;
}

static char *to_json(const hdb_record *r)
{
  char *s = NULL;
  assert_int_equal(hdb_record_to_json(r, &s), HDB_OK);
  return s;
}

/* Parses, prints and checks the text is unchanged (canonical input). */
static void roundtrip(const char *json)
{
  hdb_record *r = parse(json, 0);
  char *s = to_json(r);
  assert_string_equal(s, json);
  hdb_free(s);
  hdb_record_free(r);
}

static void test_types(void **state)
{
  (void)state;
  hdb_record *r = parse("{\"id\":\"a1\",\"n\":null,\"b\":true,\"i\":-42,\"f\":0.25,\"t\":\"hi\","
                        "\"img\":{\"$base64\":\"AAEC/w==\"},\"meta\":{\"x\":[1,2]},\"arr\":[1,\"a\"]}",
                        1);
  assert_string_equal(hdb_record_id(r), "a1");
  hdb_value v;
  hdb_record_get(r, "n", &v);
  assert_int_equal(v.type, HDB_TYPE_NULL);
  hdb_record_get(r, "b", &v);
  assert_int_equal(v.type, HDB_TYPE_BOOL);
  assert_int_equal(v.as.boolean, 1);
  hdb_record_get(r, "i", &v);
  assert_int_equal(v.type, HDB_TYPE_INT);
  assert_int_equal(v.as.i, -42);
  hdb_record_get(r, "f", &v);
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  assert_true(v.as.f == 0.25);
  hdb_record_get(r, "t", &v);
  assert_int_equal(v.type, HDB_TYPE_TEXT);
  hdb_record_get(r, "img", &v);
  assert_int_equal(v.type, HDB_TYPE_BLOB);
  assert_int_equal(v.as.blob.len, 4);
  assert_memory_equal(v.as.blob.data, "\x00\x01\x02\xff", 4);
  hdb_record_get(r, "meta", &v);
  assert_int_equal(v.type, HDB_TYPE_JSON);
  assert_string_equal(v.as.text.data, "{\"x\":[1,2]}");
  hdb_record_get(r, "arr", &v);
  assert_int_equal(v.type, HDB_TYPE_JSON);
  assert_string_equal(v.as.text.data, "[1,\"a\"]");
  hdb_record_free(r);
}

static void test_roundtrips(void **state)
{
  (void)state;
  roundtrip("{\"id\":\"a1\",\"text\":\"hi\",\"year\":2020,\"image\":{\"$base64\":\"iVBORw==\"},"
            "\"metadata\":{\"lang\":\"en\",\"n\":[1,2.5,{\"deep\":null}]}}");
  roundtrip("{\"big\":9223372036854775807,\"small\":-9223372036854775808,"
            "\"odd\":9007199254740993}");
  roundtrip("{\"f1\":0.1,\"f2\":1.0,\"f3\":1e+300,\"f4\":-0.0,\"f5\":5e-324,"
            "\"f6\":0.30000000000000004,\"f7\":123456789.125}");
  roundtrip("{\"u\":\"héllo ✓ 𝄞 \\\"q\\\" \\\\ \\n\\t\\u0001\"}");
  roundtrip("{\"empty\":\"\",\"eb\":{\"$base64\":\"\"},\"ea\":[],\"eo\":{}}");
  roundtrip("{}");
  roundtrip("{\"nested\":{\"$base64\":\"AA==\",\"other\":1}}"); /* not a blob: two keys */
  roundtrip("{\"j\":{\"big\":12345678901234567890123,\"x\":1.50}}");
}

static void test_exact_numbers(void **state)
{
  (void)state;
  hdb_record *r = parse("{\"a\":9007199254740993,\"b\":1.0,\"c\":1e2,\"d\":-0,"
                        "\"e\":92233720368547758070,\"f\":1E-2,\"g\":2.5e+3}",
                        0);
  hdb_value v;
  hdb_record_get(r, "a", &v);
  assert_int_equal(v.type, HDB_TYPE_INT);
  assert_true(v.as.i == INT64_C(9007199254740993));
  hdb_record_get(r, "b", &v);
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  hdb_record_get(r, "c", &v);
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  assert_true(v.as.f == 100.0);
  hdb_record_get(r, "d", &v);
  assert_int_equal(v.type, HDB_TYPE_INT);
  assert_int_equal(v.as.i, 0);
  hdb_record_get(r, "e", &v); /* does not fit int64 */
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  assert_true(v.as.f == 92233720368547758070.0);
  hdb_record_get(r, "f", &v);
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  hdb_record_free(r);

  /* floats written by the library read back bit-exactly */
  const double samples[] = {0.1, 1.0 / 3, 2.0 / 3, 1e-310, 1.7976931348623157e308, -2.5, 100.0,
                            4503599627370497.0, 1e21};
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
    hdb_record *w = hdb_record_new(NULL);
    hdb_record_set_float(w, "x", samples[i]);
    char *s = to_json(w);
    hdb_record *back = parse(s, 0);
    hdb_record_get(back, "x", &v);
    assert_int_equal(v.type, HDB_TYPE_FLOAT);
    assert_memory_equal(&v.as.f, &samples[i], sizeof(double));
    hdb_free(s);
    hdb_record_free(back);
    hdb_record_free(w);
  }
  /* non-finite floats have no JSON form: null */
  hdb_record *w = hdb_record_new("n");
  hdb_record_set_float(w, "x", NAN);
  hdb_record_set_float(w, "y", -INFINITY);
  char *s = to_json(w);
  assert_string_equal(s, "{\"id\":\"n\",\"x\":null,\"y\":null}");
  hdb_free(s);
  hdb_record_free(w);
}

static void test_vector_timestamp_out(void **state)
{
  (void)state;
  hdb_record *r = hdb_record_new("v1");
  const float vec[4] = {0.1f, -2.0f, 1e-8f, 3.4028235e38f};
  hdb_record_set_vector(r, "e", vec, 4);
  hdb_record_set_timestamp(r, "ts", INT64_C(1705744800000000));
  char *s = to_json(r);
  assert_string_equal(s, "{\"id\":\"v1\",\"e\":[0.1,-2,1e-08,3.4028235e+38],"
                         "\"ts\":\"2024-01-20T10:00:00.000000Z\"}");
  /* back in: the vector is json and the timestamp text until conformed */
  hdb_record *back = parse(s, 1);
  hdb_value v;
  hdb_record_get(back, "e", &v);
  assert_int_equal(v.type, HDB_TYPE_JSON);
  hdb_error err;
  hdb_value e;
  hdb__value_copy(&e, &v);
  assert_int_equal(hdb__value_conform(&e, HDB_TYPE_VECTOR, 4, NULL, "e", &err), HDB_OK);
  assert_memory_equal(e.as.vector.data, vec, sizeof vec); /* bit-exact float32 */
  hdb__value_release(&e);
  hdb_record_get(back, "ts", &v);
  assert_int_equal(v.type, HDB_TYPE_TEXT);
  hdb_value ts;
  hdb__value_copy(&ts, &v);
  assert_int_equal(hdb__value_conform(&ts, HDB_TYPE_TIMESTAMP, 0, NULL, "ts", &err), HDB_OK);
  assert_true(ts.as.timestamp_us == INT64_C(1705744800000000));
  hdb_free(s);
  hdb_record_free(back);
  hdb_record_free(r);
  /* float32 vectors: random values round-trip exactly through the text */
  uint32_t x = 2463534242u;
  float many[256];
  for (int i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    many[i] = (float)((double)x / 4294967296.0 * 2.0 - 1.0) * (float)(1 + i);
  }
  hdb_value mv = {.type = HDB_TYPE_VECTOR, .as.vector = {many, 256}};
  char *text;
  size_t len;
  assert_int_equal(hdb__value_to_json_text(&mv, &text, &len), HDB_OK);
  float *out;
  uint32_t dim;
  assert_int_equal(hdb__json_to_vector(text, len, &out, &dim, &err), HDB_OK);
  assert_int_equal(dim, 256);
  assert_memory_equal(out, many, sizeof many);
  hdb_free(out);
  hdb_free(text);
}

static void test_ids(void **state)
{
  (void)state;
  hdb_error err;
  hdb_record *r = parse("{\"id\":12345678901234567,\"x\":1}", 1);
  assert_string_equal(hdb_record_id(r), "12345678901234567");
  hdb_record_free(r);
  r = parse("{\"x\":1}", 0);
  assert_null(hdb_record_id(r));
  hdb_record_free(r);
  r = parse("{\"id\":null,\"x\":1}", 0);
  assert_null(hdb_record_id(r));
  hdb_record_free(r);
  assert_int_equal(parse_err("{\"x\":1}", 1, &err), HDB_BAD_ID);
  assert_non_null(strstr(err.message, "no \"id\""));
  assert_int_equal(parse_err("{\"id\":\"\"}", 0, &err), HDB_BAD_ID);
  assert_int_equal(parse_err("{\"id\":1.5}", 0, &err), HDB_BAD_ID);
  assert_int_equal(parse_err("{\"id\":[1]}", 0, &err), HDB_BAD_ID);
  assert_int_equal(parse_err("{\"id\":true}", 0, &err), HDB_BAD_ID);
  assert_int_equal(parse_err("{\"id\":\"\xC3\x28\"}", 0, &err), HDB_BAD_ID);
  char big[1100] = "{\"id\":\"";
  memset(big + 7, 'k', 1025);
  strcpy(big + 7 + 1025, "\"}");
  assert_int_equal(parse_err(big, 0, &err), HDB_BAD_ID);
  assert_int_equal(parse_err("{\"id\":\"a\",\"id\":\"b\"}", 0, &err), HDB_BAD_JSON);
}

static void test_errors(void **state)
{
  (void)state;
  hdb_error err;
  assert_int_equal(parse_err("", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("   \n ", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("[1,2]", 0, &err), HDB_BAD_JSON);
  assert_non_null(strstr(err.message, "object"));
  assert_int_equal(parse_err("\"x\"", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("{\"a\":1,\n \"b\": }", 0, &err), HDB_BAD_JSON);
  assert_non_null(strstr(err.message, "at 2:"));
  assert_int_equal(parse_err("{\"a\":1} x", 0, &err), HDB_BAD_JSON);
  assert_non_null(strstr(err.message, "at 1:9"));
  assert_int_equal(parse_err("{\"a\":1}{}", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("{\"a\":01}", 0, &err), HDB_BAD_JSON);
  assert_non_null(strstr(err.message, "number"));
  assert_int_equal(parse_err("{\"a\":1.}", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("{\"a\":-}", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("{\"a\":1e400}", 0, &err), HDB_BAD_JSON);
  assert_non_null(strstr(err.message, "range"));
  assert_int_equal(parse_err("{\"a\":NaN}", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("{\"a\":\"x\\u0000y\"}", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("{\"a\":\"\xFF\"}", 0, &err), HDB_BAD_JSON);
  assert_non_null(strstr(err.message, "field 'a'"));
  assert_int_equal(parse_err("{\"a\":{\"k\":\"\xFF\"}}", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("{\"a\":{\"$base64\":\"!!!\"}}", 0, &err), HDB_BAD_JSON);
  assert_non_null(strstr(err.message, "base64"));
  assert_int_equal(parse_err("{\"a\":{\"$base64\":\"AAE\"}}", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("{\"9a\":1}", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("{\"_distance\":1}", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("{\"a b\":1}", 0, &err), HDB_BAD_JSON);
  assert_int_equal(parse_err("{\"a\":1,\"a\":2}", 0, &err), HDB_BAD_JSON);
  assert_non_null(strstr(err.message, "duplicate"));
  /* the length is honoured: text after len is ignored */
  hdb_record *r = NULL;
  assert_int_equal(hdb_record_from_json("{\"a\":1}garbage", 7, 0, &r, &err), HDB_OK);
  hdb_record_free(r);
  assert_int_equal(hdb_record_from_json(NULL, 0, 0, &r, &err), HDB_INVALID_ARGUMENT);
  assert_null(r);
  assert_int_equal(hdb_record_from_json("{}", 2, 0, NULL, NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_to_json(NULL, NULL), HDB_INVALID_ARGUMENT);
  /* NULL err is fine */
  assert_int_equal(hdb_record_from_json("[", 1, 0, &r, NULL), HDB_BAD_JSON);
  /* deep nesting beyond cJSON's limit is an error, not a crash */
  char deep[2100];
  memset(deep, '[', 1050);
  memset(deep + 1050, ']', 1050);
  deep[2100 - 1] = '\0';
  char doc[2200];
  snprintf(doc, sizeof doc, "{\"a\":%.*s}", 2100, deep);
  assert_int_equal(parse_err(doc, 0, &err), HDB_BAD_JSON);
}

static void test_distance_and_cjson(void **state)
{
  (void)state;
  hdb_record *r = parse("{\"id\":\"x\",\"i\":9007199254740993,\"f\":1.0,\"j\":{\"a\":[1]},"
                        "\"b\":{\"$base64\":\"aGk=\"},\"t\":\"s\",\"n\":null,\"ok\":false}",
                        1);
  const float vec[2] = {1.5f, 2};
  hdb_record_set_vector(r, "v", vec, 2);
  hdb_record_set_timestamp(r, "ts", 0);
  char *s = NULL;
  assert_int_equal(hdb__record_to_json_text(r, 0.5, &s), HDB_OK);
  assert_non_null(strstr(s, ",\"_distance\":0.5}"));
  hdb_free(s);
  assert_int_equal(hdb__record_to_json_text(r, NAN, &s), HDB_OK);
  assert_null(strstr(s, "_distance"));
  /* the cJSON tree prints the same text, and reads back to equal values */
  cJSON *tree = hdb__record_to_cjson(r, NAN);
  assert_non_null(tree);
  char *printed = cJSON_PrintUnformatted(tree);
  assert_string_equal(printed, s);
  cJSON_free(printed);
  hdb_record *back = NULL;
  hdb_error err;
  assert_int_equal(hdb__record_from_cjson(tree, 1, &back, &err), HDB_OK);
  assert_int_equal(hdb_record_field_count(back), hdb_record_field_count(r));
  for (size_t i = 0; i < hdb_record_field_count(r); i++) {
    const char *n1, *n2;
    hdb_value v1, v2;
    hdb_record_field(r, i, &n1, &v1);
    hdb_record_field(back, i, &n2, &v2);
    assert_string_equal(n1, n2);
    if (v1.type == HDB_TYPE_VECTOR || v1.type == HDB_TYPE_TIMESTAMP)
      continue; /* become json / text in the JSON form */
    assert_int_equal(v1.type, v2.type);
    assert_int_equal(hdb__value_order(&v1, &v2), 0);
  }
  hdb_record_free(back);
  cJSON *d = hdb__record_to_cjson(r, 0.25);
  cJSON *dist = cJSON_GetObjectItemCaseSensitive(d, "_distance");
  assert_non_null(dist);
  assert_string_equal(dist->valuestring, "0.25");
  cJSON_Delete(d);
  cJSON_Delete(tree);
  hdb_free(s);
  hdb_record_free(r);
  /* plain cJSON input (no source text): integral doubles below 2^53 are ints */
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "i", 3.0);
  cJSON_AddNumberToObject(o, "f", 3.5);
  cJSON_AddNumberToObject(o, "big", 1e17);
  assert_int_equal(hdb__record_from_cjson(o, 0, &back, &err), HDB_OK);
  hdb_value v;
  hdb_record_get(back, "i", &v);
  assert_int_equal(v.type, HDB_TYPE_INT);
  hdb_record_get(back, "f", &v);
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  hdb_record_get(back, "big", &v);
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  hdb_record_free(back);
  cJSON_Delete(o);
  assert_int_equal(hdb__record_from_cjson(NULL, 0, &back, &err), HDB_INVALID_ARGUMENT);
  cJSON *arr = cJSON_CreateArray();
  assert_int_equal(hdb__record_from_cjson(arr, 0, &back, &err), HDB_BAD_JSON);
  cJSON_Delete(arr);
  assert_int_equal(hdb__value_from_cjson(NULL, &v, &err), HDB_INVALID_ARGUMENT);
}

static void test_value_cjson(void **state)
{
  (void)state;
  hdb_value vals[] = {
      {.type = HDB_TYPE_NULL},
      {.type = HDB_TYPE_BOOL, .as.boolean = 1},
      {.type = HDB_TYPE_INT, .as.i = INT64_MAX},
      {.type = HDB_TYPE_FLOAT, .as.f = 0.1},
      {.type = HDB_TYPE_TEXT, .as.text = {"a\0b", 3}},
      {.type = HDB_TYPE_TEXT, .as.text = {"plain", 5}},
      {.type = HDB_TYPE_JSON, .as.text = {"{\"k\":[1,2]}", 11}},
      {.type = HDB_TYPE_BLOB, .as.blob = {"\x01\x02", 2}},
  };
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    cJSON *n = hdb__value_to_cjson(&vals[i]);
    assert_non_null(n);
    hdb_value back;
    hdb_error err;
    if (vals[i].type == HDB_TYPE_TEXT && vals[i].as.text.len == 3) {
      /* a NUL inside text has no \u0000 form on the way back in */
      assert_int_equal(hdb__value_from_cjson(n, &back, &err), HDB_BAD_JSON);
      cJSON_Delete(n);
      continue;
    }
    assert_int_equal(hdb__value_from_cjson(n, &back, &err), HDB_OK);
    assert_int_equal(back.type, vals[i].type);
    assert_int_equal(hdb__value_order(&back, &vals[i]), 0);
    hdb__value_release(&back);
    cJSON_Delete(n);
  }
}

static void test_normalize_vector_path(void **state)
{
  (void)state;
  hdb_error err;
  char *out;
  size_t len;
  assert_int_equal(hdb__json_normalize(" [ 1 , { \"a\" : \"x y\" } , true , null ] ", 38, &out,
                                       &len, &err),
                   HDB_OK);
  assert_string_equal(out, "[1,{\"a\":\"x y\"},true,null]");
  assert_int_equal(len, strlen(out));
  hdb_free(out);
  assert_int_equal(hdb__json_normalize("\"\\u00e9\\/\"", 10, &out, &len, &err), HDB_OK);
  assert_string_equal(out, "\"é/\"");
  hdb_free(out);
  assert_int_equal(hdb__json_normalize("{", 1, &out, &len, &err), HDB_BAD_JSON);
  assert_null(out);

  float *v;
  uint32_t dim;
  assert_int_equal(hdb__json_to_vector(" [ ] ", 5, &v, &dim, &err), HDB_OK);
  assert_int_equal(dim, 0);
  hdb_free(v);
  assert_int_equal(hdb__json_to_vector("[1,2,3]", 7, &v, &dim, &err), HDB_OK);
  assert_int_equal(dim, 3);
  hdb_free(v);
  const char *bad[] = {"", "[", "[1,]", "[,1]", "[1 2]", "[\"1\"]", "[[1]]", "{}", "[1]x",
                       "[01]", "[1.]", "[null]", "[true]"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (hdb__json_to_vector(bad[i], strlen(bad[i]), &v, &dim, &err) != HDB_TYPE_MISMATCH)
      fail_msg("accepted '%s'", bad[i]);
    assert_null(v);
  }
  /* more than HDB_MAX_VECTOR_DIM components */
  size_t cap = (HDB_MAX_VECTOR_DIM + 2) * 2 + 2;
  char *huge = hdb__malloc(cap);
  size_t p = 0;
  huge[p++] = '[';
  for (uint32_t i = 0; i < HDB_MAX_VECTOR_DIM + 1; i++) {
    if (i)
      huge[p++] = ',';
    huge[p++] = '1';
  }
  huge[p++] = ']';
  assert_int_equal(hdb__json_to_vector(huge, p, &v, &dim, &err), HDB_DIMENSION);
  hdb_free(huge);

  const char *doc = "{\"lang\":\"en\",\"n\":{\"k\":9007199254740993,\"f\":1.0},\"a\":[10,{\"x\":"
                    "true}],\"z\":null}";
  size_t dl = strlen(doc);
  hdb_value out_v;
  hdb_status st;
  const char *p1[] = {"lang"};
  assert_int_equal(hdb__json_path_value(doc, dl, p1, 1, &out_v, &st), 1);
  assert_int_equal(out_v.type, HDB_TYPE_TEXT);
  assert_string_equal(out_v.as.text.data, "en");
  hdb__value_release(&out_v);
  const char *p2[] = {"n", "k"};
  assert_int_equal(hdb__json_path_value(doc, dl, p2, 2, &out_v, &st), 1);
  assert_int_equal(out_v.type, HDB_TYPE_INT);
  assert_true(out_v.as.i == INT64_C(9007199254740993));
  const char *p3[] = {"n", "f"};
  assert_int_equal(hdb__json_path_value(doc, dl, p3, 2, &out_v, &st), 1);
  assert_int_equal(out_v.type, HDB_TYPE_FLOAT);
  const char *p4[] = {"a", "1", "x"};
  assert_int_equal(hdb__json_path_value(doc, dl, p4, 3, &out_v, &st), 1);
  assert_int_equal(out_v.type, HDB_TYPE_BOOL);
  const char *p5[] = {"a", "0"};
  assert_int_equal(hdb__json_path_value(doc, dl, p5, 2, &out_v, &st), 1);
  assert_int_equal(out_v.as.i, 10);
  const char *p6[] = {"n"};
  assert_int_equal(hdb__json_path_value(doc, dl, p6, 1, &out_v, &st), 1);
  assert_int_equal(out_v.type, HDB_TYPE_JSON);
  assert_string_equal(out_v.as.text.data, "{\"k\":9007199254740993,\"f\":1.0}");
  hdb__value_release(&out_v);
  const char *p7[] = {"z"};
  assert_int_equal(hdb__json_path_value(doc, dl, p7, 1, &out_v, &st), 1);
  assert_int_equal(out_v.type, HDB_TYPE_NULL);
  const char *absent[][2] = {{"nope", NULL}, {"lang", "x"}, {"a", "5"}, {"a", "x"}};
  for (size_t i = 0; i < 4; i++)
    assert_int_equal(hdb__json_path_value(doc, dl, absent[i], absent[i][1] ? 2 : 1, &out_v, &st),
                     0);
  assert_int_equal(hdb__json_path_value("{", 1, p1, 1, &out_v, &st), -1);
  assert_int_equal(st, HDB_BAD_JSON);
  assert_int_equal(hdb__json_path_value("5", 1, NULL, 0, &out_v, &st), 1);
  assert_int_equal(out_v.as.i, 5);
  hdb__alloc_fail_after(0);
  assert_int_equal(hdb__json_path_value(doc, dl, p1, 1, &out_v, &st), -1);
  hdb__alloc_fail_after(-1);
  assert_int_equal(st, HDB_NOMEM);
}

static void test_text_position(void **state)
{
  (void)state;
  size_t line, col;
  hdb__text_position("ab\ncd\n\nx", 0, &line, &col);
  assert_int_equal(line, 1);
  assert_int_equal(col, 1);
  hdb__text_position("ab\ncd\n\nx", 4, &line, &col);
  assert_int_equal(line, 2);
  assert_int_equal(col, 2);
  hdb__text_position("ab\ncd\n\nx", 7, &line, &col);
  assert_int_equal(line, 4);
  assert_int_equal(col, 1);
  hdb__text_position("ab", 100, &line, &col); /* clamps at the end */
  assert_int_equal(line, 1);
  assert_int_equal(col, 3);
  hdb__text_position("ab", 1, NULL, NULL);
}

static void test_nomem(void **state)
{
  (void)state;
  const char *doc = "{\"id\":\"a\",\"t\":\"text\",\"i\":1,\"f\":2.5,\"j\":{\"k\":[1,2,3]},"
                    "\"b\":{\"$base64\":\"aGVsbG8=\"},\"x1\":1,\"x2\":2,\"x3\":3,\"x4\":4,"
                    "\"x5\":5,\"x6\":6,\"x7\":7,\"x8\":8,\"x9\":9,\"xa\":10,\"xb\":11,\"xc\":12,"
                    "\"xd\":13,\"xe\":14,\"xf\":15,\"xg\":16,\"xh\":17,\"xi\":18}";
  int saw_nomem = 0;
  for (long n = 0;; n++) {
    hdb_record *r = NULL;
    hdb_error err;
    hdb__alloc_fail_after(n);
    hdb_status st = hdb_record_from_json(doc, strlen(doc), 1, &r, &err);
    char *s = NULL;
    if (st == HDB_OK)
      st = hdb_record_to_json(r, &s);
    cJSON *tree = NULL;
    if (st == HDB_OK) {
      tree = hdb__record_to_cjson(r, 1.0);
      st = tree ? HDB_OK : HDB_NOMEM;
    }
    hdb__alloc_fail_after(-1);
    hdb_free(s);
    cJSON_Delete(tree);
    hdb_record_free(r);
    if (st == HDB_OK)
      break;
    if (st != HDB_NOMEM)
      fail_msg("n=%ld: %s: %s", n, hdb_status_name(st), err.message);
    saw_nomem++;
  }
  assert_true(saw_nomem > 10);
  for (long n = 0;; n++) {
    char *out = NULL;
    hdb_error err;
    hdb__alloc_fail_after(n);
    const char *j = "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":null}";
    hdb_status st = hdb__json_normalize(j, strlen(j), &out, NULL, &err);
    hdb__alloc_fail_after(-1);
    hdb_free(out);
    if (st == HDB_OK)
      break;
    assert_int_equal(st, HDB_NOMEM);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_types),
      cmocka_unit_test(test_roundtrips),
      cmocka_unit_test(test_exact_numbers),
      cmocka_unit_test(test_vector_timestamp_out),
      cmocka_unit_test(test_ids),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_distance_and_cjson),
      cmocka_unit_test(test_value_cjson),
      cmocka_unit_test(test_normalize_vector_path),
      cmocka_unit_test(test_text_position),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
