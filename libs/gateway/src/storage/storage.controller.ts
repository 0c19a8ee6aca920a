import { Controller, Delete, Get, Head, Inject, Param, Put, Query, Req, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiParam,
  ApiProperty,
  ApiPropertyOptional,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { StorageV1, storageV1 } from '@bctrl/contracts';
import { BctrlError, requireStoragePath, STORAGE_PATH_MAX_BYTES, STORAGE_SEGMENT_MAX_BYTES } from '@bctrl/core';
import { ApiRoute } from '../http/api-docs';
import { listOf, ListQueryDto } from '../http/list-query.dto';
import { ServiceClient } from '../http/service-client';
import { RAW_BODY, rawContentType } from './raw-body';
import { sendBytes } from './send-bytes';
import { STORAGE_DATA_PLANE_PORT, type StorageDataPlane } from './storage-data-plane';

export class SpaceObjectDto {
  @ApiProperty({ example: 'inputs/invoice.pdf' })
  path!: string;

  @ApiProperty({ description: 'Bytes.' })
  size!: number;

  @ApiProperty({ description: 'Lowercase hex SHA-256 of the stored bytes (also the ETag).' })
  sha256!: string;

  @ApiProperty({ example: 'application/pdf' })
  contentType!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;
}

export class SpaceObjectListDto {
  @ApiProperty({ type: [SpaceObjectDto] })
  data!: SpaceObjectDto[];

  @ApiProperty({ nullable: true, type: String })
  nextCursor!: string | null;
}

/** The usual page query (whose cursors are long enough to carry a path), and a prefix. */
export class ListObjectsQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ description: 'Only paths starting with this (e.g. `inputs/`).' })
  @IsOptional()
  @IsString()
  @MaxLength(STORAGE_PATH_MAX_BYTES)
  prefix?: string;
}

const PATH_PARAM = ApiParam({
  name: 'path',
  type: String,
  description: `Relative, \`/\`-separated (may contain \`/\`): no \`.\`/\`..\` or empty segments, no leading \`/\`, no backslash, NUL or control characters; at most ${STORAGE_PATH_MAX_BYTES} bytes, ${STORAGE_SEGMENT_MAX_BYTES} per segment (UTF-8).`,
});

function toDto(object: {
  path: string;
  size: number | bigint;
  sha256: string;
  contentType: string;
  updatedAt: string;
}) {
  return {
    path: object.path,
    size: Number(object.size),
    sha256: object.sha256,
    contentType: object.contentType,
    updatedAt: object.updatedAt,
  };
}

/** The `{path}` of a storage route: everything after `/storage/`, checked before a byte of the body is read. */
function pathOf(params: Record<string, string>): string {
  return requireStoragePath(params['*'] ?? '');
}

/**
 * Space storage (API.md): files of any size, streamed both ways. Metadata calls go to the storage service over NATS;
 * bytes go over the storage data plane.
 */
@ApiTags('Storage')
@Controller('v1/spaces/:spaceId/storage')
export class StorageController {
  constructor(
    private readonly services: ServiceClient,
    @Inject(STORAGE_DATA_PLANE_PORT) private readonly dataPlane: StorageDataPlane,
  ) {}

  @Get()
  @ApiRoute({ type: SpaceObjectListDto, description: 'Objects in path order; `prefix` narrows the list.' })
  async list(
    @Req() req: FastifyRequest,
    @Param('spaceId') spaceId: string,
    @Query() query: ListObjectsQueryDto,
  ): Promise<SpaceObjectListDto> {
    const page = await this.services.call(req, StorageV1.listObjects, {
      spaceId,
      prefix: query.prefix ?? '',
      limit: query.limit ?? 0,
      cursor: query.cursor ?? '',
    });
    return listOf(page, toDto);
  }

  @Put('*')
  @RouteConfig(RAW_BODY)
  @PATH_PARAM
  @ApiConsumes('application/octet-stream')
  @ApiBody({
    description:
      "The raw bytes, any media type (kept as the object's Content-Type). Streamed, never buffered; larger than BCTRL_STORAGE_MAX_OBJECT_BYTES is a 413, also for a chunked body.",
    schema: { type: 'string', format: 'binary' },
  })
  @ApiRoute({ type: SpaceObjectDto, description: 'Stored (created or replaced whole).' })
  async put(@Req() req: FastifyRequest, @Param('spaceId') spaceId: string, @Param() params: Record<string, string>) {
    const path = pathOf(params);
    const length = req.headers['content-length'];
    const contentLength = length !== undefined && /^\d{1,16}$/.test(length) ? Number(length) : null;
    const stored = await this.dataPlane.putObject(principalOf(req), {
      spaceId,
      path,
      contentType: rawContentType(req),
      contentLength,
      body: req.raw,
    });
    return toDto(stored);
  }

  // Declared before GET: Fastify would otherwise add its own HEAD for the GET route (which would open the stream)
  // and then refuse this one.
  @Head('*')
  @PATH_PARAM
  @ApiRoute({ description: 'The headers a GET would answer with (size, type, ETag), no body.' })
  async head(
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
    @Param('spaceId') spaceId: string,
    @Param() params: Record<string, string>,
  ) {
    const path = pathOf(params);
    const read = await this.dataPlane.readObject(principalOf(req), { spaceId, path, head: true });
    return sendBytes(reply, read);
  }

  @Get('*')
  @PATH_PARAM
  @ApiHeader({
    name: 'Range',
    required: false,
    description: 'One byte range, `bytes=start-end`, `bytes=start-` or `bytes=-suffix`.',
  })
  @ApiRoute({ description: 'The bytes (`Content-Type` as uploaded, `ETag` is the sha256).' })
  @ApiResponse({ status: 206, description: 'The requested range, with `Content-Range`.' })
  @ApiResponse({ status: 416, description: 'The range starts past the end (`Content-Range: bytes */<size>`).' })
  async get(
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
    @Param('spaceId') spaceId: string,
    @Param() params: Record<string, string>,
  ) {
    const path = pathOf(params);
    const read = await this.dataPlane.readObject(principalOf(req), { spaceId, path, range: req.headers.range });
    return sendBytes(reply, read);
  }

  @Delete('*')
  @PATH_PARAM
  @ApiRoute({ status: 204, description: 'Deleted.' })
  async delete(@Req() req: FastifyRequest, @Param('spaceId') spaceId: string, @Param() params: Record<string, string>) {
    const path = pathOf(params);
    await this.services.call(req, StorageV1.deleteObject, { spaceId, path });
  }
}

export function principalOf(req: FastifyRequest) {
  const principal = req.bctrl.principal;
  if (!principal) throw new BctrlError('unauthenticated', 'The API key is missing.');
  return principal;
}

export type SpaceObjectMessage = storageV1.SpaceObject;
