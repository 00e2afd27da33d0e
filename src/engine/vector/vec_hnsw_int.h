/*
 * vec_hnsw_int.h - the HNSW index's layout, shared by vec_hnsw_build.c,
 * vec_hnsw_search.c and vec_hnsw_io.c only.
 *
 * The in-memory arrays are exactly the sections of the file format, so an
 * index opened from a file points into the mapping and a heap index is
 * written out section by section:
 *   vecs      n x dim float32 (unit length for cosine), 64-byte aligned
 *   ids       n x u64
 *   levels    n x u8, top level of each node (0..HDB__HNSW_MAX_LEVEL)
 *   deleted   n x u8, 1 = never returned
 *   upper_off n x u32, first word of the node's level-1 list in `upper`
 *             (HDB__HNSW_NONE for level-0 nodes)
 *   links0    n x (1 + m0) u32: count, then neighbors (node numbers)
 *   upper     upper_len u32: per node with level L > 0, L lists of
 *             (1 + m) words, level l at upper_off + (l - 1) * (1 + m)
 *
 * Invariants (checked on open, kept by every write):
 *  1. count <= m0 on level 0 and <= m above; every neighbor < n and never
 *     the node itself; a node appears on level l only if its level >= l.
 *  2. n = 0 iff max_level = -1; otherwise entry < n and levels[entry] =
 *     max_level (the entry point is on the top level).
 *  3. Deleted nodes keep their links (they route searches) and are only
 *     skipped when results are admitted; n_deleted = number of flags set.
 *  4. During hdb__hnsw_add, a node's list is read and written only under
 *     its stripe lock, and at most one stripe lock is held at a time (no
 *     lock order, no deadlock); entry/max_level change under ep_lock.
 */
#ifndef HDB_ENGINE_VECTOR_HNSW_INT_H
#define HDB_ENGINE_VECTOR_HNSW_INT_H

#include <pthread.h>

#include "vec_hnsw.h"
#include "vec_kernels.h"

#define HDB__HNSW_NONE 0xFFFFFFFFu
#define HDB__HNSW_LOCKS 1024u /* stripes; power of two */

typedef enum hnsw_kind { HNSW_L2 = 0, HNSW_COS = 1, HNSW_DOT = 2 } hnsw_kind;

struct hdb__hnsw {
  uint32_t dim;
  hdb_metric metric;
  hnsw_kind kind;
  uint32_t m, m0, efc, efs;
  uint64_t seed;
  double level_mult; /* 1 / ln(m) */
  const hdb__vec_kernels *k;

  uint32_t n, cap;
  uint32_t entry;
  int32_t max_level;
  uint64_t n_deleted;
  float *vecs;
  uint64_t *ids;
  uint8_t *levels;
  uint8_t *deleted;
  uint32_t *upper_off;
  uint32_t *links0;
  uint32_t *upper;
  uint64_t upper_len, upper_cap;

  /* Heap index: locks for the parallel build, a context for inserts. */
  pthread_mutex_t *locks;
  pthread_mutex_t ep_lock;
  int ep_lock_ok;
  hdb__hnsw_ctx *wctx;

  /* File-backed index: the mapping (or the caller's buffer). */
  int read_only;
  void *map;
  size_t map_len;
  int map_owned; /* 1: munmap on free */
};

/* A (distance, node) pair of the search heaps. */
typedef struct hnsw_pair {
  float d;
  uint32_t node;
} hnsw_pair;

struct hdb__hnsw_ctx {
  uint16_t *visit; /* epoch tag per node: 2 bytes keep the set half as
                     * large in cache as 4 would; a wrap clears it */
  uint32_t visit_cap;
  uint32_t epoch; /* 1..65535 */
  hnsw_pair *cand; /* min-heap */
  uint32_t n_cand, cand_cap;
  hnsw_pair *res; /* max-heap, at most ef */
  uint32_t n_res, res_cap;
  hnsw_pair *tmp; /* sorted results / neighbor selection */
  uint32_t tmp_cap;
  hnsw_pair *conn; /* a neighbor's list being shrunk (build) */
  uint32_t conn_cap;
  uint32_t *nbuf; /* neighbor list copied under a lock */
  uint32_t nbuf_cap;
  uint32_t *batch; /* a node's unvisited neighbors, scored together */
  uint32_t batch_cap;
  float *qbuf;    /* the query, normalized for cosine */
  uint32_t qcap;
  hdb__vec_hit *hits;
  uint32_t hits_cap;
};

