/*
 * boot_main, the boot-loader information (Multiboot v1 / PVH), the COM1
 * console, exit, and the small HAL primitives (ports, MMIO, entropy, ...).
 */
#include "x86.h"

SHIM_CODE_BEGIN

#define COM1 0x3f8

struct memrange boot_mem[MAX_MEMRANGES];
unsigned boot_mem_count;
uint64_t boot_reserved_end;
uint64_t boot_rsdp;
uint64_t boot_ebda;
static char cmdline[1024];
static struct plat_region linear;

/* ---- console ---- */

static void serial_init(void) {
  outb(COM1 + 1, 0x00); /* no interrupts */
  outb(COM1 + 3, 0x80); /* DLAB */
  outb(COM1 + 0, 0x01); /* divisor 1: 115200 baud */
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03); /* 8N1 */
  outb(COM1 + 2, 0x07); /* FIFO on, cleared */
  outb(COM1 + 4, 0x03); /* DTR, RTS; OUT2 off (no IRQ) */
}

/* Once the line status says the transmit FIFO is empty, 16 bytes fit
 * without asking again: one status read per 16 bytes instead of per byte
 * (under emulation every port access is a trip into the device model). */
#define UART_FIFO 16
static unsigned tx_room;

static void serial_putc(char c) {
  if (!tx_room) {
    while (!(inb(COM1 + 5) & 0x20)) /* THR empty: the FIFO has drained */
      ;
    tx_room = UART_FIFO;
  }
  outb(COM1, (uint8_t)c);
  tx_room--;
}

void plat_console_write(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\n') serial_putc('\r');
    serial_putc(s[i]);
  }
}

void kputs(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  plat_console_write(s, n);
}

