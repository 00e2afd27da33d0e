/*
 * file_io.c - the file backend's contact with the file system.
 *
 * Owns stamps (how we notice another process's writes), whole-file reads,
 * flock with a deadline, mkdir -p, and the atomic commit of a change set:
 * write every new file as NAME.tmp and fsync it; when more than one file
 * changes, make a journal durable that lists the renames and removals;
 * rename and remove; fsync the directory; drop the journal. A reader never
 * sees half a file, and a crash between renames is rolled forward from the
 * journal by the next process that takes the lock (README.md, rules 4-8).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/file/file.h"
#include "core/alloc.h"
#include "core/err.h"

#define JOURNAL_MAGIC "hanzodb-file-journal 1\n"

/* ------------------------------------------------------------------ */
/* Paths and buffers                                                   */
/* ------------------------------------------------------------------ */

char *hdb__file_path(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = hdb__malloc(a + b + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  size_t j = a;
  if (a > 0 && dir[a - 1] != '/') p[j++] = '/';
  memcpy(p + j, name, b + 1);
  return p;
}

/* ------------------------------------------------------------------ */
/* Stamps                                                              */
/* ------------------------------------------------------------------ */

void hdb__fstamp_init(hdb__fstamp *s) {
  memset(s, 0, sizeof *s);
  s->fd = -1;
}

void hdb__fstamp_clear(hdb__fstamp *s) {
  if (s->fd >= 0) close(s->fd);
  hdb__fstamp_init(s);
}

static int64_t mtime_ns(const struct stat *st) {
  return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static void stamp_set(hdb__fstamp *s, int fd, const struct stat *st) {
  hdb__fstamp_clear(s);
  s->valid = 1;
  s->exists = 1;
  s->fd = fd;
  s->dev = st->st_dev;
  s->ino = st->st_ino;
  s->size = st->st_size;
  s->mtime_ns = mtime_ns(st);
}

static void stamp_absent(hdb__fstamp *s) {
  hdb__fstamp_clear(s);
  s->valid = 1;
}

int hdb__fstamp_same(const hdb__fstamp *s, int dir_fd, const char *name) {
  if (!s->valid) return 0;
  struct stat st;
  if (fstatat(dir_fd, name, &st, 0) != 0) return !s->exists && errno == ENOENT;
  return s->exists && st.st_dev == s->dev && st.st_ino == s->ino && st.st_size == s->size &&
         mtime_ns(&st) == s->mtime_ns;
}

hdb_status hdb__fstamp_refresh(hdb__fstamp *s, int dir_fd, const char *dir, const char *name,
                               hdb_error *err) {
  int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      stamp_absent(s);
      return HDB_OK;
    }
    int e = errno;
    hdb__fstamp_clear(s);
    return hdb__fail(err, HDB_IO, "cannot open %s/%s: %s", dir, name, strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    hdb__fstamp_clear(s);
    return hdb__fail(err, HDB_IO, "cannot stat %s/%s: %s", dir, name, strerror(e));
  }
  stamp_set(s, fd, &st);
  return HDB_OK;
}

hdb_status hdb__file_read(int dir_fd, const char *dir, const char *name, char **buf,
                          size_t *len, hdb__fstamp *stamp, hdb_error *err) {
  *buf = NULL;
  *len = 0;
  int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      stamp_absent(stamp);
      return HDB_OK;
    }
    int e = errno;
    hdb__fstamp_clear(stamp);
    return hdb__fail(err, HDB_IO, "cannot open %s/%s: %s", dir, name, strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    hdb__fstamp_clear(stamp);
    return hdb__fail(err, HDB_IO, "cannot stat %s/%s: %s", dir, name, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    hdb__fstamp_clear(stamp);
    return hdb__fail(err, HDB_IO, "%s/%s is not a regular file", dir, name);
  }
  size_t cap = (size_t)st.st_size + 1, n = 0;
  char *p = hdb__malloc(cap);
  if (!p) {
    close(fd);
    hdb__fstamp_clear(stamp);
    return hdb__fail(err, HDB_NOMEM, "out of memory reading %s/%s", dir, name);
  }
  /* Read to EOF rather than trusting st_size: a non-cooperating program may
   * be appending; the stamp then differs next time and we reload. */
  for (;;) {
    if (n + 1 >= cap) {
      char *q = hdb__realloc(p, cap * 2);
      if (!q) {
        hdb__free_mem(p);
        close(fd);
        hdb__fstamp_clear(stamp);
        return hdb__fail(err, HDB_NOMEM, "out of memory reading %s/%s", dir, name);
      }
      p = q;
      cap *= 2;
    }
    ssize_t r = read(fd, p + n, cap - 1 - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      hdb__free_mem(p);
      close(fd);
      hdb__fstamp_clear(stamp);
      return hdb__fail(err, HDB_IO, "cannot read %s/%s: %s", dir, name, strerror(e));
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  p[n] = '\0';
  stamp_set(stamp, fd, &st);
  *buf = p;
  *len = n;
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Locks and directories                                               */
/* ------------------------------------------------------------------ */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

hdb_status hdb__file_lock(int fd, int exclusive, int timeout_ms, const char *path,
                          hdb_error *err) {
  int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  long delay_us = 200;
  for (;;) {
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) return HDB_OK;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK)
      return hdb__fail(err, HDB_IO, "cannot lock %s: %s", path, strerror(errno));
    int64_t left = deadline - now_ms();
    if (left <= 0)
      return hdb__fail(err, HDB_BUSY, "timed out after %d ms waiting for the %s lock on %s",
                       timeout_ms, exclusive ? "exclusive" : "shared", path);
    long us = delay_us;
    if ((int64_t)us > left * 1000) us = (long)(left * 1000);
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    if (delay_us < 20000) delay_us *= 2;
  }
}

void hdb__file_unlock(int fd) {
  if (fd >= 0) flock(fd, LOCK_UN);
}

hdb_status hdb__file_mkdirs(const char *path, hdb_error *err) {
  char *p = hdb__strdup(path);
  if (!p) return hdb__fail(err, HDB_NOMEM, "out of memory");
  size_t len = strlen(p);
  hdb_status st = HDB_OK;
  for (size_t i = 1; i <= len; i++) {
    if (p[i] != '/' && p[i] != '\0') continue;
    char saved = p[i];
    p[i] = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      st = hdb__fail(err, HDB_IO, "cannot create directory %s: %s", p, strerror(errno));
      break;
    }
    p[i] = saved;
  }
  if (st == HDB_OK) {
    struct stat sb;
    if (stat(path, &sb) != 0)
      st = hdb__fail(err, HDB_IO, "cannot create directory %s: %s", path, strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
      st = hdb__fail(err, HDB_IO, "%s exists and is not a directory", path);
  }
  hdb__free_mem(p);
  return st;
}

hdb_status hdb__file_sync_dir(int dir_fd, const char *dir, hdb_error *err) {
  if (fsync(dir_fd) != 0 && errno != EINVAL)
    return hdb__fail(err, HDB_IO, "cannot fsync directory %s: %s", dir, strerror(errno));
  return HDB_OK;
}

/* ------------------------------------------------------------------ */
/* Change sets                                                         */
/* ------------------------------------------------------------------ */

static hdb__fchange *fchange_slot(hdb__fchanges *c, const char *name, hdb_error *err) {
  for (size_t i = 0; i < c->n; i++) {
    if (strcmp(c->v[i].name, name) == 0) {
      hdb__free_mem(c->v[i].data);
      c->v[i].data = NULL;
      c->v[i].len = 0;
      c->v[i].remove = 0;
      return &c->v[i];
    }
  }
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 4;
    hdb__fchange *v = hdb__realloc(c->v, cap * sizeof *v);
    if (!v) {
      hdb__fail(err, HDB_NOMEM, "out of memory");
      return NULL;
    }
    c->v = v;
    c->cap = cap;
  }
  hdb__fchange *f = &c->v[c->n];
  memset(f, 0, sizeof *f);
  if (!(f->name = hdb__strdup(name))) {
    hdb__fail(err, HDB_NOMEM, "out of memory");
    return NULL;
  }
  c->n++;
  return f;
}

hdb_status hdb__fchanges_put(hdb__fchanges *c, const char *name, hdb__strbuf *data,
                             hdb_error *err) {
  if (data->oom) {
    hdb__strbuf_free(data);
    return hdb__fail(err, HDB_NOMEM, "out of memory writing %s", name);
  }
  hdb__fchange *f = fchange_slot(c, name, err);
  if (!f) {
    hdb__strbuf_free(data);
    return HDB_NOMEM;
  }
  f->data = data->p;
  f->len = data->n;
  data->p = NULL;
  data->n = data->cap = 0;
  return HDB_OK;
}

hdb_status hdb__fchanges_remove(hdb__fchanges *c, const char *name, hdb_error *err) {
  hdb__fchange *f = fchange_slot(c, name, err);
  if (!f) return HDB_NOMEM;
  f->remove = 1;
  return HDB_OK;
}

void hdb__fchanges_free(hdb__fchanges *c) {
  for (size_t i = 0; i < c->n; i++) {
    hdb__free_mem(c->v[i].name);
    hdb__free_mem(c->v[i].data);
  }
  hdb__free_mem(c->v);
  memset(c, 0, sizeof *c);
}

static char *tmp_name(const char *name) {
  size_t n = strlen(name);
  char *t = hdb__malloc(n + 5);
  if (!t) return NULL;
  memcpy(t, name, n);
  memcpy(t + n, ".tmp", 5);
  return t;
}

/* Writes data to dir/name with O_TRUNC and fsyncs it. */
static hdb_status write_durable(int dir_fd, const char *dir, const char *name, const char *data,
                                size_t len, hdb_error *err) {
  int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    return hdb__fail(err, HDB_IO, "cannot write %s/%s: %s", dir, name, strerror(errno));
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return hdb__fail(err, HDB_IO, "cannot write %s/%s: %s", dir, name, strerror(e));
    }
    off += (size_t)w;
  }
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    return hdb__fail(err, HDB_IO, "cannot fsync %s/%s: %s", dir, name, strerror(e));
  }
  if (close(fd) != 0)
    return hdb__fail(err, HDB_IO, "cannot close %s/%s: %s", dir, name, strerror(errno));
  return HDB_OK;
}

