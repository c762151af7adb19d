/* state.c: the transition table of the payment state machine (see state.h). */
#include "payment/state.h"

#include <stddef.h>
#include <string.h>

static const char *const names[PAY__COUNT] = {
    [PAY_READY] = "READY",     [PAY_IN_PROGRESS] = "IN_PROGRESS", [PAY_DONE] = "DONE",
    [PAY_ABORTED] = "ABORTED", [PAY_EXPIRED] = "EXPIRED",         [PAY_UNKNOWN] = "UNKNOWN",
};

/* allowed[from][to] */
static const bool allowed[PAY__COUNT][PAY__COUNT] = {
    [PAY_READY] = { [PAY_IN_PROGRESS] = true, [PAY_ABORTED] = true, [PAY_EXPIRED] = true },
    [PAY_IN_PROGRESS] = { [PAY_IN_PROGRESS] = true,
                          [PAY_DONE] = true,
                          [PAY_ABORTED] = true,
                          [PAY_EXPIRED] = true,
                          [PAY_UNKNOWN] = true },
    [PAY_UNKNOWN] = { [PAY_IN_PROGRESS] = true,
                      [PAY_DONE] = true,
                      [PAY_ABORTED] = true,
                      [PAY_EXPIRED] = true },
    /* DONE, ABORTED, EXPIRED: final */
};

const char *pay_status_name(pay_status_t s)
{
    return (s >= 0 && s < PAY__COUNT) ? names[s] : "INVALID";
}

pay_status_t pay_status_parse(const char *s)
{
    if (s == NULL)
        return PAY_INVALID;
    for (int i = 0; i < PAY__COUNT; i++)
        if (strcmp(s, names[i]) == 0)
            return (pay_status_t)i;
    return PAY_INVALID;
}

bool pay_status_final(pay_status_t s)
{
    return s == PAY_DONE || s == PAY_ABORTED || s == PAY_EXPIRED;
}

bool pay_transition_ok(pay_status_t from, pay_status_t to)
{
    if (from < 0 || from >= PAY__COUNT || to < 0 || to >= PAY__COUNT)
        return false;
    return allowed[from][to];
}

void pay_sources_literal(pay_status_t to, char out[PAY_SOURCES_MAX])
{
    strcpy(out, "{");
    for (int f = 0; to >= 0 && to < PAY__COUNT && f < PAY__COUNT; f++) {
        if (!allowed[f][to])
            continue;
        if (out[1])
            strcat(out, ",");
        strcat(out, names[f]);
    }
    strcat(out, "}");
}
