/*
 * test_cursor.c - cursors (rows cursor, sticky errors, public dispatch),
 * in-memory sort order, KV key order and checks, KV batches and iterator
 * dispatch, with allocation failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/record.h"
#include "hanzodb.h"

static hdb_record *rec(const char *id)
{
  hdb_record *r = hdb_record_new(id);
  assert_non_null(r);
  return r;
}

static void test_rows_cursor(void **state)
{
  (void)state;
  hdb__rowbuf b = {0};
  assert_int_equal(hdb__rowbuf_push(&b, rec("a"), 0.5), HDB_OK);
  assert_int_equal(hdb__rowbuf_push(&b, rec("b"), NAN), HDB_OK);
  for (int i = 0; i < 40; i++) /* past the initial capacity */
    assert_int_equal(hdb__rowbuf_push(&b, rec("z"), i), HDB_OK);
  hdb_cursor *c = NULL;
  hdb_error err;
  assert_int_equal(hdb__rowbuf_cursor(&b, &c, &err), HDB_OK);
  assert_int_equal(b.n, 0);
  assert_null(b.rows);
  assert_true(isnan(hdb_cursor_distance(c)));
  const hdb_record *r;
  assert_int_equal(hdb_cursor_next(c, &r), HDB_OK);
  assert_string_equal(hdb_record_id(r), "a");
  assert_true(hdb_cursor_distance(c) == 0.5);
  assert_int_equal(hdb_cursor_next(c, &r), HDB_OK);
  assert_string_equal(hdb_record_id(r), "b");
  assert_true(isnan(hdb_cursor_distance(c)));
  for (int i = 0; i < 40; i++) {
    assert_int_equal(hdb_cursor_next(c, &r), HDB_OK);
    assert_true(hdb_cursor_distance(c) == i);
  }
  assert_int_equal(hdb_cursor_next(c, &r), HDB_DONE);
  assert_null(r);
  assert_true(isnan(hdb_cursor_distance(c)));
  assert_int_equal(hdb_cursor_next(c, &r), HDB_DONE); /* stays done */
  assert_string_equal(hdb_cursor_errmsg(c), "not an error");
  assert_int_equal(hdb_cursor_next(c, NULL), HDB_INVALID_ARGUMENT);
  hdb_cursor_close(c);

  /* without distances; closed before the end (rows still owned are freed) */
  hdb_record **rows = hdb__malloc(3 * sizeof *rows);
  rows[0] = rec("x");
  rows[1] = rec("y");
  rows[2] = rec("z");
  assert_int_equal(hdb__rows_cursor_new(rows, NULL, 3, &c, &err), HDB_OK);
  assert_int_equal(hdb_cursor_next(c, &r), HDB_OK);
  assert_true(isnan(hdb_cursor_distance(c)));
  hdb_cursor_close(c);
  /* empty */
  assert_int_equal(hdb__rows_cursor_new(NULL, NULL, 0, &c, &err), HDB_OK);
  assert_int_equal(hdb_cursor_next(c, &r), HDB_DONE);
  hdb_cursor_close(c);
  hdb_cursor_close(NULL);
  assert_int_equal(hdb_cursor_next(NULL, &r), HDB_INVALID_ARGUMENT);
  assert_true(isnan(hdb_cursor_distance(NULL)));
  assert_string_equal(hdb_cursor_errmsg(NULL), "no cursor");
  hdb__rowbuf_free(NULL);
}

