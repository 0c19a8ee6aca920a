export default async function globalTeardown(): Promise<void> {
  const servers = globalThis.__BCTRL_TEST_SERVERS__ ?? [];
  await Promise.all(servers.map((server) => server.stop()));
}
