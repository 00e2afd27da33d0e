/*
 * alloc.h - the one place the library allocates.
 *
 * All allocation goes through these wrappers so that tests can make the
 * N-th allocation fail (hdb__alloc_fail_after) and check that every error
 * path returns HDB_NOMEM and leaks nothing, the way SQLite's fault
 * simulation does. The hook is process-wide and meant only for tests.
 */
#ifndef HDB_CORE_ALLOC_H
#define HDB_CORE_ALLOC_H

#include <stddef.h>

void *hdb__malloc(size_t n);
void *hdb__calloc(size_t count, size_t size);
void *hdb__realloc(void *p, size_t n);
void hdb__free_mem(void *p);
char *hdb__strdup(const char *s);
char *hdb__strndup(const char *s, size_t n);
void *hdb__memdup(const void *p, size_t n);

/* Test hook: after `n` more successful allocations, every allocation fails
 * until reset with a negative n. */
void hdb__alloc_fail_after(long n);

#endif
