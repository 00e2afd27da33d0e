/*
 * test_pg_errors.c - clear statuses from the postgresql:// backend:
 * server down (HDB_UNAVAILABLE naming host:port), authentication failure
 * (HDB_AUTH), wrong database (HDB_UNAVAILABLE naming it), missing table
 * (HDB_NO_TABLE), read-only handles (HDB_READ_ONLY), and the catalog
 * surviving a second process-level handle.
 */
#include "pg_test_util.h"

/* "postgresql://postgres@127.0.0.1:PORT/hanzo" -> PORT */
static int url_port(void) {
  const char *p = strstr(pg_url, "127.0.0.1:");
  assert_non_null(p);
  return atoi(p + 10);
}

static void test_server_down(void **state) {
  (void)state;
  /* A port in our range with nothing listening: the next one up that fails. */
  char url[256];
  int port = url_port() == 55499 ? 55498 : 55499;
  snprintf(url, sizeof url, "postgresql://postgres@127.0.0.1:%d/hanzo?connect_timeout_ms=2000", port);
  hdb *db = NULL;
  hdb_error err;
  assert_int_equal(hdb_open(url, &db, &err), HDB_UNAVAILABLE);
  assert_null(db);
  char want[64];
  snprintf(want, sizeof want, "127.0.0.1:%d", port);
  if (!strstr(err.message, want)) fail_msg("message does not name %s: %s", want, err.message);
}

static void test_auth_failure(void **state) {
  (void)state;
  char url[256];
  snprintf(url, sizeof url, "postgresql://hanzo_pw:wrong-password@127.0.0.1:%d/hanzo", url_port());
  hdb *db = NULL;
  hdb_error err;
  assert_int_equal(hdb_open(url, &db, &err), HDB_AUTH);
  assert_null(db);
  assert_non_null(strstr(err.message, "authentication"));
  /* The password never shows in messages or the handle's URL. */
  assert_null(strstr(err.message, "wrong-password"));
  snprintf(url, sizeof url, "postgresql://hanzo_pw:hanzo-secret@127.0.0.1:%d/hanzo", url_port());
  assert_int_equal(hdb_open(url, &db, &err), HDB_OK);
  assert_null(strstr(hdb_url(db), "hanzo-secret"));
  PG_CHECK(db, hdb_ping(db));
  hdb_close(db);
  /* A role that does not exist is an authentication failure too. */
  snprintf(url, sizeof url, "postgresql://nosuchrole@127.0.0.1:%d/hanzo", url_port());
  assert_int_equal(hdb_open(url, &db, &err), HDB_AUTH);
}

static void test_wrong_database(void **state) {
  (void)state;
  char url[256];
  snprintf(url, sizeof url, "postgresql://postgres@127.0.0.1:%d/no_such_db", url_port());
  hdb *db = NULL;
  hdb_error err;
  assert_int_equal(hdb_open(url, &db, &err), HDB_UNAVAILABLE);
  if (!strstr(err.message, "no_such_db")) fail_msg("message does not name the database: %s", err.message);
}

static void test_missing_table_and_read_only(void **state) {
  (void)state;
  hdb *db = pg_open_url(pg_url);
  hdb_record *r = hdb_record_new("x");
  PG_EXPECT(db, HDB_NO_TABLE, hdb_insert(db, "no_such_table", &r, 1));
  assert_non_null(strstr(hdb_errmsg(db), "no_such_table"));
  hdb_record *got = NULL;
  PG_EXPECT(db, HDB_NO_TABLE, hdb_get(db, "no_such_table", "x", &got));
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  PG_CHECK(db, hdb_table_drop(db, "ro_t", HDB_IF_EXISTS));
  PG_CHECK(db, hdb_table_create(db, "ro_t", s, 0));
  hdb_schema_free(s);

  hdb_config cfg = HDB_CONFIG_INIT;
  cfg.url = pg_url;
  cfg.read_only = 1;
  hdb *ro = NULL;
  hdb_error err;
  assert_int_equal(hdb_open_config(&cfg, &ro, &err), HDB_OK);
  PG_EXPECT(ro, HDB_READ_ONLY, hdb_insert(ro, "ro_t", &r, 1));
  PG_EXPECT(ro, HDB_READ_ONLY, hdb_kv_put(ro, "", "k", 1, "v", 1));
  uint64_t n = 9;
  PG_CHECK(ro, hdb_count(ro, "ro_t", NULL, &n));
  assert_int_equal(n, 0);
  hdb_close(ro);
  /* A value PostgreSQL cannot hold fails before anything is written. */
  hdb_record *bad = hdb_record_new("nul");
  hdb_record_set_textn(bad, "t", "a\0b", 3);
  hdb_schema *s2 = hdb_schema_new();
  hdb_schema_add(s2, "t", HDB_TYPE_TEXT);
  PG_CHECK(db, hdb_table_drop(db, "nul_t", HDB_IF_EXISTS));
  PG_CHECK(db, hdb_table_create(db, "nul_t", s2, 0));
  hdb_schema_free(s2);
  PG_EXPECT(db, HDB_TYPE_MISMATCH, hdb_insert(db, "nul_t", &bad, 1));
  hdb_record_free(bad);
  hdb_record_free(r);
  PG_CHECK(db, hdb_table_drop(db, "ro_t", 0));
  PG_CHECK(db, hdb_table_drop(db, "nul_t", 0));
  hdb_close(db);
}

static void test_long_names_map(void **state) {
  (void)state;
  /* Two 128-byte table names equal in their first 63 bytes stay apart. */
  char a[HDB_MAX_NAME_LEN + 1], b[HDB_MAX_NAME_LEN + 1];
  memset(a, 'q', HDB_MAX_NAME_LEN);
  a[HDB_MAX_NAME_LEN] = 0;
  memcpy(b, a, sizeof a);
  a[HDB_MAX_NAME_LEN - 1] = 'a';
  b[HDB_MAX_NAME_LEN - 1] = 'b';
  hdb *db = pg_open_url(pg_url);
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  PG_CHECK(db, hdb_table_create(db, a, s, HDB_IF_NOT_EXISTS));
  PG_CHECK(db, hdb_table_create(db, b, NULL, HDB_IF_NOT_EXISTS));
  hdb_schema_free(s);
  hdb_schema *got = NULL;
  PG_CHECK(db, hdb_table_schema(db, a, &got));
  assert_non_null(got);
  hdb_schema_free(got);
  got = (hdb_schema *)1;
  PG_CHECK(db, hdb_table_schema(db, b, &got));
  assert_null(got);
  PG_CHECK(db, hdb_table_drop(db, a, 0));
  PG_CHECK(db, hdb_table_drop(db, b, 0));
  hdb_close(db);
}

int main(int argc, char **argv) {
  pg_usage(argc, argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_down),
      cmocka_unit_test(test_auth_failure),
      cmocka_unit_test(test_wrong_database),
      cmocka_unit_test(test_missing_table_and_read_only),
      cmocka_unit_test(test_long_names_map),
  };
  return cmocka_run_group_tests_name("postgres.errors", tests, NULL, NULL);
}
