/*
 * memory_store.c - the shared store of the memory backend: rows, tables
 * with their id hash, states (the set of tables and KV namespaces), the
 * store lock and the process-wide registry of named stores.
 *
 * Tables keep rows in an array in insertion order (deleted rows leave a
 * NULL slot until compaction) and an open-addressing hash from id to slot
 * with linear probing and backward-shift deletion, so lookups, inserts and
 * deletes by id are O(1) expected and a scan is in insertion order.
 *
 * The copy-on-write rules (rows immutable, tables and KV nodes refcounted,
 * a table changed in place only at refcount 1) are stated in memory.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"

#include "core/alloc.h"
#include "core/err.h"

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

uint64_t hdb__mem_hash_id(const char *id) {
  /* FNV-1a, then a murmur3 finalizer so the low bits mix well for masking. */
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
    h ^= *p;
    h *= 1099511628211ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

hdb__mem_row *hdb__mem_row_new(hdb_record *rec) {
  hdb__mem_row *row = hdb__malloc(sizeof *row);
  if (!row) return NULL;
  atomic_init(&row->refs, 1);
  row->hash = hdb__mem_hash_id(rec->id);
  row->rec = rec;
  return row;
}

void hdb__mem_row_release(hdb__mem_row *row) {
  if (!row) return;
  if (atomic_fetch_sub(&row->refs, 1) != 1) return;
  hdb_record_free(row->rec);
  hdb__free_mem(row);
}

