/*
 * Windows kernel crash dump: on-disk structures
 *
 * The layout of DUMP_HEADER32/DUMP_HEADER64 and the structures they embed,
 * as Microsoft's mindumpdef.h and the readers of the format (WinDbg,
 * kdmp-parser, volatility) see them.  All values are little-endian on disk;
 * every structure here is declared with its natural alignment and explicit
 * padding, and every offset a reader depends on is checked at build time.
 *
 * Copyright (c) 2018 Virtuozzo International GmbH
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QEMU_WIN_DUMP_DEFS_H
#define QEMU_WIN_DUMP_DEFS_H

#define WIN_DUMP_PAGE_BITS          12
#define WIN_DUMP_PAGE_SIZE          (1u << WIN_DUMP_PAGE_BITS)

/* "PAGE" as a little-endian dword: what Windows fills unset fields with */
#define WIN_DUMP_PAGE_FILL          0x45474150u

#define WIN_DUMP_TYPE_FULL          1
/* A bitmap header after DUMP_HEADER64/32 says which pages the file holds */
#define WIN_DUMP_TYPE_BITMAP        5

#define WIN_DUMP_MACHINE_I386       0x014c
#define WIN_DUMP_MACHINE_AMD64      0x8664

/*
 * PhysicalMemoryBlock is a 700-byte buffer (DMP_PHYSICAL_MEMORY_BLOCK_SIZE_*).
 * Only whole runs fit: (700 - 16) / 16 = 42 on x64 and (700 - 8) / 8 = 86
 * on x86.  A 43rd x64 run would spill into the padding before
 * ContextRecord, where no reader expects it.
 */
#define WIN_DUMP_MEMORY_BLOCK_SIZE  700
#define WIN_DUMP_MAX_RUNS64         42
#define WIN_DUMP_MAX_RUNS32         86

/*
 * The bitmap header of a DumpType 5 file: at 0x2000 (x64) or 0x1000 (x86),
 * followed by one bit per page frame (LSB first) and, from FirstPage on,
 * the pages whose bit is set, back to back in rising PFN order.  Readers
 * take BitmapSize / 8 bytes (kdmp-parser) or BitmapSize / 32 dwords
 * (volatility3), so BitmapSize is kept a multiple of 32.
 */
#define WIN_DUMP_BITMAP_SUMMARY     0x504d4453u     /* "SDMP": kernel memory */
#define WIN_DUMP_BITMAP_FULL        0x504d4446u     /* "FDMP": all of RAM */
#define WIN_DUMP_BITMAP_VALID       0x504d5544u     /* "DUMP" */
/* DumpOptions: the kernel half of the address space is complete */
#define WIN_DUMP_SUMMARY_KERNEL_VA  1

typedef struct WinDumpBitmapHeader {
    uint32_t Signature;                 /* 0x00 */
    uint32_t ValidDump;                 /* 0x04 */
    uint32_t DumpOptions;               /* 0x08 */
    uint8_t reserved[0x14];             /* 0x0c */
    uint64_t FirstPage;                 /* 0x20: file offset of the pages */
    uint64_t TotalPresentPages;         /* 0x28: bits set */
    uint64_t BitmapSize;                /* 0x30: bits */
    /* 0x38: the bitmap */
} WinDumpBitmapHeader;

typedef struct WinDumpPhyMemRun32 {
    uint32_t BasePage;                          /* 0x00 */
    uint32_t PageCount;                         /* 0x04 */
} WinDumpPhyMemRun32;

typedef struct WinDumpPhyMemRun64 {
    uint64_t BasePage;                          /* 0x00 */
    uint64_t PageCount;                         /* 0x08 */
} WinDumpPhyMemRun64;

typedef struct WinDumpPhyMemDesc32 {
    uint32_t NumberOfRuns;                      /* 0x00 */
    uint32_t NumberOfPages;                     /* 0x04 */
    WinDumpPhyMemRun32 Run[WIN_DUMP_MAX_RUNS32]; /* 0x08 */
} WinDumpPhyMemDesc32;

typedef struct WinDumpPhyMemDesc64 {
    uint32_t NumberOfRuns;                      /* 0x00 */
    uint32_t unused;                            /* 0x04 */
    uint64_t NumberOfPages;                     /* 0x08 */
    WinDumpPhyMemRun64 Run[WIN_DUMP_MAX_RUNS64]; /* 0x10 */
} WinDumpPhyMemDesc64;

