/*
 * ACPI: the tables (RSDP, RSDT/XSDT, any table by signature), power-off to
 * S5, and the power button as the HAL's stop request.
 *
 * Only what a unikernel under QEMU or libvirt needs, with no AML interpreter:
 * the FADT gives the PM1 event and control blocks, the SCI's interrupt and
 * the SMI command that switches the chipset to ACPI mode; the DSDT's \_S5
 * package gives the sleep type for soft-off, found by a byte scan (QEMU's is
 * `Name (_S5, Package (4) { Zero, Zero, Zero, Zero })`). Everything is set up
 * on first use (ACPI is not needed to boot).
 */
#include "x86.h"

SHIM_CODE_BEGIN

static bool acpi_sum_ok(const uint8_t *p, uint32_t n) {
  uint8_t s = 0;
  while (n--) s = (uint8_t)(s + *p++);
  return s == 0;
}

/* The table at physical address pa, mapped and checksummed, or NULL. */
static const uint8_t *acpi_table(uint64_t pa) {
  if (!pa || plat_mmio_map(pa, 36) < 0) return 0;
  const uint8_t *t = (const uint8_t *)(uintptr_t)pa;
  uint32_t len;
  __builtin_memcpy(&len, t + 4, 4);
  if (len < 36 || len > (1u << 20) || plat_mmio_map(pa, len) < 0 || !acpi_sum_ok(t, len)) return 0;
  return t;
}

static uint64_t find_rsdp(void) {
  if (boot_rsdp) return boot_rsdp;
  uint64_t ranges[2][2] = {{boot_ebda, boot_ebda + 1024}, {0xe0000, 0x100000}};
  for (int r = 0; r < 2; r++) {
    if (ranges[r][0] < 0x400 || ranges[r][1] > 0x100000) continue;
    for (uint64_t a = ranges[r][0]; a + 20 <= ranges[r][1]; a += 16)
      if (*(const uint64_t *)(uintptr_t)a == 0x2052545020445352ull /* "RSD PTR " */ &&
          acpi_sum_ok((const uint8_t *)(uintptr_t)a, 20))
        return a;
  }
  return 0;
}

const uint8_t *acpi_find(const char sig[4]) {
  uint64_t rsdp = find_rsdp();
  if (!rsdp || plat_mmio_map(rsdp, 36) < 0) return 0;
  const uint8_t *p = (const uint8_t *)(uintptr_t)rsdp;
  uint32_t rsdt;
  uint64_t xsdt = 0;
  __builtin_memcpy(&rsdt, p + 16, 4);
  if (p[15] >= 2) __builtin_memcpy(&xsdt, p + 24, 8);
  const uint8_t *sdt = acpi_table(xsdt ? xsdt : rsdt);
  if (!sdt && xsdt) sdt = acpi_table(rsdt), xsdt = 0;
  if (!sdt) return 0;
  uint32_t len, esz = xsdt ? 8 : 4;
  __builtin_memcpy(&len, sdt + 4, 4);
  for (uint32_t off = 36; off + esz <= len; off += esz) {
    uint64_t pa = 0;
    __builtin_memcpy(&pa, sdt + off, esz);
    const uint8_t *t = acpi_table(pa);
    if (t && !__builtin_memcmp(t, sig, 4)) return t;
  }
  return 0;
}

/* ---- the FADT's fixed hardware ---- */

#define PM1_PWRBTN (1u << 8)  /* PM1 status/enable: power button */
#define PM1_SCI_EN (1u << 0)  /* PM1 control: ACPI mode */
#define PM1_SLP_EN (1u << 13) /* PM1 control: enter the sleep state in SLP_TYP (bits 10-12) */

static bool fadt_read;
static struct {
  uint16_t pm1a_evt, pm1b_evt, pm1a_cnt, pm1b_cnt, sci, smi_cmd;
  uint8_t evt_len, acpi_enable;
  uint8_t slp_typa, slp_typb; /* \_S5 */
  bool s5;                    /* \_S5 found (else 0/0, QEMU's value, is used) */
  bool reduced;               /* hardware-reduced ACPI: no PM1 blocks */
} fadt;

static uint16_t fadt16(const uint8_t *f, uint32_t len, uint32_t off) {
  uint32_t v = 0;
  if (off + 4 <= len) __builtin_memcpy(&v, f + off, 4);
  return v > 0xffff ? 0 : (uint16_t)v; /* port blocks are I/O ports */
}

/* One S5 package element: ZeroOp, OneOp, BytePrefix n. Advances *p. */
static bool aml_small(const uint8_t **p, const uint8_t *end, uint8_t *out) {
  if (*p >= end) return false;
  uint8_t op = *(*p)++;
  if (op == 0x00 || op == 0x01) *out = op;
  else if (op == 0x0a && *p < end) *out = *(*p)++;
  else return false;
  return true;
}

/* \_S5: "_S5_" then PackageOp (0x12), PkgLength (1-4 bytes), NumElements,
 * then SLP_TYPa and SLP_TYPb. */
