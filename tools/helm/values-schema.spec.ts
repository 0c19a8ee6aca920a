import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import {
  chartDir,
  compileValuesSchema,
  defaultValues,
  documentedParams,
  leafPaths,
  readChartFile,
  setPath,
} from './chart-files';

const validate = compileValuesSchema();

function errorsFor(change: (values: Record<string, unknown>) => void): string {
  const values = defaultValues();
  change(values);
  expect(validate(values)).toBe(false);
  return JSON.stringify(validate.errors);
}

describe('values.schema.json', () => {
  it('accepts the chart defaults', () => {
    const ok = validate(defaultValues());
    expect(validate.errors).toBeNull();
    expect(ok).toBe(true);
  });

  it('accepts the skaffold dev values merged over the defaults', () => {
    const values = defaultValues();
    const dev = YAML.parse(readFileSync(join(chartDir, '..', '..', 'deploy', 'skaffold', 'dev-values.yaml'), 'utf8'));
    for (const [key, value] of Object.entries(dev as Record<string, Record<string, unknown>>)) {
      values[key] = { ...(values[key] as Record<string, unknown>), ...value };
    }
    expect(validate(values)).toBe(true);
  });

  it.each([
    ['externalNats.url removed', 'externalNats.url', undefined, "must have required property 'url'"],
    ['externalNats.url empty', 'externalNats.url', '', 'must NOT have fewer than 1 characters'],
    ['externalNats.url with an http scheme', 'externalNats.url', 'http://nats:4222', 'must match pattern'],
    ['gateway.replicaCount as a string', 'gateway.replicaCount', '2', 'must be integer'],
    ['gateway.replicaCount zero', 'gateway.replicaCount', 0, 'must be >= 1'],
    ['spaces.replicaCount negative', 'spaces.replicaCount', -1, 'must be >= 0'],
    ['a typo in a component key', 'gatway', { replicaCount: 1 }, 'must NOT have additional properties'],
    ['a typo inside a component', 'cdpProxy.replicas', 3, 'must NOT have additional properties'],
    ['config.logLevel outside the enum', 'config.logLevel', 'verbose', 'must be equal to one of the allowed values'],
    ['config.healthPort out of range', 'config.healthPort', 70000, 'must be <= 65535'],
    ['externalDatabase.url with a mysql scheme', 'externalDatabase.url', 'mysql://db/bctrl', 'must match pattern'],
    ['externalRedis.url with an http scheme', 'externalRedis.url', 'http://redis:6379', 'must match pattern'],
    ['externalS3.forcePathStyle as a string', 'externalS3.forcePathStyle', 'true', 'must be boolean'],
    ['an image digest that is not sha256', 'gateway.image.digest', 'latest', 'must match pattern'],
    ['pods allowed to run as root', 'podSecurityContext.runAsNonRoot', false, 'must be equal to constant'],
    [
      'privilege escalation allowed',
      'containerSecurityContext.allowPrivilegeEscalation',
      true,
      'must be equal to constant',
    ],
    [
      'capabilities added back',
      'containerSecurityContext.capabilities.add',
      ['NET_ADMIN'],
      'must NOT have more than 0 items',
    ],
    ['a memory request that is not a quantity', 'storage.resources.requests.memory', 'lots', 'must match pattern'],
    ['a publicUrl without a scheme', 'config.publicUrl', 'bctrl.example.com', 'must match pattern'],
    ['ingress.enabled as a string', 'ingress.enabled', 'yes', 'must be boolean'],
  ])('rejects %s', (_name, path, value, message) => {
    expect(errorsFor((values) => setPath(values, path, value))).toContain(message);
  });
});

describe('values.yaml documentation', () => {
  const params = documentedParams();

  it('has a ## @param line for every value', () => {
    const undocumented = leafPaths(defaultValues()).filter((path) => !params.has(path));
    expect(undocumented).toEqual([]);
  });

  it('documents no value that does not exist', () => {
    const paths = new Set(leafPaths(defaultValues()));
    expect([...params.keys()].filter((param) => !paths.has(param))).toEqual([]);
  });

  it('lists every parameter in the README table', () => {
    const readme = readChartFile('README.md');
    expect([...params.keys()].filter((param) => !readme.includes(`| \`${param}\` |`))).toEqual([]);
  });
});
