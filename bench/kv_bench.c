/*
 * kv_bench.c - db_bench-style benchmark of the LSM store against LevelDB,
 * RocksDB and LMDB, on the same workload in the same run.
 *
 * Workloads (N keys of 16 bytes, 100-byte values, one operation per
 * write, no batching):
 *   fillseq     N puts in key order into an empty store
 *   fillrandom  N puts in random order into an empty store
 *   overwrite   N puts in random order over the fillrandom store
 *   readrandom  N gets of random existing keys
 *   readseq     one scan over every key
 *   seekrandom  N/10 seeks to random keys, reading the entry found
 *   fillsync    N/1000 (at least 500) puts, each durable before it returns
 * Settings, the same for every engine where they exist: no compression
 * (values are random), 10-bit bloom filters, 4 MiB write buffers, 256 MiB
 * block caches for LevelDB and RocksDB (ours and LMDB read through mmap),
 * asynchronous writes except in fillsync (LMDB: MDB_NOSYNC there).
 *
 * Usage: kv_bench [-n N] [-d DIR] [-e ours,leveldb,rocksdb,lmdb]
 * Prints ops/s per engine and the ratio of ours to each peer.
 *
 * kv_bench -m readers [-n N] [-d DIR]: our store only, many processes.
 * After fillrandom, readrandom (N gets) in the writer process, then in a
 * second process attached as a reader (reader_attach: no lock) while the
 * first holds the lock, first with the writer idle, then while it
 * overwrites random keys without pause (the reader refreshes from the
 * writer's WAL before each get).
 *
 * -c lz4|zstd: our tables compress their blocks, and values are made
 * compressible (about 2-3x: 8-byte words from a small dictionary);
 * -C BYTES: our block cache (decompressed blocks for gets; 0: the default
 * 8 MiB, -1: none). kv_bench -m cache -c lz4 [-C BYTES]: fill, compact,
 * reopen, readrandom without and then with the block cache.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "engine/kv/kv.h"

#ifdef HDB_BENCH_LEVELDB
#include <leveldb/c.h>
#endif
#ifdef HDB_BENCH_ROCKSDB
#include <rocksdb/c.h>
#endif
#ifdef HDB_BENCH_LMDB
#include <lmdb.h>
#endif

enum { W_FILLSEQ, W_FILLRANDOM, W_OVERWRITE, W_READRANDOM, W_READSEQ, W_SEEKRANDOM, W_FILLSYNC, NW };
static const char *wname[NW] = {"fillseq", "fillrandom", "overwrite", "readrandom",
                                "readseq", "seekrandom", "fillsync"};
enum { E_OURS, E_LEVELDB, E_ROCKSDB, E_LMDB, NE };
static const char *ename[NE] = {"hanzo-kv", "leveldb", "rocksdb", "lmdb"};

static long N = 1000000;
static int compression = HDB__LSM_COMPRESS_NONE;
static long long cache_size = 0;
static const char *root = "/tmp/hdb-kv-bench";
static uint64_t *order; /* a random permutation of 0..N-1 */
static char *vpool;     /* random bytes values are sliced from */
#define VLEN 100
#define KLEN 16
#define VPOOL (1 << 20)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void mkkey(char *k, uint64_t i) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%016llu", (unsigned long long)i);
  memcpy(k, tmp, KLEN);
}

static const char *val(uint64_t i) {
  return vpool + (i * 7919) % (VPOOL - VLEN);
}

static void rmdir_all(const char *p) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
  if (system(cmd) != 0) fprintf(stderr, "rm failed\n");
}

/* One engine behind four calls. */
typedef struct engine {
  int (*open)(struct engine *e, const char *dir, int sync);
  int (*put)(struct engine *e, const char *k, const char *v);
  int (*get)(struct engine *e, const char *k); /* 1 found */
  long (*scan)(struct engine *e);
  long (*seeks)(struct engine *e, long n, uint64_t *seed);
  void (*close)(struct engine *e);
  void *h, *x, *y, *z;
} engine;

