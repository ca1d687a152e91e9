/*
 * The qtest accelerator (issue: qtest accelerator and the C qtest harness).
 * Not implemented yet: it has no name, so accel_find("qtest") fails with a
 * clear "accelerator 'qtest' is not available" error.
 */
#include "accel/accel.h"

const AccelOps qtest_accel_ops = {
    .name = NULL,
};
