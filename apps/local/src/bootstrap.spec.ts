import { describeFailure } from './bootstrap';

describe('describeFailure', () => {
  it('never prints a bare `undefined`: a rejection without a value says so', () => {
    expect(describeFailure(undefined)).toBe('no reason given (it failed with undefined)');
    expect(describeFailure(null)).toBe('no reason given (it failed with null)');
  });

  it("prints an error's message with the causes it does not already quote", () => {
    const root = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    expect(describeFailure(new Error('migrations failed', { cause: root }))).toBe(
      'migrations failed\ncaused by: connect ECONNREFUSED 127.0.0.1:5432',
    );
    expect(describeFailure(new Error(`migrations failed: ${root.message}`, { cause: root }))).toBe(
      'migrations failed: connect ECONNREFUSED 127.0.0.1:5432',
    );
  });

  it('prints strings as they are and other values inspected', () => {
    expect(describeFailure('port taken')).toBe('port taken');
    expect(describeFailure({ code: 'EACCES' })).toBe("{ code: 'EACCES' }");
  });
});
