import { Body, Controller, Delete, Get, Param, Patch, Post, Query, Req } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { ProxiesV1, proxiesV1 } from '@bctrl/contracts';
import { NAME_MAX_LENGTH } from '@bctrl/core';
import { ApiRoute } from '../http/api-docs';
import { listOf, ListQueryDto, pageOf } from '../http/list-query.dto';
import { DeletedDto, nullable } from '../http/public-shapes';
import { ServiceClient } from '../http/service-client';

/** Shapes only: the spaces service checks the server, the bypass rules and the credentials, listing every issue. */
const SERVER_MAX_LENGTH = 2048;
const USERNAME_MAX_LENGTH = 256;
const BYPASS_MAX_ENTRIES = 100;
const BYPASS_ENTRY_MAX_LENGTH = 253;

const SERVER_DOC =
  'http://host:port, https://host:port or socks5://host:port, nothing else (credentials are `username` and ' +
  '`passwordSecretId`). Chromium cannot authenticate to SOCKS5 proxies: a socks5 proxy takes no credentials.';
const BYPASS_DOC =
  "Hosts that go direct, as Chromium's proxy bypass rules: `*.internal`, `example.com:8080`, `10.0.0.0/8`, " +
  '`<local>` (names without a dot). Chromium never proxies loopback (localhost, 127.0.0.1, [::1]) unless the list ' +
  'holds `<-loopback>`.';

export class CreateProxyDto {
  @ApiProperty({ minLength: 1, maxLength: NAME_MAX_LENGTH, example: 'office' })
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  name!: string;

  @ApiProperty({ maxLength: SERVER_MAX_LENGTH, example: 'http://proxy.example.com:3128', description: SERVER_DOC })
  @IsString()
  @MinLength(1)
  @MaxLength(SERVER_MAX_LENGTH)
  server!: string;

  @ApiPropertyOptional({ maxLength: USERNAME_MAX_LENGTH, description: 'With `passwordSecretId`, never alone.' })
  @IsOptional()
  @IsString()
  @MaxLength(USERNAME_MAX_LENGTH)
  username?: string;

  @ApiPropertyOptional({
    description: 'A secret of the same space holding the password; answered inside the runtime, never shown.',
    example: 'sec_0aBcDeFgHiJkLmNoPqRsTuVw',
  })
  @IsOptional()
  @IsString()
  @MaxLength(NAME_MAX_LENGTH)
  passwordSecretId?: string;

  @ApiPropertyOptional({
    type: [String],
    maxItems: BYPASS_MAX_ENTRIES,
    description: BYPASS_DOC,
    example: ['*.internal'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(BYPASS_MAX_ENTRIES)
  @IsString({ each: true })
  @MaxLength(BYPASS_ENTRY_MAX_LENGTH, { each: true })
  bypass?: string[];
}

export class UpdateProxyDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: NAME_MAX_LENGTH })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  name?: string;

  @ApiPropertyOptional({ maxLength: SERVER_MAX_LENGTH, description: SERVER_DOC })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(SERVER_MAX_LENGTH)
  server?: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: USERNAME_MAX_LENGTH,
    description: 'null removes it (with the password).',
  })
  @IsOptional()
  @IsString()
  @MaxLength(USERNAME_MAX_LENGTH)
  username?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, description: 'null removes it (with the username).' })
  @IsOptional()
  @IsString()
  @MaxLength(NAME_MAX_LENGTH)
  passwordSecretId?: string | null;

  @ApiPropertyOptional({
    type: [String],
    maxItems: BYPASS_MAX_ENTRIES,
    description: `Replaces the list. ${BYPASS_DOC}`,
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(BYPASS_MAX_ENTRIES)
  @IsString({ each: true })
  @MaxLength(BYPASS_ENTRY_MAX_LENGTH, { each: true })
  bypass?: string[];
}

export class ProxyDto {
  @ApiProperty({ example: 'prx_0aBcDeFgHiJkLmNoPqRsTuVw' }) id!: string;
  @ApiProperty() spaceId!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ example: 'http://proxy.example.com:3128' }) server!: string;
  @ApiProperty({ type: String, nullable: true }) username!: string | null;
  @ApiProperty({ type: String, nullable: true }) passwordSecretId!: string | null;
  @ApiProperty({ type: [String] }) bypass!: string[];
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class ProxyListDto {
  @ApiProperty({ type: [ProxyDto] }) data!: ProxyDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}

