/*
 * filter.h - the filter expression tree, its two parsers and its evaluator.
 *
 * Both filter syntaxes (text and Mongo-style JSON, see hanzodb.h) parse to
 * this one tree. Backends either evaluate it with hdb__filter_match /
 * hdb__filter_eval (memory, file, native) or walk it to emit parameterized
 * SQL (sqlite, duckdb, postgresql): the tree is deliberately small and
 * explicit for that.
 *
 * Evaluation is three-valued like SQL: TRUE, FALSE or UNKNOWN; a row
 * matches only when the filter is TRUE. NOT UNKNOWN is UNKNOWN.
 *
 * Shapes the parsers produce (what a SQL translator can rely on):
 *  - AND / OR have n_kids >= 2 and are n-ary (a AND b AND c is one node);
 *    parentheses in the text form keep their grouping. NOT has one kid.
 *  - A bare field `f` (text) is CMP f = true.
 *  - {"f":{"$exists":false}} is NOT(EXISTS f); {"$nor":[..]} is NOT(OR ..)
 *    (or NOT(x) for a one-element list); {"$not":{..}} is NOT(..).
 *  - The constant TRUE appears for an empty filter, {} and the text
 *    keyword TRUE; the text keyword FALSE is NOT(TRUE).
 *  - Literals (values[]) are null, bool, int, float (always finite) or
 *    text (valid UTF-8, NUL-terminated). null appears only in IN lists.
 *    CMP, BETWEEN and LIKE never hold a null; LIKE's value is text.
 *  - IN has n_values >= 1.
 */
#ifndef HDB_CORE_FILTER_H
#define HDB_CORE_FILTER_H

#include "hanzodb.h"

/* Nesting limit of both parsers: parentheses and NOT in the text form,
 * $and/$or/$nor/$not in the JSON form. Deeper input is HDB_BAD_FILTER, so
 * every recursive walk of a tree (free, eval, bind, to_text) is bounded. */
#define HDB__FILTER_MAX_DEPTH 200

typedef enum hdb__expr_kind {
  HDB__EXPR_AND,         /* kids[0..n) */
  HDB__EXPR_OR,          /* kids[0..n) */
  HDB__EXPR_NOT,         /* kids[0] */
  HDB__EXPR_CMP,         /* path op values[0] */
  HDB__EXPR_IN,          /* path IN values[0..n_values) ; negated: NOT IN */
  HDB__EXPR_BETWEEN,     /* values[0] <= path <= values[1]; negated: NOT BETWEEN */
  HDB__EXPR_LIKE,        /* path LIKE values[0] (text); negated: NOT LIKE */
  HDB__EXPR_IS_NULL,     /* path IS NULL; negated: IS NOT NULL */
  HDB__EXPR_EXISTS,      /* EXISTS path */
  HDB__EXPR_TRUE         /* matches every row (empty filter, {}) */
} hdb__expr_kind;

typedef enum hdb__cmp_op {
  HDB__CMP_EQ,
  HDB__CMP_NE,
  HDB__CMP_LT,
  HDB__CMP_LE,
  HDB__CMP_GT,
  HDB__CMP_GE
} hdb__cmp_op;

/* A field reference: "meta.lang" is segs {"meta","lang"}, n_segs 2.
 * Segments are non-empty; a quoted name may contain any character,
 * including '.', so use segs (not text) to look things up. */
typedef struct hdb__path {
  char *text;   /* owned: segs joined by '.' (for messages); == segs[0] when n_segs == 1 */
  char **segs;  /* owned */
  size_t n_segs;
} hdb__path;

/* A text literal that is also RFC 3339 text, parsed once by the parsers so
 * that comparing it with a timestamp field does not reparse it per row. */
typedef struct hdb__lit_ts {
  int ok;      /* 1 when values[i] is text that hdb__timestamp_parse accepts */
  int64_t us;
} hdb__lit_ts;

typedef struct hdb__expr hdb__expr;
struct hdb__expr {
  hdb__expr_kind kind;
  int negated;         /* IN, BETWEEN, LIKE, IS_NULL */
  hdb__cmp_op op;      /* CMP */
  hdb__path path;      /* leaf kinds */
  hdb_value *values;   /* owned literals (null, bool, int, float, text) */
  size_t n_values;
  hdb__expr **kids;    /* owned */
  size_t n_kids;
  size_t pos;          /* 1-based byte offset in the source (text form), for messages; 0 for JSON */
  hdb__lit_ts *ts;     /* owned, n_values entries, or NULL when no literal is a timestamp */
};