typedef struct WinDumpExceptionRecord32 {
    uint32_t ExceptionCode;                     /* 0x00 */
    uint32_t ExceptionFlags;                    /* 0x04 */
    uint32_t ExceptionRecord;                   /* 0x08 */
    uint32_t ExceptionAddress;                  /* 0x0c */
    uint32_t NumberParameters;                  /* 0x10 */
    uint32_t ExceptionInformation[15];          /* 0x14 */
} WinDumpExceptionRecord32;

typedef struct WinDumpExceptionRecord {
    uint32_t ExceptionCode;                     /* 0x00 */
    uint32_t ExceptionFlags;                    /* 0x04 */
    uint64_t ExceptionRecord;                   /* 0x08 */
    uint64_t ExceptionAddress;                  /* 0x10 */
    uint32_t NumberParameters;                  /* 0x18 */
    uint32_t unused;                            /* 0x1c */
    uint64_t ExceptionInformation[15];          /* 0x20 */
} WinDumpExceptionRecord;

typedef struct WinDumpHeader32 {
    char Signature[4];                          /* 0x000 "PAGE" */
    char ValidDump[4];                          /* 0x004 "DUMP" */
    uint32_t MajorVersion;                      /* 0x008 */
    uint32_t MinorVersion;                      /* 0x00c */
    uint32_t DirectoryTableBase;                /* 0x010 */
    uint32_t PfnDatabase;                       /* 0x014 */
    uint32_t PsLoadedModuleList;                /* 0x018 */
    uint32_t PsActiveProcessHead;               /* 0x01c */
    uint32_t MachineImageType;                  /* 0x020 */
    uint32_t NumberProcessors;                  /* 0x024 */
    union {
        struct {
            uint32_t BugcheckCode;              /* 0x028 */
            uint32_t BugcheckParameter1;        /* 0x02c */
            uint32_t BugcheckParameter2;        /* 0x030 */
            uint32_t BugcheckParameter3;        /* 0x034 */
            uint32_t BugcheckParameter4;        /* 0x038 */
        };
        uint8_t BugcheckData[20];               /* nt!KiBugcheckData */
    };
    uint8_t VersionUser[32];                    /* 0x03c */
    uint8_t PaeEnabled;                         /* 0x05c */
    uint8_t KdSecondaryVersion;                 /* 0x05d */
    uint8_t Spare3[2];                          /* 0x05e */
    uint32_t KdDebuggerDataBlock;               /* 0x060 */
    union {
        WinDumpPhyMemDesc32 PhysicalMemoryBlock;
        uint8_t PhysicalMemoryBlockBuffer[WIN_DUMP_MEMORY_BLOCK_SIZE];
    };                                          /* 0x064 */
    uint8_t ContextRecord[1200];                /* 0x320 */
    WinDumpExceptionRecord32 Exception;         /* 0x7d0 */
    char Comment[128];                          /* 0x820 */
    uint32_t Attributes;                        /* 0x8a0 */
    uint32_t BootId;                            /* 0x8a4 */
    uint8_t reserved0[1760];                    /* 0x8a8 */
    uint32_t DumpType;                          /* 0xf88 */
    uint32_t MiniDumpFields;                    /* 0xf8c */
    uint32_t SecondaryDataState;                /* 0xf90 */
    uint32_t ProductType;                       /* 0xf94 */
    uint32_t SuiteMask;                         /* 0xf98 */
    uint32_t WriterStatus;                      /* 0xf9c */
    uint64_t RequiredDumpSpace;                 /* 0xfa0 */
    uint8_t reserved2[16];                      /* 0xfa8 */
    uint64_t SystemUpTime;                      /* 0xfb8 */
    uint64_t SystemTime;                        /* 0xfc0 */
    uint8_t reserved3[56];                      /* 0xfc8 */
} WinDumpHeader32;

