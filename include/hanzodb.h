/*
 * hanzodb.h - the one public header of hanzo-db.
 *
 * hanzo-db is one C API over many databases: an embedded native engine,
 * an in-process memory store, plain files, SQLite, DuckDB, PostgreSQL,
 * Redis, S3-compatible object storage and Elasticsearch-compatible search.
 * Everything a program may use is declared here; every handle is opaque.
 *
 * Conventions (read these once, they hold for every function):
 *
 *  - Functions return an hdb_status. HDB_OK (0) is success; cursors and
 *    iterators also return HDB_DONE when they are exhausted. Every other
 *    value is an error whose detailed message, naming the table, field,
 *    line or position involved, is returned by hdb_errmsg(db) (or by the
 *    cursor's / iterator's own errmsg function, or written into the
 *    caller's hdb_error for functions that have no handle).
 *  - A failed call changes nothing: a batch is all-or-nothing.
 *  - Strings are NUL-terminated UTF-8 unless a length is passed.
 *  - "Borrowed" pointers belong to the library; the comment says how long
 *    they stay valid. "Owned" pointers are the caller's to free with the
 *    named function. Every free/close function accepts NULL.
 *  - The library never prints, aborts or exits. Out of memory is reported
 *    as HDB_NOMEM.
 *  - One hdb handle may be shared between threads: calls on it are
 *    serialized. hdb_errmsg() describes the last failed call on the handle,
 *    so a program that shares a handle between threads should read it
 *    under its own lock or open one handle per thread. Cursors, iterators,
 *    records, schemas and batches belong to one thread at a time.
 */
#ifndef HANZODB_H
#define HANZODB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden symbols; everything declared here is
 * exported. */
#if defined(__GNUC__) && defined(HDB_BUILDING_LIBRARY)
#pragma GCC visibility push(default)
#endif

/* ------------------------------------------------------------------ */
/* Version                                                             */
/* ------------------------------------------------------------------ */

#define HDB_VERSION_MAJOR 0
#define HDB_VERSION_MINOR 1
#define HDB_VERSION_PATCH 0
#define HDB_VERSION_STRING "0.1.0"
/* major * 1000000 + minor * 1000 + patch */
#define HDB_VERSION_NUMBER 1000

/* The version of the library actually linked (may differ from the header). */
const char *hdb_version(void);
int hdb_version_number(void);

/* ------------------------------------------------------------------ */
/* Status codes                                                        */
/* ------------------------------------------------------------------ */

/*
 * One table generates the enum, hdb_status_name() and hdb_status_message().
 * XX(ENUM_SUFFIX, value, "NAME", "generic message")
 */
#define HDB_STATUS_MAP(XX)                                                        \
  XX(OK, 0, "OK", "success")                                                      \
  XX(DONE, 1, "DONE", "no more rows")                                             \
  XX(ERROR, 2, "ERROR", "internal error")                                         \
  XX(NOMEM, 3, "NOMEM", "out of memory")                                          \
  XX(INVALID_ARGUMENT, 4, "INVALID_ARGUMENT", "invalid argument")                 \
  XX(NOT_SUPPORTED, 5, "NOT_SUPPORTED", "not supported by this backend")          \
  XX(NOT_FOUND, 6, "NOT_FOUND", "not found")                                      \
  XX(NO_TABLE, 7, "NO_TABLE", "no such table")                                    \
  XX(NO_FIELD, 8, "NO_FIELD", "no such column or field")                          \
  XX(NO_INDEX, 9, "NO_INDEX", "no such index")                                    \
  XX(EXISTS, 10, "EXISTS", "already exists")                                      \
  XX(DUPLICATE_ID, 11, "DUPLICATE_ID", "duplicate id")                            \
  XX(BAD_ID, 12, "BAD_ID", "empty or oversized id")                               \
  XX(TYPE_MISMATCH, 13, "TYPE_MISMATCH", "value has the wrong type")              \
  XX(DIMENSION, 14, "DIMENSION", "vector has the wrong dimension")                \
  XX(NOT_FINITE, 15, "NOT_FINITE", "vector has a NaN or infinite component")      \
  XX(BAD_FILTER, 16, "BAD_FILTER", "malformed filter")                            \
  XX(BAD_JSON, 17, "BAD_JSON", "malformed JSON")                                  \
  XX(BAD_URL, 18, "BAD_URL", "malformed URL")                                     \
  XX(BAD_SCHEMA, 19, "BAD_SCHEMA", "malformed schema")                            \
  XX(NOT_BUILT, 20, "NOT_BUILT", "backend not built into this library")           \
  XX(UNAVAILABLE, 21, "UNAVAILABLE", "server unreachable or connection lost")     \
  XX(AUTH, 22, "AUTH", "authentication failed")                                   \
  XX(IO, 23, "IO", "I/O error")                                                   \
  XX(CORRUPT, 24, "CORRUPT", "data is corrupt")                                   \
  XX(CONFLICT, 25, "CONFLICT", "conflicting concurrent change")                   \
  XX(TXN_STATE, 26, "TXN_STATE", "no transaction, or one already open")           \
  XX(BUSY, 27, "BUSY", "timed out waiting for a lock or connection")              \
  XX(READ_ONLY, 28, "READ_ONLY", "database is read-only")                         \
  XX(CONSTRAINT, 29, "CONSTRAINT", "constraint violated")                         \
  XX(TOO_BIG, 30, "TOO_BIG", "value or request too large")

