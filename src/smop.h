/*
 * smop.h - conventions shared by every host module.
 *
 * One error idiom: functions that can fail return SMOP_OK (0) or SMOP_ERR (-1)
 * and, where the caller needs to tell a user why, write one line into a
 * caller-owned buffer (char *err, size_t errlen) with snprintf. Messages name
 * the source and what failed; they never contain secrets.
 * Inside a function, failures jump to a single cleanup label.
 */
#ifndef SMOP_H
#define SMOP_H

#include <stddef.h>

#define SMOP_OK 0
#define SMOP_ERR (-1)

#ifndef SMOP_VERSION
#define SMOP_VERSION "0.0.0-dev"
#endif

/* Writes a formatted message into err (if err is non-NULL), always
 * NUL-terminated, truncated to errlen. Returns SMOP_ERR so callers can write
 * `return smop_fail(err, errlen, "...", ...);`. */
int smop_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