/* ---------------- ours ---------------- */
static int o_open(engine *e, const char *dir, int sync) {
  hdb__lsm_options o = HDB__LSM_OPTIONS_INIT;
  o.sync = sync ? HDB__LSM_SYNC_FULL : HDB__LSM_SYNC_OFF;
  o.compression = (hdb__lsm_compression)compression;
  o.block_cache_size = cache_size;
  hdb_error err;
  if (hdb__lsm_open(dir, &o, (hdb__lsm **)&e->h, &err) != HDB_OK) {
    fprintf(stderr, "open: %s\n", err.message);
    return -1;
  }
  return 0;
}
static int o_put(engine *e, const char *k, const char *v) {
  return hdb__lsm_put(e->h, k, KLEN, v, VLEN, NULL) == HDB_OK ? 0 : -1;
}
static int o_get(engine *e, const char *k) {
  void *v;
  size_t n;
  hdb_status st = hdb__lsm_get(e->h, NULL, k, KLEN, &v, &n, NULL);
  if (st == HDB_OK) hdb__free_mem(v);
  return st == HDB_OK;
}
static long o_scan(engine *e) {
  hdb__lsm_iter *it;
  if (hdb__lsm_iter_open(e->h, NULL, NULL, &it, NULL) != HDB_OK) return -1;
  long n = 0;
  const void *k, *v;
  size_t kl, vl;
  while (hdb__lsm_iter_next(it, &k, &kl, &v, &vl, NULL) == HDB_OK) n++;
  hdb__lsm_iter_close(it);
  return n;
}
static long o_seeks(engine *e, long n, uint64_t *seed) {
  hdb__lsm_iter *it;
  if (hdb__lsm_iter_open(e->h, NULL, NULL, &it, NULL) != HDB_OK) return -1;
  long found = 0;
  char k[KLEN];
  for (long i = 0; i < n; i++) {
    mkkey(k, rnd(seed) % (uint64_t)N);
    const void *kk, *vv;
    size_t kl, vl;
    hdb__lsm_iter_seek(it, k, KLEN, NULL);
    if (hdb__lsm_iter_next(it, &kk, &kl, &vv, &vl, NULL) == HDB_OK) found++;
  }
  hdb__lsm_iter_close(it);
  return found;
}
static void o_close(engine *e) {
  if (getenv("HDB_BENCH_STATS")) {
    hdb__lsm_stats s;
    hdb__lsm_stats_get(e->h, &s);
    fprintf(stderr, "  hanzo-kv: levels");
    for (int l = 0; l < HDB__LSM_LEVELS; l++) fprintf(stderr, " %llu", (unsigned long long)s.files[l]);
    fprintf(stderr, " | groups %llu batches %llu flushes %llu compactions %llu read %llu MB written %llu MB stalls %llu\n",
            (unsigned long long)s.commit_groups, (unsigned long long)s.batches,
            (unsigned long long)s.flushes, (unsigned long long)s.compactions,
            (unsigned long long)(s.compaction_bytes_read >> 20),
            (unsigned long long)(s.compaction_bytes_written >> 20), (unsigned long long)s.write_stalls);
    uint64_t total = 0;
    for (int l = 0; l < HDB__LSM_LEVELS; l++) total += s.bytes[l];
    fprintf(stderr, "  tables: %llu MiB\n", (unsigned long long)(total >> 20));
    fprintf(stderr, "  block cache: %llu hits, %llu misses, %llu KiB\n",
            (unsigned long long)s.block_cache_hits, (unsigned long long)s.block_cache_misses,
            (unsigned long long)(s.block_cache_bytes >> 10));
  }
  hdb__lsm_close(e->h);
}

