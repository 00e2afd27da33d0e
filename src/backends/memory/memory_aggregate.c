/*
 * memory_aggregate.c - hdb_aggregate for the memory backend: the reference
 * semantics of grouped count/sum/avg/min/max.
 *
 * Method: collect the rows matching the filter with their group value,
 * sort by (group value by hdb__value_order, then insertion order), and
 * fold each run of equal group values. Null (or absent) group values form
 * one group, first. Without group_by there is exactly one group, even when
 * no row matches (count 0, other aggregates null), as in SQL.
 *
 * Result records: id = the group value as text ("" for the single group,
 * "null" for the null group), then the group_by field (null for the null
 * group), then one field per aggregate: "count" for a count of rows, else
 * "<op>_<field>".
 *
 * Value rules (nulls are skipped everywhere):
 *  - count(field) counts non-null values;
 *  - sum: bool counts as 0/1; bools, ints and timestamps sum as int64 and
 *    the result is int; any float makes it float; int64 overflow falls
 *    back to the float sum;
 *  - avg: float;
 *  - min/max: by hdb__value_order, keeping the value's type (text allowed);
 *  - blob, vector and json values are HDB_TYPE_MISMATCH for every
 *    aggregate, text for sum/avg. On a strict table this is checked from
 *    the column types before anything runs; on a schemaless table it is
 *    checked on the values met.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/schema.h"
#include "core/value.h"

static const char *const op_names[] = {"count", "sum", "avg", "min", "max"};

typedef struct acc {
  uint64_t n; /* values (or rows, for a count of rows) seen */
  int64_t isum;
  int overflow;
  double fsum;
  int any_float;
  const hdb_value *min, *max; /* borrowed from rows */
} acc;

typedef struct grow {
  const hdb_value *g; /* group value; never NULL (null_value for none) */
  const hdb_record *rec;
  size_t seq; /* insertion order, for a deterministic sort */
} grow;

static const hdb_value null_value = {.type = HDB_TYPE_NULL};

static int grow_cmp(const void *pa, const void *pb) {
  const grow *a = pa, *b = pb;
  int c = hdb__value_order(a->g, b->g);
  if (c) return c;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Whether op may take a value of type t (null excluded). */
static int op_accepts(hdb_agg_op op, hdb_type t) {
  switch (t) {
  case HDB_TYPE_BOOL:
  case HDB_TYPE_INT:
  case HDB_TYPE_FLOAT:
  case HDB_TYPE_TIMESTAMP:
    return 1;
  case HDB_TYPE_TEXT:
    return op == HDB_AGG_COUNT || op == HDB_AGG_MIN || op == HDB_AGG_MAX;
  default:
    return 0;
  }
}

static hdb_status check_aggs(const hdb__mem_table *t, const hdb_agg *aggs, size_t n_aggs,
                             const char *group_by, hdb_error *err) {
  for (size_t i = 0; i < n_aggs; i++) {
    const hdb_agg *a = &aggs[i];
    if ((int)a->op < (int)HDB_AGG_COUNT || (int)a->op > (int)HDB_AGG_MAX)
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s': aggregate %zu has unknown op %d",
                       t->name, i, (int)a->op);
    if (!a->field) {
      if (a->op == HDB_AGG_COUNT) continue;
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s': aggregate %zu (%s) needs a field",
                       t->name, i, op_names[a->op]);
    }
    char what[48];
    snprintf(what, sizeof what, "aggregate %zu (%s)", i, op_names[a->op]);
    hdb_status rc = hdb__mem_check_field(t, a->field, 0, what, err);
    if (rc != HDB_OK) return rc;
    if (!t->schema) continue;
    const hdb__column *col = hdb__schema_column(t->schema, a->field);
    if (!col) /* "id": not a column */
      return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (%s)", t->name,
                       a->field, what);
    if (!op_accepts(a->op, col->type))
      return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': cannot %s column '%s' of type %s",
                       t->name, op_names[a->op], a->field, hdb_type_name(col->type));
  }
  if (group_by) {
    hdb_status rc = hdb__mem_check_field(t, group_by, 0, "group_by", err);
    if (rc != HDB_OK) return rc;
    if (t->schema) {
      const hdb__column *col = hdb__schema_column(t->schema, group_by);
      if (!col)
        return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (group_by)", t->name,
                         group_by);
      if (col->type == HDB_TYPE_VECTOR || col->type == HDB_TYPE_BLOB)
        return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': cannot group by %s column '%s'",
                         t->name, hdb_type_name(col->type), group_by);
    }
  }
  return HDB_OK;
}