function toProxyDto(proxy: proxiesV1.Proxy): ProxyDto {
  return {
    id: proxy.id,
    spaceId: proxy.spaceId,
    name: proxy.name,
    server: proxy.server,
    username: nullable(proxy.username),
    passwordSecretId: nullable(proxy.passwordSecretId),
    bypass: [...proxy.bypass],
    createdAt: proxy.createdAt,
    updatedAt: proxy.updatedAt,
  };
}

/** Outbound proxies for runtimes (`proxyId` on runtime create): all of a runtime's traffic goes through one. */
@ApiTags('Configuration')
@Controller('v1')
export class ProxiesController {
  constructor(private readonly services: ServiceClient) {}

  @Post('spaces/:spaceId/proxies')
  @ApiRoute({ status: 201, type: ProxyDto, creates: true })
  async create(
    @Req() req: FastifyRequest,
    @Param('spaceId') spaceId: string,
    @Body() body: CreateProxyDto,
  ): Promise<ProxyDto> {
    const proxy = await this.services.call(req, ProxiesV1.createProxy, {
      spaceId,
      name: body.name,
      server: body.server,
      username: body.username ?? '',
      passwordSecretId: body.passwordSecretId ?? '',
      bypass: body.bypass ?? [],
    });
    return toProxyDto(proxy);
  }

  @Get('spaces/:spaceId/proxies')
  @ApiRoute({ type: ProxyListDto })
  async list(
    @Req() req: FastifyRequest,
    @Param('spaceId') spaceId: string,
    @Query() query: ListQueryDto,
  ): Promise<ProxyListDto> {
    const page = await this.services.call(req, ProxiesV1.listProxies, {
      spaceId,
      page: pageOf(query),
    });
    return listOf(page, toProxyDto);
  }

  @Get('proxies/:proxyId')
  @ApiRoute({ type: ProxyDto })
  async get(@Req() req: FastifyRequest, @Param('proxyId') proxyId: string): Promise<ProxyDto> {
    return toProxyDto(await this.services.call(req, ProxiesV1.getProxy, { proxyId }));
  }

  @Patch('proxies/:proxyId')
  @ApiRoute({
    type: ProxyDto,
    description: 'Changes what is given; live runtimes keep the proxy they started with.',
  })
  async update(
    @Req() req: FastifyRequest,
    @Param('proxyId') proxyId: string,
    @Body() body: UpdateProxyDto,
  ): Promise<ProxyDto> {
    const proxy = await this.services.call(req, ProxiesV1.updateProxy, {
      proxyId,
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.server !== undefined ? { server: body.server } : {}),
      ...(body.username !== undefined ? { username: body.username ?? '' } : {}),
      ...(body.passwordSecretId !== undefined ? { passwordSecretId: body.passwordSecretId ?? '' } : {}),
      ...(body.bypass !== undefined ? { bypass: { entries: body.bypass } } : {}),
    });
    return toProxyDto(proxy);
  }

  @Delete('proxies/:proxyId')
  @ApiRoute({ type: DeletedDto, description: 'Deleted. 409 conflict, listing them, while live runtimes use it.' })
  async delete(@Req() req: FastifyRequest, @Param('proxyId') proxyId: string): Promise<DeletedDto> {
    const result = await this.services.call(req, ProxiesV1.deleteProxy, { proxyId });
    return { id: result.id, deleted: result.deleted };
  }
}