/* ---------------- LevelDB ---------------- */
#ifdef HDB_BENCH_LEVELDB
static int l_open(engine *e, const char *dir, int sync) {
  leveldb_options_t *o = leveldb_options_create();
  leveldb_options_set_create_if_missing(o, 1);
  leveldb_options_set_compression(o, leveldb_no_compression);
  leveldb_options_set_write_buffer_size(o, 4 << 20);
  leveldb_cache_t *cache = leveldb_cache_create_lru(256 << 20);
  leveldb_options_set_cache(o, cache);
  leveldb_filterpolicy_t *fp = leveldb_filterpolicy_create_bloom(10);
  leveldb_options_set_filter_policy(o, fp);
  char *err = NULL;
  e->h = leveldb_open(o, dir, &err);
  if (err) {
    fprintf(stderr, "leveldb: %s\n", err);
    return -1;
  }
  leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
  leveldb_writeoptions_set_sync(wo, sync);
  e->x = wo;
  e->y = leveldb_readoptions_create();
  e->z = o;
  (void)cache;
  (void)fp; /* owned by the options for the run; freed with the process */
  return 0;
}
static int l_put(engine *e, const char *k, const char *v) {
  char *err = NULL;
  leveldb_put(e->h, e->x, k, KLEN, v, VLEN, &err);
  if (err) leveldb_free(err);
  return err ? -1 : 0;
}
static int l_get(engine *e, const char *k) {
  char *err = NULL;
  size_t n;
  char *v = leveldb_get(e->h, e->y, k, KLEN, &n, &err);
  if (v) leveldb_free(v);
  return v != NULL;
}
static long l_scan(engine *e) {
  leveldb_iterator_t *it = leveldb_create_iterator(e->h, e->y);
  long n = 0;
  for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
    size_t kl, vl;
    (void)leveldb_iter_key(it, &kl);
    (void)leveldb_iter_value(it, &vl);
    n++;
  }
  leveldb_iter_destroy(it);
  return n;
}
static long l_seeks(engine *e, long n, uint64_t *seed) {
  leveldb_iterator_t *it = leveldb_create_iterator(e->h, e->y);
  long found = 0;
  char k[KLEN];
  for (long i = 0; i < n; i++) {
    mkkey(k, rnd(seed) % (uint64_t)N);
    leveldb_iter_seek(it, k, KLEN);
    if (leveldb_iter_valid(it)) {
      size_t kl, vl;
      (void)leveldb_iter_key(it, &kl);
      (void)leveldb_iter_value(it, &vl);
      found++;
    }
  }
  leveldb_iter_destroy(it);
  return found;
}
static void l_close(engine *e) {
  leveldb_close(e->h);
  leveldb_writeoptions_destroy(e->x);
  leveldb_readoptions_destroy(e->y);
  leveldb_options_destroy(e->z);
}
#endif

