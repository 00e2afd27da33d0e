/*
 * cmd_records.c - record commands of the hanzo-db CLI: insert, upsert, get,
 * delete, count, query.
 *
 * insert/upsert load JSON Lines with bounded memory while keeping the load
 * all-or-nothing wherever the backend allows it:
 *
 *   1. Records are parsed into a chunk of LOAD_CHUNK. Input that fits one
 *      chunk is written with one hdb_insert/hdb_upsert call (atomic).
 *   2. Larger input on a backend with HDB_CAP_TRANSACTIONS: every chunk is
 *      written inside one transaction, rolled back on any error (a parse
 *      error too), so memory stays at one chunk and the load stays atomic.
 *   3. Larger input without transactions: records accumulate up to
 *      HDB_MAX_BATCH and go in as one atomic batch. Only input beyond
 *      HDB_MAX_BATCH records is written chunk by chunk, each chunk atomic on
 *      its own; an error then says how many records were already written.
 *
 * A malformed line is reported as "line N: ..." (N counts every line,
 * blank ones too). Progress goes to stderr only when it is a terminal.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"

#define LOAD_CHUNK 10000u
#define PROGRESS_EVERY 100000u

typedef struct loader {
  hdb *db;
  const char *table;
  int upsert;
  FILE *in;
  char *line; /* getline buffer */
  size_t line_cap;
  uint64_t line_no;
  int eof;
  hdb_record **recs; /* owned records of the current chunk */
  size_t n, cap;
  uint64_t parsed, written;
  int progress; /* stderr is a terminal */
  int progress_shown;
  int atomic; /* 0 once records were written outside a transaction */
  int chunked; /* the input spans more than one write */
  uint64_t first_line; /* line of the chunk's first record */
} loader;

static void loader_clear(loader *L) {
  for (size_t i = 0; i < L->n; i++) hdb_record_free(L->recs[i]);
  L->n = 0;
}

static int is_blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
  return 1;
}

/* Reports a failure, saying how much is already written when the load is
 * no longer all-or-nothing. */
static int load_fail(const loader *L, const char *msg) {
  if (L->atomic || L->written == 0) return cli_fail("%s", msg);
  return cli_fail("%s (%llu records were written before this error)", msg,
                  (unsigned long long)L->written);
}

/* Parses records until the chunk holds `limit` records or the input ends. */
static int read_records(loader *L, size_t limit) {
  while (L->n < limit) {
    ssize_t got = getline(&L->line, &L->line_cap, L->in);
    if (got < 0) {
      if (ferror(L->in)) return cli_fail("cannot read input: read error at line %llu",
                                         (unsigned long long)L->line_no + 1);
      L->eof = 1;
      return 0;
    }
    L->line_no++;
    size_t len = (size_t)got;
    if (is_blank(L->line, len)) continue;
    if (L->n == L->cap) {
      size_t cap = L->cap ? L->cap * 2 : 1024;
      hdb_record **recs = realloc(L->recs, cap * sizeof *recs);
      if (!recs) return cli_fail("out of memory");
      L->recs = recs;
      L->cap = cap;
    }
    hdb_error err;
    memset(&err, 0, sizeof err);
    hdb_record *r = NULL;
    hdb_status st = hdb_record_from_json(L->line, len, 1, &r, &err);
    if (st != HDB_OK) {
      char msg[HDB_ERRMSG_MAX + 32];
      snprintf(msg, sizeof msg, "line %llu: %s", (unsigned long long)L->line_no,
               err.message[0] ? err.message : hdb_status_message(st));
      return load_fail(L, msg);
    }
    if (L->n == 0) L->first_line = L->line_no;
    L->recs[L->n++] = r;
    L->parsed++;
    if (L->progress && L->parsed % PROGRESS_EVERY == 0) {
      fprintf(stderr, "\r... %llu records", (unsigned long long)L->parsed);
      L->progress_shown = 1;
    }
  }
  return 0;
}

