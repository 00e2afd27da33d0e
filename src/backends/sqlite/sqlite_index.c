/*
 * sqlite_index.c - indexes of the sqlite:// backend.
 *
 *   scalar  CREATE INDEX "hx_<table>_<column>" ON "<table>"("<column>"):
 *           SQLite's planner uses it for pushed-down filters and sorts
 *   flat    vector columns: metadata only; search is always an exact scan
 *   auto    flat on a vector column, scalar otherwise (blob: not supported)
 *   hnsw, ivf_pq, fts  HDB_NOT_SUPPORTED
 *
 * Every index is listed in _hanzo_indexes (params as compact JSON, "{}"
 * by default), in creation order (rowid). Checks run in the memory
 * backend's order: table, column, type, column type, existing index,
 * params.
 */
#include <string.h>

#include "sqlite.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"

static hdb_status resolve_type(const hdb__sq_table *t, const hdb__column *col, hdb_index_type type,
                               hdb_index_type *out, hdb_error *err) {
  int is_vec = col->type == HDB_TYPE_VECTOR;
  switch (type) {
  case HDB_INDEX_AUTO:
    if (col->type == HDB_TYPE_BLOB)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "column '%s' of table '%s' is blob; the sqlite backend has no index for blob columns",
                       col->name, t->name);
    *out = is_vec ? HDB_INDEX_FLAT : HDB_INDEX_SCALAR;
    return HDB_OK;
  case HDB_INDEX_FLAT:
    if (!is_vec)
      return hdb__fail(err, HDB_NOT_SUPPORTED, "a flat index needs a vector column; column '%s' of table '%s' is %s",
                       col->name, t->name, hdb_type_name(col->type));
    *out = type;
    return HDB_OK;
  case HDB_INDEX_SCALAR:
    if (is_vec || col->type == HDB_TYPE_BLOB)
      return hdb__fail(err, HDB_NOT_SUPPORTED, "a scalar index cannot cover %s column '%s' of table '%s'",
                       hdb_type_name(col->type), col->name, t->name);
    *out = type;
    return HDB_OK;
  case HDB_INDEX_HNSW:
  case HDB_INDEX_IVF_PQ:
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "the sqlite backend has no %s index (column '%s' of table '%s'); its search is "
                     "exact. Approximate vector indexes come with the native engine: use native://",
                     hdb_index_type_name(type), col->name, t->name);
  case HDB_INDEX_FTS:
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "the sqlite backend has no full-text index (column '%s' of table '%s')", col->name, t->name);
  }
  return hdb__fail(err, HDB_INVALID_ARGUMENT, "unknown index type %d for column '%s' of table '%s'", (int)type,
                   col->name, t->name);
}

/* The index's type name in the catalog, or NULL (err filled) / no row. */
static hdb_status find_index(hdb__sq_conn *c, const char *table, const char *column, char **type,
                             hdb_error *err) {
  *type = NULL;
  sqlite3_stmt *st;
  hdb_status s = hdb__sq_prepare(c, "SELECT type FROM _hanzo_indexes WHERE tbl = ? AND col = ?", &st, err);
  if (s != HDB_OK) return s;
  sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *type = hdb__strdup((const char *)sqlite3_column_text(st, 0));
    if (!*type) s = hdb__fail(err, HDB_NOMEM, "out of memory reading indexes");
  } else if (rc != SQLITE_DONE) {
    s = hdb__sq_fail(c, rc, err, "reading the indexes of '%s'", table);
  }
  hdb__sq_done(c, st);
  return s;
}

/* "hx:<table>:<column>" with both names mapped as hdb__sql_buf_name does:
 * ':' never occurs in names, so distinct (table, column) pairs never meet. */
