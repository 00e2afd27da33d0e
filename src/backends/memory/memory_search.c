/*
 * memory_search.c - exact vector search for the memory backend.
 *
 * The reference answer every other backend's search is compared with:
 * a scan of the rows that match the filter (the filter is applied first,
 * so k results come back whenever k rows match), hdb__distance on each
 * non-null vector, and the k best kept in core's bounded max-heap
 * (core/topk.h; records borrowed while the read lock is held). Order is
 * distance ascending, then id ascending; a NaN distance (only possible
 * through float overflow) ranks last.
 * Results are projected clones with their distances, owned by the cursor.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/distance.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/schema.h"
#include "core/topk.h"

hdb_status hdb__mem_search(void *conn, const char *table, const hdb__search *s,
                           hdb_cursor **out, hdb_error *err) {
  hdb__mem_conn *c = conn;
  *out = NULL;
  if (s->version != 0)
    return hdb__fail(err, HDB_NOT_SUPPORTED,
                     "memory backend has no time travel (table '%s', version %lld)", table,
                     (long long)s->version);
  if (s->k < 1)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "search of table '%s': k must be >= 1, not %d",
                     table, s->k);
  hdb__mem_state *st = hdb__mem_read_begin(c);
  hdb__mem_table *t;
  const hdb__column *col;
  hdb__topk heap;
  hdb__topk_init(&heap, 0);
  hdb__rowbuf buf = {0};
  hdb_status rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  rc = hdb__schema_search_column(t->schema, t->name, s->column, &col, err);
  if (rc != HDB_OK) goto done;
  if (s->dim != col->dim) {
    rc = hdb__fail(err, HDB_DIMENSION,
                   "query vector has %u components; column '%s' of table '%s' has %u",
                   (unsigned)s->dim, col->name, table, (unsigned)col->dim);
    goto done;
  }
  if (s->filter) {
    rc = hdb__filter_bind(s->filter, t->schema, table, err);
    if (rc != HDB_OK) goto done;
  }
  for (size_t i = 0; s->fields && i < s->n_fields; i++) {
    char what[48];
    snprintf(what, sizeof what, "projected field %zu", i);
    rc = hdb__mem_check_field(t, s->fields[i], HDB__MEM_FIELD_ID, what, err);
    if (rc != HDB_OK) goto done;
  }
  hdb_metric metric = s->metric == HDB_METRIC_DEFAULT ? col->metric : s->metric;

  hdb__topk_init(&heap, (size_t)s->k < t->n_rows ? (size_t)s->k : t->n_rows);
  for (size_t i = 0; heap.k && i < t->n_slots; i++) {
    const hdb__mem_row *row = t->slots[i];
    if (!row) continue;
    const hdb_value *v = hdb__record_value(row->rec, col->name);
    if (!v || v->type != HDB_TYPE_VECTOR || v->as.vector.dim != s->dim) continue; /* null: skipped */
    if (s->filter && !hdb__filter_match(s->filter, row->rec)) continue;
    double d = hdb__distance(metric, s->vector, v->as.vector.data, s->dim);
    void *dropped; /* borrowed records: nothing to free */
    if (hdb__topk_offer(&heap, d, row->rec->id, (void *)row->rec, &dropped) != HDB_OK) goto nomem;
  }
  hdb__topk_finish(&heap);
  for (size_t i = 0; i < heap.n; i++) {
    hdb_record *p = hdb__record_project(heap.h[i].p, s->fields, s->fields ? s->n_fields : 0);
    if (!p) goto nomem;
    rc = hdb__rowbuf_push(&buf, p, heap.h[i].d);
    if (rc != HDB_OK) goto nomem;
  }
  hdb__topk_free(&heap);
  hdb__mem_read_end(c);
  rc = hdb__rowbuf_cursor(&buf, out, err);
  hdb__rowbuf_free(&buf);
  return rc;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory searching table '%s'", table);
done:
  hdb__topk_free(&heap);
  hdb__rowbuf_free(&buf);
  hdb__mem_read_end(c);
  return rc;
}
