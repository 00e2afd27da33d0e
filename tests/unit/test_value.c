/*
 * test_value.c - values: copy/release, ordering, filter comparison,
 * conversion to column types, RFC 3339 timestamps; plus the reference
 * distance kernels, status/enum names and the error helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/distance.h"
#include "core/err.h"
#include "core/value.h"
#include "hanzodb.h"

static hdb_value vint(int64_t i)
{
  hdb_value v = {.type = HDB_TYPE_INT, .as.i = i};
  return v;
}

static hdb_value vflt(double f)
{
  hdb_value v = {.type = HDB_TYPE_FLOAT, .as.f = f};
  return v;
}

static hdb_value vtext(const char *s)
{
  hdb_value v = {.type = HDB_TYPE_TEXT, .as.text = {s, strlen(s)}};
  return v;
}

static hdb_value vjson(const char *s)
{
  hdb_value v = {.type = HDB_TYPE_JSON, .as.text = {s, strlen(s)}};
  return v;
}

static hdb_value vts(int64_t us)
{
  hdb_value v = {.type = HDB_TYPE_TIMESTAMP, .as.timestamp_us = us};
  return v;
}

/* An owned copy of a view, for conform tests (which work in place). */
static hdb_value owned(hdb_value v)
{
  hdb_value o;
  assert_int_equal(hdb__value_copy(&o, &v), HDB_OK);
  return o;
}

static void test_copy_release(void **state)
{
  (void)state;
  const float f[3] = {1, 2, 3};
  const unsigned char bytes[4] = {0, 1, 2, 255};
  hdb_value src[] = {
      {.type = HDB_TYPE_NULL},
      {.type = HDB_TYPE_BOOL, .as.boolean = 1},
      vint(-5),
      vflt(2.5),
      vtext("héllo"),
      {.type = HDB_TYPE_BLOB, .as.blob = {bytes, sizeof bytes}},
      {.type = HDB_TYPE_BLOB, .as.blob = {NULL, 0}},
      vts(123),
      vjson("{\"a\":1}"),
      {.type = HDB_TYPE_VECTOR, .as.vector = {f, 3}},
  };
  for (size_t i = 0; i < sizeof src / sizeof src[0]; i++) {
    hdb_value d;
    assert_int_equal(hdb__value_copy(&d, &src[i]), HDB_OK);
    assert_int_equal(hdb__value_order(&d, &src[i]), 0);
    if (d.type == HDB_TYPE_TEXT || d.type == HDB_TYPE_JSON) {
      assert_ptr_not_equal(d.as.text.data, src[i].as.text.data);
      assert_int_equal(d.as.text.data[d.as.text.len], '\0');
    }
    if (d.type == HDB_TYPE_BLOB)
      assert_non_null(d.as.blob.data);
    hdb__value_release(&d);
    assert_int_equal(d.type, HDB_TYPE_NULL);
  }
  hdb__value_release(NULL);
}

static void test_copy_nomem(void **state)
{
  (void)state;
  hdb_value t = vtext("abc"), d;
  hdb__alloc_fail_after(0);
  assert_int_equal(hdb__value_copy(&d, &t), HDB_NOMEM);
  hdb__alloc_fail_after(-1);
  assert_int_equal(hdb__value_copy(&d, &t), HDB_OK);
  hdb__value_release(&d);
}

