/*
 * The emu CPU's system behaviour, which the random instruction oracle
 * (test-emu-insn.c) cannot reach because the host runs its instructions at
 * CPL3 without control over paging, descriptor tables or privilege:
 *
 *  - paging: 4 KiB, 2 MiB and 1 GiB translations, accessed/dirty bits,
 *    #PF error codes and CR2 (not present, U/S, R/W, CR0.WP, NX), and the
 *    TLB keeping a translation until invlpg or a CR3 load;
 *  - code that changes under the interpreter (written by the host or by
 *    the guest inside the running block) must run in its new form;
 *  - exception and interrupt delivery through a 64-bit IDT and TSS (RSP0,
 *    IST, gate DPL, the frame, iretq back), #DF and the triple fault;
 *  - the mode switches of an AP trampoline (real -> protected -> long);
 *  - syscall/sysret; I/O permission through the TSS I/O bitmap.
 *
 * Every expectation is the architectural result (Intel SDM vol. 3). Each
 * test gets a fresh bare EmuCpu (no LAPIC) over its own guest RAM and a
 * minimal Machine (only the port I/O and MMIO buses, which in/out use),
 * in 64-bit mode at CPL0 with paging as laid out below. Exceptions are
 * caught at the setjmp in step()/run_block() and delivered, when a test
 * wants that, the way emu_vcpu_run does (deliver()).
 */
#include <setjmp.h>
#include <string.h>

#include <glib.h>

#include "accel/emu/emu-cpu.h"
#include "machine.h"

/* ---- guest-physical layout (linear = physical below 2 MiB) ---- */
#define RAM_SIZE     (8ull << 20)
#define GDT_ADDR     0x1000ull
#define IDT_ADDR     0x2000ull
#define TRAMP_ADDR   0x8000ull       /* AP trampoline (SIPI vector 8) */
#define TRAMP_GDT    0x9000ull
#define TSS_ADDR     0x10000ull
#define TSS_IOMAP    0x68u           /* I/O bitmap offset in the TSS */
#define TSS_LIMIT    (TSS_IOMAP + 8192u)  /* the bitmap and its terminating 0xFF byte */
#define PML4_ADDR    0x20000ull
#define PDPT_ADDR    0x21000ull
#define PD_ADDR      0x22000ull
#define PT_ADDR      0x23000ull      /* 4 KiB pages for linear [0, 2 MiB) */
#define KSTACK       0x8F000ull      /* RSP at CPL0 */
#define RSP0         0x90008ull      /* TSS.RSP0: deliberately not 16-byte aligned */
#define IST1         0xA0008ull
#define IST2         0xB0008ull
#define KCODE        0x100000ull     /* CPL0 code */
#define HANDLERS     0x101000ull     /* vector v's handler: HANDLERS + 16 * v */
#define UCODE        0x102000ull     /* user code page */
#define USTACK_PAGE  0x104000ull     /* user stack page */
#define USP          0x104F08ull     /* user RSP: not 16-byte aligned either */
#define U_RO_PAGE    0x106000ull     /* user, read-only */
#define SUP_PAGE     0x107000ull     /* supervisor, read/write */
#define NP_PAGE      0x108000ull     /* not present */
#define NX_PAGE      0x109000ull     /* supervisor, read/write, no-execute */
#define S_RO_PAGE    0x10A000ull     /* supervisor, read-only */
#define AD_PAGE      0x10B000ull     /* accessed and dirty clear */
#define MAP4K_LIN    0x10C000ull     /* -> MAP4K_PA */
#define MAP4K_PA     0x300000ull
#define TLB_LIN      0x10D000ull     /* -> TLB_PA_A, later TLB_PA_B */
#define TLB_PA_A     0x301000ull
#define TLB_PA_B     0x302000ull
#define MAP2M_LIN    0x200000ull     /* one 2 MiB page -> MAP2M_PA */
#define MAP2M_PA     0x400000ull
#define MAP1G_LIN    0x40000000ull   /* one 1 GiB page -> physical 0 */

/* ---- selectors ---- */
#define SEL_KCODE    0x08
#define SEL_KDATA    0x10
#define SEL_UCODE32  0x18            /* STAR[63:48]: sysretl's CS */
#define SEL_UDATA    0x20            /* ... + 8: sysret's SS */
#define SEL_UCODE64  0x28            /* ... + 16: sysretq's CS */
#define SEL_TSS      0x30

#define PG_P   0x1ull
#define PG_RW  0x2ull
#define PG_US  0x4ull
#define PG_A   0x20ull
#define PG_D   0x40ull
#define PG_PS  0x80ull
#define PG_G   0x100ull
#define PG_NX  (1ull << 63)

/* #PF error code bits */
#define PF_P 0x1u
#define PF_W 0x2u
#define PF_U 0x4u
#define PF_I 0x10u

#define IO_PORT_OK     0x510         /* a device the bitmap allows (with 0x511) */
#define IO_PORT_DENIED 0x512         /* nothing behind it, denied by the bitmap */

#define MAX_STEPS 200

#define LE32(x) (uint8_t)(x), (uint8_t)((x) >> 8), (uint8_t)((x) >> 16), (uint8_t)((x) >> 24)
#define LE64(x) LE32(x), LE32((uint64_t)(x) >> 32)
/* A byte array literal and its length, for put_code(). */
#define BYTES(...) ((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })

static const uint64_t gdt[] = {
    0,
    0x00af9b000000ffffull,           /* 0x08 kernel code, 64-bit */
    0x00cf93000000ffffull,           /* 0x10 kernel data */
    0x00cffb000000ffffull,           /* 0x18 user code, 32-bit */
    0x00cff3000000ffffull,           /* 0x20 user data */
    0x00affb000000ffffull,           /* 0x28 user code, 64-bit */
    0, 0,                            /* 0x30 TSS (16 bytes, filled in) */
};

typedef struct Fx Fx;
struct Fx {
    GuestRam ram;
    Machine *m;
    EmuCpu *cpu;
    /* the test port device */
    uint64_t io_last_write;
    unsigned io_writes;
    void (*on_io_write)(Fx *f);  /* called after each write, when set */
};

/* ---- guest memory ---- */

static void wr(Fx *f, uint64_t gpa, const void *buf, size_t len)
{
    g_assert_true(guest_ram_write(&f->ram, gpa, buf, len));
}

static void wr64(Fx *f, uint64_t gpa, uint64_t v)
{
    wr(f, gpa, &v, 8);
}

static uint64_t rd64(Fx *f, uint64_t gpa)
{
    uint64_t v;

    g_assert_true(guest_ram_read(&f->ram, gpa, &v, 8));
    return v;
}

static uint8_t rd8(Fx *f, uint64_t gpa)
{
    uint8_t v;

    g_assert_true(guest_ram_read(&f->ram, gpa, &v, 1));
    return v;
}

/* The 4 KiB page-table entry of a linear address below 2 MiB. */
static uint64_t pte_addr(uint64_t lin)
{
    g_assert_cmphex(lin, <, 2ull << 20);
    return PT_ADDR + (lin >> 12) * 8;
}

static void set_pte(Fx *f, uint64_t lin, uint64_t v)
{
    wr64(f, pte_addr(lin), v);
}

static void put_code(Fx *f, uint64_t addr, const uint8_t *code, size_t len)
{
    wr(f, addr, code, len);
}

static void set_gate(Fx *f, uint64_t idt, unsigned vec, uint64_t handler, unsigned type,
                     unsigned dpl, unsigned ist, bool present)
{
    uint64_t lo = (handler & 0xFFFF) | (uint64_t)SEL_KCODE << 16 | (uint64_t)ist << 32 |
                  (uint64_t)type << 40 | (uint64_t)dpl << 45 | (uint64_t)present << 47 |
                  ((handler >> 16) & 0xFFFF) << 48;

    wr64(f, idt + vec * 16, lo);
    wr64(f, idt + vec * 16 + 8, handler >> 32);
}

static uint64_t handler(unsigned vec)
{
    return HANDLERS + 16 * vec;
}

/* ---- running ---- */

/* One emu_step; the vector it raised (not delivered), or -1. */
static int step(EmuCpu *c)
{
    c->exc_vector = -1;
    if (setjmp(c->jmp) == 0) {
        emu_step(c);
        return -1;
    }
    return c->exc_vector;
}

/* One emu_run_block; the vector it raised, or -1. */
static int run_block(EmuCpu *c)
{
    c->exc_vector = -1;
    if (setjmp(c->jmp) == 0) {
        emu_run_block(c);
        return -1;
    }
    return c->exc_vector;
}

/* Runs (steps or blocks) until hlt; -1, or the vector raised on the way. */
static int run_to_hlt(EmuCpu *c, bool blocks)
{
    c->halted = false;
    for (int i = 0; i < MAX_STEPS && !c->halted; i++) {
        int v = blocks ? run_block(c) : step(c);

        if (v >= 0) {
            return v;
        }
    }
    g_assert_true(c->halted);
    return -1;
}

/*
 * Delivers the pending exception as emu_vcpu_run does: a fault raised while
 * delivering longjmps back here and is delivered in its turn (which is how
 * #DF and the triple fault come about). The vectors raised during delivery
 * go to nested[] (up to 4). False: triple fault.
 */
static bool deliver(EmuCpu *c, int *nested, volatile unsigned *n_nested)
{
    *n_nested = 0;
    if (setjmp(c->jmp) != 0) {
        if (*n_nested < 4) {
            nested[*n_nested] = c->exc_vector;
        }
        (*n_nested)++;
    }
    if (*n_nested > 4) {
        g_assert_not_reached();
    }
    return emu_deliver_pending_exception(c);
}

/* Delivers the pending exception, which must not fault on the way. */
static void deliver_clean(EmuCpu *c)
{
    int nested[4];
    volatile unsigned n;

    g_assert_true(deliver(c, nested, &n));
    g_assert_cmpuint(n, ==, 0);
}

/* A call into the CPU that must not raise an exception. */
#define NO_FAULT(c, call)                                                  \
    do {                                                                   \
        (c)->exc_vector = -1;                                              \
        if (setjmp((c)->jmp) == 0) {                                       \
            call;                                                          \
        } else {                                                           \
            g_error("%s raised exception %d (error 0x%x)", #call,         \
                    (c)->exc_vector, (c)->exc_error);                     \
        }                                                                  \
    } while (0)

/* emu_translate, which must not fault. */
static uint64_t translate(EmuCpu *c, uint64_t lin, int acc)
{
    c->exc_vector = -1;
    if (setjmp(c->jmp) == 0) {
        return emu_translate(c, lin, acc, false);
    }
    g_error("translating 0x%" G_GINT64_MODIFIER "x raised exception %d", (guint64)lin,
            c->exc_vector);
}

static void expect_pf(EmuCpu *c, int vec, uint64_t cr2, uint32_t err)
{
    g_assert_cmpint(vec, ==, EXC_PF);
    g_assert_true(c->exc_has_error);
    g_assert_cmphex(c->exc_error, ==, err);
    g_assert_cmphex(c->cr2, ==, cr2);
}

static void expect_gp(EmuCpu *c, int vec, uint32_t err)
{
    g_assert_cmpint(vec, ==, EXC_GP);
    g_assert_true(c->exc_has_error);
    g_assert_cmphex(c->exc_error, ==, err);
}

/* Loads a segment register from our GDT as the CPU would (no checks). */
static void load_seg(EmuCpu *c, int seg, uint16_t sel)
{
    if ((sel & ~3u) == 0) {
        memset(&c->seg[seg], 0, sizeof(EmuSeg));
        c->seg[seg].sel = sel;
        return;
    }
    emu_desc_to_seg(&c->seg[seg], sel, gdt[sel >> 3]);
}

/* CPL3, 64-bit, at rip with the user stack. */
static void to_user(Fx *f, uint64_t rip, uint64_t rflags)
{
    EmuCpu *c = f->cpu;

    load_seg(c, S_CS, SEL_UCODE64 | 3);
    load_seg(c, S_SS, SEL_UDATA | 3);
    load_seg(c, S_DS, SEL_UDATA | 3);
    load_seg(c, S_ES, SEL_UDATA | 3);
    c->rip = rip;
    c->gpr[R_SP] = USP;
    c->rflags = rflags;
    emu_update_mode(c);
    g_assert_cmpint(c->cpl, ==, 3);
    g_assert_true(c->long64);
}

/*
 * One data access (movabs rax,[addr] / movabs [addr],rax) at the current CPL,
 * from the kernel or the user code page, or an instruction fetch at addr
 * (RIP = addr). Returns the vector raised, or -1; on a fault RIP must
 * still be the faulting instruction.
 */
static int do_access(Fx *f, uint64_t addr, int acc)
{
    EmuCpu *c = f->cpu;
    uint64_t at = c->cpl == 3 ? UCODE : KCODE;
    int v;

    if (acc == ACC_EXEC) {
        at = addr;
    } else if (acc == ACC_READ) {
        put_code(f, at, BYTES(0x48, 0xa1, LE64(addr)));      /* movabs rax,[addr] */
    } else {
        put_code(f, at, BYTES(0x48, 0xa3, LE64(addr)));      /* movabs [addr],rax */
    }
    c->rip = at;
    v = step(c);
    if (v >= 0) {
        g_assert_cmphex(c->rip, ==, at);
    }
    return v;
}

static uint64_t read_at(Fx *f, uint64_t addr)
{
    int v = do_access(f, addr, ACC_READ);

    g_assert_cmpint(v, ==, -1);
    return f->cpu->gpr[R_AX];
}

static void write_at(Fx *f, uint64_t addr, uint64_t val)
{
    f->cpu->gpr[R_AX] = val;
    g_assert_cmpint(do_access(f, addr, ACC_WRITE), ==, -1);
}

/* ---- the test port device at IO_PORT_OK (2 ports) ---- */

static uint64_t port_read(void *opaque, uint64_t off, unsigned size)
{
    (void)opaque;
    return (0xA5A5A5A5A5A5A5A5ull + off) & ((1ull << (size * 8)) - 1);
}

static void port_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    Fx *f = opaque;

    (void)size;
    f->io_last_write = v | off << 32;
    f->io_writes++;
    if (f->on_io_write) {
        f->on_io_write(f);
    }
}

static const IoRegionOps port_ops = { .read = port_read, .write = port_write };

/* ---- fixture ---- */

static void build_tables(Fx *f)
{
    uint64_t tss_lo = (TSS_LIMIT & 0xFFFF) | (TSS_ADDR & 0xFFFFFF) << 16 | 0x89ull << 40 |
                      (uint64_t)((TSS_LIMIT >> 16) & 0xF) << 48 | ((TSS_ADDR >> 24) & 0xFF) << 56;
    uint16_t iomap = TSS_IOMAP;
    uint8_t ff[8192 + 1];

    wr(f, GDT_ADDR, gdt, sizeof(gdt));
    wr64(f, GDT_ADDR + SEL_TSS, tss_lo);
    wr64(f, GDT_ADDR + SEL_TSS + 8, TSS_ADDR >> 32);

    /* TSS: RSP0, IST1, IST2, and an I/O bitmap denying every port */
    wr64(f, TSS_ADDR + 4, RSP0);
    wr64(f, TSS_ADDR + 0x24, IST1);
    wr64(f, TSS_ADDR + 0x2C, IST2);
    wr(f, TSS_ADDR + 0x66, &iomap, 2);
    memset(ff, 0xFF, sizeof(ff));
    wr(f, TSS_ADDR + TSS_IOMAP, ff, sizeof(ff));

    /* IDT: exceptions are DPL0 interrupt gates; 0x80 DPL3 interrupt gate,
     * 0x81 DPL3 trap gate, 0x82 DPL0 interrupt gate */
    for (unsigned v = 0; v < 32; v++) {
        set_gate(f, IDT_ADDR, v, handler(v), 0xE, 0, 0, true);
    }
    set_gate(f, IDT_ADDR, 0x80, handler(0x80), 0xE, 3, 0, true);
    set_gate(f, IDT_ADDR, 0x81, handler(0x81), 0xF, 3, 0, true);
    set_gate(f, IDT_ADDR, 0x82, handler(0x82), 0xE, 0, 0, true);

    /* paging: PML4[0] -> PDPT; PDPT[0] -> PD, PDPT[1] = 1 GiB page at 0;
     * PD[0] -> PT (4 KiB pages, identity unless listed), PD[1] = 2 MiB page */
    wr64(f, PML4_ADDR, PDPT_ADDR | PG_P | PG_RW | PG_US);
    wr64(f, PDPT_ADDR, PD_ADDR | PG_P | PG_RW | PG_US);
    wr64(f, PDPT_ADDR + 8, 0 | PG_P | PG_RW | PG_PS);
    wr64(f, PD_ADDR, PT_ADDR | PG_P | PG_RW | PG_US);
    wr64(f, PD_ADDR + 8, MAP2M_PA | PG_P | PG_RW | PG_PS);
    for (uint64_t i = 0; i < 512; i++) {
        set_pte(f, i << 12, i << 12 | PG_P | PG_RW);
    }
    set_pte(f, UCODE, UCODE | PG_P | PG_RW | PG_US);
    set_pte(f, USTACK_PAGE, USTACK_PAGE | PG_P | PG_RW | PG_US);
    set_pte(f, U_RO_PAGE, U_RO_PAGE | PG_P | PG_US);
    set_pte(f, NP_PAGE, 0);
    set_pte(f, NX_PAGE, NX_PAGE | PG_P | PG_RW | PG_NX);
    set_pte(f, S_RO_PAGE, S_RO_PAGE | PG_P);
    set_pte(f, MAP4K_LIN, MAP4K_PA | PG_P | PG_RW);
    set_pte(f, TLB_LIN, TLB_PA_A | PG_P | PG_RW);
}