/* Writes the current chunk and frees its records. */
static int write_chunk(loader *L) {
  if (L->n == 0) return 0;
  hdb_status st = L->upsert ? hdb_upsert(L->db, L->table, L->recs, L->n)
                            : hdb_insert(L->db, L->table, L->recs, L->n);
  if (st != HDB_OK) {
    const char *msg = hdb_errmsg(L->db);
    if (!msg || !msg[0]) msg = hdb_status_message(st);
    if (!L->chunked) return load_fail(L, msg);
    /* The library numbers records within the chunk; say where it lies. */
    char buf[HDB_ERRMSG_MAX + 64];
    snprintf(buf, sizeof buf, "lines %llu-%llu: %s", (unsigned long long)L->first_line,
             (unsigned long long)L->line_no, msg);
    return load_fail(L, buf);
  }
  L->written += L->n;
  loader_clear(L);
  return 0;
}

static int load(loader *L) {
  int rc = read_records(L, LOAD_CHUNK);
  if (rc) return rc;
  if (L->eof) {
    if (L->n == 0) {
      /* Nothing to write; still tell the caller about a missing table. */
      uint64_t rows;
      if (hdb_count(L->db, L->table, NULL, &rows) != HDB_OK) return cli_db_fail(L->db);
      return 0;
    }
    return write_chunk(L);
  }

  L->chunked = 1;
  if (hdb_capabilities(L->db) & HDB_CAP_TRANSACTIONS) {
    if (hdb_begin(L->db) != HDB_OK) return cli_db_fail(L->db);
    while (rc == 0) {
      rc = write_chunk(L);
      if (rc || L->eof) break;
      rc = read_records(L, LOAD_CHUNK);
    }
    if (rc == 0 && hdb_commit(L->db) != HDB_OK) {
      L->written = 0;
      return cli_db_fail(L->db); /* a failed commit has rolled back */
    }
    if (rc) {
      hdb_rollback(L->db);
      L->written = 0;
    }
    return rc;
  }

  /* No transactions: one atomic batch as long as the input fits in one. */
  rc = read_records(L, HDB_MAX_BATCH);
  if (rc) return rc;
  rc = write_chunk(L);
  if (rc) return rc;
  L->atomic = 0;
  while (!L->eof) {
    if ((rc = read_records(L, LOAD_CHUNK))) return rc;
    if ((rc = write_chunk(L))) return rc;
  }
  return 0;
}

static int cmd_load(cli_ctx *ctx, const char *name, int argc, char **argv, int upsert) {
  cli_parser p;
  cli_parser_init(&p, name, argc, argv);
  const char *pos[2] = {NULL, NULL};
  int n = 0, k;
  while ((k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_OPT) return cli_unknown_option(&p);
    if (n == 2) return cli_extra_arg(&p);
    pos[n++] = p.arg;
  }
  if (n < 1) return cli_usage_error(name, "missing table name");
  int rc = cli_open(ctx);
  if (rc) return rc;

  loader L;
  memset(&L, 0, sizeof L);
  L.db = ctx->db;
  L.table = pos[0];
  L.upsert = upsert;
  L.atomic = 1;
  L.progress = isatty(STDERR_FILENO);
  L.in = cli_open_input(pos[1]);
  if (!L.in) return CLI_FAIL;
  rc = load(&L);
  if (L.progress_shown) fputc('\n', stderr);
  if (rc == 0) printf("%llu\n", (unsigned long long)L.written);
  loader_clear(&L);
  free(L.recs);
  free(L.line);
  cli_close_input(L.in);
  return rc;
}

int cli_cmd_insert(cli_ctx *ctx, const char *name, int argc, char **argv) {
  return cmd_load(ctx, name, argc, argv, 0);
}

int cli_cmd_upsert(cli_ctx *ctx, const char *name, int argc, char **argv) {
  return cmd_load(ctx, name, argc, argv, 1);
}

/* Single quotes doubled, for a text literal in a filter; owned (free). */
static char *quote_literal(const char *s) {
  size_t n = strlen(s), q = 0;
  for (size_t i = 0; i < n; i++) q += s[i] == '\'';
  char *out = malloc(n + q + 16);
  if (!out) return NULL;
  char *w = out;
  w += sprintf(w, "id = '");
  for (size_t i = 0; i < n; i++) {
    *w++ = s[i];
    if (s[i] == '\'') *w++ = '\'';
  }
  *w++ = '\'';
  *w = 0;
  return out;
}

