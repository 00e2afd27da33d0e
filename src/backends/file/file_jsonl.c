/*
 * file_jsonl.c - JSON Lines tables and the KV file of the file backend.
 *
 * A table file holds one record per line in the library's JSON form
 * (core/json.h: blobs {"$base64":..}, timestamps RFC 3339, vectors arrays).
 * Parsing is strict, because a file that does not say what the user meant
 * must not be silently half-loaded: every line must be one JSON object with
 * an id, conform to the schema, and carry an id not seen before; the first
 * violation is HDB_CORRUPT naming the file and the 1-based line number.
 * Blank lines (and a trailing CR, for files edited on Windows) are allowed.
 *
 * _kv.jsonl holds one {"ns":..,"key":{"$base64":..},"value":{"$base64":..}}
 * per line; a plain JSON string is accepted as the UTF-8 bytes of a key or
 * value so that the file can be written by hand.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backends/file/file.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/record.h"
#include "core/schema.h"
#include "core/value.h"

/* ------------------------------------------------------------------ */
/* Id set                                                              */
/* ------------------------------------------------------------------ */

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

int hdb__idset_add(hdb__idset *s, const char *id) {
  if ((s->n + 1) * 2 > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    const char **slots = hdb__calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->slots[i]) continue;
      size_t j = (size_t)(fnv1a(s->slots[i]) & (cap - 1));
      while (slots[j]) j = (j + 1) & (cap - 1);
      slots[j] = s->slots[i];
    }
    hdb__free_mem((void *)s->slots);
    s->slots = slots;
    s->cap = cap;
  }
  size_t j = (size_t)(fnv1a(id) & (s->cap - 1));
  while (s->slots[j]) {
    if (strcmp(s->slots[j], id) == 0) return 0;
    j = (j + 1) & (s->cap - 1);
  }
  s->slots[j] = id;
  s->n++;
  return 1;
}

void hdb__idset_free(hdb__idset *s) {
  hdb__free_mem((void *)s->slots);
  memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ */
/* Lines                                                               */
/* ------------------------------------------------------------------ */

/* Iterates lines: sets *line and *llen (without "\n" or "\r\n") and returns the
 * offset after it, or len when there are no more lines. */
static size_t next_line(const char *buf, size_t len, size_t off, const char **line,
                        size_t *llen) {
  const char *start = buf + off;
  const char *nl = memchr(start, '\n', len - off);
  size_t n = nl ? (size_t)(nl - start) : len - off;
  *line = start;
  *llen = (n > 0 && start[n - 1] == '\r') ? n - 1 : n;
  return nl ? off + n + 1 : len;
}

static int blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
  return 1;
}

/* Parses one line as a JSON object: HDB_CORRUPT naming the line, or
 * HDB_NOMEM (hdb__json_parse tells the two apart; cJSON alone does not). */
static hdb_status parse_object(const char *line, size_t llen, const char *fname, size_t lineno,
                               cJSON **out, hdb_error *err) {
  cJSON *obj = NULL;
  hdb_status st = hdb__json_parse(line, llen, &obj, err);
  if (st == HDB_NOMEM) return st;
  if (st == HDB_OK && !cJSON_IsObject(obj)) {
    cJSON_Delete(obj);
    return hdb__fail(err, HDB_CORRUPT, "%s line %zu: expected a JSON object", fname, lineno);
  }
  if (st != HDB_OK) {
    if (err) err->code = HDB_CORRUPT;
    hdb__err_prefix(err, "%s line %zu", fname, lineno);
    return HDB_CORRUPT;
  }
  *out = obj;
  return HDB_OK;
}

hdb_status hdb__jsonl_parse(const char *buf, size_t len, const char *fname, const char *table,
                            const hdb_schema *schema, hdb__rowbuf *rows, hdb_error *err) {
  hdb__json_init();
  hdb__idset ids = {0};
  hdb_status st = HDB_OK;
  size_t off = 0, lineno = 0;
  while (off < len) {
    const char *line;
    size_t llen;
    off = next_line(buf, len, off, &line, &llen);
    lineno++;
    if (blank(line, llen)) continue;
    /* The text parser, not a cJSON tree: it keeps 1.0 a float and int64
     * values above 2^53 exact. */
    hdb_record *rec = NULL;
    st = hdb_record_from_json(line, llen, 1, &rec, err);
    if (st == HDB_OK) st = hdb__schema_conform(schema, table, rec, 1, err);
    if (st != HDB_OK) {
      hdb_record_free(rec);
      if (st != HDB_NOMEM) st = HDB_CORRUPT;
      if (err) err->code = st;
      hdb__err_prefix(err, "%s line %zu", fname, lineno);
      break;
    }
    int added = hdb__idset_add(&ids, rec->id);
    if (added <= 0) {
      st = added < 0 ? hdb__fail(err, HDB_NOMEM, "out of memory reading %s", fname)
                     : hdb__fail(err, HDB_CORRUPT, "%s line %zu: duplicate id '%.200s'", fname,
                                 lineno, rec->id);
      hdb_record_free(rec);
      break;
    }
    if ((st = hdb__rowbuf_push(rows, rec, NAN)) != HDB_OK) {
      hdb__fail(err, st, "out of memory reading %s", fname);
      break;
    }
  }
  hdb__idset_free(&ids);
  return st;
}

