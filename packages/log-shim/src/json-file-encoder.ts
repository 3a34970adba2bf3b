import { DOCKER_JSON_MAX_EXPANSION, escapeDockerJson } from "./docker-json.js";
import { type LogStream, PARTIAL_LINE_BYTES } from "./line-splitter.js";
import { formatRfc3339Nano } from "./rfc3339.js";

/** Encoded json-file lines, ready for {@link JsonFileWriter.writeChunks}: whole lines, each ending in `\n`. */
export interface JsonFileChunk {
  /** The encoded lines. */
  readonly data: Buffer;
  /** How many lines `data` holds. */
  readonly lines: number;
  /** Hands the memory of `data` back for reuse; call once, after `data` was written (or dropped). */
  readonly release: () => void;
}

const OUT_BYTES = 1 << 20;
// Buffers kept for reuse: in blocking mode about 1 MiB of reads (~11 MiB of JSON for short lines) waits at most.
const MAX_SPARE = 16;
const PREFIX = '{"log":"';
const PREFIX_BYTES = Buffer.from(PREFIX);
const NEWLINE_ESCAPED = Buffer.from("\\n");
const indexOfByte = Uint8Array.prototype.indexOf;

// 1 for the bytes Docker's encoder copies as they are: printable ASCII and DEL other than `"`, `\`, `<`, `>`, `&`.
const PLAIN = new Uint8Array(256);
for (let b = 0x20; b < 0x80; b++) PLAIN[b] = 1;
for (const c of '"\\<>&') PLAIN[c.charCodeAt(0)] = 0;

interface Backing {
  readonly buf: Buffer;
  /** Bytes in use by chunks not yet released (from 0). */
  used: number;
  /** Chunks not yet released. */
  pending: number;
}

/**
 * Output memory of json-file encoders: chunks are laid out one after the other in 1 MiB buffers that are reused
 * once every chunk in them was released (fresh memory for every read costs page faults, not just a copy).
 */
export class JsonFileArena {
  private cur: Backing = { buf: Buffer.allocUnsafeSlow(OUT_BYTES), used: 0, pending: 0 };
  private readonly spare: Backing[] = [];
  /** The buffer the open chunk is written into, its first byte and the write position. */
  buf: Buffer = this.cur.buf;
  start = 0;
  at = 0;

  /**
   * Starts a chunk of about `expected` bytes; it starts in a free buffer when the current one is short of that
   * room (moving a half-written chunk costs a copy).
   */
  open(expected = 0): void {
    if (this.cur.buf.length - this.cur.used < expected) this.switchTo(this.fresh(expected));
    this.buf = this.cur.buf;
    this.start = this.cur.used;
    this.at = this.start;
  }

  /** Makes room for `more` bytes at `at`, moving the open chunk to a bigger buffer when needed. */
  room(more: number): void {
    if (this.at + more <= this.buf.length) return;
    const len = this.at - this.start;
    const next = this.fresh(2 * (len + more));
    this.buf.copy(next.buf, 0, this.start, this.at);
    this.switchTo(next);
    this.buf = next.buf;
    this.start = 0;
    this.at = len;
  }

  private fresh(atLeast: number): Backing {
    if (atLeast <= OUT_BYTES) {
      const b = this.spare.pop();
      if (b !== undefined) return b;
    }
    return { buf: Buffer.allocUnsafeSlow(Math.max(OUT_BYTES, atLeast)), used: 0, pending: 0 };
  }

  private switchTo(next: Backing): void {
    const old = this.cur;
    this.cur = next;
    if (old.pending === 0) this.recycle(old);
  }

  /** Ends the open chunk; undefined when it is empty. */
  close(lines: number): JsonFileChunk | undefined {
    if (this.at === this.start) return undefined;
    const b = this.cur;
    b.used = this.at;
    b.pending++;
    let released = false;
    return {
      data: this.buf.subarray(this.start, this.at),
      lines,
      release: () => {
        if (released) return;
        released = true;
        if (--b.pending > 0) return;
        if (b === this.cur) b.used = 0;
        else this.recycle(b);
      },
    };
  }

