/*
 * cli_util.h - shared plumbing of the hanzo-db command-line tool.
 *
 * The CLI is a thin layer over the public API in hanzodb.h. This header
 * holds what every command needs: the exit-status convention, error
 * reporting ("hanzo-db: error: MESSAGE" on stderr), the small option parser,
 * number / list / sort-key parsing, line and file reading, and JSON output
 * helpers (string escaping, base64, splicing "_distance" into a record).
 *
 * Exit statuses: 0 success, 1 usage error (with a hint line), 2 a failed
 * operation. Output goes to stdout only; diagnostics to stderr only.
 */
#ifndef HANZO_CLI_UTIL_H
#define HANZO_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hanzodb.h"

#define CLI_OK 0
#define CLI_USAGE 1
#define CLI_FAIL 2

/* Global options and the lazily opened handle shared by every command. */
typedef struct cli_ctx {
  const char *url;      /* --url, or NULL: the environment decides */
  hdb_workload workload; /* --workload */
  int verbose;          /* -v: print the backend selection on stderr */
  hdb *db;              /* opened by cli_open; closed by main */
} cli_ctx;

/* Opens ctx->db if it is not open yet. Returns CLI_OK, or CLI_FAIL after
 * reporting the error. */
int cli_open(cli_ctx *ctx);

/* ---- error reporting ---------------------------------------------- */

/* Prints "hanzo-db: error: MESSAGE" and a hint naming `cmd` (NULL: the
 * global help) on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "hanzo-db: error: MESSAGE" on stderr; returns CLI_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports the last error on db (hdb_errmsg); returns CLI_FAIL. */
int cli_db_fail(const hdb *db);
/* Reports a cursor's error; returns CLI_FAIL. */
int cli_cursor_fail(const hdb_cursor *c);
/* Reports an hdb_error filled by a handle-less call; returns CLI_FAIL. */
int cli_err_fail(const hdb_error *err, hdb_status st);

/* ---- option parsing ------------------------------------------------ */

/*
 * A tiny getopt: cli_next() walks argv, giving positionals and options in
 * turn. "--name=VALUE" and "--name VALUE" are both accepted for options that
 * take a value (cli_value). "--" makes every later argument positional; a
 * lone "-" is positional (stdin).
 */
typedef struct cli_parser {
  const char *cmd; /* for hints: "query", "kv put" */
  int argc;
  char **argv;
  int i;           /* next argument */
  int only_pos;    /* after "--" */
  const char *arg; /* current argument (the option name without "=VALUE") */
  const char *eq;  /* value after '=' in "--name=VALUE", else NULL */
  char name[64];   /* copy of the option name when it had "=VALUE" */
} cli_parser;

enum { CLI_ARG_END = 0, CLI_ARG_POS, CLI_ARG_OPT };

void cli_parser_init(cli_parser *p, const char *cmd, int argc, char **argv);
/* Next argument: CLI_ARG_POS (p->arg), CLI_ARG_OPT (p->arg is "--name" or
 * "-x"), CLI_ARG_END. */
int cli_next(cli_parser *p);
/* Non-zero when the current option is long_name or short_name (either may
 * be NULL). */
int cli_is(const cli_parser *p, const char *long_name, const char *short_name);
/* The current option's value. Returns 0, or CLI_USAGE after reporting a
 * missing value. */
int cli_value(cli_parser *p, const char **out);
/* Reports that the current option does not take a value when it had
 * "=VALUE"; returns 0 when it had none. */
int cli_no_value(const cli_parser *p);
/* Reports the current option as unknown; returns CLI_USAGE. */
int cli_unknown_option(const cli_parser *p);
/* Reports an unexpected extra positional; returns CLI_USAGE. */
int cli_extra_arg(const cli_parser *p);

/* ---- value parsing ------------------------------------------------- */

/* Strict decimal parsing; return 0 or CLI_USAGE after reporting. */
int cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
int cli_parse_int(const char *cmd, const char *opt, const char *s, int min, int *out);

/* A growable list of owned strings (fields, sort keys). */
typedef struct cli_strlist {
  char **items;
  size_t n, cap;
} cli_strlist;

void cli_strlist_free(cli_strlist *l);
/* Appends the comma-separated, non-empty items of s. 0, or CLI_FAIL when
 * out of memory; CLI_USAGE after reporting an empty item. */
int cli_strlist_split(cli_strlist *l, const char *cmd, const char *opt, const char *s);

/* Sort keys parsed from one or more "a,b:desc" arguments. */
typedef struct cli_sort {
  cli_strlist names; /* field names without the ":desc" suffix */
  hdb_sort_key *keys;
  size_t n;
} cli_sort;

void cli_sort_free(cli_sort *s);
/* Adds the keys of one --sort argument: FIELD[:asc|:desc][,...]. */
int cli_sort_add(cli_sort *s, const char *cmd, const char *arg);

/* ---- input ---------------------------------------------------------- */

/* Opens path for reading ("-" or NULL: stdin). Returns NULL after reporting
 * the error. Close with cli_close_input. */