void kput_hex(uint64_t v) {
  char b[18];
  int i = 18;
  do {
    b[--i] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  b[--i] = 'x';
  b[--i] = '0';
  plat_console_write(b + i, 18 - i);
}

void kput_dec(uint64_t v) {
  char b[20];
  int i = 20;
  do {
    b[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  plat_console_write(b + i, 20 - i);
}

/* ---- exit ---- */

static void console_drain(void) {
  while (!(inb(COM1 + 5) & 0x40)) /* transmitter empty */
    ;
}

/* pvpanic (ISA, port 0x505: QEMU's `-device pvpanic`, libvirt's
 * <panic model='isa'/>): reading it gives the events it supports (all ones:
 * no device); writing PANICKED (bit 0) tells the host the guest failed. */
static void pvpanic(void) {
  uint8_t caps = inb(0x505);
  if (caps == 0xff || !(caps & 1)) return;
  outb(0x505, 1);
  /* The host stops the machine (its panic action); give it time to. */
  for (uint32_t i = 0; i < 10000000; i++) __asm__ volatile("pause");
}

/* How the machine ends, first that works (see README.md, "Exit"):
 * 1. the console line `exit code N`, always, so a code is never lost;
 * 2. isa-debug-exit (port 0xf4): QEMU exits with (code << 1) | 1, the exact
 *    code (`uniwasm boot` adds the device);
 * 3. code 0: ACPI soft-off (S5); any other code: pvpanic's PANICKED
 *    (libvirt then reports the domain crashed);
 * 4. a reset (PIIX/ICH reset control, then the keyboard controller), which
 *    `-no-reboot` or libvirt's on_reboot=destroy turns into a stop;
 * 5. a triple fault (microvm has no reset register). */
_Noreturn void plat_exit(int code) {
  cli();
  shim_say_exit_code(code);
  console_drain();
  outl(0xf4, (uint32_t)code);
  /* Still here: no isa-debug-exit. */
  if (code == 0)
    acpi_poweroff();
  else
    pvpanic();
  outb(0xcf9, 0x02); /* PIIX/ICH reset control: hard reset */
  outb(0xcf9, 0x06);
  outb(0x64, 0xfe); /* keyboard controller reset */
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) none = {0, 0};
  __asm__ volatile("lidt %0; int3" ::"m"(none));
  for (;;) __asm__ volatile("cli; hlt");
}

/* ---- boot information ---- */

static void add_range(uint64_t base, uint64_t len, uint32_t type) {
  if (boot_mem_count < MAX_MEMRANGES && len) boot_mem[boot_mem_count++] = (struct memrange){base, len, type};
}

static void reserve(uint64_t addr, uint64_t len) {
  if (addr + len > boot_reserved_end) boot_reserved_end = addr + len;
}

/* Multiboot loaders (QEMU, GRUB) put the kernel's file name first: drop it,
 * so that plat_cmdline() is the same under both protocols. */
static void copy_cmdline(uint64_t p, bool skip_first_word) {
  if (!p) return;
  const char *s = (const char *)(uintptr_t)p;
  size_t i = 0;
  bool copy = !skip_first_word;
  for (; *s; s++) {
    if (!copy && *s == ' ') copy = s[1] != ' ';
    else if (copy && i < sizeof cmdline - 1) cmdline[i++] = *s;
  }
  reserve(p, (uint64_t)(uintptr_t)s + 1 - p);
}

/* QEMU's fw_cfg holds the command line as the machine finished it: microvm
 * appends its virtio_mmio.device= entries there after the Multiboot loader
 * has already copied -append into the Multiboot info. So under Multiboot on
 * QEMU the fw_cfg copy is the complete one. Selector port 0x510, data 0x511. */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15

static void fw_cfg_select(uint16_t key) { outw(0x510, key); }

static bool fw_cfg_cmdline(void) {
  fw_cfg_select(FW_CFG_SIGNATURE);
  if (inb(0x511) != 'Q' || inb(0x511) != 'E' || inb(0x511) != 'M' || inb(0x511) != 'U') return false;
  fw_cfg_select(FW_CFG_CMDLINE_SIZE);
  uint32_t len = 0;
  for (int i = 0; i < 4; i++) len |= (uint32_t)inb(0x511) << (8 * i);
  if (len == 0 || len > sizeof cmdline) return false; /* absent, or longer than we keep */
  fw_cfg_select(FW_CFG_CMDLINE_DATA);
  for (uint32_t i = 0; i < len; i++) cmdline[i] = (char)inb(0x511);
  cmdline[len - 1] = 0;
  return true;
}

static void parse_multiboot(uint32_t mbi) {
  const uint32_t *m = (const uint32_t *)(uintptr_t)mbi;
  uint32_t flags = m[0];
  reserve(mbi, 88);
  if (flags & (1u << 2)) copy_cmdline(m[4], true);
  if (fw_cfg_cmdline() && flags & (1u << 2))
    reserve(m[4], 1); /* the Multiboot copy stays reserved; ours came from fw_cfg */
  if (flags & (1u << 3)) { /* modules: keep them out of the linear region */
    const uint32_t *mod = (const uint32_t *)(uintptr_t)m[6];
    for (uint32_t i = 0; i < m[5]; i++) {
      reserve(m[6] + 16 * i, 16);
      reserve(mod[4 * i], mod[4 * i + 1] - mod[4 * i]);
    }
  }
  if (flags & (1u << 6)) {
    uint32_t p = m[12], end = m[12] + m[11];
    reserve(p, m[11]);
    while (p + 24 <= end) {
      const uint8_t *e = (const uint8_t *)(uintptr_t)p;
      uint64_t base, len;
      uint32_t size, type;
      __builtin_memcpy(&size, e, 4);
      __builtin_memcpy(&base, e + 4, 8);
      __builtin_memcpy(&len, e + 12, 8);
      __builtin_memcpy(&type, e + 20, 4);
      add_range(base, len, type);
      p += size + 4;
    }
  } else if (flags & 1u) {
    add_range(0, (uint64_t)m[1] << 10, 1);
    add_range(0x100000, (uint64_t)m[2] << 10, 1);
  }
}

struct hvm_start_info {
  uint32_t magic, version, flags, nr_modules;
  uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
  uint32_t memmap_entries, reserved;
};
struct hvm_memmap_entry {
  uint64_t addr, size;
  uint32_t type, reserved;
};
struct hvm_modlist_entry {
  uint64_t paddr, size, cmdline_paddr, reserved;
};

static void parse_pvh(uint32_t p) {
  const struct hvm_start_info *si = (const struct hvm_start_info *)(uintptr_t)p;
  reserve(p, sizeof *si);
  copy_cmdline(si->cmdline_paddr, false);
  boot_rsdp = si->rsdp_paddr;
  const struct hvm_modlist_entry *mod = (const struct hvm_modlist_entry *)(uintptr_t)si->modlist_paddr;
  for (uint32_t i = 0; i < si->nr_modules; i++) {
    reserve(si->modlist_paddr + i * sizeof *mod, sizeof *mod);
    reserve(mod[i].paddr, mod[i].size);
  }
  if (si->version >= 1 && si->memmap_paddr && si->memmap_entries) {
    const struct hvm_memmap_entry *e = (const struct hvm_memmap_entry *)(uintptr_t)si->memmap_paddr;
    reserve(si->memmap_paddr, si->memmap_entries * sizeof *e);
    for (uint32_t i = 0; i < si->memmap_entries; i++) add_range(e[i].addr, e[i].size, e[i].type);
  } else {
    /* No memory map: the CMOS (QEMU fills it): 64 KiB units above 16 MiB,
     * and above 4 GiB. */
    outb(0x70, 0x34);
    uint64_t above16 = inb(0x71);
    outb(0x70, 0x35);
    above16 |= (uint64_t)inb(0x71) << 8;
    add_range(0, 0x9f000, 1);
    add_range(0x100000, (above16 << 16) + (15ull << 20), 1);
    uint64_t above4g = 0;
    for (int r = 0x5d; r >= 0x5b; r--) {
      outb(0x70, (uint8_t)r);
      above4g = (above4g << 8) | inb(0x71);
    }
    add_range(1ull << 32, above4g << 16, 1);
  }
}

/* Linear memory must start zero-filled: QEMU clears guest RAM at start and
 * neither firmware nor loader writes there (they place their data below the
 * image or right after it, and boot_reserved_end covers what follows the
 * image), so nothing clears it. */
static void choose_linear(void) { linear = shim_choose_linear(boot_mem, boot_mem_count, boot_reserved_end); }

struct plat_region plat_linear_region(void) { return linear; }
const char *plat_cmdline(void) { return cmdline; }

/* Entered from entry.S on the boot stack, 64-bit, paging on (bootstrap
 * tables), SSE on, interrupts off. */
void boot_main(uint32_t magic, uint32_t info) {
  serial_init();
  trap_init();
  boot_reserved_end = (uint64_t)(uintptr_t)__image_end;
  boot_ebda = (uint64_t)*(volatile uint16_t *)0x40e << 4; /* page 0 is unmapped later */
  if (magic == 0x2BADB002) {
    parse_multiboot(info);
  } else if (magic == 0x336ec578 && *(volatile uint32_t *)(uintptr_t)info == 0x336ec578) {
    parse_pvh(info);
  } else {
    kputs("uniwasm: unknown boot protocol\n");
    plat_exit(RT_EXIT_RUNTIME);
  }
#ifdef UNIWASM_BOOT_DEBUG
  uint64_t t0 = rdtsc();
#endif
  mm_init();
#ifdef UNIWASM_BOOT_DEBUG
  uint64_t t1 = rdtsc();
#endif
  clock_init();
  choose_linear();
#ifdef UNIWASM_BOOT_DEBUG
  uint64_t t2 = rdtsc();
  kputs("[boot: TSC ticks: entry..mm_init ");
  kput_dec(t0 - boot_tsc0);
  kputs(", mm_init ");
  kput_dec(t1 - t0);
  kputs(", clock_init+linear ");
  kput_dec(t2 - t1);
  kputs("]\n");
  kputs("[reserved up to ");
  kput_hex(boot_reserved_end);
  kputs("]\n");
#endif
  shim_run(boot_mem, boot_mem_count, linear);
}

/* ---- small HAL primitives ---- */

uint32_t plat_port_read(uint32_t port, unsigned width) {
  switch (width) {
    case 1: return inb((uint16_t)port);
    case 2: return inw((uint16_t)port);
    case 4: return inl((uint16_t)port);
  }
  return ~0u;
}

void plat_port_write(uint32_t port, unsigned width, uint32_t v) {
  switch (width) {
    case 1: outb((uint16_t)port, (uint8_t)v); break;
    case 2: outw((uint16_t)port, (uint16_t)v); break;
    case 4: outl((uint16_t)port, v); break;
  }
}

void plat_fence(void) { __asm__ volatile("mfence" ::: "memory"); }

/* RDSEED, then RDRAND (a few retries each); otherwise TSC jitter mixed
 * through a 64-bit finalizer. Returns the number of hardware bytes. */
static bool hw_random(bool seed, uint64_t *out) {
  for (int i = 0; i < 10; i++) {
    uint8_t ok;
    if (seed)
      __asm__ volatile("rdseed %0; setc %1" : "=r"(*out), "=qm"(ok));
    else
      __asm__ volatile("rdrand %0; setc %1" : "=r"(*out), "=qm"(ok));
    if (ok) return true;
    __asm__ volatile("pause");
  }
  return false;
}


static bool has_seed, has_rand;

static bool hw_entropy(uint64_t *out) { return (has_seed && hw_random(true, out)) || (has_rand && hw_random(false, out)); }

/* Timing jitter of port reads (emulated device exits under TCG/KVM). */
static uint64_t jitter_sample(void) {
  uint64_t t0 = rdtsc();
  (void)inb(0x80 + 1);
  return (rdtsc() - t0) ^ (t0 << 32);
}

uint32_t plat_entropy(uint8_t *buf, uint32_t len) {
  uint32_t r[4];
  cpuid(0, 0, r);
  if (r[0] >= 7) {
    cpuid(7, 0, r);
    has_seed = (r[1] >> 18) & 1;
  }
  cpuid(1, 0, r);
  has_rand = (r[2] >> 30) & 1;
  return shim_entropy(buf, len, hw_entropy, jitter_sample);
}

SHIM_CODE_END
