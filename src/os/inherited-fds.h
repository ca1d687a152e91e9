/*
 * Descriptors a daemon inherits (-daemonize): the launcher's open files must
 * not stay open in a long-lived VMM, except those the command line hands over.
 */
#ifndef STRATUS_OS_INHERITED_FDS_H
#define STRATUS_OS_INHERITED_FDS_H

#include <glib.h>

#include "config.h"

/*
 * The descriptors cfg names: -chardev socket,fd=N and the numbers in a
 * -netdev's fd=, fds=, vhostfd= and vhostfds= (':'-separated lists). Entries
 * that are not numbers are left out (getfd names are resolved later).
 */
GArray *config_named_fds(const StratusConfig *cfg);

/* Closes every descriptor above stderr that is not in keep; returns how many. */
unsigned close_fds_except(const int *keep, unsigned nkeep);

#endif
