/*
 * filter_common.c - what both filter syntaxes share: the tree's
 * construction helpers and destructor, the dispatch between the text and
 * JSON parsers, binding a tree to a table's schema, and the canonical text
 * form (hdb__expr_to_text).
 *
 * Ownership: an hdb__expr owns its kids, its path segments and the payload
 * of its text literals; everything is allocated through alloc.h and freed
 * by hdb__expr_free. Builders that take a kid take it even when they fail,
 * so a parser never has to remember what it still owns after an error.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/schema.h"
#include "core/value.h"

/* ------------------------------------------------------------------ */
/* Positions, numbers                                                  */
/* ------------------------------------------------------------------ */

void hdb__filter_position(const char *text, size_t off, size_t *line, size_t *col) {
  size_t l = 1, c = 1;
  for (size_t i = 0; i < off && text[i] != '\0'; i++) {
    unsigned char ch = (unsigned char)text[i];
    if (ch == '\n') {
      l++;
      c = 1;
    } else if ((ch & 0xC0) != 0x80) { /* continuation bytes do not start a character */
      c++;
    }
  }
  *line = l;
  *col = c;
}

/* The C library's strtod follows LC_NUMERIC; the filter syntax always uses
 * '.', so the number is copied with the locale's decimal point swapped in
 * (the way cJSON does it) rather than changing the process's locale. */
int hdb__filter_strtod(const char *s, size_t n, double *out) {
  const char *dp = localeconv()->decimal_point;
  size_t dpn = (dp && dp[0]) ? strlen(dp) : 1;
  char small[96];
  size_t need = n * dpn + 1;
  char *buf = need <= sizeof small ? small : hdb__malloc(need);
  if (!buf) return -1;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.' && dp && dp[0]) {
      memcpy(buf + k, dp, dpn);
      k += dpn;
    } else {
      buf[k++] = s[i];
    }
  }
  buf[k] = '\0';
  *out = strtod(buf, NULL);
  if (buf != small) hdb__free_mem(buf);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Building and freeing trees                                          */
/* ------------------------------------------------------------------ */

hdb__expr *hdb__expr_new(hdb__expr_kind kind) {
  hdb__expr *e = hdb__calloc(1, sizeof *e);
  if (e) e->kind = kind;
  return e;
}

static void path_free(hdb__path *p) {
  for (size_t i = 0; i < p->n_segs; i++) hdb__free_mem(p->segs[i]);
  hdb__free_mem(p->segs);
  hdb__free_mem(p->text);
  p->segs = NULL;
  p->text = NULL;
  p->n_segs = 0;
}

/* Literal payloads are owned by the node; only text has one. */
static void literal_free(hdb_value *v) {
  if (v->type == HDB_TYPE_TEXT) hdb__free_mem((void *)v->as.text.data);
  v->type = HDB_TYPE_NULL;
}

void hdb__expr_free(hdb__expr *e) {
  if (!e) return;
  /* Recursion depth is bounded by the parsers' nesting limit. */
  for (size_t i = 0; i < e->n_kids; i++) hdb__expr_free(e->kids[i]);
  hdb__free_mem(e->kids);
  for (size_t i = 0; i < e->n_values; i++) literal_free(&e->values[i]);
  hdb__free_mem(e->values);
  hdb__free_mem(e->ts);
  path_free(&e->path);
  hdb__free_mem(e);
}

/* Arrays grow by powers of two; a count that is a power of two (or 0)
 * means the array is full. Avoids storing a capacity in the public node. */
static int needs_growth(size_t n) { return n == 0 || (n & (n - 1)) == 0; }

hdb_status hdb__expr_add_kid(hdb__expr *e, hdb__expr *kid) {
  if (!kid) return HDB_NOMEM;
  if (needs_growth(e->n_kids)) {
    size_t cap = e->n_kids ? e->n_kids * 2 : 2;
    hdb__expr **k = hdb__realloc(e->kids, cap * sizeof *k);
    if (!k) {
      hdb__expr_free(kid);
      return HDB_NOMEM;
    }
    e->kids = k;
  }
  e->kids[e->n_kids++] = kid;
  return HDB_OK;
}

hdb_status hdb__expr_add_value(hdb__expr *e, const hdb_value *v) {
  if (needs_growth(e->n_values)) {
    size_t cap = e->n_values ? e->n_values * 2 : 2;
    hdb_value *nv = hdb__realloc(e->values, cap * sizeof *nv);
    if (!nv) return HDB_NOMEM;
    e->values = nv;
  }
  hdb_value c = *v;
  if (v->type == HDB_TYPE_TEXT) {
    /* By length, not strndup: the copy must hold exactly len bytes. */
    char *d = hdb__malloc(v->as.text.len + 1);
    if (!d) return HDB_NOMEM;
    memcpy(d, v->as.text.data, v->as.text.len);
    d[v->as.text.len] = '\0';
    c.as.text.data = d;
  }
  e->values[e->n_values++] = c;
  return HDB_OK;
}