FILE *cli_open_input(const char *path);
void cli_close_input(FILE *f);
/* Reads a whole stream; *buf owned (free), NUL-terminated beyond *len.
 * 0, or CLI_FAIL after reporting. */
int cli_read_all(FILE *f, const char *what, char **buf, size_t *len);

/* ---- output --------------------------------------------------------- */

/* Writes s and a newline to stdout. */
void cli_print_line(const char *s);
/* Flushes stdout; CLI_FAIL after reporting a write error, else rc. */
int cli_finish_output(int rc);

/* A growable byte buffer for building output lines. */
typedef struct cli_buf {
  char *data;
  size_t len, cap;
  int oom;
} cli_buf;

void cli_buf_free(cli_buf *b);
void cli_buf_add(cli_buf *b, const void *p, size_t n);
void cli_buf_adds(cli_buf *b, const char *s);
/* Appends bytes as a JSON string when they are valid UTF-8, else as
 * {"$base64":"..."}. */
void cli_buf_add_json_bytes(cli_buf *b, const void *p, size_t n);
/* Appends a JSON string literal of valid UTF-8 text. */
void cli_buf_add_json_string(cli_buf *b, const char *s, size_t n);
/* Appends a double the way JSON wants it (null for NaN/Inf), shortest
 * round-tripping form. */
void cli_buf_add_double(cli_buf *b, double d);

/* Non-zero when the bytes are valid UTF-8 (no overlongs, no surrogates). */
int cli_utf8_valid(const void *p, size_t n);

/* Prints a record as one JSON line; with_distance adds "_distance" (the
 * cursor's distance) unless the record carries it already; drop_id removes
 * the leading "id" key. Returns 0 or CLI_FAIL after reporting. */
int cli_print_record(const hdb_record *r, int with_distance, double distance, int drop_id);
/* Prints every row of a cursor with cli_print_record (the cursor's distance
 * when with_distance). Returns 0, or CLI_FAIL after reporting a cursor or
 * output error. The caller still closes the cursor. */
int cli_print_cursor(hdb_cursor *cur, int with_distance, int drop_id);

/* ---- commands --------------------------------------------------------- */

/* A command gets the arguments after its name (argv[0] is the first of
 * them) and returns an exit status. `name` is the command's name for hints.
 * Usage errors are detected before the handle is opened. */
typedef int (*cli_cmd_fn)(cli_ctx *ctx, const char *name, int argc, char **argv);

int cli_cmd_tables(cli_ctx *ctx, const char *name, int argc, char **argv);       /* cmd_tables.c */
int cli_cmd_create_table(cli_ctx *ctx, const char *name, int argc, char **argv);
int cli_cmd_drop_table(cli_ctx *ctx, const char *name, int argc, char **argv);
int cli_cmd_describe(cli_ctx *ctx, const char *name, int argc, char **argv);
int cli_cmd_insert(cli_ctx *ctx, const char *name, int argc, char **argv);       /* cmd_records.c */
int cli_cmd_upsert(cli_ctx *ctx, const char *name, int argc, char **argv);
int cli_cmd_get(cli_ctx *ctx, const char *name, int argc, char **argv);
int cli_cmd_delete(cli_ctx *ctx, const char *name, int argc, char **argv);
int cli_cmd_count(cli_ctx *ctx, const char *name, int argc, char **argv);
int cli_cmd_query(cli_ctx *ctx, const char *name, int argc, char **argv);
int cli_cmd_search(cli_ctx *ctx, const char *name, int argc, char **argv);       /* cmd_search.c */
/* search --batch PATH on `threads` handles (cmd_search_batch.c); proto
 * holds every search option but the vector. */
int cli_search_batch(cli_ctx *ctx, const char *name, const char *table, const char *path,
                     int threads, const hdb_search *proto);
int cli_cmd_optimize(cli_ctx *ctx, const char *name, int argc, char **argv);     /* cmd_index.c */
int cli_cmd_aggregate(cli_ctx *ctx, const char *name, int argc, char **argv);    /* cmd_aggregate.c */
int cli_cmd_create_index(cli_ctx *ctx, const char *name, int argc, char **argv); /* cmd_index.c */
int cli_cmd_drop_index(cli_ctx *ctx, const char *name, int argc, char **argv);
int cli_cmd_indexes(cli_ctx *ctx, const char *name, int argc, char **argv);
int cli_cmd_kv(cli_ctx *ctx, const char *name, int argc, char **argv);           /* cmd_kv.c */
int cli_cmd_versions(cli_ctx *ctx, const char *name, int argc, char **argv);     /* cmd_versions.c */
int cli_cmd_restore(cli_ctx *ctx, const char *name, int argc, char **argv);
int cli_cmd_compact(cli_ctx *ctx, const char *name, int argc, char **argv);
int cli_cmd_check(cli_ctx *ctx, const char *name, int argc, char **argv);

/* Index info as one JSON object {"column":..,"type":..,"params":{..},
 * "rows_indexed":N,"rows_unindexed":N} appended to b (cmd_index.c; also
 * used by describe). */
void cli_buf_add_index_info(cli_buf *b, const hdb_index_info *info);
/* Appends an unsigned number. */
void cli_buf_add_u64(cli_buf *b, uint64_t v);

#endif
