/*
 * json.h - records and values to and from JSON (cJSON underneath).
 *
 * The JSON form is the CLI's and the file backend's: blobs as
 * {"$base64":"..."}, timestamps as RFC 3339 text, vectors as arrays.
 * cJSON's allocations are routed through alloc.h (hdb__json_init).
 */
#ifndef HDB_CORE_JSON_H
#define HDB_CORE_JSON_H

#include <cjson/cJSON.h>

#include "hanzodb.h"

/* Installs the allocation hooks into cJSON; idempotent, thread-safe. */
void hdb__json_init(void);

/* Parses text[0..len) as one JSON value (whitespace around it allowed) with
 * cJSON; *out is owned (cJSON_Delete). Unlike a bare cJSON_Parse this is
 * thread-safe about errors, tells HDB_NOMEM from HDB_BAD_JSON, and gives
 * "at LINE:COL: ..." messages. Numbers are only doubles in the tree. */
hdb_status hdb__json_parse(const char *text, size_t len, cJSON **out, hdb_error *err);

/* cJSON node for a value; NULL when out of memory. */
cJSON *hdb__value_to_cjson(const hdb_value *v);
/* Value (owned payload) from a cJSON node, by the rules of
 * hdb_record_from_json. */
hdb_status hdb__value_from_cjson(const cJSON *node, hdb_value *out, hdb_error *err);
/* {"id":..., fields...} plus "_distance" when distance is not NaN. */
cJSON *hdb__record_to_cjson(const hdb_record *r, double distance);
hdb_status hdb__record_from_cjson(const cJSON *obj, int require_id, hdb_record **out,
                                  hdb_error *err);
/* Owned compact text of a record (hdb_free), with "_distance" when not NaN. */
hdb_status hdb__record_to_json_text(const hdb_record *r, double distance, char **out);

/* Line and column (both 1-based, column in bytes) of byte offset `off` in
 * text, for error messages. */
void hdb__text_position(const char *text, size_t off, size_t *line, size_t *col);

/*
 * Numbers. A JSON number becomes an int when its text has no '.', 'e' or
 * 'E' and fits int64 (so 9007199254740993 stays exact); otherwise a float.
 * Where only a cJSON node is at hand (hdb__value_from_cjson) the source
 * text is gone and an integral double below 2^53 in magnitude counts as an
 * int. Floats are written in the shortest form that reads back to the same
 * double, always with a '.' or an exponent ("1.0", "1e+300") so they read
 * back as floats; NaN and infinities are written as null. Vectors are
 * written with the shortest form that reads back to the same float32.
 *
 * In trees built by hdb__value_to_cjson / hdb__record_to_cjson, int, float,
 * vector and json values are cJSON_Raw nodes holding their exact JSON text
 * (cJSON itself would round int64 through double and print 1.0 as 1).
 */

/* Owned compact JSON text of one value (hdb_free); *len may be NULL.
 * HDB_NOMEM only. */
hdb_status hdb__value_to_json_text(const hdb_value *v, char **out, size_t *len);

/* Validates JSON text (any JSON value) and writes it compactly: no
 * whitespace, strings with minimal escapes, numbers exactly as written.
 * *out is owned (hdb_free), *len may be NULL. HDB_BAD_JSON with the
 * position, HDB_NOMEM. */
hdb_status hdb__json_normalize(const char *text, size_t len, char **out, size_t *out_len,
                               hdb_error *err);

/* Parses a JSON array of numbers into float32 components (*out owned,
 * hdb_free; may be a 1-byte allocation when the array is empty).
 * HDB_TYPE_MISMATCH when the text is not an array of numbers,
 * HDB_DIMENSION past HDB_MAX_VECTOR_DIM components, HDB_NOMEM. Components
 * too large for float32 become infinities (the caller checks finiteness). */
hdb_status hdb__json_to_vector(const char *text, size_t len, float **out, uint32_t *dim,
                               hdb_error *err);

/* Looks up a path inside JSON text: segs[0..n) are object keys, or array
 * indexes when a segment is all digits. Returns 1 with *out set to the
 * value found (owned payload, hdb__value_release; JSON null gives a null
 * value), 0 when the path is absent, -1 on malformed text or out of memory
 * (HDB_NOMEM in *st when st is non-NULL, else HDB_BAD_JSON). With n == 0
 * the whole document is the value. */
int hdb__json_path_value(const char *json, size_t len, const char *const *segs, size_t n,
                         hdb_value *out, hdb_status *st);

#endif
