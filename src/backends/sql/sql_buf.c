/*
 * sql_buf.c - the pieces of SQL text every SQL backend builds with: a
 * growable string, placeholders with their parameter list, identifier
 * quoting, the column type of each hanzo-db type per dialect, the
 * little-endian float32 byte form of vectors, and the write path's check
 * that a record already has its columns' types (so no clone is needed).
 *
 * Invariants:
 *  - b->s is NUL-terminated whenever it is non-NULL; once b->oom is set,
 *    appends are no-ops, so callers append freely and check once.
 *  - p->v[i] is the value of the (i+1)-th placeholder; the values in
 *    p->owned are freed with the list, the others belong to the caller.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backends/sql/sql.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/record.h"
#include "core/schema.h"
#include "core/value.h"

/* ------------------------------------------------------------------ */
/* String builder                                                      */
/* ------------------------------------------------------------------ */

static int buf_reserve(hdb__sql_buf *b, size_t extra) {
  if (b->oom) return 0;
  if (b->len + extra + 1 <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) {
    if (cap > SIZE_MAX / 2) {
      b->oom = 1;
      return 0;
    }
    cap *= 2;
  }
  char *s = hdb__realloc(b->s, cap);
  if (!s) {
    b->oom = 1;
    return 0;
  }
  b->s = s;
  b->cap = cap;
  return 1;
}

static void buf_put(hdb__sql_buf *b, const char *text, size_t n) {
  if (!buf_reserve(b, n)) return;
  memcpy(b->s + b->len, text, n);
  b->len += n;
  b->s[b->len] = '\0';
}

void hdb__sql_buf_append(hdb__sql_buf *b, const char *text) {
  buf_put(b, text, strlen(text));
}

void hdb__sql_buf_appendf(hdb__sql_buf *b, const char *fmt, ...) {
  if (b->oom) return;
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    va_end(ap2);
    b->oom = 1;
    return;
  }
  if (buf_reserve(b, (size_t)n)) {
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap2);
    b->len += (size_t)n;
  }
  va_end(ap2);
}

void hdb__sql_buf_ident(hdb__sql_buf *b, const char *name) {
  buf_put(b, "\"", 1);
  for (const char *p = name; *p; p++) {
    const char *q = strchr(p, '"');
    if (!q) {
      hdb__sql_buf_append(b, p);
      break;
    }
    buf_put(b, p, (size_t)(q - p));
    buf_put(b, "\"\"", 2);
    p = q;
  }
  buf_put(b, "\"", 1);
}

void hdb__sql_buf_name(hdb__sql_buf *b, hdb__sql_dialect d, const char *name) {
  if (d == HDB__SQL_POSTGRES) {
    hdb__sql_buf_ident(b, name);
    return;
  }
  buf_put(b, "\"", 1);
  for (const char *p = name; *p; p++) {
    char c = *p;
    if (c >= 'A' && c <= 'Z') {
      char two[2] = {'^', (char)(c - 'A' + 'a')};
      buf_put(b, two, 2);
    } else if (c == '"') {
      buf_put(b, "\"\"", 2);
    } else {
      buf_put(b, &c, 1);
    }
  }
  buf_put(b, "\"", 1);
}

hdb_status hdb__sql_buf_status(const hdb__sql_buf *b, hdb_error *err) {
  if (b->oom) return hdb__fail(err, HDB_NOMEM, "out of memory building an SQL statement");
  return HDB_OK;
}

void hdb__sql_buf_free(hdb__sql_buf *b) {
  hdb__free_mem(b->s);
  b->s = NULL;
  b->len = b->cap = 0;
  b->oom = 0;
}

/* ------------------------------------------------------------------ */
/* Parameters                                                          */
/* ------------------------------------------------------------------ */

