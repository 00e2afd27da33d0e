/*
 * schema.c - hdb_schema: an ordered list of typed columns, its JSON form,
 * and conforming records to it.
 *
 * Invariants: column names are unique and follow the field-name rules (not
 * reserved, not "id"); vector columns have 1..HDB_MAX_VECTOR_DIM
 * components and a concrete metric (DEFAULT is stored as L2); other
 * columns have dim 0 and metric DEFAULT. Column order is the order of
 * addition, which for the JSON form is the key order.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "err.h"
#include "json.h"
#include "record.h"
#include "schema.h"
#include "value.h"

hdb_schema *hdb_schema_new(void)
{
  return hdb__calloc(1, sizeof(hdb_schema));
}

void hdb_schema_free(hdb_schema *s)
{
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n; i++)
    hdb__free_mem(s->cols[i].name);
  hdb__free_mem(s->cols);
  hdb__free_mem(s);
}

static hdb_status add_column(hdb_schema *s, const char *name, hdb_type type, uint32_t dim,
                             hdb_metric metric)
{
  if (hdb__schema_column(s, name) != NULL)
    return HDB_EXISTS;
  char *dup = hdb__strdup(name);
  if (dup == NULL)
    return HDB_NOMEM;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    hdb__column *c = hdb__realloc(s->cols, cap * sizeof *c);
    if (c == NULL) {
      hdb__free_mem(dup);
      return HDB_NOMEM;
    }
    s->cols = c;
    s->cap = cap;
  }
  s->cols[s->n].name = dup;
  s->cols[s->n].type = type;
  s->cols[s->n].dim = dim;
  s->cols[s->n].metric = metric;
  s->n++;
  return HDB_OK;
}

hdb_schema *hdb_schema_clone(const hdb_schema *s)
{
  if (s == NULL)
    return NULL;
  hdb_schema *c = hdb_schema_new();
  if (c == NULL)
    return NULL;
  for (size_t i = 0; i < s->n; i++) {
    const hdb__column *col = &s->cols[i];
    if (add_column(c, col->name, col->type, col->dim, col->metric) != HDB_OK) {
      hdb_schema_free(c);
      return NULL;
    }
  }
  return c;
}

/* Column names follow the record field rules: "id" is the record id. */
static int column_name_ok(const char *name)
{
  return hdb__name_valid(name, 0) && strcmp(name, "id") != 0;
}

hdb_status hdb_schema_add(hdb_schema *s, const char *name, hdb_type type)
{
  if (s == NULL || !column_name_ok(name))
    return HDB_INVALID_ARGUMENT;
  if (type <= HDB_TYPE_NULL || type >= HDB_TYPE_VECTOR)
    return HDB_INVALID_ARGUMENT;
  return add_column(s, name, type, 0, HDB_METRIC_DEFAULT);
}

hdb_status hdb_schema_add_vector(hdb_schema *s, const char *name, uint32_t dim, hdb_metric metric)
{
  if (s == NULL || !column_name_ok(name))
    return HDB_INVALID_ARGUMENT;
  if (dim == 0 || dim > HDB_MAX_VECTOR_DIM)
    return HDB_INVALID_ARGUMENT;
  if (metric == HDB_METRIC_DEFAULT)
    metric = HDB_METRIC_L2;
  if (metric != HDB_METRIC_L2 && metric != HDB_METRIC_COSINE && metric != HDB_METRIC_DOT)
    return HDB_INVALID_ARGUMENT;
  return add_column(s, name, HDB_TYPE_VECTOR, dim, metric);
}

size_t hdb_schema_column_count(const hdb_schema *s)
{
  return s ? s->n : 0;
}

hdb_status hdb_schema_column(const hdb_schema *s, size_t i, hdb_column_info *out)
{
  if (s == NULL || out == NULL)
    return HDB_INVALID_ARGUMENT;
  if (i >= s->n)
    return HDB_NOT_FOUND;
  out->name = s->cols[i].name;
  out->type = s->cols[i].type;
  out->dim = s->cols[i].dim;
  out->metric = s->cols[i].metric;
  return HDB_OK;
}