static void fx_setup(Fx *f, gconstpointer data)
{
    EmuCpu *c;
    GError *err = NULL;

    (void)data;
    memset(f, 0, sizeof(*f));
    g_assert_true(guest_ram_init(&f->ram, RAM_SIZE, RAM_SIZE, false, false, NULL));

    /* in/out take the machine lock and dispatch on its port bus */
    f->m = g_new0(Machine, 1);
    g_mutex_init(&f->m->lock);
    iobus_init(&f->m->mmio, "mmio", IOBUS_MEMORY);
    iobus_init(&f->m->pio, "pio", IOBUS_PORTS);
    g_assert_true(iobus_add(&f->m->pio, IO_PORT_OK, 2, &port_ops, f, "test-port", &err));
    g_assert_no_error(err);

    c = f->cpu = g_new0(EmuCpu, 1);
    g_assert_true(emu_decode_init(c));
    c->jit_after = 0;            /* blocks get their code when built (see test_jit_after) */
    c->ram = &f->ram;
    c->machine = f->m;
    c->ncpus = 1;
    c->ud_logged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    c->exc_vector = -1;
    c->delivering = -1;

    build_tables(f);

    /* 64-bit mode, CPL0, paging with CR0.WP and EFER.NXE as an OS has them */
    c->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    c->cr3 = PML4_ADDR;
    c->cr4 = CR4_PAE;
    c->efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
    c->gdtr = (EmuDtr){ GDT_ADDR, sizeof(gdt) - 1 };
    c->idtr = (EmuDtr){ IDT_ADDR, 0xFFF };
    load_seg(c, S_CS, SEL_KCODE);
    load_seg(c, S_SS, SEL_KDATA);
    load_seg(c, S_DS, SEL_KDATA);
    load_seg(c, S_ES, SEL_KDATA);
    load_seg(c, S_FS, 0);
    load_seg(c, S_GS, 0);
    emu_desc_to_seg(&c->tr, SEL_TSS, rd64(f, GDT_ADDR + SEL_TSS));
    c->rip = KCODE;
    c->gpr[R_SP] = KSTACK;
    c->rflags = 2;
    emu_tlb_flush(c);
    emu_update_mode(c);
    g_assert_true(c->long64);
    g_assert_cmpint(c->cpl, ==, 0);
}

static void fx_teardown(Fx *f, gconstpointer data)
{
    (void)data;
    g_hash_table_destroy(f->cpu->ud_logged);
    emu_decode_destroy(f->cpu);
    g_free(f->cpu);
    iobus_destroy(&f->m->pio);
    iobus_destroy(&f->m->mmio);
    g_mutex_clear(&f->m->lock);
    g_free(f->m);
    guest_ram_destroy(&f->ram);
}

/* ==== 1. paging ==== */

/* 4 KiB, 2 MiB and 1 GiB pages reach the physical bytes they map, for reads and writes. */
static void test_page_sizes(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    wr64(f, MAP4K_PA + 0x120, 0x0123456789ABCDEFull);
    wr64(f, MAP4K_LIN + 0x120, 0xDEADDEADDEADDEADull);   /* the identity page: not this */
    wr64(f, MAP2M_PA + 0xABCD8, 0x1122334455667788ull);
    wr64(f, 0x345670, 0x99AABBCCDDEEFF00ull);
    wr64(f, RAM_SIZE - 8, 0x5A5A5A5A00000001ull);

    g_assert_cmphex(read_at(f, MAP4K_LIN + 0x120), ==, 0x0123456789ABCDEFull);
    g_assert_cmphex(read_at(f, MAP2M_LIN + 0xABCD8), ==, 0x1122334455667788ull);
    g_assert_cmphex(read_at(f, MAP1G_LIN + 0x345670), ==, 0x99AABBCCDDEEFF00ull);
    g_assert_cmphex(read_at(f, MAP1G_LIN + RAM_SIZE - 8), ==, 0x5A5A5A5A00000001ull);

    write_at(f, MAP4K_LIN + 0x128, 0xCAFE0001);
    write_at(f, MAP2M_LIN + 0x1FFFF8, 0xCAFE0002);        /* the last qword of the 2 MiB page */
    write_at(f, MAP1G_LIN + 0x7F0000, 0xCAFE0003);
    g_assert_cmphex(rd64(f, MAP4K_PA + 0x128), ==, 0xCAFE0001);
    g_assert_cmphex(rd64(f, MAP2M_PA + 0x1FFFF8), ==, 0xCAFE0002);
    g_assert_cmphex(rd64(f, 0x7F0000), ==, 0xCAFE0003);

    g_assert_cmphex(translate(c, MAP4K_LIN + 0xFFF, ACC_READ), ==, MAP4K_PA + 0xFFF);
    g_assert_cmphex(translate(c, MAP2M_LIN + 0x12345, ACC_WRITE), ==, MAP2M_PA + 0x12345);
    g_assert_cmphex(translate(c, MAP1G_LIN + 0x765432, ACC_EXEC), ==, 0x765432);
}

/* Accessed bits on every level used; the dirty bit on the leaf, and only for a write. */
static void test_accessed_dirty(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    set_pte(f, AD_PAGE, AD_PAGE | PG_P | PG_RW);
    wr64(f, PD_ADDR + 8, MAP2M_PA | PG_P | PG_RW | PG_PS);
    wr64(f, PDPT_ADDR + 8, PG_P | PG_RW | PG_PS);
    emu_tlb_flush(c);

    read_at(f, AD_PAGE + 8);
    g_assert_cmphex(rd64(f, pte_addr(AD_PAGE)), ==, AD_PAGE | PG_P | PG_RW | PG_A);
    g_assert_cmphex(rd64(f, PD_ADDR), ==, PT_ADDR | PG_P | PG_RW | PG_US | PG_A);
    g_assert_cmphex(rd64(f, PDPT_ADDR), ==, PD_ADDR | PG_P | PG_RW | PG_US | PG_A);
    g_assert_cmphex(rd64(f, PML4_ADDR), ==, PDPT_ADDR | PG_P | PG_RW | PG_US | PG_A);
    /* a write after the read (the TLB has the page, but not as dirty) */
    write_at(f, AD_PAGE + 8, 1);
    g_assert_cmphex(rd64(f, pte_addr(AD_PAGE)), ==, AD_PAGE | PG_P | PG_RW | PG_A | PG_D);
    /* non-leaf entries have no dirty bit: bit 6 stays clear */
    g_assert_cmphex(rd64(f, PD_ADDR) & PG_D, ==, 0);

    /* a first access that is a write sets both at once */
    set_pte(f, AD_PAGE, AD_PAGE | PG_P | PG_RW);
    emu_tlb_flush(c);
    write_at(f, AD_PAGE + 16, 2);
    g_assert_cmphex(rd64(f, pte_addr(AD_PAGE)), ==, AD_PAGE | PG_P | PG_RW | PG_A | PG_D);

    /* 2 MiB and 1 GiB pages: the bits are in the PDE / PDPTE that maps the page */
    read_at(f, MAP2M_LIN + 0x1000);
    g_assert_cmphex(rd64(f, PD_ADDR + 8), ==, MAP2M_PA | PG_P | PG_RW | PG_PS | PG_A);
    write_at(f, MAP2M_LIN + 0x1000, 3);
    g_assert_cmphex(rd64(f, PD_ADDR + 8), ==, MAP2M_PA | PG_P | PG_RW | PG_PS | PG_A | PG_D);
    read_at(f, MAP1G_LIN + 0x500000);
    g_assert_cmphex(rd64(f, PDPT_ADDR + 8), ==, PG_P | PG_RW | PG_PS | PG_A);
    write_at(f, MAP1G_LIN + 0x500000, 4);
    g_assert_cmphex(rd64(f, PDPT_ADDR + 8), ==, PG_P | PG_RW | PG_PS | PG_A | PG_D);

    /* a write that faults (user write to a read-only page) does not dirty */
    to_user(f, UCODE, 0x202);
    read_at(f, U_RO_PAGE);
    c->gpr[R_AX] = 5;
    expect_pf(c, do_access(f, U_RO_PAGE, ACC_WRITE), U_RO_PAGE, PF_P | PF_W | PF_U);
    g_assert_cmphex(rd64(f, pte_addr(U_RO_PAGE)) & PG_D, ==, 0);
    g_assert_cmphex(rd64(f, U_RO_PAGE), ==, 0);
}

/* Not-present pages: #PF with P=0, CR2 = the address, W/U/I as the access was. */
static void test_not_present(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    uint64_t nc = 0x0000800000000000ull;     /* the first non-canonical address */

    (void)data;
    c->gpr[R_AX] = 0x1234;
    expect_pf(c, do_access(f, NP_PAGE + 0x10, ACC_READ), NP_PAGE + 0x10, 0);
    g_assert_cmphex(c->gpr[R_AX], ==, 0x1234);            /* not executed */
    expect_pf(c, do_access(f, NP_PAGE + 0xFF8, ACC_WRITE), NP_PAGE + 0xFF8, PF_W);
    expect_pf(c, do_access(f, NP_PAGE + 0x20, ACC_EXEC), NP_PAGE + 0x20, PF_I);
    /* an upper level not present: PML4[1] (512 GiB) and PDPT[2] (2 GiB) */
    expect_pf(c, do_access(f, 0x8000000008ull, ACC_READ), 0x8000000008ull, 0);
    expect_pf(c, do_access(f, 0x80000010ull, ACC_WRITE), 0x80000010ull, PF_W);

    /* I is reported only with EFER.NXE (no SMEP here) */
    NO_FAULT(c, emu_wrmsr(c, 0xC0000080, c->efer & ~EFER_NXE));
    expect_pf(c, do_access(f, NP_PAGE + 0x20, ACC_EXEC), NP_PAGE + 0x20, 0);
    NO_FAULT(c, emu_wrmsr(c, 0xC0000080, c->efer | EFER_NXE));

    to_user(f, UCODE, 0x202);
    expect_pf(c, do_access(f, NP_PAGE + 0x30, ACC_READ), NP_PAGE + 0x30, PF_U);
    expect_pf(c, do_access(f, NP_PAGE + 0x38, ACC_WRITE), NP_PAGE + 0x38, PF_U | PF_W);
    expect_pf(c, do_access(f, NP_PAGE + 0x40, ACC_EXEC), NP_PAGE + 0x40, PF_U | PF_I);

    /* a non-canonical address is #GP(0), not #PF */
    c->cr2 = 0;
    expect_gp(c, do_access(f, nc, ACC_READ), 0);
    g_assert_cmphex(c->cr2, ==, 0);
}

/* U/S and R/W protection, and CR0.WP for supervisor writes. */
static void test_protection(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    wr64(f, SUP_PAGE, 0x77);
    wr64(f, U_RO_PAGE, 0x66);
    wr64(f, S_RO_PAGE, 0x55);

    /* CPL0 reads and writes user pages (no SMAP) */
    g_assert_cmphex(read_at(f, U_RO_PAGE), ==, 0x66);

    /* CR0.WP=1: a supervisor write to a read-only page faults, P=1 W=1 U=0 */
    c->gpr[R_AX] = 9;
    expect_pf(c, do_access(f, S_RO_PAGE + 8, ACC_WRITE), S_RO_PAGE + 8, PF_P | PF_W);
    expect_pf(c, do_access(f, U_RO_PAGE + 8, ACC_WRITE), U_RO_PAGE + 8, PF_P | PF_W);
    g_assert_cmphex(rd64(f, S_RO_PAGE + 8), ==, 0);

    /* CR0.WP=0 (mov cr0 from the guest): it is allowed */
    c->gpr[R_AX] = c->cr0 & ~CR0_WP;
    put_code(f, KCODE, BYTES(0x0f, 0x22, 0xc0));            /* mov cr0,rax */
    c->rip = KCODE;
    g_assert_cmpint(step(c), ==, -1);
    write_at(f, S_RO_PAGE + 8, 0xAB);
    write_at(f, U_RO_PAGE + 8, 0xCD);
    g_assert_cmphex(rd64(f, S_RO_PAGE + 8), ==, 0xAB);
    g_assert_cmphex(rd64(f, U_RO_PAGE + 8), ==, 0xCD);
    /* and WP=1 again faults (the TLB must not keep the permission) */
    c->gpr[R_AX] = c->cr0 | CR0_WP;
    put_code(f, KCODE, BYTES(0x0f, 0x22, 0xc0));
    c->rip = KCODE;
    g_assert_cmpint(step(c), ==, -1);
    expect_pf(c, do_access(f, S_RO_PAGE + 8, ACC_WRITE), S_RO_PAGE + 8, PF_P | PF_W);

    /* CPL3: supervisor pages fault with P=1 U=1, for read, write and fetch */
    to_user(f, UCODE, 0x202);
    expect_pf(c, do_access(f, SUP_PAGE + 0x10, ACC_READ), SUP_PAGE + 0x10, PF_P | PF_U);
    expect_pf(c, do_access(f, SUP_PAGE + 0x18, ACC_WRITE), SUP_PAGE + 0x18, PF_P | PF_U | PF_W);
    expect_pf(c, do_access(f, SUP_PAGE + 0x20, ACC_EXEC), SUP_PAGE + 0x20,
              PF_P | PF_U | PF_I);
    /* ... a user read-only page reads, and a write faults with P=1 W=1 U=1
     * (CR0.WP does not matter at CPL3) */
    g_assert_cmphex(read_at(f, U_RO_PAGE), ==, 0x66);
    c->cr0 &= ~CR0_WP;
    emu_tlb_flush(c);
    expect_pf(c, do_access(f, U_RO_PAGE + 0x10, ACC_WRITE), U_RO_PAGE + 0x10,
              PF_P | PF_U | PF_W);
    g_assert_cmphex(rd64(f, U_RO_PAGE + 0x10), ==, 0);

    /* U=0 or R/W=0 in an upper level applies to the whole range: the PDE */
    c->cr0 |= CR0_WP;
    wr64(f, PD_ADDR, PT_ADDR | PG_P | PG_US);
    emu_tlb_flush(c);
    g_assert_cmphex(read_at(f, U_RO_PAGE), ==, 0x66);
    expect_pf(c, do_access(f, USTACK_PAGE, ACC_WRITE), USTACK_PAGE, PF_P | PF_U | PF_W);
    wr64(f, PD_ADDR, PT_ADDR | PG_P | PG_RW);
    emu_tlb_flush(c);
    /* (the user code page itself is no longer user: this is a fetch fault) */
    expect_pf(c, do_access(f, USTACK_PAGE, ACC_READ), UCODE, PF_P | PF_U | PF_I);
}

/* EFER.NXE: a no-execute page (or range) faults on fetch with P=1 I=1 and reads normally. */
static void test_nx(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    put_code(f, NX_PAGE, BYTES(0x90, 0xf4));                /* nop; hlt */
    wr64(f, NX_PAGE + 0x800, 0x4242);
    expect_pf(c, do_access(f, NX_PAGE, ACC_EXEC), NX_PAGE, PF_P | PF_I);
    g_assert_cmphex(read_at(f, NX_PAGE + 0x800), ==, 0x4242);
    write_at(f, NX_PAGE + 0x808, 1);

    /* jumping there: the fault is on the fetch at the target */
    c->gpr[R_AX] = NX_PAGE;
    put_code(f, KCODE, BYTES(0xff, 0xe0));                  /* jmp rax */
    c->rip = KCODE;
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmphex(c->rip, ==, NX_PAGE);
    expect_pf(c, step(c), NX_PAGE, PF_P | PF_I);
    g_assert_cmphex(c->rip, ==, NX_PAGE);

    /* NX in the PDE of a 2 MiB page */
    put_code(f, MAP2M_PA, BYTES(0x90, 0xf4));
    wr64(f, PD_ADDR + 8, MAP2M_PA | PG_P | PG_RW | PG_PS | PG_NX);
    emu_tlb_flush(c);
    expect_pf(c, do_access(f, MAP2M_LIN, ACC_EXEC), MAP2M_LIN, PF_P | PF_I);
    wr64(f, PD_ADDR + 8, MAP2M_PA | PG_P | PG_RW | PG_PS);
    emu_tlb_flush(c);
    c->rip = MAP2M_LIN;
    g_assert_cmpint(run_to_hlt(c, true), ==, -1);

    /* a user NX page at CPL3: P=1 U=1 I=1 */
    set_pte(f, USTACK_PAGE, USTACK_PAGE | PG_P | PG_RW | PG_US | PG_NX);
    emu_tlb_flush(c);
    to_user(f, UCODE, 0x202);
    expect_pf(c, do_access(f, USTACK_PAGE, ACC_EXEC), USTACK_PAGE, PF_P | PF_U | PF_I);
}

/* A changed PTE is not seen until invlpg or a CR3 load: the TLB keeps the old one. */
static void test_tlb_stale(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    static const uint8_t invlpg[] = { 0x0f, 0x01, 0x3c, 0x25, LE32(TLB_LIN), 0xf4 };
    static const uint8_t reload_cr3[] = { 0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8, 0xf4 };

    (void)data;
    wr64(f, TLB_PA_A, 0xAAAA);
    wr64(f, TLB_PA_B, 0xBBBB);
    g_assert_cmphex(read_at(f, TLB_LIN), ==, 0xAAAA);

    set_pte(f, TLB_LIN, TLB_PA_B | PG_P | PG_RW);
    g_assert_cmphex(read_at(f, TLB_LIN), ==, 0xAAAA);       /* stale, as allowed */
    put_code(f, KCODE + 0x100, invlpg, sizeof(invlpg));     /* invlpg [TLB_LIN]; hlt */
    c->rip = KCODE + 0x100;
    g_assert_cmpint(run_to_hlt(c, true), ==, -1);
    g_assert_cmphex(read_at(f, TLB_LIN), ==, 0xBBBB);

    set_pte(f, TLB_LIN, TLB_PA_A | PG_P | PG_RW);
    g_assert_cmphex(read_at(f, TLB_LIN), ==, 0xBBBB);
    put_code(f, KCODE + 0x200, reload_cr3, sizeof(reload_cr3));  /* mov rax,cr3; mov cr3,rax; hlt */
    c->rip = KCODE + 0x200;
    g_assert_cmpint(run_to_hlt(c, true), ==, -1);
    g_assert_cmphex(read_at(f, TLB_LIN), ==, 0xAAAA);

    /* a page made not present still reads until invlpg, then faults */
    wr64(f, TLB_PA_A + 8, 0xA8);
    set_pte(f, TLB_LIN, 0);
    g_assert_cmphex(read_at(f, TLB_LIN + 8), ==, 0xA8);
    c->rip = KCODE + 0x100;
    g_assert_cmpint(run_to_hlt(c, false), ==, -1);
    expect_pf(c, do_access(f, TLB_LIN + 8, ACC_READ), TLB_LIN + 8, 0);
}

/*
 * With CR4.PGE a CR3 load drops the TLB's entries but the global ones (a
 * global page's changed PTE stays unseen until invlpg or a CR4.PGE toggle);
 * without CR4.PGE the G bit means nothing.
 */
