import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import YAML from 'yaml';
import { findHelm, repoRoot, runHelm } from './chart-files';

// Rendered objects are checked against the Kubernetes schemas by kubernetes-models at run time; the assertions
// below then walk them freely, which a static type per kind would only make longer.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
  };
  [key: string]: Loose;
};

// Every kind the chart may render, with the model that validates it; a kind missing here fails the test, so a new
// template cannot slip through unvalidated.
const models: Record<string, new (data: Loose) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

const SERVICES = [
  'gateway',
  'spaces',
  'runtime-orchestrator',
  'cdp-proxy',
  'invocation-worker',
  'runs-recorder',
  'storage',
];
const chart = 'helm/bctrl';

const helmOrUndefined = findHelm();
function helm(): string {
  if (!helmOrUndefined) {
    throw new Error(
      'No helm binary: these tests render the chart with the real helm CLI. Run `tools/helm/install-helm.sh` ' +
        '(builds it into ~/.cache/bctrl/bin from the Go module proxy), put helm on PATH, or set HELM_BIN.',
    );
  }
  return helmOrUndefined;
}

function template(args: string[] = []): Manifest[] {
  const result = runHelm(helm(), ['template', 'bctrl', chart, '--namespace', 'bctrl', ...args]);
  if (!result.ok) throw new Error(`helm template ${args.join(' ')} failed:\n${result.stderr}`);
  return YAML.parseAllDocuments(result.stdout)
    .map((doc) => doc.toJSON() as Manifest | null)
    .filter((doc): doc is Manifest => doc !== null);
}

function templateError(args: string[]): string {
  const result = runHelm(helm(), ['template', 'bctrl', chart, '--namespace', 'bctrl', ...args]);
  expect(result.ok).toBe(false);
  return result.stderr;
}

const find = (manifests: Manifest[], kind: string, name: string) => {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found)
    throw new Error(`no ${kind} ${name} among ${manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')}`);
  return found;
};
const deployments = (manifests: Manifest[]) => manifests.filter((m) => m.kind === 'Deployment');
const component = (m: Manifest) => m.metadata.labels?.['app.kubernetes.io/component'];

const valueSets: Record<string, string[]> = {
  defaults: [],
  'ingress with TLS': [
    '--set',
    'ingress.enabled=true',
    '--set',
    'ingress.className=nginx',
    '--set',
    'ingress.tls.enabled=true',
    '--set',
    'ingress.tls.secretName=bctrl-tls',
    '--set',
    'ingress.hosts[0]=bctrl.example.com',
  ],
  'existing secret': [
    '--set',
    'secrets.existingSecret=bctrl-credentials',
    '--set',
    'externalDatabase.url=',
    '--set',
    'externalRedis.url=',
  ],
  'browsers in their own namespace': ['--set', 'browserRuntime.namespace=bctrl-browsers'],
  'skaffold dev values': ['-f', join(repoRoot, 'deploy', 'skaffold', 'dev-values.yaml')],
  'pinned digests and a private registry': [
    '--set',
    'global.imageRegistry=registry.internal:5000',
    '--set',
    `gateway.image.digest=sha256:${'a'.repeat(64)}`,
    '--set',
    'global.imagePullSecrets[0]=regcred',
    '--set',
    'commonAnnotations.team=browsers',
  ],
};

