/*
 * cursor.c - cursors, KV iterators and batches: the public dispatch
 * functions, the common rows cursor, in-memory sorting, and key order.
 *
 * Sticky errors: hdb_cursor_next and hdb_kv_iter_next/seek record the
 * first error in the object's hdb_error and return it from then on without
 * calling the backend again (LMDB's MDB_TXN_ERROR), so a caller that
 * ignores one failure cannot read rows past a gap.
 *
 * Sorting uses heapsort: it needs no allocation (hdb__sort_records cannot
 * fail) and stays memory-safe even if a comparison is inconsistent, which
 * can happen when resolving a json path runs out of memory mid-sort. Ties
 * end with the id, so stability is not needed.
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "cursor.h"
#include "err.h"
#include "json.h"
#include "record.h"
#include "value.h"

#define KV_MAX_KEY 65535u
#define KV_MAX_VALUE (64u * 1024u * 1024u)
#define KV_MAX_NS 1024u

/* ------------------------------------------------------------------ */
/* Cursors                                                             */
/* ------------------------------------------------------------------ */

void hdb__cursor_init(hdb_cursor *c, const hdb__cursor_vtab *vt)
{
  c->vt = vt;
  hdb__err_clear(&c->err);
  c->distance = NAN;
}

hdb_status hdb_cursor_next(hdb_cursor *c, const hdb_record **record)
{
  if (record != NULL)
    *record = NULL;
  if (c == NULL || record == NULL)
    return HDB_INVALID_ARGUMENT;
  if (c->err.code != HDB_OK)
    return c->err.code;
  double d = NAN;
  const hdb_record *r = NULL;
  hdb_status st = c->vt->next(c, &r, &d, &c->err);
  if (st == HDB_OK) {
    *record = r;
    c->distance = d;
    return HDB_OK;
  }
  c->distance = NAN;
  if (st == HDB_DONE)
    return HDB_DONE;
  if (c->err.code != st || c->err.message[0] == '\0')
    hdb__fail(&c->err, st, "%s", c->err.message[0] ? c->err.message : hdb_status_message(st));
  return st;
}

double hdb_cursor_distance(const hdb_cursor *c)
{
  return c ? c->distance : NAN;
}

const char *hdb_cursor_errmsg(const hdb_cursor *c)
{
  if (c == NULL)
    return "no cursor";
  if (c->err.code == HDB_OK)
    return "not an error";
  return c->err.message;
}

void hdb_cursor_close(hdb_cursor *c)
{
  if (c != NULL && c->vt != NULL && c->vt->close != NULL)
    c->vt->close(c);
}

/* ------------------------------------------------------------------ */
/* The rows cursor                                                     */
/* ------------------------------------------------------------------ */

typedef struct rows_cursor {
  hdb_cursor base; /* first: the cursor is freed through it */
  hdb_record **rows;
  double *dist;
  size_t n, pos; /* rows[0..pos-1) are already freed and NULL */
} rows_cursor;

static hdb_status rows_next(hdb_cursor *c, const hdb_record **rec, double *distance,
                            hdb_error *err)
{
  rows_cursor *rc = (rows_cursor *)c;
  if (rc->pos > 0 && rc->rows[rc->pos - 1] != NULL) {
    hdb_record_free(rc->rows[rc->pos - 1]);
    rc->rows[rc->pos - 1] = NULL;
  }
  if (rc->pos >= rc->n)
    return HDB_DONE;
  *rec = rc->rows[rc->pos];
  *distance = rc->dist ? rc->dist[rc->pos] : NAN;
  rc->pos++;
  return HDB_OK;
}

static void free_rows(hdb_record **rows, double *dist, size_t n)
{
  for (size_t i = 0; rows != NULL && i < n; i++)
    hdb_record_free(rows[i]);
  hdb__free_mem(rows);
  hdb__free_mem(dist);
}

static void rows_close(hdb_cursor *c)
{
  rows_cursor *rc = (rows_cursor *)c;
  free_rows(rc->rows, rc->dist, rc->n);
  hdb__free_mem(rc);
}

static const hdb__cursor_vtab rows_vtab = {.next = rows_next, .close = rows_close};

