/*
 * yscalar.h - what a YAML scalar means, read the way Kubernetes reads
 * manifests (sigs.k8s.io/yaml resolves with go-yaml v2, YAML 1.1 flavour),
 * and the reverse question: must a string be quoted to read back as one.
 *
 * Plain scalars: y/yes/true/on and n/no/false/off (lower, Capital or UPPER
 * case) are booleans; "", ~ and null are null; integers follow Go's
 * strconv.ParseInt with base prefixes (0x1f, 0o17, 0b101, 017 octal, +1,
 * underscores ignored), values past int64 become floats; floats match
 * [-+]?(.d+|d+(.d*)?)([eE][-+]?d+)? or .inf/-.inf/.nan. Everything else,
 * timestamps included, is a string. A quoted scalar is a string unless a
 * tag says otherwise. Pure functions, no allocation.
 */
#ifndef YSCALAR_H
#define YSCALAR_H

#include <stddef.h>
#include <stdint.h>

enum { YSCALAR_STR, YSCALAR_NULL, YSCALAR_BOOL, YSCALAR_INT, YSCALAR_FLOAT };

typedef struct yscalar {
    int kind;         /* YSCALAR_*; for STR the value is the text itself */
    int boolean;
    int64_t integer;
    double number;
} yscalar;

void yscalar_resolve_plain(const char *s, size_t n, yscalar *out);

/* Resolves a scalar as libyaml reports it: tag is the resolved tag or NULL,
 * plain says it was unquoted. Standard tags !!null, !!bool, !!int and !!float
 * demand that type (!!float accepts integers): -1 with the reason in why
 * if the text is not one. Other tags (!!str, !!binary, "!", application
 * tags) leave the text a string. */
int yscalar_resolve(const char *s, size_t n, const char *tag, int plain, yscalar *out,
                    char *why, size_t whylen);

/* 1 if the string, written plain, would read back as something else under
 * these rules or a YAML 1.1 reader's (timestamps, 1:20 sexagesimals, <<). */
int yscalar_needs_quotes(const char *s, size_t n);

#endif