static void sql_index_name(hdb__sql_buf *b, const char *table, const char *column) {
  hdb__sql_buf t = {0};
  hdb__sql_buf_name(&t, HDB__SQL_SQLITE, table);
  hdb__sql_buf_name(&t, HDB__SQL_SQLITE, column);
  if (t.oom) {
    b->oom = 1;
    return;
  }
  /* t.s is "table""column": drop the quotes and join with ':'. */
  size_t tl = strlen(t.s);
  char *mid = strstr(t.s + 1, "\"\"");
  hdb__sql_buf_append(b, "\"hx:");
  hdb__sql_buf_appendf(b, "%.*s:%.*s\"", (int)(mid - t.s - 1), t.s + 1, (int)(t.s + tl - mid - 3), mid + 2);
  hdb__sql_buf_free(&t);
}

hdb_status hdb__sq_index_create(void *conn, const char *table, const char *column, hdb_index_type type,
                                const char *params, hdb_error *err) {
  hdb__sq_conn *c = conn;
  const hdb__sq_table *t;
  hdb_status s = hdb__sq_table_get(c, table, &t, err);
  if (s != HDB_OK) return s;
  const hdb__column *col = t->schema ? hdb__schema_column(t->schema, column) : NULL;
  if (!col) {
    if (t->schema) return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s'", table, column);
    return hdb__fail(err, HDB_NO_FIELD, "table '%s' is schemaless and has no column '%s'; indexes need a column",
                     table, column);
  }
  hdb_index_type resolved = HDB_INDEX_AUTO;
  s = resolve_type(t, col, type, &resolved, err);
  if (s != HDB_OK) return s;
  char *ptext = NULL, *existing = NULL;
  hdb__sql_buf b = {0};
  s = hdb__sq_write_begin(c, err);
  if (s != HDB_OK) return s;
  s = find_index(c, table, column, &existing, err);
  if (s == HDB_OK && existing)
    s = hdb__fail(err, HDB_EXISTS, "column '%s' of table '%s' already has a %s index", column, table, existing);
  if (s != HDB_OK) goto done;
  if (!params) {
    ptext = hdb__strdup("{}");
    if (!ptext) s = hdb__fail(err, HDB_NOMEM, "out of memory creating an index");
  } else {
    s = hdb__json_normalize(params, strlen(params), &ptext, NULL, err);
    if (s != HDB_OK && err) hdb__err_prefix(err, "index params for column '%s' of table '%s'", column, table);
    if (s == HDB_OK && ptext[0] != '{')
      s = hdb__fail(err, HDB_BAD_JSON, "index params for column '%s' of table '%s' must be a JSON object",
                    column, table);
  }
  if (s != HDB_OK) goto done;
  if (resolved == HDB_INDEX_SCALAR) {
    hdb__sql_buf_append(&b, "CREATE INDEX ");
    sql_index_name(&b, table, column);
    hdb__sql_buf_append(&b, " ON ");
    hdb__sql_buf_name(&b, HDB__SQL_SQLITE, table);
    hdb__sql_buf_append(&b, "(");
    hdb__sql_buf_name(&b, HDB__SQL_SQLITE, column);
    hdb__sql_buf_append(&b, ")");
    s = hdb__sql_buf_status(&b, err);
    if (s == HDB_OK) s = hdb__sq_exec(c, b.s, err);
    if (s != HDB_OK) goto done;
  }
  sqlite3_stmt *st;
  s = hdb__sq_prepare(c, "INSERT INTO _hanzo_indexes(tbl, col, type, params) VALUES(?, ?, ?, ?)", &st, err);
  if (s != HDB_OK) goto done;
  sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, hdb_index_type_name(resolved), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, ptext, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) s = hdb__sq_fail(c, rc, err, "recording the index on '%s'.'%s'", table, column);
  hdb__sq_done(c, st);
done:
  hdb__free_mem(existing);
  hdb__free_mem(ptext);
  hdb__sql_buf_free(&b);
  return hdb__sq_write_end(c, s, err);
}

