/*
 * conformance_txn.c - transactions (HDB_CAP_TRANSACTIONS): commit makes
 * writes visible, rollback discards table and KV writes, a transaction
 * reads its own writes, a second handle sees nothing uncommitted, a
 * conflicting commit is HDB_CONFLICT, and misuse is HDB_TXN_STATE. With
 * the capability off, begin/commit/rollback answer HDB_NOT_SUPPORTED.
 *
 * Two-handle tests open conf_shared_url(): the URL given, or, when it is
 * exactly "memory://" (private per handle), "memory://conformance-shared".
 */
#include "conformance_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TX_SCHEMA "{\"n\":\"int\",\"s\":\"text\"}"

static hdb_record *tx_rec(const char *id, int n) {
  hdb_record *r = conf_rec(id);
  conf_set_int(r, "n", n);
  return r;
}

static void insert1(hdb *db, const char *table, const char *id, int n) {
  hdb_record *r[1] = {tx_rec(id, n)};
  INSERT_FREE(db, table, r, 1);
}

static int require_txn(hdb *db) {
  if (conf_has(HDB_CAP_TRANSACTIONS)) return 1;
  EXPECT(db, HDB_NOT_SUPPORTED, hdb_begin(db));
  EXPECT(db, HDB_NOT_SUPPORTED, hdb_commit(db));
  EXPECT(db, HDB_NOT_SUPPORTED, hdb_rollback(db));
  /* Writes still work and are immediate. */
  CREATE_TABLE(db, "cf_tx", TX_SCHEMA);
  insert1(db, "cf_tx", "a", 1);
  assert_int_equal(COUNT(db, "cf_tx", NULL), 1);
  printf("      (transactions: HDB_CAP_TRANSACTIONS is off; checked NOT_SUPPORTED)\n");
  return 0;
}

static void test_txn_commit_visible_and_own_writes(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_txn(db)) skip();
  CREATE_TABLE(db, "cf_tx", TX_SCHEMA);
  insert1(db, "cf_tx", "pre", 0);
  CHECK(db, hdb_begin(db));
  insert1(db, "cf_tx", "a", 1);
  insert1(db, "cf_tx", "b", 2);
  hdb_record *patch = conf_rec(NULL);
  conf_set_text(patch, "s", "patched");
  CHECK(db, hdb_update(db, "cf_tx", "pre", patch));
  hdb_record_free(patch);
  const int kv = conf_has(HDB_CAP_KV);
  if (kv) CHECK(db, hdb_kv_put(db, "cfkvtx", "k", 1, "v", 1));
  /* Reads inside see the transaction's own writes. */
  assert_int_equal(COUNT(db, "cf_tx", NULL), 3);
  hdb_record *got = GET(db, "cf_tx", "a");
  FIELD_INT(got, "n", 1);
  hdb_record_free(got);
  char *ids = FILTER_IDS(db, "cf_tx", "s = 'patched'");
  assert_string_equal(ids, "pre");
  free(ids);
  if (kv) {
    int found = 0;
    CHECK(db, hdb_kv_has(db, "cfkvtx", "k", 1, &found));
    assert_int_equal(found, 1);
  }
  CHECK(db, hdb_commit(db));
  assert_int_equal(COUNT(db, "cf_tx", NULL), 3);

  /* Visible from a fresh handle on the same database when one can see it. */
  hdb *other = conf_open_shared();
  if (strcmp(conf_shared_url(), conf_url) == 0) {
    assert_int_equal(COUNT(other, "cf_tx", NULL), 3);
    if (kv) {
      void *v = NULL;
      size_t vl = 0;
      CHECK(other, hdb_kv_get(other, "cfkvtx", "k", 1, &v, &vl));
      assert_int_equal(vl, 1);
      hdb_free(v);
    }
  }
  hdb_close(other);
}

