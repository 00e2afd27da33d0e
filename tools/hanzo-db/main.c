/*
 * main.c - entry point of the hanzo-db command-line tool: global options
 * (--url, --workload, -v, --help, --version), the command table with each
 * command's usage text, dispatch, and the small commands that need no file
 * of their own (version, capabilities, ping, help).
 *
 * Global options go before the command. Help (-h/--help anywhere before
 * "--" in a command's arguments, or "hanzo-db help CMD") prints the usage
 * to stdout and exits 0. The handle is opened by the command after its
 * arguments parsed, so usage errors never touch the database; main closes
 * it on every path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

static int cmd_version(cli_ctx *ctx, const char *name, int argc, char **argv);
static int cmd_capabilities(cli_ctx *ctx, const char *name, int argc, char **argv);
static int cmd_ping(cli_ctx *ctx, const char *name, int argc, char **argv);
static int cmd_help(cli_ctx *ctx, const char *name, int argc, char **argv);

typedef struct cli_command {
  const char *name;
  cli_cmd_fn run;
  const char *summary;
  const char *usage;
} cli_command;

#define FILTER_HELP                                                                    \
  "  --filter EXPR     only rows matching EXPR: text form (year >= 2020 AND\n"         \
  "                    tag IN ('a','b')) or, when it starts with '{', JSON form\n"    \
  "                    ({\"year\":{\"$gte\":2020}})\n"

static const cli_command commands[] = {
    {"tables", cli_cmd_tables, "list tables, one per line", "usage: hanzo-db tables\n\nPrints the table names, one per line, in byte order.\n"},
    {"create-table", cli_cmd_create_table, "create a table",
     "usage: hanzo-db create-table NAME [--schema JSON] [--if-not-exists]\n\n"
     "Creates a table. Without --schema the table is schemaless.\n\n"
     "  --schema JSON     typed columns, e.g.\n"
     "                    {\"text\":\"text\",\"year\":\"int\",\"embedding\":\"vector(384,cosine)\",\n"
     "                     \"image\":\"blob\",\"metadata\":\"json\"}\n"
     "                    types: bool int float text blob timestamp json\n"
     "                    vector(DIM[,l2|cosine|dot])\n"
     "  --if-not-exists   an existing table is not an error\n"},
    {"drop-table", cli_cmd_drop_table, "drop a table with its rows and indexes",
     "usage: hanzo-db drop-table NAME [--if-exists]\n\n"
     "Drops the table with its rows and indexes.\n\n"
     "  --if-exists       a missing table is not an error\n"},
    {"describe", cli_cmd_describe, "show a table's schema, row count and indexes",
     "usage: hanzo-db describe NAME\n\n"
     "Prints one JSON object:\n"
     "  {\"name\":..,\"schema\":{..} or null,\"rows\":N,\"indexes\":[{\"column\":..,\"type\":..,\n"
     "   \"params\":{..},\"rows_indexed\":N,\"rows_unindexed\":N}]}\n"},
    {"insert", cli_cmd_insert, "insert JSON Lines records",
     "usage: hanzo-db insert NAME [FILE]\n\n"
     "Inserts records from FILE, or stdin when FILE is omitted or '-': JSON Lines,\n"
     "one object per line, blank lines skipped. \"id\" is required; vectors are\n"
     "JSON arrays, blobs {\"$base64\":\"...\"}. Prints the number of records written.\n\n"
     "Atomicity: a malformed line (reported as \"line N: ...\") writes nothing.\n"
     "Input is read in chunks of 10000 records; on backends with transactions\n"
     "all chunks run in one transaction, so the load is all-or-nothing. Without\n"
     "transactions, input of up to 1000000 records is one all-or-nothing batch;\n"
     "beyond that, atomicity is per chunk and the records of chunks written\n"
     "before an error stay written.\n"
     "An id already in the table (or repeated in the input) is an error.\n"},
    {"upsert", cli_cmd_upsert, "insert or replace JSON Lines records",
     "usage: hanzo-db upsert NAME [FILE]\n\n"
     "Like insert, but a record whose id exists replaces that row whole; an id\n"
     "repeated in the input: the last one wins. Same input format and\n"
     "atomicity as insert. Prints the number of records written.\n"},
    {"get", cli_cmd_get, "print one record by id",
     "usage: hanzo-db get NAME ID [--version N]\n\nPrints the record as one JSON object.\n\n"
     "  --version N       the record as it was at table version N (time travel)\n"},
    {"delete", cli_cmd_delete, "delete a record by id, or the rows matching a filter",
     "usage: hanzo-db delete NAME ID\n"
     "       hanzo-db delete NAME --filter EXPR\n\n"
     "Deletes one record (a missing id is an error) or every row matching EXPR\n"
     "(--filter '' deletes every row). Prints the number deleted.\n\n" FILTER_HELP},
    {"count", cli_cmd_count, "count rows",
     "usage: hanzo-db count NAME [--filter EXPR] [--version N]\n\nPrints the number of matching rows.\n\n" FILTER_HELP
     "  --version N       count at table version N (time travel)\n"},
    {"query", cli_cmd_query, "print rows as JSON Lines",
     "usage: hanzo-db query NAME [--filter EXPR] [--sort FIELD[:desc]]... [--limit N]\n"
     "                      [--offset N] [--fields a,b]\n\n"
     "Prints the matching rows as JSON Lines.\n\n" FILTER_HELP
     "  --sort KEYS       FIELD, FIELD:asc or FIELD:desc; repeat the option or\n"
     "                    separate keys with commas (\"year:desc,text\")\n"
     "  --limit N         at most N rows (0: no limit)\n"
     "  --offset N        skip N rows first\n"
     "  --fields a,b      only these fields (the id always comes)\n"
     "  --version N       read table version N (time travel)\n"},
    {"search", cli_cmd_search, "vector similarity search",
     "usage: hanzo-db search NAME --vector JSON_ARRAY|@FILE [--column C] [-k K]\n"
     "                       [--filter EXPR] [--fields a,b] [--metric l2|cosine|dot]\n"
     "                       [--ef N] [--nprobe N] [--refine N] [--exact]\n"
     "       hanzo-db search NAME --batch FILE [--threads N] [same options]\n\n"
     "Prints the K nearest rows as JSON Lines, best first, each with \"_distance\".\n"
     "With --batch, prints one line per query, in input order:\n"
     "  {\"query\":I,\"results\":[{\"id\":..,\"_distance\":..},..]}\n\n"
     "  --vector V        the query: a JSON array of numbers, or @FILE holding one\n"
     "  --batch FILE      many queries: one JSON array per line (- for stdin), or a\n"
     "                    .fvecs file (per vector an int32 dimension, then float32s)\n"
     "  --threads N       run the batch on N threads, one handle each (default 1);\n"
     "                    progress goes to stderr when it is a terminal\n"
     "  --column C        vector column (default: the table's only vector column)\n"
     "  -k K              results wanted (default 10)\n" FILTER_HELP
     "  --fields a,b      only these fields (the id and _distance always come)\n"
     "  --metric M        distance metric (default: the column's)\n"
     "  --ef N            hnsw candidate list size\n"
     "  --nprobe N        ivf lists probed\n"
     "  --refine N        re-rank N times K candidates with full vectors\n"
     "  --exact           ignore indexes, scan exactly\n"
     "  --version N       search table version N (time travel)\n"},
    {"aggregate", cli_cmd_aggregate, "count/sum/avg/min/max, optionally grouped",
     "usage: hanzo-db aggregate NAME --agg AGGS [--group-by FIELD] [--filter EXPR]\n\n"
     "Prints one JSON object per group, in ascending group order (null first).\n\n"
     "  --agg AGGS        comma-separated: count, count:FIELD, sum:FIELD,\n"
     "                    avg:FIELD, min:FIELD, max:FIELD (may repeat); result\n"
     "                    fields are named count, count_FIELD, sum_FIELD, ...\n"
     "  --group-by FIELD  one result per value of FIELD\n" FILTER_HELP},
    {"create-index", cli_cmd_create_index, "build an index on a column",
     "usage: hanzo-db create-index NAME COLUMN [--type TYPE] [--params JSON]\n\n"
     "  --type TYPE       flat, hnsw, ivf_pq, scalar, fts or auto (default auto;\n"
     "                    on native:// a vector column gets flat below 10,000 rows,\n"
     "                    hnsw above, and optimize upgrades it as the table grows)\n"
     "  --params JSON     the type's parameters, e.g. {\"m\":16,\"ef_construction\":200}\n"
     "                    for hnsw, {\"nlist\":256,\"m\":16} for ivf_pq\n"},
    {"drop-index", cli_cmd_drop_index, "drop a column's index",
     "usage: hanzo-db drop-index NAME COLUMN\n"},
    {"optimize", cli_cmd_optimize, "bring a column's index up to date",
     "usage: hanzo-db optimize NAME COLUMN\n\n"
     "Adds the rows written since the index was built (and drops deleted ones),\n"
     "incrementally where the index allows, else by rebuilding, so searches no\n"
     "longer scan them exactly. Prints the index as `indexes` does.\n"},
    {"indexes", cli_cmd_indexes, "list a table's indexes as JSON Lines",
     "usage: hanzo-db indexes NAME\n\n"
     "Prints one JSON object per index: {\"column\":..,\"type\":..,\"params\":{..},\n"
     "\"rows_indexed\":N,\"rows_unindexed\":N}.\n"},
    {"kv", cli_cmd_kv, "key-value store: put, get, del, scan",
     "usage: hanzo-db kv put NAMESPACE KEY [VALUE]\n"
     "       hanzo-db kv get NAMESPACE KEY\n"
     "       hanzo-db kv del NAMESPACE KEY\n"
     "       hanzo-db kv scan NAMESPACE [--prefix P] [--start K] [--end K] [--reverse]\n"
     "                                  [--limit N]\n\n"
     "NAMESPACE '' is the default namespace; namespaces nest with '/'.\n"
     "  put    stores VALUE, or stdin when VALUE is omitted (use '--' before a\n"
     "         value that starts with '-')\n"
     "  get    writes the value's bytes exactly, with no newline added\n"
     "  del    deletes the key; a missing key is an error\n"
     "  scan   prints {\"key\":..,\"value\":..} JSON Lines in key order; keys and\n"
     "         values that are not UTF-8 are {\"$base64\":..}\n"
     "    --prefix P  only keys starting with P\n"
     "    --start K   from the first key >= K\n"
     "    --end K     only keys < K\n"
     "    --reverse   descending order\n"
     "    --limit N   at most N entries\n"},
    {"versions", cli_cmd_versions, "list a table's versions as JSON Lines",
     "usage: hanzo-db versions NAME\n\n"
     "Prints one JSON object per version, oldest first:\n"
     "{\"version\":N,\"timestamp\":\"2024-01-20T10:00:00.000000Z\",\"tag\":\"name\"|null}.\n"
     "Needs a backend with time travel (native://).\n"},
    {"restore", cli_cmd_restore, "make an old version of a table the newest",
     "usage: hanzo-db restore NAME VERSION\n\n"
     "Commits the contents of VERSION as a new version (history is kept).\n"
     "Prints the new newest version number.\n"},
    {"compact", cli_cmd_compact, "rewrite data files and drop old versions",
     "usage: hanzo-db compact [NAME]\n\n"
     "Compacts one table, or every table and the key-value store: drops deleted\n"
     "and overwritten rows, merges small files, then removes versions the\n"
     "retention policy no longer keeps. Prints \"ok\".\n"},
    {"check", cli_cmd_check, "verify every file and checksum",
     "usage: hanzo-db check\n\n"
     "Prints the JSON report of the check. Exit status 2 when a problem was\n"
     "found (the report names the file).\n"},
    {"capabilities", cmd_capabilities, "show the backend and its capabilities",
     "usage: hanzo-db capabilities\n\n"
     "Prints {\"backend\":..,\"url\":..,\"capabilities\":[..]}.\n"},
    {"ping", cmd_ping, "check that the database answers",
     "usage: hanzo-db ping\n\nPrints \"ok\" when the database answers.\n"},
    {"version", cmd_version, "print the version", "usage: hanzo-db version\n"},
    {"help", cmd_help, "show help for a command", "usage: hanzo-db help [COMMAND]\n"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const cli_command *find_command(const char *name) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

static void print_global_usage(FILE *out) {
  fputs("usage: hanzo-db [--url URL] [--workload NAME] [-v] COMMAND [ARGS...]\n\n"
        "One command line over every hanzo-db backend.\n\n"
        "Global options (before the command):\n"
        "  --url URL         database to open (memory://, file://DIR, native://DIR,\n"
        "                    sqlite://PATH, postgresql://..., redis://...). Without\n"
        "                    it, HANZO_DB_URL / HANZO_DB_BACKEND / HANZO_DB_PATH /\n"
        "                    HANZO_REDIS_URL decide, else native://./hanzo-data\n"
        "  --workload NAME   vector_search, analytics, transactional, caching or\n"
        "                    embedded: pick the backend suited to it\n"
        "  -v, --verbose     print the backend selection on stderr\n"
        "  -h, --help        this help\n"
        "  --version         print the version\n\n"
        "Commands:\n",
        out);
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
  fputs("\nRun 'hanzo-db COMMAND --help' for a command's options.\n"
        "Exit status: 0 success, 1 usage error, 2 failed operation.\n",
        out);
}

static int cmd_version(cli_ctx *ctx, const char *name, int argc, char **argv) {
  if (argc > 0) return cli_usage_error(name, "unexpected argument '%s'", argv[0]);
  printf("hanzo-db %s\n", hdb_version());
  return CLI_OK;
}

static int cmd_capabilities(cli_ctx *ctx, const char *name, int argc, char **argv) {
  if (argc > 0) return cli_usage_error(name, "unexpected argument '%s'", argv[0]);
  int rc = cli_open(ctx);
  if (rc) return rc;
  cli_buf b = {0};
  const char *url = hdb_url(ctx->db);
  const char *backend = hdb_backend_name(hdb_backend_of(ctx->db));
  cli_buf_adds(&b, "{\"backend\":");
  cli_buf_add_json_string(&b, backend, strlen(backend));
  cli_buf_adds(&b, ",\"url\":");
  if (url)
    cli_buf_add_json_string(&b, url, strlen(url));
  else
    cli_buf_adds(&b, "null");
  cli_buf_adds(&b, ",\"capabilities\":[");
  uint32_t caps = hdb_capabilities(ctx->db);
  int first = 1;
  for (unsigned bit = 0; bit < 32; bit++) {
    if (!(caps & (1u << bit))) continue;
    const char *cap = hdb_capability_name((hdb_capability)(1u << bit));
    if (!cap) continue;
    if (!first) cli_buf_add(&b, ",", 1);
    first = 0;
    cli_buf_add_json_string(&b, cap, strlen(cap));
  }
  cli_buf_adds(&b, "]}");
  if (b.oom) rc = cli_fail("out of memory");
  else cli_print_line(b.data);
  cli_buf_free(&b);
  return rc;
}

static int cmd_ping(cli_ctx *ctx, const char *name, int argc, char **argv) {
  if (argc > 0) return cli_usage_error(name, "unexpected argument '%s'", argv[0]);
  int rc = cli_open(ctx);
  if (rc) return rc;
  if (hdb_ping(ctx->db) != HDB_OK) return cli_db_fail(ctx->db);
  puts("ok");
  return CLI_OK;
}

static int cmd_help(cli_ctx *ctx, const char *name, int argc, char **argv) {
  if (argc == 0) {
    print_global_usage(stdout);
    return CLI_OK;
  }
  if (argc > 1) return cli_usage_error(name, "unexpected argument '%s'", argv[1]);
  if (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) argv[0] = (char *)"help";
  const cli_command *c = find_command(argv[0]);
  if (!c) return cli_usage_error(NULL, "unknown command '%s'", argv[0]);
  fputs(c->usage, stdout);
  return CLI_OK;
}

/* Non-zero when -h/--help appears among a command's arguments (before "--"). */
static int wants_help(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) return 0;
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
  }
  return 0;
}