describe('helm chart helm/bctrl (rendered with the helm CLI)', () => {
  it('has a helm binary to render with', () => {
    expect(() => helm()).not.toThrow();
  });

  it('passes helm lint --strict', () => {
    const result = runHelm(helm(), ['lint', '--strict', chart]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('0 chart(s) failed');
  });

  describe.each(Object.entries(valueSets))('with %s', (_name, args) => {
    const manifests = () => template(args);

    it('renders only valid Kubernetes objects', () => {
      const rendered = manifests();
      expect(rendered.length).toBeGreaterThan(0);
      for (const manifest of rendered) {
        const Model = models[`${manifest.apiVersion}/${manifest.kind}`];
        if (!Model) throw new Error(`no model for ${manifest.apiVersion} ${manifest.kind} (${manifest.metadata.name})`);
        expect(() => new Model(manifest).validate()).not.toThrow();
      }
    });

    it('renders one Deployment per long-running service and none for browser-runtime', () => {
      expect(deployments(manifests()).map(component).sort()).toEqual([...SERVICES].sort());
    });

    it('runs every pod non-root, RuntimeDefault seccomp, no capabilities, read-only root, with requests and limits', () => {
      for (const deployment of deployments(manifests())) {
        const pod = deployment.spec.template.spec;
        expect(pod.securityContext).toMatchObject({
          runAsNonRoot: true,
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
        for (const container of pod.containers) {
          expect(container.securityContext).toMatchObject({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          });
          expect(container.securityContext.capabilities.add).toBeUndefined();
          expect(container.resources.requests).toEqual(
            expect.objectContaining({
              cpu: expect.anything(),
              memory: expect.anything(),
            }),
          );
          expect(container.resources.limits).toEqual(
            expect.objectContaining({
              cpu: expect.anything(),
              memory: expect.anything(),
            }),
          );
          expect(container.livenessProbe.httpGet.path).toBe('/healthz');
          expect(container.readinessProbe.httpGet.path).toBe('/readyz');
        }
      }
    });

    it('gives a service-account token to the runtime-orchestrator only', () => {
      const rendered = manifests();
      const accounts = new Map(rendered.filter((m) => m.kind === 'ServiceAccount').map((m) => [m.metadata.name, m]));
      for (const deployment of deployments(rendered)) {
        const pod = deployment.spec.template.spec;
        const account = accounts.get(pod.serviceAccountName);
        expect(account).toBeDefined();
        const expected = component(deployment) === 'runtime-orchestrator';
        expect(pod.automountServiceAccountToken).toBe(expected);
        expect(account?.automountServiceAccountToken).toBe(expected);
      }
      const browserAccount = rendered.find((m) => m.kind === 'ServiceAccount' && component(m) === 'browser-runtime');
      expect(browserAccount?.automountServiceAccountToken).toBe(false);
    });

    it('lets the orchestrator manage pods, and only pods, in the runtime namespace', () => {
      const rendered = manifests();
      const orchestrator = find(rendered, 'Deployment', 'bctrl-runtime-orchestrator');
      const env = Object.fromEntries(
        orchestrator.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [
          e.name,
          e.value,
        ]),
      );
      const role = rendered.find((m) => m.kind === 'Role');
      const binding = rendered.find((m) => m.kind === 'RoleBinding');
      expect(role?.metadata.namespace).toBe(env.BCTRL_RUNTIME_NAMESPACE);
      expect(role?.rules).toEqual([
        {
          apiGroups: [''],
          resources: ['pods'],
          verbs: ['create', 'get', 'list', 'watch', 'patch', 'delete'],
        },
        { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'get', 'delete'] },
      ]);
      expect(binding?.metadata.namespace).toBe(env.BCTRL_RUNTIME_NAMESPACE);
      expect(binding?.roleRef).toMatchObject({
        kind: 'Role',
        name: role?.metadata.name,
      });
      expect(binding?.subjects).toEqual([
        {
          kind: 'ServiceAccount',
          name: orchestrator.spec.template.spec.serviceAccountName,
          namespace: 'bctrl',
        },
      ]);
      expect(rendered.some((m) => m.kind === 'ClusterRole' || m.kind === 'ClusterRoleBinding')).toBe(false);
    });

    it('isolates browser pods: ingress only from cdp-proxy and the orchestrator, no egress to private ranges', () => {
      const rendered = manifests();
      const policy = rendered.find(
        (m) =>
          m.kind === 'NetworkPolicy' &&
          m.spec.podSelector.matchLabels?.['app.kubernetes.io/component'] === 'browser-runtime',
      );
      expect(policy).toBeDefined();
      const role = rendered.find((m) => m.kind === 'Role');
      expect(policy?.metadata.namespace).toBe(role?.metadata.namespace);
      expect(policy?.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(policy?.spec.ingress).toHaveLength(1);
      const [peer, ...otherPeers] = policy?.spec.ingress[0].from ?? [];
      expect(otherPeers).toEqual([]);
      expect(peer.namespaceSelector.matchLabels).toEqual({
        'kubernetes.io/metadata.name': 'bctrl',
      });
      const allowed = peer.podSelector.matchExpressions.find(
        (e: { key: string }) => e.key === 'app.kubernetes.io/component',
      );
      expect(allowed.values.sort()).toEqual(['cdp-proxy', 'runtime-orchestrator']);
      // The labels the policy admits must be the ones cdp-proxy and the orchestrator pods really carry.
      for (const name of allowed.values) {
        const pod = find(rendered, 'Deployment', `bctrl-${name}`).spec.template.metadata.labels;
        for (const expression of peer.podSelector.matchExpressions)
          expect(expression.values).toContain(pod[expression.key]);
      }
      const blocks = policy?.spec.egress.flatMap((rule: Loose) => rule.to ?? []).filter((to: Loose) => to.ipBlock);
      expect(blocks).toEqual([
        {
          ipBlock: {
            cidr: '0.0.0.0/0',
            except: expect.arrayContaining(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16']),
          },
        },
      ]);
    });

    it('annotates every Deployment with the same config checksum and loads config from the ConfigMap and Secret', () => {
      const rendered = manifests();
      const checksums = new Set(
        deployments(rendered).map((d) => d.spec.template.metadata.annotations['checksum/config']),
      );
      expect(checksums.size).toBe(1);
      expect([...checksums][0]).toMatch(/^[a-f0-9]{64}$/);
      const configMap = rendered.find((m) => m.kind === 'ConfigMap');
      for (const deployment of deployments(rendered)) {
        const envFrom = deployment.spec.template.spec.containers[0].envFrom;
        expect(envFrom).toEqual([{ configMapRef: { name: configMap?.metadata.name } }]);
      }
      expect(configMap?.data).toMatchObject({
        BCTRL_MODE: 'distributed',
        BCTRL_OBJECT_STORE: 's3',
      });
    });
  });

  it('changes the checksum when a config value or a secret value changes, and only then', () => {
    // A fixed vault key: without one, each render (without a cluster to look the stored one up in) makes a new one.
    const vaultKey = `fixed:${Buffer.alloc(32, 7).toString('base64')}`;
    const checksum = (args: string[]) =>
      find(template(['--set', `secrets.vaultKeys=${vaultKey}`, ...args]), 'Deployment', 'bctrl-spaces').spec.template
        .metadata.annotations['checksum/config'];
    const base = checksum([]);
    expect(checksum([])).toBe(base);
    expect(checksum(['--set', 'config.logLevel=debug'])).not.toBe(base);
    expect(checksum(['--set', 'externalRedis.url=redis://other:6379'])).not.toBe(base);
    expect(checksum(['--set', `secrets.vaultKeys=other:${Buffer.alloc(32, 8).toString('base64')}`])).not.toBe(base);
    expect(checksum(['--set', 'gateway.replicaCount=5'])).toBe(base);
  });

  it('generates a vault key when none is given: one 32-byte key, in the Secret only, the same one every pod sees', () => {
    const rendered = template(valueSets['defaults']);
    const secret = find(rendered, 'Secret', 'bctrl-secrets').data as Record<string, string>;
    const keys = Buffer.from(secret['BCTRL_VAULT_KEYS'] as string, 'base64').toString('utf8');
    expect(keys).toMatch(/^chart-\d{8}:[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(keys.split(':')[1] as string, 'base64')).toHaveLength(32);
    // Every Deployment's checksum covers that one key (it is made once per render).
    const checksums = new Set(
      deployments(rendered).map((d) => d.spec.template.metadata.annotations['checksum/config'] as string),
    );
    expect(checksums.size).toBe(1);
    expect(JSON.stringify(find(rendered, 'ConfigMap', 'bctrl-config'))).not.toContain(keys.split(':')[1]);
  });

  it('routes /v1/cdp and /v1/webdriver to cdp-proxy and everything else to the gateway', () => {
    const rendered = template(valueSets['ingress with TLS']);
    const ingress = find(rendered, 'Ingress', 'bctrl');
    const paths = ingress.spec.rules[0].http.paths;
    const backend = (path: string) => paths.find((p: { path: string }) => p.path === path)?.backend.service;
    for (const path of ['/v1/cdp', '/v1/webdriver'])
      expect(backend(path)).toEqual({
        name: 'bctrl-cdp-proxy',
        port: { name: 'http' },
      });
    expect(backend('/')).toEqual({
      name: 'bctrl-gateway',
      port: { name: 'http' },
    });
    expect(paths.every((p: { pathType: string }) => p.pathType === 'Prefix')).toBe(true);
    for (const service of ['bctrl-cdp-proxy', 'bctrl-gateway'])
      expect(find(rendered, 'Service', service).spec.ports[0].name).toBe('http');
    expect(ingress.spec.tls).toEqual([{ hosts: ['bctrl.example.com'], secretName: 'bctrl-tls' }]);
    expect(find(rendered, 'ConfigMap', 'bctrl-config').data.BCTRL_PUBLIC_URL).toBe('https://bctrl.example.com');
  });

  it("streams storage bytes between the gateway and storage's own port, beside its health port", () => {
    const rendered = template([]);
    const storage = find(rendered, 'Deployment', 'bctrl-storage').spec.template.spec.containers[0];
    expect(storage.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort])).toEqual([
      ['http', 8080],
      ['health', 8081],
    ]);
    expect(storage.env).toEqual(expect.arrayContaining([{ name: 'BCTRL_STORAGE_PORT', value: '8080' }]));
    const service = find(rendered, 'Service', 'bctrl-storage');
    expect(service.spec.ports[0]).toMatchObject({ name: 'http', port: 80, targetPort: 'http' });
    const gateway = find(rendered, 'Deployment', 'bctrl-gateway').spec.template.spec.containers[0];
    expect(gateway.env).toEqual(
      expect.arrayContaining([{ name: 'BCTRL_STORAGE_URL', value: 'http://bctrl-storage:80' }]),
    );
  });

  it('creates no Secret and points every pod at the existing one when secrets.existingSecret is set', () => {
    const rendered = template(valueSets['existing secret']);
    expect(rendered.filter((m) => m.kind === 'Secret')).toEqual([]);
    for (const deployment of deployments(rendered)) {
      for (const key of secretKeysOf(deployment)) expect(key.name).toBe('bctrl-credentials');
    }
    expect(deployments(rendered).flatMap(secretKeysOf).length).toBeGreaterThan(0);
  });

  it("gives each Deployment only the Secret keys its service reads, never another service's credentials", () => {
    const rendered = template(valueSets['defaults']);
    const keysOf = Object.fromEntries(
      deployments(rendered).map((d) => [
        d.metadata.name.replace(/^bctrl-/, ''),
        secretKeysOf(d)
          .map((ref) => ref.key)
          .sort(),
      ]),
    );
    expect(keysOf).toEqual({
      gateway: ['REDIS_URL'],
      'cdp-proxy': ['REDIS_URL'],
      spaces: ['BCTRL_BOOTSTRAP_API_KEY', 'BCTRL_VAULT_KEYS', 'DATABASE_URL'],
      'runtime-orchestrator': ['DATABASE_URL'],
      'runs-recorder': ['DATABASE_URL'],
      storage: ['DATABASE_URL', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'],
      'invocation-worker': [],
    });
    // No pod takes the whole Secret.
    for (const deployment of deployments(rendered)) {
      expect(JSON.stringify(deployment.spec.template.spec.containers[0].envFrom)).not.toContain('secretRef');
    }
  });

  it('keeps sensitive values out of the ConfigMap', () => {
    const rendered = template(valueSets['skaffold dev values']);
    const data = find(rendered, 'ConfigMap', 'bctrl-config').data as Record<string, string>;
    for (const key of [
      'DATABASE_URL',
      'REDIS_URL',
      'S3_SECRET_ACCESS_KEY',
      'BCTRL_BOOTSTRAP_API_KEY',
      'BCTRL_VAULT_KEYS',
    ])
      expect(data[key]).toBeUndefined();
    const secret = find(rendered, 'Secret', 'bctrl-secrets').data as Record<string, string>;
    expect(Object.keys(secret).sort()).toEqual([
      'BCTRL_BOOTSTRAP_API_KEY',
      'BCTRL_VAULT_KEYS',
      'DATABASE_URL',
      'REDIS_URL',
      'S3_SECRET_ACCESS_KEY',
    ]);
  });

  it('builds image references from registry, repository, tag and digest', () => {
    const rendered = template(valueSets['pinned digests and a private registry']);
    const image = (name: string) => find(rendered, 'Deployment', name).spec.template.spec.containers[0].image;
    expect(image('bctrl-gateway')).toBe(`registry.internal:5000/bctrl/gateway:0.1.0@sha256:${'a'.repeat(64)}`);
    expect(image('bctrl-spaces')).toBe('registry.internal:5000/bctrl/spaces:0.1.0');
    expect(find(rendered, 'Deployment', 'bctrl-spaces').spec.template.spec.imagePullSecrets).toEqual([
      { name: 'regcred' },
    ]);
  });

  it.each([
    [
      'ingress without hosts',
      ['--set', 'ingress.enabled=true', '--set-json', 'ingress.hosts=[]'],
      'ingress.hosts is empty',
    ],
    [
      'TLS without a certificate secret',
      ['--set', 'ingress.enabled=true', '--set', 'ingress.tls.enabled=true'],
      'ingress.tls.secretName is empty',
    ],
    ['no database and no existing secret', ['--set', 'externalDatabase.url='], 'DATABASE_URL would be missing'],
    ['half an S3 key pair', ['--set', 'externalS3.accessKeyId=AKIA'], 'externalS3.secretAccessKey is empty'],
    ['cdp-proxy on the health port', ['--set', 'cdpProxy.containerPort=8081'], 'separate ports'],
    ['storage on the health port', ['--set', 'storage.containerPort=8081'], 'storage serves bytes and health'],
    [
      'a browser namespace without a NetworkPolicy',
      ['--set', 'browserRuntime.namespace=browsers', '--set', 'networkPolicy.enabled=false'],
      "reach the platform's internals",
    ],
  ])('refuses %s (checks.yaml)', (_name, args, message) => {
    expect(templateError(args)).toContain(message);
  });

  it.each([
    ['a missing externalNats.url', ['--set', 'externalNats.url=null'], 'externalNats'],
    ['a string replicaCount', ['--set-string', 'gateway.replicaCount=two'], 'replicaCount'],
  ])('refuses %s (values.schema.json, enforced by helm)', (_name, args, message) => {
    expect(templateError(args)).toContain(message);
  });
});

/** The Secret keys a Deployment's container takes, one env entry each. */
function secretKeysOf(deployment: Manifest): Array<{ name: string; key: string; optional?: boolean }> {
  const env = (deployment.spec.template.spec.containers[0]?.env ?? []) as Array<{
    valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
  }>;
  return env
    .map((entry) => entry.valueFrom?.secretKeyRef)
    .filter((ref): ref is { name: string; key: string; optional?: boolean } => ref !== undefined);
}
