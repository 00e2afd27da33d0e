/*
 * value.c - owned values: copy/release, ordering, filter comparison,
 * conversion to a column's type, and RFC 3339 timestamps.
 *
 * Ownership invariant: a value held by a record owns its payload. Text and
 * json payloads are allocated len+1 and NUL-terminated; blobs and vectors
 * are allocated even when empty (alloc.h allocates at least one byte), so
 * an owned payload pointer is never NULL.
 *
 * Timestamps are converted with Howard Hinnant's days-from-civil algorithm
 * (proleptic Gregorian calendar) so no timegm/locale/TZ state is involved
 * and the conversion is exact for every int64 microsecond value.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "json.h"
#include "value.h"

/* ------------------------------------------------------------------ */
/* Copy and release                                                    */
/* ------------------------------------------------------------------ */

hdb_status hdb__value_copy(hdb_value *dst, const hdb_value *src)
{
  hdb_value v = *src;
  switch (src->type) {
  case HDB_TYPE_TEXT:
  case HDB_TYPE_JSON: {
    char *p = hdb__malloc(src->as.text.len + 1);
    if (p == NULL)
      return HDB_NOMEM;
    if (src->as.text.len)
      memcpy(p, src->as.text.data, src->as.text.len);
    p[src->as.text.len] = '\0';
    v.as.text.data = p;
    break;
  }
  case HDB_TYPE_BLOB: {
    void *p = hdb__memdup(src->as.blob.data, src->as.blob.len);
    if (p == NULL)
      return HDB_NOMEM;
    v.as.blob.data = p;
    break;
  }
  case HDB_TYPE_VECTOR: {
    void *p = hdb__memdup(src->as.vector.data, (size_t)src->as.vector.dim * sizeof(float));
    if (p == NULL)
      return HDB_NOMEM;
    v.as.vector.data = p;
    break;
  }
  default:
    break;
  }
  *dst = v;
  return HDB_OK;
}

void hdb__value_release(hdb_value *v)
{
  if (v == NULL)
    return;
  switch (v->type) {
  case HDB_TYPE_TEXT:
  case HDB_TYPE_JSON:
    hdb__free_mem((void *)v->as.text.data);
    break;
  case HDB_TYPE_BLOB:
    hdb__free_mem((void *)v->as.blob.data);
    break;
  case HDB_TYPE_VECTOR:
    hdb__free_mem((void *)v->as.vector.data);
    break;
  default:
    break;
  }
  memset(v, 0, sizeof *v);
  v->type = HDB_TYPE_NULL;
}

/* ------------------------------------------------------------------ */
/* Ordering and comparison                                             */
/* ------------------------------------------------------------------ */

static int type_rank(hdb_type t)
{
  switch (t) {
  case HDB_TYPE_NULL: return 0;
  case HDB_TYPE_BOOL: return 1;
  case HDB_TYPE_INT:
  case HDB_TYPE_FLOAT: return 2;
  case HDB_TYPE_TEXT: return 3;
  case HDB_TYPE_BLOB: return 4;
  case HDB_TYPE_TIMESTAMP: return 5;
  case HDB_TYPE_JSON: return 6;
  case HDB_TYPE_VECTOR: return 7;
  }
  return 8;
}

static int cmp_i64(int64_t a, int64_t b)
{
  return (a > b) - (a < b);
}

/* Total order on doubles: NaN equals NaN and sorts after every number. */
static int cmp_f64(double a, double b)
{
  int an = isnan(a), bn = isnan(b);
  if (an || bn)
    return an - bn;
  return (a > b) - (a < b);
}

/* Exact comparison of an int64 with a double (no rounding of the int). */
static int cmp_i64_f64(int64_t i, double d)
{
  if (isnan(d))
    return -1;
  if (d >= 9223372036854775808.0) /* 2^63: above every int64 */
    return -1;
  if (d < -9223372036854775808.0)
    return 1;
  double t = trunc(d); /* in int64 range now */
  int64_t ti = (int64_t)t;
  if (i != ti)
    return i < ti ? -1 : 1;
  double frac = d - t;
  return frac > 0 ? -1 : (frac < 0 ? 1 : 0);
}