static void test_rows_nomem(void **state)
{
  (void)state;
  for (long n = 0;; n++) {
    hdb__rowbuf b = {0};
    hdb_cursor *c = NULL;
    hdb_error err;
    hdb_status st = HDB_OK;
    hdb__alloc_fail_after(n);
    for (int i = 0; i < 20 && st == HDB_OK; i++) {
      hdb_record *r = hdb_record_new("r");
      st = r ? hdb__rowbuf_push(&b, r, i) : HDB_NOMEM;
    }
    if (st == HDB_OK)
      st = hdb__rowbuf_cursor(&b, &c, &err);
    hdb__alloc_fail_after(-1);
    hdb__rowbuf_free(&b);
    if (st == HDB_OK) {
      const hdb_record *r;
      int count = 0;
      while (hdb_cursor_next(c, &r) == HDB_OK)
        count++;
      assert_int_equal(count, 20);
      hdb_cursor_close(c);
      break;
    }
    assert_int_equal(st, HDB_NOMEM);
    assert_null(c);
  }
}

/* A backend cursor that yields `ok_rows` rows then fails. */
typedef struct failing_cursor {
  hdb_cursor base;
  hdb_record *row;
  int ok_rows, calls;
  int quiet; /* fail without filling the message */
} failing_cursor;

static hdb_status failing_next(hdb_cursor *c, const hdb_record **r, double *d, hdb_error *err)
{
  failing_cursor *fc = (failing_cursor *)c;
  fc->calls++;
  if (fc->ok_rows-- > 0) {
    *r = fc->row;
    *d = 1.5;
    return HDB_OK;
  }
  if (fc->quiet)
    return HDB_UNAVAILABLE;
  return hdb__fail(err, HDB_IO, "disk on fire at row %d", fc->calls);
}

static void failing_close(hdb_cursor *c)
{
  failing_cursor *fc = (failing_cursor *)c;
  hdb_record_free(fc->row);
  free(fc);
}

static const hdb__cursor_vtab failing_vtab = {.next = failing_next, .close = failing_close};

static hdb_cursor *failing_new(int ok_rows, int quiet)
{
  failing_cursor *fc = calloc(1, sizeof *fc);
  hdb__cursor_init(&fc->base, &failing_vtab);
  fc->row = rec("row");
  fc->ok_rows = ok_rows;
  fc->quiet = quiet;
  return &fc->base;
}

static void test_sticky_error(void **state)
{
  (void)state;
  hdb_cursor *c = failing_new(1, 0);
  const hdb_record *r;
  assert_int_equal(hdb_cursor_next(c, &r), HDB_OK);
  assert_true(hdb_cursor_distance(c) == 1.5);
  assert_int_equal(hdb_cursor_next(c, &r), HDB_IO);
  assert_null(r);
  assert_string_equal(hdb_cursor_errmsg(c), "disk on fire at row 2");
  assert_true(isnan(hdb_cursor_distance(c)));
  assert_int_equal(hdb_cursor_next(c, &r), HDB_IO); /* sticky, backend not called */
  assert_int_equal(((failing_cursor *)c)->calls, 2);
  hdb_cursor_close(c);
  c = failing_new(0, 1);
  assert_int_equal(hdb_cursor_next(c, &r), HDB_UNAVAILABLE);
  assert_string_equal(hdb_cursor_errmsg(c), hdb_status_message(HDB_UNAVAILABLE));
  hdb_cursor_close(c);
}

static hdb_record *row(const char *id, const char *field, int64_t v, int set)
{
  hdb_record *r = rec(id);
  if (set)
    assert_int_equal(hdb_record_set_int(r, field, v), HDB_OK);
  return r;
}

static void expect_order(hdb_record **rows, size_t n, const char *const *ids)
{
  for (size_t i = 0; i < n; i++) {
    if (strcmp(hdb_record_id(rows[i]), ids[i]) != 0)
      fail_msg("position %zu: '%s', expected '%s'", i, hdb_record_id(rows[i]), ids[i]);
  }
}

