/* Stratus test guest: constants shared by assembly and C, and C interfaces. */
#ifndef GUEST_H
#define GUEST_H

/* GDT layout.  The TSS descriptors come last, one 16-byte slot per CPU. */
#define KERNEL_CS       0x08            /* 64-bit code, DPL0 */
#define KERNEL_DS       0x10            /* flat data, DPL0 (also used in 32-bit mode) */
#define KERNEL_CS32     0x18            /* 32-bit code: 32-bit entry and AP trampoline */
#define USER_DS         0x20            /* flat data, DPL3 */
#define USER_CS         0x28            /* 64-bit code, DPL3 */
#define TSS_SEL_BASE    0x30
#define TSS_SEL(cpu)    (TSS_SEL_BASE + 16 * (cpu))
#define MAX_CPUS        256
#define GDT_SIZE        (TSS_SEL_BASE + 16 * MAX_CPUS)

#define RFLAGS_USER     0x3002          /* IOPL=3, IF=0 */
#define RFLAGS_IF       0x0200
#define CR0_PE          0x00000001
#define CR0_PG          0x80000000
#define CR4_PAE         0x00000020
#define MSR_EFER        0xC0000080
#define EFER_LME        0x00000100

/* Our real-mode setup tells the 32-bit entry it ran (loaders pass EBX=0). */
#define BOOT16_MAGIC    0x36314253

/* AP trampoline: copied to TRAMP_BASE, started by SIPI vector TRAMP_BASE>>12. */
#define TRAMP_BASE      0x8000
#define TRAMP_STACK     0xFF0           /* offset of the trampoline's stack top */

#define BSP_KSTACK_SIZE 16384
#define BSP_USTACK_SIZE 32768
#define AP_STACK_SIZE   4096            /* per AP: kernel stack, then user stack */
#define AP_USTACK_SIZE  1024
#define PD_POOL_PAGES   28              /* 2 MiB-page directories for RAM above 4 GiB */

#define NUM_EXCEPTIONS  32
#define NUM_VECTORS     256             /* IDT size; 32..255 are empty until `intr` */
#define IST_STACK_SIZE  1024            /* per CPU, IST1: the `intr` timer vector */
#define E820_MAX        128             /* entries in boot_params.e820_table */
#define CMDLINE_MAX     4096
#define GUEST_VERSION_STR "1"

#ifndef __ASSEMBLER__
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define ARRAY_SIZE(a)   (sizeof(a) / sizeof((a)[0]))
#define PAGE_SIZE       4096ULL
#define MIB             (1ULL << 20)
#define GIB             (1ULL << 30)
#define ALIGN_UP(x, a)  (((x) + (a) - 1) & ~((u64)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((u64)(a) - 1))

#define E820_RAM        1
#define MAX_VIRTIO_MMIO 32
#define MAX_RAM_FREE    (E820_MAX + 8)

#define LAPIC_BASE      0xFEE00000ULL
#define IOAPIC_DEFAULT  0xFEC00000ULL
#define MMIO_LOW_BASE   0xF0000000ULL   /* start of the mandatory uncached window */

/* ---- port I/O (allowed at CPL3 because IOPL=3) and misc instructions ---- */
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
/* Allowed at CPL3 because IOPL=3; only the `intr` and `smp` commands use them. */
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return lo | (u64)hi << 32;
}
static inline void cpuid(u32 leaf, u32 sub, u32 r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
/* Physical addresses are identity mapped; hiding the integer from the optimizer
 * keeps gcc from treating small constants as (invalid) null-relative pointers. */
static inline void *phys(u64 addr)
{
	__asm__("" : "+r"(addr));
	return (void *)addr;
}
static inline u32 mmio_read32(u64 addr) { return *(volatile u32 *)phys(addr); }
static inline void mmio_write32(u64 addr, u32 v) { *(volatile u32 *)phys(addr) = v; }

/* ---- structures shared between CPL0 setup and CPL3 code ---- */
struct tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;
} __attribute__((packed));

struct e820_entry {
	u64 base;
	u64 size;
	u32 type;
} __attribute__((packed));

struct range {
	u64 base;
	u64 size;
};

