#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "smop.h"

static int log_json;
static enum log_level log_min = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_json(int json) { log_json = json; }
void log_set_level(enum log_level level) { log_min = level; }
int log_enabled(enum log_level level) { return level >= log_min; }

int log_parse_level(const char *name, enum log_level *out)
{
    int i;

    for (i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return SMOP_OK;
        }
    return SMOP_ERR;
}

/* Writes s quoted for JSON, or for text only if it needs quoting. */
static void put_escaped(FILE *out, const char *s, int json)
{
    const unsigned char *p;
    int quote = json || *s == '\0' || strpbrk(s, " \"=\t\n\\") != NULL;

    if (quote)
        fputc('"', out);
    for (p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    if (quote)
        fputc('"', out);
}

void log_write(enum log_level level, const char *msg, const log_field *fields,
               size_t nfields)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    size_t i;

    if (!log_enabled(level))
        return;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (log_json) {
        fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", stamp,
                level_names[level]);
        put_escaped(stderr, msg, 1);
        for (i = 0; i < nfields; i++) {
            fputc(',', stderr);
            put_escaped(stderr, fields[i].key, 1);
            fputc(':', stderr);
            put_escaped(stderr, fields[i].value, 1);
        }
        fputs("}\n", stderr);
    } else {
        fprintf(stderr, "%s %-5s %s", stamp, level_names[level], msg);
        for (i = 0; i < nfields; i++) {
            fprintf(stderr, " %s=", fields[i].key);
            put_escaped(stderr, fields[i].value, 0);
        }
        fputc('\n', stderr);
    }
    fflush(stderr);
}

void log_printf(enum log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_write(level, msg, NULL, 0);
}
