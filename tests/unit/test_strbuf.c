/*
 * test_strbuf.c - the growable string: appends, long printf output, JSON
 * string escaping, and sticky out-of-memory without leaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/alloc.h"
#include "core/strbuf.h"

static void test_append_and_printf(void **state) {
  (void)state;
  hdb__strbuf b = {0};
  hdb__strbuf_add(&b, "ab", 2);
  hdb__strbuf_printf(&b, "-%d-%s", 42, "x");
  assert_string_equal(b.p, "ab-42-x");
  assert_int_equal(b.n, 7);
  hdb__strbuf_puts(&b, "");
  hdb__strbuf_putc(&b, '\n');
  hdb__strbuf_puts(&b, "cd");
  assert_string_equal(b.p, "ab-42-x\ncd");
  b.n = 7; /* truncate back to what the checks below expect */
  b.p[7] = 0;
  char big[2000];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = 0;
  hdb__strbuf_printf(&b, "%s!", big); /* longer than the stack buffer */
  assert_int_equal(b.n, 7 + 1999 + 1);
  assert_int_equal(b.p[b.n - 1], '!');
  assert_false(b.oom);
  hdb__strbuf_free(&b);
  assert_null(b.p);
}

static void test_json_string(void **state) {
  (void)state;
  hdb__strbuf b = {0};
  hdb__strbuf_json_string(&b, "a\"b\\c\n\x01");
  assert_string_equal(b.p, "\"a\\\"b\\\\c\\u000a\\u0001\"");
  hdb__strbuf_free(&b);
}

static void test_oom_is_sticky(void **state) {
  (void)state;
  hdb__strbuf b = {0};
  hdb__strbuf_add(&b, "keep", 4);
  hdb__alloc_fail_after(0);
  char big[600];
  memset(big, 'q', sizeof big);
  hdb__strbuf_add(&b, big, sizeof big);
  hdb__alloc_fail_after(-1);
  assert_true(b.oom);
  hdb__strbuf_add(&b, "x", 1); /* ignored after a failure */
  assert_string_equal(b.p, "keep");
  hdb__strbuf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append_and_printf),
      cmocka_unit_test(test_json_string),
      cmocka_unit_test(test_oom_is_sticky),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
