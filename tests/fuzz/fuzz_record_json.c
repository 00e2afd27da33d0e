/*
 * fuzz_record_json.c - libFuzzer target for the record JSON decoder (the
 * format of the CLI's JSON Lines and of file:// tables) and the schema JSON
 * decoder. A record that parses must print and parse back to the same JSON.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hanzodb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hdb_record *r = NULL;
  hdb_error err;
  if (hdb_record_from_json((const char *)data, size, 0, &r, &err) == HDB_OK) {
    char *json = NULL;
    if (hdb_record_to_json(r, &json) == HDB_OK) {
      hdb_record *again = NULL;
      if (hdb_record_from_json(json, strlen(json), 0, &again, &err) != HDB_OK) abort();
      char *json2 = NULL;
      if (hdb_record_to_json(again, &json2) != HDB_OK) abort();
      if (strcmp(json, json2) != 0) abort(); /* printing is a fixed point */
      hdb_free(json2);
      hdb_record_free(again);
      hdb_free(json);
    }
    hdb_record_free(r);
  }
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  hdb_schema *s = NULL;
  if (hdb_schema_from_json(text, &s, &err) == HDB_OK) {
    char *json = NULL;
    if (hdb_schema_to_json(s, &json) == HDB_OK) hdb_free(json);
    hdb_schema_free(s);
  }
  free(text);
  return 0;
}
