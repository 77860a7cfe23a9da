#include "yscalar.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

static const char *const kind_names[] = {"str", "null", "bool", "int", "float"};

/* Words go-yaml v2 reads as booleans, nulls and special floats. */
#define T(text) {text, YSCALAR_BOOL, 1}
#define F(text) {text, YSCALAR_BOOL, 0}
#define NUL(text) {text, YSCALAR_NULL, 0}
#define FL(text, v) {text, YSCALAR_FLOAT, v} /* v: sign of an infinity, 0 for NaN */
static const struct {
    const char *text;
    int kind;
    int value;
} plain_words[] = {
    T("y"), T("Y"), T("yes"), T("Yes"), T("YES"), T("true"), T("True"), T("TRUE"),
    T("on"), T("On"), T("ON"),
    F("n"), F("N"), F("no"), F("No"), F("NO"), F("false"), F("False"), F("FALSE"),
    F("off"), F("Off"), F("OFF"),
    NUL("~"), NUL("null"), NUL("Null"), NUL("NULL"),
    FL(".nan", 0), FL(".NaN", 0), FL(".NAN", 0),
    FL(".inf", 1), FL(".Inf", 1), FL(".INF", 1), FL("+.inf", 1), FL("+.Inf", 1), FL("+.INF", 1),
    FL("-.inf", -1), FL("-.Inf", -1), FL("-.INF", -1),
};
#undef T
#undef F
#undef NUL
#undef FL

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

/* Go's strconv.ParseInt(s, 0, 64), falling back to ParseUint for values
 * past int64 (those become floats here, as in smop.json). */
static int parse_int(const char *s, yscalar *out)
{
    int neg = 0, base = 10, d;
    uint64_t v = 0;
    const char *p = s;

    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (p[0] == '0' && p[1] != '\0') {
        switch (p[1]) {
        case 'x': case 'X': base = 16; p += 2; break;
        case 'o': case 'O': base = 8; p += 2; break;
        case 'b': case 'B': base = 2; p += 2; break;
        default: base = 8; p += 1;
        }
    }
    if (*p == '\0')
        return -1;
    for (; *p; p++) {
        d = digit_value(*p);
        if (d >= base)
            return -1;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return -1;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (neg ? v <= (uint64_t)INT64_MAX + 1 : v <= (uint64_t)INT64_MAX) {
        out->kind = YSCALAR_INT;
        out->integer = neg ? (int64_t)(0 - v) : (int64_t)v;
        return 0;
    }
    if (s[0] == '+' || s[0] == '-')
        return -1;
    out->kind = YSCALAR_FLOAT;
    out->number = (double)v;
    return 0;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int yaml_style_float(const char *p)
{
    int digits = 0;

    if (*p == '+' || *p == '-')
        p++;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
        if (!digits)
            return 0;
    } else {
        for (; *p >= '0' && *p <= '9'; p++)
            digits++;
        if (!digits)
            return 0;
        if (*p == '.')
            for (p++; *p >= '0' && *p <= '9'; p++)
                ;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

static int parse_float(const char *s, yscalar *out)
{
    double d;

    if (!yaml_style_float(s))
        return -1;
    errno = 0;
    d = strtod(s, NULL);
    if (errno == ERANGE && isinf(d))
        return -1; /* Go's ParseFloat fails too: the text stays a string */
    out->kind = YSCALAR_FLOAT;
    out->number = d;
    return 0;
}

/* What a plain scalar means (go-yaml v2's resolve, for an untyped target). */
void yscalar_resolve_plain(const char *s, size_t n, yscalar *out)
{
    char buf[128];
    size_t i, k;

    out->kind = YSCALAR_STR;
    if (n == 0) {
        out->kind = YSCALAR_NULL;
        return;
    }
    if (n <= 5) {
        for (i = 0; i < sizeof plain_words / sizeof plain_words[0]; i++) {
            if (strlen(plain_words[i].text) == n && memcmp(plain_words[i].text, s, n) == 0) {
                out->kind = plain_words[i].kind;
                out->boolean = plain_words[i].value;
                out->number = plain_words[i].value == 0 ? NAN
                              : plain_words[i].value > 0 ? HUGE_VAL : -HUGE_VAL;
                return;
            }
        }
    }
    if (!(s[0] == '+' || s[0] == '-' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9')))
        return;
    if (n >= sizeof buf)
        return; /* no number is written that long */
    for (i = k = 0; i < n; i++) {
        if (s[i] == '\0')
            return;
        if (s[i] != '_' || s[0] == '.')
            buf[k++] = s[i];
    }
    buf[k] = '\0';
    if (s[0] == '.') {
        parse_float(buf, out);
        return;
    }
    if (parse_int(buf, out) == 0)
        return;
    parse_float(buf, out);
}

int yscalar_resolve(const char *s, size_t n, const char *tag, int plain, yscalar *out,
                   char *why, size_t whylen)
{
    const char *want;
    int kind;

    out->kind = YSCALAR_STR;
    if (!tag) {
        if (plain)
            yscalar_resolve_plain(s, n, out);
        return 0;
    }
    if (strncmp(tag, TAG_PREFIX, sizeof TAG_PREFIX - 1) != 0)
        return 0; /* "!" or an application tag: the text as a string */
    want = tag + sizeof TAG_PREFIX - 1;
    if (strcmp(want, "null") == 0)
        kind = YSCALAR_NULL;
    else if (strcmp(want, "bool") == 0)
        kind = YSCALAR_BOOL;
    else if (strcmp(want, "int") == 0)
        kind = YSCALAR_INT;
    else if (strcmp(want, "float") == 0)
        kind = YSCALAR_FLOAT;
    else
        return 0; /* str, binary, timestamp, or no scalar type: a string */
    yscalar_resolve_plain(s, n, out);
    if (out->kind == kind)
        return 0;
    if (kind == YSCALAR_FLOAT && out->kind == YSCALAR_INT) {
        out->kind = YSCALAR_FLOAT;
        out->number = (double)out->integer;
        return 0;
    }
    snprintf(why, whylen, "cannot decode !!%s `%.*s%s` as a !!%s", kind_names[out->kind],
             n > 40 ? 40 : (int)n, s, n > 40 ? "..." : "", want);
    return -1;
}

static int looks_like_timestamp(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < 4; i++)
        if (i >= n || s[i] < '0' || s[i] > '9')
            return 0;
    return n > 4 && s[4] == '-';
}

int yscalar_needs_quotes(const char *s, size_t n)
{
    yscalar v;

    yscalar_resolve_plain(s, n, &v);
    if (v.kind != YSCALAR_STR)
        return 1;
    if (n == 2 && memcmp(s, "<<", 2) == 0)
        return 1;
    if (looks_like_timestamp(s, n))
        return 1;
    /* YAML 1.1 sexagesimal numbers (1:20) */
    if (n > 0 && (s[0] == '+' || s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) &&
        memchr(s, ':', n))
        return 1;
    return 0;
}
