/*
 * topk.c - the bounded max-heap of topk.h.
 *
 * Offering costs O(1) when the candidate ranks after the root (the common
 * case once the heap is full) and O(log k) otherwise; finish is a qsort of
 * the n kept candidates, which the total order makes deterministic.
 */
#include "core/topk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* First allocation: small, so k = 1e9 with three rows costs three slots. */
#define TOPK_MIN_CAP 16

void hdb__topk_init(hdb__topk *t, size_t k) {
  t->h = NULL;
  t->n = 0;
  t->k = k;
  t->cap = 0;
}

int hdb__topk_cmp(const hdb__topk_item *a, const hdb__topk_item *b) {
  int an = isnan(a->d), bn = isnan(b->d);
  if (an != bn) return an ? 1 : -1;
  if (!an && a->d != b->d) return a->d < b->d ? -1 : 1;
  return strcmp(a->id, b->id);
}

static int qsort_cmp(const void *a, const void *b) { return hdb__topk_cmp(a, b); }

static void sift_up(hdb__topk_item *h, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (hdb__topk_cmp(&h[p], &h[i]) >= 0) break;
    hdb__topk_item tmp = h[p];
    h[p] = h[i];
    h[i] = tmp;
    i = p;
  }
}

static void sift_down(hdb__topk_item *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, w = i;
    if (l < n && hdb__topk_cmp(&h[l], &h[w]) > 0) w = l;
    if (r < n && hdb__topk_cmp(&h[r], &h[w]) > 0) w = r;
    if (w == i) return;
    hdb__topk_item tmp = h[w];
    h[w] = h[i];
    h[i] = tmp;
    i = w;
  }
}

int hdb__topk_would_keep(const hdb__topk *t, double d, const char *id) {
  if (t->n < t->k) return 1;
  if (t->k == 0) return 0;
  hdb__topk_item probe = {d, id, NULL};
  return hdb__topk_cmp(&probe, &t->h[0]) < 0;
}

hdb_status hdb__topk_offer(hdb__topk *t, double d, const char *id, void *p, void **dropped) {
  *dropped = p;
  if (!hdb__topk_would_keep(t, d, id)) return HDB_OK;
  hdb__topk_item it = {d, id, p};
  if (t->n < t->k) {
    if (t->n == t->cap) {
      size_t cap = t->cap ? 2 * t->cap : TOPK_MIN_CAP;
      if (cap > t->k || cap < t->cap) cap = t->k;
      hdb__topk_item *h = hdb__realloc(t->h, cap * sizeof *h);
      if (!h) return HDB_NOMEM;
      t->h = h;
      t->cap = cap;
    }
    t->h[t->n++] = it;
    sift_up(t->h, t->n - 1);
    *dropped = NULL;
    return HDB_OK;
  }
  *dropped = t->h[0].p;
  t->h[0] = it;
  sift_down(t->h, t->n, 0);
  return HDB_OK;
}

void hdb__topk_finish(hdb__topk *t) {
  if (t->n > 1) qsort(t->h, t->n, sizeof *t->h, qsort_cmp);
}

void hdb__topk_free(hdb__topk *t) {
  hdb__free_mem(t->h);
  t->h = NULL;
  t->n = t->cap = 0;
}
