/*
 * test_select.c - which database a config opens: explicit URL, backend,
 * workload (with fallback to native and its note), the environment
 * (HANZO_DB_BACKEND, HANZO_DB_PATH, HANZO_DB_URL, HANZO_REDIS_URL), and
 * opening a backend that is not built.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "hanzodb.h"

static void clear_env(void) {
  unsetenv("HANZO_DB_BACKEND");
  unsetenv("HANZO_DB_PATH");
  unsetenv("HANZO_DB_URL");
  unsetenv("HANZO_REDIS_URL");
}

static int setup(void **state) {
  (void)state;
  clear_env();
  return 0;
}

static hdb_selection select_ok(const hdb_config *cfg) {
  hdb_selection sel;
  hdb_error err;
  hdb_status st = hdb_select(cfg, &sel, &err);
  if (st != HDB_OK) fail_msg("hdb_select failed: %s", err.message);
  return sel;
}

static void test_names(void **state) {
  (void)state;
  hdb_backend b;
  assert_int_equal(hdb_backend_from_name("lancedb", &b), HDB_OK);
  assert_int_equal(b, HDB_BACKEND_NATIVE);
  assert_int_equal(hdb_backend_from_name("Postgres", &b), HDB_OK);
  assert_int_equal(b, HDB_BACKEND_POSTGRES);
  assert_int_equal(hdb_backend_from_name("mongo", &b), HDB_INVALID_ARGUMENT);
  assert_string_equal(hdb_backend_name(HDB_BACKEND_POSTGRES), "postgresql");
  assert_string_equal(hdb_backend_name(HDB_BACKEND_NATIVE), "native");
  hdb_workload w;
  assert_int_equal(hdb_workload_from_name("analytics", &w), HDB_OK);
  assert_int_equal(w, HDB_WORKLOAD_ANALYTICS);
  assert_int_equal(hdb_workload_from_name("vector-search", &w), HDB_OK);
  assert_int_equal(w, HDB_WORKLOAD_VECTOR_SEARCH);
  assert_int_equal(hdb_workload_from_name("batch", &w), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_workload_backend(HDB_WORKLOAD_VECTOR_SEARCH), HDB_BACKEND_NATIVE);
  assert_int_equal(hdb_workload_backend(HDB_WORKLOAD_ANALYTICS), HDB_BACKEND_DUCKDB);
  assert_int_equal(hdb_workload_backend(HDB_WORKLOAD_TRANSACTIONAL), HDB_BACKEND_POSTGRES);
  assert_int_equal(hdb_workload_backend(HDB_WORKLOAD_CACHING), HDB_BACKEND_REDIS);
  assert_int_equal(hdb_workload_backend(HDB_WORKLOAD_EMBEDDED), HDB_BACKEND_SQLITE);
  assert_true(hdb_backend_built(HDB_BACKEND_MEMORY));
}

static void test_rules(void **state) {
  (void)state;
  hdb_config c = HDB_CONFIG_INIT;
  hdb_selection s = select_ok(&c);
  assert_string_equal(s.url, "native://./hanzo-data");
  assert_int_equal(s.backend, HDB_BACKEND_NATIVE);

  c.path = "/srv/data";
  s = select_ok(&c);
  assert_string_equal(s.url, "native:///srv/data");

  c.backend = HDB_BACKEND_SQLITE;
  s = select_ok(&c);
  assert_string_equal(s.url, "sqlite:///srv/data");

  c.url = "memory://x";
  s = select_ok(&c);
  assert_string_equal(s.url, "memory://x");
  assert_int_equal(s.backend, HDB_BACKEND_MEMORY);

  hdb_config pg = HDB_CONFIG_INIT;
  pg.backend = HDB_BACKEND_POSTGRES;
  hdb_error err;
  assert_int_equal(hdb_select(&pg, &s, &err), HDB_INVALID_ARGUMENT);
  assert_non_null(strstr(err.message, "HANZO_DB_URL"));

  hdb_config bad = HDB_CONFIG_INIT;
  bad.url = "nope://x";
  assert_int_equal(hdb_select(&bad, &s, &err), HDB_BAD_URL);
}

static void test_workloads(void **state) {
  (void)state;
  hdb_config c = HDB_CONFIG_INIT;
  c.workload = HDB_WORKLOAD_CACHING;
  hdb_selection s = select_ok(&c);
  /* redis is neither configured nor (yet) built: native, with the reason. */
  assert_int_equal(s.backend, HDB_BACKEND_NATIVE);
  assert_non_null(strstr(s.note, "caching prefers redis"));
  assert_non_null(strstr(s.note, "using native"));

  c.workload = HDB_WORKLOAD_VECTOR_SEARCH;
  s = select_ok(&c);
  assert_int_equal(s.backend, HDB_BACKEND_NATIVE);

  c.workload = HDB_WORKLOAD_ANALYTICS;
  s = select_ok(&c);
  if (hdb_backend_built(HDB_BACKEND_DUCKDB)) {
    assert_int_equal(s.backend, HDB_BACKEND_DUCKDB);
  } else {
    assert_int_equal(s.backend, HDB_BACKEND_NATIVE);
    assert_non_null(strstr(s.note, "not built"));
  }

  c.workload = HDB_WORKLOAD_TRANSACTIONAL;
  c.postgres_url = "postgresql://localhost/hanzo";
  s = select_ok(&c);
  if (hdb_backend_built(HDB_BACKEND_POSTGRES))
    assert_string_equal(s.url, "postgresql://localhost/hanzo");
  else
    assert_int_equal(s.backend, HDB_BACKEND_NATIVE);
}

