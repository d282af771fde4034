import { describe, expect, it } from 'vitest';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '../../../src/bridge/json-rpc.js';
import { gateInbound, MAX_GATED_MESSAGES } from '../../../src/policy/admission-gate.js';

const call = (id: number): JSONRPCMessage => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow' } }) as JSONRPCMessage;
const note = (): JSONRPCMessage => ({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } }) as JSONRPCMessage;

function transport(): Transport & { deliver(m: JSONRPCMessage): void; sent: JSONRPCMessage[] } {
  const t = {
    onmessage: undefined as Transport['onmessage'],
    sent: [] as JSONRPCMessage[],
    start: async () => undefined,
    async send(m: JSONRPCMessage) {
      this.sent.push(m);
    },
    close: async () => undefined,
    deliver(m: JSONRPCMessage) {
      this.onmessage?.(m);
    },
  };
  return t as unknown as Transport & { deliver(m: JSONRPCMessage): void; sent: JSONRPCMessage[] };
}

describe('gateInbound', () => {
  it('holds at most MAX_GATED_MESSAGES behind a held call: past it a request is refused at once, a notification dropped', async () => {
    const inbound = transport();
    gateInbound(inbound, (m) => ('method' in m && m.method === 'tools/call' ? new Promise<void>(() => undefined) : undefined));
    const seen: unknown[] = [];
    inbound.onmessage = (m) => seen.push(m);
    inbound.deliver(call(0));
    for (let id = 1; id < MAX_GATED_MESSAGES + 10; id++) inbound.deliver(call(id));
    inbound.deliver(note());
    await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual([]);
    expect(inbound.sent.map((m) => (m as { id: number }).id)).toEqual(Array.from({ length: 10 }, (_, i) => MAX_GATED_MESSAGES + i));
    expect(inbound.sent.every((m) => /already wait for the shared state store/.test((m as { error: { message: string } }).error.message))).toBe(true);
  });

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
