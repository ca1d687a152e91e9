/* Shared between device.c and device-props.c; not for devices. */
#ifndef STRATUS_DEVICE_INTERNAL_H
#define STRATUS_DEVICE_INTERNAL_H

#include "hw/device.h"

bool device_prop_set_text(Device *d, const Property *p, const char *text, GError **err);
bool device_prop_set_json(Device *d, const Property *p, JsonNode *n, GError **err);
bool device_props_set_defaults(Device *d, GError **err);
void device_props_free(Device *d);

#endif
