/*
 * pg.h - internals of the postgresql:// backend, shared by its files.
 *
 * Object graph
 *
 *   pool registry (global, mutex) --> pool (one per distinct conninfo and
 *                                     pool options, refcounted by handles)
 *   pool:  idle PGconn list, count of open connections, mutex + condvar
 *   conn (one per hdb handle): the pool, and inside a transaction the one
 *          PGconn the transaction is pinned to
 *   table: a catalog row (_hanzo_tables) read for each call: the hanzo
 *          name, the server-side table name, the schema, each column's
 *          storage kind; search and get take it from the pool's table
 *          cache instead (pg_cache.c), checked in the same statement
 *   session: per pooled connection, the pgvector settings we left on it
 *          (pg_pool.c), forgotten with the connection
 *
 * Every vtable method follows one shape:
 *   hdb__pg_enter  -> a connection (the pinned one, or a pool checkout),
 *                     and inside a transaction a SAVEPOINT
 *   ...statements...
 *   hdb__pg_leave  -> RELEASE / ROLLBACK TO the savepoint, or the
 *                     connection back to the pool (dropped when broken)
 * so a failed call changes nothing, also inside a transaction, and a lost
 * connection is never reused.
 *
 * Invariants
 *  1. A PGconn is owned by exactly one of: the pool's idle list, one call in
 *     progress (between enter and leave), or a handle's open transaction.
 *  2. A connection in the idle list is outside any transaction
 *     (PQtransactionStatus == PQTRANS_IDLE) and has no pending result.
 *  3. pool->open counts every connection that exists or is being opened,
 *     so it never exceeds pool->max.
 *  4. Values never enter SQL text: every value is a parameter (binary
 *     format where we encode it) or a COPY field; identifiers are quoted.
 *  5. What we leave on a connection beyond one call (session-level pgvector
 *     settings, prepared statements) is recorded in its pool slot, which
 *     is created with the connection and cleared when it is closed: a
 *     replaced connection starts from nothing. Only calls outside
 *     transactions leave such state (a rollback cannot undo it behind the
 *     record's back).
 */
#ifndef HDB_BACKENDS_POSTGRES_PG_H
#define HDB_BACKENDS_POSTGRES_PG_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "hanzodb.h"
#include "api/backend.h"
#include "backends/sql/sql.h"
#include "core/filter.h"
#include "core/schema.h"

/* ------------------------------------------------------------------ */
/* Connection pool (pg_pool.c)                                         */
/* ------------------------------------------------------------------ */

typedef struct hdb__pg_pool hdb__pg_pool;

typedef struct hdb__pg_pool_opts {
  int min;           /* connections kept open (opened at first use) */
  int max;           /* connections at most */
  int timeout_ms;    /* checkout wait, and connect timeout */
  int idle_check_ms; /* idle longer than this: a round trip before reuse */
} hdb__pg_pool_opts;

/* The pool for these connection parameters (keywords/values as for
 * PQconnectdbParams, NULL-terminated) and options, shared by every handle
 * that asks with the same ones; one more reference. `where` names the
 * server in messages ("127.0.0.1:5432/db"). Opens opts.min connections
 * (at least one) so that an unreachable server fails here. */
hdb_status hdb__pg_pool_acquire(const char *const *keys, const char *const *vals,
                                const char *where, const hdb__pg_pool_opts *opts,
                                hdb__pg_pool **out, hdb_error *err);
void hdb__pg_pool_release(hdb__pg_pool *p);
/* Checks a connection out: an idle one that still answers, else a new one
 * when fewer than max are open, else waits up to timeout_ms (HDB_BUSY).
 * HDB_UNAVAILABLE / HDB_AUTH when connecting fails. */
hdb_status hdb__pg_pool_get(hdb__pg_pool *p, PGconn **out, hdb_error *err);
/* Returns a connection; broken (or not idle) ones are closed instead. */
void hdb__pg_pool_put(hdb__pg_pool *p, PGconn *pg, int broken);
const char *hdb__pg_pool_where(const hdb__pg_pool *p);
/* Per-connection state the pool keeps beside each PGconn it opened, fresh
 * (all zero) for every new connection and dropped with it, so a replaced
 * connection (server restart) never inherits it. Only the holder of the
 * connection (invariant 1) reads or writes it. Session-level settings we
 * SET outside transactions (pg_search.c): 0 = never set by us (the
 * server's default), -2 = unknown (a SET that failed), else the value in
 * force (iterative_scan: -1 = relaxed_order). */
