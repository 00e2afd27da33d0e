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
/* HDB_OK, or HDB_NOMEM (with err filled) when an append failed. */
hdb_status hdb__sql_buf_status(const hdb__sql_buf *b, hdb_error *err);
void hdb__sql_buf_free(hdb__sql_buf *b);

/* Parameters to bind, in placeholder order. Values are borrowed from the
 * filter tree or the records they came from (no copies). */
typedef struct hdb__sql_params {
  const hdb_value **v;
  size_t n, cap;
  int oom;
} hdb__sql_params;

/* Appends the placeholder for the next parameter ("?" or "$N") and records v. */
void hdb__sql_param(hdb__sql_buf *b, hdb__sql_params *p, hdb__sql_dialect d, const hdb_value *v);
void hdb__sql_params_free(hdb__sql_params *p);

/* SQL type of a column in a dialect (static string). */
const char *hdb__sql_column_type(hdb__sql_dialect d, hdb_type type, uint32_t dim);

/*
 * Appends a boolean SQL expression equivalent to `e` (already bound against
 * schema s, which may be NULL for schemaless tables stored as one json
 * document column named by doc_column). HDB_NOT_SUPPORTED when some node
 * cannot be translated exactly in this dialect (the caller then filters with
 * hdb__filter_match); HDB_NOMEM.
 */
hdb_status hdb__sql_where(const hdb__expr *e, const hdb_schema *s, const char *doc_column,
                          hdb__sql_dialect d, hdb__sql_buf *out, hdb__sql_params *params,
                          hdb_error *err);

#endif
