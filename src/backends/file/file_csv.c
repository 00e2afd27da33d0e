/*
 * file_csv.c - RFC 4180 CSV tables for the file backend.
 *
 * Reading: the first row is the header (column names; the first must be
 * "id"); every later row has exactly as many fields. Fields are separated
 * by commas, rows by CRLF or LF; a quoted field may hold commas, newlines
 * and "" for a quote. A UTF-8 byte-order mark is skipped and blank lines
 * are ignored. Cells are typed by the schema when the table has one;
 * otherwise an unquoted cell is inferred (integer without leading zeros,
 * float, true/false, empty = absent) and a quoted cell is always text, so
 * that "007" and "1.0" survive when the writer quotes them.
 *
 * Writing: header, then one CRLF-terminated row per record; null, bool, int
 * and float cells are bare, every other value (text, base64 blobs, RFC 3339
 * timestamps, json and vectors as JSON text) is quoted. A field that is
 * absent or null is an empty cell; the two are the same thing in CSV.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backends/file/file.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/json.h"
#include "core/record.h"
#include "core/schema.h"
#include "core/value.h"

typedef struct csv_cell {
  size_t off, len; /* into the row's text buffer; NUL-terminated there */
  int quoted;
} csv_cell;

typedef struct csv_row {
  hdb__strbuf text;
  csv_cell *cells;
  size_t n, cap;
  size_t line; /* where the row starts, 1-based */
} csv_row;

static void row_reset(csv_row *r) {
  r->text.n = 0;
  r->n = 0;
}

static void row_free(csv_row *r) {
  hdb__strbuf_free(&r->text);
  hdb__free_mem(r->cells);
  memset(r, 0, sizeof *r);
}

static const char *cell_text(const csv_row *r, size_t i) {
  return r->text.p ? r->text.p + r->cells[i].off : "";
}

static int row_push_cell(csv_row *r, size_t off, int quoted) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    csv_cell *c = hdb__realloc(r->cells, cap * sizeof *c);
    if (!c) return -1;
    r->cells = c;
    r->cap = cap;
  }
  r->cells[r->n].off = off;
  r->cells[r->n].len = r->text.n - off;
  r->cells[r->n].quoted = quoted;
  r->n++;
  hdb__strbuf_add(&r->text, "", 1); /* the NUL after the cell */
  return r->text.oom ? -1 : 0;
}

/*
 * Reads one row starting at *pos. HDB_DONE when no input is left. Blank
 * lines come back as a row of one empty unquoted cell.
 */
static hdb_status read_row(const char *buf, size_t len, size_t *pos, size_t *line,
                           csv_row *r, const char *fname, hdb_error *err) {
  size_t p = *pos;
  if (p >= len) return HDB_DONE;
  row_reset(r);
  r->line = *line;
  for (;;) {
    size_t off = r->text.n;
    int quoted = 0;
    if (p < len && buf[p] == '"') {
      quoted = 1;
      size_t qline = *line;
      p++;
      for (;;) {
        if (p >= len)
          return hdb__fail(err, HDB_CORRUPT, "%s line %zu: unterminated quoted field", fname,
                           qline);
        if (buf[p] == '"') {
          if (p + 1 < len && buf[p + 1] == '"') {
            hdb__strbuf_putc(&r->text, '"');
            p += 2;
            continue;
          }
          p++;
          break;
        }
        if (buf[p] == '\n') (*line)++;
        hdb__strbuf_putc(&r->text, buf[p]);
        p++;
      }
      if (p < len && buf[p] != ',' && buf[p] != '\n' && buf[p] != '\r')
        return hdb__fail(err, HDB_CORRUPT,
                         "%s line %zu: unexpected character after a closing quote", fname, *line);
    } else {
      size_t s = p;
      while (p < len && buf[p] != ',' && buf[p] != '\n' && buf[p] != '\r') p++;
      hdb__strbuf_add(&r->text, buf + s, p - s);
    }
    if (row_push_cell(r, off, quoted) != 0)
      return hdb__fail(err, HDB_NOMEM, "out of memory reading %s", fname);
    if (p >= len) break;
    if (buf[p] == ',') {
      p++;
      continue;
    }
    if (buf[p] == '\r') p++;
    if (p < len && buf[p] == '\n') p++;
    (*line)++;
    break;
  }
  *pos = p;
  return HDB_OK;
}

