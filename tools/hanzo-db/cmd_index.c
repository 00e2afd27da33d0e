/*
 * cmd_index.c - index commands of the hanzo-db CLI: create-index,
 * drop-index, optimize, indexes. Index parameters travel as the library's JSON text.
 */
#include <string.h>

#include "cli_util.h"

void cli_buf_add_index_info(cli_buf *b, const hdb_index_info *info) {
  const char *type = hdb_index_type_name(info->type);
  cli_buf_adds(b, "{\"column\":");
  cli_buf_add_json_string(b, info->column ? info->column : "",
                          info->column ? strlen(info->column) : 0);
  cli_buf_adds(b, ",\"type\":");
  cli_buf_add_json_string(b, type, strlen(type));
  cli_buf_adds(b, ",\"params\":");
  cli_buf_adds(b, info->params && info->params[0] ? info->params : "{}");
  cli_buf_adds(b, ",\"rows_indexed\":");
  cli_buf_add_u64(b, info->rows_indexed);
  cli_buf_adds(b, ",\"rows_unindexed\":");
  cli_buf_add_u64(b, info->rows_unindexed);
  cli_buf_add(b, "}", 1);
}

/* Parses up to `want` positionals (all required) and, for create-index,
 * --type and --params. */
static int parse_args(const char *cmd, int argc, char **argv, const char **pos, int want,
                      const char **type, const char **params) {
  static const char *const what[] = {"table name", "column name"};
  cli_parser p;
  cli_parser_init(&p, cmd, argc, argv);
  int n = 0, k, rc;
  while ((k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_POS) {
      if (n == want) return cli_extra_arg(&p);
      pos[n++] = p.arg;
    } else if (type && cli_is(&p, "--type", NULL)) {
      if ((rc = cli_value(&p, type))) return rc;
    } else if (params && cli_is(&p, "--params", NULL)) {
      if ((rc = cli_value(&p, params))) return rc;
    } else {
      return cli_unknown_option(&p);
    }
  }
  if (n < want) return cli_usage_error(cmd, "missing %s", what[n]);
  return 0;
}

int cli_cmd_create_index(cli_ctx *ctx, const char *name, int argc, char **argv) {
  const char *pos[2], *type_name = NULL, *params = NULL;
  int rc = parse_args(name, argc, argv, pos, 2, &type_name, &params);
  if (rc) return rc;
  hdb_index_type type = HDB_INDEX_AUTO;
  if (type_name && hdb_index_type_from_name(type_name, &type) != HDB_OK)
    return cli_usage_error(name,
                           "--type: unknown index type '%s' (expected flat, hnsw, ivf_pq, "
                           "scalar, fts or auto)",
                           type_name);
  if ((rc = cli_open(ctx))) return rc;
  if (hdb_index_create(ctx->db, pos[0], pos[1], type, params) != HDB_OK)
    return cli_db_fail(ctx->db);
  return CLI_OK;
}

int cli_cmd_drop_index(cli_ctx *ctx, const char *name, int argc, char **argv) {
  const char *pos[2];
  int rc = parse_args(name, argc, argv, pos, 2, NULL, NULL);
  if (rc) return rc;
  if ((rc = cli_open(ctx))) return rc;
  if (hdb_index_drop(ctx->db, pos[0], pos[1]) != HDB_OK) return cli_db_fail(ctx->db);
  return CLI_OK;
}

int cli_cmd_optimize(cli_ctx *ctx, const char *name, int argc, char **argv) {
  const char *pos[2];
  int rc = parse_args(name, argc, argv, pos, 2, NULL, NULL);
  if (rc) return rc;
  if ((rc = cli_open(ctx))) return rc;
  if (hdb_index_optimize(ctx->db, pos[0], pos[1]) != HDB_OK) return cli_db_fail(ctx->db);
  /* The index as it now stands. */
  hdb_index_info *infos = NULL;
  size_t n = 0;
  if (hdb_index_list(ctx->db, pos[0], &infos, &n) != HDB_OK) return cli_db_fail(ctx->db);
  cli_buf b = {0};
  for (size_t i = 0; i < n; i++)
    if (strcmp(infos[i].column, pos[1]) == 0) cli_buf_add_index_info(&b, &infos[i]);
  if (b.oom)
    rc = cli_fail("out of memory");
  else if (b.data)
    cli_print_line(b.data);
  cli_buf_free(&b);
  hdb_index_info_free(infos, n);
  return rc;
}

int cli_cmd_indexes(cli_ctx *ctx, const char *name, int argc, char **argv) {
  const char *pos[1];
  int rc = parse_args(name, argc, argv, pos, 1, NULL, NULL);
  if (rc) return rc;
  if ((rc = cli_open(ctx))) return rc;
  hdb_index_info *infos = NULL;
  size_t n = 0;
  if (hdb_index_list(ctx->db, pos[0], &infos, &n) != HDB_OK) return cli_db_fail(ctx->db);
  cli_buf b = {0};
  for (size_t i = 0; i < n && rc == CLI_OK; i++) {
    b.len = 0;
    cli_buf_add_index_info(&b, &infos[i]);
    if (b.oom)
      rc = cli_fail("out of memory");
    else
      cli_print_line(b.data);
  }
  cli_buf_free(&b);
  hdb_index_info_free(infos, n);
  return rc;
}
