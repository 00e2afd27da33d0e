/*
 * json.c - values and records to and from JSON.
 *
 * Parsing uses cJSON for the structure, but cJSON keeps numbers only as
 * doubles, which would round int64 values above 2^53 and forget whether
 * "1.0" was written as a float. So after cJSON accepts a document, a small
 * scanner lists the number tokens of the source text in document order
 * (skipping strings). cJSON builds its tree in the same order, so walking
 * the tree in preorder and taking the next token at each number node maps
 * every number node to its exact text (the `numsrc` below). Each token is
 * checked against the node's double; any disagreement turns the mapping
 * off and falls back to the double.
 *
 * Writing never goes through cJSON's number printer: a small growable
 * buffer (sbuf) writes ints exactly, floats in their shortest round-trip
 * form, and strings with minimal escapes, all in the "C" locale whatever
 * the application's locale is.
 *
 * cJSON's allocation hooks point at alloc.h (process-wide, once). cJSON
 * reports out-of-memory and syntax errors alike as NULL, so the hook also
 * sets a thread-local flag that tells the two apart.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "json.h"
#include "record.h"
#include "value.h"

/* ------------------------------------------------------------------ */
/* Initialization, allocation hooks, locale                            */
/* ------------------------------------------------------------------ */

static pthread_once_t json_once = PTHREAD_ONCE_INIT;
static _Thread_local int json_alloc_failed;
static locale_t c_locale; /* (locale_t)0 when newlocale failed: use the current one */

static void *json_malloc(size_t n)
{
  void *p = hdb__malloc(n);
  if (p == NULL)
    json_alloc_failed = 1;
  return p;
}

static void json_free(void *p)
{
  hdb__free_mem(p);
}

static void json_init_once(void)
{
  cJSON_Hooks hooks = {json_malloc, json_free};
  cJSON_InitHooks(&hooks);
  c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

void hdb__json_init(void)
{
  pthread_once(&json_once, json_init_once);
}

static double strtod_c(const char *s, char **end)
{
  if (c_locale == (locale_t)0)
    return strtod(s, end);
  return strtod_l(s, end, c_locale);
}

static float strtof_c(const char *s, char **end)
{
  if (c_locale == (locale_t)0)
    return strtof(s, end);
  return strtof_l(s, end, c_locale);
}

/* snprintf of one double in the "C" locale (uselocale is per thread). */
static int fmt_c(char *buf, size_t cap, int prec, double d)
{
  locale_t old = (locale_t)0;
  if (c_locale != (locale_t)0)
    old = uselocale(c_locale);
  int n = snprintf(buf, cap, "%.*g", prec, d);
  if (c_locale != (locale_t)0)
    uselocale(old);
  return n;
}

/* Shortest text that reads back to d; always has '.', 'e' or is null.
 * More digits never stop a correctly rounded decimal from reading back,
 * so the shortest precision is found by binary search over 1..17. */
static size_t fmt_double(char *buf, size_t cap, double d)
{
  if (!isfinite(d)) {
    snprintf(buf, cap, "null");
    return 4;
  }
  int lo = 1, hi = 17;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    fmt_c(buf, cap, mid, d);
    if (strtod_c(buf, NULL) == d)
      hi = mid;
    else
      lo = mid + 1;
  }
  int n = fmt_c(buf, cap, lo, d);
  if (strpbrk(buf, ".eEn") == NULL && (size_t)n + 2 < cap) {
    memcpy(buf + n, ".0", 3);
    n += 2;
  }
  return (size_t)n;
}

/* Shortest text that reads back (as float32) to f: 1..9 digits. */
static size_t fmt_float32(char *buf, size_t cap, float f)
{
  if (!isfinite(f)) {
    snprintf(buf, cap, "null");
    return 4;
  }
  int lo = 1, hi = 9;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    fmt_c(buf, cap, mid, (double)f);
    if (strtof_c(buf, NULL) == f)
      hi = mid;
    else
      lo = mid + 1;
  }
  return (size_t)fmt_c(buf, cap, lo, (double)f);
}

/* ------------------------------------------------------------------ */
/* Output buffer                                                       */
/* ------------------------------------------------------------------ */

typedef struct sbuf {
  char *p;
  size_t n, cap;
  int oom; /* sticky: once set, writes are dropped and the result is NOMEM */
} sbuf;

