/*
 * duck_aggregate.c - hdb_aggregate on duckdb://, with the memory backend's
 * semantics (memory_aggregate.c is the reference):
 *  - one group without group_by, even over no rows (count 0, others null);
 *  - groups in ascending order of the group value, null first;
 *  - count(field) counts non-null values; sum of bools/ints/timestamps is
 *    an int (a float when it leaves int64), of floats a float; avg a float;
 *    min/max keep the column's type; nulls are skipped;
 *  - records: id = the group value as text ("" for the single group,
 *    "null" for the null group), the group_by field, then "count" or
 *    "<op>_<field>" per aggregate.
 *
 * Pushed down (strict table, translated filter, group column ordered by
 * DuckDB as hdb__value_order does):
 *   SELECT g, count(*), sum(x), CAST(sum(x) AS DOUBLE) / count(x), min(t) ...
 *   FROM t WHERE ... GROUP BY g ORDER BY g ASC NULLS FIRST
 * with bools summed as BIGINT (timestamps are BIGINT microseconds); DuckDB sums
 * integers exactly (HUGEINT). Otherwise (schemaless tables, filters core
 * evaluates, json groups) the matching rows stream into the same fold the
 * memory backend uses.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duck.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/record.h"
#include "core/value.h"

static const char *const op_names[] = {"count", "sum", "avg", "min", "max"};
static const hdb_value null_value = {.type = HDB_TYPE_NULL};

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

static hdb_status check_aggs(const hdb__duck_table *t, const hdb_agg *aggs, size_t n_aggs,
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
    hdb_status rc = hdb__duck_check_field(t, a->field, 0, 0, what, err);
    if (rc != HDB_OK) return rc;
    if (!t->schema) continue;
    const hdb__column *col = hdb__schema_column(t->schema, a->field);
    if (!op_accepts(a->op, col->type))
      return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': cannot %s column '%s' of type %s",
                       t->name, op_names[a->op], a->field, hdb_type_name(col->type));
  }
  if (group_by) {
    hdb_status rc = hdb__duck_check_field(t, group_by, 0, 0, "group_by", err);
    if (rc != HDB_OK) return rc;
    if (t->schema) {
      const hdb__column *col = hdb__schema_column(t->schema, group_by);
      if (col->type == HDB_TYPE_VECTOR || col->type == HDB_TYPE_BLOB)
        return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': cannot group by %s column '%s'",
                         t->name, hdb_type_name(col->type), group_by);
    }
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
  default:
    return hdb__strdup("");
  }
}

static void agg_name(const hdb_agg *a, char *name, size_t cap) {
  if (a->field)
    snprintf(name, cap, "%s_%s", op_names[a->op], a->field);
  else
    snprintf(name, cap, "count");
}

/* A new group record: id from g (NULL: the single group) and the group field. */
static hdb_status group_record_new(const char *group_by, const hdb_value *g, hdb_record **out) {
  *out = NULL;
  hdb_record *r = hdb_record_new(NULL);
  if (!r) return HDB_NOMEM;
  r->id = g ? group_id(g) : hdb__strdup("");
  hdb_value v;
  if (!r->id || (group_by && (hdb__value_copy(&v, g) != HDB_OK ||
                              hdb__record_put_owned(r, group_by, &v) != HDB_OK))) {
    hdb_record_free(r);
    return HDB_NOMEM;
  }
  *out = r;
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* In C: the memory backend's fold over streamed rows                  */
/* ------------------------------------------------------------------ */

typedef struct acc {
  uint64_t n;
  int64_t isum;
  int overflow;
  double fsum;
  int any_float;
  hdb_value min, max; /* owned copies */
} acc;

typedef struct grow {
  hdb_value g; /* owned copy */
  hdb_record *rec;
  size_t seq;
} grow;

typedef struct gather {
  grow *rows;
  size_t n, cap;
  const char *group_by;
  const char *table;
  hdb_error *err;
  hdb_status st;
} gather;

static hdb_status gather_row(hdb_record *rec, void *user) {
  gather *g = user;
  if (g->n == g->cap) {
    size_t cap = g->cap ? 2 * g->cap : 64;
    grow *nr = hdb__realloc(g->rows, cap * sizeof *nr);
    if (!nr) {
      hdb_record_free(rec);
      return HDB_NOMEM;
    }
    g->rows = nr;
    g->cap = cap;
  }
  grow *r = &g->rows[g->n];
  r->g = null_value;
  if (g->group_by) {
    const hdb_value *v = hdb__record_value(rec, g->group_by);
    if (v && (v->type == HDB_TYPE_VECTOR || v->type == HDB_TYPE_BLOB)) {
      g->st = hdb__fail(g->err, HDB_TYPE_MISMATCH, "table '%s': row '%s': cannot group by %s field '%s'",
                        g->table, rec->id, hdb_type_name(v->type), g->group_by);
      hdb_record_free(rec);
      return g->st;
    }
    if (v && hdb__value_copy(&r->g, v) != HDB_OK) {
      hdb_record_free(rec);
      return HDB_NOMEM;
    }
  }
  r->rec = rec;
  r->seq = g->n++;
  return HDB_OK;
}

static int grow_cmp(const void *pa, const void *pb) {
  const grow *a = pa, *b = pb;
  int c = hdb__value_order(&a->g, &b->g);
  if (c) return c;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static hdb_status fold(acc *ac, hdb_agg_op op, const hdb_value *v, const char *table,
                       const char *field, const hdb_record *rec, hdb_error *err) {
  if (!v || v->type == HDB_TYPE_NULL) return HDB_OK;
  if (!op_accepts(op, v->type))
    return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': row '%s': cannot %s field '%s' of type %s",
                     table, rec->id, op_names[op], field, hdb_type_name(v->type));
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
    if (ac->min.type == HDB_TYPE_NULL || hdb__value_order(v, &ac->min) < 0) {
      hdb__value_release(&ac->min);
      if (hdb__value_copy(&ac->min, v) != HDB_OK) return hdb__fail(err, HDB_NOMEM, "out of memory aggregating");
    }
    break;
  case HDB_AGG_MAX:
    if (ac->max.type == HDB_TYPE_NULL || hdb__value_order(v, &ac->max) > 0) {
      hdb__value_release(&ac->max);
      if (hdb__value_copy(&ac->max, v) != HDB_OK) return hdb__fail(err, HDB_NOMEM, "out of memory aggregating");
    }
    break;
  case HDB_AGG_COUNT:
    break;
  }
  return HDB_OK;
}

