/*
 * test_pg_restart.c - the server restarts under the library:
 *  - idle pooled connections are found dead and replaced: the next call
 *    succeeds without the caller seeing anything;
 *  - a transaction in flight loses its connection: its calls answer
 *    HDB_UNAVAILABLE, rollback ends it, and the next call succeeds;
 *  - writes that were acknowledged before (and while) the server
 *    restarted are all there afterwards; the calls that failed during the
 *    restart failed with HDB_UNAVAILABLE and nothing else;
 *  - a stopped server is HDB_UNAVAILABLE naming host:port, then works
 *    again once it is back.
 */
#include <pthread.h>
#include <unistd.h>

#include "pg_test_util.h"

static hdb_record *rec_n(const char *id, int64_t n) {
  hdb_record *r = hdb_record_new(id);
  hdb_record_set_int(r, "n", n);
  return r;
}

static void make_table(hdb *db) {
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  PG_CHECK(db, hdb_table_drop(db, "rs_t", HDB_IF_EXISTS));
  PG_CHECK(db, hdb_table_create(db, "rs_t", s, 0));
  hdb_schema_free(s);
}

static void test_idle_connections_reconnect(void **state) {
  (void)state;
  hdb *db = pg_open_url(pg_url);
  make_table(db);
  hdb_record *r = rec_n("before", 1);
  PG_CHECK(db, hdb_insert(db, "rs_t", &r, 1));
  hdb_record_free(r);
  assert_int_equal(pg_server("restart"), 0);
  /* The pooled connection died with the old server: transparently replaced. */
  hdb_record *got = NULL;
  PG_CHECK(db, hdb_get(db, "rs_t", "before", &got));
  hdb_record_free(got);
  PG_CHECK(db, hdb_ping(db));
  hdb_close(db);
}

static void test_transaction_in_flight_fails_unavailable(void **state) {
  (void)state;
  hdb *db = pg_open_url(pg_url);
  make_table(db);
  PG_CHECK(db, hdb_begin(db));
  hdb_record *r = rec_n("in-txn", 1);
  PG_CHECK(db, hdb_insert(db, "rs_t", &r, 1));
  hdb_record_free(r);
  assert_int_equal(pg_server("restart"), 0);
  r = rec_n("in-txn-2", 2);
  hdb_status st = hdb_insert(db, "rs_t", &r, 1);
  hdb_record_free(r);
  assert_int_equal(st, HDB_UNAVAILABLE);
  if (!strstr(hdb_errmsg(db), "127.0.0.1:")) fail_msg("message does not name the server: %s", hdb_errmsg(db));
  /* The transaction is over on the server; the handle says so until rollback. */
  PG_EXPECT(db, HDB_UNAVAILABLE, hdb_commit(db));
  /* Next calls succeed on a fresh connection; the lost transaction left nothing. */
  uint64_t n = 99;
  PG_CHECK(db, hdb_count(db, "rs_t", NULL, &n));
  assert_int_equal(n, 0);
  r = rec_n("after", 3);
  PG_CHECK(db, hdb_insert(db, "rs_t", &r, 1));
  hdb_record_free(r);
  hdb_close(db);
}

typedef struct writer {
  volatile int stop;
  int acked, failed, other;
  char other_msg[512];
  unsigned char ok[100000];
} writer;

static void *write_loop(void *arg) {
  writer *w = arg;
  hdb *db = NULL;
  hdb_error err;
  if (hdb_open(pg_url, &db, &err) != HDB_OK) {
    w->other++;
    return NULL;
  }
  for (int i = 0; i < 100000 && !w->stop; i++) {
    char id[32];
    snprintf(id, sizeof id, "w%06d", i);
    hdb_record *r = rec_n(id, i);
    hdb_status st = hdb_insert(db, "rs_t", &r, 1);
    hdb_record_free(r);
    if (st == HDB_OK) {
      w->ok[i] = 1;
      w->acked++;
    } else if (st == HDB_UNAVAILABLE) {
      w->failed++;
      usleep(2000);
    } else {
      w->other++;
      snprintf(w->other_msg, sizeof w->other_msg, "%s: %s", hdb_status_name(st), hdb_errmsg(db));
    }
  }
  hdb_close(db);
  return NULL;
}

static void test_acknowledged_writes_survive_restart(void **state) {
  (void)state;
  hdb *db = pg_open_url(pg_url);
  make_table(db);
  static writer w;
  memset(&w, 0, sizeof w);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, write_loop, &w), 0);
  usleep(300000);
  assert_int_equal(pg_server("restart"), 0);
  int before = w.acked;
  usleep(500000);
  w.stop = 1;
  pthread_join(th, NULL);
  if (w.other) fail_msg("%d writes failed with something other than UNAVAILABLE: %s", w.other, w.other_msg);
  if (w.acked <= before) fail_msg("no write succeeded after the restart (%d acked before)", before);
  /* Every acknowledged row is there, and nothing else. */
  uint64_t n = 0;
  PG_CHECK(db, hdb_count(db, "rs_t", NULL, &n));
  assert_int_equal(n, (uint64_t)w.acked);
  for (int i = 0; i < 100000; i++) {
    if (!w.ok[i]) continue;
    char id[32];
    snprintf(id, sizeof id, "w%06d", i);
    hdb_record *got = NULL;
    PG_CHECK(db, hdb_get(db, "rs_t", id, &got));
    hdb_record_free(got);
  }
  printf("      (%d writes acknowledged, %d failed with UNAVAILABLE during the restart)\n", w.acked,
         w.failed);
  hdb_close(db);
}

static void test_server_down_then_back(void **state) {
  (void)state;
  hdb *db = pg_open_url(pg_url);
  make_table(db);
  assert_int_equal(pg_server("pause"), 0);
  PG_EXPECT(db, HDB_UNAVAILABLE, hdb_ping(db));
  if (!strstr(hdb_errmsg(db), "127.0.0.1:")) fail_msg("message does not name host:port: %s", hdb_errmsg(db));
  hdb *other = NULL;
  hdb_error err;
  assert_int_equal(hdb_open(pg_url, &other, &err), HDB_UNAVAILABLE);
  assert_non_null(strstr(err.message, "127.0.0.1:"));
  assert_int_equal(pg_server("resume"), 0);
  PG_CHECK(db, hdb_ping(db));
  uint64_t n = 1;
  PG_CHECK(db, hdb_count(db, "rs_t", NULL, &n));
  assert_int_equal(n, 0);
  hdb_close(db);
}

int main(int argc, char **argv) {
  pg_usage(argc, argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idle_connections_reconnect),
      cmocka_unit_test(test_transaction_in_flight_fails_unavailable),
      cmocka_unit_test(test_acknowledged_writes_survive_restart),
      cmocka_unit_test(test_server_down_then_back),
  };
  return cmocka_run_group_tests_name("postgres.restart", tests, NULL, NULL);
}
