import { Body, Controller, Delete, Get, Inject, Param, Post, Query, Req } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { CONNECTION_STATUSES, CONNECTION_TYPES, ConnectionsV1, connectionsV1 } from '@bctrl/contracts';
import { ApiRoute } from '../http/api-docs';
import { listOf, ListQueryDto, pageOf } from '../http/list-query.dto';
import { nullable } from '../http/public-shapes';
import { ServiceClient } from '../http/service-client';
import { INT32_MAX } from '../http/validation';
import { CDP_ROUTE_PREFIX, PUBLIC_URL, WEBDRIVER_ROUTE_PREFIX } from './cdp-route';

export class CreateConnectionDto {
  @ApiPropertyOptional({ enum: CONNECTION_TYPES, default: 'cdp' })
  @IsOptional()
  @IsIn([...CONNECTION_TYPES])
  type?: 'cdp' | 'webdriver';

  @ApiPropertyOptional({
    minimum: 10,
    maximum: INT32_MAX,
    description: "The lease's lifetime (default and maximum from the operator: 3600 and 86400).",
  })
  @IsOptional()
  @IsInt()
  @Min(10)
  @Max(INT32_MAX)
  ttlSeconds?: number;
}

export class ConnectionDto {
  @ApiProperty({ example: 'conn_3n5XAp0bLx3fQ0u0wW1kqJ8s' })
  id!: string;

  @ApiProperty()
  runtimeId!: string;

  @ApiProperty({ description: 'The run of the runtime start this connection drives.' })
  runId!: string;

  @ApiProperty({ enum: CONNECTION_TYPES })
  type!: string;

  @ApiProperty({ enum: CONNECTION_STATUSES })
  status!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  expiresAt!: string;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  endedAt!: string | null;

  @ApiProperty({ enum: ['revoked', 'expired', 'runtime_stopped', 'platform_restarted'], nullable: true, type: String })
  endReason!: string | null;

  @ApiPropertyOptional({
    description:
      'Browser-level CDP endpoint (`ws(s)://<host>/v1/cdp/<token>`) for playwright connectOverCDP, puppeteer.connect and chrome-remote-interface. Its token is a credential: only the create answer carries it; reads and lists never do.',
  })
  wsUrl?: string;

  @ApiPropertyOptional({
    description:
      'HTTP base of the same endpoint: `<base>/json/version` and `<base>/json/list` answer as Chromium does, with URLs pointing back here (puppeteer `browserURL`). Only in the create answer.',
  })
  httpUrl?: string;

  @ApiPropertyOptional({
    description:
      "Opens Chrome DevTools on the runtime's current page through the same lease. Only in the create answer.",
  })
  devtoolsFrontendUrl?: string;

  @ApiPropertyOptional({
    description:
      "`webdriver` connections: a W3C WebDriver endpoint (`<base>/v1/webdriver/<token>`) for Selenium's RemoteWebDriver; its sessions attach to the runtime's running browser (chromedriver beside it). Only in the create answer.",
  })
  webdriverUrl?: string;
}

export class ConnectionListDto {
  @ApiProperty({ type: [ConnectionDto] })
  data!: ConnectionDto[];

  @ApiProperty({ nullable: true, type: String })
  nextCursor!: string | null;
}

/** The gateway builds a connection's URLs from its token and the public URL tenants reach us at. */
export function toConnectionDto(connection: connectionsV1.Connection, publicUrl: string): ConnectionDto {
  const base = publicUrl.replace(/\/+$/, '');
  // The service sends the token only in a create answer (and never for an ended connection); each type gets only
  // the URLs its lease opens.
  const urls = !connection.token
    ? {}
    : connection.type === 'webdriver'
      ? { webdriverUrl: `${base}${WEBDRIVER_ROUTE_PREFIX}${connection.token}` }
      : {
          wsUrl: `${base.replace(/^http/, 'ws')}${CDP_ROUTE_PREFIX}${connection.token}`,
          httpUrl: `${base}${CDP_ROUTE_PREFIX}${connection.token}`,
          devtoolsFrontendUrl: `${base}${CDP_ROUTE_PREFIX}${connection.token}/devtools`,
        };
  return {
    id: connection.id,
    runtimeId: connection.runtimeId,
    runId: connection.runId,
    type: connection.type,
    status: connection.status,
    createdAt: connection.createdAt,
    expiresAt: connection.expiresAt,
    endedAt: nullable(connection.endedAt),
    endReason: nullable(connection.endReason),
    ...urls,
  };
}

@ApiTags('Connections')
@Controller('v1')
export class ConnectionsController {
  constructor(
    private readonly services: ServiceClient,
    @Inject(PUBLIC_URL) private readonly publicUrl: { value: string },
  ) {}

  @Post('runtimes/:runtimeId/connections')
  @ApiRoute({ status: 201, type: ConnectionDto, creates: true })
  async create(
    @Req() req: FastifyRequest,
    @Param('runtimeId') runtimeId: string,
    @Body() body: CreateConnectionDto,
  ): Promise<ConnectionDto> {
    const connection = await this.services.call(req, ConnectionsV1.create, {
      runtimeId,
      type: body.type ?? 'cdp',
      ttlSeconds: body.ttlSeconds ?? 0,
    });
    return toConnectionDto(connection, this.publicUrl.value);
  }

  @Get('runtimes/:runtimeId/connections')
  @ApiRoute({ type: ConnectionListDto })
  async list(
    @Req() req: FastifyRequest,
    @Param('runtimeId') runtimeId: string,
    @Query() query: ListQueryDto,
  ): Promise<ConnectionListDto> {
    const page = await this.services.call(req, ConnectionsV1.list, {
      runtimeId,
      page: pageOf(query),
    });
    return listOf(page, (connection) => toConnectionDto(connection, this.publicUrl.value));
  }

  @Get('connections/:connectionId')
  @ApiRoute({ type: ConnectionDto })
  async get(@Req() req: FastifyRequest, @Param('connectionId') connectionId: string): Promise<ConnectionDto> {
    return toConnectionDto(await this.services.call(req, ConnectionsV1.get, { connectionId }), this.publicUrl.value);
  }

  @Delete('connections/:connectionId')
  @ApiRoute({
    type: ConnectionDto,
    description: 'Revokes: every live socket of the connection closes within 1 s (code 4001); its URLs stop working.',
  })
  async revoke(@Req() req: FastifyRequest, @Param('connectionId') connectionId: string): Promise<ConnectionDto> {
    return toConnectionDto(await this.services.call(req, ConnectionsV1.revoke, { connectionId }), this.publicUrl.value);
  }
}
