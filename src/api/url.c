/*
 * url.c - parses database URLs into their parts (see url.h for the forms).
 *
 * Two families: path-style schemes (native, lancedb, memory, file, sqlite,
 * duckdb) keep everything between "://" and '?' as a path, because local
 * paths such as "./data" or "/tmp/x.db" are not authorities; server schemes
 * (postgresql, redis, s3, elasticsearch) have user:password@host:port/path.
 * Every error names the position (1-based character) and what was expected.
 */
#include "api/url.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

typedef struct scheme_entry {
  const char *scheme;
  hdb_backend backend;
  int path_style;
} scheme_entry;

static const scheme_entry SCHEMES[] = {
    {"native", HDB_BACKEND_NATIVE, 1},       {"lancedb", HDB_BACKEND_NATIVE, 1},
    {"memory", HDB_BACKEND_MEMORY, 1},       {"file", HDB_BACKEND_FILE, 1},
    {"sqlite", HDB_BACKEND_SQLITE, 1},       {"sqlite3", HDB_BACKEND_SQLITE, 1},
    {"duckdb", HDB_BACKEND_DUCKDB, 1},       {"postgresql", HDB_BACKEND_POSTGRES, 0},
    {"postgres", HDB_BACKEND_POSTGRES, 0},   {"redis", HDB_BACKEND_REDIS, 0},
    {"s3", HDB_BACKEND_S3, 0},               {"elasticsearch", HDB_BACKEND_ELASTIC, 0},
    {"elastic", HDB_BACKEND_ELASTIC, 0},
};

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes %XX escapes of s[0..len) into a new string. `base` is the offset of
 * s in the whole URL, for the error position. */
static hdb_status decode(const char *s, size_t len, size_t base, char **out, hdb_error *err) {
  char *d = hdb__malloc(len + 1);
  if (!d) return hdb__fail(err, HDB_NOMEM, "out of memory parsing URL");
  size_t j = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '%') {
      int hi = i + 1 < len ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        hdb__free_mem(d);
        return hdb__fail(err, HDB_BAD_URL,
                         "bad URL: at character %zu: '%%' must be followed by two hex digits",
                         base + i + 1);
      }
      char c = (char)(hi * 16 + lo);
      if (c == '\0') {
        hdb__free_mem(d);
        return hdb__fail(err, HDB_BAD_URL, "bad URL: at character %zu: %%00 is not allowed",
                         base + i + 1);
      }
      d[j++] = c;
      i += 2;
    } else {
      d[j++] = s[i];
    }
  }
  d[j] = '\0';
  *out = d;
  return HDB_OK;
}

static hdb_status parse_query(hdb__url *u, const char *q, size_t base, hdb_error *err) {
  const char *p = q;
  while (*p) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len > 0) {
      const char *eq = memchr(p, '=', len);
      size_t klen = eq ? (size_t)(eq - p) : len;
      if (klen == 0)
        return hdb__fail(err, HDB_BAD_URL, "bad URL: at character %zu: empty parameter name",
                         base + (size_t)(p - q) + 1);
      hdb__url_param *np = hdb__realloc(u->params, (u->n_params + 1) * sizeof *np);
      if (!np) return hdb__fail(err, HDB_NOMEM, "out of memory parsing URL");
      u->params = np;
      hdb__url_param *prm = &u->params[u->n_params];
      prm->key = prm->value = NULL;
      hdb_status st = decode(p, klen, base + (size_t)(p - q), &prm->key, err);
      if (st != HDB_OK) return st;
      u->n_params++; /* counted now so free releases the key on failure below */
      if (eq) {
        st = decode(eq + 1, len - klen - 1, base + (size_t)(eq + 1 - q), &prm->value, err);
      } else {
        prm->value = hdb__strdup("");
        st = prm->value ? HDB_OK : hdb__fail(err, HDB_NOMEM, "out of memory parsing URL");
      }
      if (st != HDB_OK) return st;
    }
    if (!amp) break;
    p = amp + 1;
  }
  return HDB_OK;
}

/* user[:password]@host[:port][/path] ; `s` is the part before '?', `base`
 * its offset in the URL. */
