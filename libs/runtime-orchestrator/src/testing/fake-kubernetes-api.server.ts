import { randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { Pod, Secret } from 'kubernetes-models/v1';

/**
 * A FAKE Kubernetes API server, for tests only. No kube-apiserver can run on the machines that run our tests, so
 * this in-process HTTP server speaks the subset of the real core/v1 pods REST and watch protocol that the
 * Kubernetes driver uses, closely enough that the real `@kubernetes/client-node` client talks to it unchanged:
 *
 * - LIST, POST, GET, DELETE and PATCH (merge patch) of namespaced pods, with `Status` error bodies and codes like
 *   the real server (401, 404, 409 AlreadyExists, 415, 422 Invalid);
 * - one cluster-wide resourceVersion counter, `?watch=true&resourceVersion=N&labelSelector=` streaming
 *   newline-delimited `{"type","object"}` events after N, and a watch ERROR event with a 410 Expired `Status` when
 *   N is older than the retained history (compaction);
 * - every created pod validated with kubernetes-models' OpenAPI schema plus the apiserver's name/label rules;
 * - secrets: create (validated the same way), GET, DELETE, and the garbage collector's part that matters to us —
 *   a secret whose ownerReferences name a pod (by uid) is deleted with that pod.
 *
 * Not implemented: scheduling, the kubelet (fake-kubelet.ts plays it with real agents), defaulting of pod spec fields, field selectors, JSON patch and
 * server-side apply (415), LIST/watch/PATCH of secrets, graceful deletion (pods vanish at once; the DELETED object carries a
 * deletionTimestamp), bookmarks, pagination, other resource kinds. Tests drive pod status with the controls
 * below (`setPhase`, `deletePod`, `dropWatches`, `compactHistory`).
 */

type Json = Record<string, unknown>;
type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

interface StoredPod {
  namespace: string;
  name: string;
  object: Json;
}

interface HistoryEvent {
  rv: number;
  type: EventType;
  namespace: string;
  object: Json;
}

interface WatchStream {
  namespace: string;
  selector: LabelRequirement[];
  res: ServerResponse;
}

export interface FakeApiRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  /** Parsed JSON body of POST/PATCH, if any. */
  body: unknown;
  at: number;
}

export interface FakeKubernetesApiServerOptions {
  /** How many events the watch history keeps before older ones are compacted away (default 1000). */
  historyWindow?: number;
  /** The bearer token clients must present (default `fake-kubernetes-token`). */
  token?: string;
}

type LabelRequirement = { key: string; op: 'eq' | 'neq'; value: string } | { key: string; op: 'exists' | 'notExists' };

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const POD_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/;
const SECRET_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/;

export class FakeKubernetesApiServer {
  /** Every request received, in order: tests assert on it (e.g. that a client watched instead of polling). */
  readonly requests: FakeApiRequest[] = [];
  /** Every pod body received by POST, exactly as sent, valid or not. */
  readonly createdBodies: Json[] = [];
  private readonly pods = new Map<string, StoredPod>();
  private readonly secrets = new Map<string, StoredPod>();
  private history: HistoryEvent[] = [];
  private readonly watches = new Set<WatchStream>();
  private resourceVersion = 1;
  /** Watches from a resourceVersion below this one get 410 Expired: their events were compacted away. */
  private oldestWatchable = 1;
  private readonly historyWindow: number;
  readonly token: string;

  private constructor(
    private readonly server: Server,
    options: FakeKubernetesApiServerOptions,
  ) {
    this.historyWindow = options.historyWindow ?? 1000;
    this.token = options.token ?? 'fake-kubernetes-token';
  }

