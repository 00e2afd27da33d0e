/*
 * filter_json.c - the Mongo-style JSON form of filters, parsed with cJSON
 * and converted into the same hdb__expr tree as the text form.
 *
 *   {"role":"admin", "age":{"$gt":30,"$lte":60}, "$or":[{..},{..}]}
 *
 * An object is the AND of its members ({} is TRUE). A member is either a
 * logical operator ($and/$or/$nor: a non-empty array of objects; $not: an
 * object) or a field ("meta.lang" is a dotted path) whose value is a
 * literal (equality; null means IS NULL) or an object of field operators:
 * $eq $ne $gt $gte $lt $lte (a literal; $eq null is IS NULL, $ne null is IS
 * NOT NULL), $in $nin (a non-empty array of literals, null allowed),
 * $between ([lo,hi]), $like (text), $exists (true/false) and $not (an
 * object of field operators). Several operators on one field are ANDed.
 *
 * Semantics are the text form's (SQL's three-valued logic), not MongoDB's:
 * {"f":{"$ne":1}} does not match rows where f is null or missing.
 *
 * cJSON keeps numbers as doubles, so integers beyond 2^53 lose precision
 * here (the text form keeps them exactly). A number that is integral and
 * within int64 becomes an int literal, anything else a float.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/filter.h"
#include "core/json.h"
#include "core/record.h"

typedef struct jctx {
  hdb_error *err;
  int depth;
} jctx;

/* Field names in messages are cut so the message keeps its tail. */
#define NAME_FMT "%.100s"

static hdb_status parse_object(jctx *c, const cJSON *obj, const char *where, hdb__expr **out);

static hdb_status enter(jctx *c) {
  if (++c->depth > HDB__FILTER_MAX_DEPTH)
    return hdb__fail(c->err, HDB_BAD_FILTER, "filter nests deeper than %d levels",
                     HDB__FILTER_MAX_DEPTH);
  return HDB_OK;
}

/* Converts a JSON scalar into a literal; text is owned by the caller.
 * Arrays and objects are errors naming the field and operator. */
static hdb_status literal_of(jctx *c, const cJSON *j, const char *field, const char *op,
                             hdb_value *v) {
  memset(v, 0, sizeof *v);
  if (cJSON_IsNull(j)) {
    v->type = HDB_TYPE_NULL;
  } else if (cJSON_IsBool(j)) {
    v->type = HDB_TYPE_BOOL;
    v->as.boolean = cJSON_IsTrue(j);
  } else if (cJSON_IsNumber(j)) {
    double d = j->valuedouble;
    if (!isfinite(d))
      return hdb__fail(c->err, HDB_BAD_FILTER, "field '" NAME_FMT "': number out of range in '%s'",
                       field, op);
    /* 2^63 is exactly representable; [-2^63, 2^63) converts without UB. */
    if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
      v->type = HDB_TYPE_INT;
      v->as.i = (int64_t)d;
    } else {
      v->type = HDB_TYPE_FLOAT;
      v->as.f = d;
    }
  } else if (cJSON_IsString(j)) {
    size_t n = strlen(j->valuestring);
    if (!hdb__utf8_valid(j->valuestring, n))
      return hdb__fail(c->err, HDB_BAD_FILTER, "field '" NAME_FMT "': text in '%s' is not valid UTF-8",
                       field, op);
    char *s = hdb__strndup(j->valuestring, n);
    if (!s) return HDB_NOMEM;
    v->type = HDB_TYPE_TEXT;
    v->as.text.data = s;
    v->as.text.len = n;
  } else {
    return hdb__fail(c->err, HDB_BAD_FILTER,
                     "field '" NAME_FMT "': '%s' needs a number, text, true, false%s, not %s", field, op,
                     strcmp(op, "$in") == 0 || strcmp(op, "$nin") == 0 ? " or null" : "",
                     cJSON_IsArray(j) ? "an array" : "an object");
  }
  return HDB_OK;
}

static hdb_status add_literal(jctx *c, hdb__expr *e, const cJSON *j, const char *field,
                              const char *op) {
  hdb_value v;
  hdb_status st = literal_of(c, j, field, op, &v);
  if (st != HDB_OK) return st;
  st = hdb__expr_add_value(e, &v);
  if (v.type == HDB_TYPE_TEXT) hdb__free_mem((void *)v.as.text.data);
  return st;
}