static void test_order(void **state)
{
  (void)state;
  const float f1[2] = {1, 2}, f2[2] = {1, 3}, f3[1] = {1};
  const unsigned char b1[2] = {1, 2};
  hdb_value null = {.type = HDB_TYPE_NULL};
  hdb_value t = {.type = HDB_TYPE_BOOL, .as.boolean = 1};
  hdb_value fa = {.type = HDB_TYPE_BOOL, .as.boolean = 0};
  hdb_value blob = {.type = HDB_TYPE_BLOB, .as.blob = {b1, 2}};
  hdb_value vec1 = {.type = HDB_TYPE_VECTOR, .as.vector = {f1, 2}};
  hdb_value vec2 = {.type = HDB_TYPE_VECTOR, .as.vector = {f2, 2}};
  hdb_value vec3 = {.type = HDB_TYPE_VECTOR, .as.vector = {f3, 1}};
  /* The cross-type chain. */
  hdb_value chain[] = {null, fa, t, vint(-1), vflt(0.5), vint(1), vtext(""), vtext("a"), blob,
                       vts(0), vjson("[]"), vec3, vec1, vec2};
  size_t n = sizeof chain / sizeof chain[0];
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < n; j++) {
      int c = hdb__value_order(&chain[i], &chain[j]);
      if (i < j)
        assert_true(c < 0);
      else if (i > j)
        assert_true(c > 0);
      else
        assert_int_equal(c, 0);
    }
  }
  /* int and float by value, exactly */
  hdb_value a = vint(INT64_C(9007199254740993)), b = vflt(9007199254740992.0);
  assert_true(hdb__value_order(&a, &b) > 0);
  assert_true(hdb__value_order(&b, &a) < 0);
  a = vint(3);
  b = vflt(3.0);
  assert_int_equal(hdb__value_order(&a, &b), 0);
  b = vflt(-3.5);
  assert_true(hdb__value_order(&a, &b) > 0);
  a = vint(-3);
  assert_true(hdb__value_order(&a, &b) > 0);
  a = vint(INT64_MAX);
  b = vflt(9223372036854775808.0);
  assert_true(hdb__value_order(&a, &b) < 0);
  a = vint(INT64_MIN);
  b = vflt(-1e300);
  assert_true(hdb__value_order(&a, &b) > 0);
  /* NaN sorts after every number and equals itself */
  a = vflt(NAN);
  b = vflt(INFINITY);
  assert_true(hdb__value_order(&a, &b) > 0);
  assert_int_equal(hdb__value_order(&a, &a), 0);
  b = vint(5);
  assert_true(hdb__value_order(&a, &b) > 0);
  assert_true(hdb__value_order(&b, &a) < 0);
  /* text by bytes: "é" (0xC3...) after "z"; prefix first */
  a = vtext("z");
  b = vtext("é");
  assert_true(hdb__value_order(&a, &b) < 0);
  a = vtext("ab");
  b = vtext("abc");
  assert_true(hdb__value_order(&a, &b) < 0);
}

