/*
 * kube_map.h - the informer's compact memory of what it has delivered:
 * key ("namespace/name") -> uid, resourceVersion and the list generation
 * that last saw it. One allocation per entry, open addressing.
 *
 * Entry pointers stay valid until the next kube_map_put or kube_map_remove.
 */
#ifndef KUBE_MAP_H
#define KUBE_MAP_H

#include <stddef.h>

typedef struct kube_map_entry {
    unsigned gen;
    unsigned short key_len;
    unsigned char uid_len, rv_len;
    char data[];        /* key \0 uid \0 rv \0 */
} kube_map_entry;

typedef struct kube_map {
    kube_map_entry **slots;
    size_t cap;         /* a power of two, or 0 */
    size_t count;
} kube_map;

/* Longest key, uid and resourceVersion stored; longer ones are refused. */
#define KUBE_MAP_MAX_KEY 512
#define KUBE_MAP_MAX_FIELD 255

kube_map_entry *kube_map_get(const kube_map *m, const char *key, size_t key_len);
/* Inserts or replaces. SMOP_ERR: out of memory or a field too long. */
int kube_map_put(kube_map *m, const char *key, size_t key_len, const char *uid,
                 size_t uid_len, const char *rv, size_t rv_len, unsigned gen);
void kube_map_remove(kube_map *m, const char *key, size_t key_len);
void kube_map_free(kube_map *m);

static inline const char *kube_map_key(const kube_map_entry *e) { return e->data; }
static inline const char *kube_map_uid(const kube_map_entry *e)
{
    return e->data + e->key_len + 1;
}
static inline const char *kube_map_rv(const kube_map_entry *e)
{
    return e->data + e->key_len + e->uid_len + 2;
}

#endif
