import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { airlockCommand } from '../../../src/config/host-install.js';

describe('airlockCommand: the line install writes', () => {
  it('an installed package: npx, npx.cmd on Windows (which starts no .cmd without it)', () => {
    expect(airlockCommand('linux', join('/usr', 'lib', 'node_modules', 'mcp-airlock'))).toEqual({ command: 'npx', args: ['-y', 'mcp-airlock'] });
    expect(airlockCommand('win32', join('/Users', 'ann', 'AppData', 'node_modules', 'mcp-airlock'))).toEqual({ command: 'npx.cmd', args: ['-y', 'mcp-airlock'] });
  });

  it("a checkout: this Node and the checkout's bin by absolute path, spaces and all (args are never through a shell)", () => {
    expect(airlockCommand('linux', '/home/ann/my code/airlock', '/opt/node 22/bin/node')).toEqual({ command: '/opt/node 22/bin/node', args: [join('/home/ann/my code/airlock', 'bin', 'mcp-airlock.js')] });
  });
});