hdb_status hdb__rows_cursor_new(hdb_record **rows, double *distances, size_t n,
                                hdb_cursor **out, hdb_error *err)
{
  *out = NULL;
  rows_cursor *rc = hdb__calloc(1, sizeof *rc);
  if (rc == NULL) {
    free_rows(rows, distances, n);
    return hdb__fail(err, HDB_NOMEM, "out of memory creating a cursor");
  }
  hdb__cursor_init(&rc->base, &rows_vtab);
  rc->rows = rows;
  rc->dist = distances;
  rc->n = n;
  *out = &rc->base;
  return HDB_OK;
}

hdb_status hdb__rowbuf_push(hdb__rowbuf *b, hdb_record *rec, double dist)
{
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 16;
    hdb_record **rows = hdb__realloc(b->rows, cap * sizeof *rows);
    if (rows == NULL) {
      hdb_record_free(rec);
      return HDB_NOMEM;
    }
    b->rows = rows;
    double *d = hdb__realloc(b->dist, cap * sizeof *d);
    if (d == NULL) {
      hdb_record_free(rec);
      return HDB_NOMEM;
    }
    b->dist = d;
    b->cap = cap;
  }
  b->rows[b->n] = rec;
  b->dist[b->n] = dist;
  b->n++;
  return HDB_OK;
}

void hdb__rowbuf_free(hdb__rowbuf *b)
{
  if (b == NULL)
    return;
  free_rows(b->rows, b->dist, b->n);
  memset(b, 0, sizeof *b);
}

hdb_status hdb__rowbuf_cursor(hdb__rowbuf *b, hdb_cursor **out, hdb_error *err)
{
  hdb_record **rows = b->rows;
  double *dist = b->dist;
  size_t n = b->n;
  memset(b, 0, sizeof *b);
  return hdb__rows_cursor_new(rows, dist, n, out, err);
}

/* ------------------------------------------------------------------ */
/* Sorting                                                             */
/* ------------------------------------------------------------------ */

#define PATH_MAX_SEGS 32

/* Value of sort key `field` in r. A top-level field is borrowed (*owned 0);
 * a json path value is owned (*owned 1). Missing gives null. Returns
 * HDB_NOMEM when a path could not be resolved for lack of memory. */
static hdb_status key_value(const hdb_record *r, const char *field, hdb_value *out, int *owned)
{
  memset(out, 0, sizeof *out);
  out->type = HDB_TYPE_NULL;
  *owned = 0;
  const char *dot = strchr(field, '.');
  if (dot == NULL && strcmp(field, "id") == 0) { /* the record id, as text */
    if (r->id != NULL) {
      out->type = HDB_TYPE_TEXT;
      out->as.text.data = r->id;
      out->as.text.len = strlen(r->id);
    }
    return HDB_OK;
  }
  if (dot == NULL) {
    const hdb_value *v = hdb__record_value(r, field);
    if (v != NULL)
      *out = *v;
    return HDB_OK;
  }
  char path[HDB_MAX_NAME_LEN * 8];
  const char *segs[PATH_MAX_SEGS];
  size_t n = 0, len = strlen(field);
  if (len >= sizeof path)
    return HDB_OK; /* longer than any resolvable path */
  memcpy(path, field, len + 1);
  for (char *p = path; n < PATH_MAX_SEGS;) {
    segs[n++] = p;
    char *d = strchr(p, '.');
    if (d == NULL)
      break;
    *d = '\0';
    p = d + 1;
  }
  const hdb_value *top = hdb__record_value(r, segs[0]);
  if (top == NULL || top->type != HDB_TYPE_JSON)
    return HDB_OK;
  hdb_status st = HDB_OK;
  int found = hdb__json_path_value(top->as.text.data, top->as.text.len, segs + 1, n - 1, out, &st);
  if (found == 1) {
    *owned = 1;
    return HDB_OK;
  }
  return found < 0 && st == HDB_NOMEM ? HDB_NOMEM : HDB_OK;
}

static int id_compare(const hdb_record *a, const hdb_record *b)
{
  if (a->id == NULL || b->id == NULL)
    return (a->id != NULL) - (b->id != NULL);
  int c = strcmp(a->id, b->id); /* compares as unsigned char: byte order */
  return (c > 0) - (c < 0);
}

