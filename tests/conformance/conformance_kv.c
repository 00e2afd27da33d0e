/*
 * conformance_kv.c - the key-value API (HDB_CAP_KV): put/get/has/delete,
 * binary keys and values with NUL bytes, isolated and nested namespaces,
 * atomic batches, and ordered iterators (full, prefix, start/end range,
 * reverse, seek both ways, snapshot, byte order with shorter keys first).
 * With the capability off, every call answers HDB_NOT_SUPPORTED.
 *
 * Namespaces used: conf_kv_namespaces (conformance_util.c); keys in the
 * default namespace start with CONF_KV_KEY_PREFIX. Both are cleared by the
 * per-test fixture.
 */
#include "conformance_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS "cfkv"

static void kv_put(hdb *db, const char *ns, const void *k, size_t kl, const void *v, size_t vl,
                   const char *file, int line) {
  conf_expect_status(db, HDB_OK, hdb_kv_put(db, ns, k, kl, v, vl), "hdb_kv_put", file, line);
}
#define PUT(ns, k, kl, v, vl) kv_put(conf_db, (ns), (k), (kl), (v), (vl), __FILE__, __LINE__)
#define PUTS(ns, k, v) PUT((ns), (k), strlen(k), (v), strlen(v))

/* Asserts the value of key (vlen bytes); want NULL: absent. */
static void kv_expect(hdb *db, const char *ns, const void *k, size_t kl, const void *want,
                      size_t wl, const char *file, int line) {
  void *v = NULL;
  size_t vl = 12345;
  int found = -1;
  hdb_status st = hdb_kv_get(db, ns, k, kl, &v, &vl);
  conf_expect_status(db, HDB_OK, hdb_kv_has(db, ns, k, kl, &found), "hdb_kv_has", file, line);
  if (want == NULL) {
    if (st != HDB_NOT_FOUND || found != 0) {
      print_error("kv key (%zu bytes) in ns %s: expected absent, get -> %s, has -> %d\n", kl,
                  ns ? ns : "(default)", hdb_status_name(st), found);
      hdb_free(v);
      _fail(file, line);
    }
    return;
  }
  if (st != HDB_OK || found != 1 || vl != wl || memcmp(v, want, wl) != 0 ||
      ((const char *)v)[vl] != '\0') {
    print_error("kv key (%zu bytes) in ns %s: get -> %s (%zu bytes), has -> %d; want %zu bytes\n",
                kl, ns ? ns : "(default)", hdb_status_name(st), st == HDB_OK ? vl : 0, found, wl);
    hdb_free(v);
    _fail(file, line);
  }
  hdb_free(v);
}
#define KV_EXPECT(ns, k, kl, v, vl) kv_expect(conf_db, (ns), (k), (kl), (v), (vl), __FILE__, __LINE__)
static size_t slen(const char *s) { return s ? strlen(s) : 0; }
#define KV_EXPECTS(ns, k, v) KV_EXPECT((ns), (k), strlen(k), (v), slen(v))

static int require_kv(hdb *db) {
  if (conf_has(HDB_CAP_KV)) return 1;
  void *v = NULL;
  size_t vl = 0;
  int found = 0;
  EXPECT(db, HDB_NOT_SUPPORTED, hdb_kv_put(db, NS, "k", 1, "v", 1));
  EXPECT(db, HDB_NOT_SUPPORTED, hdb_kv_get(db, NS, "k", 1, &v, &vl));
  EXPECT(db, HDB_NOT_SUPPORTED, hdb_kv_has(db, NS, "k", 1, &found));
  EXPECT(db, HDB_NOT_SUPPORTED, hdb_kv_delete(db, NS, "k", 1));
  hdb_kv_batch *b = hdb_kv_batch_new();
  assert_non_null(b);
  assert_int_equal(hdb_kv_batch_put(b, NS, "k", 1, "v", 1), HDB_OK);
  EXPECT(db, HDB_NOT_SUPPORTED, hdb_kv_write(db, b));
  hdb_kv_batch_free(b);
  hdb_kv_iter *it = NULL;
  EXPECT(db, HDB_NOT_SUPPORTED, hdb_kv_iter_open(db, NS, NULL, &it));
  assert_null(it);
  printf("      (kv: HDB_CAP_KV is off; checked NOT_SUPPORTED)\n");
  return 0;
}

