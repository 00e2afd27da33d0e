/*
 * conformance_crud.c - records in and out: every value type round-trips
 * exactly, insert batches, upsert, update (patch), update_where, delete,
 * delete_where, counts, and all-or-nothing batches (one bad record inserts
 * nothing and the status names the specific problem).
 */
#include "conformance_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TYPES_SCHEMA                                                                   \
  "{\"b\":\"bool\",\"i\":\"int\",\"f\":\"float\",\"t\":\"text\",\"bl\":\"blob\","     \
  "\"ts\":\"timestamp\",\"j\":\"json\",\"v\":\"vector(4,l2)\",\"big\":\"vector(1000,dot)\"}"

static const unsigned char blob_bytes[] = {0x00, 0x01, 0x00, 0xff, 0x00, 0x7f, 0x80, 0x00};
static const char *const unicode_text = "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x8e\x89 'q' \"d\" \\ \n\t end";
static const char *const json_doc = "{\"a\":[1,2.5,{\"b\":null}],\"s\":\"\xc3\xa9\",\"t\":true}";

static void test_crud_roundtrip_every_type(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_types", TYPES_SCHEMA);
  const float v[4] = {0.1f, -1e-30f, 3.4e38f, 0.0f};
  float *big = malloc(1000 * sizeof *big);
  assert_non_null(big);
  conf_rng g;
  conf_rng_seed(&g, 42);
  for (int i = 0; i < 1000; i++) big[i] = conf_rng_float(&g, -100.f, 100.f);

  hdb_record *r[4] = {conf_rec("full"), conf_rec("empty"), conf_rec("edges"),
                      conf_rec("\xe6\x97\xa5\xe6\x9c\xac-id \xf0\x9f\x94\x91")};
  conf_set_bool(r[0], "b", 1);
  conf_set_int(r[0], "i", 1234567890123LL);
  conf_set_float(r[0], "f", 0.1);
  conf_set_text(r[0], "t", unicode_text);
  conf_set_blob(r[0], "bl", blob_bytes, sizeof blob_bytes);
  conf_set_ts(r[0], "ts", 1705744800123456LL);
  conf_set_json(r[0], "j", json_doc);
  conf_set_vec(r[0], "v", v, 4);
  conf_set_vec(r[0], "big", big, 1000);
  /* "empty": only the id; every column is null. */
  conf_set_bool(r[2], "b", 0);
  conf_set_int(r[2], "i", INT64_MIN);
  conf_set_float(r[2], "f", -1.7976931348623157e308);
  conf_set_text(r[2], "t", "");
  conf_set_blob(r[2], "bl", "", 0);
  conf_set_ts(r[2], "ts", -1); /* one microsecond before the epoch */
  conf_set_json(r[2], "j", "[]");
  conf_set_int(r[3], "i", INT64_MAX);
  conf_set_float(r[3], "f", 4.9406564584124654e-324);
  conf_set_ts(r[3], "ts", 0);
  conf_set_json(r[3], "j", "\"str\"");
  conf_set_null(r[3], "t");
  INSERT_FREE(db, "cf_types", r, 4);
  assert_int_equal(COUNT(db, "cf_types", NULL), 4);

  hdb_record *got = GET(db, "cf_types", "full");
  assert_string_equal(hdb_record_id(got), "full");
  FIELD_BOOL(got, "b", 1);
  FIELD_INT(got, "i", 1234567890123LL);
  FIELD_FLOAT(got, "f", 0.1);
  FIELD_TEXT(got, "t", unicode_text);
  FIELD_BLOB(got, "bl", blob_bytes, sizeof blob_bytes);
  FIELD_TS(got, "ts", 1705744800123456LL);
  FIELD_JSON(got, "j", json_doc);
  FIELD_VEC(got, "v", v, 4);
  FIELD_VEC(got, "big", big, 1000);
  /* The id is not a field. */
  hdb_value dummy;
  assert_int_equal(hdb_record_get(got, "id", &dummy), HDB_NOT_FOUND);
  hdb_record_free(got);

  got = GET(db, "cf_types", "empty");
  assert_int_equal(conf_nonnull_fields(got), 0);
  FIELD_NULL(got, "b");
  FIELD_NULL(got, "v");
  hdb_record_free(got);

  got = GET(db, "cf_types", "edges");
  FIELD_BOOL(got, "b", 0);
  FIELD_INT(got, "i", INT64_MIN);
  FIELD_FLOAT(got, "f", -1.7976931348623157e308);
  FIELD_TEXT(got, "t", ""); /* empty text is not null */
  FIELD_BLOB(got, "bl", "", 0);
  FIELD_TS(got, "ts", -1);
  FIELD_JSON(got, "j", "[]");
  hdb_record_free(got);

  got = GET(db, "cf_types", "\xe6\x97\xa5\xe6\x9c\xac-id \xf0\x9f\x94\x91");
  assert_string_equal(hdb_record_id(got), "\xe6\x97\xa5\xe6\x9c\xac-id \xf0\x9f\x94\x91");
  FIELD_INT(got, "i", INT64_MAX);
  FIELD_FLOAT(got, "f", 4.9406564584124654e-324);
  FIELD_TS(got, "ts", 0);
  FIELD_JSON(got, "j", "\"str\"");
  FIELD_NULL(got, "t");
  hdb_record_free(got);
  free(big);

  hdb_record *missing = (hdb_record *)1;
  EXPECT(db, HDB_NOT_FOUND, hdb_get(db, "cf_types", "nope", &missing));
}

