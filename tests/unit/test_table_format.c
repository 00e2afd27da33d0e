/*
 * test_table_format.c - engine/table's files: every value type (and null)
 * through a fragment and back, large blobs, each codec, schemaless rows,
 * the vector block's alignment, deletion bitmaps in each container
 * encoding, corruption of each file kind (manifest, fragment chunk,
 * vector block, deletion file) reported as HDB_CORRUPT naming the file
 * both by reads and by check(), and allocation failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "../table/tt_util.h"
#include "core/alloc.h"
#include "engine/table/tbl_int.h"

static char g_dir[512];

static int setup_dir(void **state) {
  (void)state;
  return tt_mkdtemp(g_dir, sizeof g_dir, "tblfmt");
}
static int teardown_dir(void **state) {
  (void)state;
  tt_rmtree(g_dir);
  return 0;
}

static hdb_schema *all_types_schema(void) {
  hdb_schema *s = hdb_schema_new();
  assert_int_equal(hdb_schema_add(s, "b", HDB_TYPE_BOOL), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "i", HDB_TYPE_INT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "f", HDB_TYPE_FLOAT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "t", HDB_TYPE_TEXT), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "bl", HDB_TYPE_BLOB), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "ts", HDB_TYPE_TIMESTAMP), HDB_OK);
  assert_int_equal(hdb_schema_add(s, "j", HDB_TYPE_JSON), HDB_OK);
  assert_int_equal(hdb_schema_add_vector(s, "v", 5, HDB_METRIC_COSINE), HDB_OK);
  return s;
}

/* Row i of the all-types table: every third row has nulls. */
static hdb_record *all_types_row(int i) {
  char id[32], text[64], json[64];
  snprintf(id, sizeof id, "row-%05d", i);
  hdb_record *r = hdb_record_new(id);
  if (i % 3 == 2) {
    hdb_record_set_int(r, "i", i);
    return r; /* the rest null/absent */
  }
  snprintf(text, sizeof text, "text %d \xc3\xa9", i);
  snprintf(json, sizeof json, "{\"k\":%d,\"s\":\"x\"}", i);
  unsigned char blob[7] = {0, 1, 2, (unsigned char)i, 0, 255, 0};
  float v[5] = {(float)i, -1.5f, 0.0f, 3.25f, (float)i / 7.0f};
  hdb_record_set_bool(r, "b", i % 2);
  hdb_record_set_int(r, "i", (int64_t)i * 1000000007LL - 5);
  hdb_record_set_float(r, "f", i * 0.25 - 3.0);
  hdb_record_set_text(r, "t", text);
  hdb_record_set_blob(r, "bl", blob, sizeof blob);
  hdb_record_set_timestamp(r, "ts", 1700000000000000LL + i);
  hdb_record_set_json(r, "j", json);
  hdb_record_set_vector(r, "v", v, 5);
  return r;
}

static void assert_same(const hdb_record *want, const hdb_record *got) {
  assert_string_equal(hdb_record_id(want), hdb_record_id(got));
  size_t nw = 0;
  for (size_t i = 0; i < hdb_record_field_count(want); i++) {
    const char *name;
    hdb_value a, b;
    hdb_record_field(want, i, &name, &a);
    if (a.type == HDB_TYPE_NULL) continue;
    nw++;
    assert_int_equal(hdb_record_get(got, name, &b), HDB_OK);
    assert_int_equal(a.type, b.type);
    switch (a.type) {
    case HDB_TYPE_BOOL: assert_int_equal(a.as.boolean != 0, b.as.boolean != 0); break;
    case HDB_TYPE_INT: assert_true(a.as.i == b.as.i); break;
    case HDB_TYPE_FLOAT: assert_true(a.as.f == b.as.f); break;
    case HDB_TYPE_TIMESTAMP: assert_true(a.as.timestamp_us == b.as.timestamp_us); break;
    case HDB_TYPE_TEXT:
    case HDB_TYPE_JSON:
      assert_int_equal(a.as.text.len, b.as.text.len);
      assert_memory_equal(a.as.text.data, b.as.text.data, a.as.text.len);
      assert_int_equal(b.as.text.data[b.as.text.len], 0);
      break;
    case HDB_TYPE_BLOB:
      assert_int_equal(a.as.blob.len, b.as.blob.len);
      if (a.as.blob.len) assert_memory_equal(a.as.blob.data, b.as.blob.data, a.as.blob.len);
      break;
    case HDB_TYPE_VECTOR:
      assert_int_equal(a.as.vector.dim, b.as.vector.dim);
      assert_memory_equal(a.as.vector.data, b.as.vector.data, a.as.vector.dim * 4);
      break;
    default: fail();
    }
  }
  assert_int_equal(nw, hdb_record_field_count(got));
}

