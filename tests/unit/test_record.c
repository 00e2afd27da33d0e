/*
 * test_record.c - hdb_record: names, ids, setters and getters, order,
 * projection, patches, and every allocation failure on those paths.
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
#include "core/record.h"
#include "core/schema.h"
#include "core/value.h"
#include "hanzodb.h"

static void test_names(void **state)
{
  (void)state;
  char longname[HDB_MAX_NAME_LEN + 2];
  memset(longname, 'a', sizeof longname);
  longname[HDB_MAX_NAME_LEN] = '\0';
  assert_true(hdb__name_valid(longname, 0));
  longname[HDB_MAX_NAME_LEN] = 'a';
  longname[HDB_MAX_NAME_LEN + 1] = '\0';
  assert_false(hdb__name_valid(longname, 0));
  assert_true(hdb__name_valid("a", 0));
  assert_true(hdb__name_valid("Abc_09", 0));
  assert_false(hdb__name_valid("", 0));
  assert_false(hdb__name_valid(NULL, 1));
  assert_false(hdb__name_valid("9a", 0));
  assert_false(hdb__name_valid("a-b", 0));
  assert_false(hdb__name_valid("a.b", 0));
  assert_false(hdb__name_valid("a b", 0));
  assert_false(hdb__name_valid("é", 0));
  assert_false(hdb__name_valid("_x", 0));
  assert_true(hdb__name_valid("_x", 1));
  assert_true(hdb__name_valid("_distance", 1));
}

static void test_utf8(void **state)
{
  (void)state;
  assert_true(hdb__utf8_valid("", 0));
  assert_true(hdb__utf8_valid("abc", 3));
  assert_true(hdb__utf8_valid("héllo wörld ✓ 𝄞", strlen("héllo wörld ✓ 𝄞")));
  assert_true(hdb__utf8_valid("a\0b", 3)); /* NUL is a valid code point */
  assert_false(hdb__utf8_valid("\xC3", 1));            /* truncated */
  assert_false(hdb__utf8_valid("\xC0\xAF", 2));        /* overlong '/' */
  assert_false(hdb__utf8_valid("\xE0\x80\xAF", 3));    /* overlong */
  assert_false(hdb__utf8_valid("\xED\xA0\x80", 3));    /* surrogate */
  assert_false(hdb__utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
  assert_false(hdb__utf8_valid("\xF5\x80\x80\x80", 4));
  assert_false(hdb__utf8_valid("\x80", 1));            /* stray continuation */
  assert_false(hdb__utf8_valid("\xE2\x9C", 2));
  assert_false(hdb__utf8_valid("\xE2\x28\x93", 3));
  assert_true(hdb__utf8_valid("\xF4\x8F\xBF\xBF", 4)); /* U+10FFFF */
}

static void test_ids(void **state)
{
  (void)state;
  hdb_error err;
  assert_int_equal(hdb__id_check("a1", &err), HDB_OK);
  assert_int_equal(hdb__id_check(NULL, &err), HDB_BAD_ID);
  assert_int_equal(hdb__id_check("", &err), HDB_BAD_ID);
  assert_non_null(strstr(err.message, "empty"));
  assert_int_equal(hdb__id_check("\xFF", &err), HDB_BAD_ID);
  assert_non_null(strstr(err.message, "UTF-8"));
  char id[HDB_MAX_ID_LEN + 2];
  memset(id, 'x', sizeof id);
  id[HDB_MAX_ID_LEN] = '\0';
  assert_int_equal(hdb__id_check(id, &err), HDB_OK);
  id[HDB_MAX_ID_LEN] = 'x';
  id[HDB_MAX_ID_LEN + 1] = '\0';
  assert_int_equal(hdb__id_check(id, &err), HDB_BAD_ID);
  assert_non_null(strstr(err.message, "1025"));

  hdb_record *r = hdb_record_new(NULL);
  assert_non_null(r);
  assert_null(hdb_record_id(r));
  assert_int_equal(hdb_record_set_id(r, "k1"), HDB_OK);
  assert_string_equal(hdb_record_id(r), "k1");
  assert_int_equal(hdb_record_set_id(r, ""), HDB_BAD_ID);
  assert_int_equal(hdb_record_set_id(r, id), HDB_BAD_ID);
  assert_int_equal(hdb_record_set_id(r, "\xC3\x28"), HDB_BAD_ID);
  assert_string_equal(hdb_record_id(r), "k1"); /* unchanged by failures */
  assert_int_equal(hdb_record_set_id(r, NULL), HDB_OK);
  assert_null(hdb_record_id(r));
  assert_int_equal(hdb_record_set_id(NULL, "x"), HDB_INVALID_ARGUMENT);
  assert_null(hdb_record_id(NULL));
  hdb_record_free(r);
  /* hdb_record_new keeps any id: it is checked when written */
  r = hdb_record_new("");
  assert_string_equal(hdb_record_id(r), "");
  hdb_record_free(r);
  hdb_record_free(NULL);
}

