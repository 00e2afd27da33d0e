/*
 * pg_test_util.h - helpers shared by the postgresql:// tests (header only).
 *
 * Each test program takes the server's URL as argv[1] (with-postgres.sh
 * passes it) and uses only the public API, plus the environment that
 * with-postgres.sh exports to restart or stop the server.
 */
#ifndef PG_TEST_UTIL_H
#define PG_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hanzodb.h"

static const char *pg_url = NULL;

/* base URL + "?" or "&" + params; static buffer, one at a time per call site. */
static inline const char *pg_url_with(char *buf, size_t cap, const char *params) {
  snprintf(buf, cap, "%s%s%s", pg_url, strchr(pg_url, '?') ? "&" : "?", params);
  return buf;
}

static inline hdb *pg_open_url(const char *url) {
  hdb *db = NULL;
  hdb_error err;
  memset(&err, 0, sizeof err);
  hdb_status st = hdb_open(url, &db, &err);
  if (st != HDB_OK) fail_msg("hdb_open(%s) -> %s: %s", url, hdb_status_name(st), err.message);
  return db;
}

#define PG_CHECK(db, call)                                                                    \
  do {                                                                                        \
    hdb_status st_ = (call);                                                                  \
    if (st_ != HDB_OK) fail_msg("%s -> %s: %s", #call, hdb_status_name(st_), hdb_errmsg(db)); \
  } while (0)

#define PG_EXPECT(db, want, call)                                                       \
  do {                                                                                  \
    hdb_status st_ = (call);                                                            \
    if (st_ != (want))                                                                  \
      fail_msg("%s -> %s, want %s: %s", #call, hdb_status_name(st_), hdb_status_name(want), \
               hdb_errmsg(db));                                                         \
  } while (0)

/* Runs the throwaway script's command (restart, stop) on the test's cluster. */
static inline int pg_server(const char *cmd) {
  const char *script = getenv("HANZO_TEST_PG_SCRIPT"), *dir = getenv("HANZO_TEST_PG_DIR");
  if (!script || !dir) return -1;
  char line[1024];
  snprintf(line, sizeof line, "bash '%s' %s '%s' >/dev/null 2>&1", script, cmd, dir);
  return system(line);
}

static inline void pg_usage(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s postgresql://URL (or run through tests/postgres/with-postgres.sh)\n", argv[0]);
    exit(2);
  }
  pg_url = argv[1];
}

#endif
