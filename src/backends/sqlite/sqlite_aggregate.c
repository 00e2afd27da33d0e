/*
 * sqlite_aggregate.c - hdb_aggregate for the sqlite:// backend, with the
 * memory backend's semantics (memory_aggregate.c is the reference).
 *
 * On a typed table whose filter translates, one statement does the work:
 *
 *   SELECT "g", count(*), count("x"), sum("x"), CAST(sum("x") AS REAL) / count("x"),
 *          avg("y"), min("t"), max("t") FROM "t" WHERE <filter>
 *   GROUP BY "g" ORDER BY "g" ASC NULLS FIRST
 *
 * sum of bool/int/timestamp columns is SQLite's exact integer sum (an
 * int, as the API says); an average of those divides that exact sum; min
 * and max come back in the column's type. SQLite stops an integer sum
 * that overflows int64 with an error; the memory backend then falls back
 * to a float sum, so on that error (and for schemaless tables, and for
 * filters that do not translate) the rows are read and folded here, by
 * the same rules as the memory backend: rows sorted by (group value by
 * hdb__value_order, rowid order), null group first.
 *
 * Result records: id = the group value as text ("" for the single group,
 * "null" for the null group), the group_by field, then "count" or
 * "<op>_<field>" per aggregate.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/value.h"

static const char *const op_names[] = {"count", "sum", "avg", "min", "max"};
static const hdb_value null_value = {.type = HDB_TYPE_NULL};

static int op_accepts(hdb_agg_op op, hdb_type t) {
  switch (t) {
  case HDB_TYPE_BOOL:
  case HDB_TYPE_INT:
  case HDB_TYPE_FLOAT:
  case HDB_TYPE_TIMESTAMP: return 1;
  case HDB_TYPE_TEXT: return op == HDB_AGG_COUNT || op == HDB_AGG_MIN || op == HDB_AGG_MAX;
  default: return 0;
  }
}

static hdb_status check_aggs(const hdb__sq_table *t, const hdb_agg *aggs, size_t n_aggs,
                             const char *group_by, hdb_error *err) {
  for (size_t i = 0; i < n_aggs; i++) {
    const hdb_agg *a = &aggs[i];
    if ((int)a->op < (int)HDB_AGG_COUNT || (int)a->op > (int)HDB_AGG_MAX)
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s': aggregate %zu has unknown op %d", t->name,
                       i, (int)a->op);
    if (!a->field) {
      if (a->op == HDB_AGG_COUNT) continue;
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s': aggregate %zu (%s) needs a field", t->name,
                       i, op_names[a->op]);
    }
    char what[48];
    snprintf(what, sizeof what, "aggregate %zu (%s)", i, op_names[a->op]);
    hdb_status rc = hdb__sq_check_field(t, a->field, 0, 0, what, err);
    if (rc != HDB_OK) return rc;
    if (!t->schema) continue;
    const hdb__column *col = hdb__schema_column(t->schema, a->field);
    if (!col) return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (%s)", t->name, a->field, what);
    if (!op_accepts(a->op, col->type))
      return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': cannot %s column '%s' of type %s", t->name,
                       op_names[a->op], a->field, hdb_type_name(col->type));
  }
  if (group_by) {
    hdb_status rc = hdb__sq_check_field(t, group_by, 0, 0, "group_by", err);
    if (rc != HDB_OK) return rc;
    if (t->schema) {
      const hdb__column *col = hdb__schema_column(t->schema, group_by);
      if (!col) return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s' (group_by)", t->name, group_by);
      if (col->type == HDB_TYPE_VECTOR || col->type == HDB_TYPE_BLOB)
        return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': cannot group by %s column '%s'", t->name,
                         hdb_type_name(col->type), group_by);
    }
  }
  return HDB_OK;
}

/* The group value as text for the record id; owned, NULL on OOM. */
static char *group_id(const hdb_value *g) {
  char buf[64];
  switch (g->type) {
  case HDB_TYPE_NULL: return hdb__strdup("null");
  case HDB_TYPE_BOOL: return hdb__strdup(g->as.boolean ? "true" : "false");
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
  case HDB_TYPE_JSON: return hdb__strndup(g->as.text.data, g->as.text.len);
  default: return hdb__strdup("");
  }
}

