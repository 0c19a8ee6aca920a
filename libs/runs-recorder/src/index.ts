export { RunsRecorderModule, RECORDER_CONSUMERS } from './runs-recorder.module';
export type { RunsRecorderOptions } from './runs-recorder.module';
export * from './runs-recorder.settings';
export * from './runs-recorder.definition';