/* Order of two resolved key values under key k. */
static int key_order(const hdb_value *a, const hdb_value *b, const hdb_sort_key *k)
{
  int c = hdb__value_order(a, b);
  return k->descending ? -c : c;
}

int hdb__record_compare(const hdb_record *a, const hdb_record *b, const hdb_sort_key *keys,
                        size_t n_keys)
{
  for (size_t i = 0; i < n_keys; i++) {
    hdb_value va, vb;
    int oa, ob;
    key_value(a, keys[i].field, &va, &oa);
    key_value(b, keys[i].field, &vb, &ob);
    int c = key_order(&va, &vb, &keys[i]);
    if (oa)
      hdb__value_release(&va);
    if (ob)
      hdb__value_release(&vb);
    if (c != 0)
      return c;
  }
  return id_compare(a, b);
}

typedef struct sort_ctx {
  const hdb_sort_key *keys;
  size_t n_keys;
} sort_ctx;

typedef int (*sort_cmp)(const void *a, const void *b, const sort_ctx *ctx);

static void swap_bytes(char *a, char *b, size_t size)
{
  while (size--) {
    char t = *a;
    *a++ = *b;
    *b++ = t;
  }
}

static void sift_down(char *base, size_t size, size_t root, size_t n, sort_cmp cmp,
                      const sort_ctx *ctx)
{
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n)
      return;
    if (child + 1 < n && cmp(base + child * size, base + (child + 1) * size, ctx) < 0)
      child++;
    if (cmp(base + root * size, base + child * size, ctx) >= 0)
      return;
    swap_bytes(base + root * size, base + child * size, size);
    root = child;
  }
}

static void heap_sort(void *v, size_t n, size_t size, sort_cmp cmp, const sort_ctx *ctx)
{
  char *base = v;
  if (n < 2)
    return;
  for (size_t i = n / 2; i-- > 0;)
    sift_down(base, size, i, n, cmp, ctx);
  for (size_t end = n - 1; end > 0; end--) {
    swap_bytes(base, base + end * size, size);
    sift_down(base, size, 0, end, cmp, ctx);
  }
}

static int record_ptr_compare(const void *a, const void *b, const sort_ctx *ctx)
{
  return hdb__record_compare(*(hdb_record *const *)a, *(hdb_record *const *)b, ctx->keys,
                             ctx->n_keys);
}

/* One record with its key values resolved up front (vals[k] is owned when
 * keys[k] is a path, borrowed from the record otherwise). */
typedef struct sort_item {
  hdb_record *rec;
  hdb_value *vals;
} sort_item;

static int item_compare(const void *pa, const void *pb, const sort_ctx *ctx)
{
  const sort_item *a = pa, *b = pb;
  for (size_t i = 0; i < ctx->n_keys; i++) {
    int c = key_order(&a->vals[i], &b->vals[i], &ctx->keys[i]);
    if (c != 0)
      return c;
  }
  return id_compare(a->rec, b->rec);
}

/* Sorts with every json path resolved once per record instead of once per
 * comparison. Returns 0 (rows untouched) when memory ran out. */
static int sort_resolved(hdb_record **rows, size_t n, const sort_ctx *ctx)
{
  size_t nk = ctx->n_keys;
  sort_item *items = hdb__malloc(n * sizeof *items);
  hdb_value *vals = hdb__calloc(n * nk, sizeof *vals);
  int ok = items != NULL && vals != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    items[i].rec = rows[i];
    items[i].vals = vals + i * nk;
    for (size_t k = 0; ok && k < nk; k++) {
      int owned;
      ok = key_value(rows[i], ctx->keys[k].field, &items[i].vals[k], &owned) == HDB_OK;
    }
  }
  if (ok) {
    heap_sort(items, n, sizeof *items, item_compare, ctx);
    for (size_t i = 0; i < n; i++)
      rows[i] = items[i].rec;
  }
  for (size_t k = 0; vals != NULL && k < nk; k++) {
    if (strchr(ctx->keys[k].field, '.') == NULL)
      continue; /* borrowed */
    for (size_t i = 0; i < n; i++)
      hdb__value_release(&vals[i * nk + k]);
  }
  hdb__free_mem(items);
  hdb__free_mem(vals);
  return ok;
}