static int sb_reserve(sbuf *b, size_t extra)
{
  if (b->oom)
    return 0;
  if (b->n + extra + 1 <= b->cap)
    return 1;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->n + extra + 1)
    cap *= 2;
  char *p = hdb__realloc(b->p, cap);
  if (p == NULL) {
    b->oom = 1;
    return 0;
  }
  b->p = p;
  b->cap = cap;
  return 1;
}

static void sb_put(sbuf *b, const char *s, size_t n)
{
  if (!sb_reserve(b, n))
    return;
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
  sb_put(b, s, strlen(s));
}

static void sb_putc(sbuf *b, char c)
{
  sb_put(b, &c, 1);
}

/* Hands the text to the caller, or frees it and reports NOMEM. */
static hdb_status sb_finish(sbuf *b, char **out, size_t *len)
{
  if (!b->oom && b->p == NULL)
    sb_reserve(b, 0);
  if (b->oom) {
    hdb__free_mem(b->p);
    *out = NULL;
    return HDB_NOMEM;
  }
  *out = b->p;
  if (len)
    *len = b->n;
  return HDB_OK;
}

static void sb_string(sbuf *b, const char *s, size_t len)
{
  static const char hex[] = "0123456789abcdef";
  sb_putc(b, '"');
  size_t run = 0; /* start of the pending run of bytes that need no escape */
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    sb_put(b, s + run, i - run);
    run = i + 1;
    switch (c) {
    case '"': sb_put(b, "\\\"", 2); break;
    case '\\': sb_put(b, "\\\\", 2); break;
    case '\b': sb_put(b, "\\b", 2); break;
    case '\f': sb_put(b, "\\f", 2); break;
    case '\n': sb_put(b, "\\n", 2); break;
    case '\r': sb_put(b, "\\r", 2); break;
    case '\t': sb_put(b, "\\t", 2); break;
    default: {
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      sb_put(b, u, 6);
    }
    }
  }
  sb_put(b, s + run, len - run);
  sb_putc(b, '"');
}

static void sb_base64(sbuf *b, const void *data, size_t len)
{
  size_t enc = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
  if (!sb_reserve(b, enc))
    return;
  sodium_bin2base64(b->p + b->n, enc, data, len, sodium_base64_VARIANT_ORIGINAL);
  b->n += enc - 1; /* enc counts the NUL */
}

static void sb_value(sbuf *b, const hdb_value *v)
{
  char num[40];
  switch (v->type) {
  case HDB_TYPE_NULL:
    sb_put(b, "null", 4);
    break;
  case HDB_TYPE_BOOL:
    sb_puts(b, v->as.boolean ? "true" : "false");
    break;
  case HDB_TYPE_INT: {
    int n = snprintf(num, sizeof num, "%lld", (long long)v->as.i);
    sb_put(b, num, (size_t)n);
    break;
  }
  case HDB_TYPE_FLOAT:
    sb_put(b, num, fmt_double(num, sizeof num, v->as.f));
    break;
  case HDB_TYPE_TEXT:
    sb_string(b, v->as.text.data, v->as.text.len);
    break;
  case HDB_TYPE_BLOB:
    sb_put(b, "{\"$base64\":\"", 12);
    sb_base64(b, v->as.blob.data, v->as.blob.len);
    sb_put(b, "\"}", 2);
    break;
  case HDB_TYPE_TIMESTAMP: {
    char ts[32];
    hdb__timestamp_format(v->as.timestamp_us, ts);
    sb_putc(b, '"');
    sb_puts(b, ts);
    sb_putc(b, '"');
    break;
  }
  case HDB_TYPE_JSON:
    sb_put(b, v->as.text.data, v->as.text.len);
    break;
  case HDB_TYPE_VECTOR:
    sb_putc(b, '[');
    for (uint32_t i = 0; i < v->as.vector.dim; i++) {
      if (i)
        sb_putc(b, ',');
      sb_put(b, num, fmt_float32(num, sizeof num, v->as.vector.data[i]));
    }
    sb_putc(b, ']');
    break;
  default:
    sb_put(b, "null", 4);
    break;
  }
}

hdb_status hdb__value_to_json_text(const hdb_value *v, char **out, size_t *len)
{
  sbuf b = {0};
  sb_value(&b, v);
  return sb_finish(&b, out, len);
}

/* ------------------------------------------------------------------ */
/* Positions                                                           */
/* ------------------------------------------------------------------ */

void hdb__text_position(const char *text, size_t off, size_t *line, size_t *col)
{
  size_t l = 1, c = 1;
  for (size_t i = 0; i < off && text != NULL && text[i] != '\0'; i++) {
    if (text[i] == '\n') {
      l++;
      c = 1;
    } else {
      c++;
    }
  }
  if (line)
    *line = l;
  if (col)
    *col = c;
}