static void roundtrip_with(hdb__tbl_codec codec, uint32_t chunk_rows) {
  hdb_schema *s = all_types_schema();
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  o.create = 1;
  o.schema = s;
  o.codec = codec;
  o.chunk_rows = chunk_rows;
  o.sync = HDB__TBL_SYNC_OFF;
  char dir[600];
  snprintf(dir, sizeof dir, "%s/t%d-%u", g_dir, (int)codec, chunk_rows);
  hdb__tbl *t;
  hdb_error err;
  assert_int_equal(hdb__tbl_open(dir, &o, &t, &err), HDB_OK);
  enum { N = 700 };
  hdb_record *rows[N];
  for (int i = 0; i < N; i++) rows[i] = all_types_row(i);
  int64_t v;
  assert_int_equal(hdb__tbl_write(t, rows, N, HDB__TBL_INSERT, &v, &err), HDB_OK);
  assert_int_equal(v, 2);
  hdb__tbl_close(t);

  /* Reopen: everything comes from disk. */
  o.create = 0;
  assert_int_equal(hdb__tbl_open(dir, &o, &t, &err), HDB_OK);
  hdb__tbl_snap *snap;
  assert_int_equal(hdb__tbl_pin(t, 0, &snap, &err), HDB_OK);
  assert_int_equal(hdb__tbl_snap_rows(snap), N);
  for (int i = 0; i < N; i += 37) {
    hdb_record *got;
    assert_int_equal(hdb__tbl_get(snap, hdb_record_id(rows[i]), &got, &err), HDB_OK);
    assert_same(rows[i], got);
    hdb_record_free(got);
  }
  hdb_record *missing;
  assert_int_equal(hdb__tbl_get(snap, "nope", &missing, &err), HDB_NOT_FOUND);
  /* A full scan returns every row, in order, equal to what was written. */
  hdb__tbl_scan *sc;
  assert_int_equal(hdb__tbl_scan_open(snap, NULL, &sc, &err), HDB_OK);
  const hdb_record *r;
  int n = 0;
  while (hdb__tbl_scan_next(sc, &r, NULL, NULL, &err) == HDB_OK) assert_same(rows[n++], r);
  assert_int_equal(n, N);
  hdb__tbl_scan_close(sc);
  /* The vector block is 64-byte aligned and holds the vectors in row order. */
  const float *vec;
  uint64_t vrows;
  uint32_t dim;
  const uint8_t *del, *nulls;
  assert_int_equal(hdb__tbl_vector_block(snap, 0, "v", &vec, &vrows, &dim, &del, &nulls, &err), HDB_OK);
  assert_int_equal((uintptr_t)vec % 64, 0);
  assert_int_equal(vrows, N);
  assert_int_equal(dim, 5);
  assert_null(del);
  assert_non_null(nulls);
  assert_true(vec[5 * 10] == 10.0f);
  assert_true(nulls[0] & (1u << 2)); /* row 2 has no vector */
  assert_int_equal(hdb__tbl_vector_block(snap, 0, "i", &vec, &vrows, &dim, &del, &nulls, &err),
                   HDB_NO_FIELD);
  hdb__tbl_unpin(snap);
  hdb__tbl_check_report rep;
  assert_int_equal(hdb__tbl_check(dir, &rep, &err), HDB_OK);
  assert_int_equal(rep.versions, 2);
  assert_int_equal(rep.fragments, 1);
  assert_int_equal(rep.orphans, 0);
  hdb__tbl_close(t);
  for (int i = 0; i < N; i++) hdb_record_free(rows[i]);
  hdb_schema_free(s);
}

static void test_roundtrip_types(void **state) {
  (void)state;
  roundtrip_with(HDB__TBL_CODEC_ZSTD, 0);
  roundtrip_with(HDB__TBL_CODEC_LZ4, 64);
  roundtrip_with(HDB__TBL_CODEC_RAW, 100);
}

