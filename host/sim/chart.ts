// A line chart with error bars as a standalone SVG: one line per series,
// a point per x value at the mean, a bar from mean - sd to mean + sd.
// Plain text, no dependencies, the same bytes for the same data.

export interface ChartSeries {
  label: string;
  points: { x: number; mean: number; sd: number }[];
}

export interface ChartData {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  series: ChartSeries[];
}

const W = 640;
const H = 400;
const M = { left: 70, right: 150, top: 40, bottom: 50 };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

export function renderChart(c: ChartData): string {
  const all = c.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.mean));
  const xs = all.map((p) => p.x);
  const fx = (x: number) => (c.logX ? Math.log10(Math.max(x, 1e-12)) : x);
  let x0 = Math.min(...xs.map(fx));
  let x1 = Math.max(...xs.map(fx));
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x0 + 1];
  const y1 = niceMax(Math.max(0, ...all.map((p) => p.mean + (Number.isFinite(p.sd) ? p.sd : 0))));
  const px = (x: number) => M.left + ((fx(x) - x0) / (x1 - x0)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - (y / y1) * (H - M.top - M.bottom);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2 - M.right / 2 + M.left / 2}" y="22" text-anchor="middle" font-size="14">${esc(c.title)}</text>`);
  // axes, ticks, grid
  out.push(`<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="black"/>`);
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="black"/>`);
  for (let i = 0; i <= 5; i++) {
    const v = (y1 * i) / 5;
    const y = py(v).toFixed(1);
    out.push(`<line x1="${M.left}" y1="${y}" x2="${W - M.right}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(`<text x="${px(x).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle">${fmt(x)}</text>`);
  }
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`);
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter((p) => Number.isFinite(p.mean)).sort((a, b) => a.x - b.x);
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.mean).toFixed(1)}`).join(" ")}"/>`);
    for (const p of pts) {
      const x = px(p.x).toFixed(1);
      if (Number.isFinite(p.sd) && p.sd > 0) {
        const lo = py(Math.max(0, p.mean - p.sd)).toFixed(1);
        const hi = py(p.mean + p.sd).toFixed(1);
        out.push(`<line x1="${x}" y1="${lo}" x2="${x}" y2="${hi}" stroke="${color}"/>`);
        for (const yy of [lo, hi]) out.push(`<line x1="${(+x - 4).toFixed(1)}" y1="${yy}" x2="${(+x + 4).toFixed(1)}" y2="${yy}" stroke="${color}"/>`);
      }
      out.push(`<circle cx="${x}" cy="${py(p.mean).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    const ly = M.top + 10 + i * 18;
    out.push(`<line x1="${W - M.right + 12}" y1="${ly}" x2="${W - M.right + 32}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${W - M.right + 38}" y="${ly}" dominant-baseline="middle">${esc(s.label)}</text>`);
  });
  out.push(`<text x="${W - M.right + 12}" y="${H - M.bottom}" font-size="10" fill="#555">bars: ±1 sd over seeds</text>`);
  out.push("</svg>");
  return out.join("\n") + "\n";
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
