/*
 * native_search.c - vector search on native:// tables: exact over the
 * memory-mapped vector blocks with the engine's SIMD kernels, or an ann
 * index (HNSW or IVF-PQ) over the indexed fragments merged with an exact
 * scan of the unindexed tail.
 *
 * Plan, on one pinned snapshot S (the requested version or the newest):
 *  1. Vector blocks of every fragment of S (mapped, with S's deletion and
 *     null bitmaps). When the column has an ann index of the same metric
 *     and `exact` is off, each fragment of S is either covered (the index
 *     knows its file: ids base..base+rows) or in the tail (native.h, 3).
 *  2. One id-only scan of S with the filter (skipped when there is no
 *     filter and no tail) visits every live row that matches: a covered
 *     row sets its bit in the eligibility bitmap; a tail row (or any row,
 *     without an index) has its distance computed by the kernel straight
 *     from the mapped block and competes in a bounded top-k heap ordered
 *     by (distance, id). Without a filter, covered rows are eligible when
 *     S has not deleted them and their vector is not null.
 *  3. The index search runs with that bitmap (so deleted, null and filtered
 *     rows never come back, and k results come back whenever k covered
 *     rows are eligible); its hits join the same heap under their ids.
 *     HNSW takes the search's ef. IVF-PQ takes nprobe and refine (0: the
 *     index's defaults) and re-ranks its candidates exactly, reading their
 *     vectors through a fetch callback: index id -> the covered fragment
 *     whose ids hold it (binary search over the bases of S's covered
 *     fragments) -> that fragment's mapped block of S.
 *  4. The k survivors are read by id from S, their distances recomputed
 *     with core's reference distance, re-sorted by (distance, id), and
 *     projected. Ties are decided by the record id in the heap itself, so
 *     rows at equal distance across the k boundary are chosen by id, not
 *     by row number.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/distance.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/schema.h"
#include "core/topk.h"
#include "engine/vector/vec_kernels.h"

typedef struct cand {
  double d;
  char *id;         /* owned */
  hdb_record *rec;  /* owned once read in step 4 */
} cand;

/* <0 when a ranks before b: NaN last, then distance, then id. */
static int cand_cmp(const cand *a, const cand *b) {
  int an = isnan(a->d), bn = isnan(b->d);
  if (an != bn) return an ? 1 : -1;
  if (!an && a->d != b->d) return a->d < b->d ? -1 : 1;
  return strcmp(a->id, b->id);
}

static int cand_qsort_cmp(const void *a, const void *b) {
  return cand_cmp(a, b);
}

/* Offers (d, id) to the search's top-k; the id is copied only when it is
 * kept, and the copy is the candidate's payload (freed when evicted).
 * HDB_NOMEM only. */
static hdb_status topk_offer(hdb__topk *t, double d, const char *id) {
  if (!hdb__topk_would_keep(t, d, id)) return HDB_OK;
  char *copy = hdb__strdup(id);
  if (!copy) return HDB_NOMEM;
  void *dropped = NULL;
  hdb_status st = hdb__topk_offer(t, d, copy, copy, &dropped);
  hdb__free_mem(dropped);
  return st;
}

static int bit8(const uint8_t *bits, uint64_t i) {
  return bits && ((bits[i >> 3] >> (i & 7)) & 1);
}

/* One fragment's mapped block and its place in the index (if covered). */
typedef struct frag_view {
  const float *data; /* NULL: every row null */
  uint64_t rows;
  const uint8_t *deleted, *nulls;
  int covered;
  uint64_t base;
} frag_view;

typedef struct search_ctx {
  const hdb__search *s;
  const char *table;
  const hdb__column *col;
  hdb_metric metric;
  const hdb__vec_kernels *kern;
  frag_view *fv;
  size_t nf;
  uint64_t *bits; /* eligibility of index ids; NULL without an index */
  uint64_t n_bits;
  hdb__topk heap; /* payloads: owned id copies */
} search_ctx;

