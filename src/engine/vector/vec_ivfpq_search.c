/*
 * vec_ivfpq_search.c - IVF-PQ search: probe, ADC scan, widen, refine.
 *
 * 1. The query (unit length for cosine) is scored against every coarse
 *    centroid with one batched kernel call (l2, or -dot for the dot
 *    metric); the nprobe nearest lists are picked with a bounded heap and
 *    ordered by (distance, list); all lists are ordered only when
 *    widening (4) goes past nprobe.
 * 2. ADC tables: for l2 and cosine one table per probed list,
 *    T[j][c] = |(q - centroid)_j - codebook_j[c]|^2 (m x 256 floats). With
 *    the precomputed term2 (vec_ivfpq_int.h) it is |q - centroid|^2 +
 *    term2[l][j][c] - 2 <q_j, codebook_j[c]>, the last part once per query:
 *    m x 256 adds per list; without it the table is built over the
 *    transposed codebooks, 256 lanes at a time. For dot one table per
 *    query, T[j][c] =
 *    -<q_j, codebook_j[c]>, plus -<q, centroid> per list. The estimate of
 *    an entry is base + sum_j T[j][code_j]: m byte lookups over the list's
 *    contiguous codes, four independent accumulators.
 * 3. A bounded heap keeps the best refine * k estimates. Deleted flags and
 *    the filter are checked only for an entry whose estimate would enter
 *    the heap, so a selective callback is called rarely.
 * 4. Widening: after the nprobe nearest lists, further lists (nearest
 *    first) are probed while the heap is not full. If every list gets
 *    probed and the heap is still not full, it holds every live eligible
 *    row, so the count is min(k, live eligible rows) and the re-rank below
 *    is the exact search over the eligible rows.
 * 5. Refine: each heap entry's full vector is read through the caller's
 *    source and its exact distance (hdb__vec_dist, the original query)
 *    goes into a k-heap; results are sorted by (distance, id).
 *
 * Scratch (tables, list order, heaps) is one allocation per call, so
 * concurrent searches share nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "vec_ivfpq_int.h"

typedef struct list_rank {
  float d;
  uint32_t l;
} list_rank;

static int rank_cmp(const void *a, const void *b)
{
  const list_rank *x = a, *y = b;
  if (x->d < y->d)
    return -1;
  if (y->d < x->d)
    return 1;
  return x->l < y->l ? -1 : x->l > y->l;
}

static int rank_less(list_rank a, list_rank b)
{
  return a.d < b.d || (a.d == b.d && a.l < b.l);
}

/* rank[0 .. want) = the `want` smallest of cd[0 .. nlist) by (distance,
 * list), sorted: a bounded max-heap, then a sort of the survivors; the same
 * set and order as a full sort's first `want`. */
static void select_lists(const float *cd, size_t nlist, size_t want, list_rank *rank)
{
  size_t n = 0;
  for (size_t l = 0; l < nlist; l++) {
    list_rank x = {cd[l] != cd[l] ? INFINITY : cd[l], (uint32_t)l};
    size_t i;
    if (n < want) {
      for (i = n++; i > 0 && rank_less(rank[(i - 1) / 2], x); i = (i - 1) / 2)
        rank[i] = rank[(i - 1) / 2];
      rank[i] = x;
      continue;
    }
    if (!rank_less(x, rank[0]))
      continue;
    for (i = 0;;) {
      size_t c = 2 * i + 1;
      if (c >= n)
        break;
      if (c + 1 < n && rank_less(rank[c], rank[c + 1]))
        c++;
      if (!rank_less(x, rank[c]))
        break;
      rank[i] = rank[c];
      i = c;
    }
    rank[i] = x;
  }
  qsort(rank, n, sizeof *rank, rank_cmp);
}

