/*
 * cursor.h - the inside of hdb_cursor and hdb_kv_iter.
 *
 * A cursor is a small vtable so each backend can stream rows its own way.
 * hdb__rows_cursor is the common case: a cursor over an array of records
 * (with distances) that it owns, used by memory and by any backend that
 * computes its whole answer before returning (top-k search, aggregates).
 */
#ifndef HDB_CORE_CURSOR_H
#define HDB_CORE_CURSOR_H

#include "hanzodb.h"

typedef struct hdb__cursor_vtab {
  /* Fills *rec (borrowed until the next call) and *distance (NaN when
   * none); returns HDB_OK, HDB_DONE or an error with err filled. */
  hdb_status (*next)(hdb_cursor *c, const hdb_record **rec, double *distance, hdb_error *err);
  void (*close)(hdb_cursor *c);
} hdb__cursor_vtab;

struct hdb_cursor {
  const hdb__cursor_vtab *vt;
  hdb_error err;      /* sticky: once failed, next keeps returning it */
  double distance;    /* of the current row */
};

/* Sets up the common part of a backend's cursor: vt, no error, distance
 * NaN. A backend embeds struct hdb_cursor as its first member, calls this,
 * and its close method frees the whole object. */
void hdb__cursor_init(hdb_cursor *c, const hdb__cursor_vtab *vt);

/* Takes ownership of rows[0..n) (the array and each record) and of
 * distances (may be NULL), also on failure. Each row is freed when the
 * cursor moves past it, so a row stays valid until the next call. */
hdb_status hdb__rows_cursor_new(hdb_record **rows, double *distances, size_t n,
                                hdb_cursor **out, hdb_error *err);

/* A growable array of owned records, handy for building cursor results. */
typedef struct hdb__rowbuf {
  hdb_record **rows;
  double *dist;
  size_t n, cap;
} hdb__rowbuf;
/* Takes ownership of rec (frees it on failure). */
hdb_status hdb__rowbuf_push(hdb__rowbuf *b, hdb_record *rec, double dist);
void hdb__rowbuf_free(hdb__rowbuf *b);
/* Turns the buffer into a rows cursor (the buffer is emptied). */
hdb_status hdb__rowbuf_cursor(hdb__rowbuf *b, hdb_cursor **out, hdb_error *err);

/* Sorting helper shared by backends that sort in memory: orders records by
 * keys (hdb__value_order with nulls first ascending), then id ascending.
 * A missing field counts as null. A key with a '.' is a path: the first
 * segment names a json field and the rest is looked up inside it
 * (hdb__json_path_value); a path that does not resolve counts as null. */
void hdb__sort_records(hdb_record **rows, size_t n, const hdb_sort_key *keys, size_t n_keys);
/* Comparison behind hdb__sort_records, for merges. */
int hdb__record_compare(const hdb_record *a, const hdb_record *b, const hdb_sort_key *keys,
                        size_t n_keys);

typedef struct hdb__kv_iter_vtab {
  hdb_status (*next)(hdb_kv_iter *it, const void **key, size_t *klen, const void **val,
                     size_t *vlen, hdb_error *err);
  hdb_status (*seek)(hdb_kv_iter *it, const void *key, size_t klen, hdb_error *err);
  void (*close)(hdb_kv_iter *it);
} hdb__kv_iter_vtab;

struct hdb_kv_iter {
  const hdb__kv_iter_vtab *vt;
  hdb_error err;
};

/* Same for iterators: vt set, no error. */
void hdb__kv_iter_init(hdb_kv_iter *it, const hdb__kv_iter_vtab *vt);

/* Batch internals: a flat list of operations, applied in order. */
typedef struct hdb__kv_op {
  int is_delete;
  char *ns; /* owned, "" for the default namespace */
  void *key;
  size_t klen;
  void *val; /* owned, NULL for deletes */
  size_t vlen;
} hdb__kv_op;

struct hdb_kv_batch {
  hdb__kv_op *ops;
  size_t n, cap;
};

/* Printable, truncated rendering of a key for messages: 'abc' with other
 * bytes as \xNN, cut with "..." to fit (cap >= 16). */
void hdb__key_repr(const void *key, size_t klen, char *buf, size_t cap);

/* Byte order of keys: memcmp, then shorter first. */
int hdb__key_compare(const void *a, size_t alen, const void *b, size_t blen);

/* Checks a namespace name ("", or '/'-separated name segments) and a key
 * length; fails with HDB_INVALID_ARGUMENT / HDB_TOO_BIG. */
hdb_status hdb__kv_check(const char *ns, size_t klen, size_t vlen, hdb_error *err);

#endif
