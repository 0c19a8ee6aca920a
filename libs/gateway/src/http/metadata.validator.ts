import { registerDecorator, ValidationArguments } from 'class-validator';
import { checkMetadata } from '@bctrl/core';

/** Metadata follows the one rule set in @bctrl/core, which the services also apply. */
export function IsMetadata(): PropertyDecorator {
  return (target, propertyName) => {
    registerDecorator({
      name: 'isMetadata',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (value: unknown) => checkMetadata(value).length === 0,
        defaultMessage: (args?: ValidationArguments) => {
          const first = checkMetadata(args?.value)[0];
          return first ? `${first.field ?? 'metadata'} ${first.issue}` : 'metadata is not valid';
        },
      },
    });
  };
}
