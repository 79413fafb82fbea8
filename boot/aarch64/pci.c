/*
 * The PCIe host bridge (pci-host-ecam-generic, QEMU virt's gpex): BAR
 * assignment and INTx routing, the job firmware does on a PC before the
 * kernel runs. On -kernel nothing else has done it: every BAR reads 0.
 *
 * Every bus the bridge decodes is configured, depth first as firmware does:
 * each PCI-to-PCI bridge (virt's pcie-root-port, pci-bridge) gets the next
 * free bus number as its secondary bus, the buses below it up to its
 * subordinate number, and a memory window (1 MiB aligned) around the BARs
 * behind it; I/O and prefetchable windows stay closed. Bus numbers come from
 * the device tree's bus-range only and always increase, so a device's
 * config cannot make the walk loop, and a bridge beyond the range (or deeper
 * than MAX_DEPTH) is left unprogrammed with a message. Memory BARs, 64-bit
 * ones included, come from the 32-bit non-prefetchable window of `ranges`,
 * which must map PCI addresses 1:1 to CPU addresses (QEMU's does): the kernel
 * uses a BAR's value as the physical address. I/O BARs stay unassigned:
 * there are no ports on this architecture. The line in config 0x3C is the
 * SPI the interrupt-map gives for the function's pin -- swizzled through each
 * bridge on the way up to the root bus (pin + device number, mod 4: the
 * PCI-to-PCI bridge specification's INTx mapping, which QEMU's bridges
 * follow) -- i.e. the HAL's interrupt line.
 *
 * One device is the shim's own: a pvpanic-pci (QEMU's `-device pvpanic-pci`,
 * 1b36:0011), through which plat_exit tells the host the guest failed (the
 * kernel's drivers never see it used). Its register is mapped here and its
 * memory decoding turned on.
 */
#include "arm64.h"
#include "pci.h"

SHIM_CODE_BEGIN

static volatile uint32_t *cfg(struct pci_host *h, uint32_t bus, uint32_t dev, uint32_t fn, uint32_t off) {
  return (volatile uint32_t *)(uintptr_t)(h->ecam + ((uint64_t)(bus - h->bus_first) << 20 | dev << 15 | fn << 12 | off));
}

/* The SPI for (bus, dev, fn, pin) from interrupt-map, or -1. Each entry:
 * child unit address (3 cells) + child specifier (1), parent phandle (1),
 * parent unit address (the GIC's #address-cells), parent specifier (3). */
static int route_intx(struct pci_host *h, uint32_t bus, uint32_t dev, uint32_t fn, uint32_t pin) {
  uint32_t m0 = 0xffffffff, m3 = 0xffffffff;
  if (h->imap_mask_n >= 4) m0 = (uint32_t)fdt_cells(h->imap_mask, h->imap_mask_n, 0, 1), m3 = (uint32_t)fdt_cells(h->imap_mask, h->imap_mask_n, 3, 1);
  uint32_t hi = (bus << 16 | dev << 11 | fn << 8) & m0, esz = 4 + 1 + mach.gic_addr_cells + 3;
  for (uint32_t i = 0; (i + 1) * esz <= h->imap_n; i++) {
    const uint32_t e = i * esz;
    if ((uint32_t)fdt_cells(h->imap, h->imap_n, e, 1) != hi || (uint32_t)fdt_cells(h->imap, h->imap_n, e + 3, 1) != (pin & m3)) continue;
    uint32_t spec = e + 5 + mach.gic_addr_cells;
    if (fdt_cells(h->imap, h->imap_n, spec, 1) != 0) return -1; /* not an SPI */
    uint32_t spi = (uint32_t)fdt_cells(h->imap, h->imap_n, spec + 1, 1);
    note_trigger(spi, (uint32_t)fdt_cells(h->imap, h->imap_n, spec + 2, 1));
    return spi < PLAT_STOP_LINE ? (int)spi : -1; /* line 63 is the stop request */
  }
  return -1;
}

#define PCI_COMMAND 0x04
#define CMD_MEM 2u
#define CMD_MASTER 4u
#define MAX_DEPTH 8 /* bridges below bridges; QEMU's topologies need 1-3 */

/* The bridge a bus hangs off (NULL for the root bus): for swizzling INTx up. */
struct upstream {
  const struct upstream *up;
  uint32_t bus, dev, fn;
};

struct alloc {
  uint64_t win, win_end; /* the next free address of the memory window, and its end */
  uint32_t next_bus;     /* the highest bus number handed out so far */
};