static int cmp_numbers(const hdb_value *a, const hdb_value *b)
{
  if (a->type == HDB_TYPE_INT && b->type == HDB_TYPE_INT)
    return cmp_i64(a->as.i, b->as.i);
  if (a->type == HDB_TYPE_FLOAT && b->type == HDB_TYPE_FLOAT)
    return cmp_f64(a->as.f, b->as.f);
  if (a->type == HDB_TYPE_INT)
    return cmp_i64_f64(a->as.i, b->as.f);
  return -cmp_i64_f64(b->as.i, a->as.f);
}

static int cmp_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c != 0)
    return c < 0 ? -1 : 1;
  return (alen > blen) - (alen < blen);
}

int hdb__value_order(const hdb_value *a, const hdb_value *b)
{
  int ra = type_rank(a->type), rb = type_rank(b->type);
  if (ra != rb)
    return ra < rb ? -1 : 1;
  switch (a->type) {
  case HDB_TYPE_NULL:
    return 0;
  case HDB_TYPE_BOOL:
    return (a->as.boolean != 0) - (b->as.boolean != 0);
  case HDB_TYPE_INT:
  case HDB_TYPE_FLOAT:
    return cmp_numbers(a, b);
  case HDB_TYPE_TEXT:
  case HDB_TYPE_JSON:
    return cmp_bytes(a->as.text.data, a->as.text.len, b->as.text.data, b->as.text.len);
  case HDB_TYPE_BLOB:
    return cmp_bytes(a->as.blob.data, a->as.blob.len, b->as.blob.data, b->as.blob.len);
  case HDB_TYPE_TIMESTAMP:
    return cmp_i64(a->as.timestamp_us, b->as.timestamp_us);
  case HDB_TYPE_VECTOR: {
    uint32_t n = a->as.vector.dim < b->as.vector.dim ? a->as.vector.dim : b->as.vector.dim;
    for (uint32_t i = 0; i < n; i++) {
      int c = cmp_f64(a->as.vector.data[i], b->as.vector.data[i]);
      if (c)
        return c;
    }
    return (a->as.vector.dim > b->as.vector.dim) - (a->as.vector.dim < b->as.vector.dim);
  }
  }
  return 0;
}

static int is_number(hdb_type t)
{
  return t == HDB_TYPE_INT || t == HDB_TYPE_FLOAT;
}

/* Timestamp vs text: comparable only when the text is RFC 3339. */
static int cmp_ts_text(int64_t ts, const hdb_value *text, int *cmp)
{
  int64_t us;
  if (hdb__timestamp_parse(text->as.text.data, text->as.text.len, &us) != 0)
    return 0;
  *cmp = cmp_i64(ts, us);
  return 1;
}

int hdb__value_compare(const hdb_value *a, const hdb_value *b, int *cmp)
{
  if (a->type == HDB_TYPE_NULL || b->type == HDB_TYPE_NULL)
    return 0;
  if (is_number(a->type) && is_number(b->type)) {
    *cmp = cmp_numbers(a, b);
    return 1;
  }
  if (a->type == HDB_TYPE_TIMESTAMP && b->type == HDB_TYPE_TEXT)
    return cmp_ts_text(a->as.timestamp_us, b, cmp);
  if (a->type == HDB_TYPE_TEXT && b->type == HDB_TYPE_TIMESTAMP) {
    if (!cmp_ts_text(b->as.timestamp_us, a, cmp))
      return 0;
    *cmp = -*cmp;
    return 1;
  }
  if (a->type != b->type)
    return 0;
  switch (a->type) {
  case HDB_TYPE_BOOL:
  case HDB_TYPE_TEXT:
  case HDB_TYPE_BLOB:
  case HDB_TYPE_TIMESTAMP:
    *cmp = hdb__value_order(a, b);
    return 1;
  default:
    return 0; /* json and vectors do not compare in filters */
  }
}

int hdb__value_equal(const hdb_value *a, const hdb_value *b, int *eq)
{
  int c = 0;
  if (!hdb__value_compare(a, b, &c))
    return 0;
  *eq = (c == 0);
  return 1;
}

/* ------------------------------------------------------------------ */
/* Vectors                                                             */
/* ------------------------------------------------------------------ */