static int run(int argc, char **argv, cli_ctx *ctx) {
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || a[1] == '\0') break;
    const char *val = NULL;
    if (strcmp(a, "--url") == 0 || strcmp(a, "--workload") == 0) {
      if (i + 1 >= argc) return cli_usage_error(NULL, "option %s needs a value", a);
      val = argv[++i];
    } else if (strncmp(a, "--url=", 6) == 0) {
      a = "--url", val = argv[i] + 6;
    } else if (strncmp(a, "--workload=", 11) == 0) {
      a = "--workload", val = argv[i] + 11;
    }
    if (strcmp(a, "--url") == 0) {
      ctx->url = val;
    } else if (strcmp(a, "--workload") == 0) {
      if (hdb_workload_from_name(val, &ctx->workload) != HDB_OK)
        return cli_usage_error(NULL,
                               "unknown workload '%s' (expected vector_search, analytics, "
                               "transactional, caching or embedded)",
                               val);
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      ctx->verbose = 1;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      print_global_usage(stdout);
      return CLI_OK;
    } else if (strcmp(a, "--version") == 0) {
      printf("hanzo-db %s\n", hdb_version());
      return CLI_OK;
    } else {
      return cli_usage_error(NULL, "unknown option %s", a);
    }
  }
  if (i >= argc) return cli_usage_error(NULL, "missing command");
  const cli_command *c = find_command(argv[i]);
  if (!c) return cli_usage_error(NULL, "unknown command '%s'", argv[i]);
  int cargc = argc - i - 1;
  char **cargv = argv + i + 1;
  if (c->run != cmd_help && wants_help(cargc, cargv)) {
    fputs(c->usage, stdout);
    return CLI_OK;
  }
  return c->run(ctx, c->name, cargc, cargv);
}

int main(int argc, char **argv) {
  cli_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  int rc = run(argc, argv, &ctx);
  hdb_close(ctx.db);
  return cli_finish_output(rc);
}
