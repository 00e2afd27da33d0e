/*
 * table_crash.c - crash test of engine/table's commit protocol.
 *
 * A child process commits with sync=full in a loop: commit k upserts the
 * three rows k.a, k.b, k.c (value k) in one commit, and every 8th commit
 * also runs compaction and retention, so kills land inside every kind of
 * commit. After each acknowledged commit the child writes k to a pipe.
 * The parent SIGKILLs the child at a random moment, reads what was
 * acknowledged, reopens the table and checks:
 *   1. every acknowledged commit is visible (its three rows, value k);
 *   2. no commit is partially visible (for every k seen, all three rows);
 *   3. commits are visible in order (every k below the largest seen);
 *   4. check() finds no corruption (orphan files of killed commits are
 *      allowed and counted).
 * Usage: table_crash DIR [MIN_KILLS] [MAX_SECONDS]; exit 0 on success and
 * one summary line on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tt_util.h"

static const char *g_dir;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static hdb_schema *crash_schema(void) {
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "k", HDB_TYPE_INT);
  hdb_schema_add(s, "pad", HDB_TYPE_TEXT);
  hdb_schema_add_vector(s, "v", 16, HDB_METRIC_L2);
  return s;
}

static hdb__tbl *open_crash(void) {
  hdb_schema *s = crash_schema();
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  o.create = 1;
  o.schema = s;
  o.sync = HDB__TBL_SYNC_FULL;
  o.lock_timeout_ms = 30000;
  hdb__tbl *t = NULL;
  hdb_error err;
  if (hdb__tbl_open(g_dir, &o, &t, &err) != HDB_OK) {
    fprintf(stderr, "open: %s\n", err.message);
    t = NULL;
  }
  hdb_schema_free(s);
  return t;
}

static void child(int fd, int64_t next) {
  hdb__tbl *t = open_crash();
  if (!t) _exit(2);
  for (int64_t k = next;; k++) {
    hdb_record *rows[3];
    for (int i = 0; i < 3; i++) {
      char id[32];
      snprintf(id, sizeof id, "%lld.%c", (long long)k, 'a' + i);
      rows[i] = hdb_record_new(id);
      hdb_record_set_int(rows[i], "k", k);
      hdb_record_set_text(rows[i], "pad", "padding padding padding padding padding");
      float v[16];
      for (int j = 0; j < 16; j++) v[j] = (float)(k + j);
      hdb_record_set_vector(rows[i], "v", v, 16);
    }
    hdb_error err;
    hdb_status rc = hdb__tbl_write(t, rows, 3, HDB__TBL_UPSERT, NULL, &err);
    for (int i = 0; i < 3; i++) hdb_record_free(rows[i]);
    if (rc != HDB_OK) {
      fprintf(stderr, "commit %lld: %s\n", (long long)k, err.message);
      _exit(3);
    }
    if (write(fd, &k, sizeof k) != (ssize_t)sizeof k) _exit(4);
    if (k % 8 == 0) {
      hdb__tbl_compact_options co = {0, 0.01, 1000};
      hdb__tbl_retention r = {4, 0, -1};
      if (hdb__tbl_compact(t, &co, NULL, &err) != HDB_OK ||
          hdb__tbl_cleanup(t, &r, NULL, &err) != HDB_OK) {
        fprintf(stderr, "maintenance: %s\n", err.message);
        _exit(5);
      }
    }
  }
}

/* Returns 0 when the table satisfies rules 1-4 for acknowledged <= acked;
 * *max_seen receives the largest k visible. */
