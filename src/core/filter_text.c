/*
 * filter_text.c - the text form of filters, parsed by recursive descent
 * into an hdb__expr tree.
 *
 *   or      := and (OR and)*
 *   and     := not (AND not)*
 *   not     := NOT not | primary
 *   primary := '(' or ')' | EXISTS path | TRUE | FALSE
 *            | path predicate | path            (bare path: path = true)
 *   predicate := cmpop literal | [NOT] IN '(' literal (',' literal)* ')'
 *            | [NOT] BETWEEN literal AND literal | [NOT] LIKE 'text'
 *            | IS [NOT] NULL
 *
 * The lexer makes one token of a whole dotted path (segments joined by '.'
 * with no spaces, each a plain identifier or a "quoted name"), so a keyword
 * is simply a one-segment unquoted path whose text matches it; quoting a
 * name ("in", meta."a.b") never makes a keyword. Numbers take an optional
 * sign because the grammar has no arithmetic.
 *
 * Invariants: every error is HDB_BAD_FILTER "at LINE:COL: ..." naming what
 * was expected and what was found; nesting (parentheses and NOT) deeper
 * than HDB__FILTER_MAX_DEPTH is an error, so recursion is bounded; a failed
 * parse frees everything it built.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/record.h"

typedef enum tok_kind {
  T_EOF,
  T_PATH,  /* a name or dotted path (keywords included) */
  T_NUM,
  T_STR,   /* 'text' */
  T_LP,
  T_RP,
  T_COMMA,
  T_OP     /* a comparison operator */
} tok_kind;

typedef enum kw {
  KW_NONE,
  KW_AND,
  KW_OR,
  KW_NOT,
  KW_IN,
  KW_BETWEEN,
  KW_LIKE,
  KW_IS,
  KW_NULL,
  KW_TRUE,
  KW_FALSE,
  KW_EXISTS
} kw;

typedef struct tok {
  tok_kind kind;
  size_t start, end; /* byte offsets of the token's text in the source */
  kw kw;             /* T_PATH only */
  hdb__cmp_op op;    /* T_OP only */
  int is_float;      /* T_NUM only: has a '.' or an exponent */
} tok;

typedef struct parser {
  const char *src;
  size_t len;
  size_t pos; /* lexer position: just after cur */
  tok cur;    /* the lookahead token */
  int depth;
  hdb_error *err;
} parser;

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* Describes the bytes [start,end) for "(found ...)": quoted, cut at a
 * character boundary, control characters shown as '?'. */
