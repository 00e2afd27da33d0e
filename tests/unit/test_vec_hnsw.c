/*
 * test_vec_hnsw.c - the HNSW index: recall@10 >= 0.95 at default
 * parameters on a 20k x 64 Gaussian mixture (parallel build), filtered
 * search returning exactly min(k, matches) from 100% to 0.1% selectivity,
 * deleted nodes never returned and gone after rebuild, save -> mmap open ->
 * identical results, corrupt files -> HDB_CORRUPT, a newer version ->
 * HDB_NOT_SUPPORTED, read-only refusals, bad arguments and failing
 * allocations.
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
#include "engine/vector/vec_flat.h"
#include "engine/vector/vec_hnsw.h"
#include "../vector/vec_testdata.h"

enum { N = 20000, DIM = 64, NQ = 200, K = 10, CLUSTERS = 50 };

static float *g_base, *g_queries;
static hdb__vec_hit *g_truth; /* NQ x K, exact */
static hdb__hnsw *g_idx;

static int setup(void **state)
{
  (void)state;
  g_base = malloc((size_t)N * DIM * sizeof *g_base);
  g_queries = malloc((size_t)NQ * DIM * sizeof *g_queries);
  g_truth = malloc((size_t)NQ * K * sizeof *g_truth);
  uint32_t *n_out = malloc(NQ * sizeof *n_out);
  if (!g_base || !g_queries || !g_truth || !n_out)
    return -1;
  if (vt_mixture(g_base, N, DIM, CLUSTERS, 0.5, 1, 2) || vt_mixture(g_queries, NQ, DIM, CLUSTERS, 0.5, 1, 3))
    return -1;
  hdb__vec_flat f = {.base = g_base, .n = N, .dim = DIM, .metric = HDB_METRIC_L2};
  if (hdb__vec_flat_search(&f, g_queries, NQ, K, g_truth, n_out, NULL) != HDB_OK)
    return -1;
  free(n_out);
  if (hdb__hnsw_new(DIM, HDB_METRIC_L2, NULL, &g_idx, NULL) != HDB_OK)
    return -1;
  return hdb__hnsw_add(g_idx, g_base, NULL, 0, N, 0, NULL) == HDB_OK ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  hdb__hnsw_free(g_idx);
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

static void assert_sorted(const hdb__vec_hit *h, size_t n)
{
  for (size_t i = 1; i < n; i++)
    assert_true(hdb__vec_hit_less(h[i - 1], h[i]));
}

static double recall_at(const hdb__hnsw *idx, uint32_t ef)
{
  hdb__hnsw_ctx *ctx;
  assert_int_equal(hdb__hnsw_ctx_new(idx, &ctx, NULL), HDB_OK);
  size_t hit = 0;
  for (size_t q = 0; q < NQ; q++) {
    hdb__vec_hit out[K];
    uint32_t n_out;
    assert_int_equal(hdb__hnsw_search(idx, ctx, g_queries + q * DIM, K, ef, NULL, out, &n_out, NULL),
                     HDB_OK);
    assert_int_equal(n_out, K);
    assert_sorted(out, n_out);
    hit += overlap(out, n_out, g_truth + q * K, K);
  }
  hdb__hnsw_ctx_free(ctx);
  return (double)hit / (NQ * K);
}

static void test_recall_default(void **state)
{
  (void)state;
  assert_int_equal(hdb__hnsw_count(g_idx), N);
  double r = recall_at(g_idx, 0);
  print_message("recall@10 (20k x 64, m 16, ef_construction 200, ef_search 64): %.4f\n", r);
  assert_true(r >= 0.95);
  double r10 = recall_at(g_idx, 10), r200 = recall_at(g_idx, 200);
  print_message("recall@10 at ef 10: %.4f, ef 200: %.4f\n", r10, r200);
  assert_true(r200 >= r - 0.002);
}

/* Cosine and dot on a smaller set; single-threaded builds are reproducible. */
static void test_metrics_and_determinism(void **state)
{
  (void)state;
  enum { n = 4000 };
  const hdb_metric metrics[] = {HDB_METRIC_COSINE, HDB_METRIC_DOT};
  for (size_t m = 0; m < 2; m++) {
    hdb__hnsw *a, *b;
    assert_int_equal(hdb__hnsw_new(DIM, metrics[m], NULL, &a, NULL), HDB_OK);
    assert_int_equal(hdb__hnsw_new(DIM, metrics[m], NULL, &b, NULL), HDB_OK);
    assert_int_equal(hdb__hnsw_add(a, g_base, NULL, 0, n, 1, NULL), HDB_OK);
    for (size_t i = 0; i < n; i++) /* one at a time: the same graph */
      assert_int_equal(hdb__hnsw_insert(b, g_base + i * DIM, i, NULL), HDB_OK);
    hdb__hnsw_ctx *ctx;
    assert_int_equal(hdb__hnsw_ctx_new(a, &ctx, NULL), HDB_OK);
    hdb__vec_flat f = {.base = g_base, .n = n, .dim = DIM, .metric = metrics[m]};
    size_t hit = 0;
    for (size_t q = 0; q < NQ; q++) {
      hdb__vec_hit ra[K], rb[K], truth[K];
      uint32_t na, nb, nt;
      const float *qv = g_queries + q * DIM;
      assert_int_equal(hdb__hnsw_search(a, ctx, qv, K, 0, NULL, ra, &na, NULL), HDB_OK);
      assert_int_equal(hdb__hnsw_search(b, ctx, qv, K, 0, NULL, rb, &nb, NULL), HDB_OK);
      assert_int_equal(hdb__vec_flat_search(&f, qv, 1, K, truth, &nt, NULL), HDB_OK);
      assert_int_equal(na, K);
      assert_int_equal(nb, K);
      for (size_t i = 0; i < K; i++) {
        assert_int_equal(ra[i].id, rb[i].id);
        assert_true(ra[i].dist == rb[i].dist);
      }
      /* distances agree with the flat scan's (the index stores unit vectors for cosine) */
      for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < K; j++)
          if (ra[i].id == truth[j].id)
            assert_true(fabsf(ra[i].dist - truth[j].dist) <= 1e-4f * (1.0f + fabsf(truth[j].dist)));
      hit += overlap(ra, na, truth, nt);
    }
    double r = (double)hit / (NQ * K);
    print_message("%s recall@10 (4k x 64): %.4f\n", hdb_metric_name(metrics[m]), r);
    assert_true(r >= 0.95);
    hdb__hnsw_ctx_free(ctx);
    hdb__hnsw_free(a);
    hdb__hnsw_free(b);
  }
}