typedef enum hdb_status {
#define HDB__STATUS_ENUM(name, value, str, msg) HDB_##name = value,
  HDB_STATUS_MAP(HDB__STATUS_ENUM)
#undef HDB__STATUS_ENUM
} hdb_status;

/* Static strings: "NO_TABLE", "no such table". Unknown codes give "UNKNOWN". */
const char *hdb_status_name(hdb_status s);
const char *hdb_status_message(hdb_status s);

/* Where a function has no handle to carry its message, the caller passes an
 * hdb_error (may be NULL when the caller does not want the message). */
#define HDB_ERRMSG_MAX 512
typedef struct hdb_error {
  hdb_status code;
  char message[HDB_ERRMSG_MAX];
} hdb_error;

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

#define HDB_MAX_ID_LEN 1024u       /* bytes; ids are 1..1024 bytes of UTF-8 */
#define HDB_MAX_NAME_LEN 128u      /* table, column, index and namespace names */
#define HDB_MAX_VECTOR_DIM 65536u  /* components per vector */
#define HDB_MAX_BATCH 1000000u     /* records per insert/upsert call */

/* ------------------------------------------------------------------ */
/* Memory                                                              */
/* ------------------------------------------------------------------ */

/* Frees a buffer the library returned as "owned, free with hdb_free". */
void hdb_free(void *p);
/* Frees an array of owned strings returned with its count. */
void hdb_strings_free(char **strings, size_t count);

/* ------------------------------------------------------------------ */
/* Values, records and schemas                                         */
/* ------------------------------------------------------------------ */

typedef enum hdb_type {
  HDB_TYPE_NULL = 0,
  HDB_TYPE_BOOL,
  HDB_TYPE_INT,       /* int64 */
  HDB_TYPE_FLOAT,     /* double */
  HDB_TYPE_TEXT,      /* UTF-8 */
  HDB_TYPE_BLOB,      /* bytes: images, audio, anything */
  HDB_TYPE_TIMESTAMP, /* microseconds since 1970-01-01T00:00:00Z */
  HDB_TYPE_JSON,      /* a JSON document, held as compact JSON text */
  HDB_TYPE_VECTOR     /* float32[dim] */
} hdb_type;

/* "null", "bool", "int", "float", "text", "blob", "timestamp", "json", "vector". */
const char *hdb_type_name(hdb_type t);

typedef enum hdb_metric {
  HDB_METRIC_DEFAULT = 0, /* in a search: the column's metric */
  HDB_METRIC_L2,          /* squared Euclidean distance */
  HDB_METRIC_COSINE,      /* 1 - cosine similarity; 1 when either vector is zero */
  HDB_METRIC_DOT          /* negated inner product (smaller is closer) */
} hdb_metric;

/* "l2", "cosine", "dot" ("default" for HDB_METRIC_DEFAULT). */
const char *hdb_metric_name(hdb_metric m);

/*
 * A borrowed view of one value. Pointers inside it belong to the record (or
 * cursor) it came from and stay valid until that record is changed or freed.
 * Text is NUL-terminated in addition to carrying its length.
 */
typedef struct hdb_value {
  hdb_type type;
  union {
    int boolean;
    int64_t i;
    double f;
    int64_t timestamp_us;
    struct {
      const char *data; /* TEXT and JSON */
      size_t len;
    } text;
    struct {
      const void *data;
      size_t len;
    } blob;
    struct {
      const float *data;
      uint32_t dim;
    } vector;
  } as;
} hdb_value;

/*
 * A record: an id and named fields, in the order they were set. Field names
 * are 1..HDB_MAX_NAME_LEN bytes of [A-Za-z0-9_], not starting with a digit;
 * names starting with '_' are reserved for the library (e.g. "_distance").
 * The id is not a field.
 */
typedef struct hdb_record hdb_record;

/* Owned; free with hdb_record_free. NULL when out of memory. id may be
 * NULL and set later; it is validated when the record is written. */
hdb_record *hdb_record_new(const char *id);
void hdb_record_free(hdb_record *r);
/* Deep copy; owned. NULL when out of memory. */
hdb_record *hdb_record_clone(const hdb_record *r);

hdb_status hdb_record_set_id(hdb_record *r, const char *id);
/* Borrowed; valid until the id is changed or the record freed. May be NULL. */
const char *hdb_record_id(const hdb_record *r);

/* Setters copy their input. Setting a field that exists replaces it in place.
 * They return HDB_INVALID_ARGUMENT for a bad field name, HDB_NOT_FINITE for a
 * vector with NaN/Inf, HDB_BAD_JSON for invalid JSON text, HDB_NOMEM. */
