import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import type { Socket } from "node:net";
import { constants } from "node:os";
import createDebug from "debug";

const debug = createDebug("berth:cni:launcher");

/**
 * How a plugin run ended, whichever way it was started.
 * @internal
 */
export type SpawnOutcome =
  | { readonly kind: "spawn-error"; readonly cause: unknown }
  | { readonly kind: "stopped" }
  /** The launcher died while the plugin ran: its output is lost and the plugin was killed (pid 0: pid unknown). */
  | { readonly kind: "lost"; readonly pid: number }
  /** The launcher died before it started the plugin: run it again. */
  | { readonly kind: "retry" }
  | {
      readonly kind: "exited";
      readonly code: number | null;
      readonly signal: NodeJS.Signals | null;
      readonly stdout: string;
      readonly stderr: string;
    };

/**
 * One plugin run for the launcher: the binary, its complete environment, its stdin and its working directory.
 * @internal
 */
export interface LaunchRequest {
  readonly path: string;
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: string | Uint8Array;
  readonly cwd: string;
}

// The launcher: a small perl process (perl-base is "required" on Debian) that forks and execs plugins for us, so
// that this process, which may be hundreds of MB, is not forked for every plugin run (fork copies its page tables;
// see the package README for the measurement). One perl process serves every run, concurrently, from a select() loop.
//
// Requests (Node -> perl), binary-safe:
//   "R <id> <cwdLen> <pathLen> <envLen> <stdinLen>\n" cwd path env stdin
//        env: NUL-separated changes to the previous request's environment: "K=V" sets, "K" unsets, "=" clears all
//   "K <id>\n"                                           SIGKILL the run's plugin unless it was already reaped
// Replies (perl -> Node):
//   "ready <pid>\n"            once, at start
//   "S <id> <pid>\n"           the plugin's process was forked and has exec'd
//   "E <id> <errno>\n"         chdir, fork or exec failed with this errno (exec errors come back through a
//                              close-on-exec pipe, as in libuv); nothing runs
//   "Q <id> <status>\n"        a plugin that was to be killed ("K") is reaped (now or before), raw wait status
//   "X <id> <status> <outLen> <errLen>\n" stdout stderr
//                              the plugin was reaped and closed stdout and stderr: the run is complete (one frame,
//                              so this process wakes up once at the end of a run)
// The launcher's own working directory and environment are set to the request's before the fork (nothing else
// stays in %ENV; only changes are sent, cheaper for both sides than the whole environment every time). So are the
// plugin's stdin/stdout/stderr (its pipes are put on fds 0-2 of the launcher around the fork) and SIGPIPE's default
// disposition (the signal mask stays empty): the child does nothing but exec. Plugins start with default
// dispositions, an empty signal mask, exactly the environment given, stdin/stdout/stderr on pipes and no other fd
// (perl opens everything above fd 2 close-on-exec).
const LAUNCHER_SCRIPT = String.raw`
use strict; use warnings; use POSIX (); use Fcntl ();
$SIG{PIPE} = 'IGNORE';
POSIX::sigprocmask(POSIX::SIG_SETMASK(), POSIX::SigSet->new());
binmode STDIN; binmode STDOUT;
# Copies of fds 0-2 (the pipes to Node), to put back after each fork; close-on-exec, as perl opens them above fd 2.
open(my $in0, '<&', \*STDIN) or die "dup stdin: $!";
open(my $out1, '>&', \*STDOUT) or die "dup stdout: $!";
open(my $err2, '>&', \*STDERR) or die "dup stderr: $!";
sub nb { my $f = fcntl($_[0], Fcntl::F_GETFL(), 0); fcntl($_[0], Fcntl::F_SETFL(), $f | Fcntl::O_NONBLOCK()) }
sub out {
  my ($s) = @_;
  while (length $s) {
    my $n = syswrite(STDOUT, $s);
    if (!defined $n) { next if $!{EINTR}; return }
    substr($s, 0, $n, '');
  }
}
pipe(my $sr, my $sw) or die "pipe: $!"; nb($sr); nb($sw);
$SIG{CHLD} = sub { syswrite($sw, 'c') };
my (%jobs, %byid); my $inbuf = ''; my $eof = 0; my $curcwd = '';
sub done {
  my ($j) = @_;
  return if $j->{out} || $j->{err} || !defined $j->{status};
  out("X $j->{id} $j->{status} " . length($j->{o}) . ' ' . length($j->{e}) . "\n$j->{o}$j->{e}");
  delete $jobs{$j->{pid}}; delete $byid{$j->{id}};
}
sub reap {
  my $b; 1 while sysread($sr, $b, 64);
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $j = $jobs{$pid} or next;
    $j->{status} = $?; out("Q $j->{id} $?\n") if $j->{killed}; done($j);
  }
}
sub start {
  my ($id, $cwd, $path, $env, $stdin) = @_;
  # The working directory and environment are set here, in the launcher, and inherited by the fork: work done in
  # the child before exec would copy perl's pages (copy-on-write), which costs more than the fork itself.
  # The environment comes as changes to the previous request's: "K=V" sets, "K" unsets, "=" clears everything.
  for my $kv (split /\0/, $env) {
    if ($kv eq '=') { %ENV = (); next }
    my $i = index($kv, '=');
    if ($i < 0) { delete $ENV{$kv} } elsif ($i > 0) { $ENV{substr($kv, 0, $i)} = substr($kv, $i + 1) }
  }
  if ($cwd ne $curcwd) { unless (chdir($cwd)) { out("E $id " . ($! + 0) . "\n"); return } $curcwd = $cwd }
  my ($ir, $iw, $or, $ow, $er, $ew, $xr, $xw);
  unless (pipe($ir, $iw) && pipe($or, $ow) && pipe($er, $ew) && pipe($xr, $xw)) {
    out("E $id " . ($! + 0) . "\n"); return;
  }
  # The stdin goes into the pipe now, before the fork (a pipe holds 64 KiB; any rest is written from the loop): the
  # plugin finds it there at once, and when it all fits the pipe's write end is closed before the fork.
  nb($iw);
  my $k = $stdin eq '' ? 0 : syswrite($iw, $stdin);
  substr($stdin, 0, $k, '') if $k;
  if ($stdin eq '') { close $iw; $iw = undef }
  # Until the child has exec'd it shares this process's pages, and every page either side writes meanwhile is copied
  # (with TLB shootdowns, costly in a VM): so the child only execs (its fds 0-2 and SIGPIPE are set here, before the
  # fork; perl restores the empty signal mask in the child itself) and this side waits for the exec (or its error)
  # before anything else. Fork to exec measured 9.5 ms with dup2 and signal set-up in the child, 5.7 ms without
  # (bash: 5.2 ms) on a loaded 2-core VM.
  POSIX::dup2(fileno($ir), 0); POSIX::dup2(fileno($ow), 1); POSIX::dup2(fileno($ew), 2);
  $SIG{PIPE} = 'DEFAULT';
  my $pid = fork;
  if (defined $pid && $pid == 0) {
    { no warnings 'exec'; exec { $path } $path; }
    syswrite($xw, $! + 0); POSIX::_exit(127);
  }
  my $e = '';
  if (defined $pid) { close $xw; 1 while !defined(sysread($xr, $e, 16)) && $!{EINTR}; } else { $e = $! + 0 }
  $SIG{PIPE} = 'IGNORE';
  POSIX::dup2(fileno($in0), 0); POSIX::dup2(fileno($out1), 1); POSIX::dup2(fileno($err2), 2);
  if (!defined $pid) { out("E $id $e\n"); return }
  out("S $id $pid\n");
  close $ir; close $ow; close $ew; close $xr;
  if ($e ne '') { waitpid($pid, 0); out("E $id $e\n"); return }
  nb($or); nb($er);
  my $j = { id => $id, pid => $pid, in => $iw, out => $or, err => $er, stdin => $stdin, o => '', e => '' };
  $jobs{$pid} = $j; $byid{$id} = $j;
}
sub requests {
  while ((my $nl = index($inbuf, "\n")) >= 0) {
    my @f = split / /, substr($inbuf, 0, $nl);
    if ($f[0] eq 'K') {
      substr($inbuf, 0, $nl + 1, '');
      my $j = $byid{$f[1]} or next;
      # Reaped already (a process it started still holds its output open): say so, the run is over for Node.
      if (defined $j->{status}) { out("Q $j->{id} $j->{status}\n") } else { $j->{killed} = 1; kill('KILL', $j->{pid}) }
      next;
    }
    die "bad request: $f[0]" unless $f[0] eq 'R' && @f == 6;
    my ($id, @len) = @f[1 .. 5]; my $need = $nl + 1; $need += $_ for @len;
    last if length($inbuf) < $need;
    substr($inbuf, 0, $nl + 1, '');
    start($id, map { substr($inbuf, 0, $_, '') } @len);
  }
}
out("ready $$\n");
while (!$eof || %jobs) {
  my ($rin, $win) = ('', '');
  vec($rin, fileno(STDIN), 1) = 1 unless $eof;
  vec($rin, fileno($sr), 1) = 1;
  for my $j (values %jobs) {
    vec($rin, fileno($j->{out}), 1) = 1 if $j->{out};
    vec($rin, fileno($j->{err}), 1) = 1 if $j->{err};
    vec($win, fileno($j->{in}), 1) = 1 if $j->{in};
  }
  my $n = select(my $r = $rin, my $w = $win, undef, undef);
  # An interrupted select is retried: the SIGCHLD handler has written to the self-pipe, which wakes it at once.
  next if $n <= 0;
  reap() if vec($r, fileno($sr), 1);
  for my $j (values %jobs) {
    if ($j->{in} && vec($w, fileno($j->{in}), 1)) {
      my $k = syswrite($j->{in}, $j->{stdin});
      if (defined $k) { substr($j->{stdin}, 0, $k, '') } elsif (!$!{EAGAIN} && !$!{EINTR}) { $j->{stdin} = '' }
      if ($j->{stdin} eq '') { close $j->{in}; $j->{in} = undef }
    }
    for my $s (['out', 'o'], ['err', 'e']) {
      my $fh = $j->{$s->[0]};
      next unless $fh && vec($r, fileno($fh), 1);
      my $got = sysread($fh, $j->{$s->[1]}, 65536, length $j->{$s->[1]});
      next if !defined($got) && ($!{EAGAIN} || $!{EINTR});
      if (!$got) { close $fh; $j->{$s->[0]} = undef; done($j) }
    }
  }
  if (!$eof && vec($r, fileno(STDIN), 1)) {
    my $got = sysread(STDIN, $inbuf, 65536, length $inbuf);
    if (!defined $got) { next if $!{EINTR} || $!{EAGAIN}; $got = 0 }
    if ($got) { requests() } else { $eof = 1 }
  }
}
`;

