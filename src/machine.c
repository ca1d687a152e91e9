#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>

#include "machine.h"
#include "machine-internal.h"
#include "accel/accel.h"
#include "backends/camera.h"
#include "backends/object.h"
#include "chardev/chardev.h"
#include "cpus.h"
#include "block/block.h"
#include "hw/device.h"
#include "migration/migration.h"
#include "net/net.h"
#include "net/tap.h"
#include "migration/live.h"
#include "qmp/qmp.h"
#include "qmp/qmp-commands.h"
#include "util/log.h"
#include "util/strutil.h"

static const char *const runstate_names[RUN_STATE__MAX] = {
    [RUN_STATE_PRELAUNCH] = "prelaunch",
    [RUN_STATE_RUNNING] = "running",
    [RUN_STATE_PAUSED] = "paused",
    [RUN_STATE_SHUTDOWN] = "shutdown",
    [RUN_STATE_INTERNAL_ERROR] = "internal-error",
    [RUN_STATE_GUEST_PANICKED] = "guest-panicked",
    [RUN_STATE_INMIGRATE] = "inmigrate",
    [RUN_STATE_POSTMIGRATE] = "postmigrate",
};

const char *runstate_name(RunState s)
{
    return s < RUN_STATE__MAX ? runstate_names[s] : "unknown";
}

const char *shutdown_reason_name(ShutdownReason r)
{
    switch (r) {
    case SHUTDOWN_HOST_QMP_QUIT: return "host-qmp-quit";
    case SHUTDOWN_HOST_SIGNAL: return "host-signal";
    case SHUTDOWN_GUEST_SHUTDOWN: return "guest-shutdown";
    case SHUTDOWN_GUEST_RESET: return "guest-reset";
    case SHUTDOWN_INTERNAL_ERROR: return "host-error";
    default: return "none";
    }
}

static bool shutdown_is_guest(ShutdownReason r)
{
    return r == SHUTDOWN_GUEST_SHUTDOWN || r == SHUTDOWN_GUEST_RESET;
}

void machine_lock(Machine *m)
{
    g_mutex_lock(&m->lock);
}

void machine_unlock(Machine *m)
{
    g_mutex_unlock(&m->lock);
}

void machine_set_runstate(Machine *m, RunState s)
{
    if (m->runstate != s) {
        log_debug("runstate %s -> %s", runstate_name(m->runstate), runstate_name(s));
        m->runstate = s;
    }
}

void machine_emit_event(Machine *m, const char *name, JsonNode *data)
{
    log_info("EVENT: --> %s", name);
    if (m->qmp) {
        qmp_server_emit_event(m->qmp, name, data);
    } else if (data) {
        json_node_unref(data);
    }
}

static JsonNode *shutdown_event_data(ShutdownReason r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "guest");
    json_builder_add_boolean_value(b, shutdown_is_guest(r));
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, shutdown_reason_name(r));
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* Main loop, lock held: the one place where the machine stops. */
/*
 * A guest's reset request: -action reboot= decides, else the machine class
 * (microvm ends the VM as StratoVirt's does; q35 restarts the guest as
 * QEMU's and StratoVirt's standard machines do).
 */
static bool guest_reset_resets(const Machine *m)
{
    if (m->cfg->action_reboot) {
        return strcmp(m->cfg->action_reboot, "reset") == 0;
    }
    return m->machine_class->guest_reset_resets;
}

static gboolean handle_shutdown(gpointer opaque)
{
    Machine *m = opaque;
    ShutdownReason r = m->shutdown_request;

    log_info("shutdown requested: %s", shutdown_reason_name(r));
    if (r == SHUTDOWN_GUEST_RESET && guest_reset_resets(m)) {
        m->shutdown_request = SHUTDOWN_NONE;
        machine_system_reset(m);
        return G_SOURCE_REMOVE;
    }
    if (r == SHUTDOWN_GUEST_SHUTDOWN && m->cfg->no_shutdown) {
        /* -no-shutdown / -action shutdown=pause: QEMU's SHUTDOWN, then STOP. */
        machine_emit_event(m, "SHUTDOWN", shutdown_event_data(r));
        cpus_pause_all(m);
        machine_set_runstate(m, RUN_STATE_SHUTDOWN);
        machine_emit_event(m, "STOP", NULL);
        m->shutdown_request = SHUTDOWN_NONE;    /* a later quit still ends it */
        return G_SOURCE_REMOVE;
    }
    m->exit_status = r == SHUTDOWN_INTERNAL_ERROR ? 1 : 0;
    machine_set_runstate(m, r == SHUTDOWN_INTERNAL_ERROR ? RUN_STATE_INTERNAL_ERROR
                                                         : RUN_STATE_SHUTDOWN);
    machine_emit_event(m, "SHUTDOWN", shutdown_event_data(r));
    m->quit = true;
    return G_SOURCE_REMOVE;
}

