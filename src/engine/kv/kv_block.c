/*
 * kv_block.c - data and index blocks: building, seeking, iterating.
 *
 * Layout of a block (before optional compression):
 *   entry* | u32 restart[nr] | u32 nr
 *   entry = varint shared | varint unshared | varint vlen | key[unshared] | value
 * Each key shares `shared` leading bytes with the previous key; every
 * interval-th entry is a restart point with shared = 0 whose offset is in
 * the restart array, so a seek is a binary search over restart keys and a
 * short forward scan. Keys are internal keys (>= 8 bytes).
 *
 * Decoding never trusts the bytes: every varint, length and offset is
 * bounds-checked and any violation is HDB_CORRUPT naming the file and the
 * block's offset (the fuzzer drives these paths).
 */
#include <stdarg.h>
#include <stdio.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/kv/kv_impl.h"

void hdb__lsm_bb_init(hdb__lsm_block_builder *b, int interval) {
  memset(b, 0, sizeof *b);
  b->interval = interval;
}

void hdb__lsm_bb_free(hdb__lsm_block_builder *b) {
  hdb__lsm_buf_free(&b->data);
  hdb__lsm_buf_free(&b->restarts);
  hdb__lsm_buf_free(&b->last);
}

void hdb__lsm_bb_reset(hdb__lsm_block_builder *b) {
  b->data.len = b->restarts.len = b->last.len = 0;
  b->counter = 0;
  b->n = 0;
}

size_t hdb__lsm_bb_size(const hdb__lsm_block_builder *b) {
  return b->data.len + b->restarts.len + 4 + (b->counter == 0 ? 4 : 0);
}

hdb_status hdb__lsm_bb_add(hdb__lsm_block_builder *b, const char *key, size_t klen,
                           const char *val, size_t vlen, hdb_error *err) {
  size_t shared = 0;
  hdb_status st;
  if (b->counter < b->interval && b->n > 0) {
    size_t max = klen < b->last.len ? klen : b->last.len;
    while (shared < max && b->last.p[shared] == key[shared]) shared++;
  } else {
    char r[4];
    hdb__lsm_put32(r, (uint32_t)b->data.len);
    if ((st = hdb__lsm_buf_append(&b->restarts, r, 4, err)) != HDB_OK) return st;
    b->counter = 0;
  }
  if ((st = hdb__lsm_buf_reserve(&b->data, 30 + klen - shared + vlen, err)) != HDB_OK) return st;
  char *p = b->data.p + b->data.len;
  p += hdb__lsm_putv(p, shared);
  p += hdb__lsm_putv(p, klen - shared);
  p += hdb__lsm_putv(p, vlen);
  memcpy(p, key + shared, klen - shared);
  p += klen - shared;
  if (vlen) memcpy(p, val, vlen);
  p += vlen;
  b->data.len = (size_t)(p - b->data.p);
  if ((st = hdb__lsm_buf_set(&b->last, key, klen, err)) != HDB_OK) return st;
  b->counter++;
  b->n++;
  return HDB_OK;
}

