/*
 * Entry points, descriptor tables, exception stubs, the AP trampoline and the
 * statically reserved memory (stacks, page tables).  Everything here runs at
 * CPL0, which these hosts emulate instruction by instruction: keep it short.
 */
#include "guest.h"

/* ---------------------------------------------------------------------------
 * bzImage 32-bit entry (code32_start).  ESI = boot_params, flat segments.
 * Builds nothing: the page tables for the low 4 GiB are complete at link time.
 * We go to long mode the way a VMM would have left us and continue at entry64,
 * so the 64-bit entry is exercised by every boot.
 */
	.section .head32, "ax"
	.code32
	.globl entry32
entry32:
	cli
	cld
	lgdtl %cs:gdt_desc              /* CS is flat; DS may not be ours yet */
	ljmp $KERNEL_CS32, $1f
1:	movl $KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $32, %eax
	cmpl $BOOT16_MAGIC, %ebx
	jne 2f
	movl $16, %eax
2:	movl %eax, boot_entry
	movl $pt_pml4, %eax
	movl %eax, %cr3
	movl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0
	ljmp $KERNEL_CS, $from32

/* vmlinux.bin is entered in 64-bit mode at its first byte. */
	.section .head.raw, "ax"
	.code64
	jmp entry64

/* Read by mkbzimage.py (fixed offset 0x1E0 in the protected-mode image). */
	.section .head.info, "a"
	.ascii "STGI"
	.long __init_size

/* ---------------------------------------------------------------------------
 * 64-bit entry (code32_start + 0x200, or vmlinux.bin + 0).  RSI = boot_params;
 * the VMM's GDT, stack and page tables are only trusted until replaced here.
 */
	.section .head64, "ax"
	.code64
	.globl entry64
entry64:
	cli
	cld
	movq %rsi, %r15
	rdtsc                           /* for guest.timing */
	movl %eax, boot_tsc
	movl %edx, boot_tsc + 4
	lgdt gdt_desc
	movq $bsp_kstack_top, %rsp
	pushq $KERNEL_CS
	pushq $1f
	lretq
1:	movl $KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movq %r15, %rdi
	call cpl0_setup
	rdtsc
	movl %eax, boot_tsc + 8
	movl %edx, boot_tsc + 12
	pushq $(USER_DS | 3)
	pushq $(bsp_ustack_top - 8)     /* ABI: rsp+8 aligned at function entry */
	pushq $RFLAGS_USER
	pushq $(USER_CS | 3)
	pushq $cpl3_main
	iretq

	.text
	.code64
from32:
	movl %esi, %esi                 /* upper halves are undefined after the switch */
	jmp entry64

/* Loads this CPU's descriptor tables (BSP only; APs do it in the trampoline). */
	.globl lgdt_ltr_lidt
lgdt_ltr_lidt:
	lgdt gdt_desc
	ltr %di
	lidt idt_desc
	ret

/* ---------------------------------------------------------------------------
 * Exception stubs: push a dummy error code where the CPU does not, then the
 * vector, and report.  fault_report never returns.
 */
	.macro STUB vec
	.balign 16
stub_\vec:
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp fault_common
	.endm

	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	STUB \v
	.endr

fault_common:
	movq %rsp, %rdi
	andq $-16, %rsp
	call fault_report
2:	cli
	hlt
	jmp 2b

/* ---------------------------------------------------------------------------
 * Interrupt stubs for the `intr` and `smp` commands (intr.c): 16 bytes per
 * vector at intr_stubs + 16 * vector, for vectors without an error code.
 * Gates point here only while those commands run with IF=1 (or, for #UD and
 * #BP, while `intr fault` provokes them); boot never uses them.  They push the
 * vector, save the caller-saved registers (struct intr_frame in intr.c), call
 * intr_dispatch on a 16-byte aligned stack and iretq.
 */
	.balign 16
	.globl intr_stubs
intr_stubs:
	.set v, 0
	.rept NUM_VECTORS
1:	.byte 0x68                      /* pushq $v (imm32): fixed size, */
	.long v
	.byte 0xE9                      /* jmp rel32, so the stubs are 10 bytes */
	.long intr_common - (. + 4)
	.if . - 1b > 16
	.error "interrupt stub longer than 16 bytes"
	.endif
	.balign 16
	.set v, v + 1
	.endr

intr_common:
	cld
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	movq %rsp, %rdi
	pushq %rbp
	movq %rsp, %rbp
	andq $-16, %rsp
	call intr_dispatch
	movq %rbp, %rsp
	popq %rbp
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	addq $8, %rsp                   /* the vector */
	iretq

	.section .rodata
	.balign 8
	.globl fault_stubs
fault_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad stub_\v
	.endr

