/*
 * log.h - one line per event on stderr, as text or JSON.
 *
 * Text:  2026-11-23T13:45:00Z INFO message key=value key="two words"
 * JSON:  {"time":"2026-11-23T13:45:00Z","level":"info","msg":"message","key":"value"}
 * Fields are (key, value) string pairs; values are escaped, never interpreted.
 * Callers must not pass secrets: the logger cannot tell them apart.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

typedef struct log_field {
    const char *key;
    const char *value;
} log_field;

void log_set_json(int json);
void log_set_level(enum log_level level);
int log_parse_level(const char *name, enum log_level *out);
int log_enabled(enum log_level level);

void log_write(enum log_level level, const char *msg, const log_field *fields,
               size_t nfields);
void log_printf(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
