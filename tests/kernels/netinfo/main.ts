// netinfo: finds every NIC (virtio-net on PCI and on virtio-mmio), brings it
// up, prints what the driver negotiated, then asks each NIC's gateway
// (QEMU user networking: 10.0.2.2, we are 10.0.2.15) for its MAC with ARP
// and waits for the answers through the scheduler and the NICs' interrupts.
// Exit 0 when every NIC got its reply; 2 with no NIC; 3 on timeout.

import { print, println, printU64 } from "../../../kernel/console";
import { clock_ns } from "../../../kernel/hal";
import { commandLine } from "../../../kernel/cmdline";
import { packetPool, PacketPool, PKT_HEADROOM } from "../../../kernel/mem/pktbuf";
import { NetDevice, NetReceiver, TxResult, formatMac } from "../../../kernel/net/device";
import { Scheduler, Task, MS, SEC } from "../../../kernel/sched/index";
import { virtioDevices, VirtioNet, VirtioRng, InitResult, initResultName, featureNames, routeNetIrq, routeIrq, setDefaultRng, DEVICE_NET, DEVICE_RNG } from "../../../drivers/virtio/index";

const OUR_IP: u32 = 0x0a00020f; // 10.0.2.15
const GATEWAY_IP: u32 = 0x0a000202; // 10.0.2.2
const TIMEOUT: u64 = 10 * SEC;

let nics = new Array<VirtioNet>();
let answered = new Array<bool>();
let gatewayMac = new Array<string>();
let replyAt = new Array<u64>();
let sched!: Scheduler;
let failed = false;
let start: u64 = 0;

function indexOf(dev: NetDevice): i32 {
  for (let i = 0; i < nics.length; i++) if (changetype<usize>(nics[i]) == changetype<usize>(dev)) return i;
  return -1;
}

@inline function be16(p: usize): u32 {
  return (<u32>load<u8>(p) << 8) | load<u8>(p, 1);
}
@inline function be32(p: usize): u32 {
  return (be16(p) << 16) | be16(p + 2);
}
@inline function put16(p: usize, v: u32): void {
  store<u8>(p, <u8>(v >> 8));
  store<u8>(p, <u8>v, 1);
}
@inline function put32(p: usize, v: u32): void {
  put16(p, v >> 16);
  put16(p + 2, v);
}

class ArpWatcher extends NetReceiver {
  receive(dev: NetDevice, buf: usize, len: u32, flags: u32): void {
    const f = buf + PKT_HEADROOM;
    const i = indexOf(dev);
    // Ethernet + ARP for IPv4 over Ethernet, opcode 2 (reply), from the gateway, to us.
    if (i >= 0 && len >= 42 && be16(f + 12) == 0x0806 && be16(f + 14) == 1 && be16(f + 16) == 0x0800 &&
        be16(f + 20) == 2 && be32(f + 28) == GATEWAY_IP && be32(f + 38) == OUR_IP && !answered[i]) {
      answered[i] = true;
      gatewayMac[i] = formatMac(f + 22);
      replyAt[i] = clock_ns();
      let all = true;
      for (let k = 0; k < answered.length; k++) all = all && answered[k];
      if (all) sched.stop();
    }
    dev.pool.free(buf);
  }
}

/** Builds and sends one ARP request "who has 10.0.2.2? tell 10.0.2.15". */
function sendArp(dev: VirtioNet, pool: PacketPool): bool {
  const buf = pool.alloc();
  if (buf == 0) return false;
  const f = buf + PKT_HEADROOM;
  const mac = changetype<usize>(dev.mac);
  for (let i = 0; i < 6; i++) store<u8>(f + i, 0xff);
  memory.copy(f + 6, mac, 6);
  put16(f + 12, 0x0806);
  put16(f + 14, 1); // hardware type: Ethernet
  put16(f + 16, 0x0800); // protocol: IPv4
  store<u8>(f + 18, 6);
  store<u8>(f + 19, 4);
  put16(f + 20, 1); // request
  memory.copy(f + 22, mac, 6);
  put32(f + 28, OUR_IP);
  memory.fill(f + 32, 0, 6);
  put32(f + 38, GATEWAY_IP);
  memory.fill(f + 42, 0, 18); // pad to the 60-byte minimum
  const r = dev.transmit(buf, 60, 0, 0);
  if (r != TxResult.Ok) {
    pool.free(buf);
    return false;
  }
  dev.flush();
  return true;
}