/* Scans one list's codes against table T (m x 256) into the heap. */
static void scan_list(const hdb__ivf_list *L, uint32_t m, const float *T, float base,
                      const hdb__vec_filter *filter, hdb__vec_topk *heap)
{
  const uint8_t *codes = L->codes;
  float bound = hdb__vec_topk_bound(heap);
  for (uint32_t i = 0; i < L->n; i++, codes += m) {
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    uint32_t j = 0;
    const float *t = T;
    for (; j + 4 <= m; j += 4, t += 4 * HDB__IVFPQ_KSUB) {
      a0 += t[codes[j]];
      a1 += t[HDB__IVFPQ_KSUB + codes[j + 1]];
      a2 += t[2 * HDB__IVFPQ_KSUB + codes[j + 2]];
      a3 += t[3 * HDB__IVFPQ_KSUB + codes[j + 3]];
    }
    for (; j < m; j++, t += HDB__IVFPQ_KSUB)
      a0 += t[codes[j]];
    float d = base + ((a0 + a1) + (a2 + a3));
    if (d != d)
      d = INFINITY; /* a NaN row stays countable, ranked last */
    if (d > bound)
      continue;
    if (L->deleted[i] || !hdb__vec_filter_pass(filter, L->ids[i]))
      continue;
    hdb__vec_topk_push(heap, L->ids[i], d);
    bound = hdb__vec_topk_bound(heap);
  }
}

