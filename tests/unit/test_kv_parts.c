/*
 * test_kv_parts.c - unit tests of the LSM store's parts, each on its own:
 * coding, blocks, the bloom filter, the memtable, batches and the record
 * log (torn tails versus corruption), tables (with every compression) and
 * version edits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "engine/kv/kv_impl.h"

static char tmpdir[256];

static int setup_dir(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/hdb-kvparts-XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Internal key "key%06d" + tag. */
static size_t mkikey(char *buf, int i, uint64_t seq, int type) {
  int n = sprintf(buf, "key%06d", i);
  hdb__lsm_put64(buf + n, HDB__LSM_TAG(seq, type));
  return (size_t)n + 8;
}

static void test_varint(void **state) {
  (void)state;
  uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, UINT64_MAX};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    char b[10];
    size_t n = hdb__lsm_putv(b, vals[i]);
    const char *p = b;
    uint64_t v;
    assert_true(hdb__lsm_getv(&p, b + n, &v));
    assert_true(v == vals[i]);
    assert_ptr_equal(p, b + n);
    p = b;
    if (n > 1) assert_false(hdb__lsm_getv(&p, b + n - 1, &v)); /* truncated */
  }
  char bad[11];
  memset(bad, 0xff, sizeof bad);
  const char *p = bad;
  uint64_t v;
  assert_false(hdb__lsm_getv(&p, bad + sizeof bad, &v)); /* overlong */
}

static void test_ikey_order(void **state) {
  (void)state;
  char a[32], b[32];
  size_t an = mkikey(a, 1, 5, HDB__LSM_PUT), bn = mkikey(b, 1, 9, HDB__LSM_PUT);
  assert_true(hdb__lsm_ikey_cmp(b, bn, a, an) < 0); /* newer first */
  bn = mkikey(b, 2, 1, HDB__LSM_PUT);
  assert_true(hdb__lsm_ikey_cmp(a, an, b, bn) < 0);
  assert_true(hdb__lsm_ukey_cmp("ab", 2, "abc", 3) < 0); /* shorter first */
  assert_true(hdb__lsm_ukey_cmp("b", 1, "abc", 3) > 0);
}

static void test_block(void **state) {
  (void)state;
  hdb__lsm_block_builder bb;
  hdb__lsm_bb_init(&bb, 4);
  char k[32];
  for (int i = 0; i < 100; i++) {
    size_t n = mkikey(k, i * 2, 7, HDB__LSM_PUT);
    char v[16];
    int vn = sprintf(v, "v%d", i * 2);
    assert_int_equal(hdb__lsm_bb_add(&bb, k, n, v, (size_t)vn, NULL), HDB_OK);
  }
  assert_int_equal(hdb__lsm_bb_finish(&bb, NULL), HDB_OK);
  hdb__lsm_it *it;
  assert_int_equal(hdb__lsm_block_iter(bb.data.p, bb.data.len, NULL, "blk", 0, &it, NULL), HDB_OK);
  int count = 0;
  for (it->vt->first(it); it->valid; it->vt->next(it)) {
    size_t n = mkikey(k, count * 2, 7, HDB__LSM_PUT);
    assert_int_equal(hdb__lsm_ikey_cmp(it->key, it->klen, k, n), 0);
    count++;
  }
  assert_int_equal(count, 100);
  count = 0;
  for (it->vt->last(it); it->valid; it->vt->prev(it)) count++;
  assert_int_equal(count, 100);
  /* seek to an absent odd key lands on the next even one */
  size_t n = mkikey(k, 51, 7, HDB__LSM_PUT);
  it->vt->seek(it, k, n);
  assert_true(it->valid);
  assert_memory_equal(it->key, "key000052", 9);
  assert_memory_equal(it->val, "v52", 3);
  it->vt->prev(it);
  assert_memory_equal(it->key, "key000050", 9);
  hdb__lsm_it_seek_prev(it, k, n);
  assert_memory_equal(it->key, "key000050", 9);
  n = mkikey(k, 500, 7, HDB__LSM_PUT);
  it->vt->seek(it, k, n);
  assert_false(it->valid);
  assert_int_equal(it->st, HDB_OK);
  /* in-place seek used by gets */
  char kb[64];
  size_t kl, vl;
  const char *v;
  n = mkikey(k, 10, 7, HDB__LSM_PUT);
  assert_int_equal(hdb__lsm_block_seek(bb.data.p, bb.data.len, k, n, kb, sizeof kb, &kl, &v, &vl,
                                       "blk", 0, NULL), 1);
  assert_memory_equal(kb, "key000010", 9);
  assert_memory_equal(v, "v10", 3);
  it->vt->close(it);
  /* a damaged restart count is corruption, not a crash */
  hdb__lsm_put32(bb.data.p + bb.data.len - 4, 1000000);
  hdb_error err;
  assert_int_equal(hdb__lsm_block_iter(bb.data.p, bb.data.len, NULL, "blk", 42, &it, &err),
                   HDB_CORRUPT);
  assert_non_null(strstr(err.message, "offset 42"));
  hdb__lsm_bb_free(&bb);
}

