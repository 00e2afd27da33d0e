/*
 * memory_query.c - hdb_query and hdb_count over the memory backend.
 *
 * A query is a scan in insertion order with hdb__filter_match, then (when
 * sorted) hdb__sort_records over borrowed row pointers, then the
 * offset/limit window is projected into CLONES that the rows cursor owns:
 * the cursor is a snapshot and never touches the store after the call.
 * Only the rows inside the window are copied.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "memory.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/schema.h"

hdb_status hdb__mem_check_field(const hdb__mem_table *t, const char *field, unsigned accept,
                                const char *what, hdb_error *err) {
  if (!field || !*field)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s': %s has no field name", t->name, what);
  if (strcmp(field, "id") == 0) {
    if (accept & HDB__MEM_FIELD_ID) return HDB_OK;
    return hdb__fail(err, HDB_NO_FIELD, "table '%s': %s: the record id is not a column", t->name,
                     what);
  }
  int allow_path = (accept & HDB__MEM_FIELD_PATH) != 0;
  if (!t->schema) return HDB_OK; /* schemaless: any field, absent ones are null */
  if (hdb__schema_column(t->schema, field)) return HDB_OK;
  const char *dot = strchr(field, '.');
  if (dot && allow_path) {
    size_t len = (size_t)(dot - field);
    char head[HDB_MAX_NAME_LEN + 1];
    if (len == 0 || len > HDB_MAX_NAME_LEN)
      return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%.*s' (%s '%s')", t->name,
                       (int)len, field, what, field);
    memcpy(head, field, len);
    head[len] = 0;
    const hdb__column *col = hdb__schema_column(t->schema, head);
    if (!col)
      return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (%s '%s')", t->name,
                       head, what, field);
    if (col->type != HDB_TYPE_JSON)
      return hdb__fail(err, HDB_NO_FIELD,
                       "table '%s': %s '%s' is a path into column '%s', which is %s; dotted "
                       "paths reach only into json columns",
                       t->name, what, field, head, hdb_type_name(col->type));
    return HDB_OK;
  }
  return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (%s)", t->name, field, what);
}

/* Checks projection fields against a strict table. */
static hdb_status check_projection(const hdb__mem_table *t, const char *const *fields, size_t n,
                                   hdb_error *err) {
  char what[48];
  for (size_t i = 0; fields && i < n; i++) {
    snprintf(what, sizeof what, "projected field %zu", i);
    hdb_status rc = hdb__mem_check_field(t, fields[i], HDB__MEM_FIELD_ID, what, err);
    if (rc != HDB_OK) return rc;
  }
  return HDB_OK;
}

hdb_status hdb__mem_query(void *conn, const char *table, const hdb__query *q, hdb_cursor **out,
                          hdb_error *err) {
  hdb__mem_conn *c = conn;
  *out = NULL;
  if (q->version != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED, "memory backend has no time travel (table '%s', version %lld)",
                     table, (long long)q->version);
  hdb__mem_state *st = hdb__mem_read_begin(c);
  hdb__mem_table *t;
  hdb_record **recs = NULL;
  hdb__rowbuf buf = {0};
  size_t m = 0;
  hdb_status rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  if (q->filter) {
    rc = hdb__filter_bind(q->filter, t->schema, table, err);
    if (rc != HDB_OK) goto done;
  }
  for (size_t i = 0; i < q->n_sort; i++) {
    char what[32];
    snprintf(what, sizeof what, "sort key %zu", i);
    rc = hdb__mem_check_field(t, q->sort[i].field, HDB__MEM_FIELD_PATH | HDB__MEM_FIELD_ID, what, err);
    if (rc != HDB_OK) goto done;
  }
  rc = check_projection(t, q->fields, q->n_fields, err);
  if (rc != HDB_OK) goto done;

  if (t->n_rows) {
    recs = hdb__malloc(t->n_rows * sizeof *recs);
    if (!recs) goto nomem;
  }
  for (size_t i = 0; i < t->n_slots; i++) {
    const hdb__mem_row *row = t->slots[i];
    if (row && (!q->filter || hdb__filter_match(q->filter, row->rec))) recs[m++] = row->rec;
  }
  /* Without sort keys the order is insertion order, which is stable. */
  if (q->n_sort) hdb__sort_records(recs, m, q->sort, q->n_sort);

  uint64_t first = q->offset < m ? q->offset : m;
  uint64_t last = m;
  if (q->limit && q->limit < last - first) last = first + q->limit;
  for (uint64_t i = first; i < last; i++) {
    hdb_record *p = hdb__record_project(recs[i], q->fields, q->fields ? q->n_fields : 0);
    if (!p) goto nomem;
    rc = hdb__rowbuf_push(&buf, p, NAN);
    if (rc != HDB_OK) goto nomem;
  }
  hdb__free_mem(recs);
  recs = NULL;
  hdb__mem_read_end(c);
  rc = hdb__rowbuf_cursor(&buf, out, err);
  hdb__rowbuf_free(&buf);
  return rc;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory querying table '%s'", table);
done:
  hdb__free_mem(recs);
  hdb__rowbuf_free(&buf);
  hdb__mem_read_end(c);
  return rc;
}

hdb_status hdb__mem_count(void *conn, const char *table, const hdb__expr *filter,
                          int64_t version, uint64_t *out, hdb_error *err) {
  hdb__mem_conn *c = conn;
  *out = 0;
  if (version != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED, "memory backend has no time travel (table '%s', version %lld)",
                     table, (long long)version);
  hdb__mem_state *st = hdb__mem_read_begin(c);
  hdb__mem_table *t;
  hdb_status rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc == HDB_OK && filter) rc = hdb__filter_bind(filter, t->schema, table, err);
  if (rc == HDB_OK) {
    uint64_t n = 0;
    if (!filter || filter->kind == HDB__EXPR_TRUE) {
      n = t->n_rows;
    } else {
      for (size_t i = 0; i < t->n_slots; i++)
        if (t->slots[i] && hdb__filter_match(filter, t->slots[i]->rec)) n++;
    }
    *out = n;
  }
  hdb__mem_read_end(c);
  return rc;
}