void machine_inject_nmi(Machine *m)
{
    if (m->accel_ops && m->accel_ops->inject_nmi) {
        m->accel_ops->inject_nmi(m);
    }
}

void machine_request_shutdown(Machine *m, ShutdownReason reason)
{
    GSource *src;

    /* The first reason wins: a quit followed by the guest's reset is a quit. */
    if (m->shutdown_request != SHUTDOWN_NONE) {
        return;
    }
    m->shutdown_request = reason;
    src = g_idle_source_new();
    g_source_set_priority(src, G_PRIORITY_HIGH);
    g_source_set_callback(src, handle_shutdown, m, NULL);
    g_source_attach(src, m->ctx);   /* thread-safe; wakes the loop */
    g_source_unref(src);
}

bool machine_pause(Machine *m, GError **err)
{
    if (m->runstate != RUN_STATE_RUNNING) {
        set_error(err, "VM is not running (status: %s)", runstate_name(m->runstate));
        return false;
    }
    cpus_pause_all(m);
    machine_set_runstate(m, RUN_STATE_PAUSED);
    machine_emit_event(m, "STOP", NULL);
    return true;
}

/* Main loop: a guest panic stops the machine where the guest left it. */
static gboolean handle_panic(gpointer opaque)
{
    Machine *m = opaque;

    if (m->runstate == RUN_STATE_RUNNING) {
        cpus_pause_all(m);
        machine_set_runstate(m, RUN_STATE_GUEST_PANICKED);
        machine_emit_event(m, "STOP", NULL);
    }
    return G_SOURCE_REMOVE;
}

void machine_request_panic(Machine *m)
{
    GSource *src = g_idle_source_new();

    g_source_set_priority(src, G_PRIORITY_HIGH);
    g_source_set_callback(src, handle_panic, m, NULL);
    g_source_attach(src, m->ctx);
    g_source_unref(src);
}

void machine_boot_time_signal(Machine *m, uint8_t value)
{
    if (value == 1 && !m->logged_boot_start) {
        log_info("Kernel starts to boot!");
        m->logged_boot_start = true;
    } else if (value == 2 && !m->logged_boot_done) {
        log_info("Kernel boot complete!");
        m->logged_boot_done = true;
    }
}

bool machine_resume(Machine *m, GError **err)
{
    if (m->runstate != RUN_STATE_PAUSED && m->runstate != RUN_STATE_PRELAUNCH &&
        m->runstate != RUN_STATE_GUEST_PANICKED && m->runstate != RUN_STATE_INMIGRATE) {
        set_error(err, "VM is already running (status: %s)", runstate_name(m->runstate));
        return false;
    }
    cpus_resume_all(m);
    machine_set_runstate(m, RUN_STATE_RUNNING);
    machine_emit_event(m, "RESUME", NULL);
    return true;
}

static GSList *notifier_add(GSList *list, void (*fn)(void *), void *opaque)
{
    MachineNotifier *h = g_new0(MachineNotifier, 1);

    h->fn = fn;
    h->opaque = opaque;
    return g_slist_append(list, h);
}

static GSList *notifier_remove(GSList *list, void (*fn)(void *), void *opaque)
{
    for (GSList *l = list; l; l = l->next) {
        MachineNotifier *h = l->data;
        if (h->fn == fn && h->opaque == opaque) {
            g_free(h);
            return g_slist_delete_link(list, l);
        }
    }
    return list;
}

static void notifiers_call(GSList *list)
{
    for (GSList *l = list; l; l = l->next) {
        MachineNotifier *h = l->data;
        h->fn(h->opaque);
    }
}

void machine_add_powerdown_notifier(Machine *m, void (*fn)(void *), void *opaque)
{
    m->powerdown_notifiers = notifier_add(m->powerdown_notifiers, fn, opaque);
}

void machine_remove_powerdown_notifier(Machine *m, void (*fn)(void *), void *opaque)
{
    m->powerdown_notifiers = notifier_remove(m->powerdown_notifiers, fn, opaque);
}

