export interface RunsRecorderOptions {
  databaseUrl: string;
  /** Most messages stored in one transaction. Default 1000. */
  maxBatch?: number;
}

export const RECORDER_OPTIONS = Symbol.for('bctrl.runs-recorder.options');

/** Durable consumer names: a restarted recorder resumes where it acknowledged, and nothing is lost meanwhile. */
export const RECORDER_CONSUMERS = { events: 'runs-recorder-events', commands: 'runs-recorder-commands' } as const;
