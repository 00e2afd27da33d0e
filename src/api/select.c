/*
 * select.c - which database to open: backend names, workloads, the
 * environment (HANZO_DB_BACKEND, HANZO_DB_PATH, HANZO_DB_URL,
 * HANZO_REDIS_URL) and the rules of hdb_select, documented at hdb_config in
 * hanzodb.h.
 *
 * Workload selection prefers the backend that is best at the workload and
 * falls back to native when that backend is not built or not configured;
 * the note in hdb_selection says which happened and why, so a program (or
 * `hanzo-db -v`) can tell the user instead of silently running elsewhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/backend.h"
#include "core/err.h"

#define DEFAULT_NATIVE_PATH "./hanzo-data"

typedef struct backend_name {
  const char *name;
  hdb_backend backend;
} backend_name;

/* Canonical names first: hdb_backend_name returns the first match. */
static const backend_name BACKEND_NAMES[] = {
    {"native", HDB_BACKEND_NATIVE},     {"memory", HDB_BACKEND_MEMORY},
    {"file", HDB_BACKEND_FILE},         {"sqlite", HDB_BACKEND_SQLITE},
    {"duckdb", HDB_BACKEND_DUCKDB},     {"postgresql", HDB_BACKEND_POSTGRES},
    {"redis", HDB_BACKEND_REDIS},       {"s3", HDB_BACKEND_S3},
    {"elasticsearch", HDB_BACKEND_ELASTIC}, {"default", HDB_BACKEND_DEFAULT},
    {"lancedb", HDB_BACKEND_NATIVE},    {"postgres", HDB_BACKEND_POSTGRES},
    {"pg", HDB_BACKEND_POSTGRES},       {"sqlite3", HDB_BACKEND_SQLITE},
    {"elastic", HDB_BACKEND_ELASTIC},
};

const char *hdb_backend_name(hdb_backend b) {
  for (size_t i = 0; i < sizeof BACKEND_NAMES / sizeof BACKEND_NAMES[0]; i++)
    if (BACKEND_NAMES[i].backend == b) return BACKEND_NAMES[i].name;
  return "unknown";
}

hdb_status hdb_backend_from_name(const char *name, hdb_backend *out) {
  if (!name || !out) return HDB_INVALID_ARGUMENT;
  for (size_t i = 0; i < sizeof BACKEND_NAMES / sizeof BACKEND_NAMES[0]; i++)
    if (strcasecmp(BACKEND_NAMES[i].name, name) == 0) {
      *out = BACKEND_NAMES[i].backend;
      return HDB_OK;
    }
  return HDB_INVALID_ARGUMENT;
}

int hdb_backend_built(hdb_backend b) { return hdb__backend_lookup(b) != NULL; }

static const char *const WORKLOAD_NAMES[] = {"none",          "vector_search", "analytics",
                                             "transactional", "caching",       "embedded"};

const char *hdb_workload_name(hdb_workload w) {
  if ((unsigned)w < sizeof WORKLOAD_NAMES / sizeof WORKLOAD_NAMES[0]) return WORKLOAD_NAMES[w];
  return "unknown";
}

hdb_status hdb_workload_from_name(const char *name, hdb_workload *out) {
  if (!name || !out) return HDB_INVALID_ARGUMENT;
  for (size_t i = 0; i < sizeof WORKLOAD_NAMES / sizeof WORKLOAD_NAMES[0]; i++)
    if (strcasecmp(WORKLOAD_NAMES[i], name) == 0) {
      *out = (hdb_workload)i;
      return HDB_OK;
    }
  /* Accept the spelling with a space or dash as users write it. */
  if (strcasecmp(name, "vector-search") == 0 || strcasecmp(name, "vector search") == 0 ||
      strcasecmp(name, "vector") == 0) {
    *out = HDB_WORKLOAD_VECTOR_SEARCH;
    return HDB_OK;
  }
  return HDB_INVALID_ARGUMENT;
}