static void test_compare(void **state)
{
  (void)state;
  int c = 99, eq = 99;
  hdb_value null = {.type = HDB_TYPE_NULL};
  hdb_value i = vint(2), f = vflt(2.0), t = vtext("2");
  assert_int_equal(hdb__value_compare(&null, &i, &c), 0);
  assert_int_equal(hdb__value_compare(&i, &null, &c), 0);
  assert_int_equal(hdb__value_compare(&null, &null, &c), 0);
  assert_int_equal(hdb__value_compare(&i, &f, &c), 1);
  assert_int_equal(c, 0);
  assert_int_equal(hdb__value_compare(&i, &t, &c), 0); /* number vs text */
  hdb_value b1 = {.type = HDB_TYPE_BOOL, .as.boolean = 1};
  assert_int_equal(hdb__value_compare(&b1, &i, &c), 0);
  hdb_value b0 = {.type = HDB_TYPE_BOOL, .as.boolean = 0};
  assert_int_equal(hdb__value_compare(&b1, &b0, &c), 1);
  assert_true(c > 0);
  /* timestamps with timestamps and with RFC 3339 text, both orders */
  int64_t us;
  assert_int_equal(hdb__timestamp_parse("2024-01-20T10:00:00Z", 20, &us), 0);
  hdb_value ts = vts(us), later = vtext("2024-01-21"), bad = vtext("yesterday");
  assert_int_equal(hdb__value_compare(&ts, &later, &c), 1);
  assert_true(c < 0);
  assert_int_equal(hdb__value_compare(&later, &ts, &c), 1);
  assert_true(c > 0);
  assert_int_equal(hdb__value_compare(&ts, &bad, &c), 0);
  assert_int_equal(hdb__value_compare(&bad, &ts, &c), 0);
  hdb_value ts2 = vts(us + 1);
  assert_int_equal(hdb__value_compare(&ts, &ts2, &c), 1);
  assert_true(c < 0);
  /* json and vectors do not compare */
  hdb_value j = vjson("1");
  assert_int_equal(hdb__value_compare(&j, &j, &c), 0);
  const float fv[1] = {1};
  hdb_value v = {.type = HDB_TYPE_VECTOR, .as.vector = {fv, 1}};
  assert_int_equal(hdb__value_compare(&v, &v, &c), 0);
  /* blobs compare */
  hdb_value bl = {.type = HDB_TYPE_BLOB, .as.blob = {"ab", 2}};
  hdb_value bl2 = {.type = HDB_TYPE_BLOB, .as.blob = {"b", 1}};
  assert_int_equal(hdb__value_compare(&bl, &bl2, &c), 1);
  assert_true(c < 0);
  /* equality */
  assert_int_equal(hdb__value_equal(&i, &f, &eq), 1);
  assert_int_equal(eq, 1);
  hdb_value f2 = vflt(2.5);
  assert_int_equal(hdb__value_equal(&i, &f2, &eq), 1);
  assert_int_equal(eq, 0);
  assert_int_equal(hdb__value_equal(&i, &null, &eq), 0);
  hdb_value s1 = vtext("a"), s2 = vtext("a");
  assert_int_equal(hdb__value_equal(&s1, &s2, &eq), 1);
  assert_int_equal(eq, 1);
}

static void test_conform_numbers(void **state)
{
  (void)state;
  hdb_error err;
  hdb_value v = vint(3);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_FLOAT, 0, "t", "x", &err), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_FLOAT);
  assert_true(v.as.f == 3.0);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_INT, 0, "t", "x", &err), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_INT);
  assert_int_equal(v.as.i, 3);
  v = vflt(1.5);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_INT, 0, "t", "x", &err), HDB_TYPE_MISMATCH);
  assert_int_equal(err.code, HDB_TYPE_MISMATCH);
  assert_non_null(strstr(err.message, "table 't', field 'x'"));
  v = vflt(1e19);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_INT, 0, NULL, "x", &err), HDB_TYPE_MISMATCH);
  assert_non_null(strstr(err.message, "field 'x'"));
  v = vflt(NAN);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_INT, 0, NULL, "x", &err), HDB_TYPE_MISMATCH);
  v = vflt(-9223372036854775808.0);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_INT, 0, NULL, "x", &err), HDB_OK);
  assert_true(v.as.i == INT64_MIN);
  hdb_value t = owned(vtext("1"));
  assert_int_equal(hdb__value_conform(&t, HDB_TYPE_INT, 0, NULL, "x", &err), HDB_TYPE_MISMATCH);
  assert_int_equal(hdb__value_conform(&t, HDB_TYPE_FLOAT, 0, NULL, "x", &err), HDB_TYPE_MISMATCH);
  assert_int_equal(hdb__value_conform(&t, HDB_TYPE_BOOL, 0, NULL, "x", &err), HDB_TYPE_MISMATCH);
  assert_int_equal(hdb__value_conform(&t, HDB_TYPE_BLOB, 0, NULL, "x", &err), HDB_TYPE_MISMATCH);
  assert_int_equal(hdb__value_conform(&t, HDB_TYPE_TEXT, 0, NULL, "x", &err), HDB_OK);
  hdb__value_release(&t);
  /* null fits everything */
  hdb_value null = {.type = HDB_TYPE_NULL};
  for (int ty = HDB_TYPE_BOOL; ty <= HDB_TYPE_VECTOR; ty++)
    assert_int_equal(hdb__value_conform(&null, (hdb_type)ty, 3, NULL, "x", &err), HDB_OK);
  /* an invalid column type */
  v = vint(1);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_NULL, 0, NULL, "x", &err),
                   HDB_INVALID_ARGUMENT);
}