/* ---- typing ---- */

static int is_int_syntax(const char *s, int allow_leading_zeros) {
  if (*s == '+' || *s == '-') s++;
  if (!isdigit((unsigned char)*s)) return 0;
  if (!allow_leading_zeros && s[0] == '0' && s[1] != '\0') return 0;
  while (isdigit((unsigned char)*s)) s++;
  return *s == '\0';
}

static int is_float_syntax(const char *s) {
  if (*s == '+' || *s == '-') s++;
  const char *d = s;
  size_t int_digits = 0, frac_digits = 0;
  while (isdigit((unsigned char)*s)) s++, int_digits++;
  if (int_digits > 1 && d[0] == '0') return 0; /* 007.5 stays text */
  int marker = 0;
  if (*s == '.') {
    marker = 1;
    s++;
    while (isdigit((unsigned char)*s)) s++, frac_digits++;
  }
  if (int_digits + frac_digits == 0) return 0;
  if (*s == 'e' || *s == 'E') {
    marker = 1;
    s++;
    if (*s == '+' || *s == '-') s++;
    if (!isdigit((unsigned char)*s)) return 0;
    while (isdigit((unsigned char)*s)) s++;
  }
  return marker && *s == '\0';
}

static int parse_bool(const char *s, int *out) {
  if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0) {
    *out = 1;
    return 1;
  }
  if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0) {
    *out = 0;
    return 1;
  }
  return 0;
}

/* Full-string strtoll / strtod. */
static int parse_i64(const char *s, int64_t *out) {
  if (!is_int_syntax(s, 1)) return 0;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno == ERANGE || *end) return 0;
  *out = (int64_t)v;
  return 1;
}

static int parse_f64(const char *s, double *out) {
  if (!*s || isspace((unsigned char)*s)) return 0;
  char *end;
  double v = strtod(s, &end);
  if (*end) return 0;
  *out = v;
  return 1;
}

/* Value of an unquoted cell in a schemaless table. */
static hdb_status infer_cell(hdb_record *rec, const char *name, const char *s) {
  int64_t i;
  double f;
  int b;
  if (is_int_syntax(s, 0) && parse_i64(s, &i)) return hdb_record_set_int(rec, name, i);
  if ((is_int_syntax(s, 0) || is_float_syntax(s)) && parse_f64(s, &f))
    return hdb_record_set_float(rec, name, f);
  if ((strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0) && parse_bool(s, &b))
    return hdb_record_set_bool(rec, name, b);
  return hdb_record_set_text(rec, name, s);
}