static void show_span(const parser *p, size_t start, size_t end, char *buf, size_t cap) {
  if (start >= p->len) {
    snprintf(buf, cap, "end of filter");
    return;
  }
  size_t n = end - start, max = 32;
  int cut = 0;
  if (n > max) {
    n = max;
    while (n > 0 && ((unsigned char)p->src[start + n] & 0xC0) == 0x80) n--;
    cut = 1;
  }
  size_t k = 0;
  buf[k++] = '\'';
  for (size_t i = 0; i < n && k + 5 < cap; i++) {
    unsigned char c = (unsigned char)p->src[start + i];
    buf[k++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
  }
  if (cut && k + 5 < cap) {
    memcpy(buf + k, "...", 3);
    k += 3;
  }
  buf[k++] = '\'';
  buf[k] = '\0';
}

/* HDB_BAD_FILTER "at L:C: <message>" at byte offset off. */
static hdb_status fail_at(parser *p, size_t off, const char *fmt, ...) HDB__PRINTF(3, 4);
static hdb_status fail_at(parser *p, size_t off, const char *fmt, ...) {
  char msg[HDB_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t line, col;
  hdb__filter_position(p->src, off, &line, &col);
  return hdb__fail(p->err, HDB_BAD_FILTER, "at %zu:%zu: %s", line, col, msg);
}

/* "at L:C: expected WHAT (found 'tok')" at the current token. */
static hdb_status expected(parser *p, const char *what) {
  char found[64];
  show_span(p, p->cur.start, p->cur.end, found, sizeof found);
  return fail_at(p, p->cur.start, "expected %s (found %s)", what, found);
}

/* ------------------------------------------------------------------ */
/* Lexer                                                               */
/* ------------------------------------------------------------------ */

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int ident_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
static int ident_char(char c) { return ident_start(c) || is_digit(c); }

/* Length in bytes of the UTF-8 character at s (1 for an invalid byte). */
static size_t char_len(const char *s, size_t avail) {
  unsigned char c = (unsigned char)s[0];
  size_t n = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (n > avail) n = avail;
  for (size_t i = 1; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) return i;
  return n;
}

/* Scans a '...' or "..." run starting at p->pos (the opening quote) where a
 * doubled quote is the quote itself. Sets *end just past the closing quote. */
static hdb_status scan_quoted(parser *p, char q, size_t *end) {
  size_t i = p->pos + 1;
  for (;;) {
    if (i >= p->len)
      return fail_at(p, p->pos, q == '\'' ? "unterminated string (a ' is missing)"
                                          : "unterminated quoted name (a \" is missing)");
    if (p->src[i] == q) {
      if (i + 1 < p->len && p->src[i + 1] == q) {
        i += 2;
        continue;
      }
      *end = i + 1;
      break;
    }
    i++;
  }
  /* The body (quotes included) must be UTF-8; quotes are ASCII, so checking
   * the raw body is the same as checking the decoded one. */
  if (!hdb__utf8_valid(p->src + p->pos + 1, *end - p->pos - 2))
    return fail_at(p, p->pos, q == '\'' ? "string is not valid UTF-8" : "quoted name is not valid UTF-8");
  if (q == '"' && *end - p->pos == 2) return fail_at(p, p->pos, "empty quoted name");
  return HDB_OK;
}

static kw keyword_of(const char *s, size_t n) {
  static const struct {
    const char *text;
    kw kw;
  } table[] = {{"AND", KW_AND},   {"OR", KW_OR},     {"NOT", KW_NOT},       {"IN", KW_IN},
               {"BETWEEN", KW_BETWEEN}, {"LIKE", KW_LIKE}, {"IS", KW_IS},   {"NULL", KW_NULL},
               {"TRUE", KW_TRUE}, {"FALSE", KW_FALSE}, {"EXISTS", KW_EXISTS}};
  for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
    const char *t = table[k].text;
    if (strlen(t) != n) continue;
    size_t i = 0;
    while (i < n && (s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]) == t[i]) i++;
    if (i == n) return table[k].kw;
  }
  return KW_NONE;
}

static hdb_status lex_path(parser *p) {
  size_t start = p->pos;
  int quoted_any = 0, segs = 0;
  for (;;) {
    char c = p->pos < p->len ? p->src[p->pos] : '\0';
    if (c == '"') {
      size_t end;
      hdb_status st = scan_quoted(p, '"', &end);
      if (st != HDB_OK) return st;
      p->pos = end;
      quoted_any = 1;
    } else if (ident_start(c)) {
      while (p->pos < p->len && ident_char(p->src[p->pos])) p->pos++;
    } else {
      /* Only reachable after a '.', since the caller saw a name start. */
      char found[64];
      show_span(p, p->pos, p->pos + (p->pos < p->len ? char_len(p->src + p->pos, p->len - p->pos) : 0),
                found, sizeof found);
      return fail_at(p, p->pos, "expected a name after '.' (found %s)", found);
    }
    segs++;
    if (p->pos < p->len && p->src[p->pos] == '.') {
      p->pos++;
      continue;
    }
    break;
  }
  p->cur.kind = T_PATH;
  p->cur.start = start;
  p->cur.end = p->pos;
  p->cur.kw = (segs == 1 && !quoted_any) ? keyword_of(p->src + start, p->pos - start) : KW_NONE;
  return HDB_OK;
}