static void test_kv_put_get_has_delete(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_kv(db)) skip();
  KV_EXPECTS(NS, "alpha", NULL);
  PUTS(NS, "alpha", "one");
  KV_EXPECTS(NS, "alpha", "one");
  PUTS(NS, "alpha", "uno, longer than before");
  KV_EXPECTS(NS, "alpha", "uno, longer than before");
  PUTS(NS, "alpha", "1");
  KV_EXPECTS(NS, "alpha", "1");
  /* An empty value is a value. */
  PUT(NS, "empty", 5, "", 0);
  KV_EXPECT(NS, "empty", 5, "", 0);
  CHECK(db, hdb_kv_delete(db, NS, "alpha", 5));
  KV_EXPECTS(NS, "alpha", NULL);
  EXPECT(db, HDB_NOT_FOUND, hdb_kv_delete(db, NS, "alpha", 5));
  void *v = (void *)1;
  size_t vl = 0;
  EXPECT(db, HDB_NOT_FOUND, hdb_kv_get(db, NS, "alpha", 5, &v, &vl));
  KV_EXPECT(NS, "empty", 5, "", 0);

  /* A 1 MiB value. */
  size_t big = 1u << 20;
  unsigned char *p = malloc(big);
  assert_non_null(p);
  for (size_t i = 0; i < big; i++) p[i] = (unsigned char)(i * 131u + 7u);
  PUT(NS, "big", 3, p, big);
  KV_EXPECT(NS, "big", 3, p, big);
  free(p);

  /* Empty keys are invalid; nothing is written. */
  EXPECT(db, HDB_INVALID_ARGUMENT, hdb_kv_put(db, NS, "", 0, "v", 1));
  EXPECT(db, HDB_INVALID_ARGUMENT, hdb_kv_put(db, NS, NULL, 0, "v", 1));
}

static void test_kv_binary_keys_and_values(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_kv(db)) skip();
  const char k1[] = {'a', 0, 'b'};
  const char k2[] = {'a', 0, 'c'};
  const char k3[] = {'a'};
  const char k4[] = {0};
  const char k5[] = {'a', 0};
  const unsigned char v1[] = {0, 0, 1, 0, 0xff, 0};
  const unsigned char v2[] = {0xff, 0xfe, 0};
  PUT(NS, k1, 3, v1, sizeof v1);
  PUT(NS, k2, 3, v2, sizeof v2);
  PUT(NS, k3, 1, "A", 1);
  PUT(NS, k4, 1, "zero", 4);
  PUT(NS, k5, 2, "a0", 2);
  KV_EXPECT(NS, k1, 3, v1, sizeof v1);
  KV_EXPECT(NS, k2, 3, v2, sizeof v2);
  KV_EXPECT(NS, k3, 1, "A", 1);
  KV_EXPECT(NS, k4, 1, "zero", 4);
  KV_EXPECT(NS, k5, 2, "a0", 2);
  KV_EXPECT(NS, "a\0d", 3, NULL, 0);
  CHECK(db, hdb_kv_delete(db, NS, k1, 3));
  KV_EXPECT(NS, k1, 3, NULL, 0);
  KV_EXPECT(NS, k5, 2, "a0", 2); /* a prefix of the deleted key survives */
  KV_EXPECT(NS, k2, 3, v2, sizeof v2);
}