static hdb_status fail_at(hdb_error *err, hdb_status code, const char *text, size_t off,
                          const char *what)
{
  size_t line, col;
  hdb__text_position(text, off, &line, &col);
  return hdb__fail(err, code, "at %zu:%zu: %s", line, col, what);
}

/* ------------------------------------------------------------------ */
/* Number tokens of the source                                         */
/* ------------------------------------------------------------------ */

typedef struct numtok {
  size_t start, len;
} numtok;

typedef struct numsrc {
  const char *text;
  numtok *toks;
  size_t n, next;
  int off; /* mapping disabled after a mismatch */
} numsrc;

/* Strict JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number_valid(const char *s, size_t len)
{
  size_t i = 0;
  if (i < len && s[i] == '-')
    i++;
  if (i >= len)
    return 0;
  if (s[i] == '0') {
    i++;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < len && s[i] >= '0' && s[i] <= '9')
      i++;
  } else {
    return 0;
  }
  if (i < len && s[i] == '.') {
    size_t d = ++i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == d)
      return 0;
  }
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-'))
      i++;
    size_t d = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == d)
      return 0;
  }
  return i == len;
}

static int numchar(char c)
{
  return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E';
}

/* Lists the number tokens of text (which cJSON accepted). Also rejects what
 * cJSON lets through but JSON forbids or we cannot hold: numbers such as
 * "01" or "1.", and "\u0000" in strings (cJSON would cut the string). */
static hdb_status scan_numbers(const char *text, size_t len, numsrc *src, hdb_error *err)
{
  size_t cap = 0;
  memset(src, 0, sizeof *src);
  src->text = text;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (c == '"') {
      for (i++; i < len && text[i] != '"'; i++) {
        if (text[i] == '\\') {
          if (i + 5 < len && text[i + 1] == 'u' && memcmp(text + i + 2, "0000", 4) == 0) {
            hdb__free_mem(src->toks);
            src->toks = NULL;
            return fail_at(err, HDB_BAD_JSON, text, i, "\\u0000 is not supported in strings");
          }
          i++;
        }
      }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t s = i;
      while (i < len && numchar(text[i]))
        i++;
      if (!number_valid(text + s, i - s)) {
        hdb__free_mem(src->toks);
        src->toks = NULL;
        return fail_at(err, HDB_BAD_JSON, text, s, "malformed number");
      }
      /* Only an exponent or hundreds of digits can overflow a double. */
      if (memchr(text + s, 'e', i - s) != NULL || memchr(text + s, 'E', i - s) != NULL ||
          i - s > 300) {
        char buf[400];
        size_t tl = i - s < sizeof buf - 1 ? i - s : sizeof buf - 1;
        memcpy(buf, text + s, tl);
        buf[tl] = '\0';
        if (!isfinite(strtod_c(buf, NULL))) {
          hdb__free_mem(src->toks);
          src->toks = NULL;
          return fail_at(err, HDB_BAD_JSON, text, s, "number out of range");
        }
      }
      if (src->n == cap) {
        size_t ncap = cap ? cap * 2 : 16;
        numtok *t = hdb__realloc(src->toks, ncap * sizeof *t);
        if (t == NULL) {
          hdb__free_mem(src->toks);
          src->toks = NULL;
          return hdb__fail(err, HDB_NOMEM, "out of memory");
        }
        src->toks = t;
        cap = ncap;
      }
      src->toks[src->n].start = s;
      src->toks[src->n].len = i - s;
      src->n++;
      i--;
    }
  }
  return HDB_OK;
}

static void numsrc_free(numsrc *src)
{
  hdb__free_mem(src->toks);
  src->toks = NULL;
}

/* The source token of the next number node (NUL-terminated copy in buf),
 * or NULL when there is no mapping. */
static const char *next_num(numsrc *src, const cJSON *node, char *buf, size_t cap)
{
  if (src == NULL || src->off)
    return NULL;
  if (src->next >= src->n) {
    src->off = 1;
    return NULL;
  }
  numtok t = src->toks[src->next++];
  if (t.len >= cap) {
    src->off = 1;
    return NULL;
  }
  memcpy(buf, src->text + t.start, t.len);
  buf[t.len] = '\0';
  if (strtod_c(buf, NULL) != node->valuedouble) {
    src->off = 1;
    return NULL;
  }
  return buf;
}

