#include "smop.h"

#include <stdarg.h>
#include <stdio.h>

int smop_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return SMOP_ERR;
}