static void test_crud_conversions_from_json(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_conv", TYPES_SCHEMA);
  const char *json =
      "{\"id\":\"j1\",\"b\":true,\"i\":42,\"f\":3,\"t\":\"x\",\"bl\":{\"$base64\":\"AAEA/w==\"},"
      "\"ts\":\"2024-01-20T10:00:00.000001Z\",\"j\":{\"k\":\"v\"},\"v\":[1,2.5,-3,0]}";
  hdb_record *rec = NULL;
  hdb_error err;
  memset(&err, 0, sizeof err);
  hdb_status st = hdb_record_from_json(json, strlen(json), 1, &rec, &err);
  if (st != HDB_OK) fail_msg("hdb_record_from_json -> %s: %s", hdb_status_name(st), err.message);
  assert_string_equal(hdb_record_id(rec), "j1");
  hdb_record *batch[1] = {rec};
  INSERT_FREE(db, "cf_conv", batch, 1);

  hdb_record *got = GET(db, "cf_conv", "j1");
  FIELD_BOOL(got, "b", 1);
  FIELD_INT(got, "i", 42);
  FIELD_FLOAT(got, "f", 3.0); /* an int written to a float column */
  FIELD_TEXT(got, "t", "x");
  static const unsigned char expect_blob[] = {0x00, 0x01, 0x00, 0xff};
  FIELD_BLOB(got, "bl", expect_blob, sizeof expect_blob);
  FIELD_TS(got, "ts", 1705744800000001LL); /* RFC 3339 text to a timestamp column */
  FIELD_JSON(got, "j", "{\"k\":\"v\"}");
  const float ev[4] = {1.f, 2.5f, -3.f, 0.f}; /* a number array to a vector column */
  FIELD_VEC(got, "v", ev, 4);

  /* And back to JSON: the documented shapes. */
  char *out = NULL;
  CHECK(db, hdb_record_to_json(got, &out));
  assert_non_null(out);
  if (!conf_contains(out, "\"id\":\"j1\"") || !conf_contains(out, "\"$base64\":\"AAEA/w==\"") ||
      !conf_contains(out, "\"2024-01-20T10:00:00.000001Z\""))
    fail_msg("hdb_record_to_json gave %s", out);
  hdb_free(out);
  hdb_record_free(got);
}