static void test_tlb_global(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    static const uint8_t reload_cr3[] = { 0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8, 0xf4 };
    static const uint8_t toggle_pge[] = {
        0x0f, 0x20, 0xe0, 0x48, 0x35, LE32(CR4_PGE), 0x0f, 0x22, 0xe0,   /* cr4 ^= PGE */
        0x48, 0x35, LE32(CR4_PGE), 0x0f, 0x22, 0xe0, 0xf4                /* and back; hlt */
    };

    (void)data;
    put_code(f, KCODE + 0x300, reload_cr3, sizeof(reload_cr3));
    put_code(f, KCODE + 0x380, toggle_pge, sizeof(toggle_pge));
    wr64(f, TLB_PA_A, 0xAAAA);
    wr64(f, TLB_PA_B, 0xBBBB);
    wr64(f, MAP4K_PA, 0x4444);
    c->cr4 |= CR4_PGE;
    set_pte(f, TLB_LIN, TLB_PA_A | PG_P | PG_RW | PG_G);
    set_pte(f, MAP4K_LIN, MAP4K_PA | PG_P | PG_RW);
    emu_tlb_flush(c);
    g_assert_cmphex(read_at(f, TLB_LIN), ==, 0xAAAA);
    g_assert_cmphex(read_at(f, MAP4K_LIN), ==, 0x4444);

    set_pte(f, TLB_LIN, TLB_PA_B | PG_P | PG_RW | PG_G);
    set_pte(f, MAP4K_LIN, TLB_PA_B | PG_P | PG_RW);
    c->rip = KCODE + 0x300;
    g_assert_cmpint(run_to_hlt(c, true), ==, -1);
    g_assert_cmphex(read_at(f, TLB_LIN), ==, 0xAAAA);        /* global: kept */
    g_assert_cmphex(read_at(f, MAP4K_LIN), ==, 0xBBBB);      /* not global: walked again */
    c->rip = KCODE + 0x380;
    g_assert_cmpint(run_to_hlt(c, true), ==, -1);
    g_assert_cmphex(c->cr4 & CR4_PGE, ==, CR4_PGE);
    g_assert_cmphex(read_at(f, TLB_LIN), ==, 0xBBBB);

    /* CR4.PGE clear: a CR3 load drops G entries too */
    c->cr4 &= ~CR4_PGE;
    set_pte(f, TLB_LIN, TLB_PA_A | PG_P | PG_RW | PG_G);
    emu_tlb_flush(c);
    g_assert_cmphex(read_at(f, TLB_LIN), ==, 0xAAAA);
    set_pte(f, TLB_LIN, TLB_PA_B | PG_P | PG_RW | PG_G);
    c->rip = KCODE + 0x300;
    g_assert_cmpint(run_to_hlt(c, true), ==, -1);
    g_assert_cmphex(read_at(f, TLB_LIN), ==, 0xBBBB);
}

/* ==== 2. code that changes ==== */

/*
 * A block of six mov r32,imm32 (and hlt) runs; then the host changes one
 * instruction's immediate (no flush of any kind: as a DMA or another vCPU
 * would) and the block must run with the new value; for every instruction
 * of the block and byte of the immediate, by blocks and by single steps.
 */
static void test_code_host_write(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    uint8_t code[6 * 5 + 1];

    (void)data;
    for (int blocks = 0; blocks < 2; blocks++) {
        for (unsigned k = 0; k < 6; k++) {
            code[k * 5] = (uint8_t)(0xB8 + k);                 /* mov e(ax+k), imm32 */
            memcpy(&code[k * 5 + 1], &(uint32_t){ 0x100 + k }, 4);
        }
        code[30] = 0xF4;
        put_code(f, KCODE, code, sizeof(code));
        c->rip = KCODE;
        g_assert_cmpint(run_to_hlt(c, blocks), ==, -1);
        for (unsigned k = 0; k < 6; k++) {
            g_assert_cmphex(c->gpr[k], ==, 0x100 + k);
        }
        for (unsigned k = 0; k < 6; k++) {
            for (unsigned b = 0; b < 4; b++) {
                uint8_t nv = (uint8_t)(0x11 * (k + 1) + b);

                wr(f, KCODE + k * 5 + 1 + b, &nv, 1);
                code[k * 5 + 1 + b] = nv;
                c->rip = KCODE;
                g_assert_cmpint(run_to_hlt(c, blocks), ==, -1);
                for (unsigned j = 0; j < 6; j++) {
                    uint32_t want;

                    memcpy(&want, &code[j * 5 + 1], 4);
                    g_assert_cmphex(c->gpr[j], ==, want);
                }
            }
        }
        /* a different instruction of another length in place of the first */
        put_code(f, KCODE, BYTES(0x48, 0xc7, 0xc0, LE32(0x7777), 0xf4));  /* mov rax,0x7777; hlt */
        c->rip = KCODE;
        g_assert_cmpint(run_to_hlt(c, blocks), ==, -1);
        g_assert_cmphex(c->gpr[R_AX], ==, 0x7777);
        g_assert_cmphex(c->rip, ==, KCODE + 8);
    }
}

typedef struct SmcCase {
    const char *name;
    uint8_t code[16];      /* the store; then mov eax,1; hlt; nop; nop */
    unsigned len;
    uint64_t rax, rcx;
    uint32_t want_eax;
} SmcCase;

/*
 * An instruction stores into the next instruction of its own block (the
 * immediate of mov eax,1): the modified instruction must execute, by
 * blocks and by single steps. One case per way the interpreter writes
 * memory (plain stores, read-modify-write, the host atomics of locked or
 * aligned xchg/cmpxchg, string stores, another linear alias of the page).
 */
static void test_code_same_block(Fx *f, gconstpointer data)
{
    static const SmcCase cases[] = {
        { "mov byte [rip+1],7", { 0xc6, 0x05, LE32(1), 0x07 }, 7, 0, 0, 7 },
        { "mov dword [rip+1],ecx", { 0x89, 0x0d, LE32(1) }, 6, 0, 0x12345678, 0x12345678 },
        { "add byte [rip+1],6", { 0x80, 0x05, LE32(1), 0x06 }, 7, 0, 0, 7 },
        { "lock add byte [rip+1],6", { 0xf0, 0x80, 0x05, LE32(1), 0x06 }, 8, 0, 0, 7 },
        /* xchg with memory is atomic: a host atomic when aligned (imm at +8) */
        { "xchg dword [rip+1],ecx", { 0x90, 0x87, 0x0d, LE32(1) }, 7, 0, 0x12345678,
          0x12345678 },
        { "xchg dword [rip+1],ecx (unaligned)", { 0x87, 0x0d, LE32(1) }, 6, 0, 0x12345678,
          0x12345678 },
        /* eax = 1 = the immediate: the compare succeeds and ecx is stored
         * (aligned: a host compare-and-swap) */
        { "cmpxchg dword [rip+1],ecx", { 0x0f, 0xb1, 0x0d, LE32(1) }, 7, 1, 0x12345678,
          0x12345678 },
        /* edx:eax = the 8 bytes of mov eax,1; hlt; nop; nop, replaced by
         * ecx:ebx = mov eax,0x12345678; hlt; nop; nop */
        { "lock cmpxchg8b [rip+0]", { 0xf0, 0x0f, 0xc7, 0x0d, LE32(0) }, 8, 0x1b8, 0x9090f412,
          0x12345678 },
        { "stosb (rdi = the immediate, al = 7)", { 0xaa }, 1, 7, 0, 7 },
        /* the generated code's other store forms (emu-jit-ops2.c) */
        { "inc byte [rip+1]", { 0xfe, 0x05, LE32(1) }, 6, 0, 0, 2 },
        { "neg byte [rip+1]", { 0xf6, 0x1d, LE32(1) }, 6, 0, 0, 0xff },
        { "mov word [rip+1],cx", { 0x66, 0x89, 0x0d, LE32(1) }, 7, 0, 7, 7 },
        { "xor byte [rip+1],cl", { 0x30, 0x0d, LE32(1) }, 6, 0, 6, 7 },
        { "sub dword [rip+1],ecx", { 0x29, 0x0d, LE32(1) }, 6, 0, 0xFFFFFFFA, 7 },
        { "bts dword [rip+1],2", { 0x0f, 0xba, 0x2d, LE32(1), 2 }, 8, 0, 0, 5 },
        /* through another linear alias of the same page (the 1 GiB mapping) */
        { "mov byte [alias],7", { 0xc6, 0x04, 0x25, LE32(MAP1G_LIN + KCODE + 9), 0x07 }, 8, 0, 0,
          7 },
    };
    EmuCpu *c = f->cpu;

    (void)data;
    for (int blocks = 0; blocks < 2; blocks++) {
        for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
            const SmcCase *k = &cases[i];
            uint8_t code[24];

            memcpy(code, k->code, k->len);
            memcpy(code + k->len, (const uint8_t[]){ 0xb8, 1, 0, 0, 0, 0xf4, 0x90, 0x90 }, 8);
            put_code(f, KCODE, code, k->len + 8);
            c->gpr[R_AX] = k->rax;
            c->gpr[R_CX] = k->rcx;
            c->gpr[R_DX] = 0x9090f400;
            c->gpr[R_BX] = 0x345678b8;
            c->gpr[R_DI] = KCODE + k->len + 1;
            c->rflags = 2;
            c->rip = KCODE;
            g_test_message("%s (%s)", k->name, blocks ? "blocks" : "steps");
            g_assert_cmpint(run_to_hlt(c, blocks), ==, -1);
            g_assert_cmphex(c->gpr[R_AX], ==, k->want_eax);
            g_assert_cmphex(c->rip, ==, KCODE + k->len + 6);
        }
    }
}

/*
 * The generated code's memory forms (emu-jit.c, emu-jit-ops*.c) where the
 * inline TLB path must give way to the handler or must add a segment base:
 * GS-relative loads, read-modify-writes and stores in a loop (its later
 * iterations hit the TLB), a GS-relative address that is not canonical
 * (#GP), a read-modify-write of a read-only page whose read the TLB holds
 * (#PF, the instruction not executed), of a page whose dirty bit is
 * clear (the handler sets it; then the inline path writes), and loads and
 * read-modify-writes across a page boundary (the handler's); push of an
 * immediate, mov from a segment register, pushfq, cli and sti (not in the
 * host oracle: they touch the stack or need CPL 0).
 */
static void test_native_mem(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    /* GS.base 0x100: without it the same page would be hit, at other data */
    const uint64_t d = SUP_PAGE + 8, v = SUP_PAGE + 0x108;

    (void)data;
    /* mov ecx,3; L: mov rax,gs:[d]; inc dword gs:[d+8]; add gs:[d+0x10],rax;
     * mov byte gs:[d+0x18],0x5a; dec ecx; jnz L; hlt */
    put_code(f, KCODE, BYTES(0xb9, LE32(3),
                             0x65, 0x48, 0x8b, 0x04, 0x25, LE32(d),
                             0x65, 0xff, 0x04, 0x25, LE32(d + 8),
                             0x65, 0x48, 0x01, 0x04, 0x25, LE32(d + 0x10),
                             0x65, 0xc6, 0x04, 0x25, LE32(d + 0x18), 0x5a,
                             0xff, 0xc9, 0x75, 0xd9, 0xf4));
    for (int blocks = 0; blocks < 2; blocks++) {
        for (unsigned i = 0; i < 4; i++) {
            wr64(f, d + 8 * i, 0xdead);           /* what a missing base would see */
        }
        wr64(f, v, 0x1111);
        wr64(f, v + 8, 0xFFFFFFFF00000005ull);
        wr64(f, v + 0x10, 100);
        wr64(f, v + 0x18, 0);
        c->seg[S_GS].base = 0x100;
        c->rip = KCODE;
        g_assert_cmpint(run_to_hlt(c, blocks), ==, -1);
        g_assert_cmphex(c->gpr[R_AX], ==, 0x1111);
        g_assert_cmphex(rd64(f, v + 8), ==, 0xFFFFFFFF00000008ull);
        g_assert_cmphex(rd64(f, v + 0x10), ==, 100 + 3 * 0x1111);
        g_assert_cmphex(rd64(f, v + 0x18), ==, 0x5a);
        for (unsigned i = 0; i < 4; i++) {
            g_assert_cmphex(rd64(f, d + 8 * i), ==, 0xdead);
        }
    }

    /* lea rax,gs:[rdx+8]; lea rcx,fs:[rip]; hlt: lea adds no segment base */
    put_code(f, KCODE, BYTES(0x65, 0x48, 0x8d, 0x42, 0x08, 0x64, 0x48, 0x8d, 0x0d, LE32(0),
                             0xf4));
    for (int blocks = 0; blocks < 2; blocks++) {
        c->seg[S_GS].base = 0x100;
        c->seg[S_FS].base = 0x200;
        c->gpr[R_DX] = 0x1000;
        c->rip = KCODE;
        g_assert_cmpint(run_to_hlt(c, blocks), ==, -1);
        g_assert_cmphex(c->gpr[R_AX], ==, 0x1008);
        g_assert_cmphex(c->gpr[R_CX], ==, KCODE + 13);
    }
    c->seg[S_FS].base = 0;

    /* inc dword gs:[0x1000] with GS.base 0x7ffffffff000: #GP(0), not executed */
    put_code(f, KCODE, BYTES(0x65, 0xff, 0x04, 0x25, LE32(0x1000), 0xf4));
    for (int blocks = 0; blocks < 2; blocks++) {
        c->seg[S_GS].base = 0x00007FFFFFFFF000ull;
        c->rip = KCODE;
        expect_gp(c, run_to_hlt(c, blocks), 0);
        g_assert_cmphex(c->insn_rip, ==, KCODE);
    }
    c->seg[S_GS].base = 0;

    /* mov eax,[ro]; add dword [ro],1; hlt: the read fills the TLB, the write faults */
    wr64(f, S_RO_PAGE + 8, 41);
    put_code(f, KCODE, BYTES(0x8b, 0x04, 0x25, LE32(S_RO_PAGE + 8),
                             0x83, 0x04, 0x25, LE32(S_RO_PAGE + 8), 1, 0xf4));
    for (int blocks = 0; blocks < 2; blocks++) {
        c->rip = KCODE;
        c->gpr[R_AX] = 0;
        expect_pf(c, run_to_hlt(c, blocks), S_RO_PAGE + 8, PF_P | PF_W);
        g_assert_cmphex(c->insn_rip, ==, KCODE + 7);      /* where #PF is delivered */
        g_assert_cmphex(c->gpr[R_AX], ==, 41);
        g_assert_cmphex(rd64(f, S_RO_PAGE + 8), ==, 41);
    }

    /* mov eax,[ad]; inc byte [ad]; hlt with D clear: the first store sets it */
    for (int blocks = 0; blocks < 2; blocks++) {
        set_pte(f, AD_PAGE, AD_PAGE | PG_P | PG_RW);
        emu_tlb_flush(c);
        wr64(f, AD_PAGE, 7);
        put_code(f, KCODE, BYTES(0x8b, 0x04, 0x25, LE32(AD_PAGE),
                                 0xfe, 0x04, 0x25, LE32(AD_PAGE), 0xf4));
        for (int run = 0; run < 3; run++) {
            c->rip = KCODE;
            g_assert_cmpint(run_to_hlt(c, blocks), ==, -1);
        }
        g_assert_cmphex(rd64(f, pte_addr(AD_PAGE)), ==,
                        AD_PAGE | PG_P | PG_RW | PG_A | PG_D);
        g_assert_cmphex(rd64(f, AD_PAGE), ==, 10);
    }

    /*
     * Accesses across the end of AD_PAGE into MAP4K_LIN, which maps a page
     * that is not the next one in host memory (where a decoy is): mov ecx,3;
     * L: mov rdx,[MAP4K_LIN-4]; add dword [MAP4K_LIN-2],0x01010101; dec ecx;
     * jnz L; hlt. The later iterations find both pages in the TLB.
     */
    put_code(f, KCODE, BYTES(0xb9, LE32(3),
                             0x48, 0x8b, 0x14, 0x25, LE32(MAP4K_LIN - 4),
                             0x81, 0x04, 0x25, LE32(MAP4K_LIN - 2), LE32(0x01010101),
                             0xff, 0xc9, 0x75, 0xe9, 0xf4));
    for (int blocks = 0; blocks < 2; blocks++) {
        set_pte(f, AD_PAGE, AD_PAGE | PG_P | PG_RW | PG_A | PG_D);
        emu_tlb_flush(c);
        wr(f, AD_PAGE + 0xFFC, BYTES(0x44, 0x33, 0x22, 0x11));
        wr(f, MAP4K_PA, BYTES(0x88, 0x77, 0x66, 0x55));
        wr(f, MAP4K_LIN, BYTES(0xef, 0xbe, 0xad, 0xde));     /* physical, after AD_PAGE */
        c->rip = KCODE;
        g_assert_cmpint(run_to_hlt(c, blocks), ==, -1);
        /* the dword was 0x77881122, then +0x01010101 three times */
        g_assert_cmphex(c->gpr[R_DX], ==, 0x5566798A13243344ull);
        g_assert_cmphex(rd8(f, AD_PAGE + 0xFFE), ==, 0x25);
        g_assert_cmphex(rd8(f, AD_PAGE + 0xFFF), ==, 0x14);
        g_assert_cmphex(rd8(f, MAP4K_PA), ==, 0x8B);
        g_assert_cmphex(rd8(f, MAP4K_PA + 1), ==, 0x7A);
        g_assert_cmphex(rd8(f, MAP4K_LIN), ==, 0xef);
    }

    /* mov ecx,3; L: push -2; push 0x12345678; mov eax,ss; mov bx,ds; pop rdx; pop rsi;
     * dec ecx; jnz L; hlt (push of an immediate and mov from a segment register) */
    put_code(f, KCODE, BYTES(0xb9, LE32(3), 0x6a, 0xfe, 0x68, LE32(0x12345678),
                             0x8c, 0xd0, 0x66, 0x8c, 0xdb, 0x5a, 0x5e,
                             0xff, 0xc9, 0x75, 0xee, 0xf4));
    for (int blocks = 0; blocks < 2; blocks++) {
        c->gpr[R_SP] = KSTACK;
        c->gpr[R_AX] = c->gpr[R_BX] = ~0ull;
        c->rip = KCODE;
        g_assert_cmpint(run_to_hlt(c, blocks), ==, -1);
        g_assert_cmphex(c->gpr[R_SP], ==, KSTACK);
        g_assert_cmphex(c->gpr[R_DX], ==, 0x12345678);
        g_assert_cmphex(c->gpr[R_SI], ==, ~1ull);
        g_assert_cmphex(rd64(f, KSTACK - 8), ==, ~1ull);
        g_assert_cmphex(c->gpr[R_AX], ==, c->seg[S_SS].sel);        /* zero-extended */
        g_assert_cmphex(c->gpr[R_BX], ==, 0xFFFFFFFFFFFF0000ull | c->seg[S_DS].sel);
    }

    /* pushfq; cli; pushfq; sti; pop rdx; pop rsi; hlt: RF is not pushed, the
     * second pushfq sees IF clear, sti (ending the block) sets it again */
    put_code(f, KCODE, BYTES(0x9c, 0xfa, 0x9c, 0xfb, 0x5a, 0x5e, 0xf4));
    for (int blocks = 0; blocks < 2; blocks++) {
        c->gpr[R_SP] = KSTACK;
        c->rflags = FL_RF | FL_IF | FL_ZF | FL_CF | 2;
        c->rip = KCODE;
        g_assert_cmpint(run_to_hlt(c, blocks), ==, -1);
        g_assert_cmphex(c->gpr[R_DX], ==, FL_ZF | FL_CF | 2);
        g_assert_cmphex(c->gpr[R_SI], ==, FL_IF | FL_ZF | FL_CF | 2);
        g_assert_true(c->rflags & FL_IF);
        g_assert_cmphex(c->gpr[R_SP], ==, KSTACK);
    }
    /* the block ends after the sti, in its interrupt shadow */
    c->gpr[R_SP] = KSTACK;
    c->rflags = FL_IF | 2;
    c->rip = KCODE;
    g_assert_cmpint(run_block(c), ==, -1);
    g_assert_cmphex(c->rip, ==, KCODE + 4);
    g_assert_true(c->sti_shadow);
    g_assert_cmpint(run_to_hlt(c, true), ==, -1);

    /* at CPL 3 with IOPL 0, cli and sti raise #GP(0) and change nothing */
    put_code(f, UCODE, BYTES(0x90, 0xfa, 0xfb, 0xf4));
    for (int k = 0; k < 2; k++) {
        for (int blocks = 0; blocks < 2; blocks++) {
            to_user(f, UCODE + 2 * k, 0x202);       /* nop; cli, or sti */
            expect_gp(c, run_to_hlt(c, blocks), 0);
            g_assert_cmphex(c->insn_rip, ==, UCODE + 1 + k);
            g_assert_cmphex(c->rflags, ==, 0x202);
        }
    }
}