hdb_backend hdb_workload_backend(hdb_workload w) {
  switch (w) {
    case HDB_WORKLOAD_VECTOR_SEARCH: return HDB_BACKEND_NATIVE;
    case HDB_WORKLOAD_ANALYTICS: return HDB_BACKEND_DUCKDB;
    case HDB_WORKLOAD_TRANSACTIONAL: return HDB_BACKEND_POSTGRES;
    case HDB_WORKLOAD_CACHING: return HDB_BACKEND_REDIS;
    case HDB_WORKLOAD_EMBEDDED: return HDB_BACKEND_SQLITE;
    default: return HDB_BACKEND_NATIVE;
  }
}

static const char *nonempty(const char *s) { return s && *s ? s : NULL; }

static int has_scheme(const char *url, const char *const *schemes) {
  if (!url) return 0;
  for (; *schemes; schemes++) {
    size_t n = strlen(*schemes);
    if (strncasecmp(url, *schemes, n) == 0 && strncmp(url + n, "://", 3) == 0) return 1;
  }
  return 0;
}

static const char *const PG_SCHEMES[] = {"postgresql", "postgres", NULL};
static const char *const REDIS_SCHEMES[] = {"redis", NULL};

/* Writes the URL for an explicitly chosen backend; fails when the backend
 * needs a URL that is not configured. */
static hdb_status url_for_backend(hdb_backend b, const hdb_config *c, hdb_selection *out,
                                  hdb_error *err) {
  const char *path = nonempty(c->path);
  const char *u = NULL;
  char buf[sizeof out->url];
  switch (b) {
    case HDB_BACKEND_NATIVE:
      snprintf(buf, sizeof buf, "native://%s", path ? path : DEFAULT_NATIVE_PATH);
      break;
    case HDB_BACKEND_MEMORY: snprintf(buf, sizeof buf, "memory://"); break;
    case HDB_BACKEND_FILE: snprintf(buf, sizeof buf, "file://%s", path ? path : "./hanzo-files"); break;
    case HDB_BACKEND_SQLITE: snprintf(buf, sizeof buf, "sqlite://%s", path ? path : "./hanzo.db"); break;
    case HDB_BACKEND_DUCKDB:
      snprintf(buf, sizeof buf, "duckdb://%s", path ? path : "./hanzo.duckdb");
      break;
    case HDB_BACKEND_POSTGRES:
      u = nonempty(c->postgres_url);
      if (!u)
        return hdb__fail(err, HDB_INVALID_ARGUMENT,
                         "backend postgresql needs a postgresql:// URL (set HANZO_DB_URL or postgres_url)");
      snprintf(buf, sizeof buf, "%s", u);
      break;
    case HDB_BACKEND_REDIS:
      u = nonempty(c->redis_url);
      if (!u)
        return hdb__fail(err, HDB_INVALID_ARGUMENT,
                         "backend redis needs a redis:// URL (set HANZO_REDIS_URL or redis_url)");
      snprintf(buf, sizeof buf, "%s", u);
      break;
    case HDB_BACKEND_S3:
    case HDB_BACKEND_ELASTIC:
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "backend %s needs a URL (set HANZO_DB_URL or url)",
                       hdb_backend_name(b));
    default:
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "unknown backend %d", (int)b);
  }
  if (strlen(buf) >= sizeof out->url - 1)
    return hdb__fail(err, HDB_TOO_BIG, "URL longer than %zu bytes", sizeof out->url - 1);
  out->backend = b;
  memcpy(out->url, buf, sizeof out->url);
  return HDB_OK;
}

/* Is backend b built and configured well enough to serve a workload? On no,
 * writes why into why[]. */
static int workload_ready(hdb_backend b, const hdb_config *c, char *why, size_t cap) {
  if (!hdb_backend_built(b)) {
    snprintf(why, cap, "the %s backend is not built into this library", hdb_backend_name(b));
    return 0;
  }
  if (b == HDB_BACKEND_POSTGRES && !nonempty(c->postgres_url)) {
    snprintf(why, cap, "no postgresql URL is configured (HANZO_DB_URL)");
    return 0;
  }
  if (b == HDB_BACKEND_REDIS && !nonempty(c->redis_url)) {
    snprintf(why, cap, "no redis URL is configured (HANZO_REDIS_URL)");
    return 0;
  }
  return 1;
}