static void test_txn_rollback_discards(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_txn(db)) skip();
  CREATE_TABLE(db, "cf_tx", TX_SCHEMA);
  insert1(db, "cf_tx", "keep", 1);
  insert1(db, "cf_tx", "del", 2);
  const int kv = conf_has(HDB_CAP_KV);
  if (kv) {
    CHECK(db, hdb_kv_put(db, "cfkvtx", "old", 3, "1", 1));
    CHECK(db, hdb_kv_put(db, "cfkvtx", "gone", 4, "1", 1));
  }
  CHECK(db, hdb_begin(db));
  insert1(db, "cf_tx", "new", 3);
  hdb_record *patch = conf_rec(NULL);
  conf_set_int(patch, "n", 100);
  CHECK(db, hdb_update(db, "cf_tx", "keep", patch));
  hdb_record_free(patch);
  CHECK(db, hdb_delete(db, "cf_tx", "del"));
  if (kv) {
    CHECK(db, hdb_kv_put(db, "cfkvtx", "old", 3, "2", 1));
    CHECK(db, hdb_kv_put(db, "cfkvtx", "fresh", 5, "1", 1));
    CHECK(db, hdb_kv_delete(db, "cfkvtx", "gone", 4));
  }
  assert_int_equal(COUNT(db, "cf_tx", NULL), 2);
  CHECK(db, hdb_rollback(db));

  char *ids = FILTER_IDS(db, "cf_tx", NULL);
  assert_string_equal(ids, "del,keep");
  free(ids);
  hdb_record *got = GET(db, "cf_tx", "keep");
  FIELD_INT(got, "n", 1);
  hdb_record_free(got);
  if (kv) {
    void *v = NULL;
    size_t vl = 0;
    CHECK(db, hdb_kv_get(db, "cfkvtx", "old", 3, &v, &vl));
    assert_int_equal(vl, 1);
    assert_memory_equal(v, "1", 1);
    hdb_free(v);
    int found = 1;
    CHECK(db, hdb_kv_has(db, "cfkvtx", "fresh", 5, &found));
    assert_int_equal(found, 0);
    CHECK(db, hdb_kv_has(db, "cfkvtx", "gone", 4, &found));
    assert_int_equal(found, 1);
  }
  /* The handle works normally afterwards. */
  insert1(db, "cf_tx", "after", 4);
  assert_int_equal(COUNT(db, "cf_tx", NULL), 3);
}

static void test_txn_isolation_two_handles(void **state) {
  (void)state;
  if (!require_txn(conf_db)) skip();
  hdb *h1 = conf_open_shared();
  hdb *h2 = conf_open_shared();
  conf_cleanup(h1);
  CREATE_TABLE(h1, "cf_txs", TX_SCHEMA);
  insert1(h1, "cf_txs", "base", 0);
  assert_int_equal(COUNT(h2, "cf_txs", NULL), 1); /* same database */
  const int kv = conf_has(HDB_CAP_KV);

  CHECK(h1, hdb_begin(h1));
  insert1(h1, "cf_txs", "u1", 1);
  CHECK(h1, hdb_delete(h1, "cf_txs", "base"));
  if (kv) CHECK(h1, hdb_kv_put(h1, "cfkvtx", "uk", 2, "v", 1));
  /* h2 sees none of it. */
  assert_int_equal(COUNT(h2, "cf_txs", NULL), 1);
  EXPECT_ABSENT(h2, "cf_txs", "u1");
  hdb_record *got = GET(h2, "cf_txs", "base");
  hdb_record_free(got);
  if (kv) {
    int found = 1;
    CHECK(h2, hdb_kv_has(h2, "cfkvtx", "uk", 2, &found));
    assert_int_equal(found, 0);
  }
  CHECK(h1, hdb_commit(h1));
  /* Now it does. */
  assert_int_equal(COUNT(h2, "cf_txs", NULL), 1);
  got = GET(h2, "cf_txs", "u1");
  hdb_record_free(got);
  EXPECT_ABSENT(h2, "cf_txs", "base");
  if (kv) {
    int found = 0;
    CHECK(h2, hdb_kv_has(h2, "cfkvtx", "uk", 2, &found));
    assert_int_equal(found, 1);
  }

  /* Closing a handle with an open transaction rolls it back. */
  CHECK(h1, hdb_begin(h1));
  insert1(h1, "cf_txs", "lost", 9);
  hdb_close(h1);
  EXPECT_ABSENT(h2, "cf_txs", "lost");
  h1 = conf_open_shared();
  EXPECT_ABSENT(h1, "cf_txs", "lost");
  conf_cleanup(h1);
  hdb_close(h1);
  hdb_close(h2);
}

