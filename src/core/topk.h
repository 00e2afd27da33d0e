/*
 * topk.h - a bounded max-heap keeping the k best (distance, id) candidates
 * of a search, for backends that rank rows themselves.
 *
 * Rank (the project's deterministic order, docs/decisions.md): distance
 * ascending, a NaN distance (only possible through float overflow) last,
 * then id ascending by bytes (strcmp). Under that total order the kept set
 * is exactly the k first candidates, whatever the order they were offered
 * in: a candidate tied with the worst kept one on distance is kept only
 * when its id is smaller.
 *
 * Invariants while offering: h[0..n) is a max-heap under the rank (h[0]
 * is the worst kept candidate), n <= k, and n <= cap <= k (the array grows
 * on demand, so a huge k costs only what is kept). After hdb__topk_finish
 * h[0..n) is sorted best first and the heap must not be offered to again.
 *
 * The heap owns neither ids nor payloads: an id must stay valid while its
 * candidate is kept (it is usually the payload's own id), and a payload
 * pushed out or refused is handed back to the caller to free.
 */
#ifndef HDB_CORE_TOPK_H
#define HDB_CORE_TOPK_H

#include <stddef.h>

#include "hanzodb.h"

typedef struct hdb__topk_item {
  double d;
  const char *id; /* borrowed (see above) */
  void *p;        /* the caller's payload: a record, an owned id, ... */
} hdb__topk_item;

typedef struct hdb__topk {
  hdb__topk_item *h;
  size_t n, k, cap;
} hdb__topk;

/* An empty heap keeping at most k candidates; allocates nothing. */
void hdb__topk_init(hdb__topk *t, size_t k);

/* <0 when a ranks before b, >0 after, 0 for equal distance and id. */
int hdb__topk_cmp(const hdb__topk_item *a, const hdb__topk_item *b);

/* Whether (d, id) would be kept now; lets a caller skip building a
 * payload for a candidate that cannot enter. */
int hdb__topk_would_keep(const hdb__topk *t, double d, const char *id);

/* Offers (d, id, p). *dropped receives the payload the caller gets back:
 * p when the candidate is not kept, the evicted candidate's payload when
 * it replaced one, else NULL. HDB_NOMEM (no message) when the array could
 * not grow: nothing changed and *dropped is p. */
hdb_status hdb__topk_offer(hdb__topk *t, double d, const char *id, void *p, void **dropped);

/* Sorts the kept candidates best first in h[0..n). */
void hdb__topk_finish(hdb__topk *t);

/* Frees the array (not the payloads: walk h[0..n) first) and empties t. */
void hdb__topk_free(hdb__topk *t);

#endif
