/*
 * memory.h - internals of the memory:// backend, shared by its files.
 *
 * The memory backend is the reference implementation of hanzodb.h: the
 * conformance suite's expectations are whatever this backend does, so it
 * favours exact semantics over speed (but keeps every path O(n log n) or
 * better: ids are hashed, KV maps are balanced trees).
 *
 * Object graph
 *
 *   registry (global, mutex) --> store (one per memory://NAME, or private)
 *   store: rwlock, committed state, commit sequence number
 *   state: tables (sorted by name), KV namespaces (sorted by name)
 *   table: schema, index metadata, rows in insertion order, id hash
 *   row:   a refcounted IMMUTABLE record
 *   KV namespace: a persistent (path-copying) treap of refcounted nodes
 *   conn (one per hdb handle): the store and, inside a transaction, a
 *         private working copy of the state
 *
 * Copy-on-write, and why transactions are cheap
 *
 *  1. A row's record never changes once the row is in a table; an update
 *     builds a new row. So rows can be shared by any number of tables.
 *  2. Tables are refcounted. A state owns one reference to each of its
 *     tables. A table may be changed in place only while its refcount is 1
 *     (hdb__mem_table_writable clones it first otherwise: O(rows) pointer
 *     copies, the rows themselves are shared).
 *  3. KV namespaces hold the root of a persistent treap whose nodes are
 *     refcounted and never change while shared, so copying a namespace is
 *     one reference; a put copies the O(log n) path it changes.
 *  4. hdb_begin clones the state: O(tables + namespaces) reference copies.
 *     The first write to a table inside the transaction pays the table's
 *     clone; writes to the committed state while a transaction shares a
 *     table do the same. Commit swaps the working state in under the
 *     store's write lock.
 *  5. Refcounts are atomic: references are taken only by a thread that
 *     already holds one (or holds the store lock over the state that does),
 *     so "refcount == 1" seen by the owner cannot race with a new sharer.
 *
 * Locking: the committed state is read under the store's read lock and
 * changed under its write lock. A transaction's working copy belongs to its
 * handle alone (the api layer serializes calls on a handle), so it is used
 * without the store lock. Cursors and KV iterators hold clones or counted
 * references and never the lock, so they outlive the call and the handle.
 */
#ifndef HDB_BACKENDS_MEMORY_H
#define HDB_BACKENDS_MEMORY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "hanzodb.h"
#include "api/backend.h"
#include "core/record.h"

/* ------------------------------------------------------------------ */
/* Rows and tables (memory_store.c)                                    */
/* ------------------------------------------------------------------ */

typedef struct hdb__mem_row {
  atomic_size_t refs;
  uint64_t hash;   /* hdb__mem_hash_id(rec->id) */
  hdb_record *rec; /* owned; conformed; never changed while the row exists */
} hdb__mem_row;

typedef struct hdb__mem_index {
  char *column; /* owned */
  hdb_index_type type;
  char *params; /* owned compact JSON object */
} hdb__mem_index;

/*
 * Invariants:
 *  - slots[0..n_slots) is insertion order; a NULL slot is a deleted row.
 *    n_rows counts the non-NULL slots.
 *  - buckets is an open-addressing (linear probing) hash of the live rows:
 *    each non-empty bucket holds a slot index; n_buckets is 0 or a power of
 *    two with n_rows * 2 <= n_buckets. Every live row is in it exactly once.
 *  - Upsert of an existing id keeps the row's slot (its position).
 */
typedef struct hdb__mem_table {
  atomic_size_t refs;
  char *name;         /* owned */
  hdb_schema *schema; /* owned; NULL for a schemaless table */
  hdb__mem_row **slots;
  size_t n_slots, slot_cap;
  size_t n_rows;
  size_t *buckets; /* HDB__MEM_EMPTY or a slot index */
  size_t n_buckets;
  hdb__mem_index *indexes; /* creation order */
  size_t n_indexes;
} hdb__mem_table;

#define HDB__MEM_EMPTY SIZE_MAX

uint64_t hdb__mem_hash_id(const char *id);

/* Takes ownership of rec on success; on failure (NULL) the caller keeps it. */
hdb__mem_row *hdb__mem_row_new(hdb_record *rec);
void hdb__mem_row_release(hdb__mem_row *row);

/* New empty table with a copy of schema (NULL: schemaless); refs 1. */
hdb__mem_table *hdb__mem_table_new(const char *name, const hdb_schema *schema);
void hdb__mem_table_release(hdb__mem_table *t);
/* Slot of the row with this id, or HDB__MEM_EMPTY. */
size_t hdb__mem_table_slot(const hdb__mem_table *t, const char *id);
/* Makes room so that `extra` more rows can be appended without allocating.
 * May compact (renumbers slots, keeps order). HDB_NOMEM leaves t as it was
 * (possibly compacted, which changes no row or order). */
hdb_status hdb__mem_table_reserve(hdb__mem_table *t, size_t extra, hdb_error *err);
/* After reserve: appends row (takes the caller's reference). Never fails. */
void hdb__mem_table_append(hdb__mem_table *t, hdb__mem_row *row);
/* Replaces the row in slot with one of the same id (takes the reference). */
void hdb__mem_table_replace(hdb__mem_table *t, size_t slot, hdb__mem_row *row);
/* Deletes the row in slot; slots keep their numbers until compact. */
void hdb__mem_table_remove_slot(hdb__mem_table *t, size_t slot);
/* Squeezes out deleted slots when they outnumber the live ones. No allocation. */
void hdb__mem_table_maybe_compact(hdb__mem_table *t);

/* ------------------------------------------------------------------ */
/* KV: persistent ordered map (memory_kvmap.c)                         */
/* ------------------------------------------------------------------ */

/* An immutable key/value pair; val is NUL-terminated past vlen. */
typedef struct hdb__kv_entry {
  atomic_size_t refs;
  size_t klen, vlen;
  unsigned char *val; /* points into the same allocation, after the key */
  unsigned char key[];
} hdb__kv_entry;

/* A treap node: BST on keys (hdb__key_compare), max-heap on prio. A node
 * with refs > 1 is shared and never modified. NULL is the empty map. */
typedef struct hdb__kv_node {
  atomic_size_t refs;
  uint32_t prio;
  struct hdb__kv_node *left, *right;
  hdb__kv_entry *entry; /* counted reference */
} hdb__kv_node;

/* A new counted reference to root (NULL stays NULL). */
hdb__kv_node *hdb__kvmap_ref(hdb__kv_node *root);
void hdb__kvmap_release(hdb__kv_node *root);
/* The map with key set to val: *out is a new reference; root is borrowed
 * and unchanged (readers of root see nothing). HDB_NOMEM: *out NULL. */
hdb_status hdb__kvmap_put(hdb__kv_node *root, const void *key, size_t klen, const void *val,
                          size_t vlen, hdb__kv_node **out);
/* The map without key: *found says whether it was there; when it was not,
 * *out is a new reference to root itself. */
hdb_status hdb__kvmap_delete(hdb__kv_node *root, const void *key, size_t klen,
                             hdb__kv_node **out, int *found);
/* Borrowed entry (valid while the caller holds a reference to root). */
const hdb__kv_entry *hdb__kvmap_get(const hdb__kv_node *root, const void *key, size_t klen);
/* Smallest key >= key (> key when !inclusive); key NULL: the first. */
const hdb__kv_entry *hdb__kvmap_seek_ge(const hdb__kv_node *root, const void *key, size_t klen,
                                        int inclusive);
/* Largest key <= key (< key when !inclusive); key NULL: the last. */
const hdb__kv_entry *hdb__kvmap_seek_le(const hdb__kv_node *root, const void *key, size_t klen,
                                        int inclusive);
/* Number of entries (O(n); tests). */
size_t hdb__kvmap_count(const hdb__kv_node *root);
/* 1 when the BST order and heap order hold everywhere (tests). */
int hdb__kvmap_check(const hdb__kv_node *root);

/* ------------------------------------------------------------------ */
/* States, stores, handles (memory_store.c)                            */
/* ------------------------------------------------------------------ */

typedef struct hdb__mem_ns {
  char *name;         /* owned; "" is the default namespace */
  hdb__kv_node *root; /* counted reference; never NULL while listed */
} hdb__mem_ns;

typedef struct hdb__mem_state {
  hdb__mem_table **tables; /* sorted by name (strcmp); one reference each */
  size_t n_tables, cap_tables;
  hdb__mem_ns *ns; /* sorted by name (strcmp) */
  size_t n_ns, cap_ns;
  int dirty; /* working copies: changed since begin */
} hdb__mem_state;

typedef struct hdb__mem_store {
  char *name;    /* owned; NULL for a private store */
  size_t handles; /* guarded by the registry mutex */
  pthread_rwlock_t lock;
  hdb__mem_state *state; /* committed; guarded by lock */
  uint64_t seq;          /* bumped by every committed change; guarded by lock */
  struct hdb__mem_store *next; /* registry list */
} hdb__mem_store;

typedef struct hdb__mem_conn {
  hdb__mem_store *store;
  hdb__mem_state *txn; /* working copy while a transaction is open, else NULL */
  uint64_t txn_seq;    /* store->seq when the transaction began */
  int read_only;
} hdb__mem_conn;

hdb__mem_state *hdb__mem_state_new(void);
void hdb__mem_state_free(hdb__mem_state *st);
/* Shares every table and namespace root with src (reference copies). */
hdb__mem_state *hdb__mem_state_clone(const hdb__mem_state *src);

/* Binary search; NULL when absent, with *pos the insertion point. */
hdb__mem_table *hdb__mem_table_find(const hdb__mem_state *st, const char *name, size_t *pos);
/* Table or HDB_NO_TABLE naming it. */
hdb_status hdb__mem_table_lookup(const hdb__mem_state *st, const char *name,
                                 hdb__mem_table **out, hdb_error *err);
