/*
 * vec_hnsw_search.c - searching an HNSW graph: greedy descent through the
 * upper levels, beam search on level 0, filtered traversal, the exact
 * fallback and the per-query choice between them.
 *
 * A search allocates nothing once its context has grown to the index: the
 * visited set is an array of 16-bit epoch tags (a node is visited when its
 * tag equals the current epoch; bumping the epoch clears the set in O(1),
 * and a wrap past 65535 clears the array once per 65535 searches). Before
 * scoring a node's neighbors, their tags and vectors are prefetched.
 *
 * The hot loops (vec_hnsw_layer.h) are instantiated per kernel level
 * (AVX-512, AVX2, the table) and, for the vector kernels, for dimension
 * 128 and 768 as constants; the one matching idx->k runs, so a search
 * gives the same answer whatever instantiation serves it.
 *
 * Filtered search keeps the graph whole: every reachable node may become a
 * candidate (it routes the walk), but only live eligible nodes enter the
 * result heap, and the stop rule ("the nearest candidate is farther than
 * the worst result") applies only once the result heap holds ef nodes. So
 * the beam widens by itself at low selectivity, up to exhausting what the
 * entry point reaches; fewer than k found means an exact scan answers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "vec_hnsw_int.h"
#include "vec_kernels_row.h"

/* The helpers of the hot loops are always inlined: into an instantiation
 * compiled for AVX-512 or AVX2 they are then VEX-encoded too. A call to
 * plain SSE code with the vector registers' upper halves dirty costs a
 * state transition per call, which measured 2x slower. */
#define HOT static inline __attribute__((always_inline))

/* ---- heaps of (distance, node) ---- */

HOT void cand_push(hdb__hnsw_ctx *c, hnsw_pair x)
{
  hnsw_pair *h = c->cand;
  uint32_t i = c->n_cand++;
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (!hnsw_pair_less(x, h[p]))
      break;
    h[i] = h[p];
    i = p;
  }
  h[i] = x;
}

HOT hnsw_pair cand_pop(hdb__hnsw_ctx *c)
{
  hnsw_pair *h = c->cand, top = h[0], x = h[--c->n_cand];
  uint32_t i = 0, n = c->n_cand;
  for (;;) {
    uint32_t l = 2 * i + 1;
    if (l >= n)
      break;
    if (l + 1 < n && hnsw_pair_less(h[l + 1], h[l]))
      l++;
    if (!hnsw_pair_less(h[l], x))
      break;
    h[i] = h[l];
    i = l;
  }
  if (n > 0)
    h[i] = x;
  return top;
}

HOT void res_push(hdb__hnsw_ctx *c, hnsw_pair x)
{
  hnsw_pair *h = c->res;
  uint32_t i = c->n_res++;
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (!hnsw_pair_less(h[p], x))
      break;
    h[i] = h[p];
    i = p;
  }
  h[i] = x;
}

HOT void res_pop(hdb__hnsw_ctx *c)
{
  hnsw_pair *h = c->res, x = h[--c->n_res];
  uint32_t i = 0, n = c->n_res;
  for (;;) {
    uint32_t l = 2 * i + 1;
    if (l >= n)
      break;
    if (l + 1 < n && hnsw_pair_less(h[l], h[l + 1]))
      l++;
    if (!hnsw_pair_less(x, h[l]))
      break;
    h[i] = h[l];
    i = l;
  }
  if (n > 0)
    h[i] = x;
}

/* ---- context ---- */

static int grow(void **p, uint32_t *cap, uint32_t want, size_t elem)
{
  if (*cap >= want)
    return 1;
  uint32_t nc = *cap ? *cap : 16;
  while (nc < want)
    nc = nc > 0x7FFFFFFFu ? want : nc * 2;
  void *q = hdb__realloc(*p, (size_t)nc * elem);
  if (q == NULL)
    return 0;
  *p = q;
  *cap = nc;
  return 1;
}

