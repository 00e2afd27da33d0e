/*
 * cli_util.c - shared plumbing of the hanzo-db CLI: opening the handle,
 * error reporting, the option parser, value parsing, input reading and
 * JSON output helpers. See cli_util.h for the conventions.
 */
#include "cli_util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- opening -------------------------------------------------------- */

int cli_open(cli_ctx *ctx) {
  if (ctx->db) return CLI_OK;
  hdb_config cfg = HDB_CONFIG_INIT;
  cfg.url = ctx->url;
  cfg.workload = ctx->workload;
  cfg.use_env = 1;
  hdb_error err;
  memset(&err, 0, sizeof err);
  if (ctx->verbose) {
    hdb_selection sel;
    memset(&sel, 0, sizeof sel);
    hdb_status st = hdb_select(&cfg, &sel, &err);
    if (st != HDB_OK) return cli_err_fail(&err, st);
    fprintf(stderr, "hanzo-db: backend %s: %s\n", hdb_backend_name(sel.backend), sel.url);
    if (sel.note[0]) fprintf(stderr, "hanzo-db: note: %s\n", sel.note);
  }
  hdb_status st = hdb_open_config(&cfg, &ctx->db, &err);
  if (st != HDB_OK) {
    ctx->db = NULL;
    return cli_err_fail(&err, st);
  }
  return CLI_OK;
}

/* ---- error reporting ------------------------------------------------ */

/* Messages are printed on one line: embedded newlines become spaces. */
static void report(const char *msg) {
  fputs("hanzo-db: error: ", stderr);
  for (const char *p = msg; *p; p++) fputc(*p == '\n' || *p == '\r' ? ' ' : *p, stderr);
  fputc('\n', stderr);
}

static void vreport(const char *fmt, va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  report(msg);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(fmt, ap);
  va_end(ap);
  if (cmd)
    fprintf(stderr, "Try 'hanzo-db %s --help' for more information.\n", cmd);
  else
    fputs("Try 'hanzo-db --help' for more information.\n", stderr);
  return CLI_USAGE;
}

int cli_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(fmt, ap);
  va_end(ap);
  return CLI_FAIL;
}

static int fail_msg(const char *msg, hdb_status st) {
  report(msg && msg[0] ? msg : hdb_status_message(st));
  return CLI_FAIL;
}

int cli_db_fail(const hdb *db) { return fail_msg(hdb_errmsg(db), hdb_errcode(db)); }

int cli_cursor_fail(const hdb_cursor *c) { return fail_msg(hdb_cursor_errmsg(c), HDB_ERROR); }

int cli_err_fail(const hdb_error *err, hdb_status st) {
  return fail_msg(err ? err->message : NULL, st);
}

/* ---- option parsing ------------------------------------------------- */

void cli_parser_init(cli_parser *p, const char *cmd, int argc, char **argv) {
  memset(p, 0, sizeof *p);
  p->cmd = cmd;
  p->argc = argc;
  p->argv = argv;
}

int cli_next(cli_parser *p) {
  p->eq = NULL;
  p->arg = NULL;
  while (p->i < p->argc) {
    const char *a = p->argv[p->i++];
    if (!p->only_pos && strcmp(a, "--") == 0) {
      p->only_pos = 1;
      continue;
    }
    if (p->only_pos || a[0] != '-' || a[1] == '\0') {
      p->arg = a;
      return CLI_ARG_POS;
    }
    const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
    if (eq && (size_t)(eq - a) < sizeof p->name) {
      memcpy(p->name, a, (size_t)(eq - a));
      p->name[eq - a] = '\0';
      p->arg = p->name;
      p->eq = eq + 1;
    } else {
      p->arg = a;
    }
    return CLI_ARG_OPT;
  }
  return CLI_ARG_END;
}

int cli_is(const cli_parser *p, const char *long_name, const char *short_name) {
  return (long_name && strcmp(p->arg, long_name) == 0) ||
         (short_name && strcmp(p->arg, short_name) == 0);
}

int cli_value(cli_parser *p, const char **out) {
  if (p->eq) {
    *out = p->eq;
    return 0;
  }
  if (p->i >= p->argc) return cli_usage_error(p->cmd, "option %s needs a value", p->arg);
  *out = p->argv[p->i++];
  return 0;
}

int cli_no_value(const cli_parser *p) {
  if (p->eq) return cli_usage_error(p->cmd, "option %s takes no value", p->arg);
  return 0;
}

int cli_unknown_option(const cli_parser *p) {
  return cli_usage_error(p->cmd, "unknown option %s", p->arg);
}

int cli_extra_arg(const cli_parser *p) {
  return cli_usage_error(p->cmd, "unexpected argument '%s'", p->arg);
}

