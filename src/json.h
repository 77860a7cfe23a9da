/*
 * json.h - strict RFC 8259 JSON: a pull reader and the writer's pure helpers.
 *
 * Nothing here allocates, so callers that build values in an interpreter
 * (ljson.c) can raise errors at any point without leaking.
 *
 * Reader. json_next returns one token at a time and checks the grammar as it
 * goes (commas, colons, nesting, exactly one top-level value, no trailing
 * commas, comments, NaN or leading zeros). Strings are validated but not
 * copied: a STRING or KEY token gives the raw bytes between the quotes; when
 * r->escaped is set, json_unescape turns them into the value in a buffer of
 * str_len bytes (the decoded text is never longer than the raw text).
 * Escapes \uD800-\uDFFF that do not form a surrogate pair decode to U+FFFD, as
 * Go's encoding/json (the Kubernetes API server) does; other bytes, valid
 * UTF-8 or not, pass through unchanged.
 * Numbers without fraction or exponent that fit int64 come as JSON_INTEGER,
 * all others as JSON_DOUBLE (strtod; the host never changes LC_NUMERIC).
 * After JSON_ERROR, r->error says what and r->error_pos where (byte offset);
 * the reader stays in the error state.
 *
 * The source must be followed by a NUL byte (src[len] == '\0', as in every
 * Lua string): strtod reads up to it. Embedded NULs are errors like any other
 * unexpected byte.
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 1000 /* hard ceiling for json_reader_init's max_depth */

typedef enum json_token {
    JSON_ERROR = -1,
    JSON_END = 0,      /* the input ended after one complete value */
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_INTEGER,      /* r->integer */
    JSON_DOUBLE,       /* r->number */
    JSON_STRING,       /* r->str, r->str_len, r->escaped */
    JSON_KEY,          /* an object member's name, same fields; ':' consumed */
    JSON_ARRAY,        /* '[' */
    JSON_ARRAY_END,
    JSON_OBJECT,       /* '{' */
    JSON_OBJECT_END
} json_token;

typedef struct json_reader {
    const char *src;
    size_t len;
    size_t pos;
    int depth;
    int max_depth;
    int state;
    unsigned char objects[JSON_MAX_DEPTH / 8 + 1]; /* bit d: level d is an object */

    /* payload of the last token */
    const char *str;
    size_t str_len;
    int escaped;
    int64_t integer;
    double number;

    /* after JSON_ERROR */
    const char *error;
    size_t error_pos;
    char error_buf[64];
} json_reader;

/* max_depth is clamped to 1..JSON_MAX_DEPTH. */
void json_reader_init(json_reader *r, const char *src, size_t len, int max_depth);
json_token json_next(json_reader *r);

/* Decodes a STRING/KEY token's raw bytes (validated by the reader) into out,
 * which must hold raw_len bytes. Returns the decoded length. */
size_t json_unescape(const char *raw, size_t raw_len, char *out);

/* 1-based line and column (in UTF-8 characters) of byte offset pos. */
void json_position(const char *src, size_t len, size_t pos, size_t *line, size_t *col);

/* Writer helpers. The escaped form of a string (without the quotes) escapes
 * '"', '\\' and control characters only; other bytes are copied as they are. */
size_t json_escaped_len(const char *s, size_t n);
char *json_escape(char *out, const char *s, size_t n); /* returns the end */

/* Shortest text that reads back as the same double ("0.1", "1e+300", "3").
 * Writes at most 32 bytes including the NUL; returns the length, or -1 for
 * NaN and infinities, which JSON cannot express. */
int json_format_double(double d, char *buf);

#endif
