// A simulated network shaped like QEMU's user networking (slirp): the
// machine's NIC (52:54:00:12:34:56) on a link to a gateway at 10.0.2.2 that
// hands out 10.0.2.15 by DHCP, answers DNS and pings, and forwards host TCP
// ports into the guest (hostfwd), so an app that runs under
// `uniwasm boot --net user` runs unchanged under `uniwasm node --net sim`.

import { createServer, type Server, type Socket } from "node:net";
import type { Machine } from "../machine.ts";
import { DhcpServer } from "../netsim/dhcp-server.ts";
import { Network, type Link } from "../netsim/index.ts";
import { TcpForwarder } from "../netsim/tcp-forward.ts";
import { PcapWriter } from "../pcap.ts";
import { attachVirtioMmio } from "../virtio/attach.ts";
import { VirtioNet } from "../virtio/net.ts";
import type { World as KernelWorld } from "../world.ts";

export const GATEWAY_IP = "10.0.2.2";
export const GUEST_IP = "10.0.2.15";
const GATEWAY_MAC = "52:55:0a:00:02:02";
const GUEST_MAC = "52:54:00:12:34:56";

export interface HostForward {
  hostAddr: string;
  hostPort: number;
  guestAddr: string;
  guestPort: number;
}

/** Reads a QEMU-style rule: tcp:[hostaddr]:hostport-[guestaddr]:guestport. */
export function parseHostForward(rule: string): HostForward {
  const m = /^tcp:([\d.]*):(\d+)-([\d.]*):(\d+)$/.exec(rule);
  const bad = (why: string): never => {
    throw new Error(`--hostfwd ${rule}: ${why}`);
  };
  if (!m) bad("expected tcp:[hostaddr]:hostport-[guestaddr]:guestport, e.g. tcp:127.0.0.1:8080-:80 (only tcp is forwarded)");
  const [, ha, hp, ga, gp] = m!;
  for (const a of [ha, ga]) if (a && !/^(\d{1,3})(\.\d{1,3}){3}$/.test(a)) bad(`${a} is not an IPv4 address`);
  const hostPort = Number(hp);
  const guestPort = Number(gp);
  if (hostPort < 1 || hostPort > 65535 || guestPort < 1 || guestPort > 65535) bad("ports are 1..65535");
  return { hostAddr: ha || "0.0.0.0", hostPort, guestAddr: ga || GUEST_IP, guestPort };
}

export class UserNetwork {
  readonly network: Network;
  readonly link: Link;
  readonly nic: VirtioNet;
  readonly gateway: DhcpServer;
  readonly forwarder: TcpForwarder;
  private pcap?: { writer: PcapWriter; path: string };
  private servers: Server[] = [];
  private sockets = new Set<Socket>();
  /** Called when host traffic was queued into the simulation (the real-time runner wakes up). */
  onHostActivity?: () => void;

  constructor(
    readonly world: KernelWorld,
    readonly machine: Machine,
    opts: { seed?: bigint; pcap?: string } = {},
  ) {
    this.network = new Network(world, { seed: opts.seed ?? 1n });
    this.gateway = new DhcpServer(this.network, { serverIp: GATEWAY_IP, router: GATEWAY_IP, dns: GATEWAY_IP, first: GUEST_IP, mac: GATEWAY_MAC });
    this.nic = new VirtioNet(machine, { mac: GUEST_MAC });
    this.nic.connect(this.network.port("nic"));
    this.link = this.network.connect(this.nic.port!, this.gateway.host.port, { latencyNs: 100_000 });
    attachVirtioMmio(machine, this.nic);
    this.forwarder = new TcpForwarder({
      network: this.network,
      send: (f) => this.gateway.host.send(f),
      mac: macBytes(GATEWAY_MAC),
      ip: ipBytes(GATEWAY_IP),
      guestMac: macBytes(GUEST_MAC),
    });
    const dhcp = this.gateway.host.onFrame!;
    this.gateway.host.onFrame = (f, at) => {
      if (!this.forwarder.onFrame(f)) dhcp(f, at);
    };
    if (opts.pcap) {
      const writer = new PcapWriter({ resolution: "ns" });
      this.link.tee(writer);
      this.pcap = { writer, path: opts.pcap };
    }
  }

  /** Listens on the host for `rule`; each connection is relayed to the guest. */
  async forward(rule: HostForward): Promise<void> {
    const guest = ipBytes(rule.guestAddr);
    const server = createServer((sock) => this.accept(sock, guest, rule.guestPort));
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) =>
        reject(new Error(e.code === "EADDRINUSE" ? `--hostfwd: ${rule.hostAddr}:${rule.hostPort} is already in use on the host` : `--hostfwd: cannot listen on ${rule.hostAddr}:${rule.hostPort}: ${e.message}`)),
      );
      server.listen(rule.hostPort, rule.hostAddr, () => resolve());
    });
    this.servers.push(server);
  }

  private accept(sock: Socket, guest: Uint8Array, port: number): void {
    this.sockets.add(sock);
    sock.on("close", () => this.sockets.delete(sock));
    // host events land in the simulation at the current virtual time
    const inject = (fn: () => void) => {
      this.network.events.schedule(this.network.now(), fn);
      this.onHostActivity?.();
    };
    let handle = -1;
    inject(() => {
      handle = this.forwarder.open(guest, port, {
        write: (d) => sock.write(d),
        end: () => sock.end(),
        destroy: () => sock.destroy(),
        buffered: () => sock.writableLength,
      });
    });
    sock.on("drain", () => inject(() => this.forwarder.hostDrained(handle)));
    sock.on("data", (d: Buffer) => inject(() => this.forwarder.hostData(handle, new Uint8Array(d))));
    sock.on("end", () => inject(() => this.forwarder.hostEnd(handle)));
    sock.on("error", () => inject(() => this.forwarder.hostAbort(handle)));
  }

  /** Writes the capture so far (called on every exit path). */
  savePcap(): string | undefined {
    if (!this.pcap) return undefined;
    this.pcap.writer.save(this.pcap.path);
    return this.pcap.path;
  }

  /** Stops listening and drops host connections. */
  close(): void {
    for (const s of this.servers) s.close();
    for (const s of this.sockets) s.destroy();
    this.servers = [];
  }
}

function macBytes(s: string): Uint8Array {
  return Uint8Array.from(s.split(":").map((x) => parseInt(x, 16)));
}

function ipBytes(s: string): Uint8Array {
  return Uint8Array.from(s.split(".").map(Number));
}