long hdb__vector_first_nonfinite(const float *v, uint32_t dim)
{
  /* Every vector written or searched passes here, so the common case (all
   * finite) is one branch-free pass: a float is NaN or infinite iff its
   * exponent bits are all ones, and adding 1 to an all-ones exponent
   * carries into bit 31, which no other exponent reaches. The pass works
   * on four 4-lane words (GCC/Clang vector types, SSE2 on any x86-64)
   * because at -O2 GCC leaves a plain loop over dim scalar (5x slower).
   * Only a vector that fails looks for the first bad component. */
  typedef uint32_t u32x4 __attribute__((vector_size(16)));
  const u32x4 exp_mask = {0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u};
  const u32x4 exp_one = {0x00800000u, 0x00800000u, 0x00800000u, 0x00800000u};
  u32x4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
  uint32_t i = 0;
  for (; dim - i >= 16; i += 16) {
    u32x4 w0, w1, w2, w3;
    memcpy(&w0, v + i, 16);
    memcpy(&w1, v + i + 4, 16);
    memcpy(&w2, v + i + 8, 16);
    memcpy(&w3, v + i + 12, 16);
    a0 |= (w0 & exp_mask) + exp_one;
    a1 |= (w1 & exp_mask) + exp_one;
    a2 |= (w2 & exp_mask) + exp_one;
    a3 |= (w3 & exp_mask) + exp_one;
  }
  a0 |= a1 | a2 | a3;
  uint32_t acc = a0[0] | a0[1] | a0[2] | a0[3];
  for (; i < dim; i++) {
    uint32_t u;
    memcpy(&u, &v[i], sizeof u);
    acc |= (u & 0x7f800000u) + 0x00800000u;
  }
  if ((acc & 0x80000000u) == 0)
    return -1;
  for (i = 0; i < dim; i++) {
    if (!isfinite(v[i]))
      return (long)i;
  }
  return -1;
}

/* ------------------------------------------------------------------ */
/* Conversion to a column type                                         */
/* ------------------------------------------------------------------ */

/* "table 't', field 'f'" or "field 'f'" into buf, for message prefixes. */
static void where(char *buf, size_t cap, const char *table, const char *field)
{
  if (table != NULL)
    snprintf(buf, cap, "table '%s', field '%s'", table, field ? field : "?");
  else
    snprintf(buf, cap, "field '%s'", field ? field : "?");
}

static hdb_status mismatch(hdb_error *err, const char *loc, hdb_type want, const hdb_value *v)
{
  return hdb__fail(err, HDB_TYPE_MISMATCH, "%s: expected %s, got %s", loc, hdb_type_name(want),
                   hdb_type_name(v->type));
}

static hdb_status check_vector(const float *data, uint32_t got, uint32_t dim, const char *loc,
                               hdb_error *err)
{
  if (got != dim)
    return hdb__fail(err, HDB_DIMENSION, "%s: vector has %u components, expected %u", loc,
                     (unsigned)got, (unsigned)dim);
  long bad = hdb__vector_first_nonfinite(data, got);
  if (bad >= 0)
    return hdb__fail(err, HDB_NOT_FINITE, "%s: vector component %ld is %s", loc, bad,
                     isnan(data[bad]) ? "NaN" : "infinite");
  return HDB_OK;
}

