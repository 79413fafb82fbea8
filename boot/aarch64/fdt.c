/*
 * A small, bounds-checked reader of the flattened device tree (devicetree
 * specification v0.4, chapter 5) the boot loader passes in x0. It reads the
 * nodes directly under the root -- where QEMU's virt machine puts everything
 * the shim needs -- and fills `mach`, boot_mem[] and the command line:
 *   /memory*              reg             RAM ranges
 *   /chosen               bootargs        the command line
 *   arm,pl011             reg             the console
 *   arm,cortex-a15-gic / arm,gic-400 (GICv2), arm,gic-v3: reg
 *   arm,armv8-timer       interrupts      the EL1 virtual timer's PPI
 *   /psci                 method          hvc or smc
 *   virtio,mmio           reg, interrupts one virtio_mmio.device= entry each,
 *                         appended to the command line (the kernel's discovery
 *                         mechanism, as on microvm) -- only for slots that hold
 *                         a device (QEMU lists 32, most of them empty)
 *   pci-host-ecam-generic reg, bus-range, ranges, interrupt-map (pci.c)
 *   arm,pl061             reg, interrupts, phandle   GPIO controllers, and
 *   gpio-keys             its child with linux,code KEY_POWER: gpios
 *                         the power button (gpio.c); the only nodes read
 *                         one level further down
 * Every offset and length is checked against the blob's own header before it
 * is read; a malformed tree ends the parse with what was read so far.
 */
#include "arm64.h"
#include "pci.h"

SHIM_CODE_BEGIN

#define FDT_MAGIC 0xd00dfeed
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE 2
#define FDT_PROP 3
#define FDT_NOP 4
#define FDT_END 9

/* Big-endian, byte at a time: no unaligned or wide access (MMU off). */
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* A cell array: `n` cells of 32 bits. */
struct cells {
  const uint8_t *p;
  uint32_t n;
};

uint64_t fdt_cells(const uint8_t *p, uint32_t n, uint32_t i, uint32_t count) {
  uint64_t v = 0;
  for (uint32_t k = 0; k < count && i + k < n; k++) v = v << 32 | be32(p + 4 * (i + k));
  return v;
}

static uint64_t cell_get(struct cells c, uint32_t i, uint32_t count) { return fdt_cells(c.p, c.n, i, count); }

static bool str_eq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

/* Whether the string list `list` (NUL-separated, `len` bytes) holds `s`. */
static bool list_has(const uint8_t *list, uint32_t len, const char *s) {
  for (uint32_t i = 0; i < len;) {
    const char *e = (const char *)list + i;
    uint32_t n = 0;
    while (i + n < len && list[i + n]) n++;
    if (i + n < len && str_eq(e, s)) return true;
    i += n + 1;
  }
  return false;
}

struct node {
  const char *name;
  struct cells reg, interrupts, ranges, imap, imap_mask, bus_range;
  const uint8_t *compat, *bootargs, *method;
  uint32_t compat_len, bootargs_len, method_len;
  bool is_memory, addr_cells_prop, disabled;
  uint32_t addr_cells, phandle, gpio_cells;
};

/* A child of a gpio-keys node: one key. */
struct key {
  struct cells gpios;
  uint32_t code;
  bool disabled;
};

#define KEY_POWER 116 /* linux,code of the power button (Linux's input-event-codes.h) */

static uint32_t addr_cells = 2, size_cells = 2;

/* Appends s to the command line (dropped whole if it does not fit). */
static void cmd_append(char *cmd, size_t cap, const char *s) {
  size_t n = 0, m = 0;
  while (cmd[n]) n++;
  while (s[m]) m++;
  if (n + m + 2 > cap) return;
  if (n) cmd[n++] = ' ';
  for (size_t i = 0; i <= m; i++) cmd[n + i] = s[i];
}

static char *put_hex(char *p, uint64_t v) {
  char b[16];
  int i = 0;
  do b[i++] = "0123456789abcdef"[v & 15]; while (v >>= 4);
  *p++ = '0', *p++ = 'x';
  while (i) *p++ = b[--i];
  return p;
}

static char *put_dec(char *p, uint64_t v) {
  char b[20];
  int i = 0;
  do b[i++] = (char)('0' + v % 10); while (v /= 10);
  while (i) *p++ = b[--i];
  return p;
}

/* An "interrupts" entry of 3 cells (GIC binding): type (0 SPI, 1 PPI), number, flags. */
static bool gic_irq(struct cells c, uint32_t i, uint32_t *type, uint32_t *num, uint32_t *flags) {
  if (3 * i + 3 > c.n) return false;
  *type = (uint32_t)cell_get(c, 3 * i, 1);
  *num = (uint32_t)cell_get(c, 3 * i + 1, 1);
  *flags = (uint32_t)cell_get(c, 3 * i + 2, 1);
  return true;
}

void note_trigger(uint32_t spi, uint32_t flags) {
  if (spi < 64) mach.line_level[spi] = (flags & 0xf) >= 4; /* 4, 8: level high/low; 1, 2: edges */
}

