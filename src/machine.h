/*
 * The machine object: the one place that owns mutable VM state.
 *
 * Concurrency model (as QEMU's big lock, and for the same reason: devices are
 * simple single-threaded state machines):
 *   - `lock` protects all device and machine state.
 *   - The main thread runs the GLib main loop and holds `lock` except while it
 *     sleeps in poll() (machine_run() installs a poll function that drops it).
 *     So main-loop callbacks (chardev input, QMP, timers, eventfds) run locked.
 *   - vCPU threads run guest code unlocked and take `lock` only to dispatch an
 *     exit to the I/O buses.
 *   - Anything a vCPU thread wants from the main loop (shutdown, reset) is a
 *     request flag plus g_main_context_wakeup(); the main loop acts on it.
 */
#ifndef STRATUS_MACHINE_H
#define STRATUS_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "config.h"
#include "memory.h"
#include "os/seccomp.h"

typedef struct BlockRegistry BlockRegistry;
typedef struct ObjectTable ObjectTable;
typedef struct CameraTable CameraTable;

typedef struct Machine Machine;
typedef struct Vcpu Vcpu;
typedef struct AccelOps AccelOps;
typedef struct Chardev Chardev;
typedef struct QmpServer QmpServer;
typedef struct MachineClass MachineClass;
typedef struct MachineClock MachineClock;
typedef struct MigrationState MigrationState;

/* QEMU's RunState names (query-status "status"). */
typedef enum {
    RUN_STATE_PRELAUNCH,
    RUN_STATE_RUNNING,
    RUN_STATE_PAUSED,
    RUN_STATE_SHUTDOWN,
    RUN_STATE_INTERNAL_ERROR,
    RUN_STATE_GUEST_PANICKED,
    RUN_STATE_INMIGRATE,         /* -incoming tcp:/unix: until the guest arrives */
    RUN_STATE_POSTMIGRATE,       /* migrated away with -no-shutdown (QEMU's state) */
    RUN_STATE__MAX,
} RunState;
const char *runstate_name(RunState s);

/* Why the machine is going away: the SHUTDOWN event's "reason". */
typedef enum {
    SHUTDOWN_NONE,
    SHUTDOWN_HOST_QMP_QUIT,      /* "host-qmp-quit" */
    SHUTDOWN_HOST_SIGNAL,        /* "host-signal" */
    SHUTDOWN_GUEST_SHUTDOWN,     /* "guest-shutdown": PM1 S5, KVM_EXIT_SHUTDOWN */
    SHUTDOWN_GUEST_RESET,        /* "guest-reset": i8042 reset on microvm */
    SHUTDOWN_INTERNAL_ERROR,     /* vCPU died: exit status 1 */
} ShutdownReason;
const char *shutdown_reason_name(ShutdownReason r);

struct Vcpu {
    Machine *machine;
    unsigned index;
    uint32_t apic_id;
    GThread *thread;
    pid_t tid;                   /* host thread id (query-cpus thread_id) */
    GCond cond;                  /* wakes this vCPU from the paused state */
    bool stop_requested;         /* under machine lock */
    bool stopped;                /* under machine lock: parked, not in guest */
    bool exit_requested;         /* under machine lock: thread must end */
    bool kick_pending;           /* accel-private use (immediate_exit) */
    void *accel;                 /* accelerator's per-vCPU state */
};

/* GSIs the machine's IOAPIC has (pins 0-23). */
#define MACHINE_MAX_GSI 24

/*
 * An interrupt source wired to a GSI (IOAPIC pin). Several sources may share
 * one GSI (q35's PCI INTx: 16 + (slot + pin) mod 4, bridges and the
 * functions below them): the GSI is their wired-OR, high while any source
 * is (Machine.irq_high), as on a shared level-triggered PCI line.
 */
typedef struct IrqLine {
    Machine *machine;
    unsigned gsi;
    bool level;                  /* this source's own level (irq_set_level) */
} IrqLine;

struct Machine {
    StratusConfig *cfg;          /* owned */
    GMutex lock;
    GMainContext *ctx;
    bool quit;                   /* main loop ends after this iteration */
    SeccompPolicy sandbox;       /* installed by confine() (main.c); off until then */

    GuestRam ram;
    IoBus mmio;
    IoBus pio;