static void test_conform_timestamp(void **state)
{
  (void)state;
  hdb_error err;
  hdb_value v = vint(42);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_TIMESTAMP, 0, NULL, "ts", &err), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_TIMESTAMP);
  assert_int_equal(v.as.timestamp_us, 42);
  v = owned(vtext("1970-01-01T00:00:01.5Z"));
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_TIMESTAMP, 0, NULL, "ts", &err), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_TIMESTAMP);
  assert_int_equal(v.as.timestamp_us, 1500000);
  v = owned(vtext("not a time"));
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_TIMESTAMP, 0, NULL, "ts", &err),
                   HDB_TYPE_MISMATCH);
  assert_non_null(strstr(err.message, "RFC 3339"));
  assert_int_equal(v.type, HDB_TYPE_TEXT); /* unchanged on failure */
  hdb__value_release(&v);
  v = vflt(1.0);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_TIMESTAMP, 0, NULL, "ts", &err),
                   HDB_TYPE_MISMATCH);
}

static void test_conform_json(void **state)
{
  (void)state;
  hdb_error err;
  hdb_value v = owned(vtext("he said \"hi\""));
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_JSON, 0, NULL, "j", &err), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_JSON);
  assert_string_equal(v.as.text.data, "\"he said \\\"hi\\\"\"");
  assert_int_equal(v.as.text.len, strlen(v.as.text.data));
  hdb__value_release(&v);
  v = vint(7);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_JSON, 0, NULL, "j", &err), HDB_OK);
  assert_string_equal(v.as.text.data, "7");
  hdb__value_release(&v);
  v = vflt(2.0);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_JSON, 0, NULL, "j", &err), HDB_OK);
  assert_string_equal(v.as.text.data, "2.0");
  hdb__value_release(&v);
  hdb_value b = {.type = HDB_TYPE_BLOB, .as.blob = {"hi", 2}};
  v = owned(b);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_JSON, 0, NULL, "j", &err), HDB_OK);
  assert_string_equal(v.as.text.data, "{\"$base64\":\"aGk=\"}");
  hdb__value_release(&v);
  v = owned(vjson("{\"a\":1}"));
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_JSON, 0, NULL, "j", &err), HDB_OK);
  assert_string_equal(v.as.text.data, "{\"a\":1}");
  hdb__value_release(&v);
  /* out of memory converting: the value is left as it was */
  v = vint(7);
  hdb__alloc_fail_after(0);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_JSON, 0, NULL, "j", &err), HDB_NOMEM);
  hdb__alloc_fail_after(-1);
  assert_int_equal(v.type, HDB_TYPE_INT);
}