/* ---- value parsing -------------------------------------------------- */

int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (!s[0]) return cli_usage_error(cmd, "%s: expected a number, got ''", opt);
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return cli_usage_error(cmd, "%s: not a number: '%s'", opt, s);
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return cli_usage_error(cmd, "%s: number too large: '%s'", opt, s);
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, int min, int *out) {
  const char *digits = s[0] == '-' ? s + 1 : s;
  uint64_t v;
  if (!digits[0] || strspn(digits, "0123456789") != strlen(digits))
    return cli_usage_error(cmd, "%s: not a number: '%s'", opt, s);
  int rc = cli_parse_u64(cmd, opt, digits, &v);
  if (rc) return rc;
  if (v > INT_MAX) return cli_usage_error(cmd, "%s: number too large: '%s'", opt, s);
  int i = s[0] == '-' ? -(int)v : (int)v;
  if (i < min) return cli_usage_error(cmd, "%s: must be at least %d, got %d", opt, min, i);
  *out = i;
  return 0;
}

void cli_strlist_free(cli_strlist *l) {
  for (size_t i = 0; i < l->n; i++) free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

static int strlist_push(cli_strlist *l, const char *s, size_t n) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    char **items = realloc(l->items, cap * sizeof *items);
    if (!items) return cli_fail("out of memory");
    l->items = items;
    l->cap = cap;
  }
  char *copy = malloc(n + 1);
  if (!copy) return cli_fail("out of memory");
  memcpy(copy, s, n);
  copy[n] = '\0';
  l->items[l->n++] = copy;
  return 0;
}

int cli_strlist_split(cli_strlist *l, const char *cmd, const char *opt, const char *s) {
  const char *p = s;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    /* Surrounding spaces are forgiven: "a, b". */
    while (n && (*p == ' ' || *p == '\t')) p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    if (n == 0) return cli_usage_error(cmd, "%s: empty item in '%s'", opt, s);
    int rc = strlist_push(l, p, n);
    if (rc) return rc;
    if (!comma) return 0;
    p = comma + 1;
  }
}

void cli_sort_free(cli_sort *s) {
  cli_strlist_free(&s->names);
  free(s->keys);
  memset(s, 0, sizeof *s);
}

int cli_sort_add(cli_sort *s, const char *cmd, const char *arg) {
  size_t first = s->names.n;
  int rc = cli_strlist_split(&s->names, cmd, "--sort", arg);
  if (rc) return rc;
  hdb_sort_key *keys = realloc(s->keys, s->names.n * sizeof *keys);
  if (!keys) return cli_fail("out of memory");
  s->keys = keys;
  for (size_t i = first; i < s->names.n; i++) {
    char *name = s->names.items[i];
    char *colon = strrchr(name, ':');
    int desc = 0;
    if (colon) {
      if (strcmp(colon + 1, "desc") == 0)
        desc = 1;
      else if (strcmp(colon + 1, "asc") != 0)
        return cli_usage_error(cmd, "--sort: expected FIELD, FIELD:asc or FIELD:desc, got '%s'",
                               name);
      *colon = '\0';
      if (!name[0]) return cli_usage_error(cmd, "--sort: missing field name before ':'");
    }
    s->keys[i].field = name;
    s->keys[i].descending = desc;
  }
  s->n = s->names.n;
  return 0;
}

/* ---- input ---------------------------------------------------------- */

FILE *cli_open_input(const char *path) {
  if (!path || strcmp(path, "-") == 0) return stdin;
  FILE *f = fopen(path, "rb");
  if (!f) cli_fail("cannot open '%s': %s", path, strerror(errno));
  return f;
}

void cli_close_input(FILE *f) {
  if (f && f != stdin) fclose(f);
}

int cli_read_all(FILE *f, const char *what, char **buf, size_t *len) {
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  if (!b) return cli_fail("out of memory");
  for (;;) {
    if (cap - n < 2) {
      char *nb = realloc(b, cap * 2);
      if (!nb) {
        free(b);
        return cli_fail("out of memory");
      }
      b = nb;
      cap *= 2;
    }
    size_t got = fread(b + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    free(b);
    return cli_fail("cannot read %s: %s", what, strerror(errno));
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
  return 0;
}

/* ---- output --------------------------------------------------------- */

void cli_print_line(const char *s) {
  fputs(s, stdout);
  fputc('\n', stdout);
}

int cli_finish_output(int rc) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    int r = cli_fail("cannot write output: %s", strerror(errno));
    return rc ? rc : r;
  }
  return rc;
}

