/*
 * err.h - how errors travel inside the library.
 *
 * Every internal function that can fail takes an hdb_error *err (may be NULL)
 * and returns an hdb_status. hdb__fail() fills err with a formatted message
 * and returns the code, so a failure is one line: `return hdb__fail(err,
 * HDB_NO_TABLE, "no table '%s'", name);`. The api layer copies the message
 * into the handle for hdb_errmsg().
 */
#ifndef HDB_CORE_ERR_H
#define HDB_CORE_ERR_H

#include "hanzodb.h"

#if defined(__GNUC__)
#define HDB__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HDB__PRINTF(a, b)
#endif

/* Sets err (if non-NULL) to code and the formatted message; returns code. */
hdb_status hdb__fail(hdb_error *err, hdb_status code, const char *fmt, ...) HDB__PRINTF(3, 4);
/* Resets err to HDB_OK with an empty message. */
void hdb__err_clear(hdb_error *err);
/* Prefixes the message already in err with "PREFIX: ". */
void hdb__err_prefix(hdb_error *err, const char *fmt, ...) HDB__PRINTF(2, 3);

#endif