interface Job {
  readonly id: number;
  readonly path: string;
  readonly resolve: (outcome: SpawnOutcome) => void;
  pid?: number;
  status?: number;
  stopping: boolean;
  settled: boolean;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));
const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/** An `Error` like Node's spawn errors: `code` is the errno's name, e.g. `ETXTBSY`. */
function errnoError(errno: number, path: string): Error {
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  return Object.assign(new Error(`spawn ${path} ${code}`), { code, errno: -errno, syscall: `spawn ${path}`, path });
}

/** A raw wait status as Node reports it: an exit code, or the name of the signal that killed the process. */
function decodeStatus(status: number): { code: number | null; signal: NodeJS.Signals | null } {
  const sig = status & 0x7f;
  if (sig === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: SIGNAL_NAMES.get(sig) ?? null };
}

/**
 * The resident plugin launcher: one perl process per Node process, started on first use, restarted after it dies,
 * given up (runs fall back to a direct spawn) when perl is missing or the launcher dies before it is ready. It does
 * not keep Node alive while idle.
 * @internal exported for tests.
 */
export class Launcher {
  /** @param command the launcher's command line (tests replace it); by default perl running the launcher script. */
  constructor(private readonly command: readonly string[] = ["perl", "-e", LAUNCHER_SCRIPT]) {}

