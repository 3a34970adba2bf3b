// The first lines of the built berth-logger: a file that is a POSIX shell script, a perl script (`perl -x` runs
// what follows the `#!perl` line up to `__END__`) and JavaScript (to which line 2 is a string and a comment, and the
// perl part a block comment). `sh` runs line 2:
// - `serve ...` (a resident logger, src/logger-server.ts) simply becomes Node;
// - otherwise it ignores SIGTERM and SIGINT, then closes fd 5, containerd's ready pipe, so the shim starts the
//   container while the logger is still starting (the container's first output waits in the pipe);
// - with `--server SOCKET` (a socket that exists, and perl on PATH) it runs the perl part, which hands the pipes to the
//   resident logger on that socket and exits with its exit code once the container's output is logged; exit 75 means
//   no server took them (none answers, or it died part-way), and the shell goes on as without the flag;
// - it runs Node on this same file as its child and exits with Node's status. The shell stays, so the shim's
//   SIGTERM (sent when the task is deleted, right after it closed the pipes) reaches only the shell: Node resets
//   signal dispositions when it starts, so a short-lived container could otherwise have its logger killed before
//   it read a byte. Node sees the pipes' EOF instead and drains for at most --cleanup-time from there;
// - it drops NODE_EXTRA_CA_CERTS: berth-logger makes no TLS connections, and Node 20 parses the whole CA bundle at
//   start-up when it is set (~50-80 ms of CPU);
// - BERTH_LOGGER_READY_SENT tells the runtime fd 5 is already closed.
// Run as `node berth-logger.cjs`, the shell line is a comment and a no-op.

const SHELL = [
  `':' //;`,
  `case "$1" in serve) unset NODE_EXTRA_CA_CERTS; exec node "$0" "$@";; esac;`,
  `trap '' TERM INT; exec 5>&-; unset NODE_EXTRA_CA_CERTS;`,
  `s=; p=; for a; do [ "$p" = --server ] && s=$a; case "$a" in --server=*) s=\${a#--server=};; esac; p=$a; done;`,
  `if [ -S "$s" ] && command -v perl >/dev/null; then perl -x "$0" "$s" "$@"; r=$?; [ "$r" = 75 ] || exit "$r"; fi;`,
  `BERTH_LOGGER_READY_SENT=1 node "$0" "$@"; exit $?`,
].join(" ");

// The hand-over to a resident logger (protocol: src/logger-server.ts). It holds fds 3 and 4 (the server opens them
// through /proc/<its pid>/fd) and waits for the server's verdict. It never reads the pipes itself, so whatever the
// server did not read is still there for the shell's fallback.
const PERL = String.raw`#!perl
use strict; use warnings; use Socket qw(AF_UNIX SOCK_STREAM pack_sockaddr_un);
$SIG{TERM} = 'IGNORE'; $SIG{INT} = 'IGNORE'; $SIG{PIPE} = 'IGNORE';
my $path = shift @ARGV;
socket(my $s, AF_UNIX, SOCK_STREAM, 0) or exit 75;
connect($s, pack_sockaddr_un($path)) or exit 75;
my $body = join("\0", 'berth-logger/1', $$, $ENV{CONTAINER_ID} // '', $ENV{CONTAINER_NAMESPACE} // '', @ARGV);
my $req = length($body) . "\n" . $body;
while (length $req) {
  my $n = syswrite($s, $req);
  if (!defined $n) { next if $!{EINTR}; exit 75 }
  substr($req, 0, $n, '');
}
my $in = '';
for (;;) {
  my $n = sysread($s, $in, 4096, length $in);
  if (!defined $n) { next if $!{EINTR}; last }
  last if $n == 0;
  while ($in =~ s/\A([^\n]*)\n//) {
    my $line = $1;
    exit $1 if $line =~ /\Aexit (\d+)\z/;
    exit 75 if $line =~ /\Afallback/;
    print STDERR substr($line, 6), "\n" if $line =~ /\Aerror /;
  }
}
exit 75;
__END__`;

/** Banner of the bundled bin (tsup's `banner.js`); every build of berth-logger uses it. */
export const BERTH_LOGGER_PREAMBLE = ["#!/usr/bin/env sh", SHELL, "/*", PERL, "*/"].join("\n");

/** The environment variable the preamble sets once it has closed the ready pipe. */
export const READY_SENT_ENV = "BERTH_LOGGER_READY_SENT";