static int id_is_multiple(void *ctx, uint64_t id)
{
  return id % *(uint64_t *)ctx == 0;
}

static void test_filtered(void **state)
{
  (void)state;
  uint64_t *bits = malloc((N + 63) / 64 * sizeof *bits);
  assert_non_null(bits);
  hdb__hnsw_ctx *ctx;
  assert_int_equal(hdb__hnsw_ctx_new(g_idx, &ctx, NULL), HDB_OK);
  const double sel[] = {1.0, 0.5, 0.2, 0.1, 0.05, 0.01, 0.005, 0.001, 0.0004, 0.0};
  vt_rng r = {99};
  for (size_t s = 0; s < sizeof sel / sizeof sel[0]; s++) {
    memset(bits, 0, (N + 63) / 64 * sizeof *bits);
    size_t matches = 0;
    for (size_t i = 0; i < N; i++)
      if (vt_uniform(&r) < sel[s]) {
        bits[i / 64] |= UINT64_C(1) << (i % 64);
        matches++;
      }
    hdb__vec_filter flt = {.bits = bits, .n_bits = N};
    hdb__vec_flat f = {.base = g_base, .n = N, .dim = DIM, .filter = &flt};
    size_t want = matches < K ? matches : K, hit_graph = 0, hit_auto = 0, exact_plans = 0;
    for (size_t q = 0; q < 50; q++) {
      const float *qv = g_queries + q * DIM;
      hdb__vec_hit g[K], a[K], t[K];
      uint32_t ng, na, nt;
      hdb__hnsw_plan plan;
      assert_int_equal(hdb__hnsw_search(g_idx, ctx, qv, K, 0, &flt, g, &ng, NULL), HDB_OK);
      assert_int_equal(hdb__hnsw_search_auto(g_idx, ctx, qv, K, 0, &flt, a, &na, &plan, NULL),
                       HDB_OK);
      assert_int_equal(hdb__vec_flat_search(&f, qv, 1, K, t, &nt, NULL), HDB_OK);
      assert_int_equal(ng, want);
      assert_int_equal(na, want);
      assert_int_equal(nt, want);
      assert_sorted(g, ng);
      assert_sorted(a, na);
      for (size_t i = 0; i < ng; i++)
        assert_true(hdb__vec_filter_pass(&flt, g[i].id));
      for (size_t i = 0; i < na; i++)
        assert_true(hdb__vec_filter_pass(&flt, a[i].id));
      hit_graph += overlap(g, ng, t, nt);
      hit_auto += overlap(a, na, t, nt);
      exact_plans += plan == HDB__HNSW_PLAN_EXACT;
    }
    double rg = want ? (double)hit_graph / (50.0 * want) : 1.0;
    double ra = want ? (double)hit_auto / (50.0 * want) : 1.0;
    print_message("selectivity %.4f (%zu rows, est %.4f): graph recall %.3f, auto recall %.3f "
                  "(%zu/50 exact)\n",
                  sel[s], matches, hdb__hnsw_selectivity(g_idx, &flt), rg, ra, exact_plans);
    assert_true(rg >= 0.9);
    assert_true(ra >= 0.9);
  }
  /* a callback filter (sampled selectivity) */
  uint64_t every = 7;
  hdb__vec_filter cb = {.fn = id_is_multiple, .ctx = &every};
  double est = hdb__hnsw_selectivity(g_idx, &cb);
  assert_true(est > 0.1 && est < 0.18);
  hdb__vec_hit out[K];
  uint32_t n_out;
  assert_int_equal(hdb__hnsw_search_auto(g_idx, ctx, g_queries, K, 0, &cb, out, &n_out, NULL, NULL),
                   HDB_OK);
  assert_int_equal(n_out, K);
  for (size_t i = 0; i < K; i++)
    assert_int_equal(out[i].id % 7, 0);
  /* the plan follows the cost model */
  assert_int_equal(hdb__hnsw_choose_plan(g_idx, 1.0, K, 0), HDB__HNSW_PLAN_GRAPH);
  assert_int_equal(hdb__hnsw_choose_plan(g_idx, 0.001, K, 0), HDB__HNSW_PLAN_EXACT);
  hdb__hnsw_ctx_free(ctx);
  free(bits);
}

