#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the reader expects next. */
enum {
    S_START,        /* the top-level value */
    S_ARRAY_FIRST,  /* after '[': a value or ']' */
    S_ARRAY_NEXT,   /* after ',' in an array: a value */
    S_OBJECT_FIRST, /* after '{': a key or '}' */
    S_OBJECT_NEXT,  /* after ',' in an object: a key */
    S_MEMBER_VALUE, /* after "key": */
    S_AFTER,        /* after a value inside a container: ',' or the close */
    S_DONE,         /* after the top-level value: end of input */
    S_FAILED
};

/* 1: byte may appear unescaped inside a string and needs no attention. */
static const unsigned char plain_char[256] = {
    [0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0xff] = 1, /* not " or \\ */
};

static json_token fail(json_reader *r, size_t pos, const char *msg)
{
    r->error = msg;
    r->error_pos = pos;
    r->state = S_FAILED;
    return JSON_ERROR;
}

/* "unexpected character 'x'" with the byte shown safely. */
static json_token fail_char(json_reader *r, size_t pos, const char *what)
{
    unsigned char c = (unsigned char)r->src[pos];

    if (c >= 0x20 && c < 0x7f)
        snprintf(r->error_buf, sizeof r->error_buf, "%s '%c'", what, c);
    else
        snprintf(r->error_buf, sizeof r->error_buf, "%s (byte 0x%02x)", what, c);
    return fail(r, pos, r->error_buf);
}

void json_reader_init(json_reader *r, const char *src, size_t len, int max_depth)
{
    memset(r, 0, sizeof *r);
    r->src = src;
    r->len = len;
    if (max_depth < 1)
        max_depth = 1;
    if (max_depth > JSON_MAX_DEPTH)
        max_depth = JSON_MAX_DEPTH;
    r->max_depth = max_depth;
    r->state = S_START;
}

static void skip_space(json_reader *r)
{
    const char *s = r->src;
    size_t p = r->pos;

    while (p < r->len && (s[p] == ' ' || s[p] == '\n' || s[p] == '\r' || s[p] == '\t'))
        p++;
    r->pos = p;
}

static int in_object(const json_reader *r)
{
    int d = r->depth - 1;

    return (r->objects[d / 8] >> (d % 8)) & 1;
}

static json_token open_container(json_reader *r, int object)
{
    int d = r->depth;

    if (d >= r->max_depth) {
        snprintf(r->error_buf, sizeof r->error_buf, "nesting deeper than %d levels",
                 r->max_depth);
        return fail(r, r->pos, r->error_buf);
    }
    if (object)
        r->objects[d / 8] |= (unsigned char)(1u << (d % 8));
    else
        r->objects[d / 8] &= (unsigned char)~(1u << (d % 8));
    r->depth++;
    r->pos++;
    r->state = object ? S_OBJECT_FIRST : S_ARRAY_FIRST;
    return object ? JSON_OBJECT : JSON_ARRAY;
}

static json_token close_container(json_reader *r, int object)
{
    r->depth--;
    r->pos++;
    r->state = r->depth == 0 ? S_DONE : S_AFTER;
    return object ? JSON_OBJECT_END : JSON_ARRAY_END;
}

static int hex4(const char *s)
{
    int i;

    for (i = 0; i < 4; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
    }
    return 1;
}

/* Validates the string whose opening quote is at r->pos; sets the payload
 * and moves past the closing quote. */