static void agg_name(const hdb_agg *a, char *name, size_t cap) {
  if (a->field)
    snprintf(name, cap, "%s_%s", op_names[a->op], a->field);
  else
    snprintf(name, cap, "count");
}

/* ------------------------------------------------------------------ */
/* In SQL                                                              */
/* ------------------------------------------------------------------ */

/* A value of column col's type (or int/float for counts and sums) read
 * from result column i. */
static hdb_status result_col(sqlite3_stmt *st, int i, hdb_type type, hdb_value *v) {
  memset(v, 0, sizeof *v);
  v->type = HDB_TYPE_NULL;
  int ct = sqlite3_column_type(st, i);
  if (ct == SQLITE_NULL) return HDB_OK;
  switch (type) {
  case HDB_TYPE_BOOL: v->type = type; v->as.boolean = sqlite3_column_int64(st, i) != 0; return HDB_OK;
  case HDB_TYPE_INT: v->type = type; v->as.i = sqlite3_column_int64(st, i); return HDB_OK;
  case HDB_TYPE_FLOAT: v->type = type; v->as.f = sqlite3_column_double(st, i); return HDB_OK;
  case HDB_TYPE_TIMESTAMP: v->type = type; v->as.timestamp_us = sqlite3_column_int64(st, i); return HDB_OK;
  case HDB_TYPE_TEXT:
  case HDB_TYPE_JSON: {
    const unsigned char *p = sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    char *d = hdb__strndup(p ? (const char *)p : "", n);
    if (!d) return HDB_NOMEM;
    v->type = type;
    v->as.text.data = d;
    v->as.text.len = n;
    return HDB_OK;
  }
  default: return HDB_OK;
  }
}

/* Runs the aggregate as SQL. HDB_NOT_SUPPORTED (nothing built) when the
 * filter does not translate or an integer sum overflowed. */