hdb_status hdb__path_push(hdb__path *p, const char *s, size_t n) {
  char *seg = hdb__strndup(s, n);
  if (!seg) return HDB_NOMEM;
  char **segs = hdb__realloc(p->segs, (p->n_segs + 1) * sizeof *segs);
  if (!segs) {
    hdb__free_mem(seg);
    return HDB_NOMEM;
  }
  p->segs = segs;
  size_t old = p->text ? strlen(p->text) : 0;
  char *text = hdb__realloc(p->text, old + (old ? 1 : 0) + n + 1);
  if (!text) {
    hdb__free_mem(seg);
    return HDB_NOMEM;
  }
  if (old) text[old++] = '.';
  memcpy(text + old, s, n);
  text[old + n] = '\0';
  p->text = text;
  p->segs[p->n_segs++] = seg;
  return HDB_OK;
}

hdb_status hdb__expr_prepare_ts(hdb__expr *e) {
  hdb__free_mem(e->ts);
  e->ts = NULL;
  for (size_t i = 0; i < e->n_values; i++) {
    const hdb_value *v = &e->values[i];
    int64_t us;
    if (v->type != HDB_TYPE_TEXT || hdb__timestamp_parse(v->as.text.data, v->as.text.len, &us) != 0)
      continue;
    if (!e->ts) {
      e->ts = hdb__calloc(e->n_values, sizeof *e->ts);
      if (!e->ts) return HDB_NOMEM;
    }
    e->ts[i].ok = 1;
    e->ts[i].us = us;
  }
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

hdb_status hdb__filter_parse(const char *text, hdb__expr **out, hdb_error *err) {
  *out = NULL;
  const char *p = text ? text : "";
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v') p++;
  if (*p == '{') return hdb__filter_parse_json(text, out, err);
  return hdb__filter_parse_text(text, out, err);
}

/* ------------------------------------------------------------------ */
/* Binding to a schema                                                 */
/* ------------------------------------------------------------------ */

/* Writes a short, printable rendering of a literal for messages. */
static void literal_show(const hdb_value *v, char *buf, size_t cap) {
  switch (v->type) {
  case HDB_TYPE_NULL: snprintf(buf, cap, "null"); break;
  case HDB_TYPE_BOOL: snprintf(buf, cap, "%s", v->as.boolean ? "true" : "false"); break;
  case HDB_TYPE_INT: snprintf(buf, cap, "int %lld", (long long)v->as.i); break;
  case HDB_TYPE_FLOAT: snprintf(buf, cap, "float %g", v->as.f); break;
  case HDB_TYPE_TEXT: {
    /* Cut at a character boundary so the message stays valid UTF-8. */
    size_t n = v->as.text.len, max = 40;
    if (n > max) {
      n = max;
      while (n > 0 && ((unsigned char)v->as.text.data[n] & 0xC0) == 0x80) n--;
    }
    snprintf(buf, cap, "text '%.*s%s'", (int)n, v->as.text.data, n < v->as.text.len ? "..." : "");
    break;
  }
  default: snprintf(buf, cap, "%s", hdb_type_name(v->type)); break;
  }
}

/* Whether a (non-null) literal compares with a column of type t. */
static int literal_fits(hdb_type t, const hdb_value *v, const hdb__lit_ts *ts) {
  switch (t) {
  case HDB_TYPE_INT:
  case HDB_TYPE_FLOAT: return v->type == HDB_TYPE_INT || v->type == HDB_TYPE_FLOAT;
  case HDB_TYPE_TEXT: return v->type == HDB_TYPE_TEXT;
  case HDB_TYPE_BOOL: return v->type == HDB_TYPE_BOOL;
  case HDB_TYPE_TIMESTAMP:
    return v->type == HDB_TYPE_INT || (v->type == HDB_TYPE_TEXT && ts && ts->ok);
  default: return 0;
  }
}

static hdb_status bind_leaf(const hdb__expr *e, const hdb_schema *s, const char *table,
                            hdb_error *err) {
  const char *tname = table ? table : "?";
  const char *name = e->path.segs[0];
  static const hdb__column id_column = {(char *)"id", HDB_TYPE_TEXT, 0, HDB_METRIC_DEFAULT};
  const hdb__column *col = hdb__schema_column(s, name);
  if (!col && e->path.n_segs == 1 && strcmp(name, "id") == 0) col = &id_column;
  if (!col) return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%.128s'", tname, name);
  const char *ctype = hdb_type_name(col->type);
  if (e->path.n_segs > 1) {
    if (col->type != HDB_TYPE_JSON)
      return hdb__fail(err, HDB_TYPE_MISMATCH,
                       "table '%s': column '%.128s' is %s, not json, so '%.200s' cannot look inside it",
                       tname, name, ctype, e->path.text);
    return HDB_OK; /* json contents are dynamically typed */
  }
  if (e->kind == HDB__EXPR_IS_NULL || e->kind == HDB__EXPR_EXISTS) return HDB_OK;
  if (col->type == HDB_TYPE_JSON || col->type == HDB_TYPE_BLOB || col->type == HDB_TYPE_VECTOR)
    return hdb__fail(err, HDB_TYPE_MISMATCH,
                     "table '%s': column '%.128s' is %s; only IS NULL, IS NOT NULL and EXISTS "
                     "apply to it%s",
                     tname, name, ctype,
                     col->type == HDB_TYPE_JSON ? " (compare a path inside it, e.g. name.key)" : "");
  if (e->kind == HDB__EXPR_LIKE && col->type != HDB_TYPE_TEXT)
    return hdb__fail(err, HDB_TYPE_MISMATCH, "table '%s': LIKE needs a text column, and '%.128s' is %s",
                     tname, name, ctype);
  for (size_t i = 0; i < e->n_values; i++) {
    const hdb_value *v = &e->values[i];
    if (v->type == HDB_TYPE_NULL) continue;
    if (!literal_fits(col->type, v, e->ts ? &e->ts[i] : NULL)) {
      char lit[80];
      literal_show(v, lit, sizeof lit);
      if (col->type == HDB_TYPE_TIMESTAMP && v->type == HDB_TYPE_TEXT)
        return hdb__fail(err, HDB_TYPE_MISMATCH,
                         "table '%s': column '%.128s' is timestamp and %s is not RFC 3339 "
                         "(e.g. '2024-01-20T10:00:00Z')",
                         tname, name, lit);
      return hdb__fail(err, HDB_TYPE_MISMATCH,
                       "table '%s': column '%.128s' is %s and cannot be compared with %s", tname,
                       name, ctype, lit);
    }
  }
  return HDB_OK;
}

hdb_status hdb__filter_bind(const hdb__expr *e, const hdb_schema *s, const char *table,
                            hdb_error *err) {
  if (!s || !e) return HDB_OK;
  switch (e->kind) {
  case HDB__EXPR_AND:
  case HDB__EXPR_OR:
  case HDB__EXPR_NOT:
    for (size_t i = 0; i < e->n_kids; i++) {
      hdb_status st = hdb__filter_bind(e->kids[i], s, table, err);
      if (st != HDB_OK) return st;
    }
    return HDB_OK;
  case HDB__EXPR_TRUE: return HDB_OK;
  default: return bind_leaf(e, s, table, err);
  }
}

/* ------------------------------------------------------------------ */
/* Canonical text                                                      */
/* ------------------------------------------------------------------ */

typedef struct sbuf {
  char *buf;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *nb = hdb__realloc(b->buf, cap);
    if (!nb) {
      b->oom = 1;
      return;
    }
    b->buf = nb;
    b->cap = cap;
  }
  memcpy(b->buf + b->len, s, n);
  b->len += n;
  b->buf[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Keywords of the text syntax; a bare single name equal to one of them
 * (any case) is the keyword, so to_text quotes such names. */
static const char *const keywords[] = {"AND",  "OR",   "NOT",   "IN",    "BETWEEN", "LIKE",
                                       "IS",   "NULL", "TRUE",  "FALSE", "EXISTS"};

int hdb__filter_is_keyword(const char *s, size_t n) {
  for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++) {
    const char *kw = keywords[k];
    if (strlen(kw) != n) continue;
    size_t i = 0;
    while (i < n && (s[i] & ~0x20) == kw[i]) i++;
    if (i == n) return 1;
  }
  return 0;
}

static int plain_ident(const char *s) {
  if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return 0;
  for (const char *p = s + 1; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
          *p == '_'))
      return 0;
  return 1;
}