hdb_status hdb__sq_index_drop(void *conn, const char *table, const char *column, hdb_error *err) {
  hdb__sq_conn *c = conn;
  const hdb__sq_table *t;
  hdb_status s = hdb__sq_table_get(c, table, &t, err);
  if (s != HDB_OK) return s;
  char *existing = NULL;
  hdb__sql_buf b = {0};
  s = hdb__sq_write_begin(c, err);
  if (s != HDB_OK) return s;
  s = find_index(c, table, column, &existing, err);
  if (s == HDB_OK && !existing)
    s = hdb__fail(err, HDB_NO_INDEX, "column '%s' of table '%s' has no index", column, table);
  if (s != HDB_OK) goto done;
  if (strcmp(existing, "scalar") == 0) {
    hdb__sql_buf_append(&b, "DROP INDEX IF EXISTS ");
    sql_index_name(&b, table, column);
    s = hdb__sql_buf_status(&b, err);
    if (s == HDB_OK) s = hdb__sq_exec(c, b.s, err);
    if (s != HDB_OK) goto done;
  }
  sqlite3_stmt *st;
  s = hdb__sq_prepare(c, "DELETE FROM _hanzo_indexes WHERE tbl = ? AND col = ?", &st, err);
  if (s != HDB_OK) goto done;
  sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) s = hdb__sq_fail(c, rc, err, "dropping the index on '%s'.'%s'", table, column);
  hdb__sq_done(c, st);
done:
  hdb__free_mem(existing);
  hdb__sql_buf_free(&b);
  return hdb__sq_write_end(c, s, err);
}

hdb_status hdb__sq_index_list(void *conn, const char *table, hdb_index_info **infos, size_t *count,
                              hdb_error *err) {
  hdb__sq_conn *c = conn;
  *infos = NULL;
  *count = 0;
  const hdb__sq_table *t;
  hdb_status s = hdb__sq_table_get(c, table, &t, err);
  if (s != HDB_OK) return s;
  uint64_t rows = 0;
  hdb__sql_buf b = {0};
  hdb__sql_buf_append(&b, "SELECT count(*) FROM ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, table);
  s = hdb__sql_buf_status(&b, err);
  sqlite3_stmt *st = NULL;
  if (s == HDB_OK) s = hdb__sq_prepare(c, b.s, &st, err);
  if (s == HDB_OK) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) rows = (uint64_t)sqlite3_column_int64(st, 0);
    else s = hdb__sq_fail(c, rc, err, "counting rows of '%s'", table);
  }
  hdb__sq_done(c, st);
  hdb__sql_buf_free(&b);
  if (s != HDB_OK) return s;
  s = hdb__sq_prepare(c, "SELECT col, type, params FROM _hanzo_indexes WHERE tbl = ? ORDER BY rowid", &st, err);
  if (s != HDB_OK) return s;
  sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
  hdb_index_info *out = NULL;
  size_t n = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    hdb_index_info *p = hdb__realloc(out, (n + 1) * sizeof *p);
    if (!p) goto nomem;
    out = p;
    memset(&out[n], 0, sizeof out[n]);
    n++;
    out[n - 1].column = hdb__strdup((const char *)sqlite3_column_text(st, 0));
    out[n - 1].params = hdb__strdup((const char *)sqlite3_column_text(st, 2));
    if (!out[n - 1].column || !out[n - 1].params ||
        hdb_index_type_from_name((const char *)sqlite3_column_text(st, 1), &out[n - 1].type) != HDB_OK)
      goto nomem;
    out[n - 1].rows_indexed = rows;
  }
  hdb__sq_done(c, st);
  if (rc != SQLITE_DONE) {
    hdb_index_info_free(out, n);
    return hdb__sq_fail(c, rc, err, "listing the indexes of '%s'", table);
  }
  *infos = out;
  *count = n;
  return HDB_OK;
nomem:
  hdb__sq_done(c, st);
  hdb_index_info_free(out, n);
  return hdb__fail(err, HDB_NOMEM, "out of memory listing the indexes of table '%s'", table);
}