hdb_status hdb_record_set_null(hdb_record *r, const char *field);
hdb_status hdb_record_set_bool(hdb_record *r, const char *field, int v);
hdb_status hdb_record_set_int(hdb_record *r, const char *field, int64_t v);
hdb_status hdb_record_set_float(hdb_record *r, const char *field, double v);
hdb_status hdb_record_set_text(hdb_record *r, const char *field, const char *s);
hdb_status hdb_record_set_textn(hdb_record *r, const char *field, const char *s, size_t len);
hdb_status hdb_record_set_blob(hdb_record *r, const char *field, const void *p, size_t len);
hdb_status hdb_record_set_timestamp(hdb_record *r, const char *field, int64_t us);
hdb_status hdb_record_set_json(hdb_record *r, const char *field, const char *json);
hdb_status hdb_record_set_vector(hdb_record *r, const char *field, const float *v, uint32_t dim);
/* Copies any value view (e.g. one read from another record). */
hdb_status hdb_record_set(hdb_record *r, const char *field, const hdb_value *v);
/* Zero-copy setters for bulk loads of large vectors and blobs (embeddings,
 * images, audio): the record refers to the caller's memory instead of
 * copying it, the way SQLite's SQLITE_STATIC binds do. The caller keeps it
 * valid and unchanged until the record is freed or the field replaced or
 * removed; the library never writes to it or frees it. Checks are those of
 * the copying setters (a vector is checked for NaN/Inf here, once).
 * hdb_record_clone, and every backend that keeps a record, copies the
 * payload, so the memory may be reused as soon as the write returns. */
hdb_status hdb_record_set_vector_ref(hdb_record *r, const char *field, const float *v,
                                     uint32_t dim);
hdb_status hdb_record_set_blob_ref(hdb_record *r, const char *field, const void *p, size_t len);
/* Removes a field; HDB_NOT_FOUND when it is not there. */
hdb_status hdb_record_unset(hdb_record *r, const char *field);

size_t hdb_record_field_count(const hdb_record *r);
/* Borrowed name and value of field i (0-based, in order); HDB_NOT_FOUND past
 * the end. Valid until the record is changed or freed. */
hdb_status hdb_record_field(const hdb_record *r, size_t i, const char **name, hdb_value *value);
/* Looks a field up by name; HDB_NOT_FOUND when absent. */
hdb_status hdb_record_get(const hdb_record *r, const char *field, hdb_value *value);

/*
 * JSON form of a record, the format of the CLI and of file:// tables:
 *   {"id":"a1","text":"hi","year":2020,"embedding":[0.1,0.2],
 *    "image":{"$base64":"iVBO..."},"ts":"2024-01-20T10:00:00.000000Z","metadata":{...}}
 * Blobs are {"$base64":...}; timestamps are RFC 3339 text in UTC.
 * hdb_record_to_json: owned string, free with hdb_free.
 */
hdb_status hdb_record_to_json(const hdb_record *r, char **json);
/*
 * Parses one JSON object into a record (owned, hdb_record_free). Types come
 * from the JSON: integers -> int, other numbers -> float, strings -> text,
 * {"$base64":..} -> blob, objects and arrays -> json. Writing the record to
 * a table converts values to the table's column types (an array of numbers
 * to a vector column, RFC 3339 text to a timestamp column, ...).
 * "id" is required when require_id is non-zero. Errors: HDB_BAD_JSON (with
 * the position), HDB_BAD_ID.
 */
hdb_status hdb_record_from_json(const char *json, size_t len, int require_id, hdb_record **out,
                                hdb_error *err);

/*
 * A schema: typed columns. Every column is nullable. A table created with a
 * schema is strict: writing, filtering, sorting or projecting a field that
 * is not a column is HDB_NO_FIELD; free-form data belongs in a json column,
 * whose contents filters reach with dotted paths (metadata.lang). A table
 * created without a schema accepts any fields and checks none.
 */
typedef struct hdb_schema hdb_schema;

/* Owned; free with hdb_schema_free. */
hdb_schema *hdb_schema_new(void);
void hdb_schema_free(hdb_schema *s);
hdb_schema *hdb_schema_clone(const hdb_schema *s);
/* Adds a column of a non-vector type. HDB_EXISTS for a repeated name,
 * HDB_INVALID_ARGUMENT for a bad name or type. */
hdb_status hdb_schema_add(hdb_schema *s, const char *name, hdb_type type);
/* Adds a vector column of 1..HDB_MAX_VECTOR_DIM components; metric DEFAULT means L2. */
hdb_status hdb_schema_add_vector(hdb_schema *s, const char *name, uint32_t dim, hdb_metric metric);

typedef struct hdb_column_info {
  const char *name; /* borrowed from the schema */
  hdb_type type;
  uint32_t dim;      /* vectors only, else 0 */
  hdb_metric metric; /* vectors only, else DEFAULT */
} hdb_column_info;

size_t hdb_schema_column_count(const hdb_schema *s);
/* HDB_NOT_FOUND past the end; name borrowed until the schema is freed. */
hdb_status hdb_schema_column(const hdb_schema *s, size_t i, hdb_column_info *out);
/* Index of the named column, or -1. */
long hdb_schema_find(const hdb_schema *s, const char *name);

/* The CLI's schema JSON: {"text":"text","year":"int","embedding":"vector(384,cosine)",
 * "image":"blob","metadata":"json"}. Types: bool, int, float, text, blob,
 * timestamp, json, vector(DIM[,l2|cosine|dot]). Column order is the key order. */
hdb_status hdb_schema_from_json(const char *json, hdb_schema **out, hdb_error *err);
/* Owned string, free with hdb_free. */
hdb_status hdb_schema_to_json(const hdb_schema *s, char **json);

/* ------------------------------------------------------------------ */
/* Opening a database                                                  */
/* ------------------------------------------------------------------ */

typedef struct hdb hdb;