static inline const float *hnsw_vec(const hdb__hnsw *idx, uint32_t node)
{
  return idx->vecs + (size_t)node * idx->dim;
}

static inline uint32_t *hnsw_links(const hdb__hnsw *idx, uint32_t node, int level)
{
  if (level == 0)
    return idx->links0 + (size_t)node * (1 + idx->m0);
  return idx->upper + idx->upper_off[node] + (size_t)(level - 1) * (1 + idx->m);
}

/* Distance between a (normalized) query and a stored vector. */
static inline float hnsw_dist(const hdb__hnsw *idx, const float *q, const float *v)
{
  switch (idx->kind) {
  case HNSW_COS: {
    float d = 1.0f - idx->k->dot(q, v, idx->dim);
    return d < 0.0f ? 0.0f : d > 2.0f ? 2.0f : d;
  }
  case HNSW_DOT:
    return -idx->k->dot(q, v, idx->dim);
  case HNSW_L2:
  default:
    return idx->k->l2sq(q, v, idx->dim);
  }
}

static inline int hnsw_pair_less(hnsw_pair a, hnsw_pair b)
{
  return a.d < b.d || (a.d == b.d && a.node < b.node);
}

/* Sorts a short array of pairs ascending (insertion sort: no call per
 * comparison; the lists it sorts hold at most m0 + 1 pairs). Pairs are
 * ordered totally by (d, node), so any correct sort gives this order. */
static inline void hnsw_sort_small(hnsw_pair *a, uint32_t n)
{
  for (uint32_t i = 1; i < n; i++) {
    hnsw_pair x = a[i];
    uint32_t j = i;
    while (j > 0 && hnsw_pair_less(x, a[j - 1])) {
      a[j] = a[j - 1];
      j--;
    }
    a[j] = x;
  }
}

/* Shared between the lifecycle files. */
hdb_status hdb__hnsw_ctx_fit(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, uint32_t ef, hdb_error *err);
/* Copies `q` into ctx->qbuf, normalized for cosine; returns ctx->qbuf. */
const float *hdb__hnsw_prepare_query(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *q);
/* Greedy walk on one level from *cur (distance *curd) to a local minimum. */
void hdb__hnsw_greedy(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *q, uint32_t *cur,
                      float *curd, int level, int locked);
/*
 * Beam search on one level from `ep`: ctx->res holds the best <= ef
 * admitted nodes (a max-heap). query_mode admits only live nodes passing
 * `filter`; build mode admits every node. *exhausted = 1 when the
 * candidate queue ran dry (everything reachable was seen). HDB_NOMEM.
 */
hdb_status hdb__hnsw_search_layer(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *q,
                                  uint32_t ep, uint32_t ef, int level,
                                  const hdb__vec_filter *filter, int query_mode, int locked,
                                  int *exhausted, hdb_error *err);
/* Moves ctx->res into ctx->tmp sorted ascending; returns the count. */
uint32_t hdb__hnsw_res_sorted(hdb__hnsw_ctx *ctx);
/* The node's stripe lock. */
static inline pthread_mutex_t *hnsw_lock(const hdb__hnsw *idx, uint32_t node)
{
  return &idx->locks[node & (HDB__HNSW_LOCKS - 1)];
}
/* Releases a mapping made by hdb__hnsw_open (vec_hnsw_io.c). */
void hdb__hnsw_unmap(void *map, size_t len);
/* Fills the derived fields (kind, level_mult, kernels) from metric and m. */
void hdb__hnsw_derive(hdb__hnsw *idx);

#endif
