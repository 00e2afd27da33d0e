/*
 * cmd_search.c - the search command of the hanzo-db CLI: nearest-neighbour
 * search over a vector column. The query vector comes as a JSON array on
 * the command line or from @FILE and is parsed with cJSON; each result is
 * printed as its record's JSON with "_distance" (hdb_cursor_distance) added.
 * With --batch FILE the queries come from a file and run on --threads
 * handles (cmd_search_batch.c).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli_util.h"

/* Parses the --vector argument into an owned float array. 0, CLI_USAGE for
 * a malformed array, CLI_FAIL for an unreadable file or no memory. */
static int parse_vector(const char *cmd, const char *arg, float **out, uint32_t *dim) {
  char *text = NULL;
  size_t len = 0;
  int rc = 0;
  if (arg[0] == '@') {
    FILE *f = cli_open_input(arg + 1);
    if (!f) return CLI_FAIL;
    rc = cli_read_all(f, arg + 1, &text, &len);
    cli_close_input(f);
    if (rc) return rc;
  }
  const char *src = text ? text : arg;
  cJSON *root = cJSON_Parse(src);
  float *v = NULL;
  if (!root || !cJSON_IsArray(root)) {
    rc = cli_usage_error(cmd, "--vector: expected a JSON array of numbers%s%s",
                         text ? " in " : "", text ? arg + 1 : "");
    goto cleanup;
  }
  int n = cJSON_GetArraySize(root);
  if (n <= 0) {
    rc = cli_usage_error(cmd, "--vector: the array is empty");
    goto cleanup;
  }
  if ((uint64_t)n > HDB_MAX_VECTOR_DIM) {
    rc = cli_usage_error(cmd, "--vector: more than %u components", HDB_MAX_VECTOR_DIM);
    goto cleanup;
  }
  v = malloc((size_t)n * sizeof *v);
  if (!v) {
    rc = cli_fail("out of memory");
    goto cleanup;
  }
  int i = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, root) {
    if (!cJSON_IsNumber(item)) {
      rc = cli_usage_error(cmd, "--vector: component %d is not a number", i);
      goto cleanup;
    }
    v[i++] = (float)item->valuedouble;
  }
  *out = v;
  *dim = (uint32_t)n;
  v = NULL;

cleanup:
  free(v);
  cJSON_Delete(root);
  free(text);
  return rc;
}

static int parse_metric(const char *cmd, const char *s, hdb_metric *out) {
  static const hdb_metric all[] = {HDB_METRIC_L2, HDB_METRIC_COSINE, HDB_METRIC_DOT};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (strcmp(s, hdb_metric_name(all[i])) == 0) {
      *out = all[i];
      return 0;
    }
  }
  return cli_usage_error(cmd, "--metric: unknown metric '%s' (expected l2, cosine or dot)", s);
}

int cli_cmd_search(cli_ctx *ctx, const char *name, int argc, char **argv) {
  cli_parser p;
  cli_parser_init(&p, name, argc, argv);
  hdb_search s = HDB_SEARCH_INIT;
  const char *table = NULL, *vector_arg = NULL, *batch = NULL, *val;
  cli_strlist fields = {0};
  int have_fields = 0, k, rc = 0, threads = 1;
  float *vec = NULL;
  hdb_cursor *cur = NULL;
  s.k = 10;
  while (rc == 0 && (k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_POS) {
      if (table) rc = cli_extra_arg(&p);
      table = p.arg;
    } else if (cli_is(&p, "--vector", NULL)) {
      rc = cli_value(&p, &vector_arg);
    } else if (cli_is(&p, "--batch", NULL)) {
      rc = cli_value(&p, &batch);
    } else if (cli_is(&p, "--threads", NULL)) {
      if (!(rc = cli_value(&p, &val))) rc = cli_parse_int(name, "--threads", val, 1, &threads);
      if (rc == 0 && threads > 256) rc = cli_usage_error(name, "--threads: at most 256");
    } else if (cli_is(&p, "--column", NULL)) {
      rc = cli_value(&p, &s.column);
    } else if (cli_is(&p, "-k", NULL) || cli_is(&p, "--k", NULL)) {
      if (!(rc = cli_value(&p, &val))) rc = cli_parse_int(name, "-k", val, 1, &s.k);
    } else if (cli_is(&p, "--filter", NULL)) {
      rc = cli_value(&p, &s.filter);
    } else if (cli_is(&p, "--fields", NULL)) {
      have_fields = 1;
      if (!(rc = cli_value(&p, &val))) rc = cli_strlist_split(&fields, name, "--fields", val);
    } else if (cli_is(&p, "--metric", NULL)) {
      if (!(rc = cli_value(&p, &val))) rc = parse_metric(name, val, &s.metric);
    } else if (cli_is(&p, "--ef", NULL)) {
      if (!(rc = cli_value(&p, &val))) rc = cli_parse_int(name, "--ef", val, 0, &s.ef);
    } else if (cli_is(&p, "--nprobe", NULL)) {
      if (!(rc = cli_value(&p, &val))) rc = cli_parse_int(name, "--nprobe", val, 0, &s.nprobe);
    } else if (cli_is(&p, "--refine", NULL)) {
      if (!(rc = cli_value(&p, &val))) rc = cli_parse_int(name, "--refine", val, 0, &s.refine);
    } else if (cli_is(&p, "--exact", NULL)) {
      if (!(rc = cli_no_value(&p))) s.exact = 1;
    } else if (cli_is(&p, "--version", NULL)) {
      int v = 0;
      if (!(rc = cli_value(&p, &val))) rc = cli_parse_int(name, "--version", val, 1, &v);
      s.version = v;
    } else {
      rc = cli_unknown_option(&p);
    }
  }
  if (rc == 0 && !table) rc = cli_usage_error(name, "missing table name");
  if (rc == 0 && vector_arg && batch)
    rc = cli_usage_error(name, "--vector and --batch cannot be combined");
  if (rc == 0 && !vector_arg && !batch) rc = cli_usage_error(name, "missing --vector or --batch");
  if (rc == 0 && batch) {
    if (have_fields) {
      s.fields = (const char *const *)fields.items;
      s.n_fields = fields.n;
    }
    rc = cli_search_batch(ctx, name, table, batch, threads, &s);
    goto cleanup;
  }
  if (rc == 0 && threads != 1) rc = cli_usage_error(name, "--threads needs --batch");
  if (rc == 0) rc = parse_vector(name, vector_arg, &vec, &s.dim);
  if (rc == 0) rc = cli_open(ctx);
  if (rc) goto cleanup;

  s.vector = vec;
  if (have_fields) {
    s.fields = (const char *const *)fields.items;
    s.n_fields = fields.n;
  }
  if (hdb_search_vector(ctx->db, table, &s, &cur) != HDB_OK) {
    rc = cli_db_fail(ctx->db);
    goto cleanup;
  }
  rc = cli_print_cursor(cur, 1, 0);

cleanup:
  hdb_cursor_close(cur);
  free(vec);
  cli_strlist_free(&fields);
  return rc;
}
