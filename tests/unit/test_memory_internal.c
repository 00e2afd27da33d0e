/*
 * test_memory_internal.c - internals of the memory backend: the persistent
 * KV treap (order, persistence, seeks, balance, out-of-memory atomicity),
 * the table id hash with deletion and compaction, and copy-on-write states
 * as transactions use them. The public behaviour is the conformance
 * suite's job; these tests pin the data structures underneath it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/memory/memory.h"
#include "core/alloc.h"
#include "core/cursor.h"
#include "core/record.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static size_t height(const hdb__kv_node *t) {
  if (!t) return 0;
  size_t l = height(t->left), r = height(t->right);
  return 1 + (l > r ? l : r);
}

static hdb__kv_node *put_s(hdb__kv_node *root, const char *k, const char *v) {
  hdb__kv_node *next = NULL;
  assert_int_equal(hdb__kvmap_put(root, k, strlen(k), v, strlen(v), &next), HDB_OK);
  hdb__kvmap_release(root);
  return next;
}

static hdb__kv_node *del_s(hdb__kv_node *root, const char *k, int *found) {
  hdb__kv_node *next = NULL;
  assert_int_equal(hdb__kvmap_delete(root, k, strlen(k), &next, found), HDB_OK);
  hdb__kvmap_release(root);
  return next;
}

static const char *get_s(const hdb__kv_node *root, const char *k) {
  const hdb__kv_entry *e = hdb__kvmap_get(root, k, strlen(k));
  return e ? (const char *)e->val : NULL;
}

/* Writes the map's keys in order, space separated, into buf. */
static void keys_of(const hdb__kv_node *root, char *buf, size_t cap) {
  size_t w = 0;
  buf[0] = 0;
  for (const hdb__kv_entry *e = hdb__kvmap_seek_ge(root, NULL, 0, 1); e;
       e = hdb__kvmap_seek_ge(root, e->key, e->klen, 0)) {
    int n = snprintf(buf + w, cap - w, "%s%.*s", w ? " " : "", (int)e->klen, (const char *)e->key);
    assert_true(n > 0 && (size_t)n < cap - w);
    w += (size_t)n;
  }
}

/* ------------------------------------------------------------------ */
/* KV treap                                                            */
/* ------------------------------------------------------------------ */

/* Random puts and deletes over a small key space, against a plain array. */
static void test_kvmap_random_vs_reference(void **state) {
  (void)state;
  enum { SPACE = 512, OPS = 20000 };
  int present[SPACE] = {0};
  unsigned version[SPACE] = {0};
  hdb__kv_node *root = NULL;
  for (int op = 0; op < OPS; op++) {
    unsigned k = (unsigned)(rng() % SPACE);
    char key[16], val[16];
    snprintf(key, sizeof key, "k%03u", k);
    if (rng() % 3 == 0) {
      int found;
      root = del_s(root, key, &found);
      assert_int_equal(found, present[k]);
      present[k] = 0;
    } else {
      version[k]++;
      snprintf(val, sizeof val, "v%u", version[k]);
      root = put_s(root, key, val);
      present[k] = 1;
    }
    if (op % 1000 == 999) {
      assert_true(hdb__kvmap_check(root));
      size_t n = 0;
      for (unsigned i = 0; i < SPACE; i++) {
        snprintf(key, sizeof key, "k%03u", i);
        snprintf(val, sizeof val, "v%u", version[i]);
        const char *got = get_s(root, key);
        if (present[i]) {
          assert_non_null(got);
          assert_string_equal(got, val);
          n++;
        } else {
          assert_null(got);
        }
      }
      assert_int_equal(hdb__kvmap_count(root), n);
      /* In-order walk is sorted and complete. */
      size_t walked = 0;
      const hdb__kv_entry *prev = NULL;
      for (const hdb__kv_entry *e = hdb__kvmap_seek_ge(root, NULL, 0, 1); e;
           e = hdb__kvmap_seek_ge(root, e->key, e->klen, 0)) {
        if (prev) assert_true(hdb__key_compare(prev->key, prev->klen, e->key, e->klen) < 0);
        prev = e;
        walked++;
      }
      assert_int_equal(walked, n);
    }
  }
  hdb__kvmap_release(root);
}

