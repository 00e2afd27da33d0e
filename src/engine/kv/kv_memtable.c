/*
 * kv_memtable.c - the in-memory write buffer: a skiplist in an arena.
 *
 * Entries are (user key, sequence, type, value), ordered as internal keys
 * (user key ascending, sequence descending). A delete is an entry of type
 * DEL (a tombstone); nothing is ever removed or overwritten, so a reader
 * holding a sequence number sees exactly the entries at or below it.
 *
 * Concurrency (LevelDB's scheme): one writer (the commit leader) inserts
 * while any number of readers search and iterate without locks. A node is
 * fully built before it is published with a release store into its
 * predecessors' next pointers (bottom level first); readers load next
 * pointers with acquire, so they see either the old list or the new node
 * complete. Nodes are never freed before the memtable itself, whose life
 * is reference counted.
 *
 * Point lookups first ask a small bloom filter of the memtable's user keys
 * (64 KiB, three probes): most gets look for keys that are in the tables,
 * not in the memtable, and the filter answers them without walking the
 * skiplist, whose node hops are cache misses. The writer sets a key's bits
 * (relaxed atomic ORs) before it publishes the node, and it publishes
 * last_seq under the db mutex only after the insert, so a reader whose
 * pinned sequence covers an entry also sees that entry's bits. Iterators
 * do not use the filter. A false positive only costs the walk.
 *
 * Memory: nodes live in arena blocks. The leader reserves the whole
 * group's bytes before it writes the WAL (hdb__lsm_mem_reserve), so adds
 * cannot fail after the commit point. Node layout:
 *   [struct mt_node][next[height]][user key][8-byte tag][value]
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/kv/kv_impl.h"

#define MT_MAX_HEIGHT 12
#define MT_BLOCK (256u * 1024u)
/* 2^19 bits: about 20 bits per key for the default 4 MiB memtable of
 * 100-byte values; larger memtables only raise the false-positive rate. */
#define MT_BLOOM_WORDS ((1u << 19) / 64u)

typedef struct mt_node {
  uint32_t klen; /* user key length */
  uint32_t vlen;
  int height;
  _Atomic(struct mt_node *) next[];
} mt_node;

typedef struct mt_block {
  struct mt_block *next;
} mt_block;

struct hdb__lsm_mem {
  atomic_int refs;
  mt_node *head;
  atomic_int max_height;
  mt_block *blocks; /* every arena block, for freeing */
  char *cur;        /* bump pointer in the newest block */
  size_t left;
  atomic_size_t usage;
  atomic_uint_least64_t count;
  uint64_t rnd;
  _Atomic uint64_t *bloom; /* MT_BLOOM_WORDS words */
};

/* The three bit positions of a user key (double hashing on one XXH3). */
static inline void bloom_bits(const char *key, size_t klen, uint32_t bit[3]) {
  uint64_t h = hdb__lsm_hash(key, klen, 0x6d656d);
  uint32_t a = (uint32_t)h, b = (uint32_t)(h >> 32) | 1u;
  for (int i = 0; i < 3; i++) bit[i] = (a + (uint32_t)i * b) & (MT_BLOOM_WORDS * 64u - 1u);
}

static void bloom_add(hdb__lsm_mem *m, const char *key, size_t klen) {
  uint32_t bit[3];
  bloom_bits(key, klen, bit);
  for (int i = 0; i < 3; i++)
    atomic_fetch_or_explicit(&m->bloom[bit[i] / 64], (uint64_t)1 << (bit[i] % 64),
                             memory_order_relaxed);
}

static int bloom_may_have(hdb__lsm_mem *m, const char *key, size_t klen) {
  uint32_t bit[3];
  bloom_bits(key, klen, bit);
  for (int i = 0; i < 3; i++)
    if (!(atomic_load_explicit(&m->bloom[bit[i] / 64], memory_order_relaxed) &
          ((uint64_t)1 << (bit[i] % 64))))
      return 0;
  return 1;
}

static inline char *node_key(mt_node *n) {
  return (char *)&n->next[n->height];
}

static size_t align8(size_t n) {
  return (n + 7) & ~(size_t)7;
}

size_t hdb__lsm_mem_entry_size(size_t klen, size_t vlen) {
  return align8(sizeof(mt_node) + MT_MAX_HEIGHT * sizeof(void *) + klen + 8 + vlen);
}

static hdb_status arena_block(hdb__lsm_mem *m, size_t bytes, hdb_error *err) {
  size_t size = bytes > MT_BLOCK - sizeof(mt_block) ? bytes + sizeof(mt_block) : MT_BLOCK;
  mt_block *b = hdb__malloc(size);
  if (!b) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a %zu-byte memtable block", size);
  b->next = m->blocks;
  m->blocks = b;
  m->cur = (char *)b + align8(sizeof(mt_block));
  m->left = size - align8(sizeof(mt_block));
  return HDB_OK;
}

