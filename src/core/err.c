/*
 * err.c - filling hdb_error: the one way a failure carries its message.
 *
 * Messages are formatted into a local buffer first and then copied, so a
 * caller may pass err->message itself as an argument (re-wrapping a message
 * is common). Truncation never splits a UTF-8 sequence: a message is always
 * valid UTF-8 when its arguments are.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

/* Cuts n back so that buf[0..n) does not end inside a UTF-8 sequence. */
static size_t utf8_trim(const char *buf, size_t n)
{
  size_t i = n, back = 0;
  /* Walk back over continuation bytes to the lead byte of the last sequence. */
  while (i > 0 && back < 4 && ((unsigned char)buf[i - 1] & 0xC0) == 0x80) {
    i--;
    back++;
  }
  if (i == 0)
    return n;
  unsigned char lead = (unsigned char)buf[i - 1];
  size_t need;
  if (lead < 0x80)
    return n; /* ASCII: the continuation bytes (if any) were stray; keep them */
  else if ((lead & 0xE0) == 0xC0)
    need = 2;
  else if ((lead & 0xF0) == 0xE0)
    need = 3;
  else if ((lead & 0xF8) == 0xF0)
    need = 4;
  else
    return n;
  return (back + 1 == need) ? n : i - 1;
}

/* Formats into out[HDB_ERRMSG_MAX], truncating at a character boundary. */
static void format_message(char *out, const char *fmt, va_list ap)
{
  char tmp[HDB_ERRMSG_MAX];
  int w = vsnprintf(tmp, sizeof tmp, fmt, ap);
  size_t n;
  if (w < 0) {
    n = 0;
  } else if ((size_t)w >= sizeof tmp) {
    n = utf8_trim(tmp, sizeof tmp - 1);
  } else {
    n = (size_t)w;
  }
  memcpy(out, tmp, n);
  out[n] = '\0';
}

hdb_status hdb__fail(hdb_error *err, hdb_status code, const char *fmt, ...)
{
  if (err == NULL)
    return code;
  va_list ap;
  va_start(ap, fmt);
  format_message(err->message, fmt, ap);
  va_end(ap);
  err->code = code;
  return code;
}

void hdb__err_clear(hdb_error *err)
{
  if (err == NULL)
    return;
  err->code = HDB_OK;
  err->message[0] = '\0';
}

void hdb__err_prefix(hdb_error *err, const char *fmt, ...)
{
  if (err == NULL)
    return;
  char prefix[HDB_ERRMSG_MAX];
  char old[HDB_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  format_message(prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->message, sizeof old);
  old[sizeof old - 1] = '\0';
  hdb__fail(err, err->code, "%s: %s", prefix, old);
}