static void test_bloom(void **state) {
  (void)state;
  size_t n = 10000;
  uint64_t *h = malloc(n * sizeof *h);
  char k[32];
  for (size_t i = 0; i < n; i++) {
    int kn = sprintf(k, "key%zu", i);
    h[i] = hdb__lsm_key_hash(k, (size_t)kn);
  }
  size_t size = hdb__lsm_bloom_size(n, 10);
  char *f = malloc(size);
  hdb__lsm_bloom_build(h, n, 10, f, size);
  assert_true(hdb__lsm_bloom_valid(f, size));
  for (size_t i = 0; i < n; i++) assert_true(hdb__lsm_bloom_may_match(f, size, h[i]));
  size_t fp = 0;
  for (size_t i = 0; i < n; i++) {
    int kn = sprintf(k, "other%zu", i);
    fp += (size_t)hdb__lsm_bloom_may_match(f, size, hdb__lsm_key_hash(k, (size_t)kn));
  }
  assert_true(fp < n / 50); /* ~1% expected at 10 bits per key */
  free(h);
  free(f);
}

static void test_memtable(void **state) {
  (void)state;
  hdb__lsm_mem *m;
  assert_int_equal(hdb__lsm_mem_new(&m, NULL), HDB_OK);
  char k[32];
  for (int i = 0; i < 1000; i++) {
    int kn = sprintf(k, "k%04d", (i * 7919) % 1000);
    assert_int_equal(hdb__lsm_mem_reserve(m, hdb__lsm_mem_entry_size((size_t)kn, 4), NULL), HDB_OK);
    hdb__lsm_mem_add(m, (uint64_t)i + 1, HDB__LSM_PUT, k, (size_t)kn, "val1", 4);
  }
  assert_int_equal(hdb__lsm_mem_reserve(m, hdb__lsm_mem_entry_size(5, 0), NULL), HDB_OK);
  hdb__lsm_mem_add(m, 2000, HDB__LSM_DEL, "k0005", 5, NULL, 0);
  int type;
  const char *v;
  size_t vl;
  assert_true(hdb__lsm_mem_get(m, "k0005", 5, 1999, &type, &v, &vl));
  assert_int_equal(type, HDB__LSM_PUT);
  assert_true(hdb__lsm_mem_get(m, "k0005", 5, 2000, &type, &v, &vl));
  assert_int_equal(type, HDB__LSM_DEL);
  assert_false(hdb__lsm_mem_get(m, "k1005", 5, 2000, &type, &v, &vl));
  /* seq of k0005's put: i with (i*7919)%1000 == 5 */
  hdb__lsm_it *it;
  assert_int_equal(hdb__lsm_mem_iter(m, &it, NULL), HDB_OK);
  hdb__lsm_mem_unref(m); /* the iterator keeps it alive */
  int count = 0;
  const char *prev = NULL;
  size_t prevn = 0;
  for (it->vt->first(it); it->valid; it->vt->next(it)) {
    if (prev) assert_true(hdb__lsm_ikey_cmp(prev, prevn, it->key, it->klen) < 0);
    prev = it->key;
    prevn = it->klen;
    count++;
  }
  assert_int_equal(count, 1001);
  count = 0;
  for (it->vt->last(it); it->valid; it->vt->prev(it)) count++;
  assert_int_equal(count, 1001);
  it->vt->close(it);
}