/*
 * Blocks rebuilt again and again (the host rewrites one) fill the block
 * pool and the code area, which are then emptied as a whole
 * (emu_block_flush): a block that is not rewritten must keep running
 * correctly across the flushes, never from code or instructions that a
 * later block overwrote. The rewritten block's length varies so that new
 * code does not land where old code started. Its pairs are, in the first
 * pass, an add and a store through the inline TLB (long code: the code
 * area fills first), in the second an add and a register move (little
 * code: the pool fills first).
 */
static void test_code_flush(Fx *f, gconstpointer data)
{
    /* 2500 rounds per MiB of pool and code area (they scale together) */
    enum { MAX_PAIRS = 11, ROUNDS = 2500 * (EMU_JIT_AREA >> 20) };
    EmuCpu *c = f->cpu;
    const uint64_t tail = KCODE + 0x440;     /* not the block cache entry of KCODE */

    (void)data;
    /* the block that is never rewritten: add rdx, 1; mov ecx, 0x55; hlt */
    put_code(f, tail, BYTES(0x48, 0x83, 0xc2, 0x01, 0xbb, LE32(0x55), 0xf4));
    for (int stores = 1; stores >= 0; stores--) {
        unsigned flushes = 0;
        size_t last_used = c->pool_used;

        c->gpr[R_DX] = 0;
        for (unsigned r = 0; r < ROUNDS; r++) {
            uint8_t imm = (uint8_t)(r % 100 + 1), code[MAX_PAIRS * 8 + 5];
            unsigned pairs = 1 + r % MAX_PAIRS, n = 0;

            for (unsigned j = 0; j < pairs; j++) {
                /* add rax, imm8; then mov [rsi + 8j], rax or mov rcx, rax */
                memcpy(code + n, (const uint8_t[]){ 0x48, 0x83, 0xc0, imm }, 4);
                memcpy(code + n + 4, stores ? (const uint8_t[]){ 0x48, 0x89, 0x46, 8 * j }
                                            : (const uint8_t[]){ 0x48, 0x89, 0xc1, 0 }, 4);
                n += stores ? 8 : 7;
            }
            code[n] = 0xe9;                                   /* jmp tail */
            memcpy(code + n + 1, &(uint32_t){ (uint32_t)(tail - (KCODE + n + 5)) }, 4);
            put_code(f, KCODE, code, n + 5);
            c->gpr[R_AX] = c->gpr[R_BX] = c->gpr[R_CX] = 0;
            c->gpr[R_SI] = SUP_PAGE;
            c->rip = KCODE;
            g_assert_cmpint(run_to_hlt(c, true), ==, -1);
            g_assert_cmphex(c->rip, ==, tail + 10);
            g_assert_cmphex(c->gpr[R_AX], ==, (uint64_t)pairs * imm);
            g_assert_cmphex(c->gpr[R_BX], ==, 0x55);
            g_assert_cmphex(c->gpr[R_DX], ==, r + 1);
            for (unsigned j = 0; j < pairs && stores; j++) {
                g_assert_cmphex(rd64(f, SUP_PAGE + 8 * j), ==, (uint64_t)(j + 1) * imm);
            }
            if (!stores) {
                g_assert_cmphex(c->gpr[R_CX], ==, (uint64_t)pairs * imm);
            }
            g_assert_cmpuint(c->pool_used, <=, EMU_BLOCK_POOL);
            g_assert_cmpuint(c->jit_used, <=, EMU_JIT_AREA);
            flushes += c->pool_used < last_used;
            last_used = c->pool_used;
        }
        /* the rounds take several times the pool and the code area: several flushes */
        g_test_message("%s: %u flushes", stores ? "stores" : "moves", flushes);
        g_assert_cmpuint(flushes, >=, 2);
    }
}

/*
 * A block of EMU_BLOCK_INSNS instructions of a form with long code (add
 * [rsi+d8], rax: the inline TLB path, the handler call for a miss, the
 * flags) exceeds EMU_JIT_BLOCK_MAX: it is cut until its code fits, and the
 * rest becomes the block at the cut, with code of its own (interpreted,
 * such blocks made a Linux boot run 9.5 million instructions in the
 * interpreter, returning to the dispatch loop after each block). Both
 * still see the host rewriting their bytes.
 */
static void test_jit_long_block(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    uint8_t code[4 * EMU_BLOCK_INSNS + 1];
    const EmuBlock *b, *rest;

    (void)data;
    for (unsigned i = 0; i < EMU_BLOCK_INSNS; i++) {
        memcpy(code + 4 * i, BYTES(0x48, 0x01, 0x46, (uint8_t)(8 * (i % 16))));
    }
    code[4 * EMU_BLOCK_INSNS] = 0xf4;
    for (unsigned run = 0; run < 3; run++) {
        if (run == 2) {              /* the last add (i = 23): to offset 8 * 15 */
            code[4 * (EMU_BLOCK_INSNS - 1) + 3] = 8 * 15;
        }
        put_code(f, KCODE, code, sizeof(code));
        wr64(f, SUP_PAGE, 0);
        wr64(f, SUP_PAGE + 8 * 7, 0);
        wr64(f, SUP_PAGE + 8 * 15, 0);
        c->gpr[R_SI] = SUP_PAGE;
        c->gpr[R_AX] = 3;
        c->rip = KCODE;
        g_assert_cmpint(run_to_hlt(c, true), ==, -1);
        g_assert_cmphex(c->rip, ==, KCODE + sizeof(code));
        g_assert_cmpuint(rd64(f, SUP_PAGE), ==, 3 * 2);       /* i = 0 and 16 */
        g_assert_cmpuint(rd64(f, SUP_PAGE + 8 * 7), ==, run == 2 ? 3 : 3 * 2);  /* i = 7, 23 */
        g_assert_cmpuint(rd64(f, SUP_PAGE + 8 * 15), ==, run == 2 ? 3 * 2 : 3);  /* i = 15 */
        b = emu_block_lookup(c, KCODE, MODE_64);
        g_assert_nonnull(b);
#if defined(__x86_64__)
        g_assert_nonnull(b->jit);
        g_assert_cmpuint(b->n, <, EMU_BLOCK_INSNS);
        rest = emu_block_lookup(c, KCODE + 4 * b->n, MODE_64);
        g_assert_nonnull(rest);
        g_assert_nonnull(rest->jit);
#else
        (void)rest;
#endif
    }
}

/*
 * With the default jit_after, a block is interpreted when it first runs and
 * gets its code on its EMU_JIT_AFTER-th start, with the same results; a
 * block the host rewrites starts over.
 */
static void test_jit_after(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    /* add rax, 3; imul rax, rax; mov [rsi], rax; hlt */
    uint8_t code[] = { 0x48, 0x83, 0xc0, 0x03, 0x48, 0x0f, 0xaf, 0xc0, 0x48, 0x89, 0x06, 0xf4 };
    const EmuBlock *b;

    (void)data;
    c->jit_after = EMU_JIT_AFTER;
    for (unsigned version = 0; version < 2; version++) {
        code[3] = (uint8_t)(3 + version);
        put_code(f, KCODE, code, sizeof(code));
        for (unsigned run = 1; run <= EMU_JIT_AFTER + 2; run++) {
            c->gpr[R_AX] = run;
            c->gpr[R_SI] = SUP_PAGE;
            c->rip = KCODE;
            g_assert_cmpint(run_to_hlt(c, true), ==, -1);
            g_assert_cmphex(c->gpr[R_AX], ==, (run + code[3]) * (run + code[3]));
            g_assert_cmphex(rd64(f, SUP_PAGE), ==, c->gpr[R_AX]);
            b = emu_block_lookup(c, KCODE, MODE_64);
            g_assert_nonnull(b);
#if defined(__x86_64__)
            g_assert_true((b->jit != NULL) == (run >= EMU_JIT_AFTER));
#endif
        }
    }
}

/*
 * Chaining (emu_jit_goto): blocks that jump to each other within a page run
 * from one emu_run_block call, at most EMU_CHAIN_INSNS instructions plus
 * one block, which is how often the dispatch loop gets to interrupts,
 * timers and kicks. run_chain() runs blocks until hlt and returns how many
 * emu_run_block calls that took.
 */
static unsigned run_counted(EmuCpu *c)
{
    volatile unsigned n = 0;

    c->exc_vector = -1;
    if (setjmp(c->jmp) == 0) {
        n = emu_run_block(c);
    }
    g_assert_cmpint(c->exc_vector, ==, -1);
    g_assert_cmpuint(n, <=, EMU_CHAIN_INSNS + EMU_BLOCK_INSNS);
    return n;
}

static unsigned run_chain(EmuCpu *c, uint64_t *insns)
{
    unsigned calls = 0;

    c->halted = false;
    *insns = 0;
    while (!c->halted) {
        *insns += run_counted(c);
        g_assert_cmpuint(++calls, <, 100000);
    }
    return calls;
}

/* The port write hook of test_chain_rewrite: the 50th write makes B add 3. */
static void rewrite_b(Fx *f)
{
    if (f->io_writes == 50) {
        put_code(f, KCODE + 0x43, BYTES(3));
    }
}

/*
 * A: add rbx, 1; mov edx, port; out dx, al; jmp B
 * B: add rsi, 1; cmp rbx, rcx; jb A; hlt
 * The host rewrites B's immediate from A's out (the 50th), while A's jump to
 * B is linked: B's code must notice at its entry and be decoded again.
 */
static void test_chain_rewrite(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    uint64_t insns;
    unsigned calls;

    (void)data;
    put_code(f, KCODE, BYTES(0x48, 0x83, 0xc3, 0x01, 0xba, LE32(IO_PORT_OK), 0xee,
                             0xe9, LE32(0x40 - 15)));
    put_code(f, KCODE + 0x40, BYTES(0x48, 0x83, 0xc6, 0x01, 0x48, 0x39, 0xcb,
                                    0x0f, 0x82, LE32((uint32_t)(0 - 0x4d)), 0xf4));
    f->on_io_write = rewrite_b;
    c->gpr[R_BX] = c->gpr[R_SI] = 0;
    c->gpr[R_CX] = 100;
    c->rip = KCODE;
    calls = run_chain(c, &insns);
    g_assert_cmpuint(c->gpr[R_BX], ==, 100);
    g_assert_cmpuint(c->gpr[R_SI], ==, 49 + 51 * 3);
    g_assert_cmpuint(insns, ==, 100 * 7 + 1);
    g_assert_cmphex(c->rip, ==, KCODE + 0x4e);
    g_test_message("%u emu_run_block calls for 201 blocks", calls);
#if defined(__x86_64__)
    g_assert_cmpuint(calls, <, 40);            /* chained, not one call per block */
#endif
}

/* The port write hook of test_chain_smc: M's add goes back to 1. */
static void reset_m(Fx *f)
{
    put_code(f, handler(0xE0) + 10, BYTES(1));
}

/*
 * L: add rsi, 1; mov edx, port; out dx, al; jmp M (another page)
 * M: mov byte [rip+3], 5 (the immediate of:) add rdi, 1; cmp rsi, rcx; jb L; hlt
 * The host makes M's add an add of 1 again from L's out; M's store into its
 * own page must end M where it is chained to from L too (the code page that
 * stores are compared with follows the chain), so every add is of 5.
 */
static void test_chain_smc(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    const uint64_t m = handler(0xE0);
    uint64_t insns;
    unsigned calls;

    (void)data;
    put_code(f, KCODE, BYTES(0x48, 0x83, 0xc6, 0x01, 0xba, LE32(IO_PORT_OK), 0xee,
                             0xe9, LE32((uint32_t)(m - (KCODE + 15)))));
    put_code(f, m, BYTES(0xc6, 0x05, LE32(3), 5, 0x48, 0x83, 0xc7, 0x01, 0x48, 0x39, 0xce,
                         0x0f, 0x82, LE32((uint32_t)(KCODE - (m + 20))), 0xf4));
    f->on_io_write = reset_m;
    c->gpr[R_SI] = c->gpr[R_DI] = 0;
    c->gpr[R_CX] = 100;
    c->rip = KCODE;
    calls = run_chain(c, &insns);
    g_assert_cmphex(c->rip, ==, m + 21);
    g_assert_cmpuint(c->gpr[R_SI], ==, 100);
    g_assert_cmpuint(c->gpr[R_DI], ==, 500);
    g_assert_cmpuint(insns, ==, 100 * 8 + 1);
    g_test_message("%u emu_run_block calls", calls);
}

/* The port write hook of test_chain_ret: the 50th write makes R add 3. */
static void rewrite_r(Fx *f)
{
    if (f->io_writes == 50) {
        put_code(f, KCODE + 12, BYTES(3));
    }
}

/*
 * L: add rsi, 1; call F (another page)
 * R: add rbx, 1; cmp rsi, rcx; jb L; hlt
 * F: mov edx, port; out dx, al; add rdi, 1; ret
 * F's ret goes to R through the jump cache; the host rewrites R from F's
 * out (the 50th): R's code must notice at its entry and be decoded again.
 */
static void test_chain_ret(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    const uint64_t fn = handler(0xE0);
    uint64_t insns;
    unsigned calls;

    (void)data;
    put_code(f, KCODE, BYTES(0x48, 0x83, 0xc6, 0x01, 0xe8, LE32((uint32_t)(fn - (KCODE + 9))),
                             0x48, 0x83, 0xc3, 0x01, 0x48, 0x39, 0xce,
                             0x0f, 0x82, LE32((uint32_t)(0 - 22)), 0xf4));
    put_code(f, fn, BYTES(0xba, LE32(IO_PORT_OK), 0xee, 0x48, 0x83, 0xc7, 0x01, 0xc3));
    f->on_io_write = rewrite_r;
    c->gpr[R_SI] = c->gpr[R_DI] = c->gpr[R_BX] = 0;
    c->gpr[R_CX] = 100;
    c->rip = KCODE;
    calls = run_chain(c, &insns);
    g_assert_cmphex(c->rip, ==, KCODE + 23);
    g_assert_cmpuint(c->gpr[R_SI], ==, 100);
    g_assert_cmpuint(c->gpr[R_DI], ==, 100);
    g_assert_cmpuint(c->gpr[R_BX], ==, 49 + 51 * 3);
    g_assert_cmpuint(c->gpr[R_SP], ==, KSTACK);
    g_assert_cmpuint(insns, ==, 100 * 9 + 1);
    g_test_message("%u emu_run_block calls for 300 blocks", calls);
#if defined(__x86_64__)
    g_assert_cmpuint(calls, <, 40);            /* ret chained through the jump cache */
#endif
}

/* The port write hook of test_chain_indirect: R adds 3 from the 50th, F adds 2 from the 70th. */
static void rewrite_r_f(Fx *f)
{
    if (f->io_writes == 50) {
        put_code(f, KCODE + 15, BYTES(3));
    }
    if (f->io_writes == 70) {
        put_code(f, handler(0xE0) + 3, BYTES(2));
    }
}

/*
 * L: add rsi, 1; mov edx, port; out dx, al; call rax (F, another page)
 * R: add rbx, 1; cmp rsi, rcx; jb L; hlt
 * F: add rdi, 1; pop rdx; jmp rdx (to R)
 * The indirect call and jmp go on through the jump cache; the host
 * rewrites R (reached by the jmp) and F (by the call) from L's out: each
 * must notice at its entry and be decoded again.
 */
static void test_chain_indirect(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    const uint64_t fn = handler(0xE0);
    uint64_t insns;
    unsigned calls;

    (void)data;
    put_code(f, KCODE, BYTES(0x48, 0x83, 0xc6, 0x01, 0xba, LE32(IO_PORT_OK), 0xee, 0xff, 0xd0,
                             0x48, 0x83, 0xc3, 0x01, 0x48, 0x39, 0xce,
                             0x0f, 0x82, LE32((uint32_t)(0 - 25)), 0xf4));
    put_code(f, fn, BYTES(0x48, 0x83, 0xc7, 0x01, 0x5a, 0xff, 0xe2));
    f->on_io_write = rewrite_r_f;
    c->gpr[R_SI] = c->gpr[R_DI] = c->gpr[R_BX] = 0;
    c->gpr[R_AX] = fn;
    c->gpr[R_CX] = 100;
    c->rip = KCODE;
    calls = run_chain(c, &insns);
    g_assert_cmphex(c->rip, ==, KCODE + 26);
    g_assert_cmpuint(c->gpr[R_SI], ==, 100);
    g_assert_cmpuint(c->gpr[R_BX], ==, 49 + 51 * 3);
    g_assert_cmpuint(c->gpr[R_DI], ==, 69 + 31 * 2);
    g_assert_cmphex(c->gpr[R_DX], ==, KCODE + 12);
    g_assert_cmpuint(c->gpr[R_SP], ==, KSTACK);
    g_assert_cmpuint(insns, ==, 100 * 10 + 1);
    g_test_message("%u emu_run_block calls for 300 blocks", calls);
#if defined(__x86_64__)
    g_assert_cmpuint(calls, <, 40);            /* call and jmp chained through the jump cache */
#endif
}

/*
 * An endless loop of two chained blocks (L: add rsi, 1; jmp M  M: add rdi, 1;
 * jmp L) comes back to the dispatch loop within the bound, every call
 * counting what ran; an interrupt delivered between two calls (as
 * take_events does) runs its handler and returns into the loop, which goes
 * on chaining; after a flush of all code (no slot kept) it is chained again.
 */
