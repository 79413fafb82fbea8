// SACK-based loss recovery (RFC 6675): the scoreboard of what the peer
// reported holding (RFC 2018 blocks), and the rules that read it: IsLost
// (DupThresh), SetPipe, and NextSeg's rules 1 and 3. This module decides
// what to retransmit; output.ts sends it, input.ts decides when recovery
// starts and ends.

import { TcpRepr } from "../wire/tcp";
import { SeqRanges } from "./ranges";
import { seqLt, seqLe, seqGt, seqGe, seqMax, seqMin } from "./seq";

/** Duplicate ACKs (or SACKed segments above a hole) that mean a loss. */
export const DUP_THRESH: u32 = 3;

export class SackRecovery {
  /** What the peer SACKed, above SND.UNA. */
  readonly board: SeqRanges = new SeqRanges(16);
  /** RFC 6675 HighRxt: the highest sequence number retransmitted in this recovery. */
  highRxt: u32 = 0;
  /** NextSeg's answer: the segment to (re)send. */
  nextSeq: u32 = 0;
  nextLen: u32 = 0;

  /** Reads the SACK blocks of `seg` into the scoreboard. Returns whether they added anything. */
  take(seg: TcpRepr, sndUna: u32, sndMax: u32): bool {
    const sb = this.board;
    const before = sb.bytes();
    for (let i = 0; i < seg.sackCount; i++) {
      let l = unchecked(seg.sackLeft[i]);
      const r = unchecked(seg.sackRight[i]);
      // Blocks must lie within what we sent; D-SACKs (below SND.UNA) carry nothing for recovery.
      if (!seqLt(l, r) || seqLe(r, sndUna) || seqGt(r, sndMax)) continue;
      if (seqLt(l, sndUna)) l = sndUna;
      sb.addLossy(l, r);
    }
    return sb.bytes() > before;
  }

  /** SND.UNA moved to `ack`: what lies below is no longer the scoreboard's. */
  acked(ack: u32): void {
    if (seqLt(this.highRxt, ack)) this.highRxt = ack;
    this.board.trimBelow(ack);
  }

  /** An RTO: the receiver may have reneged (RFC 2018 8), so forget everything. */
  reset(sndUna: u32): void {
    this.board.clear();
    this.highRxt = sndUna;
  }

  /** End of the unsacked run that starts at `x` (the next SACK block's left edge, or sndMax). */
  holeEnd(x: u32, sndMax: u32): u32 {
    const sb = this.board;
    for (let i = 0; i < sb.count; i++) if (seqGt(sb.left(i), x)) return sb.left(i);
    return sndMax;
  }

  /** SACKed bytes at or above `x`. */
  sackedAbove(x: u32): u32 {
    const sb = this.board;
    let n: u32 = 0;
    for (let i = 0; i < sb.count; i++) {
      if (seqGe(sb.left(i), x)) n += sb.right(i) - sb.left(i);
      else if (seqGt(sb.right(i), x)) n += sb.right(i) - x;
    }
    return n;
  }

  /** Whether the first unacknowledged segment counts as lost by the SACKs above it (IsLost). */
  @inline lostAt(sndUna: u32, mss: u32): bool {
    return this.sackedAbove(sndUna) > (DUP_THRESH - 1) * mss;
  }

  /** Unsacked bytes below the returned sequence number are lost (RFC 6675 IsLost). */
  lostEdge(sndUna: u32, mss: u32): u32 {
    const sb = this.board;
    let above: u32 = 0;
    for (let i = sb.count - 1; i >= 0; i--) {
      above += sb.right(i) - sb.left(i);
      if (above > (DUP_THRESH - 1) * mss || sb.count - i >= <i32>DUP_THRESH) return sb.left(i);
    }
    return sndUna;
  }

  /** RFC 6675 SetPipe: bytes believed in the network. */
  pipe(sndUna: u32, sndMax: u32, lostEdge: u32): u32 {
    const sb = this.board;
    let pipe: u32 = 0;
    let a = sndUna;
    for (let i = 0; i <= sb.count; i++) {
      const b = i < sb.count ? sb.left(i) : sndMax;
      if (seqLt(a, b)) {
        // the hole [a, b)
        const lostEnd = seqMin(b, seqMax(lostEdge, a));
        pipe += b - lostEnd; // not lost: in flight
        const rxEnd = seqMin(b, seqMax(this.highRxt, a));
        pipe += rxEnd - a; // retransmitted
      }
      if (i < sb.count) a = seqMax(a, sb.right(i));
    }
    return pipe;
  }

  /**
   * NextSeg rule 1: the first unsacked byte at or above HighRxt that is
   * lost (below `lostEdge`). Sets nextSeq/nextLen (at most `mss`); false if none.
   */
  nextLost(sndUna: u32, sndMax: u32, lostEdge: u32, mss: u32): bool {
    let seq = seqMax(this.highRxt, sndUna);
    for (;;) {
      if (!seqLt(seq, lostEdge)) return false;
      const i = this.board.find(seq);
      if (i >= 0) {
        seq = this.board.right(i);
        continue;
      }
      this.nextSeq = seq;
      this.nextLen = min<u32>(mss, this.holeEnd(seq, sndMax) - seq);
      return this.nextLen > 0;
    }
  }

  /**
   * NextSeg rule 3: the first unsacked byte above HighRxt even if not yet
   * deemed lost. Sets nextSeq/nextLen; false if none (or nothing is SACKed).
   */
  nextUnsacked(sndUna: u32, sndMax: u32, mss: u32): bool {
    let s = seqMax(this.highRxt, sndUna);
    let ok = false;
    while (seqLt(s, sndMax)) {
      const i = this.board.find(s);
      if (i < 0) {
        ok = true;
        break;
      }
      s = this.board.right(i);
    }
    if (!ok || this.board.count == 0) return false;
    this.nextSeq = s;
    this.nextLen = min<u32>(mss, this.holeEnd(s, sndMax) - s);
    return true;
  }
}
