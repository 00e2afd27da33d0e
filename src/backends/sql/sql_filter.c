/*
 * sql_filter.c - a filter tree (core/filter.h) as a parameterized SQL
 * boolean expression, for SQLite, PostgreSQL and DuckDB, giving exactly
 * the answer of core's evaluator (hdb__filter_match), or HDB_NOT_SUPPORTED
 * so that the backend evaluates instead.
 *
 * How the evaluator's rules map to SQL (filter_eval.c lists the rules):
 *
 *  - Three-valued logic: every node becomes an expression that is TRUE,
 *    FALSE or NULL (unknown), and AND/OR/NOT are SQL's, which are the
 *    evaluator's. A comparison the evaluator calls unknown whatever the row
 *    holds (a literal of a type the operand never compares with, a path
 *    that can never be present) becomes the constant NULL.
 *  - Operands. A path is one of:
 *      column   a typed column (or "id"): its SQL type is fixed, so each
 *               literal either compares (bound as a parameter) or is NULL;
 *      dynamic  a value inside a JSON document (a dotted path into a json
 *               column, or any field of a schemaless table's document):
 *               its type varies per row, so the expression is a CASE over
 *               the dialect's JSON type of the value, with one arm per
 *               class of value a literal can compare with (numbers, text,
 *               bools, and for schemaless fields timestamps, stored as
 *               {"$ts":us}); any other type (null, object, array, absent)
 *               falls to the CASE's implicit ELSE NULL, which is exactly
 *               "unknown". So a json string "5" never equals 5.
 *      absent   a path that cannot exist (a column the table lacks, a
 *               dotted path into a non-json column): IS NULL is TRUE,
 *               EXISTS is FALSE, everything else unknown.
 *  - IN: `v IN (p1, p2, NULL)`, with NULL added when some literal is null
 *    or of another class: SQL's IN is then TRUE on a match, else unknown,
 *    as the evaluator's. BETWEEN: (v >= lo AND v <= hi), a side that
 *    cannot compare being NULL. NOT IN / NOT BETWEEN / NOT LIKE wrap NOT
 *    around it, which keeps unknown unknown.
 *  - LIKE (case-sensitive, `\` escapes, `_` = one UTF-8 character, a
 *    trailing lone `\` matching a backslash): SQLite gets the pattern
 *    translated to GLOB (case-sensitive, `?` = one character); Postgres
 *    and DuckDB get LIKE ... ESCAPE '\' with a trailing lone backslash
 *    doubled.
 *  - Numbers compare by value across int and float. SQLite compares int
 *    and real exactly. Postgres and DuckDB convert bigint to double when
 *    one side is double; that conversion is monotonic, so order against a
 *    non-integral double is kept; an integral double literal is bound as
 *    an int; what would still be inexact (|literal| beyond 2^53 against a
 *    double, or beyond the int64 range) is HDB_NOT_SUPPORTED there.
 *  - JSON paths look inside objects only: SQLite and DuckDB paths are
 *    $."a"."b" (bound as one text parameter; a segment holding '"', '\'
 *    or a control character cannot be written that way and is
 *    HDB_NOT_SUPPORTED); Postgres chains -> with text keys, which yields
 *    NULL on arrays.
 *  - Postgres placeholders carry a cast (::bigint, ::float8, ::text,
 *    ::boolean, ::numeric) so the backend may bind every parameter as text.
 */
#include <math.h>
#include <string.h>

#include "backends/sql/sql.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/schema.h"
#include "core/value.h"

/* Classes of values a literal may compare with. */
typedef enum vclass { C_NONE = 0, C_NUM, C_TEXT, C_BOOL, C_TS } vclass;

typedef enum okind { K_ABSENT, K_COLUMN, K_DYN } okind;

typedef struct opnd {
  okind kind;
  vclass cls;       /* K_COLUMN: its class (C_NONE: json, blob, vector) */
  hdb_type ctype;   /* K_COLUMN: the column's type */
  const char *col;  /* K_COLUMN: the column; K_DYN: the json container column */
  const char **segs; /* K_DYN: object keys inside col (owned array, borrowed strings) */
  size_t n_segs;
  int wrapped_top;  /* K_DYN: a schemaless field, whose objects may be {"$ts":..} */
  int key_exists;   /* K_DYN: EXISTS means the key is present (dotted paths) */
} opnd;

