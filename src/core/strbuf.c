/*
 * strbuf.c - the growable string of strbuf.h. Capacity doubles, so n
 * appends cost O(total bytes); printf formats into a stack buffer first
 * and only allocates for long output.
 */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

void hdb__strbuf_add(hdb__strbuf *b, const void *data, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *q = hdb__realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->n, data, n);
  b->n += n;
  b->p[b->n] = 0;
}

void hdb__strbuf_puts(hdb__strbuf *b, const char *s) { hdb__strbuf_add(b, s, strlen(s)); }

void hdb__strbuf_putc(hdb__strbuf *b, char c) { hdb__strbuf_add(b, &c, 1); }

void hdb__strbuf_printf(hdb__strbuf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
    return;
  }
  if ((size_t)n < sizeof tmp) {
    hdb__strbuf_add(b, tmp, (size_t)n);
    return;
  }
  char *big = hdb__malloc((size_t)n + 1);
  if (!big) {
    b->oom = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  hdb__strbuf_add(b, big, (size_t)n);
  hdb__free_mem(big);
}

void hdb__strbuf_json_string(hdb__strbuf *b, const char *s) {
  hdb__strbuf_add(b, "\"", 1);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      char e[2] = {'\\', (char)ch};
      hdb__strbuf_add(b, e, 2);
    } else if (ch < 0x20) {
      hdb__strbuf_printf(b, "\\u%04x", ch);
    } else {
      hdb__strbuf_add(b, s, 1);
    }
  }
  hdb__strbuf_add(b, "\"", 1);
}

void hdb__strbuf_free(hdb__strbuf *b) {
  hdb__free_mem(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
  b->oom = 0;
}