static int scan_string(json_reader *r)
{
    const char *s = r->src;
    size_t open = r->pos;
    size_t p = open + 1;

    r->escaped = 0;
    for (;;) {
        while (p < r->len && plain_char[(unsigned char)s[p]])
            p++;
        if (p >= r->len) {
            fail(r, open, "unterminated string");
            return -1;
        }
        if (s[p] == '"')
            break;
        if (s[p] != '\\') {
            snprintf(r->error_buf, sizeof r->error_buf,
                     "unescaped control character 0x%02x in string", (unsigned char)s[p]);
            fail(r, p, r->error_buf);
            return -1;
        }
        r->escaped = 1;
        if (p + 1 >= r->len) {
            fail(r, open, "unterminated string");
            return -1;
        }
        switch (s[p + 1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            p += 2;
            break;
        case 'u':
            if (r->len - p < 6 || !hex4(s + p + 2)) {
                fail(r, p, "invalid \\u escape (expected 4 hex digits)");
                return -1;
            }
            p += 6;
            break;
        default:
            fail_char(r, p + 1, "invalid escape");
            return -1;
        }
    }
    r->str = s + open + 1;
    r->str_len = p - open - 1;
    r->pos = p + 1;
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static json_token scan_number(json_reader *r)
{
    const char *s = r->src;
    size_t start = r->pos;
    size_t p = start;
    int negative = 0, integral = 1;
    uint64_t v = 0, limit;
    size_t i;

    if (s[p] == '-') {
        negative = 1;
        p++;
    }
    if (p >= r->len || !is_digit(s[p]))
        return fail(r, p, "expected a digit after '-'");
    if (s[p] == '0') {
        p++;
        if (p < r->len && is_digit(s[p]))
            return fail(r, p, "leading zeros are not allowed in numbers");
    } else {
        while (p < r->len && is_digit(s[p]))
            p++;
    }
    if (p < r->len && s[p] == '.') {
        integral = 0;
        p++;
        if (p >= r->len || !is_digit(s[p]))
            return fail(r, p, "expected a digit after '.'");
        while (p < r->len && is_digit(s[p]))
            p++;
    }
    if (p < r->len && (s[p] == 'e' || s[p] == 'E')) {
        integral = 0;
        p++;
        if (p < r->len && (s[p] == '+' || s[p] == '-'))
            p++;
        if (p >= r->len || !is_digit(s[p]))
            return fail(r, p, "expected a digit in the exponent");
        while (p < r->len && is_digit(s[p]))
            p++;
    }
    r->pos = p;

    if (integral) {
        limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (i = start + negative; i < p; i++) {
            unsigned d = (unsigned)(s[i] - '0');
            if (v > (limit - d) / 10)
                break;
            v = v * 10 + d;
        }
        if (i == p) {
            /* -(2^63) is representable; negate in unsigned to avoid overflow */
            r->integer = negative ? (int64_t)(0 - v) : (int64_t)v;
            return JSON_INTEGER;
        }
    }
    /* The grammar checked above is a subset of strtod's, and strtod stops
     * where it does (at worst at the terminating NUL). */
    r->number = strtod(s + start, NULL);
    return JSON_DOUBLE;
}

static json_token scan_literal(json_reader *r, const char *word, size_t n, json_token tok)
{
    if (r->len - r->pos < n || memcmp(r->src + r->pos, word, n) != 0)
        return fail_char(r, r->pos, "unexpected character");
    r->pos += n;
    return tok;
}

/* A value starts at r->pos (spaces skipped). */
static json_token scan_value(json_reader *r)
{
    json_token tok;

    if (r->pos >= r->len)
        return fail(r, r->pos, "unexpected end of input");
    switch (r->src[r->pos]) {
    case '{':
        return open_container(r, 1);
    case '[':
        return open_container(r, 0);
    case '"':
        if (scan_string(r) != 0)
            return JSON_ERROR;
        tok = JSON_STRING;
        break;
    case 't':
        tok = scan_literal(r, "true", 4, JSON_TRUE);
        break;
    case 'f':
        tok = scan_literal(r, "false", 5, JSON_FALSE);
        break;
    case 'n':
        tok = scan_literal(r, "null", 4, JSON_NULL);
        break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        tok = scan_number(r);
        break;
    default:
        return fail_char(r, r->pos, "unexpected character");
    }
    if (tok != JSON_ERROR)
        r->state = r->depth == 0 ? S_DONE : S_AFTER;
    return tok;
}

static json_token scan_key(json_reader *r)
{
    if (r->pos >= r->len)
        return fail(r, r->pos, "unexpected end of input");
    if (r->src[r->pos] != '"')
        return fail_char(r, r->pos, "expected a string key but found");
    if (scan_string(r) != 0)
        return JSON_ERROR;
    skip_space(r);
    if (r->pos >= r->len)
        return fail(r, r->pos, "unexpected end of input");
    if (r->src[r->pos] != ':')
        return fail_char(r, r->pos, "expected ':' after object key but found");
    r->pos++;
    r->state = S_MEMBER_VALUE;
    return JSON_KEY;
}

json_token json_next(json_reader *r)
{
    char c;

    for (;;) {
        if (r->state == S_FAILED)
            return JSON_ERROR;
        skip_space(r);
        c = r->pos < r->len ? r->src[r->pos] : '\0';
        switch (r->state) {
        case S_START:
        case S_MEMBER_VALUE:
            return scan_value(r);
        case S_ARRAY_FIRST:
            if (c == ']' && r->pos < r->len)
                return close_container(r, 0);
            return scan_value(r);
        case S_ARRAY_NEXT:
            if (c == ']' && r->pos < r->len)
                return fail(r, r->pos, "trailing comma before ']'");
            return scan_value(r);
        case S_OBJECT_FIRST:
            if (c == '}' && r->pos < r->len)
                return close_container(r, 1);
            return scan_key(r);
        case S_OBJECT_NEXT:
            if (c == '}' && r->pos < r->len)
                return fail(r, r->pos, "trailing comma before '}'");
            return scan_key(r);
        case S_AFTER:
            if (r->pos >= r->len)
                return fail(r, r->pos, "unexpected end of input");
            if (c == ',') {
                r->pos++;
                r->state = in_object(r) ? S_OBJECT_NEXT : S_ARRAY_NEXT;
                continue;
            }
            if (in_object(r)) {
                if (c == '}')
                    return close_container(r, 1);
                return fail_char(r, r->pos, "expected ',' or '}' but found");
            }
            if (c == ']')
                return close_container(r, 0);
            return fail_char(r, r->pos, "expected ',' or ']' but found");
        case S_DONE:
            if (r->pos >= r->len)
                return JSON_END;
            return fail_char(r, r->pos, "unexpected data after the value:");
        default:
            return fail(r, r->pos, "reader in an invalid state");
        }
    }
}

static unsigned hex_value(const char *s)
{
    unsigned v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else
            v |= (unsigned)(c - 'A' + 10);
    }
    return v;
}

static char *put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        *out++ = (char)cp;
    } else if (cp < 0x800) {
        *out++ = (char)(0xc0 | (cp >> 6));
        *out++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *out++ = (char)(0xe0 | (cp >> 12));
        *out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *out++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *out++ = (char)(0xf0 | (cp >> 18));
        *out++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *out++ = (char)(0x80 | (cp & 0x3f));
    }
    return out;
}

