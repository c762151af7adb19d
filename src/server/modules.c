/* modules.c: the list of feature modules compiled into the binary. Adding a
 * module is one line here plus its folder under src/. */
#include "server/module.h"

extern const srv_module_t srv_ops_module;
extern const srv_module_t auth_module;
extern const srv_module_t profile_module;
extern const srv_module_t points_module;
extern const srv_module_t payment_module;

const srv_module_t *const srv_modules[] = {
    &srv_ops_module, &auth_module, &profile_module, &points_module, &payment_module, NULL,
};
