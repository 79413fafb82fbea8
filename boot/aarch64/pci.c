/*
 * The PCIe host bridge (pci-host-ecam-generic, QEMU virt's gpex): BAR
 * assignment and INTx routing, the job firmware does on a PC before the
 * kernel runs. On -kernel nothing else has done it: every BAR reads 0.
 *
 * Only the first bus is configured (virt has no bridges unless the user adds
 * root ports; functions behind a bridge keep unassigned BARs, which the
 * kernel's PCI code treats as absent). Memory BARs, 64-bit ones included,
 * come from the 32-bit non-prefetchable window of `ranges`, which must map
 * PCI addresses 1:1 to CPU addresses (QEMU's does): the kernel uses a BAR's
 * value as the physical address. I/O BARs stay unassigned: there are no
 * ports on this architecture. The line in config 0x3C is the SPI the
 * interrupt-map gives for the function's pin, i.e. the HAL's interrupt line.
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

bool pci_setup(struct pci_host *h) {
  uint64_t win = 0, win_end = 0;
  uint32_t pc = h->parent_addr_cells, esz = 3 + pc + 2;
  for (uint32_t i = 0; (i + 1) * esz <= h->ranges_n; i++) {
    uint32_t e = i * esz, space = ((uint32_t)fdt_cells(h->ranges, h->ranges_n, e, 1) >> 24) & 3;
    uint64_t pci = fdt_cells(h->ranges, h->ranges_n, e + 1, 2), cpu = fdt_cells(h->ranges, h->ranges_n, e + 3, pc);
    uint64_t len = fdt_cells(h->ranges, h->ranges_n, e + 3 + pc, 2);
    if (space == 2 && pci == cpu && !win) win = cpu, win_end = cpu + len;
  }
  if (h->bus_last < h->bus_first || h->bus_last > 255 || ((uint64_t)(h->bus_last - h->bus_first + 1) << 20) > h->ecam_len) {
    kputs("uniwasm: PCIe host bridge: bus-range does not fit its ECAM window\n");
    return false;
  }
  uint64_t ecam_len = (uint64_t)(h->bus_last - h->bus_first + 1) << 20;
  if (plat_mmio_map(h->ecam, ecam_len) < 0) return false;
  uint32_t bus = h->bus_first;
  for (uint32_t dev = 0; dev < 32; dev++) {
    for (uint32_t fn = 0; fn < 8; fn++) {
      uint32_t id = *cfg(h, bus, dev, fn, 0);
      if ((id & 0xffff) == 0xffff) {
        if (fn == 0) break;
        continue;
      }
      uint32_t hdr = (*cfg(h, bus, dev, fn, 0x0c) >> 16) & 0xff;
      if ((hdr & 0x7f) == 0) {
        volatile uint32_t *cmd = cfg(h, bus, dev, fn, 0x04);
        uint32_t c = *cmd & 0xffff;
        *cmd = c & ~3u; /* decoding off while BARs move */
        for (uint32_t b = 0; b < 6; b++) {
          volatile uint32_t *bar = cfg(h, bus, dev, fn, 0x10 + 4 * b);
          uint32_t orig = *bar;
          if (orig & 1) continue; /* I/O */
          bool is64 = ((orig >> 1) & 3) == 2 && b < 5;
          *bar = 0xffffffff;
          uint64_t mask = *bar & 0xfffffff0u;
          if (is64) {
            bar[1] = 0xffffffff;
            mask |= (uint64_t)bar[1] << 32;
          } else {
            mask |= 0xffffffff00000000ull;
          }
          uint64_t size = mask ? ~mask + 1 : 0, base = (win + size - 1) & ~(size - 1);
          if (size && win && base + size <= win_end) {
            *bar = (uint32_t)base;
            if (is64) bar[1] = (uint32_t)(base >> 32);
            win = base + size;
          } else {
            *bar = 0; /* none, or no room: unassigned */
            if (is64) bar[1] = 0;
          }
          if (is64) b++;
        }
        *cmd = c;
        uint32_t pin = (*cfg(h, bus, dev, fn, 0x3c) >> 8) & 0xff;
        int spi = pin >= 1 && pin <= 4 ? route_intx(h, bus, dev, fn, pin) : -1;
        volatile uint8_t *line = (volatile uint8_t *)cfg(h, bus, dev, fn, 0x3c);
        *line = spi < 0 ? 0xff : (uint8_t)spi;
      }
      if (fn == 0 && !(hdr & 0x80)) break;
    }
  }
  return true;
}

SHIM_CODE_END