typedef enum hdb_backend {
  HDB_BACKEND_DEFAULT = 0, /* let the URL, workload or environment decide */
  HDB_BACKEND_NATIVE,      /* native://DIR, lancedb://DIR */
  HDB_BACKEND_MEMORY,      /* memory:// (private) or memory://NAME (shared in-process) */
  HDB_BACKEND_FILE,        /* file://DIR (one NAME.jsonl per table), file://PATH.jsonl, file://PATH.csv */
  HDB_BACKEND_SQLITE,      /* sqlite://PATH, sqlite://:memory: */
  HDB_BACKEND_DUCKDB,      /* duckdb://PATH, duckdb://:memory: */
  HDB_BACKEND_POSTGRES,    /* postgresql://..., postgres://... */
  HDB_BACKEND_REDIS,       /* redis://host:port/db */
  HDB_BACKEND_S3,          /* s3://bucket/prefix?endpoint=... */
  HDB_BACKEND_ELASTIC      /* elasticsearch://host:port */
} hdb_backend;

/* "native", "memory", "file", "sqlite", "duckdb", "postgresql", "redis", "s3",
 * "elasticsearch" ("default"). */
const char *hdb_backend_name(hdb_backend b);
/* Parses a name or alias ("lancedb" -> NATIVE, "postgres" -> POSTGRES);
 * HDB_INVALID_ARGUMENT for an unknown name. */
hdb_status hdb_backend_from_name(const char *name, hdb_backend *out);
/* Non-zero when the backend was compiled into this library. */
int hdb_backend_built(hdb_backend b);

typedef enum hdb_workload {
  HDB_WORKLOAD_NONE = 0,
  HDB_WORKLOAD_VECTOR_SEARCH, /* -> native */
  HDB_WORKLOAD_ANALYTICS,     /* -> duckdb */
  HDB_WORKLOAD_TRANSACTIONAL, /* -> postgresql */
  HDB_WORKLOAD_CACHING,       /* -> redis */
  HDB_WORKLOAD_EMBEDDED       /* -> sqlite */
} hdb_workload;

/* "none", "vector_search", "analytics", "transactional", "caching", "embedded". */
const char *hdb_workload_name(hdb_workload w);
hdb_status hdb_workload_from_name(const char *name, hdb_workload *out);
/* The backend a workload prefers when it is configured and built. */
hdb_backend hdb_workload_backend(hdb_workload w);

/*
 * Configuration for hdb_open_config. Zero-initialize it (or use
 * HDB_CONFIG_INIT) and set what you need; zero means "default".
 *
 * Which URL is opened, first rule that applies:
 *  1. url, when set;
 *  2. backend, when set: built from path (native, sqlite, duckdb, file),
 *     postgres_url (postgresql) or redis_url (redis);
 *  3. workload, when set: its preferred backend if it is built and
 *     configured, else native, with a note saying why;
 *  4. native://PATH, where PATH is path or "./hanzo-data".
 * With use_env set, unset fields are first filled from HANZO_DB_BACKEND,
 * HANZO_DB_PATH, HANZO_DB_URL and HANZO_REDIS_URL (see hdb_open_env).
 */
typedef struct hdb_config {
  const char *url;
  hdb_backend backend;
  hdb_workload workload;
  const char *path;         /* data directory or file for embedded backends */
  const char *postgres_url; /* postgresql://... for the transactional tier */
  const char *redis_url;    /* redis://... for the caching tier */
  int use_env;              /* fill unset fields from the environment */
  int read_only;            /* open without writing */
  int pool_min;             /* connection pools (server backends); 0 = default */
  int pool_max;
  int timeout_ms; /* connect, lock and pool checkout timeout; 0 = default */
} hdb_config;

#define HDB_CONFIG_INIT {0}

typedef struct hdb_selection {
  hdb_backend backend;
  char url[1024];
  char note[256]; /* why this backend, e.g. "caching prefers redis, but no redis URL is configured; using native" */
} hdb_selection;

/* Resolves a config to the URL that hdb_open_config would open, without
 * opening anything. Errors: HDB_BAD_URL, HDB_INVALID_ARGUMENT. */
hdb_status hdb_select(const hdb_config *cfg, hdb_selection *out, hdb_error *err);

/*
 * Opens a database. On success *out is an owned handle (hdb_close). On
 * failure *out is NULL and err (if given) holds the code and a message that
 * names the backend and the problem: HDB_BAD_URL, HDB_NOT_BUILT (the backend
 * is known but was not compiled in), HDB_UNAVAILABLE (server down), HDB_AUTH,
 * HDB_IO, HDB_CORRUPT, HDB_BUSY.
 */
hdb_status hdb_open(const char *url, hdb **out, hdb_error *err);
hdb_status hdb_open_config(const hdb_config *cfg, hdb **out, hdb_error *err);
/* hdb_open_config with only use_env set: HANZO_DB_URL, else HANZO_DB_BACKEND
 * with HANZO_DB_PATH / HANZO_DB_URL / HANZO_REDIS_URL, else native://./hanzo-data. */
hdb_status hdb_open_env(hdb **out, hdb_error *err);
/* Closes the handle, rolling back an open transaction. NULL is a no-op. */
void hdb_close(hdb *db);

/* Message of the last failed call on db; borrowed, valid until the next call
 * on db. "not an error" when the last call succeeded. */
const char *hdb_errmsg(const hdb *db);
/* Code of the last call on db. */
hdb_status hdb_errcode(const hdb *db);

hdb_backend hdb_backend_of(const hdb *db);
/* The URL the handle was opened with, password removed; borrowed for the
 * handle's life. */