  private current: Session | undefined;
  private unavailable: string | undefined;
  private nextId = 1;

  /** Why the launcher is not used (runs fall back to a direct spawn), or undefined while it is usable. */
  get unavailableReason(): string | undefined {
    return this.unavailable;
  }

  /** The launcher's pid while it runs. */
  get pid(): number | undefined {
    return this.current?.proc.pid;
  }

  /**
   * Runs a plugin through the launcher. `undefined` means the launcher cannot be used: the caller spawns directly.
   * Stopping kills the plugin (SIGKILL) and settles as `stopped` once it was reaped, without waiting for its pipes.
   * Without `stop` the run cannot be stopped.
   */
  run(request: LaunchRequest, stop?: AbortSignal): Promise<SpawnOutcome> | undefined {
    if (this.unavailable !== undefined) return undefined;
    if (stop?.aborted) return Promise.resolve({ kind: "stopped" });
    const session = this.current ?? this.start();
    if (session === undefined) return undefined;
    return new Promise<SpawnOutcome>((resolve) => {
      const job: Job = {
        id: this.nextId++,
        path: request.path,
        stopping: false,
        settled: false,
        resolve: (outcome) => {
          if (job.settled) return;
          job.settled = true;
          stop?.removeEventListener("abort", onStop);
          session.jobs.delete(job.id);
          if (session.jobs.size === 0) session.setRef(false);
          resolve(outcome);
        },
      };
      const onStop = () => {
        job.stopping = true;
        if (job.status !== undefined) job.resolve({ kind: "stopped" });
        else session.write(Buffer.from(`K ${job.id}\n`));
      };
      session.jobs.set(job.id, job);
      session.setRef(true);
      const env = session.envChanges(request.env);
      const parts = [
        Buffer.from(request.cwd),
        Buffer.from(request.path),
        Buffer.from(env),
        typeof request.stdin === "string" ? Buffer.from(request.stdin) : Buffer.from(request.stdin),
      ];
      const header = `R ${job.id} ${parts.map((p) => p.length).join(" ")}\n`;
      session.write(Buffer.concat([Buffer.from(header), ...parts]));
      if (stop?.aborted) onStop();
      else stop?.addEventListener("abort", onStop, { once: true });
    });
  }

