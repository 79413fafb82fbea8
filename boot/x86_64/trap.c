/*
 * GDT/TSS/IDT and the CPU exception report (its backtrace: boot/common/shim.c).
 *
 * Every exception is fatal: the report names it and shows the vector, error
 * code, RIP (symbolized), RSP, CR2 for #PF and the frame-pointer chain, then
 * plat_exit(RT_EXIT_CPU). #NMI, #DF, #PF and #MC run on their own IST stacks, so a
 * kernel stack overflow (a #PF in the guard page below the boot stack) is
 * still reported.
 */
#include "x86.h"

SHIM_CODE_BEGIN

uint8_t ist_stacks[4][IST_STACK_SIZE] __attribute__((aligned(16), section(".bss.noinit.ist")));

struct tss {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3, iomap_base;
} __attribute__((packed));

struct idt_entry {
  uint16_t off0, sel;
  uint8_t ist, type;
  uint16_t off1;
  uint32_t off2, reserved;
};

static struct tss tss;
static struct idt_entry idt[256] __attribute__((aligned(16))); /* .bss: zeroed by entry.S */

static void set_gate(unsigned v, void *handler, unsigned ist) {
  uint64_t a = (uint64_t)(uintptr_t)handler;
  idt[v] = (struct idt_entry){(uint16_t)a, 0x08, (uint8_t)ist, 0x8e, (uint16_t)(a >> 16), (uint32_t)(a >> 32), 0};
}

void trap_init(void) {
  uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof tss - 1;
  for (int i = 0; i < 4; i++) tss.ist[i] = (uint64_t)(uintptr_t)(ist_stacks[i] + IST_STACK_SIZE);
  tss.iomap_base = sizeof tss;
  boot_gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) | (((limit >> 16) & 0xf) << 48) |
                (((base >> 24) & 0xff) << 56);
  boot_gdt[4] = base >> 32;
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) gdtr = {5 * 8 - 1, (uint64_t)(uintptr_t)boot_gdt},
                            idtr = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};
  __asm__ volatile("lgdt %0; ltr %w1" ::"m"(gdtr), "r"(0x18) : "memory");

  /* IST 1: #DF, 2: NMI, 3: #MC, 4: #PF */
  static const uint8_t ist[32] = {[8] = 1, [2] = 2, [18] = 3, [14] = 4};
  for (unsigned v = 0; v < 32; v++) set_gate(v, exc_stubs + 16 * v, ist[v]);
  for (unsigned v = 0x20; v < 0x70; v++) set_gate(v, irq_stubs + 8 * (v - 0x20), 0);
  set_gate(0xf0, irq_stub_timer, 0);
  set_gate(0xff, irq_stub_spurious, 0);
  __asm__ volatile("lidt %0" ::"m"(idtr) : "memory");
}

static const char *const exc_names[32] = {
    "divide error (#DE)", "debug (#DB)", "NMI", "breakpoint (#BP)", "overflow (#OF)",
    "bound range exceeded (#BR)", "invalid opcode (#UD)", "device not available (#NM)",
    "double fault (#DF)", "coprocessor segment overrun", "invalid TSS (#TS)", "segment not present (#NP)",
    "stack-segment fault (#SS)", "general protection fault (#GP)", "page fault (#PF)", "reserved 15",
    "x87 floating-point error (#MF)", "alignment check (#AC)", "machine check (#MC)",
    "SIMD floating-point exception (#XM)", "virtualization exception (#VE)", "control protection (#CP)",
    "reserved 22", "reserved 23", "reserved 24", "reserved 25", "reserved 26", "reserved 27",
    "hypervisor injection (#HV)", "VMM communication (#VC)", "security exception (#SX)", "reserved 31"};

/* True if [a, a+len) lies in memory the page tables map readable: a stack
 * of ours, or usable RAM outside page 0 and the stack guard page. */
bool trap_addr_readable(uint64_t a, uint64_t len) {
  uint64_t e = a + len;
  if (e < a) return false;
  uint64_t g = (uint64_t)(uintptr_t)__stack_guard;
  if (a < 4096 || (a < g + 4096 && e > g)) return false;
  for (unsigned i = 0; i < boot_mem_count; i++)
    if (boot_mem[i].type == 1 && a >= boot_mem[i].base && e <= boot_mem[i].base + boot_mem[i].len) return true;
  return a >= (uint64_t)(uintptr_t)__image_start && e <= (uint64_t)(uintptr_t)__image_end;
}

_Noreturn void trap_exception(struct trap_frame *f) {
  static int depth;
  unsigned v = (unsigned)f->vector & 31;
  if (depth++) {
    kputs("\n*** nested CPU exception: ");
    kputs(exc_names[v]);
    kputs(" at rip ");
    kput_hex(f->rip);
    kputs("\n");
    plat_exit(RT_EXIT_CPU);
  }
  uint64_t cr2 = v == 14 ? read_cr2() : 0;
  /* A wasm access beyond linear memory: in guard-page mode, the bounds check. */
  if (v == 14 && mm_in_linear_window(cr2)) runtime_memory_fault(f->rip, f->rbp);
  uint64_t g = (uint64_t)(uintptr_t)__stack_guard;
  kputs("\n*** CPU exception: ");
  if (v == 14 && cr2 >= g && cr2 < g + 4096)
    kputs("kernel stack overflow (page fault in the stack guard page)");
  else
    kputs(exc_names[v]);
  kputs("\n  vector ");
  kput_dec(v);
  kputs(", error code ");
  kput_hex(f->error);
  kputs("\n  rip ");
  kput_hex(f->rip);
  shim_put_symbol(f->rip, f->rip);
  kputs("\n  rsp ");
  kput_hex(f->rsp);
  kputs(", rbp ");
  kput_hex(f->rbp);
  if (v == 14) {
    kputs("\n  cr2 ");
    kput_hex(cr2);
    kputs(f->error & 1 ? " (protection violation" : " (not mapped");
    kputs(f->error & 2 ? ", write" : ", read");
    if (f->error & 16) kputs(", instruction fetch");
    kputs(cr2 < 4096 ? ", null pointer)" : ")");
  }
  kputs("\n  backtrace:\n");
  plat_backtrace(f->rbp);
  plat_exit(RT_EXIT_CPU);
}

SHIM_CODE_END