/* ---------------- RocksDB ---------------- */
#ifdef HDB_BENCH_ROCKSDB
static int r_open(engine *e, const char *dir, int sync) {
  rocksdb_options_t *o = rocksdb_options_create();
  rocksdb_options_set_create_if_missing(o, 1);
  rocksdb_options_set_compression(o, rocksdb_no_compression);
  rocksdb_options_set_write_buffer_size(o, 4 << 20);
  rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
  rocksdb_block_based_options_set_block_cache(t, rocksdb_cache_create_lru(256 << 20));
  rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom(10));
  rocksdb_options_set_block_based_table_factory(o, t);
  char *err = NULL;
  e->h = rocksdb_open(o, dir, &err);
  if (err) {
    fprintf(stderr, "rocksdb: %s\n", err);
    return -1;
  }
  rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
  rocksdb_writeoptions_set_sync(wo, sync);
  e->x = wo;
  e->y = rocksdb_readoptions_create();
  e->z = o;
  return 0;
}
static int r_put(engine *e, const char *k, const char *v) {
  char *err = NULL;
  rocksdb_put(e->h, e->x, k, KLEN, v, VLEN, &err);
  if (err) rocksdb_free(err);
  return err ? -1 : 0;
}
static int r_get(engine *e, const char *k) {
  char *err = NULL;
  size_t n;
  char *v = rocksdb_get(e->h, e->y, k, KLEN, &n, &err);
  if (v) rocksdb_free(v);
  return v != NULL;
}
static long r_scan(engine *e) {
  rocksdb_iterator_t *it = rocksdb_create_iterator(e->h, e->y);
  long n = 0;
  for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t kl, vl;
    (void)rocksdb_iter_key(it, &kl);
    (void)rocksdb_iter_value(it, &vl);
    n++;
  }
  rocksdb_iter_destroy(it);
  return n;
}
static long r_seeks(engine *e, long n, uint64_t *seed) {
  rocksdb_iterator_t *it = rocksdb_create_iterator(e->h, e->y);
  long found = 0;
  char k[KLEN];
  for (long i = 0; i < n; i++) {
    mkkey(k, rnd(seed) % (uint64_t)N);
    rocksdb_iter_seek(it, k, KLEN);
    if (rocksdb_iter_valid(it)) {
      size_t kl, vl;
      (void)rocksdb_iter_key(it, &kl);
      (void)rocksdb_iter_value(it, &vl);
      found++;
    }
  }
  rocksdb_iter_destroy(it);
  return found;
}
static void r_close(engine *e) {
  rocksdb_close(e->h);
  rocksdb_writeoptions_destroy(e->x);
  rocksdb_readoptions_destroy(e->y);
  rocksdb_options_destroy(e->z);
}
#endif

/* ---------------- LMDB ---------------- */
#ifdef HDB_BENCH_LMDB
typedef struct lm {
  MDB_env *env;
  MDB_dbi dbi;
  MDB_txn *rtxn;
} lm;
static int m_open(engine *e, const char *dir, int sync) {
  lm *m = calloc(1, sizeof *m);
  mkdir(dir, 0755);
  if (mdb_env_create(&m->env) != 0) return -1;
  mdb_env_set_mapsize(m->env, (size_t)8 << 30);
  unsigned flags = sync ? 0 : MDB_NOSYNC;
  int rc = mdb_env_open(m->env, dir, flags, 0644);
  if (rc != 0) {
    fprintf(stderr, "lmdb: %s\n", mdb_strerror(rc));
    return -1;
  }
  MDB_txn *t;
  mdb_txn_begin(m->env, NULL, 0, &t);
  mdb_dbi_open(t, NULL, 0, &m->dbi);
  mdb_txn_commit(t);
  e->h = m;
  return 0;
}
static int m_put(engine *e, const char *k, const char *v) {
  lm *m = e->h;
  MDB_txn *t;
  if (mdb_txn_begin(m->env, NULL, 0, &t) != 0) return -1;
  MDB_val kk = {KLEN, (void *)k}, vv = {VLEN, (void *)v};
  if (mdb_put(t, m->dbi, &kk, &vv, 0) != 0) {
    mdb_txn_abort(t);
    return -1;
  }
  return mdb_txn_commit(t) == 0 ? 0 : -1;
}
static int m_get(engine *e, const char *k) {
  lm *m = e->h;
  /* A fresh read snapshot per get, as the others give (reset/renew). */
  if (!m->rtxn)
    mdb_txn_begin(m->env, NULL, MDB_RDONLY, &m->rtxn);
  else
    mdb_txn_renew(m->rtxn);
  MDB_val kk = {KLEN, (void *)k}, vv;
  int found = mdb_get(m->rtxn, m->dbi, &kk, &vv) == 0;
  mdb_txn_reset(m->rtxn);
  return found;
}
static long m_scan(engine *e) {
  lm *m = e->h;
  MDB_txn *t;
  MDB_cursor *c;
  mdb_txn_begin(m->env, NULL, MDB_RDONLY, &t);
  mdb_cursor_open(t, m->dbi, &c);
  MDB_val k, v;
  long n = 0;
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    n++;
  mdb_cursor_close(c);
  mdb_txn_abort(t);
  return n;
}
static long m_seeks(engine *e, long n, uint64_t *seed) {
  lm *m = e->h;
  MDB_txn *t;
  MDB_cursor *c;
  mdb_txn_begin(m->env, NULL, MDB_RDONLY, &t);
  mdb_cursor_open(t, m->dbi, &c);
  long found = 0;
  char kb[KLEN];
  for (long i = 0; i < n; i++) {
    mkkey(kb, rnd(seed) % (uint64_t)N);
    MDB_val k = {KLEN, kb}, v;
    if (mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) == 0) found++;
  }
  mdb_cursor_close(c);
  mdb_txn_abort(t);
  return found;
}
static void m_close(engine *e) {
  lm *m = e->h;
  if (m->rtxn) mdb_txn_abort(m->rtxn);
  mdb_env_close(m->env);
  free(m);
}
#endif

