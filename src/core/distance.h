/*
 * distance.h - exact vector distances (plain C reference kernels).
 *
 * These define the distance every backend reports as "_distance":
 * l2 is squared Euclidean, cosine is 1 - cos (1 when either norm is 0),
 * dot is -<a,b>. The SIMD kernels of engine/vector are tested against these.
 */
#ifndef HDB_CORE_DISTANCE_H
#define HDB_CORE_DISTANCE_H

#include "hanzodb.h"

float hdb__dist_l2sq(const float *a, const float *b, uint32_t dim);
float hdb__dist_dot(const float *a, const float *b, uint32_t dim);    /* returns -dot */
float hdb__dist_cosine(const float *a, const float *b, uint32_t dim);
/* Dispatch on metric (DEFAULT counts as L2), computed with the SIMD kernels
 * of engine/vector chosen for this CPU (the functions above are the plain
 * reference those kernels are tested against). */
float hdb__distance(hdb_metric m, const float *a, const float *b, uint32_t dim);

#endif
