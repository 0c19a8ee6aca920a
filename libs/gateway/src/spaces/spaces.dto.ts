import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { NAME_MAX_LENGTH } from '@bctrl/core';
import { IsMetadata } from '../http/metadata.validator';

const METADATA_DOC = {
  type: 'object',
  additionalProperties: { type: 'string', maxLength: 500 },
  description: 'Up to 50 string values under keys of at most 40 characters. PATCH replaces the whole map.',
  example: { team: 'growth' },
} as const;

export class CreateSpaceDto {
  @ApiProperty({ minLength: 1, maxLength: NAME_MAX_LENGTH, example: 'checkout-tests' })
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  name!: string;

  @ApiPropertyOptional(METADATA_DOC)
  @IsOptional()
  @IsMetadata()
  metadata?: Record<string, string>;

  @ApiPropertyOptional({
    description:
      'For a key of the account itself: create the space under this subaccount. A subaccount key always creates in its own.',
  })
  @IsOptional()
  @IsString()
  @Matches(/^sub_[0-9A-Za-z]{24}$/, { message: 'subaccountId is not a subaccount id' })
  subaccountId?: string;
}

export class UpdateSpaceDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: NAME_MAX_LENGTH })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(NAME_MAX_LENGTH)
  name?: string;

  @ApiPropertyOptional(METADATA_DOC)
  @IsOptional()
  @IsMetadata()
  metadata?: Record<string, string>;
}

export class SpaceDto {
  @ApiProperty({ example: 'spc_4VxWq9Zb1Lr8Tt2Ke0Hm3NpQ' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty(METADATA_DOC) metadata!: Record<string, string>;
  @ApiProperty({ type: String, nullable: true }) subaccountId!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class SpaceListDto {
  @ApiProperty({ type: [SpaceDto] }) data!: SpaceDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor!: string | null;
}

export class DeleteSpaceQueryDto {
  @ApiPropertyOptional({
    description: "Stop the space's live runtimes first instead of answering 409.",
    enum: ['true', 'false'],
  })
  @IsOptional()
  @Matches(/^(true|false)$/, { message: 'force must be true or false' })
  force?: string;
}
