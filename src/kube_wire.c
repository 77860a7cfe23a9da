/*
 * kube_wire.c - scanners over json.h's pull reader. Each walks one object
 * level at a time, keeps the few members it wants as spans of the source
 * and skips every other value by counting brackets, so an object of any
 * size costs one pass and no allocation.
 */
#include "kube_wire.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "smop.h"

/* Skips the value that starts with tok (already read). */
static int skip_value(json_reader *r, json_token tok)
{
    int depth;

    if (tok == JSON_ERROR || tok == JSON_END || tok == JSON_KEY || tok == JSON_ARRAY_END ||
        tok == JSON_OBJECT_END)
        return SMOP_ERR;
    if (tok != JSON_OBJECT && tok != JSON_ARRAY)
        return SMOP_OK;
    for (depth = 1; depth > 0;) {
        switch (json_next(r)) {
        case JSON_OBJECT:
        case JSON_ARRAY:
            depth++;
            break;
        case JSON_OBJECT_END:
        case JSON_ARRAY_END:
            depth--;
            break;
        case JSON_ERROR:
        case JSON_END:
            return SMOP_ERR;
        default:
            break;
        }
    }
    return SMOP_OK;
}

static int key_is(const json_reader *r, const char *name)
{
    size_t n = strlen(name);

    return !r->escaped && r->str_len == n && memcmp(r->str, name, n) == 0;
}

/* Reads a member value; keeps it in *out if it is a string, skips it else. */
static int read_string(json_reader *r, kube_str *out)
{
    json_token tok = json_next(r);

    if (tok != JSON_STRING)
        return skip_value(r, tok);
    out->p = r->str;
    out->n = r->str_len;
    out->escaped = r->escaped;
    return SMOP_OK;
}

/* The members of an object whose '{' was just read, up to its '}':
 * names[i] is kept in *outs[i] when it is a string, the rest skipped. */
static int scan_members(json_reader *r, const char *const *names, kube_str **outs, size_t n)
{
    json_token tok;
    size_t i;

    while ((tok = json_next(r)) != JSON_OBJECT_END) {
        if (tok != JSON_KEY)
            return SMOP_ERR;
        for (i = 0; i < n; i++)
            if (key_is(r, names[i]))
                break;
        if (i < n) {
            if (read_string(r, outs[i]) != SMOP_OK)
                return SMOP_ERR;
        } else if (skip_value(r, json_next(r)) != SMOP_OK) {
            return SMOP_ERR;
        }
    }
    return SMOP_OK;
}

static int scan_meta(json_reader *r, kube_meta *m)
{
    static const char *const names[] = {"name", "namespace", "uid", "resourceVersion"};
    kube_str *outs[] = {&m->name, &m->ns, &m->uid, &m->rv};

    return scan_members(r, names, outs, 4);
}

/* An object's metadata and Status fields; its '{' was just read. */
static int scan_object(json_reader *r, kube_meta *m, kube_status *st)
{
    static const char *const names[] = {"kind", "reason", "message"};
    kube_str *outs[3];
    kube_status scratch;
    json_token tok;
    size_t i;

    if (!st)
        st = &scratch;
    outs[0] = &st->kind;
    outs[1] = &st->reason;
    outs[2] = &st->message;
    while ((tok = json_next(r)) != JSON_OBJECT_END) {
        if (tok != JSON_KEY)
            return SMOP_ERR;
        for (i = 0; i < 3; i++)
            if (key_is(r, names[i]))
                break;
        if (i < 3) {
            if (read_string(r, outs[i]) != SMOP_OK)
                return SMOP_ERR;
        } else if (key_is(r, "metadata")) {
            tok = json_next(r);
            if (tok == JSON_OBJECT && m) {
                if (scan_meta(r, m) != SMOP_OK)
                    return SMOP_ERR;
            } else if (skip_value(r, tok) != SMOP_OK) {
                return SMOP_ERR;
            }
        } else if (key_is(r, "code")) {
            tok = json_next(r);
            if (tok == JSON_INTEGER) {
                st->has_code = 1;
                st->code = r->integer;
            } else if (skip_value(r, tok) != SMOP_OK) {
                return SMOP_ERR;
            }
        } else if (skip_value(r, json_next(r)) != SMOP_OK) {
            return SMOP_ERR;
        }
    }
    return SMOP_OK;
}

static int reader_fail(const json_reader *r, const char *what, char *err, size_t errlen)
{
    if (r->error)
        return smop_fail(err, errlen, "%s: %s at byte %zu", what, r->error, r->error_pos + 1);
    return smop_fail(err, errlen, "%s", what);
}

