/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * windmp test guest: AP startup trampoline, included by start64.S and
 * start32.S. Copied to TRAMP_PA by the BSP; SIPI enters it in real mode.
 * It goes to protected mode, turns on paging with the kernel CR3/CR4
 * (and long mode on x64), then jumps to ap_entry64 / ap_entry32.
 */
#define T(x) ((x) - tramp_start + TRAMP_PA)

	.text
	.globl tramp_start, tramp_end, tramp_cr3, tramp_cr4
	.code16
tramp_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	lgdtl T(tramp_gdtr)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $0x08, $T(tramp_pm)

	.code32
tramp_pm:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	mov T(tramp_cr4), %eax
	mov %eax, %cr4
	mov T(tramp_cr3), %eax
	mov %eax, %cr3
#ifdef __x86_64__
	mov $0xC0000080, %ecx		/* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
#endif
	mov %cr0, %eax
	or $0x80000001, %eax
	mov %eax, %cr0
#ifdef __x86_64__
	ljmp $0x18, $T(tramp_lm)
	.code64
tramp_lm:
	movabs $ap_entry64, %rax
	jmp *%rax
#else
	mov $ap_entry32, %eax
	jmp *%eax
#endif
	.p2align 3
tramp_gdt:
	.quad 0
	.quad 0x00CF9A000000FFFF	/* 0x08: code32 */
	.quad 0x00CF92000000FFFF	/* 0x10: data */
	.quad 0x00AF9A000000FFFF	/* 0x18: code64 */
tramp_gdtr:
	.word tramp_gdtr - tramp_gdt - 1
	.long T(tramp_gdt)
tramp_cr3:
	.long 0
tramp_cr4:
	.long 0
tramp_end:
