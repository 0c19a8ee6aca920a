import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** Empty strings on the wire mean "not set"; the public API says null. */
export function nullable(value: string): string | null {
  return value === '' ? null : value;
}

export class ErrorDetailDto {
  @ApiPropertyOptional({ example: 'name' }) field?: string;
  @ApiProperty({ example: 'must not be empty' }) issue!: string;
}

export class ErrorBodyDto {
  @ApiProperty({
    enum: [
      'validation_failed',
      'unauthenticated',
      'forbidden',
      'not_found',
      'conflict',
      'invalid_state',
      'payload_too_large',
      'range_not_satisfiable',
      'unsupported_media_type',
      'ai_connection_failed',
      'budget_exceeded',
      'rate_limited',
      'unavailable',
      'internal',
    ],
  })
  code!: string;
  @ApiProperty() message!: string;
  @ApiProperty({ type: [ErrorDetailDto] }) details!: ErrorDetailDto[];
  @ApiProperty({ description: 'Also the OpenTelemetry trace id and the x-request-id header.' }) requestId!: string;
}

export class ErrorEnvelopeDto {
  @ApiProperty({ type: ErrorBodyDto }) error!: ErrorBodyDto;
}

export class DeletedDto {
  @ApiProperty() id!: string;
  @ApiProperty({ example: true }) deleted!: boolean;
}