    const AccelOps *accel_ops;   /* the chosen one (cfg->accel names it) */
    void *accel;                 /* accelerator's VM state */
    bool kvm_present;            /* /dev/kvm usable (query-kvm "present") */

    GPtrArray *vcpus;            /* Vcpu* */
    GCond vcpu_state_cond;       /* signalled when a vCPU parks */

    RunState runstate;
    /* Set from any thread with the lock held; acted on by the main loop. */
    ShutdownReason shutdown_request;
    int exit_status;

    GHashTable *chardevs;        /* id -> Chardev* */
    QmpServer *qmp;

    const MachineClass *machine_class;   /* hw/device.h */
    GPtrArray *devices;          /* Device*, creation order (hw/device.h) */
    /*
     * What holds bootindex 0 in fw_cfg "bootorder" besides the devices (QEMU's
     * linuxboot option ROM path with -kernel), or NULL (hw/bootorder.h).
     */
    const char *boot_rom;
    unsigned n_peripheral_anon;  /* next /machine/peripheral-anon/device[N] */
    unsigned n_unattached;       /* next board device after the CPUs in /machine/unattached */
    GSList *powerdown_notifiers; /* MachineNotifier*: system_powerdown reaches the guest */
    /* Boot-time markers (PIO 0x3FF) are logged once per reset each. */
    bool logged_boot_start, logged_boot_done;

    GSList *cleanup_paths;       /* char* removed at exit (sockets, pidfile) */
    void *board;                 /* the machine class's private state */
    BlockRegistry *block_nodes;  /* -drive / blockdev-add nodes by name */
    GHashTable *netdevs;         /* -netdev / netdev_add back ends: id -> NetClient* (net/net.h) */
    uint64_t net_seq;            /* creation/attach order of back ends and NICs (info network) */
    ObjectTable *objects;        /* -object / object-add back ends by id (backends/object.h) */
    CameraTable *cameras;        /* -cameradev / cameradev_add back ends (backends/camera.h) */
    /*
     * Node names device_del released (StratoVirt unregisters the drive with
     * the device): a following blockdev-del of the name (QEMU/libvirt's
     * unplug sequence) succeeds once instead of "Failed to find node".
     */
    GHashTable *released_nodes;
    MachineClock *clock;         /* util/clock.h: machine clock + timers (lazy) */
    MigrationState *migration;   /* migration/migration.h: query-migrate, -incoming */
    GHashTable *fdsets;          /* add-fd sets (qmp/qmp-commands-fdset.c); NULL until used */
    /*
     * Interrupts devices raised on each GSI (x-query-irq): rising edges
     * through irq_set_level and irqfd signals. irq_levels holds each line's
     * last level so a level held high counts once.
     */
    uint64_t irq_counts[MACHINE_MAX_GSI];
    uint32_t irq_levels;
    /*
     * Sources (IrqLine) high on each GSI: the line the accelerator sees is
     * high while this is non-zero. Not saved: each device drives its line
     * again from its own state when a snapshot loads.
     */
    uint16_t irq_high[MACHINE_MAX_GSI];
    /* dump-guest-memory's last run (qmp/qmp-commands-dump.c, query-dump) */
    struct {
        uint8_t status;          /* none, active, completed, failed */
        uint64_t completed, total;
    } dump;
};

/* A callback registered with the machine (powerdown notifiers). */
typedef struct MachineNotifier {
    void (*fn)(void *opaque);
    void *opaque;
} MachineNotifier;

/*
 * Opens every -drive (except if=pflash, which boards read themselves) into
 * m->block_nodes. Machine classes call it from init.
 */
bool machine_open_drives(Machine *m, GError **err);
/* The optional system calls (SeccompNeeds) the devices and block nodes use. */
unsigned machine_seccomp_needs(Machine *m);

/*
 * machine-camera.c: camera back ends exist on every machine but microvm
 * (StratoVirt's standard machine only); creates m->cameras and the
 * -cameradev ones; the SeccompNeeds bit their VIDIOC requests need.
 */
bool machine_cameras_supported(Machine *m);
bool machine_create_cameras(Machine *m, GError **err);
unsigned machine_camera_seccomp_needs(Machine *m);

/* Builds everything the config describes; nothing runs yet. */
Machine *machine_new(StratusConfig *cfg, GError **err);
/* Starts vCPUs (unless -S) and runs the main loop until shutdown. Returns exit status. */
int machine_run(Machine *m);
void machine_free(Machine *m);