void cli_buf_free(cli_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

void cli_buf_add(cli_buf *b, const void *p, size_t n) {
  if (b->oom) return;
  if (b->cap - b->len < n + 1) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
      b->oom = 1;
      return;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void cli_buf_adds(cli_buf *b, const char *s) { cli_buf_add(b, s, strlen(s)); }

int cli_utf8_valid(const void *p, size_t n) {
  const unsigned char *s = p;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned cp, min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += len;
  }
  return 1;
}

void cli_buf_add_json_string(cli_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  cli_buf_add(b, "\"", 1);
  size_t run = 0; /* bytes copied verbatim in one go */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char u[7];
    if (c == '"')
      esc = "\\\"";
    else if (c == '\\')
      esc = "\\\\";
    else if (c == '\n')
      esc = "\\n";
    else if (c == '\r')
      esc = "\\r";
    else if (c == '\t')
      esc = "\\t";
    else if (c < 0x20) {
      u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15];
      u[6] = '\0';
      esc = u;
    }
    if (esc) {
      cli_buf_add(b, s + i - run, run);
      run = 0;
      cli_buf_adds(b, esc);
    } else {
      run++;
    }
  }
  cli_buf_add(b, s + n - run, run);
  cli_buf_add(b, "\"", 1);
}

static void buf_add_base64(cli_buf *b, const unsigned char *p, size_t n) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char q[4];
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)p[i] << 16;
    if (i + 1 < n) v |= (unsigned)p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    q[0] = tbl[(v >> 18) & 63];
    q[1] = tbl[(v >> 12) & 63];
    q[2] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
    q[3] = i + 2 < n ? tbl[v & 63] : '=';
    cli_buf_add(b, q, 4);
  }
}

void cli_buf_add_json_bytes(cli_buf *b, const void *p, size_t n) {
  if (cli_utf8_valid(p, n)) {
    cli_buf_add_json_string(b, p, n);
    return;
  }
  cli_buf_adds(b, "{\"$base64\":\"");
  buf_add_base64(b, p, n);
  cli_buf_adds(b, "\"}");
}

void cli_buf_add_double(cli_buf *b, double d) {
  char tmp[64];
  if (!isfinite(d)) {
    cli_buf_adds(b, "null");
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (strtod(tmp, NULL) == d) break;
  }
  cli_buf_adds(b, tmp);
}

/* Length of the JSON string literal starting at s[0] == '"', or 0. */
static size_t json_string_len(const char *s) {
  size_t i = 1;
  while (s[i] && s[i] != '"') i += s[i] == '\\' && s[i + 1] ? 2 : 1;
  return s[i] == '"' ? i + 1 : 0;
}

int cli_print_record(const hdb_record *r, int with_distance, double distance, int drop_id) {
  char *json = NULL;
  hdb_status st = hdb_record_to_json(r, &json);
  if (st != HDB_OK) return cli_fail("cannot format record: %s", hdb_status_message(st));
  const char *body = json; /* the object without its closing brace */
  size_t blen = strlen(json);
  if (blen < 2 || json[0] != '{' || json[blen - 1] != '}') {
    hdb_free(json);
    return cli_fail("cannot format record: unexpected JSON from the library");
  }
  cli_buf out = {0};
  cli_buf_add(&out, "{", 1);
  body = json + 1;
  blen -= 2;
  if (drop_id && strncmp(body, "\"id\":\"", 6) == 0) {
    size_t sl = json_string_len(body + 5);
    if (sl) {
      size_t skip = 5 + sl;
      if (body[skip] == ',') skip++;
      body += skip;
      blen -= skip;
    }
  }
  cli_buf_add(&out, body, blen);
  hdb_value v;
  if (with_distance && hdb_record_get(r, "_distance", &v) != HDB_OK) {
    if (blen) cli_buf_add(&out, ",", 1);
    cli_buf_adds(&out, "\"_distance\":");
    cli_buf_add_double(&out, distance);
  }
  cli_buf_add(&out, "}", 1);
  hdb_free(json);
  if (out.oom) {
    cli_buf_free(&out);
    return cli_fail("out of memory");
  }
  cli_print_line(out.data);
  cli_buf_free(&out);
  return 0;
}

void cli_buf_add_u64(cli_buf *b, uint64_t v) {
  char tmp[24];
  snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
  cli_buf_adds(b, tmp);
}

int cli_print_cursor(hdb_cursor *cur, int with_distance, int drop_id) {
  for (;;) {
    const hdb_record *r;
    hdb_status st = hdb_cursor_next(cur, &r);
    if (st == HDB_DONE) return 0;
    if (st != HDB_OK) return cli_cursor_fail(cur);
    int rc = cli_print_record(r, with_distance, with_distance ? hdb_cursor_distance(cur) : 0.0, drop_id);
    if (rc) return rc;
  }
}