static hdb_status agg_sql(hdb__sq_conn *c, const hdb__sq_table *t, const hdb_agg *aggs, size_t n_aggs,
                          const char *group_by, const hdb__expr *filter, hdb__rowbuf *out,
                          hdb_error *err) {
  hdb__sql_buf b = {0}, w = {0};
  hdb__sql_params p = {0};
  sqlite3_stmt *st = NULL;
  int pushed;
  hdb_status s = hdb__sq_where(t, filter, " WHERE ", &w, &p, &pushed, err);
  if (s != HDB_OK || !pushed) {
    hdb__sql_buf_free(&w);
    return s != HDB_OK ? s : HDB_NOT_SUPPORTED;
  }
  const hdb__column *gcol = group_by ? hdb__schema_column(t->schema, group_by) : NULL;
  hdb__sql_buf_append(&b, "SELECT ");
  if (gcol) hdb__sql_buf_name(&b, HDB__SQL_SQLITE, group_by);
  else hdb__sql_buf_append(&b, "NULL");
  for (size_t i = 0; i < n_aggs; i++) {
    const hdb_agg *a = &aggs[i];
    hdb__sql_buf_append(&b, ", ");
    if (!a->field) {
      hdb__sql_buf_append(&b, a->op == HDB_AGG_COUNT ? "count(*)" : "NULL");
      continue;
    }
    const hdb__column *col = hdb__schema_column(t->schema, a->field);
    int is_float = col->type == HDB_TYPE_FLOAT;
    switch (a->op) {
    case HDB_AGG_COUNT: hdb__sql_buf_append(&b, "count("); break;
    case HDB_AGG_SUM: hdb__sql_buf_append(&b, "sum("); break;
    case HDB_AGG_AVG: hdb__sql_buf_append(&b, is_float ? "avg(" : "CAST(sum("); break;
    case HDB_AGG_MIN: hdb__sql_buf_append(&b, "min("); break;
    case HDB_AGG_MAX: hdb__sql_buf_append(&b, "max("); break;
    }
    hdb__sql_buf_name(&b, HDB__SQL_SQLITE, a->field);
    if (a->op == HDB_AGG_AVG && !is_float) {
      hdb__sql_buf_append(&b, ") AS REAL) / count(");
      hdb__sql_buf_name(&b, HDB__SQL_SQLITE, a->field);
    }
    hdb__sql_buf_append(&b, ")");
  }
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, t->name);
  if (w.s) hdb__sql_buf_append(&b, w.s);
  if (gcol) {
    hdb__sql_buf_append(&b, " GROUP BY ");
    hdb__sql_buf_name(&b, HDB__SQL_SQLITE, group_by);
    hdb__sql_buf_append(&b, " ORDER BY ");
    hdb__sql_buf_name(&b, HDB__SQL_SQLITE, group_by);
    hdb__sql_buf_append(&b, " ASC NULLS FIRST");
  }
  s = hdb__sql_buf_status(&b, err);
  if (s == HDB_OK) s = hdb__sq_prepare(c, b.s, &st, err);
  if (s != HDB_OK) goto done;
  int rc = hdb__sq_bind_params(st, &p, 1);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    rc = SQLITE_OK;
    hdb_value g = null_value;
    hdb_record *r = hdb_record_new(NULL);
    if (!r || (gcol && result_col(st, 0, gcol->type, &g) != HDB_OK)) {
      hdb_record_free(r);
      goto nomem;
    }
    r->id = gcol ? group_id(&g) : hdb__strdup("");
    if (!r->id || (gcol && hdb__record_put_owned(r, group_by, &g) != HDB_OK)) {
      hdb__value_release(&g);
      hdb_record_free(r);
      goto nomem;
    }
    for (size_t i = 0; i < n_aggs; i++) {
      const hdb_agg *a = &aggs[i];
      hdb_type type = HDB_TYPE_INT;
      if (a->field) {
        hdb_type ct = hdb__schema_column(t->schema, a->field)->type;
        if (a->op == HDB_AGG_AVG) type = HDB_TYPE_FLOAT;
        else if (a->op == HDB_AGG_SUM) type = ct == HDB_TYPE_FLOAT ? HDB_TYPE_FLOAT : HDB_TYPE_INT;
        else if (a->op != HDB_AGG_COUNT) type = ct;
      }
      char name[8 + HDB_MAX_NAME_LEN + 2];
      agg_name(a, name, sizeof name);
      hdb_value v;
      if (result_col(st, 1 + (int)i, type, &v) != HDB_OK || hdb__record_put_owned(r, name, &v) != HDB_OK) {
        hdb_record_free(r);
        goto nomem;
      }
    }
    if (hdb__rowbuf_push(out, r, NAN) != HDB_OK) goto nomem;
  }
  if (rc != SQLITE_DONE) {
    if ((rc & 0xff) == SQLITE_ERROR && strstr(sqlite3_errmsg(c->db), "integer overflow")) {
      hdb__rowbuf_free(out);
      s = HDB_NOT_SUPPORTED;
    } else {
      s = hdb__sq_fail(c, rc, err, "aggregating table '%s'", t->name);
    }
  }
  goto done;
nomem:
  s = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
done:
  hdb__sq_done(c, st);
  hdb__sql_params_free(&p);
  hdb__sql_buf_free(&w);
  hdb__sql_buf_free(&b);
  return s;
}

/* ------------------------------------------------------------------ */
/* In memory (the memory backend's rules)                              */
/* ------------------------------------------------------------------ */

typedef struct acc {
  uint64_t n;
  int64_t isum;
  int overflow;
  double fsum;
  int any_float;
  const hdb_value *min, *max;
} acc;

typedef struct grow {
  const hdb_value *g;
  const hdb_record *rec;
  size_t seq;
} grow;

