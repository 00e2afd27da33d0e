/*
 * pg_codec.c - hanzo values to and from PostgreSQL's binary wire format.
 *
 * Type mapping (the SQL type comes from the shared SQL layer's
 * hdb__sql_column_type, so its filter translation and our storage agree;
 * the kind below is how we encode and decode that type):
 *
 *   bool       BOOLEAN             1 byte
 *   int        BIGINT              8 bytes big-endian
 *   float      DOUBLE PRECISION    IEEE-754 bits, big-endian (exact)
 *   text       TEXT COLLATE "C"    raw UTF-8 (byte order in ORDER BY / < >)
 *   blob       BYTEA               raw bytes
 *   timestamp  TIMESTAMPTZ         int64 microseconds since 2000-01-01 UTC
 *              (or BIGINT microseconds since 1970 if the layer says BIGINT)
 *   json       JSON                the text as written (the layer's choice:
 *                                  JSON keeps the bytes, JSONB would reorder
 *                                  keys); JSONB also read and written
 *   vector     BYTEA               dim float32, little-endian (read without a
 *                                  copy on little-endian hosts)
 *              (or REAL[]: a one-dimensional float4 array)
 *              vector(dim) in pgvector mode (pg_schema.c decides and records
 *                                  it): int16 dim, int16 0, dim float4
 *                                  big-endian: float32 bits travel unchanged
 *                                  both ways, so vectors read back
 *                                  bit-identical
 *
 * JSON text is read back through hdb__json_normalize (compact, numbers
 * as written), which is the form records hold, so it round-trips exactly.
 *
 * Timestamps: PostgreSQL holds 4713 BC .. 294276 AD; values outside are
 * refused with HDB_TYPE_MISMATCH before anything is written.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pg.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/record.h"
#include "core/value.h"

/* Microseconds between 1970-01-01 and 2000-01-01. */
#define PG_EPOCH_US INT64_C(946684800000000)
/* PostgreSQL's valid timestamp range in its own microseconds
 * (MIN_TIMESTAMP / END_TIMESTAMP of datatype/timestamp.h). */
#define PG_MIN_TS INT64_C(-211813488000000000)
#define PG_END_TS INT64_C(9223371331200000000)

