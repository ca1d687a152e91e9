/*
 * Guest memory to a file (docs/qmp.md "Guest memory dumps"): pmemsave
 * (guest-physical addresses) and memsave (a vCPU's linear addresses), QEMU
 * 7.2's arguments, answers and error texts.
 *
 * Choices where QEMU differs or is silent:
 * - Physical ranges outside RAM are written as zeros; QEMU would read the
 *   MMIO registers there, which can have side effects on devices.
 * - A negative size is refused (QEMU 7.2 aborts on it); val is taken as the
 *   64-bit address its bits spell, as QEMU does.
 * - memsave briefly parks a running VM's vCPUs to read the vCPU's paging
 *   registers, without STOP/RESUME events; under qtest (no vCPU runs) the
 *   vCPU is in its reset state, so linear addresses are physical ones.
 *
 * The file is written synchronously, in pieces, on the main loop, as QEMU
 * does. Handlers run with the machine lock held; ctx->opaque is the Machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "machine.h"
#include "cpus.h"
#include "accel/accel.h"
#include "accel/x86-pagewalk.h"
#include "qmp/qmp-commands.h"
#include "qmp/qmp-dispatch.h"
#include "util/fdutil.h"

#define PAGE 4096u

static const QmpMember pmemsave_m[] = {
    { "val", &qmp_type_int }, { "size", &qmp_type_int }, { "filename", &qmp_type_str },
    { NULL }
};
static const QmpType pmemsave_args = QMP_OBJECT_TYPE(pmemsave_m);

static const QmpMember memsave_m[] = {
    { "val", &qmp_type_int }, { "size", &qmp_type_int }, { "filename", &qmp_type_str },
    { "cpu-index", &qmp_type_int, .optional = true },
    { NULL }
};
static const QmpType memsave_args = QMP_OBJECT_TYPE(memsave_m);

/* Where a linear address goes: identity (pmemsave) or a vCPU's page tables. */
typedef struct {
    const GuestRam *ram;
    const X86VcpuState *cpu;     /* NULL: addresses are physical */
} AddrSpace;

/* One piece that does not cross a page; false if a linear page is unmapped. */
static bool read_piece(const AddrSpace *as, uint64_t addr, uint8_t *buf, size_t n)
{
    uint64_t pa = addr;

    if (as->cpu && !x86_linear_to_phys(as->ram, as->cpu, addr, &pa)) {
        return false;
    }
    if (!guest_ram_read(as->ram, pa, buf, n)) {
        memset(buf, 0, n);      /* not RAM: see the header */
    }
    return true;
}

static bool save_range(const AddrSpace *as, const char *filename, uint64_t addr, gint64 size,
                       GError **err)
{
    uint64_t start = addr;
    uint8_t buf[PAGE];
    int fd = open(filename, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    bool ok = true;

    if (fd < 0) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Could not open '%s': %s", filename,
                      g_strerror(errno));
        return false;
    }
    for (uint64_t left = (uint64_t)size; ok && left; ) {
        size_t n = MIN(left, PAGE - (addr & (PAGE - 1)));

        if (!read_piece(as, addr, buf, n)) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC,
                          "Invalid addr 0x%016" G_GINT64_MODIFIER "x/size %" G_GINT64_FORMAT
                          " specified", (guint64)start, size);
            ok = false;
        } else if (!fd_write_all(fd, buf, n)) {
            qmp_error_set(err, STRATUS_ERROR_GENERIC, "An IO error has occurred");
            ok = false;
        }
        addr += n;
        left -= n;
    }
    close(fd);
    return ok;
}

static bool check_size(JsonObject *args, gint64 *size, GError **err)
{
    *size = json_object_get_int_member(args, "size");
    if (*size < 0) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC,
                      "Parameter 'size' expects a non-negative value");
        return false;
    }
    return true;
}

static bool qmp_pmemsave(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    Machine *m = ctx->opaque;
    AddrSpace as = { &m->ram, NULL };
    gint64 size;

    return check_size(args, &size, err) &&
           save_range(&as, json_object_get_string_member(args, "filename"),
                      (uint64_t)json_object_get_int_member(args, "val"), size, err);
}

/* The vCPU's registers, its thread parked for the read if the VM runs. */
static bool vcpu_paging_state(Machine *m, Vcpu *cpu, X86VcpuState *st, GError **err)
{
    bool running = m->runstate == RUN_STATE_RUNNING, ok;

    memset(st, 0, sizeof(*st));
    if (!m->accel_ops->vcpu_get_state) {
        return true;            /* qtest: reset state, paging off */
    }
    if (running) {
        cpus_pause_all(m);
    }
    ok = m->accel_ops->vcpu_get_state(cpu, st, err);
    if (running) {
        cpus_resume_all(m);
    }
    return ok;
}

static bool qmp_memsave(QmpCommandCtx *ctx, JsonObject *args, JsonNode **ret, GError **err)
{
    Machine *m = ctx->opaque;
    gint64 idx = json_object_has_member(args, "cpu-index") ?
                 json_object_get_int_member(args, "cpu-index") : 0;
    X86VcpuState st;
    AddrSpace as = { &m->ram, &st };
    gint64 size;

    if (idx < 0 || !m->vcpus || idx >= (gint64)m->vcpus->len) {
        qmp_error_set(err, STRATUS_ERROR_GENERIC, "Parameter 'cpu-index' expects a CPU number");
        return false;
    }
    return check_size(args, &size, err) &&
           vcpu_paging_state(m, g_ptr_array_index(m->vcpus, idx), &st, err) &&
           save_range(&as, json_object_get_string_member(args, "filename"),
                      (uint64_t)json_object_get_int_member(args, "val"), size, err);
}

static const QmpCommand guestmem_cmds[] = {
    { "pmemsave", qmp_pmemsave, &pmemsave_args, &qmp_type_empty },
    { "memsave", qmp_memsave, &memsave_args, &qmp_type_empty },
    { NULL }
};

void qmp_register_guestmem_commands(QmpCommandTable *t)
{
    qmp_command_table_add(t, guestmem_cmds);
}
