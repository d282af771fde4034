import { describe, expect, it } from 'vitest';
import { describeCounts, doctorExitCode, reportResult, stepHint, stepStatus, type DoctorCheck, type DoctorStep } from '../../../src/doctor/doctor-report.js';

const c = (id: string, status: DoctorCheck['status'], hint?: string): DoctorCheck => ({ id, status, message: id, spec: 'RFC 0', ...(hint ? { hint } : {}) });
const s = (id: DoctorStep['id'], status: DoctorStep['status']): DoctorStep => ({ id, title: id, status, summary: '', checks: [], exchanges: [] });

describe('the report model', () => {
  it('a step is its worst check; skipped checks alone make it skipped; no checks pass', () => {
    expect(stepStatus([c('a', 'pass'), c('b', 'warn')])).toBe('warn');
    expect(stepStatus([c('a', 'warn'), c('b', 'fail'), c('c', 'pass')])).toBe('fail');
    expect(stepStatus([c('a', 'skipped'), c('b', 'pass')])).toBe('pass');
    expect(stepStatus([c('a', 'skipped')])).toBe('skipped');
    expect(stepStatus([])).toBe('pass');
  });

  it("a step's hint is its first failing check's, else its first warning's", () => {
    expect(stepHint([c('a', 'warn', 'w'), c('b', 'fail', 'f1'), c('c', 'fail', 'f2')])).toBe('f1');
    expect(stepHint([c('a', 'pass'), c('b', 'warn', 'w')])).toBe('w');
    expect(stepHint([c('a', 'pass')])).toBeUndefined();
  });

  it('the result ignores skipped steps; exit codes are 0 pass, 1 fail, 2 warnings only (issue 5)', () => {
    expect(reportResult([s('unauthenticated', 'pass'), s('login', 'skipped')])).toBe('pass');
    expect(reportResult([s('unauthenticated', 'pass'), s('client', 'warn'), s('login', 'skipped')])).toBe('warn');
    expect(reportResult([s('client', 'warn'), s('login', 'fail')])).toBe('fail');
    expect([doctorExitCode('pass'), doctorExitCode('fail'), doctorExitCode('warn')]).toEqual([0, 1, 2]);
  });

  it('counts steps for the summary line', () => {
    expect(describeCounts([s('unauthenticated', 'pass'), s('client', 'warn'), s('login', 'skipped'), s('authenticated', 'skipped')])).toBe('1 passed, 1 warning, 0 failed, 2 skipped');
    expect(describeCounts([s('client', 'warn'), s('login', 'warn')])).toBe('0 passed, 2 warnings, 0 failed, 0 skipped');
  });
});
