/*
 * test_vec_ivfpq.c - the IVF-PQ index: recall@10 >= 0.95 at default
 * parameters on a 20k x 64 Gaussian mixture, cosine and dot metrics,
 * filtered search returning exactly min(k, matches) from 100% to 0.1%
 * selectivity, deleted rows never returned, incremental adds, a fetch
 * callback as the refine source, save -> open -> identical results,
 * corrupt files -> HDB_CORRUPT, a newer version -> HDB_NOT_SUPPORTED, bad
 * arguments and failing allocations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "engine/vector/vec_flat.h"
#include "engine/vector/vec_ivfpq.h"
#include "../vector/vec_testdata.h"

enum { N = 20000, DIM = 64, NQ = 200, K = 10, CLUSTERS = 50 };

static float *g_base, *g_queries;
static hdb__vec_hit *g_truth; /* NQ x K, exact */
static hdb__ivfpq *g_idx;
static hdb__ivfpq_source g_src;
static char g_path[256];

static void file_path(const char *name)
{
  snprintf(g_path, sizeof g_path, "/tmp/hdb_test_ivfpq_%ld_%s", (long)getpid(), name);
}

static int setup(void **state)
{
  (void)state;
  g_base = malloc((size_t)N * DIM * sizeof *g_base);
  g_queries = malloc((size_t)NQ * DIM * sizeof *g_queries);
  g_truth = malloc((size_t)NQ * K * sizeof *g_truth);
  uint32_t *n_out = malloc(NQ * sizeof *n_out);
  if (!g_base || !g_queries || !g_truth || !n_out)
    return -1;
  if (vt_mixture(g_base, N, DIM, CLUSTERS, 0.5, 1, 2) ||
      vt_mixture(g_queries, NQ, DIM, CLUSTERS, 0.5, 1, 3))
    return -1;
  hdb__vec_flat f = {.base = g_base, .n = N, .dim = DIM, .metric = HDB_METRIC_L2};
  if (hdb__vec_flat_search(&f, g_queries, NQ, K, g_truth, n_out, NULL) != HDB_OK)
    return -1;
  free(n_out);
  g_src = (hdb__ivfpq_source){.base = g_base};
  if (hdb__ivfpq_new(DIM, HDB_METRIC_L2, NULL, &g_idx, NULL) != HDB_OK)
    return -1;
  return hdb__ivfpq_build(g_idx, g_base, NULL, 0, N, 0, NULL) == HDB_OK ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  hdb__ivfpq_free(g_idx);
  free(g_base);
  free(g_queries);
  free(g_truth);
  return 0;
}

static size_t overlap(const hdb__vec_hit *a, size_t na, const hdb__vec_hit *b, size_t nb)
{
  size_t hit = 0;
  for (size_t i = 0; i < na; i++)
    for (size_t j = 0; j < nb; j++)
      if (a[i].id == b[j].id) {
        hit++;
        break;
      }
  return hit;
}

/* Hits have padding: compare fields. */
static void assert_hits_equal(const hdb__vec_hit *a, const hdb__vec_hit *b, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(a[i].id, b[i].id);
    assert_true(a[i].dist == b[i].dist);
  }
}

static void assert_sorted(const hdb__vec_hit *h, size_t n)
{
  for (size_t i = 1; i < n; i++)
    assert_true(hdb__vec_hit_less(h[i - 1], h[i]));
}

static double recall_of(const hdb__ivfpq *idx, const float *base, const hdb__vec_hit *truth,
                        uint32_t nprobe, uint32_t refine)
{
  hdb__ivfpq_source src = {.base = base};
  size_t hit = 0;
  for (size_t q = 0; q < NQ; q++) {
    hdb__vec_hit out[K];
    uint32_t n_out;
    assert_int_equal(hdb__ivfpq_search(idx, g_queries + q * DIM, K, nprobe, refine, NULL, &src,
                                       out, &n_out, NULL),
                     HDB_OK);
    assert_int_equal(n_out, K);
    assert_sorted(out, n_out);
    hit += overlap(out, n_out, truth + q * K, K);
  }
  return (double)hit / (NQ * K);
}

static void test_recall_default(void **state)
{
  (void)state;
  hdb__ivfpq_params p = hdb__ivfpq_get_params(g_idx);
  assert_int_equal(p.nlist, 141);
  assert_int_equal(p.m, DIM / 4);
  assert_int_equal(hdb__ivfpq_count(g_idx), N);
  double r = recall_of(g_idx, g_base, g_truth, 0, 0);
  print_message("ivfpq recall@10 (nlist %u, m %u, nprobe %u, refine %u): %.4f, %zu bytes\n",
                p.nlist, p.m, p.nprobe, p.refine, r, hdb__ivfpq_memory(g_idx));
  assert_true(r >= 0.95);
  /* more probing never hurts much, and refine 1 is plain ADC */
  double wide = recall_of(g_idx, g_base, g_truth, 64, 0);
  print_message("  nprobe 64: %.4f; refine 1: %.4f\n", wide,
                recall_of(g_idx, g_base, g_truth, 0, 1));
  assert_true(wide >= r - 0.01);
}

/* Cosine and dot on a smaller set: ranking against the exact scan. */
static void test_metrics(void **state)
{
  (void)state;
  enum { n = 2000 };
  hdb_metric ms[2] = {HDB_METRIC_COSINE, HDB_METRIC_DOT};
  for (int t = 0; t < 2; t++) {
    hdb__vec_hit *truth = malloc((size_t)NQ * K * sizeof *truth);
    uint32_t n_out[NQ];
    assert_non_null(truth);
    hdb__vec_flat f = {.base = g_base, .n = n, .dim = DIM, .metric = ms[t]};
    assert_int_equal(hdb__vec_flat_search(&f, g_queries, NQ, K, truth, n_out, NULL), HDB_OK);
    hdb__ivfpq *idx;
    assert_int_equal(hdb__ivfpq_new(DIM, ms[t], &(hdb__ivfpq_params){.nlist = 32}, &idx, NULL),
                     HDB_OK);
    assert_int_equal(hdb__ivfpq_build(idx, g_base, NULL, 0, n, 2, NULL), HDB_OK);
    double r = recall_of(idx, g_base, truth, 8, 0);
    print_message("ivfpq %s recall@10 (2k rows, nprobe 8): %.4f\n",
                  ms[t] == HDB_METRIC_COSINE ? "cosine" : "dot", r);
    assert_true(r >= 0.9);
    /* refined distances are the exact ones */
    hdb__vec_hit out[K];
    uint32_t no;
    hdb__ivfpq_source src = {.base = g_base};
    assert_int_equal(hdb__ivfpq_search(idx, g_queries, K, 0, 0, NULL, &src, out, &no, NULL),
                     HDB_OK);
    for (uint32_t i = 0; i < no; i++) {
      float d = hdb__vec_dist(hdb__vec_kernels_get(), ms[t], g_queries, g_base + out[i].id * DIM,
                              DIM);
      assert_true(out[i].dist == d);
    }
    /* the same data and seed give the same index on 1 thread */
    hdb__ivfpq *one;
    assert_int_equal(hdb__ivfpq_new(DIM, ms[t], &(hdb__ivfpq_params){.nlist = 32}, &one, NULL),
                     HDB_OK);
    assert_int_equal(hdb__ivfpq_build(one, g_base, NULL, 0, n, 1, NULL), HDB_OK);
    hdb__vec_hit out1[K];
    uint32_t no1;
    assert_int_equal(hdb__ivfpq_search(one, g_queries, K, 0, 0, NULL, NULL, out1, &no1, NULL),
                     HDB_OK);
    assert_int_equal(hdb__ivfpq_search(idx, g_queries, K, 0, 0, NULL, NULL, out, &no, NULL),
                     HDB_OK);
    assert_int_equal(no, no1);
    assert_hits_equal(out, out1, no);
    hdb__ivfpq_free(one);
    hdb__ivfpq_free(idx);
    free(truth);
  }
}

static int every_nth(void *ctx, uint64_t id)
{
  return id % *(uint64_t *)ctx == 0;
}

static void test_filtered(void **state)
{
  (void)state;
  uint64_t stride[] = {1, 2, 10, 100, 1000, 5000, 20001};
  uint64_t *bits = calloc(N / 64 + 1, sizeof *bits);
  assert_non_null(bits);
  for (size_t s = 0; s < sizeof stride / sizeof *stride; s++) {
    memset(bits, 0, (N / 64 + 1) * sizeof *bits);
    uint64_t matches = 0;
    for (uint64_t i = 0; i < N; i++)
      if (i % stride[s] == 0) {
        bits[i / 64] |= UINT64_C(1) << (i % 64);
        matches++;
      }
    hdb__vec_filter fb = {.bits = bits, .n_bits = N};
    hdb__vec_filter fc = {.fn = every_nth, .ctx = &stride[s]};
    for (int w = 0; w < 2; w++) {
      const hdb__vec_filter *f = w ? &fc : &fb;
      for (size_t q = 0; q < 20; q++) {
        hdb__vec_hit out[K], ex[K];
        uint32_t no, ne;
        assert_int_equal(hdb__ivfpq_search(g_idx, g_queries + q * DIM, K, 0, 0, f, &g_src, out,
                                           &no, NULL),
                         HDB_OK);
        assert_int_equal(no, matches < K ? matches : K);
        assert_sorted(out, no);
        for (uint32_t i = 0; i < no; i++)
          assert_int_equal(out[i].id % stride[s], 0);
        /* few matches: every list gets probed and the re-rank is exact */
        if (matches * 1 <= (uint64_t)K * 10) {
          hdb__vec_flat fl = {.base = g_base, .n = N, .dim = DIM, .metric = HDB_METRIC_L2,
                              .filter = f, .threads = 1};
          assert_int_equal(hdb__vec_flat_search(&fl, g_queries + q * DIM, 1, K, ex, &ne, NULL),
                           HDB_OK);
          assert_int_equal(ne, no);
          assert_hits_equal(ex, out, no);
        }
      }
    }
  }
  free(bits);
}

static void test_delete_and_add(void **state)
{
  (void)state;
  enum { n = 3000 };
  hdb__ivfpq *idx;
  assert_int_equal(hdb__ivfpq_new(DIM, HDB_METRIC_L2, &(hdb__ivfpq_params){.nlist = 16}, &idx,
                                  NULL),
                   HDB_OK);
  /* train on the first half, add both halves incrementally */
  assert_int_equal(hdb__ivfpq_add(idx, g_base, NULL, 0, 10, 1, NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__ivfpq_train(idx, g_base, n / 2, 2, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_train(idx, g_base, n / 2, 2, NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__ivfpq_add(idx, g_base, NULL, 0, n / 2, 2, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_add(idx, g_base + (size_t)(n / 2) * DIM, NULL, n / 2, n / 2, 1,
                                  NULL),
                   HDB_OK);
  assert_int_equal(hdb__ivfpq_count(idx), n);
  hdb__vec_hit out[K];
  uint32_t no;
  assert_int_equal(hdb__ivfpq_search(idx, g_queries, K, 0, 0, NULL, &g_src, out, &no, NULL),
                   HDB_OK);
  assert_int_equal(no, K);
  /* delete the current answer, twice (the second marks nothing) */
  uint64_t del[K];
  for (int i = 0; i < K; i++)
    del[i] = out[i].id;
  size_t marked;
  assert_int_equal(hdb__ivfpq_delete(idx, del, K, &marked, NULL), HDB_OK);
  assert_int_equal(marked, K);
  assert_int_equal(hdb__ivfpq_delete(idx, del, K, &marked, NULL), HDB_OK);
  assert_int_equal(marked, 0);
  assert_int_equal(hdb__ivfpq_deleted(idx), K);
  for (size_t q = 0; q < 50; q++) {
    assert_int_equal(hdb__ivfpq_search(idx, g_queries + q * DIM, K, 0, 0, NULL, &g_src, out, &no,
                                       NULL),
                     HDB_OK);
    assert_int_equal(no, K);
    for (uint32_t i = 0; i < no; i++)
      for (int j = 0; j < K; j++)
        assert_true(out[i].id != del[j]);
  }
  /* delete all but 3 rows: exactly 3 come back */
  uint64_t *all = malloc(n * sizeof *all);
  assert_non_null(all);
  for (uint64_t i = 0; i < n; i++)
    all[i] = i;
  assert_int_equal(hdb__ivfpq_delete(idx, all + 3, n - 3, &marked, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_search(idx, g_queries, K, 1, 1, NULL, &g_src, out, &no, NULL),
                   HDB_OK);
  assert_int_equal(no, 3);
  assert_sorted(out, no);
  for (uint32_t i = 0; i < no; i++)
    assert_true(out[i].id < 3);
  assert_int_equal(hdb__ivfpq_delete(idx, all, 3, &marked, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_search(idx, g_queries, K, 0, 0, NULL, &g_src, out, &no, NULL),
                   HDB_OK);
  assert_int_equal(no, 0);
  free(all);
  hdb__ivfpq_free(idx);
}

static const float *fetch_row(void *ctx, uint64_t id, float *buf)
{
  size_t *calls = ctx;
  (*calls)++;
  if (id >= N)
    return NULL;
  memcpy(buf, g_base + id * DIM, DIM * sizeof *buf);
  return buf;
}

static const float *fetch_fail(void *ctx, uint64_t id, float *buf)
{
  (void)ctx;
  (void)id;
  (void)buf;
  return NULL;
}

static void test_sources(void **state)
{
  (void)state;
  size_t calls = 0;
  hdb__ivfpq_source fs = {.fetch = fetch_row, .ctx = &calls};
  for (size_t q = 0; q < 20; q++) {
    hdb__vec_hit a[K], b[K];
    uint32_t na, nb;
    assert_int_equal(hdb__ivfpq_search(g_idx, g_queries + q * DIM, K, 0, 4, NULL, &g_src, a, &na,
                                       NULL),
                     HDB_OK);
    assert_int_equal(hdb__ivfpq_search(g_idx, g_queries + q * DIM, K, 0, 4, NULL, &fs, b, &nb,
                                       NULL),
                     HDB_OK);
    assert_int_equal(na, nb);
    assert_hits_equal(a, b, na);
    /* without a source: ADC estimates, still K sorted hits */
    assert_int_equal(hdb__ivfpq_search(g_idx, g_queries + q * DIM, K, 0, 0, NULL, NULL, b, &nb,
                                       NULL),
                     HDB_OK);
    assert_int_equal(nb, K);
    assert_sorted(b, nb);
  }
  assert_int_equal(calls, 20 * 4 * K);
  hdb__vec_hit out[K];
  uint32_t no;
  hdb_error err;
  hdb__ivfpq_source narrow = {.base = g_base, .n_rows = 10};
  assert_int_equal(hdb__ivfpq_search(g_idx, g_queries, K, 0, 0, NULL, &narrow, out, &no, &err),
                   HDB_IO);
  hdb__ivfpq_source bad = {.fetch = fetch_fail};
  assert_int_equal(hdb__ivfpq_search(g_idx, g_queries, K, 0, 0, NULL, &bad, out, &no, &err),
                   HDB_IO);
  assert_int_equal(no, 0);
}

static unsigned char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*len);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, *len, f), *len);
  fclose(f);
  return b;
}

static void write_file(const char *path, const void *b, size_t len)
{
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, len, f), len);
  fclose(f);
}

static void test_persist_identical(void **state)
{
  (void)state;
  file_path("persist.ivfpq");
  uint64_t del[3] = {5, 17, 999};
  hdb__ivfpq *copy;
  /* delete on a reopened copy, so the shared index stays intact */
  assert_int_equal(hdb__ivfpq_save(g_idx, g_path, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_open(g_path, &copy, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_delete(copy, del, 3, NULL, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_save(copy, g_path, NULL), HDB_OK);
  hdb__ivfpq *m;
  assert_int_equal(hdb__ivfpq_open(g_path, &m, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_count(m), N);
  assert_int_equal(hdb__ivfpq_deleted(m), 3);
  hdb__ivfpq_params a = hdb__ivfpq_get_params(copy), b = hdb__ivfpq_get_params(m);
  assert_memory_equal(&a, &b, sizeof a);
  for (size_t q = 0; q < NQ; q++)
    for (int src = 0; src < 2; src++) {
      hdb__vec_hit x[K], y[K];
      uint32_t nx, ny;
      const hdb__ivfpq_source *s = src ? &g_src : NULL;
      assert_int_equal(hdb__ivfpq_search(copy, g_queries + q * DIM, K, 0, 0, NULL, s, x, &nx,
                                         NULL),
                       HDB_OK);
      assert_int_equal(hdb__ivfpq_search(m, g_queries + q * DIM, K, 0, 0, NULL, s, y, &ny, NULL),
                       HDB_OK);
      assert_int_equal(nx, ny);
      assert_hits_equal(x, y, nx);
    }
  /* the reopened index is writable: add and search */
  assert_int_equal(hdb__ivfpq_add(m, g_queries, NULL, N, 1, 1, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_count(m), N + 1);
  /* open_mem at an odd address reads the same */
  size_t len;
  unsigned char *buf = read_file(g_path, &len);
  unsigned char *odd = malloc(len + 1);
  assert_non_null(odd);
  memcpy(odd + 1, buf, len);
  hdb__ivfpq *mm;
  assert_int_equal(hdb__ivfpq_open_mem(odd + 1, len, &mm, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_count(mm), N);
  hdb__ivfpq_free(mm);
  free(odd);
  free(buf);
  hdb__ivfpq_free(m);
  hdb__ivfpq_free(copy);
  unlink(g_path);
}

static void put32le(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void put64le(unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64le(const unsigned char *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static hdb_status open_buf(const unsigned char *b, size_t len)
{
  hdb__ivfpq *x = NULL;
  hdb_error err;
  hdb_status st = hdb__ivfpq_open_mem(b, len, &x, &err);
  hdb__ivfpq_free(x);
  return st;
}

static void test_corrupt_files(void **state)
{
  (void)state;
  file_path("corrupt.ivfpq");
  hdb__ivfpq *small;
  assert_int_equal(hdb__ivfpq_new(8, HDB_METRIC_L2, &(hdb__ivfpq_params){.nlist = 4, .m = 2},
                                  &small, NULL),
                   HDB_OK);
  float *v = malloc(300 * 8 * sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < 300 * 8; i++)
    v[i] = g_base[i];
  assert_int_equal(hdb__ivfpq_build(small, v, NULL, 0, 300, 1, NULL), HDB_OK);
  uint64_t d1 = 7;
  assert_int_equal(hdb__ivfpq_delete(small, &d1, 1, NULL, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_save(small, g_path, NULL), HDB_OK);
  size_t len;
  unsigned char *orig = read_file(g_path, &len);
  unsigned char *b = malloc(len);
  assert_non_null(b);
  assert_int_equal(open_buf(orig, len), HDB_OK);
  uint64_t off_cent = get64le(orig + 72), off_offs = get64le(orig + 88),
           off_del = get64le(orig + 112);

  /* every truncation and every single flipped byte: CORRUPT */
  for (size_t cut = 0; cut < len; cut += (cut < 300 ? 1 : 97))
    assert_int_equal(open_buf(orig, cut), HDB_CORRUPT);
  for (size_t i = 0; i < len; i += (i < 300 ? 1 : 13)) {
    memcpy(b, orig, len);
    b[i] ^= 0x40;
    /* the version is read before the checksums */
    assert_int_equal(open_buf(b, len), i >= 8 && i < 12 ? HDB_NOT_SUPPORTED : HDB_CORRUPT);
  }
  /* structural damage behind valid checksums */
  struct {
    size_t at;
    int wide;
    uint64_t val;
  } edits[] = {
    {16, 0, 0},           {16, 0, 7},           {20, 0, 9},  {24, 0, 0},
    {24, 0, 70000},       {28, 0, 3},           {32, 0, 4},  {36, 0, 0},
    {40, 0, 1001},        {56, 1, 301},         {56, 1, UINT64_C(1) << 50},
    {64, 1, 2},           {64, 1, 400},         {72, 1, 320}, {120, 1, 12345},
    {200, 1, 1},          {(size_t)off_offs, 1, 1},         {(size_t)off_offs + 8, 1, 400},
    {(size_t)off_offs + 16, 1, 0},              {(size_t)off_del, 0, 2},
    {(size_t)off_cent, 0, 0x7fc00000u},
  };
  for (size_t e = 0; e < sizeof edits / sizeof *edits; e++) {
    memcpy(b, orig, len);
    if (edits[e].wide)
      put64le(b + edits[e].at, edits[e].val);
    else
      put32le(b + edits[e].at, (uint32_t)edits[e].val);
    hdb__ivfpq_file_seal(b, len);
    assert_int_equal(open_buf(b, len), HDB_CORRUPT);
  }
  /* a newer format version is refused as such */
  memcpy(b, orig, len);
  put32le(b + 8, 2);
  hdb__ivfpq_file_seal(b, len);
  assert_int_equal(open_buf(b, len), HDB_NOT_SUPPORTED);
  /* through the file path too */
  memcpy(b, orig, len);
  b[len - 1] ^= 1;
  write_file(g_path, b, len);
  hdb__ivfpq *x = NULL;
  hdb_error err;
  assert_int_equal(hdb__ivfpq_open(g_path, &x, &err), HDB_CORRUPT);
  assert_null(x);
  write_file(g_path, b, 10);
  assert_int_equal(hdb__ivfpq_open(g_path, &x, &err), HDB_CORRUPT);
  unlink(g_path);
  assert_int_equal(hdb__ivfpq_open(g_path, &x, &err), HDB_IO);
  free(b);
  free(orig);
  free(v);
  hdb__ivfpq_free(small);
}

static void test_arguments(void **state)
{
  (void)state;
  hdb__ivfpq *x;
  assert_int_equal(hdb__ivfpq_new(0, HDB_METRIC_L2, NULL, &x, NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__ivfpq_new(10, HDB_METRIC_L2, &(hdb__ivfpq_params){.m = 3}, &x, NULL),
                   HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__ivfpq_new(8, HDB_METRIC_L2, &(hdb__ivfpq_params){.nbits = 4}, &x, NULL),
                   HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__ivfpq_new(8, (hdb_metric)9, NULL, &x, NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__ivfpq_new(7, HDB_METRIC_DEFAULT, NULL, &x, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_metric(x), HDB_METRIC_L2);
  assert_int_equal(hdb__ivfpq_get_params(x).m, 7);
  assert_int_equal(hdb__ivfpq_save(x, "/tmp/never", NULL), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__ivfpq_train(x, g_base, 0, 1, NULL), HDB_INVALID_ARGUMENT);
  hdb__vec_hit out[4];
  uint32_t no;
  /* untrained and empty: no hits */
  assert_int_equal(hdb__ivfpq_search(x, g_queries, 4, 0, 0, NULL, NULL, out, &no, NULL), HDB_OK);
  assert_int_equal(no, 0);
  /* fewer rows than centroids still trains */
  assert_int_equal(hdb__ivfpq_build(x, g_base, NULL, 100, 5, 1, NULL), HDB_OK);
  assert_int_equal(hdb__ivfpq_search(x, g_queries, 4, 0, 0, NULL, NULL, out, &no, NULL), HDB_OK);
  assert_int_equal(no, 4);
  assert_int_equal(hdb__ivfpq_search(x, g_queries, 0, 0, 0, NULL, NULL, out, &no, NULL),
                   HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__ivfpq_search(x, g_queries, 4, 0, 5000, NULL, NULL, out, &no, NULL),
                   HDB_INVALID_ARGUMENT);
  hdb__ivfpq_source empty = {0};
  assert_int_equal(hdb__ivfpq_search(x, g_queries, 4, 0, 0, NULL, &empty, out, &no, NULL),
                   HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__ivfpq_save(x, "/nonexistent-dir/x.ivfpq", NULL), HDB_IO);
  hdb__ivfpq_free(x);
  hdb__ivfpq_free(NULL);
}

/* Every allocation of build, add, delete, search, save and open fails
 * once in turn. */
static void test_nomem(void **state)
{
  (void)state;
  file_path("nomem.ivfpq");
  enum { n = 400, dim = 8 };
  int failures = 0;
  for (long i = 0;; i++) {
    hdb__ivfpq *idx = NULL, *m = NULL;
    hdb__vec_hit out[5];
    uint32_t no;
    uint64_t del = 3;
    hdb__ivfpq_source src = {.base = g_base};
    hdb__alloc_fail_after(i);
    hdb_status st = hdb__ivfpq_new(
      dim, HDB_METRIC_COSINE, &(hdb__ivfpq_params){.nlist = 4, .m = 4}, &idx, NULL);
    if (st == HDB_OK)
      st = hdb__ivfpq_build(idx, g_base, NULL, 0, n, 2, NULL);
    if (st == HDB_OK)
      st = hdb__ivfpq_add(idx, g_base, NULL, n, 50, 1, NULL);
    if (st == HDB_OK)
      st = hdb__ivfpq_delete(idx, &del, 1, NULL, NULL);
    if (st == HDB_OK)
      st = hdb__ivfpq_search(idx, g_queries, 5, 0, 0, NULL, &src, out, &no, NULL);
    if (st == HDB_OK)
      st = hdb__ivfpq_save(idx, g_path, NULL);
    if (st == HDB_OK)
      st = hdb__ivfpq_open(g_path, &m, NULL);
    hdb__alloc_fail_after(-1);
    hdb__ivfpq_free(m);
    hdb__ivfpq_free(idx);
    if (st == HDB_OK)
      break;
    assert_int_equal(st, HDB_NOMEM);
    failures++;
  }
  assert_true(failures > 10);
  unlink(g_path);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_recall_default),    cmocka_unit_test(test_metrics),
    cmocka_unit_test(test_filtered),          cmocka_unit_test(test_delete_and_add),
    cmocka_unit_test(test_sources),           cmocka_unit_test(test_persist_identical),
    cmocka_unit_test(test_corrupt_files),     cmocka_unit_test(test_arguments),
    cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
