/*
 * sql.h - what the SQL backends (sqlite, postgresql, duckdb) share: a string
 * builder, bound parameters, identifier quoting, column type mapping, and
 * the translation of a filter tree into a parameterized WHERE clause.
 *
 * Values never go into SQL text: every literal becomes a placeholder ("?"
 * for SQLite and DuckDB, "$N" for PostgreSQL) with the value appended to an
 * hdb__sql_params list that the backend binds. Identifiers are always
 * double-quoted, with '"' doubled.
 *
 * Translation must give exactly the answer core's evaluator gives
 * (hdb__filter_match, see filter.h and hanzodb.h): SQL's three-valued
 * logic, case-sensitive LIKE with '\' escapes and '_' = one character,
 * text compared by bytes, ints and floats compared by value, json paths
 * that look inside objects only, EXISTS on a column = IS NOT NULL and on a
 * json path = key present. Where a dialect cannot express a node exactly,
 * hdb__sql_where returns HDB_NOT_SUPPORTED and the backend evaluates the
 * whole filter with core's evaluator on streamed rows instead: never a
 * silently different answer.
 */
#ifndef HDB_BACKENDS_SQL_H
#define HDB_BACKENDS_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "core/filter.h"
#include "hanzodb.h"

typedef enum hdb__sql_dialect {
  HDB__SQL_SQLITE,
  HDB__SQL_POSTGRES,
  HDB__SQL_DUCKDB
} hdb__sql_dialect;

/* A growable NUL-terminated string; `oom` is sticky so callers append
 * freely and check once (hdb__sql_buf_status). */
typedef struct hdb__sql_buf {
  char *s;
  size_t len, cap;
  int oom;
} hdb__sql_buf;

