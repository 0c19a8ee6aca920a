import { Controller, Get, Headers, Param, Query, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RunEvent, RunsV1, runsV1 } from '@bctrl/contracts';
import { BctrlError } from '@bctrl/core';
import { ApiRoute } from '../http/api-docs';
import { listOf, ListQueryDto } from '../http/list-query.dto';
import { nullable } from '../http/public-shapes';
import { ServiceClient } from '../http/service-client';

export class RunCountsDto {
  @ApiProperty()
  events!: number;

  @ApiProperty()
  commands!: number;

  @ApiProperty()
  artifacts!: number;
}

export class RunDto {
  @ApiProperty({ example: 'run_3n5XAp0bLx3fQ0u0wW1kqJ8s' })
  id!: string;

  @ApiProperty()
  spaceId!: string;

  @ApiProperty()
  runtimeId!: string;

  @ApiProperty({ enum: ['active', 'ended'] })
  status!: string;

  @ApiProperty({ format: 'date-time' })
  startedAt!: string;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  endedAt!: string | null;

  @ApiProperty({ type: RunCountsDto })
  counts!: RunCountsDto;
}

export class RunListDto {
  @ApiProperty({ type: [RunDto] })
  data!: RunDto[];

  @ApiProperty({ nullable: true, type: String })
  nextCursor!: string | null;
}

export class RunEventDto {
  @ApiProperty({ description: 'Gap-free from 1 within the run, in the order things happened.' })
  seq!: number;

  @ApiProperty()
  runId!: string;

  @ApiProperty({ example: RunEvent.runtimeReady })
  type!: string;

  @ApiProperty({ format: 'date-time' })
  at!: string;

  @ApiProperty({ type: 'object', additionalProperties: true })
  data!: Record<string, unknown>;
}

export class RunEventListDto {
  @ApiProperty({ type: [RunEventDto] })
  data!: RunEventDto[];

  @ApiProperty({ nullable: true, type: String, description: 'Pass as `after` (or `cursor`) for the next page.' })
  nextCursor!: string | null;
}

export class CommandRecordDto {
  @ApiProperty()
  seq!: number;

  @ApiProperty()
  runId!: string;

  @ApiProperty({ enum: ['cdp', 'webdriver', 'platform'] })
  source!: string;

  @ApiProperty({ nullable: true, type: String })
  connectionId!: string | null;

  @ApiProperty({
    example: 'Page.navigate',
    description:
      'A CDP method, a WebDriver command as its route (`POST /session/{sessionId}/url`), or a platform action.',
  })
  method!: string;

  @ApiProperty({
    nullable: true,
    type: String,
    description: 'The CDP session (target), null for the browser; or the WebDriver session.',
  })
  sessionId!: string | null;

  @ApiProperty({ format: 'date-time' })
  startedAt!: string;

  @ApiProperty({ description: 'Until the reply; 0 when none came (errorCode `no_reply`).' })
  durationMicros!: number;

  @ApiProperty()
  ok!: boolean;

  @ApiProperty({ nullable: true, type: String, description: 'The CDP error code, or a platform code.' })
  errorCode!: string | null;

  @ApiProperty()
  requestBytes!: number;

  @ApiProperty()
  responseBytes!: number;
}

export class CommandRecordListDto {
  @ApiProperty({ type: [CommandRecordDto] })
  data!: CommandRecordDto[];

  @ApiProperty({ nullable: true, type: String, description: 'Pass as `after` (or `cursor`) for the next page.' })
  nextCursor!: string | null;
}

