/*
 * vec_testdata.h - deterministic clustered vectors for the vector tests and
 * the benchmark: a Gaussian mixture whose centers depend only on
 * (center_seed, clusters, dim), so base rows and queries drawn with
 * different point seeds come from the same clusters.
 *
 * Header-only (static functions) so tests, the slow test and bench/ can
 * share it without a library of their own.
 */
#ifndef HDB_TESTS_VECTOR_TESTDATA_H
#define HDB_TESTS_VECTOR_TESTDATA_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct vt_rng {
  uint64_t s;
} vt_rng;

static inline uint64_t vt_next(vt_rng *r)
{
  uint64_t x = (r->s += UINT64_C(0x9E3779B97F4A7C15));
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

/* Uniform in (0, 1). */
static inline double vt_uniform(vt_rng *r)
{
  return ((double)(vt_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static inline double vt_gauss(vt_rng *r)
{
  double u1 = vt_uniform(r), u2 = vt_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/*
 * n rows of dim floats into out: row i = center[c] + sigma * N(0, I) with c
 * uniform over `clusters` centers drawn N(0, I) from center_seed. Returns
 * 0, or -1 when the centers cannot be allocated.
 */
static inline int vt_mixture(float *out, size_t n, uint32_t dim, uint32_t clusters, double sigma,
                             uint64_t center_seed, uint64_t point_seed)
{
  float *centers = malloc((size_t)clusters * dim * sizeof *centers);
  if (centers == NULL)
    return -1;
  vt_rng rc = {center_seed};
  for (size_t i = 0; i < (size_t)clusters * dim; i++)
    centers[i] = (float)vt_gauss(&rc);
  vt_rng rp = {point_seed};
  for (size_t i = 0; i < n; i++) {
    const float *c = centers + (vt_next(&rp) % clusters) * dim;
    for (uint32_t j = 0; j < dim; j++)
      out[i * dim + j] = c[j] + (float)(sigma * vt_gauss(&rp));
  }
  free(centers);
  return 0;
}

#endif