hdb_status hdb__lsm_bb_finish(hdb__lsm_block_builder *b, hdb_error *err) {
  hdb_status st = hdb__lsm_buf_append(&b->data, b->restarts.p, b->restarts.len, err);
  if (st != HDB_OK) return st;
  char r[4];
  hdb__lsm_put32(r, (uint32_t)(b->restarts.len / 4));
  return hdb__lsm_buf_append(&b->data, r, 4, err);
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

typedef struct blk {
  const char *data;
  size_t limit; /* where the restart array starts */
  const char *restarts;
  uint32_t nr;
} blk;

static int blk_parse(blk *b, const char *data, size_t size) {
  if (size < 4) return 0;
  uint32_t nr = hdb__lsm_get32(data + size - 4);
  if ((uint64_t)nr * 4 > size - 4) return 0;
  b->data = data;
  b->nr = nr;
  b->limit = size - 4 - (size_t)nr * 4;
  b->restarts = data + b->limit;
  return 1;
}

/* Decodes the entry header at off: returns 0 when malformed. */
static int entry_at(const blk *b, size_t off, uint64_t *shared, uint64_t *unshared,
                    uint64_t *vlen, const char **keyp) {
  const char *p = b->data + off, *end = b->data + b->limit;
  if (off >= b->limit) return 0;
  if (!hdb__lsm_getv(&p, end, shared) || !hdb__lsm_getv(&p, end, unshared) ||
      !hdb__lsm_getv(&p, end, vlen))
    return 0;
  if (*unshared > (uint64_t)(end - p) || *vlen > (uint64_t)(end - p) - *unshared) return 0;
  *keyp = p;
  return 1;
}

static int restart_off(const blk *b, uint32_t i, size_t *off) {
  uint32_t o = hdb__lsm_get32(b->restarts + (size_t)i * 4);
  if (o >= b->limit) return 0;
  *off = o;
  return 1;
}

int hdb__lsm_block_seek(const char *data, size_t size, const char *ikey, size_t iklen,
                        char *kbuf, size_t kcap, size_t *klen, const char **val, size_t *vlen,
                        const char *name, uint64_t boff, hdb_error *err) {
  blk b;
  uint64_t sh, un, vl;
  const char *kp;
  size_t off;
  if (!blk_parse(&b, data, size)) goto bad;
  if (b.nr == 0) {
    if (b.limit != 0) goto bad;
    return 0;
  }
  uint32_t lo = 0, hi = b.nr - 1;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    if (!restart_off(&b, mid, &off) || !entry_at(&b, off, &sh, &un, &vl, &kp) || sh != 0 ||
        un < 8)
      goto bad;
    if (hdb__lsm_ikey_cmp(kp, un, ikey, iklen) < 0)
      lo = mid;
    else
      hi = mid - 1;
  }
  if (!restart_off(&b, lo, &off)) goto bad;
  size_t kl = 0;
  while (off < b.limit) {
    if (!entry_at(&b, off, &sh, &un, &vl, &kp) || sh > kl) goto bad;
    if (sh + un > kcap) return -2;
    memcpy(kbuf + sh, kp, un);
    kl = sh + un;
    if (kl < 8) goto bad;
    if (hdb__lsm_ikey_cmp(kbuf, kl, ikey, iklen) >= 0) {
      *klen = kl;
      *val = kp + un;
      *vlen = vl;
      return 1;
    }
    off = (size_t)(kp + un + vl - b.data);
  }
  return 0;
bad:
  hdb__fail(err, HDB_CORRUPT, "kv: %s: malformed block at offset %llu", name,
            (unsigned long long)boff);
  return -1;
}

/* ------------------------------------------------------------------ */
/* Block iterator                                                      */
/* ------------------------------------------------------------------ */

typedef struct blk_iter {
  hdb__lsm_it base;
  blk b;
  size_t cur, next_off; /* current entry and the one after it */
  uint32_t ri;          /* restart region of the current entry */
  hdb__lsm_buf kb;
  char *owned;
  const char *name;
  uint64_t boff;
} blk_iter;

static void bi_corrupt(blk_iter *it) {
  hdb__lsm_it_fail(&it->base, HDB_CORRUPT, "kv: %s: malformed block at offset %llu", it->name,
                   (unsigned long long)it->boff);
}

/* Decodes the entry at next_off (the key continues kb). */
static int bi_step(blk_iter *it) {
  uint64_t sh, un, vl;
  const char *kp;
  if (it->next_off >= it->b.limit) {
    it->base.valid = 0;
    return 0;
  }
  if (!entry_at(&it->b, it->next_off, &sh, &un, &vl, &kp) || sh > it->kb.len) {
    bi_corrupt(it);
    return 0;
  }
  it->kb.len = (size_t)sh;
  if (hdb__lsm_buf_append(&it->kb, kp, (size_t)un, &it->base.err) != HDB_OK) {
    it->base.st = it->base.err.code;
    it->base.valid = 0;
    return 0;
  }
  if (it->kb.len < 8) {
    bi_corrupt(it);
    return 0;
  }
  it->cur = it->next_off;
  it->next_off = (size_t)(kp + un + vl - it->b.data);
  while (it->ri + 1 < it->b.nr && hdb__lsm_get32(it->b.restarts + (size_t)(it->ri + 1) * 4) <= it->cur)
    it->ri++;
  it->base.valid = 1;
  it->base.key = it->kb.p;
  it->base.klen = it->kb.len;
  it->base.val = kp + un;
  it->base.vlen = (size_t)vl;
  return 1;
}