static int make_engine(int which, engine *e) {
  memset(e, 0, sizeof *e);
  switch (which) {
  case E_OURS:
    *e = (engine){o_open, o_put, o_get, o_scan, o_seeks, o_close, 0, 0, 0, 0};
    return 1;
#ifdef HDB_BENCH_LEVELDB
  case E_LEVELDB:
    *e = (engine){l_open, l_put, l_get, l_scan, l_seeks, l_close, 0, 0, 0, 0};
    return 1;
#endif
#ifdef HDB_BENCH_ROCKSDB
  case E_ROCKSDB:
    *e = (engine){r_open, r_put, r_get, r_scan, r_seeks, r_close, 0, 0, 0, 0};
    return 1;
#endif
#ifdef HDB_BENCH_LMDB
  case E_LMDB:
    *e = (engine){m_open, m_put, m_get, m_scan, m_seeks, m_close, 0, 0, 0, 0};
    return 1;
#endif
  default:
    return 0;
  }
}

static double result[NE][NW];

static int fill(engine *e, int random, long n) {
  char k[KLEN];
  for (long i = 0; i < n; i++) {
    uint64_t id = random ? order[i] : (uint64_t)i;
    mkkey(k, id);
    if (e->put(e, k, val(id + (uint64_t)random)) != 0) return -1;
  }
  return 0;
}

static void run_engine(int w) {
  engine e;
  if (!make_engine(w, &e)) return;
  char dir[512];
  double t;
  snprintf(dir, sizeof dir, "%s/%s", root, ename[w]);
  fprintf(stderr, "-- %s\n", ename[w]);

  rmdir_all(dir);
  if (e.open(&e, dir, 0) != 0) return;
  t = now();
  if (fill(&e, 0, N) != 0) fprintf(stderr, "%s fillseq failed\n", ename[w]);
  result[w][W_FILLSEQ] = N / (now() - t);
  e.close(&e);

  rmdir_all(dir);
  if (e.open(&e, dir, 0) != 0) return;
  t = now();
  if (fill(&e, 1, N) != 0) fprintf(stderr, "%s fillrandom failed\n", ename[w]);
  result[w][W_FILLRANDOM] = N / (now() - t);
  if (getenv("HDB_BENCH_STATS")) fprintf(stderr, "  fillrandom done %.0f ops/s\n", result[w][W_FILLRANDOM]);

  uint64_t seed = 99;
  char k[KLEN];
  t = now();
  for (long i = 0; i < N; i++) {
    uint64_t id = rnd(&seed) % (uint64_t)N;
    mkkey(k, id);
    if (e.put(&e, k, val(id + 2)) != 0) {
      fprintf(stderr, "%s overwrite failed\n", ename[w]);
      break;
    }
  }
  result[w][W_OVERWRITE] = N / (now() - t);

  long found = 0;
  t = now();
  for (long i = 0; i < N; i++) {
    mkkey(k, rnd(&seed) % (uint64_t)N);
    found += e.get(&e, k);
  }
  result[w][W_READRANDOM] = N / (now() - t);
  if (found != N) fprintf(stderr, "%s readrandom found %ld of %ld\n", ename[w], found, N);

  t = now();
  long n = e.scan(&e);
  result[w][W_READSEQ] = n / (now() - t);
  if (n != N) fprintf(stderr, "%s readseq saw %ld of %ld\n", ename[w], n, N);

  t = now();
  n = e.seeks(&e, N / 10, &seed);
  result[w][W_SEEKRANDOM] = (N / 10) / (now() - t);
  if (n != N / 10) fprintf(stderr, "%s seekrandom found %ld\n", ename[w], n);
  e.close(&e);

  rmdir_all(dir);
  long ns = N / 1000 < 500 ? 500 : N / 1000;
  if (e.open(&e, dir, 1) != 0) return;
  t = now();
  for (long i = 0; i < ns; i++) {
    mkkey(k, order[i]);
    if (e.put(&e, k, val(i)) != 0) break;
  }
  result[w][W_FILLSYNC] = ns / (now() - t);
  e.close(&e);
  rmdir_all(dir);
}