static void test_kv_namespaces_isolated(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_kv(db)) skip();
  PUTS("cfkv", "k", "top");
  PUTS("cfkv/a", "k", "nested");
  PUTS("cfkv/a/b", "k", "deeper");
  PUTS("cfkv2", "k", "sibling");
  PUTS(NULL, CONF_KV_KEY_PREFIX "k", "default-null");
  KV_EXPECTS("cfkv", "k", "top");
  KV_EXPECTS("cfkv/a", "k", "nested");
  KV_EXPECTS("cfkv/a/b", "k", "deeper");
  KV_EXPECTS("cfkv2", "k", "sibling");
  /* NULL and "" are the same default namespace. */
  KV_EXPECTS("", CONF_KV_KEY_PREFIX "k", "default-null");
  KV_EXPECTS(NULL, CONF_KV_KEY_PREFIX "k", "default-null");
  KV_EXPECTS(NULL, "k", NULL);
  KV_EXPECTS("cfkv", CONF_KV_KEY_PREFIX "k", NULL);

  /* Iterating a namespace shows only its own keys, not nested ones. */
  hdb_kv_iter *it = NULL;
  CHECK(db, hdb_kv_iter_open(db, "cfkv", NULL, &it));
  const void *k, *v;
  size_t kl, vl;
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, &v, &vl), HDB_OK);
  assert_int_equal(kl, 1);
  assert_memory_equal(k, "k", 1);
  assert_int_equal(vl, 3);
  assert_memory_equal(v, "top", 3);
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, &v, &vl), HDB_DONE);
  hdb_kv_iter_free(it);

  CHECK(db, hdb_kv_delete(db, "cfkv/a", "k", 1));
  KV_EXPECTS("cfkv/a", "k", NULL);
  KV_EXPECTS("cfkv", "k", "top");
  KV_EXPECTS("cfkv/a/b", "k", "deeper");

  const char *bad[] = {"bad ns", "cf-kv", "/lead", "trail/", "a//b", "9x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    hdb_status st = hdb_kv_put(db, bad[i], "k", 1, "v", 1);
    if (st != HDB_INVALID_ARGUMENT)
      fail_msg("kv_put in namespace \"%s\": expected INVALID_ARGUMENT, got %s", bad[i],
               hdb_status_name(st));
  }
}

static void test_kv_batch_atomic(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_kv(db)) skip();
  PUTS(NS, "gone", "x");
  PUTS(NS, "keep", "old");
  hdb_kv_batch *b = hdb_kv_batch_new();
  assert_non_null(b);
  assert_int_equal(hdb_kv_batch_count(b), 0);
  assert_int_equal(hdb_kv_batch_put(b, NS, "n1", 2, "v1", 2), HDB_OK);
  assert_int_equal(hdb_kv_batch_put(b, "cfkv/a", "n2", 2, "v\0\x32", 3), HDB_OK);
  assert_int_equal(hdb_kv_batch_delete(b, NS, "gone", 4), HDB_OK);
  assert_int_equal(hdb_kv_batch_put(b, NS, "keep", 4, "new", 3), HDB_OK);
  /* In order: put then delete leaves nothing; delete then put leaves the put. */
  assert_int_equal(hdb_kv_batch_put(b, NS, "tmp", 3, "t", 1), HDB_OK);
  assert_int_equal(hdb_kv_batch_delete(b, NS, "tmp", 3), HDB_OK);
  assert_int_equal(hdb_kv_batch_delete(b, NS, "back", 4), HDB_OK);
  assert_int_equal(hdb_kv_batch_put(b, NS, "back", 4, "b", 1), HDB_OK);
  assert_int_equal(hdb_kv_batch_count(b), 8);
  CHECK(db, hdb_kv_write(db, b));
  assert_int_equal(hdb_kv_batch_count(b), 8); /* unchanged by the write */
  KV_EXPECTS(NS, "n1", "v1");
  KV_EXPECT("cfkv/a", "n2", 2, "v\0\x32", 3);
  KV_EXPECTS(NS, "gone", NULL);
  KV_EXPECTS(NS, "keep", "new");
  KV_EXPECTS(NS, "tmp", NULL);
  KV_EXPECTS(NS, "back", "b");
  hdb_kv_batch_clear(b);
  assert_int_equal(hdb_kv_batch_count(b), 0);

  /* A batch with an invalid operation applies nothing. */
  assert_int_equal(hdb_kv_batch_put(b, NS, "a1", 2, "x", 1), HDB_OK);
  assert_int_equal(hdb_kv_batch_delete(b, NS, "keep", 4), HDB_OK);
  hdb_status add = hdb_kv_batch_put(b, NS, "", 0, "x", 1);
  assert_int_equal(hdb_kv_batch_put(b, NS, "a2", 2, "x", 1), HDB_OK);
  if (add == HDB_OK) {
    assert_int_equal(hdb_kv_batch_count(b), 4);
    EXPECT(db, HDB_INVALID_ARGUMENT, hdb_kv_write(db, b));
    KV_EXPECTS(NS, "a1", NULL);
    KV_EXPECTS(NS, "a2", NULL);
    KV_EXPECTS(NS, "keep", "new");
  } else {
    /* Refused when added: the batch holds only the valid operations. */
    assert_int_equal(add, HDB_INVALID_ARGUMENT);
    assert_int_equal(hdb_kv_batch_count(b), 3);
  }
  /* An invalid namespace inside a batch. */
  hdb_kv_batch_clear(b);
  assert_int_equal(hdb_kv_batch_put(b, NS, "a3", 2, "x", 1), HDB_OK);
  add = hdb_kv_batch_put(b, "bad ns", "k", 1, "x", 1);
  if (add == HDB_OK) {
    EXPECT(db, HDB_INVALID_ARGUMENT, hdb_kv_write(db, b));
    KV_EXPECTS(NS, "a3", NULL);
  } else {
    assert_int_equal(add, HDB_INVALID_ARGUMENT);
    assert_int_equal(hdb_kv_batch_count(b), 1);
  }
  hdb_kv_batch_free(b);
  /* An empty batch is fine. */
  b = hdb_kv_batch_new();
  CHECK(db, hdb_kv_write(db, b));
  hdb_kv_batch_free(b);
}