long hdb_schema_find(const hdb_schema *s, const char *name)
{
  if (s == NULL || name == NULL)
    return -1;
  for (size_t i = 0; i < s->n; i++) {
    if (strcmp(s->cols[i].name, name) == 0)
      return (long)i;
  }
  return -1;
}

const hdb__column *hdb__schema_column(const hdb_schema *s, const char *name)
{
  long i = hdb_schema_find(s, name);
  return i < 0 ? NULL : &s->cols[i];
}

const hdb__column *hdb__schema_sole_vector(const hdb_schema *s, int *n_vectors)
{
  const hdb__column *found = NULL;
  int n = 0;
  for (size_t i = 0; s != NULL && i < s->n; i++) {
    if (s->cols[i].type == HDB_TYPE_VECTOR) {
      found = &s->cols[i];
      n++;
    }
  }
  if (n_vectors)
    *n_vectors = n;
  return n == 1 ? found : NULL;
}

/* ------------------------------------------------------------------ */
/* Conforming records                                                  */
/* ------------------------------------------------------------------ */

hdb_status hdb__schema_conform(const hdb_schema *s, const char *table, hdb_record *rec,
                               int check_id, hdb_error *err)
{
  const char *t = table ? table : "?";
  if (check_id) {
    hdb_status st = hdb__id_check(rec->id, err);
    if (st != HDB_OK) {
      hdb__err_prefix(err, "table '%s'", t);
      return st;
    }
  }
  if (s == NULL)
    return HDB_OK;
  for (size_t i = 0; i < rec->n; i++) {
    hdb__field *f = &rec->fields[i];
    const hdb__column *col = hdb__schema_column(s, f->name);
    hdb_status st;
    if (col == NULL)
      st = hdb__fail(err, HDB_NO_FIELD, "no column '%s'", f->name);
    else if (f->finite && col->type == HDB_TYPE_VECTOR && f->value.type == HDB_TYPE_VECTOR &&
             f->value.as.vector.dim == col->dim)
      st = HDB_OK; /* checked when it was set (record.h) */
    else if (f->value.type != col->type && (st = hdb__record_detach(rec, i)) != HDB_OK)
      st = hdb__fail(err, st, "out of memory converting field '%s'", f->name);
    else /* a conversion releases the old payload: owned, see above */
      st = hdb__value_conform(&f->value, col->type, col->dim, NULL, f->name, err);
    if (st != HDB_OK) {
      if (rec->id != NULL)
        hdb__err_prefix(err, "table '%s', record '%.64s'", t, rec->id);
      else
        hdb__err_prefix(err, "table '%s'", t);
      return st;
    }
  }
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Type text                                                           */
/* ------------------------------------------------------------------ */

static const struct {
  const char *name;
  hdb_type type;
} scalar_types[] = {
    {"bool", HDB_TYPE_BOOL}, {"int", HDB_TYPE_INT},   {"float", HDB_TYPE_FLOAT},
    {"text", HDB_TYPE_TEXT}, {"blob", HDB_TYPE_BLOB}, {"timestamp", HDB_TYPE_TIMESTAMP},
    {"json", HDB_TYPE_JSON},
};

static const char *skip_space(const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

hdb_status hdb__type_parse(const char *text, hdb_type *type, uint32_t *dim, hdb_metric *metric,
                           hdb_error *err)
{
  if (text == NULL)
    return hdb__fail(err, HDB_BAD_SCHEMA, "no type");
  const char *p = skip_space(text);
  size_t n = strlen(p);
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  for (size_t i = 0; i < sizeof scalar_types / sizeof scalar_types[0]; i++) {
    if (strlen(scalar_types[i].name) == n && strncasecmp(p, scalar_types[i].name, n) == 0) {
      *type = scalar_types[i].type;
      *dim = 0;
      *metric = HDB_METRIC_DEFAULT;
      return HDB_OK;
    }
  }
  if (n < 6 || strncasecmp(p, "vector", 6) != 0)
    return hdb__fail(err, HDB_BAD_SCHEMA,
                     "unknown type '%.64s' (bool, int, float, text, blob, timestamp, json, "
                     "vector(DIM[,l2|cosine|dot]))",
                     text);
  const char *q = skip_space(p + 6);
  if (*q != '(')
    return hdb__fail(err, HDB_BAD_SCHEMA, "type '%.64s': expected vector(DIM[,METRIC])", text);
  q = skip_space(q + 1);
  uint64_t d = 0;
  const char *digits = q;
  while (*q >= '0' && *q <= '9' && d <= HDB_MAX_VECTOR_DIM)
    d = d * 10 + (uint64_t)(*q++ - '0');
  if (q == digits)
    return hdb__fail(err, HDB_BAD_SCHEMA, "type '%.64s': expected a dimension", text);
  if (d == 0 || d > HDB_MAX_VECTOR_DIM || (*q >= '0' && *q <= '9'))
    return hdb__fail(err, HDB_BAD_SCHEMA, "type '%.64s': vector dimension must be 1..%u", text,
                     HDB_MAX_VECTOR_DIM);
  q = skip_space(q);
  hdb_metric m = HDB_METRIC_L2;
  if (*q == ',') {
    q = skip_space(q + 1);
    const char *ms = q;
    while (isalnum((unsigned char)*q) || *q == '_')
      q++;
    size_t ml = (size_t)(q - ms);
    if (ml == 2 && strncasecmp(ms, "l2", 2) == 0)
      m = HDB_METRIC_L2;
    else if (ml == 6 && strncasecmp(ms, "cosine", 6) == 0)
      m = HDB_METRIC_COSINE;
    else if (ml == 3 && strncasecmp(ms, "dot", 3) == 0)
      m = HDB_METRIC_DOT;
    else
      return hdb__fail(err, HDB_BAD_SCHEMA, "type '%.64s': unknown metric '%.*s' (l2, cosine, dot)",
                       text, (int)(ml > 32 ? 32 : ml), ms);
    q = skip_space(q);
  }
  if (*q != ')' || skip_space(q + 1) != p + n)
    return hdb__fail(err, HDB_BAD_SCHEMA, "type '%.64s': expected vector(DIM[,METRIC])", text);
  *type = HDB_TYPE_VECTOR;
  *dim = (uint32_t)d;
  *metric = m;
  return HDB_OK;
}

void hdb__type_format(hdb_type type, uint32_t dim, hdb_metric metric, char *buf, size_t cap)
{
  if (cap == 0)
    return;
  if (type == HDB_TYPE_VECTOR)
    snprintf(buf, cap, "vector(%u,%s)", (unsigned)dim,
             hdb_metric_name(metric == HDB_METRIC_DEFAULT ? HDB_METRIC_L2 : metric));
  else
    snprintf(buf, cap, "%s", hdb_type_name(type));
}

/* ------------------------------------------------------------------ */
/* JSON form                                                           */
/* ------------------------------------------------------------------ */

hdb_status hdb_schema_from_json(const char *json, hdb_schema **out, hdb_error *err)
{
  if (out != NULL)
    *out = NULL;
  if (json == NULL || out == NULL)
    return hdb__fail(err, HDB_INVALID_ARGUMENT, "hdb_schema_from_json: NULL argument");
  cJSON *root = NULL;
  hdb_status st = hdb__json_parse(json, strlen(json), &root, err);
  if (st != HDB_OK)
    return st;
  hdb_schema *s = NULL;
  if (!cJSON_IsObject(root)) {
    st = hdb__fail(err, HDB_BAD_SCHEMA,
                   "a schema is a JSON object of column names to types, e.g. "
                   "{\"text\":\"text\",\"embedding\":\"vector(384,cosine)\"}");
    goto done;
  }
  s = hdb_schema_new();
  if (s == NULL) {
    st = hdb__fail(err, HDB_NOMEM, "out of memory");
    goto done;
  }
  for (const cJSON *c = root->child; c != NULL; c = c->next) {
    if (!column_name_ok(c->string)) {
      st = hdb__fail(err, HDB_BAD_SCHEMA,
                     "'%.64s' is not a valid column name (letters, digits and '_', not starting "
                     "with a digit or '_', not \"id\", at most %u bytes)",
                     c->string, HDB_MAX_NAME_LEN);
      goto done;
    }
    if (!cJSON_IsString(c)) {
      st = hdb__fail(err, HDB_BAD_SCHEMA, "column '%s': the type must be a string", c->string);
      goto done;
    }
    hdb_type type;
    uint32_t dim;
    hdb_metric metric;
    st = hdb__type_parse(c->valuestring, &type, &dim, &metric, err);
    if (st != HDB_OK) {
      hdb__err_prefix(err, "column '%s'", c->string);
      goto done;
    }
    st = add_column(s, c->string, type, dim, metric);
    if (st == HDB_EXISTS) {
      st = hdb__fail(err, HDB_BAD_SCHEMA, "column '%s' appears twice", c->string);
      goto done;
    }
    if (st != HDB_OK) {
      hdb__fail(err, st, "out of memory");
      goto done;
    }
  }
  *out = s;
  s = NULL;
  st = HDB_OK;
done:
  hdb_schema_free(s);
  cJSON_Delete(root);
  return st;
}

hdb_status hdb_schema_to_json(const hdb_schema *s, char **json)
{
  if (json != NULL)
    *json = NULL;
  if (s == NULL || json == NULL)
    return HDB_INVALID_ARGUMENT;
  hdb__json_init();
  cJSON *o = cJSON_CreateObject();
  if (o == NULL)
    return HDB_NOMEM;
  for (size_t i = 0; i < s->n; i++) {
    char type[48];
    hdb__type_format(s->cols[i].type, s->cols[i].dim, s->cols[i].metric, type, sizeof type);
    if (cJSON_AddStringToObject(o, s->cols[i].name, type) == NULL) {
      cJSON_Delete(o);
      return HDB_NOMEM;
    }
  }
  char *text = cJSON_PrintUnformatted(o); /* allocated through alloc.h hooks */
  cJSON_Delete(o);
  if (text == NULL)
    return HDB_NOMEM;
  *json = text;
  return HDB_OK;
}

hdb_status hdb__schema_search_column(const hdb_schema *s, const char *table, const char *column,
                                     const hdb__column **out, hdb_error *err) {
  *out = NULL;
  if (!s) {
    if (column)
      return hdb__fail(err, HDB_NO_FIELD,
                       "table '%s' has no vector column '%s': it is schemaless, and vector "
                       "columns need a schema",
                       table, column);
    return hdb__fail(err, HDB_NO_FIELD,
                     "table '%s' has no vector column: it is schemaless, and vector columns "
                     "need a schema",
                     table);
  }
  if (!column) {
    int nv = 0;
    const hdb__column *col = hdb__schema_sole_vector(s, &nv);
    if (nv == 0) return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no vector column", table);
    if (!col)
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "table '%s' has %d vector columns; name one",
                       table, nv);
    *out = col;
    return HDB_OK;
  }
  const hdb__column *col = hdb__schema_column(s, column);
  if (!col) return hdb__fail(err, HDB_NO_FIELD, "table '%s' has no column '%s'", table, column);
  if (col->type != HDB_TYPE_VECTOR)
    return hdb__fail(err, HDB_NO_FIELD, "column '%s' of table '%s' is %s, not a vector column",
                     column, table, hdb_type_name(col->type));
  *out = col;
  return HDB_OK;
}