static void test_large_blobs(void **state) {
  (void)state;
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "img", HDB_TYPE_BLOB);
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  o.create = 1;
  o.schema = s;
  o.sync = HDB__TBL_SYNC_OFF;
  hdb__tbl *t;
  hdb_error err;
  assert_int_equal(hdb__tbl_open(g_dir, &o, &t, &err), HDB_OK);
  enum { N = 16, SZ = 5 << 20 };
  hdb_record *rows[N];
  unsigned char *buf = malloc(SZ);
  unsigned x = 12345;
  for (int i = 0; i < N; i++) {
    char id[16];
    snprintf(id, sizeof id, "b%d", i);
    rows[i] = hdb_record_new(id);
    for (size_t k = 0; k < SZ; k++) {
      x = x * 1103515245u + 12345u;
      buf[k] = (i % 2) ? (unsigned char)(x >> 16) : (unsigned char)(k / 4096); /* random or compressible */
    }
    hdb_record_set_blob(rows[i], "img", buf, (size_t)SZ - (size_t)i);
    hdb_record_set_int(rows[i], "n", i);
  }
  assert_int_equal(hdb__tbl_write(t, rows, N, HDB__TBL_INSERT, NULL, &err), HDB_OK);
  hdb__tbl_snap *snap;
  assert_int_equal(hdb__tbl_pin(t, 0, &snap, &err), HDB_OK);
  for (int i = 0; i < N; i++) {
    hdb_record *got;
    assert_int_equal(hdb__tbl_get(snap, hdb_record_id(rows[i]), &got, &err), HDB_OK);
    assert_same(rows[i], got);
    hdb_record_free(got);
  }
  /* 80 MiB of blobs cannot sit in one chunk: chunk_rows was halved. */
  char ff[32], df[32];
  uint64_t off, len;
  assert_int_equal(hdb__tbl_debug_layout(snap, 0, "img", 1, ff, df, &off, &len, &err), HDB_OK);
  assert_true(len <= (64u << 20) + 8 * 64);
  assert_int_equal(tt_count(snap, "n >= 12", NULL), 4);
  hdb__tbl_unpin(snap);
  hdb__tbl_close(t);
  for (int i = 0; i < N; i++) hdb_record_free(rows[i]);
  free(buf);
  hdb_schema_free(s);
}

static void test_schemaless(void **state) {
  (void)state;
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  o.create = 1;
  o.sync = HDB__TBL_SYNC_OFF;
  hdb__tbl *t;
  hdb_error err;
  assert_int_equal(hdb__tbl_open(g_dir, &o, &t, &err), HDB_OK);
  hdb_record *rows[3];
  rows[0] = hdb_record_new("a");
  hdb_record_set_text(rows[0], "name", "alpha");
  hdb_record_set_int(rows[0], "n", 1);
  rows[1] = hdb_record_new("b");
  hdb_record_set_json(rows[1], "meta", "{\"lang\":\"en\"}");
  hdb_record_set_float(rows[1], "n", 2.5);
  float v[3] = {1, 2, 3};
  hdb_record_set_vector(rows[1], "vec", v, 3);
  rows[2] = hdb_record_new("c");
  assert_int_equal(hdb__tbl_write(t, rows, 3, HDB__TBL_INSERT, NULL, &err), HDB_OK);
  hdb__tbl_snap *snap;
  assert_int_equal(hdb__tbl_pin(t, 0, &snap, &err), HDB_OK);
  assert_null(hdb__tbl_snap_schema(snap));
  for (int i = 0; i < 3; i++) {
    hdb_record *got;
    assert_int_equal(hdb__tbl_get(snap, hdb_record_id(rows[i]), &got, &err), HDB_OK);
    assert_same(rows[i], got);
    hdb_record_free(got);
  }
  assert_int_equal(tt_count(snap, "meta.lang = 'en'", NULL), 1);
  assert_int_equal(tt_count(snap, "n > 0", NULL), 2);
  /* Projection on a schemaless table keeps only the named fields. */
  const char *fields[] = {"name"};
  hdb__tbl_scan_options so = {NULL, fields, 1};
  hdb__tbl_scan *sc;
  const hdb_record *r;
  assert_int_equal(hdb__tbl_scan_open(snap, &so, &sc, &err), HDB_OK);
  assert_int_equal(hdb__tbl_scan_next(sc, &r, NULL, NULL, &err), HDB_OK);
  assert_int_equal(hdb_record_field_count(r), 1);
  hdb__tbl_scan_close(sc);
  hdb__tbl_unpin(snap);
  hdb__tbl_close(t);
  for (int i = 0; i < 3; i++) hdb_record_free(rows[i]);
}

