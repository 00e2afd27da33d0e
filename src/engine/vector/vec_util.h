/*
 * vec_util.h - pieces shared by the vector engine's search paths: the hit
 * type and its total order, a bounded top-k heap, the row-eligibility
 * filter, aligned allocation through the library allocator, the CPU
 * count, and the little-endian byte helpers of the index file formats.
 *
 * Invariants:
 *  1. Hits are ordered by (distance, id) ascending: smaller is closer and
 *     ties go to the smaller id, so every search path returns the same rows
 *     in the same order for the same data.
 *  2. A top-k heap holds at most cap hits and its root is the worst kept
 *     hit; a NaN distance is never admitted.
 *  3. A filter is evaluated on ids (row numbers), never on internal node
 *     numbers: the bitmap bit `id` must be set and the callback (if any)
 *     must answer non-zero. Ids at or past n_bits are ineligible.
 */
#ifndef HDB_ENGINE_VECTOR_UTIL_H
#define HDB_ENGINE_VECTOR_UTIL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hanzodb.h"

typedef struct hdb__vec_hit {
  uint64_t id;
  float dist;
} hdb__vec_hit;

static inline int hdb__vec_hit_less(hdb__vec_hit a, hdb__vec_hit b)
{
  return a.dist < b.dist || (a.dist == b.dist && a.id < b.id);
}

/* Eligibility callback: non-zero when row `id` may be returned. Called from
 * several threads at once by the parallel flat scan: it must be
 * thread-safe. */
typedef int (*hdb__vec_eligible_fn)(void *ctx, uint64_t id);

typedef struct hdb__vec_filter {
  const uint64_t *bits; /* bit (id % 64) of word id / 64; NULL: no bitmap */
  uint64_t n_bits;      /* ids >= n_bits are ineligible when bits is set */
  hdb__vec_eligible_fn fn; /* NULL: no callback */
  void *ctx;
} hdb__vec_filter;

static inline int hdb__vec_filter_pass(const hdb__vec_filter *f, uint64_t id)
{
  if (f == NULL)
    return 1;
  if (f->bits != NULL && (id >= f->n_bits || !((f->bits[id >> 6] >> (id & 63)) & 1u)))
    return 0;
  if (f->fn != NULL && !f->fn(f->ctx, id))
    return 0;
  return 1;
}

/* Bounded max-heap of the best `cap` hits; storage is the caller's. */
typedef struct hdb__vec_topk {
  hdb__vec_hit *h;
  uint32_t n, cap;
} hdb__vec_topk;

static inline void hdb__vec_topk_init(hdb__vec_topk *t, hdb__vec_hit *storage, uint32_t cap)
{
  t->h = storage;
  t->n = 0;
  t->cap = cap;
}

/* Worst kept distance while full, +inf (admit everything) before. */
static inline float hdb__vec_topk_bound(const hdb__vec_topk *t)
{
  return t->n < t->cap ? INFINITY : t->h[0].dist;
}

static inline void hdb__vec_topk_push(hdb__vec_topk *t, uint64_t id, float dist)
{
  if (dist != dist || t->cap == 0)
    return;
  hdb__vec_hit x = {id, dist};
  hdb__vec_hit *h = t->h;
  if (t->n < t->cap) {
    uint32_t i = t->n++;
    while (i > 0) {
      uint32_t p = (i - 1) / 2;
      if (!hdb__vec_hit_less(h[p], x))
        break;
      h[i] = h[p];
      i = p;
    }
    h[i] = x;
    return;
  }
  if (!hdb__vec_hit_less(x, h[0]))
    return;
  uint32_t i = 0, n = t->n;
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && hdb__vec_hit_less(h[c], h[c + 1]))
      c++;
    if (!hdb__vec_hit_less(x, h[c]))
      break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

/* Sorts hits ascending by (dist, id). */
void hdb__vec_hits_sort(hdb__vec_hit *h, size_t n);

/* Aligned block of n bytes through hdb__malloc (so the allocation test
 * hook applies); align is a power of two <= 4096. Free with
 * hdb__vec_free_aligned (NULL is a no-op). NULL when out of memory. */
void *hdb__vec_alloc_aligned(size_t n, size_t align);
void hdb__vec_free_aligned(void *p);

/* Online CPUs, at least 1. */
uint32_t hdb__vec_cpu_count(void);

/* Little-endian integers in the index files (vec_hnsw_io.c, vec_ivfpq_io.c),
 * byte by byte so any host reads and writes the same bytes. */
static inline void hdb__vec_put32(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static inline void hdb__vec_put64(unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t hdb__vec_get32(const unsigned char *p)
{
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static inline uint64_t hdb__vec_get64(const unsigned char *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

/* 1 on a little-endian host: float sections can then be used in place. */
static inline int hdb__vec_host_le(void)
{
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* The last step of saving an index file (vec_hnsw_io.c, vec_ivfpq_io.c):
 * writes the hdr_size-byte header h at offset 0 of fd (the body is
 * written), fsyncs and closes fd, renames tmp to path and fsyncs the
 * directory, so the file appears whole or not at all. fd is closed and,
 * on failure, tmp removed, whatever happens; `what` prefixes messages
 * ("hnsw save"). */
hdb_status hdb__vec_file_publish(int fd, const unsigned char *h, size_t hdr_size, char *tmp,
                                 const char *path, const char *what, hdb_error *err);

#endif
