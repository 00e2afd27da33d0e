/*
 * vec_hnsw_build.c - creating and changing an HNSW index: insert, the
 * parallel build, delete (mark) and rebuild (repair).
 *
 * Insert follows the paper: draw the node's top level L from a geometric
 * law (mult 1/ln m; the draw hashes the seed with the node number, so a
 * build is reproducible and threads need no shared RNG), descend greedily
 * to L + 1, then on each level L..0 run a beam search of width
 * ef_construction, keep up to m neighbors by the diversity heuristic (a
 * candidate is kept only if it is closer to the new node than to every
 * neighbor already kept), link both ways, and shrink a neighbor's full list
 * with the same heuristic.
 *
 * The parallel build (hdb__hnsw_add with threads > 1) stores every new
 * node first (vectors, levels, empty lists), then threads take node
 * numbers from an atomic counter and link them. Lists are guarded by 1024
 * striped mutexes; a thread holds at most one stripe at a time (it copies a
 * list out to read it), so stripes need no order (vec_hnsw_int.h, rule 4).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "vec_hnsw_int.h"

void hdb__hnsw_derive(hdb__hnsw *idx)
{
  idx->kind = idx->metric == HDB_METRIC_COSINE ? HNSW_COS
              : idx->metric == HDB_METRIC_DOT  ? HNSW_DOT
                                               : HNSW_L2;
  idx->level_mult = 1.0 / log((double)idx->m);
  idx->k = hdb__vec_kernels_get();
}

hdb_status hdb__hnsw_new(uint32_t dim, hdb_metric metric, const hdb__hnsw_params *p,
                         hdb__hnsw **out, hdb_error *err)
{
  if (out == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw: missing argument");
  *out = NULL;
  if (dim == 0 || dim > HDB_MAX_VECTOR_DIM)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw: dimension %u out of 1..%u", dim,
                     HDB_MAX_VECTOR_DIM);
  if (metric != HDB_METRIC_DEFAULT && metric != HDB_METRIC_L2 && metric != HDB_METRIC_COSINE &&
      metric != HDB_METRIC_DOT)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw: unknown metric %d", (int)metric);
  hdb__hnsw_params q = p ? *p : (hdb__hnsw_params){0};
  if (q.m == 0)
    q.m = HDB__HNSW_DEFAULT_M;
  if (q.ef_construction == 0)
    q.ef_construction = HDB__HNSW_DEFAULT_EF_CONSTRUCTION;
  if (q.ef_search == 0)
    q.ef_search = HDB__HNSW_DEFAULT_EF_SEARCH;
  if (q.seed == 0)
    q.seed = HDB__HNSW_DEFAULT_SEED;
  if (q.m < 2 || q.m > HDB__HNSW_MAX_M)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw: m %u out of 2..%u", q.m, HDB__HNSW_MAX_M);
  if (q.ef_construction > 100000 || q.ef_search > 100000)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw: ef above 100000");

  hdb__hnsw *idx = hdb__calloc(1, sizeof *idx);
  pthread_mutex_t *locks = hdb__malloc(HDB__HNSW_LOCKS * sizeof *locks);
  if (idx == NULL || locks == NULL) {
    hdb__free_mem(idx);
    hdb__free_mem(locks);
    return hdb__fail(err, HDB_NOMEM, "hnsw: out of memory");
  }
  idx->dim = dim;
  idx->metric = metric == HDB_METRIC_DEFAULT ? HDB_METRIC_L2 : metric;
  idx->m = q.m;
  idx->m0 = 2 * q.m;
  idx->efc = q.ef_construction;
  idx->efs = q.ef_search;
  idx->seed = q.seed;
  idx->max_level = -1;
  hdb__hnsw_derive(idx);
  for (uint32_t i = 0; i < HDB__HNSW_LOCKS; i++)
    pthread_mutex_init(&locks[i], NULL);
  idx->locks = locks;
  pthread_mutex_init(&idx->ep_lock, NULL);
  idx->ep_lock_ok = 1;
  *out = idx;
  return HDB_OK;
}

void hdb__hnsw_free(hdb__hnsw *idx)
{
  if (idx == NULL)
    return;
  if (idx->read_only) {
    if (idx->map_owned)
      hdb__hnsw_unmap(idx->map, idx->map_len);
  } else {
    hdb__vec_free_aligned(idx->vecs);
    hdb__free_mem(idx->ids);
    hdb__free_mem(idx->levels);
    hdb__free_mem(idx->deleted);
    hdb__free_mem(idx->upper_off);
    hdb__free_mem(idx->links0);
    hdb__free_mem(idx->upper);
  }
  if (idx->locks != NULL) {
    for (uint32_t i = 0; i < HDB__HNSW_LOCKS; i++)
      pthread_mutex_destroy(&idx->locks[i]);
    hdb__free_mem(idx->locks);
  }
  if (idx->ep_lock_ok)
    pthread_mutex_destroy(&idx->ep_lock);
  hdb__hnsw_ctx_free(idx->wctx);
  hdb__free_mem(idx);
}

static hdb_status refuse_read_only(const hdb__hnsw *idx, hdb_error *err)
{
  return hdb__fail(err, HDB_READ_ONLY, "hnsw: index opened from a file is read-only");
}

/* Grows *p (n elements used) to cap elements; 0 when out of memory. */
static int regrow(void **p, size_t cap, size_t elem)
{
  void *q = hdb__realloc(*p, cap * elem);
  if (q == NULL)
    return 0;
  *p = q;
  return 1;
}