typedef struct tctx {
  const hdb_schema *s;
  const char *doc;
  hdb__sql_dialect d;
  hdb__sql_buf *b;
  hdb__sql_params *p;
  const char *unsupported; /* why not, once some node cannot be translated */
} tctx;

static void app(tctx *t, const char *s) { hdb__sql_buf_append(t->b, s); }

static void lit_true(tctx *t) { app(t, t->d == HDB__SQL_SQLITE ? "1" : "TRUE"); }
static void lit_false(tctx *t) { app(t, t->d == HDB__SQL_SQLITE ? "0" : "FALSE"); }
static void lit_null(tctx *t) {
  app(t, t->d == HDB__SQL_SQLITE ? "NULL" : t->d == HDB__SQL_POSTGRES ? "NULL::boolean" : "NULL::BOOLEAN");
}

static void unsupported(tctx *t, const char *why) {
  if (!t->unsupported) t->unsupported = why;
}

/* ------------------------------------------------------------------ */
/* Literals                                                            */
/* ------------------------------------------------------------------ */

/* A text literal as a timestamp: the parser's parse (ts), or our own
 * when the tree was built by hand. */
static int lit_ts(const hdb__expr *e, size_t i, int64_t *us) {
  const hdb_value *v = &e->values[i];
  if (v->type != HDB_TYPE_TEXT) return 0;
  if (e->ts) {
    if (!e->ts[i].ok) return 0;
    *us = e->ts[i].us;
    return 1;
  }
  return hdb__timestamp_parse(v->as.text.data, v->as.text.len, us) == 0;
}

/* Does literal i compare with values of class c? */
static int fits(const hdb__expr *e, size_t i, vclass c) {
  const hdb_value *v = &e->values[i];
  int64_t us;
  switch (c) {
  case C_NUM: return v->type == HDB_TYPE_INT || v->type == HDB_TYPE_FLOAT;
  case C_TEXT: return v->type == HDB_TYPE_TEXT;
  case C_BOOL: return v->type == HDB_TYPE_BOOL;
  case C_TS: return v->type == HDB_TYPE_INT || lit_ts(e, i, &us);
  case C_NONE: return 0;
  }
  return 0;
}

/* Appends literal i as a parameter for a comparison with class c.
 * float_side: the other side is a double in a dialect that compares
 * bigint with double through double (Postgres, DuckDB). */
static void emit_lit(tctx *t, const hdb__expr *e, size_t i, vclass c, int numeric_side,
                     int float_side) {
  const hdb_value *v = &e->values[i];
  int pg = t->d == HDB__SQL_POSTGRES;
  if (c == C_TS) {
    int64_t us = 0;
    if (v->type == HDB_TYPE_INT) us = v->as.i;
    else lit_ts(e, i, &us);
    hdb__sql_param_int(t->b, t->p, t->d, us);
    if (pg) app(t, "::bigint");
    return;
  }
  if (c == C_NUM) {
    if (v->type == HDB_TYPE_FLOAT) {
      double f = v->as.f;
      if (f == floor(f) && f >= -9223372036854775808.0 && f < 9223372036854775808.0) {
        /* Integral: an int compares exactly in every dialect. */
        int64_t i64 = (int64_t)f;
        if (t->d != HDB__SQL_SQLITE && float_side && (i64 > (1LL << 53) || i64 < -(1LL << 53))) {
          unsupported(t, "a large integral number compared with a float value");
          lit_null(t);
          return;
        }
        hdb__sql_param_int(t->b, t->p, t->d, i64);
        if (pg) app(t, numeric_side ? "::numeric" : "::bigint");
        return;
      }
      if (t->d != HDB__SQL_SQLITE && f == floor(f)) {
        unsupported(t, "a number beyond the int64 range");
        lit_null(t);
        return;
      }
      hdb__sql_param(t->b, t->p, t->d, v);
      if (pg) app(t, "::float8");
      return;
    }
    if (t->d != HDB__SQL_SQLITE && float_side && (v->as.i > (1LL << 53) || v->as.i < -(1LL << 53))) {
      unsupported(t, "an integer beyond 2^53 compared with a float value");
      lit_null(t);
      return;
    }
    hdb__sql_param(t->b, t->p, t->d, v);
    if (pg) app(t, numeric_side ? "::numeric" : "::bigint");
    return;
  }
  hdb__sql_param(t->b, t->p, t->d, v);
  if (pg) app(t, c == C_BOOL ? "::boolean" : "::text");
}

