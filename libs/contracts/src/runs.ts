import * as pb from './generated/bctrl/runs/v1/events_pb';
import { defineMethod } from './method';

const SERVICE = 'runs-recorder';

/** runs-recorder's queries over the stored record; wire names are frozen like every other subject. */
export const RunsV1 = {
  get: defineMethod(SERVICE, 'runs-recorder.v1.getRun', pb.GetRunRequestSchema, pb.RunSchema),
  list: defineMethod(SERVICE, 'runs-recorder.v1.listRuns', pb.ListRunsRequestSchema, pb.ListRunsResponseSchema),
  events: defineMethod(
    SERVICE,
    'runs-recorder.v1.listEvents',
    pb.ListRunEventsRequestSchema,
    pb.ListRunEventsResponseSchema,
  ),
  commands: defineMethod(
    SERVICE,
    'runs-recorder.v1.listCommands',
    pb.ListRunCommandsRequestSchema,
    pb.ListRunCommandsResponseSchema,
  ),
} as const;