/* Table, cloned first if shared, so the caller may change it in place. */
hdb_status hdb__mem_table_writable(hdb__mem_state *st, const char *name, hdb__mem_table **out,
                                   hdb_error *err);
/* Namespace or NULL; *pos the insertion point. */
hdb__mem_ns *hdb__mem_ns_find(const hdb__mem_state *st, const char *name, size_t *pos);

/* Reads: returns the state the handle sees; without a transaction, the
 * committed state under the store's read lock until hdb__mem_read_end. */
hdb__mem_state *hdb__mem_read_begin(hdb__mem_conn *c);
void hdb__mem_read_end(hdb__mem_conn *c);
/* Writes: the working copy, or the committed state under the write lock.
 * HDB_READ_ONLY (no lock held) on a read-only handle. */
hdb_status hdb__mem_write_begin(hdb__mem_conn *c, hdb__mem_state **st, hdb_error *err);
/* changed: the write changed data (bumps the commit sequence, or marks the
 * transaction dirty). Releases the lock. */
void hdb__mem_write_end(hdb__mem_conn *c, int changed);

/* Registry: the store for name (NULL or "": a new private one), with one
 * more handle counted. */
hdb_status hdb__mem_store_acquire(const char *name, hdb__mem_store **out, hdb_error *err);
void hdb__mem_store_release(hdb__mem_store *s);


/* ------------------------------------------------------------------ */
/* Vtable methods, by file                                             */
/* ------------------------------------------------------------------ */

/* memory_tables.c */
hdb_status hdb__mem_table_create(void *conn, const char *table, const hdb_schema *schema,
                                 unsigned flags, hdb_error *err);
hdb_status hdb__mem_table_drop(void *conn, const char *table, unsigned flags, hdb_error *err);
hdb_status hdb__mem_table_list(void *conn, char ***names, size_t *count, hdb_error *err);
hdb_status hdb__mem_table_schema(void *conn, const char *table, hdb_schema **schema,
                                 hdb_error *err);
hdb_status hdb__mem_write(void *conn, const char *table, hdb_record *const *records, size_t n,
                          hdb__write_mode mode, hdb_error *err);
hdb_status hdb__mem_get(void *conn, const char *table, const char *id, hdb_record **out,
                        hdb_error *err);
hdb_status hdb__mem_update(void *conn, const char *table, const char *id,
                           const hdb__expr *filter, const hdb_record *patch, uint64_t *updated,
                           hdb_error *err);
hdb_status hdb__mem_remove(void *conn, const char *table, const char *id,
                           const hdb__expr *filter, uint64_t *deleted, hdb_error *err);

/* memory_query.c */
hdb_status hdb__mem_query(void *conn, const char *table, const hdb__query *q, hdb_cursor **out,
                          hdb_error *err);
hdb_status hdb__mem_count(void *conn, const char *table, const hdb__expr *filter,
                          int64_t version, uint64_t *out, hdb_error *err);
/* What hdb__mem_check_field accepts besides a column. */
#define HDB__MEM_FIELD_PATH 1u /* a dotted path into a json column (sort keys) */
#define HDB__MEM_FIELD_ID 2u   /* "id", the record id (sort keys, projections) */
/* Strict tables: checks that field is a column, or what `accept` allows.
 * `what` names the use in the message ("sort key 1"). */
hdb_status hdb__mem_check_field(const hdb__mem_table *t, const char *field, unsigned accept,
                                const char *what, hdb_error *err);

/* memory_search.c */
hdb_status hdb__mem_search(void *conn, const char *table, const hdb__search *s,
                           hdb_cursor **out, hdb_error *err);

/* memory_aggregate.c */
hdb_status hdb__mem_aggregate(void *conn, const char *table, const hdb_agg *aggs,
                              size_t n_aggs, const char *group_by, const hdb__expr *filter,
                              hdb_cursor **out, hdb_error *err);

/* memory_index.c */
hdb_status hdb__mem_index_create(void *conn, const char *table, const char *column,
                                 hdb_index_type type, const char *params, hdb_error *err);
hdb_status hdb__mem_index_drop(void *conn, const char *table, const char *column,
                               hdb_error *err);
hdb_status hdb__mem_index_list(void *conn, const char *table, hdb_index_info **infos,
                               size_t *count, hdb_error *err);

/* memory_txn.c */
hdb_status hdb__mem_begin(void *conn, hdb_error *err);
hdb_status hdb__mem_commit(void *conn, hdb_error *err);
hdb_status hdb__mem_rollback(void *conn, hdb_error *err);

/* memory_kv.c */
hdb_status hdb__mem_kv_get(void *conn, const char *ns, const void *key, size_t klen, void **val,
                           size_t *vlen, hdb_error *err);
hdb_status hdb__mem_kv_write(void *conn, const hdb_kv_batch *batch, hdb_error *err);
hdb_status hdb__mem_kv_iter(void *conn, const char *ns, const hdb_kv_range *range,
                            hdb_kv_iter **out, hdb_error *err);

#endif