static void test_setters(void **state)
{
  (void)state;
  hdb_record *r = hdb_record_new("a");
  const float vec[3] = {0.5f, 1, -2};
  const unsigned char blob[3] = {0, 1, 255};
  assert_int_equal(hdb_record_set_null(r, "n"), HDB_OK);
  assert_int_equal(hdb_record_set_bool(r, "b", 42), HDB_OK);
  assert_int_equal(hdb_record_set_int(r, "i", INT64_MIN), HDB_OK);
  assert_int_equal(hdb_record_set_float(r, "f", 2.5), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "t", "héllo"), HDB_OK);
  assert_int_equal(hdb_record_set_textn(r, "tn", "abcdef", 3), HDB_OK);
  assert_int_equal(hdb_record_set_blob(r, "bl", blob, 3), HDB_OK);
  assert_int_equal(hdb_record_set_blob(r, "empty", NULL, 0), HDB_OK);
  assert_int_equal(hdb_record_set_timestamp(r, "ts", 1234), HDB_OK);
  assert_int_equal(hdb_record_set_json(r, "j", " { \"a\" : [1, 2.50, \"x\"] } "), HDB_OK);
  assert_int_equal(hdb_record_set_vector(r, "v", vec, 3), HDB_OK);
  assert_int_equal(hdb_record_field_count(r), 11);

  hdb_value v;
  const char *name;
  assert_int_equal(hdb_record_get(r, "n", &v), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_NULL);
  assert_int_equal(hdb_record_get(r, "b", &v), HDB_OK);
  assert_int_equal(v.as.boolean, 1);
  assert_int_equal(hdb_record_get(r, "i", &v), HDB_OK);
  assert_true(v.as.i == INT64_MIN);
  assert_int_equal(hdb_record_get(r, "f", &v), HDB_OK);
  assert_true(v.as.f == 2.5);
  assert_int_equal(hdb_record_get(r, "t", &v), HDB_OK);
  assert_string_equal(v.as.text.data, "héllo");
  assert_int_equal(v.as.text.len, strlen("héllo"));
  assert_int_equal(hdb_record_get(r, "tn", &v), HDB_OK);
  assert_string_equal(v.as.text.data, "abc");
  assert_int_equal(hdb_record_get(r, "bl", &v), HDB_OK);
  assert_int_equal(v.as.blob.len, 3);
  assert_memory_equal(v.as.blob.data, blob, 3);
  assert_int_equal(hdb_record_get(r, "empty", &v), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_BLOB);
  assert_int_equal(v.as.blob.len, 0);
  assert_int_equal(hdb_record_get(r, "ts", &v), HDB_OK);
  assert_int_equal(v.as.timestamp_us, 1234);
  assert_int_equal(hdb_record_get(r, "j", &v), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_JSON);
  assert_string_equal(v.as.text.data, "{\"a\":[1,2.50,\"x\"]}"); /* compact, numbers as written */
  assert_int_equal(hdb_record_get(r, "v", &v), HDB_OK);
  assert_int_equal(v.as.vector.dim, 3);
  assert_memory_equal(v.as.vector.data, vec, sizeof vec);
  assert_ptr_not_equal(v.as.vector.data, vec);
  assert_int_equal(hdb_record_get(r, "missing", &v), HDB_NOT_FOUND);
  assert_int_equal(hdb_record_get(r, "i", NULL), HDB_OK);

  /* order is the order of first set; replacing keeps the position */
  assert_int_equal(hdb_record_field(r, 2, &name, &v), HDB_OK);
  assert_string_equal(name, "i");
  assert_int_equal(hdb_record_set_text(r, "i", "now text"), HDB_OK);
  assert_int_equal(hdb_record_field(r, 2, &name, &v), HDB_OK);
  assert_string_equal(name, "i");
  assert_int_equal(v.type, HDB_TYPE_TEXT);
  assert_int_equal(hdb_record_field_count(r), 11);
  assert_int_equal(hdb_record_field(r, 11, &name, &v), HDB_NOT_FOUND);
  assert_int_equal(hdb_record_field(r, 0, NULL, NULL), HDB_OK);

  /* unset */
  assert_int_equal(hdb_record_unset(r, "b"), HDB_OK);
  assert_int_equal(hdb_record_unset(r, "b"), HDB_NOT_FOUND);
  assert_int_equal(hdb_record_field_count(r), 10);
  assert_int_equal(hdb_record_field(r, 1, &name, &v), HDB_OK);
  assert_string_equal(name, "i");
  hdb_record_free(r);
}