static int bi_to_restart(blk_iter *it, uint32_t i) {
  size_t off;
  if (!restart_off(&it->b, i, &off)) {
    bi_corrupt(it);
    return 0;
  }
  it->ri = i;
  it->kb.len = 0;
  it->next_off = off;
  return 1;
}

static void bi_first(hdb__lsm_it *base) {
  blk_iter *it = (blk_iter *)base;
  base->valid = 0;
  if (base->st != HDB_OK || it->b.nr == 0) return;
  if (bi_to_restart(it, 0)) bi_step(it);
}

static void bi_last(hdb__lsm_it *base) {
  blk_iter *it = (blk_iter *)base;
  base->valid = 0;
  if (base->st != HDB_OK || it->b.nr == 0) return;
  if (!bi_to_restart(it, it->b.nr - 1)) return;
  while (bi_step(it) && it->next_off < it->b.limit) {
  }
}

static void bi_seek(hdb__lsm_it *base, const char *ikey, size_t iklen) {
  blk_iter *it = (blk_iter *)base;
  base->valid = 0;
  if (base->st != HDB_OK || it->b.nr == 0) return;
  uint32_t lo = 0, hi = it->b.nr - 1;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    size_t off;
    uint64_t sh, un, vl;
    const char *kp;
    if (!restart_off(&it->b, mid, &off) || !entry_at(&it->b, off, &sh, &un, &vl, &kp) ||
        sh != 0 || un < 8) {
      bi_corrupt(it);
      return;
    }
    if (hdb__lsm_ikey_cmp(kp, (size_t)un, ikey, iklen) < 0)
      lo = mid;
    else
      hi = mid - 1;
  }
  if (!bi_to_restart(it, lo)) return;
  while (bi_step(it)) {
    if (hdb__lsm_ikey_cmp(it->kb.p, it->kb.len, ikey, iklen) >= 0) return;
  }
}

static void bi_next(hdb__lsm_it *base) {
  bi_step((blk_iter *)base);
}

static void bi_prev(hdb__lsm_it *base) {
  blk_iter *it = (blk_iter *)base;
  size_t target = it->cur;
  uint32_t ri = it->ri;
  base->valid = 0;
  /* The restart region holding the entry before `target`. */
  while (hdb__lsm_get32(it->b.restarts + (size_t)ri * 4) >= target) {
    if (ri == 0) return;
    ri--;
  }
  if (!bi_to_restart(it, ri)) return;
  while (bi_step(it) && it->next_off < target) {
  }
  if (base->valid && it->next_off != target) bi_corrupt(it);
}

static void bi_close(hdb__lsm_it *base) {
  blk_iter *it = (blk_iter *)base;
  hdb__lsm_buf_free(&it->kb);
  hdb__free_mem(it->owned);
  hdb__free_mem(it);
}

static const hdb__lsm_it_vt bi_vt = {bi_first, bi_last, bi_seek, bi_next, bi_prev, bi_close};

hdb_status hdb__lsm_block_iter(const char *data, size_t size, char *owned_buf, const char *name,
                               uint64_t off, hdb__lsm_it **out, hdb_error *err) {
  *out = NULL;
  blk_iter *it = hdb__calloc(1, sizeof *it);
  if (!it) {
    hdb__free_mem(owned_buf);
    return hdb__fail(err, HDB_NOMEM, "kv: out of memory for a block iterator");
  }
  it->base.vt = &bi_vt;
  it->owned = owned_buf;
  it->name = name;
  it->boff = off;
  if (!blk_parse(&it->b, data, size) || (it->b.nr == 0 && it->b.limit != 0)) {
    bi_close(&it->base);
    return hdb__fail(err, HDB_CORRUPT, "kv: %s: malformed block at offset %llu", name,
                     (unsigned long long)off);
  }
  *out = &it->base;
  return HDB_OK;
}