static hdb__mem_row *row_ref(hdb__mem_row *row) {
  atomic_fetch_add(&row->refs, 1);
  return row;
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

static void index_clear(hdb__mem_index *ix) {
  hdb__free_mem(ix->column);
  hdb__free_mem(ix->params);
}

static void table_free(hdb__mem_table *t) {
  for (size_t i = 0; i < t->n_slots; i++) hdb__mem_row_release(t->slots[i]);
  for (size_t i = 0; i < t->n_indexes; i++) index_clear(&t->indexes[i]);
  hdb__free_mem(t->indexes);
  hdb__free_mem(t->slots);
  hdb__free_mem(t->buckets);
  hdb_schema_free(t->schema);
  hdb__free_mem(t->name);
  hdb__free_mem(t);
}

void hdb__mem_table_release(hdb__mem_table *t) {
  if (!t) return;
  if (atomic_fetch_sub(&t->refs, 1) != 1) return;
  table_free(t);
}

hdb__mem_table *hdb__mem_table_new(const char *name, const hdb_schema *schema) {
  hdb__mem_table *t = hdb__calloc(1, sizeof *t);
  if (!t) return NULL;
  atomic_init(&t->refs, 1);
  t->name = hdb__strdup(name);
  if (!t->name) goto fail;
  if (schema) {
    t->schema = hdb_schema_clone(schema);
    if (!t->schema) goto fail;
  }
  return t;
fail:
  table_free(t);
  return NULL;
}

/* A private copy of t sharing its rows (refs 1). NULL on OOM. */
static hdb__mem_table *table_clone(const hdb__mem_table *t) {
  hdb__mem_table *c = hdb__mem_table_new(t->name, t->schema);
  if (!c) return NULL;
  if (t->n_slots) {
    c->slots = hdb__malloc(t->n_slots * sizeof *c->slots);
    if (!c->slots) goto fail;
    c->slot_cap = t->n_slots;
  }
  if (t->n_buckets) {
    c->buckets = hdb__malloc(t->n_buckets * sizeof *c->buckets);
    if (!c->buckets) goto fail;
    memcpy(c->buckets, t->buckets, t->n_buckets * sizeof *c->buckets);
    c->n_buckets = t->n_buckets;
  }
  if (t->n_indexes) {
    c->indexes = hdb__calloc(t->n_indexes, sizeof *c->indexes);
    if (!c->indexes) goto fail;
    for (size_t i = 0; i < t->n_indexes; i++) {
      c->indexes[i].type = t->indexes[i].type;
      c->indexes[i].column = hdb__strdup(t->indexes[i].column);
      c->indexes[i].params = hdb__strdup(t->indexes[i].params);
      c->n_indexes = i + 1;
      if (!c->indexes[i].column || !c->indexes[i].params) goto fail;
    }
  }
  /* Nothing can fail past this point: take the row references. */
  for (size_t i = 0; i < t->n_slots; i++) c->slots[i] = t->slots[i] ? row_ref(t->slots[i]) : NULL;
  c->n_slots = t->n_slots;
  c->n_rows = t->n_rows;
  return c;
fail:
  table_free(c);
  return NULL;
}

size_t hdb__mem_table_slot(const hdb__mem_table *t, const char *id) {
  if (!t->n_buckets || !id) return HDB__MEM_EMPTY;
  uint64_t h = hdb__mem_hash_id(id);
  size_t mask = t->n_buckets - 1;
  for (size_t b = (size_t)h & mask;; b = (b + 1) & mask) {
    size_t s = t->buckets[b];
    if (s == HDB__MEM_EMPTY) return HDB__MEM_EMPTY;
    const hdb__mem_row *row = t->slots[s];
    if (row->hash == h && strcmp(row->rec->id, id) == 0) return s;
  }
}

/* Inserts slot s (a live row not yet in the hash). Needs a free bucket. */
static void hash_insert(hdb__mem_table *t, size_t s) {
  size_t mask = t->n_buckets - 1;
  size_t b = (size_t)t->slots[s]->hash & mask;
  while (t->buckets[b] != HDB__MEM_EMPTY) b = (b + 1) & mask;
  t->buckets[b] = s;
}

static void hash_rebuild(hdb__mem_table *t) {
  for (size_t b = 0; b < t->n_buckets; b++) t->buckets[b] = HDB__MEM_EMPTY;
  for (size_t s = 0; s < t->n_slots; s++)
    if (t->slots[s]) hash_insert(t, s);
}

/* Removes slot s from the hash by backward-shift deletion, which keeps
 * every probe chain unbroken without tombstones. */
static void hash_delete(hdb__mem_table *t, size_t s) {
  size_t mask = t->n_buckets - 1;
  size_t i = (size_t)t->slots[s]->hash & mask;
  while (t->buckets[i] != s) i = (i + 1) & mask;
  t->buckets[i] = HDB__MEM_EMPTY;
  for (size_t j = (i + 1) & mask; t->buckets[j] != HDB__MEM_EMPTY; j = (j + 1) & mask) {
    size_t home = (size_t)t->slots[t->buckets[j]]->hash & mask;
    /* The entry at j may move to the hole at i when i lies on its probe
     * path, i.e. cyclically within [home, j). */
    if (((j - home) & mask) >= ((j - i) & mask)) {
      t->buckets[i] = t->buckets[j];
      t->buckets[j] = HDB__MEM_EMPTY;
      i = j;
    }
  }
}

/* Squeezes NULL slots out, keeping order, and rehashes in place. */
static void table_compact(hdb__mem_table *t) {
  size_t w = 0;
  for (size_t s = 0; s < t->n_slots; s++)
    if (t->slots[s]) t->slots[w++] = t->slots[s];
  t->n_slots = w;
  hash_rebuild(t);
}

void hdb__mem_table_maybe_compact(hdb__mem_table *t) {
  if (t->n_slots >= 32 && t->n_slots > 2 * t->n_rows) table_compact(t);
}

hdb_status hdb__mem_table_reserve(hdb__mem_table *t, size_t extra, hdb_error *err) {
  if (t->n_slots - t->n_rows > t->n_rows) table_compact(t);
  size_t need_slots = t->n_slots + extra;
  if (need_slots < t->n_slots) return hdb__fail(err, HDB_TOO_BIG, "table '%s' is too big", t->name);
  if (need_slots > t->slot_cap) {
    size_t cap = t->slot_cap ? t->slot_cap : 16;
    while (cap < need_slots) cap *= 2;
    hdb__mem_row **p = hdb__realloc(t->slots, cap * sizeof *p);
    if (!p) return hdb__fail(err, HDB_NOMEM, "out of memory growing table '%s'", t->name);
    t->slots = p;
    t->slot_cap = cap;
  }
  size_t need_buckets = 2 * (t->n_rows + extra);
  if (need_buckets > t->n_buckets) {
    size_t nb = t->n_buckets ? t->n_buckets : 32;
    while (nb < need_buckets) nb *= 2;
    size_t *b = hdb__malloc(nb * sizeof *b);
    if (!b) return hdb__fail(err, HDB_NOMEM, "out of memory growing table '%s'", t->name);
    hdb__free_mem(t->buckets);
    t->buckets = b;
    t->n_buckets = nb;
    hash_rebuild(t);
  }
  return HDB_OK;
}

void hdb__mem_table_append(hdb__mem_table *t, hdb__mem_row *row) {
  size_t s = t->n_slots++;
  t->slots[s] = row;
  t->n_rows++;
  hash_insert(t, s);
}

void hdb__mem_table_replace(hdb__mem_table *t, size_t slot, hdb__mem_row *row) {
  /* Same id, so the same hash and bucket: only the slot's row changes. */
  hdb__mem_row_release(t->slots[slot]);
  t->slots[slot] = row;
}

void hdb__mem_table_remove_slot(hdb__mem_table *t, size_t slot) {
  hash_delete(t, slot);
  hdb__mem_row_release(t->slots[slot]);
  t->slots[slot] = NULL;
  t->n_rows--;
}

/* ------------------------------------------------------------------ */
/* States                                                              */
/* ------------------------------------------------------------------ */

hdb__mem_state *hdb__mem_state_new(void) {
  return hdb__calloc(1, sizeof(hdb__mem_state));
}

void hdb__mem_state_free(hdb__mem_state *st) {
  if (!st) return;
  for (size_t i = 0; i < st->n_tables; i++) hdb__mem_table_release(st->tables[i]);
  for (size_t i = 0; i < st->n_ns; i++) {
    hdb__free_mem(st->ns[i].name);
    hdb__kvmap_release(st->ns[i].root);
  }
  hdb__free_mem(st->tables);
  hdb__free_mem(st->ns);
  hdb__free_mem(st);
}

hdb__mem_state *hdb__mem_state_clone(const hdb__mem_state *src) {
  hdb__mem_state *st = hdb__mem_state_new();
  if (!st) return NULL;
  if (src->n_tables) {
    st->tables = hdb__malloc(src->n_tables * sizeof *st->tables);
    if (!st->tables) goto fail;
    st->cap_tables = src->n_tables;
  }
  if (src->n_ns) {
    st->ns = hdb__calloc(src->n_ns, sizeof *st->ns);
    if (!st->ns) goto fail;
    st->cap_ns = src->n_ns;
    for (size_t i = 0; i < src->n_ns; i++) {
      st->ns[i].name = hdb__strdup(src->ns[i].name);
      if (!st->ns[i].name) goto fail;
      st->ns[i].root = hdb__kvmap_ref(src->ns[i].root);
      st->n_ns = i + 1;
    }
  }
  for (size_t i = 0; i < src->n_tables; i++) {
    st->tables[i] = src->tables[i];
    atomic_fetch_add(&st->tables[i]->refs, 1);
  }
  st->n_tables = src->n_tables;
  return st;
fail:
  for (size_t i = 0; st->ns && i < src->n_ns; i++) hdb__free_mem(st->ns[i].name);
  for (size_t i = 0; i < st->n_ns; i++) hdb__kvmap_release(st->ns[i].root);
  hdb__free_mem(st->ns);
  hdb__free_mem(st->tables);
  hdb__free_mem(st);
  return NULL;
}

hdb__mem_table *hdb__mem_table_find(const hdb__mem_state *st, const char *name, size_t *pos) {
  size_t lo = 0, hi = st->n_tables;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(st->tables[mid]->name, name);
    if (c == 0) {
      if (pos) *pos = mid;
      return st->tables[mid];
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (pos) *pos = lo;
  return NULL;
}

hdb_status hdb__mem_table_lookup(const hdb__mem_state *st, const char *name,
                                 hdb__mem_table **out, hdb_error *err) {
  *out = hdb__mem_table_find(st, name, NULL);
  if (!*out) return hdb__fail(err, HDB_NO_TABLE, "no table '%s'", name);
  return HDB_OK;
}

hdb_status hdb__mem_table_writable(hdb__mem_state *st, const char *name, hdb__mem_table **out,
                                   hdb_error *err) {
  size_t pos;
  hdb__mem_table *t = hdb__mem_table_find(st, name, &pos);
  *out = NULL;
  if (!t) return hdb__fail(err, HDB_NO_TABLE, "no table '%s'", name);
  /* refs == 1 means this state holds the only reference, and only a holder
   * can add one, so nobody can start sharing it while we change it. */
  if (atomic_load(&t->refs) > 1) {
    hdb__mem_table *c = table_clone(t);
    if (!c) return hdb__fail(err, HDB_NOMEM, "out of memory copying table '%s'", name);
    st->tables[pos] = c;
    hdb__mem_table_release(t);
    t = c;
  }
  *out = t;
  return HDB_OK;
}

hdb__mem_ns *hdb__mem_ns_find(const hdb__mem_state *st, const char *name, size_t *pos) {
  size_t lo = 0, hi = st->n_ns;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(st->ns[mid].name, name);
    if (c == 0) {
      if (pos) *pos = mid;
      return &st->ns[mid];
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (pos) *pos = lo;
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Access to the state a handle sees                                   */
/* ------------------------------------------------------------------ */

hdb__mem_state *hdb__mem_read_begin(hdb__mem_conn *c) {
  if (c->txn) return c->txn;
  pthread_rwlock_rdlock(&c->store->lock);
  return c->store->state;
}

void hdb__mem_read_end(hdb__mem_conn *c) {
  if (!c->txn) pthread_rwlock_unlock(&c->store->lock);
}

hdb_status hdb__mem_write_begin(hdb__mem_conn *c, hdb__mem_state **st, hdb_error *err) {
  *st = NULL;
  if (c->read_only)
    return hdb__fail(err, HDB_READ_ONLY, "memory://%s was opened read-only",
                     c->store->name ? c->store->name : "");
  if (c->txn) {
    *st = c->txn;
    return HDB_OK;
  }
  pthread_rwlock_wrlock(&c->store->lock);
  *st = c->store->state;
  return HDB_OK;
}

void hdb__mem_write_end(hdb__mem_conn *c, int changed) {
  if (c->txn) {
    if (changed) c->txn->dirty = 1;
    return;
  }
  if (changed) c->store->seq++;
  pthread_rwlock_unlock(&c->store->lock);
}

/* ------------------------------------------------------------------ */
/* Registry of named stores                                            */
/* ------------------------------------------------------------------ */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static hdb__mem_store *registry; /* named stores with handles > 0 */

static void store_free(hdb__mem_store *s) {
  hdb__mem_state_free(s->state);
  pthread_rwlock_destroy(&s->lock);
  hdb__free_mem(s->name);
  hdb__free_mem(s);
}

static hdb_status store_new(const char *name, hdb__mem_store **out, hdb_error *err) {
  hdb__mem_store *s = hdb__calloc(1, sizeof *s);
  if (!s) return hdb__fail(err, HDB_NOMEM, "out of memory opening memory://%s", name ? name : "");
  if (name) {
    s->name = hdb__strdup(name);
    if (!s->name) goto nomem;
  }
  s->state = hdb__mem_state_new();
  if (!s->state) goto nomem;
  if (pthread_rwlock_init(&s->lock, NULL) != 0) {
    hdb__mem_state_free(s->state);
    hdb__free_mem(s->name);
    hdb__free_mem(s);
    return hdb__fail(err, HDB_ERROR, "memory://%s: cannot create a lock", name ? name : "");
  }
  s->handles = 1;
  *out = s;
  return HDB_OK;
nomem:
  hdb__free_mem(s->name);
  hdb__free_mem(s);
  return hdb__fail(err, HDB_NOMEM, "out of memory opening memory://%s", name ? name : "");
}

hdb_status hdb__mem_store_acquire(const char *name, hdb__mem_store **out, hdb_error *err) {
  *out = NULL;
  if (!name || !*name) return store_new(NULL, out, err);
  pthread_mutex_lock(&registry_lock);
  for (hdb__mem_store *s = registry; s; s = s->next) {
    if (strcmp(s->name, name) == 0) {
      s->handles++;
      pthread_mutex_unlock(&registry_lock);
      *out = s;
      return HDB_OK;
    }
  }
  hdb__mem_store *s;
  hdb_status st = store_new(name, &s, err);
  if (st == HDB_OK) {
    s->next = registry;
    registry = s;
    *out = s;
  }
  pthread_mutex_unlock(&registry_lock);
  return st;
}

void hdb__mem_store_release(hdb__mem_store *s) {
  if (!s) return;
  if (!s->name) {
    store_free(s);
    return;
  }
  pthread_mutex_lock(&registry_lock);
  int last = --s->handles == 0;
  if (last) {
    hdb__mem_store **pp = &registry;
    while (*pp != s) pp = &(*pp)->next;
    *pp = s->next;
  }
  pthread_mutex_unlock(&registry_lock);
  if (last) store_free(s);
}