  /** Kills the launcher with SIGKILL (runs in flight are lost and their plugins killed, as when it dies). For tests. */
  kill(): void {
    this.current?.proc.kill("SIGKILL");
  }

  /**
   * Closes the launcher's stdin: it exits once its plugins have finished (as when this process exits), and their
   * runs complete normally. The next run starts a new launcher.
   */
  close(): void {
    const session = this.current;
    if (session === undefined) return;
    this.current = undefined;
    session.proc.stdin.end();
  }

  private start(): Session | undefined {
    let proc: ChildProcessWithoutNullStreams;
    try {
      const [file = "perl", ...args] = this.command;
      // Nothing of this process's environment reaches perl (PERL5OPT and friends could change it); plugins get theirs
      // in each request.
      proc = spawn(file, args, {
        env: { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin" },
        stdio: ["pipe", "pipe", "pipe"],
      });
    } catch (cause) {
      this.giveUp(`the launcher could not be started: ${String(cause)}`);
      return undefined;
    }
    const session = new Session(proc, (s, why) => {
      if (this.current === s) this.current = undefined;
      if (!s.ready) this.giveUp(`the launcher ${why} before it was ready`);
    });
    this.current = session;
    debug("started launcher pid %d", proc.pid);
    return session;
  }

  private giveUp(reason: string): void {
    if (this.unavailable !== undefined) return;
    this.unavailable = reason;
    debug("not using the launcher: %s; plugins are spawned directly", reason);
  }
}

// One launcher process and the runs sent to it.
class Session {
  readonly jobs = new Map<number, Job>();
  ready = false;
  private inbuf: Buffer = Buffer.alloc(0);
  private stderrText = "";
  private gone = false;

  constructor(
    readonly proc: ChildProcessWithoutNullStreams,
    private readonly onDeath: (session: Session, why: string) => void,
  ) {
    proc.on("error", (cause) => {
      // Spawning it failed (ENOENT: perl is not installed); no 'close' follows.
      if (proc.pid === undefined) this.died(`could not be started (${(cause as NodeJS.ErrnoException).code ?? cause})`);
    });
    proc.stdin.on("error", () => {
      // The launcher died; 'close' settles the runs in flight.
    });
    proc.stdout.on("data", (chunk: Buffer) => this.onData(chunk));
    proc.stderr.on("data", (chunk: Buffer) => {
      if (this.stderrText.length < 4096) this.stderrText += chunk.toString("utf8");
    });
    (proc.stderr as Socket).unref();
    proc.on("close", (code, signal) => this.died(`exited with ${signal ?? `code ${code}`}`));
    this.setRef(false);
  }

  // The environment as changes to what the launcher has (see the protocol above); the first request clears it.
  private env: Map<string, string> | undefined;

