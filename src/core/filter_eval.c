/*
 * filter_eval.c - evaluating a filter tree against one record, SQL-style
 * (three-valued: TRUE, FALSE, UNKNOWN), plus path resolution and LIKE.
 *
 * This runs once per row, so the common case allocates nothing: top-level
 * fields are borrowed from the record, and a dotted path is resolved by
 * walking the json field's compact text in place (find_member/skip_value
 * below) instead of building a cJSON tree. A json string is borrowed from
 * the document unless it has escapes, in which case it is decoded into a
 * scratch buffer; that is the only allocation, and running out of memory
 * there is reported (hdb__filter_eval), never mistaken for a non-match.
 *
 * The walker trusts nothing: the json text was validated when the record
 * was written, but a malformed document only makes the path absent; every
 * read is bounded by the value's length.
 *
 * Comparison rules (what SQL translations must reproduce):
 *  - null or missing operands make =, !=, <, IN, BETWEEN, LIKE unknown;
 *  - numbers compare by value across int and float (exactly, no rounding
 *    of int64 to double); NaN compares with nothing (unknown);
 *  - text compares by bytes, i.e. by code point; bool with bool
 *    (false < true);
 *  - a timestamp compares with RFC 3339 text and with int microseconds;
 *  - any other pairing is unknown, including a whole json value (an object
 *    or array) with any literal (the schema binder rejects these earlier
 *    on strict tables).
 */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/record.h"
#include "core/value.h"

/* Three-valued results, plus OOM, which aborts the evaluation. */
enum { R_FALSE = 0, R_TRUE = 1, R_UNKNOWN = 2, R_NOMEM = 3 };

/* ------------------------------------------------------------------ */
/* Walking json text                                                   */
/* ------------------------------------------------------------------ */

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t skip_ws(const char *s, size_t n, size_t i) {
  while (i < n && is_ws(s[i])) i++;
  return i;
}

/* s[i] is '"'. Returns the index just past the closing quote, or 0 when
 * the string is unterminated; *esc is set when it contains a backslash. */
static size_t scan_string(const char *s, size_t n, size_t i, int *esc) {
  /* A plain byte loop: json strings in records are short, where this
   * beats memchr's per-call setup. */
  for (i++; i < n; i++) {
    char c = s[i];
    if (c == '"') return i + 1;
    if (c == '\\') {
      *esc = 1;
      i++;
    }
  }
  return 0;
}

static int scalar_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '+' || c == '.';
}

/* Skips the value starting at s[i]; returns the index past it, or 0 when
 * malformed. Containers are skipped with a depth counter, not recursion. */