/* Only after a successful reserve of at least n bytes. */
static void *arena_take(hdb__lsm_mem *m, size_t n) {
  n = align8(n);
  void *p = m->cur;
  m->cur += n;
  m->left -= n;
  /* Usage counts bytes handed out, so a small memtable_size works with
   * large arena blocks. */
  atomic_fetch_add_explicit(&m->usage, n, memory_order_relaxed);
  return p;
}

hdb_status hdb__lsm_mem_reserve(hdb__lsm_mem *m, size_t bytes, hdb_error *err) {
  if (m->left >= bytes) return HDB_OK;
  return arena_block(m, bytes, err);
}

hdb_status hdb__lsm_mem_new(hdb__lsm_mem **out, hdb_error *err) {
  *out = NULL;
  hdb__lsm_mem *m = hdb__calloc(1, sizeof *m);
  if (!m) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a memtable");
  atomic_init(&m->refs, 1);
  atomic_init(&m->max_height, 1);
  atomic_init(&m->usage, 0);
  atomic_init(&m->count, 0);
  m->rnd = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)m;
  m->bloom = hdb__calloc(MT_BLOOM_WORDS, sizeof *m->bloom);
  if (!m->bloom) {
    hdb__free_mem(m);
    return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a memtable");
  }
  hdb_status st = arena_block(m, sizeof(mt_node) + MT_MAX_HEIGHT * sizeof(void *), err);
  if (st != HDB_OK) {
    hdb__free_mem((void *)m->bloom);
    hdb__free_mem(m);
    return st;
  }
  m->head = arena_take(m, sizeof(mt_node) + MT_MAX_HEIGHT * sizeof(void *));
  m->head->klen = m->head->vlen = 0;
  m->head->height = MT_MAX_HEIGHT;
  for (int i = 0; i < MT_MAX_HEIGHT; i++) atomic_init(&m->head->next[i], NULL);
  *out = m;
  return HDB_OK;
}

void hdb__lsm_mem_ref(hdb__lsm_mem *m) {
  atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void hdb__lsm_mem_unref(hdb__lsm_mem *m) {
  if (!m) return;
  if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
  mt_block *b = m->blocks;
  while (b) {
    mt_block *next = b->next;
    hdb__free_mem(b);
    b = next;
  }
  hdb__free_mem((void *)m->bloom);
  hdb__free_mem(m);
}

size_t hdb__lsm_mem_usage(const hdb__lsm_mem *m) {
  return atomic_load_explicit(&((hdb__lsm_mem *)m)->usage, memory_order_relaxed);
}

uint64_t hdb__lsm_mem_count(const hdb__lsm_mem *m) {
  return atomic_load_explicit(&((hdb__lsm_mem *)m)->count, memory_order_relaxed);
}

static inline mt_node *nx(mt_node *n, int level) {
  return atomic_load_explicit(&n->next[level], memory_order_acquire);
}

/* node < (key, tag) in internal order. */
static inline int node_less(mt_node *n, const char *key, size_t klen, uint64_t tag) {
  const char *k = node_key(n);
  int c = hdb__lsm_ukey_cmp(k, n->klen, key, klen);
  if (c) return c < 0;
  return hdb__lsm_get64(k + n->klen) > tag;
}

/* First node >= (key, tag); fills prev[] when non-NULL. */
static mt_node *find_ge(hdb__lsm_mem *m, const char *key, size_t klen, uint64_t tag,
                        mt_node **prev) {
  mt_node *x = m->head;
  int level = atomic_load_explicit(&m->max_height, memory_order_relaxed) - 1;
  for (;;) {
    mt_node *n = nx(x, level);
    if (n && node_less(n, key, klen, tag)) {
      x = n;
    } else {
      if (prev) prev[level] = x;
      if (level == 0) return n;
      level--;
    }
  }
}

/* Last node < (key, tag), or head. */
static mt_node *find_lt(hdb__lsm_mem *m, const char *key, size_t klen, uint64_t tag) {
  mt_node *x = m->head;
  int level = atomic_load_explicit(&m->max_height, memory_order_relaxed) - 1;
  for (;;) {
    mt_node *n = nx(x, level);
    if (n && node_less(n, key, klen, tag)) {
      x = n;
    } else {
      if (level == 0) return x;
      level--;
    }
  }
}

static mt_node *find_last(hdb__lsm_mem *m) {
  mt_node *x = m->head;
  int level = atomic_load_explicit(&m->max_height, memory_order_relaxed) - 1;
  for (;;) {
    mt_node *n = nx(x, level);
    if (n) {
      x = n;
    } else {
      if (level == 0) return x;
      level--;
    }
  }
}

static int random_height(hdb__lsm_mem *m) {
  int h = 1;
  for (;;) {
    m->rnd ^= m->rnd << 13;
    m->rnd ^= m->rnd >> 7;
    m->rnd ^= m->rnd << 17;
    if (h >= MT_MAX_HEIGHT || (m->rnd & 3) != 0) return h;
    h++;
  }
}

void hdb__lsm_mem_add(hdb__lsm_mem *m, uint64_t seq, int type, const char *key, size_t klen,
                      const char *val, size_t vlen) {
  uint64_t tag = HDB__LSM_TAG(seq, type);
  mt_node *prev[MT_MAX_HEIGHT];
  find_ge(m, key, klen, tag, prev);
  int h = random_height(m);
  int maxh = atomic_load_explicit(&m->max_height, memory_order_relaxed);
  if (h > maxh) {
    for (int i = maxh; i < h; i++) prev[i] = m->head;
    /* Readers that see the new height before the node find NULL from head
     * at the new levels and drop down: harmless. */
    atomic_store_explicit(&m->max_height, h, memory_order_relaxed);
  }
  mt_node *n = arena_take(m, sizeof(mt_node) + (size_t)h * sizeof(void *) + klen + 8 + vlen);
  n->klen = (uint32_t)klen;
  n->vlen = (uint32_t)vlen;
  n->height = h;
  char *k = node_key(n);
  if (klen) memcpy(k, key, klen);
  hdb__lsm_put64(k + klen, tag);
  if (vlen) memcpy(k + klen + 8, val, vlen);
  bloom_add(m, key, klen); /* before the node is published (see the top) */
  for (int i = 0; i < h; i++) {
    atomic_store_explicit(&n->next[i], nx(prev[i], i), memory_order_relaxed);
    atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
  }
  atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
}

int hdb__lsm_mem_get(hdb__lsm_mem *m, const char *key, size_t klen, uint64_t seq, int *type,
                     const char **val, size_t *vlen) {
  if (!bloom_may_have(m, key, klen)) return 0;
  mt_node *n = find_ge(m, key, klen, HDB__LSM_TAG(seq, HDB__LSM_PUT), NULL);
  if (!n) return 0;
  const char *k = node_key(n);
  if (hdb__lsm_ukey_cmp(k, n->klen, key, klen) != 0) return 0;
  *type = (int)(hdb__lsm_get64(k + n->klen) & 0xff);
  *val = k + n->klen + 8;
  *vlen = n->vlen;
  return 1;
}

/* ------------------------------------------------------------------ */
/* Iterator                                                            */
/* ------------------------------------------------------------------ */

typedef struct mt_iter {
  hdb__lsm_it base;
  hdb__lsm_mem *m;
  mt_node *node;
} mt_iter;

static void mt_set(mt_iter *it, mt_node *n) {
  it->node = n;
  if (!n || n == it->m->head) {
    it->node = NULL;
    it->base.valid = 0;
    return;
  }
  it->base.valid = 1;
  it->base.key = node_key(n);
  it->base.klen = n->klen + 8u;
  it->base.val = it->base.key + it->base.klen;
  it->base.vlen = n->vlen;
}

static void mt_first(hdb__lsm_it *b) {
  mt_iter *it = (mt_iter *)b;
  mt_set(it, nx(it->m->head, 0));
}
static void mt_last(hdb__lsm_it *b) {
  mt_iter *it = (mt_iter *)b;
  mt_set(it, find_last(it->m));
}
static void mt_seek(hdb__lsm_it *b, const char *ikey, size_t klen) {
  mt_iter *it = (mt_iter *)b;
  mt_set(it, find_ge(it->m, ikey, klen - 8, hdb__lsm_get64(ikey + klen - 8), NULL));
}
static void mt_next(hdb__lsm_it *b) {
  mt_iter *it = (mt_iter *)b;
  mt_set(it, nx(it->node, 0));
}
static void mt_prev(hdb__lsm_it *b) {
  mt_iter *it = (mt_iter *)b;
  mt_node *n = it->node;
  mt_set(it, find_lt(it->m, node_key(n), n->klen, hdb__lsm_get64(node_key(n) + n->klen)));
}
static void mt_close(hdb__lsm_it *b) {
  mt_iter *it = (mt_iter *)b;
  hdb__lsm_mem_unref(it->m);
  hdb__free_mem(it);
}

static const hdb__lsm_it_vt mt_vt = {mt_first, mt_last, mt_seek, mt_next, mt_prev, mt_close};

hdb_status hdb__lsm_mem_iter(hdb__lsm_mem *m, hdb__lsm_it **out, hdb_error *err) {
  mt_iter *it = hdb__calloc(1, sizeof *it);
  if (!it) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a memtable iterator");
  it->base.vt = &mt_vt;
  it->m = m;
  hdb__lsm_mem_ref(m);
  *out = &it->base;
  return HDB_OK;
}