void hdb__sort_records(hdb_record **rows, size_t n, const hdb_sort_key *keys, size_t n_keys)
{
  sort_ctx ctx = {keys, n_keys};
  if (n < 2)
    return;
  int paths = 0;
  for (size_t k = 0; k < n_keys; k++)
    paths |= strchr(keys[k].field, '.') != NULL;
  /* Top-level fields are cheap to look up at each comparison; json paths
   * parse their field, so resolve them once when memory allows. */
  if (paths && sort_resolved(rows, n, &ctx))
    return;
  heap_sort(rows, n, sizeof *rows, record_ptr_compare, &ctx);
}

/* ------------------------------------------------------------------ */
/* KV: key order, checks, iterators                                    */
/* ------------------------------------------------------------------ */

int hdb__key_compare(const void *a, size_t alen, const void *b, size_t blen)
{
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c != 0)
    return c < 0 ? -1 : 1;
  return (alen > blen) - (alen < blen);
}

hdb_status hdb__kv_check(const char *ns, size_t klen, size_t vlen, hdb_error *err)
{
  if (ns != NULL && ns[0] != '\0') {
    size_t len = strlen(ns);
    if (len > KV_MAX_NS)
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "namespace is longer than %u bytes", KV_MAX_NS);
    const char *p = ns;
    for (;;) {
      const char *slash = strchr(p, '/');
      size_t seg = slash ? (size_t)(slash - p) : strlen(p);
      char name[HDB_MAX_NAME_LEN + 1];
      if (seg == 0 || seg > HDB_MAX_NAME_LEN)
        return hdb__fail(err, HDB_INVALID_ARGUMENT,
                         "namespace '%.64s': each '/'-separated part must be 1..%u bytes", ns,
                         HDB_MAX_NAME_LEN);
      memcpy(name, p, seg);
      name[seg] = '\0';
      if (!hdb__name_valid(name, 1))
        return hdb__fail(err, HDB_INVALID_ARGUMENT,
                         "namespace '%.64s': '%s' is not a valid name (letters, digits and '_', "
                         "not starting with a digit)",
                         ns, name);
      if (slash == NULL)
        break;
      p = slash + 1;
    }
  }
  if (klen == 0)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "empty key");
  if (klen > KV_MAX_KEY)
    return hdb__fail(err, HDB_TOO_BIG, "key is %zu bytes, longer than the %u-byte limit", klen,
                     KV_MAX_KEY);
  if (vlen > KV_MAX_VALUE)
    return hdb__fail(err, HDB_TOO_BIG, "value is %zu bytes, larger than the %u-byte limit", vlen,
                     KV_MAX_VALUE);
  return HDB_OK;
}

void hdb__kv_iter_init(hdb_kv_iter *it, const hdb__kv_iter_vtab *vt)
{
  it->vt = vt;
  hdb__err_clear(&it->err);
}

/* Makes a backend failure sticky with a message. */
static hdb_status iter_failed(hdb_kv_iter *it, hdb_status st)
{
  if (it->err.code != st || it->err.message[0] == '\0')
    hdb__fail(&it->err, st, "%s", it->err.message[0] ? it->err.message : hdb_status_message(st));
  return st;
}

hdb_status hdb_kv_iter_next(hdb_kv_iter *it, const void **key, size_t *klen, const void **val,
                            size_t *vlen)
{
  const void *k = NULL, *v = NULL;
  size_t kl = 0, vl = 0;
  if (it == NULL)
    return HDB_INVALID_ARGUMENT;
  if (it->err.code != HDB_OK)
    return it->err.code;
  hdb_status st = it->vt->next(it, &k, &kl, &v, &vl, &it->err);
  if (st != HDB_OK && st != HDB_DONE)
    return iter_failed(it, st);
  if (key)
    *key = st == HDB_OK ? k : NULL;
  if (klen)
    *klen = st == HDB_OK ? kl : 0;
  if (val)
    *val = st == HDB_OK ? v : NULL;
  if (vlen)
    *vlen = st == HDB_OK ? vl : 0;
  return st;
}

hdb_status hdb_kv_iter_seek(hdb_kv_iter *it, const void *key, size_t klen)
{
  if (it == NULL || (key == NULL && klen > 0))
    return HDB_INVALID_ARGUMENT;
  if (it->err.code != HDB_OK)
    return it->err.code;
  if (it->vt->seek == NULL)
    return HDB_NOT_SUPPORTED;
  hdb_status st = it->vt->seek(it, key, klen, &it->err);
  return st == HDB_OK ? HDB_OK : iter_failed(it, st);
}

