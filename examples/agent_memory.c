/*
 * agent_memory.c - a local AI agent's memory on hanzo-db, end to end.
 *
 * An agent keeps notes (text, a small image, JSON metadata and an
 * embedding), searches them by meaning with a metadata filter, summarizes
 * them with aggregates, keeps session state in the key-value store, and
 * undoes a mistake with a transaction. The embedding is a real (if small)
 * one: hashed word and character-trigram features, L2-normalized, so
 * sentences sharing words and word pieces land close together under cosine.
 *
 *   agent_memory [URL]      default: native://./agent-memory
 *
 * Uses only the public header.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hanzodb.h"

#define DIM 256

/* FNV-1a, to spread features over the embedding's dimensions. */
static uint32_t fnv1a(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 16777619u;
  }
  return h;
}

static void add_feature(float *v, const char *s, size_t n, float weight) {
  uint32_t h = fnv1a(s, n);
  v[h % DIM] += (h & 0x80000000u) ? -weight : weight; /* signed hashing keeps it unbiased */
}

static void embed(const char *text, float *v) {
  char lower[512];
  size_t n = 0;
  for (; text[n] && n < sizeof lower - 1; n++) lower[n] = (char)tolower((unsigned char)text[n]);
  lower[n] = '\0';
  memset(v, 0, DIM * sizeof *v);
  size_t i = 0;
  while (i < n) {
    while (i < n && !isalnum((unsigned char)lower[i])) i++;
    size_t start = i;
    while (i < n && isalnum((unsigned char)lower[i])) i++;
    size_t len = i - start;
    if (len == 0) continue;
    add_feature(v, lower + start, len, 1.0f);
    for (size_t j = start; j + 3 <= i; j++) add_feature(v, lower + j, 3, 0.5f);
  }
  float norm = 0;
  for (int d = 0; d < DIM; d++) norm += v[d] * v[d];
  norm = sqrtf(norm);
  if (norm > 0)
    for (int d = 0; d < DIM; d++) v[d] /= norm;
}

static int check(hdb *db, hdb_status st, const char *what) {
  if (st == HDB_OK) return 0;
  fprintf(stderr, "agent_memory: %s failed: %s: %s\n", what, hdb_status_name(st), hdb_errmsg(db));
  return 1;
}

static void print_cursor(hdb_cursor *c, int with_distance) {
  const hdb_record *r;
  hdb_status st;
  while ((st = hdb_cursor_next(c, &r)) == HDB_OK) {
    char *json = NULL;
    if (hdb_record_to_json(r, &json) != HDB_OK) break;
    if (with_distance)
      printf("  %.3f  %s\n", hdb_cursor_distance(c), json);
    else
      printf("  %s\n", json);
    hdb_free(json);
  }
  if (st != HDB_DONE && st != HDB_OK) fprintf(stderr, "  cursor error: %s\n", hdb_cursor_errmsg(c));
}

struct note {
  const char *id, *kind, *text, *lang;
  int year;
};

static const struct note NOTES[] = {
    {"n01", "recipe", "Brew coffee with a pour-over: 15 g of coffee, 250 g of water at 94 C", "en", 2024},
    {"n02", "recipe", "Cold brew coffee steeps ground beans in cold water for 18 hours", "en", 2023},
    {"n03", "recipe", "Green tea wants water at 80 C and two minutes, not boiling water", "en", 2024},
    {"n04", "fact", "The user prefers dark mode and short answers", "en", 2025},
    {"n05", "fact", "The user's cat is called Miso and likes the window seat", "en", 2022},
    {"n06", "task", "Renew the TLS certificate for the staging server before Friday", "en", 2025},
    {"n07", "task", "Book a table for four on Saturday evening", "en", 2025},
    {"n08", "fact", "Le chat de l'utilisateur s'appelle Miso", "fr", 2022},
    {"n09", "recipe", "Espresso: 18 g of finely ground coffee, 36 g out in 28 seconds", "en", 2025},
    {"n10", "task", "Water the plants on the balcony every second day", "en", 2024},
};

