import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSettingsTable } from './describe-config';
import { platformSettings } from './settings';

// The repository's README carries the settings table operators read first.
const README = join(__dirname, '..', '..', '..', 'README.md');
const START = '<!-- settings:start -->';
const END = '<!-- settings:end -->';

/** Ignores the column padding Prettier adds to Markdown tables. */
function normalize(markdown: string): string[] {
  return markdown
    .split('\n')
    .map((line) =>
      line
        .trim()
        .replace(/\s*\|\s*/g, '|')
        .replace(/\|-+(?=\|)/g, '|---'),
    )
    .filter((line) => line !== '');
}

// The README table is generated from the declarations; this fails when a setting changes and the docs did not.
// Regenerate with: UPDATE_SETTINGS_TABLE=1 npx jest libs/config/src/readme
describe('README settings table', () => {
  it('documents exactly the declared settings', () => {
    const readme = readFileSync(README, 'utf8');
    const start = readme.indexOf(START);
    const end = readme.indexOf(END);
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const table = `${START}\n${renderSettingsTable(platformSettings)}${END}`;
    const current = readme.slice(start, end + END.length);
    if (process.env.UPDATE_SETTINGS_TABLE) {
      writeFileSync(README, readme.replace(current, table));
      return;
    }
    expect(normalize(current)).toEqual(normalize(table));
  });
});
