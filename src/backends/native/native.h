/*
 * native.h - internals of the native:// backend (alias lancedb://), shared
 * by its files.
 *
 * The backend ties the engine together: engine/table (one versioned
 * columnar table per directory), engine/vector (kernels, HNSW) and
 * engine/kv (the LSM store). Layout of native://DIR:
 *
 *   DIR/tables/NAME/            one table directory (engine/table owns it)
 *     v*.manifest, f-*.frag, d-*.del, ...   the table engine's files
 *     hdbidx-COL.json           index metadata (this backend's file)
 *     hdbidx-COL-vV.hnsw        HNSW graph over the rows of version V
 *     hdbidx-COL-vV.ivfpq       or the IVF-PQ index over them
 *     hdbidx-COL-vV.ids         record ids of the index's ids
 *   DIR/kv/                     the LSM store (opened on first KV use)
 *
 * Object graph
 *
 *   env registry (global mutex) --> env (one per DIR in the process,
 *       shared by every handle that opens it; refcounted)
 *   env: table cache (name -> refcounted nat_table), the KV store
 *   nat_table: the engine's hdb__tbl handle and the loaded indexes
 *   conn (one per hdb handle): env + read_only
 *
 * Invariants:
 *  1. One env per directory per process (keyed by realpath): the KV store
 *     may be opened by one handle per process only (kv.h), and the table
 *     engine shares its state per handle, so handles share the env.
 *  2. A nat_table is used only while a reference is held (nat_table_get /
 *     nat_table_put); drop removes it from the cache, and the last
 *     reference closes the engine handle. Cursors hold pinned snapshots,
 *     which outlive the handle (table.h).
 *  3. Index ids are global row numbers of the version the index was built
 *     on: fragment i of that version covers ids base_i .. base_i+rows_i.
 *     Fragments are immutable and named uniquely, so a fragment of any
 *     later (or earlier) snapshot with the same file name holds the same
 *     rows at the same ids. Fragments the index does not know are the
 *     unindexed tail and are searched exactly.
 *  4. Deletions come from the searched snapshot's deletion bitmaps, never
 *     from the index, so a deleted row is never returned.
 */
#ifndef HDB_BACKENDS_NATIVE_H
#define HDB_BACKENDS_NATIVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hanzodb.h"
#include "api/backend.h"
#include "core/record.h"
#include "engine/kv/kv.h"
#include "engine/table/table.h"
#include "engine/vector/vec_hnsw.h"
#include "engine/vector/vec_ivfpq.h"

/* An index as described by its metadata file, with its HNSW graph or
 * IVF-PQ index loaded when it has one (an "ann" index: hnsw or ivf_pq,
 * sharing the metadata, fragment map, ids file, tail scan and optimize). Immutable once loaded; refcounted (searches hold one). */
typedef struct nat_frag_cov {
  char file[32];  /* fragment file name in the index's version */
  uint64_t base;  /* first index id of the fragment's rows */
  uint64_t rows;
} nat_frag_cov;

typedef struct nat_index {
  atomic_size_t refs;
  char *column;
  hdb_index_type type;
  char *params;        /* compact JSON object */
  int64_t version;     /* table version built on (ann) */
  nat_frag_cov *frags; /* ann: the covered fragments */
  size_t n_frags;
  uint64_t n_ids;      /* ann: index ids 0 .. n_ids */
  hdb__hnsw *hnsw;     /* set for hnsw only */
  hdb__ivfpq *ivfpq;   /* set for ivf_pq only (a heap index; searches only read it) */
  char *id_bytes;      /* ids file payload: NUL-terminated ids */
  uint64_t *id_off;    /* n_ids + 1 offsets into id_bytes; UINT64_MAX: no row */
  void *id_file;       /* owned buffer holding the ids file */
  int auto_chosen;     /* created as AUTO: optimize may upgrade flat to hnsw */
} nat_index;

/* Index type AUTO on a vector column: below this many live rows the
 * column gets a flat index (exact search, metadata only; exact search of
 * 10,000 rows is well under a millisecond per query with the SIMD
 * kernels), at or above it an hnsw graph. hdb_index_optimize upgrades an
 * auto flat index to hnsw once the table has grown past the threshold. */
#define HDB__NAT_AUTO_HNSW_ROWS 10000u
/* hdb_index_optimize rebuilds an ann index from scratch, instead of
 * updating it, when more than 1/HDB__NAT_REBUILD_DIV of its entries would
 * be marked deleted (deleted entries still cost traversal or scan time and
 * recall; an IVF-PQ rebuild also retrains its quantizers). */
#define HDB__NAT_REBUILD_DIV 5u

/* A cached index with the identity (device, inode) of the metadata file
 * it was loaded from: a rewritten file has a new inode. */
typedef struct nat_idx_slot {
  nat_index *ix; /* counted reference */
  dev_t dev;
  ino_t ino;
} nat_idx_slot;

typedef struct nat_table {
  atomic_size_t refs;
  char *name;
  hdb__tbl *tbl;
  pthread_mutex_t lock;   /* guards idx */
  nat_idx_slot *idx;      /* loaded indexes */
  size_t n_idx;
  struct nat_table *next; /* env cache list */
} nat_table;

typedef struct nat_env {
  char *dir;        /* realpath of DIR */
  char *tables_dir; /* DIR/tables */
  size_t handles;   /* guarded by the registry mutex */
  pthread_mutex_t lock; /* guards tables, kv opening */
  nat_table *tables;
  hdb__lsm *kv;     /* NULL until first KV use */
  pthread_mutex_t kv_lock; /* serializes check-then-write KV batches */
  hdb__tbl_options topt;
  hdb__lsm_options kopt;
  uint64_t keep_versions;
  struct nat_env *next;
} nat_env;

