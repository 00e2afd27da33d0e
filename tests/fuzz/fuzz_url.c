/*
 * fuzz_url.c - libFuzzer target for the database URL parser and the config
 * resolver: any bytes must give HDB_OK or HDB_BAD_URL, never a crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/url.h"
#include "hanzodb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  hdb__url u;
  hdb_error err;
  hdb_status st = hdb__url_parse(text, &u, &err);
  if (st == HDB_OK) {
    for (size_t i = 0; i < u.n_params; i++) (void)hdb__url_param_get(&u, u.params[i].key);
    hdb__url_free(&u);
  } else if (st != HDB_BAD_URL && st != HDB_NOMEM) {
    abort();
  }
  hdb_config cfg = HDB_CONFIG_INIT;
  cfg.url = text;
  hdb_selection sel;
  (void)hdb_select(&cfg, &sel, &err);
  free(text);
  return 0;
}
