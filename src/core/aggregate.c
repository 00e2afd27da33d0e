/*
 * aggregate.c - grouped count/sum/avg/min/max: the rules of aggregate.h.
 *
 * hdb__agg_records is the whole computation over records in memory: tag
 * each record with its group value (null for absent), sort the tags by
 * (group value by hdb__value_order, array position), and fold each run of
 * equal group values into one result record. The sort is stable by
 * construction (position breaks ties), so float sums and min/max ties
 * come out the same as folding in the caller's row order.
 */
#include "core/aggregate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/record.h"
#include "core/schema.h"
#include "core/value.h"

static const hdb_value null_value = {.type = HDB_TYPE_NULL};

int hdb__agg_accepts(hdb_agg_op op, hdb_type t) {
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

hdb_status hdb__agg_fold(hdb__agg_acc *ac, hdb_agg_op op, const hdb_value *v, const char *table,
                         const char *row_id, const char *field, hdb_error *err) {
  if (!v || v->type == HDB_TYPE_NULL) return HDB_OK;
  if (!hdb__agg_accepts(op, v->type))
    return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': row '%s': cannot %s field '%s' of type %s",
                     table, row_id, hdb_agg_op_name(op), field, hdb_type_name(v->type));
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
      /* Once overflowed, isum is meaningless and fsum carries the answer. */
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

hdb_status hdb__agg_fold_record(hdb__agg_acc *accs, const hdb_agg *aggs, size_t n_aggs,
                                const hdb_record *rec, const char *table, hdb_error *err) {
  for (size_t a = 0; a < n_aggs; a++) {
    if (!aggs[a].field) {
      accs[a].n++;
      continue;
    }
    hdb_status rc = hdb__agg_fold(&accs[a], aggs[a].op, hdb__record_value(rec, aggs[a].field),
                                  table, rec->id, aggs[a].field, err);
    if (rc != HDB_OK) return rc;
  }
  return HDB_OK;
}

hdb_status hdb__agg_result(const hdb__agg_acc *ac, hdb_agg_op op, hdb_value *out) {
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

char *hdb__agg_group_id(const hdb_value *g) {
  char buf[64];
  if (!g) return hdb__strdup("");
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

void hdb__agg_result_name(const hdb_agg *a, char name[HDB__AGG_NAME_CAP]) {
  if (a->field)
    snprintf(name, HDB__AGG_NAME_CAP, "%s_%s", hdb_agg_op_name(a->op), a->field);
  else
    snprintf(name, HDB__AGG_NAME_CAP, "count");
}

hdb_status hdb__agg_group_record_new(const char *group_by, const hdb_value *g, hdb_record **out) {
  *out = NULL;
  hdb_record *r = hdb_record_new(NULL);
  if (!r) return HDB_NOMEM;
  r->id = hdb__agg_group_id(g);
  if (!r->id) goto fail;
  if (group_by) {
    hdb_value v;
    if (hdb__value_copy(&v, g ? g : &null_value) != HDB_OK ||
        hdb__record_put_owned(r, group_by, &v) != HDB_OK)
      goto fail;
  }
  *out = r;
  return HDB_OK;
fail:
  hdb_record_free(r);
  return HDB_NOMEM;
}

hdb_status hdb__agg_group_record_put(hdb_record *r, const hdb_agg *aggs, size_t n_aggs,
                                     const hdb__agg_acc *accs) {
  for (size_t a = 0; a < n_aggs; a++) {
    char name[HDB__AGG_NAME_CAP];
    hdb__agg_result_name(&aggs[a], name);
    hdb_value v;
    if (hdb__agg_result(&accs[a], aggs[a].op, &v) != HDB_OK ||
        hdb__record_put_owned(r, name, &v) != HDB_OK)
      return HDB_NOMEM;
  }
  return HDB_OK;
}

hdb_status hdb__agg_check(const char *table, const hdb_schema *schema, const hdb_agg *aggs,
                          size_t n_aggs, const char *group_by, hdb__agg_field_check check,
                          const void *ctx, hdb_error *err) {
  for (size_t i = 0; i < n_aggs; i++) {
    const hdb_agg *a = &aggs[i];
    if ((int)a->op < (int)HDB_AGG_COUNT || (int)a->op > (int)HDB_AGG_MAX)
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s': aggregate %zu has unknown op %d",
                       table, i, (int)a->op);
    const char *op = hdb_agg_op_name(a->op);
    if (!a->field) {
      if (a->op == HDB_AGG_COUNT) continue;
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s': aggregate %zu (%s) needs a field",
                       table, i, op);
    }
    char what[48];
    snprintf(what, sizeof what, "aggregate %zu (%s)", i, op);
    hdb_status rc = check(ctx, a->field, what, err);
    if (rc != HDB_OK) return rc;
    if (!schema) continue;
    const hdb__column *col = hdb__schema_column(schema, a->field);
    if (!col) /* "id" where a backend lets it through: not a column */
      return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (%s)", table, a->field,
                       what);
    if (!hdb__agg_accepts(a->op, col->type))
      return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': cannot %s column '%s' of type %s",
                       table, op, a->field, hdb_type_name(col->type));
  }
  if (group_by) {
    hdb_status rc = check(ctx, group_by, "group_by", err);
    if (rc != HDB_OK) return rc;
    if (schema) {
      const hdb__column *col = hdb__schema_column(schema, group_by);
      if (!col)
        return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (group_by)", table,
                         group_by);
      if (col->type == HDB_TYPE_VECTOR || col->type == HDB_TYPE_BLOB)
        return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': cannot group by %s column '%s'",
                         table, hdb_type_name(col->type), group_by);
    }
  }
  return HDB_OK;
}

