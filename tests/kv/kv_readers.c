/*
 * kv_readers.c - many reader processes and one writer on the LSM store
 * (reader mode, README R1-R8).
 *
 * readers: a forked writer commits batches continuously (sync=normal,
 *   small memtables and tables, so flushes and compactions run all the
 *   time; it also flushes and runs compact(range) in the foreground now
 *   and then), while 3 forked reader processes attached without the lock
 *   read and iterate. Batch b puts k000..k019 = "B<b>" and h<b>, and
 *   deletes h<b-300>. Checks, in each reader:
 *     - an iterator (one snapshot) sees the same batch number B on all 20
 *       k keys, and exactly min(B, 300) h keys, the newest h<B>: whole
 *       batches only (also when the iterator is paused midway while the
 *       writer deletes the files under it);
 *     - through a snapshot, 20 gets see one batch number;
 *     - B never goes down (monotonic reads), and B >= the batch the writer
 *       had acknowledged before the read began (acknowledged data is
 *       visible); h<ack> is found by a plain get.
 * busy: a reader-attached handle reads while another process writes; its
 *   write waits lock_timeout_ms and gets HDB_BUSY; after the writer exits
 *   the write succeeds (the handle became the writer) and sees the data.
 * torn: a reader follows a WAL that ends in half a record (not yet
 *   written: no error, the key is absent), then sees the key once the rest
 *   is appended; damage in the middle followed by a good record is
 *   HDB_CORRUPT.
 *
 * pinned: in one process, a reader handle's open iterator and snapshot
 *   keep the old values after the writer handle overwrote every key and
 *   compacted (the tables they read are deleted); new reads see the new
 *   values; a reader handle's write waits and gets HDB_BUSY.
 * cache: compressed tables (lz4, zstd) read by 4 threads at once through
 *   a tiny block cache (constant eviction), by the writer handle and by a
 *   reader handle: every value right, hits counted, bytes bounded.
 * native: the same through native:// and the public API: a second
 *   process reads the KV store while the first holds it (before reader
 *   mode: HDB_BUSY after the timeout), its write gets HDB_BUSY, and
 *   succeeds once the first process closed.
 *
 * Usage: kv_readers DIR [seconds=5]
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "engine/kv/kv.h"
#include "hanzodb.h"
#include "engine/kv/kv_impl.h"

#define NK 20   /* k keys per batch */
#define HKEEP 300
#define NREADERS 3

typedef struct shared {
  atomic_uint_fast64_t ack; /* last batch the writer got HDB_OK for */
  atomic_int stop;
  atomic_uint_fast64_t reads[NREADERS];
  atomic_uint_fast64_t refreshes[NREADERS];
  atomic_uint_fast64_t retries[NREADERS];
  atomic_uint_fast64_t flushes, compactions;
} shared;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

#define FAIL(...)                                  \
  do {                                             \
    fprintf(stderr, "kv_readers: " __VA_ARGS__);   \
    fprintf(stderr, "\n");                         \
    return 1;                                      \
  } while (0)

static hdb__lsm_options small_opts(void) {
  hdb__lsm_options o = HDB__LSM_OPTIONS_INIT;
  o.sync = HDB__LSM_SYNC_NORMAL;
  o.memtable_size = 48u << 10;
  o.table_size = 32u << 10;
  o.level1_size = 128u << 10;
  o.block_size = 1024;
  return o;
}

/* ------------------------------------------------------------------ */
/* readers                                                             */
/* ------------------------------------------------------------------ */

