/**
 * doctor's terminal view: runDoctor against the real fixture (oidc-provider without S256 in its
 * metadata) drawn by the ink step view into a fake 80-column terminal; the frames must show each
 * step with its mark as it finishes, the failing step's hint, and the summary line. ink decides at
 * import whether it runs in CI, so the CI variables are cleared before the view is imported.
 */
import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthFixture } from '../../../fixtures/auth/protected-server.mjs';
import { runDoctor } from '../../../src/doctor/doctor-engine.js';
import { doctorOptions } from '../../helpers/doctor-options.js';
import type { StepReporter } from '../../../src/ui/step-reporter.js';

let inkStepReporter: (out: NodeJS.WriteStream) => StepReporter;
let fixture: Awaited<ReturnType<typeof startAuthFixture>>;
beforeAll(async () => {
  for (const name of ['CI', 'CONTINUOUS_INTEGRATION']) delete process.env[name];
  ({ inkStepReporter } = await import('../../../src/ui/ink-step-view.js'));
  fixture = await startAuthFixture({ advertiseS256: false });
});
afterAll(async () => {
  await fixture?.close();
});

describe('doctor in the ink view', () => {
  it('fills in the steps as they finish, with marks, the failing hint and the summary', async () => {
    const writes: string[] = [];
    const out = new Writable({
      write(chunk, _encoding, callback) {
        writes.push(stripVTControlCharacters(String(chunk)));
        callback();
      },
    }) as unknown as NodeJS.WriteStream;
    Object.assign(out, { isTTY: true, columns: 80, rows: 24 });

    const report = await runDoctor(doctorOptions({ url: new URL(fixture.url), allowHttp: true, reporter: inkStepReporter(out) }));
    expect(report.result).toBe('fail');
    const drawn = writes.join('');
    // Each finished step is drawn once, in order, with its mark.
    const order = ['✔ Unauthenticated request', '✔ Protected resource metadata', '✖ Authorization server metadata', '✔ Client registration', '– Login and token', '– Authenticated initialize and tools/list'];
    const positions = order.map((line) => drawn.indexOf(line));
    expect(positions.every((p) => p >= 0), JSON.stringify({ drawn })).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(drawn).toContain('code_challenge_methods_supported');
    expect(drawn).toContain('hint: AWS Cognito and some Entra ID configurations omit');
    // The last frame is the summary line, after every step.
    expect(drawn.lastIndexOf(`doctor ${fixture.url}: FAILED`)).toBeGreaterThan(positions.at(-1)!);
  });
});