/* Number node to an int or float value. */
static void number_value(const cJSON *node, numsrc *src, hdb_value *out)
{
  char buf[80];
  const char *tok = next_num(src, node, buf, sizeof buf);
  double d = node->valuedouble;
  memset(out, 0, sizeof *out);
  if (tok != NULL) {
    if (strpbrk(tok, ".eE") == NULL) {
      errno = 0;
      long long i = strtoll(tok, NULL, 10);
      if (errno == 0) {
        out->type = HDB_TYPE_INT;
        out->as.i = i;
        return;
      }
    }
  } else if (trunc(d) == d && fabs(d) < 9007199254740992.0) {
    out->type = HDB_TYPE_INT;
    out->as.i = (int64_t)d;
    return;
  }
  out->type = HDB_TYPE_FLOAT;
  out->as.f = d;
}

/* ------------------------------------------------------------------ */
/* cJSON tree -> compact text                                          */
/* ------------------------------------------------------------------ */

static hdb_status write_cjson(sbuf *b, const cJSON *node, numsrc *src, hdb_error *err)
{
  switch (node->type & 0xFF) {
  case cJSON_NULL:
    sb_put(b, "null", 4);
    return HDB_OK;
  case cJSON_True:
    sb_put(b, "true", 4);
    return HDB_OK;
  case cJSON_False:
    sb_put(b, "false", 5);
    return HDB_OK;
  case cJSON_Number: {
    char buf[80];
    const char *tok = next_num(src, node, buf, sizeof buf);
    if (tok != NULL) {
      sb_puts(b, tok);
    } else {
      hdb_value v;
      number_value(node, NULL, &v);
      sb_value(b, &v);
    }
    return HDB_OK;
  }
  case cJSON_String: {
    size_t len = strlen(node->valuestring);
    if (!hdb__utf8_valid(node->valuestring, len))
      return hdb__fail(err, HDB_BAD_JSON, "string is not valid UTF-8");
    sb_string(b, node->valuestring, len);
    return HDB_OK;
  }
  case cJSON_Raw:
    sb_puts(b, node->valuestring);
    return HDB_OK;
  case cJSON_Array:
  case cJSON_Object: {
    int obj = (node->type & 0xFF) == cJSON_Object;
    sb_putc(b, obj ? '{' : '[');
    for (const cJSON *c = node->child; c != NULL; c = c->next) {
      if (c != node->child)
        sb_putc(b, ',');
      if (obj) {
        size_t klen = strlen(c->string);
        if (!hdb__utf8_valid(c->string, klen))
          return hdb__fail(err, HDB_BAD_JSON, "object key is not valid UTF-8");
        sb_string(b, c->string, klen);
        sb_putc(b, ':');
      }
      hdb_status st = write_cjson(b, c, src, err);
      if (st != HDB_OK)
        return st;
    }
    sb_putc(b, obj ? '}' : ']');
    return HDB_OK;
  }
  default:
    return hdb__fail(err, HDB_BAD_JSON, "unexpected JSON node");
  }
}

