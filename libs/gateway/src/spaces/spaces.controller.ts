import { Body, Controller, Delete, Get, Param, Patch, Post, Query, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { SpacesV1, spacesV1 } from '@bctrl/contracts';
import { ApiRoute } from '../http/api-docs';
import { listOf, ListQueryDto, pageOf } from '../http/list-query.dto';
import { DeletedDto, nullable } from '../http/public-shapes';
import { ServiceClient } from '../http/service-client';
import { CreateSpaceDto, DeleteSpaceQueryDto, SpaceDto, SpaceListDto, UpdateSpaceDto } from './spaces.dto';

export function toSpaceDto(space: spacesV1.Space): SpaceDto {
  return {
    id: space.id,
    name: space.name,
    metadata: { ...(space.metadata?.entries ?? {}) },
    subaccountId: nullable(space.subaccountId),
    createdAt: space.createdAt,
    updatedAt: space.updatedAt,
  };
}

@ApiTags('Spaces')
@Controller('v1/spaces')
export class SpacesController {
  constructor(private readonly services: ServiceClient) {}

  @Post()
  @ApiRoute({ status: 201, type: SpaceDto, creates: true })
  async create(@Req() req: FastifyRequest, @Body() body: CreateSpaceDto): Promise<SpaceDto> {
    const space = await this.services.call(req, SpacesV1.createSpace, {
      name: body.name,
      metadata: { entries: body.metadata ?? {} },
      subaccountId: body.subaccountId ?? '',
    });
    return toSpaceDto(space);
  }

  @Get()
  @ApiRoute({ type: SpaceListDto })
  async list(@Req() req: FastifyRequest, @Query() query: ListQueryDto): Promise<SpaceListDto> {
    const page = await this.services.call(req, SpacesV1.listSpaces, {
      page: pageOf(query),
    });
    return listOf(page, toSpaceDto);
  }

  @Get(':spaceId')
  @ApiRoute({ type: SpaceDto })
  async get(@Req() req: FastifyRequest, @Param('spaceId') spaceId: string): Promise<SpaceDto> {
    return toSpaceDto(await this.services.call(req, SpacesV1.getSpace, { spaceId }));
  }

  @Patch(':spaceId')
  @ApiRoute({ type: SpaceDto })
  async update(
    @Req() req: FastifyRequest,
    @Param('spaceId') spaceId: string,
    @Body() body: UpdateSpaceDto,
  ): Promise<SpaceDto> {
    const space = await this.services.call(req, SpacesV1.updateSpace, {
      spaceId,
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.metadata !== undefined ? { metadata: { entries: body.metadata } } : {}),
    });
    return toSpaceDto(space);
  }

  @Delete(':spaceId')
  @ApiRoute({ type: DeletedDto, description: 'Deleted. 409 invalid_state while a runtime is live, unless force=true.' })
  async delete(
    @Req() req: FastifyRequest,
    @Param('spaceId') spaceId: string,
    @Query() query: DeleteSpaceQueryDto,
  ): Promise<DeletedDto> {
    const result = await this.services.call(req, SpacesV1.deleteSpace, { spaceId, force: query.force === 'true' });
    return { id: result.id, deleted: result.deleted };
  }
}