/* The aggregate's result (owned payload). */
static hdb_status result_value(acc *ac, hdb_agg_op op, hdb_value *out) {
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
    *out = ac->min; /* moved */
    ac->min = null_value;
    return HDB_OK;
  case HDB_AGG_MAX:
    *out = ac->max;
    ac->max = null_value;
    return HDB_OK;
  }
  return HDB_OK;
}

static hdb_status fold_group(const char *table, const hdb_agg *aggs, size_t n_aggs,
                             const char *group_by, const hdb_value *g, const grow *rows,
                             size_t n, hdb_record **out, hdb_error *err) {
  hdb_status st;
  acc *accs = hdb__calloc(n_aggs ? n_aggs : 1, sizeof *accs);
  hdb_record *r = NULL;
  if (!accs) return hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", table);
  for (size_t a = 0; a < n_aggs; a++) accs[a].min = accs[a].max = null_value;
  st = HDB_OK;
  for (size_t i = 0; st == HDB_OK && i < n; i++)
    for (size_t a = 0; st == HDB_OK && a < n_aggs; a++) {
      if (!aggs[a].field) {
        accs[a].n++;
        continue;
      }
      st = fold(&accs[a], aggs[a].op, hdb__record_value(rows[i].rec, aggs[a].field), table,
                aggs[a].field, rows[i].rec, err);
    }
  if (st == HDB_OK && group_record_new(group_by, g, &r) != HDB_OK)
    st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", table);
  for (size_t a = 0; st == HDB_OK && a < n_aggs; a++) {
    char name[8 + HDB_MAX_NAME_LEN + 2];
    agg_name(&aggs[a], name, sizeof name);
    hdb_value v;
    if (result_value(&accs[a], aggs[a].op, &v) != HDB_OK || hdb__record_put_owned(r, name, &v) != HDB_OK)
      st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", table);
  }
  for (size_t a = 0; a < n_aggs; a++) {
    hdb__value_release(&accs[a].min);
    hdb__value_release(&accs[a].max);
  }
  hdb__free_mem(accs);
  if (st != HDB_OK) {
    hdb_record_free(r);
    return st;
  }
  *out = r;
  return HDB_OK;
}