static hdb_status apply_rename(int dir_fd, const char *dir, const char *name, hdb_error *err) {
  char *t = tmp_name(name);
  if (!t) return hdb__fail(err, HDB_NOMEM, "out of memory");
  hdb_status st = HDB_OK;
  if (renameat(dir_fd, t, dir_fd, name) != 0)
    st = hdb__fail(err, HDB_IO, "cannot rename %s/%s to %s: %s", dir, t, name, strerror(errno));
  hdb__free_mem(t);
  return st;
}

static hdb_status apply_remove(int dir_fd, const char *dir, const char *name, hdb_error *err) {
  if (unlinkat(dir_fd, name, 0) != 0 && errno != ENOENT)
    return hdb__fail(err, HDB_IO, "cannot remove %s/%s: %s", dir, name, strerror(errno));
  return HDB_OK;
}

hdb_status hdb__file_commit(int dir_fd, const char *dir, const char *journal,
                            const hdb__fchanges *c, hdb_error *err) {
  hdb_status st = HDB_OK;
  size_t written = 0;
  int journaled = 0;
  char *jtmp = NULL;

  /* Phase 1: new contents beside the old ones. Nothing visible changes. */
  for (; written < c->n; written++) {
    const hdb__fchange *f = &c->v[written];
    if (f->remove) continue;
    char *t = tmp_name(f->name);
    if (!t) {
      st = hdb__fail(err, HDB_NOMEM, "out of memory");
      goto undo;
    }
    st = write_durable(dir_fd, dir, t, f->data, f->len, err);
    if (st != HDB_OK) {
      unlinkat(dir_fd, t, 0);
      hdb__free_mem(t);
      goto undo;
    }
    hdb__free_mem(t);
  }

  /* Phase 2: more than one file changes, so make the intent durable. */
  if (c->n > 1) {
    hdb__strbuf j = {0};
    hdb__strbuf_puts(&j, JOURNAL_MAGIC);
    for (size_t i = 0; i < c->n; i++) {
      hdb__strbuf_puts(&j, c->v[i].remove ? "remove " : "rename ");
      hdb__strbuf_puts(&j, c->v[i].name);
      hdb__strbuf_putc(&j, '\n');
    }
    if (j.oom || !(jtmp = tmp_name(journal))) {
      hdb__strbuf_free(&j);
      st = hdb__fail(err, HDB_NOMEM, "out of memory");
      goto undo;
    }
    st = write_durable(dir_fd, dir, jtmp, j.p, j.n, err);
    hdb__strbuf_free(&j);
    if (st != HDB_OK) {
      unlinkat(dir_fd, jtmp, 0);
      goto undo;
    }
    if (renameat(dir_fd, jtmp, dir_fd, journal) != 0) {
      st = hdb__fail(err, HDB_IO, "cannot rename %s/%s: %s", dir, jtmp, strerror(errno));
      unlinkat(dir_fd, jtmp, 0);
      goto undo;
    }
    if ((st = hdb__file_sync_dir(dir_fd, dir, err)) != HDB_OK) {
      unlinkat(dir_fd, journal, 0);
      goto undo;
    }
    journaled = 1;
  }

  /* Phase 3: the switch. From here a failure is rolled forward later. */
  for (size_t i = 0; i < c->n; i++) {
    const hdb__fchange *f = &c->v[i];
    st = f->remove ? apply_remove(dir_fd, dir, f->name, err)
                   : apply_rename(dir_fd, dir, f->name, err);
    if (st != HDB_OK) {
      if (journaled)
        hdb__err_prefix(err, "commit interrupted (the next writer completes it from %s/%s)", dir,
                        journal);
      goto out;
    }
  }
  if ((st = hdb__file_sync_dir(dir_fd, dir, err)) != HDB_OK) goto out;
  if (journaled) {
    if (unlinkat(dir_fd, journal, 0) != 0) {
      st = hdb__fail(err, HDB_IO, "cannot remove %s/%s: %s", dir, journal, strerror(errno));
      goto out;
    }
    st = hdb__file_sync_dir(dir_fd, dir, err);
  }
  goto out;

undo:
  for (size_t i = 0; i < written && i < c->n; i++) {
    if (c->v[i].remove) continue;
    char *t = tmp_name(c->v[i].name);
    if (t) unlinkat(dir_fd, t, 0);
    hdb__free_mem(t);
  }
out:
  hdb__free_mem(jtmp);
  return st;
}