static void bitmap_roundtrip(uint64_t n, int pattern) {
  uint8_t *bits = calloc(n / 8 + 1, 1);
  uint64_t want = 0;
  for (uint64_t i = 0; i < n; i++) {
    int on = pattern == 0 ? (i % 1000 == 7) : pattern == 1 ? (i % 3 != 0) : (i >= 70000 && i < 140000);
    if (on) {
      tbl_setbit(bits, i);
      want++;
    }
  }
  tbl_buf b = {0};
  uint64_t nd;
  hdb_error err;
  assert_int_equal(hdb__tbl_del_encode(bits, n, 42, &b, &nd, &err), HDB_OK);
  assert_int_equal(nd, want);
  uint8_t *back;
  assert_int_equal(hdb__tbl_del_decode(b.p, b.n, n, "x.del", &back, &nd, &err), HDB_OK);
  assert_int_equal(nd, want);
  assert_memory_equal(bits, back, n / 8);
  hdb__free_mem(back);
  if (pattern == 2) assert_true(b.n < 200); /* runs: a few bytes for 70,000 rows */
  if (pattern == 0) assert_true(b.n < 2 * want + 200);
  assert_int_equal(hdb__tbl_del_decode(b.p, b.n, n + 1, "x.del", &back, &nd, &err), HDB_CORRUPT);
  b.p[b.n - 1] ^= 1;
  assert_int_equal(hdb__tbl_del_decode(b.p, b.n, n, "x.del", &back, &nd, &err), HDB_CORRUPT);
  assert_non_null(strstr(err.message, "x.del"));
  assert_null(back);
  hdb__tbl_buf_free(&b);
  free(bits);
}

static void test_deletion_bitmaps(void **state) {
  (void)state;
  bitmap_roundtrip(200000, 0); /* arrays */
  bitmap_roundtrip(200000, 1); /* bitmaps */
  bitmap_roundtrip(200000, 2); /* runs */
  bitmap_roundtrip(5, 1);
}

/* Builds a table with two fragments and a deletion file; returns the
 * layout of fragment 0. */
static hdb__tbl *corrupt_fixture(char *frag, char *del, uint64_t *chunk_off, uint64_t *vec_off) {
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  hdb_schema_add(s, "t", HDB_TYPE_TEXT);
  hdb_schema_add_vector(s, "v", 4, HDB_METRIC_L2);
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  o.create = 1;
  o.schema = s;
  o.chunk_rows = 100;
  hdb__tbl *t;
  hdb_error err;
  assert_int_equal(hdb__tbl_open(g_dir, &o, &t, &err), HDB_OK);
  hdb_record *rows[300];
  for (int i = 0; i < 300; i++) {
    char id[16];
    snprintf(id, sizeof id, "k%03d", i);
    rows[i] = hdb_record_new(id);
    hdb_record_set_int(rows[i], "n", i);
    hdb_record_set_text(rows[i], "t", "some text that compresses well well well well");
    float v[4] = {(float)i, 1, 2, 3};
    hdb_record_set_vector(rows[i], "v", v, 4);
  }
  assert_int_equal(hdb__tbl_write(t, rows, 300, HDB__TBL_INSERT, NULL, &err), HDB_OK);
  assert_int_equal(hdb__tbl_delete_ids(t, (const char *const[]){"k005", "k250"}, 2, NULL, &err), HDB_OK);
  hdb__tbl_snap *snap;
  assert_int_equal(hdb__tbl_pin(t, 0, &snap, &err), HDB_OK);
  uint64_t len;
  assert_int_equal(hdb__tbl_debug_layout(snap, 0, "n", 1, frag, del, chunk_off, &len, &err), HDB_OK);
  assert_int_equal(hdb__tbl_debug_layout(snap, 0, "v", 0, frag, del, vec_off, &len, &err), HDB_OK);
  assert_true(del[0] != 0);
  hdb__tbl_unpin(snap);
  for (int i = 0; i < 300; i++) hdb_record_free(rows[i]);
  hdb_schema_free(s);
  return t;
}

static void expect_check_names(const char *name) {
  hdb__tbl_check_report rep;
  hdb_error err;
  assert_int_equal(hdb__tbl_check(g_dir, &rep, &err), HDB_CORRUPT);
  assert_int_equal(rep.status, HDB_CORRUPT);
  assert_non_null(strstr(rep.message, name));
  assert_non_null(strstr(err.message, name));
}

