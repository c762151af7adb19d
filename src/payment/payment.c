/* payment.c: the payment module (routes, logic and SQL). Not built yet: this module
 * registers nothing, so its routes answer 404. */
#include "server/module.h"

const srv_module_t payment_module = {
    .name = "payment",
};
