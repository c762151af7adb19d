/* config.h: configuration from the environment and a file, validated once.
 *
 * Each module declares a table of keys (name, type, bounds, default, where to
 * store the value) and registers it before cfg_load. cfg_load reads the file
 * (KEY=value lines, '#' comments), lets the environment override it, checks
 * every key and only then stores the values, so a bad value leaves the
 * running configuration untouched and the error names the key and what was
 * expected. A SECRET key may also be given as KEY_FILE=path (the file's
 * first line); secrets are never printed by cfg_dump. */
#ifndef MA_COMMON_CONFIG_H
#define MA_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { CFG_INT, CFG_STR, CFG_BOOL, CFG_SECRET } cfg_type_t;

/* Flags of keys, set by name with cfg_flag (the key tables stay as they are). */
enum {
    /* A STR whose value may carry a secret (a URL with a password): an error
     * names the key but never echoes the value (SECRET keys never do). */
    CFG_F_SECRET_VALUE = 1u << 0,
    /* Read only at start (a socket, a connection string, shared memory): a
     * reload that changes it keeps the running value and names the key in
     * cfg_reload_t.restart. */
    CFG_F_RESTART = 1u << 1,
};

typedef struct cfg_key {
    const char *name;
    cfg_type_t type;
    void *dst; /* int64_t* (INT), bool* (BOOL), char** (STR, SECRET: xstrdup'd) */
    const char *def;
    int64_t min, max; /* INT bounds; STR/SECRET: length bounds (max 0 = 4096) */
    const char *help; /* what is expected, shown in errors */
    /* Extra check of the raw value; returns 0 or -1 with a message in err. */
    int (*check)(const char *val, char *err, size_t errlen);
} cfg_key_t;

/* Tables must outlive the program (static). At most 32 tables. */
void cfg_register(const cfg_key_t *keys, size_t n);
/* Adds CFG_F_* flags to the keys named (static strings; at most 128 names). */
void cfg_flag(const char *const *names, size_t n, unsigned flags);

/* file may be NULL (then CONFIG_FILE from the environment, if set).
 * Returns 0, or -1 with err like "WORKERS: expected an integer 1..256, got 'x'". */
int cfg_load(const char *file, char *err, size_t errlen);

/* What a reload changed, as comma lists of key names (never values). */
typedef struct cfg_reload {
    char applied[2048]; /* changed keys now in effect */
    char restart[2048]; /* changed CFG_F_RESTART keys, kept at their running value */
} cfg_reload_t;

/* Reloads the configuration all or nothing: like cfg_load, then check (may
 * be NULL; relations between keys, derived values) on the new values; when a
 * key or the check fails, every key keeps its running value and err says
 * why. Keys flagged CFG_F_RESTART keep their running value and are listed in
 * out->restart. */
int cfg_reload(const char *file, int (*check)(char *err, size_t errlen), cfg_reload_t *out,
               char *err, size_t errlen);

/* Logs every key and its value (secrets as "(set)"/"(unset)"). */
void cfg_dump(void);

/* Raw lookup of a key's current string value after cfg_load (NULL if none). */
const char *cfg_raw(const char *name);

/* Validators for common shapes. */
int cfg_check_url(const char *val, char *err, size_t errlen);    /* http(s)://... */
int cfg_check_listen(const char *val, char *err, size_t errlen); /* /path or host:port */
int cfg_check_loglevel(const char *val, char *err, size_t errlen);

#endif