typedef struct hdb__pg_stmt hdb__pg_stmt;
typedef struct hdb__pg_session {
  int hnsw_ef, hnsw_iter;   /* hnsw.ef_search, hnsw.iterative_scan */
  int ivf_probes, ivf_iter; /* ivfflat.probes, ivfflat.iterative_scan */
  hdb__pg_stmt *stmts;      /* statements prepared on it (pg_exec.c), owned */
  int n_stmts;
  unsigned prepared;        /* names handed out: hdb_p<N>, never reused */
} hdb__pg_session;
/* Frees what a session state owns and zeroes it. */
void hdb__pg_session_clear(hdb__pg_session *s);
/* The state of a connection checked out of p (NULL for one the pool did
 * not open, which then gets no session-level settings). */
hdb__pg_session *hdb__pg_pool_session(hdb__pg_pool *p, PGconn *pg);
typedef struct hdb__pg_tcache hdb__pg_tcache;
/* The pool's table cache (pg_cache.c); lives as long as the pool. */
hdb__pg_tcache *hdb__pg_pool_tcache(hdb__pg_pool *p);
/* Opens one connection and configures it (notices off, settings). */
hdb_status hdb__pg_connect(const char *const *keys, const char *const *vals, const char *where,
                           PGconn **out, hdb_error *err);

/* ------------------------------------------------------------------ */
/* Handles, calls and transactions (pg_txn.c)                          */
/* ------------------------------------------------------------------ */

typedef struct hdb__pg_conn {
  hdb__pg_pool *pool; /* counted reference */
  PGconn *txn;        /* pinned while a transaction is open, else NULL */
  int in_txn;         /* hdb_begin succeeded and no commit/rollback yet */
  hdb_status doomed;  /* != OK: the open transaction was lost (conflict,
                         connection) and only rollback/commit remain */
  char doom_msg[256];
  int read_only;
  /* pgvector mode (URL pgvector=auto|on|off, decided at open): new tables
   * store vector columns of <= HDB__PG_VECTOR_MAX_DIM components as
   * pgvector's vector(dim), and hnsw / ivf_pq indexes are pgvector HNSW /
   * IVFFlat indexes. Reading, writing and searching follow each table's
   * recorded storage, not this flag, so tables of either kind work in
   * either mode. */
  int pgvector;
  int pgvector_iterative; /* extension >= 0.8: hnsw/ivfflat.iterative_scan */
} hdb__pg_conn;

/* pgvector 0.8's limits: the vector type holds up to 16,000 components
 * (larger columns stay BYTEA), its HNSW and IVFFlat indexes up to 2,000. */
#define HDB__PG_VECTOR_MAX_DIM 16000u
#define HDB__PG_VECTOR_INDEX_MAX_DIM 2000u

/* Starts a call: *pg is the connection to use. Inside a transaction this
 * is the pinned connection with a savepoint set. */
hdb_status hdb__pg_enter(hdb__pg_conn *c, PGconn **pg, hdb_error *err);
/* Ends a call that returned st (err already filled when st is an error):
 * releases or rolls back to the savepoint, or returns the connection to
 * the pool (closed when broken). A conflict or lost connection inside a
 * transaction rolls the whole transaction back and dooms it. Returns st,
 * or the failure of the cleanup itself. */
hdb_status hdb__pg_leave(hdb__pg_conn *c, PGconn *pg, hdb_status st, hdb_error *err);

/* Several statements as one step: outside a transaction BEGIN (with the
 * isolation level given, NULL for the default) ... COMMIT, or ROLLBACK
 * when st is an error; inside one, the call's savepoint already does it. */
hdb_status hdb__pg_atomic_begin(hdb__pg_conn *c, PGconn *pg, const char *isolation,
                                hdb_error *err);
hdb_status hdb__pg_atomic_end(hdb__pg_conn *c, PGconn *pg, hdb_status st, hdb_error *err);

hdb_status hdb__pg_begin(void *conn, hdb_error *err);
hdb_status hdb__pg_commit(void *conn, hdb_error *err);
hdb_status hdb__pg_rollback(void *conn, hdb_error *err);