const char *hdb_url(const hdb *db);
/* Checks that the database answers (a server round trip where there is a
 * server). HDB_UNAVAILABLE when it does not. */
hdb_status hdb_ping(hdb *db);

/* ------------------------------------------------------------------ */
/* Capabilities                                                        */
/* ------------------------------------------------------------------ */

typedef enum hdb_capability {
  HDB_CAP_PERSISTENT = 1u << 0,   /* data outlives the process */
  HDB_CAP_TRANSACTIONS = 1u << 1, /* hdb_begin/commit/rollback */
  HDB_CAP_KV = 1u << 2,           /* hdb_kv_* */
  HDB_CAP_VECTOR_SEARCH = 1u << 3,
  HDB_CAP_VECTOR_INDEX = 1u << 4, /* some approximate index: see the two below */
  HDB_CAP_SCALAR_INDEX = 1u << 5,
  HDB_CAP_FULLTEXT = 1u << 6,
  HDB_CAP_HYBRID_SEARCH = 1u << 7,
  HDB_CAP_AGGREGATE = 1u << 8,
  HDB_CAP_TTL = 1u << 9,
  HDB_CAP_PUBSUB = 1u << 10,
  HDB_CAP_TIME_TRAVEL = 1u << 11,
  HDB_CAP_ENCRYPTION = 1u << 12,
  HDB_CAP_STATS = 1u << 13,
  HDB_CAP_SCHEMALESS = 1u << 14, /* tables without a schema */
  HDB_CAP_INDEX_HNSW = 1u << 15,  /* HDB_INDEX_HNSW */
  HDB_CAP_INDEX_IVF_PQ = 1u << 16 /* HDB_INDEX_IVF_PQ */
} hdb_capability;

/* Bitwise OR of hdb_capability. A call whose capability is off returns
 * HDB_NOT_SUPPORTED and changes nothing. */
uint32_t hdb_capabilities(const hdb *db);
/* "transactions", "kv", ...; NULL for a value that is not one flag. */
const char *hdb_capability_name(hdb_capability c);

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

#define HDB_IF_NOT_EXISTS 1u /* hdb_table_create: an existing table is not an error */
#define HDB_IF_EXISTS 2u     /* hdb_table_drop: a missing table is not an error */

/* Table names follow the field-name rules. schema may be NULL for a
 * schemaless table; it is copied. Errors: HDB_EXISTS, HDB_INVALID_ARGUMENT. */
hdb_status hdb_table_create(hdb *db, const char *table, const hdb_schema *schema, unsigned flags);
/* Drops the table with its rows and indexes. HDB_NO_TABLE unless HDB_IF_EXISTS. */
hdb_status hdb_table_drop(hdb *db, const char *table, unsigned flags);
/* Names in ascending byte order; owned, free with hdb_strings_free. */
hdb_status hdb_table_list(hdb *db, char ***names, size_t *count);
/* The table's schema; owned, hdb_schema_free. A schemaless table gives
 * *schema = NULL. HDB_NO_TABLE when missing. */
hdb_status hdb_table_schema(hdb *db, const char *table, hdb_schema **schema);

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

/*
 * Inserts n records in one all-or-nothing step. Records are converted to the
 * column types; the caller keeps ownership. Errors: HDB_NO_TABLE,
 * HDB_DUPLICATE_ID (an id already in the table or twice in the batch),
 * HDB_BAD_ID, HDB_NO_FIELD, HDB_TYPE_MISMATCH, HDB_DIMENSION, HDB_NOT_FINITE,
 * HDB_TOO_BIG (more than HDB_MAX_BATCH records).
 */
hdb_status hdb_insert(hdb *db, const char *table, hdb_record *const *records, size_t n);
/* Like hdb_insert, but a record whose id exists replaces that row whole.
 * An id repeated in the batch: the last one wins. */
hdb_status hdb_upsert(hdb *db, const char *table, hdb_record *const *records, size_t n);
/* The row with this id; owned, hdb_record_free. HDB_NOT_FOUND when absent. */
hdb_status hdb_get(hdb *db, const char *table, const char *id, hdb_record **out);
/* Sets the fields of patch (its id is ignored) on the row with this id,
 * leaving the other fields as they are; a null value clears a field.
 * HDB_NOT_FOUND when absent. */
hdb_status hdb_update(hdb *db, const char *table, const char *id, const hdb_record *patch);
/* Applies patch to every row matching filter (NULL: every row); *updated
 * (may be NULL) receives the count. */
hdb_status hdb_update_where(hdb *db, const char *table, const char *filter,
                            const hdb_record *patch, uint64_t *updated);
/* HDB_NOT_FOUND when no row has this id. */
hdb_status hdb_delete(hdb *db, const char *table, const char *id);
/* Deletes every row matching filter (NULL: every row); *deleted may be NULL. */
hdb_status hdb_delete_where(hdb *db, const char *table, const char *filter, uint64_t *deleted);

/* ------------------------------------------------------------------ */
/* Filters                                                             */
/* ------------------------------------------------------------------ */