  // Updated in place: usually only CNI_COMMAND and a few other CNI_* variables change between runs.
  envChanges(want: Readonly<Record<string, string>>): string {
    const parts: string[] = [];
    let have = this.env;
    if (have === undefined) {
      parts.push("=");
      have = new Map();
      this.env = have;
    }
    const keys = Object.keys(want);
    for (const k of keys) {
      const v = want[k] as string;
      if (have.get(k) !== v) {
        have.set(k, v);
        parts.push(`${k}=${v}`);
      }
    }
    // More keys than wanted: some were unset.
    if (have.size > keys.length) {
      for (const k of have.keys()) {
        if (!Object.hasOwn(want, k)) {
          have.delete(k);
          parts.push(k);
        }
      }
    }
    return parts.join("\0");
  }

  write(data: Buffer): void {
    if (this.gone || !this.proc.stdin.writable) return;
    this.proc.stdin.write(data);
  }

  // Keeps Node alive only while runs are in flight.
  setRef(on: boolean): void {
    if (on) {
      this.proc.ref();
      (this.proc.stdout as Socket).ref();
    } else {
      this.proc.unref();
      (this.proc.stdout as Socket).unref();
      (this.proc.stdin as Socket).unref();
    }
  }

  // Every frame is in. If it died before it was ready it read no request: the runs are re-run (through a new
  // launcher, or directly when none can be used). Otherwise a run may have started: it lost its output, its plugin
  // is killed (when its pid came) and the run fails.
  private died(why: string): void {
    if (this.gone) return;
    this.gone = true;
    const stderr = this.stderrText.trim();
    debug("launcher %d %s%s", this.proc.pid, why, stderr === "" ? "" : `: ${stderr}`);
    this.onDeath(this, stderr === "" ? why : `${why}: ${stderr}`);
    for (const job of [...this.jobs.values()]) {
      // Before "ready" it has read no request: nothing ran.
      if (!this.ready) {
        job.resolve(job.stopping ? { kind: "stopped" } : { kind: "retry" });
        continue;
      }
      // No pid came: the request may be unread, or its plugin forked a moment ago; it is not run again.
      if (job.pid === undefined) {
        job.resolve(job.stopping ? { kind: "stopped" } : { kind: "lost", pid: 0 });
        continue;
      }
      if (job.status === undefined) {
        try {
          process.kill(job.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      job.resolve(job.stopping ? { kind: "stopped" } : { kind: "lost", pid: job.pid });
    }
  }

  private onData(chunk: Buffer): void {
    this.inbuf = this.inbuf.length === 0 ? chunk : Buffer.concat([this.inbuf, chunk]);
    for (;;) {
      const nl = this.inbuf.indexOf(10);
      if (nl < 0) return;
      const fields = this.inbuf.toString("latin1", 0, nl).split(" ");
      const kind = fields[0];
      const id = Number(fields[1]);
      if (kind === "X") {
        const outLen = Number(fields[3]);
        const errLen = Number(fields[4]);
        const end = nl + 1 + outLen + errLen;
        if (this.inbuf.length < end) return;
        const job = this.jobs.get(id);
        if (job !== undefined) {
          const { code, signal } = decodeStatus(Number(fields[2]));
          job.resolve({
            kind: "exited",
            code,
            signal,
            stdout: this.inbuf.toString("utf8", nl + 1, nl + 1 + outLen),
            stderr: this.inbuf.toString("utf8", nl + 1 + outLen, end),
          });
        }
        this.inbuf = this.inbuf.subarray(end);
        continue;
      }
      this.inbuf = this.inbuf.subarray(nl + 1);
      if (kind === "ready") {
        this.ready = true;
        continue;
      }
      const job = this.jobs.get(id);
      if (job === undefined) continue;
      const value = Number(fields[2]);
      switch (kind) {
        case "S":
          job.pid = value;
          break;
        case "E":
          job.resolve(job.stopping ? { kind: "stopped" } : { kind: "spawn-error", cause: errnoError(value, job.path) });
          break;
        case "Q":
          job.status = value;
          if (job.stopping) job.resolve({ kind: "stopped" });
          break;
      }
    }
  }
}

/**
 * The process-wide launcher.
 * @internal
 */
export const launcher = new Launcher();
