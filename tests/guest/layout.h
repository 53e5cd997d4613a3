/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * windmp test guest: fixed physical memory layout (below 4 MiB) shared by
 * the C code, the assembler entry code and the linker script.
 */
#ifndef WINDMP_LAYOUT_H
#define WINDMP_LAYOUT_H

#define MAX_CPUS        8
#define TRAMP_PA        0x8000      /* AP real-mode trampoline (SIPI vector 8) */
#define KERNEL_PA       0x100000    /* kernel image (text, data, bss) */
#define NOTE_PA         0x300000    /* ELF note + dump header (3 pages) */
#define KDBG_PA         0x303000    /* decoded KDBG */
#define KDBGE_PA        0x304000    /* scrambled KDBG copy */
#define MISC_PA         0x305000    /* bugcheck record, list heads, MmPfnDatabase */
#define KPB_PA          0x306000    /* KiProcessorBlock array */
#define PRCB_PA         0x307000    /* KPRCB i at PRCB_PA + i * 0x1000 */
#define CTXPG_PA        0x310000    /* CONTEXT page i at CTXPG_PA + i * 0x1000 */
#define CTX_OFF         0x40        /* CONTEXT offset inside its page */
#define KUSER_PA        0x318000    /* KUSER_SHARED_DATA */
#define PT_BASE         0x320000    /* page tables, bump allocated */
#define PT_END          0x380000
#define STACK_BASE      0x380000    /* CPU i stack: STACK_BASE + i * STACK_SIZE */
#define STACK_SIZE      0x4000

#endif