/* A put or delete leaves every older root exactly as it was. */
static void test_kvmap_persistence(void **state) {
  (void)state;
  char buf[256];
  hdb__kv_node *v1 = NULL;
  v1 = put_s(v1, "b", "1");
  v1 = put_s(v1, "d", "1");
  v1 = put_s(v1, "a", "1");
  hdb__kv_node *snapshot = hdb__kvmap_ref(v1);
  hdb__kv_node *v2 = put_s(hdb__kvmap_ref(v1), "c", "2");
  v2 = put_s(v2, "a", "2");
  int found;
  v2 = del_s(v2, "d", &found);
  assert_true(found);
  v2 = del_s(v2, "zz", &found);
  assert_false(found);
  hdb__kvmap_release(v1);

  keys_of(snapshot, buf, sizeof buf);
  assert_string_equal(buf, "a b d");
  assert_string_equal(get_s(snapshot, "a"), "1");
  keys_of(v2, buf, sizeof buf);
  assert_string_equal(buf, "a b c");
  assert_string_equal(get_s(v2, "a"), "2");
  assert_true(hdb__kvmap_check(snapshot));
  assert_true(hdb__kvmap_check(v2));
  hdb__kvmap_release(snapshot);
  hdb__kvmap_release(v2);
}

static void test_kvmap_seek(void **state) {
  (void)state;
  hdb__kv_node *m = NULL;
  const char *keys[] = {"b", "ba", "bb", "c", "a"};
  for (size_t i = 0; i < 5; i++) m = put_s(m, keys[i], "x");
  const hdb__kv_entry *e;
  e = hdb__kvmap_seek_ge(m, "b", 1, 1);
  assert_memory_equal(e->key, "b", 1);
  e = hdb__kvmap_seek_ge(m, "b", 1, 0); /* shorter first: "ba" follows "b" */
  assert_int_equal(e->klen, 2);
  assert_memory_equal(e->key, "ba", 2);
  e = hdb__kvmap_seek_ge(m, "bc", 2, 1);
  assert_memory_equal(e->key, "c", 1);
  assert_null(hdb__kvmap_seek_ge(m, "d", 1, 1));
  e = hdb__kvmap_seek_le(m, "bz", 2, 1);
  assert_memory_equal(e->key, "bb", 2);
  e = hdb__kvmap_seek_le(m, "b", 1, 0);
  assert_memory_equal(e->key, "a", 1);
  assert_null(hdb__kvmap_seek_le(m, "a", 1, 0));
  e = hdb__kvmap_seek_le(m, NULL, 0, 1);
  assert_memory_equal(e->key, "c", 1);
  /* Binary keys with 0x00 and 0xff order by bytes. */
  hdb__kv_node *next;
  assert_int_equal(hdb__kvmap_put(m, "\xff", 1, "", 0, &next), HDB_OK);
  hdb__kvmap_release(m);
  m = next;
  assert_int_equal(hdb__kvmap_put(m, "b\0", 2, "z", 1, &next), HDB_OK);
  hdb__kvmap_release(m);
  m = next;
  e = hdb__kvmap_seek_le(m, NULL, 0, 1);
  assert_int_equal(e->key[0], 0xff);
  assert_int_equal(e->vlen, 0);
  assert_int_equal(e->val[0], 0); /* NUL past the value */
  e = hdb__kvmap_seek_ge(m, "b", 1, 0);
  assert_int_equal(e->klen, 2);
  assert_int_equal(e->key[1], 0);
  hdb__kvmap_release(m);
}