static hdb_status aggregate_in_c(hdb__duck_conn *c, const hdb__duck_table *t, const hdb_agg *aggs,
                                 size_t n_aggs, const char *group_by, const hdb__expr *filter,
                                 hdb__rowbuf *buf, hdb_error *err) {
  gather g = {0};
  g.group_by = group_by;
  g.table = t->name;
  g.err = err;
  g.st = HDB_OK;
  hdb_status st = hdb__duck_scan(c, t, filter, NULL, gather_row, &g, err);
  if (st == HDB_NOMEM && err && err->code != HDB_NOMEM)
    hdb__fail(err, st, "out of memory aggregating table '%s'", t->name);
  hdb_record *rec;
  if (st == HDB_OK && !group_by) {
    st = fold_group(t->name, aggs, n_aggs, NULL, NULL, g.rows, g.n, &rec, err);
    if (st == HDB_OK && hdb__rowbuf_push(buf, rec, NAN) != HDB_OK)
      st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
  } else if (st == HDB_OK) {
    if (g.n) qsort(g.rows, g.n, sizeof *g.rows, grow_cmp);
    for (size_t a = 0; st == HDB_OK && a < g.n;) {
      size_t b = a + 1;
      while (b < g.n && hdb__value_order(&g.rows[a].g, &g.rows[b].g) == 0) b++;
      st = fold_group(t->name, aggs, n_aggs, group_by, &g.rows[a].g, g.rows + a, b - a, &rec, err);
      if (st == HDB_OK && hdb__rowbuf_push(buf, rec, NAN) != HDB_OK)
        st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
      a = b;
    }
  }
  for (size_t i = 0; i < g.n; i++) {
    hdb__value_release(&g.rows[i].g);
    hdb_record_free(g.rows[i].rec);
  }
  hdb__free_mem(g.rows);
  return st;
}

/* ------------------------------------------------------------------ */
/* Pushed down                                                         */
/* ------------------------------------------------------------------ */

/* The aggregate over column col as SQL. */
static void agg_sql(hdb__sql_buf *b, const hdb_agg *a, const hdb__column *col) {
  if (!a->field) {
    hdb__sql_buf_append(b, "count(*)");
    return;
  }
  hdb__sql_buf x = {0};
  if (col->type == HDB_TYPE_BOOL && (a->op == HDB_AGG_SUM || a->op == HDB_AGG_AVG)) {
    hdb__sql_buf_append(&x, "CAST(");
    hdb__duck_ident(&x, a->field);
    hdb__sql_buf_append(&x, " AS BIGINT)");
  } else {
    /* Timestamps are BIGINT microseconds already (sql.h's type map). */
    hdb__duck_ident(&x, a->field);
  }
  const char *e = x.s ? x.s : "NULL";
  switch (a->op) {
  case HDB_AGG_COUNT: hdb__sql_buf_appendf(b, "count(%s)", e); break;
  case HDB_AGG_SUM: hdb__sql_buf_appendf(b, "sum(%s)", e); break;
  case HDB_AGG_AVG: hdb__sql_buf_appendf(b, "CAST(sum(%s) AS DOUBLE) / count(%s)", e, e); break;
  case HDB_AGG_MIN: hdb__sql_buf_appendf(b, "min(%s)", e); break;
  case HDB_AGG_MAX: hdb__sql_buf_appendf(b, "max(%s)", e); break;
  }
  if (x.oom) b->oom = 1;
  hdb__sql_buf_free(&x);
}

