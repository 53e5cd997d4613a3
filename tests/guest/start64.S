/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * windmp test guest, x64: multiboot header and entry, switch to long mode
 * with a boot identity map, AP entry, and the final register-loading halt.
 */
#include "layout.h"
#include "multiboot.h"

	multiboot_start
	mov %esi, mb_magic
	mov %ebp, mb_info
	mov $(STACK_BASE + STACK_SIZE), %esp
	/* boot page tables: identity map of the low 4 MiB */
	movl $(boot_pdpt + 3), boot_pml4
	movl $(boot_pd + 3), boot_pdpt
	movl $0x000083, boot_pd
	movl $0x200083, boot_pd + 8
	mov %cr4, %eax
	or $0x20, %eax			/* PAE */
#ifdef LA57
	/*
	 * 5-level paging can only be chosen before long mode is entered.
	 * Without LA57, boot with 4 levels: kmain() then says why it fails.
	 */
	mov %eax, %edi
	mov $7, %eax
	xor %ecx, %ecx
	cpuid
	mov %edi, %eax
	test $(1 << 16), %ecx		/* CPUID.7.0:ECX.LA57 */
	jz 1f
	movl $(boot_pml4 + 3), boot_pml5
	movl $1, la57_on
	or $0x1000, %eax		/* LA57 */
	mov %eax, %cr4
	mov $boot_pml5, %eax
	jmp 2f
1:
#endif
	mov %eax, %cr4
	mov $boot_pml4, %eax
2:	mov %eax, %cr3
	mov $0xC0000080, %ecx		/* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax
	mov %eax, %cr0
	ljmp $0x18, $lm64

	.code64
lm64:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %eax, %eax
	mov %ax, %fs
	mov %ax, %gs
	mov $(STACK_BASE + STACK_SIZE), %rsp
	mov mb_magic, %edi
	mov mb_info, %esi
	call kmain
1:	cli
	hlt
	jmp 1b

/* AP: arrives from the trampoline in long mode on the kernel CR3 */
	.globl ap_entry64
ap_entry64:
	lgdt kgdtr
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $1, %eax
	cpuid
	shr $24, %ebx			/* initial APIC ID */
	mov %ebx, %edi
	cmp $MAX_CPUS, %edi
	jae 1b
	lea 1(%rdi), %eax
	imul $STACK_SIZE, %eax
	add $STACK_BASE, %eax
	mov %rax, %rsp
	call ap_main
	jmp 1b

/* void load_cr3(ulong cr3, ulong cr4_bits) */
	.globl load_cr3
load_cr3:
	mov %rdi, %cr3
	ret

/*
 * void cpu_final(ulong idx, ulong do_panic, ulong user_cr3)
 * Optionally signal pvpanic and switch CR3, then load the known register
 * values (0x52xxxx0000000000 | idx) and halt forever.
 */
	.globl cpu_final
cpu_final:
	cli
	mov %rdx, %r8
	test %rsi, %rsi
	jz 1f
	mov $0x505, %dx
	mov $1, %al
	outb %al, %dx
1:	test %r8, %r8
	jz 2f
	mov %r8, %cr3
2:	movabs $0x5244490000000000, %rax	/* "RDI" */
	or %rax, %rdi
	movzbl %dil, %eax			/* idx */
	movabs $0x5242580000000000, %rbx	/* "RBX" */
	or %rax, %rbx
	movabs $0x5243580000000000, %rcx	/* "RCX" */
	or %rax, %rcx
	movabs $0x5244580000000000, %rdx	/* "RDX" */
	or %rax, %rdx
	movabs $0x5253490000000000, %rsi	/* "RSI" */
	or %rax, %rsi
	movabs $0x5242500000000000, %rbp	/* "RBP" */
	or %rax, %rbp
	movabs $0x5238000000000000, %r8		/* "R8" */
	or %rax, %r8
	movabs $0x5239000000000000, %r9
	or %rax, %r9
	movabs $0x5231300000000000, %r10	/* "R10" */
	or %rax, %r10
	movabs $0x5231310000000000, %r11
	or %rax, %r11
	movabs $0x5231320000000000, %r12
	or %rax, %r12
	movabs $0x5231330000000000, %r13
	or %rax, %r13
	movabs $0x5231340000000000, %r14
	or %rax, %r14
	movabs $0x5231350000000000, %r15
	or %rax, %r15
	or rax_const(%rip), %rax		/* "RAX" */
3:	hlt
	jmp 3b

/*
 * void busy_loop(ulong va, ulong npages, ulong ctr_va)
 * Stamp page (v - 1) % npages at va with 512 copies of v, for v = 1, 2, ...,
 * storing v + 1 at ctr_va after each page: the registers say which
 * stamps RAM holds (rbx = the v being or about to be written; all
 * stamps below it are complete).
 */
	.globl busy_loop
busy_loop:
	cli
	mov %rdi, %r12
	mov %rsi, %r13
	mov %rdx, %r15
	mov $1, %ebx
	xor %r14d, %r14d
1:	mov %r14, %rdi
	shl $12, %rdi
	add %r12, %rdi
	mov %rbx, %rax
	mov $512, %ecx
	rep stosq
	inc %rbx
	inc %r14
	cmp %r13, %r14
	jb 2f
	xor %r14d, %r14d
2:	mov %rbx, (%r15)
	jmp 1b

	.section .rodata
	.p2align 3
rax_const:
	.quad 0x5241580000000000
	.p2align 3
kgdt:
	.quad 0
	.quad 0x00CF9A000000FFFF	/* 0x08: code32 */
	.quad 0x00CF92000000FFFF	/* 0x10: data */
	.quad 0x00AF9A000000FFFF	/* 0x18: code64 */
kgdtr:
	.word kgdtr - kgdt - 1
	.quad kgdt

	.bss
	.p2align 12
boot_pml4:	.skip 4096
#ifdef LA57
boot_pml5:	.skip 4096
#endif
boot_pdpt:	.skip 4096
boot_pd:	.skip 4096
mb_magic:	.skip 4
mb_info:	.skip 4
#ifdef LA57
	.globl la57_on
la57_on:	.skip 4
#endif

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
	mov %rsp, %rdi
	and $-16, %rsp
	call exc_handler
4:	cli
	hlt
	jmp 4b

#include "tramp.S"
