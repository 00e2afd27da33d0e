/*
 * record.c - hdb_record: an id plus an ordered array of owned fields.
 *
 * Invariants: field names are unique within a record; every field owns its
 * value's payload (value.h) and its name lives in the record's name blocks
 * (a bump arena: one allocation for a record's names instead of one per
 * field, since records are built on every write path); the order is the order in which
 * fields were first set, and replacing a field keeps its position. Every
 * mutating function either succeeds or leaves the record as it was.
 *
 * Public setters check what they are given (names, UTF-8, JSON, vector
 * finiteness); hdb__record_put_owned is the unchecked internal path for
 * code that already holds valid values (backends, the JSON reader). A
 * vector the setter checked carries hdb__field.finite, so that writers do
 * not read it all again to check it (hdb__record_vector_finite).
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "json.h"
#include "record.h"
#include "value.h"

/* ------------------------------------------------------------------ */
/* Names, ids, UTF-8                                                   */
/* ------------------------------------------------------------------ */

int hdb__name_valid(const char *name, int reserved_ok)
{
  if (name == NULL || name[0] == '\0')
    return 0;
  if (name[0] >= '0' && name[0] <= '9')
    return 0;
  if (name[0] == '_' && !reserved_ok)
    return 0;
  size_t i = 0;
  for (; name[i]; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
    if (i >= HDB_MAX_NAME_LEN)
      return 0;
  }
  return 1;
}

int hdb__utf8_valid(const char *str, size_t len)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0)
        lo = 0xA0; /* overlong */
      else if (c == 0xED)
        hi = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0)
        lo = 0x90; /* overlong */
      else if (c == 0xF4)
        hi = 0x8F; /* above U+10FFFF */
    } else {
      return 0;
    }
    if (len - i < n)
      return 0;
    if (s[i + 1] < lo || s[i + 1] > hi)
      return 0;
    for (size_t k = 2; k < n; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return 0;
    }
    i += n;
  }
  return 1;
}

hdb_status hdb__id_check(const char *id, hdb_error *err)
{
  if (id == NULL)
    return hdb__fail(err, HDB_BAD_ID, "record has no id");
  size_t len = strlen(id);
  if (len == 0)
    return hdb__fail(err, HDB_BAD_ID, "id is empty");
  if (len > HDB_MAX_ID_LEN)
    return hdb__fail(err, HDB_BAD_ID, "id is %zu bytes, longer than the %u-byte limit", len,
                     HDB_MAX_ID_LEN);
  if (!hdb__utf8_valid(id, len))
    return hdb__fail(err, HDB_BAD_ID, "id is not valid UTF-8");
  return HDB_OK;
}

/* Field names a caller may set: valid, not reserved, and not "id", which
 * is the record id in the JSON form and in SQL tables. */