static hdb_status parse_authority(hdb__url *u, const char *s, size_t base, hdb_error *err) {
  hdb_status st;
  const char *slash = strchr(s, '/');
  size_t alen = slash ? (size_t)(slash - s) : strlen(s);
  const char *at = NULL;
  for (size_t i = 0; i < alen; i++)
    if (s[i] == '@') at = s + i; /* the last '@' ends the userinfo */
  const char *host = s;
  if (at) {
    const char *colon = memchr(s, ':', (size_t)(at - s));
    size_t ulen = colon ? (size_t)(colon - s) : (size_t)(at - s);
    st = decode(s, ulen, base, &u->user, err);
    if (st != HDB_OK) return st;
    if (colon) {
      st = decode(colon + 1, (size_t)(at - colon - 1), base + (size_t)(colon + 1 - s),
                  &u->password, err);
      if (st != HDB_OK) return st;
    }
    host = at + 1;
  }
  const char *hend = s + alen;
  const char *port = NULL;
  if (host < hend && *host == '[') { /* [IPv6] */
    const char *rb = memchr(host, ']', (size_t)(hend - host));
    if (!rb)
      return hdb__fail(err, HDB_BAD_URL, "bad URL: at character %zu: '[' without a closing ']'",
                       base + (size_t)(host - s) + 1);
    u->host = hdb__strndup(host + 1, (size_t)(rb - host - 1));
    if (!u->host) return hdb__fail(err, HDB_NOMEM, "out of memory parsing URL");
    if (rb + 1 < hend) {
      if (rb[1] != ':')
        return hdb__fail(err, HDB_BAD_URL, "bad URL: at character %zu: expected ':' after ']'",
                         base + (size_t)(rb + 1 - s) + 1);
      port = rb + 2;
    }
  } else {
    const char *colon = memchr(host, ':', (size_t)(hend - host));
    size_t hlen = colon ? (size_t)(colon - host) : (size_t)(hend - host);
    for (size_t i = 0; i < hlen; i++) {
      unsigned char c = (unsigned char)host[i];
      if (!(isalnum(c) || c == '.' || c == '-' || c == '_'))
        return hdb__fail(err, HDB_BAD_URL, "bad URL: at character %zu: '%c' is not allowed in a host name",
                         base + (size_t)(host - s) + i + 1, c);
    }
    u->host = hdb__strndup(host, hlen);
    if (!u->host) return hdb__fail(err, HDB_NOMEM, "out of memory parsing URL");
    if (colon) port = colon + 1;
  }
  if (port) {
    long v = 0;
    const char *p = port;
    if (p == hend)
      return hdb__fail(err, HDB_BAD_URL, "bad URL: at character %zu: expected a port number after ':'",
                       base + (size_t)(p - s) + 1);
    for (; p < hend; p++) {
      if (!isdigit((unsigned char)*p) || v > 65535)
        return hdb__fail(err, HDB_BAD_URL, "bad URL: at character %zu: the port must be a number from 1 to 65535",
                         base + (size_t)(p - s) + 1);
      v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 65535)
      return hdb__fail(err, HDB_BAD_URL, "bad URL: port %ld is out of range (1-65535)", v);
    u->port = (int)v;
  }
  if (slash) return decode(slash + 1, strlen(slash + 1), base + (size_t)(slash + 1 - s), &u->path, err);
  u->path = hdb__strdup("");
  return u->path ? HDB_OK : hdb__fail(err, HDB_NOMEM, "out of memory parsing URL");
}

static hdb_status make_redacted(hdb__url *u, hdb_error *err) {
  const char *raw = u->raw;
  if (u->password) {
    /* Replace the text between the first ':' after "://" and the last '@'
     * of the authority with "***". */
    const char *auth = strstr(raw, "://") + 3;
    const char *end = auth + strcspn(auth, "/?");
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
      if (*p == '@') at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
      size_t pre = (size_t)(colon + 1 - raw), post = strlen(at);
      u->redacted = hdb__malloc(pre + 3 + post + 1);
      if (!u->redacted) return hdb__fail(err, HDB_NOMEM, "out of memory parsing URL");
      memcpy(u->redacted, raw, pre);
      memcpy(u->redacted + pre, "***", 3);
      memcpy(u->redacted + pre + 3, at, post + 1);
      return HDB_OK;
    }
  }
  u->redacted = hdb__strdup(raw);
  return u->redacted ? HDB_OK : hdb__fail(err, HDB_NOMEM, "out of memory parsing URL");
}