static void test_conform_vector(void **state)
{
  (void)state;
  hdb_error err;
  const float f[3] = {1, 2, 3};
  hdb_value vec = {.type = HDB_TYPE_VECTOR, .as.vector = {f, 3}};
  assert_int_equal(hdb__value_conform(&vec, HDB_TYPE_VECTOR, 3, NULL, "e", &err), HDB_OK);
  assert_int_equal(hdb__value_conform(&vec, HDB_TYPE_VECTOR, 4, "t", "e", &err), HDB_DIMENSION);
  assert_non_null(strstr(err.message, "3 components, expected 4"));
  const float bad[2] = {1, NAN};
  hdb_value nan = {.type = HDB_TYPE_VECTOR, .as.vector = {bad, 2}};
  assert_int_equal(hdb__value_conform(&nan, HDB_TYPE_VECTOR, 2, NULL, "e", &err), HDB_NOT_FINITE);
  assert_non_null(strstr(err.message, "component 1 is NaN"));
  /* json arrays become vectors */
  hdb_value v = owned(vjson("[0.5, -1, 2e0]"));
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_VECTOR, 3, NULL, "e", &err), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_VECTOR);
  assert_int_equal(v.as.vector.dim, 3);
  assert_true(v.as.vector.data[0] == 0.5f && v.as.vector.data[1] == -1.0f &&
              v.as.vector.data[2] == 2.0f);
  hdb__value_release(&v);
  v = owned(vjson("[1,2]"));
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_VECTOR, 3, NULL, "e", &err), HDB_DIMENSION);
  assert_int_equal(v.type, HDB_TYPE_JSON);
  hdb__value_release(&v);
  v = owned(vjson("[1e39]")); /* beyond float32: infinite */
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_VECTOR, 1, NULL, "e", &err), HDB_NOT_FINITE);
  hdb__value_release(&v);
  v = owned(vjson("[1,\"a\"]"));
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_VECTOR, 2, NULL, "e", &err),
                   HDB_TYPE_MISMATCH);
  assert_non_null(strstr(err.message, "field 'e'"));
  hdb__value_release(&v);
  v = owned(vjson("{\"a\":1}"));
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_VECTOR, 1, NULL, "e", &err),
                   HDB_TYPE_MISMATCH);
  hdb__value_release(&v);
  v = owned(vtext("[1,2]"));
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_VECTOR, 2, NULL, "e", &err),
                   HDB_TYPE_MISMATCH);
  hdb__value_release(&v);
  v = owned(vjson("[1,2]"));
  hdb__alloc_fail_after(0);
  assert_int_equal(hdb__value_conform(&v, HDB_TYPE_VECTOR, 2, NULL, "e", &err), HDB_NOMEM);
  hdb__alloc_fail_after(-1);
  hdb__value_release(&v);
}

static void test_nonfinite(void **state)
{
  (void)state;
  const float ok[3] = {0, -1e30f, 1e30f};
  const float inf[3] = {0, 1, INFINITY};
  assert_int_equal(hdb__vector_first_nonfinite(ok, 3), -1);
  assert_int_equal(hdb__vector_first_nonfinite(inf, 3), 2);
  assert_int_equal(hdb__vector_first_nonfinite(inf, 2), -1);
  assert_int_equal(hdb__vector_first_nonfinite(NULL, 0), -1);

  /* The blocked pass (16 lanes at a time) and the tail: every position
   * of every length up to 70, each kind of non-finite value, the largest
   * finite floats and denormals (exponents next to the all-ones one and
   * the all-zeros one) never flagged. */
  const float bad[3] = {NAN, INFINITY, -INFINITY};
  float v[70];
  for (uint32_t dim = 1; dim <= 70; dim++) {
    for (uint32_t i = 0; i < dim; i++)
      v[i] = (i % 3 == 0) ? 3.4028235e38f : (i % 3 == 1) ? -1e-45f : (float)i;
    assert_int_equal(hdb__vector_first_nonfinite(v, dim), -1);
    for (uint32_t pos = 0; pos < dim; pos++) {
      for (int b = 0; b < 3; b++) {
        float keep = v[pos];
        v[pos] = bad[b];
        assert_int_equal(hdb__vector_first_nonfinite(v, dim), (long)pos);
        if (pos + 1 < dim) { /* a second bad one later: the first is named */
          float keep2 = v[dim - 1];
          v[dim - 1] = bad[(b + 1) % 3];
          assert_int_equal(hdb__vector_first_nonfinite(v, dim), (long)pos);
          v[dim - 1] = keep2;
        }
        v[pos] = keep;
      }
    }
  }
}

static int64_t parse_ok(const char *s)
{
  int64_t us = 0;
  assert_int_equal(hdb__timestamp_parse(s, strlen(s), &us), 0);
  return us;
}

