/*
 * pg_aggregate.c - hdb_aggregate on PostgreSQL, with the memory backend's
 * semantics (memory_aggregate.c is the reference).
 *
 * Pushed down when the table has a schema, the filter translates, and the
 * group (if any) is a bool, int, float, text or timestamp column:
 *   SELECT g, <aggs> FROM t WHERE <filter> GROUP BY g ORDER BY g ASC NULLS FIRST
 * (one row without GROUP BY, even over no rows, as in SQL). Per aggregate:
 *   count          count(*) / count(f)
 *   sum  int/bool/timestamp   sum(...)::text -> int64 when it fits, else
 *                  float (PostgreSQL sums bigint as numeric, exactly);
 *        float     sum(f)
 *   avg            sum and count, divided here as memory does
 *   min/max        min/max(f) (text: byte order through COLLATE "C";
 *                  bool: bool_and/bool_or)
 * Otherwise (schemaless tables, filters evaluated here, json groups) the
 * matching rows are streamed and folded here exactly as memory does.
 * Float sums on the server add in the server's row order, so the last bit
 * of a float sum or average may differ from memory's insertion order.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/record.h"
#include "core/schema.h"
#include "core/value.h"

static const char *where_of(const hdb__pg_conn *c) { return hdb__pg_pool_where(c->pool); }

static const char *const op_names[] = {"count", "sum", "avg", "min", "max"};
static const hdb_value null_value = {.type = HDB_TYPE_NULL};

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

static hdb_status check_aggs(const hdb__pg_table *t, const hdb_agg *aggs, size_t n_aggs,
                             const char *group_by, hdb_error *err) {
  for (size_t i = 0; i < n_aggs; i++) {
    const hdb_agg *a = &aggs[i];
    if (!a->field) continue;
    char what[48];
    snprintf(what, sizeof what, "aggregate %zu (%s)", i, op_names[a->op]);
    hdb_status rc = hdb__pg_check_field(t, a->field, 0, 0, what, err);
    if (rc != HDB_OK) return rc;
    if (!t->schema) continue;
    const hdb__column *col = hdb__schema_column(t->schema, a->field);
    if (!op_accepts(a->op, col->type))
      return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': cannot %s column '%s' of type %s",
                       t->name, op_names[a->op], a->field, hdb_type_name(col->type));
  }
  if (group_by) {
    hdb_status rc = hdb__pg_check_field(t, group_by, 0, 0, "group_by", err);
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
  case HDB_TYPE_JSON:
    return hdb__strndup(g->as.text.data, g->as.text.len);
  default:
    return hdb__strdup("");
  }
}

/* Starts a group record: id from g (NULL: the single group), then the
 * group_by field. */
static hdb_record *group_start(const char *group_by, const hdb_value *g) {
  hdb_record *r = hdb_record_new(NULL);
  if (!r) return NULL;
  r->id = g ? group_id(g) : hdb__strdup("");
  if (!r->id) goto fail;
  if (group_by) {
    hdb_value v;
    if (hdb__value_copy(&v, g) != HDB_OK || hdb__record_put_owned(r, group_by, &v) != HDB_OK)
      goto fail;
  }
  return r;
fail:
  hdb_record_free(r);
  return NULL;
}

static void agg_name(const hdb_agg *a, char *name, size_t cap) {
  if (a->field) snprintf(name, cap, "%s_%s", op_names[a->op], a->field);
  else snprintf(name, cap, "count");
}

/* ------------------------------------------------------------------ */
/* Client side (the memory backend's fold)                             */
/* ------------------------------------------------------------------ */

typedef struct acc {
  uint64_t n;
  int64_t isum;
  int overflow;
  double fsum;
  int any_float;
  const hdb_value *min, *max;
} acc;

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
  case HDB_AGG_MIN: return ac->min ? hdb__value_copy(out, ac->min) : HDB_OK;
  case HDB_AGG_MAX: return ac->max ? hdb__value_copy(out, ac->max) : HDB_OK;
  }
  return HDB_OK;
}

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