/* ------------------------------------------------------------------ */
/* Errors (pg_errors.c)                                                */
/* ------------------------------------------------------------------ */

/* The status for a failed statement: from the SQLSTATE of res (class 08
 * and a broken connection: UNAVAILABLE; 28xxx AUTH; 3D000 UNAVAILABLE;
 * 42P01 NO_TABLE; 42703 NO_FIELD; 23505 DUPLICATE_ID; 23xxx CONSTRAINT;
 * 40001/40P01 CONFLICT; 25006 READ_ONLY; 55P03/57014 BUSY; 22xxx
 * TYPE_MISMATCH; 54xxx TOO_BIG; XX001/XX002 CORRUPT; 53xxx/58xxx IO).
 * Fills err with "postgresql at WHERE: WHAT: message (SQLSTATE)". */
hdb_status hdb__pg_fail_result(PGconn *pg, const PGresult *res, const char *where,
                               const char *what, hdb_error *err);
/* The status for a failed connection attempt (UNAVAILABLE or AUTH). */
hdb_status hdb__pg_fail_connect(PGconn *pg, const char *where, hdb_error *err);
/* 1 when the connection can no longer be used. */
int hdb__pg_broken(PGconn *pg);
/* The SQLSTATE of a failed result or "" (static or borrowed from res). */
const char *hdb__pg_sqlstate(const PGresult *res);

/* ------------------------------------------------------------------ */
/* Parameters and statements (pg_exec.c)                               */
/* ------------------------------------------------------------------ */

/* Parameters for PQexecParams. Small fixed-size values live in the
 * parameter's own slot; larger encoded values are owned (freed with the
 * list); borrowed ones point into records or filter trees that outlive
 * the statement. */
typedef struct hdb__pg_params {
  int n, cap;
  Oid *types;
  const char **values;
  int *lengths;
  int *formats;
  char (*slots)[8];
  unsigned char *owned;
  int oom;
} hdb__pg_params;

void hdb__pg_params_free(hdb__pg_params *p);
/* The $N placeholder number the next parameter gets. */
int hdb__pg_params_next(const hdb__pg_params *p);
void hdb__pg_param_null(hdb__pg_params *p);
void hdb__pg_param_text(hdb__pg_params *p, const char *s, size_t len); /* borrowed, text OID */
void hdb__pg_param_bytea(hdb__pg_params *p, const void *d, size_t len); /* borrowed */
void hdb__pg_param_int8(hdb__pg_params *p, int64_t v);
/* A text[] parameter (copied), for "= ANY($n)". */
void hdb__pg_param_text_array(hdb__pg_params *p, const char *const *s, size_t n);
/* The filter literals collected by hdb__sql_where, in order. */
void hdb__pg_params_from_sql(hdb__pg_params *p, const hdb__sql_params *sp);

/* Appends sql (from hdb__sql_where, placeholders $1..) to b with every
 * placeholder number raised by offset; quoted text is copied as it is. */
hdb_status hdb__pg_renumber(hdb__sql_buf *b, const char *sql, int offset, hdb_error *err);
/* Runs sql with p (may be NULL) and binary results. Never NULL unless out
 * of memory (then treated as a lost connection by the callers' checks). */
PGresult *hdb__pg_exec(PGconn *pg, const char *sql, const hdb__pg_params *p);
/* As hdb__pg_exec, through a named prepared statement of the connection
 * whose state is ss (NULL: hdb__pg_exec), prepared at its first use and
 * kept for the connection's life, keyed by the text and the parameter
 * types. Only outside transactions (a failed PREPARE would abort one).
 * Saves the server parsing and analysing the text each call; plans stay
 * per call (plan_cache_mode = force_custom_plan on our connections), so
 * the planner sees the values as with PQexecParams. */
PGresult *hdb__pg_exec_cached(PGconn *pg, hdb__pg_session *ss, const char *sql,
                              const hdb__pg_params *p);
/* Runs a statement that returns no rows (or whose rows are ignored);
 * HDB_OK or the mapped error naming `what`. */
hdb_status hdb__pg_run(PGconn *pg, const char *where, const char *sql, const hdb__pg_params *p,
                       const char *what, hdb_error *err);
/* Checks res has status want (PGRES_TUPLES_OK / PGRES_COMMAND_OK); on
 * failure clears res and maps the error. */