static void test_timestamp_parse(void **state)
{
  (void)state;
  assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
  assert_int_equal(parse_ok("1970-01-01"), 0);
  assert_int_equal(parse_ok("2024-01-20T10:00:00.000000Z"), INT64_C(1705744800000000));
  assert_int_equal(parse_ok("2024-01-20 10:00:00"), INT64_C(1705744800000000));
  assert_int_equal(parse_ok("2024-01-20t10:00:00z"), INT64_C(1705744800000000));
  assert_int_equal(parse_ok("2024-01-20T12:30:00+02:30"), INT64_C(1705744800000000));
  assert_int_equal(parse_ok("2024-01-20T05:00:00-05:00"), INT64_C(1705744800000000));
  assert_int_equal(parse_ok("1969-12-31T23:59:59.999999Z"), -1);
  assert_int_equal(parse_ok("1970-01-01T00:00:00.1234569Z"), 123456); /* truncated */
  assert_int_equal(parse_ok("2000-02-29"), INT64_C(951782400000000));
  assert_int_equal(parse_ok("0000-01-01"), INT64_C(-62167219200000000));
  const char *bad[] = {"",
                       "2024",
                       "2024-1-20",
                       "2024-13-01",
                       "2024-00-01",
                       "2023-02-29",
                       "2024-04-31",
                       "2024-01-20T",
                       "2024-01-20T24:00:00Z",
                       "2024-01-20T10:60:00Z",
                       "2024-01-20T10:00:60Z",
                       "2024-01-20T10:00Z",
                       "2024-01-20T10:00:00.Z",
                       "2024-01-20T10:00:00+5",
                       "2024-01-20T10:00:00+05:60",
                       "2024-01-20T10:00:00ZZ",
                       "2024-01-20X10:00:00Z",
                       "abcd-01-01",
                       "+123-01-01",
                       "+9999999-01-01"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t us;
    if (hdb__timestamp_parse(bad[i], strlen(bad[i]), &us) == 0)
      fail_msg("accepted '%s'", bad[i]);
  }
  int64_t us;
  assert_int_equal(hdb__timestamp_parse(NULL, 0, &us), -1);
  /* Length is honoured: the text need not be NUL-terminated. */
  assert_int_equal(hdb__timestamp_parse("1970-01-02XXXX", 10, &us), 0);
  assert_int_equal(us, INT64_C(86400000000));
}

static void test_timestamp_format(void **state)
{
  (void)state;
  char buf[32];
  hdb__timestamp_format(0, buf);
  assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
  hdb__timestamp_format(INT64_C(1705744800000000), buf);
  assert_string_equal(buf, "2024-01-20T10:00:00.000000Z");
  hdb__timestamp_format(-1, buf);
  assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
  hdb__timestamp_format(INT64_C(951782400000000) + 1, buf);
  assert_string_equal(buf, "2000-02-29T00:00:00.000001Z");
  /* Round trips, including the extremes (expanded years). */
  int64_t samples[] = {0,
                       1,
                       -1,
                       INT64_C(1705744800123456),
                       INT64_C(-62167219200000000),
                       INT64_C(-62167219200000001),
                       INT64_C(253402300799999999),
                       INT64_C(253402300800000000),
                       INT64_MAX,
                       INT64_MIN,
                       INT64_MIN + 1};
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
    int64_t back = 0;
    hdb__timestamp_format(samples[i], buf);
    assert_true(strlen(buf) < 32);
    if (hdb__timestamp_parse(buf, strlen(buf), &back) != 0)
      fail_msg("could not parse back '%s'", buf);
    assert_true(back == samples[i]);
  }
  hdb__timestamp_format(INT64_C(-62167219200000001), buf);
  assert_string_equal(buf, "-0001-12-31T23:59:59.999999Z");
  hdb__timestamp_format(INT64_C(253402300800000000), buf);
  assert_string_equal(buf, "+10000-01-01T00:00:00.000000Z");
  /* A pseudo-random sweep over four thousand years. */
  uint64_t x = 88172645463325252u;
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    int64_t t = (int64_t)(x % UINT64_C(126230400000000000)) - INT64_C(62135596800000000);
    int64_t back = 0;
    hdb__timestamp_format(t, buf);
    assert_int_equal(hdb__timestamp_parse(buf, strlen(buf), &back), 0);
    assert_true(back == t);
  }
}

