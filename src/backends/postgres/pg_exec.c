/*
 * pg_exec.c - statement parameters and execution helpers.
 *
 * Every statement goes through PQexecParams (extended protocol, so a
 * parameter can never be read as SQL) with results in binary format.
 * Parameters we encode ourselves are binary with their type OID; the
 * filter literals collected by the shared SQL layer are sent so the
 * server types them from their context: int as int8, float as float8,
 * bool as bool (binary), text as an untyped literal in text format (so
 * the same '2024-01-20' compares with a timestamp column or a text one).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

#include "core/alloc.h"
#include "core/err.h"

void hdb__pg_params_free(hdb__pg_params *p) {
  for (int i = 0; i < p->n; i++)
    if (p->owned[i]) hdb__free_mem((void *)p->values[i]);
  hdb__free_mem(p->types);
  hdb__free_mem(p->values);
  hdb__free_mem(p->lengths);
  hdb__free_mem(p->formats);
  hdb__free_mem(p->slots);
  hdb__free_mem(p->owned);
  memset(p, 0, sizeof *p);
}

int hdb__pg_params_next(const hdb__pg_params *p) { return p->n + 1; }

/* Reserves the next parameter; -1 (and oom set) when out of memory. */
static int reserve(hdb__pg_params *p) {
  if (p->oom) return -1;
  if (p->n == p->cap) {
    int cap = p->cap ? 2 * p->cap : 16;
    Oid *t = hdb__realloc(p->types, (size_t)cap * sizeof *t);
    if (t) p->types = t;
    const char **v = hdb__realloc(p->values, (size_t)cap * sizeof *v);
    if (v) p->values = v;
    int *l = hdb__realloc(p->lengths, (size_t)cap * sizeof *l);
    if (l) p->lengths = l;
    int *f = hdb__realloc(p->formats, (size_t)cap * sizeof *f);
    if (f) p->formats = f;
    char(*s)[8] = hdb__realloc(p->slots, (size_t)cap * sizeof *s);
    if (s) p->slots = s;
    unsigned char *o = hdb__realloc(p->owned, (size_t)cap);
    if (o) p->owned = o;
    if (!t || !v || !l || !f || !s || !o) {
      p->oom = 1;
      return -1;
    }
    p->cap = cap;
  }
  int i = p->n++;
  p->types[i] = 0;
  p->values[i] = NULL;
  p->lengths[i] = 0;
  p->formats[i] = 1;
  p->owned[i] = 0;
  return i;
}

void hdb__pg_param_null(hdb__pg_params *p) {
  reserve(p);
}

void hdb__pg_param_text(hdb__pg_params *p, const char *s, size_t len) {
  int i = reserve(p);
  if (i < 0) return;
  p->types[i] = 25; /* text */
  p->values[i] = s;
  p->lengths[i] = (int)len;
}

void hdb__pg_param_bytea(hdb__pg_params *p, const void *d, size_t len) {
  int i = reserve(p);
  if (i < 0) return;
  p->types[i] = 17; /* bytea */
  p->values[i] = len ? d : "";
  p->lengths[i] = (int)len;
}

static void put_be64(unsigned char *d, uint64_t v) {
  for (int k = 7; k >= 0; k--, v >>= 8) d[k] = (unsigned char)v;
}

void hdb__pg_param_int8(hdb__pg_params *p, int64_t v) {
  int i = reserve(p);
  if (i < 0) return;
  p->types[i] = 20; /* int8 */
  put_be64((unsigned char *)p->slots[i], (uint64_t)v);
  p->values[i] = p->slots[i];
  p->lengths[i] = 8;
}