static hdb_status client_group(const char *table, const hdb_agg *aggs, size_t n_aggs,
                               const char *group_by, const hdb_value *g, const grow *rows,
                               size_t n, hdb__rowbuf *buf, hdb_error *err) {
  hdb_status rc = HDB_OK;
  acc *accs = hdb__calloc(n_aggs, sizeof *accs);
  hdb_record *r = group_start(group_by, g);
  if (!accs || !r) goto nomem;
  for (size_t i = 0; i < n; i++)
    for (size_t a = 0; a < n_aggs; a++) {
      if (!aggs[a].field) {
        accs[a].n++;
        continue;
      }
      rc = fold(&accs[a], aggs[a].op, hdb__record_value(rows[i].rec, aggs[a].field), table,
                aggs[a].field, rows[i].rec, err);
      if (rc != HDB_OK) goto fail;
    }
  for (size_t a = 0; a < n_aggs; a++) {
    char name[8 + HDB_MAX_NAME_LEN + 2];
    agg_name(&aggs[a], name, sizeof name);
    hdb_value v;
    if (result_value(&accs[a], aggs[a].op, &v) != HDB_OK || hdb__record_put_owned(r, name, &v) != HDB_OK)
      goto nomem;
  }
  hdb__free_mem(accs);
  if (hdb__rowbuf_push(buf, r, NAN) != HDB_OK) return hdb__fail(err, HDB_NOMEM, "out of memory aggregating '%s'", table);
  return HDB_OK;
nomem:
  rc = hdb__fail(err, HDB_NOMEM, "out of memory aggregating '%s'", table);
fail:
  hdb__free_mem(accs);
  hdb_record_free(r);
  return rc;
}

typedef struct collect {
  hdb__rowbuf rows;
} collect;

static hdb_status collect_row(void *user, hdb_record *rec, hdb_error *err) {
  collect *cl = user;
  hdb_status st = hdb__rowbuf_push(&cl->rows, rec, NAN);
  return st == HDB_OK ? HDB_OK : hdb__fail(err, st, "out of memory collecting rows");
}

static hdb_status client_side(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t,
                              const hdb_agg *aggs, size_t n_aggs, const char *group_by,
                              const hdb__expr *filter, const hdb__pg_where *w,
                              hdb__rowbuf *buf, hdb_error *err) {
  collect cl = {{0}};
  grow *rows = NULL;
  hdb_status st = hdb__pg_scan(pg, where_of(c), t, filter, w, NULL, collect_row, &cl, err);
  if (st != HDB_OK) goto done;
  size_t n = cl.rows.n;
  rows = hdb__malloc((n ? n : 1) * sizeof *rows);
  if (!rows) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating '%s'", t->name);
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    const hdb_value *g = &null_value;
    if (group_by) {
      const hdb_value *v = hdb__record_value(cl.rows.rows[i], group_by);
      if (v) g = v;
      if (g->type == HDB_TYPE_VECTOR || g->type == HDB_TYPE_BLOB) {
        st = hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': row '%s': cannot group by %s field '%s'",
                       t->name, cl.rows.rows[i]->id, hdb_type_name(g->type), group_by);
        goto done;
      }
    }
    rows[i] = (grow){g, cl.rows.rows[i], i};
  }
  if (!group_by) {
    st = client_group(t->name, aggs, n_aggs, NULL, NULL, rows, n, buf, err);
  } else {
    if (n) qsort(rows, n, sizeof *rows, grow_cmp);
    for (size_t a = 0; a < n && st == HDB_OK;) {
      size_t b = a + 1;
      while (b < n && hdb__value_order(rows[a].g, rows[b].g) == 0) b++;
      st = client_group(t->name, aggs, n_aggs, group_by, rows[a].g, rows + a, b - a, buf, err);
      a = b;
    }
  }
done:
  hdb__free_mem(rows);
  hdb__rowbuf_free(&cl.rows);
  return st;
}

/* ------------------------------------------------------------------ */
/* Pushed down                                                         */
/* ------------------------------------------------------------------ */

/* The numeric text of a sum as a value: int64 when exact, else float. */
static void numeric_value(const char *s, hdb_value *out) {
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno == 0 && *end == '\0' && end != s) {
    out->type = HDB_TYPE_INT;
    out->as.i = v;
    return;
  }
  out->type = HDB_TYPE_FLOAT;
  out->as.f = strtod(s, NULL);
}

