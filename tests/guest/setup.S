/*
 * Real-mode setup sectors of the bzImage.  The first 4 KiB double as the zero
 * page (boot_params): a BIOS loader puts them at the setup segment base and the
 * e820 table we collect lands at +0x2D0, so the code itself lives from 0x1000 on,
 * where the e820 writes cannot reach it.  Offsets below are relative to the
 * setup segment; the loader enters at CS = seg + 0x20, IP = 0 (offset 0x200)
 * with DS = ES = SS = seg.
 */
#include "guest.h"

#define SMAP 0x534D4150

	.code16
	.section .setup, "ax"
	.globl setup_start
setup_start:
	.org 0x1F1
setup_sects:	.byte 0                 /* patched by mkbzimage.py */
root_flags:	.word 0
syssize:	.long 0                 /* patched: 16-byte units */
ram_size:	.word 0
vid_mode:	.word 0
root_dev:	.word 0
boot_flag:	.word 0xAA55
	.org 0x200
	.byte 0xEB, stub16 - 0x202      /* the short jump loaders expect at 0x200 */
	.ascii "HdrS"
	.word 0x020C                    /* boot protocol 2.12 */
	.long 0                         /* realmode_swtch */
	.word 0x1000                    /* start_sys_seg (obsolete) */
	.word kernel_version - 0x200
	.byte 0                         /* type_of_loader */
	.byte 0x01                      /* loadflags: LOADED_HIGH */
	.word 0                         /* setup_move_size */
code32_start:	.long 0x100000
	.long 0                         /* ramdisk_image */
	.long 0                         /* ramdisk_size */
	.long 0                         /* bootsect_kludge */
	.word 0                         /* heap_end_ptr */
	.byte 0, 0                      /* ext_loader_ver, ext_loader_type */
	.long 0                         /* cmd_line_ptr */
	.long 0x7FFFFFFF                /* initrd_addr_max */
	.long 0x200000                  /* kernel_alignment */
	.byte 0                         /* relocatable_kernel: no */
	.byte 21                        /* min_alignment */
	.org 0x236
	.word 0x0001                    /* xloadflags: XLF_KERNEL_64 */
	.long CMDLINE_MAX - 1           /* cmdline_size */
	.long 0                         /* hardware_subarch */
	.quad 0                         /* hardware_subarch_data */
	.long 0, 0                      /* payload_offset, payload_length */
	.quad 0                         /* setup_data */
	.org 0x258
	.quad 0x100000                  /* pref_address */
init_size:	.long 0                 /* patched */
	.long 0                         /* handover_offset */
	.org 0x270                      /* padding in boot_params: safe for a stub */
stub16:
	jmp start16

	.org 0x1000
start16:
	cli
	cld
	movw %ds, %ax
	movw %ax, %es
	movw %ax, %ss
	movw $0x8000, %sp               /* protocol: seg..seg+0x8000 is ours */
	call e820_collect
	cli
	xorl %esi, %esi
	movw %ds, %si
	shll $4, %esi                   /* linear address of boot_params */
	leal gdt16(%esi), %eax
	movl %eax, gdt16_desc + 2
	lgdtl gdt16_desc
	movl code32_start, %eax
	movl %eax, farptr
	movl %cr0, %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	movl $BOOT16_MAGIC, %ebx
	xorl %ebp, %ebp
	xorl %edi, %edi
	/* DS still has its real-mode cached base, so farptr is found. */
	ljmpl *farptr

/* BIOS int 0x15/E820 into boot_params.e820_table, count at +0x1E8. */
e820_collect:
	xorl %ebx, %ebx
	movb $0, 0x1E8
	movw $0x2D0, %di
1:	movl $0xE820, %eax
	movl $SMAP, %edx
	movl $20, %ecx
	int $0x15
	jc 2f
	cmpl $SMAP, %eax
	jne 2f
	cmpl $20, %ecx
	jb 3f
	movl 8(%di), %eax               /* skip empty entries (qboot ends with one) */
	orl 12(%di), %eax
	jz 3f
	incb 0x1E8
	addw $20, %di
3:	cmpb $E820_MAX, 0x1E8
	jae 2f
	testl %ebx, %ebx
	jnz 1b
2:	ret

	.balign 8
gdt16:	.quad 0, 0
	.quad 0x00CF9B000000FFFF        /* 0x10: __BOOT_CS, flat 32-bit code */
	.quad 0x00CF93000000FFFF        /* 0x18: __BOOT_DS */
gdt16_desc:
	.word 31
	.long 0
farptr:	.long 0
	.word 0x10
kernel_version:
	.asciz "stratus-testguest " GUEST_VERSION_STR
	.balign 512
