/*
 * memory_aggregate.c - hdb_aggregate for the memory backend: the reference
 * semantics of grouped count/sum/avg/min/max, as defined in
 * core/aggregate.h (value rules, null group first, one group without
 * group_by, result names and record shape).
 *
 * Method: check the aggregates against the table (column types on a
 * strict table, before anything runs), bind the filter, collect the
 * matching rows in insertion order and hand them to hdb__agg_records,
 * which sorts by group value and folds each group. The rows are borrowed
 * from the table while the read lock is held.
 */
#include <math.h>
#include <string.h>

#include "memory.h"

#include "core/aggregate.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/filter.h"

/* hdb__agg_field_check over a memory table. */
static hdb_status check_field(const void *ctx, const char *field, const char *what,
                              hdb_error *err) {
  return hdb__mem_check_field(ctx, field, 0, what, err);
}

hdb_status hdb__mem_aggregate(void *conn, const char *table, const hdb_agg *aggs,
                              size_t n_aggs, const char *group_by, const hdb__expr *filter,
                              hdb_cursor **out, hdb_error *err) {
  hdb__mem_conn *c = conn;
  *out = NULL;
  hdb__mem_state *st = hdb__mem_read_begin(c);
  hdb__mem_table *t;
  const hdb_record **recs = NULL;
  size_t n = 0;
  hdb__rowbuf buf = {0};
  hdb_status rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  rc = hdb__agg_check(t->name, t->schema, aggs, n_aggs, group_by, check_field, t, err);
  if (rc != HDB_OK) goto done;
  if (filter) {
    rc = hdb__filter_bind(filter, t->schema, table, err);
    if (rc != HDB_OK) goto done;
  }
  if (t->n_rows && !(recs = hdb__malloc(t->n_rows * sizeof *recs))) {
    rc = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", table);
    goto done;
  }
  for (size_t i = 0; i < t->n_slots; i++) {
    const hdb__mem_row *row = t->slots[i];
    if (!row || (filter && !hdb__filter_match(filter, row->rec))) continue;
    recs[n++] = row->rec;
  }
  rc = hdb__agg_records(table, aggs, n_aggs, group_by, recs, n, &buf, err);
  if (rc == HDB_OK) rc = hdb__rowbuf_cursor(&buf, out, err);
done:
  hdb__free_mem(recs);
  hdb__rowbuf_free(&buf);
  hdb__mem_read_end(c);
  return rc;
}