static size_t skip_value(const char *s, size_t n, size_t i) {
  size_t depth = 0;
  while (i < n) {
    char c = s[i];
    if (c == '"') {
      int esc = 0;
      if (!(i = scan_string(s, n, i, &esc))) return 0;
    } else if (c == '{' || c == '[') {
      depth++;
      i++;
    } else if (c == '}' || c == ']') {
      if (!depth) return 0;
      depth--;
      i++;
    } else if (depth && (c == ',' || c == ':' || is_ws(c))) {
      i++;
      continue;
    } else if (scalar_char(c)) {
      while (i < n && scalar_char(s[i])) i++;
    } else {
      return 0;
    }
    if (!depth) return i;
  }
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static long hex4(const char *b, size_t n, size_t at) {
  if (at + 4 > n) return -1;
  long v = 0;
  for (size_t k = 0; k < 4; k++) {
    int h = hexval(b[at + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/* Decodes one character of a json string body b[0..n) at *i into out
 * (UTF-8); returns its byte count, or 0 for a malformed escape. */
static size_t json_char(const char *b, size_t n, size_t *i, char out[4]) {
  if (b[*i] != '\\') {
    out[0] = b[(*i)++];
    return 1;
  }
  if (*i + 1 >= n) return 0;
  char c = b[*i + 1];
  *i += 2;
  switch (c) {
  case '"': case '\\': case '/': out[0] = c; return 1;
  case 'b': out[0] = '\b'; return 1;
  case 'f': out[0] = '\f'; return 1;
  case 'n': out[0] = '\n'; return 1;
  case 'r': out[0] = '\r'; return 1;
  case 't': out[0] = '\t'; return 1;
  case 'u': break;
  default: return 0;
  }
  long cp = hex4(b, n, *i);
  if (cp < 0) return 0;
  *i += 4;
  if (cp >= 0xDC00 && cp <= 0xDFFF) return 0; /* lone low surrogate */
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (*i + 6 > n || b[*i] != '\\' || b[*i + 1] != 'u') return 0;
    long lo = hex4(b, n, *i + 2);
    if (lo < 0xDC00 || lo > 0xDFFF) return 0;
    *i += 6;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  }
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Does the raw key body b[0..n) decode to seg[0..sl)? */
static int key_equals(const char *b, size_t n, int esc, const char *seg, size_t sl) {
  if (!esc) return n == sl && memcmp(b, seg, n) == 0;
  size_t i = 0, k = 0;
  char tmp[4];
  while (i < n) {
    size_t m = json_char(b, n, &i, tmp);
    if (!m || k + m > sl || memcmp(seg + k, tmp, m) != 0) return 0;
    k += m;
  }
  return k == sl;
}

/* s[i] is '{'. Returns the index of the first member named seg's value,
 * or 0 when there is none (or the text is malformed). */
static size_t find_member(const char *s, size_t n, size_t i, const char *seg, size_t sl) {
  i = skip_ws(s, n, i + 1);
  if (i < n && s[i] == '}') return 0;
  for (;;) {
    if (i >= n || s[i] != '"') return 0;
    int esc = 0;
    size_t kend = scan_string(s, n, i, &esc);
    if (!kend) return 0;
    int match = key_equals(s + i + 1, kend - i - 2, esc, seg, sl);
    i = skip_ws(s, n, kend);
    if (i >= n || s[i] != ':') return 0;
    i = skip_ws(s, n, i + 1);
    if (i >= n) return 0;
    if (match) return i; /* never 0: the '{' came before */
    if (!(i = skip_value(s, n, i))) return 0;
    i = skip_ws(s, n, i);
    if (i >= n || s[i] != ',') return 0;
    i = skip_ws(s, n, i + 1);
  }
}

/* Number text s[0..n) (JSON syntax) -> int when integral and within
 * int64, else float. 0 when malformed, -1 when out of memory. */
static int json_number(const char *s, size_t n, hdb_value *out) {
  size_t i = 0;
  int neg = 0, plain = 1;
  if (i < n && s[i] == '-') neg = 1, i++;
  size_t d0 = i;
  while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  if (i == d0) return 0;
  if (i < n && s[i] == '.') {
    plain = 0;
    size_t f0 = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == f0) return 0;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    plain = 0;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    size_t e0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == e0) return 0;
  }
  if (i != n) return 0;
  if (plain) {
    /* Accumulate negatively so INT64_MIN fits. */
    int64_t v = 0;
    int overflow = 0;
    for (size_t k = d0; k < n && !overflow; k++) {
      int dg = s[k] - '0';
      if (v < (INT64_MIN + dg) / 10) overflow = 1;
      else v = v * 10 - dg;
    }
    if (!overflow && (neg || v != INT64_MIN)) {
      out->type = HDB_TYPE_INT;
      out->as.i = neg ? v : -v;
      return 1;
    }
  }
  double d;
  if (hdb__filter_strtod(s, n, &d) != 0) return -1;
  if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
    out->type = HDB_TYPE_INT;
    out->as.i = (int64_t)d;
  } else {
    out->type = HDB_TYPE_FLOAT;
    out->as.f = d;
  }
  return 1;
}

/* Maps the json value at s[i] to *out. Strings without escapes and
 * objects/arrays are borrowed from s (not NUL-terminated; *inner set);
 * strings with escapes are decoded into scratch. 1, 0 (malformed), -1. */
static int json_leaf(const char *s, size_t n, size_t i, hdb_value *out, hdb_value *scratch,
                     int *inner) {
  char c = s[i];
  if (c == '"') {
    int esc = 0;
    size_t end = scan_string(s, n, i, &esc);
    if (!end) return 0;
    const char *b = s + i + 1;
    size_t bl = end - i - 2;
    out->type = HDB_TYPE_TEXT;
    if (!esc) {
      out->as.text.data = b;
      out->as.text.len = bl;
      *inner = 1;
      return 1;
    }
    char *d = hdb__malloc(bl + 1); /* decoding never lengthens */
    if (!d) return -1;
    size_t k = 0, j = 0;
    while (j < bl) {
      size_t m = json_char(b, bl, &j, d + k);
      if (!m) {
        hdb__free_mem(d);
        return 0;
      }
      k += m;
    }
    d[k] = '\0';
    scratch->type = HDB_TYPE_TEXT;
    scratch->as.text.data = d;
    scratch->as.text.len = k;
    *out = *scratch;
    return 1;
  }
  if (c == '{' || c == '[') {
    size_t end = skip_value(s, n, i);
    if (!end) return 0;
    out->type = HDB_TYPE_JSON;
    out->as.text.data = s + i;
    out->as.text.len = end - i;
    *inner = 1;
    return 1;
  }
  size_t end = i;
  while (end < n && scalar_char(s[end])) end++;
  size_t len = end - i;
  if (len == 4 && memcmp(s + i, "true", 4) == 0) {
    out->type = HDB_TYPE_BOOL;
    out->as.boolean = 1;
    return 1;
  }
  if (len == 5 && memcmp(s + i, "false", 5) == 0) {
    out->type = HDB_TYPE_BOOL;
    out->as.boolean = 0;
    return 1;
  }
  if (len == 4 && memcmp(s + i, "null", 4) == 0) {
    out->type = HDB_TYPE_NULL;
    return 1;
  }
  return json_number(s + i, len, out);
}

/* The path's value: 1 present (out set, possibly borrowing from the json
 * text when *inner), 0 absent, -1 out of memory. scratch must be null. */
static int resolve(const hdb__path *p, const hdb_record *r, hdb_value *out, hdb_value *scratch,
                   int *inner) {
  *inner = 0;
  if (p->n_segs == 1 && strcmp(p->segs[0], "id") == 0) {
    /* "id" names the record id: no field may be called that. */
    if (!r->id) return 0;
    out->type = HDB_TYPE_TEXT;
    out->as.text.data = r->id;
    out->as.text.len = strlen(r->id);
    return 1;
  }
  const hdb_value *top = hdb__record_value(r, p->segs[0]);
  if (!top) return 0;
  if (p->n_segs == 1) {
    *out = *top;
    return 1;
  }
  if (top->type != HDB_TYPE_JSON) return 0;
  const char *s = top->as.text.data;
  size_t n = top->as.text.len, i = skip_ws(s, n, 0);
  for (size_t k = 1; k < p->n_segs; k++) {
    if (i >= n || s[i] != '{') return 0;
    if (!(i = find_member(s, n, i, p->segs[k], strlen(p->segs[k])))) return 0;
  }
  return json_leaf(s, n, i, out, scratch, inner);
}

static void scratch_free(hdb_value *scratch) {
  if (scratch->type == HDB_TYPE_TEXT || scratch->type == HDB_TYPE_JSON)
    hdb__free_mem((void *)scratch->as.text.data);
  scratch->type = HDB_TYPE_NULL;
}

int hdb__path_resolve(const hdb__path *p, const hdb_record *r, hdb_value *out, hdb_value *scratch) {
  memset(scratch, 0, sizeof *scratch);
  scratch->type = HDB_TYPE_NULL;
  int inner = 0;
  int rc = resolve(p, r, out, scratch, &inner);
  if (rc == 1 && inner) {
    /* Callers get NUL-terminated text, so borrowed pieces are copied. */
    char *d = hdb__malloc(out->as.text.len + 1);
    if (!d) rc = -1;
    else {
      memcpy(d, out->as.text.data, out->as.text.len);
      d[out->as.text.len] = '\0';
      scratch->type = out->type;
      scratch->as.text.data = d;
      scratch->as.text.len = out->as.text.len;
      *out = *scratch;
    }
  }
  if (rc != 1) {
    memset(out, 0, sizeof *out);
    out->type = HDB_TYPE_NULL;
  }
  return rc;
}

/* ------------------------------------------------------------------ */
/* Comparison                                                          */
/* ------------------------------------------------------------------ */

/* Exact int64 vs double (d not NaN): <0, 0, >0. */
static int cmp_int_double(int64_t i, double d) {
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  double t = trunc(d); /* in range now, so the cast is exact */
  int64_t ti = (int64_t)t;
  if (i != ti) return i < ti ? -1 : 1;
  return d > t ? -1 : d < t ? 1 : 0;
}

static int sign_of(int64_t a, int64_t b) { return a < b ? -1 : a > b; }

/* Compares a field value with a literal; 1 and *c when comparable. */
static int compare(const hdb_value *a, const hdb_value *lit, const hdb__lit_ts *ts, int *c) {
  switch (a->type) {
  case HDB_TYPE_NULL: return 0;
  case HDB_TYPE_INT:
    if (lit->type == HDB_TYPE_INT) *c = sign_of(a->as.i, lit->as.i);
    else if (lit->type == HDB_TYPE_FLOAT) *c = cmp_int_double(a->as.i, lit->as.f);
    else return 0;
    return 1;
  case HDB_TYPE_FLOAT:
    if (isnan(a->as.f)) return 0;
    if (lit->type == HDB_TYPE_INT) *c = -cmp_int_double(lit->as.i, a->as.f);
    else if (lit->type == HDB_TYPE_FLOAT) *c = a->as.f < lit->as.f ? -1 : a->as.f > lit->as.f;
    else return 0;
    return 1;
  case HDB_TYPE_TEXT: {
    if (lit->type != HDB_TYPE_TEXT) return 0;
    size_t n = a->as.text.len < lit->as.text.len ? a->as.text.len : lit->as.text.len;
    int m = n ? memcmp(a->as.text.data, lit->as.text.data, n) : 0;
    *c = m ? (m < 0 ? -1 : 1) : sign_of((int64_t)a->as.text.len, (int64_t)lit->as.text.len);
    return 1;
  }
  case HDB_TYPE_BOOL:
    if (lit->type != HDB_TYPE_BOOL) return 0;
    *c = (a->as.boolean != 0) - (lit->as.boolean != 0);
    return 1;
  case HDB_TYPE_TIMESTAMP:
    if (lit->type == HDB_TYPE_INT) {
      *c = sign_of(a->as.timestamp_us, lit->as.i);
      return 1;
    }
    if (lit->type == HDB_TYPE_TEXT && ts && ts->ok) {
      *c = sign_of(a->as.timestamp_us, ts->us);
      return 1;
    }
    if (lit->type == HDB_TYPE_TEXT && !ts) /* no literal parsed as a timestamp, or a tree built by hand */
      return hdb__value_compare(a, lit, c);
    return 0;
  default: return 0; /* blob, json, vector: literals are never comparable with them */
  }
}

static int cmp_result(hdb__cmp_op op, int c) {
  switch (op) {
  case HDB__CMP_EQ: return c == 0;
  case HDB__CMP_NE: return c != 0;
  case HDB__CMP_LT: return c < 0;
  case HDB__CMP_LE: return c <= 0;
  case HDB__CMP_GT: return c > 0;
  case HDB__CMP_GE: return c >= 0;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* LIKE                                                                */
/* ------------------------------------------------------------------ */

/* Bytes in the UTF-8 character at s (1 for a stray byte), within avail. */
static size_t u8len(const char *s, size_t avail) {
  unsigned char c = (unsigned char)s[0];
  size_t n = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (n > avail) n = avail;
  for (size_t i = 1; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) return i;
  return n;
}

/* Greedy matching with one backtrack point (the last %): O(len(s) *
 * len(pat)) in the worst case, no recursion, no allocation. */
/* Does pat[a..b) hold no wildcard or escape? */
static int like_plain(const char *pat, size_t a, size_t b) {
  for (size_t i = a; i < b; i++)
    if (pat[i] == '%' || pat[i] == '_' || pat[i] == '\\') return 0;
  return 1;
}

int hdb__like_match(const char *s, size_t slen, const char *pat, size_t plen) {
  /* Fast paths for the common shapes 'abc%', '%abc' and '%abc%'. */
  if (plen >= 2 && pat[plen - 1] == '%' && pat[plen - 2] != '\\' && like_plain(pat, 0, plen - 1))
    return slen >= plen - 1 && memcmp(s, pat, plen - 1) == 0;
  if (plen >= 1 && pat[0] == '%' && like_plain(pat, 1, plen))
    return slen >= plen - 1 && memcmp(s + slen - (plen - 1), pat + 1, plen - 1) == 0;
  if (plen >= 2 && pat[0] == '%' && pat[plen - 1] == '%' && pat[plen - 2] != '\\' &&
      like_plain(pat, 1, plen - 1))
    return plen == 2 || memmem(s, slen, pat + 1, plen - 2) != NULL;

  size_t si = 0, pi = 0, star_p = 0, star_s = 0;
  int have_star = 0;
  while (si < slen) {
    if (pi < plen) {
      char c = pat[pi];
      if (c == '%') {
        while (pi < plen && pat[pi] == '%') pi++;
        if (pi == plen) return 1; /* a trailing % takes the rest */
        have_star = 1;
        star_p = pi;
        star_s = si;
        continue;
      }
      if (c == '_') {
        si += u8len(s + si, slen - si);
        pi++;
        continue;
      }
      const char *lit = pat + pi;
      size_t llen = 1, adv = 1;
      if (c == '\\' && pi + 1 < plen) {
        lit = pat + pi + 1;
        llen = u8len(lit, plen - pi - 1);
        adv = 1 + llen;
      }
      if (si + llen <= slen && memcmp(s + si, lit, llen) == 0) {
        si += llen;
        pi += adv;
        continue;
      }
    }
    if (!have_star) return 0;
    /* Let the last % take one more character and retry from there. */
    star_s += u8len(s + star_s, slen - star_s);
    si = star_s;
    pi = star_p;
  }
  while (pi < plen && pat[pi] == '%') pi++;
  return pi == plen;
}

/* ------------------------------------------------------------------ */
/* Evaluation                                                          */
/* ------------------------------------------------------------------ */

static int eval_leaf(const hdb__expr *e, const hdb_value *v, int present) {
  const hdb__lit_ts *ts = e->ts;
  int is_null = !present || v->type == HDB_TYPE_NULL;
  int c;
  switch (e->kind) {
  case HDB__EXPR_IS_NULL: return is_null != e->negated ? R_TRUE : R_FALSE;
  case HDB__EXPR_EXISTS:
    /* A json key is there even when its value is null; a top-level
     * field exists only when it is not null. */
    if (!present) return R_FALSE;
    return (e->path.n_segs > 1 || v->type != HDB_TYPE_NULL) ? R_TRUE : R_FALSE;
  default: break;
  }
  if (is_null) return R_UNKNOWN;
  int r;
  switch (e->kind) {
  case HDB__EXPR_CMP:
    if (!compare(v, &e->values[0], ts, &c)) return R_UNKNOWN;
    return cmp_result(e->op, c) ? R_TRUE : R_FALSE;
  case HDB__EXPR_IN: {
    /* SQL: TRUE on a match; otherwise UNKNOWN if any element was null
     * or incomparable, else FALSE. NOT IN negates that. */
    int unknown = 0;
    r = R_FALSE;
    for (size_t i = 0; i < e->n_values; i++) {
      if (e->values[i].type == HDB_TYPE_NULL || !compare(v, &e->values[i], ts ? &ts[i] : NULL, &c)) {
        unknown = 1;
      } else if (c == 0) {
        r = R_TRUE;
        break;
      }
    }
    if (r == R_FALSE && unknown) r = R_UNKNOWN;
    break;
  }
  case HDB__EXPR_BETWEEN: {
    int c1, c2;
    int k1 = compare(v, &e->values[0], ts, &c1);
    int k2 = compare(v, &e->values[1], ts ? &ts[1] : NULL, &c2);
    /* (v >= lo) AND (v <= hi), three-valued. */
    if ((k1 && c1 < 0) || (k2 && c2 > 0)) r = R_FALSE;
    else if (k1 && k2) r = R_TRUE;
    else r = R_UNKNOWN;
    break;
  }
  case HDB__EXPR_LIKE:
    if (v->type != HDB_TYPE_TEXT || e->values[0].type != HDB_TYPE_TEXT) return R_UNKNOWN;
    r = hdb__like_match(v->as.text.data, v->as.text.len, e->values[0].as.text.data,
                        e->values[0].as.text.len)
            ? R_TRUE
            : R_FALSE;
    break;
  default: return R_UNKNOWN;
  }
  if (e->negated && r != R_UNKNOWN) r = r == R_TRUE ? R_FALSE : R_TRUE;
  return r;
}

/* Recursion depth is bounded by the parsers' nesting limit. */
static int eval(const hdb__expr *e, const hdb_record *r) {
  switch (e->kind) {
  case HDB__EXPR_TRUE: return R_TRUE;
  case HDB__EXPR_AND:
  case HDB__EXPR_OR: {
    /* AND: FALSE dominates, then UNKNOWN; OR: TRUE dominates. */
    int stop = e->kind == HDB__EXPR_AND ? R_FALSE : R_TRUE;
    int res = e->kind == HDB__EXPR_AND ? R_TRUE : R_FALSE;
    for (size_t i = 0; i < e->n_kids; i++) {
      int k = eval(e->kids[i], r);
      if (k == stop || k == R_NOMEM) return k;
      if (k == R_UNKNOWN) res = R_UNKNOWN;
    }
    return res;
  }
  case HDB__EXPR_NOT: {
    int k = eval(e->kids[0], r);
    return k == R_TRUE ? R_FALSE : k == R_FALSE ? R_TRUE : k;
  }
  default: break;
  }
  hdb_value v, scratch = {.type = HDB_TYPE_NULL};
  int inner;
  int present = resolve(&e->path, r, &v, &scratch, &inner);
  if (present < 0) return R_NOMEM;
  int res = eval_leaf(e, &v, present);
  scratch_free(&scratch);
  return res;
}

hdb_status hdb__filter_eval(const hdb__expr *e, const hdb_record *r, int *matched, hdb_error *err) {
  *matched = 0;
  if (!e) {
    *matched = 1;
    return HDB_OK;
  }
  int res = eval(e, r);
  if (res == R_NOMEM) return hdb__fail(err, HDB_NOMEM, "out of memory evaluating a filter");
  *matched = res == R_TRUE;
  return HDB_OK;
}

int hdb__filter_match(const hdb__expr *e, const hdb_record *r) {
  return e ? eval(e, r) == R_TRUE : 1;
}