static int writer_main(const char *dir, shared *sh, double seconds, int ready_fd) {
  hdb__lsm_options o = small_opts();
  hdb__lsm *db;
  hdb_error err;
  if (hdb__lsm_open(dir, &o, &db, &err) != HDB_OK) FAIL("writer open: %s", err.message);
  hdb__lsm_batch b;
  hdb__lsm_batch_init(&b);
  char key[32], val[400];
  double end = now_s() + seconds;
  uint64_t seed = 12345;
  int rc = 0;
  for (uint64_t n = 1; now_s() < end; n++) {
    hdb__lsm_batch_clear(&b);
    int vl = snprintf(val, sizeof val, "B%010llu", (unsigned long long)n);
    for (int i = 0; i < NK; i++) {
      snprintf(key, sizeof key, "k%03d", i);
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      int pad = (int)(seed >> 56) % 120;
      memset(val + vl, 'a' + i, (size_t)pad);
      if (hdb__lsm_batch_put(&b, key, strlen(key), val, (size_t)vl + (size_t)pad, &err) != HDB_OK) {
        rc = 1;
        break;
      }
    }
    snprintf(key, sizeof key, "h%010llu", (unsigned long long)n);
    if (rc == 0 && hdb__lsm_batch_put(&b, key, strlen(key), val, 200, &err) != HDB_OK) rc = 1;
    if (rc == 0 && n > HKEEP) {
      snprintf(key, sizeof key, "h%010llu", (unsigned long long)(n - HKEEP));
      if (hdb__lsm_batch_delete(&b, key, strlen(key), &err) != HDB_OK) rc = 1;
    }
    if (rc == 0 && hdb__lsm_write(db, &b, &err) != HDB_OK) rc = 1;
    if (rc) {
      fprintf(stderr, "kv_readers: writer batch %llu: %s\n", (unsigned long long)n, err.message);
      break;
    }
    atomic_store(&sh->ack, n);
    if (n == 1) {
      char c = 1;
      if (write(ready_fd, &c, 1) != 1) rc = 1;
    }
    if (n % 150 == 0) {
      if (hdb__lsm_compact(db, "h", 1, "i", 1, &err) != HDB_OK) {
        fprintf(stderr, "kv_readers: writer compact: %s\n", err.message);
        rc = 1;
        break;
      }
      atomic_fetch_add(&sh->compactions, 1);
    } else if (n % 40 == 0) {
      if (hdb__lsm_flush(db, &err) != HDB_OK) {
        fprintf(stderr, "kv_readers: writer flush: %s\n", err.message);
        rc = 1;
        break;
      }
      atomic_fetch_add(&sh->flushes, 1);
    }
  }
  hdb__lsm_stats s;
  hdb__lsm_stats_get(db, &s);
  atomic_fetch_add(&sh->flushes, s.flushes);
  atomic_fetch_add(&sh->compactions, s.compactions);
  hdb__lsm_batch_free(&b);
  hdb__lsm_close(db);
  atomic_store(&sh->stop, 1);
  return rc;
}

static uint64_t parse_b(const void *v, size_t n) {
  if (n < 11 || ((const char *)v)[0] != 'B') return 0;
  char tmp[16];
  memcpy(tmp, (const char *)v + 1, 10);
  tmp[10] = '\0';
  return strtoull(tmp, NULL, 10);
}

/* One iterator over everything: returns the batch number it saw, or 0
 * after printing the failure. pause: stop midway for a while. */
static uint64_t check_scan(hdb__lsm *db, int reverse, int pause) {
  hdb_kv_range r = {0};
  r.reverse = reverse;
  hdb__lsm_iter *it;
  hdb_error err;
  if (hdb__lsm_iter_open(db, NULL, &r, &it, &err) != HDB_OK) {
    fprintf(stderr, "kv_readers: iter_open: %s\n", err.message);
    return 0;
  }
  uint64_t kb = 0, hcount = 0, hmax = 0;
  int nk = 0, bad = 0;
  const void *k, *v;
  size_t kl, vl;
  hdb_status st;
  int steps = 0;
  while ((st = hdb__lsm_iter_next(it, &k, &kl, &v, &vl, &err)) == HDB_OK) {
    if (pause && ++steps == 10) sleep_ms(30); /* the writer replaces files meanwhile */
    const char *ks = k;
    if (ks[0] == 'k') {
      uint64_t b = parse_b(v, vl);
      if (nk == 0) kb = b;
      else if (b != kb) {
        fprintf(stderr, "kv_readers: one iterator saw batches %llu and %llu on the k keys\n",
                (unsigned long long)kb, (unsigned long long)b);
        bad = 1;
      }
      nk++;
    } else if (ks[0] == 'h') {
      char tmp[16];
      memcpy(tmp, ks + 1, 10);
      tmp[10] = '\0';
      uint64_t h = strtoull(tmp, NULL, 10);
      if (h > hmax) hmax = h;
      hcount++;
    }
  }
  hdb__lsm_iter_close(it);
  if (st != HDB_DONE) {
    fprintf(stderr, "kv_readers: iter_next: %s\n", err.message);
    return 0;
  }
  if (bad) return 0;
  if (nk != NK) {
    fprintf(stderr, "kv_readers: iterator saw %d k keys, not %d\n", nk, NK);
    return 0;
  }
  uint64_t want = kb < HKEEP ? kb : HKEEP;
  if (hcount != want || hmax != kb) {
    fprintf(stderr, "kv_readers: at batch %llu an iterator saw %llu h keys (newest %llu), not %llu\n",
            (unsigned long long)kb, (unsigned long long)hcount, (unsigned long long)hmax,
            (unsigned long long)want);
    return 0;
  }
  return kb;
}