/* ---------------- many processes ---------------- */

/* N random gets through handle db: ops/s, or -1 when a key is missing. */
static double readrandom(hdb__lsm *db, uint64_t seed) {
  char k[KLEN];
  long found = 0;
  double t = now();
  for (long i = 0; i < N; i++) {
    mkkey(k, rnd(&seed) % (uint64_t)N);
    void *v;
    size_t n;
    if (hdb__lsm_get(db, NULL, k, KLEN, &v, &n, NULL) == HDB_OK) {
      hdb__free_mem(v);
      found++;
    }
  }
  double r = N / (now() - t);
  if (found != N) fprintf(stderr, "readrandom found %ld of %ld\n", found, N);
  return found == N ? r : -1;
}

/* The reader process: attach, readrandom, report on fd. */
static int reader_child(const char *dir, int fd) {
  hdb__lsm_options o = HDB__LSM_OPTIONS_INIT;
  o.sync = HDB__LSM_SYNC_OFF;
  o.reader_attach = 1;
  hdb__lsm *db;
  hdb_error err;
  double t = now();
  if (hdb__lsm_open(dir, &o, &db, &err) != HDB_OK) {
    fprintf(stderr, "reader open: %s\n", err.message);
    return 1;
  }
  double res[3] = {(now() - t) * 1000, readrandom(db, 7), 0};
  hdb__lsm_stats s;
  hdb__lsm_stats_get(db, &s);
  res[2] = (double)s.reader_refreshes;
  hdb__lsm_close(db);
  return write(fd, res, sizeof res) == (ssize_t)sizeof res && s.reader == 1 ? 0 : 1;
}

/* Runs a reader process; with write_meanwhile the writer overwrites random
 * keys until it finishes (*puts gets the writer's puts/s). */
static int reader_run(const char *dir, hdb__lsm *db, int write_meanwhile, double res[3],
                      double *puts) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    _exit(reader_child(dir, p[1]));
  }
  close(p[1]);
  long n = 0;
  double t = now();
  if (write_meanwhile) {
    uint64_t seed = 4242;
    char k[KLEN];
    for (;;) {
      for (int i = 0; i < 64; i++, n++) {
        uint64_t id = rnd(&seed) % (uint64_t)N;
        mkkey(k, id);
        if (hdb__lsm_put(db, k, KLEN, val(id + 3), VLEN, NULL) != HDB_OK) return -1;
      }
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
        break;
      }
    }
  }
  *puts = n / (now() - t);
  ssize_t r = read(p[0], res, 3 * sizeof(double));
  close(p[0]);
  int st = 0;
  if (pid > 0 && (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)) return -1;
  return r == (ssize_t)(3 * sizeof(double)) ? 0 : -1;
}

/* -m cache: fill N keys, compact, then reopen and readrandom (N gets) with
 * the block cache off and on (tables compressed with -c). */
