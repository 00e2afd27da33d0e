/*
 * schema.h - the inside of hdb_schema and the checks that use it.
 */
#ifndef HDB_CORE_SCHEMA_H
#define HDB_CORE_SCHEMA_H

#include "hanzodb.h"

typedef struct hdb__column {
  char *name; /* owned */
  hdb_type type;
  uint32_t dim;
  hdb_metric metric; /* never DEFAULT for vectors once added */
} hdb__column;

struct hdb_schema {
  size_t n, cap;
  hdb__column *cols;
};

const hdb__column *hdb__schema_column(const hdb_schema *s, const char *name);
/* The only vector column, or NULL when there are none or several. */
const hdb__column *hdb__schema_sole_vector(const hdb_schema *s, int *n_vectors);
/* The column a vector search uses: `column` (which must be a vector
 * column), or the table's only vector column when column is NULL. s NULL is
 * a schemaless table, which has none. HDB_NO_FIELD / HDB_INVALID_ARGUMENT
 * with messages naming the table and column. */
hdb_status hdb__schema_search_column(const hdb_schema *s, const char *table, const char *column,
                                     const hdb__column **out, hdb_error *err);

/*
 * Makes rec fit the table (in place): with a schema, every field must be a
 * column (HDB_NO_FIELD) and is converted with hdb__value_conform; without a
 * schema (s == NULL) fields are kept as they are. Checks the id too when
 * check_id is set. Messages name the table, the record id and the field.
 */
hdb_status hdb__schema_conform(const hdb_schema *s, const char *table, hdb_record *rec,
                               int check_id, hdb_error *err);

/* Parses "vector(384,cosine)", "int", ... (used by hdb_schema_from_json). */
hdb_status hdb__type_parse(const char *text, hdb_type *type, uint32_t *dim, hdb_metric *metric,
                           hdb_error *err);
/* Writes "vector(384,cosine)" / "int" into buf. */
void hdb__type_format(hdb_type type, uint32_t dim, hdb_metric metric, char *buf, size_t cap);

#endif