/* Result cell of aggregate a as a value (borrowed view, or int/float). */
static hdb_status agg_cell(const hdb__duck_colview *v, idx_t row, const hdb_agg *a,
                           const hdb__column *col, hdb_value *out, hdb_error *err) {
  memset(out, 0, sizeof *out);
  out->type = HDB_TYPE_NULL;
  if (v->validity && !duckdb_validity_row_is_valid(v->validity, row)) {
    if (a->op == HDB_AGG_COUNT) out->type = HDB_TYPE_INT; /* count is never null */
    return HDB_OK;
  }
  switch (v->tid) {
  case DUCKDB_TYPE_HUGEINT: {
    duckdb_hugeint h = ((duckdb_hugeint *)v->data)[row];
    /* Fits int64 when the upper half is the sign extension of the lower. */
    if ((h.upper == 0 && h.lower <= (uint64_t)INT64_MAX) ||
        (h.upper == -1 && h.lower > (uint64_t)INT64_MAX)) {
      out->type = HDB_TYPE_INT;
      out->as.i = (int64_t)h.lower;
    } else {
      out->type = HDB_TYPE_FLOAT;
      out->as.f = duckdb_hugeint_to_double(h);
    }
    return HDB_OK;
  }
  case DUCKDB_TYPE_BIGINT: /* counts; min/max of int and timestamp columns */
    if (a->op != HDB_AGG_COUNT && col && col->type == HDB_TYPE_TIMESTAMP) {
      out->type = HDB_TYPE_TIMESTAMP;
      out->as.timestamp_us = ((int64_t *)v->data)[row];
    } else {
      out->type = HDB_TYPE_INT;
      out->as.i = ((int64_t *)v->data)[row];
    }
    return HDB_OK;
  case DUCKDB_TYPE_DOUBLE:
    out->type = HDB_TYPE_FLOAT;
    out->as.f = ((double *)v->data)[row];
    return HDB_OK;
  default:
    break;
  }
  return hdb__duck_cell(v, row, col->type, out, a->field ? a->field : "count", err);
}