static void test_distance(void **state)
{
  (void)state;
  const float a[3] = {1, 2, 3}, b[3] = {4, 6, 3}, z[3] = {0, 0, 0}, c[3] = {2, 4, 6};
  assert_float_equal(hdb__dist_l2sq(a, b, 3), 25.0f, 1e-6);
  assert_float_equal(hdb__dist_dot(a, b, 3), -(4 + 12 + 9), 1e-6);
  assert_float_equal(hdb__dist_cosine(a, c, 3), 0.0f, 1e-6);
  assert_true(hdb__dist_cosine(a, c, 3) >= 0.0f);
  assert_float_equal(hdb__dist_cosine(a, z, 3), 1.0f, 0);
  assert_float_equal(hdb__dist_cosine(z, z, 3), 1.0f, 0);
  const float n[2] = {1, 0}, m[2] = {-1, 0};
  assert_float_equal(hdb__dist_cosine(n, m, 2), 2.0f, 1e-6);
  assert_float_equal(hdb__distance(HDB_METRIC_DEFAULT, a, b, 3), 25.0f, 1e-6);
  assert_float_equal(hdb__distance(HDB_METRIC_L2, a, b, 3), 25.0f, 1e-6);
  assert_float_equal(hdb__distance(HDB_METRIC_DOT, a, b, 3), -25.0f, 1e-6);
  assert_float_equal(hdb__distance(HDB_METRIC_COSINE, a, c, 3), 0.0f, 1e-6);
  assert_float_equal(hdb__dist_l2sq(a, b, 0), 0.0f, 0);
}

static void test_names(void **state)
{
  (void)state;
  assert_string_equal(hdb_status_name(HDB_NO_TABLE), "NO_TABLE");
  assert_string_equal(hdb_status_message(HDB_NO_TABLE), "no such table");
  assert_string_equal(hdb_status_name(HDB_TOO_BIG), "TOO_BIG");
  assert_string_equal(hdb_status_name((hdb_status)999), "UNKNOWN");
  assert_string_equal(hdb_status_message((hdb_status)-1), "UNKNOWN");
  assert_string_equal(hdb_type_name(HDB_TYPE_TIMESTAMP), "timestamp");
  assert_string_equal(hdb_type_name((hdb_type)99), "unknown");
  assert_string_equal(hdb_metric_name(HDB_METRIC_DEFAULT), "default");
  assert_string_equal(hdb_metric_name(HDB_METRIC_COSINE), "cosine");
  assert_string_equal(hdb_index_type_name(HDB_INDEX_IVF_PQ), "ivf_pq");
  assert_string_equal(hdb_index_type_name((hdb_index_type)42), "unknown");
  hdb_index_type it;
  assert_int_equal(hdb_index_type_from_name("HNSW", &it), HDB_OK);
  assert_int_equal(it, HDB_INDEX_HNSW);
  assert_int_equal(hdb_index_type_from_name("fts", &it), HDB_OK);
  assert_int_equal(it, HDB_INDEX_FTS);
  assert_int_equal(hdb_index_type_from_name("btree", &it), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_index_type_from_name(NULL, &it), HDB_INVALID_ARGUMENT);
  assert_string_equal(hdb_agg_op_name(HDB_AGG_AVG), "avg");
  assert_string_equal(hdb_capability_name(HDB_CAP_KV), "kv");
  assert_string_equal(hdb_capability_name(HDB_CAP_SCHEMALESS), "schemaless");
  assert_null(hdb_capability_name((hdb_capability)(HDB_CAP_KV | HDB_CAP_TTL)));
  assert_string_equal(hdb_version(), HDB_VERSION_STRING);
  assert_int_equal(hdb_version_number(), HDB_VERSION_NUMBER);
}

