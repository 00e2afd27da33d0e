/*
 * url.h - parsing of database URLs.
 *
 *   scheme://[user[:password]@]host[:port][/path][?k=v&k2=v2]
 *   native://DIR  memory://[NAME]  file://PATH  sqlite://PATH  sqlite://:memory:
 *
 * For path-style schemes (native, lancedb, memory, file, sqlite, duckdb)
 * everything after "scheme://" up to '?' is the path, taken literally
 * (relative paths allowed: native://./data). Server schemes (postgresql,
 * redis, s3, elasticsearch) are split into user, password, host, port, path.
 * Percent-escapes are decoded in user, password, path and query values.
 */
#ifndef HDB_API_URL_H
#define HDB_API_URL_H

#include "hanzodb.h"

typedef struct hdb__url_param {
  char *key, *value; /* owned, decoded */
} hdb__url_param;

typedef struct hdb__url {
  hdb_backend backend;
  char *raw;      /* owned, as given */
  char *redacted; /* owned, password replaced by "***" */
  char *scheme;   /* owned, lower-case as written ("lancedb", "postgres", ...) */
  char *user, *password, *host; /* owned or NULL */
  int port;       /* 0 when absent */
  char *path;     /* owned, "" when absent */
  hdb__url_param *params;
  size_t n_params;
} hdb__url;

/* HDB_BAD_URL with a message naming the problem and position. */
hdb_status hdb__url_parse(const char *text, hdb__url *out, hdb_error *err);
void hdb__url_free(hdb__url *u);
/* Decoded query parameter or NULL. */
const char *hdb__url_param_get(const hdb__url *u, const char *key);

#endif