static hdb_status cjson_text(const cJSON *node, numsrc *src, char **out, size_t *len,
                             hdb_error *err)
{
  sbuf b = {0};
  hdb_status st = write_cjson(&b, node, src, err);
  if (st != HDB_OK) {
    hdb__free_mem(b.p);
    return st;
  }
  st = sb_finish(&b, out, len);
  if (st != HDB_OK)
    return hdb__fail(err, st, "out of memory");
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Parsing entry point                                                 */
/* ------------------------------------------------------------------ */

static int json_space(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parses text[0..len) as one JSON value with nothing but whitespace after
 * it, and maps its numbers. On success the caller owns *root and src. */
static hdb_status parse_doc(const char *text, size_t len, cJSON **root, numsrc *src,
                            hdb_error *err)
{
  const char *end = NULL;
  size_t i = 0;
  hdb__json_init();
  *root = NULL;
  memset(src, 0, sizeof *src);
  while (i < len && json_space(text[i]))
    i++;
  if (i == len)
    return hdb__fail(err, HDB_BAD_JSON, "empty input where JSON was expected");
  json_alloc_failed = 0;
  cJSON *r = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (r == NULL) {
    if (json_alloc_failed)
      return hdb__fail(err, HDB_NOMEM, "out of memory parsing JSON");
    size_t off = end ? (size_t)(end - text) : 0;
    return fail_at(err, HDB_BAD_JSON, text, off, "malformed JSON");
  }
  size_t off = (size_t)(end - text);
  while (off < len && json_space(text[off]))
    off++;
  if (off < len) {
    cJSON_Delete(r);
    return fail_at(err, HDB_BAD_JSON, text, off, "unexpected text after the JSON value");
  }
  hdb_status st = scan_numbers(text, len, src, err);
  if (st != HDB_OK) {
    cJSON_Delete(r);
    return st;
  }
  *root = r;
  return HDB_OK;
}

hdb_status hdb__json_parse(const char *text, size_t len, cJSON **out, hdb_error *err)
{
  numsrc src;
  if (out == NULL || text == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hdb__json_parse: NULL argument");
  hdb_status st = parse_doc(text, len, out, &src, err);
  numsrc_free(&src);
  return st;
}

hdb_status hdb__json_normalize(const char *text, size_t len, char **out, size_t *out_len,
                               hdb_error *err)
{
  cJSON *root;
  numsrc src;
  *out = NULL;
  hdb_status st = parse_doc(text, len, &root, &src, err);
  if (st != HDB_OK)
    return st;
  st = cjson_text(root, &src, out, out_len, err);
  cJSON_Delete(root);
  numsrc_free(&src);
  return st;
}

/* ------------------------------------------------------------------ */
/* cJSON -> values and records                                         */
/* ------------------------------------------------------------------ */

/* {"$base64":"..."} and nothing else. */
static const cJSON *base64_payload(const cJSON *node)
{
  const cJSON *c = node->child;
  if (c == NULL || c->next != NULL || strcmp(c->string, "$base64") != 0 || !cJSON_IsString(c))
    return NULL;
  return c;
}

static hdb_status blob_from_node(const cJSON *b64, hdb_value *out, hdb_error *err)
{
  const char *s = b64->valuestring;
  size_t slen = strlen(s), blen = 0, cap = slen / 4 * 3 + 3;
  unsigned char *bin = hdb__malloc(cap);
  if (bin == NULL)
    return hdb__fail(err, HDB_NOMEM, "out of memory");
  if (sodium_base642bin(bin, cap, s, slen, NULL, &blen, NULL, sodium_base64_VARIANT_ORIGINAL) !=
      0) {
    hdb__free_mem(bin);
    return hdb__fail(err, HDB_BAD_JSON, "\"$base64\" is not valid base64");
  }
  out->type = HDB_TYPE_BLOB;
  out->as.blob.data = bin;
  out->as.blob.len = blen;
  return HDB_OK;
}

static hdb_status value_from_node(const cJSON *node, numsrc *src, hdb_value *out,
                                  hdb_error *err);

/* A raw node (from hdb__value_to_cjson) holds JSON text: read it as a
 * document so that ints, floats and json round-trip exactly. */
static hdb_status value_from_raw(const cJSON *node, hdb_value *out, hdb_error *err)
{
  cJSON *root;
  numsrc src;
  const char *text = node->valuestring ? node->valuestring : "";
  hdb_status st = parse_doc(text, strlen(text), &root, &src, err);
  if (st != HDB_OK)
    return st;
  st = value_from_node(root, &src, out, err);
  cJSON_Delete(root);
  numsrc_free(&src);
  return st;
}

static hdb_status value_from_node(const cJSON *node, numsrc *src, hdb_value *out,
                                  hdb_error *err)
{
  memset(out, 0, sizeof *out);
  out->type = HDB_TYPE_NULL;
  if (cJSON_IsObject(node)) {
    const cJSON *b64 = base64_payload(node);
    if (b64 != NULL)
      return blob_from_node(b64, out, err);
  }
  switch (node->type & 0xFF) {
  case cJSON_NULL:
    return HDB_OK;
  case cJSON_True:
  case cJSON_False:
    out->type = HDB_TYPE_BOOL;
    out->as.boolean = (node->type & 0xFF) == cJSON_True;
    return HDB_OK;
  case cJSON_Number:
    number_value(node, src, out);
    return HDB_OK;
  case cJSON_String: {
    size_t len = strlen(node->valuestring);
    if (!hdb__utf8_valid(node->valuestring, len))
      return hdb__fail(err, HDB_BAD_JSON, "string is not valid UTF-8");
    char *p = hdb__strndup(node->valuestring, len);
    if (p == NULL)
      return hdb__fail(err, HDB_NOMEM, "out of memory");
    out->type = HDB_TYPE_TEXT;
    out->as.text.data = p;
    out->as.text.len = len;
    return HDB_OK;
  }
  case cJSON_Raw:
    return value_from_raw(node, out, err);
  case cJSON_Object:
  case cJSON_Array: {
    char *text = NULL;
    size_t len = 0;
    hdb_status st = cjson_text(node, src, &text, &len, err);
    if (st != HDB_OK)
      return st;
    out->type = HDB_TYPE_JSON;
    out->as.text.data = text;
    out->as.text.len = len;
    return HDB_OK;
  }
  default:
    return hdb__fail(err, HDB_BAD_JSON, "unexpected JSON node");
  }
}

hdb_status hdb__value_from_cjson(const cJSON *node, hdb_value *out, hdb_error *err)
{
  if (node == NULL || out == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "no JSON value");
  return value_from_node(node, NULL, out, err);
}

/* The id member: a string, or an integer written as text. */
static hdb_status id_from_node(const cJSON *node, numsrc *src, hdb_record *rec, hdb_error *err)
{
  char buf[80];
  const char *id = NULL;
  if (cJSON_IsNull(node))
    return HDB_OK;
  if (cJSON_IsString(node)) {
    id = node->valuestring;
  } else if (cJSON_IsNumber(node)) {
    hdb_value v;
    number_value(node, src, &v);
    if (v.type != HDB_TYPE_INT)
      return hdb__fail(err, HDB_BAD_ID, "\"id\" must be a string or an integer");
    snprintf(buf, sizeof buf, "%lld", (long long)v.as.i);
    id = buf;
  } else {
    return hdb__fail(err, HDB_BAD_ID, "\"id\" must be a string or an integer");
  }
  hdb_status st = hdb__id_check(id, err);
  if (st != HDB_OK)
    return st;
  char *copy = hdb__strdup(id);
  if (copy == NULL)
    return hdb__fail(err, HDB_NOMEM, "out of memory");
  hdb__free_mem(rec->id);
  rec->id = copy;
  return HDB_OK;
}

static hdb_status record_from_node(const cJSON *obj, numsrc *src, int require_id,
                                   hdb_record **out, hdb_error *err)
{
  *out = NULL;
  if (!cJSON_IsObject(obj))
    return hdb__fail(err, HDB_BAD_JSON, "expected a JSON object");
  hdb_record *rec = hdb_record_new(NULL);
  if (rec == NULL)
    return hdb__fail(err, HDB_NOMEM, "out of memory");
  int have_id = 0;
  hdb_status st = HDB_OK;
  for (const cJSON *c = obj->child; c != NULL; c = c->next) {
    const char *key = c->string;
    if (strcmp(key, "id") == 0) {
      if (have_id) {
        st = hdb__fail(err, HDB_BAD_JSON, "duplicate key \"id\"");
        goto fail;
      }
      have_id = 1;
      st = id_from_node(c, src, rec, err);
      if (st != HDB_OK)
        goto fail;
      continue;
    }
    if (!hdb__name_valid(key, 0)) {
      st = hdb__fail(err, HDB_BAD_JSON,
                     "\"%.*s\" is not a valid field name (letters, digits and '_', not starting "
                     "with a digit or '_', at most %u bytes)",
                     64, key, HDB_MAX_NAME_LEN);
      goto fail;
    }
    if (hdb__record_find(rec, key) >= 0) {
      st = hdb__fail(err, HDB_BAD_JSON, "duplicate key \"%s\"", key);
      goto fail;
    }
    hdb_value v;
    st = value_from_node(c, src, &v, err);
    if (st != HDB_OK) {
      hdb__err_prefix(err, "field '%s'", key);
      goto fail;
    }
    st = hdb__record_put_owned(rec, key, &v);
    if (st != HDB_OK) {
      hdb__fail(err, st, "out of memory");
      goto fail;
    }
  }
  if (require_id && rec->id == NULL) {
    st = hdb__fail(err, HDB_BAD_ID, "record has no \"id\"");
    goto fail;
  }
  *out = rec;
  return HDB_OK;
fail:
  hdb_record_free(rec);
  return st;
}

hdb_status hdb__record_from_cjson(const cJSON *obj, int require_id, hdb_record **out,
                                  hdb_error *err)
{
  if (out == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "no output record");
  *out = NULL;
  if (obj == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "no JSON object");
  return record_from_node(obj, NULL, require_id, out, err);
}

hdb_status hdb_record_from_json(const char *json, size_t len, int require_id, hdb_record **out,
                                hdb_error *err)
{
  if (out != NULL)
    *out = NULL;
  if (json == NULL || out == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hdb_record_from_json: NULL argument");
  cJSON *root;
  numsrc src;
  hdb_status st = parse_doc(json, len, &root, &src, err);
  if (st != HDB_OK)
    return st;
  st = record_from_node(root, &src, require_id, out, err);
  cJSON_Delete(root);
  numsrc_free(&src);
  return st;
}

/* ------------------------------------------------------------------ */
/* Values and records -> cJSON / text                                  */
/* ------------------------------------------------------------------ */

static cJSON *raw_node(const hdb_value *v)
{
  char *text = NULL;
  if (hdb__value_to_json_text(v, &text, NULL) != HDB_OK)
    return NULL;
  cJSON *n = cJSON_CreateRaw(text); /* copies */
  hdb__free_mem(text);
  return n;
}

cJSON *hdb__value_to_cjson(const hdb_value *v)
{
  hdb__json_init();
  switch (v->type) {
  case HDB_TYPE_NULL:
    return cJSON_CreateNull();
  case HDB_TYPE_BOOL:
    return cJSON_CreateBool(v->as.boolean != 0);
  case HDB_TYPE_TEXT:
    if (memchr(v->as.text.data, '\0', v->as.text.len) != NULL)
      return raw_node(v); /* cJSON strings stop at a NUL; the raw form keeps it */
    return cJSON_CreateString(v->as.text.data);
  case HDB_TYPE_TIMESTAMP: {
    char ts[32];
    hdb__timestamp_format(v->as.timestamp_us, ts);
    return cJSON_CreateString(ts);
  }
  case HDB_TYPE_BLOB: {
    cJSON *o = cJSON_CreateObject();
    size_t enc = sodium_base64_ENCODED_LEN(v->as.blob.len, sodium_base64_VARIANT_ORIGINAL);
    char *s = hdb__malloc(enc);
    if (o == NULL || s == NULL) {
      cJSON_Delete(o);
      hdb__free_mem(s);
      return NULL;
    }
    sodium_bin2base64(s, enc, v->as.blob.data, v->as.blob.len, sodium_base64_VARIANT_ORIGINAL);
    cJSON *str = cJSON_CreateString(s);
    hdb__free_mem(s);
    if (str == NULL || !cJSON_AddItemToObject(o, "$base64", str)) {
      cJSON_Delete(str);
      cJSON_Delete(o);
      return NULL;
    }
    return o;
  }
  default:
    return raw_node(v);
  }
}

static int add_member(cJSON *obj, const char *key, cJSON *item)
{
  if (item == NULL)
    return 0;
  if (!cJSON_AddItemToObject(obj, key, item)) {
    cJSON_Delete(item);
    return 0;
  }
  return 1;
}

cJSON *hdb__record_to_cjson(const hdb_record *r, double distance)
{
  hdb__json_init();
  cJSON *o = cJSON_CreateObject();
  if (o == NULL)
    return NULL;
  if (r->id != NULL && !add_member(o, "id", cJSON_CreateString(r->id)))
    goto fail;
  for (size_t i = 0; i < r->n; i++) {
    if (!add_member(o, r->fields[i].name, hdb__value_to_cjson(&r->fields[i].value)))
      goto fail;
  }
  if (!isnan(distance)) {
    hdb_value d = {.type = HDB_TYPE_FLOAT, .as.f = distance};
    if (!add_member(o, "_distance", raw_node(&d)))
      goto fail;
  }
  return o;
fail:
  cJSON_Delete(o);
  return NULL;
}

hdb_status hdb__record_to_json_text(const hdb_record *r, double distance, char **out)
{
  sbuf b = {0};
  int first = 1;
  sb_putc(&b, '{');
  if (r->id != NULL) {
    sb_put(&b, "\"id\":", 5);
    sb_string(&b, r->id, strlen(r->id));
    first = 0;
  }
  for (size_t i = 0; i < r->n; i++) {
    if (!first)
      sb_putc(&b, ',');
    first = 0;
    sb_string(&b, r->fields[i].name, strlen(r->fields[i].name));
    sb_putc(&b, ':');
    sb_value(&b, &r->fields[i].value);
  }
  if (!isnan(distance)) {
    char num[40];
    if (!first)
      sb_putc(&b, ',');
    sb_put(&b, "\"_distance\":", 12);
    sb_put(&b, num, fmt_double(num, sizeof num, distance));
  }
  sb_putc(&b, '}');
  return sb_finish(&b, out, NULL);
}

hdb_status hdb_record_to_json(const hdb_record *r, char **json)
{
  if (json != NULL)
    *json = NULL;
  if (r == NULL || json == NULL)
    return HDB_INVALID_ARGUMENT;
  return hdb__record_to_json_text(r, NAN, json);
}

/* ------------------------------------------------------------------ */
/* Vectors from JSON text                                              */
/* ------------------------------------------------------------------ */

hdb_status hdb__json_to_vector(const char *text, size_t len, float **out, uint32_t *dim,
                               hdb_error *err)
{
  size_t i = 0, n = 0, cap = 0;
  float *v = NULL;
  char buf[80];
  *out = NULL;
  *dim = 0;
  while (i < len && json_space(text[i]))
    i++;
  if (i >= len || text[i] != '[')
    goto mismatch;
  i++;
  while (i < len && json_space(text[i]))
    i++;
  if (i < len && text[i] == ']') {
    i++;
  } else {
    for (;;) {
      while (i < len && json_space(text[i]))
        i++;
      size_t s = i;
      while (i < len && numchar(text[i]))
        i++;
      if (i == s || i - s >= sizeof buf || !number_valid(text + s, i - s))
        goto mismatch;
      if (n == HDB_MAX_VECTOR_DIM) {
        hdb__free_mem(v);
        return hdb__fail(err, HDB_DIMENSION, "vector has more than %u components",
                         HDB_MAX_VECTOR_DIM);
      }
      if (n == cap) {
        size_t ncap = cap ? cap * 2 : 64;
        float *nv = hdb__realloc(v, ncap * sizeof *nv);
        if (nv == NULL) {
          hdb__free_mem(v);
          return hdb__fail(err, HDB_NOMEM, "out of memory");
        }
        v = nv;
        cap = ncap;
      }
      memcpy(buf, text + s, i - s);
      buf[i - s] = '\0';
      /* strtof rounds the decimal once; strtod then a cast could round twice. */
      v[n++] = strtof_c(buf, NULL);
      while (i < len && json_space(text[i]))
        i++;
      if (i < len && text[i] == ',') {
        i++;
        continue;
      }
      if (i < len && text[i] == ']') {
        i++;
        break;
      }
      goto mismatch;
    }
  }
  while (i < len && json_space(text[i]))
    i++;
  if (i != len)
    goto mismatch;
  if (v == NULL) {
    v = hdb__malloc(sizeof(float));
    if (v == NULL)
      return hdb__fail(err, HDB_NOMEM, "out of memory");
  }
  *out = v;
  *dim = (uint32_t)n;
  return HDB_OK;
mismatch:
  hdb__free_mem(v);
  return hdb__fail(err, HDB_TYPE_MISMATCH, "expected a vector (a JSON array of numbers)");
}

/* ------------------------------------------------------------------ */
/* Paths into JSON                                                     */
/* ------------------------------------------------------------------ */

/* Counts number nodes met before `target` in preorder; 1 when found. */
static int numbers_before(const cJSON *node, const cJSON *target, size_t *count)
{
  if (node == target)
    return 1;
  if (cJSON_IsNumber(node))
    (*count)++;
  for (const cJSON *c = node->child; c != NULL; c = c->next) {
    if (numbers_before(c, target, count))
      return 1;
  }
  return 0;
}

static int all_digits(const char *s)
{
  if (*s == '\0')
    return 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return 0;
  }
  return 1;
}

int hdb__json_path_value(const char *json, size_t len, const char *const *segs, size_t n,
                         hdb_value *out, hdb_status *st)
{
  cJSON *root;
  numsrc src;
  hdb_error e;
  memset(out, 0, sizeof *out);
  out->type = HDB_TYPE_NULL;
  hdb_status s = parse_doc(json, len, &root, &src, &e);
  if (s != HDB_OK) {
    if (st)
      *st = s;
    return -1;
  }
  const cJSON *node = root;
  for (size_t i = 0; i < n && node != NULL; i++) {
    if (cJSON_IsObject(node)) {
      node = cJSON_GetObjectItemCaseSensitive(node, segs[i]);
    } else if (cJSON_IsArray(node) && all_digits(segs[i])) {
      errno = 0;
      unsigned long idx = strtoul(segs[i], NULL, 10);
      node = (errno == 0 && idx < (unsigned long)cJSON_GetArraySize(node))
                 ? cJSON_GetArrayItem(node, (int)idx)
                 : NULL;
    } else {
      node = NULL;
    }
  }
  int found = 0;
  if (node != NULL) {
    size_t before = 0;
    numbers_before(root, node, &before);
    src.next = before;
    s = value_from_node(node, &src, out, &e);
    found = s == HDB_OK ? 1 : -1;
    if (s != HDB_OK && st)
      *st = s;
  }
  cJSON_Delete(root);
  numsrc_free(&src);
  return found;
}