typedef struct WinDumpHeader64 {
    char Signature[4];                          /* 0x000 "PAGE" */
    char ValidDump[4];                          /* 0x004 "DU64" */
    uint32_t MajorVersion;                      /* 0x008 */
    uint32_t MinorVersion;                      /* 0x00c */
    uint64_t DirectoryTableBase;                /* 0x010 */
    uint64_t PfnDatabase;                       /* 0x018 */
    uint64_t PsLoadedModuleList;                /* 0x020 */
    uint64_t PsActiveProcessHead;               /* 0x028 */
    uint32_t MachineImageType;                  /* 0x030 */
    uint32_t NumberProcessors;                  /* 0x034 */
    union {
        struct {
            uint32_t BugcheckCode;              /* 0x038 */
            uint32_t unused0;                   /* 0x03c */
            uint64_t BugcheckParameter1;        /* 0x040 */
            uint64_t BugcheckParameter2;        /* 0x048 */
            uint64_t BugcheckParameter3;        /* 0x050 */
            uint64_t BugcheckParameter4;        /* 0x058 */
        };
        uint8_t BugcheckData[40];               /* nt!KiBugcheckData */
    };
    uint8_t VersionUser[32];                    /* 0x060 */
    uint64_t KdDebuggerDataBlock;               /* 0x080 */
    union {
        WinDumpPhyMemDesc64 PhysicalMemoryBlock;
        uint8_t PhysicalMemoryBlockBuffer[WIN_DUMP_MEMORY_BLOCK_SIZE];
    };                                          /* 0x088, 0x344-0x347 pad */
    uint8_t ContextRecord[3000];                /* 0x348 */
    WinDumpExceptionRecord Exception;           /* 0xf00 */
    uint32_t DumpType;                          /* 0xf98 */
    uint32_t unused1;                           /* 0xf9c */
    uint64_t RequiredDumpSpace;                 /* 0xfa0 */
    uint64_t SystemTime;                        /* 0xfa8 */
    char Comment[128];                          /* 0xfb0 */
    uint64_t SystemUpTime;                      /* 0x1030 */
    uint32_t MiniDumpFields;                    /* 0x1038 */
    uint32_t SecondaryDataState;                /* 0x103c */
    uint32_t ProductType;                       /* 0x1040 */
    uint32_t SuiteMask;                         /* 0x1044 */
    uint32_t WriterStatus;                      /* 0x1048 */
    uint8_t Unused1;                            /* 0x104c */
    uint8_t KdSecondaryVersion;                 /* 0x104d */
    uint8_t Unused[2];                          /* 0x104e */
    uint32_t Attributes;                        /* 0x1050 */
    uint32_t BootId;                            /* 0x1054 */
    uint8_t reserved0[4008];                    /* 0x1058 */
} WinDumpHeader64;

typedef union WinDumpHeader {
    struct {
        char Signature[4];
        char ValidDump[4];
    };
    WinDumpHeader32 x32;
    WinDumpHeader64 x64;
} WinDumpHeader;

/*
 * KDDEBUGGER_DATA64 ("KDBG").  Its fields are 64-bit on x86 too: 32-bit
 * kernels store sign-extended pointers.  Each field holds the address of
 * the kernel variable, not its value.
 */
#define KDBG_OWNER_TAG_OFFSET64             0x10
#define KDBG_SIZE_OFFSET64                  0x14
#define KDBG_KI_BUGCHECK_DATA_OFFSET64      0x88
#define KDBG_MM_PFN_DATABASE_OFFSET64       0xc0
#define KDBG_KI_PROCESSOR_BLOCK_OFFSET64    0x218
#define KDBG_OFFSET_PRCB_CONTEXT_OFFSET64   0x338
/* the block must reach OffsetPrcbContext (Windows 7 and later) */
#define KDBG_MIN_SIZE                       0x340

#define KDBG_OWNER_TAG_OFFSET           KDBG_OWNER_TAG_OFFSET64
#define KDBG_MM_PFN_DATABASE_OFFSET     KDBG_MM_PFN_DATABASE_OFFSET64
#define KDBG_KI_BUGCHECK_DATA_OFFSET    KDBG_KI_BUGCHECK_DATA_OFFSET64
#define KDBG_KI_PROCESSOR_BLOCK_OFFSET  KDBG_KI_PROCESSOR_BLOCK_OFFSET64
#define KDBG_OFFSET_PRCB_CONTEXT_OFFSET KDBG_OFFSET_PRCB_CONTEXT_OFFSET64

/*
 * The guest driver publishes the header as the descriptor of an ELF note
 * named "VMCOREINFO": 12 bytes of Elf_Nhdr, the 11-byte name padded to 12.
 */
#define VMCOREINFO_ELF_NOTE_HDR_SIZE    24
#define VMCOREINFO_WIN_DUMP_NOTE_SIZE64 (sizeof(WinDumpHeader64) + \
                                         VMCOREINFO_ELF_NOTE_HDR_SIZE)
#define VMCOREINFO_WIN_DUMP_NOTE_SIZE32 (sizeof(WinDumpHeader32) + \
                                         VMCOREINFO_ELF_NOTE_HDR_SIZE)

