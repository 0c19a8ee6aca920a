export interface SpacesModuleOptions {
  databaseUrl: string;
  /**
   * When set, the service makes sure at boot that the root account exists and holds this admin key
   * (distributed mode's bootstrap: the key comes from a Kubernetes Secret, never from a log line).
   */
  bootstrapApiKey?: string;
}

export const SPACES_OPTIONS = Symbol.for('bctrl.spaces.options');