/* A leaf of `kind` on field (split at '.'). */
static hdb_status leaf_new(jctx *c, hdb__expr_kind kind, const char *field, hdb__expr **out) {
  *out = NULL;
  if (!hdb__utf8_valid(field, strlen(field)))
    return hdb__fail(c->err, HDB_BAD_FILTER, "field name '" NAME_FMT "' is not valid UTF-8", field);
  hdb__expr *e = hdb__expr_new(kind);
  if (!e) return HDB_NOMEM;
  const char *s = field;
  for (;;) {
    const char *dot = strchr(s, '.');
    size_t n = dot ? (size_t)(dot - s) : strlen(s);
    if (n == 0) {
      hdb__expr_free(e);
      return hdb__fail(c->err, HDB_BAD_FILTER, "field '" NAME_FMT "': empty name in the path",
                       field);
    }
    hdb_status st = hdb__path_push(&e->path, s, n);
    if (st != HDB_OK) {
      hdb__expr_free(e);
      return st;
    }
    if (!dot) break;
    s = dot + 1;
  }
  *out = e;
  return HDB_OK;
}

/* Wraps *e in NOT; frees *e on failure. */
static hdb_status negate(hdb__expr **e) {
  hdb__expr *n = hdb__expr_new(HDB__EXPR_NOT);
  if (!n) {
    hdb__expr_free(*e);
    *e = NULL;
    return HDB_NOMEM;
  }
  hdb_status st = hdb__expr_add_kid(n, *e);
  *e = NULL;
  if (st != HDB_OK) {
    hdb__expr_free(n);
    return st;
  }
  *e = n;
  return HDB_OK;
}

/* Combines the kids collected in `all` (an AND or OR node): none gives
 * TRUE (only for AND), one gives the kid itself. Consumes all. */
static hdb_status collapse(hdb__expr *all, hdb__expr **out) {
  if (all->n_kids == 1) {
    *out = all->kids[0];
    all->n_kids = 0;
    hdb__expr_free(all);
    return HDB_OK;
  }
  if (all->n_kids == 0) all->kind = HDB__EXPR_TRUE;
  *out = all;
  return HDB_OK;
}

static int is_scalar(const cJSON *j) {
  return cJSON_IsNull(j) || cJSON_IsBool(j) || cJSON_IsNumber(j) || cJSON_IsString(j);
}

/* field <op> j for the comparison operators (and $eq/$ne with null). */
static hdb_status cmp_leaf(jctx *c, const char *field, const char *opname, hdb__cmp_op op,
                           const cJSON *j, hdb__expr **out) {
  hdb_status st;
  if (cJSON_IsNull(j)) {
    if (op != HDB__CMP_EQ && op != HDB__CMP_NE)
      return hdb__fail(c->err, HDB_BAD_FILTER,
                       "field '" NAME_FMT "': '%s' needs a value, not null (the result is never true)",
                       field, opname);
    if ((st = leaf_new(c, HDB__EXPR_IS_NULL, field, out)) != HDB_OK) return st;
    (*out)->negated = op == HDB__CMP_NE;
    return HDB_OK;
  }
  if ((st = leaf_new(c, HDB__EXPR_CMP, field, out)) != HDB_OK) return st;
  (*out)->op = op;
  if ((st = add_literal(c, *out, j, field, opname)) != HDB_OK) goto fail;
  if ((st = hdb__expr_prepare_ts(*out)) != HDB_OK) goto fail;
  return HDB_OK;
fail:
  hdb__expr_free(*out);
  *out = NULL;
  return st;
}

static const struct {
  const char *name;
  hdb__cmp_op op;
} cmp_ops[] = {{"$eq", HDB__CMP_EQ}, {"$ne", HDB__CMP_NE}, {"$gt", HDB__CMP_GT},
               {"$gte", HDB__CMP_GE}, {"$lt", HDB__CMP_LT}, {"$lte", HDB__CMP_LE}};

static hdb_status field_ops(jctx *c, const char *field, const cJSON *ops, hdb__expr **out);

