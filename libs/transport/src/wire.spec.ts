import { create, toBinary } from '@bufbuild/protobuf';
import { ErrorSchema, PrincipalSchema } from '@bctrl/contracts';
import { BctrlError } from '@bctrl/core';
import { forgetSecretValues, rememberSecretValue } from '@bctrl/telemetry';
import { subjectMatches } from './subject-match';
import { decodeError, decodePrincipal, encodeError, encodePrincipal } from './wire';

function principalHeader(init: Parameters<typeof create<typeof PrincipalSchema>>[1]): string {
  return Buffer.from(toBinary(PrincipalSchema, create(PrincipalSchema, init))).toString('base64');
}

describe('wire encoding', () => {
  it('refuses a call without a principal or with an unreadable one as unauthenticated', () => {
    for (const header of [
      undefined,
      '',
      '!!not base64 protobuf!!',
      principalHeader({
        kind: 'key',
        role: 'owner',
        accountId: 'a',
        keyId: 'k',
      }),
    ]) {
      expect(() => decodePrincipal(header)).toThrow(expect.objectContaining({ code: 'unauthenticated' }));
    }
  });

  it('reads empty subaccount and space list as null', () => {
    const header = encodePrincipal({
      kind: 'key',
      accountId: 'a',
      subaccountId: null,
      spaceIds: null,
      role: 'viewer',
      keyId: 'k',
    });

    expect(decodePrincipal(header)).toEqual({
      kind: 'key',
      accountId: 'a',
      subaccountId: null,
      spaceIds: null,
      role: 'viewer',
      keyId: 'k',
    });
  });

  it('maps an error code it does not know to internal, keeping the message', () => {
    const error = decodeError(toBinary(ErrorSchema, create(ErrorSchema, { code: 'from_the_future', message: 'm' })));

    expect(error).toBeInstanceOf(BctrlError);
    expect(error).toMatchObject({ code: 'internal', message: 'm' });
  });

  it('matches subjects the way NATS does', () => {
    expect(subjectMatches('runs.r1.>', 'runs.r1.a')).toBe(true);
    expect(subjectMatches('runs.r1.>', 'runs.r1.a.b')).toBe(true);
    expect(subjectMatches('runs.r1.>', 'runs.r1')).toBe(false);
    expect(subjectMatches('runs.*.a', 'runs.r2.a')).toBe(true);
    expect(subjectMatches('runs.*.a', 'runs.r2.b')).toBe(false);
    expect(subjectMatches('runs.r1.a', 'runs.r1.a.b')).toBe(false);
  });

  it('masks the secret values its process has seen in an error before it crosses to another service', () => {
    rememberSecretValue('proxy-pass-canary-91');
    try {
      const raised = new BctrlError('unavailable', 'proxy refused user:proxy-pass-canary-91', [
        { field: 'server', issue: 'said proxy-pass-canary-91 is wrong' },
      ]);
      const received = decodeError(encodeError(raised));
      expect(received.code).toBe('unavailable');
      expect(JSON.stringify({ message: received.message, details: received.details })).not.toContain('canary-91');
      expect(received.message).toContain('[REDACTED]');
    } finally {
      forgetSecretValues();
    }
  });
});
