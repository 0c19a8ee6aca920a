/** A series a dashboard query selects, with what the query needs of its labels. */
export interface QueriedSeries {
  /** The Prometheus series name (`http_server_request_duration_seconds_bucket`). */
  readonly series: string;
  /** Labels the query groups by (`by (…)`) or matches on, `le` left out: the data points must carry them. */
  readonly labels: readonly string[];
  /** `label="value"` matchers: some data point must carry that exact value for the panel to show anything. */
  readonly equals: ReadonlyArray<readonly [label: string, value: string]>;
  /** The panel it came from, for messages. */
  readonly panel: string;
}

interface GrafanaPanel {
  title?: string;
  targets?: Array<{ expr?: string }>;
  panels?: GrafanaPanel[];
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'and',
  'or',
  'unless',
  'inf',
  'nan',
]);

/**
 * The series every PromQL `expr` of a Grafana dashboard selects. It reads the PromQL our dashboards write
 * (aggregations with `by (…)`, functions, selectors with matchers and range windows, arithmetic between them), not
 * every corner of the language: quoted strings, `[…]` windows and `by`/`without` clauses are set aside first, and
 * what is left that is an identifier not called like a function and not a keyword is a series name.
 */
export function dashboardQueries(dashboard: { panels?: GrafanaPanel[] }): QueriedSeries[] {
  const out: QueriedSeries[] = [];
  const visit = (panels: GrafanaPanel[] | undefined) => {
    for (const panel of panels ?? []) {
      for (const target of panel.targets ?? []) {
        if (target.expr) out.push(...queriedSeries(target.expr, panel.title ?? '(untitled)'));
      }
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  return out;
}

export function queriedSeries(expr: string, panel = ''): QueriedSeries[] {
  const grouping = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((match) =>
    (match[1] ?? '')
      .split(',')
      .map((label) => label.trim())
      .filter(Boolean),
  );
  // Matchers are read before strings are blanked; then windows, groupings and strings go.
  const stripped = expr
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without)\s*\([^)]*\)/g, ' ')
    .replace(/\{([^}]*)\}/g, (_, inner: string) => `{${encodeURIComponent(inner)}}`);
  const found: QueriedSeries[] = [];
  for (const match of stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{([^}]*)\})?\s*(\()?/g)) {
    const [, name = '', , encodedMatchers, call] = match;
    if (call || KEYWORDS.has(name.toLowerCase())) continue;
    const matchers = parseMatchers(decodeURIComponent(encodedMatchers ?? ''));
    const labels = new Set([...grouping, ...matchers.map(([label]) => label)]);
    labels.delete('le');
    found.push({
      series: name,
      labels: [...labels],
      equals: matchers.filter(([, op]) => op === '=').map(([label, , value]) => [label, value] as const),
      panel,
    });
  }
  return found;
}

function parseMatchers(text: string): Array<[label: string, op: string, value: string]> {
  return [...text.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((match) => [
    match[1] as string,
    match[2] as string,
    match[3] as string,
  ]);
}