/* Value of a cell whose column has a type; the result is conformed later. */
static hdb_status typed_cell(hdb_record *rec, const hdb__column *col, const char *s,
                             hdb_error *err) {
  int64_t i;
  double f;
  int b;
  switch (col->type) {
    case HDB_TYPE_BOOL:
      if (parse_bool(s, &b)) return hdb_record_set_bool(rec, col->name, b);
      return hdb__fail(err, HDB_CORRUPT, "column '%s': '%.100s' is not a bool", col->name, s);
    case HDB_TYPE_INT:
    case HDB_TYPE_FLOAT:
      if (parse_i64(s, &i)) return hdb_record_set_int(rec, col->name, i);
      if (parse_f64(s, &f)) return hdb_record_set_float(rec, col->name, f);
      return hdb__fail(err, HDB_CORRUPT, "column '%s': '%.100s' is not a number", col->name, s);
    case HDB_TYPE_TIMESTAMP:
      if (parse_i64(s, &i)) return hdb_record_set_int(rec, col->name, i);
      return hdb_record_set_text(rec, col->name, s);
    case HDB_TYPE_JSON: {
      char *norm = NULL;
      hdb_status st = hdb__json_normalize(s, strlen(s), &norm, NULL, err);
      if (st == HDB_OK) st = hdb_record_set_json(rec, col->name, norm);
      hdb_free(norm);
      if (st != HDB_OK && st != HDB_NOMEM) hdb__err_prefix(err, "column '%s'", col->name);
      return st;
    }
    case HDB_TYPE_VECTOR: {
      float *vec = NULL;
      uint32_t dim = 0;
      hdb_status st = hdb__json_to_vector(s, strlen(s), &vec, &dim, err);
      if (st == HDB_OK) {
        long bad = hdb__vector_first_nonfinite(vec, dim);
        st = bad >= 0 ? hdb__fail(err, HDB_NOT_FINITE, "component %ld is not finite", bad)
                      : hdb_record_set_vector(rec, col->name, vec, dim);
      }
      hdb_free(vec);
      if (st != HDB_OK && st != HDB_NOMEM) hdb__err_prefix(err, "column '%s'", col->name);
      return st;
    }
    case HDB_TYPE_BLOB: {
      cJSON *node = cJSON_CreateObject();
      if (node && !cJSON_AddStringToObject(node, "$base64", s)) {
        cJSON_Delete(node);
        node = NULL;
      }
      if (!node) return hdb__fail(err, HDB_NOMEM, "out of memory");
      hdb_value v;
      hdb_status st = hdb__value_from_cjson(node, &v, err);
      cJSON_Delete(node);
      if (st != HDB_OK) {
        hdb__err_prefix(err, "column '%s'", col->name);
        return st;
      }
      return hdb__record_put_owned(rec, col->name, &v);
    }
    default:
      return hdb_record_set_text(rec, col->name, s);
  }
}

static hdb_status check_header(const csv_row *h, const char *fname, const hdb_schema *schema,
                               const hdb__column **cols, hdb_error *err) {
  if (h->n == 0 || strcmp(cell_text(h, 0), "id") != 0)
    return hdb__fail(err, HDB_CORRUPT, "%s line %zu: the header's first column must be 'id'",
                     fname, h->line);
  for (size_t i = 1; i < h->n; i++) {
    const char *name = cell_text(h, i);
    if (!hdb__name_valid(name, 0))
      return hdb__fail(err, HDB_CORRUPT, "%s line %zu: column %zu: '%.100s' is not a valid field name",
                       fname, h->line, i + 1, name);
    for (size_t j = 1; j < i; j++)
      if (strcmp(cell_text(h, j), name) == 0)
        return hdb__fail(err, HDB_CORRUPT, "%s line %zu: column '%s' appears twice", fname,
                         h->line, name);
    cols[i] = NULL;
    if (schema && !(cols[i] = hdb__schema_column(schema, name)))
      return hdb__fail(err, HDB_CORRUPT, "%s line %zu: column '%s' is not in the table's schema",
                       fname, h->line, name);
  }
  return HDB_OK;
}

static int blank_row(const csv_row *r) { return r->n == 1 && !r->cells[0].quoted && r->cells[0].len == 0; }