hdb_status hdb__value_conform(hdb_value *v, hdb_type type, uint32_t dim, const char *table,
                              const char *field, hdb_error *err)
{
  char loc[2 * HDB_MAX_NAME_LEN + 40];
  if (v->type == HDB_TYPE_NULL)
    return HDB_OK;
  where(loc, sizeof loc, table, field);
  switch (type) {
  case HDB_TYPE_BOOL:
  case HDB_TYPE_TEXT:
  case HDB_TYPE_BLOB:
    return v->type == type ? HDB_OK : mismatch(err, loc, type, v);
  case HDB_TYPE_INT:
    if (v->type == HDB_TYPE_INT)
      return HDB_OK;
    if (v->type == HDB_TYPE_FLOAT) {
      double f = v->as.f;
      if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0) || trunc(f) != f)
        return hdb__fail(err, HDB_TYPE_MISMATCH, "%s: expected int, got float %.17g", loc, f);
      v->type = HDB_TYPE_INT;
      v->as.i = (int64_t)f;
      return HDB_OK;
    }
    return mismatch(err, loc, type, v);
  case HDB_TYPE_FLOAT:
    if (v->type == HDB_TYPE_FLOAT)
      return HDB_OK;
    if (v->type == HDB_TYPE_INT) {
      double f = (double)v->as.i;
      v->type = HDB_TYPE_FLOAT;
      v->as.f = f;
      return HDB_OK;
    }
    return mismatch(err, loc, type, v);
  case HDB_TYPE_TIMESTAMP:
    if (v->type == HDB_TYPE_TIMESTAMP)
      return HDB_OK;
    if (v->type == HDB_TYPE_INT) {
      int64_t us = v->as.i;
      v->type = HDB_TYPE_TIMESTAMP;
      v->as.timestamp_us = us;
      return HDB_OK;
    }
    if (v->type == HDB_TYPE_TEXT) {
      int64_t us;
      if (hdb__timestamp_parse(v->as.text.data, v->as.text.len, &us) != 0)
        return hdb__fail(err, HDB_TYPE_MISMATCH,
                         "%s: expected timestamp, got text that is not RFC 3339 (\"%.40s\")",
                         loc, v->as.text.data);
      hdb__value_release(v);
      v->type = HDB_TYPE_TIMESTAMP;
      v->as.timestamp_us = us;
      return HDB_OK;
    }
    return mismatch(err, loc, type, v);
  case HDB_TYPE_JSON: {
    if (v->type == HDB_TYPE_JSON)
      return HDB_OK;
    char *text = NULL;
    size_t len = 0;
    hdb_status st = hdb__value_to_json_text(v, &text, &len);
    if (st != HDB_OK)
      return hdb__fail(err, st, "%s: %s", loc, hdb_status_message(st));
    hdb__value_release(v);
    v->type = HDB_TYPE_JSON;
    v->as.text.data = text;
    v->as.text.len = len;
    return HDB_OK;
  }
  case HDB_TYPE_VECTOR: {
    if (v->type == HDB_TYPE_VECTOR)
      return check_vector(v->as.vector.data, v->as.vector.dim, dim, loc, err);
    if (v->type != HDB_TYPE_JSON)
      return mismatch(err, loc, type, v);
    float *data = NULL;
    uint32_t got = 0;
    hdb_status st = hdb__json_to_vector(v->as.text.data, v->as.text.len, &data, &got, err);
    if (st != HDB_OK) {
      hdb__err_prefix(err, "%s", loc);
      return st;
    }
    st = check_vector(data, got, dim, loc, err);
    if (st != HDB_OK) {
      hdb__free_mem(data);
      return st;
    }
    hdb__value_release(v);
    v->type = HDB_TYPE_VECTOR;
    v->as.vector.data = data;
    v->as.vector.dim = got;
    return HDB_OK;
  }
  case HDB_TYPE_NULL:
    break;
  }
  return hdb__fail(err, HDB_INVALID_ARGUMENT, "%s: column type %d is not valid", loc, (int)type);
}

/* ------------------------------------------------------------------ */
/* RFC 3339 timestamps                                                 */
/* ------------------------------------------------------------------ */

#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
  static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n digits at s[*i]; -1 when they are not all digits. */
static long read_digits(const char *s, size_t len, size_t *i, size_t n)
{
  long v = 0;
  if (*i + n > len)
    return -1;
  for (size_t k = 0; k < n; k++) {
    char c = s[*i + k];
    if (c < '0' || c > '9')
      return -1;
    v = v * 10 + (c - '0');
  }
  *i += n;
  return v;
}