  static async start(options: FakeKubernetesApiServerOptions = {}): Promise<FakeKubernetesApiServer> {
    const server = createServer();
    const fake = new FakeKubernetesApiServer(server, options);
    server.on('request', (req, res) => fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** A KubeConfig whose current context points at this fake, as a kubeconfig file would. */
  kubeConfig(namespace = 'default'): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake', token: this.token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake', namespace }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** The stored pod (a copy), or undefined. */
  getPod(name: string, namespace = 'default'): Json | undefined {
    const stored = this.pods.get(key(namespace, name));
    return stored ? clone(stored.object) : undefined;
  }

  /** The stored secret (a copy), or undefined. */
  getSecret(name: string, namespace = 'default'): Json | undefined {
    const stored = this.secrets.get(key(namespace, name));
    return stored ? clone(stored.object) : undefined;
  }

  secretNames(namespace = 'default'): string[] {
    return [...this.secrets.values()].filter((p) => p.namespace === namespace).map((p) => p.name);
  }

  podNames(namespace = 'default'): string[] {
    return [...this.pods.values()].filter((p) => p.namespace === namespace).map((p) => p.name);
  }

  /** What the kubelet would report: a new phase, and optionally the pod IP and container statuses. */
  setPhase(
    name: string,
    phase: PodPhase,
    extra: { podIP?: string; containerStatuses?: Json[]; reason?: string; message?: string; namespace?: string } = {},
  ): void {
    const stored = this.mustGet(extra.namespace ?? 'default', name);
    const status = { ...((stored.object['status'] as Json | undefined) ?? {}), phase } as Json;
    if (extra.podIP !== undefined) {
      status['podIP'] = extra.podIP;
      status['podIPs'] = [{ ip: extra.podIP }];
    }
    if (phase === 'Running' && status['startTime'] === undefined) status['startTime'] = new Date().toISOString();
    if (extra.containerStatuses !== undefined) status['containerStatuses'] = extra.containerStatuses;
    if (extra.reason !== undefined) status['reason'] = extra.reason;
    if (extra.message !== undefined) status['message'] = extra.message;
    stored.object['status'] = status;
    this.commit('MODIFIED', stored);
  }

  /** Deletes a pod as someone else would (kubectl, an eviction, a node going away). */
  deletePod(name: string, namespace = 'default'): void {
    this.remove(this.mustGet(namespace, name));
  }

  /** Ends every open watch stream, as an apiserver restart or a load balancer idle timeout would. */
  dropWatches(): void {
    for (const watch of this.watches) watch.res.end();
    this.watches.clear();
  }

  /**
   * Compacts the history: as on a busy cluster, writes to other objects advance the cluster-wide
   * resourceVersion, then everything before it is forgotten, so any watch resuming from an earlier
   * resourceVersion gets 410 Expired and must re-list.
   */
  compactHistory(): void {
    this.resourceVersion += 10;
    this.oldestWatchable = this.resourceVersion;
    this.history = [];
  }

  async close(): Promise<void> {
    this.dropWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private mustGet(namespace: string, name: string): StoredPod {
    const stored = this.pods.get(key(namespace, name));
    if (!stored) throw new Error(`fake kubernetes: no pod ${namespace}/${name}`);
    return stored;
  }

  /** Stamps a new resourceVersion on the object, records the event and sends it to matching watches. */
  private commit(type: EventType, stored: StoredPod): void {
    this.resourceVersion += 1;
    const metadata = stored.object['metadata'] as Json;
    metadata['resourceVersion'] = String(this.resourceVersion);
    const event: HistoryEvent = {
      rv: this.resourceVersion,
      type,
      namespace: stored.namespace,
      object: clone(stored.object),
    };
    this.history.push(event);
    if (this.history.length > this.historyWindow) {
      const dropped = this.history.splice(0, this.history.length - this.historyWindow);
      this.oldestWatchable = dropped[dropped.length - 1].rv;
    }
    for (const watch of this.watches) this.send(watch, event);
  }

  private remove(stored: StoredPod): Json {
    const metadata = stored.object['metadata'] as Json;
    metadata['deletionTimestamp'] = new Date().toISOString();
    metadata['deletionGracePeriodSeconds'] = 0;
    this.pods.delete(key(stored.namespace, stored.name));
    this.commit('DELETED', stored);
    // The garbage collector: dependents owned by the deleted pod go with it.
    for (const [secretKey, secret] of this.secrets) {
      const owners = (secret.object['metadata'] as Json)['ownerReferences'];
      if (Array.isArray(owners) && owners.some((o) => isObject(o) && o['uid'] === metadata['uid'])) {
        this.secrets.delete(secretKey);
        this.resourceVersion += 1;
      }
    }
    return clone(stored.object);
  }

  private send(watch: WatchStream, event: HistoryEvent): void {
    if (event.namespace !== watch.namespace || !matches(watch.selector, labelsOf(event.object))) return;
    watch.res.write(JSON.stringify({ type: event.type, object: event.object }) + '\n');
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = undefined;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw);
        } catch {
          body = raw;
        }
      }
      const contentType = req.headers['content-type']?.split(';')[0].trim();
      this.requests.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType,
        body,
        at: Date.now(),
      });
      try {
        this.route(req, res, url, contentType, body);
      } catch (err) {
        status(res, 500, 'InternalError', String(err));
      }
    });
  }

  private route(req: IncomingMessage, res: ServerResponse, url: URL, contentType: string | undefined, body: unknown) {
    if (req.headers.authorization !== `Bearer ${this.token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    const secretMatch = SECRET_PATH.exec(url.pathname);
    if (secretMatch) return this.secretRoute(req.method ?? 'GET', res, secretMatch, body);
    const match = POD_PATH.exec(url.pathname);
    if (!match) return status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const namespace = decodeURIComponent(match[1]);
    const name = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    const method = req.method ?? 'GET';
    if (name === undefined && method === 'GET') {
      const selector = parseSelector(url.searchParams.get('labelSelector') ?? '');
      if (selector === null) return status(res, 400, 'BadRequest', 'unable to parse requirement');
      if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
        return this.watch(res, namespace, selector, url.searchParams.get('resourceVersion'));
      }
      return this.list(res, namespace, selector);
    }
    if (name === undefined && method === 'POST') return this.create(res, namespace, body);
    if (name === undefined) return status(res, 405, 'MethodNotAllowed', `${method} is not supported on the collection`);
    const stored = this.pods.get(key(namespace, name));
    if (!stored) return status(res, 404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' });
    if (method === 'GET') return json(res, 200, stored.object);
    if (method === 'DELETE') return json(res, 200, this.remove(stored));
    if (method === 'PATCH') return this.patch(res, stored, contentType, body);
    return status(res, 405, 'MethodNotAllowed', `${method} is not supported`);
  }

  private secretRoute(method: string, res: ServerResponse, match: RegExpExecArray, body: unknown): void {
    const namespace = decodeURIComponent(match[1]);
    if (match[2] === undefined) {
      if (method !== 'POST') return status(res, 405, 'MethodNotAllowed', `${method} of secrets is not implemented`);
      if (!isObject(body)) return status(res, 400, 'BadRequest', 'the body of the request was not a JSON object');
      const problems: string[] = [];
      try {
        new Secret(body as ConstructorParameters<typeof Secret>[0]).validate();
      } catch (err) {
        problems.push(`schema: ${err instanceof Error ? err.message : String(err)}`);
      }
      problems.push(...validateMetadata(body, namespace));
      const name = (body['metadata'] as Json | undefined)?.['name'];
      if (problems.length > 0 || typeof name !== 'string') {
        return status(res, 422, 'Invalid', `Secret "${String(name)}" is invalid: ${problems.join('; ')}`);
      }
      if (this.secrets.has(key(namespace, name))) {
        return status(res, 409, 'AlreadyExists', `secrets "${name}" already exists`, { name, kind: 'secrets' });
      }
      const object: Json = { ...clone(body), apiVersion: 'v1', kind: 'Secret' };
      this.resourceVersion += 1;
      Object.assign(object['metadata'] as Json, {
        namespace,
        uid: randomUUID(),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        resourceVersion: String(this.resourceVersion),
      });
      this.secrets.set(key(namespace, name), { namespace, name, object });
      return json(res, 201, object);
    }
    const name = decodeURIComponent(match[2]);
    const stored = this.secrets.get(key(namespace, name));
    if (!stored) return status(res, 404, 'NotFound', `secrets "${name}" not found`, { name, kind: 'secrets' });
    if (method === 'GET') return json(res, 200, stored.object);
    if (method === 'DELETE') {
      this.secrets.delete(key(namespace, name));
      this.resourceVersion += 1;
      return json(res, 200, stored.object);
    }
    status(res, 405, 'MethodNotAllowed', `${method} of secrets is not implemented`);
  }

  private list(res: ServerResponse, namespace: string, selector: LabelRequirement[]): void {
    const items = [...this.pods.values()]
      .filter((p) => p.namespace === namespace && matches(selector, labelsOf(p.object)))
      .map((p) => p.object);
    json(res, 200, {
      kind: 'PodList',
      apiVersion: 'v1',
      metadata: { resourceVersion: String(this.resourceVersion) },
      items,
    });
  }

  private watch(res: ServerResponse, namespace: string, selector: LabelRequirement[], from: string | null): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // the apiserver answers a watch at once; clients wait for these headers before streaming
    const watch: WatchStream = { namespace, selector, res };
    // Like the apiserver: no resourceVersion (or "0") means "the current state, then changes" — synthetic ADDED
    // events for what exists; a resourceVersion means "every change after it", or 410 if it was compacted.
    if (from === null || from === '' || from === '0') {
      for (const stored of this.pods.values()) {
        this.send(watch, { rv: 0, type: 'ADDED', namespace: stored.namespace, object: clone(stored.object) });
      }
    } else {
      const rv = Number(from);
      if (!Number.isInteger(rv) || rv < this.oldestWatchable) {
        res.end(
          JSON.stringify({
            type: 'ERROR',
            object: statusBody(410, 'Expired', `too old resource version: ${from} (${this.oldestWatchable})`),
          }) + '\n',
        );
        return;
      }
      for (const event of this.history) if (event.rv > rv) this.send(watch, event);
    }
    this.watches.add(watch);
    res.on('close', () => this.watches.delete(watch));
  }

  private create(res: ServerResponse, namespace: string, body: unknown): void {
    if (!isObject(body)) return status(res, 400, 'BadRequest', 'the body of the request was not a JSON object');
    this.createdBodies.push(clone(body));
    const problems = validatePod(body, namespace);
    const name = (body['metadata'] as Json | undefined)?.['name'];
    if (problems.length > 0) {
      return status(res, 422, 'Invalid', `Pod "${String(name)}" is invalid: ${problems.join('; ')}`, {
        name,
        kind: 'Pod',
        causes: problems.map((message) => ({ reason: 'FieldValueInvalid', message })),
      });
    }
    if (typeof name !== 'string') return; // validatePod requires it; narrows the type
    if (this.pods.has(key(namespace, name))) {
      return status(res, 409, 'AlreadyExists', `pods "${name}" already exists`, { name, kind: 'pods' });
    }
    const object = clone(body);
    const metadata = object['metadata'] as Json;
    metadata['namespace'] = namespace;
    metadata['uid'] = randomUUID();
    metadata['creationTimestamp'] = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    object['apiVersion'] = 'v1';
    object['kind'] = 'Pod';
    object['status'] = { phase: 'Pending', qosClass: 'Burstable' };
    const stored: StoredPod = { namespace, name, object };
    this.pods.set(key(namespace, name), stored);
    this.commit('ADDED', stored);
    json(res, 201, stored.object);
  }

  private patch(res: ServerResponse, stored: StoredPod, contentType: string | undefined, body: unknown): void {
    // Strategic merge patch behaves as a merge patch for the maps and scalars we touch (labels, deadlines).
    if (contentType !== 'application/merge-patch+json' && contentType !== 'application/strategic-merge-patch+json') {
      return status(
        res,
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format: ${contentType}`,
      );
    }
    if (!isObject(body)) return status(res, 400, 'BadRequest', 'the patch was not a JSON object');
    const next = mergePatch(stored.object, body) as Json;
    const problems = validateUpdate(stored.object, next);
    if (problems.length > 0) {
      return status(res, 422, 'Invalid', `Pod "${stored.name}" is invalid: ${problems.join('; ')}`, {
        name: stored.name,
        kind: 'Pod',
      });
    }
    stored.object = next;
    this.commit('MODIFIED', stored);
    json(res, 200, stored.object);
  }
}

