/*
 * cmd_kv.c - the kv command of the hanzo-db CLI: put, get, del and scan
 * over the key-value API. get writes the value's bytes exactly (no newline)
 * so that binary values round-trip through pipes; scan prints JSON Lines
 * with non-UTF-8 keys and values as {"$base64":..}.
 */
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

/* Collects the positionals of a kv subcommand (at most max, at least min). */
static int kv_positionals(cli_parser *p, const char **pos, int min, int max, int *n) {
  static const char *const what[] = {"namespace", "key", "value"};
  int k;
  *n = 0;
  while ((k = cli_next(p)) != CLI_ARG_END) {
    if (k == CLI_ARG_OPT) return cli_unknown_option(p);
    if (*n == max) return cli_extra_arg(p);
    pos[(*n)++] = p->arg;
  }
  if (*n < min) return cli_usage_error(p->cmd, "missing %s", what[*n]);
  return 0;
}

static int kv_put(cli_ctx *ctx, cli_parser *p) {
  const char *pos[3];
  int n, rc = kv_positionals(p, pos, 2, 3, &n);
  if (rc) return rc;
  char *buf = NULL;
  const char *val;
  size_t vlen;
  if (n == 3) {
    val = pos[2];
    vlen = strlen(val);
  } else {
    if ((rc = cli_read_all(stdin, "stdin", &buf, &vlen))) return rc;
    val = buf;
  }
  rc = cli_open(ctx);
  if (rc == CLI_OK && hdb_kv_put(ctx->db, pos[0], pos[1], strlen(pos[1]), val, vlen) != HDB_OK)
    rc = cli_db_fail(ctx->db);
  free(buf);
  return rc;
}

static int kv_get(cli_ctx *ctx, cli_parser *p) {
  const char *pos[2];
  int n, rc = kv_positionals(p, pos, 2, 2, &n);
  if (rc) return rc;
  if ((rc = cli_open(ctx))) return rc;
  void *val = NULL;
  size_t vlen = 0;
  if (hdb_kv_get(ctx->db, pos[0], pos[1], strlen(pos[1]), &val, &vlen) != HDB_OK)
    return cli_db_fail(ctx->db);
  if (vlen) fwrite(val, 1, vlen, stdout);
  hdb_free(val);
  return CLI_OK;
}

static int kv_del(cli_ctx *ctx, cli_parser *p) {
  const char *pos[2];
  int n, rc = kv_positionals(p, pos, 2, 2, &n);
  if (rc) return rc;
  if ((rc = cli_open(ctx))) return rc;
  if (hdb_kv_delete(ctx->db, pos[0], pos[1], strlen(pos[1])) != HDB_OK)
    return cli_db_fail(ctx->db);
  return CLI_OK;
}

static int kv_scan(cli_ctx *ctx, cli_parser *p) {
  const char *ns = NULL, *prefix = NULL, *start = NULL, *end = NULL, *val;
  uint64_t limit = 0;
  hdb_kv_range range;
  memset(&range, 0, sizeof range);
  int k, rc;
  while ((k = cli_next(p)) != CLI_ARG_END) {
    rc = 0;
    if (k == CLI_ARG_POS) {
      if (ns) return cli_extra_arg(p);
      ns = p->arg;
    } else if (cli_is(p, "--prefix", NULL)) {
      rc = cli_value(p, &prefix);
    } else if (cli_is(p, "--start", NULL)) {
      rc = cli_value(p, &start);
    } else if (cli_is(p, "--end", NULL)) {
      rc = cli_value(p, &end);
    } else if (cli_is(p, "--reverse", NULL)) {
      if (!(rc = cli_no_value(p))) range.reverse = 1;
    } else if (cli_is(p, "--limit", NULL)) {
      if (!(rc = cli_value(p, &val))) rc = cli_parse_u64(p->cmd, "--limit", val, &limit);
    } else {
      return cli_unknown_option(p);
    }
    if (rc) return rc;
  }
  if (!ns) return cli_usage_error(p->cmd, "missing namespace");
  if (prefix) range.prefix = prefix, range.prefix_len = strlen(prefix);
  if (start) range.start = start, range.start_len = strlen(start);
  if (end) range.end = end, range.end_len = strlen(end);
  if ((rc = cli_open(ctx))) return rc;

  hdb_kv_iter *it = NULL;
  if (hdb_kv_iter_open(ctx->db, ns, &range, &it) != HDB_OK) return cli_db_fail(ctx->db);
  cli_buf b = {0};
  for (uint64_t seen = 0; limit == 0 || seen < limit; seen++) {
    const void *key, *value;
    size_t klen, vlen;
    hdb_status st = hdb_kv_iter_next(it, &key, &klen, &value, &vlen);
    if (st == HDB_DONE) break;
    if (st != HDB_OK) {
      const char *msg = hdb_kv_iter_errmsg(it);
      rc = cli_fail("%s", msg && msg[0] ? msg : hdb_status_message(st));
      break;
    }
    b.len = 0;
    cli_buf_adds(&b, "{\"key\":");
    cli_buf_add_json_bytes(&b, key, klen);
    cli_buf_adds(&b, ",\"value\":");
    cli_buf_add_json_bytes(&b, value, vlen);
    cli_buf_add(&b, "}", 1);
    if (b.oom) {
      rc = cli_fail("out of memory");
      break;
    }
    cli_print_line(b.data);
  }
  cli_buf_free(&b);
  hdb_kv_iter_free(it);
  return rc;
}

int cli_cmd_kv(cli_ctx *ctx, const char *name, int argc, char **argv) {
  if (argc < 1) return cli_usage_error(name, "missing subcommand (put, get, del or scan)");
  cli_parser p;
  cli_parser_init(&p, name, argc - 1, argv + 1);
  const char *sub = argv[0];
  if (strcmp(sub, "put") == 0) return kv_put(ctx, &p);
  if (strcmp(sub, "get") == 0) return kv_get(ctx, &p);
  if (strcmp(sub, "del") == 0 || strcmp(sub, "delete") == 0) return kv_del(ctx, &p);
  if (strcmp(sub, "scan") == 0) return kv_scan(ctx, &p);
  return cli_usage_error(name, "unknown kv subcommand '%s' (expected put, get, del or scan)", sub);
}