static int grow_cmp(const void *pa, const void *pb) {
  const grow *a = pa, *b = pb;
  int c = hdb__value_order(a->g, b->g);
  if (c) return c;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static hdb_status fold(acc *ac, hdb_agg_op op, const hdb_value *v, const char *table, const char *field,
                       const hdb_record *rec, hdb_error *err) {
  if (!v || v->type == HDB_TYPE_NULL) return HDB_OK;
  if (!op_accepts(op, v->type))
    return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': row '%s': cannot %s field '%s' of type %s", table,
                     rec->id, op_names[op], field, hdb_type_name(v->type));
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
      iv = v->type == HDB_TYPE_BOOL ? (v->as.boolean != 0) : v->type == HDB_TYPE_INT ? v->as.i : v->as.timestamp_us;
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
  case HDB_AGG_COUNT: break;
  }
  return HDB_OK;
}

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
    out->as.f = (ac->any_float || ac->overflow) ? ac->fsum / (double)ac->n : (double)ac->isum / (double)ac->n;
    return HDB_OK;
  case HDB_AGG_MIN: return ac->min ? hdb__value_copy(out, ac->min) : HDB_OK;
  case HDB_AGG_MAX: return ac->max ? hdb__value_copy(out, ac->max) : HDB_OK;
  }
  return HDB_OK;
}

static hdb_status group_record(const char *table, const hdb_agg *aggs, size_t n_aggs, const char *group_by,
                               const hdb_value *g, const grow *rows, size_t n, hdb_record **out,
                               hdb_error *err) {
  hdb_status rc = HDB_OK;
  *out = NULL;
  acc *accs = NULL;
  hdb_record *r = hdb_record_new(NULL);
  if (!r) goto nomem;
  r->id = g ? group_id(g) : hdb__strdup("");
  if (!r->id) goto nomem;
  if (n_aggs && !(accs = hdb__calloc(n_aggs, sizeof *accs))) goto nomem;
  for (size_t i = 0; i < n; i++) {
    for (size_t a = 0; a < n_aggs; a++) {
      if (!aggs[a].field) {
        accs[a].n++;
        continue;
      }
      rc = fold(&accs[a], aggs[a].op, hdb__record_value(rows[i].rec, aggs[a].field), table, aggs[a].field,
                rows[i].rec, err);
      if (rc != HDB_OK) goto fail;
    }
  }
  if (group_by) {
    hdb_value v;
    if (hdb__value_copy(&v, g) != HDB_OK || hdb__record_put_owned(r, group_by, &v) != HDB_OK) goto nomem;
  }
  for (size_t a = 0; a < n_aggs; a++) {
    char name[8 + HDB_MAX_NAME_LEN + 2];
    agg_name(&aggs[a], name, sizeof name);
    hdb_value v;
    if (result_value(&accs[a], aggs[a].op, &v) != HDB_OK || hdb__record_put_owned(r, name, &v) != HDB_OK)
      goto nomem;
  }
  hdb__free_mem(accs);
  *out = r;
  return HDB_OK;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", table);
fail:
  hdb__free_mem(accs);
  hdb_record_free(r);
  return rc;
}

