/*
 * test_url.c - database URL parsing: every form, every error with its
 * position, percent-decoding, password redaction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "api/url.h"
#include "core/alloc.h"

static void parse_ok(const char *text, hdb__url *u) {
  hdb_error err;
  hdb_status st = hdb__url_parse(text, u, &err);
  if (st != HDB_OK) fail_msg("parse of '%s' failed: %s", text, err.message);
}

static void parse_bad(const char *text, const char *expect_in_message) {
  hdb_error err;
  hdb__url u;
  hdb_status st = hdb__url_parse(text, &u, &err);
  assert_int_equal(st, HDB_BAD_URL);
  assert_int_equal(err.code, HDB_BAD_URL);
  if (!strstr(err.message, expect_in_message))
    fail_msg("message for '%s' is '%s'; expected it to contain '%s'", text, err.message,
             expect_in_message);
}

static void test_path_styles(void **state) {
  (void)state;
  hdb__url u;
  parse_ok("native://./data", &u);
  assert_int_equal(u.backend, HDB_BACKEND_NATIVE);
  assert_string_equal(u.path, "./data");
  assert_string_equal(u.scheme, "native");
  hdb__url_free(&u);

  parse_ok("lancedb:///var/lib/vectors", &u);
  assert_int_equal(u.backend, HDB_BACKEND_NATIVE);
  assert_string_equal(u.path, "/var/lib/vectors");
  hdb__url_free(&u);

  parse_ok("sqlite://:memory:", &u);
  assert_int_equal(u.backend, HDB_BACKEND_SQLITE);
  assert_string_equal(u.path, ":memory:");
  hdb__url_free(&u);

  parse_ok("memory://", &u);
  assert_int_equal(u.backend, HDB_BACKEND_MEMORY);
  assert_string_equal(u.path, "");
  hdb__url_free(&u);

  parse_ok("file://my%20dir/t.jsonl?mode=ro", &u);
  assert_int_equal(u.backend, HDB_BACKEND_FILE);
  assert_string_equal(u.path, "my dir/t.jsonl");
  assert_string_equal(hdb__url_param_get(&u, "mode"), "ro");
  assert_null(hdb__url_param_get(&u, "other"));
  hdb__url_free(&u);

  parse_ok("SQLITE://app.db?journal_mode=WAL&busy_timeout=500&journal_mode=DELETE", &u);
  assert_int_equal(u.backend, HDB_BACKEND_SQLITE);
  assert_string_equal(u.scheme, "sqlite");
  assert_string_equal(hdb__url_param_get(&u, "journal_mode"), "DELETE"); /* last wins */
  assert_string_equal(hdb__url_param_get(&u, "busy_timeout"), "500");
  hdb__url_free(&u);
}

static void test_server_styles(void **state) {
  (void)state;
  hdb__url u;
  parse_ok("postgresql://alice:s%40cret@db.example:5433/hanzo?sslmode=disable", &u);
  assert_int_equal(u.backend, HDB_BACKEND_POSTGRES);
  assert_string_equal(u.user, "alice");
  assert_string_equal(u.password, "s@cret");
  assert_string_equal(u.host, "db.example");
  assert_int_equal(u.port, 5433);
  assert_string_equal(u.path, "hanzo");
  assert_string_equal(hdb__url_param_get(&u, "sslmode"), "disable");
  assert_string_equal(u.redacted, "postgresql://alice:***@db.example:5433/hanzo?sslmode=disable");
  assert_null(strstr(u.redacted, "cret"));
  hdb__url_free(&u);

  parse_ok("postgres:///hanzo?host=/tmp", &u);
  assert_int_equal(u.backend, HDB_BACKEND_POSTGRES);
  assert_string_equal(u.host, "");
  assert_string_equal(u.path, "hanzo");
  hdb__url_free(&u);

  parse_ok("redis://[::1]:6380/2", &u);
  assert_int_equal(u.backend, HDB_BACKEND_REDIS);
  assert_string_equal(u.host, "::1");
  assert_int_equal(u.port, 6380);
  assert_string_equal(u.path, "2");
  assert_string_equal(u.redacted, "redis://[::1]:6380/2");
  hdb__url_free(&u);

  parse_ok("s3://bucket/some/prefix?endpoint=http%3A%2F%2F127.0.0.1%3A58080", &u);
  assert_int_equal(u.backend, HDB_BACKEND_S3);
  assert_string_equal(u.host, "bucket");
  assert_string_equal(u.path, "some/prefix");
  assert_string_equal(hdb__url_param_get(&u, "endpoint"), "http://127.0.0.1:58080");
  hdb__url_free(&u);

  parse_ok("elasticsearch://localhost:9200", &u);
  assert_int_equal(u.backend, HDB_BACKEND_ELASTIC);
  assert_int_equal(u.port, 9200);
  hdb__url_free(&u);
}

static void test_errors(void **state) {
  (void)state;
  parse_bad("", "empty");
  parse_bad("./data", "expected SCHEME://");
  parse_bad("://x", "expected SCHEME://");
  parse_bad("mongodb://localhost", "unknown scheme 'mongodb'");
  parse_bad("native://", "needs a path");
  parse_bad("sqlite://", "needs a path");
  parse_bad("native://my data", "character 12");
  parse_bad("native://a%2", "character 11");
  parse_bad("native://a%zz", "two hex digits");
  parse_bad("native://a%00b", "%00");
  parse_bad("postgresql://h:99999/db", "port");
  parse_bad("postgresql://h:/db", "expected a port number");
  parse_bad("postgresql://h:12a/db", "port");
  parse_bad("redis://[::1/0", "closing ']'");
  parse_bad("redis://ho$t:1", "'$' is not allowed");
  parse_bad("s3://", "needs a bucket");
  parse_bad("sqlite://x.db?=v", "empty parameter name");
  parse_bad("native://x\x01y", "control");
}

static void test_nomem(void **state) {
  (void)state;
  /* Every allocation failure is reported and leaks nothing (LeakSanitizer
   * checks the second half). */
  for (long n = 0;; n++) {
    hdb__alloc_fail_after(n);
    hdb__url u;
    hdb_error err;
    hdb_status st = hdb__url_parse("postgresql://u:p@h:1/db?a=1&b=2", &u, &err);
    hdb__alloc_fail_after(-1);
    if (st == HDB_OK) {
      hdb__url_free(&u);
      assert_true(n > 3);
      break;
    }
    assert_int_equal(st, HDB_NOMEM);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_path_styles),
      cmocka_unit_test(test_server_styles),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
