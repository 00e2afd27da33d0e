/*
 * vec_flat.h - exact (flat) top-k search over a contiguous float32 block.
 *
 * The ground truth every index is measured against, and the plan for
 * small tables, unindexed tails and very selective filters. Rows are read
 * in cache-sized blocks with the batched kernels; each query keeps a
 * bounded heap of its k best (distance, id). Large scans are split across
 * threads by row range, and the per-thread heaps are merged, so the answer
 * does not depend on the split (hits are totally ordered, vec_util.h).
 */
#ifndef HDB_ENGINE_VECTOR_FLAT_H
#define HDB_ENGINE_VECTOR_FLAT_H

#include <stddef.h>
#include <stdint.h>

#include "hanzodb.h"
#include "vec_kernels.h"
#include "vec_util.h"

typedef struct hdb__vec_flat {
  const float *base;  /* row i at base + i * stride; borrowed */
  size_t n;           /* rows */
  uint32_t dim;
  size_t stride;      /* floats between rows; 0 means dim */
  const uint64_t *ids; /* id of row i; NULL: first_id + i */
  uint64_t first_id;
  hdb_metric metric;  /* DEFAULT counts as L2 */
  const hdb__vec_filter *filter; /* NULL: every row */
  uint32_t threads;   /* 0: automatic (all CPUs once the block is large), 1: caller's thread */
  const hdb__vec_kernels *kernels; /* NULL: hdb__vec_kernels_get() */
} hdb__vec_flat;

/* Rows x dim at and above which threads = 0 scans in parallel. */
#define HDB__VEC_FLAT_PARALLEL_MIN ((size_t)1 << 20)

/*
 * The k nearest eligible rows to each of nq queries (query j at
 * queries + j * dim). out holds nq * k hits: query j's at out + j * k,
 * sorted by (distance, id); n_out[j] = min(k, eligible rows). Errors:
 * HDB_INVALID_ARGUMENT (k = 0, dim = 0, NULL pointers), HDB_NOMEM. A thread
 * that cannot be started is replaced by the caller doing its share.
 */
hdb_status hdb__vec_flat_search(const hdb__vec_flat *f, const float *queries, size_t nq,
                                uint32_t k, hdb__vec_hit *out, uint32_t *n_out, hdb_error *err);

#endif
