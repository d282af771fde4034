#!/usr/bin/env node
// Thin entry: load the built CLI, run it, exit with its code once stdout has drained
// (in stdio modes the last JSON-RPC responses must reach the client before we go).
// With --hub auto|require (or MCP_AIRLOCK_HUB), connect and run attach to the user's hub through
// the shim, which loads nothing else; otherwise, or when the hub cannot be used under auto, the
// command runs here.
import { fileURLToPath } from 'node:url';
import { attachable, takeHubMode } from '../dist/hub/hub-endpoint.js';

const exit = (code) => process.stdout.write('', () => process.exit(code));
const fail = (error) => {
  process.stderr.write(`mcp-airlock: error: ${error instanceof Error ? error.message : String(error)}\n`);
  exit(1);
};

async function start() {
  const { mode, argv, invalid } = takeHubMode(process.argv.slice(2), process.env);
  if (invalid !== undefined) {
    process.stderr.write(`mcp-airlock: error: --hub (or MCP_AIRLOCK_HUB) is ${JSON.stringify(invalid)}\nmcp-airlock: hint: Use auto, off or require.\n`);
    return 2;
  }
  if (mode !== 'off' && attachable(argv)) {
    const { runShim } = await import('../dist/hub/shim.js');
    const code = await runShim(argv, mode, fileURLToPath(import.meta.url));
    if (code !== undefined) return code;
  }
  const { main } = await import('../dist/cli/main.js');
  return main(argv);
}

start().then(exit, fail);