void machine_system_reset(Machine *m)
{
    bool was_running = m->runstate == RUN_STATE_RUNNING;

    if (was_running) {
        cpus_pause_all(m);
    }
    m->logged_boot_start = m->logged_boot_done = false;
    machine_reset_devices(m);
    if (m->machine_class->reset) {
        m->machine_class->reset(m);
    }
    if (was_running) {
        cpus_resume_all(m);
    } else if (m->runstate == RUN_STATE_GUEST_PANICKED) {
        /* QEMU: a reset machine is no longer the one that panicked. */
        machine_set_runstate(m, RUN_STATE_PRELAUNCH);
    }
    /* Seed 000: {"event":"RESET","data":{"guest":true}} after system_reset. */
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "guest");
    json_builder_add_boolean_value(b, true);
    json_builder_end_object(b);
    machine_emit_event(m, "RESET", json_builder_get_root(b));
}

void machine_powerdown(Machine *m)
{
    notifiers_call(m->powerdown_notifiers);
    machine_emit_event(m, "POWERDOWN", NULL);
}

void machine_add_cleanup_path(Machine *m, const char *path)
{
    m->cleanup_paths = g_slist_prepend(m->cleanup_paths, g_strdup(path));
}

static gboolean on_signal(gpointer opaque)
{
    Machine *m = opaque;

    machine_request_shutdown(m, SHUTDOWN_HOST_SIGNAL);
    return G_SOURCE_CONTINUE;
}

static void watch_signals(Machine *m)
{
    static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };

    for (unsigned i = 0; i < G_N_ELEMENTS(sigs); i++) {
        GSource *src = g_unix_signal_source_new(sigs[i]);
        g_source_set_callback(src, on_signal, m, NULL);
        g_source_attach(src, m->ctx);
        g_source_unref(src);
    }
    /*
     * main() blocks these until now so that one arriving while the machine
     * was built is not fatal: it is delivered here and shuts down cleanly.
     */
    {
        sigset_t set;

        sigemptyset(&set);
        for (unsigned i = 0; i < G_N_ELEMENTS(sigs); i++) {
            sigaddset(&set, sigs[i]);
        }
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    }
}

/* accel_select()'s init: on failure nothing of this accelerator remains. */
static bool init_accel(const AccelOps *ops, void *opaque, GError **err)
{
    Machine *m = opaque;

    m->accel_ops = ops;
    if (ops->init(m, err)) {
        return true;
    }
    if (ops->destroy) {
        ops->destroy(m);
    }
    m->accel_ops = NULL;
    m->accel = NULL;
    return false;
}

/*
 * Picks and initialises the accelerator from cfg->accel (see accel_select()),
 * then records the choice in cfg->accel so that logs and QMP show it.
 */
static bool select_accel(Machine *m, GError **err)
{
    StratusConfig *cfg = m->cfg;
    g_autofree char *kvm_why = NULL;
    const AccelOps *ops;

    m->kvm_present = accel_kvm_usable(&kvm_why);
    ops = accel_select(&(AccelSelect){
                           .list = cfg->accel,
                           .automatic = cfg->accel_auto,
                           .option = cfg->accel_option,
                           .kvm_usable = m->kvm_present,
                           .kvm_why = kvm_why,
                           .init = init_accel,
                           .opaque = m,
                       }, err);
    if (!ops) {
        return false;
    }
    g_free(cfg->accel);
    cfg->accel = g_strdup(ops->name);
    /* QEMU's rule: only KVM can pass the host's CPUID through (-machine none has no CPU). */
    if (cfg->cpu_model && !strcmp(cfg->cpu_model, "host") && strcmp(ops->name, "kvm") &&
        strcmp(cfg->machine_type, "none")) {
        set_error(err, "CPU model 'host' requires KVM or HVF");
        return false;
    }
    log_info("VmConfig is machine=%s accel=%s cpus=%u mem=%" G_GUINT64_FORMAT
             " kernel=%s initrd=%s append=%s", cfg->machine_type, cfg->accel,
             cfg->smp.cpus, cfg->mem_size, cfg->kernel ? cfg->kernel : "",
             cfg->initrd ? cfg->initrd : "", cfg->append ? cfg->append : "");
    return true;
}