static void chain_bound(Fx *f, uint64_t m, bool indirect)
{
    EmuCpu *c = f->cpu;
    uint64_t total = 0;

    if (indirect) {              /* L: ...; jmp rdx (M)  M: ...; jmp [rip+0x40] (L) */
        put_code(f, KCODE, BYTES(0x48, 0x83, 0xc6, 0x01, 0xff, 0xe2));
        put_code(f, m, BYTES(0x48, 0x83, 0xc7, 0x01, 0xff, 0x25, LE32(0x40 - 10)));
        put_code(f, m + 0x40, BYTES(LE64(KCODE)));
        c->gpr[R_DX] = m;
    } else {
        put_code(f, KCODE, BYTES(0x48, 0x83, 0xc6, 0x01, 0xe9, LE32((uint32_t)(m - (KCODE + 9)))));
        put_code(f, m, BYTES(0x48, 0x83, 0xc7, 0x01, 0xe9, LE32((uint32_t)(KCODE - (m + 9)))));
    }
    put_code(f, handler(0x82), BYTES(0x49, 0x83, 0xc0, 0x01, 0x48, 0xcf));  /* add r8,1; iretq */
    c->gpr[R_SI] = c->gpr[R_DI] = c->gpr[8] = 0;
    c->rip = KCODE;
    c->rflags |= FL_IF;
    for (unsigned call = 0; call < 60; call++) {
        unsigned n;

        if (call == 30) {
            uint64_t at = c->rip;

            emu_deliver(c, 0x82, false, 0, false, c->rip);
            g_assert_cmphex(c->rip, ==, handler(0x82));
            g_assert_true(at == KCODE || at == m);
            total += run_counted(c);                 /* the handler, back to `at` */
            g_assert_cmphex(c->rip, ==, at);
            g_assert_cmpuint(c->gpr[8], ==, 1);
            total -= 2;
        }
        if (call == 40) {
            emu_block_flush(c);
            g_assert_null(c->link_slot);
        }
        if (call == 50) {        /* data accesses evicted the code pages' TLB entries */
            c->tlb[(KCODE >> 12) % EMU_TLB_SIZE].vpage = 0;
            c->tlb[(m >> 12) % EMU_TLB_SIZE].vpage = 0;
        }
        n = run_counted(c);
#if defined(__x86_64__)
        if (call >= 5 && call != 30 && (call < 40 || call > 42) && (call < 50 || call > 52)) {
            g_assert_cmpuint(n, >=, EMU_CHAIN_INSNS);    /* the whole budget, chained */
        }
#endif
        total += n;
        g_assert_cmpuint(2 * (c->gpr[R_SI] + c->gpr[R_DI]), ==, total);   /* whole blocks */
        g_assert_cmpuint(c->gpr[R_SI] - c->gpr[R_DI], <=, 1);              /* alternating */
    }
}

static void test_chain_bound(Fx *f, gconstpointer data)
{
    (void)data;
    chain_bound(f, KCODE + 0x80, false);
}

/* The same with the second block in another page: its host address from the TLB. */
static void test_chain_bound_pages(Fx *f, gconstpointer data)
{
    (void)data;
    chain_bound(f, handler(0xE0), false);
}

/* The same through indirect jumps (a register, memory), which chain through the jump cache. */
static void test_chain_bound_indirect(Fx *f, gconstpointer data)
{
    (void)data;
    chain_bound(f, handler(0xE0), true);
}

/* The port write hook of test_chain_stop: what emu_wake does when an interrupt arrives. */
static void stop_chain(Fx *f)
{
    emu_chain_stop(f->cpu);
}

/*
 * L: add rsi, 1; mov edx, port; out dx, al; jmp M  M: add rdi, 1; jmp L,
 * an endless chained loop, with an interrupt (say) arriving at every out:
 * each call returns at the next exit to another block (after L's jmp), not
 * after EMU_CHAIN_INSNS, and the next call chains as far as the next out.
 */
static void test_chain_stop(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    const uint64_t m = KCODE + 0x80;
    uint64_t total = 0;

    (void)data;
    put_code(f, KCODE, BYTES(0x48, 0x83, 0xc6, 0x01, 0xba, LE32(IO_PORT_OK), 0xee,
                             0xe9, LE32((uint32_t)(m - (KCODE + 15)))));
    put_code(f, m, BYTES(0x48, 0x83, 0xc7, 0x01, 0xe9, LE32((uint32_t)(KCODE - (m + 9)))));
    f->on_io_write = stop_chain;
    c->gpr[R_SI] = c->gpr[R_DI] = 0;
    c->rip = KCODE;
    for (unsigned call = 0; call < 50; call++) {
        unsigned n = run_counted(c);

        total += n;
        g_assert_cmpuint(n, <=, 6);                  /* M, then L up to its out */
        g_assert_cmpuint(f->io_writes, ==, c->gpr[R_SI]);
        g_assert_cmpuint(4 * c->gpr[R_SI] + 2 * c->gpr[R_DI], ==, total);
    }
    g_assert_cmphex(c->rip, ==, m);
    f->on_io_write = NULL;
    run_counted(c);              /* links L's jump to M, which every stop came before */
    total = run_counted(c);
#if defined(__x86_64__)
    g_assert_cmpuint(total, >=, EMU_CHAIN_INSNS);    /* not stopped: the whole budget */
#endif
}

/*
 * A spin-wait: a run of pauses that lasts c->spin_ns ends the chain at the
 * instruction after a pause with spin_yield set, for the vCPU loop to give
 * its host CPU away (emu.c), interpreted or from generated code; the same
 * loop with a nop runs its whole budget every call and never asks, and so
 * does the pause loop with spin_ns 0 (no yield: the bare CPUs' default).
 */
static unsigned calls_to_spin_yield(EmuCpu *c, unsigned max, uint64_t *insns)
{
    unsigned calls = 0;

    c->spin_yield = false;
    c->rip = KCODE;
    while (!c->spin_yield && calls < max) {
        *insns += run_counted(c);
        calls++;
    }
    return calls;
}

static void test_spin_yield(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    uint64_t insns = 0;

    (void)data;
    /* L: add rsi, 1; pause; jmp L */
    put_code(f, KCODE, BYTES(0x48, 0x83, 0xc6, 0x01, 0xf3, 0x90, 0xeb, 0xf8));
    for (unsigned after = 0; after <= EMU_JIT_AFTER; after += EMU_JIT_AFTER) {
        c->jit_after = after;                        /* 0: generated code at once */
        c->spin_ns = 1;
        c->gpr[R_SI] = 0;
        insns = 0;
        g_assert_cmpuint(calls_to_spin_yield(c, 10000, &insns), <, 10000);
        g_assert_true(c->spin_yield);
        g_assert_cmphex(c->rip, ==, KCODE + 6);          /* after the pause */
        g_assert_cmpuint(3 * c->gpr[R_SI] - 1, ==, insns);   /* left right after it */
        c->spin_ns = 0;
        insns = 0;
        g_assert_cmpuint(calls_to_spin_yield(c, 20, &insns), ==, 20);
        g_assert_false(c->spin_yield);
    }
    c->spin_ns = 1;
    put_code(f, KCODE + 4, BYTES(0x66, 0x90));       /* nop instead of the pause */
    c->jit_after = 0;
    calls_to_spin_yield(c, 2, &insns);               /* rebuilt, then linked */
    insns = 0;
    g_assert_cmpuint(calls_to_spin_yield(c, 20, &insns), ==, 20);
    g_assert_false(c->spin_yield);
#if defined(__x86_64__)
    g_assert_cmpuint(insns, >=, 20 * EMU_CHAIN_INSNS);   /* each call its whole budget */
#endif
}

/*
 * The instruction after sti (which ends its block) runs alone, interpreted
 * or from generated code, so the loop can take a pending interrupt right
 * after it: as the first block of a chain, up to EMU_CHAIN_INSNS more ran
 * first (a Linux guest looping with interrupts off but for the sti of each
 * spin_unlock_irq, in try_to_generate_entropy(), never took its timer
 * interrupt again). The next call runs blocks again.
 */
static void test_sti_shadow(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    /* sti; add rsi, 1; add rdi, 1; add rdi, 1; hlt */
    put_code(f, KCODE, BYTES(0xfb, 0x48, 0x83, 0xc6, 0x01, 0x48, 0x83, 0xc7, 0x01,
                             0x48, 0x83, 0xc7, 0x01, 0xf4));
    for (unsigned after = 0; after <= EMU_JIT_AFTER; after += EMU_JIT_AFTER) {
        for (unsigned run = 0; run < EMU_JIT_AFTER + 1; run++) {
            c->jit_after = after;                        /* 0: generated code at once */
            c->rflags = 2;
            c->gpr[R_SI] = c->gpr[R_DI] = 0;
            c->rip = KCODE;
            c->halted = false;
            g_assert_cmpint(run_block(c), ==, -1);
            g_assert_cmphex(c->rip, ==, KCODE + 1);
            g_assert_true(c->sti_shadow && (c->rflags & FL_IF));
            g_assert_cmpint(run_block(c), ==, -1);       /* the shadow: one instruction */
            g_assert_cmphex(c->rip, ==, KCODE + 5);
            g_assert_false(c->sti_shadow);
            g_assert_cmpuint(c->gpr[R_SI], ==, 1);
            g_assert_cmpuint(c->gpr[R_DI], ==, 0);
            g_assert_cmpint(run_block(c), ==, -1);       /* the rest: a block */
            g_assert_true(c->halted);
            g_assert_cmpuint(c->gpr[R_DI], ==, 2);
        }
    }
}

/*
 * A popf that sets IF ends its block, so interrupts pending are taken right
 * after it instead of when a chain of generated code ends (up to 4096
 * instructions later); one that leaves IF as it was does not.
 */
static void test_popf_if(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    /* push 0x202; popfq; add rsi, 1; add rdi, 1; hlt */
    put_code(f, KCODE, BYTES(0x68, 0x02, 0x02, 0x00, 0x00, 0x9d, 0x48, 0x83, 0xc6, 0x01,
                             0x48, 0x83, 0xc7, 0x01, 0xf4));
    for (unsigned after = 0; after <= EMU_JIT_AFTER; after += EMU_JIT_AFTER) {
        for (unsigned run = 0; run < EMU_JIT_AFTER + 1; run++) {
            for (int was_on = 0; was_on < 2; was_on++) {
                c->jit_after = after;                    /* 0: generated code at once */
                c->rflags = was_on ? 0x202 : 2;
                c->gpr[R_SI] = c->gpr[R_DI] = 0;
                c->gpr[R_SP] = KSTACK;
                c->rip = KCODE;
                c->halted = false;
                g_assert_cmpint(run_block(c), ==, -1);
                g_assert_true(c->rflags & FL_IF);
                if (!was_on) {
                    g_assert_cmphex(c->rip, ==, KCODE + 6);   /* right after popf */
                    g_assert_cmpuint(c->gpr[R_SI], ==, 0);
                    g_assert_cmpint(run_block(c), ==, -1);
                }
                g_assert_true(c->halted);
                g_assert_cmpuint(c->gpr[R_SI] + c->gpr[R_DI], ==, 2);
                g_assert_cmphex(c->gpr[R_SP], ==, KSTACK);
            }
        }
    }
}

/* ==== 3. exceptions and interrupts through the IDT ==== */

/* The 64-bit frame at RSP: [error code,] RIP, CS, RFLAGS, RSP, SS. */
static void expect_frame(Fx *f, bool has_err, uint32_t err, uint64_t rip, uint16_t cs,
                         uint64_t rflags, uint64_t rsp, uint16_t ss)
{
    uint64_t sp = f->cpu->gpr[R_SP];

    if (has_err) {
        g_assert_cmphex(rd64(f, sp), ==, err);
        sp += 8;
    }
    g_assert_cmphex(rd64(f, sp), ==, rip);
    g_assert_cmphex(rd64(f, sp + 8), ==, cs);
    g_assert_cmphex(rd64(f, sp + 16), ==, rflags);
    g_assert_cmphex(rd64(f, sp + 24), ==, rsp);
    g_assert_cmphex(rd64(f, sp + 32), ==, ss);
}

/* In the CPL0 handler of `vec` after a transfer from CPL3 onto the stack at `top`. */
static void expect_kernel_entry(EmuCpu *c, unsigned vec, uint64_t top, unsigned frame_words)
{
    g_assert_cmphex(c->rip, ==, handler(vec));
    g_assert_cmphex(c->seg[S_CS].sel, ==, SEL_KCODE);
    g_assert_cmpint(c->cpl, ==, 0);
    g_assert_true(c->long64);
    g_assert_cmpint(c->mode, ==, MODE_64);
    g_assert_cmphex(c->seg[S_SS].sel, ==, 0);               /* null SS with RPL = new CPL */
    g_assert_cmphex(c->gpr[R_SP], ==, (top & ~15ull) - 8 * frame_words);
}

/*
 * #PF at CPL3 to a CPL0 interrupt gate: the stack is TSS.RSP0 aligned down
 * to 16, the frame is SS, RSP, RFLAGS, CS, RIP, error code; IF is cleared;
 * iretq (after the handler pops the error code) returns to CPL3 with
 * everything restored and the instruction re-executes.
 */
static void test_pf_user_to_kernel(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    uint64_t fl = 0x202 | FL_CF | FL_ZF | FL_DF | FL_OF;

    (void)data;
    put_code(f, handler(EXC_PF), BYTES(0x48, 0x83, 0xc4, 0x08, 0x48, 0xcf));  /* add rsp,8; iretq */
    to_user(f, UCODE, fl);
    expect_pf(c, do_access(f, NP_PAGE + 0x10, ACC_READ), NP_PAGE + 0x10, PF_U);
    deliver_clean(c);
    expect_kernel_entry(c, EXC_PF, RSP0, 6);
    expect_frame(f, true, PF_U, UCODE, SEL_UCODE64 | 3, fl, USP, SEL_UDATA | 3);
    g_assert_cmphex(c->rflags, ==, fl & ~(uint64_t)FL_IF);
    g_assert_cmphex(c->cr2, ==, NP_PAGE + 0x10);

    /* the "handler" maps the page; iretq back re-executes the load */
    set_pte(f, NP_PAGE, NP_PAGE | PG_P | PG_RW | PG_US);
    wr64(f, NP_PAGE + 0x10, 0xFEED);
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmpint(step(c), ==, -1);                         /* iretq */
    g_assert_cmphex(c->rip, ==, UCODE);
    g_assert_cmphex(c->seg[S_CS].sel, ==, SEL_UCODE64 | 3);
    g_assert_cmphex(c->seg[S_SS].sel, ==, SEL_UDATA | 3);
    g_assert_cmphex(c->gpr[R_SP], ==, USP);
    g_assert_cmphex(c->rflags, ==, fl);
    g_assert_cmpint(c->cpl, ==, 3);
    g_assert_true(c->long64);
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmphex(c->gpr[R_AX], ==, 0xFEED);
}

/*
 * A #PF on an instruction fetch is reported at the instruction that could
 * not be fetched: the frame's RIP is that address, not the previous
 * instruction's (which has completed and must not run again). The same
 * for the #UD of bytes that do not decode.
 */
static void test_pf_fetch_rip(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    for (int blocks = 0; blocks < 2; blocks++) {
        /* falling through from the last instruction of a page: inc rbx */
        c->rip = NP_PAGE - 3;
        c->gpr[R_BX] = 0;
        c->gpr[R_SP] = KSTACK;
        put_code(f, NP_PAGE - 3, BYTES(0x48, 0xff, 0xc3));
        g_assert_cmpint(blocks ? run_block(c) : step(c), ==, -1);
        expect_pf(c, blocks ? run_block(c) : step(c), NP_PAGE, PF_I);
        g_assert_cmphex(c->gpr[R_BX], ==, 1);
        deliver_clean(c);
        g_assert_cmphex(c->rip, ==, handler(EXC_PF));
        g_assert_cmphex(rd64(f, c->gpr[R_SP]), ==, PF_I);
        g_assert_cmphex(rd64(f, c->gpr[R_SP] + 8), ==, NP_PAGE);

        /* a jump into a not-present page from CPL3 */
        to_user(f, UCODE, 0x202);
        c->gpr[R_AX] = NP_PAGE + 0x40;
        put_code(f, UCODE, BYTES(0xff, 0xe0));                /* jmp rax */
        g_assert_cmpint(blocks ? run_block(c) : step(c), ==, -1);
        expect_pf(c, blocks ? run_block(c) : step(c), NP_PAGE + 0x40, PF_U | PF_I);
        deliver_clean(c);
        expect_kernel_entry(c, EXC_PF, RSP0, 6);
        expect_frame(f, true, PF_U | PF_I, NP_PAGE + 0x40, SEL_UCODE64 | 3, 0x202, USP,
                     SEL_UDATA | 3);
        load_seg(c, S_CS, SEL_KCODE);
        load_seg(c, S_SS, SEL_KDATA);
        emu_update_mode(c);

        /* the #UD of bytes that do not decode, after a nop: at those bytes */
        put_code(f, KCODE, BYTES(0x90, 0x0f, 0x04));
        c->rip = KCODE;
        c->gpr[R_SP] = KSTACK;
        g_assert_cmpint(step(c), ==, -1);
        g_assert_cmpint(blocks ? run_block(c) : step(c), ==, EXC_UD);
        deliver_clean(c);
        g_assert_cmphex(c->rip, ==, handler(EXC_UD));
        g_assert_cmphex(rd64(f, c->gpr[R_SP]), ==, KCODE + 1);
    }
}

/*
 * An instruction across the end of a page (mov rax, imm64 with its last 6
 * bytes on the next page) runs from both pages' current bytes, the host
 * rewriting the second part between runs; across into a not-present page
 * it raises #PF for that page at the instruction, which has not run.
 */
static void test_pf_fetch_cross(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    const uint64_t at = HANDLERS - 4;

    (void)data;
    for (int blocks = 0; blocks < 2; blocks++) {
        put_code(f, at, BYTES(0x48, 0xb8, LE64(0x1122334455667788ull), 0xf4));
        c->rip = at;
        c->gpr[R_SP] = KSTACK;
        g_assert_cmpint(run_to_hlt(c, blocks), ==, -1);
        g_assert_cmphex(c->gpr[R_AX], ==, 0x1122334455667788ull);
        put_code(f, HANDLERS, BYTES(0x99, 0xaa, 0xbb, 0xcc));    /* bytes 2..5 of the imm64 */
        c->rip = at;
        g_assert_cmpint(run_to_hlt(c, blocks), ==, -1);
        g_assert_cmphex(c->gpr[R_AX], ==, 0x1122ccbbaa997788ull);

        put_code(f, NP_PAGE - 4, BYTES(0x48, 0xb8, 0x88, 0x77));
        c->rip = NP_PAGE - 4;
        c->gpr[R_AX] = 5;
        expect_pf(c, blocks ? run_block(c) : step(c), NP_PAGE, PF_I);
        g_assert_cmphex(c->gpr[R_AX], ==, 5);
        deliver_clean(c);
        g_assert_cmphex(c->rip, ==, handler(EXC_PF));
        g_assert_cmphex(rd64(f, c->gpr[R_SP] + 8), ==, NP_PAGE - 4);
    }
}