static void test_sort(void **state)
{
  (void)state;
  hdb_record *rows[6] = {row("e", "x", 2, 1), row("d", "x", 0, 0), row("c", "x", 2, 1),
                         row("b", "x", -1, 1), row("a", "x", 0, 0), row("f", "x", 10, 1)};
  hdb_sort_key asc = {"x", 0}, desc = {"x", 1};
  hdb__sort_records(rows, 6, &asc, 1);
  const char *want_asc[] = {"a", "d", "b", "c", "e", "f"}; /* nulls first, ties by id */
  expect_order(rows, 6, want_asc);
  hdb__sort_records(rows, 6, &desc, 1);
  const char *want_desc[] = {"f", "c", "e", "b", "a", "d"}; /* nulls last, ties still by id asc */
  expect_order(rows, 6, want_desc);
  hdb__sort_records(rows, 6, NULL, 0); /* ids only */
  const char *want_id[] = {"a", "b", "c", "d", "e", "f"};
  expect_order(rows, 6, want_id);
  assert_true(hdb__record_compare(rows[0], rows[1], &asc, 1) < 0);
  assert_true(hdb__record_compare(rows[1], rows[0], &desc, 1) < 0);
  assert_int_equal(hdb__record_compare(rows[0], rows[0], &asc, 1), 0);
  for (int i = 0; i < 6; i++)
    hdb_record_free(rows[i]);
  hdb__sort_records(NULL, 0, &asc, 1);

  /* two keys, mixed int/float, text */
  hdb_record *m[4];
  m[0] = rec("1");
  hdb_record_set_text(m[0], "g", "b");
  hdb_record_set_float(m[0], "n", 2.5);
  m[1] = rec("2");
  hdb_record_set_text(m[1], "g", "a");
  hdb_record_set_int(m[1], "n", 3);
  m[2] = rec("3");
  hdb_record_set_text(m[2], "g", "b");
  hdb_record_set_int(m[2], "n", 2);
  m[3] = rec("4");
  hdb_record_set_text(m[3], "g", "a");
  hdb_record_set_float(m[3], "n", 3.5);
  hdb_sort_key two[2] = {{"g", 0}, {"n", 1}};
  hdb__sort_records(m, 4, two, 2);
  const char *want_two[] = {"4", "2", "1", "3"};
  expect_order(m, 4, want_two);
  for (int i = 0; i < 4; i++)
    hdb_record_free(m[i]);
}

static void test_sort_paths(void **state)
{
  (void)state;
  const char *metas[] = {"{\"lang\":\"fr\",\"n\":{\"v\":3}}", "{\"lang\":\"en\",\"n\":{\"v\":1}}",
                         "{\"n\":{\"v\":2}}", NULL, "{\"lang\":null}"};
  const char *ids[] = {"a", "b", "c", "d", "e"};
  hdb_record *rows[5];
  for (int i = 0; i < 5; i++) {
    rows[i] = rec(ids[i]);
    if (metas[i])
      assert_int_equal(hdb_record_set_json(rows[i], "meta", metas[i]), HDB_OK);
  }
  hdb_sort_key k = {"meta.lang", 0};
  hdb__sort_records(rows, 5, &k, 1);
  const char *want[] = {"c", "d", "e", "b", "a"}; /* absent / null first */
  expect_order(rows, 5, want);
  hdb_sort_key k2 = {"meta.n.v", 1};
  hdb__sort_records(rows, 5, &k2, 1);
  const char *want2[] = {"a", "c", "b", "d", "e"};
  expect_order(rows, 5, want2);
  /* a path through a non-json field resolves to null */
  hdb_record_set_int(rows[0], "num", 5);
  hdb_sort_key k3 = {"num.x", 0};
  hdb__sort_records(rows, 5, &k3, 1);
  const char *want3[] = {"a", "b", "c", "d", "e"};
  expect_order(rows, 5, want3);
  /* under allocation failure the sort still completes and stays a permutation */
  for (long n = 0; n < 12; n++) {
    hdb__alloc_fail_after(n);
    hdb__sort_records(rows, 5, &k2, 1);
    hdb__alloc_fail_after(-1);
    int seen = 0;
    for (int i = 0; i < 5; i++)
      seen |= 1 << (hdb_record_id(rows[i])[0] - 'a');
    assert_int_equal(seen, 31);
  }
  hdb__sort_records(rows, 5, &k2, 1);
  expect_order(rows, 5, want2);
  assert_true(hdb__record_compare(rows[0], rows[1], &k2, 1) < 0);
  for (int i = 0; i < 5; i++)
    hdb_record_free(rows[i]);
}

