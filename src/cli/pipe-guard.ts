/**
 * Output into a pipe whose reader has gone (`mcp-airlock audit show --json | head -1`): Node
 * raises EPIPE as an 'error' event on stdout, and an unhandled one crashes with a stack trace.
 * A reader that has read enough is not a failure: the command stops quietly, exit 0, as
 * `git log | head` does. The stdio bridge has its own handler on stdout (the client went away:
 * close the session, flush the audit log); the guard then leaves it alone. A broken stderr is
 * ignored: there is nowhere left to report anything.
 */
const GONE = new Set(['EPIPE', 'ERR_STREAM_DESTROYED', 'ECONNRESET']);

let installed = false;

export function installPipeGuard(stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr, exit: (code: number) => void = (code) => process.exit(code)): void {
  if (installed && stdout === process.stdout) return;
  if (stdout === process.stdout) installed = true;
  const onStdoutError = (error: NodeJS.ErrnoException): void => {
    // Another listener (the stdio bridge) owns what a lost client means.
    if (stdout.listenerCount('error') > 1) return;
    if (error.code !== undefined && GONE.has(error.code)) return exit(0);
    stderr.write(`mcp-airlock: error: cannot write to standard output: ${error.message}\n`);
    exit(1);
  };
  stdout.on('error', onStdoutError);
  stderr.on('error', () => undefined);
}