function validatePod(body: Json, namespace: string): string[] {
  const problems: string[] = [];
  try {
    new Pod(body as ConstructorParameters<typeof Pod>[0]).validate();
  } catch (err) {
    problems.push(`schema: ${err instanceof Error ? err.message : String(err)}`);
  }
  problems.push(...validateMetadata(body, namespace));
  const spec = isObject(body['spec']) ? body['spec'] : {};
  const containers = Array.isArray(spec['containers']) ? spec['containers'] : [];
  if (containers.length === 0) problems.push('spec.containers: Required value');
  const volumes = new Set(
    (Array.isArray(spec['volumes']) ? spec['volumes'] : []).map((v) => (isObject(v) ? v['name'] : undefined)),
  );
  for (const container of containers) {
    if (!isObject(container)) continue;
    for (const mount of Array.isArray(container['volumeMounts']) ? container['volumeMounts'] : []) {
      if (isObject(mount) && !volumes.has(mount['name'])) {
        problems.push(`spec.containers.volumeMounts.name: Not found: ${JSON.stringify(mount['name'])}`);
      }
    }
  }
  const deadline = spec['activeDeadlineSeconds'];
  if (deadline !== undefined && (typeof deadline !== 'number' || deadline < 1)) {
    problems.push('spec.activeDeadlineSeconds: Invalid value: must be at least 1');
  }
  return problems;
}