static uint64_t check_snapshot_gets(hdb__lsm *db) {
  hdb__lsm_snapshot *snap;
  hdb_error err;
  if (hdb__lsm_snapshot_acquire(db, &snap, &err) != HDB_OK) {
    fprintf(stderr, "kv_readers: snapshot: %s\n", err.message);
    return 0;
  }
  uint64_t kb = 0;
  for (int i = 0; i < NK; i++) {
    char key[16];
    snprintf(key, sizeof key, "k%03d", i);
    void *v;
    size_t vl;
    if (hdb__lsm_get(db, snap, key, strlen(key), &v, &vl, &err) != HDB_OK) {
      fprintf(stderr, "kv_readers: snapshot get %s: %s\n", key, err.message);
      kb = 0;
      break;
    }
    uint64_t b = parse_b(v, vl);
    hdb__free_mem(v);
    if (i == 0) kb = b;
    else if (b != kb) {
      fprintf(stderr, "kv_readers: one snapshot saw batches %llu and %llu\n", (unsigned long long)kb,
              (unsigned long long)b);
      kb = 0;
      break;
    }
    if (i == NK / 2) sleep_ms(1);
  }
  hdb__lsm_snapshot_release(db, snap);
  return kb;
}

static int reader_main(const char *dir, shared *sh, int id) {
  hdb__lsm_options o = small_opts();
  o.reader_attach = 1;
  hdb__lsm *db;
  hdb_error err;
  if (hdb__lsm_open(dir, &o, &db, &err) != HDB_OK) FAIL("reader %d open: %s", id, err.message);
  uint64_t last = 0;
  int rc = 0;
  for (uint64_t round = 0; !atomic_load(&sh->stop) && rc == 0; round++) {
    uint64_t a0 = atomic_load(&sh->ack);
    uint64_t b;
    switch (round % 4) {
      case 0: b = check_scan(db, 0, round % 16 == 0); break;
      case 1: b = check_scan(db, 1, 0); break;
      case 2: b = check_snapshot_gets(db); break;
      default: {
        char key[32];
        snprintf(key, sizeof key, "h%010llu", (unsigned long long)a0);
        void *v;
        size_t vl;
        hdb_status st = hdb__lsm_get(db, NULL, key, strlen(key), &v, &vl, &err);
        if (st == HDB_NOT_FOUND && atomic_load(&sh->ack) >= a0 + HKEEP) {
          b = a0; /* deleted meanwhile by batch a0 + 300: nothing to check */
        } else if (st != HDB_OK) {
          fprintf(stderr, "kv_readers: reader %d: acknowledged %s not visible: %s\n", id, key,
                  err.message);
          b = 0;
        } else {
          b = parse_b(v, vl);
          hdb__free_mem(v);
          if (b != a0) {
            fprintf(stderr, "kv_readers: reader %d: %s holds batch %llu\n", id, key,
                    (unsigned long long)b);
            b = 0;
          }
        }
        /* A plain get of k000: its batch is this read's point in time. */
        if (b && hdb__lsm_get(db, NULL, "k000", 4, &v, &vl, &err) != HDB_OK) {
          fprintf(stderr, "kv_readers: reader %d: get k000: %s\n", id, err.message);
          b = 0;
        } else if (b) {
          b = parse_b(v, vl);
          hdb__free_mem(v);
        }
      }
    }
    if (b == 0) rc = 1;
    else if (b < a0) {
      fprintf(stderr, "kv_readers: reader %d saw batch %llu after batch %llu was acknowledged\n", id,
              (unsigned long long)b, (unsigned long long)a0);
      rc = 1;
    } else if (b < last) {
      fprintf(stderr, "kv_readers: reader %d went back from batch %llu to %llu\n", id,
              (unsigned long long)last, (unsigned long long)b);
      rc = 1;
    }
    if (b > last) last = b;
    atomic_fetch_add(&sh->reads[id], 1);
  }
  hdb__lsm_stats s;
  hdb__lsm_stats_get(db, &s);
  if (rc == 0 && s.reader != 1) {
    fprintf(stderr, "kv_readers: reader %d is no longer a reader\n", id);
    rc = 1;
  }
  atomic_store(&sh->refreshes[id], s.reader_refreshes);
  atomic_store(&sh->retries[id], s.reader_retries);
  /* After the writer closed, a reader still reads (and sees the end). */
  if (rc == 0) {
    uint64_t b = check_scan(db, 0, 0);
    if (b != atomic_load(&sh->ack)) {
      fprintf(stderr, "kv_readers: reader %d: after the writer closed saw %llu, not %llu\n", id,
              (unsigned long long)b, (unsigned long long)atomic_load(&sh->ack));
      rc = 1;
    }
  }
  hdb__lsm_close(db);
  return rc;
}