/* IST gates switch stacks even without a privilege change; SS changes only with one. */
static void test_ist(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    set_gate(f, IDT_ADDR, EXC_PF, handler(EXC_PF), 0xE, 0, 2, true);

    /* CPL0 -> CPL0 on IST2: SS stays the kernel's, the frame has the old RSP */
    c->gpr[R_SP] = KSTACK + 8;
    c->rflags = 0x202;
    expect_pf(c, do_access(f, NP_PAGE, ACC_READ), NP_PAGE, 0);
    deliver_clean(c);
    g_assert_cmphex(c->rip, ==, handler(EXC_PF));
    g_assert_cmphex(c->gpr[R_SP], ==, (IST2 & ~15ull) - 48);
    g_assert_cmphex(c->seg[S_SS].sel, ==, SEL_KDATA);
    expect_frame(f, true, 0, KCODE, SEL_KCODE, 0x202, KSTACK + 8, SEL_KDATA);

    /* CPL3 -> CPL0 on IST2 (not RSP0) */
    to_user(f, UCODE, 0x202);
    expect_pf(c, do_access(f, NP_PAGE, ACC_WRITE), NP_PAGE, PF_U | PF_W);
    deliver_clean(c);
    expect_kernel_entry(c, EXC_PF, IST2, 6);
    expect_frame(f, true, PF_U | PF_W, UCODE, SEL_UCODE64 | 3, 0x202, USP, SEL_UDATA | 3);

    /* without IST and without a privilege change: the current stack, aligned to 16 */
    set_gate(f, IDT_ADDR, EXC_PF, handler(EXC_PF), 0xE, 0, 0, true);
    load_seg(c, S_CS, SEL_KCODE);
    load_seg(c, S_SS, SEL_KDATA);
    emu_update_mode(c);
    c->gpr[R_SP] = KSTACK + 8;
    c->rflags = 0x202;
    expect_pf(c, do_access(f, NP_PAGE, ACC_READ), NP_PAGE, 0);
    deliver_clean(c);
    g_assert_cmphex(c->gpr[R_SP], ==, KSTACK - 48);
    g_assert_cmphex(c->seg[S_SS].sel, ==, SEL_KDATA);
    expect_frame(f, true, 0, KCODE, SEL_KCODE, 0x202, KSTACK + 8, SEL_KDATA);
}

/*
 * int n from CPL3: through a DPL3 interrupt gate (IF cleared) and trap gate
 * (IF kept), with iretq back; through a DPL0 gate it is #GP(vector*8+2) at
 * the int instruction.
 */
static void test_int_gates(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    uint64_t fl = 0x202 | FL_SF | FL_AF;

    (void)data;
    for (unsigned vec = 0x80; vec <= 0x81; vec++) {
        put_code(f, handler(vec), BYTES(0x48, 0xcf));           /* iretq */
        put_code(f, UCODE, BYTES(0xcd, (uint8_t)vec, 0x90));     /* int vec; nop */
        to_user(f, UCODE, fl);
        c->gpr[R_BP] = 0;
        g_assert_cmpint(step(c), ==, -1);
        expect_kernel_entry(c, vec, RSP0, 5);
        expect_frame(f, false, 0, UCODE + 2, SEL_UCODE64 | 3, fl, USP, SEL_UDATA | 3);
        g_assert_cmphex(c->rflags, ==, vec == 0x80 ? fl & ~(uint64_t)FL_IF : fl);

        g_assert_cmpint(step(c), ==, -1);                      /* iretq */
        g_assert_cmphex(c->rip, ==, UCODE + 2);
        g_assert_cmphex(c->seg[S_CS].sel, ==, SEL_UCODE64 | 3);
        g_assert_cmphex(c->seg[S_SS].sel, ==, SEL_UDATA | 3);
        g_assert_cmphex(c->gpr[R_SP], ==, USP);
        g_assert_cmphex(c->rflags, ==, fl);
        g_assert_cmpint(c->cpl, ==, 3);
        g_assert_cmpint(c->mode, ==, MODE_64);
    }

    /* the same by blocks: int ends a block and the handler's block follows */
    to_user(f, UCODE, fl);
    g_assert_cmpint(run_block(c), ==, -1);
    g_assert_cmphex(c->rip, ==, handler(0x81));
    g_assert_cmpint(run_block(c), ==, -1);
    g_assert_cmphex(c->rip, ==, UCODE + 2);
    g_assert_cmpint(c->cpl, ==, 3);

    /* DPL0 gate from CPL3: #GP with the IDT error code (vector*8 + 2: IDT bit) */
    put_code(f, UCODE, BYTES(0xcd, 0x82));
    to_user(f, UCODE, fl);
    expect_gp(c, step(c), 0x82 * 8 + 2);
    g_assert_cmphex(c->rip, ==, UCODE);
    g_assert_cmpint(c->cpl, ==, 3);
    deliver_clean(c);
    expect_kernel_entry(c, EXC_GP, RSP0, 6);
    expect_frame(f, true, 0x82 * 8 + 2, UCODE, SEL_UCODE64 | 3, fl, USP, SEL_UDATA | 3);

    /* the DPL0 gate from CPL0 is fine */
    load_seg(c, S_CS, SEL_KCODE);
    load_seg(c, S_SS, SEL_KDATA);
    emu_update_mode(c);
    put_code(f, KCODE, BYTES(0xcd, 0x82));
    c->rip = KCODE;
    c->gpr[R_SP] = KSTACK;
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmphex(c->rip, ==, handler(0x82));
    g_assert_cmphex(c->gpr[R_SP], ==, KSTACK - 40);
}

/* An iretq frame on the kernel stack; RSP points at it. */
static void iret_frame(Fx *f, uint64_t rip, uint64_t cs, uint64_t rflags, uint64_t rsp,
                       uint64_t ss)
{
    uint64_t frame[5] = { rip, cs, rflags, rsp, ss };

    wr(f, KSTACK - sizeof(frame), frame, sizeof(frame));
    f->cpu->gpr[R_SP] = KSTACK - sizeof(frame);
}

/* The iretq faulted with #GP(err) and changed nothing (it is a fault). */
static void expect_iret_gp(Fx *f, uint32_t err)
{
    EmuCpu *c = f->cpu;

    c->rip = KCODE;
    c->rflags = 2;
    expect_gp(c, step(c), err);
    g_assert_cmphex(c->rip, ==, KCODE);
    g_assert_cmphex(c->gpr[R_SP], ==, KSTACK - 40);
    g_assert_cmphex(c->rflags, ==, 2);
    g_assert_cmphex(c->seg[S_CS].sel, ==, SEL_KCODE);
    g_assert_cmphex(c->seg[S_SS].sel, ==, SEL_KDATA);
    g_assert_cmpint(c->cpl, ==, 0);
    g_assert_true(c->long64);
    /* (independent cases even when one fails: back to CPL0) */
    load_seg(c, S_CS, SEL_KCODE);
    load_seg(c, S_SS, SEL_KDATA);
    emu_update_mode(c);
}

/*
 * iretq to CPL3 checks the frame before it changes anything: the return CS
 * must have DPL = its RPL, the SS RPL = DPL = the new CPL and be non-null.
 */
static void test_iret_checks(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    put_code(f, KCODE, BYTES(0x48, 0xcf));                  /* iretq */
    iret_frame(f, UCODE, SEL_UCODE64 | 3, 0x3202 | FL_CF, USP, SEL_UDATA | 3);
    c->rip = KCODE;
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmphex(c->rip, ==, UCODE);
    g_assert_cmphex(c->rflags, ==, 0x3202 | FL_CF);        /* IOPL and IF: CPL0 may */
    g_assert_cmpint(c->cpl, ==, 3);
    g_assert_cmphex(c->gpr[R_SP], ==, USP);
    g_assert_cmphex(c->seg[S_CS].sel, ==, SEL_UCODE64 | 3);
    g_assert_cmphex(c->seg[S_SS].sel, ==, SEL_UDATA | 3);

    load_seg(c, S_CS, SEL_KCODE);
    load_seg(c, S_SS, SEL_KDATA);
    emu_update_mode(c);
    /* SS is the kernel's data segment (DPL0) with RPL3 */
    iret_frame(f, UCODE, SEL_UCODE64 | 3, 0x202, USP, SEL_KDATA | 3);
    expect_iret_gp(f, SEL_KDATA);
    /* a null SS for CPL3 */
    iret_frame(f, UCODE, SEL_UCODE64 | 3, 0x202, USP, 0);
    expect_iret_gp(f, 0);
    /* CS with RPL3 but DPL0 (non-conforming) */
    iret_frame(f, UCODE, SEL_KCODE | 3, 0x202, USP, SEL_UDATA | 3);
    expect_iret_gp(f, SEL_KCODE);
}

/*
 * A fault while delivering a #PF becomes #DF (error code 0): the IDT entry
 * of #PF is in a not-present page (#PF on #PF), or the gate is not present
 * (#NP, contributory, on #PF); so does a contributory fault while
 * delivering a contributory one (#GP on #GP). A #PF while delivering a
 * contributory exception (#GP) is not a #DF: it is delivered as itself.
 */
static void test_double_fault(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    /* an IDT at 0x2F40: vector 8 at 0x2FC0 (mapped), vector 14 at 0x3020 (not) */
    uint64_t idt = 0x2F40;
    int nested[4];
    volatile unsigned n;

    (void)data;
    set_gate(f, idt, EXC_DF, handler(EXC_DF), 0xE, 0, 0, true);
    set_pte(f, 0x3000, 0);
    c->idtr = (EmuDtr){ idt, 0xFFF };
    emu_tlb_flush(c);

    to_user(f, UCODE, 0x202);
    expect_pf(c, do_access(f, NP_PAGE, ACC_READ), NP_PAGE, PF_U);
    g_assert_true(deliver(c, nested, &n));
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpint(nested[0], ==, EXC_PF);
    /* the IDT read is a supervisor access (U=0) to the gate's address */
    g_assert_cmphex(c->cr2, ==, idt + EXC_PF * 16);
    expect_kernel_entry(c, EXC_DF, RSP0, 6);
    /* (the saved CS:RIP of a #DF are undefined: only the rest is checked) */
    g_assert_cmphex(rd64(f, c->gpr[R_SP]), ==, 0);
    g_assert_cmphex(rd64(f, c->gpr[R_SP] + 24), ==, 0x202);
    g_assert_cmphex(rd64(f, c->gpr[R_SP] + 32), ==, USP);
    g_assert_cmphex(rd64(f, c->gpr[R_SP] + 40), ==, SEL_UDATA | 3);
    g_assert_cmphex(c->rflags & FL_IF, ==, 0);

    /* #PF's gate not present: #NP(14*8+2) during #PF -> #DF */
    c->idtr = (EmuDtr){ IDT_ADDR, 0xFFF };
    set_gate(f, IDT_ADDR, EXC_PF, handler(EXC_PF), 0xE, 0, 0, false);
    to_user(f, UCODE, 0x202);
    expect_pf(c, do_access(f, NP_PAGE, ACC_READ), NP_PAGE, PF_U);
    g_assert_true(deliver(c, nested, &n));
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpint(nested[0], ==, EXC_NP);
    expect_kernel_entry(c, EXC_DF, RSP0, 6);
    g_assert_cmphex(rd64(f, c->gpr[R_SP]), ==, 0);

    /* #GP's gate of an invalid type: #GP(13*8+2) during #GP -> #DF */
    set_gate(f, IDT_ADDR, EXC_PF, handler(EXC_PF), 0xE, 0, 0, true);
    set_gate(f, IDT_ADDR, EXC_GP, handler(EXC_GP), 0x0, 0, 0, true);
    put_code(f, UCODE, BYTES(0xcd, 0x82));                  /* int 0x82: DPL0 -> #GP */
    to_user(f, UCODE, 0x202);
    expect_gp(c, step(c), 0x82 * 8 + 2);
    g_assert_true(deliver(c, nested, &n));
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpint(nested[0], ==, EXC_GP);
    expect_kernel_entry(c, EXC_DF, RSP0, 6);
    g_assert_cmphex(rd64(f, c->gpr[R_SP]), ==, 0);
    set_gate(f, IDT_ADDR, EXC_GP, handler(EXC_GP), 0xE, 0, 0, true);

    /* #GP whose IDT entry is in a not-present page: the #PF is delivered,
     * not a #DF (contributory then page fault: serially). IDT at 0x2F20:
     * vector 13 at 0x2FF0 (page 0x2000, not present), 14 at 0x3000. */
    set_pte(f, 0x3000, 0x3000 | PG_P | PG_RW);
    set_pte(f, 0x2000, 0);
    idt = 0x2F20;
    set_gate(f, idt, EXC_PF, handler(EXC_PF), 0xE, 0, 0, true);
    c->idtr = (EmuDtr){ idt, 0xFFF };
    emu_tlb_flush(c);
    put_code(f, UCODE, BYTES(0xcd, 0x82));
    set_gate(f, idt, 0x82, handler(0x82), 0xE, 0, 0, true);  /* at 0x3740: DPL0 -> #GP */
    to_user(f, UCODE, 0x202);
    expect_gp(c, step(c), 0x82 * 8 + 2);
    g_assert_true(deliver(c, nested, &n));
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpint(nested[0], ==, EXC_PF);
    g_assert_cmphex(c->cr2, ==, idt + EXC_GP * 16);
    expect_kernel_entry(c, EXC_PF, RSP0, 6);
    expect_frame(f, true, 0, UCODE, SEL_UCODE64 | 3, 0x202, USP, SEL_UDATA | 3);
}

/* A fault while delivering #DF is a triple fault: emu_deliver_pending_exception returns false. */
static void test_triple_fault(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    int nested[4];
    volatile unsigned n;

    (void)data;
    /* the whole IDT not present: #PF -> #PF (IDT) = #DF -> #PF (IDT) */
    set_pte(f, IDT_ADDR, 0);
    emu_tlb_flush(c);
    expect_pf(c, do_access(f, NP_PAGE, ACC_READ), NP_PAGE, 0);
    g_assert_false(deliver(c, nested, &n));
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpint(nested[0], ==, EXC_PF);
    g_assert_cmpint(nested[1], ==, EXC_PF);
    g_assert_cmphex(c->cr2, ==, IDT_ADDR + EXC_DF * 16);
}

/*
 * From CPL3 with TSS.RSP0 on a not-present page: pushing the #PF frame
 * faults (#DF), and the #DF through a non-IST gate needs the same stack:
 * triple fault. With an IST for #DF, the #DF is delivered there, as any
 * CPL3 -> CPL0 transfer (null SS, the user CS/SS in the frame).
 */
static void test_fault_on_kernel_stack(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    int nested[4];
    volatile unsigned n;

    (void)data;
    wr64(f, TSS_ADDR + 4, NP_PAGE + 0x1000);
    to_user(f, UCODE, 0x202);
    expect_pf(c, do_access(f, SUP_PAGE, ACC_READ), SUP_PAGE, PF_P | PF_U);
    g_assert_false(deliver(c, nested, &n));
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpint(nested[0], ==, EXC_PF);
    g_assert_cmpint(nested[1], ==, EXC_PF);
    g_assert_cmphex(c->cr2, ==, NP_PAGE + 0x1000 - 8);
    g_assert_cmphex(rd64(f, (USP & ~15ull) - 8), ==, 0);    /* nothing on the user stack */
}

static void test_fault_on_kernel_stack_ist(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    int nested[4];
    volatile unsigned n;

    (void)data;
    wr64(f, TSS_ADDR + 4, NP_PAGE + 0x1000);
    set_gate(f, IDT_ADDR, EXC_DF, handler(EXC_DF), 0xE, 0, 1, true);
    to_user(f, UCODE, 0x202);
    expect_pf(c, do_access(f, SUP_PAGE, ACC_READ), SUP_PAGE, PF_P | PF_U);
    g_assert_true(deliver(c, nested, &n));
    g_assert_cmpuint(n, ==, 1);
    expect_kernel_entry(c, EXC_DF, IST1, 6);
    g_assert_cmphex(rd64(f, c->gpr[R_SP]), ==, 0);
    g_assert_cmphex(rd64(f, c->gpr[R_SP] + 16), ==, SEL_UCODE64 | 3);
    g_assert_cmphex(rd64(f, c->gpr[R_SP] + 32), ==, USP);
    g_assert_cmphex(rd64(f, c->gpr[R_SP] + 40), ==, SEL_UDATA | 3);
}

/* ==== 4. mode switches: an AP trampoline ==== */

/*
 * Started by a SIPI with vector 8 (CS = 0x0800, base 0x8000, IP = 0), the
 * trampoline goes real -> 32-bit protected -> long mode like the test
 * guest's and Linux's (trampoline GDT at 0x9000: 0x08 code32, 0x10 data,
 * 0x18 code64). Each step's expected mode after it.
 */
static const uint8_t tramp[] = {
    /* 16-bit, at 0x8000 */
    0xfa,                                       /* 00 cli */
    0x2e, 0x0f, 0x01, 0x16, 0x68, 0x00,         /* 01 lgdt cs:[0x68] */
    0x0f, 0x20, 0xc0,                           /* 07 mov eax,cr0 */
    0x0c, 0x01,                                 /* 0a or al,1 */
    0x0f, 0x22, 0xc0,                           /* 0c mov cr0,eax */
    0x66, 0xea, LE32(0x8017), 0x08, 0x00,       /* 0f jmp far 0x08:0x8017 */
    /* 32-bit */
    0x66, 0xb8, 0x10, 0x00,                     /* 17 mov ax,0x10 */
    0x8e, 0xd8,                                 /* 1b mov ds,ax */
    0x8e, 0xc0,                                 /* 1d mov es,ax */
    0x8e, 0xd0,                                 /* 1f mov ss,ax */
    0xbc, LE32(0x7000),                         /* 21 mov esp,0x7000 */
    0x0f, 0x20, 0xe0,                           /* 26 mov eax,cr4 */
    0x83, 0xc8, 0x20,                           /* 29 or eax,0x20 (PAE) */
    0x0f, 0x22, 0xe0,                           /* 2c mov cr4,eax */
    0xb8, LE32(PML4_ADDR),                      /* 2f mov eax,PML4 */
    0x0f, 0x22, 0xd8,                           /* 34 mov cr3,eax */
    0xb9, LE32(0xC0000080),                     /* 37 mov ecx,EFER */
    0x0f, 0x32,                                 /* 3c rdmsr */
    0x0d, LE32(0x100),                          /* 3e or eax,0x100 (LME) */
    0x0f, 0x30,                                 /* 43 wrmsr */
    0x0f, 0x20, 0xc0,                           /* 45 mov eax,cr0 */
    0x0d, LE32(0x80000000),                     /* 48 or eax,0x80000000 (PG) */
    0x0f, 0x22, 0xc0,                           /* 4d mov cr0,eax */
    0xea, LE32(0x8057), 0x18, 0x00,             /* 50 jmp far 0x18:0x8057 */
    /* 64-bit */
    0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  /* 57 mov rax,imm64 */
    0x50,                                       /* 61 push rax */
    0xf4,                                       /* 62 hlt */
    0x0f, 0x1f, 0x44, 0x00, 0x00,               /* 63 (padding) */
    0x1f, 0x00, LE32(TRAMP_GDT),                /* 68 GDT pointer: limit 0x1f, base */
};

