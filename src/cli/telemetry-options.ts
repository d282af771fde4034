/**
 * --otel and the OTEL_* variables: OpenTelemetry export of spans and metrics for connect, serve and
 * run (docs/team.md). The exporter is imported only when something asks for it.
 */
import type { Command } from 'commander';
import type { Logger } from '../log.js';
import type { CallTelemetry } from '../telemetry/call-telemetry.js';
import { otlpConfig, type OtelFlag } from '../telemetry/otlp-config.js';
import { HelpGroup } from './help-groups.js';

export interface TelemetryFlags {
  otel?: OtelFlag;
}

export function addTelemetryOptions(command: Command): Command {
  return command
    .optionsGroup(HelpGroup.telemetry)
    .option('--otel [url]', 'export a span per MCP request and call metrics over OTLP/HTTP (JSON) to this collector (default: OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318); setting OTEL_EXPORTER_OTLP_ENDPOINT alone switches it on too')
    .option('--no-otel', 'do not export OpenTelemetry data, whatever the OTEL_* variables say');
}

/** The telemetry the flag and the environment ask for, or undefined. */
export async function openTelemetry(flags: TelemetryFlags, log: Logger, version: string, env: NodeJS.ProcessEnv = process.env): Promise<CallTelemetry | undefined> {
  const config = otlpConfig(flags.otel, env, version);
  if (config === undefined) return undefined;
  const { startCallTelemetry } = await import('../telemetry/call-telemetry.js');
  return startCallTelemetry(config, log);
}
