/*
 * ini.h - the AWS shared config and credentials file format.
 *
 * What the AWS SDKs accept in ~/.aws/credentials and ~/.aws/config:
 *  - "[section]" lines; the name is trimmed and inner runs of blanks become
 *    one space, so "[profile   dev]" is "profile dev". Text after the
 *    closing "]" is ignored (a comment).
 *  - "key = value" lines; keys are trimmed and lower-cased, values trimmed.
 *    In a value, " #" or " ;" (a blank, then the mark) starts a comment.
 *  - whole-line comments starting with "#" or ";", blank lines, CRLF.
 *  - lines indented deeper than the key before them continue that key; they
 *    carry nested settings ("s3 =" followed by "  max_concurrent_requests =
 *    20"), which nothing here needs: they are skipped, never read as keys of
 *    the section.
 *  - a key given twice in a section (or in a section repeated later in the
 *    file): the last one wins.
 * Anything else (a key before any section, a line without "=", an
 * unterminated "[") is an error naming the file and line, as in the SDKs.
 *
 * Ownership: an ini_file owns copies of everything; strings returned by
 * ini_get are borrowed and valid until ini_free.
 */
#ifndef INI_H
#define INI_H

#include <stddef.h>

typedef struct ini_file ini_file;

/* Parses text (len bytes, NUL not required). `name` (a path) only appears in
 * error messages. Returns NULL and writes why into err on failure. */
ini_file *ini_parse(const char *text, size_t len, const char *name,
                    char *err, size_t errlen);

/* Reads and parses the file at path. A missing file is not an error: it
 * returns SMOP_OK with *out = NULL. A file that exists but cannot be read,
 * is larger than 1 MiB or does not parse is SMOP_ERR. */
int ini_load(const char *path, ini_file **out, char *err, size_t errlen);

/* The last value of key in section, or NULL. f may be NULL. */
const char *ini_get(const ini_file *f, const char *section, const char *key);

/* 1 if the section appears in the file (even empty), else 0. f may be NULL. */
int ini_has_section(const ini_file *f, const char *section);

void ini_free(ini_file *f);

#endif