static void test_corrupt_chunk(void **state) {
  (void)state;
  char frag[32], del[32];
  uint64_t off, voff;
  hdb__tbl *t = corrupt_fixture(frag, del, &off, &voff);
  hdb__tbl_close(t);
  assert_int_equal(tt_flip(g_dir, frag, off + 3), 0);
  hdb_error err;
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  assert_int_equal(hdb__tbl_open(g_dir, &o, &t, &err), HDB_OK);
  hdb__tbl_snap *snap;
  assert_int_equal(hdb__tbl_pin(t, 0, &snap, &err), HDB_OK);
  /* Chunk 0 reads fine (zone maps let the scan skip the bad chunk 1). */
  assert_int_equal(tt_count(snap, "n < 50", NULL), 49);
  hdb__tbl_scan *sc;
  assert_int_equal(hdb__tbl_scan_open(snap, NULL, &sc, &err), HDB_OK);
  const hdb_record *r;
  hdb_status rc;
  while ((rc = hdb__tbl_scan_next(sc, &r, NULL, NULL, &err)) == HDB_OK) {
  }
  assert_int_equal(rc, HDB_CORRUPT);
  assert_non_null(strstr(err.message, frag));
  assert_non_null(strstr(err.message, "chunk 1"));
  hdb__tbl_scan_close(sc);
  hdb__tbl_unpin(snap);
  hdb__tbl_close(t);
  expect_check_names(frag);
}

static void test_corrupt_vectors(void **state) {
  (void)state;
  char frag[32], del[32];
  uint64_t off, voff;
  hdb__tbl *t = corrupt_fixture(frag, del, &off, &voff);
  hdb__tbl_close(t);
  assert_int_equal(tt_flip(g_dir, frag, voff + 17), 0);
  hdb_error err;
  assert_int_equal(hdb__tbl_open(g_dir, NULL, &t, &err), HDB_OK);
  hdb__tbl_snap *snap;
  assert_int_equal(hdb__tbl_pin(t, 0, &snap, &err), HDB_OK);
  const float *vec;
  uint64_t rows;
  uint32_t dim;
  assert_int_equal(hdb__tbl_vector_block(snap, 0, "v", &vec, &rows, &dim, NULL, NULL, &err),
                   HDB_CORRUPT);
  assert_non_null(strstr(err.message, frag));
  hdb__tbl_unpin(snap);
  hdb__tbl_close(t);
  expect_check_names(frag);
}

static void test_corrupt_fragment_header(void **state) {
  (void)state;
  char frag[32], del[32];
  uint64_t off, voff;
  hdb__tbl *t = corrupt_fixture(frag, del, &off, &voff);
  hdb__tbl_close(t);
  assert_int_equal(tt_flip(g_dir, frag, 9), 0);
  hdb_error err;
  /* Open loads the newest version, which needs the fragment. */
  assert_int_equal(hdb__tbl_open(g_dir, NULL, &t, &err), HDB_CORRUPT);
  assert_non_null(strstr(err.message, frag));
  expect_check_names(frag);
}

static void test_corrupt_deletion(void **state) {
  (void)state;
  char frag[32], del[32];
  uint64_t off, voff;
  hdb__tbl *t = corrupt_fixture(frag, del, &off, &voff);
  hdb__tbl_close(t);
  assert_int_equal(tt_flip(g_dir, del, 70), 0);
  hdb_error err;
  assert_int_equal(hdb__tbl_open(g_dir, NULL, &t, &err), HDB_CORRUPT);
  assert_non_null(strstr(err.message, del));
  expect_check_names(del);
}

static void test_corrupt_manifest(void **state) {
  (void)state;
  char frag[32], del[32];
  uint64_t off, voff;
  hdb__tbl *t = corrupt_fixture(frag, del, &off, &voff);
  hdb__tbl_close(t);
  char name[64];
  snprintf(name, sizeof name, "%s", tt_newest_manifest(g_dir));
  assert_int_equal(tt_flip(g_dir, name, 80), 0);
  hdb_error err;
  assert_int_equal(hdb__tbl_open(g_dir, NULL, &t, &err), HDB_CORRUPT);
  assert_non_null(strstr(err.message, name));
  expect_check_names(name);
  /* A truncated manifest too. */
  char p[700];
  snprintf(p, sizeof p, "%s/%s", g_dir, name);
  assert_int_equal(truncate(p, 30), 0);
  assert_int_equal(hdb__tbl_open(g_dir, NULL, &t, &err), HDB_CORRUPT);
  assert_non_null(strstr(err.message, name));
}

