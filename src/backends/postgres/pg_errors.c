/*
 * pg_errors.c - PostgreSQL errors to hanzo statuses, with messages that
 * name the server, the operation and the server's own words.
 *
 * Statements: the SQLSTATE decides (table in pg.h). Connection attempts
 * have no SQLSTATE in libpq 15, so the server's message text decides
 * between HDB_AUTH (password authentication failed, no pg_hba.conf entry,
 * role does not exist) and HDB_UNAVAILABLE (everything else, including a
 * database that does not exist, which is named). Those texts are the
 * server's English messages; with another lc_messages such failures read
 * as HDB_UNAVAILABLE with the server's message.
 */
#include <stdio.h>
#include <string.h>

#include "pg.h"

#include "core/err.h"

const char *hdb__pg_sqlstate(const PGresult *res) {
  const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  return s ? s : "";
}

int hdb__pg_broken(PGconn *pg) { return !pg || PQstatus(pg) != CONNECTION_OK; }

static hdb_status status_of(const char *st, int broken) {
  if (broken || strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 ||
      strcmp(st, "57P02") == 0 || strcmp(st, "57P03") == 0)
    return HDB_UNAVAILABLE;
  if (strncmp(st, "28", 2) == 0 || strcmp(st, "42501") == 0) return HDB_AUTH;
  if (strcmp(st, "3D000") == 0) return HDB_UNAVAILABLE;
  if (strcmp(st, "42P01") == 0) return HDB_NO_TABLE;
  if (strcmp(st, "42P07") == 0) return HDB_EXISTS;
  if (strcmp(st, "42701") == 0) return HDB_INVALID_ARGUMENT;
  if (strcmp(st, "42703") == 0) return HDB_NO_FIELD;
  if (strcmp(st, "23505") == 0) return HDB_DUPLICATE_ID;
  if (strncmp(st, "23", 2) == 0) return HDB_CONSTRAINT;
  if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0) return HDB_CONFLICT;
  if (strcmp(st, "25006") == 0) return HDB_READ_ONLY;
  if (strcmp(st, "55P03") == 0 || strcmp(st, "57014") == 0) return HDB_BUSY;
  if (strncmp(st, "22", 2) == 0) return HDB_TYPE_MISMATCH;
  if (strncmp(st, "54", 2) == 0) return HDB_TOO_BIG;
  if (strcmp(st, "XX001") == 0 || strcmp(st, "XX002") == 0) return HDB_CORRUPT;
  if (strcmp(st, "53200") == 0) return HDB_NOMEM;
  if (strncmp(st, "53", 2) == 0 || strncmp(st, "58", 2) == 0) return HDB_IO;
  return HDB_ERROR;
}

/* Copies msg without its trailing newline(s) into buf. */
static void trim(const char *msg, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", msg ? msg : "");
  size_t n = strlen(buf);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = '\0';
  for (char *p = buf; *p; p++)
    if (*p == '\n') *p = ' ';
}

hdb_status hdb__pg_fail_result(PGconn *pg, const PGresult *res, const char *where,
                               const char *what, hdb_error *err) {
  const char *st = hdb__pg_sqlstate(res);
  int broken = hdb__pg_broken(pg) || !res;
  hdb_status code = status_of(st, broken && !*st);
  char msg[300], detail[200];
  const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  const char *det = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
  trim(primary ? primary : (res ? PQresultErrorMessage(res) : NULL), msg, sizeof msg);
  if (!msg[0]) trim(pg ? PQerrorMessage(pg) : "out of memory", msg, sizeof msg);
  trim(det, detail, sizeof detail);
  if (code == HDB_UNAVAILABLE)
    return hdb__fail(err, code, "postgresql at %s: %s: connection lost or server unavailable: %s%s%s%s",
                     where, what, msg, *st ? " (SQLSTATE " : "", st, *st ? ")" : "");
  return hdb__fail(err, code, "postgresql at %s: %s: %s%s%s%s%s%s", where, what, msg,
                   detail[0] ? " (" : "", detail, detail[0] ? ")" : "", *st ? " SQLSTATE " : "",
                   st);
}

hdb_status hdb__pg_fail_connect(PGconn *pg, const char *where, hdb_error *err) {
  char msg[400];
  trim(pg ? PQerrorMessage(pg) : "out of memory", msg, sizeof msg);
  if (strstr(msg, "password authentication failed") || strstr(msg, "authentication failed") ||
      strstr(msg, "no pg_hba.conf entry") || (strstr(msg, "role \"") && strstr(msg, "does not exist")) ||
      (pg && PQconnectionNeedsPassword(pg)))
    return hdb__fail(err, HDB_AUTH, "postgresql at %s: authentication failed: %s", where, msg);
  if (strstr(msg, "database \"") && strstr(msg, "does not exist"))
    return hdb__fail(err, HDB_UNAVAILABLE, "postgresql at %s: the database does not exist: %s",
                     where, msg);
  return hdb__fail(err, HDB_UNAVAILABLE, "postgresql at %s is unreachable: %s", where, msg);
}