static hdb_status fold(acc *ac, hdb_agg_op op, const hdb_value *v, const hdb__mem_table *t,
                       const char *field, const hdb_record *rec, hdb_error *err) {
  if (!v || v->type == HDB_TYPE_NULL) return HDB_OK;
  if (!op_accepts(op, v->type))
    return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': row '%s': cannot %s field '%s' of type %s",
                     t->name, rec->id, op_names[op], field, hdb_type_name(v->type));
  ac->n++;
  switch (op) {
  case HDB_AGG_SUM:
  case HDB_AGG_AVG: {
    int64_t iv = 0;
    double fv;
    if (v->type == HDB_TYPE_FLOAT) {
      ac->any_float = 1;
      fv = v->as.f;
    } else {
      iv = v->type == HDB_TYPE_BOOL ? (v->as.boolean != 0)
           : v->type == HDB_TYPE_INT ? v->as.i
                                     : v->as.timestamp_us;
      fv = (double)iv;
      if (!ac->overflow && __builtin_add_overflow(ac->isum, iv, &ac->isum)) ac->overflow = 1;
    }
    ac->fsum += fv;
    break;
  }
  case HDB_AGG_MIN:
    if (!ac->min || hdb__value_order(v, ac->min) < 0) ac->min = v;
    break;
  case HDB_AGG_MAX:
    if (!ac->max || hdb__value_order(v, ac->max) > 0) ac->max = v;
    break;
  case HDB_AGG_COUNT:
    break;
  }
  return HDB_OK;
}

/* The aggregate's result value (owned payload). */
static hdb_status result_value(const acc *ac, hdb_agg_op op, hdb_value *out) {
  *out = null_value;
  switch (op) {
  case HDB_AGG_COUNT:
    out->type = HDB_TYPE_INT;
    out->as.i = (int64_t)ac->n;
    return HDB_OK;
  case HDB_AGG_SUM:
    if (!ac->n) return HDB_OK;
    if (ac->any_float || ac->overflow) {
      out->type = HDB_TYPE_FLOAT;
      out->as.f = ac->fsum;
    } else {
      out->type = HDB_TYPE_INT;
      out->as.i = ac->isum;
    }
    return HDB_OK;
  case HDB_AGG_AVG:
    if (!ac->n) return HDB_OK;
    out->type = HDB_TYPE_FLOAT;
    out->as.f = (ac->any_float || ac->overflow) ? ac->fsum / (double)ac->n
                                                : (double)ac->isum / (double)ac->n;
    return HDB_OK;
  case HDB_AGG_MIN:
    return ac->min ? hdb__value_copy(out, ac->min) : HDB_OK;
  case HDB_AGG_MAX:
    return ac->max ? hdb__value_copy(out, ac->max) : HDB_OK;
  }
  return HDB_OK;
}

/* The group value as text for the record id; owned, NULL on OOM. */
static char *group_id(const hdb_value *g) {
  char buf[64];
  switch (g->type) {
  case HDB_TYPE_NULL:
    return hdb__strdup("null");
  case HDB_TYPE_BOOL:
    return hdb__strdup(g->as.boolean ? "true" : "false");
  case HDB_TYPE_INT:
    snprintf(buf, sizeof buf, "%lld", (long long)g->as.i);
    return hdb__strdup(buf);
  case HDB_TYPE_FLOAT:
    /* Shortest form that reads back as the same double. */
    for (int prec = 15; prec <= 17; prec++) {
      snprintf(buf, sizeof buf, "%.*g", prec, g->as.f);
      if (strtod(buf, NULL) == g->as.f) break;
    }
    return hdb__strdup(buf);
  case HDB_TYPE_TIMESTAMP:
    hdb__timestamp_format(g->as.timestamp_us, buf);
    return hdb__strdup(buf);
  case HDB_TYPE_TEXT:
  case HDB_TYPE_JSON:
    return hdb__strndup(g->as.text.data, g->as.text.len);
  default: /* blob and vector groups are refused before this point */
    return hdb__strdup("");
  }
}

/* Builds the record of one group: rows[0..n) share group value g (NULL for
 * the single group of a query without group_by). */
