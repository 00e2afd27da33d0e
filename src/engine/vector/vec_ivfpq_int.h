/*
 * vec_ivfpq_int.h - the IVF-PQ index's layout, shared by vec_ivfpq_train.c,
 * vec_ivfpq_search.c and vec_ivfpq_io.c only.
 *
 *   cent   nlist x dim float32, coarse centroids (unit-length input space
 *          for cosine)
 *   pq     m x 256 x dsub float32, codebook j at pq + j * 256 * dsub
 *   lists  nlist lists; list l holds n entries: codes (n x m bytes,
 *          contiguous, entry i at codes + i * m), ids (n x u64) and
 *          deleted flags (n x u8)
 *
 * Invariants (checked on open, kept by every write):
 *  1. trained = 1 iff cent, pq, pqT (and term2 when it fits) are set and
 *     nlist >= 1; only a trained index holds entries.
 *  2. m * dsub = dim; nbits = 8, so every code byte is a valid centroid.
 *  3. Per list n <= cap; the three arrays have room for cap entries.
 *  4. deleted flags are 0 or 1; n_deleted = flags set; n_total = sum of n.
 */
#ifndef HDB_ENGINE_VECTOR_IVFPQ_INT_H
#define HDB_ENGINE_VECTOR_IVFPQ_INT_H

#include "vec_ivfpq.h"
#include "vec_kernels.h"

#define HDB__IVFPQ_KSUB 256u
#define HDB__IVFPQ_TERM2_MAX ((size_t)256 << 20)

typedef struct hdb__ivf_list {
  uint32_t n, cap;
  uint8_t *codes;
  uint64_t *ids;
  uint8_t *deleted;
} hdb__ivf_list;

struct hdb__ivfpq {
  uint32_t dim;
  hdb_metric metric; /* L2, COSINE or DOT (DEFAULT resolved to L2) */
  uint32_t m, dsub;
  uint32_t nlist;    /* 0 until trained when the parameter asked for auto */
  uint32_t nlist_param;
  uint32_t nprobe, refine, train_sample;
  uint64_t seed;
  const hdb__vec_kernels *k;

  int trained;
  float *cent;
  float *pq;
  float *pqT;        /* pq transposed: codebook j component t at pqT + (j * dsub + t) * 256 */
  float *term2;      /* l2/cosine: nlist x m x 256, or NULL when too large */
  hdb__ivf_list *lists;
  uint64_t n_total, n_deleted;
};

/* Copies x into dst (dim floats), as a unit vector for cosine (a zero
 * vector stays 0). */
void hdb__ivfpq_prepare(const hdb__ivfpq *idx, const float *x, float *dst);
/* Nearest coarse centroid of x (already normalized for cosine). */
/* out[c] = |x - centroid c|^2 for the 256 centroids of a transposed
 * codebook (cT: d rows of 256). */
void hdb__ivfpq_dist256(const float *x, const float *cT, size_t d, float *out);
/* Builds idx->pqT and idx->term2 from idx->pq and idx->cent; -1 when out
 * of memory (the index keeps its previous derived arrays). */
int hdb__ivfpq_derive(hdb__ivfpq *idx);
/* scratch: nlist floats. */
uint32_t hdb__ivfpq_assign(const hdb__ivfpq *idx, const float *x, float *scratch);

#endif
