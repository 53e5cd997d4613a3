/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * windmp test guest: imitates a Windows kernel plus the virtio-win fwcfg
 * driver closely enough for QEMU's "dump-guest-memory -w" (win-dmp).
 * Builds page tables, KDBG, KiBugcheckData, KPRCBs, CONTEXT areas and a
 * crash dump header, publishes the header through fw_cfg "etc/vmcoreinfo",
 * fills RAM with a known pattern, brings up the APs and halts.
 * The same file is built for x64 (__x86_64__) and for 32-bit x86.
 */
#include "layout.h"

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned long ulong;

#define PAGE 0x1000ULL

#ifdef __x86_64__
#define ARCH_NAME       "x64"
#define HDR_SIZE        0x2000
#define MAX_RUNS        42
#ifdef LA57
/*
 * 5-level paging: the kernel lives where Windows puts it with LA57, above
 * the 48-bit canonical range, so that 4 levels cannot reach it.  PML5
 * entry KVA_PML5 leads to the same PML4 layout as without LA57.
 */
#define KVA_HIGH        0xFF7F000000000000ULL
#define KVA_PML5        0x17F
#define PAGING_LEVELS   "5"
#else
#define KVA_HIGH        0xFFFF000000000000ULL
#define PAGING_LEVELS   "4"
#endif
#define KVA_DIRECT      (KVA_HIGH | 0xF80000000000ULL)  /* 2 MiB pages, all RAM */
#define KVA_ALIAS1G     (KVA_HIGH | 0xF88000000000ULL)  /* one 1 GiB page -> pa 0 */
#define KVA_SMALL       (KVA_HIGH | 0xF90000000000ULL)  /* 4 KiB pages */
#define RAM_LIMIT       (64ULL << 30)          /* direct map covers this much */
#define SX(va)          ((u64)(va))
#define DEF_BUGCHECK    { 0xD1, 0xFFFFF80000001000ULL, 2, 0, 0xFFFFF80000002000ULL }
#define KUSER_VA        0xFFFFF78000000000ULL  /* also with LA57 */
#else
#define ARCH_NAME       (pae ? "x86pae" : "x86")
#define HDR_SIZE        0x1000
#define MAX_RUNS        86
#define KVA_DIRECT      0x80000000ULL
#define KVA_SMALL       0xC0000000ULL
#define RAM_LIMIT       (1ULL << 30)
/* Windows x86 stores 32-bit VAs sign-extended in KDBG fields */
#define SX(va)          ((u64)(long long)(int)(u32)(va))
#define DEF_BUGCHECK    { 0xD1, 0x80001000ULL, 2, 0, 0x80002000ULL }
#define KUSER_VA        0xFFDF0000ULL
#endif

/* KUSER_SHARED_DATA now; the header keeps stale boot-time values */
#define KUSER_INTERRUPT_LOW     0x89ABCDEFu
#define KUSER_INTERRUPT_HIGH    0x12u
#define KUSER_PRODUCT_TYPE      3u          /* NtProductServer */
#define KUSER_SUITE_MASK        0x110u      /* TERMINAL | SINGLEUSERTS */
#define HDR_SYSTEM_UPTIME       123456789ULL
#define HDR_PRODUCT_TYPE        1u
#define HDR_SUITE_MASK          0x100u
#define NOTE_SIZE       (24 + HDR_SIZE)

/* slots of the 4 KiB region */
#define SLOT_KPB        0
#define SLOT_CTX(i)     (1 + (i))
#define SLOT_CR3        (1 + MAX_CPUS)
#define SLOT_LAPIC      (2 + MAX_CPUS)
#define SMALL_VA(slot)  (KVA_SMALL + (u64)(slot) * PAGE)

#define KDBG_SIZE       0x340
#define PRCB_CTX_OFF    0x6D0
#define ENC_KEY         0xA5C3F00D5EED1234ULL

/* asm helpers (start64.S / start32.S) */
extern void cpu_final(ulong idx, ulong do_panic, ulong user_cr3);
#ifdef __x86_64__
extern void busy_loop(ulong va, ulong npages, ulong ctr_va);
#endif
extern void load_cr3(ulong cr3, ulong cr4_bits);
extern char tramp_start[], tramp_end[], tramp_cr3[], tramp_cr4[];

/* ---------------------------------------------------------------- basics */

void *memset(void *d, int c, ulong n)
{
    u8 *p = d;
    while (n--) {
        *p++ = (u8)c;
    }
    return d;
}

void *memcpy(void *d, const void *s, ulong n)
{
    u8 *p = d;
    const u8 *q = s;
    while (n--) {
        *p++ = *q++;
    }
    return d;
}

static int streq_n(const char *a, const char *b, ulong n)
{
    while (n--) {
        if (*a != *b) {
            return 0;
        }
        if (!*a) {
            return 1;
        }
        a++, b++;
    }
    return 1;
}

static ulong slen(const char *s)
{
    ulong n = 0;
    while (s[n]) {
        n++;
    }
    return n;
}

static inline void outb(u16 p, u8 v) { __asm__ volatile("outb %0,%1" :: "a"(v), "Nd"(p)); }
static inline void outw(u16 p, u16 v) { __asm__ volatile("outw %0,%1" :: "a"(v), "Nd"(p)); }
static inline void outl(u16 p, u32 v) { __asm__ volatile("outl %0,%1" :: "a"(v), "Nd"(p)); }
static inline u8 inb(u16 p) { u8 v; __asm__ volatile("inb %1,%0" : "=a"(v) : "Nd"(p)); return v; }
#define barrier() __asm__ volatile("" ::: "memory")

static inline u32 bswap32(u32 v) { return __builtin_bswap32(v); }
static inline u64 bswap64(u64 v) { return __builtin_bswap64(v); }

static inline void *P(u64 pa) { return (void *)(ulong)pa; }  /* low 4 MiB: identity */
static inline void w16(u64 pa, u16 v) { *(volatile u16 *)P(pa) = v; }
static inline void w32(u64 pa, u32 v) { *(volatile u32 *)P(pa) = v; }
static inline void w64(u64 pa, u64 v) { *(volatile u64 *)P(pa) = v; }
static inline u32 r32(u64 pa) { return *(volatile u32 *)P(pa); }
static inline u64 r64(u64 pa) { return *(volatile u64 *)P(pa); }

