/*
 * test_table_procs.c - engine/table across processes: one writer and
 * several readers (fork) with aggressive retention and compaction running
 * in the writer, where every reader must always see a whole version (never
 * a torn one); two writer processes upserting the same ids concurrently,
 * which must serialize on the writer lock and never leave a duplicate id;
 * and threads of one process sharing the table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "../table/tt_util.h"

static char g_dir[512];

static int setup_dir(void **state) {
  (void)state;
  return tt_mkdtemp(g_dir, sizeof g_dir, "tblproc");
}
static int teardown_dir(void **state) {
  (void)state;
  tt_rmtree(g_dir);
  return 0;
}

enum { ROWS = 64 };

static hdb_schema *gen_schema(void) {
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "gen", HDB_TYPE_INT);
  hdb_schema_add(s, "who", HDB_TYPE_INT);
  hdb_schema_add_vector(s, "v", 8, HDB_METRIC_L2);
  return s;
}

static hdb__tbl *open_gen(int create, int timeout_ms) {
  hdb_schema *s = gen_schema();
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  o.create = create;
  o.schema = s;
  o.sync = HDB__TBL_SYNC_OFF;
  o.lock_timeout_ms = timeout_ms;
  hdb__tbl *t = NULL;
  hdb_error err;
  hdb_status rc = hdb__tbl_open(g_dir, &o, &t, &err);
  hdb_schema_free(s);
  return rc == HDB_OK ? t : NULL;
}

/* Upserts rows [0, n) with gen g (one commit). */
static hdb_status write_gen(hdb__tbl *t, int n, int64_t g, int who) {
  hdb_record *rows[ROWS];
  for (int i = 0; i < n; i++) {
    char id[16];
    snprintf(id, sizeof id, "r%03d", i);
    rows[i] = hdb_record_new(id);
    hdb_record_set_int(rows[i], "gen", g);
    hdb_record_set_int(rows[i], "who", who);
    float v[8];
    for (int k = 0; k < 8; k++) v[k] = (float)(g + k);
    hdb_record_set_vector(rows[i], "v", v, 8);
  }
  hdb_error err;
  hdb_status rc = hdb__tbl_write(t, rows, (size_t)n, HDB__TBL_UPSERT, NULL, &err);
  for (int i = 0; i < n; i++) hdb_record_free(rows[i]);
  return rc;
}

/* Reader: pins the newest version again and again; every version must hold
 * ROWS rows of one generation with matching vectors. Exit status 0 when
 * all were whole. */
static int reader_loop(double seconds) {
  hdb__tbl *t = open_gen(0, 0);
  if (!t) return 10;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  long checks = 0;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &b);
    if ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9 > seconds) break;
    hdb__tbl_snap *s;
    hdb_error err;
    if (hdb__tbl_pin(t, 0, &s, &err) != HDB_OK) return 11;
    hdb__tbl_scan *sc;
    if (hdb__tbl_scan_open(s, NULL, &sc, &err) != HDB_OK) return 12;
    const hdb_record *r;
    int n = 0;
    int64_t g0 = -1;
    hdb_status rc;
    while ((rc = hdb__tbl_scan_next(sc, &r, NULL, NULL, &err)) == HDB_OK) {
      hdb_value v, vec;
      if (hdb_record_get(r, "gen", &v) != HDB_OK || hdb_record_get(r, "v", &vec) != HDB_OK) return 13;
      if (g0 < 0) g0 = v.as.i;
      if (v.as.i != g0 || vec.as.vector.data[3] != (float)(g0 + 3)) return 14; /* torn */
      n++;
    }
    hdb__tbl_scan_close(sc);
    if (rc != HDB_DONE) return 15;
    if (n != ROWS) return 16;
    hdb__tbl_unpin(s);
    checks++;
  }
  hdb__tbl_close(t);
  return checks > 10 ? 0 : 17;
}

static void test_writer_and_readers(void **state) {
  (void)state;
  hdb__tbl *t = open_gen(1, 0);
  assert_non_null(t);
  assert_int_equal(write_gen(t, ROWS, 0, 0), HDB_OK);
  hdb__tbl_close(t);
  pid_t readers[3];
  for (int i = 0; i < 3; i++) {
    readers[i] = fork();
    if (readers[i] == 0) _exit(reader_loop(2.5));
  }
  pid_t w = fork();
  if (w == 0) {
    hdb__tbl *wt = open_gen(0, 0);
    if (!wt) _exit(20);
    hdb_error err;
    for (int c = 1; c <= 200; c++) {
      if (write_gen(wt, ROWS, c, 1) != HDB_OK) _exit(21);
      if (c % 15 == 0) {
        hdb__tbl_compact_options co = {0, 0.01, 1000};
        if (hdb__tbl_compact(wt, &co, NULL, &err) != HDB_OK) _exit(22);
      }
      if (c % 10 == 0) {
        /* No grace: files vanish under the readers' feet. */
        hdb__tbl_retention r = {2, 0, -1};
        if (hdb__tbl_cleanup(wt, &r, NULL, &err) != HDB_OK) _exit(23);
      }
    }
    hdb__tbl_close(wt);
    _exit(0);
  }
  int st;
  assert_int_equal(waitpid(w, &st, 0), w);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(waitpid(readers[i], &st, 0), readers[i]);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st)) print_error("reader %d exited %d\n", i, WEXITSTATUS(st));
    assert_int_equal(WEXITSTATUS(st), 0);
  }
  hdb__tbl_check_report rep;
  hdb_error err;
  assert_int_equal(hdb__tbl_check(g_dir, &rep, &err), HDB_OK);
}

