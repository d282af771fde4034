/**
 * The headings `--help` groups each command's options under (commander 14's optionsGroup), so
 * `connect --help` reads as a few short lists instead of one long one. One set of names for every
 * command: the same option sits under the same heading wherever it appears.
 */
import type { Command } from 'commander';

export const HelpGroup = {
  /** How airlock reaches the server (connect, serve --upstream). */
  transport: 'Transport:',
  /** serve: where and how it listens. */
  listen: 'Listening:',
  /** serve and run: the stdio server command they spawn. */
  server: 'Server command:',
  /** serve: who may call it (static token, OAuth resource server). */
  inboundAuth: 'Who may call serve:',
  /** doctor: what it does beyond discovery, and what it sends. */
  checks: 'What doctor does:',
  /** OAuth to the server airlock connects to. */
  auth: 'Auth (OAuth login to the server):',
  /** Cross-app access and workload identity. */
  enterprise: 'Enterprise auth:',
  /** Corporate networks: trusted CAs, client certificates (proxies come from the environment). */
  network: 'Network (TLS):',
  /** mcp-remote's spellings of auth options. */
  mcpRemote: 'mcp-remote spellings:',
  policy: 'Tool policy:',
  audit: 'Audit log:',
  limits: 'Limits:',
  /** OpenTelemetry export (connect, serve, run). */
  telemetry: 'Telemetry:',
  /** serve for a team: rate limits and flow history shared by replicas (--state). */
  sharedState: 'Shared state (serve replicas):',
  output: 'Output:',
} as const;

/**
 * Close a command's option list: `-h, --help` goes under Output with the other options about
 * what is printed (commander would give it a heading of its own, "Options:").
 */
export function endOptions(command: Command): Command {
  return command.optionsGroup(HelpGroup.output).helpOption(true);
}