static void test_crud_insert_batch_count_get(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_batch", "{\"n\":\"int\",\"s\":\"text\"}");
  enum { N = 500 };
  hdb_record **recs = calloc(N, sizeof *recs);
  assert_non_null(recs);
  char id[32], s[32];
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "k%04d", i);
    snprintf(s, sizeof s, "v%d", i * 7);
    recs[i] = conf_rec(id);
    conf_set_int(recs[i], "n", i);
    conf_set_text(recs[i], "s", s);
  }
  /* The caller keeps ownership: the records are unchanged by the insert. */
  CHECK(db, hdb_insert(db, "cf_batch", recs, N));
  assert_string_equal(hdb_record_id(recs[17]), "k0017");
  /* Changing a record after the insert does not change the row. */
  conf_set_int(recs[17], "n", -1);
  conf_free_recs(recs, N);
  free(recs);

  assert_int_equal(COUNT(db, "cf_batch", NULL), N);
  assert_int_equal(COUNT(db, "cf_batch", "n < 100"), 100);
  assert_int_equal(COUNT(db, "cf_batch", ""), N);
  for (int i = 0; i < N; i += 37) {
    snprintf(id, sizeof id, "k%04d", i);
    snprintf(s, sizeof s, "v%d", i * 7);
    hdb_record *got = GET(db, "cf_batch", id);
    FIELD_INT(got, "n", i);
    FIELD_TEXT(got, "s", s);
    /* A returned record is the caller's: changing it changes no row. */
    conf_set_int(got, "n", 99999);
    hdb_record_free(got);
    got = GET(db, "cf_batch", id);
    FIELD_INT(got, "n", i);
    hdb_record_free(got);
  }
  /* An empty batch is fine and changes nothing. */
  CHECK(db, hdb_insert(db, "cf_batch", NULL, 0));
  assert_int_equal(COUNT(db, "cf_batch", NULL), N);
}

static void test_crud_upsert_replaces_whole_row(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_up", "{\"a\":\"int\",\"b\":\"text\",\"c\":\"float\"}");
  hdb_record *r[2] = {conf_rec("x"), conf_rec("y")};
  conf_set_int(r[0], "a", 1);
  conf_set_text(r[0], "b", "keep?");
  conf_set_float(r[0], "c", 1.5);
  conf_set_int(r[1], "a", 2);
  INSERT_FREE(db, "cf_up", r, 2);

  /* x replaced by a row with only a; z is new; y repeated: last wins. */
  hdb_record *u[4] = {conf_rec("x"), conf_rec("z"), conf_rec("y"), conf_rec("y")};
  conf_set_int(u[0], "a", 10);
  conf_set_text(u[1], "b", "new");
  conf_set_int(u[2], "a", 20);
  conf_set_int(u[3], "a", 21);
  conf_set_float(u[3], "c", 2.5);
  CHECK(db, hdb_upsert(db, "cf_up", u, 4));
  conf_free_recs(u, 4);

  assert_int_equal(COUNT(db, "cf_up", NULL), 3);
  hdb_record *got = GET(db, "cf_up", "x");
  FIELD_INT(got, "a", 10);
  FIELD_NULL(got, "b");
  FIELD_NULL(got, "c");
  assert_int_equal(conf_nonnull_fields(got), 1);
  hdb_record_free(got);
  got = GET(db, "cf_up", "y");
  FIELD_INT(got, "a", 21);
  FIELD_FLOAT(got, "c", 2.5);
  hdb_record_free(got);
  got = GET(db, "cf_up", "z");
  FIELD_TEXT(got, "b", "new");
  FIELD_NULL(got, "a");
  hdb_record_free(got);
}

