/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * windmp test guest, 32-bit x86: multiboot header and entry, paging
 * switch-on helper, AP entry, and the final register-loading halt.
 */
#include "layout.h"
#include "multiboot.h"

	multiboot_start
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	mov $(STACK_BASE + STACK_SIZE), %esp
	push %ebp
	push %esi
	call kmain
2:	cli
	hlt
	jmp 2b

/* AP: arrives from the trampoline in protected mode with paging on */
	.globl ap_entry32
ap_entry32:
	lgdt kgdtr
	mov $1, %eax
	cpuid
	shr $24, %ebx			/* initial APIC ID */
	cmp $MAX_CPUS, %ebx
	jae 2b
	lea 1(%ebx), %eax
	imul $STACK_SIZE, %eax
	add $STACK_BASE, %eax
	mov %eax, %esp
	push %ebx
	call ap_main
	jmp 2b

/* void load_cr3(ulong cr3, ulong cr4_bits): set CR4 bits, CR3, turn paging on */
	.globl load_cr3
load_cr3:
	mov 8(%esp), %eax
	mov %cr4, %ecx
	or %eax, %ecx
	mov %ecx, %cr4
	mov 4(%esp), %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	ret

/*
 * void cpu_final(ulong idx, ulong do_panic, ulong user_cr3)
 * Optionally signal pvpanic and switch CR3, then load the known register
 * values (0x52xxxx00 | idx) and halt forever.
 */
	.globl cpu_final
cpu_final:
	cli
	mov 4(%esp), %edi
	mov 8(%esp), %eax
	mov 12(%esp), %ecx
	test %eax, %eax
	jz 1f
	mov $0x505, %dx
	mov $1, %al
	outb %al, %dx
1:	test %ecx, %ecx
	jz 3f
	mov %ecx, %cr3
3:	mov %edi, %eax
	mov $0x52425800, %ebx		/* "RBX" */
	or %eax, %ebx
	mov $0x52435800, %ecx		/* "RCX" */
	or %eax, %ecx
	mov $0x52445800, %edx		/* "RDX" */
	or %eax, %edx
	mov $0x52534900, %esi		/* "RSI" */
	or %eax, %esi
	mov $0x52425000, %ebp		/* "RBP" */
	or %eax, %ebp
	or $0x52444900, %edi		/* "RDI" */
	or $0x52415800, %eax		/* "RAX" */
4:	hlt
	jmp 4b

	.section .rodata
	.p2align 3
kgdt:
	.quad 0
	.quad 0x00CF9A000000FFFF	/* 0x08: code32 */
	.quad 0x00CF92000000FFFF	/* 0x10: data */
	.quad 0x00AF9A000000FFFF	/* 0x18: code64 (unused) */
kgdtr:
	.word kgdtr - kgdt - 1
	.long kgdt

	.text
/* exception stubs: 32 x 16 bytes, each pushes its vector; exc_handler() reports and halts */
	.p2align 4
	.globl exc_stubs
exc_stubs:
	.set vec, 0
	.rept 32
	.p2align 4
	push $vec
	jmp exc_common
	.set vec, vec + 1
	.endr
exc_common:
	mov %esp, %eax
	push %eax
	call exc_handler
5:	cli
	hlt
	jmp 5b

#include "tramp.S"
