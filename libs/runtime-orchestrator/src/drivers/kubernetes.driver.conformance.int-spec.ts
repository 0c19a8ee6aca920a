import { describeBrowserDriverConformance } from '../testing/browser-driver.conformance';
import { FakeKubernetesApiServer } from '../testing/fake-kubernetes-api.server';
import { StubAgentServer } from '../testing/stub-agent.server';
import { KubernetesDriver } from './kubernetes.driver';

const NAMESPACE = 'bctrl-conformance';

/**
 * The Kubernetes driver against the FAKE Kubernetes API server and a stub agent, with the test playing a kubelet that
 * runs every pod it is given (Pending → Running with a pod IP) and fails one on `crash`.
 */
describe('KubernetesDriver conformance (fake API server)', () => {
  describeBrowserDriverConformance(async () => {
    const fake = await FakeKubernetesApiServer.start();
    const agent = await StubAgentServer.start();
    let ip = 1;
    const kubelet = setInterval(() => {
      for (const name of fake.podNames(NAMESPACE)) {
        const pod = fake.getPod(name, NAMESPACE) as { status?: { phase?: string } } | undefined;
        if (!pod?.status?.phase || pod.status.phase === 'Pending') {
          fake.setPhase(name, 'Running', { namespace: NAMESPACE, podIP: `10.0.0.${ip++}` });
        }
      }
    }, 10);
    const driver = new KubernetesDriver({
      kubeConfig: fake.kubeConfig(NAMESPACE),
      namespace: NAMESPACE,
      image: 'ghcr.io/bctrl/browser-runtime:test',
      installationId: 'conformance',
      agentUrlFor: () => agent.url,
      launchTimeoutMs: 5000,
      healthIntervalMs: 10,
      watchRetryMs: 20,
      deleteGracePeriodSeconds: 1,
    });
    return {
      driver,
      crash: (ref) =>
        fake.setPhase(ref, 'Failed', { namespace: NAMESPACE, reason: 'Error', message: 'the container exited' }),
      running: () => fake.podNames(NAMESPACE).length,
      close: async () => {
        clearInterval(kubelet);
        await agent.close();
        await fake.close();
      },
    };
  });
});
