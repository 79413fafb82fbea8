// echo: TCP and UDP echo (RFC 862) on port 7, on the address from ip=... or DHCP.
import { Net, App, Service, Handler, Connection, DatagramHandler, UdpPort, Bytes, Kernel, println } from "uniwasm";

class Echo extends Handler {
  // A refused write leaves the bytes unconsumed: they come back after onWritable.
  onData(c: Connection, data: Bytes): u32 { return c.write(data) ? data.length : 0; }
}
class EchoService extends Service {
  accept(c: Connection): Handler | null { return new Echo(); }
}
class UdpEcho extends DatagramHandler {
  onDatagram(port: UdpPort, data: Bytes, ip: u32, fromPort: u32): void { port.sendTo(ip, fromPort, data); }
}
class EchoApp extends App {
  onUp(net: Net): void {
    if (!net.serve(7, new EchoService()) || !net.bind(7, new UdpEcho())) Kernel.fail("port 7 is taken");
    else println("echo: " + net.describe() + ": tcp and udp port 7");
  }
}

export function main(): i32 {
  Net.up(new EchoApp());
  return Kernel.run();
}