static void test_delete_and_rebuild(void **state)
{
  (void)state;
  enum { n = 5000 };
  hdb__hnsw *idx, *re;
  assert_int_equal(hdb__hnsw_new(DIM, HDB_METRIC_L2, NULL, &idx, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_add(idx, g_base, NULL, 100, n, 2, NULL), HDB_OK);
  /* delete every id that is the exact nearest of some query, plus 10% */
  uint64_t *del = malloc((n + NQ) * sizeof *del);
  unsigned char *is_del = calloc(n, 1);
  size_t nd = 0;
  hdb__vec_flat f = {.base = g_base, .n = n, .dim = DIM, .first_id = 100};
  for (size_t q = 0; q < NQ; q++) {
    hdb__vec_hit t[1];
    uint32_t nt;
    assert_int_equal(hdb__vec_flat_search(&f, g_queries + q * DIM, 1, 1, t, &nt, NULL), HDB_OK);
    del[nd++] = t[0].id;
  }
  for (size_t i = 0; i < n; i += 10)
    del[nd++] = 100 + i;
  size_t marked;
  assert_int_equal(hdb__hnsw_delete(idx, del, nd, &marked, NULL), HDB_OK);
  for (size_t i = 0; i < nd; i++)
    is_del[del[i] - 100] = 1;
  size_t n_del = 0;
  for (size_t i = 0; i < n; i++)
    n_del += is_del[i];
  assert_int_equal(marked, n_del);
  assert_int_equal(hdb__hnsw_deleted(idx), n_del);
  assert_int_equal(hdb__hnsw_delete(idx, del, nd, &marked, NULL), HDB_OK);
  assert_int_equal(marked, 0); /* already marked */

  hdb__vec_filter live = {.fn = NULL};
  uint64_t *bits = calloc((n + 200 + 63) / 64, sizeof *bits);
  for (size_t i = 0; i < n; i++)
    if (!is_del[i])
      bits[(100 + i) / 64] |= UINT64_C(1) << ((100 + i) % 64);
  live.bits = bits;
  live.n_bits = n + 200;
  f.filter = &live;
  hdb__hnsw_ctx *ctx;
  assert_int_equal(hdb__hnsw_ctx_new(idx, &ctx, NULL), HDB_OK);
  for (int pass = 0; pass < 2; pass++) {
    hdb__hnsw *x = pass == 0 ? idx : re;
    size_t hit = 0;
    for (size_t q = 0; q < NQ; q++) {
      hdb__vec_hit out[K], t[K];
      uint32_t no, nt;
      assert_int_equal(hdb__hnsw_search(x, ctx, g_queries + q * DIM, K, 0, NULL, out, &no, NULL),
                       HDB_OK);
      assert_int_equal(no, K);
      for (size_t i = 0; i < no; i++)
        assert_false(is_del[out[i].id - 100]);
      assert_int_equal(hdb__vec_flat_search(&f, g_queries + q * DIM, 1, K, t, &nt, NULL), HDB_OK);
      hit += overlap(out, no, t, nt);
    }
    double r = (double)hit / (NQ * K);
    print_message("%s: recall@10 over live rows %.4f\n", pass ? "after rebuild" : "with deletes", r);
    assert_true(r >= 0.95);
    if (pass == 0) {
      assert_int_equal(hdb__hnsw_rebuild(idx, 0, &re, NULL), HDB_OK);
      assert_int_equal(hdb__hnsw_count(re), n - n_del);
      assert_int_equal(hdb__hnsw_deleted(re), 0);
    }
  }
  /* delete all but three: exactly three come back */
  size_t left = 0;
  uint64_t *all = malloc(n * sizeof *all);
  for (size_t i = 0; i < n; i++)
    all[i] = 100 + i;
  assert_int_equal(hdb__hnsw_delete(re, all + 3, n - 3, NULL, NULL), HDB_OK);
  hdb__vec_hit out[K];
  uint32_t no;
  assert_int_equal(hdb__hnsw_search(re, ctx, g_queries, K, 0, NULL, out, &no, NULL), HDB_OK);
  for (size_t i = 0; i < 3; i++)
    left += !is_del[i];
  assert_int_equal(no, left);
  for (size_t i = 0; i < no; i++)
    assert_true(out[i].id < 103);
  hdb__hnsw_ctx_free(ctx);
  hdb__hnsw_free(re);
  hdb__hnsw_free(idx);
  free(all);
  free(bits);
  free(del);
  free(is_del);
}

static char g_path[256];

static void file_path(const char *name)
{
  const char *dir = getenv("TMPDIR");
  snprintf(g_path, sizeof g_path, "%s/hdb_vec_%ld_%s", dir ? dir : "/tmp", (long)getpid(), name);
}

static void test_persist_identical(void **state)
{
  (void)state;
  file_path("persist.hnsw");
  /* some deletes so the flags travel too */
  hdb__hnsw *src;
  assert_int_equal(hdb__hnsw_new(DIM, HDB_METRIC_COSINE, &(hdb__hnsw_params){.m = 12, .ef_search = 50},
                                 &src, NULL),
                   HDB_OK);
  assert_int_equal(hdb__hnsw_add(src, g_base, NULL, 0, 6000, 2, NULL), HDB_OK);
  uint64_t dels[] = {1, 5, 77, 4000};
  assert_int_equal(hdb__hnsw_delete(src, dels, 4, NULL, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_save(src, g_path, NULL), HDB_OK);
  hdb__hnsw *m;
  hdb_error err;
  assert_int_equal(hdb__hnsw_open(g_path, &m, &err), HDB_OK);
  assert_true(hdb__hnsw_read_only(m));
  assert_int_equal(hdb__hnsw_count(m), 6000);
  assert_int_equal(hdb__hnsw_deleted(m), 4);
  assert_int_equal(hdb__hnsw_metric(m), HDB_METRIC_COSINE);
  assert_int_equal(hdb__hnsw_get_params(m).m, 12);
  assert_int_equal(hdb__hnsw_get_params(m).ef_search, 50);
  assert_int_equal(hdb__hnsw_memory(m), hdb__hnsw_memory(src));
  hdb__hnsw_ctx *c1, *c2;
  assert_int_equal(hdb__hnsw_ctx_new(src, &c1, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_ctx_new(m, &c2, NULL), HDB_OK);
  uint64_t every = 3;
  hdb__vec_filter cb = {.fn = id_is_multiple, .ctx = &every};
  for (size_t q = 0; q < NQ; q++) {
    for (int filtered = 0; filtered < 2; filtered++) {
      hdb__vec_hit a[K], b[K];
      uint32_t na, nb;
      const hdb__vec_filter *flt = filtered ? &cb : NULL;
      assert_int_equal(hdb__hnsw_search(src, c1, g_queries + q * DIM, K, 0, flt, a, &na, NULL), HDB_OK);
      assert_int_equal(hdb__hnsw_search(m, c2, g_queries + q * DIM, K, 0, flt, b, &nb, NULL), HDB_OK);
      assert_int_equal(na, nb);
      for (size_t i = 0; i < na; i++) {
        assert_int_equal(a[i].id, b[i].id);
        assert_true(a[i].dist == b[i].dist);
      }
    }
  }
  /* read-only */
  assert_int_equal(hdb__hnsw_insert(m, g_base, 1, &err), HDB_READ_ONLY);
  assert_int_equal(hdb__hnsw_delete(m, dels, 1, NULL, &err), HDB_READ_ONLY);
  assert_int_equal(hdb__hnsw_reserve(m, 10000, &err), HDB_READ_ONLY);
  /* a writable copy from the mapping */
  hdb__hnsw *w;
  assert_int_equal(hdb__hnsw_rebuild(m, 2, &w, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_count(w), 5996);
  assert_int_equal(hdb__hnsw_insert(w, g_base, 123456, NULL), HDB_OK);
  hdb__hnsw_ctx_free(c1);
  hdb__hnsw_ctx_free(c2);
  hdb__hnsw_free(w);
  hdb__hnsw_free(m);
  hdb__hnsw_free(src);

  /* an empty index round-trips */
  hdb__hnsw *e;
  assert_int_equal(hdb__hnsw_new(3, HDB_METRIC_DOT, NULL, &e, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_save(e, g_path, NULL), HDB_OK);
  hdb__hnsw_free(e);
  assert_int_equal(hdb__hnsw_open(g_path, &e, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_count(e), 0);
  hdb__hnsw_ctx *ce;
  assert_int_equal(hdb__hnsw_ctx_new(e, &ce, NULL), HDB_OK);
  hdb__vec_hit out[2];
  uint32_t no = 9;
  float q3[3] = {1, 2, 3};
  assert_int_equal(hdb__hnsw_search(e, ce, q3, 2, 0, NULL, out, &no, NULL), HDB_OK);
  assert_int_equal(no, 0);
  hdb__hnsw_ctx_free(ce);
  hdb__hnsw_free(e);
  unlink(g_path);
}

/* Reads the whole file into a 64-byte-aligned buffer. */
static unsigned char *slurp(const char *path, size_t *len)
{
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  *len = (size_t)ftell(fp);
  fseek(fp, 0, SEEK_SET);
  unsigned char *b = aligned_alloc(64, (*len + 63) / 64 * 64);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, *len, fp), *len);
  fclose(fp);
  return b;
}

static hdb_status open_copy(const unsigned char *img, size_t len, int reseal)
{
  unsigned char *b = aligned_alloc(64, (len + 64) / 64 * 64);
  memcpy(b, img, len);
  if (reseal)
    hdb__hnsw_file_seal(b, len);
  hdb__hnsw *x = NULL;
  hdb_error err;
  hdb_status st = hdb__hnsw_open_mem(b, len, &x, &err);
  if (st == HDB_OK) {
    hdb__hnsw_free(x);
  } else {
    assert_null(x);
    assert_true(strlen(err.message) > 0);
  }
  free(b);
  return st;
}

static void put32(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void test_corrupt_files(void **state)
{
  (void)state;
  file_path("corrupt.hnsw");
  hdb__hnsw *idx;
  assert_int_equal(hdb__hnsw_new(8, HDB_METRIC_L2, &(hdb__hnsw_params){.m = 4}, &idx, NULL), HDB_OK);
  float v[300 * 8];
  for (size_t i = 0; i < 300 * 8; i++)
    v[i] = (float)((i * 7919) % 101) / 10.0f;
  assert_int_equal(hdb__hnsw_add(idx, v, NULL, 0, 300, 1, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_save(idx, g_path, NULL), HDB_OK);
  hdb__hnsw_free(idx);
  size_t len;
  unsigned char *img = slurp(g_path, &len);
  assert_int_equal(open_copy(img, len, 0), HDB_OK);

  /* any flipped byte: header, padding, vectors, links, trailing (the
   * version field is read before the checksums, which a later version may
   * lay out differently: a flip there reads as a newer version) */
  size_t spots[] = {0, 13, 20, 100, 150, 255, 256, 300, len / 2, len - 1};
  for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
    img[spots[i]] ^= 0x10;
    assert_int_equal(open_copy(img, len, 0), HDB_CORRUPT);
    img[spots[i]] ^= 0x10;
  }
  /* truncated, extended, empty */
  assert_int_equal(open_copy(img, len - 1, 0), HDB_CORRUPT);
  assert_int_equal(open_copy(img, 100, 0), HDB_CORRUPT);
  assert_int_equal(open_copy(img, 0, 0), HDB_CORRUPT);
  /* a newer version (checksums resealed) */
  unsigned char *b = aligned_alloc(64, (len + 64) / 64 * 64);
  memcpy(b, img, len);
  put32(b + 8, 2);
  assert_int_equal(open_copy(b, len, 1), HDB_NOT_SUPPORTED);
  /* structural damage behind valid checksums */
  struct {
    size_t off;
    uint32_t val;
  } edits[] = {
    {16, 0},         /* dim 0 */
    {20, 9},         /* metric */
    {24, 200},       /* m */
    {28, 7},         /* m0 != 2m */
    {48, 300},       /* entry out of range */
    {52, 20},        /* max level */
    {80, 320},       /* section offset */
  };
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
    memcpy(b, img, len);
    put32(b + edits[i].off, edits[i].val);
    assert_int_equal(open_copy(b, len, 1), HDB_CORRUPT);
  }
  /* links: find links0 (offset at header 80 + 5 * 8) and break node 0's list */
  uint64_t links0 = 0;
  for (int i = 7; i >= 0; i--)
    links0 = (links0 << 8) | img[80 + 5 * 8 + i];
  memcpy(b, img, len);
  put32(b + links0, 99); /* count above m0 */
  assert_int_equal(open_copy(b, len, 1), HDB_CORRUPT);
  memcpy(b, img, len);
  put32(b + links0, 1);
  put32(b + links0 + 4, 300); /* neighbor out of range */
  assert_int_equal(open_copy(b, len, 1), HDB_CORRUPT);
  memcpy(b, img, len);
  put32(b + links0 + 4, 0); /* self link */
  assert_int_equal(open_copy(b, len, 1), HDB_CORRUPT);
  /* a deleted flag of 2 */
  uint64_t deleted = 0;
  for (int i = 7; i >= 0; i--)
    deleted = (deleted << 8) | img[80 + 3 * 8 + i];
  memcpy(b, img, len);
  b[deleted] = 2;
  assert_int_equal(open_copy(b, len, 1), HDB_CORRUPT);
  /* resealing an untouched image changes nothing */
  assert_int_equal(open_copy(img, len, 1), HDB_OK);

  /* the same through a file */
  img[len / 3] ^= 1;
  FILE *fp = fopen(g_path, "wb");
  assert_int_equal(fwrite(img, 1, len, fp), len);
  fclose(fp);
  hdb__hnsw *x = NULL;
  hdb_error err;
  assert_int_equal(hdb__hnsw_open(g_path, &x, &err), HDB_CORRUPT);
  assert_null(x);
  assert_non_null(strstr(err.message, g_path));
  unlink(g_path);
  assert_int_equal(hdb__hnsw_open(g_path, &x, &err), HDB_IO);
  assert_int_equal(hdb__hnsw_save(idx = NULL, g_path, &err), HDB_INVALID_ARGUMENT);
  /* unaligned buffer */
  assert_int_equal(hdb__hnsw_open_mem(b + 1, len - 1, &x, &err), HDB_INVALID_ARGUMENT);
  free(b);
  free(img);
}

static void test_arguments(void **state)
{
  (void)state;
  hdb__hnsw *idx = NULL;
  hdb_error err;
  assert_int_equal(hdb__hnsw_new(0, HDB_METRIC_L2, NULL, &idx, &err), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__hnsw_new(8, HDB_METRIC_L2, &(hdb__hnsw_params){.m = 1}, &idx, &err),
                   HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__hnsw_new(8, (hdb_metric)42, NULL, &idx, &err), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__hnsw_new(8, HDB_METRIC_DEFAULT, NULL, &idx, &err), HDB_OK);
  assert_int_equal(hdb__hnsw_metric(idx), HDB_METRIC_L2);
  hdb__hnsw_ctx *ctx;
  assert_int_equal(hdb__hnsw_ctx_new(idx, &ctx, NULL), HDB_OK);
  float q[8] = {0};
  hdb__vec_hit out[4];
  uint32_t no;
  assert_int_equal(hdb__hnsw_search(idx, ctx, q, 0, 0, NULL, out, &no, &err), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__hnsw_search(idx, ctx, q, 4, 0, NULL, out, &no, &err), HDB_OK);
  assert_int_equal(no, 0);
  /* fewer nodes than k; a zero vector; duplicates tie by id */
  float v[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  assert_int_equal(hdb__hnsw_insert(idx, v, 9, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_insert(idx, v, 4, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_insert(idx, q, 7, NULL), HDB_OK);
  assert_int_equal(hdb__hnsw_search(idx, ctx, v, 4, 0, NULL, out, &no, &err), HDB_OK);
  assert_int_equal(no, 3);
  assert_int_equal(out[0].id, 4);
  assert_int_equal(out[1].id, 9);
  assert_int_equal(out[2].id, 7);
  assert_int_equal(hdb__hnsw_add(idx, NULL, NULL, 0, 5, 1, &err), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__hnsw_add(idx, v, NULL, 0, 0, 1, &err), HDB_OK);
  hdb__hnsw_ctx_free(ctx);
  hdb__hnsw_free(idx);
  hdb__hnsw_free(NULL);
  hdb__hnsw_ctx_free(NULL);
}

/* Every allocation of build, search, save and open fails once in turn. */
static void test_nomem(void **state)
{
  (void)state;
  file_path("nomem.hnsw");
  enum { n = 400, dim = 8 };
  int failures = 0;
  for (long i = 0;; i++) {
    hdb__hnsw *idx = NULL, *m = NULL;
    hdb__hnsw_ctx *ctx = NULL;
    hdb__vec_hit out[5];
    uint32_t no;
    hdb__alloc_fail_after(i);
    hdb_status st = hdb__hnsw_new(dim, HDB_METRIC_COSINE, &(hdb__hnsw_params){.m = 4}, &idx, NULL);
    if (st == HDB_OK)
      st = hdb__hnsw_add(idx, g_base, NULL, 0, n, 2, NULL);
    if (st == HDB_OK)
      st = hdb__hnsw_ctx_new(idx, &ctx, NULL);
    if (st == HDB_OK)
      st = hdb__hnsw_search(idx, ctx, g_queries, 5, 0, NULL, out, &no, NULL);
    if (st == HDB_OK)
      st = hdb__hnsw_save(idx, g_path, NULL);
    if (st == HDB_OK)
      st = hdb__hnsw_open(g_path, &m, NULL);
    hdb__alloc_fail_after(-1);
    hdb__hnsw_ctx_free(ctx);
    hdb__hnsw_free(m);
    hdb__hnsw_free(idx);
    if (st == HDB_OK)
      break;
    assert_int_equal(st, HDB_NOMEM);
    failures++;
  }
  assert_true(failures > 5);
  unlink(g_path);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_recall_default),     cmocka_unit_test(test_metrics_and_determinism),
    cmocka_unit_test(test_filtered),           cmocka_unit_test(test_delete_and_rebuild),
    cmocka_unit_test(test_persist_identical),  cmocka_unit_test(test_corrupt_files),
    cmocka_unit_test(test_arguments),          cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