static void test_sort_large(void **state)
{
  (void)state;
  enum { N = 2000 };
  hdb_record **rows = malloc(N * sizeof *rows);
  uint32_t x = 12345;
  for (int i = 0; i < N; i++) {
    char id[16];
    snprintf(id, sizeof id, "%05d", i);
    rows[i] = rec(id);
    x = x * 1103515245u + 12345u;
    if (x % 7)
      hdb_record_set_int(rows[i], "k", (int64_t)(x >> 16) % 100);
  }
  hdb_sort_key k = {"k", 0};
  hdb__sort_records(rows, N, &k, 1);
  for (int i = 1; i < N; i++)
    assert_true(hdb__record_compare(rows[i - 1], rows[i], &k, 1) < 0);
  for (int i = 0; i < N; i++)
    hdb_record_free(rows[i]);
  free(rows);
}

static void test_keys(void **state)
{
  (void)state;
  assert_int_equal(hdb__key_compare("a", 1, "b", 1), -1);
  assert_int_equal(hdb__key_compare("b", 1, "a", 1), 1);
  assert_int_equal(hdb__key_compare("ab", 2, "ab", 2), 0);
  assert_int_equal(hdb__key_compare("ab", 2, "abc", 3), -1);
  assert_int_equal(hdb__key_compare("abc", 3, "ab", 2), 1);
  assert_int_equal(hdb__key_compare("\xff", 1, "\x01", 1), 1); /* unsigned bytes */
  assert_int_equal(hdb__key_compare("", 0, "", 0), 0);
  assert_int_equal(hdb__key_compare("a\0b", 3, "a\0c", 3), -1);

  hdb_error err;
  assert_int_equal(hdb__kv_check(NULL, 1, 0, &err), HDB_OK);
  assert_int_equal(hdb__kv_check("", 1, 0, &err), HDB_OK);
  assert_int_equal(hdb__kv_check("agent/memory", 1, 0, &err), HDB_OK);
  assert_int_equal(hdb__kv_check("_internal/x_1", 1, 0, &err), HDB_OK);
  const char *bad_ns[] = {"/a", "a/", "a//b", "a b", "9a", "a/9b", "a-b", "a.b"};
  for (size_t i = 0; i < sizeof bad_ns / sizeof bad_ns[0]; i++) {
    if (hdb__kv_check(bad_ns[i], 1, 0, &err) != HDB_INVALID_ARGUMENT)
      fail_msg("accepted namespace '%s'", bad_ns[i]);
  }
  char longseg[HDB_MAX_NAME_LEN + 2];
  memset(longseg, 'a', sizeof longseg);
  longseg[HDB_MAX_NAME_LEN + 1] = '\0';
  assert_int_equal(hdb__kv_check(longseg, 1, 0, &err), HDB_INVALID_ARGUMENT);
  longseg[HDB_MAX_NAME_LEN] = '\0';
  assert_int_equal(hdb__kv_check(longseg, 1, 0, &err), HDB_OK);
  char longns[1100];
  memset(longns, 'a', sizeof longns);
  for (int i = 100; i < 1099; i += 100)
    longns[i] = '/';
  longns[1099] = '\0';
  assert_int_equal(hdb__kv_check(longns, 1, 0, &err), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb__kv_check(NULL, 0, 0, &err), HDB_INVALID_ARGUMENT);
  assert_non_null(strstr(err.message, "empty key"));
  assert_int_equal(hdb__kv_check(NULL, 65535, 0, &err), HDB_OK);
  assert_int_equal(hdb__kv_check(NULL, 65536, 0, &err), HDB_TOO_BIG);
  assert_int_equal(hdb__kv_check(NULL, 1, 64u * 1024 * 1024, &err), HDB_OK);
  assert_int_equal(hdb__kv_check(NULL, 1, 64u * 1024 * 1024 + 1, &err), HDB_TOO_BIG);
}

