/*
 * creds_answer.c - the pure parts of creds.h: times, refresh rules, and the
 * answers of STS (XML) and of the container and IMDS endpoints (JSON).
 *
 * Answers come from the network: every copy is bounded, every message built
 * from them is one line, and no message quotes a credential field.
 */
#include "creds.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "smop.h"

int creds_needs_refresh(time_t expiration, time_t now)
{
    return expiration != 0 && expiration - now < CREDS_REFRESH_BEFORE;
}

int creds_expired(time_t expiration, time_t now)
{
    return expiration != 0 && now >= expiration;
}

/* Reads exactly n digits; never looks past the first non-digit. */
static int digits(const char *s, int n, int *out)
{
    int i, v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SMOP_ERR;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return SMOP_OK;
}

int creds_parse_time(const char *s, time_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    const char *p;
    time_t t;

    if (!s || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
        s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
        return SMOP_ERR;
    p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return SMOP_ERR;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, 2, &oh))
            return SMOP_ERR;
        p += 3;
        if (*p == ':')
            p++;
        if (digits(p, 2, &om))
            return SMOP_ERR;
        p += 2;
    } else {
        return SMOP_ERR;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
        oh > 23 || om > 59)
        return SMOP_ERR;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return SMOP_ERR;
    *out = t - (time_t)sign * (oh * 3600 + om * 60);
    return SMOP_OK;
}

/* Replaces control characters so a remote message stays on one line. */
static void one_line(char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
    }
}

/* ---- XML: just enough for STS's flat answers ---- */

/* Finds the first element <name ...>...</name> in [s, e) and sets [*vs, *ve)
 * to its content. STS answers have no CDATA and no same-named nesting. */