static int verify(int64_t acked, int64_t *max_seen) {
  hdb__tbl *t = open_crash();
  if (!t) return -1;
  hdb__tbl_snap *s;
  hdb_error err;
  if (hdb__tbl_pin(t, 0, &s, &err) != HDB_OK) {
    fprintf(stderr, "pin: %s\n", err.message);
    hdb__tbl_close(t);
    return -1;
  }
  size_t cap = (size_t)(acked + 64) * 2;
  unsigned char *seen = calloc(cap, 1);
  hdb__tbl_scan *sc;
  int bad = 0;
  int64_t mx = 0;
  if (hdb__tbl_scan_open(s, NULL, &sc, &err) != HDB_OK) bad = 1;
  const hdb_record *r;
  hdb_status rc = HDB_DONE;
  while (!bad && (rc = hdb__tbl_scan_next(sc, &r, NULL, NULL, &err)) == HDB_OK) {
    long long k;
    char c;
    hdb_value v;
    if (sscanf(hdb_record_id(r), "%lld.%c", &k, &c) != 2 || c < 'a' || c > 'c' ||
        hdb_record_get(r, "k", &v) != HDB_OK || v.as.i != k) {
      fprintf(stderr, "bad row %s\n", hdb_record_id(r));
      bad = 1;
      break;
    }
    if ((size_t)k >= cap) {
      size_t ncap = (size_t)k * 2 + 16;
      seen = realloc(seen, ncap);
      memset(seen + cap, 0, ncap - cap);
      cap = ncap;
    }
    if (seen[k] & (1u << (c - 'a'))) {
      fprintf(stderr, "duplicate row %s\n", hdb_record_id(r));
      bad = 1;
    }
    seen[k] |= (unsigned char)(1u << (c - 'a'));
    if (k > mx) mx = k;
  }
  if (!bad && rc != HDB_DONE) {
    fprintf(stderr, "scan: %s\n", err.message);
    bad = 1;
  }
  if (sc) hdb__tbl_scan_close(sc);
  for (int64_t k = 1; !bad && k <= mx; k++)
    if (seen[k] != 7) {
      fprintf(stderr, "commit %lld %s (mask %d, acked %lld, max %lld)\n", (long long)k,
              k <= acked ? "acknowledged but missing" : "partially visible", seen[k],
              (long long)acked, (long long)mx);
      bad = 1;
    }
  if (!bad && mx < acked) {
    fprintf(stderr, "acknowledged %lld but only %lld visible\n", (long long)acked, (long long)mx);
    bad = 1;
  }
  free(seen);
  hdb__tbl_unpin(s);
  hdb__tbl_close(t);
  *max_seen = mx;
  return bad ? -1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: table_crash DIR [MIN_KILLS] [MAX_SECONDS]\n");
    return 2;
  }
  g_dir = argv[1];
  int min_kills = argc > 2 ? atoi(argv[2]) : 200;
  double max_s = argc > 3 ? atof(argv[3]) : 110;
  tt_rmtree(g_dir);
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  double start = now_s();
  int64_t acked = 0, visible = 0;
  int kills = 0;
  while (kills < min_kills && now_s() - start < max_s) {
    int p[2];
    if (pipe(p) != 0) return 2;
    pid_t pid = fork();
    if (pid == 0) {
      close(p[0]);
      child(p[1], visible + 1);
    }
    close(p[1]);
    /* Kill at a random moment: 0-60 ms into the child's life. */
    struct timespec d = {0, (long)(rand() % 60000) * 1000};
    nanosleep(&d, NULL);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    int64_t k;
    while (read(p[0], &k, sizeof k) == (ssize_t)sizeof k)
      if (k > acked) acked = k;
    close(p[0]);
    if (WIFEXITED(st)) {
      fprintf(stderr, "child exited by itself with %d\n", WEXITSTATUS(st));
      return 1;
    }
    kills++;
    if (verify(acked, &visible) != 0) {
      fprintf(stderr, "FAILED after %d kills\n", kills);
      return 1;
    }
    if (visible > acked) acked = visible; /* durable but unacknowledged: now it is */
  }
  hdb__tbl_check_report rep;
  hdb_error err;
  if (hdb__tbl_check(g_dir, &rep, &err) != HDB_OK) {
    fprintf(stderr, "check: %s\n", err.message);
    return 1;
  }
  printf("table_crash: %d kills in %.1f s, %lld commits acknowledged and visible, "
         "%llu versions, %llu fragments, %llu orphan files (removed by cleanup)\n",
         kills, now_s() - start, (long long)acked, (unsigned long long)rep.versions,
         (unsigned long long)rep.fragments, (unsigned long long)rep.orphans);
  if (kills < min_kills) {
    fprintf(stderr, "only %d kills in the time limit\n", kills);
    return 1;
  }
  tt_rmtree(g_dir);
  return 0;
}
