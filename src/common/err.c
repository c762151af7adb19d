/* err.c: API error types and their HTTP statuses (see err.h, API.md). */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int status;
} types[ERR__COUNT] = {
    [ERR_NONE] = { "NONE", 200 },
    [ERR_NO_RESOURCE] = { "NO_RESOURCE", 404 },
    [ERR_INVALID_PARAMETER] = { "INVALID_PARAMETER", 400 },
    [ERR_CONFLICT] = { "CONFLICT", 409 },
    [ERR_UNAUTHORIZED] = { "UNAUTHORIZED", 401 },
    [ERR_FORBIDDEN] = { "FORBIDDEN", 403 },
    [ERR_METHOD_NOT_ALLOWED] = { "METHOD_NOT_ALLOWED", 405 },
    [ERR_PAYLOAD_TOO_LARGE] = { "PAYLOAD_TOO_LARGE", 413 },
    [ERR_UNSUPPORTED_MEDIA_TYPE] = { "UNSUPPORTED_MEDIA_TYPE", 415 },
    [ERR_EXTERNAL_API] = { "EXTERNAL_API_ERROR", 502 },
    [ERR_SERVICE_UNAVAILABLE] = { "SERVICE_UNAVAILABLE", 503 },
    [ERR_UNKNOWN] = { "UNKNOWN_ERROR", 500 },
};

const char *err_type_name(err_type_t t)
{
    return (t > ERR_NONE && t < ERR__COUNT) ? types[t].name : types[ERR_UNKNOWN].name;
}

int err_type_status(err_type_t t)
{
    return (t > ERR_NONE && t < ERR__COUNT) ? types[t].status : 500;
}

void err_clear(err_t *e)
{
    e->type = ERR_NONE;
    e->status = 200;
    e->message[0] = e->pg_code[0] = e->pg_message[0] = '\0';
}

static int vset(err_t *e, err_type_t t, int status, const char *fmt, va_list ap)
{
    e->type = t;
    e->status = status;
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    e->pg_code[0] = e->pg_message[0] = '\0';
    return -1;
}

int err_set(err_t *e, err_type_t t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(e, t, err_type_status(t), fmt, ap);
    va_end(ap);
    return -1;
}

int err_set_status(err_t *e, err_type_t t, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(e, t, status, fmt, ap);
    va_end(ap);
    return -1;
}