const char *hdb_kv_iter_errmsg(const hdb_kv_iter *it)
{
  if (it == NULL)
    return "no iterator";
  if (it->err.code == HDB_OK)
    return "not an error";
  return it->err.message;
}

void hdb_kv_iter_free(hdb_kv_iter *it)
{
  if (it != NULL && it->vt != NULL && it->vt->close != NULL)
    it->vt->close(it);
}

/* ------------------------------------------------------------------ */
/* KV batches                                                          */
/* ------------------------------------------------------------------ */

hdb_kv_batch *hdb_kv_batch_new(void)
{
  return hdb__calloc(1, sizeof(hdb_kv_batch));
}

static void op_free(hdb__kv_op *op)
{
  hdb__free_mem(op->ns);
  hdb__free_mem(op->key);
  hdb__free_mem(op->val);
}

void hdb_kv_batch_clear(hdb_kv_batch *b)
{
  if (b == NULL)
    return;
  for (size_t i = 0; i < b->n; i++)
    op_free(&b->ops[i]);
  b->n = 0;
}

void hdb_kv_batch_free(hdb_kv_batch *b)
{
  if (b == NULL)
    return;
  hdb_kv_batch_clear(b);
  hdb__free_mem(b->ops);
  hdb__free_mem(b);
}

size_t hdb_kv_batch_count(const hdb_kv_batch *b)
{
  return b ? b->n : 0;
}

static hdb_status batch_add(hdb_kv_batch *b, int is_delete, const char *ns, const void *key,
                            size_t klen, const void *val, size_t vlen)
{
  if (b == NULL || (key == NULL && klen > 0) || (val == NULL && vlen > 0))
    return HDB_INVALID_ARGUMENT;
  hdb_status st = hdb__kv_check(ns, klen, vlen, NULL);
  if (st != HDB_OK)
    return st;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 8;
    hdb__kv_op *ops = hdb__realloc(b->ops, cap * sizeof *ops);
    if (ops == NULL)
      return HDB_NOMEM;
    b->ops = ops;
    b->cap = cap;
  }
  hdb__kv_op op = {.is_delete = is_delete, .klen = klen, .vlen = vlen};
  op.ns = hdb__strdup(ns ? ns : "");
  op.key = hdb__memdup(key, klen);
  if (!is_delete) {
    /* NUL-terminated beyond vlen, like hdb_kv_get's values. */
    op.val = hdb__malloc(vlen + 1);
    if (op.val != NULL) {
      if (vlen)
        memcpy(op.val, val, vlen);
      ((char *)op.val)[vlen] = '\0';
    }
  }
  if (op.ns == NULL || op.key == NULL || (!is_delete && op.val == NULL)) {
    op_free(&op);
    return HDB_NOMEM;
  }
  b->ops[b->n++] = op;
  return HDB_OK;
}

hdb_status hdb_kv_batch_put(hdb_kv_batch *b, const char *ns, const void *key, size_t klen,
                            const void *val, size_t vlen)
{
  return batch_add(b, 0, ns, key, klen, val, vlen);
}

hdb_status hdb_kv_batch_delete(hdb_kv_batch *b, const char *ns, const void *key, size_t klen)
{
  return batch_add(b, 1, ns, key, klen, NULL, 0);
}

void hdb__key_repr(const void *key, size_t klen, char *buf, size_t cap) {
  /* 'abc' with non-printable bytes as \xNN, cut with "..." past the room. */
  static const char hex[] = "0123456789abcdef";
  const unsigned char *k = key;
  size_t w = 0;
  buf[w++] = '\'';
  for (size_t i = 0; i < klen; i++) {
    if (w + 4 + 5 > cap) {
      memcpy(buf + w, "...", 3);
      w += 3;
      break;
    }
    if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\\' && k[i] != '\'') {
      buf[w++] = (char)k[i];
    } else {
      buf[w++] = '\\';
      buf[w++] = 'x';
      buf[w++] = hex[k[i] >> 4];
      buf[w++] = hex[k[i] & 15];
    }
  }
  buf[w++] = '\'';
  buf[w] = 0;
}