/* Keys in byte order (memcmp, shorter first). */
static const struct {
  const char *k;
  size_t len;
} sorted_keys[] = {
    {"B", 1},  {"a", 1}, {"a\0", 2}, {"aa", 2}, {"ab", 2},
    {"abc", 3}, {"b", 1}, {"ba", 2},  {"\x7f", 1}, {"\xff", 1},
};
#define N_KEYS (sizeof sorted_keys / sizeof sorted_keys[0])

static void load_keys(hdb *db) {
  /* Insert in a scrambled order. */
  for (size_t j = 0; j < N_KEYS; j++) {
    size_t i = (j * 7) % N_KEYS;
    char v[8];
    snprintf(v, sizeof v, "v%zu", i);
    kv_put(db, NS, sorted_keys[i].k, sorted_keys[i].len, v, strlen(v), __FILE__, __LINE__);
  }
  /* Noise in other namespaces must not show. */
  kv_put(db, "cfkv/a", "aa", 2, "x", 1, __FILE__, __LINE__);
  kv_put(db, "cfkv2", "ab", 2, "x", 1, __FILE__, __LINE__);
}

/* Drains it and returns the keys as a '|'-joined printable string: bytes
 * outside [0x20,0x7e] as \xHH. Checks each value matches the key's. */
static char *drain(hdb_kv_iter *it) {
  char *out = calloc(1, 1024);
  assert_non_null(out);
  size_t n = 0;
  const void *k, *v;
  size_t kl, vl;
  hdb_status st;
  while ((st = hdb_kv_iter_next(it, &k, &kl, &v, &vl)) == HDB_OK) {
    if (n) out[n++] = '|';
    for (size_t i = 0; i < kl && n < 1000; i++) {
      unsigned char c = ((const unsigned char *)k)[i];
      if (c >= 0x20 && c < 0x7f && c != '\\' && c != '|')
        out[n++] = (char)c;
      else
        n += (size_t)snprintf(out + n, 8, "\\x%02x", c);
    }
    for (size_t i = 0; i < N_KEYS; i++)
      if (sorted_keys[i].len == kl && memcmp(sorted_keys[i].k, k, kl) == 0) {
        char want[8];
        snprintf(want, sizeof want, "v%zu", i);
        if (vl != strlen(want) || memcmp(v, want, vl) != 0)
          fail_msg("iterator: value of key %zu is wrong", i);
      }
  }
  if (st != HDB_DONE) fail_msg("iterator ended with %s: %s", hdb_status_name(st), hdb_kv_iter_errmsg(it));
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, &v, &vl), HDB_DONE);
  return out;
}

