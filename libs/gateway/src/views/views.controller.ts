import { Body, Controller, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { ConnectionsV1, type connectionsV1 } from '@bctrl/contracts';
import { PUBLIC_URL } from '../connections/cdp-route';
import { ApiRoute } from '../http/api-docs';
import { ServiceClient } from '../http/service-client';
import { INT32_MAX } from '../http/validation';

export class CreateRecordingViewDto {
  @ApiPropertyOptional({
    minimum: 10,
    maximum: INT32_MAX,
    description: "The link's lifetime (default 900 s, at most the connection maximum).",
  })
  @IsOptional()
  @IsInt()
  @Min(10)
  @Max(INT32_MAX)
  ttlSeconds?: number;
}

/** A live-view link takes what a recording-view link does, and whether the viewer may drive. */
export class CreateLiveViewDto extends CreateRecordingViewDto {
  @ApiPropertyOptional({
    default: false,
    description: "Pass the viewer's mouse, wheel and keyboard through to the browser (otherwise view only).",
  })
  @IsOptional()
  @IsBoolean()
  interactive?: boolean;
}

export class ViewLinkDto {
  @ApiProperty({ description: 'The page; its token is the only credential it needs. Share it like a password.' })
  url!: string;

  @ApiProperty({ format: 'date-time' })
  expiresAt!: string;
}

export class LiveViewLinkDto extends ViewLinkDto {
  @ApiProperty()
  interactive!: boolean;
}

export const LIVE_VIEW_PAGE_PREFIX = '/v1/live/';
export const RECORDING_VIEW_PAGE_PREFIX = '/v1/recording-view/';

function link(publicUrl: string, prefix: string, lease: connectionsV1.ViewLease): ViewLinkDto {
  return { url: `${publicUrl.replace(/\/+$/, '')}${prefix}${lease.token}`, expiresAt: lease.expiresAt };
}

@ApiTags('Runs')
@Controller('v1')
export class ViewsController {
  constructor(
    private readonly services: ServiceClient,
    @Inject(PUBLIC_URL) private readonly publicUrl: { value: string },
  ) {}

  @Post('runs/:runId/live-view')
  @ApiRoute({
    status: 201,
    type: LiveViewLinkDto,
    creates: true,
    description:
      "A link to a page showing the run's browser live (its tabs, screencast frames while pages change). The run must be its runtime's active run; the link stops working when it expires or the runtime stops. The link is a credential shown once, in this answer; creating one takes a member or admin key (a viewer key gets 403).",
  })
  async live(
    @Req() req: FastifyRequest,
    @Param('runId') runId: string,
    @Body() body: CreateLiveViewDto,
  ): Promise<LiveViewLinkDto> {
    const lease = await this.services.call(req, ConnectionsV1.createLiveView, {
      runId,
      interactive: body.interactive ?? false,
      ttlSeconds: body.ttlSeconds ?? 0,
    });
    return { ...link(this.publicUrl.value, LIVE_VIEW_PAGE_PREFIX, lease), interactive: lease.interactive };
  }

  @Post('runs/:runId/recording-view')
  @ApiRoute({
    status: 201,
    type: ViewLinkDto,
    creates: true,
    description:
      "A link to a page that replays the run's recording, with a timeline. Whoever holds the link watches the run without a key, so it is a credential shown once, in this answer, and creating one takes a member or admin key (a viewer key gets 403).",
  })
  async recording(
    @Req() req: FastifyRequest,
    @Param('runId') runId: string,
    @Body() body: CreateRecordingViewDto,
  ): Promise<ViewLinkDto> {
    const lease = await this.services.call(req, ConnectionsV1.createRecordingView, {
      runId,
      ttlSeconds: body.ttlSeconds ?? 0,
    });
    return link(this.publicUrl.value, RECORDING_VIEW_PAGE_PREFIX, lease);
  }
}