static void sb_path(sbuf *b, const hdb__path *p) {
  for (size_t i = 0; i < p->n_segs; i++) {
    const char *s = p->segs[i];
    if (i) sb_add(b, ".", 1);
    /* Keywords need quoting only as the whole path's first segment, but
     * quoting them anywhere is simpler to read and parses the same. */
    if (plain_ident(s) && !hdb__filter_is_keyword(s, strlen(s))) {
      sb_str(b, s);
      continue;
    }
    sb_add(b, "\"", 1);
    for (; *s; s++) {
      if (*s == '"') sb_add(b, "\"\"", 2); /* "" is a quote inside a quoted name */
      else sb_add(b, s, 1);
    }
    sb_add(b, "\"", 1);
  }
}

/* Shortest %g form that reads back as the same double, always with a '.'
 * or an exponent so that it reparses as a float. */
static void sb_float(sbuf *b, double d) {
  char tmp[64];
  const char *dp = localeconv()->decimal_point;
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    /* Undo the locale's decimal point, if it is not '.'. */
    if (dp && dp[0] && strcmp(dp, ".") != 0) {
      char *at = strstr(tmp, dp);
      if (at) {
        size_t dpn = strlen(dp);
        *at = '.';
        memmove(at + 1, at + dpn, strlen(at + dpn) + 1);
      }
    }
    double back;
    if (hdb__filter_strtod(tmp, strlen(tmp), &back) != 0) {
      b->oom = 1;
      return;
    }
    if (back == d || prec == 17) break;
  }
  sb_str(b, tmp);
  if (!strpbrk(tmp, ".eE")) sb_str(b, ".0");
}