/*
 * Every "filter" argument takes one of two forms; a filter whose first
 * non-space character is '{' is the JSON form. NULL or "" matches every row.
 *
 * Text:  type = 'test' AND (year >= 2020 OR tag IN ('a','b'))
 *        AND NOT archived AND meta.lang = 'en'
 *   comparisons  = != <> < <= > >=
 *   membership   f IN (..), f NOT IN (..), f BETWEEN a AND b, f NOT BETWEEN a AND b
 *   text         f LIKE 'pre%' (% any run, _ one character, \ escapes), f NOT LIKE ..
 *   nulls        f IS NULL, f IS NOT NULL, EXISTS f
 *   logic        AND, OR, NOT, parentheses; a bare field means f = true
 *   literals     numbers, 'text' ('' is a quote), true, false, null (in IN lists)
 *   fields       name, "quoted name", dotted paths into json columns (meta.a.b)
 *   Keywords are case-insensitive.
 * JSON:  {"role":"admin","age":{"$gt":30},"$or":[{"a":1},{"b":{"$in":[1,2]}}]}
 *   $eq $ne $gt $gte $lt $lte $in $nin $between [lo,hi] $like $exists,
 *   $and $or $nor $not; several keys in one object are ANDed;
 *   {"f":null} means f IS NULL.
 *
 * Semantics are SQL's: a comparison with a null or missing field is unknown,
 * and only rows for which the filter is true match (so f != 1 does not match
 * rows where f is null). Numbers compare by value across int and float; text
 * compares by bytes (code points); timestamps compare with timestamps or
 * RFC 3339 text. EXISTS f is true when f is present and not null; for a json
 * path, when the key is present. Comparing values of incompatible types is
 * HDB_TYPE_MISMATCH on a table with a schema, and unknown without one.
 *
 * Errors: HDB_BAD_FILTER with the position ("at 1:17: expected a value after
 * '='"), HDB_NO_FIELD for a field that is not a column of a strict table.
 */

/* ------------------------------------------------------------------ */
/* Queries and cursors                                                 */
/* ------------------------------------------------------------------ */

typedef struct hdb_sort_key {
  const char *field; /* a column, or a dotted json path */
  int descending;
} hdb_sort_key;

/* Options of hdb_query(). Zero-initialize (HDB_QUERY_INIT) then set fields. */
typedef struct hdb_query_options {
  const char *filter;                /* NULL: every row */
  const hdb_sort_key *sort;          /* ties always end by id ascending */
  size_t n_sort;                     /* nulls sort first ascending, last descending */
  uint64_t limit;                    /* 0: no limit */
  uint64_t offset;                   /* rows to skip */
  const char *const *fields;         /* projection; NULL: every field. The id always comes. */
  size_t n_fields;
  int64_t version; /* time travel (HDB_CAP_TIME_TRAVEL); 0: the latest */
} hdb_query_options;

#define HDB_QUERY_INIT {0}

typedef struct hdb_cursor hdb_cursor;

/*
 * Runs a query; *out is an owned cursor (hdb_cursor_close). Without sort,
 * the order is the backend's own but stable. The cursor sees the data as of
 * the call (a snapshot) on backends with snapshots, else as it streams.
 */
hdb_status hdb_query(hdb *db, const char *table, const hdb_query_options *q, hdb_cursor **out);
/* Rows matching filter (NULL: all). */
hdb_status hdb_count(hdb *db, const char *table, const char *filter, uint64_t *out);

/*
 * Next row: HDB_OK with *record set (borrowed: valid until the next call on
 * the cursor or its close), HDB_DONE at the end, or an error
 * (hdb_cursor_errmsg). A cursor that failed keeps failing.
 */
hdb_status hdb_cursor_next(hdb_cursor *c, const hdb_record **record);
/* Distance of the current row of a search cursor (NaN for other cursors). */
double hdb_cursor_distance(const hdb_cursor *c);
/* Borrowed; valid until the cursor is closed. */
const char *hdb_cursor_errmsg(const hdb_cursor *c);
void hdb_cursor_close(hdb_cursor *c);

/* ------------------------------------------------------------------ */
/* Vector search                                                       */
/* ------------------------------------------------------------------ */

typedef struct hdb_search {
  const char *column;  /* vector column; NULL: the table's only vector column */
  const float *vector; /* query; copied during the call */
  uint32_t dim;        /* must equal the column's dimension */
  int k;               /* results wanted, >= 1 */
  hdb_metric metric;   /* DEFAULT: the column's */
  const char *filter;  /* NULL: every row. k results come back whenever k rows match. */
  const char *const *fields; /* projection; NULL: every field */
  size_t n_fields;
  /* Index parameters; 0: the index's default. Ignored by exact search. */
  int ef;       /* hnsw candidate list size */
  int nprobe;   /* ivf lists probed */
  int refine;   /* re-rank this many times k candidates with full vectors */
  int exact;    /* non-zero: ignore indexes, scan exactly */
  int64_t version; /* time travel; 0: latest */
} hdb_search;

#define HDB_SEARCH_INIT {0}

/*
 * Nearest rows to the query, closest first (ties by id); each row's distance
 * from hdb_cursor_distance() and, in JSON output, as "_distance". Errors:
 * HDB_NO_TABLE, HDB_NO_FIELD (unknown column or not a vector column),
 * HDB_DIMENSION, HDB_NOT_FINITE, HDB_INVALID_ARGUMENT (k <= 0), HDB_BAD_FILTER.
 */
hdb_status hdb_search_vector(hdb *db, const char *table, const hdb_search *s, hdb_cursor **out);

typedef enum hdb_fusion {
  HDB_FUSION_RRF = 0, /* reciprocal rank fusion */
  HDB_FUSION_WEIGHTED /* weighted sum of normalized scores */
} hdb_fusion;

