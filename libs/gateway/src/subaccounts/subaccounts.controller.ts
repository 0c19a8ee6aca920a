import { Body, Controller, Delete, Get, Param, Patch, Post, Query, Req } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { SpacesV1, spacesV1 } from '@bctrl/contracts';
import { NAME_MAX_LENGTH } from '@bctrl/core';
import { ApiRoute } from '../http/api-docs';
import { listOf, ListQueryDto, pageOf } from '../http/list-query.dto';
import { DeletedDto } from '../http/public-shapes';
import { ServiceClient } from '../http/service-client';

export class CreateSubaccountDto {
  @ApiProperty({ minLength: 1, maxLength: NAME_MAX_LENGTH, example: 'customer-acme' })
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  name!: string;
}

export class UpdateSubaccountDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: NAME_MAX_LENGTH })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  name?: string;
}

export class SubaccountDto {
  @ApiProperty({ example: 'sub_0aBcDeFgHiJkLmNoPqRsTuVw' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class SubaccountListDto {
  @ApiProperty({ type: [SubaccountDto] }) data!: SubaccountDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}

function toSubaccountDto(subaccount: spacesV1.Subaccount): SubaccountDto {
  return { id: subaccount.id, name: subaccount.name, createdAt: subaccount.createdAt, updatedAt: subaccount.updatedAt };
}

/** Admin keys of the account manage subaccounts; a subaccount's own admin key sees only itself. */
@ApiTags('Admin')
@Controller('v1/subaccounts')
export class SubaccountsController {
  constructor(private readonly services: ServiceClient) {}

  @Post()
  @ApiRoute({ status: 201, type: SubaccountDto, creates: true })
  async create(@Req() req: FastifyRequest, @Body() body: CreateSubaccountDto): Promise<SubaccountDto> {
    return toSubaccountDto(await this.services.call(req, SpacesV1.createSubaccount, { name: body.name }));
  }

  @Get()
  @ApiRoute({ type: SubaccountListDto })
  async list(@Req() req: FastifyRequest, @Query() query: ListQueryDto): Promise<SubaccountListDto> {
    const page = await this.services.call(req, SpacesV1.listSubaccounts, {
      page: pageOf(query),
    });
    return listOf(page, toSubaccountDto);
  }

  @Get(':subaccountId')
  @ApiRoute({ type: SubaccountDto })
  async get(@Req() req: FastifyRequest, @Param('subaccountId') subaccountId: string): Promise<SubaccountDto> {
    return toSubaccountDto(await this.services.call(req, SpacesV1.getSubaccount, { subaccountId }));
  }

  @Patch(':subaccountId')
  @ApiRoute({ type: SubaccountDto })
  async update(
    @Req() req: FastifyRequest,
    @Param('subaccountId') subaccountId: string,
    @Body() body: UpdateSubaccountDto,
  ): Promise<SubaccountDto> {
    return toSubaccountDto(
      await this.services.call(req, SpacesV1.updateSubaccount, {
        subaccountId,
        ...(body.name !== undefined ? { name: body.name } : {}),
      }),
    );
  }

  @Delete(':subaccountId')
  @ApiRoute({
    type: DeletedDto,
    description: 'Deleted with its API keys. 409 invalid_state while it still owns spaces.',
  })
  async delete(@Req() req: FastifyRequest, @Param('subaccountId') subaccountId: string): Promise<DeletedDto> {
    const result = await this.services.call(req, SpacesV1.deleteSubaccount, { subaccountId });
    return { id: result.id, deleted: result.deleted };
  }
}
