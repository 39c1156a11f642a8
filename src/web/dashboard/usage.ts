import type { FastifyInstance } from 'fastify';
import type { UsageDay, UsageService } from '../../generation/usage.js';
import { html, type Html } from '../html.js';
import { count, dashboardPage, userOf } from './common.js';
import { DASHBOARD } from '../../paths.js';

const COLORS = ['#4b3fd1', '#0e9384', '#dc6803', '#c11574', '#1570ef', '#667085', '#7a5af8', '#099250'];
const DAY_MS = 86_400_000;

function appLabel(row: UsageDay): string {
  return row.clientId === null ? 'API keys' : (row.clientName ?? row.clientId);
}

/** A server-rendered SVG bar chart: tokens per day for the last 30 days, stacked by app. */
function usageChart(rows: UsageDay[], today: number): Html {
  const days = Array.from({ length: 30 }, (_, i) => new Date(today - (29 - i) * DAY_MS).toISOString().slice(0, 10));
  const apps = [...new Set(rows.map(appLabel))];
  const color = (app: string) => COLORS[apps.indexOf(app) % COLORS.length]!;
  const totals = days.map((d) => rows.filter((r) => r.date === d).reduce((n, r) => n + r.promptTokens + r.completionTokens, 0));
  const max = Math.max(1, ...totals);
  const width = 480;
  const height = 200;
  const left = 40;
  const bottom = 24;
  const barWidth = (width - left) / days.length;
  const scale = (v: number) => (v / max) * (height - bottom - 10);
  const bars = days.flatMap((d, i) => {
    let y = height - bottom;
    return rows
      .filter((r) => r.date === d)
      .map((r) => {
        const h = scale(r.promptTokens + r.completionTokens);
        y -= h;
        return html`<rect x="${(left + i * barWidth + 2).toFixed(1)}" y="${y.toFixed(1)}" width="${(barWidth - 4).toFixed(1)}" height="${h.toFixed(1)}" fill="${color(appLabel(r))}"><title>${d} · ${appLabel(r)}: ${count(r.promptTokens + r.completionTokens)} tokens</title></rect>`;
      });
  });
  return html`<figure class="chart">
<svg viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="chart-title" preserveAspectRatio="xMidYMid meet">
  <title id="chart-title">Tokens per day over the last 30 days, by app</title>
  <line x1="${left}" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" stroke="#98a2b3"/>
  <text x="${left - 6}" y="16" text-anchor="end" font-size="11" fill="#5b6475">${max}</text>
  <text x="${left - 6}" y="${height - bottom}" text-anchor="end" font-size="11" fill="#5b6475">0</text>
  <text x="${left}" y="${height - 6}" font-size="11" fill="#5b6475">${days[0]}</text>
  <text x="${width}" y="${height - 6}" text-anchor="end" font-size="11" fill="#5b6475">${days[29]}</text>
  ${bars}
</svg>
<figcaption>${apps.length === 0 ? 'No usage yet.' : apps.map((a) => html`<span class="legend"><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" fill="${color(a)}"/></svg>${a}</span>`)}</figcaption>
</figure>`;
}

/** Usage: tokens, images and requests per app and per day, last 30 days, as a chart and a table. */
export async function usagePages(scope: FastifyInstance, deps: { usage: UsageService; now: () => number }): Promise<void> {
  scope.get(DASHBOARD.usage, async (request, reply) => {
    const userId = userOf(request).userId;
    const rows = await deps.usage.lastThirtyDays(userId);
    // SPEC §10: the days an app hit the spending limit the user set.
    const hits = await deps.usage.limitHits(userId);
    const hitOf = (r: UsageDay) => hits.find((h) => h.date === r.date && h.clientId === r.clientId);
    const unlisted = hits.filter((h) => !rows.some((r) => r.date === h.date && r.clientId === h.clientId));
    return dashboardPage(request, reply, {
      title: 'Usage',
      section: DASHBOARD.usage,
      body: html`<h1>Usage</h1>
<div class="card">${usageChart(rows, deps.now())}</div>
<div class="card"><h2>By day and app</h2>${
        rows.length === 0
          ? html`<p class="muted">No generations in the last 30 days.</p>`
          : html`<div class="table-wrap"><table class="usage">
  <thead><tr><th scope="col">Date</th><th scope="col">App</th><th scope="col" class="num">Prompt tokens</th><th scope="col" class="num">Completion tokens</th><th scope="col" class="num">Images</th><th scope="col" class="num">Requests</th></tr></thead>
  <tbody>${[...rows].reverse().map(
    (r) => html`<tr><td>${r.date}</td><td>${appLabel(r)}${hitOf(r) ? html` <span class="badge warning" title="${count(hitOf(r)!.refused)} calls refused">limit reached</span>` : ''}</td><td class="num">${count(r.promptTokens)}</td><td class="num">${count(r.completionTokens)}</td><td class="num">${count(r.images)}</td><td class="num">${count(r.requests)}</td></tr>`,
  )}</tbody></table></div>`
      }${
        unlisted.length === 0
          ? ''
          : html`<h3>Limit reached</h3><ul class="plain">${unlisted.map((h) => html`<li>${h.date} · ${h.clientName ?? h.clientId}: limit reached, ${count(h.refused)} calls refused</li>`)}</ul>`
      }</div>`,
    });
  });
}