void hdb__sql_buf_append(hdb__sql_buf *b, const char *text);
void hdb__sql_buf_appendf(hdb__sql_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends "name" quoted as an identifier. */
void hdb__sql_buf_ident(hdb__sql_buf *b, const char *name);
/* Appends the quoted SQL identifier of a hanzo-db table or column name.
 * hanzo-db names are case-sensitive; SQLite's and DuckDB's identifiers
 * are not, even quoted, so there every upper-case letter X is written as
 * '^' and its lower-case form ("cf_tB" -> "cf_t^b"): names never hold '^',
 * so the mapping is one-to-one and names in lower case stay as they are.
 * Postgres' quoted identifiers are case-sensitive: the name as it is. */
void hdb__sql_buf_name(hdb__sql_buf *b, hdb__sql_dialect d, const char *name);
/* HDB_OK, or HDB_NOMEM (with err filled) when an append failed. */
hdb_status hdb__sql_buf_status(const hdb__sql_buf *b, hdb_error *err);
void hdb__sql_buf_free(hdb__sql_buf *b);

/* Parameters to bind, in placeholder order. Values are borrowed from the
 * filter tree or the records they came from (no copies), except those the
 * translator makes itself (json path strings, LIKE patterns rewritten for
 * the dialect, timestamp literals as int microseconds): those live in
 * `owned` and are freed by hdb__sql_params_free. Zero-initialize
 * ({0}) before first use. Parameter types a backend must bind: null,
 * bool, int, float, text, and (from records) blob, timestamp (int
 * microseconds), json (text) and vector (hdb__sql_vector_blob). */
typedef struct hdb__sql_params {
  const hdb_value **v;
  size_t n, cap;
  int oom;
  hdb_value **owned; /* owned values (and their text) that v[] points to */
  size_t n_owned, cap_owned;
} hdb__sql_params;

/* Appends the placeholder for the next parameter ("?" or "$N") and records v. */
void hdb__sql_param(hdb__sql_buf *b, hdb__sql_params *p, hdb__sql_dialect d, const hdb_value *v);
/* Like hdb__sql_param with a value the params own: an int, or a copy of
 * text s[0..len). */
void hdb__sql_param_int(hdb__sql_buf *b, hdb__sql_params *p, hdb__sql_dialect d, int64_t v);
void hdb__sql_param_textn(hdb__sql_buf *b, hdb__sql_params *p, hdb__sql_dialect d, const char *s,
                          size_t len);
/* HDB_OK, or HDB_NOMEM (with err filled) when recording a parameter failed. */
hdb_status hdb__sql_params_status(const hdb__sql_params *p, hdb_error *err);
void hdb__sql_params_free(hdb__sql_params *p);

/*
 * SQL type of a column in a dialect (static string):
 *                sqlite    postgres                duckdb
 *   bool         INTEGER   BOOLEAN                 BOOLEAN
 *   int          INTEGER   BIGINT                  BIGINT
 *   float        REAL      DOUBLE PRECISION        DOUBLE
 *   text         TEXT      TEXT COLLATE "C"        VARCHAR
 *   blob         BLOB      BYTEA                   BLOB
 *   timestamp    INTEGER   BIGINT                  BIGINT      (microseconds: exact)
 *   json         TEXT      JSON                    JSON        (text kept as written)
 *   vector       BLOB      BYTEA                   FLOAT[] (FLOAT[dim] from _buf)
 * Vectors in BLOB/BYTEA are dim little-endian float32 values
 * (hdb__sql_vector_blob). Text compares by bytes in every dialect
 * (SQLite's BINARY, Postgres' "C" collation, DuckDB's default).
 * Postgres json columns are JSON, not JSONB, so a document reads back
 * byte for byte as written (JSONB reorders keys and adds spaces).
 */
const char *hdb__sql_column_type(hdb__sql_dialect d, hdb_type type, uint32_t dim);
/* Same, written into buf (cap >= 32); gives DuckDB's FLOAT[dim] for
 * vectors. Returns buf. */
const char *hdb__sql_column_type_buf(hdb__sql_dialect d, hdb_type type, uint32_t dim, char *buf,
                                     size_t cap);
/* A vector as the little-endian float32 bytes stored in BLOB/BYTEA columns:
 * on little-endian hosts it returns v itself (no copy, *owned NULL); on
 * big-endian hosts a byte-swapped copy that the caller frees with
 * hdb__free_mem(*owned). NULL only when out of memory. */
const void *hdb__sql_vector_blob(const float *v, uint32_t dim, void **owned);
/* Reads dim little-endian float32 values from bytes p (any alignment) into
 * out (dim floats). */
void hdb__sql_vector_read(const void *p, uint32_t dim, float *out);
/* 1 when rec already is what hdb__schema_conform(s, .., rec, 1, ..) would
 * make of it, and would succeed: a valid id, every field a column of s
 * holding exactly the column's type (null allowed), vectors of the
 * column's dimension and finite. Then a write may bind rec as it is
 * instead of conforming a clone. When vals is not NULL (s->n entries) it
 * receives each column's value in rec, or NULL when rec lacks it or holds
 * null (borrowed from rec; meaningful only when 1 is returned). 0 for a
 * schemaless table (s NULL): the caller takes the general path. */
int hdb__sql_record_conforms(const hdb_schema *s, const hdb_record *rec, const hdb_value **vals);

/*
 * Schemaless tables keep each record's fields in one JSON object column,
 * the document, so that filters reach fields with the dialect's JSON
 * functions. Values JSON has are written as JSON: null, bool, int, float
 * (always with '.' or an exponent), text, and blob as {"$base64":".."}.
 * The others are wrapped in a one-member object so they read back exactly:
 *   timestamp {"$ts":MICROSECONDS}  vector {"$vector":[..]}  json {"$json":VALUE}
 * hdb__sql_where relies on this encoding for schemaless tables: a
 * dotted path f.a.b looks at $.f."$json".a.b, and a timestamp compares
 * through $.f."$ts".
 */
/* *out owned (hdb__free_mem), NUL-terminated; the id is not included. HDB_NOMEM. */
hdb_status hdb__sql_doc_encode(const hdb_record *r, char **out, size_t *len);
/* The record with this id and the document's fields, types restored.
 * *out owned (hdb_record_free). HDB_CORRUPT when the text is not an
 * object of valid fields, HDB_NOMEM. */
hdb_status hdb__sql_doc_decode(const char *id, const char *doc, size_t len, hdb_record **out,
                               hdb_error *err);

/*
 * Appends a boolean SQL expression equivalent to `e` (already bound against
 * schema s, which may be NULL for schemaless tables stored as one json
 * document column named by doc_column). HDB_NOT_SUPPORTED when some node
 * cannot be translated exactly in this dialect (the caller then filters with
 * hdb__filter_match); HDB_NOMEM.
 *
 * What the expression assumes of the table (sql_filter.c has the
 * details): columns named as hdb__sql_buf_name writes them and typed as
 * hdb__sql_column_type says; schemaless documents as hdb__sql_doc_encode
 * writes them; the id in a column "id". Postgres placeholders carry casts
 * (::bigint, ::float8, ::numeric, ::text, ::boolean), so every parameter
 * may be bound as text; SQLite and DuckDB placeholders are bare "?" whose
 * values are null, bool, int, float or text (a bool binds as 0/1 in
 * SQLite). The expression is fully parenthesized and may be ANDed with
 * other conditions.
 */
hdb_status hdb__sql_where(const hdb__expr *e, const hdb_schema *s, const char *doc_column,
                          hdb__sql_dialect d, hdb__sql_buf *out, hdb__sql_params *params,
                          hdb_error *err);

#endif