static int wait_ok(pid_t pid, const char *what) {
  int status;
  if (waitpid(pid, &status, 0) != pid) FAIL("waitpid %s: %s", what, strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) FAIL("%s failed (status %d)", what, status);
  return 0;
}

static int test_readers(const char *dir, double seconds) {
  shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) FAIL("mmap failed");
  memset(sh, 0, sizeof *sh);
  int p[2];
  if (pipe(p) != 0) FAIL("pipe failed");
  pid_t w = fork();
  if (w == 0) {
    close(p[0]);
    _exit(writer_main(dir, sh, seconds, p[1]));
  }
  close(p[1]);
  char c;
  if (read(p[0], &c, 1) != 1) FAIL("the writer did not start");
  close(p[0]);
  pid_t r[NREADERS];
  for (int i = 0; i < NREADERS; i++) {
    r[i] = fork();
    if (r[i] == 0) _exit(reader_main(dir, sh, i));
  }
  int rc = wait_ok(w, "writer");
  for (int i = 0; i < NREADERS; i++) rc |= wait_ok(r[i], "reader");
  printf("readers: %llu batches, %llu flushes, %llu compactions (incl. %s); reads",
         (unsigned long long)atomic_load(&sh->ack), (unsigned long long)atomic_load(&sh->flushes),
         (unsigned long long)atomic_load(&sh->compactions), "manual");
  uint64_t refreshes = 0;
  for (int i = 0; i < NREADERS; i++) {
    printf(" %llu", (unsigned long long)atomic_load(&sh->reads[i]));
    refreshes += atomic_load(&sh->refreshes[i]);
  }
  printf("; full refreshes %llu, retries", (unsigned long long)refreshes);
  for (int i = 0; i < NREADERS; i++) printf(" %llu", (unsigned long long)atomic_load(&sh->retries[i]));
  printf("\n");
  if (rc == 0 && (atomic_load(&sh->ack) < 100 || refreshes == 0))
    FAIL("the run was too short to test anything (%llu batches)",
         (unsigned long long)atomic_load(&sh->ack));
  munmap(sh, sizeof *sh);
  return rc;
}

/* ------------------------------------------------------------------ */
/* busy                                                                */
/* ------------------------------------------------------------------ */

static int holder_main(const char *dir, int ready_fd, int go_fd) {
  hdb__lsm_options o = small_opts();
  hdb__lsm *db;
  hdb_error err;
  if (hdb__lsm_open(dir, &o, &db, &err) != HDB_OK) FAIL("holder open: %s", err.message);
  if (hdb__lsm_put(db, "held", 4, "1", 1, &err) != HDB_OK) FAIL("holder put: %s", err.message);
  char c = 1;
  if (write(ready_fd, &c, 1) != 1) return 1;
  if (read(go_fd, &c, 1) != 1) return 1; /* until the parent says so */
  if (hdb__lsm_put(db, "held", 4, "2", 1, &err) != HDB_OK) FAIL("holder put: %s", err.message);
  hdb__lsm_close(db);
  return 0;
}

static int test_busy(const char *dir) {
  int ready[2], go[2];
  if (pipe(ready) != 0 || pipe(go) != 0) FAIL("pipe failed");
  pid_t h = fork();
  if (h == 0) _exit(holder_main(dir, ready[1], go[0]));
  char c;
  if (read(ready[0], &c, 1) != 1) FAIL("holder did not start");
  hdb__lsm_options o = small_opts();
  o.reader_attach = 1;
  o.lock_timeout_ms = 300;
  hdb__lsm *db;
  hdb_error err;
  double t0 = now_s();
  if (hdb__lsm_open(dir, &o, &db, &err) != HDB_OK) FAIL("reader open: %s", err.message);
  if (now_s() - t0 > 0.2) FAIL("attaching as a reader waited for the lock");
  void *v;
  size_t vl;
  if (hdb__lsm_get(db, NULL, "held", 4, &v, &vl, &err) != HDB_OK || vl != 1 || ((char *)v)[0] != '1')
    FAIL("reader does not see the writer's key");
  hdb__free_mem(v);
  t0 = now_s();
  hdb_status st = hdb__lsm_put(db, "mine", 4, "x", 1, &err);
  double waited = now_s() - t0;
  if (st != HDB_BUSY) FAIL("a second writer got %d, not HDB_BUSY", (int)st);
  if (waited < 0.25) FAIL("HDB_BUSY after %.3f s, before the 300 ms timeout", waited);
  if (!strstr(err.message, "LOCK")) FAIL("HDB_BUSY message does not name LOCK: %s", err.message);
  hdb__lsm_stats s;
  hdb__lsm_stats_get(db, &s);
  if (s.reader != 1) FAIL("a failed write left the reader mode");
  if (write(go[1], &c, 1) != 1) FAIL("pipe write failed");
  if (wait_ok(h, "holder")) return 1;
  /* The holder wrote "2" and closed: readers keep working. */
  if (hdb__lsm_get(db, NULL, "held", 4, &v, &vl, &err) != HDB_OK || ((char *)v)[0] != '2')
    FAIL("reader does not see the closed writer's last write");
  hdb__free_mem(v);
  if (hdb__lsm_put(db, "mine", 4, "x", 1, &err) != HDB_OK) FAIL("write after the holder exited: %s", err.message);
  hdb__lsm_stats_get(db, &s);
  if (s.reader != 0) FAIL("the handle did not become the writer");
  if (hdb__lsm_get(db, NULL, "held", 4, &v, &vl, &err) != HDB_OK || ((char *)v)[0] != '2')
    FAIL("the new writer lost the old writer's data");
  hdb__free_mem(v);
  if (hdb__lsm_get(db, NULL, "mine", 4, &v, &vl, &err) != HDB_OK) FAIL("own write not visible");
  hdb__free_mem(v);
  if (hdb__lsm_check(db, &err) != HDB_OK) FAIL("check: %s", err.message);
  hdb__lsm_close(db);
  close(ready[0]);
  close(ready[1]);
  close(go[0]);
  close(go[1]);
  printf("busy: second writer got HDB_BUSY after %.0f ms; succeeded after the first exited\n",
         waited * 1000);
  return 0;
}