hdb_status hdb__csv_parse(const char *buf, size_t len, const char *fname, const char *table,
                          const hdb_schema *schema, hdb__rowbuf *rows, hdb_error *err) {
  hdb__json_init();
  csv_row header = {0}, row = {0};
  const hdb__column **cols = NULL;
  hdb__idset ids = {0};
  size_t pos = 0, line = 1;
  hdb_status st;
  if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) pos = 3;

  do st = read_row(buf, len, &pos, &line, &header, fname, err);
  while (st == HDB_OK && blank_row(&header));
  if (st == HDB_DONE) { /* an empty file is a table with no rows */
    st = HDB_OK;
    goto out;
  }
  if (st != HDB_OK) goto out;
  if (!(cols = hdb__calloc(header.n, sizeof *cols))) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory reading %s", fname);
    goto out;
  }
  if ((st = check_header(&header, fname, schema, cols, err)) != HDB_OK) goto out;

  for (;;) {
    st = read_row(buf, len, &pos, &line, &row, fname, err);
    if (st == HDB_DONE) {
      st = HDB_OK;
      break;
    }
    if (st != HDB_OK) break;
    if (blank_row(&row)) continue;
    if (row.n != header.n) {
      st = hdb__fail(err, HDB_CORRUPT, "%s line %zu: expected %zu fields, found %zu", fname,
                     row.line, header.n, row.n);
      break;
    }
    hdb_record *rec = hdb_record_new(NULL);
    if (!rec || hdb_record_set_id(rec, cell_text(&row, 0)) == HDB_NOMEM) {
      hdb_record_free(rec);
      st = hdb__fail(err, HDB_NOMEM, "out of memory reading %s", fname);
      break;
    }
    for (size_t i = 1; i < row.n && st == HDB_OK; i++) {
      const csv_cell *c = &row.cells[i];
      const char *s = cell_text(&row, i);
      const char *name = cell_text(&header, i);
      if (c->len == 0 && (!c->quoted || (cols[i] && cols[i]->type != HDB_TYPE_TEXT)))
        continue; /* empty: absent (null) */
      if (cols[i])
        st = typed_cell(rec, cols[i], s, err);
      else if (c->quoted)
        st = hdb_record_set_text(rec, name, s);
      else
        st = infer_cell(rec, name, s);
      if (st != HDB_OK && st != HDB_NOMEM && st != HDB_CORRUPT)
        hdb__fail(err, st, "column '%s': cannot store '%.100s'", name, s);
    }
    if (st == HDB_OK) st = hdb__schema_conform(schema, table, rec, 1, err);
    if (st == HDB_OK) {
      int added = hdb__idset_add(&ids, rec->id);
      if (added < 0)
        st = hdb__fail(err, HDB_NOMEM, "out of memory reading %s", fname);
      else if (added == 0)
        st = hdb__fail(err, HDB_CORRUPT, "duplicate id '%.200s'", rec->id);
    }
    if (st != HDB_OK) {
      hdb_record_free(rec);
      if (st != HDB_NOMEM) st = HDB_CORRUPT;
      if (err) err->code = st;
      hdb__err_prefix(err, "%s line %zu", fname, row.line);
      break;
    }
    if ((st = hdb__rowbuf_push(rows, rec, NAN)) != HDB_OK) {
      hdb__fail(err, st, "out of memory reading %s", fname);
      break;
    }
  }
out:
  hdb__idset_free(&ids);
  hdb__free_mem((void *)cols);
  row_free(&header);
  row_free(&row);
  return st;
}

/* ---- writing ---- */

static void put_quoted(hdb__strbuf *out, const char *s, size_t n) {
  hdb__strbuf_putc(out, '"');
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"') {
      hdb__strbuf_add(out, s + start, i + 1 - start);
      hdb__strbuf_putc(out, '"');
      start = i + 1;
    }
  }
  hdb__strbuf_add(out, s + start, n - start);
  hdb__strbuf_putc(out, '"');
}

static void put_id(hdb__strbuf *out, const char *id) {
  size_t n = strlen(id);
  if (strpbrk(id, ",\"\r\n") || (n > 0 && (id[0] == ' ' || id[n - 1] == ' ')))
    put_quoted(out, id, n);
  else
    hdb__strbuf_add(out, id, n);
}

static void put_float(hdb__strbuf *out, double d) {
  char b[48];
  if (isnan(d)) {
    hdb__strbuf_puts(out, "nan");
    return;
  }
  if (isinf(d)) {
    hdb__strbuf_puts(out, d < 0 ? "-inf" : "inf");
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(b, sizeof b, "%.*g", prec, d);
    if (strtod(b, NULL) == d) break;
  }
  hdb__strbuf_puts(out, b);
  if (!strpbrk(b, ".e")) hdb__strbuf_puts(out, ".0"); /* stays a float when read back */
}

