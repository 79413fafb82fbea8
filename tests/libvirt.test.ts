// uniwasm images as libvirt domains, from `uniwasm export --libvirt` (libvirt's
// QEMU driver, domain type qemu). Runs when libvirt is installed
// (.ci/run installs it): libvirtd and virtlogd are started if no service
// manager runs them. One isolated network this test defines (its own bridge
// and subnet: the only addresses it sends to), three httpd domains on it
// (each curled at the address its console reports), `virsh shutdown` of one
// (the ACPI power button: the kernel's stop handler, exit 0) and `virsh
// destroy` of the others, plus a kernel that exits 0 (ACPI power-off) and one
// that fails (pvpanic): libvirt's reported state and reason for each, and the
// `exit code N` line in each console file. aarch64 (when its QEMU is there):
// an httpd domain on its own network, curled and shut down, and a failure.
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVerb } from "../tools/cli.ts";
import { domainXml, networkXml } from "../tools/libvirt.ts";
import { loadApp } from "../tools/app.ts";
import { buildImage } from "../tools/image.ts";
import { ROOT } from "../tools/paths.ts";
import { scratchDir } from "./helpers/kernel.ts";

const run = promisify(execFile);
const quiet = { stage: () => {}, info: () => {} };
const URI = "qemu:///system";
const SOCK = "/run/libvirt/libvirt-sock";