/* The SPI for a function's pin, swizzled through the bridges above it. */
static int intx(struct pci_host *h, const struct upstream *u, uint32_t bus, uint32_t dev, uint32_t fn, uint32_t pin) {
  for (; u; u = u->up) pin = (pin - 1 + dev) % 4 + 1, bus = u->bus, dev = u->dev, fn = u->fn;
  return route_intx(h, bus, dev, fn, pin);
}

static void assign_bars(struct pci_host *h, struct alloc *a, uint32_t bus, uint32_t dev, uint32_t fn, uint32_t nbars) {
  for (uint32_t b = 0; b < nbars; b++) {
    volatile uint32_t *bar = cfg(h, bus, dev, fn, 0x10 + 4 * b);
    uint32_t orig = *bar;
    if (orig & 1) continue; /* I/O */
    bool is64 = ((orig >> 1) & 3) == 2 && b + 1 < nbars;
    *bar = 0xffffffff;
    uint64_t mask = *bar & 0xfffffff0u;
    if (is64) {
      bar[1] = 0xffffffff;
      mask |= (uint64_t)bar[1] << 32;
    } else {
      mask |= 0xffffffff00000000ull;
    }
    uint64_t size = mask ? ~mask + 1 : 0, base = (a->win + size - 1) & ~(size - 1);
    if (size && a->win && base + size <= a->win_end && base + size > base) {
      *bar = (uint32_t)base;
      if (is64) bar[1] = (uint32_t)(base >> 32);
      a->win = base + size;
    } else {
      *bar = 0; /* none, or no room: unassigned */
      if (is64) bar[1] = 0;
    }
    if (is64) b++;
  }
}

static void scan_bus(struct pci_host *h, struct alloc *a, const struct upstream *u, uint32_t bus, unsigned depth);

#define PVPANIC_PCI_ID 0x00111b36u /* device 0x0011, vendor 0x1b36 (Red Hat, QEMU) */

/* A pvpanic-pci whose BAR 0 was assigned: mapped and decoding, for plat_exit. */
static void take_pvpanic(struct pci_host *h, uint32_t bus, uint32_t dev, uint32_t fn) {
  uint32_t bar = *cfg(h, bus, dev, fn, 0x10);
  uint64_t base = bar & 0xfffffff0u;
  if ((bar & 1) || !base) return;
  if (((bar >> 1) & 3) == 2) base |= (uint64_t)*cfg(h, bus, dev, fn, 0x14) << 32;
  if (plat_mmio_map(base & ~0xfffull, 0x1000) < 0) return;
  volatile uint32_t *cmd = cfg(h, bus, dev, fn, PCI_COMMAND);
  *cmd = (*cmd & 0xffff) | CMD_MEM;
  mach.pvpanic = base;
}

/* A PCI-to-PCI bridge at (bus, dev, fn): numbers and scans what is behind it. */
static void setup_bridge(struct pci_host *h, struct alloc *a, const struct upstream *u, uint32_t bus, uint32_t dev, uint32_t fn, unsigned depth) {
  volatile uint32_t *busreg = cfg(h, bus, dev, fn, 0x18);
  if (a->next_bus >= h->bus_last || depth >= MAX_DEPTH) {
    kputs("uniwasm: PCIe: a bridge beyond the bus-range or nesting limit: what is behind it is not configured\n");
    *busreg = *busreg & 0xff000000u; /* secondary and subordinate 0: closed */
    return;
  }
  uint32_t sec = ++a->next_bus;
  volatile uint32_t *cmd = cfg(h, bus, dev, fn, PCI_COMMAND);
  *cmd = *cmd & 0xffff & ~3u;
  /* Primary, secondary, and for now every bus up to the range's end as its subordinate. */
  *busreg = (*busreg & 0xff000000u) | h->bus_last << 16 | sec << 8 | bus;
  assign_bars(h, a, bus, dev, fn, 2);
  a->win = (a->win + 0xfffff) & ~0xfffffull; /* a bridge's memory window is 1 MiB aligned */
  uint64_t start = a->win;
  struct upstream here = {u, bus, dev, fn};
  scan_bus(h, a, &here, sec, depth + 1);
  *busreg = (*busreg & 0xff00ffffu) | a->next_bus << 16; /* subordinate: the last bus behind it */
  a->win = (a->win + 0xfffff) & ~0xfffffull;
  volatile uint32_t *mem = cfg(h, bus, dev, fn, 0x20), *pref = cfg(h, bus, dev, fn, 0x24);
  /* Memory base (0x20) and limit (0x22): address bits 31:20 in bits 15:4; the limit is inclusive. */
  if (a->win > start && a->win <= a->win_end) *mem = ((uint32_t)((a->win - 1) >> 16) & 0xfff0u) << 16 | ((uint32_t)(start >> 16) & 0xfff0u);
  else *mem = 0x0000fff0; /* base above limit: closed */
  *pref = 0x0000fff0;
  *cfg(h, bus, dev, fn, 0x28) = 0, *cfg(h, bus, dev, fn, 0x2c) = 0;
  volatile uint8_t *io = (volatile uint8_t *)cfg(h, bus, dev, fn, 0x1c);
  io[0] = 0xf0, io[1] = 0; /* I/O window closed */
  *cmd = (*cmd & 0xffff) | CMD_MEM | CMD_MASTER; /* forward memory down and the devices' DMA up */
}

