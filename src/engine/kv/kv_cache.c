/*
 * kv_cache.c - the block cache: decompressed data blocks of compressed
 * tables, so a get does not decompress the same block again and again.
 *
 * Keyed by (table id, block index); a table takes a fresh id from the
 * cache when it is opened (ids are never reused, so a closed table's
 * blocks are never found again and simply age out). Bounded in bytes
 * (block size plus a fixed overhead per entry), least recently used
 * evicted first. 16 shards, each with its own mutex, hash table and LRU
 * list, so concurrent gets rarely contend.
 *
 * Entries are reference counted: the cache holds one reference while the
 * entry is listed, each lookup or insert returns one more that the caller
 * gives back with hdb__lsm_cache_release. An evicted entry stays readable
 * by its holders and is freed by the last release. Uncompressed blocks
 * are read straight from the table's mmap and never cached; iterators
 * (scans read each block once) bypass the cache.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "engine/kv/kv_impl.h"

#define SHARDS 16
#define OVERHEAD 96 /* bytes charged per entry besides its block */

struct hdb__lsm_cblock {
  uint64_t id, blk;
  char *data;
  size_t size;
  atomic_int refs;
  int listed;
  struct hdb__lsm_cblock *hnext, *prev, *next;
};

typedef struct shard {
  pthread_mutex_t mu;
  hdb__lsm_cblock **b;
  size_t nb, count, used, cap;
  hdb__lsm_cblock lru; /* sentinel: next is the most recent */
} shard;

struct hdb__lsm_cache {
  shard s[SHARDS];
  atomic_uint_fast64_t next_id;
  atomic_uint_fast64_t hits, misses;
};

static uint64_t mix(uint64_t id, uint64_t blk) {
  uint64_t h = id * 0x9e3779b97f4a7c15ull ^ (blk + 0x632be59bd9b4e019ull);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 29);
}

hdb__lsm_cache *hdb__lsm_cache_new(size_t capacity) {
  hdb__lsm_cache *c = hdb__calloc(1, sizeof *c);
  if (!c) return NULL;
  for (int i = 0; i < SHARDS; i++) {
    shard *s = &c->s[i];
    pthread_mutex_init(&s->mu, NULL);
    s->cap = capacity / SHARDS;
    s->lru.next = s->lru.prev = &s->lru;
  }
  atomic_init(&c->next_id, 1);
  return c;
}

static void entry_free(hdb__lsm_cblock *e) {
  hdb__free_mem(e->data);
  hdb__free_mem(e);
}

void hdb__lsm_cache_free(hdb__lsm_cache *c) {
  if (!c) return;
  for (int i = 0; i < SHARDS; i++) {
    shard *s = &c->s[i];
    /* Every table (and so every holder) is gone by now. */
    for (hdb__lsm_cblock *e = s->lru.next, *n; e != &s->lru; e = n) {
      n = e->next;
      entry_free(e);
    }
    hdb__free_mem(s->b);
    pthread_mutex_destroy(&s->mu);
  }
  hdb__free_mem(c);
}

uint64_t hdb__lsm_cache_new_id(hdb__lsm_cache *c) {
  return atomic_fetch_add(&c->next_id, 1);
}

static void lru_unlink(hdb__lsm_cblock *e) {
  e->prev->next = e->next;
  e->next->prev = e->prev;
}

static void lru_front(shard *s, hdb__lsm_cblock *e) {
  e->next = s->lru.next;
  e->prev = &s->lru;
  s->lru.next->prev = e;
  s->lru.next = e;
}

static hdb__lsm_cblock **slot(shard *s, uint64_t id, uint64_t blk) {
  hdb__lsm_cblock **p = &s->b[(mix(id, blk) >> 4) & (s->nb - 1)];
  while (*p && ((*p)->id != id || (*p)->blk != blk)) p = &(*p)->hnext;
  return p;
}

hdb__lsm_cblock *hdb__lsm_cache_lookup(hdb__lsm_cache *c, uint64_t id, uint64_t blk) {
  shard *s = &c->s[mix(id, blk) & (SHARDS - 1)];
  hdb__lsm_cblock *e = NULL;
  pthread_mutex_lock(&s->mu);
  if (s->nb) e = *slot(s, id, blk);
  if (e) {
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    lru_unlink(e);
    lru_front(s, e);
  }
  pthread_mutex_unlock(&s->mu);
  atomic_fetch_add_explicit(e ? &c->hits : &c->misses, 1, memory_order_relaxed);
  return e;
}

static void drop(shard *s, hdb__lsm_cblock *e) {
  *slot(s, e->id, e->blk) = e->hnext;
  lru_unlink(e);
  s->count--;
  s->used -= e->size + OVERHEAD;
  e->listed = 0;
  if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) entry_free(e);
}

static int grow(shard *s) {
  size_t nb = s->nb ? s->nb * 2 : 64;
  hdb__lsm_cblock **b = hdb__calloc(nb, sizeof *b);
  if (!b) return 0;
  for (size_t i = 0; i < s->nb; i++)
    for (hdb__lsm_cblock *e = s->b[i], *n; e; e = n) {
      n = e->hnext;
      hdb__lsm_cblock **p = &b[(mix(e->id, e->blk) >> 4) & (nb - 1)];
      e->hnext = *p;
      *p = e;
    }
  hdb__free_mem(s->b);
  s->b = b;
  s->nb = nb;
  return 1;
}

hdb__lsm_cblock *hdb__lsm_cache_insert(hdb__lsm_cache *c, uint64_t id, uint64_t blk, char *data,
                                       size_t size) {
  hdb__lsm_cblock *e = hdb__calloc(1, sizeof *e);
  if (!e) return NULL; /* the caller still owns data */
  e->id = id;
  e->blk = blk;
  e->data = data;
  e->size = size;
  atomic_init(&e->refs, 1);
  shard *s = &c->s[mix(id, blk) & (SHARDS - 1)];
  pthread_mutex_lock(&s->mu);
  if (size + OVERHEAD > s->cap || ((s->count >= s->nb) && !grow(s))) {
    /* Too big to keep (or no memory for the table): a private entry. */
    pthread_mutex_unlock(&s->mu);
    return e;
  }
  hdb__lsm_cblock **p = slot(s, id, blk);
  if (*p) {
    /* Another thread decompressed it meanwhile: use theirs. */
    hdb__lsm_cblock *old = *p;
    atomic_fetch_add_explicit(&old->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&s->mu);
    entry_free(e);
    return old;
  }
  *p = e;
  e->listed = 1;
  atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed); /* the cache's */
  lru_front(s, e);
  s->count++;
  s->used += size + OVERHEAD;
  while (s->used > s->cap && s->lru.prev != e) drop(s, s->lru.prev);
  pthread_mutex_unlock(&s->mu);
  return e;
}

const char *hdb__lsm_cblock_data(const hdb__lsm_cblock *e, size_t *size) {
  *size = e->size;
  return e->data;
}

void hdb__lsm_cache_release(hdb__lsm_cblock *e) {
  if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) entry_free(e);
}

void hdb__lsm_cache_stats(hdb__lsm_cache *c, uint64_t *hits, uint64_t *misses, uint64_t *bytes) {
  *hits = *misses = *bytes = 0;
  if (!c) return;
  *hits = atomic_load(&c->hits);
  *misses = atomic_load(&c->misses);
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_lock(&c->s[i].mu);
    *bytes += c->s[i].used;
    pthread_mutex_unlock(&c->s[i].mu);
  }
}