hdb_status hdb__hnsw_ctx_fit(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, uint32_t ef, hdb_error *err)
{
  uint32_t nodes = idx->cap > idx->n ? idx->cap : idx->n;
  if (ctx->visit_cap < nodes) {
    uint16_t *v = hdb__realloc(ctx->visit, (size_t)nodes * sizeof *v);
    if (v == NULL)
      return hdb__fail(err, HDB_NOMEM, "hnsw: out of memory for the visited set");
    memset(v + ctx->visit_cap, 0, (size_t)(nodes - ctx->visit_cap) * sizeof *v);
    /* new slots hold tag 0, which no live epoch uses */
    ctx->visit = v;
    ctx->visit_cap = nodes;
  }
  uint32_t small = (ef > idx->m0 ? ef : idx->m0) + 2;
  if (!grow((void **)&ctx->res, &ctx->res_cap, small, sizeof(hnsw_pair)) ||
      !grow((void **)&ctx->tmp, &ctx->tmp_cap, small, sizeof(hnsw_pair)) ||
      !grow((void **)&ctx->cand, &ctx->cand_cap, small * 2, sizeof(hnsw_pair)) ||
      !grow((void **)&ctx->conn, &ctx->conn_cap, idx->m0 + 2, sizeof(hnsw_pair)) ||
      !grow((void **)&ctx->nbuf, &ctx->nbuf_cap, idx->m0 + 1, sizeof(uint32_t)) ||
      !grow((void **)&ctx->batch, &ctx->batch_cap, idx->m0 + 1, sizeof(uint32_t)) ||
      !grow((void **)&ctx->hits, &ctx->hits_cap, small, sizeof(hdb__vec_hit)))
    return hdb__fail(err, HDB_NOMEM, "hnsw: out of memory for the search heaps");
  if (ctx->qcap < idx->dim) {
    float *q = hdb__realloc(ctx->qbuf, (size_t)idx->dim * sizeof *q);
    if (q == NULL)
      return hdb__fail(err, HDB_NOMEM, "hnsw: out of memory for the query");
    ctx->qbuf = q;
    ctx->qcap = idx->dim;
  }
  return HDB_OK;
}