static void test_err(void **state)
{
  (void)state;
  hdb_error err;
  assert_int_equal(hdb__fail(NULL, HDB_IO, "x"), HDB_IO);
  assert_int_equal(hdb__fail(&err, HDB_NO_TABLE, "no table '%s'", "t"), HDB_NO_TABLE);
  assert_int_equal(err.code, HDB_NO_TABLE);
  assert_string_equal(err.message, "no table 't'");
  hdb__err_prefix(&err, "open %s", "db");
  assert_string_equal(err.message, "open db: no table 't'");
  assert_int_equal(err.code, HDB_NO_TABLE);
  /* re-wrapping the message itself is safe */
  hdb__fail(&err, HDB_IO, "%s (again)", err.message);
  assert_string_equal(err.message, "open db: no table 't' (again)");
  hdb__err_clear(&err);
  assert_int_equal(err.code, HDB_OK);
  assert_string_equal(err.message, "");
  hdb__err_clear(NULL);
  hdb__err_prefix(NULL, "x");
  /* truncation keeps UTF-8 whole: 600 two-byte characters */
  char big[1300];
  for (int i = 0; i < 600; i++)
    memcpy(big + 2 * i, "é", 2);
  big[1200] = '\0';
  hdb__fail(&err, HDB_ERROR, "%s", big);
  size_t len = strlen(err.message);
  assert_true(len < HDB_ERRMSG_MAX);
  assert_int_equal(len % 2, 0);
  hdb__fail(&err, HDB_ERROR, "x%s", big); /* odd offset */
  len = strlen(err.message);
  assert_int_equal(len % 2, 1);
  assert_true((unsigned char)err.message[len - 1] == 0xA9);
}

static void test_alloc(void **state)
{
  (void)state;
  char *s = hdb__strdup("abc");
  assert_string_equal(s, "abc");
  hdb__free_mem(s);
  s = hdb__strndup("abcdef", 2);
  assert_string_equal(s, "ab");
  hdb_free(s);
  assert_null(hdb__strdup(NULL));
  void *p = hdb__malloc(0);
  assert_non_null(p);
  p = hdb__realloc(p, 0);
  assert_non_null(p);
  hdb__free_mem(p);
  p = hdb__calloc(0, 5);
  assert_non_null(p);
  hdb__free_mem(p);
  /* exactly n allocations succeed */
  hdb__alloc_fail_after(2);
  void *a = hdb__malloc(1), *b = hdb__calloc(1, 1), *c = hdb__malloc(1);
  char *d = hdb__strdup("x");
  void *e = hdb__memdup("x", 1);
  hdb__alloc_fail_after(-1);
  assert_non_null(a);
  assert_non_null(b);
  assert_null(c);
  assert_null(d);
  assert_null(e);
  /* a failed realloc leaves the block alone */
  hdb__alloc_fail_after(0);
  assert_null(hdb__realloc(a, 100));
  hdb__alloc_fail_after(-1);
  hdb__free_mem(a);
  hdb__free_mem(b);
  char **strs = hdb__malloc(2 * sizeof *strs);
  strs[0] = hdb__strdup("a");
  strs[1] = hdb__strdup("b");
  hdb_strings_free(strs, 2);
  hdb_strings_free(NULL, 3);
  hdb_free(NULL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_copy_release),     cmocka_unit_test(test_copy_nomem),
      cmocka_unit_test(test_order),            cmocka_unit_test(test_compare),
      cmocka_unit_test(test_conform_numbers),  cmocka_unit_test(test_conform_timestamp),
      cmocka_unit_test(test_conform_json),     cmocka_unit_test(test_conform_vector),
      cmocka_unit_test(test_nonfinite),        cmocka_unit_test(test_timestamp_parse),
      cmocka_unit_test(test_timestamp_format), cmocka_unit_test(test_distance),
      cmocka_unit_test(test_names),            cmocka_unit_test(test_err),
      cmocka_unit_test(test_alloc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