export class SeqQueryDto {
  @ApiPropertyOptional({ description: 'Only records with a larger seq.', minimum: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(2_147_483_647)
  after?: number;

  @ApiPropertyOptional({ description: 'The nextCursor of the previous page (same as `after`).' })
  @IsOptional()
  @Matches(/^\d{1,10}$/, { message: 'cursor is not a cursor this API returned' })
  cursor?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}

export function toRunDto(run: runsV1.Run): RunDto {
  return {
    id: run.id,
    spaceId: run.spaceId,
    runtimeId: run.runtimeId,
    status: run.status,
    startedAt: run.startedAt,
    endedAt: nullable(run.endedAt),
    counts: {
      events: Number(run.eventCount),
      commands: Number(run.commandCount),
      artifacts: Number(run.artifactCount),
    },
  };
}

function toEventDto(event: runsV1.StoredEvent): RunEventDto {
  return {
    seq: Number(event.seq),
    runId: event.runId,
    type: event.type,
    at: event.at,
    data: JSON.parse(event.dataJson || '{}') as Record<string, unknown>,
  };
}

function afterOf(query: SeqQueryDto, lastEventId?: string): number {
  if (query.after !== undefined) return query.after;
  if (query.cursor !== undefined) return Number(query.cursor);
  if (lastEventId !== undefined) {
    if (!/^\d{1,10}$/.test(lastEventId.trim())) {
      throw BctrlError.validation([{ field: 'Last-Event-ID', issue: 'must be the seq of an event this API sent' }]);
    }
    return Number(lastEventId.trim());
  }
  return 0;
}

/** How long one long poll of the recorder waits for new events; an SSE comment keeps the stream warm between. */
const LIVE_POLL_MS = 15_000;

@ApiTags('Runs')
@Controller('v1')
export class RunsController {
  constructor(private readonly services: ServiceClient) {}

  @Get('spaces/:spaceId/runs')
  @ApiRoute({ type: RunListDto })
  async list(
    @Req() req: FastifyRequest,
    @Param('spaceId') spaceId: string,
    @Query() query: ListQueryDto,
  ): Promise<RunListDto> {
    const page = await this.services.call(req, RunsV1.list, {
      spaceId,
      limit: query.limit ?? 0,
      cursor: query.cursor ?? '',
    });
    return listOf(page, toRunDto);
  }

  @Get('runs/:runId')
  @ApiRoute({ type: RunDto })
  async get(@Req() req: FastifyRequest, @Param('runId') runId: string): Promise<RunDto> {
    return toRunDto(await this.services.call(req, RunsV1.get, { runId }));
  }

  @Get('runs/:runId/events')
  @ApiRoute({
    type: RunEventListDto,
    description:
      'Ordered by seq. With `Accept: text/event-stream` it streams events live (SSE, `id:` = seq) until the run ends, resuming after `Last-Event-ID`.',
  })
  @ApiHeader({ name: 'accept', required: false, description: '`text/event-stream` streams the events live (SSE).' })
  @ApiHeader({
    name: 'last-event-id',
    required: false,
    description: 'Resume a stream after this seq (what an SSE client sends when it reconnects).',
  })
  async events(
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Param('runId') runId: string,
    @Query() query: SeqQueryDto,
    @Headers('accept') accept?: string,
    @Headers('last-event-id') lastEventId?: string,
  ): Promise<RunEventListDto | undefined> {
    const after = afterOf(query, lastEventId);
    if (accept?.includes('text/event-stream')) {
      // Errors (404, 401) are answered as JSON before the stream starts.
      const first = await this.services.call(req, RunsV1.events, { runId, after: BigInt(after), limit: 500 });
      await this.stream(req, reply, runId, first);
      return undefined;
    }
    const limit = query.limit ?? 100;
    const page = await this.services.call(req, RunsV1.events, { runId, after: BigInt(after), limit });
    return {
      data: page.data.map(toEventDto),
      nextCursor: page.data.length === limit ? String(page.lastSeq) : null,
    };
  }

  @Get('runs/:runId/commands')
  @ApiRoute({
    type: CommandRecordListDto,
    description:
      'Platform command records: every CDP method sent through a connection, with timing and outcome, never params or results.',
  })
  async commands(
    @Req() req: FastifyRequest,
    @Param('runId') runId: string,
    @Query() query: SeqQueryDto,
  ): Promise<CommandRecordListDto> {
    const limit = query.limit ?? 100;
    const page = await this.services.call(req, RunsV1.commands, {
      runId,
      after: BigInt(afterOf(query)),
      limit,
    });
    return {
      data: page.data.map((record) => ({
        seq: Number(record.seq),
        runId: record.runId,
        source: record.source,
        connectionId: nullable(record.connectionId),
        method: record.method,
        sessionId: nullable(record.sessionId),
        startedAt: record.startedAt,
        durationMicros: Number(record.durationMicros),
        ok: record.ok,
        errorCode: nullable(record.errorCode),
        requestBytes: Number(record.requestBytes),
        responseBytes: Number(record.responseBytes),
      })),
      nextCursor: page.data.length === limit ? String(page.lastSeq) : null,
    };
  }

  /** Writes events as they are stored, until the run ends or the client goes. */
  private async stream(
    req: FastifyRequest,
    reply: FastifyReply,
    runId: string,
    first: runsV1.ListRunEventsResponse,
  ): Promise<void> {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': String(reply.getHeader('x-request-id') ?? ''),
    });
    let open = true;
    raw.on('close', () => (open = false));
    const write = (page: runsV1.ListRunEventsResponse) => {
      for (const event of page.data) {
        const dto = toEventDto(event);
        raw.write(`id: ${dto.seq}\nevent: ${dto.type}\ndata: ${JSON.stringify(dto)}\n\n`);
      }
    };
    let page = first;
    try {
      for (;;) {
        write(page);
        if (!open) return;
        if (page.runEnded) {
          raw.write('event: end\ndata: {}\n\n');
          return;
        }
        if (page.data.length === 0) raw.write(': waiting\n\n');
        page = await this.services.call(
          req,
          RunsV1.events,
          { runId, after: page.lastSeq, limit: 500, waitMs: page.data.length === 0 ? LIVE_POLL_MS : 0 },
          { timeoutMs: LIVE_POLL_MS + 10_000 },
        );
        if (!open) return;
      }
    } catch (error) {
      if (open)
        raw.write(
          `event: error\ndata: ${JSON.stringify({ message: 'the stream was interrupted; reconnect with Last-Event-ID' })}\n\n`,
        );
      void error;
    } finally {
      raw.end();
    }
  }
}