size_t json_unescape(const char *raw, size_t raw_len, char *out)
{
    const char *p = raw, *end = raw + raw_len;
    char *o = out;
    unsigned cp, lo;

    while (p < end) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        switch (p[1]) {
        case 'b': *o++ = '\b'; p += 2; continue;
        case 'f': *o++ = '\f'; p += 2; continue;
        case 'n': *o++ = '\n'; p += 2; continue;
        case 'r': *o++ = '\r'; p += 2; continue;
        case 't': *o++ = '\t'; p += 2; continue;
        case 'u': break;
        default: *o++ = p[1]; p += 2; continue; /* '"', '\\', '/' */
        }
        cp = hex_value(p + 2);
        p += 6;
        if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            lo = hex_value(p + 2);
            if (lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
        }
        if (cp >= 0xd800 && cp < 0xe000)
            cp = 0xfffd; /* a surrogate left alone */
        o = put_utf8(o, cp);
    }
    return (size_t)(o - out);
}

void json_position(const char *src, size_t len, size_t pos, size_t *line, size_t *col)
{
    size_t i, l = 1, c = 1;

    if (pos > len)
        pos = len;
    for (i = 0; i < pos; i++) {
        if (src[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)src[i] & 0xc0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Output bytes for each input byte: 1, 2 (\n) or 6 (\u001f). */
static const unsigned char escape_width[256] = {
    [0x00 ... 0x07] = 6, ['\b'] = 2, ['\t'] = 2, ['\n'] = 2, [0x0b] = 6, ['\f'] = 2,
    ['\r'] = 2, [0x0e ... 0x1f] = 6, [0x20 ... 0x21] = 1, ['"'] = 2, [0x23 ... 0x5b] = 1,
    ['\\'] = 2, [0x5d ... 0xff] = 1,
};

size_t json_escaped_len(const char *s, size_t n)
{
    size_t i, total = 0;

    for (i = 0; i < n; i++)
        total += escape_width[(unsigned char)s[i]];
    return total;
}

char *json_escape(char *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run;

    for (i = 0; i < n;) {
        /* copy runs of plain bytes in one go */
        for (run = i; run < n && escape_width[(unsigned char)s[run]] == 1; run++)
            ;
        memcpy(out, s + i, run - i);
        out += run - i;
        if (run == n)
            break;
        i = run;
        unsigned char c = (unsigned char)s[i++];
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\b': *out++ = 'b'; break;
        case '\f': *out++ = 'f'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        default:
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 15];
        }
    }
    return out;
}

int json_format_double(double d, char *buf)
{
    int prec, n = 0;

    if (!isfinite(d))
        return -1;
    /* %.17g always round-trips; fewer digits usually do and read better */
    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, 32, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return n;
}
