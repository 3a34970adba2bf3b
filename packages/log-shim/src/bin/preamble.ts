// The first lines of the built berth-logger: a file that is both a POSIX shell script and JavaScript. `sh` runs
// line 2 (to JavaScript it is a string and a comment):
// - it ignores SIGTERM and SIGINT, then closes fd 5, containerd's ready pipe, so the shim starts the container while
//   Node is still starting (the container's first output waits in the pipe);
// - it runs Node on this same file as its child and exits with Node's status. The shell stays, so the shim's
//   SIGTERM (sent when the task is deleted, right after it closed the pipes) reaches only the shell: Node resets
//   signal dispositions when it starts, so a short-lived container could otherwise have its logger killed before
//   it read a byte. Node sees the pipes' EOF instead and drains for at most --cleanup-time from there;
// - it drops NODE_EXTRA_CA_CERTS: berth-logger makes no TLS connections, and Node 20 parses the whole CA bundle at
//   start-up when it is set (~50-80 ms of CPU);
// - BERTH_LOGGER_READY_SENT tells the runtime fd 5 is already closed.
// Run as `node berth-logger.cjs`, the two lines are a comment and a no-op.

/** Banner of the bundled bin (tsup's `banner.js`); every build of berth-logger uses it. */
export const BERTH_LOGGER_PREAMBLE = [
  "#!/usr/bin/env sh",
  `':' //; trap '' TERM INT; exec 5>&-; unset NODE_EXTRA_CA_CERTS; BERTH_LOGGER_READY_SENT=1 node "$0" "$@"; exit $?`,
].join("\n");

/** The environment variable the preamble sets once it has closed the ready pipe. */
export const READY_SENT_ENV = "BERTH_LOGGER_READY_SENT";
