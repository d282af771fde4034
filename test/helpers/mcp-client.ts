/**
 * A real MCP client (the SDK's Client) with the capabilities the scenario exercises: sampling,
 * roots, logging notifications. Its transport decides which inbound side of airlock it talks to.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CreateMessageRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  type LoggingMessageNotification,
} from '@modelcontextprotocol/sdk/types.js';

export const clientRoots = [{ uri: 'file:///work/project', name: 'project' }];

export interface TestClient {
  client: Client;
  logs: LoggingMessageNotification['params'][];
  samplingPrompts: string[];
}

/** `extraCapabilities` adds to sampling and roots (e.g. `{ elicitation: {} }` for a test that answers elicitations). */
export async function connectClient(transport: Transport, extraCapabilities: Record<string, object> = {}): Promise<TestClient> {
  const client = new Client({ name: 'airlock-test', version: '1.0.0' }, { capabilities: { sampling: {}, roots: { listChanged: true }, ...extraCapabilities } });
  const logs: TestClient['logs'] = [];
  const samplingPrompts: string[] = [];
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    const content = request.params.messages[0]?.content;
    samplingPrompts.push(content && 'text' in content ? String(content.text) : '');
    return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'hi from the client' } };
  });
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: clientRoots }));
  client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
    logs.push(notification.params);
  });
  await client.connect(transport);
  return { client, logs, samplingPrompts };
}

export function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content;
  const first = content?.[0];
  if (!first || first.type !== 'text' || typeof first.text !== 'string') throw new Error(`no text content in ${JSON.stringify(result).slice(0, 200)}`);
  return first.text;
}