/* ---------------------------------------------------------------------------
 * AP trampoline, copied to TRAMP_BASE.  Starts in real mode with CS = base>>4,
 * IP = 0 and SP = 0.  The BSP fills tramp_params before each SIPI.
 */
#define T(sym) (TRAMP_BASE + (sym) - tramp_start)
	.section .rodata
	.balign 16
	.globl tramp_start, tramp_end, tramp_params
	.code16
tramp_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	movw %ax, %ss
	movw $TRAMP_STACK, %sp          /* before anything can push */
	lgdtl tramp_gdt_desc - tramp_start
	movl %cr0, %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	ljmpl $KERNEL_CS32, $T(tramp_pm)

	.code32
tramp_pm:
	movl $KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $(TRAMP_BASE + TRAMP_STACK), %esp
	movl $CR4_PAE, %eax
	movl %eax, %cr4
	movl T(tp_cr3), %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $CR0_PG, %eax
	movl %eax, %cr0
	ljmp $KERNEL_CS, $T(tramp_lm)

	.code64
tramp_lm:
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movzwl T(tp_tss_sel), %eax
	ltr %ax
	lidt idt_desc
	movq T(tp_cpu), %rdi
	pushq $(USER_DS | 3)
	pushq T(tp_ustack)
	pushq $RFLAGS_USER
	pushq $(USER_CS | 3)
	pushq $ap_main
	iretq

	.balign 8
tramp_gdt_desc:
	.word GDT_SIZE - 1
	.long gdt
	.balign 8
tramp_params:                           /* layout: struct tramp_params in smp.c */
tp_cr3:		.quad 0
tp_ustack:	.quad 0
tp_cpu:		.quad 0
tp_tss_sel:	.quad 0
tramp_end:

/* ---------------------------------------------------------------------------
 * Descriptor tables and boot page tables (initialised data).
 */
	.data
/*
 * Page tables for the low 4 GiB, complete at link time because every store at
 * CPL0 costs microseconds here: 2 MiB user pages, write-back below 3 GiB,
 * uncached (PCD|PWT) from 3 GiB up, which covers the MMIO window at
 * 0xF0000000, the IOAPIC and the LAPIC.  cpl0.c adds RAM above 4 GiB.
 */
#define PDE_WB 0x87                     /* P | RW | US | PS */
#define PDE_UC 0x9F                     /* ... | PWT | PCD */
	.balign 4096
	.globl pt_pml4, pt_pdpt, pt_pd_low
pt_pml4:
	.quad pt_pdpt + 7
	.fill 511, 8, 0
pt_pdpt:
	.quad pt_pd_low + 7, pt_pd_low + 0x1007, pt_pd_low + 0x2007, pt_pd_low + 0x3007
	.fill 508, 8, 0
pt_pd_low:
	.set i, 0
	.rept 2048
	.if i < 1536
	.quad (i << 21) | PDE_WB
	.else
	.quad (i << 21) | PDE_UC
	.endif
	.set i, i + 1
	.endr

	.balign 16
	.globl gdt
gdt:
	.quad 0
	.quad 0x00AF9B000000FFFF        /* KERNEL_CS */
	.quad 0x00CF93000000FFFF        /* KERNEL_DS */
	.quad 0x00CF9B000000FFFF        /* KERNEL_CS32 */
	.quad 0x00CFF3000000FFFF        /* USER_DS */
	.quad 0x00AFFB000000FFFF        /* USER_CS */
	.fill 2 * MAX_CPUS, 8, 0        /* TSS descriptors */

	.balign 8
	.globl gdt_desc
gdt_desc:
	.word GDT_SIZE - 1
	.quad gdt
	.balign 8
	.globl idt_desc
idt_desc:                               /* all 256 vectors; cpl0.c fills 0-31 */
	.word NUM_VECTORS * 16 - 1
	.quad idt

	.balign 4
	.globl boot_entry
boot_entry:
	.long 64
	.balign 8
	.globl boot_tsc
boot_tsc:                               /* TSC at entry64 and at the switch to CPL3 */
	.quad 0, 0

/* ---------------------------------------------------------------------------
 * Reserved, not zeroed, not in the image file.
 */
	.section .stack, "aw", @nobits
	.balign 4096
	.skip BSP_KSTACK_SIZE
	.globl bsp_kstack_top
bsp_kstack_top:
	.skip BSP_USTACK_SIZE
bsp_ustack_top:
	.globl ap_stacks
ap_stacks:
	.skip MAX_CPUS * AP_STACK_SIZE
	.globl ist_stacks
ist_stacks:                             /* TSS IST1 of each CPU, set by intr.c */
	.skip MAX_CPUS * IST_STACK_SIZE

	.section .pgtable, "aw", @nobits
	.balign 4096
	.globl pt_pd_pool
pt_pd_pool:	.skip PD_POOL_PAGES * 4096

	.section .note.GNU-stack, "", @progbits
