import { InMemoryLeaseStore } from './lease-store';
import { describeLeaseStoreSemantics } from './lease-store.conformance';

// One process shares one store in local mode: "another instance" is the same one, as every replica shares Redis.
const shared = new InMemoryLeaseStore();
describeLeaseStoreSemantics('In-memory', () => ({
  ...bind(shared),
  close: () => Promise.resolve(),
}));

function bind(store: InMemoryLeaseStore) {
  return {
    put: store.put.bind(store),
    byToken: store.byToken.bind(store),
    get: store.get.bind(store),
    listByRuntime: store.listByRuntime.bind(store),
    end: store.end.bind(store),
    endRuntime: store.endRuntime.bind(store),
    subscribe: store.subscribe.bind(store),
  };
}