static void test_batch(void **state)
{
  (void)state;
  hdb_kv_batch *b = hdb_kv_batch_new();
  assert_non_null(b);
  assert_int_equal(hdb_kv_batch_count(b), 0);
  assert_int_equal(hdb_kv_batch_put(b, NULL, "k1", 2, "v1", 2), HDB_OK);
  assert_int_equal(hdb_kv_batch_put(b, "ns/sub", "k2", 2, "", 0), HDB_OK);
  assert_int_equal(hdb_kv_batch_delete(b, "ns", "k1", 2), HDB_OK);
  for (int i = 0; i < 20; i++)
    assert_int_equal(hdb_kv_batch_put(b, "", "k", 1, "\0x", 2), HDB_OK);
  assert_int_equal(hdb_kv_batch_count(b), 23);
  assert_string_equal(b->ops[0].ns, "");
  assert_int_equal(b->ops[0].is_delete, 0);
  assert_memory_equal(b->ops[0].key, "k1", 2);
  assert_string_equal((const char *)b->ops[0].val, "v1"); /* NUL-terminated */
  assert_string_equal(b->ops[1].ns, "ns/sub");
  assert_non_null(b->ops[1].val);
  assert_int_equal(b->ops[1].vlen, 0);
  assert_int_equal(b->ops[2].is_delete, 1);
  assert_null(b->ops[2].val);
  assert_memory_equal(b->ops[3].val, "\0x", 2);
  /* errors change nothing */
  assert_int_equal(hdb_kv_batch_put(b, "bad ns", "k", 1, "v", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_kv_batch_put(b, NULL, "k", 0, "v", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_kv_batch_put(b, NULL, NULL, 1, "v", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_kv_batch_put(b, NULL, "k", 1, NULL, 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_kv_batch_put(b, NULL, "k", 70000, "v", 1), HDB_TOO_BIG);
  assert_int_equal(hdb_kv_batch_delete(b, NULL, "k", 0), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_kv_batch_put(NULL, NULL, "k", 1, "v", 1), HDB_INVALID_ARGUMENT);
  assert_int_equal(hdb_kv_batch_count(b), 23);
  hdb_kv_batch_clear(b);
  assert_int_equal(hdb_kv_batch_count(b), 0);
  assert_int_equal(hdb_kv_batch_put(b, NULL, "again", 5, "v", 1), HDB_OK);
  assert_int_equal(hdb_kv_batch_count(b), 1);
  hdb_kv_batch_free(b);
  hdb_kv_batch_free(NULL);
  hdb_kv_batch_clear(NULL);
  assert_int_equal(hdb_kv_batch_count(NULL), 0);

  for (long n = 0;; n++) {
    hdb__alloc_fail_after(n);
    hdb_kv_batch *nb = hdb_kv_batch_new();
    hdb_status st = nb ? HDB_OK : HDB_NOMEM;
    size_t done = 0;
    for (int i = 0; i < 12 && st == HDB_OK; i++) {
      st = (i % 3) ? hdb_kv_batch_put(nb, "ns", "key", 3, "value", 5)
                   : hdb_kv_batch_delete(nb, NULL, "key", 3);
      if (st == HDB_OK)
        done++;
    }
    hdb__alloc_fail_after(-1);
    if (nb)
      assert_int_equal(hdb_kv_batch_count(nb), done);
    hdb_kv_batch_free(nb);
    if (st == HDB_OK)
      break;
    assert_int_equal(st, HDB_NOMEM);
  }
}

/* A KV iterator over a fixed list that fails after `fail_at` entries. */
typedef struct list_iter {
  hdb_kv_iter base;
  int pos, fail_at;
} list_iter;

static const char *const list_keys[] = {"a", "b", "c"};

static hdb_status list_next(hdb_kv_iter *it, const void **key, size_t *klen, const void **val,
                            size_t *vlen, hdb_error *err)
{
  list_iter *li = (list_iter *)it;
  if (li->pos == li->fail_at)
    return hdb__fail(err, HDB_CORRUPT, "bad block %d", li->pos);
  if (li->pos >= 3)
    return HDB_DONE;
  *key = list_keys[li->pos];
  *klen = 1;
  *val = "v";
  *vlen = 1;
  li->pos++;
  return HDB_OK;
}

static hdb_status list_seek(hdb_kv_iter *it, const void *key, size_t klen, hdb_error *err)
{
  list_iter *li = (list_iter *)it;
  li->pos = 0;
  while (li->pos < 3 && hdb__key_compare(list_keys[li->pos], 1, key, klen) < 0)
    li->pos++;
  return HDB_OK;
}

static void list_close(hdb_kv_iter *it)
{
  free(it);
}

static const hdb__kv_iter_vtab list_vtab = {.next = list_next, .seek = list_seek,
                                            .close = list_close};
static const hdb__kv_iter_vtab noseek_vtab = {.next = list_next, .close = list_close};

static hdb_kv_iter *list_new(int fail_at, const hdb__kv_iter_vtab *vt)
{
  list_iter *li = calloc(1, sizeof *li);
  hdb__kv_iter_init(&li->base, vt);
  li->fail_at = fail_at;
  return &li->base;
}

static void test_kv_iter(void **state)
{
  (void)state;
  hdb_kv_iter *it = list_new(-1, &list_vtab);
  const void *k, *v;
  size_t kl, vl;
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, &v, &vl), HDB_OK);
  assert_memory_equal(k, "a", 1);
  assert_int_equal(kl, 1);
  assert_int_equal(vl, 1);
  assert_int_equal(hdb_kv_iter_seek(it, "bb", 2), HDB_OK);
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, NULL, NULL), HDB_OK);
  assert_memory_equal(k, "c", 1);
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, &v, &vl), HDB_DONE);
  assert_null(k);
  assert_int_equal(kl, 0);
  assert_string_equal(hdb_kv_iter_errmsg(it), "not an error");
  assert_int_equal(hdb_kv_iter_seek(it, NULL, 1), HDB_INVALID_ARGUMENT);
  hdb_kv_iter_free(it);

  it = list_new(1, &noseek_vtab);
  assert_int_equal(hdb_kv_iter_seek(it, "a", 1), HDB_NOT_SUPPORTED);
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, &v, &vl), HDB_OK);
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, &v, &vl), HDB_CORRUPT);
  assert_string_equal(hdb_kv_iter_errmsg(it), "bad block 1");
  ((list_iter *)it)->fail_at = -1;                                       /* backend recovers... */
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, &v, &vl), HDB_CORRUPT); /* ...still sticky */
  assert_int_equal(hdb_kv_iter_seek(it, "a", 1), HDB_CORRUPT);
  hdb_kv_iter_free(it);
  hdb_kv_iter_free(NULL);
  assert_int_equal(hdb_kv_iter_next(NULL, &k, &kl, &v, &vl), HDB_INVALID_ARGUMENT);
  assert_string_equal(hdb_kv_iter_errmsg(NULL), "no iterator");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows_cursor), cmocka_unit_test(test_rows_nomem),
      cmocka_unit_test(test_sticky_error), cmocka_unit_test(test_sort),
      cmocka_unit_test(test_sort_paths),  cmocka_unit_test(test_sort_large),
      cmocka_unit_test(test_keys),        cmocka_unit_test(test_batch),
      cmocka_unit_test(test_kv_iter),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