static int field_name_ok(const char *field)
{
  return hdb__name_valid(field, 0) && strcmp(field, "id") != 0;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

hdb_record *hdb_record_new(const char *id)
{
  hdb_record *r = hdb__calloc(1, sizeof *r);
  if (r == NULL)
    return NULL;
  if (id != NULL) {
    r->id = hdb__strdup(id);
    if (r->id == NULL) {
      hdb__free_mem(r);
      return NULL;
    }
  }
  return r;
}

/* Lets go of f's payload: freed when owned, forgotten when borrowed. */
static void field_release(hdb__field *f)
{
  if (f->borrowed) {
    memset(&f->value, 0, sizeof f->value);
    f->value.type = HDB_TYPE_NULL;
    f->borrowed = 0;
  } else {
    hdb__value_release(&f->value);
  }
}

static void fields_free(hdb__field *fields, size_t n)
{
  for (size_t i = 0; i < n; i++)
    field_release(&fields[i]);
  hdb__free_mem(fields);
}

/* ------------------------------------------------------------------ */
/* Name blocks                                                         */
/* ------------------------------------------------------------------ */

/* Invariant: blocks never move once allocated (fields point into them);
 * the newest block is first. Removing a field leaves its name's bytes
 * unused (names_dead); when the dead bytes outweigh the live ones the
 * live names are copied into one fresh block, so set/unset cycles on a
 * long-lived record cannot grow it without bound. */
struct hdb__name_block {
  hdb__name_block *next;
  size_t used, cap;
  char data[];
};

enum { NAME_BLOCK_MIN = 192 };

static void names_free(hdb__name_block *b)
{
  while (b != NULL) {
    hdb__name_block *next = b->next;
    hdb__free_mem(b);
    b = next;
  }
}

static hdb__name_block *name_block_new(size_t need)
{
  size_t cap = need > NAME_BLOCK_MIN ? need : NAME_BLOCK_MIN;
  hdb__name_block *b = hdb__malloc(sizeof *b + cap);
  if (b != NULL) {
    b->next = NULL;
    b->used = 0;
    b->cap = cap;
  }
  return b;
}

static size_t names_total(const hdb__name_block *b)
{
  size_t t = 0;
  for (; b != NULL; b = b->next)
    t += b->used;
  return t;
}

/* Copies the live names into one block; on failure nothing changes. */
static void names_compact(hdb_record *r)
{
  size_t live = 0;
  for (size_t i = 0; i < r->n; i++)
    live += strlen(r->fields[i].name) + 1;
  hdb__name_block *b = name_block_new(live);
  if (b == NULL)
    return;
  for (size_t i = 0; i < r->n; i++) {
    size_t len = strlen(r->fields[i].name) + 1;
    memcpy(b->data + b->used, r->fields[i].name, len);
    r->fields[i].name = b->data + b->used;
    b->used += len;
  }
  names_free(r->names);
  r->names = b;
  r->names_dead = 0;
}

size_t hdb__record_name_bytes(const hdb_record *r)
{
  return r ? names_total(r->names) : 0;
}

static int names_hold(const hdb__name_block *b, const char *p)
{
  for (; b != NULL; b = b->next) {
    if (p >= b->data && p < b->data + b->cap)
      return 1;
  }
  return 0;
}

/* A copy of name in r's blocks, or NULL when out of memory. */
static char *name_store(hdb_record *r, const char *name)
{
  size_t len = strlen(name) + 1;
  /* name may be a removed field's bytes in these very blocks: then the
   * compaction (which frees them) waits for a later call. */
  if (r->names_dead > 1024 && r->names_dead * 2 > names_total(r->names) &&
      !names_hold(r->names, name))
    names_compact(r);
  hdb__name_block *b = r->names;
  if (b == NULL || b->cap - b->used < len) {
    b = name_block_new(len);
    if (b == NULL)
      return NULL;
    b->next = r->names;
    r->names = b;
  }
  char *p = b->data + b->used;
  memcpy(p, name, len);
  b->used += len;
  return p;
}

void hdb_record_free(hdb_record *r)
{
  if (r == NULL)
    return;
  fields_free(r->fields, r->n);
  names_free(r->names);
  hdb__free_mem(r->id);
  hdb__free_mem(r);
}

hdb_record *hdb_record_clone(const hdb_record *r)
{
  if (r == NULL)
    return NULL;
  return hdb__record_project(r, NULL, 0);
}

hdb_status hdb_record_set_id(hdb_record *r, const char *id)
{
  if (r == NULL)
    return HDB_INVALID_ARGUMENT;
  char *copy = NULL;
  if (id != NULL) {
    hdb_status st = hdb__id_check(id, NULL);
    if (st != HDB_OK)
      return st;
    copy = hdb__strdup(id);
    if (copy == NULL)
      return HDB_NOMEM;
  }
  hdb__free_mem(r->id);
  r->id = copy;
  return HDB_OK;
}

const char *hdb_record_id(const hdb_record *r)
{
  return r ? r->id : NULL;
}

/* ------------------------------------------------------------------ */
/* Internal field access                                               */
/* ------------------------------------------------------------------ */

long hdb__record_find(const hdb_record *r, const char *name)
{
  if (r == NULL || name == NULL)
    return -1;
  for (size_t i = 0; i < r->n; i++) {
    if (strcmp(r->fields[i].name, name) == 0)
      return (long)i;
  }
  return -1;
}

int hdb__record_vector_finite(const hdb__field *f)
{
  return f->finite ||
         hdb__vector_first_nonfinite(f->value.as.vector.data, f->value.as.vector.dim) < 0;
}

const hdb_value *hdb__record_value(const hdb_record *r, const char *name)
{
  long i = hdb__record_find(r, name);
  return i < 0 ? NULL : &r->fields[i].value;
}

/* 1 when p points into f's owned vector or blob payload. */
static int inside_payload(const hdb__field *f, const void *p)
{
  size_t size;
  if (f->borrowed)
    return 0;
  if (f->value.type == HDB_TYPE_VECTOR)
    size = (size_t)f->value.as.vector.dim * sizeof(float);
  else if (f->value.type == HDB_TYPE_BLOB)
    size = f->value.as.blob.len;
  else
    return 0;
  uintptr_t at = (uintptr_t)p, lo = (uintptr_t)f->value.as.blob.data;
  return at >= lo && at < lo + size;
}

/* Moves v into field `name`, with the flags of hdb__field. On failure an
 * owned v is released and the record is as it was. */
static hdb_status put(hdb_record *r, const char *name, hdb_value *v, unsigned char finite,
                      unsigned char borrowed)
{
  hdb__field moved = {.value = *v, .finite = finite, .borrowed = borrowed};
  v->type = HDB_TYPE_NULL; /* ownership moved */
  long i = hdb__record_find(r, name);
  if (i >= 0 && borrowed && inside_payload(&r->fields[i], moved.value.as.blob.data)) {
    /* A _ref setter given memory of the very payload it replaces, which
     * is about to be freed: the field gets a copy instead. */
    if (hdb__value_copy(&moved.value, &moved.value) != HDB_OK)
      return HDB_NOMEM;
    moved.borrowed = 0;
  }
  if (i >= 0) {
    field_release(&r->fields[i]);
    moved.name = r->fields[i].name;
    r->fields[i] = moved;
    return HDB_OK;
  }
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 8;
    hdb__field *f = hdb__realloc(r->fields, cap * sizeof *f);
    if (f == NULL) {
      field_release(&moved);
      return HDB_NOMEM;
    }
    r->fields = f;
    r->cap = cap;
  }
  moved.name = name_store(r, name);
  if (moved.name == NULL) {
    field_release(&moved);
    return HDB_NOMEM;
  }
  r->fields[r->n++] = moved;
  return HDB_OK;
}