/* get at a version: a query with "id = '...'" pinned to that version. */
static int get_at_version(cli_ctx *ctx, const char *table, const char *id, int64_t version) {
  char *filter = quote_literal(id);
  if (!filter) return cli_fail("out of memory");
  hdb_query_options q = HDB_QUERY_INIT;
  q.filter = filter;
  q.version = version;
  hdb_cursor *cur = NULL;
  int rc;
  if (hdb_query(ctx->db, table, &q, &cur) != HDB_OK) {
    rc = cli_db_fail(ctx->db);
  } else {
    const hdb_record *r;
    hdb_status st = hdb_cursor_next(cur, &r);
    if (st == HDB_OK)
      rc = cli_print_record(r, 0, 0.0, 0);
    else if (st == HDB_DONE)
      rc = cli_fail("table '%s' has no row with id '%s' at version %lld", table, id,
                    (long long)version);
    else
      rc = cli_cursor_fail(cur);
  }
  hdb_cursor_close(cur);
  free(filter);
  return rc;
}

/* Parses --version N (N >= 1) into *out. */
static int parse_version(const char *cmd, const char *s, int64_t *out) {
  uint64_t v = 0;
  int rc = cli_parse_u64(cmd, "--version", s, &v);
  if (rc) return rc;
  if (v == 0 || v > (uint64_t)INT64_MAX) return cli_usage_error(cmd, "--version must be a version number >= 1");
  *out = (int64_t)v;
  return CLI_OK;
}

int cli_cmd_get(cli_ctx *ctx, const char *name, int argc, char **argv) {
  cli_parser p;
  cli_parser_init(&p, name, argc, argv);
  const char *pos[2], *val;
  int64_t version = 0;
  int n = 0, k, rc;
  while ((k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_OPT) {
      if (!cli_is(&p, "--version", NULL)) return cli_unknown_option(&p);
      if ((rc = cli_value(&p, &val)) || (rc = parse_version(name, val, &version))) return rc;
      continue;
    }
    if (n == 2) return cli_extra_arg(&p);
    pos[n++] = p.arg;
  }
  if (n < 1) return cli_usage_error(name, "missing table name");
  if (n < 2) return cli_usage_error(name, "missing id");
  rc = cli_open(ctx);
  if (rc) return rc;
  if (version) return get_at_version(ctx, pos[0], pos[1], version);
  hdb_record *r = NULL;
  if (hdb_get(ctx->db, pos[0], pos[1], &r) != HDB_OK) return cli_db_fail(ctx->db);
  rc = cli_print_record(r, 0, 0.0, 0);
  hdb_record_free(r);
  return rc;
}

int cli_cmd_delete(cli_ctx *ctx, const char *name, int argc, char **argv) {
  cli_parser p;
  cli_parser_init(&p, name, argc, argv);
  const char *pos[2], *filter = NULL;
  int n = 0, k, rc;
  while ((k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_POS) {
      if (n == 2) return cli_extra_arg(&p);
      pos[n++] = p.arg;
    } else if (cli_is(&p, "--filter", NULL)) {
      if ((rc = cli_value(&p, &filter))) return rc;
    } else {
      return cli_unknown_option(&p);
    }
  }
  if (n < 1) return cli_usage_error(name, "missing table name");
  if (n == 2 && filter) return cli_usage_error(name, "give an ID or --filter, not both");
  if (n < 2 && !filter) return cli_usage_error(name, "missing ID or --filter");
  if ((rc = cli_open(ctx))) return rc;
  uint64_t deleted = 0;
  if (filter) {
    if (hdb_delete_where(ctx->db, pos[0], filter, &deleted) != HDB_OK) return cli_db_fail(ctx->db);
  } else {
    if (hdb_delete(ctx->db, pos[0], pos[1]) != HDB_OK) return cli_db_fail(ctx->db);
    deleted = 1;
  }
  printf("%llu\n", (unsigned long long)deleted);
  return CLI_OK;
}