/* Step 2: the id-only scan over S. */
static hdb_status scan_rows(search_ctx *x, hdb__tbl_snap *snap, const hdb__expr *filter,
                            hdb_error *err) {
  static const char *const none[1] = {NULL};
  hdb__tbl_scan_options so = {filter, none, 0};
  hdb__tbl_scan *sc = NULL;
  hdb_status rc = hdb__tbl_scan_open(snap, &so, &sc, err);
  if (rc != HDB_OK) return rc;
  uint32_t dim = x->s->dim;
  for (;;) {
    const hdb_record *r;
    size_t f;
    uint64_t row;
    rc = hdb__tbl_scan_next(sc, &r, &f, &row, err);
    if (rc == HDB_DONE) {
      rc = HDB_OK;
      break;
    }
    if (rc != HDB_OK) break;
    const frag_view *v = &x->fv[f];
    if (!v->data || bit8(v->nulls, row)) continue; /* null vector */
    if (v->covered) {
      uint64_t id = v->base + row;
      x->bits[id >> 6] |= 1ull << (id & 63);
      continue;
    }
    float d = hdb__vec_dist(x->kern, x->metric, x->s->vector, v->data + row * (size_t)dim, dim);
    if (topk_offer(&x->heap, d, r->id) != HDB_OK) {
      rc = hdb__fail(err, HDB_NOMEM, "out of memory searching table '%s'", x->table);
      break;
    }
  }
  hdb__tbl_scan_close(sc);
  return rc;
}

/* A covered fragment of S by its first index id (IVF-PQ refine). */
typedef struct cov_ref {
  uint64_t base;
  size_t f;
} cov_ref;

typedef struct fetch_ctx {
  const search_ctx *x;
  const cov_ref *cov; /* sorted by base; the id ranges are disjoint */
  size_t n_cov;
} fetch_ctx;

static int cov_cmp(const void *a, const void *b) {
  uint64_t x = ((const cov_ref *)a)->base, y = ((const cov_ref *)b)->base;
  return x < y ? -1 : x > y;
}

/* hdb__ivfpq_fetch_fn over S's mapped blocks: NULL when no covered
 * fragment of S holds the id as a non-null vector (the index only returns
 * eligible ids, which are such rows). */