/* One field operator `name: j` on field. */
static hdb_status field_op(jctx *c, const char *field, const char *name, const cJSON *j,
                           hdb__expr **out) {
  hdb_status st;
  *out = NULL;
  for (size_t k = 0; k < sizeof cmp_ops / sizeof cmp_ops[0]; k++)
    if (strcmp(name, cmp_ops[k].name) == 0) return cmp_leaf(c, field, name, cmp_ops[k].op, j, out);

  if (strcmp(name, "$in") == 0 || strcmp(name, "$nin") == 0) {
    if (!cJSON_IsArray(j) || !j->child)
      return hdb__fail(c->err, HDB_BAD_FILTER, "field '" NAME_FMT "': '%s' needs a non-empty array",
                       field, name);
    if ((st = leaf_new(c, HDB__EXPR_IN, field, out)) != HDB_OK) return st;
    (*out)->negated = name[1] == 'n';
    for (const cJSON *it = j->child; it; it = it->next)
      if ((st = add_literal(c, *out, it, field, name)) != HDB_OK) goto fail;
    if ((st = hdb__expr_prepare_ts(*out)) != HDB_OK) goto fail;
    return HDB_OK;
  }
  if (strcmp(name, "$between") == 0) {
    if (cJSON_GetArraySize(j) != 2 || !cJSON_IsArray(j) || !is_scalar(j->child) ||
        !is_scalar(j->child->next) || cJSON_IsNull(j->child) || cJSON_IsNull(j->child->next))
      return hdb__fail(c->err, HDB_BAD_FILTER,
                       "field '" NAME_FMT "': '$between' needs an array of two values [low, high]",
                       field);
    if ((st = leaf_new(c, HDB__EXPR_BETWEEN, field, out)) != HDB_OK) return st;
    if ((st = add_literal(c, *out, j->child, field, name)) != HDB_OK) goto fail;
    if ((st = add_literal(c, *out, j->child->next, field, name)) != HDB_OK) goto fail;
    if ((st = hdb__expr_prepare_ts(*out)) != HDB_OK) goto fail;
    return HDB_OK;
  }
  if (strcmp(name, "$like") == 0) {
    if (!cJSON_IsString(j))
      return hdb__fail(c->err, HDB_BAD_FILTER, "field '" NAME_FMT "': '$like' needs a text pattern",
                       field);
    if ((st = leaf_new(c, HDB__EXPR_LIKE, field, out)) != HDB_OK) return st;
    if ((st = add_literal(c, *out, j, field, name)) != HDB_OK) goto fail;
    return HDB_OK;
  }
  if (strcmp(name, "$exists") == 0) {
    if (!cJSON_IsBool(j))
      return hdb__fail(c->err, HDB_BAD_FILTER, "field '" NAME_FMT "': '$exists' needs true or false",
                       field);
    if ((st = leaf_new(c, HDB__EXPR_EXISTS, field, out)) != HDB_OK) return st;
    return cJSON_IsTrue(j) ? HDB_OK : negate(out);
  }
  if (strcmp(name, "$not") == 0) {
    if (!cJSON_IsObject(j) || !j->child)
      return hdb__fail(c->err, HDB_BAD_FILTER,
                       "field '" NAME_FMT "': '$not' needs an object of operators, e.g. {\"$gt\":1}",
                       field);
    if ((st = enter(c)) != HDB_OK) return st;
    if ((st = field_ops(c, field, j, out)) != HDB_OK) return st;
    c->depth--;
    return negate(out);
  }
  return hdb__fail(c->err, HDB_BAD_FILTER, "unknown operator '%.40s' on field '" NAME_FMT "'", name,
                   field);
fail:
  hdb__expr_free(*out);
  *out = NULL;
  return st;
}

/* {"$op": .., "$op2": ..} on field: the AND of each operator. */
static hdb_status field_ops(jctx *c, const char *field, const cJSON *ops, hdb__expr **out) {
  *out = NULL;
  hdb__expr *all = hdb__expr_new(HDB__EXPR_AND);
  if (!all) return HDB_NOMEM;
  hdb_status st = HDB_OK;
  for (const cJSON *it = ops->child; it; it = it->next) {
    if (it->string[0] != '$') {
      st = hdb__fail(c->err, HDB_BAD_FILTER,
                     "field '" NAME_FMT "': '%.40s' is not an operator; objects cannot be compared "
                     "(use a dotted path like " NAME_FMT ".%.40s)",
                     field, it->string, field, it->string);
      goto fail;
    }
    hdb__expr *e = NULL;
    if ((st = field_op(c, field, it->string, it, &e)) != HDB_OK) goto fail;
    if ((st = hdb__expr_add_kid(all, e)) != HDB_OK) goto fail;
  }
  return collapse(all, out);
fail:
  hdb__expr_free(all);
  return st;
}