hdb_status hdb__record_put_owned(hdb_record *r, const char *name, hdb_value *v)
{
  if (r == NULL || name == NULL) {
    hdb__value_release(v);
    return HDB_INVALID_ARGUMENT;
  }
  return put(r, name, v, 0, 0);
}

hdb_status hdb__record_detach(hdb_record *r, size_t i)
{
  hdb__field *f = &r->fields[i];
  if (!f->borrowed)
    return HDB_OK;
  hdb_value copy;
  if (hdb__value_copy(&copy, &f->value) != HDB_OK)
    return HDB_NOMEM;
  f->value = copy;
  f->borrowed = 0;
  return HDB_OK;
}

hdb_record *hdb__record_project(const hdb_record *src, const char *const *fields, size_t n)
{
  hdb_record *r = hdb_record_new(src->id);
  if (r == NULL)
    return NULL;
  size_t count = fields ? n : src->n;
  for (size_t k = 0; k < count; k++) {
    const hdb__field *f;
    if (fields != NULL) {
      long i = hdb__record_find(src, fields[k]);
      if (i < 0 || hdb__record_find(r, fields[k]) >= 0)
        continue; /* absent, or listed twice */
      f = &src->fields[i];
    } else {
      f = &src->fields[k];
    }
    hdb_value v;
    if (hdb__value_copy(&v, &f->value) != HDB_OK || put(r, f->name, &v, f->finite, 0) != HDB_OK) {
      hdb_record_free(r);
      return NULL;
    }
  }
  return r;
}

static void remove_at(hdb_record *r, size_t i)
{
  r->names_dead += strlen(r->fields[i].name) + 1;
  field_release(&r->fields[i]);
  memmove(&r->fields[i], &r->fields[i + 1], (r->n - i - 1) * sizeof r->fields[0]);
  r->n--;
}