/* ------------------------------------------------------------------ */
/* JSON access, per dialect                                            */
/* ------------------------------------------------------------------ */

static int seg_writable(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p == '"' || *p == '\\' || *p < 0x20) return 0;
  return 1;
}

/* SQLite / DuckDB: `"col", ?` with the path $."a"."b"[."extra"]. */
static void emit_doc_path(tctx *t, const opnd *o, const char *extra) {
  hdb__sql_buf path = {0};
  hdb__sql_buf_append(&path, "$");
  for (size_t i = 0; i < o->n_segs; i++) {
    if (!seg_writable(o->segs[i])) unsupported(t, "a json key with '\"', '\\' or a control character");
    hdb__sql_buf_appendf(&path, ".\"%s\"", o->segs[i]);
  }
  if (extra) hdb__sql_buf_appendf(&path, ".\"%s\"", extra);
  hdb__sql_buf_name(t->b, t->d, o->col);
  app(t, ", ");
  if (path.oom) {
    t->b->oom = 1;
  } else {
    hdb__sql_param_textn(t->b, t->p, t->d, path.s, path.len);
  }
  hdb__sql_buf_free(&path);
}

/* Postgres: ("col"->$1::text->$2::text[->'extra']), a json value or NULL. */
static void emit_pg_node(tctx *t, const opnd *o, const char *extra) {
  app(t, "(");
  hdb__sql_buf_name(t->b, t->d, o->col);
  for (size_t i = 0; i < o->n_segs; i++) {
    app(t, "->");
    hdb__sql_param_textn(t->b, t->p, t->d, o->segs[i], strlen(o->segs[i]));
    app(t, "::text");
  }
  if (extra) {
    app(t, "->");
    hdb__sql_param_textn(t->b, t->p, t->d, extra, strlen(extra));
    app(t, "::text");
  }
  app(t, ")");
}

/* The dialect's JSON type name of the value (NULL when absent). */
static void emit_type(tctx *t, const opnd *o) {
  if (t->d == HDB__SQL_POSTGRES) {
    app(t, "json_typeof");
    emit_pg_node(t, o, NULL);
  } else {
    app(t, "json_type(");
    emit_doc_path(t, o, NULL);
    app(t, ")");
  }
}

/* Arms of the type CASE: the type names and the class each holds. */
typedef struct arm {
  const char *name;
  vclass cls;
  int sub; /* SQLite bools: 1 'true', 0 'false'; DuckDB numbers: 1 integer, 0 double */
} arm;

static const arm sqlite_arms[] = {{"integer", C_NUM, 1}, {"real", C_NUM, 0}, {"text", C_TEXT, 0},
                                  {"true", C_BOOL, 1},   {"false", C_BOOL, 0}, {"object", C_TS, 0}};
static const arm pg_arms[] = {{"number", C_NUM, 0}, {"string", C_TEXT, 0}, {"boolean", C_BOOL, 0},
                              {"object", C_TS, 0}};
static const arm duck_arms[] = {{"BIGINT", C_NUM, 1},  {"UBIGINT", C_NUM, 1}, {"DOUBLE", C_NUM, 0},
                                {"VARCHAR", C_TEXT, 0}, {"BOOLEAN", C_BOOL, 0}, {"OBJECT", C_TS, 0}};

/* The value of a K_DYN operand known (by the arm) to be of class a->cls. */
static void emit_dyn_value(tctx *t, const opnd *o, const arm *a) {
  switch (t->d) {
  case HDB__SQL_SQLITE:
    if (a->cls == C_BOOL) {
      app(t, a->sub ? "1" : "0");
      return;
    }
    app(t, "json_extract(");
    emit_doc_path(t, o, a->cls == C_TS ? "$ts" : NULL);
    app(t, ")");
    return;
  case HDB__SQL_POSTGRES:
    app(t, "((");
    emit_pg_node(t, o, a->cls == C_TS ? "$ts" : NULL);
    app(t, " #>> '{}')");
    app(t, a->cls == C_TEXT ? " COLLATE \"C\")" : a->cls == C_BOOL ? "::boolean)" : "::numeric)");
    return;
  case HDB__SQL_DUCKDB:
    if (a->cls == C_TEXT) {
      app(t, "json_extract_string(");
      emit_doc_path(t, o, NULL);
      app(t, ")");
    } else if (a->cls == C_BOOL) {
      app(t, "(json_extract_string(");
      emit_doc_path(t, o, NULL);
      app(t, ") = 'true')");
    } else {
      app(t, "TRY_CAST(json_extract_string(");
      emit_doc_path(t, o, a->cls == C_TS ? "$ts" : NULL);
      app(t, a->sub || a->cls == C_TS ? ") AS HUGEINT)" : ") AS DOUBLE)");
    }
    return;
  }
}

