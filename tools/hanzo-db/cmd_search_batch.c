/*
 * cmd_search_batch.c - `hanzo-db search NAME --batch FILE`: many queries in
 * one process. Queries come as JSON Lines (one array per line; "-" is
 * stdin) or as .fvecs (per vector an int32 dimension then that many
 * float32, little-endian). Every query's results are printed as one line
 * {"query":I,"results":[{"id":..,"_distance":..},..]} in input order.
 *
 * Threads: a handle serializes its calls, so --threads N opens N handles
 * on the same URL (thread 0 uses the CLI's own). Workers take the next
 * query number from an atomic counter and store their line in its slot;
 * the main thread prints the slots in order once every worker is done.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli_util.h"

typedef struct batch_query {
  float *v;
  uint32_t dim;
} batch_query;

typedef struct batch_run {
  const char *table;
  const hdb_search *proto; /* k, filter, column, ef, ... (vector unset) */
  batch_query *q;
  size_t n;
  char **lines; /* owned result lines, one per query */
  atomic_size_t next, done;
  atomic_int failed;
  int progress; /* stderr is a terminal */
} batch_run;

typedef struct batch_worker {
  batch_run *run;
  hdb *db;
  pthread_t tid;
  char err[600]; /* first failure of this worker, "" when none */
} batch_worker;

static void queries_free(batch_query *q, size_t n) {
  for (size_t i = 0; i < n; i++) free(q[i].v);
  free(q);
}

static int push_query(batch_query **q, size_t *n, size_t *cap, float *v, uint32_t dim) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    batch_query *p = realloc(*q, nc * sizeof *p);
    if (!p) return 0;
    *q = p;
    *cap = nc;
  }
  (*q)[*n].v = v;
  (*q)[(*n)++].dim = dim;
  return 1;
}

/* .fvecs: int32 dim, then dim float32, repeated. */
static int parse_fvecs(const char *cmd, const char *path, const char *buf, size_t len,
                       batch_query **q, size_t *n) {
  size_t cap = 0, off = 0;
  while (off < len) {
    int32_t dim;
    if (len - off < 4) return cli_usage_error(cmd, "--batch: %s: truncated at byte %zu", path, off);
    memcpy(&dim, buf + off, 4);
    off += 4;
    if (dim < 1 || (uint32_t)dim > HDB_MAX_VECTOR_DIM)
      return cli_usage_error(cmd, "--batch: %s: vector %zu has dimension %d", path, *n, dim);
    if ((len - off) / 4 < (size_t)dim)
      return cli_usage_error(cmd, "--batch: %s: vector %zu is truncated", path, *n);
    float *v = malloc((size_t)dim * sizeof *v);
    if (!v) return cli_fail("out of memory");
    memcpy(v, buf + off, (size_t)dim * 4);
    off += (size_t)dim * 4;
    if (!push_query(q, n, &cap, v, (uint32_t)dim)) {
      free(v);
      return cli_fail("out of memory");
    }
  }
  return CLI_OK;
}

/* JSON Lines: one array of numbers per non-empty line. */
static int parse_json_lines(const char *cmd, const char *path, char *buf, batch_query **q,
                            size_t *n) {
  size_t cap = 0, line = 0;
  for (char *p = buf, *nl; p && *p; p = nl ? nl + 1 : NULL) {
    nl = strchr(p, '\n');
    if (nl) *nl = 0;
    line++;
    char *s = p;
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    if (!*s) continue;
    cJSON *a = cJSON_Parse(s);
    int cnt = a && cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    if (cnt <= 0 || (uint64_t)cnt > HDB_MAX_VECTOR_DIM) {
      cJSON_Delete(a);
      return cli_usage_error(cmd, "--batch: %s line %zu: expected a JSON array of numbers", path,
                             line);
    }
    float *v = malloc((size_t)cnt * sizeof *v);
    if (!v) {
      cJSON_Delete(a);
      return cli_fail("out of memory");
    }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
      if (!cJSON_IsNumber(it)) {
        free(v);
        cJSON_Delete(a);
        return cli_usage_error(cmd, "--batch: %s line %zu: component %d is not a number", path,
                               line, i);
      }
      v[i++] = (float)it->valuedouble;
    }
    cJSON_Delete(a);
    if (!push_query(q, n, &cap, v, (uint32_t)cnt)) {
      free(v);
      return cli_fail("out of memory");
    }
  }
  return CLI_OK;
}

static int load_queries(const char *cmd, const char *path, batch_query **q, size_t *n) {
  *q = NULL;
  *n = 0;
  FILE *f = cli_open_input(path);
  if (!f) return CLI_FAIL;
  char *buf = NULL;
  size_t len = 0;
  int rc = cli_read_all(f, path, &buf, &len);
  cli_close_input(f);
  if (rc) return rc;
  size_t pl = strlen(path);
  if (pl > 6 && strcmp(path + pl - 6, ".fvecs") == 0)
    rc = parse_fvecs(cmd, path, buf, len, q, n);
  else
    rc = parse_json_lines(cmd, path, buf, q, n);
  free(buf);
  if (rc) {
    queries_free(*q, *n);
    *q = NULL;
    *n = 0;
  }
  return rc;
}

