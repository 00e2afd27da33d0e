/*
 * sqlite.h - internals of the sqlite:// backend, shared by its files.
 *
 * One connection (sqlite3 *) per hdb handle; the api layer serializes
 * calls on a handle, so the connection and everything in hdb__sq_conn is
 * used by one thread at a time. Cursors and KV iterators are materialized
 * at the call (they own their rows), so no statement outlives a call.
 *
 * On-disk layout (see README.md): one SQL table per hanzo-db table, named
 * as the table, plus the catalog tables
 *   _hanzo_meta(key TEXT PRIMARY KEY, value TEXT)     format version
 *   _hanzo_tables(name TEXT PRIMARY KEY, schema TEXT, schemaless INTEGER)
 *   _hanzo_indexes(tbl TEXT, col TEXT, type TEXT, params TEXT, PRIMARY KEY(tbl,col))
 *   _hanzo_kv(ns TEXT, key BLOB, value BLOB, PRIMARY KEY(ns,key)) WITHOUT ROWID
 *
 * Invariants:
 *  1. A table is in _hanzo_tables exactly when its SQL table exists; both
 *     change in one SQL transaction.
 *  2. Typed tables: columns "id" TEXT PRIMARY KEY then one per schema
 *     column, in schema order, typed by hdb__sql_column_type(SQLITE).
 *     Schemaless tables: "id" TEXT PRIMARY KEY, "doc" TEXT NOT NULL
 *     holding hdb__sql_doc_encode's document.
 *  3. Every change runs inside a transaction: the caller's (hdb_begin),
 *     through a savepoint so a failed call changes nothing, or its own
 *     BEGIN IMMEDIATE ... COMMIT.
 *  4. The schema cache is valid for one value of PRAGMA schema_version and
 *     is dropped whenever a transaction ends other than by commit.
 */
#ifndef HDB_BACKENDS_SQLITE_H
#define HDB_BACKENDS_SQLITE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "hanzodb.h"
#include "api/backend.h"
#include "backends/sql/sql.h"
#include "core/record.h"
#include "core/schema.h"

#define HDB__SQ_FORMAT "1"   /* _hanzo_meta 'format' */
#define HDB__SQ_DOC "doc"    /* schemaless document column */
#define HDB__SQ_STMT_CACHE 24

typedef struct hdb__sq_stmt {
  char *sql; /* owned; NULL: empty slot */
  sqlite3_stmt *stmt;
  uint64_t used; /* LRU clock */
  int in_use;    /* handed out and not yet hdb__sq_done */
} hdb__sq_stmt;

/* A table as loaded from the catalog. */
typedef struct hdb__sq_table {
  char *name;
  hdb_schema *schema; /* NULL: schemaless */
} hdb__sq_table;

typedef struct hdb__sq_conn {
  sqlite3 *db;
  char *path;       /* the file SQLite opened */
  int memory;       /* sqlite://:memory: (shared per process, see sqlite_backend.c) */
  int read_only;
  int in_txn;       /* hdb_begin is open */
  hdb__sq_stmt stmts[HDB__SQ_STMT_CACHE];
  uint64_t clock;
  hdb__sq_table *tables; /* schema cache */
  size_t n_tables;
  int schema_version; /* of the cache */
} hdb__sq_conn;

/* ---- sqlite_backend.c: statements and errors ---- */

/* Maps an SQLite result code to a status and fills err with the context
 * and SQLite's message: BUSY/LOCKED -> HDB_BUSY, BUSY_SNAPSHOT ->
 * HDB_CONFLICT, CORRUPT/NOTADB -> HDB_CORRUPT, CONSTRAINT ->
 * HDB_CONSTRAINT, NOMEM, IOERR/CANTOPEN/FULL -> HDB_IO, READONLY ->
 * HDB_READ_ONLY, TOOBIG -> HDB_TOO_BIG, else HDB_ERROR. */
