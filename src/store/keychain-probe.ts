/**
 * Is the OS keychain usable right now? Writes an entry, reads it back and deletes it, in a child
 * process that is killed after a timeout.
 *
 * Why a child process: a keychain call that hangs (a locked keyring waiting on an unlock prompt
 * nobody answers, a D-Bus peer that never replies) blocks a libuv pool thread, or with
 * @napi-rs/keyring's synchronous Secret Service connect even the main thread, and cannot be
 * cancelled. `process.exit` then waits for that thread too, so airlock itself could not exit.
 * A child can always be killed. It costs one short node start (about 0.1 s) per probe.
 *
 * Observed with gnome-keyring (headless, no display): a locked collection fails at once ("unlock
 * prompt was dismissed", the prompter cannot open a display); no D-Bus session fails at once;
 * a prompter that never answers blocks for 25 s (D-Bus call timeout) or longer.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { KEYCHAIN_SERVICE } from './keychain-store.js';

/** Why the keychain cannot be used. */
export type KeychainFailureReason = 'no-secret-service' | 'locked' | 'timeout' | 'error';

/** The probe's verdict; `detail` is one human sentence (no secrets: the probe writes only a random marker). */
export type KeychainProbeResult = { ok: true } | { ok: false; reason: KeychainFailureReason; detail: string };

/** Options for {@link probeKeychain}. */
export interface KeychainProbeOptions {
  /** Keychain service name; default {@link KEYCHAIN_SERVICE}. */
  service?: string;
  /** Give up (and kill the probe) after this long. Default 5 s. */
  timeoutMs?: number;
  /** Environment of the probe process (DBUS_SESSION_BUS_ADDRESS decides which Secret Service); default process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * The child: CommonJS for `node -e`, given the absolute path of @napi-rs/keyring, so it works from
 * the sources under test and from dist alike. Prints one JSON line and exits.
 */
const CHILD_SOURCE = `
const [modulePath, service, account, marker] = process.argv.slice(1);
const done = (result) => process.stdout.write(JSON.stringify(result) + '\\n', () => process.exit(0));
(async () => {
  let stage = 'load';
  let entry;
  try {
    const { AsyncEntry } = require(modulePath);
    stage = 'connect';
    entry = new AsyncEntry(service, account, { linux: { store: 'secret-service' } });
    stage = 'write';
    await entry.setPassword(marker);
    stage = 'read';
    const back = await entry.getPassword();
    stage = 'delete';
    const deleted = await entry.deleteCredential();
    done({ stage: 'done', readBack: back === marker, deleted });
  } catch (error) {
    if (entry && stage !== 'write') await entry.deleteCredential().catch(() => undefined);
    done({ stage, error: String((error && error.message) || error) });
  }
})();
`;

const SHORT_REASONS: Record<KeychainFailureReason, string> = {
  'no-secret-service': 'no Secret Service on the D-Bus session bus',
  locked: 'the keychain is locked',
  timeout: 'the keychain did not answer',
  error: 'the keychain failed',
};

/** A few words for a warning line; the whole `detail` belongs in debug output and in errors. */
export function shortKeychainReason(result: Exclude<KeychainProbeResult, { ok: true }>): string {
  return SHORT_REASONS[result.reason];
}

interface ChildReport {
  stage: string;
  error?: string;
  readBack?: boolean;
  deleted?: boolean;
}

function oneLine(text: string, max = 240): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** Name the failure from the library's message (keyring-rs and zbus wording, as observed). */
function classify(report: ChildReport): KeychainProbeResult {
  const message = oneLine(report.error ?? '');
  if (report.stage === 'load') return { ok: false, reason: 'error', detail: `the keychain library cannot be loaded (${message})` };
  if (/no result found/i.test(message)) {
    return { ok: false, reason: 'locked', detail: `the Secret Service has no default keyring to store into (${message})` };
  }
  if (/\b(is ?locked|locked|dismissed)\b|interaction is not allowed/i.test(message)) {
    return { ok: false, reason: 'locked', detail: `the keychain is locked and could not be unlocked without a prompt (${message})` };
  }
  if (/d-?bus|secret service|org\.freedesktop|failed to connect|autolaunch/i.test(message)) {
    return { ok: false, reason: 'no-secret-service', detail: `no Secret Service answers on the D-Bus session bus (${message})` };
  }
  return { ok: false, reason: 'error', detail: `the keychain failed while probing (${report.stage}: ${message})` };
}

/**
 * Write, read back and delete a probe entry under `service`, bounded by `timeoutMs`. A locked
 * keychain can fail a write, or answer a read with "nothing stored": only a round trip proves it works.
 */
export async function probeKeychain(options: KeychainProbeOptions = {}): Promise<KeychainProbeResult> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  let modulePath: string;
  try {
    modulePath = createRequire(import.meta.url).resolve('@napi-rs/keyring');
  } catch (error) {
    return { ok: false, reason: 'error', detail: `the keychain library is not installed (${oneLine(String(error))})` };
  }
  const account = `probe:${process.pid}:${randomBytes(4).toString('hex')}`;
  const marker = randomBytes(12).toString('hex');
  const args = ['-e', CHILD_SOURCE, modulePath, options.service ?? KEYCHAIN_SERVICE, account, marker];

  return new Promise<KeychainProbeResult>((resolve) => {
    let settled = false;
    const finish = (result: KeychainProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const child = spawn(process.execPath, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({
        ok: false,
        reason: 'timeout',
        detail: `the keychain did not answer within ${timeoutMs} ms (it may be waiting for an unlock prompt)`,
      });
    }, timeoutMs);
    child.on('error', (error) => finish({ ok: false, reason: 'error', detail: `cannot start the keychain probe (${oneLine(error.message)})` }));
    child.on('close', (code, signal) => {
      let report: ChildReport | undefined;
      try {
        report = JSON.parse(stdout.trim().split('\n').pop() ?? '') as ChildReport;
      } catch {
        report = undefined;
      }
      if (!report) {
        const how = signal ? `signal ${signal}` : `code ${code}`;
        finish({ ok: false, reason: 'error', detail: `the keychain probe ended with ${how} (${oneLine(stderr) || 'no output'})` });
      } else if (report.error !== undefined) {
        finish(classify(report));
      } else if (!report.readBack) {
        finish({ ok: false, reason: 'locked', detail: 'an entry written to the keychain could not be read back (a locked keychain can answer "nothing stored")' });
      } else {
        finish({ ok: true });
      }
    });
  });
}
