#include <string.h>
#include "accel/accel.h"

const AccelOps *accel_find(const char *name)
{
    static const AccelOps *const all[] = { &kvm_accel_ops, &qtest_accel_ops };

    for (unsigned i = 0; i < G_N_ELEMENTS(all); i++) {
        if (all[i]->name && strcmp(all[i]->name, name) == 0) {
            return all[i];
        }
    }
    return NULL;
}