/* ------------------------------------------------------------------ */
/* torn                                                                */
/* ------------------------------------------------------------------ */

static uint64_t newest_wal(const char *dir) {
  hdb__lsm_dir_scan s;
  hdb_error err;
  if (hdb__lsm_scan_dir(dir, &s, &err) != HDB_OK || s.nlogs == 0) {
    hdb__free_mem(s.logs);
    return 0;
  }
  uint64_t n = s.logs[s.nlogs - 1];
  hdb__free_mem(s.logs);
  return n;
}

/* A WAL record holding one put at sequence seq. */
static size_t make_record(char *out, uint64_t seq, const char *key, const char *val) {
  char payload[256];
  hdb__lsm_put64(payload, seq);
  hdb__lsm_put32(payload + 8, 1);
  size_t n = HDB__LSM_BATCH_HEADER;
  payload[n++] = HDB__LSM_PUT;
  n += hdb__lsm_putv(payload + n, strlen(key));
  memcpy(payload + n, key, strlen(key));
  n += strlen(key);
  n += hdb__lsm_putv(payload + n, strlen(val));
  memcpy(payload + n, val, strlen(val));
  n += strlen(val);
  char lenb[4];
  hdb__lsm_put32(lenb, (uint32_t)n);
  hdb__lsm_put32(out, (uint32_t)n);
  hdb__lsm_put32(out + 4, (uint32_t)hdb__lsm_hash(lenb, 4, HDB__LSM_WAL_MAGIC));
  hdb__lsm_put64(out + 8, hdb__lsm_hash(payload, n, n));
  memcpy(out + 16, payload, n);
  return 16 + n;
}

static int append(const char *path, const char *p, size_t n) {
  int fd = open(path, O_WRONLY | O_APPEND);
  if (fd < 0) return -1;
  ssize_t w = write(fd, p, n);
  close(fd);
  return w == (ssize_t)n ? 0 : -1;
}