/* Appends the sum-as-numeric-text expression of column col. */
static void sum_text_expr(hdb__sql_buf *b, const hdb__column *col, hdb__pg_kind k) {
  if (col->type == HDB_TYPE_BOOL) {
    hdb__sql_buf_append(b, "sum(");
    hdb__sql_buf_ident(b, col->name);
    hdb__sql_buf_append(b, "::int)::text");
  } else if (col->type == HDB_TYPE_TIMESTAMP && k != HDB__PGK_TS_INT8) {
    hdb__sql_buf_append(b, "sum((EXTRACT(EPOCH FROM ");
    hdb__sql_buf_ident(b, col->name);
    hdb__sql_buf_append(b, ") * 1000000)::bigint)::text");
  } else {
    hdb__sql_buf_append(b, "sum(");
    hdb__sql_buf_ident(b, col->name);
    hdb__sql_buf_append(b, ")::text");
  }
}

static hdb_status pushed(hdb__pg_conn *c, PGconn *pg, const hdb__pg_table *t, const hdb_agg *aggs,
                         size_t n_aggs, const char *group_by, const hdb__pg_where *w,
                         hdb__rowbuf *buf, hdb_error *err) {
  hdb__sql_buf b = {0};
  hdb__pg_params p = {0};
  PGresult *res = NULL;
  hdb_status st = HDB_OK;
  const hdb__column *gcol = group_by ? hdb__schema_column(t->schema, group_by) : NULL;
  hdb__sql_buf_append(&b, "SELECT ");
  if (gcol) hdb__sql_buf_ident(&b, gcol->name);
  else hdb__sql_buf_append(&b, "NULL");
  for (size_t a = 0; a < n_aggs; a++) {
    hdb__sql_buf_append(&b, ", ");
    if (!aggs[a].field) {
      hdb__sql_buf_append(&b, "count(*)");
      continue;
    }
    const hdb__column *col = hdb__schema_column(t->schema, aggs[a].field);
    hdb__pg_kind k = t->kinds[col - t->schema->cols];
    switch (aggs[a].op) {
    case HDB_AGG_COUNT:
      hdb__sql_buf_append(&b, "count(");
      hdb__sql_buf_ident(&b, col->name);
      hdb__sql_buf_append(&b, ")");
      break;
    case HDB_AGG_SUM:
    case HDB_AGG_AVG:
      if (col->type == HDB_TYPE_FLOAT) {
        hdb__sql_buf_append(&b, "sum(");
        hdb__sql_buf_ident(&b, col->name);
        hdb__sql_buf_append(&b, ")");
      } else {
        sum_text_expr(&b, col, k);
      }
      hdb__sql_buf_append(&b, ", count(");
      hdb__sql_buf_ident(&b, col->name);
      hdb__sql_buf_append(&b, ")");
      break;
    case HDB_AGG_MIN:
    case HDB_AGG_MAX:
      if (col->type == HDB_TYPE_BOOL)
        hdb__sql_buf_append(&b, aggs[a].op == HDB_AGG_MIN ? "bool_and(" : "bool_or(");
      else
        hdb__sql_buf_append(&b, aggs[a].op == HDB_AGG_MIN ? "min(" : "max(");
      hdb__sql_buf_ident(&b, col->name);
      hdb__sql_buf_append(&b, ")");
      break;
    }
  }
  hdb__sql_buf_append(&b, " FROM ");
  hdb__sql_buf_ident(&b, t->pgname);
  hdb__sql_buf_append(&b, " WHERE ");
  hdb__sql_buf_append(&b, w->sql.s);
  if (gcol) {
    hdb__sql_buf_append(&b, " GROUP BY 1 ORDER BY 1 ASC NULLS FIRST");
  }
  if ((st = hdb__sql_buf_status(&b, err)) != HDB_OK) goto done;
  hdb__pg_params_from_sql(&p, &w->params);
  res = p.oom ? NULL : hdb__pg_exec(pg, b.s, &p);
  st = hdb__pg_check(pg, res, PGRES_TUPLES_OK, where_of(c), "aggregating", err);
  if (st != HDB_OK) {
    res = NULL;
    goto done;
  }
  for (int r = 0; r < PQntuples(res) && st == HDB_OK; r++) {
    hdb_value g = null_value;
    if (gcol && (st = hdb__pg_decode(res, r, 0, gcol->type, gcol->dim, &g, err)) != HDB_OK) break;
    hdb_record *rec = group_start(group_by, gcol ? &g : NULL);
    hdb__value_release(&g);
    if (!rec) goto nomem;
    int ci = 1;
    for (size_t a = 0; a < n_aggs && st == HDB_OK; a++) {
      char name[8 + HDB_MAX_NAME_LEN + 2];
      agg_name(&aggs[a], name, sizeof name);
      hdb_value v = null_value;
      const hdb__column *col = aggs[a].field ? hdb__schema_column(t->schema, aggs[a].field) : NULL;
      if (!col || aggs[a].op == HDB_AGG_COUNT) {
        st = hdb__pg_decode(res, r, ci++, HDB_TYPE_INT, 0, &v, err);
      } else if (aggs[a].op == HDB_AGG_SUM || aggs[a].op == HDB_AGG_AVG) {
        int sc = ci++, cc = ci++;
        if (!PQgetisnull(res, r, sc)) {
          hdb_value cnt = null_value, sum = null_value;
          st = hdb__pg_decode(res, r, cc, HDB_TYPE_INT, 0, &cnt, err);
          if (st == HDB_OK && col->type == HDB_TYPE_FLOAT)
            st = hdb__pg_decode(res, r, sc, HDB_TYPE_FLOAT, 0, &sum, err);
          else if (st == HDB_OK)
            numeric_value(PQgetvalue(res, r, sc), &sum);
          if (st == HDB_OK) {
            if (aggs[a].op == HDB_AGG_SUM) {
              v = sum;
            } else {
              v.type = HDB_TYPE_FLOAT;
              v.as.f = (sum.type == HDB_TYPE_INT ? (double)sum.as.i : sum.as.f) / (double)cnt.as.i;
            }
          }
        }
      } else {
        st = hdb__pg_decode(res, r, ci++, col->type, col->dim, &v, err);
      }
      if (st == HDB_OK && hdb__record_put_owned(rec, name, &v) != HDB_OK) {
        hdb_record_free(rec);
        goto nomem;
      }
    }
    if (st != HDB_OK) {
      hdb_record_free(rec);
      break;
    }
    if (hdb__rowbuf_push(buf, rec, NAN) != HDB_OK) goto nomem;
  }
  goto done;
nomem:
  st = hdb__fail(err, HDB_NOMEM, "out of memory aggregating '%s'", t->name);
done:
  PQclear(res);
  hdb__sql_buf_free(&b);
  hdb__pg_params_free(&p);
  return st;
}