static const float *fetch_row(void *ctx, uint64_t id, float *buf) {
  (void)buf;
  const fetch_ctx *fc = ctx;
  size_t lo = 0, hi = fc->n_cov;
  while (lo < hi) { /* first entry with base > id */
    size_t mid = lo + (hi - lo) / 2;
    if (fc->cov[mid].base <= id)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return NULL;
  const frag_view *v = &fc->x->fv[fc->cov[lo - 1].f];
  uint64_t row = id - v->base;
  if (row >= v->rows || !v->data || bit8(v->nulls, row)) return NULL;
  return v->data + row * (size_t)fc->x->s->dim;
}

/* Step 3 for IVF-PQ: probe, ADC scan, exact re-rank through fetch_row. */
static hdb_status ivfpq_search(search_ctx *x, const nat_index *ix, hdb__vec_hit *hits,
                               uint32_t *nh, hdb_error *err) {
  cov_ref *cov = hdb__malloc((x->nf ? x->nf : 1) * sizeof *cov);
  if (!cov) return hdb__fail(err, HDB_NOMEM, "out of memory searching table '%s'", x->table);
  size_t n_cov = 0;
  for (size_t f = 0; f < x->nf; f++)
    if (x->fv[f].covered) {
      cov[n_cov].base = x->fv[f].base;
      cov[n_cov++].f = f;
    }
  qsort(cov, n_cov, sizeof *cov, cov_cmp);
  fetch_ctx fc = {x, cov, n_cov};
  hdb__ivfpq_source src = {NULL, 0, 0, fetch_row, &fc};
  hdb__vec_filter vf = {x->bits, x->n_bits, NULL, NULL};
  uint32_t nprobe = x->s->nprobe > 0 ? (uint32_t)x->s->nprobe : 0;
  uint32_t refine = x->s->refine > 0 ? (uint32_t)x->s->refine : 0;
  hdb_status rc = hdb__ivfpq_search(ix->ivfpq, x->s->vector, (uint32_t)x->s->k, nprobe, refine,
                                    &vf, &src, hits, nh, err);
  hdb__free_mem(cov);
  if (rc != HDB_OK && err)
    hdb__err_prefix(err, "ivf_pq search of column '%s' of table '%s'", x->col->name, x->table);
  return rc;
}

/* Step 3: the index search over the covered rows. */
static hdb_status index_part(search_ctx *x, const nat_index *ix, hdb_error *err) {
  hdb__hnsw_ctx *ctx = NULL;
  uint32_t k = (uint32_t)x->s->k;
  hdb__vec_hit *hits = hdb__malloc((size_t)k * sizeof *hits);
  if (!hits) return hdb__fail(err, HDB_NOMEM, "out of memory searching table '%s'", x->table);
  hdb_status rc = HDB_OK;
  uint32_t nh = 0;
  if (ix->ivfpq) {
    rc = ivfpq_search(x, ix, hits, &nh, err);
  } else {
    rc = hdb__hnsw_ctx_new(ix->hnsw, &ctx, err);
    if (rc == HDB_OK) {
      hdb__vec_filter vf = {x->bits, x->n_bits, NULL, NULL};
      uint32_t ef = x->s->ef > 0 ? (uint32_t)x->s->ef : 0;
      rc = hdb__hnsw_search(ix->hnsw, ctx, x->s->vector, k, ef, &vf, hits, &nh, err);
    }
  }
  for (uint32_t i = 0; rc == HDB_OK && i < nh; i++) {
    uint64_t id = hits[i].id;
    if (id >= ix->n_ids || ix->id_off[id] == UINT64_MAX) continue;
    if (topk_offer(&x->heap, hits[i].dist, ix->id_bytes + ix->id_off[id]) != HDB_OK)
      rc = hdb__fail(err, HDB_NOMEM, "out of memory searching table '%s'", x->table);
  }
  hdb__hnsw_ctx_free(ctx);
  hdb__free_mem(hits);
  return rc;
}

hdb_status hdb__nat_search(void *conn, const char *table, const hdb__search *s,
                           hdb_cursor **out, hdb_error *err) {
  nat_conn *c = conn;
  *out = NULL;
  if (s->k < 1)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "search of table '%s': k must be >= 1, not %d",
                     table, s->k);
  nat_table *t;
  hdb_status rc = hdb__nat_table_get(c, table, &t, err);
  if (rc != HDB_OK) return rc;
  hdb__tbl_snap *snap = NULL;
  nat_index *ix = NULL;
  hdb__rowbuf buf = {0};
  cand *fin = NULL; /* the k winners, step 4 */
  size_t n_fin = 0;
  search_ctx x;
  memset(&x, 0, sizeof x);
  x.s = s;
  x.table = table;
  rc = hdb__nat_pin(t, s->version, &snap, err);
  if (rc != HDB_OK) goto done;
  const hdb_schema *schema = hdb__tbl_snap_schema(snap);
  rc = hdb__schema_search_column(schema, table, s->column, &x.col, err);
  if (rc != HDB_OK) goto done;
  if (s->dim != x.col->dim) {
    rc = hdb__fail(err, HDB_DIMENSION,
                   "query vector has %u components; column '%s' of table '%s' has %u",
                   (unsigned)s->dim, x.col->name, table, (unsigned)x.col->dim);
    goto done;
  }
  const hdb__expr *filter = s->filter && s->filter->kind != HDB__EXPR_TRUE ? s->filter : NULL;
  if (filter) {
    rc = hdb__filter_bind(filter, schema, table, err);
    if (rc != HDB_OK) goto done;
  }
  for (size_t i = 0; s->fields && i < s->n_fields; i++) {
    char what[48];
    snprintf(what, sizeof what, "projected field %zu", i);
    rc = hdb__nat_check_field(schema, table, s->fields[i], 0, 1, what, err);
    if (rc != HDB_OK) goto done;
  }
  x.metric = s->metric == HDB_METRIC_DEFAULT ? x.col->metric : s->metric;
  x.kern = hdb__vec_kernels_get();
  uint64_t live = hdb__tbl_snap_rows(snap);
  hdb__topk_init(&x.heap, (size_t)s->k < live ? (size_t)s->k : (size_t)live);
  if (live == 0) goto results;
  x.nf = hdb__tbl_snap_fragments(snap);
  x.fv = hdb__calloc(x.nf ? x.nf : 1, sizeof *x.fv);
  if (!x.fv) goto nomem;

  if (!s->exact) {
    rc = hdb__nat_index_find(t, x.col->name, &ix, err);
    if (rc != HDB_OK) goto done;
    hdb_metric im = ix && ix->hnsw    ? hdb__hnsw_metric(ix->hnsw)
                    : ix && ix->ivfpq ? hdb__ivfpq_metric(ix->ivfpq)
                                      : HDB_METRIC_DEFAULT;
    if (ix && (im == HDB_METRIC_DEFAULT || im != x.metric)) {
      hdb__nat_index_put(ix);
      ix = NULL;
    }
  }
  int tail = 0;
  for (size_t f = 0; f < x.nf; f++) {
    frag_view *v = &x.fv[f];
    uint32_t dim = 0;
    rc = hdb__tbl_vector_block(snap, f, x.col->name, &v->data, &v->rows, &dim, &v->deleted,
                               &v->nulls, err);
    if (rc != HDB_OK) goto done;
    if (ix) {
      char name[32];
      hdb__nat_frag_file(snap, f, name);
      for (size_t i = 0; i < ix->n_frags; i++)
        if (name[0] && strcmp(ix->frags[i].file, name) == 0 && ix->frags[i].rows == v->rows) {
          v->covered = 1;
          v->base = ix->frags[i].base;
          break;
        }
    }
    if (!v->covered) tail = 1;
  }
  if (ix) {
    x.n_bits = ix->n_ids;
    x.bits = hdb__calloc((size_t)(x.n_bits / 64 + 1), sizeof *x.bits);
    if (!x.bits) goto nomem;
    if (!filter) /* eligibility straight from S's bitmaps */
      for (size_t f = 0; f < x.nf; f++) {
        const frag_view *v = &x.fv[f];
        if (!v->covered || !v->data) continue;
        for (uint64_t r = 0; r < v->rows; r++)
          if (!bit8(v->deleted, r) && !bit8(v->nulls, r)) {
            uint64_t id = v->base + r;
            x.bits[id >> 6] |= 1ull << (id & 63);
          }
      }
  }
  if (!ix || filter || tail) {
    rc = scan_rows(&x, snap, filter, err);
    if (rc != HDB_OK) goto done;
  }
  if (ix) {
    rc = index_part(&x, ix, err);
    if (rc != HDB_OK) goto done;
  }

results:
  /* Step 4: read the survivors, exact distances, final order. The heap's
   * id copies move into `fin`. */
  n_fin = x.heap.n;
  if (n_fin && !(fin = hdb__calloc(n_fin, sizeof *fin))) goto nomem;
  for (size_t i = 0; i < n_fin; i++) {
    fin[i].d = x.heap.h[i].d;
    fin[i].id = x.heap.h[i].p;
  }
  x.heap.n = 0;
  for (size_t i = 0; i < n_fin; i++) {
    hdb_record *rec = NULL;
    rc = hdb__tbl_get(snap, fin[i].id, &rec, err);
    if (rc != HDB_OK) goto done;
    const hdb_value *v = hdb__record_value(rec, x.col->name);
    if (v && v->type == HDB_TYPE_VECTOR && v->as.vector.dim == s->dim)
      fin[i].d = hdb__distance(x.metric, s->vector, v->as.vector.data, s->dim);
    fin[i].rec = rec;
  }
  if (n_fin) qsort(fin, n_fin, sizeof *fin, cand_qsort_cmp);
  for (size_t i = 0; i < n_fin; i++) {
    hdb_record *p = hdb__record_project(fin[i].rec, s->fields, s->fields ? s->n_fields : 0);
    if (!p || hdb__rowbuf_push(&buf, p, fin[i].d) != HDB_OK) goto nomem;
  }
  rc = hdb__rowbuf_cursor(&buf, out, err);
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory searching table '%s'", table);
done:
  for (size_t i = 0; i < x.heap.n; i++) hdb__free_mem(x.heap.h[i].p);
  hdb__topk_free(&x.heap);
  for (size_t i = 0; i < n_fin; i++) {
    hdb__free_mem(fin[i].id);
    hdb_record_free(fin[i].rec);
  }
  hdb__free_mem(fin);
  hdb__free_mem(x.fv);
  hdb__free_mem(x.bits);
  hdb__rowbuf_free(&buf);
  hdb__nat_index_put(ix);
  hdb__tbl_unpin(snap);
  hdb__nat_table_put(t);
  return rc;
}