typedef struct TrampStep {
    uint16_t ip;           /* the instruction's offset (checks the decoding) */
    uint8_t mode;
    bool long64, pe, pg, lme, lma;
} TrampStep;

static const TrampStep tramp_steps[] = {
    { 0x00, MODE_16, false, false, false, false, false },   /* cli */
    { 0x01, MODE_16, false, false, false, false, false },   /* lgdt */
    { 0x07, MODE_16, false, false, false, false, false },
    { 0x0a, MODE_16, false, false, false, false, false },
    { 0x0c, MODE_16, false, true, false, false, false },    /* PE: CS still 16-bit */
    { 0x0f, MODE_32, false, true, false, false, false },    /* far jmp: 32-bit CS */
    { 0x17, MODE_32, false, true, false, false, false },
    { 0x1b, MODE_32, false, true, false, false, false },
    { 0x1d, MODE_32, false, true, false, false, false },
    { 0x1f, MODE_32, false, true, false, false, false },    /* mov ss */
    { 0x21, MODE_32, false, true, false, false, false },
    { 0x26, MODE_32, false, true, false, false, false },
    { 0x29, MODE_32, false, true, false, false, false },
    { 0x2c, MODE_32, false, true, false, false, false },    /* cr4.PAE */
    { 0x2f, MODE_32, false, true, false, false, false },
    { 0x34, MODE_32, false, true, false, false, false },    /* cr3 */
    { 0x37, MODE_32, false, true, false, false, false },
    { 0x3c, MODE_32, false, true, false, false, false },
    { 0x3e, MODE_32, false, true, false, false, false },
    { 0x43, MODE_32, false, true, false, true, false },     /* wrmsr EFER.LME */
    { 0x45, MODE_32, false, true, false, true, false },
    { 0x48, MODE_32, false, true, false, true, false },
    { 0x4d, MODE_32, false, true, true, true, true },       /* PG: LMA, compatibility mode */
    { 0x50, MODE_64, true, true, true, true, true },        /* far jmp: 64-bit CS */
    { 0x57, MODE_64, true, true, true, true, true },        /* mov rax,imm64 */
    { 0x61, MODE_64, true, true, true, true, true },        /* push rax */
    { 0x62, MODE_64, true, true, true, true, true },        /* hlt */
};

static void ap_reset(Fx *f)
{
    static const uint64_t tgdt[4] = {
        0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull, 0x00af9a000000ffffull,
    };
    EmuCpu *c = f->cpu;

    wr(f, TRAMP_ADDR, tramp, sizeof(tramp));
    wr(f, TRAMP_GDT, tgdt, sizeof(tgdt));
    emu_reset_init(c);
    emu_sipi(c, TRAMP_ADDR >> 12);
    g_assert_cmphex(c->seg[S_CS].sel, ==, 0x0800);
    g_assert_cmphex(c->seg[S_CS].base, ==, TRAMP_ADDR);
    g_assert_cmphex(c->rip, ==, 0);
    g_assert_cmpint(c->mode, ==, MODE_16);
    g_assert_false(c->long64);
    g_assert_cmpint(c->cpl, ==, 0);
}

static void check_tramp_end(Fx *f)
{
    EmuCpu *c = f->cpu;

    g_assert_true(c->halted);
    g_assert_cmphex(c->rip, ==, 0x8063);
    g_assert_cmphex(c->gpr[R_AX], ==, 0x1122334455667788ull);
    g_assert_cmphex(c->gpr[R_SP], ==, 0x7000 - 8);
    g_assert_cmphex(rd64(f, 0x7000 - 8), ==, 0x1122334455667788ull);
    g_assert_cmphex(c->seg[S_CS].sel, ==, 0x18);
    g_assert_cmphex(c->seg[S_SS].sel, ==, 0x10);
    g_assert_cmphex(c->seg[S_DS].sel, ==, 0x10);
    g_assert_cmphex(c->gdtr.base, ==, TRAMP_GDT);
    g_assert_cmphex(c->gdtr.limit, ==, 0x1f);
    g_assert_cmphex(c->cr3, ==, PML4_ADDR);
    g_assert_cmphex(c->efer, ==, EFER_LME | EFER_LMA);
    g_assert_cmpint(c->mode, ==, MODE_64);
    g_assert_true(c->long64);
    g_assert_cmpint(c->cpl, ==, 0);
}

static void test_ap_trampoline(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    ap_reset(f);
    for (unsigned i = 0; i < G_N_ELEMENTS(tramp_steps); i++) {
        const TrampStep *s = &tramp_steps[i];
        uint64_t ip = c->seg[S_CS].base + c->rip - TRAMP_ADDR;

        g_test_message("step at 0x%02x", s->ip);
        g_assert_cmphex(ip, ==, s->ip);
        g_assert_cmpint(step(c), ==, -1);
        g_assert_cmpint(c->mode, ==, s->mode);
        g_assert_cmpint(c->long64, ==, s->long64);
        g_assert_cmpint(c->cpl, ==, 0);
        g_assert_cmpint(!!(c->cr0 & CR0_PE), ==, s->pe);
        g_assert_cmpint(!!(c->cr0 & CR0_PG), ==, s->pg);
        g_assert_cmpint(!!(c->efer & EFER_LME), ==, s->lme);
        g_assert_cmpint(!!(c->efer & EFER_LMA), ==, s->lma);
        if (s->ip == 0x1f) {
            g_assert_cmpint(c->stack32, ==, 1);               /* SS is 32-bit now */
        }
    }
    check_tramp_end(f);

    /* again by blocks, twice (the second time from the block cache): each
     * mode change must end its block, and blocks are per decoding mode */
    for (int i = 0; i < 2; i++) {
        ap_reset(f);
        g_assert_cmpint(run_to_hlt(c, true), ==, -1);
        check_tramp_end(f);
    }
}

/* ==== 5. syscall / sysret ==== */

static void test_syscall(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    /* (not TF: the single-step trap is not implemented and would follow syscall) */
    uint64_t fl = 0x202 | FL_CF | FL_DF | FL_AC;
    uint64_t mask = FL_IF | FL_DF | FL_TF | FL_AC;

    (void)data;
    NO_FAULT(c, emu_wrmsr(c, 0xC0000081, (uint64_t)SEL_UCODE32 << 48 | (uint64_t)SEL_KCODE << 32));
    NO_FAULT(c, emu_wrmsr(c, 0xC0000082, KCODE + 0x800));
    NO_FAULT(c, emu_wrmsr(c, 0xC0000084, mask));
    put_code(f, UCODE, BYTES(0x0f, 0x05, 0x90, 0x0f, 0x05));     /* syscall; nop; syscall */
    put_code(f, KCODE + 0x800, BYTES(0x48, 0x0f, 0x07));        /* sysretq */

    to_user(f, UCODE, fl);
    c->gpr[R_CX] = 0x1111;
    c->gpr[11] = 0x2222;
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmphex(c->rip, ==, KCODE + 0x800);
    g_assert_cmphex(c->gpr[R_CX], ==, UCODE + 2);
    g_assert_cmphex(c->gpr[11], ==, fl);
    g_assert_cmphex(c->rflags, ==, fl & ~mask);
    g_assert_cmphex(c->seg[S_CS].sel, ==, SEL_KCODE);
    g_assert_cmphex(c->seg[S_SS].sel, ==, SEL_KDATA);
    g_assert_cmpint(c->cpl, ==, 0);
    g_assert_true(c->long64);
    g_assert_cmphex(c->gpr[R_SP], ==, USP);                  /* syscall keeps RSP */

    /* sysretq: CS = STAR[63:48]+16 | 3, SS = STAR[63:48]+8 | 3, RFLAGS from R11 */
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmphex(c->rip, ==, UCODE + 2);
    g_assert_cmphex(c->seg[S_CS].sel, ==, SEL_UCODE64 | 3);
    g_assert_cmphex(c->seg[S_SS].sel, ==, SEL_UDATA | 3);
    g_assert_cmphex(c->rflags, ==, fl);
    g_assert_cmpint(c->cpl, ==, 3);
    g_assert_true(c->long64);
    g_assert_cmpint(c->mode, ==, MODE_64);

    /* sysret at CPL3 is #GP(0) */
    put_code(f, UCODE + 0x100, BYTES(0x48, 0x0f, 0x07));
    c->rip = UCODE + 0x100;
    expect_gp(c, step(c), 0);

    /* sysretl returns to compatibility mode: CS = STAR[63:48] | 3, RIP = ECX */
    put_code(f, KCODE + 0x800, BYTES(0x0f, 0x07));             /* sysretl */
    c->rip = UCODE + 3;
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmphex(c->gpr[R_CX], ==, UCODE + 5);
    c->gpr[R_CX] = 0xFFFFFFFF00000000ull | (UCODE + 0x40);
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmphex(c->rip, ==, UCODE + 0x40);
    g_assert_cmphex(c->seg[S_CS].sel, ==, SEL_UCODE32 | 3);
    g_assert_cmphex(c->seg[S_SS].sel, ==, SEL_UDATA | 3);
    g_assert_cmpint(c->cpl, ==, 3);
    g_assert_false(c->long64);
    g_assert_cmpint(c->mode, ==, MODE_32);

    /* EFER.SCE clear: syscall is #UD */
    to_user(f, UCODE, 0x202);
    c->efer &= ~EFER_SCE;
    g_assert_cmpint(step(c), ==, EXC_UD);
    g_assert_cmphex(c->rip, ==, UCODE);
}

/* sysret loads RFLAGS from R11 with the reserved bits fixed: (R11 & 0x3C7FD7) | 2. */
static void test_sysret_rflags(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    NO_FAULT(c, emu_wrmsr(c, 0xC0000081, (uint64_t)SEL_UCODE32 << 48 | (uint64_t)SEL_KCODE << 32));
    put_code(f, KCODE, BYTES(0x48, 0x0f, 0x07));               /* sysretq */
    c->gpr[R_CX] = UCODE;
    c->gpr[11] = 0x202 | (1u << 3) | (1u << 5) | (1u << 15) | FL_RF | FL_VM | (1u << 22) |
                 (1ull << 40);
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmphex(c->rflags, ==, 0x202);
}

/* ==== 6. I/O permission ==== */

static void set_io_bits(Fx *f, uint16_t port, unsigned n, bool deny)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t a = TSS_ADDR + TSS_IOMAP + (port + i) / 8;
        uint8_t b = rd8(f, a), bit = (uint8_t)(1u << ((port + i) & 7));

        b = deny ? b | bit : b & ~bit;
        wr(f, a, &b, 1);
    }
}

/* Runs one in/out at CPL3; the vector raised or -1. */
static int user_io(Fx *f, const uint8_t *code, size_t len, uint16_t port, uint64_t rflags)
{
    EmuCpu *c = f->cpu;

    put_code(f, UCODE, code, len);
    to_user(f, UCODE, rflags);
    c->gpr[R_DX] = port;
    c->gpr[R_AX] = 0x12345678;
    c->gpr[R_SI] = USP;
    c->gpr[R_DI] = USP;
    return step(c);
}

#define IN_AL_DX   BYTES(0xec)
#define IN_AX_DX   BYTES(0x66, 0xed)
#define IN_EAX_DX  BYTES(0xed)
#define OUT_DX_AL  BYTES(0xee)
#define IN_AL_IMM(p) BYTES(0xe4, (p))
#define OUTSB      BYTES(0x6e)
#define INSB       BYTES(0x6c)

/*
 * CPL3 with IOPL=0: the TSS I/O bitmap decides, bit by bit for multi-byte
 * accesses; a denied access is #GP(0) before any I/O. IOPL=3 allows all.
 */
static void test_io_permission(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    set_io_bits(f, IO_PORT_OK, 2, false);

    g_assert_cmpint(user_io(f, IN_AL_DX, IO_PORT_OK, 0x202), ==, -1);
    g_assert_cmphex(c->gpr[R_AX], ==, 0x123456A5);
    g_assert_cmpint(user_io(f, IN_AX_DX, IO_PORT_OK, 0x202), ==, -1);
    g_assert_cmphex(c->gpr[R_AX], ==, 0x1234A5A5);
    g_assert_cmpint(user_io(f, OUT_DX_AL, IO_PORT_OK + 1, 0x202), ==, -1);
    g_assert_cmpuint(f->io_writes, ==, 1);
    g_assert_cmphex(f->io_last_write, ==, 1ull << 32 | 0x78);
    g_assert_cmpint(user_io(f, OUTSB, IO_PORT_OK, 0x202), ==, -1);
    g_assert_cmpuint(f->io_writes, ==, 2);

    /* denied: the port, a dword reaching a denied port, the imm8 form, string forms */
    expect_gp(c, user_io(f, IN_AL_DX, IO_PORT_DENIED, 0x202), 0);
    g_assert_cmphex(c->gpr[R_AX], ==, 0x12345678);
    g_assert_cmphex(c->rip, ==, UCODE);
    expect_gp(c, user_io(f, IN_EAX_DX, IO_PORT_OK, 0x202), 0);
    expect_gp(c, user_io(f, IN_AX_DX, IO_PORT_OK - 1, 0x202), 0);
    expect_gp(c, user_io(f, IN_AL_IMM(0x80), 0, 0x202), 0);
    expect_gp(c, user_io(f, OUT_DX_AL, IO_PORT_DENIED, 0x202), 0);
    expect_gp(c, user_io(f, OUTSB, IO_PORT_DENIED, 0x202), 0);
    expect_gp(c, user_io(f, INSB, IO_PORT_DENIED, 0x202), 0);
    g_assert_cmphex(c->gpr[R_DI], ==, USP);
    g_assert_cmpuint(f->io_writes, ==, 2);

    /* IOPL=3: everything is allowed (nothing behind the port reads all ones) */
    g_assert_cmpint(user_io(f, IN_AL_DX, IO_PORT_DENIED, 0x3202), ==, -1);
    g_assert_cmphex(c->gpr[R_AX], ==, 0x123456FF);

    /* CPL0 with IOPL=0 is allowed too */
    load_seg(c, S_CS, SEL_KCODE);
    load_seg(c, S_SS, SEL_KDATA);
    emu_update_mode(c);
    put_code(f, KCODE, IN_AL_DX);
    c->rip = KCODE;
    c->gpr[R_DX] = IO_PORT_DENIED;
    g_assert_cmpint(step(c), ==, -1);

    /* the two bitmap bytes read for a port must both be inside the TSS limit */
    c->tr.limit = TSS_IOMAP + IO_PORT_OK / 8;
    expect_gp(c, user_io(f, IN_AL_DX, IO_PORT_OK, 0x202), 0);
    c->tr.limit = TSS_IOMAP + IO_PORT_OK / 8 + 1;
    g_assert_cmpint(user_io(f, IN_AL_DX, IO_PORT_OK, 0x202), ==, -1);
    /* a TSS without a bitmap (base beyond the limit) denies all */
    c->tr.limit = 0x67;
    expect_gp(c, user_io(f, IN_AL_DX, IO_PORT_OK, 0x202), 0);
}

/* ==== 6. verr/verw, tzcnt/lzcnt without BMI1/LZCNT, MSRs and CPUID ==== */

/* verr ax (0f 00 e0) or verw ax (0f 00 e8) with sel in AX at rip; ZF afterwards. */
static bool verify(Fx *f, uint64_t rip, uint16_t sel, bool write)
{
    EmuCpu *c = f->cpu;

    put_code(f, rip, BYTES(0x0f, 0x00, write ? 0xe8 : 0xe0));
    c->rip = rip;
    c->gpr[R_AX] = sel;
    c->rflags = 0x2 | (write ? 0 : FL_ZF);   /* ZF the opposite of no change */
    g_assert_cmpint(step(c), ==, -1);
    return c->rflags & FL_ZF;
}

static void test_verr_verw(Fx *f, gconstpointer data)
{
    (void)data;
    g_assert_true(verify(f, KCODE, SEL_KDATA, true));
    g_assert_true(verify(f, KCODE, SEL_KDATA, false));
    g_assert_true(verify(f, KCODE, SEL_KCODE, false));        /* readable code */
    g_assert_false(verify(f, KCODE, SEL_KCODE, true));        /* code is never writable */
    g_assert_true(verify(f, KCODE, SEL_UDATA | 3, true));     /* DPL 3 >= CPL 0 and RPL 3 */
    g_assert_false(verify(f, KCODE, 0, true));                /* null */
    g_assert_false(verify(f, KCODE, SEL_TSS, false));         /* system descriptor */
    g_assert_false(verify(f, KCODE, 0x80, true));             /* beyond the GDT: no fault */
    to_user(f, UCODE, 0x202);
    g_assert_false(verify(f, UCODE, SEL_KDATA, true));        /* DPL 0 < CPL 3 */
    g_assert_true(verify(f, UCODE, SEL_UDATA | 3, true));
}

static void test_tzcnt_as_bsf(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;

    (void)data;
    /* tzcnt rax, rcx = rep bsf: no CF, source 0 leaves the destination */
    put_code(f, KCODE, BYTES(0xf3, 0x48, 0x0f, 0xbc, 0xc1));
    c->rip = KCODE;
    c->gpr[R_CX] = 0x50;
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmphex(c->gpr[R_AX], ==, 4);
    g_assert_false(c->rflags & (FL_ZF | FL_CF));
    c->rip = KCODE;
    c->gpr[R_CX] = 0;
    c->gpr[R_AX] = 0x1234;
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmphex(c->gpr[R_AX], ==, 0x1234);
    g_assert_true(c->rflags & FL_ZF);
    /* lzcnt eax, ecx = rep bsr: the index of the highest set bit */
    put_code(f, KCODE, BYTES(0xf3, 0x0f, 0xbd, 0xc1));
    c->rip = KCODE;
    c->gpr[R_CX] = 0x50;
    g_assert_cmpint(step(c), ==, -1);
    g_assert_cmphex(c->gpr[R_AX], ==, 6);
}