static int run_cache(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/cache", root);
  rmdir_all(dir);
  hdb__lsm_options o = HDB__LSM_OPTIONS_INIT;
  o.sync = HDB__LSM_SYNC_OFF;
  o.compression = (hdb__lsm_compression)compression;
  hdb__lsm *db;
  hdb_error err;
  if (hdb__lsm_open(dir, &o, &db, &err) != HDB_OK) {
    fprintf(stderr, "open: %s\n", err.message);
    return 1;
  }
  char k[KLEN];
  for (long i = 0; i < N; i++) {
    mkkey(k, order[i]);
    if (hdb__lsm_put(db, k, KLEN, val(order[i] + 1), VLEN, NULL) != HDB_OK) return 1;
  }
  if (hdb__lsm_compact(db, NULL, 0, NULL, 0, &err) != HDB_OK) {
    fprintf(stderr, "compact: %s\n", err.message);
    return 1;
  }
  hdb__lsm_close(db);
  printf("kv_bench cache: %ld keys, %s, readrandom of N gets after a full compaction (ops/s)\n", N,
         compression == HDB__LSM_COMPRESS_LZ4 ? "lz4" : compression == HDB__LSM_COMPRESS_ZSTD ? "zstd" : "no compression");
  long long sizes[2] = {-1, cache_size};
  for (int r = 0; r < 2; r++) {
    o.block_cache_size = sizes[r];
    if (hdb__lsm_open(dir, &o, &db, &err) != HDB_OK) return 1;
    double t = readrandom(db, 7);
    hdb__lsm_stats s;
    hdb__lsm_stats_get(db, &s);
    uint64_t total = 0;
    for (int l = 0; l < HDB__LSM_LEVELS; l++) total += s.bytes[l];
    printf("%-28s %10.0f  (tables %llu MiB; cache %llu hits, %llu misses, %llu KiB)\n",
           r ? "with the block cache" : "without a block cache", t,
           (unsigned long long)(total >> 20), (unsigned long long)s.block_cache_hits,
           (unsigned long long)s.block_cache_misses, (unsigned long long)(s.block_cache_bytes >> 10));
    hdb__lsm_close(db);
  }
  rmdir_all(dir);
  return 0;
}

static int run_readers(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/readers", root);
  rmdir_all(dir);
  hdb__lsm_options o = HDB__LSM_OPTIONS_INIT;
  o.sync = HDB__LSM_SYNC_OFF;
  hdb__lsm *db;
  hdb_error err;
  if (hdb__lsm_open(dir, &o, &db, &err) != HDB_OK) {
    fprintf(stderr, "open: %s\n", err.message);
    return 1;
  }
  char k[KLEN];
  for (long i = 0; i < N; i++) {
    mkkey(k, order[i]);
    if (hdb__lsm_put(db, k, KLEN, val(order[i] + 1), VLEN, NULL) != HDB_OK) return 1;
  }
  double own = readrandom(db, 7);
  double idle[3], busy[3], p0, p1;
  if (reader_run(dir, db, 0, idle, &p0) != 0 || reader_run(dir, db, 1, busy, &p1) != 0) {
    fprintf(stderr, "reader process failed\n");
    hdb__lsm_close(db);
    return 1;
  }
  hdb__lsm_close(db);
  rmdir_all(dir);
  printf("kv_bench readers: %ld keys, %d-byte keys, %d-byte values, readrandom of N gets (ops/s)\n",
         N, KLEN, VLEN);
  printf("%-44s %12.0f\n", "writer process (holds the lock)", own);
  printf("%-44s %12.0f  (attach %.1f ms, %.0f full refreshes)\n",
         "reader process, writer idle", idle[1], idle[0], idle[2]);
  printf("%-44s %12.0f  (writer: %.0f puts/s meanwhile, %.0f full refreshes)\n",
         "reader process, writer overwriting", busy[1], p1, busy[2]);
  return 0;
}