void hdb__pg_param_text_array(hdb__pg_params *p, const char *const *s, size_t n) {
  int i = reserve(p);
  if (i < 0) return;
  /* Binary array: ndim, has_null, elemtype, then (dim, lbound), then
   * (length, bytes) per element. */
  size_t len = 20;
  for (size_t k = 0; k < n; k++) len += 4 + strlen(s[k]);
  unsigned char *b = hdb__malloc(len);
  if (!b) {
    p->oom = 1;
    return;
  }
  unsigned char *w = b;
#define PUT32(x)                          \
  do {                                    \
    uint32_t v_ = (uint32_t)(x);          \
    w[0] = (unsigned char)(v_ >> 24);     \
    w[1] = (unsigned char)(v_ >> 16);     \
    w[2] = (unsigned char)(v_ >> 8);      \
    w[3] = (unsigned char)v_;             \
    w += 4;                               \
  } while (0)
  PUT32(n ? 1 : 0);
  PUT32(0);
  PUT32(25);
  if (n) {
    PUT32(n);
    PUT32(1);
  }
  for (size_t k = 0; k < n; k++) {
    size_t l = strlen(s[k]);
    PUT32(l);
    memcpy(w, s[k], l);
    w += l;
  }
#undef PUT32
  p->types[i] = 1009; /* text[] */
  p->values[i] = (const char *)b;
  p->lengths[i] = (int)(w - b);
  p->owned[i] = 1;
}

void hdb__pg_params_from_sql(hdb__pg_params *p, const hdb__sql_params *sp) {
  for (size_t k = 0; k < sp->n; k++) {
    const hdb_value *v = sp->v[k];
    int i;
    switch (v->type) {
    case HDB_TYPE_BOOL:
      if ((i = reserve(p)) < 0) return;
      p->types[i] = 16;
      p->slots[i][0] = (char)(v->as.boolean != 0);
      p->values[i] = p->slots[i];
      p->lengths[i] = 1;
      break;
    case HDB_TYPE_INT:
      hdb__pg_param_int8(p, v->as.i);
      break;
    case HDB_TYPE_FLOAT: {
      if ((i = reserve(p)) < 0) return;
      uint64_t bits;
      memcpy(&bits, &v->as.f, 8);
      p->types[i] = 701;
      put_be64((unsigned char *)p->slots[i], bits);
      p->values[i] = p->slots[i];
      p->lengths[i] = 8;
      break;
    }
    case HDB_TYPE_TEXT:
      if ((i = reserve(p)) < 0) return;
      p->types[i] = 0; /* typed by context */
      p->values[i] = v->as.text.data;
      p->lengths[i] = (int)v->as.text.len;
      p->formats[i] = 0; /* NUL-terminated text */
      break;
    default:
      hdb__pg_param_null(p);
      break;
    }
  }
}

PGresult *hdb__pg_exec(PGconn *pg, const char *sql, const hdb__pg_params *p) {
  if (p && p->n)
    return PQexecParams(pg, sql, p->n, p->types, p->values, p->lengths, p->formats, 1);
  return PQexecParams(pg, sql, 0, NULL, NULL, NULL, NULL, 1);
}

hdb_status hdb__pg_check(PGconn *pg, PGresult *res, ExecStatusType want, const char *where,
                         const char *what, hdb_error *err) {
  if (res && PQresultStatus(res) == want) return HDB_OK;
  if (res && want == PGRES_COMMAND_OK && PQresultStatus(res) == PGRES_TUPLES_OK) return HDB_OK;
  hdb_status st = hdb__pg_fail_result(pg, res, where, what, err);
  PQclear(res);
  return st;
}

hdb_status hdb__pg_run(PGconn *pg, const char *where, const char *sql, const hdb__pg_params *p,
                       const char *what, hdb_error *err) {
  if (p && p->oom) return hdb__fail(err, HDB_NOMEM, "out of memory: %s", what);
  PGresult *res = (p && p->n) ? hdb__pg_exec(pg, sql, p) : PQexec(pg, sql);
  hdb_status st = hdb__pg_check(pg, res, PGRES_COMMAND_OK, where, what, err);
  if (st == HDB_OK) PQclear(res);
  return st;
}

hdb_status hdb__pg_renumber(hdb__sql_buf *b, const char *sql, int offset, hdb_error *err) {
  char quote = 0;
  char one[2] = {0, 0};
  for (const char *s = sql; *s; s++) {
    if (quote) {
      if (*s == quote) quote = 0; /* a doubled quote reopens at once */
    } else if (*s == '\'' || *s == '"') {
      quote = *s;
    } else if (*s == '$' && isdigit((unsigned char)s[1])) {
      char *end;
      long n = strtol(s + 1, &end, 10);
      hdb__sql_buf_appendf(b, "$%ld", n + offset);
      s = end - 1;
      continue;
    }
    one[0] = *s;
    hdb__sql_buf_append(b, one);
  }
  return hdb__sql_buf_status(b, err);
}