static void take_node(struct node *n, char *cmd, size_t cap, bool devices) {
  uint32_t rc = addr_cells + size_cells, type, num, flags;
#define IS(s) (n->compat && list_has(n->compat, n->compat_len, s))
  uint64_t r0 = cell_get(n->reg, 0, addr_cells), s0 = cell_get(n->reg, addr_cells, size_cells);
  uint64_t r1 = cell_get(n->reg, rc, addr_cells), s1 = cell_get(n->reg, rc + addr_cells, size_cells);
  bool gic = IS("arm,cortex-a15-gic") || IS("arm,gic-400") || IS("arm,gic-v3");
  if (!devices) {
    for (uint32_t i = 0; n->is_memory && rc && (i + 1) * rc <= n->reg.n && boot_mem_count < MAX_MEMRANGES; i++) {
      uint64_t b = cell_get(n->reg, i * rc, addr_cells), l = cell_get(n->reg, i * rc + addr_cells, size_cells);
      if (l) boot_mem[boot_mem_count++] = (struct memrange){b, l, 1};
    }
    if (n->bootargs) {
      uint32_t i = 0;
      for (; i + 1 < cap && i < n->bootargs_len && n->bootargs[i]; i++) cmd[i] = (char)n->bootargs[i];
      cmd[i] = 0;
    }
    if (n->method) mach.psci = true, mach.psci_smc = list_has(n->method, n->method_len, "smc");
    if (IS("arm,pl011") && !mach.uart && n->reg.n >= rc) {
      mach.uart = r0;
    } else if (gic && n->reg.n >= 2 * rc) {
      mach.gic_version = IS("arm,gic-v3") ? 3 : 2;
      mach.gicd = r0, mach.gicd_len = s0, mach.gicc = r1, mach.gicc_len = s1;
      mach.gic_addr_cells = n->addr_cells_prop ? n->addr_cells : 0;
    } else if ((IS("arm,armv8-timer") || IS("arm,armv7-timer")) && gic_irq(n->interrupts, 2, &type, &num, &flags)) {
      mach.timer_ppi = num + 16; /* entry 2: the EL1 virtual timer */
    } else if (IS("arm,pl061") && !n->disabled && n->phandle && n->gpio_cells == 2 && s0 >= 0x1000 && mach.gpio_count < MAX_GPIOS &&
               gic_irq(n->interrupts, 0, &type, &num, &flags) && type == 0) {
      mach.gpio[mach.gpio_count++] = (struct gpio_ctl){r0, n->phandle, num, flags};
    }
    return;
  }
  if (IS("virtio,mmio") && n->reg.n >= rc && gic_irq(n->interrupts, 0, &type, &num, &flags) && type == 0) {
    note_trigger(num, flags);
    /* A slot with a device: magic "virt" and a non-zero device id. */
    if (s0 < 0x100 || plat_mmio_map(r0, s0) < 0 || plat_mmio_read(r0, 4) != 0x74726976 || !plat_mmio_read(r0 + 8, 4)) return;
    char e[80] = "virtio_mmio.device=", *p = e + 19;
    p = put_dec(p, s0);
    *p++ = '@';
    p = put_hex(p, r0);
    *p++ = ':';
    p = put_dec(p, num);
    *p = 0;
    cmd_append(cmd, cap, e);
  } else if (IS("pci-host-ecam-generic") && n->reg.n >= rc) {
    struct pci_host h = {r0, s0, 0, 255, addr_cells, n->ranges.p, n->ranges.n, n->imap.p, n->imap.n, n->imap_mask.p, n->imap_mask.n};
    if (n->bus_range.n >= 2) h.bus_first = (uint32_t)cell_get(n->bus_range, 0, 1), h.bus_last = (uint32_t)cell_get(n->bus_range, 1, 1);
    if (!pci_setup(&h)) return;
    char e[80] = "pci.ecam=", *p = e + 9;
    p = put_dec(p, (uint64_t)(h.bus_last - h.bus_first + 1) << 20);
    *p++ = '@';
    p = put_hex(p, r0); /* bus bus_first is the kernel's bus 0 */
    *p = 0;
    cmd_append(cmd, cap, e);
  }
#undef IS
}

/* A key of a gpio-keys node: the power button if its code is KEY_POWER and
 * its gpios names one pin (<controller pin flags>: three cells, as the
 * PL061's #gpio-cells of 2 gives -- take_node keeps only controllers with
 * that; gpio.c matches the phandle). */
static void take_key(const struct key *k) {
  if (k->disabled || k->code != KEY_POWER || k->gpios.n != 3 || mach.pwr_key) return;
  mach.pwr_key = true;
  mach.pwr_phandle = (uint32_t)cell_get(k->gpios, 0, 1);
  mach.pwr_pin = (uint32_t)cell_get(k->gpios, 1, 1);
  mach.pwr_flags = (uint32_t)cell_get(k->gpios, 2, 1);
}