static void find_s5(const uint8_t *dsdt) {
  uint32_t len;
  __builtin_memcpy(&len, dsdt + 4, 4);
  const uint8_t *end = dsdt + len;
  for (const uint8_t *p = dsdt + 36; p + 8 <= end; p++) {
    if (__builtin_memcmp(p, "_S5_", 4) || p[4] != 0x12) continue;
    const uint8_t *q = p + 5;
    q += 1 + (*q >> 6); /* PkgLength: bits 6-7 = extra bytes */
    q++;                /* NumElements */
    uint8_t a, b;
    if (q < end && aml_small(&q, end, &a) && aml_small(&q, end, &b)) {
      fadt.slp_typa = a & 7;
      fadt.slp_typb = b & 7;
      fadt.s5 = true;
    }
    return;
  }
}

static void read_fadt(void) {
  if (fadt_read) return;
  fadt_read = true;
  const uint8_t *f = acpi_find("FACP");
  if (!f) return;
  uint32_t len, flags = 0, dsdt = 0;
  uint64_t xdsdt = 0;
  __builtin_memcpy(&len, f + 4, 4);
  if (len >= 116) __builtin_memcpy(&flags, f + 112, 4);
  fadt.reduced = (flags >> 20) & 1;
  if (len >= 44) __builtin_memcpy(&dsdt, f + 40, 4);
  if (len >= 148) __builtin_memcpy(&xdsdt, f + 140, 8);
  if (len >= 54) {
    __builtin_memcpy(&fadt.sci, f + 46, 2);
    fadt.smi_cmd = fadt16(f, len, 48);
    fadt.acpi_enable = f[52];
  }
  fadt.pm1a_evt = fadt16(f, len, 56);
  fadt.pm1b_evt = fadt16(f, len, 60);
  fadt.pm1a_cnt = fadt16(f, len, 64);
  fadt.pm1b_cnt = fadt16(f, len, 68);
  if (len > 88) fadt.evt_len = f[88];
  const uint8_t *d = acpi_table(xdsdt ? xdsdt : dsdt);
  if (d && !__builtin_memcmp(d, "DSDT", 4)) find_s5(d);
}

/* Switches the chipset from legacy (SMI) to ACPI mode, so fixed events
 * raise the SCI (QEMU's PIIX4 and ICH9 start in legacy mode). */
static void acpi_mode(void) {
  if (!fadt.pm1a_cnt || (inw(fadt.pm1a_cnt) & PM1_SCI_EN) || !fadt.smi_cmd || !fadt.acpi_enable) return;
  outb(fadt.smi_cmd, fadt.acpi_enable);
  for (uint32_t i = 0; i < 100000 && !(inw(fadt.pm1a_cnt) & PM1_SCI_EN); i++)
    __asm__ volatile("pause");
}

void acpi_poweroff(void) {
  read_fadt();
  if (!fadt.pm1a_cnt || fadt.reduced) return;
  acpi_mode();
  outw(fadt.pm1a_cnt, (uint16_t)((inw(fadt.pm1a_cnt) & ~(7u << 10)) | (uint32_t)fadt.slp_typa << 10 | PM1_SLP_EN));
  if (fadt.pm1b_cnt)
    outw(fadt.pm1b_cnt, (uint16_t)((inw(fadt.pm1b_cnt) & ~(7u << 10)) | (uint32_t)fadt.slp_typb << 10 | PM1_SLP_EN));
  /* S5 takes effect at once on QEMU; real chipsets may take a moment. */
  for (uint32_t i = 0; i < 10000000; i++) __asm__ volatile("pause");
}

/* ---- the power button ---- */

static int32_t sci_gsi = -1;
static bool stop_ready;

static void pm1_write(uint16_t base, uint16_t off, uint16_t v) {
  if (base) outw((uint16_t)(base + off), v);
}

int32_t plat_stop_line(void) {
  if (stop_ready) return sci_gsi >= 0 ? PLAT_STOP_LINE : -1;
  stop_ready = true;
  read_fadt();
  if (!fadt.pm1a_evt || fadt.evt_len < 4 || fadt.reduced || fadt.sci >= PLAT_STOP_LINE) return -1;
  acpi_mode();
  uint16_t en = fadt.evt_len / 2;
  pm1_write(fadt.pm1a_evt, 0, PM1_PWRBTN); /* clear a stale press (write 1 to clear) */
  pm1_write(fadt.pm1b_evt, 0, PM1_PWRBTN);
  pm1_write(fadt.pm1a_evt, en, PM1_PWRBTN); /* only the power button raises the SCI */
  pm1_write(fadt.pm1b_evt, en, PM1_PWRBTN);
  sci_gsi = fadt.sci;
  irq_line_service(fadt.sci); /* the shim services the SCI itself: never left masked */
  return PLAT_STOP_LINE;
}

int acpi_sci(uint32_t gsi) {
  if ((int32_t)gsi != sci_gsi) return 0;
  uint16_t a = inw(fadt.pm1a_evt), b = fadt.pm1b_evt ? inw(fadt.pm1b_evt) : 0;
  /* Acknowledge every status bit set, so the SCI deasserts; ours or not. */
  pm1_write(fadt.pm1a_evt, 0, a);
  pm1_write(fadt.pm1b_evt, 0, b);
  if ((a | b) & PM1_PWRBTN) return 2;
  return 1;
}

SHIM_CODE_END
