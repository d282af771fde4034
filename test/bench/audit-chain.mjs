#!/usr/bin/env node
// The keyed audit chain's cost (issue 14): the audit writer's throughput, records per second,
// sealing with HMAC-SHA256 under a key (format 2) against the unkeyed SHA-256 chain (format 1, the
// chain before issue 14), buffered as by default. Alternating rounds, median of each, so both see
// the same machine load; records per second of this process's CPU time (user + system), which
// other load on the machine does not change. Run after `npm run build`: node test/bench/audit-chain.mjs [records] [rounds]
// With `--baseline <dist>` (another checkout's built dist/), "before" is that build's writer.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditWriter } from '../../dist/audit/audit-writer.js';
import { auditKeyId } from '../../dist/audit/audit-key.js';
import { createLogger } from '../../dist/log.js';

const argv = process.argv.slice(2);
const baselineAt = argv.indexOf('--baseline');
const baselineDist = baselineAt >= 0 ? argv.splice(baselineAt, 2)[1] : undefined;
const BaselineWriter = baselineDist ? (await import(join(baselineDist, 'audit', 'audit-writer.js'))).AuditWriter : AuditWriter;
const records = Number(argv[0] ?? 100_000);
const rounds = Number(argv[1] ?? 7);
const dir = mkdtempSync(join(tmpdir(), 'airlock-audit-bench-'));
const secret = randomBytes(32);
const key = { id: auditKeyId(secret), secret };
const log = createLogger('silent');

/** A tools/call record as the tap makes it: a principal, a digest of the arguments. */
const event = (i) => ({
  time: new Date().toISOString(),
  session: 'b7a1c2d3',
  server: 'node fixtures/stdio-server.mjs',
  transport: 'stdio->stdio',
  direction: 'client->server',
  kind: 'request',
  method: 'tools/call',
  id: i,
  name: 'echo',
  args: `hmac-sha256:${'ab'.repeat(32)}`,
  outcome: 'ok',
  latencyMs: 0.42,
  bytesIn: 96,
  bytesOut: 120,
  principal: { issuer: 'https://idp.example', subject: 'alice', clientId: 'c1', scopes: ['mcp:use'] },
  airlock: '0.1.0',
});

async function run(keyed, n) {
  const Writer = keyed ? AuditWriter : BaselineWriter;
  const writer = Writer.open({ file: join(dir, `audit-${keyed ? 'keyed' : 'plain'}.jsonl`), maxBytes: 0, sync: false, log, ...(keyed ? { key } : {}) });
  const started = process.cpuUsage();
  for (let i = 0; i < n; i++) writer.append(event(i));
  await writer.close();
  const used = process.cpuUsage(started);
  return n / ((used.user + used.system) / 1e6);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await run(true, 5_000);
await run(false, 5_000);
const plain = [];
const keyed = [];
for (let r = 0; r < rounds; r++) {
  plain.push(await run(false, records));
  keyed.push(await run(true, records));
}
rmSync(dir, { recursive: true, force: true });
const p = median(plain);
const k = median(keyed);
console.log(`audit writer, ${records} records x ${rounds} rounds (median), buffered:`);
console.log(`  unkeyed SHA-256 chain (${baselineDist ? `before: ${baselineDist}` : 'format 1, this build'}): ${Math.round(p)} records per CPU second`);
console.log(`  keyed HMAC-SHA256 chain:        ${Math.round(k)} records per CPU second`);
console.log(`  keyed / unkeyed:                ${(k / p).toFixed(3)}`);