int cli_cmd_count(cli_ctx *ctx, const char *name, int argc, char **argv) {
  cli_parser p;
  cli_parser_init(&p, name, argc, argv);
  const char *table = NULL, *filter = NULL, *val;
  int64_t version = 0;
  int k, rc;
  while ((k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_POS) {
      if (table) return cli_extra_arg(&p);
      table = p.arg;
    } else if (cli_is(&p, "--filter", NULL)) {
      if ((rc = cli_value(&p, &filter))) return rc;
    } else if (cli_is(&p, "--version", NULL)) {
      if ((rc = cli_value(&p, &val)) || (rc = parse_version(name, val, &version))) return rc;
    } else {
      return cli_unknown_option(&p);
    }
  }
  if (!table) return cli_usage_error(name, "missing table name");
  if ((rc = cli_open(ctx))) return rc;
  uint64_t count = 0;
  if (version) {
    /* hdb_count has no version: count the ids of a query at that version. */
    static const char *const id_only[1] = {"id"};
    hdb_query_options q = HDB_QUERY_INIT;
    q.filter = filter;
    q.version = version;
    q.fields = id_only;
    q.n_fields = 1;
    hdb_cursor *cur = NULL;
    if (hdb_query(ctx->db, table, &q, &cur) != HDB_OK) return cli_db_fail(ctx->db);
    const hdb_record *r;
    hdb_status st;
    while ((st = hdb_cursor_next(cur, &r)) == HDB_OK) count++;
    if (st != HDB_DONE) {
      rc = cli_cursor_fail(cur);
      hdb_cursor_close(cur);
      return rc;
    }
    hdb_cursor_close(cur);
  } else if (hdb_count(ctx->db, table, filter, &count) != HDB_OK) {
    return cli_db_fail(ctx->db);
  }
  printf("%llu\n", (unsigned long long)count);
  return CLI_OK;
}

int cli_cmd_query(cli_ctx *ctx, const char *name, int argc, char **argv) {
  cli_parser p;
  cli_parser_init(&p, name, argc, argv);
  const char *table = NULL, *val;
  hdb_query_options q = HDB_QUERY_INIT;
  cli_sort sort = {0};
  cli_strlist fields = {0};
  int have_fields = 0, k, rc = 0;
  hdb_cursor *cur = NULL;
  while (rc == 0 && (k = cli_next(&p)) != CLI_ARG_END) {
    if (k == CLI_ARG_POS) {
      if (table) rc = cli_extra_arg(&p);
      table = p.arg;
    } else if (cli_is(&p, "--filter", NULL)) {
      rc = cli_value(&p, &q.filter);
    } else if (cli_is(&p, "--sort", NULL)) {
      if (!(rc = cli_value(&p, &val))) rc = cli_sort_add(&sort, name, val);
    } else if (cli_is(&p, "--limit", NULL)) {
      if (!(rc = cli_value(&p, &val))) rc = cli_parse_u64(name, "--limit", val, &q.limit);
    } else if (cli_is(&p, "--offset", NULL)) {
      if (!(rc = cli_value(&p, &val))) rc = cli_parse_u64(name, "--offset", val, &q.offset);
    } else if (cli_is(&p, "--fields", NULL)) {
      have_fields = 1;
      if (!(rc = cli_value(&p, &val))) rc = cli_strlist_split(&fields, name, "--fields", val);
    } else if (cli_is(&p, "--version", NULL)) {
      if (!(rc = cli_value(&p, &val))) rc = parse_version(name, val, &q.version);
    } else {
      rc = cli_unknown_option(&p);
    }
  }
  if (rc == 0 && !table) rc = cli_usage_error(name, "missing table name");
  if (rc == 0) rc = cli_open(ctx);
  if (rc) goto cleanup;

  q.sort = sort.keys;
  q.n_sort = sort.n;
  if (have_fields) {
    q.fields = (const char *const *)fields.items;
    q.n_fields = fields.n;
  }
  if (hdb_query(ctx->db, table, &q, &cur) != HDB_OK) {
    rc = cli_db_fail(ctx->db);
    goto cleanup;
  }
  rc = cli_print_cursor(cur, 0, 0);

cleanup:
  hdb_cursor_close(cur);
  cli_sort_free(&sort);
  cli_strlist_free(&fields);
  return rc;
}
