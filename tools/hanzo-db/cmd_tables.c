/*
 * cmd_tables.c - table commands of the hanzo-db CLI: tables, create-table,
 * drop-table, describe. describe assembles its JSON from the library's own
 * JSON (hdb_schema_to_json, index params), which is spliced in verbatim.
 */
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

/* Parses "NAME" plus the boolean flag `flag_name` (may be NULL). */
static int parse_name_flag(const char *cmd, int argc, char **argv, const char *flag_name,
                           int *flag, const char **schema, const char **table) {
  cli_parser p;
  cli_parser_init(&p, cmd, argc, argv);
  int rc, k;
  *table = NULL;
  while ((k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_POS) {
      if (*table) return cli_extra_arg(&p);
      *table = p.arg;
    } else if (flag_name && cli_is(&p, flag_name, NULL)) {
      if ((rc = cli_no_value(&p))) return rc;
      *flag = 1;
    } else if (schema && cli_is(&p, "--schema", NULL)) {
      if ((rc = cli_value(&p, schema))) return rc;
    } else {
      return cli_unknown_option(&p);
    }
  }
  if (!*table) return cli_usage_error(cmd, "missing table name");
  return 0;
}

int cli_cmd_tables(cli_ctx *ctx, const char *name, int argc, char **argv) {
  cli_parser p;
  cli_parser_init(&p, name, argc, argv);
  int k = cli_next(&p);
  if (k == CLI_ARG_POS) return cli_extra_arg(&p);
  if (k == CLI_ARG_OPT) return cli_unknown_option(&p);
  int rc = cli_open(ctx);
  if (rc) return rc;
  char **names = NULL;
  size_t n = 0;
  if (hdb_table_list(ctx->db, &names, &n) != HDB_OK) return cli_db_fail(ctx->db);
  for (size_t i = 0; i < n; i++) cli_print_line(names[i]);
  hdb_strings_free(names, n);
  return CLI_OK;
}

int cli_cmd_create_table(cli_ctx *ctx, const char *name, int argc, char **argv) {
  const char *table, *schema_json = NULL;
  int if_not_exists = 0;
  int rc = parse_name_flag(name, argc, argv, "--if-not-exists", &if_not_exists, &schema_json,
                           &table);
  if (rc) return rc;
  hdb_schema *schema = NULL;
  if (schema_json) {
    hdb_error err;
    memset(&err, 0, sizeof err);
    hdb_status st = hdb_schema_from_json(schema_json, &schema, &err);
    if (st != HDB_OK) return cli_err_fail(&err, st);
  }
  rc = cli_open(ctx);
  if (rc == CLI_OK &&
      hdb_table_create(ctx->db, table, schema, if_not_exists ? HDB_IF_NOT_EXISTS : 0) != HDB_OK)
    rc = cli_db_fail(ctx->db);
  hdb_schema_free(schema);
  return rc;
}

int cli_cmd_drop_table(cli_ctx *ctx, const char *name, int argc, char **argv) {
  const char *table;
  int if_exists = 0;
  int rc = parse_name_flag(name, argc, argv, "--if-exists", &if_exists, NULL, &table);
  if (rc) return rc;
  if ((rc = cli_open(ctx))) return rc;
  if (hdb_table_drop(ctx->db, table, if_exists ? HDB_IF_EXISTS : 0) != HDB_OK)
    return cli_db_fail(ctx->db);
  return CLI_OK;
}

int cli_cmd_describe(cli_ctx *ctx, const char *name, int argc, char **argv) {
  const char *table;
  int rc = parse_name_flag(name, argc, argv, NULL, NULL, NULL, &table);
  if (rc) return rc;
  if ((rc = cli_open(ctx))) return rc;

  hdb_schema *schema = NULL;
  char *schema_json = NULL;
  hdb_index_info *infos = NULL;
  size_t n_infos = 0;
  uint64_t rows = 0;
  cli_buf b = {0};

  if (hdb_table_schema(ctx->db, table, &schema) != HDB_OK) {
    rc = cli_db_fail(ctx->db);
    goto cleanup;
  }
  if (schema && hdb_schema_to_json(schema, &schema_json) != HDB_OK) {
    rc = cli_fail("cannot format the schema of '%s'", table);
    goto cleanup;
  }
  if (hdb_count(ctx->db, table, NULL, &rows) != HDB_OK) {
    rc = cli_db_fail(ctx->db);
    goto cleanup;
  }
  if (hdb_index_list(ctx->db, table, &infos, &n_infos) != HDB_OK) {
    /* A backend without indexes simply has none to show. */
    if (hdb_errcode(ctx->db) != HDB_NOT_SUPPORTED) {
      rc = cli_db_fail(ctx->db);
      goto cleanup;
    }
    infos = NULL;
    n_infos = 0;
  }

  cli_buf_adds(&b, "{\"name\":");
  cli_buf_add_json_string(&b, table, strlen(table));
  cli_buf_adds(&b, ",\"schema\":");
  cli_buf_adds(&b, schema_json ? schema_json : "null");
  cli_buf_adds(&b, ",\"rows\":");
  cli_buf_add_u64(&b, rows);
  cli_buf_adds(&b, ",\"indexes\":[");
  for (size_t i = 0; i < n_infos; i++) {
    if (i) cli_buf_add(&b, ",", 1);
    cli_buf_add_index_info(&b, &infos[i]);
  }
  cli_buf_adds(&b, "]}");
  if (b.oom)
    rc = cli_fail("out of memory");
  else
    cli_print_line(b.data);

cleanup:
  cli_buf_free(&b);
  hdb_index_info_free(infos, n_infos);
  hdb_free(schema_json);
  hdb_schema_free(schema);
  return rc;
}
