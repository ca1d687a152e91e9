/*
 * ELF64 core writer (x86-elf-core.h). The layout is the one gdb expects of
 * a core: the ELF header, the program headers (the note segment first),
 * the notes, then each PT_LOAD's bytes; segments are not page-aligned in
 * the file (p_align 0), as in QEMU's dumps, so no padding is written.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "accel/x86-elf-core.h"
#include "util/fdutil.h"
#include "util/strutil.h"

/* Linux's struct elf_prstatus on x86-64 (336 bytes); pr_reg is user_regs_struct. */
#define PRSTATUS_SIZE   336
#define PRSTATUS_PID    32
#define PRSTATUS_REG    112
#define NOTE_NAME       "CORE"
#define NOTE_NAME_SIZE  8                    /* "CORE\0" padded to 4 */
#define NOTE_SIZE       (12 + NOTE_NAME_SIZE + PRSTATUS_SIZE)

typedef struct Segment {
    uint64_t gpa, size;
    const uint8_t *hva;
} Segment;

/* The RAM blocks clipped to the filter, in address order. */
static GArray *segments(const X86ElfCore *c)
{
    GArray *a = g_array_new(FALSE, FALSE, sizeof(Segment));
    uint64_t lo = c->length ? c->begin : 0;
    uint64_t hi = c->length ? c->begin + c->length : UINT64_MAX;

    if (hi < lo) {
        hi = UINT64_MAX;        /* begin + length wrapped: to the end */
    }
    for (guint i = 0; i < c->ram->blocks->len; i++) {
        const RamBlock *b = &g_array_index(c->ram->blocks, RamBlock, i);
        uint64_t s = MAX(b->gpa, lo), e = MIN(b->gpa + b->size, hi);
        if (s < e) {
            Segment seg = { s, e - s, b->hva + (s - b->gpa) };
            g_array_append_val(a, seg);
        }
    }
    return a;
}

uint64_t x86_elf_core_ram_bytes(const X86ElfCore *c)
{
    g_autoptr(GArray) segs = segments(c);
    uint64_t n = 0;

    for (guint i = 0; i < segs->len; i++) {
        n += g_array_index(segs, Segment, i).size;
    }
    return n;
}

static void put_prstatus(uint8_t *d, const X86VcpuState *s, unsigned index)
{
    const uint64_t *g = s->gpr;
    /* user_regs_struct order */
    const uint64_t regs[27] = {
        g[15], g[14], g[13], g[12], g[X86_RBP], g[X86_RBX], g[11], g[10], g[9], g[8],
        g[X86_RAX], g[X86_RCX], g[X86_RDX], g[X86_RSI], g[X86_RDI], g[X86_RAX],
        s->rip, s->seg[X86_SEG_CS].selector, s->rflags, g[X86_RSP],
        s->seg[X86_SEG_SS].selector, s->seg[X86_SEG_FS].base, s->seg[X86_SEG_GS].base,
        s->seg[X86_SEG_DS].selector, s->seg[X86_SEG_ES].selector,
        s->seg[X86_SEG_FS].selector, s->seg[X86_SEG_GS].selector,
    };
    uint32_t pid = index + 1;    /* gdb shows vCPU n as thread n + 1 */

    memset(d, 0, PRSTATUS_SIZE);
    memcpy(d + PRSTATUS_PID, &pid, sizeof(pid));
    memcpy(d + PRSTATUS_REG, regs, sizeof(regs));
}

static void put_note(uint8_t *p, const X86VcpuState *s, unsigned index)
{
    const uint32_t hdr[3] = { sizeof(NOTE_NAME), PRSTATUS_SIZE, NT_PRSTATUS };

    memcpy(p, hdr, sizeof(hdr));
    memset(p + 12, 0, NOTE_NAME_SIZE);
    memcpy(p + 12, NOTE_NAME, sizeof(NOTE_NAME));
    put_prstatus(p + 12 + NOTE_NAME_SIZE, s, index);
}

/* Header, program headers and notes: everything before the first segment. */
static GByteArray *headers(const X86ElfCore *c, const GArray *segs)
{
    size_t phnum = 1 + segs->len;
    size_t notes_off = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
    size_t notes_size = (size_t)c->n_cpus * NOTE_SIZE;
    GByteArray *b = g_byte_array_sized_new(notes_off + notes_size);
    Elf64_Ehdr eh = {
        .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT },
        .e_type = ET_CORE, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
        .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
        .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = (uint16_t)phnum,
    };
    Elf64_Phdr note = { .p_type = PT_NOTE, .p_offset = notes_off, .p_filesz = notes_size,
                        .p_memsz = notes_size };
    uint64_t off = notes_off + notes_size;

    g_byte_array_append(b, (const guint8 *)&eh, sizeof(eh));
    g_byte_array_append(b, (const guint8 *)&note, sizeof(note));
    for (guint i = 0; i < segs->len; i++) {
        const Segment *s = &g_array_index(segs, Segment, i);
        Elf64_Phdr ph = { .p_type = PT_LOAD, .p_offset = off, .p_paddr = s->gpa,
                          .p_filesz = s->size, .p_memsz = s->size };
        g_byte_array_append(b, (const guint8 *)&ph, sizeof(ph));
        off += s->size;
    }
    g_byte_array_set_size(b, notes_off + notes_size);
    for (unsigned i = 0; i < c->n_cpus; i++) {
        put_note(b->data + notes_off + (size_t)i * NOTE_SIZE, &c->cpus[i], i);
    }
    return b;
}

/* Guest RAM goes out in 1 MiB writes so *done moves as it is written. */
#define CHUNK (1u << 20)

bool x86_elf_core_write(const X86ElfCore *c, int fd, uint64_t *done, GError **err)
{
    g_autoptr(GArray) segs = segments(c);
    g_autoptr(GByteArray) hdr = headers(c, segs);

    *done = 0;
    if (!fd_write_all(fd, hdr->data, hdr->len)) {
        goto fail;
    }
    for (guint i = 0; i < segs->len; i++) {
        const Segment *s = &g_array_index(segs, Segment, i);
        for (uint64_t o = 0; o < s->size; o += CHUNK) {
            size_t n = (size_t)MIN((uint64_t)CHUNK, s->size - o);
            if (!fd_write_all(fd, s->hva + o, n)) {
                goto fail;
            }
            *done += n;
        }
    }
    return true;
fail:
    set_error(err, "dump: failed to save memory: %s", g_strerror(errno));
    return false;
}