class Asker extends Task {
  constructor(readonly pool: PacketPool) {
    super("arp");
  }
  run(): void {
    if (clock_ns() - start >= TIMEOUT) {
      failed = true;
      sched.stop();
      return;
    }
    for (let i = 0; i < nics.length; i++) if (!answered[i]) sendArp(nics[i], this.pool);
    this.sleep(1 * SEC); // ARP requests get lost too: ask again
  }
}

function line(dev: VirtioNet, what: string): void {
  print("netinfo: ");
  print(dev.name);
  print(" ");
  println(what);
}

export function main(): i32 {
  start = clock_ns();
  const pool = packetPool(1024);
  const found = virtioDevices();
  for (let i = 0; i < found.problems.length; i++) println("netinfo: skipped " + found.problems[i]);
  const nets = found.ofType(DEVICE_NET);
  sched = new Scheduler();

  const rngs = found.ofType(DEVICE_RNG);
  if (rngs.length > 0) {
    const rng = new VirtioRng(rngs[0]);
    if (rng.init() == InitResult.Ok) {
      const tmp = memory.data(16);
      const got = rng.read(tmp, 16);
      print("netinfo: rng ");
      print(rngs[0].location());
      print(": ");
      printU64(got);
      println(" bytes of entropy from the device");
      setDefaultRng(rng);
      routeIrq(sched, rngs[0].line, rng);
    } else println("netinfo: rng failed: " + initResultName(rng.result));
  }

  const watcher = new ArpWatcher();
  for (let i = 0; i < nets.length; i++) {
    const dev = new VirtioNet(nets[i], pool);
    const r = dev.init();
    if (r != InitResult.Ok) {
      line(dev, "on " + nets[i].location() + " failed: " + initResultName(r));
      continue;
    }
    line(dev, "transport " + nets[i].location() + " irq " + dev.line.toString());
    line(dev, "mac " + dev.macString());
    line(dev, "link " + (dev.linkUp() ? "up" : "down") + " mtu " + dev.mtu.toString());
    line(dev, "features " + featureNames(DEVICE_NET, dev.features));
    line(dev, "queues rx " + dev.rx!.size.toString() + " tx " + dev.tx!.size.toString());
    dev.setReceiver(watcher);
    routeNetIrq(sched, dev);
    nics.push(dev);
    answered.push(false);
    gatewayMac.push("");
    replyAt.push(0);
  }
  if (nics.length == 0) {
    println("netinfo: error: no network device found (boot with --net user)");
    println("netinfo: command line: " + commandLine());
    return 2;
  }

  sched.spawn(new Asker(pool));
  sched.run();

  let code = 0;
  for (let i = 0; i < nics.length; i++) {
    const d = nics[i];
    if (answered[i]) {
      line(d, "gateway 10.0.2.2 is at " + gatewayMac[i] + " (" + ((replyAt[i] - start) / MS).toString() + " ms after start)");
    } else {
      line(d, "error: no ARP reply from 10.0.2.2 within " + (TIMEOUT / SEC).toString() + " s");
      code = 3;
    }
    const s = d.stats;
    line(d, "counters tx " + s.txPackets.toString() + " rx " + s.rxPackets.toString() + " dropped " + s.rxDropped.toString() +
      " interrupts " + s.interrupts.toString() + " kicks " + s.txKicks.toString() + " bad completions " + d.badCompletions().toString());
  }
  print("netinfo: packet buffers in use ");
  printU64(pool.inUse);
  print(", high water ");
  printU64(pool.highWater);
  print(" of ");
  printU64(pool.capacity);
  println("");
  if (failed && code == 0) code = 3;
  println(code == 0 ? "netinfo: ok" : "netinfo: FAILED");
  return code;
}