static inline void wrmsr(u32 msr, u64 v)
{
    __asm__ volatile("wrmsr" :: "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

static inline u64 rdmsr(u32 msr)
{
    u32 lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((u64)hi << 32) | lo;
}

/* ---------------------------------------------------------------- serial */

static void putc_(char c)
{
    int i;
    for (i = 0; i < 100000 && !(inb(0x3FD) & 0x20); i++) {
    }
    outb(0x3F8, (u8)c);
}

static void puts_(const char *s)
{
    while (*s) {
        if (*s == '\n') {
            putc_('\r');
        }
        putc_(*s++);
    }
}

static void puthex(u64 v)
{
    char b[19];
    int i = 18, n = 0;
    b[i] = 0;
    do {
        b[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
        n++;
    } while (v);
    b[--i] = 'x';
    b[--i] = '0';
    puts_(&b[i]);
}

static void putdec(u32 v)
{
    char b[12];
    int i = 11;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    puts_(&b[i]);
}

static void serial_init(void)
{
    outb(0x3F9, 0);     /* no interrupts */
    outb(0x3FB, 0x80);  /* DLAB */
    outb(0x3F8, 1);     /* 115200 */
    outb(0x3F9, 0);
    outb(0x3FB, 0x03);  /* 8N1 */
    outb(0x3FA, 0xC7);
    outb(0x3FC, 0x03);
}

static void halt_forever(void)
{
    for (;;) {
        __asm__ volatile("cli; hlt");
    }
}

static void fail(const char *why, const char *arg)
{
    puts_("WINDMP-GUEST FAIL ");
    puts_(why);
    if (arg) {
        puts_(": ");
        puts_(arg);
    }
    puts_("\n");
    halt_forever();
}

/* ---------------------------------------------------------------- exceptions */

extern char exc_stubs[];
#ifdef __x86_64__
static u64 idt[64] __attribute__((aligned(16)));
#else
static u64 idt[32] __attribute__((aligned(8)));
#endif

/* frame: vector, then what the CPU pushed (error code if any, EIP/RIP, ...) */
void exc_handler(ulong *frame)
{
    ulong cr2;
    int i;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    puts_("WINDMP-GUEST FAIL exception ");
    puthex(frame[0]);
    puts_(" cr2=");
    puthex(cr2);
    puts_(" stack:");
    for (i = 1; i < 6; i++) {
        puts_(" ");
        puthex(frame[i]);
    }
    puts_("\n");
    halt_forever();
}

static void setup_idt(void)
{
    struct __attribute__((packed)) { u16 limit; ulong base; } idtr;
    int v;
    for (v = 0; v < 32; v++) {
        ulong h = (ulong)exc_stubs + 16 * v;
        u64 g = (h & 0xFFFF) | (0x08ULL << 16) | (0x8EULL << 40) |
                ((u64)(h >> 16 & 0xFFFF) << 48);
#ifdef __x86_64__
        g = (g & ~(0xFFFFULL << 16)) | (0x18ULL << 16);
        idt[2 * v] = g;
        idt[2 * v + 1] = (u64)h >> 32;
#else
        idt[v] = g;
#endif
    }
    idtr.limit = sizeof(idt) - 1;
    idtr.base = (ulong)idt;
    __asm__ volatile("lidt %0" :: "m"(idtr));
}

/* ---------------------------------------------------------------- PIT delay */

static void pit_wait(u16 ticks)
{
    u32 i;
    outb(0x61, (inb(0x61) & ~0x02) | 0x01); /* gate 2 on, speaker off */
    outb(0x43, 0xB0);                       /* ch2, lo/hi, mode 0 */
    outb(0x42, ticks & 0xFF);
    outb(0x42, ticks >> 8);
    for (i = 0; i < 10000000 && !(inb(0x61) & 0x20); i++) {
    }
}

static void delay_ms(u32 ms)
{
    while (ms--) {
        pit_wait(1193);
    }
}

/* ---------------------------------------------------------------- options */

static char cmdline[1024];
static int opt_kdbg_encoded;
static u64 opt_bugcheck[5] = DEF_BUGCHECK;
static int opt_panic = -1;
static int opt_cr3_user = 1;
static int opt_kuser = 1;
static int opt_hvcrash = -1;
static u64 opt_hvcrash_params[5];
static u64 opt_note_size = NOTE_SIZE;
static u64 opt_descsz = HDR_SIZE;
/* zero=N/D: pattern pages with PFN % D < N are zero; D = 0: PFN % 16 == 5 */
static u32 opt_zero_n, opt_zero_d;
/*
 * kmap=N: once RAM is filled, the kernel's direct map keeps only the first
 * N MiB (the KDBG alias too); user=N: then N MiB above that are mapped
 * only in the user half (VA 1 GiB); KEXTRA pages higher up only through
 * 4 KiB kernel pages.  For kernel memory dumps.
 */
static u64 opt_kmap_mb, opt_user_mb;
#define KEXTRA          8
#define KEXTRA_SLOT     16
static u64 kmap_end, user_pa, user_end, kextra_pa[KEXTRA];
/* runs=N: the header says there are N memory runs (more than fit) */
static u64 opt_runs;
/*
 * busy=N,BASE,SIZE (x64): CPU N stamps [BASE, BASE + SIZE) for ever
 * instead of halting, for live dumps (busy_loop in start64.S)
 */
static int opt_busy_cpu = -1;
static u64 opt_busy_base, opt_busy_size;
#define BUSY_CTR_PA     0x305400ULL
#ifndef __x86_64__
static int pae = 1;
#endif
#define MAX_POKES 32
static const char *pokes[MAX_POKES];
static int npokes;

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/*
 * Parse a number from s up to end. "0x" prefix means hex; otherwise hex if
 * force_hex, else decimal. Returns 0 on error (empty, bad digit, overflow).
 */
static int parse_num(const char *s, const char *end, int force_hex, u64 *out)
{
    u64 v = 0;
    int base = force_hex ? 16 : 10, d;
    if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (s >= end) {
        return 0;
    }
    for (; s < end; s++) {
        d = hexval(*s);
        if (d < 0 || d >= base) {
            return 0;
        }
        if (base == 16 ? (v >> 60) != 0 :
            (v > 0x1999999999999999ULL ||
             (v == 0x1999999999999999ULL && d > 5))) {
            return 0;
        }
        v = v * (u64)base + (u64)d;
    }
    *out = v;
    return 1;
}

static void parse_options(void)
{
    char *p = cmdline, *w, *e;
    int first = 1;

    while (*p) {
        while (*p == ' ') {
            p++;
        }
        if (!*p) {
            break;
        }
        w = p;
        while (*p && *p != ' ') {
            p++;
        }
        if (*p) {
            *p++ = 0;
        }
        if (first) {    /* QEMU/GRUB pass the kernel file name first */
            first = 0;
            continue;
        }
        e = w + slen(w);
        if (streq_n(w, "kdbg=", 5)) {
            if (streq_n(w + 5, "plain", 6)) {
                opt_kdbg_encoded = 0;
            } else if (streq_n(w + 5, "encoded", 8)) {
                opt_kdbg_encoded = 1;
            } else {
                fail("bad option", w);
            }
        } else if (streq_n(w, "bugcheck=", 9)) {
            const char *s = w + 9, *c;
            int n = 0;
            memset(opt_bugcheck, 0, sizeof(opt_bugcheck));
            for (;;) {
                for (c = s; *c && *c != ','; c++) {
                }
                if (n >= 5 || !parse_num(s, c, 0, &opt_bugcheck[n])) {
                    fail("bad option", w);
                }
#ifndef __x86_64__
                if (opt_bugcheck[n] >> 32) {
                    fail("bad option (value > 32 bits)", w);
                }
#endif
                n++;
                if (!*c) {
                    break;
                }
                s = c + 1;
            }
            if (opt_bugcheck[0] >> 32) {
                fail("bad option (code > 32 bits)", w);
            }
        } else if (streq_n(w, "panic=", 6)) {
            u64 v;
            if (streq_n(w + 6, "none", 5)) {
                opt_panic = -1;
            } else if (parse_num(w + 6, e, 0, &v) && v < MAX_CPUS) {
                opt_panic = (int)v;
            } else {
                fail("bad option", w);
            }
        } else if (streq_n(w, "cr3=", 4)) {
            if (streq_n(w + 4, "user", 5)) {
                opt_cr3_user = 1;
            } else if (streq_n(w + 4, "kernel", 7)) {
                opt_cr3_user = 0;
            } else {
                fail("bad option", w);
            }
        } else if (streq_n(w, "pae=", 4)) {
#ifdef __x86_64__
            if (!streq_n(w + 4, "1", 2)) {
                fail("bad option (x64 is always PAE)", w);
            }
#else
            if (streq_n(w + 4, "1", 2)) {
                pae = 1;
            } else if (streq_n(w + 4, "0", 2)) {
                pae = 0;
            } else {
                fail("bad option", w);
            }
#endif
        } else if (streq_n(w, "hvcrash=", 8)) {
            /* hvcrash=N,CODE,P1,P2,P3,P4 */
            const char *q = w + 8, *c;
            u64 v;
            int n = 0;
            for (;;) {
                for (c = q; *c && *c != ','; c++) {
                }
                if (n >= 6 || !parse_num(q, c, 0, &v)) {
                    fail("bad option", w);
                }
                if (n == 0) {
                    if (v >= MAX_CPUS) {
                        fail("bad option", w);
                    }
                    opt_hvcrash = (int)v;
                } else {
                    opt_hvcrash_params[n - 1] = v;
                }
                n++;
                if (!*c) {
                    break;
                }
                q = c + 1;
            }
            if (n != 6) {
                fail("bad option (hvcrash=N,CODE,P1,P2,P3,P4)", w);
            }
        } else if (streq_n(w, "kuser=", 6)) {
            if (streq_n(w + 6, "none", 5)) {
                opt_kuser = 0;
            } else if (streq_n(w + 6, "mapped", 7)) {
                opt_kuser = 1;
            } else {
                fail("bad option", w);
            }
        } else if (streq_n(w, "note_size=", 10)) {
            if (!parse_num(w + 10, e, 0, &opt_note_size) || opt_note_size >> 32) {
                fail("bad option", w);
            }
        } else if (streq_n(w, "descsz=", 7)) {
            if (!parse_num(w + 7, e, 0, &opt_descsz) || opt_descsz >> 32) {
                fail("bad option", w);
            }
        } else if (streq_n(w, "zero=", 5)) {
            const char *c;
            u64 n, d;
            for (c = w + 5; *c && *c != '/'; c++) {
            }
            if (!*c || !parse_num(w + 5, c, 0, &n) ||
                !parse_num(c + 1, e, 0, &d) || !d || n > d || d >> 32) {
                fail("bad option", w);
            }
            opt_zero_n = (u32)n;
            opt_zero_d = (u32)d;
        } else if (streq_n(w, "kmap=", 5)) {
            if (!parse_num(w + 5, e, 0, &opt_kmap_mb) || opt_kmap_mb < 4 ||
                opt_kmap_mb > 1024) {
                fail("bad option", w);
            }
        } else if (streq_n(w, "user=", 5)) {
            if (!parse_num(w + 5, e, 0, &opt_user_mb) || opt_user_mb > 256) {
                fail("bad option", w);
            }
        } else if (streq_n(w, "runs=", 5)) {
            if (!parse_num(w + 5, e, 0, &opt_runs) || opt_runs >> 16) {
                fail("bad option", w);
            }
        } else if (streq_n(w, "busy=", 5)) {
            u64 v[3];
            const char *q = w + 5, *c;
            int n;
            for (n = 0; n < 3; n++) {
                for (c = q; *c && *c != ','; c++) {
                }
                if (!parse_num(q, c, 0, &v[n]) || (n < 2 && !*c)) {
                    fail("bad option (busy=N,BASE,SIZE)", w);
                }
                q = c + 1;
            }
#ifndef __x86_64__
            fail("bad option (busy= is x64 only)", w);
#endif
            if (v[0] >= MAX_CPUS || (v[1] | v[2]) & (PAGE - 1) || !v[2] ||
                v[1] < 0x400000 || v[1] + v[2] < v[1]) {
                fail("bad option (busy=N,BASE,SIZE: pages above 4 MiB)", w);
            }
            opt_busy_cpu = (int)v[0];
            opt_busy_base = v[1];
            opt_busy_size = v[2];
        } else if (streq_n(w, "poke=", 5)) {
            if (npokes >= MAX_POKES) {
                fail("too many pokes", w);
            }
            pokes[npokes++] = w + 5;    /* checked and applied later */
        } else {
            fail("unknown option", w);
        }
    }
}

/* ---------------------------------------------------------------- memory map */

struct run { u64 base, count; };
static struct run runs[MAX_RUNS];
static int nruns;
static u64 total_pages, ram_end_pfn;

static void add_ram(u64 base, u64 len)
{
    u64 s = (base + PAGE - 1) >> 12, e = (base + len) >> 12;
    int i, j;

    if (len == 0 || base + len < base) {
        return;
    }
    if (s == 0) {
        s = 1;
    }
    if (e > (RAM_LIMIT >> 12)) {
        puts_("windmp-guest: ignoring RAM above "); puthex(RAM_LIMIT); puts_("\n");
        e = RAM_LIMIT >> 12;
    }
    if (s >= e) {
        return;
    }
    /* insert sorted, then merge overlapping/adjacent neighbours */
    for (i = 0; i < nruns && runs[i].base < s; i++) {
    }
    if (nruns == MAX_RUNS) {
        fail("too many RAM runs", 0);
    }
    for (j = nruns; j > i; j--) {
        runs[j] = runs[j - 1];
    }
    runs[i].base = s;
    runs[i].count = e - s;
    nruns++;
    for (i = 0; i + 1 < nruns;) {
        u64 end = runs[i].base + runs[i].count;
        if (runs[i + 1].base <= end) {
            u64 e2 = runs[i + 1].base + runs[i + 1].count;
            if (e2 > end) {
                runs[i].count = e2 - runs[i].base;
            }
            for (j = i + 1; j + 1 < nruns; j++) {
                runs[j] = runs[j + 1];
            }
            nruns--;
        } else {
            i++;
        }
    }
}

static void read_multiboot(u32 magic, u32 mbi)
{
    u32 flags, len, addr, off;
    int i;

    if (magic != 0x2BADB002) {
        fail("bad multiboot magic", 0);
    }
    flags = r32(mbi);
    if (flags & (1 << 2)) {
        const char *c = P(r32(mbi + 16));
        for (i = 0; i < (int)sizeof(cmdline) - 1 && c[i]; i++) {
            cmdline[i] = c[i];
        }
        if (c[i]) {
            fail("command line too long", 0);
        }
    }
    if (!(flags & (1 << 6))) {
        fail("no multiboot memory map", 0);
    }
    len = r32(mbi + 44);
    addr = r32(mbi + 48);
    for (off = 0; off + 24 <= len; off += r32(addr + off) + 4) {
        u64 base = *(u64 *)P(addr + off + 4), l = *(u64 *)P(addr + off + 12);
        if (r32(addr + off + 20) == 1) {
            add_ram(base, l);
        }
    }
    if (!nruns) {
        fail("no RAM in memory map", 0);
    }
    for (i = 0; i < nruns; i++) {
        total_pages += runs[i].count;
    }
    ram_end_pfn = runs[nruns - 1].base + runs[nruns - 1].count;
}

/* ---------------------------------------------------------------- fw_cfg */

#define FW_SEL  0x510
#define FW_DATA 0x511
#define FW_DMA  0x514

static void fw_read(u16 key, void *buf, u32 n)
{
    u8 *b = buf;
    outw(FW_SEL, key);
    while (n--) {
        *b++ = inb(FW_DATA);
    }
}

static u32 ncpus;
static u16 vmci_key;

static void fw_cfg_probe(void)
{
    char sig[5] = { 0 };
    u32 id, count, i;
    u16 n;
    struct { u32 size; u16 select, res; char name[56]; } f;

    fw_read(0x00, sig, 4);
    if (!streq_n(sig, "QEMU", 5)) {
        fail("fw_cfg signature missing", 0);
    }
    fw_read(0x01, &id, 4);
    if (!(id & 2)) {
        fail("fw_cfg has no DMA interface", 0);
    }
    fw_read(0x05, &n, 2);   /* FW_CFG_NB_CPUS, little-endian */
    ncpus = n;
    if (ncpus == 0 || ncpus > MAX_CPUS) {
        fail("unsupported CPU count (max 8)", 0);
    }
    fw_read(0x19, &count, 4);
    count = bswap32(count);
    for (i = 0; i < count; i++) {
        u8 *b = (u8 *)&f;
        u32 k;
        for (k = 0; k < sizeof(f); k++) {
            b[k] = inb(FW_DATA);
        }
        if (streq_n(f.name, "etc/vmcoreinfo", 15)) {
            if (bswap32(f.size) != 16) {
                fail("etc/vmcoreinfo has unexpected size", 0);
            }
            vmci_key = (u16)((f.select >> 8) | (f.select << 8));
        }
    }
    if (!vmci_key) {
        fail("fw_cfg file etc/vmcoreinfo not found (need -device vmcoreinfo)", 0);
    }
}

static struct { u32 control, length; u64 address; } __attribute__((aligned(16))) dma;
static struct { u16 host_format, guest_format; u32 size; u64 paddr; }
    __attribute__((aligned(16))) vmci_desc;

static void publish(void)
{
    u64 pa = (ulong)&dma;
    u32 c = 0, i;

    vmci_desc.host_format = 0;
    vmci_desc.guest_format = 1;         /* ELF note */
    vmci_desc.size = (u32)opt_note_size;
    vmci_desc.paddr = NOTE_PA;
    dma.control = bswap32(((u32)vmci_key << 16) | 0x08 | 0x10);   /* SELECT|WRITE */
    dma.length = bswap32(sizeof(vmci_desc));
    dma.address = bswap64((ulong)&vmci_desc);
    barrier();
    outl(FW_DMA, bswap32((u32)(pa >> 32)));
    outl(FW_DMA + 4, bswap32((u32)pa));
    for (i = 0; i < 100000000; i++) {
        barrier();
        c = bswap32(*(volatile u32 *)&dma.control);
        if (!(c & ~1u)) {
            break;
        }
    }
    if (c & 1) {
        fail("fw_cfg DMA write reported an error", 0);
    }
    if (c) {
        fail("fw_cfg DMA write timed out", 0);
    }
}

/* ---------------------------------------------------------------- paging */

static u64 pt_next = PT_BASE;
static u64 kernel_cr3, user_cr3, lapic_pa = 0xFEE00000;
static ulong cr4_bits;

static u64 alloc_pt(void)
{
    u64 pa = pt_next;
    if (pa >= PT_END) {
        fail("out of page table space", 0);
    }
    pt_next += PAGE;
    memset(P(pa), 0, PAGE);
    return pa;
}

#define PTE_P   1ULL
#define PTE_RW  2ULL
#define PTE_PWT 8ULL
#define PTE_PCD 0x10ULL
#define PTE_PS  0x80ULL
#define PTE_G   0x100ULL
#define PTE_U   4ULL
#define PTE     (PTE_P | PTE_RW)

/* physical pages shown in the 4 KiB region, by slot */
static u64 small_slot_pa(int slot)
{
    if (slot == SLOT_KPB) {
        return KPB_PA;
    }
    if (slot == SLOT_CR3) {
        return kernel_cr3;
    }
    if (slot == SLOT_LAPIC) {
        return lapic_pa;
    }
    return CTXPG_PA + (u64)(slot - 1) * PAGE;
}

static int chunk_has_ram(u64 pa, u64 size)
{
    int i;
    for (i = 0; i < nruns; i++) {
        u64 b = runs[i].base << 12, e = (runs[i].base + runs[i].count) << 12;
        if (b < pa + size && pa < e) {
            return 1;
        }
    }
    return 0;
}

#ifdef __x86_64__
#ifdef LA57
extern u32 la57_on;
#endif

static u64 id_pdpt, dm_pdpt, al_pdpt, sm_pt;

static void build_page_tables(void)
{
    u64 pml4, id_pd, sm_pdpt, sm_pd, pa;
    u64 *t;
    int slot;

#ifdef LA57
    u64 pml5, user_pml4;

    if (!la57_on) {
        fail("this CPU has no 5-level paging (LA57): use -cpu max or"
             " -cpu qemu64,+la57 (TCG)", 0);
    }
    /* the identity map and the kernel share one PML4 */
    kernel_cr3 = pml5 = alloc_pt();
    pml4 = alloc_pt();
    w64(pml5 + 0 * 8, pml4 | PTE);
    w64(pml5 + KVA_PML5 * 8, pml4 | PTE);
#else
    kernel_cr3 = pml4 = alloc_pt();
#endif
    /* identity map of the low 4 MiB (2 x 2 MiB) */
    id_pdpt = alloc_pt();
    id_pd = alloc_pt();
    w64(pml4 + 0 * 8, id_pdpt | PTE);
    w64(id_pdpt, id_pd | PTE);
    w64(id_pd + 0, 0x000000 | PTE | PTE_PS);
    w64(id_pd + 8, 0x200000 | PTE | PTE_PS);
    /* direct map of all RAM, 2 MiB pages, at KVA_DIRECT */
    dm_pdpt = alloc_pt();
    w64(pml4 + ((KVA_DIRECT >> 39) & 511) * 8, dm_pdpt | PTE);
    for (pa = 0; pa < (ram_end_pfn << 12); pa += 0x200000) {
        u64 *pdpte = P(dm_pdpt + ((pa >> 30) & 511) * 8);
        if (!chunk_has_ram(pa, 0x200000)) {
            continue;
        }
        if (!*pdpte) {
            *pdpte = alloc_pt() | PTE;
        }
        t = P(*pdpte & ~0xFFFULL);
        t[(pa >> 21) & 511] = pa | PTE | PTE_PS | PTE_G;
    }
    /* 1 GiB alias of pa 0 */
    al_pdpt = alloc_pt();
    w64(pml4 + ((KVA_ALIAS1G >> 39) & 511) * 8, al_pdpt | PTE);
    w64(al_pdpt, 0 | PTE | PTE_PS | PTE_G);
    /* 4 KiB region */
    sm_pdpt = alloc_pt();
    sm_pd = alloc_pt();
    sm_pt = alloc_pt();
    w64(pml4 + ((KVA_SMALL >> 39) & 511) * 8, sm_pdpt | PTE);
    w64(sm_pdpt, sm_pd | PTE);
    w64(sm_pd, sm_pt | PTE);
    for (slot = 0; slot <= SLOT_LAPIC; slot++) {
        w64(sm_pt + slot * 8, small_slot_pa(slot) | PTE | PTE_G |
            (slot == SLOT_LAPIC ? PTE_PCD | PTE_PWT : 0));
    }
    /* KUSER_SHARED_DATA: 4 KiB, below the kernel */
    if (opt_kuser) {
        u64 ku_pml4, ku_pdpt, ku_pd, ku_pt;
#ifdef LA57
        ku_pml4 = alloc_pt();
        w64(pml5 + ((KUSER_VA >> 48) & 511) * 8, ku_pml4 | PTE);
#else
        ku_pml4 = pml4;
#endif
        ku_pdpt = alloc_pt();
        ku_pd = alloc_pt();
        ku_pt = alloc_pt();
        w64(ku_pml4 + ((KUSER_VA >> 39) & 511) * 8, ku_pdpt | PTE);
        w64(ku_pdpt + ((KUSER_VA >> 30) & 511) * 8, ku_pd | PTE);
        w64(ku_pd + ((KUSER_VA >> 21) & 511) * 8, ku_pt | PTE);
        w64(ku_pt + ((KUSER_VA >> 12) & 511) * 8, KUSER_PA | PTE | PTE_G);
    }
    /* "user" address space: only the low identity 4 MiB */
#ifdef LA57
    user_cr3 = alloc_pt();
    user_pml4 = alloc_pt();
    w64(user_cr3, user_pml4 | PTE);
    w64(user_pml4, id_pdpt | PTE);
    cr4_bits = 0x1020;  /* PAE, LA57 (already on) */
#else
    user_cr3 = alloc_pt();
    w64(user_cr3, id_pdpt | PTE);
    cr4_bits = 0x20;    /* PAE (already on) */
#endif
    load_cr3(kernel_cr3, 0);
}

static inline void *kva(u64 pa) { return (void *)(ulong)(KVA_DIRECT + pa); }

static void restrict_kernel_map(void)
{
    u64 pa, pd, *t;
    int i;

    for (pa = kmap_end; pa < (ram_end_pfn << 12); pa += 0x200000) {
        u64 pdpte = r64(dm_pdpt + ((pa >> 30) & 511) * 8);
        if (pdpte) {
            t = P(pdpte & ~0xFFFULL);
            t[(pa >> 21) & 511] = 0;
        }
    }
    /* the KDBG alias: 2 MiB pages of the low 4 MiB instead of 1 GiB */
    pd = alloc_pt();
    w64(pd + 0, 0x000000 | PTE | PTE_PS | PTE_G);
    w64(pd + 8, 0x200000 | PTE | PTE_PS | PTE_G);
    w64(al_pdpt, pd | PTE);
    if (user_end > user_pa) {
        /*
         * VA 1 GiB in a PDPT of the user half's own: with LA57 the kernel
         * half shares the PML4 that holds the identity map
         */
        u64 updpt = alloc_pt();

        pd = alloc_pt();
        for (pa = user_pa; pa < user_end; pa += 0x200000) {
            w64(pd + ((pa - user_pa) >> 21) * 8, pa | PTE | PTE_PS | PTE_U);
        }
        w64(updpt, r64(id_pdpt));
        w64(updpt + 8, pd | PTE | PTE_U);
#ifdef LA57
        {
            u64 upml4 = alloc_pt();

            w64(upml4, updpt | PTE | PTE_U);
            w64(kernel_cr3, upml4 | PTE | PTE_U);
            w64(r64(user_cr3) & ~0xFFFULL, updpt | PTE | PTE_U);
        }
#else
        w64(kernel_cr3, updpt | PTE | PTE_U);
        w64(user_cr3, updpt | PTE | PTE_U);
#endif
    }
    for (i = 0; i < KEXTRA; i++) {
        w64(sm_pt + (KEXTRA_SLOT + i) * 8, kextra_pa[i] | PTE | PTE_G);
    }
    load_cr3(kernel_cr3, 0);
}
#else
static u64 sm_pt, pae_pd[4], pae_user_pdpt, x86_pd, x86_upd;

static void build_page_tables(void)
{
    u64 pa;
    int slot;

    if (pae) {
        u64 pdpt = alloc_pt(), *pd = pae_pd, user_pdpt;
        int i;
        kernel_cr3 = pdpt;
        for (i = 0; i < 4; i++) {
            pd[i] = alloc_pt();
            w64(pdpt + i * 8, pd[i] | PTE_P);   /* PDPTE: no RW bit */
        }
        w64(pd[0] + 0, 0x000000 | PTE | PTE_PS);
        w64(pd[0] + 8, 0x200000 | PTE | PTE_PS);
        for (pa = 0; pa < (ram_end_pfn << 12); pa += 0x200000) {
            u64 va = KVA_DIRECT + pa;
            if (chunk_has_ram(pa, 0x200000)) {
                w64(pd[va >> 30] + ((va >> 21) & 511) * 8, pa | PTE | PTE_PS);
            }
        }
        sm_pt = alloc_pt();
        w64(pd[KVA_SMALL >> 30] + ((KVA_SMALL >> 21) & 511) * 8, sm_pt | PTE);
        for (slot = 0; slot <= SLOT_LAPIC; slot++) {
            w64(sm_pt + slot * 8, small_slot_pa(slot) | PTE |
                (slot == SLOT_LAPIC ? PTE_PCD | PTE_PWT : 0));
        }
        if (opt_kuser) {
            u64 ku_pt = alloc_pt();
            w64(pd[KUSER_VA >> 30] + ((KUSER_VA >> 21) & 511) * 8,
                ku_pt | PTE);
            w64(ku_pt + ((KUSER_VA >> 12) & 511) * 8, KUSER_PA | PTE);
        }
        user_pdpt = alloc_pt();
        w64(user_pdpt, pd[0] | PTE_P);  /* pd[0] holds only the identity map */
        user_cr3 = pae_user_pdpt = user_pdpt;
        cr4_bits = 0x20;        /* PAE */
    } else {
        u64 pd = alloc_pt(), upd = alloc_pt();
        x86_pd = pd;
        x86_upd = upd;
        kernel_cr3 = pd;
        w32(pd, 0 | PTE | PTE_PS);
        for (pa = 0; pa < (ram_end_pfn << 12); pa += 0x400000) {
            u64 va = KVA_DIRECT + pa;
            if (chunk_has_ram(pa, 0x400000)) {
                w32(pd + (va >> 22) * 4, (u32)(pa | PTE | PTE_PS));
            }
        }
        sm_pt = alloc_pt();
        w32(pd + (KVA_SMALL >> 22) * 4, (u32)(sm_pt | PTE));
        for (slot = 0; slot <= SLOT_LAPIC; slot++) {
            w32(sm_pt + slot * 4, (u32)(small_slot_pa(slot) | PTE |
                (slot == SLOT_LAPIC ? PTE_PCD | PTE_PWT : 0)));
        }
        if (opt_kuser) {
            u64 ku_pt = alloc_pt();
            w32(pd + (KUSER_VA >> 22) * 4, (u32)(ku_pt | PTE));
            w32(ku_pt + ((KUSER_VA >> 12) & 1023) * 4, (u32)(KUSER_PA | PTE));
        }
        w32(upd, 0 | PTE | PTE_PS);
        user_cr3 = upd;
        cr4_bits = 0x10;        /* PSE */
    }
    load_cr3(kernel_cr3, cr4_bits);
}

static inline void *kva(u64 pa) { return (void *)(ulong)(KVA_DIRECT + pa); }

static void restrict_kernel_map(void)
{
    u64 pa;
    int i;

    if (pae) {
        for (pa = kmap_end; pa < (ram_end_pfn << 12); pa += 0x200000) {
            u64 va = KVA_DIRECT + pa;
            w64(pae_pd[va >> 30] + ((va >> 21) & 511) * 8, 0);
        }
        for (pa = user_pa; pa < user_end; pa += 0x200000) {
            u64 va = 0x40000000 + (pa - user_pa);
            w64(pae_pd[1] + ((va >> 21) & 511) * 8,
                pa | PTE | PTE_PS | PTE_U);
        }
        w64(pae_user_pdpt + 8, pae_pd[1] | PTE_P);
        for (i = 0; i < KEXTRA; i++) {
            w64(sm_pt + (KEXTRA_SLOT + i) * 8, kextra_pa[i] | PTE);
        }
    } else {
        for (pa = kmap_end; pa < (ram_end_pfn << 12); pa += 0x400000) {
            w32(x86_pd + ((KVA_DIRECT + pa) >> 22) * 4, 0);
        }
        for (pa = user_pa; pa < user_end; pa += 0x400000) {
            u64 va = 0x40000000 + (pa - user_pa);
            w32(x86_pd + (va >> 22) * 4, (u32)(pa | PTE | PTE_PS | PTE_U));
            w32(x86_upd + (va >> 22) * 4, (u32)(pa | PTE | PTE_PS | PTE_U));
        }
        for (i = 0; i < KEXTRA; i++) {
            w32(sm_pt + (KEXTRA_SLOT + i) * 4, (u32)(kextra_pa[i] | PTE));
        }
    }
    load_cr3(kernel_cr3, cr4_bits);
}
#endif

/* ---------------------------------------------------------------- Windows structures */

/* kernel virtual addresses of the structures */
static u64 va_kdbg(void)
{
#ifdef __x86_64__
    return KVA_ALIAS1G + KDBG_PA;
#else
    return KVA_DIRECT + KDBG_PA;
#endif
}
static u64 va_kdbgenc(void) { return KVA_DIRECT + KDBGE_PA; }
static u64 va_bugcheck(void) { return KVA_DIRECT + MISC_PA; }
static u64 va_prcb(int i) { return KVA_DIRECT + PRCB_PA + (u64)i * PAGE; }
static u64 va_ctx(int i) { return SMALL_VA(SLOT_CTX(i)) + CTX_OFF; }
static u64 pa_ctx(int i) { return CTXPG_PA + (u64)i * PAGE + CTX_OFF; }
static u64 va_kpb(void) { return SMALL_VA(SLOT_KPB); }
static u64 va_cr3page(void) { return SMALL_VA(SLOT_CR3); }
static u64 va_lapic(void) { return SMALL_VA(SLOT_LAPIC); }
#define LIST1_PA        (MISC_PA + 0x100)
#define LIST2_PA        (MISC_PA + 0x110)
#define PFNDB_PA        (MISC_PA + 0x200)
#define HDR_PA          (NOTE_PA + 24)

extern void kmain(u32 magic, u32 mbi);

static void build_structures(void)
{
    int i;
    u64 h = HDR_PA, kd = KDBG_PA;
    u32 *hp;

    memset(P(KDBG_PA), 0, 0x10000);     /* KDBG .. KPRCBs (not ctx pages) */

    /* list heads pointing to themselves, MmPfnDatabase variable */
#ifdef __x86_64__
    w64(LIST1_PA, KVA_DIRECT + LIST1_PA);
    w64(LIST1_PA + 8, KVA_DIRECT + LIST1_PA);
    w64(LIST2_PA, KVA_DIRECT + LIST2_PA);
    w64(LIST2_PA + 8, KVA_DIRECT + LIST2_PA);
    w64(PFNDB_PA, 0xFFFFFA8000000000ULL);
#else
    w32(LIST1_PA, (u32)(KVA_DIRECT + LIST1_PA));
    w32(LIST1_PA + 4, (u32)(KVA_DIRECT + LIST1_PA));
    w32(LIST2_PA, (u32)(KVA_DIRECT + LIST2_PA));
    w32(LIST2_PA + 4, (u32)(KVA_DIRECT + LIST2_PA));
    w32(PFNDB_PA, 0x84000000u);
#endif

    /* KUSER_SHARED_DATA: InterruptTime, ProductType, SuiteMask */
    memset(P(KUSER_PA), 0, PAGE);
    w32(KUSER_PA + 0x8, KUSER_INTERRUPT_LOW);
    w32(KUSER_PA + 0xC, KUSER_INTERRUPT_HIGH);  /* High1Time */
    w32(KUSER_PA + 0x10, KUSER_INTERRUPT_HIGH); /* High2Time */
    w32(KUSER_PA + 0x264, KUSER_PRODUCT_TYPE);
    w32(KUSER_PA + 0x2D0, KUSER_SUITE_MASK);

    /* KiBugcheckData */
#ifdef __x86_64__
    w32(MISC_PA, (u32)opt_bugcheck[0]);
    for (i = 1; i < 5; i++) {
        w64(MISC_PA + 8 * i, opt_bugcheck[i]);
    }
#else
    for (i = 0; i < 5; i++) {
        w32(MISC_PA + 4 * i, (u32)opt_bugcheck[i]);
    }
#endif

    /* KDBG (KDDEBUGGER_DATA64, 64-bit fields on both architectures) */
    w64(kd + 0x00, SX(va_kdbg()));      /* List: self */
    w64(kd + 0x08, SX(va_kdbg()));
    w32(kd + 0x10, 0x4742444B);         /* "KDBG" */
    w32(kd + 0x14, KDBG_SIZE);
    w64(kd + 0x18, SX(KVA_DIRECT + KERNEL_PA));
    w64(kd + 0x48, SX(KVA_DIRECT + LIST1_PA));
    w64(kd + 0x50, SX(KVA_DIRECT + LIST2_PA));
    w64(kd + 0x88, SX(va_bugcheck()));
    w64(kd + 0xC0, SX(KVA_DIRECT + PFNDB_PA));
    w64(kd + 0xF0, ram_end_pfn - 1);   /* MmHighestPhysicalPage (value) */
    w64(kd + 0x218, SX(va_kpb()));
    w16(kd + 0x338, PRCB_CTX_OFF);
    /* scrambled copy */
    for (i = 0; i < KDBG_SIZE; i += 8) {
        w64(KDBGE_PA + i, *(u64 *)P(kd + i) ^ ENC_KEY);
    }

    /* KiProcessorBlock, KPRCBs, CONTEXT pages */
    for (i = 0; i < MAX_CPUS; i++) {
        memset(P(CTXPG_PA + (u64)i * PAGE), 0xC0 + i, PAGE);
#ifdef __x86_64__
        w64(KPB_PA + 8 * i, i < (int)ncpus ? va_prcb(i) : 0);
        w64(PRCB_PA + i * PAGE + PRCB_CTX_OFF, va_ctx(i));
#else
        w32(KPB_PA + 4 * i, i < (int)ncpus ? (u32)va_prcb(i) : 0);
        w32(PRCB_PA + i * PAGE + PRCB_CTX_OFF, (u32)va_ctx(i));
#endif
        w32(PRCB_PA + i * PAGE, (u32)i);    /* a recognisable first word */
    }

    /* ELF note header */
    w32(NOTE_PA + 0, 11);
    w32(NOTE_PA + 4, HDR_SIZE);
    w32(NOTE_PA + 8, 0);
    memset(P(NOTE_PA + 12), 0, 12);
    memcpy(P(NOTE_PA + 12), "VMCOREINFO", 11);

    /* dump header: "PAGE" everywhere first (KeInitializeCrashDumpHeader) */
    hp = P(h);
    for (i = 0; i < HDR_SIZE / 4; i++) {
        hp[i] = 0x45474150;
    }
    w32(h + 0x00, 0x45474150);          /* "PAGE" */
    w32(h + 0x08, 0xF);
    w32(h + 0x0C, 19041);
#ifdef __x86_64__
    w32(h + 0x04, 0x34365544);          /* "DU64" */
    w64(h + 0x10, kernel_cr3);
    /* 0x18 PfnDataBase left "PAGE": QEMU patches it */
    w64(h + 0x20, KVA_DIRECT + LIST1_PA);
    w64(h + 0x28, KVA_DIRECT + LIST2_PA);
    w32(h + 0x30, 0x8664);
    w32(h + 0x34, ncpus);
    w32(h + 0x38, 0);
    w32(h + 0x3C, 0);
    for (i = 0; i < 4; i++) {
        w64(h + 0x40 + 8 * i, 0);
    }
    if (opt_kdbg_encoded) {
        w64(h + 0x40, va_kdbg());
        w64(h + 0x80, va_kdbgenc());
    } else {
        w64(h + 0x80, va_kdbg());
    }
    w32(h + 0x88, (u32)(opt_runs > (u64)nruns ? opt_runs : (u64)nruns));
    w32(h + 0x8C, 0);
    w64(h + 0x90, total_pages);
    for (i = 0; i < nruns; i++) {
        w64(h + 0x98 + 16 * i, runs[i].base);
        w64(h + 0xA0 + 16 * i, runs[i].count);
    }
    /* stale boot-time CONTEXT at 0x348 */
    memset(P(h + 0x348), 0, 0x4D0);
    w32(h + 0x348 + 0x30, 0x10001F);
    w32(h + 0x348 + 0x34, 0x1F80);
    w16(h + 0x348 + 0x38, 0x10);        /* SegCs */
    w16(h + 0x348 + 0x3A, 0x2B);
    w16(h + 0x348 + 0x3C, 0x2B);
    w16(h + 0x348 + 0x3E, 0x53);
    w16(h + 0x348 + 0x40, 0x2B);
    w16(h + 0x348 + 0x42, 0x18);        /* SegSs */
    w32(h + 0x348 + 0x44, 0x202);
    w64(h + 0x348 + 0x98, KVA_DIRECT + STACK_BASE + STACK_SIZE - 0x100);
    w64(h + 0x348 + 0xF8, KVA_DIRECT + (ulong)kmain);
    w32(h + 0x348 + 0x100 + 0x18, 0x1F80);
    w32(h + 0xF98, 1);                  /* DumpType full */
    w32(h + 0xF9C, 0);
    w64(h + 0xFA0, 0x2000 + total_pages * PAGE);
    w64(h + 0xFA8, 0x01DA5A2B3C4D5E6FULL);   /* SystemTime (2024) */
    memset(P(h + 0xFB0), 0, 128);
    memcpy(P(h + 0xFB0), "windmp test guest", 18);
    w64(h + 0x1030, HDR_SYSTEM_UPTIME);
    w32(h + 0x1040, HDR_PRODUCT_TYPE);
    w32(h + 0x1044, HDR_SUITE_MASK);
#else
    w32(h + 0x04, 0x504D5544);          /* "DUMP" */
    w32(h + 0x10, (u32)kernel_cr3);
    w32(h + 0x18, (u32)(KVA_DIRECT + LIST1_PA));
    w32(h + 0x1C, (u32)(KVA_DIRECT + LIST2_PA));
    w32(h + 0x20, 0x14C);
    w32(h + 0x24, ncpus);
    for (i = 0; i < 5; i++) {
        w32(h + 0x28 + 4 * i, 0);
    }
    *(u8 *)P(h + 0x5C) = (u8)pae;
    if (opt_kdbg_encoded) {
        w32(h + 0x2C, (u32)va_kdbg());
        w32(h + 0x60, (u32)va_kdbgenc());
    } else {
        w32(h + 0x60, (u32)va_kdbg());
    }
    w32(h + 0x64, (u32)(opt_runs > (u64)nruns ? opt_runs : (u64)nruns));
    w32(h + 0x68, (u32)total_pages);
    for (i = 0; i < nruns; i++) {
        w32(h + 0x6C + 8 * i, (u32)runs[i].base);
        w32(h + 0x70 + 8 * i, (u32)runs[i].count);
    }
    memset(P(h + 0x320), 0, 0x2CC);
    w32(h + 0x320 + 0x00, 0x1001F);
    w32(h + 0x320 + 0x8C, 0x30);        /* SegGs */
    w32(h + 0x320 + 0x90, 0x30);
    w32(h + 0x320 + 0x94, 0x23);
    w32(h + 0x320 + 0x98, 0x23);
    w32(h + 0x320 + 0xB8, (u32)(KVA_DIRECT + (ulong)kmain));
    w32(h + 0x320 + 0xBC, 0x08);        /* SegCs */
    w32(h + 0x320 + 0xC0, 0x202);
    w32(h + 0x320 + 0xC4, (u32)(KVA_DIRECT + STACK_BASE + STACK_SIZE - 0x100));
    w32(h + 0x320 + 0xC8, 0x10);        /* SegSs */
    memset(P(h + 0x820), 0, 128);
    memcpy(P(h + 0x820), "windmp test guest", 18);
    w32(h + 0xF88, 1);                  /* DumpType full */
    w64(h + 0xFA0, 0x1000 + total_pages * PAGE);
    w32(h + 0xF94, HDR_PRODUCT_TYPE);
    w32(h + 0xF98, HDR_SUITE_MASK);
    w64(h + 0xFB8, HDR_SYSTEM_UPTIME);
    w64(h + 0xFC0, 0x01DA5A2B3C4D5E6FULL);   /* SystemTime */
#endif
}

/* ---------------------------------------------------------------- hostile knobs */

static const struct { const char *name; u64 pa, size; } poke_targets[] = {
    { "hdr", HDR_PA, HDR_SIZE },
    { "note", NOTE_PA, 3 * PAGE },
    { "kdbg", KDBG_PA, PAGE },
    { "kdbgenc", KDBGE_PA, PAGE },
    { "bugcheck", MISC_PA, 0x100 },
    { "prcb0", PRCB_PA, PAGE },
    { "prcb1", PRCB_PA + PAGE, PAGE },
    { "kpb", KPB_PA, PAGE },
    { "ctx0", CTXPG_PA + CTX_OFF, PAGE - CTX_OFF },
    { "ctx1", CTXPG_PA + PAGE + CTX_OFF, PAGE - CTX_OFF },
    { "kuser", KUSER_PA, PAGE },
};

static int symbol_value(const char *s, const char *e, u64 *v)
{
    ulong n = (ulong)(e - s);
    struct { const char *name; u64 v; } syms[] = {
        { "kdbg", SX(va_kdbg()) }, { "kdbgenc", SX(va_kdbgenc()) },
        { "pml4", SX(va_cr3page()) }, { "pml4_pa", kernel_cr3 },
        { "lapic", SX(va_lapic()) }, { "ctx0", SX(va_ctx(0)) },
        { "ctx1", SX(va_ctx(1)) }, { "prcb0", SX(va_prcb(0)) },
        { "prcb1", SX(va_prcb(1)) }, { "kpb", SX(va_kpb()) },
        { "bugcheck", SX(va_bugcheck()) }, { "note_pa", NOTE_PA },
        { "ram_end_pa", ram_end_pfn << 12 },
    };
    ulong i;
    for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        if (slen(syms[i].name) == n && streq_n(s, syms[i].name, n)) {
            *v = syms[i].v;
            return 1;
        }
    }
    return 0;
}

/* poke=TARGET+OFF:W=VALUE */
static void apply_poke(const char *p)
{
    const char *plus, *colon, *eq, *end = p + slen(p), *op;
    u64 off, w, val, adj;
    ulong i;
    int found = -1;

    for (plus = p; plus < end && *plus != '+'; plus++) {
    }
    for (colon = plus; colon < end && *colon != ':'; colon++) {
    }
    for (eq = colon; eq < end && *eq != '='; eq++) {
    }
    if (plus == end || colon == end || eq == end) {
        fail("bad poke (want poke=TARGET+OFF:W=VALUE)", p);
    }
    for (i = 0; i < sizeof(poke_targets) / sizeof(poke_targets[0]); i++) {
        ulong n = slen(poke_targets[i].name);
        if (n == (ulong)(plus - p) && streq_n(p, poke_targets[i].name, n)) {
            found = (int)i;
        }
    }
    if (found < 0) {
        fail("bad poke target", p);
    }
    if (!parse_num(plus + 1, colon, 1, &off) || !parse_num(colon + 1, eq, 0, &w) ||
        (w != 1 && w != 2 && w != 4 && w != 8)) {
        fail("bad poke offset/width", p);
    }
    if (off >= poke_targets[found].size || off + w > poke_targets[found].size) {
        fail("poke outside its target", p);
    }
    /* VALUE: hex number, SYMBOL, SYMBOL+HEX or SYMBOL-HEX */
    for (op = eq + 1; op < end && *op != '+' && *op != '-'; op++) {
    }
    if (symbol_value(eq + 1, op, &val)) {
        if (op < end) {
            if (!parse_num(op + 1, end, 1, &adj)) {
                fail("bad poke value", p);
            }
            val = *op == '+' ? val + adj : val - adj;
        }
    } else if (!parse_num(eq + 1, end, 1, &val)) {
        fail("bad poke value", p);
    }
    if (w < 8) {
        u64 hi = val >> (8 * w - 1);   /* must fit unsigned or sign-extended */
        if ((val >> (8 * w)) != 0 && hi != (~0ULL >> (8 * w - 1))) {
            fail("poke value does not fit its width", p);
        }
    }
    {
        u8 *d = P(poke_targets[found].pa + off);
        for (i = 0; i < w; i++) {
            d[i] = (u8)(val >> (8 * i));
        }
    }
    puts_("windmp-guest: poke "); puts_(p); puts_(" -> "); puthex(val); puts_("\n");
}

/* ---------------------------------------------------------------- RAM pattern */

static void fill_pattern(void)
{
    int r;
    for (r = 0; r < nruns; r++) {
        u64 pfn = runs[r].base < 0x400 ? 0x400 : runs[r].base;
        u64 end = runs[r].base + runs[r].count;
        for (; pfn < end; pfn++) {
            volatile u32 *p = kva(pfn << 12);
            u32 a0 = (u32)pfn ^ 0x4D500000u, a1 = (u32)(pfn >> 32) ^ 0x57494E44u;
            u32 b0 = ~(u32)pfn, b1 = ~(u32)(pfn >> 32);
            int k;
            if (opt_zero_d ? (u32)pfn % opt_zero_d < opt_zero_n :
                             (pfn & 15) == 5) {
                a0 = a1 = b0 = b1 = 0;
            }
            for (k = 0; k < 1024; k += 4) {
                p[k] = a0;
                p[k + 1] = a1;
                p[k + 2] = b0;
                p[k + 3] = b1;
            }
        }
    }
}

/* ---------------------------------------------------------------- SMP */

static volatile u32 cpu_halting[MAX_CPUS];

static u32 lapic_read(u32 reg) { return *(volatile u32 *)(ulong)(va_lapic() + reg); }
static void lapic_write(u32 reg, u32 v) { *(volatile u32 *)(ulong)(va_lapic() + reg) = v; }

static void final_halt(u32 idx)
{
    if (opt_hvcrash == (int)idx) {
        /*
         * What Windows does with hv-crash: the bugcheck to the Hyper-V
         * crash MSRs P0..P4, then CRASH_CTL with CRASH_NOTIFY
         */
        int i;
        for (i = 0; i < 5; i++) {
            wrmsr(0x40000100 + i, opt_hvcrash_params[i]);
        }
        wrmsr(0x40000105, 1ULL << 63);
    }
    cpu_halting[idx] = 1;
    barrier();
#ifdef __x86_64__
    if (opt_busy_cpu == (int)idx) {
        busy_loop((ulong)kva(opt_busy_base), opt_busy_size >> 12,
                  (ulong)kva(BUSY_CTR_PA));
    }
#endif
    cpu_final(idx, opt_panic == (int)idx, (idx == 0 && opt_cr3_user) ? (ulong)user_cr3 : 0);
}

void ap_main(u32 apic_id)
{
    if (apic_id >= ncpus) {
        halt_forever();
    }
    final_halt(apic_id);
}

static void ipi(u32 icr)
{
    int i;
    lapic_write(0x310, 0);
    lapic_write(0x300, icr);
    for (i = 0; i < 1000000 && (lapic_read(0x300) & (1 << 12)); i++) {
    }
}

static void start_aps(void)
{
    u32 i, up = 0, ms;

    if (ncpus < 2) {
        return;
    }
    memcpy(P(TRAMP_PA), tramp_start, (ulong)(tramp_end - tramp_start));
    w32(TRAMP_PA + (ulong)(tramp_cr3 - tramp_start), (u32)kernel_cr3);
    w32(TRAMP_PA + (ulong)(tramp_cr4 - tramp_start), (u32)cr4_bits);
    barrier();
    lapic_write(0xF0, lapic_read(0xF0) | 0x100);   /* software enable */
    ipi(0x000C4500);                            /* INIT, all excluding self */
    delay_ms(10);
    ipi(0x000C4600 | (TRAMP_PA >> 12));         /* SIPI */
    delay_ms(1);
    ipi(0x000C4600 | (TRAMP_PA >> 12));
    for (ms = 0; ms < 5000; ms++) {
        for (up = 0, i = 1; i < ncpus; i++) {
            up += cpu_halting[i];
        }
        if (up == ncpus - 1) {
            break;
        }
        delay_ms(1);
    }
    puts_("windmp-guest: ");
    putdec(up);
    puts_(" of ");
    putdec(ncpus - 1);
    puts_(up == ncpus - 1 ? " APs halted\n" : " APs halted: AP bring-up timed out\n");
}

/* ---------------------------------------------------------------- main */

void kmain(u32 magic, u32 mbi)
{
    int i;
    u64 apic_base;

    serial_init();
    setup_idt();
    puts_("windmp-guest: start\n");
    read_multiboot(magic, mbi);
    parse_options();
    fw_cfg_probe();
    apic_base = rdmsr(0x1B);
    lapic_pa = apic_base & 0xFFFFF000ULL;
    if (lapic_pa != 0xFEE00000ULL) {
        puts_("windmp-guest: note: LAPIC base is "); puthex(lapic_pa); puts_("\n");
    }
    puts_("windmp-guest: arch="); puts_(ARCH_NAME);
    puts_(" cpus="); putdec(ncpus);
    puts_(" runs="); putdec((u32)nruns);
    puts_(" pages="); puthex(total_pages); puts_("\n");
    for (i = 0; i < nruns; i++) {
        puts_("windmp-guest: run "); puthex(runs[i].base);
        puts_(" +"); puthex(runs[i].count); puts_("\n");
    }
    build_page_tables();
    puts_("windmp-guest: paging on, cr3="); puthex(kernel_cr3); puts_("\n");
    build_structures();
    for (i = 0; i < npokes; i++) {
        apply_poke(pokes[i]);
    }
    if (opt_descsz != HDR_SIZE) {
        w32(NOTE_PA + 4, (u32)opt_descsz);
    }
    publish();
    puts_("windmp-guest: published etc/vmcoreinfo note size "); puthex(opt_note_size);
    puts_("\n");
    fill_pattern();
    puts_("windmp-guest: pattern written\n");
    if (opt_kmap_mb) {
#ifdef __x86_64__
        u64 big = 0x200000;
#else
        u64 big = pae ? 0x200000 : 0x400000;
#endif

        kmap_end = ((opt_kmap_mb << 20) + big - 1) & ~(big - 1);
        user_pa = kmap_end;
        user_end = user_pa + (((opt_user_mb << 20) + big - 1) & ~(big - 1));
        for (i = 0; i < KEXTRA; i++) {
            kextra_pa[i] = user_end + 0x100000 + (u64)i * 0x3000;
        }
        if ((kextra_pa[KEXTRA - 1] >> 12) >= ram_end_pfn) {
            fail("kmap= and user= leave no RAM above them", 0);
        }
        restrict_kernel_map();
        puts_("windmp-guest: kernel map cut to "); puthex(kmap_end);
        puts_("\n");
    }
    if (opt_busy_cpu >= 0) {
        u64 b = opt_busy_base >> 12, e = (opt_busy_base + opt_busy_size) >> 12;
        int in_run = 0;
        for (i = 0; i < nruns; i++) {
            in_run |= b >= runs[i].base && e <= runs[i].base + runs[i].count;
        }
        if (opt_busy_cpu >= (int)ncpus || !in_run) {
            fail("busy= names no CPU, or memory that is not one RAM run", 0);
        }
    }
    start_aps();

    puts_("WINDMP-GUEST READY arch="); puts_(ARCH_NAME);
#ifdef __x86_64__
    puts_(" levels=" PAGING_LEVELS);
#endif
    puts_(" cpus="); putdec(ncpus);
    puts_(" kdbg="); puthex(va_kdbg());
    puts_(" kdbg_hdr="); puthex(opt_kdbg_encoded ? va_kdbgenc() : va_kdbg());
    puts_(" dtb="); puthex(kernel_cr3);
    puts_(" note="); puthex(NOTE_PA);
    puts_(" prcb=");
    for (i = 0; i < (int)ncpus; i++) {
        if (i) {
            puts_(",");
        }
        puthex(va_prcb(i));
    }
    puts_(" ctx=");
    for (i = 0; i < (int)ncpus; i++) {
        if (i) {
            puts_(",");
        }
        puthex(va_ctx(i));
    }
    puts_(" ctx_pa=");
    for (i = 0; i < (int)ncpus; i++) {
        if (i) {
            puts_(",");
        }
        puthex(pa_ctx(i));
    }
    puts_(" bugcheck="); puthex(opt_bugcheck[0]);
    puts_(" pattern_from=0x400 ram_end="); puthex(ram_end_pfn);
    if (opt_kmap_mb) {
        puts_(" kmap_end="); puthex(kmap_end);
        puts_(" user="); puthex(user_pa); puts_(","); puthex(user_end);
        puts_(" kextra=");
        for (i = 0; i < KEXTRA; i++) {
            if (i) {
                puts_(",");
            }
            puthex(kextra_pa[i]);
        }
    }
    puts_("\n");
    final_halt(0);
}