/* ------------------------------------------------------------------ */
/* Leaves                                                              */
/* ------------------------------------------------------------------ */

static const char *op_sql(hdb__cmp_op op) {
  switch (op) {
  case HDB__CMP_EQ: return " = ";
  case HDB__CMP_NE: return " <> ";
  case HDB__CMP_LT: return " < ";
  case HDB__CMP_LE: return " <= ";
  case HDB__CMP_GT: return " > ";
  case HDB__CMP_GE: return " >= ";
  }
  return " = ";
}

/* Whether node e has any literal that compares with class c. */
static int any_fits(const hdb__expr *e, vclass c) {
  if (e->kind == HDB__EXPR_LIKE) return c == C_TEXT && e->values[0].type == HDB_TYPE_TEXT;
  for (size_t i = 0; i < e->n_values; i++)
    if (fits(e, i, c)) return 1;
  return 0;
}

/* Value of the operand for class c (arm a for K_DYN). */
static void emit_value(tctx *t, const opnd *o, const arm *a) {
  if (o->kind == K_COLUMN)
    hdb__sql_buf_name(t->b, t->d, o->col);
  else
    emit_dyn_value(t, o, a);
}

/* Is the operand's value a double in this class (for the bigint/double
 * conversion of Postgres and DuckDB)? */
static int float_side(const tctx *t, const opnd *o, const arm *a) {
  if (o->kind == K_COLUMN) return o->ctype == HDB_TYPE_FLOAT;
  if (t->d == HDB__SQL_DUCKDB) return a && a->cls == C_NUM && !a->sub;
  return 0; /* SQLite compares exactly; Postgres json numbers are numeric */
}

/* LIKE pattern for the dialect: GLOB for SQLite, LIKE with a trailing
 * lone backslash doubled otherwise. */
static void emit_like_pattern(tctx *t, const hdb_value *pat) {
  const char *s = pat->as.text.data;
  size_t n = pat->as.text.len;
  hdb__sql_buf g = {0};
  if (t->d == HDB__SQL_SQLITE) {
    for (size_t i = 0; i < n; i++) {
      char c = s[i];
      if (c == '%') {
        hdb__sql_buf_append(&g, "*");
        continue;
      }
      if (c == '_') {
        hdb__sql_buf_append(&g, "?");
        continue;
      }
      if (c == '\\' && i + 1 < n) c = s[++i];
      if (c == '*' || c == '?' || c == '[')
        hdb__sql_buf_appendf(&g, "[%c]", c);
      else
        hdb__sql_buf_appendf(&g, "%c", c);
    }
    /* SQLite's default limit on LIKE/GLOB patterns. */
    if (g.len > 50000) unsupported(t, "a LIKE pattern longer than SQLite's limit");
  } else {
    size_t run = 0;
    for (size_t i = 0; i < n; i++) run = s[i] == '\\' ? run + 1 : 0;
    hdb__sql_buf_appendf(&g, "%.*s%s", (int)n, s, (run % 2) ? "\\" : "");
  }
  if (g.oom)
    t->b->oom = 1;
  else
    hdb__sql_param_textn(t->b, t->p, t->d, g.s ? g.s : "", g.len);
  if (t->d == HDB__SQL_POSTGRES) app(t, "::text");
  hdb__sql_buf_free(&g);
}

/* The comparison of leaf e for values of class c (the arm a for K_DYN),
 * before any NOT of a negated leaf. */