static int host_little_endian(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* Upper-cased copy of a type name without spaces around it. */
static void upper(const char *s, char *buf, size_t cap) {
  size_t n = 0;
  for (; *s && n + 1 < cap; s++) buf[n++] = (char)toupper((unsigned char)*s);
  buf[n] = '\0';
}

void hdb__pg_column_kind(hdb_type type, uint32_t dim, hdb__pg_kind *kind, const char **ddl) {
  const char *t = hdb__sql_column_type(HDB__SQL_POSTGRES, type, dim);
  char u[64];
  upper(t ? t : "", u, sizeof u);
  *ddl = t;
  switch (type) {
  case HDB_TYPE_BOOL:
    if (!strcmp(u, "BOOLEAN") || !strcmp(u, "BOOL")) { *kind = HDB__PGK_BOOL; return; }
    *kind = HDB__PGK_BOOL; *ddl = "BOOLEAN"; return;
  case HDB_TYPE_INT:
    if (!strcmp(u, "BIGINT") || !strcmp(u, "INT8")) { *kind = HDB__PGK_INT8; return; }
    *kind = HDB__PGK_INT8; *ddl = "BIGINT"; return;
  case HDB_TYPE_FLOAT:
    if (!strcmp(u, "DOUBLE PRECISION") || !strcmp(u, "FLOAT8")) { *kind = HDB__PGK_FLOAT8; return; }
    *kind = HDB__PGK_FLOAT8; *ddl = "DOUBLE PRECISION"; return;
  case HDB_TYPE_TEXT:
    *kind = HDB__PGK_TEXT; *ddl = "TEXT COLLATE \"C\""; return;
  case HDB_TYPE_BLOB:
    *kind = HDB__PGK_BYTEA; *ddl = "BYTEA"; return;
  case HDB_TYPE_TIMESTAMP:
    if (!strcmp(u, "BIGINT") || !strcmp(u, "INT8")) { *kind = HDB__PGK_TS_INT8; return; }
    if (!strcmp(u, "TIMESTAMP") || !strcmp(u, "TIMESTAMP WITHOUT TIME ZONE")) { *kind = HDB__PGK_TS; return; }
    *kind = HDB__PGK_TSTZ;
    if (strcmp(u, "TIMESTAMPTZ") && strcmp(u, "TIMESTAMP WITH TIME ZONE")) *ddl = "TIMESTAMPTZ";
    return;
  case HDB_TYPE_JSON:
    if (!strcmp(u, "JSONB")) { *kind = HDB__PGK_JSONB; return; }
    *kind = HDB__PGK_JSON; *ddl = "JSON"; return;
  case HDB_TYPE_VECTOR:
    if (!strcmp(u, "REAL[]") || !strcmp(u, "FLOAT4[]")) { *kind = HDB__PGK_VEC_F4ARR; return; }
    *kind = HDB__PGK_VEC_BYTEA; *ddl = "BYTEA"; return;
  default:
    *kind = HDB__PGK_TEXT; *ddl = "TEXT COLLATE \"C\""; return;
  }
}

Oid hdb__pg_kind_oid(hdb__pg_kind k) {
  switch (k) {
  case HDB__PGK_BOOL: return 16;
  case HDB__PGK_INT8: return 20;
  case HDB__PGK_FLOAT8: return 701;
  case HDB__PGK_TEXT: return 25;
  case HDB__PGK_BYTEA: return 17;
  case HDB__PGK_TSTZ: return 1184;
  case HDB__PGK_TS: return 1114;
  case HDB__PGK_TS_INT8: return 20;
  case HDB__PGK_JSONB: return 3802;
  case HDB__PGK_JSON: return 114;
  case HDB__PGK_VEC_BYTEA: return 17;
  case HDB__PGK_VEC_F4ARR: return 1021;
  case HDB__PGK_VEC_PGV: return 0; /* per-database OID: inferred by the server */
  }
  return 0;
}

size_t hdb__pg_encoded_size(hdb__pg_kind k, const hdb_value *v) {
  switch (k) {
  case HDB__PGK_BOOL: return 1;
  case HDB__PGK_INT8:
  case HDB__PGK_FLOAT8:
  case HDB__PGK_TSTZ:
  case HDB__PGK_TS:
  case HDB__PGK_TS_INT8: return 8;
  case HDB__PGK_TEXT: return v->as.text.len;
  case HDB__PGK_BYTEA: return v->as.blob.len;
  case HDB__PGK_JSONB: return 1 + v->as.text.len;
  case HDB__PGK_JSON: return v->as.text.len;
  case HDB__PGK_VEC_BYTEA: return (size_t)v->as.vector.dim * 4;
  case HDB__PGK_VEC_F4ARR: return 20 + (size_t)v->as.vector.dim * 8;
  case HDB__PGK_VEC_PGV: return 4 + (size_t)v->as.vector.dim * 4;
  }
  return 0;
}

static void be32(unsigned char *d, uint32_t v) {
  d[0] = (unsigned char)(v >> 24);
  d[1] = (unsigned char)(v >> 16);
  d[2] = (unsigned char)(v >> 8);
  d[3] = (unsigned char)v;
}

static void be64(unsigned char *d, uint64_t v) {
  for (int k = 7; k >= 0; k--, v >>= 8) d[k] = (unsigned char)v;
}

static uint32_t rd32(const unsigned char *s) {
  return (uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 | s[3];
}

static uint64_t rd64(const unsigned char *s) {
  uint64_t v = 0;
  for (int k = 0; k < 8; k++) v = v << 8 | s[k];
  return v;
}

void hdb__pg_encode(hdb__pg_kind k, const hdb_value *v, unsigned char *d) {
  switch (k) {
  case HDB__PGK_BOOL: d[0] = (unsigned char)(v->as.boolean != 0); return;
  case HDB__PGK_INT8: be64(d, (uint64_t)v->as.i); return;
  case HDB__PGK_FLOAT8: {
    uint64_t bits;
    memcpy(&bits, &v->as.f, 8);
    be64(d, bits);
    return;
  }
  case HDB__PGK_TSTZ:
  case HDB__PGK_TS: /* range checked by hdb__pg_value_storable */
    be64(d, (uint64_t)(v->as.timestamp_us - PG_EPOCH_US));
    return;
  case HDB__PGK_TS_INT8: be64(d, (uint64_t)v->as.timestamp_us); return;
  case HDB__PGK_TEXT:
    if (v->as.text.len) memcpy(d, v->as.text.data, v->as.text.len);
    return;
  case HDB__PGK_BYTEA:
    if (v->as.blob.len) memcpy(d, v->as.blob.data, v->as.blob.len);
    return;
  case HDB__PGK_JSONB:
    d[0] = 1;
    memcpy(d + 1, v->as.text.data, v->as.text.len);
    return;
  case HDB__PGK_JSON:
    memcpy(d, v->as.text.data, v->as.text.len);
    return;
  case HDB__PGK_VEC_BYTEA:
    if (host_little_endian()) {
      memcpy(d, v->as.vector.data, (size_t)v->as.vector.dim * 4);
    } else {
      for (uint32_t i = 0; i < v->as.vector.dim; i++) {
        uint32_t bits;
        memcpy(&bits, &v->as.vector.data[i], 4);
        d[4 * i] = (unsigned char)bits;
        d[4 * i + 1] = (unsigned char)(bits >> 8);
        d[4 * i + 2] = (unsigned char)(bits >> 16);
        d[4 * i + 3] = (unsigned char)(bits >> 24);
      }
    }
    return;
  case HDB__PGK_VEC_F4ARR:
    be32(d, 1);        /* ndim */
    be32(d + 4, 0);    /* no nulls */
    be32(d + 8, 700);  /* float4 */
    be32(d + 12, v->as.vector.dim);
    be32(d + 16, 1);   /* lower bound */
    for (uint32_t i = 0; i < v->as.vector.dim; i++) {
      uint32_t bits;
      memcpy(&bits, &v->as.vector.data[i], 4);
      be32(d + 20 + 8 * (size_t)i, 4);
      be32(d + 24 + 8 * (size_t)i, bits);
    }
    return;
  case HDB__PGK_VEC_PGV: /* dim <= HDB__PG_VECTOR_MAX_DIM fits the int16 */
    d[0] = (unsigned char)(v->as.vector.dim >> 8);
    d[1] = (unsigned char)v->as.vector.dim;
    d[2] = d[3] = 0;
    for (uint32_t i = 0; i < v->as.vector.dim; i++) {
      uint32_t bits;
      memcpy(&bits, &v->as.vector.data[i], 4);
      be32(d + 4 + 4 * (size_t)i, bits);
    }
    return;
  }
}

hdb_status hdb__pg_value_storable(hdb__pg_kind k, const hdb_value *v, const char *table,
                                  const char *id, const char *field, hdb_error *err) {
  if ((k == HDB__PGK_TSTZ || k == HDB__PGK_TS) && v->type == HDB_TYPE_TIMESTAMP) {
    int64_t us = v->as.timestamp_us;
    if (us < PG_MIN_TS + PG_EPOCH_US || us - PG_EPOCH_US >= PG_END_TS)
      return hdb__fail(err, HDB_TYPE_MISMATCH,
                       "table '%s': record '%s': field '%s': timestamp %lld us is outside "
                       "PostgreSQL's range (4713 BC to 294276 AD)",
                       table, id ? id : "", field, (long long)us);
  }
  if (k == HDB__PGK_TEXT && v->type == HDB_TYPE_TEXT && memchr(v->as.text.data, 0, v->as.text.len))
    return hdb__fail(err, HDB_TYPE_MISMATCH,
                     "table '%s': record '%s': field '%s': PostgreSQL text cannot hold a NUL byte",
                     table, id ? id : "", field);
  return HDB_OK;
}

void hdb__pg_param_value(hdb__pg_params *p, hdb__pg_kind k, const hdb_value *v) {
  if (v->type == HDB_TYPE_NULL) {
    hdb__pg_param_null(p);
    return;
  }
  size_t n = hdb__pg_encoded_size(k, v);
  unsigned char *b = hdb__malloc(n ? n : 1);
  if (!b) {
    p->oom = 1;
    return;
  }
  hdb__pg_encode(k, v, b);
  hdb__pg_param_bytea(p, b, n);
  if (p->oom) {
    hdb__free_mem(b);
    return;
  }
  p->types[p->n - 1] = hdb__pg_kind_oid(k);
  p->values[p->n - 1] = (const char *)b;
  p->owned[p->n - 1] = 1;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

static hdb_status corrupt(hdb_error *err, const PGresult *res, int col, const char *why) {
  return hdb__fail(err, HDB_CORRUPT, "postgresql: column '%s' holds %s", PQfname(res, col), why);
}

int hdb__pg_vector_view(const PGresult *res, int row, int col, hdb__pg_kind k, uint32_t dim,
                        float *scratch, const float **data) {
  const unsigned char *s = (const unsigned char *)PQgetvalue(res, row, col);
  size_t len = (size_t)PQgetlength(res, row, col);
  if (k == HDB__PGK_VEC_F4ARR) {
    if (len != 20 + (size_t)dim * 8 || rd32(s) != 1 || rd32(s + 4) != 0 || rd32(s + 12) != dim)
      return -1;
    for (uint32_t i = 0; i < dim; i++) {
      if (rd32(s + 20 + 8 * (size_t)i) != 4) return -1;
      uint32_t bits = rd32(s + 24 + 8 * (size_t)i);
      memcpy(&scratch[i], &bits, 4);
    }
    *data = scratch;
    return 0;
  }
  if (k == HDB__PGK_VEC_PGV) {
    if (len != 4 + (size_t)dim * 4 || ((uint32_t)s[0] << 8 | s[1]) != dim || s[2] || s[3])
      return -1;
    for (uint32_t i = 0; i < dim; i++) {
      uint32_t bits = rd32(s + 4 + 4 * (size_t)i);
      memcpy(&scratch[i], &bits, 4);
    }
    *data = scratch;
    return 0;
  }
  if (len != (size_t)dim * 4) return -1;
  if (host_little_endian() && ((uintptr_t)s % sizeof(float)) == 0) {
    *data = (const float *)(const void *)s;
    return 0;
  }
  for (uint32_t i = 0; i < dim; i++) {
    uint32_t bits = (uint32_t)s[4 * i] | (uint32_t)s[4 * i + 1] << 8 |
                    (uint32_t)s[4 * i + 2] << 16 | (uint32_t)s[4 * i + 3] << 24;
    memcpy(&scratch[i], &bits, 4);
  }
  *data = scratch;
  return 0;
}

hdb_status hdb__pg_decode(const PGresult *res, int row, int col, hdb_type type, uint32_t dim,
                          hdb_value *out, hdb_error *err) {
  memset(out, 0, sizeof *out);
  out->type = HDB_TYPE_NULL;
  if (PQgetisnull(res, row, col)) return HDB_OK;
  const unsigned char *s = (const unsigned char *)PQgetvalue(res, row, col);
  size_t len = (size_t)PQgetlength(res, row, col);
  Oid oid = PQftype(res, col);
  switch (oid) {
  case 16: /* bool */
    if (len != 1) return corrupt(err, res, col, "a malformed bool");
    out->type = HDB_TYPE_BOOL;
    out->as.boolean = s[0] != 0;
    return HDB_OK;
  case 20: /* int8 */
  case 23: /* int4 */
  case 21: { /* int2 */
    int64_t v;
    if (len == 8) v = (int64_t)rd64(s);
    else if (len == 4) v = (int32_t)rd32(s);
    else if (len == 2) v = (int16_t)((uint16_t)s[0] << 8 | s[1]);
    else return corrupt(err, res, col, "a malformed integer");
    if (type == HDB_TYPE_TIMESTAMP) {
      out->type = HDB_TYPE_TIMESTAMP;
      out->as.timestamp_us = v;
    } else if (type == HDB_TYPE_FLOAT) {
      out->type = HDB_TYPE_FLOAT;
      out->as.f = (double)v;
    } else {
      out->type = HDB_TYPE_INT;
      out->as.i = v;
    }
    return HDB_OK;
  }
  case 701: /* float8 */
  case 700: { /* float4 */
    double d;
    if (len == 8) {
      uint64_t bits = rd64(s);
      memcpy(&d, &bits, 8);
    } else if (len == 4) {
      uint32_t bits = rd32(s);
      float f;
      memcpy(&f, &bits, 4);
      d = f;
    } else {
      return corrupt(err, res, col, "a malformed float");
    }
    out->type = HDB_TYPE_FLOAT;
    out->as.f = d;
    return HDB_OK;
  }
  case 1184: /* timestamptz */
  case 1114: /* timestamp */
    if (len != 8) return corrupt(err, res, col, "a malformed timestamp");
    out->type = HDB_TYPE_TIMESTAMP;
    out->as.timestamp_us = (int64_t)rd64(s) + PG_EPOCH_US;
    return HDB_OK;
  case 3802: /* jsonb */
  case 114:  /* json */
  case 25:   /* text */
  case 1043: /* varchar */
  case 19: { /* name */
    const char *t = (const char *)s;
    if (oid == 3802) {
      if (len < 1 || s[0] != 1) return corrupt(err, res, col, "an unknown jsonb version");
      t++;
      len--;
    }
    if (type == HDB_TYPE_JSON || oid == 3802 || oid == 114) {
      char *norm = NULL;
      size_t nlen = 0;
      hdb_status st = hdb__json_normalize(t, len, &norm, &nlen, err);
      if (st != HDB_OK) return st == HDB_NOMEM ? st : corrupt(err, res, col, "malformed JSON");
      out->type = HDB_TYPE_JSON;
      out->as.text.data = norm;
      out->as.text.len = nlen;
      return HDB_OK;
    }
    char *copy = hdb__strndup(t, len);
    if (!copy) return hdb__fail(err, HDB_NOMEM, "out of memory reading a row");
    out->type = HDB_TYPE_TEXT;
    out->as.text.data = copy;
    out->as.text.len = len;
    return HDB_OK;
  }
  case 17: /* bytea */
  case 1021: { /* float4[] */
    if (type == HDB_TYPE_VECTOR) {
      float *v = hdb__malloc(dim ? (size_t)dim * sizeof *v : 1);
      if (!v) return hdb__fail(err, HDB_NOMEM, "out of memory reading a vector");
      const float *data = NULL;
      if (hdb__pg_vector_view(res, row, col, oid == 17 ? HDB__PGK_VEC_BYTEA : HDB__PGK_VEC_F4ARR,
                              dim, v, &data) != 0) {
        hdb__free_mem(v);
        return corrupt(err, res, col, "a vector of the wrong size");
      }
      if (data != v) memcpy(v, data, (size_t)dim * sizeof *v);
      out->type = HDB_TYPE_VECTOR;
      out->as.vector.data = v;
      out->as.vector.dim = dim;
      return HDB_OK;
    }
    if (oid != 17) return corrupt(err, res, col, "an array where bytes were expected");
    void *b = hdb__malloc(len ? len : 1);
    if (!b) return hdb__fail(err, HDB_NOMEM, "out of memory reading a blob");
    if (len) memcpy(b, s, len);
    out->type = HDB_TYPE_BLOB;
    out->as.blob.data = b;
    out->as.blob.len = len;
    return HDB_OK;
  }
  default:
    if (type == HDB_TYPE_VECTOR) { /* pgvector's vector: its OID differs per database */
      float *v = hdb__malloc(dim ? (size_t)dim * sizeof *v : 1);
      const float *data = NULL;
      if (!v) return hdb__fail(err, HDB_NOMEM, "out of memory reading a vector");
      if (hdb__pg_vector_view(res, row, col, HDB__PGK_VEC_PGV, dim, v, &data) != 0) {
        hdb__free_mem(v);
        return corrupt(err, res, col, "a vector of the wrong size or an unknown type");
      }
      out->type = HDB_TYPE_VECTOR;
      out->as.vector.data = v;
      out->as.vector.dim = dim;
      return HDB_OK;
    }
    return hdb__fail(err, HDB_CORRUPT, "postgresql: column '%s' has type oid %u, which hanzo-db "
                     "does not read", PQfname(res, col), (unsigned)oid);
  }
}