static void test_crud_update_patch(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_upd", "{\"a\":\"int\",\"b\":\"text\",\"c\":\"float\",\"j\":\"json\"}");
  hdb_record *r[2] = {conf_rec("x"), conf_rec("y")};
  conf_set_int(r[0], "a", 1);
  conf_set_text(r[0], "b", "bee");
  conf_set_float(r[0], "c", 1.5);
  conf_set_json(r[0], "j", "{\"k\":1}");
  conf_set_int(r[1], "a", 2);
  INSERT_FREE(db, "cf_upd", r, 2);

  hdb_record *patch = conf_rec("ignored-id");
  conf_set_int(patch, "a", 100);
  conf_set_null(patch, "b"); /* null clears */
  CHECK(db, hdb_update(db, "cf_upd", "x", patch));
  hdb_record_free(patch);

  hdb_record *got = GET(db, "cf_upd", "x");
  FIELD_INT(got, "a", 100);
  FIELD_NULL(got, "b");
  FIELD_FLOAT(got, "c", 1.5);
  FIELD_JSON(got, "j", "{\"k\":1}");
  hdb_record_free(got);
  /* The patch's id is ignored: no row "ignored-id" appeared, y untouched. */
  EXPECT_ABSENT(db, "cf_upd", "ignored-id");
  got = GET(db, "cf_upd", "y");
  FIELD_INT(got, "a", 2);
  hdb_record_free(got);
  assert_int_equal(COUNT(db, "cf_upd", NULL), 2);

  patch = conf_rec(NULL);
  conf_set_int(patch, "a", 5);
  EXPECT(db, HDB_NOT_FOUND, hdb_update(db, "cf_upd", "nope", patch));
  EXPECT_ABSENT(db, "cf_upd", "nope");
  /* A bad patch changes nothing, not even its good fields. */
  conf_set_int(patch, "zzz", 1);
  EXPECT(db, HDB_NO_FIELD, hdb_update(db, "cf_upd", "x", patch));
  EXPECT_MSG(db, "zzz");
  hdb_record_free(patch);
  patch = conf_rec(NULL);
  conf_set_int(patch, "a", 6);
  conf_set_text(patch, "c", "not a float");
  EXPECT(db, HDB_TYPE_MISMATCH, hdb_update(db, "cf_upd", "x", patch));
  hdb_record_free(patch);
  got = GET(db, "cf_upd", "x");
  FIELD_INT(got, "a", 100);
  FIELD_FLOAT(got, "c", 1.5);
  hdb_record_free(got);
}

static void test_crud_update_where(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_uw", "{\"g\":\"int\",\"s\":\"text\"}");
  hdb_record *r[6];
  char id[8];
  for (int i = 0; i < 6; i++) {
    snprintf(id, sizeof id, "r%d", i);
    r[i] = conf_rec(id);
    if (i != 5) conf_set_int(r[i], "g", i % 2);
    conf_set_text(r[i], "s", "old");
  }
  INSERT_FREE(db, "cf_uw", r, 6);

  hdb_record *patch = conf_rec(NULL);
  conf_set_text(patch, "s", "new");
  uint64_t n = 999;
  CHECK(db, hdb_update_where(db, "cf_uw", "g = 1", patch, &n));
  assert_int_equal(n, 2);
  char *ids = FILTER_IDS(db, "cf_uw", "s = 'new'");
  assert_string_equal(ids, "r1,r3");
  free(ids);

  /* No match: zero, nothing changes. */
  n = 999;
  CHECK(db, hdb_update_where(db, "cf_uw", "g = 7", patch, &n));
  assert_int_equal(n, 0);
  assert_int_equal(COUNT(db, "cf_uw", "s = 'new'"), 2);

  /* JSON filter, NULL count pointer. */
  CHECK(db, hdb_update_where(db, "cf_uw", "{\"g\":{\"$ne\":1}}", patch, NULL));
  ids = FILTER_IDS(db, "cf_uw", "s = 'new'");
  assert_string_equal(ids, "r0,r1,r2,r3,r4"); /* r5 has g null: g != 1 is unknown */
  free(ids);
  hdb_record_free(patch);

  /* NULL filter: every row. Clearing with null. */
  patch = conf_rec(NULL);
  conf_set_null(patch, "g");
  n = 0;
  CHECK(db, hdb_update_where(db, "cf_uw", NULL, patch, &n));
  assert_int_equal(n, 6);
  assert_int_equal(COUNT(db, "cf_uw", "g IS NULL"), 6);
  hdb_record_free(patch);

  /* A bad filter changes nothing. */
  patch = conf_rec(NULL);
  conf_set_text(patch, "s", "bad");
  EXPECT(db, HDB_BAD_FILTER, hdb_update_where(db, "cf_uw", "g = = 1", patch, &n));
  hdb_record_free(patch);
  assert_int_equal(COUNT(db, "cf_uw", "s = 'bad'"), 0);
}