/* number := [+-]? (digits ('.' digits*)? | '.' digits) ([eE] [+-]? digits)? */
static hdb_status lex_number(parser *p) {
  size_t start = p->pos, i = p->pos;
  int is_float = 0, digits = 0;
  if (p->src[i] == '+' || p->src[i] == '-') i++;
  while (i < p->len && is_digit(p->src[i])) i++, digits++;
  if (i < p->len && p->src[i] == '.') {
    i++;
    is_float = 1;
    while (i < p->len && is_digit(p->src[i])) i++, digits++;
  }
  if (digits && i < p->len && (p->src[i] == 'e' || p->src[i] == 'E')) {
    size_t j = i + 1;
    if (j < p->len && (p->src[j] == '+' || p->src[j] == '-')) j++;
    if (j < p->len && is_digit(p->src[j])) {
      while (j < p->len && is_digit(p->src[j])) j++;
      i = j;
      is_float = 1;
    } else {
      i = j; /* include the bad exponent in the message */
      digits = 0;
    }
  }
  /* A number running straight into a name or another '.' is malformed
   * (1e, 12abc, 0x10, 1.2.3), not two tokens. */
  if (!digits || (i < p->len && (ident_char(p->src[i]) || p->src[i] == '.' || p->src[i] == '"'))) {
    while (i < p->len && (ident_char(p->src[i]) || p->src[i] == '.' || p->src[i] == '+' ||
                          p->src[i] == '-'))
      i++;
    char found[64];
    show_span(p, start, i, found, sizeof found);
    return fail_at(p, start, "malformed number %s", found);
  }
  p->cur.kind = T_NUM;
  p->cur.start = start;
  p->cur.end = i;
  p->cur.is_float = is_float;
  p->pos = i;
  return HDB_OK;
}

static hdb_status lex_op(parser *p) {
  size_t start = p->pos, i = p->pos;
  while (i < p->len && strchr("=!<>", p->src[i])) i++;
  size_t n = i - start;
  const char *s = p->src + start;
  int op = -1;
  if (n == 1 && s[0] == '=') op = HDB__CMP_EQ;
  else if (n == 1 && s[0] == '<') op = HDB__CMP_LT;
  else if (n == 1 && s[0] == '>') op = HDB__CMP_GT;
  else if (n == 2 && s[0] == '<' && s[1] == '=') op = HDB__CMP_LE;
  else if (n == 2 && s[0] == '>' && s[1] == '=') op = HDB__CMP_GE;
  else if (n == 2 && ((s[0] == '!' && s[1] == '=') || (s[0] == '<' && s[1] == '>'))) op = HDB__CMP_NE;
  if (op < 0) {
    char found[64];
    show_span(p, start, i, found, sizeof found);
    return fail_at(p, start, "unknown operator %s (use = != <> < <= > >=)", found);
  }
  p->cur.kind = T_OP;
  p->cur.op = (hdb__cmp_op)op;
  p->cur.start = start;
  p->cur.end = i;
  p->pos = i;
  return HDB_OK;
}

