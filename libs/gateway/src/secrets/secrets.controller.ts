import { Body, Controller, Delete, Get, Param, Patch, Post, Put, Query, Req } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { SecretsV1, secretsV1 } from '@bctrl/contracts';
import { NAME_MAX_LENGTH } from '@bctrl/core';
import { rememberSecretValue } from '@bctrl/telemetry';
import { ApiRoute } from '../http/api-docs';
import { listOf, ListQueryDto, pageOf } from '../http/list-query.dto';
import { DeletedDto, nullable } from '../http/public-shapes';
import { ServiceClient } from '../http/service-client';

/** The spaces service checks the value's size in bytes; this bound only keeps absurd bodies from travelling. */
const VALUE_MAX_LENGTH = 64 * 1024;
const DESCRIPTION_MAX_LENGTH = 1000;

export class CreateSecretDto {
  @ApiProperty({ minLength: 1, maxLength: NAME_MAX_LENGTH, example: 'proxy-password' })
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  name!: string;

  @ApiProperty({
    minLength: 1,
    maxLength: VALUE_MAX_LENGTH,
    writeOnly: true,
    description: 'Write-only: no response, log, event or record ever shows it. At most 64 KiB (UTF-8).',
  })
  @IsString()
  @MinLength(1)
  @MaxLength(VALUE_MAX_LENGTH)
  value!: string;

  @ApiPropertyOptional({ maxLength: DESCRIPTION_MAX_LENGTH })
  @IsOptional()
  @IsString()
  @MaxLength(DESCRIPTION_MAX_LENGTH)
  description?: string;
}

export class UpdateSecretDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: NAME_MAX_LENGTH })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  name?: string;

  @ApiPropertyOptional({ maxLength: DESCRIPTION_MAX_LENGTH })
  @IsOptional()
  @IsString()
  @MaxLength(DESCRIPTION_MAX_LENGTH)
  description?: string;
}

export class SecretValueDto {
  @ApiProperty({ minLength: 1, maxLength: VALUE_MAX_LENGTH, writeOnly: true })
  @IsString()
  @MinLength(1)
  @MaxLength(VALUE_MAX_LENGTH)
  value!: string;
}

export class SecretDto {
  @ApiProperty({ example: 'sec_0aBcDeFgHiJkLmNoPqRsTuVw' }) id!: string;
  @ApiProperty() spaceId!: string;
  @ApiProperty() name!: string;
  @ApiProperty() description!: string;
  @ApiProperty({ description: '1 at creation, + 1 on every rotation of the value.' }) version!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) lastUsedAt!: string | null;
}

export class SecretListDto {
  @ApiProperty({ type: [SecretDto] }) data!: SecretDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}

function toSecretDto(secret: secretsV1.Secret): SecretDto {
  return {
    id: secret.id,
    spaceId: secret.spaceId,
    name: secret.name,
    description: secret.description,
    version: secret.version,
    createdAt: secret.createdAt,
    updatedAt: secret.updatedAt,
    lastUsedAt: nullable(secret.lastUsedAt),
  };
}

/** The vault: values are write-only; what comes back is the secret's description and version. */
@ApiTags('Configuration')
@Controller('v1')
export class SecretsController {
  constructor(private readonly services: ServiceClient) {}

  @Post('spaces/:spaceId/secrets')
  @ApiRoute({ status: 201, type: SecretDto, creates: true })
  async create(
    @Req() req: FastifyRequest,
    @Param('spaceId') spaceId: string,
    @Body() body: CreateSecretDto,
  ): Promise<SecretDto> {
    // This process saw the value: mask it in its own logs too, whatever fails next.
    rememberSecretValue(body.value);
    const secret = await this.services.call(req, SecretsV1.createSecret, {
      spaceId,
      name: body.name,
      value: body.value,
      description: body.description ?? '',
    });
    return toSecretDto(secret);
  }

  @Get('spaces/:spaceId/secrets')
  @ApiRoute({ type: SecretListDto })
  async list(
    @Req() req: FastifyRequest,
    @Param('spaceId') spaceId: string,
    @Query() query: ListQueryDto,
  ): Promise<SecretListDto> {
    const page = await this.services.call(req, SecretsV1.listSecrets, {
      spaceId,
      page: pageOf(query),
    });
    return listOf(page, toSecretDto);
  }

  @Get('secrets/:secretId')
  @ApiRoute({ type: SecretDto })
  async get(@Req() req: FastifyRequest, @Param('secretId') secretId: string): Promise<SecretDto> {
    return toSecretDto(await this.services.call(req, SecretsV1.getSecret, { secretId }));
  }

  @Patch('secrets/:secretId')
  @ApiRoute({
    type: SecretDto,
    description: 'Changes the name and description only; the value is rotated with PUT …/value.',
  })
  async update(
    @Req() req: FastifyRequest,
    @Param('secretId') secretId: string,
    @Body() body: UpdateSecretDto,
  ): Promise<SecretDto> {
    const secret = await this.services.call(req, SecretsV1.updateSecret, {
      secretId,
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.description !== undefined ? { description: body.description } : {}),
    });
    return toSecretDto(secret);
  }

  @Put('secrets/:secretId/value')
  @ApiRoute({ type: SecretDto, description: 'Rotates the value: the answer is the secret with `version` + 1.' })
  async rotate(
    @Req() req: FastifyRequest,
    @Param('secretId') secretId: string,
    @Body() body: SecretValueDto,
  ): Promise<SecretDto> {
    rememberSecretValue(body.value);
    return toSecretDto(await this.services.call(req, SecretsV1.rotateSecretValue, { secretId, value: body.value }));
  }

  @Delete('secrets/:secretId')
  @ApiRoute({ type: DeletedDto, description: 'Deleted. 409 conflict, listing them, while something uses it.' })
  async delete(@Req() req: FastifyRequest, @Param('secretId') secretId: string): Promise<DeletedDto> {
    const result = await this.services.call(req, SecretsV1.deleteSecret, { secretId });
    return { id: result.id, deleted: result.deleted };
  }
}
