/*
 * scripts.c - a script set: a growable array of owned (name, chunk, source).
 * Sets hold tens of modules, so lookups are a linear scan.
 */
#include "scripts.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "smop.h"

#define SCRIPT_MAX_BYTES ((size_t)4 << 20)
#define SCRIPT_MAX_DEPTH 8

struct scripts_set {
    scripts_entry *entries;
    size_t count, cap;
};

extern const scripts_file scripts_builtin[];

scripts_set *scripts_new(void)
{
    return calloc(1, sizeof(scripts_set));
}

static void entry_clear(scripts_entry *e)
{
    free((char *)e->name);
    free((char *)e->chunk);
    free((char *)e->source);
}

void scripts_free(scripts_set *set)
{
    size_t i;

    if (!set)
        return;
    for (i = 0; i < set->count; i++)
        entry_clear(&set->entries[i]);
    free(set->entries);
    free(set);
}

const scripts_entry *scripts_find(const scripts_set *set, const char *name)
{
    size_t i;

    for (i = 0; i < set->count; i++)
        if (strcmp(set->entries[i].name, name) == 0)
            return &set->entries[i];
    return NULL;
}

size_t scripts_count(const scripts_set *set) { return set->count; }
const scripts_entry *scripts_at(const scripts_set *set, size_t i)
{
    return i < set->count ? &set->entries[i] : NULL;
}

int scripts_put(scripts_set *set, const char *name, const char *chunk,
                const char *source, size_t len, const char *origin)
{
    scripts_entry e = {0};
    scripts_entry *slot = (scripts_entry *)scripts_find(set, name);
    char *src;

    e.name = strdup(name);
    e.chunk = strdup(chunk);
    src = malloc(len + 1);
    if (!e.name || !e.chunk || !src) {
        free(src);
        entry_clear(&e);
        return SMOP_ERR;
    }
    memcpy(src, source, len);
    src[len] = '\0';
    e.source = src;
    e.len = len;
    e.origin = origin;
    if (slot) {
        entry_clear(slot);
        *slot = e;
        return SMOP_OK;
    }
    if (set->count == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 32;
        scripts_entry *grown = realloc(set->entries, cap * sizeof *grown);
        if (!grown) {
            entry_clear(&e);
            return SMOP_ERR;
        }
        set->entries = grown;
        set->cap = cap;
    }
    set->entries[set->count++] = e;
    return SMOP_OK;
}

/* "aws/client.lua" -> "aws.client"; "cli/init.lua" -> "cli". */
static int module_name(const char *rel, char *out, size_t size)
{
    size_t n = strlen(rel), i;

    if (n < 5 || strcmp(rel + n - 4, ".lua") != 0 || n - 4 >= size)
        return SMOP_ERR;
    n -= 4;
    memcpy(out, rel, n);
    out[n] = '\0';
    if (n >= 5 && strcmp(out + n - 5, "/init") == 0)
        out[n - 5] = '\0';
    for (i = 0; out[i]; i++)
        if (out[i] == '/')
            out[i] = '.';
    return SMOP_OK;
}

/* Adds the module at path `rel` (below the scripts root). */
static int put_path(scripts_set *set, const char *rel, const char *source, size_t len,
                    const char *origin)
{
    char name[256], chunk[300];

    if (module_name(rel, name, sizeof name) != SMOP_OK)
        return SMOP_OK;     /* not a Lua module: ignore */
    snprintf(chunk, sizeof chunk, "@%s", rel);
    return scripts_put(set, name, chunk, source, len, origin);
}

int scripts_add_builtin(scripts_set *set)
{
    const scripts_file *f;

    for (f = scripts_builtin; f->path; f++)
        if (put_path(set, f->path, f->source, f->len, SCRIPTS_BUILTIN) != SMOP_OK)
            return SMOP_ERR;
    return SMOP_OK;
}

static int load_file(scripts_set *set, const char *path, const char *rel,
                     char *err, size_t errlen)
{
    FILE *f = NULL;
    char *buf = NULL;
    long size;
    int rc = SMOP_ERR;

    if (strlen(rel) < 5 || strcmp(rel + strlen(rel) - 4, ".lua") != 0)
        return SMOP_OK;     /* not a Lua module: ignore */
    f = fopen(path, "rb");
    if (!f) {
        smop_fail(err, errlen, "scripts: %s: %s", path, strerror(errno));
        goto done;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        (size_t)size > SCRIPT_MAX_BYTES || fseek(f, 0, SEEK_SET) != 0) {
        smop_fail(err, errlen, "scripts: %s: unreadable or larger than %zu bytes",
                  path, SCRIPT_MAX_BYTES);
        goto done;
    }
    buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        smop_fail(err, errlen, "scripts: %s: read failed", path);
        goto done;
    }
    if (put_path(set, rel, buf, (size_t)size, SCRIPTS_DIR) != SMOP_OK) {
        smop_fail(err, errlen, "scripts: out of memory");
        goto done;
    }
    rc = SMOP_OK;
done:
    free(buf);
    if (f)
        fclose(f);
    return rc;
}

static int load_tree(scripts_set *set, const char *dir, const char *rel, int depth,
                     char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    struct stat st;
    char path[1024], sub[512];
    int rc = SMOP_OK;

    if (!d)
        return smop_fail(err, errlen, "scripts: %s: %s", dir, strerror(errno));
    while (rc == SMOP_OK && (ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, ent->d_name) >= (int)sizeof path ||
            snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", ent->d_name) >= (int)sizeof sub) {
            rc = smop_fail(err, errlen, "scripts: path too long under %s", dir);
            break;
        }
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < SCRIPT_MAX_DEPTH)
            rc = load_tree(set, path, sub, depth + 1, err, errlen);
        else if (S_ISREG(st.st_mode))
            rc = load_file(set, path, sub, err, errlen);
    }
    closedir(d);
    return rc;
}

int scripts_load_dir(scripts_set *set, const char *dir, char *err, size_t errlen)
{
    return load_tree(set, dir, "", 0, err, errlen);
}