Machine *machine_new(StratusConfig *cfg, GError **err)
{
    Machine *m = g_new0(Machine, 1);

    m->cfg = cfg;
    g_mutex_init(&m->lock);
    g_cond_init(&m->vcpu_state_cond);
    m->ctx = g_main_context_new();
    m->vcpus = g_ptr_array_new();
    m->chardevs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify)chardev_free);
    iobus_init(&m->mmio, "mmio", IOBUS_MEMORY);
    iobus_init(&m->pio, "pio", IOBUS_PORTS);
    m->devices = g_ptr_array_new();
    m->block_nodes = block_registry_new();
    m->netdevs = net_table_new();
    m->objects = object_table_new();
    m->released_nodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    m->runstate = RUN_STATE_PRELAUNCH;
    m->migration = migration_state_new(m);
    machine_lock(m);
    m->machine_class = machine_class_find(cfg->machine_type);
    if (!m->machine_class) {
        set_error(err, "unsupported machine type '%s' (use -machine help to list them)",
                  cfg->machine_type);
        goto fail;
    }

    /* A snapshot that cannot be restored is refused before anything is built. */
    if (cfg->incoming && !migration_incoming_open(m, err)) {
        goto fail;
    }
    /* Before the board: its -device NICs find their back ends by id. */
    if (!machine_create_netdevs(m, err)) {
        goto fail;
    }
    if (!select_accel(m, err) || !machine_create_chardevs(m, err) ||
        !machine_create_objects(m, err) ||
        !machine_create_cameras(m, err) || !m->machine_class->init(m, err)) {
        goto fail;
    }
    /*
     * The board built everything but skipped the kernel; RAM and state come
     * from the snapshot (StratoVirt's realize then sets the status "setup").
     */
    if (cfg->incoming) {
        if (!migration_incoming_ram(m, err) || !migration_incoming_state(m, err)) {
            goto fail;
        }
    } else {
        migration_set_status(m->migration, MIGRATION_STATUS_SETUP, NULL);
        if (cfg->incoming_uri && !live_incoming_listen(m, err)) {
            goto fail;
        }
    }
    m->qmp = qmp_server_new(m, err);
    if (!m->qmp) {
        goto fail;
    }
    qmp_register_block_commands(qmp_server_table(m->qmp));
    /* After the others: query-commands keeps its order for existing clients. */
    qmp_register_balloon_commands(qmp_server_table(m->qmp));
    qmp_register_net_commands(qmp_server_table(m->qmp));
    qmp_register_object_commands(qmp_server_table(m->qmp));
    qmp_register_migration_commands(qmp_server_table(m->qmp));
    qmp_register_memory_commands(qmp_server_table(m->qmp));
    qmp_register_char_commands(qmp_server_table(m->qmp));
    qmp_register_feature_commands(qmp_server_table(m->qmp));
    qmp_register_chardev_commands(qmp_server_table(m->qmp));
    qmp_register_cpu_commands(qmp_server_table(m->qmp));
    qmp_register_absent_commands(qmp_server_table(m->qmp));
    qmp_register_fdset_commands(qmp_server_table(m->qmp));
    qmp_register_action_commands(qmp_server_table(m->qmp));
    qmp_register_guestmem_commands(qmp_server_table(m->qmp));
    qmp_register_absent_object_commands(qmp_server_table(m->qmp));
    qmp_register_xquery_commands(qmp_server_table(m->qmp));
    qmp_register_virtio_commands(qmp_server_table(m->qmp));
    qmp_register_dump_commands(qmp_server_table(m->qmp));
    qmp_register_announce_commands(qmp_server_table(m->qmp));
    qmp_register_pci_commands(qmp_server_table(m->qmp));
    qmp_register_xen_commands(qmp_server_table(m->qmp));
    qmp_register_block_absent_commands(qmp_server_table(m->qmp));
    qmp_register_camera_commands(qmp_server_table(m->qmp));
    log_info("machine created: %s, accel %s, %u vCPU(s), %" G_GUINT64_FORMAT " MiB",
             cfg->machine_type, m->accel_ops->name, cfg->smp.cpus, cfg->mem_size >> 20);
    machine_unlock(m);
    return m;

fail:
    machine_unlock(m);
    m->cfg = NULL;      /* the caller still owns cfg on failure */
    machine_free(m);
    return NULL;
}

/*
 * The main loop, driven by hand so the lock can be dropped exactly around
 * poll(): callbacks always run locked, vCPUs can take the lock while we sleep.
 */