/* One query's line; NULL with w->err set on failure. */
static char *run_one(batch_worker *w, size_t i) {
  batch_run *r = w->run;
  hdb_search s = *r->proto;
  s.vector = r->q[i].v;
  s.dim = r->q[i].dim;
  hdb_cursor *cur = NULL;
  if (hdb_search_vector(w->db, r->table, &s, &cur) != HDB_OK) {
    snprintf(w->err, sizeof w->err, "query %zu: %s", i, hdb_errmsg(w->db));
    return NULL;
  }
  cli_buf b = {0};
  char num[32];
  snprintf(num, sizeof num, "%zu", i);
  cli_buf_adds(&b, "{\"query\":");
  cli_buf_adds(&b, num);
  cli_buf_adds(&b, ",\"results\":[");
  const hdb_record *rec;
  hdb_status st;
  int first = 1;
  while ((st = hdb_cursor_next(cur, &rec)) == HDB_OK) {
    const char *id = hdb_record_id(rec);
    cli_buf_adds(&b, first ? "{\"id\":" : ",{\"id\":");
    first = 0;
    cli_buf_add_json_bytes(&b, id, strlen(id));
    cli_buf_adds(&b, ",\"_distance\":");
    cli_buf_add_double(&b, hdb_cursor_distance(cur));
    cli_buf_adds(&b, "}");
  }
  if (st != HDB_DONE) {
    snprintf(w->err, sizeof w->err, "query %zu: %s", i, hdb_cursor_errmsg(cur));
    hdb_cursor_close(cur);
    cli_buf_free(&b);
    return NULL;
  }
  hdb_cursor_close(cur);
  cli_buf_adds(&b, "]}");
  if (b.oom) {
    snprintf(w->err, sizeof w->err, "out of memory");
    cli_buf_free(&b);
    return NULL;
  }
  return b.data; /* owned by the caller */
}

static void *worker_main(void *arg) {
  batch_worker *w = arg;
  batch_run *r = w->run;
  while (!atomic_load(&r->failed)) {
    size_t i = atomic_fetch_add(&r->next, 1);
    if (i >= r->n) break;
    r->lines[i] = run_one(w, i);
    if (!r->lines[i]) {
      atomic_store(&r->failed, 1);
      break;
    }
    size_t d = atomic_fetch_add(&r->done, 1) + 1;
    if (r->progress && (d % 256 == 0 || d == r->n))
      fprintf(stderr, "\rhanzo-db: %zu/%zu queries", d, r->n);
  }
  return NULL;
}

int cli_search_batch(cli_ctx *ctx, const char *name, const char *table, const char *path,
                     int threads, const hdb_search *proto) {
  batch_query *q = NULL;
  size_t n = 0;
  int rc = load_queries(name, path, &q, &n);
  if (rc) return rc;
  batch_worker *ws = calloc((size_t)threads, sizeof *ws);
  batch_run run;
  memset(&run, 0, sizeof run);
  run.table = table;
  run.proto = proto;
  run.q = q;
  run.n = n;
  run.lines = calloc(n ? n : 1, sizeof *run.lines);
  atomic_init(&run.next, 0);
  atomic_init(&run.done, 0);
  atomic_init(&run.failed, 0);
  run.progress = isatty(STDERR_FILENO);
  int started = 0;
  if (!ws || !run.lines) {
    rc = cli_fail("out of memory");
    goto cleanup;
  }
  if ((rc = cli_open(ctx))) goto cleanup;
  for (int t = 0; t < threads; t++) {
    ws[t].run = &run;
    if (t == 0) {
      ws[t].db = ctx->db;
    } else {
      /* One handle per thread: a handle runs one call at a time. */
      cli_ctx own = *ctx;
      own.db = NULL;
      own.verbose = 0;
      if ((rc = cli_open(&own))) goto cleanup;
      ws[t].db = own.db;
    }
  }
  for (; started < threads; started++)
    if (pthread_create(&ws[started].tid, NULL, worker_main, &ws[started]) != 0) {
      atomic_store(&run.failed, 1);
      rc = cli_fail("cannot start thread %d", started);
      break;
    }
  for (int t = 0; t < started; t++) pthread_join(ws[t].tid, NULL);
  if (run.progress && n) fputc('\n', stderr);
  if (rc) goto cleanup;
  for (int t = 0; t < threads; t++)
    if (ws[t].err[0]) {
      rc = cli_fail("search of table '%s': %s", table, ws[t].err);
      goto cleanup;
    }
  for (size_t i = 0; i < n; i++) cli_print_line(run.lines[i]);

cleanup:
  for (int t = 1; ws && t < threads; t++) hdb_close(ws[t].db);
  for (size_t i = 0; run.lines && i < n; i++) free(run.lines[i]);
  free(run.lines);
  free(ws);
  queries_free(q, n);
  return rc;
}
