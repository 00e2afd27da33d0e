/*
 * fuzz_filter.c - libFuzzer target for the filter parsers (text and JSON
 * form), the evaluator and the in-place json path walker.
 *
 * For each input: parse it; a filter that parses must evaluate against a
 * fixed record, bind (or fail cleanly) against a fixed schema, print to
 * canonical text that parses back to the same text and the same result.
 * A parse failure must be HDB_BAD_FILTER with a message. The input is
 * also used raw as the text of a json field (never validated) that fixed
 * path filters walk, and split in two as a LIKE subject and pattern.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
 *     tests/fuzz/fuzz_filter.c src/core/[a-z]*.c -lcjson -lsodium -lm -o fuzz_filter
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hanzodb.h"
#include "core/alloc.h"
#include "core/filter.h"
#include "core/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hdb_record *rec;
static hdb_schema *schema;
static hdb__expr *walks;

static void init(void) {
  if (rec) return;
  rec = hdb_record_new("r1");
  schema = hdb_schema_new();
  if (!rec || !schema) abort();
  if (hdb_record_set_text(rec, "type", "test") != HDB_OK ||
      hdb_record_set_int(rec, "year", 2021) != HDB_OK ||
      hdb_record_set_float(rec, "score", 1.5) != HDB_OK ||
      hdb_record_set_bool(rec, "archived", 0) != HDB_OK ||
      hdb_record_set_null(rec, "tag") != HDB_OK ||
      hdb_record_set_timestamp(rec, "ts", INT64_C(1705744800000000)) != HDB_OK ||
      hdb_record_set_text(rec, "name", "caf\xc3\xa9 100%_a\\b") != HDB_OK ||
      hdb_record_set_json(rec, "meta",
                          "{\"lang\":\"en\",\"n\":5,\"f\":-2.5e3,\"z\":null,\"t\":true,"
                          "\"deep\":{\"k\":\"v\",\"a\":[1,{\"b\":2}]},\"q\\\"k\":\"x\\ny\\u00e9\","
                          "\"big\":123456789012345678901234567890}") != HDB_OK)
    abort();
  if (hdb_schema_add(schema, "type", HDB_TYPE_TEXT) != HDB_OK ||
      hdb_schema_add(schema, "year", HDB_TYPE_INT) != HDB_OK ||
      hdb_schema_add(schema, "score", HDB_TYPE_FLOAT) != HDB_OK ||
      hdb_schema_add(schema, "archived", HDB_TYPE_BOOL) != HDB_OK ||
      hdb_schema_add(schema, "tag", HDB_TYPE_TEXT) != HDB_OK ||
      hdb_schema_add(schema, "ts", HDB_TYPE_TIMESTAMP) != HDB_OK ||
      hdb_schema_add(schema, "name", HDB_TYPE_TEXT) != HDB_OK ||
      hdb_schema_add(schema, "meta", HDB_TYPE_JSON) != HDB_OK ||
      hdb_schema_add_vector(schema, "emb", 2, HDB_METRIC_L2) != HDB_OK)
    abort();
  if (hdb__filter_parse("j.a = 1 OR j.a.b LIKE '%x%' OR EXISTS j.\"a b\" OR j.a IN (1, 'x', true, 2.5)"
                        " OR j.a.b.c IS NULL OR j.k BETWEEN 0 AND 10 OR j IS NULL",
                        &walks, NULL) != HDB_OK)
    abort();
}

static void check_filter(const char *text) {
  hdb__expr *e = NULL, *e2 = NULL;
  hdb_error err = {0};
  hdb_status st = hdb__filter_parse(text, &e, &err);
  if (st != HDB_OK) {
    if (st != HDB_BAD_FILTER || e != NULL || err.code != st || err.message[0] == '\0') abort();
    return;
  }
  int m = hdb__filter_match(e, rec);
  st = hdb__filter_bind(e, schema, "docs", &err);
  if (st != HDB_OK && st != HDB_NO_FIELD && st != HDB_TYPE_MISMATCH) abort();
  char *t = hdb__expr_to_text(e);
  if (!t) abort();
  if (hdb__filter_parse(t, &e2, &err) != HDB_OK) abort(); /* canonical text reparses */
  char *t2 = hdb__expr_to_text(e2);
  if (!t2 || strcmp(t, t2) != 0) abort(); /* ... to itself */
  if (hdb__filter_match(e2, rec) != m) abort();
  hdb__free_mem(t);
  hdb__free_mem(t2);
  hdb__expr_free(e);
  hdb__expr_free(e2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init();
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';

  check_filter(text);

  /* The raw bytes as an (unvalidated, unterminated) json field: the walker
   * must stay within the length whatever the bytes. A blob has the same
   * {data, len} layout as json text, so it is retagged in place. */
  hdb_record *raw = hdb_record_new("raw");
  if (raw && hdb_record_set_blob(raw, "j", data, size) == HDB_OK) {
    hdb_value *v = (hdb_value *)hdb__record_value(raw, "j");
    v->type = HDB_TYPE_JSON;
    int matched;
    if (hdb__filter_eval(walks, raw, &matched, NULL) != HDB_OK) abort();
  }
  hdb_record_free(raw);

  size_t half = size / 2;
  (void)hdb__like_match(text, half, text + half, size - half);

  free(text);
  return 0;
}
