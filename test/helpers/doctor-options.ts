/** DoctorOptions for tests that call runDoctor directly: every switch off, no login, silent. */
import type { RunDoctorOptions } from '../../src/doctor/doctor-engine.js';
import { createLogger } from '../../src/log.js';

export function doctorOptions(extra: Partial<RunDoctorOptions> & Pick<RunDoctorOptions, 'url'>): RunDoctorOptions {
  return {
    register: false,
    login: false,
    device: false,
    verbose: false,
    hasClientSecret: false,
    assumeS256: false,
    allowHttp: false,
    log: createLogger('silent'),
    openSession: async () => {
      throw new Error('no login in this test');
    },
    notice: () => undefined,
    ...extra,
  };
}