/* Sequential keys (the worst case of a plain BST) stay O(log n) deep. */
static void test_kvmap_balance(void **state) {
  (void)state;
  enum { N = 100000 };
  hdb__kv_node *m = NULL;
  for (unsigned i = 0; i < N; i++) {
    char key[16];
    snprintf(key, sizeof key, "%08u", i);
    hdb__kv_node *next;
    assert_int_equal(hdb__kvmap_put(m, key, 8, "v", 1, &next), HDB_OK);
    hdb__kvmap_release(m);
    m = next;
  }
  assert_int_equal(hdb__kvmap_count(m), N);
  size_t h = height(m);
  assert_true(h < 4 * 17); /* log2(100000) ~ 17; expected ~ 2.5 log2 n */
  assert_true(hdb__kvmap_check(m));
  hdb__kvmap_release(m);
}

/* Every allocation failure point of a put/delete leaves the map intact. */
static void test_kvmap_oom(void **state) {
  (void)state;
  hdb__kv_node *m = NULL;
  for (unsigned i = 0; i < 200; i++) {
    char key[16];
    snprintf(key, sizeof key, "k%u", i * 7 % 200);
    m = put_s(m, key, "v");
  }
  char before[4096], after[4096];
  keys_of(m, before, sizeof before);
  for (int do_delete = 0; do_delete < 2; do_delete++) {
    for (long n = 0;; n++) {
      hdb__kv_node *next = NULL;
      int found = 0;
      hdb__alloc_fail_after(n);
      hdb_status st = do_delete ? hdb__kvmap_delete(m, "k100", 4, &next, &found)
                                : hdb__kvmap_put(m, "k100x", 5, "new", 3, &next);
      hdb__alloc_fail_after(-1);
      keys_of(m, after, sizeof after);
      assert_string_equal(before, after);
      assert_true(hdb__kvmap_check(m));
      if (st == HDB_OK) {
        assert_non_null(next);
        assert_int_equal(hdb__kvmap_count(next), do_delete ? 199 : 201);
        assert_true(hdb__kvmap_check(next));
        hdb__kvmap_release(next);
        break;
      }
      assert_int_equal(st, HDB_NOMEM);
      assert_null(next);
    }
  }
  hdb__kvmap_release(m);
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

static hdb__mem_row *row_with_id(const char *id) {
  hdb_record *r = hdb_record_new(id);
  assert_non_null(r);
  hdb__mem_row *row = hdb__mem_row_new(r);
  assert_non_null(row);
  return row;
}

static void test_table_hash_and_compaction(void **state) {
  (void)state;
  enum { N = 5000 };
  hdb__mem_table *t = hdb__mem_table_new("t", NULL);
  assert_non_null(t);
  char id[16];
  for (unsigned i = 0; i < N; i++) {
    assert_int_equal(hdb__mem_table_reserve(t, 1, NULL), HDB_OK);
    snprintf(id, sizeof id, "id%u", i);
    hdb__mem_table_append(t, row_with_id(id));
  }
  assert_int_equal(t->n_rows, N);
  /* Remove every id not divisible by 3: deleted slots, then compaction. */
  for (unsigned i = 0; i < N; i++) {
    if (i % 3 == 0) continue;
    snprintf(id, sizeof id, "id%u", i);
    size_t s = hdb__mem_table_slot(t, id);
    assert_int_not_equal(s, HDB__MEM_EMPTY);
    hdb__mem_table_remove_slot(t, s);
  }
  hdb__mem_table_maybe_compact(t);
  assert_int_equal(t->n_slots, t->n_rows); /* compacted */
  assert_int_equal(t->n_rows, (N + 2) / 3);
  /* Lookups still work and insertion order is kept. */
  size_t prev = 0;
  for (unsigned i = 0; i < N; i++) {
    snprintf(id, sizeof id, "id%u", i);
    size_t s = hdb__mem_table_slot(t, id);
    if (i % 3) {
      assert_int_equal(s, HDB__MEM_EMPTY);
      continue;
    }
    assert_int_not_equal(s, HDB__MEM_EMPTY);
    assert_string_equal(t->slots[s]->rec->id, id);
    if (i) assert_true(s > prev);
    prev = s;
  }
  /* Replace keeps the slot. */
  size_t s3 = hdb__mem_table_slot(t, "id3");
  hdb__mem_table_replace(t, s3, row_with_id("id3"));
  assert_int_equal(hdb__mem_table_slot(t, "id3"), s3);
  hdb__mem_table_release(t);
}

/* ------------------------------------------------------------------ */
/* Copy-on-write states                                                */
/* ------------------------------------------------------------------ */

static void test_state_copy_on_write(void **state) {
  (void)state;
  hdb__mem_state *base = hdb__mem_state_new();
  assert_non_null(base);
  base->tables = hdb__malloc(sizeof *base->tables);
  base->tables[0] = hdb__mem_table_new("t", NULL);
  base->n_tables = base->cap_tables = 1;
  hdb__mem_table *t = base->tables[0];
  assert_int_equal(hdb__mem_table_reserve(t, 2, NULL), HDB_OK);
  hdb__mem_table_append(t, row_with_id("a"));
  hdb__mem_table_append(t, row_with_id("b"));
  hdb__kv_node *root = put_s(NULL, "k", "v1");
  base->ns = hdb__calloc(1, sizeof *base->ns);
  base->ns[0].name = hdb__strdup("");
  base->ns[0].root = root;
  base->n_ns = base->cap_ns = 1;

  /* begin: the clone shares the table and the KV root. */
  hdb__mem_state *txn = hdb__mem_state_clone(base);
  assert_non_null(txn);
  assert_ptr_equal(txn->tables[0], t);
  assert_int_equal(atomic_load(&t->refs), 2);
  assert_ptr_equal(txn->ns[0].root, root);

  /* A write in the transaction copies the table; rows stay shared. */
  hdb__mem_table *w;
  assert_int_equal(hdb__mem_table_writable(txn, "t", &w, NULL), HDB_OK);
  assert_ptr_not_equal(w, t);
  assert_int_equal(atomic_load(&t->refs), 1);
  assert_ptr_equal(w->slots[0], t->slots[0]);
  assert_int_equal(atomic_load(&t->slots[0]->refs), 2);
  hdb__mem_table_remove_slot(w, hdb__mem_table_slot(w, "a"));
  assert_int_equal(w->n_rows, 1);
  assert_int_equal(t->n_rows, 2); /* the committed table is untouched */
  assert_int_not_equal(hdb__mem_table_slot(t, "a"), HDB__MEM_EMPTY);
  /* A second write reuses the now-private copy. */
  hdb__mem_table *w2;
  assert_int_equal(hdb__mem_table_writable(txn, "t", &w2, NULL), HDB_OK);
  assert_ptr_equal(w2, w);

  /* KV in the transaction: a new root; the base keeps the old value. */
  txn->ns[0].root = put_s(txn->ns[0].root, "k", "v2");
  assert_string_equal(get_s(base->ns[0].root, "k"), "v1");
  assert_string_equal(get_s(txn->ns[0].root, "k"), "v2");

  assert_non_null(hdb__mem_table_find(base, "t", NULL));
  assert_null(hdb__mem_table_find(base, "nope", NULL));
  hdb__mem_state_free(txn);
  assert_int_equal(atomic_load(&t->slots[0]->refs), 1);
  hdb__mem_state_free(base);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kvmap_random_vs_reference),
      cmocka_unit_test(test_kvmap_persistence),
      cmocka_unit_test(test_kvmap_seek),
      cmocka_unit_test(test_kvmap_balance),
      cmocka_unit_test(test_kvmap_oom),
      cmocka_unit_test(test_table_hash_and_compaction),
      cmocka_unit_test(test_state_copy_on_write),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
