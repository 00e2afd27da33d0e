/*
 * strbuf.h - a growable NUL-terminated byte string for building JSON,
 * file images and reports. Out of memory is sticky (`oom`), so callers
 * append freely and check once at the end.
 */
#ifndef HDB_CORE_STRBUF_H
#define HDB_CORE_STRBUF_H

#include <stddef.h>

#include "core/err.h"

typedef struct hdb__strbuf {
  char *p;  /* owned (hdb__free_mem); NUL-terminated once anything was added */
  size_t n; /* bytes used, not counting the NUL */
  size_t cap;
  int oom;  /* an append failed: p holds what came before it */
} hdb__strbuf;

void hdb__strbuf_add(hdb__strbuf *b, const void *data, size_t n);
void hdb__strbuf_puts(hdb__strbuf *b, const char *s);
void hdb__strbuf_putc(hdb__strbuf *b, char c);
void hdb__strbuf_printf(hdb__strbuf *b, const char *fmt, ...) HDB__PRINTF(2, 3);
/* Appends s as a JSON string literal (quotes and escapes). */
void hdb__strbuf_json_string(hdb__strbuf *b, const char *s);
void hdb__strbuf_free(hdb__strbuf *b);

#endif
