import { Controller, Get, Inject, Param, Query, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiProperty, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ARTIFACT_KINDS, StorageV1, storageV1 } from '@bctrl/contracts';
import { ApiRoute } from '../http/api-docs';
import { listOf, ListQueryDto } from '../http/list-query.dto';
import { ServiceClient } from '../http/service-client';
import { sendBytes } from '../storage/send-bytes';
import { principalOf } from '../storage/storage.controller';
import { STORAGE_DATA_PLANE_PORT, type StorageDataPlane } from '../storage/storage-data-plane';

export class ArtifactDto {
  @ApiProperty({ example: 'art_3n5XAp0bLx3fQ0u0wW1kqJ8s' })
  id!: string;

  @ApiProperty()
  runId!: string;

  @ApiProperty()
  spaceId!: string;

  @ApiProperty({ enum: ARTIFACT_KINDS })
  kind!: string;

  @ApiProperty({ example: 'invoice.pdf' })
  name!: string;

  @ApiProperty({ example: 'application/pdf' })
  contentType!: string;

  @ApiProperty({ description: 'Bytes.' })
  size!: number;

  @ApiProperty({ description: 'Lowercase hex SHA-256 of the content.' })
  sha256!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
}

export class ArtifactListDto {
  @ApiProperty({ type: [ArtifactDto] })
  data!: ArtifactDto[];

  @ApiProperty({ nullable: true, type: String })
  nextCursor!: string | null;
}

function toDto(artifact: storageV1.Artifact): ArtifactDto {
  return {
    id: artifact.id,
    runId: artifact.runId,
    spaceId: artifact.spaceId,
    kind: artifact.kind,
    name: artifact.name,
    contentType: artifact.contentType,
    size: Number(artifact.size),
    sha256: artifact.sha256,
    createdAt: artifact.createdAt,
  };
}

/** Whether artifact content answers with a 302 to a presigned URL (S3 stores only) instead of streaming. */
export const ARTIFACT_CONTENT_REDIRECT = Symbol.for('bctrl.gateway.artifact-content-redirect');

@ApiTags('Artifacts')
@Controller('v1')
export class ArtifactsController {
  constructor(
    private readonly services: ServiceClient,
    @Inject(STORAGE_DATA_PLANE_PORT) private readonly dataPlane: StorageDataPlane,
    @Inject(ARTIFACT_CONTENT_REDIRECT) private readonly redirect: { value: boolean },
  ) {}

  @Get('runs/:runId/artifacts')
  @ApiRoute({ type: ArtifactListDto, description: "The run's artifacts, newest first." })
  async list(
    @Req() req: FastifyRequest,
    @Param('runId') runId: string,
    @Query() query: ListQueryDto,
  ): Promise<ArtifactListDto> {
    const page = await this.services.call(req, StorageV1.listArtifacts, {
      runId,
      limit: query.limit ?? 0,
      cursor: query.cursor ?? '',
    });
    return listOf(page, toDto);
  }

  @Get('artifacts/:artifactId')
  @ApiRoute({ type: ArtifactDto })
  async get(@Req() req: FastifyRequest, @Param('artifactId') artifactId: string): Promise<ArtifactDto> {
    return toDto(await this.services.call(req, StorageV1.getArtifact, { artifactId }));
  }

  @Get('artifacts/:artifactId/content')
  @ApiHeader({ name: 'Range', required: false, description: 'One byte range, as for space storage.' })
  @ApiRoute({
    description:
      'The bytes, streamed, with `Content-Disposition: attachment` and the ETag = sha256. `Range` is supported.',
  })
  @ApiResponse({ status: 206, description: 'The requested range, with `Content-Range`.' })
  @ApiResponse({
    status: 302,
    description:
      'When the operator enabled BCTRL_ARTIFACT_CONTENT_REDIRECT on an S3 store: `Location` is a presigned URL valid for a few minutes.',
  })
  @ApiResponse({ status: 416, description: 'The range starts past the end.' })
  async content(@Req() req: FastifyRequest, @Res() reply: FastifyReply, @Param('artifactId') artifactId: string) {
    if (this.redirect.value) {
      const signed = await this.services.call(req, StorageV1.presignArtifact, { artifactId });
      if (signed.url) return reply.header('cache-control', 'no-store').redirect(signed.url, 302);
    }
    const read = await this.dataPlane.readArtifact(principalOf(req), { artifactId, range: req.headers.range });
    return sendBytes(reply, read);
  }
}
