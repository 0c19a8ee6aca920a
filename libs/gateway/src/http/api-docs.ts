import { applyDecorators, HttpCode, HttpStatus, Type } from '@nestjs/common';
import { ApiBearerAuth, ApiExtraModels, ApiHeader, ApiResponse } from '@nestjs/swagger';
import { ErrorEnvelopeDto } from './public-shapes';

const ERROR_STATUSES = [400, 401, 403, 404, 409, 413, 503] as const;

/** One place that documents a route's success shape and the error envelope every route may answer. */
export function ApiRoute(options: {
  status?: number;
  type?: Type<unknown>;
  creates?: boolean;
  description?: string;
  /** Error statuses this route may answer besides those every route may (422 for a provider's refusal, say). */
  errors?: number[];
}) {
  const status = options.status ?? HttpStatus.OK;
  return applyDecorators(
    HttpCode(status),
    ApiBearerAuth(),
    ApiExtraModels(ErrorEnvelopeDto),
    ApiResponse({ status, type: options.type, description: options.description ?? 'Success.' }),
    ...[...ERROR_STATUSES, ...(options.errors ?? [])].map((code) =>
      ApiResponse({ status: code, type: ErrorEnvelopeDto, description: 'Error envelope.' }),
    ),
    ...(options.creates
      ? [
          ApiHeader({
            name: 'Idempotency-Key',
            required: false,
            description: 'A retry with the same key and body returns the first response and creates nothing new.',
          }),
        ]
      : []),
  );
}