function has(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** Why libvirt cannot be used here, or undefined (then its daemons are running). */
function libvirtUnavailable(): string | undefined {
  if (!has("virsh") || !has("libvirtd") || !has("virtlogd")) return "libvirt is not installed (apt-get install libvirt-daemon-system libvirt-clients)";
  if (!has("qemu-system-x86_64") || !has("clang")) return "QEMU or clang is missing";
  if (process.getuid?.() !== 0) return "needs root (libvirt's system instance)";
  // No service manager here (no systemd as PID 1): start the daemons ourselves.
  if (spawnSync("pgrep", ["-x", "virtlogd"]).status !== 0) spawnSync("virtlogd", ["-d"]);
  if (spawnSync("pgrep", ["-x", "libvirtd"]).status !== 0) spawnSync("libvirtd", ["-d"]);
  for (let i = 0; i < 100 && !existsSync(SOCK); i++) spawnSync("sleep", ["0.1"]);
  const v = spawnSync("virsh", ["-c", URI, "version"], { encoding: "utf8", timeout: 120_000 });
  if (v.status !== 0) return `libvirtd does not answer: ${(v.stderr || v.stdout || "").trim().split("\n")[0]}`;
  if (!/QEMU/.test(v.stdout)) return "libvirt has no QEMU driver (libvirt-daemon-driver-qemu)";
  return undefined;
}

async function virsh(...args: string[]): Promise<string> {
  const r = await run("virsh", ["-c", URI, ...args], { encoding: "utf8", timeout: 120_000 });
  return r.stdout.trim();
}

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("uniwasm export --libvirt: the XML and its errors (no libvirt needed)", () => {
  const base = { name: "web", arch: "x86_64" as const, image: "/srv/web.img", memory: "64M", console: "/srv/web.console" };
  it("writes every setting the domain needs, escaped", () => {
    const x = domainXml({ ...base, cmdline: "ip=dhcp msg=<a&b>", network: "lan" });
    const want = [
      "<domain type='qemu'>",
      "<memory unit='KiB'>65536</memory>",
      "<kernel>/srv/web.img</kernel>",
      "<cmdline>ip=dhcp msg=&lt;a&amp;b&gt;</cmdline>",
      ...["poweroff", "reboot", "crash"].map((a) => `<on_${a}>destroy</on_${a}>`),
      "<source network='lan'/>",
      "<model type='virtio-non-transitional'/>",
      "<controller type='usb' model='none'/>",
      "<memballoon model='none'/>",
      "<panic model='isa'>",
      "<source path='/srv/web.console'/>",
    ];
    for (const w of want) expect(x).toContain(w);
    expect(domainXml({ ...base, bridge: "br0" })).toContain("<interface type='bridge'>\n      <source bridge='br0'/>");
    expect(domainXml(base)).not.toContain("<interface");
    const n = networkXml({ name: "lan", bridge: "uw-lan", address: "10.79.0.1/24" });
    expect(n).toContain("<ip address='10.79.0.1' netmask='255.255.255.0'>");
    expect(n).toContain("<range start='10.79.0.2' end='10.79.0.254'/>");
    expect(n).toContain("<dnsmasq:option value='no-ping'/>");
    expect(n).not.toContain("<forward");
    expect(networkXml({ name: "lan", bridge: "uw-lan", address: "10.79.0.254/24" })).toContain("<range start='10.79.0.1' end='10.79.0.253'/>");
    // aarch64: the virt machine, a GIC, no ACPI (libvirt wants UEFI for it there) and no panic device (none in libvirt 9.0)
    const arm = domainXml({ ...base, arch: "aarch64", network: "lan" });
    for (const w of ["<type arch='aarch64' machine='virt'>hvm</type>", "<gic version='2'/>", "<model fallback='forbid'>cortex-a72</model>", "<source network='lan'/>", "<on_crash>destroy</on_crash>"]) expect(arm).toContain(w);
    expect(arm).not.toContain("<acpi/>");
    expect(arm).not.toContain("<panic");
    // for a host with KVM: type kvm and the host's CPU, the rest alike
    for (const arch of ["x86_64", "aarch64"] as const) {
      const k = domainXml({ ...base, arch, accel: "kvm" });
      expect(k).toMatch(/^<domain type='kvm'>/);
      expect(k).toContain("<cpu mode='host-passthrough' check='none'/>");
      expect(k).not.toContain("cortex-a72");
      const rest = (x: string) => x.replace(/^<domain type='\w+'>/, "").replace(/\n  <cpu[^]*?(\/>|<\/cpu>)/, "");
      expect(rest(k)).toBe(rest(domainXml({ ...base, arch })));
    }
  });
  it("refuses what libvirt would refuse, naming the option", () => {
    expect(() => domainXml({ ...base, name: "a b" })).toThrow(/--name "a b": expected 1-64 letters/);
    expect(() => domainXml({ ...base, network: "n", bridge: "b" })).toThrow(/--network and --bridge: give one/);
    expect(() => networkXml({ name: "n", bridge: "b", address: "10.1.2.0/24" })).toThrow(/the subnet's network address/);
    expect(() => networkXml({ name: "n", bridge: "b", address: "10.1.2.3" })).toThrow(/expected the host's address and a prefix/);
    expect(() => networkXml({ name: "n", bridge: "b", address: "10.1.2.3/31" })).toThrow(/prefix of 8-30 bits/);
    expect(() => networkXml({ name: "n", bridge: "a-very-long-bridge-name", address: "10.1.2.3/24" })).toThrow(/1-15 letters/);
  });
  it("the verb: a format is required, --isolated-network needs --out", async () => {
    const img = join(ROOT, "package.json"); // refused before the file is read
    await expect(runVerb(["export", img, "--arch", "x86_64"])).rejects.toThrow(/say which format: --libvirt/);
    await expect(runVerb(["export", img, "--arch", "x86_64", "--libvirt", "--isolated-network", "10.9.0.1/24"])).rejects.toThrow(/--isolated-network writes a second file: give --out/);
  });
  it.skipIf(!has("clang"))("the verb checks the image as boot does: what a file that is none is, the memory it needs, its architecture", async () => {
    const img = (await buildImage(loadApp(join(ROOT, "apps", "hello")), { arch: "x86_64", outDir: join(ROOT, "build", "test-qemu", "libvirt-hello") }, quiet)).image;
    await expect(runVerb(["export", join(ROOT, "README.md"), "--libvirt"])).rejects.toThrow(/README\.md is not a bootable image: a text file$/);
    await expect(runVerb(["export", img, "--libvirt", "--mem", "1M"])).rejects.toThrow(/--mem 1M is too little for .*hello\.img: it needs at least 2M/);
    await expect(runVerb(["export", img, "--libvirt", "--arch", "aarch64"])).rejects.toThrow(/is a Multiboot ELF \(x86_64\) image, not one for aarch64 \(use --arch x86_64\)/);
    const out = scratchDir("libvirt-export");
    expect(await runVerb(["export", img, "--libvirt", "--out", out, "--name", "h1", "--mem", "2M"])).toBe(0);
    const xml = readFileSync(join(out, "h1.xml"), "utf8");
    expect(xml).toContain("<memory unit='KiB'>2048</memory>");
    expect(xml).toContain(`<kernel>${join(out, "h1.img")}</kernel>`);
    expect(readFileSync(join(out, "h1.img"))).toEqual(readFileSync(img));
  });
});

const why = libvirtUnavailable();

describe.skipIf(!!why)(`libvirt domains from uniwasm export --libvirt${why ? ` (skipped: ${why})` : ""}`, () => {
  const dir = scratchDir("libvirt");
  chmodSync(dir, 0o755); // libvirt's QEMU runs as its own user: it must read the images here
  const tag = `uw${process.pid % 100000}`;
  const net = `${tag}-net`;
  const sub = `10.201.${process.pid % 200}`;
  const webs = [1, 2, 3].map((i) => `${tag}-web${i}`);
  const hello = `${tag}-hello`;
  const fail = `${tag}-fail`;
  const armNet = `${tag}-arm`;
  const armSub = `10.202.${process.pid % 200}`;
  const armWeb = `${tag}-armweb`;
  const armFail = `${tag}-armfail`;
  const all = [...webs, hello, fail, armWeb, armFail];
  const hasArm = has("qemu-system-aarch64");
  const images: Record<string, string> = {};

  beforeAll(async () => {
    const b = async (p: string, name: string) => (await buildImage(loadApp(join(ROOT, p)), { arch: "x86_64", outDir: join(ROOT, "build", "test-qemu", name) }, quiet)).image;
    images.httpd = await b("apps/httpd", "httpd");
    images.hello = await b("apps/hello", "hello");
    images.exit = await b("tests/kernels/exit-code", "exit-code");
    if (hasArm) {
      const a = async (p: string, name: string) => (await buildImage(loadApp(join(ROOT, p)), { arch: "aarch64", outDir: join(ROOT, "build", "test-qemu", `${name}-aarch64`) }, quiet)).image;
      images.armHttpd = await a("apps/httpd", "httpd");
      images.armExit = await a("tests/kernels/exit-code", "exit-code");
    }
  }, 600_000);

  afterAll(async () => {
    for (const d of all) {
      await virsh("destroy", d).catch(() => "");
      await virsh("undefine", d).catch(() => "");
    }
    for (const n of [net, armNet]) await virsh("net-destroy", n).catch(() => "");
  }, 120_000);

  const consoleOf = (d: string) => (existsSync(join(dir, `${d}.console`)) ? readFileSync(join(dir, `${d}.console`), "utf8").replace(/\r/g, "") : "");
  const exp = (img: string, name: string, ...more: string[]) => runVerb(["export", img, "--libvirt", "--out", dir, "--name", name, "--mem", "64M", ...more]);
  const stateOf = (d: string) => virsh("domstate", d, "--reason");
  const settled = (d: string) => until(`${d} to stop`, async () => {
    const s = await stateOf(d);
    return s.startsWith("shut off") ? s : undefined;
  });
  /** The address the domain's console reports once httpd is ready, then a checked GET to it. */
  async function served(d: string, subnet: string): Promise<string> {
    const a = await until(`${d}'s address`, () => /httpd: address (\S+)\/24/.exec(consoleOf(d))?.[1]);
    expect(a.startsWith(`${subnet}.`), `${d} got ${a}`).toBe(true);
    await until(`${d} ready`, () => (consoleOf(d).includes("httpd: ready") ? true : undefined));
    const r = await run("curl", ["-sS", "-m", "20", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", `http://${a}/12345`], { encoding: "utf8" });
    expect(r.stdout).toBe("200 12345");
    return a;
  }

  it("three httpd domains on an isolated network answer; shutdown is a clean exit 0, destroy a destroy; a kernel's exit 0 is a shutdown, a failure a crash", async () => {
    // the first export also writes the network
    expect(await exp(images.httpd, webs[0], "--network", net, "--isolated-network", `${sub}.1/24`, "--append", "ip=dhcp")).toBe(0);
    for (const w of webs.slice(1)) expect(await exp(images.httpd, w, "--network", net, "--append", "ip=dhcp")).toBe(0);
    expect(await exp(images.hello, hello)).toBe(0);
    expect(await exp(images.exit, fail, "--append", "code=3")).toBe(0);
    const xml = readFileSync(join(dir, `${webs[0]}.xml`), "utf8");
    if (has("virt-xml-validate")) {
      execFileSync("virt-xml-validate", [join(dir, `${webs[0]}.xml`), "domain"]);
      execFileSync("virt-xml-validate", [join(dir, `${net}.network.xml`), "network"]);
      // the KVM variant, which this host cannot run, is at least valid
      writeFileSync(join(dir, "kvm.xml"), domainXml({ name: "kvm", arch: "x86_64", image: images.httpd, memory: "64M", console: join(dir, "kvm.console"), network: net, accel: "kvm" }));
      execFileSync("virt-xml-validate", [join(dir, "kvm.xml"), "domain"]);
    }
    expect(xml).toContain("<acpi/>");
    expect(xml).toContain("<seclabel type='none' model='dac'/>");

    await virsh("net-create", join(dir, `${net}.network.xml`));
    for (const d of [...webs, hello, fail]) {
      await virsh("define", join(dir, `${d}.xml`));
      await virsh("start", d);
    }

    // each web domain: its DHCP address from its console, then a checked GET
    const addrs: string[] = [];
    for (const w of webs) addrs.push(await served(w, sub));
    expect(new Set(addrs).size).toBe(3);

    // the power button for the first, the plug for the others
    await virsh("shutdown", webs[0]);
    for (const w of webs.slice(1)) await virsh("destroy", w);
    expect(await settled(webs[0])).toBe("shut off (shutdown)");
    // httpd's App.onStop ends it (its counters follow), then the shim's exit line
    expect(consoleOf(webs[0])).toMatch(/stop requested: the app ends \(exit 0\)\n[^]*exit code 0\n$/);
    for (const w of webs.slice(1)) {
      expect(await settled(w)).toBe("shut off (destroyed)");
      expect(consoleOf(w)).not.toContain("exit code");
    }
    expect(await settled(hello)).toBe("shut off (shutdown)");
    expect(consoleOf(hello)).toMatch(/goodbye\nexit code 0\n$/);
    expect(await settled(fail)).toBe("shut off (crashed)");
    expect(consoleOf(fail)).toMatch(/exit code 3\n$/);
  }, 300_000);

  it.skipIf(!hasArm)("aarch64: httpd on the virt machine answers behind libvirt's PCIe root port and stops at virsh shutdown (the device tree's power key); a failure ends as a shutdown with its code on the console", async () => {
    expect(await exp(images.armHttpd, armWeb, "--network", armNet, "--isolated-network", `${armSub}.1/24`, "--append", "ip=dhcp")).toBe(0);
    expect(await exp(images.armExit, armFail, "--append", "code=3")).toBe(0);
    await virsh("net-create", join(dir, `${armNet}.network.xml`));
    for (const d of [armWeb, armFail]) await virsh("define", join(dir, `${d}.xml`));
    await virsh("start", armWeb);
    // with no firmware to run first, this kernel ends within milliseconds: before
    // libvirt has finished starting the domain unless it starts paused
    await virsh("start", "--paused", armFail);
    await virsh("resume", armFail);
    await served(armWeb, armSub);
    await virsh("shutdown", armWeb);
    expect(await settled(armWeb)).toBe("shut off (shutdown)");
    expect(consoleOf(armWeb)).toMatch(/stop requested: the app ends \(exit 0\)\n[^]*exit code 0\n$/);
    // libvirt 9.0 has no panic device for aarch64: the console line is the code's record
    expect(await settled(armFail)).toBe("shut off (shutdown)");
    expect(consoleOf(armFail)).toMatch(/exit code 3\n$/);
  }, 300_000);
});
