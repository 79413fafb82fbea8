// Per-protocol counters, readable by apps (`net.counters`, or each layer's own). Every frame the
// stack drops is counted under exactly one reason, so a test (or an operator)
// can tell a checksum failure from a full queue from an attack.

import { print, println, printU64 } from "../console";

export class EthCounters {
  rxFrames: u64 = 0;
  txFrames: u64 = 0;
  /** Shorter than an Ethernet header. */
  dropTruncated: u64 = 0;
  /** Unicast to another MAC, or multicast. */
  dropNotForUs: u64 = 0;
  /** An EtherType we do not speak (IPv6, VLAN tags, 802.3 lengths). */
  dropUnknownType: u64 = 0;
  /** The device refused a frame (ring full, link down). */
  txDropped: u64 = 0;
}

export class ArpCounters {
  rxRequests: u64 = 0;
  rxReplies: u64 = 0;
  txRequests: u64 = 0;
  txReplies: u64 = 0;
  txGratuitous: u64 = 0;
  /** Truncated or not Ethernet/IPv4 ARP. */
  dropMalformed: u64 = 0;
  /** A sender MAC that is broadcast/multicast, or a sender IP that is ours from someone else. */
  dropBogus: u64 = 0;
  /** Requests for other addresses (not cached: they would let a storm fill the cache). */
  dropNotForUs: u64 = 0;
  /** Resolved entries pushed out of the full cache (never by a pending resolution). */
  evictions: u64 = 0;
  /** Pending resolutions of new addresses given up because ARP_INCOMPLETE were already in progress. */
  pendingEvictions: u64 = 0;
  /** Packets dropped because too many already waited for the same address. */
  dropPendingFull: u64 = 0;
  /** Packets dropped because the address never answered. */
  dropUnresolved: u64 = 0;
  /** Packets dropped because no cache entry could be had for their next hop. */
  dropNoEntry: u64 = 0;
  /** ARP messages not sent: the packet pool was empty. */
  dropNoBuffer: u64 = 0;
}

export class Ipv4Counters {
  rxPackets: u64 = 0;
  txPackets: u64 = 0;
  rxDelivered: u64 = 0;
  dropTruncated: u64 = 0;
  /** Version not 4, IHL < 5. */
  dropBadHeader: u64 = 0;
  /** Total length larger than the frame or smaller than the header; a fragment past 64 KiB. */
  dropBadLength: u64 = 0;
  dropBadChecksum: u64 = 0;
  dropBadTtl: u64 = 0;
  /** Broadcast/multicast or loopback source addresses. */
  dropBadSource: u64 = 0;
  dropNotForUs: u64 = 0;
  dropUnknownProtocol: u64 = 0;
  dropNoRoute: u64 = 0;
  /** The packet pool was empty when we needed a buffer. */
  dropNoBuffer: u64 = 0;
  /** Don't-fragment set on a packet larger than the MTU, or a datagram larger than 64 KiB. */
  dropTooBig: u64 = 0;
  fragmentsRx: u64 = 0;
  fragmentsTx: u64 = 0;
  reassembled: u64 = 0;
  /** Datagrams given up: fragments did not all arrive in time. */
  reasmTimeouts: u64 = 0;
  /** Overlapping fragments with different bytes (the whole datagram is dropped). */
  reasmOverlaps: u64 = 0;
  /** A datagram over the per-datagram limit. */
  reasmTooBig: u64 = 0;
  /** Datagrams pushed out because every reassembly slot was busy. */
  reasmEvictions: u64 = 0;
  /** Fragments that were exact repeats of what was already there. */
  reasmDuplicates: u64 = 0;
}

export class IcmpCounters {
  rxMessages: u64 = 0;
  txMessages: u64 = 0;
  rxEchoRequests: u64 = 0;
  rxEchoReplies: u64 = 0;
  dropMalformed: u64 = 0;
  dropBadChecksum: u64 = 0;
  /** Echo requests to a broadcast address (ignored, as Linux does by default). */
  dropBroadcastEcho: u64 = 0;
  unreachableSent: u64 = 0;
  /** Unreachables not sent because of the rate limit. */
  unreachableLimited: u64 = 0;
  /** Errors handed to the UDP socket they concern. */
  errorsDelivered: u64 = 0;
  /** Errors about nothing we have (a closed socket, a protocol we did not send, a mangled quote). */
  errorsUnmatched: u64 = 0;
  /** Types we do not handle. */
  dropOther: u64 = 0;
}

export class UdpCounters {
  rxDatagrams: u64 = 0;
  txDatagrams: u64 = 0;
  dropMalformed: u64 = 0;
  dropBadChecksum: u64 = 0;
  /** No socket bound to the port (an ICMP port unreachable goes back, rate-limited). */
  dropNoSocket: u64 = 0;
  /** The socket's receive queue was full (also counted on the socket). */
  dropQueueFull: u64 = 0;
  /** Larger than the socket's receive slots. */
  dropTooBig: u64 = 0;
}

/** One stack's counters, by layer: the objects each layer counts in. */
export class NetCounters {
  constructor(
    readonly eth: EthCounters,
    readonly arp: ArpCounters,
    readonly ip: Ipv4Counters,
    readonly icmp: IcmpCounters,
    readonly udp: UdpCounters,
  ) {}
}

