import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { defaultValues, leafPaths, repoRoot } from './chart-files';

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');

describe('skaffold.yaml', () => {
  const skaffold = YAML.parse(read('skaffold.yaml'));
  const artifacts: {
    image: string;
    docker: { dockerfile: string; target: string; buildArgs: { APP: string } };
  }[] = skaffold.build.artifacts;

  it('builds one artifact per app from deploy/Dockerfile with APP naming an existing app', () => {
    expect(artifacts.length).toBe(8);
    for (const artifact of artifacts) {
      expect(artifact.docker.dockerfile).toBe('deploy/Dockerfile');
      expect(existsSync(join(repoRoot, 'apps', artifact.docker.buildArgs.APP, 'src', 'main.ts'))).toBe(true);
      expect(artifact.image).toBe(`bctrl-${artifact.docker.buildArgs.APP}`);
      expect(artifact.docker.target).toBe(
        artifact.docker.buildArgs.APP === 'browser-runtime' ? 'browser-runtime' : 'service',
      );
    }
  });

  it('tags with the git commit and has dev and ci profiles', () => {
    expect(skaffold.build.tagPolicy.gitCommit).toBeDefined();
    expect(skaffold.profiles.map((p: { name: string }) => p.name).sort()).toEqual(['ci', 'dev']);
  });

  it('overrides only image values the chart has, for every artifact', () => {
    const release = skaffold.deploy.helm.releases[0];
    expect(release.chartPath).toBe('helm/bctrl');
    const known = new Set(leafPaths(defaultValues()));
    const overridden = Object.keys(release.setValueTemplates);
    const ci = skaffold.profiles.find((p: { name: string }) => p.name === 'ci');
    const ciKeys = ci.patches
      .filter((patch: { path: string }) => patch.path.startsWith('/deploy/helm/releases/0/setValueTemplates/'))
      .map((patch: { path: string }) => patch.path.split('/').pop());
    for (const key of [...overridden, ...ciKeys]) expect(known).toContain(key);
    for (const artifact of artifacts) {
      const variable = artifact.image.replace(/-/g, '_');
      expect(Object.values(release.setValueTemplates)).toContain(`{{.IMAGE_TAG_${variable}}}`);
    }
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = read('deploy/Dockerfile');
  const stages = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\S+))?$/gm)].map((m) => ({ from: m[1], name: m[2] }));

  it('builds every service from node:20-bookworm-slim with ARG APP', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^ARG APP$/m);
    expect(stages.map((s) => s.name)).toEqual(expect.arrayContaining(['browser-runtime', 'service']));
    expect(stages[stages.length - 1].name).toBe('service');
  });

  it('installs Chromium only in the browser-runtime stage and runs as a non-root user', () => {
    const sections = dockerfile.split(/^FROM /m).slice(1);
    const withChromium = sections.filter((section) => /apt-get install[^\n]*\bchromium\b/.test(section));
    expect(withChromium.map((section) => section.split('\n')[0])).toEqual(['base AS browser-runtime']);
    const finalUsers = sections
      .filter((s) => /AS (base|browser-runtime)$/m.test(s.split('\n')[0]))
      .map((s) => [...s.matchAll(/^USER (\S+)$/gm)].pop()?.[1]);
    expect(finalUsers).toEqual(['1000:1000', '1000:1000']);
  });
});

describe('deploy/ observability files', () => {
  it('has a Grafana dashboard with request rate, latency, runtimes by status and CDP messages', () => {
    const dashboard = JSON.parse(read('deploy/dashboards/bctrl-overview.json'));
    const exprs: string[] = dashboard.panels.flatMap((p: { targets?: { expr: string }[] }) =>
      (p.targets ?? []).map((t) => t.expr),
    );
    expect(
      exprs.some((e) => e.includes('http_server_request_duration_seconds_count') && e.includes('http_route')),
    ).toBe(true);
    expect(exprs.some((e) => e.includes('histogram_quantile') && e.includes('http_route'))).toBe(true);
    expect(exprs.some((e) => e.includes('bctrl_runtimes') && e.includes('status'))).toBe(true);
    expect(exprs.some((e) => e.includes('bctrl_cdp_messages_total'))).toBe(true);
    // Which metric each panel reads, and that it is emitted, is e2e/metrics.e2e-spec.ts's job; this one checks the shape.
    expect(dashboard.description).toMatch(/docs\/metrics\.md/);
    const ids = dashboard.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('has a collector config whose pipelines use only defined components', () => {
    const collector = YAML.parse(read('deploy/otel-collector.yaml'));
    for (const pipeline of Object.values(collector.service.pipelines) as Record<string, string[]>[]) {
      for (const receiver of pipeline.receivers) expect(collector.receivers).toHaveProperty([receiver]);
      for (const processor of pipeline.processors ?? []) expect(collector.processors).toHaveProperty([processor]);
      for (const exporter of pipeline.exporters) expect(collector.exporters).toHaveProperty([exporter]);
    }
    expect(collector.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
  });
});