/* Parses either form (JSON when the first non-space character is '{').
 * NULL or blank text gives a TRUE expression. *out is owned
 * (hdb__expr_free). HDB_BAD_FILTER with "at line:col: ..." or the JSON key;
 * HDB_NOMEM. On failure *out is NULL and nothing leaks. */
hdb_status hdb__filter_parse(const char *text, hdb__expr **out, hdb_error *err);
hdb_status hdb__filter_parse_text(const char *text, hdb__expr **out, hdb_error *err);
hdb_status hdb__filter_parse_json(const char *text, hdb__expr **out, hdb_error *err);
void hdb__expr_free(hdb__expr *e);

/* Checks every path against a strict table's schema (s non-NULL): the first
 * segment must be a column (HDB_NO_FIELD), a dotted path must start at a json
 * column (HDB_TYPE_MISMATCH), and literals must be comparable with the
 * column's type (HDB_TYPE_MISMATCH): int/float columns take numbers,
 * timestamp columns RFC 3339 text or int microseconds, text columns text,
 * bool columns true/false; LIKE needs a text column; json (the whole
 * column), blob and vector columns allow only IS [NOT] NULL and EXISTS.
 * Paths inside json are not type-checked. s == NULL checks nothing. */
hdb_status hdb__filter_bind(const hdb__expr *e, const hdb_schema *s, const char *table,
                            hdb_error *err);

/* 1 when the record matches (the filter is TRUE), else 0. Out of memory
 * while reading a json path (a string with escapes) counts as no match;
 * use hdb__filter_eval to see it. */
int hdb__filter_match(const hdb__expr *e, const hdb_record *r);

/* Like hdb__filter_match, but reports out of memory: HDB_OK with *matched
 * 1 or 0, or HDB_NOMEM (err filled, *matched 0). */
hdb_status hdb__filter_eval(const hdb__expr *e, const hdb_record *r, int *matched,
                            hdb_error *err);

/* Resolves a path against a record. Top-level fields give their value; a
 * dotted path looks inside a json field. Returns 1 and fills *out when the
 * path is present (scratch may be used to hold the json-extracted value's
 * text; call hdb__value_release(scratch) afterwards), 0 when absent, and
 * -1 when out of memory (then *out is null). scratch is set to null on
 * entry. A json leaf maps: number -> int when integral and within int64,
 * else float; string -> text; true/false -> bool; null -> null (present);
 * object/array -> json (its compact text). *out borrows from the record or
 * from scratch. */
int hdb__path_resolve(const hdb__path *p, const hdb_record *r, hdb_value *out, hdb_value *scratch);

/* Canonical text form of the tree (for tests and debugging): every node
 * fully parenthesized, keywords upper case, names quoted when they are not
 * plain identifiers or are keywords. It parses back to the same tree.
 * Owned (hdb__free_mem); NULL when out of memory. */
char *hdb__expr_to_text(const hdb__expr *e);

/* SQL LIKE with % and _ and backslash escape, on bytes; 1 on match.
 * _ matches one character: one byte, or one whole UTF-8 sequence. A
 * trailing lone backslash matches a backslash. */
int hdb__like_match(const char *s, size_t slen, const char *pat, size_t plen);

/* ---- shared by the two parsers (filter_common.c) ---- */

/* Line and column (1-based; the column counts UTF-8 characters) of byte
 * offset off in text. */
void hdb__filter_position(const char *text, size_t off, size_t *line, size_t *col);
/* A zeroed node of that kind; NULL when out of memory. */
hdb__expr *hdb__expr_new(hdb__expr_kind kind);
/* Appends kid to e->kids. Takes ownership of kid: on failure kid is freed. */
hdb_status hdb__expr_add_kid(hdb__expr *e, hdb__expr *kid);
/* Appends a copy of literal v (null, bool, int, float or text) to e->values. */
hdb_status hdb__expr_add_value(hdb__expr *e, const hdb_value *v);
/* Appends a copy of segment s[0..n) to p and rebuilds p->text. */
hdb_status hdb__path_push(hdb__path *p, const char *s, size_t n);
/* Fills e->ts for text literals that are timestamps (call once the values
 * are complete). */
hdb_status hdb__expr_prepare_ts(hdb__expr *e);
/* 1 when s[0..n) is a keyword of the text form, in any case (AND OR NOT
 * IN BETWEEN LIKE IS NULL TRUE FALSE EXISTS): such a name must be quoted. */
int hdb__filter_is_keyword(const char *s, size_t n);
/* Locale-independent strtod of s[0..n) (the syntax already checked);
 * 0 on success, -1 when out of memory. */
int hdb__filter_strtod(const char *s, size_t n, double *out);

#endif