/* A record tagged with its group value and its position in the input. */
typedef struct grow {
  const hdb_value *g; /* never NULL: null_value for none */
  const hdb_record *rec;
  size_t seq;
} grow;

static int grow_cmp(const void *pa, const void *pb) {
  const grow *a = pa, *b = pb;
  int c = hdb__value_order(a->g, b->g);
  if (c) return c;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Folds rows[0..n) (one group, value g; NULL: the single group) into a
 * new record appended to out. */
static hdb_status fold_group(const char *table, const hdb_agg *aggs, size_t n_aggs,
                             const char *group_by, const hdb_value *g, const grow *rows, size_t n,
                             hdb__rowbuf *out, hdb_error *err) {
  hdb_status rc = HDB_OK;
  hdb_record *r = NULL;
  hdb__agg_acc *accs = hdb__calloc(n_aggs ? n_aggs : 1, sizeof *accs);
  if (!accs) goto nomem;
  for (size_t i = 0; i < n; i++) {
    rc = hdb__agg_fold_record(accs, aggs, n_aggs, rows[i].rec, table, err);
    if (rc != HDB_OK) goto fail;
  }
  if (hdb__agg_group_record_new(group_by, g, &r) != HDB_OK ||
      hdb__agg_group_record_put(r, aggs, n_aggs, accs) != HDB_OK)
    goto nomem;
  hdb__free_mem(accs);
  accs = NULL;
  rc = hdb__rowbuf_push(out, r, NAN); /* takes r, also on failure */
  r = NULL;
  if (rc != HDB_OK) goto nomem;
  return HDB_OK;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", table);
fail:
  hdb__free_mem(accs);
  hdb_record_free(r);
  return rc;
}

hdb_status hdb__agg_records(const char *table, const hdb_agg *aggs, size_t n_aggs,
                            const char *group_by, const hdb_record *const *recs, size_t n,
                            hdb__rowbuf *out, hdb_error *err) {
  hdb_status rc = HDB_OK;
  grow *rows = NULL;
  if (n && !(rows = hdb__malloc(n * sizeof *rows)))
    return hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", table);
  for (size_t i = 0; i < n; i++) {
    const hdb_value *g = &null_value;
    if (group_by) {
      const hdb_value *v = hdb__record_value(recs[i], group_by);
      if (v) g = v;
      if (g->type == HDB_TYPE_VECTOR || g->type == HDB_TYPE_BLOB) {
        rc = hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': row '%s': cannot group by %s field '%s'",
                       table, recs[i]->id, hdb_type_name(g->type), group_by);
        goto done;
      }
    }
    rows[i] = (grow){g, recs[i], i};
  }
  if (!group_by) {
    rc = fold_group(table, aggs, n_aggs, NULL, NULL, rows, n, out, err);
    goto done;
  }
  if (n) qsort(rows, n, sizeof *rows, grow_cmp);
  for (size_t a = 0; a < n && rc == HDB_OK;) {
    size_t b = a + 1;
    while (b < n && hdb__value_order(rows[a].g, rows[b].g) == 0) b++;
    rc = fold_group(table, aggs, n_aggs, group_by, rows[a].g, rows + a, b - a, out, err);
    a = b;
  }
done:
  hdb__free_mem(rows);
  return rc;
}