static int xml_find(const char *s, const char *e, const char *name,
                    const char **vs, const char **ve)
{
    size_t n = strlen(name);
    const char *p, *gt, *q;

    for (p = s; p < e; p++) {
        if (*p != '<' || (size_t)(e - p) < n + 2 || memcmp(p + 1, name, n) != 0)
            continue;
        q = p + 1 + n;
        if (*q != '>' && *q != '/' && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
            continue;
        gt = memchr(q, '>', (size_t)(e - q));
        if (!gt)
            return SMOP_ERR;
        if (gt[-1] == '/') { /* <name/> */
            *vs = *ve = gt + 1;
            return SMOP_OK;
        }
        for (q = gt + 1; q < e; q++) {
            if (*q == '<' && (size_t)(e - q) >= n + 3 && q[1] == '/' &&
                memcmp(q + 2, name, n) == 0 &&
                (q[2 + n] == '>' || q[2 + n] == ' ' || q[2 + n] == '\t' ||
                 q[2 + n] == '\r' || q[2 + n] == '\n')) {
                *vs = gt + 1;
                *ve = q;
                return SMOP_OK;
            }
        }
        return SMOP_ERR;
    }
    return SMOP_ERR;
}

static size_t utf8_put(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes one entity at s (just after '&'); returns its length through ';'
 * and the bytes in buf, or 0 if it is not one (then '&' stays literal). */
static size_t xml_entity(const char *s, const char *e, char *buf, size_t *nbuf)
{
    static const struct { const char *name; char c; } named[] = {
        {"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''},
    };
    size_t i, len = (size_t)(e - s);
    unsigned long cp = 0;
    const char *p;

    for (i = 0; i < sizeof named / sizeof named[0]; i++) {
        size_t n = strlen(named[i].name);

        if (len >= n && memcmp(s, named[i].name, n) == 0) {
            buf[0] = named[i].c;
            *nbuf = 1;
            return n;
        }
    }
    if (len < 3 || s[0] != '#')
        return 0;
    p = s + 1;
    if (*p == 'x' || *p == 'X') {
        for (p++; p < e && p < s + 9; p++) {
            int v = (*p >= '0' && *p <= '9') ? *p - '0'
                  : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
                  : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
            if (v < 0)
                break;
            cp = cp * 16 + (unsigned long)v;
        }
    } else {
        for (; p < e && p < s + 9 && *p >= '0' && *p <= '9'; p++)
            cp = cp * 10 + (unsigned long)(*p - '0');
    }
    if (p >= e || *p != ';' || cp == 0 || cp > 0x10ffff)
        return 0;
    *nbuf = utf8_put(buf, cp);
    return (size_t)(p - s) + 1;
}

/* Copies element text into out (NUL-terminated), decoding entities and
 * trimming surrounding whitespace. SMOP_ERR if it does not fit. */
static int xml_text(const char *s, const char *e, char *out, size_t size)
{
    size_t n = 0;

    while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        e--;
    while (s < e) {
        char buf[4];
        size_t nbuf = 1, used = 0;

        if (*s == '&')
            used = xml_entity(s + 1, e, buf, &nbuf);
        if (used) {
            s += used + 1;
        } else {
            buf[0] = *s++;
            nbuf = 1;
        }
        if (n + nbuf >= size)
            return SMOP_ERR;
        memcpy(out + n, buf, nbuf);
        n += nbuf;
    }
    out[n] = '\0';
    return SMOP_OK;
}

/* If the document is an AWS error (<Error><Code/><Message/></Error>), writes
 * "Code: Message" into err and returns 1. */
static int xml_error(const char *body, size_t len, char *err, size_t errlen)
{
    const char *s, *e, *vs, *ve;
    char code[128] = "", msg[512] = "";

    if (xml_find(body, body + len, "Error", &s, &e) != SMOP_OK)
        return 0;
    if (xml_find(s, e, "Code", &vs, &ve) == SMOP_OK && xml_text(vs, ve, code, sizeof code))
        code[0] = '\0';
    if (xml_find(s, e, "Message", &vs, &ve) == SMOP_OK &&
        xml_text(vs, ve, msg, sizeof msg) != SMOP_OK) {
        /* too long: keep what fits, it is only for a human */
        size_t n = (size_t)(ve - vs) < sizeof msg - 4 ? (size_t)(ve - vs) : sizeof msg - 4;

        memcpy(msg, vs, n);
        memcpy(msg + n, "...", 4);
    }
    one_line(code);
    one_line(msg);
    smop_fail(err, errlen, "%s%s%s", code[0] ? code : "unknown error",
              msg[0] ? ": " : "", msg);
    return 1;
}

int creds_parse_sts(const char *body, size_t len, creds *out, char *err, size_t errlen)
{
    static const struct { const char *tag; size_t off, size; } fields[] = {
        {"AccessKeyId", offsetof(creds, access_key_id), sizeof(((creds *)0)->access_key_id)},
        {"SecretAccessKey", offsetof(creds, secret_access_key),
         sizeof(((creds *)0)->secret_access_key)},
        {"SessionToken", offsetof(creds, session_token), sizeof(((creds *)0)->session_token)},
    };
    const char *s, *e, *vs, *ve;
    char when[64];
    size_t i;

    if (xml_error(body, len, err, errlen))
        return SMOP_ERR;
    if (xml_find(body, body + len, "Credentials", &s, &e) != SMOP_OK)
        return smop_fail(err, errlen, "answer without Credentials");
    for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char *dst = (char *)out + fields[i].off;

        if (xml_find(s, e, fields[i].tag, &vs, &ve) != SMOP_OK)
            return smop_fail(err, errlen, "answer without Credentials/%s", fields[i].tag);
        if (xml_text(vs, ve, dst, fields[i].size) != SMOP_OK)
            return smop_fail(err, errlen, "Credentials/%s longer than %zu bytes",
                             fields[i].tag, fields[i].size - 1);
        if (!dst[0])
            return smop_fail(err, errlen, "answer with an empty Credentials/%s", fields[i].tag);
    }
    if (xml_find(s, e, "Expiration", &vs, &ve) != SMOP_OK)
        return smop_fail(err, errlen, "answer without Credentials/Expiration");
    if (xml_text(vs, ve, when, sizeof when) != SMOP_OK ||
        creds_parse_time(when, &out->expiration) != SMOP_OK)
        return smop_fail(err, errlen, "Credentials/Expiration is not an ISO 8601 time");
    return SMOP_OK;
}

/* ---- JSON: the flat answers of the container endpoint and IMDS ---- */

struct json_answer {
    char code[128];
    char message[512];
    char expiration[64];
    int has_expiration;
};

/* Copies a STRING token into dst; SMOP_ERR if it does not fit. */
static int json_copy(const json_reader *r, char *dst, size_t size)
{
    if (r->str_len >= size)
        return SMOP_ERR;
    if (r->escaped)
        dst[json_unescape(r->str, r->str_len, dst)] = '\0';
    else {
        memcpy(dst, r->str, r->str_len);
        dst[r->str_len] = '\0';
    }
    return SMOP_OK;
}

/* Skips the value whose first token was tok (objects and arrays whole). */
static json_token json_skip(json_reader *r, json_token tok)
{
    int depth = 0;

    do {
        if (tok == JSON_OBJECT || tok == JSON_ARRAY)
            depth++;
        else if (tok == JSON_OBJECT_END || tok == JSON_ARRAY_END)
            depth--;
        else if (tok == JSON_ERROR || tok == JSON_END)
            return JSON_ERROR;
        if (depth == 0)
            return tok;
        tok = json_next(r);
    } while (1);
}

int creds_parse_json(const char *body, size_t len, creds *out, char *err, size_t errlen)
{
    json_reader r;
    json_token tok;
    struct json_answer a;
    char key[64];

    memset(&a, 0, sizeof a);
    out->access_key_id[0] = out->secret_access_key[0] = out->session_token[0] = '\0';
    out->expiration = 0;
    json_reader_init(&r, body, len, 16);
    if (json_next(&r) != JSON_OBJECT)
        goto bad_json;
    for (;;) {
        char *dst = NULL;
        size_t size = 0;
        const char *field;

        tok = json_next(&r);
        if (tok == JSON_OBJECT_END)
            break;
        if (tok != JSON_KEY)
            goto bad_json;
        if (json_copy(&r, key, sizeof key) != SMOP_OK)
            key[0] = '\0';
        field = key;
        if (strcmp(key, "AccessKeyId") == 0) {
            dst = out->access_key_id;
            size = sizeof out->access_key_id;
        } else if (strcmp(key, "SecretAccessKey") == 0) {
            dst = out->secret_access_key;
            size = sizeof out->secret_access_key;
        } else if (strcmp(key, "Token") == 0) {
            dst = out->session_token;
            size = sizeof out->session_token;
        } else if (strcmp(key, "Expiration") == 0) {
            dst = a.expiration;
            size = sizeof a.expiration;
            a.has_expiration = 1;
        } else if (strcasecmp(key, "Code") == 0) {
            dst = a.code;
            size = sizeof a.code;
        } else if (strcasecmp(key, "Message") == 0) {
            dst = a.message;
            size = sizeof a.message;
        }
        tok = json_next(&r);
        if (tok == JSON_STRING && dst) {
            if (json_copy(&r, dst, size) != SMOP_OK) {
                if (dst == a.message) /* only for humans */
                    snprintf(dst, size, "(message too long)");
                else
                    return smop_fail(err, errlen, "%s longer than %zu bytes", field, size - 1);
            }
        } else if (json_skip(&r, tok) == JSON_ERROR) {
            goto bad_json;
        }
    }
    one_line(a.code);
    one_line(a.message);
    if ((a.code[0] && strcmp(a.code, "Success") != 0) || !out->access_key_id[0]) {
        if (a.code[0] || a.message[0])
            return smop_fail(err, errlen, "%s%s%s", a.code[0] ? a.code : "error",
                             a.message[0] ? ": " : "", a.message);
        return smop_fail(err, errlen, "answer without AccessKeyId");
    }
    if (!out->secret_access_key[0])
        return smop_fail(err, errlen, "answer without SecretAccessKey");
    if (a.has_expiration && creds_parse_time(a.expiration, &out->expiration) != SMOP_OK)
        return smop_fail(err, errlen, "Expiration is not an ISO 8601 time");
    return SMOP_OK;

bad_json:
    if (r.error)
        return smop_fail(err, errlen, "answer is not a JSON object (%s at byte %zu)",
                         r.error, r.error_pos);
    return smop_fail(err, errlen, "answer is not a JSON object");
}