static int test_torn(const char *dir) {
  hdb__lsm_options o = small_opts();
  hdb__lsm *db;
  hdb_error err;
  if (hdb__lsm_open(dir, &o, &db, &err) != HDB_OK) FAIL("open: %s", err.message);
  if (hdb__lsm_put(db, "a", 1, "1", 1, &err) != HDB_OK) FAIL("put: %s", err.message);
  hdb__lsm_close(db);
  o.reader_attach = 1;
  if (hdb__lsm_open(dir, &o, &db, &err) != HDB_OK) FAIL("reader open: %s", err.message);
  hdb__lsm_stats s;
  hdb__lsm_stats_get(db, &s);
  if (s.reader != 1) FAIL("not attached as a reader");
  /* Play the writer: half a record at the end of the live WAL. */
  char path[1200], rec[300];
  uint64_t wal = newest_wal(dir);
  snprintf(path, sizeof path, "%s/%06llu.log", dir, (unsigned long long)wal);
  size_t n = make_record(rec, s.last_sequence + 1, "torn", "value");
  if (append(path, rec, n / 2) != 0) FAIL("append to %s failed", path);
  void *v;
  size_t vl;
  if (hdb__lsm_get(db, NULL, "a", 1, &v, &vl, &err) != HDB_OK) FAIL("get a with a torn tail: %s", err.message);
  hdb__free_mem(v);
  if (hdb__lsm_get(db, NULL, "torn", 4, &v, &vl, &err) != HDB_NOT_FOUND)
    FAIL("half a record was visible (or an error: %s)", err.message);
  if (append(path, rec + n / 2, n - n / 2) != 0) FAIL("append failed");
  if (hdb__lsm_get(db, NULL, "torn", 4, &v, &vl, &err) != HDB_OK || vl != 5)
    FAIL("the completed record is not visible: %s", err.message);
  hdb__free_mem(v);
  /* Damage in the middle: a bad record followed by a good one. */
  n = make_record(rec, s.last_sequence + 2, "bad", "value");
  rec[20] ^= 0x55;
  char rec2[300];
  size_t n2 = make_record(rec2, s.last_sequence + 3, "good", "value");
  if (append(path, rec, n) != 0 || append(path, rec2, n2) != 0) FAIL("append failed");
  hdb_status st = hdb__lsm_get(db, NULL, "a", 1, &v, &vl, &err);
  if (st != HDB_CORRUPT) FAIL("a bad record in the middle gave %d, not HDB_CORRUPT", (int)st);
  if (!strstr(err.message, ".log")) FAIL("corruption message does not name the WAL: %s", err.message);
  hdb__lsm_close(db);
  /* A writer's recovery agrees. */
  o.reader_attach = 0;
  if ((st = hdb__lsm_open(dir, &o, &db, &err)) != HDB_CORRUPT) {
    hdb__lsm_close(db);
    FAIL("writer recovery gave %d, not HDB_CORRUPT", (int)st);
  }
  printf("torn: half a record is not yet written; damage in the middle is HDB_CORRUPT (%s)\n",
         err.message);
  return 0;
}

/* ------------------------------------------------------------------ */
/* pinned                                                              */
/* ------------------------------------------------------------------ */

static int put_all(hdb__lsm *db, int n, char tag) {
  hdb_error err;
  for (int i = 0; i < n; i++) {
    char k[16], v[64];
    snprintf(k, sizeof k, "p%05d", i);
    memset(v, tag, sizeof v);
    if (hdb__lsm_put(db, k, strlen(k), v, sizeof v, &err) != HDB_OK) FAIL("put: %s", err.message);
  }
  return 0;
}

static int test_pinned(const char *dir) {
  hdb__lsm_options o = small_opts();
  hdb__lsm *w, *r;
  hdb_error err;
  const int n = 3000;
  if (hdb__lsm_open(dir, &o, &w, &err) != HDB_OK) FAIL("open: %s", err.message);
  if (put_all(w, n, 'a')) return 1;
  if (hdb__lsm_compact(w, NULL, 0, NULL, 0, &err) != HDB_OK) FAIL("compact: %s", err.message);
  o.reader_attach = 1;
  o.lock_timeout_ms = 50;
  if (hdb__lsm_open(dir, &o, &r, &err) != HDB_OK) FAIL("reader open: %s", err.message);
  hdb__lsm_iter *it;
  hdb__lsm_snapshot *snap;
  if (hdb__lsm_iter_open(r, NULL, NULL, &it, &err) != HDB_OK) FAIL("iter: %s", err.message);
  if (hdb__lsm_snapshot_acquire(r, &snap, &err) != HDB_OK) FAIL("snapshot: %s", err.message);
  const void *k, *v;
  size_t kl, vl;
  if (hdb__lsm_iter_next(it, &k, &kl, &v, &vl, &err) != HDB_OK) FAIL("iter_next: %s", err.message);
  if (put_all(w, n, 'b')) return 1;
  if (hdb__lsm_compact(w, NULL, 0, NULL, 0, &err) != HDB_OK) FAIL("compact: %s", err.message);
  int seen = 1;
  hdb_status st;
  while ((st = hdb__lsm_iter_next(it, &k, &kl, &v, &vl, &err)) == HDB_OK) {
    if (((const char *)v)[0] != 'a') FAIL("an open iterator saw a newer value");
    seen++;
  }
  if (st != HDB_DONE || seen != n) FAIL("open iterator: %d keys, status %d: %s", seen, (int)st, err.message);
  hdb__lsm_iter_close(it);
  void *val;
  if (hdb__lsm_get(r, snap, "p00042", 6, &val, &vl, &err) != HDB_OK || ((char *)val)[0] != 'a')
    FAIL("a reader snapshot lost its value after the writer compacted");
  hdb__free_mem(val);
  hdb__lsm_snapshot_release(r, snap);
  if (hdb__lsm_get(r, NULL, "p00042", 6, &val, &vl, &err) != HDB_OK || ((char *)val)[0] != 'b')
    FAIL("a new read does not see the writer's overwrite");
  hdb__free_mem(val);
  if ((st = hdb__lsm_put(r, "x", 1, "y", 1, &err)) != HDB_BUSY) FAIL("reader write gave %d, not BUSY", (int)st);
  if (hdb__lsm_check(r, &err) != HDB_OK) FAIL("reader check: %s", err.message);
  hdb__lsm_stats s;
  hdb__lsm_stats_get(r, &s);
  hdb__lsm_close(w);
  hdb__lsm_close(r);
  printf("pinned: an open iterator and a snapshot kept their values across a compaction "
         "(%llu full refreshes)\n", (unsigned long long)s.reader_refreshes);
  return 0;
}