int main(int argc, char **argv) {
  const char *engines = "ours,leveldb,rocksdb,lmdb";
  int readers_mode = 0, cache_mode = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-n") && i + 1 < argc) N = atol(argv[++i]);
    else if (!strcmp(argv[i], "-d") && i + 1 < argc) root = argv[++i];
    else if (!strcmp(argv[i], "-e") && i + 1 < argc) engines = argv[++i];
    else if (!strcmp(argv[i], "-c") && i + 1 < argc) {
      i++;
      compression = !strcmp(argv[i], "lz4") ? HDB__LSM_COMPRESS_LZ4
                    : !strcmp(argv[i], "zstd") ? HDB__LSM_COMPRESS_ZSTD
                                               : HDB__LSM_COMPRESS_NONE;
    } else if (!strcmp(argv[i], "-C") && i + 1 < argc) {
      cache_size = atoll(argv[++i]);
    } else if (!strcmp(argv[i], "-m") && i + 1 < argc && !strcmp(argv[i + 1], "cache")) {
      cache_mode = 1;
      i++;
    } else if (!strcmp(argv[i], "-m") && i + 1 < argc && !strcmp(argv[i + 1], "readers")) {
      readers_mode = 1;
      i++;
    } else {
      fprintf(stderr, "usage: kv_bench [-n N] [-d DIR] [-e ours,leveldb,rocksdb,lmdb] [-m readers|cache] [-c lz4|zstd] [-C bytes]\n");
      return 2;
    }
  }
  if (N < 1000) N = 1000;
  order = malloc((size_t)N * sizeof *order);
  vpool = malloc(VPOOL);
  uint64_t s = 12345;
  for (long i = 0; i < N; i++) order[i] = (uint64_t)i;
  for (long i = N - 1; i > 0; i--) {
    long j = (long)(rnd(&s) % (uint64_t)(i + 1));
    uint64_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (int i = 0; i < VPOOL; i++) vpool[i] = (char)rnd(&s);
  if (compression != HDB__LSM_COMPRESS_NONE) {
    /* Compressible (about 2-3x with lz4): 8-byte words from a dictionary
     * of 256 random ones, like text. */
    char dict[256][8];
    for (int w = 0; w < 256; w++)
      for (int j = 0; j < 8; j++) dict[w][j] = (char)('a' + rnd(&s) % 26);
    for (int i = 0; i + 8 <= VPOOL; i += 8) memcpy(vpool + i, dict[rnd(&s) % 256], 8);
  }
  mkdir(root, 0755);
  if (readers_mode || cache_mode) {
    int rc = readers_mode ? run_readers() : run_cache();
    free(order);
    free(vpool);
    return rc;
  }
  int on[NE] = {0};
  const char *names[NE] = {"ours", "leveldb", "rocksdb", "lmdb"};
  for (int w = 0; w < NE; w++) {
    engine e;
    on[w] = strstr(engines, names[w]) != NULL && make_engine(w, &e);
    if (on[w]) run_engine(w);
  }
  printf("kv_bench: %ld keys, %d-byte keys, %d-byte values (ops/s; ratio = hanzo-kv / peer)\n", N,
         KLEN, VLEN);
  printf("%-11s", "workload");
  for (int w = 0; w < NE; w++)
    if (on[w]) printf(" %12s", ename[w]);
  for (int w = 1; w < NE; w++)
    if (on[w]) printf("  vs %-8s", ename[w]);
  printf("\n");
  for (int x = 0; x < NW; x++) {
    printf("%-11s", wname[x]);
    for (int w = 0; w < NE; w++)
      if (on[w]) printf(" %12.0f", result[w][x]);
    for (int w = 1; w < NE; w++)
      if (on[w]) printf("  %10.2fx", result[w][x] > 0 ? result[E_OURS][x] / result[w][x] : 0);
    printf("\n");
  }
  free(order);
  free(vpool);
  return 0;
}