static void test_crud_delete(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_del", "{\"g\":\"int\"}");
  hdb_record *r[10];
  char id[8];
  for (int i = 0; i < 10; i++) {
    snprintf(id, sizeof id, "d%d", i);
    r[i] = conf_rec(id);
    if (i != 9) conf_set_int(r[i], "g", i % 3);
  }
  INSERT_FREE(db, "cf_del", r, 10);

  CHECK(db, hdb_delete(db, "cf_del", "d4"));
  EXPECT_ABSENT(db, "cf_del", "d4");
  assert_int_equal(COUNT(db, "cf_del", NULL), 9);
  EXPECT(db, HDB_NOT_FOUND, hdb_delete(db, "cf_del", "d4"));
  EXPECT(db, HDB_NOT_FOUND, hdb_delete(db, "cf_del", "nope"));
  assert_int_equal(COUNT(db, "cf_del", NULL), 9);

  uint64_t n = 999;
  CHECK(db, hdb_delete_where(db, "cf_del", "g = 0", &n));
  assert_int_equal(n, 3); /* d0 d3 d6 */
  char *ids = FILTER_IDS(db, "cf_del", NULL);
  assert_string_equal(ids, "d1,d2,d5,d7,d8,d9");
  free(ids);

  n = 999;
  CHECK(db, hdb_delete_where(db, "cf_del", "g = 42", &n));
  assert_int_equal(n, 0);
  CHECK(db, hdb_delete_where(db, "cf_del", "{\"g\":{\"$in\":[2]}}", NULL));
  ids = FILTER_IDS(db, "cf_del", NULL);
  assert_string_equal(ids, "d1,d7,d9");
  free(ids);

  /* A deleted id can be inserted again. */
  hdb_record *again[1] = {conf_rec("d4")};
  conf_set_int(again[0], "g", 44);
  INSERT_FREE(db, "cf_del", again, 1);
  hdb_record *got = GET(db, "cf_del", "d4");
  FIELD_INT(got, "g", 44);
  hdb_record_free(got);

  n = 0;
  CHECK(db, hdb_delete_where(db, "cf_del", NULL, &n));
  assert_int_equal(n, 4);
  assert_int_equal(COUNT(db, "cf_del", NULL), 0);
}

/* ---- all-or-nothing batches ---- */

typedef enum bad_kind {
  BAD_DUP_EXISTING,
  BAD_DUP_IN_BATCH,
  BAD_DIM,
  BAD_UNKNOWN_FIELD,
  BAD_TYPE,
  BAD_EMPTY_ID,
  BAD_LONG_ID,
  BAD_NULL_ID,
  BAD_VECTOR_TYPE,
} bad_kind;

static const struct {
  bad_kind kind;
  hdb_status status;
  const char *name;
  const char *needle; /* what the message must name, or NULL */
} bad_cases[] = {
    {BAD_DUP_EXISTING, HDB_DUPLICATE_ID, "duplicate of an existing id", "e1"},
    {BAD_DUP_IN_BATCH, HDB_DUPLICATE_ID, "id twice in the batch", "n1"},
    {BAD_DIM, HDB_DIMENSION, "vector of the wrong dimension", "v"},
    {BAD_UNKNOWN_FIELD, HDB_NO_FIELD, "unknown field", "nosuchfield"},
    {BAD_TYPE, HDB_TYPE_MISMATCH, "text in an int column", "n"},
    {BAD_EMPTY_ID, HDB_BAD_ID, "empty id", NULL},
    {BAD_LONG_ID, HDB_BAD_ID, "id longer than HDB_MAX_ID_LEN", NULL},
    {BAD_NULL_ID, HDB_BAD_ID, "record without an id", NULL},
    {BAD_VECTOR_TYPE, HDB_TYPE_MISMATCH, "int in a vector column", "v"},
};

