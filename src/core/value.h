/*
 * value.h - owned values, comparison, and conversion to a column's type.
 *
 * An hdb_value is a view; inside records the same struct is used with the
 * pointers owned by the record (allocated by hdb__value_copy, released by
 * hdb__value_release). Text and json payloads are always NUL-terminated.
 */
#ifndef HDB_CORE_VALUE_H
#define HDB_CORE_VALUE_H

#include "hanzodb.h"

/* Deep-copies src into dst (dst's old contents are not freed). */
hdb_status hdb__value_copy(hdb_value *dst, const hdb_value *src);
/* Frees what dst owns and sets it to null. */
void hdb__value_release(hdb_value *v);

/* Total order used for sorting and grouping: null < bool < numbers (int and
 * float by value) < text < blob < timestamp < json < vector; within a type,
 * by value (text and blob by bytes, json by its text, vectors
 * lexicographically). Returns <0, 0, >0. */
int hdb__value_order(const hdb_value *a, const hdb_value *b);

/* SQL-style comparison for filters: *cmp receives <0/0/>0 and the return is
 * 1 when the two are comparable (numbers with numbers, text with text, bool
 * with bool, timestamp with timestamp or RFC 3339 text, blob with blob),
 * 0 when not (either is null, or the types do not compare). */
int hdb__value_compare(const hdb_value *a, const hdb_value *b, int *cmp);

/* Equality used by filters (= and IN); same comparability rules. */
int hdb__value_equal(const hdb_value *a, const hdb_value *b, int *eq);

/* Converts v (owned) in place to a column of type `type` (dim for vectors):
 *  - float column: int accepted; int column: float accepted when integral;
 *  - timestamp column: int (microseconds) or RFC 3339 text;
 *  - json column: any value becomes its JSON text (text becomes a JSON string);
 *  - vector column: a vector, or json text holding an array of numbers;
 *    the dimension must match and every component be finite.
 * null is accepted for every type. Errors (message names `field`):
 * HDB_TYPE_MISMATCH, HDB_DIMENSION, HDB_NOT_FINITE. */
hdb_status hdb__value_conform(hdb_value *v, hdb_type type, uint32_t dim, const char *table,
                              const char *field, hdb_error *err);

/* Checks that a float vector is finite. Returns the index of the first
 * NaN/Inf component, or -1. */
long hdb__vector_first_nonfinite(const float *v, uint32_t dim);

/* RFC 3339 <-> microseconds since the epoch (UTC). Parse accepts
 * YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM|-HH:MM) and a space
 * instead of T. Returns 0 on success, -1 on malformed text. */
int hdb__timestamp_parse(const char *s, size_t len, int64_t *us);
/* Writes "2024-01-20T10:00:00.000000Z" (27 chars + NUL) into buf[32]. */
void hdb__timestamp_format(int64_t us, char buf[32]);

#endif