/* Reads the next token into p->cur. */
static hdb_status advance(parser *p) {
  while (p->pos < p->len && is_space(p->src[p->pos])) p->pos++;
  memset(&p->cur, 0, sizeof p->cur);
  p->cur.start = p->cur.end = p->pos;
  if (p->pos >= p->len) {
    p->cur.kind = T_EOF;
    return HDB_OK;
  }
  char c = p->src[p->pos];
  char n1 = p->pos + 1 < p->len ? p->src[p->pos + 1] : '\0';
  char n2 = p->pos + 2 < p->len ? p->src[p->pos + 2] : '\0';
  switch (c) {
  case '(': p->cur.kind = T_LP; break;
  case ')': p->cur.kind = T_RP; break;
  case ',': p->cur.kind = T_COMMA; break;
  case '\'': {
    size_t end;
    hdb_status st = scan_quoted(p, '\'', &end);
    if (st != HDB_OK) return st;
    p->cur.kind = T_STR;
    p->cur.end = p->pos = end;
    return HDB_OK;
  }
  case '"': return lex_path(p);
  case '=': case '!': case '<': case '>': return lex_op(p);
  default:
    if (ident_start(c)) return lex_path(p);
    if (is_digit(c) || (c == '.' && is_digit(n1)) ||
        ((c == '+' || c == '-') && (is_digit(n1) || (n1 == '.' && is_digit(n2)))))
      return lex_number(p);
    {
      char found[64];
      show_span(p, p->pos, p->pos + char_len(p->src + p->pos, p->len - p->pos), found, sizeof found);
      return fail_at(p, p->pos, "unexpected character %s", found);
    }
  }
  p->pos++;
  p->cur.end = p->pos;
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Building values from tokens                                         */
/* ------------------------------------------------------------------ */

/* Copies the decoded body of a quoted token (doubled quotes undone) into a
 * fresh buffer; *n gets its length. */
static char *unquote(const parser *p, const tok *t, size_t *n) {
  const char *s = p->src + t->start + 1, *e = p->src + t->end - 1;
  char q = p->src[t->start];
  char *out = hdb__malloc((size_t)(e - s) + 1);
  if (!out) return NULL;
  size_t k = 0;
  while (s < e) {
    if (*s == q) s++; /* the first of a doubled quote */
    out[k++] = *s++;
  }
  out[k] = '\0';
  *n = k;
  return out;
}

/* Fills path from a T_PATH token. */
static hdb_status build_path(parser *p, const tok *t, hdb__path *path) {
  size_t i = t->start;
  while (i < t->end) {
    hdb_status st;
    if (p->src[i] == '"') {
      size_t j = i + 1;
      while (!(p->src[j] == '"' && p->src[j + 1] != '"')) j += p->src[j] == '"' ? 2 : 1;
      tok seg = {.start = i, .end = j + 1};
      size_t n;
      char *s = unquote(p, &seg, &n);
      if (!s) return HDB_NOMEM;
      st = hdb__path_push(path, s, n);
      hdb__free_mem(s);
      i = j + 1;
    } else {
      size_t j = i;
      while (j < t->end && p->src[j] != '.') j++;
      st = hdb__path_push(path, p->src + i, j - i);
      i = j;
    }
    if (st != HDB_OK) return st;
    if (i < t->end) i++; /* the '.' */
  }
  return HDB_OK;
}

/* Is the current token the start of a literal? */
static int at_literal(const parser *p) {
  return p->cur.kind == T_NUM || p->cur.kind == T_STR ||
         (p->cur.kind == T_PATH &&
          (p->cur.kw == KW_TRUE || p->cur.kw == KW_FALSE || p->cur.kw == KW_NULL));
}

/* Converts the current (literal) token into v; text is owned by the caller
 * (hdb__free_mem(v->as.text.data)). Does not advance. */
static hdb_status literal_value(parser *p, hdb_value *v) {
  const tok *t = &p->cur;
  memset(v, 0, sizeof *v);
  if (t->kind == T_STR) {
    size_t n;
    char *s = unquote(p, t, &n);
    if (!s) return HDB_NOMEM;
    v->type = HDB_TYPE_TEXT;
    v->as.text.data = s;
    v->as.text.len = n;
    return HDB_OK;
  }
  if (t->kind == T_PATH) {
    v->type = t->kw == KW_NULL ? HDB_TYPE_NULL : HDB_TYPE_BOOL;
    v->as.boolean = t->kw == KW_TRUE;
    return HDB_OK;
  }
  /* T_NUM. Integers that do not fit int64 become floats, like JSON. */
  const char *s = p->src + t->start;
  size_t n = t->end - t->start;
  if (!t->is_float) {
    char buf[32];
    if (n < sizeof buf) {
      memcpy(buf, s, n);
      buf[n] = '\0';
      errno = 0;
      long long ll = strtoll(buf, NULL, 10);
      if (errno == 0) {
        v->type = HDB_TYPE_INT;
        v->as.i = (int64_t)ll;
        return HDB_OK;
      }
    }
  }
  double d;
  if (hdb__filter_strtod(s, n, &d) != 0) return HDB_NOMEM;
  if (!(d - d == 0)) { /* inf: 1e999 */
    char found[64];
    show_span(p, t->start, t->end, found, sizeof found);
    return fail_at(p, t->start, "number %s is out of range", found);
  }
  v->type = HDB_TYPE_FLOAT;
  v->as.f = d;
  return HDB_OK;
}

/* Appends the current literal token to e->values and advances; `what`
 * names the expected thing for the message. Callers that must not take a
 * null check for it first (only IN lists accept one). */
static hdb_status take_literal(parser *p, hdb__expr *e, const char *what) {
  if (!at_literal(p)) return expected(p, what);
  hdb_value v;
  hdb_status st = literal_value(p, &v);
  if (st != HDB_OK) return st;
  st = hdb__expr_add_value(e, &v);
  if (v.type == HDB_TYPE_TEXT) hdb__free_mem((void *)v.as.text.data);
  if (st != HDB_OK) return st;
  return advance(p);
}

/* ------------------------------------------------------------------ */
/* Grammar                                                             */
/* ------------------------------------------------------------------ */

static hdb_status parse_or(parser *p, hdb__expr **out);

static const char *op_name(hdb__cmp_op op) {
  switch (op) {
  case HDB__CMP_EQ: return "=";
  case HDB__CMP_NE: return "!=";
  case HDB__CMP_LT: return "<";
  case HDB__CMP_LE: return "<=";
  case HDB__CMP_GT: return ">";
  case HDB__CMP_GE: return ">=";
  }
  return "?";
}

/* After `path`: the predicate, or nothing (bare path = true). e already
 * holds the path; this sets the kind and values. */
static hdb_status parse_predicate(parser *p, hdb__expr *e) {
  hdb_status st;
  char what[96];
  if (p->cur.kind == T_OP) {
    hdb__cmp_op op = p->cur.op;
    e->kind = HDB__EXPR_CMP;
    e->op = op;
    if ((st = advance(p)) != HDB_OK) return st;
    if (p->cur.kind == T_PATH && p->cur.kw == KW_NULL) {
      const char *fix = op == HDB__CMP_EQ ? "IS NULL" : op == HDB__CMP_NE ? "IS NOT NULL" : NULL;
      if (fix)
        return fail_at(p, p->cur.start, "null cannot be compared with '%s'; write '%.100s %s'",
                       op_name(op), e->path.text, fix);
      return fail_at(p, p->cur.start, "null cannot be compared with '%s' (the result is never true)",
                     op_name(op));
    }
    snprintf(what, sizeof what, "a value after '%s'", op_name(op));
    return take_literal(p, e, what);
  }
  if (p->cur.kind == T_PATH && p->cur.kw == KW_IS) {
    e->kind = HDB__EXPR_IS_NULL;
    if ((st = advance(p)) != HDB_OK) return st;
    if (p->cur.kind == T_PATH && p->cur.kw == KW_NOT) {
      e->negated = 1;
      if ((st = advance(p)) != HDB_OK) return st;
    }
    if (!(p->cur.kind == T_PATH && p->cur.kw == KW_NULL))
      return expected(p, e->negated ? "NULL after IS NOT" : "NULL or NOT NULL after IS");
    return advance(p);
  }
  int negated = 0;
  if (p->cur.kind == T_PATH && p->cur.kw == KW_NOT) {
    negated = 1;
    if ((st = advance(p)) != HDB_OK) return st;
    if (!(p->cur.kind == T_PATH &&
          (p->cur.kw == KW_IN || p->cur.kw == KW_BETWEEN || p->cur.kw == KW_LIKE)))
      return expected(p, "IN, BETWEEN or LIKE after NOT");
  }
  if (p->cur.kind == T_PATH && p->cur.kw == KW_IN) {
    e->kind = HDB__EXPR_IN;
    e->negated = negated;
    if ((st = advance(p)) != HDB_OK) return st;
    if (p->cur.kind != T_LP) return expected(p, "'(' after IN");
    size_t lp = p->cur.start;
    if ((st = advance(p)) != HDB_OK) return st;
    if (p->cur.kind == T_RP) return fail_at(p, lp, "empty IN list; IN needs at least one value");
    for (;;) {
      if ((st = take_literal(p, e, "a value in the IN list")) != HDB_OK) return st;
      if (p->cur.kind == T_COMMA) {
        if ((st = advance(p)) != HDB_OK) return st;
        continue;
      }
      if (p->cur.kind == T_RP) break;
      return expected(p, "',' or ')' in the IN list");
    }
    return advance(p);
  }
  if (p->cur.kind == T_PATH && p->cur.kw == KW_BETWEEN) {
    e->kind = HDB__EXPR_BETWEEN;
    e->negated = negated;
    if ((st = advance(p)) != HDB_OK) return st;
    for (int i = 0; i < 2; i++) {
      if (p->cur.kind == T_PATH && p->cur.kw == KW_NULL)
        return fail_at(p, p->cur.start, "BETWEEN needs two values, not null");
      if ((st = take_literal(p, e, i == 0 ? "a value after BETWEEN" : "a value after AND"))
          != HDB_OK)
        return st;
      if (i == 0) {
        if (!(p->cur.kind == T_PATH && p->cur.kw == KW_AND)) return expected(p, "AND in BETWEEN ... AND ...");
        if ((st = advance(p)) != HDB_OK) return st;
      }
    }
    return HDB_OK;
  }
  if (p->cur.kind == T_PATH && p->cur.kw == KW_LIKE) {
    e->kind = HDB__EXPR_LIKE;
    e->negated = negated;
    if ((st = advance(p)) != HDB_OK) return st;
    if (p->cur.kind != T_STR) return expected(p, "a 'text' pattern after LIKE");
    return take_literal(p, e, "a 'text' pattern after LIKE");
  }
  /* A bare path is a boolean test; what follows must end the term. */
  if (p->cur.kind == T_EOF || p->cur.kind == T_RP ||
      (p->cur.kind == T_PATH && (p->cur.kw == KW_AND || p->cur.kw == KW_OR))) {
    hdb_value t = {.type = HDB_TYPE_BOOL, .as.boolean = 1};
    e->kind = HDB__EXPR_CMP;
    e->op = HDB__CMP_EQ;
    return hdb__expr_add_value(e, &t);
  }
  snprintf(what, sizeof what, "an operator after '%.60s'", e->path.text);
  return expected(p, what);
}

static hdb_status enter(parser *p) {
  if (++p->depth > HDB__FILTER_MAX_DEPTH)
    return fail_at(p, p->cur.start, "filter nests deeper than %d levels", HDB__FILTER_MAX_DEPTH);
  return HDB_OK;
}

static hdb_status parse_primary(parser *p, hdb__expr **out) {
  hdb_status st;
  if (p->cur.kind == T_LP) {
    size_t lp = p->cur.start;
    if ((st = enter(p)) != HDB_OK) return st;
    if ((st = advance(p)) != HDB_OK) return st;
    if ((st = parse_or(p, out)) != HDB_OK) return st;
    if (p->cur.kind != T_RP) {
      size_t line, col;
      char what[64];
      hdb__filter_position(p->src, lp, &line, &col);
      snprintf(what, sizeof what, "AND, OR or ')' to close the '(' at %zu:%zu", line, col);
      st = expected(p, what);
      hdb__expr_free(*out);
      *out = NULL;
      return st;
    }
    p->depth--;
    if ((st = advance(p)) != HDB_OK) {
      hdb__expr_free(*out);
      *out = NULL;
    }
    return st;
  }
  if (p->cur.kind == T_PATH && (p->cur.kw == KW_TRUE || p->cur.kw == KW_FALSE)) {
    int is_true = p->cur.kw == KW_TRUE;
    hdb__expr *t = hdb__expr_new(HDB__EXPR_TRUE);
    if (!t) return HDB_NOMEM;
    t->pos = p->cur.start + 1;
    if (!is_true) {
      hdb__expr *n = hdb__expr_new(HDB__EXPR_NOT);
      if (!n || hdb__expr_add_kid(n, t) != HDB_OK) {
        if (!n) hdb__expr_free(t);
        hdb__expr_free(n);
        return HDB_NOMEM;
      }
      n->pos = t->pos;
      t = n;
    }
    if ((st = advance(p)) != HDB_OK) {
      hdb__expr_free(t);
      return st;
    }
    *out = t;
    return HDB_OK;
  }
  int exists = 0;
  if (p->cur.kind == T_PATH && p->cur.kw == KW_EXISTS) {
    exists = 1;
    if ((st = advance(p)) != HDB_OK) return st;
  }
  if (p->cur.kind != T_PATH || p->cur.kw != KW_NONE) {
    if (exists) return expected(p, "a field name after EXISTS");
    if (p->cur.kind == T_PATH)
      return expected(p, "a field name, '(' or NOT (quote a field named like a keyword: \"in\")");
    return expected(p, "a field name, '(' or NOT");
  }
  hdb__expr *e = hdb__expr_new(exists ? HDB__EXPR_EXISTS : HDB__EXPR_CMP);
  if (!e) return HDB_NOMEM;
  e->pos = p->cur.start + 1;
  tok path_tok = p->cur;
  if ((st = build_path(p, &path_tok, &e->path)) != HDB_OK) goto fail;
  if ((st = advance(p)) != HDB_OK) goto fail;
  if (!exists && (st = parse_predicate(p, e)) != HDB_OK) goto fail;
  if ((st = hdb__expr_prepare_ts(e)) != HDB_OK) goto fail;
  *out = e;
  return HDB_OK;
fail:
  hdb__expr_free(e);
  return st;
}

static hdb_status parse_not(parser *p, hdb__expr **out) {
  if (!(p->cur.kind == T_PATH && p->cur.kw == KW_NOT)) return parse_primary(p, out);
  size_t pos = p->cur.start + 1;
  hdb_status st;
  if ((st = enter(p)) != HDB_OK) return st;
  if ((st = advance(p)) != HDB_OK) return st;
  hdb__expr *kid = NULL;
  if ((st = parse_not(p, &kid)) != HDB_OK) return st;
  hdb__expr *n = hdb__expr_new(HDB__EXPR_NOT);
  if (!n) {
    hdb__expr_free(kid);
    return HDB_NOMEM;
  }
  n->pos = pos;
  if ((st = hdb__expr_add_kid(n, kid)) != HDB_OK) {
    hdb__expr_free(n);
    return st;
  }
  p->depth--;
  *out = n;
  return HDB_OK;
}

/* and := not (AND not)*  and  or := and (OR and)*, sharing one loop. */
static hdb_status parse_chain(parser *p, hdb__expr **out, kw sep) {
  hdb_status st;
  hdb__expr *first = NULL, *node = NULL;
  st = sep == KW_AND ? parse_not(p, &first) : parse_chain(p, &first, KW_AND);
  if (st != HDB_OK) return st;
  if (!(p->cur.kind == T_PATH && p->cur.kw == sep)) {
    *out = first;
    return HDB_OK;
  }
  node = hdb__expr_new(sep == KW_AND ? HDB__EXPR_AND : HDB__EXPR_OR);
  if (!node) {
    hdb__expr_free(first);
    return HDB_NOMEM;
  }
  node->pos = first->pos;
  if ((st = hdb__expr_add_kid(node, first)) != HDB_OK) goto fail;
  while (p->cur.kind == T_PATH && p->cur.kw == sep) {
    hdb__expr *kid = NULL;
    if ((st = advance(p)) != HDB_OK) goto fail;
    st = sep == KW_AND ? parse_not(p, &kid) : parse_chain(p, &kid, KW_AND);
    if (st != HDB_OK) goto fail;
    if ((st = hdb__expr_add_kid(node, kid)) != HDB_OK) goto fail;
  }
  *out = node;
  return HDB_OK;
fail:
  hdb__expr_free(node);
  return st;
}

static hdb_status parse_or(parser *p, hdb__expr **out) { return parse_chain(p, out, KW_OR); }

hdb_status hdb__filter_parse_text(const char *text, hdb__expr **out, hdb_error *err) {
  *out = NULL;
  parser p = {.src = text ? text : "", .err = err};
  p.len = strlen(p.src);
  hdb__expr *e = NULL;
  hdb_status st = advance(&p);
  if (st != HDB_OK) goto fail;
  if (p.cur.kind == T_EOF) {
    e = hdb__expr_new(HDB__EXPR_TRUE);
    st = e ? HDB_OK : HDB_NOMEM;
    if (st != HDB_OK) goto fail;
    *out = e;
    return HDB_OK;
  }
  if ((st = parse_or(&p, &e)) != HDB_OK) goto fail;
  if (p.cur.kind != T_EOF) {
    st = expected(&p, p.cur.kind == T_RP ? "end of filter (this ')' has no '(')"
                                         : "AND, OR or end of filter");
    goto fail;
  }
  *out = e;
  return HDB_OK;
fail:
  hdb__expr_free(e);
  if (st == HDB_NOMEM) hdb__fail(err, HDB_NOMEM, "out of memory parsing a filter");
  return st;
}