static void main_loop(Machine *m)
{
    GMainContext *ctx = m->ctx;
    g_autofree GPollFD *fds = NULL;
    gint allocated = 0;

    g_main_context_acquire(ctx);
    while (!m->quit) {
        gint max_prio, timeout, n;

        g_main_context_prepare(ctx, &max_prio);
        while ((n = g_main_context_query(ctx, max_prio, &timeout, fds, allocated)) >
               allocated) {
            allocated = n;
            fds = g_renew(GPollFD, fds, allocated);
        }
        machine_unlock(m);
        if (g_poll(fds, n, timeout) < 0 && errno != EINTR) {
            log_warn("poll: %s", g_strerror(errno));
        }
        machine_lock(m);
        if (g_main_context_check(ctx, max_prio, fds, n)) {
            g_main_context_dispatch(ctx);
        }
    }
    g_main_context_release(ctx);
}

int machine_run(Machine *m)
{
    GError *err = NULL;

    machine_lock(m);
    watch_signals(m);
    if (!cpus_start_threads(m, &err)) {
        report_error("%s", err->message);
        g_error_free(err);
        machine_unlock(m);
        return 1;
    }
    if (m->cfg->preconfig) {
        /* QEMU's prelaunch until x-exit-preconfig, which then starts the vCPUs. */
        machine_set_runstate(m, RUN_STATE_PRELAUNCH);
        qmp_enter_preconfig(qmp_server_table(m->qmp));
        log_info("--preconfig: waiting for 'x-exit-preconfig'");
    } else if (m->cfg->incoming_uri) {
        /* The vCPUs wait for the guest's state; the migration thread resumes them. */
        live_incoming_start(m);
    } else if (!m->cfg->freeze_cpus) {
        cpus_resume_all(m);
        machine_set_runstate(m, RUN_STATE_RUNNING);
        migration_incoming_report(m, true);
    } else {
        migration_incoming_report(m, false);
        /* StratoVirt reports a -S machine as "paused" (QEMU: "prelaunch"). */
        machine_set_runstate(m, RUN_STATE_PAUSED);
        log_info("vCPUs frozen (-S): waiting for 'cont'");
    }
    main_loop(m);
    cpus_stop_and_join(m);
    machine_unlock(m);
    return m->exit_status;
}

static void remove_cleanup_paths(Machine *m)
{
    for (GSList *l = m->cleanup_paths; l; l = l->next) {
        if (unlink(l->data) < 0 && errno != ENOENT) {
            log_warn("cannot remove %s: %s", (char *)l->data, g_strerror(errno));
        }
    }
    g_slist_free_full(m->cleanup_paths, g_free);
    m->cleanup_paths = NULL;
}

void machine_free(Machine *m)
{
    if (!m) {
        return;
    }
    live_migration_finish(m);
    machine_lock(m);
    if (m->qmp) {
        qmp_server_free(m->qmp);
        m->qmp = NULL;
    }
    cpus_stop_and_join(m);
    /*
     * Devices and the board go while the vCPUs still exist: unplugging a slot
     * a driver uses raises its config interrupt, and the interrupt controller
     * wakes the vCPU it targets.
     */
    machine_destroy_devices(m);
    if (m->machine_class && m->machine_class->destroy) {
        m->machine_class->destroy(m);
    }
    cpus_destroy(m);
    block_registry_free(m->block_nodes);
    /* After the devices: a NIC detaches from its back end at unrealize. */
    g_hash_table_destroy(m->netdevs);
    object_table_free(m->objects);
    camera_table_free(m->cameras);
    g_hash_table_destroy(m->released_nodes);
    g_hash_table_destroy(m->chardevs);
    if (m->fdsets) {
        g_hash_table_destroy(m->fdsets);
    }
    if (m->migration) {
        dirty_rate_cancel(m);       /* its dirty log belongs to the accelerator */
    }
    if (m->accel_ops && m->accel_ops->destroy) {
        m->accel_ops->destroy(m);
    }
    guest_ram_destroy(&m->ram);
    iobus_destroy(&m->mmio);
    iobus_destroy(&m->pio);
    g_slist_free_full(m->powerdown_notifiers, g_free);
    g_ptr_array_free(m->devices, TRUE);
    remove_cleanup_paths(m);
    g_ptr_array_free(m->vcpus, TRUE);
    migration_state_free(m->migration);
    machine_unlock(m);
    g_main_context_unref(m->ctx);
    g_cond_clear(&m->vcpu_state_cond);
    g_mutex_clear(&m->lock);
    if (m->cfg) {
        config_free(m->cfg);
    }
    g_free(m);
}
