import { describe, expect, it } from 'vitest';
import { setMembers } from '../../../src/config/json-edit.js';

describe('setMembers', () => {
  it('replaces a member in place and adds one at the end, leaving comments and other settings', () => {
    const text = '// settings\n{\n  "theme": "dark", /* keep */\n  "servers": {\n    "a": { "command": "old" },\n    "b": 1, // b\n  },\n}\n';
    expect(setMembers(text, ['servers'], { a: { command: 'new' }, c: true })).toBe(
      '// settings\n{\n  "theme": "dark", /* keep */\n  "servers": {\n    "a": {\n      "command": "new"\n    },\n    "b": 1,\n    "c": true, // b\n  },\n}\n',
    );
  });

  it('adds the object when missing, in the indentation the file uses; an empty object gets its first member', () => {
    expect(setMembers('{\n\t"x": 1\n}', ['mcpServers'], { a: { args: ['-y'] } })).toBe('{\n\t"x": 1,\n\t"mcpServers": {\n\t\t"a": {\n\t\t\t"args": [\n\t\t\t\t"-y"\n\t\t\t]\n\t\t}\n\t}\n}');
    expect(setMembers('{"servers": {}}', ['servers'], { a: 1 })).toBe('{"servers": {\n  "a": 1\n}}');
    expect(setMembers('', ['servers'], { a: 1 })).toBe('{\n  "servers": {\n    "a": 1\n  }\n}\n');
  });

  it('refuses a path through something that is not an object', () => {
    expect(() => setMembers('{"servers": []}', ['servers'], { a: 1 })).toThrow('servers is not a JSON object');
  });
});