/* $and / $or / $nor: a non-empty array of filter objects. */
static hdb_status logical(jctx *c, const char *name, const cJSON *j, hdb__expr **out) {
  *out = NULL;
  if (!cJSON_IsArray(j) || !j->child)
    return hdb__fail(c->err, HDB_BAD_FILTER, "'%s' needs a non-empty array of filter objects", name);
  hdb__expr *all = hdb__expr_new(strcmp(name, "$and") == 0 ? HDB__EXPR_AND : HDB__EXPR_OR);
  if (!all) return HDB_NOMEM;
  hdb_status st;
  int i = 0;
  for (const cJSON *it = j->child; it; it = it->next, i++) {
    char where[32];
    snprintf(where, sizeof where, "element %d of '%s'", i, name);
    hdb__expr *e = NULL;
    if ((st = parse_object(c, it, where, &e)) != HDB_OK) goto fail;
    if ((st = hdb__expr_add_kid(all, e)) != HDB_OK) goto fail;
  }
  if ((st = collapse(all, out)) != HDB_OK) return st;
  return strcmp(name, "$nor") == 0 ? negate(out) : HDB_OK;
fail:
  hdb__expr_free(all);
  return st;
}

static hdb_status member(jctx *c, const cJSON *it, hdb__expr **out) {
  const char *key = it->string;
  *out = NULL;
  if (key[0] == '$') {
    if (strcmp(key, "$and") == 0 || strcmp(key, "$or") == 0 || strcmp(key, "$nor") == 0)
      return logical(c, key, it, out);
    if (strcmp(key, "$not") == 0) {
      hdb_status st = parse_object(c, it, "'$not'", out);
      return st != HDB_OK ? st : negate(out);
    }
    return hdb__fail(c->err, HDB_BAD_FILTER,
                     "unknown operator '%.40s' (expected a field name or $and, $or, $nor, $not)", key);
  }
  if (key[0] == '\0') return hdb__fail(c->err, HDB_BAD_FILTER, "empty field name");
  if (cJSON_IsObject(it)) {
    if (!it->child)
      return hdb__fail(c->err, HDB_BAD_FILTER,
                       "field '" NAME_FMT "': empty operator object (an object cannot be compared)",
                       key);
    return field_ops(c, key, it, out);
  }
  if (cJSON_IsArray(it))
    return hdb__fail(c->err, HDB_BAD_FILTER,
                     "field '" NAME_FMT "': an array cannot be compared (use {\"$in\":[...]})", key);
  return cmp_leaf(c, key, "$eq", HDB__CMP_EQ, it, out);
}

/* A filter object: the AND of its members. */
static hdb_status parse_object(jctx *c, const cJSON *obj, const char *where, hdb__expr **out) {
  *out = NULL;
  hdb_status st;
  if (!cJSON_IsObject(obj))
    return hdb__fail(c->err, HDB_BAD_FILTER, "%s must be a JSON object", where);
  if ((st = enter(c)) != HDB_OK) return st;
  hdb__expr *all = hdb__expr_new(HDB__EXPR_AND);
  if (!all) return HDB_NOMEM;
  for (const cJSON *it = obj->child; it; it = it->next) {
    hdb__expr *e = NULL;
    if ((st = member(c, it, &e)) != HDB_OK) goto fail;
    if ((st = hdb__expr_add_kid(all, e)) != HDB_OK) goto fail;
  }
  c->depth--;
  return collapse(all, out);
fail:
  hdb__expr_free(all);
  return st;
}

hdb_status hdb__filter_parse_json(const char *text, hdb__expr **out, hdb_error *err) {
  *out = NULL;
  const char *src = text ? text : "";
  const char *p = src;
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v') p++;
  if (*p == '\0') {
    *out = hdb__expr_new(HDB__EXPR_TRUE);
    return *out ? HDB_OK : hdb__fail(err, HDB_NOMEM, "out of memory parsing a filter");
  }
  hdb__json_init();
  const char *end = NULL;
  /* ParseWithOpts: the length-taking variant wants the NUL counted in
   * the length before it accepts require_null_terminated. */
  cJSON *root = cJSON_ParseWithOpts(src, &end, 1);
  if (!root) {
    /* cJSON reports running out of memory as a parse error; a tiny
     * allocation failing right after tells the two apart. */
    void *probe = hdb__malloc(16);
    if (!probe) return hdb__fail(err, HDB_NOMEM, "out of memory parsing a JSON filter");
    hdb__free_mem(probe);
    size_t off = end && end >= src ? (size_t)(end - src) : 0, line, col;
    hdb__filter_position(src, off, &line, &col);
    return hdb__fail(err, HDB_BAD_FILTER, "at %zu:%zu: malformed JSON filter", line, col);
  }
  jctx c = {.err = err};
  hdb_status st = parse_object(&c, root, "a JSON filter", out);
  cJSON_Delete(root);
  if (st == HDB_NOMEM) hdb__fail(err, HDB_NOMEM, "out of memory parsing a JSON filter");
  return st;
}