static void emit_body(tctx *t, const hdb__expr *e, const opnd *o, vclass c, const arm *a) {
  int numeric = o->kind == K_DYN && t->d == HDB__SQL_POSTGRES && c == C_NUM;
  int fs = float_side(t, o, a);
  switch (e->kind) {
  case HDB__EXPR_CMP:
    app(t, "(");
    emit_value(t, o, a);
    app(t, op_sql(e->op));
    emit_lit(t, e, 0, c, numeric, fs);
    app(t, ")");
    return;
  case HDB__EXPR_IN: {
    int other = 0, first = 1;
    app(t, "(");
    emit_value(t, o, a);
    app(t, " IN (");
    for (size_t i = 0; i < e->n_values; i++) {
      if (!fits(e, i, c)) {
        other = 1;
        continue;
      }
      if (!first) app(t, ", ");
      first = 0;
      emit_lit(t, e, i, c, numeric, fs);
    }
    if (other) {
      if (!first) app(t, ", ");
      app(t, "NULL");
    }
    app(t, "))");
    return;
  }
  case HDB__EXPR_BETWEEN:
    app(t, "(");
    if (fits(e, 0, c)) {
      app(t, "(");
      emit_value(t, o, a);
      app(t, " >= ");
      emit_lit(t, e, 0, c, numeric, fs);
      app(t, ")");
    } else {
      lit_null(t);
    }
    app(t, " AND ");
    if (fits(e, 1, c)) {
      app(t, "(");
      emit_value(t, o, a);
      app(t, " <= ");
      emit_lit(t, e, 1, c, numeric, fs);
      app(t, ")");
    } else {
      lit_null(t);
    }
    app(t, ")");
    return;
  case HDB__EXPR_LIKE:
    app(t, "(");
    emit_value(t, o, a);
    app(t, t->d == HDB__SQL_SQLITE ? " GLOB " : " LIKE ");
    emit_like_pattern(t, &e->values[0]);
    if (t->d != HDB__SQL_SQLITE) app(t, " ESCAPE '\\'");
    app(t, ")");
    return;
  default: lit_null(t); return;
  }
}

static void emit_compare_leaf(tctx *t, const hdb__expr *e, const opnd *o) {
  int neg = e->negated && e->kind != HDB__EXPR_CMP;
  if (neg) app(t, "(NOT ");
  if (o->kind == K_ABSENT) {
    lit_null(t);
  } else if (o->kind == K_COLUMN) {
    if (o->cls == C_NONE || !any_fits(e, o->cls))
      lit_null(t);
    else
      emit_body(t, e, o, o->cls, NULL);
  } else {
    const arm *arms = t->d == HDB__SQL_SQLITE ? sqlite_arms : t->d == HDB__SQL_POSTGRES ? pg_arms : duck_arms;
    size_t n_arms = t->d == HDB__SQL_SQLITE   ? sizeof sqlite_arms / sizeof *arms
                    : t->d == HDB__SQL_POSTGRES ? sizeof pg_arms / sizeof *arms
                                                : sizeof duck_arms / sizeof *arms;
    int any = 0;
    for (size_t i = 0; i < n_arms; i++) {
      if (arms[i].cls == C_TS && !o->wrapped_top) continue;
      if (!any_fits(e, arms[i].cls)) continue;
      if (!any) {
        app(t, "(CASE ");
        emit_type(t, o);
      }
      any = 1;
      app(t, " WHEN '");
      app(t, arms[i].name);
      app(t, "' THEN ");
      emit_body(t, e, o, arms[i].cls, &arms[i]);
    }
    if (any)
      app(t, " END)");
    else
      lit_null(t);
  }
  if (neg) app(t, ")");
}

static void emit_null_leaf(tctx *t, const hdb__expr *e, const opnd *o) {
  int is_null = e->kind == HDB__EXPR_IS_NULL;
  int want_null = is_null && !e->negated; /* IS NULL; else IS NOT NULL / EXISTS */
  const char *jnull = t->d == HDB__SQL_DUCKDB ? "'NULL'" : "'null'";
  switch (o->kind) {
  case K_ABSENT:
    if (want_null) lit_true(t);
    else lit_false(t);
    return;
  case K_COLUMN:
    app(t, "(");
    hdb__sql_buf_name(t->b, t->d, o->col);
    app(t, want_null ? " IS NULL)" : " IS NOT NULL)");
    return;
  case K_DYN:
    if (!is_null && o->key_exists) { /* EXISTS on a dotted path: the key is there */
      app(t, "(");
      emit_type(t, o);
      app(t, " IS NOT NULL)");
      return;
    }
    app(t, "(COALESCE(");
    emit_type(t, o);
    app(t, ", ");
    app(t, jnull);
    app(t, want_null ? ") = " : ") <> ");
    app(t, jnull);
    app(t, ")");
    return;
  }
}