hdb_status hdb__pg_aggregate(void *conn, const char *table, const hdb_agg *aggs, size_t n_aggs,
                             const char *group_by, const hdb__expr *filter, hdb_cursor **out,
                             hdb_error *err) {
  hdb__pg_conn *c = conn;
  *out = NULL;
  PGconn *pg;
  hdb_status st = hdb__pg_enter(c, &pg, err);
  if (st != HDB_OK) return st;
  hdb__pg_table t;
  hdb__pg_where w;
  memset(&w, 0, sizeof w);
  hdb__rowbuf buf = {0};
  st = hdb__pg_table_load(pg, where_of(c), table, &t, err);
  if (st != HDB_OK) goto out;
  if ((st = check_aggs(&t, aggs, n_aggs, group_by, err)) != HDB_OK) goto done;
  if ((st = hdb__pg_where_build(&t, filter, &w, err)) != HDB_OK) goto done;
  int push = t.schema && !w.client;
  if (push && group_by) {
    hdb_type gt = hdb__schema_column(t.schema, group_by)->type;
    push = gt == HDB_TYPE_BOOL || gt == HDB_TYPE_INT || gt == HDB_TYPE_FLOAT ||
           gt == HDB_TYPE_TEXT || gt == HDB_TYPE_TIMESTAMP;
  }
  if (push) st = pushed(c, pg, &t, aggs, n_aggs, group_by, &w, &buf, err);
  else st = client_side(c, pg, &t, aggs, n_aggs, group_by, filter, &w, &buf, err);
  if (st == HDB_OK) st = hdb__rowbuf_cursor(&buf, out, err);
done:
  hdb__pg_table_free(&t);
out:
  hdb__rowbuf_free(&buf);
  hdb__pg_where_free(&w);
  st = hdb__pg_leave(c, pg, st, err);
  if (st != HDB_OK && *out) {
    hdb_cursor_close(*out);
    *out = NULL;
  }
  return st;
}