static char *iter_keys(hdb *db, const hdb_kv_range *r) {
  hdb_kv_iter *it = NULL;
  CHECK(db, hdb_kv_iter_open(db, NS, r, &it));
  char *s = drain(it);
  hdb_kv_iter_free(it);
  return s;
}

#define EXPECT_KEYS(range, want)                \
  do {                                          \
    char *got_ = iter_keys(db, (range));        \
    assert_string_equal(got_, (want));          \
    free(got_);                                 \
  } while (0)

static void test_kv_iterators(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_kv(db)) skip();
  load_keys(db);
  hdb_kv_range r;
  memset(&r, 0, sizeof r);
  EXPECT_KEYS(NULL, "B|a|a\\x00|aa|ab|abc|b|ba|\\x7f|\\xff");
  EXPECT_KEYS(&r, "B|a|a\\x00|aa|ab|abc|b|ba|\\x7f|\\xff");
  r.reverse = 1;
  EXPECT_KEYS(&r, "\\xff|\\x7f|ba|b|abc|ab|aa|a\\x00|a|B");

  memset(&r, 0, sizeof r);
  r.prefix = "a";
  r.prefix_len = 1;
  EXPECT_KEYS(&r, "a|a\\x00|aa|ab|abc");
  r.reverse = 1;
  EXPECT_KEYS(&r, "abc|ab|aa|a\\x00|a");
  r.reverse = 0;
  r.prefix = "ab";
  r.prefix_len = 2;
  EXPECT_KEYS(&r, "ab|abc");
  r.prefix = "a\0";
  r.prefix_len = 2;
  EXPECT_KEYS(&r, "a\\x00");
  r.prefix = "zz";
  EXPECT_KEYS(&r, "");

  memset(&r, 0, sizeof r);
  r.start = "ab";
  r.start_len = 2;
  r.end = "b";
  r.end_len = 1;
  EXPECT_KEYS(&r, "ab|abc"); /* end is exclusive */
  r.reverse = 1;
  EXPECT_KEYS(&r, "abc|ab");
  r.reverse = 0;
  r.start = "a\0";
  r.start_len = 2;
  r.end = NULL;
  r.end_len = 0;
  EXPECT_KEYS(&r, "a\\x00|aa|ab|abc|b|ba|\\x7f|\\xff");
  r.start = NULL;
  r.start_len = 0;
  r.end = "aa";
  r.end_len = 2;
  EXPECT_KEYS(&r, "B|a|a\\x00");
  /* prefix and range together. */
  r.prefix = "a";
  r.prefix_len = 1;
  r.start = "aa";
  r.start_len = 2;
  r.end = "abc";
  r.end_len = 3;
  EXPECT_KEYS(&r, "aa|ab");
  r.reverse = 1;
  EXPECT_KEYS(&r, "ab|aa");
}