hdb_status hdb_select(const hdb_config *cfg_in, hdb_selection *out, hdb_error *err) {
  if (!cfg_in || !out) return hdb__fail(err, HDB_INVALID_ARGUMENT, "hdb_select: NULL argument");
  memset(out, 0, sizeof *out);
  hdb_config c = *cfg_in;

  if (c.use_env) {
    const char *env_backend = nonempty(getenv("HANZO_DB_BACKEND"));
    const char *env_url = nonempty(getenv("HANZO_DB_URL"));
    if (!c.backend && env_backend && hdb_backend_from_name(env_backend, &c.backend) != HDB_OK)
      return hdb__fail(err, HDB_INVALID_ARGUMENT,
                       "HANZO_DB_BACKEND='%.64s' is not a backend (native, lancedb, memory, file, "
                       "sqlite, duckdb, postgresql, redis, s3, elasticsearch)",
                       env_backend);
    if (!nonempty(c.path)) c.path = nonempty(getenv("HANZO_DB_PATH"));
    if (!nonempty(c.redis_url)) c.redis_url = nonempty(getenv("HANZO_REDIS_URL"));
    if (!nonempty(c.postgres_url) && has_scheme(env_url, PG_SCHEMES)) c.postgres_url = env_url;
    /* HANZO_DB_URL names the database outright only when nothing more
     * specific (a backend or a workload) was asked for. For a backend whose
     * URL it is (s3, elasticsearch, ...), it also supplies that URL. */
    if (!nonempty(c.url) && env_url) {
      if (!c.backend && !c.workload) {
        c.url = env_url;
      } else if (c.backend && c.backend != HDB_BACKEND_POSTGRES && c.backend != HDB_BACKEND_REDIS) {
        hdb__url probe;
        if (hdb__url_parse(env_url, &probe, NULL) == HDB_OK) {
          if (probe.backend == c.backend) c.url = env_url;
          hdb__url_free(&probe);
        }
      } else if (c.backend == HDB_BACKEND_REDIS && !c.redis_url && has_scheme(env_url, REDIS_SCHEMES)) {
        c.redis_url = env_url;
      }
    }
  }

  /* Rule 1: an explicit URL. */
  if (nonempty(c.url)) {
    hdb__url u;
    hdb_status st = hdb__url_parse(c.url, &u, err);
    if (st != HDB_OK) return st;
    hdb_backend b = u.backend;
    hdb__url_free(&u);
    if (strlen(c.url) >= sizeof out->url)
      return hdb__fail(err, HDB_TOO_BIG, "URL longer than %zu bytes", sizeof out->url - 1);
    out->backend = b;
    snprintf(out->url, sizeof out->url, "%s", c.url);
    snprintf(out->note, sizeof out->note, "%s", "URL given");
    return HDB_OK;
  }
  /* Rule 2: an explicit backend. */
  if (c.backend) {
    hdb_status st = url_for_backend(c.backend, &c, out, err);
    if (st == HDB_OK) snprintf(out->note, sizeof out->note, "backend %s chosen", hdb_backend_name(c.backend));
    return st;
  }
  /* Rule 3: a workload. */
  if (c.workload) {
    if ((unsigned)c.workload > HDB_WORKLOAD_EMBEDDED)
      return hdb__fail(err, HDB_INVALID_ARGUMENT, "unknown workload %d", (int)c.workload);
    hdb_backend want = hdb_workload_backend(c.workload);
    char why[160];
    if (workload_ready(want, &c, why, sizeof why)) {
      hdb_status st = url_for_backend(want, &c, out, err);
      if (st == HDB_OK)
        snprintf(out->note, sizeof out->note, "workload %s uses %s", hdb_workload_name(c.workload),
                 hdb_backend_name(want));
      return st;
    }
    hdb_status st = url_for_backend(HDB_BACKEND_NATIVE, &c, out, err);
    if (st == HDB_OK)
      snprintf(out->note, sizeof out->note, "workload %s prefers %s, but %s; using native",
               hdb_workload_name(c.workload), hdb_backend_name(want), why);
    return st;
  }
  /* Rule 4: the embedded default. */
  hdb_status st = url_for_backend(HDB_BACKEND_NATIVE, &c, out, err);
  if (st == HDB_OK) snprintf(out->note, sizeof out->note, "%s", "default: native");
  return st;
}
