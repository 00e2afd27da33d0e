/*
 * conformance_main.c - entry point of the conformance suite.
 *
 *   conformance URL [TEST_NAME_PATTERN]
 *
 * Runs every area's group against the database at URL (memory://,
 * file://DIR, sqlite:///tmp/x.db, postgresql://..., ...). The same body
 * runs unchanged against every backend; what a backend lacks is checked
 * through hdb_capabilities(): the call must answer HDB_NOT_SUPPORTED and
 * change nothing. The optional pattern (cmocka's test filter, '*' and '?'
 * wildcards) runs only the matching tests. Exit status: the number of
 * failed tests (0 on success), capped at 255.
 *
 * Built by tests/CMakeLists.txt, which globs every .c file of tests/conformance into one
 * `conformance` executable and runs it with memory:// and file://DIR.
 */
#include "conformance_util.h"

#include <stdio.h>
#include <string.h>

static int printed_banner = 0;

static void print_banner(hdb *db) {
  uint32_t caps = hdb_capabilities(db);
  printf("[conformance] url=%s backend=%s library=%s\n", conf_url,
         hdb_backend_name(hdb_backend_of(db)), hdb_version());
  printf("[conformance] capabilities (0x%04x):", (unsigned)caps);
  for (unsigned bit = 0; bit < 32; bit++) {
    uint32_t flag = 1u << bit;
    const char *name = hdb_capability_name((hdb_capability)flag);
    if (name == NULL) continue;
    printf(" %s%s", (caps & flag) ? "+" : "-", name);
  }
  printf("\n");
  fflush(stdout);
}

int conf_group_setup(void **state) {
  (void)state;
  hdb *db = NULL;
  hdb_error err;
  memset(&err, 0, sizeof err);
  hdb_status st = hdb_open(conf_url, &db, &err);
  if (st != HDB_OK || db == NULL) {
    print_error("cannot open %s: %s: %s\n", conf_url, hdb_status_name(st), err.message);
    return -1;
  }
  if (!printed_banner) {
    print_banner(db);
    printed_banner = 1;
  }
  conf_cleanup(db);
  hdb_close(db);
  return 0;
}

int conf_group_teardown(void **state) {
  (void)state;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '\0') {
    fprintf(stderr, "usage: %s URL [TEST_PATTERN]\n  e.g. %s memory://\n", argv[0], argv[0]);
    return 2;
  }
  conf_url = argv[1];
  if (argc > 2) cmocka_set_test_filter(argv[2]);

  int failed = 0;
  failed += conf_run_capabilities();
  failed += conf_run_tables();
  failed += conf_run_crud();
  failed += conf_run_filter();
  failed += conf_run_query();
  failed += conf_run_search();
  failed += conf_run_aggregate();
  failed += conf_run_index();
  failed += conf_run_kv();
  failed += conf_run_txn();
  failed += conf_run_errors();
  if (failed) printf("[conformance] %s: %d test(s) failed\n", conf_url, failed);
  return failed > 255 ? 255 : failed;
}
