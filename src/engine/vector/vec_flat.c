/*
 * vec_flat.c - exact top-k scan (see vec_flat.h).
 *
 * Each worker owns a contiguous row range, a block buffer of distances and
 * one bounded heap per query. Without a filter a block of rows is scored
 * against every query with the batched kernel while it is in cache; with a
 * filter only eligible rows are scored. Workers never share memory they
 * write, so no locks are taken; the caller's thread runs the first range
 * and then merges every worker's heaps (sorted by (distance, id)), which
 * makes the result independent of how the rows were split.
 */
#include <pthread.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "vec_flat.h"

#define MAX_THREADS 64u

typedef struct flat_job {
  const hdb__vec_flat *f;
  const hdb__vec_kernels *kern;
  const float *queries;
  size_t nq;
  uint32_t k;
  size_t r0, r1;
  size_t block;
  hdb__vec_topk *tk;  /* nq heaps */
  hdb__vec_hit *hits; /* nq * k */
  float *dbuf;        /* nq * block */
  pthread_t th;
  int started;
} flat_job;

static uint64_t row_id(const hdb__vec_flat *f, size_t r)
{
  return f->ids ? f->ids[r] : f->first_id + r;
}

static void scan_range(flat_job *j)
{
  const hdb__vec_flat *f = j->f;
  size_t stride = f->stride ? f->stride : f->dim;
  for (size_t q = 0; q < j->nq; q++)
    hdb__vec_topk_init(&j->tk[q], j->hits + q * j->k, j->k);
  for (size_t r = j->r0; r < j->r1; r += j->block) {
    size_t m = j->r1 - r < j->block ? j->r1 - r : j->block;
    const float *rows = f->base + r * stride;
    if (f->filter == NULL) {
      for (size_t q = 0; q < j->nq; q++) {
        float *d = j->dbuf + q * j->block;
        hdb__vec_dist_batch(j->kern, f->metric, j->queries + q * f->dim, rows, m, stride, f->dim,
                            d);
        hdb__vec_topk *t = &j->tk[q];
        for (size_t i = 0; i < m; i++)
          if (d[i] <= hdb__vec_topk_bound(t)) /* ties go on to compare ids */
            hdb__vec_topk_push(t, row_id(f, r + i), d[i]);
      }
      continue;
    }
    for (size_t i = 0; i < m; i++) {
      uint64_t id = row_id(f, r + i);
      if (!hdb__vec_filter_pass(f->filter, id))
        continue;
      for (size_t q = 0; q < j->nq; q++)
        hdb__vec_topk_push(&j->tk[q], id,
                           hdb__vec_dist(j->kern, f->metric, j->queries + q * f->dim,
                                         rows + i * stride, f->dim));
    }
  }
}

static void *scan_thread(void *arg)
{
  scan_range(arg);
  return NULL;
}

hdb_status hdb__vec_flat_search(const hdb__vec_flat *f, const float *queries, size_t nq,
                                uint32_t k, hdb__vec_hit *out, uint32_t *n_out, hdb_error *err)
{
  if (f == NULL || queries == NULL || out == NULL || n_out == NULL || nq == 0)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "flat search: missing argument");
  if (k == 0 || f->dim == 0 || (f->n > 0 && f->base == NULL))
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "flat search: k and dim must be >= 1");
  const hdb__vec_kernels *kern = f->kernels ? f->kernels : hdb__vec_kernels_get();
  size_t threads = f->threads;
  if (threads == 0)
    threads = (f->n * (size_t)f->dim >= HDB__VEC_FLAT_PARALLEL_MIN) ? hdb__vec_cpu_count() : 1;
  if (threads > MAX_THREADS)
    threads = MAX_THREADS;
  if (threads > 1 && f->n / threads < 256)
    threads = f->n / 256 ? f->n / 256 : 1;
  size_t block = 16384 / f->dim;
  if (block < 16)
    block = 16;
  if (block > 1024)
    block = 1024;

  hdb_status st = HDB_OK;
  size_t per_job = nq * sizeof(hdb__vec_topk) + nq * k * sizeof(hdb__vec_hit) +
                   nq * block * sizeof(float);
  per_job = (per_job + 63) & ~(size_t)63; /* keeps every job's heaps aligned */
  flat_job *jobs = hdb__calloc(threads, sizeof *jobs);
  unsigned char *mem = hdb__malloc(threads * per_job);
  hdb__vec_hit *merge = threads > 1 ? hdb__malloc(threads * (size_t)k * sizeof *merge) : NULL;
  if (jobs == NULL || mem == NULL || (threads > 1 && merge == NULL)) {
    st = hdb__fail(err, HDB_NOMEM, "flat search: out of memory");
    goto cleanup;
  }
  for (size_t t = 0; t < threads; t++) {
    flat_job *j = &jobs[t];
    unsigned char *p = mem + t * per_job;
    j->f = f;
    j->kern = kern;
    j->queries = queries;
    j->nq = nq;
    j->k = k;
    j->r0 = f->n * t / threads;
    j->r1 = f->n * (t + 1) / threads;
    j->block = block;
    j->tk = (hdb__vec_topk *)p;
    p += nq * sizeof(hdb__vec_topk);
    j->hits = (hdb__vec_hit *)p;
    p += nq * k * sizeof(hdb__vec_hit);
    j->dbuf = (float *)p;
  }
  for (size_t t = 1; t < threads; t++)
    jobs[t].started = pthread_create(&jobs[t].th, NULL, scan_thread, &jobs[t]) == 0;
  scan_range(&jobs[0]);
  for (size_t t = 1; t < threads; t++) {
    if (jobs[t].started)
      pthread_join(jobs[t].th, NULL);
    else
      scan_range(&jobs[t]);
  }
  for (size_t q = 0; q < nq; q++) {
    hdb__vec_hit *dst = out + q * k;
    if (threads == 1) {
      memcpy(dst, jobs[0].tk[q].h, jobs[0].tk[q].n * sizeof *dst);
      n_out[q] = jobs[0].tk[q].n;
      hdb__vec_hits_sort(dst, n_out[q]);
      continue;
    }
    size_t m = 0;
    for (size_t t = 0; t < threads; t++) {
      memcpy(merge + m, jobs[t].tk[q].h, jobs[t].tk[q].n * sizeof *merge);
      m += jobs[t].tk[q].n;
    }
    hdb__vec_hits_sort(merge, m);
    n_out[q] = (uint32_t)(m < k ? m : k);
    memcpy(dst, merge, n_out[q] * sizeof *dst);
  }

cleanup:
  hdb__free_mem(merge);
  hdb__free_mem(mem);
  hdb__free_mem(jobs);
  return st;
}
