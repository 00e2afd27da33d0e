/*
 * pg_pool.c - the connection pool of the postgresql:// backend.
 *
 * One pool per distinct (connection parameters, pool options), shared by
 * every hdb handle of the process that opens the same URL, kept in a
 * registry and freed with its last handle. A call checks a connection out
 * and returns it; a transaction keeps it until commit or rollback.
 *
 * Checkout, in order:
 *  1. an idle connection that passes validation: libpq says CONNECTION_OK,
 *     its socket has nothing to read (a server that restarted or killed
 *     the backend has sent a FATAL message and closed it: poll() sees
 *     data or EOF), and, when it sat idle longer than
 *     idle_check_ms, an empty query answers. Connections that fail are
 *     closed and the next idle one is tried;
 *  2. else, when fewer than max are open, a new connection (opened outside
 *     the lock: the slot is reserved first, invariant 3 in pg.h);
 *  3. else wait on the condition variable until one is returned or a slot
 *     frees, up to timeout_ms: HDB_BUSY naming the wait.
 * So after a server restart the idle connections are found dead and
 * replaced transparently; only calls in flight at the restart fail, with
 * HDB_UNAVAILABLE (pg_txn.c never returns a broken connection here).
 *
 * Every connection is set up the same way (hdb__pg_connect): notices are
 * swallowed (the library never prints), client_encoding is UTF8, and
 * DateStyle/TimeZone/extra_float_digits are fixed so text forms are
 * predictable (values travel in binary anyway).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pg.h"

#include "core/alloc.h"
#include "core/err.h"

/* A connection the pool opened and its session state (pg.h); the slot is
 * zeroed when the connection is opened and freed when it is closed. */
typedef struct conn_slot {
  PGconn *pg; /* NULL: free */
  hdb__pg_session s;
} conn_slot;

typedef struct idle_conn {
  PGconn *pg;
  int64_t since_ms; /* when it was returned */
} idle_conn;