hdb_status hdb__hnsw_reserve(hdb__hnsw *idx, size_t cap, hdb_error *err)
{
  if (idx == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw: missing index");
  if (idx->read_only)
    return refuse_read_only(idx, err);
  if (cap <= idx->cap)
    return HDB_OK;
  if (cap > HDB__HNSW_MAX_NODES)
    return hdb__fail(err, HDB_TOO_BIG, "hnsw: more than %u nodes", HDB__HNSW_MAX_NODES);
  size_t vbytes = cap * (size_t)idx->dim * sizeof(float);
  float *v = hdb__vec_alloc_aligned(vbytes, 64);
  if (v == NULL)
    return hdb__fail(err, HDB_NOMEM, "hnsw: out of memory for %zu vectors", cap);
  if (idx->n > 0)
    memcpy(v, idx->vecs, (size_t)idx->n * idx->dim * sizeof(float));
  /* Each array grows on its own; cap moves only when all have grown, and
   * a larger array than cap is harmless. */
  if (!regrow((void **)&idx->ids, cap, sizeof *idx->ids) ||
      !regrow((void **)&idx->levels, cap, 1) || !regrow((void **)&idx->deleted, cap, 1) ||
      !regrow((void **)&idx->upper_off, cap, sizeof *idx->upper_off) ||
      !regrow((void **)&idx->links0, cap * (1 + (size_t)idx->m0), sizeof *idx->links0)) {
    hdb__vec_free_aligned(v);
    return hdb__fail(err, HDB_NOMEM, "hnsw: out of memory for %zu nodes", cap);
  }
  hdb__vec_free_aligned(idx->vecs);
  idx->vecs = v;
  idx->cap = (uint32_t)cap;
  return HDB_OK;
}

static hdb_status upper_reserve(hdb__hnsw *idx, uint64_t words, hdb_error *err)
{
  if (words <= idx->upper_cap)
    return HDB_OK;
  if (words >= HDB__HNSW_NONE)
    return hdb__fail(err, HDB_TOO_BIG, "hnsw: upper levels too large");
  uint64_t nc = idx->upper_cap ? idx->upper_cap : 1024;
  while (nc < words)
    nc *= 2;
  if (nc >= HDB__HNSW_NONE)
    nc = words;
  if (!regrow((void **)&idx->upper, (size_t)nc, sizeof *idx->upper))
    return hdb__fail(err, HDB_NOMEM, "hnsw: out of memory for upper levels");
  idx->upper_cap = nc;
  return HDB_OK;
}

static uint64_t splitmix64(uint64_t x)
{
  x += UINT64_C(0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

static int draw_level(const hdb__hnsw *idx, uint32_t node)
{
  uint64_t x = splitmix64(idx->seed ^ ((uint64_t)node * UINT64_C(0xD1B54A32D192ED03)));
  double u = (double)((x >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
  double l = -log(u) * idx->level_mult;
  return l >= HDB__HNSW_MAX_LEVEL ? HDB__HNSW_MAX_LEVEL : (int)l;
}

/* Writes node `node`'s data; its upper lists start at *upper_pos. */
static void store_node(hdb__hnsw *idx, uint32_t node, const float *vec, uint64_t id, int level,
                       uint64_t *upper_pos)
{
  float *dst = idx->vecs + (size_t)node * idx->dim;
  memcpy(dst, vec, (size_t)idx->dim * sizeof *dst);
  if (idx->kind == HNSW_COS) {
    double s = 0.0;
    for (uint32_t i = 0; i < idx->dim; i++)
      s += (double)vec[i] * (double)vec[i];
    if (s > 0.0) {
      double inv = 1.0 / sqrt(s);
      for (uint32_t i = 0; i < idx->dim; i++)
        dst[i] = (float)((double)vec[i] * inv);
    }
  }
  idx->ids[node] = id;
  idx->levels[node] = (uint8_t)level;
  idx->deleted[node] = 0;
  idx->links0[(size_t)node * (1 + idx->m0)] = 0;
  if (level == 0) {
    idx->upper_off[node] = HDB__HNSW_NONE;
    return;
  }
  idx->upper_off[node] = (uint32_t)*upper_pos;
  for (int l = 0; l < level; l++)
    idx->upper[*upper_pos + (size_t)l * (1 + idx->m)] = 0;
  *upper_pos += (uint64_t)level * (1 + idx->m);
}

/*
 * Keeps at most m of the sorted candidates c[0..n) by the diversity
 * heuristic, in place (the kept ones move to the front); returns how many.
 */
static uint32_t select_neighbors(const hdb__hnsw *idx, hnsw_pair *c, uint32_t n, uint32_t m)
{
  uint32_t kept = 0;
  for (uint32_t i = 0; i < n && kept < m; i++) {
    const float *v = hnsw_vec(idx, c[i].node);
    int good = 1;
    for (uint32_t j = 0; j < kept; j++)
      if (hnsw_dist(idx, v, hnsw_vec(idx, c[j].node)) < c[i].d) {
        good = 0;
        break;
      }
    if (good)
      c[kept++] = c[i];
  }
  return kept;
}

/* Adds `node` (at distance d) to nb's list on `level`, shrinking a full
 * list by the heuristic. Holds nb's stripe when locked. */
static void connect(hdb__hnsw *idx, hdb__hnsw_ctx *ctx, uint32_t nb, uint32_t node, float d,
                    int level, int locked)
{
  uint32_t mmax = level ? idx->m : idx->m0;
  if (locked)
    pthread_mutex_lock(hnsw_lock(idx, nb));
  uint32_t *l = hnsw_links(idx, nb, level);
  uint32_t cnt = l[0];
  if (cnt < mmax) {
    l[1 + cnt] = node;
    l[0] = cnt + 1;
  } else {
    const float *v = hnsw_vec(idx, nb);
    hnsw_pair *c = ctx->conn;
    for (uint32_t i = 0; i < cnt; i++) {
      c[i].node = l[1 + i];
      c[i].d = hnsw_dist(idx, v, hnsw_vec(idx, l[1 + i]));
    }
    c[cnt].node = node;
    c[cnt].d = d;
    hnsw_sort_small(c, cnt + 1);
    uint32_t kept = select_neighbors(idx, c, cnt + 1, mmax);
    for (uint32_t i = 0; i < kept; i++)
      l[1 + i] = c[i].node;
    l[0] = kept;
  }
  if (locked)
    pthread_mutex_unlock(hnsw_lock(idx, nb));
}

/* Links an already stored node into the graph (see the file comment). */
static hdb_status link_node(hdb__hnsw *idx, hdb__hnsw_ctx *ctx, uint32_t node, int locked,
                            hdb_error *err)
{
  const float *q = hnsw_vec(idx, node);
  int level = idx->levels[node];
  if (locked)
    pthread_mutex_lock(&idx->ep_lock);
  uint32_t ep = idx->entry;
  int top = idx->max_level;
  if (top < 0) {
    idx->entry = node;
    idx->max_level = level;
  }
  if (locked)
    pthread_mutex_unlock(&idx->ep_lock);
  if (top < 0)
    return HDB_OK;

  uint32_t cur = ep;
  float curd = hnsw_dist(idx, q, hnsw_vec(idx, cur));
  for (int l = top; l > level; l--)
    hdb__hnsw_greedy(idx, ctx, q, &cur, &curd, l, locked);
  for (int l = level < top ? level : top; l >= 0; l--) {
    hdb_status st =
      hdb__hnsw_search_layer(idx, ctx, q, cur, idx->efc, l, NULL, 0, locked, NULL, err);
    if (st != HDB_OK)
      return st;
    uint32_t n = hdb__hnsw_res_sorted(ctx);
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++) /* never link a node to itself */
      if (ctx->tmp[i].node != node)
        ctx->tmp[w++] = ctx->tmp[i];
    n = w;
    if (n == 0)
      continue;
    cur = ctx->tmp[0].node;
    uint32_t kept = select_neighbors(idx, ctx->tmp, n, idx->m);
    if (locked)
      pthread_mutex_lock(hnsw_lock(idx, node));
    uint32_t *own = hnsw_links(idx, node, l);
    for (uint32_t i = 0; i < kept; i++)
      own[1 + i] = ctx->tmp[i].node;
    own[0] = kept;
    if (locked)
      pthread_mutex_unlock(hnsw_lock(idx, node));
    for (uint32_t i = 0; i < kept; i++)
      connect(idx, ctx, ctx->tmp[i].node, node, ctx->tmp[i].d, l, locked);
  }
  if (level > top) {
    if (locked)
      pthread_mutex_lock(&idx->ep_lock);
    if (level > idx->max_level) {
      idx->entry = node;
      idx->max_level = level;
    }
    if (locked)
      pthread_mutex_unlock(&idx->ep_lock);
  }
  return HDB_OK;
}

static hdb_status writer_ctx(hdb__hnsw *idx, hdb_error *err)
{
  if (idx->wctx == NULL) {
    hdb_status st = hdb__hnsw_ctx_new(idx, &idx->wctx, err);
    if (st != HDB_OK)
      return st;
  }
  return hdb__hnsw_ctx_fit(idx, idx->wctx, idx->efc, err);
}

hdb_status hdb__hnsw_insert(hdb__hnsw *idx, const float *vec, uint64_t id, hdb_error *err)
{
  if (idx == NULL || vec == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw insert: missing argument");
  return hdb__hnsw_add(idx, vec, &id, 0, 1, 1, err);
}

typedef struct build_shared {
  hdb__hnsw *idx;
  uint32_t first, end;
  atomic_uint next;
  atomic_int failed;
  hdb_status st;
  hdb_error err;
  pthread_mutex_t err_lock;
} build_shared;

typedef struct build_worker {
  build_shared *sh;
  hdb__hnsw_ctx *ctx;
  pthread_t th;
  int started;
} build_worker;

static void *build_thread(void *arg)
{
  build_worker *w = arg;
  build_shared *sh = w->sh;
  hdb_error err;
  for (;;) {
    if (atomic_load(&sh->failed))
      break;
    uint32_t node = atomic_fetch_add(&sh->next, 1);
    if (node >= sh->end)
      break;
    hdb_status st = link_node(sh->idx, w->ctx, node, 1, &err);
    if (st != HDB_OK) {
      pthread_mutex_lock(&sh->err_lock);
      if (!atomic_load(&sh->failed)) {
        sh->st = st;
        sh->err = err;
        atomic_store(&sh->failed, 1);
      }
      pthread_mutex_unlock(&sh->err_lock);
      break;
    }
  }
  return NULL;
}

static hdb_status link_parallel(hdb__hnsw *idx, uint32_t first, uint32_t end, uint32_t threads,
                                hdb_error *err)
{
  build_shared sh = {.idx = idx, .first = first, .end = end, .st = HDB_OK};
  atomic_init(&sh.next, first);
  atomic_init(&sh.failed, 0);
  pthread_mutex_init(&sh.err_lock, NULL);
  hdb_status st = HDB_OK;
  build_worker *w = hdb__calloc(threads, sizeof *w);
  if (w == NULL) {
    st = hdb__fail(err, HDB_NOMEM, "hnsw build: out of memory");
    goto cleanup;
  }
  for (uint32_t t = 0; t < threads; t++) {
    w[t].sh = &sh;
    if ((st = hdb__hnsw_ctx_new(idx, &w[t].ctx, err)) != HDB_OK ||
        (st = hdb__hnsw_ctx_fit(idx, w[t].ctx, idx->efc, err)) != HDB_OK)
      goto cleanup;
  }
  for (uint32_t t = 1; t < threads; t++)
    w[t].started = pthread_create(&w[t].th, NULL, build_thread, &w[t]) == 0;
  build_thread(&w[0]); /* the caller works too; threads that failed to start are just absent */
  for (uint32_t t = 1; t < threads; t++)
    if (w[t].started)
      pthread_join(w[t].th, NULL);
  if (atomic_load(&sh.failed)) {
    st = sh.st;
    if (err != NULL)
      *err = sh.err;
  }

cleanup:
  if (w != NULL)
    for (uint32_t t = 0; t < threads; t++)
      hdb__hnsw_ctx_free(w[t].ctx);
  hdb__free_mem(w);
  pthread_mutex_destroy(&sh.err_lock);
  return st;
}

hdb_status hdb__hnsw_add(hdb__hnsw *idx, const float *vecs, const uint64_t *ids, uint64_t first_id,
                         size_t n, uint32_t threads, hdb_error *err)
{
  if (idx == NULL || (n > 0 && vecs == NULL))
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw add: missing argument");
  if (idx->read_only)
    return refuse_read_only(idx, err);
  if (n == 0)
    return HDB_OK;
  if (n > HDB__HNSW_MAX_NODES - idx->n)
    return hdb__fail(err, HDB_TOO_BIG, "hnsw: more than %u nodes", HDB__HNSW_MAX_NODES);
  size_t want = idx->n + n;
  hdb_status st;
  if (want > idx->cap) {
    size_t grown = idx->cap < 1024 ? 1024 : (size_t)idx->cap * 2;
    if (grown > HDB__HNSW_MAX_NODES)
      grown = HDB__HNSW_MAX_NODES;
    if ((st = hdb__hnsw_reserve(idx, want > grown ? want : grown, err)) != HDB_OK)
      return st;
  }
  uint32_t first = idx->n;
  uint64_t words = idx->upper_len;
  for (size_t i = 0; i < n; i++)
    words += (uint64_t)draw_level(idx, (uint32_t)(first + i)) * (1 + idx->m);
  if ((st = upper_reserve(idx, words, err)) != HDB_OK || (st = writer_ctx(idx, err)) != HDB_OK)
    return st;
  uint64_t pos = idx->upper_len;
  for (size_t i = 0; i < n; i++) {
    uint32_t node = (uint32_t)(first + i);
    store_node(idx, node, vecs + i * idx->dim, ids ? ids[i] : first_id + i,
               draw_level(idx, node), &pos);
  }
  idx->upper_len = pos;
  idx->n = (uint32_t)want;

  uint32_t next = first;
  if (threads == 0)
    threads = hdb__vec_cpu_count();
  if (n < 256 || threads < 2) {
    for (; next < want; next++)
      if ((st = link_node(idx, idx->wctx, next, 0, err)) != HDB_OK)
        return st;
    return HDB_OK;
  }
  /* the first few links run alone so the threads start from a real graph;
   * a graph that already has them (an incremental add) needs none */
  for (uint32_t seq = first; next < want && seq < 64; next++, seq++)
    if ((st = link_node(idx, idx->wctx, next, 0, err)) != HDB_OK)
      return st;
  return link_parallel(idx, next, (uint32_t)want, threads, err);
}

static int u64_cmp(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

hdb_status hdb__hnsw_delete(hdb__hnsw *idx, const uint64_t *ids, size_t n, size_t *n_marked,
                            hdb_error *err)
{
  if (n_marked != NULL)
    *n_marked = 0;
  if (idx == NULL || (n > 0 && ids == NULL))
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw delete: missing argument");
  if (idx->read_only)
    return refuse_read_only(idx, err);
  if (n == 0)
    return HDB_OK;
  uint64_t *sorted = hdb__memdup(ids, n * sizeof *ids);
  if (sorted == NULL)
    return hdb__fail(err, HDB_NOMEM, "hnsw delete: out of memory");
  qsort(sorted, n, sizeof *sorted, u64_cmp);
  size_t marked = 0;
  for (uint32_t i = 0; i < idx->n; i++)
    if (!idx->deleted[i] && bsearch(&idx->ids[i], sorted, n, sizeof *sorted, u64_cmp)) {
      idx->deleted[i] = 1;
      marked++;
    }
  idx->n_deleted += marked;
  hdb__free_mem(sorted);
  if (n_marked != NULL)
    *n_marked = marked;
  return HDB_OK;
}

hdb_status hdb__hnsw_rebuild(const hdb__hnsw *idx, uint32_t threads, hdb__hnsw **out,
                             hdb_error *err)
{
  if (idx == NULL || out == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hnsw rebuild: missing argument");
  *out = NULL;
  hdb__hnsw_params p = hdb__hnsw_get_params(idx);
  hdb__hnsw *dst = NULL;
  hdb_status st = hdb__hnsw_new(idx->dim, idx->metric, &p, &dst, err);
  if (st != HDB_OK)
    return st;
  size_t live = idx->n - idx->n_deleted;
  float *vecs = hdb__malloc(live * idx->dim * sizeof *vecs);
  uint64_t *ids = hdb__malloc(live * sizeof *ids);
  if (vecs == NULL || ids == NULL) {
    st = hdb__fail(err, HDB_NOMEM, "hnsw rebuild: out of memory");
    goto cleanup;
  }
  size_t w = 0;
  for (uint32_t i = 0; i < idx->n && w < live; i++) {
    if (idx->deleted[i])
      continue;
    memcpy(vecs + w * idx->dim, hnsw_vec(idx, i), (size_t)idx->dim * sizeof *vecs);
    ids[w++] = idx->ids[i];
  }
  if ((st = hdb__hnsw_reserve(dst, w ? w : 1, err)) != HDB_OK ||
      (st = hdb__hnsw_add(dst, vecs, ids, 0, w, threads, err)) != HDB_OK)
    goto cleanup;
  *out = dst;
  dst = NULL;

cleanup:
  hdb__free_mem(vecs);
  hdb__free_mem(ids);
  hdb__hnsw_free(dst);
  return st;
}

size_t hdb__hnsw_count(const hdb__hnsw *idx)
{
  return idx ? idx->n : 0;
}

size_t hdb__hnsw_deleted(const hdb__hnsw *idx)
{
  return idx ? (size_t)idx->n_deleted : 0;
}

uint32_t hdb__hnsw_dim(const hdb__hnsw *idx)
{
  return idx ? idx->dim : 0;
}

hdb_metric hdb__hnsw_metric(const hdb__hnsw *idx)
{
  return idx ? idx->metric : HDB_METRIC_DEFAULT;
}

hdb__hnsw_params hdb__hnsw_get_params(const hdb__hnsw *idx)
{
  hdb__hnsw_params p = {0};
  if (idx != NULL) {
    p.m = idx->m;
    p.ef_construction = idx->efc;
    p.ef_search = idx->efs;
    p.seed = idx->seed;
  }
  return p;
}

int hdb__hnsw_read_only(const hdb__hnsw *idx)
{
  return idx ? idx->read_only : 0;
}

size_t hdb__hnsw_memory(const hdb__hnsw *idx)
{
  if (idx == NULL)
    return 0;
  size_t n = idx->n;
  return n * idx->dim * sizeof(float) + n * (sizeof(uint64_t) + 2 + sizeof(uint32_t)) +
         n * (1 + (size_t)idx->m0) * sizeof(uint32_t) + (size_t)idx->upper_len * sizeof(uint32_t);
}

/* See vec_hnsw.h. The sections are copied as they are (vectors already
 * normalized, links, levels, deletion flags, entry point). */
hdb_status hdb__hnsw_thaw(const hdb__hnsw *src, size_t extra, hdb__hnsw **out, hdb_error *err) {
  *out = NULL;
  hdb__hnsw_params p = hdb__hnsw_get_params(src);
  hdb__hnsw *g = NULL;
  hdb_status rc = hdb__hnsw_new(src->dim, src->metric, &p, &g, err);
  if (rc != HDB_OK) return rc;
  size_t n = src->n;
  rc = hdb__hnsw_reserve(g, n + extra ? n + extra : 1, err);
  if (rc != HDB_OK) goto fail;
  if (src->upper_len) {
    g->upper = hdb__malloc((size_t)src->upper_len * sizeof *g->upper);
    if (!g->upper) {
      rc = hdb__fail(err, HDB_NOMEM, "out of memory copying an hnsw graph");
      goto fail;
    }
    memcpy(g->upper, src->upper, (size_t)src->upper_len * sizeof *g->upper);
    g->upper_len = g->upper_cap = src->upper_len;
  }
  if (n) {
    memcpy(g->vecs, src->vecs, n * src->dim * sizeof(float));
    memcpy(g->ids, src->ids, n * sizeof *g->ids);
    memcpy(g->levels, src->levels, n);
    memcpy(g->deleted, src->deleted, n);
    memcpy(g->upper_off, src->upper_off, n * sizeof *g->upper_off);
    memcpy(g->links0, src->links0, n * (1 + (size_t)src->m0) * sizeof *g->links0);
  }
  g->n = src->n;
  g->entry = src->entry;
  g->max_level = src->max_level;
  g->n_deleted = src->n_deleted;
  *out = g;
  return HDB_OK;
fail:
  hdb__hnsw_free(g);
  return rc;
}