typedef struct hdb_hybrid {
  hdb_search vector;       /* the vector half (its k is the result count) */
  const char *text_column; /* full-text column; NULL: every text column */
  const char *text_query;  /* BM25 query */
  hdb_fusion fusion;
  double vector_weight; /* HDB_FUSION_WEIGHTED: weight of the vector side, 0..1 */
} hdb_hybrid;

/* Vector + full-text + filter, fused (HDB_CAP_HYBRID_SEARCH). */
hdb_status hdb_search_hybrid(hdb *db, const char *table, const hdb_hybrid *h, hdb_cursor **out);

/* ------------------------------------------------------------------ */
/* Indexes                                                             */
/* ------------------------------------------------------------------ */

typedef enum hdb_index_type {
  HDB_INDEX_AUTO = 0, /* choose by the column and table size */
  HDB_INDEX_FLAT,     /* exact vector scan */
  HDB_INDEX_HNSW,
  HDB_INDEX_IVF_PQ,
  HDB_INDEX_SCALAR, /* equality/range on a scalar column */
  HDB_INDEX_FTS     /* full-text on a text column */
} hdb_index_type;

/* "auto", "flat", "hnsw", "ivf_pq", "scalar", "fts". */
const char *hdb_index_type_name(hdb_index_type t);
hdb_status hdb_index_type_from_name(const char *name, hdb_index_type *out);

/*
 * Builds an index on table.column. params is a JSON object of the type's
 * parameters (hnsw: {"m":16,"ef_construction":200}, ivf_pq: {"nlist":256,
 * "m":16}) or NULL for defaults. One index per column. Errors: HDB_NO_TABLE,
 * HDB_NO_FIELD, HDB_EXISTS, HDB_BAD_JSON, HDB_NOT_SUPPORTED (type not
 * available on this backend or for this column type).
 */
hdb_status hdb_index_create(hdb *db, const char *table, const char *column, hdb_index_type type,
                            const char *params);
/* HDB_NO_INDEX when the column has no index. */
hdb_status hdb_index_drop(hdb *db, const char *table, const char *column);
/* Brings the column's index up to date with rows written since it was built
 * (incrementally where the index type allows, else by rebuilding), so they
 * no longer need the exact scan of the unindexed tail. HDB_NO_INDEX when
 * the column has no index. */
hdb_status hdb_index_optimize(hdb *db, const char *table, const char *column);

typedef struct hdb_index_info {
  char *column;
  hdb_index_type type;
  char *params;           /* JSON object of the parameters in force */
  uint64_t rows_indexed;
  uint64_t rows_unindexed; /* written since the last build; searched exactly */
} hdb_index_info;

/* Owned array; free with hdb_index_info_free(infos, count). */
hdb_status hdb_index_list(hdb *db, const char *table, hdb_index_info **infos, size_t *count);
void hdb_index_info_free(hdb_index_info *infos, size_t count);

/* ------------------------------------------------------------------ */
/* Aggregates                                                          */
/* ------------------------------------------------------------------ */

typedef enum hdb_agg_op {
  HDB_AGG_COUNT = 0, /* rows (field NULL) or non-null values of field */
  HDB_AGG_SUM,       /* int for int columns, float otherwise */
  HDB_AGG_AVG,       /* float */
  HDB_AGG_MIN,       /* the column's type */
  HDB_AGG_MAX
} hdb_agg_op;

/* "count", "sum", "avg", "min", "max". */
const char *hdb_agg_op_name(hdb_agg_op op);

typedef struct hdb_agg {
  hdb_agg_op op;
  const char *field;
} hdb_agg;

/*
 * Computes aggregates over the rows matching filter, per value of the column
 * group_by (NULL: one group). The cursor yields one record per group in ascending
 * order of the group value (null first); each has the group_by field and
 * one field per aggregate named "count" (count of rows) or OP_FIELD
 * ("sum_year", "count_year"). Nulls are skipped; an aggregate over no values
 * is null (count: 0). Aggregates apply to bool, int, float and timestamp
 * fields (min/max also to text). The record id is the group value as text
 * ("" for the single group). Errors: HDB_NO_FIELD, HDB_TYPE_MISMATCH.
 */
hdb_status hdb_aggregate(hdb *db, const char *table, const hdb_agg *aggs, size_t n_aggs,
                         const char *group_by, const char *filter, hdb_cursor **out);

/* ------------------------------------------------------------------ */
/* Transactions (HDB_CAP_TRANSACTIONS)                                 */
/* ------------------------------------------------------------------ */

/*
 * One transaction per handle at a time; it covers tables and KV. Inside it
 * the handle reads its own writes; other handles see nothing until commit.
 * hdb_commit may fail with HDB_CONFLICT when another handle committed a
 * conflicting change first; the transaction is then rolled back.
 * HDB_TXN_STATE for begin inside a transaction or commit/rollback outside.
 */
hdb_status hdb_begin(hdb *db);
hdb_status hdb_commit(hdb *db);
hdb_status hdb_rollback(hdb *db);

/* ------------------------------------------------------------------ */
/* Key-value (HDB_CAP_KV)                                              */
/* ------------------------------------------------------------------ */

/*
 * Keys and values are byte strings (keys 1..65535 bytes, values up to
 * 64 MiB). Each key lives in a namespace: a name following the table-name
 * rules, and namespaces nest with '/' ("agent/memory"). NULL or "" is the
 * default namespace. Keys are ordered by bytes (memcmp, shorter first).
 */