static int wrmsr_catch(EmuCpu *c, uint32_t idx, uint64_t v)
{
    c->exc_vector = -1;
    if (setjmp(c->jmp) == 0) {
        emu_wrmsr(c, idx, v);
        return -1;
    }
    return c->exc_vector;
}

static void test_msrs_cpuid(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    uint64_t v = 0;
    uint32_t r[4];

    (void)data;
    /* MTRRs: no ranges; after reset the default type is write-back and enabled (as
     * firmware leaves it: a -kernel boot has none), and it is writable */
    emu_reset_init(c);
    NO_FAULT(c, v = emu_rdmsr(c, 0xFE));
    g_assert_cmphex(v, ==, 0);
    NO_FAULT(c, v = emu_rdmsr(c, 0x2FF));
    g_assert_cmphex(v, ==, 0x806);
    NO_FAULT(c, emu_wrmsr(c, 0x2FF, 0x800));
    NO_FAULT(c, v = emu_rdmsr(c, 0x2FF));
    g_assert_cmphex(v, ==, 0x800);
    g_assert_cmpint(wrmsr_catch(c, 0x2FF, 0x1806), ==, EXC_GP);
    /* IA32_ARCH_CAPABILITIES: RDCL_NO and MDS_NO among others; the microcode revision */
    NO_FAULT(c, v = emu_rdmsr(c, 0x10A));
    g_assert_cmphex(v & 0x21, ==, 0x21);
    NO_FAULT(c, emu_wrmsr(c, 0x8B, 0));
    NO_FAULT(c, v = emu_rdmsr(c, 0x8B));
    g_assert_cmphex(v >> 32, !=, 0);
    /* IA32_MISC_ENABLE: fast strings on after reset (Linux keeps REP_GOOD and ERMS) */
    NO_FAULT(c, v = emu_rdmsr(c, 0x1A0));
    g_assert_cmphex(v, ==, 1);
    /* IA32_PLATFORM_ID reads 0, as on KVM (OVMF's CpuMpPei reads it on Intel CPUs) */
    v = 1;
    NO_FAULT(c, v = emu_rdmsr(c, 0x17));
    g_assert_cmphex(v, ==, 0);
    /* IA32_TSC_ADJUST: writing it moves the TSC by the difference; writing the TSC
     * moves it by the TSC's change (so it reads back what it was plus that change) */
    {
        uint64_t t0, t1, a0;

        NO_FAULT(c, a0 = emu_rdmsr(c, 0x3B));
        NO_FAULT(c, t0 = emu_rdmsr(c, 0x10));
        NO_FAULT(c, emu_wrmsr(c, 0x3B, a0 + (1ull << 40)));
        NO_FAULT(c, t1 = emu_rdmsr(c, 0x10));
        g_assert_cmpuint(t1 - t0, >=, 1ull << 40);
        g_assert_cmpuint(t1 - t0, <, (1ull << 40) + (10ull << 30));   /* + < 10 s elapsed */
        NO_FAULT(c, emu_wrmsr(c, 0x10, t1 - (1ull << 40)));
        NO_FAULT(c, v = emu_rdmsr(c, 0x3B));
        g_assert_cmpint((int64_t)(v - a0), <=, 0);
        g_assert_cmpint((int64_t)(v - a0), >, -(int64_t)(10ull << 30));
    }
    /* CPUID: FPU MMX FXSR SSE SSE2 and POPCNT CX16; no SSE3+, XSAVE, AVX, SMEP/SMAP */
    emu_cpuid(c, 1, 0, r);
    g_assert_cmphex(r[3] & 0x07800001u, ==, 0x07800001u);
    g_assert_cmphex(r[2] & ((1u << 23) | (1u << 13)), ==, (1u << 23) | (1u << 13));
    g_assert_cmphex(r[2] & ((1u << 0) | (1u << 9) | (1u << 19) | (1u << 20) | (1u << 26) |
                            (1u << 27) | (1u << 28)), ==, 0);
    emu_cpuid(c, 7, 0, r);
    g_assert_cmphex(r[1], ==, (1u << 1) | (1u << 9));   /* TSC_ADJUST, ERMS; no BMI, SMEP, AVX2 */
    g_assert_cmphex(r[2], ==, 0);                             /* no UMIP */
    g_assert_cmphex(r[3], ==, 1u << 29);                      /* ARCH_CAPABILITIES */
    /* The 1 GHz TSC as Linux's native_calibrate_tsc reads it: max basic leaf >= 0x16,
     * leaf 0x15 crystal 1 GHz (also the LAPIC timer clock) x 1/1, leaf 0x16 1000 MHz */
    emu_cpuid(c, 0, 0, r);
    g_assert_cmphex(r[0], >=, 0x16);
    emu_cpuid(c, 0x15, 0, r);
    g_assert_cmpuint(r[0], ==, 1);
    g_assert_cmpuint(r[1], ==, 1);
    g_assert_cmpuint(r[2], ==, 1000000000u);
    g_assert_cmpuint((uint64_t)r[2] / 1000 * r[1] / r[0], ==, 1000000);
    emu_cpuid(c, 0x16, 0, r);
    g_assert_cmpuint(r[0], ==, 1000);
    g_assert_cmpuint(r[1], ==, 1000);
    g_assert_cmpuint(r[2], ==, 1000);
    /* the KVM/VMware-style leaf agrees */
    emu_cpuid(c, 0x40000010, 0, r);
    g_assert_cmpuint(r[0], ==, 1000000);
    g_assert_cmpuint(r[1], ==, 1000000);
    /* invariant TSC (it counts CLOCK_MONOTONIC), reachable from the max extended leaf */
    emu_cpuid(c, 0x80000000, 0, r);
    g_assert_cmphex(r[0], >=, 0x80000007);
    emu_cpuid(c, 0x80000007, 0, r);
    g_assert_cmphex(r[3], ==, 1u << 8);
    /* 40 physical address bits (QEMU TCG's; q35's 64-bit window ends at 2^40), 48 linear */
    emu_cpuid(c, 0x80000008, 0, r);
    g_assert_cmphex(r[0] & 0xffff, ==, 0x3028);
}

/*
 * Code generations (memory.h guest_ram_code_*): generated code checks on
 * entry only that its page's generation word still holds the armed value it
 * was translated (or last checked) with, so every writer must bump the word
 * of an armed page. CG_X is a compiled block (mov eax, imm32; hlt); each
 * test changes its immediate through one kind of writer and runs it again:
 * the new value must show (the block checked, found changed and decoded
 * again). Each fails when its writer's bump is left out.
 */
#define CG_X  (SUP_PAGE + 3)         /* its immediate at +1: 4-byte aligned */
#define CG_Y  KCODE                  /* the storing code, another page */

static void cg_run(EmuCpu *c, uint64_t rip, unsigned times)
{
    for (unsigned i = 0; i < times; i++) {
        c->rip = rip;
        g_assert_cmpint(run_to_hlt(c, true), ==, -1);
    }
}

/* CG_X with immediate imm, compiled the way a boot compiles it (EMU_JIT_AFTER runs). */
static void cg_compile_x(Fx *f, uint32_t imm)
{
    EmuCpu *c = f->cpu;

    c->jit_after = EMU_JIT_AFTER;
    put_code(f, CG_X, BYTES(0xb8, LE32(imm), 0xf4));
    cg_run(c, CG_X, EMU_JIT_AFTER + 1);
    g_assert_cmphex(c->gpr[R_AX], ==, imm);
#if defined(__x86_64__)
    g_assert_nonnull(emu_block_lookup(c, CG_X, MODE_64)->jit);
#endif
}

static uint32_t *cg_word(Fx *f, uint64_t gpa)
{
    return guest_ram_code_gen(&f->ram, guest_ram_ptr(&f->ram, gpa, 1));
}

/* Runs CG_X; its eax must be want, and the block compiled again by the end. */
static void cg_expect_x(Fx *f, uint32_t want)
{
    cg_run(f->cpu, CG_X, EMU_JIT_AFTER + 1);
    g_assert_cmphex(f->cpu->gpr[R_AX], ==, want);
}

/*
 * (1) The generated code's inline store path (mov byte [CG_X+1], cl,
 * compiled, its TLB entry warm): into an armed page it takes the handler,
 * which bumps. Stores of the byte that is there already first: the block
 * is checked again and keeps its code.
 */
static void test_codegen_jit_store(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu;
    uint64_t failed;

    (void)data;
    cg_compile_x(f, 1);
    put_code(f, CG_Y, BYTES(0x88, 0x0c, 0x25, LE32(CG_X + 1), 0xf4));
    c->gpr[R_CX] = 1;
    cg_run(c, CG_Y, EMU_JIT_AFTER + 1);       /* compiled; the same byte stored */
    failed = c->jit_rechecks_failed;
    cg_expect_x(f, 1);
#if defined(__x86_64__)
    g_assert_nonnull(emu_block_lookup(c, CG_Y, MODE_64)->jit);
    g_assert_cmpuint(c->jit_rechecks_failed, ==, failed);   /* checked, the same: kept */
    g_assert_true(*cg_word(f, CG_X) & 1);     /* armed again by that check */
#endif
    c->gpr[R_CX] = 7;
    cg_run(c, CG_Y, 1);
    g_assert_false(*cg_word(f, CG_X) & 1);
    cg_expect_x(f, 7);
#if defined(__x86_64__)
    g_assert_cmpuint(c->jit_rechecks_failed, ==, failed + 1);
#endif
}

typedef struct CgStore {
    const char *name;
    uint8_t code[16];
    unsigned len;
    uint64_t rax, rcx, rdi;
    uint32_t want;
} CgStore;

/*
 * (2) The interpreter's handlers (what generated code calls for these):
 * rep stosb's page fill, xchg's host atomic (aligned), lock cmpxchg
 * unaligned (the handler's read and write), push through an alias of the
 * page, and emu_write_phys (a store across a page end, byte by byte).
 */
static void test_codegen_handler_store(Fx *f, gconstpointer data)
{
    static const CgStore cases[] = {
        { "rep stosb", { 0xf3, 0xaa }, 2, 7, 4, CG_X + 1, 0x07070707 },
        { "xchg [x+1],ecx", { 0x87, 0x0c, 0x25, LE32(CG_X + 1) }, 7, 0, 9, 0, 9 },
        { "lock cmpxchg [x+2],cx", { 0xf0, 0x66, 0x0f, 0xb1, 0x0c, 0x25, LE32(CG_X + 2) }, 10,
          0, 0x0505, 0, 0x050501 },
        /* the pushed bytes: 3 before CG_X, then mov eax, 0x11 */
        { "push rcx (rsp = x+5 via the 1 GiB alias)", { 0x51 }, 1, 0, 0x00000011B8000000ull, 0,
          0x11 },
        /* through the 1 GiB alias (the page before is read-only): rcx's top
         * two bytes land on CG_X's opcode and immediate */
        { "mov [x-6],rcx (across a page end)", { 0x48, 0x89, 0x0c, 0x25,
          LE32(MAP1G_LIN + CG_X - 6) }, 8, 0, 0x44B8000000000000ull, 0, 0x44 },
    };
    EmuCpu *c = f->cpu;

    (void)data;
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        const CgStore *k = &cases[i];
        uint8_t code[24];

        g_test_message("%s", k->name);
        cg_compile_x(f, 1);
        memcpy(code, k->code, k->len);
        code[k->len] = 0xf4;
        put_code(f, CG_Y, code, k->len + 1);
        c->gpr[R_AX] = k->rax;
        c->gpr[R_CX] = k->rcx;
        c->gpr[R_DI] = k->rdi;
        c->gpr[R_SP] = k->code[0] == 0x51 ? MAP1G_LIN + CG_X + 5 : KSTACK;
        c->rflags = 2;
        c->rip = CG_Y;
        g_assert_cmpint(run_to_hlt(c, true), ==, -1);
        cg_expect_x(f, k->want);
        c->gpr[R_SP] = KSTACK;
    }
}

/* (3) The VMM's writes: guest_ram_write, guest_ram_mark_dma after a device's own write, discard. */
static void test_codegen_vmm_write(Fx *f, gconstpointer data)
{
    uint8_t *p = guest_ram_ptr(&f->ram, CG_X + 1, 1);
    uint32_t *word = cg_word(f, CG_X), g;

    (void)data;
    cg_compile_x(f, 1);
    g_assert_true(guest_ram_write(&f->ram, CG_X + 1, &(uint8_t){ 6 }, 1));
    cg_expect_x(f, 6);
    *p = 8;                                   /* a device's DMA into a buffer ... */
    guest_ram_mark_dma(&f->ram, p, 1);        /* ... marked at completion */
    cg_expect_x(f, 8);
    g = *word;
    g_assert_true(g & 1);
    g_assert_true(guest_ram_discard(&f->ram, (uint8_t *)p - ((CG_X + 1) & 0xFFF), 4096));
    g_assert_cmpuint(*word, ==, g + 1);       /* the next generation, disarmed */
    *word = 0;
    guest_ram_code_written(&f->ram, p, 1);    /* a disarmed page keeps its word */
    g_assert_cmpuint(*word, ==, 0);
}

typedef struct CgThread {
    EmuCpu *c;
    uint64_t rip;
    unsigned times;
} CgThread;

static gpointer cg_thread(gpointer opaque)
{
    CgThread *t = opaque;

    cg_run(t->c, t->rip, t->times);
    return NULL;
}

/* A second vCPU for the same machine: the first's state, caches of its own. */
static EmuCpu *cg_second_cpu(EmuCpu *c)
{
    EmuCpu *c2 = g_memdup2(c, sizeof(*c));

    c2->dcache = NULL;
    c2->blocks = NULL;
    c2->pool = NULL;
    c2->jit_code = NULL;
    c2->prev_block = NULL;
    c2->jit_slot = c2->link_slot = NULL;
    memset(c2->jcache, 0, sizeof(c2->jcache));
    g_assert_true(emu_decode_init(c2));
    c2->jit_after = EMU_JIT_AFTER;
    emu_tlb_flush(c2);
    return c2;
}

/*
 * (4) Another vCPU on its own thread stores into the page (its generated
 * code's inline path, compiled and warm, then a handler's rep stosb): the
 * first vCPU's code for CG_X sees the new bytes.
 */
static void test_codegen_other_cpu(Fx *f, gconstpointer data)
{
    EmuCpu *c = f->cpu, *c2;
    CgThread t;
    GThread *th;

    (void)data;
    cg_compile_x(f, 1);
    c2 = cg_second_cpu(c);
    put_code(f, CG_Y, BYTES(0x88, 0x0c, 0x25, LE32(CG_X + 1), 0xf4));
    c2->gpr[R_CX] = 1;
    t = (CgThread){ c2, CG_Y, EMU_JIT_AFTER + 1 };
    th = g_thread_new("cg", cg_thread, &t);
    g_thread_join(th);
    cg_expect_x(f, 1);                        /* armed again */
    c2->gpr[R_CX] = 3;
    t.times = 1;
    th = g_thread_new("cg", cg_thread, &t);
    g_thread_join(th);
    cg_expect_x(f, 3);
    put_code(f, CG_Y, BYTES(0xf3, 0xaa, 0xf4));    /* rep stosb */
    c2->gpr[R_AX] = 4;
    c2->gpr[R_CX] = 2;
    c2->gpr[R_DI] = CG_X + 1;
    th = g_thread_new("cg", cg_thread, &t);
    g_thread_join(th);
    cg_expect_x(f, 0x0404);
    emu_decode_destroy(c2);
    g_free(c2);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *path;
        void (*fn)(Fx *, gconstpointer);
    } tests[] = {
        { "/emu-system/paging/sizes", test_page_sizes },
        { "/emu-system/paging/accessed-dirty", test_accessed_dirty },
        { "/emu-system/paging/not-present", test_not_present },
        { "/emu-system/paging/protection", test_protection },
        { "/emu-system/paging/nx", test_nx },
        { "/emu-system/paging/tlb-stale", test_tlb_stale },
        { "/emu-system/paging/tlb-global", test_tlb_global },
        { "/emu-system/code/host-write", test_code_host_write },
        { "/emu-system/code/same-block", test_code_same_block },
        { "/emu-system/code/native-mem", test_native_mem },
        { "/emu-system/code/flush", test_code_flush },
        { "/emu-system/code/jit-after", test_jit_after },
        { "/emu-system/code/jit-long-block", test_jit_long_block },
        { "/emu-system/code/sti-shadow", test_sti_shadow },
        { "/emu-system/code/popf-if", test_popf_if },
        { "/emu-system/code/chain-rewrite", test_chain_rewrite },
        { "/emu-system/code/chain-bound", test_chain_bound },
        { "/emu-system/code/chain-bound-pages", test_chain_bound_pages },
        { "/emu-system/code/chain-smc", test_chain_smc },
        { "/emu-system/code/chain-ret", test_chain_ret },
        { "/emu-system/code/chain-indirect", test_chain_indirect },
        { "/emu-system/code/chain-bound-indirect", test_chain_bound_indirect },
        { "/emu-system/code/chain-stop", test_chain_stop },
        { "/emu-system/code/spin-yield", test_spin_yield },
        { "/emu-system/codegen/jit-store", test_codegen_jit_store },
        { "/emu-system/codegen/handler-store", test_codegen_handler_store },
        { "/emu-system/codegen/vmm-write", test_codegen_vmm_write },
        { "/emu-system/codegen/other-cpu", test_codegen_other_cpu },
        { "/emu-system/intr/pf-user-to-kernel", test_pf_user_to_kernel },
        { "/emu-system/intr/pf-fetch-rip", test_pf_fetch_rip },
        { "/emu-system/intr/pf-fetch-cross", test_pf_fetch_cross },
        { "/emu-system/intr/ist", test_ist },
        { "/emu-system/intr/int-gates", test_int_gates },
        { "/emu-system/intr/iret-checks", test_iret_checks },
        { "/emu-system/intr/double-fault", test_double_fault },
        { "/emu-system/intr/triple-fault", test_triple_fault },
        { "/emu-system/intr/fault-on-kernel-stack", test_fault_on_kernel_stack },
        { "/emu-system/intr/fault-on-kernel-stack-ist", test_fault_on_kernel_stack_ist },
        { "/emu-system/mode/ap-trampoline", test_ap_trampoline },
        { "/emu-system/syscall/syscall-sysret", test_syscall },
        { "/emu-system/syscall/sysret-rflags", test_sysret_rflags },
        { "/emu-system/io/permission", test_io_permission },
        { "/emu-system/insn/verr-verw", test_verr_verw },
        { "/emu-system/insn/tzcnt-as-bsf", test_tzcnt_as_bsf },
        { "/emu-system/msr/msrs-cpuid", test_msrs_cpuid },
    };

    g_test_init(&argc, &argv, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(tests); i++) {
        g_test_add(tests[i].path, Fx, NULL, fx_setup, tests[i].fn, fx_teardown);
    }
    return g_test_run();
}