static void sb_literal(sbuf *b, const hdb_value *v) {
  char tmp[32];
  switch (v->type) {
  case HDB_TYPE_NULL: sb_str(b, "NULL"); break;
  case HDB_TYPE_BOOL: sb_str(b, v->as.boolean ? "TRUE" : "FALSE"); break;
  case HDB_TYPE_INT:
    snprintf(tmp, sizeof tmp, "%lld", (long long)v->as.i);
    sb_str(b, tmp);
    break;
  case HDB_TYPE_FLOAT: sb_float(b, v->as.f); break;
  case HDB_TYPE_TEXT: {
    sb_add(b, "'", 1);
    const char *s = v->as.text.data, *start = s, *end = s + v->as.text.len;
    for (; s < end; s++) {
      if (*s != '\'') continue;
      sb_add(b, start, (size_t)(s - start) + 1);
      sb_add(b, "'", 1);
      start = s + 1;
    }
    sb_add(b, start, (size_t)(end - start));
    sb_add(b, "'", 1);
    break;
  }
  default: sb_str(b, "?"); break; /* parsers produce no other literal type */
  }
}

static const char *cmp_text(hdb__cmp_op op) {
  switch (op) {
  case HDB__CMP_EQ: return " = ";
  case HDB__CMP_NE: return " != ";
  case HDB__CMP_LT: return " < ";
  case HDB__CMP_LE: return " <= ";
  case HDB__CMP_GT: return " > ";
  case HDB__CMP_GE: return " >= ";
  }
  return " ? ";
}

static void sb_expr(sbuf *b, const hdb__expr *e) {
  switch (e->kind) {
  case HDB__EXPR_TRUE: sb_str(b, "TRUE"); return;
  case HDB__EXPR_AND:
  case HDB__EXPR_OR:
    sb_add(b, "(", 1);
    for (size_t i = 0; i < e->n_kids; i++) {
      if (i) sb_str(b, e->kind == HDB__EXPR_AND ? " AND " : " OR ");
      sb_expr(b, e->kids[i]);
    }
    sb_add(b, ")", 1);
    return;
  case HDB__EXPR_NOT:
    sb_str(b, "(NOT ");
    sb_expr(b, e->kids[0]);
    sb_add(b, ")", 1);
    return;
  case HDB__EXPR_EXISTS:
    sb_str(b, "(EXISTS ");
    sb_path(b, &e->path);
    sb_add(b, ")", 1);
    return;
  default: break;
  }
  sb_add(b, "(", 1);
  sb_path(b, &e->path);
  switch (e->kind) {
  case HDB__EXPR_CMP:
    sb_str(b, cmp_text(e->op));
    sb_literal(b, &e->values[0]);
    break;
  case HDB__EXPR_IN:
    sb_str(b, e->negated ? " NOT IN (" : " IN (");
    for (size_t i = 0; i < e->n_values; i++) {
      if (i) sb_str(b, ", ");
      sb_literal(b, &e->values[i]);
    }
    sb_add(b, ")", 1);
    break;
  case HDB__EXPR_BETWEEN:
    sb_str(b, e->negated ? " NOT BETWEEN " : " BETWEEN ");
    sb_literal(b, &e->values[0]);
    sb_str(b, " AND ");
    sb_literal(b, &e->values[1]);
    break;
  case HDB__EXPR_LIKE:
    sb_str(b, e->negated ? " NOT LIKE " : " LIKE ");
    sb_literal(b, &e->values[0]);
    break;
  case HDB__EXPR_IS_NULL: sb_str(b, e->negated ? " IS NOT NULL" : " IS NULL"); break;
  default: break;
  }
  sb_add(b, ")", 1);
}

char *hdb__expr_to_text(const hdb__expr *e) {
  sbuf b = {0};
  if (e) sb_expr(&b, e);
  else sb_str(&b, "TRUE");
  if (!b.oom && !b.buf) sb_add(&b, "", 0);
  if (b.oom) {
    hdb__free_mem(b.buf);
    return NULL;
  }
  return b.buf;
}
