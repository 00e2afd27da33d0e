/*
 * memory_search.c - exact vector search for the memory backend.
 *
 * The reference answer every other backend's search is compared with:
 * a scan of the rows that match the filter (the filter is applied first,
 * so k results come back whenever k rows match), hdb__distance on each
 * non-null vector, and the k best kept in a bounded max-heap whose root is
 * the worst kept candidate. Order is distance ascending, then id ascending;
 * a NaN distance (only possible through float overflow) ranks last.
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

typedef struct cand {
  double d;
  const hdb_record *rec; /* borrowed from the table while the lock is held */
} cand;

/* <0 when a ranks before b. A total order: NaN last, then id. */
static int cand_cmp(const cand *a, const cand *b) {
  int an = isnan(a->d), bn = isnan(b->d);
  if (an != bn) return an ? 1 : -1;
  if (!an && a->d != b->d) return a->d < b->d ? -1 : 1;
  return strcmp(a->rec->id, b->rec->id);
}

static int cand_qsort_cmp(const void *a, const void *b) {
  return cand_cmp(a, b);
}

static void heap_sift_up(cand *h, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (cand_cmp(&h[p], &h[i]) >= 0) break;
    cand tmp = h[p];
    h[p] = h[i];
    h[i] = tmp;
    i = p;
  }
}

static void heap_sift_down(cand *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, w = i;
    if (l < n && cand_cmp(&h[l], &h[w]) > 0) w = l;
    if (r < n && cand_cmp(&h[r], &h[w]) > 0) w = r;
    if (w == i) return;
    cand tmp = h[w];
    h[w] = h[i];
    h[i] = tmp;
    i = w;
  }
}

/* Resolves the searched column: s->column, or the table's sole vector column. */
static hdb_status search_column(const hdb__mem_table *t, const char *column,
                                const hdb__column **out, hdb_error *err) {
  *out = NULL;
  if (!t->schema) {
    if (column)
      return hdb__fail(err, HDB_NO_FIELD,
                       "table '%s' has no vector column '%s': it is schemaless, and vector "
                       "columns need a schema",
                       t->name, column);
    return hdb__fail(err, HDB_NO_FIELD,
                     "table '%s' has no vector column: it is schemaless, and vector columns "
                     "need a schema",
                     t->name);
  }
  if (!column) {
    int nv = 0;
    const hdb__column *col = hdb__schema_sole_vector(t->schema, &nv);
    if (nv == 0) return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no vector column", t->name);
    if (!col)
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s' has %d vector columns; name one",
                       t->name, nv);
    *out = col;
    return HDB_OK;
  }
  const hdb__column *col = hdb__schema_column(t->schema, column);
  if (!col) return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s'", t->name, column);
  if (col->type != HDB_TYPE_VECTOR)
    return hdb__fail(err, HDB_NO_FIELD, "column '%s' of table '%s' is %s, not a vector column",
                     column, t->name, hdb_type_name(col->type));
  *out = col;
  return HDB_OK;
}

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
  cand *heap = NULL;
  size_t nh = 0;
  hdb__rowbuf buf = {0};
  hdb_status rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  rc = search_column(t, s->column, &col, err);
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

  size_t k = (size_t)s->k < t->n_rows ? (size_t)s->k : t->n_rows;
  if (k) {
    heap = hdb__malloc(k * sizeof *heap);
    if (!heap) goto nomem;
  }
  for (size_t i = 0; k && i < t->n_slots; i++) {
    const hdb__mem_row *row = t->slots[i];
    if (!row) continue;
    const hdb_value *v = hdb__record_value(row->rec, col->name);
    if (!v || v->type != HDB_TYPE_VECTOR || v->as.vector.dim != s->dim) continue; /* null: skipped */
    if (s->filter && !hdb__filter_match(s->filter, row->rec)) continue;
    cand cd = {hdb__distance(metric, s->vector, v->as.vector.data, s->dim), row->rec};
    if (nh < k) {
      heap[nh++] = cd;
      heap_sift_up(heap, nh - 1);
    } else if (cand_cmp(&cd, &heap[0]) < 0) {
      heap[0] = cd;
      heap_sift_down(heap, nh, 0);
    }
  }
  if (nh) qsort(heap, nh, sizeof *heap, cand_qsort_cmp);
  for (size_t i = 0; i < nh; i++) {
    hdb_record *p = hdb__record_project(heap[i].rec, s->fields, s->fields ? s->n_fields : 0);
    if (!p) goto nomem;
    rc = hdb__rowbuf_push(&buf, p, heap[i].d);
    if (rc != HDB_OK) goto nomem;
  }
  hdb__free_mem(heap);
  hdb__mem_read_end(c);
  rc = hdb__rowbuf_cursor(&buf, out, err);
  hdb__rowbuf_free(&buf);
  return rc;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory searching table '%s'", table);
done:
  hdb__free_mem(heap);
  hdb__rowbuf_free(&buf);
  hdb__mem_read_end(c);
  return rc;
}