int hdb__file_journal_present(int dir_fd, const char *journal) {
  struct stat st;
  return fstatat(dir_fd, journal, &st, 0) == 0;
}

hdb_status hdb__file_recover(int dir_fd, const char *dir, const char *journal, hdb_error *err) {
  char *buf = NULL;
  size_t len = 0;
  hdb__fstamp stamp;
  hdb__fstamp_init(&stamp);
  hdb_status st = hdb__file_read(dir_fd, dir, journal, &buf, &len, &stamp, err);
  hdb__fstamp_clear(&stamp);
  if (st != HDB_OK || !buf) return st;
  size_t ml = strlen(JOURNAL_MAGIC);
  if (len < ml || memcmp(buf, JOURNAL_MAGIC, ml) != 0) {
    hdb__free_mem(buf);
    return hdb__fail(err, HDB_CORRUPT, "%s/%s: not a hanzodb file journal", dir, journal);
  }
  /* A journal is only made durable after every NAME.tmp it names was, so
   * replaying is safe; a rename whose .tmp is gone was already done. */
  char *line = buf + ml;
  while (st == HDB_OK && *line) {
    char *nl = strchr(line, '\n');
    if (!nl) break; /* torn last line cannot happen: the journal is renamed into place */
    *nl = '\0';
    if (strncmp(line, "rename ", 7) == 0) {
      char *t = tmp_name(line + 7);
      if (!t) {
        st = hdb__fail(err, HDB_NOMEM, "out of memory");
        break;
      }
      struct stat sb;
      if (fstatat(dir_fd, t, &sb, 0) == 0) st = apply_rename(dir_fd, dir, line + 7, err);
      hdb__free_mem(t);
    } else if (strncmp(line, "remove ", 7) == 0) {
      st = apply_remove(dir_fd, dir, line + 7, err);
    } else {
      st = hdb__fail(err, HDB_CORRUPT, "%s/%s: unknown journal entry '%.100s'", dir, journal,
                     line);
    }
    line = nl + 1;
  }
  hdb__free_mem(buf);
  if (st != HDB_OK) return st;
  if ((st = hdb__file_sync_dir(dir_fd, dir, err)) != HDB_OK) return st;
  if (unlinkat(dir_fd, journal, 0) != 0 && errno != ENOENT)
    return hdb__fail(err, HDB_IO, "cannot remove %s/%s: %s", dir, journal, strerror(errno));
  return hdb__file_sync_dir(dir_fd, dir, err);
}
