import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dashboardQueries, queriedSeries } from './dashboard';

describe('queriedSeries (the series a PromQL expression selects)', () => {
  it('reads the series, the labels it groups by and matches on, and exact matchers; le is no label to carry', () => {
    expect(
      queriedSeries(
        'histogram_quantile(0.95, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket{service_name=~"$service"}[$__rate_interval])))',
      ),
    ).toEqual([
      {
        series: 'http_server_request_duration_seconds_bucket',
        labels: ['http_route', 'service_name'],
        equals: [],
        panel: '',
      },
    ]);
  });

  it('reads both sides of arithmetic, and exact values from matchers', () => {
    const found = queriedSeries(
      'sum by (http_route) (rate(a_total{x="1", status=~"5.."}[5m])) / sum by (http_route) (rate(b_total[5m]))',
    );
    expect(found.map((s) => [s.series, s.labels, s.equals])).toEqual([
      ['a_total', ['http_route', 'x', 'status'], [['x', '1']]],
      ['b_total', ['http_route'], []],
    ]);
  });

  it('reads a bare selector and a topk over a filtered counter', () => {
    expect(queriedSeries('max by (status) (bctrl_runtimes)').map((s) => [s.series, s.labels])).toEqual([
      ['bctrl_runtimes', ['status']],
    ]);
    expect(
      queriedSeries(
        'topk(10, sum by (cdp_method) (rate(bctrl_cdp_messages_total{direction="client"}[$__rate_interval])))',
      ).map((s) => [s.series, s.labels, s.equals]),
    ).toEqual([['bctrl_cdp_messages_total', ['cdp_method', 'direction'], [['direction', 'client']]]]);
  });

  it('finds a query in every panel of the shipped dashboard, rows included', () => {
    const dashboard = JSON.parse(
      readFileSync(join(__dirname, '../../../../deploy/dashboards/bctrl-overview.json'), 'utf8'),
    ) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
    const queried = dashboardQueries(dashboard);
    const withTargets = dashboard.panels.filter((panel) => (panel.targets ?? []).length > 0);
    expect(new Set(queried.map((q) => q.panel)).size).toBe(withTargets.length);
    expect(queried.every((q) => /^[a-z_]+$/.test(q.series))).toBe(true);
  });
});
