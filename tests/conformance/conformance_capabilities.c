/*
 * conformance_capabilities.c - the capability bits are consistent with
 * what the backend does: every call of an optional feature (hybrid search,
 * TTL, pub/sub, versions/restore/time travel, stats) answers
 * HDB_NOT_SUPPORTED exactly when its bit is off, and changes nothing.
 * (KV, transactions, aggregates, vector search, schemaless tables and
 * index types are checked the same way in their own files.)
 */
#include "conformance_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void expect_supported_iff(hdb *db, uint32_t cap, hdb_status st, const char *what) {
  if (!(conf_caps & cap)) {
    if (st != HDB_NOT_SUPPORTED)
      fail_msg("%s with capability %s off: expected NOT_SUPPORTED, got %s: %s", what,
               hdb_capability_name((hdb_capability)cap), hdb_status_name(st), hdb_errmsg(db));
  } else if (st == HDB_NOT_SUPPORTED) {
    fail_msg("%s with capability %s on: NOT_SUPPORTED: %s", what,
             hdb_capability_name((hdb_capability)cap), hdb_errmsg(db));
  }
}

static void small_table(hdb *db) {
  CREATE_TABLE(db, "cf_cap", "{\"v\":\"vector(2,l2)\",\"body\":\"text\",\"n\":\"int\"}");
  hdb_record *r[2] = {conf_rec("a"), conf_rec("b")};
  const float va[2] = {1, 0}, vb[2] = {0, 1};
  conf_set_vec(r[0], "v", va, 2);
  conf_set_text(r[0], "body", "hello world");
  conf_set_int(r[0], "n", 1);
  conf_set_vec(r[1], "v", vb, 2);
  conf_set_text(r[1], "body", "goodbye moon");
  conf_set_int(r[1], "n", 2);
  INSERT_FREE(db, "cf_cap", r, 2);
}

static void unchanged(hdb *db) {
  char *ids = FILTER_IDS(db, "cf_cap", NULL);
  assert_string_equal(ids, "a,b");
  free(ids);
}

static void test_capabilities_report(void **state) {
  (void)state;
  hdb *db = conf_db;
  /* Every flag has a name; a value that is not one flag has none. */
  for (unsigned bit = 0; bit <= 16; bit++) {
    const char *name = hdb_capability_name((hdb_capability)(1u << bit));
    if (name == NULL || name[0] == '\0') fail_msg("capability bit %u has no name", bit);
  }
  assert_string_equal(hdb_capability_name(HDB_CAP_TRANSACTIONS), "transactions");
  assert_string_equal(hdb_capability_name(HDB_CAP_KV), "kv");
  assert_null(hdb_capability_name((hdb_capability)(HDB_CAP_KV | HDB_CAP_TTL)));
  assert_null(hdb_capability_name((hdb_capability)0));
  /* No bits outside the defined ones. */
  assert_int_equal(conf_caps & ~((1u << 17) - 1), 0);
  /* A TTL, time travel or hybrid search without its base feature makes no sense. */
  if (conf_caps & HDB_CAP_TTL) assert_true(conf_caps & HDB_CAP_KV);
  if (conf_caps & HDB_CAP_VECTOR_INDEX) assert_true(conf_caps & HDB_CAP_VECTOR_SEARCH);
  if (conf_caps & (HDB_CAP_INDEX_HNSW | HDB_CAP_INDEX_IVF_PQ))
    assert_true(conf_caps & HDB_CAP_VECTOR_INDEX);
  if (conf_caps & HDB_CAP_HYBRID_SEARCH) assert_true(conf_caps & HDB_CAP_VECTOR_SEARCH);

  /* The handle describes itself. */
  hdb_backend b = hdb_backend_of(db);
  assert_true(b != HDB_BACKEND_DEFAULT);
  assert_true(hdb_backend_built(b));
  const char *url = hdb_url(db);
  assert_non_null(url);
  if (strncmp(conf_url, "memory://", 9) == 0) assert_int_equal(b, HDB_BACKEND_MEMORY);
  if (strncmp(conf_url, "file://", 7) == 0) assert_int_equal(b, HDB_BACKEND_FILE);
  if (strncmp(conf_url, "sqlite://", 9) == 0) assert_int_equal(b, HDB_BACKEND_SQLITE);
  CHECK(db, hdb_ping(db));
  assert_int_equal(hdb_errcode(db), HDB_OK);
  printf("      (backend %s, url %s)\n", hdb_backend_name(b), url);
}