hdb_status hdb__url_parse(const char *text, hdb__url *u, hdb_error *err) {
  memset(u, 0, sizeof *u);
  if (!text || !*text) return hdb__fail(err, HDB_BAD_URL, "bad URL: empty (expected e.g. native://./data)");
  for (const char *p = text; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= ' ' || c == 0x7f)
      return hdb__fail(err, HDB_BAD_URL,
                       "bad URL: at character %zu: spaces and control characters must be %%-escaped",
                       (size_t)(p - text) + 1);
  }
  const char *sep = strstr(text, "://");
  size_t slen = sep ? (size_t)(sep - text) : 0;
  if (!sep || slen == 0)
    return hdb__fail(err, HDB_BAD_URL, "bad URL '%.200s': expected SCHEME://... (e.g. native://./data, memory://, sqlite://app.db)",
                     text);
  char scheme[32];
  if (slen >= sizeof scheme)
    return hdb__fail(err, HDB_BAD_URL, "bad URL '%.200s': unknown scheme", text);
  for (size_t i = 0; i < slen; i++) scheme[i] = (char)tolower((unsigned char)text[i]);
  scheme[slen] = '\0';
  const scheme_entry *se = NULL;
  for (size_t i = 0; i < sizeof SCHEMES / sizeof SCHEMES[0]; i++)
    if (strcmp(SCHEMES[i].scheme, scheme) == 0) se = &SCHEMES[i];
  if (!se)
    return hdb__fail(err, HDB_BAD_URL,
                     "bad URL: unknown scheme '%s' (known: native, lancedb, memory, file, sqlite, "
                     "duckdb, postgresql, postgres, redis, s3, elasticsearch)",
                     scheme);

  hdb_status st = HDB_NOMEM;
  u->backend = se->backend;
  u->raw = hdb__strdup(text);
  u->scheme = hdb__strdup(scheme);
  if (!u->raw || !u->scheme) goto nomem;

  const char *rest = sep + 3;
  size_t base = (size_t)(rest - text);
  const char *q = strchr(rest, '?');
  char *main_part = hdb__strndup(rest, q ? (size_t)(q - rest) : strlen(rest));
  if (!main_part) goto nomem;
  if (se->path_style)
    st = decode(main_part, strlen(main_part), base, &u->path, err);
  else
    st = parse_authority(u, main_part, base, err);
  hdb__free_mem(main_part);
  if (st != HDB_OK) goto fail;
  if (q && (st = parse_query(u, q + 1, (size_t)(q + 1 - text), err)) != HDB_OK) goto fail;

  /* Per-scheme requirements that the parse alone cannot see. */
  switch (u->backend) {
    case HDB_BACKEND_NATIVE:
    case HDB_BACKEND_FILE:
    case HDB_BACKEND_SQLITE:
    case HDB_BACKEND_DUCKDB:
      if (!*u->path) {
        st = hdb__fail(err, HDB_BAD_URL, "bad URL '%.200s': %s:// needs a path (e.g. %s://./data)", text,
                       scheme, scheme);
        goto fail;
      }
      break;
    case HDB_BACKEND_S3:
      if (!u->host || !*u->host) {
        st = hdb__fail(err, HDB_BAD_URL, "bad URL '%.200s': s3:// needs a bucket (s3://bucket/prefix)", text);
        goto fail;
      }
      break;
    case HDB_BACKEND_ELASTIC:
      if (!u->host || !*u->host) {
        st = hdb__fail(err, HDB_BAD_URL, "bad URL '%.200s': elasticsearch:// needs a host", text);
        goto fail;
      }
      break;
    default:
      break;
  }
  if ((st = make_redacted(u, err)) != HDB_OK) goto fail;
  return HDB_OK;

nomem:
  st = hdb__fail(err, HDB_NOMEM, "out of memory parsing URL");
fail:
  hdb__url_free(u);
  return st;
}

void hdb__url_free(hdb__url *u) {
  if (!u) return;
  hdb__free_mem(u->raw);
  hdb__free_mem(u->redacted);
  hdb__free_mem(u->scheme);
  hdb__free_mem(u->user);
  if (u->password) {
    memset(u->password, 0, strlen(u->password)); /* do not leave secrets in freed memory */
    hdb__free_mem(u->password);
  }
  hdb__free_mem(u->host);
  hdb__free_mem(u->path);
  for (size_t i = 0; i < u->n_params; i++) {
    hdb__free_mem(u->params[i].key);
    hdb__free_mem(u->params[i].value);
  }
  hdb__free_mem(u->params);
  memset(u, 0, sizeof *u);
}

const char *hdb__url_param_get(const hdb__url *u, const char *key) {
  for (size_t i = u->n_params; i-- > 0;) /* the last occurrence wins */
    if (strcmp(u->params[i].key, key) == 0) return u->params[i].value;
  return NULL;
}
