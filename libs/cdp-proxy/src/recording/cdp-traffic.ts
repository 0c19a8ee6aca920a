import {
  addObservation,
  BoundedLabels,
  type CdpBytesAttributes,
  type CdpDirection,
  type CdpMessageAttributes,
  type Observation,
} from '@bctrl/telemetry';

/** What a message's method reads when it cannot be told: a binary frame, a stray reply, a client's non-command. */
export const UNKNOWN_CDP_METHOD = 'unknown';
/**
 * Chromium speaks about 650 commands and 250 events; a client may send any string as a method, and each distinct one
 * would be a series of its own. Past this many (or for anything not shaped like `Domain.method`) it reads `other`.
 */
const MAX_CDP_METHODS = 1_000;
const CDP_METHOD_SHAPE = /^[A-Za-z][A-Za-z0-9]{0,63}\.[A-Za-z][A-Za-z0-9]{0,127}$/;

/**
 * The CDP messages and bytes this proxy carried, for `bctrl.cdp.messages` and `bctrl.cdp.bytes`. Counted in plain
 * maps by the command trackers, which run on the tap's batched callbacks, never on the forwarding path; the
 * OpenTelemetry instruments read the running totals only when metrics are collected.
 */
export class CdpTraffic {
  private readonly messages: Record<CdpDirection, Map<string, number>> = { client: new Map(), browser: new Map() };
  private readonly bytes: Record<CdpDirection, number> = { client: 0, browser: 0 };
  private readonly methods = new BoundedLabels(MAX_CDP_METHODS, CDP_METHOD_SHAPE);

  /** One message of `size` payload bytes; `method` is the one it carries, or the command a reply answers. */
  count(direction: CdpDirection, method: string | undefined, size: number): void {
    const label = method === undefined ? UNKNOWN_CDP_METHOD : this.methods.label(method);
    const counts = this.messages[direction];
    counts.set(label, (counts.get(label) ?? 0) + 1);
    this.bytes[direction] += size;
  }

  messageTotals(): Observation<CdpMessageAttributes>[] {
    const totals: Observation<CdpMessageAttributes>[] = [];
    for (const direction of ['client', 'browser'] as const) {
      for (const [method, count] of this.messages[direction]) {
        totals.push([count, { direction, 'cdp.method': method }]);
      }
    }
    return totals;
  }

  byteTotals(): Observation<CdpBytesAttributes>[] {
    return [
      [this.bytes.client, { direction: 'client' }],
      [this.bytes.browser, { direction: 'browser' }],
    ];
  }

  /** Hands the totals to the metrics; returns the removal. */
  observe(): () => void {
    const removals = [
      addObservation('cdpMessages', () => this.messageTotals()),
      addObservation('cdpBytes', () => this.byteTotals()),
    ];
    return () => removals.forEach((remove) => remove());
  }
}
