#!/usr/bin/env node
// Thin entry: load the built CLI, run it, exit with its code once stdout has drained
// (in stdio modes the last JSON-RPC responses must reach the client before we go).
import { main } from '../dist/cli/main.js';

const exit = (code) => process.stdout.write('', () => process.exit(code));

main(process.argv.slice(2)).then(exit, (error) => {
  process.stderr.write(`mcp-airlock: error: ${error instanceof Error ? error.message : String(error)}\n`);
  exit(1);
});