hdb_status hdb__record_apply_patch(hdb_record *dst, const hdb_record *patch)
{
  /* Patch a copy and swap it in, so a failure leaves dst untouched. */
  hdb_record *tmp = hdb__record_project(dst, NULL, 0);
  if (tmp == NULL)
    return HDB_NOMEM;
  for (size_t k = 0; k < patch->n; k++) {
    const hdb__field *f = &patch->fields[k];
    if (f->value.type == HDB_TYPE_NULL) {
      long i = hdb__record_find(tmp, f->name);
      if (i >= 0)
        remove_at(tmp, (size_t)i);
      continue;
    }
    hdb_value v;
    hdb_status st = hdb__value_copy(&v, &f->value);
    if (st == HDB_OK)
      st = put(tmp, f->name, &v, f->finite, 0);
    if (st != HDB_OK) {
      hdb_record_free(tmp);
      return st;
    }
  }
  hdb_record old = *dst;
  *dst = *tmp;
  *tmp = old;
  hdb_record_free(tmp);
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Public setters and getters                                          */
/* ------------------------------------------------------------------ */

hdb_status hdb_record_set(hdb_record *r, const char *field, const hdb_value *v)
{
  if (r == NULL || v == NULL || !field_name_ok(field))
    return HDB_INVALID_ARGUMENT;
  hdb_value owned;
  switch (v->type) {
  case HDB_TYPE_NULL:
  case HDB_TYPE_INT:
  case HDB_TYPE_FLOAT:
  case HDB_TYPE_TIMESTAMP:
    owned = *v;
    break;
  case HDB_TYPE_BOOL:
    owned = *v;
    owned.as.boolean = v->as.boolean != 0;
    break;
  case HDB_TYPE_TEXT:
    if (v->as.text.data == NULL && v->as.text.len > 0)
      return HDB_INVALID_ARGUMENT;
    if (v->as.text.len > 0 && !hdb__utf8_valid(v->as.text.data, v->as.text.len))
      return HDB_INVALID_ARGUMENT;
    if (hdb__value_copy(&owned, v) != HDB_OK)
      return HDB_NOMEM;
    break;
  case HDB_TYPE_BLOB:
    if (v->as.blob.data == NULL && v->as.blob.len > 0)
      return HDB_INVALID_ARGUMENT;
    if (hdb__value_copy(&owned, v) != HDB_OK)
      return HDB_NOMEM;
    break;
  case HDB_TYPE_JSON: {
    if (v->as.text.data == NULL)
      return HDB_INVALID_ARGUMENT;
    char *text = NULL;
    size_t len = 0;
    hdb_status st = hdb__json_normalize(v->as.text.data, v->as.text.len, &text, &len, NULL);
    if (st != HDB_OK)
      return st;
    owned.type = HDB_TYPE_JSON;
    owned.as.text.data = text;
    owned.as.text.len = len;
    break;
  }
  case HDB_TYPE_VECTOR:
    if (v->as.vector.dim == 0 || v->as.vector.dim > HDB_MAX_VECTOR_DIM ||
        v->as.vector.data == NULL)
      return HDB_INVALID_ARGUMENT;
    if (hdb__vector_first_nonfinite(v->as.vector.data, v->as.vector.dim) >= 0)
      return HDB_NOT_FINITE;
    if (hdb__value_copy(&owned, v) != HDB_OK)
      return HDB_NOMEM;
    return put(r, field, &owned, 1, 0); /* checked above, and the record owns the copy */
  default:
    return HDB_INVALID_ARGUMENT;
  }
  return hdb__record_put_owned(r, field, &owned);
}

hdb_status hdb_record_set_null(hdb_record *r, const char *field)
{
  hdb_value v = {.type = HDB_TYPE_NULL};
  return hdb_record_set(r, field, &v);
}

hdb_status hdb_record_set_bool(hdb_record *r, const char *field, int b)
{
  hdb_value v = {.type = HDB_TYPE_BOOL, .as.boolean = b};
  return hdb_record_set(r, field, &v);
}

hdb_status hdb_record_set_int(hdb_record *r, const char *field, int64_t i)
{
  hdb_value v = {.type = HDB_TYPE_INT, .as.i = i};
  return hdb_record_set(r, field, &v);
}

hdb_status hdb_record_set_float(hdb_record *r, const char *field, double f)
{
  hdb_value v = {.type = HDB_TYPE_FLOAT, .as.f = f};
  return hdb_record_set(r, field, &v);
}

hdb_status hdb_record_set_text(hdb_record *r, const char *field, const char *s)
{
  if (s == NULL)
    return HDB_INVALID_ARGUMENT;
  return hdb_record_set_textn(r, field, s, strlen(s));
}

hdb_status hdb_record_set_textn(hdb_record *r, const char *field, const char *s, size_t len)
{
  if (s == NULL && len > 0)
    return HDB_INVALID_ARGUMENT;
  hdb_value v = {.type = HDB_TYPE_TEXT, .as.text = {s, len}};
  return hdb_record_set(r, field, &v);
}

hdb_status hdb_record_set_blob(hdb_record *r, const char *field, const void *p, size_t len)
{
  hdb_value v = {.type = HDB_TYPE_BLOB, .as.blob = {p, len}};
  return hdb_record_set(r, field, &v);
}

hdb_status hdb_record_set_timestamp(hdb_record *r, const char *field, int64_t us)
{
  hdb_value v = {.type = HDB_TYPE_TIMESTAMP, .as.timestamp_us = us};
  return hdb_record_set(r, field, &v);
}

hdb_status hdb_record_set_json(hdb_record *r, const char *field, const char *json)
{
  if (json == NULL)
    return HDB_INVALID_ARGUMENT;
  hdb_value v = {.type = HDB_TYPE_JSON, .as.text = {json, strlen(json)}};
  return hdb_record_set(r, field, &v);
}

hdb_status hdb_record_set_vector(hdb_record *r, const char *field, const float *vec,
                                 uint32_t dim)
{
  hdb_value v = {.type = HDB_TYPE_VECTOR, .as.vector = {vec, dim}};
  return hdb_record_set(r, field, &v);
}

hdb_status hdb_record_set_vector_ref(hdb_record *r, const char *field, const float *vec,
                                     uint32_t dim)
{
  if (r == NULL || !field_name_ok(field) || vec == NULL || dim == 0 || dim > HDB_MAX_VECTOR_DIM)
    return HDB_INVALID_ARGUMENT;
  if (hdb__vector_first_nonfinite(vec, dim) >= 0)
    return HDB_NOT_FINITE;
  hdb_value v = {.type = HDB_TYPE_VECTOR, .as.vector = {vec, dim}};
  /* finite: checked above, and the caller keeps the memory unchanged
   * (the contract of the _ref setters). */
  return put(r, field, &v, 1, 1);
}

hdb_status hdb_record_set_blob_ref(hdb_record *r, const char *field, const void *p, size_t len)
{
  if (len == 0)
    return hdb_record_set_blob(r, field, p, 0); /* nothing to share */
  if (r == NULL || !field_name_ok(field) || p == NULL)
    return HDB_INVALID_ARGUMENT;
  hdb_value v = {.type = HDB_TYPE_BLOB, .as.blob = {p, len}};
  return put(r, field, &v, 0, 1);
}

hdb_status hdb_record_unset(hdb_record *r, const char *field)
{
  if (r == NULL || field == NULL)
    return HDB_INVALID_ARGUMENT;
  long i = hdb__record_find(r, field);
  if (i < 0)
    return HDB_NOT_FOUND;
  remove_at(r, (size_t)i);
  return HDB_OK;
}

size_t hdb_record_field_count(const hdb_record *r)
{
  return r ? r->n : 0;
}

hdb_status hdb_record_field(const hdb_record *r, size_t i, const char **name, hdb_value *value)
{
  if (r == NULL)
    return HDB_INVALID_ARGUMENT;
  if (i >= r->n)
    return HDB_NOT_FOUND;
  if (name)
    *name = r->fields[i].name;
  if (value)
    *value = r->fields[i].value;
  return HDB_OK;
}

hdb_status hdb_record_get(const hdb_record *r, const char *field, hdb_value *value)
{
  if (r == NULL || field == NULL)
    return HDB_INVALID_ARGUMENT;
  long i = hdb__record_find(r, field);
  if (i < 0)
    return HDB_NOT_FOUND;
  if (value)
    *value = r->fields[i].value;
  return HDB_OK;
}