static void test_two_writers(void **state) {
  (void)state;
  hdb__tbl *t = open_gen(1, 0);
  assert_non_null(t);
  hdb__tbl_close(t);
  pid_t w[2];
  for (int i = 0; i < 2; i++) {
    w[i] = fork();
    if (w[i] == 0) {
      hdb__tbl *wt = open_gen(0, 30000);
      if (!wt) _exit(30);
      for (int c = 0; c < 40; c++)
        if (write_gen(wt, 32 + (c % 32), c, i + 1) != HDB_OK) _exit(31);
      /* Inserts of ids only this writer uses: none may be lost. */
      for (int c = 0; c < 10; c++) {
        char id[32];
        snprintf(id, sizeof id, "only-%d-%d", i, c);
        hdb_record *r = hdb_record_new(id);
        hdb_record_set_int(r, "who", i);
        hdb_error err;
        hdb_status rc = hdb__tbl_write(wt, &r, 1, HDB__TBL_INSERT, NULL, &err);
        hdb_record_free(r);
        if (rc != HDB_OK) _exit(32);
      }
      hdb__tbl_close(wt);
      _exit(0);
    }
  }
  for (int i = 0; i < 2; i++) {
    int st;
    assert_int_equal(waitpid(w[i], &st, 0), w[i]);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
  }
  t = open_gen(0, 0);
  hdb__tbl_snap *s;
  hdb_error err;
  assert_int_equal(hdb__tbl_pin(t, 0, &s, &err), HDB_OK);
  /* 160 commits of row writes + 20 inserts + the create. */
  assert_int_equal(hdb__tbl_snap_version(s), 1 + 80 + 20);
  hdb__tbl_scan *sc;
  assert_int_equal(hdb__tbl_scan_open(s, NULL, &sc, &err), HDB_OK);
  const hdb_record *r;
  char seen[ROWS] = {0};
  int n = 0, only = 0;
  while (hdb__tbl_scan_next(sc, &r, NULL, NULL, &err) == HDB_OK) {
    const char *id = hdb_record_id(r);
    if (strncmp(id, "only-", 5) == 0) {
      only++;
      continue;
    }
    int k = atoi(id + 1);
    assert_true(k >= 0 && k < ROWS);
    assert_int_equal(seen[k], 0); /* never a duplicate id */
    seen[k] = 1;
    n++;
  }
  hdb__tbl_scan_close(sc);
  assert_int_equal(n, ROWS - 1); /* ids r000..r062 */
  assert_int_equal(only, 20);
  hdb__tbl_unpin(s);
  hdb__tbl_close(t);
}

typedef struct targ {
  int id;
  int fails;
} targ;

static void *thread_writer(void *p) {
  targ *a = p;
  hdb__tbl *t = open_gen(0, 30000);
  if (!t) {
    a->fails++;
    return NULL;
  }
  for (int c = 0; c < 25; c++) {
    if (write_gen(t, ROWS, a->id * 1000 + c, a->id) != HDB_OK) a->fails++;
    hdb__tbl_snap *s;
    hdb_error err;
    if (hdb__tbl_pin(t, 0, &s, &err) != HDB_OK) {
      a->fails++;
      continue;
    }
    if (tt_count(s, NULL, NULL) != ROWS) a->fails++;
    hdb__tbl_unpin(s);
  }
  hdb__tbl_close(t);
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  hdb__tbl *t = open_gen(1, 0);
  assert_non_null(t);
  pthread_t th[4];
  targ args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (targ){i + 1, 0};
    pthread_create(&th[i], NULL, thread_writer, &args[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(args[i].fails, 0);
  }
  hdb__tbl_snap *s;
  hdb_error err;
  assert_int_equal(hdb__tbl_pin(t, 0, &s, &err), HDB_OK);
  assert_int_equal(hdb__tbl_snap_version(s), 101);
  assert_int_equal(tt_count(s, NULL, NULL), ROWS);
  hdb__tbl_unpin(s);
  hdb__tbl_close(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_writer_and_readers, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_two_writers, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_threads, setup_dir, teardown_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
