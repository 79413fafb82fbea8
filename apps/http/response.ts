// The response head (RFC 9112 4, 6): a status line and fields written into
// one reusable buffer, so answering allocates nothing. No Date field: the
// kernel has no wall clock, and an origin server without one must not send
// it (RFC 9110 6.6.1).

export const HEAD_MAX: u32 = 1024;

export function reason(status: u32): string {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

/** The small body of a status's answer (static text: nothing allocated). */
export function statusBody(status: u32): string {
  switch (status) {
    case 301: return "301 Moved Permanently\n";
    case 400: return "400 Bad Request\n";
    case 404: return "404 Not Found\n";
    case 405: return "405 Method Not Allowed\n";
    case 408: return "408 Request Timeout\n";
    case 413: return "413 Content Too Large\n";
    case 414: return "414 URI Too Long\n";
    case 416: return "416 Range Not Satisfiable\n";
    case 431: return "431 Request Header Fields Too Large\n";
    case 501: return "501 Not Implemented\n";
    case 503: return "503 Service Unavailable\n";
    case 505: return "505 HTTP Version Not Supported\n";
    default: return "500 Internal Server Error\n";
  }
}

export class Head {
  readonly buf: usize = heap.alloc(HEAD_MAX);
  len: u32 = 0;

  begin(status: u32): Head {
    this.len = 0;
    this.text("HTTP/1.1 ").num(status).text(" ").text(reason(status)).text("\r\n");
    return this.text("Server: uniwasm\r\n");
  }

  /** A field whose value is bytes [p, p+n). */
  field(name: string, p: usize, n: u32): Head {
    return this.text(name).text(": ").bytes(p, n).text("\r\n");
  }

  /** Bytes [p, p+n) as they are (dropped whole if they would not fit). */
  bytes(p: usize, n: u32): Head {
    if (this.len + n + 2 > HEAD_MAX) return this;
    memory.copy(this.buf + this.len, p, n);
    this.len += n;
    return this;
  }

  fieldText(name: string, value: string): Head {
    return this.text(name).text(": ").text(value).text("\r\n");
  }

  fieldNum(name: string, value: u64): Head {
    return this.text(name).text(": ").num(value).text("\r\n");
  }

  /** Content-Range: bytes first-last/size (or bytes star/size for a 416). */
  contentRange(first: u64, last: u64, size: u64, unsatisfied: bool): Head {
    this.text("Content-Range: bytes ");
    if (unsatisfied) this.text("*");
    else this.num(first).text("-").num(last);
    return this.text("/").num(size).text("\r\n");
  }

  end(): Head {
    return this.text("\r\n");
  }

  /** ASCII text (every string here is ASCII; the rest of the bytes stay within HEAD_MAX). */
  text(s: string): Head {
    const n = <u32>s.length;
    if (this.len + n > HEAD_MAX) return this;
    for (let i: u32 = 0; i < n; i++) store<u8>(this.buf + this.len + i, <u8>s.charCodeAt(i));
    this.len += n;
    return this;
  }

  num(v: u64): Head {
    let digits: u32 = 1;
    for (let t = v; t >= 10; t /= 10) digits++;
    if (this.len + digits > HEAD_MAX) return this;
    let q = this.buf + this.len + digits;
    do {
      store<u8>(--q, <u8>(48 + v % 10));
      v /= 10;
    } while (v > 0);
    this.len += digits;
    return this;
  }
}
