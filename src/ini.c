#include "ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "smop.h"

#define INI_MAX_FILE (1024 * 1024)

typedef struct ini_entry {
    size_t section;       /* index into sections */
    char *key;
    char *value;
} ini_entry;

struct ini_file {
    char **sections;
    size_t nsections, cap_sections;
    ini_entry *entries;
    size_t nentries, cap_entries;
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims blanks (and a CR left by CRLF) from both ends of [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && (is_blank(**s) || **s == '\r'))
        (*s)++;
    while (*e > *s && (is_blank((*e)[-1]) || (*e)[-1] == '\r'))
        (*e)--;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return SMOP_OK;
    ncap = *cap ? *cap * 2 : 8;
    p = realloc(*arr, ncap * elem);
    if (!p)
        return SMOP_ERR;
    *arr = p;
    *cap = ncap;
    return SMOP_OK;
}

/* Adds the section if new; returns its index, or -1 without memory. */
static long add_section(ini_file *f, const char *s, const char *e)
{
    char *name;
    size_t i, n = 0;
    int in_blank = 0;

    name = malloc((size_t)(e - s) + 1);
    if (!name)
        return -1;
    for (; s < e; s++) {
        if (is_blank(*s)) {
            in_blank = 1;
            continue;
        }
        if (in_blank && n > 0)
            name[n++] = ' ';
        in_blank = 0;
        name[n++] = *s;
    }
    name[n] = '\0';
    for (i = 0; i < f->nsections; i++) {
        if (strcmp(f->sections[i], name) == 0) {
            free(name);
            return (long)i;
        }
    }
    if (grow((void **)&f->sections, &f->cap_sections, f->nsections, sizeof(char *))) {
        free(name);
        return -1;
    }
    f->sections[f->nsections] = name;
    return (long)f->nsections++;
}

static int add_entry(ini_file *f, size_t section, const char *ks, const char *ke,
                     const char *vs, const char *ve)
{
    ini_entry *en;
    size_t i;

    if (grow((void **)&f->entries, &f->cap_entries, f->nentries, sizeof(ini_entry)))
        return SMOP_ERR;
    en = &f->entries[f->nentries];
    en->section = section;
    en->key = strndup(ks, (size_t)(ke - ks));
    en->value = strndup(vs, (size_t)(ve - vs));
    if (!en->key || !en->value) {
        free(en->key);
        free(en->value);
        return SMOP_ERR;
    }
    for (i = 0; en->key[i]; i++)
        en->key[i] = (char)tolower((unsigned char)en->key[i]);
    f->nentries++;
    return SMOP_OK;
}

/* Cuts a value at " #" or " ;" (a comment after a blank). */
static const char *value_end(const char *s, const char *e)
{
    const char *p;

    for (p = s; p < e; p++) {
        if ((*p == '#' || *p == ';') && p > s && is_blank(p[-1]))
            return p;
    }
    return e;
}

ini_file *ini_parse(const char *text, size_t len, const char *name,
                    char *err, size_t errlen)
{
    ini_file *f;
    const char *p = text, *end = text + len;
    long section = -1;
    int have_key = 0;
    size_t key_indent = 0, lineno = 0;

    f = calloc(1, sizeof(*f));
    if (!f)
        goto nomem;
    while (p < end) {
        const char *ls = p, *le, *s, *e, *eq;
        size_t indent;

        le = memchr(p, '\n', (size_t)(end - p));
        if (!le)
            le = end;
        p = le < end ? le + 1 : end;
        lineno++;
        for (s = ls; s < le && is_blank(*s); s++)
            ;
        indent = (size_t)(s - ls);
        e = le;
        trim(&s, &e);
        if (s == e || *s == '#' || *s == ';')
            continue;
        if (have_key && indent > key_indent)
            continue; /* nested setting or continued value: not needed */
        if (*s == '[') {
            const char *close = memchr(s, ']', (size_t)(e - s));

            if (!close) {
                smop_fail(err, errlen, "%s:%zu: section header without ']'", name, lineno);
                goto fail;
            }
            s++;
            trim(&s, &close);
            if (s == close) {
                smop_fail(err, errlen, "%s:%zu: empty section name", name, lineno);
                goto fail;
            }
            section = add_section(f, s, close);
            if (section < 0)
                goto nomem;
            have_key = 0;
            continue;
        }
        if (section < 0) {
            smop_fail(err, errlen, "%s:%zu: setting before any [section]", name, lineno);
            goto fail;
        }
        eq = memchr(s, '=', (size_t)(e - s));
        if (!eq || eq == s) {
            smop_fail(err, errlen, "%s:%zu: expected 'key = value'", name, lineno);
            goto fail;
        }
        {
            const char *ks = s, *ke = eq, *vs = eq + 1, *ve;

            trim(&ks, &ke);
            if (ks == ke) {
                smop_fail(err, errlen, "%s:%zu: expected 'key = value'", name, lineno);
                goto fail;
            }
            ve = value_end(vs, e);
            trim(&vs, &ve);
            if (add_entry(f, (size_t)section, ks, ke, vs, ve))
                goto nomem;
        }
        have_key = 1;
        key_indent = indent;
    }
    return f;

nomem:
    smop_fail(err, errlen, "%s: out of memory", name);
fail:
    ini_free(f);
    return NULL;
}

int ini_load(const char *path, ini_file **out, char *err, size_t errlen)
{
    FILE *fp;
    struct stat st;
    char *buf = NULL;
    size_t size, n;
    int rc = SMOP_ERR;

    *out = NULL;
    fp = fopen(path, "rb");
    if (!fp) {
        if (errno == ENOENT || errno == ENOTDIR)
            return SMOP_OK;
        return smop_fail(err, errlen, "%s: %s", path, strerror(errno));
    }
    if (fstat(fileno(fp), &st) != 0) {
        smop_fail(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        smop_fail(err, errlen, "%s: not a regular file", path);
        goto done;
    }
    if (st.st_size > INI_MAX_FILE) {
        smop_fail(err, errlen, "%s: larger than %d bytes", path, INI_MAX_FILE);
        goto done;
    }
    size = (size_t)st.st_size;
    buf = malloc(size + 1);
    if (!buf) {
        smop_fail(err, errlen, "%s: out of memory", path);
        goto done;
    }
    n = fread(buf, 1, size, fp);
    if (n < size && ferror(fp)) {
        smop_fail(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    *out = ini_parse(buf, n, path, err, errlen);
    if (*out)
        rc = SMOP_OK;
done:
    free(buf);
    fclose(fp);
    return rc;
}

static long find_section(const ini_file *f, const char *section)
{
    size_t i;

    if (!f)
        return -1;
    for (i = 0; i < f->nsections; i++) {
        if (strcmp(f->sections[i], section) == 0)
            return (long)i;
    }
    return -1;
}

const char *ini_get(const ini_file *f, const char *section, const char *key)
{
    long sec = find_section(f, section);
    size_t i;

    if (sec < 0)
        return NULL;
    for (i = f->nentries; i-- > 0;) {
        const ini_entry *en = &f->entries[i];

        if (en->section == (size_t)sec && strcasecmp(en->key, key) == 0)
            return en->value;
    }
    return NULL;
}

int ini_has_section(const ini_file *f, const char *section)
{
    return find_section(f, section) >= 0;
}

void ini_free(ini_file *f)
{
    size_t i;

    if (!f)
        return;
    for (i = 0; i < f->nsections; i++)
        free(f->sections[i]);
    for (i = 0; i < f->nentries; i++) {
        free(f->entries[i].key);
        free(f->entries[i].value);
    }
    free(f->sections);
    free(f->entries);
    free(f);
}