hdb_status hdb_kv_put(hdb *db, const char *ns, const void *key, size_t klen, const void *val,
                      size_t vlen);
/* *val is owned (hdb_free) and NUL-terminated beyond vlen for convenience.
 * HDB_NOT_FOUND when absent. */
hdb_status hdb_kv_get(hdb *db, const char *ns, const void *key, size_t klen, void **val,
                      size_t *vlen);
/* HDB_NOT_FOUND when absent. */
hdb_status hdb_kv_delete(hdb *db, const char *ns, const void *key, size_t klen);
/* *found: 1 or 0. */
hdb_status hdb_kv_has(hdb *db, const char *ns, const void *key, size_t klen, int *found);

/* Puts with expiry after ttl_ms milliseconds (HDB_CAP_TTL). */
hdb_status hdb_kv_put_ttl(hdb *db, const char *ns, const void *key, size_t klen, const void *val,
                          size_t vlen, int64_t ttl_ms);

/* An atomic batch: every operation is applied, or none. */
typedef struct hdb_kv_batch hdb_kv_batch;
/* Owned; hdb_kv_batch_free. */
hdb_kv_batch *hdb_kv_batch_new(void);
void hdb_kv_batch_free(hdb_kv_batch *b);
/* Copies its arguments. */
hdb_status hdb_kv_batch_put(hdb_kv_batch *b, const char *ns, const void *key, size_t klen,
                            const void *val, size_t vlen);
hdb_status hdb_kv_batch_delete(hdb_kv_batch *b, const char *ns, const void *key, size_t klen);
size_t hdb_kv_batch_count(const hdb_kv_batch *b);
void hdb_kv_batch_clear(hdb_kv_batch *b);
/* Applies the batch atomically; operations apply in order. The batch is unchanged. */
hdb_status hdb_kv_write(hdb *db, const hdb_kv_batch *b);

typedef struct hdb_kv_range {
  const void *prefix; /* only keys starting with prefix (NULL: all) */
  size_t prefix_len;
  const void *start; /* first key >= start (NULL: from the beginning) */
  size_t start_len;
  const void *end; /* keys < end (NULL: to the end) */
  size_t end_len;
  int reverse; /* descending order */
} hdb_kv_range;

typedef struct hdb_kv_iter hdb_kv_iter;

/* An ordered iterator over one namespace (range may be NULL: everything).
 * It sees one consistent snapshot taken at this call. Owned; hdb_kv_iter_free. */
hdb_status hdb_kv_iter_open(hdb *db, const char *ns, const hdb_kv_range *range, hdb_kv_iter **out);
/* HDB_OK with borrowed key and value (valid until the next call on the
 * iterator), HDB_DONE at the end. */
hdb_status hdb_kv_iter_next(hdb_kv_iter *it, const void **key, size_t *klen, const void **val,
                            size_t *vlen);
/* Positions so that the next call returns the first key >= key (<= key when
 * reverse), within the range. */
hdb_status hdb_kv_iter_seek(hdb_kv_iter *it, const void *key, size_t klen);
const char *hdb_kv_iter_errmsg(const hdb_kv_iter *it);
void hdb_kv_iter_free(hdb_kv_iter *it);

/* ------------------------------------------------------------------ */
/* Declared for later backends (each returns HDB_NOT_SUPPORTED where   */
/* its capability is off)                                              */
/* ------------------------------------------------------------------ */

/* Publish/subscribe (HDB_CAP_PUBSUB). */
typedef void (*hdb_message_fn)(const char *channel, const void *msg, size_t len, void *user);
hdb_status hdb_publish(hdb *db, const char *channel, const void *msg, size_t len);
/* Delivers messages to fn on a library thread until hdb_unsubscribe. */
hdb_status hdb_subscribe(hdb *db, const char *channel, hdb_message_fn fn, void *user);
hdb_status hdb_unsubscribe(hdb *db, const char *channel);

/* Versions and time travel (HDB_CAP_TIME_TRAVEL). */
typedef struct hdb_version_info {
  int64_t version;
  int64_t timestamp_us;
  char *tag; /* NULL when untagged */
} hdb_version_info;
/* Owned array; hdb_version_info_free. */
hdb_status hdb_table_versions(hdb *db, const char *table, hdb_version_info **out, size_t *count);
void hdb_version_info_free(hdb_version_info *v, size_t count);
hdb_status hdb_table_restore(hdb *db, const char *table, int64_t version);

/* Statistics (HDB_CAP_STATS): a JSON object, owned (hdb_free). */
hdb_status hdb_stats(hdb *db, const char *table, char **json);

/* Maintenance (backends that own their storage; HDB_NOT_SUPPORTED elsewhere). */

/* Compacts one table (NULL: every table and the KV store): rewrites data to
 * drop deleted and overwritten rows and merge small files, then removes
 * versions that the retention policy no longer keeps. */
hdb_status hdb_compact(hdb *db, const char *table);
/* Verifies every file and checksum. *report (owned, hdb_free) is a JSON
 * object summarizing what was checked; the status is HDB_CORRUPT when a
 * problem was found, and the report and hdb_errmsg name the file. */
hdb_status hdb_check(hdb *db, char **report);

#if defined(__GNUC__) && defined(HDB_BUILDING_LIBRARY)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* HANZODB_H */
