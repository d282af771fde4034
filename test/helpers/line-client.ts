/**
 * A raw stdio peer for airlock: writes lines (valid or not) to its stdin and reads its stdout as
 * JSON-RPC lines. Every stdout line must parse; anything else fails the test that reads it.
 */
import type { AirlockProcess } from './airlock-process.js';

export interface RpcMessage {
  jsonrpc: '2.0';
  id?: string | number | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

export const initializeRequest = (id: number | string = 0): RpcMessage => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'line-client', version: '1' } },
});

export class LineClient {
  constructor(private readonly proc: AirlockProcess) {}

  writeLine(line: string): void {
    this.proc.child.stdin!.write(`${line}\n`);
  }

  send(message: RpcMessage): void {
    this.writeLine(JSON.stringify(message));
  }

  /** Every line airlock has written to stdout, parsed (throws on a non-JSON line). */
  messages(): RpcMessage[] {
    return this.proc
      .stdout()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        try {
          return JSON.parse(line) as RpcMessage;
        } catch {
          throw new Error(`stdout carried a line that is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
        }
      });
  }

  async waitFor(predicate: (m: RpcMessage) => boolean, what: string, timeoutMs = 10_000): Promise<RpcMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages().find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout so far:\n${this.proc.stdout().slice(0, 2000)}\nstderr:\n${this.proc.stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  response(id: string | number | null, timeoutMs?: number): Promise<RpcMessage> {
    return this.waitFor((m) => m.id === id && (m.result !== undefined || m.error !== undefined), `the response to id ${String(id)}`, timeoutMs);
  }

  /** initialize + initialized, as a client would. */
  async handshake(): Promise<RpcMessage> {
    this.send(initializeRequest(0));
    const reply = await this.response(0);
    this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return reply;
  }

  async call(id: number, name: string, args: Record<string, unknown> = {}): Promise<RpcMessage> {
    this.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
    return this.response(id);
  }

  endInput(): void {
    this.proc.child.stdin!.end();
  }
}
