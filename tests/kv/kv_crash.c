/*
 * kv_crash.c - crash test of the LSM store: kill -9 at random moments.
 *
 * Each round forks a child that opens the store with sync=FULL and commits
 * a deterministic stream of batches (puts and deletes over 500 keys, with
 * flushes and compactions running in the background and, now and then, a
 * manual compaction in the foreground). After each acknowledged commit it
 * writes the batch number to a pipe. The parent SIGKILLs the child after
 * a random delay, reopens the store and checks, for every key and with a
 * full scan, that the store equals the reference model after exactly the
 * acknowledged batches, or after those plus the one batch in flight
 * (which may have reached the WAL before the kill). Anything else (a lost
 * acknowledged write, a partial batch, a resurrected delete, an open
 * failure) fails the test.
 *
 * Usage: kv_crash DIR [kills=200] [seconds=110]
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

#include "core/alloc.h"
#include "engine/kv/kv.h"

#define NKEYS 500
#define MAXV 400

typedef struct model {
  char val[NKEYS][MAXV];
  int len[NKEYS]; /* -1: absent */
} model;

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

typedef struct op {
  int key, del, vlen;
  char val[MAXV];
} op;

/* Batch i of round r: deterministic, so the parent can replay it. */
static int gen_batch(int r, int i, op *ops) {
  uint64_t s = ((uint64_t)r << 32 | (uint64_t)i) * 0x9e3779b97f4a7c15ull + 1;
  int n = 1 + (int)(rng(&s) % 10);
  for (int j = 0; j < n; j++) {
    ops[j].key = (int)(rng(&s) % NKEYS);
    ops[j].del = rng(&s) % 4 == 0;
    int pad = (int)(rng(&s) % 300);
    int w = snprintf(ops[j].val, MAXV, "r%d-b%d-o%d-", r, i, j);
    for (int p = 0; p < pad && w < MAXV - 1; p++) ops[j].val[w++] = (char)('a' + (r + i + p) % 26);
    ops[j].vlen = w;
  }
  return n;
}

static void apply(model *m, int r, int i) {
  op ops[10];
  int n = gen_batch(r, i, ops);
  for (int j = 0; j < n; j++) {
    if (ops[j].del) {
      m->len[ops[j].key] = -1;
    } else {
      memcpy(m->val[ops[j].key], ops[j].val, (size_t)ops[j].vlen);
      m->len[ops[j].key] = ops[j].vlen;
    }
  }
}

static void key_of(int k, char *buf) {
  snprintf(buf, 16, "key%04d", k);
}

static hdb__lsm_options opts(void) {
  hdb__lsm_options o = HDB__LSM_OPTIONS_INIT;
  o.sync = HDB__LSM_SYNC_FULL;
  o.memtable_size = 32 << 10;
  o.table_size = 16 << 10;
  o.block_size = 1024;
  o.level1_size = 64 << 10;
  o.lock_timeout_ms = 10000;
  return o;
}

static void child(const char *dir, int r, int fd) {
  hdb__lsm *db;
  hdb__lsm_options o = opts();
  o.compression = (hdb__lsm_compression)(r % 3);
  if (hdb__lsm_open(dir, &o, &db, NULL) != HDB_OK) _exit(2);
  for (int i = 0;; i++) {
    op ops[10];
    int n = gen_batch(r, i, ops);
    hdb__lsm_batch b;
    hdb__lsm_batch_init(&b);
    for (int j = 0; j < n; j++) {
      char k[16];
      key_of(ops[j].key, k);
      if (ops[j].del)
        hdb__lsm_batch_delete(&b, k, strlen(k), NULL);
      else
        hdb__lsm_batch_put(&b, k, strlen(k), ops[j].val, (size_t)ops[j].vlen, NULL);
    }
    if (hdb__lsm_write(db, &b, NULL) != HDB_OK) _exit(3);
    hdb__lsm_batch_free(&b);
    if (write(fd, &i, sizeof i) != (ssize_t)sizeof i) _exit(4);
    if (i % 10 == 9) {
      char lo[16], hi[16];
      key_of((i * 7) % NKEYS, lo);
      key_of((i * 7) % NKEYS + 100, hi);
      if (hdb__lsm_compact(db, lo, strlen(lo), hi, strlen(hi), NULL) != HDB_OK) _exit(5);
    }
  }
}

