/* Internal to boot/aarch64: the PCIe host bridge setup (pci.c) the device-tree reader calls. */
#ifndef UNIWASM_ARM64_PCI_H
#define UNIWASM_ARM64_PCI_H

#include <stdbool.h>
#include <stdint.h>

/* A pci-host-ecam-generic node: its ECAM window and the raw cells of its
 * ranges, interrupt-map and interrupt-map-mask properties. */
struct pci_host {
  uint64_t ecam, ecam_len;
  uint32_t bus_first, bus_last;
  uint32_t parent_addr_cells; /* the root's #address-cells (CPU addresses in ranges) */
  const uint8_t *ranges;
  uint32_t ranges_n;
  const uint8_t *imap;
  uint32_t imap_n;
  const uint8_t *imap_mask;
  uint32_t imap_mask_n;
};

/* Does the firmware's part (there is none before us on -kernel): numbers
 * the buses behind every PCI-to-PCI bridge within bus-range and opens each
 * bridge's memory window, assigns every memory BAR from the 32-bit memory
 * window, and writes each function's INTx line, swizzled through the bridges
 * above it and routed through the interrupt-map, to config offset 0x3C as the
 * SPI number. false (after printing why) if bus-range does not fit the ECAM
 * window or the window cannot be mapped. */
bool pci_setup(struct pci_host *h);

/* `count` big-endian cells at cell index i of an n-cell array (fdt.c). */
uint64_t fdt_cells(const uint8_t *p, uint32_t n, uint32_t i, uint32_t count);

#endif
