// Per-protocol counters, readable by apps (`net.counters`, or each layer's
// own). Every frame the stack drops is counted under exactly one reason, so
// a test (or an operator) can tell a checksum failure from a full queue from
// an attack. Each set is a CounterSet (kernel/counters.ts): the fields, then
// their printed names in the same order; the first `always` print even at 0.

import { CounterSet, printCounterSet } from "../counters";

export class EthCounters extends CounterSet {
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
  constructor() {
    super("eth", ["rx", "tx", "drop_truncated", "drop_not_for_us", "drop_unknown_type", "tx_dropped"], 2, offsetof<EthCounters>());
  }
}

export class ArpCounters extends CounterSet {
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
  /** Entries in use past their lifetime whose MAC did not answer again (forgotten). */
  unconfirmed: u64 = 0;
  constructor() {
    super("arp", ["rx_req", "rx_rep", "tx_req", "tx_rep", "tx_garp", "drop_malformed", "drop_bogus", "drop_not_for_us", "evictions",
      "pending_evictions", "drop_pending_full", "drop_unresolved", "drop_no_entry", "drop_no_buffer", "unconfirmed"], 5, offsetof<ArpCounters>());
  }
}

export class Ipv4Counters extends CounterSet {
  rxPackets: u64 = 0;
  txPackets: u64 = 0;
  rxDelivered: u64 = 0;
  fragmentsRx: u64 = 0;
  fragmentsTx: u64 = 0;
  reassembled: u64 = 0;
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
  constructor() {
    super("ip", ["rx", "tx", "delivered", "frag_rx", "frag_tx", "reassembled", "drop_truncated", "drop_bad_header", "drop_bad_length",
      "drop_bad_checksum", "drop_bad_ttl", "drop_bad_source", "drop_not_for_us", "drop_unknown_protocol", "drop_no_route", "drop_no_buffer",
      "drop_too_big", "reasm_timeouts", "reasm_overlaps", "reasm_too_big", "reasm_evictions", "reasm_duplicates"], 6, offsetof<Ipv4Counters>());
  }
}

export class IcmpCounters extends CounterSet {
  rxMessages: u64 = 0;
  txMessages: u64 = 0;
  rxEchoRequests: u64 = 0;
  rxEchoReplies: u64 = 0;
  unreachableSent: u64 = 0;
  /** Unreachables not sent because of the rate limit. */
  unreachableLimited: u64 = 0;
  /** Errors handed to the protocol whose datagram they quote, which had something it concerned. */
  errorsDelivered: u64 = 0;
  /** Errors about nothing we have (a closed socket, a protocol we did not send, a mangled quote). */
  errorsUnmatched: u64 = 0;
  dropMalformed: u64 = 0;
  dropBadChecksum: u64 = 0;
  /** Echo requests to a broadcast address (ignored, as Linux does by default). */
  dropBroadcastEcho: u64 = 0;
  /** Types we do not handle. */
  dropOther: u64 = 0;
  constructor() {
    super("icmp", ["rx", "tx", "echo_req", "echo_rep", "unreach_sent", "unreach_limited", "errors_delivered", "errors_unmatched",
      "drop_malformed", "drop_bad_checksum", "drop_broadcast_echo", "drop_other"], 5, offsetof<IcmpCounters>());
  }
}

export class UdpCounters extends CounterSet {
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
  constructor() {
    super("udp", ["rx", "tx", "drop_malformed", "drop_bad_checksum", "drop_no_socket", "drop_queue_full", "drop_too_big"], 2, offsetof<UdpCounters>());
  }
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

/** Prints every layer's counters, one line each ("net eth: rx=.. tx=.."), drops only when non-zero. */
export function printCounters(c: NetCounters): void {
  printCounterSet(c.eth, "net");
  printCounterSet(c.arp, "net");
  printCounterSet(c.ip, "net");
  printCounterSet(c.icmp, "net");
  printCounterSet(c.udp, "net");
}