static void test_env(void **state) {
  (void)state;
  hdb_config c = HDB_CONFIG_INIT;
  c.use_env = 1;

  setenv("HANZO_DB_PATH", "/tmp/hz", 1);
  hdb_selection s = select_ok(&c);
  assert_string_equal(s.url, "native:///tmp/hz");

  setenv("HANZO_DB_BACKEND", "lancedb", 1);
  s = select_ok(&c);
  assert_string_equal(s.url, "native:///tmp/hz");

  setenv("HANZO_DB_BACKEND", "memory", 1);
  s = select_ok(&c);
  assert_string_equal(s.url, "memory://");

  setenv("HANZO_DB_BACKEND", "postgresql", 1);
  setenv("HANZO_DB_URL", "postgresql://u:p@localhost:5432/hanzo", 1);
  s = select_ok(&c);
  assert_string_equal(s.url, "postgresql://u:p@localhost:5432/hanzo");

  setenv("HANZO_DB_BACKEND", "redis", 1);
  setenv("HANZO_REDIS_URL", "redis://127.0.0.1:6379", 1);
  s = select_ok(&c);
  assert_string_equal(s.url, "redis://127.0.0.1:6379");

  setenv("HANZO_DB_BACKEND", "oracle", 1);
  hdb_error err;
  assert_int_equal(hdb_select(&c, &s, &err), HDB_INVALID_ARGUMENT);
  assert_non_null(strstr(err.message, "oracle"));

  /* HANZO_DB_URL alone names the database. */
  unsetenv("HANZO_DB_BACKEND");
  setenv("HANZO_DB_URL", "memory://from-env", 1);
  s = select_ok(&c);
  assert_string_equal(s.url, "memory://from-env");

  /* An explicit URL beats the environment. */
  c.url = "memory://explicit";
  s = select_ok(&c);
  assert_string_equal(s.url, "memory://explicit");
  clear_env();
}

static void test_open(void **state) {
  (void)state;
  hdb *db = NULL;
  hdb_error err;
  assert_int_equal(hdb_open("sqlite://x.db", &db, &err), hdb_backend_built(HDB_BACKEND_SQLITE) ? HDB_OK : HDB_NOT_BUILT);
  if (db) {
    hdb_close(db);
  } else {
    assert_non_null(strstr(err.message, "sqlite"));
    assert_non_null(strstr(err.message, "not built"));
  }
  assert_int_equal(hdb_open("bogus", &db, &err), HDB_BAD_URL);
  assert_null(db);
  assert_int_equal(hdb_open(NULL, &db, &err), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_open("memory://", NULL, &err), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_open("bogus", &db, NULL), HDB_BAD_URL); /* err may be NULL */

  setenv("HANZO_DB_URL", "memory://env-open", 1);
  assert_int_equal(hdb_open_env(&db, &err), HDB_OK);
  assert_int_equal(hdb_backend_of(db), HDB_BACKEND_MEMORY);
  assert_string_equal(hdb_url(db), "memory://env-open");
  assert_int_equal(hdb_ping(db), HDB_OK);
  assert_string_equal(hdb_errmsg(db), "not an error");
  hdb_close(db);
  hdb_close(NULL);
  clear_env();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_names, setup),
      cmocka_unit_test_setup(test_rules, setup),
      cmocka_unit_test_setup(test_workloads, setup),
      cmocka_unit_test_setup(test_env, setup),
      cmocka_unit_test_setup(test_open, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
