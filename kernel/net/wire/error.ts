// Why a packet did not parse. Malformed input is a value, never a trap: every
// parser checks a length before each load and returns one of these.

export enum WireError {
  Ok = 0,
  /** Shorter than its fixed header (or than a length field inside it needs). */
  Truncated = 1,
  /** IP version is not 4. */
  BadVersion = 2,
  /** IPv4 IHL below 5, or a header length larger than the packet. */
  BadHeaderLen = 3,
  /** A length field that lies: larger than the bytes present, or smaller than the header. */
  BadLength = 4,
  BadChecksum = 5,
  /** Well-formed but not something we handle (hardware type, opcode, EtherType, ...). */
  Unsupported = 6,
  /** IPv4 TTL of 0. */
  BadTtl = 7,
  /** DNS compression pointer outside the message. */
  BadPointer = 8,
  /** DNS compression pointer that does not point strictly backwards (a loop, or a forward jump). */
  PointerLoop = 9,
  /** DNS label over 63 bytes, or a reserved label type. */
  BadLabel = 10,
  /** DNS name over 255 bytes. */
  NameTooLong = 11,
  /** DHCP without the magic cookie. */
  BadMagic = 12,
  /** An option whose length runs past the packet or does not fit its type. */
  BadOption = 13,
  /** A reply to something else (DNS id or question mismatch, not a response). */
  Mismatch = 14,
}

export function wireErrorName(e: WireError): string {
  switch (e) {
    case WireError.Ok: return "ok";
    case WireError.Truncated: return "truncated";
    case WireError.BadVersion: return "bad-version";
    case WireError.BadHeaderLen: return "bad-header-len";
    case WireError.BadLength: return "bad-length";
    case WireError.BadChecksum: return "bad-checksum";
    case WireError.Unsupported: return "unsupported";
    case WireError.BadTtl: return "bad-ttl";
    case WireError.BadPointer: return "bad-pointer";
    case WireError.PointerLoop: return "pointer-loop";
    case WireError.BadLabel: return "bad-label";
    case WireError.NameTooLong: return "name-too-long";
    case WireError.BadMagic: return "bad-magic";
    case WireError.BadOption: return "bad-option";
    case WireError.Mismatch: return "mismatch";
  }
  return "?";
}
