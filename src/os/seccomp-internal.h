/*
 * Shared by os/seccomp.c (the call lists, the program) and
 * os/seccomp-ioctl.c (ioctl's request lists): not for other files.
 */
#ifndef STRATUS_OS_SECCOMP_INTERNAL_H
#define STRATUS_OS_SECCOMP_INTERNAL_H

#include <stdbool.h>
#include <linux/filter.h>

#include <glib.h>

#include "os/seccomp.h"

enum { K_VCPU = 1u << SECCOMP_THREAD_VCPU, K_IO = 1u << SECCOMP_THREAD_IO };

/* Whether an entry (narrower kinds, enabling need or 0) is on kind's list under needs. */
static inline bool seccomp_in_list(unsigned kinds, unsigned need, SeccompThread kind,
                                   unsigned needs)
{
    if (need && !(needs & need)) {
        return false;
    }
    return kind == SECCOMP_THREAD_ALL || (kinds & (1u << kind));
}

static inline void emit(GArray *prog, struct sock_filter insn)
{
    g_array_append_val(prog, insn);
}

#define STMT(code, k) ((struct sock_filter)BPF_STMT((code), (k)))
#define JEQ(k, jt, jf) ((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (jt), (jf)))

/* Whether ioctl(fd, req) passes kind's list (req: the whole second argument). */
bool seccomp_ioctl_allows(SeccompThread kind, unsigned needs, unsigned long req);
/* Appends "ioctl(NAME|NAME...)" to names. */
void seccomp_ioctl_names(GPtrArray *names, SeccompThread kind, unsigned needs);
/*
 * Appends the ioctl block to prog, the accumulator holding the call number:
 * other calls jump over it; an ioctl ends in it (allowed, or deny).
 */
void seccomp_ioctl_emit(GArray *prog, SeccompThread kind, unsigned needs, unsigned deny);
/* Appends "ioctl(NAME|NAME...)" of the requests that need (one bit) enables. */
void seccomp_ioctl_need_names(GString *s, unsigned need);
/* The name of a request in the tables (on some list), or NULL. Async-signal-safe. */
const char *seccomp_ioctl_name(unsigned long req);

#endif
