/*
 * duck.h - internals of the duckdb:// backend, shared by its files.
 *
 * The backend stores everything in one DuckDB database through the DuckDB
 * C API (libduckdb.so, see scripts/fetch-duckdb.sh):
 *
 *   _hanzo_meta(key, value)                  format magic and version
 *   _hanzo_tables(name, schema)              one row per table; schema is
 *                                            hdb_schema_to_json text, NULL
 *                                            for a schemaless table
 *   _hanzo_indexes(tbl, col, type, params)   index metadata
 *   _hanzo_kv(ns, key, value)                key-value pairs, PK (ns, key)
 *   one DuckDB table per hanzo table:
 *     strict:     id VARCHAR PRIMARY KEY, then one column per schema column
 *     schemaless: id VARCHAR PRIMARY KEY, doc JSON (the shared SQL layer's
 *                 document format, hdb__sql_doc_encode)
 *
 * Invariants:
 *  1. DuckDB identifiers are case-insensitive even when quoted, hanzo names
 *     are not ("cf_tB" and "cf_tb" are two tables). Every table, column and
 *     index identifier therefore goes through hdb__duck_ident, which writes
 *     an upper-case letter X as "^x" ('^' is never part of a hanzo name), so
 *     distinct hanzo names stay distinct DuckDB names.
 *  2. The catalog row of a table and the table itself are created and
 *     dropped in one DuckDB transaction.
 *  3. Handles opening the same database share one duckdb_database (the
 *     registry in duck_backend.c, keyed by real path; every handle on
 *     "duckdb://:memory:" shares one in-memory database that lives while a
 *     handle or cursor uses it). Each handle has its own duckdb_connection,
 *     so transactions of two handles are isolated by DuckDB (optimistic
 *     concurrency: a write-write conflict is HDB_CONFLICT).
 *  4. A user transaction in which a DuckDB statement failed has been rolled
 *     back in DuckDB at once; the handle stays "in a failed transaction"
 *     (conn->failed) and refuses everything but commit/rollback, so that no
 *     later call silently runs outside the transaction the caller believes
 *     is open.
 *  5. Cursors own a materialized duckdb_result (a snapshot) plus one
 *     reference to the shared database, so they outlive the call and the
 *     handle.
 */
#ifndef HDB_BACKENDS_DUCK_H
#define HDB_BACKENDS_DUCK_H

#include <duckdb.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "hanzodb.h"
#include "api/backend.h"
#include "backends/sql/sql.h"
#include "core/schema.h"

/* Catalog format: stored in _hanzo_meta; a database with another magic or
 * a newer version is refused (HDB_CORRUPT / HDB_NOT_SUPPORTED). */
#define HDB__DUCK_MAGIC "hanzo-db/duckdb"
#define HDB__DUCK_FORMAT 1

/* ------------------------------------------------------------------ */
/* Handles (duck_backend.c)                                            */
/* ------------------------------------------------------------------ */

typedef struct hdb__duck_shared {
  char *key; /* real path, or ":memory:" */
  duckdb_database db;
  /* Catalog generation: bumped by every table create/drop of a handle on
   * this database, and again when the transaction holding it ends, so
   * that table caches of all handles reload (duck_schema.c). */
  _Atomic uint64_t catalog_gen;
  size_t refs; /* handles and cursors; guarded by the registry mutex */
  int read_only;
  struct hdb__duck_shared *next;
} hdb__duck_shared;

/* Prepared statements of a connection, by SQL text (duck_backend.c).
 * DuckDB rebinds a prepared statement by itself when the catalog changed
 * since it was prepared, so a cached statement never runs against a stale
 * table definition; and our SQL names every column, so a table recreated
 * with other columns gives other SQL text. */
#define HDB__DUCK_STMT_CACHE 32
typedef struct hdb__duck_stmt {
  char *sql; /* owned; NULL: empty slot */
  duckdb_prepared_statement ps;
  uint64_t used; /* LRU clock */
} hdb__duck_stmt;

/* A table definition remembered by a connection (duck_schema.c). */
#define HDB__DUCK_TABLE_CACHE 8
typedef struct hdb__duck_cached_table {
  char *name; /* owned; NULL: empty slot */
  hdb_schema *schema; /* owned; NULL: schemaless */
  uint64_t gen;  /* the catalog generation it was read under */
  uint64_t used; /* LRU clock */
} hdb__duck_cached_table;

