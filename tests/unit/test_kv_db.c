/*
 * test_kv_db.c - the LSM store as a whole: reads and writes, batches,
 * snapshots, iterators (ranges, prefix, reverse, seek), recovery,
 * compaction reclaiming space, the process lock, concurrent readers and
 * writers, corruption of every file kind, and a model-based randomized
 * test against an in-memory reference map with reopens in between.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "engine/kv/kv.h"
#include "engine/kv/kv_impl.h"

static char root[256];
static int dir_seq;

static int setup(void **state) {
  (void)state;
  snprintf(root, sizeof root, "/tmp/hdb-kvdb-XXXXXX");
  return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

static void new_dir(char *out, size_t n) {
  snprintf(out, n, "%s/db%d", root, dir_seq++);
}

static hdb__lsm_options small_opts(void) {
  hdb__lsm_options o = HDB__LSM_OPTIONS_INIT;
  o.memtable_size = 32 << 10;
  o.table_size = 16 << 10;
  o.block_size = 512;
  o.level1_size = 64 << 10;
  o.sync = HDB__LSM_SYNC_OFF;
  return o;
}

static hdb__lsm *open_ok(const char *dir, const hdb__lsm_options *o) {
  hdb__lsm *db = NULL;
  hdb_error err;
  hdb_status st = hdb__lsm_open(dir, o, &db, &err);
  if (st != HDB_OK) fail_msg("open %s: %s", dir, err.message);
  return db;
}

static void expect_kv(hdb__lsm *db, const hdb__lsm_snapshot *s, const char *k, const char *v) {
  void *got = NULL;
  size_t n;
  hdb_error err;
  hdb_status st = hdb__lsm_get(db, s, k, strlen(k), &got, &n, &err);
  if (!v) {
    if (st != HDB_NOT_FOUND) fail_msg("key %s: expected absent, got %d", k, st);
    return;
  }
  if (st != HDB_OK) fail_msg("key %s: %s", k, err.message);
  assert_int_equal(n, strlen(v));
  assert_memory_equal(got, v, n);
  assert_int_equal(((char *)got)[n], '\0');
  hdb__free_mem(got);
}

static void test_basic(void **state) {
  (void)state;
  char dir[300];
  new_dir(dir, sizeof dir);
  hdb__lsm_options o = small_opts();
  o.sync = HDB__LSM_SYNC_FULL;
  hdb__lsm *db = open_ok(dir, &o);
  assert_int_equal(hdb__lsm_put(db, "a", 1, "1", 1, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_put(db, "b", 1, "2", 1, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_put(db, "a", 1, "3", 1, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_delete(db, "b", 1, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_delete(db, "zz", 2, NULL), HDB_OK);
  expect_kv(db, NULL, "a", "3");
  expect_kv(db, NULL, "b", NULL);
  /* empty value and binary key */
  assert_int_equal(hdb__lsm_put(db, "\0\xff", 2, "", 0, NULL), HDB_OK);
  void *v;
  size_t n;
  assert_int_equal(hdb__lsm_get(db, NULL, "\0\xff", 2, &v, &n, NULL), HDB_OK);
  assert_int_equal(n, 0);
  hdb__free_mem(v);
  /* a big value crosses blocks */
  size_t big = 3 << 20;
  char *bv = malloc(big);
  for (size_t i = 0; i < big; i++) bv[i] = (char)(i * 31);
  assert_int_equal(hdb__lsm_put(db, "big", 3, bv, big, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_flush(db, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_get(db, NULL, "big", 3, &v, &n, NULL), HDB_OK);
  assert_int_equal(n, big);
  assert_memory_equal(v, bv, big);
  hdb__free_mem(v);
  hdb__lsm_stats s;
  hdb__lsm_stats_get(db, &s);
  assert_true(s.files[0] + s.files[1] >= 1);
  assert_true(s.wal_syncs >= 6);
  assert_int_equal(hdb__lsm_check(db, NULL), HDB_OK);
  hdb__lsm_close(db);
  db = open_ok(dir, &o);
  expect_kv(db, NULL, "a", "3");
  expect_kv(db, NULL, "b", NULL);
  assert_int_equal(hdb__lsm_get(db, NULL, "big", 3, &v, &n, NULL), HDB_OK);
  assert_memory_equal(v, bv, big);
  hdb__free_mem(v);
  free(bv);
  hdb__lsm_close(db);
  hdb__lsm_close(NULL);
  /* options that refuse */
  hdb_error err;
  o.error_if_exists = 1;
  assert_int_equal(hdb__lsm_open(dir, &o, &db, &err), HDB_EXISTS);
  o.error_if_exists = 0;
  o.no_create = 1;
  char other[300];
  new_dir(other, sizeof other);
  assert_int_equal(hdb__lsm_open(other, &o, &db, &err), HDB_NOT_FOUND);
}

static void test_batch_and_snapshot(void **state) {
  (void)state;
  char dir[300];
  new_dir(dir, sizeof dir);
  hdb__lsm_options o = small_opts();
  hdb__lsm *db = open_ok(dir, &o);
  hdb__lsm_batch b;
  hdb__lsm_batch_init(&b);
  assert_int_equal(hdb__lsm_batch_put(&b, "x", 1, "1", 1, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_batch_put(&b, "y", 1, "1", 1, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_batch_delete(&b, "x", 1, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_write(db, &b, NULL), HDB_OK);
  expect_kv(db, NULL, "x", NULL); /* operations apply in order */
  expect_kv(db, NULL, "y", "1");
  hdb__lsm_snapshot *s;
  assert_int_equal(hdb__lsm_snapshot_acquire(db, &s, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_put(db, "y", 1, "2", 1, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_delete(db, "y", 1, NULL), HDB_OK);
  expect_kv(db, s, "y", "1");
  expect_kv(db, NULL, "y", NULL);
  /* the snapshot survives flush and full compaction */
  assert_int_equal(hdb__lsm_compact(db, NULL, 0, NULL, 0, NULL), HDB_OK);
  expect_kv(db, s, "y", "1");
  expect_kv(db, NULL, "y", NULL);
  hdb__lsm_snapshot_release(db, s);
  hdb__lsm_batch_clear(&b);
  assert_int_equal(hdb__lsm_write(db, &b, NULL), HDB_OK); /* empty: no-op */
  hdb__lsm_batch_free(&b);
  hdb__lsm_close(db);
}

/* Collects an iterator's keys into a '|'-joined string. */
static void collect(hdb__lsm *db, const hdb_kv_range *r, const char *seek, char *out, size_t n) {
  hdb__lsm_iter *it;
  hdb_error err;
  assert_int_equal(hdb__lsm_iter_open(db, NULL, r, &it, &err), HDB_OK);
  if (seek) assert_int_equal(hdb__lsm_iter_seek(it, seek, strlen(seek), &err), HDB_OK);
  out[0] = '\0';
  const void *k, *v;
  size_t kl, vl;
  hdb_status st;
  while ((st = hdb__lsm_iter_next(it, &k, &kl, &v, &vl, &err)) == HDB_OK) {
    size_t len = strlen(out);
    snprintf(out + len, n - len, "%s%.*s", len ? "|" : "", (int)kl, (const char *)k);
    assert_int_equal(vl, kl); /* values are the keys in this test */
  }
  assert_int_equal(st, HDB_DONE);
  assert_int_equal(hdb__lsm_iter_next(it, &k, &kl, &v, &vl, &err), HDB_DONE);
  hdb__lsm_iter_close(it);
}

static void test_iterators(void **state) {
  (void)state;
  char dir[300];
  new_dir(dir, sizeof dir);
  hdb__lsm_options o = small_opts();
  hdb__lsm *db = open_ok(dir, &o);
  const char *keys[] = {"a", "ab", "abc", "abd", "b", "ba", "c"};
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < 7; i++)
      assert_int_equal(hdb__lsm_put(db, keys[i], strlen(keys[i]), keys[i], strlen(keys[i]), NULL), HDB_OK);
    assert_int_equal(hdb__lsm_put(db, "zz", 2, "zz", 2, NULL), HDB_OK);
    assert_int_equal(hdb__lsm_delete(db, "zz", 2, NULL), HDB_OK);
    char got[200];
    hdb_kv_range r = {0};
    collect(db, NULL, NULL, got, sizeof got);
    assert_string_equal(got, "a|ab|abc|abd|b|ba|c");
    r.reverse = 1;
    collect(db, &r, NULL, got, sizeof got);
    assert_string_equal(got, "c|ba|b|abd|abc|ab|a");
    r.prefix = "ab";
    r.prefix_len = 2;
    collect(db, &r, NULL, got, sizeof got);
    assert_string_equal(got, "abd|abc|ab");
    r.reverse = 0;
    collect(db, &r, NULL, got, sizeof got);
    assert_string_equal(got, "ab|abc|abd");
    memset(&r, 0, sizeof r);
    r.start = "ab";
    r.start_len = 2;
    r.end = "b";
    r.end_len = 1;
    collect(db, &r, NULL, got, sizeof got);
    assert_string_equal(got, "ab|abc|abd");
    r.reverse = 1;
    collect(db, &r, NULL, got, sizeof got);
    assert_string_equal(got, "abd|abc|ab");
    collect(db, &r, "abc", got, sizeof got);
    assert_string_equal(got, "abc|ab");
    collect(db, &r, "zzz", got, sizeof got); /* seek clamps to the range */
    assert_string_equal(got, "abd|abc|ab");
    r.reverse = 0;
    collect(db, &r, "abcc", got, sizeof got);
    assert_string_equal(got, "abd");
    collect(db, &r, "", got, sizeof got);
    assert_string_equal(got, "ab|abc|abd");
    memset(&r, 0, sizeof r);
    r.prefix = "\xff";
    r.prefix_len = 1;
    collect(db, &r, NULL, got, sizeof got);
    assert_string_equal(got, "");
    if (round == 0) assert_int_equal(hdb__lsm_flush(db, NULL), HDB_OK);
    if (round == 1) assert_int_equal(hdb__lsm_compact(db, NULL, 0, NULL, 0, NULL), HDB_OK);
  }
  /* an iterator keeps its snapshot across writes and compactions */
  hdb__lsm_iter *it;
  assert_int_equal(hdb__lsm_iter_open(db, NULL, NULL, &it, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_delete(db, "b", 1, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_compact(db, NULL, 0, NULL, 0, NULL), HDB_OK);
  int count = 0;
  const void *k, *v;
  size_t kl, vl;
  while (hdb__lsm_iter_next(it, &k, &kl, &v, &vl, NULL) == HDB_OK) count++;
  assert_int_equal(count, 7);
  hdb__lsm_iter_close(it);
  hdb__lsm_close(db);
}

static uint64_t dir_bytes(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *de;
  uint64_t total = 0;
  char p[600];
  while ((de = readdir(d)) != NULL) {
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) total += (uint64_t)sb.st_size;
  }
  closedir(d);
  return total;
}

static void test_compaction_reclaims(void **state) {
  (void)state;
  char dir[300];
  new_dir(dir, sizeof dir);
  hdb__lsm_options o = small_opts();
  hdb__lsm *db = open_ok(dir, &o);
  char k[32], v[200];
  memset(v, 'v', sizeof v);
  for (int round = 0; round < 5; round++)
    for (int i = 0; i < 2000; i++) {
      int n = sprintf(k, "key%05d", i);
      assert_int_equal(hdb__lsm_put(db, k, (size_t)n, v, sizeof v, NULL), HDB_OK);
    }
  assert_int_equal(hdb__lsm_compact(db, NULL, 0, NULL, 0, NULL), HDB_OK);
  uint64_t full = dir_bytes(dir);
  assert_true(full < 2000u * 220u * 2u); /* one version of each key, not five */
  for (int i = 0; i < 2000; i++) {
    int n = sprintf(k, "key%05d", i);
    assert_int_equal(hdb__lsm_delete(db, k, (size_t)n, NULL), HDB_OK);
  }
  assert_int_equal(hdb__lsm_compact(db, NULL, 0, NULL, 0, NULL), HDB_OK);
  hdb__lsm_stats s;
  hdb__lsm_stats_get(db, &s);
  uint64_t files = 0;
  for (int l = 0; l < HDB__LSM_LEVELS; l++) files += s.files[l];
  assert_int_equal(files, 0); /* tombstones dropped at the bottom */
  assert_true(dir_bytes(dir) < 64u << 10);
  assert_true(s.compactions > 0);
  hdb__lsm_close(db);
}

static void test_lock(void **state) {
  (void)state;
  char dir[300];
  new_dir(dir, sizeof dir);
  hdb__lsm_options o = small_opts();
  hdb__lsm *db = open_ok(dir, &o), *db2;
  o.lock_timeout_ms = 50;
  hdb_error err;
  assert_int_equal(hdb__lsm_open(dir, &o, &db2, &err), HDB_BUSY);
  assert_non_null(strstr(err.message, "LOCK"));
  hdb__lsm_close(db);
  db2 = open_ok(dir, &o);
  hdb__lsm_close(db2);
}

/* ------------------------------------------------------------------ */
/* Concurrency                                                         */
/* ------------------------------------------------------------------ */

typedef struct conc {
  hdb__lsm *db;
  int stop;
  int errors;
} conc;

static void *conc_writer(void *arg) {
  conc *c = arg;
  char k[32], v[64];
  for (int i = 0; i < 20000; i++) {
    int kn = sprintf(k, "k%05d", i % 3000);
    int vn = sprintf(v, "%s-%d", k, i);
    hdb__lsm_batch b;
    hdb__lsm_batch_init(&b);
    /* pairs: the reader checks both halves of a batch agree */
    hdb__lsm_batch_put(&b, k, (size_t)kn, v, (size_t)vn, NULL);
    k[0] = 'm';
    hdb__lsm_batch_put(&b, k, (size_t)kn, v, (size_t)vn, NULL);
    if (hdb__lsm_write(c->db, &b, NULL) != HDB_OK) __atomic_add_fetch(&c->errors, 1, __ATOMIC_RELAXED);
    hdb__lsm_batch_free(&b);
  }
  __atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void *conc_reader(void *arg) {
  conc *c = arg;
  unsigned seed = 7;
  while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
    hdb__lsm_snapshot *s;
    if (hdb__lsm_snapshot_acquire(c->db, &s, NULL) != HDB_OK) continue;
    char k[32];
    int i = (int)(rand_r(&seed) % 3000);
    int kn = sprintf(k, "k%05d", i);
    void *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    hdb_status sa = hdb__lsm_get(c->db, s, k, (size_t)kn, &a, &al, NULL);
    k[0] = 'm';
    hdb_status sb = hdb__lsm_get(c->db, s, k, (size_t)kn, &b, &bl, NULL);
    if (sa != sb || al != bl || (a && memcmp(a, b, al) != 0)) __atomic_add_fetch(&c->errors, 1, __ATOMIC_RELAXED);
    hdb__free_mem(a);
    hdb__free_mem(b);
    hdb__lsm_snapshot_release(c->db, s);
    /* a short scan sees each batch whole */
    hdb__lsm_iter *it;
    hdb_kv_range r = {0};
    r.prefix = "k";
    r.prefix_len = 1;
    if (hdb__lsm_iter_open(c->db, NULL, &r, &it, NULL) == HDB_OK) {
      const void *kk, *vv;
      size_t kl, vl;
      int n = 0;
      while (n < 50 && hdb__lsm_iter_next(it, &kk, &kl, &vv, &vl, NULL) == HDB_OK) n++;
      hdb__lsm_iter_close(it);
    }
  }
  return NULL;
}

static void test_concurrent(void **state) {
  (void)state;
  char dir[300];
  new_dir(dir, sizeof dir);
  hdb__lsm_options o = small_opts();
  conc c = {open_ok(dir, &o), 0, 0};
  pthread_t w, r1, r2, w2;
  pthread_create(&w, NULL, conc_writer, &c);
  pthread_create(&w2, NULL, conc_writer, &c);
  pthread_create(&r1, NULL, conc_reader, &c);
  pthread_create(&r2, NULL, conc_reader, &c);
  pthread_join(w, NULL);
  pthread_join(w2, NULL);
  pthread_join(r1, NULL);
  pthread_join(r2, NULL);
  assert_int_equal(c.errors, 0);
  assert_int_equal(hdb__lsm_check(c.db, NULL), HDB_OK);
  hdb__lsm_stats s;
  hdb__lsm_stats_get(c.db, &s);
  assert_int_equal(s.batches, 40000);
  hdb__lsm_close(c.db);
}

/* ------------------------------------------------------------------ */
/* Corruption of each file kind                                        */
/* ------------------------------------------------------------------ */

/* First file in dir whose name ends with suffix (or starts with it for
 * MANIFEST). */
static int find_file(const char *dir, const char *what, char *out, size_t n) {
  DIR *d = opendir(dir);
  struct dirent *de;
  int found = 0;
  while (!found && (de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name), wl = strlen(what);
    if ((strcmp(what, "MANIFEST") == 0 && strncmp(de->d_name, what, wl) == 0) ||
        (l > wl && strcmp(de->d_name + l - wl, what) == 0)) {
      snprintf(out, n, "%s/%s", dir, de->d_name);
      found = 1;
    }
  }
  closedir(d);
  return found;
}

static void flip(const char *path, long off) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  struct stat sb;
  fstat(fd, &sb);
  if (off < 0) off += (long)sb.st_size;
  unsigned char c;
  assert_int_equal(pread(fd, &c, 1, off), 1);
  c ^= 0x5a;
  assert_int_equal(pwrite(fd, &c, 1, off), 1);
  close(fd);
}

/* A store with one table (1000 keys) and a WAL holding later batches. */
static void make_store(const char *dir) {
  hdb__lsm_options o = small_opts();
  o.memtable_size = 1 << 20;
  hdb__lsm *db = open_ok(dir, &o);
  char k[32], v[64];
  for (int i = 0; i < 1000; i++) {
    int kn = sprintf(k, "key%04d", i), vn = sprintf(v, "value%04d", i);
    assert_int_equal(hdb__lsm_put(db, k, (size_t)kn, v, (size_t)vn, NULL), HDB_OK);
  }
  assert_int_equal(hdb__lsm_flush(db, NULL), HDB_OK);
  for (int i = 0; i < 50; i++) {
    int kn = sprintf(k, "wal%04d", i);
    assert_int_equal(hdb__lsm_put(db, k, (size_t)kn, "x", 1, NULL), HDB_OK);
  }
  hdb__lsm_close(db);
}

static void expect_open_corrupt(const char *dir, const char *name_part) {
  hdb__lsm *db;
  hdb_error err;
  hdb__lsm_options o = small_opts();
  assert_int_equal(hdb__lsm_open(dir, &o, &db, &err), HDB_CORRUPT);
  if (!strstr(err.message, name_part)) fail_msg("message '%s' lacks '%s'", err.message, name_part);
}

static void test_corrupt_wal_middle(void **state) {
  (void)state;
  char dir[300], path[600];
  new_dir(dir, sizeof dir);
  make_store(dir);
  assert_true(find_file(dir, ".log", path, sizeof path));
  flip(path, 16 + 16 + 5); /* inside the first record of 50 */
  expect_open_corrupt(dir, ".log");
  assert_non_null(strstr(path, ".log"));
}

static void test_corrupt_wal_tail_is_torn(void **state) {
  (void)state;
  char dir[300], path[600];
  new_dir(dir, sizeof dir);
  make_store(dir);
  assert_true(find_file(dir, ".log", path, sizeof path));
  struct stat sb;
  stat(path, &sb);
  assert_int_equal(truncate(path, sb.st_size - 3), 0); /* the last put is torn */
  hdb__lsm_options o = small_opts();
  hdb__lsm *db = open_ok(dir, &o);
  expect_kv(db, NULL, "wal0048", "x");
  expect_kv(db, NULL, "wal0049", NULL);
  hdb__lsm_close(db);
}

static void test_corrupt_sst_block(void **state) {
  (void)state;
  char dir[300], path[600];
  new_dir(dir, sizeof dir);
  make_store(dir);
  assert_true(find_file(dir, ".sst", path, sizeof path));
  flip(path, 100);
  hdb__lsm_options o = small_opts();
  hdb__lsm *db = open_ok(dir, &o);
  hdb_error err;
  int corrupt = 0;
  char k[32];
  for (int i = 0; i < 1000; i++) {
    int kn = sprintf(k, "key%04d", i);
    void *v = NULL;
    size_t vl;
    hdb_status st = hdb__lsm_get(db, NULL, k, (size_t)kn, &v, &vl, &err);
    assert_true(st == HDB_OK || st == HDB_CORRUPT);
    corrupt += st == HDB_CORRUPT;
    hdb__free_mem(v);
  }
  assert_true(corrupt > 0);
  hdb__lsm_iter *it;
  assert_int_equal(hdb__lsm_iter_open(db, NULL, NULL, &it, NULL), HDB_OK);
  const void *kk, *vv;
  size_t kl, vl;
  assert_int_equal(hdb__lsm_iter_next(it, &kk, &kl, &vv, &vl, &err), HDB_CORRUPT);
  assert_int_equal(hdb__lsm_iter_next(it, &kk, &kl, &vv, &vl, &err), HDB_CORRUPT); /* sticky */
  hdb__lsm_iter_close(it);
  assert_int_equal(hdb__lsm_check(db, &err), HDB_CORRUPT);
  assert_non_null(strstr(err.message, ".sst"));
  assert_non_null(strstr(err.message, "offset 0"));
  hdb__lsm_close(db);
}

static void test_corrupt_sst_index_and_footer(void **state) {
  (void)state;
  char dir[300], path[600];
  long spots[] = {-1, -30, -64 - 12}; /* magic, footer body, index block */
  for (int i = 0; i < 3; i++) {
    new_dir(dir, sizeof dir);
    make_store(dir);
    assert_true(find_file(dir, ".sst", path, sizeof path));
    flip(path, spots[i]);
    expect_open_corrupt(dir, ".sst");
  }
}

static void test_corrupt_manifest(void **state) {
  (void)state;
  char dir[300], path[600];
  new_dir(dir, sizeof dir);
  make_store(dir);
  /* give the MANIFEST more than one record */
  hdb__lsm_options o = small_opts();
  hdb__lsm *db = open_ok(dir, &o);
  assert_int_equal(hdb__lsm_put(db, "m", 1, "1", 1, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_flush(db, NULL), HDB_OK);
  hdb__lsm_close(db);
  assert_true(find_file(dir, "MANIFEST", path, sizeof path));
  flip(path, 16 + 16 + 3);
  expect_open_corrupt(dir, "MANIFEST");
  /* CURRENT naming garbage */
  new_dir(dir, sizeof dir);
  make_store(dir);
  snprintf(path, sizeof path, "%s/CURRENT", dir);
  FILE *f = fopen(path, "w");
  fputs("garbage\n", f);
  fclose(f);
  expect_open_corrupt(dir, "CURRENT");
  /* a table the MANIFEST names is missing */
  new_dir(dir, sizeof dir);
  make_store(dir);
  assert_true(find_file(dir, ".sst", path, sizeof path));
  unlink(path);
  expect_open_corrupt(dir, ".sst");
}

/* ------------------------------------------------------------------ */
/* Model-based randomized test                                         */
/* ------------------------------------------------------------------ */

#define MK 200
typedef struct model {
  char *val[MK]; /* NULL: absent */
  size_t len[MK];
} model;

static char mkeys[MK][16];
static size_t mklen[MK];
static int sorted[MK]; /* key ids in byte order */

static int cmp_ids(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return hdb__lsm_ukey_cmp(mkeys[x], mklen[x], mkeys[y], mklen[y]);
}

static void model_copy(model *dst, const model *src) {
  for (int i = 0; i < MK; i++) {
    dst->val[i] = src->val[i] ? hdb__memdup(src->val[i], src->len[i] + 1) : NULL;
    dst->len[i] = src->len[i];
  }
}

static void model_free(model *m) {
  for (int i = 0; i < MK; i++) {
    hdb__free_mem(m->val[i]);
    m->val[i] = NULL;
  }
}

static void model_set(model *m, int id, const char *v, size_t n) {
  hdb__free_mem(m->val[id]);
  m->val[id] = v ? hdb__memdup(v, n + 1) : NULL;
  m->len[id] = n;
}

static void check_get(hdb__lsm *db, const hdb__lsm_snapshot *s, const model *m, int id) {
  void *v = NULL;
  size_t n;
  hdb_error err;
  hdb_status st = hdb__lsm_get(db, s, mkeys[id], mklen[id], &v, &n, &err);
  if (!m->val[id]) {
    if (st != HDB_NOT_FOUND) fail_msg("key %d: expected absent, got %d (%s)", id, st, err.message);
  } else {
    if (st != HDB_OK) fail_msg("key %d: %d %s", id, st, err.message);
    assert_int_equal(n, m->len[id]);
    assert_memory_equal(v, m->val[id], n);
  }
  hdb__free_mem(v);
}

static int in_range(int id, const hdb_kv_range *r) {
  const char *k = mkeys[id];
  size_t n = mklen[id];
  if (r->prefix && (n < r->prefix_len || memcmp(k, r->prefix, r->prefix_len) != 0)) return 0;
  if (r->start && hdb__lsm_ukey_cmp(k, n, r->start, r->start_len) < 0) return 0;
  if (r->end && hdb__lsm_ukey_cmp(k, n, r->end, r->end_len) >= 0) return 0;
  return 1;
}

static void check_iter(hdb__lsm *db, const hdb__lsm_snapshot *s, const model *m, unsigned *seed) {
  hdb_kv_range r;
  memset(&r, 0, sizeof r);
  int a = (int)(rand_r(seed) % MK), b = (int)(rand_r(seed) % MK), p = (int)(rand_r(seed) % MK);
  if (rand_r(seed) % 3 == 0) {
    r.start = mkeys[a];
    r.start_len = mklen[a];
  }
  if (rand_r(seed) % 3 == 0) {
    r.end = mkeys[b];
    r.end_len = mklen[b];
  }
  if (rand_r(seed) % 3 == 0) {
    r.prefix = mkeys[p];
    r.prefix_len = 1 + rand_r(seed) % (mklen[p] < 2 ? 1 : 2);
  }
  r.reverse = (int)(rand_r(seed) % 2);
  int seek = rand_r(seed) % 4 == 0 ? (int)(rand_r(seed) % MK) : -1;
  hdb__lsm_iter *it;
  hdb_error err;
  assert_int_equal(hdb__lsm_iter_open(db, s, &r, &it, &err), HDB_OK);
  if (seek >= 0) assert_int_equal(hdb__lsm_iter_seek(it, mkeys[seek], mklen[seek], &err), HDB_OK);
  int pos = r.reverse ? MK - 1 : 0;
  for (;;) {
    int want = -1;
    while (pos >= 0 && pos < MK) {
      int id = sorted[pos];
      pos += r.reverse ? -1 : 1;
      if (!m->val[id] || !in_range(id, &r)) continue;
      if (seek >= 0) {
        int c = hdb__lsm_ukey_cmp(mkeys[id], mklen[id], mkeys[seek], mklen[seek]);
        if (r.reverse ? c > 0 : c < 0) continue;
      }
      want = id;
      break;
    }
    const void *k, *v;
    size_t kl, vl;
    hdb_status st = hdb__lsm_iter_next(it, &k, &kl, &v, &vl, &err);
    if (want < 0) {
      if (st != HDB_DONE) fail_msg("iterator returned an extra key (%d)", st);
      break;
    }
    if (st != HDB_OK) fail_msg("iterator ended early: %d %s (want key %d)", st, err.message, want);
    if (kl != mklen[want] || memcmp(k, mkeys[want], kl) != 0)
      fail_msg("iterator returned the wrong key (want %d, reverse %d)", want, r.reverse);
    assert_int_equal(vl, m->len[want]);
    assert_memory_equal(v, m->val[want], vl);
  }
  hdb__lsm_iter_close(it);
}

static void random_value(unsigned *seed, char *buf, size_t *n) {
  size_t len = rand_r(seed) % 20 == 0 ? 2000 + rand_r(seed) % 3000 : rand_r(seed) % 120;
  for (size_t i = 0; i < len; i++) buf[i] = (char)('a' + rand_r(seed) % 26);
  *n = len;
}

static void test_model_random(void **state) {
  (void)state;
  unsigned seed = 12345;
  const char alpha[] = {'\0', 'a', 'b', '\xff'};
  for (int i = 0; i < MK; i++) {
    for (;;) {
      mklen[i] = 1 + rand_r(&seed) % 5;
      for (size_t j = 0; j < mklen[i]; j++) mkeys[i][j] = alpha[rand_r(&seed) % 4];
      int dup = 0;
      for (int j = 0; j < i && !dup; j++)
        dup = mklen[j] == mklen[i] && memcmp(mkeys[j], mkeys[i], mklen[i]) == 0;
      if (!dup) break;
    }
    sorted[i] = i;
  }
  qsort(sorted, MK, sizeof sorted[0], cmp_ids);
  char dir[300];
  new_dir(dir, sizeof dir);
  hdb__lsm_options o = small_opts();
  o.memtable_size = 8 << 10;
  o.table_size = 4 << 10;
  o.block_size = 256;
  o.level1_size = 16 << 10;
  hdb__lsm *db = open_ok(dir, &o);
  model cur;
  memset(&cur, 0, sizeof cur);
  hdb__lsm_snapshot *snaps[3] = {NULL, NULL, NULL};
  model smodel[3];
  memset(smodel, 0, sizeof smodel);
  char *vbuf = malloc(8000);
  for (int step = 0; step < 4000; step++) {
    int op = (int)(rand_r(&seed) % 100);
    size_t vn;
    if (op < 40) {
      int id = (int)(rand_r(&seed) % MK);
      random_value(&seed, vbuf, &vn);
      assert_int_equal(hdb__lsm_put(db, mkeys[id], mklen[id], vbuf, vn, NULL), HDB_OK);
      model_set(&cur, id, vbuf, vn);
    } else if (op < 55) {
      int id = (int)(rand_r(&seed) % MK);
      assert_int_equal(hdb__lsm_delete(db, mkeys[id], mklen[id], NULL), HDB_OK);
      model_set(&cur, id, NULL, 0);
    } else if (op < 65) {
      hdb__lsm_batch b;
      hdb__lsm_batch_init(&b);
      int n = 1 + (int)(rand_r(&seed) % 20);
      for (int i = 0; i < n; i++) {
        int id = (int)(rand_r(&seed) % MK);
        if (rand_r(&seed) % 3 == 0) {
          assert_int_equal(hdb__lsm_batch_delete(&b, mkeys[id], mklen[id], NULL), HDB_OK);
          model_set(&cur, id, NULL, 0);
        } else {
          random_value(&seed, vbuf, &vn);
          assert_int_equal(hdb__lsm_batch_put(&b, mkeys[id], mklen[id], vbuf, vn, NULL), HDB_OK);
          model_set(&cur, id, vbuf, vn);
        }
      }
      assert_int_equal(hdb__lsm_write(db, &b, NULL), HDB_OK);
      hdb__lsm_batch_free(&b);
    } else if (op < 75) {
      check_get(db, NULL, &cur, (int)(rand_r(&seed) % MK));
      int si = (int)(rand_r(&seed) % 3);
      if (snaps[si]) check_get(db, snaps[si], &smodel[si], (int)(rand_r(&seed) % MK));
    } else if (op < 85) {
      int si = (int)(rand_r(&seed) % 4);
      if (si < 3 && snaps[si])
        check_iter(db, snaps[si], &smodel[si], &seed);
      else
        check_iter(db, NULL, &cur, &seed);
    } else if (op < 92) {
      int si = (int)(rand_r(&seed) % 3);
      if (snaps[si]) {
        hdb__lsm_snapshot_release(db, snaps[si]);
        snaps[si] = NULL;
        model_free(&smodel[si]);
      } else {
        assert_int_equal(hdb__lsm_snapshot_acquire(db, &snaps[si], NULL), HDB_OK);
        model_copy(&smodel[si], &cur);
      }
    } else if (op < 95) {
      int a = (int)(rand_r(&seed) % MK);
      int b = (int)(rand_r(&seed) % MK);
      assert_int_equal(hdb__lsm_compact(db, mkeys[a], mklen[a], mkeys[b], mklen[b], NULL), HDB_OK);
    } else if (op < 97) {
      assert_int_equal(hdb__lsm_flush(db, NULL), HDB_OK);
    } else {
      for (int si = 0; si < 3; si++) {
        if (!snaps[si]) continue;
        hdb__lsm_snapshot_release(db, snaps[si]);
        snaps[si] = NULL;
        model_free(&smodel[si]);
      }
      hdb__lsm_close(db);
      o.compression = (hdb__lsm_compression)(rand_r(&seed) % 3);
      db = open_ok(dir, &o);
    }
  }
  for (int id = 0; id < MK; id++) check_get(db, NULL, &cur, id);
  assert_int_equal(hdb__lsm_check(db, NULL), HDB_OK);
  for (int si = 0; si < 3; si++) {
    if (snaps[si]) hdb__lsm_snapshot_release(db, snaps[si]);
    model_free(&smodel[si]);
  }
  hdb__lsm_close(db);
  db = open_ok(dir, &o);
  for (int id = 0; id < MK; id++) check_get(db, NULL, &cur, id);
  hdb__lsm_close(db);
  model_free(&cur);
  free(vbuf);
}

static void test_alloc_failures(void **state) {
  (void)state;
  /* Every allocation failure in open, writes, reads and close is a clean
   * HDB_NOMEM (or success): no crash, no leak (checked under ASan). */
  char dir[300];
  new_dir(dir, sizeof dir);
  make_store(dir);
  for (long n = 0; n < 400; n += 3) {
    hdb__lsm_options o = small_opts();
    hdb__lsm *db = NULL;
    hdb__alloc_fail_after(n);
    hdb_status st = hdb__lsm_open(dir, &o, &db, NULL);
    if (st == HDB_OK) {
      void *v = NULL;
      size_t vl;
      st = hdb__lsm_put(db, "key0001", 7, "y", 1, NULL);
      assert_true(st == HDB_OK || st == HDB_NOMEM);
      st = hdb__lsm_get(db, NULL, "key0002", 7, &v, &vl, NULL);
      assert_true(st == HDB_OK || st == HDB_NOMEM);
      hdb__free_mem(v);
      hdb__lsm_close(db);
    } else {
      assert_int_equal(st, HDB_NOMEM);
    }
    hdb__alloc_fail_after(-1);
  }
  hdb__lsm_options o = small_opts();
  hdb__lsm *db = open_ok(dir, &o);
  expect_kv(db, NULL, "key0002", "value0002");
  hdb__lsm_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_batch_and_snapshot),
      cmocka_unit_test(test_iterators),
      cmocka_unit_test(test_compaction_reclaims),
      cmocka_unit_test(test_lock),
      cmocka_unit_test(test_concurrent),
      cmocka_unit_test(test_corrupt_wal_middle),
      cmocka_unit_test(test_corrupt_wal_tail_is_torn),
      cmocka_unit_test(test_corrupt_sst_block),
      cmocka_unit_test(test_corrupt_sst_index_and_footer),
      cmocka_unit_test(test_corrupt_manifest),
      cmocka_unit_test(test_model_random),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
