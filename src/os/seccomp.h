/*
 * The seccomp allow-list (docs/security.md): a classic BPF filter, written by
 * hand so that no library is needed, installed on every thread of the process
 * once the machine is built and before the guest runs.
 */
#ifndef STRATUS_OS_SECCOMP_H
#define STRATUS_OS_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

#include <glib.h>

typedef enum {
    SECCOMP_LIST_OFF,       /* -sandbox off, -disable-seccomp (the default) */
    SECCOMP_LIST_KILL,      /* -sandbox on: a call outside the list kills the process */
    SECCOMP_LIST_TRAP,      /* -sandbox on,debug=on: log the call's name, fail it ENOSYS */
} SeccompMode;

/* The calls of the allow-list, for the docs and tests. */
size_t seccomp_allowed_count(void);
const char *seccomp_allowed_name(size_t i);

/* The name of system call nr ("nr-N" when unknown); a static string. */
const char *seccomp_syscall_name(long nr);

/*
 * Sets PR_SET_NO_NEW_PRIVS and installs the filter on every thread
 * (SECCOMP_FILTER_FLAG_TSYNC). Nothing to do for SECCOMP_LIST_OFF.
 */
bool seccomp_install(SeccompMode mode, GError **err);

/*
 * The test hook (STRATUS_SECCOMP_SELFTEST=1): makes one call outside the list,
 * getpriority(), harmless when no filter is installed.
 */
void seccomp_selftest(void);

#endif