static int load_notes(hdb *db) {
  size_t n = sizeof NOTES / sizeof NOTES[0];
  hdb_record *recs[sizeof NOTES / sizeof NOTES[0]] = {0};
  int rc = 1;
  for (size_t i = 0; i < n; i++) {
    float v[DIM];
    embed(NOTES[i].text, v);
    char meta[128];
    snprintf(meta, sizeof meta, "{\"lang\":\"%s\",\"source\":\"chat\"}", NOTES[i].lang);
    unsigned char thumb[16]; /* stands in for an image: any bytes, zeros included */
    for (size_t b = 0; b < sizeof thumb; b++) thumb[b] = (unsigned char)(i * 16 + b);
    recs[i] = hdb_record_new(NOTES[i].id);
    if (!recs[i] || hdb_record_set_text(recs[i], "text", NOTES[i].text) != HDB_OK ||
        hdb_record_set_text(recs[i], "kind", NOTES[i].kind) != HDB_OK ||
        hdb_record_set_int(recs[i], "year", NOTES[i].year) != HDB_OK ||
        hdb_record_set_json(recs[i], "metadata", meta) != HDB_OK ||
        hdb_record_set_blob(recs[i], "thumbnail", thumb, sizeof thumb) != HDB_OK ||
        hdb_record_set_vector(recs[i], "embedding", v, DIM) != HDB_OK)
      goto out;
  }
  rc = check(db, hdb_insert(db, "notes", recs, n), "insert");
out:
  for (size_t i = 0; i < n; i++) hdb_record_free(recs[i]);
  return rc;
}

