import type { MessageInitShape } from '@bufbuild/protobuf';
import { LIVE_RUNTIME_STATUSES, RuntimeStatus, runtimesV1 } from '@bctrl/contracts';
import type { RuntimeRow } from './runtimes.repository';

const iso = (date: Date | null) => (date ? date.toISOString() : '');

export function renderRuntime(row: RuntimeRow): MessageInitShape<typeof runtimesV1.RuntimeSchema> {
  const live = LIVE_RUNTIME_STATUSES.includes(row.status as RuntimeStatus);
  return {
    id: row.id,
    spaceId: row.spaceId,
    accountId: row.accountId,
    subaccountId: row.subaccountId ?? '',
    status: row.status,
    // The run is "active" only while the runtime lives; a stopped runtime's run is closed.
    activeRunId: live ? row.runId : '',
    createdAt: iso(row.createdAt),
    readyAt: iso(row.readyAt),
    stoppedAt: iso(row.stoppedAt),
    expiresAt: iso(row.expiresAt),
    stopReason: row.stopReason ?? '',
    config: row.config as MessageInitShape<typeof runtimesV1.RuntimeConfigSchema>,
    metadata: (row.metadata ?? {}) as Record<string, string>,
    failure: row.failure ?? '',
  };
}
