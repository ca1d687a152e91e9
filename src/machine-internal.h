/*
 * What machine.c's construction calls in its sibling files (not for devices:
 * they use machine.h).
 */
#ifndef STRATUS_MACHINE_INTERNAL_H
#define STRATUS_MACHINE_INTERNAL_H

#include <glib.h>

#include "machine.h"

/* machine-backends.c: each returns false with *err naming the option at fault. */
bool machine_create_chardevs(Machine *m, GError **err);
bool machine_create_objects(Machine *m, GError **err);
bool machine_create_netdevs(Machine *m, GError **err);

#endif