static hdb_status agg_scan(hdb__sq_conn *c, const hdb__sq_table *t, const hdb_agg *aggs, size_t n_aggs,
                           const char *group_by, const hdb__expr *filter, hdb__rowbuf *out,
                           hdb_error *err) {
  hdb__rowbuf rows = {0};
  hdb__sql_buf b = {0};
  hdb__sql_params p = {0};
  sqlite3_stmt *st = NULL;
  grow *gr = NULL;
  int pushed;
  hdb_record *rec;
  hdb__sql_buf_append(&b, "SELECT ");
  hdb__sq_select_list(&b, t);
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_name(&b, HDB__SQL_SQLITE, t->name);
  hdb_status s = hdb__sq_where(t, filter, " WHERE ", &b, &p, &pushed, err);
  hdb__sql_buf_append(&b, " ORDER BY rowid");
  if (s == HDB_OK) s = hdb__sql_buf_status(&b, err);
  if (s == HDB_OK) s = hdb__sq_prepare(c, b.s, &st, err);
  if (s != HDB_OK) goto done;
  int rc = hdb__sq_bind_params(st, &p, 1);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    rc = SQLITE_OK;
    s = hdb__sq_row_record(t, st, 0, &rec, err);
    if (s != HDB_OK) goto done;
    int m = 1;
    if (!pushed) s = hdb__filter_eval(filter, rec, &m, err);
    if (s != HDB_OK || !m) {
      hdb_record_free(rec);
      if (s != HDB_OK) goto done;
      continue;
    }
    if (hdb__rowbuf_push(&rows, rec, NAN) != HDB_OK) goto nomem;
  }
  if (rc != SQLITE_DONE) {
    s = hdb__sq_fail(c, rc, err, "aggregating table '%s'", t->name);
    goto done;
  }
  if (rows.n && !(gr = hdb__malloc(rows.n * sizeof *gr))) goto nomem;
  for (size_t i = 0; i < rows.n; i++) {
    const hdb_value *g = &null_value;
    if (group_by) {
      const hdb_value *v = hdb__record_value(rows.rows[i], group_by);
      if (v) g = v;
      if (g->type == HDB_TYPE_VECTOR || g->type == HDB_TYPE_BLOB) {
        s = hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': row '%s': cannot group by %s field '%s'", t->name,
                      rows.rows[i]->id, hdb_type_name(g->type), group_by);
        goto done;
      }
    }
    gr[i].g = g;
    gr[i].rec = rows.rows[i];
    gr[i].seq = i;
  }
  if (!group_by) {
    s = group_record(t->name, aggs, n_aggs, NULL, NULL, gr, rows.n, &rec, err);
    if (s != HDB_OK) goto done;
    if (hdb__rowbuf_push(out, rec, NAN) != HDB_OK) goto nomem;
  } else {
    if (rows.n) qsort(gr, rows.n, sizeof *gr, grow_cmp);
    for (size_t a = 0; a < rows.n;) {
      size_t e = a + 1;
      while (e < rows.n && hdb__value_order(gr[a].g, gr[e].g) == 0) e++;
      s = group_record(t->name, aggs, n_aggs, group_by, gr[a].g, gr + a, e - a, &rec, err);
      if (s != HDB_OK) goto done;
      if (hdb__rowbuf_push(out, rec, NAN) != HDB_OK) goto nomem;
      a = e;
    }
  }
  goto done;
nomem:
  s = hdb__fail(err, HDB_NOMEM, "out of memory aggregating table '%s'", t->name);
done:
  hdb__sq_done(c, st);
  hdb__free_mem(gr);
  hdb__rowbuf_free(&rows);
  hdb__sql_params_free(&p);
  hdb__sql_buf_free(&b);
  return s;
}

hdb_status hdb__sq_aggregate(void *conn, const char *table, const hdb_agg *aggs, size_t n_aggs,
                             const char *group_by, const hdb__expr *filter, hdb_cursor **out,
                             hdb_error *err) {
  hdb__sq_conn *c = conn;
  *out = NULL;
  const hdb__sq_table *t;
  hdb_status s = hdb__sq_table_get(c, table, &t, err);
  if (s == HDB_OK) s = check_aggs(t, aggs, n_aggs, group_by, err);
  if (s == HDB_OK && filter) s = hdb__filter_bind(filter, t->schema, table, err);
  if (s != HDB_OK) return s;
  hdb__rowbuf buf = {0};
  s = t->schema ? agg_sql(c, t, aggs, n_aggs, group_by, filter, &buf, err) : HDB_NOT_SUPPORTED;
  if (s == HDB_NOT_SUPPORTED) s = agg_scan(c, t, aggs, n_aggs, group_by, filter, &buf, err);
  if (s == HDB_OK) s = hdb__rowbuf_cursor(&buf, out, err);
  hdb__rowbuf_free(&buf);
  return s;
}