static void test_batch_encoding(void **state) {
  (void)state;
  hdb__lsm_batch b;
  hdb__lsm_batch_init(&b);
  assert_int_equal(hdb__lsm_batch_put(&b, "a", 1, "1", 1, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_batch_delete(&b, "b", 1, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_batch_put(&b, "", 0, "", 0, NULL), HDB_OK);
  assert_int_equal(b.count, 3);
  assert_int_equal(hdb__lsm_batch_iterate(b.rep, b.len, NULL, NULL, NULL), HDB_OK);
  hdb_error err;
  assert_int_equal(hdb__lsm_batch_iterate(b.rep, b.len - 1, NULL, NULL, &err), HDB_CORRUPT);
  hdb__lsm_put32(b.rep + 8, 4);
  assert_int_equal(hdb__lsm_batch_iterate(b.rep, b.len, NULL, NULL, &err), HDB_CORRUPT);
  hdb__lsm_batch_clear(&b);
  assert_int_equal(b.count, 0);
  hdb__lsm_batch_free(&b);
  hdb__lsm_batch_free(NULL);
}

typedef struct rec_count {
  int n;
} rec_count;

static hdb_status count_rec(void *ctx, const char *p, size_t n, uint64_t off, hdb_error *err) {
  (void)p;
  (void)n;
  (void)off;
  (void)err;
  ((rec_count *)ctx)->n++;
  return HDB_OK;
}

static void write_log(const char *path, int records) {
  hdb__lsm_log l;
  assert_int_equal(hdb__lsm_log_create(&l, path, HDB__LSM_WAL_MAGIC, NULL), HDB_OK);
  for (int i = 0; i < records; i++) {
    char buf[100];
    memset(buf, 'a' + i, sizeof buf);
    assert_int_equal(hdb__lsm_log_append(&l, buf, sizeof buf, NULL), HDB_OK);
  }
  hdb__lsm_log_close(&l);
}

static int replay_mem(const char *data, size_t len, int *records, uint64_t *torn, hdb_error *err) {
  rec_count c = {0};
  int st = hdb__lsm_log_replay("wal", data, len, HDB__LSM_WAL_MAGIC, count_rec, &c, torn, err);
  *records = c.n;
  return st;
}

static void test_log_torn_and_corrupt(void **state) {
  (void)state;
  char path[300];
  snprintf(path, sizeof path, "%s/000001.log", tmpdir);
  write_log(path, 5);
  char *data;
  size_t len;
  assert_int_equal(hdb__lsm_read_file(path, &data, &len, NULL), HDB_OK);
  assert_int_equal(len, 16 + 5 * (16 + 100));
  int n;
  uint64_t torn;
  hdb_error err;
  assert_int_equal(replay_mem(data, len, &n, &torn, &err), HDB_OK);
  assert_int_equal(n, 5);
  assert_int_equal(torn, len);
  /* Every truncation is a torn tail: the complete records survive. */
  for (size_t cut = 0; cut < len; cut += 7) {
    assert_int_equal(replay_mem(data, cut, &n, &torn, &err), HDB_OK);
    assert_int_equal(n, cut < 16 ? 0 : (int)((cut - 16) / 116));
  }
  /* Zeros after the last record (a zero-filled tail) are a torn tail. */
  char *z = calloc(1, len + 300);
  memcpy(z, data, len);
  assert_int_equal(replay_mem(z, len + 300, &n, &torn, &err), HDB_OK);
  assert_int_equal(n, 5);
  assert_int_equal(torn, len);
  free(z);
  /* A flipped byte in the last record is a torn tail too. */
  data[len - 3] ^= 1;
  assert_int_equal(replay_mem(data, len, &n, &torn, &err), HDB_OK);
  assert_int_equal(n, 4);
  data[len - 3] ^= 1;
  /* ...but in the middle it is corruption naming the offset. */
  data[16 + 116 + 40] ^= 1;
  assert_int_equal(replay_mem(data, len, &n, &torn, &err), HDB_CORRUPT);
  assert_non_null(strstr(err.message, "offset 132"));
  data[16 + 116 + 40] ^= 1;
  data[16 + 116 + 1] ^= 0x10; /* a damaged length field */
  assert_int_equal(replay_mem(data, len, &n, &torn, &err), HDB_CORRUPT);
  assert_non_null(strstr(err.message, "record header"));
  data[16 + 116 + 1] ^= 0x10;
  data[2] ^= 1;
  assert_int_equal(replay_mem(data, len, &n, &torn, &err), HDB_CORRUPT);
  assert_non_null(strstr(err.message, "magic"));
  hdb__free_mem(data);
}

static void build_table(const char *path, hdb__lsm_compression comp, int n, int bloom) {
  hdb__lsm_options o = HDB__LSM_OPTIONS_INIT;
  o.block_size = 512;
  o.compression = comp;
  o.bloom_bits = bloom;
  hdb__lsm_tw *w;
  assert_int_equal(hdb__lsm_tw_open(path, &o, &w, NULL), HDB_OK);
  char k[32], v[200];
  for (int i = 0; i < n; i++) {
    size_t kn = mkikey(k, i, 100, (i % 10 == 9) ? HDB__LSM_DEL : HDB__LSM_PUT);
    int vn = snprintf(v, sizeof v, "value-%d-%0120d", i, i);
    assert_int_equal(hdb__lsm_tw_add(w, k, kn, v, (i % 10 == 9) ? 0 : (size_t)vn, NULL), HDB_OK);
  }
  /* out of order is refused */
  size_t kn = mkikey(k, 0, 1, HDB__LSM_PUT);
  assert_int_equal(hdb__lsm_tw_add(w, k, kn, "", 0, NULL), HDB_ERROR);
  uint64_t size;
  assert_int_equal(hdb__lsm_tw_finish(w, &size, NULL), HDB_OK);
  assert_true(size > 0);
}

static void check_table(const char *path, int n) {
  hdb__lsm_table *t;
  hdb_error err;
  assert_int_equal(hdb__lsm_table_open(path, &t, &err), HDB_OK);
  assert_int_equal(hdb__lsm_table_entries(t), n);
  assert_int_equal(hdb__lsm_table_verify(t, &err), HDB_OK);
  char k[32];
  for (int i = 0; i < n; i += 13) {
    int kn = sprintf(k, "key%06d", i), found, type;
    void *v = NULL;
    size_t vl;
    assert_int_equal(hdb__lsm_table_get(t, k, (size_t)kn, 100, &found, &type, &v, &vl, &err), HDB_OK);
    assert_true(found);
    if (i % 10 == 9) {
      assert_int_equal(type, HDB__LSM_DEL);
    } else {
      char want[200];
      int wn = snprintf(want, sizeof want, "value-%d-%0120d", i, i);
      assert_int_equal(vl, (size_t)wn);
      assert_memory_equal(v, want, (size_t)wn);
      hdb__free_mem(v);
    }
    /* at an older snapshot the key is invisible */
    assert_int_equal(hdb__lsm_table_get(t, k, (size_t)kn, 99, &found, &type, &v, &vl, &err), HDB_OK);
    assert_false(found);
  }
  int found, type;
  void *v;
  size_t vl;
  assert_int_equal(hdb__lsm_table_get(t, "nokey", 5, 100, &found, &type, &v, &vl, &err), HDB_OK);
  assert_false(found);
  hdb__lsm_it *it;
  assert_int_equal(hdb__lsm_table_iter(t, &it, NULL), HDB_OK);
  int count = 0;
  for (it->vt->first(it); it->valid; it->vt->next(it)) count++;
  assert_int_equal(count, n);
  count = 0;
  for (it->vt->last(it); it->valid; it->vt->prev(it)) count++;
  assert_int_equal(count, n);
  size_t kn = mkikey(k, n / 2, HDB__LSM_MAX_SEQ, HDB__LSM_PUT);
  it->vt->seek(it, k, kn);
  assert_true(it->valid);
  assert_memory_equal(it->key, k, kn - 8);
  it->vt->close(it);
  hdb__lsm_table_close(t);
}

static void test_table_roundtrip(void **state) {
  (void)state;
  hdb__lsm_compression comps[] = {HDB__LSM_COMPRESS_NONE, HDB__LSM_COMPRESS_LZ4,
                                  HDB__LSM_COMPRESS_ZSTD};
  for (int c = 0; c < 3; c++) {
    char path[300];
    snprintf(path, sizeof path, "%s/t%d.sst", tmpdir, c);
    build_table(path, comps[c], 2000, c == 1 ? -1 : 10);
    check_table(path, 2000);
    unlink(path);
  }
}

static void test_table_corruption(void **state) {
  (void)state;
  char path[300];
  snprintf(path, sizeof path, "%s/c.sst", tmpdir);
  build_table(path, HDB__LSM_COMPRESS_NONE, 500, 10);
  char *data;
  size_t len;
  assert_int_equal(hdb__lsm_read_file(path, &data, &len, NULL), HDB_OK);
  hdb__lsm_table *t;
  hdb_error err;
  /* footer magic, footer body, index (just before the footer) */
  size_t spots[] = {len - 1, len - 40, len - 64 - 20};
  for (size_t i = 0; i < 3; i++) {
    data[spots[i]] ^= 0x20;
    assert_int_equal(hdb__lsm_table_open_mem("c.sst", data, len, &t, &err), HDB_CORRUPT);
    assert_non_null(strstr(err.message, "c.sst"));
    data[spots[i]] ^= 0x20;
  }
  /* a data block: opens, and the read or verify says where */
  data[100] ^= 0x20;
  assert_int_equal(hdb__lsm_table_open_mem("c.sst", data, len, &t, &err), HDB_OK);
  assert_int_equal(hdb__lsm_table_verify(t, &err), HDB_CORRUPT);
  assert_non_null(strstr(err.message, "checksum mismatch in the data block at offset 0"));
  int found, type;
  void *v;
  size_t vl;
  assert_int_equal(hdb__lsm_table_get(t, "key000001", 9, 100, &found, &type, &v, &vl, &err),
                   HDB_CORRUPT);
  hdb__lsm_table_close(t);
  assert_int_equal(hdb__lsm_table_open_mem("short", data, 10, &t, &err), HDB_CORRUPT);
  hdb__free_mem(data);
}

static void test_edit_roundtrip(void **state) {
  (void)state;
  hdb__lsm_edit e, d;
  hdb__lsm_edit_init(&e);
  e.has_log = e.has_next = e.has_seq = 1;
  e.log_number = 7;
  e.next_file = 9;
  e.last_seq = 12345;
  char a[32], b[32];
  size_t an = mkikey(a, 1, 5, HDB__LSM_PUT), bn = mkikey(b, 9, 5, HDB__LSM_PUT);
  hdb__lsm_file *f;
  assert_int_equal(hdb__lsm_file_new(tmpdir, 8, 4096, a, an, b, bn, &f, NULL), HDB_OK);
  assert_int_equal(hdb__lsm_edit_add_file(&e, 1, f, NULL), HDB_OK);
  hdb__lsm_file_unref(f);
  assert_int_equal(hdb__lsm_edit_del_file(&e, 0, 3, NULL), HDB_OK);
  hdb__lsm_buf buf = {0};
  assert_int_equal(hdb__lsm_edit_encode(&e, &buf, NULL), HDB_OK);
  hdb__lsm_edit_init(&d);
  assert_int_equal(hdb__lsm_edit_decode(tmpdir, buf.p, buf.len, "m", 0, &d, NULL), HDB_OK);
  assert_int_equal(d.log_number, 7);
  assert_int_equal(d.next_file, 9);
  assert_int_equal(d.last_seq, 12345);
  assert_int_equal(d.n_adds, 1);
  assert_int_equal(d.adds[0].file->number, 8);
  assert_int_equal(d.adds[0].file->size, 4096);
  assert_int_equal(d.n_dels, 1);
  hdb__lsm_version *v;
  assert_int_equal(hdb__lsm_version_apply(NULL, &d, &v, NULL), HDB_OK);
  assert_int_equal(v->n[1], 1);
  hdb__lsm_version_unref(v);
  hdb__lsm_edit_free(&d);
  /* every truncation decodes or fails cleanly */
  for (size_t cut = 0; cut < buf.len; cut++) {
    hdb__lsm_edit_init(&d);
    hdb_status st = hdb__lsm_edit_decode(tmpdir, buf.p, cut, "m", 0, &d, NULL);
    assert_true(st == HDB_OK || st == HDB_CORRUPT);
    hdb__lsm_edit_free(&d);
  }
  hdb__lsm_buf_free(&buf);
  hdb__lsm_edit_free(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_varint),
      cmocka_unit_test(test_ikey_order),
      cmocka_unit_test(test_block),
      cmocka_unit_test(test_bloom),
      cmocka_unit_test(test_memtable),
      cmocka_unit_test(test_batch_encoding),
      cmocka_unit_test(test_log_torn_and_corrupt),
      cmocka_unit_test(test_table_roundtrip),
      cmocka_unit_test(test_table_corruption),
      cmocka_unit_test(test_edit_roundtrip),
  };
  return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