int hdb__timestamp_parse(const char *s, size_t len, int64_t *us)
{
  size_t i = 0;
  int64_t year;
  int neg = 0;
  if (s == NULL)
    return -1;
  if (len > 0 && (s[0] == '+' || s[0] == '-')) {
    /* Expanded years (ISO 8601): a sign and 4 to 6 digits, as formatted
     * for years outside 0000..9999. */
    neg = s[0] == '-';
    i = 1;
    size_t start = i;
    year = 0;
    while (i < len && i - start < 6 && s[i] >= '0' && s[i] <= '9')
      year = year * 10 + (s[i++] - '0');
    if (i - start < 4)
      return -1;
    if (neg)
      year = -year;
  } else {
    long y = read_digits(s, len, &i, 4);
    if (y < 0)
      return -1;
    year = y;
  }
  if (i >= len || s[i++] != '-')
    return -1;
  long mon = read_digits(s, len, &i, 2);
  if (mon < 1 || mon > 12 || i >= len || s[i++] != '-')
    return -1;
  long day = read_digits(s, len, &i, 2);
  if (day < 1 || (unsigned long)day > days_in_month(year, (unsigned)mon))
    return -1;
  long hh = 0, mm = 0, ss = 0, frac = 0, off_min = 0;
  if (i < len) {
    char sep = s[i++];
    if (sep != 'T' && sep != 't' && sep != ' ')
      return -1;
    hh = read_digits(s, len, &i, 2);
    if (hh < 0 || hh > 23 || i >= len || s[i++] != ':')
      return -1;
    mm = read_digits(s, len, &i, 2);
    if (mm < 0 || mm > 59 || i >= len || s[i++] != ':')
      return -1;
    ss = read_digits(s, len, &i, 2);
    if (ss < 0 || ss > 59)
      return -1;
    if (i < len && s[i] == '.') {
      /* Fractions beyond microseconds are truncated. */
      size_t start = ++i, nd = 0;
      while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (nd < 6) {
          frac = frac * 10 + (s[i] - '0');
          nd++;
        }
        i++;
      }
      if (i == start)
        return -1;
      for (; nd < 6; nd++)
        frac *= 10;
    }
    /* A missing zone means UTC (SQL databases write "YYYY-MM-DD HH:MM:SS"). */
    if (i < len) {
      char z = s[i++];
      if (z == 'Z' || z == 'z') {
        off_min = 0;
      } else if (z == '+' || z == '-') {
        long oh = read_digits(s, len, &i, 2);
        if (oh < 0 || oh > 23 || i >= len || s[i++] != ':')
          return -1;
        long om = read_digits(s, len, &i, 2);
        if (om < 0 || om > 59)
          return -1;
        off_min = (oh * 60 + om) * (z == '-' ? -1 : 1);
      } else {
        return -1;
      }
    }
    if (i != len)
      return -1;
  }
  int64_t days = days_from_civil(year, (unsigned)mon, (unsigned)day);
  int64_t secs = days * 86400 + (int64_t)hh * 3600 + mm * 60 + ss - (int64_t)off_min * 60;
  int64_t t;
  if (secs < 0 && frac > 0) {
    /* Borrow a second so the scaled seconds do not pass INT64_MIN when the
     * result itself is representable. */
    secs += 1;
    frac -= 1000000;
  }
  /* days is at most ~1.1e8 in magnitude here, so days*86400 fits; the
   * microsecond scaling can overflow for expanded years. */
  if (__builtin_mul_overflow(secs, US_PER_SEC, &t) ||
      __builtin_add_overflow(t, (int64_t)frac, &t))
    return -1;
  *us = t;
  return 0;
}

/* Writes sep and two digits of v; returns the new end. */
static char *put2(char *p, char sep, unsigned v)
{
  p[0] = sep;
  p[1] = (char)('0' + v / 10 % 10);
  p[2] = (char)('0' + v % 10);
  return p + 3;
}

void hdb__timestamp_format(int64_t us, char buf[32])
{
  /* Floor division so that times before 1970 get a positive time of day. */
  int64_t days = us / US_PER_DAY;
  int64_t rem = us % US_PER_DAY;
  if (rem < 0) {
    rem += US_PER_DAY;
    days--;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  int64_t secs = rem / US_PER_SEC;
  unsigned frac = (unsigned)(rem % US_PER_SEC);
  unsigned hh = (unsigned)(secs / 3600), mi = (unsigned)(secs / 60 % 60), ss = (unsigned)(secs % 60);
  /* |y| <= 292278 for any int64 input, so the text is at most 30 bytes. */
  char *p = buf;
  uint64_t ay = y < 0 ? (uint64_t)(-y) : (uint64_t)y;
  if (y < 0)
    *p++ = '-';
  else if (y > 9999)
    *p++ = '+';
  char digits[8];
  int nd = 0;
  do {
    digits[nd++] = (char)('0' + ay % 10);
    ay /= 10;
  } while (ay > 0 && nd < 7);
  for (int k = nd; k < 4; k++)
    *p++ = '0';
  while (nd > 0)
    *p++ = digits[--nd];
  p = put2(p, '-', m);
  p = put2(p, '-', d);
  p = put2(p, 'T', hh);
  p = put2(p, ':', mi);
  p = put2(p, ':', ss);
  *p++ = '.';
  for (int k = 5; k >= 0; k--) {
    p[k] = (char)('0' + frac % 10);
    frac /= 10;
  }
  p += 6;
  *p++ = 'Z';
  *p = '\0';
}