function validateMetadata(body: Json, namespace: string): string[] {
  const problems: string[] = [];
  const metadata = isObject(body['metadata']) ? body['metadata'] : {};
  const name = metadata['name'];
  if (typeof name !== 'string' || name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    problems.push(`metadata.name: Invalid value: ${JSON.stringify(name)}: must be a lowercase RFC 1123 subdomain`);
  }
  if (metadata['namespace'] !== undefined && metadata['namespace'] !== namespace) {
    problems.push('metadata.namespace: Invalid value: does not match the namespace of the request');
  }
  for (const [labelKey, value] of Object.entries(isObject(metadata['labels']) ? metadata['labels'] : {})) {
    problems.push(...validateLabel(labelKey, value));
  }
  return problems;
}

function validateLabel(labelKey: string, value: unknown): string[] {
  const problems: string[] = [];
  const slash = labelKey.lastIndexOf('/');
  const prefix = slash >= 0 ? labelKey.slice(0, slash) : undefined;
  const name = slash >= 0 ? labelKey.slice(slash + 1) : labelKey;
  if ((prefix !== undefined && !DNS1123_SUBDOMAIN.test(prefix)) || name.length > 63 || !LABEL_NAME.test(name)) {
    problems.push(`metadata.labels: Invalid value: ${JSON.stringify(labelKey)}: not a qualified name`);
  }
  if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
    problems.push(`metadata.labels: Invalid value: ${JSON.stringify(value)}: not a valid label value`);
  }
  return problems;
}