struct hdb__pg_pool {
  char *key; /* registry key: parameters and options */
  char **keys, **vals; /* NULL-terminated copies for PQconnectdbParams */
  char *where;
  hdb__pg_pool_opts opts;
  pthread_mutex_t mu;
  pthread_cond_t cv;   /* signalled when a connection is returned or a slot frees */
  idle_conn *idle;     /* LIFO: the most recently used is reused first */
  int n_idle;
  int open;            /* connections that exist or are being opened */
  int refs;            /* guarded by the registry mutex */
  conn_slot *slots;    /* max entries; guarded by mu (the state inside a slot
                          belongs to whoever holds its connection) */
  hdb__pg_tcache *tcache;
  struct hdb__pg_pool *next;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static hdb__pg_pool *registry;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Records a connection the pool opened (caller holds mu). The slots are
 * as many as connections may be open (invariant 3), so one is free. */
static void slot_open(hdb__pg_pool *p, PGconn *pg) {
  for (int i = 0; i < p->opts.max; i++)
    if (!p->slots[i].pg) {
      hdb__pg_session_clear(&p->slots[i].s);
      memset(&p->slots[i], 0, sizeof p->slots[i]);
      p->slots[i].pg = pg;
      return;
    }
}

/* Forgets a connection about to be closed (caller holds mu). */
static void slot_close(hdb__pg_pool *p, PGconn *pg) {
  for (int i = 0; i < p->opts.max; i++)
    if (p->slots[i].pg == pg) {
      hdb__pg_session_clear(&p->slots[i].s);
      memset(&p->slots[i], 0, sizeof p->slots[i]);
      return;
    }
}

hdb__pg_session *hdb__pg_pool_session(hdb__pg_pool *p, PGconn *pg) {
  hdb__pg_session *s = NULL;
  pthread_mutex_lock(&p->mu);
  for (int i = 0; i < p->opts.max && !s; i++)
    if (p->slots[i].pg == pg) s = &p->slots[i].s;
  pthread_mutex_unlock(&p->mu);
  return s;
}

hdb__pg_tcache *hdb__pg_pool_tcache(hdb__pg_pool *p) { return p->tcache; }

static void quiet_notices(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

hdb_status hdb__pg_connect(const char *const *keys, const char *const *vals, const char *where,
                           PGconn **out, hdb_error *err) {
  *out = NULL;
  PGconn *pg = PQconnectdbParams(keys, vals, 0);
  if (!pg) return hdb__fail(err, HDB_NOMEM, "out of memory connecting to postgresql at %s", where);
  if (PQstatus(pg) != CONNECTION_OK) {
    hdb_status st = hdb__pg_fail_connect(pg, where, err);
    PQfinish(pg);
    return st;
  }
  PQsetNoticeProcessor(pg, quiet_notices, NULL);
  /* plan_cache_mode (PostgreSQL 12+): our prepared statements
   * (hdb__pg_exec_cached) are planned for each call's values. */
  PGresult *res = PQexec(pg, PQserverVersion(pg) >= 120000
                                 ? "SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD';"
                                   " SET TimeZone = 'UTC'; SET extra_float_digits = 3;"
                                   " SET plan_cache_mode = force_custom_plan"
                                 : "SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD';"
                                   " SET TimeZone = 'UTC'; SET extra_float_digits = 3");
  hdb_status st = hdb__pg_check(pg, res, PGRES_COMMAND_OK, where, "configuring the session", err);
  if (st != HDB_OK) {
    PQfinish(pg);
    return st;
  }
  PQclear(res);
  *out = pg;
  return HDB_OK;
}

/* Whether an idle connection can be reused; 0 means close it. */
static int still_good(hdb__pg_pool *p, PGconn *pg, int64_t idle_ms) {
  if (PQstatus(pg) != CONNECTION_OK || PQtransactionStatus(pg) != PQTRANS_IDLE) return 0;
  struct pollfd fd = {PQsocket(pg), POLLIN, 0};
  if (fd.fd < 0) return 0;
  int r = poll(&fd, 1, 0);
  if (r < 0 && errno != EINTR) return 0;
  /* An idle connection has nothing to say unless the server is closing
   * it (a FATAL message, then EOF, when it shuts down or the backend is
   * terminated). Anything at all to read: close it and open a fresh one,
   * which costs a reconnect in the rare harmless case. */
  if (r > 0) return 0;
  if (idle_ms >= p->opts.idle_check_ms) {
    PGresult *res = PQexec(pg, "");
    int ok = res && PQresultStatus(res) == PGRES_EMPTY_QUERY;
    PQclear(res);
    if (!ok || PQstatus(pg) != CONNECTION_OK) return 0;
  }
  return 1;
}

static void pool_free(hdb__pg_pool *p) {
  for (int i = 0; i < p->n_idle; i++) PQfinish(p->idle[i].pg);
  for (size_t i = 0; p->keys && p->keys[i]; i++) {
    hdb__free_mem(p->keys[i]);
    hdb__free_mem(p->vals[i]);
  }
  hdb__free_mem(p->keys);
  hdb__free_mem(p->vals);
  hdb__free_mem(p->idle);
  for (int i = 0; p->slots && i < p->opts.max; i++) hdb__pg_session_clear(&p->slots[i].s);
  hdb__free_mem(p->slots);
  hdb__pg_tcache_free(p->tcache);
  hdb__free_mem(p->key);
  hdb__free_mem(p->where);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  hdb__free_mem(p);
}

/* The registry key: every parameter and option, NUL-separated as text. */
static char *make_key(const char *const *keys, const char *const *vals,
                      const hdb__pg_pool_opts *o) {
  size_t n = 64;
  for (size_t i = 0; keys[i]; i++) n += strlen(keys[i]) + strlen(vals[i]) + 2;
  char *k = hdb__malloc(n);
  if (!k) return NULL;
  size_t len = (size_t)snprintf(k, n, "%d/%d/%d/%d", o->min, o->max, o->timeout_ms, o->idle_check_ms);
  for (size_t i = 0; keys[i]; i++) {
    /* \x01 and \x02 cannot occur in URL-decoded connection parameters
     * that libpq accepts, so the key is unambiguous. */
    len += (size_t)snprintf(k + len, n - len, "\x01%s\x02%s", keys[i], vals[i]);
  }
  return k;
}

static hdb__pg_pool *pool_new(const char *const *keys, const char *const *vals, const char *where,
                              const hdb__pg_pool_opts *opts, char *key) {
  hdb__pg_pool *p = hdb__calloc(1, sizeof *p);
  if (!p) return NULL;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->key = key;
  p->opts = *opts;
  size_t n = 0;
  while (keys[n]) n++;
  p->keys = hdb__calloc(n + 1, sizeof *p->keys);
  p->vals = hdb__calloc(n + 1, sizeof *p->vals);
  p->idle = hdb__calloc((size_t)opts->max, sizeof *p->idle);
  p->slots = hdb__calloc((size_t)opts->max, sizeof *p->slots);
  p->tcache = hdb__pg_tcache_new();
  p->where = hdb__strdup(where);
  if (!p->keys || !p->vals || !p->idle || !p->slots || !p->tcache || !p->where) goto fail;
  for (size_t i = 0; i < n; i++) {
    p->keys[i] = hdb__strdup(keys[i]);
    p->vals[i] = p->keys[i] ? hdb__strdup(vals[i]) : NULL;
    if (!p->vals[i]) {
      if (p->keys[i]) {
        hdb__free_mem(p->keys[i]);
        p->keys[i] = NULL;
      }
      goto fail;
    }
  }
  return p;
fail:
  p->key = NULL; /* the caller still owns key on failure */
  pool_free(p);
  return NULL;
}

hdb_status hdb__pg_pool_acquire(const char *const *keys, const char *const *vals,
                                const char *where, const hdb__pg_pool_opts *opts,
                                hdb__pg_pool **out, hdb_error *err) {
  *out = NULL;
  char *key = make_key(keys, vals, opts);
  if (!key) return hdb__fail(err, HDB_NOMEM, "out of memory opening postgresql at %s", where);
  pthread_mutex_lock(&registry_mu);
  hdb__pg_pool *p = registry;
  while (p && strcmp(p->key, key) != 0) p = p->next;
  if (p) {
    p->refs++;
    pthread_mutex_unlock(&registry_mu);
    hdb__free_mem(key);
  } else {
    p = pool_new(keys, vals, where, opts, key);
    if (!p) {
      pthread_mutex_unlock(&registry_mu);
      hdb__free_mem(key);
      return hdb__fail(err, HDB_NOMEM, "out of memory opening postgresql at %s", where);
    }
    p->refs = 1;
    p->next = registry;
    registry = p;
    pthread_mutex_unlock(&registry_mu);
  }
  /* Warm the pool to min (at least one connection, which also proves the
   * server answers and the credentials work). */
  int want = opts->min > 0 ? opts->min : 1;
  PGconn *held[64];
  int nheld = 0;
  hdb_status st = HDB_OK;
  while (nheld < want && nheld < 64) {
    pthread_mutex_lock(&p->mu);
    int enough = p->open >= want && nheld > 0;
    pthread_mutex_unlock(&p->mu);
    if (enough) break;
    st = hdb__pg_pool_get(p, &held[nheld], err);
    if (st != HDB_OK) break;
    nheld++;
  }
  for (int i = 0; i < nheld; i++) hdb__pg_pool_put(p, held[i], 0);
  if (st != HDB_OK) {
    hdb__pg_pool_release(p);
    return st;
  }
  *out = p;
  return HDB_OK;
}

void hdb__pg_pool_release(hdb__pg_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&registry_mu);
  if (--p->refs > 0) {
    pthread_mutex_unlock(&registry_mu);
    return;
  }
  for (hdb__pg_pool **pp = &registry; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  pthread_mutex_unlock(&registry_mu);
  /* The last handle is gone, so no call or transaction holds a
   * connection: every one is idle. */
  pool_free(p);
}

const char *hdb__pg_pool_where(const hdb__pg_pool *p) { return p->where; }

hdb_status hdb__pg_pool_get(hdb__pg_pool *p, PGconn **out, hdb_error *err) {
  *out = NULL;
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += p->opts.timeout_ms / 1000;
  deadline.tv_nsec += (long)(p->opts.timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->n_idle > 0) {
      idle_conn ic = p->idle[--p->n_idle];
      /* Validation may do a round trip: not under the lock. The
       * connection is ours now (counted in open). */
      pthread_mutex_unlock(&p->mu);
      int good = still_good(p, ic.pg, now_ms() - ic.since_ms);
      if (good) {
        *out = ic.pg;
        return HDB_OK;
      }
      pthread_mutex_lock(&p->mu);
      slot_close(p, ic.pg);
      pthread_mutex_unlock(&p->mu);
      PQfinish(ic.pg);
      pthread_mutex_lock(&p->mu);
      p->open--;
    }
    if (p->open < p->opts.max) {
      p->open++;
      pthread_mutex_unlock(&p->mu);
      PGconn *pg = NULL;
      hdb_status st = hdb__pg_connect((const char *const *)p->keys, (const char *const *)p->vals,
                                      p->where, &pg, err);
      if (st != HDB_OK) {
        pthread_mutex_lock(&p->mu);
        p->open--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        return st;
      }
      pthread_mutex_lock(&p->mu);
      slot_open(p, pg);
      pthread_mutex_unlock(&p->mu);
      *out = pg;
      return HDB_OK;
    }
    int rc = pthread_cond_timedwait(&p->cv, &p->mu, &deadline);
    if (rc == ETIMEDOUT && p->n_idle == 0 && p->open >= p->opts.max) {
      int max = p->opts.max;
      pthread_mutex_unlock(&p->mu);
      return hdb__fail(err, HDB_BUSY,
                       "postgresql at %s: timed out after %d ms waiting for a pooled connection "
                       "(all %d in use; raise pool_max or timeout_ms)",
                       p->where, p->opts.timeout_ms, max);
    }
  }
}

void hdb__pg_pool_put(hdb__pg_pool *p, PGconn *pg, int broken) {
  if (!pg) return;
  if (!broken && (PQstatus(pg) != CONNECTION_OK || PQtransactionStatus(pg) != PQTRANS_IDLE))
    broken = 1;
  pthread_mutex_lock(&p->mu);
  if (broken || p->n_idle >= p->opts.max) {
    slot_close(p, pg);
    p->open--;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    PQfinish(pg);
    return;
  }
  p->idle[p->n_idle].pg = pg;
  p->idle[p->n_idle].since_ms = now_ms();
  p->n_idle++;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}
