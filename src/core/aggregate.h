/*
 * aggregate.h - the one definition of hdb_aggregate's semantics, shared by
 * every backend (memory and native fold here; the SQL backends push what
 * they can down to their server and fall back to these helpers).
 *
 * Value rules (nulls and absent fields are skipped everywhere):
 *  - count(field) counts non-null values; count without a field counts rows;
 *  - sum: bool counts as 0/1; bools, ints and timestamps sum as int64 and
 *    the result is an int; any float makes it a float; int64 overflow falls
 *    back to the float sum;
 *  - avg: a float (the exact int sum divided, unless a float or an
 *    overflow was met);
 *  - min/max: by hdb__value_order, keeping the value's type (text allowed);
 *  - an aggregate over no values is null, except count (0);
 *  - blob, vector and json values are HDB_TYPE_MISMATCH for every
 *    aggregate, text for sum/avg.
 * Groups: ascending hdb__value_order of the group value, null (or absent)
 * first; without group_by exactly one group, even over no rows.
 * Result records: id = the group value as text ("" for the single group,
 * "null" for the null group), then the group_by field (null for the null
 * group), then one field per aggregate named "count" (count of rows) or
 * "<op>_<field>".
 */
#ifndef HDB_CORE_AGGREGATE_H
#define HDB_CORE_AGGREGATE_H

#include <stdint.h>

#include "hanzodb.h"

#include "core/cursor.h"

/* Room for any result name: "<op>_<field>" with op at most 5 bytes. */
#define HDB__AGG_NAME_CAP (8 + HDB_MAX_NAME_LEN + 2)

/* The running state of one aggregate. All-zero is the empty state. min
 * and max are borrowed: the values folded must outlive the accumulator
 * until hdb__agg_result has copied them. */
typedef struct hdb__agg_acc {
  uint64_t n; /* values (or rows, for a count of rows) seen */
  int64_t isum;
  int overflow; /* isum left int64: fsum is the answer */
  double fsum;
  int any_float;
  const hdb_value *min, *max;
} hdb__agg_acc;

/* Whether op may take a non-null value of type t. */
int hdb__agg_accepts(hdb_agg_op op, hdb_type t);

/* Folds v (NULL or null: skipped) into ac. HDB_TYPE_MISMATCH, with a
 * message naming table, row_id and field, when op refuses v's type. */
hdb_status hdb__agg_fold(hdb__agg_acc *ac, hdb_agg_op op, const hdb_value *v, const char *table,
                         const char *row_id, const char *field, hdb_error *err);

/* Folds one record into accs[0..n_aggs) (a count of rows counts it). */
hdb_status hdb__agg_fold_record(hdb__agg_acc *accs, const hdb_agg *aggs, size_t n_aggs,
                                const hdb_record *rec, const char *table, hdb_error *err);

/* The aggregate's result in *out (owned payload; null when no values).
 * HDB_NOMEM (no message) when copying a min/max fails. */
hdb_status hdb__agg_result(const hdb__agg_acc *ac, hdb_agg_op op, hdb_value *out);

/* The group value as record id text: owned, NULL on OOM. g NULL (the
 * single group of a query without group_by) gives "". */
char *hdb__agg_group_id(const hdb_value *g);

/* Writes "count" (a count of rows) or "<op>_<field>" into name. */
void hdb__agg_result_name(const hdb_agg *a, char name[HDB__AGG_NAME_CAP]);

/* A new group record: id from g (NULL: the single group) and, when
 * group_by is set, the field group_by holding a copy of g. The caller owns
 * *out; HDB_NOMEM (no message) on failure, *out NULL. */
hdb_status hdb__agg_group_record_new(const char *group_by, const hdb_value *g, hdb_record **out);

/* Adds the result fields of accs[0..n_aggs) to r. HDB_NOMEM (no message). */
hdb_status hdb__agg_group_record_put(hdb_record *r, const hdb_agg *aggs, size_t n_aggs,
                                     const hdb__agg_acc *accs);

/* Checks a backend's field by its own rules (existence, "id", paths),
 * filling err in its words; ctx is the backend's table. */
typedef hdb_status (*hdb__agg_field_check)(const void *ctx, const char *field, const char *what,
                                           hdb_error *err);

/* Checks aggs and group_by before anything runs: known ops, a field where
 * one is needed, each field through check (what = "aggregate I (OP)" or
 * "group_by"), and, when schema is set (a strict table), the column types
 * (HDB_TYPE_MISMATCH "cannot OP column", "cannot group by" vector/blob). */
hdb_status hdb__agg_check(const char *table, const hdb_schema *schema, const hdb_agg *aggs,
                          size_t n_aggs, const char *group_by, hdb__agg_field_check check,
                          const void *ctx, hdb_error *err);

/* Aggregates recs[0..n) (borrowed; array order is the fold order within a
 * group) and appends one record per group to out, in group order. Checks
 * every row's group value first (vector/blob: HDB_TYPE_MISMATCH naming the
 * row). Errors: HDB_TYPE_MISMATCH, HDB_NOMEM ("out of memory aggregating
 * table 'T'"). On error out may hold the groups already appended; the
 * caller frees it either way. */
hdb_status hdb__agg_records(const char *table, const hdb_agg *aggs, size_t n_aggs,
                            const char *group_by, const hdb_record *const *recs, size_t n,
                            hdb__rowbuf *out, hdb_error *err);

#endif
