import { ArgumentMetadata, Injectable, PipeTransform, ValidationError, ValidationPipe } from '@nestjs/common';
import { BctrlError, ErrorDetail } from '@bctrl/core';

/**
 * The largest value an int32 field of the message contracts holds. Every integer a DTO passes on to a service is
 * bounded by it at the edge: a larger one would overflow while the request is encoded, a 500 instead of a 400.
 */
export const INT32_MAX = 2_147_483_647;

function flatten(errors: ValidationError[], parent = ''): ErrorDetail[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((issue) => ({
      field,
      issue: issue.replace(`${error.property} `, ''),
    }));
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

/**
 * DTOs are whitelists: an unknown field is a 400 naming it (a typo must not be silently ignored), and
 * every bad field is listed at once.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    forbidUnknownValues: true,
    stopAtFirstError: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => BctrlError.validation(flatten(errors)),
  });
}

/** class-transformer would happily turn `[]` or `"x"` into a DTO; a body must be a JSON object. */
@Injectable()
export class JsonObjectBodyPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata) {
    // No body at all is an empty object: optional-only bodies then work, and required fields are named one by one.
    if (metadata.type === 'body' && value === undefined) return {};
    if (metadata.type === 'body' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw BctrlError.validation([{ issue: 'the body must be a JSON object' }]);
    }
    return value;
  }
}