static int search(hdb *db, const char *question, const char *filter, int k) {
  float q[DIM];
  embed(question, q);
  hdb_search s = HDB_SEARCH_INIT;
  s.vector = q;
  s.dim = DIM;
  s.k = k;
  s.filter = filter;
  const char *fields[] = {"text", "kind"};
  s.fields = fields;
  s.n_fields = 2;
  hdb_cursor *c = NULL;
  printf("\nsearch \"%s\"%s%s (k=%d):\n", question, filter ? " where " : "", filter ? filter : "", k);
  if (check(db, hdb_search_vector(db, "notes", &s, &c), "search")) return 1;
  print_cursor(c, 1);
  hdb_cursor_close(c);
  return 0;
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "native://./agent-memory";
  hdb_error err;
  hdb *db = NULL;
  if (hdb_open(url, &db, &err) != HDB_OK) {
    fprintf(stderr, "agent_memory: cannot open %s: %s\n", url, err.message);
    return 2;
  }
  printf("hanzo-db %s, backend %s (%s)\n", hdb_version(), hdb_backend_name(hdb_backend_of(db)),
         hdb_url(db));

  int rc = 1;
  hdb_schema *schema = NULL;
  hdb_cursor *c = NULL;
  hdb_error serr;
  if (hdb_schema_from_json("{\"text\":\"text\",\"kind\":\"text\",\"year\":\"int\","
                           "\"metadata\":\"json\",\"thumbnail\":\"blob\","
                           "\"embedding\":\"vector(256,cosine)\"}",
                           &schema, &serr) != HDB_OK) {
    fprintf(stderr, "agent_memory: schema: %s\n", serr.message);
    goto out;
  }
  hdb_table_drop(db, "notes", HDB_IF_EXISTS);
  if (check(db, hdb_table_create(db, "notes", schema, 0), "create table")) goto out;
  if (load_notes(db)) goto out;
  uint64_t n = 0;
  if (check(db, hdb_count(db, "notes", NULL, &n), "count")) goto out;
  printf("stored %llu notes with text, thumbnail, metadata and a %d-d embedding\n",
         (unsigned long long)n, DIM);

  /* Search by meaning, then narrow with metadata in either filter syntax. */
  if (search(db, "how do I make coffee?", NULL, 3)) goto out;
  if (search(db, "how do I make coffee?", "kind = 'recipe' AND year >= 2024", 3)) goto out;
  if (search(db, "what is the cat called", "{\"metadata.lang\":\"fr\"}", 1)) goto out;

  /* Structured query: open tasks, newest first. */
  hdb_sort_key sort[] = {{"year", 1}};
  const char *fields[] = {"text", "year"};
  hdb_query_options q = HDB_QUERY_INIT;
  q.filter = "kind = 'task'";
  q.sort = sort;
  q.n_sort = 1;
  q.fields = fields;
  q.n_fields = 2;
  printf("\ntasks, newest first:\n");
  if (check(db, hdb_query(db, "notes", &q, &c), "query")) goto out;
  print_cursor(c, 0);
  hdb_cursor_close(c);
  c = NULL;

  /* Analytics: notes per kind with their year range. */
  hdb_agg aggs[] = {{HDB_AGG_COUNT, NULL}, {HDB_AGG_MIN, "year"}, {HDB_AGG_MAX, "year"}};
  printf("\nnotes per kind:\n");
  if (check(db, hdb_aggregate(db, "notes", aggs, 3, "kind", NULL, &c), "aggregate")) goto out;
  print_cursor(c, 0);
  hdb_cursor_close(c);
  c = NULL;

  /* Session state in the key-value store, one namespace per agent. */
  if (hdb_capabilities(db) & HDB_CAP_KV) {
    hdb_kv_batch *b = hdb_kv_batch_new();
    hdb_kv_batch_put(b, "agent/session", "turn:001", 8, "user asked about coffee", 23);
    hdb_kv_batch_put(b, "agent/session", "turn:002", 8, "agent suggested pour-over", 25);
    hdb_kv_batch_put(b, "agent/session", "mood", 4, "curious", 7);
    hdb_status st = hdb_kv_write(db, b);
    hdb_kv_batch_free(b);
    if (check(db, st, "kv batch")) goto out;
    hdb_kv_range range = {.prefix = "turn:", .prefix_len = 5};
    hdb_kv_iter *it = NULL;
    if (check(db, hdb_kv_iter_open(db, "agent/session", &range, &it), "kv iterator")) goto out;
    printf("\nsession turns (KV prefix scan):\n");
    const void *k, *v;
    size_t kl, vl;
    while (hdb_kv_iter_next(it, &k, &kl, &v, &vl) == HDB_OK)
      printf("  %.*s = %.*s\n", (int)kl, (const char *)k, (int)vl, (const char *)v);
    hdb_kv_iter_free(it);
  }

  /* A transaction undoes a mistaken bulk delete. */
  if (hdb_capabilities(db) & HDB_CAP_TRANSACTIONS) {
    uint64_t deleted = 0, after = 0;
    if (check(db, hdb_begin(db), "begin")) goto out;
    if (check(db, hdb_delete_where(db, "notes", "kind = 'fact'", &deleted), "delete")) goto out;
    if (check(db, hdb_rollback(db), "rollback")) goto out;
    if (check(db, hdb_count(db, "notes", "kind = 'fact'", &after), "count")) goto out;
    printf("\ndeleted %llu facts in a transaction, rolled back: %llu facts remain\n",
           (unsigned long long)deleted, (unsigned long long)after);
  }

  /* Bad input is refused with a message that names the problem. */
  {
    float short_vec[3] = {1, 2, 3};
    hdb_record *bad = hdb_record_new("n99");
    hdb_record_set_vector(bad, "embedding", short_vec, 3);
    hdb_status st = hdb_insert(db, "notes", &bad, 1);
    printf("\ninserting a 3-d embedding: %s: %s\n", hdb_status_name(st), hdb_errmsg(db));
    hdb_record_free(bad);
    hdb_cursor *fc = NULL;
    hdb_query_options bq = HDB_QUERY_INIT;
    bq.filter = "year >= 2020 AND (kind = 'task'";
    st = hdb_query(db, "notes", &bq, &fc);
    printf("a filter missing ')': %s: %s\n", hdb_status_name(st), hdb_errmsg(db));
    hdb_cursor_close(fc);
  }
  rc = 0;

out:
  hdb_cursor_close(c);
  hdb_schema_free(schema);
  hdb_close(db);
  return rc;
}
