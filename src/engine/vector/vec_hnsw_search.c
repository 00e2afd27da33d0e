/*
 * vec_hnsw_search.c - searching an HNSW graph: greedy descent through the
 * upper levels, beam search on level 0, filtered traversal, the exact
 * fallback and the per-query choice between them.
 *
 * A search allocates nothing once its context has grown to the index: the
 * visited set is an array of epoch tags (a node is visited when its tag
 * equals the current epoch; bumping the epoch clears the set in O(1), and a
 * wrap to 0 clears the array once per 2^32 searches). Before scoring a
 * node's neighbors, their tags and vectors are prefetched.
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

/* ---- heaps of (distance, node) ---- */

static void cand_push(hdb__hnsw_ctx *c, hnsw_pair x)
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

static hnsw_pair cand_pop(hdb__hnsw_ctx *c)
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

static void res_push(hdb__hnsw_ctx *c, hnsw_pair x)
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

static void res_pop(hdb__hnsw_ctx *c)
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
    uint32_t *v = hdb__realloc(ctx->visit, (size_t)nodes * sizeof *v);
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

static uint32_t next_epoch(hdb__hnsw_ctx *ctx)
{
  if (++ctx->epoch == 0) {
    memset(ctx->visit, 0, (size_t)ctx->visit_cap * sizeof *ctx->visit);
    ctx->epoch = 1;
  }
  return ctx->epoch;
}

/* The node's list on `level`; under a stripe lock it is copied to nbuf. */
static const uint32_t *read_links(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, uint32_t node,
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

void hdb__hnsw_greedy(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *q, uint32_t *cur,
                      float *curd, int level, int locked)
{
  int changed = 1;
  while (changed) {
    changed = 0;
    const uint32_t *l = read_links(idx, ctx, *cur, level, locked);
    uint32_t cnt = l[0];
    for (uint32_t i = 0; i < cnt; i++) {
      uint32_t nb = l[1 + i];
      if (i + 1 < cnt)
        __builtin_prefetch(hnsw_vec(idx, l[2 + i]));
      float d = hnsw_dist(idx, q, hnsw_vec(idx, nb));
      if (d < *curd || (d == *curd && nb < *cur)) {
        *curd = d;
        *cur = nb;
        changed = 1;
      }
    }
  }
}

static int admit(const hdb__hnsw *idx, uint32_t node, const hdb__vec_filter *filter,
                 int query_mode)
{
  if (!query_mode)
    return 1;
  return !idx->deleted[node] && hdb__vec_filter_pass(filter, idx->ids[node]);
}

hdb_status hdb__hnsw_search_layer(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *q,
                                  uint32_t ep, uint32_t ef, int level,
                                  const hdb__vec_filter *filter, int query_mode, int locked,
                                  int *exhausted, hdb_error *err)
{
  uint32_t tag = next_epoch(ctx);
  uint32_t *visit = ctx->visit;
  ctx->n_cand = 0;
  ctx->n_res = 0;
  hnsw_pair e = {hnsw_dist(idx, q, hnsw_vec(idx, ep)), ep};
  visit[ep] = tag;
  cand_push(ctx, e);
  if (admit(idx, ep, filter, query_mode))
    res_push(ctx, e);
  while (ctx->n_cand > 0) {
    if (ctx->n_res >= ef && ctx->cand[0].d > ctx->res[0].d)
      break;
    hnsw_pair c = cand_pop(ctx);
    const uint32_t *l = read_links(idx, ctx, c.node, level, locked);
    uint32_t cnt = l[0];
    for (uint32_t i = 0; i < cnt; i++)
      __builtin_prefetch(visit + l[1 + i]);
    if (cnt > 0)
      __builtin_prefetch(hnsw_vec(idx, l[1]));
    if (ctx->cand_cap < ctx->n_cand + cnt &&
        !grow((void **)&ctx->cand, &ctx->cand_cap, ctx->n_cand + cnt, sizeof(hnsw_pair)))
      return hdb__fail(err, HDB_NOMEM, "hnsw: out of memory for the candidate queue");
    for (uint32_t i = 0; i < cnt; i++) {
      uint32_t nb = l[1 + i];
      if (i + 1 < cnt)
        __builtin_prefetch(hnsw_vec(idx, l[2 + i]));
      if (visit[nb] == tag)
        continue;
      visit[nb] = tag;
      float d = hnsw_dist(idx, q, hnsw_vec(idx, nb));
      if (ctx->n_res < ef || d < ctx->res[0].d) {
        hnsw_pair x = {d, nb};
        cand_push(ctx, x);
        if (admit(idx, nb, filter, query_mode)) {
          res_push(ctx, x);
          if (ctx->n_res > ef)
            res_pop(ctx);
        }
      }
    }
  }
  if (exhausted != NULL)
    *exhausted = ctx->n_cand == 0;
  return HDB_OK;
}

static int pair_cmp(const void *a, const void *b)
{
  const hnsw_pair *x = a, *y = b;
  return hnsw_pair_less(*x, *y) ? -1 : hnsw_pair_less(*y, *x) ? 1 : 0;
}

uint32_t hdb__hnsw_res_sorted(hdb__hnsw_ctx *ctx)
{
  uint32_t n = ctx->n_res;
  memcpy(ctx->tmp, ctx->res, (size_t)n * sizeof *ctx->tmp);
  qsort(ctx->tmp, n, sizeof *ctx->tmp, pair_cmp);
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
