/*
 * test_pg_pool.c - the connection pool under several threads: every
 * thread its own handle on one shared pool smaller than the thread count,
 * transactions pinning connections, checkout waits, HDB_BUSY after the
 * timeout naming the wait, and the pool working again afterwards.
 */
#include <pthread.h>

#include "pg_test_util.h"

enum { THREADS = 8, ROUNDS = 40 };

static char pool_url[512];

typedef struct worker {
  int idx;
  int failures;
  char msg[1100];
} worker;

static void *work(void *arg) {
  worker *w = arg;
  hdb *db = NULL;
  hdb_error err;
  if (hdb_open(pool_url, &db, &err) != HDB_OK) {
    w->failures++;
    snprintf(w->msg, sizeof w->msg, "open: %.500s", err.message);
    return NULL;
  }
  for (int r = 0; r < ROUNDS; r++) {
    char id[32];
    snprintf(id, sizeof id, "t%d-r%d", w->idx, r);
    hdb_record *rec = hdb_record_new(id);
    hdb_record_set_int(rec, "n", r);
    hdb_status st = hdb_begin(db);
    if (st == HDB_OK) st = hdb_insert(db, "pool_t", &rec, 1);
    hdb_record *got = NULL;
    if (st == HDB_OK) st = hdb_get(db, "pool_t", id, &got);
    hdb_record_free(got);
    if (st == HDB_OK) st = hdb_commit(db);
    else (void)hdb_rollback(db);
    hdb_record_free(rec);
    if (st != HDB_OK) {
      w->failures++;
      snprintf(w->msg, sizeof w->msg, "round %d: %s: %s", r, hdb_status_name(st), hdb_errmsg(db));
    }
    /* Plain calls between transactions check connections out too. */
    uint64_t n = 0;
    if (hdb_count(db, "pool_t", "n >= 0", &n) != HDB_OK) w->failures++;
  }
  hdb_close(db);
  return NULL;
}

static void test_pool_threads(void **state) {
  (void)state;
  pg_url_with(pool_url, sizeof pool_url, "pool_min=1&pool_max=3&timeout_ms=20000");
  hdb *db = pg_open_url(pool_url);
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  PG_CHECK(db, hdb_table_drop(db, "pool_t", HDB_IF_EXISTS));
  PG_CHECK(db, hdb_table_create(db, "pool_t", s, 0));
  hdb_schema_free(s);
  pthread_t th[THREADS];
  worker w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].idx = i;
    assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < THREADS; i++)
    if (w[i].failures) fail_msg("thread %d: %d failures, last: %s", i, w[i].failures, w[i].msg);
  uint64_t n = 0;
  PG_CHECK(db, hdb_count(db, "pool_t", NULL, &n));
  assert_int_equal(n, THREADS * ROUNDS);
  PG_CHECK(db, hdb_table_drop(db, "pool_t", 0));
  hdb_close(db);
}

static void test_pool_busy_then_recovers(void **state) {
  (void)state;
  char url[512];
  pg_url_with(url, sizeof url, "pool_min=1&pool_max=1&timeout_ms=300");
  hdb *a = pg_open_url(url);
  hdb *b = pg_open_url(url); /* the same pool: one connection in all */
  PG_CHECK(a, hdb_begin(a)); /* pins it */
  char **names = NULL;
  size_t n = 0;
  PG_EXPECT(b, HDB_BUSY, hdb_table_list(b, &names, &n));
  if (!strstr(hdb_errmsg(b), "waiting for a pooled connection"))
    fail_msg("BUSY message does not name the wait: %s", hdb_errmsg(b));
  PG_CHECK(a, hdb_rollback(a)); /* returns it */
  PG_CHECK(b, hdb_table_list(b, &names, &n));
  hdb_strings_free(names, n);
  /* A pool size from hdb_config applies too. */
  hdb_config cfg = HDB_CONFIG_INIT;
  cfg.url = pg_url;
  cfg.pool_max = 1;
  cfg.timeout_ms = 200;
  hdb *c = NULL, *d = NULL;
  hdb_error err;
  assert_int_equal(hdb_open_config(&cfg, &c, &err), HDB_OK);
  assert_int_equal(hdb_open_config(&cfg, &d, &err), HDB_OK);
  PG_CHECK(c, hdb_begin(c));
  PG_EXPECT(d, HDB_BUSY, hdb_ping(d));
  PG_CHECK(c, hdb_commit(c));
  PG_CHECK(d, hdb_ping(d));
  hdb_close(c);
  hdb_close(d);
  hdb_close(a);
  hdb_close(b);
}

static void test_pool_bad_options(void **state) {
  (void)state;
  char url[512];
  hdb *db = NULL;
  hdb_error err;
  assert_int_equal(hdb_open(pg_url_with(url, sizeof url, "pool_max=zero"), &db, &err), HDB_BAD_URL);
  assert_non_null(strstr(err.message, "pool_max"));
  assert_int_equal(hdb_open(pg_url_with(url, sizeof url, "pool_min=5&pool_max=2"), &db, &err),
                   HDB_BAD_URL);
  assert_null(db);
}

int main(int argc, char **argv) {
  pg_usage(argc, argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pool_threads),
      cmocka_unit_test(test_pool_busy_then_recovers),
      cmocka_unit_test(test_pool_bad_options),
  };
  return cmocka_run_group_tests_name("postgres.pool", tests, NULL, NULL);
}
