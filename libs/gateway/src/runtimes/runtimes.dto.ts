import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { RUNTIME_STATUSES, STOP_REASONS } from '@bctrl/contracts';
import { IsMetadata } from '../http/metadata.validator';
import { INT32_MAX } from '../http/validation';

export class ViewportDto {
  @ApiProperty({ minimum: 100, maximum: 7680, example: 1280 })
  @IsInt()
  @Min(100)
  @Max(7680)
  width!: number;

  @ApiProperty({ minimum: 100, maximum: 4320, example: 800 })
  @IsInt()
  @Min(100)
  @Max(4320)
  height!: number;
}

export class CreateRuntimeDto {
  @ApiPropertyOptional({ enum: ['browser'], default: 'browser' })
  @IsOptional()
  @IsIn(['browser'])
  type?: 'browser';

  @ApiPropertyOptional({
    minimum: 10,
    maximum: INT32_MAX,
    description: 'Stopped with stopReason `timeout` after this long (default from the operator, 900).',
  })
  @IsOptional()
  @IsInt()
  @Min(10)
  @Max(INT32_MAX)
  timeoutSeconds?: number;

  @ApiPropertyOptional({
    minimum: 10,
    maximum: INT32_MAX,
    description: 'Stopped with stopReason `idle` after this long with no open connection and no running invocation.',
  })
  @IsOptional()
  @IsInt()
  @Min(10)
  @Max(INT32_MAX)
  idleTimeoutSeconds?: number;

  @ApiPropertyOptional({ description: 'Start from this browser profile.' })
  @IsOptional()
  @Matches(/^prof_[0-9A-Za-z]{24}$/, { message: 'profileId is not a profile id' })
  profileId?: string;

  @ApiPropertyOptional({ description: "Save the browser's state back to the profile when the runtime stops." })
  @IsOptional()
  @IsBoolean()
  persistProfile?: boolean;

  @ApiPropertyOptional({ type: [String] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @Matches(/^ext_[0-9A-Za-z]{24}$/, { each: true, message: 'extensionIds must list extension ids' })
  extensionIds?: string[];

  @ApiPropertyOptional()
  @IsOptional()
  @Matches(/^prx_[0-9A-Za-z]{24}$/, { message: 'proxyId is not a proxy id' })
  proxyId?: string;

  @ApiPropertyOptional({ type: ViewportDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => ViewportDto)
  viewport?: ViewportDto;

  @ApiPropertyOptional({ maxLength: 512 })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  userAgent?: string;

  @ApiPropertyOptional({ example: 'en-US' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, { message: 'locale must be a BCP 47 tag like en-US' })
  locale?: string;

  @ApiPropertyOptional({ example: 'Europe/Paris' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  timezone?: string;

  @ApiPropertyOptional({ default: true, description: 'Record the run (a recording artifact).' })
  @IsOptional()
  @IsBoolean()
  recording?: boolean;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  @IsOptional()
  @IsMetadata()
  metadata?: Record<string, string>;
}

export class CreateRuntimeQueryDto {
  @ApiPropertyOptional({ enum: ['true', 'false'], description: 'Answer only once the runtime is ready (or failed).' })
  @IsOptional()
  @Matches(/^(true|false)$/, { message: 'wait must be true or false' })
  wait?: string;
}

export class ListRuntimesQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,512}$/, { message: 'cursor is not a cursor this API returned' })
  cursor?: string;

  @ApiPropertyOptional({ enum: RUNTIME_STATUSES })
  @IsOptional()
  @IsIn(RUNTIME_STATUSES as unknown as string[])
  status?: string;
}

export class RuntimeConfigDto {
  @ApiProperty({ enum: ['browser'] }) type!: string;
  @ApiProperty() timeoutSeconds!: number;
  @ApiProperty({ type: Number, nullable: true }) idleTimeoutSeconds!: number | null;
  @ApiProperty({ type: String, nullable: true }) profileId!: string | null;
  @ApiProperty() persistProfile!: boolean;
  @ApiProperty({ type: [String] }) extensionIds!: string[];
  @ApiProperty({ type: String, nullable: true }) proxyId!: string | null;
  @ApiProperty({ type: ViewportDto, nullable: true }) viewport!: ViewportDto | null;
  @ApiProperty({ type: String, nullable: true }) userAgent!: string | null;
  @ApiProperty({ type: String, nullable: true }) locale!: string | null;
  @ApiProperty({ type: String, nullable: true }) timezone!: string | null;
  @ApiProperty() recording!: boolean;
}

export class RuntimeDto {
  @ApiProperty({ example: 'rt_4VxWq9Zb1Lr8Tt2Ke0Hm3NpQ' }) id!: string;
  @ApiProperty() spaceId!: string;
  @ApiProperty({ enum: ['browser'] }) type!: string;
  @ApiProperty({ enum: RUNTIME_STATUSES }) status!: string;
  @ApiProperty({ type: String, nullable: true, description: 'The run this start opened, while the runtime is live.' })
  activeRunId!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) readyAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) stoppedAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) expiresAt!: string | null;
  @ApiProperty({ type: String, enum: STOP_REASONS, nullable: true }) stopReason!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Why the runtime failed, when it did.' }) failure!:
    | string
    | null;
  @ApiProperty({ type: RuntimeConfigDto }) config!: RuntimeConfigDto;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) metadata!: Record<string, string>;
}

export class RuntimeListDto {
  @ApiProperty({ type: [RuntimeDto] }) data!: RuntimeDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}
