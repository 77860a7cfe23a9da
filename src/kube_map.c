/*
 * kube_map.c - open addressing with linear probing over FNV-1a; the table
 * doubles at 3/4 full and deletion shifts entries back (no tombstones), so
 * lookups stay short through the churn of relists.
 */
#include "kube_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smop.h"

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ULL;   /* FNV-1a */
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find_slot(const kube_map *m, const char *key, size_t n)
{
    size_t i = (size_t)hash(key, n) & (m->cap - 1);

    for (;; i = (i + 1) & (m->cap - 1)) {
        const kube_map_entry *e = m->slots[i];

        if (!e || (e->key_len == n && memcmp(e->data, key, n) == 0))
            return i;
    }
}

kube_map_entry *kube_map_get(const kube_map *m, const char *key, size_t key_len)
{
    if (!m->cap)
        return NULL;
    return m->slots[find_slot(m, key, key_len)];
}

static int grow(kube_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64, i;
    kube_map old = *m;

    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) {
        *m = old;
        return SMOP_ERR;
    }
    m->cap = cap;
    for (i = 0; i < old.cap; i++)
        if (old.slots[i])
            m->slots[find_slot(m, old.slots[i]->data, old.slots[i]->key_len)] = old.slots[i];
    free(old.slots);
    return SMOP_OK;
}

int kube_map_put(kube_map *m, const char *key, size_t key_len, const char *uid,
                 size_t uid_len, const char *rv, size_t rv_len, unsigned gen)
{
    kube_map_entry *e;
    size_t i;

    if (key_len == 0 || key_len > KUBE_MAP_MAX_KEY || uid_len > KUBE_MAP_MAX_FIELD ||
        rv_len > KUBE_MAP_MAX_FIELD)
        return SMOP_ERR;
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m) != SMOP_OK)
        return SMOP_ERR;
    e = malloc(sizeof *e + key_len + uid_len + rv_len + 3);
    if (!e)
        return SMOP_ERR;
    e->gen = gen;
    e->key_len = (unsigned short)key_len;
    e->uid_len = (unsigned char)uid_len;
    e->rv_len = (unsigned char)rv_len;
    memcpy(e->data, key, key_len);
    e->data[key_len] = '\0';
    memcpy(e->data + key_len + 1, uid, uid_len);
    e->data[key_len + 1 + uid_len] = '\0';
    memcpy(e->data + key_len + uid_len + 2, rv, rv_len);
    e->data[key_len + uid_len + 2 + rv_len] = '\0';
    i = find_slot(m, key, key_len);
    if (m->slots[i])
        free(m->slots[i]);
    else
        m->count++;
    m->slots[i] = e;
    return SMOP_OK;
}

/* Linear probing with backward-shift deletion: no tombstones. */
void kube_map_remove(kube_map *m, const char *key, size_t key_len)
{
    size_t mask = m->cap - 1, i, j;

    if (!m->cap)
        return;
    i = find_slot(m, key, key_len);
    if (!m->slots[i])
        return;
    free(m->slots[i]);
    m->slots[i] = NULL;
    m->count--;
    for (j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
        size_t home = (size_t)hash(m->slots[j]->data, m->slots[j]->key_len) & mask;

        /* move j into the hole at i unless its home lies cyclically in (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            m->slots[j] = NULL;
            i = j;
        }
    }
}

void kube_map_free(kube_map *m)
{
    size_t i;

    for (i = 0; i < m->cap; i++)
        free(m->slots[i]);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}
