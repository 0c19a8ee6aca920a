import { Body, Controller, Get, Param, Post, Query, Req } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsBoolean, IsOptional, IsString, MaxLength } from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { RuntimesV1 } from '@bctrl/contracts';
import { ApiRoute } from '../http/api-docs';
import { ServiceClient } from '../http/service-client';

export class StageFileDto {
  @ApiProperty({ description: 'A path in the space storage of the runtime’s space.', example: 'inputs/report.pdf' })
  @IsString()
  @MaxLength(1024)
  storagePath!: string;

  @ApiPropertyOptional({
    description: 'Where in the runtime’s work area, under `files/` (default `files/<storagePath>`).',
    example: 'files/upload/report.pdf',
  })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  runtimePath?: string;
}

export class StagedFileDto {
  @ApiProperty({
    description:
      "The file's absolute path inside the runtime: pass it to Playwright's `setInputFiles` (with a client on the runtime's machine) or CDP `DOM.setFileInputFiles`.",
  })
  runtimePath!: string;

  @ApiProperty({
    description: "The same file relative to the runtime's work area, as runtime file listings and the run show it.",
    example: 'files/inputs/report.pdf',
  })
  path!: string;

  @ApiProperty()
  size!: number;

  @ApiProperty()
  sha256!: string;
}

export class CollectFileDto {
  @ApiProperty({
    description: 'Under `files/` or `downloads/` of the work area, or an absolute `runtimePath` a stage returned.',
    example: 'downloads/report.pdf',
  })
  @IsString()
  @MaxLength(1024)
  runtimePath!: string;

  @ApiProperty({ example: 'collected/report.pdf' })
  @IsString()
  @MaxLength(1024)
  storagePath!: string;

  @ApiPropertyOptional({ default: false, description: 'Also keep the file as a `file` artifact of the run.' })
  @IsOptional()
  @IsBoolean()
  registerArtifact?: boolean;
}

export class CollectedFileDto {
  @ApiProperty()
  storagePath!: string;

  @ApiProperty()
  size!: number;

  @ApiProperty()
  sha256!: string;

  @ApiPropertyOptional({ description: 'Present when `registerArtifact` was asked for.' })
  artifactId?: string;
}

export class RuntimeFilesQueryDto {
  @ApiPropertyOptional({ description: '`files`, `downloads`, or a folder inside them; absent: both.' })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  dir?: string;
}

export class RuntimeFileDto {
  @ApiProperty({ example: 'downloads/report.pdf' })
  path!: string;

  @ApiProperty()
  size!: number;

  @ApiProperty({ format: 'date-time' })
  modifiedAt!: string;
}

export class RuntimeFileListDto {
  @ApiProperty({ type: [RuntimeFileDto] })
  data!: RuntimeFileDto[];

  @ApiProperty({ description: 'The listing stopped at its limit (10,000 files).' })
  truncated!: boolean;
}

@ApiTags('Runtime files')
@Controller('v1/runtimes/:runtimeId/files')
export class RuntimeFilesController {
  constructor(private readonly services: ServiceClient) {}

  @Post('stage')
  @ApiRoute({ type: StagedFileDto, description: 'Copies a space-storage file into the ready runtime’s work area.' })
  async stage(
    @Req() req: FastifyRequest,
    @Param('runtimeId') runtimeId: string,
    @Body() body: StageFileDto,
  ): Promise<StagedFileDto> {
    const staged = await this.services.call(req, RuntimesV1.stageFile, {
      runtimeId,
      storagePath: body.storagePath,
      runtimePath: body.runtimePath ?? '',
    });
    return { runtimePath: staged.runtimePath, path: staged.path, size: Number(staged.size), sha256: staged.sha256 };
  }

  @Post('collect')
  @ApiRoute({ type: CollectedFileDto, description: 'Copies a file of the runtime’s work area into space storage.' })
  async collect(
    @Req() req: FastifyRequest,
    @Param('runtimeId') runtimeId: string,
    @Body() body: CollectFileDto,
  ): Promise<CollectedFileDto> {
    const collected = await this.services.call(req, RuntimesV1.collectFile, {
      runtimeId,
      runtimePath: body.runtimePath,
      storagePath: body.storagePath,
      registerArtifact: body.registerArtifact ?? false,
    });
    return {
      storagePath: collected.storagePath,
      size: Number(collected.size),
      sha256: collected.sha256,
      ...(collected.artifactId ? { artifactId: collected.artifactId } : {}),
    };
  }

  @Get()
  @ApiRoute({ type: RuntimeFileListDto, description: 'Files in the runtime’s work area (`files/`, `downloads/`).' })
  async list(
    @Req() req: FastifyRequest,
    @Param('runtimeId') runtimeId: string,
    @Query() query: RuntimeFilesQueryDto,
  ): Promise<RuntimeFileListDto> {
    const listing = await this.services.call(req, RuntimesV1.listFiles, { runtimeId, dir: query.dir ?? '' });
    return {
      data: listing.data.map((file) => ({ path: file.path, size: Number(file.size), modifiedAt: file.modifiedAt })),
      truncated: listing.truncated,
    };
  }
}