/* ------------------------------------------------------------------ */
/* cache                                                               */
/* ------------------------------------------------------------------ */

#define CKEYS 4000

static void cache_val(int i, char *v, size_t *n) {
  /* Compressible: a few words repeated, numbered. */
  *n = (size_t)snprintf(v, 200, "value %05d of the cache test, value %05d, again %05d ----", i, i, i);
}

typedef struct cache_arg {
  hdb__lsm *db;
  int seed, bad;
} cache_arg;

static void *cache_thread(void *p) {
  cache_arg *a = p;
  uint64_t s = (uint64_t)a->seed * 2654435761u + 1;
  for (int r = 0; r < 20000 && !a->bad; r++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    int i = (int)((s >> 33) % CKEYS);
    char k[16], want[200];
    size_t wn;
    snprintf(k, sizeof k, "c%05d", i);
    cache_val(i, want, &wn);
    void *v;
    size_t vl;
    hdb_error err;
    if (hdb__lsm_get(a->db, NULL, k, strlen(k), &v, &vl, &err) != HDB_OK) {
      a->bad = 1;
      fprintf(stderr, "kv_readers: cache get %s: %s\n", k, err.message);
      break;
    }
    if (vl != wn || memcmp(v, want, wn) != 0) a->bad = 1;
    hdb__free_mem(v);
  }
  return NULL;
}

static int cache_run(hdb__lsm *db, const char *who) {
  pthread_t t[4];
  cache_arg a[4];
  for (int i = 0; i < 4; i++) {
    a[i].db = db;
    a[i].seed = i + 1;
    a[i].bad = 0;
    if (pthread_create(&t[i], NULL, cache_thread, &a[i]) != 0) FAIL("pthread_create");
  }
  int bad = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    bad |= a[i].bad;
  }
  if (bad) FAIL("%s: a get through the block cache returned a wrong value", who);
  hdb__lsm_stats s;
  hdb__lsm_stats_get(db, &s);
  if (s.block_cache_hits == 0 || s.block_cache_misses == 0)
    FAIL("%s: block cache unused (%llu hits, %llu misses)", who, (unsigned long long)s.block_cache_hits,
         (unsigned long long)s.block_cache_misses);
  if (s.block_cache_bytes > 64u << 10) FAIL("%s: block cache holds %llu bytes", who, (unsigned long long)s.block_cache_bytes);
  printf("cache: %s: %llu hits, %llu misses, %llu bytes held\n", who,
         (unsigned long long)s.block_cache_hits, (unsigned long long)s.block_cache_misses,
         (unsigned long long)s.block_cache_bytes);
  return 0;
}

static int test_cache(const char *dir, hdb__lsm_compression comp) {
  hdb__lsm_options o = small_opts();
  o.compression = comp;
  o.block_cache_size = 64 << 10;
  hdb__lsm *w, *r;
  hdb_error err;
  if (hdb__lsm_open(dir, &o, &w, &err) != HDB_OK) FAIL("open: %s", err.message);
  for (int i = 0; i < CKEYS; i++) {
    char k[16], v[200];
    size_t vn;
    snprintf(k, sizeof k, "c%05d", i);
    cache_val(i, v, &vn);
    if (hdb__lsm_put(w, k, strlen(k), v, vn, &err) != HDB_OK) FAIL("put: %s", err.message);
  }
  if (hdb__lsm_compact(w, NULL, 0, NULL, 0, &err) != HDB_OK) FAIL("compact: %s", err.message);
  if (cache_run(w, comp == HDB__LSM_COMPRESS_LZ4 ? "lz4 writer" : "zstd writer")) return 1;
  o.reader_attach = 1;
  if (hdb__lsm_open(dir, &o, &r, &err) != HDB_OK) FAIL("reader open: %s", err.message);
  if (cache_run(r, comp == HDB__LSM_COMPRESS_LZ4 ? "lz4 reader" : "zstd reader")) return 1;
  if (hdb__lsm_check(r, &err) != HDB_OK) FAIL("check: %s", err.message);
  hdb__lsm_close(r);
  hdb__lsm_close(w);
  return 0;
}

