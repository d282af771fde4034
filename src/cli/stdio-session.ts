/**
 * The stdio-facing modes (`connect`, `run`): our stdin/stdout on one side, one upstream on the
 * other, until either side ends. Exit 0 when the client closes stdin, 4 when the upstream dies.
 */
import { Bridge } from '../bridge/bridge.js';
import type { Stage } from '../bridge/stage.js';
import { ExitCode } from '../errors.js';
import { createStdioInbound } from '../transports/stdio-inbound.js';
import { createOutbound, describeUpstream, type UpstreamSpec } from '../transports/outbound.js';
import type { CommandContext } from './context.js';
import { supervise } from './lifecycle.js';

export async function runStdioSession(context: CommandContext, upstream: UpstreamSpec, stages: Stage[] = []): Promise<number> {
  const { log } = context;
  const name = describeUpstream(upstream);
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  const bridge = new Bridge({
    inbound: createStdioInbound({ maxLineBytes: context.maxLineBytes, log }),
    outbound: createOutbound(upstream, context),
    log,
    label: name,
    stages,
    onClosed: (reason, by) => {
      if (by === 'upstream') log.error(`upstream ended: ${reason}`);
      else log.debug(`session ended: ${reason}`);
      resolveDone(by === 'upstream' ? ExitCode.upstream : ExitCode.ok);
    },
  });
  await bridge.start();
  log.debug(`bridging stdio <-> ${name}`);
  return supervise({
    log,
    reaper: context.reaper,
    done,
    shutdown: () => bridge.close('mcp-airlock was asked to stop', 'airlock'),
    shutdownTimeoutMs: context.killGraceMs * 2 + 1000,
  });
}