function kv(k: string, v: u64): void {
  print(" ");
  print(k);
  print("=");
  printU64(v);
}

/** Prints every counter, one protocol per line ("net eth: rx=.. tx=.."), non-zero drops only. */
export function printCounters(c: NetCounters): void {
  const e = c.eth;
  print("net eth:");
  kv("rx", e.rxFrames); kv("tx", e.txFrames);
  if (e.dropTruncated) kv("drop_truncated", e.dropTruncated);
  if (e.dropNotForUs) kv("drop_not_for_us", e.dropNotForUs);
  if (e.dropUnknownType) kv("drop_unknown_type", e.dropUnknownType);
  if (e.txDropped) kv("tx_dropped", e.txDropped);
  println("");
  const a = c.arp;
  print("net arp:");
  kv("rx_req", a.rxRequests); kv("rx_rep", a.rxReplies); kv("tx_req", a.txRequests); kv("tx_rep", a.txReplies); kv("tx_garp", a.txGratuitous);
  if (a.dropMalformed) kv("drop_malformed", a.dropMalformed);
  if (a.dropBogus) kv("drop_bogus", a.dropBogus);
  if (a.dropNotForUs) kv("drop_not_for_us", a.dropNotForUs);
  if (a.evictions) kv("evictions", a.evictions);
  if (a.pendingEvictions) kv("pending_evictions", a.pendingEvictions);
  if (a.dropPendingFull) kv("drop_pending_full", a.dropPendingFull);
  if (a.dropUnresolved) kv("drop_unresolved", a.dropUnresolved);
  if (a.dropNoEntry) kv("drop_no_entry", a.dropNoEntry);
  if (a.dropNoBuffer) kv("drop_no_buffer", a.dropNoBuffer);
  println("");
  const i = c.ip;
  print("net ip:");
  kv("rx", i.rxPackets); kv("tx", i.txPackets); kv("delivered", i.rxDelivered);
  kv("frag_rx", i.fragmentsRx); kv("frag_tx", i.fragmentsTx); kv("reassembled", i.reassembled);
  if (i.dropTruncated) kv("drop_truncated", i.dropTruncated);
  if (i.dropBadHeader) kv("drop_bad_header", i.dropBadHeader);
  if (i.dropBadLength) kv("drop_bad_length", i.dropBadLength);
  if (i.dropBadChecksum) kv("drop_bad_checksum", i.dropBadChecksum);
  if (i.dropBadTtl) kv("drop_bad_ttl", i.dropBadTtl);
  if (i.dropBadSource) kv("drop_bad_source", i.dropBadSource);
  if (i.dropNotForUs) kv("drop_not_for_us", i.dropNotForUs);
  if (i.dropUnknownProtocol) kv("drop_unknown_protocol", i.dropUnknownProtocol);
  if (i.dropNoRoute) kv("drop_no_route", i.dropNoRoute);
  if (i.dropNoBuffer) kv("drop_no_buffer", i.dropNoBuffer);
  if (i.dropTooBig) kv("drop_too_big", i.dropTooBig);
  if (i.reasmTimeouts) kv("reasm_timeouts", i.reasmTimeouts);
  if (i.reasmOverlaps) kv("reasm_overlaps", i.reasmOverlaps);
  if (i.reasmTooBig) kv("reasm_too_big", i.reasmTooBig);
  if (i.reasmEvictions) kv("reasm_evictions", i.reasmEvictions);
  if (i.reasmDuplicates) kv("reasm_duplicates", i.reasmDuplicates);
  println("");
  const m = c.icmp;
  print("net icmp:");
  kv("rx", m.rxMessages); kv("tx", m.txMessages); kv("echo_req", m.rxEchoRequests); kv("echo_rep", m.rxEchoReplies);
  kv("unreach_sent", m.unreachableSent);
  if (m.unreachableLimited) kv("unreach_limited", m.unreachableLimited);
  if (m.errorsDelivered) kv("errors_delivered", m.errorsDelivered);
  if (m.errorsUnmatched) kv("errors_unmatched", m.errorsUnmatched);
  if (m.dropMalformed) kv("drop_malformed", m.dropMalformed);
  if (m.dropBadChecksum) kv("drop_bad_checksum", m.dropBadChecksum);
  if (m.dropBroadcastEcho) kv("drop_broadcast_echo", m.dropBroadcastEcho);
  if (m.dropOther) kv("drop_other", m.dropOther);
  println("");
  const u = c.udp;
  print("net udp:");
  kv("rx", u.rxDatagrams); kv("tx", u.txDatagrams);
  if (u.dropMalformed) kv("drop_malformed", u.dropMalformed);
  if (u.dropBadChecksum) kv("drop_bad_checksum", u.dropBadChecksum);
  if (u.dropNoSocket) kv("drop_no_socket", u.dropNoSocket);
  if (u.dropQueueFull) kv("drop_queue_full", u.dropQueueFull);
  if (u.dropTooBig) kv("drop_too_big", u.dropTooBig);
  println("");
}