void hdb__sql_param(hdb__sql_buf *b, hdb__sql_params *p, hdb__sql_dialect d, const hdb_value *v) {
  if (p->oom) {
    b->oom = 1;
    return;
  }
  if (p->n == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 16;
    const hdb_value **nv = hdb__realloc(p->v, cap * sizeof *nv);
    if (!nv) {
      p->oom = 1;
      b->oom = 1;
      return;
    }
    p->v = nv;
    p->cap = cap;
  }
  p->v[p->n++] = v;
  if (d == HDB__SQL_POSTGRES)
    hdb__sql_buf_appendf(b, "$%zu", p->n);
  else
    buf_put(b, "?", 1);
}

/* Takes ownership of v (a heap value whose text, if any, is heap too). */
static void param_owned(hdb__sql_buf *b, hdb__sql_params *p, hdb__sql_dialect d, hdb_value *v) {
  if (p->n_owned == p->cap_owned) {
    size_t cap = p->cap_owned ? 2 * p->cap_owned : 8;
    hdb_value **no = hdb__realloc(p->owned, cap * sizeof *no);
    if (!no) goto oom;
    p->owned = no;
    p->cap_owned = cap;
  }
  p->owned[p->n_owned++] = v;
  hdb__sql_param(b, p, d, v);
  return;
oom:
  if (v->type == HDB_TYPE_TEXT) hdb__free_mem((void *)v->as.text.data);
  hdb__free_mem(v);
  p->oom = 1;
  b->oom = 1;
}

void hdb__sql_param_int(hdb__sql_buf *b, hdb__sql_params *p, hdb__sql_dialect d, int64_t i) {
  hdb_value *v = hdb__calloc(1, sizeof *v);
  if (!v) {
    p->oom = 1;
    b->oom = 1;
    return;
  }
  v->type = HDB_TYPE_INT;
  v->as.i = i;
  param_owned(b, p, d, v);
}

void hdb__sql_param_textn(hdb__sql_buf *b, hdb__sql_params *p, hdb__sql_dialect d, const char *s,
                          size_t len) {
  hdb_value *v = hdb__calloc(1, sizeof *v);
  char *copy = hdb__strndup(s, len);
  if (!v || !copy) {
    hdb__free_mem(v);
    hdb__free_mem(copy);
    p->oom = 1;
    b->oom = 1;
    return;
  }
  v->type = HDB_TYPE_TEXT;
  v->as.text.data = copy;
  v->as.text.len = len;
  param_owned(b, p, d, v);
}

hdb_status hdb__sql_params_status(const hdb__sql_params *p, hdb_error *err) {
  if (p->oom) return hdb__fail(err, HDB_NOMEM, "out of memory collecting SQL parameters");
  return HDB_OK;
}