static vclass class_of(hdb_type type) {
  switch (type) {
  case HDB_TYPE_BOOL: return C_BOOL;
  case HDB_TYPE_INT:
  case HDB_TYPE_FLOAT: return C_NUM;
  case HDB_TYPE_TEXT: return C_TEXT;
  case HDB_TYPE_TIMESTAMP: return C_TS;
  default: return C_NONE;
  }
}

/* Resolves the leaf's path (see the file comment). *o->segs is owned. */
static hdb_status resolve(tctx *t, const hdb__path *p, opnd *o) {
  memset(o, 0, sizeof *o);
  const char *seg0 = p->segs[0];
  if (p->n_segs == 1 && strcmp(seg0, "id") == 0) {
    o->kind = K_COLUMN;
    o->cls = C_TEXT;
    o->ctype = HDB_TYPE_TEXT;
    o->col = "id";
    return HDB_OK;
  }
  size_t skip = 0, wrap = 0;
  if (t->s) {
    const hdb__column *col = hdb__schema_column(t->s, seg0);
    if (!col) {
      o->kind = K_ABSENT;
      return HDB_OK;
    }
    if (p->n_segs == 1) {
      o->kind = K_COLUMN;
      o->ctype = col->type;
      o->cls = class_of(col->type);
      o->col = col->name;
      return HDB_OK;
    }
    if (col->type != HDB_TYPE_JSON) {
      o->kind = K_ABSENT;
      return HDB_OK;
    }
    o->col = col->name;
    o->key_exists = 1;
    skip = 1;
  } else {
    o->col = t->doc;
    if (p->n_segs == 1) {
      o->wrapped_top = 1;
    } else {
      o->key_exists = 1;
      wrap = 1; /* $.f."$json".rest */
    }
  }
  o->kind = K_DYN;
  o->n_segs = p->n_segs - skip + wrap;
  o->segs = hdb__calloc(o->n_segs, sizeof *o->segs);
  if (!o->segs) return HDB_NOMEM;
  size_t k = 0;
  for (size_t i = skip; i < p->n_segs; i++) {
    o->segs[k++] = p->segs[i];
    if (i == 0 && wrap) o->segs[k++] = "$json";
  }
  return HDB_OK;
}

static hdb_status emit(tctx *t, const hdb__expr *e) {
  switch (e->kind) {
  case HDB__EXPR_TRUE: lit_true(t); return HDB_OK;
  case HDB__EXPR_AND:
  case HDB__EXPR_OR:
    app(t, "(");
    for (size_t i = 0; i < e->n_kids; i++) {
      if (i) app(t, e->kind == HDB__EXPR_AND ? " AND " : " OR ");
      hdb_status rc = emit(t, e->kids[i]);
      if (rc != HDB_OK) return rc;
    }
    app(t, ")");
    return HDB_OK;
  case HDB__EXPR_NOT: {
    app(t, "(NOT ");
    hdb_status rc = emit(t, e->kids[0]);
    app(t, ")");
    return rc;
  }
  default: break;
  }
  opnd o;
  if (resolve(t, &e->path, &o) != HDB_OK) return HDB_NOMEM;
  if (e->kind == HDB__EXPR_IS_NULL || e->kind == HDB__EXPR_EXISTS)
    emit_null_leaf(t, e, &o);
  else
    emit_compare_leaf(t, e, &o);
  hdb__free_mem(o.segs);
  return HDB_OK;
}

hdb_status hdb__sql_where(const hdb__expr *e, const hdb_schema *s, const char *doc_column,
                          hdb__sql_dialect d, hdb__sql_buf *out, hdb__sql_params *params,
                          hdb_error *err) {
  if (!s && !doc_column)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "a filter on a schemaless table needs its document column");
  tctx t = {s, doc_column, d, out, params, NULL};
  hdb_status rc = emit(&t, e);
  if (rc == HDB_NOMEM || out->oom || params->oom)
    return hdb__fail(err, HDB_NOMEM, "out of memory translating a filter to SQL");
  if (t.unsupported)
    return hdb__fail(err, HDB_NOT_SUPPORTED, "filter not translatable to SQL: %s", t.unsupported);
  return rc;
}