static hdb_status aggregate_sql(hdb__duck_conn *c, const hdb__duck_table *t, const hdb_agg *aggs,
                                size_t n_aggs, const char *group_by, const hdb__sql_buf *where,
                                const hdb__sql_params *p, hdb__rowbuf *buf, hdb_error *err) {
  hdb__sql_buf b = {0};
  const hdb__column *gcol = group_by ? hdb__schema_column(t->schema, group_by) : NULL;
  hdb__sql_buf_append(&b, "SELECT ");
  if (gcol) {
    hdb__duck_ident(&b, group_by);
    hdb__sql_buf_append(&b, ", ");
  }
  hdb__sql_buf_append(&b, "count(*)"); /* keeps the list non-empty */
  for (size_t a = 0; a < n_aggs; a++) {
    hdb__sql_buf_append(&b, ", ");
    agg_sql(&b, &aggs[a], aggs[a].field ? hdb__schema_column(t->schema, aggs[a].field) : NULL);
  }
  hdb__sql_buf_append(&b, " FROM ");
  hdb__duck_ident(&b, t->name);
  if (where->s) hdb__sql_buf_append(&b, where->s);
  if (gcol) {
    hdb__sql_buf_append(&b, " GROUP BY ");
    hdb__duck_ident(&b, group_by);
    hdb__sql_buf_append(&b, " ORDER BY ");
    hdb__duck_ident(&b, group_by);
    hdb__sql_buf_append(&b, " ASC NULLS FIRST");
  }
  duckdb_result res;
  hdb_status st = hdb__sql_buf_status(&b, err);
  if (st == HDB_OK) st = hdb__duck_run(c, b.s, p->v, p->n, &res, err, "aggregating");
  hdb__sql_buf_free(&b);
  if (st != HDB_OK) return st;
  idx_t ncols = duckdb_column_count(&res);
  hdb__duck_colview *views = hdb__calloc(ncols, sizeof *views);
  if (!views) st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
  idx_t first = gcol ? 2 : 1;
  for (;;) {
    if (st != HDB_OK) break;
    duckdb_data_chunk ch = duckdb_fetch_chunk(res);
    if (!ch) break;
    idx_t n = duckdb_data_chunk_get_size(ch);
    hdb__duck_chunk_views(ch, views, ncols);
    for (idx_t r = 0; st == HDB_OK && r < n; r++) {
      hdb_value g = null_value;
      hdb_record *rec = NULL;
      if (gcol) st = hdb__duck_cell(&views[0], r, gcol->type, &g, group_by, err);
      if (st != HDB_OK) break;
      if (group_record_new(group_by, gcol ? &g : NULL, &rec) != HDB_OK) {
        st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
        break;
      }
      for (size_t a = 0; st == HDB_OK && a < n_aggs; a++) {
        const hdb__column *col = aggs[a].field ? hdb__schema_column(t->schema, aggs[a].field) : NULL;
        hdb_value view, owned;
        char name[8 + HDB_MAX_NAME_LEN + 2];
        agg_name(&aggs[a], name, sizeof name);
        st = agg_cell(&views[first + a], r, &aggs[a], col, &view, err);
        if (st == HDB_OK && (hdb__value_copy(&owned, &view) != HDB_OK ||
                             hdb__record_put_owned(rec, name, &owned) != HDB_OK))
          st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
      }
      if (st == HDB_OK && hdb__rowbuf_push(buf, rec, NAN) != HDB_OK)
        st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
      else if (st != HDB_OK)
        hdb_record_free(rec);
    }
    duckdb_destroy_data_chunk(&ch);
  }
  hdb__free_mem(views);
  duckdb_destroy_result(&res);
  return st;
}

hdb_status hdb__duck_aggregate(void *conn, const char *table, const hdb_agg *aggs,
                               size_t n_aggs, const char *group_by, const hdb__expr *filter,
                               hdb_cursor **out, hdb_error *err) {
  hdb__duck_conn *c = conn;
  *out = NULL;
  hdb_status st = hdb__duck_enter(c, 0, err);
  if (st != HDB_OK) return st;
  hdb__duck_table t;
  if ((st = hdb__duck_table_load(c, table, &t, err)) != HDB_OK) return st;
  hdb__sql_buf where = {0};
  hdb__sql_params p = {0};
  hdb__rowbuf buf = {0};
  int pushed = 0;
  if ((st = check_aggs(&t, aggs, n_aggs, group_by, err)) != HDB_OK) goto done;
  if (filter && (st = hdb__filter_bind(filter, t.schema, table, err)) != HDB_OK) goto done;
  if ((st = hdb__duck_where(&t, filter, &where, &p, &pushed, err)) != HDB_OK) goto done;
  const hdb__column *gcol = group_by && t.schema ? hdb__schema_column(t.schema, group_by) : NULL;
  int sql = pushed && t.schema && (!group_by || gcol->type != HDB_TYPE_JSON);
  if (!sql && pushed) { /* the C fold scans with the filter again */
    hdb__sql_buf_free(&where);
    hdb__sql_params_free(&p);
  }
  if (sql)
    st = aggregate_sql(c, &t, aggs, n_aggs, group_by, &where, &p, &buf, err);
  else
    st = aggregate_in_c(c, &t, aggs, n_aggs, group_by, filter, &buf, err);
  if (st == HDB_OK) st = hdb__rowbuf_cursor(&buf, out, err);
done:
  hdb__rowbuf_free(&buf);
  hdb__sql_buf_free(&where);
  hdb__sql_params_free(&p);
  hdb__duck_table_free(&t);
  return st;
}