static void test_setter_errors(void **state)
{
  (void)state;
  hdb_record *r = hdb_record_new("a");
  const float nan3[3] = {1, NAN, 3};
  const float inf1[1] = {-INFINITY};
  const float ok[1] = {1};
  assert_int_equal(hdb_record_set_int(r, "9lives", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_int(r, "_distance", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_int(r, "id", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_int(r, "", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_int(r, NULL, 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_int(r, "a.b", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_int(NULL, "a", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_vector(r, "v", nan3, 3), HDB_NOT_FINITE);
  assert_int_equal(hdb_record_set_vector(r, "v", inf1, 1), HDB_NOT_FINITE);
  assert_int_equal(hdb_record_set_vector(r, "v", ok, 0), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_vector(r, "v", NULL, 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_vector(r, "v", ok, HDB_MAX_VECTOR_DIM + 1),
                   HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_json(r, "j", "{\"a\":"), HDB_BAD_JSON);
  assert_int_equal(hdb_record_set_json(r, "j", ""), HDB_BAD_JSON);
  assert_int_equal(hdb_record_set_json(r, "j", "[1] x"), HDB_BAD_JSON);
  assert_int_equal(hdb_record_set_json(r, "j", "[01]"), HDB_BAD_JSON);
  assert_int_equal(hdb_record_set_json(r, "j", NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_text(r, "t", "\xFF"), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_text(r, "t", NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_textn(r, "t", NULL, 2), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_blob(r, "b", NULL, 2), HDB_INVALID_ARGUMENT);
  hdb_value odd = {.type = (hdb_type)77};
  assert_int_equal(hdb_record_set(r, "x", &odd), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set(r, "x", NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_field_count(r), 0); /* nothing was set */
  /* a failed replace leaves the old value */
  assert_int_equal(hdb_record_set_int(r, "x", 5), HDB_OK);
  assert_int_equal(hdb_record_set_json(r, "x", "nope"), HDB_BAD_JSON);
  hdb_value v;
  assert_int_equal(hdb_record_get(r, "x", &v), HDB_OK);
  assert_int_equal(v.as.i, 5);
  assert_int_equal(hdb_record_unset(NULL, "x"), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_field(NULL, 0, NULL, NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_get(NULL, "x", &v), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_field_count(NULL), 0);
  hdb_record_free(r);
}

static void test_set_from_view(void **state)
{
  (void)state;
  hdb_record *a = hdb_record_new("a"), *b = hdb_record_new("b");
  assert_int_equal(hdb_record_set_text(a, "t", "x"), HDB_OK);
  hdb_value v;
  assert_int_equal(hdb_record_get(a, "t", &v), HDB_OK);
  assert_int_equal(hdb_record_set(b, "copy", &v), HDB_OK);
  hdb_record_free(a); /* b's copy is independent */
  assert_int_equal(hdb_record_get(b, "copy", &v), HDB_OK);
  assert_string_equal(v.as.text.data, "x");
  /* setting a field from its own value is safe */
  assert_int_equal(hdb_record_set(b, "copy", &v), HDB_OK);
  assert_int_equal(hdb_record_get(b, "copy", &v), HDB_OK);
  assert_string_equal(v.as.text.data, "x");
  hdb_record_free(b);
}

static hdb_record *sample(void)
{
  hdb_record *r = hdb_record_new("s1");
  const float vec[2] = {1, 2};
  assert_int_equal(hdb_record_set_int(r, "a", 1), HDB_OK);
  assert_int_equal(hdb_record_set_text(r, "b", "two"), HDB_OK);
  assert_int_equal(hdb_record_set_vector(r, "c", vec, 2), HDB_OK);
  assert_int_equal(hdb_record_set_json(r, "d", "{\"k\":true}"), HDB_OK);
  return r;
}

static void test_clone_project(void **state)
{
  (void)state;
  hdb_record *r = sample();
  hdb_record *c = hdb_record_clone(r);
  assert_non_null(c);
  assert_string_equal(hdb_record_id(c), "s1");
  assert_int_equal(hdb_record_field_count(c), 4);
  for (size_t i = 0; i < 4; i++) {
    const char *n1, *n2;
    hdb_value v1, v2;
    hdb_record_field(r, i, &n1, &v1);
    hdb_record_field(c, i, &n2, &v2);
    assert_string_equal(n1, n2);
    assert_int_equal(hdb__value_order(&v1, &v2), 0);
  }
  assert_null(hdb_record_clone(NULL));
  hdb_record_free(c);

  const char *fields[] = {"d", "a", "nope", "a"};
  hdb_record *p = hdb__record_project(r, fields, 4);
  assert_non_null(p);
  assert_string_equal(hdb_record_id(p), "s1");
  assert_int_equal(hdb_record_field_count(p), 2);
  const char *name;
  hdb_record_field(p, 0, &name, NULL);
  assert_string_equal(name, "d"); /* projection order */
  hdb_record_field(p, 1, &name, NULL);
  assert_string_equal(name, "a");
  hdb_record_free(p);
  p = hdb__record_project(r, fields, 0);
  assert_int_equal(hdb_record_field_count(p), 0);
  assert_string_equal(hdb_record_id(p), "s1");
  hdb_record_free(p);

  assert_int_equal(hdb__record_find(r, "c"), 2);
  assert_int_equal(hdb__record_find(r, "zz"), -1);
  assert_non_null(hdb__record_value(r, "b"));
  assert_null(hdb__record_value(r, "zz"));
  hdb_record_free(r);
}

static void test_patch(void **state)
{
  (void)state;
  hdb_record *r = sample();
  hdb_record *patch = hdb_record_new("ignored");
  assert_int_equal(hdb_record_set_null(patch, "b"), HDB_OK);
  assert_int_equal(hdb_record_set_int(patch, "a", 10), HDB_OK);
  assert_int_equal(hdb_record_set_text(patch, "e", "new"), HDB_OK);
  assert_int_equal(hdb_record_set_null(patch, "never"), HDB_OK);
  assert_int_equal(hdb__record_apply_patch(r, patch), HDB_OK);
  assert_string_equal(hdb_record_id(r), "s1");
  assert_int_equal(hdb_record_field_count(r), 4);
  const char *names[] = {"a", "c", "d", "e"};
  for (size_t i = 0; i < 4; i++) {
    const char *n;
    hdb_record_field(r, i, &n, NULL);
    assert_string_equal(n, names[i]);
  }
  hdb_value v;
  hdb_record_get(r, "a", &v);
  assert_int_equal(v.as.i, 10);
  /* atomic under allocation failure */
  for (long n = 0;; n++) {
    hdb_record *t = sample();
    hdb__alloc_fail_after(n);
    hdb_status st = hdb__record_apply_patch(t, patch);
    hdb__alloc_fail_after(-1);
    if (st == HDB_OK) {
      assert_int_equal(hdb_record_field_count(t), 4);
      hdb_record_free(t);
      break;
    }
    assert_int_equal(st, HDB_NOMEM);
    assert_int_equal(hdb_record_field_count(t), 4);
    assert_int_equal(hdb_record_get(t, "b", &v), HDB_OK); /* untouched */
    assert_int_equal(hdb_record_get(t, "e", &v), HDB_NOT_FOUND);
    hdb_record_free(t);
  }
  hdb_record_free(patch);
  hdb_record_free(r);
}

static void test_put_owned(void **state)
{
  (void)state;
  hdb_record *r = hdb_record_new(NULL);
  hdb_value v = {.type = HDB_TYPE_TEXT};
  v.as.text.data = hdb__strdup("owned");
  v.as.text.len = 5;
  assert_int_equal(hdb__record_put_owned(r, "_distance", &v), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_NULL); /* moved */
  v.type = HDB_TYPE_TEXT;
  v.as.text.data = hdb__strdup("x");
  v.as.text.len = 1;
  assert_int_equal(hdb__record_put_owned(NULL, "a", &v), HDB_INVALID_ARGUMENT);
  assert_int_equal(v.type, HDB_TYPE_NULL); /* released */
  hdb_record_free(r);
}

/* Names live in per-record blocks: they stay valid while other fields are
 * added and removed, and set/unset cycles do not grow the record. */
static void test_name_blocks(void **state)
{
  (void)state;
  hdb_record *r = hdb_record_new("r");
  char name[40];
  for (int i = 0; i < 100; i++) { /* several blocks */
    snprintf(name, sizeof name, "field_with_a_long_name_%03d", i);
    assert_int_equal(hdb_record_set_int(r, name, i), HDB_OK);
  }
  for (int round = 0; round < 20000; round++) {
    int k = round % 100;
    snprintf(name, sizeof name, "field_with_a_long_name_%03d", k);
    assert_int_equal(hdb_record_unset(r, name), HDB_OK);
    assert_int_equal(hdb_record_set_int(r, name, round), HDB_OK);
  }
  assert_int_equal(hdb_record_field_count(r), 100);
  for (int k = 0; k < 100; k++) {
    snprintf(name, sizeof name, "field_with_a_long_name_%03d", k);
    hdb_value v;
    assert_int_equal(hdb_record_get(r, name, &v), HDB_OK);
    assert_int_equal(v.as.i, 19900 + k);
  }
  /* 100 live names of 27 bytes: compaction keeps the total within a small
   * multiple of that, not 20,000 names' worth. */
  assert_true(hdb__record_name_bytes(r) < 4 * 100 * 27 + 2048);
  hdb_record *c = hdb_record_clone(r);
  hdb_record_free(r);
  hdb_value v;
  assert_int_equal(hdb_record_get(c, "field_with_a_long_name_042", &v), HDB_OK);
  assert_int_equal(v.as.i, 19942);
  hdb_record_free(c);
}

static void test_nomem(void **state)
{
  (void)state;
  /* every allocation failure in building a record: NOMEM, no leak */
  for (long n = 0;; n++) {
    hdb__alloc_fail_after(n);
    hdb_record *r = hdb_record_new("id");
    hdb_status st = r ? HDB_OK : HDB_NOMEM;
    const float vec[2] = {1, 2};
    if (st == HDB_OK)
      st = hdb_record_set_text(r, "t", "text");
    if (st == HDB_OK)
      st = hdb_record_set_vector(r, "v", vec, 2);
    if (st == HDB_OK)
      st = hdb_record_set_json(r, "j", "{\"a\":[1,2,{\"b\":null}]}");
    if (st == HDB_OK)
      st = hdb_record_set_blob(r, "b", "xyz", 3);
    for (int i = 0; st == HDB_OK && i < 12; i++) {
      char name[8] = {'f', (char)('a' + i), 0};
      st = hdb_record_set_int(r, name, i);
    }
    if (st == HDB_OK)
      st = hdb_record_set_id(r, "other");
    hdb_record *c = NULL;
    if (st == HDB_OK) {
      c = hdb_record_clone(r);
      st = c ? HDB_OK : HDB_NOMEM;
    }
    hdb__alloc_fail_after(-1);
    hdb_record_free(c);
    hdb_record_free(r);
    if (st == HDB_OK)
      break;
    assert_int_equal(st, HDB_NOMEM);
  }
}

/* Zero-copy setters: the record points at the caller's memory, never
 * frees it (ASan reports a bad free of these stack arrays), and every copy
 * or conversion made from it owns its bytes. */
static void test_ref_setters(void **state)
{
  (void)state;
  float vec[4] = {1, 2, 3, 4};
  unsigned char blob[5] = {9, 8, 7, 6, 5};
  hdb_record *r = hdb_record_new("r");
  assert_int_equal(hdb_record_set_vector_ref(r, "v", vec, 4), HDB_OK);
  assert_int_equal(hdb_record_set_blob_ref(r, "b", blob, 5), HDB_OK);
  hdb_value v;
  assert_int_equal(hdb_record_get(r, "v", &v), HDB_OK);
  assert_ptr_equal(v.as.vector.data, vec);
  assert_int_equal(r->fields[0].finite, 1);
  assert_int_equal(r->fields[0].borrowed, 1);
  assert_int_equal(hdb_record_get(r, "b", &v), HDB_OK);
  assert_ptr_equal(v.as.blob.data, blob);

  /* A clone owns copies. */
  hdb_record *c = hdb_record_clone(r);
  vec[0] = 100;
  blob[0] = 0;
  assert_int_equal(hdb_record_get(c, "v", &v), HDB_OK);
  assert_true(v.as.vector.data != vec);
  assert_true(v.as.vector.data[0] == 1.f);
  assert_int_equal(c->fields[0].borrowed, 0);
  assert_int_equal(c->fields[0].finite, 1);
  assert_int_equal(hdb_record_get(c, "b", &v), HDB_OK);
  assert_int_equal(((const unsigned char *)v.as.blob.data)[0], 9);

  /* Replacing and removing borrowed fields frees nothing of the caller's. */
  assert_int_equal(hdb_record_set_vector(r, "v", vec, 4), HDB_OK);
  assert_int_equal(r->fields[0].borrowed, 0);
  assert_int_equal(hdb_record_unset(r, "b"), HDB_OK);
  assert_int_equal(hdb_record_set_blob_ref(r, "b", blob, 5), HDB_OK);
  assert_int_equal(hdb_record_set_blob_ref(r, "b", blob + 1, 4), HDB_OK);

  /* A _ref setter given the record's own payload of that very field gets
   * a copy: the old payload is freed by the replacement. */
  assert_int_equal(hdb_record_get(c, "v", &v), HDB_OK);
  assert_int_equal(hdb_record_set_vector_ref(c, "v", v.as.vector.data + 1, 3), HDB_OK);
  assert_int_equal(c->fields[0].borrowed, 0);
  assert_int_equal(hdb_record_get(c, "v", &v), HDB_OK);
  assert_int_equal(v.as.vector.dim, 3);
  assert_true(v.as.vector.data[0] == 2.f && v.as.vector.data[2] == 4.f);

  /* Conforming to a json column converts an owned copy. */
  hdb_schema *s = NULL;
  assert_int_equal(hdb_schema_from_json("{\"b\":\"json\",\"v\":\"vector(4,l2)\"}", &s, NULL),
                   HDB_OK);
  hdb_record *j = hdb_record_new("j");
  assert_int_equal(hdb_record_set_blob_ref(j, "b", blob, 5), HDB_OK);
  assert_int_equal(hdb_record_set_vector_ref(j, "v", vec, 4), HDB_OK);
  assert_int_equal(hdb__schema_conform(s, "t", j, 1, NULL), HDB_OK);
  assert_int_equal(hdb_record_get(j, "b", &v), HDB_OK);
  assert_int_equal(v.type, HDB_TYPE_JSON);
  assert_int_equal(j->fields[0].borrowed, 0);
  assert_int_equal(j->fields[1].borrowed, 1); /* unchanged: nothing to convert */
  hdb_record_free(j);
  hdb_schema_free(s);

  /* Checks. */
  const float bad[2] = {1.f, INFINITY};
  assert_int_equal(hdb_record_set_vector_ref(r, "w", bad, 2), HDB_NOT_FINITE);
  assert_int_equal(hdb_record_set_vector_ref(r, "w", vec, 0), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_vector_ref(r, "id", vec, 4), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_vector_ref(NULL, "w", vec, 4), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_blob_ref(r, "w", NULL, 3), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_blob_ref(r, "w", NULL, 0), HDB_OK); /* empty: a copy */
  assert_int_equal(hdb_record_get(r, "w", &v), HDB_OK);
  assert_int_equal(v.as.blob.len, 0);
  hdb_record_free(c);
  hdb_record_free(r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),         cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_ids),           cmocka_unit_test(test_setters),
      cmocka_unit_test(test_setter_errors), cmocka_unit_test(test_set_from_view),
      cmocka_unit_test(test_clone_project), cmocka_unit_test(test_patch),
      cmocka_unit_test(test_put_owned),     cmocka_unit_test(test_name_blocks),
      cmocka_unit_test(test_nomem),         cmocka_unit_test(test_ref_setters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