static void test_capability_hybrid_search(void **state) {
  (void)state;
  hdb *db = conf_db;
  small_table(db);
  const float q[2] = {1, 0};
  hdb_hybrid h;
  memset(&h, 0, sizeof h);
  h.vector.vector = q;
  h.vector.dim = 2;
  h.vector.k = 2;
  h.text_column = "body";
  h.text_query = "hello";
  h.fusion = HDB_FUSION_RRF;
  hdb_cursor *c = NULL;
  hdb_status st = hdb_search_hybrid(db, "cf_cap", &h, &c);
  expect_supported_iff(db, HDB_CAP_HYBRID_SEARCH, st, "hdb_search_hybrid");
  if (st == HDB_OK) {
    const hdb_record *r;
    assert_int_equal(hdb_cursor_next(c, &r), HDB_OK);
    assert_string_equal(hdb_record_id(r), "a"); /* closest and the text match */
    hdb_cursor_close(c);
  } else {
    assert_null(c);
  }
  unchanged(db);
}

static void test_capability_ttl(void **state) {
  (void)state;
  hdb *db = conf_db;
  hdb_status st = hdb_kv_put_ttl(db, "cfkv", "ttl", 3, "v", 1, 60000);
  expect_supported_iff(db, HDB_CAP_TTL, st, "hdb_kv_put_ttl");
  if (conf_has(HDB_CAP_KV)) {
    int found = -1;
    CHECK(db, hdb_kv_has(db, "cfkv", "ttl", 3, &found));
    assert_int_equal(found, st == HDB_OK ? 1 : 0);
  }
  if (st == HDB_OK) {
    /* An expiry in the past: gone at once. */
    CHECK(db, hdb_kv_put_ttl(db, "cfkv", "short", 5, "v", 1, 1));
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int found = -1;
    CHECK(db, hdb_kv_has(db, "cfkv", "short", 5, &found));
    assert_int_equal(found, 0);
  }
}

static int messages_seen;
static void on_message(const char *channel, const void *msg, size_t len, void *user) {
  (void)channel;
  (void)msg;
  (void)len;
  (void)user;
  __atomic_add_fetch(&messages_seen, 1, __ATOMIC_SEQ_CST);
}

