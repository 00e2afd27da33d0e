/*
 * distance.c - the reference distance kernels, and the entry point that
 * dispatches to the SIMD kernels.
 *
 * Sums are accumulated in double so that these are the accurate answer the
 * SIMD kernels are tested against; the result is rounded to float once.
 * Cosine distance is clamped to [0, 2]: rounding can push 1 - cos a hair
 * outside the range, and a negative distance would break ordering
 * assumptions (e.g. "distance 0 means identical direction").
 */
#include <math.h>

#include "distance.h"
#include "engine/vector/vec_kernels.h"

float hdb__dist_l2sq(const float *a, const float *b, uint32_t dim)
{
  double s = 0.0;
  for (uint32_t i = 0; i < dim; i++) {
    double d = (double)a[i] - (double)b[i];
    s += d * d;
  }
  return (float)s;
}

float hdb__dist_dot(const float *a, const float *b, uint32_t dim)
{
  double s = 0.0;
  for (uint32_t i = 0; i < dim; i++)
    s += (double)a[i] * (double)b[i];
  return (float)-s;
}

float hdb__dist_cosine(const float *a, const float *b, uint32_t dim)
{
  double dot = 0.0, na = 0.0, nb = 0.0;
  for (uint32_t i = 0; i < dim; i++) {
    dot += (double)a[i] * (double)b[i];
    na += (double)a[i] * (double)a[i];
    nb += (double)b[i] * (double)b[i];
  }
  if (na == 0.0 || nb == 0.0)
    return 1.0f;
  double d = 1.0 - dot / (sqrt(na) * sqrt(nb));
  if (d < 0.0)
    d = 0.0;
  else if (d > 2.0)
    d = 2.0;
  return (float)d;
}

float hdb__distance(hdb_metric m, const float *a, const float *b, uint32_t dim)
{
  /* The dispatched SIMD kernels (AVX-512, AVX2+FMA or scalar), which are
   * tested against the plain functions above; every backend's exact
   * distance goes through here. */
  return hdb__vec_dist(hdb__vec_kernels_get(), m, a, b, dim);
}