void machine_lock(Machine *m);
void machine_unlock(Machine *m);

/* Thread-safe with the lock held: records the reason and wakes the main loop. */
void machine_request_shutdown(Machine *m, ShutdownReason reason);
/* An NMI to every vCPU (inject-nmi); lock held. Dropped when no vCPU runs (qtest). */
void machine_inject_nmi(Machine *m);
/*
 * A device's MSI write (PCI MSI/MSI-X): to the APIC window it is an
 * interrupt message for the accelerator; anywhere else (or with no vCPUs,
 * under qtest) it is a 4-byte DMA write of data to guest memory, which is
 * how QEMU's libqos observes MSI-X.
 */
void machine_send_msi(Machine *m, uint64_t addr, uint32_t data);
/* Lifecycle for QMP (main loop, lock held). false + *err as QMP GenericError. */
bool machine_pause(Machine *m, GError **err);
bool machine_resume(Machine *m, GError **err);
void machine_system_reset(Machine *m);
void machine_powerdown(Machine *m);
void machine_set_runstate(Machine *m, RunState s);

void machine_add_cleanup_path(Machine *m, const char *path);
/* system_powerdown: devices that signal it to the guest (the PM block). */
void machine_add_powerdown_notifier(Machine *m, void (*fn)(void *), void *opaque);
void machine_remove_powerdown_notifier(Machine *m, void (*fn)(void *), void *opaque);
/*
 * A guest panic (pvpanic): from any thread with the lock held; the main loop
 * pauses the vCPUs, sets runstate guest-panicked and emits STOP. `cont`
 * resumes from guest-panicked.
 */
void machine_request_panic(Machine *m);
/*
 * StratoVirt's boot_time markers written to PIO 0x3FF: 1 -> "Kernel starts
 * to boot!", 2 -> "Kernel boot complete!", each logged once until reset.
 */
void machine_boot_time_signal(Machine *m, uint8_t value);

/* Emits a QMP event (takes ownership of data; NULL = {}). Any thread, lock held. */
void machine_emit_event(Machine *m, const char *name, JsonNode *data);

/* Interrupts: devices never talk to the accelerator directly. */
void irq_line_init(IrqLine *irq, Machine *m, unsigned gsi);
/*
 * This source's level; the GSI gets the OR of its sources' (the
 * accelerator is told on every call, so a source re-asserting reaches it).
 */
void irq_set_level(IrqLine *irq, bool level);
void irq_pulse(IrqLine *irq);    /* edge: raise then lower */
/* An interrupt went to `gsi` by another path (irqfd): counted for x-query-irq. */
void machine_count_irq(Machine *m, unsigned gsi);
/*
 * ioeventfd/irqfd helpers. Under an accelerator that cannot do them (qtest)
 * these return false without error and the device must fall back to its MMIO
 * write handler / irq_set_level, which it must implement anyway.
 */
bool machine_add_irqfd(Machine *m, unsigned gsi, int fd, GError **err);
void machine_remove_irqfd(Machine *m, unsigned gsi, int fd);
bool machine_add_ioeventfd(Machine *m, bool pio, uint64_t addr, unsigned size,
                           bool datamatch, uint64_t data, int fd, GError **err);
void machine_remove_ioeventfd(Machine *m, bool pio, uint64_t addr, unsigned size,
                              bool datamatch, uint64_t data, int fd);
/*
 * MSI routes for irqfds (KVM's GSI routing, docs/q35.md "virtio-pci"):
 * add returns a GSI whose irqfd (machine_add_irqfd) delivers the MSI
 * (addr, data), -1 without error where the accelerator has none (emu,
 * qtest: the device calls machine_send_msi), -1 with *err when the table
 * is full or the hypervisor refused. update points the route at a new
 * message (no-op when unchanged); remove frees it (its irqfd removed first).
 */
int machine_add_msi_route(Machine *m, uint64_t addr, uint32_t data, GError **err);
bool machine_update_msi_route(Machine *m, unsigned gsi, uint64_t addr, uint32_t data,
                              GError **err);
void machine_remove_msi_route(Machine *m, unsigned gsi);

/* Guest-physical helpers for devices (bounds-checked, see memory.h). */
static inline void *machine_gpa(Machine *m, uint64_t gpa, uint64_t len)
{
    return guest_ram_ptr(&m->ram, gpa, len);
}

#endif
