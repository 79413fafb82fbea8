// Ephemeral ports (RFC 6056): the one allocator for every transport above an
// IP layer (UDP and TCP draw from the same cursor; each says which ports it
// has in use). The range is IANA's dynamic ports, 49152..65535; the cursor
// starts at a random place and moves on by one per allocation, so ports are
// hard to guess from outside yet reused as late as possible.

export const EPHEMERAL_FIRST: u32 = 49152;
export const EPHEMERAL_COUNT: u32 = 16384;

export class EphemeralPorts {
  private next: u32;

  /** `random`: any random number (where in the range the cursor starts). */
  constructor(random: u32) {
    this.next = EPHEMERAL_FIRST + random % EPHEMERAL_COUNT;
  }

  /** The port the next allocation tries first. */
  get cursor(): u32 {
    return this.next;
  }

  /**
   * The next port of the range that `user` says is free (its
   * `portInUse(port): bool` is false), or 0 when every one is in use.
   * `user` is any object with that method (a generic parameter, so no base
   * class is needed).
   */
  allocate<T>(user: T): u32 {
    for (let i: u32 = 0; i < EPHEMERAL_COUNT; i++) {
      const p = this.next;
      this.next = p + 1 >= EPHEMERAL_FIRST + EPHEMERAL_COUNT ? EPHEMERAL_FIRST : p + 1;
      if (!user.portInUse(p)) return p;
    }
    return 0;
  }
}