#define WIN_CTX_X64 0x00100000L
#define WIN_CTX_X86 0x00010000L

#define WIN_CTX_CTL 0x00000001L
#define WIN_CTX_INT 0x00000002L
#define WIN_CTX_SEG 0x00000004L
#define WIN_CTX_FP  0x00000008L
#define WIN_CTX_DBG 0x00000010L
#define WIN_CTX_EXT 0x00000020L

#define WIN_CTX64_FULL  (WIN_CTX_X64 | WIN_CTX_CTL | WIN_CTX_INT | WIN_CTX_FP)
#define WIN_CTX64_ALL   (WIN_CTX64_FULL | WIN_CTX_SEG | WIN_CTX_DBG)

#define WIN_CTX32_FULL (WIN_CTX_X86 | WIN_CTX_CTL | WIN_CTX_INT | WIN_CTX_SEG)
#define WIN_CTX32_ALL (WIN_CTX32_FULL | WIN_CTX_FP | WIN_CTX_DBG | WIN_CTX_EXT)

/* BugCheckCode of a dump taken from a system that did not crash */
#define LIVE_SYSTEM_DUMP    0x00000161

/* 8-byte aligned so that a CONTEXT can sit at header offset 0x348 */
typedef struct WinM128A {
    uint64_t low;
    int64_t high;
} WinM128A;

/* FNSAVE area inside the x86 CONTEXT */
typedef struct WinFloatSave32 {
    uint32_t ControlWord;                       /* 0x00 */
    uint32_t StatusWord;                        /* 0x04 */
    uint32_t TagWord;                           /* 0x08 */
    uint32_t ErrorOffset;                       /* 0x0c */
    uint32_t ErrorSelector;                     /* 0x10 */
    uint32_t DataOffset;                        /* 0x14 */
    uint32_t DataSelector;                      /* 0x18 */
    uint8_t RegisterArea[80];                   /* 0x1c */
    uint32_t Cr0NpxState;                       /* 0x6c */
} WinFloatSave32;

typedef struct WinContext32 {
    uint32_t ContextFlags;                      /* 0x00 */
    uint32_t Dr0;                               /* 0x04 */
    uint32_t Dr1;
    uint32_t Dr2;
    uint32_t Dr3;
    uint32_t Dr6;
    uint32_t Dr7;                               /* 0x18 */
    WinFloatSave32 FloatSave;                   /* 0x1c */
    uint32_t SegGs;                             /* 0x8c */
    uint32_t SegFs;
    uint32_t SegEs;
    uint32_t SegDs;
    uint32_t Edi;                               /* 0x9c */
    uint32_t Esi;
    uint32_t Ebx;
    uint32_t Edx;
    uint32_t Ecx;
    uint32_t Eax;                               /* 0xb0 */
    uint32_t Ebp;                               /* 0xb4 */
    uint32_t Eip;                               /* 0xb8 */
    uint32_t SegCs;                             /* 0xbc */
    uint32_t EFlags;                            /* 0xc0 */
    uint32_t Esp;                               /* 0xc4 */
    uint32_t SegSs;                             /* 0xc8 */
    uint8_t ExtendedRegisters[512];             /* 0xcc, FXSAVE image */
} WinContext32;

/* FXSAVE image: CONTEXT.FltSave on x64, ExtendedRegisters on x86 */
typedef struct WinXmmSaveArea32 {
    uint16_t ControlWord;                       /* 0x00 */
    uint16_t StatusWord;                        /* 0x02 */
    uint8_t TagWord;                            /* 0x04 */
    uint8_t Reserved1;
    uint16_t ErrorOpcode;                       /* 0x06 */
    uint32_t ErrorOffset;                       /* 0x08 */
    uint16_t ErrorSelector;                     /* 0x0c */
    uint16_t Reserved2;
    uint32_t DataOffset;                        /* 0x10 */
    uint16_t DataSelector;                      /* 0x14 */
    uint16_t Reserved3;
    uint32_t MxCsr;                             /* 0x18 */
    uint32_t MxCsr_Mask;                        /* 0x1c */
    WinM128A FloatRegisters[8];                 /* 0x20 */
    WinM128A XmmRegisters[16];                  /* 0xa0 */
    uint8_t Reserved4[96];                      /* 0x1a0 */
} WinXmmSaveArea32;