typedef struct nat_conn {
  nat_env *env;
  int read_only;
} nat_conn;

/* native_backend.c */
/* The table (a counted reference) or HDB_NO_TABLE naming it. */
hdb_status hdb__nat_table_get(nat_conn *c, const char *name, nat_table **out, hdb_error *err);
void hdb__nat_table_put(nat_table *t);
/* Removes name from the cache (drop); references held elsewhere stay valid. */
void hdb__nat_table_forget(nat_env *env, const char *name);
/* DIR/tables/NAME; owned. */
char *hdb__nat_table_dir(const nat_env *env, const char *name);
/* HDB_READ_ONLY when the handle may not write. */
hdb_status hdb__nat_writable(const nat_conn *c, hdb_error *err);
/* The KV store, opened on first use. */
hdb_status hdb__nat_kv(nat_conn *c, hdb__lsm **out, hdb_error *err);
/* Pins version (0: newest) of a table, naming the table in errors. */
hdb_status hdb__nat_pin(nat_table *t, int64_t version, hdb__tbl_snap **out, hdb_error *err);
/* Strict tables: field must be a column, "id" (with allow_id) or a path
 * into a json column (with allow_path). Same rules and messages as the
 * reference backend. */
hdb_status hdb__nat_check_field(const hdb_schema *schema, const char *table, const char *field,
                                int allow_path, int allow_id, const char *what, hdb_error *err);

/* native_tables.c */
hdb_status hdb__nat_table_create(void *conn, const char *table, const hdb_schema *schema,
                                 unsigned flags, hdb_error *err);
hdb_status hdb__nat_table_drop(void *conn, const char *table, unsigned flags, hdb_error *err);
hdb_status hdb__nat_table_list(void *conn, char ***names, size_t *count, hdb_error *err);
hdb_status hdb__nat_table_schema(void *conn, const char *table, hdb_schema **schema,
                                 hdb_error *err);
/* Names of the tables on disk, sorted; owned (hdb_strings_free). */
hdb_status hdb__nat_list_names(nat_env *env, char ***names, size_t *count, hdb_error *err);

/* native_records.c */
hdb_status hdb__nat_write(void *conn, const char *table, hdb_record *const *records, size_t n,
                          hdb__write_mode mode, hdb_error *err);
hdb_status hdb__nat_get(void *conn, const char *table, const char *id, hdb_record **out,
                        hdb_error *err);
hdb_status hdb__nat_update(void *conn, const char *table, const char *id,
                           const hdb__expr *filter, const hdb_record *patch, uint64_t *updated,
                           hdb_error *err);
hdb_status hdb__nat_remove(void *conn, const char *table, const char *id,
                           const hdb__expr *filter, uint64_t *deleted, hdb_error *err);

/* native_query.c */
hdb_status hdb__nat_query(void *conn, const char *table, const hdb__query *q, hdb_cursor **out,
                          hdb_error *err);
hdb_status hdb__nat_count(void *conn, const char *table, const hdb__expr *filter,
                          int64_t version, uint64_t *out, hdb_error *err);
hdb_status hdb__nat_aggregate(void *conn, const char *table, const hdb_agg *aggs, size_t n_aggs,
                              const char *group_by, const hdb__expr *filter, hdb_cursor **out,
                              hdb_error *err);

/* native_search.c */
hdb_status hdb__nat_search(void *conn, const char *table, const hdb__search *s,
                           hdb_cursor **out, hdb_error *err);

/* native_index.c */
hdb_status hdb__nat_index_create(void *conn, const char *table, const char *column,
                                 hdb_index_type type, const char *params, hdb_error *err);
hdb_status hdb__nat_index_drop(void *conn, const char *table, const char *column,
                               hdb_error *err);
/* Brings the column's index up to the newest version (incremental for
 * hnsw and ivf_pq: the tail is inserted, deleted rows are marked; see
 * native_index.c). */
hdb_status hdb__nat_index_optimize(void *conn, const char *table, const char *column,
                                   hdb_error *err);
hdb_status hdb__nat_index_list(void *conn, const char *table, hdb_index_info **infos,
                               size_t *count, hdb_error *err);
/* The table's index on column (a counted reference) or NULL. */
hdb_status hdb__nat_index_find(nat_table *t, const char *column, nat_index **out,
                               hdb_error *err);
void hdb__nat_index_put(nat_index *ix);
/* Drops the loaded indexes of t (they are reloaded from disk on next use). */
void hdb__nat_index_invalidate(nat_table *t);
/* Fragment file name of fragment f of snapshot s ("" when unknown). */
void hdb__nat_frag_file(hdb__tbl_snap *s, size_t f, char out[32]);

/* native_kv.c */
hdb_status hdb__nat_kv_get(void *conn, const char *ns, const void *key, size_t klen, void **val,
                           size_t *vlen, hdb_error *err);
hdb_status hdb__nat_kv_write(void *conn, const hdb_kv_batch *batch, hdb_error *err);
hdb_status hdb__nat_kv_iter(void *conn, const char *ns, const hdb_kv_range *range,
                            hdb_kv_iter **out, hdb_error *err);
/* Releases an env reference (iterators hold one). */
void hdb__nat_env_release(nat_env *env);
void hdb__nat_env_retain(nat_env *env);

/* native_versions.c */
hdb_status hdb__nat_versions(void *conn, const char *table, hdb_version_info **out,
                             size_t *count, hdb_error *err);
hdb_status hdb__nat_restore(void *conn, const char *table, int64_t version, hdb_error *err);
hdb_status hdb__nat_compact(void *conn, const char *table, hdb_error *err);
hdb_status hdb__nat_check(void *conn, char **report, hdb_error *err);

#endif
