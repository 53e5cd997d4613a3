/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * windmp test guest: the multiboot v1 header and the start both kernels
 * share (32-bit protected mode, as the loader leaves it): keep the
 * multiboot magic in %esi and info pointer in %ebp, clear .bss, load the
 * kernel's GDT.
 */
#ifndef WINDMP_GUEST_MULTIBOOT_H
#define WINDMP_GUEST_MULTIBOOT_H

	.macro multiboot_start
	.section .multiboot, "a"
	.p2align 2
	/* magic, flags (page-align modules, memory map), checksum */
	.long 0x1BADB002, 0x00000003, -(0x1BADB002 + 0x00000003)

	.text
	.code32
	.globl _start
_start:
	cli
	cld
	mov %eax, %esi
	mov %ebx, %ebp
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	lgdt kgdtr
	.endm

#endif