typedef struct hdb__duck_conn {
  hdb__duck_shared *shared;
  duckdb_connection con;
  int memory;    /* :memory: (not persistent) */
  int read_only; /* hdb_config.read_only */
  int in_txn;    /* a user transaction is open */
  hdb_status failed; /* invariant 4: HDB_OK, or why the open transaction ended */
  char failed_msg[256];
  hdb__duck_stmt stmts[HDB__DUCK_STMT_CACHE];
  uint64_t clock;
  hdb__duck_cached_table tables[HDB__DUCK_TABLE_CACHE];
  int txn_ddl; /* the open user transaction created or dropped a table */
  /* The data chunk of the last finished append and its column types,
   * kept for the next append with the same types (duck_values.c): a
   * chunk of 2,048 rows of a FLOAT[384] column is 3 MB to allocate and
   * fault in, about 1 ms, as much as appending 500 rows. */
  duckdb_data_chunk spare_chunk;
  duckdb_logical_type *spare_types;
  idx_t spare_ncols;
} hdb__duck_conn;

/* One more reference to the shared database (for cursors). */
void hdb__duck_shared_ref(hdb__duck_shared *s);
void hdb__duck_shared_release(hdb__duck_shared *s);

/* Maps a DuckDB error (type and message) to a status. */
hdb_status hdb__duck_map_error(duckdb_error_type type, const char *msg);

/* Every method starts with this: HDB_TXN_STATE while a failed transaction
 * waits for its rollback (invariant 4); HDB_READ_ONLY for writes on a
 * read-only handle. */
hdb_status hdb__duck_enter(hdb__duck_conn *c, int writes, hdb_error *err);

/* Reports a failed DuckDB statement: maps the error, fills err with
 * "WHAT: message", and inside a user transaction applies invariant 4.
 * Returns the status. */
hdb_status hdb__duck_stmt_failed(hdb__duck_conn *c, duckdb_error_type type, const char *msg,
                                 hdb_error *err, const char *what);

/* Runs SQL without parameters (DDL, BEGIN/COMMIT). */
hdb_status hdb__duck_exec(hdb__duck_conn *c, const char *sql, hdb_error *err, const char *what);

/* Prepares sql, binds params[0..n) and executes it (materialized). On
 * success *res must be destroyed by the caller (duckdb_destroy_result). */
hdb_status hdb__duck_run(hdb__duck_conn *c, const char *sql, const hdb_value *const *params,
                         size_t n, duckdb_result *res, hdb_error *err, const char *what);
/* Same, streaming: the caller consumes *res with duckdb_fetch_chunk within
 * the call (a later statement on the connection ends the stream). */
hdb_status hdb__duck_run_streaming(hdb__duck_conn *c, const char *sql,
                                   const hdb_value *const *params, size_t n, duckdb_result *res,
                                   hdb_error *err, const char *what);

/* Atomic steps: outside a user transaction, begin opens one (own = 1) and
 * end commits it when rc is HDB_OK, else rolls it back; inside one, both
 * do nothing (a failed statement already applied invariant 4). end
 * returns rc, or the commit's failure. */
hdb_status hdb__duck_atomic_begin(hdb__duck_conn *c, int *own, hdb_error *err);
hdb_status hdb__duck_atomic_end(hdb__duck_conn *c, int own, hdb_status rc, hdb_error *err);

/* ------------------------------------------------------------------ */
/* Catalog and tables (duck_schema.c)                                  */
/* ------------------------------------------------------------------ */

typedef struct hdb__duck_table {
  char *name;         /* hanzo name */
  hdb_schema *schema; /* NULL: schemaless */
  int sql_names;      /* 1 when every column name is its own DuckDB identifier
                         (no upper case), so the shared translator's quoting
                         of field names is right (invariant 1) */
} hdb__duck_table;

/* Appends the quoted DuckDB identifier of a hanzo name (invariant 1). */
void hdb__duck_ident(hdb__sql_buf *b, const char *name);
/* Creates the catalog tables when missing and checks the format. */
hdb_status hdb__duck_catalog_init(hdb__duck_conn *c, hdb_error *err);
/* Loads a table's catalog entry; HDB_NO_TABLE naming it when missing.
 * Outside user transactions the entry comes from the connection's cache
 * while the catalog generation it was read under is current. */
hdb_status hdb__duck_table_load(hdb__duck_conn *c, const char *name, hdb__duck_table *t,
                                hdb_error *err);
/* A table was created or dropped on c, or a transaction that did so
 * ended: every handle's cached definitions are stale. */
void hdb__duck_catalog_changed(hdb__duck_conn *c);
void hdb__duck_table_cache_free(hdb__duck_conn *c);
void hdb__duck_table_free(hdb__duck_table *t);
/* Checks a field used as a sort key / projection / group: a column, "id"
 * (when id_ok) or, with path_ok, a dotted path into a json column. Strict
 * tables only; schemaless tables accept anything. */
hdb_status hdb__duck_check_field(const hdb__duck_table *t, const char *field, int id_ok,
                                 int path_ok, const char *what, hdb_error *err);

hdb_status hdb__duck_table_create(void *conn, const char *table, const hdb_schema *schema,
                                  unsigned flags, hdb_error *err);
hdb_status hdb__duck_table_drop(void *conn, const char *table, unsigned flags, hdb_error *err);
hdb_status hdb__duck_table_list(void *conn, char ***names, size_t *count, hdb_error *err);
hdb_status hdb__duck_table_schema(void *conn, const char *table, hdb_schema **schema,
                                  hdb_error *err);
hdb_status hdb__duck_index_create(void *conn, const char *table, const char *column,
                                  hdb_index_type type, const char *params, hdb_error *err);
hdb_status hdb__duck_index_drop(void *conn, const char *table, const char *column,
                                hdb_error *err);
hdb_status hdb__duck_index_list(void *conn, const char *table, hdb_index_info **infos,
                                size_t *count, hdb_error *err);

/* ------------------------------------------------------------------ */
/* Values between hanzo and DuckDB (duck_values.c)                     */
/* ------------------------------------------------------------------ */

/* Binds one value as parameter i (1-based) of st. */
hdb_status hdb__duck_bind(duckdb_prepared_statement st, idx_t i, const hdb_value *v,
                          hdb_error *err);

/* Bulk appends through duckdb_append_data_chunk, one chunk of
 * duckdb_vector_size() rows at a time. */
typedef struct hdb__duck_app {
  hdb__duck_conn *conn; /* receives the chunk when the append is done */
  duckdb_appender app;
  duckdb_data_chunk chunk;
  duckdb_logical_type *types;
  idx_t ncols, rows, cap;
  int failed;              /* a chunk append failed: etype/emsg say why */
  duckdb_error_type etype;
  char *emsg;              /* owned */
} hdb__duck_app;
hdb_status hdb__duck_app_open(hdb__duck_conn *c, const hdb__duck_table *t, hdb__duck_app *a,
                              hdb_error *err);
/* Appends a conformed record (strict: schema columns; schemaless: doc). */
hdb_status hdb__duck_app_row(hdb__duck_app *a, const hdb__duck_table *t, const hdb_record *rec,
                             hdb_error *err);
/* Appends a row of a strict table from its column values in schema order
 * (vals[i] NULL: null), as hdb__sql_record_conforms hands them out. */
hdb_status hdb__duck_app_row_values(hdb__duck_app *a, const hdb__duck_table *t, const char *id,
                                    const hdb_value *const *vals, hdb_error *err);
/* Flushes and closes; DuckDB's verdict (constraints) comes back here or
 * from app_row. On failure a->etype / a->emsg describe the DuckDB error. */
hdb_status hdb__duck_app_close(hdb__duck_app *a, hdb_error *err);
void hdb__duck_app_free(hdb__duck_app *a);
/* Frees the connection's spare chunk (at close). */
void hdb__duck_spare_free(hdb__duck_conn *c);

/* What the columns of a result hold, for decoding rows into records:
 * column 0 is the id, columns 1..n the fields (or, schemaless, the doc). */
typedef struct hdb__duck_rowspec {
  const hdb__column **cols; /* n fields, borrowed from the schema */
  size_t n;
  int schemaless; /* column 1 is the doc */
} hdb__duck_rowspec;

/* Per-chunk view of a result chunk's column vectors. */
typedef struct hdb__duck_colview {
  duckdb_type tid;
  void *data;
  uint64_t *validity;
  float *child; /* ARRAY columns: the floats */
  idx_t dim;
} hdb__duck_colview;
/* Fills views[0..ncols) for chunk. */
void hdb__duck_chunk_views(duckdb_data_chunk chunk, hdb__duck_colview *views, idx_t ncols);
/* Decodes row `row` into a new record (owned). */
hdb_status hdb__duck_decode_row(const hdb__duck_rowspec *spec, const hdb__duck_colview *views,
                                idx_t row, hdb_record **out, hdb_error *err);
/* A borrowed view of a cell as a value of hanzo type want (null cells give
 * a null value). HDB_CORRUPT when the DuckDB type cannot hold it. */
hdb_status hdb__duck_cell(const hdb__duck_colview *v, idx_t row, hdb_type want, hdb_value *out,
                          const char *field, hdb_error *err);