static hdb_record *good_rec(const char *id, int n) {
  hdb_record *r = conf_rec(id);
  const float v[3] = {(float)n, 1.f, 2.f};
  conf_set_int(r, "n", n);
  conf_set_vec(r, "v", v, 3);
  return r;
}

static void make_bad_batch(bad_kind kind, hdb_record **b) {
  b[0] = good_rec("n0", 0);
  b[1] = good_rec("n1", 1);
  b[3] = good_rec("n3", 3);
  b[4] = good_rec("n4", 4);
  char *longid;
  const float v4[4] = {1, 2, 3, 4};
  switch (kind) {
    case BAD_DUP_EXISTING:
      b[2] = good_rec("e1", 2);
      break;
    case BAD_DUP_IN_BATCH:
      b[2] = good_rec("n1", 2);
      break;
    case BAD_DIM:
      b[2] = conf_rec("n2");
      conf_set_vec(b[2], "v", v4, 4);
      break;
    case BAD_UNKNOWN_FIELD:
      b[2] = good_rec("n2", 2);
      conf_set_int(b[2], "nosuchfield", 1);
      break;
    case BAD_TYPE:
      b[2] = good_rec("n2", 2);
      conf_set_text(b[2], "n", "twelve");
      break;
    case BAD_EMPTY_ID:
      b[2] = good_rec("", 2);
      break;
    case BAD_LONG_ID:
      longid = malloc(HDB_MAX_ID_LEN + 2);
      assert_non_null(longid);
      memset(longid, 'x', HDB_MAX_ID_LEN + 1);
      longid[HDB_MAX_ID_LEN + 1] = '\0';
      b[2] = good_rec(longid, 2);
      free(longid);
      break;
    case BAD_NULL_ID:
      b[2] = good_rec(NULL, 2);
      break;
    case BAD_VECTOR_TYPE:
      b[2] = conf_rec("n2");
      conf_set_int(b[2], "v", 3);
      break;
  }
}