  private recycle(b: Backing): void {
    b.used = 0;
    if (b.buf.length === OUT_BYTES && this.spare.length < MAX_SPARE) this.spare.push(b);
  }
}

// Where a piece of at most `maxBytes` starting at `start` ends: `limit`, stepped back to a UTF-8 character's first
// byte when it falls inside a character (the same cut as LineSplitter's).
function cutAt(buf: Buffer, start: number, limit: number): number {
  let e = limit;
  while (e > start + 1 && e > limit - 3 && ((buf[e] as number) & 0xc0) === 0x80) e--;
  return ((buf[e] as number) & 0xc0) === 0x80 ? limit : e;
}

/**
 * Turns one output stream's bytes into Docker json-file lines (`{"log":"...\n","stream":"stdout","time":"..."}`),
 * splitting on `\n` like Docker's log copier: a line longer than 16 KiB becomes pieces, all but the last without
 * the trailing `\n` in `log` (Docker's partial-message marking). Strings are escaped exactly as Docker's encoder
 * does ({@link escapeDockerJson}). Every line of one `push` carries the time it was given.
 *
 * Lines of plain printable ASCII (the common case) are copied byte by byte between shared pre-encoded tails; only
 * lines that need escaping or cutting take the general path.
 */
export class JsonFileEncoder {
  private pending: Buffer | undefined;
  private midLine = false;
  private readonly streamJson: string;

  constructor(
    stream: LogStream,
    private readonly arena: JsonFileArena = new JsonFileArena(),
    private readonly maxBytes = PARTIAL_LINE_BYTES,
  ) {
    if (!Number.isInteger(maxBytes) || maxBytes < 4) throw new RangeError("maxBytes must be an integer >= 4");
    this.streamJson = `","stream":"${stream}","time":"`;
  }

  /** Whether a piece of a long line was written and its line has not ended yet. */
  get inLongLine(): boolean {
    return this.midLine;
  }

  /** Feeds bytes read at `timeNs` (ns since the epoch); returns the lines they complete, if any. */
  push(chunk: Buffer, timeNs: bigint): JsonFileChunk | undefined {
    const a = this.arena;
    // Short lines make about 11 bytes of JSON per byte read.
    a.open(Math.min((chunk.length + (this.pending?.length ?? 0)) * 12 + 512, OUT_BYTES));
    const mid = this.mid(timeNs);
    let lines = 0;
    let buf = chunk;
    let pos = 0;
    if (this.pending !== undefined) {
      // Only the line the last read left unfinished is joined up (not the whole read).
      const nl = chunk.indexOf(10);
      if (nl === -1) buf = Buffer.concat([this.pending, chunk]);
      else {
        const head = Buffer.concat([this.pending, chunk.subarray(0, nl + 1)]);
        lines += this.lines(head, 0, head.length, mid);
        this.midLine = false;
        pos = nl + 1;
      }
      this.pending = undefined;
    }
    const last = buf.lastIndexOf(10);
    if (last >= pos) {
      lines += this.lines(buf, pos, last + 1, mid);
      this.midLine = false;
      pos = last + 1;
    }
    while (buf.length - pos >= this.maxBytes) {
      const cut = cutAt(buf, pos, pos + this.maxBytes);
      this.piece(buf, pos, cut, false, mid);
      lines++;
      pos = cut;
    }
    if (pos < buf.length) this.pending = buf.subarray(pos);
    return a.close(lines);
  }

  /** The stream ended: returns its unterminated rest (if any) as the final message of its line. */
  end(timeNs: bigint): JsonFileChunk | undefined {
    const rest = this.pending;
    const closesLongLine = this.midLine;
    this.pending = undefined;
    this.midLine = false;
    if (rest === undefined && !closesLongLine) return undefined;
    this.arena.open();
    const mid = this.mid(timeNs);
    // A long line whose last piece ended exactly at the limit is closed with an empty final piece.
    const buf = rest ?? Buffer.alloc(0);
    const n = this.line(buf, 0, buf.length, mid);
    return this.arena.close(n);
  }