/* Reads a DOUBLE/FLOAT/int column cell as double (NaN when null). */
double hdb__duck_cell_double(const hdb__duck_colview *v, idx_t row);

/* Appends the SELECT list "id", columns of spec (quoted) to b. */
void hdb__duck_select_list(hdb__sql_buf *b, const hdb__duck_rowspec *spec);
/* Rowspec of every column of t (cols owned: hdb__free_mem(spec->cols)). */
hdb_status hdb__duck_rowspec_all(const hdb__duck_table *t, hdb__duck_rowspec *spec,
                                 hdb_error *err);
/* Rowspec of a projection (fields may be NULL: all). "id" is skipped. */
hdb_status hdb__duck_rowspec_fields(const hdb__duck_table *t, const char *const *fields,
                                    size_t n, hdb__duck_rowspec *spec, hdb_error *err);

/* ------------------------------------------------------------------ */
/* Methods by file                                                     */
/* ------------------------------------------------------------------ */

/* duck_records.c */
hdb_status hdb__duck_write(void *conn, const char *table, hdb_record *const *records, size_t n,
                           hdb__write_mode mode, hdb_error *err);
hdb_status hdb__duck_get(void *conn, const char *table, const char *id, hdb_record **out,
                         hdb_error *err);
hdb_status hdb__duck_update(void *conn, const char *table, const char *id,
                            const hdb__expr *filter, const hdb_record *patch, uint64_t *updated,
                            hdb_error *err);
hdb_status hdb__duck_remove(void *conn, const char *table, const char *id,
                            const hdb__expr *filter, uint64_t *deleted, hdb_error *err);

/* duck_query.c */
hdb_status hdb__duck_query(void *conn, const char *table, const hdb__query *q, hdb_cursor **out,
                           hdb_error *err);
hdb_status hdb__duck_count(void *conn, const char *table, const hdb__expr *filter,
                           int64_t version, uint64_t *out, hdb_error *err);
/* Appends " WHERE <filter>" to b (values to p) and sets *pushed 1, or
 * leaves b and p as they were with *pushed 0 when the rows must be
 * filtered in C with hdb__filter_match (column names needing mangling, or
 * a node the translator cannot express exactly). A TRUE filter appends
 * nothing and is pushed. */
hdb_status hdb__duck_where(const hdb__duck_table *t, const hdb__expr *filter, hdb__sql_buf *b,
                           hdb__sql_params *p, int *pushed, hdb_error *err);
/* Runs SELECT (id, every column) [WHERE pushed] over t, decodes every row,
 * keeps the rows matching filter, and calls fn(rec, user) (rec is owned by
 * fn). The scan is one streamed statement. `tail` is appended to the SQL
 * (ORDER BY ...). */
hdb_status hdb__duck_scan(hdb__duck_conn *c, const hdb__duck_table *t, const hdb__expr *filter,
                          const char *tail, hdb_status (*fn)(hdb_record *rec, void *user),
                          void *user, hdb_error *err);
/* A cursor over a materialized result whose rows decode with spec; column
 * dist_col (when >= 0) is the distance, squared when square is set. Takes
 * ownership of res, spec->cols and *schema, which spec->cols points into
 * (*schema is set to NULL), also on failure. */
hdb_status hdb__duck_result_cursor(hdb__duck_conn *c, duckdb_result *res, hdb__duck_rowspec *spec,
                                   hdb_schema **schema, long dist_col, int square,
                                   hdb_cursor **out, hdb_error *err);

/* duck_search.c */
hdb_status hdb__duck_search(void *conn, const char *table, const hdb__search *s,
                            hdb_cursor **out, hdb_error *err);

/* duck_aggregate.c */
hdb_status hdb__duck_aggregate(void *conn, const char *table, const hdb_agg *aggs,
                               size_t n_aggs, const char *group_by, const hdb__expr *filter,
                               hdb_cursor **out, hdb_error *err);

/* duck_txn.c */
hdb_status hdb__duck_begin(void *conn, hdb_error *err);
hdb_status hdb__duck_commit(void *conn, hdb_error *err);
hdb_status hdb__duck_rollback(void *conn, hdb_error *err);

/* duck_kv.c */
hdb_status hdb__duck_kv_get(void *conn, const char *ns, const void *key, size_t klen,
                            void **val, size_t *vlen, hdb_error *err);
hdb_status hdb__duck_kv_write(void *conn, const hdb_kv_batch *batch, hdb_error *err);
hdb_status hdb__duck_kv_iter(void *conn, const char *ns, const hdb_kv_range *range,
                             hdb_kv_iter **out, hdb_error *err);

#endif
