/*
 * test_topk.c - core/topk.c, the bounded max-heap of search candidates:
 * the rank (distance, NaN last, then id), the kept set against a sorted
 * reference whatever the offer order, ties at the k boundary, payload
 * hand-back, k = 0, growth, and allocation failure.
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
#include "core/topk.h"
#include "hanzodb.h"

static void test_cmp(void **state) {
  (void)state;
  hdb__topk_item a = {1.0, "b", NULL}, b = {2.0, "a", NULL}, c = {1.0, "a", NULL};
  hdb__topk_item n1 = {NAN, "a", NULL}, n2 = {NAN, "b", NULL}, inf = {INFINITY, "z", NULL};
  assert_true(hdb__topk_cmp(&a, &b) < 0); /* distance first */
  assert_true(hdb__topk_cmp(&c, &a) < 0); /* then id */
  assert_int_equal(hdb__topk_cmp(&a, &a), 0);
  assert_true(hdb__topk_cmp(&inf, &n1) < 0); /* NaN after everything */
  assert_true(hdb__topk_cmp(&n1, &n2) < 0);  /* NaNs by id */
  assert_true(hdb__topk_cmp(&n2, &b) > 0);
}

/* Offers n candidates (distance d[i], id ids[i]) and checks the result. */
static void run(size_t k, const double *d, const char *const *ids, size_t n,
                const char *const *want, size_t n_want) {
  hdb__topk t;
  hdb__topk_init(&t, k);
  size_t dropped_count = 0;
  for (size_t i = 0; i < n; i++) {
    void *dropped;
    assert_int_equal(hdb__topk_offer(&t, d[i], ids[i], (void *)ids[i], &dropped), HDB_OK);
    if (dropped) dropped_count++;
    assert_true(t.n <= k && t.n <= t.cap && t.cap <= k);
  }
  hdb__topk_finish(&t);
  assert_int_equal(t.n, n_want);
  assert_int_equal(dropped_count, n - n_want);
  for (size_t i = 0; i < n_want; i++) {
    assert_string_equal(t.h[i].id, want[i]);
    assert_ptr_equal(t.h[i].p, t.h[i].id);
  }
  hdb__topk_free(&t);
  assert_null(t.h);
}

static void test_basic(void **state) {
  (void)state;
  const double d[] = {5, 1, 4, 2, 3};
  const char *ids[] = {"e", "a", "d", "b", "c"};
  const char *want3[] = {"a", "b", "c"};
  run(3, d, ids, 5, want3, 3);
  const char *want_all[] = {"a", "b", "c", "d", "e"};
  run(10, d, ids, 5, want_all, 5); /* k > n: all, sorted */
  run(0, d, ids, 5, NULL, 0);      /* k = 0 keeps nothing */
  run(3, d, ids, 0, NULL, 0);      /* nothing offered */
}

static void test_ties_at_boundary(void **state) {
  (void)state;
  /* four candidates tie at the boundary distance: the smallest ids win,
   * whichever order they come in */
  const double d[] = {1, 2, 2, 2, 2, 0};
  const char *fwd[] = {"p", "d", "c", "b", "a", "z"};
  const char *want[] = {"z", "p", "a"};
  run(3, d, fwd, 6, want, 3);
  const char *rev[] = {"p", "a", "b", "c", "d", "z"};
  run(3, d, rev, 6, want, 3);
  /* an equal (distance, id) to the worst kept one is not kept */
  hdb__topk t;
  hdb__topk_init(&t, 1);
  void *dropped;
  assert_int_equal(hdb__topk_offer(&t, 1.0, "x", "first", &dropped), HDB_OK);
  assert_null(dropped);
  assert_false(hdb__topk_would_keep(&t, 1.0, "x"));
  assert_false(hdb__topk_would_keep(&t, 1.0, "y"));
  assert_true(hdb__topk_would_keep(&t, 1.0, "w"));
  assert_int_equal(hdb__topk_offer(&t, 1.0, "x", "second", &dropped), HDB_OK);
  assert_string_equal(dropped, "second");
  assert_int_equal(hdb__topk_offer(&t, 0.5, "y", "third", &dropped), HDB_OK);
  assert_string_equal(dropped, "first"); /* the evicted payload comes back */
  assert_string_equal(t.h[0].p, "third");
  hdb__topk_free(&t);
}

static void test_nan_last(void **state) {
  (void)state;
  const double d[] = {NAN, 3, NAN, 1};
  const char *ids[] = {"a", "b", "c", "d"};
  const char *want2[] = {"d", "b"};
  run(2, d, ids, 4, want2, 2);
  const char *want3[] = {"d", "b", "a"};
  run(3, d, ids, 4, want3, 3);
}

/* Against a full sort, with many ties and a k that crosses the growth
 * steps of the array. */
static int ref_cmp(const void *a, const void *b) { return hdb__topk_cmp(a, b); }

static void test_random_against_sort(void **state) {
  (void)state;
  enum { N = 500 };
  static char idbuf[N][8];
  hdb__topk_item all[N];
  srand(7);
  for (size_t k = 1; k <= N + 1; k += 37) {
    hdb__topk t;
    hdb__topk_init(&t, k);
    for (size_t i = 0; i < N; i++) {
      snprintf(idbuf[i], sizeof idbuf[i], "%03d", rand() % 1000);
      all[i] = (hdb__topk_item){(double)(rand() % 20), idbuf[i], idbuf[i]};
      void *dropped;
      assert_int_equal(hdb__topk_offer(&t, all[i].d, all[i].id, all[i].p, &dropped), HDB_OK);
    }
    hdb__topk_finish(&t);
    qsort(all, N, sizeof *all, ref_cmp);
    size_t want = k < N ? k : N;
    assert_int_equal(t.n, want);
    for (size_t i = 0; i < want; i++) {
      assert_true(t.h[i].d == all[i].d);
      assert_string_equal(t.h[i].id, all[i].id);
    }
    hdb__topk_free(&t);
  }
}

static void test_nomem(void **state) {
  (void)state;
  const char *ids[40];
  char buf[40][4];
  for (int i = 0; i < 40; i++) {
    snprintf(buf[i], sizeof buf[i], "%02d", 39 - i);
    ids[i] = buf[i];
  }
  for (long n = 0;; n++) {
    hdb__topk t;
    hdb__topk_init(&t, 30);
    hdb_status st = HDB_OK;
    hdb__alloc_fail_after(n);
    for (int i = 0; i < 40 && st == HDB_OK; i++) {
      void *dropped;
      size_t before = t.n;
      st = hdb__topk_offer(&t, 1.0, ids[i], (void *)ids[i], &dropped);
      if (st != HDB_OK) {
        assert_int_equal(st, HDB_NOMEM);
        assert_ptr_equal(dropped, ids[i]); /* handed back, nothing changed */
        assert_int_equal(t.n, before);
      }
    }
    hdb__alloc_fail_after(-1);
    if (st == HDB_OK) {
      hdb__topk_finish(&t);
      assert_int_equal(t.n, 30);
      assert_string_equal(t.h[0].id, "00");
      assert_string_equal(t.h[29].id, "29");
      hdb__topk_free(&t);
      assert_true(n >= 2); /* 16, then 30 */
      break;
    }
    hdb__topk_free(&t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cmp),
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_ties_at_boundary),
      cmocka_unit_test(test_nan_last),
      cmocka_unit_test(test_random_against_sort),
      cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
