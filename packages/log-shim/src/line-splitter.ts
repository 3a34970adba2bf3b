/** Docker's line limit: a line longer than this many bytes is split into partial messages of at most this size. */
export const PARTIAL_LINE_BYTES = 16 * 1024;

// 16 random bytes as hex, the id of a partial message. Web Crypto's global loads node:crypto on first use only:
// importing node:crypto up front costs berth-logger ~20-40 ms of start-up even when no line is ever split.
function randomHex16(): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(16))).toString("hex");
}

/** Where a piece of a long line belongs, as Docker's `PartialLogMetaData` says it. */
export interface PartialLineMeta {
  /** The same random id on every piece of one line. */
  readonly id: string;
  /** 1 for the first piece, then 2, 3, ... */
  readonly ordinal: number;
  /** True on the line's final piece. */
  readonly last: boolean;
}

/** One log message: a whole line or one piece of a long one. */
export interface LogLine {
  /** The bytes read; the message is `buf[start..end)`, without the line's newline. */
  readonly buf: Buffer;
  /** Offset of the message's first byte in `buf`. */
  readonly start: number;
  /** Offset just past the message's last byte in `buf` (its newline, if any, is not included). */
  readonly end: number;
  /** Set on the pieces of a line longer than the limit (always present, so every message has one shape). */
  readonly partial: PartialLineMeta | undefined;
}

/** A container output stream, as json-file's `stream` and fluentd's `source` name it. */
export type LogStream = "stdout" | "stderr";

/** Messages read together from one stream: they share a timestamp. */
export interface LogBatch {
  /** The stream they were read from. */
  readonly stream: LogStream;
  /** When they were read, ns since the epoch. */
  readonly timeNs: bigint;
  /** The messages, in the order they were written. */
  readonly lines: readonly LogLine[];
}

const EMPTY = Buffer.alloc(0);

/** A message's size in bytes. */
export function lineLength(line: LogLine): number {
  return line.end - line.start;
}

/** A message's text (bytes that are not UTF-8 become U+FFFD). */
export function lineText(line: LogLine): string {
  return line.buf.toString("utf8", line.start, line.end);
}

/** Whether a message ends its line (a whole line, or the final piece of a long one). */
export function endsLine(line: LogLine): boolean {
  return line.partial === undefined || line.partial.last;
}

/**
 * Splits a byte stream into lines the way Docker's log copier does: on `\n`, with lines longer than `maxBytes`
 * cut into partial messages of at most `maxBytes` bytes (cut at a UTF-8 character boundary, so each piece
 * decodes on its own; Docker cuts at the byte). Messages point into the bytes read; nothing is copied.
 */
export class LineSplitter {
  private pending: Buffer | undefined;
  private partial: { id: string; ordinal: number } | undefined;

  constructor(private readonly maxBytes = PARTIAL_LINE_BYTES) {
    if (!Number.isInteger(maxBytes) || maxBytes < 4) throw new RangeError("maxBytes must be an integer >= 4");
  }

  /** Feeds bytes; returns the messages they complete. */
  push(chunk: Buffer): LogLine[] {
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    const out: LogLine[] = [];
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl === -1) break;
      this.emit(buf, start, nl, true, out);
      start = nl + 1;
    }
    // No newline in the rest: cut full pieces off now, keep the remainder for later.
    while (buf.length - start >= this.maxBytes) {
      const cut = this.cut(buf, start, start + this.maxBytes);
      this.piece(buf, start, cut, false, out);
      start = cut;
    }
    if (start < buf.length) this.pending = buf.subarray(start);
    return out;
  }

  /** The stream ended: returns the unterminated rest (if any) as the final message of its line. */
  end(): LogLine[] {
    const out: LogLine[] = [];
    if (this.pending !== undefined) this.emit(this.pending, 0, this.pending.length, true, out);
    else if (this.partial !== undefined) {
      // A long line whose last piece was exactly at the limit: close it with an empty final piece.
      out.push({
        buf: EMPTY,
        start: 0,
        end: 0,
        partial: { id: this.partial.id, ordinal: this.partial.ordinal + 1, last: true },
      });
    }
    this.pending = undefined;
    this.partial = undefined;
    return out;
  }

  private cut(buf: Buffer, start: number, end: number): number {
    let e = end;
    // Step back over continuation bytes (10xxxxxx) so the piece ends before a character's first byte.
    while (e > start + 1 && e > end - 3 && ((buf[e] as number) & 0xc0) === 0x80) e--;
    return ((buf[e] as number) & 0xc0) === 0x80 ? end : e;
  }

  private emit(buf: Buffer, start: number, end: number, endOfLine: boolean, out: LogLine[]): void {
    let s = start;
    while (end - s > this.maxBytes) {
      const cut = this.cut(buf, s, s + this.maxBytes);
      this.piece(buf, s, cut, false, out);
      s = cut;
    }
    this.piece(buf, s, end, endOfLine, out);
  }

  private piece(buf: Buffer, start: number, end: number, endOfLine: boolean, out: LogLine[]): void {
    if (!endOfLine) {
      this.partial = this.partial
        ? { id: this.partial.id, ordinal: this.partial.ordinal + 1 }
        : { id: randomHex16(), ordinal: 1 };
      out.push({ buf, start, end, partial: { ...this.partial, last: false } });
      return;
    }
    if (this.partial) {
      out.push({ buf, start, end, partial: { ...this.partial, ordinal: this.partial.ordinal + 1, last: true } });
      this.partial = undefined;
      return;
    }
    out.push({ buf, start, end, partial: undefined });
  }
}
