/*
 * vec_hnsw_layer.h - the hot loops of HNSW (greedy descent and the beam
 * search of one level) as a template, included by vec_hnsw_search.c once
 * per kernel level and dimension class. Before including, define:
 *   LAYER_SEARCH   name of the beam-search function
 *   LAYER_GREEDY   name of the greedy-descent function
 *   LAYER_ATTR     attributes (the kernel level's target, or nothing)
 *   LAYER_DIST(q, v)  the distance of hnsw_dist(idx, q, v), computed
 *                  inline; it must give the very same float (the kernels
 *                  of vec_kernels_row.h are the table's own code), so every
 *                  instantiation walks the graph the same way.
 * The macros are undefined at the end.
 *
 * Why a template: the distance is the inner loop of a search, and calling
 * it through the kernel table costs a call, a switch on the metric and the
 * generic tail handling per neighbor; inlined with a constant dimension
 * (128, 768) the kernel is straight-line code.
 *
 * The beam search scores a node's neighbors in two passes: first it checks
 * and sets the visited tags and collects the unvisited ones (prefetching
 * each one's vector), then it computes their distances and updates the
 * heaps in list order. That gives the memory system every vector fetch of
 * the node at once instead of one ahead, and it admits exactly what the
 * one-pass loop did: tags are set regardless of the distance, and the
 * heap updates happen in the same order. A neighbor that enters the
 * candidate queue has its own list prefetched: it may be expanded soon, and
 * that list was the miss each expansion used to wait for.
 */

LAYER_ATTR static void LAYER_GREEDY(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx, const float *q,
                                    uint32_t *cur, float *curd, int level, int locked)
{
  int changed = 1;
  while (changed) {
    changed = 0;
    const uint32_t *l = read_links(idx, ctx, *cur, level, locked);
    uint32_t cnt = l[0];
    for (uint32_t i = 0; i < cnt; i++)
      __builtin_prefetch(hnsw_vec(idx, l[1 + i]));
    for (uint32_t i = 0; i < cnt; i++) {
      uint32_t nb = l[1 + i];
      float d = LAYER_DIST(q, hnsw_vec(idx, nb));
      if (d < *curd || (d == *curd && nb < *cur)) {
        *curd = d;
        *cur = nb;
        changed = 1;
      }
    }
  }
}

LAYER_ATTR static hdb_status LAYER_SEARCH(const hdb__hnsw *idx, hdb__hnsw_ctx *ctx,
                                          const float *q, uint32_t ep, uint32_t ef, int level,
                                          const hdb__vec_filter *filter, int query_mode,
                                          int locked, int *exhausted, hdb_error *err)
{
  uint16_t tag = (uint16_t)next_epoch(ctx);
  uint16_t *visit = ctx->visit;
  uint32_t *batch = ctx->batch;
  /* bytes of a list on this level, and of a vector prefetched ahead (all
   * of it up to 512 bytes; the hardware streams the rest of a longer one) */
  size_t lbytes = (size_t)(1 + (level ? idx->m : idx->m0)) * sizeof(uint32_t);
  size_t vbytes = (size_t)idx->dim * sizeof(float) < 512 ? (size_t)idx->dim * sizeof(float) : 512;
  /* Every node is admitted when nothing can refuse one: skip the checks. */
  int check = query_mode && (idx->n_deleted > 0 || filter != NULL);
  ctx->n_cand = 0;
  ctx->n_res = 0;
  hnsw_pair e = {LAYER_DIST(q, hnsw_vec(idx, ep)), ep};
  visit[ep] = tag;
  cand_push(ctx, e);
  if (!check || admit(idx, ep, filter, query_mode))
    res_push(ctx, e);
  while (ctx->n_cand > 0) {
    if (ctx->n_res >= ef && ctx->cand[0].d > ctx->res[0].d)
      break;
    hnsw_pair c = cand_pop(ctx);
    const uint32_t *l = read_links(idx, ctx, c.node, level, locked);
    uint32_t cnt = l[0];
    if (ctx->n_cand > 0) /* the likely next node to expand: its list */
      __builtin_prefetch(hnsw_links(idx, ctx->cand[0].node, level));
    for (uint32_t i = 0; i < cnt; i++)
      __builtin_prefetch(visit + l[1 + i]);
    uint32_t nn = 0;
    for (uint32_t i = 0; i < cnt; i++) {
      uint32_t nb = l[1 + i];
      if (visit[nb] == tag)
        continue;
      visit[nb] = tag;
      batch[nn++] = nb;
      __builtin_prefetch(hnsw_vec(idx, nb));
    }
    if (ctx->cand_cap < ctx->n_cand + nn &&
        !grow((void **)&ctx->cand, &ctx->cand_cap, ctx->n_cand + nn, sizeof(hnsw_pair)))
      return hdb__fail(err, HDB_NOMEM, "hnsw: out of memory for the candidate queue");
    for (uint32_t j = 0; j < nn; j++) {
      uint32_t nb = batch[j];
      if (j + 1 < nn) { /* the rest of the next vector (its first line is on its way) */
        const char *nv = (const char *)hnsw_vec(idx, batch[j + 1]);
        for (size_t o = 64; o < vbytes; o += 64)
          __builtin_prefetch(nv + o);
      }
      float d = LAYER_DIST(q, hnsw_vec(idx, nb));
      if (ctx->n_res < ef || d < ctx->res[0].d) {
        hnsw_pair x = {d, nb};
        /* a candidate may be expanded soon: start fetching its list */
        {
          const char *nl = (const char *)hnsw_links(idx, nb, level);
          __builtin_prefetch(nl);
          __builtin_prefetch(nl + 64);
          __builtin_prefetch(nl + lbytes - 1);
        }
        cand_push(ctx, x);
        if (!check || admit(idx, nb, filter, query_mode)) {
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

#undef LAYER_SEARCH
#undef LAYER_GREEDY
#undef LAYER_ATTR
#undef LAYER_DIST