hdb_status hdb__sq_fail(hdb__sq_conn *c, int rc, hdb_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
hdb_status hdb__sq_status(int rc);
/* A prepared statement for sql, from the per-connection cache (keyed by
 * the SQL text, least recently used evicted) when a slot is free. The
 * caller must hand it back with hdb__sq_done, which resets it and clears
 * its bindings (or finalizes one that is not cached). NULL is a no-op. */
hdb_status hdb__sq_prepare(hdb__sq_conn *c, const char *sql, sqlite3_stmt **out, hdb_error *err);
void hdb__sq_done(hdb__sq_conn *c, sqlite3_stmt *st);
/* Runs sql (no parameters, no rows wanted). */
hdb_status hdb__sq_exec(hdb__sq_conn *c, const char *sql, hdb_error *err);
/* Binds params->v[i] to parameter i+1 (bool as 0/1, timestamps as int,
 * json as text, vectors as little-endian float32 blobs). */
int hdb__sq_bind_value(sqlite3_stmt *st, int idx, const hdb_value *v);
int hdb__sq_bind_params(sqlite3_stmt *st, const hdb__sql_params *p, int first);
void hdb__sq_cache_flush(hdb__sq_conn *c);

/* ---- sqlite_txn.c ---- */

/* Starts a write: a savepoint inside hdb_begin's transaction, else BEGIN
 * IMMEDIATE. HDB_READ_ONLY on a read-only handle. */
hdb_status hdb__sq_write_begin(hdb__sq_conn *c, hdb_error *err);
/* Ends it: ok != 0 commits (releases the savepoint), else rolls back.
 * Returns the status to report: rc when the write failed, else the
 * commit's. A conflict (BUSY_SNAPSHOT) inside hdb_begin's transaction
 * rolls the whole transaction back and says so. */
hdb_status hdb__sq_write_end(hdb__sq_conn *c, hdb_status rc, hdb_error *err);
hdb_status hdb__sq_begin(void *conn, hdb_error *err);
hdb_status hdb__sq_commit(void *conn, hdb_error *err);
hdb_status hdb__sq_rollback(void *conn, hdb_error *err);

/* ---- sqlite_schema.c ---- */

hdb_status hdb__sq_catalog_init(hdb__sq_conn *c, hdb_error *err);
/* The table from the catalog (cached); borrowed until the next call that
 * may change the cache. HDB_NO_TABLE naming it. */
hdb_status hdb__sq_table_get(hdb__sq_conn *c, const char *name, const hdb__sq_table **out,
                             hdb_error *err);
void hdb__sq_tables_flush(hdb__sq_conn *c);
/* Checks a field named by a sort key, projection, aggregate or group_by
 * like the memory backend (HDB_NO_FIELD naming it). allow_path: dotted
 * paths into json columns; allow_id: "id". */
hdb_status hdb__sq_check_field(const hdb__sq_table *t, const char *field, int allow_path,
                               int allow_id, const char *what, hdb_error *err);
hdb_status hdb__sq_table_create(void *conn, const char *table, const hdb_schema *schema,
                                unsigned flags, hdb_error *err);
hdb_status hdb__sq_table_drop(void *conn, const char *table, unsigned flags, hdb_error *err);
hdb_status hdb__sq_table_list(void *conn, char ***names, size_t *count, hdb_error *err);
hdb_status hdb__sq_table_schema(void *conn, const char *table, hdb_schema **schema,
                                hdb_error *err);

/* ---- sqlite_records.c ---- */

/* "id", then the columns (or "doc"): the select list every read uses. */
void hdb__sq_select_list(hdb__sql_buf *b, const hdb__sq_table *t);
/* Builds the record of the current row, whose columns start at col0 in
 * select-list order. *out owned. */
hdb_status hdb__sq_row_record(const hdb__sq_table *t, sqlite3_stmt *st, int col0,
                              hdb_record **out, hdb_error *err);
hdb_status hdb__sq_write(void *conn, const char *table, hdb_record *const *records, size_t n,
                         hdb__write_mode mode, hdb_error *err);
hdb_status hdb__sq_get(void *conn, const char *table, const char *id, hdb_record **out,
                       hdb_error *err);
hdb_status hdb__sq_update(void *conn, const char *table, const char *id, const hdb__expr *filter,
                          const hdb_record *patch, uint64_t *updated, hdb_error *err);
hdb_status hdb__sq_remove(void *conn, const char *table, const char *id, const hdb__expr *filter,
                          uint64_t *deleted, hdb_error *err);

/* ---- sqlite_query.c ---- */

/* Appends " WHERE <sql>" for the filter when it translates (sets
 * *pushed), else nothing (the caller filters rows with
 * hdb__filter_match). Errors other than NOT_SUPPORTED are returned. */
hdb_status hdb__sq_where(const hdb__sq_table *t, const hdb__expr *filter, const char *prefix,
                         hdb__sql_buf *b, hdb__sql_params *p, int *pushed, hdb_error *err);
hdb_status hdb__sq_query(void *conn, const char *table, const hdb__query *q, hdb_cursor **out,
                         hdb_error *err);
hdb_status hdb__sq_count(void *conn, const char *table, const hdb__expr *filter, int64_t version,
                         uint64_t *out, hdb_error *err);

/* ---- sqlite_search.c ---- */

/* Registers hdb_distance(blob, blob, metric) on the connection. */
int hdb__sq_register_functions(sqlite3 *db);
hdb_status hdb__sq_search(void *conn, const char *table, const hdb__search *s, hdb_cursor **out,
                          hdb_error *err);

/* ---- sqlite_aggregate.c ---- */

hdb_status hdb__sq_aggregate(void *conn, const char *table, const hdb_agg *aggs, size_t n_aggs,
                             const char *group_by, const hdb__expr *filter, hdb_cursor **out,
                             hdb_error *err);

/* ---- sqlite_index.c ---- */

hdb_status hdb__sq_index_create(void *conn, const char *table, const char *column,
                                hdb_index_type type, const char *params, hdb_error *err);
hdb_status hdb__sq_index_drop(void *conn, const char *table, const char *column, hdb_error *err);
hdb_status hdb__sq_index_list(void *conn, const char *table, hdb_index_info **infos,
                              size_t *count, hdb_error *err);

/* ---- sqlite_kv.c ---- */

hdb_status hdb__sq_kv_get(void *conn, const char *ns, const void *key, size_t klen, void **val,
                          size_t *vlen, hdb_error *err);
hdb_status hdb__sq_kv_write(void *conn, const hdb_kv_batch *batch, hdb_error *err);
hdb_status hdb__sq_kv_iter(void *conn, const char *ns, const hdb_kv_range *range,
                           hdb_kv_iter **out, hdb_error *err);

#endif