static void test_orphans_ignored(void **state) {
  (void)state;
  char frag[32], del[32];
  uint64_t off, voff;
  hdb__tbl *t = corrupt_fixture(frag, del, &off, &voff);
  hdb__tbl_close(t);
  /* A crashed commit's leftovers: a partial manifest temp file and a half
   * fragment. Open ignores them; check counts them; cleanup removes them. */
  char p[700];
  snprintf(p, sizeof p, "%s/v00000000000000000004.manifest.1.2.tmp", g_dir);
  FILE *f = fopen(p, "w");
  fputs("garbage", f);
  fclose(f);
  snprintf(p, sizeof p, "%s/f-00000000000000ab.frag", g_dir);
  f = fopen(p, "w");
  fputs("half", f);
  fclose(f);
  hdb_error err;
  hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
  assert_int_equal(hdb__tbl_open(g_dir, &o, &t, &err), HDB_OK);
  hdb__tbl_snap *snap;
  assert_int_equal(hdb__tbl_pin(t, 0, &snap, &err), HDB_OK);
  assert_int_equal(hdb__tbl_snap_version(snap), 3);
  assert_int_equal(hdb__tbl_snap_rows(snap), 298);
  hdb__tbl_unpin(snap);
  hdb__tbl_check_report rep;
  assert_int_equal(hdb__tbl_check(g_dir, &rep, &err), HDB_OK);
  assert_int_equal(rep.orphans, 2);
  hdb__tbl_retention r = {10, 0, -1};
  hdb__tbl_cleanup_stats cs;
  assert_int_equal(hdb__tbl_cleanup(t, &r, &cs, &err), HDB_OK);
  assert_int_equal(cs.files_removed, 2);
  assert_int_equal(hdb__tbl_check(g_dir, &rep, &err), HDB_OK);
  assert_int_equal(rep.orphans, 0);
  hdb__tbl_close(t);
}

static void test_alloc_failures(void **state) {
  (void)state;
  hdb_schema *s = hdb_schema_new();
  hdb_schema_add(s, "n", HDB_TYPE_INT);
  hdb_schema_add(s, "t", HDB_TYPE_TEXT);
  hdb_schema_add_vector(s, "v", 4, HDB_METRIC_L2);
  hdb_record *rows[20];
  for (int i = 0; i < 20; i++) {
    char id[16];
    snprintf(id, sizeof id, "k%d", i);
    rows[i] = hdb_record_new(id);
    hdb_record_set_int(rows[i], "n", i);
    hdb_record_set_text(rows[i], "t", "x");
    float v[4] = {1, 2, 3, (float)i};
    hdb_record_set_vector(rows[i], "v", v, 4);
  }
  int ok_at = -1;
  for (long n = 0; n < 2000 && ok_at < 0; n += 3) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/a%ld", g_dir, n);
    hdb__tbl_options o = HDB__TBL_OPTIONS_INIT;
    o.create = 1;
    o.schema = s;
    o.sync = HDB__TBL_SYNC_OFF;
    hdb__tbl *t = NULL;
    hdb_error err;
    hdb__alloc_fail_after(n);
    hdb_status rc = hdb__tbl_open(dir, &o, &t, &err);
    if (rc == HDB_OK) rc = hdb__tbl_write(t, rows, 20, HDB__TBL_UPSERT, NULL, &err);
    hdb__tbl_snap *snap = NULL;
    if (rc == HDB_OK) rc = hdb__tbl_pin(t, 0, &snap, &err);
    long cnt = -1;
    if (rc == HDB_OK) {
      hdb__alloc_fail_after(-1);
      cnt = tt_count(snap, "n > 3", NULL);
    }
    hdb__alloc_fail_after(-1);
    if (rc == HDB_OK) {
      assert_int_equal(cnt, 16);
      ok_at = (int)n;
    } else {
      assert_true(rc == HDB_NOMEM || rc == HDB_NOT_FOUND);
    }
    hdb__tbl_unpin(snap);
    hdb__tbl_close(t);
  }
  assert_true(ok_at > 0);
  for (int i = 0; i < 20; i++) hdb_record_free(rows[i]);
  hdb_schema_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_roundtrip_types, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_large_blobs, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_schemaless, setup_dir, teardown_dir),
      cmocka_unit_test(test_deletion_bitmaps),
      cmocka_unit_test_setup_teardown(test_corrupt_chunk, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_corrupt_vectors, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_corrupt_fragment_header, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_corrupt_deletion, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_corrupt_manifest, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_orphans_ignored, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_alloc_failures, setup_dir, teardown_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
