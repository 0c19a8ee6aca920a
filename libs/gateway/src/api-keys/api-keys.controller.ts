import { Body, Controller, Delete, Get, Param, Post, Query, Req } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsISO8601,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
} from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { SpacesV1, spacesV1 } from '@bctrl/contracts';
import { NAME_MAX_LENGTH, ROLES } from '@bctrl/core';
import { ApiRoute } from '../http/api-docs';
import { listOf, ListQueryDto, pageOf } from '../http/list-query.dto';
import { DeletedDto, nullable } from '../http/public-shapes';
import { ServiceClient } from '../http/service-client';

export class CreateApiKeyDto {
  @ApiProperty({ minLength: 1, maxLength: NAME_MAX_LENGTH, example: 'ci' })
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  name!: string;

  @ApiProperty({ enum: ROLES })
  @IsIn(ROLES as string[])
  role!: string;

  @ApiPropertyOptional({
    description: 'Scope the key to this subaccount. A subaccount key can only create keys for itself.',
  })
  @IsOptional()
  @Matches(/^sub_[0-9A-Za-z]{24}$/, { message: 'subaccountId is not a subaccount id' })
  subaccountId?: string;

  @ApiPropertyOptional({ type: [String], maxItems: 100, description: 'Limit the key to these spaces.' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @Matches(/^spc_[0-9A-Za-z]{24}$/, { each: true, message: 'spaceIds must list space ids' })
  spaceIds?: string[];

  @ApiPropertyOptional({ format: 'date-time', description: 'The key stops working at this time.' })
  @IsOptional()
  @IsISO8601({ strict: true })
  expiresAt?: string;
}

export class ApiKeyDto {
  @ApiProperty({ example: 'key_0aBcDeFgHiJkLmNoPqRsTuVw' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: ROLES }) role!: string;
  @ApiProperty({ type: String, nullable: true }) subaccountId!: string | null;
  @ApiProperty({ type: [String], nullable: true, description: "null: every space in the key's reach." }) spaceIds!:
    | string[]
    | null;
  @ApiProperty({ description: 'The first characters of the key, to recognise it.' }) prefix!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) expiresAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) lastUsedAt!: string | null;
}

export class CreatedApiKeyDto extends ApiKeyDto {
  @ApiProperty({ description: 'The key itself. Shown only in this response; only its hash is stored.' })
  secret!: string;
}

export class ApiKeyListDto {
  @ApiProperty({ type: [ApiKeyDto] }) data!: ApiKeyDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}

function toApiKeyDto(key: spacesV1.ApiKey): ApiKeyDto {
  return {
    id: key.id,
    name: key.name,
    role: key.role,
    subaccountId: nullable(key.subaccountId),
    spaceIds: key.spaceIds.length > 0 ? [...key.spaceIds] : null,
    prefix: key.prefix,
    createdAt: key.createdAt,
    expiresAt: nullable(key.expiresAt),
    lastUsedAt: nullable(key.lastUsedAt),
  };
}

@ApiTags('Admin')
@Controller('v1/api-keys')
export class ApiKeysController {
  constructor(private readonly services: ServiceClient) {}

  @Post()
  @ApiRoute({ status: 201, type: CreatedApiKeyDto, creates: true })
  async create(@Req() req: FastifyRequest, @Body() body: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    const created = await this.services.call(req, SpacesV1.createApiKey, {
      name: body.name,
      role: body.role,
      subaccountId: body.subaccountId ?? '',
      spaceIds: body.spaceIds ?? [],
      expiresAt: body.expiresAt ?? '',
    });
    if (!created.key) throw new Error('createApiKey answered without a key');
    return { ...toApiKeyDto(created.key), secret: created.secret };
  }

  @Get()
  @ApiRoute({ type: ApiKeyListDto })
  async list(@Req() req: FastifyRequest, @Query() query: ListQueryDto): Promise<ApiKeyListDto> {
    const page = await this.services.call(req, SpacesV1.listApiKeys, {
      page: pageOf(query),
    });
    return listOf(page, toApiKeyDto);
  }

  @Delete(':keyId')
  @ApiRoute({ type: DeletedDto, description: 'Revoked: the key stops working on its next request.' })
  async revoke(@Req() req: FastifyRequest, @Param('keyId') keyId: string): Promise<DeletedDto> {
    const key = await this.services.call(req, SpacesV1.revokeApiKey, { keyId });
    return { id: key.id, deleted: true };
  }
}
