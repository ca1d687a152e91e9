/*
 * -runas USER[:GROUP] and -chroot DIR (QEMU's options): applied once the
 * machine is built, i.e. after everything the command line names is open.
 */
#ifndef STRATUS_OS_PRIVDROP_H
#define STRATUS_OS_PRIVDROP_H

#include <glib.h>

/*
 * Looks USER and GROUP up (before the chroot: /etc is outside it), chroots
 * to dir (if given) and switches to the user: supplementary groups set to
 * GROUP (the user's primary group by default), then gid, then uid, so no
 * capability is left. Either may be NULL. Errors name the option.
 */
gboolean privdrop_apply(const char *runas, const char *dir, GError **err);

#endif