hdb_status hdb__pg_check(PGconn *pg, PGresult *res, ExecStatusType want, const char *where,
                         const char *what, hdb_error *err);

/* ------------------------------------------------------------------ */
/* Values on the wire (pg_codec.c)                                     */
/* ------------------------------------------------------------------ */

/* How a column is stored, decided by the SQL type name the shared SQL
 * layer gives for the hanzo type (hdb__sql_column_type). */
typedef enum hdb__pg_kind {
  HDB__PGK_BOOL,
  HDB__PGK_INT8,
  HDB__PGK_FLOAT8,
  HDB__PGK_TEXT,
  HDB__PGK_BYTEA,
  HDB__PGK_TSTZ,     /* timestamptz: microseconds since 2000-01-01 on the wire */
  HDB__PGK_TS,       /* timestamp without time zone, read as UTC (same wire form) */
  HDB__PGK_TS_INT8,  /* timestamps as bigint microseconds since 1970 */
  HDB__PGK_JSONB,
  HDB__PGK_JSON,      /* json: the text exactly as written */
  HDB__PGK_VEC_BYTEA, /* dim * 4 bytes, little-endian IEEE float32 */
  HDB__PGK_VEC_F4ARR, /* real[] */
  HDB__PGK_VEC_PGV    /* pgvector's vector(dim): int16 dim, int16 0, dim float4
                         big-endian (vector_send/vector_recv); its OID is
                         per database, so parameters go untyped ($n::vector
                         in SQL, or inferred from the target column) */
} hdb__pg_kind;

/* Kind and DDL type for a column; ddl is a static string. (pgvector
 * columns are chosen by pg_schema.c at create and recorded in the
 * catalog; this is the default mapping.) */
void hdb__pg_column_kind(hdb_type type, uint32_t dim, hdb__pg_kind *kind, const char **ddl);
/* The OID sent with a parameter of this kind (0 where the server infers). */
Oid hdb__pg_kind_oid(hdb__pg_kind k);
/* Bytes of the binary encoding of v (non-null, already conformed to the
 * column) and the encoding itself into dst (exactly that many bytes). */
size_t hdb__pg_encoded_size(hdb__pg_kind k, const hdb_value *v);
void hdb__pg_encode(hdb__pg_kind k, const hdb_value *v, unsigned char *dst);
/* Checks a value can be stored (timestamp range): HDB_OK or TYPE_MISMATCH. */
hdb_status hdb__pg_value_storable(hdb__pg_kind k, const hdb_value *v, const char *table,
                                  const char *id, const char *field, hdb_error *err);
/* Adds v as a parameter for a column of kind k (encoded, owned). */
void hdb__pg_param_value(hdb__pg_params *p, hdb__pg_kind k, const hdb_value *v);
/* Decodes the binary field (row, col) of res into *out (owned payload),
 * as hanzo type `type`; HDB_CORRUPT for bytes that do not decode. A
 * vector whose column has another type than bytea / real[] is read in
 * pgvector's binary layout (checked: length, dimension, zero word). */
hdb_status hdb__pg_decode(const PGresult *res, int row, int col, hdb_type type, uint32_t dim,
                          hdb_value *out, hdb_error *err);
/* Vector column bytes to floats without allocating: *data points into res
 * for the bytea layout on little-endian hosts, else into scratch (dim
 * floats, the caller's). 0 on success, -1 when the bytes are not a vector
 * of that dimension. */
int hdb__pg_vector_view(const PGresult *res, int row, int col, hdb__pg_kind k, uint32_t dim,
                        float *scratch, const float **data);

/* ------------------------------------------------------------------ */
/* Catalog and tables (pg_schema.c)                                    */
/* ------------------------------------------------------------------ */

/* One table as the catalog describes it. */
typedef struct hdb__pg_table {
  char *name;          /* hanzo name */
  char *pgname;        /* server-side name (hashed when over 63 bytes) */
  hdb_schema *schema;  /* NULL: schemaless (columns id, doc: hdb__sql_doc_encode) */
  hdb__pg_kind *kinds; /* per schema column, from the catalog's storage */
  uint32_t relid;      /* the server table's OID when loaded (0: unknown) */
  int64_t stamp;       /* xmin of its _hanzo_tables row: changes with every
                          DDL through hanzo (create, drop, index create and
                          drop touch the row in their own transaction) */
} hdb__pg_table;