static void scan_bus(struct pci_host *h, struct alloc *a, const struct upstream *u, uint32_t bus, unsigned depth) {
  for (uint32_t dev = 0; dev < 32; dev++) {
    for (uint32_t fn = 0; fn < 8; fn++) {
      uint32_t id = *cfg(h, bus, dev, fn, 0);
      if ((id & 0xffff) == 0xffff) {
        if (fn == 0) break;
        continue;
      }
      uint32_t hdr = (*cfg(h, bus, dev, fn, 0x0c) >> 16) & 0xff, cls = *cfg(h, bus, dev, fn, 0x08) >> 16;
      if ((hdr & 0x7f) == 0) {
        volatile uint32_t *cmd = cfg(h, bus, dev, fn, PCI_COMMAND);
        uint32_t c = *cmd & 0xffff;
        *cmd = c & ~3u; /* decoding off while BARs move */
        assign_bars(h, a, bus, dev, fn, 6);
        *cmd = c;
        if (id == PVPANIC_PCI_ID && !mach.pvpanic) take_pvpanic(h, bus, dev, fn);
      } else if ((hdr & 0x7f) == 1 && cls == 0x0604) {
        setup_bridge(h, a, u, bus, dev, fn, depth);
      }
      if ((hdr & 0x7f) <= 1) {
        uint32_t pin = (*cfg(h, bus, dev, fn, 0x3c) >> 8) & 0xff;
        int spi = pin >= 1 && pin <= 4 ? intx(h, u, bus, dev, fn, pin) : -1;
        volatile uint8_t *line = (volatile uint8_t *)cfg(h, bus, dev, fn, 0x3c);
        *line = spi < 0 ? 0xff : (uint8_t)spi;
      }
      if (fn == 0 && !(hdr & 0x80)) break;
    }
  }
}

bool pci_setup(struct pci_host *h) {
  struct alloc a = {0, 0, h->bus_first};
  uint32_t pc = h->parent_addr_cells, esz = 3 + pc + 2;
  for (uint32_t i = 0; (i + 1) * esz <= h->ranges_n; i++) {
    uint32_t e = i * esz, space = ((uint32_t)fdt_cells(h->ranges, h->ranges_n, e, 1) >> 24) & 3;
    uint64_t pci = fdt_cells(h->ranges, h->ranges_n, e + 1, 2), cpu = fdt_cells(h->ranges, h->ranges_n, e + 3, pc);
    uint64_t len = fdt_cells(h->ranges, h->ranges_n, e + 3 + pc, 2);
    if (space == 2 && pci == cpu && !a.win && cpu + len > cpu) a.win = cpu, a.win_end = cpu + len;
  }
  if (h->bus_last < h->bus_first || h->bus_last > 255 || ((uint64_t)(h->bus_last - h->bus_first + 1) << 20) > h->ecam_len) {
    kputs("uniwasm: PCIe host bridge: bus-range does not fit its ECAM window\n");
    return false;
  }
  uint64_t ecam_len = (uint64_t)(h->bus_last - h->bus_first + 1) << 20;
  if (plat_mmio_map(h->ecam, ecam_len) < 0) return false;
  /* The kernel numbers buses from the window's start (pci.ecam=): bridges are
   * followed only where that is the bus numbering itself. */
  if (h->bus_first != 0) a.next_bus = h->bus_last;
  scan_bus(h, &a, 0, h->bus_first, 0);
  return true;
}

SHIM_CODE_END