/*
 * A virtio device the drivers may probe: a virtio-mmio window from the
 * command line, or a virtio-pci function (pci_bdf != 0) found on bus 0 with
 * its BARs placed by pci.c and its structures' addresses from its capabilities.
 */
struct virtio_mmio_dev {
	u64 base;
	u64 size;
	u32 irq;
	u32 pci_bdf;            /* bus << 8 | devfn, plus 1; 0 for virtio-mmio */
	u32 pci_device_id;      /* the virtio device ID */
	u32 plugs;              /* bumped when a root port's function comes or goes */
	u64 common, isr, devcfg, notify;
	u32 notify_mult;
};

/* Everything CPL3 needs from boot_params, copied before low memory is reused. */
struct bootinfo {
	u32 e820_count;
	struct e820_entry e820[E820_MAX];
	char cmdline[CMDLINE_MAX];
	u64 initrd_base;
	u64 initrd_size;
	u32 nr_ram_free;
	struct range ram_free[MAX_RAM_FREE];
	u32 nr_virtio;
	struct virtio_mmio_dev virtio[MAX_VIRTIO_MMIO];
	u64 acpi_rsdp;          /* boot_params.acpi_rsdp_addr, 0 if none */
};

struct pvclock {                 /* KVM's pvclock_vcpu_time_info */
	volatile u32 version;
	u32 pad0;
	u64 tsc_timestamp;
	u64 system_time;
	volatile u32 tsc_to_system_mul;
	volatile int8_t tsc_shift;
	u8 flags;
	u8 pad[2];
};

/* head.S */
extern u64 gdt[GDT_SIZE / 8];
extern u32 boot_entry;
extern u64 boot_tsc[2];
extern u64 pt_pml4[512], pt_pdpt[512], pt_pd_low[4 * 512], pt_pd_pool[PD_POOL_PAGES * 512];
extern u8 ap_stacks[MAX_CPUS * AP_STACK_SIZE];
extern const u64 fault_stubs[NUM_EXCEPTIONS];
extern const u8 intr_stubs[NUM_VECTORS * 16];  /* one 16-byte stub per vector (intr.c) */
extern u8 ist_stacks[MAX_CPUS * IST_STACK_SIZE];
extern const u8 tramp_start[], tramp_end[], tramp_params[];
extern u8 __image_start[], __image_end[];
void lgdt_ltr_lidt(u16 tss_sel);

/* cpl0.c */
extern struct tss64 *const tss;
extern u64 idt[NUM_VECTORS * 2];
extern u8 *boot_params;
extern u64 map_limit;           /* RAM is identity mapped below this address */
extern u64 mmio_map_base;       /* [mmio_map_base, 4 GiB) is mapped uncached */
extern struct pvclock pvclock;
void tss_init(unsigned cpu, u64 rsp0);

/* lib.c */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
int parse_u64(const char *s, const char **end, u64 *out);
/*
 * Shell arguments: space-separated words. arg_word cuts the line in place
 * (callers pass the writable command line) and returns "" at the end;
 * arg_u64 takes the next word as a whole number; arg_end is true when only
 * spaces are left.
 */
char *arg_skip(char *s);
char *arg_word(char **s);
int arg_u64(char **s, u64 *v);
int arg_end(char *s);
u64 splitmix64(u64 z);
u32 crc32_update(u32 crc, const u8 *p, u64 n);
void kvprintf(const char *fmt, va_list ap);
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* uart.c */
void uart_init(void);
void uart_putc(char c);
int uart_getc(void);            /* -1 if nothing received */
u8 uart_iir(void);
void uart_set_ier(u8 ier);

/* time.c */
extern u64 tsc_khz;
void time_init(void);
u32 apic_bus_khz(void);         /* CPUID 0x40000010 EBX, 0 if not offered */
u64 tsc_to_us(u64 ticks);
void udelay(u64 us);
u64 tsc_deadline(u64 us);
int tsc_passed(u64 deadline);

/* bootinfo.c */
extern struct bootinfo bi;
void bootinfo_init(void);
int cmdline_has(const char *word);
u64 mem_total(void);
const struct range *ram_free_find(u64 addr, u64 len);