/* The server's vector index on a column, when there is one (pg_schema.c):
 * method "hnsw" or "ivfflat", with the parameters search needs. */
typedef struct hdb__pg_vindex {
  int present;
  int hnsw;          /* 1: hnsw, 0: ivfflat */
  hdb_metric metric; /* the operator class's metric (the column's) */
  int lists;         /* ivfflat lists */
} hdb__pg_vindex;

/* ------------------------------------------------------------------ */
/* Table cache (pg_cache.c)                                            */
/* ------------------------------------------------------------------ */

/* One table's metadata as cached: immutable once made, shared by the
 * calls using it (refcounted). vix: per schema column, its vector index. */
typedef struct hdb__pg_tentry {
  hdb__pg_table t;
  hdb__pg_vindex *vix; /* NULL for schemaless tables */
  int refs;            /* guarded by the cache's mutex */
  int dead;            /* no longer in the cache: freed with its last ref */
  struct hdb__pg_tentry *next;
} hdb__pg_tentry;

hdb__pg_tcache *hdb__pg_tcache_new(void);
void hdb__pg_tcache_free(hdb__pg_tcache *tc);
/* The metadata of table: from the cache when use_cache (then *cached = 1
 * and no statement runs), else read on pg (catalog row and its vector
 * indexes, in the current transaction when there is one) and, when
 * store, put in the cache. Release with hdb__pg_tcache_put. */
hdb_status hdb__pg_tcache_get(hdb__pg_tcache *tc, PGconn *pg, const char *where,
                              const char *table, int use_cache, int store,
                              hdb__pg_tentry **out, int *cached, hdb_error *err);
void hdb__pg_tcache_put(hdb__pg_tcache *tc, hdb__pg_tentry *e);
/* Drops table's entry (DDL through this pool, or an entry found stale). */
void hdb__pg_tcache_forget(hdb__pg_tcache *tc, const char *table);
/* Whether res, whose column 0 is "id" and columns 1..ncols the schema
 * columns cols[] of t (hdb__pg_select_list), was read from the table t
 * describes: the server table's OID (PQftable) and each column's type
 * OID match, and when stamp_col >= 0 and res has rows, that column (the
 * catalog row's xmin read by the same statement, HDB__PG_STAMP_SQL)
 * equals t->stamp. 0 means t is stale: discard res. */
int hdb__pg_result_current(const hdb__pg_table *t, const PGresult *res, const size_t *cols,
                           size_t ncols, int stamp_col);
/* The SQL of the stamp column; $%d is a text parameter: the hanzo name. */
#define HDB__PG_STAMP_SQL "(SELECT xmin::text::int8 FROM _hanzo_tables WHERE name = $%d)"
/* pgvector's distance operator for a metric: "<->", "<=>", "<#>". */
const char *hdb__pg_vector_op(hdb_metric m);

/* Reads the catalog row of table into *t; HDB_NO_TABLE naming it. */
hdb_status hdb__pg_table_load(PGconn *pg, const char *where, const char *table,
                              hdb__pg_table *t, hdb_error *err);
void hdb__pg_table_free(hdb__pg_table *t);
/* Creates the catalog tables when missing (under an advisory lock). */
hdb_status hdb__pg_catalog_init(PGconn *pg, const char *where, hdb_error *err);
/* Checks a field name for a use ("sort key 1") against a strict table:
 * a column, "id" when allow_id, a json path when allow_path. */
hdb_status hdb__pg_check_field(const hdb__pg_table *t, const char *field, int allow_id,
                               int allow_path, const char *what, hdb_error *err);
/* Appends the SELECT list: "id" then the columns (all, or the projected
 * ones); *cols receives, per result column after the id, the schema column
 * index (owned, may be NULL when none). Schemaless: "id", "doc". */
hdb_status hdb__pg_select_list(const hdb__pg_table *t, const char *const *fields, size_t nf,
                               hdb__sql_buf *b, size_t **cols, size_t *ncols, hdb_error *err);
/* Decodes one result row laid out by hdb__pg_select_list into a record. */
hdb_status hdb__pg_row_record(const hdb__pg_table *t, const PGresult *res, int row,
                              const size_t *cols, size_t ncols, hdb_record **out,
                              hdb_error *err);