/** The update rules the apiserver enforces for what our clients patch: labels stay valid, deadlines only shrink. */
function validateUpdate(before: Json, after: Json): string[] {
  const problems: string[] = [];
  const labels = (after['metadata'] as Json | undefined)?.['labels'];
  for (const [labelKey, value] of Object.entries(isObject(labels) ? labels : {})) {
    problems.push(...validateLabel(labelKey, value));
  }
  const oldDeadline = (before['spec'] as Json | undefined)?.['activeDeadlineSeconds'];
  const newDeadline = (after['spec'] as Json | undefined)?.['activeDeadlineSeconds'];
  if (typeof oldDeadline === 'number' && (typeof newDeadline !== 'number' || newDeadline > oldDeadline)) {
    problems.push('spec.activeDeadlineSeconds: Invalid value: must be less than or equal to the previous value');
  }
  const strip = (o: Json) => JSON.stringify({ ...(o['spec'] as Json), activeDeadlineSeconds: undefined });
  if (strip(before) !== strip(after)) {
    problems.push(
      'spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`, ' +
        '`spec.activeDeadlineSeconds`, `spec.tolerations` or `spec.terminationGracePeriodSeconds`',
    );
  }
  return problems;
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: Json = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

function parseSelector(raw: string): LabelRequirement[] | null {
  const requirements: LabelRequirement[] = [];
  for (const part of raw.split(',').map((s) => s.trim())) {
    if (part === '') continue;
    let m: RegExpExecArray | null;
    if ((m = /^([^!=\s]+)\s*!=\s*(\S*)$/.exec(part))) requirements.push({ key: m[1], op: 'neq', value: m[2] });
    else if ((m = /^([^!=\s]+)\s*==?\s*(\S*)$/.exec(part))) requirements.push({ key: m[1], op: 'eq', value: m[2] });
    else if ((m = /^!([^!=\s]+)$/.exec(part))) requirements.push({ key: m[1], op: 'notExists' });
    else if ((m = /^([^!=\s]+)$/.exec(part))) requirements.push({ key: m[1], op: 'exists' });
    else return null; // set-based selectors (in, notin) are not needed by our clients
  }
  return requirements;
}

function matches(selector: LabelRequirement[], labels: Record<string, string>): boolean {
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.op) {
      case 'eq':
        return has && labels[r.key] === r.value;
      case 'neq':
        return !has || labels[r.key] !== r.value;
      case 'exists':
        return has;
      case 'notExists':
        return !has;
    }
  });
}

function labelsOf(object: Json): Record<string, string> {
  const labels = (object['metadata'] as Json | undefined)?.['labels'];
  return isObject(labels) ? (labels as Record<string, string>) : {};
}

function statusBody(code: number, reason: string, message: string, details?: Json): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code };
}

function status(res: ServerResponse, code: number, reason: string, message: string, details?: Json): void {
  json(res, code, statusBody(code, reason, message, details));
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