typedef struct WinContext64 {
    uint64_t PHome[6];                          /* 0x00 */
    uint32_t ContextFlags;                      /* 0x30 */
    uint32_t MxCsr;                             /* 0x34 */
    uint16_t SegCs;                             /* 0x38 */
    uint16_t SegDs;
    uint16_t SegEs;
    uint16_t SegFs;
    uint16_t SegGs;
    uint16_t SegSs;                             /* 0x42 */
    uint32_t EFlags;                            /* 0x44 */
    uint64_t Dr0;                               /* 0x48 */
    uint64_t Dr1;
    uint64_t Dr2;
    uint64_t Dr3;
    uint64_t Dr6;
    uint64_t Dr7;                               /* 0x70 */
    uint64_t Rax;                               /* 0x78 */
    uint64_t Rcx;
    uint64_t Rdx;
    uint64_t Rbx;
    uint64_t Rsp;                               /* 0x98 */
    uint64_t Rbp;
    uint64_t Rsi;
    uint64_t Rdi;
    uint64_t R8;                                /* 0xb8 */
    uint64_t R9;
    uint64_t R10;
    uint64_t R11;
    uint64_t R12;
    uint64_t R13;
    uint64_t R14;
    uint64_t R15;
    uint64_t Rip;                               /* 0xf8 */
    WinXmmSaveArea32 FltSave;                   /* 0x100 */
    WinM128A VectorRegister[26];                /* 0x300 */
    uint64_t VectorControl;                     /* 0x4a0 */
    uint64_t DebugControl;                      /* 0x4a8 */
    uint64_t LastBranchToRip;
    uint64_t LastBranchFromRip;
    uint64_t LastExceptionToRip;
    uint64_t LastExceptionFromRip;              /* 0x4c8 */
} WinContext64;

typedef union WinContext {
    WinContext32 x32;
    WinContext64 x64;
} WinContext;

/* The layout facts that WinDbg and the other readers depend on */
#define WIN_DUMP_CHECK(type, field, off) \
    QEMU_BUILD_BUG_ON(offsetof(type, field) != (off))

WIN_DUMP_CHECK(WinDumpPhyMemDesc64, Run, 0x10);
WIN_DUMP_CHECK(WinDumpPhyMemDesc32, Run, 0x08);
QEMU_BUILD_BUG_ON(sizeof(WinDumpPhyMemDesc64) > WIN_DUMP_MEMORY_BLOCK_SIZE);
QEMU_BUILD_BUG_ON(sizeof(WinDumpPhyMemDesc32) > WIN_DUMP_MEMORY_BLOCK_SIZE);
QEMU_BUILD_BUG_ON(sizeof(WinDumpExceptionRecord) != 0x98);
QEMU_BUILD_BUG_ON(sizeof(WinDumpExceptionRecord32) != 0x50);

WIN_DUMP_CHECK(WinDumpBitmapHeader, DumpOptions, 0x08);
WIN_DUMP_CHECK(WinDumpBitmapHeader, FirstPage, 0x20);
WIN_DUMP_CHECK(WinDumpBitmapHeader, TotalPresentPages, 0x28);
WIN_DUMP_CHECK(WinDumpBitmapHeader, BitmapSize, 0x30);
QEMU_BUILD_BUG_ON(sizeof(WinDumpBitmapHeader) != 0x38);

WIN_DUMP_CHECK(WinDumpHeader32, DirectoryTableBase, 0x010);
WIN_DUMP_CHECK(WinDumpHeader32, NumberProcessors, 0x024);
WIN_DUMP_CHECK(WinDumpHeader32, BugcheckCode, 0x028);
WIN_DUMP_CHECK(WinDumpHeader32, BugcheckParameter1, 0x02c);
WIN_DUMP_CHECK(WinDumpHeader32, VersionUser, 0x03c);
WIN_DUMP_CHECK(WinDumpHeader32, PaeEnabled, 0x05c);
WIN_DUMP_CHECK(WinDumpHeader32, KdDebuggerDataBlock, 0x060);
WIN_DUMP_CHECK(WinDumpHeader32, PhysicalMemoryBlock, 0x064);
WIN_DUMP_CHECK(WinDumpHeader32, ContextRecord, 0x320);
WIN_DUMP_CHECK(WinDumpHeader32, Exception, 0x7d0);
WIN_DUMP_CHECK(WinDumpHeader32, Comment, 0x820);
WIN_DUMP_CHECK(WinDumpHeader32, DumpType, 0xf88);
WIN_DUMP_CHECK(WinDumpHeader32, RequiredDumpSpace, 0xfa0);
WIN_DUMP_CHECK(WinDumpHeader32, SystemUpTime, 0xfb8);
WIN_DUMP_CHECK(WinDumpHeader32, SystemTime, 0xfc0);
QEMU_BUILD_BUG_ON(sizeof(WinDumpHeader32) != 0x1000);

