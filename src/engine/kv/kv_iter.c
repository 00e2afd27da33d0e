/*
 * kv_iter.c - the merging iterator and the store's user iterator.
 *
 * The merging iterator joins the sorted streams of the memtables and the
 * tables (one per level-0 table, one per deeper level) in internal-key
 * order. A walk goes one way only (forward after first/seek, backward
 * after last/seek_prev), which is all the user iterator needs: its
 * direction is fixed when it is opened. With a dozen inputs a linear scan
 * for the smallest (largest) beats a heap, as in LevelDB.
 *
 * The user iterator turns internal entries into the user's view at its
 * sequence number: entries newer than the snapshot are skipped; for each
 * user key only the newest visible entry counts, and a tombstone hides
 * the key. Forward it remembers the last key returned and skips older
 * versions of it; backward it walks each key's versions oldest to newest
 * and keeps the last visible one (LevelDB's DBIter scheme). The range is
 * normalised at open to lower = max(start, prefix) inclusive and upper =
 * min(end, successor(prefix)) exclusive, which is exactly the set of keys
 * that carry the prefix.
 */
#include <stdarg.h>
#include <stdio.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/kv/kv_impl.h"

void hdb__lsm_it_fail(hdb__lsm_it *it, hdb_status st, const char *fmt, ...) {
  char msg[HDB_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  it->valid = 0;
  if (it->st == HDB_OK) {
    it->st = st;
    hdb__fail(&it->err, st, "%s", msg);
  }
}

void hdb__lsm_it_seek_prev(hdb__lsm_it *it, const char *ikey, size_t klen) {
  it->vt->seek(it, ikey, klen);
  if (it->st != HDB_OK) return;
  if (!it->valid)
    it->vt->last(it);
  else if (hdb__lsm_ikey_cmp(it->key, it->klen, ikey, klen) > 0)
    it->vt->prev(it);
}

/* ------------------------------------------------------------------ */
/* Merging iterator                                                    */
/* ------------------------------------------------------------------ */

typedef struct merge_it {
  hdb__lsm_it base;
  hdb__lsm_it **kids;
  size_t n;
  hdb__lsm_it *cur;
} merge_it;

static void mi_pick(merge_it *m, int largest) {
  m->cur = NULL;
  for (size_t i = 0; i < m->n; i++) {
    hdb__lsm_it *k = m->kids[i];
    if (k->st != HDB_OK) {
      m->base.valid = 0;
      if (m->base.st == HDB_OK) {
        m->base.st = k->st;
        m->base.err = k->err;
      }
      return;
    }
    if (!k->valid) continue;
    if (!m->cur) {
      m->cur = k;
      continue;
    }
    int c = hdb__lsm_ikey_cmp(k->key, k->klen, m->cur->key, m->cur->klen);
    if (largest ? c > 0 : c < 0) m->cur = k;
  }
  m->base.valid = m->cur != NULL;
  if (m->cur) {
    m->base.key = m->cur->key;
    m->base.klen = m->cur->klen;
    m->base.val = m->cur->val;
    m->base.vlen = m->cur->vlen;
  }
}

static void mi_first(hdb__lsm_it *b) {
  merge_it *m = (merge_it *)b;
  for (size_t i = 0; i < m->n; i++) m->kids[i]->vt->first(m->kids[i]);
  mi_pick(m, 0);
}
static void mi_last(hdb__lsm_it *b) {
  merge_it *m = (merge_it *)b;
  for (size_t i = 0; i < m->n; i++) m->kids[i]->vt->last(m->kids[i]);
  mi_pick(m, 1);
}
static void mi_seek(hdb__lsm_it *b, const char *k, size_t n) {
  merge_it *m = (merge_it *)b;
  for (size_t i = 0; i < m->n; i++) m->kids[i]->vt->seek(m->kids[i], k, n);
  mi_pick(m, 0);
}
/* Backward positioning must place every child at its last entry <= k. */
static void mi_next(hdb__lsm_it *b) {
  merge_it *m = (merge_it *)b;
  m->cur->vt->next(m->cur);
  mi_pick(m, 0);
}
static void mi_prev(hdb__lsm_it *b) {
  merge_it *m = (merge_it *)b;
  m->cur->vt->prev(m->cur);
  mi_pick(m, 1);
}
static void mi_close(hdb__lsm_it *b) {
  merge_it *m = (merge_it *)b;
  for (size_t i = 0; i < m->n; i++) m->kids[i]->vt->close(m->kids[i]);
  hdb__free_mem(m->kids);
  hdb__free_mem(m);
}

static const hdb__lsm_it_vt mi_vt = {mi_first, mi_last, mi_seek, mi_next, mi_prev, mi_close};

/* seek_prev on a merge is per child (the generic seek-then-step would
 * move only the chosen child back). */
static void merge_seek_prev(hdb__lsm_it *b, const char *k, size_t n) {
  if (b->vt != &mi_vt) {
    hdb__lsm_it_seek_prev(b, k, n);
    return;
  }
  merge_it *m = (merge_it *)b;
  for (size_t i = 0; i < m->n; i++) hdb__lsm_it_seek_prev(m->kids[i], k, n);
  mi_pick(m, 1);
}

hdb_status hdb__lsm_merge_new(hdb__lsm_it **children, size_t n, hdb__lsm_it **out,
                              hdb_error *err) {
  *out = NULL;
  merge_it *m = hdb__calloc(1, sizeof *m);
  if (!m) {
    for (size_t i = 0; i < n; i++) children[i]->vt->close(children[i]);
    hdb__free_mem(children);
    return hdb__fail(err, HDB_NOMEM, "kv: out of memory for an iterator");
  }
  m->base.vt = &mi_vt;
  m->kids = children;
  m->n = n;
  *out = &m->base;
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* The user iterator                                                   */
/* ------------------------------------------------------------------ */

enum { ST_FRESH, ST_POSITIONED, ST_RETURNED, ST_DONE };

struct hdb__lsm_iter {
  hdb__lsm *db;
  hdb__lsm_pinned pin;
  hdb__lsm_it *in;
  int reverse;
  int has_lower, has_upper;
  hdb__lsm_buf lower, upper;
  hdb__lsm_buf key, val; /* the entry returned (val only when reverse) */
  hdb__lsm_buf target;   /* seek scratch */
  int state;
  hdb_status st;
  hdb_error err;
};

static hdb_status it_error(hdb__lsm_iter *it, hdb_error *err) {
  if (err) *err = it->err;
  return it->st;
}

static int below_lower(const hdb__lsm_iter *it, const char *k, size_t n) {
  return it->has_lower && hdb__lsm_ukey_cmp(k, n, it->lower.p, it->lower.len) < 0;
}
static int at_or_above_upper(const hdb__lsm_iter *it, const char *k, size_t n) {
  return it->has_upper && hdb__lsm_ukey_cmp(k, n, it->upper.p, it->upper.len) >= 0;
}

static int take_error(hdb__lsm_iter *it) {
  if (it->in->st == HDB_OK) return 0;
  it->st = it->in->st;
  it->err = it->in->err;
  return 1;
}

/* Forward: the next visible entry at or after the internal position. */
static hdb_status fwd_find(hdb__lsm_iter *it, int skipping) {
  hdb__lsm_it *in = it->in;
  while (in->valid) {
    size_t uk = in->klen - 8;
    uint64_t tag = hdb__lsm_ikey_tag(in->key, in->klen);
    if (at_or_above_upper(it, in->key, uk)) break;
    if ((tag >> 8) <= it->pin.seq) {
      if (skipping && hdb__lsm_ukey_cmp(in->key, uk, it->key.p, it->key.len) <= 0) {
        /* an older version of a key already returned or deleted */
      } else {
        hdb_status st = hdb__lsm_buf_set(&it->key, in->key, uk, &it->err);
        if (st != HDB_OK) return it->st = st;
        if ((tag & 0xff) == HDB__LSM_DEL) {
          skipping = 1;
        } else {
          it->state = ST_RETURNED;
          return HDB_OK;
        }
      }
    }
    in->vt->next(in);
  }
  if (take_error(it)) return it->st;
  it->state = ST_DONE;
  return HDB_DONE;
}

/* Backward: collects the newest visible version of the previous key. */
static hdb_status rev_find(hdb__lsm_iter *it) {
  hdb__lsm_it *in = it->in;
  int type = HDB__LSM_DEL;
  hdb_status st;
  while (in->valid) {
    size_t uk = in->klen - 8;
    uint64_t tag = hdb__lsm_ikey_tag(in->key, in->klen);
    if (below_lower(it, in->key, uk)) break;
    if (!at_or_above_upper(it, in->key, uk) && (tag >> 8) <= it->pin.seq) {
      if (type != HDB__LSM_DEL && hdb__lsm_ukey_cmp(in->key, uk, it->key.p, it->key.len) < 0) break;
      type = (int)(tag & 0xff);
      if (type == HDB__LSM_PUT) {
        if ((st = hdb__lsm_buf_set(&it->key, in->key, uk, &it->err)) != HDB_OK ||
            (st = hdb__lsm_buf_set(&it->val, in->val, in->vlen, &it->err)) != HDB_OK)
          return it->st = st;
      }
    }
    in->vt->prev(in);
  }
  if (take_error(it)) return it->st;
  if (type == HDB__LSM_DEL) {
    it->state = ST_DONE;
    return HDB_DONE;
  }
  it->state = ST_RETURNED;
  return HDB_OK;
}

static hdb_status set_target(hdb__lsm_iter *it, const char *k, size_t n, uint64_t tag) {
  hdb_status st = hdb__lsm_buf_set(&it->target, k, n, &it->err);
  if (st == HDB_OK) st = hdb__lsm_buf_reserve(&it->target, 8, &it->err);
  if (st != HDB_OK) return it->st = st;
  hdb__lsm_put64(it->target.p + n, tag);
  it->target.len = n + 8;
  return HDB_OK;
}

static hdb_status position(hdb__lsm_iter *it, const char *key, size_t klen) {
  hdb_status st;
  if (!it->reverse) {
    if (!key || below_lower(it, key, klen)) {
      key = it->has_lower ? it->lower.p : NULL;
      klen = it->lower.len;
    }
    if (!key) {
      it->in->vt->first(it->in);
    } else {
      if ((st = set_target(it, key, klen, HDB__LSM_TAG(HDB__LSM_MAX_SEQ, HDB__LSM_PUT))) != HDB_OK)
        return st;
      it->in->vt->seek(it->in, it->target.p, it->target.len);
    }
  } else {
    uint64_t tag = 0; /* (key, 0, DEL) is the last internal key of key */
    if (!key || at_or_above_upper(it, key, klen)) {
      key = it->has_upper ? it->upper.p : NULL;
      klen = it->upper.len;
      tag = HDB__LSM_TAG(HDB__LSM_MAX_SEQ, HDB__LSM_PUT);
    }
    if (!key) {
      it->in->vt->last(it->in);
    } else {
      if ((st = set_target(it, key, klen, tag)) != HDB_OK) return st;
      merge_seek_prev(it->in, it->target.p, it->target.len);
    }
  }
  if (take_error(it)) return it->st;
  it->state = ST_POSITIONED;
  return HDB_OK;
}

hdb_status hdb__lsm_iter_open(hdb__lsm *db, const hdb__lsm_snapshot *snap,
                              const hdb_kv_range *range, hdb__lsm_iter **out, hdb_error *err) {
  *out = NULL;
  if (!snap && atomic_load(&db->reader)) {
    hdb_status rs = hdb__lsm_reader_refresh(db, err);
    if (rs != HDB_OK) return rs;
  }
  hdb__lsm_iter *it = hdb__calloc(1, sizeof *it);
  if (!it) return hdb__fail(err, HDB_NOMEM, "kv: out of memory for an iterator");
  it->db = db;
  hdb__lsm_pin(db, snap, &it->pin);
  hdb_status st = hdb__lsm_pinned_iter(&it->pin, &it->in, err);
  if (st != HDB_OK) goto fail;
  if (range) {
    it->reverse = range->reverse != 0;
    if (range->start) {
      if ((st = hdb__lsm_buf_set(&it->lower, range->start, range->start_len, err)) != HDB_OK)
        goto fail;
      it->has_lower = 1;
    }
    if (range->prefix && range->prefix_len > 0) {
      if (!it->has_lower || hdb__lsm_ukey_cmp(range->prefix, range->prefix_len, it->lower.p,
                                              it->lower.len) > 0) {
        if ((st = hdb__lsm_buf_set(&it->lower, range->prefix, range->prefix_len, err)) != HDB_OK)
          goto fail;
        it->has_lower = 1;
      }
      /* successor(prefix): drop trailing 0xff bytes, increment the last. */
      size_t n = range->prefix_len;
      const unsigned char *p = range->prefix;
      while (n > 0 && p[n - 1] == 0xff) n--;
      if (n > 0) {
        if ((st = hdb__lsm_buf_set(&it->upper, p, n, err)) != HDB_OK) goto fail;
        it->upper.p[n - 1] = (char)(p[n - 1] + 1);
        it->has_upper = 1;
      }
    }
    if (range->end && (!it->has_upper || hdb__lsm_ukey_cmp(range->end, range->end_len,
                                                           it->upper.p, it->upper.len) < 0)) {
      if ((st = hdb__lsm_buf_set(&it->upper, range->end, range->end_len, err)) != HDB_OK) goto fail;
      it->has_upper = 1;
    }
  }
  it->state = ST_FRESH;
  *out = it;
  return HDB_OK;
fail:
  hdb__lsm_iter_close(it);
  return st;
}

hdb_status hdb__lsm_iter_seek(hdb__lsm_iter *it, const void *key, size_t klen, hdb_error *err) {
  if (it->st != HDB_OK) return it_error(it, err);
  hdb_status st = position(it, key, klen);
  if (st != HDB_OK) return it_error(it, err);
  return HDB_OK;
}

hdb_status hdb__lsm_iter_next(hdb__lsm_iter *it, const void **key, size_t *klen,
                              const void **val, size_t *vlen, hdb_error *err) {
  if (it->st != HDB_OK) return it_error(it, err);
  if (it->state == ST_DONE) return HDB_DONE;
  hdb_status st;
  if (it->state == ST_FRESH && (st = position(it, NULL, 0)) != HDB_OK) return it_error(it, err);
  if (!it->reverse) {
    int skipping = 0;
    if (it->state == ST_RETURNED) {
      it->in->vt->next(it->in);
      skipping = 1;
    }
    st = fwd_find(it, skipping);
  } else {
    st = rev_find(it);
  }
  if (st == HDB_DONE) return st;
  if (st != HDB_OK) return it_error(it, err);
  if (key) *key = it->key.p;
  if (klen) *klen = it->key.len;
  if (it->reverse) {
    if (val) *val = it->val.p ? it->val.p : "";
    if (vlen) *vlen = it->val.len;
  } else {
    if (val) *val = it->in->val;
    if (vlen) *vlen = it->in->vlen;
  }
  return HDB_OK;
}

void hdb__lsm_iter_close(hdb__lsm_iter *it) {
  if (!it) return;
  if (it->in) it->in->vt->close(it->in);
  hdb__lsm_unpin(it->db, &it->pin);
  hdb__lsm_buf_free(&it->lower);
  hdb__lsm_buf_free(&it->upper);
  hdb__lsm_buf_free(&it->key);
  hdb__lsm_buf_free(&it->val);
  hdb__lsm_buf_free(&it->target);
  hdb__free_mem(it);
}
