import { Body, Controller, Delete, Get, Param, Patch, Post, Query, Req } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { AI_PROVIDERS, AiConnectionsV1, aiConnectionsV1 } from '@bctrl/contracts';
import { NAME_MAX_LENGTH } from '@bctrl/core';
import { ApiRoute } from '../http/api-docs';
import { listOf, ListQueryDto, pageOf } from '../http/list-query.dto';
import { DeletedDto, nullable } from '../http/public-shapes';
import { ServiceClient } from '../http/service-client';

const URL_MAX_LENGTH = 2048;

export class CreateAiConnectionDto {
  @ApiProperty({ minLength: 1, maxLength: NAME_MAX_LENGTH, example: 'default-model' })
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  name!: string;

  @ApiProperty({ enum: AI_PROVIDERS })
  @IsIn(AI_PROVIDERS)
  provider!: string;

  @ApiProperty({ minLength: 1, maxLength: NAME_MAX_LENGTH, example: 'gpt-4o-mini' })
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  model!: string;

  @ApiPropertyOptional({
    maxLength: URL_MAX_LENGTH,
    description: 'Required for openai-compatible; absent: the provider’s own endpoint.',
    example: 'https://llm.internal/v1',
  })
  @IsOptional()
  @IsString()
  @MaxLength(URL_MAX_LENGTH)
  baseUrl?: string;

  @ApiProperty({
    description: 'A secret of the same space holding the API key.',
    example: 'sec_0aBcDeFgHiJkLmNoPqRsTuVw',
  })
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  apiKeySecretId!: string;
}

export class UpdateAiConnectionDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: NAME_MAX_LENGTH })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  name?: string;

  @ApiPropertyOptional({ enum: AI_PROVIDERS })
  @IsOptional()
  @IsIn(AI_PROVIDERS)
  provider?: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: NAME_MAX_LENGTH })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  model?: string;

  @ApiPropertyOptional({ maxLength: URL_MAX_LENGTH, description: 'Empty string: back to the provider’s own endpoint.' })
  @IsOptional()
  @IsString()
  @MaxLength(URL_MAX_LENGTH)
  baseUrl?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  apiKeySecretId?: string;
}

export class AiConnectionDto {
  @ApiProperty({ example: 'aic_0aBcDeFgHiJkLmNoPqRsTuVw' }) id!: string;
  @ApiProperty() spaceId!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: AI_PROVIDERS }) provider!: string;
  @ApiProperty() model!: string;
  @ApiProperty({ type: String, nullable: true }) baseUrl!: string | null;
  @ApiProperty() apiKeySecretId!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class AiConnectionListDto {
  @ApiProperty({ type: [AiConnectionDto] }) data!: AiConnectionDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}

export class AiConnectionTestDto {
  @ApiProperty() ok!: boolean;
  @ApiProperty({ description: 'The model that answered, as the provider names it.' }) model!: string;
  @ApiProperty() latencyMs!: number;
}

function toAiConnectionDto(connection: aiConnectionsV1.AiConnection): AiConnectionDto {
  return {
    id: connection.id,
    spaceId: connection.spaceId,
    name: connection.name,
    provider: connection.provider,
    model: connection.model,
    baseUrl: nullable(connection.baseUrl),
    apiKeySecretId: connection.apiKeySecretId,
    createdAt: connection.createdAt,
    updatedAt: connection.updatedAt,
  };
}

/** Model providers for hosted invocations; the API key stays in the vault and is named by its secret's id. */
@ApiTags('Configuration')
@Controller('v1')
export class AiConnectionsController {
  constructor(private readonly services: ServiceClient) {}

  @Post('spaces/:spaceId/ai-connections')
  @ApiRoute({ status: 201, type: AiConnectionDto, creates: true })
  async create(
    @Req() req: FastifyRequest,
    @Param('spaceId') spaceId: string,
    @Body() body: CreateAiConnectionDto,
  ): Promise<AiConnectionDto> {
    const connection = await this.services.call(req, AiConnectionsV1.createAiConnection, {
      spaceId,
      name: body.name,
      provider: body.provider,
      model: body.model,
      baseUrl: body.baseUrl ?? '',
      apiKeySecretId: body.apiKeySecretId,
    });
    return toAiConnectionDto(connection);
  }

  @Get('spaces/:spaceId/ai-connections')
  @ApiRoute({ type: AiConnectionListDto })
  async list(
    @Req() req: FastifyRequest,
    @Param('spaceId') spaceId: string,
    @Query() query: ListQueryDto,
  ): Promise<AiConnectionListDto> {
    const page = await this.services.call(req, AiConnectionsV1.listAiConnections, {
      spaceId,
      page: pageOf(query),
    });
    return listOf(page, toAiConnectionDto);
  }

  @Get('ai-connections/:aiConnectionId')
  @ApiRoute({ type: AiConnectionDto })
  async get(@Req() req: FastifyRequest, @Param('aiConnectionId') aiConnectionId: string): Promise<AiConnectionDto> {
    return toAiConnectionDto(await this.services.call(req, AiConnectionsV1.getAiConnection, { aiConnectionId }));
  }

  @Patch('ai-connections/:aiConnectionId')
  @ApiRoute({ type: AiConnectionDto })
  async update(
    @Req() req: FastifyRequest,
    @Param('aiConnectionId') aiConnectionId: string,
    @Body() body: UpdateAiConnectionDto,
  ): Promise<AiConnectionDto> {
    const connection = await this.services.call(req, AiConnectionsV1.updateAiConnection, {
      aiConnectionId,
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.provider !== undefined ? { provider: body.provider } : {}),
      ...(body.model !== undefined ? { model: body.model } : {}),
      ...(body.baseUrl !== undefined ? { baseUrl: body.baseUrl } : {}),
      ...(body.apiKeySecretId !== undefined ? { apiKeySecretId: body.apiKeySecretId } : {}),
    });
    return toAiConnectionDto(connection);
  }

  @Delete('ai-connections/:aiConnectionId')
  @ApiRoute({ type: DeletedDto })
  async delete(@Req() req: FastifyRequest, @Param('aiConnectionId') aiConnectionId: string): Promise<DeletedDto> {
    const result = await this.services.call(req, AiConnectionsV1.deleteAiConnection, { aiConnectionId });
    return { id: result.id, deleted: result.deleted };
  }

  @Post('ai-connections/:aiConnectionId/test')
  @ApiRoute({
    type: AiConnectionTestDto,
    errors: [422],
    description:
      'One tiny call to the model with the connection’s key. 422 ai_connection_failed with the provider’s status and message when it refuses or cannot be reached.',
  })
  async test(
    @Req() req: FastifyRequest,
    @Param('aiConnectionId') aiConnectionId: string,
  ): Promise<AiConnectionTestDto> {
    // A model call takes seconds; the service bounds it at 10 s.
    const result = await this.services.call(
      req,
      AiConnectionsV1.testAiConnection,
      { aiConnectionId },
      { timeoutMs: 15_000 },
    );
    return { ok: result.ok, model: result.model, latencyMs: Number(result.latencyMs) };
  }
}
