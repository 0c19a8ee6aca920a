import { Body, Controller, Get, Param, Post, Query, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { RuntimesV1, runtimesV1 } from '@bctrl/contracts';
import { ApiRoute } from '../http/api-docs';
import { listOf, pageOf } from '../http/list-query.dto';
import { nullable } from '../http/public-shapes';
import { ServiceClient } from '../http/service-client';
import {
  CreateRuntimeDto,
  CreateRuntimeQueryDto,
  ListRuntimesQueryDto,
  RuntimeDto,
  RuntimeListDto,
} from './runtimes.dto';

export function toRuntimeDto(runtime: runtimesV1.Runtime): RuntimeDto {
  const c = runtime.config;
  return {
    id: runtime.id,
    spaceId: runtime.spaceId,
    type: c?.type || 'browser',
    status: runtime.status,
    activeRunId: nullable(runtime.activeRunId),
    createdAt: runtime.createdAt,
    readyAt: nullable(runtime.readyAt),
    stoppedAt: nullable(runtime.stoppedAt),
    expiresAt: nullable(runtime.expiresAt),
    stopReason: nullable(runtime.stopReason),
    failure: nullable(runtime.failure),
    config: {
      type: c?.type || 'browser',
      timeoutSeconds: c?.timeoutSeconds ?? 0,
      idleTimeoutSeconds: c?.idleTimeoutSeconds || null,
      profileId: nullable(c?.profileId ?? ''),
      persistProfile: c?.persistProfile ?? false,
      extensionIds: [...(c?.extensionIds ?? [])],
      proxyId: nullable(c?.proxyId ?? ''),
      viewport: c?.viewport ? { width: c.viewport.width, height: c.viewport.height } : null,
      userAgent: nullable(c?.userAgent ?? ''),
      locale: nullable(c?.locale ?? ''),
      timezone: nullable(c?.timezone ?? ''),
      recording: c?.recording ?? true,
    },
    metadata: { ...runtime.metadata },
  };
}

/** How long `?wait=true` may hold the request: the orchestrator answers by 60 s whatever happens. */
const WAIT_TIMEOUT_MS = 65_000;

@ApiTags('Runtimes')
@Controller('v1')
export class RuntimesController {
  constructor(private readonly services: ServiceClient) {}

  @Post('spaces/:spaceId/runtimes')
  @ApiRoute({ status: 201, type: RuntimeDto, creates: true })
  async create(
    @Req() req: FastifyRequest,
    @Param('spaceId') spaceId: string,
    @Query() query: CreateRuntimeQueryDto,
    @Body() body: CreateRuntimeDto,
  ): Promise<RuntimeDto> {
    const runtime = await this.services.call(
      req,
      RuntimesV1.create,
      {
        spaceId,
        wait: query.wait === 'true',
        metadata: body.metadata ?? {},
        config: {
          type: body.type ?? 'browser',
          timeoutSeconds: body.timeoutSeconds ?? 0,
          idleTimeoutSeconds: body.idleTimeoutSeconds ?? 0,
          profileId: body.profileId ?? '',
          persistProfile: body.persistProfile ?? false,
          extensionIds: body.extensionIds ?? [],
          proxyId: body.proxyId ?? '',
          ...(body.viewport ? { viewport: body.viewport } : {}),
          userAgent: body.userAgent ?? '',
          locale: body.locale ?? '',
          timezone: body.timezone ?? '',
          recording: body.recording ?? true,
        },
      },
      { timeoutMs: query.wait === 'true' ? WAIT_TIMEOUT_MS : undefined },
    );
    return toRuntimeDto(runtime);
  }

  @Get('spaces/:spaceId/runtimes')
  @ApiRoute({ type: RuntimeListDto })
  async list(
    @Req() req: FastifyRequest,
    @Param('spaceId') spaceId: string,
    @Query() query: ListRuntimesQueryDto,
  ): Promise<RuntimeListDto> {
    const page = await this.services.call(req, RuntimesV1.list, {
      spaceId,
      status: query.status ?? '',
      page: pageOf(query),
    });
    return listOf(page, toRuntimeDto);
  }

  @Get('runtimes/:runtimeId')
  @ApiRoute({ type: RuntimeDto })
  async get(@Req() req: FastifyRequest, @Param('runtimeId') runtimeId: string): Promise<RuntimeDto> {
    return toRuntimeDto(await this.services.call(req, RuntimesV1.get, { runtimeId }));
  }

  @Post('runtimes/:runtimeId/keepalive')
  @ApiRoute({ type: RuntimeDto, description: "Pushes expiresAt out by the runtime's timeout." })
  async keepalive(@Req() req: FastifyRequest, @Param('runtimeId') runtimeId: string): Promise<RuntimeDto> {
    return toRuntimeDto(await this.services.call(req, RuntimesV1.keepalive, { runtimeId }));
  }

  @Post('runtimes/:runtimeId/stop')
  @ApiRoute({ type: RuntimeDto, description: 'Idempotent: stopping a stopped runtime answers it as it is.' })
  async stop(@Req() req: FastifyRequest, @Param('runtimeId') runtimeId: string): Promise<RuntimeDto> {
    return toRuntimeDto(await this.services.call(req, RuntimesV1.stop, { runtimeId }));
  }
}
