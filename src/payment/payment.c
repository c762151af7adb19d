/* payment.c: the payment module's hooks: configuration, metrics, routes,
 * SQL and the `reconcile` job (see payment.h for the files of the module and
 * docs/payments.md for the design). */
#include "payment/payment.h"
#include "common/config.h"
#include "common/log.h"
#include "server/module.h"

#include <stdio.h>
#include <string.h>

payment_config_t payment_cfg;

static const cfg_key_t keys[] = {
    { "PUBLIC_BASE_URL", CFG_STR, &payment_cfg.public_base_url,
      "http://127.0.0.1:8080/api/v1/payments", 8, 500,
      "the public base of successUrl/failUrl (base + /success/toss, /fail/toss)", cfg_check_url },
    { "PAYMENT_MAX_AMOUNT", CFG_INT, &payment_cfg.max_amount, "10000000", 1, PAY_AMOUNT_HARD_MAX,
      "largest amount of one payment (KRW)", NULL },
    { "PAYMENT_READY_EXPIRY_S", CFG_INT, &payment_cfg.ready_expiry_s, "1800", 60, 86400,
      "age at which an unconfirmed READY payment expires (the gateway's 30 minutes)", NULL },
    { "RECONCILE_INTERVAL_S", CFG_INT, &payment_cfg.reconcile_interval_s, "60", 0, 86400,
      "seconds between reconciler runs started by the master (0: none)", NULL },
    { "RECONCILE_MIN_AGE_S", CFG_INT, &payment_cfg.reconcile_min_age_s, "10", 0, 3600,
      "how long an UNKNOWN payment rests before the reconciler asks the gateway", NULL },
    { "RECONCILE_THREADS", CFG_INT, &payment_cfg.reconcile_threads, "4", 1, 32,
      "payments a reconciler run settles in parallel", NULL },
    { "RECONCILE_TIME_BUDGET_S", CFG_INT, &payment_cfg.reconcile_budget_s, "300", 1, 3600,
      "longest a reconciler run works before leaving the rest to the next", NULL },
    { "RECONCILE_MAX_FAILURES", CFG_INT, &payment_cfg.reconcile_max_failures, "20", 1, 100000,
      "gateway calls without an answer in a row after which a run stops", NULL },
};

metrics_id_t pm_gw_calls[PM_NCALLS][3];
metrics_id_t pm_gw_latency[PM_NCALLS];
metrics_id_t pm_outcomes[PM_NOUTS];
metrics_id_t pm_config_alerts;
metrics_id_t pm_reconcile[PM_NREC];
metrics_id_t pm_rejected[4];

/* A run's own watchdog ends it at its budget plus one lease; the master
 * ends it 2 s later whatever hangs (the whole process stopped included). */
static int64_t reconcile_max_run_ms(void)
{
    return payment_cfg.reconcile_budget_s * 1000 + payment_max_lease_ms() + 2000;
}

static const srv_job_t reconcile_job = {
    .name = "reconcile",
    .interval_s = &payment_cfg.reconcile_interval_s,
    .run = payment_reconcile_run,
    .max_run_ms = reconcile_max_run_ms,
};

static void payment_configure(void)
{
    static const char *const restart_only[] = { "PUBLIC_BASE_URL" }; /* trimmed at init */
    cfg_register(keys, sizeof(keys) / sizeof(keys[0]));
    cfg_flag(restart_only, 1, CFG_F_RESTART);
    for (const payment_gateway_t *const *g = payment_gateways; *g; g++)
        if ((*g)->configure)
            (*g)->configure();
}