hdb_status hdb__hnsw_ctx_new(const hdb__hnsw *idx, hdb__hnsw_ctx **out, hdb_error *err)
{
  if (idx == NULL || out == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw: missing argument");
  *out = NULL;
  hdb__hnsw_ctx *ctx = hdb__calloc(1, sizeof *ctx);
  if (ctx == NULL)
    return hdb__fail(err, HDB_NOMEM, "hnsw: out of memory");
  hdb_status st = hdb__hnsw_ctx_fit(idx, ctx, idx->efs, err);
  if (st != HDB_OK) {
    hdb__hnsw_ctx_free(ctx);
    return st;
  }
  *out = ctx;
  return HDB_OK;
}

void hdb__hnsw_ctx_free(hdb__hnsw_ctx *ctx)
{
  if (ctx == NULL)
    return;
  hdb__free_mem(ctx->visit);
  hdb__free_mem(ctx->cand);
  hdb__free_mem(ctx->res);
  hdb__free_mem(ctx->tmp);
  hdb__free_mem(ctx->nbuf);
  hdb__free_mem(ctx->batch);
  hdb__free_mem(ctx->conn);
  hdb__free_mem(ctx->qbuf);
  hdb__free_mem(ctx->hits);
  hdb__free_mem(ctx);
}

const float *hdb__hnsw_prepare_query(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *q)
{
  memcpy(ctx->qbuf, q, (size_t)idx->dim * sizeof *q);
  if (idx->kind == HNSW_COS) {
    float nn = idx->k->dot(q, q, idx->dim);
    if (nn > 0.0f && isfinite(nn)) {
      float inv = (float)(1.0 / sqrt((double)nn));
      for (uint32_t i = 0; i < idx->dim; i++)
        ctx->qbuf[i] *= inv;
    } else if (nn > 0.0f) {
      double s = 0.0;
      for (uint32_t i = 0; i < idx->dim; i++)
        s += (double)q[i] * (double)q[i];
      for (uint32_t i = 0; i < idx->dim; i++)
        ctx->qbuf[i] = (float)((double)q[i] / sqrt(s));
    }
  }
  return ctx->qbuf;
}

HOT uint32_t next_epoch(hdb__hnsw_ctx *ctx)
{
  if (++ctx->epoch > 0xFFFFu) {
    memset(ctx->visit, 0, (size_t)ctx->visit_cap * sizeof *ctx->visit);
    ctx->epoch = 1;
  }
  return ctx->epoch;
}

/* The node's list on `level`; under a stripe lock it is copied to nbuf. */
HOT const uint32_t *read_links(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, uint32_t node,
                               int level, int locked)
{
  const uint32_t *l = hnsw_links(idx, node, level);
  if (!locked)
    return l;
  pthread_mutex_lock(hnsw_lock(idx, node));
  memcpy(ctx->nbuf, l, (size_t)(1 + l[0]) * sizeof *l);
  pthread_mutex_unlock(hnsw_lock(idx, node));
  return ctx->nbuf;
}

HOT int admit(const hdb__hnsw *idx, uint32_t node, const hdb__vec_filter *filter,
              int query_mode)
{
  if (!query_mode)
    return 1;
  return !idx->deleted[node] && hdb__vec_filter_pass(filter, idx->ids[node]);
}

/* ---- the hot loops, one instantiation per kernel level / dimension ---- */

#define LAYER_SEARCH layer_table
#define LAYER_GREEDY greedy_table
#define LAYER_ATTR
#define LAYER_DIST(q, v) hnsw_dist(idx, (q), (v))
#include "vec_hnsw_layer.h"

#ifdef HDB__VEC_HAVE_X86
/* hnsw_dist with the row kernels inlined: the same expressions, so the
 * same floats. */
HDB__TGT512_INLINE float dist_avx512(hnsw_kind kind, const float *q, const float *v, size_t dim)
{
  if (kind == HNSW_L2)
    return hdb__l2sq_row_avx512(q, v, dim);
  float d = hdb__dot_row_avx512(q, v, dim);
  if (kind == HNSW_DOT)
    return -d;
  d = 1.0f - d;
  return d < 0.0f ? 0.0f : d > 2.0f ? 2.0f : d;
}

HDB__TGT2_INLINE float dist_avx2(hnsw_kind kind, const float *q, const float *v, size_t dim)
{
  if (kind == HNSW_L2)
    return hdb__l2sq_row_avx2(q, v, dim);
  float d = hdb__dot_row_avx2(q, v, dim);
  if (kind == HNSW_DOT)
    return -d;
  d = 1.0f - d;
  return d < 0.0f ? 0.0f : d > 2.0f ? 2.0f : d;
}

#define T512 __attribute__((target("avx512f")))
#define T2 __attribute__((target("avx2,fma,f16c")))

#define LAYER_SEARCH layer_avx512
#define LAYER_GREEDY greedy_avx512
#define LAYER_ATTR T512
#define LAYER_DIST(q, v) dist_avx512(idx->kind, (q), (v), idx->dim)
#include "vec_hnsw_layer.h"
#define LAYER_SEARCH layer_avx512_128
#define LAYER_GREEDY greedy_avx512_128
#define LAYER_ATTR T512
#define LAYER_DIST(q, v) dist_avx512(idx->kind, (q), (v), 128)
#include "vec_hnsw_layer.h"
#define LAYER_SEARCH layer_avx512_768
#define LAYER_GREEDY greedy_avx512_768
#define LAYER_ATTR T512
#define LAYER_DIST(q, v) dist_avx512(idx->kind, (q), (v), 768)
#include "vec_hnsw_layer.h"
#define LAYER_SEARCH layer_avx2
#define LAYER_GREEDY greedy_avx2
#define LAYER_ATTR T2
#define LAYER_DIST(q, v) dist_avx2(idx->kind, (q), (v), idx->dim)
#include "vec_hnsw_layer.h"
#define LAYER_SEARCH layer_avx2_128
#define LAYER_GREEDY greedy_avx2_128
#define LAYER_ATTR T2
#define LAYER_DIST(q, v) dist_avx2(idx->kind, (q), (v), 128)
#include "vec_hnsw_layer.h"
#define LAYER_SEARCH layer_avx2_768
#define LAYER_GREEDY greedy_avx2_768
#define LAYER_ATTR T2
#define LAYER_DIST(q, v) dist_avx2(idx->kind, (q), (v), 768)
#include "vec_hnsw_layer.h"
#endif

typedef hdb_status (*layer_fn)(const hdb__hnsw *, hdb__hnsw_ctx *, const float *, uint32_t,
                               uint32_t, int, const hdb__vec_filter *, int, int, int *,
                               hdb_error *);
typedef void (*greedy_fn)(const hdb__hnsw *, hdb__hnsw_ctx *, const float *, uint32_t *, float *,
                          int, int);

/* The instantiation for idx's kernel level (idx->k, which HANZO_SIMD may
 * have lowered below the CPU's) and dimension. */
static void pick(const hdb__hnsw *idx, layer_fn *lf, greedy_fn *gf)
{
#ifdef HDB__VEC_HAVE_X86
  if (idx->k->level == HDB__SIMD_AVX512) {
    *lf = idx->dim == 128 ? layer_avx512_128 : idx->dim == 768 ? layer_avx512_768 : layer_avx512;
    *gf = idx->dim == 128   ? greedy_avx512_128
          : idx->dim == 768 ? greedy_avx512_768
                            : greedy_avx512;
    return;
  }
  if (idx->k->level == HDB__SIMD_AVX2) {
    *lf = idx->dim == 128 ? layer_avx2_128 : idx->dim == 768 ? layer_avx2_768 : layer_avx2;
    *gf = idx->dim == 128 ? greedy_avx2_128 : idx->dim == 768 ? greedy_avx2_768 : greedy_avx2;
    return;
  }
#endif
  *lf = layer_table;
  *gf = greedy_table;
}

void hdb__hnsw_greedy(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *q, uint32_t *cur,
                      float *curd, int level, int locked)
{
  layer_fn lf;
  greedy_fn gf;
  pick(idx, &lf, &gf);
  gf(idx, ctx, q, cur, curd, level, locked);
}

hdb_status hdb__hnsw_search_layer(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *q,
                                  uint32_t ep, uint32_t ef, int level,
                                  const hdb__vec_filter *filter, int query_mode, int locked,
                                  int *exhausted, hdb_error *err)
{
  layer_fn lf;
  greedy_fn gf;
  pick(idx, &lf, &gf);
  return lf(idx, ctx, q, ep, ef, level, filter, query_mode, locked, exhausted, err);
}

/* Quicksort (Hoare partition around the middle element, recursion on the
 * smaller side, insertion sort below 16) with the comparison inlined: the
 * result heap of every level of every insert is sorted here, and qsort's
 * call per comparison was ~12% of a build. */
static void sort_pairs(hnsw_pair *a, uint32_t n)
{
  while (n > 16) {
    hnsw_pair p = a[(n - 1) / 2];
    uint32_t i = 0, j = n - 1;
    for (;;) {
      while (hnsw_pair_less(a[i], p))
        i++;
      while (hnsw_pair_less(p, a[j]))
        j--;
      if (i >= j)
        break;
      hnsw_pair t = a[i];
      a[i] = a[j];
      a[j] = t;
      i++;
      j--;
    }
    /* [0, j] holds pairs <= p, [j + 1, n) pairs >= p; both are non-empty */
    uint32_t left = j + 1;
    if (left < n - left) {
      sort_pairs(a, left);
      a += left;
      n -= left;
    } else {
      sort_pairs(a + left, n - left);
      n = left;
    }
  }
  hnsw_sort_small(a, n);
}

uint32_t hdb__hnsw_res_sorted(hdb__hnsw_ctx *ctx)
{
  uint32_t n = ctx->n_res;
  memcpy(ctx->tmp, ctx->res, (size_t)n * sizeof *ctx->tmp);
  sort_pairs(ctx->tmp, n);
  ctx->n_res = 0;
  return n;
}

static hdb_status check_args(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *query,
                             uint32_t k, hdb__vec_hit *out, uint32_t *n_out, hdb_error *err)
{
  if (idx == NULL || ctx == NULL || query == NULL || out == NULL || n_out == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw search: missing argument");
  *n_out = 0;
  if (k == 0)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw search: k must be >= 1");
  return HDB_OK;
}

hdb_status hdb__hnsw_search_exact(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *query,
                                  uint32_t k, const hdb__vec_filter *filter, hdb__vec_hit *out,
                                  uint32_t *n_out, hdb_error *err)
{
  hdb_status st = check_args(idx, ctx, query, k, out, n_out, err);
  if (st != HDB_OK || (st = hdb__hnsw_ctx_fit(idx, ctx, 0, err)) != HDB_OK)
    return st;
  const float *q = hdb__hnsw_prepare_query(idx, ctx, query);
  hdb__vec_topk t;
  hdb__vec_topk_init(&t, out, k);
  for (uint32_t i = 0; i < idx->n; i++) {
    if (idx->deleted[i] || !hdb__vec_filter_pass(filter, idx->ids[i]))
      continue;
    if (i + 4 < idx->n)
      __builtin_prefetch(hnsw_vec(idx, i + 4));
    hdb__vec_topk_push(&t, idx->ids[i], hnsw_dist(idx, q, hnsw_vec(idx, i)));
  }
  hdb__vec_hits_sort(out, t.n);
  *n_out = t.n;
  return HDB_OK;
}

hdb_status hdb__hnsw_search(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *query,
                            uint32_t k, uint32_t ef, const hdb__vec_filter *filter,
                            hdb__vec_hit *out, uint32_t *n_out, hdb_error *err)
{
  hdb_status st = check_args(idx, ctx, query, k, out, n_out, err);
  if (st != HDB_OK)
    return st;
  if (idx->n == 0 || idx->max_level < 0)
    return HDB_OK;
  if (ef == 0)
    ef = idx->efs;
  if (ef < k)
    ef = k;
  if ((st = hdb__hnsw_ctx_fit(idx, ctx, ef, err)) != HDB_OK)
    return st;
  const float *q = hdb__hnsw_prepare_query(idx, ctx, query);
  uint32_t cur = idx->entry;
  float curd = hnsw_dist(idx, q, hnsw_vec(idx, cur));
  for (int l = idx->max_level; l > 0; l--)
    hdb__hnsw_greedy(idx, ctx, q, &cur, &curd, l, 0);
  int exhausted = 0;
  st = hdb__hnsw_search_layer(idx, ctx, q, cur, ef, 0, filter, 1, 0, &exhausted, err);
  if (st != HDB_OK)
    return st;
  uint32_t n = ctx->n_res;
  if (n < k) /* unreachable or too few eligible nodes: the exact answer */
    return hdb__hnsw_search_exact(idx, ctx, query, k, filter, out, n_out, err);
  n = hdb__hnsw_res_sorted(ctx);
  for (uint32_t i = 0; i < n; i++) {
    ctx->hits[i].id = idx->ids[ctx->tmp[i].node];
    ctx->hits[i].dist = ctx->tmp[i].d;
  }
  /* the order by node may differ from the order by id on equal distances */
  hdb__vec_hits_sort(ctx->hits, n);
  memcpy(out, ctx->hits, (size_t)k * sizeof *out);
  *n_out = k;
  return HDB_OK;
}

double hdb__hnsw_selectivity(const hdb__hnsw *idx, const hdb__vec_filter *filter)
{
  if (idx == NULL || idx->n == 0)
    return 0.0;
  double live = (double)(idx->n - idx->n_deleted) / (double)idx->n;
  if (filter == NULL || (filter->bits == NULL && filter->fn == NULL))
    return live;
  if (filter->fn == NULL) {
    uint64_t words = (filter->n_bits + 63) / 64, count = 0;
    for (uint64_t w = 0; w < words; w++) {
      uint64_t x = filter->bits[w];
      if (w == words - 1 && (filter->n_bits & 63))
        x &= (UINT64_C(1) << (filter->n_bits & 63)) - 1;
      count += (uint64_t)__builtin_popcountll(x);
    }
    double s = (double)count / (double)idx->n;
    return (s > 1.0 ? 1.0 : s) * live;
  }
  uint32_t samples = idx->n < 1024 ? idx->n : 1024, pass = 0;
  for (uint32_t i = 0; i < samples; i++) {
    uint32_t node = (uint32_t)((uint64_t)i * idx->n / samples);
    pass += !idx->deleted[node] && hdb__vec_filter_pass(filter, idx->ids[node]);
  }
  return (double)pass / (double)samples;
}

/*
 * Graph cost ~ ef * m0 / s distance computations (the beam must collect ef
 * eligible nodes, seeing ~1/s nodes per eligible one, scoring each node's
 * m0 neighbors), each about 3x a sequential one (random access). Exact cost
 * ~ s * n distances plus n cheap eligibility checks (~1/16 of a distance).
 */
hdb__hnsw_plan hdb__hnsw_choose_plan(const hdb__hnsw *idx, double selectivity, uint32_t k,
                                     uint32_t ef)
{
  if (idx == NULL || idx->n == 0)
    return HDB__HNSW_PLAN_EXACT;
  double efe = (double)((ef ? ef : idx->efs) > k ? (ef ? ef : idx->efs) : k);
  double s = selectivity > 1e-9 ? selectivity : 1e-9;
  double n = (double)idx->n;
  double exact = s * n + n / 16.0;
  double graph = 3.0 * efe * (double)idx->m0 / s;
  return exact <= graph ? HDB__HNSW_PLAN_EXACT : HDB__HNSW_PLAN_GRAPH;
}

hdb_status hdb__hnsw_search_auto(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *query,
                                 uint32_t k, uint32_t ef, const hdb__vec_filter *filter,
                                 hdb__vec_hit *out, uint32_t *n_out, hdb__hnsw_plan *plan,
                                 hdb_error *err)
{
  hdb_status st = check_args(idx, ctx, query, k, out, n_out, err);
  if (st != HDB_OK)
    return st;
  hdb__hnsw_plan p = hdb__hnsw_choose_plan(idx, hdb__hnsw_selectivity(idx, filter), k, ef);
  if (plan != NULL)
    *plan = p;
  if (p == HDB__HNSW_PLAN_EXACT)
    return hdb__hnsw_search_exact(idx, ctx, query, k, filter, out, n_out, err);
  return hdb__hnsw_search(idx, ctx, query, k, ef, filter, out, n_out, err);
}
