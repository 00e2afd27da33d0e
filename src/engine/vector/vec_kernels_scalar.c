/*
 * vec_kernels_scalar.c - portable distance kernels (the fallback level).
 *
 * Plain C with eight independent float accumulators: the compiler may
 * vectorize the loop with the baseline ISA (SSE2 on x86-64) without
 * reassociating, and the accuracy matches the SIMD levels (same summation
 * shape). Used when the CPU lacks AVX2 or when HANZO_SIMD=scalar.
 */
#include "vec_kernels.h"

#define LANES 8

static float sum_lanes(const float s[LANES])
{
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static float k_l2sq(const float *a, const float *b, size_t dim)
{
  float s[LANES] = {0};
  size_t i = 0;
  for (; i + LANES <= dim; i += LANES)
    for (int j = 0; j < LANES; j++) {
      float d = a[i + j] - b[i + j];
      s[j] += d * d;
    }
  float r = sum_lanes(s);
  for (; i < dim; i++) {
    float d = a[i] - b[i];
    r += d * d;
  }
  return r;
}

static float k_dot(const float *a, const float *b, size_t dim)
{
  float s[LANES] = {0};
  size_t i = 0;
  for (; i + LANES <= dim; i += LANES)
    for (int j = 0; j < LANES; j++)
      s[j] += a[i + j] * b[i + j];
  float r = sum_lanes(s);
  for (; i < dim; i++)
    r += a[i] * b[i];
  return r;
}

static void k_dot3(const float *a, const float *b, size_t dim, float out[3])
{
  float d[LANES] = {0}, na[LANES] = {0}, nb[LANES] = {0};
  size_t i = 0;
  for (; i + LANES <= dim; i += LANES)
    for (int j = 0; j < LANES; j++) {
      float x = a[i + j], y = b[i + j];
      d[j] += x * y;
      na[j] += x * x;
      nb[j] += y * y;
    }
  float rd = sum_lanes(d), ra = sum_lanes(na), rb = sum_lanes(nb);
  for (; i < dim; i++) {
    rd += a[i] * b[i];
    ra += a[i] * a[i];
    rb += b[i] * b[i];
  }
  out[0] = rd;
  out[1] = ra;
  out[2] = rb;
}

static void k_l2sq_batch(const float *q, const float *base, size_t n, size_t stride, size_t dim,
                         float *out)
{
  for (size_t i = 0; i < n; i++)
    out[i] = k_l2sq(q, base + i * stride, dim);
}

static void k_dot_batch(const float *q, const float *base, size_t n, size_t stride, size_t dim,
                        float *out)
{
  for (size_t i = 0; i < n; i++)
    out[i] = k_dot(q, base + i * stride, dim);
}

static float k_l2sq_f16(const float *q, const uint16_t *v, size_t dim)
{
  float s[LANES] = {0};
  size_t i = 0;
  for (; i + LANES <= dim; i += LANES)
    for (int j = 0; j < LANES; j++) {
      float d = q[i + j] - hdb__vec_f16_to_f32(v[i + j]);
      s[j] += d * d;
    }
  float r = sum_lanes(s);
  for (; i < dim; i++) {
    float d = q[i] - hdb__vec_f16_to_f32(v[i]);
    r += d * d;
  }
  return r;
}

static float k_dot_f16(const float *q, const uint16_t *v, size_t dim)
{
  float s[LANES] = {0};
  size_t i = 0;
  for (; i + LANES <= dim; i += LANES)
    for (int j = 0; j < LANES; j++)
      s[j] += q[i + j] * hdb__vec_f16_to_f32(v[i + j]);
  float r = sum_lanes(s);
  for (; i < dim; i++)
    r += q[i] * hdb__vec_f16_to_f32(v[i]);
  return r;
}

static void k_dot3_f16(const float *q, const uint16_t *v, size_t dim, float out[3])
{
  float d[LANES] = {0}, na[LANES] = {0}, nb[LANES] = {0};
  size_t i = 0;
  for (; i + LANES <= dim; i += LANES)
    for (int j = 0; j < LANES; j++) {
      float x = q[i + j], y = hdb__vec_f16_to_f32(v[i + j]);
      d[j] += x * y;
      na[j] += x * x;
      nb[j] += y * y;
    }
  float rd = sum_lanes(d), ra = sum_lanes(na), rb = sum_lanes(nb);
  for (; i < dim; i++) {
    float x = q[i], y = hdb__vec_f16_to_f32(v[i]);
    rd += x * y;
    ra += x * x;
    rb += y * y;
  }
  out[0] = rd;
  out[1] = ra;
  out[2] = rb;
}

static float k_l2sq_i8(const float *q, const int8_t *v, float scale, size_t dim)
{
  float s[LANES] = {0};
  size_t i = 0;
  for (; i + LANES <= dim; i += LANES)
    for (int j = 0; j < LANES; j++) {
      float d = q[i + j] - scale * (float)v[i + j];
      s[j] += d * d;
    }
  float r = sum_lanes(s);
  for (; i < dim; i++) {
    float d = q[i] - scale * (float)v[i];
    r += d * d;
  }
  return r;
}

static float k_dot_i8(const float *q, const int8_t *v, float scale, size_t dim)
{
  float s[LANES] = {0};
  size_t i = 0;
  for (; i + LANES <= dim; i += LANES)
    for (int j = 0; j < LANES; j++)
      s[j] += q[i + j] * (float)v[i + j];
  float r = sum_lanes(s);
  for (; i < dim; i++)
    r += q[i] * (float)v[i];
  return scale * r;
}

static void k_dot3_i8(const float *q, const int8_t *v, float scale, size_t dim, float out[3])
{
  float d[LANES] = {0}, na[LANES] = {0}, nb[LANES] = {0};
  size_t i = 0;
  for (; i + LANES <= dim; i += LANES)
    for (int j = 0; j < LANES; j++) {
      float x = q[i + j], y = (float)v[i + j];
      d[j] += x * y;
      na[j] += x * x;
      nb[j] += y * y;
    }
  float rd = sum_lanes(d), ra = sum_lanes(na), rb = sum_lanes(nb);
  for (; i < dim; i++) {
    float x = q[i], y = (float)v[i];
    rd += x * y;
    ra += x * x;
    rb += y * y;
  }
  out[0] = scale * rd;
  out[1] = ra;
  out[2] = scale * scale * rb;
}

const hdb__vec_kernels hdb__vec_kernels_scalar = {
  .level = HDB__SIMD_SCALAR,
  .name = "scalar",
  .l2sq = k_l2sq,
  .dot = k_dot,
  .dot3 = k_dot3,
  .l2sq_batch = k_l2sq_batch,
  .dot_batch = k_dot_batch,
  .l2sq_f16 = k_l2sq_f16,
  .dot_f16 = k_dot_f16,
  .dot3_f16 = k_dot3_f16,
  .l2sq_i8 = k_l2sq_i8,
  .dot_i8 = k_dot_i8,
  .dot3_i8 = k_dot3_i8,
};