int kube_wire_event_scan(const char *src, size_t len, kube_wire_event *ev, char *err,
                         size_t errlen)
{
    json_reader r;
    json_token tok;
    int have_object = 0;

    memset(ev, 0, sizeof *ev);
    json_reader_init(&r, src, len, KUBE_WIRE_MAX_DEPTH);
    if (json_next(&r) != JSON_OBJECT)
        return reader_fail(&r, "watch event is not a JSON object", err, errlen);
    while ((tok = json_next(&r)) != JSON_OBJECT_END) {
        if (tok != JSON_KEY)
            return reader_fail(&r, "bad watch event", err, errlen);
        if (key_is(&r, "type")) {
            if (read_string(&r, &ev->type) != SMOP_OK)
                return reader_fail(&r, "bad watch event", err, errlen);
        } else if (key_is(&r, "object")) {
            tok = json_next(&r);
            if (tok != JSON_OBJECT) {
                if (skip_value(&r, tok) != SMOP_OK)
                    return reader_fail(&r, "bad watch event", err, errlen);
                continue;
            }
            ev->obj_off = r.pos - 1;
            if (scan_object(&r, &ev->meta, &ev->status) != SMOP_OK)
                return reader_fail(&r, "bad watch event", err, errlen);
            ev->obj_len = r.pos - ev->obj_off;
            have_object = 1;
        } else if (skip_value(&r, json_next(&r)) != SMOP_OK) {
            return reader_fail(&r, "bad watch event", err, errlen);
        }
    }
    if (json_next(&r) != JSON_END)
        return reader_fail(&r, "bad watch event", err, errlen);
    if (!ev->type.p || !have_object)
        return smop_fail(err, errlen, "watch event without a \"type\" string and an "
                                      "\"object\" object");
    return SMOP_OK;
}

struct list_scan {
    kube_wire_item_fn item;
    void *ud;
    int stopped;
};

static int scan_items(json_reader *r, struct list_scan *ls)
{
    json_token tok;

    while ((tok = json_next(r)) != JSON_ARRAY_END) {
        kube_meta m;
        size_t start;

        if (tok != JSON_OBJECT)
            return SMOP_ERR;    /* an item must be an object */
        memset(&m, 0, sizeof m);
        start = r->pos - 1;
        if (scan_object(r, &m, NULL) != SMOP_OK)
            return SMOP_ERR;
        if (ls->item(ls->ud, r->src + start, r->pos - start, &m) != 0) {
            ls->stopped = 1;
            return SMOP_ERR;
        }
    }
    return SMOP_OK;
}

int kube_wire_list_scan(const char *src, size_t len, kube_wire_item_fn item, void *ud,
                        kube_wire_list *out, char *err, size_t errlen)
{
    static const char *const names[] = {"resourceVersion", "continue"};
    kube_str *outs[] = {&out->rv, &out->cont};
    struct list_scan ls = {item, ud, 0};
    json_reader r;
    json_token tok;

    memset(out, 0, sizeof *out);
    json_reader_init(&r, src, len, KUBE_WIRE_MAX_DEPTH);
    if (json_next(&r) != JSON_OBJECT)
        return reader_fail(&r, "list is not a JSON object", err, errlen);
    while ((tok = json_next(&r)) != JSON_OBJECT_END) {
        if (tok != JSON_KEY)
            goto fail;
        if (key_is(&r, "items")) {
            tok = json_next(&r);
            if (tok == JSON_NULL)
                continue;       /* Go marshals an empty list's nil slice so */
            if (tok != JSON_ARRAY || scan_items(&r, &ls) != SMOP_OK)
                goto fail;
        } else if (key_is(&r, "metadata")) {
            tok = json_next(&r);
            if (tok != JSON_OBJECT) {
                if (skip_value(&r, tok) != SMOP_OK)
                    goto fail;
            } else if (scan_members(&r, names, outs, 2) != SMOP_OK) {
                goto fail;
            }
        } else if (skip_value(&r, json_next(&r)) != SMOP_OK) {
            goto fail;
        }
    }
    if (json_next(&r) != JSON_END)
        goto fail;
    if (!out->rv.p)
        return smop_fail(err, errlen, "list without metadata.resourceVersion");
    return SMOP_OK;
fail:
    if (ls.stopped)
        return SMOP_ERR;
    return reader_fail(&r, "bad list", err, errlen);
}

int kube_wire_status_scan(const char *src, size_t len, kube_status *st)
{
    json_reader r;

    memset(st, 0, sizeof *st);
    json_reader_init(&r, src, len, KUBE_WIRE_MAX_DEPTH);
    if (json_next(&r) != JSON_OBJECT || scan_object(&r, NULL, st) != SMOP_OK ||
        json_next(&r) != JSON_END) {
        memset(st, 0, sizeof *st);
        return SMOP_ERR;
    }
    return SMOP_OK;
}

size_t kube_str_copy(const kube_str *s, char *out, size_t size)
{
    size_t n;
    char *tmp;

    if (!size)
        return 0;
    out[0] = '\0';
    if (!s->p)
        return 0;
    if (!s->escaped || s->n < size) {
        n = s->escaped ? json_unescape(s->p, s->n, out) : s->n;
        if (!s->escaped)
            memcpy(out, s->p, n < size ? n : size - 1);
        out[n < size ? n : size - 1] = '\0';
        return n;
    }
    tmp = malloc(s->n);
    if (!tmp) {     /* cut the raw text rather than fail a message */
        memcpy(out, s->p, size - 1);
        out[size - 1] = '\0';
        return s->n;
    }
    n = json_unescape(s->p, s->n, tmp);
    memcpy(out, tmp, n < size ? n : size - 1);
    out[n < size ? n : size - 1] = '\0';
    free(tmp);
    return n;
}

int kube_str_eq(const kube_str *s, const char *lit)
{
    char buf[64];
    size_t n = strlen(lit);

    if (!s->p)
        return 0;
    if (!s->escaped)
        return s->n == n && memcmp(s->p, lit, n) == 0;
    if (n >= sizeof buf || kube_str_copy(s, buf, sizeof buf) != n)
        return 0;
    return memcmp(buf, lit, n) == 0;
}