static void test_kv_seek(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_kv(db)) skip();
  load_keys(db);
  hdb_kv_iter *it = NULL;
  const void *k, *v;
  size_t kl, vl;
  CHECK(db, hdb_kv_iter_open(db, NS, NULL, &it));
  assert_int_equal(hdb_kv_iter_seek(it, "aaa", 3), HDB_OK); /* first key >= "aaa" */
  char *s = drain(it);
  assert_string_equal(s, "ab|abc|b|ba|\\x7f|\\xff");
  free(s);
  assert_int_equal(hdb_kv_iter_seek(it, "b", 1), HDB_OK); /* exact hit; seeking back works */
  s = drain(it);
  assert_string_equal(s, "b|ba|\\x7f|\\xff");
  free(s);
  assert_int_equal(hdb_kv_iter_seek(it, "\xff\xff", 2), HDB_OK);
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, &v, &vl), HDB_DONE);
  assert_int_equal(hdb_kv_iter_seek(it, "A", 1), HDB_OK);
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, &v, &vl), HDB_OK);
  assert_int_equal(kl, 1);
  assert_memory_equal(k, "B", 1);
  hdb_kv_iter_free(it);

  /* Reverse: the first key <= the target. */
  hdb_kv_range r;
  memset(&r, 0, sizeof r);
  r.reverse = 1;
  CHECK(db, hdb_kv_iter_open(db, NS, &r, &it));
  assert_int_equal(hdb_kv_iter_seek(it, "aaa", 3), HDB_OK);
  s = drain(it);
  assert_string_equal(s, "aa|a\\x00|a|B");
  free(s);
  assert_int_equal(hdb_kv_iter_seek(it, "ab", 2), HDB_OK);
  s = drain(it);
  assert_string_equal(s, "ab|aa|a\\x00|a|B");
  free(s);
  assert_int_equal(hdb_kv_iter_seek(it, "A", 1), HDB_OK);
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, &v, &vl), HDB_DONE);
  hdb_kv_iter_free(it);

  /* Within a range: seeking outside it stays inside. */
  r.reverse = 0;
  r.prefix = "a";
  r.prefix_len = 1;
  CHECK(db, hdb_kv_iter_open(db, NS, &r, &it));
  assert_int_equal(hdb_kv_iter_seek(it, "b", 1), HDB_OK);
  assert_int_equal(hdb_kv_iter_next(it, &k, &kl, &v, &vl), HDB_DONE);
  assert_int_equal(hdb_kv_iter_seek(it, "A", 1), HDB_OK); /* before the range: its start */
  s = drain(it);
  assert_string_equal(s, "a|a\\x00|aa|ab|abc");
  free(s);
  hdb_kv_iter_free(it);
}

static void test_kv_iterator_snapshot(void **state) {
  (void)state;
  hdb *db = conf_db;
  if (!require_kv(db)) skip();
  load_keys(db);
  hdb_kv_iter *it = NULL;
  CHECK(db, hdb_kv_iter_open(db, NS, NULL, &it));
  /* Changes after the iterator opened are not seen by it. */
  PUTS(NS, "aaa", "new");
  CHECK(db, hdb_kv_delete(db, NS, "b", 1));
  PUTS(NS, "a", "changed");
  char *s = drain(it);
  assert_string_equal(s, "B|a|a\\x00|aa|ab|abc|b|ba|\\x7f|\\xff");
  free(s);
  hdb_kv_iter_free(it);
  /* A new iterator sees them. */
  CHECK(db, hdb_kv_iter_open(db, NS, NULL, &it));
  const void *k, *v;
  size_t kl, vl;
  size_t n = 0;
  int saw_aaa = 0, saw_b = 0;
  while (hdb_kv_iter_next(it, &k, &kl, &v, &vl) == HDB_OK) {
    n++;
    if (kl == 3 && memcmp(k, "aaa", 3) == 0) saw_aaa = 1;
    if (kl == 1 && memcmp(k, "b", 1) == 0) saw_b = 1;
    if (kl == 1 && memcmp(k, "a", 1) == 0) {
      assert_int_equal(vl, 7);
      assert_memory_equal(v, "changed", 7);
    }
  }
  hdb_kv_iter_free(it);
  assert_int_equal(n, N_KEYS);
  assert_true(saw_aaa);
  assert_false(saw_b);
}

int conf_run_kv(void) {
  static const struct CMUnitTest tests[] = {
      CONF_T(test_kv_put_get_has_delete), CONF_T(test_kv_binary_keys_and_values),
      CONF_T(test_kv_namespaces_isolated), CONF_T(test_kv_batch_atomic),
      CONF_T(test_kv_iterators),          CONF_T(test_kv_seek),
      CONF_T(test_kv_iterator_snapshot),
  };
  return CONF_RUN_GROUP("kv", tests);
}
