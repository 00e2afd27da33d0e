/*
 * memory_index.c - index metadata for the memory backend.
 *
 * The memory backend searches exactly and scans for filters, so an index
 * here is a record of intent: it is listed by hdb_index_list (rows_indexed
 * = the table's rows, rows_unindexed 0, params as given re-serialized or
 * "{}") and it follows the table through copy-on-write, transactions and
 * drop. Types:
 *   flat    vector columns (AUTO on a vector column means flat)
 *   scalar  any column but vector and blob (AUTO on those means scalar)
 *   hnsw, ivf_pq  HDB_NOT_SUPPORTED: approximate indexes live in native://
 *   fts     HDB_NOT_SUPPORTED: no full-text search here
 * Checks run in this order: table, column, type, column type, existing
 * index, params.
 */
#include <string.h>

#include "memory.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/schema.h"

static long index_find(const hdb__mem_table *t, const char *column) {
  for (size_t i = 0; i < t->n_indexes; i++)
    if (strcmp(t->indexes[i].column, column) == 0) return (long)i;
  return -1;
}

static const char *type_name(hdb_index_type type) {
  switch (type) {
  case HDB_INDEX_AUTO: return "auto";
  case HDB_INDEX_FLAT: return "flat";
  case HDB_INDEX_HNSW: return "hnsw";
  case HDB_INDEX_IVF_PQ: return "ivf_pq";
  case HDB_INDEX_SCALAR: return "scalar";
  case HDB_INDEX_FTS: return "fts";
  }
  return "unknown";
}

/* Resolves AUTO and checks the type against the column. */
static hdb_status resolve_type(const hdb__mem_table *t, const hdb__column *col,
                               hdb_index_type type, hdb_index_type *out, hdb_error *err) {
  int is_vec = col->type == HDB_TYPE_VECTOR;
  switch (type) {
  case HDB_INDEX_AUTO:
    if (col->type == HDB_TYPE_BLOB)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "column '%s' of table '%s' is blob; the memory backend has no index "
                       "for blob columns",
                       col->name, t->name);
    *out = is_vec ? HDB_INDEX_FLAT : HDB_INDEX_SCALAR;
    return HDB_OK;
  case HDB_INDEX_FLAT:
    if (!is_vec)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "a flat index needs a vector column; column '%s' of table '%s' is %s",
                       col->name, t->name, hdb_type_name(col->type));
    *out = type;
    return HDB_OK;
  case HDB_INDEX_SCALAR:
    if (is_vec || col->type == HDB_TYPE_BLOB)
      return hdb__fail(err, HDB_NOT_SUPPORTED,
                       "a scalar index cannot cover %s column '%s' of table '%s'",
                       hdb_type_name(col->type), col->name, t->name);
    *out = type;
    return HDB_OK;
  case HDB_INDEX_HNSW:
  case HDB_INDEX_IVF_PQ:
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "the memory backend has no %s index (column '%s' of table '%s'); its "
                     "search is exact. Approximate vector indexes come with the native engine: "
                     "use native://",
                     type_name(type), col->name, t->name);
  case HDB_INDEX_FTS:
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "the memory backend has no full-text index (column '%s' of table '%s')",
                     col->name, t->name);
  }
  return hdb__fail(err, HDB_INVALID_ARGUMENT, "unknown index type %d for column '%s' of table '%s'",
                   (int)type, col->name, t->name);
}

/* params (NULL: "{}") as compact JSON text; owned. */
static hdb_status params_text(const hdb__mem_table *t, const char *column, const char *params,
                              char **out, hdb_error *err) {
  *out = NULL;
  if (!params) {
    *out = hdb__strdup("{}");
    return *out ? HDB_OK : hdb__fail(err, HDB_NOMEM, "out of memory creating an index");
  }
  hdb_status rc = hdb__json_normalize(params, strlen(params), out, NULL, err);
  if (rc != HDB_OK) {
    if (err) hdb__err_prefix(err, "index params for column '%s' of table '%s'", column, t->name);
    return rc;
  }
  if ((*out)[0] != '{') {
    hdb__free_mem(*out);
    *out = NULL;
    return hdb__fail(err, HDB_BAD_JSON,
                     "index params for column '%s' of table '%s' must be a JSON object",
                     column, t->name);
  }
  return HDB_OK;
}