hdb_status hdb__ivfpq_search(const hdb__ivfpq *idx, const float *query, uint32_t k,
                             uint32_t nprobe, uint32_t refine, const hdb__vec_filter *filter,
                             const hdb__ivfpq_source *src, hdb__vec_hit *out, uint32_t *n_out,
                             hdb_error *err)
{
  if (n_out != NULL)
    *n_out = 0;
  if (idx == NULL || query == NULL || out == NULL || n_out == NULL || k == 0)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq search: missing argument or k = 0");
  if (src != NULL && src->base == NULL && src->fetch == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq search: source without base or fetch");
  if (refine == 0)
    refine = idx->refine;
  if (refine > HDB__IVFPQ_MAX_REFINE)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "ivfpq search: refine %u above %u", refine,
                     HDB__IVFPQ_MAX_REFINE);
  if (!idx->trained || idx->n_total == idx->n_deleted)
    return HDB_OK;
  if (nprobe == 0)
    nprobe = idx->nprobe;
  if (nprobe > idx->nlist)
    nprobe = idx->nlist;
  uint64_t pool = (uint64_t)k * refine;
  if (pool > idx->n_total)
    pool = idx->n_total;
  if (pool < k && pool < idx->n_total)
    pool = k;
  uint32_t R = (uint32_t)pool, kk = k < R ? k : R;
  size_t dim = idx->dim, m = idx->m, dsub = idx->dsub, nlist = idx->nlist;
  size_t tab = m * HDB__IVFPQ_KSUB;
  size_t bytes = (3 * dim + 2 * tab + nlist) * sizeof(float) + nlist * sizeof(list_rank) +
                 ((size_t)R + kk) * sizeof(hdb__vec_hit);
  unsigned char *mem = hdb__malloc(bytes);
  if (mem == NULL)
    return hdb__fail(err, HDB_NOMEM, "ivfpq search: out of memory");
  hdb__vec_hit *pool_h = (hdb__vec_hit *)mem;
  hdb__vec_hit *fin_h = pool_h + R;
  list_rank *rank = (list_rank *)(fin_h + kk);
  float *qn = (float *)(rank + nlist);
  float *rq = qn + dim, *vbuf = rq + dim, *T = vbuf + dim, *T3 = T + tab, *cd = T3 + tab;
  const hdb__vec_kernels *K = idx->k;
  int dot = idx->metric == HDB_METRIC_DOT;
  hdb_status st = HDB_OK;

  hdb__ivfpq_prepare(idx, query, qn);
  if (dot) {
    K->dot_batch(qn, idx->cent, nlist, dim, dim, cd);
    for (size_t l = 0; l < nlist; l++)
      cd[l] = -cd[l];
    for (size_t j = 0; j < m; j++) {
      float *t = T + j * HDB__IVFPQ_KSUB;
      K->dot_batch(qn + j * dsub, idx->pq + j * HDB__IVFPQ_KSUB * dsub, HDB__IVFPQ_KSUB, dsub,
                   dsub, t);
      for (size_t c = 0; c < HDB__IVFPQ_KSUB; c++)
        t[c] = -t[c];
    }
  } else {
    K->l2sq_batch(qn, idx->cent, nlist, dim, dim, cd);
    if (idx->term2 != NULL)
      for (size_t j = 0; j < m; j++) {
        float *t = T3 + j * HDB__IVFPQ_KSUB;
        K->dot_batch(qn + j * dsub, idx->pq + j * HDB__IVFPQ_KSUB * dsub, HDB__IVFPQ_KSUB, dsub,
                     dsub, t);
        for (size_t c = 0; c < HDB__IVFPQ_KSUB; c++)
          t[c] *= -2.0f;
      }
  }
  /* only the nprobe nearest lists are ordered until widening needs more */
  size_t ranked = (size_t)nprobe * 4 < nlist ? nprobe : nlist;
  select_lists(cd, nlist, ranked, rank);

  hdb__vec_topk heap;
  hdb__vec_topk_init(&heap, pool_h, R);
  for (size_t p = 0; p < nlist && (p < nprobe || heap.n < R); p++) {
    if (p == ranked) {
      select_lists(cd, nlist, nlist, rank);
      ranked = nlist;
    }
    const hdb__ivf_list *L = &idx->lists[rank[p].l];
    if (L->n == 0)
      continue;
    float base = 0;
    if (dot) {
      base = rank[p].d;
    } else if (idx->term2 != NULL) {
      base = rank[p].d;
      const float *t2 = idx->term2 + (size_t)rank[p].l * tab;
      for (size_t i = 0; i < tab; i++)
        T[i] = t2[i] + T3[i];
    } else {
      const float *c = idx->cent + (size_t)rank[p].l * dim;
      for (size_t t = 0; t < dim; t++)
        rq[t] = qn[t] - c[t];
      for (size_t j = 0; j < m; j++)
        hdb__ivfpq_dist256(rq + j * dsub, idx->pqT + j * HDB__IVFPQ_KSUB * dsub, dsub,
                           T + j * HDB__IVFPQ_KSUB);
    }
    scan_list(L, (uint32_t)m, T, base, filter, &heap);
  }

  uint32_t n = heap.n;
  if (src == NULL) {
    hdb__vec_hits_sort(pool_h, n);
    if (n > k)
      n = k;
    for (uint32_t i = 0; i < n; i++) {
      out[i] = pool_h[i];
      if (idx->metric == HDB_METRIC_COSINE) {
        float d = out[i].dist * 0.5f;
        out[i].dist = d < 0 ? 0 : d > 2 ? 2 : d;
      }
    }
    *n_out = n;
    goto cleanup;
  }
  hdb__vec_topk fin;
  hdb__vec_topk_init(&fin, fin_h, kk);
  size_t stride = src->stride ? src->stride : dim;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t id = pool_h[i].id;
    const float *v = src->base == NULL ? src->fetch(src->ctx, id, vbuf)
                     : src->n_rows == 0 || id < src->n_rows ? src->base + id * stride
                                                             : NULL;
    if (v == NULL) {
      st = hdb__fail(err, HDB_IO, "ivfpq search: row %llu could not be read for re-ranking",
                     (unsigned long long)id);
      goto cleanup;
    }
    float d = hdb__vec_dist(K, idx->metric, query, v, dim);
    if (d != d)
      d = INFINITY;
    hdb__vec_topk_push(&fin, id, d);
  }
  hdb__vec_hits_sort(fin_h, fin.n);
  memcpy(out, fin_h, fin.n * sizeof *out);
  *n_out = fin.n;
cleanup:
  hdb__free_mem(mem);
  return st;
}