bool fdt_parse(uint64_t dtb, char *cmd, size_t cap, bool devices) {
  const uint8_t *b = (const uint8_t *)(uintptr_t)dtb;
  if (!dtb || (dtb & 7) || be32(b) != FDT_MAGIC) return false;
  uint32_t total = be32(b + 4), off_struct = be32(b + 8), off_strings = be32(b + 12), version = be32(b + 20);
  uint32_t size_strings = be32(b + 32), size_struct = be32(b + 36);
  if (total < 40 || total > (64u << 20) || version < 17 || off_struct > total || size_struct > total - off_struct ||
      off_strings > total || size_strings > total - off_strings)
    return false;
  const uint8_t *s = b + off_struct, *strs = b + off_strings;
  uint32_t pos = 0, depth = 0;
  struct node n;
  struct key key;
  bool keys = false; /* inside a gpio-keys node: its children are keys */
  __builtin_memset(&n, 0, sizeof n);
  /* The pass over the tree runs twice: the root's #address-cells/#size-cells
   * come before its children in practice, but nothing requires that. */
  for (int pass = 0; pass < 2; pass++) {
    pos = 0, depth = 0;
    while (pos + 4 <= size_struct) {
      uint32_t tok = be32(s + pos);
      pos += 4;
      if (tok == FDT_BEGIN_NODE) {
        const char *name = (const char *)s + pos;
        uint32_t len = 0;
        while (pos + len < size_struct && s[pos + len]) len++;
        if (pos + len >= size_struct) return false;
        pos = (pos + len + 1 + 3) & ~3u;
        depth++;
        if (depth == 2) {
          __builtin_memset(&n, 0, sizeof n);
          n.name = name;
          n.is_memory = len >= 6 && __builtin_memcmp(name, "memory", 6) == 0 && (len == 6 || name[6] == '@');
        } else if (depth == 3) {
          /* Properties precede subnodes, so the parent's are all known. */
          __builtin_memset(&key, 0, sizeof key);
          keys = !n.disabled && n.compat && list_has(n.compat, n.compat_len, "gpio-keys");
        }
      } else if (tok == FDT_END_NODE) {
        if (!depth) return false;
        if (depth == 2 && pass == 1) take_node(&n, cmd, cap, devices);
        if (depth == 3 && pass == 1 && keys && !devices) take_key(&key);
        if (--depth == 0) break;
      } else if (tok == FDT_PROP) {
        if (pos + 8 > size_struct) return false;
        uint32_t len = be32(s + pos), nameoff = be32(s + pos + 4);
        pos += 8;
        if (len > size_struct - pos || nameoff >= size_strings) return false;
        const char *pn = (const char *)strs + nameoff;
        uint32_t k = 0;
        while (nameoff + k < size_strings && pn[k]) k++;
        if (nameoff + k >= size_strings) return false;
        const uint8_t *v = s + pos;
        struct cells c = {v, len / 4};
        pos = (pos + len + 3) & ~3u;
        if (depth == 1 && pass == 0) {
          if (str_eq(pn, "#address-cells") && len == 4) addr_cells = be32(v);
          if (str_eq(pn, "#size-cells") && len == 4) size_cells = be32(v);
          if (addr_cells > 2 || size_cells > 2) addr_cells = size_cells = 0; /* nothing we can read */
        }
        if (depth == 3 && pass == 1 && keys) {
          if (str_eq(pn, "gpios")) key.gpios = c;
          else if (str_eq(pn, "linux,code") && len == 4) key.code = be32(v);
          else if (str_eq(pn, "status")) key.disabled = !list_has(v, len, "okay") && !list_has(v, len, "ok");
        }
        if (depth != 2 || pass == 0) continue;
        if (str_eq(pn, "compatible")) n.compat = v, n.compat_len = len;
        else if (str_eq(pn, "reg")) n.reg = c;
        else if (str_eq(pn, "interrupts")) n.interrupts = c;
        else if (str_eq(pn, "ranges")) n.ranges = c;
        else if (str_eq(pn, "interrupt-map")) n.imap = c;
        else if (str_eq(pn, "interrupt-map-mask")) n.imap_mask = c;
        else if (str_eq(pn, "bus-range")) n.bus_range = c;
        else if (str_eq(pn, "bootargs") && str_eq(n.name, "chosen")) n.bootargs = v, n.bootargs_len = len;
        else if (str_eq(pn, "method") && str_eq(n.name, "psci")) n.method = v, n.method_len = len;
        else if (str_eq(pn, "device_type") && list_has(v, len, "memory")) n.is_memory = true;
        else if (str_eq(pn, "#address-cells") && len == 4) n.addr_cells_prop = true, n.addr_cells = be32(v);
        else if (str_eq(pn, "phandle") && len == 4) n.phandle = be32(v);
        else if (str_eq(pn, "#gpio-cells") && len == 4) n.gpio_cells = be32(v);
        else if (str_eq(pn, "status")) n.disabled = !list_has(v, len, "okay") && !list_has(v, len, "ok");
      } else if (tok == FDT_END) {
        break;
      } else if (tok != FDT_NOP) {
        return false;
      }
    }
  }
  return true;
}

SHIM_CODE_END
