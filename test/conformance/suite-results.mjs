// Reading what the conformance suite wrote (one checks.json per scenario) and scoring it against a
// frozen requirement set, the suite's own way: a scenario passes when none of its checks is a
// FAILURE, and only the set's `server` or `client` list counts; `not_scored` entries are shown
// apart.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** The suite names result directories `<scenario>-<ISO time with dashes>`, servers with a `server-` prefix. */
const RESULT_DIR = /^(.*)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;
/** The last line everything-client.mjs writes: whether its own steps went through. */
const CLIENT_OUTCOME = /everything-client: outcome=(\w+)/;

/** Every checks.json under `dir`, by scenario name. */
export function collectResults(dir, leg) {
  const results = new Map();
  const walk = (at) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const path = join(at, entry.name);
      const match = RESULT_DIR.exec(entry.name);
      if (!match) {
        walk(path);
        continue;
      }
      let checks;
      try {
        checks = JSON.parse(readFileSync(join(path, 'checks.json'), 'utf8'));
      } catch {
        continue;
      }
      const parent = relative(dir, at).split(sep).filter(Boolean);
      let name = [...parent, match[1]].join('/');
      if (leg === 'server') name = name.replace(/^server-/, '');
      let clientOutcome;
      try {
        clientOutcome = CLIENT_OUTCOME.exec(readFileSync(join(path, 'stderr.txt'), 'utf8'))?.[1] ?? 'none';
      } catch {
        // server runs keep no stderr
      }
      results.set(name, { checks, clientOutcome, dir: path });
    }
  };
  walk(dir);
  return results;
}

/** One line on why a scenario failed: its first failing check and that check's message. */
function reasonOf(result) {
  if (!result) return 'no result: the suite produced no checks.json for it';
  const failure = result.checks.find((check) => check.status === 'FAILURE');
  const message = (failure.errorMessage ?? failure.description ?? '').replace(/\s+/g, ' ').trim();
  return `${failure.id}: ${message.length > 220 ? `${message.slice(0, 217)}...` : message}`;
}

const failed = (result) => !result || result.checks.some((check) => check.status === 'FAILURE');

/**
 * Not-scored scenarios reported by name beside the scored figures: the DPoP extension (SEP-1932),
 * which the requirement sets do not score but airlock implements.
 */
export const WATCHED_SCENARIOS = ['auth/dpop', 'auth/dpop-nonce'];

/**
 * Scores one run. `set` is the parsed requirement file, `leg` 'server' or 'client', `only` an
 * optional single scenario. Returns counts, failing names, one reason each, and (client leg) the
 * passing scenarios whose client still reported an error.
 */
export function scoreRun({ results, set, leg, only }) {
  const pick = (names) => names.filter((name) => only === undefined || name === only);
  const scored = pick(set[leg] ?? []);
  const unscored = pick((set.not_scored ?? []).filter((entry) => entry.leg === leg).map((entry) => entry.scenario));
  const failing = scored.filter((name) => failed(results.get(name)));
  const failingUnscored = unscored.filter((name) => failed(results.get(name)));
  const reasons = Object.fromEntries([...failing, ...failingUnscored].map((name) => [name, reasonOf(results.get(name))]));
  const clientErrors =
    leg === 'client'
      ? scored.filter((name) => !failing.includes(name) && results.get(name)?.clientOutcome !== 'ok')
      : [];
  const watched = Object.fromEntries(unscored.filter((name) => WATCHED_SCENARIOS.includes(name)).map((name) => [name, failed(results.get(name)) ? 'fail' : 'pass']));
  return {
    scored,
    watched,
    passed: scored.length - failing.length,
    total: scored.length,
    failing,
    notScored: { passed: unscored.length - failingUnscored.length, total: unscored.length, failing: failingUnscored },
    reasons,
    clientErrors,
  };
}

/** The failing scored scenarios of a row: by name, or "all but <the passing ones>" when most fail. */
function failingNames(row) {
  if (row.failing.length === 0) return '-';
  if (row.failing.length <= row.total / 2 || row.total <= 3) return row.failing.join(', ');
  const passing = (row.scored ?? []).filter((name) => !row.failing.includes(name));
  return passing.length === 0 ? `all ${row.total}` : `all but ${passing.join(', ')}`;
}

/** One line per row that ran a watched scenario: `client/suite mocks 2026-07-28: auth/dpop pass, auth/dpop-nonce pass`. */
export function formatWatched(rows) {
  return rows
    .filter((row) => !row.error && Object.keys(row.watched ?? {}).length > 0)
    .map((row) => `${row.chain}/${row.server} ${row.set}: ${Object.entries(row.watched).map(([name, verdict]) => `${name} ${verdict}`).join(', ')}`);
}

/** The summary table: one row per chain, server mode and requirement set. */
export function formatTable(rows) {
  const header = ['chain', 'server', 'set', 'scored', 'not scored', 'failing (scored)'];
  const cells = rows.map((row) => [
    row.chain,
    row.server,
    row.set,
    row.error ? 'error' : `${row.passed}/${row.total}`,
    row.error ? '' : `${row.notScored.passed}/${row.notScored.total}`,
    row.error ?? [failingNames(row), row.note ? `(${row.note})` : ''].filter(Boolean).join(' '),
  ]);
  const widths = header.slice(0, -1).map((title, i) => Math.max(title.length, ...cells.map((row) => row[i].length)));
  const line = (row) => row.map((cell, i) => (i < widths.length ? cell.padEnd(widths[i]) : cell)).join('  ');
  return [line(header), line(widths.map((width) => '-'.repeat(width)).concat('-'.repeat(16))), ...cells.map(line)].join('\n');
}
