// A reader for text protocols: a Handler that cuts the input at a delimiter
// (newline by default, a CR before it dropped) and hands each line over in
// place. While the connection's output queue holds anything, no further
// line is read: a client that pipelines requests without reading the
// replies is slowed down by its own TCP window instead of filling memory.

import { Bytes } from "./bytes";
import { Connection, Handler } from "./connection";

export class LineHandler extends Handler {
  /** The byte that ends a line. */
  delimiter: u8 = 10;
  /** A line may not be longer than this (delimiter included). */
  maxLine: u32 = 8192;
  private line: Bytes = new Bytes();

  /** One line, without its delimiter (and without a CR before a newline). */
  onLine(c: Connection, line: Bytes): void {}

  /** No delimiter within `maxLine` bytes. Default: abort the connection. */
  onLineTooLong(c: Connection): void {
    c.abort();
  }

  onData(c: Connection, data: Bytes): u32 {
    let start: u32 = 0;
    const line = this.line;
    const d = this.delimiter;
    while (!c.closed && c.queued == 0) {
      const i = data.indexOf(d, start);
      if (i < 0) break;
      let end = <u32>i;
      if (d == 10 && end > start && load<u8>(data.ptr + end - 1) == 13) end--;
      line.ptr = data.ptr + start;
      line.length = end - start;
      start = <u32>i + 1;
      this.onLine(c, line);
    }
    if (start == 0 && data.length >= this.maxLine && data.indexOf(d) < 0) {
      this.onLineTooLong(c);
      return data.length;
    }
    return start;
  }
}