static void test_crud_batch_atomicity(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_atom", "{\"n\":\"int\",\"v\":\"vector(3)\"}");
  hdb_record *seed[2] = {good_rec("e1", 100), good_rec("e2", 200)};
  INSERT_FREE(db, "cf_atom", seed, 2);

  for (size_t c = 0; c < sizeof bad_cases / sizeof bad_cases[0]; c++) {
    for (int op = 0; op < 2; op++) {
      /* Upsert accepts existing and repeated ids; the other cases apply. */
      if (op == 1 && (bad_cases[c].kind == BAD_DUP_EXISTING || bad_cases[c].kind == BAD_DUP_IN_BATCH))
        continue;
      hdb_record *b[5];
      make_bad_batch(bad_cases[c].kind, b);
      hdb_status st = op == 0 ? hdb_insert(db, "cf_atom", b, 5) : hdb_upsert(db, "cf_atom", b, 5);
      conf_free_recs(b, 5);
      if (st != bad_cases[c].status)
        fail_msg("%s with %s: expected %s, got %s: %s", op == 0 ? "insert" : "upsert",
                 bad_cases[c].name, hdb_status_name(bad_cases[c].status), hdb_status_name(st),
                 hdb_errmsg(db));
      if (bad_cases[c].needle && !conf_contains(hdb_errmsg(db), bad_cases[c].needle))
        fail_msg("%s with %s: message \"%s\" does not name \"%s\"",
                 op == 0 ? "insert" : "upsert", bad_cases[c].name, hdb_errmsg(db),
                 bad_cases[c].needle);
      /* Nothing changed. */
      uint64_t n = COUNT(db, "cf_atom", NULL);
      if (n != 2) fail_msg("%s with %s: count %llu after a failed batch, want 2",
                           op == 0 ? "insert" : "upsert", bad_cases[c].name, (unsigned long long)n);
      EXPECT_ABSENT(db, "cf_atom", "n0");
      EXPECT_ABSENT(db, "cf_atom", "n1");
      EXPECT_ABSENT(db, "cf_atom", "n4");
      hdb_record *got = GET(db, "cf_atom", "e1");
      FIELD_INT(got, "n", 100);
      hdb_record_free(got);
    }
  }

  /* NaN and Inf never reach a batch: the setter refuses them and leaves the
   * record unchanged. */
  hdb_record *r = good_rec("nan", 1);
  const float nanv[3] = {1.f, NAN, 0.f};
  const float infv[3] = {INFINITY, 0.f, 0.f};
  assert_int_equal(hdb_record_set_vector(r, "v", nanv, 3), HDB_NOT_FINITE);
  assert_int_equal(hdb_record_set_vector(r, "v", infv, 3), HDB_NOT_FINITE);
  const float ok[3] = {1.f, 1.f, 2.f};
  FIELD_VEC(r, "v", ok, 3);
  assert_int_equal(hdb_record_set_vector(r, "w", nanv, 3), HDB_NOT_FINITE);
  hdb_value w;
  assert_int_equal(hdb_record_get(r, "w", &w), HDB_NOT_FOUND);
  hdb_value vv;
  memset(&vv, 0, sizeof vv);
  vv.type = HDB_TYPE_VECTOR;
  vv.as.vector.data = nanv;
  vv.as.vector.dim = 3;
  assert_int_equal(hdb_record_set(r, "v", &vv), HDB_NOT_FINITE);
  FIELD_VEC(r, "v", ok, 3);
  hdb_record_free(r);

  /* The limit id length is fine. */
  char *longid = malloc(HDB_MAX_ID_LEN + 1);
  assert_non_null(longid);
  memset(longid, 'y', HDB_MAX_ID_LEN);
  longid[HDB_MAX_ID_LEN] = '\0';
  hdb_record *lim[1] = {good_rec(longid, 5)};
  INSERT_FREE(db, "cf_atom", lim, 1);
  hdb_record *got = GET(db, "cf_atom", longid);
  assert_string_equal(hdb_record_id(got), longid);
  hdb_record_free(got);
  free(longid);
  assert_int_equal(COUNT(db, "cf_atom", NULL), 3);
}

/* The zero-copy setters (hdb_record_set_vector_ref / _blob_ref): every
 * backend copies what it keeps, so the caller's buffers may be reused once
 * the write returns; rows read back equal those written with the copying
 * setters, through insert, upsert, a schemaless table, a conversion to a
 * json column, and (where supported) a transaction. */
static void zero_copy_batch(hdb *db, const char *table, int upsert, int json_col) {
  enum { N = 40, DIM = 16 };
  static float vecs[N][DIM];
  static unsigned char blobs[N][64];
  hdb_record *by_ref[N], *by_copy[N];
  char id[32];
  for (int i = 0; i < N; i++) {
    for (int d = 0; d < DIM; d++) vecs[i][d] = (float)(i * DIM + d) * 0.25f - 7.f;
    for (int b = 0; b < 64; b++) blobs[i][b] = (unsigned char)(i * 31 + b * 7);
    snprintf(id, sizeof id, "ref%02d", i);
    by_ref[i] = conf_rec(id);
    assert_int_equal(hdb_record_set_vector_ref(by_ref[i], "v", vecs[i], DIM), HDB_OK);
    assert_int_equal(hdb_record_set_blob_ref(by_ref[i], json_col ? "j" : "bl", blobs[i], 64),
                     HDB_OK);
    snprintf(id, sizeof id, "copy%02d", i);
    by_copy[i] = conf_rec(id);
    conf_set_vec(by_copy[i], "v", vecs[i], DIM);
    conf_set_blob(by_copy[i], json_col ? "j" : "bl", blobs[i], 64);
  }
  /* The record reads the caller's memory: no copy was made. */
  hdb_value seen;
  assert_int_equal(hdb_record_get(by_ref[3], "v", &seen), HDB_OK);
  assert_ptr_equal(seen.as.vector.data, vecs[3]);
  CHECK(db, upsert ? hdb_upsert(db, table, by_ref, N) : hdb_insert(db, table, by_ref, N));
  CHECK(db, upsert ? hdb_upsert(db, table, by_copy, N) : hdb_insert(db, table, by_copy, N));
  conf_free_recs(by_ref, N);
  conf_free_recs(by_copy, N);
  float want_v[DIM];
  unsigned char want_b[64];
  memcpy(want_v, vecs[7], sizeof want_v);
  memcpy(want_b, blobs[7], sizeof want_b);
  memset(vecs, 0x7f, sizeof vecs); /* reused: nothing stored may change */
  memset(blobs, 0xee, sizeof blobs);
  hdb_record *a = GET(db, table, "ref07"), *b = GET(db, table, "copy07");
  FIELD_VEC(a, "v", want_v, DIM);
  FIELD_VEC(b, "v", want_v, DIM);
  if (json_col) {
    hdb_value ja, jb;
    assert_int_equal(hdb_record_get(a, "j", &ja), HDB_OK);
    assert_int_equal(hdb_record_get(b, "j", &jb), HDB_OK);
    assert_int_equal(ja.type, HDB_TYPE_JSON);
    assert_int_equal(ja.as.text.len, jb.as.text.len);
    assert_memory_equal(ja.as.text.data, jb.as.text.data, ja.as.text.len);
  } else {
    FIELD_BLOB(a, "bl", want_b, 64);
    FIELD_BLOB(b, "bl", want_b, 64);
  }
  hdb_record_free(a);
  hdb_record_free(b);
}