/* ------------------------------------------------------------------ */
/* native                                                              */
/* ------------------------------------------------------------------ */

static int native_holder(const char *url, int ready_fd, int go_fd) {
  hdb *db;
  hdb_error err;
  if (hdb_open(url, &db, &err) != HDB_OK) FAIL("native holder open: %s", err.message);
  if (hdb_kv_put(db, "agent", "a", 1, "1", 1) != HDB_OK) FAIL("native put: %s", hdb_errmsg(db));
  char c = 1;
  if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1) return 1;
  if (hdb_kv_put(db, "agent", "a", 1, "2", 1) != HDB_OK) FAIL("native put: %s", hdb_errmsg(db));
  hdb_close(db);
  return 0;
}

static int test_native(const char *dir) {
  char url[1200];
  snprintf(url, sizeof url, "native://%s?sync=normal&lock_timeout_ms=300", dir);
  int ready[2], go[2];
  if (pipe(ready) != 0 || pipe(go) != 0) FAIL("pipe failed");
  pid_t h = fork();
  if (h == 0) _exit(native_holder(url, ready[1], go[0]));
  char c;
  if (read(ready[0], &c, 1) != 1) FAIL("native holder did not start");
  hdb *db;
  hdb_error err;
  if (hdb_open(url, &db, &err) != HDB_OK) FAIL("native open: %s", err.message);
  void *v;
  size_t vl;
  double t0 = now_s();
  if (hdb_kv_get(db, "agent", "a", 1, &v, &vl) != HDB_OK || vl != 1 || ((char *)v)[0] != '1')
    FAIL("native reader cannot read while another process writes: %s", hdb_errmsg(db));
  hdb_free(v);
  if (now_s() - t0 > 0.2) FAIL("native read waited for the writer's lock");
  hdb_status st = hdb_kv_put(db, "agent", "b", 1, "x", 1);
  if (st != HDB_BUSY) FAIL("native second writer got %d, not HDB_BUSY", (int)st);
  if (write(go[1], &c, 1) != 1) FAIL("pipe write failed");
  if (wait_ok(h, "native holder")) return 1;
  if (hdb_kv_get(db, "agent", "a", 1, &v, &vl) != HDB_OK || ((char *)v)[0] != '2')
    FAIL("native reader missed the closed writer's write");
  hdb_free(v);
  if (hdb_kv_put(db, "agent", "b", 1, "x", 1) != HDB_OK)
    FAIL("native write after the first writer exited: %s", hdb_errmsg(db));
  if (hdb_kv_delete(db, "agent", "nope", 4) != HDB_NOT_FOUND) FAIL("native delete of an absent key");
  hdb_close(db);
  close(ready[0]);
  close(ready[1]);
  close(go[0]);
  close(go[1]);
  printf("native: a second process reads while the first writes; its write gets HDB_BUSY, then succeeds\n");
  return 0;
}

static int reset(const char *dir) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: kv_readers DIR [seconds]\n");
    return 2;
  }
  const char *base = argv[1];
  double seconds = argc > 2 ? atof(argv[2]) : 5;
  char dir[1024];
  signal(SIGPIPE, SIG_IGN);
  int rc = 0;
  snprintf(dir, sizeof dir, "%s-readers", base);
  if (reset(dir) || test_readers(dir, seconds)) rc = 1;
  snprintf(dir, sizeof dir, "%s-busy", base);
  if (rc == 0 && (reset(dir) || test_busy(dir))) rc = 1;
  snprintf(dir, sizeof dir, "%s-torn", base);
  if (rc == 0 && (reset(dir) || test_torn(dir))) rc = 1;
  snprintf(dir, sizeof dir, "%s-pinned", base);
  if (rc == 0 && (reset(dir) || test_pinned(dir))) rc = 1;
  snprintf(dir, sizeof dir, "%s-cache-lz4", base);
  if (rc == 0 && (reset(dir) || test_cache(dir, HDB__LSM_COMPRESS_LZ4))) rc = 1;
  snprintf(dir, sizeof dir, "%s-cache-zstd", base);
  if (rc == 0 && (reset(dir) || test_cache(dir, HDB__LSM_COMPRESS_ZSTD))) rc = 1;
  snprintf(dir, sizeof dir, "%s-native", base);
  if (rc == 0 && (reset(dir) || test_native(dir))) rc = 1;
  if (rc == 0) printf("kv_readers: all passed\n");
  return rc;
}