hdb_status hdb__pg_table_create(void *conn, const char *table, const hdb_schema *schema,
                                unsigned flags, hdb_error *err);
hdb_status hdb__pg_table_drop(void *conn, const char *table, unsigned flags, hdb_error *err);
hdb_status hdb__pg_table_list(void *conn, char ***names, size_t *count, hdb_error *err);
hdb_status hdb__pg_table_schema(void *conn, const char *table, hdb_schema **schema,
                                hdb_error *err);
hdb_status hdb__pg_index_create(void *conn, const char *table, const char *column,
                                hdb_index_type type, const char *params, hdb_error *err);
hdb_status hdb__pg_index_drop(void *conn, const char *table, const char *column, hdb_error *err);
hdb_status hdb__pg_index_list(void *conn, const char *table, hdb_index_info **infos,
                              size_t *count, hdb_error *err);

/* ------------------------------------------------------------------ */
/* Filters: pushed down or evaluated here (pg_query.c)                 */
/* ------------------------------------------------------------------ */

/* A WHERE clause for a filter: SQL from the shared layer with its
 * parameters, or "TRUE" with client = 1 when the filter must be evaluated
 * on the decoded rows with hdb__filter_match (schemaless tables, and
 * nodes the layer cannot translate exactly). */
typedef struct hdb__pg_where {
  hdb__sql_buf sql;
  hdb__sql_params params;
  int client;
} hdb__pg_where;

/* Binds the filter against the table (errors as memory's) and builds w. */
hdb_status hdb__pg_where_build(const hdb__pg_table *t, const hdb__expr *e, hdb__pg_where *w,
                               hdb_error *err);
void hdb__pg_where_free(hdb__pg_where *w);
/* Streams every row of t matching w (and e when w->client) in id order,
 * decoded with the full select list, to fn; fn takes ownership of rec and
 * returns HDB_OK to go on. Uses single-row mode. */
typedef hdb_status (*hdb__pg_row_fn)(void *user, hdb_record *rec, hdb_error *err);
hdb_status hdb__pg_scan(PGconn *pg, const char *where, const hdb__pg_table *t,
                        const hdb__expr *e, const hdb__pg_where *w, const char *lock_clause,
                        hdb__pg_row_fn fn, void *user, hdb_error *err);

hdb_status hdb__pg_query(void *conn, const char *table, const hdb__query *q, hdb_cursor **out,
                         hdb_error *err);
hdb_status hdb__pg_count(void *conn, const char *table, const hdb__expr *filter,
                         int64_t version, uint64_t *out, hdb_error *err);

/* pg_aggregate.c */
hdb_status hdb__pg_aggregate(void *conn, const char *table, const hdb_agg *aggs, size_t n_aggs,
                             const char *group_by, const hdb__expr *filter, hdb_cursor **out,
                             hdb_error *err);

/* ------------------------------------------------------------------ */
/* Records (pg_records.c), search (pg_search.c), KV (pg_kv.c)          */
/* ------------------------------------------------------------------ */

hdb_status hdb__pg_write(void *conn, const char *table, hdb_record *const *records, size_t n,
                         hdb__write_mode mode, hdb_error *err);
hdb_status hdb__pg_get(void *conn, const char *table, const char *id, hdb_record **out,
                       hdb_error *err);
hdb_status hdb__pg_update(void *conn, const char *table, const char *id, const hdb__expr *filter,
                          const hdb_record *patch, uint64_t *updated, hdb_error *err);
hdb_status hdb__pg_remove(void *conn, const char *table, const char *id, const hdb__expr *filter,
                          uint64_t *deleted, hdb_error *err);

hdb_status hdb__pg_search(void *conn, const char *table, const hdb__search *s, hdb_cursor **out,
                          hdb_error *err);

hdb_status hdb__pg_kv_get(void *conn, const char *ns, const void *key, size_t klen, void **val,
                          size_t *vlen, hdb_error *err);
hdb_status hdb__pg_kv_write(void *conn, const hdb_kv_batch *batch, hdb_error *err);
hdb_status hdb__pg_kv_iter(void *conn, const char *ns, const hdb_kv_range *range,
                           hdb_kv_iter **out, hdb_error *err);

#endif
