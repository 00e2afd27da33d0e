/*
 * cmd_aggregate.c - the aggregate command of the hanzo-db CLI. --agg takes
 * comma-separated OP or OP:FIELD items (count, count:f, sum:f, avg:f, min:f,
 * max:f). Each result record is printed as JSON without its "id", which is
 * only the group value as text.
 */
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

static int parse_op(const char *cmd, const char *s, hdb_agg_op *out) {
  static const hdb_agg_op ops[] = {HDB_AGG_COUNT, HDB_AGG_SUM, HDB_AGG_AVG, HDB_AGG_MIN,
                                   HDB_AGG_MAX};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    if (strcmp(s, hdb_agg_op_name(ops[i])) == 0) {
      *out = ops[i];
      return 0;
    }
  }
  return cli_usage_error(cmd, "--agg: unknown aggregate '%s' (expected count, sum, avg, min or max)",
                         s);
}

int cli_cmd_aggregate(cli_ctx *ctx, const char *name, int argc, char **argv) {
  cli_parser p;
  cli_parser_init(&p, name, argc, argv);
  const char *table = NULL, *group_by = NULL, *filter = NULL, *val;
  cli_strlist items = {0};
  hdb_agg *aggs = NULL;
  hdb_cursor *cur = NULL;
  int k, rc = 0;
  while (rc == 0 && (k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_POS) {
      if (table) rc = cli_extra_arg(&p);
      table = p.arg;
    } else if (cli_is(&p, "--agg", NULL)) {
      if (!(rc = cli_value(&p, &val))) rc = cli_strlist_split(&items, name, "--agg", val);
    } else if (cli_is(&p, "--group-by", NULL)) {
      rc = cli_value(&p, &group_by);
    } else if (cli_is(&p, "--filter", NULL)) {
      rc = cli_value(&p, &filter);
    } else {
      rc = cli_unknown_option(&p);
    }
  }
  if (rc == 0 && !table) rc = cli_usage_error(name, "missing table name");
  if (rc == 0 && items.n == 0) rc = cli_usage_error(name, "missing --agg");
  if (rc) goto cleanup;

  aggs = calloc(items.n, sizeof *aggs);
  if (!aggs) {
    rc = cli_fail("out of memory");
    goto cleanup;
  }
  for (size_t i = 0; i < items.n && rc == 0; i++) {
    char *item = items.items[i];
    char *colon = strchr(item, ':');
    if (colon) {
      *colon = '\0';
      if (!colon[1]) {
        rc = cli_usage_error(name, "--agg: missing field after '%s:'", item);
        break;
      }
      aggs[i].field = colon + 1;
    }
    rc = parse_op(name, item, &aggs[i].op);
    if (rc == 0 && !aggs[i].field && aggs[i].op != HDB_AGG_COUNT)
      rc = cli_usage_error(name, "--agg: %s needs a field (%s:FIELD)", item, item);
  }
  if (rc == 0) rc = cli_open(ctx);
  if (rc) goto cleanup;

  if (hdb_aggregate(ctx->db, table, aggs, items.n, group_by, filter, &cur) != HDB_OK) {
    rc = cli_db_fail(ctx->db);
    goto cleanup;
  }
  rc = cli_print_cursor(cur, 0, 1);

cleanup:
  hdb_cursor_close(cur);
  free(aggs);
  cli_strlist_free(&items);
  return rc;
}