static hdb_status group_record(const hdb__mem_table *t, const hdb_agg *aggs, size_t n_aggs,
                               const char *group_by, const hdb_value *g, const grow *rows,
                               size_t n, hdb_record **out, hdb_error *err) {
  hdb_status rc = HDB_OK;
  *out = NULL;
  acc *accs = NULL;
  hdb_record *r = hdb_record_new(NULL);
  if (!r) goto nomem;
  r->id = g ? group_id(g) : hdb__strdup("");
  if (!r->id) goto nomem;
  if (n_aggs) {
    accs = hdb__calloc(n_aggs, sizeof *accs);
    if (!accs) goto nomem;
  }
  for (size_t i = 0; i < n; i++) {
    for (size_t a = 0; a < n_aggs; a++) {
      if (!aggs[a].field) {
        accs[a].n++;
        continue;
      }
      rc = fold(&accs[a], aggs[a].op, hdb__record_value(rows[i].rec, aggs[a].field), t,
                aggs[a].field, rows[i].rec, err);
      if (rc != HDB_OK) goto fail;
    }
  }
  if (group_by) {
    hdb_value v;
    if (hdb__value_copy(&v, g) != HDB_OK || hdb__record_put_owned(r, group_by, &v) != HDB_OK)
      goto nomem;
  }
  for (size_t a = 0; a < n_aggs; a++) {
    char name[8 + HDB_MAX_NAME_LEN + 2];
    if (aggs[a].field)
      snprintf(name, sizeof name, "%s_%s", op_names[aggs[a].op], aggs[a].field);
    else
      snprintf(name, sizeof name, "count");
    hdb_value v;
    if (result_value(&accs[a], aggs[a].op, &v) != HDB_OK ||
        hdb__record_put_owned(r, name, &v) != HDB_OK)
      goto nomem;
  }
  hdb__free_mem(accs);
  *out = r;
  return HDB_OK;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
fail:
  hdb__free_mem(accs);
  hdb_record_free(r);
  return rc;
}

hdb_status hdb__mem_aggregate(void *conn, const char *table, const hdb_agg *aggs,
                              size_t n_aggs, const char *group_by, const hdb__expr *filter,
                              hdb_cursor **out, hdb_error *err) {
  hdb__mem_conn *c = conn;
  *out = NULL;
  hdb__mem_state *st = hdb__mem_read_begin(c);
  hdb__mem_table *t;
  grow *rows = NULL;
  size_t n = 0;
  hdb__rowbuf buf = {0};
  hdb_record *rec;
  hdb_status rc = hdb__mem_table_lookup(st, table, &t, err);
  if (rc != HDB_OK) goto done;
  rc = check_aggs(t, aggs, n_aggs, group_by, err);
  if (rc != HDB_OK) goto done;
  if (filter) {
    rc = hdb__filter_bind(filter, t->schema, table, err);
    if (rc != HDB_OK) goto done;
  }
  if (t->n_rows) {
    rows = hdb__malloc(t->n_rows * sizeof *rows);
    if (!rows) goto nomem;
  }
  for (size_t i = 0; i < t->n_slots; i++) {
    const hdb__mem_row *row = t->slots[i];
    if (!row || (filter && !hdb__filter_match(filter, row->rec))) continue;
    const hdb_value *g = &null_value;
    if (group_by) {
      const hdb_value *v = hdb__record_value(row->rec, group_by);
      if (v) g = v;
      if (g->type == HDB_TYPE_VECTOR || g->type == HDB_TYPE_BLOB) {
        rc = hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': row '%s': cannot group by %s field '%s'",
                       table, row->rec->id, hdb_type_name(g->type), group_by);
        goto done;
      }
    }
    rows[n].g = g;
    rows[n].rec = row->rec;
    rows[n].seq = n;
    n++;
  }

  if (!group_by) {
    rc = group_record(t, aggs, n_aggs, NULL, NULL, rows, n, &rec, err);
    if (rc != HDB_OK) goto done;
    rc = hdb__rowbuf_push(&buf, rec, NAN);
    if (rc != HDB_OK) goto nomem;
  } else {
    if (n) qsort(rows, n, sizeof *rows, grow_cmp);
    for (size_t a = 0; a < n;) {
      size_t b = a + 1;
      while (b < n && hdb__value_order(rows[a].g, rows[b].g) == 0) b++;
      rc = group_record(t, aggs, n_aggs, group_by, rows[a].g, rows + a, b - a, &rec, err);
      if (rc != HDB_OK) goto done;
      rc = hdb__rowbuf_push(&buf, rec, NAN);
      if (rc != HDB_OK) goto nomem;
      a = b;
    }
  }
  hdb__free_mem(rows);
  hdb__mem_read_end(c);
  rc = hdb__rowbuf_cursor(&buf, out, err);
  hdb__rowbuf_free(&buf);
  return rc;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", table);
done:
  hdb__free_mem(rows);
  hdb__rowbuf_free(&buf);
  hdb__mem_read_end(c);
  return rc;
}