WIN_DUMP_CHECK(WinDumpHeader64, DirectoryTableBase, 0x010);
WIN_DUMP_CHECK(WinDumpHeader64, PfnDatabase, 0x018);
WIN_DUMP_CHECK(WinDumpHeader64, MachineImageType, 0x030);
WIN_DUMP_CHECK(WinDumpHeader64, NumberProcessors, 0x034);
WIN_DUMP_CHECK(WinDumpHeader64, BugcheckCode, 0x038);
WIN_DUMP_CHECK(WinDumpHeader64, BugcheckParameter1, 0x040);
WIN_DUMP_CHECK(WinDumpHeader64, BugcheckParameter4, 0x058);
WIN_DUMP_CHECK(WinDumpHeader64, KdDebuggerDataBlock, 0x080);
WIN_DUMP_CHECK(WinDumpHeader64, PhysicalMemoryBlock, 0x088);
WIN_DUMP_CHECK(WinDumpHeader64, ContextRecord, 0x348);
WIN_DUMP_CHECK(WinDumpHeader64, Exception, 0xf00);
WIN_DUMP_CHECK(WinDumpHeader64, DumpType, 0xf98);
WIN_DUMP_CHECK(WinDumpHeader64, RequiredDumpSpace, 0xfa0);
WIN_DUMP_CHECK(WinDumpHeader64, SystemTime, 0xfa8);
WIN_DUMP_CHECK(WinDumpHeader64, Comment, 0xfb0);
WIN_DUMP_CHECK(WinDumpHeader64, SystemUpTime, 0x1030);
WIN_DUMP_CHECK(WinDumpHeader64, KdSecondaryVersion, 0x104d);
WIN_DUMP_CHECK(WinDumpHeader64, Attributes, 0x1050);
QEMU_BUILD_BUG_ON(sizeof(WinDumpHeader64) != 0x2000);

WIN_DUMP_CHECK(WinContext32, FloatSave, 0x1c);
WIN_DUMP_CHECK(WinContext32, SegGs, 0x8c);
WIN_DUMP_CHECK(WinContext32, Edi, 0x9c);
WIN_DUMP_CHECK(WinContext32, Eip, 0xb8);
WIN_DUMP_CHECK(WinContext32, Esp, 0xc4);
WIN_DUMP_CHECK(WinContext32, ExtendedRegisters, 0xcc);
QEMU_BUILD_BUG_ON(sizeof(WinContext32) != 0x2cc);

WIN_DUMP_CHECK(WinXmmSaveArea32, MxCsr, 0x18);
WIN_DUMP_CHECK(WinXmmSaveArea32, XmmRegisters, 0xa0);
QEMU_BUILD_BUG_ON(sizeof(WinXmmSaveArea32) != 0x200);

WIN_DUMP_CHECK(WinContext64, ContextFlags, 0x30);
WIN_DUMP_CHECK(WinContext64, MxCsr, 0x34);
WIN_DUMP_CHECK(WinContext64, SegCs, 0x38);
WIN_DUMP_CHECK(WinContext64, SegSs, 0x42);
WIN_DUMP_CHECK(WinContext64, EFlags, 0x44);
WIN_DUMP_CHECK(WinContext64, Dr0, 0x48);
WIN_DUMP_CHECK(WinContext64, Rax, 0x78);
WIN_DUMP_CHECK(WinContext64, Rsp, 0x98);
WIN_DUMP_CHECK(WinContext64, R8, 0xb8);
WIN_DUMP_CHECK(WinContext64, Rip, 0xf8);
WIN_DUMP_CHECK(WinContext64, FltSave, 0x100);
WIN_DUMP_CHECK(WinContext64, VectorRegister, 0x300);
WIN_DUMP_CHECK(WinContext64, VectorControl, 0x4a0);
WIN_DUMP_CHECK(WinContext64, LastExceptionFromRip, 0x4c8);
QEMU_BUILD_BUG_ON(sizeof(WinContext64) != 0x4d0);

#undef WIN_DUMP_CHECK

#endif /* QEMU_WIN_DUMP_DEFS_H */