hdb_status hdb__mem_index_create(void *conn, const char *table, const char *column,
                                 hdb_index_type type, const char *params, hdb_error *err) {
  hdb__mem_conn *c = conn;
  hdb__mem_state *st;
  hdb_status rc = hdb__mem_write_begin(c, &st, err);
  if (rc != HDB_OK) return rc;
  hdb__mem_table *t;
  char *ptext = NULL, *col_copy = NULL;
  int changed = 0;
  rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  const hdb__column *col = t->schema ? hdb__schema_column(t->schema, column) : NULL;
  if (!col) {
    if (t->schema)
      rc = hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s'", table, column);
    else
      rc = hdb__fail(err, HDB_NO_FIELD,
                     "table '%s' is schemaless and has no column '%s'; indexes need a column",
                     table, column);
    goto done;
  }
  hdb_index_type resolved = HDB_INDEX_AUTO;
  rc = resolve_type(t, col, type, &resolved, err);
  if (rc != HDB_OK) goto done;
  long existing = index_find(t, column);
  if (existing >= 0) {
    rc = hdb__fail(err, HDB_EXISTS, "column '%s' of table '%s' already has a %s index", column,
                   table, type_name(t->indexes[existing].type));
    goto done;
  }
  rc = params_text(t, column, params, &ptext, err);
  if (rc != HDB_OK) goto done;
  col_copy = hdb__strdup(column);
  if (!col_copy) goto nomem;
  rc = hdb__mem_table_writable(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  hdb__mem_index *ix = hdb__realloc(t->indexes, (t->n_indexes + 1) * sizeof *ix);
  if (!ix) goto nomem;
  t->indexes = ix;
  ix[t->n_indexes].column = col_copy;
  ix[t->n_indexes].type = resolved;
  ix[t->n_indexes].params = ptext;
  t->n_indexes++;
  col_copy = ptext = NULL;
  changed = 1;
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory indexing column '%s' of table '%s'", column, table);
done:
  hdb__free_mem(ptext);
  hdb__free_mem(col_copy);
  hdb__mem_write_end(c, changed);
  return rc;
}

hdb_status hdb__mem_index_drop(void *conn, const char *table, const char *column,
                               hdb_error *err) {
  hdb__mem_conn *c = conn;
  hdb__mem_state *st;
  hdb_status rc = hdb__mem_write_begin(c, &st, err);
  if (rc != HDB_OK) return rc;
  hdb__mem_table *t;
  int changed = 0;
  rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  if (index_find(t, column) < 0) {
    rc = hdb__fail(err, HDB_NO_INDEX, "column '%s' of table '%s' has no index", column, table);
    goto done;
  }
  rc = hdb__mem_table_writable(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  size_t i = (size_t)index_find(t, column);
  hdb__free_mem(t->indexes[i].column);
  hdb__free_mem(t->indexes[i].params);
  memmove(t->indexes + i, t->indexes + i + 1, (t->n_indexes - i - 1) * sizeof *t->indexes);
  t->n_indexes--;
  changed = 1;
done:
  hdb__mem_write_end(c, changed);
  return rc;
}

hdb_status hdb__mem_index_list(void *conn, const char *table, hdb_index_info **infos,
                               size_t *count, hdb_error *err) {
  hdb__mem_conn *c = conn;
  hdb__mem_state *st = hdb__mem_read_begin(c);
  hdb__mem_table *t;
  hdb_index_info *out = NULL;
  *infos = NULL;
  *count = 0;
  hdb_status rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc != HDB_OK || t->n_indexes == 0) goto done;
  out = hdb__calloc(t->n_indexes, sizeof *out);
  if (!out) goto nomem;
  for (size_t i = 0; i < t->n_indexes; i++) {
    out[i].column = hdb__strdup(t->indexes[i].column);
    out[i].params = hdb__strdup(t->indexes[i].params);
    out[i].type = t->indexes[i].type;
    out[i].rows_indexed = t->n_rows;
    out[i].rows_unindexed = 0;
    if (!out[i].column || !out[i].params) {
      hdb_index_info_free(out, i + 1);
      out = NULL;
      goto nomem;
    }
  }
  *infos = out;
  *count = t->n_indexes;
  goto done;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory listing the indexes of table '%s'", table);
done:
  hdb__mem_read_end(c);
  return rc;
}