/* 0 when the store equals m exactly. */
static int compare(hdb__lsm *db, const model *m, char *why, size_t wn) {
  for (int k = 0; k < NKEYS; k++) {
    char key[16];
    key_of(k, key);
    void *v = NULL;
    size_t vl = 0;
    hdb_error err;
    hdb_status st = hdb__lsm_get(db, NULL, key, strlen(key), &v, &vl, &err);
    int bad = 0;
    if (m->len[k] < 0)
      bad = st != HDB_NOT_FOUND;
    else
      bad = st != HDB_OK || vl != (size_t)m->len[k] || memcmp(v, m->val[k], vl) != 0;
    if (bad)
      snprintf(why, wn, "%s: expected %.*s, got status %d value %.*s", key,
               m->len[k] < 0 ? 6 : m->len[k], m->len[k] < 0 ? "absent" : m->val[k], st,
               st == HDB_OK ? (int)vl : 0, st == HDB_OK ? (char *)v : "");
    hdb__free_mem(v);
    if (bad) return 1;
  }
  hdb__lsm_iter *it;
  if (hdb__lsm_iter_open(db, NULL, NULL, &it, NULL) != HDB_OK) return 1;
  int present = 0, seen = 0;
  for (int k = 0; k < NKEYS; k++) present += m->len[k] >= 0;
  const void *kk, *vv;
  size_t kl, vl;
  hdb_status st;
  while ((st = hdb__lsm_iter_next(it, &kk, &kl, &vv, &vl, NULL)) == HDB_OK) seen++;
  hdb__lsm_iter_close(it);
  if (st != HDB_DONE || seen != present) {
    snprintf(why, wn, "scan saw %d keys (status %d), model has %d", seen, st, present);
    return 1;
  }
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: kv_crash DIR [kills] [seconds]\n");
    return 2;
  }
  const char *dir = argv[1];
  int target = argc > 2 ? atoi(argv[2]) : 200;
  double budget = argc > 3 ? atof(argv[3]) : 110;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) return 2;
  static model cur, next;
  for (int k = 0; k < NKEYS; k++) cur.len[k] = -1;
  double t0 = now_s();
  uint64_t seed = 42;
  long acked_total = 0;
  int kills = 0, inflight_durable = 0, rounds = 0;
  while (kills < target && now_s() - t0 < budget) {
    int r = rounds++;
    int fds[2];
    if (pipe(fds) != 0) return 2;
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
      close(fds[0]);
      child(dir, r, fds[1]);
      _exit(0);
    }
    close(fds[1]);
    /* Drain acks while waiting, so the pipe never blocks the child. */
    int delay_ms = 2 + (int)(rng(&seed) % 60);
    int flags = fcntl(fds[0], F_GETFL);
    fcntl(fds[0], F_SETFL, flags | O_NONBLOCK);
    int last = -1, x;
    double until = now_s() + delay_ms / 1000.0;
    while (now_s() < until) {
      while (read(fds[0], &x, sizeof x) == (ssize_t)sizeof x) last = x;
      struct timespec ts = {0, 500000};
      nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    while (read(fds[0], &x, sizeof x) == (ssize_t)sizeof x) last = x;
    close(fds[0]);
    if (!WIFSIGNALED(status)) {
      fprintf(stderr, "round %d: child exited with %d before the kill\n", r,
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
      return 1;
    }
    kills++;
    int acked = last + 1;
    for (int i = 0; i < acked; i++) apply(&cur, r, i);
    acked_total += acked;
    hdb__lsm *db;
    hdb_error err;
    hdb__lsm_options o = opts();
    if (hdb__lsm_open(dir, &o, &db, &err) != HDB_OK) {
      fprintf(stderr, "round %d: reopen failed: %s\n", r, err.message);
      return 1;
    }
    char why[1024], why2[1024];
    if (compare(db, &cur, why, sizeof why) != 0) {
      next = cur;
      apply(&next, r, acked);
      if (compare(db, &next, why2, sizeof why2) != 0) {
        fprintf(stderr, "round %d (%d acknowledged): store matches neither model\n  %s\n  %s\n", r,
                acked, why, why2);
        hdb__lsm_close(db);
        return 1;
      }
      cur = next;
      inflight_durable++;
    }
    if (r % 20 == 19 && hdb__lsm_check(db, &err) != HDB_OK) {
      fprintf(stderr, "round %d: check failed: %s\n", r, err.message);
      return 1;
    }
    if (kills >= target || now_s() - t0 >= budget) {
      hdb__lsm_stats st;
      hdb__lsm_stats_get(db, &st);
      printf("kv_crash: final store: tables per level");
      for (int l = 0; l < HDB__LSM_LEVELS; l++) printf(" %llu", (unsigned long long)st.files[l]);
      printf(", last sequence %llu\n", (unsigned long long)st.last_sequence);
    }
    hdb__lsm_close(db);
  }
  double el = now_s() - t0;
  printf("kv_crash: %d kills in %.1f s, %ld acknowledged batches verified, %d rounds where the "
         "in-flight batch was durable too\n",
         kills, el, acked_total, inflight_durable);
  if (kills < target) {
    printf("kv_crash: the time budget ran out before %d kills\n", target);
    return kills >= target / 4 ? 0 : 1;
  }
  return 0;
}