  // What follows the text of a line read at timeNs and precedes the next one's: `\n","stream":"...","time":"..."}`,
  // a newline and `{"log":"` (one allocation per read; a message that does not end its line skips the `\n`).
  private mid(timeNs: bigint): Buffer {
    return Buffer.from(`\\n${this.streamJson}${formatRfc3339Nano(timeNs)}"}\n${PREFIX}`, "latin1");
  }

  // Encodes the lines of buf[from..end) (end is just past a \n); returns the messages written. A plain line (short,
  // nothing to escape) is copied byte by byte and followed by one "\n" + tail + prefix; a line that needs escaping
  // or cutting is rewound and encoded on its own. Line ends are found with TypedArray indexOf (a V8 builtin: no
  // per-call JS wrapper like Buffer's, which matters while the logger's short-lived process runs un-optimized code).
  private lines(buf: Buffer, from: number, end: number, mid: Buffer): number {
    const a = this.arena;
    const max = this.maxBytes;
    const ml = mid.length;
    let lines = 0;
    let i = from;
    a.room(PREFIX_BYTES.length);
    a.buf.set(PREFIX_BYTES, a.at);
    a.at += PREFIX_BYTES.length;
    while (i < end) {
      const nl = indexOfByte.call(buf, 10, i);
      if (nl - i <= max) {
        if (a.at + (nl - i) + ml > a.buf.length) a.room(nl - i + ml);
        const out = a.buf;
        let o = a.at;
        let k = i;
        while (k < nl) {
          const c = buf[k] as number;
          if (PLAIN[c] !== 1) break;
          out[o++] = c;
          k++;
        }
        if (k === nl) {
          out.set(mid, o);
          a.at = o + ml;
          lines++;
          i = nl + 1;
          continue;
        }
      }
      // buf[i..nl) needs escaping or is too long: drop its prefix (nothing was committed of it) and redo it.
      a.at -= PREFIX_BYTES.length;
      lines += this.line(buf, i, nl, mid);
      a.room(PREFIX_BYTES.length);
      a.buf.set(PREFIX_BYTES, a.at);
      a.at += PREFIX_BYTES.length;
      i = nl + 1;
    }
    a.at -= PREFIX_BYTES.length;
    return lines;
  }

  // One line buf[start..end) (its \n excluded), cut into pieces when longer than maxBytes; returns messages written.
  private line(buf: Buffer, start: number, end: number, mid: Buffer): number {
    let s = start;
    let n = 1;
    while (end - s > this.maxBytes) {
      const cut = cutAt(buf, s, s + this.maxBytes);
      this.piece(buf, s, cut, false, mid);
      n++;
      s = cut;
    }
    this.piece(buf, s, end, true, mid);
    return n;
  }

  // One message buf[start..end), escaped; `mid` is what follows a line's text (see JsonFileEncoder.mid).
  private piece(buf: Buffer, start: number, end: number, endsLine: boolean, mid: Buffer): void {
    const a = this.arena;
    const tailEnd = mid.length - PREFIX_BYTES.length;
    a.room(PREFIX_BYTES.length + (end - start) * DOCKER_JSON_MAX_EXPANSION + tailEnd);
    a.buf.set(PREFIX_BYTES, a.at);
    a.at = escapeDockerJson(buf, start, end, a.buf, a.at + PREFIX_BYTES.length);
    if (endsLine) {
      a.buf[a.at++] = 0x5c; // \
      a.buf[a.at++] = 0x6e; // n
    }
    a.at += mid.copy(a.buf, a.at, NEWLINE_ESCAPED.length, tailEnd);
    this.midLine = !endsLine;
  }
}
