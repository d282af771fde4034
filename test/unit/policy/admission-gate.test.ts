import { describe, expect, it } from 'vitest';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { gateInbound } from '../../../src/policy/admission-gate.js';

const call = (id: number): JSONRPCMessage => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow' } }) as JSONRPCMessage;
const note = (): JSONRPCMessage => ({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } }) as JSONRPCMessage;

function transport(): Transport & { deliver(m: JSONRPCMessage): void } {
  const t = {
    onmessage: undefined as Transport['onmessage'],
    start: async () => undefined,
    send: async () => undefined,
    close: async () => undefined,
    deliver(m: JSONRPCMessage) {
      this.onmessage?.(m);
    },
  };
  return t as unknown as Transport & { deliver(m: JSONRPCMessage): void };
}

describe('gateInbound', () => {
  it('hands a message on at once when nothing is asked, and holds later ones behind a decided call, in order', async () => {
    const inbound = transport();
    const releases: Array<() => void> = [];
    gateInbound(inbound, (m) => ('method' in m && m.method === 'tools/call' ? new Promise<void>((resolve) => releases.push(resolve)) : undefined));
    const seen: unknown[] = [];
    // The bridge sets its handler after the gate is in place (Bridge.start).
    inbound.onmessage = (m) => seen.push('id' in m ? m.id : 'note');
    inbound.deliver(note());
    expect(seen).toEqual(['note']);
    inbound.deliver(call(1));
    inbound.deliver(note()); // its cancellation must not overtake it
    inbound.deliver(call(2));
    await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual(['note']);
    releases.shift()!();
    await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual(['note', 1, 'note']);
    releases.shift()!();
    await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual(['note', 1, 'note', 2]);
    inbound.deliver(note());
    expect(seen).toEqual(['note', 1, 'note', 2, 'note']);
  });
});