void hdb__sql_params_free(hdb__sql_params *p) {
  for (size_t i = 0; i < p->n_owned; i++) {
    if (p->owned[i]->type == HDB_TYPE_TEXT) hdb__free_mem((void *)p->owned[i]->as.text.data);
    hdb__free_mem(p->owned[i]);
  }
  hdb__free_mem(p->owned);
  hdb__free_mem(p->v);
  memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------------ */
/* Column types                                                        */
/* ------------------------------------------------------------------ */

const char *hdb__sql_column_type(hdb__sql_dialect d, hdb_type type, uint32_t dim) {
  (void)dim;
  switch (d) {
  case HDB__SQL_SQLITE:
    switch (type) {
    case HDB_TYPE_BOOL:
    case HDB_TYPE_INT:
    case HDB_TYPE_TIMESTAMP: return "INTEGER";
    case HDB_TYPE_FLOAT: return "REAL";
    case HDB_TYPE_TEXT:
    case HDB_TYPE_JSON: return "TEXT";
    case HDB_TYPE_BLOB:
    case HDB_TYPE_VECTOR: return "BLOB";
    case HDB_TYPE_NULL: break;
    }
    return "BLOB";
  case HDB__SQL_POSTGRES:
    switch (type) {
    case HDB_TYPE_BOOL: return "BOOLEAN";
    case HDB_TYPE_INT:
    case HDB_TYPE_TIMESTAMP: return "BIGINT";
    case HDB_TYPE_FLOAT: return "DOUBLE PRECISION";
    case HDB_TYPE_TEXT: return "TEXT COLLATE \"C\"";
    case HDB_TYPE_JSON: return "JSON";
    case HDB_TYPE_BLOB:
    case HDB_TYPE_VECTOR: return "BYTEA";
    case HDB_TYPE_NULL: break;
    }
    return "BYTEA";
  case HDB__SQL_DUCKDB:
    switch (type) {
    case HDB_TYPE_BOOL: return "BOOLEAN";
    case HDB_TYPE_INT:
    case HDB_TYPE_TIMESTAMP: return "BIGINT";
    case HDB_TYPE_FLOAT: return "DOUBLE";
    case HDB_TYPE_TEXT: return "VARCHAR";
    case HDB_TYPE_JSON: return "JSON";
    case HDB_TYPE_BLOB: return "BLOB";
    case HDB_TYPE_VECTOR: return "FLOAT[]";
    case HDB_TYPE_NULL: break;
    }
    return "BLOB";
  }
  return "BLOB";
}

const char *hdb__sql_column_type_buf(hdb__sql_dialect d, hdb_type type, uint32_t dim, char *buf,
                                     size_t cap) {
  if (d == HDB__SQL_DUCKDB && type == HDB_TYPE_VECTOR && dim > 0)
    snprintf(buf, cap, "FLOAT[%u]", (unsigned)dim);
  else
    snprintf(buf, cap, "%s", hdb__sql_column_type(d, type, dim));
  return buf;
}

/* ------------------------------------------------------------------ */
/* Vectors as bytes                                                    */
/* ------------------------------------------------------------------ */

static int host_is_little_endian(void) {
  const uint16_t one = 1;
  unsigned char c;
  memcpy(&c, &one, 1);
  return c == 1;
}

const void *hdb__sql_vector_blob(const float *v, uint32_t dim, void **owned) {
  *owned = NULL;
  if (host_is_little_endian()) return v;
  unsigned char *out = hdb__malloc((size_t)dim * 4 + 1);
  if (!out) return NULL;
  for (uint32_t i = 0; i < dim; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    out[4 * i] = (unsigned char)u;
    out[4 * i + 1] = (unsigned char)(u >> 8);
    out[4 * i + 2] = (unsigned char)(u >> 16);
    out[4 * i + 3] = (unsigned char)(u >> 24);
  }
  *owned = out;
  return out;
}

void hdb__sql_vector_read(const void *p, uint32_t dim, float *out) {
  if (host_is_little_endian()) {
    memcpy(out, p, (size_t)dim * 4);
    return;
  }
  const unsigned char *b = p;
  for (uint32_t i = 0; i < dim; i++) {
    uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 |
                 (uint32_t)b[4 * i + 3] << 24;
    memcpy(&out[i], &u, 4);
  }
}

/* ------------------------------------------------------------------ */
/* Records already in column form                                      */
/* ------------------------------------------------------------------ */

int hdb__sql_record_conforms(const hdb_schema *s, const hdb_record *rec, const hdb_value **vals) {
  if (!s || !rec->id || hdb__id_check(rec->id, NULL) != HDB_OK) return 0;
  if (vals)
    for (size_t c = 0; c < s->n; c++) vals[c] = NULL;
  for (size_t i = 0; i < rec->n; i++) {
    const hdb_value *v = &rec->fields[i].value;
    const char *name = rec->fields[i].name;
    /* Records built in schema order find their column at once. */
    size_t c = i < s->n && strcmp(s->cols[i].name, name) == 0 ? i : s->n;
    if (c == s->n) {
      const hdb__column *col = hdb__schema_column(s, name);
      if (!col) return 0;
      c = (size_t)(col - s->cols);
    }
    const hdb__column *col = &s->cols[c];
    if (v->type == HDB_TYPE_NULL) continue;
    if (v->type != col->type) return 0;
    if (col->type == HDB_TYPE_VECTOR &&
        (v->as.vector.dim != col->dim || !hdb__record_vector_finite(&rec->fields[i])))
      return 0;
    if (vals) vals[c] = v;
  }
  return 1;
}