/* apic.c */
extern u64 ioapic_base;
u32 lapic_id(void);
void apic_init(void);
void lapic_enable(void);
void lapic_send_ipi(u32 apic_id, u32 icr_low);
void irq_command(void);
int lapic_irr_test(u32 vector);
void lapic_eoi(void);
void lapic_timer_periodic(u32 vector, u32 count, u32 dcr);
void lapic_timer_stop(void);

/* acpi.c */
void acpi_command(char *args);
/* The guest-physical address of a table with a valid checksum (by signature), or 0. */
u64 acpi_find_table(const char *sig);

/* mptable.c */
extern unsigned nr_cpus;
extern u8 cpu_apic_id[MAX_CPUS];
void mptable_parse(void);

/* smp.c */
extern volatile u32 aps_online;
extern u8 slot_apic_id[MAX_CPUS];       /* CPU slot (TSS index) -> APIC ID; 0 = BSP */
void smp_start_aps(void);
void ap_main(u64 cpu) __attribute__((noreturn));
/* Runs fn(slot, arg) on every online AP (and on the BSP as well if `bsp`),
 * waits up to `us` for the APs; returns how many APs finished it. */
unsigned smp_run(void (*fn)(unsigned slot, u64 arg), u64 arg, int bsp, u64 us);
void smp_command(char *args);
/* shell.c: "<addr> <len> <seed>" within ram_free (prints the error itself), and
 * `mem churn`'s loop, which `smp churn` runs on every CPU's share. */
int mem_args(char *s, u64 *addr, u64 *len, u64 *seed);
void mem_churn_range(u64 passes, u64 addr, u64 len, u64 seed);

/* intr.c */
void intr_command(char *args);

/* virtio_blk.c */
struct virtio_dev;
void blk_init(void);
void blk_command(char *args);
const char *blk_status_msg(int st);
int blk_read_intr(u32 index, u64 sector, u32 count, void (*wait)(struct virtio_dev *vd),
		  const u8 **data);

/* virtio_balloon.c */
void balloon_idle(void);        /* from the shell's idle loop: follow the target */
void balloon_command(char *args);

/* virtio_rng.c */
void rng_command(char *args);

/* virtio_vsock.c */
void vsock_command(char *args);

/* virtio_net.c */
void net_idle(void);            /* from the shell's idle loop: answer ARP, ping, UDP echo */
void net_command(char *args);

/* virtio_console.c */
void vcon_command(char *args);

/* pci.c */
void pci_command(char *args);
/* Adds every modern virtio-pci function of bus 0 to bi.virtio, placing its BARs. */
void virtio_pci_discover(void);
/* Config space of bus:devfn (ECAM from MCFG, else CF8/CFC), as `pci` reaches it. */
u32 pci_conf_read32(u32 bus, u32 devfn, u32 reg);
void pci_conf_write32(u32 bus, u32 devfn, u32 reg, u32 v);
void pci_conf_write16(u32 bus, u32 devfn, u32 reg, u16 v);
/* Offset of capability `id` in bus:devfn's list, 0 if absent. */
u32 pci_find_cap(u32 bus, u32 devfn, u8 id);
/*
 * Adds the virtio-pci function at bus:devfn to bi.virtio (at index `reuse`
 * if >= 0), its BARs placed from *next up to `end`; its index, or -1.
 */
int pci_add_virtio(u32 bus, u32 devfn, u64 *next, u64 end, u32 irq, int reuse);
/* Root ports (pcie_hp.c): numbered and windowed at boot, then serviced from the idle loop. */
void pcie_hp_init(void);
void pcie_hp_poll(void);
void pcie_hp_slots(void);

/* md5.c */
struct md5 {
	u32 h[4];
	u64 len;
	u8 buf[64];
};
void md5_init(struct md5 *m);
void md5_update(struct md5 *m, const void *p, u64 n);
void md5_final(struct md5 *m, u8 out[16]);

/* shell.c */
void shell_run(void) __attribute__((noreturn));
void power_off(void);
#endif /* __ASSEMBLER__ */
#endif