static void test_txn_conflict(void **state) {
  (void)state;
  if (!require_txn(conf_db)) skip();
  hdb *h1 = conf_open_shared();
  hdb *h2 = conf_open_shared();
  conf_cleanup(h1);
  CREATE_TABLE(h1, "cf_txc", TX_SCHEMA);
  insert1(h1, "cf_txc", "row", 0);

  CHECK(h1, hdb_begin(h1));
  CHECK(h2, hdb_begin(h2));
  hdb_record *seen = GET(h2, "cf_txc", "row"); /* h2 reads the row */
  hdb_record_free(seen);
  hdb_record *p1 = conf_rec(NULL);
  conf_set_int(p1, "n", 1);
  CHECK(h1, hdb_update(h1, "cf_txc", "row", p1));
  hdb_record_free(p1);
  CHECK(h1, hdb_commit(h1));

  /* h2 now writes the same row: the conflict shows at the write or at commit,
   * and h2's transaction is rolled back. */
  hdb_record *p2 = conf_rec(NULL);
  conf_set_int(p2, "n", 2);
  hdb_status st = hdb_update(h2, "cf_txc", "row", p2);
  hdb_record_free(p2);
  if (st == HDB_OK) {
    st = hdb_commit(h2);
    EXPECT(h2, HDB_CONFLICT, st);
    /* Rolled back: there is no transaction to roll back any more. */
    EXPECT(h2, HDB_TXN_STATE, hdb_rollback(h2));
  } else {
    EXPECT(h2, HDB_CONFLICT, st);
    hdb_status rb = hdb_rollback(h2);
    if (rb != HDB_OK && rb != HDB_TXN_STATE)
      fail_msg("rollback after a conflicting write -> %s", hdb_status_name(rb));
  }
  hdb_record *got = GET(h2, "cf_txc", "row");
  FIELD_INT(got, "n", 1); /* h1's committed value */
  hdb_record_free(got);

  /* Both handles keep working. */
  CHECK(h2, hdb_begin(h2));
  insert1(h2, "cf_txc", "later", 5);
  CHECK(h2, hdb_commit(h2));
  got = GET(h1, "cf_txc", "later");
  hdb_record_free(got);

  /* KV conflicts too. */
  if (conf_has(HDB_CAP_KV)) {
    CHECK(h1, hdb_kv_put(h1, "cfkvtx", "c", 1, "0", 1));
    CHECK(h1, hdb_begin(h1));
    CHECK(h2, hdb_begin(h2));
    void *v = NULL;
    size_t vl = 0;
    CHECK(h2, hdb_kv_get(h2, "cfkvtx", "c", 1, &v, &vl));
    hdb_free(v);
    CHECK(h1, hdb_kv_put(h1, "cfkvtx", "c", 1, "1", 1));
    CHECK(h1, hdb_commit(h1));
    st = hdb_kv_put(h2, "cfkvtx", "c", 1, "2", 1);
    if (st == HDB_OK) st = hdb_commit(h2);
    else (void)hdb_rollback(h2);
    EXPECT(h2, HDB_CONFLICT, st);
    v = NULL;
    CHECK(h2, hdb_kv_get(h2, "cfkvtx", "c", 1, &v, &vl));
    assert_int_equal(vl, 1);
    assert_memory_equal(v, "1", 1);
    hdb_free(v);
  }
  conf_cleanup(h1);
  hdb_close(h1);
  hdb_close(h2);
}

static void test_txn_state_misuse(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_txn(db)) skip();
  EXPECT(db, HDB_TXN_STATE, hdb_commit(db));
  EXPECT(db, HDB_TXN_STATE, hdb_rollback(db));
  CREATE_TABLE(db, "cf_tx", TX_SCHEMA);
  CHECK(db, hdb_begin(db));
  insert1(db, "cf_tx", "in", 1);
  EXPECT(db, HDB_TXN_STATE, hdb_begin(db));
  /* The failed begin did not end or disturb the open transaction. */
  assert_int_equal(COUNT(db, "cf_tx", NULL), 1);
  CHECK(db, hdb_commit(db));
  EXPECT(db, HDB_TXN_STATE, hdb_commit(db));
  EXPECT(db, HDB_TXN_STATE, hdb_rollback(db));
  assert_int_equal(COUNT(db, "cf_tx", NULL), 1);
  /* A failed write inside a transaction is reported; the rest can be rolled back. */
  CHECK(db, hdb_begin(db));
  insert1(db, "cf_tx", "in2", 2);
  hdb_record *dup[1] = {tx_rec("in", 3)};
  EXPECT(db, HDB_DUPLICATE_ID, hdb_insert(db, "cf_tx", dup, 1));
  hdb_record_free(dup[0]);
  hdb_status rb = hdb_rollback(db);
  if (rb != HDB_OK) fail_msg("rollback -> %s: %s", hdb_status_name(rb), hdb_errmsg(db));
  char *ids = FILTER_IDS(db, "cf_tx", NULL);
  assert_string_equal(ids, "in");
  free(ids);
}

int conf_run_txn(void) {
  static const struct CMUnitTest tests[] = {
      CONF_T(test_txn_commit_visible_and_own_writes),
      CONF_T(test_txn_rollback_discards),
      CONF_T(test_txn_isolation_two_handles),
      CONF_T(test_txn_conflict),
      CONF_T(test_txn_state_misuse),
  };
  return CONF_RUN_GROUP("txn", tests);
}