static void test_capability_pubsub(void **state) {
  (void)state;
  hdb *db = conf_db;
  hdb_status st = hdb_subscribe(db, "cf_chan", on_message, NULL);
  expect_supported_iff(db, HDB_CAP_PUBSUB, st, "hdb_subscribe");
  hdb_status pst = hdb_publish(db, "cf_chan", "hi", 2);
  expect_supported_iff(db, HDB_CAP_PUBSUB, pst, "hdb_publish");
  if (st == HDB_OK) {
    for (int i = 0; i < 200 && __atomic_load_n(&messages_seen, __ATOMIC_SEQ_CST) == 0; i++) {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    assert_true(__atomic_load_n(&messages_seen, __ATOMIC_SEQ_CST) >= 1);
  }
  st = hdb_unsubscribe(db, "cf_chan");
  expect_supported_iff(db, HDB_CAP_PUBSUB, st, "hdb_unsubscribe");
}

static void test_capability_time_travel(void **state) {
  (void)state;
  hdb *db = conf_db;
  small_table(db);
  hdb_version_info *vi = NULL;
  size_t nv = 0;
  hdb_status st = hdb_table_versions(db, "cf_cap", &vi, &nv);
  expect_supported_iff(db, HDB_CAP_TIME_TRAVEL, st, "hdb_table_versions");
  int64_t first = 1;
  if (st == HDB_OK) {
    assert_true(nv >= 1);
    first = vi[0].version;
    hdb_version_info_free(vi, nv);
  }
  hdb_query_options q = HDB_QUERY_INIT;
  q.version = first;
  hdb_cursor *c = NULL;
  st = hdb_query(db, "cf_cap", &q, &c);
  expect_supported_iff(db, HDB_CAP_TIME_TRAVEL, st, "hdb_query with a version");
  hdb_cursor_close(c);
  c = NULL;
  if (conf_has(HDB_CAP_VECTOR_SEARCH)) {
    const float v[2] = {1, 0};
    hdb_search sr = HDB_SEARCH_INIT;
    sr.vector = v;
    sr.dim = 2;
    sr.k = 1;
    sr.version = first;
    st = hdb_search_vector(db, "cf_cap", &sr, &c);
    expect_supported_iff(db, HDB_CAP_TIME_TRAVEL, st, "hdb_search_vector with a version");
    hdb_cursor_close(c);
  }
  st = hdb_table_restore(db, "cf_cap", first);
  expect_supported_iff(db, HDB_CAP_TIME_TRAVEL, st, "hdb_table_restore");
  if (!conf_has(HDB_CAP_TIME_TRAVEL)) unchanged(db);
}

static void test_capability_stats(void **state) {
  (void)state;
  hdb *db = conf_db;
  small_table(db);
  char *json = NULL;
  hdb_status st = hdb_stats(db, "cf_cap", &json);
  expect_supported_iff(db, HDB_CAP_STATS, st, "hdb_stats(table)");
  if (st == HDB_OK) {
    assert_non_null(json);
    assert_int_equal(json[0], '{');
  } else {
    assert_null(json);
  }
  hdb_free(json);
  json = NULL;
  st = hdb_stats(db, NULL, &json);
  expect_supported_iff(db, HDB_CAP_STATS, st, "hdb_stats(NULL)");
  hdb_free(json);
  unchanged(db);
}

static void test_capability_persistent(void **state) {
  (void)state;
  hdb *db = conf_db;
  small_table(db);
  hdb *again = conf_open();
  uint64_t n = 0;
  hdb_status st = hdb_count(again, "cf_cap", NULL, &n);
  if (conf_has(HDB_CAP_PERSISTENT) || strcmp(conf_url, "memory://") != 0) {
    /* The same database through a second handle (persistent or shared). */
    EXPECT(again, HDB_OK, st);
    assert_int_equal(n, 2);
  } else {
    /* A bare memory:// is private to its handle. */
    EXPECT(again, HDB_NO_TABLE, st);
  }
  hdb_close(again);
  if (conf_has(HDB_CAP_PERSISTENT)) {
    /* Survives closing every handle. */
    hdb_close(conf_db);
    conf_db = NULL;
    again = conf_open();
    n = 0;
    CHECK(again, hdb_count(again, "cf_cap", NULL, &n));
    assert_int_equal(n, 2);
    hdb_record *got = GET(again, "cf_cap", "a");
    FIELD_TEXT(got, "body", "hello world");
    hdb_record_free(got);
    conf_db = again;
  }
}

int conf_run_capabilities(void) {
  static const struct CMUnitTest tests[] = {
      CONF_T(test_capabilities_report),     CONF_T(test_capability_hybrid_search),
      CONF_T(test_capability_ttl),          CONF_T(test_capability_pubsub),
      CONF_T(test_capability_time_travel),  CONF_T(test_capability_stats),
      CONF_T(test_capability_persistent),
  };
  return CONF_RUN_GROUP("capabilities", tests);
}