static hdb_status put_value(hdb__strbuf *out, const hdb_value *v) {
  char b[40];
  switch (v->type) {
    case HDB_TYPE_NULL: return HDB_OK;
    case HDB_TYPE_BOOL: hdb__strbuf_puts(out, v->as.boolean ? "true" : "false"); return HDB_OK;
    case HDB_TYPE_INT:
      snprintf(b, sizeof b, "%" PRId64, v->as.i);
      hdb__strbuf_puts(out, b);
      return HDB_OK;
    case HDB_TYPE_FLOAT: put_float(out, v->as.f); return HDB_OK;
    case HDB_TYPE_TEXT:
    case HDB_TYPE_JSON: put_quoted(out, v->as.text.data, v->as.text.len); return HDB_OK;
    case HDB_TYPE_TIMESTAMP: {
      char ts[32];
      hdb__timestamp_format(v->as.timestamp_us, ts);
      put_quoted(out, ts, strlen(ts));
      return HDB_OK;
    }
    case HDB_TYPE_VECTOR: {
      char *text = NULL;
      size_t len = 0;
      if (hdb__value_to_json_text(v, &text, &len) != HDB_OK) return HDB_NOMEM;
      put_quoted(out, text, len);
      hdb_free(text);
      return HDB_OK;
    }
    case HDB_TYPE_BLOB: {
      cJSON *node = hdb__value_to_cjson(v);
      if (!node) return HDB_NOMEM;
      const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(node, "$base64");
      hdb_status st = HDB_ERROR;
      if (cJSON_IsString(b64)) {
        put_quoted(out, b64->valuestring, strlen(b64->valuestring));
        st = HDB_OK;
      }
      cJSON_Delete(node);
      return st;
    }
  }
  return HDB_ERROR;
}

hdb_status hdb__csv_dump(hdb_record *const *rows, size_t n, const hdb_schema *schema,
                         hdb__strbuf *out, hdb_error *err) {
  const char **names = NULL;
  size_t n_names = 0, cap = 0;
  hdb_status st = HDB_OK;
  if (schema) {
    cap = schema->n;
    if (cap && !(names = hdb__calloc(cap, sizeof *names)))
      return hdb__fail(err, HDB_NOMEM, "out of memory writing CSV");
    for (size_t i = 0; i < schema->n; i++) names[n_names++] = schema->cols[i].name;
  } else {
    for (size_t r = 0; r < n; r++) {
      for (size_t f = 0; f < rows[r]->n; f++) {
        const char *name = rows[r]->fields[f].name;
        size_t k = 0;
        while (k < n_names && strcmp(names[k], name) != 0) k++;
        if (k < n_names) continue;
        if (n_names == cap) {
          size_t ncap = cap ? cap * 2 : 16;
          const char **nn = hdb__realloc((void *)names, ncap * sizeof *nn);
          if (!nn) {
            hdb__free_mem((void *)names);
            return hdb__fail(err, HDB_NOMEM, "out of memory writing CSV");
          }
          names = nn;
          cap = ncap;
        }
        names[n_names++] = name;
      }
    }
  }
  hdb__strbuf_puts(out, "id");
  for (size_t k = 0; k < n_names; k++) {
    hdb__strbuf_putc(out, ',');
    hdb__strbuf_puts(out, names[k]);
  }
  hdb__strbuf_puts(out, "\r\n");
  for (size_t r = 0; r < n && st == HDB_OK; r++) {
    put_id(out, rows[r]->id ? rows[r]->id : "");
    for (size_t k = 0; k < n_names && st == HDB_OK; k++) {
      hdb__strbuf_putc(out, ',');
      const hdb_value *v = hdb__record_value(rows[r], names[k]);
      if (v) st = put_value(out, v);
    }
    hdb__strbuf_puts(out, "\r\n");
  }
  hdb__free_mem((void *)names);
  if (st == HDB_OK && out->oom) st = HDB_NOMEM;
  if (st != HDB_OK) return hdb__fail(err, st, "cannot encode a row as CSV");
  return HDB_OK;
}
