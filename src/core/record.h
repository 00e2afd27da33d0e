/*
 * record.h - the inside of hdb_record, shared by core and backends.
 *
 * A record is an id and an ordered array of (name, owned value) fields.
 * Records are small (tens of fields), so lookup is a linear scan; that is
 * faster than hashing at this size and keeps the set order.
 */
#ifndef HDB_CORE_RECORD_H
#define HDB_CORE_RECORD_H

#include "hanzodb.h"

typedef struct hdb__field {
  char *name;    /* in the record's name blocks (never freed on its own) */
  hdb_value value; /* owned payload */
  /* 1: value is a vector hdb_record_set found finite. The record owns its
   * copy and nothing in the library writes to it, so it stays finite;
   * clones carry the flag. 0: not known (rows decoded by backends, JSON,
   * views); check before storing. */
  unsigned char finite;
  /* 1: the payload is the caller's memory (hdb_record_set_*_ref): read,
   * never written or freed here; clones get their own copy. */
  unsigned char borrowed;
} hdb__field;

/* Field names live in a few blocks per record instead of one allocation
 * each (building a record is on every write path; see record.c). */
typedef struct hdb__name_block hdb__name_block;

struct hdb_record {
  char *id; /* owned, may be NULL */
  size_t n, cap;
  hdb__field *fields;
  hdb__name_block *names; /* owned chain; NULL in borrowed views */
  size_t names_dead;      /* bytes of names whose fields were removed */
};

/* Bytes the record's name blocks hold (live and dead names): for tests
 * that check set/unset cycles stay bounded. */
size_t hdb__record_name_bytes(const hdb_record *r);
/* Index of the field, or -1. */
long hdb__record_find(const hdb_record *r, const char *name);
/* 1 when field f's vector is finite: known (f->finite) or checked now. */
int hdb__record_vector_finite(const hdb__field *f);
/* Field value or NULL when absent (borrowed). */
const hdb_value *hdb__record_value(const hdb_record *r, const char *name);
/* Moves ownership of v's payload into the record (replacing any field of
 * that name). On failure v is released. */
hdb_status hdb__record_put_owned(hdb_record *r, const char *name, hdb_value *v);
/* Makes field i own its payload (a copy of borrowed memory), so that code
 * that releases or rewrites payloads (hdb__value_conform) may work on it.
 * HDB_NOMEM leaves the record as it was. */
hdb_status hdb__record_detach(hdb_record *r, size_t i);
/* New record holding only the id and the listed fields of src (all when
 * fields is NULL); owned. */
hdb_record *hdb__record_project(const hdb_record *src, const char *const *fields, size_t n);
/* Applies patch: every field of patch replaces or adds that field of dst;
 * null values remove the field. */
hdb_status hdb__record_apply_patch(hdb_record *dst, const hdb_record *patch);

/* Valid field or table name: 1..HDB_MAX_NAME_LEN of [A-Za-z0-9_], not
 * starting with a digit. reserved_ok allows a leading '_'. */
int hdb__name_valid(const char *name, int reserved_ok);
/* Valid record id: 1..HDB_MAX_ID_LEN bytes, valid UTF-8, no NUL.
 * Returns HDB_OK or fails with HDB_BAD_ID naming the problem. */
hdb_status hdb__id_check(const char *id, hdb_error *err);
/* 1 when s[0..len) is valid UTF-8. */
int hdb__utf8_valid(const char *s, size_t len);

#endif
