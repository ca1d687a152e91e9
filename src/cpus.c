/*
 * vCPU threads and the pause protocol (see cpus.h and machine.h).
 *
 * All flags live in Vcpu and are protected by the machine lock:
 *   stop_requested  the main thread wants the vCPU parked (pause, -S, reset);
 *   exit_requested  the thread must end (quit);
 *   stopped         the thread is parked, not inside the guest.
 * A vCPU thread parks while stop_requested is set, and also while a shutdown
 * request is pending (a vCPU that triple-faulted or hit a fatal error must not
 * re-enter the guest while the main loop tears the machine down). Parking sets
 * stopped and signals m->vcpu_state_cond; the thread then sleeps on cpu->cond.
 * The requester sets a flag under the lock, then kicks the vCPU through the
 * accelerator so a thread inside the guest comes back to look at the flags.
 *
 * Nothing here is accelerator-specific: it only calls m->accel_ops.
 */
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "cpus.h"
#include "accel/accel.h"
#include "util/log.h"

static bool vcpu_should_park(const Vcpu *cpu)
{
    const Machine *m = cpu->machine;

    /* An accelerator without vcpu_run (qtest) keeps its threads parked. */
    return cpu->stop_requested || m->shutdown_request != SHUTDOWN_NONE ||
           !m->accel_ops->vcpu_run;
}

static gpointer vcpu_thread_fn(gpointer opaque)
{
    Vcpu *cpu = opaque;
    Machine *m = cpu->machine;
    bool announced = false;

    GError *err = NULL;

    /* Started after confine(): narrow the union filter to the vCPU list. */
    if (!seccomp_narrow_thread(&m->sandbox, SECCOMP_THREAD_VCPU, &err)) {
        log_warn("vcpu %u: %s", cpu->index, err->message);
        g_error_free(err);
    }
    machine_lock(m);
    cpu->tid = (pid_t)syscall(SYS_gettid);
    g_cond_broadcast(&m->vcpu_state_cond);     /* cpus_start_threads waits for tid */
    for (;;) {
        while (!cpu->exit_requested && vcpu_should_park(cpu)) {
            if (!cpu->stopped) {
                cpu->stopped = true;
                g_cond_broadcast(&m->vcpu_state_cond);
            }
            g_cond_wait(&cpu->cond, &m->lock);
        }
        if (cpu->exit_requested) {
            break;
        }
        cpu->stopped = false;
        machine_unlock(m);

        if (!announced) {
            announced = true;
            log_info("Vcpu%u start running", cpu->index);
        }
        /*
         * A false return means a fatal vCPU error: the accelerator has already
         * requested an internal-error shutdown, so the loop parks us.
         */
        m->accel_ops->vcpu_run(cpu);

        machine_lock(m);
    }
    cpu->stopped = true;
    g_cond_broadcast(&m->vcpu_state_cond);
    machine_unlock(m);
    return NULL;
}

bool cpus_create(Machine *m, GError **err)
{
    unsigned n = m->cfg ? m->cfg->smp.cpus : 1;

    if (n == 0) {
        n = 1;
    }
    for (unsigned i = 0; i < n; i++) {
        Vcpu *cpu = g_new0(Vcpu, 1);

        cpu->machine = m;
        cpu->index = i;
        cpu->apic_id = i;
        g_cond_init(&cpu->cond);
        cpu->stop_requested = true;     /* threads start parked */
        cpu->stopped = true;
        if (m->accel_ops->vcpu_init && !m->accel_ops->vcpu_init(cpu, err)) {
            g_cond_clear(&cpu->cond);
            g_free(cpu);
            return false;
        }
        g_ptr_array_add(m->vcpus, cpu);
    }
    return true;
}

/* Lock held. */
bool cpus_start_threads(Machine *m, GError **err)
{
    for (guint i = 0; i < m->vcpus->len; i++) {
        Vcpu *cpu = g_ptr_array_index(m->vcpus, i);
        g_autofree char *name = NULL;

        if (cpu->thread) {
            continue;
        }
        name = g_strdup_printf("vcpu%u", cpu->index);
        cpu->thread = g_thread_try_new(name, vcpu_thread_fn, cpu, err);
        if (!cpu->thread) {
            g_prefix_error(err, "cannot create thread for vcpu %u: ", cpu->index);
            return false;
        }
    }
    /* Lock held: wait until every thread has recorded its host tid (query-cpus). */
    for (guint i = 0; i < m->vcpus->len; i++) {
        Vcpu *cpu = g_ptr_array_index(m->vcpus, i);

        while (cpu->tid == 0) {
            g_cond_wait(&m->vcpu_state_cond, &m->lock);
        }
    }
    return true;
}

static void kick(Machine *m, Vcpu *cpu)
{
    if (cpu->thread && m->accel_ops->vcpu_kick) {
        m->accel_ops->vcpu_kick(cpu);
    }
}

void cpus_pause_all(Machine *m)
{
    bool all;

    for (guint i = 0; i < m->vcpus->len; i++) {
        Vcpu *cpu = g_ptr_array_index(m->vcpus, i);

        cpu->stop_requested = true;
        kick(m, cpu);
    }
    do {
        all = true;
        for (guint i = 0; i < m->vcpus->len; i++) {
            Vcpu *cpu = g_ptr_array_index(m->vcpus, i);

            if (cpu->thread && !cpu->stopped) {
                all = false;
                break;
            }
        }
        if (!all) {
            g_cond_wait(&m->vcpu_state_cond, &m->lock);
        }
    } while (!all);
    for (guint i = 0; i < m->vcpus->len; i++) {
        Vcpu *cpu = g_ptr_array_index(m->vcpus, i);

        /* Lower case: tests count ":INFO: Vcpu" lines, one per vCPU start. */
        log_info("vcpu%u paused", cpu->index);
    }
}

void cpus_resume_all(Machine *m)
{
    for (guint i = 0; i < m->vcpus->len; i++) {
        Vcpu *cpu = g_ptr_array_index(m->vcpus, i);

        cpu->stop_requested = false;
        g_cond_broadcast(&cpu->cond);
    }
}

void cpus_stop_and_join(Machine *m)
{
    if (!m->vcpus) {
        return;
    }
    for (guint i = 0; i < m->vcpus->len; i++) {
        Vcpu *cpu = g_ptr_array_index(m->vcpus, i);

        if (!cpu->thread) {
            continue;
        }
        cpu->exit_requested = true;
        g_cond_broadcast(&cpu->cond);
        kick(m, cpu);
    }
    for (guint i = 0; i < m->vcpus->len; i++) {
        Vcpu *cpu = g_ptr_array_index(m->vcpus, i);
        GThread *t = cpu->thread;

        if (!t) {
            continue;
        }
        /* The thread needs the lock to notice exit_requested and leave. */
        machine_unlock(m);
        g_thread_join(t);
        machine_lock(m);
        cpu->thread = NULL;
    }
}

void cpus_destroy(Machine *m)
{
    if (!m->vcpus) {
        return;
    }
    for (guint i = 0; i < m->vcpus->len; i++) {
        Vcpu *cpu = g_ptr_array_index(m->vcpus, i);

        g_assert(!cpu->thread);     /* cpus_stop_and_join first */
        if (m->accel_ops && m->accel_ops->vcpu_destroy) {
            m->accel_ops->vcpu_destroy(cpu);
        }
        g_cond_clear(&cpu->cond);
        g_free(cpu);
    }
    g_ptr_array_set_size(m->vcpus, 0);
}