static void test_crud_zero_copy_setters(void **state) {
  (void)state;
  hdb *db = conf_db;
  CREATE_TABLE(db, "cf_zc", "{\"v\":\"vector(16,l2)\",\"bl\":\"blob\"}");
  zero_copy_batch(db, "cf_zc", 0, 0);
  zero_copy_batch(db, "cf_zc", 1, 0); /* the same ids again, replaced */
  assert_int_equal(COUNT(db, "cf_zc", NULL), 80);
  CREATE_TABLE(db, "cf_zc_json", "{\"v\":\"vector(16,l2)\",\"j\":\"json\"}");
  zero_copy_batch(db, "cf_zc_json", 0, 1);
  if (conf_has(HDB_CAP_SCHEMALESS)) {
    CREATE_TABLE(db, "cf_zc_free", NULL);
    zero_copy_batch(db, "cf_zc_free", 0, 0);
  }
  if (conf_has(HDB_CAP_TRANSACTIONS)) {
    CREATE_TABLE(db, "cf_zc_txn", "{\"v\":\"vector(16,l2)\",\"bl\":\"blob\"}");
    CHECK(db, hdb_begin(db));
    zero_copy_batch(db, "cf_zc_txn", 0, 0);
    CHECK(db, hdb_commit(db));
    assert_int_equal(COUNT(db, "cf_zc_txn", NULL), 80);
  }
  /* Checked like the copying setters. */
  hdb_record *r = conf_rec("bad");
  const float nanv[3] = {1.f, NAN, 0.f};
  assert_int_equal(hdb_record_set_vector_ref(r, "v", nanv, 3), HDB_NOT_FINITE);
  assert_int_equal(hdb_record_set_vector_ref(r, "v", NULL, 3), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_vector_ref(r, "1v", nanv, 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_set_blob_ref(r, "bl", NULL, 4), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_record_field_count(r), 0);
  hdb_record_free(r);
}

int conf_run_crud(void) {
  static const struct CMUnitTest tests[] = {
      CONF_T(test_crud_roundtrip_every_type),
      CONF_T(test_crud_conversions_from_json),
      CONF_T(test_crud_insert_batch_count_get),
      CONF_T(test_crud_upsert_replaces_whole_row),
      CONF_T(test_crud_update_patch),
      CONF_T(test_crud_update_where),
      CONF_T(test_crud_delete),
      CONF_T(test_crud_batch_atomicity),
      CONF_T(test_crud_zero_copy_setters),
  };
  return CONF_RUN_GROUP("crud", tests);
}
