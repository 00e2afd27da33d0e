/*
 * cmd_versions.c - the CLI's version and maintenance commands: versions,
 * restore, compact and check. Over the public API only
 * (hdb_table_versions, hdb_table_restore, hdb_compact, hdb_check); a
 * backend without time travel or maintenance answers NOT_SUPPORTED, which
 * is reported like any failed call (exit 2).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_util.h"

/* RFC 3339 in UTC with microseconds: 2024-01-20T10:00:00.000000Z. */
static void format_ts(int64_t us, char out[40]) {
  int64_t secs = us / 1000000, frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  time_t t = (time_t)secs;
  struct tm tm;
  gmtime_r(&t, &tm);
  char base[32];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, 40, "%s.%06lldZ", base, (long long)frac);
}

/* Parses a positional version number (>= 1). */
static int parse_version_arg(const char *cmd, const char *s, int64_t *out) {
  uint64_t v = 0;
  int rc = cli_parse_u64(cmd, "VERSION", s, &v);
  if (rc) return rc;
  if (v == 0 || v > (uint64_t)INT64_MAX) return cli_usage_error(cmd, "VERSION must be >= 1");
  *out = (int64_t)v;
  return CLI_OK;
}

int cli_cmd_versions(cli_ctx *ctx, const char *name, int argc, char **argv) {
  cli_parser p;
  cli_parser_init(&p, name, argc, argv);
  const char *table = NULL;
  int k, rc;
  while ((k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_OPT) return cli_unknown_option(&p);
    if (table) return cli_extra_arg(&p);
    table = p.arg;
  }
  if (!table) return cli_usage_error(name, "missing table name");
  if ((rc = cli_open(ctx))) return rc;
  hdb_version_info *v = NULL;
  size_t n = 0;
  if (hdb_table_versions(ctx->db, table, &v, &n) != HDB_OK) return cli_db_fail(ctx->db);
  for (size_t i = 0; i < n; i++) {
    char ts[40];
    format_ts(v[i].timestamp_us, ts);
    cli_buf b = {0};
    cli_buf_adds(&b, "{\"version\":");
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)v[i].version);
    cli_buf_adds(&b, num);
    cli_buf_adds(&b, ",\"timestamp\":\"");
    cli_buf_adds(&b, ts);
    cli_buf_adds(&b, "\",\"tag\":");
    if (v[i].tag)
      cli_buf_add_json_string(&b, v[i].tag, strlen(v[i].tag));
    else
      cli_buf_adds(&b, "null");
    cli_buf_adds(&b, "}");
    cli_buf_add(&b, "", 1);
    if (b.data) cli_print_line(b.data);
    cli_buf_free(&b);
  }
  hdb_version_info_free(v, n);
  return cli_finish_output(CLI_OK);
}

int cli_cmd_restore(cli_ctx *ctx, const char *name, int argc, char **argv) {
  cli_parser p;
  cli_parser_init(&p, name, argc, argv);
  const char *pos[2];
  int n = 0, k, rc;
  while ((k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_OPT) return cli_unknown_option(&p);
    if (n == 2) return cli_extra_arg(&p);
    pos[n++] = p.arg;
  }
  if (n < 1) return cli_usage_error(name, "missing table name");
  if (n < 2) return cli_usage_error(name, "missing VERSION");
  int64_t version = 0;
  if ((rc = parse_version_arg(name, pos[1], &version))) return rc;
  if ((rc = cli_open(ctx))) return rc;
  if (hdb_table_restore(ctx->db, pos[0], version) != HDB_OK) return cli_db_fail(ctx->db);
  hdb_version_info *v = NULL;
  size_t nv = 0;
  if (hdb_table_versions(ctx->db, pos[0], &v, &nv) != HDB_OK) return cli_db_fail(ctx->db);
  if (nv) printf("%lld\n", (long long)v[nv - 1].version);
  hdb_version_info_free(v, nv);
  return cli_finish_output(CLI_OK);
}

int cli_cmd_compact(cli_ctx *ctx, const char *name, int argc, char **argv) {
  cli_parser p;
  cli_parser_init(&p, name, argc, argv);
  const char *table = NULL;
  int k, rc;
  while ((k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_OPT) return cli_unknown_option(&p);
    if (table) return cli_extra_arg(&p);
    table = p.arg;
  }
  if ((rc = cli_open(ctx))) return rc;
  if (hdb_compact(ctx->db, table) != HDB_OK) return cli_db_fail(ctx->db);
  printf("ok\n");
  return cli_finish_output(CLI_OK);
}

int cli_cmd_check(cli_ctx *ctx, const char *name, int argc, char **argv) {
  cli_parser p;
  cli_parser_init(&p, name, argc, argv);
  int k, rc;
  while ((k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_OPT) return cli_unknown_option(&p);
    return cli_extra_arg(&p);
  }
  if ((rc = cli_open(ctx))) return rc;
  char *report = NULL;
  hdb_status st = hdb_check(ctx->db, &report);
  if (report) cli_print_line(report);
  hdb_free(report);
  if (st != HDB_OK) {
    rc = cli_db_fail(ctx->db);
    cli_finish_output(rc);
    return CLI_FAIL;
  }
  return cli_finish_output(CLI_OK);
}
