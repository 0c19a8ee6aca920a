import { Inject, Injectable } from '@nestjs/common';
import { SPACES_OPTIONS, type SpacesModuleOptions } from '../spaces.options';
import { AccountsService } from './accounts.service';

/**
 * The root account, made sure of at boot before the service answers anything: a process that serves (or reports
 * ready) can authenticate its bootstrap key from its first request.
 */
@Injectable()
export class RootBootstrap {
  /** The admin key this boot generated for a new root account (local mode's first start), to be shown once. */
  createdKey: string | null = null;

  constructor(
    private readonly accounts: AccountsService,
    @Inject(SPACES_OPTIONS) private readonly options: SpacesModuleOptions,
  ) {}

  async run() {
    const { bootstrapApiKey, generateKey } = this.options.root;
    if (!bootstrapApiKey && !generateKey) return;
    const root = await this.accounts.ensureRoot({ kind: 'operator' }, { bootstrapKey: bootstrapApiKey ?? '' });
    this.createdKey = root.createdKeySecret || null;
  }
}
