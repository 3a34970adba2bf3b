import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { constants as fsConstants } from "node:fs";
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
  /**
   * The launcher died while the run was in flight: its output is lost. `killed`: the plugin is dead or never started
   * (the kernel killed it with the launcher, or this process killed `pid`); false only when the launcher could not
   * guard its plugins and had not sent the pid yet (pid 0).
   */
  | { readonly kind: "lost"; readonly pid: number; readonly killed: boolean }
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
//   "ready <pid> <guarded>\n"  once, at start; guarded 1: every plugin is started with PR_SET_PDEATHSIG (SIGKILL),
//                              so it dies with the launcher, and no "S" is sent
//   "S <id> <pid>\n"           unguarded only: the plugin's process was forked and has exec'd
//   "E <id> <errno>\n"         chdir, fork or exec failed with this errno (exec errors come back through a
//                              close-on-exec pipe, as in libuv); nothing runs
//   "Q <id> <status>\n"        a plugin that was to be killed ("K") is reaped (now or before), raw wait status
//   "X <id> <status> <outLen> <errLen>\n" stdout stderr
//                              the plugin was reaped and closed stdout and stderr: the run is complete (one frame,
//                              so this process wakes up once at the end of a run)
// The launcher's own working directory and environment are set to the request's before the fork (nothing else
// stays in %ENV; only changes are sent, cheaper for both sides than the whole environment every time). So are the
// plugin's stdin/stdout/stderr (its pipes are put on fds 0-2 of the launcher around the fork) and SIGPIPE's default
// disposition: the child does nothing but exec (and, where guarded, one prctl). Plugins start with default
// dispositions, an empty signal mask, exactly the environment given, stdin/stdout/stderr on pipes and no other fd
// (perl opens everything above fd 2 close-on-exec). The mask needs no code: Node's spawn (libuv) starts the launcher
// with an empty one, perl blocks signals only around a fork and gives the child the mask it had before, and the
// launcher forks only from its main loop, never from its SIGCHLD handler (during which perl blocks SIGCHLD).
const LAUNCHER_SCRIPT = String.raw`
# No modules, not even the ones perl loads on demand (Errno for %!): every page this process holds makes each fork
# dearer (POSIX alone adds 2 MB, Errno 250 KB). The Linux constants it needs come from Node in @ARGV: O_NONBLOCK,
# EINTR, EAGAIN and the numbers of the exit_group, prctl and dup3 system calls (0 when not known for this
# architecture). F_SETFL (4), WNOHANG (1), PR_SET_PDEATHSIG (1) and SIGKILL (9) are the same on every Linux
# architecture. Numbers, not strings: fcntl and syscall pass a string as a pointer.
my ($O_NONBLOCK, $EINTR, $EAGAIN, $SYS_exit_group, $SYS_prctl, $SYS_dup3) = map { $_ + 0 } @ARGV;
my $me = $$;
my $LAZY = 0.2;
# Leaves a child that could not exec at once, as _exit does: exit_group by number skips perl's exit (END blocks,
# global destruction, flushing handles), work that would only copy pages shared with the launcher. Without the
# number, exit: this script has no END block, no object, and never buffers output (syswrite only).
sub quit { syscall($SYS_exit_group, 127) if $SYS_exit_group; exit 127 }
# Puts three handles on fds 0-2 (without close-on-exec): dup3 by number is one system call each; perl's open of
# STDIN/STDOUT/STDERR as a dup (which keeps fds 0-2 too) takes six and allocates.
sub std {
  if ($SYS_dup3) { syscall($SYS_dup3, fileno($_[$_]), $_, 0) for 0 .. 2; return }
  open(STDIN, '<&', $_[0]); open(STDOUT, '>&', $_[1]); open(STDERR, '>&', $_[2]);
}
$SIG{PIPE} = 'IGNORE';
binmode STDIN; binmode STDOUT;
# Copies of fds 0-2 (the pipes to Node), to put back after each fork; close-on-exec, as perl opens them above fd 2.
open(my $in0, '<&', \*STDIN) or die "dup stdin: $!";
open(my $out1, '>&', \*STDOUT) or die "dup stdout: $!";
open(my $err2, '>&', \*STDERR) or die "dup stderr: $!";
# F_SETFL: a new pipe has no other status flag to keep.
sub nb { fcntl($_[0], 4, $O_NONBLOCK) }
sub out {
  my ($s) = @_;
  while (length $s) {
    my $n = syswrite(STDOUT, $s);
    if (!defined $n) { next if $! == $EINTR; return }
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
  while ((my $pid = waitpid(-1, 1)) > 0) {
    my $j = $jobs{$pid} or next;
    $j->{status} = $?; $j->{lazy} = 0; out("Q $j->{id} $?\n") if $j->{killed}; done($j);
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
  # fork; perl gives the child the launcher's empty signal mask) and this side waits for the exec (or its error)
  # before anything else. Fork to exec measured 9.5 ms with dup2 and signal set-up in the child, 5.7 ms without
  # (bash: 5.2 ms) on a loaded 2-core VM.
  std($ir, $ow, $ew);
  $SIG{PIPE} = 'DEFAULT';
  my $pid = fork;
  if (defined $pid && $pid == 0) {
    # PR_SET_PDEATHSIG, SIGKILL: the plugin dies with the launcher (kept across exec), so Node needs no pid to kill
    # it. If the launcher died before this took effect, the run is over: do not start the plugin.
    if ($SYS_prctl) { if (syscall($SYS_prctl, 1, 9) != 0) { syswrite($xw, $! + 0); quit() } quit() if getppid() != $me }
    exec { $path } $path;
    syswrite($xw, $! + 0); quit();
  }
  my $e = '';
  if (defined $pid) { close $xw; 1 while !defined(sysread($xr, $e, 16)) && $! == $EINTR; } else { $e = $! + 0 }
  $SIG{PIPE} = 'IGNORE';
  std($in0, $out1, $err2);
  if (!defined $pid) { out("E $id $e\n"); return }
  # Without PR_SET_PDEATHSIG, Node kills the plugin if the launcher dies: it needs the pid. With it, no reply until
  # the run ends (one wake-up of Node per run, not two).
  out("S $id $pid\n") unless $SYS_prctl;
  close $ir; close $ow; close $ew; close $xr;
  if ($e ne '') { waitpid($pid, 0); out("E $id $e\n"); return }
  nb($or); nb($er);
  # Its stdout and stderr are read once it has exited, or has run for $LAZY seconds (see the loop).
  my $j = { id => $id, pid => $pid, in => $iw, out => $or, err => $er, stdin => $stdin, o => '', e => '',
    lazy => 1, t => time };
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
out("ready $$ " . ($SYS_prctl ? 1 : 0) . "\n");
while (!$eof || %jobs) {
  my ($rin, $win) = ('', '');
  vec($rin, fileno(STDIN), 1) = 1 unless $eof;
  vec($rin, fileno($sr), 1) = 1;
  # A plugin's output is not read while it runs (a CNI result is written just before the plugin exits, and reading it
  # then would wake this process once more, on a CPU the plugin needs), unless the plugin runs for longer than $LAZY
  # seconds or 2 s pass (other runs keep waking this loop), so output larger than a pipe (64 KiB) is never held up
  # longer than that.
  my $lazy = 0;
  for my $j (values %jobs) {
    $j->{lazy} = 0 if $j->{lazy} && time - $j->{t} >= 2;
    if ($j->{lazy}) { $lazy = 1 } else {
      vec($rin, fileno($j->{out}), 1) = 1 if $j->{out};
      vec($rin, fileno($j->{err}), 1) = 1 if $j->{err};
    }
    vec($win, fileno($j->{in}), 1) = 1 if $j->{in};
  }
  my $n = select(my $r = $rin, my $w = $win, undef, $lazy ? $LAZY : undef);
  if ($n == 0) { $_->{lazy} = 0 for values %jobs; next }
  # An interrupted select is retried: the SIGCHLD handler has written to the self-pipe, which wakes it at once.
  next if $n < 0;
  reap() if vec($r, fileno($sr), 1);
  for my $j (values %jobs) {
    if ($j->{in} && vec($w, fileno($j->{in}), 1)) {
      my $k = syswrite($j->{in}, $j->{stdin});
      if (defined $k) { substr($j->{stdin}, 0, $k, '') } elsif ($! != $EAGAIN && $! != $EINTR) { $j->{stdin} = '' }
      if ($j->{stdin} eq '') { close $j->{in}; $j->{in} = undef }
    }
    for my $s (['out', 'o'], ['err', 'e']) {
      my $fh = $j->{$s->[0]};
      next unless $fh && vec($r, fileno($fh), 1);
      my $got = sysread($fh, $j->{$s->[1]}, 65536, length $j->{$s->[1]});
      next if !defined($got) && ($! == $EAGAIN || $! == $EINTR);
      if (!$got) { close $fh; $j->{$s->[0]} = undef; done($j) }
    }
  }
  if (!$eof && vec($r, fileno(STDIN), 1)) {
    my $got = sysread(STDIN, $inbuf, 65536, length $inbuf);
    if (!defined $got) { next if $! == $EINTR || $! == $EAGAIN; $got = 0 }
    if ($got) { requests() } else { $eof = 1 }
  }
}
`;

