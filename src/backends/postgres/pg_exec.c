/*
 * pg_exec.c - statement parameters and execution helpers.
 *
 * Every statement goes through PQexecParams (extended protocol, so a
 * parameter can never be read as SQL) with results in binary format, or,
 * for the hot read paths outside transactions (search, get), through a
 * named statement prepared once per connection (hdb__pg_exec_cached: the
 * same protocol and parameters, without parsing the text each call).
 * Parameters we encode ourselves are binary with their type OID; the
 * filter literals collected by the shared SQL layer are sent so the
 * server types them from their context: int as int8, float as float8,
 * bool as bool (binary), text as an untyped literal in text format (so
 * the same '2024-01-20' compares with a timestamp column or a text one).
 */
#include <ctype.h>
#include <stdio.h>
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

/* ------------------------------------------------------------------ */
/* Prepared statements, per connection                                 */
/* ------------------------------------------------------------------ */

/* At most this many statements per connection, and this many PREPAREs
 * over its life (a statement whose plan went invalid is forgotten, and
 * its server-side copy stays until the connection closes). */
#define STMTS_MAX 32
#define PREPARES_MAX 128

struct hdb__pg_stmt {
  uint64_t hash;
  char *sql;   /* owned */
  Oid *types;  /* owned, n of them */
  int n;
  char name[24];
};

void hdb__pg_session_clear(hdb__pg_session *s) {
  for (int i = 0; i < s->n_stmts; i++) {
    hdb__free_mem(s->stmts[i].sql);
    hdb__free_mem(s->stmts[i].types);
  }
  hdb__free_mem(s->stmts);
  memset(s, 0, sizeof *s);
}

static uint64_t stmt_hash(const char *sql, const hdb__pg_params *p) {
  uint64_t h = 1469598103934665603ull;
  for (const char *c = sql; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
  for (int i = 0; i < p->n; i++) h = (h ^ (uint64_t)p->types[i]) * 1099511628211ull;
  return h;
}

static int stmt_find(const hdb__pg_session *ss, uint64_t h, const char *sql,
                     const hdb__pg_params *p) {
  for (int i = 0; i < ss->n_stmts; i++) {
    const hdb__pg_stmt *st = &ss->stmts[i];
    if (st->hash != h || st->n != p->n || strcmp(st->sql, sql) != 0) continue;
    if (p->n && memcmp(st->types, p->types, (size_t)p->n * sizeof *p->types) != 0) continue;
    return i;
  }
  return -1;
}

static void stmt_forget(hdb__pg_session *ss, int i) {
  hdb__free_mem(ss->stmts[i].sql);
  hdb__free_mem(ss->stmts[i].types);
  ss->stmts[i] = ss->stmts[--ss->n_stmts];
}

/* Prepares sql on pg and records it; -1 when it could not (then the
 * caller runs it unnamed, which reports any error of the text itself). */
static int stmt_prepare(PGconn *pg, hdb__pg_session *ss, uint64_t h, const char *sql,
                        const hdb__pg_params *p) {
  if (ss->n_stmts >= STMTS_MAX || ss->prepared >= PREPARES_MAX) return -1;
  if (!ss->stmts) {
    ss->stmts = hdb__calloc(STMTS_MAX, sizeof *ss->stmts);
    if (!ss->stmts) return -1;
  }
  hdb__pg_stmt *st = &ss->stmts[ss->n_stmts];
  memset(st, 0, sizeof *st);
  st->sql = hdb__strdup(sql);
  st->types = hdb__malloc((size_t)(p->n ? p->n : 1) * sizeof *st->types);
  if (!st->sql || !st->types) {
    hdb__free_mem(st->sql);
    hdb__free_mem(st->types);
    return -1;
  }
  if (p->n) memcpy(st->types, p->types, (size_t)p->n * sizeof *p->types);
  st->n = p->n;
  st->hash = h;
  snprintf(st->name, sizeof st->name, "hdb_p%u", ss->prepared++);
  PGresult *r = PQprepare(pg, st->name, sql, p->n, p->n ? p->types : NULL);
  int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok) {
    hdb__free_mem(st->sql);
    hdb__free_mem(st->types);
    return -1;
  }
  return ss->n_stmts++;
}

PGresult *hdb__pg_exec_cached(PGconn *pg, hdb__pg_session *ss, const char *sql,
                              const hdb__pg_params *p) {
  static const hdb__pg_params none = {0};
  if (!p) p = &none;
  if (!ss || PQtransactionStatus(pg) != PQTRANS_IDLE) return hdb__pg_exec(pg, sql, p);
  uint64_t h = stmt_hash(sql, p);
  for (int attempt = 0; attempt < 2; attempt++) {
    int i = stmt_find(ss, h, sql, p);
    if (i < 0) i = stmt_prepare(pg, ss, h, sql, p);
    if (i < 0) return hdb__pg_exec(pg, sql, p);
    PGresult *r = PQexecPrepared(pg, ss->stmts[i].name, p->n, p->values, p->lengths, p->formats, 1);
    const char *state = hdb__pg_sqlstate(r);
    /* 0A000 "cached plan must not change result type" (the table was
     * recreated with other columns), 26000 no such statement: forget it
     * and prepare the text again; nothing ran. */
    if (attempt == 0 && r && PQresultStatus(r) == PGRES_FATAL_ERROR && !hdb__pg_broken(pg) &&
        (strcmp(state, "0A000") == 0 || strcmp(state, "26000") == 0)) {
      PQclear(r);
      stmt_forget(ss, i);
      continue;
    }
    return r;
  }
  return hdb__pg_exec(pg, sql, p);
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
