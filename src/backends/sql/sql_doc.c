/*
 * sql_doc.c - the JSON document a schemaless table stores per record (see
 * sql.h): natural JSON for the types JSON has, one-member wrapper objects
 * ({"$ts":..}, {"$vector":..}, {"$json":..}) for the others, so that every
 * value reads back with its type and bytes.
 *
 * Decoding leans on hdb_record_from_json, which keeps integers exact and
 * gives every object as compact JSON text; a wrapper is recognised by the
 * exact prefix that text has, because the compact writer emits a
 * one-member object as {"KEY":VALUE} with nothing in between.
 */
#include <stdlib.h>
#include <string.h>

#include "backends/sql/sql.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/record.h"
#include "core/value.h"

typedef struct dbuf {
  char *s;
  size_t len, cap;
  int oom;
} dbuf;

static void put(dbuf *b, const char *p, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + n + 1) cap *= 2;
    char *s = hdb__realloc(b->s, cap);
    if (!s) {
      b->oom = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
  memcpy(b->s + b->len, p, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void puts_(dbuf *b, const char *p) { put(b, p, strlen(p)); }

static void put_json(dbuf *b, const hdb_value *v) {
  char *t = NULL;
  size_t n = 0;
  if (hdb__value_to_json_text(v, &t, &n) != HDB_OK) {
    b->oom = 1;
    return;
  }
  put(b, t, n);
  hdb__free_mem(t);
}

hdb_status hdb__sql_doc_encode(const hdb_record *r, char **out, size_t *len) {
  dbuf b = {0};
  *out = NULL;
  puts_(&b, "{");
  for (size_t i = 0; i < r->n; i++) {
    const hdb__field *f = &r->fields[i];
    if (i) puts_(&b, ",");
    /* Field names are [A-Za-z0-9_]: no escaping needed. */
    puts_(&b, "\"");
    puts_(&b, f->name);
    puts_(&b, "\":");
    switch (f->value.type) {
    case HDB_TYPE_TIMESTAMP: {
      hdb_value iv = {.type = HDB_TYPE_INT};
      iv.as.i = f->value.as.timestamp_us;
      puts_(&b, "{\"$ts\":");
      put_json(&b, &iv);
      puts_(&b, "}");
      break;
    }
    case HDB_TYPE_VECTOR:
      puts_(&b, "{\"$vector\":");
      put_json(&b, &f->value);
      puts_(&b, "}");
      break;
    case HDB_TYPE_JSON:
      puts_(&b, "{\"$json\":");
      put(&b, f->value.as.text.data, f->value.as.text.len);
      puts_(&b, "}");
      break;
    default: put_json(&b, &f->value); break;
    }
  }
  puts_(&b, "}");
  if (b.oom) {
    hdb__free_mem(b.s);
    return HDB_NOMEM;
  }
  *out = b.s;
  if (len) *len = b.len;
  return HDB_OK;
}

static int has_wrapper(const hdb_value *v, const char *prefix, size_t *inner_off,
                       size_t *inner_len) {
  size_t pl = strlen(prefix);
  if (v->as.text.len < pl + 2 || memcmp(v->as.text.data, prefix, pl) != 0 ||
      v->as.text.data[v->as.text.len - 1] != '}')
    return 0;
  *inner_off = pl;
  *inner_len = v->as.text.len - pl - 1;
  return 1;
}

/* Restores the type of one wrapped field in place. */
static hdb_status unwrap(hdb__field *f, hdb_error *err) {
  hdb_value *v = &f->value;
  const char *t = v->as.text.data;
  size_t off, n;
  hdb_value nv;
  memset(&nv, 0, sizeof nv);
  if (has_wrapper(v, "{\"$ts\":", &off, &n)) {
    char buf[32];
    if (n == 0 || n >= sizeof buf) goto bad;
    memcpy(buf, t + off, n);
    buf[n] = '\0';
    char *end;
    long long us = strtoll(buf, &end, 10);
    if (*end) goto bad;
    nv.type = HDB_TYPE_TIMESTAMP;
    nv.as.timestamp_us = us;
  } else if (has_wrapper(v, "{\"$vector\":", &off, &n)) {
    float *vec = NULL;
    uint32_t dim = 0;
    hdb_status rc = hdb__json_to_vector(t + off, n, &vec, &dim, err);
    if (rc == HDB_NOMEM) return rc;
    if (rc != HDB_OK) goto bad;
    nv.type = HDB_TYPE_VECTOR;
    nv.as.vector.data = vec;
    nv.as.vector.dim = dim;
  } else if (has_wrapper(v, "{\"$json\":", &off, &n)) {
    char *j = hdb__strndup(t + off, n);
    if (!j) return hdb__fail(err, HDB_NOMEM, "out of memory reading a document");
    nv.type = HDB_TYPE_JSON;
    nv.as.text.data = j;
    nv.as.text.len = n;
  } else {
    return HDB_OK; /* an object written by someone else: json as it is */
  }
  hdb__value_release(v);
  *v = nv;
  return HDB_OK;
bad:
  return hdb__fail(err, HDB_CORRUPT, "field '%s' holds a malformed %.*s wrapper", f->name,
                   (int)(off > 2 ? off - 3 : 0), t + 2);
}

hdb_status hdb__sql_doc_decode(const char *id, const char *doc, size_t len, hdb_record **out,
                               hdb_error *err) {
  *out = NULL;
  hdb_record *r = NULL;
  hdb_status rc = hdb_record_from_json(doc, len, 0, &r, err);
  if (rc == HDB_NOMEM) return rc;
  if (rc != HDB_OK || r->id) {
    hdb_record_free(r);
    return hdb__fail(err, HDB_CORRUPT, "the document of row '%s' is not a valid record", id);
  }
  r->id = hdb__strdup(id);
  if (!r->id) {
    hdb_record_free(r);
    return hdb__fail(err, HDB_NOMEM, "out of memory reading row '%s'", id);
  }
  for (size_t i = 0; i < r->n; i++) {
    if (r->fields[i].value.type != HDB_TYPE_JSON) continue;
    rc = unwrap(&r->fields[i], err);
    if (rc != HDB_OK) {
      hdb_record_free(r);
      return rc;
    }
  }
  *out = r;
  return HDB_OK;
}