hdb_status hdb__jsonl_dump(hdb_record *const *rows, size_t n, hdb__strbuf *out, hdb_error *err) {
  for (size_t i = 0; i < n; i++) {
    char *text = NULL;
    hdb_status st = hdb__record_to_json_text(rows[i], NAN, &text);
    if (st != HDB_OK)
      return hdb__fail(err, st, "cannot encode record '%.200s' as JSON",
                       rows[i]->id ? rows[i]->id : "");
    hdb__strbuf_puts(out, text);
    hdb__strbuf_putc(out, '\n');
    hdb_free(text);
  }
  if (out->oom) return hdb__fail(err, HDB_NOMEM, "out of memory encoding a table");
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* KV                                                                  */
/* ------------------------------------------------------------------ */

/* Bytes of a key or value node: {"$base64":..} or a plain string. On
 * success *v owns the payload (hdb__value_release). */
static hdb_status kv_bytes(const cJSON *node, hdb_value *v, const void **p, size_t *n,
                           hdb_error *err) {
  memset(v, 0, sizeof *v);
  if (cJSON_IsString(node)) {
    *p = node->valuestring;
    *n = strlen(node->valuestring);
    return HDB_OK;
  }
  if (!cJSON_IsObject(node)) return hdb__fail(err, HDB_CORRUPT, "expected {\"$base64\":...}");
  hdb_status st = hdb__value_from_cjson(node, v, err);
  if (st != HDB_OK) return st;
  if (v->type != HDB_TYPE_BLOB) {
    hdb__value_release(v);
    return hdb__fail(err, HDB_CORRUPT, "expected {\"$base64\":...}");
  }
  *p = v->as.blob.data;
  *n = v->as.blob.len;
  return HDB_OK;
}

static hdb_status kv_line(const cJSON *obj, hdb_kv_batch *batch, hdb_error *err) {
  const cJSON *ns = cJSON_GetObjectItemCaseSensitive(obj, "ns");
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(obj, "key");
  const cJSON *val = cJSON_GetObjectItemCaseSensitive(obj, "value");
  if (ns && !cJSON_IsString(ns) && !cJSON_IsNull(ns))
    return hdb__fail(err, HDB_CORRUPT, "\"ns\" must be a string");
  if (!key) return hdb__fail(err, HDB_CORRUPT, "missing \"key\"");
  if (!val) return hdb__fail(err, HDB_CORRUPT, "missing \"value\"");
  hdb_value kv, vv;
  const void *kp, *vp;
  size_t kn, vn;
  hdb_status st = kv_bytes(key, &kv, &kp, &kn, err);
  if (st != HDB_OK) {
    hdb__err_prefix(err, "\"key\"");
    return st;
  }
  if ((st = kv_bytes(val, &vv, &vp, &vn, err)) != HDB_OK) {
    hdb__err_prefix(err, "\"value\"");
    hdb__value_release(&kv);
    return st;
  }
  const char *nsname = cJSON_IsString(ns) ? ns->valuestring : "";
  if ((st = hdb__kv_check(nsname, kn, vn, err)) == HDB_OK) {
    st = hdb_kv_batch_put(batch, nsname, kp, kn, vp, vn);
    if (st != HDB_OK) hdb__fail(err, st, "cannot add key to batch");
  }
  hdb__value_release(&kv);
  hdb__value_release(&vv);
  return st;
}

hdb_status hdb__kv_parse(const char *buf, size_t len, const char *fname, hdb_kv_batch *batch,
                         hdb_error *err) {
  hdb__json_init();
  size_t off = 0, lineno = 0;
  while (off < len) {
    const char *line;
    size_t llen;
    off = next_line(buf, len, off, &line, &llen);
    lineno++;
    if (blank(line, llen)) continue;
    cJSON *obj = NULL;
    hdb_status st = parse_object(line, llen, fname, lineno, &obj, err);
    if (st != HDB_OK) return st;
    st = kv_line(obj, batch, err);
    cJSON_Delete(obj);
    if (st != HDB_OK) {
      if (st != HDB_NOMEM) st = HDB_CORRUPT;
      if (err) err->code = st;
      hdb__err_prefix(err, "%s line %zu", fname, lineno);
      return st;
    }
  }
  return HDB_OK;
}

hdb_status hdb__kv_dump_line(hdb__strbuf *out, const char *ns, const void *key, size_t klen,
                             const void *val, size_t vlen) {
  hdb_value kv = {.type = HDB_TYPE_BLOB};
  kv.as.blob.data = key;
  kv.as.blob.len = klen;
  hdb_value vv = {.type = HDB_TYPE_BLOB};
  vv.as.blob.data = val;
  vv.as.blob.len = vlen;
  cJSON *obj = cJSON_CreateObject();
  cJSON *k = hdb__value_to_cjson(&kv);
  cJSON *v = hdb__value_to_cjson(&vv);
  char *text = NULL;
  if (obj && k && v && cJSON_AddStringToObject(obj, "ns", ns) &&
      cJSON_AddItemToObject(obj, "key", k)) {
    k = NULL; /* owned by obj now */
    if (cJSON_AddItemToObject(obj, "value", v)) {
      v = NULL;
      text = cJSON_PrintUnformatted(obj);
    }
  }
  cJSON_Delete(obj);
  cJSON_Delete(k);
  cJSON_Delete(v);
  if (!text) return HDB_NOMEM;
  hdb__strbuf_puts(out, text);
  hdb__strbuf_putc(out, '\n');
  cJSON_free(text);
  return out->oom ? HDB_NOMEM : HDB_OK;
}