static void register_metrics(void)
{
    static const char *const calls[PM_NCALLS] = { "confirm", "lookup" };
    static const char *const results[3] = { "payment", "error", "no_answer" };
    static char lab[PM_NCALLS][4][64];
    for (int c = 0; c < PM_NCALLS; c++) {
        for (int o = 0; o < 3; o++) {
            snprintf(lab[c][o], sizeof(lab[c][o]), "call=\"%s\",result=\"%s\"", calls[c],
                     results[o]);
            pm_gw_calls[c][o] =
                metrics_register("memberapi_payment_gateway_calls_total", lab[c][o],
                                 METRICS_COUNTER, "Gateway calls by call and what came back");
        }
        snprintf(lab[c][3], sizeof(lab[c][3]), "call=\"%s\"", calls[c]);
        pm_gw_latency[c] = metrics_register("memberapi_payment_gateway_duration_seconds", lab[c][3],
                                            METRICS_HISTOGRAM, "Gateway call duration");
    }
    static const char *const outs[PM_NOUTS] = {
        "outcome=\"done\"",    "outcome=\"aborted\"",    "outcome=\"unknown\"",
        "outcome=\"expired\"", "outcome=\"unrecorded\"",
    };
    for (int i = 0; i < PM_NOUTS; i++)
        pm_outcomes[i] =
            metrics_register("memberapi_payment_outcomes_total", outs[i], METRICS_COUNTER,
                             "Payment outcomes recorded after gateway calls");
    pm_config_alerts = metrics_register(
        "memberapi_payment_gateway_config_errors_total", "", METRICS_COUNTER,
        "Gateway refusals that point at our configuration (key, URL): alert on any");
    static const char *const rec[PM_NREC] = {
        "action=\"expired_ready\"", "action=\"grant_repaired\"", "action=\"claimed\"",
        "action=\"done\"",          "action=\"aborted\"",        "action=\"expired\"",
        "action=\"still_unknown\"", "action=\"error\"",
    };
    for (int i = 0; i < PM_NREC; i++)
        pm_reconcile[i] = metrics_register("memberapi_payment_reconcile_total", rec[i],
                                           METRICS_COUNTER, "What reconciler runs did");
    static const char *const rej[4] = { "reason=\"amount_mismatch\"", "reason=\"conflict\"",
                                        "reason=\"breaker_open\"", "reason=\"in_flight\"" };
    for (int i = 0; i < 4; i++)
        pm_rejected[i] =
            metrics_register("memberapi_payment_rejected_total", rej[i], METRICS_COUNTER,
                             "Payment requests refused before any gateway call");
}

/* Payments not yet final, by state, read when /metrics is scraped. The
 * partial index payments_open holds exactly these rows, so the count stays
 * cheap however many final payments the table keeps. */
static const char *const open_states[3] = { "READY", "IN_PROGRESS", "UNKNOWN" };
static metrics_id_t pm_open[3];
static const db_stmt_t open_counts = {
    "pay_open_counts",
    "SELECT status, count(*) FROM payments WHERE status IN ('READY', 'IN_PROGRESS', 'UNKNOWN') "
    "GROUP BY status",
    0, DB_RETRY
};

static void collect_open(void)
{
    err_t e;
    db_conn_t *c = db_get(DB_PRIMARY, &e);
    PGresult *res = c ? db_exec(c, &open_counts, NULL, &e) : NULL;
    if (res == NULL)
        return; /* the gauges keep their last values; /ready says why */
    int64_t n[3] = { 0, 0, 0 };
    for (int i = 0; i < PQntuples(res); i++)
        for (int k = 0; k < 3; k++)
            if (strcmp(db_str(res, i, 0), open_states[k]) == 0)
                n[k] = db_i64(res, i, 1);
    PQclear(res);
    for (int k = 0; k < 3; k++)
        metrics_set(pm_open[k], n[k]);
}

static void register_open_gauges(void)
{
    static const char *const lab[3] = { "status=\"READY\"", "status=\"IN_PROGRESS\"",
                                        "status=\"UNKNOWN\"" };
    for (int k = 0; k < 3; k++)
        pm_open[k] = metrics_register("memberapi_payments_open", lab[k], METRICS_GAUGE,
                                      "Payments not yet final, by state (read at scrape time)");
    db_register(&open_counts, 1);
    metrics_add_collector(collect_open);
}

static int payment_init(char *err, size_t errlen)
{
    /* successUrl = base + "/success/toss": no doubled slash. */
    char *b = payment_cfg.public_base_url;
    size_t n = strlen(b);
    while (n > 0 && b[n - 1] == '/')
        b[--n] = '\0';
    for (const payment_gateway_t *const *g = payment_gateways; *g; g++)
        if ((*g)->init && (*g)->init(err, errlen) != 0)
            return -1;
    pay_store_register();
    if (payment_routes_add() != 0) {
        snprintf(err, errlen, "payment: bad route");
        return -1;
    }
    register_metrics();
    register_open_gauges();
    if (srv_add_job(&reconcile_job) != 0) {
        snprintf(err, errlen, "payment: cannot register the reconcile job");
        return -1;
    }
    return 0;
}

const srv_module_t payment_module = {
    .name = "payment",
    .configure = payment_configure,
    .init = payment_init,
};