// System call numbers where they are known (0: the launcher falls back to perl's exit, to sending each plugin's pid
// so that this process can kill it if the launcher dies, and to perl's open for dup2).
const SYS_EXIT_GROUP: Readonly<Record<string, number>> = { x64: 231, arm64: 94, riscv64: 94, loong64: 94 };
const SYS_PRCTL: Readonly<Record<string, number>> = { x64: 157, arm64: 167, riscv64: 167, loong64: 167 };
const SYS_DUP3: Readonly<Record<string, number>> = { x64: 292, arm64: 24, riscv64: 24, loong64: 24 };

/**
 * The launcher's command line: perl, the script, and the constants it takes in `@ARGV` (prctl's number, the one
 * before last, 0 makes it unguarded; dup3's, the last, 0 makes it use perl's open).
 * @internal exported for tests.
 */
export const LAUNCHER_COMMAND: readonly string[] = [
  "perl",
  "-e",
  LAUNCHER_SCRIPT,
  String(fsConstants.O_NONBLOCK),
  String(constants.errno.EINTR),
  String(constants.errno.EAGAIN),
  String(SYS_EXIT_GROUP[process.arch] ?? 0),
  String(SYS_PRCTL[process.arch] ?? 0),
  String(SYS_DUP3[process.arch] ?? 0),
];

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
/**
 * Signal names by number.
 * @internal
 */
export const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/**
 * An `Error` like Node's spawn errors: `code` is the errno's name, e.g. `ETXTBSY`.
 * @internal
 */
export function errnoError(errno: number, path: string): Error {
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
  constructor(private readonly command: readonly string[] = LAUNCHER_COMMAND) {}

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
  // Its plugins die with it (PR_SET_PDEATHSIG), and it sends no pids.
  guarded = false;
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
      // No pid (none are sent when guarded): the request may be unread, or its plugin forked; it is not run again.
      if (job.pid === undefined) {
        job.resolve(job.stopping ? { kind: "stopped" } : { kind: "lost", pid: 0, killed: this.guarded });
        continue;
      }
      if (job.status === undefined) {
        try {
          process.kill(job.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      job.resolve(job.stopping ? { kind: "stopped" } : { kind: "lost", pid: job.pid, killed: true });
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
        this.guarded = fields[2] === "1";
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
